//! `struct`: Roberto Ierusalimschy's struct library (lua_struct.c as patched in Redis 7.0),
//! packing Lua values into binary strings and back, for x86-64 sizes (`int` 4, `long` 8).

use mlua::{IntoLuaMulti, Lua, MultiValue, Table, Value};

use super::{
    arg_error, c_i64, check_number, check_string, error, function, opt_integer, to_number,
    LibResult,
};

/// Largest `i`/`I` size.
const MAXINTSIZE: usize = 32;
/// Default of `!`: the alignment of a double.
const MAXALIGN: usize = 8;
/// Lua 5.1's `LUAI_MAXCSTACK`: `luaL_checkstack` fails past this many stack slots.
const MAX_STACK: usize = 8000;

pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", function(lua, pack)?)?;
    t.set("unpack", function(lua, unpack)?)?;
    t.set("size", function(lua, size)?)?;
    Ok(t)
}

/// A format string being read, with the endianness and alignment set so far.
struct Format<'a> {
    fmt: &'a [u8],
    big: bool,
    align: usize,
}

impl<'a> Format<'a> {
    fn new(fmt: &'a [u8]) -> Self {
        // The C code reads the format as a C string.
        let end = fmt.iter().position(|&c| c == 0).unwrap_or(fmt.len());
        Format {
            fmt: &fmt[..end],
            big: false,
            align: 1,
        }
    }

    fn next(&mut self) -> Option<u8> {
        let (&c, rest) = self.fmt.split_first()?;
        self.fmt = rest;
        Some(c)
    }

    /// A decimal count after an option, or `default`.
    fn number(&mut self, default: usize) -> LibResult<usize> {
        if !self.fmt.first().is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: i32 = 0;
        while let Some(d) = self.fmt.first().filter(|c| c.is_ascii_digit()) {
            let d = i32::from(d - b'0');
            if a > i32::MAX / 10 || a * 10 > i32::MAX - d {
                return Err(error("integral size overflow"));
            }
            a = a * 10 + d;
            self.fmt = &self.fmt[1..];
        }
        Ok(a as usize)
    }

    /// Bytes taken by option `opt` (0 for the control options and `s`).
    fn size(&mut self, opt: u8) -> LibResult<usize> {
        Ok(match opt {
            b'b' | b'B' | b'x' => 1,
            b'h' | b'H' => 2,
            b'f' => 4,
            b'l' | b'L' | b'T' | b'd' => 8,
            b'c' => self.number(1)?,
            b'i' | b'I' => {
                let size = self.number(4)?;
                if size > MAXINTSIZE {
                    let msg = format!("integral size {size} is larger than limit of {MAXINTSIZE}");
                    return Err(error(msg));
                }
                size
            }
            _ => 0,
        })
    }

    /// Padding to put before an item of `size` bytes at offset `len`. Sizes that are not
    /// powers of two (`i3`) give odd paddings, as in C.
    fn padding(&self, len: usize, opt: u8, size: usize) -> usize {
        if size == 0 || opt == b'c' {
            return 0;
        }
        let size = size.min(self.align);
        size.wrapping_sub(len & (size - 1)) & (size - 1)
    }

    /// Endianness, alignment and blanks; anything else is not an option.
    fn control(&mut self, opt: u8) -> LibResult<()> {
        match opt {
            b' ' => {}
            b'>' => self.big = true,
            b'<' => self.big = false,
            b'!' => {
                let a = self.number(MAXALIGN)?;
                if !a.is_power_of_two() {
                    return Err(error(format!("alignment {a} is not a power of 2")));
                }
                self.align = a;
            }
            _ => {
                let msg = [&b"invalid format option '"[..], &[opt], b"'"].concat();
                return Err(arg_error(1, msg));
            }
        }
        Ok(())
    }
}

/// C's `(unsigned long)d` as gcc compiles it on x86-64 (out of range wraps oddly, NaN gives
/// 2^63): values from 2^63 up go through a signed conversion of `d - 2^63`.
fn c_u64(d: f64) -> u64 {
    const HALF: f64 = 9_223_372_036_854_775_808.0;
    if d >= HALF {
        c_i64(d - HALF) as u64 ^ (1 << 63)
    } else {
        c_i64(d) as u64
    }
}

fn pack(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    let fmt = check_string(lua, &args, 1)?;
    let fmt = fmt.as_bytes();
    let mut f = Format::new(&fmt);
    let mut out = Vec::new();
    let mut arg = 2;
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        out.resize(out.len() + f.padding(out.len(), opt, size), 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_number(lua, &args, arg)?;
                arg += 1;
                let value = if n < 0.0 { c_i64(n) as u64 } else { c_u64(n) };
                // Bytes past the 8th are zero, even for negative numbers, as in C.
                let bytes = (0..size).map(|i| value.checked_shr(8 * i as u32).unwrap_or(0) as u8);
                if f.big {
                    out.extend(bytes.rev());
                } else {
                    out.extend(bytes);
                }
            }
            b'x' => out.push(0),
            b'f' => {
                let v = check_number(lua, &args, arg)? as f32;
                arg += 1;
                out.extend(if f.big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                });
            }
            b'd' => {
                let v = check_number(lua, &args, arg)?;
                arg += 1;
                out.extend(if f.big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                });
            }
            b'c' | b's' => {
                let s = check_string(lua, &args, arg)?;
                let s = s.as_bytes();
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                // The C code checks after moving past the argument, so it names the next one.
                if s.len() < size {
                    return Err(arg_error(arg, "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt)?,
        }
    }
    Ok(lua.create_string(&out)?.into_lua_multi(lua)?)
}

/// An integer of `size` bytes; only the 8 bytes nearest the low end count.
fn get_integer(bytes: &[u8], big: bool, signed: bool) -> f64 {
    let fold = |l: u64, &b: &u8| (l << 8) | u64::from(b);
    let l = if big {
        bytes.iter().fold(0, fold)
    } else {
        bytes.iter().rev().fold(0, fold)
    };
    if !signed {
        return l as f64;
    }
    // The shift count wraps modulo 64 like x86's, for sizes over 8 (and 0).
    let mask = u64::MAX.wrapping_shl((bytes.len() as u32 * 8).wrapping_sub(1));
    let l = if l & mask != 0 { l | mask } else { l };
    l as i64 as f64
}

fn unpack(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    let fmt = check_string(lua, &args, 1)?;
    let data = check_string(lua, &args, 2)?;
    let data = data.as_bytes();
    let ld = data.len();
    let pos = opt_integer(lua, &args, 3, 1)? as usize;
    if pos == 0 {
        return Err(arg_error(3, "offset must be 1 or greater"));
    }
    let mut pos = pos - 1;
    let fmt = fmt.as_bytes();
    let mut f = Format::new(&fmt);
    let mut results = MultiValue::new();
    let too_short = || arg_error(2, "data string too short");
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        pos = pos.wrapping_add(f.padding(pos, opt, size));
        if size > ld || pos > ld - size {
            return Err(too_short());
        }
        // Room for this item and the final position, on top of the arguments.
        if args.len() + results.len() + 2 > MAX_STACK {
            return Err(error("stack overflow (too many results)"));
        }
        let item = &data[pos..pos + size];
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                results.push_back(Value::Number(get_integer(item, f.big, signed)));
            }
            b'x' => {}
            b'f' => {
                let b = item.try_into().map_err(|_| too_short())?;
                let v = if f.big {
                    f32::from_be_bytes(b)
                } else {
                    f32::from_le_bytes(b)
                };
                results.push_back(Value::Number(v.into()));
            }
            b'd' => {
                let b = item.try_into().map_err(|_| too_short())?;
                let v = if f.big {
                    f64::from_be_bytes(b)
                } else {
                    f64::from_le_bytes(b)
                };
                results.push_back(Value::Number(v));
            }
            b'c' => {
                if size == 0 {
                    // `c0` takes its length from the previous result, which it replaces.
                    let len = match results.back() {
                        Some(v) => to_number(lua, Some(v))?,
                        None => None,
                    };
                    let len = len.ok_or_else(|| error("format 'c0' needs a previous size"))?;
                    results.pop_back();
                    size = c_u64(len) as usize;
                    if size > ld || pos > ld - size {
                        return Err(too_short());
                    }
                }
                results.push_back(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let rest = &data[pos..];
                let end = rest
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or_else(|| error("unfinished string in data"))?;
                size = end + 1;
                results.push_back(Value::String(lua.create_string(&rest[..end])?));
            }
            _ => f.control(opt)?,
        }
        pos += size;
    }
    results.push_back(Value::Number((pos as i64 + 1) as f64));
    Ok(results)
}

fn size(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    let fmt = check_string(lua, &args, 1)?;
    let fmt = fmt.as_bytes();
    let mut f = Format::new(&fmt);
    let mut pos = 0usize;
    while let Some(opt) = f.next() {
        let size = f.size(opt)?;
        pos = pos.wrapping_add(f.padding(pos, opt, size));
        if opt == b's' {
            return Err(arg_error(1, "option 's' has no fixed size"));
        } else if opt == b'c' && size == 0 {
            return Err(arg_error(1, "option 'c0' has no fixed size"));
        }
        // Letters that are not options pass silently here, as in C.
        if !opt.is_ascii_alphanumeric() {
            f.control(opt)?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok((pos as f64).into_lua_multi(lua)?)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{bytes, err, eval, hex, lua};

    fn packed(code: &str) -> String {
        hex(&bytes(&lua(), code))
    }

    /// The results of a call, rendered by Lua's tostring and joined with `|`.
    fn values(code: &str) -> String {
        let wrapped = format!(
            "local r = {{{code}}} for i = 1, #r do r[i] = tostring(r[i]) end \
             return table.concat(r, '|')"
        );
        eval(&lua(), &wrapped).unwrap_or_else(|e| panic!("{code}: {e}"))
    }

    #[test]
    fn pack_integers() {
        // redis-cli -p 7100 EVAL "return struct.pack('>bBhHiIlL', -1, 255, ...)" 0, hex-dumped
        assert_eq!(
            packed("return struct.pack('>bBhHiIlL', -1, 255, -2, 65535, -3, 2^32-1, -4, 2^64)"),
            "fffffffefffffffffffdfffffffffffffffffffffffc0000000000000000"
        );
        assert_eq!(
            packed("return struct.pack('<bBhHiIlL', -1, 255, -2, 65535, -3, 2^32-1, -4, 5)"),
            "fffffefffffffdfffffffffffffffcffffffffffffff0500000000000000"
        );
        assert_eq!(packed("return struct.pack('i3', -2)"), "feffff");
        assert_eq!(
            packed("return struct.pack('>i16', -2)"),
            "0000000000000000fffffffffffffffe"
        );
        assert_eq!(
            packed("return struct.pack('<i16', -2)"),
            "feffffffffffffff0000000000000000"
        );
        assert_eq!(packed("return struct.pack('i0', 1)"), "");
        assert_eq!(packed("return struct.pack('T', 7)"), "0700000000000000");
        assert_eq!(packed("return struct.pack('B', 263)"), "07");
        assert_eq!(packed("return struct.pack('b', 3.9)"), "03");
        assert_eq!(packed("return struct.pack('b', -3.9)"), "fd");
    }

    #[test]
    fn pack_out_of_range_like_x86() {
        assert_eq!(packed("return struct.pack('L', 2^63)"), "0000000000000080");
        assert_eq!(packed("return struct.pack('l', -2^63)"), "0000000000000080");
        assert_eq!(
            packed("return struct.pack('L', 2^64 + 4096)"),
            "0000000000000000"
        );
        assert_eq!(packed("return struct.pack('l', 0/0)"), "0000000000000080");
        assert_eq!(packed("return struct.pack('l', -1/0)"), "0000000000000080");
        assert_eq!(packed("return struct.pack('l', 1/0)"), "0000000000000000");
    }

    #[test]
    fn pack_floats_strings_padding() {
        assert_eq!(
            packed("return struct.pack('>fd', 1.5, 0.1)"),
            "3fc000003fb999999999999a"
        );
        assert_eq!(
            packed("return struct.pack('<fd', 1.5, 0.1)"),
            "0000c03f9a9999999999b93f"
        );
        assert_eq!(packed("return struct.pack('s', 'ab')"), "616200");
        assert_eq!(packed("return struct.pack('s', 12)"), "313200");
        assert_eq!(packed("return struct.pack('c0', 'ab')"), "6162");
        assert_eq!(packed("return struct.pack('c1', 'ab')"), "61");
        assert_eq!(packed("return struct.pack('x')"), "00");
        assert_eq!(
            packed("return struct.pack('!4 b i', 1, 2)"),
            "0100000002000000"
        );
        assert_eq!(
            packed("return struct.pack('! b d', 1, 2)"),
            "01000000000000000000000000000040"
        );
        assert_eq!(
            packed("return struct.pack('!2 b i8', 1, 2)"),
            "01000200000000000000"
        );
        assert_eq!(
            packed("return struct.pack('!8 b i7', 1, 2)"),
            "0100000000000002000000000000"
        );
    }

    #[test]
    fn pack_errors() {
        let lua = lua();
        let cases = [
            (
                "struct.pack('i33', 1)",
                "user_script:1: integral size 33 is larger than limit of 32",
            ),
            (
                "struct.pack('i99999999999', 1)",
                "user_script:1: integral size overflow",
            ),
            (
                "struct.pack('c99999999999', 'x')",
                "user_script:1: integral size overflow",
            ),
            (
                "struct.pack('c3', 'ab')",
                "user_script:1: bad argument #3 to 'pack' (string too short)",
            ),
            (
                "struct.pack('!3 b', 1)",
                "user_script:1: alignment 3 is not a power of 2",
            ),
            (
                "struct.pack('!0')",
                "user_script:1: alignment 0 is not a power of 2",
            ),
            (
                "struct.pack('b')",
                "user_script:1: bad argument #2 to 'pack' (number expected, got no value)",
            ),
            (
                "struct.pack('b', 'x')",
                "user_script:1: bad argument #2 to 'pack' (number expected, got string)",
            ),
            (
                "struct.pack('s', {})",
                "user_script:1: bad argument #2 to 'pack' (string expected, got table)",
            ),
            (
                "struct.pack(1)",
                "user_script:1: bad argument #1 to 'pack' (invalid format option '1')",
            ),
            (
                "struct.pack()",
                "user_script:1: bad argument #1 to 'pack' (string expected, got no value)",
            ),
        ];
        for (code, want) in cases {
            assert_eq!(err(&lua, &format!("return {code}")), want, "{code}");
        }
    }

    #[test]
    fn unpack_values() {
        // redis-cli -p 7100 EVAL "return {struct.unpack('>bBhHiI', ...)}" 0
        let b = "local function b(h) return (h:gsub('%s', ''):gsub('..', function(x) \
                 return string.char(tonumber(x, 16)) end)) end ";
        let cases = [
            (
                "struct.unpack('>bBhHiI', b('ff ff fffe ffff fffffffd ffffffff'))",
                "-1|255|-2|65535|-3|4294967295|15",
            ),
            (
                "struct.unpack('<lL', b('fcffffffffffffff ffffffffffffffff'))",
                "-4|1.844674407371e+19|17",
            ),
            (
                "struct.unpack('>i16', b('0000000000000001 fffffffffffffffe'))",
                "-2|17",
            ),
            (
                "struct.unpack('<i16', b('feffffffffffffff 0100000000000000'))",
                "-2|17",
            ),
            (
                "struct.unpack('<I16', b('feffffffffffffff 0100000000000000'))",
                "1.844674407371e+19|17",
            ),
            ("struct.unpack('i3', b('feffff'))", "-2|4"),
            ("struct.unpack('I3', b('feffff'))", "16777214|4"),
            ("struct.unpack('>f', b('3dcccccd'))", "0.10000000149012|5"),
            ("struct.unpack('<d', b('9a9999999999b93f'))", "0.1|9"),
            ("struct.unpack('s', 'ab\\0cd')", "ab|4"),
            ("struct.unpack('b c0', b('03') .. 'abcdef')", "abc|5"),
            ("struct.unpack('s c0', '3\\0abcd')", "abc|6"),
            (
                "struct.unpack('b c0 b', b('02') .. 'ab' .. b('07'))",
                "ab|7|5",
            ),
            ("struct.unpack('b c0', b('00') .. 'ab')", "|2"),
            ("struct.unpack('c2 x c1', 'abcde')", "ab|d|5"),
            ("struct.unpack('b', 'abc', 2)", "98|3"),
            ("struct.unpack('b', 'a', 1.9)", "97|2"),
            ("struct.unpack('', 'abc', 5)", "5"),
            ("struct.unpack('!4 b i', b('01 000000 02000000'))", "1|2|9"),
            ("struct.unpack('b', 5)", "53|2"),
        ];
        let lua = lua();
        for (code, want) in cases {
            let wrapped = format!(
                "{b} local r = {{{code}}} for i = 1, #r do r[i] = tostring(r[i]) end \
                 return table.concat(r, '|')"
            );
            let got: String = eval(&lua, &wrapped).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(got, want, "{code}");
        }
    }

    #[test]
    fn unpack_errors() {
        let lua = lua();
        let cases = [
            (
                "struct.unpack('s', 'abcd')",
                "user_script:1: unfinished string in data",
            ),
            (
                "struct.unpack('s', '')",
                "user_script:1: unfinished string in data",
            ),
            (
                "struct.unpack('c0', 'abc')",
                "user_script:1: format 'c0' needs a previous size",
            ),
            (
                "struct.unpack('x c0', 'abc')",
                "user_script:1: format 'c0' needs a previous size",
            ),
            (
                "struct.unpack('s c0', 'x\\0abcd')",
                "user_script:1: format 'c0' needs a previous size",
            ),
            (
                "struct.unpack('b c0', '\\9abc')",
                "user_script:1: bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                "struct.unpack('b c0', '\\255abc')",
                "user_script:1: bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                "struct.unpack('i', 'abc')",
                "user_script:1: bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                "struct.unpack('b', 'abc', 4)",
                "user_script:1: bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                "struct.unpack('b', 'abc', 0)",
                "user_script:1: bad argument #3 to 'unpack' (offset must be 1 or greater)",
            ),
            (
                "struct.unpack('b', 'abc', -1)",
                "user_script:1: bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                "struct.unpack('z', 'abc')",
                "user_script:1: bad argument #1 to 'unpack' (invalid format option 'z')",
            ),
            (
                "struct.unpack('b')",
                "user_script:1: bad argument #2 to 'unpack' (string expected, got no value)",
            ),
            (
                "struct.unpack('b', 'a', 'x')",
                "user_script:1: bad argument #3 to 'unpack' (number expected, got string)",
            ),
            (
                "struct.unpack('i99999999999', 'a')",
                "user_script:1: integral size overflow",
            ),
            (
                "struct.unpack(string.rep('b', 7998), string.rep('a', 7998))",
                "user_script:1: stack overflow (too many results)",
            ),
            (
                "struct.unpack(string.rep('b', 7997), string.rep('a', 7997), 1)",
                "user_script:1: stack overflow (too many results)",
            ),
        ];
        for (code, want) in cases {
            assert_eq!(err(&lua, &format!("return {code}")), want, "{code}");
        }
        // Just under the stack limit: 7997 results and the position.
        let n: usize = eval(
            &lua,
            "return select('#', struct.unpack(string.rep('b', 7997), string.rep('a', 7997)))",
        )
        .unwrap();
        assert_eq!(n, 7998);
    }

    #[test]
    fn round_trip() {
        let got = values(
            "struct.unpack('>!4 b H i l d f c3 s', struct.pack('>!4 b H i l d f c3 s', \
             -5, 513, -70000, 2^40, 0.25, -1.5, 'xyz', 'hello'))",
        );
        assert_eq!(got, "-5|513|-70000|1099511627776|0.25|-1.5|xyz|hello|38");
    }

    #[test]
    fn size() {
        let lua = lua();
        assert_eq!(values("struct.size('>bhilfd')"), "27");
        assert_eq!(
            values("struct.size('!bhilfd'), struct.size('c5'), struct.size('x')"),
            "32|5|1"
        );
        assert_eq!(values("struct.size('i7'), struct.size('z')"), "7|0");
        let cases = [
            (
                "struct.size('s')",
                "user_script:1: bad argument #1 to 'size' (option 's' has no fixed size)",
            ),
            (
                "struct.size('c0')",
                "user_script:1: bad argument #1 to 'size' (option 'c0' has no fixed size)",
            ),
            (
                "struct.size('!3')",
                "user_script:1: alignment 3 is not a power of 2",
            ),
        ];
        for (code, want) in cases {
            assert_eq!(err(&lua, &format!("return {code}")), want, "{code}");
        }
    }
}
