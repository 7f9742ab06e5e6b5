//! Lua scripting: EVAL/EVALSHA/SCRIPT and FUNCTION/FCALL on one Lua 5.1 interpreter owned by
//! the executor (created on first use).
//!
//! A script runs on the executor thread, inside the EVAL/FCALL handler: `redis.call` re-enters
//! `Executor::call` with Redis's "lua client" (its own db and protocol), so a script is atomic
//! by construction. While Lua runs, the executor is reached only through the bridge's pointer
//! (see `bridge`), never through the handler's own borrow.

pub mod bridge;
mod chunks;
pub mod debugger;
pub mod functions;
pub mod libs;

use std::collections::HashMap;
use std::ffi::{c_char, c_int};
use std::time::Instant;

use mlua::ffi::{self, lua_State};
use mlua::{Lua, LuaOptions, StdLib};

use crate::exec::client::flags as client_flags;
use crate::exec::{propagate, Client, Executor};
use crate::resp::errors::{self as err, CmdError};
use crate::resp::reply::Proto;
use bridge::{push_bytes, push_error_table, str_at, Bridge};

/// A script's sha1, as 40 lowercase hex digits.
pub type Sha = [u8; 40];

pub fn sha1_hex(data: &[u8]) -> Sha {
    use sha1::{Digest, Sha1};
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha1::digest(data);
    let mut out = [0u8; 40];
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 15)];
    }
    out
}

/// Script flags from a `#!lua flags=...` shebang or `redis.register_function` (Redis's
/// SCRIPT_FLAG_*).
pub mod sflags {
    pub const NO_WRITES: u32 = 1 << 0;
    pub const ALLOW_OOM: u32 = 1 << 1;
    pub const ALLOW_STALE: u32 = 1 << 2;
    pub const NO_CLUSTER: u32 = 1 << 3;
    /// A script without a shebang: Redis 6 semantics.
    pub const EVAL_COMPAT: u32 = 1 << 4;
    pub const ALLOW_CROSS_SLOT: u32 = 1 << 5;

    pub const NAMES: &[(u32, &str)] = &[
        (NO_WRITES, "no-writes"),
        (ALLOW_OOM, "allow-oom"),
        (ALLOW_STALE, "allow-stale"),
        (NO_CLUSTER, "no-cluster"),
        (ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
    ];

    pub fn by_name(name: &[u8]) -> Option<u32> {
        NAMES
            .iter()
            .find(|(_, n)| n.as_bytes() == name)
            .map(|(f, _)| *f)
    }
}

/// A script cached by EVAL or SCRIPT LOAD.
struct Script {
    /// Registry reference of the compiled function.
    func: c_int,
    flags: u32,
}

/// What a run needs besides the function: its arguments and how it may behave.
pub struct RunSpec<'a> {
    /// The whole command (FUNCTION STATS reports it).
    pub argv: &'a [&'a [u8]],
    pub keys: &'a [&'a [u8]],
    pub args: &'a [&'a [u8]],
    pub readonly: bool,
    /// The script declared allow-oom (or no-writes): its writes are not refused over
    /// maxmemory.
    pub allow_oom: bool,
    /// Cluster mode: keys of several slots may be touched (no shebang, or declared).
    pub allow_cross_slot: bool,
    pub is_function: bool,
    pub name: &'a [u8],
    pub now_ms: i64,
}

pub struct Engine {
    /// Owns the state (and closes it on drop); the raw pointer is the same state.
    _lua: Lua,
    l: *mut lua_State,
    scripts: HashMap<Sha, Script>,
    scripts_bytes: usize,
    err_handler: c_int,
    /// The real globals table (scripts see a read-only proxy of it).
    globals: c_int,
    bridge: Box<Bridge>,
    /// The FUNCTION interpreter: libraries load through `load_library` (functions.lua).
    functions: bool,
    /// The last EVAL body and its sha (see `load_script`).
    last_body: Vec<u8>,
    last_sha: Sha,
    load_library: c_int,
    /// Runs since the last GC step.
    runs_since_gc: c_int,
}

/// Script runs between two GC steps, and the size of a step.
const GC_CYCLE_PERIOD: c_int = 50;

const PRELUDE: &str = include_str!("prelude.lua");
const FUNCTIONS_PRELUDE: &str = include_str!("functions.lua");

/// A function registered by a library's code.
pub struct Registered {
    pub name: Vec<u8>,
    pub func: c_int,
    pub flags: u32,
    pub description: Option<Vec<u8>>,
}

impl Engine {
    /// The EVAL interpreter.
    pub fn new() -> Box<Engine> {
        Self::with_kind(false)
    }

    /// The FUNCTION interpreter (Redis keeps the two apart; SCRIPT FLUSH resets only EVAL's).
    pub fn for_functions() -> Box<Engine> {
        Self::with_kind(true)
    }

    fn with_kind(functions: bool) -> Box<Engine> {
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::OS | StdLib::DEBUG;
        // SAFETY: the debug library is loaded only to build the error handler; the prelude
        // removes it from the scripts' globals.
        let lua = unsafe { Lua::unsafe_new_with(libs, LuaOptions::new()) };
        let l = lua.state();
        let mut bridge = Bridge::new();
        bridge::install(&mut bridge);
        let mut engine = Box::new(Engine {
            _lua: lua,
            l,
            scripts: HashMap::new(),
            scripts_bytes: 0,
            err_handler: 0,
            globals: 0,
            bridge,
            functions,
            load_library: 0,
            runs_since_gc: 0,
            last_body: Vec::new(),
            last_sha: [0; 40],
        });
        engine.setup().expect("the Lua sandbox builds");
        engine
    }

    fn setup(&mut self) -> Result<(), String> {
        libs::register(&self._lua).map_err(|e| e.to_string())?;
        // The message of an error raised by a Rust-made function (mlua wraps it as userdata).
        let errtext = self
            ._lua
            .create_function(|_, v: mlua::Value| {
                Ok(match v {
                    mlua::Value::Error(e) => root_message(&e),
                    _ => String::new(),
                })
            })
            .map_err(|e| e.to_string())?;
        let l = self.l;
        unsafe {
            ffi::lua_settop(l, 0);
            // math.random / math.randomseed on Redis's rand48; os keeps only clock (7.2).
            ffi::lua_getfield(l, ffi::LUA_GLOBALSINDEX, c"math".as_ptr());
            set_cfn(l, c"random", bridge::math_random);
            set_cfn(l, c"randomseed", bridge::math_randomseed);
            ffi::lua_settop(l, 0);
            ffi::lua_getfield(l, ffi::LUA_GLOBALSINDEX, c"os".as_ptr());
            ffi::lua_getfield(l, -1, c"clock".as_ptr());
            ffi::lua_createtable(l, 0, 1);
            ffi::lua_pushvalue(l, -2);
            ffi::lua_setfield(l, -2, c"clock".as_ptr());
            ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"os".as_ptr());
            ffi::lua_settop(l, 0);
            chunks::install(l);
            self.push_redis_lib();
            ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"redis".as_ptr());

            if ffi::luaL_loadbuffer(
                l,
                PRELUDE.as_ptr() as *const c_char,
                PRELUDE.len(),
                c"=cinnabar".as_ptr(),
            ) != 0
            {
                return Err(String::from_utf8_lossy(str_at(l, -1)).into_owned());
            }
            ffi::lua_pushvalue(l, ffi::LUA_GLOBALSINDEX);
            push_mlua_value(&self._lua, l, errtext)?;
            if ffi::lua_pcall(l, 2, 4, 0) != 0 {
                return Err(String::from_utf8_lossy(str_at(l, -1)).into_owned());
            }
            // Stack: err_handler, globals, proxy, helpers.
            if self.functions {
                if ffi::luaL_loadbuffer(
                    l,
                    FUNCTIONS_PRELUDE.as_ptr() as *const c_char,
                    FUNCTIONS_PRELUDE.len(),
                    c"=cinnabar".as_ptr(),
                ) != 0
                {
                    return Err(String::from_utf8_lossy(str_at(l, -1)).into_owned());
                }
                ffi::lua_pushvalue(l, 4);
                ffi::lua_pushvalue(l, 1);
                ffi::lua_pushvalue(l, 2);
                if ffi::lua_pcall(l, 3, 1, 0) != 0 {
                    return Err(String::from_utf8_lossy(str_at(l, -1)).into_owned());
                }
                self.load_library = ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX);
            }
            ffi::lua_settop(l, 3);
            ffi::lua_replace(l, ffi::LUA_GLOBALSINDEX);
            self.globals = ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX);
            self.err_handler = ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX);
            ffi::lua_sethook(
                l,
                Some(bridge::count_hook),
                ffi::LUA_MASKCOUNT,
                bridge::HOOK_PERIOD,
            );
        }
        Ok(())
    }

    /// Pushes the `redis` table.
    unsafe fn push_redis_lib(&self) {
        let l = self.l;
        unsafe {
            ffi::lua_createtable(l, 0, 32);
            set_cfn(l, c"call", bridge::redis_call);
            set_cfn(l, c"pcall", bridge::redis_pcall);
            set_cfn(l, c"sha1hex", lib_sha1hex);
            set_cfn(l, c"error_reply", lib_error_reply);
            set_cfn(l, c"status_reply", lib_status_reply);
            set_cfn(l, c"log", lib_log);
            set_cfn(l, c"setresp", lib_setresp);
            set_cfn(l, c"set_repl", lib_set_repl);
            set_cfn(l, c"replicate_commands", lib_true);
            if !self.functions {
                // The debugger's functions exist for EVAL scripts only, as in Redis.
                set_cfn(l, c"breakpoint", debugger::lua_breakpoint);
                set_cfn(l, c"debug", debugger::lua_debug);
            }
            set_cfn(l, c"acl_check_cmd", lib_acl_check_cmd);
            for (name, v) in [
                (c"LOG_DEBUG", 0),
                (c"LOG_VERBOSE", 1),
                (c"LOG_NOTICE", 2),
                (c"LOG_WARNING", 3),
                (c"REPL_NONE", 0),
                (c"REPL_AOF", 1),
                (c"REPL_SLAVE", 2),
                (c"REPL_REPLICA", 2),
                (c"REPL_ALL", 3),
            ] {
                ffi::lua_pushnumber(l, f64::from(v));
                ffi::lua_setfield(l, -2, name.as_ptr());
            }
            push_bytes(l, crate::config::REDIS_VERSION.as_bytes());
            ffi::lua_setfield(l, -2, c"REDIS_VERSION".as_ptr());
            ffi::lua_pushnumber(l, f64::from(version_num()));
            ffi::lua_setfield(l, -2, c"REDIS_VERSION_NUM".as_ptr());
        }
    }

    /// Bytes the interpreter holds (used_memory_lua).
    pub fn memory(&self) -> usize {
        unsafe {
            ffi::lua_gc(self.l, ffi::LUA_GCCOUNT, 0) as usize * 1024
                + ffi::lua_gc(self.l, ffi::LUA_GCCOUNTB, 0) as usize
        }
    }

    pub fn script_count(&self) -> usize {
        self.scripts.len()
    }

    /// Bytes of script bodies cached (used_memory_scripts_eval).
    pub fn scripts_bytes(&self) -> usize {
        self.scripts_bytes
    }

    pub fn has_script(&self, sha: &[u8]) -> bool {
        sha.len() == 40 && self.scripts.contains_key(&lower_sha(sha))
    }

    /// SCRIPT LOAD / EVAL: compiles `body` unless cached; returns its sha.
    pub fn load_script(&mut self, body: &[u8]) -> Result<Sha, CmdError> {
        // Clients repeat the same EVAL body: remember the last one's sha instead of hashing it
        // again (a byte comparison is cheaper than SHA-1).
        if self.last_body.as_slice() == body && self.scripts.contains_key(&self.last_sha) {
            return Ok(self.last_sha);
        }
        let sha = sha1_hex(body);
        self.last_body.clear();
        self.last_body.extend_from_slice(body);
        self.last_sha = sha;
        if self.scripts.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, code_start) = parse_shebang(body)?;
        let func = self.compile(&body[code_start..], b"@user_script", |msg| {
            err::script_error(err::ScriptFailure::CompileScript, msg)
        })?;
        self.scripts.insert(sha, Script { func, flags });
        self.scripts_bytes += body.len();
        Ok(sha)
    }

    /// Compiles a chunk and keeps it in the registry; returns the reference.
    fn compile(
        &mut self,
        code: &[u8],
        chunk: &[u8],
        on_err: impl FnOnce(&[u8]) -> CmdError,
    ) -> Result<c_int, CmdError> {
        let l = self.l;
        let mut name = chunk.to_vec();
        name.push(0);
        // Precompiled chunks are refused (see `chunks`).
        let source = chunks::text_chunk(code);
        unsafe {
            if ffi::luaL_loadbuffer(
                l,
                source.as_ptr() as *const c_char,
                source.len(),
                name.as_ptr() as *const c_char,
            ) != 0
            {
                let e = on_err(str_at(l, -1));
                ffi::lua_settop(l, -2);
                return Err(e);
            }
            let func = ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX);
            // The compiler leaves garbage (its constants table and its nodes): a GC step now
            // frees it while its slabs are still the newest, instead of a whole cycle's worth
            // later, spread among what scripts keep. 50,000 loaded scripts: 3.3 MB of
            // allocator fragmentation without it, 1.0 MB with it.
            ffi::lua_gc(l, ffi::LUA_GCSTEP, 0);
            Ok(func)
        }
    }

    /// Compiles and runs a library's code (after its shebang line); returns the functions it
    /// registered, or Redis's error.
    pub fn load_library(&mut self, code: &[u8]) -> Result<Vec<Registered>, CmdError> {
        let chunk = self.compile(code, b"@user_function", |msg| {
            err::script_error(err::ScriptFailure::CompileFunction, msg)
        })?;
        let l = self.l;
        let b = &mut *self.bridge;
        bridge::install(b);
        b.loading = true;
        b.start = Instant::now();
        let status = unsafe {
            ffi::lua_settop(l, 0);
            ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, self.load_library.into());
            ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, chunk.into());
            ffi::luaL_unref(l, ffi::LUA_REGISTRYINDEX, chunk);
            ffi::lua_pcall(l, 1, 2, 0)
        };
        self.bridge.loading = false;
        unsafe {
            // A timed-out load left the hook firing on every line; put the periodic one back.
            ffi::lua_sethook(
                l,
                Some(bridge::count_hook),
                ffi::LUA_MASKCOUNT,
                bridge::HOOK_PERIOD,
            );
            if status != 0 {
                let e = CmdError::owned(str_at(l, -1).to_vec());
                ffi::lua_settop(l, 0);
                return Err(e);
            }
            if ffi::lua_toboolean(l, 1) == 0 {
                let mut detail = Vec::new();
                if ffi::lua_type(l, 2) == ffi::LUA_TTABLE {
                    ffi::lua_getfield(l, 2, c"err".as_ptr());
                    detail.extend_from_slice(str_at(l, -1));
                }
                let e = err::script_error(err::ScriptFailure::RegisterFunctions, &detail);
                ffi::lua_settop(l, 0);
                return Err(e);
            }
            let n = ffi::lua_objlen(l, 2);
            let mut out = Vec::with_capacity(n);
            for i in 1..=n {
                ffi::lua_rawgeti(l, 2, i as ffi::lua_Integer);
                ffi::lua_getfield(l, -1, c"name".as_ptr());
                let name = str_at(l, -1).to_vec();
                ffi::lua_getfield(l, -2, c"flags".as_ptr());
                let flags = ffi::lua_tonumber(l, -1) as u32;
                ffi::lua_getfield(l, -3, c"description".as_ptr());
                let description =
                    (ffi::lua_type(l, -1) == ffi::LUA_TSTRING).then(|| str_at(l, -1).to_vec());
                ffi::lua_getfield(l, -4, c"callback".as_ptr());
                let func = ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX);
                ffi::lua_settop(l, 2);
                out.push(Registered {
                    name,
                    func,
                    flags,
                    description,
                });
            }
            ffi::lua_settop(l, 0);
            Ok(out)
        }
    }

    /// Releases a registered function (FUNCTION DELETE, a replaced library).
    pub fn release(&mut self, func: c_int) {
        unsafe { ffi::luaL_unref(self.l, ffi::LUA_REGISTRYINDEX, func) };
    }

    /// The Lua debugger's state.
    pub fn debugger(&mut self) -> &mut debugger::Ldb {
        &mut self.bridge.ldb
    }

    /// Flags of a cached script.
    pub fn script_flags(&self, sha: &[u8]) -> Option<u32> {
        let sha = (sha.len() == 40).then(|| lower_sha(sha))?;
        self.scripts.get(&sha).map(|s| s.flags)
    }

    /// EVAL/EVALSHA: runs a cached script for `caller`, writing its reply.
    pub fn run_script(
        &mut self,
        ex: &mut Executor,
        caller: &mut Client,
        sha: &[u8],
        spec: &RunSpec,
    ) -> Result<(), CmdError> {
        let sha = lower_sha(sha);
        let Some(script) = self.scripts.get(&sha) else {
            return Err(err::NOSCRIPT.into());
        };
        let func = script.func;
        self.run(ex, caller, func, spec)
    }

    /// Runs the function at registry reference `func` with KEYS and ARGV set.
    pub fn run(
        &mut self,
        ex: &mut Executor,
        caller: &mut Client,
        func: c_int,
        spec: &RunSpec,
    ) -> Result<(), CmdError> {
        let l = self.l;
        let b = &mut *self.bridge;
        bridge::install(b);
        b.ex = ex;
        b.caller = caller;
        b.fake.db = caller.db;
        b.fake.out.proto = Proto::Resp2;
        b.fake.flags = (caller.flags & client_flags::NO_TOUCH) | client_flags::SCRIPT;
        b.readonly = spec.readonly;
        b.allow_oom = spec.allow_oom;
        b.allow_cross_slot = spec.allow_cross_slot;
        b.cluster_slot.set(
            spec.keys
                .first()
                .filter(|_| ex.cluster.is_some())
                .map(|k| crate::cluster::slot::key_hash_slot(k) as usize),
        );
        b.wrote = false;
        b.start = Instant::now();
        b.now_ms = spec.now_ms;
        b.kill = None;
        b.busy = false;
        b.running = true;
        b.is_function = spec.is_function;
        b.name.clear();
        b.name.extend_from_slice(spec.name);
        b.argv = std::ptr::slice_from_raw_parts(spec.argv.as_ptr().cast(), spec.argv.len());
        let debugging = b.ldb.active;
        let status;
        unsafe {
            if debugging {
                // Every line goes through the debugger; the count events catch a script that
                // runs too long between stops (Redis's luaLdbLineHook).
                ffi::lua_sethook(
                    l,
                    Some(debugger::line_hook),
                    ffi::LUA_MASKLINE | ffi::LUA_MASKCOUNT,
                    bridge::HOOK_PERIOD,
                );
            }
            ffi::lua_settop(l, 0);
            ffi::lua_checkstack(l, 8);
            ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, self.err_handler.into());
            if spec.is_function {
                // FCALL passes keys and arguments as the function's two parameters.
                ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, func.into());
                push_array(l, spec.keys);
                push_array(l, spec.args);
                status = ffi::lua_pcall(l, 2, 1, 1);
            } else {
                ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, self.globals.into());
                push_array(l, spec.keys);
                ffi::lua_setfield(l, -2, c"KEYS".as_ptr());
                push_array(l, spec.args);
                ffi::lua_setfield(l, -2, c"ARGV".as_ptr());
                ffi::lua_settop(l, 1);
                ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, func.into());
                status = ffi::lua_pcall(l, 0, 1, 1);
            }
        }
        let b = &mut *self.bridge;
        ex.prop.script_withheld = 0;
        let killed = b.kill.is_some();
        b.running = false;
        b.busy = false;
        b.ex = std::ptr::null_mut();
        b.caller = std::ptr::null_mut();
        ex.script_busy = None;
        let result = unsafe {
            if status == 0 {
                let limit = usize::try_from(ex.settings.proto_max_bulk_len).unwrap_or(usize::MAX);
                let resp3 = self.bridge.fake.out.is_resp3();
                let mut reply = bridge::ScriptReply::new(&mut caller.out, resp3, limit);
                bridge::write_reply(l, &mut reply);
                reply.discard_if_overflowed();
                for code in &reply.new_errors {
                    ex.stats.count_error(code);
                }
                ex.stats.uncounted_failure |= reply.counted_error;
                Ok(())
            } else {
                self.error_reply(ex, caller, spec.name)
            }
        };
        // A GC step every few runs (Redis's LUA_GC_CYCLE_PERIOD): keeps the heap small without
        // the latency of a full cycle.
        self.runs_since_gc += 1;
        if self.runs_since_gc == GC_CYCLE_PERIOD {
            self.runs_since_gc = 0;
            unsafe { ffi::lua_gc(l, ffi::LUA_GCSTEP, GC_CYCLE_PERIOD) };
        }
        unsafe {
            ffi::lua_settop(l, 0);
            if killed || debugging {
                ffi::lua_sethook(
                    l,
                    Some(bridge::count_hook),
                    ffi::LUA_MASKCOUNT,
                    bridge::HOOK_PERIOD,
                );
            }
        }
        result
    }

    /// Turns the error object on top of the stack into the caller's reply (Redis's
    /// luaCallFunction): "<err> script: <name>, on <source>:<line>.". Errors a command
    /// already counted are written here; others are returned for the caller to count.
    unsafe fn error_reply(
        &mut self,
        ex: &mut Executor,
        caller: &mut Client,
        name: &[u8],
    ) -> Result<(), CmdError> {
        let l = self.l;
        unsafe {
            if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
                let msg = if ffi::lua_isstring(l, -1) != 0 {
                    str_at(l, -1).to_vec()
                } else {
                    b"execution failure".to_vec()
                };
                let mut detail = name.to_vec();
                detail.extend_from_slice(b", ");
                detail.extend_from_slice(&msg[..msg.len().min(100)]);
                return Err(err::script_error(err::ScriptFailure::Run, &detail));
            }
            let field = |f: &std::ffi::CStr| {
                ffi::lua_getfield(l, -1, f.as_ptr());
                let v = (ffi::lua_isstring(l, -1) != 0).then(|| str_at(l, -1).to_vec());
                ffi::lua_settop(l, -2);
                v
            };
            let msg = field(c"err").unwrap_or_default();
            let source = field(c"source");
            let line = field(c"line");
            ffi::lua_getfield(l, -1, c"ignore_error_stats_update".as_ptr());
            let counted = ffi::lua_toboolean(l, -1) != 0;
            ffi::lua_settop(l, -2);
            let mut text = msg;
            if let (Some(source), Some(line)) = (source, line) {
                text.extend_from_slice(b" script: ");
                text.extend_from_slice(name);
                text.extend_from_slice(b", on ");
                text.extend_from_slice(&source);
                text.push(b':');
                text.extend_from_slice(&line);
                text.push(b'.');
            }
            if counted {
                caller.out.error(&text);
                ex.stats.uncounted_failure = true;
                Ok(())
            } else {
                Err(CmdError::owned(text))
            }
        }
    }

    /// The rand48 state survives SCRIPT FLUSH (it is process state in Redis).
    pub fn rand_state(&self) -> u64 {
        self.bridge.rand48
    }

    pub fn set_rand_state(&mut self, s: u64) {
        self.bridge.rand48 = s;
    }

    pub fn raw_state(&self) -> *mut lua_State {
        self.l
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        bridge::uninstall(&mut self.bridge);
    }
}

/// redis.REDIS_VERSION_NUM: 0x00MMmmpp.
fn version_num() -> u32 {
    let mut parts = crate::config::REDIS_VERSION
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (a << 16) | (b << 8) | c
}

fn lower_sha(sha: &[u8]) -> Sha {
    let mut out = [0u8; 40];
    for (o, c) in out.iter_mut().zip(sha) {
        *o = c.to_ascii_lowercase();
    }
    out
}

/// Reads a `#!lua flags=a,b` first line: returns the flags and where the code starts (the
/// newline stays, so line numbers match the body).
pub fn parse_shebang(body: &[u8]) -> Result<(u32, usize), CmdError> {
    if !body.starts_with(b"#!") {
        return Ok((sflags::EVAL_COMPAT, 0));
    }
    let Some(end) = memchr::memchr(b'\n', body) else {
        return Err(err::SHEBANG_INVALID.into());
    };
    let parts = crate::util::splitargs::split_args(&body[..end])
        .filter(|p| !p.is_empty())
        .ok_or_else(|| CmdError::from(err::SHEBANG_INVALID_ENGINE))?;
    if parts[0] != b"#!lua" {
        return Err(err::shebang_error(err::ShebangFailure::Engine, &parts[0]));
    }
    let mut flags = 0;
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(err::shebang_error(err::ShebangFailure::Option, part));
        };
        // "flags=" alone declares no flags (sdssplitlen of nothing is nothing).
        for name in list.split(|c| *c == b',').filter(|_| !list.is_empty()) {
            match sflags::by_name(name) {
                Some(f) => flags |= f,
                None => {
                    return Err(err::shebang_error(err::ShebangFailure::Flag, name));
                }
            }
        }
    }
    Ok((flags, end))
}

/// The innermost message of an mlua error, without mlua's decorations: what a C library's
/// luaL_error would have raised.
fn root_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => root_message(cause),
        mlua::Error::RuntimeError(msg) => msg.clone(),
        mlua::Error::BadArgument { to, pos, cause, .. } => format!(
            "bad argument #{pos} to '{}' ({})",
            to.as_deref().unwrap_or("?"),
            root_message(cause)
        ),
        other => other.to_string(),
    }
}

/// Pushes an mlua value onto the raw stack of `l` (the engine's main state).
unsafe fn push_mlua_value(lua: &Lua, l: *mut lua_State, f: mlua::Function) -> Result<(), String> {
    // Through the registry: mlua keeps its values on its own thread.
    lua.set_named_registry_value("cinnabar.tmp", f)
        .map_err(|e| e.to_string())?;
    unsafe { ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, c"cinnabar.tmp".as_ptr()) };
    lua.unset_named_registry_value("cinnabar.tmp")
        .map_err(|e| e.to_string())?;
    Ok(())
}

unsafe fn set_cfn(l: *mut lua_State, name: &std::ffi::CStr, f: ffi::lua_CFunction) {
    unsafe {
        ffi::lua_pushcfunction(l, f);
        ffi::lua_setfield(l, -2, name.as_ptr());
    }
}

unsafe fn push_array(l: *mut lua_State, items: &[&[u8]]) {
    unsafe {
        ffi::lua_createtable(l, items.len() as c_int, 0);
        for (i, item) in items.iter().enumerate() {
            push_bytes(l, item);
            ffi::lua_rawseti(l, -2, i as ffi::lua_Integer + 1);
        }
    }
}

// ---- the rest of the redis library ----

/// Raises `{err = "ERR <text>"}` (the inner-function pattern of `bridge`: nothing to drop).
unsafe fn raise(l: *mut lua_State, text: &str) -> c_int {
    unsafe {
        push_error_table(l, text.as_bytes(), false);
        ffi::lua_error(l)
    }
}

unsafe extern "C-unwind" fn lib_sha1hex(l: *mut lua_State) -> c_int {
    unsafe {
        if ffi::lua_gettop(l) != 1 {
            return raise(l, err::LUA_WRONG_ARGS);
        }
        let sha = sha1_hex(str_at(l, 1));
        push_bytes(l, &sha);
    }
    1
}

unsafe extern "C-unwind" fn lib_error_reply(l: *mut lua_State) -> c_int {
    unsafe {
        if ffi::lua_gettop(l) != 1 || ffi::lua_type(l, 1) != ffi::LUA_TSTRING {
            push_error_table(l, err::LUA_ARGS_OR_TYPE.as_bytes(), false);
            return 1;
        }
        let s = str_at(l, 1);
        if s.starts_with(b"-") {
            push_error_table(l, s, false);
        } else {
            let mut t = Vec::with_capacity(s.len() + 1);
            t.push(b'-');
            t.extend_from_slice(s);
            push_error_table(l, &t, false);
        }
    }
    1
}

unsafe extern "C-unwind" fn lib_status_reply(l: *mut lua_State) -> c_int {
    unsafe {
        if ffi::lua_gettop(l) != 1 || ffi::lua_type(l, 1) != ffi::LUA_TSTRING {
            push_error_table(l, err::LUA_ARGS_OR_TYPE.as_bytes(), false);
            return 1;
        }
        ffi::lua_createtable(l, 0, 1);
        ffi::lua_pushvalue(l, 1);
        ffi::lua_setfield(l, -2, c"ok".as_ptr());
    }
    1
}

unsafe extern "C-unwind" fn lib_log(l: *mut lua_State) -> c_int {
    unsafe {
        let argc = ffi::lua_gettop(l);
        if argc < 2 {
            return raise(l, err::LUA_LOG_ARGS);
        }
        if ffi::lua_type(l, 1) != ffi::LUA_TNUMBER {
            return raise(l, "First argument must be a number (log level).");
        }
        let level = ffi::lua_tonumber(l, 1) as i64;
        if !(0..=3).contains(&level) {
            return raise(l, err::LUA_LOG_LEVEL);
        }
        log_message(l, argc, level);
    }
    0
}

unsafe fn log_message(l: *mut lua_State, argc: c_int, level: i64) {
    let mut msg = Vec::new();
    for i in 2..=argc {
        if i > 2 {
            msg.push(b' ');
        }
        if unsafe { ffi::lua_isstring(l, i) } != 0 {
            msg.extend_from_slice(unsafe { str_at(l, i) });
        }
    }
    let msg = String::from_utf8_lossy(&msg);
    match level {
        3 => tracing::warn!("{msg}"),
        2 => tracing::info!("{msg}"),
        1 => tracing::debug!("{msg}"),
        _ => tracing::trace!("{msg}"),
    }
}

unsafe extern "C-unwind" fn lib_setresp(l: *mut lua_State) -> c_int {
    unsafe {
        if ffi::lua_gettop(l) != 1 {
            return raise(l, "redis.setresp() requires one argument.");
        }
        let v = ffi::lua_tonumber(l, 1);
        let proto = if v == 2.0 {
            Proto::Resp2
        } else if v == 3.0 {
            Proto::Resp3
        } else {
            return raise(l, err::LUA_RESP_VERSION);
        };
        bridge::with_running(|b| b.fake.out.proto = proto);
    }
    0
}

unsafe extern "C-unwind" fn lib_set_repl(l: *mut lua_State) -> c_int {
    unsafe {
        if ffi::lua_gettop(l) != 1 {
            return raise(l, "redis.set_repl() requires one argument.");
        }
        let v = ffi::lua_tonumber(l, 1) as i64;
        if v & !3 != 0 {
            return raise(l, err::LUA_REPL_FLAGS);
        }
        // REPL_AOF and REPL_REPLICA are Redis's PROPAGATE_AOF and PROPAGATE_REPL bits.
        let withheld = propagate::TO_ALL & !(v as propagate::Targets);
        bridge::with_running(|b| (*b.ex).prop.script_withheld = withheld);
    }
    0
}

/// redis.acl_check_cmd(command, args...): may the script's caller run it? (No log entry.)
unsafe extern "C-unwind" fn lib_acl_check_cmd(l: *mut lua_State) -> c_int {
    unsafe {
        let (mut buf, mut pos) = (Vec::new(), Vec::new());
        if let Err(e) = bridge::collect_args(l, &mut buf, &mut pos) {
            return raise(l, e);
        }
        let argv: Vec<&[u8]> = pos.iter().map(|&(s, e)| &buf[s..e]).collect();
        let verdict = bridge::with_running(|b| {
            let ex = &*b.ex;
            let table = ex.table;
            let cmd = table.get(argv[0]).and_then(|c| match argv.get(1) {
                Some(sub) if c.is_container() => table.get_sub(c, sub),
                _ => Some(c),
            })?;
            Some(ex.acl_permits((*b.caller).user, cmd, &argv).is_ok())
        })
        .flatten();
        match verdict {
            Some(allowed) => ffi::lua_pushboolean(l, c_int::from(allowed)),
            None => return raise(l, err::LUA_ACL_CHECK_UNKNOWN),
        }
    }
    1
}

unsafe extern "C-unwind" fn lib_true(l: *mut lua_State) -> c_int {
    unsafe { ffi::lua_pushboolean(l, 1) };
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_of_empty_string() {
        assert_eq!(&sha1_hex(b""), b"da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn shebang_flags_and_errors() {
        assert_eq!(
            parse_shebang(b"return 1").unwrap(),
            (sflags::EVAL_COMPAT, 0)
        );
        assert_eq!(
            parse_shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap(),
            (sflags::NO_WRITES | sflags::ALLOW_OOM, 31)
        );
        let e = |b: &[u8]| parse_shebang(b).unwrap_err().text().to_vec();
        assert_eq!(
            e(b"#!python\n"),
            b"ERR Unexpected engine in script shebang: #!python"
        );
        assert_eq!(
            e(b"#!lua flags=bogus\n"),
            b"ERR Unexpected flag in script shebang: bogus"
        );
        assert_eq!(
            e(b"#!lua name=x\n"),
            b"ERR Unknown lua shebang option: name=x"
        );
    }

    #[test]
    fn rand48_matches_redis_after_start() {
        // First two math.random(100) of a fresh redis-server 7.0.15: 40, 85 (seen on the
        // oracle); the formula is redis_math_random's.
        let mut b = Bridge::new();
        let mut next = |u: f64| {
            let r = f64::from(b.lrand48() % i32::MAX) / f64::from(i32::MAX);
            (r * u).floor() + 1.0
        };
        assert_eq!((next(100.0), next(100.0)), (40.0, 85.0));
    }
}
