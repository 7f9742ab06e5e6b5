//! The C libraries Redis links into its Lua (cjson, cmsgpack, bit, struct), rewritten in Rust
//! over mlua and checked against redis-server's replies.
//!
//! Errors must look exactly like the C ones, which are plain Lua strings: `luaL_error` puts the
//! caller's `chunk:line: ` in front, `luaL_argerror` says `bad argument #n to 'name' (...)`. An
//! mlua callback can only raise a userdata-wrapped `mlua::Error`, and a Lua wrapper function
//! would lose the caller's line on `return f(x)` (a Lua tail call replaces the caller's frame).
//! So each library function is a tiny C closure ([`trampoline`]) that calls the Rust code and,
//! when it reports a [`Fail`], raises it with the real lauxlib functions from the C frame,
//! just where the original C function would have.

use std::ffi::{c_int, c_void};

use mlua::{ffi, Function, IntoLuaMulti, Lua, LuaString, MultiValue, Value};

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod structlib;

/// Installs `cjson`, `cmsgpack`, `bit` and `struct` as globals.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    globals.set("cjson", cjson::module(lua)?)?;
    globals.set("cmsgpack", cmsgpack::module(lua)?)?;
    globals.set("bit", bit::module(lua)?)?;
    globals.set("struct", structlib::module(lua)?)?;
    Ok(())
}

/// How a library function failed, mirroring the lauxlib call the C code makes.
#[derive(Debug)]
pub(crate) enum Fail {
    /// `luaL_error`: the message gets the calling chunk's `name:line: ` prefix.
    Error(Vec<u8>),
    /// `luaL_argerror(arg, message)`.
    Arg(i32, Vec<u8>),
    /// `lua_error` with the bare message, as Lua's own API raises (e.g. "table index is nil").
    Raw(Vec<u8>),
    /// A failure inside mlua (memory, ...), passed on untouched.
    Lua(mlua::Error),
}

impl From<mlua::Error> for Fail {
    fn from(e: mlua::Error) -> Self {
        Fail::Lua(e)
    }
}

pub(crate) type LibResult<T> = Result<T, Fail>;

pub(crate) fn error(msg: impl Into<Vec<u8>>) -> Fail {
    Fail::Error(msg.into())
}

pub(crate) fn arg_error(arg: i32, msg: impl Into<Vec<u8>>) -> Fail {
    Fail::Arg(arg, msg.into())
}

/// `luaL_typerror`: "number expected, got string".
pub(crate) fn type_error(args: &MultiValue, arg: i32, expected: &str) -> Fail {
    let got = type_name(nth(args, arg));
    arg_error(arg, format!("{expected} expected, got {got}"))
}

/// Lua's name for a value's type as `luaL_typename` prints it; `None` is an absent argument.
pub(crate) fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_) | Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// Argument `arg` (1-based, as in the C API).
pub(crate) fn nth(args: &MultiValue, arg: i32) -> Option<&Value> {
    usize::try_from(arg - 1).ok().and_then(|i| args.get(i))
}

/// The value if it is a Lua number (no string coercion).
pub(crate) fn as_number(v: &Value) -> Option<f64> {
    match *v {
        Value::Integer(i) => Some(i as f64),
        Value::Number(n) => Some(n),
        _ => None,
    }
}

/// `lua_tonumber`: numbers and numeric strings; `None` for anything else.
pub(crate) fn to_number(lua: &Lua, v: Option<&Value>) -> LibResult<Option<f64>> {
    match v {
        None => Ok(None),
        Some(v) => match as_number(v) {
            Some(n) => Ok(Some(n)),
            None => Ok(lua.coerce_number(v.clone())?),
        },
    }
}

/// `luaL_checknumber`.
pub(crate) fn check_number(lua: &Lua, args: &MultiValue, arg: i32) -> LibResult<f64> {
    to_number(lua, nth(args, arg))?.ok_or_else(|| type_error(args, arg, "number"))
}

/// `luaL_checkinteger`: the number truncated the way C casts a double to `ptrdiff_t`.
pub(crate) fn check_integer(lua: &Lua, args: &MultiValue, arg: i32) -> LibResult<i64> {
    check_number(lua, args, arg).map(c_i64)
}

/// `luaL_optinteger`: `default` when the argument is absent or nil.
pub(crate) fn opt_integer(lua: &Lua, args: &MultiValue, arg: i32, default: i64) -> LibResult<i64> {
    match nth(args, arg) {
        None | Some(Value::Nil) => Ok(default),
        Some(_) => check_integer(lua, args, arg),
    }
}

/// `luaL_checklstring`: strings, and numbers converted as Lua prints them.
pub(crate) fn check_string(lua: &Lua, args: &MultiValue, arg: i32) -> LibResult<LuaString> {
    let s = match nth(args, arg) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => lua.coerce_string(v.clone())?,
        _ => None,
    };
    s.ok_or_else(|| type_error(args, arg, "string"))
}

/// C's `(int64_t)d` on x86-64: out of range and NaN give `INT64_MIN` (Rust's `as` saturates).
pub(crate) fn c_i64(d: f64) -> i64 {
    const LIMIT: f64 = -(i64::MIN as f64);
    if (-LIMIT..LIMIT).contains(&d) {
        d as i64
    } else {
        i64::MIN
    }
}

/// C's `(int)d` on x86-64: out of range and NaN give `INT_MIN`.
pub(crate) fn c_i32(d: f64) -> i32 {
    if d > -2_147_483_649.0 && d < 2_147_483_648.0 {
        d as i32
    } else {
        i32::MIN
    }
}

/// Makes a library function out of `f`; see the module comment for why it is a C closure.
pub(crate) fn function<F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, MultiValue) -> LibResult<MultiValue> + 'static,
{
    let inner = lua.create_function(move |lua, args: MultiValue| {
        let tag = Value::LightUserData(mlua::LightUserData(special_tag()));
        let (kind, payload, n) = match f(lua, args) {
            Ok(values) if values.len() <= MAX_DIRECT_RESULTS => return Ok(values),
            Ok(values) => {
                let n = values.len();
                let t = lua.create_table_with_capacity(n, 0)?;
                for (i, v) in values.into_iter().enumerate() {
                    t.raw_set(i + 1, v)?;
                }
                (KIND_MANY, Value::Table(t), n as i64)
            }
            Err(Fail::Lua(e)) => return Err(e),
            Err(Fail::Error(m)) => (KIND_WHERE, Value::String(lua.create_string(m)?), 0),
            Err(Fail::Arg(arg, m)) => (KIND_ARG, Value::String(lua.create_string(m)?), arg.into()),
            Err(Fail::Raw(m)) => (KIND_RAW, Value::String(lua.create_string(m)?), 0),
        };
        (tag, kind, payload, n).into_lua_multi(lua)
    })?;
    // SAFETY: the raw closure only turns the function argument on the stack into the upvalue
    // of a C closure, which is left on the stack as the single result.
    unsafe { lua.exec_raw(inner, |state| ffi::lua_pushcclosure(state, trampoline, 1)) }
}

/// mlua pushes results onto the callback's own stack, which also holds its arguments and
/// bookkeeping, so a few thousand results overflow Lua's 8000-slot limit before the C
/// library's would. Longer lists travel in a table the trampoline unpacks.
const MAX_DIRECT_RESULTS: usize = 256;

// Second value after the special tag: what the payload and number mean.
const KIND_WHERE: i64 = 0; // luaL_error(payload)
const KIND_ARG: i64 = 1; // luaL_argerror(n, payload)
const KIND_RAW: i64 = 2; // lua_error(payload)
const KIND_MANY: i64 = 3; // return payload[1..=n]

static SPECIAL_TAG: u8 = 0;

/// A light userdata no script can forge: first of the four values an inner function returns
/// to ask the trampoline for an error or a long result list.
fn special_tag() -> *mut c_void {
    std::ptr::addr_of!(SPECIAL_TAG) as *mut c_void
}

/// Calls upvalue 1 with all arguments and returns its results, unless they are
/// `(special_tag, kind, payload, n)`: then it does what `kind` says, from this C frame.
unsafe extern "C-unwind" fn trampoline(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: standard stack manipulation of a C function with one upvalue, on values whose
    // types `function` guarantees; the lauxlib error calls longjmp out with no Rust value
    // alive in this frame.
    unsafe {
        let nargs = ffi::lua_gettop(state);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
        if ffi::lua_type(state, 1) != ffi::LUA_TLIGHTUSERDATA
            || ffi::lua_touserdata(state, 1) != special_tag()
        {
            return ffi::lua_gettop(state);
        }
        let n = ffi::lua_tointeger(state, 4) as c_int;
        match ffi::lua_tointeger(state, 2) {
            KIND_MANY => {
                ffi::lua_settop(state, 3);
                ffi::lua_replace(state, 1);
                ffi::lua_settop(state, 1);
                ffi::luaL_checkstack_(state, n, c"too many results".as_ptr());
                for i in 1..=n {
                    ffi::lua_rawgeti(state, 1, i.into());
                }
                return n;
            }
            KIND_ARG => return ffi::luaL_argerror(state, n, ffi::lua_tostring(state, 3)),
            KIND_WHERE => {
                ffi::luaL_where(state, 1);
                ffi::lua_pushvalue(state, 3);
                ffi::lua_concat(state, 2);
            }
            _ => ffi::lua_pushvalue(state, 3),
        }
        ffi::lua_error(state)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use mlua::{FromLuaMulti, Lua, LuaString};

    /// A fresh interpreter with the four libraries.
    pub fn lua() -> Lua {
        let lua = Lua::new();
        super::register(&lua).expect("register");
        lua
    }

    /// Runs `code` as a chunk named like Redis names scripts.
    pub fn eval<T: FromLuaMulti>(lua: &Lua, code: &str) -> mlua::Result<T> {
        lua.load(code).set_name("@user_script").eval()
    }

    /// Runs `code` and returns the result as bytes (for binary outputs).
    pub fn bytes(lua: &Lua, code: &str) -> Vec<u8> {
        let s: LuaString = eval(lua, code).unwrap_or_else(|e| panic!("{code}: {e}"));
        s.as_bytes().to_vec()
    }

    /// Runs `code`, which must fail, and returns the error value Lua's `pcall` sees.
    pub fn err(lua: &Lua, code: &str) -> String {
        let chunk = lua
            .load(code)
            .set_name("@user_script")
            .into_function()
            .unwrap();
        let pcall: mlua::Function = lua.globals().get("pcall").unwrap();
        match pcall.call::<(bool, mlua::Value)>(chunk).unwrap() {
            (false, mlua::Value::String(m)) => m.to_string_lossy(),
            other => panic!("{code}: expected a string error, got {other:?}"),
        }
    }

    /// `s` with each byte as two hex digits.
    pub fn hex(s: &[u8]) -> String {
        s.iter().map(|b| format!("{b:02x}")).collect()
    }
}
