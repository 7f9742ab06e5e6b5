//! The "string" group: GET, SET and friends, counters, ranges and LCS; `cas`: compare-and-set
//! and compare-and-delete (DELEX, DIGEST, DELIFEQ).

mod cas;

use cas::Condition;

use crate::cmd::args::{eq, int};
use crate::cmd::meta_gen as m;
use crate::cmd::table::Handler;
use crate::config::notify;
use crate::exec::{Client, Ctx, Executor};
use crate::keyspace::bytes::CompactBytes;
use crate::keyspace::db::{Entry, NO_EXPIRE};
use crate::keyspace::value::Value;
use crate::resp::errors::{self as err, CmdError, CmdResult};
use crate::util::num::{long_double_add, LdAddError};

/// Replies with a string value, or WRONGTYPE.
fn reply_string(ctx: &mut Ctx, v: &Value) -> CmdResult {
    bulk_string(&mut ctx.client.out, v)
}

/// Writes a string value as a bulk reply; WRONGTYPE (and no reply) for other types.
fn bulk_string(out: &mut crate::resp::reply::ReplyBuf, v: &Value) -> CmdResult {
    match v {
        Value::Str(s) => out.bulk(s),
        Value::Int(i) => out.bulk_i64(*i),
        _ => return Err(err::WRONGTYPE.into()),
    }
    Ok(())
}

/// The string entry at `key` for reading (lookupKeyRead), WRONGTYPE for other types, None if
/// missing. Borrows only the executor, so the reply buffer stays usable.
fn read_string<'a>(
    ex: &'a mut Executor,
    client: &Client,
    key: &[u8],
    now_ms: i64,
) -> Result<Option<&'a mut Entry>, CmdError> {
    let touch = !client.has(crate::exec::client::flags::NO_TOUCH);
    match ex.lookup_read(client.db, key, now_ms, touch) {
        Some(e) if !e.value.is_string() => Err(err::WRONGTYPE.into()),
        other => Ok(other),
    }
}

/// Redis's getGenericCommand: null, the value, or WRONGTYPE (with no reply written).
fn get_generic(ctx: &mut Ctx, key: &[u8]) -> CmdResult {
    match read_string(ctx.ex, ctx.client, key, ctx.now_ms)? {
        None => ctx.client.out.null(),
        Some(e) => bulk_string(&mut ctx.client.out, &e.value)?,
    }
    Ok(())
}

pub fn get(ctx: &mut Ctx) -> CmdResult {
    get_generic(ctx, ctx.argv[1])
}

/// SET's option flags (Redis's OBJ_SET_* and OBJ_* expire flags).
mod setf {
    pub const NX: u32 = 1 << 0;
    pub const XX: u32 = 1 << 1;
    pub const GET: u32 = 1 << 2;
    pub const KEEPTTL: u32 = 1 << 3;
    pub const PERSIST: u32 = 1 << 4;
    pub const EX: u32 = 1 << 5;
    pub const PX: u32 = 1 << 6;
    pub const EXAT: u32 = 1 << 7;
    pub const PXAT: u32 = 1 << 8;
    pub const ANY_EXPIRE: u32 = EX | PX | EXAT | PXAT;
}

/// What SET, GETEX and MSETEX options say.
struct StringOptions<'a> {
    flags: u32,
    /// The EX/PX/EXAT/PXAT argument.
    expire: Option<&'a [u8]>,
    /// SET's IFEQ/IFNE/IFDEQ/IFDNE (exclusive with NX and XX).
    condition: Option<Condition<'a>>,
}

/// Which command's options `parse_string_options` reads.
#[derive(Clone, Copy, PartialEq)]
enum OptionsOf {
    Set,
    GetEx,
    MSetEx,
}

/// Redis's parseExtendedStringArgumentsOrReply for SET, GETEX and MSETEX.
fn parse_string_options<'a>(
    argv: &'a [&'a [u8]],
    start: usize,
    of: OptionsOf,
) -> Result<StringOptions<'a>, CmdError> {
    use setf::*;
    let mut flags = 0u32;
    let mut expire = None;
    let mut condition = None;
    let is_set = of != OptionsOf::GetEx;
    let mut j = start;
    while j < argv.len() {
        let opt = argv[j];
        let next = argv.get(j + 1).copied();
        let no = |f: u32| flags & f == 0;
        let no_condition = condition.is_none();
        if eq(opt, "NX") && no(XX) && no_condition && is_set {
            flags |= NX;
        } else if eq(opt, "XX") && no(NX) && no_condition && is_set {
            flags |= XX;
        } else if eq(opt, "GET") && of == OptionsOf::Set {
            flags |= GET;
        } else if eq(opt, "KEEPTTL") && no(PERSIST) && no(ANY_EXPIRE) && is_set {
            flags |= KEEPTTL;
        } else if eq(opt, "PERSIST") && !is_set && no(ANY_EXPIRE) && no(KEEPTTL) {
            flags |= PERSIST;
        } else if eq(opt, "EX") && no(KEEPTTL | PERSIST | EXAT | PX | PXAT) && next.is_some() {
            flags |= EX;
            expire = next;
            j += 1;
        } else if eq(opt, "PX") && no(KEEPTTL | PERSIST | EX | EXAT | PXAT) && next.is_some() {
            flags |= PX;
            expire = next;
            j += 1;
        } else if eq(opt, "EXAT") && no(KEEPTTL | PERSIST | EX | PX | PXAT) && next.is_some() {
            flags |= EXAT;
            expire = next;
            j += 1;
        } else if eq(opt, "PXAT") && no(KEEPTTL | PERSIST | EX | EXAT | PX) && next.is_some() {
            flags |= PXAT;
            expire = next;
            j += 1;
        } else if let (OptionsOf::Set, Some(arg), true, true) =
            (of, next, no(NX | XX), no_condition)
        {
            // Anything else is a syntax error, as is a second condition.
            let Some(c) = Condition::parse(opt, arg)? else {
                return Err(err::SYNTAX.into());
            };
            condition = Some(c);
            j += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    Ok(StringOptions {
        flags,
        expire,
        condition,
    })
}

/// Redis's getExpireMillisecondsOrReply: absolute ms from an EX/PX/EXAT/PXAT argument.
fn expire_ms(ctx: &Ctx, arg: &[u8], flags: u32) -> Result<i64, CmdError> {
    let name = ctx.cmd.meta.name;
    let mut ms = int(arg)?;
    let seconds = flags & (setf::EX | setf::EXAT) != 0;
    if ms <= 0 || (seconds && ms > i64::MAX / 1000) {
        return Err(err::invalid_expire(name));
    }
    if seconds {
        ms *= 1000;
    }
    if flags & (setf::EX | setf::PX) != 0 {
        ms = ms
            .checked_add(ctx.now_ms)
            .ok_or_else(|| err::invalid_expire(name))?;
    }
    if ms <= 0 {
        return Err(err::invalid_expire(name));
    }
    Ok(ms)
}

/// What SET replies when NX/XX stops it, and when it succeeds.
#[derive(Clone, Copy)]
enum SetReplies {
    /// SET: +OK / null.
    Default,
    /// SETNX: :1 / :0.
    Integer,
}

/// Redis's setGenericCommand.
fn set_generic(
    ctx: &mut Ctx,
    flags: u32,
    key: &[u8],
    val: &[u8],
    expire: Option<&[u8]>,
    condition: Option<Condition>,
    replies: SetReplies,
) -> CmdResult {
    let when = match expire {
        Some(e) => Some(expire_ms(ctx, e, flags)?),
        None => None,
    };
    if flags & setf::GET != 0 {
        get_generic(ctx, key)?;
    }
    let db = ctx.client.db;
    let now = ctx.now_ms;
    let current = ctx.ex.lookup_write(db, key, now);
    let found = current.is_some();
    // A condition on a key of another type is WRONGTYPE (GET said so already).
    let holds = match condition {
        None => true,
        Some(c) => c.holds_for(current.map(|e| &e.value))?,
    };
    if (flags & setf::NX != 0 && found) || (flags & setf::XX != 0 && !found) || !holds {
        if flags & setf::GET == 0 {
            match replies {
                SetReplies::Default => ctx.out().null(),
                SetReplies::Integer => ctx.out().int(0),
            }
        }
        return Ok(());
    }
    let lru = ctx.new_lru();
    let keep_ttl = flags & setf::KEEPTTL != 0;
    let was = ctx.ex.dbs[db].set(key, Value::string(val), keep_ttl, lru);
    ctx.overwritten(key, was);
    ctx.modified(key, notify::STRING, "set");
    if let Some(at) = when {
        ctx.ex.dbs[db].set_expire(key, at);
        ctx.notify(notify::GENERIC, "expire", key);
        // Replayed later, a relative TTL would mean another moment; Redis rewrites a PXAT
        // given as such too (its replicas and AOF always read `SET key value PXAT ms`).
        let at = itoa::Buffer::new().format(at).as_bytes().to_vec();
        ctx.propagate_as(&[b"SET", key, val, b"PXAT", &at]);
    } else if flags & setf::GET != 0 {
        // The replicas and the AOF need the write, not the old value.
        let argv: Vec<&[u8]> = ctx
            .argv
            .iter()
            .enumerate()
            .filter(|(i, a)| *i < 3 || !crate::cmd::args::eq(a, "GET"))
            .map(|(_, a)| *a)
            .collect();
        ctx.propagate_as(&argv);
    }
    if flags & setf::GET == 0 {
        match replies {
            SetReplies::Default => ctx.out().ok(),
            SetReplies::Integer => ctx.out().int(1),
        }
    }
    Ok(())
}

pub fn set(ctx: &mut Ctx) -> CmdResult {
    let o = parse_string_options(ctx.argv, 3, OptionsOf::Set)?;
    set_generic(
        ctx,
        o.flags,
        ctx.argv[1],
        ctx.argv[2],
        o.expire,
        o.condition,
        SetReplies::Default,
    )
}

pub fn setnx(ctx: &mut Ctx) -> CmdResult {
    set_generic(
        ctx,
        setf::NX,
        ctx.argv[1],
        ctx.argv[2],
        None,
        None,
        SetReplies::Integer,
    )
}

pub fn setex(ctx: &mut Ctx) -> CmdResult {
    set_generic(
        ctx,
        setf::EX,
        ctx.argv[1],
        ctx.argv[3],
        Some(ctx.argv[2]),
        None,
        SetReplies::Default,
    )
}

pub fn psetex(ctx: &mut Ctx) -> CmdResult {
    set_generic(
        ctx,
        setf::PX,
        ctx.argv[1],
        ctx.argv[3],
        Some(ctx.argv[2]),
        None,
        SetReplies::Default,
    )
}

pub fn getex(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let StringOptions { flags, expire, .. } = parse_string_options(ctx.argv, 2, OptionsOf::GetEx)?;
    let Some(e) = read_string(ctx.ex, ctx.client, key, ctx.now_ms)? else {
        ctx.out().null();
        return Ok(());
    };
    let value = e.value.clone();
    let when = match expire {
        Some(a) => Some(expire_ms(ctx, a, flags)?),
        None => None,
    };
    reply_string(ctx, &value)?;
    let db = ctx.client.db;
    if let Some(at) = when {
        if flags & (setf::EXAT | setf::PXAT) != 0 && at <= ctx.now_ms && !ctx.ex.loading {
            ctx.ex.dbs[db].remove(key);
            ctx.modified(key, notify::GENERIC, "del");
            let del = expiry_delete_command(ctx);
            ctx.propagate_as(&[del, key]);
        } else {
            ctx.ex.dbs[db].set_expire(key, at);
            ctx.modified(key, notify::GENERIC, "expire");
            let at = itoa::Buffer::new().format(at).as_bytes().to_vec();
            ctx.propagate_as(&[b"PEXPIREAT", key, &at]);
        }
    } else if flags & setf::PERSIST != 0 && ctx.ex.dbs[db].persist(key) {
        ctx.modified(key, notify::GENERIC, "persist");
        ctx.propagate_as(&[b"PERSIST", key]);
    }
    Ok(())
}

pub fn getdel(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let Some(e) = read_string(ctx.ex, ctx.client, key, ctx.now_ms)? else {
        ctx.out().null();
        return Ok(());
    };
    let value = e.value.clone();
    reply_string(ctx, &value)?;
    ctx.db().remove(key);
    ctx.modified(key, notify::GENERIC, "del");
    ctx.propagate_as(&[b"DEL", key]);
    Ok(())
}

/// How a deletion caused by a TTL in the past propagates (lazyfree-lazy-expire).
pub fn expiry_delete_command(ctx: &Ctx) -> &'static [u8] {
    crate::exec::propagate::deletion_command(ctx.ex.settings.lazyfree_lazy_expire)
}

pub fn getset(ctx: &mut Ctx) -> CmdResult {
    let (key, val) = (ctx.argv[1], ctx.argv[2]);
    get_generic(ctx, key)?;
    let lru = ctx.new_lru();
    let was = ctx.db().set(key, Value::string(val), false, lru);
    ctx.overwritten(key, was);
    ctx.modified(key, notify::STRING, "set");
    // Propagated as the SET it amounts to (Redis 7 does the same).
    ctx.propagate_as(&[b"SET", key, val]);
    Ok(())
}

pub fn mget(ctx: &mut Ctx) -> CmdResult {
    let keys = ctx.args().rest();
    ctx.client.out.array(keys.len());
    let db = ctx.client.db;
    let touch = !ctx.client.has(crate::exec::client::flags::NO_TOUCH);
    for key in keys {
        match ctx
            .ex
            .lookup_read(db, key, ctx.now_ms, touch)
            .map(|e| &e.value)
        {
            Some(Value::Str(s)) => ctx.client.out.bulk(s),
            Some(Value::Int(i)) => ctx.client.out.bulk_i64(*i),
            _ => ctx.client.out.null(),
        }
    }
    Ok(())
}

fn mset_generic(ctx: &mut Ctx, nx: bool) -> CmdResult {
    let args = ctx.args().rest();
    if args.len() % 2 != 0 {
        return Err(err::wrong_arity(ctx.cmd.meta.name));
    }
    let db = ctx.client.db;
    let now = ctx.now_ms;
    if nx
        && args
            .chunks(2)
            .any(|kv| ctx.ex.lookup_write(db, kv[0], now).is_some())
    {
        ctx.out().int(0);
        return Ok(());
    }
    let lru = ctx.new_lru();
    for kv in args.chunks(2) {
        let was = ctx.ex.dbs[db].set(kv[0], Value::string(kv[1]), false, lru);
        ctx.overwritten(kv[0], was);
        ctx.modified(kv[0], notify::STRING, "set");
    }
    if nx {
        ctx.out().int(1);
    } else {
        ctx.out().ok();
    }
    Ok(())
}

pub fn mset(ctx: &mut Ctx) -> CmdResult {
    mset_generic(ctx, false)
}

pub fn msetnx(ctx: &mut Ctx) -> CmdResult {
    mset_generic(ctx, true)
}

/// MSETEX numkeys key value [key value ...] [NX | XX] [EX | PX | EXAT | PXAT t | KEEPTTL]
/// (Redis 8.4): MSET with one expiration for every key, all or none (:1 / :0).
pub fn msetex(ctx: &mut Ctx) -> CmdResult {
    let n = int(ctx.argv[1])
        .ok()
        .filter(|n| (1..=i64::from(i32::MAX)).contains(n))
        .ok_or(err::MSETEX_NUMKEYS)? as usize;
    let end = 2 + 2 * n;
    if end > ctx.argv.len() {
        return Err(err::MSETEX_PAIRS.into());
    }
    let o = parse_string_options(ctx.argv, end, OptionsOf::MSetEx)?;
    let when = match o.expire {
        Some(e) => Some(expire_ms(ctx, e, o.flags)?),
        None => None,
    };
    let pairs = &ctx.argv[2..end];
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let (nx, xx) = (o.flags & setf::NX != 0, o.flags & setf::XX != 0);
    if nx || xx {
        let mut exist = pairs
            .chunks(2)
            .map(|kv| ctx.ex.lookup_write(db, kv[0], now).is_some());
        let refused = if nx {
            exist.any(|e| e)
        } else {
            !exist.all(|e| e)
        };
        if refused {
            ctx.out().int(0);
            return Ok(());
        }
    }
    let lru = ctx.new_lru();
    let keep_ttl = o.flags & setf::KEEPTTL != 0 || when.is_some();
    for kv in pairs.chunks(2) {
        let was = ctx.ex.dbs[db].set(kv[0], Value::string(kv[1]), keep_ttl, lru);
        ctx.overwritten(kv[0], was);
        ctx.modified(kv[0], notify::STRING, "set");
        if let Some(at) = when {
            ctx.ex.dbs[db].set_expire(kv[0], at);
            ctx.notify(notify::GENERIC, "expire", kv[0]);
        }
    }
    if let Some(at) = when {
        // As SET: replayed later, a relative TTL would mean another moment.
        let at = itoa::Buffer::new().format(at).as_bytes().to_vec();
        let mut argv: Vec<&[u8]> = ctx.argv[..end].to_vec();
        argv.extend_from_slice(&[b"PXAT", &at]);
        ctx.propagate_as(&argv);
    }
    ctx.out().int(1);
    Ok(())
}

/// Redis's checkStringLength: refuse results longer than proto-max-bulk-len.
fn check_string_length(ctx: &Ctx, total: Option<u64>) -> CmdResult {
    match total {
        Some(t) if t <= ctx.ex.settings.proto_max_bulk_len as u64 => Ok(()),
        _ => Err(err::STRING_TOO_LONG.into()),
    }
}

pub fn append(ctx: &mut Ctx) -> CmdResult {
    let (key, data) = (ctx.argv[1], ctx.argv[2]);
    let db = ctx.client.db;
    let now = ctx.now_ms;
    let len = match ctx.ex.lookup_write(db, key, now) {
        None => {
            let lru = ctx.ex.new_lru(now);
            // A new key stores the argument as SET would (tryObjectEncoding: "12" is an int).
            ctx.ex.dbs[db].insert(key, Value::string(data), NO_EXPIRE, lru);
            data.len()
        }
        Some(e) => {
            let cur = e
                .value
                .str_len()
                .ok_or_else(|| CmdError::from(err::WRONGTYPE))?;
            check_string_length(ctx, (cur as u64).checked_add(data.len() as u64))?;
            let e = ctx.ex.dbs[db].peek_mut(key).expect("just looked up");
            let s = e.value.str_make_mut().expect("string checked");
            s.extend_from_slice(data);
            s.len()
        }
    };
    ctx.modified(key, notify::STRING, "append");
    ctx.out().int(len as i64);
    Ok(())
}

pub fn strlen(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let n = read_string(ctx.ex, ctx.client, key, ctx.now_ms)?
        .and_then(|e| e.value.str_len())
        .unwrap_or(0);
    ctx.out().int(n as i64);
    Ok(())
}

pub fn getrange(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let mut start = int(ctx.argv[2])?;
    let mut end = int(ctx.argv[3])?;
    let Some(e) = read_string(ctx.ex, ctx.client, key, ctx.now_ms)? else {
        ctx.out().bulk(b"");
        return Ok(());
    };
    let mut bytes = e.value.str_bytes().expect("string");
    let s = bytes.as_slice();
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        ctx.client.out.bulk(b"");
        return Ok(());
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        ctx.client.out.bulk(b"");
    } else {
        ctx.client.out.bulk(&s[start as usize..=end as usize]);
    }
    Ok(())
}

pub fn setrange(ctx: &mut Ctx) -> CmdResult {
    let (key, value) = (ctx.argv[1], ctx.argv[3]);
    let offset = int(ctx.argv[2])?;
    if offset < 0 {
        return Err(err::OFFSET_OUT_OF_RANGE.into());
    }
    let db = ctx.client.db;
    let now = ctx.now_ms;
    let total = (offset as u64).checked_add(value.len() as u64);
    match ctx.ex.lookup_write(db, key, now) {
        None => {
            if value.is_empty() {
                ctx.out().int(0);
                return Ok(());
            }
            check_string_length(ctx, total)?;
            let mut s = CompactBytes::new(b"");
            s.resize(offset as usize + value.len());
            s.as_mut_slice()[offset as usize..].copy_from_slice(value);
            let lru = ctx.ex.new_lru(now);
            ctx.ex.dbs[db].insert(key, Value::Str(s), NO_EXPIRE, lru);
        }
        Some(e) => {
            let olen = e
                .value
                .str_len()
                .ok_or_else(|| CmdError::from(err::WRONGTYPE))?;
            if value.is_empty() {
                ctx.out().int(olen as i64);
                return Ok(());
            }
            check_string_length(ctx, total)?;
            let e = ctx.ex.dbs[db].peek_mut(key).expect("just looked up");
            let s = e.value.str_make_mut().expect("string checked");
            let need = offset as usize + value.len();
            if s.len() < need {
                s.resize(need);
            }
            s.as_mut_slice()[offset as usize..need].copy_from_slice(value);
        }
    }
    ctx.modified(key, notify::STRING, "setrange");
    let n = ctx.ex.dbs[db]
        .peek(key)
        .and_then(|e| e.value.str_len())
        .unwrap_or(0);
    ctx.out().int(n as i64);
    Ok(())
}

/// Redis's incrDecrCommand.
fn incr_by(ctx: &mut Ctx, incr: i64) -> CmdResult {
    let key = ctx.argv[1];
    let db = ctx.client.db;
    let now = ctx.now_ms;
    let current = match ctx.ex.lookup_write(db, key, now) {
        None => 0,
        Some(e) => match &e.value {
            Value::Int(i) => *i,
            Value::Str(s) => {
                crate::util::num::parse_i64(s).ok_or_else(|| CmdError::from(err::NOT_INTEGER))?
            }
            _ => return Err(err::WRONGTYPE.into()),
        },
    };
    let value = current
        .checked_add(incr)
        .ok_or_else(|| CmdError::from(err::OVERFLOW))?;
    match ctx.ex.dbs[db].peek_mut(key) {
        Some(e) => e.value = Value::Int(value),
        None => {
            let lru = ctx.ex.new_lru(now);
            ctx.ex.dbs[db].insert(key, Value::Int(value), NO_EXPIRE, lru);
        }
    }
    ctx.modified(key, notify::STRING, "incrby");
    ctx.out().int(value);
    Ok(())
}

pub fn incr(ctx: &mut Ctx) -> CmdResult {
    incr_by(ctx, 1)
}

pub fn decr(ctx: &mut Ctx) -> CmdResult {
    incr_by(ctx, -1)
}

pub fn incrby(ctx: &mut Ctx) -> CmdResult {
    let n = int(ctx.argv[2])?;
    incr_by(ctx, n)
}

pub fn decrby(ctx: &mut Ctx) -> CmdResult {
    let n = int(ctx.argv[2])?;
    if n == i64::MIN {
        return Err(err::DECREMENT_WOULD_OVERFLOW.into());
    }
    incr_by(ctx, -n)
}

pub fn incrbyfloat(ctx: &mut Ctx) -> CmdResult {
    let (key, incr) = (ctx.argv[1], ctx.argv[2]);
    let db = ctx.client.db;
    let now = ctx.now_ms;
    let current: Option<Vec<u8>> = match ctx.ex.lookup_write(db, key, now) {
        None => None,
        Some(e) => Some(
            e.value
                .str_to_vec()
                .ok_or_else(|| CmdError::from(err::WRONGTYPE))?,
        ),
    };
    let result = long_double_add(current.as_deref(), incr).map_err(|e| match e {
        LdAddError::CurrentNotFloat | LdAddError::IncrementNotFloat => {
            CmdError::from(err::NOT_FLOAT)
        }
        LdAddError::NanOrInfinity => CmdError::from(err::NAN_OR_INF),
    })?;
    // Redis stores the result as a plain string (never int-encoded), keeping any TTL.
    let lru = ctx.ex.new_lru(now);
    let value = Value::Str(CompactBytes::new(&result));
    match ctx.ex.dbs[db].peek_mut(key) {
        Some(e) => {
            e.value = value;
            e.set_lru(lru);
        }
        None => ctx.ex.dbs[db].insert(key, value, NO_EXPIRE, lru),
    }
    ctx.modified(key, notify::STRING, "incrbyfloat");
    // Replay must not depend on float formatting of a second addition.
    ctx.propagate_as(&[b"SET", key, &result, b"KEEPTTL"]);
    ctx.out().bulk(&result);
    Ok(())
}

pub fn lcs(ctx: &mut Ctx) -> CmdResult {
    let db = ctx.client.db;
    let now = ctx.now_ms;
    let touch = !ctx.client.has(crate::exec::client::flags::NO_TOUCH);
    let mut fetch = |key: &[u8]| -> Result<Vec<u8>, CmdError> {
        match ctx.ex.lookup_read(db, key, now, touch) {
            None => Ok(Vec::new()),
            Some(e) => e
                .value
                .str_to_vec()
                .ok_or_else(|| CmdError::from(err::LCS_STRINGS_ONLY)),
        }
    };
    let a = fetch(ctx.argv[1]);
    let b = fetch(ctx.argv[2]);
    let (a, b) = (a?, b?);
    let (mut getidx, mut getlen, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while j < ctx.argv.len() {
        let opt = ctx.argv[j];
        let more = j + 1 < ctx.argv.len();
        if eq(opt, "IDX") {
            getidx = true;
        } else if eq(opt, "LEN") {
            getlen = true;
        } else if eq(opt, "WITHMATCHLEN") {
            withmatchlen = true;
        } else if eq(opt, "MINMATCHLEN") && more {
            minmatchlen = int(ctx.argv[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    if getidx && getlen {
        return Err(err::LCS_LEN_AND_IDX.into());
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells.saturating_mul(4) > ctx.ex.settings.proto_max_bulk_len as u64 {
        return Err(err::LCS_TOO_BIG.into());
    }
    let w = blen + 1;
    let mut dp = vec![0u32; cells as usize];
    for i in 1..=alen {
        for jj in 1..=blen {
            dp[jj + i * w] = if a[i - 1] == b[jj - 1] {
                dp[(jj - 1) + (i - 1) * w] + 1
            } else {
                dp[jj + (i - 1) * w].max(dp[(jj - 1) + i * w])
            };
        }
    }
    let total = dp[blen + alen * w];
    let out = &mut ctx.client.out;
    if getlen {
        out.int(i64::from(total));
        return Ok(());
    }
    let mut result = vec![0u8; total as usize];
    let mut idx = total as usize;
    let mut ranges: Vec<(usize, usize, usize, usize, usize)> = Vec::new();
    let (mut astart, mut aend, mut bstart, mut bend) = (alen, 0usize, 0usize, 0usize);
    let (mut i, mut jj) = (alen, blen);
    while i > 0 && jj > 0 {
        let mut emit = false;
        if a[i - 1] == b[jj - 1] {
            result[idx - 1] = a[i - 1];
            if astart == alen {
                astart = i - 1;
                aend = i - 1;
                bstart = jj - 1;
                bend = jj - 1;
            } else if astart == i && bstart == jj {
                astart -= 1;
                bstart -= 1;
            } else {
                emit = true;
            }
            if astart == 0 || bstart == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            jj -= 1;
        } else {
            let l1 = dp[jj + (i - 1) * w];
            let l2 = dp[(jj - 1) + i * w];
            if l1 > l2 {
                i -= 1;
            } else {
                jj -= 1;
            }
            if astart != alen {
                emit = true;
            }
        }
        if emit {
            let match_len = aend - astart + 1;
            if minmatchlen == 0 || match_len as i64 >= minmatchlen {
                ranges.push((astart, aend, bstart, bend, match_len));
            }
            astart = alen;
        }
    }
    if getidx {
        out.map(2);
        out.bulk(b"matches");
        out.array(ranges.len());
        for (as_, ae, bs, be, ml) in ranges {
            out.array(2 + usize::from(withmatchlen));
            out.array(2);
            out.int(as_ as i64);
            out.int(ae as i64);
            out.array(2);
            out.int(bs as i64);
            out.int(be as i64);
            if withmatchlen {
                out.int(ml as i64);
            }
        }
        out.bulk(b"len");
        out.int(i64::from(total));
    } else {
        out.bulk(&result);
    }
    Ok(())
}

pub const HANDLERS: &[(&crate::cmd::meta::CommandMeta, Handler)] = &[
    (&m::GET, get),
    (&m::SET, set),
    (&m::SETNX, setnx),
    (&m::SETEX, setex),
    (&m::PSETEX, psetex),
    (&m::GETEX, getex),
    (&m::GETDEL, getdel),
    (&m::GETSET, getset),
    (&m::MGET, mget),
    (&m::MSET, mset),
    (&m::MSETNX, msetnx),
    (&m::MSETEX, msetex),
    (&m::DELEX, cas::delex),
    (&m::DELIFEQ, cas::delifeq),
    (&m::DIGEST, cas::digest_cmd),
    (&m::APPEND, append),
    (&m::STRLEN, strlen),
    (&m::GETRANGE, getrange),
    (&m::SUBSTR, getrange),
    (&m::SETRANGE, setrange),
    (&m::INCR, incr),
    (&m::DECR, decr),
    (&m::INCRBY, incrby),
    (&m::DECRBY, decrby),
    (&m::INCRBYFLOAT, incrbyfloat),
    (&m::LCS, lcs),
];
