//! `cmsgpack`: lua-cmsgpack 0.4.0 (lua_cmsgpack.c) — MessagePack for Lua values, always in
//! the smallest encoding, with the 2013 spec's types (no bin or ext).

use mlua::{IntoLuaMulti, Lua, MultiValue, Table, Value};

use super::{arg_error, c_i32, c_i64, check_integer, check_string, error, function, LibResult};

/// Tables nested deeper than this pack as nil (it also stops reference cycles).
const MAX_NESTING: usize = 16;
/// Lua 5.1's `LUAI_MAXCSTACK`: `luaL_checkstack` fails past this many stack slots.
const MAX_STACK: usize = 8000;

pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", function(lua, pack)?)?;
    t.set(
        "unpack",
        function(lua, |lua, args| {
            // Extra arguments stay on the C stack and count against its limit.
            unpack(lua, &args, 0, 0, args.len())
        })?,
    )?;
    t.set(
        "unpack_one",
        function(lua, |lua, args| {
            let offset = super::opt_integer(lua, &args, 2, 0)?;
            unpack(lua, &args, 1, offset, 1)
        })?,
    )?;
    t.set(
        "unpack_limit",
        function(lua, |lua, args| {
            let limit = check_integer(lua, &args, 2)?;
            let offset = super::opt_integer(lua, &args, 3, 0)?;
            unpack(lua, &args, limit, offset, 1)
        })?,
    )?;
    t.set("_NAME", "cmsgpack")?;
    t.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

fn pack(lua: &Lua, args: MultiValue) -> LibResult<MultiValue> {
    if args.is_empty() {
        return Err(arg_error(0, "MessagePack pack needs input."));
    }
    let mut buf = Vec::new();
    for v in &args {
        encode(&mut buf, v, 0)?;
    }
    Ok(lua.create_string(&buf)?.into_lua_multi(lua)?)
}

fn encode(buf: &mut Vec<u8>, v: &Value, level: usize) -> LibResult<()> {
    match v {
        Value::String(s) => encode_bytes(buf, &s.as_bytes()),
        Value::Boolean(b) => buf.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_int(buf, *i),
        Value::Number(n) => encode_number(buf, *n),
        Value::Table(t) if level < MAX_NESTING => encode_table(buf, t, level)?,
        // Functions, userdata (cjson.null too), threads and too deep tables.
        _ => buf.push(0xc0),
    }
    Ok(())
}

fn encode_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        buf.push(0xa0 | len as u8);
    } else if len <= 0xff {
        buf.extend([0xd9, len as u8]);
    } else if len <= 0xffff {
        buf.push(0xda);
        buf.extend((len as u16).to_be_bytes());
    } else {
        buf.push(0xdb);
        buf.extend((len as u32).to_be_bytes());
    }
    buf.extend_from_slice(s);
}

/// Numbers that survive a round trip through `int64_t` are integers, the rest floats.
fn encode_number(buf: &mut Vec<u8>, n: f64) {
    if c_i64(n) as f64 == n {
        encode_int(buf, c_i64(n));
    } else if f64::from(n as f32) == n {
        buf.push(0xca);
        buf.extend((n as f32).to_be_bytes());
    } else {
        buf.push(0xcb);
        buf.extend(n.to_be_bytes());
    }
}

fn encode_int(buf: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        match n {
            0..=0x7f => buf.push(n as u8),
            0x80..=0xff => buf.extend([0xcc, n as u8]),
            0x100..=0xffff => {
                buf.push(0xcd);
                buf.extend((n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                buf.push(0xce);
                buf.extend((n as u32).to_be_bytes());
            }
            _ => {
                buf.push(0xcf);
                buf.extend(n.to_be_bytes());
            }
        }
    } else if n >= -32 {
        buf.push(n as u8);
    } else if n >= -128 {
        buf.extend([0xd0, n as u8]);
    } else if n >= -32768 {
        buf.push(0xd1);
        buf.extend((n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        buf.push(0xd2);
        buf.extend((n as i32).to_be_bytes());
    } else {
        buf.push(0xd3);
        buf.extend(n.to_be_bytes());
    }
}

/// Containers take the fix form up to 15 entries, then 16 or 32 bits of count.
fn encode_header(buf: &mut Vec<u8>, n: usize, fix: u8, wide: u8) {
    if n <= 15 {
        buf.push(fix | n as u8);
    } else if n <= 0xffff {
        buf.push(wide);
        buf.extend((n as u16).to_be_bytes());
    } else {
        buf.push(wide + 1);
        buf.extend((n as u32).to_be_bytes());
    }
}

fn encode_table(buf: &mut Vec<u8>, t: &Table, level: usize) -> LibResult<()> {
    if is_array(t)? {
        let len = t.raw_len();
        encode_header(buf, len, 0x90, 0xdc);
        for i in 1..=len {
            // lua_gettable in C: metamethods apply.
            encode(buf, &t.get::<Value>(i)?, level + 1)?;
        }
    } else {
        let mut len = 0;
        t.for_each(|_: Value, _: Value| {
            len += 1;
            Ok(())
        })?;
        encode_header(buf, len, 0x80, 0xde);
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            encode(buf, &k, level + 1)?;
            encode(buf, &v, level + 1)?;
        }
    }
    Ok(())
}

/// Only positive `int` keys, as many as the largest: the keys are exactly 1..n.
fn is_array(t: &Table) -> LibResult<bool> {
    let (mut count, mut max) = (0i64, 0i32);
    for pair in t.pairs::<Value, Value>() {
        let n = match pair?.0 {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Ok(false),
        };
        if n <= 0.0 || f64::from(c_i32(n)) != n {
            return Ok(false);
        }
        max = max.max(n as i32);
        count += 1;
    }
    Ok(i64::from(max) == count)
}

/// A decoding failure; all end the call with `luaL_error`.
enum DecodeError {
    Eof,
    BadFormat,
    /// `luaL_checkstack` ran out of Lua's stack; the text names where.
    Stack(&'static str),
    Lua(super::Fail),
}

impl From<mlua::Error> for DecodeError {
    fn from(e: mlua::Error) -> Self {
        DecodeError::Lua(e.into())
    }
}

impl From<DecodeError> for super::Fail {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::Eof => error("Missing bytes in input."),
            DecodeError::BadFormat => error("Bad data format in input."),
            DecodeError::Stack(what) => error(format!("stack overflow ({what})")),
            DecodeError::Lua(f) => f,
        }
    }
}

const TOO_MANY: &str = "too many return values at once; use unpack_one or unpack_limit instead.";

/// A container being filled.
enum Frame {
    Array {
        t: Table,
        len: usize,
        next: usize,
    },
    Map {
        t: Table,
        left: usize,
        key: Option<Value>,
    },
}

/// Reads values off `data`, building tables iteratively (nesting is only bounded by the
/// stack-slot count below). `top` replays the C stack height, so that the same inputs hit
/// `luaL_checkstack` at the same point as in Redis.
struct Decoder<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    top: usize,
}

/// One item's header: a whole scalar, or the start of a container.
enum Item {
    Scalar(Value),
    Array(usize),
    Map(usize),
}

impl<'a> Decoder<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.data.len() < n {
            return Err(DecodeError::Eof);
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }

    fn take_n<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let b = self.take(N)?;
        b.try_into().map_err(|_| DecodeError::Eof)
    }

    /// A string of the length in the next `N` bytes; the whole item must be there.
    fn string<const N: usize>(&mut self) -> Result<Value, DecodeError> {
        let mut len = [0u8; 8];
        len[8 - N..].copy_from_slice(self.data.get(..N).ok_or(DecodeError::Eof)?);
        let len = u64::from_be_bytes(len) as usize;
        if self.data.len() - N < len {
            return Err(DecodeError::Eof);
        }
        let s = self.take(N + len)?;
        Ok(Value::String(self.lua.create_string(&s[N..])?))
    }

    fn count<const N: usize>(&mut self) -> Result<usize, DecodeError> {
        let mut len = [0u8; 8];
        len[8 - N..].copy_from_slice(&self.take_n::<N>()?);
        Ok(u64::from_be_bytes(len) as usize)
    }

    fn item(&mut self) -> Result<Item, DecodeError> {
        let first = *self.data.first().ok_or(DecodeError::Eof)?;
        if self.top + 1 > MAX_STACK {
            return Err(DecodeError::Stack(TOO_MANY));
        }
        let int = |i: i64| Ok(Item::Scalar(Value::Number(i as f64)));
        match first {
            0xca..=0xd3 => {
                let width = match first {
                    0xcc | 0xd0 => 1,
                    0xcd | 0xd1 => 2,
                    0xce | 0xd2 | 0xca => 4,
                    _ => 8,
                };
                let b = self.take(1 + width)?;
                let mut raw = [0u8; 8];
                raw[8 - width..].copy_from_slice(&b[1..]);
                let u = u64::from_be_bytes(raw);
                match first {
                    // uint64 goes through lua_Integer and wraps negative, as in Redis.
                    0xcc..=0xcf => int(u as i64),
                    0xd0 => int((u as i8).into()),
                    0xd1 => int((u as i16).into()),
                    0xd2 => int((u as i32).into()),
                    0xd3 => int(u as i64),
                    0xca => Ok(Item::Scalar(Value::Number(f32::from_bits(u as u32).into()))),
                    _ => Ok(Item::Scalar(Value::Number(f64::from_bits(u)))),
                }
            }
            0xc0 | 0xc2 | 0xc3 => {
                self.take(1)?;
                Ok(Item::Scalar(match first {
                    0xc0 => Value::Nil,
                    b => Value::Boolean(b == 0xc3),
                }))
            }
            0xd9 | 0xda | 0xdb | 0xa0..=0xbf => {
                self.take(1)?;
                let s = match first {
                    0xd9 => self.string::<1>()?,
                    0xda => self.string::<2>()?,
                    0xdb => self.string::<4>()?,
                    _ => {
                        let len = usize::from(first & 0x1f);
                        if self.data.len() < len {
                            return Err(DecodeError::Eof);
                        }
                        let s = self.take(len)?;
                        Value::String(self.lua.create_string(s)?)
                    }
                };
                Ok(Item::Scalar(s))
            }
            0xdc..=0xdf => {
                self.take(1)?;
                let n = if first & 1 == 0 {
                    self.count::<2>()?
                } else {
                    self.count::<4>()?
                };
                Ok(if first < 0xde {
                    Item::Array(n)
                } else {
                    Item::Map(n)
                })
            }
            0x00..=0x7f => {
                self.take(1)?;
                int(first.into())
            }
            0xe0..=0xff => {
                self.take(1)?;
                int((first as i8).into())
            }
            0x90..=0x9f => {
                self.take(1)?;
                Ok(Item::Array(usize::from(first & 0xf)))
            }
            0x80..=0x8f => {
                self.take(1)?;
                Ok(Item::Map(usize::from(first & 0xf)))
            }
            _ => Err(DecodeError::BadFormat),
        }
    }

    /// Decodes one whole value, leaving it counted in `top`.
    fn value(&mut self) -> Result<Value, DecodeError> {
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            let mut value = match self.item()? {
                Item::Scalar(v) => {
                    self.top += 1;
                    v
                }
                Item::Array(len) => {
                    let t = self.lua.create_table()?;
                    self.top += 1;
                    if self.top + 1 > MAX_STACK {
                        return Err(DecodeError::Stack("in function mp_decode_to_lua_array"));
                    }
                    if len == 0 {
                        Value::Table(t)
                    } else {
                        stack.push(Frame::Array { t, len, next: 1 });
                        self.top += 1; // the index pushed before each element
                        continue;
                    }
                }
                Item::Map(len) => {
                    let t = self.lua.create_table()?;
                    self.top += 1;
                    if len == 0 {
                        Value::Table(t)
                    } else {
                        stack.push(Frame::Map {
                            t,
                            left: len,
                            key: None,
                        });
                        continue;
                    }
                }
            };
            // Store the value in its container; a container filled up is itself a value.
            loop {
                let done = match stack.last_mut() {
                    None => return Ok(value),
                    Some(Frame::Array { t, len, next }) => {
                        t.raw_set(*next, value)?;
                        self.top -= 2;
                        *next += 1;
                        if *next <= *len {
                            self.top += 1;
                            break;
                        }
                        t.clone()
                    }
                    Some(Frame::Map { t, left, key }) => {
                        let Some(k) = key.take() else {
                            *key = Some(value);
                            break;
                        };
                        match k {
                            Value::Nil => return Err(raw("table index is nil")),
                            Value::Number(n) if n.is_nan() => {
                                return Err(raw("table index is NaN"));
                            }
                            k => t.raw_set(k, value)?,
                        }
                        self.top -= 2;
                        *left -= 1;
                        if *left > 0 {
                            break;
                        }
                        t.clone()
                    }
                };
                stack.pop();
                value = Value::Table(done);
            }
        }
    }
}

/// Errors lua_settable raises itself, without position.
fn raw(msg: &str) -> DecodeError {
    DecodeError::Lua(super::Fail::Raw(msg.into()))
}

/// `mp_unpack_full`: decodes up to `limit` values from byte `offset`; with either set, the
/// offset to continue from (-1 at the end) comes first. `top` is the C stack height.
fn unpack(
    lua: &Lua,
    args: &MultiValue,
    limit: i64,
    offset: i64,
    top: usize,
) -> LibResult<MultiValue> {
    let s = check_string(lua, args, 1)?;
    let s = s.as_bytes();
    let len = s.len();
    if offset < 0 || limit < 0 {
        // Sic: the C code prints the input length as the limit.
        let msg = format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset as i32, len as i32
        );
        return Err(error(msg));
    }
    if offset as u64 > len as u64 {
        let msg = format!(
            "Start offset {} greater than input length {}.",
            offset as i32, len as i32
        );
        return Err(error(msg));
    }
    let decode_all = limit == 0 && offset == 0;
    let limit = if decode_all {
        i64::from(i32::MAX)
    } else {
        limit
    };
    let mut d = Decoder {
        lua,
        data: &s[offset as usize..],
        top,
    };
    let mut out = MultiValue::new();
    while !d.data.is_empty() && (out.len() as i64) < limit {
        let v = d.value()?;
        out.push_back(v);
    }
    if !decode_all {
        if d.top + 1 > MAX_STACK {
            return Err(error("stack overflow (in function mp_unpack_full)"));
        }
        let next = if d.data.is_empty() {
            -1
        } else {
            (len - d.data.len()) as i64
        };
        out.push_front(Value::Number(next as f64));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{bytes, err, eval, hex, lua};

    /// Lua helper `b(hex)` building a binary string, and `show(...)` rendering values.
    const PRELUDE: &str = "local function b(h) return (h:gsub('%s', ''):gsub('..', function(x) \
        return string.char(tonumber(x, 16)) end)) end \
        local function show(...) local r = {} for i = 1, select('#', ...) do \
        local v = select(i, ...) r[i] = type(v) == 'table' and cjson.encode(v) or tostring(v) \
        end return table.concat(r, '|') end ";

    fn packed(args: &str) -> String {
        hex(&bytes(
            &lua(),
            &format!("{PRELUDE} return cmsgpack.pack({args})"),
        ))
    }

    fn shown(call: &str) -> String {
        eval(&lua(), &format!("{PRELUDE} return show({call})"))
            .unwrap_or_else(|e| panic!("{call}: {e}"))
    }

    #[test]
    fn pack_integers_in_every_width() {
        // redis-cli -p 7100 EVAL "return cmsgpack.pack(0, 127, 128, ...)" 0, hex-dumped
        assert_eq!(
            packed(
                "0, 127, 128, 255, 256, 65535, 65536, 2^32-1, 2^32, 2^53, -1, -32, -33, \
                 -128, -129, -32768, -32769, -2^31, -2^31-1, -2^53"
            ),
            "007fcc80ccffcd0100cdffffce00010000ceffffffffcf0000000100000000\
             cf0020000000000000ffe0d0dfd080d1ff7fd18000d2ffff7fffd280000000\
             d3ffffffff7fffffffd3ffe0000000000000"
        );
    }

    #[test]
    fn pack_floats() {
        assert_eq!(
            packed("0.5, 0.1, 1/0, -1/0, 0/0, -0.0, 2^63, -2^63, 2^64, 1e300, 3.5e38"),
            "ca3f000000cb3fb999999999999aca7f800000caff800000cbfff8000000000000\
             00ca5f000000d38000000000000000ca5f800000cb7e37e43c8800759ccb47f074f8c4d3cd7b"
        );
    }

    #[test]
    fn pack_strings() {
        let x31 = "78".repeat(31);
        let x32 = "78".repeat(32);
        assert_eq!(
            packed("'', 'a', string.rep('x', 31), string.rep('x', 32)"),
            format!("a0a161bf{x31}d920{x32}")
        );
        let lua = lua();
        let head = |n: usize, k: usize| {
            hex(&bytes(
                &lua,
                &format!("return cmsgpack.pack(string.rep('x', {n})):sub(1, {k})"),
            ))
        };
        assert_eq!(head(255, 3), "d9ff78");
        assert_eq!(head(256, 4), "da010078");
        assert_eq!(head(65535, 4), "daffff78");
        assert_eq!(head(65536, 6), "db0001000078");
        assert_eq!(packed("123.0, '12'"), "7ba23132");
    }

    #[test]
    fn pack_tables_and_others() {
        assert_eq!(
            packed(
                "nil, true, false, {}, {1,2}, {a=1}, {[1]=1,[3]=3}, {[0]=1}, {[1.5]=2}, \
                 cjson.null, {n=nil}"
            ),
            "c0c3c29092010281a16101820101030381000181ca3fc0000002c090"
        );
        assert_eq!(packed("{[2^31]=1}"), "81ce8000000001");
        assert_eq!(packed("{[2^31-1]=1}"), "81ce7fffffff01");
        assert_eq!(packed("{1,2,nil,4}"), "83010102020404");
        assert_eq!(packed("{nil,nil,3}"), "810303");
        assert_eq!(packed("print"), "c0");
        let lua = lua();
        let code = |c: &str| hex(&bytes(&lua, &format!("{PRELUDE} {c}")));
        // Array and map headers at each size (sizes from redis-server).
        assert_eq!(
            code(
                "local t, u = {}, {} for i = 1, 15 do t[i] = i end for i = 1, 16 do u[i] = i end \
                  return cmsgpack.pack(t):sub(1, 2) .. cmsgpack.pack(u):sub(1, 4)"
            ),
            "9f01dc001001"
        );
        assert_eq!(
            code(
                "local t = {} for i = 1, 65536 do t[i] = 0 end local p = cmsgpack.pack(t) \
                  return p:sub(1, 6) .. #p"
            ),
            format!("dd0001000000{}", hex(b"65541"))
        );
        assert_eq!(
            code(
                "local t, u, w = {}, {}, {} for i = 1, 15 do t['k'..i] = i end \
                  for i = 1, 16 do u['k'..i] = i end for i = 1, 65536 do w['k'..i] = i end \
                  return cmsgpack.pack(t):sub(1, 1) .. cmsgpack.pack(u):sub(1, 3) .. \
                  cmsgpack.pack(w):sub(1, 5)"
            ),
            "8fde0010df00010000"
        );
        // Cycles stop at 16 levels.
        assert_eq!(
            code("local t = {} t[1] = t return cmsgpack.pack(t)"),
            format!("{}c0", "91".repeat(16))
        );
        assert_eq!(
            code("local t = {} t.a = t return cmsgpack.pack(t)"),
            format!("{}c0", "81a161".repeat(16))
        );
        // Arrays are read with metamethods, maps raw; __len is ignored (Lua 5.1 tables).
        assert_eq!(
            code("return cmsgpack.pack(setmetatable({}, {__index = function(t, k) return k * 10 end, \
                  __len = function() return 3 end}))"),
            "90"
        );
    }

    #[test]
    fn pack_needs_input() {
        let lua = lua();
        assert_eq!(
            err(&lua, "return cmsgpack.pack()"),
            "user_script:1: bad argument #0 to 'pack' (MessagePack pack needs input.)"
        );
    }

    #[test]
    fn unpack_every_type() {
        // redis-cli -p 7100 EVAL "return {cmsgpack.unpack(...)}" 0
        assert_eq!(
            shown("cmsgpack.unpack(b('d080 d18000 d280000000 ccff cdffff ceffffffff e0 ff 7f'))"),
            "-128|-32768|-2147483648|255|65535|4294967295|-32|-1|127"
        );
        assert_eq!(shown("cmsgpack.unpack(b('cfffffffffffffffff'))"), "-1");
        assert_eq!(
            shown("cmsgpack.unpack(b('cf8000000000000000'))"),
            "-9.2233720368548e+18"
        );
        assert_eq!(
            shown("cmsgpack.unpack(b('cf0020000000000001'))"),
            "9.007199254741e+15"
        );
        assert_eq!(shown("cmsgpack.unpack(b('d3fffffffffffffffe'))"), "-2");
        assert_eq!(
            shown("cmsgpack.unpack(b('ca3dcccccd'))"),
            "0.10000000149012"
        );
        assert_eq!(shown("cmsgpack.unpack(b('cb3fb999999999999a'))"), "0.1");
        assert_eq!(shown("cmsgpack.unpack(b('c0c2c3'))"), "nil|false|true");
        assert_eq!(
            shown("cmsgpack.unpack(b('a161 d90162 da000163 db0000000164'))"),
            "a|b|c|d"
        );
        assert_eq!(shown("cmsgpack.unpack(b('9301c003'))"), "[1,null,3]");
        assert_eq!(shown("cmsgpack.unpack(b('82a16101a162c0'))"), "{\"a\":1}");
        assert_eq!(
            shown("cmsgpack.unpack(b('dc0002 01 02 dd00000001 03 de0001 a161 01 df00000001 a162 02'))"),
            "[1,2]|[3]|{\"a\":1}|{\"b\":2}"
        );
        assert_eq!(shown("select('#', cmsgpack.unpack(''))"), "0");
        assert_eq!(shown("cmsgpack.unpack(123)"), "49|50|51");
        assert_eq!(
            shown("cmsgpack.unpack(cmsgpack.pack(1, 'a', 2.5, {x = {1, {}}}))"),
            "1|a|2.5|{\"x\":[1,{}]}"
        );
    }

    #[test]
    fn unpack_one_and_limit() {
        assert_eq!(shown("cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))"), "1|1");
        assert_eq!(
            shown("cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 1)"),
            "2|2"
        );
        assert_eq!(
            shown("cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)"),
            "-1|3"
        );
        assert_eq!(
            shown("cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 3)"),
            "-1"
        );
        assert_eq!(
            shown("cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), '1')"),
            "2|2"
        );
        assert_eq!(shown("cmsgpack.unpack_one('')"), "-1");
        assert_eq!(shown("cmsgpack.unpack_one(b('01 cd'))"), "1|1");
        assert_eq!(
            shown("cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)"),
            "2|1|2"
        );
        // Limit and offset both 0 means "decode everything", without an offset.
        assert_eq!(
            shown("cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0)"),
            "1|2|3"
        );
        assert_eq!(
            shown("cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0, 1)"),
            "1"
        );
        assert_eq!(
            shown("cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 5, 1)"),
            "-1|2|3"
        );
    }

    #[test]
    fn unpack_errors() {
        let lua = lua();
        let cases = [
            (
                "cmsgpack.unpack(b('c1'))",
                "user_script:1: Bad data format in input.",
            ),
            (
                "cmsgpack.unpack(b('c40161'))",
                "user_script:1: Bad data format in input.",
            ),
            (
                "cmsgpack.unpack(b('d40161'))",
                "user_script:1: Bad data format in input.",
            ),
            (
                "cmsgpack.unpack(b('01 c1'))",
                "user_script:1: Bad data format in input.",
            ),
            (
                "cmsgpack.unpack(b('cd01'))",
                "user_script:1: Missing bytes in input.",
            ),
            (
                "cmsgpack.unpack(b('9201'))",
                "user_script:1: Missing bytes in input.",
            ),
            (
                "cmsgpack.unpack(b('a5616263'))",
                "user_script:1: Missing bytes in input.",
            ),
            (
                "cmsgpack.unpack(b('d905616263'))",
                "user_script:1: Missing bytes in input.",
            ),
            (
                "cmsgpack.unpack(b('db00000005616263'))",
                "user_script:1: Missing bytes in input.",
            ),
            (
                "cmsgpack.unpack(b('dc00'))",
                "user_script:1: Missing bytes in input.",
            ),
            (
                "cmsgpack.unpack_one(b('01 cd'), 1)",
                "user_script:1: Missing bytes in input.",
            ),
            ("cmsgpack.unpack(b('81c001'))", "table index is nil"),
            (
                "cmsgpack.unpack(b('81cb7ff800000000000001'))",
                "table index is NaN",
            ),
            (
                "cmsgpack.unpack()",
                "user_script:1: bad argument #1 to 'unpack' (string expected, got no value)",
            ),
            (
                "cmsgpack.unpack({})",
                "user_script:1: bad argument #1 to 'unpack' (string expected, got table)",
            ),
            (
                "cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 4)",
                "user_script:1: Start offset 4 greater than input length 3.",
            ),
            (
                "cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), -1)",
                "user_script:1: Invalid request to unpack with offset of -1 and limit of 3.",
            ),
            (
                "cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), -1)",
                "user_script:1: Invalid request to unpack with offset of 0 and limit of 3.",
            ),
            (
                "cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3))",
                "user_script:1: bad argument #2 to 'unpack_limit' (number expected, got no value)",
            ),
            (
                "cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 'x')",
                "user_script:1: bad argument #2 to 'unpack_one' (number expected, got string)",
            ),
        ];
        for (code, want) in cases {
            assert_eq!(
                err(&lua, &format!("{PRELUDE} return {code}")),
                want,
                "{code}"
            );
        }
    }

    #[test]
    fn unpack_stack_limits() {
        // Where redis-server's luaL_checkstack gives up (8000 Lua stack slots).
        let lua = lua();
        let too_many = "user_script:1: stack overflow (too many return values at once; \
                        use unpack_one or unpack_limit instead.)";
        let in_array = "user_script:1: stack overflow (in function mp_decode_to_lua_array)";
        let fails = [
            ("string.rep(b('01'), 8000)", too_many),
            ("string.rep(b('91'), 4000) .. b('01')", in_array),
            (
                "b('01 02') .. string.rep(b('91'), 3999) .. b('01')",
                in_array,
            ),
            ("string.rep(b('81 01'), 4000) .. b('01')", too_many),
            ("string.rep(b('01'), 7997) .. b('9101')", too_many),
            ("string.rep(b('01'), 7998) .. b('9101')", in_array),
            ("string.rep(b('01'), 7998) .. b('8101')", too_many),
            ("string.rep(b('01'), 7997) .. b('810101')", too_many),
            ("string.rep(b('01'), 7996) .. b('91 81 01 01')", too_many),
        ];
        for (input, want) in fails {
            let code = format!("{PRELUDE} return cmsgpack.unpack({input})");
            assert_eq!(err(&lua, &code), want, "{input}");
        }
        let counts = [
            ("string.rep(b('01'), 7999)", 7999),
            ("string.rep(b('91'), 3999) .. b('01')", 1),
            ("string.rep(b('81 01'), 3999) .. b('01')", 1),
            ("string.rep(b('01'), 7996) .. b('810101')", 7997),
        ];
        for (input, want) in counts {
            let code = format!("{PRELUDE} return select('#', cmsgpack.unpack({input}))");
            assert_eq!(eval::<usize>(&lua, &code).unwrap(), want, "{input}");
        }
        let code =
            format!("{PRELUDE} return cmsgpack.unpack(string.rep(b('81 01'), 3999) .. b('c1'))");
        assert_eq!(err(&lua, &code), "user_script:1: Bad data format in input.");
    }
}
