//! SORT and SORT_RO (generic group): sort a list, set or sorted set by its elements or by
//! external keys (`BY pattern`, hash fields with `->`), with GET, LIMIT, ASC/DESC, ALPHA and
//! STORE, following Redis's sort.c step by step so edge cases (LIMIT clamping, missing BY
//! keys, conversion errors, the "nosort" shortcuts) agree.

use crate::cmd::args::eq;
use crate::config::notify;
use crate::exec::Ctx;
use crate::keyspace::types::list::List;
use crate::keyspace::value::Value;
use crate::resp::errors::{self as err, CmdError, CmdResult};

/// One element with what it is sorted by.
struct Item {
    elem: Vec<u8>,
    score: f64,
    /// ALPHA with BY: the external value (None when the key is missing).
    cmp: Option<Vec<u8>>,
}

/// Redis's lookupKeyByPattern: `#` is the element itself; otherwise the first `*` is replaced
/// by the element, and `->field` after it reads a hash field. Only strings (or the hash
/// field) are returned.
fn lookup_by_pattern(ctx: &mut Ctx, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    // The pattern behaves as a C string.
    let pattern = &pattern[..memchr::memchr(0, pattern).unwrap_or(pattern.len())];
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let star = memchr::memchr(b'*', pattern)?;
    let after = &pattern[star + 1..];
    let (postfix, field) = match memchr::memmem::find(after, b"->") {
        Some(i) if i + 2 < after.len() => (&after[..i], Some(&after[i + 2..])),
        _ => (after, None),
    };
    let mut key = Vec::with_capacity(pattern.len() + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(postfix);
    let db = ctx.client.db;
    let now = ctx.now_ms;
    let touch = !ctx.client.has(crate::exec::client::flags::NO_TOUCH);
    let entry = ctx.ex.lookup_read(db, &key, now, touch)?;
    match (field, &entry.value) {
        // An expired field reads as missing (it is not deleted here).
        (Some(f), Value::Hash(h)) => h
            .get_with_ttl(f)
            .filter(|(_, ttl)| !crate::keyspace::types::hash::expired(*ttl, now))
            .map(|(v, _)| v.to_vec()),
        (None, v) => v.str_to_vec(),
        _ => None,
    }
}

/// strtod over the value as a C string, as SORT converts: leading spaces are skipped, an
/// empty string is 0; trailing bytes, out-of-range values and NaN are errors.
fn sort_score(v: &[u8]) -> Option<f64> {
    let mut buf = Vec::with_capacity(v.len() + 1);
    buf.extend_from_slice(v);
    buf.push(0);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `buf` is NUL-terminated; strtod reads up to the NUL and sets `end` inside it.
    // errno is thread-local and reset first so only this call's range error is seen.
    let (n, range_error, at_end) = unsafe {
        *libc::__errno_location() = 0;
        let n = libc::strtod(buf.as_ptr().cast(), &mut end);
        (n, *libc::__errno_location() == libc::ERANGE, *end == 0)
    };
    (at_end && !range_error && !n.is_nan()).then_some(n)
}

pub fn sort(ctx: &mut Ctx) -> CmdResult {
    sort_generic(ctx, false)
}

pub fn sort_ro(ctx: &mut Ctx) -> CmdResult {
    sort_generic(ctx, true)
}

/// May the client's user read every key with this command (SORT's BY and GET patterns)?
fn reads_any_key(ctx: &Ctx) -> bool {
    ctx.ex.acl_reads_any_key(ctx.client.user, ctx.cmd, ctx.argv)
}

fn sort_generic(ctx: &mut Ctx, readonly: bool) -> CmdResult {
    let argv = ctx.argv;
    let (mut desc, mut alpha, mut dontsort) = (false, false, false);
    let (mut limit_start, mut limit_count) = (0i64, -1i64);
    let mut sortby: Option<&[u8]> = None;
    let mut store: Option<&[u8]> = None;
    let mut gets: Vec<&[u8]> = Vec::new();
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = argv[j];
        if eq(a, "asc") {
            desc = false;
        } else if eq(a, "desc") {
            desc = true;
        } else if eq(a, "alpha") {
            alpha = true;
        } else if eq(a, "limit") && left >= 2 {
            let long = |v: &[u8]| {
                crate::util::num::parse_i64(v).ok_or_else(|| CmdError::from(err::NOT_INTEGER))
            };
            limit_start = long(argv[j + 1])?;
            limit_count = long(argv[j + 2])?;
            j += 2;
        } else if !readonly && eq(a, "store") && left >= 1 {
            store = Some(argv[j + 1]);
            j += 1;
        } else if eq(a, "by") && left >= 1 {
            sortby = Some(argv[j + 1]);
            if !argv[j + 1].contains(&b'*') {
                dontsort = true;
            } else if !reads_any_key(ctx) {
                // A pattern may name any key: only a user who may read every key uses one.
                return Err(err::SORT_BY_ACL.into());
            }
            j += 1;
        } else if eq(a, "get") && left >= 1 {
            if !reads_any_key(ctx) {
                return Err(err::SORT_GET_ACL.into());
            }
            gets.push(argv[j + 1]);
            j += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }

    let db = ctx.client.db;
    let now = ctx.now_ms;
    let touch = !ctx.client.has(crate::exec::client::flags::NO_TOUCH);
    enum Kind {
        List,
        Set,
        ZSet,
    }
    let kind = match ctx
        .ex
        .lookup_read(db, argv[1], now, touch)
        .map(|e| &e.value)
    {
        None | Some(Value::List(_)) => Kind::List,
        Some(Value::Set(_)) => Kind::Set,
        Some(Value::ZSet(_)) => Kind::ZSet,
        Some(_) => return Err(err::WRONGTYPE.into()),
    };
    // A set has no order of its own: sorted alphabetically when the result is stored or a
    // script reads it, so replicas and the AOF see the same order.
    let scripted = ctx.client.has(crate::exec::client::flags::SCRIPT);
    if dontsort && matches!(kind, Kind::Set) && (store.is_some() || scripted) {
        dontsort = false;
        alpha = true;
        sortby = None;
    }
    let value = ctx.ex.dbs[db].peek(argv[1]).map(|e| &e.value);
    let len = match value {
        Some(Value::List(l)) => l.len(),
        Some(Value::Set(s)) => s.len_live(now),
        Some(Value::ZSet(z)) => z.len(),
        _ => 0,
    } as i64;
    // LIMIT clamping exactly as Redis, including its empty-range encoding.
    let mut start = limit_start.max(0).min(len);
    let limit_count = limit_count.max(-1).min(len);
    let mut end = if limit_count < 0 {
        len - 1
    } else {
        start + limit_count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    let ranged = !matches!(kind, Kind::Set) && dontsort && (start != 0 || end != len - 1);
    let mut elems: Vec<Vec<u8>> = Vec::new();
    match value {
        Some(Value::List(l)) if dontsort && end >= start => {
            let n = (end - start + 1) as usize;
            if desc {
                l.for_range((len - 1 - end) as usize, n, true, |e| {
                    elems.push(e.to_vec())
                });
            } else {
                l.for_range(start as usize, n, false, |e| elems.push(e.to_vec()));
            }
            end -= start;
            start = 0;
        }
        // An empty LIMIT range of an unsorted list loads nothing.
        Some(Value::List(_)) if dontsort => {}
        Some(Value::List(l)) => l.for_range(0, len as usize, false, |e| elems.push(e.to_vec())),
        Some(Value::Set(s)) => elems.extend(s.iter_live(now).map(|m| m.to_vec())),
        Some(Value::ZSet(z)) if dontsort => {
            let n = if ranged { end - start + 1 } else { len }.max(0) as usize;
            let from = if desc {
                z.at_rank((len - 1 - start).max(0) as usize)
            } else {
                z.at_rank(start.max(0) as usize)
            };
            if n > 0 {
                elems.extend(z.walk(from, desc).take(n).map(|(m, _)| m.to_vec()));
            }
            end -= start;
            start = 0;
        }
        Some(Value::ZSet(z)) => elems.extend(z.iter().map(|(m, _)| m.to_vec())),
        _ => {}
    }
    let mut items: Vec<Item> = elems
        .into_iter()
        .map(|elem| Item {
            elem,
            score: 0.0,
            cmp: None,
        })
        .collect();

    if !dontsort {
        let mut conversion_error = false;
        for it in &mut items {
            let by = match sortby {
                Some(p) => match lookup_by_pattern(ctx, p, &it.elem) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.elem.clone(),
            };
            if alpha {
                if sortby.is_some() {
                    it.cmp = Some(by);
                }
            } else {
                match sort_score(&by) {
                    Some(s) => it.score = s,
                    None => conversion_error = true,
                }
            }
        }
        if conversion_error {
            return Err(err::SORT_NOT_DOUBLE.into());
        }
        let by_pattern = sortby.is_some();
        items.sort_by(|a, b| {
            let ord = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| a.elem.cmp(&b.elem))
            } else if by_pattern {
                match (&a.cmp, &b.cmp) {
                    (Some(x), Some(y)) => x.cmp(y),
                    (x, y) => x.is_some().cmp(&y.is_some()),
                }
            } else {
                a.elem.cmp(&b.elem)
            };
            if desc {
                ord.reverse()
            } else {
                ord
            }
        });
    }

    let range: &[Item] = if end >= start && start >= 0 {
        &items[start as usize..=(end as usize).min(items.len().saturating_sub(1))]
    } else {
        &[]
    };
    let per = gets.len().max(1);
    let outputlen = range.len() * per;
    let mut rows: Vec<Option<Vec<u8>>> = Vec::with_capacity(outputlen);
    for it in range {
        if gets.is_empty() {
            rows.push(Some(it.elem.clone()));
        }
        for g in &gets {
            rows.push(lookup_by_pattern(ctx, g, &it.elem));
        }
    }
    match store {
        None => {
            let out = ctx.out();
            out.array(rows.len());
            for r in &rows {
                match r {
                    Some(v) => out.bulk(v),
                    None => out.null(),
                }
            }
        }
        Some(dst) => {
            if rows.is_empty() {
                if ctx.ex.dbs[db].remove(dst).is_some() {
                    ctx.modified(dst, notify::GENERIC, "del");
                }
            } else {
                let s = &ctx.ex.settings;
                let mut list = List::new(s.list_max_listpack_size, s.list_compress_depth);
                for r in &rows {
                    list.push_back(r.as_deref().unwrap_or(b""));
                }
                let lru = ctx.new_lru();
                let was = ctx.ex.dbs[db].set(dst, Value::List(Box::new(list)), false, lru);
                ctx.overwritten(dst, was);
                ctx.ex.signal_ready(db, dst);
                ctx.notify(notify::LIST, "sortstore", dst);
                ctx.ex.signal_modified(db, dst);
                ctx.ex.dirty += rows.len() as u64;
            }
            ctx.out().int(rows.len() as i64);
        }
    }
    Ok(())
}
