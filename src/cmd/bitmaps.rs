//! The "bitmap" group: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO.
//!
//! Bitmaps are plain string values addressed bit by bit, most significant bit first: bit 0 is
//! the top bit of byte 0. Reading past the end of a string reads zeros; writing past it grows
//! the string with zero bytes. The pure bit helpers come first, then the command handlers.

use crate::cmd::args::{eq, int, int_in};
use crate::cmd::meta_gen as m;
use crate::cmd::table::Handler;
use crate::config::notify;
use crate::exec::{Client, Ctx, Executor};
use crate::keyspace::bytes::CompactBytes;
use crate::keyspace::db::NO_EXPIRE;
use crate::keyspace::value::Value;
use crate::resp::errors::{self as err, CmdError, CmdResult};
use crate::util::num::parse_i64;

// ---- pure helpers: counting and finding bits ----

/// Number of set bits in `bytes`.
pub fn popcount(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        let word = u64::from_ne_bytes(c.try_into().expect("8-byte chunk"));
        n += u64::from(word.count_ones());
    }
    n + chunks
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum::<u64>()
}

/// The bits of a byte that lie inside the inclusive bit range `first..=last` (absolute bit
/// numbers), for the byte holding bits `8 * byte .. 8 * byte + 7`.
fn byte_mask(byte: u64, first: u64, last: u64) -> u8 {
    let lo = first.saturating_sub(byte * 8).min(8);
    let hi = (last + 1).saturating_sub(byte * 8).min(8);
    // Bits lo..hi counted from the top of the byte.
    let keep_from_lo = 0xffu16 >> lo;
    let cut_after_hi = 0xffu16 >> hi;
    (keep_from_lo & !cut_after_hi) as u8
}

/// Set bits within the inclusive bit range `first..=last`, which must lie inside `s`.
pub fn count_bits(s: &[u8], first: u64, last: u64) -> u64 {
    let (fb, lb) = (first / 8, last / 8);
    let head = s[fb as usize] & byte_mask(fb, first, last);
    if fb == lb {
        return u64::from(head.count_ones());
    }
    let tail = s[lb as usize] & byte_mask(lb, first, last);
    let middle = popcount(&s[fb as usize + 1..lb as usize]);
    u64::from(head.count_ones()) + middle + u64::from(tail.count_ones())
}

/// Position of the first bit equal to `bit` in the inclusive range `first..=last` (inside
/// `s`), or None.
pub fn find_bit(s: &[u8], bit: bool, first: u64, last: u64) -> Option<u64> {
    // Looking for a 0 is looking for a 1 in the complement.
    let flip = if bit { 0 } else { 0xff };
    let hit = |byte: u64| {
        let v = (s[byte as usize] ^ flip) & byte_mask(byte, first, last);
        (v != 0).then(|| byte * 8 + u64::from(v.leading_zeros()))
    };
    let (fb, lb) = (first / 8, last / 8);
    if let Some(p) = hit(fb) {
        return Some(p);
    }
    if fb == lb {
        return None;
    }
    // Whole bytes in between: skip the ones with nothing to find.
    let middle = &s[fb as usize + 1..lb as usize];
    if let Some(i) = middle.iter().position(|&b| b != flip) {
        return hit(fb + 1 + i as u64);
    }
    hit(lb)
}

/// Redis's range rules for BITCOUNT and BITPOS: negative indexes count from the end, then the
/// range is clamped to `0..len`. Returns the inclusive range, or None when it is empty.
fn clamp_range(len: i64, mut start: i64, mut end: i64) -> Option<(i64, i64)> {
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0).min(len - 1);
    (start <= end).then_some((start, end))
}

// ---- pure helpers: bitfields ----

/// What BITFIELD does when a SET or INCRBY does not fit the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// Reads `bits` (1..=64) bits at bit `offset` as an unsigned number; bits past the end of `s`
/// read as zero.
pub fn get_unsigned(s: &[u8], offset: u64, bits: u32) -> u64 {
    // A field spans at most 9 bytes (7 bits of skew + 64 bits).
    let first = usize::try_from(offset / 8).unwrap_or(usize::MAX);
    let mut buf = [0u8; 16];
    if let Some(src) = s.get(first..) {
        let n = src.len().min(9);
        buf[..n].copy_from_slice(&src[..n]);
    }
    let word = u128::from_be_bytes(buf) << (offset % 8);
    (word >> (128 - bits)) as u64
}

/// Like `get_unsigned`, sign-extending the field's top bit.
pub fn get_signed(s: &[u8], offset: u64, bits: u32) -> i64 {
    let v = get_unsigned(s, offset, bits);
    // Move the field's sign bit to bit 63, then shift back arithmetically.
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

/// Writes the low `bits` bits of `value` at bit `offset`; the field must lie inside `s`.
pub fn set_field(s: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..u64::from(bits) {
        let on = (value >> (u64::from(bits) - 1 - i)) & 1 == 1;
        let pos = offset + i;
        let mask = 0x80u8 >> (pos % 8);
        let b = &mut s[(pos / 8) as usize];
        if on {
            *b |= mask;
        } else {
            *b &= !mask;
        }
    }
}

/// Redis's unsigned overflow check for `value + incr` in a `bits`-bit field (bits <= 63).
/// None if it fits; otherwise the wrapped or saturated value (unused under FAIL).
///
/// SET uses it with `incr == 0` and the new value cast to u64, so a negative value counts as
/// a huge one and saturates to the maximum, as in Redis.
pub fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let wrapped = || value.wrapping_add(incr as u64) & max;
    if value > max || (incr > 0 && incr > max_incr) {
        Some(if ow == Overflow::Sat { max } else { wrapped() })
    } else if incr < 0 && incr < min_incr {
        Some(if ow == Overflow::Sat { 0 } else { wrapped() })
    } else {
        None
    }
}

/// Redis's signed overflow check for `value + incr` in a `bits`-bit field (bits <= 64).
/// None if it fits; otherwise the wrapped or saturated value (unused under FAIL).
///
/// The arithmetic wraps exactly as Redis's does, so SET of a value near i64::MIN into a
/// narrow field counts as a positive overflow and saturates to the maximum, as in Redis.
pub fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrapped = || {
        let sum = value.wrapping_add(incr);
        if bits == 64 {
            sum
        } else {
            (sum << (64 - bits)) >> (64 - bits)
        }
    };
    let narrow = bits != 64;
    if value > max || (narrow && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr) {
        Some(if ow == Overflow::Sat { max } else { wrapped() })
    } else if value < min
        || (narrow && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        Some(if ow == Overflow::Sat { min } else { wrapped() })
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldOpKind {
    Get,
    Set,
    IncrBy,
}

/// One parsed BITFIELD operation.
#[derive(Debug, Clone, Copy)]
struct FieldOp {
    kind: FieldOpKind,
    signed: bool,
    bits: u32,
    offset: u64,
    /// SET's value or INCRBY's increment.
    arg: i64,
    overflow: Overflow,
}

/// The outcome of a SET or INCRBY on a field.
#[derive(Debug, PartialEq, Eq)]
struct FieldWrite {
    /// The reply: old value for SET, new value for INCRBY, None when FAIL refused it.
    reply: Option<i64>,
    /// Whether the stored bits changed.
    changed: bool,
}

/// Performs a SET or INCRBY on `s`, which covers the field.
fn write_field(s: &mut [u8], op: &FieldOp) -> FieldWrite {
    let (old, new, overflowed, reply);
    if op.signed {
        let o = get_signed(s, op.offset, op.bits);
        let (base, incr) = match op.kind {
            FieldOpKind::IncrBy => (o, op.arg),
            _ => (op.arg, 0),
        };
        let check = signed_overflow(base, incr, op.bits, op.overflow);
        let n = check.unwrap_or_else(|| base.wrapping_add(incr));
        (old, new, overflowed) = (o as u64, n as u64, check.is_some());
        reply = if op.kind == FieldOpKind::IncrBy { n } else { o };
    } else {
        let o = get_unsigned(s, op.offset, op.bits);
        let (base, incr) = match op.kind {
            FieldOpKind::IncrBy => (o, op.arg),
            _ => (op.arg as u64, 0),
        };
        let check = unsigned_overflow(base, incr, op.bits, op.overflow);
        let n = check.unwrap_or_else(|| base.wrapping_add(incr as u64));
        (old, new, overflowed) = (o, n, check.is_some());
        // Unsigned fields are at most 63 bits wide, so the value fits an i64.
        reply = if op.kind == FieldOpKind::IncrBy { n } else { o } as i64;
    }
    if overflowed && op.overflow == Overflow::Fail {
        return FieldWrite {
            reply: None,
            changed: false,
        };
    }
    set_field(s, op.offset, op.bits, new);
    FieldWrite {
        reply: Some(reply),
        changed: old != new,
    }
}

/// Reads a field for GET.
fn read_field(s: &[u8], op: &FieldOp) -> i64 {
    if op.signed {
        get_signed(s, op.offset, op.bits)
    } else {
        get_unsigned(s, op.offset, op.bits) as i64
    }
}

// ---- argument parsing ----

/// Redis's getBitOffsetFromArgument. With `field_bits`, a `#N` offset means N fields of that
/// width (the multiplication wraps as in Redis). The byte holding the bit must stay below
/// proto-max-bulk-len.
fn bit_offset(ctx: &Ctx, arg: &[u8], field_bits: Option<u32>) -> Result<u64, CmdError> {
    let (digits, multiplier) = match (arg.first(), field_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], i64::from(bits)),
        _ => (arg, 1),
    };
    let offset = parse_i64(digits)
        .ok_or_else(|| CmdError::from(err::BIT_OFFSET))?
        .wrapping_mul(multiplier);
    if offset < 0 || (offset >> 3) >= ctx.ex.settings.proto_max_bulk_len {
        return Err(err::BIT_OFFSET.into());
    }
    Ok(offset as u64)
}

/// Redis's getBitfieldTypeFromArgument: `i1`..`i64` or `u1`..`u63`, lower-case prefix only.
/// Returns (signed, bits).
fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err::BITFIELD_TYPE.into()),
    };
    // Redis reads the width as a C string, so it stops at a NUL byte.
    let width = &arg[1..];
    let width = &width[..memchr::memchr(0, width).unwrap_or(width.len())];
    let max = if signed { 64 } else { 63 };
    match parse_i64(width) {
        Some(bits) if (1..=max).contains(&bits) => Ok((signed, bits as u32)),
        _ => Err(err::BITFIELD_TYPE.into()),
    }
}

/// BIT or BYTE for range units; true for BIT.
fn range_unit(arg: &[u8]) -> Result<bool, CmdError> {
    if eq(arg, "BIT") {
        Ok(true)
    } else if eq(arg, "BYTE") {
        Ok(false)
    } else {
        Err(err::SYNTAX.into())
    }
}

// ---- keyspace access ----

/// The string value at `key` for reading (lookupKeyRead): None if missing, WRONGTYPE for
/// other types. Borrows only the executor, so the reply buffer stays usable.
fn read_value<'a>(
    ex: &'a mut Executor,
    client: &Client,
    key: &[u8],
    now_ms: i64,
) -> Result<Option<&'a Value>, CmdError> {
    let touch = !client.has(crate::exec::client::flags::NO_TOUCH);
    match ex.lookup_read(client.db, key, now_ms, touch) {
        Some(e) if !e.value.is_string() => Err(err::WRONGTYPE.into()),
        Some(e) => Ok(Some(&e.value)),
        None => Ok(None),
    }
}

/// Redis's lookupStringForBitCommand: the string at `key` as mutable bytes covering bit
/// `max_bit`, created (zero-filled) or grown as needed; WRONGTYPE for other types. Also
/// returns whether that created or grew the key, which counts as a change by itself.
fn string_for_write<'a>(
    ex: &'a mut Executor,
    db: usize,
    key: &[u8],
    now_ms: i64,
    max_bit: u64,
) -> Result<(&'a mut CompactBytes, bool), CmdError> {
    let need = (max_bit / 8) as usize + 1;
    let grew = match ex.lookup_write(db, key, now_ms) {
        Some(e) => {
            // Unshare even when no growth is needed: Redis reports such strings as raw.
            let s = e
                .value
                .str_make_mut()
                .ok_or(CmdError::from(err::WRONGTYPE))?;
            let short = s.len() < need;
            if short {
                s.resize(need);
            }
            short
        }
        None => {
            let mut s = CompactBytes::empty();
            s.resize(need);
            let lru = ex.new_lru(now_ms);
            ex.dbs[db].insert(key, Value::Str(s), NO_EXPIRE, lru);
            true
        }
    };
    let e = ex.dbs[db]
        .peek_mut(key)
        .expect("looked up or inserted above");
    let s = e.value.str_make_mut().expect("a string value");
    Ok((s, grew))
}

// ---- SETBIT / GETBIT ----

pub fn setbit(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let offset = bit_offset(ctx, ctx.argv[2], None)?;
    let on = int_in(ctx.argv[3], 0, 1, err::BIT_VALUE)? == 1;
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let (s, grew) = string_for_write(ctx.ex, db, key, now, offset)?;
    let byte = &mut s.as_mut_slice()[(offset / 8) as usize];
    let mask = 0x80u8 >> (offset % 8);
    let was = *byte & mask != 0;
    if on {
        *byte |= mask;
    } else {
        *byte &= !mask;
    }
    if grew || was != on {
        ctx.modified(key, notify::STRING, "setbit");
    }
    ctx.out().int(i64::from(was));
    Ok(())
}

pub fn getbit(ctx: &mut Ctx) -> CmdResult {
    let offset = bit_offset(ctx, ctx.argv[2], None)?;
    let v = read_value(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)?;
    let on = v.is_some_and(|v| {
        let mut bytes = v.str_bytes().expect("a string value");
        get_unsigned(bytes.as_slice(), offset, 1) == 1
    });
    ctx.client.out.int(i64::from(on));
    Ok(())
}

// ---- BITCOUNT / BITPOS ----

pub fn bitcount(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    // Redis 7.0 looks the key up before it parses the range: a missing key answers 0
    // whatever the other arguments are.
    let Some(v) = read_value(ctx.ex, ctx.client, argv[1], ctx.now_ms)? else {
        ctx.client.out.int(0);
        return Ok(());
    };
    let mut bytes = v.str_bytes().expect("a string value");
    let s = bytes.as_slice();
    let len = s.len() as i64;
    let range = match argv.len() {
        2 => clamp_range(len * 8, 0, -1),
        4 | 5 => {
            let (start, end) = (int(argv[2])?, int(argv[3])?);
            // Both negative and backwards: empty, before the unit is even looked at.
            if start < 0 && end < 0 && start > end {
                ctx.client.out.int(0);
                return Ok(());
            }
            let in_bits = match argv.get(4) {
                Some(u) => range_unit(u)?,
                None => false,
            };
            if in_bits {
                clamp_range(len * 8, start, end)
            } else {
                clamp_range(len, start, end).map(|(a, b)| (a * 8, b * 8 + 7))
            }
        }
        _ => return Err(err::SYNTAX.into()),
    };
    let n = range.map_or(0, |(first, last)| count_bits(s, first as u64, last as u64));
    ctx.client.out.int(n as i64);
    Ok(())
}

pub fn bitpos(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let bit = int(argv[2])?;
    if bit != 0 && bit != 1 {
        return Err(err::BIT_ARG.into());
    }
    let bit = bit == 1;
    // A missing key is an endless run of zeros.
    let Some(v) = read_value(ctx.ex, ctx.client, argv[1], ctx.now_ms)? else {
        ctx.client.out.int(if bit { -1 } else { 0 });
        return Ok(());
    };
    let mut bytes = v.str_bytes().expect("a string value");
    let s = bytes.as_slice();
    let len = s.len() as i64;
    let mut end_given = false;
    let range = match argv.len() {
        3 => clamp_range(len, 0, -1).map(|(a, b)| (a * 8, b * 8 + 7)),
        4..=6 => {
            let start = int(argv[3])?;
            // Redis parses the unit before the end index.
            let in_bits = match argv.get(5) {
                Some(u) => range_unit(u)?,
                None => false,
            };
            let end = match argv.get(4) {
                Some(e) => {
                    end_given = true;
                    int(e)?
                }
                None => -1,
            };
            if in_bits {
                clamp_range(len * 8, start, end)
            } else {
                clamp_range(len, start, end).map(|(a, b)| (a * 8, b * 8 + 7))
            }
        }
        _ => return Err(err::SYNTAX.into()),
    };
    let pos = match range {
        // An empty range holds neither a 0 nor a 1.
        None => -1,
        Some((first, last)) => match find_bit(s, bit, first as u64, last as u64) {
            Some(p) => p as i64,
            // Without an explicit end the string counts as padded with zeros on the right.
            None if !bit && !end_given => last + 1,
            None => -1,
        },
    };
    ctx.client.out.int(pos);
    Ok(())
}

// ---- BITOP ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
    /// Redis 8.2: X ∧ ¬(Y1 ∨ Y2 ∨ ...).
    Diff,
    /// Redis 8.2: ¬X ∧ (Y1 ∨ Y2 ∨ ...).
    Diff1,
    /// Redis 8.2: X ∧ (Y1 ∨ Y2 ∨ ...).
    AndOr,
    /// Redis 8.2: the bits set in exactly one source.
    One,
}

impl BitOp {
    /// The operations of a first source X against the union of the others.
    fn against_the_rest(self) -> bool {
        matches!(self, BitOp::Diff | BitOp::Diff1 | BitOp::AndOr)
    }
}

/// Combines the sources byte by byte; shorter sources count as zero-padded. The result is as
/// long as the longest source.
fn bitop_apply(op: BitOp, srcs: &[&[u8]]) -> Vec<u8> {
    let maxlen = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut res = vec![0u8; maxlen];
    let Some((first, rest)) = srcs.split_first() else {
        return res;
    };
    if op.against_the_rest() || op == BitOp::One {
        return combine_by_count(op, srcs, maxlen);
    }
    res[..first.len()].copy_from_slice(first);
    for s in rest {
        match op {
            BitOp::And => {
                res[s.len()..].fill(0);
                res.iter_mut().zip(s.iter()).for_each(|(r, b)| *r &= b);
            }
            BitOp::Or => res.iter_mut().zip(s.iter()).for_each(|(r, b)| *r |= b),
            BitOp::Xor => res.iter_mut().zip(s.iter()).for_each(|(r, b)| *r ^= b),
            _ => {}
        }
    }
    if op == BitOp::Not {
        res.iter_mut().for_each(|r| *r = !*r);
    }
    res
}

/// DIFF, DIFF1, ANDOR (X against the union of the rest) and ONE (set in exactly one source).
fn combine_by_count(op: BitOp, srcs: &[&[u8]], maxlen: usize) -> Vec<u8> {
    let byte = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    (0..maxlen)
        .map(|i| {
            if op == BitOp::One {
                let (mut once, mut more) = (0u8, 0u8);
                for s in srcs {
                    let b = byte(s, i);
                    more |= once & b;
                    once |= b;
                }
                return once & !more;
            }
            let x = byte(srcs[0], i);
            let ys = srcs[1..].iter().fold(0u8, |acc, s| acc | byte(s, i));
            match op {
                BitOp::Diff => x & !ys,
                BitOp::Diff1 => !x & ys,
                _ => x & ys,
            }
        })
        .collect()
}

pub fn bitop(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let op = match argv[1] {
        a if eq(a, "AND") => BitOp::And,
        a if eq(a, "OR") => BitOp::Or,
        a if eq(a, "XOR") => BitOp::Xor,
        a if eq(a, "NOT") => BitOp::Not,
        a if eq(a, "DIFF") => BitOp::Diff,
        a if eq(a, "DIFF1") => BitOp::Diff1,
        a if eq(a, "ANDOR") => BitOp::AndOr,
        a if eq(a, "ONE") => BitOp::One,
        _ => return Err(err::SYNTAX.into()),
    };
    if op == BitOp::Not && argv.len() != 4 {
        return Err(err::BITOP_NOT_SINGLE.into());
    }
    if op.against_the_rest() && argv.len() < 5 {
        return Err(err::bitop_two_sources(argv[1]));
    }
    let (dest, keys) = (argv[2], &argv[3..]);
    // Look every source up first (expiry, stats, type check), then borrow them all at once.
    for key in keys {
        read_value(ctx.ex, ctx.client, key, ctx.now_ms)?;
    }
    let db = ctx.client.db;
    let mut values: Vec<_> = keys
        .iter()
        .map(|k| ctx.ex.dbs[db].peek(k).and_then(|e| e.value.str_bytes()))
        .collect();
    let srcs: Vec<&[u8]> = values
        .iter_mut()
        .map(|v| v.as_mut().map_or(&b""[..], |b| b.as_slice()))
        .collect();
    let res = bitop_apply(op, &srcs);
    let len = res.len();
    if len > 0 {
        // Redis stores the result as a fresh raw string, dropping any TTL of the destination.
        let mut s = CompactBytes::from_vec(res);
        s.mark_mutated();
        ctx.write(dest);
        let lru = ctx.new_lru();
        let was = ctx.db().set(dest, Value::Str(s), false, lru);
        ctx.overwritten(dest, was);
        ctx.modified(dest, notify::STRING, "set");
    } else if ctx.db().remove(dest).is_some() {
        ctx.modified(dest, notify::GENERIC, "del");
    }
    ctx.out().int(len as i64);
    Ok(())
}

// ---- BITFIELD / BITFIELD_RO ----

/// Parses BITFIELD's operations (Redis checks all of them before touching the key).
fn parse_field_ops(ctx: &Ctx) -> Result<Vec<FieldOp>, CmdError> {
    let argv = ctx.argv;
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < argv.len() {
        let remaining = argv.len() - j - 1;
        let sub = argv[j];
        let kind = if eq(sub, "GET") && remaining >= 2 {
            FieldOpKind::Get
        } else if eq(sub, "SET") && remaining >= 3 {
            FieldOpKind::Set
        } else if eq(sub, "INCRBY") && remaining >= 3 {
            FieldOpKind::IncrBy
        } else if eq(sub, "OVERFLOW") && remaining >= 1 {
            overflow = match argv[j + 1] {
                a if eq(a, "WRAP") => Overflow::Wrap,
                a if eq(a, "SAT") => Overflow::Sat,
                a if eq(a, "FAIL") => Overflow::Fail,
                _ => return Err(err::BITFIELD_OVERFLOW.into()),
            };
            j += 2;
            continue;
        } else {
            return Err(err::SYNTAX.into());
        };
        let (signed, bits) = field_type(argv[j + 1])?;
        let offset = bit_offset(ctx, argv[j + 2], Some(bits))?;
        let arg = match kind {
            FieldOpKind::Get => 0,
            _ => int(argv[j + 3])?,
        };
        ops.push(FieldOp {
            kind,
            signed,
            bits,
            offset,
            arg,
            overflow,
        });
        j += if kind == FieldOpKind::Get { 3 } else { 4 };
    }
    Ok(ops)
}

/// Only GETs: read the key without creating it.
fn bitfield_read(ctx: &mut Ctx, ops: &[FieldOp]) -> CmdResult {
    let v = read_value(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)?;
    let mut bytes = v.map(|v| v.str_bytes().expect("a string value"));
    let s = bytes.as_mut().map_or(&b""[..], |b| b.as_slice());
    let out = &mut ctx.client.out;
    out.array(ops.len());
    for op in ops {
        out.int(read_field(s, op));
    }
    Ok(())
}

/// Some SET or INCRBY: grow the string to the farthest field written, then run in order.
fn bitfield_write(ctx: &mut Ctx, ops: &[FieldOp]) -> CmdResult {
    let key = ctx.argv[1];
    let max_bit = ops
        .iter()
        .filter(|op| op.kind != FieldOpKind::Get)
        .map(|op| op.offset + u64::from(op.bits) - 1)
        .max()
        .unwrap_or(0);
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let (s, grew) = string_for_write(ctx.ex, db, key, now, max_bit)?;
    let s = s.as_mut_slice();
    let out = &mut ctx.client.out;
    out.array(ops.len());
    let mut changes: u64 = 0;
    for op in ops {
        if op.kind == FieldOpKind::Get {
            out.int(read_field(s, op));
            continue;
        }
        let w = write_field(s, op);
        match w.reply {
            Some(v) => out.int(v),
            None => out.null(),
        }
        // Creating or growing the key makes every applied write count as a change.
        if w.reply.is_some() && (grew || w.changed) {
            changes += 1;
        }
    }
    if changes > 0 {
        // One event ("setbit", as Redis names it) and one dirty increment per change.
        ctx.modified(key, notify::STRING, "setbit");
        ctx.ex.dirty += changes - 1;
    }
    Ok(())
}

pub fn bitfield(ctx: &mut Ctx) -> CmdResult {
    let ops = parse_field_ops(ctx)?;
    if ops.iter().all(|op| op.kind == FieldOpKind::Get) {
        bitfield_read(ctx, &ops)
    } else {
        bitfield_write(ctx, &ops)
    }
}

pub fn bitfield_ro(ctx: &mut Ctx) -> CmdResult {
    let ops = parse_field_ops(ctx)?;
    if ops.iter().any(|op| op.kind != FieldOpKind::Get) {
        return Err(err::BITFIELD_RO_GET_ONLY.into());
    }
    bitfield_read(ctx, &ops)
}

pub const HANDLERS: &[(&crate::cmd::meta::CommandMeta, Handler)] = &[
    (&m::SETBIT, setbit),
    (&m::GETBIT, getbit),
    (&m::BITCOUNT, bitcount),
    (&m::BITPOS, bitpos),
    (&m::BITOP, bitop),
    (&m::BITFIELD, bitfield),
    (&m::BITFIELD_RO, bitfield_ro),
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Naive model: bit `i` of `s` (MSB first), zero past the end.
    fn bit(s: &[u8], i: u64) -> bool {
        s.get((i / 8) as usize)
            .is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
    }

    fn naive_get(s: &[u8], offset: u64, bits: u32) -> u64 {
        (0..u64::from(bits)).fold(0, |v, i| (v << 1) | u64::from(bit(s, offset + i)))
    }

    fn sign_extend(v: i128, bits: u32) -> i128 {
        let m = 1i128 << bits;
        let v = v.rem_euclid(m);
        if v >= m / 2 {
            v - m
        } else {
            v
        }
    }

    #[test]
    fn popcount_and_ranges() {
        assert_eq!(popcount(b"foobar"), 26);
        assert_eq!(popcount(b""), 0);
        assert_eq!(count_bits(b"foobar", 0, 7), 4);
        assert_eq!(count_bits(b"foobar", 5, 30), 17);
        assert_eq!(byte_mask(0, 0, 7), 0xff);
        assert_eq!(byte_mask(0, 3, 5), 0b0001_1100);
        assert_eq!(byte_mask(1, 3, 100), 0xff);
        assert_eq!(clamp_range(6, -2, -1), Some((4, 5)));
        assert_eq!(clamp_range(6, 3, 2), None);
        assert_eq!(clamp_range(0, 0, -1), None);
        assert_eq!(clamp_range(6, i64::MIN, i64::MAX), Some((0, 5)));
    }

    #[test]
    fn find_bit_examples() {
        let s = b"\xff\xf0\x00";
        assert_eq!(find_bit(s, false, 0, 23), Some(12));
        assert_eq!(find_bit(s, true, 12, 23), None);
        assert_eq!(find_bit(s, true, 7, 7), Some(7));
        assert_eq!(find_bit(b"\x00\x00\x01", true, 0, 23), Some(23));
        assert_eq!(find_bit(b"\xff\xff\xff", false, 0, 23), None);
    }

    #[test]
    fn fields_at_the_edges() {
        let s = [0x80u8, 0, 0, 0, 0, 0, 0, 0x01];
        assert_eq!(get_signed(&s, 0, 64), i64::MIN + 1);
        assert_eq!(get_unsigned(&s, 1, 63), 1);
        assert_eq!(get_signed(&s, 0, 1), -1);
        assert_eq!(get_unsigned(&s, 60, 8), 0x10);
        assert_eq!(get_unsigned(&s, 1000, 64), 0);
        assert_eq!(get_unsigned(&s, u64::MAX / 2, 64), 0);
    }

    #[test]
    fn overflow_quirks() {
        use Overflow::*;
        // SET of a negative number into an unsigned field saturates to the maximum.
        assert_eq!(unsigned_overflow(-1i64 as u64, 0, 8, Sat), Some(255));
        assert_eq!(unsigned_overflow(-1i64 as u64, 0, 8, Wrap), Some(255));
        assert_eq!(unsigned_overflow(256, 0, 8, Wrap), Some(0));
        // Near i64::MIN Redis's bound arithmetic wraps: a positive overflow.
        assert_eq!(signed_overflow(i64::MIN, 0, 8, Sat), Some(127));
        assert_eq!(signed_overflow(i64::MIN + 127, 0, 8, Sat), Some(127));
        assert_eq!(signed_overflow(i64::MIN + 128, 0, 8, Sat), Some(-128));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Wrap), Some(i64::MIN));
        assert_eq!(signed_overflow(i64::MIN, -1, 64, Sat), Some(i64::MIN));
        assert_eq!(signed_overflow(-1, i64::MIN, 64, Sat), Some(i64::MIN));
        assert_eq!(signed_overflow(0, i64::MIN, 64, Sat), None);
    }

    #[test]
    fn write_field_replies_and_changes() {
        let op = |kind, signed, bits, arg, overflow| FieldOp {
            kind,
            signed,
            bits,
            offset: 4,
            arg,
            overflow,
        };
        let mut s = [0u8; 2];
        let w = write_field(&mut s, &op(FieldOpKind::Set, true, 8, -2, Overflow::Wrap));
        assert_eq!(
            w,
            FieldWrite {
                reply: Some(0),
                changed: true
            }
        );
        assert_eq!(s, [0x0f, 0xe0]);
        let w = write_field(&mut s, &op(FieldOpKind::IncrBy, true, 8, 0, Overflow::Wrap));
        assert_eq!(
            w,
            FieldWrite {
                reply: Some(-2),
                changed: false
            }
        );
        let w = write_field(
            &mut s,
            &op(FieldOpKind::IncrBy, false, 8, 10, Overflow::Fail),
        );
        assert_eq!(
            w,
            FieldWrite {
                reply: None,
                changed: false
            }
        );
        assert_eq!(s, [0x0f, 0xe0]);
        let w = write_field(
            &mut s,
            &op(FieldOpKind::IncrBy, false, 8, 10, Overflow::Sat),
        );
        assert_eq!(
            w,
            FieldWrite {
                reply: Some(255),
                changed: true
            }
        );
    }

    #[test]
    fn bitop_examples() {
        let (a, c): (&[u8], &[u8]) = (b"\x0f\xf0\xaa", b"\xff\x0f");
        assert_eq!(bitop_apply(BitOp::And, &[a, c]), b"\x0f\x00\x00");
        assert_eq!(bitop_apply(BitOp::Or, &[a, c]), b"\xff\xff\xaa");
        assert_eq!(bitop_apply(BitOp::Xor, &[a, c]), b"\xf0\xff\xaa");
        assert_eq!(bitop_apply(BitOp::Not, &[a]), b"\xf0\x0f\x55");
        assert_eq!(bitop_apply(BitOp::And, &[c, a, b""]), b"\x00\x00\x00");
        assert!(bitop_apply(BitOp::Not, &[b""]).is_empty());
    }

    proptest! {
        #[test]
        fn counting_matches_model(
            s in proptest::collection::vec(any::<u8>(), 1..40),
            a in 0u64..320,
            b in 0u64..320,
        ) {
            let len = s.len() as u64 * 8;
            let (first, last) = (a.min(b) % len, a.max(b) % len);
            let (first, last) = (first.min(last), first.max(last));
            let want = (first..=last).filter(|&i| bit(&s, i)).count() as u64;
            prop_assert_eq!(count_bits(&s, first, last), want);
            for target in [false, true] {
                let want = (first..=last).find(|&i| bit(&s, i) == target);
                prop_assert_eq!(find_bit(&s, target, first, last), want);
            }
        }

        #[test]
        fn fields_match_model(
            mut s in proptest::collection::vec(any::<u8>(), 0..20),
            offset in 0u64..200,
            bits in 1u32..=64,
            value: u64,
        ) {
            prop_assert_eq!(get_unsigned(&s, offset, bits), naive_get(&s, offset, bits));
            let signed = sign_extend(i128::from(naive_get(&s, offset, bits)), bits);
            prop_assert_eq!(i128::from(get_signed(&s, offset, bits)), signed);
            let need = ((offset + u64::from(bits) - 1) / 8 + 1) as usize;
            if s.len() < need {
                s.resize(need, 0);
            }
            let before = s.clone();
            set_field(&mut s, offset, bits, value);
            let mask = if bits == 64 { u64::MAX } else { (1 << bits) - 1 };
            prop_assert_eq!(get_unsigned(&s, offset, bits), value & mask);
            // Bits outside the field are untouched.
            for i in 0..s.len() as u64 * 8 {
                if i < offset || i >= offset + u64::from(bits) {
                    prop_assert_eq!(bit(&s, i), bit(&before, i));
                }
            }
        }

        #[test]
        fn incrby_matches_model(raw: u64, incr: i64, bits in 1u32..=64, sat: bool) {
            let ow = if sat { Overflow::Sat } else { Overflow::Wrap };
            // Signed: any in-range value plus any increment, computed exactly.
            let value = sign_extend(i128::from(raw), bits) as i64;
            let (min, max) = (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1);
            let exact = i128::from(value) + i128::from(incr);
            let want = if (min..=max).contains(&exact) {
                None
            } else if sat {
                Some(exact.clamp(min, max) as i64)
            } else {
                Some(sign_extend(exact, bits) as i64)
            };
            prop_assert_eq!(signed_overflow(value, incr, bits, ow), want);
            // Unsigned (at most 63 bits).
            let ubits = bits.min(63);
            let value = raw & ((1u64 << ubits) - 1);
            let max = (1i128 << ubits) - 1;
            let exact = i128::from(value) + i128::from(incr);
            let want = if (0..=max).contains(&exact) {
                None
            } else if sat {
                Some(exact.clamp(0, max) as u64)
            } else {
                Some(exact.rem_euclid(max + 1) as u64)
            };
            prop_assert_eq!(unsigned_overflow(value, incr, ubits, ow), want);
        }
    }
}
