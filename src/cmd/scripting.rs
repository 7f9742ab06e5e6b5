//! The "scripting" group: EVAL, EVALSHA and their _RO forms, SCRIPT, FUNCTION, FCALL.
//! The interpreter lives in `crate::script`; these handlers parse arguments and pick what runs.

use crate::cmd::args;
use crate::cmd::meta_gen as m;
use crate::cmd::server::introspect::help;
use crate::cmd::table::Handler;
use crate::exec::Ctx;
use crate::resp::errors::{self as err, CmdError, CmdResult};
use crate::script::{self, sflags, Engine, RunSpec};

/// Splits `numkeys key... arg...` starting at argv[2] (Redis's evalGenericCommand checks).
type Argv<'a> = &'a [&'a [u8]];

fn keys_and_args<'a>(argv: Argv<'a>) -> Result<(Argv<'a>, Argv<'a>), CmdError> {
    let numkeys = args::int(argv[2])?;
    if numkeys > (argv.len() - 3) as i64 {
        return Err(err::NUMKEYS_TOO_MANY.into());
    }
    if numkeys < 0 {
        return Err(err::NUMKEYS_NEGATIVE.into());
    }
    Ok(argv[3..].split_at(numkeys as usize))
}

/// Runs `f` with the engine taken out of the executor (created on first use), so the script
/// can reach the executor while the engine is borrowed.
pub fn with_engine<T>(ctx: &mut Ctx, f: impl FnOnce(&mut Engine, &mut Ctx) -> T) -> T {
    let mut engine = ctx.ex.scripting.take().unwrap_or_else(Engine::new);
    let r = f(&mut engine, ctx);
    ctx.ex.scripting = Some(engine);
    r
}

fn eval_generic(ctx: &mut Ctx, by_sha: bool, ro: bool) -> CmdResult {
    let argv = ctx.argv;
    let (keys, rest) = keys_and_args(argv)?;
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
        // A script with a shebang declares its writes; *_RO refuses it before it starts.
        if ro && flags & sflags::EVAL_COMPAT == 0 && flags & sflags::NO_WRITES == 0 {
            return Err(err::SCRIPT_WRITE_FLAG_RO.into());
        }
        let spec = RunSpec {
            keys,
            args: rest,
            readonly: ro || flags & sflags::NO_WRITES != 0,
            is_function: false,
            name: &sha,
            now_ms: ctx.now_ms,
        };
        engine.run_script(ctx.ex, ctx.client, &sha, &spec)
    })
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
    if let Some(old) = ctx.ex.scripting.take() {
        let mut fresh = Engine::new();
        fresh.set_rand_state(old.rand_state());
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
    let Some(run) = script::bridge::running() else {
        return Err(err::NOTBUSY.into());
    };
    if run.wrote {
        return Err(err::SCRIPT_UNKILLABLE.into());
    }
    match (function, run.is_function) {
        (false, true) => return Err(err::SCRIPT_KILL_IS_FUNCTION.into()),
        (true, false) => return Err(err::FUNCTION_KILL_IS_SCRIPT.into()),
        _ => {}
    }
    run.kill = Some(if function {
        err::FUNCTION_KILLED
    } else {
        err::SCRIPT_KILLED
    });
    ctx.out().ok();
    Ok(())
}

pub fn script_debug(ctx: &mut Ctx) -> CmdResult {
    let mode = ctx.argv[2];
    if args::eq(mode, "NO") {
        ctx.out().ok();
        return Ok(());
    }
    if args::eq(mode, "YES") || args::eq(mode, "SYNC") {
        // The Lua debugger (LDB) is not implemented; say so rather than pretend.
        return Err(err::SCRIPT_DEBUG_UNSUPPORTED.into());
    }
    Err(err::SCRIPT_DEBUG_MODE.into())
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

pub const HANDLERS: &[(&crate::cmd::meta::CommandMeta, Handler)] = &[
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
