//! MODULE: cinnabar loads no Redis modules (they are C plugins against Redis's own ABI), so the
//! list is always empty and a load fails as Redis's does for a library it cannot open, with
//! the reason in the log. LOAD, LOADEX and UNLOAD are protected commands
//! (enable-module-command), refused before they get here.

use crate::cmd::server::introspect::help;
use crate::exec::Ctx;
use crate::resp::errors::{self as err, CmdResult};

pub fn module_list(ctx: &mut Ctx) -> CmdResult {
    ctx.out().array(0);
    Ok(())
}

pub fn module_load(ctx: &mut Ctx) -> CmdResult {
    tracing::warn!(
        "Module {} failed to load: cinnabar does not load Redis modules",
        String::from_utf8_lossy(ctx.argv[2])
    );
    Err(err::MODULE_LOAD_FAILED.into())
}

pub fn module_unload(_: &mut Ctx) -> CmdResult {
    Err(err::MODULE_UNLOAD_NO_SUCH.into())
}

pub fn module_help(ctx: &mut Ctx) -> CmdResult {
    help(
        ctx.out(),
        "MODULE",
        &[
            "LIST",
            "    Return a list of loaded modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module library from <path>, passing to it any optional arguments.",
            "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
            "    Load a module library from <path>, while passing it module configurations and optional arguments.",
            "UNLOAD <name>",
            "    Unload a module.",
        ],
    );
    Ok(())
}
