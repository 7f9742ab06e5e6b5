//! `bit`: Lua BitOp 1.0.2 (lua_bit.c) — 32-bit operations on Lua numbers, results signed.

use mlua::{IntoLuaMulti, Lua, MultiValue, Table};

use super::{function, nth, to_number, type_error, LibResult};

type Unary = fn(u32) -> u32;
type Binary = fn(u32, u32) -> u32;

pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let unary: [(&str, Unary); 3] = [
        ("tobit", |b| b),
        ("bnot", |b| !b),
        ("bswap", u32::swap_bytes),
    ];
    for (name, op) in unary {
        t.set(
            name,
            function(lua, move |lua, args| ret(lua, op(barg(lua, &args, 1)?)))?,
        )?;
    }
    let folds: [(&str, Binary); 3] = [
        ("band", |a, b| a & b),
        ("bor", |a, b| a | b),
        ("bxor", |a, b| a ^ b),
    ];
    for (name, op) in folds {
        t.set(
            name,
            function(lua, move |lua, args| {
                // Same argument order as the C loop, so the same bad argument is reported.
                let mut b = barg(lua, &args, 1)?;
                for i in (2..=args.len() as i32).rev() {
                    b = op(b, barg(lua, &args, i)?);
                }
                ret(lua, b)
            })?,
        )?;
    }
    let shifts: [(&str, Binary); 5] = [
        ("lshift", |b, n| b << n),
        ("rshift", |b, n| b >> n),
        ("arshift", |b, n| ((b as i32) >> n) as u32),
        ("rol", u32::rotate_left),
        ("ror", u32::rotate_right),
    ];
    for (name, op) in shifts {
        t.set(
            name,
            function(lua, move |lua, args| {
                let b = barg(lua, &args, 1)?;
                let n = barg(lua, &args, 2)? & 31;
                ret(lua, op(b, n))
            })?,
        )?;
    }
    t.set("tohex", function(lua, tohex)?)?;
    Ok(t)
}

/// The argument as 32 bits, the way lua_bit.c gets them: add 2^52+2^51 so the integer part
/// lands in the low mantissa bits, then take those (wraps modulo 2^32, rounds to even).
fn barg(lua: &Lua, args: &MultiValue, arg: i32) -> LibResult<u32> {
    let n = to_number(lua, nth(args, arg))?;
    let b = (n.unwrap_or(0.0) + 6_755_399_441_055_744.0).to_bits() as u32;
    // Only a zero result is checked, exactly like the C code (NaN, say, passes as 0).
    if b == 0 && n.is_none() {
        return Err(type_error(args, arg, "number"));
    }
    Ok(b)
}

fn ret(lua: &Lua, b: u32) -> LibResult<MultiValue> {
    Ok((b as i32 as f64).into_lua_multi(lua)?)
}

fn tohex(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    let mut b = barg(lua, &args, 1)?;
    let n = if args.len() < 2 {
        8
    } else {
        barg(lua, &args, 2)? as i32
    };
    let digits: &[u8; 16] = if n < 0 {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    // C negates INT_MIN into itself and then misbehaves; clamp to 8 digits instead.
    let n = n.unsigned_abs().min(8) as usize;
    let mut out = vec![0u8; n];
    for c in out.iter_mut().rev() {
        *c = digits[(b & 15) as usize];
        b >>= 4;
    }
    Ok(lua.create_string(&out)?.into_lua_multi(lua)?)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, eval, lua};

    fn num(code: &str) -> f64 {
        eval(&lua(), code).unwrap_or_else(|e| panic!("{code}: {e}"))
    }

    fn s(code: &str) -> String {
        eval(&lua(), code).unwrap_or_else(|e| panic!("{code}: {e}"))
    }

    #[test]
    fn tobit_wraps_to_signed_32() {
        // redis-cli -p 7100 EVAL "return {bit.tobit(2^32+5), ...}" 0 (values via tostring)
        assert_eq!(num("return bit.tobit(0xffffffff)"), -1.0);
        assert_eq!(num("return bit.tobit(2^32 + 5)"), 5.0);
        assert_eq!(num("return bit.tobit(-1)"), -1.0);
        assert_eq!(num("return bit.tobit(2^31)"), -2147483648.0);
        assert_eq!(num("return bit.tobit(1.5)"), 2.0); // round half to even
        assert_eq!(num("return bit.tobit(2.5)"), 2.0);
        assert_eq!(num("return bit.tobit(-1.5)"), -2.0);
        assert_eq!(num("return bit.tobit(2^53 + 2^40 + 7)"), 4.0);
        assert_eq!(num("return bit.tobit('12')"), 12.0);
        assert_eq!(num("return bit.tobit(0/0)"), 0.0);
        assert_eq!(num("return bit.tobit(1/0)"), 0.0);
    }

    #[test]
    fn logic_ops() {
        assert_eq!(num("return bit.bnot(0)"), -1.0);
        assert_eq!(num("return bit.bnot(-5)"), 4.0);
        assert_eq!(num("return bit.band(0xff, 0x0f0, -1)"), 240.0);
        assert_eq!(num("return bit.bor(1, 2, 4, 2^31)"), -2147483641.0);
        assert_eq!(num("return bit.bxor(-1, 0x0f)"), -16.0);
        assert_eq!(num("return bit.band(7)"), 7.0);
        assert_eq!(num("return bit.bswap(0x12345678)"), 2018915346.0);
        assert_eq!(num("return bit.bswap(-2)"), -16777217.0);
    }

    #[test]
    fn shifts_and_rotates() {
        assert_eq!(num("return bit.lshift(1, 31)"), -2147483648.0);
        assert_eq!(num("return bit.lshift(1, 33)"), 2.0);
        assert_eq!(num("return bit.rshift(-1, 28)"), 15.0);
        assert_eq!(num("return bit.arshift(-256, 4)"), -16.0);
        assert_eq!(num("return bit.arshift(256, 36)"), 16.0);
        assert_eq!(num("return bit.rol(0x80000001, 1)"), 3.0);
        assert_eq!(num("return bit.ror(3, 1)"), -2147483647.0);
        assert_eq!(num("return bit.rol(5, 0)"), 5.0);
        assert_eq!(num("return bit.lshift(3, -1)"), -2147483648.0);
    }

    #[test]
    fn tohex_widths_and_case() {
        assert_eq!(s("return bit.tohex(255)"), "000000ff");
        assert_eq!(s("return bit.tohex(-1)"), "ffffffff");
        assert_eq!(s("return bit.tohex(255, 2)"), "ff");
        assert_eq!(s("return bit.tohex(255, -4)"), "00FF");
        assert_eq!(s("return bit.tohex(0x12345678, 12)"), "12345678");
        assert_eq!(s("return bit.tohex(0x12345678, 0)"), "");
        assert_eq!(s("return bit.tohex(2^32 + 0xabc, -3)"), "ABC");
    }

    #[test]
    fn bad_arguments() {
        // redis-cli -p 7100 EVAL "return bit.tobit('x')" 0
        let lua = lua();
        assert_eq!(
            err(&lua, "return bit.tobit('x')"),
            "user_script:1: bad argument #1 to 'tobit' (number expected, got string)"
        );
        assert_eq!(
            err(&lua, "return bit.band(1, 2, {})"),
            "user_script:1: bad argument #3 to 'band' (number expected, got table)"
        );
        assert_eq!(
            err(&lua, "return bit.lshift(1)"),
            "user_script:1: bad argument #2 to 'lshift' (number expected, got no value)"
        );
        assert_eq!(
            err(&lua, "return bit.tohex(1, nil)"),
            "user_script:1: bad argument #2 to 'tohex' (number expected, got nil)"
        );
        let (_, e): (bool, String) = eval(&lua, "return pcall(bit.bnot, 'x')").unwrap();
        assert_eq!(e, "bad argument #1 to '?' (number expected, got string)");
    }
}
