//! What hash field TTLs and set member TTLs share: the time argument of their EXPIRE
//! commands (Redis's parseSubkeyExpireTime), the NX/XX/GT/LT conditions and the per-item
//! answers.

use crate::cmd::args::{eq, int};
use crate::config::notify;
use crate::exec::{Ctx, Executor};
use crate::keyspace::value::Value;
use crate::resp::errors::{self as err, CmdError};

/// The time fields and members are judged expired against: never while loading or for the
/// running master's own commands (the master sends HDEL/SREM when one expires), else the
/// command's time.
pub fn subkey_clock(ctx: &Ctx) -> i64 {
    if ctx.ex.loading || ctx.ex.running_master {
        i64::MIN
    } else {
        ctx.now_ms
    }
}

/// What one removal of due fields or members took out of a hash or set.
struct Expired {
    items: Vec<Vec<u8>>,
    /// The command each removal propagates as (HDEL, SREM).
    deletion: &'static [u8],
    /// The keyspace event and its class ("hexpired", "sexpired").
    event: &'static str,
    class: u32,
    emptied: bool,
}

/// Removes up to `limit` fields or members of the value at `key` whose TTL is before `now`.
fn remove_due(ex: &mut Executor, db: usize, key: &[u8], now: i64, limit: usize) -> Expired {
    let mut items: Vec<Vec<u8>> = Vec::new();
    let (deletion, event, class, emptied): (&'static [u8], _, _, _) =
        match ex.dbs[db].peek_mut(key).map(|e| &mut e.value) {
            Some(Value::Hash(h)) => {
                h.remove_due(now, limit, |f| items.push(f.to_vec()));
                (b"HDEL", "hexpired", notify::HASH, h.is_empty())
            }
            Some(Value::Set(s)) => {
                s.remove_due(now, limit, |m| items.push(m.to_vec()));
                (b"SREM", "sexpired", notify::SET, s.is_empty())
            }
            _ => (b"", "", 0, false),
        };
    Expired {
        items,
        deletion,
        event,
        class,
        emptied,
    }
}

/// After a removal (its deletions propagated): the counters, one event for the key, the key
/// deleted with its last item or refiled under its next TTL, and the key's watchers told.
fn finish(ex: &mut Executor, db: usize, key: &[u8], gone: &Expired) {
    ex.stats.expired_subkeys += gone.items.len() as u64;
    if !gone.items.is_empty() {
        ex.notify(gone.class, gone.event, key, db);
    }
    if gone.emptied {
        ex.dbs[db].remove(key);
        ex.notify(notify::GENERIC, "del", key, db);
    } else {
        ex.dbs[db].sync_field_ttls(key);
    }
    if !gone.items.is_empty() {
        ex.signal_modified_by_server(db, key);
    }
}

/// The active expiry of one hash's due fields or one set's due members (Redis's
/// hashTypeActiveExpire and its set twin): each goes with its own HDEL or SREM, one
/// "hexpired"/"sexpired" event for the key, and the key goes with its last field or member.
pub fn expire_due(ex: &mut Executor, db: usize, key: &[u8], now_ms: i64) {
    /// Items one visit removes before the key is refiled (others get their turn).
    const PER_VISIT: usize = 1000;
    let gone = remove_due(ex, db, key, now_ms, PER_VISIT);
    if ex.prop.enabled() {
        for item in &gone.items {
            ex.prop.now(db, [gone.deletion, key, item].into_iter());
        }
    }
    finish(ex, db, key, &gone);
}

/// Before a command samples a hash or set (HRANDFIELD, SRANDMEMBER, SPOP), every expired
/// field or member goes, its deletion propagated as part of the command (Redis's
/// hashTypeExpireIfNeeded / setTypeExpireIfNeeded); not while loading, on a replica or while
/// paused. Returns whether the key went with them.
pub fn sweep(ctx: &mut Ctx, key: &[u8]) -> bool {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let earliest = match ctx.ex.dbs[db].peek(key).map(|e| &e.value) {
        Some(Value::Hash(h)) => h.min_ttl(),
        Some(Value::Set(s)) => s.min_ttl(),
        _ => None,
    };
    if earliest.is_none_or(|at| at >= now)
        || ctx.ex.loading
        || ctx.ex.repl.is_replica()
        || ctx.ex.is_paused(now)
    {
        return false;
    }
    let gone = remove_due(ctx.ex, db, key, now, usize::MAX);
    for item in &gone.items {
        ctx.also_propagate(&[gone.deletion, key, item]);
    }
    finish(ctx.ex, db, key, &gone);
    gone.emptied
}

/// Redis's HFE_MAX_ABS_TIME_MSEC (EB_EXPIRE_TIME_MAX >> 2): field TTLs stay below 2^46 ms.
pub const MAX_FIELD_TTL_MS: i64 = ((1i64 << 48) - 1) >> 2;

/// Per-field answers of the HEXPIRE family (Redis's SetExRes).
pub const NO_SUBKEY: i64 = -2;
pub const CONDITION_FAILED: i64 = 0;
pub const SET: i64 = 1;
pub const DELETED: i64 = 2;
/// HTTL/HPERSIST: a field without a TTL.
pub const NO_TTL: i64 = -1;

/// Redis's parseExpireTime: `arg` in units of `unit_ms` after `base` (0: an absolute time)
/// as an absolute time in ms, checked against the field TTL limit.
pub fn parse_subkey_ttl(arg: &[u8], unit_ms: i64, base: i64, cmd: &str) -> Result<i64, CmdError> {
    let mut val = int(arg)?;
    if val < 0 {
        return Err(err::EXPIRE_NEGATIVE.into());
    }
    if unit_ms == 1000 {
        if val > MAX_FIELD_TTL_MS / 1000 {
            return Err(err::invalid_expire(cmd));
        }
        val *= 1000;
    }
    if val > MAX_FIELD_TTL_MS - base {
        return Err(err::invalid_expire(cmd));
    }
    Ok(val + base)
}

/// HEXPIRE's and SEXPIRE's NX | XX | GT | LT.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Always,
    Nx,
    Xx,
    Gt,
    Lt,
}

impl Condition {
    pub fn parse(arg: &[u8]) -> Option<Condition> {
        [
            ("NX", Condition::Nx),
            ("XX", Condition::Xx),
            ("GT", Condition::Gt),
            ("LT", Condition::Lt),
        ]
        .into_iter()
        .find(|(name, _)| eq(arg, name))
        .map(|(_, c)| c)
    }

    /// Whether a field whose TTL is `prev` (0: none, which counts as infinite) may get `at`.
    pub fn allows(self, prev: i64, at: i64) -> bool {
        match self {
            Condition::Always => true,
            Condition::Nx => prev == 0,
            Condition::Xx => prev != 0,
            Condition::Gt => prev != 0 && at > prev,
            Condition::Lt => prev == 0 || at < prev,
        }
    }
}

/// A TTL at or before now deletes the field or member instead, on a master that is not loading
/// (Redis's checkAlreadyExpired).
pub fn already_past(ctx: &Ctx, at: i64) -> bool {
    at <= ctx.now_ms && !ctx.ex.loading && !ctx.ex.repl.is_replica()
}

pub fn reply_ints(ctx: &mut Ctx, codes: &[i64]) {
    let out = &mut ctx.client.out;
    out.array(codes.len());
    for c in codes {
        out.int(*c);
    }
}
