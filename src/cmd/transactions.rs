//! The "transactions" group: MULTI, EXEC, DISCARD, WATCH, UNWATCH.

use crate::acl::log::Context;
use crate::cmd::meta_gen as m;
use crate::cmd::table::Handler;
use crate::exec::client::flags as cf;
use crate::exec::multi::MultiState;
use crate::exec::Ctx;
use crate::resp::errors::{self as err, CmdResult};

pub fn multi(ctx: &mut Ctx) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(err::MULTI_NESTED.into());
    }
    ctx.client.multi = Some(Box::default());
    ctx.client.flags |= cf::MULTI;
    ctx.out().ok();
    Ok(())
}

pub fn discard(ctx: &mut Ctx) -> CmdResult {
    if ctx.client.multi.is_none() {
        return Err(err::DISCARD_WITHOUT_MULTI.into());
    }
    ctx.ex.discard_transaction(ctx.client);
    ctx.out().ok();
    Ok(())
}

pub fn exec(ctx: &mut Ctx) -> CmdResult {
    let Some(state) = ctx.client.multi.take() else {
        return Err(err::EXEC_WITHOUT_MULTI.into());
    };
    if ctx.ex.watched_key_expired(ctx.client, ctx.now_ms) {
        ctx.client.flags |= cf::DIRTY_CAS;
    }
    if ctx.client.has(cf::DIRTY_EXEC) {
        ctx.ex.discard_transaction(ctx.client);
        return Err(err::EXECABORT.into());
    }
    if ctx.client.has(cf::DIRTY_CAS) {
        ctx.ex.discard_transaction(ctx.client);
        ctx.out().null_array();
        return Ok(());
    }
    ctx.ex.unwatch_all(ctx.client);
    ctx.client.flags &= !cf::MULTI;
    let MultiState { queued, .. } = *state;
    ctx.out().array(queued.len());
    ctx.ex.in_exec = true;
    ctx.ex.exec_dirty_start = ctx.ex.dirty;
    for (cmd, argv) in queued {
        let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        // Permissions are checked again: the user's rules may have changed since queueing.
        let user = ctx.client.user;
        if let Err(d) = ctx
            .ex
            .acl_check(ctx.client, user, cmd, &argv, Context::Multi, ctx.now_ms)
        {
            let e = err::noperm_in_exec(d);
            ctx.out().error(e.text());
            ctx.ex.stats.count_error(e.code());
            continue;
        }
        // Blocking commands inside a transaction behave as their non-blocking forms.
        ctx.ex.call_queued(ctx.client, cmd, &argv);
    }
    ctx.ex.in_exec = false;
    ctx.ex.discard_transaction(ctx.client);
    Ok(())
}

pub fn watch(ctx: &mut Ctx) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(err::WATCH_INSIDE_MULTI.into());
    }
    // A client that already saw a watched key change gains nothing by watching more.
    if !ctx.client.has(cf::DIRTY_CAS) {
        for key in ctx.args().rest() {
            ctx.ex.watch(ctx.client, key, ctx.now_ms);
        }
    }
    ctx.out().ok();
    Ok(())
}

pub fn unwatch(ctx: &mut Ctx) -> CmdResult {
    ctx.ex.unwatch_all(ctx.client);
    ctx.out().ok();
    Ok(())
}

pub const HANDLERS: &[(&crate::cmd::meta::CommandMeta, Handler)] = &[
    (&m::MULTI, multi),
    (&m::EXEC, exec),
    (&m::DISCARD, discard),
    (&m::WATCH, watch),
    (&m::UNWATCH, unwatch),
];
