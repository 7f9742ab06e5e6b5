//! The "pubsub" group: SUBSCRIBE and friends, PUBLISH, SPUBLISH, PUBSUB introspection.

use crate::cmd::meta_gen as m;
use crate::cmd::table::Handler;
use crate::exec::client::{flags as cf, Client};
use crate::exec::{Ctx, Executor};
use crate::pubsub::Kind;
use crate::resp::errors::{self as err, CmdResult};
use crate::resp::reply::ReplyBuf;

/// The confirmation frame Redis sends per (un)subscribed channel: [kind, name, count].
/// Sent even while the client's replies are off, as every pub/sub push is.
fn confirm(out: &mut ReplyBuf, kind: &[u8], name: Option<&[u8]>, count: usize) {
    let start = out.len();
    out.push(3);
    out.bulk(kind);
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
    out.pushed_since(start);
}

fn set_of(client: &mut Client, kind: Kind) -> &mut std::collections::HashSet<Vec<u8>> {
    match kind {
        Kind::Channel => &mut client.subs.channels,
        Kind::Pattern => &mut client.subs.patterns,
        Kind::Shard => &mut client.subs.shard,
    }
}

/// The count a confirmation reports: channels+patterns, or shard channels.
fn count_for(client: &Client, kind: Kind) -> usize {
    if kind == Kind::Shard {
        client.subs.shard.len()
    } else {
        client.subs.count()
    }
}

fn update_flag(client: &mut Client) {
    if client.subs.is_empty() {
        client.flags &= !cf::PUBSUB;
    } else {
        client.flags |= cf::PUBSUB;
    }
}

const SUBSCRIBE_REPLY: [&[u8]; 3] = [b"subscribe", b"psubscribe", b"ssubscribe"];
const UNSUBSCRIBE_REPLY: [&[u8]; 3] = [b"unsubscribe", b"punsubscribe", b"sunsubscribe"];

fn idx(kind: Kind) -> usize {
    match kind {
        Kind::Channel => 0,
        Kind::Pattern => 1,
        Kind::Shard => 2,
    }
}

fn subscribe_generic(ctx: &mut Ctx, kind: Kind) -> CmdResult {
    if !ctx.can_block() && !ctx.client.has(cf::MULTI) {
        let name = ctx.cmd.meta.name.to_ascii_uppercase();
        return Err(err::deny_blocking(&name));
    }
    let slot = ctx.client.slot;
    for name in ctx.args().rest() {
        if set_of(ctx.client, kind).insert(name.to_vec()) {
            ctx.ex.pubsub.subscribe(kind, name, slot);
        }
        update_flag(ctx.client);
        let count = count_for(ctx.client, kind);
        confirm(
            &mut ctx.client.out,
            SUBSCRIBE_REPLY[idx(kind)],
            Some(name),
            count,
        );
    }
    Ok(())
}

fn unsubscribe_generic(ctx: &mut Ctx, kind: Kind) -> CmdResult {
    let names: Vec<Vec<u8>> = {
        let given = ctx.args().rest();
        if given.is_empty() {
            set_of(ctx.client, kind).iter().cloned().collect()
        } else {
            given.iter().map(|n| n.to_vec()).collect()
        }
    };
    let slot = ctx.client.slot;
    if names.is_empty() {
        let count = count_for(ctx.client, kind);
        confirm(
            &mut ctx.client.out,
            UNSUBSCRIBE_REPLY[idx(kind)],
            None,
            count,
        );
        return Ok(());
    }
    for name in names {
        if set_of(ctx.client, kind).remove(&name) {
            ctx.ex.pubsub.unsubscribe(kind, &name, slot);
        }
        update_flag(ctx.client);
        let count = count_for(ctx.client, kind);
        confirm(
            &mut ctx.client.out,
            UNSUBSCRIBE_REPLY[idx(kind)],
            Some(&name),
            count,
        );
    }
    Ok(())
}

impl Executor {
    /// Drops every subscription of a client (disconnect, RESET).
    pub fn unsubscribe_all(&mut self, client: &mut Client) {
        let slot = client.slot;
        for (kind, names) in [
            (Kind::Channel, std::mem::take(&mut client.subs.channels)),
            (Kind::Pattern, std::mem::take(&mut client.subs.patterns)),
            (Kind::Shard, std::mem::take(&mut client.subs.shard)),
        ] {
            for n in names {
                self.pubsub.unsubscribe(kind, &n, slot);
            }
        }
        client.flags &= !cf::PUBSUB;
    }
}

/// Unsubscribes every client from a channel, telling each (Redis's
/// pubsubUnsubscribeShardChannels, when the slot of a shard channel moves away).
pub fn unsubscribe_everyone(ex: &mut Executor, kind: Kind, channel: &[u8]) {
    let subs: Vec<usize> = ex.pubsub.subscribers(kind, channel).to_vec();
    for slot in subs {
        ex.pubsub.unsubscribe(kind, channel, slot);
        let Some(client) = ex.clients.get_mut(slot).and_then(|c| c.as_deref_mut()) else {
            continue;
        };
        set_of(client, kind).remove(channel);
        update_flag(client);
        let count = count_for(client, kind);
        confirm(
            &mut client.out,
            UNSUBSCRIBE_REPLY[idx(kind)],
            Some(channel),
            count,
        );
        ex.pending_write.push(slot);
    }
}

pub fn subscribe(ctx: &mut Ctx) -> CmdResult {
    subscribe_generic(ctx, Kind::Channel)
}

pub fn psubscribe(ctx: &mut Ctx) -> CmdResult {
    subscribe_generic(ctx, Kind::Pattern)
}

pub fn ssubscribe(ctx: &mut Ctx) -> CmdResult {
    subscribe_generic(ctx, Kind::Shard)
}

pub fn unsubscribe(ctx: &mut Ctx) -> CmdResult {
    unsubscribe_generic(ctx, Kind::Channel)
}

pub fn punsubscribe(ctx: &mut Ctx) -> CmdResult {
    unsubscribe_generic(ctx, Kind::Pattern)
}

pub fn sunsubscribe(ctx: &mut Ctx) -> CmdResult {
    unsubscribe_generic(ctx, Kind::Shard)
}

fn publish_generic(ctx: &mut Ctx, kind: Kind) -> CmdResult {
    let (channel, message) = (ctx.argv[1], ctx.argv[2]);
    let n = ctx
        .ex
        .publish(kind, channel, message, Some(&mut *ctx.client));
    if let Some(c) = ctx.ex.cluster.as_mut() {
        // The bus carries it: to every node, or to the other nodes of our shard.
        c.propagate_publish(channel, message, kind == Kind::Shard);
    } else {
        // Replicas publish it to their own subscribers; the AOF has no use for it (Redis's
        // forceCommandPropagation(PROPAGATE_REPL)).
        ctx.ex.prop.forced = true;
        ctx.ex.prop.withheld = crate::exec::propagate::TO_AOF;
    }
    ctx.out().int(n as i64);
    Ok(())
}

pub fn publish(ctx: &mut Ctx) -> CmdResult {
    publish_generic(ctx, Kind::Channel)
}

pub fn spublish(ctx: &mut Ctx) -> CmdResult {
    publish_generic(ctx, Kind::Shard)
}

fn channels_generic(ctx: &mut Ctx, kind: Kind) -> CmdResult {
    let args = ctx.args().rest();
    if args.len() > 1 {
        return Err(crate::resp::errors::subcommand_syntax(
            ctx.argv[0],
            ctx.argv[1],
        ));
    }
    let pattern = args.first().copied();
    let names: Vec<Vec<u8>> = ctx
        .ex
        .pubsub
        .channel_names(kind, pattern)
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    let out = ctx.out();
    out.array(names.len());
    for n in names {
        out.bulk(&n);
    }
    Ok(())
}

pub fn pubsub_channels(ctx: &mut Ctx) -> CmdResult {
    channels_generic(ctx, Kind::Channel)
}

pub fn pubsub_shardchannels(ctx: &mut Ctx) -> CmdResult {
    channels_generic(ctx, Kind::Shard)
}

fn numsub_generic(ctx: &mut Ctx, kind: Kind) -> CmdResult {
    let names = ctx.args().rest();
    let counts: Vec<usize> = names
        .iter()
        .map(|n| ctx.ex.pubsub.subscribers(kind, n).len())
        .collect();
    let out = &mut ctx.client.out;
    // A flat array in RESP3 too: Redis 7.0 sends it that way.
    out.array(names.len() * 2);
    for (n, c) in names.iter().zip(counts) {
        out.bulk(n);
        out.int(c as i64);
    }
    Ok(())
}

pub fn pubsub_numsub(ctx: &mut Ctx) -> CmdResult {
    numsub_generic(ctx, Kind::Channel)
}

pub fn pubsub_shardnumsub(ctx: &mut Ctx) -> CmdResult {
    numsub_generic(ctx, Kind::Shard)
}

pub fn pubsub_numpat(ctx: &mut Ctx) -> CmdResult {
    let n = ctx.ex.pubsub.pattern_count() as i64;
    ctx.out().int(n);
    Ok(())
}

pub fn pubsub_help(ctx: &mut Ctx) -> CmdResult {
    crate::cmd::server::introspect::help(
        ctx.out(),
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    Ok(())
}

pub const HANDLERS: &[(&crate::cmd::meta::CommandMeta, Handler)] = &[
    (&m::SUBSCRIBE, subscribe),
    (&m::PSUBSCRIBE, psubscribe),
    (&m::SSUBSCRIBE, ssubscribe),
    (&m::UNSUBSCRIBE, unsubscribe),
    (&m::PUNSUBSCRIBE, punsubscribe),
    (&m::SUNSUBSCRIBE, sunsubscribe),
    (&m::PUBLISH, publish),
    (&m::SPUBLISH, spublish),
    (&m::PUBSUB_CHANNELS, pubsub_channels),
    (&m::PUBSUB_SHARDCHANNELS, pubsub_shardchannels),
    (&m::PUBSUB_NUMSUB, pubsub_numsub),
    (&m::PUBSUB_SHARDNUMSUB, pubsub_shardnumsub),
    (&m::PUBSUB_NUMPAT, pubsub_numpat),
    (&m::PUBSUB_HELP, pubsub_help),
];
