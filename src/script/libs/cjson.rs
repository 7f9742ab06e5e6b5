//! `cjson`: Lua CJSON 2.1.0 (lua_cjson.c, strbuf.c, fpconv.c) as Redis ships it — JSON
//! encoding with `%.14g` numbers and sparse-array rules, a tolerant strtod-based decoder, and
//! per-module configuration functions.

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{Function, IntoLuaMulti, LightUserData, Lua, LuaString, MultiValue, Table, Value};

use super::{
    arg_error, c_i32, check_integer, check_string, error, function, nth, type_name, LibResult,
};

/// Lua 5.1's `LUAI_MAXCSTACK`: `lua_checkstack` fails past this many stack slots.
const MAX_STACK: usize = 8000;

/// One module table's settings (`cjson.new()` makes another set).
#[derive(Clone, Copy)]
struct Config {
    sparse_convert: i32,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    /// 0 refuses NaN and Inf, 1 writes them out (`nan`, `inf`), 2 writes `null`.
    encode_invalid_numbers: i32,
    encode_number_precision: i32,
    encode_keep_buffer: i32,
    decode_invalid_numbers: i32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sparse_convert: 0,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            encode_number_precision: 14,
            encode_keep_buffer: 1,
            decode_invalid_numbers: 1,
        }
    }
}

type Shared = Rc<RefCell<Config>>;

pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    // Lua's own `next` walks objects while encoding, so that only the current key of each
    // open table is held: mlua can hold only about 8000 values at once.
    new_module(lua, lua.globals().get("next")?)
}

fn new_module(lua: &Lua, next: Function) -> mlua::Result<Table> {
    let cfg: Shared = Rc::default();
    let t = lua.create_table()?;
    let with_cfg = |f: fn(&Lua, &MultiValue, &Shared) -> LibResult<MultiValue>| {
        let cfg = cfg.clone();
        function(lua, move |lua, args| f(lua, &args, &cfg))
    };
    let (cfg2, next2) = (cfg.clone(), next.clone());
    let encoder = move |lua: &Lua, args: MultiValue| encode(lua, &args, *cfg2.borrow(), &next2);
    t.set("encode", function(lua, encoder)?)?;
    t.set(
        "decode",
        with_cfg(|lua, args, cfg| decode(lua, args, *cfg.borrow()))?,
    )?;
    t.set("encode_sparse_array", with_cfg(cfg_encode_sparse_array)?)?;
    t.set(
        "encode_max_depth",
        with_cfg(|lua, args, cfg| {
            integer_setting(lua, args, cfg, |c| &mut c.encode_max_depth, 1, i32::MAX)
        })?,
    )?;
    t.set(
        "decode_max_depth",
        with_cfg(|lua, args, cfg| {
            integer_setting(lua, args, cfg, |c| &mut c.decode_max_depth, 1, i32::MAX)
        })?,
    )?;
    t.set(
        "encode_number_precision",
        with_cfg(|lua, args, cfg| {
            integer_setting(lua, args, cfg, |c| &mut c.encode_number_precision, 1, 14)
        })?,
    )?;
    t.set(
        "encode_keep_buffer",
        with_cfg(|lua, args, cfg| {
            // Only a memory trade-off in C; kept for its getter and argument checks.
            enum_setting(
                lua,
                args,
                cfg,
                |c| &mut c.encode_keep_buffer,
                &["off", "on"],
            )
        })?,
    )?;
    t.set(
        "encode_invalid_numbers",
        with_cfg(|lua, args, cfg| {
            enum_setting(
                lua,
                args,
                cfg,
                |c| &mut c.encode_invalid_numbers,
                &["off", "on", "null"],
            )
        })?,
    )?;
    t.set(
        "decode_invalid_numbers",
        with_cfg(|lua, args, cfg| {
            enum_setting(
                lua,
                args,
                cfg,
                |c| &mut c.decode_invalid_numbers,
                &["off", "on"],
            )
        })?,
    )?;
    t.set(
        "new",
        function(lua, move |lua, _| {
            Ok(new_module(lua, next.clone())?.into_lua_multi(lua)?)
        })?,
    )?;
    t.set("null", null())?;
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    Ok(t)
}

/// JSON null: a NULL light userdata, as tables cannot hold nil.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

// ===== Configuration =====

/// `json_arg_init`: at most `n` arguments.
fn check_arg_count(args: &MultiValue, n: usize) -> LibResult<()> {
    if args.len() > n {
        return Err(arg_error(n as i32 + 1, "found too many arguments"));
    }
    Ok(())
}

fn is_nil(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Nil))
}

/// `json_integer_option` for argument `arg`: sets the value if given, returns the current one.
fn integer_option(
    lua: &Lua,
    args: &MultiValue,
    arg: i32,
    setting: &mut i32,
    min: i32,
    max: i32,
) -> LibResult<Value> {
    if !is_nil(nth(args, arg)) {
        // C stores luaL_checkinteger's result in an int: truncated to 32 bits.
        let value = check_integer(lua, args, arg)? as i32;
        if !(min..=max).contains(&value) {
            // Sic: always blames argument 1.
            return Err(arg_error(
                1,
                format!("expected integer between {min} and {max}"),
            ));
        }
        *setting = value;
    }
    Ok(Value::Number((*setting).into()))
}

/// `json_enum_option` for argument `arg`: a boolean (true meaning option 1) or an option
/// name; returns a boolean for options 0 and 1, the name otherwise.
fn enum_option(
    lua: &Lua,
    args: &MultiValue,
    arg: i32,
    setting: &mut i32,
    options: &[&str],
) -> LibResult<Value> {
    match nth(args, arg) {
        None | Some(Value::Nil) => {}
        Some(Value::Boolean(b)) => *setting = i32::from(*b),
        Some(_) => {
            let name = check_string(lua, args, arg)?;
            let name = name.as_bytes();
            let i = options
                .iter()
                .position(|o| o.as_bytes() == &name[..])
                .ok_or_else(|| {
                    let msg = [&b"invalid option '"[..], &name, b"'"].concat();
                    arg_error(arg, msg)
                })?;
            *setting = i as i32;
        }
    }
    Ok(match *setting {
        s @ (0 | 1) => Value::Boolean(s == 1),
        s => Value::String(lua.create_string(options[s as usize])?),
    })
}

fn integer_setting(
    lua: &Lua,
    args: &MultiValue,
    cfg: &Shared,
    field: fn(&mut Config) -> &mut i32,
    min: i32,
    max: i32,
) -> LibResult<MultiValue> {
    check_arg_count(args, 1)?;
    let v = integer_option(lua, args, 1, field(&mut cfg.borrow_mut()), min, max)?;
    Ok(v.into_lua_multi(lua)?)
}

fn enum_setting(
    lua: &Lua,
    args: &MultiValue,
    cfg: &Shared,
    field: fn(&mut Config) -> &mut i32,
    options: &[&str],
) -> LibResult<MultiValue> {
    check_arg_count(args, 1)?;
    let v = enum_option(lua, args, 1, field(&mut cfg.borrow_mut()), options)?;
    Ok(v.into_lua_multi(lua)?)
}

/// `encode_sparse_array([convert[, ratio[, safe]]])`; settings before a bad one still apply.
fn cfg_encode_sparse_array(lua: &Lua, args: &MultiValue, cfg: &Shared) -> LibResult<MultiValue> {
    check_arg_count(args, 3)?;
    let mut c = cfg.borrow_mut();
    let convert = enum_option(lua, args, 1, &mut c.sparse_convert, &["off", "on"])?;
    let ratio = integer_option(lua, args, 2, &mut c.sparse_ratio, 0, i32::MAX)?;
    let safe = integer_option(lua, args, 3, &mut c.sparse_safe, 0, i32::MAX)?;
    Ok((convert, ratio, safe).into_lua_multi(lua)?)
}

// ===== Encoding =====

/// C's `%.{prec}g`, which CJSON prints numbers with (`1e+14`, `0.1`, `3`, `-0`, `inf`).
fn format_g(x: f64, prec: usize) -> String {
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x.is_nan() {
        return format!("{sign}nan");
    }
    if x.is_infinite() {
        return format!("{sign}inf");
    }
    if x == 0.0 {
        return format!("{sign}0");
    }
    let prec = prec.max(1);
    // The exponent after rounding to `prec` digits picks the style, as C specifies.
    let sci = format!("{:.*e}", prec - 1, x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= prec as i32 {
        let sign_e = if exp < 0 { '-' } else { '+' };
        format!("{sign}{}e{sign_e}{:02}", trim(mantissa), exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp) as usize;
        format!("{sign}{}", trim(&format!("{:.*}", decimals, x.abs())))
    }
}

fn escape_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

/// A table being written out.
enum Frame {
    Array {
        t: Table,
        len: i32,
        next: i32,
    },
    /// `key` is the last key written (nil before the first).
    Object {
        t: Table,
        key: Value,
    },
}

struct Encoder<'a> {
    cfg: Config,
    next: &'a Function,
    out: Vec<u8>,
}

impl Encoder<'_> {
    fn number(&mut self, n: f64) -> LibResult<()> {
        match self.cfg.encode_invalid_numbers {
            0 if !n.is_finite() => {
                return Err(error("Cannot serialise number: must not be NaN or Inf"));
            }
            // Written by hand: some platforms print NaN as "-nan".
            1 if n.is_nan() => self.out.extend_from_slice(b"nan"),
            2 if !n.is_finite() => self.out.extend_from_slice(b"null"),
            _ => {
                let s = format_g(n, self.cfg.encode_number_precision as usize);
                self.out.extend_from_slice(s.as_bytes());
            }
        }
        Ok(())
    }

    /// `lua_array_length`: the array size if all keys are positive integers and the table
    /// is not too sparse, else 0 (write an object). Sizes go through C's `int`.
    fn array_length(&self, t: &Table) -> LibResult<i32> {
        let (mut max, mut items) = (0i32, 0i32);
        for pair in t.pairs::<Value, Value>() {
            let k = match pair?.0 {
                Value::Integer(i) => i as f64,
                Value::Number(n) => n,
                _ => return Ok(-1),
            };
            if k == 0.0 || k.floor() != k || k < 1.0 {
                return Ok(-1);
            }
            if k > f64::from(max) {
                max = c_i32(k);
            }
            items = items.wrapping_add(1);
        }
        let c = &self.cfg;
        if c.sparse_ratio > 0 && max > items.wrapping_mul(c.sparse_ratio) && max > c.sparse_safe {
            if c.sparse_convert == 0 {
                return Err(error("Cannot serialise table: excessively sparse array"));
            }
            return Ok(-1);
        }
        Ok(max)
    }

    /// Writes `v`, whose C stack height would be `top`; tables are pushed on `stack`.
    fn value(&mut self, v: Value, top: usize, stack: &mut Vec<(Frame, usize)>) -> LibResult<()> {
        match v {
            Value::String(s) => escape_string(&mut self.out, &s.as_bytes()),
            Value::Integer(i) => self.number(i as f64)?,
            Value::Number(n) => self.number(n)?,
            Value::Boolean(b) => self
                .out
                .extend_from_slice(if b { b"true" } else { b"false" }),
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::LightUserData(p) if p.0.is_null() => self.out.extend_from_slice(b"null"),
            Value::Table(t) => {
                let depth = stack.len() + 1;
                // The C code also needs 3 free Lua stack slots per level.
                if depth > self.cfg.encode_max_depth as usize || top + 3 > MAX_STACK {
                    return Err(error(format!(
                        "Cannot serialise, excessive nesting ({depth})"
                    )));
                }
                let len = self.array_length(&t)?;
                if len > 0 {
                    self.out.push(b'[');
                    stack.push((Frame::Array { t, len, next: 1 }, top));
                } else {
                    self.out.push(b'{');
                    stack.push((Frame::Object { t, key: Value::Nil }, top));
                }
            }
            v => {
                let msg = format!(
                    "Cannot serialise {}: type not supported",
                    type_name(Some(&v))
                );
                return Err(error(msg));
            }
        }
        Ok(())
    }

    /// Writes `root` without recursion (nesting can go thousands deep).
    fn run(&mut self, root: Value) -> LibResult<()> {
        let mut stack = Vec::new();
        self.value(root, 1, &mut stack)?;
        while let Some((frame, top)) = stack.last_mut() {
            let top = *top;
            let (v, child_top) = match frame {
                Frame::Array { t, len, next } => {
                    if *next > *len {
                        self.out.push(b']');
                        stack.pop();
                        continue;
                    }
                    if *next > 1 {
                        self.out.push(b',');
                    }
                    let v = t.raw_get::<Value>(*next)?;
                    *next += 1;
                    (v, top + 1)
                }
                Frame::Object { t, key } => {
                    let (k, v): (Value, Value) = self.next.call((t.clone(), key.clone()))?;
                    if k.is_nil() {
                        self.out.push(b'}');
                        stack.pop();
                        continue;
                    }
                    if !key.is_nil() {
                        self.out.push(b',');
                    }
                    *key = k.clone();
                    match k {
                        Value::Integer(_) | Value::Number(_) => {
                            self.out.push(b'"');
                            self.number(super::as_number(&k).unwrap_or_default())?;
                            self.out.extend_from_slice(b"\":");
                        }
                        Value::String(s) => {
                            escape_string(&mut self.out, &s.as_bytes());
                            self.out.push(b':');
                        }
                        k => {
                            let msg = format!(
                                "Cannot serialise {}: table key must be a number or string",
                                type_name(Some(&k))
                            );
                            return Err(error(msg));
                        }
                    }
                    (v, top + 2)
                }
            };
            self.value(v, child_top, &mut stack)?;
        }
        Ok(())
    }
}

fn encode(lua: &Lua, args: &MultiValue, cfg: Config, next: &Function) -> LibResult<MultiValue> {
    if args.len() != 1 {
        return Err(arg_error(1, "expected 1 argument"));
    }
    let mut e = Encoder {
        cfg,
        next,
        out: Vec::new(),
    };
    e.run(args[0].clone())?;
    Ok(lua.create_string(&e.out)?.into_lua_multi(lua)?)
}

// ===== Decoding =====

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Number,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    /// The payload names the problem, e.g. "invalid token".
    Error(&'static str),
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::ObjBegin => "T_OBJ_BEGIN",
            Kind::ObjEnd => "T_OBJ_END",
            Kind::ArrBegin => "T_ARR_BEGIN",
            Kind::ArrEnd => "T_ARR_END",
            Kind::Str => "T_STRING",
            Kind::Number => "T_NUMBER",
            Kind::Boolean => "T_BOOLEAN",
            Kind::Null => "T_NULL",
            Kind::Colon => "T_COLON",
            Kind::Comma => "T_COMMA",
            Kind::End => "T_END",
            Kind::Error(what) => what,
        }
    }
}

struct Token {
    kind: Kind,
    /// Offset of the token (or of the problem, for errors).
    index: usize,
    value: Value,
}

/// A table being filled.
enum Nest {
    Array { t: Table, next: i64 },
    Object { t: Table, key: LuaString },
}

/// The decoder reads the input as the C string it is in C: any byte past the end, and an
/// embedded NUL, reads as NUL, which ends the document.
struct Decoder<'a> {
    lua: &'a Lua,
    cfg: Config,
    data: &'a [u8],
    pos: usize,
    /// The C parser's Lua stack height, for its `lua_checkstack` limit.
    top: usize,
    depth: usize,
    buf: Vec<u8>,
}

impl Decoder<'_> {
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn token(&mut self, kind: Kind, index: usize, value: Value) -> Token {
        Token { kind, index, value }
    }

    fn next_token(&mut self) -> LibResult<Token> {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let start = self.pos;
        let single = match self.at(start) {
            b'{' => Some(Kind::ObjBegin),
            b'}' => Some(Kind::ObjEnd),
            b'[' => Some(Kind::ArrBegin),
            b']' => Some(Kind::ArrEnd),
            b',' => Some(Kind::Comma),
            b':' => Some(Kind::Colon),
            0 => return Ok(self.token(Kind::End, start, Value::Nil)),
            b'"' => return self.string_token(),
            b'-' | b'0'..=b'9' => {
                if self.cfg.decode_invalid_numbers == 0 && self.is_invalid_number() {
                    return Ok(self.token(Kind::Error("invalid number"), start, Value::Nil));
                }
                return Ok(self.number_token());
            }
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+' => None,
            _ => return Ok(self.token(Kind::Error("invalid token"), start, Value::Nil)),
        };
        if let Some(kind) = single {
            self.pos += 1;
            return Ok(self.token(kind, start, Value::Nil));
        }
        let rest = &self.data[start..];
        for (word, kind, value) in [
            (&b"true"[..], Kind::Boolean, Value::Boolean(true)),
            (b"false", Kind::Boolean, Value::Boolean(false)),
            (b"null", Kind::Null, null()),
        ] {
            if rest.starts_with(word) {
                self.pos += word.len();
                return Ok(self.token(kind, start, value));
            }
        }
        if self.cfg.decode_invalid_numbers != 0 && self.is_invalid_number() {
            // Inf, NaN and the like, which strtod reads.
            return Ok(self.number_token());
        }
        Ok(self.token(Kind::Error("invalid token"), start, Value::Nil))
    }

    /// Numbers strict JSON forbids but strtod reads: leading `+`, `0x`, leading zeros, and
    /// inf/nan.
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        match self.at(p) {
            b'+' => return true,
            b'-' => p += 1,
            _ => {}
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return c2 | 0x20 == b'x' || c2.is_ascii_digit();
        }
        if c <= b'9' {
            return false;
        }
        let word = [self.at(p), self.at(p + 1), self.at(p + 2)].map(|c| c.to_ascii_lowercase());
        &word == b"inf" || &word == b"nan"
    }

    fn number_token(&mut self) -> Token {
        let start = self.pos;
        match strtod(&self.data[start..]) {
            Some((n, len)) => {
                self.pos += len;
                self.token(Kind::Number, start, Value::Number(n))
            }
            None => self.token(Kind::Error("invalid number"), start, Value::Nil),
        }
    }

    fn string_token(&mut self) -> LibResult<Token> {
        let start = self.pos;
        self.pos += 1;
        self.buf.clear();
        loop {
            let c = self.at(self.pos);
            match c {
                b'"' => break,
                0 => return Ok(self.error_here("unexpected end of string")),
                b'\\' => {
                    let unescaped = match self.at(self.pos + 1) {
                        c @ (b'"' | b'\\' | b'/') => c,
                        b'b' => b'\x08',
                        b'f' => b'\x0c',
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            if self.unicode_escape().is_none() {
                                return Ok(self.error_here("invalid unicode escape code"));
                            }
                            continue;
                        }
                        _ => return Ok(self.error_here("invalid escape code")),
                    };
                    self.buf.push(unescaped);
                    self.pos += 2;
                }
                c => {
                    self.buf.push(c);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        let s = self.lua.create_string(&self.buf)?;
        Ok(self.token(Kind::Str, start, Value::String(s)))
    }

    fn error_here(&mut self, what: &'static str) -> Token {
        self.token(Kind::Error(what), self.pos, Value::Nil)
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        (at..at + 4).try_fold(0, |acc, i| {
            Some(acc << 4 | (self.at(i) as char).to_digit(16)?)
        })
    }

    /// `\uXXXX` (a surrogate pair takes two) at `pos`, appended as UTF-8.
    fn unicode_escape(&mut self) -> Option<()> {
        let mut cp = self.hex4(self.pos + 2)?;
        let mut len = 6;
        if cp & 0xf800 == 0xd800 {
            // Must be a high surrogate followed by an escaped low one.
            if cp & 0x400 != 0 || self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return None;
            }
            let low = self.hex4(self.pos + 8)?;
            if low & 0xfc00 != 0xdc00 {
                return None;
            }
            cp = (((cp & 0x3ff) << 10) | (low & 0x3ff)) + 0x10000;
            len = 12;
        }
        let ch = char::from_u32(cp)?;
        self.buf
            .extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
        self.pos += len;
        Some(())
    }

    fn parse_error(&self, expected: &str, token: &Token) -> super::Fail {
        let msg = format!(
            "Expected {expected} but found {} at character {}",
            token.kind.name(),
            token.index + 1
        );
        error(msg)
    }

    /// Entering an array (`slots` 2) or object (3): depth and Lua stack limits.
    fn descend(&mut self, slots: usize) -> LibResult<()> {
        self.depth += 1;
        if self.depth > self.cfg.decode_max_depth as usize || self.top + slots > MAX_STACK {
            let msg = format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth, self.pos
            );
            return Err(error(msg));
        }
        Ok(())
    }

    /// Reads `"key":` (starting with `token`) and returns the key and the value's token.
    fn object_key(&mut self, token: Token) -> LibResult<(LuaString, Token)> {
        let Value::String(key) = token.value else {
            return Err(self.parse_error("object key string", &token));
        };
        self.top += 1;
        let colon = self.next_token()?;
        if colon.kind != Kind::Colon {
            return Err(self.parse_error("colon", &colon));
        }
        Ok((key, self.next_token()?))
    }

    /// Parses one value starting with `token`, without recursion (nesting can go thousands
    /// deep).
    fn value(&mut self, mut token: Token) -> LibResult<Value> {
        let mut stack: Vec<Nest> = Vec::new();
        loop {
            let mut value = match token.kind {
                Kind::Str | Kind::Number | Kind::Boolean | Kind::Null => {
                    self.top += 1;
                    token.value
                }
                Kind::ObjBegin => {
                    self.descend(3)?;
                    let t = self.lua.create_table()?;
                    self.top += 1;
                    let first = self.next_token()?;
                    if first.kind == Kind::ObjEnd {
                        self.depth -= 1;
                        Value::Table(t)
                    } else {
                        let (key, next) = self.object_key(first)?;
                        stack.push(Nest::Object { t, key });
                        token = next;
                        continue;
                    }
                }
                Kind::ArrBegin => {
                    self.descend(2)?;
                    let t = self.lua.create_table()?;
                    self.top += 1;
                    let first = self.next_token()?;
                    if first.kind == Kind::ArrEnd {
                        self.depth -= 1;
                        Value::Table(t)
                    } else {
                        stack.push(Nest::Array { t, next: 1 });
                        token = first;
                        continue;
                    }
                }
                _ => return Err(self.parse_error("value", &token)),
            };
            // Store the value; each container it completes becomes the next value to store.
            loop {
                let Some(nest) = stack.last_mut() else {
                    return Ok(value);
                };
                let after = self.next_token()?;
                let (t, end, expected) = match nest {
                    Nest::Array { t, next } => {
                        t.raw_set(*next, value)?;
                        *next += 1;
                        self.top -= 1;
                        (t, Kind::ArrEnd, "comma or array end")
                    }
                    Nest::Object { t, key } => {
                        t.raw_set(key.clone(), value)?;
                        self.top -= 2;
                        (t, Kind::ObjEnd, "comma or object end")
                    }
                };
                if after.kind == end {
                    value = Value::Table(t.clone());
                    self.depth -= 1;
                    stack.pop();
                    continue;
                }
                if after.kind != Kind::Comma {
                    return Err(self.parse_error(expected, &after));
                }
                let next = self.next_token()?;
                token = match nest {
                    Nest::Array { .. } => next,
                    Nest::Object { key, .. } => {
                        let (k, next) = self.object_key(next)?;
                        *key = k;
                        next
                    }
                };
                break;
            }
        }
    }
}

/// glibc's `strtod` on a NUL-terminated string: the value and the bytes used, or `None` if
/// nothing converts. Accepts what C does: sign, decimal with optional point and exponent,
/// hex (`0x1p4`), `inf`/`infinity`, `nan`/`nan(chars)`.
fn strtod(s: &[u8]) -> Option<(f64, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let lower3 = |i: usize| [at(i), at(i + 1), at(i + 2)].map(|c| c.to_ascii_lowercase());
    let mut i = 0;
    let negative = match at(0) {
        b'-' => {
            i = 1;
            true
        }
        b'+' => {
            i = 1;
            false
        }
        _ => false,
    };
    let signed = |v: f64| if negative { -v } else { v };
    if &lower3(i) == b"inf" {
        i += 3;
        if (0..5).all(|k| at(i + k).to_ascii_lowercase() == b"inity"[k]) {
            i += 5;
        }
        return Some((signed(f64::INFINITY), i));
    }
    if &lower3(i) == b"nan" {
        i += 3;
        if at(i) == b'(' {
            let close = (i + 1..).find(|&k| !(at(k).is_ascii_alphanumeric() || at(k) == b'_'))?;
            if at(close) == b')' {
                i = close + 1;
            }
        }
        return Some((signed(f64::NAN), i));
    }
    if at(i) == b'0' && at(i + 1) | 0x20 == b'x' {
        return Some(match hex_float(s, i + 2) {
            Some((v, end)) => (signed(v), end),
            None => (signed(0.0), i + 1), // just the "0"
        });
    }
    let int_digits = s[i.min(s.len())..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let mut end = i + int_digits;
    let mut frac_digits = 0;
    if at(end) == b'.' {
        frac_digits = s[end + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        end += 1 + frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if at(end) | 0x20 == b'e' {
        let mut k = end + 1;
        if matches!(at(k), b'+' | b'-') {
            k += 1;
        }
        let exp_digits = s[k.min(s.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if exp_digits > 0 {
            end = k + exp_digits;
        }
    }
    let text = std::str::from_utf8(&s[..end]).ok()?;
    // Rust's parser rejects "1." and ".5" shapes only without digits, which C also rejects.
    let v: f64 = text.parse().ok()?;
    Some((v, end))
}

/// The part of a hex float after `0x`, from `start`: value and end, or `None` without digits.
fn hex_float(s: &[u8], start: usize) -> Option<(f64, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let digit = |i: usize| (at(i) as char).to_digit(16);
    let (mut mantissa, mut exp, mut seen, mut i) = (0f64, 0i32, false, start);
    while let Some(d) = digit(i) {
        mantissa = mantissa * 16.0 + f64::from(d);
        seen = true;
        i += 1;
    }
    if at(i) == b'.' {
        let mut k = i + 1;
        while let Some(d) = digit(k) {
            mantissa = mantissa * 16.0 + f64::from(d);
            exp -= 4;
            seen = true;
            k += 1;
        }
        if seen {
            i = k;
        }
    }
    if !seen {
        return None;
    }
    if at(i) | 0x20 == b'p' {
        let mut k = i + 1;
        let neg = at(k) == b'-';
        if matches!(at(k), b'+' | b'-') {
            k += 1;
        }
        let mut e: i32 = 0;
        let first = k;
        while at(k).is_ascii_digit() {
            e = e.saturating_mul(10).saturating_add(i32::from(at(k) - b'0'));
            k += 1;
        }
        if k > first {
            exp = exp.saturating_add(if neg { -e } else { e });
            i = k;
        }
    }
    Some((mantissa * 2f64.powi(exp), i))
}

fn decode(lua: &Lua, args: &MultiValue, cfg: Config) -> LibResult<MultiValue> {
    if args.len() != 1 {
        return Err(arg_error(1, "expected 1 argument"));
    }
    let s = check_string(lua, args, 1)?;
    let data = s.as_bytes();
    // JSON text starts with an ASCII character, so a NUL in the first two bytes means a
    // UTF-16 or UTF-32 document.
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Err(error("JSON parser does not support UTF-16 or UTF-32"));
    }
    let mut d = Decoder {
        lua,
        cfg,
        data: &data,
        pos: 0,
        top: 1,
        depth: 0,
        buf: Vec::new(),
    };
    let first = d.next_token()?;
    let value = d.value(first)?;
    let end = d.next_token()?;
    if end.kind != Kind::End {
        return Err(d.parse_error("the end", &end));
    }
    Ok(value.into_lua_multi(lua)?)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{bytes, err, eval, hex, lua};
    use super::format_g;

    fn encoded(lua: &mlua::Lua, code: &str) -> String {
        String::from_utf8(bytes(lua, code)).unwrap()
    }

    fn enc(arg: &str) -> String {
        encoded(&lua(), &format!("return cjson.encode({arg})"))
    }

    /// `tostring` of what `code` returns.
    fn shown(lua: &mlua::Lua, code: &str) -> String {
        let wrapped = format!("return tostring((function() {code} end)())");
        eval(lua, &wrapped).unwrap_or_else(|e| panic!("{code}: {e}"))
    }

    #[test]
    fn percent_g() {
        // Compared with printf("%.14g") / ("%.1g") from glibc.
        let cases: [(f64, usize, &str); 14] = [
            (1e14, 14, "1e+14"),
            (0.1, 14, "0.1"),
            (3.0, 14, "3"),
            (-0.0, 14, "-0"),
            (1.0 / 3.0, 14, "0.33333333333333"),
            (123456789012345678.0, 14, "1.2345678901235e+17"),
            (1e-5, 14, "1e-05"),
            (0.0001, 14, "0.0001"),
            (1e100, 14, "1e+100"),
            (12345678901234.0, 14, "12345678901234"),
            (0.25, 1, "0.2"),
            (2.5, 1, "2"),
            (123.0, 1, "1e+02"),
            (f64::NEG_INFINITY, 14, "-inf"),
        ];
        for (x, p, want) in cases {
            assert_eq!(format_g(x, p), want, "{x} %.{p}g");
        }
    }

    #[test]
    fn encode_scalars_and_numbers() {
        // redis-cli -p 7100 EVAL "return cjson.encode(1e14)" 0, and so on
        let cases = [
            ("{1,2,3}", "[1,2,3]"),
            ("{}", "{}"),
            ("1e14", "1e+14"),
            ("0.1", "0.1"),
            ("3", "3"),
            ("0/-1", "-0"),
            ("1/3", "0.33333333333333"),
            ("123456789012345678", "1.2345678901235e+17"),
            ("2^53", "9.007199254741e+15"),
            ("1e-5", "1e-05"),
            ("nil", "null"),
            ("true", "true"),
            ("{cjson.null, true, false}", "[null,true,false]"),
            (
                "{0.5, 1e15, 123456789012345, 12345678901234, 1e-4, 1.5e-7, -1.25}",
                "[0.5,1e+15,1.2345678901234e+14,12345678901234,0.0001,1.5e-07,-1.25]",
            ),
        ];
        for (arg, want) in cases {
            assert_eq!(enc(arg), want, "{arg}");
        }
    }

    #[test]
    fn encode_strings() {
        assert_eq!(
            hex(&bytes(
                &lua(),
                r#"return cjson.encode("a/b\"c\\d\1\31\127\128\255\n\r\t\b\f\0")"#
            )),
            hex(b"\"a\\/b\\\"c\\\\d\\u0001\\u001f\\u007f\x80\xff\\n\\r\\t\\b\\f\\u0000\"")
        );
    }

    #[test]
    fn encode_tables() {
        let cases = [
            ("{[1]=1,[2]=2,[4]=4}", "[1,2,null,4]"),
            ("{[2]=1}", "[null,1]"),
            ("{a=1}", "{\"a\":1}"),
            ("{[1.5]=1}", "{\"1.5\":1}"),
            ("{[0]=1}", "{\"0\":1}"),
            ("{[-1]=1}", "{\"-1\":1}"),
            ("{[1e10]=1}", "{\"10000000000\":1}"),
            ("{[2^31]=1}", "{\"2147483648\":1}"),
            ("{[1]=cjson.null}", "[null]"),
            ("setmetatable({}, {})", "{}"),
            ("{a={b={1,{}}}}", "{\"a\":{\"b\":[1,{}]}}"),
        ];
        for (arg, want) in cases {
            assert_eq!(enc(arg), want, "{arg}");
        }
    }

    #[test]
    fn encode_errors() {
        let lua = lua();
        let cases = [
            (
                "cjson.encode(1/0)",
                "user_script:1: Cannot serialise number: must not be NaN or Inf",
            ),
            (
                "cjson.encode(0/0)",
                "user_script:1: Cannot serialise number: must not be NaN or Inf",
            ),
            (
                "cjson.encode({[1]=1,[12]=2})",
                "user_script:1: Cannot serialise table: excessively sparse array",
            ),
            (
                "cjson.encode({[2^31-1]=1})",
                "user_script:1: Cannot serialise table: excessively sparse array",
            ),
            (
                "cjson.encode({[true]=1})",
                "user_script:1: Cannot serialise boolean: table key must be a number or string",
            ),
            (
                "cjson.encode({f=print})",
                "user_script:1: Cannot serialise function: type not supported",
            ),
            (
                "cjson.encode(coroutine.create(function() end))",
                "user_script:1: Cannot serialise thread: type not supported",
            ),
            (
                "cjson.encode()",
                "user_script:1: bad argument #1 to 'encode' (expected 1 argument)",
            ),
            (
                "cjson.encode(nil, nil)",
                "user_script:1: bad argument #1 to 'encode' (expected 1 argument)",
            ),
            (
                "(function() local t = {} t[1] = t return cjson.encode(t) end)()",
                "user_script:1: Cannot serialise, excessive nesting (1001)",
            ),
            (
                "(function() local t = {} t.a = t return cjson.encode(t) end)()",
                "user_script:1: Cannot serialise, excessive nesting (1001)",
            ),
        ];
        for (code, want) in cases {
            assert_eq!(err(&lua, &format!("return {code}")), want, "{code}");
        }
        // Called through pcall there is no calling line, and no function name.
        let (_, e): (bool, String) = eval(&lua, "return pcall(cjson.encode)").unwrap();
        assert_eq!(e, "bad argument #1 to '?' (expected 1 argument)");
    }

    #[test]
    fn encode_deep_and_wide() {
        // Redis stops at its Lua stack (7998 levels of arrays, 4000 of objects); here mlua's
        // own limit on live values comes first, so only shallower nesting is checked.
        let lua = lua();
        let code = "cjson.encode_max_depth(100000) local t = {} local u = t \
                    for i = 1, 3000 do u[1] = {} u = u[1] end return #cjson.encode(t)";
        assert_eq!(eval::<usize>(&lua, code).unwrap(), 6002);
        let code = "local t = {} for i = 1, 20000 do t['k' .. i] = 'v' .. i end \
                    return #cjson.encode(t)";
        assert_eq!(eval::<usize>(&lua, code).unwrap(), 337789);
    }

    #[test]
    fn encode_settings() {
        let lua = lua();
        let e = |code: &str| encoded(&lua, code);
        assert_eq!(
            e("cjson.encode_max_depth(2) return cjson.encode({{1}})"),
            "[[1]]"
        );
        assert_eq!(
            err(&lua, "return cjson.encode({{{1}}})"),
            "user_script:1: Cannot serialise, excessive nesting (3)"
        );
        assert_eq!(
            e("cjson.encode_invalid_numbers(true) return cjson.encode({1/0, -1/0, 0/0, -(0/0)})"),
            "[inf,-inf,nan,nan]"
        );
        assert_eq!(
            e("cjson.encode_invalid_numbers('null') return cjson.encode({1/0, -1/0, 0/0})"),
            "[null,null,null]"
        );
        assert_eq!(
            e("cjson.encode_number_precision(3) return cjson.encode({1/3, 12345, 0.00012345})"),
            "[0.333,1.23e+04,0.000123]"
        );
        assert_eq!(
            e("cjson.encode_number_precision(1) return cjson.encode({0.25, 0.35, 2.5, 0.15, 1e-5, 123})"),
            "[0.2,0.3,2,0.1,1e-05,1e+02]"
        );
        e("cjson.encode_number_precision(14) return ''");
        assert_eq!(
            e("cjson.encode_sparse_array(true) return cjson.encode({[1]=1,[12]=2})"),
            "{\"1\":1,\"12\":2}"
        );
        assert_eq!(
            e("cjson.encode_sparse_array(false, 0) return cjson.encode({[1]=1,[12]=2})"),
            "[1,null,null,null,null,null,null,null,null,null,null,2]"
        );
        // cjson.new() has its own settings.
        assert_eq!(
            e("local c = cjson.new() c.encode_number_precision(2) \
               return c.encode(1/3) .. cjson.encode(1/3) .. c._NAME .. c._VERSION"),
            "0.330.33333333333333cjson2.1.0"
        );
    }

    #[test]
    fn config_getters_and_errors() {
        let lua = lua();
        let all = |code: &str| -> String {
            let wrapped = format!(
                "local r = {{{code}}} for i = 1, 3 do r[i] = tostring(r[i]) end \
                 return table.concat(r, '|')"
            );
            eval(&lua, &wrapped).unwrap()
        };
        // redis-cli -p 7100 EVAL "return {tostring(cjson.encode_invalid_numbers()), ...}" 0
        assert_eq!(all("cjson.encode_sparse_array()"), "false|2|10");
        assert_eq!(
            all("cjson.encode_invalid_numbers(), cjson.decode_invalid_numbers(), cjson.encode_keep_buffer()"),
            "false|true|true"
        );
        assert_eq!(
            all("cjson.encode_max_depth(), cjson.decode_max_depth(), cjson.encode_number_precision()"),
            "1000|1000|14"
        );
        assert_eq!(all("cjson.encode_sparse_array('on')"), "true|2|10");
        assert_eq!(all("cjson.encode_sparse_array(nil, nil, 3)"), "true|2|3");
        assert_eq!(all("cjson.encode_invalid_numbers('null')"), "null|nil|nil");
        assert_eq!(all("cjson.encode_number_precision(3.7)"), "3|nil|nil");
        assert_eq!(all("cjson.encode_keep_buffer('off')"), "false|nil|nil");
        assert_eq!(all("cjson.encode_max_depth(2^32 + 5)"), "5|nil|nil");
        assert_eq!(
            shown(&lua, "return tostring(cjson.null) .. type(cjson.null)"),
            "userdata: (nil)userdata"
        );
        let cases = [
            ("cjson.encode_max_depth(0)", "bad argument #1 to 'encode_max_depth' (expected integer between 1 and 2147483647)"),
            ("cjson.encode_max_depth('x')", "bad argument #1 to 'encode_max_depth' (number expected, got string)"),
            ("cjson.encode_max_depth(1, 2)", "bad argument #2 to 'encode_max_depth' (found too many arguments)"),
            ("cjson.encode_sparse_array(true, -1)", "bad argument #1 to 'encode_sparse_array' (expected integer between 0 and 2147483647)"),
            ("cjson.encode_sparse_array('x')", "bad argument #1 to 'encode_sparse_array' (invalid option 'x')"),
            ("cjson.encode_sparse_array(1)", "bad argument #1 to 'encode_sparse_array' (invalid option '1')"),
            ("cjson.encode_invalid_numbers('bogus')", "bad argument #1 to 'encode_invalid_numbers' (invalid option 'bogus')"),
            ("cjson.encode_number_precision(15)", "bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)"),
            ("cjson.encode_keep_buffer(1)", "bad argument #1 to 'encode_keep_buffer' (invalid option '1')"),
            ("cjson.decode_max_depth({})", "bad argument #1 to 'decode_max_depth' (number expected, got table)"),
        ];
        for (code, want) in cases {
            assert_eq!(
                err(&lua, &format!("return {code}")),
                format!("user_script:1: {want}"),
                "{code}"
            );
        }
    }

    #[test]
    fn decode_values() {
        let lua = lua();
        let cases = [
            ("return cjson.decode('0x10')", "16"),
            ("return cjson.decode('+5')", "5"),
            ("return cjson.decode('inf')", "inf"),
            ("return cjson.decode('-Infinity')", "-inf"),
            ("return cjson.decode('-Inf')", "-inf"),
            ("return cjson.decode('nan')", "nan"),
            ("return cjson.decode('-nan')", "-nan"),
            ("return cjson.decode('nan(123)')", "nan"),
            ("return cjson.decode('007')", "7"),
            ("return cjson.decode('1.5e3')", "1500"),
            ("return cjson.decode(' 1. ')", "1"),
            ("return cjson.decode('1.e5')", "100000"),
            ("return cjson.decode('-.5')", "-0.5"),
            ("return cjson.decode('0x1p4')", "16"),
            ("return cjson.decode('1e400')", "inf"),
            ("return cjson.decode('-0')", "-0"),
            ("return cjson.decode(12)", "12"),
            ("return cjson.decode('null')", "userdata: (nil)"),
            ("return cjson.decode('null') == cjson.null", "true"),
            ("return cjson.decode('[null]')[1]", "userdata: (nil)"),
            ("return #cjson.decode('[1]\\0junk')", "1"),
            ("return cjson.decode('{\"a\":1,\"a\":2}').a", "2"),
            ("return cjson.decode(' [ true , false ] ')[2]", "false"),
        ];
        for (code, want) in cases {
            assert_eq!(shown(&lua, code), want, "{code}");
        }
        let round = "return cjson.encode(cjson.decode('{\"a\":[1,2,{\"b\":null}],\"c\":\"x\"}'))";
        assert_eq!(
            encoded(&lua, round),
            "{\"a\":[1,2,{\"b\":null}],\"c\":\"x\"}"
        );
    }

    #[test]
    fn decode_escapes() {
        // redis-cli -p 7100 EVAL "return cjson.decode('\"\\ud83d\\ude00...\"')" 0, hex-dumped
        let lua = lua();
        assert_eq!(
            hex(&bytes(
                &lua,
                r#"return cjson.decode('"\\ud83d\\ude00\\u00e9\\u0041\\u0000/\\/\\b\\f\\n\\r\\t"')"#
            )),
            "f09f9880c3a941002f2f080c0a0d09"
        );
        assert_eq!(
            hex(&bytes(
                &lua,
                r#"return cjson.decode('"\\u0800\\uffff\\u07ff\\u0080\\u00"')"#
                    .replace("\\\\u00\"", "\"")
                    .as_str()
            )),
            "e0a080efbfbfdfbfc280"
        );
    }

    #[test]
    fn decode_errors() {
        let lua = lua();
        let cases = [
            (
                r#"'x'"#,
                "Expected value but found invalid token at character 1",
            ),
            (r#"''"#, "Expected value but found T_END at character 1"),
            (r#"' '"#, "Expected value but found T_END at character 2"),
            (
                r#"'[1,2'"#,
                "Expected comma or array end but found T_END at character 5",
            ),
            (
                r#"'[1 2]'"#,
                "Expected comma or array end but found T_NUMBER at character 4",
            ),
            (
                r#"'{1:2}'"#,
                "Expected object key string but found T_NUMBER at character 2",
            ),
            (
                r#"'{"a" 2}'"#,
                "Expected colon but found T_NUMBER at character 6",
            ),
            (
                r#"'{"a":2,}'"#,
                "Expected object key string but found T_OBJ_END at character 8",
            ),
            (
                r#"'[1,]'"#,
                "Expected value but found T_ARR_END at character 4",
            ),
            (
                r#"'"abc'"#,
                "Expected value but found unexpected end of string at character 5",
            ),
            (
                r#"'"a\0b"'"#,
                "Expected value but found unexpected end of string at character 3",
            ),
            (
                r#"'"a\\qb"'"#,
                "Expected value but found invalid escape code at character 3",
            ),
            (
                r#"'"\\'"#,
                "Expected value but found invalid escape code at character 2",
            ),
            (
                r#"'"a\\u12"'"#,
                "Expected value but found invalid unicode escape code at character 3",
            ),
            (
                r#"'"\\ud800"'"#,
                "Expected value but found invalid unicode escape code at character 2",
            ),
            (
                r#"'"\\udc00"'"#,
                "Expected value but found invalid unicode escape code at character 2",
            ),
            (
                r#"'"\\ud800\\u0041"'"#,
                "Expected value but found invalid unicode escape code at character 2",
            ),
            (
                r#"'1e'"#,
                "Expected the end but found invalid token at character 2",
            ),
            (
                r#"'1e+'"#,
                "Expected the end but found invalid token at character 2",
            ),
            (
                r#"'1.5.5'"#,
                "Expected the end but found invalid token at character 4",
            ),
            (
                r#"'-'"#,
                "Expected value but found invalid number at character 1",
            ),
            (
                r#"'-x'"#,
                "Expected value but found invalid number at character 1",
            ),
            (
                r#"'.5'"#,
                "Expected value but found invalid token at character 1",
            ),
            (
                r#"'0x'"#,
                "Expected the end but found invalid token at character 2",
            ),
            (
                r#"'0xg'"#,
                "Expected the end but found invalid token at character 2",
            ),
            (
                r#"'Nanx'"#,
                "Expected the end but found invalid token at character 4",
            ),
            (
                r#"'infinit'"#,
                "Expected the end but found invalid token at character 4",
            ),
            (
                r#"'nan(abc)x'"#,
                "Expected the end but found invalid token at character 9",
            ),
            (
                r#"'truex'"#,
                "Expected the end but found invalid token at character 5",
            ),
            (
                r#"'tru'"#,
                "Expected value but found invalid token at character 1",
            ),
            (
                r#"'[1,2]]'"#,
                "Expected the end but found T_ARR_END at character 6",
            ),
            (
                r#"'{"a":1}  ,'"#,
                "Expected the end but found T_COMMA at character 10",
            ),
            (
                r#"'["a":1]'"#,
                "Expected comma or array end but found T_COLON at character 5",
            ),
            (
                r#"'{"a":1 "b":2}'"#,
                "Expected comma or object end but found T_STRING at character 8",
            ),
            (
                r#"'{"a"}'"#,
                "Expected colon but found T_OBJ_END at character 5",
            ),
            (r#"'['"#, "Expected value but found T_END at character 2"),
            (
                r#"'{'"#,
                "Expected object key string but found T_END at character 2",
            ),
            (
                r#"'{"a":'"#,
                "Expected value but found T_END at character 6",
            ),
            (
                r#"']'"#,
                "Expected value but found T_ARR_END at character 1",
            ),
            (r#"'a\0'"#, "JSON parser does not support UTF-16 or UTF-32"),
            (r#"'\0a'"#, "JSON parser does not support UTF-16 or UTF-32"),
            (
                r#"string.rep('[', 1001) .. string.rep(']', 1001)"#,
                "Found too many nested data structures (1001) at character 1001",
            ),
            (
                r#"nil"#,
                "bad argument #1 to 'decode' (string expected, got nil)",
            ),
            (r#""#, "bad argument #1 to 'decode' (expected 1 argument)"),
            (
                r#"'1', 2"#,
                "bad argument #1 to 'decode' (expected 1 argument)",
            ),
        ];
        for (arg, want) in cases {
            let code = format!("return cjson.decode({arg})");
            assert_eq!(err(&lua, &code), format!("user_script:1: {want}"), "{arg}");
        }
    }

    #[test]
    fn decode_settings_and_deep_nesting() {
        let lua = lua();
        assert_eq!(
            err(
                &lua,
                "cjson.decode_max_depth(2) return cjson.decode('[[[1]]]')"
            ),
            "user_script:1: Found too many nested data structures (3) at character 3"
        );
        assert_eq!(
            err(&lua, "return cjson.decode(' [ {\"a\": [1]}]')"),
            "user_script:1: Found too many nested data structures (3) at character 10"
        );
        // Redis also stops at its Lua stack (7999 levels of arrays, 4000 of objects); mlua's
        // limit on live values comes first, so only shallower nesting is checked.
        let code = "cjson.decode_max_depth(100000) \
                    return #cjson.decode(string.rep('[', 6000) .. string.rep(']', 6000))";
        assert_eq!(eval::<usize>(&lua, code).unwrap(), 1);
        let code = "return cjson.decode(string.rep('{\"a\":', 3500) .. '1' .. \
                    string.rep('}', 3500)).a ~= nil";
        assert!(eval::<bool>(&lua, code).unwrap());
        let strict = "cjson.decode_invalid_numbers(false) return cjson.decode";
        let cases = [
            (
                "'0x10'",
                "Expected value but found invalid number at character 1",
            ),
            (
                "'inf'",
                "Expected value but found invalid token at character 1",
            ),
            (
                "'+1'",
                "Expected value but found invalid token at character 1",
            ),
            (
                "'01'",
                "Expected value but found invalid number at character 1",
            ),
            (
                "'nan'",
                "Expected value but found invalid token at character 1",
            ),
        ];
        for (arg, want) in cases {
            assert_eq!(
                err(&lua, &format!("{strict}({arg})")),
                format!("user_script:1: {want}"),
                "{arg}"
            );
        }
        assert_eq!(shown(&lua, &format!("{strict}('-0')")), "-0");
    }
}
