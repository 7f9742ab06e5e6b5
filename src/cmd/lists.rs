//! The "list" group: pushes and pops at both ends, ranges, LINDEX/LSET/LINSERT/LREM/LTRIM,
//! LPOS, LMOVE/RPOPLPUSH, LMPOP, and the blocking BLPOP/BRPOP/BLMOVE/BRPOPLPUSH/BLMPOP.
//!
//! Blocking commands that find nothing park the client (`Ctx::block`); when a waited-for key
//! becomes a list, the executor runs the command again with `Ctx::ready_key` naming that key,
//! and the command then serves from that key only, as Redis 7.0 serves a client from the key
//! that became ready.

use std::ops::ControlFlow;

use crate::cmd::args::{eq, int};
use crate::cmd::meta_gen as m;
use crate::cmd::table::Handler;
use crate::config::notify;
use crate::exec::blocking::{parse_timeout_secs, BlockKind};
use crate::exec::client::flags::NO_TOUCH;
use crate::exec::{Client, Ctx, Executor};
use crate::keyspace::db::NO_EXPIRE;
use crate::keyspace::types::list::List;
use crate::keyspace::value::Value;
use crate::resp::errors::{self as err, CmdError, CmdResult};
use crate::resp::reply::ReplyBuf;

// ---- lookups ----

/// The list at `key` for writing (lookupKeyWrite): None if missing, WRONGTYPE for others.
fn write_list<'a>(
    ex: &'a mut Executor,
    db: usize,
    key: &[u8],
    now_ms: i64,
) -> Result<Option<&'a mut List>, CmdError> {
    match ex.lookup_write(db, key, now_ms) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::List(l) => Ok(Some(&mut **l)),
            _ => Err(err::WRONGTYPE.into()),
        },
    }
}

/// The list at `key` for reading (lookupKeyRead: stats and access time).
fn read_list<'a>(
    ex: &'a mut Executor,
    client: &Client,
    key: &[u8],
    now_ms: i64,
) -> Result<Option<&'a mut List>, CmdError> {
    let touch = !client.has(NO_TOUCH);
    match ex.lookup_read(client.db, key, now_ms, touch) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::List(l) => Ok(Some(&mut **l)),
            _ => Err(err::WRONGTYPE.into()),
        },
    }
}

/// The list just looked up or created at `key` (no expiry check: the caller did it).
fn list_at<'a>(ex: &'a mut Executor, db: usize, key: &[u8]) -> &'a mut List {
    match ex.dbs[db].peek_mut(key).map(|e| &mut e.value) {
        Some(Value::List(l)) => l,
        _ => unreachable!("a list was just found or created"),
    }
}

/// Adds an empty list at `key` (absent) with the current node options, and wakes clients
/// blocked on it once the command is done (Redis's dbAdd signals list keys as ready).
fn create_list(ctx: &mut Ctx, key: &[u8]) {
    let s = &ctx.ex.settings;
    let list = List::new(s.list_max_listpack_size, s.list_compress_depth);
    let lru = ctx.new_lru();
    let db = ctx.client.db;
    ctx.ex.dbs[db].insert(key, Value::List(Box::new(list)), NO_EXPIRE, lru);
    ctx.ex.signal_ready(db, key);
}

/// Redis's listElementsRemoved: the pop event, the key deleted once empty, `count` changes.
fn elements_removed(ctx: &mut Ctx, key: &[u8], head: bool, count: usize) {
    ctx.modified(key, notify::LIST, if head { "lpop" } else { "rpop" });
    ctx.ex.dirty += (count as u64).saturating_sub(1);
    delete_if_empty(ctx, key);
}

/// Deletes the list at `key` if it has no elements left (with the "del" event).
fn delete_if_empty(ctx: &mut Ctx, key: &[u8]) {
    let db = ctx.client.db;
    let empty = matches!(
        ctx.ex.dbs[db].peek(key).map(|e| &e.value),
        Some(Value::List(l)) if l.is_empty()
    );
    if empty {
        ctx.ex.dbs[db].remove(key);
        ctx.ex.notify(notify::GENERIC, "del", key, db);
    }
}

/// LEFT / RIGHT (Redis's getListPositionFromObjectOrReply): true for the head.
fn parse_side(a: &[u8]) -> Result<bool, CmdError> {
    if eq(a, "LEFT") {
        Ok(true)
    } else if eq(a, "RIGHT") {
        Ok(false)
    } else {
        Err(err::SYNTAX.into())
    }
}

/// Redis's getRangeLongFromObjectOrReply(min..=LONG_MAX) with one message for every failure.
fn int_at_least(a: &[u8], min: i64, msg: &'static str) -> Result<i64, CmdError> {
    match crate::util::num::parse_i64(a) {
        Some(v) if v >= min => Ok(v),
        _ => Err(msg.into()),
    }
}

/// Clamps LRANGE-style [start, end] to the list: (first index, element count).
fn clamp_range(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    if end >= len {
        end = len - 1;
    }
    Some((start as usize, (end - start + 1) as usize))
}

/// A list index (negative from the tail) as a position, if in range.
fn clamp_index(len: usize, index: i64) -> Option<usize> {
    let i = if index < 0 {
        index.checked_add(len as i64)?
    } else {
        index
    };
    (i >= 0 && (i as usize) < len).then_some(i as usize)
}

/// Writes elements `start .. start + n` (backwards when `reverse`) as an array.
fn reply_range(out: &mut ReplyBuf, l: &List, start: usize, n: usize, reverse: bool) {
    out.array(n);
    out.buf.reserve(n * 8);
    l.for_range(start, n, reverse, |v| out.bulk(v));
}

/// Pops up to `count` elements from one end, replying with them as an array (the order
/// they are popped in). Returns how many were popped.
fn pop_range_reply(out: &mut ReplyBuf, l: &mut List, head: bool, count: usize) -> usize {
    let n = count.min(l.len());
    let start = if head { 0 } else { l.len() - n };
    reply_range(out, l, start, n, !head);
    l.delete_range(start, n);
    n
}

// ---- pushes ----

/// LPUSH / RPUSH / LPUSHX / RPUSHX (Redis's pushGenericCommand).
fn push_generic(ctx: &mut Ctx, head: bool, only_existing: bool) -> CmdResult {
    let key = ctx.argv[1];
    let values = &ctx.argv[2..];
    let db = ctx.client.db;
    // One lookup for the common case of pushing onto an existing list.
    let len = match write_list(ctx.ex, db, key, ctx.now_ms)? {
        Some(l) => {
            for v in values {
                l.push(head, v);
            }
            l.len()
        }
        None if only_existing => {
            ctx.out().int(0);
            return Ok(());
        }
        None => {
            let s = &ctx.ex.settings;
            let mut l = List::new(s.list_max_listpack_size, s.list_compress_depth);
            for v in values {
                l.push(head, v);
            }
            let len = l.len();
            let lru = ctx.new_lru();
            ctx.ex.dbs[db].insert(key, Value::List(Box::new(l)), NO_EXPIRE, lru);
            ctx.ex.signal_ready(db, key);
            len
        }
    };
    ctx.client.out.int(len as i64);
    ctx.modified(key, notify::LIST, if head { "lpush" } else { "rpush" });
    ctx.ex.dirty += values.len() as u64 - 1;
    Ok(())
}

pub fn lpush(ctx: &mut Ctx) -> CmdResult {
    push_generic(ctx, true, false)
}

pub fn rpush(ctx: &mut Ctx) -> CmdResult {
    push_generic(ctx, false, false)
}

pub fn lpushx(ctx: &mut Ctx) -> CmdResult {
    push_generic(ctx, true, true)
}

pub fn rpushx(ctx: &mut Ctx) -> CmdResult {
    push_generic(ctx, false, true)
}

// ---- pops ----

/// LPOP / RPOP key [count] (Redis's popGenericCommand).
fn pop_generic(ctx: &mut Ctx, head: bool) -> CmdResult {
    if ctx.argv.len() > 3 {
        return Err(err::wrong_arity(ctx.cmd.meta.name));
    }
    let count = match ctx.argv.get(2) {
        Some(a) => Some(int_at_least(a, 0, err::POSITIVE)? as usize),
        None => None,
    };
    let key = ctx.argv[1];
    let db = ctx.client.db;
    let Some(l) = write_list(ctx.ex, db, key, ctx.now_ms)? else {
        match count {
            Some(_) => ctx.client.out.null_array(),
            None => ctx.client.out.null(),
        }
        return Ok(());
    };
    let out = &mut ctx.client.out;
    let popped = match count {
        Some(0) => {
            out.array(0);
            return Ok(());
        }
        None => {
            l.pop_with(head, |v| out.bulk(v));
            1
        }
        Some(n) => pop_range_reply(out, l, head, n),
    };
    elements_removed(ctx, key, head, popped);
    Ok(())
}

pub fn lpop(ctx: &mut Ctx) -> CmdResult {
    pop_generic(ctx, true)
}

pub fn rpop(ctx: &mut Ctx) -> CmdResult {
    pop_generic(ctx, false)
}

/// Serves a [B]LPOP/[B]RPOP/[B]LMPOP from the first non-empty list among `keys` (only the
/// ready key when serving a parked client). `count` None: reply [key, element]; Some: reply
/// [key, [elements]]. Returns false when every list is empty or missing.
fn pop_from_keys(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    head: bool,
    count: Option<usize>,
) -> Result<bool, CmdError> {
    let db = ctx.client.db;
    for &key in keys {
        if ctx.ready_key.is_some_and(|k| k != key) {
            continue;
        }
        let Some(l) = write_list(ctx.ex, db, key, ctx.now_ms)? else {
            continue;
        };
        if l.is_empty() {
            continue;
        }
        let out = &mut ctx.client.out;
        out.array(2);
        out.bulk(key);
        let popped = match count {
            None => {
                l.pop_with(head, |v| out.bulk(v));
                1
            }
            Some(n) => pop_range_reply(out, l, head, n),
        };
        elements_removed(ctx, key, head, popped);
        // Blocking and multi-key forms replay as the plain pop they did.
        let pop: &[u8] = if head { b"LPOP" } else { b"RPOP" };
        match count {
            None => ctx.propagate_as(&[pop, key]),
            Some(_) => {
                let n = itoa::Buffer::new().format(popped).as_bytes().to_vec();
                ctx.propagate_as(&[pop, key, &n]);
            }
        }
        return Ok(true);
    }
    Ok(false)
}

/// BLPOP / BRPOP key [key ...] timeout.
fn bpop_generic(ctx: &mut Ctx, head: bool) -> CmdResult {
    let argv = ctx.argv;
    let n = argv.len();
    let deadline = parse_timeout_secs(argv[n - 1], ctx.now_ms)?;
    let keys = &argv[1..n - 1];
    blocking_pop(ctx, keys, head, None, deadline)
}

/// Redis's blockingPopGenericCommand: serve now, or block (or reply null when the client
/// may not block).
fn blocking_pop(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    head: bool,
    count: Option<usize>,
    deadline: i64,
) -> CmdResult {
    if pop_from_keys(ctx, keys, head, count)? {
        return Ok(());
    }
    if !ctx.can_block() {
        ctx.out().null_array();
        return Ok(());
    }
    ctx.block(BlockKind::List, keys, deadline);
    Ok(())
}

pub fn blpop(ctx: &mut Ctx) -> CmdResult {
    bpop_generic(ctx, true)
}

pub fn brpop(ctx: &mut Ctx) -> CmdResult {
    bpop_generic(ctx, false)
}

/// Parsed `numkeys key... LEFT|RIGHT [COUNT n]` of LMPOP/BLMPOP.
struct MpopArgs<'a> {
    keys: &'a [&'a [u8]],
    head: bool,
    count: usize,
}

/// Redis's lmpopGenericCommand argument parsing, numkeys at `numkeys_idx`.
fn parse_mpop<'a>(argv: &'a [&'a [u8]], numkeys_idx: usize) -> Result<MpopArgs<'a>, CmdError> {
    let numkeys = int_at_least(argv[numkeys_idx], 1, err::NUMKEYS_POSITIVE)? as u64;
    let first = numkeys_idx + 1;
    if numkeys >= (argv.len() - first) as u64 {
        return Err(err::SYNTAX.into());
    }
    let where_idx = first + numkeys as usize;
    let head = parse_side(argv[where_idx])?;
    let mut count = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if count.is_none() && eq(argv[j], "COUNT") && more {
            j += 1;
            count = Some(int_at_least(argv[j], 1, err::COUNT_POSITIVE)? as usize);
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    Ok(MpopArgs {
        keys: &argv[first..where_idx],
        head,
        count: count.unwrap_or(1),
    })
}

pub fn lmpop(ctx: &mut Ctx) -> CmdResult {
    let a = parse_mpop(ctx.argv, 1)?;
    if !pop_from_keys(ctx, a.keys, a.head, Some(a.count))? {
        ctx.out().null_array();
    }
    Ok(())
}

pub fn blmpop(ctx: &mut Ctx) -> CmdResult {
    let a = parse_mpop(ctx.argv, 2)?;
    let deadline = parse_timeout_secs(ctx.argv[1], ctx.now_ms)?;
    blocking_pop(ctx, a.keys, a.head, Some(a.count), deadline)
}

// ---- moves ----

/// Redis's lmoveGenericCommand: pops from `src`, pushes to `dst`, replies the element.
fn lmove_generic(ctx: &mut Ctx, from_head: bool, to_head: bool) -> CmdResult {
    let (src, dst) = (ctx.argv[1], ctx.argv[2]);
    let db = ctx.client.db;
    let now = ctx.now_ms;
    match write_list(ctx.ex, db, src, now)? {
        None => {
            ctx.out().null();
            return Ok(());
        }
        Some(l) if l.is_empty() => {
            ctx.out().null();
            return Ok(());
        }
        Some(_) => {}
    }
    let dst_exists = write_list(ctx.ex, db, dst, now)?.is_some();
    let value = list_at(ctx.ex, db, src)
        .pop(from_head)
        .expect("non-empty source");
    if !dst_exists {
        create_list(ctx, dst);
    }
    list_at(ctx.ex, db, dst).push(to_head, &value);
    ctx.modified(dst, notify::LIST, if to_head { "lpush" } else { "rpush" });
    ctx.ex.dirty -= 1;
    ctx.client.out.bulk(&value);
    ctx.modified(src, notify::LIST, if from_head { "lpop" } else { "rpop" });
    delete_if_empty(ctx, src);
    // The blocking forms replay as the non-blocking ones (as Redis does).
    match ctx.cmd.meta.name {
        "blmove" => ctx.propagate_as(&[b"LMOVE", src, dst, ctx.argv[3], ctx.argv[4]]),
        "brpoplpush" => ctx.propagate_as(&[b"RPOPLPUSH", src, dst]),
        _ => {}
    }
    Ok(())
}

pub fn lmove(ctx: &mut Ctx) -> CmdResult {
    let from = parse_side(ctx.argv[3])?;
    let to = parse_side(ctx.argv[4])?;
    lmove_generic(ctx, from, to)
}

pub fn rpoplpush(ctx: &mut Ctx) -> CmdResult {
    lmove_generic(ctx, false, true)
}

/// Redis's blmoveGenericCommand.
fn blmove_generic(ctx: &mut Ctx, from_head: bool, to_head: bool, deadline: i64) -> CmdResult {
    let src = ctx.argv[1];
    let db = ctx.client.db;
    if write_list(ctx.ex, db, src, ctx.now_ms)?.is_some() {
        return lmove_generic(ctx, from_head, to_head);
    }
    if !ctx.can_block() {
        ctx.out().null();
        return Ok(());
    }
    ctx.block(BlockKind::List, &[src], deadline);
    Ok(())
}

pub fn blmove(ctx: &mut Ctx) -> CmdResult {
    let from = parse_side(ctx.argv[3])?;
    let to = parse_side(ctx.argv[4])?;
    let deadline = parse_timeout_secs(ctx.argv[5], ctx.now_ms)?;
    blmove_generic(ctx, from, to, deadline)
}

pub fn brpoplpush(ctx: &mut Ctx) -> CmdResult {
    let deadline = parse_timeout_secs(ctx.argv[3], ctx.now_ms)?;
    blmove_generic(ctx, false, true, deadline)
}

// ---- reads ----

pub fn llen(ctx: &mut Ctx) -> CmdResult {
    let len = read_list(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)?.map_or(0, |l| l.len());
    ctx.out().int(len as i64);
    Ok(())
}

pub fn lrange(ctx: &mut Ctx) -> CmdResult {
    let start = int(ctx.argv[2])?;
    let end = int(ctx.argv[3])?;
    let Some(l) = read_list(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)? else {
        ctx.client.out.array(0);
        return Ok(());
    };
    let out = &mut ctx.client.out;
    match clamp_range(l.len(), start, end) {
        None => out.array(0),
        Some((first, n)) => reply_range(out, l, first, n, false),
    }
    Ok(())
}

pub fn lindex(ctx: &mut Ctx) -> CmdResult {
    let Some(l) = read_list(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)? else {
        ctx.client.out.null();
        return Ok(());
    };
    let index = int(ctx.argv[2])?;
    let out = &mut ctx.client.out;
    match clamp_index(l.len(), index) {
        Some(i) => {
            l.get_with(i, |v| out.bulk(v));
        }
        None => out.null(),
    }
    Ok(())
}

pub fn lpos(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let ele = argv[2];
    let (mut rank, mut count, mut maxlen) = (1i64, None::<i64>, 0i64);
    let mut j = 3;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        let opt = argv[j];
        if eq(opt, "RANK") && more {
            j += 1;
            rank = int(argv[j])?;
            if rank == 0 {
                return Err(err::LPOS_RANK_ZERO.into());
            }
        } else if eq(opt, "COUNT") && more {
            j += 1;
            count = Some(int_at_least(argv[j], 0, err::LPOS_COUNT_NEGATIVE)?);
        } else if eq(opt, "MAXLEN") && more {
            j += 1;
            maxlen = int_at_least(argv[j], 0, err::LPOS_MAXLEN_NEGATIVE)?;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    // A negative rank counts matches from the tail (LONG_MIN stays negative, as in Redis).
    let from_head = rank > 0;
    if rank < 0 {
        rank = rank.wrapping_neg();
    }
    let Some(l) = read_list(ctx.ex, ctx.client, argv[1], ctx.now_ms)? else {
        match count {
            Some(_) => ctx.client.out.array(0),
            None => ctx.client.out.null(),
        }
        return Ok(());
    };
    let out = &mut ctx.client.out;
    let len = l.len() as i64;
    let pos = |index: i64| if from_head { index } else { len - index - 1 };
    let (mut index, mut matches) = (0i64, 0i64);
    match count {
        Some(count) => {
            let d = out.deferred_array();
            let mut n = 0;
            l.scan(from_head, |e| {
                if maxlen != 0 && index >= maxlen {
                    return ControlFlow::Break(());
                }
                if e == ele {
                    matches += 1;
                    if matches >= rank {
                        n += 1;
                        out.int(pos(index));
                        if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count {
                            return ControlFlow::Break(());
                        }
                    }
                }
                index += 1;
                ControlFlow::Continue(())
            });
            out.set_deferred(d, n);
        }
        None => {
            let mut found = None;
            l.scan(from_head, |e| {
                if maxlen != 0 && index >= maxlen {
                    return ControlFlow::Break(());
                }
                if e == ele {
                    matches += 1;
                    if matches >= rank {
                        found = Some(pos(index));
                        return ControlFlow::Break(());
                    }
                }
                index += 1;
                ControlFlow::Continue(())
            });
            match found {
                Some(i) => out.int(i),
                None => out.null(),
            }
        }
    }
    Ok(())
}

// ---- changes in place ----

pub fn lset(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let db = ctx.client.db;
    let l = write_list(ctx.ex, db, key, ctx.now_ms)?.ok_or(CmdError::from(err::NO_SUCH_KEY))?;
    let index = int(ctx.argv[2])?;
    let Some(i) = clamp_index(l.len(), index) else {
        return Err(err::OUT_OF_RANGE.into());
    };
    l.set(i, ctx.argv[3]);
    ctx.out().ok();
    ctx.modified(key, notify::LIST, "lset");
    Ok(())
}

pub fn linsert(ctx: &mut Ctx) -> CmdResult {
    let before = if eq(ctx.argv[2], "AFTER") {
        false
    } else if eq(ctx.argv[2], "BEFORE") {
        true
    } else {
        return Err(err::SYNTAX.into());
    };
    let (key, pivot, value) = (ctx.argv[1], ctx.argv[3], ctx.argv[4]);
    let db = ctx.client.db;
    let Some(l) = write_list(ctx.ex, db, key, ctx.now_ms)? else {
        ctx.out().int(0);
        return Ok(());
    };
    let mut at = None;
    let mut i = 0;
    l.scan(true, |e| {
        if e == pivot {
            at = Some(i);
            return ControlFlow::Break(());
        }
        i += 1;
        ControlFlow::Continue(())
    });
    let Some(at) = at else {
        ctx.out().int(-1);
        return Ok(());
    };
    l.insert(if before { at } else { at + 1 }, value);
    let len = l.len();
    ctx.modified(key, notify::LIST, "linsert");
    ctx.out().int(len as i64);
    Ok(())
}

pub fn lrem(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let toremove = int(ctx.argv[2])?;
    let db = ctx.client.db;
    let Some(l) = write_list(ctx.ex, db, key, ctx.now_ms)? else {
        ctx.out().int(0);
        return Ok(());
    };
    // LONG_MIN stays negative when negated in Redis: it removes every match from the tail.
    let limit = usize::try_from(toremove.unsigned_abs()).unwrap_or(usize::MAX);
    let removed = l.remove_matching(ctx.argv[3], limit, toremove >= 0);
    if removed > 0 {
        ctx.modified(key, notify::LIST, "lrem");
        ctx.ex.dirty += removed as u64 - 1;
    }
    delete_if_empty(ctx, key);
    ctx.out().int(removed as i64);
    Ok(())
}

pub fn ltrim(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let start = int(ctx.argv[2])?;
    let end = int(ctx.argv[3])?;
    let db = ctx.client.db;
    let Some(l) = write_list(ctx.ex, db, key, ctx.now_ms)? else {
        ctx.out().ok();
        return Ok(());
    };
    let len = l.len();
    let (ltrim, rtrim) = match clamp_range(len, start, end) {
        None => (len, 0),
        Some((first, n)) => (first, len - first - n),
    };
    l.delete_range(0, ltrim);
    let left = l.len();
    l.delete_range(left - rtrim, rtrim);
    ctx.modified(key, notify::LIST, "ltrim");
    ctx.ex.dirty = ctx.ex.dirty - 1 + (ltrim + rtrim) as u64;
    delete_if_empty(ctx, key);
    ctx.out().ok();
    Ok(())
}

pub const HANDLERS: &[(&crate::cmd::meta::CommandMeta, Handler)] = &[
    (&m::LPUSH, lpush),
    (&m::RPUSH, rpush),
    (&m::LPUSHX, lpushx),
    (&m::RPUSHX, rpushx),
    (&m::LPOP, lpop),
    (&m::RPOP, rpop),
    (&m::LLEN, llen),
    (&m::LRANGE, lrange),
    (&m::LINDEX, lindex),
    (&m::LSET, lset),
    (&m::LINSERT, linsert),
    (&m::LREM, lrem),
    (&m::LTRIM, ltrim),
    (&m::LPOS, lpos),
    (&m::LMOVE, lmove),
    (&m::RPOPLPUSH, rpoplpush),
    (&m::LMPOP, lmpop),
    (&m::BLPOP, blpop),
    (&m::BRPOP, brpop),
    (&m::BLMOVE, blmove),
    (&m::BRPOPLPUSH, brpoplpush),
    (&m::BLMPOP, blmpop),
];
