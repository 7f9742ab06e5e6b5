//! The Lua side of the executor, on Lua's C API: `redis.call` / `redis.pcall`, the
//! conversions between RESP replies and Lua values (Redis's redisProtocolToLuaType and
//! luaReplyToRedisReply), `math.random` on Redis's rand48, and the instruction-count hook that
//! makes a long script answer BUSY and obey SCRIPT KILL.
//!
//! Why the raw C API: `redis.call` is the hot path of every script, and Redis's error model
//! needs a C function that raises a *table* (`{err=...}`). A raising function does its work
//! in an inner function that returns before `lua_error` longjmps, so no Rust value with a
//! destructor is ever skipped.
//!
//! Safety, for every `unsafe fn` here: `l` is the engine's live state (or a thread of it),
//! called on the executor thread, with the stack shaped as the function's comment says.
#![allow(clippy::missing_safety_doc)]

use std::cell::Cell;
use std::ffi::{c_char, c_int};
use std::ptr;
use std::time::Instant;

use mlua::ffi::{self, lua_State};

use crate::acl::check::Denied;
use crate::acl::log::Context;
use crate::cmd::meta::flag;
use crate::cmd::table::Command;
use crate::exec::{Client, Executor};
use crate::resp::errors::{self as err, CmdError};
use crate::resp::reply::ReplyBuf;

/// How long a library's top-level code may run in FUNCTION LOAD (Redis's fixed limit).
const LOAD_TIME_LIMIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Instructions between two checks of the clock (Redis uses the same period).
pub const HOOK_PERIOD: c_int = 100_000;

/// The state of the script being run, reached from the C functions through a thread-local
/// pointer (the executor thread runs one script at a time).
pub struct Bridge {
    pub ex: *mut Executor,
    /// The client that sent EVAL/FCALL (taken out of the client table meanwhile).
    pub caller: *mut Client,
    /// Redis's lua client: runs the commands a script calls, with its own db and protocol.
    pub fake: Box<Client>,
    /// Arguments of the current redis.call, copied out of Lua strings.
    argbuf: Vec<u8>,
    argpos: Vec<(usize, usize)>,
    argv_scratch: Vec<&'static [u8]>,
    pub readonly: bool,
    pub allow_oom: bool,
    /// Cluster mode: the script may touch keys of several slots (no shebang, or declared).
    pub allow_cross_slot: bool,
    /// Cluster mode: the slot of the keys the script declared or first touched.
    pub cluster_slot: Cell<Option<usize>>,
    /// A write command ran: SCRIPT KILL can no longer stop the script.
    pub wrote: bool,
    pub start: Instant,
    pub now_ms: i64,
    /// Set by SCRIPT KILL / FUNCTION KILL / SHUTDOWN: the error to raise at the next hook.
    pub kill: Option<&'static str>,
    /// Past busy-reply-threshold: other clients get BUSY.
    pub busy: bool,
    pub running: bool,
    /// FUNCTION LOAD is running a library's top-level code (which has a fixed time limit).
    pub loading: bool,
    pub is_function: bool,
    /// The sha (EVAL) or function name (FCALL), for error texts and logs.
    pub name: Vec<u8>,
    /// The running command's arguments (FUNCTION STATS shows them); valid while running.
    pub argv: *const [&'static [u8]],
    /// redisLrand48's 48-bit state (math.random).
    pub rand48: u64,
    /// The Lua debugger's session (EVAL's interpreter only).
    pub ldb: super::debugger::Ldb,
}

impl Bridge {
    /// The arguments of the running EVAL/FCALL.
    pub fn command(&self) -> &[&[u8]] {
        if !self.running || self.argv.is_null() {
            return &[];
        }
        // SAFETY: set from the running command's argv, which outlives the run.
        unsafe { &*self.argv }
    }
}

/// lrand48's initial state (0x1234ABCD330E), as redisSrand48 leaves it.
pub const RAND48_SEED: u64 = 0x1234_ABCD_330E;

impl Bridge {
    pub fn new() -> Box<Bridge> {
        let mut fake = Box::new(Client::new(0, usize::MAX, 0));
        fake.addr = "lua".into();
        fake.flags = crate::exec::client::flags::SCRIPT;
        fake.authenticated = true;
        Box::new(Bridge {
            ex: ptr::null_mut(),
            caller: ptr::null_mut(),
            fake,
            argbuf: Vec::new(),
            argpos: Vec::new(),
            argv_scratch: Vec::new(),
            readonly: false,
            allow_oom: false,
            allow_cross_slot: true,
            cluster_slot: Cell::new(None),
            wrote: false,
            start: Instant::now(),
            now_ms: 0,
            kill: None,
            busy: false,
            running: false,
            loading: false,
            is_function: false,
            name: Vec::new(),
            argv: ptr::slice_from_raw_parts(ptr::null(), 0),
            rand48: RAND48_SEED,
            ldb: Default::default(),
        })
    }

    /// redisLrand48: the next 31-bit output of the 48-bit LCG.
    pub fn lrand48(&mut self) -> i32 {
        self.rand48 = self.rand48.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB) & ((1 << 48) - 1);
        (self.rand48 >> 17) as i32
    }
}

thread_local! {
    static BRIDGE: Cell<*mut Bridge> = const { Cell::new(ptr::null_mut()) };
}

/// Installs the bridge the C functions use (once per engine; the Box keeps it in place).
pub fn install(b: &mut Bridge) {
    BRIDGE.with(|c| c.set(b));
}

/// Forgets `b` if it is the installed bridge (its engine is going away).
pub fn uninstall(b: &mut Bridge) {
    let p: *mut Bridge = b;
    BRIDGE.with(|c| {
        if c.get() == p {
            c.set(ptr::null_mut());
        }
    });
}

/// Runs `f` on the running script's bridge, if a script is running on this thread (SCRIPT
/// KILL and FUNCTION STATS from the busy loop, the scripts' own library functions). The
/// borrow cannot outlive `f`.
pub fn with_running<R>(f: impl FnOnce(&mut Bridge) -> R) -> Option<R> {
    let p = BRIDGE.with(Cell::get);
    // SAFETY: the pointer is the engine's boxed bridge, alive as long as the engine; the
    // executor thread is its only user, and the reference lives only for this call.
    let b = unsafe { p.as_mut() }?;
    if b.running {
        Some(f(b))
    } else {
        None
    }
}

#[inline]
/// The installed bridge, if any (the debugger's hooks also run outside redis.call).
pub unsafe fn bridge_if_installed() -> Option<&'static mut Bridge> {
    // SAFETY: as `bridge`; the pointer is null until an engine installs its bridge.
    unsafe { BRIDGE.with(Cell::get).as_mut() }
}

unsafe fn bridge() -> &'static mut Bridge {
    // SAFETY: the C functions are only reachable from scripts the engine runs, after
    // `install`.
    unsafe { &mut *BRIDGE.with(Cell::get) }
}

// ---- small stack helpers ----

#[inline]
pub unsafe fn push_bytes(l: *mut lua_State, b: &[u8]) {
    unsafe { ffi::lua_pushlstring(l, b.as_ptr() as *const c_char, b.len()) };
}

/// The bytes of the string at `idx` (which must be a string), valid while it stays on the stack.
#[inline]
pub unsafe fn str_at<'a>(l: *mut lua_State, idx: c_int) -> &'a [u8] {
    let mut len = 0usize;
    let p = unsafe { ffi::lua_tolstring(l, idx, &mut len) };
    if p.is_null() {
        return &[];
    }
    unsafe { std::slice::from_raw_parts(p as *const u8, len) }
}

unsafe fn set_field_bytes(l: *mut lua_State, field: &[u8], value: &[u8]) {
    unsafe {
        push_bytes(l, field);
        push_bytes(l, value);
        ffi::lua_rawset(l, -3);
    }
}

/// Pushes `{err = "CODE msg"}` built from an error text the way Redis's luaPushErrorBuff does:
/// "-CODE msg" keeps its code, a bare message gets "ERR ", trailing CR/LF are trimmed.
pub unsafe fn push_error_table(l: *mut lua_State, text: &[u8], from_reply: bool) {
    super::debugger::log_error(trim_crlf(text));
    let mut msg: Vec<u8> = Vec::with_capacity(text.len() + 4);
    if let Some(rest) = text.strip_prefix(b"-") {
        match rest.iter().position(|c| *c == b' ') {
            Some(sp) => {
                msg.extend_from_slice(&rest[..sp]);
                msg.push(b' ');
                msg.extend_from_slice(trim_crlf(&rest[sp + 1..]));
            }
            None => {
                msg.extend_from_slice(err::GENERIC_CODE.as_bytes());
                msg.extend_from_slice(trim_crlf(rest));
            }
        }
    } else {
        msg.extend_from_slice(err::GENERIC_CODE.as_bytes());
        msg.extend_from_slice(trim_crlf(text));
    }
    unsafe {
        ffi::lua_createtable(l, 0, 2);
        set_field_bytes(l, b"err", &msg);
        if from_reply {
            // The command already counted its error; the script's failure must not again.
            push_bytes(l, b"ignore_error_stats_update");
            ffi::lua_pushboolean(l, 1);
            ffi::lua_rawset(l, -3);
        }
    }
}

fn trim_crlf(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = s {
        s = rest;
    }
    while let [b'\r' | b'\n', rest @ ..] = s {
        s = rest;
    }
    s
}

// ---- redis.call / redis.pcall ----

pub unsafe extern "C-unwind" fn redis_call(l: *mut lua_State) -> c_int {
    let n = unsafe { call_command(l, true) };
    if n < 0 {
        unsafe { ffi::lua_error(l) }
    } else {
        n
    }
}

pub unsafe extern "C-unwind" fn redis_pcall(l: *mut lua_State) -> c_int {
    unsafe { call_command(l, false).max(1) }
}

/// Runs the command in the arguments. Returns the number of results, or -1 with an error
/// table on the stack when `raise` is set and the call failed.
/// The arguments of a redis lib call as bytes (Redis's luaArgsToRedisArgv): `buf` holds
/// them back to back, `pos` their spans.
pub unsafe fn collect_args(
    l: *mut lua_State,
    buf: &mut Vec<u8>,
    pos: &mut Vec<(usize, usize)>,
) -> Result<(), &'static str> {
    let argc = unsafe { ffi::lua_gettop(l) };
    if argc == 0 {
        return Err(err::LUA_NO_ARGS);
    }
    buf.clear();
    pos.clear();
    for i in 1..=argc {
        let start = buf.len();
        match unsafe { ffi::lua_type(l, i) } {
            ffi::LUA_TSTRING => buf.extend_from_slice(unsafe { str_at(l, i) }),
            // Not lua_tolstring: Lua's %.14g would lose digits (Redis prints %.17g).
            ffi::LUA_TNUMBER => crate::util::num::push_g17(buf, unsafe { ffi::lua_tonumber(l, i) }),
            _ => return Err(err::LUA_BAD_ARG_TYPE),
        }
        pos.push((start, buf.len()));
    }
    Ok(())
}

unsafe fn call_command(l: *mut lua_State, raise: bool) -> c_int {
    let b = unsafe { bridge() };
    let fail = |l, text: &[u8]| {
        unsafe { push_error_table(l, text, false) };
        if raise {
            -1
        } else {
            1
        }
    };
    if let Err(e) = unsafe { collect_args(l, &mut b.argbuf, &mut b.argpos) } {
        return fail(l, e.as_bytes());
    }
    // The argv slices live in a reused vector (no allocation per call); they borrow `argbuf`,
    // which stays untouched until the vector is cleared below.
    let mut argv = std::mem::take(&mut b.argv_scratch);
    argv.clear();
    for &(s, e) in &b.argpos {
        let arg: &[u8] = &b.argbuf[s..e];
        // SAFETY: `argbuf` outlives this function's use of `argv`, which is cleared before
        // `argbuf` can change (the next call clears it first).
        argv.push(unsafe { std::mem::transmute::<&[u8], &'static [u8]>(arg) });
    }
    super::debugger::log_command(&argv);
    // SAFETY: the executor outlives the run; the handler that started the script does not
    // touch it while Lua runs.
    let ex = unsafe { &mut *b.ex };
    let cmd = match check_call(ex, b, &argv) {
        Ok(cmd) => cmd,
        Err((cmd, e)) => {
            argv.clear();
            b.argv_scratch = argv;
            // Counted here, as the refusal of `cmd` (Redis's scriptCall error path); the
            // script's own error reply, if it comes to that, is not counted again.
            ex.stats.count_error(e.code());
            ex.stats.account_errors(cmd.map(|c| c.id), true);
            // Plain ERR refusals are raised as bare messages, as Redis's scriptCall does
            // (the debugger logs them so); the error table is the same.
            let text = match e.text().strip_prefix(err::GENERIC_CODE.as_bytes()) {
                Some(message) => message.to_vec(),
                None => [b"-", e.text()].concat(),
            };
            unsafe { push_error_table(l, &text, true) };
            return if raise { -1 } else { 1 };
        }
    };
    if cmd.meta.has(flag::WRITE) {
        b.wrote = true;
    }
    if cmd.meta.has(flag::READONLY) {
        // SAFETY: the caller is out of the client table while its script runs, and lives
        // until the run ends.
        let caller = unsafe { &*b.caller };
        ex.track_script_keys(caller, b.command());
    }
    let fake = &mut *b.fake;
    // Commands that check permissions themselves (SORT) see the caller's user.
    // SAFETY: as above, the caller lives until the run ends.
    fake.user = unsafe { (*b.caller).user };
    fake.out.buf.clear();
    ex.call(fake, cmd, &argv, Instant::now(), b.now_ms, true);
    argv.clear();
    b.argv_scratch = argv;
    let reply = std::mem::take(&mut fake.out.buf);
    let failed = reply.first() == Some(&b'-');
    if failed {
        let end = reply.len().saturating_sub(2);
        unsafe { push_error_table(l, &reply[..end], true) };
    } else {
        let mut pos = 0;
        unsafe { push_reply(l, &reply, &mut pos) };
    }
    super::debugger::log_reply(&reply);
    b.fake.out.buf = reply;
    if failed && raise {
        -1
    } else {
        1
    }
}

/// What Redis's scriptCall checks before a script's command runs, in its order: the command
/// and its arity, whether scripts may call it, read-only runs, a state that refuses writes
/// (until the script's first write), memory. A refusal names the command when it was found.
fn check_call(
    ex: &mut Executor,
    b: &Bridge,
    argv: &[&[u8]],
) -> Result<&'static Command, (Option<&'static Command>, CmdError)> {
    let table = ex.table;
    let unknown = || (None, CmdError::from(err::LUA_UNKNOWN_COMMAND));
    let mut cmd = table.get(argv[0]).ok_or_else(unknown)?;
    if cmd.is_container() && argv.len() > 1 {
        cmd = table.get_sub(cmd, argv[1]).ok_or_else(unknown)?;
    }
    let refuse = |e: CmdError| Err((Some(cmd), e));
    let (arity, argc) = (cmd.meta.arity, argv.len() as i32);
    if (arity > 0 && argc != arity) || argc < -arity {
        return refuse(err::LUA_WRONG_ARITY.into());
    }
    if cmd.meta.has(flag::NOSCRIPT) && !ex.script_deny_disabled {
        return refuse(err::LUA_NOT_ALLOWED.into());
    }
    // A stale replica (link down, replica-serve-stale-data no) runs only stale-safe commands,
    // even from a script allowed to start there (Redis's scriptVerifyAllowStale).
    if !cmd.meta.has(flag::STALE) && ex.serves_no_stale_data() {
        return refuse(err::LUA_STALE_REPLICA.into());
    }
    // The script runs with its caller's permissions; a refusal is logged for the caller.
    // SAFETY: the caller is out of the client table while its script runs, and lives until
    // the run ends.
    let caller = unsafe { &*b.caller };
    if let Err(d) = ex.acl_check(caller, caller.user, cmd, argv, Context::Lua, b.now_ms) {
        return refuse(match d {
            Denied::Command => err::SCRIPT_ACL_COMMAND.into(),
            Denied::Key(_) => err::SCRIPT_ACL_KEY.into(),
            Denied::Channel(_) => err::SCRIPT_ACL_CHANNEL.into(),
        });
    }
    // May-replicate commands (PUBLISH ...) count as writes: read-only scripts then run
    // during CLIENT PAUSE WRITE, as in Redis.
    if cmd.meta.has(flag::WRITE | flag::MAY_REPLICATE) && b.readonly {
        return refuse(err::LUA_WRITE_IN_READONLY.into());
    }
    // After the script's first write, failing would break its atomicity.
    if cmd.meta.has(flag::WRITE) && !b.wrote {
        let obeyed =
            caller.has(crate::exec::client::flags::MASTER | crate::exec::client::flags::OBEY);
        if ex.repl.is_replica() && ex.settings.replica_read_only && !obeyed {
            return refuse(err::READONLY_REPLICA.into());
        }
        if let Some(e) = ex.write_refusal() {
            return refuse(e);
        }
    }
    // Over maxmemory when the script started: it may not grow memory, unless it already
    // wrote or declared allow-oom (Redis's scriptVerifyOOM).
    if cmd.meta.has(flag::DENYOOM)
        && !b.allow_oom
        && !b.wrote
        && ex.oom_at_command_start
        && ex.settings.maxmemory > 0
    {
        return refuse(err::OOM.into());
    }
    // In a cluster the keys must be served here, and in one slot unless the script said
    // otherwise (Redis's scriptVerifyClusterState).
    if ex.cluster.is_some()
        && !caller.has(crate::exec::client::flags::MASTER | crate::exec::client::flags::OBEY)
    {
        let slot = crate::cluster::glue::route(ex, caller, cmd, argv).map_err(|e| {
            let text = e.text();
            let mapped = if text == err::CLUSTERDOWN_READ_ONLY.as_bytes() {
                err::SCRIPT_CLUSTER_DOWN_RO
            } else if text == err::CLUSTERDOWN.as_bytes() {
                err::SCRIPT_CLUSTER_DOWN
            } else {
                err::SCRIPT_NON_LOCAL_KEY
            };
            (Some(cmd), CmdError::from(mapped))
        })?;
        if let (Some(slot), false) = (slot, b.allow_cross_slot) {
            match b.cluster_slot.get() {
                None => b.cluster_slot.set(Some(slot)),
                Some(first) if first != slot => return refuse(err::SCRIPT_CROSS_SLOT.into()),
                _ => {}
            }
        }
    }
    Ok(cmd)
}

/// Pushes the Lua form of the reply at `buf[*pos..]` (redisProtocolToLuaType).
pub unsafe fn push_reply(l: *mut lua_State, buf: &[u8], pos: &mut usize) {
    unsafe {
        ffi::lua_checkstack(l, 5);
        let kind = buf[*pos];
        let line = read_line(buf, pos);
        match kind {
            b':' => ffi::lua_pushnumber(l, parse_i64(line) as f64),
            b'$' => match parse_i64(line) {
                -1 => ffi::lua_pushboolean(l, 0),
                n => {
                    let n = n as usize;
                    push_bytes(l, &buf[*pos..*pos + n]);
                    *pos += n + 2;
                }
            },
            b'+' => {
                ffi::lua_createtable(l, 0, 1);
                set_field_bytes(l, b"ok", line);
            }
            b'-' => {
                ffi::lua_createtable(l, 0, 1);
                set_field_bytes(l, b"err", line);
            }
            b'*' | b'~' | b'%' => {
                let n = parse_i64(line);
                if n < 0 {
                    ffi::lua_pushboolean(l, 0);
                    return;
                }
                match kind {
                    b'*' => {
                        ffi::lua_createtable(l, n as c_int, 0);
                        for i in 1..=n {
                            push_reply(l, buf, pos);
                            ffi::lua_rawseti(l, -2, i as ffi::lua_Integer);
                        }
                    }
                    b'~' => {
                        ffi::lua_createtable(l, 0, 1);
                        push_bytes(l, b"set");
                        ffi::lua_createtable(l, 0, n as c_int);
                        for _ in 0..n {
                            push_reply(l, buf, pos);
                            ffi::lua_pushboolean(l, 1);
                            ffi::lua_rawset(l, -3);
                        }
                        ffi::lua_rawset(l, -3);
                    }
                    _ => {
                        ffi::lua_createtable(l, 0, 1);
                        push_bytes(l, b"map");
                        ffi::lua_createtable(l, 0, n as c_int);
                        for _ in 0..n {
                            push_reply(l, buf, pos);
                            push_reply(l, buf, pos);
                            ffi::lua_rawset(l, -3);
                        }
                        ffi::lua_rawset(l, -3);
                    }
                }
            }
            b'_' => ffi::lua_pushnil(l),
            b'#' => ffi::lua_pushboolean(l, c_int::from(line == b"t")),
            b',' => {
                ffi::lua_createtable(l, 0, 1);
                push_bytes(l, b"double");
                let v = crate::util::num::strtod_prefix(line);
                ffi::lua_pushnumber(l, v);
                ffi::lua_rawset(l, -3);
            }
            b'(' => {
                ffi::lua_createtable(l, 0, 1);
                set_field_bytes(l, b"big_number", line);
            }
            b'=' => {
                let n = parse_i64(line) as usize;
                let body = &buf[*pos..*pos + n];
                *pos += n + 2;
                ffi::lua_createtable(l, 0, 1);
                push_bytes(l, b"verbatim_string");
                ffi::lua_createtable(l, 0, 2);
                set_field_bytes(l, b"format", &body[..3.min(body.len())]);
                set_field_bytes(l, b"string", body.get(4..).unwrap_or(&[]));
                ffi::lua_rawset(l, -3);
            }
            // Attributes are dropped, as Redis does; the value follows them.
            b'|' => {
                for _ in 0..parse_i64(line) * 2 {
                    push_reply(l, buf, pos);
                    ffi::lua_settop(l, -2);
                }
                push_reply(l, buf, pos);
            }
            _ => ffi::lua_pushnil(l),
        }
    }
}

fn read_line<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let start = *pos + 1;
    let end = memchr::memchr(b'\r', &buf[start..]).map_or(buf.len(), |i| start + i);
    *pos = (end + 2).min(buf.len());
    &buf[start..end]
}

fn parse_i64(s: &[u8]) -> i64 {
    crate::util::num::parse_i64(s).unwrap_or(0)
}

// ---- Lua value → reply ----

/// Where a script's result goes: the caller's reply, and the error replies written in it,
/// for the statistics (Redis's luaReplyToRedisReply counts each one unless a command already
/// did).
pub struct ScriptReply<'a> {
    pub out: &'a mut ReplyBuf,
    /// The script's protocol (redis.setresp), for booleans.
    pub resp3: bool,
    /// Codes of the errors written that nothing counted yet.
    pub new_errors: Vec<Vec<u8>>,
    /// An error written that a command already counted (the script failed all the same).
    pub counted_error: bool,
    /// Where the script's reply starts in `out`, and how large it may grow: a table that
    /// holds itself (or one table many times) expands exponentially, which in Redis fills
    /// memory until the server dies. Past the limit the conversion stops.
    pub start: usize,
    pub limit: usize,
    pub overflow: bool,
}

impl<'a> ScriptReply<'a> {
    pub fn new(out: &'a mut ReplyBuf, resp3: bool, limit: usize) -> Self {
        let start = out.len();
        ScriptReply {
            out,
            resp3,
            new_errors: Vec::new(),
            counted_error: false,
            start,
            limit,
            overflow: false,
        }
    }

    /// Replaces an overgrown reply by an error; true when it did.
    pub fn discard_if_overflowed(&mut self) -> bool {
        if self.overflow {
            self.out.buf.truncate(self.start);
            self.out.error(err::LUA_REPLY_TOO_LARGE.as_bytes());
            self.new_errors = vec![err::error_code(err::LUA_REPLY_TOO_LARGE.as_bytes()).to_vec()];
            self.counted_error = false;
        }
        self.overflow
    }
}

/// Writes the value on top of the stack as a reply and pops it (luaReplyToRedisReply).
pub unsafe fn write_reply(l: *mut lua_State, w: &mut ScriptReply) {
    unsafe {
        if w.overflow || w.out.len() - w.start > w.limit {
            w.overflow = true;
            ffi::lua_settop(l, -2);
            return;
        }
        if ffi::lua_checkstack(l, 4) == 0 {
            w.out.error(err::LUA_STACK_LIMIT.as_bytes());
            ffi::lua_settop(l, -2);
            return;
        }
        match ffi::lua_type(l, -1) {
            ffi::LUA_TSTRING => w.out.bulk(str_at(l, -1)),
            // Booleans follow the script's protocol (redis.setresp), as in Redis.
            ffi::LUA_TBOOLEAN => {
                let v = ffi::lua_toboolean(l, -1) != 0;
                if w.resp3 {
                    w.out.bool(v);
                } else if v {
                    w.out.int(1);
                } else {
                    w.out.null();
                }
            }
            ffi::LUA_TNUMBER => w.out.int(lua_number_to_i64(ffi::lua_tonumber(l, -1))),
            ffi::LUA_TTABLE => write_table(l, w),
            _ => w.out.null(),
        }
        ffi::lua_settop(l, -2);
    }
}

/// C's `(long long)` cast on x86: out-of-range and NaN give i64::MIN.
pub fn lua_number_to_i64(v: f64) -> i64 {
    if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v) {
        v as i64
    } else {
        i64::MIN
    }
}

/// Pushes `t[field]` (raw) and returns its type; the caller pops it.
unsafe fn raw_field(l: *mut lua_State, field: &[u8]) -> c_int {
    unsafe {
        push_bytes(l, field);
        ffi::lua_rawget(l, -2);
        ffi::lua_type(l, -1)
    }
}

unsafe fn write_table(l: *mut lua_State, w: &mut ScriptReply) {
    unsafe {
        if raw_field(l, b"err") == ffi::LUA_TSTRING {
            let text = str_at(l, -1);
            let text = text.strip_prefix(b"-").unwrap_or(text);
            w.out.error(text);
            ffi::lua_settop(l, -2);
            // An error a command already counted (a redis.pcall result) is not counted again.
            if raw_field(l, b"ignore_error_stats_update") == ffi::LUA_TBOOLEAN
                && ffi::lua_toboolean(l, -1) != 0
            {
                w.counted_error = true;
            } else {
                w.new_errors.push(err::error_code(text).to_vec());
            }
            ffi::lua_settop(l, -2);
            return;
        }
        ffi::lua_settop(l, -2);
        if raw_field(l, b"ok") == ffi::LUA_TSTRING {
            let text: Vec<u8> = str_at(l, -1)
                .iter()
                .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
                .collect();
            w.out.simple(&text);
            ffi::lua_settop(l, -2);
            return;
        }
        ffi::lua_settop(l, -2);
        if raw_field(l, b"double") == ffi::LUA_TNUMBER {
            w.out.double(ffi::lua_tonumber(l, -1));
            ffi::lua_settop(l, -2);
            return;
        }
        ffi::lua_settop(l, -2);
        if raw_field(l, b"big_number") == ffi::LUA_TSTRING {
            let digits: Vec<u8> = str_at(l, -1)
                .iter()
                .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
                .collect();
            w.out.big_number(&digits);
            ffi::lua_settop(l, -2);
            return;
        }
        ffi::lua_settop(l, -2);
        if raw_field(l, b"verbatim_string") == ffi::LUA_TTABLE {
            if raw_field(l, b"format") == ffi::LUA_TSTRING {
                let format = str_at(l, -1);
                push_bytes(l, b"string");
                ffi::lua_rawget(l, -3);
                if ffi::lua_type(l, -1) == ffi::LUA_TSTRING && format.len() == 3 {
                    let f = [format[0], format[1], format[2]];
                    w.out.verbatim(&f, str_at(l, -1));
                    ffi::lua_settop(l, -4);
                    return;
                }
                ffi::lua_settop(l, -2);
            }
            ffi::lua_settop(l, -2);
        }
        ffi::lua_settop(l, -2);
        if raw_field(l, b"map") == ffi::LUA_TTABLE {
            let d = w.out.deferred_map();
            let mut n = 0;
            ffi::lua_pushnil(l);
            while !w.overflow && ffi::lua_next(l, -2) != 0 {
                ffi::lua_pushvalue(l, -2);
                write_reply(l, w); // key
                write_reply(l, w); // value
                n += 1;
            }
            // An overgrown reply is dropped whole: no header worth inserting.
            if !w.overflow {
                w.out.set_deferred_map(d, n);
            }
            ffi::lua_settop(l, -2);
            return;
        }
        ffi::lua_settop(l, -2);
        if raw_field(l, b"set") == ffi::LUA_TTABLE {
            let d = w.out.deferred_set();
            let mut n = 0;
            ffi::lua_pushnil(l);
            while !w.overflow && ffi::lua_next(l, -2) != 0 {
                ffi::lua_settop(l, -2);
                ffi::lua_pushvalue(l, -1);
                write_reply(l, w);
                n += 1;
            }
            // An overgrown reply is dropped whole: no header worth inserting.
            if !w.overflow {
                w.out.set_deferred(d, n);
            }
            ffi::lua_settop(l, -2);
            return;
        }
        ffi::lua_settop(l, -2);
        let d = w.out.deferred_array();
        let mut n = 0;
        while !w.overflow {
            ffi::lua_rawgeti(l, -1, n as ffi::lua_Integer + 1);
            if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
                ffi::lua_settop(l, -2);
                break;
            }
            write_reply(l, w);
            n += 1;
        }
        // An overgrown reply is dropped whole: no header worth inserting.
        if !w.overflow {
            w.out.set_deferred(d, n);
        }
    }
}

// ---- math.random on rand48 ----

pub unsafe extern "C-unwind" fn math_random(l: *mut lua_State) -> c_int {
    let b = unsafe { bridge() };
    let max = i32::MAX as f64;
    let r = f64::from(b.lrand48() % i32::MAX) / max;
    unsafe {
        match ffi::lua_gettop(l) {
            0 => ffi::lua_pushnumber(l, r),
            1 => {
                let u = ffi::luaL_checkinteger(l, 1) as i32;
                if u < 1 {
                    return ffi::luaL_argerror(l, 1, c"interval is empty".as_ptr());
                }
                ffi::lua_pushnumber(l, (r * f64::from(u)).floor() + 1.0);
            }
            2 => {
                let lo = ffi::luaL_checkinteger(l, 1) as i32;
                let hi = ffi::luaL_checkinteger(l, 2) as i32;
                if lo > hi {
                    return ffi::luaL_argerror(l, 2, c"interval is empty".as_ptr());
                }
                ffi::lua_pushnumber(
                    l,
                    (r * (f64::from(hi) - f64::from(lo) + 1.0)).floor() + f64::from(lo),
                );
            }
            _ => return ffi::luaL_error(l, c"wrong number of arguments".as_ptr()),
        }
    }
    1
}

pub unsafe extern "C-unwind" fn math_randomseed(l: *mut lua_State) -> c_int {
    let seed = unsafe { ffi::luaL_checkinteger(l, 1) } as i32 as u32;
    // redisSrand48: the seed becomes the high 32 bits, the low 16 are 0x330E.
    unsafe { bridge() }.rand48 = (u64::from(seed) << 16) | 0x330E;
    0
}

// ---- the busy hook ----

pub unsafe extern "C-unwind" fn count_hook(l: *mut lua_State, ar: *mut ffi::lua_Debug) {
    let killed = unsafe { check_busy() };
    if let Some(text) = killed {
        unsafe {
            // Fire on every line from now on, so a pcall in the script cannot swallow the kill;
            // our own Lua helpers (the pcall wrapper, the library loader) run to their end.
            ffi::lua_sethook(l, Some(count_hook), ffi::LUA_MASKLINE, 0);
            if ffi::lua_getinfo(l, c"S".as_ptr(), ar) != 0
                && !(*ar).source.is_null()
                && std::ffi::CStr::from_ptr((*ar).source).to_bytes() == b"=cinnabar"
            {
                return;
            }
            push_error_table(l, text.as_bytes(), false);
            ffi::lua_error(l);
        }
    }
}

/// Past the threshold, lets the network layer serve other clients (they get BUSY, or
/// SCRIPT KILL / FUNCTION KILL / SHUTDOWN NOSAVE run). Returns the kill message, if any.
unsafe fn check_busy() -> Option<&'static str> {
    let b = unsafe { bridge() };
    if b.loading {
        return (b.start.elapsed() >= LOAD_TIME_LIMIT).then_some(err::FUNCTION_LOAD_TIMEOUT);
    }
    if !b.running {
        return None;
    }
    if b.kill.is_none() {
        // SAFETY: as in call_command.
        let ex = unsafe { &mut *b.ex };
        let threshold = ex.settings.busy_reply_threshold_ms;
        let elapsed = b.start.elapsed().as_millis() as u64;
        if elapsed >= threshold {
            if !b.busy {
                b.busy = true;
                ex.script_busy = Some(b.is_function);
                tracing::warn!(
                    "Slow script detected: still in execution after {elapsed} milliseconds. You can try killing the script using the {} command. Script name is: {}.",
                    if b.is_function { "FUNCTION KILL" } else { "SCRIPT KILL" },
                    String::from_utf8_lossy(&b.name)
                );
            }
            ex.serve_while_busy();
            if ex.exiting || ex.shutdown_asap.is_some() {
                b.kill = Some(err::SCRIPT_SHUTDOWN);
            }
        }
    }
    b.kill
}
