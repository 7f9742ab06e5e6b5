//! The "hash" group: HSET and friends, counters, HRANDFIELD and HSCAN.
//!
//! Encodings and conversions live in `keyspace::types::hash`; this module reads the thresholds
//! from the settings, checks arguments in Redis's order and writes Redis's replies.

use crate::cmd::args::{eq, int};
use crate::cmd::generic::{parse_cursor, parse_scan_options, reply_scan};
use crate::cmd::meta_gen as m;
use crate::cmd::random_reply::{close_for_output, ReplyCap};
use crate::cmd::table::Handler;
use crate::config::notify;
use crate::exec::{client::flags as cf, Client, Ctx, Executor};
use crate::keyspace::db::NO_EXPIRE;
use crate::keyspace::types::hash::{Hash, Limits};
use crate::keyspace::value::Value;
use crate::resp::errors::{self as err, CmdError, CmdResult};
use crate::resp::reply::ReplyBuf;
use crate::util::glob::glob_match;
use crate::util::num::{long_double_add, parse_i64, LdAddError};

fn limits(ex: &Executor) -> Limits {
    Limits {
        max_entries: ex.settings.hash_max_listpack_entries,
        max_value: ex.settings.hash_max_listpack_value,
    }
}

/// The hash at `key` for reading (lookupKeyRead): None if missing, WRONGTYPE for other types.
/// Borrows only the executor, so the reply buffer stays usable.
fn read_hash<'a>(
    ex: &'a mut Executor,
    client: &Client,
    key: &[u8],
    now_ms: i64,
) -> Result<Option<&'a Hash>, CmdError> {
    let touch = !client.has(cf::NO_TOUCH);
    match ex.lookup_read(client.db, key, now_ms, touch) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Hash(h) => Ok(Some(h)),
            _ => Err(err::WRONGTYPE.into()),
        },
    }
}

/// Runs `f` on the hash at `key` for writing (lookupKeyWrite). A missing key gets a new empty
/// hash when `create` (Redis's hashTypeLookupWriteOrCreate), stored only if `f` succeeds and
/// leaves it non-empty; without `create` a missing key gives Ok(None). WRONGTYPE for other
/// types.
fn write_hash<R>(
    ctx: &mut Ctx,
    key: &[u8],
    create: bool,
    f: impl FnOnce(&mut Hash) -> Result<R, CmdError>,
) -> Result<Option<R>, CmdError> {
    let db = ctx.client.db;
    let now = ctx.now_ms;
    match ctx.ex.lookup_write(db, key, now) {
        Some(e) => match &mut e.value {
            Value::Hash(h) => f(h).map(Some),
            _ => Err(err::WRONGTYPE.into()),
        },
        None if create => {
            let mut h = Hash::new();
            let r = f(&mut h)?;
            if !h.is_empty() {
                let lru = ctx.ex.new_lru(now);
                ctx.ex.dbs[db].insert(key, Value::Hash(Box::new(h)), NO_EXPIRE, lru);
            }
            Ok(Some(r))
        }
        None => Ok(None),
    }
}

fn hset_generic(ctx: &mut Ctx, hmset: bool) -> CmdResult {
    let argv = ctx.argv;
    if argv.len() % 2 == 1 {
        return Err(err::wrong_arity(ctx.cmd.meta.name));
    }
    let key = argv[1];
    let pairs = &argv[2..];
    let lim = limits(ctx.ex);
    let created = write_hash(ctx, key, true, |h| {
        h.prepare_write(pairs, lim);
        Ok(pairs
            .chunks_exact(2)
            .filter(|kv| h.set(kv[0], kv[1], lim))
            .count())
    })?
    .unwrap_or(0);
    if hmset {
        ctx.out().ok();
    } else {
        ctx.out().int(created as i64);
    }
    ctx.modified(key, notify::HASH, "hset");
    ctx.ex.dirty += (pairs.len() / 2) as u64 - 1;
    Ok(())
}

pub fn hset(ctx: &mut Ctx) -> CmdResult {
    hset_generic(ctx, false)
}

pub fn hmset(ctx: &mut Ctx) -> CmdResult {
    hset_generic(ctx, true)
}

pub fn hsetnx(ctx: &mut Ctx) -> CmdResult {
    let (key, field, value) = (ctx.argv[1], ctx.argv[2], ctx.argv[3]);
    let lim = limits(ctx.ex);
    let set = write_hash(ctx, key, true, |h| {
        if h.contains(field) {
            return Ok(false);
        }
        h.prepare_write(&[field, value], lim);
        h.set(field, value, lim);
        Ok(true)
    })?
    .unwrap_or(false);
    ctx.out().int(i64::from(set));
    if set {
        ctx.modified(key, notify::HASH, "hset");
    }
    Ok(())
}

pub fn hget(ctx: &mut Ctx) -> CmdResult {
    let (key, field) = (ctx.argv[1], ctx.argv[2]);
    match read_hash(ctx.ex, ctx.client, key, ctx.now_ms)?.and_then(|h| h.get(field)) {
        Some(v) => ctx.client.out.bulk(v),
        None => ctx.client.out.null(),
    }
    Ok(())
}

pub fn hmget(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let fields = &ctx.argv[2..];
    let h = read_hash(ctx.ex, ctx.client, key, ctx.now_ms)?;
    let out = &mut ctx.client.out;
    out.array(fields.len());
    for f in fields {
        match h.and_then(|h| h.get(f)) {
            Some(v) => out.bulk(v),
            None => out.null(),
        }
    }
    Ok(())
}

/// After `deleted` fields of `key` went (HDEL, HGETDEL): the key goes with its last field,
/// then the events, the dirty count and the watchers, as Redis's hdelCommand.
fn fields_deleted(ctx: &mut Ctx, key: &[u8], deleted: u64, emptied: bool) {
    if deleted == 0 {
        return;
    }
    if emptied {
        ctx.db().remove(key);
    }
    ctx.modified(key, notify::HASH, "hdel");
    ctx.ex.dirty += deleted - 1;
    if emptied {
        let db = ctx.client.db;
        ctx.ex.notify(notify::GENERIC, "del", key, db);
    }
}

pub fn hdel(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let fields = &ctx.argv[2..];
    let (deleted, emptied) = write_hash(ctx, key, false, |h| {
        let mut n = 0u64;
        for f in fields {
            if h.remove(f) {
                n += 1;
                if h.is_empty() {
                    return Ok((n, true));
                }
            }
        }
        Ok((n, false))
    })?
    .unwrap_or((0, false));
    fields_deleted(ctx, key, deleted, emptied);
    ctx.out().int(deleted as i64);
    Ok(())
}

/// The fields of a `FIELDS numfields field ...` block starting at `at` (Redis 7.4+'s hash
/// field commands): the block must end the command and its count must match.
fn fields_block<'a>(argv: &'a [&'a [u8]], at: usize) -> Result<&'a [&'a [u8]], CmdError> {
    if !argv.get(at).is_some_and(|a| eq(a, "FIELDS")) {
        return Err(err::FIELDS_MISSING.into());
    }
    let n = argv
        .get(at + 1)
        .and_then(|a| parse_i64(a))
        .filter(|n| *n >= 1)
        .ok_or(err::NUMFIELDS_POSITIVE)?;
    let fields = &argv[at + 2..];
    if usize::try_from(n).ok() != Some(fields.len()) {
        return Err(err::NUMFIELDS_MISMATCH.into());
    }
    Ok(fields)
}

/// HGETDEL key FIELDS numfields field [field ...] (Redis 8.0): each field's value (nil when
/// absent), and the fields that were there are deleted; the key goes with its last field.
pub fn hgetdel(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let (db, now) = (ctx.client.db, ctx.now_ms);
    // The type is checked before the arguments, as Redis looks the key up first.
    if let Some(e) = ctx.ex.lookup_write(db, key, now) {
        if !matches!(e.value, Value::Hash(_)) {
            return Err(err::WRONGTYPE.into());
        }
    }
    let fields = fields_block(ctx.argv, 2)?;
    let (values, emptied) = write_hash(ctx, key, false, |h| {
        let values: Vec<Option<Vec<u8>>> = fields
            .iter()
            .map(|f| {
                let v = h.get(f).map(<[u8]>::to_vec);
                if v.is_some() {
                    h.remove(f);
                }
                v
            })
            .collect();
        Ok((values, h.is_empty()))
    })?
    .unwrap_or_else(|| (vec![None; fields.len()], false));
    let deleted = values.iter().filter(|v| v.is_some()).count() as u64;
    let out = &mut ctx.client.out;
    out.array(values.len());
    for v in &values {
        match v {
            Some(v) => out.bulk(v),
            None => out.null(),
        }
    }
    fields_deleted(ctx, key, deleted, emptied);
    if deleted > 0 {
        let mut hdel: Vec<&[u8]> = vec![b"HDEL", key];
        hdel.extend_from_slice(fields);
        ctx.propagate_as(&hdel);
    }
    Ok(())
}

pub fn hlen(ctx: &mut Ctx) -> CmdResult {
    let n = read_hash(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)?.map_or(0, Hash::len);
    ctx.out().int(n as i64);
    Ok(())
}

pub fn hstrlen(ctx: &mut Ctx) -> CmdResult {
    let (key, field) = (ctx.argv[1], ctx.argv[2]);
    let n = read_hash(ctx.ex, ctx.client, key, ctx.now_ms)?
        .and_then(|h| h.get(field))
        .map_or(0, <[u8]>::len);
    ctx.out().int(n as i64);
    Ok(())
}

pub fn hexists(ctx: &mut Ctx) -> CmdResult {
    let (key, field) = (ctx.argv[1], ctx.argv[2]);
    let found = read_hash(ctx.ex, ctx.client, key, ctx.now_ms)?.is_some_and(|h| h.contains(field));
    ctx.out().int(i64::from(found));
    Ok(())
}

/// What HKEYS, HVALS and HGETALL return.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parts {
    Fields,
    Values,
    Both,
}

fn getall_generic(ctx: &mut Ctx, parts: Parts) -> CmdResult {
    let h = read_hash(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)?;
    let out = &mut ctx.client.out;
    let n = h.map_or(0, Hash::len);
    if parts == Parts::Both {
        out.map(n);
    } else {
        out.array(n);
    }
    if let Some(h) = h {
        for (f, v) in h.iter() {
            if parts != Parts::Values {
                out.bulk(f);
            }
            if parts != Parts::Fields {
                out.bulk(v);
            }
        }
    }
    Ok(())
}

pub fn hkeys(ctx: &mut Ctx) -> CmdResult {
    getall_generic(ctx, Parts::Fields)
}

pub fn hvals(ctx: &mut Ctx) -> CmdResult {
    getall_generic(ctx, Parts::Values)
}

pub fn hgetall(ctx: &mut Ctx) -> CmdResult {
    getall_generic(ctx, Parts::Both)
}

pub fn hincrby(ctx: &mut Ctx) -> CmdResult {
    let (key, field) = (ctx.argv[1], ctx.argv[2]);
    let incr = int(ctx.argv[3])?;
    let lim = limits(ctx.ex);
    let value = write_hash(ctx, key, true, |h| {
        let old = match h.get(field) {
            Some(v) => parse_i64(v).ok_or_else(|| CmdError::from(err::HASH_VALUE_NOT_INTEGER))?,
            None => 0,
        };
        let new = old
            .checked_add(incr)
            .ok_or_else(|| CmdError::from(err::OVERFLOW))?;
        h.set(field, itoa::Buffer::new().format(new).as_bytes(), lim);
        Ok(new)
    })?
    .unwrap_or(0);
    ctx.out().int(value);
    ctx.modified(key, notify::HASH, "hincrby");
    Ok(())
}

pub fn hincrbyfloat(ctx: &mut Ctx) -> CmdResult {
    let (key, field, incr) = (ctx.argv[1], ctx.argv[2], ctx.argv[3]);
    // The increment alone: not a float, or NaN/infinite (checked before the key is looked up).
    match long_double_add(None, incr) {
        Err(LdAddError::NanOrInfinity) => return Err(err::VALUE_NAN_OR_INF.into()),
        Err(_) => return Err(err::NOT_FLOAT.into()),
        Ok(_) => {}
    }
    let lim = limits(ctx.ex);
    let result = write_hash(ctx, key, true, |h| {
        let result = long_double_add(h.get(field), incr).map_err(|e| match e {
            LdAddError::CurrentNotFloat => CmdError::from(err::HASH_VALUE_NOT_FLOAT),
            LdAddError::IncrementNotFloat => CmdError::from(err::NOT_FLOAT),
            LdAddError::NanOrInfinity => CmdError::from(err::NAN_OR_INF),
        })?;
        h.set(field, &result, lim);
        Ok(result)
    })?
    .unwrap_or_default();
    ctx.out().bulk(&result);
    ctx.modified(key, notify::HASH, "hincrbyfloat");
    ctx.propagate_as(&[b"HSET", key, field, &result]);
    Ok(())
}

/// A generator seeded from the executor's, so sampling can borrow the hash.
fn sampler(ex: &mut Executor) -> impl FnMut() -> u64 {
    crate::util::rng::splitmix(ex.random_u64())
}

/// One pair of an HRANDFIELD reply: `[field, value]` in RESP3 with values, else flat.
#[inline]
fn reply_pair(out: &mut ReplyBuf, f: &[u8], v: &[u8], withvalues: bool) {
    if withvalues && out.is_resp3() {
        out.array(2);
    }
    out.bulk(f);
    if withvalues {
        out.bulk(v);
    }
}

/// The array header of an HRANDFIELD reply of `n` picks.
fn reply_picks_header(out: &mut ReplyBuf, n: u64, withvalues: bool) {
    if withvalues && !out.is_resp3() {
        out.array((n * 2) as usize);
    } else {
        out.array(n as usize);
    }
}

fn hrandfield_count(ctx: &mut Ctx, l: i64, withvalues: bool) -> CmdResult {
    let mut rng = sampler(ctx.ex);
    let cap = ReplyCap::new(ctx.ex, ctx.client);
    let key = ctx.argv[1];
    let Some(h) = read_hash(ctx.ex, ctx.client, key, ctx.now_ms)? else {
        ctx.client.out.array(0);
        return Ok(());
    };
    let size = h.len() as u64;
    let (count, unique) = if l >= 0 {
        (l as u64, true)
    } else {
        (l.unsigned_abs(), false)
    };
    if count == 0 {
        ctx.client.out.array(0);
        return Ok(());
    }
    // Snapshot the pairs of a compact hash once (it is small) for index-based sampling.
    let packed: Option<Vec<(&[u8], &[u8])>> = match h {
        Hash::Packed(p) => Some(p.iter().collect()),
        Hash::Table(_) => None,
    };

    // Repeats allowed (or a single pick): sample independently, in random order.
    if !unique || count == 1 {
        reply_picks_header(&mut ctx.client.out, count, withvalues);
        let mut written = 0u64;
        let mut overflow = false;
        while written < count {
            let (f, v) = match (&packed, h) {
                (Some(pairs), _) => pairs[(rng() % size) as usize],
                (None, Hash::Table(t)) => t.random(&mut rng).expect("non-empty"),
                (None, Hash::Packed(_)) => unreachable!("compact hashes are snapshotted"),
            };
            reply_pair(&mut ctx.client.out, f, v, withvalues);
            written += 1;
            if cap.reached(&ctx.client.out, written) {
                overflow = true;
                break;
            }
        }
        if overflow {
            close_for_output(ctx.ex, ctx.client);
        }
        return Ok(());
    }

    let out = &mut ctx.client.out;
    reply_picks_header(out, count.min(size), withvalues);
    // The whole hash.
    if count >= size {
        for (f, v) in h.iter() {
            reply_pair(out, f, v, withvalues);
        }
        return Ok(());
    }
    let count = count as usize;
    let size = size as usize;
    // Compact: a uniform subset kept in stored order (selection sampling).
    if let Some(pairs) = &packed {
        let mut need = count;
        for (i, &(f, v)) in pairs.iter().enumerate() {
            let left = size - i;
            if (rng() % left as u64) < need as u64 {
                reply_pair(out, f, v, withvalues);
                need -= 1;
                if need == 0 {
                    break;
                }
            }
        }
        return Ok(());
    }
    let Hash::Table(t) = h else {
        unreachable!("compact hashes are handled above")
    };
    if count * 3 > size {
        // Most of the hash: take everything, drop random pairs until `count` remain.
        let mut all: Vec<(&[u8], &[u8])> = t.iter().collect();
        while all.len() > count {
            let i = (rng() % all.len() as u64) as usize;
            all.swap_remove(i);
        }
        for (f, v) in all {
            reply_pair(out, f, v, withvalues);
        }
    } else {
        // A small part: random picks until `count` distinct fields.
        let mut picked: std::collections::HashSet<&[u8]> =
            std::collections::HashSet::with_capacity(count);
        let mut chosen: Vec<(&[u8], &[u8])> = Vec::with_capacity(count);
        while chosen.len() < count {
            let (f, v) = t.random(&mut rng).expect("non-empty");
            if picked.insert(f) {
                chosen.push((f, v));
            }
        }
        for (f, v) in chosen {
            reply_pair(out, f, v, withvalues);
        }
    }
    Ok(())
}

pub fn hrandfield(ctx: &mut Ctx) -> CmdResult {
    let argc = ctx.argv.len();
    if argc >= 3 {
        let l = int(ctx.argv[2])?;
        if l < -i64::MAX {
            return Err(err::out_of_range_between(-i64::MAX, i64::MAX));
        }
        if argc > 4 || (argc == 4 && !eq(ctx.argv[3], "WITHVALUES")) {
            return Err(err::SYNTAX.into());
        }
        let withvalues = argc == 4;
        if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
            return Err(err::VALUE_OUT_OF_RANGE.into());
        }
        return hrandfield_count(ctx, l, withvalues);
    }
    let mut rng = sampler(ctx.ex);
    let Some(h) = read_hash(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)? else {
        ctx.client.out.null();
        return Ok(());
    };
    let field = match h {
        Hash::Packed(p) => {
            let i = (rng() % p.len() as u64) as usize;
            p.iter().nth(i).map(|(f, _)| f)
        }
        Hash::Table(t) => t.random(&mut rng).map(|(f, _)| f),
    };
    match field {
        Some(f) => ctx.client.out.bulk(f),
        None => ctx.client.out.null(),
    }
    Ok(())
}

pub fn hscan(ctx: &mut Ctx) -> CmdResult {
    let mut cursor = parse_cursor(ctx.argv[2])?;
    let Some(h) = read_hash(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)? else {
        reply_scan(ctx, 0, &[]);
        return Ok(());
    };
    let opts = parse_scan_options(ctx.argv, 3, false)?;
    let mut items: Vec<Vec<u8>> = Vec::new();
    let mut push = |f: &[u8], v: &[u8]| {
        if opts.pattern.is_none_or(|p| glob_match(p, f, false)) {
            items.push(f.to_vec());
            items.push(v.to_vec());
        }
    };
    match h {
        // A compact hash is returned whole, whatever the cursor.
        Hash::Packed(p) => {
            for (f, v) in p.iter() {
                push(f, v);
            }
            cursor = 0;
        }
        Hash::Table(t) => {
            // Redis counts fields and values alike against COUNT, before filtering.
            let mut collected = 0usize;
            let mut max_iterations = opts.count.saturating_mul(10);
            loop {
                cursor = t.scan(cursor, |f, v| {
                    collected += 2;
                    push(f, v);
                });
                if cursor == 0 || max_iterations == 0 || collected >= opts.count {
                    break;
                }
                max_iterations -= 1;
            }
        }
    }
    reply_scan(ctx, cursor, &items);
    Ok(())
}

pub const HANDLERS: &[(&crate::cmd::meta::CommandMeta, Handler)] = &[
    (&m::HSET, hset),
    (&m::HMSET, hmset),
    (&m::HSETNX, hsetnx),
    (&m::HGET, hget),
    (&m::HMGET, hmget),
    (&m::HDEL, hdel),
    (&m::HGETDEL, hgetdel),
    (&m::HLEN, hlen),
    (&m::HSTRLEN, hstrlen),
    (&m::HEXISTS, hexists),
    (&m::HKEYS, hkeys),
    (&m::HVALS, hvals),
    (&m::HGETALL, hgetall),
    (&m::HINCRBY, hincrby),
    (&m::HINCRBYFLOAT, hincrbyfloat),
    (&m::HRANDFIELD, hrandfield),
    (&m::HSCAN, hscan),
];
