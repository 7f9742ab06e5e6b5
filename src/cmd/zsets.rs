//! The "sorted-set" group: ZADD and friends, ranges by rank, score and lex, pops (blocking
//! too), set algebra (ZUNION/ZINTER/ZDIFF and their STORE forms), ZRANDMEMBER and ZSCAN.
//!
//! Check order follows Redis's t_zset.c: argument syntax, key type, then semantics. Scores
//! print with `%.17g` (`ReplyBuf::double`); RESP3 pairs come as nested two-element arrays.

use std::collections::HashMap;

use crate::cmd::args::{self, eq, float, int};
use crate::cmd::generic::{parse_cursor, parse_scan_options, reply_scan};
use crate::cmd::meta_gen as m;
use crate::cmd::table::Handler;
use crate::config::notify;
use crate::exec::blocking::{self, BlockKind};
use crate::exec::{Client, Ctx, Executor};
use crate::keyspace::db::NO_EXPIRE;
use crate::keyspace::types::set::Set;
use crate::keyspace::types::zset::{
    AddFlags, AddOutcome, LexBound, LexRange, Limits, Pos, ScoreRange, ZSet,
};
use crate::keyspace::value::Value;
use crate::resp::errors::{self as err, CmdError, CmdResult};
use crate::resp::reply::ReplyBuf;
use crate::util::glob::glob_match;
use crate::util::num::push_g17;

// ---- lookups ----

pub(crate) fn limits(ex: &Executor) -> Limits {
    Limits {
        max_entries: ex.settings.zset_max_listpack_entries,
        max_value: ex.settings.zset_max_listpack_value,
    }
}

fn as_zset(v: &mut Value) -> Result<&mut ZSet, CmdError> {
    match v {
        Value::ZSet(z) => Ok(z),
        _ => Err(err::WRONGTYPE.into()),
    }
}

/// lookupKeyRead + checkType: the sorted set at `key`, None if missing, WRONGTYPE otherwise.
pub(crate) fn zread<'a>(
    ex: &'a mut Executor,
    client: &Client,
    key: &[u8],
    now_ms: i64,
) -> Result<Option<&'a mut ZSet>, CmdError> {
    let touch = !client.has(crate::exec::client::flags::NO_TOUCH);
    match ex.lookup_read(client.db, key, now_ms, touch) {
        Some(e) => as_zset(&mut e.value).map(Some),
        None => Ok(None),
    }
}

/// lookupKeyWrite + checkType.
fn zwrite<'a>(
    ex: &'a mut Executor,
    db: usize,
    key: &[u8],
    now_ms: i64,
) -> Result<Option<&'a mut ZSet>, CmdError> {
    match ex.lookup_write(db, key, now_ms) {
        Some(e) => as_zset(&mut e.value).map(Some),
        None => Ok(None),
    }
}

/// Deletes `key` if its set was emptied, with the "del" event Redis sends after the command's
/// own event.
fn delete_if_empty(ctx: &mut Ctx, key: &[u8]) -> bool {
    let db = ctx.client.db;
    let empty = matches!(ctx.ex.dbs[db].peek(key), Some(e) if matches!(&e.value, Value::ZSet(z) if z.is_empty()));
    if empty {
        ctx.ex.dbs[db].remove(key);
        ctx.notify(notify::GENERIC, "del", key);
    }
    empty
}

/// Stores a result set at `dst` (Redis's setKey: overwrites any type, drops the TTL).
pub(crate) fn store_result(ctx: &mut Ctx, dst: &[u8], z: ZSet, event: &'static str) {
    let db = ctx.client.db;
    let lru = ctx.new_lru();
    let n = z.len();
    let was = ctx.ex.dbs[db].set(dst, Value::ZSet(Box::new(z)), false, lru);
    ctx.overwritten(dst, was);
    ctx.ex.signal_ready(db, dst);
    ctx.out().int(n as i64);
    ctx.modified(dst, notify::ZSET, event);
}

/// An empty result for a *STORE command: 0, and the destination deleted if it existed.
pub(crate) fn store_empty(ctx: &mut Ctx, dst: &[u8]) {
    ctx.out().int(0);
    let db = ctx.client.db;
    if ctx.ex.dbs[db].remove(dst).is_some() {
        ctx.modified(dst, notify::GENERIC, "del");
    }
}

// ---- replies ----

/// Members, with their scores if asked: a flat array in RESP2, pairs in RESP3.
fn reply_members<M: AsRef<[u8]>>(out: &mut ReplyBuf, items: &[(M, f64)], withscores: bool) {
    let resp3 = out.is_resp3();
    if withscores && !resp3 {
        out.array(items.len() * 2);
    } else {
        out.array(items.len());
    }
    for (m, s) in items {
        if withscores && resp3 {
            out.array(2);
        }
        out.bulk(m.as_ref());
        if withscores {
            out.double(*s);
        }
    }
}

// ---- argument parsing ----

/// C's strtod over the whole argument (an embedded NUL ends it, as in C); None on trailing
/// garbage or NaN. Unlike score arguments, range ends accept "" and leading spaces.
fn strtod_full(s: &[u8]) -> Option<f64> {
    let mut buf = Vec::with_capacity(s.len() + 1);
    buf.extend_from_slice(s);
    buf.push(0);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `buf` is NUL-terminated; strtod reads up to the NUL and sets `end` inside it.
    let v = unsafe { libc::strtod(buf.as_ptr().cast(), &mut end) };
    // SAFETY: `end` points into `buf` (at most at its NUL).
    let used = unsafe { end.cast::<u8>().offset_from(buf.as_ptr()) } as usize;
    (buf.get(used) == Some(&0) && !v.is_nan()).then_some(v)
}

/// Redis's zslParseRange.
fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    let one = |a: &[u8]| -> Option<(f64, bool)> {
        match a.first() {
            Some(b'(') => strtod_full(&a[1..]).map(|v| (v, true)),
            _ => strtod_full(a).map(|v| (v, false)),
        }
    };
    match (one(min), one(max)) {
        (Some((min, minex)), Some((max, maxex))) => Ok(ScoreRange {
            min,
            max,
            minex,
            maxex,
        }),
        _ => Err(err::ZSET_MINMAX_FLOAT.into()),
    }
}

/// Redis's zslParseLexRangeItem.
fn parse_lex_item(a: &[u8]) -> Option<LexBound> {
    let alone = a.get(1).is_none_or(|c| *c == 0);
    match a.first()? {
        b'+' if alone => Some(LexBound::PosInf),
        b'-' if alone => Some(LexBound::NegInf),
        b'(' => Some(LexBound::Excl(a[1..].to_vec())),
        b'[' => Some(LexBound::Incl(a[1..].to_vec())),
        _ => None,
    }
}

fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
    match (parse_lex_item(min), parse_lex_item(max)) {
        (Some(min), Some(max)) => Ok(LexRange { min, max }),
        _ => Err(err::ZSET_MINMAX_LEX.into()),
    }
}

/// getLongFromObjectOrReply.
fn long(a: &[u8]) -> Result<i64, CmdError> {
    int(a)
}

// ---- ZADD / ZINCRBY ----

fn zadd_generic(ctx: &mut Ctx, mut f: AddFlags, first: usize) -> CmdResult {
    let argv = ctx.argv;
    let mut ch = false;
    let mut i = first;
    while i < argv.len() {
        let a = argv[i];
        if eq(a, "nx") {
            f.nx = true;
        } else if eq(a, "xx") {
            f.xx = true;
        } else if eq(a, "ch") {
            ch = true;
        } else if eq(a, "incr") {
            f.incr = true;
        } else if eq(a, "gt") {
            f.gt = true;
        } else if eq(a, "lt") {
            f.lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let scoreidx = i;
    let elements = argv.len() - scoreidx;
    if elements % 2 != 0 || elements == 0 {
        return Err(err::SYNTAX.into());
    }
    let pairs = elements / 2;
    if f.nx && f.xx {
        return Err(err::ZADD_NX_XX.into());
    }
    if ((f.gt || f.lt) && f.nx) || (f.gt && f.lt) {
        return Err(err::GT_LT_NX.into());
    }
    if f.incr && pairs > 1 {
        return Err(err::ZADD_INCR_PAIR.into());
    }
    let mut scores = Vec::with_capacity(pairs);
    let mut members = Vec::with_capacity(pairs);
    for j in 0..pairs {
        scores.push(float(argv[scoreidx + j * 2])?);
        members.push(argv[scoreidx + j * 2 + 1]);
    }
    zadd_apply(ctx, argv[1], f, ch, &scores, &members)
}

/// The work of ZADD once its arguments are checked (GEOADD comes here too).
pub(crate) fn zadd_apply(
    ctx: &mut Ctx,
    key: &[u8],
    f: AddFlags,
    ch: bool,
    scores: &[f64],
    members: &[&[u8]],
) -> CmdResult {
    let db = ctx.client.db;
    let lim = limits(ctx.ex);
    let now = ctx.now_ms;
    if zwrite(ctx.ex, db, key, now)?.is_none() {
        if f.xx {
            if f.incr {
                ctx.out().null();
            } else {
                ctx.out().int(0);
            }
            return Ok(());
        }
        let z = ZSet::for_new_key(lim, members[0].len());
        let lru = ctx.new_lru();
        ctx.ex.dbs[db].insert(key, Value::ZSet(Box::new(z)), NO_EXPIRE, lru);
        ctx.ex.signal_ready(db, key);
    }
    let z = zwrite(ctx.ex, db, key, now)?.expect("present");
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last = 0.0;
    let mut nan = false;
    for (score, &member) in scores.iter().zip(members) {
        match z.add(*score, member, f, lim) {
            AddOutcome::Added(s) => {
                added += 1;
                processed += 1;
                last = s;
            }
            AddOutcome::Updated(s) => {
                updated += 1;
                processed += 1;
                last = s;
            }
            AddOutcome::Unchanged(s) => {
                processed += 1;
                last = s;
            }
            AddOutcome::Nop => {}
            AddOutcome::NotANumber => {
                nan = true;
                break;
            }
        }
    }
    if added + updated > 0 {
        ctx.modified(key, notify::ZSET, if f.incr { "zincr" } else { "zadd" });
    }
    if nan {
        return Err(err::ZSET_NAN.into());
    }
    if f.incr {
        if processed > 0 {
            ctx.out().double(last);
        } else {
            ctx.out().null();
        }
    } else {
        ctx.out().int(if ch { added + updated } else { added });
    }
    Ok(())
}

pub fn zadd(ctx: &mut Ctx) -> CmdResult {
    zadd_generic(ctx, AddFlags::default(), 2)
}

pub fn zincrby(ctx: &mut Ctx) -> CmdResult {
    let f = AddFlags {
        incr: true,
        ..Default::default()
    };
    zadd_generic(ctx, f, 2)
}

// ---- simple reads and removals ----

pub fn zrem(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let db = ctx.client.db;
    let Some(z) = zwrite(ctx.ex, db, key, ctx.now_ms)? else {
        ctx.out().int(0);
        return Ok(());
    };
    let mut deleted = 0;
    for member in &ctx.argv[2..] {
        if z.remove(member) {
            deleted += 1;
            if z.is_empty() {
                break;
            }
        }
    }
    z.shrink();
    if deleted > 0 {
        ctx.modified(key, notify::ZSET, "zrem");
        delete_if_empty(ctx, key);
    }
    ctx.out().int(deleted);
    Ok(())
}

pub fn zcard(ctx: &mut Ctx) -> CmdResult {
    let n = zread(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)?.map_or(0, |z| z.len());
    ctx.out().int(n as i64);
    Ok(())
}

pub fn zscore(ctx: &mut Ctx) -> CmdResult {
    let s = zread(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)?.and_then(|z| z.score(ctx.argv[2]));
    match s {
        Some(s) => ctx.out().double(s),
        None => ctx.out().null(),
    }
    Ok(())
}

pub fn zmscore(ctx: &mut Ctx) -> CmdResult {
    let z = zread(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)?;
    let out = &mut ctx.client.out;
    let members = &ctx.argv[2..];
    out.array(members.len());
    for m in members {
        match z.as_ref().and_then(|z| z.score(m)) {
            Some(s) => out.double(s),
            None => out.null(),
        }
    }
    Ok(())
}

pub fn zcount(ctx: &mut Ctx) -> CmdResult {
    let r = parse_score_range(ctx.argv[2], ctx.argv[3])?;
    let n = zread(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)?.map_or(0, |z| z.count_in_score(&r));
    ctx.out().int(n as i64);
    Ok(())
}

pub fn zlexcount(ctx: &mut Ctx) -> CmdResult {
    let r = parse_lex_range(ctx.argv[2], ctx.argv[3])?;
    let n = zread(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)?.map_or(0, |z| z.count_in_lex(&r));
    ctx.out().int(n as i64);
    Ok(())
}

fn zrank_generic(ctx: &mut Ctx, reverse: bool) -> CmdResult {
    let argv = ctx.argv;
    let withscore = match argv.get(3) {
        None => false,
        Some(a) if argv.len() == 4 && eq(a, "withscore") => true,
        Some(_) if argv.len() > 4 => return Err(err::wrong_arity(ctx.cmd.meta.name)),
        Some(_) => return Err(err::SYNTAX.into()),
    };
    let z = zread(ctx.ex, ctx.client, argv[1], ctx.now_ms)?;
    let found = z.and_then(|z| {
        let len = z.len();
        z.rank(argv[2])
            .map(|(r, s)| (if reverse { len - 1 - r } else { r }, s))
    });
    let out = &mut ctx.client.out;
    match found {
        Some((r, s)) if withscore => {
            out.array(2);
            out.int(r as i64);
            out.double(s);
        }
        Some((r, _)) => out.int(r as i64),
        None if withscore => out.null_array(),
        None => out.null(),
    }
    Ok(())
}

pub fn zrank(ctx: &mut Ctx) -> CmdResult {
    zrank_generic(ctx, false)
}

pub fn zrevrank(ctx: &mut Ctx) -> CmdResult {
    zrank_generic(ctx, true)
}

// ---- ranges ----

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

enum Spec {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// The members a range selects, in reply order, with the store size hint Redis uses
/// (the exact count for ranks, -1 for score and lex ranges).
fn select<'a>(
    z: &'a ZSet,
    spec: &Spec,
    reverse: bool,
    offset: i64,
    limit: i64,
) -> (Vec<(&'a [u8], f64)>, i64) {
    let llen = z.len() as i64;
    match spec {
        Spec::Rank(start, end) => {
            let (mut start, mut end) = (*start, *end);
            if start < 0 {
                start += llen;
            }
            if end < 0 {
                end += llen;
            }
            if start < 0 {
                start = 0;
            }
            if start > end || start >= llen {
                return (Vec::new(), 0);
            }
            if end >= llen {
                end = llen - 1;
            }
            let n = (end - start + 1) as usize;
            let first = if reverse {
                z.at_rank((llen - 1 - start) as usize)
            } else {
                z.at_rank(start as usize)
            };
            let v: Vec<_> = z.walk(first, reverse).take(n).collect();
            let hint = v.len() as i64;
            (v, hint)
        }
        Spec::Score(r) => {
            if offset > 0 && offset >= llen {
                return (Vec::new(), -1);
            }
            let start = if reverse {
                z.last_in_score(r)
            } else {
                z.first_in_score(r)
            };
            let start = skip(z, start, offset, reverse);
            let v = take_while_limit(z, start, reverse, limit, |_, s| {
                if reverse {
                    r.gte_min(s)
                } else {
                    r.lte_max(s)
                }
            });
            (v, -1)
        }
        Spec::Lex(r) => {
            if offset > 0 && offset >= llen {
                return (Vec::new(), -1);
            }
            let start = if reverse {
                z.last_in_lex(r)
            } else {
                z.first_in_lex(r)
            };
            let start = skip(z, start, offset, reverse);
            let v = take_while_limit(z, start, reverse, limit, |m, _| {
                if reverse {
                    r.gte_min(m)
                } else {
                    r.lte_max(m)
                }
            });
            (v, -1)
        }
    }
}

/// Moves `offset` places from `start` (Redis's `while (ln && offset--)`: a negative offset
/// runs off the end).
fn skip<'a>(z: &'a ZSet, start: Option<Pos<'a>>, offset: i64, reverse: bool) -> Option<Pos<'a>> {
    let start = start?;
    if offset == 0 {
        return Some(start);
    }
    if offset < 0 {
        return None;
    }
    let r = z.rank_of(start) as i64;
    let target = if reverse { r - offset } else { r + offset };
    if target < 0 || target >= z.len() as i64 {
        return None;
    }
    z.at_rank(target as usize)
}

fn take_while_limit<'a>(
    z: &'a ZSet,
    start: Option<Pos<'a>>,
    reverse: bool,
    limit: i64,
    mut keep: impl FnMut(&[u8], f64) -> bool,
) -> Vec<(&'a [u8], f64)> {
    let mut v = Vec::new();
    let mut left = limit;
    for (m, s) in z.walk(start, reverse) {
        if left == 0 {
            break;
        }
        if !keep(m, s) {
            break;
        }
        v.push((m, s));
        left -= 1;
    }
    v
}

/// Redis's zrangeGenericCommand for every ZRANGE-like command.
fn zrange_generic(
    ctx: &mut Ctx,
    argc_start: usize,
    store: bool,
    mut rangetype: RangeType,
    mut direction: Direction,
) -> CmdResult {
    let argv = ctx.argv;
    let key = argv[argc_start];
    let mut minobj = argv[argc_start + 1];
    let mut maxobj = argv[argc_start + 2];
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = argc_start + 3;
    while j < argv.len() {
        let a = argv[j];
        let left = argv.len() - j - 1;
        if !store && eq(a, "withscores") {
            withscores = true;
        } else if eq(a, "limit") && left >= 2 {
            offset = long(argv[j + 1])?;
            limit = long(argv[j + 2])?;
            j += 2;
        } else if direction == Direction::Auto && eq(a, "rev") {
            direction = Direction::Reverse;
        } else if rangetype == RangeType::Auto && eq(a, "bylex") {
            rangetype = RangeType::Lex;
        } else if rangetype == RangeType::Auto && eq(a, "byscore") {
            rangetype = RangeType::Score;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    if direction == Direction::Auto {
        direction = Direction::Forward;
    }
    if rangetype == RangeType::Auto {
        rangetype = RangeType::Rank;
    }
    if limit != -1 && rangetype == RangeType::Rank {
        return Err(err::ZRANGE_LIMIT_RANK.into());
    }
    if withscores && rangetype == RangeType::Lex {
        return Err(err::ZRANGE_WITHSCORES_LEX.into());
    }
    let reverse = direction == Direction::Reverse;
    if reverse && rangetype != RangeType::Rank {
        std::mem::swap(&mut minobj, &mut maxobj);
    }
    let spec = match rangetype {
        RangeType::Score => Spec::Score(parse_score_range(minobj, maxobj)?),
        RangeType::Lex => Spec::Lex(parse_lex_range(minobj, maxobj)?),
        _ => Spec::Rank(long(minobj)?, long(maxobj)?),
    };
    let lim = limits(ctx.ex);
    let z = zread(ctx.ex, ctx.client, key, ctx.now_ms)?;
    if !store {
        let out = &mut ctx.client.out;
        match z {
            None => out.array(0),
            Some(z) => {
                let (items, _) = select(z, &spec, reverse, offset, limit);
                reply_members(out, &items, withscores);
            }
        }
        return Ok(());
    }
    let dst = argv[1];
    let built = z.and_then(|z| {
        let (items, hint) = select(z, &spec, reverse, offset, limit);
        if items.is_empty() {
            return None;
        }
        let mut d = ZSet::for_store(lim, hint);
        for (m, s) in items {
            d.add(s, m, AddFlags::default(), lim);
        }
        Some(d)
    });
    match built {
        Some(d) => store_result(ctx, dst, d, "zrangestore"),
        None => store_empty(ctx, dst),
    }
    Ok(())
}

pub fn zrange(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, 1, false, RangeType::Auto, Direction::Auto)
}

pub fn zrangestore(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, 2, true, RangeType::Auto, Direction::Auto)
}

pub fn zrevrange(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, 1, false, RangeType::Rank, Direction::Reverse)
}

pub fn zrangebyscore(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, 1, false, RangeType::Score, Direction::Forward)
}

pub fn zrevrangebyscore(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, 1, false, RangeType::Score, Direction::Reverse)
}

pub fn zrangebylex(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, 1, false, RangeType::Lex, Direction::Forward)
}

pub fn zrevrangebylex(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, 1, false, RangeType::Lex, Direction::Reverse)
}

/// Redis's zremrangeGenericCommand.
fn zremrange_generic(ctx: &mut Ctx, rangetype: RangeType) -> CmdResult {
    let argv = ctx.argv;
    let key = argv[1];
    let spec = match rangetype {
        RangeType::Score => Spec::Score(parse_score_range(argv[2], argv[3])?),
        RangeType::Lex => Spec::Lex(parse_lex_range(argv[2], argv[3])?),
        _ => Spec::Rank(long(argv[2])?, long(argv[3])?),
    };
    let db = ctx.client.db;
    let Some(z) = zwrite(ctx.ex, db, key, ctx.now_ms)? else {
        ctx.out().int(0);
        return Ok(());
    };
    let deleted = match &spec {
        Spec::Rank(start, end) => {
            let llen = z.len() as i64;
            let (mut start, mut end) = (*start, *end);
            if start < 0 {
                start += llen;
            }
            if end < 0 {
                end += llen;
            }
            if start < 0 {
                start = 0;
            }
            if start > end || start >= llen {
                0
            } else {
                if end >= llen {
                    end = llen - 1;
                }
                z.remove_rank_range(start as usize, end as usize)
            }
        }
        Spec::Score(r) => z.remove_score_range(r),
        Spec::Lex(r) => z.remove_lex_range(r),
    };
    z.shrink();
    if deleted > 0 {
        let event = match rangetype {
            RangeType::Score => "zremrangebyscore",
            RangeType::Lex => "zremrangebylex",
            _ => "zremrangebyrank",
        };
        ctx.modified(key, notify::ZSET, event);
        delete_if_empty(ctx, key);
    }
    ctx.out().int(deleted as i64);
    Ok(())
}

pub fn zremrangebyrank(ctx: &mut Ctx) -> CmdResult {
    zremrange_generic(ctx, RangeType::Rank)
}

pub fn zremrangebyscore(ctx: &mut Ctx) -> CmdResult {
    zremrange_generic(ctx, RangeType::Score)
}

pub fn zremrangebylex(ctx: &mut Ctx) -> CmdResult {
    zremrange_generic(ctx, RangeType::Lex)
}

// ---- pops ----

/// How a pop reply is shaped (Redis's genericZpopCommand flags).
#[derive(Clone, Copy)]
struct PopShape {
    emitkey: bool,
    nested: bool,
    nil_when_empty: bool,
}

/// Redis's genericZpopCommand over `keys`: pops up to `count` (None: one, plain) from the
/// first key that exists.
fn zpop_generic(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    max: bool,
    count: Option<u64>,
    shape: PopShape,
) -> CmdResult {
    let db = ctx.client.db;
    let now = ctx.now_ms;
    let mut found = None;
    for k in keys {
        if zwrite(ctx.ex, db, k, now)?.is_some() {
            found = Some(*k);
            break;
        }
    }
    let Some(key) = found else {
        if shape.nil_when_empty {
            ctx.out().null_array();
        } else {
            ctx.out().array(0);
        }
        return Ok(());
    };
    if count == Some(0) {
        ctx.out().array(0);
        return Ok(());
    }
    let plain = count.is_none();
    let count = count.unwrap_or(1);
    let z = zwrite(ctx.ex, db, key, now)?.expect("present");
    let n = (z.len() as u64).min(count) as usize;
    let mut popped = Vec::with_capacity(n);
    for _ in 0..n {
        match z.pop(max) {
            Some(p) => popped.push(p),
            None => break,
        }
    }
    z.shrink();
    let out = &mut ctx.client.out;
    match (shape.nested, shape.emitkey) {
        (false, false) => out.array(popped.len() * 2),
        (true, false) => out.array(popped.len()),
        (false, true) => {
            out.array(popped.len() * 2 + 1);
            out.bulk(key);
        }
        (true, true) => {
            out.array(2);
            out.bulk(key);
            out.array(popped.len());
        }
    }
    for (m, s) in &popped {
        if shape.nested {
            out.array(2);
        }
        out.bulk(m);
        out.double(*s);
    }
    if !popped.is_empty() {
        ctx.modified(key, notify::ZSET, if max { "zpopmax" } else { "zpopmin" });
        delete_if_empty(ctx, key);
        // Blocking and multi-key forms replay as the ZPOPMIN/ZPOPMAX they did.
        if shape.emitkey {
            let pop: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
            if plain {
                ctx.propagate_as(&[pop, key]);
            } else {
                let n = itoa::Buffer::new().format(popped.len()).as_bytes().to_vec();
                ctx.propagate_as(&[pop, key, &n]);
            }
        }
    }
    Ok(())
}

fn zpop_minmax(ctx: &mut Ctx, max: bool) -> CmdResult {
    if ctx.argv.len() > 3 {
        return Err(err::SYNTAX.into());
    }
    let count = match ctx.argv.get(2) {
        Some(a) => Some(positive(a)?),
        None => None,
    };
    let shape = PopShape {
        emitkey: false,
        nested: ctx.client.out.is_resp3() && count.is_some(),
        nil_when_empty: false,
    };
    zpop_generic(ctx, &ctx.argv[1..2], max, count, shape)
}

/// getPositiveLongFromObjectOrReply.
fn positive(a: &[u8]) -> Result<u64, CmdError> {
    Ok(args::int_in(a, 0, i64::MAX, err::POSITIVE)? as u64)
}

pub fn zpopmin(ctx: &mut Ctx) -> CmdResult {
    zpop_minmax(ctx, false)
}

pub fn zpopmax(ctx: &mut Ctx) -> CmdResult {
    zpop_minmax(ctx, true)
}

/// Redis's blockingGenericZpopCommand.
fn blocking_zpop(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    max: bool,
    timeout_arg: &[u8],
    count: Option<u64>,
    shape: PopShape,
) -> CmdResult {
    let deadline = blocking::parse_timeout_secs(timeout_arg, ctx.now_ms)?;
    let db = ctx.client.db;
    let now = ctx.now_ms;
    for k in keys {
        match zwrite(ctx.ex, db, k, now)? {
            Some(z) if !z.is_empty() => {
                return zpop_generic(ctx, std::slice::from_ref(k), max, count, shape);
            }
            _ => continue,
        }
    }
    if !ctx.can_block() {
        ctx.out().null_array();
        return Ok(());
    }
    ctx.block(BlockKind::ZSet, keys, deadline);
    Ok(())
}

fn bzpop_minmax(ctx: &mut Ctx, max: bool) -> CmdResult {
    let argv = ctx.argv;
    let keys = &argv[1..argv.len() - 1];
    let shape = PopShape {
        emitkey: true,
        nested: false,
        nil_when_empty: false,
    };
    blocking_zpop(ctx, keys, max, argv[argv.len() - 1], None, shape)
}

pub fn bzpopmin(ctx: &mut Ctx) -> CmdResult {
    bzpop_minmax(ctx, false)
}

pub fn bzpopmax(ctx: &mut Ctx) -> CmdResult {
    bzpop_minmax(ctx, true)
}

/// Redis's zmpopGenericCommand.
fn zmpop_generic(ctx: &mut Ctx, numkeys_idx: usize, block: bool) -> CmdResult {
    let argv = ctx.argv;
    let numkeys = args::int_in(argv[numkeys_idx], 1, i64::MAX, err::ZMPOP_NUMKEYS)? as usize;
    let where_idx = numkeys_idx.saturating_add(numkeys).saturating_add(1);
    if where_idx >= argv.len() {
        return Err(err::SYNTAX.into());
    }
    let max = if eq(argv[where_idx], "min") {
        false
    } else if eq(argv[where_idx], "max") {
        true
    } else {
        return Err(err::SYNTAX.into());
    };
    let mut count: Option<u64> = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if count.is_none() && eq(argv[j], "count") && more > 0 {
            j += 1;
            count = Some(args::int_in(argv[j], 1, i64::MAX, err::ZMPOP_COUNT)? as u64);
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    let count = Some(count.unwrap_or(1));
    let keys = &argv[numkeys_idx + 1..where_idx];
    let shape = PopShape {
        emitkey: true,
        nested: true,
        nil_when_empty: true,
    };
    if block {
        blocking_zpop(ctx, keys, max, argv[1], count, shape)
    } else {
        zpop_generic(ctx, keys, max, count, shape)
    }
}

pub fn zmpop(ctx: &mut Ctx) -> CmdResult {
    zmpop_generic(ctx, 1, false)
}

pub fn bzmpop(ctx: &mut Ctx) -> CmdResult {
    zmpop_generic(ctx, 2, true)
}

// ---- set algebra ----

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, val: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// One input of ZUNION and friends: a sorted set, a plain set (scores 1) or nothing.
enum Source<'a> {
    Missing,
    Z(&'a ZSet),
    /// A plain set, read at a clock (members whose TTL passed are not there).
    S(&'a Set, i64),
}

/// The members of a plain set input (score 1 each).
fn set_members(s: &Set, clock: i64) -> Vec<Vec<u8>> {
    s.iter_live(clock).map(|m| m.to_vec()).collect()
}

/// Whether a plain set input holds `m`.
fn set_contains(s: &Set, m: &[u8], clock: i64) -> bool {
    s.contains_live(m, clock)
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::Missing => 0,
            Source::Z(z) => z.len(),
            Source::S(s, _) => s.len(),
        }
    }

    fn items(&self) -> Vec<(Vec<u8>, f64)> {
        match self {
            Source::Missing => Vec::new(),
            Source::Z(z) => z.iter().map(|(m, s)| (m.to_vec(), s)).collect(),
            Source::S(s, clock) => set_members(s, *clock)
                .into_iter()
                .map(|m| (m, 1.0))
                .collect(),
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Source::Missing => None,
            Source::Z(z) => z.score(m),
            Source::S(s, clock) => set_contains(s, m, *clock).then_some(1.0),
        }
    }
}

/// Redis's zunionInterDiffGenericCommand.
fn zsetop_generic(
    ctx: &mut Ctx,
    dst: Option<&[u8]>,
    numkeys_idx: usize,
    op: SetOp,
    card_only: bool,
) -> CmdResult {
    let argv = ctx.argv;
    let setnum = long(argv[numkeys_idx])?;
    if setnum < 1 {
        return Err(err::zset_need_key(ctx.cmd.meta.name));
    }
    if setnum as u64 > (argv.len() - (numkeys_idx + 1)) as u64 {
        return Err(err::SYNTAX.into());
    }
    let setnum = setnum as usize;
    let keys = &argv[numkeys_idx + 1..numkeys_idx + 1 + setnum];
    let db = ctx.client.db;
    let now = ctx.now_ms;
    let touch = !ctx.client.has(crate::exec::client::flags::NO_TOUCH);
    for k in keys {
        let e = if dst.is_some() {
            ctx.ex.lookup_write(db, k, now)
        } else {
            ctx.ex.lookup_read(db, k, now, touch)
        };
        if let Some(e) = e {
            if !matches!(e.value, Value::ZSet(_) | Value::Set(_)) {
                return Err(err::WRONGTYPE.into());
            }
        }
    }
    let mut weights = vec![1.0f64; setnum];
    let mut how = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: u64 = 0;
    let mut j = numkeys_idx + 1 + setnum;
    while j < argv.len() {
        let remaining = argv.len() - j;
        let a = argv[j];
        if op != SetOp::Diff && !card_only && remaining > setnum && eq(a, "weights") {
            j += 1;
            for w in weights.iter_mut() {
                *w = args::float(argv[j]).map_err(|_| CmdError::from(err::ZSET_WEIGHT_FLOAT))?;
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && eq(a, "aggregate") {
            let v = argv[j + 1];
            how = if eq(v, "sum") {
                Aggregate::Sum
            } else if eq(v, "min") {
                Aggregate::Min
            } else if eq(v, "max") {
                Aggregate::Max
            } else {
                return Err(err::SYNTAX.into());
            };
            j += 2;
        } else if dst.is_none() && !card_only && eq(a, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && eq(a, "limit") {
            let v = args::int_in(argv[j + 1], 0, i64::MAX, err::ZSET_LIMIT_NEGATIVE)?;
            limit = v as u64;
            j += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let clock = crate::cmd::subkey_ttl::subkey_clock(ctx);
    let dbref = &ctx.ex.dbs[db];
    let mut srcs: Vec<(Source<'_>, f64, usize)> = keys
        .iter()
        .zip(weights.iter())
        .enumerate()
        .map(|(i, (k, w))| {
            let s = match dbref.peek(k).map(|e| &e.value) {
                Some(Value::ZSet(z)) => Source::Z(z),
                Some(Value::Set(s)) => Source::S(s, clock),
                _ => Source::Missing,
            };
            (s, *w, i)
        })
        .collect();
    if op != SetOp::Diff {
        srcs.sort_by_key(|s| s.0.len());
    }
    let mut result: Vec<(Vec<u8>, f64)> = Vec::new();
    let mut cardinality: u64 = 0;
    match op {
        SetOp::Inter => {
            if srcs[0].0.len() > 0 {
                let first_key = keys[srcs[0].2];
                for (m, s0) in srcs[0].0.items() {
                    let mut score = srcs[0].1 * s0;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    let mut all = true;
                    for (src, w, idx) in &srcs[1..] {
                        let v = if keys[*idx] == first_key {
                            Some(s0)
                        } else {
                            src.score(&m)
                        };
                        match v {
                            Some(v) => aggregate(&mut score, v * w, how),
                            None => {
                                all = false;
                                break;
                            }
                        }
                    }
                    if !all {
                        continue;
                    }
                    if card_only {
                        cardinality += 1;
                        if limit > 0 && cardinality >= limit {
                            break;
                        }
                    } else {
                        result.push((m, score));
                    }
                }
            }
        }
        SetOp::Union => {
            let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
            for (src, w, _) in &srcs {
                for (m, s) in src.items() {
                    let mut score = w * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(&m) {
                        Some(t) => aggregate(t, score, how),
                        None => {
                            acc.insert(m, score);
                        }
                    }
                }
            }
            result = acc.into_iter().collect();
        }
        SetOp::Diff => {
            if srcs[0].0.len() > 0 {
                for (m, s) in srcs[0].0.items() {
                    if srcs[1..].iter().all(|(src, _, _)| src.score(&m).is_none()) {
                        result.push((m, s));
                    }
                }
            }
        }
    }
    drop(srcs);
    if card_only {
        ctx.out().int(cardinality as i64);
        return Ok(());
    }
    // Scores are never NaN; -0 and +0 compare equal, as in Redis.
    result.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    match dst {
        Some(dst) => {
            if result.is_empty() {
                store_empty(ctx, dst);
            } else {
                let z = ZSet::from_sorted(&result, limits(ctx.ex));
                let event = match op {
                    SetOp::Union => "zunionstore",
                    SetOp::Inter => "zinterstore",
                    SetOp::Diff => "zdiffstore",
                };
                store_result(ctx, dst, z, event);
            }
        }
        None => reply_members(ctx.out(), &result, withscores),
    }
    Ok(())
}

pub fn zunion(ctx: &mut Ctx) -> CmdResult {
    zsetop_generic(ctx, None, 1, SetOp::Union, false)
}

pub fn zinter(ctx: &mut Ctx) -> CmdResult {
    zsetop_generic(ctx, None, 1, SetOp::Inter, false)
}

pub fn zdiff(ctx: &mut Ctx) -> CmdResult {
    zsetop_generic(ctx, None, 1, SetOp::Diff, false)
}

pub fn zintercard(ctx: &mut Ctx) -> CmdResult {
    zsetop_generic(ctx, None, 1, SetOp::Inter, true)
}

pub fn zunionstore(ctx: &mut Ctx) -> CmdResult {
    zsetop_generic(ctx, Some(ctx.argv[1]), 2, SetOp::Union, false)
}

pub fn zinterstore(ctx: &mut Ctx) -> CmdResult {
    zsetop_generic(ctx, Some(ctx.argv[1]), 2, SetOp::Inter, false)
}

pub fn zdiffstore(ctx: &mut Ctx) -> CmdResult {
    zsetop_generic(ctx, Some(ctx.argv[1]), 2, SetOp::Diff, false)
}

// ---- ZRANDMEMBER / ZSCAN ----

pub fn zrandmember(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    if argv.len() >= 3 {
        let l = int(argv[2])?;
        if l == i64::MIN {
            return Err(err::ZRANDMEMBER_RANGE.into());
        }
        let withscores = match argv.len() {
            3 => false,
            4 if eq(argv[3], "withscores") => true,
            _ => return Err(err::SYNTAX.into()),
        };
        if withscores && !(-i64::MAX / 2..=i64::MAX / 2).contains(&l) {
            return Err(err::ZRANDMEMBER_OUT_OF_RANGE.into());
        }
        return zrandmember_count(ctx, l, withscores);
    }
    let mut rng = crate::util::rng::splitmix(ctx.ex.random_u64());
    let z = zread(ctx.ex, ctx.client, argv[1], ctx.now_ms)?;
    let out = &mut ctx.client.out;
    match z.and_then(|z| z.random(&mut rng)) {
        Some((m, _)) => out.bulk(m),
        None => out.null(),
    }
    Ok(())
}

fn zrandmember_count(ctx: &mut Ctx, l: i64, withscores: bool) -> CmdResult {
    let cap = crate::cmd::random_reply::ReplyCap::new(ctx.ex, ctx.client);
    let mut rng = crate::util::rng::splitmix(ctx.ex.random_u64());
    let z = zread(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)?;
    let out = &mut ctx.client.out;
    let Some(z) = z else {
        out.array(0);
        return Ok(());
    };
    let size = z.len();
    let (count, uniq) = if l >= 0 {
        (l as u64, true)
    } else {
        (l.unsigned_abs(), false)
    };
    if count == 0 || size == 0 {
        out.array(0);
        return Ok(());
    }
    let resp3 = out.is_resp3();
    let emit = |out: &mut ReplyBuf, m: &[u8], s: f64| {
        if withscores && resp3 {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(s);
        }
    };
    let header = |out: &mut ReplyBuf, n: usize| {
        if withscores && !resp3 {
            out.array(n * 2);
        } else {
            out.array(n);
        }
    };
    if !uniq || count == 1 {
        header(out, count as usize);
        let mut cut = false;
        for i in 1..=count {
            if let Some((m, s)) = z.random(&mut rng) {
                emit(out, m, s);
            }
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
    if count >= size as u64 {
        // Redis answers the whole set from the highest member down.
        header(out, size);
        for (m, s) in z.walk(z.last(), true) {
            emit(out, m, s);
        }
        return Ok(());
    }
    let count = count as usize;
    let mut ranks: Vec<usize>;
    if count * 3 > size {
        // Remove random ranks from the whole until `count` remain.
        ranks = (0..size).collect();
        while ranks.len() > count {
            let i = (rng() % ranks.len() as u64) as usize;
            ranks.swap_remove(i);
        }
    } else {
        let mut seen = std::collections::HashSet::with_capacity(count);
        ranks = Vec::with_capacity(count);
        while ranks.len() < count {
            let r = (rng() % size as u64) as usize;
            if seen.insert(r) {
                ranks.push(r);
            }
        }
    }
    header(out, count);
    for r in ranks {
        if let Some(p) = z.at_rank(r) {
            let (m, s) = z.get(p);
            emit(out, m, s);
        }
    }
    Ok(())
}

pub fn zscan(ctx: &mut Ctx) -> CmdResult {
    let mut cursor = parse_cursor(ctx.argv[2])?;
    let z = zread(ctx.ex, ctx.client, ctx.argv[1], ctx.now_ms)?;
    let Some(z) = z else {
        reply_scan(ctx, 0, &[]);
        return Ok(());
    };
    let opts = parse_scan_options(ctx.argv, 3, false)?;
    let mut pairs: Vec<(Vec<u8>, f64)> = Vec::new();
    let packed = z.is_packed();
    if packed {
        cursor = z.scan(0, &mut |m, s| pairs.push((m.to_vec(), s)));
    } else {
        let mut max_iterations = opts.count * 10;
        loop {
            cursor = z.scan(cursor, &mut |m, s| pairs.push((m.to_vec(), s)));
            max_iterations = max_iterations.saturating_sub(1);
            if cursor == 0 || max_iterations == 0 || pairs.len() >= opts.count {
                break;
            }
        }
    }
    let mut items = Vec::with_capacity(pairs.len() * 2);
    for (m, s) in pairs {
        if let Some(p) = opts.pattern {
            if !glob_match(p, &m, false) {
                continue;
            }
        }
        let mut score = Vec::with_capacity(24);
        if packed {
            push_d2string(&mut score, s);
        } else {
            push_g17(&mut score, s);
        }
        items.push(m);
        items.push(score);
    }
    reply_scan(ctx, cursor, &items);
    Ok(())
}

/// How a listpack stores a score (Redis's d2string): integers within +-2^62 in decimal, the
/// rest as `%.17g`. ZSCAN of a listpack returns these strings.
fn push_d2string(out: &mut Vec<u8>, v: f64) {
    const LIM: f64 = (i64::MAX / 2) as f64;
    if (-LIM..=LIM).contains(&v) && v == v.trunc() {
        crate::util::num::push_i64(out, v as i64);
    } else {
        push_g17(out, v);
    }
}

pub const HANDLERS: &[(&crate::cmd::meta::CommandMeta, Handler)] = &[
    (&m::ZADD, zadd),
    (&m::ZINCRBY, zincrby),
    (&m::ZREM, zrem),
    (&m::ZCARD, zcard),
    (&m::ZSCORE, zscore),
    (&m::ZMSCORE, zmscore),
    (&m::ZCOUNT, zcount),
    (&m::ZLEXCOUNT, zlexcount),
    (&m::ZRANK, zrank),
    (&m::ZREVRANK, zrevrank),
    (&m::ZRANGE, zrange),
    (&m::ZRANGESTORE, zrangestore),
    (&m::ZREVRANGE, zrevrange),
    (&m::ZRANGEBYSCORE, zrangebyscore),
    (&m::ZREVRANGEBYSCORE, zrevrangebyscore),
    (&m::ZRANGEBYLEX, zrangebylex),
    (&m::ZREVRANGEBYLEX, zrevrangebylex),
    (&m::ZREMRANGEBYRANK, zremrangebyrank),
    (&m::ZREMRANGEBYSCORE, zremrangebyscore),
    (&m::ZREMRANGEBYLEX, zremrangebylex),
    (&m::ZPOPMIN, zpopmin),
    (&m::ZPOPMAX, zpopmax),
    (&m::ZMPOP, zmpop),
    (&m::BZPOPMIN, bzpopmin),
    (&m::BZPOPMAX, bzpopmax),
    (&m::BZMPOP, bzmpop),
    (&m::ZUNION, zunion),
    (&m::ZINTER, zinter),
    (&m::ZDIFF, zdiff),
    (&m::ZINTERCARD, zintercard),
    (&m::ZUNIONSTORE, zunionstore),
    (&m::ZINTERSTORE, zinterstore),
    (&m::ZDIFFSTORE, zdiffstore),
    (&m::ZRANDMEMBER, zrandmember),
    (&m::ZSCAN, zscan),
];

#[cfg(test)]
mod tests {
    use crate::exec::testing::{executor, run};

    /// ZRANK/ZREVRANK WITHSCORE (Redis 7.2), which the 7.0 oracle cannot record.
    #[test]
    fn rank_withscore() {
        let mut ex = executor();
        assert_eq!(run(&mut ex, "ZADD z 1 a 2.5 b 3 c"), ":3\r\n");
        assert_eq!(
            run(&mut ex, "ZRANK z b WITHSCORE"),
            "*2\r\n:1\r\n$3\r\n2.5\r\n"
        );
        assert_eq!(
            run(&mut ex, "ZREVRANK z a withscore"),
            "*2\r\n:2\r\n$1\r\n1\r\n"
        );
        assert_eq!(run(&mut ex, "ZRANK z nosuch WITHSCORE"), "*-1\r\n");
        assert_eq!(run(&mut ex, "ZRANK nosuch a WITHSCORE"), "*-1\r\n");
        assert_eq!(run(&mut ex, "ZRANK nosuch a"), "$-1\r\n");
        assert_eq!(
            run(&mut ex, "ZRANK z a WITHSCORES"),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            run(&mut ex, "ZRANK z a WITHSCORE x"),
            "-ERR wrong number of arguments for 'zrank' command\r\n"
        );
        run(&mut ex, "SET s v");
        assert!(run(&mut ex, "ZRANK s a WITHSCORE").starts_with("-WRONGTYPE"));
        run(&mut ex, "HELLO 3");
        assert_eq!(run(&mut ex, "ZRANK z c WITHSCORE"), "*2\r\n:2\r\n,3\r\n");
        assert_eq!(run(&mut ex, "ZRANK z nosuch WITHSCORE"), "_\r\n");
    }

    /// Big sorted sets: ranks, ranges and removals through the skiplist with spans.
    #[test]
    fn skiplist_ranges() {
        let mut ex = executor();
        let mut cmd = String::from("ZADD z");
        for i in 0..500 {
            cmd.push_str(&format!(" {} m{i:03}", i / 2));
        }
        assert_eq!(run(&mut ex, &cmd), ":500\r\n");
        assert_eq!(run(&mut ex, "OBJECT ENCODING z"), "$8\r\nskiplist\r\n");
        assert_eq!(run(&mut ex, "ZRANK z m321"), ":321\r\n");
        assert_eq!(run(&mut ex, "ZREVRANK z m321"), ":178\r\n");
        assert_eq!(run(&mut ex, "ZCOUNT z (10 20"), ":20\r\n");
        assert_eq!(
            run(&mut ex, "ZRANGEBYSCORE z 100 +inf LIMIT 3 2"),
            "*2\r\n$4\r\nm203\r\n$4\r\nm204\r\n"
        );
        assert_eq!(
            run(&mut ex, "ZREVRANGEBYSCORE z 100 -inf LIMIT 3 2"),
            "*2\r\n$4\r\nm198\r\n$4\r\nm197\r\n"
        );
        assert_eq!(run(&mut ex, "ZREMRANGEBYRANK z 100 199"), ":100\r\n");
        assert_eq!(run(&mut ex, "ZRANK z m321"), ":221\r\n");
        assert_eq!(run(&mut ex, "ZREMRANGEBYSCORE z -inf (200"), ":300\r\n");
        assert_eq!(run(&mut ex, "ZCARD z"), ":100\r\n");
        assert_eq!(run(&mut ex, "OBJECT ENCODING z"), "$8\r\nskiplist\r\n");
    }

    /// ZSCAN of a skiplist walks the member index with the cursor and returns every member
    /// once when nothing changes; MATCH filters members.
    #[test]
    fn zscan_skiplist() {
        let mut ex = executor();
        let mut cmd = String::from("ZADD z");
        for i in 0..300 {
            cmd.push_str(&format!(" {i}.5 m{i}"));
        }
        run(&mut ex, &cmd);
        let mut seen = std::collections::BTreeMap::new();
        let mut cursor = String::from("0");
        loop {
            let out = run(&mut ex, &format!("ZSCAN z {cursor} COUNT 7"));
            let lines: Vec<&str> = out.split("\r\n").collect();
            cursor = lines[2].to_string();
            let items: Vec<&str> = lines[4..]
                .iter()
                .copied()
                .filter(|l| !l.starts_with('$'))
                .collect();
            for pair in items.chunks(2) {
                if pair.len() == 2 {
                    assert!(seen
                        .insert(pair[0].to_string(), pair[1].to_string())
                        .is_none());
                }
            }
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 300);
        assert_eq!(seen["m17"], "17.5");
        let out = run(&mut ex, "ZSCAN z 0 MATCH m29* COUNT 1000");
        assert_eq!(out.matches("$3\r\nm29").count(), 1);
        assert_eq!(out.matches("$4\r\nm29").count(), 10);
    }

    /// ZRANDMEMBER with a positive count below the size: distinct members, right count.
    #[test]
    fn zrandmember_distinct() {
        let mut ex = executor();
        let mut cmd = String::from("ZADD z");
        for i in 0..200 {
            cmd.push_str(&format!(" {i} m{i}"));
        }
        run(&mut ex, &cmd);
        for count in [2, 50, 100, 199] {
            let out = run(&mut ex, &format!("ZRANDMEMBER z {count} WITHSCORES"));
            let lines: Vec<&str> = out.split("\r\n").collect();
            assert_eq!(lines[0], format!("*{}", count * 2));
            let members: std::collections::HashSet<&str> = lines
                .iter()
                .copied()
                .filter(|l| l.starts_with('m'))
                .collect();
            assert_eq!(members.len(), count);
        }
        let out = run(&mut ex, "ZRANDMEMBER z -500");
        assert!(out.starts_with("*500\r\n"));
    }
}
