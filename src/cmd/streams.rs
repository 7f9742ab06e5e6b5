//! The "stream" group: XADD, XRANGE, XREAD, consumer groups (XGROUP, XREADGROUP, XACK,
//! XPENDING, XCLAIM, XAUTOCLAIM) and XINFO.

use crate::cmd::args::{eq, int};
use crate::cmd::meta_gen as m;
use crate::cmd::table::Handler;
use crate::config::notify;
use crate::exec::blocking::BlockKind;
use crate::exec::{Client, Ctx, Executor};
use crate::keyspace::db::NO_EXPIRE;
use crate::keyspace::types::stream::{
    Entry, Group, Nack, RefStrategy, Stream, StreamId, Trim, Trimmed, ENTRIES_READ_INVALID,
};
use crate::keyspace::value::Value;
use crate::resp::errors::{self as err, CmdError, CmdResult};
use crate::resp::reply::ReplyBuf;
use crate::util::num::parse_i64;

// ---- IDs ----

/// Redis's string2ull: string2ll for non-negative values, else strtoull's rules.
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = parse_i64(s) {
        return (v >= 0).then_some(v as u64);
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    if i >= s.len() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in &s[i..] {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Redis's streamGenericParseIDOrReply. `seq_star`: accept "ms-*" (returns seq_given false).
fn parse_id_ext(
    arg: &[u8],
    strict: bool,
    missing_seq: u64,
    seq_star: bool,
) -> Result<(StreamId, bool), CmdError> {
    if arg.len() > 127 {
        return Err(err::STREAM_INVALID_ID.into());
    }
    // Redis works on a C string: stop at an embedded NUL.
    let arg = match arg.iter().position(|&c| c == 0) {
        Some(p) => &arg[..p],
        None => arg,
    };
    if strict && (arg == b"-" || arg == b"+") {
        return Err(err::STREAM_INVALID_ID.into());
    }
    if arg == b"-" {
        return Ok((StreamId::MIN, true));
    }
    if arg == b"+" {
        return Ok((StreamId::MAX, true));
    }
    let (ms_part, seq_part) = match arg.iter().position(|&c| c == b'-') {
        Some(p) => (&arg[..p], Some(&arg[p + 1..])),
        None => (arg, None),
    };
    let ms = string2ull(ms_part).ok_or_else(|| CmdError::from(err::STREAM_INVALID_ID))?;
    match seq_part {
        Some(b"*") if seq_star => Ok((StreamId::new(ms, 0), false)),
        Some(sp) => {
            let seq = string2ull(sp).ok_or_else(|| CmdError::from(err::STREAM_INVALID_ID))?;
            Ok((StreamId::new(ms, seq), true))
        }
        None => Ok((StreamId::new(ms, missing_seq), true)),
    }
}

fn parse_strict_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    parse_id_ext(arg, true, missing_seq, false).map(|r| r.0)
}

fn parse_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    parse_id_ext(arg, false, missing_seq, false).map(|r| r.0)
}

/// Redis's streamParseIntervalIDOrReply: "(" makes the bound exclusive.
fn parse_interval_id(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    if arg.len() > 1 && arg[0] == b'(' {
        Ok((parse_strict_id(&arg[1..], missing_seq)?, true))
    } else {
        Ok((parse_id(arg, missing_seq)?, false))
    }
}

/// Start and end of a range with their exclusive forms resolved.
fn parse_range(start: &[u8], end: &[u8]) -> Result<(StreamId, StreamId), CmdError> {
    let (mut s, sx) = parse_interval_id(start, 0)?;
    if sx {
        s = s
            .incr()
            .ok_or_else(|| CmdError::from(err::STREAM_INVALID_START))?;
    }
    let (mut e, ex) = parse_interval_id(end, u64::MAX)?;
    if ex {
        e = e
            .decr()
            .ok_or_else(|| CmdError::from(err::STREAM_INVALID_END))?;
    }
    Ok((s, e))
}

// ---- replies ----

fn reply_id(out: &mut ReplyBuf, id: StreamId) {
    let mut b = Vec::with_capacity(42);
    id.write(&mut b);
    out.bulk(&b);
}

fn reply_entry(out: &mut ReplyBuf, e: &Entry) {
    out.array(2);
    reply_id_and_fields(out, e);
}

/// An entry's ID and its fields, the start of each entry's reply.
fn reply_id_and_fields(out: &mut ReplyBuf, e: &Entry) {
    reply_id(out, e.id);
    out.array(e.len() * 2);
    e.for_each(|f, v| {
        out.bulk(f);
        out.bulk(v);
    });
}

/// Replies with the entries in [start, end] (at most `count`, 0 = all); returns how many.
fn reply_range(
    out: &mut ReplyBuf,
    s: &Stream,
    start: StreamId,
    end: StreamId,
    count: usize,
    rev: bool,
) -> usize {
    let d = out.deferred_array();
    let mut n = 0;
    s.for_each_in(start, end, rev, |e| {
        reply_entry(out, &e);
        n += 1;
        count == 0 || n < count
    });
    out.set_deferred(d, n);
    n
}

/// The single entry `id` as [id, fields], or a null when it is gone.
fn reply_one_or_null(out: &mut ReplyBuf, s: &Stream, id: StreamId) {
    match s.get(id) {
        Some(e) => reply_entry(out, &e),
        None => out.null(),
    }
}

// ---- lookups ----

/// The stream at `key`, without lookup side effects.
fn peek_stream<'a>(ex: &'a Executor, db: usize, key: &[u8]) -> Option<&'a Stream> {
    match ex.dbs[db].peek(key).map(|e| &e.value) {
        Some(Value::Stream(s)) => Some(s),
        _ => None,
    }
}

fn as_stream(v: &mut Value) -> Result<&mut Stream, CmdError> {
    match v {
        Value::Stream(s) => Ok(s),
        _ => Err(err::WRONGTYPE.into()),
    }
}

/// The stream at `key` for reading (lookupKeyRead); WRONGTYPE for other types.
fn read_stream<'a>(
    ex: &'a mut Executor,
    client: &Client,
    key: &[u8],
    now_ms: i64,
) -> Result<Option<&'a mut Stream>, CmdError> {
    let touch = !client.has(crate::exec::client::flags::NO_TOUCH);
    match ex.lookup_read(client.db, key, now_ms, touch) {
        Some(e) => as_stream(&mut e.value).map(Some),
        None => Ok(None),
    }
}

/// The stream at `key` for writing (lookupKeyWrite); WRONGTYPE for other types.
fn write_stream<'a>(
    ex: &'a mut Executor,
    db: usize,
    key: &[u8],
    now_ms: i64,
) -> Result<Option<&'a mut Stream>, CmdError> {
    match ex.lookup_write(db, key, now_ms) {
        Some(e) => as_stream(&mut e.value).map(Some),
        None => Ok(None),
    }
}

// ---- XADD / XTRIM ----

struct AddTrimArgs {
    trim: Trim,
    approx: bool,
    limit: i64,
    nomkstream: bool,
    id: Option<(StreamId, bool)>,
    /// Index of the ID argument (XADD).
    idpos: usize,
    /// Index of the `~` of an approximate trim.
    approx_idx: usize,
    /// KEEPREF | DELREF | ACKED (Redis 8.2), at most once.
    refs: Option<RefStrategy>,
}

/// Redis 8.2's KEEPREF | DELREF | ACKED.
fn ref_strategy(arg: &[u8]) -> Option<RefStrategy> {
    [
        ("KEEPREF", RefStrategy::KeepRef),
        ("DELREF", RefStrategy::DelRef),
        ("ACKED", RefStrategy::Acked),
    ]
    .into_iter()
    .find(|(name, _)| eq(arg, name))
    .map(|(_, r)| r)
}

/// Redis's streamParseAddOrTrimArgsOrReply. `obey`: the command comes from the AOF (later a
/// master), whose trim was rewritten to the exact outcome: LIMIT is not enforced.
fn parse_add_trim(
    argv: &[&[u8]],
    xadd: bool,
    node_max_entries: i64,
    obey: bool,
) -> Result<AddTrimArgs, CmdError> {
    let mut a = AddTrimArgs {
        trim: Trim::None,
        approx: false,
        limit: -1,
        nomkstream: false,
        id: None,
        idpos: argv.len(),
        approx_idx: 0,
        refs: None,
    };
    let mut limit_given = false;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = argv[i];
        if xadd && opt == b"*" {
            break;
        } else if eq(opt, "maxlen") && more > 0 {
            if a.trim != Trim::None {
                return Err(err::STREAM_MAXLEN_MINID.into());
            }
            a.approx = false;
            let next = argv[i + 1];
            if more >= 2 && next == b"~" {
                a.approx = true;
                a.approx_idx = i + 1;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let v = int(argv[i + 1])?;
            if v < 0 {
                return Err(err::STREAM_MAXLEN_NEGATIVE.into());
            }
            i += 1;
            a.trim = Trim::MaxLen(v as u64);
        } else if eq(opt, "minid") && more > 0 {
            if a.trim != Trim::None {
                return Err(err::STREAM_MAXLEN_MINID.into());
            }
            a.approx = false;
            let next = argv[i + 1];
            if more >= 2 && next == b"~" {
                a.approx = true;
                a.approx_idx = i + 1;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let id = parse_strict_id(argv[i + 1], 0)?;
            i += 1;
            a.trim = Trim::MinId(id);
        } else if eq(opt, "limit") && more > 0 {
            let v = int(argv[i + 1])?;
            if v < 0 {
                return Err(err::STREAM_LIMIT_NEGATIVE.into());
            }
            a.limit = v;
            limit_given = true;
            i += 1;
        } else if xadd && eq(opt, "nomkstream") {
            a.nomkstream = true;
        } else if let Some(r) = ref_strategy(opt).filter(|_| a.refs.is_none()) {
            // A second one is XADD's ID (an invalid one) or XTRIM's syntax error.
            a.refs = Some(r);
        } else if xadd {
            a.id = Some(parse_id_ext(opt, true, 0, true)?);
            break;
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 1;
    }
    a.idpos = i;
    if a.limit > 0 && a.trim == Trim::None {
        return Err(err::STREAM_LIMIT_NO_STRATEGY.into());
    }
    if !xadd && a.trim == Trim::None {
        return Err(err::STREAM_XTRIM_NO_STRATEGY.into());
    }
    if obey {
        a.limit = 0;
    } else if limit_given {
        if !a.approx {
            return Err(err::STREAM_LIMIT_NO_APPROX.into());
        }
    } else if a.approx {
        a.limit = 100i64.saturating_mul(node_max_entries);
        if a.limit <= 0 || a.limit > 1_000_000 {
            a.limit = 10_000;
        }
    } else {
        a.limit = 0;
    }
    Ok(a)
}

/// An approximate trim propagates as the exact trim it did (Redis's
/// streamRewriteApproxSpecifier and streamRewriteTrimArgument).
/// The threshold the trim reached, None when it was exact already. Under DELREF and ACKED a
/// MINID trim goes up to just past the last entry it removed: ACKED skips entries still
/// needed and trims past them, which a threshold at the first entry left would not repeat.
fn exact_trim_threshold(a: &AddTrimArgs, s: &Stream, trimmed: Trimmed) -> Option<Vec<u8>> {
    a.approx
        .then(|| match (a.trim, a.refs.unwrap_or_default()) {
            (Trim::MaxLen(_), _) => itoa::Buffer::new().format(s.len()).as_bytes().to_vec(),
            (_, RefStrategy::KeepRef) => s.edge_id(true).to_bytes(),
            _ => trimmed
                .last
                .and_then(StreamId::incr)
                .unwrap_or(StreamId::MIN)
                .to_bytes(),
        })
}

/// Propagates `argv` with its trim made exact (`=` and the reached threshold) and, when
/// given, the ID actually added; the field values are borrowed, not copied.
fn propagate_exact(ctx: &mut Ctx, a: &AddTrimArgs, threshold: Option<&[u8]>, id: Option<&[u8]>) {
    let mut args: Vec<&[u8]> = ctx.argv.to_vec();
    if let Some(t) = threshold {
        args[a.approx_idx] = b"=";
        args[a.approx_idx + 1] = t;
    }
    if let Some(id) = id {
        args[a.idpos] = id;
    }
    ctx.propagate_as(&args);
}

pub fn xadd(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let key = argv[1];
    let obey = ctx.client.has(crate::exec::client::flags::OBEY);
    let a = parse_add_trim(argv, true, ctx.ex.settings.stream_node_max_entries, obey)?;
    let field_pos = a.idpos + 1;
    let nf = argv.len().saturating_sub(field_pos);
    if nf < 2 || nf % 2 == 1 {
        return Err(err::wrong_arity("xadd"));
    }
    if let Some((id, true)) = a.id {
        if id.is_zero() {
            return Err(err::STREAM_ID_ZERO.into());
        }
    }
    let db = ctx.client.db;
    let now = ctx.now_ms;
    if write_stream(ctx.ex, db, key, now)?.is_none() {
        if a.nomkstream {
            ctx.out().null();
            return Ok(());
        }
        let lru = ctx.new_lru();
        ctx.ex.dbs[db].insert(key, Value::Stream(Box::default()), NO_EXPIRE, lru);
    }
    let (max_entries, max_bytes) = (
        ctx.ex.settings.stream_node_max_entries,
        ctx.ex.settings.stream_node_max_bytes,
    );
    let propagating = ctx.propagating();
    let s = write_stream(ctx.ex, db, key, now)?.expect("stream");
    if s.last_id == StreamId::MAX {
        return Err(err::STREAM_EXHAUSTED.into());
    }
    let id = match a.id {
        None => {
            let ms = now.max(0) as u64;
            if ms > s.last_id.ms {
                StreamId::new(ms, 0)
            } else {
                s.last_id.incr().expect("not max")
            }
        }
        Some((id, true)) => id,
        Some((id, false)) => {
            if s.last_id.ms == id.ms {
                if s.last_id.seq == u64::MAX {
                    // Redis 7.0 reports this one with a stale errno.
                    return Err(err::STREAM_TOO_LARGE.into());
                }
                StreamId::new(id.ms, s.last_id.seq + 1)
            } else {
                id
            }
        }
    };
    if id <= s.last_id {
        return Err(err::STREAM_ID_SMALL.into());
    }
    let total: usize = argv[field_pos..].iter().map(|x| x.len()).sum();
    if total > (1usize << 30) {
        return Err(err::STREAM_TOO_LARGE.into());
    }
    s.append(id, &argv[field_pos..], max_entries, max_bytes);
    let trimmed = s.trim(a.trim, a.approx, a.limit, a.refs.unwrap_or_default());
    // Replay must add this very ID and trim exactly as much as this run did.
    if propagating {
        let threshold = exact_trim_threshold(&a, s, trimmed);
        let explicit = (!matches!(a.id, Some((_, true)))).then(|| id.to_bytes());
        propagate_exact(ctx, &a, threshold.as_deref(), explicit.as_deref());
    }
    reply_id(&mut ctx.client.out, id);
    ctx.modified(key, notify::STREAM, "xadd");
    if trimmed.count > 0 {
        ctx.notify(notify::STREAM, "xtrim", key);
    }
    ctx.ex.signal_ready(db, key);
    Ok(())
}

pub fn xtrim(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let obey = ctx.client.has(crate::exec::client::flags::OBEY);
    let a = parse_add_trim(
        ctx.argv,
        false,
        ctx.ex.settings.stream_node_max_entries,
        obey,
    )?;
    let db = ctx.client.db;
    let propagating = ctx.propagating();
    let Some(s) = write_stream(ctx.ex, db, key, ctx.now_ms)? else {
        ctx.out().int(0);
        return Ok(());
    };
    let trimmed = s.trim(a.trim, a.approx, a.limit, a.refs.unwrap_or_default());
    let n = trimmed.count;
    let threshold = exact_trim_threshold(&a, s, trimmed);
    if propagating && threshold.is_some() {
        propagate_exact(ctx, &a, threshold.as_deref(), None);
    }
    if n > 0 {
        ctx.notify(notify::STREAM, "xtrim", key);
        ctx.ex.signal_modified(db, key);
        ctx.ex.dirty += n;
    }
    ctx.out().int(n as i64);
    Ok(())
}

pub fn xdel(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let db = ctx.client.db;
    let Some(_) = write_stream(ctx.ex, db, key, ctx.now_ms)? else {
        ctx.out().int(0);
        return Ok(());
    };
    let ids = parse_ids(&ctx.argv[2..])?;
    let s = write_stream(ctx.ex, db, key, ctx.now_ms)?.expect("stream");
    let deleted = ids.into_iter().filter(|id| s.delete_entry(*id)).count() as u64;
    if deleted > 0 {
        ctx.modified(key, notify::STREAM, "xdel");
        ctx.ex.dirty += deleted - 1;
    }
    ctx.out().int(deleted as i64);
    Ok(())
}

/// Entry IDs, all valid or an error before anything changes.
fn parse_ids(args: &[&[u8]]) -> Result<Vec<StreamId>, CmdError> {
    args.iter().map(|a| parse_strict_id(a, 0)).collect()
}

/// Per-ID answers of XDELEX and XACKDEL.
const NO_ID: i64 = -1;
const DELETED: i64 = 1;
const STILL_REFERENCED: i64 = 2;

/// XDELEX's and XACKDEL's options after `start`: at most one of KEEPREF | DELREF | ACKED and
/// the `IDS numids id...` block, in any order (Redis's streamParseAckDelArgsOrReply). The
/// IDs themselves are parsed later, only if the key (and group) exist.
fn parse_ackdel(
    argv: &[&[u8]],
    start: usize,
) -> Result<(RefStrategy, std::ops::Range<usize>), CmdError> {
    let mut refs = None;
    let mut ids = None;
    let mut j = start;
    while j < argv.len() {
        if let Some(r) = ref_strategy(argv[j]).filter(|_| refs.is_none()) {
            refs = Some(r);
            j += 1;
        } else if eq(argv[j], "IDS") && j + 1 < argv.len() {
            let n = parse_i64(argv[j + 1])
                .filter(|n| *n >= 1)
                .ok_or(err::NUMIDS_POSITIVE)? as u64;
            let first = j + 2;
            if n > (argv.len() - first) as u64 {
                return Err(err::NUMIDS_MISMATCH.into());
            }
            ids = Some(first..first + n as usize);
            j = first + n as usize;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let ids = ids.ok_or(err::IDS_REQUIRED)?;
    Ok((refs.unwrap_or_default(), ids))
}

fn reply_codes(out: &mut ReplyBuf, codes: &[i64]) {
    out.array(codes.len());
    for c in codes {
        out.int(*c);
    }
}

/// XDELEX key [KEEPREF | DELREF | ACKED] IDS numids id... (Redis 8.2): per ID 1 deleted, -1
/// not there, 2 kept because a group still needs it (ACKED). DELREF also drops the ID from
/// every group's pending entries, even when the entry is gone.
pub fn xdelex(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let key = argv[1];
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let exists = write_stream(ctx.ex, db, key, now)?.is_some();
    let (refs, range) = parse_ackdel(argv, 2)?;
    if !exists {
        reply_codes(&mut ctx.client.out, &vec![NO_ID; range.len()]);
        return Ok(());
    }
    let ids = parse_ids(&argv[range])?;
    let s = write_stream(ctx.ex, db, key, now)?.expect("stream");
    let (mut deleted, mut changed) = (0u64, 0u64);
    let codes: Vec<i64> = ids
        .iter()
        .map(|&id| {
            let mut dropped = false;
            match refs {
                RefStrategy::Acked if s.is_referenced(id) => return STILL_REFERENCED,
                RefStrategy::DelRef => dropped = s.drop_refs(id),
                _ => {}
            }
            let code = if s.delete_entry(id) {
                deleted += 1;
                DELETED
            } else {
                NO_ID
            };
            // References dropped change the stream too (redis/redis#15569).
            if dropped || code == DELETED {
                changed += 1;
            }
            code
        })
        .collect();
    reply_codes(&mut ctx.client.out, &codes);
    if deleted > 0 {
        ctx.modified(key, notify::STREAM, "xdel");
        ctx.ex.dirty += changed - 1;
    } else if changed > 0 {
        ctx.ex.signal_modified(db, key);
        ctx.ex.dirty += changed;
    }
    Ok(())
}

/// XACKDEL key group [KEEPREF | DELREF | ACKED] IDS numids id... (Redis 8.2): acknowledges
/// each ID pending in the group, then deletes the entry unless (ACKED) another group still
/// needs it: 1 acknowledged and deleted (or already gone), 2 acknowledged and kept, -1 not
/// pending in the group. A missing key or group answers -1 for each ID.
pub fn xackdel(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let (key, gname) = (argv[1], argv[2]);
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let has_group =
        read_stream(ctx.ex, ctx.client, key, now)?.map(|s| s.groups.contains_key(gname));
    let (refs, range) = parse_ackdel(argv, 3)?;
    if has_group != Some(true) {
        reply_codes(&mut ctx.client.out, &vec![NO_ID; range.len()]);
        return Ok(());
    }
    let ids = parse_ids(&argv[range])?;
    let Some(Value::Stream(s)) = ctx.ex.dbs[db].peek_mut(key).map(|e| &mut e.value) else {
        return Ok(());
    };
    let (mut acked, mut deleted) = (0u64, 0u64);
    let codes: Vec<i64> = ids
        .iter()
        .map(|&id| {
            if !s.groups.get_mut(gname).is_some_and(|g| g.ack(id)) {
                return NO_ID;
            }
            acked += 1;
            match refs {
                RefStrategy::Acked if s.is_referenced(id) => return STILL_REFERENCED,
                RefStrategy::DelRef => {
                    s.drop_refs(id);
                }
                _ => {}
            }
            deleted += u64::from(s.delete_entry(id));
            DELETED
        })
        .collect();
    reply_codes(&mut ctx.client.out, &codes);
    if deleted > 0 {
        ctx.modified(key, notify::STREAM, "xdel");
        ctx.ex.dirty += acked - 1;
    } else {
        ctx.ex.dirty += acked;
    }
    Ok(())
}

pub fn xlen(ctx: &mut Ctx) -> CmdResult {
    let n = read_stream(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)?.map_or(0, |s| s.len());
    ctx.out().int(n as i64);
    Ok(())
}

fn range_generic(ctx: &mut Ctx, rev: bool) -> CmdResult {
    let argv = ctx.argv;
    let (sa, ea) = if rev {
        (argv[3], argv[2])
    } else {
        (argv[2], argv[3])
    };
    let (start, end) = parse_range(sa, ea)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        if eq(argv[j], "count") && j + 1 < argv.len() {
            count = int(argv[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let Some(s) = read_stream(ctx.ex, ctx.client, argv[1], ctx.now_ms)? else {
        ctx.client.out.array(0);
        return Ok(());
    };
    let out = &mut ctx.client.out;
    if count == 0 {
        out.null_array();
    } else {
        reply_range(out, s, start, end, count.max(0) as usize, rev);
    }
    Ok(())
}

pub fn xrange(ctx: &mut Ctx) -> CmdResult {
    range_generic(ctx, false)
}

pub fn xrevrange(ctx: &mut Ctx) -> CmdResult {
    range_generic(ctx, true)
}

pub fn xsetid(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let key = argv[1];
    let id = parse_strict_id(argv[2], 0)?;
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        if eq(argv[i], "entriesadded") && more > 0 {
            entries_added = int(argv[i + 1])?;
            if entries_added < 0 {
                return Err(err::STREAM_ENTRIES_ADDED_NEGATIVE.into());
            }
            i += 2;
        } else if eq(argv[i], "maxdeletedid") && more > 0 {
            max_xdel = parse_strict_id(argv[i + 1], 0)?;
            if id < max_xdel {
                return Err(err::STREAM_SETID_SMALLER_THAN_MAXDEL_ARG.into());
            }
            i += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let db = ctx.client.db;
    let Some(s) = write_stream(ctx.ex, db, key, ctx.now_ms)? else {
        return Err(err::NO_SUCH_KEY.into());
    };
    if s.length > 0 {
        if id < s.last_valid_id() {
            return Err(err::STREAM_SETID_SMALL.into());
        }
        if entries_added != -1 && s.length > entries_added as u64 {
            return Err(err::STREAM_SETID_ENTRIES_ADDED_SMALL.into());
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_xdel.is_zero() {
        s.max_deleted_id = max_xdel;
    }
    ctx.out().ok();
    ctx.modified(key, notify::STREAM, "xsetid");
    Ok(())
}

// ---- XREAD / XREADGROUP ----

/// Appends the entries after `after` to the reply, delivering them to `group`/`consumer`
/// when given (Redis's streamReplyWithRange with a group). Returns how many.
#[allow(clippy::too_many_arguments)]
fn reply_new_entries(
    out: &mut ReplyBuf,
    s: &mut Stream,
    after: StreamId,
    count: usize,
    group: Option<(&[u8], &[u8])>,
    noack: bool,
    now_ms: i64,
) -> Vec<StreamId> {
    let Some(start) = after.incr() else {
        out.array(0);
        return Vec::new();
    };
    let Some((gname, cname)) = group else {
        reply_range(out, s, start, StreamId::MAX, count, false);
        return Vec::new();
    };
    // Collect first: the group bookkeeping needs the stream mutably.
    let d = out.deferred_array();
    let ids = write_entries_after(out, s, start, count, false);
    out.set_deferred(d, ids.len());
    deliver(s, &ids, gname, cname, noack, now_ms);
    ids
}

/// Writes the entries from `start` (at most `count`, 0 = all) as XREADGROUP replies them,
/// with CLAIM's idle time and delivery count (0, 0 for a new entry) when `with_meta`.
fn write_entries_after(
    out: &mut ReplyBuf,
    s: &Stream,
    start: StreamId,
    count: usize,
    with_meta: bool,
) -> Vec<StreamId> {
    let mut ids = Vec::new();
    s.for_each_in(start, StreamId::MAX, false, |e| {
        if with_meta {
            reply_entry_with_meta(out, &e, 0, 0);
        } else {
            reply_entry(out, &e);
        }
        ids.push(e.id);
        count == 0 || ids.len() < count
    });
    ids
}

/// An entry with CLAIM's idle time and delivery count: [id, fields, idle, count].
fn reply_entry_with_meta(out: &mut ReplyBuf, e: &Entry, idle: i64, delivered: u64) {
    out.array(4);
    reply_id_and_fields(out, e);
    out.int(idle);
    out.int(delivered.min(i64::MAX as u64) as i64);
}

/// The group bookkeeping of delivering new entries `ids` to `cname`: the group's last ID
/// and entries-read move on, and (unless NOACK) each becomes pending for the consumer.
fn deliver(s: &mut Stream, ids: &[StreamId], gname: &[u8], cname: &[u8], noack: bool, now_ms: i64) {
    for &id in ids {
        let tomb = s.range_has_tombstones(id);
        let est = if s.entries_added > 0 {
            Some(s.estimate_distance(id))
        } else {
            None
        };
        let g = s.groups.get_mut(gname).expect("group");
        if id > g.last_id {
            if g.entries_read != ENTRIES_READ_INVALID && !tomb {
                g.entries_read = g.entries_read.wrapping_add(1);
            } else if let Some(e) = est {
                g.entries_read = e;
            }
            g.last_id = id;
        }
        if !noack {
            match g.pel.get_mut(&id) {
                Some(n) => {
                    n.delivery_time = now_ms;
                    n.delivery_count = 1;
                }
                None => {
                    g.pel.insert(
                        id,
                        Nack {
                            delivery_time: now_ms,
                            delivery_count: 1,
                            consumer: cname.to_vec(),
                        },
                    );
                }
            }
            g.assign(id, cname);
        }
    }
}

/// The group's pending entries idle for at least `min_idle` whose entries are still in the
/// stream, longest idle first (Redis walks its PEL by delivery time): (id, idle, count).
fn claimable(s: &Stream, gname: &[u8], min_idle: i64, now_ms: i64) -> Vec<(StreamId, i64, u64)> {
    let mut due: Vec<(i64, StreamId, u64)> = s.groups[gname]
        .pel
        .iter()
        .filter(|(id, n)| now_ms.saturating_sub(n.delivery_time) >= min_idle && s.contains(**id))
        .map(|(id, n)| (n.delivery_time, *id, n.delivery_count))
        .collect();
    due.sort_unstable();
    due.into_iter()
        .map(|(t, id, count)| (id, now_ms.saturating_sub(t), count))
        .collect()
}

/// XREADGROUP ... CLAIM on a stream read with ">" (Redis 8.4): first the pending entries idle
/// for at least `min_idle`, claimed by `cname` (delivery count up, delivery time now), then
/// new entries, within one COUNT; every entry with its idle time and delivery count (the
/// count before this delivery; 0, 0 for new ones). NOACK applies to the new entries only.
/// Returns the IDs delivered.
#[allow(clippy::too_many_arguments)]
fn reply_claiming(
    out: &mut ReplyBuf,
    s: &mut Stream,
    gname: &[u8],
    cname: &[u8],
    min_idle: i64,
    count: usize,
    noack: bool,
    now_ms: i64,
) -> Vec<StreamId> {
    let mut claimed = claimable(s, gname, min_idle, now_ms);
    if count > 0 {
        claimed.truncate(count);
    }
    let d = out.deferred_array();
    for &(id, idle, delivered) in &claimed {
        if let Some(e) = s.get(id) {
            reply_entry_with_meta(out, &e, idle, delivered);
        }
    }
    let room = if count == 0 { 0 } else { count - claimed.len() };
    let last = s.groups[gname].last_id;
    let new = match last.incr() {
        Some(start) if count == 0 || room > 0 => write_entries_after(out, s, start, room, true),
        _ => Vec::new(),
    };
    out.set_deferred(d, claimed.len() + new.len());
    let g = s.groups.get_mut(gname).expect("group");
    for &(id, _, _) in &claimed {
        if let Some(n) = g.pel.get_mut(&id) {
            n.delivery_count = n.delivery_count.saturating_add(1);
            n.delivery_time = now_ms;
        }
        g.assign(id, cname);
    }
    deliver(s, &new, gname, cname, noack, now_ms);
    claimed.iter().map(|c| c.0).chain(new).collect()
}

/// When a blocked XREADGROUP ... CLAIM should look again: when the earliest pending entry
/// still in the stream gets idle enough (now + `min_idle` with none).
fn claim_wake_ms(s: Option<&Stream>, gname: &[u8], min_idle: i64, now_ms: i64) -> i64 {
    let earliest = s
        .and_then(|s| s.groups.get(gname).map(|g| (s, g)))
        .and_then(|(s, g)| {
            g.pel
                .iter()
                .filter(|(id, _)| s.contains(**id))
                .map(|(_, n)| n.delivery_time)
                .min()
        })
        .unwrap_or(now_ms);
    earliest.saturating_add(min_idle).max(now_ms + 1)
}

/// XREADGROUP with an explicit ID: the consumer's own pending entries after `after`.
fn reply_consumer_history(
    out: &mut ReplyBuf,
    s: &mut Stream,
    gname: &[u8],
    cname: &[u8],
    after: StreamId,
    count: usize,
    now_ms: i64,
) -> Vec<StreamId> {
    let Some(start) = after.incr() else {
        out.array(0);
        return Vec::new();
    };
    let ids: Vec<StreamId> = {
        let g = &s.groups[gname];
        let c = &g.consumers[cname];
        c.pel
            .range(start..)
            .take(if count == 0 { usize::MAX } else { count })
            .copied()
            .collect()
    };
    out.array(ids.len());
    let mut delivered = Vec::with_capacity(ids.len());
    for id in ids {
        match s.get(id) {
            Some(e) => {
                reply_entry(out, &e);
                if let Some(n) = s.groups.get_mut(gname).and_then(|g| g.pel.get_mut(&id)) {
                    n.delivery_time = now_ms;
                    n.delivery_count += 1;
                }
                delivered.push(id);
            }
            None => {
                out.array(2);
                reply_id(out, id);
                out.null_array();
            }
        }
    }
    delivered
}

/// Deliveries to a consumer propagate as the XCLAIMs that recreate their pending entries
/// (Redis's streamPropagateXCLAIM).
fn claim_commands(
    ops: &mut Vec<Vec<Vec<u8>>>,
    key: &[u8],
    gname: &[u8],
    s: &Stream,
    ids: &[StreamId],
) {
    let Some(g) = s.groups.get(gname) else {
        return;
    };
    for &id in ids {
        if let Some(n) = g.pel.get(&id) {
            ops.push(claim_command(key, gname, id, n, g.last_id));
        }
    }
}

/// One pending entry as the XCLAIM that recreates it.
fn claim_command(
    key: &[u8],
    gname: &[u8],
    id: StreamId,
    n: &Nack,
    last_id: StreamId,
) -> Vec<Vec<u8>> {
    let (idb, last) = (id.to_bytes(), last_id.to_bytes());
    let time = itoa::Buffer::new()
        .format(n.delivery_time)
        .as_bytes()
        .to_vec();
    let count = itoa::Buffer::new()
        .format(n.delivery_count)
        .as_bytes()
        .to_vec();
    let args: [&[u8]; 14] = [
        b"XCLAIM",
        key,
        gname,
        &n.consumer,
        b"0",
        &idb,
        b"TIME",
        &time,
        b"RETRYCOUNT",
        &count,
        b"FORCE",
        b"JUSTID",
        b"LASTID",
        &last,
    ];
    args.iter().map(|a| a.to_vec()).collect()
}

/// A group's last-delivered ID propagates as XGROUP SETID (Redis's streamPropagateGroupID).
fn group_id_command(key: &[u8], gname: &[u8], g: &Group) -> Vec<Vec<u8>> {
    let last = g.last_id.to_bytes();
    let read = itoa::Buffer::new()
        .format(g.entries_read)
        .as_bytes()
        .to_vec();
    let args: [&[u8]; 7] = [
        b"XGROUP",
        b"SETID",
        key,
        gname,
        &last,
        b"ENTRIESREAD",
        &read,
    ];
    args.iter().map(|a| a.to_vec()).collect()
}

/// Sends commands collected while a stream was borrowed.
fn also_propagate_all(ctx: &mut Ctx, ops: &mut Vec<Vec<Vec<u8>>>) {
    for op in ops.drain(..) {
        ctx.ex
            .prop
            .also(ctx.client.db, op.iter().map(Vec::as_slice));
    }
}

fn xread_generic(ctx: &mut Ctx, xreadgroup: bool) -> CmdResult {
    let argv = ctx.argv;
    let mut timeout: Option<i64> = None;
    let mut count: i64 = 0;
    let mut streams_arg = 0;
    let mut group: Option<(&[u8], &[u8])> = None;
    let mut noack = false;
    let mut claim: Option<i64> = None;
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let o = argv[i];
        if eq(o, "block") && more > 0 {
            // There is no sense in blocking a script; Redis refuses it before anything else.
            if ctx.client.has(crate::exec::client::flags::SCRIPT) {
                return Err(err::block_from_script(argv[0]));
            }
            i += 1;
            timeout = Some(crate::exec::blocking::parse_timeout_ms(
                argv[i], ctx.now_ms,
            )?);
        } else if eq(o, "count") && more > 0 {
            i += 1;
            count = int(argv[i])?.max(0);
        } else if eq(o, "streams") && more > 0 {
            streams_arg = i + 1;
            if (argv.len() - streams_arg) % 2 != 0 {
                return Err(err::stream_unbalanced(if xreadgroup {
                    "XREADGROUP"
                } else {
                    "XREAD"
                }));
            }
            break;
        } else if eq(o, "group") && more >= 2 {
            if !xreadgroup {
                return Err(err::STREAM_GROUP_XREAD.into());
            }
            group = Some((argv[i + 1], argv[i + 2]));
            i += 2;
        } else if eq(o, "noack") {
            if !xreadgroup {
                return Err(err::STREAM_NOACK_XREAD.into());
            }
            noack = true;
        } else if eq(o, "claim") && more > 0 {
            if !xreadgroup {
                return Err(err::STREAM_CLAIM_XREAD.into());
            }
            i += 1;
            let v = parse_i64(argv[i]).ok_or(err::MIN_IDLE_NOT_INTEGER)?;
            if v < 0 {
                return Err(err::MIN_IDLE_NEGATIVE.into());
            }
            claim = Some(v);
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 1;
    }
    if streams_arg == 0 {
        return Err(err::SYNTAX.into());
    }
    if xreadgroup && group.is_none() {
        return Err(err::STREAM_MISSING_GROUP.into());
    }
    let nkeys = (argv.len() - streams_arg) / 2;
    let mut keys = &argv[streams_arg..streams_arg + nkeys];
    let mut id_args = &argv[streams_arg + nkeys..];
    // Woken by one key: Redis serves that key alone.
    if let Some(rk) = ctx.ready_key {
        if let Some(j) = keys.iter().position(|k| *k == rk) {
            keys = &keys[j..j + 1];
            id_args = &id_args[j..j + 1];
        }
    }
    let now = ctx.now_ms;
    let retry = ctx.retry;
    // Resolve the IDs (None = ">").
    let mut ids: Vec<Option<StreamId>> = Vec::with_capacity(nkeys);
    let mut dollar = false;
    for (k, ida) in keys.iter().zip(id_args) {
        // Woken because the key changed type: XREADGROUP fails, XREAD waits on.
        let s = match read_stream(ctx.ex, ctx.client, k, now) {
            Err(_) if retry && group.is_some() => return Err(err::STREAM_UNBLOCKED_KEY_GONE.into()),
            Err(_) if retry => None,
            other => other?,
        };
        if let Some((g, _)) = group {
            let has = s.as_ref().is_some_and(|s| s.groups.contains_key(g));
            if !has {
                if retry {
                    return Err(if s.is_none() {
                        err::STREAM_UNBLOCKED_KEY_GONE.into()
                    } else {
                        err::STREAM_UNBLOCKED_GROUP_GONE.into()
                    });
                }
                return Err(err::nogroup(k, g, " in XREADGROUP with GROUP option"));
            }
        }
        if *ida == b"$" {
            if xreadgroup {
                return Err(err::STREAM_DOLLAR_XREADGROUP.into());
            }
            dollar = true;
            ids.push(Some(s.map_or(StreamId::MIN, |s| s.last_id)));
        } else if *ida == b">" {
            if !xreadgroup {
                return Err(err::STREAM_GT_XREAD.into());
            }
            ids.push(None);
        } else {
            ids.push(Some(parse_strict_id(ida, 0)?));
        }
    }
    // Serve synchronously what we can.
    let resp3 = ctx.client.out.is_resp3();
    let mut served = 0usize;
    let mut d = None;
    let mut created: Vec<&[u8]> = Vec::new();
    let propagating = ctx.propagating();
    if xreadgroup {
        ctx.prevent_propagation();
    }
    for (idx, k) in keys.iter().enumerate() {
        let db = ctx.client.db;
        let s = match read_stream(ctx.ex, ctx.client, k, now) {
            Err(_) if retry => None,
            other => other?,
        };
        let Some(s) = s else {
            continue;
        };
        let out = &mut ctx.client.out;
        let mut history = false;
        let mut after = None;
        if let Some((g, _)) = group {
            match ids[idx] {
                Some(id) => {
                    history = true;
                    after = Some(id);
                }
                None => {
                    let last = s.groups[g].last_id;
                    let has_new = s.length > 0 && s.last_valid_id() > last;
                    let can_claim = claim.is_some_and(|m| !claimable(s, g, m, now).is_empty());
                    if has_new || can_claim {
                        after = Some(last);
                    }
                }
            }
        } else if s.length > 0 {
            let id = ids[idx].expect("xread id");
            if s.last_valid_id() > id {
                after = Some(id);
            }
        }
        let Some(after) = after else {
            continue;
        };
        // The consumer appears when it is served (Redis 7.0).
        if let Some((g, c)) = group {
            let grp = s.groups.get_mut(g).expect("group");
            if grp.create_consumer(c, now) {
                created.push(k);
            } else if let Some(cons) = grp.consumers.get_mut(c) {
                cons.seen_time = now;
            }
        }
        served += 1;
        if served == 1 {
            d = Some(if resp3 {
                out.deferred_map()
            } else {
                out.deferred_array()
            });
        }
        if !resp3 {
            out.array(2);
        }
        out.bulk(k);
        let (delivered, claims) = match group {
            Some((g, c)) if history => (
                reply_consumer_history(out, s, g, c, after, count as usize, now),
                true,
            ),
            Some((g, c)) => match claim {
                Some(min_idle) => (
                    reply_claiming(out, s, g, c, min_idle, count as usize, noack, now),
                    true,
                ),
                None => (
                    reply_new_entries(out, s, after, count as usize, Some((g, c)), noack, now),
                    !noack,
                ),
            },
            None => (
                reply_new_entries(out, s, after, count as usize, None, false, now),
                false,
            ),
        };
        let mut ops = Vec::new();
        if let (Some((g, c)), true) = (group, propagating) {
            if claims {
                claim_commands(&mut ops, k, g, s, &delivered);
            }
            // XCLAIM creates the consumer on replay; without one, CREATECONSUMER does.
            if created.last() == Some(k) && ops.is_empty() {
                let args: [&[u8]; 5] = [b"XGROUP", b"CREATECONSUMER", k, g, c];
                ops.push(args.iter().map(|a| a.to_vec()).collect());
            }
            // The XCLAIMs carry the last ID (LASTID) but not the entries read, which a
            // replica or a replayed AOF then does not know, as Redis's; under NOACK, SETID
            // carries both (Redis's streamPropagateGroupID, sent only then).
            if !history && noack && !delivered.is_empty() {
                ops.push(group_id_command(k, g, &s.groups[g]));
            }
        }
        also_propagate_all(ctx, &mut ops);
        if group.is_some() {
            ctx.ex.dirty += 1;
        }
        let _ = db;
    }
    for k in created {
        ctx.ex.dirty += 1;
        ctx.notify(notify::STREAM, "xgroup-createconsumer", k);
    }
    if let Some(d) = d {
        if resp3 {
            ctx.client.out.set_deferred_map(d, served);
        } else {
            ctx.client.out.set_deferred(d, served);
        }
        return Ok(());
    }
    if let Some(deadline) = timeout {
        if !ctx.can_block() {
            ctx.client.out.null_array();
            return Ok(());
        }
        let keys_v: Vec<&[u8]> = keys.to_vec();
        // CLAIM also wakes when a pending entry gets idle enough.
        let wake = match (claim, group) {
            (Some(min_idle), Some((g, _))) => keys
                .iter()
                .map(|k| {
                    let s = peek_stream(ctx.ex, ctx.client.db, k);
                    claim_wake_ms(s, g, min_idle, now)
                })
                .min()
                .unwrap_or(0),
            _ => 0,
        };
        if dollar {
            // Remember what "$" meant now, for when the command runs again.
            let mut new_argv: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
            for (j, id) in ids.iter().enumerate() {
                if id_args[j] == b"$" {
                    new_argv[streams_arg + nkeys + j] = id.expect("xread id").to_bytes();
                }
            }
            ctx.block_with_argv(BlockKind::Stream, &keys_v, deadline, new_argv);
        } else {
            ctx.block(BlockKind::Stream, &keys_v, deadline);
        }
        ctx.wake_at(wake);
        return Ok(());
    }
    ctx.client.out.null_array();
    Ok(())
}

pub fn xread(ctx: &mut Ctx) -> CmdResult {
    xread_generic(ctx, false)
}

pub fn xreadgroup(ctx: &mut Ctx) -> CmdResult {
    xread_generic(ctx, true)
}

// ---- XGROUP ----

/// Redis's xgroupCommand prologue: the stream (or None) and the group check.
fn xgroup_stream<'a>(
    ex: &'a mut Executor,
    db: usize,
    key: &[u8],
    group: &[u8],
    now: i64,
    mkstream: bool,
    needs_group: bool,
) -> Result<Option<&'a mut Stream>, CmdError> {
    let s = write_stream(ex, db, key, now)?;
    if !mkstream {
        let Some(s) = s else {
            return Err(err::STREAM_XGROUP_NO_KEY.into());
        };
        if needs_group && !s.groups.contains_key(group) {
            return Err(err::nogroup_for_key(group, key));
        }
        return Ok(Some(s));
    }
    Ok(s)
}

pub fn xgroup_create(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let (key, gname) = (argv[2], argv[3]);
    let mut mkstream = false;
    let mut entries_read = ENTRIES_READ_INVALID;
    if argv.len() <= 8 {
        let mut i = 5;
        while i < argv.len() {
            if eq(argv[i], "mkstream") {
                mkstream = true;
                i += 1;
            } else if eq(argv[i], "entriesread") && i + 1 < argv.len() {
                entries_read = int(argv[i + 1])?;
                if entries_read < 0 && entries_read != ENTRIES_READ_INVALID {
                    return Err(err::STREAM_ENTRIES_READ.into());
                }
                i += 2;
            } else {
                return Err(err::subcommand_syntax(argv[0], argv[1]));
            }
        }
    }
    let db = ctx.client.db;
    let now = ctx.now_ms;
    let s = xgroup_stream(ctx.ex, db, key, gname, now, mkstream, false)?;
    if argv.len() > 8 {
        return Err(err::subcommand_syntax(argv[0], argv[1]));
    }
    let exists = s.is_some();
    let id = if argv[4] == b"$" {
        s.map_or(StreamId::MIN, |s| s.last_id)
    } else {
        parse_strict_id(argv[4], 0)?
    };
    if !exists {
        let lru = ctx.new_lru();
        ctx.ex.dbs[db].insert(key, Value::Stream(Box::default()), NO_EXPIRE, lru);
        ctx.ex.signal_modified(db, key);
    }
    let s = write_stream(ctx.ex, db, key, now)?.expect("stream");
    if s.groups.contains_key(gname) {
        return Err(err::STREAM_BUSYGROUP.into());
    }
    s.groups
        .insert(gname.to_vec(), Group::new(id, entries_read));
    ctx.out().ok();
    ctx.ex.dirty += 1;
    ctx.notify(notify::STREAM, "xgroup-create", key);
    Ok(())
}

pub fn xgroup_setid(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let (key, gname) = (argv[2], argv[3]);
    let db = ctx.client.db;
    let now = ctx.now_ms;
    let s = xgroup_stream(ctx.ex, db, key, gname, now, false, true)?.expect("stream");
    if argv.len() != 5 && argv.len() != 7 {
        return Err(err::subcommand_syntax(argv[0], argv[1]));
    }
    let id = if argv[4] == b"$" {
        s.last_id
    } else {
        parse_id(argv[4], 0)?
    };
    let mut entries_read = ENTRIES_READ_INVALID;
    if argv.len() == 7 {
        if !eq(argv[5], "entriesread") {
            return Err(err::subcommand_syntax(argv[0], argv[1]));
        }
        entries_read = int(argv[6])?;
        if entries_read < 0 && entries_read != ENTRIES_READ_INVALID {
            return Err(err::STREAM_ENTRIES_READ.into());
        }
    }
    let g = s.groups.get_mut(gname).expect("group");
    g.last_id = id;
    g.entries_read = entries_read;
    ctx.out().ok();
    ctx.ex.dirty += 1;
    ctx.notify(notify::STREAM, "xgroup-setid", key);
    Ok(())
}

pub fn xgroup_destroy(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let (key, gname) = (argv[2], argv[3]);
    let db = ctx.client.db;
    let s = xgroup_stream(ctx.ex, db, key, gname, ctx.now_ms, false, false)?.expect("stream");
    if s.groups.remove(gname).is_some() {
        ctx.out().int(1);
        ctx.ex.dirty += 1;
        ctx.notify(notify::STREAM, "xgroup-destroy", key);
        ctx.ex.signal_ready(db, key);
    } else {
        ctx.out().int(0);
    }
    Ok(())
}

pub fn xgroup_createconsumer(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let (key, gname) = (argv[2], argv[3]);
    let db = ctx.client.db;
    let now = ctx.now_ms;
    let s = xgroup_stream(ctx.ex, db, key, gname, now, false, true)?.expect("stream");
    let created = s
        .groups
        .get_mut(gname)
        .expect("group")
        .create_consumer(argv[4], now);
    ctx.out().int(i64::from(created));
    if created {
        ctx.ex.dirty += 1;
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    Ok(())
}

pub fn xgroup_delconsumer(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let (key, gname) = (argv[2], argv[3]);
    let db = ctx.client.db;
    let s = xgroup_stream(ctx.ex, db, key, gname, ctx.now_ms, false, true)?.expect("stream");
    let pending = s
        .groups
        .get_mut(gname)
        .expect("group")
        .delete_consumer(argv[4]);
    ctx.out().int(pending.unwrap_or(0) as i64);
    if pending.is_some() {
        ctx.ex.dirty += 1;
        ctx.notify(notify::STREAM, "xgroup-delconsumer", key);
    }
    Ok(())
}

pub fn xgroup_help(ctx: &mut Ctx) -> CmdResult {
    crate::cmd::server::introspect::help(
        ctx.out(),
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    );
    Ok(())
}

// ---- XACK / XPENDING / XCLAIM / XAUTOCLAIM ----

pub fn xack(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let (key, gname) = (argv[1], argv[2]);
    let now = ctx.now_ms;
    let has_group = match read_stream(ctx.ex, ctx.client, key, now)? {
        Some(s) => s.groups.contains_key(gname),
        None => false,
    };
    if !has_group {
        ctx.out().int(0);
        return Ok(());
    }
    let ids = argv[3..]
        .iter()
        .map(|a| parse_strict_id(a, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let db = ctx.client.db;
    let s = write_stream(ctx.ex, db, key, now)?.expect("stream");
    let g = s.groups.get_mut(gname).expect("group");
    let mut n = 0;
    for id in ids {
        if g.ack(id) {
            n += 1;
        }
    }
    ctx.ex.dirty += n as u64;
    ctx.out().int(n);
    Ok(())
}

pub fn xpending(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let (key, gname) = (argv[1], argv[2]);
    let justinfo = argv.len() == 3;
    if argv.len() != 3 && (argv.len() < 6 || argv.len() > 9) {
        return Err(err::SYNTAX.into());
    }
    let mut count = 0i64;
    let mut minidle = 0i64;
    let mut range = (StreamId::MIN, StreamId::MAX);
    let mut consumer: Option<&[u8]> = None;
    if argv.len() >= 6 {
        let mut si = 3;
        if eq(argv[3], "idle") {
            minidle = int(argv[4])?;
            if argv.len() < 8 {
                return Err(err::SYNTAX.into());
            }
            si += 2;
        }
        count = int(argv[si + 2])?.max(0);
        range = parse_range(argv[si], argv[si + 1])?;
        if si + 3 < argv.len() {
            consumer = Some(argv[si + 3]);
        }
    }
    let now = ctx.now_ms;
    let s = read_stream(ctx.ex, ctx.client, key, now)?;
    let Some(g) = s.and_then(|s| s.groups.get(gname)) else {
        return Err(err::nogroup(key, gname, ""));
    };
    let out = &mut ctx.client.out;
    if justinfo {
        out.array(4);
        out.int(g.pel.len() as i64);
        match (g.pel.first_key_value(), g.pel.last_key_value()) {
            (Some((first, _)), Some((last, _))) => {
                reply_id(out, *first);
                reply_id(out, *last);
                let with: Vec<_> = g
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .collect();
                out.array(with.len());
                for (name, c) in with {
                    out.array(2);
                    out.bulk(name);
                    out.bulk_i64(c.pel.len() as i64);
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return Ok(());
    }
    let ids: Vec<StreamId> = match consumer {
        Some(c) => match g.consumers.get(c) {
            Some(c) => c.pel.range(range.0..).copied().collect_vec_until(range.1),
            None => {
                out.array(0);
                return Ok(());
            }
        },
        None => g
            .pel
            .range(range.0..)
            .map(|(k, _)| *k)
            .collect_vec_until(range.1),
    };
    let d = out.deferred_array();
    let mut n = 0usize;
    for id in ids {
        if count == 0 {
            break;
        }
        let nack = &g.pel[&id];
        if minidle != 0 && now.saturating_sub(nack.delivery_time) < minidle {
            continue;
        }
        n += 1;
        count -= 1;
        out.array(4);
        reply_id(out, id);
        out.bulk(&nack.consumer);
        out.int(now.saturating_sub(nack.delivery_time).max(0));
        out.int(nack.delivery_count as i64);
    }
    out.set_deferred(d, n);
    Ok(())
}

trait CollectUntil {
    fn collect_vec_until(self, end: StreamId) -> Vec<StreamId>;
}

impl<I: Iterator<Item = StreamId>> CollectUntil for I {
    fn collect_vec_until(self, end: StreamId) -> Vec<StreamId> {
        self.take_while(|id| *id <= end).collect()
    }
}

pub fn xclaim(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let (key, gname, cname) = (argv[1], argv[2], argv[3]);
    let now = ctx.now_ms;
    let has_group = match read_stream(ctx.ex, ctx.client, key, now)? {
        Some(s) => s.groups.contains_key(gname),
        None => false,
    };
    if !has_group {
        return Err(err::nogroup(key, gname, ""));
    }
    let minidle = parse_i64(argv[4])
        .ok_or_else(|| CmdError::from(err::XCLAIM_MIN_IDLE))?
        .max(0);
    let mut j = 5;
    let mut ids = Vec::new();
    while j < argv.len() {
        match parse_strict_id(argv[j], 0) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let mut force = false;
    let mut justid = false;
    let mut deliverytime: i64 = -1;
    let mut retrycount: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = argv[j];
        if eq(opt, "force") {
            force = true;
        } else if eq(opt, "justid") {
            justid = true;
        } else if eq(opt, "idle") && more > 0 {
            j += 1;
            let v = parse_i64(argv[j]).ok_or_else(|| CmdError::from(err::XCLAIM_IDLE))?;
            deliverytime = now.wrapping_sub(v);
        } else if eq(opt, "time") && more > 0 {
            j += 1;
            deliverytime = parse_i64(argv[j]).ok_or_else(|| CmdError::from(err::XCLAIM_TIME))?;
        } else if eq(opt, "retrycount") && more > 0 {
            j += 1;
            retrycount =
                parse_i64(argv[j]).ok_or_else(|| CmdError::from(err::XCLAIM_RETRYCOUNT))?;
        } else if eq(opt, "lastid") && more > 0 {
            j += 1;
            last_id = parse_strict_id(argv[j], 0)?;
        } else {
            return Err(err::xclaim_unrecognized(opt));
        }
        j += 1;
    }
    let db = ctx.client.db;
    let propagating = ctx.propagating();
    ctx.prevent_propagation();
    let mut ops = Vec::new();
    let s = write_stream(ctx.ex, db, key, now)?.expect("stream");
    let mut last_id_moved = false;
    {
        let g = s.groups.get_mut(gname).expect("group");
        if last_id > g.last_id {
            g.last_id = last_id;
            last_id_moved = true;
        }
    }
    if deliverytime == -1 || deliverytime < 0 || deliverytime > now {
        deliverytime = now;
    }
    let mut created = false;
    let mut have_consumer = false;
    let out = &mut ctx.client.out;
    let d = out.deferred_array();
    let mut n = 0;
    for id in ids {
        let exists = s.contains(id);
        let g = s.groups.get_mut(gname).expect("group");
        if !exists {
            if let (Some(n), true) = (g.pel.get(&id), propagating) {
                ops.push(claim_command(key, gname, id, n, g.last_id));
            }
            g.ack(id);
            continue;
        }
        let mut fresh = false;
        if force && !g.pel.contains_key(&id) {
            g.pel.insert(
                id,
                Nack {
                    delivery_time: now,
                    delivery_count: 0,
                    consumer: Vec::new(),
                },
            );
            fresh = true;
        }
        let Some(nack) = g.pel.get(&id) else {
            continue;
        };
        if !fresh && minidle != 0 && now.saturating_sub(nack.delivery_time) < minidle {
            continue;
        }
        if !have_consumer {
            have_consumer = true;
            if g.create_consumer(cname, now) {
                created = true;
            } else if let Some(c) = g.consumers.get_mut(cname) {
                c.seen_time = now;
            }
        }
        g.assign(id, cname);
        let nack = g.pel.get_mut(&id).expect("nack");
        nack.delivery_time = deliverytime;
        if retrycount >= 0 {
            nack.delivery_count = retrycount as u64;
        } else if !justid {
            nack.delivery_count += 1;
        }
        if propagating {
            ops.push(claim_command(key, gname, id, nack, g.last_id));
        }
        if justid {
            reply_id(out, id);
        } else {
            reply_one_or_null(out, s, id);
        }
        n += 1;
    }
    out.set_deferred(d, n);
    if last_id_moved && propagating {
        ops.push(group_id_command(key, gname, &s.groups[gname]));
    }
    also_propagate_all(ctx, &mut ops);
    ctx.ex.dirty += 1;
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    Ok(())
}

pub fn xautoclaim(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let (key, gname, cname) = (argv[1], argv[2], argv[3]);
    let now = ctx.now_ms;
    let minidle = parse_i64(argv[4])
        .ok_or_else(|| CmdError::from(err::XAUTOCLAIM_MIN_IDLE))?
        .max(0);
    let (mut start, sx) = parse_interval_id(argv[5], 0)?;
    if sx {
        start = start
            .incr()
            .ok_or_else(|| CmdError::from(err::STREAM_INVALID_START))?;
    }
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if eq(argv[j], "count") && more > 0 {
            let max = i64::MAX / 16;
            count = crate::cmd::args::int_in(argv[j + 1], 1, max, err::XAUTOCLAIM_COUNT)?;
            j += 1;
        } else if eq(argv[j], "justid") {
            justid = true;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    let has_group = match read_stream(ctx.ex, ctx.client, key, now)? {
        Some(s) => s.groups.contains_key(gname),
        None => false,
    };
    if !has_group {
        return Err(err::nogroup(key, gname, ""));
    }
    let db = ctx.client.db;
    let propagating = ctx.propagating();
    ctx.prevent_propagation();
    let mut ops = Vec::new();
    let s = write_stream(ctx.ex, db, key, now)?.expect("stream");
    let mut attempts = count * 10;
    let out = &mut ctx.client.out;
    out.array(3);
    let mut claimed: Vec<StreamId> = Vec::new();
    let mut deleted: Vec<StreamId> = Vec::new();
    let mut cursor = Some(start);
    let mut created = false;
    let mut have_consumer = false;
    // Claim first, reply after: the reply starts with the next cursor.
    loop {
        let go = attempts > 0;
        attempts -= 1;
        if !go || count == 0 {
            break;
        }
        let Some(cur) = cursor else {
            break;
        };
        let g = &s.groups[gname];
        let Some((&id, nack)) = g.pel.range(cur..).next() else {
            cursor = None;
            break;
        };
        cursor = id.incr();
        let idle_ok = minidle == 0 || now.saturating_sub(nack.delivery_time) >= minidle;
        if !s.contains(id) {
            if propagating {
                ops.push(claim_command(key, gname, id, nack, g.last_id));
            }
            s.groups.get_mut(gname).expect("group").ack(id);
            deleted.push(id);
            count -= 1;
            continue;
        }
        if !idle_ok {
            continue;
        }
        let g = s.groups.get_mut(gname).expect("group");
        if !have_consumer {
            have_consumer = true;
            if g.create_consumer(cname, now) {
                created = true;
            } else if let Some(c) = g.consumers.get_mut(cname) {
                c.seen_time = now;
            }
        }
        g.assign(id, cname);
        let nack = g.pel.get_mut(&id).expect("nack");
        nack.delivery_time = now;
        if !justid {
            nack.delivery_count += 1;
        }
        if propagating {
            ops.push(claim_command(key, gname, id, nack, g.last_id));
        }
        claimed.push(id);
        count -= 1;
    }
    let next = cursor
        .and_then(|c| s.groups[gname].pel.range(c..).next().map(|(k, _)| *k))
        .unwrap_or(StreamId::MIN);
    reply_id(out, next);
    out.array(claimed.len());
    for id in claimed {
        if justid {
            reply_id(out, id);
        } else {
            reply_one_or_null(out, s, id);
        }
    }
    out.array(deleted.len());
    for id in deleted {
        reply_id(out, id);
    }
    also_propagate_all(ctx, &mut ops);
    ctx.ex.dirty += 1;
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    Ok(())
}

// ---- XINFO ----

fn xinfo_stream_of<'a>(
    ex: &'a mut Executor,
    client: &Client,
    key: &[u8],
    now: i64,
) -> Result<&'a Stream, CmdError> {
    match read_stream(ex, client, key, now)? {
        Some(s) => Ok(s),
        None => Err(err::NO_SUCH_KEY.into()),
    }
}

pub fn xinfo_consumers(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let now = ctx.now_ms;
    let s = xinfo_stream_of(ctx.ex, ctx.client, argv[2], now)?;
    let Some(g) = s.groups.get(argv[3]) else {
        return Err(err::nogroup_for_key(argv[3], argv[2]));
    };
    let out = &mut ctx.client.out;
    out.array(g.consumers.len());
    for (name, c) in &g.consumers {
        out.map(3);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"pending");
        out.int(c.pel.len() as i64);
        out.bulk(b"idle");
        out.int(now.saturating_sub(c.seen_time).max(0));
    }
    Ok(())
}

fn reply_lag(out: &mut ReplyBuf, s: &Stream, g: &Group) {
    match s.group_lag(g) {
        Some(l) => out.int(l),
        None => out.null(),
    }
}

fn reply_entries_read(out: &mut ReplyBuf, g: &Group) {
    if g.entries_read != ENTRIES_READ_INVALID {
        out.int(g.entries_read);
    } else {
        out.null();
    }
}

pub fn xinfo_groups(ctx: &mut Ctx) -> CmdResult {
    let s = xinfo_stream_of(ctx.ex, ctx.client, ctx.argv[2], ctx.now_ms)?;
    let out = &mut ctx.client.out;
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.int(g.consumers.len() as i64);
        out.bulk(b"pending");
        out.int(g.pel.len() as i64);
        out.bulk(b"last-delivered-id");
        reply_id(out, g.last_id);
        out.bulk(b"entries-read");
        reply_entries_read(out, g);
        out.bulk(b"lag");
        reply_lag(out, s, g);
    }
    Ok(())
}

pub fn xinfo_stream(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let now = ctx.now_ms;
    let s = xinfo_stream_of(ctx.ex, ctx.client, ctx.argv[2], ctx.now_ms)?;
    let mut full = false;
    let mut count: i64 = 10;
    if argv.len() > 3 {
        if !eq(argv[3], "full") {
            return Err(err::subcommand_syntax(argv[0], argv[1]));
        }
        full = true;
        if argv.len() > 4 {
            if argv.len() != 6 || !eq(argv[4], "count") {
                return Err(err::subcommand_syntax(argv[0], argv[1]));
            }
            count = int(argv[5])?.max(0);
        }
    }
    let out = &mut ctx.client.out;
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.length as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(s.rax_nodes() as i64);
    out.bulk(b"last-generated-id");
    reply_id(out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    reply_id(out, s.max_deleted_id);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(out, s.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        out.bulk(b"first-entry");
        let mut any = false;
        s.for_each_in(StreamId::MIN, StreamId::MAX, false, |e| {
            reply_entry(out, &e);
            any = true;
            false
        });
        if !any {
            out.null();
        }
        out.bulk(b"last-entry");
        let mut any = false;
        s.for_each_in(StreamId::MIN, StreamId::MAX, true, |e| {
            reply_entry(out, &e);
            any = true;
            false
        });
        if !any {
            out.null();
        }
        return Ok(());
    }
    let count = count as usize;
    let lim = |n: usize| if count == 0 { n } else { n.min(count) };
    out.bulk(b"entries");
    reply_range(out, s, StreamId::MIN, StreamId::MAX, count, false);
    out.bulk(b"groups");
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        reply_id(out, g.last_id);
        out.bulk(b"entries-read");
        reply_entries_read(out, g);
        out.bulk(b"lag");
        reply_lag(out, s, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        out.array(lim(g.pel.len()));
        for (id, n) in g.pel.iter().take(lim(g.pel.len())) {
            out.array(4);
            reply_id(out, *id);
            out.bulk(&n.consumer);
            out.int(n.delivery_time);
            out.int(n.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen_time);
            out.bulk(b"pel-count");
            out.int(c.pel.len() as i64);
            out.bulk(b"pending");
            out.array(lim(c.pel.len()));
            for id in c.pel.iter().take(lim(c.pel.len())) {
                let n = &g.pel[id];
                out.array(3);
                reply_id(out, *id);
                out.int(n.delivery_time);
                out.int(n.delivery_count as i64);
            }
        }
    }
    let _ = now;
    Ok(())
}

pub fn xinfo_help(ctx: &mut Ctx) -> CmdResult {
    crate::cmd::server::introspect::help(
        ctx.out(),
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    );
    Ok(())
}

pub const HANDLERS: &[(&crate::cmd::meta::CommandMeta, Handler)] = &[
    (&m::XADD, xadd),
    (&m::XTRIM, xtrim),
    (&m::XDEL, xdel),
    (&m::XDELEX, xdelex),
    (&m::XACKDEL, xackdel),
    (&m::XLEN, xlen),
    (&m::XRANGE, xrange),
    (&m::XREVRANGE, xrevrange),
    (&m::XSETID, xsetid),
    (&m::XREAD, xread),
    (&m::XREADGROUP, xreadgroup),
    (&m::XGROUP_CREATE, xgroup_create),
    (&m::XGROUP_SETID, xgroup_setid),
    (&m::XGROUP_DESTROY, xgroup_destroy),
    (&m::XGROUP_CREATECONSUMER, xgroup_createconsumer),
    (&m::XGROUP_DELCONSUMER, xgroup_delconsumer),
    (&m::XGROUP_HELP, xgroup_help),
    (&m::XACK, xack),
    (&m::XPENDING, xpending),
    (&m::XCLAIM, xclaim),
    (&m::XAUTOCLAIM, xautoclaim),
    (&m::XINFO_CONSUMERS, xinfo_consumers),
    (&m::XINFO_GROUPS, xinfo_groups),
    (&m::XINFO_STREAM, xinfo_stream),
    (&m::XINFO_HELP, xinfo_help),
];

#[cfg(test)]
mod tests {
    use crate::exec::testing::{executor, run};

    /// Random stream commands with random arguments: no panic, one reply each, and the
    /// streams stay structurally sound.
    #[test]
    fn random_arguments_never_panic() {
        const CMDS: &[&str] = &[
            "XADD",
            "XTRIM",
            "XDEL",
            "XLEN",
            "XRANGE",
            "XREVRANGE",
            "XSETID",
            "XREAD",
            "XREADGROUP",
            "XGROUP CREATE",
            "XGROUP SETID",
            "XGROUP DESTROY",
            "XGROUP CREATECONSUMER",
            "XGROUP DELCONSUMER",
            "XACK",
            "XPENDING",
            "XCLAIM",
            "XAUTOCLAIM",
            "XINFO STREAM",
            "XINFO GROUPS",
            "XINFO CONSUMERS",
        ];
        const TOKENS: &[&str] = &[
            "s",
            "s",
            "t",
            "g",
            "c",
            "*",
            "1-1",
            "2-*",
            "0",
            "0-0",
            "-",
            "+",
            "(1-0",
            "(",
            "$",
            ">",
            "5",
            "-1",
            "18446744073709551615-18446744073709551615",
            "MAXLEN",
            "MINID",
            "~",
            "=",
            "LIMIT",
            "COUNT",
            "BLOCK",
            "STREAMS",
            "GROUP",
            "NOACK",
            "MKSTREAM",
            "ENTRIESREAD",
            "ENTRIESADDED",
            "MAXDELETEDID",
            "IDLE",
            "TIME",
            "RETRYCOUNT",
            "FORCE",
            "JUSTID",
            "LASTID",
            "FULL",
            "NOMKSTREAM",
            "f",
            "v",
            "9223372036854775807",
            "x",
        ];
        let mut ex = executor();
        let mut rng = 0x9e3779b97f4a7c15u64;
        let mut next = |n: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n as u64) as usize
        };
        for i in 0..20_000 {
            let mut line = CMDS[next(CMDS.len())].to_string();
            for _ in 0..next(9) {
                line.push(' ');
                line.push_str(TOKENS[next(TOKENS.len())]);
            }
            if i % 3 == 0 {
                // Keep some valid traffic going.
                run(&mut ex, &format!("XADD s {}-1 f v", i + 1));
                run(&mut ex, "XGROUP CREATE s g 0 MKSTREAM");
            }
            let out = run(&mut ex, &line);
            assert!(!out.is_empty(), "{line}: no reply");
            for db in &ex.dbs {
                for k in [&b"s"[..], b"t"] {
                    if let Some(e) = db.peek(k) {
                        if let crate::keyspace::value::Value::Stream(st) = &e.value {
                            st.check_invariants();
                        }
                    }
                }
            }
        }
    }
}
