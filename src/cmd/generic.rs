//! The "generic" group: commands on keys of any type (DEL, EXISTS, TYPE, RENAME, KEYS, SCAN,
//! RANDOMKEY, MOVE, COPY, TOUCH, OBJECT, the EXPIRE family, TTL, PERSIST).

use crate::cmd::args::{eq, int};
use crate::cmd::meta_gen as m;
use crate::cmd::table::Handler;
use crate::config::notify;
use crate::exec::{idle_secs, lfu_decayed, Ctx};
use crate::keyspace::bytes::CompactBytes;
use crate::keyspace::db::{past, Entry, NO_EXPIRE};
use crate::keyspace::value::Value;
use crate::resp::errors::{self as err, CmdError, CmdResult};
use crate::util::glob::glob_match;

/// Deletes `key` if present (after lazy expiry); records the change. Returns true if deleted.
pub fn delete_key(ctx: &mut Ctx, key: &[u8]) -> bool {
    delete_key_freeing(ctx, key, false)
}

/// Deletes a key; with `lazy`, a big value is freed on the background thread.
fn delete_key_freeing(ctx: &mut Ctx, key: &[u8], lazy: bool) -> bool {
    let db = ctx.client.db;
    ctx.ex.expire_if_needed(db, key, ctx.now_ms);
    let Some(entry) = ctx.ex.dbs[db].remove(key) else {
        return false;
    };
    if lazy {
        ctx.ex.lazyfree.free_value(entry.value);
    }
    ctx.modified(key, notify::GENERIC, "del");
    true
}

fn del_generic(ctx: &mut Ctx, lazy: bool) -> CmdResult {
    let mut n = 0;
    for key in ctx.args().rest() {
        if delete_key_freeing(ctx, key, lazy) {
            n += 1;
        }
    }
    ctx.out().int(n);
    Ok(())
}

pub fn del(ctx: &mut Ctx) -> CmdResult {
    del_generic(ctx, ctx.ex.settings.lazyfree_lazy_user_del)
}

pub fn unlink(ctx: &mut Ctx) -> CmdResult {
    del_generic(ctx, true)
}

pub fn exists(ctx: &mut Ctx) -> CmdResult {
    let mut n = 0;
    for key in ctx.args().rest() {
        if ctx
            .ex
            .lookup_read(ctx.client.db, key, ctx.now_ms, false)
            .is_some()
        {
            n += 1;
        }
    }
    ctx.out().int(n);
    Ok(())
}

pub fn type_(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let name = match ctx.ex.lookup_read(ctx.client.db, key, ctx.now_ms, false) {
        Some(e) => e.value.type_name(),
        None => "none",
    };
    ctx.out().simple(name.as_bytes());
    Ok(())
}

fn rename_generic(ctx: &mut Ctx, nx: bool) -> CmdResult {
    let (src, dst) = (ctx.argv[1], ctx.argv[2]);
    let db = ctx.client.db;
    let now = ctx.now_ms;
    if ctx.ex.lookup_write(db, src, now).is_none() {
        return Err(err::NO_SUCH_KEY.into());
    }
    if src == dst {
        if nx {
            ctx.out().int(0);
        } else {
            ctx.out().ok();
        }
        return Ok(());
    }
    let dst_exists = ctx.ex.lookup_write(db, dst, now).is_some();
    if dst_exists && nx {
        ctx.out().int(0);
        return Ok(());
    }
    let was = if dst_exists {
        ctx.ex.dbs[db].remove(dst).map(|e| e.value.type_name())
    } else {
        None
    };
    let (_, entry, expire_at_ms) = ctx.ex.dbs[db].take(src).expect("checked above");
    ctx.ex.dbs[db].insert_entry(CompactBytes::new(dst), entry, expire_at_ms);
    ctx.ex.signal_ready(db, dst);
    ctx.ex.dirty += 1;
    ctx.ex.signal_modified(db, src);
    ctx.ex.signal_modified(db, dst);
    ctx.notify(notify::GENERIC, "rename_from", src);
    ctx.notify(notify::GENERIC, "rename_to", dst);
    ctx.overwritten(dst, was);
    if nx {
        ctx.out().int(1);
    } else {
        ctx.out().ok();
    }
    Ok(())
}

pub fn rename(ctx: &mut Ctx) -> CmdResult {
    rename_generic(ctx, false)
}

pub fn renamenx(ctx: &mut Ctx) -> CmdResult {
    rename_generic(ctx, true)
}

pub fn keys(ctx: &mut Ctx) -> CmdResult {
    let pattern = ctx.argv[1];
    let all = pattern == b"*";
    let now = ctx.now_ms;
    let db = &ctx.ex.dbs[ctx.client.db];
    let out = &mut ctx.client.out;
    let d = out.deferred_array();
    let mut n = 0;
    for (k, e) in db.keys().iter() {
        if (all || glob_match(pattern, k, false)) && !past(db.entry_expire_at(k, e), now) {
            out.bulk(k);
            n += 1;
        }
    }
    out.set_deferred(d, n);
    Ok(())
}

/// Redis's parseScanCursorOrReply: strtoul semantics (a sign is accepted, negatives wrap).
pub fn parse_cursor(a: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::from(err::INVALID_CURSOR);
    let (neg, digits) = match a.first() {
        Some(b'-') => (true, &a[1..]),
        Some(b'+') => (false, &a[1..]),
        Some(c) if c.is_ascii_whitespace() => return Err(invalid()),
        _ => (false, a),
    };
    if a.is_empty() {
        return Ok(0);
    }
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// Options shared by SCAN, HSCAN, SSCAN and ZSCAN.
pub struct ScanOptions<'a> {
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
    pub type_name: Option<&'a [u8]>,
}

/// Parses [MATCH pattern] [COUNT n] (and TYPE for SCAN) from argv[first..].
pub fn parse_scan_options<'a>(
    argv: &'a [&'a [u8]],
    first: usize,
    allow_type: bool,
) -> Result<ScanOptions<'a>, CmdError> {
    let mut o = ScanOptions {
        count: 10,
        pattern: None,
        type_name: None,
    };
    let mut i = first;
    while i < argv.len() {
        let more = i + 1 < argv.len();
        let opt = argv[i];
        if eq(opt, "COUNT") && more {
            let n = int(argv[i + 1])?;
            if n < 1 {
                return Err(err::SYNTAX.into());
            }
            o.count = n as usize;
        } else if eq(opt, "MATCH") && more {
            let p = argv[i + 1];
            o.pattern = if p == b"*" { None } else { Some(p) };
        } else if eq(opt, "TYPE") && more && allow_type {
            o.type_name = Some(argv[i + 1]);
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 2;
    }
    Ok(o)
}

/// Writes a SCAN-style reply: [cursor, [elements...]].
pub fn reply_scan(ctx: &mut Ctx, cursor: u64, items: &[Vec<u8>]) {
    let out = ctx.out();
    out.array(2);
    let mut b = itoa::Buffer::new();
    out.bulk(b.format(cursor).as_bytes());
    out.array(items.len());
    for i in items {
        out.bulk(i);
    }
}

pub fn scan(ctx: &mut Ctx) -> CmdResult {
    let mut cursor = parse_cursor(ctx.argv[1])?;
    let opts = parse_scan_options(ctx.argv, 2, true)?;
    let db = ctx.client.db;
    let mut keys: Vec<CompactBytes> = Vec::new();
    let mut max_iterations = opts.count * 10;
    let dict = ctx.ex.dbs[db].keys();
    loop {
        cursor = dict.scan(cursor, |k, _| keys.push(k.clone()));
        max_iterations = max_iterations.saturating_sub(1);
        if cursor == 0 || max_iterations == 0 || keys.len() >= opts.count {
            break;
        }
    }
    let now = ctx.now_ms;
    let mut items = Vec::with_capacity(keys.len());
    for k in keys {
        if let Some(p) = opts.pattern {
            if !glob_match(p, &k, false) {
                continue;
            }
        }
        if ctx.ex.expire_if_needed(db, &k, now) {
            continue;
        }
        if let Some(t) = opts.type_name {
            let name = ctx.ex.dbs[db]
                .peek(&k)
                .map_or("none", |e| e.value.type_name());
            if !t.eq_ignore_ascii_case(name.as_bytes()) {
                continue;
            }
        }
        items.push(k.to_vec());
    }
    reply_scan(ctx, cursor, &items);
    Ok(())
}

pub fn randomkey(ctx: &mut Ctx) -> CmdResult {
    let db = ctx.client.db;
    let now = ctx.now_ms;
    // Expired keys found on the way are deleted; give up after many tries when every key is
    // volatile and nothing can be deleted (it cannot happen on a master, but stay bounded).
    for _ in 0..100 {
        let ex = &mut *ctx.ex;
        let mut rng = crate::util::rng::splitmix(ex.random_u64());
        let Some((k, e)) = ex.dbs[db].keys().random(&mut rng) else {
            ctx.out().null();
            return Ok(());
        };
        if past(ex.dbs[db].entry_expire_at(k, e), now) {
            let k = k.clone();
            ex.delete_expired(db, &k);
            continue;
        }
        let k = k.to_vec();
        ctx.out().bulk(&k);
        return Ok(());
    }
    ctx.out().null();
    Ok(())
}

fn parse_db_index(ctx: &Ctx, a: &[u8]) -> Result<usize, CmdError> {
    let idx = int(a)?;
    if idx < 0 || idx as usize >= ctx.ex.dbs.len() {
        return Err(err::DB_INDEX.into());
    }
    Ok(idx as usize)
}

pub fn move_(ctx: &mut Ctx) -> CmdResult {
    if ctx.ex.cluster.is_some() {
        return Err(err::MOVE_IN_CLUSTER.into());
    }
    let key = ctx.argv[1];
    let src = ctx.client.db;
    let dst = parse_db_index(ctx, ctx.argv[2])?;
    if src == dst {
        return Err(err::SAME_OBJECT.into());
    }
    let now = ctx.now_ms;
    if ctx.ex.lookup_write(src, key, now).is_none() || ctx.ex.lookup_write(dst, key, now).is_some()
    {
        ctx.out().int(0);
        return Ok(());
    }
    let (k, e, expire_at_ms) = ctx.ex.dbs[src].take(key).expect("checked above");
    ctx.ex.dbs[dst].insert_entry(k, e, expire_at_ms);
    ctx.ex.signal_ready(dst, key);
    ctx.ex.dirty += 1;
    ctx.ex.signal_modified(src, key);
    ctx.ex.signal_modified(dst, key);
    ctx.ex.notify_to(
        notify::GENERIC,
        "move_from",
        key,
        src,
        Some(&mut *ctx.client),
    );
    ctx.ex
        .notify_to(notify::GENERIC, "move_to", key, dst, Some(&mut *ctx.client));
    ctx.out().int(1);
    Ok(())
}

pub fn copy(ctx: &mut Ctx) -> CmdResult {
    let (src, dst) = (ctx.argv[1], ctx.argv[2]);
    let src_db = ctx.client.db;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut args = crate::cmd::args::Args::new(ctx.argv, 3);
    while let Some(a) = args.next() {
        if eq(a, "REPLACE") {
            replace = true;
        } else if eq(a, "DB") && args.remaining() >= 1 {
            dst_db = parse_db_index(ctx, args.bytes()?)?;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    if ctx.ex.cluster.is_some() && (src_db != 0 || dst_db != 0) {
        return Err(err::COPY_DB_IN_CLUSTER.into());
    }
    if src_db == dst_db && src == dst {
        return Err(err::SAME_OBJECT.into());
    }
    let now = ctx.now_ms;
    let Some(e) = ctx.ex.lookup_write(src_db, src, now) else {
        ctx.out().int(0);
        return Ok(());
    };
    let value = e.value.clone();
    let expire_at_ms = ctx.ex.dbs[src_db].expire_at(src);
    let mut was = None;
    if ctx.ex.lookup_write(dst_db, dst, now).is_some() {
        if !replace {
            ctx.out().int(0);
            return Ok(());
        }
        was = ctx.ex.dbs[dst_db].remove(dst).map(|e| e.value.type_name());
    }
    let lru = ctx.ex.new_lru(now);
    let copied = Entry::new(value, lru);
    ctx.ex.dbs[dst_db].insert_entry(CompactBytes::new(dst), copied, expire_at_ms);
    ctx.ex.signal_ready(dst_db, dst);
    ctx.ex.dirty += 1;
    ctx.ex.signal_modified(dst_db, dst);
    ctx.ex.notify_to(
        notify::GENERIC,
        "copy_to",
        dst,
        dst_db,
        Some(&mut *ctx.client),
    );
    ctx.overwritten_in(dst_db, dst, was);
    ctx.out().int(1);
    Ok(())
}

pub fn touch(ctx: &mut Ctx) -> CmdResult {
    let mut n = 0;
    for key in ctx.args().rest() {
        // TOUCH updates access times even for NO-TOUCH clients.
        if ctx
            .ex
            .lookup_read(ctx.client.db, key, ctx.now_ms, true)
            .is_some()
        {
            n += 1;
        }
    }
    ctx.out().int(n);
    Ok(())
}

/// Entry for OBJECT: no access-time update, no stats (LOOKUP_NOTOUCH | LOOKUP_NONOTIFY).
fn object_entry<'a>(ctx: &'a mut Ctx) -> Option<&'a mut Entry> {
    let db = ctx.client.db;
    let key = ctx.argv[2];
    ctx.ex.lookup_write(db, key, ctx.now_ms)
}

/// Redis shares the integers 0..10000 between keys unless the eviction policy needs
/// per-key access data; OBJECT REFCOUNT reports such shared objects as INT_MAX.
const SHARED_INTEGERS: i64 = 10000;

pub fn object_encoding(ctx: &mut Ctx) -> CmdResult {
    match object_entry(ctx).map(|e| e.value.encoding_name()) {
        Some(enc) => ctx.out().bulk(enc.as_bytes()),
        None => ctx.out().null(),
    }
    Ok(())
}

pub fn object_refcount(ctx: &mut Ctx) -> CmdResult {
    let maxmemory_lru_lfu = ctx.ex.settings.maxmemory != 0
        && (ctx.ex.settings.maxmemory_policy.ends_with("lru")
            || ctx.ex.settings.maxmemory_policy.ends_with("lfu"));
    let refcount = object_entry(ctx).map(|e| match e.value {
        Value::Int(i) if (0..SHARED_INTEGERS).contains(&i) && !maxmemory_lru_lfu => {
            i64::from(i32::MAX)
        }
        _ => 1,
    });
    match refcount {
        Some(n) => ctx.out().int(n),
        None => ctx.out().null(),
    }
    Ok(())
}

pub fn object_idletime(ctx: &mut Ctx) -> CmdResult {
    let lfu = ctx.ex.lfu_mode();
    let now = ctx.now_ms;
    let Some(lru) = object_entry(ctx).map(|e| e.lru()) else {
        ctx.out().null();
        return Ok(());
    };
    if lfu {
        return Err(err::OBJECT_IDLETIME_LFU.into());
    }
    ctx.out().int(idle_secs(lru, now) as i64);
    Ok(())
}

pub fn object_freq(ctx: &mut Ctx) -> CmdResult {
    let lfu = ctx.ex.lfu_mode();
    let now = ctx.now_ms;
    let decay = ctx.ex.settings.lfu_decay_time;
    let Some(lru) = object_entry(ctx).map(|e| e.lru()) else {
        ctx.out().null();
        return Ok(());
    };
    if !lfu {
        return Err(err::OBJECT_FREQ_NOT_LFU.into());
    }
    ctx.out().int(i64::from(lfu_decayed(lru, now, decay)));
    Ok(())
}

pub fn object_help(ctx: &mut Ctx) -> CmdResult {
    crate::cmd::server::introspect::help(
        ctx.out(),
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
    Ok(())
}

/// Expiry conditions of EXPIRE & co. (NX XX GT LT).
#[derive(Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_expire_flags(ctx: &Ctx) -> Result<ExpireFlags, CmdError> {
    let mut f = ExpireFlags::default();
    for opt in &ctx.argv[3..] {
        if eq(opt, "NX") {
            f.nx = true;
        } else if eq(opt, "XX") {
            f.xx = true;
        } else if eq(opt, "GT") {
            f.gt = true;
        } else if eq(opt, "LT") {
            f.lt = true;
        } else {
            return Err(err::unsupported_option(opt));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err(err::NX_XX_GT_LT.into());
    }
    if f.gt && f.lt {
        return Err(err::GT_AND_LT.into());
    }
    Ok(f)
}

/// Redis's expireGenericCommand. `base_ms` is 0 for absolute forms, now for relative ones.
fn expire_generic(ctx: &mut Ctx, base_ms: i64, seconds: bool) -> CmdResult {
    let key = ctx.argv[1];
    let flags = parse_expire_flags(ctx)?;
    let mut when = int(ctx.argv[2])?;
    let name = ctx.cmd.meta.name;
    if seconds {
        when = when
            .checked_mul(1000)
            .ok_or_else(|| err::invalid_expire(name))?;
    }
    when = when
        .checked_add(base_ms)
        .ok_or_else(|| err::invalid_expire(name))?;
    let db = ctx.client.db;
    let now = ctx.now_ms;
    if ctx.ex.lookup_write(db, key, now).is_none() {
        ctx.out().int(0);
        return Ok(());
    }
    let current = ctx.ex.dbs[db].expire_at(key);
    let refuse = (flags.nx && current != NO_EXPIRE)
        || (flags.xx && current == NO_EXPIRE)
        || (flags.gt && (current == NO_EXPIRE || when <= current))
        || (flags.lt && current != NO_EXPIRE && when >= current);
    if refuse {
        ctx.out().int(0);
        return Ok(());
    }
    // A TTL in the past deletes (Redis's checkAlreadyExpired), except while loading.
    if when <= now && !ctx.ex.loading {
        ctx.ex.dbs[db].remove(key);
        ctx.modified(key, notify::GENERIC, "del");
        let del = super::strings::expiry_delete_command(ctx);
        ctx.propagate_as(&[del, key]);
    } else {
        ctx.ex.dbs[db].set_expire(key, when);
        ctx.modified(key, notify::GENERIC, "expire");
        if ctx.propagating() && name != "pexpireat" {
            let at = itoa::Buffer::new().format(when).as_bytes().to_vec();
            let mut args: Vec<&[u8]> = vec![b"PEXPIREAT", key, &at];
            args.extend_from_slice(&ctx.argv[3..]);
            ctx.propagate_as(&args);
        }
    }
    ctx.out().int(1);
    Ok(())
}

pub fn expire(ctx: &mut Ctx) -> CmdResult {
    let now = ctx.now_ms;
    expire_generic(ctx, now, true)
}

pub fn pexpire(ctx: &mut Ctx) -> CmdResult {
    let now = ctx.now_ms;
    expire_generic(ctx, now, false)
}

pub fn expireat(ctx: &mut Ctx) -> CmdResult {
    expire_generic(ctx, 0, true)
}

pub fn pexpireat(ctx: &mut Ctx) -> CmdResult {
    expire_generic(ctx, 0, false)
}

/// TTL-style reads: -2 missing, -1 no TTL, else `f(expire_at_ms)`.
fn ttl_generic(ctx: &mut Ctx, f: impl Fn(i64, i64) -> i64) -> CmdResult {
    let key = ctx.argv[1];
    let now = ctx.now_ms;
    let db = ctx.client.db;
    let v = match ctx.ex.lookup_read(db, key, now, false) {
        None => -2,
        Some(e) if !e.has_expire() => -1,
        Some(_) => f(ctx.ex.dbs[db].expire_at(key), now),
    };
    ctx.out().int(v);
    Ok(())
}

pub fn ttl(ctx: &mut Ctx) -> CmdResult {
    ttl_generic(ctx, |at, now| ((at - now).max(0) + 500) / 1000)
}

pub fn pttl(ctx: &mut Ctx) -> CmdResult {
    ttl_generic(ctx, |at, now| (at - now).max(0))
}

pub fn expiretime(ctx: &mut Ctx) -> CmdResult {
    ttl_generic(ctx, |at, _| at / 1000)
}

pub fn pexpiretime(ctx: &mut Ctx) -> CmdResult {
    ttl_generic(ctx, |at, _| at)
}

pub fn persist(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let db = ctx.client.db;
    let now = ctx.now_ms;
    let removed = ctx.ex.lookup_write(db, key, now).is_some() && ctx.ex.dbs[db].persist(key);
    if removed {
        ctx.modified(key, notify::GENERIC, "persist");
    }
    ctx.out().int(i64::from(removed));
    Ok(())
}

/// WAIT numreplicas timeout: cinnabar has no replicas yet, so it answers 0 at once when no
/// acknowledgement is needed, and otherwise after the timeout (or never, for 0), as Redis
/// does with no replicas attached.
pub fn wait(ctx: &mut Ctx) -> CmdResult {
    if ctx.ex.repl.is_replica() {
        return Err(err::WAIT_ON_REPLICA.into());
    }
    let needed = int(ctx.argv[1])?;
    let deadline = crate::exec::blocking::parse_timeout_ms(ctx.argv[2], ctx.now_ms)?;
    let acked = crate::repl::replicas_acked(ctx.ex, ctx.client.repl_woff) as i64;
    if needed <= acked || !ctx.can_block() {
        ctx.out().int(acked);
        return Ok(());
    }
    ctx.client.wait_replicas = needed;
    ctx.block(crate::exec::blocking::BlockKind::Wait, &[], deadline);
    ctx.ex.repl.ack_requested = true;
    Ok(())
}

/// WAITAOF numlocal numreplicas timeout (Redis 7.2): waits until the AOF is synced past this
/// client's last write (numlocal 1); no replica can answer, so numreplicas > 0 waits for the
/// timeout. Replies [local 0/1, replicas].
pub fn waitaof(ctx: &mut Ctx) -> CmdResult {
    let numlocal = int(ctx.argv[1])?;
    if !(0..=1).contains(&numlocal) {
        return Err(err::VALUE_BETWEEN_0_AND_1.into());
    }
    let numreplicas = int(ctx.argv[2])?;
    if numreplicas < 0 {
        return Err(err::POSITIVE.into());
    }
    let deadline = crate::exec::blocking::parse_timeout_ms(ctx.argv[3], ctx.now_ms)?;
    let synced = ctx.ex.aof_synced_offset();
    if numlocal == 1 && synced.is_none() {
        return Err(err::WAITAOF_NO_AOF.into());
    }
    let local_ok = synced.is_some_and(|f| f >= ctx.client.woff);
    if ((local_ok || numlocal == 0) && numreplicas == 0) || !ctx.can_block() {
        crate::exec::blocking::reply_waitaof(ctx.client, synced);
        return Ok(());
    }
    ctx.client.wait_replicas = numreplicas;
    ctx.block(crate::exec::blocking::BlockKind::WaitAof, &[], deadline);
    Ok(())
}

/// DUMP: the value in Redis's serialization (RDB type and body, RDB version, CRC-64), so
/// another Redis or cinnabar can RESTORE it.
pub fn dump(ctx: &mut Ctx) -> CmdResult {
    let compress = ctx.ex.cfg.get_bool("rdbcompression");
    let key = ctx.argv[1];
    let Some(e) = ctx.read(key) else {
        ctx.out().null();
        return Ok(());
    };
    let payload = crate::persist::dump_payload(&e.value, compress);
    ctx.out().bulk(&payload);
    Ok(())
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f], checked in Redis's order.
pub fn restore(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut args = crate::cmd::args::Args::new(ctx.argv, 4);
    while let Some(a) = args.next() {
        if eq(a, "REPLACE") {
            replace = true;
        } else if eq(a, "ABSTTL") {
            absttl = true;
        } else if eq(a, "IDLETIME") && args.remaining() >= 1 && freq.is_none() {
            let v = args.i64()?;
            if v < 0 {
                return Err(err::RESTORE_BAD_IDLETIME.into());
            }
            idle = Some(v);
        } else if eq(a, "FREQ") && args.remaining() >= 1 && idle.is_none() {
            let v = args.i64()?;
            if !(0..=255).contains(&v) {
                return Err(err::RESTORE_BAD_FREQ.into());
            }
            freq = Some(v);
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let exists = ctx.ex.lookup_write(db, key, now).is_some();
    if exists && !replace {
        return Err(err::BUSYKEY.into());
    }
    let ttl = int(ctx.argv[2])?;
    if ttl < 0 {
        return Err(err::RESTORE_BAD_TTL.into());
    }
    let (body, lineage) =
        crate::persist::open_payload(ctx.argv[3], !ctx.ex.skip_checksum_validation)
            .ok_or_else(|| CmdError::from(err::DUMP_PAYLOAD))?;
    let value = {
        let mut dec = crate::persist::decoder(body, &ctx.ex.settings);
        dec.now_ms = now;
        dec.lineage = lineage;
        let t = dec
            .value_type()
            .map_err(|_| CmdError::from(err::BAD_DATA_FORMAT))?;
        match dec.value(t) {
            Ok(Some(v)) => v,
            Ok(None) => return Err(err::BAD_DATA_FORMAT.into()),
            Err(e) => {
                // Redis's rdbReportError in a RESTORE: logged at verbose, the load refused.
                tracing::debug!(
                    "Internal error in RDB reading offset 0, function at rdb.c:0 -> {}",
                    e.msg
                );
                return Err(err::BAD_DATA_FORMAT.into());
            }
        }
    };
    let expire_at = match ttl {
        0 => NO_EXPIRE,
        t if absttl => t,
        t => now.saturating_add(t),
    };
    let was = if exists {
        ctx.ex.dbs[db].remove(key).map(|e| e.value.type_name())
    } else {
        None
    };
    // Already expired (an ABSTTL in the past): nothing is stored, an old key is deleted.
    if expire_at != NO_EXPIRE && expire_at <= now && !ctx.ex.loading {
        if exists {
            ctx.modified(key, notify::GENERIC, "del");
            ctx.propagate_as(&[b"DEL", key]);
        }
        ctx.out().ok();
        return Ok(());
    }
    if ttl != 0 && !absttl && ctx.propagating() {
        let at = itoa::Buffer::new().format(expire_at).as_bytes().to_vec();
        let mut args: Vec<&[u8]> = ctx.argv.to_vec();
        args[2] = &at;
        args.push(b"ABSTTL");
        ctx.propagate_as(&args);
    }
    let lru = match (idle, freq) {
        (_, Some(f)) if ctx.ex.lfu_mode() => (crate::exec::lfu_minutes(now) << 8) | f as u32,
        (Some(i), _) if !ctx.ex.lfu_mode() => {
            crate::exec::lru_clock(now).wrapping_sub(i as u32) & crate::keyspace::db::LRU_CLOCK_MAX
        }
        _ => ctx.new_lru(),
    };
    ctx.ex.dbs[db].insert(key, value, expire_at, lru);
    ctx.ex.signal_ready(db, key);
    ctx.modified(key, notify::GENERIC, "restore");
    ctx.overwritten(key, was);
    ctx.out().ok();
    Ok(())
}

pub const HANDLERS: &[(&crate::cmd::meta::CommandMeta, Handler)] = &[
    (&m::DUMP, dump),
    (&m::RESTORE, restore),
    (&m::MIGRATE, super::migrate::migrate),
    (&m::WAIT, wait),
    (&m::WAITAOF, waitaof),
    (&m::SORT, super::sort::sort),
    (&m::SORT_RO, super::sort::sort_ro),
    (&m::DEL, del),
    (&m::UNLINK, unlink),
    (&m::EXISTS, exists),
    (&m::TYPE, type_),
    (&m::RENAME, rename),
    (&m::RENAMENX, renamenx),
    (&m::KEYS, keys),
    (&m::SCAN, scan),
    (&m::RANDOMKEY, randomkey),
    (&m::MOVE, move_),
    (&m::COPY, copy),
    (&m::TOUCH, touch),
    (&m::OBJECT_ENCODING, object_encoding),
    (&m::OBJECT_REFCOUNT, object_refcount),
    (&m::OBJECT_IDLETIME, object_idletime),
    (&m::OBJECT_FREQ, object_freq),
    (&m::OBJECT_HELP, object_help),
    (&m::EXPIRE, expire),
    (&m::PEXPIRE, pexpire),
    (&m::EXPIREAT, expireat),
    (&m::PEXPIREAT, pexpireat),
    (&m::TTL, ttl),
    (&m::PTTL, pttl),
    (&m::EXPIRETIME, expiretime),
    (&m::PEXPIRETIME, pexpiretime),
    (&m::PERSIST, persist),
];
