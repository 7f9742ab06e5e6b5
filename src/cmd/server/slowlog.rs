//! SLOWLOG GET / LEN / RESET / HELP over `exec::slowlog`.

use crate::exec::Ctx;
use crate::resp::errors::{self as err, CmdError, CmdResult};

pub fn slowlog_get(ctx: &mut Ctx) -> CmdResult {
    if ctx.argv.len() > 3 {
        return Err(crate::resp::errors::subcommand_syntax(
            ctx.argv[0],
            ctx.argv[1],
        ));
    }
    let count = match ctx.argv.get(2) {
        None => 10,
        Some(a) => {
            let n = crate::util::num::parse_i64(a).unwrap_or(i64::MIN);
            if n < -1 {
                return Err(CmdError::from(err::SLOWLOG_COUNT));
            }
            if n == -1 {
                usize::MAX
            } else {
                n as usize
            }
        }
    };
    let entries = &ctx.ex.slowlog.entries;
    let out = &mut ctx.client.out;
    let n = count.min(entries.len());
    out.array(n);
    for e in entries.iter().take(n) {
        out.array(6);
        out.int(e.id as i64);
        out.int(e.unix_secs);
        out.int(e.micros as i64);
        out.array(e.argv.len());
        for a in &e.argv {
            out.bulk(a);
        }
        out.bulk(e.addr.as_bytes());
        out.bulk(&e.name);
    }
    Ok(())
}

pub fn slowlog_len(ctx: &mut Ctx) -> CmdResult {
    let n = ctx.ex.slowlog.entries.len();
    ctx.out().int(n as i64);
    Ok(())
}

pub fn slowlog_reset(ctx: &mut Ctx) -> CmdResult {
    ctx.ex.slowlog.entries.clear();
    ctx.out().ok();
    Ok(())
}

pub fn slowlog_help(ctx: &mut Ctx) -> CmdResult {
    super::introspect::help(
        ctx.out(),
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}
