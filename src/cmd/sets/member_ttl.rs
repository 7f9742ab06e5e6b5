//! Set member expiration, as Redis 8.12 defines it: SEXPIRE, SPEXPIRE, SEXPIREAT,
//! SPEXPIREAT, STTL, SPTTL, SEXPIRETIME, SPEXPIRETIME, SPERSIST and SADDEX. TTLs are absolute
//! Unix times in ms; relative ones are propagated as absolute (SPEXPIREAT, SADDEX PXAT), and
//! a TTL already past removes the member there and then, propagated as SREM.

use super::{limits, peek_set};
use crate::cmd::args::eq;
use crate::cmd::subkey_ttl::{
    already_past, parse_subkey_ttl, reply_ints, Condition, CONDITION_FAILED, DELETED, NO_SUBKEY,
    NO_TTL, SET,
};
use crate::config::notify;
use crate::exec::Ctx;
use crate::keyspace::db::NO_EXPIRE;
use crate::keyspace::types::set::{ttl_passed, Set};
use crate::keyspace::value::Value;
use crate::resp::errors::{self as err, CmdError, CmdResult};
use crate::util::num::parse_i64;

/// A MEMBERS count: an integer in `min..=max`, else `msg` (Redis's
/// getRangeLongFromObjectOrReply with a message).
fn members_count(arg: &[u8], max: i64, msg: &'static str) -> Result<usize, CmdError> {
    parse_i64(arg)
        .filter(|n| (1..=max).contains(n))
        .map(|n| n as usize)
        .ok_or_else(|| msg.into())
}

/// The key's type is checked first, as Redis's lookupKeyWrite/lookupKeyRead + checkType.
fn check_set_type(ctx: &mut Ctx, key: &[u8], write: bool) -> CmdResult {
    let e = if write { ctx.write(key) } else { ctx.read(key) };
    match e {
        Some(e) if !matches!(e.value, Value::Set(_)) => Err(err::WRONGTYPE.into()),
        _ => Ok(()),
    }
}

fn set_at<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Option<&'a mut Set> {
    match ctx.ex.dbs[ctx.client.db]
        .peek_mut(key)
        .map(|e| &mut e.value)
    {
        Some(Value::Set(s)) => Some(s),
        _ => None,
    }
}

/// A member that is not there, or whose TTL passed, does not exist for these commands
/// (Redis's setMemberIsGone: judged by the command's time, on replicas too).
fn is_gone(set: &Set, m: &[u8], now: i64) -> bool {
    !set.contains(m) || set.ttl(m).is_some_and(|at| ttl_passed(at, now))
}

/// After members went or TTLs changed: deletes the emptied key (with "del"), else refiles
/// it in the subkey-expiry index.
fn settle_set(ctx: &mut Ctx, key: &[u8]) {
    let db = ctx.client.db;
    if peek_set(&ctx.ex.dbs[db], key).is_some_and(Set::is_empty) {
        ctx.ex.dbs[db].remove(key);
        ctx.notify(notify::GENERIC, "del", key);
    } else {
        ctx.ex.dbs[db].sync_field_ttls(key);
    }
}

/// Where SEXPIRE's arguments are: the MEMBERS keyword's position, the members and the
/// condition.
struct ExpireArgs {
    members_at: usize,
    count: usize,
    cond: Condition,
}

/// SEXPIRE's keywords, in any order after the time (Redis's parseSetExpireArgs).
fn parse_expire_args(argv: &[&[u8]]) -> Result<ExpireArgs, CmdError> {
    let mut members: Option<(usize, usize)> = None;
    let mut conds: Vec<Condition> = Vec::new();
    let mut i = 3;
    while i < argv.len() {
        let arg = argv[i];
        if eq(arg, "MEMBERS") {
            if members.is_some() {
                return Err(err::MEMBERS_TWICE.into());
            }
            if i + 2 >= argv.len() {
                return Err(err::MEMBERS_TOO_FEW.into());
            }
            let n = members_count(argv[i + 1], i32::MAX.into(), err::NUMMEMBERS_ABOVE_ZERO)?;
            if n > argv.len() - (i + 2) {
                return Err(err::WRONG_ARGUMENT_COUNT.into());
            }
            members = Some((i, n));
            i += 2 + n;
            continue;
        }
        match Condition::parse(arg) {
            Some(c) => {
                if !conds.contains(&c) {
                    conds.push(c);
                }
            }
            None => return Err(err::unknown_keyword(arg)),
        }
        i += 1;
    }
    let Some((members_at, count)) = members else {
        return Err(err::MEMBERS_MISSING.into());
    };
    if conds.len() > 1 {
        return Err(err::MULTIPLE_CONDITIONS.into());
    }
    Ok(ExpireArgs {
        members_at,
        count,
        cond: conds.first().copied().unwrap_or(Condition::Always),
    })
}

/// SEXPIRE, SPEXPIRE, SEXPIREAT, SPEXPIREAT key time [NX | XX | GT | LT] MEMBERS n member...
fn sexpire_generic(ctx: &mut Ctx, unit_ms: i64, relative: bool) -> CmdResult {
    let argv = ctx.argv;
    let key = argv[1];
    check_set_type(ctx, key, true)?;
    let base = if relative { ctx.now_ms } else { 0 };
    let at = parse_subkey_ttl(argv[2], unit_ms, base, ctx.cmd.meta.name)?;
    let args = parse_expire_args(argv)?;
    let first = args.members_at + 2;
    let members = &argv[first..first + args.count];
    let lim = limits(ctx.ex);
    let now = ctx.now_ms;
    let past = already_past(ctx, at);
    let Some(set) = set_at(ctx, key) else {
        reply_ints(ctx, &vec![NO_SUBKEY; members.len()]);
        return Ok(());
    };
    let codes: Vec<i64> = members
        .iter()
        .map(|m| {
            if is_gone(set, m, now) {
                return NO_SUBKEY;
            }
            if !args.cond.allows(set.ttl(m).unwrap_or(0), at) {
                CONDITION_FAILED
            } else if past {
                set.remove(m);
                DELETED
            } else {
                set.set_ttl(m, at, &lim);
                SET
            }
        })
        .collect();
    reply_ints(ctx, &codes);
    let got = |code: i64| {
        members
            .iter()
            .zip(&codes)
            .filter(move |(_, c)| **c == code)
            .map(|(m, _)| *m)
    };
    let (updated, deleted) = (got(SET).count(), got(DELETED).count());
    for m in got(DELETED) {
        ctx.also_propagate(&[b"SREM", key, m]);
    }
    if updated + deleted > 0 {
        ctx.ex.dirty += (updated + deleted) as u64;
        let db = ctx.client.db;
        ctx.ex.signal_modified(db, key);
        if deleted > 0 {
            ctx.notify(notify::SET, "srem", key);
        }
        if updated > 0 {
            ctx.notify(notify::SET, "sexpire", key);
        }
    }
    settle_set(ctx, key);
    if updated == 0 {
        ctx.prevent_propagation();
    } else if ctx.propagating() {
        // The command as given, as SPEXPIREAT with the absolute time and only the members
        // that got it.
        let at = itoa::Buffer::new().format(at).to_owned();
        let n = itoa::Buffer::new().format(updated).to_owned();
        let mut out: Vec<&[u8]> = vec![b"SPEXPIREAT", key, at.as_bytes()];
        for (i, a) in argv.iter().enumerate().skip(3) {
            if i == args.members_at + 1 {
                out.push(n.as_bytes());
            } else if (first..first + args.count).contains(&i) {
                if codes[i - first] == SET {
                    out.push(a);
                }
            } else {
                out.push(a);
            }
        }
        ctx.propagate_as(&out);
    }
    Ok(())
}

pub fn sexpire(ctx: &mut Ctx) -> CmdResult {
    sexpire_generic(ctx, 1000, true)
}

pub fn spexpire(ctx: &mut Ctx) -> CmdResult {
    sexpire_generic(ctx, 1, true)
}

pub fn sexpireat(ctx: &mut Ctx) -> CmdResult {
    sexpire_generic(ctx, 1000, false)
}

pub fn spexpireat(ctx: &mut Ctx) -> CmdResult {
    sexpire_generic(ctx, 1, false)
}

/// STTL's and SPERSIST's `MEMBERS n member...`, right after the key (Redis's
/// parseSetMembersBlock).
fn members_block<'a>(argv: &'a [&'a [u8]]) -> Result<&'a [&'a [u8]], CmdError> {
    if !eq(argv[2], "MEMBERS") {
        return Err(err::MEMBERS_POSITION.into());
    }
    let n = members_count(argv[3], i64::MAX, err::NUMMEMBERS_POSITIVE)?;
    let members = &argv[4..];
    if n != members.len() {
        return Err(err::NUMMEMBERS_MISMATCH.into());
    }
    Ok(members)
}

/// STTL, SPTTL, SEXPIRETIME, SPEXPIRETIME key MEMBERS n member...: -2 for a missing (or
/// expired) member, -1 without a TTL, else the TTL (seconds rounded up) or the Unix time.
/// Nothing is removed.
fn sttl_generic(ctx: &mut Ctx, unit_ms: i64, relative: bool) -> CmdResult {
    let argv = ctx.argv;
    let key = argv[1];
    check_set_type(ctx, key, false)?;
    let members = members_block(argv)?;
    let now = ctx.now_ms;
    let base = if relative { now } else { 0 };
    let set = peek_set(&ctx.ex.dbs[ctx.client.db], key);
    let codes: Vec<i64> = members
        .iter()
        .map(|m| match set {
            Some(s) if !is_gone(s, m, now) => match s.ttl(m) {
                None => NO_TTL,
                Some(at) => (at - base + unit_ms - 1) / unit_ms,
            },
            _ => NO_SUBKEY,
        })
        .collect();
    reply_ints(ctx, &codes);
    Ok(())
}

pub fn sttl(ctx: &mut Ctx) -> CmdResult {
    sttl_generic(ctx, 1000, true)
}

pub fn spttl(ctx: &mut Ctx) -> CmdResult {
    sttl_generic(ctx, 1, true)
}

pub fn sexpiretime(ctx: &mut Ctx) -> CmdResult {
    sttl_generic(ctx, 1000, false)
}

pub fn spexpiretime(ctx: &mut Ctx) -> CmdResult {
    sttl_generic(ctx, 1, false)
}

/// SPERSIST key MEMBERS n member...: 1 for each member whose TTL went, -1 without one, -2
/// for a missing (or expired) member.
pub fn spersist(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let key = argv[1];
    check_set_type(ctx, key, true)?;
    let members = members_block(argv)?;
    let now = ctx.now_ms;
    let Some(set) = set_at(ctx, key) else {
        reply_ints(ctx, &vec![NO_SUBKEY; members.len()]);
        return Ok(());
    };
    let codes: Vec<i64> = members
        .iter()
        .map(|m| {
            if is_gone(set, m, now) {
                NO_SUBKEY
            } else if set.persist(m) {
                SET
            } else {
                NO_TTL
            }
        })
        .collect();
    reply_ints(ctx, &codes);
    let persisted = codes.iter().filter(|c| **c == SET).count();
    if persisted == 0 {
        ctx.prevent_propagation();
        return Ok(());
    }
    ctx.ex.dirty += persisted as u64;
    let db = ctx.client.db;
    ctx.ex.dbs[db].sync_field_ttls(key);
    ctx.ex.signal_modified(db, key);
    ctx.notify(notify::SET, "spersist", key);
    Ok(())
}

/// SADDEX's arguments.
struct AddexArgs {
    /// MNX (Some(false)): none may exist; MXX (Some(true)): all must.
    all_exist: Option<bool>,
    /// EX/PX/EXAT/PXAT's absolute time and the position of its time argument.
    ttl: Option<(i64, usize)>,
    keep_ttl: bool,
    members: std::ops::Range<usize>,
}

/// SADDEX's keywords, in any order after the key (Redis's parseSaddexArgs).
fn parse_saddex(ctx: &Ctx) -> Result<AddexArgs, CmdError> {
    let argv = ctx.argv;
    let mut a = AddexArgs {
        all_exist: None,
        ttl: None,
        keep_ttl: false,
        members: 0..0,
    };
    let mut i = 2;
    while i < argv.len() {
        let arg = argv[i];
        if eq(arg, "MEMBERS") {
            if !a.members.is_empty() {
                return Err(err::MEMBERS_TWICE.into());
            }
            if i + 1 >= argv.len() {
                return Err(err::wrong_arity(ctx.cmd.meta.name));
            }
            let n = members_count(argv[i + 1], i32::MAX.into(), err::NUMMEMBERS_INVALID)?;
            let first = i + 2;
            if first + n > argv.len() {
                return Err(err::WRONG_ARGUMENT_COUNT.into());
            }
            a.members = first..first + n;
            i = first + n;
            continue;
        }
        let unit = [("EX", 1000, true), ("PX", 1, true), ("EXAT", 1000, false)]
            .into_iter()
            .chain([("PXAT", 1, false)])
            .find(|(name, _, _)| eq(arg, name));
        if let Some((_, unit_ms, relative)) = unit {
            if a.ttl.is_some() || a.keep_ttl {
                return Err(err::ONE_TTL_OPTION.into());
            }
            if i + 1 >= argv.len() {
                return Err(err::EXPIRE_MISSING.into());
            }
            let base = if relative { ctx.now_ms } else { 0 };
            let at = parse_subkey_ttl(argv[i + 1], unit_ms, base, ctx.cmd.meta.name)?;
            a.ttl = Some((at, i + 1));
            i += 2;
            continue;
        }
        if eq(arg, "KEEPTTL") {
            if a.ttl.is_some() || a.keep_ttl {
                return Err(err::ONE_TTL_OPTION.into());
            }
            a.keep_ttl = true;
        } else if eq(arg, "MXX") || eq(arg, "MNX") {
            if a.all_exist.is_some() {
                return Err(err::MNX_MXX.into());
            }
            a.all_exist = Some(eq(arg, "MXX"));
        } else {
            return Err(err::unknown_keyword(arg));
        }
        i += 1;
    }
    if a.members.is_empty() {
        return Err(err::MEMBERS_MISSING.into());
    }
    Ok(a)
}

/// SADDEX key [MNX | MXX] [EX s | PX ms | EXAT t | PXAT t | KEEPTTL] MEMBERS n member...:
/// adds the members (all or none under MNX/MXX: 1 or 0), giving each the TTL, or keeping
/// the TTL of those already there with KEEPTTL, or else dropping it. A TTL already past
/// removes the members instead (propagated as SREM).
pub fn saddex(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let key = argv[1];
    let a = parse_saddex(ctx)?;
    check_set_type(ctx, key, true)?;
    let members = &argv[a.members.clone()];
    let now = ctx.now_ms;
    let exists = set_at(ctx, key).is_some();
    if !exists && a.all_exist == Some(true) {
        ctx.out().int(0);
        return Ok(());
    }
    if let (Some(all), Some(set)) = (a.all_exist, set_at(ctx, key)) {
        let found = members.iter().filter(|m| !is_gone(set, m, now)).count();
        if (all && found != members.len()) || (!all && found != 0) {
            ctx.out().int(0);
            return Ok(());
        }
    }
    let lim = limits(ctx.ex);
    let past = a.ttl.is_some_and(|(at, _)| already_past(ctx, at));
    let db = ctx.client.db;
    let mut removed: Vec<&[u8]> = Vec::new();
    if past {
        // Existing members go; missing ones are not added (nor is a missing key made).
        if let Some(set) = set_at(ctx, key) {
            removed.extend(members.iter().copied().filter(|m| set.remove(m)));
        }
    } else {
        if !exists {
            let lru = ctx.new_lru();
            let set = Set::new_for(members[0]);
            ctx.ex.dbs[db].insert(key, Value::Set(Box::new(set)), NO_EXPIRE, lru);
        }
        let Some(set) = set_at(ctx, key) else {
            return Ok(());
        };
        for m in members {
            let added = set.insert(m, &lim);
            match a.ttl {
                Some((at, _)) => set.set_ttl(m, at, &lim),
                None if !added && !a.keep_ttl => {
                    set.persist(m);
                }
                None => {}
            }
        }
    }
    for m in &removed {
        ctx.also_propagate(&[b"SREM", key, m]);
    }
    let changed = if past { removed.len() } else { members.len() };
    if changed > 0 {
        ctx.ex.dirty += changed as u64;
        ctx.ex.signal_modified(db, key);
        if !past {
            ctx.notify(notify::SET, "sadd", key);
        }
        if !removed.is_empty() {
            ctx.notify(notify::SET, "srem", key);
        }
        if a.ttl.is_some() && !past {
            ctx.notify(notify::SET, "sexpire", key);
        }
    }
    if set_at(ctx, key).is_some() {
        settle_set(ctx, key);
    }
    if past {
        ctx.prevent_propagation();
    } else if let Some((at, time_at)) = a.ttl {
        if ctx.propagating() && !eq(argv[time_at - 1], "PXAT") {
            // The same command with its time absolute: PXAT ms.
            let at = itoa::Buffer::new().format(at).to_owned();
            let mut out: Vec<&[u8]> = argv.to_vec();
            out[time_at - 1] = b"PXAT";
            out[time_at] = at.as_bytes();
            ctx.propagate_as(&out);
        }
    }
    ctx.out().int(1);
    Ok(())
}
