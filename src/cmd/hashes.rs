//! The "hash" group: HSET and friends, counters, HRANDFIELD and HSCAN.
//!
//! Encodings and conversions live in `keyspace::types::hash`; this module reads the thresholds
//! from the settings, checks arguments in Redis's order and writes Redis's replies.

mod field_ttl;

use crate::cmd::args::{eq, int};
use crate::cmd::generic::{parse_cursor, parse_scan_options, reply_scan};
use crate::cmd::meta_gen as m;
use crate::cmd::random_reply::{close_for_output, ReplyCap};
use crate::cmd::subkey_ttl::subkey_clock;
use crate::cmd::table::Handler;
use crate::config::notify;
use crate::exec::{client::flags as cf, Client, Ctx, Executor};
use crate::keyspace::db::NO_EXPIRE;
use crate::keyspace::types::hash::{expired, Hash, Limits};
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

// ---- field TTLs: what a command sees of an expired field ----

/// The value of `field` unless it is expired at `clock`.
#[inline]
fn live_value<'a>(h: &'a Hash, field: &[u8], clock: i64) -> Option<&'a [u8]> {
    h.get_with_ttl(field)
        .filter(|(_, ttl)| !expired(*ttl, clock))
        .map(|(v, _)| v)
}

/// What lazy expiry found of the requested fields (Redis's GetFieldRes, summed).
#[derive(Default, Clone, Copy)]
struct Lazy {
    /// Expired fields seen (deleted on a master, hidden on a replica).
    expired: usize,
    /// The hash lost its last field to it and the key was deleted.
    key_deleted: bool,
}

/// Lazy expiry of `fields` of the hash at `key` (Redis's hashTypeGetValue with
/// HFE_LAZY_EXPIRE): an expired field is deleted and its HDEL propagated as part of the
/// command, unless this is a replica or the dataset is paused (then it only reads as
/// missing). The key goes with its last field when `delete_key`. The caller sends the
/// events (`lazy_events`), once for the command, as Redis's multi-field commands do.
fn lazy_expire(ctx: &mut Ctx, key: &[u8], fields: &[&[u8]], delete_key: bool) -> Lazy {
    let db = ctx.client.db;
    let clock = subkey_clock(ctx);
    let mut out = Lazy::default();
    let Some(Value::Hash(h)) = ctx.ex.dbs[db].peek(key).map(|e| &e.value) else {
        return out;
    };
    if !h.has_ttls() {
        return out;
    }
    let due: Vec<&[u8]> = fields
        .iter()
        .copied()
        .filter(|f| {
            h.get_with_ttl(f)
                .is_some_and(|(_, ttl)| expired(ttl, clock))
        })
        .collect();
    if due.is_empty() {
        return out;
    }
    out.expired = due.len();
    if ctx.ex.repl.is_replica() || ctx.ex.is_paused(ctx.now_ms) {
        return out;
    }
    let mut deleted: Vec<&[u8]> = Vec::with_capacity(due.len());
    if let Some(Value::Hash(h)) = ctx.ex.dbs[db].peek_mut(key).map(|e| &mut e.value) {
        for f in due {
            if h.remove(f) {
                deleted.push(f);
            }
        }
    }
    out.expired = deleted.len();
    for f in &deleted {
        ctx.also_propagate(&[b"HDEL", key, f]);
    }
    ctx.ex.stats.expired_subkeys += deleted.len() as u64;
    let emptied = matches!(
        ctx.ex.dbs[db].peek(key).map(|e| &e.value),
        Some(Value::Hash(h)) if h.is_empty()
    );
    if emptied && delete_key {
        ctx.ex.dbs[db].remove(key);
        out.key_deleted = true;
    } else {
        ctx.ex.dbs[db].sync_field_ttls(key);
    }
    ctx.ex.signal_modified_by_server(db, key);
    out
}

/// The events of a lazy expiry: "hexpired", then "del" if the key went.
fn lazy_events(ctx: &mut Ctx, key: &[u8], lazy: Lazy) {
    if lazy.expired > 0 && !ctx.ex.repl.is_replica() {
        ctx.notify(notify::HASH, "hexpired", key);
        if lazy.key_deleted {
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
}

/// Lazy expiry of one field, with its events (HGET, HEXISTS, HSTRLEN, HINCRBY, HSETNX).
fn lazy_expire_one(ctx: &mut Ctx, key: &[u8], field: &[u8]) {
    let lazy = lazy_expire(ctx, key, &[field], true);
    lazy_events(ctx, key, lazy);
}

/// Whether the hash at `key` has any field TTL (so the fast paths can skip lazy expiry).
fn has_field_ttls(ctx: &Ctx, key: &[u8]) -> bool {
    matches!(
        ctx.ex.dbs[ctx.client.db].peek(key).map(|e| &e.value),
        Some(Value::Hash(h)) if h.has_ttls()
    )
}

/// After fields went or lost their TTLs: deletes the key if the hash is empty (with its
/// "del" event), else refiles it in the field-expiry index.
fn settle_hash(ctx: &mut Ctx, key: &[u8]) -> bool {
    let db = ctx.client.db;
    let emptied = matches!(
        ctx.ex.dbs[db].peek(key).map(|e| &e.value),
        Some(Value::Hash(h)) if h.is_empty()
    );
    if emptied {
        ctx.ex.dbs[db].remove(key);
        ctx.notify(notify::GENERIC, "del", key);
    } else {
        ctx.ex.dbs[db].sync_field_ttls(key);
    }
    emptied
}

fn hset_generic(ctx: &mut Ctx, hmset: bool) -> CmdResult {
    let argv = ctx.argv;
    if argv.len() % 2 == 1 {
        return Err(err::wrong_arity(ctx.cmd.meta.name));
    }
    let key = argv[1];
    let pairs = &argv[2..];
    let lim = limits(ctx.ex);
    let (created, had_ttls) = write_hash(ctx, key, true, |h| {
        let had_ttls = h.has_ttls();
        h.prepare_write(pairs, lim);
        let created = pairs
            .chunks_exact(2)
            .filter(|kv| h.set(kv[0], kv[1], lim))
            .count();
        Ok((created, had_ttls))
    })?
    .unwrap_or((0, false));
    if had_ttls {
        // An overwritten field loses its TTL.
        ctx.db().sync_field_ttls(key);
    }
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
    expire_field_for_write(ctx, key, field)?;
    let clock = subkey_clock(ctx);
    let set = write_hash(ctx, key, true, |h| {
        if live_value(h, field, clock).is_some() {
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
    let clock = subkey_clock(ctx);
    let Some(h) = read_hash(ctx.ex, ctx.client, key, ctx.now_ms)? else {
        ctx.client.out.null();
        return Ok(());
    };
    if h.has_ttls() {
        lazy_expire_one(ctx, key, field);
    } else {
        match h.get(field) {
            Some(v) => ctx.client.out.bulk(v),
            None => ctx.client.out.null(),
        }
        return Ok(());
    }
    match hash_in(ctx.ex, ctx.client.db, key).and_then(|h| live_value(h, field, clock)) {
        Some(v) => ctx.client.out.bulk(v),
        None => ctx.client.out.null(),
    }
    Ok(())
}

/// The hash at `key` as it is now, without lookup side effects (after a typed lookup).
fn peek_hash<'a>(ctx: &'a Ctx, key: &[u8]) -> Option<&'a Hash> {
    hash_in(ctx.ex, ctx.client.db, key)
}

/// `peek_hash` borrowing only the executor.
fn hash_in<'a>(ex: &'a Executor, db: usize, key: &[u8]) -> Option<&'a Hash> {
    match ex.dbs[db].peek(key).map(|e| &e.value) {
        Some(Value::Hash(h)) => Some(h),
        _ => None,
    }
}

pub fn hmget(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let fields = &ctx.argv[2..];
    let clock = subkey_clock(ctx);
    let h = read_hash(ctx.ex, ctx.client, key, ctx.now_ms)?;
    // One lookup unless the hash has field TTLs (then expired fields go first).
    let h = if h.is_some_and(Hash::has_ttls) {
        let lazy = lazy_expire(ctx, key, fields, true);
        lazy_events(ctx, key, lazy);
        hash_in(ctx.ex, ctx.client.db, key)
    } else {
        h
    };
    let out = &mut ctx.client.out;
    out.array(fields.len());
    for f in fields {
        match h.and_then(|h| live_value(h, f, clock)) {
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
    let (deleted, emptied, had_ttls) = write_hash(ctx, key, false, |h| {
        let had_ttls = h.has_ttls();
        let mut n = 0u64;
        for f in fields {
            if h.remove(f) {
                n += 1;
                if h.is_empty() {
                    return Ok((n, true, had_ttls));
                }
            }
        }
        Ok((n, false, had_ttls))
    })?
    .unwrap_or((0, false, false));
    fields_deleted(ctx, key, deleted, emptied);
    if had_ttls && !emptied {
        ctx.db().sync_field_ttls(key);
    }
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
/// absent or expired), and the fields that were there are deleted; the key goes with its
/// last field.
pub fn hgetdel(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    // The type is checked before the arguments, as Redis looks the key up first.
    if let Some(e) = ctx.write(key) {
        if !matches!(e.value, Value::Hash(_)) {
            return Err(err::WRONGTYPE.into());
        }
    }
    let fields = fields_block(ctx.argv, 2)?;
    let lazy = lazy_expire(ctx, key, fields, false);
    let clock = subkey_clock(ctx);
    let values = write_hash(ctx, key, false, |h| {
        let values: Vec<Option<Vec<u8>>> = fields
            .iter()
            .map(|f| {
                let v = live_value(h, f, clock).map(<[u8]>::to_vec);
                if v.is_some() {
                    h.remove(f);
                }
                v
            })
            .collect();
        Ok(values)
    })?
    .unwrap_or_else(|| vec![None; fields.len()]);
    let deleted = values.iter().filter(|v| v.is_some()).count() as u64;
    let out = &mut ctx.client.out;
    out.array(values.len());
    for v in &values {
        match v {
            Some(v) => out.bulk(v),
            None => out.null(),
        }
    }
    if lazy.expired > 0 || deleted > 0 {
        let db = ctx.client.db;
        ctx.ex.signal_modified(db, key);
        if lazy.expired > 0 && !ctx.ex.repl.is_replica() {
            ctx.notify(notify::HASH, "hexpired", key);
        }
        if deleted > 0 {
            ctx.notify(notify::HASH, "hdel", key);
            ctx.ex.dirty += deleted;
            let mut hdel: Vec<&[u8]> = vec![b"HDEL", key];
            hdel.extend_from_slice(fields);
            ctx.propagate_as(&hdel);
        }
        settle_hash(ctx, key);
    }
    Ok(())
}

pub fn hlen(ctx: &mut Ctx) -> CmdResult {
    let n = read_hash(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)?.map_or(0, Hash::len);
    ctx.out().int(n as i64);
    Ok(())
}

/// The live value of `field` after lazy expiry (HSTRLEN, HEXISTS): one lookup when the hash
/// has no field TTLs.
fn read_field_lazily<'a>(
    ctx: &'a mut Ctx,
    key: &[u8],
    field: &[u8],
) -> Result<Option<&'a [u8]>, CmdError> {
    let clock = subkey_clock(ctx);
    let has_ttls = read_hash(ctx.ex, ctx.client, key, ctx.now_ms)?.is_some_and(Hash::has_ttls);
    if has_ttls {
        lazy_expire_one(ctx, key, field);
    }
    Ok(peek_hash(ctx, key).and_then(|h| live_value(h, field, clock)))
}

pub fn hstrlen(ctx: &mut Ctx) -> CmdResult {
    let (key, field) = (ctx.argv[1], ctx.argv[2]);
    let n = read_field_lazily(ctx, key, field)?.map_or(0, <[u8]>::len);
    ctx.out().int(n as i64);
    Ok(())
}

pub fn hexists(ctx: &mut Ctx) -> CmdResult {
    let (key, field) = (ctx.argv[1], ctx.argv[2]);
    let found = read_field_lazily(ctx, key, field)?.is_some();
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
    let clock = subkey_clock(ctx);
    let h = read_hash(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)?;
    let out = &mut ctx.client.out;
    // Expired fields are skipped, not deleted (Redis's genericHgetallCommand).
    let n = h.map_or(0, |h| h.len_live(clock));
    if parts == Parts::Both {
        out.map(n);
    } else {
        out.array(n);
    }
    if let Some(h) = h {
        for (f, v) in h.iter_live(clock) {
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
    expire_field_for_write(ctx, key, field)?;
    let value = write_hash(ctx, key, true, |h| {
        let old = match h.get(field) {
            Some(v) => parse_i64(v).ok_or_else(|| CmdError::from(err::HASH_VALUE_NOT_INTEGER))?,
            None => 0,
        };
        let new = old
            .checked_add(incr)
            .ok_or_else(|| CmdError::from(err::OVERFLOW))?;
        h.set_keep_ttl(field, itoa::Buffer::new().format(new).as_bytes(), lim);
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
    expire_field_for_write(ctx, key, field)?;
    let result = write_hash(ctx, key, true, |h| {
        let ttl = h.get_with_ttl(field).map_or(0, |(_, ttl)| ttl);
        let result = long_double_add(h.get(field), incr).map_err(|e| match e {
            LdAddError::CurrentNotFloat => CmdError::from(err::HASH_VALUE_NOT_FLOAT),
            LdAddError::IncrementNotFloat => CmdError::from(err::NOT_FLOAT),
            LdAddError::NanOrInfinity => CmdError::from(err::NAN_OR_INF),
        })?;
        h.set_keep_ttl(field, &result, lim);
        Ok((result, ttl))
    })?
    .unwrap_or_default();
    let (result, ttl) = result;
    ctx.out().bulk(&result);
    ctx.modified(key, notify::HASH, "hincrbyfloat");
    // The exact result, so float formatting cannot differ downstream; a field with a TTL
    // keeps it there too (Redis 8's HSETEX KEEPTTL; HSET otherwise, which Redis 7.0 takes).
    if ttl > 0 {
        ctx.propagate_as(&[b"HSETEX", key, b"KEEPTTL", b"FIELDS", b"1", field, &result]);
    } else {
        ctx.propagate_as(&[b"HSET", key, field, &result]);
    }
    Ok(())
}

/// Before HINCRBY/HINCRBYFLOAT/HSETNX change a field: the key's type is checked and an
/// expired field is deleted (so the command starts it afresh), as Redis's hashTypeGetValue.
fn expire_field_for_write(ctx: &mut Ctx, key: &[u8], field: &[u8]) -> CmdResult {
    match ctx.write(key) {
        Some(e) if !matches!(e.value, Value::Hash(_)) => Err(err::WRONGTYPE.into()),
        Some(_) => {
            if has_field_ttls(ctx, key) {
                lazy_expire_one(ctx, key, field);
            }
            Ok(())
        }
        None => Ok(()),
    }
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
    if read_hash(ctx.ex, ctx.client, key, ctx.now_ms)?.is_none()
        || crate::cmd::subkey_ttl::sweep(ctx, key)
    {
        ctx.client.out.array(0);
        return Ok(());
    }
    let Some(h) = hash_in(ctx.ex, ctx.client.db, key) else {
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
    let key = ctx.argv[1];
    if read_hash(ctx.ex, ctx.client, key, ctx.now_ms)?.is_none()
        || crate::cmd::subkey_ttl::sweep(ctx, key)
    {
        ctx.client.out.null();
        return Ok(());
    }
    let Some(h) = hash_in(ctx.ex, ctx.client.db, key) else {
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
    let clock = subkey_clock(ctx);
    let Some(h) = read_hash(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)? else {
        reply_scan(ctx, 0, &[]);
        return Ok(());
    };
    let opts = parse_scan_options(ctx.argv, 3, false)?;
    let mut items: Vec<Vec<u8>> = Vec::new();
    // Expired fields are skipped, not deleted (Redis's scanGenericCommand).
    let mut push = |f: &[u8], v: &[u8], ttl: i64| {
        if !expired(ttl, clock) && opts.pattern.is_none_or(|p| glob_match(p, f, false)) {
            items.push(f.to_vec());
            items.push(v.to_vec());
        }
    };
    match h {
        // A compact hash is returned whole, whatever the cursor.
        Hash::Packed(p) => {
            let mut it = p.iter();
            while let Some((f, v, ttl)) = it.next_with_ttl() {
                push(f, v, ttl);
            }
            cursor = 0;
        }
        Hash::Table(t) => {
            // Redis counts fields and values alike against COUNT, before filtering.
            let mut collected = 0usize;
            let mut max_iterations = opts.count.saturating_mul(10);
            loop {
                cursor = t.scan(cursor, |f, v, ttl| {
                    collected += 2;
                    push(f, v, ttl);
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
    (&m::HEXPIRE, field_ttl::hexpire),
    (&m::HPEXPIRE, field_ttl::hpexpire),
    (&m::HEXPIREAT, field_ttl::hexpireat),
    (&m::HPEXPIREAT, field_ttl::hpexpireat),
    (&m::HTTL, field_ttl::httl),
    (&m::HPTTL, field_ttl::hpttl),
    (&m::HEXPIRETIME, field_ttl::hexpiretime),
    (&m::HPEXPIRETIME, field_ttl::hpexpiretime),
    (&m::HPERSIST, field_ttl::hpersist),
    (&m::HGETEX, field_ttl::hgetex),
    (&m::HSETEX, field_ttl::hsetex),
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
