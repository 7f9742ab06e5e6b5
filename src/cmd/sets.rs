//! The "set" group: SADD, SREM, membership and cardinality, random members (SRANDMEMBER,
//! SPOP), SMOVE, the algebra (SINTER, SUNION, SDIFF with their STORE forms, SINTERCARD) and
//! SSCAN; member TTLs (Redis 8.12's SEXPIRE family, SADDEX) in `member_ttl`.
//!
//! A member whose TTL passed is gone for every reader: membership tests remove it there and
//! then on a master (propagating SREM), SPOP and SRANDMEMBER remove all of them first, and
//! the readers of whole sets skip them. SCARD counts them until they are removed, as HLEN
//! does for hash fields.
//!
//! Results of the algebra are built the way Redis builds them, into a fresh set that starts as
//! an intset, so the encoding of a stored result and the order of a reply (ascending when the
//! result is an intset) match Redis's.

use crate::cmd::args::{eq, int, int_in};
use crate::cmd::generic::{parse_cursor, parse_scan_options, reply_scan};
use crate::cmd::meta_gen as m;
use crate::cmd::subkey_ttl::{subkey_clock, sweep};
use crate::cmd::table::Handler;
use crate::config::notify;
use crate::exec::client::flags as cf;
use crate::exec::{Client, Ctx, Executor};
use crate::keyspace::db::{Db, Entry, NO_EXPIRE};
use crate::keyspace::types::set::{as_int, Limits, Member, Set};
use crate::keyspace::value::Value;
use crate::resp::errors::{self as err, CmdError, CmdResult};
use crate::resp::reply::ReplyBuf;
use crate::util::glob::glob_match;
use crate::util::rng::splitmix;

mod member_ttl;

/// SPOP with a count rebuilds the set from the members it keeps when it would otherwise pop
/// more than this many times the members left (Redis's SPOP_MOVE_STRATEGY_MUL).
const SPOP_MOVE_STRATEGY_MUL: usize = 5;
/// SRANDMEMBER with a count copies the set and removes members when the count is more than a
/// third of the set (Redis's SRANDMEMBER_SUB_STRATEGY_MUL).
const SRANDMEMBER_SUB_STRATEGY_MUL: usize = 3;

/// The encoding thresholds in force (also used when loading an RDB file).
pub fn limits_from(s: &crate::config::Settings) -> Limits {
    Limits {
        max_intset_entries: s.set_max_intset_entries,
        max_packed_entries: s.set_max_listpack_entries,
        max_packed_value: s.set_max_listpack_value,
    }
}

fn limits(ex: &Executor) -> Limits {
    limits_from(&ex.settings)
}

#[inline]
fn reply_member(out: &mut ReplyBuf, m: Member<'_>) {
    match m {
        Member::Int(i) => out.bulk_i64(i),
        Member::Bytes(b) => out.bulk(b),
    }
}

/// The set in an entry; WRONGTYPE for other types.
#[inline]
fn as_set(e: Option<&mut Entry>) -> Result<Option<&mut Set>, CmdError> {
    match e {
        None => Ok(None),
        Some(Entry {
            value: Value::Set(s),
            ..
        }) => Ok(Some(s)),
        Some(_) => Err(err::WRONGTYPE.into()),
    }
}

/// lookupKeyRead for a set. Borrows only the executor, so the reply buffer stays usable.
fn read_set<'a>(
    ex: &'a mut Executor,
    client: &Client,
    key: &[u8],
    now_ms: i64,
) -> Result<Option<&'a mut Set>, CmdError> {
    let touch = !client.has(cf::NO_TOUCH);
    as_set(ex.lookup_read(client.db, key, now_ms, touch))
}

/// lookupKeyWrite for a set.
fn write_set<'a>(
    ex: &'a mut Executor,
    db: usize,
    key: &[u8],
    now_ms: i64,
) -> Result<Option<&'a mut Set>, CmdError> {
    as_set(ex.lookup_write(db, key, now_ms))
}

/// The set stored at `key`, without lookup side effects (after a lookup already ran).
fn peek_set<'a>(db: &'a Db, key: &[u8]) -> Option<&'a Set> {
    match db.peek(key) {
        Some(Entry {
            value: Value::Set(s),
            ..
        }) => Some(s),
        _ => None,
    }
}

/// A per-command random stream seeded from the executor's generator (a stream seeded with
/// the executor's next output must not replay the next command's stream shifted by one, or
/// consecutive SPOPs probe the same, by then emptied, buckets over and over).
fn rng(ex: &mut Executor) -> impl FnMut() -> u64 {
    splitmix(ex.random_u64())
}

/// Records an emptied set's removal after its command's own event.
fn delete_emptied(ctx: &mut Ctx, key: &[u8]) {
    let db = ctx.client.db;
    ctx.ex.dbs[db].remove(key);
    ctx.notify(notify::GENERIC, "del", key);
}

/// Lazy expiry of `members` of the set at `key` (Redis's setTypeIsMemberLazy, member by
/// member): an expired member is removed and its SREM propagated as part of the command,
/// with an "sexpired" event, or "del" when it was the last one (the key then goes too,
/// unless `keep_key`: SADD is about to refill it). On a replica or while paused it only
/// reads as missing (`contains_live` with the command's clock).
fn lazy_expire_members(ctx: &mut Ctx, key: &[u8], members: &[&[u8]], keep_key: bool) {
    let db = ctx.client.db;
    let clock = subkey_clock(ctx);
    let due: Vec<&[u8]> = match peek_set(&ctx.ex.dbs[db], key) {
        Some(set) if set.has_ttls() => members
            .iter()
            .copied()
            .filter(|m| set.is_expired(m, clock))
            .collect(),
        _ => return,
    };
    if due.is_empty() || ctx.ex.repl.is_replica() || ctx.ex.is_paused(ctx.now_ms) {
        return;
    }
    let mut key_deleted = false;
    for m in due {
        let Some(Entry {
            value: Value::Set(set),
            ..
        }) = ctx.ex.dbs[db].peek_mut(key)
        else {
            break;
        };
        if !set.remove(m) {
            // Named twice in the command.
            continue;
        }
        let emptied = set.is_empty();
        ctx.also_propagate(&[b"SREM", key, m]);
        ctx.ex.stats.expired_subkeys += 1;
        if !emptied {
            ctx.notify(notify::SET, "sexpired", key);
        } else if !keep_key {
            ctx.notify(notify::GENERIC, "del", key);
            ctx.ex.dbs[db].remove(key);
            key_deleted = true;
        }
    }
    if !key_deleted {
        ctx.ex.dbs[db].sync_field_ttls(key);
    }
    ctx.ex.signal_modified_by_server(db, key);
}

/// Whether the set at `key` has member TTLs (the common case skips lazy expiry).
fn has_member_ttls(ctx: &Ctx, key: &[u8]) -> bool {
    peek_set(&ctx.ex.dbs[ctx.client.db], key).is_some_and(Set::has_ttls)
}

pub fn sadd(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let members = &ctx.argv[2..];
    let lim = limits(ctx.ex);
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let mut added = 0u64;
    let add_all = |set: &mut Set| members.iter().map(|m| u64::from(set.insert(m, &lim))).sum();
    match write_set(ctx.ex, db, key, now)? {
        Some(set) if !set.has_ttls() => added = add_all(set),
        Some(_) => {
            // An expired member is removed first and then added anew (without its TTL).
            lazy_expire_members(ctx, key, members, true);
            if let Some(set) = write_set(ctx.ex, db, key, now)? {
                added = add_all(set);
            }
        }
        None => {
            let mut set = Set::new_for(members[0]);
            for m in members {
                added += u64::from(set.insert(m, &lim));
            }
            let lru = ctx.new_lru();
            ctx.ex.dbs[db].insert(key, Value::Set(Box::new(set)), NO_EXPIRE, lru);
        }
    }
    if added > 0 {
        ctx.modified(key, notify::SET, "sadd");
        ctx.ex.dirty += added - 1;
    }
    ctx.out().int(added as i64);
    Ok(())
}

pub fn srem(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let Some(set) = write_set(ctx.ex, db, key, now)? else {
        ctx.out().int(0);
        return Ok(());
    };
    let mut deleted = 0u64;
    let mut emptied = false;
    for m in &ctx.argv[2..] {
        if set.remove(m) {
            deleted += 1;
            if set.is_empty() {
                emptied = true;
                break;
            }
        }
    }
    if deleted > 0 {
        ctx.modified(key, notify::SET, "srem");
        ctx.ex.dirty += deleted - 1;
        if emptied {
            delete_emptied(ctx, key);
        }
    }
    ctx.out().int(deleted as i64);
    Ok(())
}

pub fn smove(ctx: &mut Ctx) -> CmdResult {
    let (src, dst, member) = (ctx.argv[1], ctx.argv[2], ctx.argv[3]);
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let lim = limits(ctx.ex);
    let src_is_set = ctx
        .ex
        .lookup_write(db, src, now)
        .map(|e| matches!(e.value, Value::Set(_)));
    let dst_is_set = ctx
        .ex
        .lookup_write(db, dst, now)
        .map(|e| matches!(e.value, Value::Set(_)));
    // A missing source answers 0 before any type check.
    let Some(src_is_set) = src_is_set else {
        ctx.out().int(0);
        return Ok(());
    };
    if !src_is_set || dst_is_set == Some(false) {
        return Err(err::WRONGTYPE.into());
    }
    if has_member_ttls(ctx, src) {
        lazy_expire_members(ctx, src, &[member], false);
    }
    if src == dst {
        let clock = subkey_clock(ctx);
        let found = peek_set(&ctx.ex.dbs[db], src).is_some_and(|s| s.contains_live(member, clock));
        ctx.out().int(i64::from(found));
        return Ok(());
    }
    let Some(set) = write_set(ctx.ex, db, src, now)? else {
        ctx.out().int(0);
        return Ok(());
    };
    if !set.remove(member) {
        ctx.out().int(0);
        return Ok(());
    }
    let emptied = set.is_empty();
    ctx.modified(src, notify::SET, "srem");
    if emptied {
        delete_emptied(ctx, src);
    }
    // An expired copy in the destination goes first: the member arrives anew.
    if has_member_ttls(ctx, dst) {
        lazy_expire_members(ctx, dst, &[member], true);
    }
    let added = match write_set(ctx.ex, db, dst, now)? {
        Some(d) => d.insert(member, &lim),
        None => {
            let mut d = Set::new_for(member);
            d.insert(member, &lim);
            let lru = ctx.new_lru();
            ctx.ex.dbs[db].insert(dst, Value::Set(Box::new(d)), NO_EXPIRE, lru);
            true
        }
    };
    if added {
        ctx.modified(dst, notify::SET, "sadd");
    }
    ctx.out().int(1);
    Ok(())
}

pub fn sismember(ctx: &mut Ctx) -> CmdResult {
    smismember_generic(ctx, false)
}

pub fn smismember(ctx: &mut Ctx) -> CmdResult {
    smismember_generic(ctx, true)
}

/// SISMEMBER (one member, an integer) and SMISMEMBER (an array), after lazy expiry.
fn smismember_generic(ctx: &mut Ctx, array: bool) -> CmdResult {
    let key = ctx.argv[1];
    let members = &ctx.argv[2..];
    let clock = subkey_clock(ctx);
    let set: Option<&Set> = match read_set(ctx.ex, ctx.client, key, ctx.now_ms)? {
        Some(s) if s.has_ttls() => {
            lazy_expire_members(ctx, key, members, false);
            peek_set(&ctx.ex.dbs[ctx.client.db], key)
        }
        other => other.map(|s| &*s),
    };
    let out = &mut ctx.client.out;
    if array {
        out.array(members.len());
    }
    for m in members {
        out.int(i64::from(set.is_some_and(|s| s.contains_live(m, clock))));
    }
    Ok(())
}

pub fn scard(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let n = read_set(ctx.ex, ctx.client, key, ctx.now_ms)?.map_or(0, |s| s.len());
    ctx.out().int(n as i64);
    Ok(())
}

pub fn smembers(ctx: &mut Ctx) -> CmdResult {
    // Redis 7.0 serves SMEMBERS with SINTER's code: one set, intersected with nothing.
    sinter_generic(ctx, &ctx.argv[1..2], None, Inter::Members)
}

// ---- random members ----

pub fn srandmember(ctx: &mut Ctx) -> CmdResult {
    match ctx.argv.len() {
        2 => {}
        3 => return srandmember_count(ctx),
        _ => return Err(err::SYNTAX.into()),
    }
    let key = ctx.argv[1];
    let mut rng = rng(ctx.ex);
    if read_set(ctx.ex, ctx.client, key, ctx.now_ms)?.is_some() {
        sweep(ctx, key);
    }
    let db = ctx.client.db;
    match peek_set(&ctx.ex.dbs[db], key).and_then(|s| s.random(&mut rng)) {
        Some(m) => reply_member(&mut ctx.client.out, m),
        None => ctx.client.out.null(),
    }
    Ok(())
}

fn srandmember_count(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let l = int(ctx.argv[2])?;
    if l == i64::MIN {
        return Err(err::out_of_range_between(-i64::MAX, i64::MAX));
    }
    let uniq = l >= 0;
    let count = l.unsigned_abs() as usize;
    let cap = crate::cmd::random_reply::ReplyCap::new(ctx.ex, ctx.client);
    let mut rng = rng(ctx.ex);
    if read_set(ctx.ex, ctx.client, key, ctx.now_ms)?.is_some() {
        sweep(ctx, key);
    }
    let Some(set) = peek_set(&ctx.ex.dbs[ctx.client.db], key) else {
        ctx.client.out.array(0);
        return Ok(());
    };
    let out = &mut ctx.client.out;
    let size = set.len();
    if count == 0 {
        out.array(0);
        return Ok(());
    }
    // Repeats allowed (or a single member): independent draws, in draw order.
    if !uniq || count == 1 {
        out.array(count);
        // A packed set finds a position by walking its buffer: index a list of it instead.
        let listed: Option<Vec<Member<'_>>> =
            (matches!(set, Set::Packed(_)) && count > 1).then(|| set.iter().collect());
        let mut cut = false;
        for i in 1..=count as u64 {
            let m = match &listed {
                Some(all) => all.get((rng() % all.len().max(1) as u64) as usize).copied(),
                None => set.random(&mut rng),
            };
            let Some(m) = m else {
                break;
            };
            reply_member(out, m);
            if cap.reached(out, i) {
                cut = true;
                break;
            }
        }
        if cut {
            crate::cmd::random_reply::close_for_output(ctx.ex, ctx.client);
        }
        return Ok(());
    }
    // The whole set, in its iteration order.
    if count >= size {
        out.array(size);
        for m in set.iter() {
            reply_member(out, m);
        }
        return Ok(());
    }
    let chosen: Vec<Member<'_>> = if count * SRANDMEMBER_SUB_STRATEGY_MUL > size {
        // Most of the set: drop random members from a copy until `count` are left.
        let mut all: Vec<Member<'_>> = set.iter().collect();
        while all.len() > count {
            let i = (rng() % all.len() as u64) as usize;
            all.swap_remove(i);
        }
        all
    } else {
        // A small share: draw until `count` distinct members are found.
        let mut seen: std::collections::HashSet<Member<'_>> =
            std::collections::HashSet::with_capacity(count);
        let mut picked = Vec::with_capacity(count);
        while picked.len() < count {
            let Some(m) = set.random(&mut rng) else {
                break;
            };
            if seen.insert(m) {
                picked.push(m);
            }
        }
        picked
    };
    out.array(chosen.len());
    for m in chosen {
        reply_member(out, m);
    }
    Ok(())
}

pub fn spop(ctx: &mut Ctx) -> CmdResult {
    match ctx.argv.len() {
        2 => {}
        3 => return spop_count(ctx),
        _ => return Err(err::SYNTAX.into()),
    }
    let key = ctx.argv[1];
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let mut rng = rng(ctx.ex);
    let mut pop = |set: &mut Set| set.pop_random(&mut rng).map(|p| (p, set.is_empty()));
    let popped = match write_set(ctx.ex, db, key, now)? {
        Some(set) if !set.has_ttls() => pop(set),
        Some(_) => {
            sweep(ctx, key);
            write_set(ctx.ex, db, key, now)?.and_then(pop)
        }
        None => None,
    };
    let Some((popped, emptied)) = popped else {
        ctx.out().null();
        return Ok(());
    };
    ctx.modified(key, notify::SET, "spop");
    if ctx.propagating() {
        popped.as_member().with_bytes(|m| {
            ctx.ex
                .prop
                .rewrite([b"SREM".as_slice(), key, m].into_iter())
        });
    }
    reply_member(ctx.out(), popped.as_member());
    if emptied {
        delete_emptied(ctx, key);
    }
    Ok(())
}

fn spop_count(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let count = int_in(ctx.argv[2], 0, i64::MAX, err::POSITIVE)? as usize;
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let lim = limits(ctx.ex);
    let mut rng = rng(ctx.ex);
    if write_set(ctx.ex, db, key, now)?.is_some() && count > 0 {
        sweep(ctx, key);
    }
    let Some(set) = write_set(ctx.ex, db, key, now)? else {
        ctx.client.out.set(0);
        return Ok(());
    };
    if count == 0 {
        ctx.client.out.set(0);
        return Ok(());
    }
    let size = set.len();
    // Redis announces the pop before replying (a RESP3 subscriber sees it first).
    ctx.modified(key, notify::SET, "spop");
    ctx.ex.dirty += count.min(size) as u64 - 1;
    let Some(Entry {
        value: Value::Set(set),
        ..
    }) = ctx.ex.dbs[db].peek_mut(key)
    else {
        return Ok(());
    };
    let out = &mut ctx.client.out;
    if count >= size {
        // Everything: Redis replies as SUNION of the one set would, then deletes the key.
        reply_as_rebuilt(out, set, &lim);
        delete_emptied(ctx, key);
        let lazy = ctx.ex.settings.lazyfree_lazy_server_del;
        ctx.propagate_as(&[crate::exec::propagate::deletion_command(lazy), key]);
        return Ok(());
    }
    out.set(count);
    let remaining = size - count;
    // Each popped member propagates as its own SREM (as Redis 7.0 does).
    let prop = &mut ctx.ex.prop;
    let propagating = prop.enabled();
    prop.prevented = true;
    let mut srem = |m: Member<'_>| {
        if propagating {
            m.with_bytes(|b| prop.also(db, [b"SREM".as_slice(), key, b].into_iter()));
        }
    };
    if remaining * SPOP_MOVE_STRATEGY_MUL > count {
        // Few to pop: pop them one by one.
        for _ in 0..count {
            if let Some(p) = set.pop_random(&mut rng) {
                reply_member(out, p.as_member());
                srem(p.as_member());
            }
        }
    } else {
        // Most of the set: move the members that stay into a new set (whose encoding is
        // chosen afresh, as for a new key), reply with the rest and keep the new set.
        let mut kept: Option<Set> = None;
        for _ in 0..remaining {
            if let Some(p) = set.pop_random(&mut rng) {
                p.as_member().with_bytes(|b| {
                    kept.get_or_insert_with(|| Set::new_for(b)).insert(b, &lim);
                });
            }
        }
        for m in set.iter() {
            reply_member(out, m);
            srem(m);
        }
        if let Some(k) = kept {
            **set = k;
        }
    }
    Ok(())
}

/// Replies with a set's members in the order Redis gives after copying them into a fresh set
/// (SUNION of one key, SPOP of everything): a copy that becomes an intset replies ascending.
fn reply_as_rebuilt(out: &mut ReplyBuf, set: &Set, lim: &Limits) {
    out.set(set.len());
    if !set.is_intset() && set.len() <= lim.max_intset_entries {
        let ints: Option<Vec<i64>> = set
            .iter()
            .map(|m| match m {
                Member::Int(i) => Some(i),
                Member::Bytes(b) => as_int(b),
            })
            .collect();
        if let Some(mut ints) = ints {
            ints.sort_unstable();
            for i in ints {
                out.bulk_i64(i);
            }
            return;
        }
    }
    for m in set.iter() {
        reply_member(out, m);
    }
}

// ---- algebra ----

/// What SINTER's code produces.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Inter {
    /// The members (SINTER, SMEMBERS).
    Members,
    /// The count, stopping at a limit (0 = none) (SINTERCARD).
    Card(u64),
    /// A stored result (SINTERSTORE).
    Store,
}

/// Looks every key up (lookupKeyWrite for STORE forms, else lookupKeyRead); WRONGTYPE at the
/// first key of another type. Returns how many keys are missing.
fn lookup_sets(ctx: &mut Ctx, keys: &[&[u8]], write: bool) -> Result<usize, CmdError> {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let touch = !ctx.client.has(cf::NO_TOUCH);
    let mut missing = 0;
    for key in keys {
        let e = if write {
            ctx.ex.lookup_write(db, key, now)
        } else {
            ctx.ex.lookup_read(db, key, now, touch)
        };
        if as_set(e)?.is_none() {
            missing += 1;
        }
    }
    Ok(missing)
}

/// Stores a computed result at `dst` (Redis's setKey, which drops any TTL), or deletes `dst`
/// when the result is empty; replies with the result's size. Events come in Redis's order
/// relative to the reply (which a RESP3 client subscribed to its own events sees): "new"
/// before it, the store event after it, and "del" after it except on SINTERSTORE's
/// missing-key shortcut (`del_first`).
fn store_result(ctx: &mut Ctx, dst: &[u8], result: Set, event: &'static str, del_first: bool) {
    let db = ctx.client.db;
    let n = result.len();
    if n > 0 {
        // setKey looks the destination up first (which expires a stale one).
        let now = ctx.now_ms;
        ctx.ex.lookup_write(db, dst, now);
        let lru = ctx.new_lru();
        let was = ctx.ex.dbs[db].set(dst, Value::Set(Box::new(result)), false, lru);
        ctx.overwritten(dst, was);
        ctx.ex.announce_new_keys(db, Some(&mut *ctx.client));
        ctx.out().int(n as i64);
        ctx.modified(dst, notify::SET, event);
        return;
    }
    if !del_first {
        ctx.out().int(0);
    }
    if ctx.ex.dbs[db].remove(dst).is_some() {
        ctx.modified(dst, notify::GENERIC, "del");
    }
    if del_first {
        ctx.out().int(0);
    }
}

/// Redis's sinterGenericCommand.
fn sinter_generic(ctx: &mut Ctx, keys: &[&[u8]], dst: Option<&[u8]>, what: Inter) -> CmdResult {
    let missing = lookup_sets(ctx, keys, dst.is_some())?;
    if missing > 0 {
        // Intersecting with an empty set.
        match (what, dst) {
            (Inter::Store, Some(d)) => store_result(ctx, d, Set::new_ints(), "sinterstore", true),
            (Inter::Card(_), _) => ctx.out().int(0),
            _ => ctx.out().set(0),
        }
        return Ok(());
    }
    let db = ctx.client.db;
    let lim = limits(ctx.ex);
    let clock = subkey_clock(ctx);
    let dbref = &ctx.ex.dbs[db];
    let mut sets: Vec<&Set> = keys.iter().filter_map(|k| peek_set(dbref, k)).collect();
    // Smallest first (a stable sort, like glibc's merge-sort qsort).
    sets.sort_by_key(|s| s.len());
    let Some((&first, rest)) = sets.split_first() else {
        ctx.client.out.set(0);
        return Ok(());
    };
    let others: Vec<&Set> = rest
        .iter()
        .copied()
        .filter(|s| !std::ptr::eq(*s, first))
        .collect();
    let in_all = |m: Member<'_>| others.iter().all(|s| s.contains_member_live(m, clock));
    match what {
        Inter::Card(limit) => {
            let mut n = 0u64;
            for m in first.iter_live(clock) {
                if in_all(m) {
                    n += 1;
                    if limit != 0 && n >= limit {
                        break;
                    }
                }
            }
            ctx.client.out.int(n as i64);
        }
        Inter::Members => {
            let found: Vec<Member<'_>> = first.iter_live(clock).filter(|m| in_all(*m)).collect();
            let out = &mut ctx.client.out;
            out.set(found.len());
            for m in found {
                reply_member(out, m);
            }
        }
        Inter::Store => {
            let mut result = Set::new_ints();
            for m in first.iter_live(clock) {
                if in_all(m) {
                    result.insert_member(m, &lim);
                }
            }
            if let Some(d) = dst {
                store_result(ctx, d, result, "sinterstore", false);
            }
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Diff,
}

/// Redis's sunionDiffGenericCommand.
fn sunion_diff_generic(ctx: &mut Ctx, keys: &[&[u8]], dst: Option<&[u8]>, op: SetOp) -> CmdResult {
    lookup_sets(ctx, keys, dst.is_some())?;
    let db = ctx.client.db;
    let lim = limits(ctx.ex);
    let clock = subkey_clock(ctx);
    let dbref = &ctx.ex.dbs[db];
    let sets: Vec<Option<&Set>> = keys.iter().map(|k| peek_set(dbref, k)).collect();
    let mut result = Set::new_ints();
    match op {
        SetOp::Union => {
            for s in sets.iter().flatten() {
                for m in s.iter_live(clock) {
                    result.insert_member(m, &lim);
                }
            }
        }
        SetOp::Diff => {
            if let Some(first) = sets[0] {
                diff_into(&mut result, first, &sets[1..], &lim, clock);
            }
        }
    }
    match dst {
        Some(d) => {
            let event = match op {
                SetOp::Union => "sunionstore",
                SetOp::Diff => "sdiffstore",
            };
            store_result(ctx, d, result, event, false);
        }
        None => {
            let out = &mut ctx.client.out;
            out.set(result.len());
            for m in result.iter() {
                reply_member(out, m);
            }
        }
    }
    Ok(())
}

/// `first` minus every set in `rest` (None = missing key), built into `result` with Redis's
/// choice of algorithm, which decides the result's encoding: algorithm 1 adds only the
/// surviving members; algorithm 2 adds all of `first` and then removes.
fn diff_into(result: &mut Set, first: &Set, rest: &[Option<&Set>], lim: &Limits, clock: i64) {
    let others: Vec<&Set> = rest.iter().flatten().copied().collect();
    if others.iter().any(|s| std::ptr::eq(*s, first)) {
        // A set minus itself.
        return;
    }
    let mut algo_one_work = first.len() * (others.len() + 1);
    let algo_two_work = first.len() + others.iter().map(|s| s.len()).sum::<usize>();
    algo_one_work /= 2;
    if algo_one_work <= algo_two_work {
        let mut others = others;
        // Biggest first: a member is likelier to be found early.
        others.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for m in first.iter_live(clock) {
            if !others.iter().any(|s| s.contains_member_live(m, clock)) {
                result.insert_member(m, lim);
            }
        }
    } else {
        for m in first.iter_live(clock) {
            result.insert_member(m, lim);
        }
        for s in others {
            for m in s.iter_live(clock) {
                m.with_bytes(|b| result.remove(b));
            }
            if result.is_empty() {
                break;
            }
        }
    }
}

pub fn sinter(ctx: &mut Ctx) -> CmdResult {
    sinter_generic(ctx, &ctx.argv[1..], None, Inter::Members)
}

pub fn sinterstore(ctx: &mut Ctx) -> CmdResult {
    sinter_generic(ctx, &ctx.argv[2..], Some(ctx.argv[1]), Inter::Store)
}

pub fn sintercard(ctx: &mut Ctx) -> CmdResult {
    let numkeys = int_in(ctx.argv[1], 1, i64::MAX, err::NUMKEYS_NOT_POSITIVE)? as u64;
    let nargs = ctx.argv.len() as u64 - 2;
    if numkeys > nargs {
        return Err(err::NUMKEYS_OVER_ARGS.into());
    }
    let first_opt = 2 + numkeys as usize;
    let mut limit = 0u64;
    let mut j = first_opt;
    while j < ctx.argv.len() {
        let more = j + 1 < ctx.argv.len();
        if eq(ctx.argv[j], "LIMIT") && more {
            limit = int_in(ctx.argv[j + 1], 0, i64::MAX, err::LIMIT_NEGATIVE)? as u64;
            j += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    sinter_generic(ctx, &ctx.argv[2..first_opt], None, Inter::Card(limit))
}

pub fn sunion(ctx: &mut Ctx) -> CmdResult {
    sunion_diff_generic(ctx, &ctx.argv[1..], None, SetOp::Union)
}

pub fn sunionstore(ctx: &mut Ctx) -> CmdResult {
    sunion_diff_generic(ctx, &ctx.argv[2..], Some(ctx.argv[1]), SetOp::Union)
}

pub fn sdiff(ctx: &mut Ctx) -> CmdResult {
    sunion_diff_generic(ctx, &ctx.argv[1..], None, SetOp::Diff)
}

pub fn sdiffstore(ctx: &mut Ctx) -> CmdResult {
    sunion_diff_generic(ctx, &ctx.argv[2..], Some(ctx.argv[1]), SetOp::Diff)
}

// ---- SSCAN ----

pub fn sscan(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let mut cursor = parse_cursor(ctx.argv[2])?;
    let clock = subkey_clock(ctx);
    let Some(set) = read_set(ctx.ex, ctx.client, key, ctx.now_ms)? else {
        reply_scan(ctx, 0, &[]);
        return Ok(());
    };
    let set: &Set = set;
    let opts = parse_scan_options(ctx.argv, 3, false)?;
    let mut items: Vec<Vec<u8>> = Vec::new();
    if set.is_table() {
        // Redis's loop: up to COUNT*10 more buckets while fewer than COUNT members came back.
        let mut max_iterations = opts.count.saturating_mul(10);
        loop {
            cursor = set
                .table_scan(cursor, |m| {
                    if !set.is_expired(m, clock) {
                        items.push(m.to_vec());
                    }
                })
                .unwrap_or(0);
            if cursor == 0 || max_iterations == 0 {
                break;
            }
            max_iterations -= 1;
            if items.len() >= opts.count {
                break;
            }
        }
    } else {
        // Compact encodings come back whole, with cursor 0.
        items.extend(set.iter_live(clock).map(Member::to_vec));
        cursor = 0;
    }
    if let Some(p) = opts.pattern {
        items.retain(|m| glob_match(p, m, false));
    }
    reply_scan(ctx, cursor, &items);
    Ok(())
}

pub const HANDLERS: &[(&crate::cmd::meta::CommandMeta, Handler)] = &[
    (&m::SADD, sadd),
    (&m::SREM, srem),
    (&m::SMOVE, smove),
    (&m::SISMEMBER, sismember),
    (&m::SMISMEMBER, smismember),
    (&m::SCARD, scard),
    (&m::SMEMBERS, smembers),
    (&m::SRANDMEMBER, srandmember),
    (&m::SPOP, spop),
    (&m::SINTER, sinter),
    (&m::SINTERSTORE, sinterstore),
    (&m::SINTERCARD, sintercard),
    (&m::SUNION, sunion),
    (&m::SUNIONSTORE, sunionstore),
    (&m::SDIFF, sdiff),
    (&m::SDIFFSTORE, sdiffstore),
    (&m::SSCAN, sscan),
    (&m::SEXPIRE, member_ttl::sexpire),
    (&m::SPEXPIRE, member_ttl::spexpire),
    (&m::SEXPIREAT, member_ttl::sexpireat),
    (&m::SPEXPIREAT, member_ttl::spexpireat),
    (&m::STTL, member_ttl::sttl),
    (&m::SPTTL, member_ttl::spttl),
    (&m::SEXPIRETIME, member_ttl::sexpiretime),
    (&m::SPEXPIRETIME, member_ttl::spexpiretime),
    (&m::SPERSIST, member_ttl::spersist),
    (&m::SADDEX, member_ttl::saddex),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Popping a big hash table empty, one command (one fresh stream) per pop, with seeds from
    /// the executor's xorshift: the draws per pop stay few (they grew without bound when the
    /// command streams were xorshift too).
    #[test]
    fn consecutive_pops_draw_fresh_buckets() {
        let lim = Limits::default();
        let mut set = Set::new_ints();
        for i in 0..20_000 {
            set.insert(format!("m{i}").as_bytes(), &lim);
        }
        let mut ex_state = 0x1234_5678_9abc_def1u64;
        let mut draws = 0u64;
        while !set.is_empty() {
            ex_state ^= ex_state << 13;
            ex_state ^= ex_state >> 7;
            ex_state ^= ex_state << 17;
            let mut inner = splitmix(ex_state);
            let mut counting = || {
                draws += 1;
                inner()
            };
            assert!(set.pop_random(&mut counting).is_some());
        }
        assert!(draws < 20_000 * 20, "{draws} draws");
    }
}
