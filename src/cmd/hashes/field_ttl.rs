//! Hash field expiration: Redis 7.4's HEXPIRE, HPEXPIRE, HEXPIREAT, HPEXPIREAT, HTTL, HPTTL,
//! HEXPIRETIME, HPEXPIRETIME and HPERSIST, and Redis 8.0's HGETEX and HSETEX. TTLs are
//! absolute Unix times in ms; relative ones are propagated as absolute (HPEXPIREAT, HSETEX
//! PXAT), and a TTL already past deletes the field there and then, propagated as HDEL.

use super::{fields_block, lazy_events, lazy_expire, limits, live_value, settle_hash, write_hash};
use crate::cmd::args::eq;
use crate::cmd::subkey_ttl::{
    already_past, parse_subkey_ttl, reply_ints, Condition, CONDITION_FAILED, DELETED, NO_SUBKEY,
    NO_TTL, SET,
};
use crate::config::notify;
use crate::exec::Ctx;
use crate::keyspace::value::Value;
use crate::resp::errors::{self as err, CmdError, CmdResult};
use crate::util::num::parse_i64;

/// The key's type is checked first, as Redis's lookupKeyWrite + checkType.
fn check_hash_type(ctx: &mut Ctx, key: &[u8]) -> CmdResult {
    match ctx.write(key) {
        Some(e) if !matches!(e.value, Value::Hash(_)) => Err(err::WRONGTYPE.into()),
        _ => Ok(()),
    }
}

fn key_exists(ctx: &Ctx, key: &[u8]) -> bool {
    ctx.ex.dbs[ctx.client.db].peek(key).is_some()
}

/// HEXPIRE, HPEXPIRE, HEXPIREAT, HPEXPIREAT key time [NX | XX | GT | LT] FIELDS n field...
fn hexpire_generic(ctx: &mut Ctx, unit_ms: i64, relative: bool) -> CmdResult {
    let argv = ctx.argv;
    let key = argv[1];
    check_hash_type(ctx, key)?;
    let base = if relative { ctx.now_ms } else { 0 };
    let at = parse_subkey_ttl(argv[2], unit_ms, base, ctx.cmd.meta.name)?;
    let cond = Condition::parse(argv[3]).unwrap_or(Condition::Always);
    let count_at = if cond == Condition::Always { 4 } else { 5 };
    if !eq(argv[count_at - 1], "FIELDS") {
        return Err(err::FIELDS_MISSING.into());
    }
    let n = parse_i64(argv[count_at])
        .filter(|n| *n >= 1)
        .ok_or(err::NUMFIELDS_ABOVE_ZERO)?;
    let fields = &argv[count_at + 1..];
    if usize::try_from(n).ok() != Some(fields.len()) {
        return Err(err::NUMFIELDS_MISMATCH.into());
    }
    if !key_exists(ctx, key) {
        reply_ints(ctx, &vec![NO_SUBKEY; fields.len()]);
        return Ok(());
    }
    let past = already_past(ctx, at);
    let codes = write_hash(ctx, key, false, |h| {
        h.make_ex();
        Ok(fields
            .iter()
            .map(|f| match h.get_with_ttl(f) {
                None => NO_SUBKEY,
                Some((_, prev)) if !cond.allows(prev, at) => CONDITION_FAILED,
                Some(_) if past => {
                    h.remove(f);
                    DELETED
                }
                Some(_) => {
                    h.set_ttl(f, at);
                    SET
                }
            })
            .collect::<Vec<i64>>())
    })?
    .unwrap_or_default();
    reply_ints(ctx, &codes);
    let set: Vec<&[u8]> = (0..fields.len())
        .filter(|i| codes[*i] == SET)
        .map(|i| fields[i])
        .collect();
    let deleted = codes.iter().filter(|c| **c == DELETED).count();
    for (f, _) in fields.iter().zip(&codes).filter(|(_, c)| **c == DELETED) {
        ctx.also_propagate(&[b"HDEL", key, f]);
    }
    if set.len() + deleted > 0 {
        ctx.ex.dirty += (set.len() + deleted) as u64;
        let db = ctx.client.db;
        ctx.ex.signal_modified(db, key);
        ctx.notify(
            notify::HASH,
            if deleted > 0 { "hdel" } else { "hexpire" },
            key,
        );
    }
    settle_hash(ctx, key);
    if set.is_empty() {
        ctx.prevent_propagation();
    } else if ctx.propagating() {
        // HPEXPIREAT key ms [condition] FIELDS n field...: only the fields that got it.
        let at = itoa::Buffer::new().format(at).to_owned();
        let n = itoa::Buffer::new().format(set.len()).to_owned();
        let mut args: Vec<&[u8]> = vec![b"HPEXPIREAT", key, at.as_bytes()];
        if cond != Condition::Always {
            args.push(argv[3]);
        }
        args.extend_from_slice(&[b"FIELDS", n.as_bytes()]);
        args.extend_from_slice(&set);
        ctx.propagate_as(&args);
    }
    Ok(())
}

pub fn hexpire(ctx: &mut Ctx) -> CmdResult {
    hexpire_generic(ctx, 1000, true)
}

pub fn hpexpire(ctx: &mut Ctx) -> CmdResult {
    hexpire_generic(ctx, 1, true)
}

pub fn hexpireat(ctx: &mut Ctx) -> CmdResult {
    hexpire_generic(ctx, 1000, false)
}

pub fn hpexpireat(ctx: &mut Ctx) -> CmdResult {
    hexpire_generic(ctx, 1, false)
}

/// HTTL, HPTTL, HEXPIRETIME, HPEXPIRETIME key FIELDS n field...: per field -2 (absent or
/// expired), -1 (no TTL) or the TTL, relative to now or absolute, in `unit_ms` units
/// (seconds rounded up, as Redis's).
fn httl_generic(ctx: &mut Ctx, unit_ms: i64, relative: bool) -> CmdResult {
    let (key, now) = (ctx.argv[1], ctx.now_ms);
    let h = super::read_hash(ctx.ex, ctx.client, key, now)?;
    let fields = fields_block(ctx.argv, 2)?;
    let base = if relative { now } else { 0 };
    let out = &mut ctx.client.out;
    out.array(fields.len());
    for f in fields {
        out.int(match h.and_then(|h| h.get_with_ttl(f)) {
            None => NO_SUBKEY,
            Some((_, 0)) => NO_TTL,
            Some((_, ttl)) if ttl < now => NO_SUBKEY,
            Some((_, ttl)) if unit_ms == 1000 => (ttl + 999 - base) / 1000,
            Some((_, ttl)) => ttl - base,
        });
    }
    Ok(())
}

pub fn httl(ctx: &mut Ctx) -> CmdResult {
    httl_generic(ctx, 1000, true)
}

pub fn hpttl(ctx: &mut Ctx) -> CmdResult {
    httl_generic(ctx, 1, true)
}

pub fn hexpiretime(ctx: &mut Ctx) -> CmdResult {
    httl_generic(ctx, 1000, false)
}

pub fn hpexpiretime(ctx: &mut Ctx) -> CmdResult {
    httl_generic(ctx, 1, false)
}

/// HPERSIST key FIELDS n field...: per field 1 (TTL removed), -1 (had none), -2 (absent or
/// expired).
pub fn hpersist(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    check_hash_type(ctx, key)?;
    let fields = fields_block(ctx.argv, 2)?;
    let now = ctx.now_ms;
    let codes = write_hash(ctx, key, false, |h| {
        Ok(fields
            .iter()
            .map(|f| match h.get_with_ttl(f) {
                None => NO_SUBKEY,
                Some((_, 0)) => NO_TTL,
                Some((_, ttl)) if ttl < now => NO_SUBKEY,
                Some(_) => {
                    h.set_ttl(f, 0);
                    SET
                }
            })
            .collect::<Vec<i64>>())
    })?
    .unwrap_or_else(|| vec![NO_SUBKEY; fields.len()]);
    reply_ints(ctx, &codes);
    if codes.contains(&SET) {
        ctx.modified(key, notify::HASH, "hpersist");
        ctx.db().sync_field_ttls(key);
    }
    Ok(())
}

/// HGETEX's and HSETEX's TTL option.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TtlOption {
    /// None given: HGETEX leaves TTLs alone, HSETEX clears them.
    Unchanged,
    /// EX, PX, EXAT or PXAT, as an absolute time in ms; `pxat` if given as PXAT.
    At { at: i64, pxat: bool },
    /// HGETEX PERSIST.
    Persist,
    /// HSETEX KEEPTTL.
    Keep,
}

/// EX/PX/EXAT/PXAT's unit and base.
fn ttl_option_kind(arg: &[u8], now: i64) -> Option<(i64, i64, bool)> {
    [
        ("EX", 1000, now, false),
        ("PX", 1, now, false),
        ("EXAT", 1000, 0, false),
        ("PXAT", 1, 0, true),
    ]
    .into_iter()
    .find(|(name, ..)| eq(arg, name))
    .map(|(_, unit, base, pxat)| (unit, base, pxat))
}

/// HGETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST] FIELDS n field... (Redis 8.0): the
/// values (nil for absent or expired fields), and the TTLs of those found set or removed.
pub fn hgetex(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let key = argv[1];
    check_hash_type(ctx, key)?;
    let name = ctx.cmd.meta.name;
    let (option, fields_at) = match ttl_option_kind(argv[2], ctx.now_ms) {
        Some((unit, base, pxat)) => {
            let at = parse_subkey_ttl(argv[3], unit, base, name)?;
            (TtlOption::At { at, pxat }, 4)
        }
        None if eq(argv[2], "PERSIST") => (TtlOption::Persist, 3),
        None => (TtlOption::Unchanged, 2),
    };
    let fields = fields_block(argv, fields_at)?;
    if !key_exists(ctx, key) {
        let out = &mut ctx.client.out;
        out.array(fields.len());
        fields.iter().for_each(|_| out.null());
        return Ok(());
    }
    let lazy = lazy_expire(ctx, key, fields, false);
    let clock = crate::cmd::subkey_ttl::subkey_clock(ctx);
    let past = matches!(option, TtlOption::At { at, .. } if already_past(ctx, at));
    let (values, updated, deleted) = write_hash(ctx, key, false, |h| {
        if option != TtlOption::Unchanged {
            h.make_ex();
        }
        let (mut updated, mut deleted) = (0usize, Vec::new());
        let values: Vec<Option<Vec<u8>>> = fields
            .iter()
            .map(|f| {
                let v = live_value(h, f, clock).map(<[u8]>::to_vec);
                if v.is_some() {
                    match option {
                        TtlOption::Persist => {
                            if h.get_with_ttl(f).is_some_and(|(_, ttl)| ttl > 0) {
                                h.set_ttl(f, 0);
                                updated += 1;
                            }
                        }
                        TtlOption::At { .. } if past => {
                            if h.remove(f) {
                                deleted.push(*f);
                            }
                        }
                        TtlOption::At { at, .. } => {
                            h.set_ttl(f, at);
                            updated += 1;
                        }
                        TtlOption::Unchanged | TtlOption::Keep => {}
                    }
                }
                v
            })
            .collect();
        Ok((values, updated, deleted))
    })?
    .unwrap_or_default();
    let out = &mut ctx.client.out;
    out.array(fields.len());
    for i in 0..fields.len() {
        match values.get(i).and_then(Option::as_ref) {
            Some(v) => out.bulk(v),
            None => out.null(),
        }
    }
    for f in &deleted {
        ctx.also_propagate(&[b"HDEL", key, f]);
    }
    if lazy.expired == 0 && updated == 0 && deleted.is_empty() {
        return Ok(());
    }
    ctx.ex.dirty += (updated + deleted.len()) as u64;
    let db = ctx.client.db;
    ctx.ex.signal_modified(db, key);
    lazy_events(
        ctx,
        key,
        super::Lazy {
            key_deleted: false,
            ..lazy
        },
    );
    if updated > 0 {
        let fields_block = &argv[fields_at..];
        match option {
            TtlOption::Persist => {
                ctx.notify(notify::HASH, "hpersist", key);
                let mut args: Vec<&[u8]> = vec![b"HPERSIST", key];
                args.extend_from_slice(fields_block);
                ctx.propagate_as(&args);
            }
            TtlOption::At { at, .. } => {
                ctx.notify(notify::HASH, "hexpire", key);
                let at = itoa::Buffer::new().format(at).to_owned();
                let mut args: Vec<&[u8]> = vec![b"HPEXPIREAT", key, at.as_bytes()];
                args.extend_from_slice(fields_block);
                ctx.propagate_as(&args);
            }
            TtlOption::Unchanged | TtlOption::Keep => {}
        }
    } else if !deleted.is_empty() {
        ctx.notify(notify::HASH, "hdel", key);
        ctx.prevent_propagation();
    }
    settle_hash(ctx, key);
    Ok(())
}

/// HSETEX's parsed options.
struct SetexArgs {
    fnx: bool,
    fxx: bool,
    ttl: TtlOption,
    /// Index of the TTL value in argv (to propagate it as PXAT).
    ttl_at: usize,
    /// Index of the first field.
    first: usize,
}

/// Redis's hsetexParseArgs.
fn parse_hsetex(ctx: &Ctx) -> Result<SetexArgs, CmdError> {
    let argv = ctx.argv;
    let argc = argv.len();
    let mut a = SetexArgs {
        fnx: false,
        fxx: false,
        ttl: TtlOption::Unchanged,
        ttl_at: 0,
        first: 0,
    };
    let mut i = 2;
    while i < argc {
        let arg = argv[i];
        if eq(arg, "FIELDS") {
            if i + 3 >= argc {
                return Err(err::wrong_arity(ctx.cmd.meta.name));
            }
            let n = parse_i64(argv[i + 1])
                .filter(|n| (1..=i64::from(i32::MAX)).contains(n))
                .ok_or(err::NUMFIELDS_INVALID)?;
            let remaining = argc - i - 2;
            if remaining % 2 != 0 || n as usize != remaining / 2 {
                return Err(err::wrong_arity(ctx.cmd.meta.name));
            }
            a.first = i + 2;
            return Ok(a);
        }
        if let Some((unit, base, pxat)) = ttl_option_kind(arg, ctx.now_ms) {
            if a.ttl != TtlOption::Unchanged {
                return Err(err::ONE_TTL_OPTION.into());
            }
            if i + 1 >= argc {
                return Err(err::EXPIRE_MISSING.into());
            }
            i += 1;
            let at = parse_subkey_ttl(argv[i], unit, base, ctx.cmd.meta.name)?;
            a.ttl = TtlOption::At { at, pxat };
            a.ttl_at = i;
        } else if eq(arg, "KEEPTTL") {
            if a.ttl != TtlOption::Unchanged {
                return Err(err::ONE_TTL_OPTION.into());
            }
            a.ttl = TtlOption::Keep;
        } else if eq(arg, "FXX") || eq(arg, "FNX") {
            if a.fnx || a.fxx {
                return Err(err::FNX_FXX.into());
            }
            a.fxx = eq(arg, "FXX");
            a.fnx = !a.fxx;
        } else {
            return Err(err::unknown_keyword(arg));
        }
        i += 1;
    }
    Err(err::FIELDS_MISSING.into())
}

/// HSETEX key [FNX | FXX] [EX s | PX ms | EXAT t | PXAT t | KEEPTTL] FIELDS n field value...
/// (Redis 8.0): sets all the fields or, when FNX/FXX is not met, none; 1 or 0.
pub fn hsetex(ctx: &mut Ctx) -> CmdResult {
    let a = parse_hsetex(ctx)?;
    let argv = ctx.argv;
    let key = argv[1];
    check_hash_type(ctx, key)?;
    let existed = key_exists(ctx, key);
    if !existed && a.fxx {
        ctx.out().int(0);
        return Ok(());
    }
    let pairs = &argv[a.first..];
    let clock = crate::cmd::subkey_ttl::subkey_clock(ctx);
    let mut lazy = super::Lazy::default();
    let mut met = true;
    if a.fnx || a.fxx {
        for kv in pairs.chunks_exact(2) {
            let l = lazy_expire(ctx, key, &kv[..1], false);
            lazy.expired += l.expired;
            let exists =
                super::peek_hash(ctx, key).is_some_and(|h| live_value(h, kv[0], clock).is_some());
            if exists != a.fxx {
                met = false;
                break;
            }
        }
    }
    let mut updated = 0usize;
    let mut deleted: Vec<&[u8]> = Vec::new();
    if met {
        let lim = limits(ctx.ex);
        let past = matches!(a.ttl, TtlOption::At { at, .. } if already_past(ctx, at));
        write_hash(ctx, key, true, |h| {
            h.prepare_write(pairs, lim);
            for kv in pairs.chunks_exact(2) {
                let (f, v) = (kv[0], kv[1]);
                match a.ttl {
                    TtlOption::Unchanged => {
                        h.set(f, v, lim);
                    }
                    TtlOption::Keep | TtlOption::Persist => {
                        h.set_keep_ttl(f, v, lim);
                    }
                    TtlOption::At { at, .. } => {
                        h.set_keep_ttl(f, v, lim);
                        if past {
                            h.remove(f);
                            deleted.push(f);
                        } else {
                            h.set_ttl(f, at);
                            updated += 1;
                        }
                    }
                }
            }
            Ok(())
        })?;
        ctx.ex.dirty += (pairs.len() / 2) as u64;
        for f in &deleted {
            ctx.also_propagate(&[b"HDEL", key, f]);
        }
        if !deleted.is_empty() {
            ctx.prevent_propagation();
        } else if let TtlOption::At { at, pxat: false } = a.ttl {
            let at = itoa::Buffer::new().format(at).to_owned();
            let mut args: Vec<&[u8]> = argv.to_vec();
            args[a.ttl_at - 1] = b"PXAT";
            args[a.ttl_at] = at.as_bytes();
            ctx.propagate_as(&args);
        }
    }
    ctx.out().int(i64::from(met));
    if met || lazy.expired > 0 {
        let db = ctx.client.db;
        ctx.ex.signal_modified(db, key);
        lazy_events(ctx, key, lazy);
        if met {
            ctx.notify(notify::HASH, "hset", key);
            if !deleted.is_empty() {
                ctx.notify(notify::HASH, "hdel", key);
            } else if updated > 0 {
                ctx.notify(notify::HASH, "hexpire", key);
            }
        }
    }
    if !settle_hash(ctx, key) && met && !key_exists(ctx, key) {
        // Created and emptied in one go (every TTL in the past): Redis adds the key and
        // deletes it again, so "del" is heard.
        ctx.notify(notify::GENERIC, "del", key);
    }
    Ok(())
}
