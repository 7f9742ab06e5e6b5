//! The "scripting" group: EVAL, EVALSHA and their _RO forms, SCRIPT, FUNCTION, FCALL.
//! The interpreter lives in `crate::script`; these handlers parse arguments and pick what runs.

use crate::cmd::args;
use crate::cmd::meta_gen as m;
use crate::cmd::server::introspect::help;
use crate::cmd::table::Handler;
use crate::exec::client::flags as cf;
use crate::exec::Ctx;
use crate::resp::errors::{self as err, CmdError, CmdResult};
use crate::script::functions::{Functions, RestorePolicy};
use crate::script::{self, sflags, Engine, RunSpec};

/// Splits `numkeys key... arg...` starting at argv[2] (Redis's evalGenericCommand checks).
type Argv<'a> = &'a [&'a [u8]];

fn keys_and_args(argv: Argv<'_>, numkeys: i64) -> Result<(Argv<'_>, Argv<'_>), CmdError> {
    if numkeys > (argv.len() - 3) as i64 {
        return Err(err::NUMKEYS_TOO_MANY.into());
    }
    if numkeys < 0 {
        return Err(err::NUMKEYS_NEGATIVE.into());
    }
    Ok(argv[3..].split_at(numkeys as usize))
}

/// What a run may do, from the command (`ro`: the _RO forms) and the script's flags. A script
/// that declares its flags (shebang, or any function) must say no-writes to run under _RO.
fn run_spec<'a>(
    argv: Argv<'a>,
    (keys, args): (Argv<'a>, Argv<'a>),
    ro: bool,
    flags: u32,
    (name, is_function): (&'a [u8], bool),
    (now_ms, cluster, stale): (i64, bool, bool),
) -> Result<RunSpec<'a>, CmdError> {
    // A script without a shebang on a stale replica (Redis's scriptPrepareForRun: its
    // commands could not run anyway, and EVAL itself is flagged stale).
    if stale && flags & sflags::EVAL_COMPAT != 0 {
        return Err(err::MASTERDOWN.into());
    }
    if cluster && flags & sflags::EVAL_COMPAT == 0 && flags & sflags::NO_CLUSTER != 0 {
        return Err(err::SCRIPT_NO_CLUSTER.into());
    }
    if ro && flags & sflags::EVAL_COMPAT == 0 && flags & sflags::NO_WRITES == 0 {
        return Err(err::SCRIPT_WRITE_FLAG_RO.into());
    }
    Ok(RunSpec {
        argv,
        keys,
        args,
        readonly: ro || flags & sflags::NO_WRITES != 0,
        allow_oom: flags & (sflags::ALLOW_OOM | sflags::NO_WRITES) != 0,
        allow_cross_slot: flags & (sflags::EVAL_COMPAT | sflags::ALLOW_CROSS_SLOT) != 0,
        is_function,
        name,
        now_ms,
    })
}

/// A command's flags once its script's declared flags are known (Redis's
/// scriptFlagsToCmdFlags): the script's own say replaces the command's write, deny-oom and
/// stale flags, and whether it may replicate is no longer a guess.
pub fn script_command_flags(cmd_flags: u64, script_flags: u32) -> u64 {
    use crate::cmd::meta::flag;
    let mut f = cmd_flags & !(flag::STALE | flag::DENYOOM | flag::WRITE | flag::MAY_REPLICATE);
    if script_flags & (sflags::ALLOW_OOM | sflags::NO_WRITES) == 0 {
        f |= flag::DENYOOM;
    }
    if script_flags & sflags::NO_WRITES == 0 {
        f |= flag::WRITE;
    }
    if script_flags & sflags::ALLOW_STALE != 0 {
        f |= flag::STALE;
    }
    f
}

/// The flags a script declared (shebang, or a function's), None in EVAL compatibility mode
/// or when it is not known yet: what the command may do before it runs (Redis's
/// evalGetCommandFlags and fcallGetCommandFlags).
pub fn declared_flags(ex: &crate::exec::Executor, name: &str, argv: &[&[u8]]) -> Option<u32> {
    let flags = match name {
        "eval" | "eval_ro" => crate::script::parse_shebang(argv.get(1)?).ok()?.0,
        "evalsha" | "evalsha_ro" => ex.scripting.as_deref()?.script_flags(argv.get(1)?)?,
        "fcall" | "fcall_ro" => ex.functions.as_deref()?.get(argv.get(1)?)?.flags,
        _ => return None,
    };
    (flags & sflags::EVAL_COMPAT == 0).then_some(flags)
}

/// Runs `f` with the engine taken out of the executor (created on first use), so the script
/// can reach the executor while the engine is borrowed.
pub fn with_engine<T>(ctx: &mut Ctx, f: impl FnOnce(&mut Engine, &mut Ctx) -> T) -> T {
    let mut engine = ctx.ex.scripting.take().unwrap_or_else(Engine::new);
    let r = f(&mut engine, ctx);
    ctx.ex.scripting = Some(engine);
    r
}

/// EVAL and FCALL show in MONITOR before the commands their script runs (Redis feeds them
/// first; the table marks them skip_monitor).
fn feed_monitors(ctx: &mut Ctx) {
    if !ctx.ex.monitors.is_empty() {
        let db = ctx.client.db;
        ctx.ex.feed_monitors(ctx.client, ctx.argv, db);
    }
}

fn eval_generic(ctx: &mut Ctx, by_sha: bool, ro: bool) -> CmdResult {
    feed_monitors(ctx);
    if ctx.client.has(cf::LUA_DEBUG) {
        if by_sha {
            return Err(err::LDB_EVALSHA.into());
        }
        return debug_session(ctx, |ctx| run_eval(ctx, false, ro));
    }
    run_eval(ctx, by_sha, ro)
}

fn run_eval(ctx: &mut Ctx, by_sha: bool, ro: bool) -> CmdResult {
    let argv = ctx.argv;
    let keys_args = keys_and_args(argv, args::int(argv[2])?)?;
    with_engine(ctx, |engine, ctx| {
        let sha = if by_sha {
            if !engine.has_script(argv[1]) {
                return Err(err::NOSCRIPT.into());
            }
            argv[1].to_vec()
        } else {
            engine.load_script(argv[1])?.to_vec()
        };
        let flags = engine.script_flags(&sha).unwrap_or(sflags::EVAL_COMPAT);
        let spec = run_spec(
            argv,
            keys_args,
            ro,
            flags,
            (&sha, false),
            (
                ctx.now_ms,
                ctx.ex.cluster.is_some(),
                ctx.ex.serves_no_stale_data(),
            ),
        )?;
        engine.run_script(ctx.ex, ctx.client, &sha, &spec)
    })
}

/// EVAL under the Lua debugger (Redis's evalGenericCommandWithDebugging). SYNC debugs here,
/// and nobody else is served until the session ends; YES forks, the child debugs on its
/// copy of the dataset (its writes are lost with it) and this side drops the connection.
/// Either way the session ends with the script's reply and the connection's close.
fn debug_session(ctx: &mut Ctx, eval: impl FnOnce(&mut Ctx) -> CmdResult) -> CmdResult {
    let debug_flags = cf::LUA_DEBUG | cf::LUA_DEBUG_SYNC;
    let Some(io) = ctx.ex.caller_io() else {
        ctx.client.flags &= !debug_flags;
        return Err(err::LDB_NO_CONNECTION.into());
    };
    let forked = !ctx.client.has(cf::LUA_DEBUG_SYNC);
    if forked {
        match script::debugger::fork_session(ctx.client.fd) {
            Err(e) => {
                ctx.client.flags &= !debug_flags;
                return Err(CmdError::owned(format!("{}: {e}", err::LDB_FORK_FAILED)));
            }
            Ok(Some(child)) => {
                ctx.ex.ldb_children.push(child);
                ctx.client.flags &= !debug_flags;
                ctx.client.flags |= cf::DETACHED;
                ctx.ex.close_asap(ctx.client);
                return Ok(());
            }
            Ok(None) => tracing::warn!("Redis forked for debugging eval"),
        }
    } else {
        tracing::warn!("Redis synchronous debugging eval session started");
    }
    let source = ctx.argv[1];
    with_engine(ctx, |engine, _| engine.debugger().start(io, source));
    let result = eval(ctx);
    with_engine(ctx, |engine, _| engine.debugger().end());
    if forked {
        // The child's last act: the reply, then exit; nothing else of the server runs here.
        if let Err(e) = &result {
            ctx.client.out.error(e.text());
        }
        let reply = &ctx.client.out.buf[ctx.client.out_sent..];
        let _ = io.write(reply);
        io.close();
        tracing::warn!("Lua debugging session child exiting");
        // SAFETY: ends the child at once, without the parent's destructors or atexit work.
        unsafe { libc::_exit(0) }
    }
    tracing::warn!("Redis synchronous debugging eval session ended");
    ctx.client.flags |= cf::CLOSE_AFTER_REPLY;
    result
}

pub fn eval(ctx: &mut Ctx) -> CmdResult {
    eval_generic(ctx, false, false)
}

pub fn eval_ro(ctx: &mut Ctx) -> CmdResult {
    eval_generic(ctx, false, true)
}

pub fn evalsha(ctx: &mut Ctx) -> CmdResult {
    eval_generic(ctx, true, false)
}

pub fn evalsha_ro(ctx: &mut Ctx) -> CmdResult {
    eval_generic(ctx, true, true)
}

pub fn script_load(ctx: &mut Ctx) -> CmdResult {
    let body = ctx.argv[2];
    let sha = with_engine(ctx, |engine, _| engine.load_script(body))?;
    ctx.out().bulk(&sha);
    Ok(())
}

pub fn script_exists(ctx: &mut Ctx) -> CmdResult {
    let shas = ctx.args().rest();
    let engine = ctx.ex.scripting.as_deref();
    let out = &mut ctx.client.out;
    out.array(shas.len());
    for sha in shas {
        out.int(i64::from(engine.is_some_and(|e| e.has_script(sha))));
    }
    Ok(())
}

pub fn script_flush(ctx: &mut Ctx) -> CmdResult {
    match ctx.args().rest() {
        [] => {}
        [mode] if args::eq(mode, "SYNC") || args::eq(mode, "ASYNC") => {}
        _ => return Err(err::SCRIPT_FLUSH_MODE.into()),
    }
    // Redis starts a fresh interpreter: scripts, globals and Lua memory all go. Functions
    // have their own interpreter and stay.
    if let Some(mut old) = ctx.ex.scripting.take() {
        let mut fresh = Engine::new();
        fresh.set_rand_state(old.rand_state());
        *fresh.debugger() = std::mem::take(old.debugger());
        drop(old);
        ctx.ex.scripting = Some(fresh);
    }
    ctx.out().ok();
    Ok(())
}

pub fn script_kill(ctx: &mut Ctx) -> CmdResult {
    kill(ctx, false)
}

/// SCRIPT KILL / FUNCTION KILL (Redis's scriptKill): only a script that has not written.
pub fn kill(ctx: &mut Ctx, function: bool) -> CmdResult {
    let verdict = script::bridge::with_running(|run| {
        if run.wrote {
            return Err(err::SCRIPT_UNKILLABLE);
        }
        // The wrong KILL gets the BUSY text of what runs; the killed run reads the same
        // either way.
        match (function, run.is_function) {
            (false, true) => return Err(err::BUSY_FUNCTION),
            (true, false) => return Err(err::BUSY_SCRIPT),
            _ => {}
        }
        run.kill = Some(err::SCRIPT_KILLED);
        Ok(())
    });
    match verdict {
        None => Err(err::NOTBUSY.into()),
        Some(Err(e)) => Err(e.into()),
        Some(Ok(())) => {
            ctx.out().ok();
            Ok(())
        }
    }
}

pub fn script_debug(ctx: &mut Ctx) -> CmdResult {
    // The session writes straight to the socket: replies still queued would come after it.
    if ctx.client.pending_output() > 0 {
        return Err(err::SCRIPT_DEBUG_PIPELINE.into());
    }
    let mode = ctx.argv[2];
    let debug_flags = cf::LUA_DEBUG | cf::LUA_DEBUG_SYNC;
    if args::eq(mode, "NO") {
        ctx.client.flags &= !debug_flags;
    } else if args::eq(mode, "YES") || args::eq(mode, "SYNC") {
        with_engine(ctx, |engine, _| engine.debugger().enable());
        ctx.client.flags &= !debug_flags;
        ctx.client.flags |= if args::eq(mode, "SYNC") {
            debug_flags
        } else {
            cf::LUA_DEBUG
        };
    } else {
        return Err(err::SCRIPT_DEBUG_MODE.into());
    }
    ctx.out().ok();
    Ok(())
}

pub fn script_help(ctx: &mut Ctx) -> CmdResult {
    help(
        ctx.out(),
        "SCRIPT",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    );
    Ok(())
}

// ---- functions ----

/// The function libraries (created on first use).
fn functions<'a>(ctx: &'a mut Ctx) -> &'a mut Functions {
    ctx.ex.functions.get_or_insert_with(Functions::new)
}

fn fcall_generic(ctx: &mut Ctx, ro: bool) -> CmdResult {
    feed_monitors(ctx);
    let argv = ctx.argv;
    let (func, flags, name) = match functions(ctx).get(argv[1]) {
        Some(f) => (f.func, f.flags, f.name.clone()),
        None => return Err(err::FUNCTION_NOT_FOUND.into()),
    };
    let numkeys = args::int(argv[2]).map_err(|_| CmdError::from(err::FUNCTION_BAD_NUMKEYS))?;
    let keys_args = keys_and_args(argv, numkeys)?;
    let spec = run_spec(
        argv,
        keys_args,
        ro,
        flags,
        (&name, true),
        (
            ctx.now_ms,
            ctx.ex.cluster.is_some(),
            ctx.ex.serves_no_stale_data(),
        ),
    )?;
    // The engine leaves its place while it runs; the libraries stay visible (FUNCTION STATS).
    let mut engine = functions(ctx)
        .engine
        .take()
        .unwrap_or_else(Engine::for_functions);
    let result = engine.run(ctx.ex, ctx.client, func, &spec);
    functions(ctx).engine = Some(engine);
    result
}

pub fn fcall(ctx: &mut Ctx) -> CmdResult {
    fcall_generic(ctx, false)
}

pub fn fcall_ro(ctx: &mut Ctx) -> CmdResult {
    fcall_generic(ctx, true)
}

pub fn function_load(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let mut replace = false;
    for opt in &argv[2..argv.len() - 1] {
        if !args::eq(opt, "REPLACE") {
            return Err(err::unknown_option_given(opt));
        }
        replace = true;
    }
    let name = functions(ctx).load(argv[argv.len() - 1], replace)?;
    ctx.ex.dirty += 1;
    ctx.out().bulk(&name);
    Ok(())
}

pub fn function_delete(ctx: &mut Ctx) -> CmdResult {
    let name = ctx.argv[2];
    if !functions(ctx).delete(name) {
        return Err(err::FUNCTION_LIBRARY_NOT_FOUND.into());
    }
    ctx.ex.dirty += 1;
    ctx.out().ok();
    Ok(())
}

pub fn function_flush(ctx: &mut Ctx) -> CmdResult {
    if ctx.argv.len() > 3 {
        return Err(err::subcommand_syntax(ctx.argv[0], ctx.argv[1]));
    }
    match ctx.args().rest() {
        [] => {}
        [mode] if args::eq(mode, "SYNC") || args::eq(mode, "ASYNC") => {}
        _ => return Err(err::FUNCTION_FLUSH_MODE.into()),
    }
    ctx.ex.functions = None;
    ctx.ex.dirty += 1;
    ctx.out().ok();
    Ok(())
}

pub fn function_list(ctx: &mut Ctx) -> CmdResult {
    let mut pattern: Option<&[u8]> = None;
    let mut with_code = false;
    let mut a = ctx.args();
    while let Some(opt) = a.next() {
        if args::eq(opt, "WITHCODE") && !with_code {
            with_code = true;
        } else if args::eq(opt, "LIBRARYNAME") && pattern.is_none() {
            pattern = Some(a.next().ok_or(CmdError::from(err::FUNCTION_LIST_NO_NAME))?);
        } else {
            return Err(err::unknown_argument(opt));
        }
    }
    let Some(fns) = ctx.ex.functions.as_deref() else {
        ctx.client.out.array(0);
        return Ok(());
    };
    let out = &mut ctx.client.out;
    let libs: Vec<_> = fns
        .libraries
        .iter()
        .filter(|(name, _)| pattern.is_none_or(|p| crate::util::glob::glob_match(p, name, true)))
        .collect();
    out.array(libs.len());
    for (name, lib) in libs {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(name);
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for fname in &lib.functions {
            let Some(f) = fns.get(fname) else { continue };
            out.map(3);
            out.bulk(b"name");
            out.bulk(fname);
            out.bulk(b"description");
            match &f.description {
                Some(d) => out.bulk(d),
                None => out.null(),
            }
            out.bulk(b"flags");
            let names: Vec<&str> = sflags::NAMES
                .iter()
                .filter(|(bit, _)| f.flags & bit != 0)
                .map(|(_, n)| *n)
                .collect();
            out.set(names.len());
            for n in names {
                out.simple(n.as_bytes());
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
    Ok(())
}

pub fn function_dump(ctx: &mut Ctx) -> CmdResult {
    let payload = ctx
        .ex
        .functions
        .as_deref()
        .map(Functions::dump)
        .unwrap_or_else(Functions::empty_dump);
    ctx.out().bulk(&payload);
    Ok(())
}

pub fn function_restore(ctx: &mut Ctx) -> CmdResult {
    if ctx.argv.len() > 4 {
        return Err(err::subcommand_syntax(ctx.argv[0], ctx.argv[1]));
    }
    let policy = match ctx.argv.get(3) {
        None => RestorePolicy::Append,
        Some(p) if args::eq(p, "APPEND") => RestorePolicy::Append,
        Some(p) if args::eq(p, "REPLACE") => RestorePolicy::Replace,
        Some(p) if args::eq(p, "FLUSH") => RestorePolicy::Flush,
        Some(_) => return Err(err::FUNCTION_RESTORE_POLICY.into()),
    };
    let payload = ctx.argv[2];
    functions(ctx).restore(payload, policy)?;
    ctx.ex.dirty += 1;
    ctx.out().ok();
    Ok(())
}

pub fn function_stats(ctx: &mut Ctx) -> CmdResult {
    let (libs, funcs) = ctx
        .ex
        .functions
        .as_deref()
        .map_or((0, 0), |f| (f.libraries.len(), f.function_count()));
    let out = &mut ctx.client.out;
    out.map(2);
    out.bulk(b"running_script");
    let shown = script::bridge::with_running(|b| {
        if !b.is_function {
            return false;
        }
        out.map(3);
        out.bulk(b"name");
        out.bulk(&b.name);
        out.bulk(b"command");
        let command = b.command();
        out.array(command.len());
        for a in command {
            out.bulk(a);
        }
        out.bulk(b"duration_ms");
        out.int(b.start.elapsed().as_millis() as i64);
        true
    });
    if shown != Some(true) {
        out.null();
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libs as i64);
    out.bulk(b"functions_count");
    out.int(funcs as i64);
    Ok(())
}

pub fn function_kill(ctx: &mut Ctx) -> CmdResult {
    kill(ctx, true)
}

pub fn function_help(ctx: &mut Ctx) -> CmdResult {
    help(
        ctx.out(),
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
    Ok(())
}

pub const HANDLERS: &[(&crate::cmd::meta::CommandMeta, Handler)] = &[
    (&m::FCALL, fcall),
    (&m::FCALL_RO, fcall_ro),
    (&m::FUNCTION_LOAD, function_load),
    (&m::FUNCTION_DELETE, function_delete),
    (&m::FUNCTION_FLUSH, function_flush),
    (&m::FUNCTION_LIST, function_list),
    (&m::FUNCTION_DUMP, function_dump),
    (&m::FUNCTION_RESTORE, function_restore),
    (&m::FUNCTION_STATS, function_stats),
    (&m::FUNCTION_KILL, function_kill),
    (&m::FUNCTION_HELP, function_help),
    (&m::EVAL, eval),
    (&m::EVAL_RO, eval_ro),
    (&m::EVALSHA, evalsha),
    (&m::EVALSHA_RO, evalsha_ro),
    (&m::SCRIPT_LOAD, script_load),
    (&m::SCRIPT_EXISTS, script_exists),
    (&m::SCRIPT_FLUSH, script_flush),
    (&m::SCRIPT_KILL, script_kill),
    (&m::SCRIPT_DEBUG, script_debug),
    (&m::SCRIPT_HELP, script_help),
];
