//! The Lua debugger (Redis's LDB): after SCRIPT DEBUG YES or SYNC, the client's next EVAL runs
//! under a line hook that stops at each step or breakpoint and reads debugger commands from
//! the client's own connection, with blocking I/O, until one of them lets the script go on.
//! Output goes back as arrays of status lines. The session ends with `<endsession>`, the
//! script's reply, and the connection's close.
//!
//! SYNC debugs in the server itself, which serves nobody else meanwhile; YES forks, and the
//! child runs the session on its copy of the dataset (`cmd::scripting` starts both).

use std::ffi::{c_int, CStr};
use std::time::{Duration, Instant};

use mlua::ffi::{self, lua_State};

use super::bridge::{bridge_if_installed, push_bytes, push_error_table, str_at};
use crate::exec::CallerIo;
use crate::util::num::atoll_prefix;

/// Breakpoints a session may hold (Redis's LDB_BREAKPOINTS_MAX).
const MAX_BREAKPOINTS: usize = 64;
/// Default trim of logged replies and values (LDB_MAX_LEN_DEFAULT).
const MAXLEN_DEFAULT: usize = 256;
/// Nesting shown of a table inside tables (LDB_MAX_VALUES_DEPTH: LUA_MINSTACK / 2).
const MAX_VALUE_DEPTH: u32 = 10;
/// What a debugger command may accumulate before the session fails.
const MAX_COMMAND_BUFFER: usize = 1 << 20;
/// How long a stopped script may run without a stop before it is stopped, when
/// busy-reply-threshold is 0.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5000);

pub const HELP: &[&str] = &[
    "Redis Lua debugger help:",
    "[h]elp               Show this help.",
    "[s]tep               Run current line and stop again.",
    "[n]ext               Alias for step.",
    "[c]ontinue           Run till next breakpoint.",
    "[l]ist               List source code around current line.",
    "[l]ist [line]        List source code around [line].",
    "                     line = 0 means: current position.",
    "[l]ist [line] [ctx]  In this form [ctx] specifies how many lines",
    "                     to show before/after [line].",
    "[w]hole              List all source code. Alias for 'list 1 1000000'.",
    "[p]rint              Show all the local variables.",
    "[p]rint <var>        Show the value of the specified variable.",
    "                     Can also show global vars KEYS and ARGV.",
    "[b]reak              Show all breakpoints.",
    "[b]reak <line>       Add a breakpoint to the specified line.",
    "[b]reak -<line>      Remove breakpoint from the specified line.",
    "[b]reak 0            Remove all breakpoints.",
    "[t]race              Show a backtrace.",
    "[e]val <code>        Execute some Lua code (in a different callframe).",
    "[r]edis <cmd>        Execute a Redis command.",
    "[m]axlen [len]       Trim logged Redis replies and Lua var dumps to len.",
    "                     Specifying zero as <len> means unlimited.",
    "[a]bort              Stop the execution of the script. In sync",
    "                     mode dataset changes will be retained.",
    "",
    "Debugger functions you can call from Lua scripts:",
    "redis.debug()        Produce logs in the debugger console.",
    "redis.breakpoint()   Stop execution like if there was a breakpoint in the",
    "                     next line of code.",
];

pub const UNKNOWN_COMMAND: &str =
    "<error> Unknown Redis Lua debugger command or wrong number of arguments.";
pub const PROTOCOL_ERROR: &str = "protocol error";
pub const BUFFER_FULL: &str = "max client buffer reached";
pub const ABORTED: &str = "script aborted for user request";
pub const TIMEOUT_AND_GONE: &str = "timeout during Lua debugging with client closing connection";

/// The debugger's state (Redis's `ldb`): one per EVAL interpreter.
pub struct Ldb {
    /// A session runs (the script being debugged is on the stack).
    pub active: bool,
    /// Stop at the next line.
    pub step: bool,
    /// redis.breakpoint() was called: stop at the next line.
    pub luabp: bool,
    breakpoints: Vec<i32>,
    /// The script's lines, for listings.
    src: Vec<Vec<u8>>,
    pub current_line: i32,
    maxlen: usize,
    maxlen_hint_sent: bool,
    /// Lines not sent yet.
    logs: Vec<Vec<u8>>,
    /// Bytes of a debugger command read so far.
    cbuf: Vec<u8>,
    io: Option<CallerIo>,
}

impl Default for Ldb {
    fn default() -> Self {
        Ldb {
            active: false,
            step: false,
            luabp: false,
            breakpoints: Vec::new(),
            src: Vec::new(),
            current_line: 0,
            maxlen: MAXLEN_DEFAULT,
            maxlen_hint_sent: false,
            logs: Vec::new(),
            cbuf: Vec::new(),
            io: None,
        }
    }
}

/// What parsing the command buffer found (Redis's ldbReplParseCommand).
#[derive(Debug, PartialEq)]
enum Parsed {
    Command(Vec<Vec<u8>>),
    Incomplete,
    ProtocolError,
}

/// How the debugger's prompt ended.
enum ReplEnd {
    /// Run on (step, continue).
    Resume,
    /// The client went away: the script runs to its end without stops.
    ClientGone,
    /// The script must fail with this error.
    Raise(&'static str),
}

impl Ldb {
    /// SCRIPT DEBUG YES/SYNC (Redis's ldbEnable): a fresh session state.
    pub fn enable(&mut self) {
        *self = Ldb {
            step: true,
            ..Ldb::default()
        };
    }

    /// Starts a session over `source` on the caller's connection.
    pub fn start(&mut self, io: CallerIo, source: &[u8]) {
        self.io = Some(io);
        self.active = true;
        let mut end = source.len();
        while end > 0 && matches!(source[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        self.src = source[..end]
            .split(|&c| c == b'\n')
            .map(<[u8]>::to_vec)
            .collect();
        if end == 0 {
            self.src.clear();
        }
    }

    /// Ends the session: the last lines and the `<endsession>` mark go out.
    pub fn end(&mut self) {
        self.log(b"<endsession>".to_vec());
        self.send_logs();
        self.active = false;
        self.src.clear();
    }

    /// Writes `bytes` to the debugging client.
    fn write_raw(&self, bytes: &[u8]) {
        if let Some(io) = self.io {
            // Errors show up at the next read, as in Redis.
            let _ = io.write(bytes);
        }
    }

    /// Stepping in a session: redis.call logs its command and reply (Redis's ldbIsEnabled).
    pub fn logging(&self) -> bool {
        self.active && self.step
    }

    pub fn log(&mut self, line: Vec<u8>) {
        self.logs.push(line);
    }

    /// Logs `line` trimmed to `maxlen`, with a hint the first time (ldbLogWithMaxLen).
    pub fn log_trimmed(&mut self, mut line: Vec<u8>) {
        let trimmed = self.maxlen != 0 && line.len() > self.maxlen;
        if trimmed {
            line.truncate(self.maxlen);
            line.extend_from_slice(b" ...");
        }
        self.log(line);
        if trimmed && !self.maxlen_hint_sent {
            self.maxlen_hint_sent = true;
            self.log(
                b"<hint> The above reply was trimmed. Use 'maxlen 0' to disable trimming.".to_vec(),
            );
        }
    }

    /// Sends the pending lines as an array of status replies; newlines become spaces.
    pub fn send_logs(&mut self) {
        let mut out = Vec::with_capacity(64);
        out.push(b'*');
        crate::util::num::push_u64(&mut out, self.logs.len() as u64);
        out.extend_from_slice(b"\r\n");
        for line in self.logs.drain(..) {
            out.push(b'+');
            out.extend(
                line.iter()
                    .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
            );
            out.extend_from_slice(b"\r\n");
        }
        self.write_raw(&out);
    }

    fn source_line(&self, line: i32) -> &[u8] {
        usize::try_from(line - 1)
            .ok()
            .and_then(|i| self.src.get(i))
            .map_or(b"<out of range source code line>", |l| l)
    }

    fn is_breakpoint(&self, line: i32) -> bool {
        self.breakpoints.contains(&line)
    }

    /// One line of a listing: `->` marks the current line, `#` a breakpoint.
    fn log_source_line(&mut self, line: i32) {
        let prefix: &[u8] = match (line == self.current_line, self.is_breakpoint(line)) {
            (true, true) => b"->#",
            (true, false) => b"-> ",
            (false, true) => b"  #",
            (false, false) => b"   ",
        };
        let mut out = prefix.to_vec();
        let number = line.to_string();
        out.extend_from_slice(number.as_bytes());
        // %-3d
        out.resize(out.len() + 3usize.saturating_sub(number.len()), b' ');
        out.push(b' ');
        out.extend_from_slice(self.source_line(line));
        self.log(out);
    }

    /// The lines within `context` of `around` (all of them when `around` is 0).
    fn list(&mut self, around: i32, context: i32) {
        for line in 1..=self.src.len() as i32 {
            if around != 0 && (i64::from(around) - i64::from(line)).abs() > i64::from(context) {
                continue;
            }
            self.log_source_line(line);
        }
    }

    /// `break` with its arguments (ldbBreak).
    fn break_command(&mut self, args: &[Vec<u8>]) {
        if args.is_empty() {
            if self.breakpoints.is_empty() {
                self.log(b"No breakpoints set. Use 'b <line>' to add one.".to_vec());
            } else {
                self.log(format!("{} breakpoints set:", self.breakpoints.len()).into_bytes());
                for line in self.breakpoints.clone() {
                    self.log_source_line(line);
                }
            }
            return;
        }
        for arg in args {
            let Some(line) = crate::util::num::parse_i64(arg) else {
                let mut m = b"Invalid argument:'".to_vec();
                m.extend_from_slice(arg);
                m.push(b'\'');
                self.log(m);
                continue;
            };
            if line == 0 {
                self.breakpoints.clear();
                self.log(b"All breakpoints removed.".to_vec());
            } else if line > 0 {
                if self.breakpoints.len() == MAX_BREAKPOINTS {
                    self.log(b"Too many breakpoints set.".to_vec());
                } else if line <= self.src.len() as i64 && !self.is_breakpoint(line as i32) {
                    self.breakpoints.push(line as i32);
                    self.list(line as i32, 1);
                } else {
                    self.log(b"Wrong line number.".to_vec());
                }
            } else {
                let target = line.checked_neg();
                match self
                    .breakpoints
                    .iter()
                    .position(|&b| Some(i64::from(b)) == target)
                {
                    Some(i) => {
                        self.breakpoints.remove(i);
                        self.log(b"Breakpoint removed.".to_vec());
                    }
                    None => self.log(b"No breakpoint in the specified line.".to_vec()),
                }
            }
        }
    }

    /// `maxlen [len]` (ldbMaxlen).
    fn maxlen_command(&mut self, args: &[Vec<u8>]) {
        if let [len] = args {
            let mut len = atoi(len);
            self.maxlen_hint_sent = true;
            if len != 0 && len <= 60 {
                len = 60;
            }
            self.maxlen = len as usize;
        }
        let line = if self.maxlen != 0 {
            format!("<value> replies are truncated at {} bytes.", self.maxlen)
        } else {
            "<value> replies are unlimited.".to_string()
        };
        self.log(line.into_bytes());
    }

    /// Parses one command from the buffer: a RESP array of 1 to 1024 bulk strings of 1 to
    /// 1024 bytes, read as Redis's forgiving parser reads it (C strings: a NUL ends the
    /// buffer there).
    fn parse_command(&self) -> Parsed {
        let buf = &self.cbuf;
        if buf.is_empty() {
            return Parsed::Incomplete;
        }
        let cstr_len = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
        let find_crlf = |from: usize| {
            buf[from.min(cstr_len)..cstr_len]
                .windows(2)
                .position(|w| w == b"\r\n")
                .map(|i| from + i)
        };
        let Some(star) = buf[..cstr_len].iter().position(|&c| c == b'*') else {
            return Parsed::ProtocolError;
        };
        let Some(eol) = find_crlf(star) else {
            return Parsed::Incomplete;
        };
        let count = atoi(&buf[star + 1..eol]);
        if !(1..=1024).contains(&count) {
            return Parsed::ProtocolError;
        }
        let mut p = eol + 2;
        let mut argv = Vec::with_capacity(count as usize);
        while argv.len() < count as usize {
            match buf.get(p) {
                None | Some(0) => return Parsed::Incomplete,
                Some(b'$') => {}
                Some(_) => return Parsed::ProtocolError,
            }
            let Some(eol) = find_crlf(p) else {
                return Parsed::Incomplete;
            };
            let len = atoi(&buf[p + 1..eol]);
            if !(1..=1024).contains(&len) {
                return Parsed::ProtocolError;
            }
            let start = eol + 2;
            let end = start + len as usize;
            if end + 2 > buf.len() {
                return Parsed::Incomplete;
            }
            argv.push(buf[start..end].to_vec());
            if &buf[end..end + 2] != b"\r\n" {
                return Parsed::ProtocolError;
            }
            p = end + 2;
        }
        Parsed::Command(argv)
    }

    /// Reads until a whole command is in the buffer, which is then emptied.
    fn read_command(&mut self) -> Result<Vec<Vec<u8>>, ReplEnd> {
        loop {
            match self.parse_command() {
                Parsed::Command(argv) => {
                    self.cbuf.clear();
                    return Ok(argv);
                }
                Parsed::ProtocolError => return Err(ReplEnd::Raise(PROTOCOL_ERROR)),
                Parsed::Incomplete => {}
            }
            let mut chunk = [0u8; 1024];
            let read = match self.io {
                Some(io) => io.read(&mut chunk),
                None => Ok(0),
            };
            match read {
                Ok(n) if n > 0 => self.cbuf.extend_from_slice(&chunk[..n]),
                _ => {
                    // Without a client the script runs to its end.
                    self.step = false;
                    self.breakpoints.clear();
                    return Err(ReplEnd::ClientGone);
                }
            }
            if self.cbuf.len() > MAX_COMMAND_BUFFER {
                self.cbuf = Vec::new();
                return Err(ReplEnd::Raise(BUFFER_FULL));
            }
        }
    }
}

/// C's atoi, for the debugger's numbers (Redis parses them so).
fn atoi(s: &[u8]) -> i32 {
    atoll_prefix(s) as i32
}

/// The name of a debugger command, as C's strcasecmp sees it (up to a NUL).
fn command_is(argv0: &[u8], short: &str, long: &str) -> bool {
    let name = argv0.split(|&c| c == 0).next().unwrap_or_default();
    name.eq_ignore_ascii_case(short.as_bytes()) || name.eq_ignore_ascii_case(long.as_bytes())
}

/// The session's state, if a session runs on this thread's interpreter.
fn session() -> Option<&'static mut Ldb> {
    // SAFETY: the bridge lives as long as its engine; the executor thread alone uses it,
    // and no caller keeps the reference across a call back into Lua.
    unsafe { bridge_if_installed() }.map(|b| &mut b.ldb)
}

/// Logs an error a script's redis lib call produced, while stepping (Redis's luaPushError).
pub fn log_error(text: &[u8]) {
    if let Some(ldb) = session().filter(|l| l.logging()) {
        let mut line = b"<error> ".to_vec();
        line.extend_from_slice(text);
        ldb.log(line);
    }
}

/// Logs the command redis.call is about to run, while stepping: ten arguments at most.
pub fn log_command(argv: &[&[u8]]) {
    let Some(ldb) = session().filter(|l| l.logging()) else {
        return;
    };
    let mut line = b"<redis>".to_vec();
    for (j, arg) in argv.iter().enumerate() {
        if j == 10 {
            // Redis's count, one short of the arguments left.
            line.extend_from_slice(format!(" ... ({} more)", argv.len() - j - 1).as_bytes());
            break;
        }
        line.push(b' ');
        line.extend_from_slice(arg);
    }
    ldb.log(line);
}

/// Logs the reply redis.call got, in human form, while stepping.
pub fn log_reply(reply: &[u8]) {
    let Some(ldb) = session().filter(|l| l.logging()) else {
        return;
    };
    let mut line = b"<reply> ".to_vec();
    reply_to_human(&mut line, reply, &mut 0);
    ldb.log_trimmed(line);
}

/// Appends the RESP reply at `reply[*pos..]` in the debugger's human form
/// (ldbRedisProtocolToHuman) and moves `pos` past it.
fn reply_to_human(out: &mut Vec<u8>, reply: &[u8], pos: &mut usize) {
    let rest = &reply[(*pos).min(reply.len())..];
    let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
        *pos = reply.len();
        return;
    };
    let (kind, line) = (rest.first().copied().unwrap_or(0), &rest[1.min(eol)..eol]);
    *pos += eol + 2;
    let count = || atoll_prefix(line);
    let items = |out: &mut Vec<u8>, pos: &mut usize, n: i64, sep: &[u8]| {
        for j in 0..n {
            reply_to_human(out, reply, pos);
            if j != n - 1 {
                out.extend_from_slice(sep);
            }
        }
    };
    match kind {
        b':' => out.extend_from_slice(line),
        b'$' => {
            let n = count();
            if n < 0 {
                out.extend_from_slice(b"NULL");
            } else {
                let end = (*pos + n as usize).min(reply.len());
                crate::util::splitargs::repr(&reply[*pos..end], out);
                *pos = (end + 2).min(reply.len());
            }
        }
        b'+' | b'-' => crate::util::splitargs::repr(&rest[..eol], out),
        b'*' => {
            let n = count();
            if n < 0 {
                out.extend_from_slice(b"NULL");
            } else {
                out.push(b'[');
                items(out, pos, n, b",");
                out.push(b']');
            }
        }
        b'~' => {
            out.extend_from_slice(b"~(");
            items(out, pos, count(), b",");
            out.push(b')');
        }
        b'%' => {
            out.push(b'{');
            let n = count();
            for j in 0..n {
                reply_to_human(out, reply, pos);
                out.extend_from_slice(b" => ");
                reply_to_human(out, reply, pos);
                if j != n - 1 {
                    out.push(b',');
                }
            }
            out.push(b'}');
        }
        b'_' => out.extend_from_slice(b"(null)"),
        b'#' => out.extend_from_slice(if line == b"t" { b"#true" } else { b"#false" }),
        b',' => {
            out.extend_from_slice(b"(double) ");
            out.extend_from_slice(line);
        }
        _ => {}
    }
}

/// Appends the Lua value at `idx` in the debugger's form (ldbCatStackValueRec): strings
/// quoted, numbers as %g, tables as `{a; b}` when they are arrays, `{[k]=v}` otherwise.
unsafe fn cat_value(out: &mut Vec<u8>, l: *mut lua_State, idx: c_int, level: u32) {
    if level == MAX_VALUE_DEPTH {
        out.extend_from_slice(b"<max recursion level reached! Nested table?>");
        return;
    }
    let level = level + 1;
    unsafe {
        match ffi::lua_type(l, idx) {
            ffi::LUA_TSTRING => crate::util::splitargs::repr(str_at(l, idx), out),
            ffi::LUA_TBOOLEAN => out.extend_from_slice(if ffi::lua_toboolean(l, idx) != 0 {
                b"true"
            } else {
                b"false"
            }),
            ffi::LUA_TNUMBER => push_printf_g(out, ffi::lua_tonumber(l, idx)),
            ffi::LUA_TNIL => out.extend_from_slice(b"nil"),
            ffi::LUA_TTABLE => {
                if ffi::lua_checkstack(l, 4) == 0 {
                    out.extend_from_slice(b"<max recursion level reached! Nested table?>");
                    return;
                }
                let (mut as_array, mut as_map) = (Vec::new(), Vec::new());
                let mut is_array = true;
                let mut expected = 1.0;
                ffi::lua_pushnil(l);
                while ffi::lua_next(l, idx - 1) != 0 {
                    if is_array
                        && (ffi::lua_type(l, -2) != ffi::LUA_TNUMBER
                            || ffi::lua_tonumber(l, -2) != expected)
                    {
                        is_array = false;
                    }
                    cat_value(&mut as_array, l, -1, level);
                    as_array.extend_from_slice(b"; ");
                    as_map.push(b'[');
                    cat_value(&mut as_map, l, -2, level);
                    as_map.extend_from_slice(b"]=");
                    cat_value(&mut as_map, l, -1, level);
                    as_map.extend_from_slice(b"; ");
                    ffi::lua_settop(l, -2);
                    expected += 1.0;
                }
                let chosen = if is_array { as_array } else { as_map };
                out.push(b'{');
                out.extend_from_slice(&chosen[..chosen.len().saturating_sub(2)]);
                out.push(b'}');
            }
            t @ (ffi::LUA_TFUNCTION
            | ffi::LUA_TUSERDATA
            | ffi::LUA_TTHREAD
            | ffi::LUA_TLIGHTUSERDATA) => {
                let name = match t {
                    ffi::LUA_TFUNCTION => "function",
                    ffi::LUA_TUSERDATA => "userdata",
                    ffi::LUA_TTHREAD => "thread",
                    _ => "light-userdata",
                };
                out.extend_from_slice(
                    format!("\"{name}@{:p}\"", ffi::lua_topointer(l, idx)).as_bytes(),
                );
            }
            _ => out.extend_from_slice(b"\"<unknown-lua-type>\""),
        }
    }
}

/// C's `%g`.
fn push_printf_g(out: &mut Vec<u8>, v: f64) {
    let mut buf = [0u8; 64];
    // SAFETY: snprintf writes at most buf.len() bytes, NUL included.
    let n = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%g".as_ptr(), v) };
    out.extend_from_slice(&buf[..(n.max(0) as usize).min(buf.len() - 1)]);
}

/// Logs the value on top of the stack after `prefix`, trimmed to maxlen.
unsafe fn log_top_value(ldb: &mut Ldb, l: *mut lua_State, prefix: &[u8]) {
    let mut line = prefix.to_vec();
    unsafe { cat_value(&mut line, l, -1, 0) };
    ldb.log_trimmed(line);
}

/// redis.debug(...): logs its arguments with the line they come from, in a session.
/// # Safety
/// Called by Lua, as a C function of the `redis` table.
pub unsafe extern "C-unwind" fn lua_debug(l: *mut lua_State) -> c_int {
    let Some(ldb) = session().filter(|l| l.active) else {
        return 0;
    };
    unsafe {
        let argc = ffi::lua_gettop(l);
        let mut line = format!("<debug> line {}: ", ldb.current_line).into_bytes();
        for i in 1..=argc {
            cat_value(&mut line, l, i - argc - 1, 0);
            if i != argc {
                line.extend_from_slice(b", ");
            }
        }
        ldb.log(line);
    }
    0
}

/// redis.breakpoint(): stops at the next line, in a session (true), or does nothing (false).
/// # Safety
/// Called by Lua, as a C function of the `redis` table.
pub unsafe extern "C-unwind" fn lua_breakpoint(l: *mut lua_State) -> c_int {
    let active = session().is_some_and(|ldb| {
        if ldb.active {
            ldb.luabp = true;
        }
        ldb.active
    });
    unsafe { ffi::lua_pushboolean(l, c_int::from(active)) };
    1
}

/// The hook of a debugged script (luaLdbLineHook): on each line of the script, and every
/// 100,000 instructions to catch a script that runs too long without stopping.
/// # Safety
/// Called by Lua, as the hook of the interpreter whose bridge is installed.
pub unsafe extern "C-unwind" fn line_hook(l: *mut lua_State, ar: *mut ffi::lua_Debug) {
    let raise = unsafe { stop_if_due(l, ar) };
    if let Some(text) = raise {
        unsafe {
            push_error_table(l, text.as_bytes(), false);
            ffi::lua_error(l);
        }
    }
}

/// Stops the script when it should, and serves the debugger's prompt; returns the error to
/// raise, if the session asks for one.
unsafe fn stop_if_due(l: *mut lua_State, ar: *mut ffi::lua_Debug) -> Option<&'static str> {
    let b = unsafe { bridge_if_installed() }?;
    unsafe {
        ffi::lua_getstack(l, 0, ar);
        ffi::lua_getinfo(l, c"Sl".as_ptr(), ar);
    }
    let ldb = &mut b.ldb;
    ldb.current_line = unsafe { (*ar).currentline };
    let bp = ldb.is_breakpoint(ldb.current_line) || ldb.luabp;
    // Only the script's own lines, not the helpers it calls.
    let source = unsafe { CStr::from_ptr((*ar).short_src.as_ptr()) }.to_bytes();
    if !source.windows(11).any(|w| w == b"user_script") {
        return None;
    }
    let mut timeout = false;
    if unsafe { (*ar).event } == ffi::LUA_HOOKCOUNT && !ldb.step && !bp {
        // SAFETY: the executor outlives the run.
        let threshold = unsafe { (*b.ex).settings.busy_reply_threshold_ms };
        let limit = match threshold {
            0 => DEFAULT_TIMEOUT,
            ms => Duration::from_millis(ms),
        };
        if b.start.elapsed() < limit {
            return None;
        }
        timeout = true;
        ldb.step = true;
    }
    if !ldb.step && !bp {
        return None;
    }
    let reason = if bp && ldb.luabp {
        "redis.breakpoint() called"
    } else if bp {
        "break point"
    } else if timeout {
        "timeout reached, infinite loop?"
    } else {
        "step over"
    };
    ldb.step = false;
    ldb.luabp = false;
    let line = ldb.current_line;
    ldb.log(format!("* Stopped at {line}, stop reason = {reason}").into_bytes());
    ldb.log_source_line(line);
    ldb.send_logs();
    match unsafe { repl(l) } {
        ReplEnd::Raise(text) => return Some(text),
        ReplEnd::ClientGone if timeout => return Some(TIMEOUT_AND_GONE),
        ReplEnd::ClientGone | ReplEnd::Resume => {}
    }
    // The time at the prompt does not count against the script.
    let b = unsafe { bridge_if_installed() }?;
    b.start = Instant::now();
    // SAFETY: the executor outlives the run; nothing else holds it while the hook runs.
    let ex = unsafe { &mut *b.ex };
    ex.clock.refresh();
    b.now_ms = ex.clock.now_ms();
    None
}

/// The debugger's prompt (ldbRepl): commands until one lets the script run on.
unsafe fn repl(l: *mut lua_State) -> ReplEnd {
    loop {
        let Some(ldb) = session() else {
            return ReplEnd::ClientGone;
        };
        let argv = match ldb.read_command() {
            Ok(argv) => argv,
            Err(end) => return end,
        };
        let (name, args) = (&argv[0], &argv[1..]);
        let is = |short, long| command_is(name, short, long);
        if is("s", "step") || is("n", "next") {
            ldb.step = true;
            return ReplEnd::Resume;
        } else if is("c", "continue") {
            return ReplEnd::Resume;
        } else if is("a", "abort") {
            return ReplEnd::Raise(ABORTED);
        } else if is("h", "help") {
            for line in HELP {
                ldb.log(line.as_bytes().to_vec());
            }
        } else if is("t", "trace") {
            unsafe { trace(ldb, l) };
        } else if is("m", "maxlen") {
            ldb.maxlen_command(args);
        } else if is("b", "break") {
            ldb.break_command(args);
        } else if is("e", "eval") {
            unsafe { eval(l, args) };
        } else if is("r", "redis") && !args.is_empty() {
            unsafe { redis_command(l, args) };
        } else if is("p", "print") {
            match args {
                [name] => unsafe { print_variable(ldb, l, name) },
                _ => unsafe { print_locals(ldb, l) },
            }
        } else if is("l", "list") {
            let mut around = ldb.current_line;
            if let Some(n) = args.first().map(|a| atoi(a)).filter(|&n| n > 0) {
                around = n;
            }
            let context = args.get(1).map_or(5, |a| atoi(a));
            ldb.list(around, context);
        } else if is("w", "whole") {
            ldb.list(1, 1_000_000);
        } else {
            ldb.log(UNKNOWN_COMMAND.as_bytes().to_vec());
        }
        // Commands that call into Lua may have logged: take the state anew.
        if let Some(ldb) = session() {
            ldb.send_logs();
        }
    }
}

/// `trace`: the script's frames, innermost first.
unsafe fn trace(ldb: &mut Ldb, l: *mut lua_State) {
    let mut ar: ffi::lua_Debug = unsafe { std::mem::zeroed() };
    let mut level = 0;
    unsafe {
        while ffi::lua_getstack(l, level, &mut ar) != 0 {
            ffi::lua_getinfo(l, c"Snl".as_ptr(), &mut ar);
            let source = CStr::from_ptr(ar.short_src.as_ptr()).to_bytes();
            if source.windows(11).any(|w| w == b"user_script") {
                let name = if ar.name.is_null() {
                    "top level".to_string()
                } else {
                    CStr::from_ptr(ar.name).to_string_lossy().into_owned()
                };
                let place = if level == 0 { "In" } else { "From" };
                ldb.log(format!("{place} {name}:").into_bytes());
                ldb.log_source_line(ar.currentline);
            }
            level += 1;
        }
    }
    if level == 0 {
        ldb.log(b"<error> Can't retrieve Lua stack.".to_vec());
    }
}

/// Calls `f` with the name of each local of the frame at `level`, the local's value on top
/// of the stack meanwhile, until `f` returns true. None when there is no such frame; else
/// whether `f` stopped the walk.
unsafe fn visit_locals(
    l: *mut lua_State,
    level: c_int,
    mut f: impl FnMut(&[u8]) -> bool,
) -> Option<bool> {
    let mut ar: ffi::lua_Debug = unsafe { std::mem::zeroed() };
    unsafe {
        if ffi::lua_getstack(l, level, &mut ar) == 0 {
            return None;
        }
        for i in 1.. {
            let name = ffi::lua_getlocal(l, &ar, i);
            if name.is_null() {
                break;
            }
            let stop = f(CStr::from_ptr(name).to_bytes());
            ffi::lua_settop(l, -2);
            if stop {
                return Some(true);
            }
        }
    }
    Some(false)
}

/// `print <var>`: the innermost local of that name, or the KEYS and ARGV globals.
unsafe fn print_variable(ldb: &mut Ldb, l: *mut lua_State, var: &[u8]) {
    for level in 0.. {
        let found = unsafe {
            visit_locals(l, level, |name| {
                let hit = name == var;
                if hit {
                    log_top_value(ldb, l, b"<value> ");
                }
                hit
            })
        };
        match found {
            Some(true) => return,
            Some(false) => {}
            None => break,
        }
    }
    if var == b"ARGV" || var == b"KEYS" {
        unsafe {
            push_bytes(l, var);
            ffi::lua_gettable(l, ffi::LUA_GLOBALSINDEX);
            log_top_value(ldb, l, b"<value> ");
            ffi::lua_settop(l, -2);
        }
    } else {
        ldb.log(b"No such variable.".to_vec());
    }
}

/// `print`: every local of the current frame.
unsafe fn print_locals(ldb: &mut Ldb, l: *mut lua_State) {
    let mut shown = 0;
    unsafe {
        visit_locals(l, 0, |name| {
            if !name.windows(12).any(|w| w == b"(*temporary)") {
                let mut prefix = b"<value> ".to_vec();
                prefix.extend_from_slice(name);
                prefix.extend_from_slice(b" = ");
                log_top_value(ldb, l, &prefix);
                shown += 1;
            }
            false
        })
    };
    if shown == 0 {
        ldb.log(b"No local variables in the current context.".to_vec());
    }
}

/// `eval <code>`: runs the code as an expression, or else as a statement, in its own frame.
unsafe fn eval(l: *mut lua_State, args: &[Vec<u8>]) {
    let code = args.join(&b' ');
    let expr = [b"return ".as_slice(), &code].concat();
    let load = |text: &[u8]| unsafe {
        ffi::luaL_loadbuffer(l, text.as_ptr().cast(), text.len(), c"@ldb_eval".as_ptr())
    };
    unsafe {
        if load(&expr) != 0 {
            ffi::lua_settop(l, -2);
            if load(&code) != 0 {
                log_lua_error(l);
                return;
            }
        }
        if ffi::lua_pcall(l, 0, 1, 0) != 0 {
            log_lua_error(l);
            return;
        }
        if let Some(ldb) = session() {
            log_top_value(ldb, l, b"<retval> ");
        }
        ffi::lua_settop(l, -2);
    }
}

/// Logs (and pops) the error on top of the stack. An error object that is no string logs
/// its `err` field (a redis.call error) or a note (Redis crashes on those).
unsafe fn log_lua_error(l: *mut lua_State) {
    let mut line = b"<error> ".to_vec();
    unsafe {
        if ffi::lua_isstring(l, -1) != 0 {
            line.extend_from_slice(str_at(l, -1));
        } else if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
            ffi::lua_getfield(l, -1, c"err".as_ptr());
            if ffi::lua_isstring(l, -1) != 0 {
                line.extend_from_slice(str_at(l, -1));
            } else {
                line.extend_from_slice(b"(error object is not a string)");
            }
            ffi::lua_settop(l, -2);
        } else {
            line.extend_from_slice(b"(error object is not a string)");
        }
        ffi::lua_settop(l, -2);
    }
    if let Some(ldb) = session() {
        ldb.log(line);
    }
}

/// `redis <cmd>`: runs the command through redis.call with logging on, so the command and
/// its reply show.
unsafe fn redis_command(l: *mut lua_State, args: &[Vec<u8>]) {
    unsafe {
        if ffi::lua_checkstack(l, args.len() as c_int + 2) == 0 {
            if let Some(ldb) = session() {
                ldb.log(b"<reply> ".to_vec());
            }
            return;
        }
        ffi::lua_getfield(l, ffi::LUA_GLOBALSINDEX, c"redis".as_ptr());
        ffi::lua_getfield(l, -1, c"call".as_ptr());
        for a in args {
            push_bytes(l, a);
        }
        if let Some(ldb) = session() {
            ldb.step = true;
        }
        ffi::lua_pcall(l, args.len() as c_int, 1, 0);
        if let Some(ldb) = session() {
            ldb.step = false;
        }
        ffi::lua_settop(l, -3);
    }
}

/// Forks a debugging session: Ok(Some(pid)) here, Ok(None) in the child, which keeps only
/// the debugged client's socket (so this side's closes reach the other clients and the
/// listeners are free), ignores the signals that stop the server, and dies with it.
pub fn fork_session(client_fd: i32) -> Result<Option<i32>, std::io::Error> {
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the child runs the executor's own code on its copy of memory, as a snapshot
    // child does, and never returns to the event loop.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            // SAFETY: signal dispositions and prctl of this process only.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                libc::signal(libc::SIGTERM, libc::SIG_IGN);
                libc::signal(libc::SIGINT, libc::SIG_IGN);
            }
            crate::log::mark_child();
            close_sockets_except(client_fd);
            Ok(None)
        }
        pid => Ok(Some(pid)),
    }
}

/// Closes every socket of this process but `keep` (and the standard streams).
fn close_sockets_except(keep: i32) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2 && fd != keep)
        .collect();
    for fd in fds {
        // SAFETY: fstat into our own buffer; close of a descriptor this process owns and no
        // longer uses (the child never returns to the loop that held it).
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFSOCK {
                libc::close(fd);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_buffer(bytes: &[u8]) -> Parsed {
        let ldb = Ldb {
            cbuf: bytes.to_vec(),
            ..Ldb::default()
        };
        ldb.parse_command()
    }

    #[test]
    fn parses_commands_as_redis_does() {
        let cmd = |v: &[&str]| Parsed::Command(v.iter().map(|s| s.as_bytes().to_vec()).collect());
        assert_eq!(with_buffer(b"*1\r\n$1\r\ns\r\n"), cmd(&["s"]));
        assert_eq!(
            with_buffer(b"*2\r\n$1\r\np\r\n$3\r\nabc\r\n"),
            cmd(&["p", "abc"])
        );
        assert_eq!(with_buffer(b""), Parsed::Incomplete);
        assert_eq!(with_buffer(b"*2\r\n$1\r\np\r\n"), Parsed::Incomplete);
        assert_eq!(
            with_buffer(b"*2\r\n$1\r\np\r\n$3\r\nab"),
            Parsed::Incomplete
        );
        assert_eq!(with_buffer(b"*1"), Parsed::Incomplete);
        // Inline commands and bad lengths are protocol errors.
        assert_eq!(with_buffer(b"s\r\n"), Parsed::ProtocolError);
        assert_eq!(with_buffer(b"*0\r\n"), Parsed::ProtocolError);
        assert_eq!(with_buffer(b"*1025\r\n"), Parsed::ProtocolError);
        assert_eq!(with_buffer(b"*1\r\n$0\r\n\r\n"), Parsed::ProtocolError);
        assert_eq!(with_buffer(b"*1\r\n$2000\r\n"), Parsed::ProtocolError);
        assert_eq!(with_buffer(b"*1\r\n+s\r\n"), Parsed::ProtocolError);
        assert_eq!(with_buffer(b"*1\r\n$1\r\nsx\r\n"), Parsed::ProtocolError);
        // A NUL inside an argument is data; a NUL where a header should be waits for more.
        assert_eq!(
            with_buffer(b"*1\r\n$11\r\nhello\0world\r\n"),
            Parsed::Command(vec![b"hello\0world".to_vec()])
        );
        assert_eq!(with_buffer(b"*1\r\n\0"), Parsed::Incomplete);
    }

    proptest::proptest! {
        /// Whatever a client sends a paused script, the parser neither panics nor reads past
        /// what arrived, and a well-formed command comes back whole, whatever follows it.
        #[test]
        fn parser_takes_any_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = with_buffer(&bytes);
        }

        #[test]
        fn well_formed_commands_parse_whole(
            args in proptest::collection::vec(
                proptest::collection::vec(1u8..=255, 1..40), 1..8),
            tail in proptest::collection::vec(proptest::num::u8::ANY, 0..20),
        ) {
            let mut wire = format!("*{}\r\n", args.len()).into_bytes();
            for a in &args {
                wire.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                wire.extend_from_slice(a);
                wire.extend_from_slice(b"\r\n");
            }
            // Cut anywhere before its end, it waits for more.
            for cut in 1..wire.len() {
                let partial = with_buffer(&wire[..cut]);
                proptest::prop_assert!(partial != Parsed::ProtocolError || wire[..cut].contains(&0));
            }
            wire.extend_from_slice(&tail);
            proptest::prop_assert_eq!(with_buffer(&wire), Parsed::Command(args));
        }
    }

    #[test]
    fn command_names_stop_at_nul() {
        assert!(command_is(b"S", "s", "step"));
        assert!(command_is(b"next", "n", "next"));
        assert!(command_is(b"s\0junk", "s", "step"));
        assert!(!command_is(b"\0s", "s", "step"));
        assert!(!command_is(b"hello\0world", "h", "help"));
    }

    #[test]
    fn replies_in_human_form() {
        let human = |r: &[u8]| {
            let mut out = Vec::new();
            reply_to_human(&mut out, r, &mut 0);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(human(b":12\r\n"), "12");
        assert_eq!(human(b"$3\r\na\"b\r\n"), "\"a\\\"b\"");
        assert_eq!(human(b"$-1\r\n"), "NULL");
        assert_eq!(human(b"+OK\r\n"), "\"+OK\"");
        assert_eq!(human(b"-ERR x\r\n"), "\"-ERR x\"");
        assert_eq!(human(b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n"), "[\"a\",[1]]");
        assert_eq!(human(b"*-1\r\n"), "NULL");
        assert_eq!(human(b"~1\r\n:1\r\n"), "~(1)");
        assert_eq!(human(b"%1\r\n$1\r\nk\r\n#t\r\n"), "{\"k\" => #true}");
        assert_eq!(human(b"_\r\n"), "(null)");
        assert_eq!(human(b",1.5\r\n"), "(double) 1.5");
        // Cut short: no panic.
        assert_eq!(human(b"*3\r\n:1\r\n"), "[1,,]");
    }

    #[test]
    fn listing_marks_current_line_and_breakpoints() {
        let mut ldb = Ldb {
            src: vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()],
            current_line: 2,
            ..Ldb::default()
        };
        ldb.break_command(&[b"3".to_vec(), b"3".to_vec(), b"9".to_vec(), b"x".to_vec()]);
        ldb.list(0, 0);
        let text: Vec<String> = ldb
            .logs
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        assert_eq!(
            text,
            [
                "-> 2   b",
                "  #3   c",
                "Wrong line number.",
                "Wrong line number.",
                "Invalid argument:'x'",
                "   1   a",
                "-> 2   b",
                "  #3   c"
            ]
        );
    }

    #[test]
    fn removing_a_breakpoint_keeps_the_others() {
        let mut ldb = Ldb {
            src: vec![b"a".to_vec(); 5],
            ..Ldb::default()
        };
        ldb.break_command(&[b"1".to_vec(), b"3".to_vec(), b"5".to_vec(), b"-1".to_vec()]);
        assert_eq!(ldb.breakpoints, [3, 5]);
        ldb.break_command(&[
            b"-4".to_vec(),
            b"-9223372036854775808".to_vec(),
            b"0".to_vec(),
        ]);
        assert!(ldb.breakpoints.is_empty());
        assert!(ldb
            .logs
            .iter()
            .any(|l| l == b"No breakpoint in the specified line."));
    }

    #[test]
    fn trimmed_values_hint_once() {
        let mut ldb = Ldb::default();
        ldb.maxlen_command(&[b"10".to_vec()]);
        assert_eq!(ldb.maxlen, 60);
        ldb.maxlen_hint_sent = false;
        ldb.log_trimmed(vec![b'x'; 100]);
        ldb.log_trimmed(vec![b'x'; 100]);
        assert_eq!(ldb.logs.len(), 4);
        assert_eq!(ldb.logs[1].len(), 64);
        assert!(ldb.logs[2].starts_with(b"<hint>"));
    }
}
