//! DEBUG: the subcommands cinnabar supports; every other one is an explicit error.

use crate::cmd::args::{eq, int};
use crate::exec::Ctx;
use crate::resp::errors::{self as err, CmdResult};

pub fn debug(ctx: &mut Ctx) -> CmdResult {
    let mut args = ctx.args();
    let sub = args.bytes()?;
    if eq(sub, "HELP") {
        super::introspect::help(
            ctx.out(),
            "DEBUG",
            &[
                "OBJECT <key>",
                "    Show low level info about the `key` and associated value.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not",
                "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
                "    default.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        );
        return Ok(());
    }
    if eq(sub, "SLEEP") && args.remaining() == 1 {
        // Redis reads the delay with strtod and no validation: junk means 0.
        let secs = crate::util::num::strtod_prefix(args.bytes()?);
        // The whole server stops, as in Redis: this is what DEBUG SLEEP is for.
        if secs > 0.0 && secs.is_finite() {
            std::thread::sleep(std::time::Duration::from_secs_f64(secs));
        }
        ctx.out().ok();
        return Ok(());
    }
    if eq(sub, "SET-ACTIVE-EXPIRE") && args.remaining() == 1 {
        ctx.ex.active_expire_enabled = int(args.bytes()?)? != 0;
        ctx.out().ok();
        return Ok(());
    }
    if eq(sub, "OBJECT") && args.remaining() == 1 {
        let key = args.bytes()?;
        let now = ctx.now_ms;
        let Some(e) = ctx.ex.lookup_write(ctx.client.db, key, now) else {
            return Err(err::NO_SUCH_KEY.into());
        };
        let idle = crate::exec::idle_secs(e.lru, now);
        let line = format!(
            "Value at:0x0 refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{idle}",
            e.value.encoding_name(),
            e.value.str_len().unwrap_or(0),
            e.lru
        );
        ctx.out().simple(line.as_bytes());
        return Ok(());
    }
    Err(err::subcommand_syntax(ctx.argv[0], sub))
}
