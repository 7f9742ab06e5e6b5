//! Number parsing and formatting with Redis's exact rules.
//!
//! Redis parses integers with `string2ll` (no sign `+`, no leading zeroes, no spaces), doubles
//! with `strtod`, and prints doubles with `%.17g` (7.0) or, for INCRBYFLOAT, `%.17Lf` in
//! `long double`. Each function here names the Redis routine it mirrors.

use std::os::raw::{c_char, c_int};

extern "C" {
    fn cinnabar_ld_add(
        cur: *const c_char,
        curlen: usize,
        incr: *const c_char,
        incrlen: usize,
        out: *mut c_char,
        outlen: usize,
    ) -> c_int;
    fn cinnabar_ld_normalize(
        s: *const c_char,
        slen: usize,
        out: *mut c_char,
        outlen: usize,
    ) -> c_int;
    fn cinnabar_strtod(s: *const c_char, slen: usize, out: *mut f64) -> c_int;
    fn cinnabar_ld_human(v: f64, out: *mut c_char, outlen: usize) -> c_int;
    fn cinnabar_fmt_g17(v: f64, out: *mut c_char, outlen: usize) -> c_int;
    fn cinnabar_fmt_fixed(v: f64, prec: c_int, out: *mut c_char, outlen: usize) -> c_int;
    fn cinnabar_timeout_secs_to_ms(s: *const c_char, slen: usize, out: *mut i64) -> c_int;
}

/// A blocking timeout in (fractional) seconds as Redis converts it: long double seconds × 1000
/// rounded up to an integer (None if not a float).
pub fn timeout_secs_to_ms(s: &[u8]) -> Option<i64> {
    let mut v = 0i64;
    // SAFETY: the helper reads exactly `len` bytes and writes one i64.
    let ok = unsafe { cinnabar_timeout_secs_to_ms(s.as_ptr().cast(), s.len(), &mut v) };
    (ok == 1).then_some(v)
}

/// Longest decimal i64 with sign, as Redis's LONG_STR_SIZE - 1.
const LONG_STR_SIZE: usize = 21;

/// Redis `string2ll`: strict base-10 i64.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= LONG_STR_SIZE {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let (&first, rest) = digits.split_first()?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut v: u64 = u64::from(first - b'0');
    for &c in rest {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        if v > (i64::MAX as u64) + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Redis `string2ull` as used for unsigned arguments (e.g. SCAN cursors): plain digits only.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() >= LONG_STR_SIZE {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// Redis `getDoubleFromObject` rules over strtod, NaN allowed (callers reject it if they must).
pub fn parse_f64_raw(s: &[u8]) -> Option<f64> {
    let mut v = 0.0f64;
    // SAFETY: the helper reads exactly `len` bytes and writes one f64.
    let ok = unsafe { cinnabar_strtod(s.as_ptr().cast(), s.len(), &mut v) };
    (ok == 1).then_some(v)
}

/// C's `strtod` with no end check (a prefix parse, like `atof`): 0 when nothing parses.
pub fn strtod_prefix(s: &[u8]) -> f64 {
    let mut buf = Vec::with_capacity(s.len() + 1);
    buf.extend_from_slice(s);
    buf.push(0);
    // SAFETY: `buf` is NUL-terminated; strtod reads up to the NUL.
    unsafe { libc::strtod(buf.as_ptr().cast(), std::ptr::null_mut()) }
}

/// Redis `getDoubleFromObject`: a strtod-parsable number that is not NaN.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    parse_f64_raw(s).filter(|v| !v.is_nan())
}

/// Result of a `long double` addition as INCRBYFLOAT performs it.
#[derive(Debug, PartialEq, Eq)]
pub enum LdAddError {
    CurrentNotFloat,
    IncrementNotFloat,
    NanOrInfinity,
}

/// `cur + incr` in C `long double`, printed as Redis's `ld2string(LD_STR_HUMAN)`.
pub fn long_double_add(cur: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, LdAddError> {
    let mut buf = vec![0u8; 5 * 1024 + 8];
    let (cp, cl) = match cur {
        Some(c) => (c.as_ptr().cast(), c.len()),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: pointers and lengths describe live slices; the helper writes at most `buf.len()`.
    let n = unsafe {
        cinnabar_ld_add(
            cp,
            cl,
            incr.as_ptr().cast(),
            incr.len(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    match n {
        -1 => Err(LdAddError::CurrentNotFloat),
        -2 => Err(LdAddError::IncrementNotFloat),
        -3 | -4 => Err(LdAddError::NanOrInfinity),
        n => {
            buf.truncate(n as usize);
            Ok(buf)
        }
    }
}

/// Parses as a `long double` and reprints in human form; None if not a valid float.
pub fn long_double_normalize(s: &[u8]) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 5 * 1024 + 8];
    // SAFETY: as in `long_double_add`.
    let n = unsafe {
        cinnabar_ld_normalize(
            s.as_ptr().cast(),
            s.len(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n <= 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

/// Appends `v` in decimal.
pub fn push_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends `v` in decimal.
pub fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends `v` as C's `%.17g`, which Redis 7.0 uses for double replies (ZSCORE, INCRBYFLOAT in
/// RESP3 maps, ...). Integral values below 2^53 take a fast path; the rest go through Rust's
/// exact formatting and are shaped like printf's %g.
pub fn push_g17(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(if v.is_sign_negative() {
            b"-nan"
        } else {
            b"nan"
        });
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    if v == v.trunc() && v.abs() < 9_007_199_254_740_992.0 {
        if v == 0.0 && v.is_sign_negative() {
            out.extend_from_slice(b"-0");
        } else {
            push_i64(out, v as i64);
        }
        return;
    }
    push_g_precision(out, v, 17);
}

/// printf `%.{p}g` for finite `v`.
fn push_g_precision(out: &mut Vec<u8>, v: f64, p: usize) {
    // `{:.N e}` is exactly rounded: d.ddddde[-]X
    let s = format!("{:.*e}", p - 1, v);
    let (mantissa, exp) = s.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: Vec<u8> = mantissa.bytes().filter(|c| *c != b'.').collect();
    if neg {
        out.push(b'-');
    }
    if exp < -4 || exp >= p as i32 {
        // d.ddd with trailing zeroes removed, then e±XX (at least two exponent digits).
        out.push(digits[0]);
        let frac = trim_zeroes(&digits[1..]);
        if !frac.is_empty() {
            out.push(b'.');
            out.extend_from_slice(frac);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        push_u64(out, u64::from(e));
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        out.extend_from_slice(&digits[..int_len]);
        let frac = trim_zeroes(&digits[int_len..]);
        if !frac.is_empty() {
            out.push(b'.');
            out.extend_from_slice(frac);
        }
    } else {
        out.extend_from_slice(b"0.");
        for _ in 0..(-exp - 1) {
            out.push(b'0');
        }
        out.extend_from_slice(trim_zeroes(&digits));
    }
}

fn trim_zeroes(d: &[u8]) -> &[u8] {
    let end = d.iter().rposition(|c| *c != b'0').map_or(0, |i| i + 1);
    &d[..end]
}

/// C's `%.17g`, through libc; the reference for tests.
pub fn libc_g17(v: f64) -> Vec<u8> {
    let mut buf = [0u8; 64];
    // SAFETY: snprintf writes at most 64 bytes including NUL.
    let n = unsafe { cinnabar_fmt_g17(v, buf.as_mut_ptr().cast(), buf.len()) };
    buf[..n as usize].to_vec()
}

/// `v` as a long double in Redis's human form (`%.17Lf`, trailing zeroes dropped).
pub fn push_human_ld(out: &mut Vec<u8>, v: f64) {
    let mut buf = [0u8; 5 * 1024 + 8];
    // SAFETY: ld2string_human writes at most `buf.len()` bytes and returns the length (0 if
    // the value did not fit, which a finite double never reaches with this buffer).
    let n = unsafe { cinnabar_ld_human(v, buf.as_mut_ptr().cast(), buf.len()) };
    out.extend_from_slice(&buf[..n.max(0) as usize]);
}

/// C's `%.{prec}f` (GEO distances and coordinates use fixed precision).
pub fn push_fixed(out: &mut Vec<u8>, v: f64, prec: u8) {
    let mut buf = [0u8; 400];
    // SAFETY: snprintf writes at most `buf.len()` bytes including NUL; %f of a finite double
    // with prec <= 20 stays well under 400 bytes.
    let n = unsafe { cinnabar_fmt_fixed(v, c_int::from(prec), buf.as_mut_ptr().cast(), buf.len()) };
    let n = (n.max(0) as usize).min(buf.len() - 1);
    out.extend_from_slice(&buf[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"+1",
            b"01",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"1e3",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn strtod_rules() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"+1.5"), Some(1.5));
        assert_eq!(parse_f64(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"0x10"), Some(16.0));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1 "), None);
        assert_eq!(parse_f64(b""), None);
        assert_eq!(parse_f64(b"1e400"), None);
        assert_eq!(parse_f64(b"1\x002"), None);
    }

    #[test]
    fn long_double_matches_redis() {
        assert_eq!(long_double_add(Some(b"10.50"), b"0.1").unwrap(), b"10.6");
        assert_eq!(long_double_add(Some(b"1.1"), b"2.2").unwrap(), b"3.3");
        assert_eq!(long_double_add(None, b"5.0e3").unwrap(), b"5000");
        assert_eq!(long_double_add(Some(b"-0"), b"0").unwrap(), b"0");
        assert_eq!(
            long_double_add(Some(b"abc"), b"1"),
            Err(LdAddError::CurrentNotFloat)
        );
        assert_eq!(
            long_double_add(Some(b"1"), b"x"),
            Err(LdAddError::IncrementNotFloat)
        );
        assert_eq!(
            long_double_add(Some(b"1e4932"), b"1e4932"),
            Err(LdAddError::NanOrInfinity)
        );
    }

    #[test]
    fn g17_examples() {
        for (v, s) in [
            (1.0, "1"),
            (0.1, "0.10000000000000001"),
            (1.5, "1.5"),
            (1e21, "1e+21"),
            (1e-5, "1.0000000000000001e-05"),
            (-0.0, "-0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (f64::INFINITY, "inf"),
        ] {
            let mut out = Vec::new();
            push_g17(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), s);
        }
    }

    proptest! {
        #[test]
        fn g17_matches_libc(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            prop_assume!(v.is_finite());
            let mut out = Vec::new();
            push_g17(&mut out, v);
            prop_assert_eq!(out, libc_g17(v));
        }

        #[test]
        fn g17_matches_libc_small(v in -1e6f64..1e6) {
            let mut out = Vec::new();
            push_g17(&mut out, v);
            prop_assert_eq!(out, libc_g17(v));
        }

        #[test]
        fn parse_i64_matches_std(v in any::<i64>()) {
            prop_assert_eq!(parse_i64(v.to_string().as_bytes()), Some(v));
        }
    }
}

/// C's atoll: leading blanks, an optional sign, then the leading digits; 0 when there are
/// none. Out of range saturates, as strtoll does.
pub fn atoll_prefix(s: &[u8]) -> i64 {
    let s = &s[s.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for &d in digits.iter().take_while(|b| b.is_ascii_digit()) {
        let d = i64::from(d - b'0');
        v = match v.checked_mul(10).and_then(|v| {
            if neg {
                v.checked_sub(d)
            } else {
                v.checked_add(d)
            }
        }) {
            Some(v) => v,
            None => return if neg { i64::MIN } else { i64::MAX },
        };
    }
    v
}

#[cfg(test)]
mod atoll_tests {
    use super::atoll_prefix;

    #[test]
    fn atoll_takes_leading_digits_like_c() {
        for (s, v) in [
            (&b"12"[..], 12),
            (b" 7x", 7),
            (b"-3", -3),
            (b"+4", 4),
            (b"x1", 0),
            (b"", 0),
            (b"99999999999999999999", i64::MAX),
            (b"-99999999999999999999", i64::MIN),
        ] {
            assert_eq!(atoll_prefix(s), v, "{}", String::from_utf8_lossy(s));
        }
    }
}
