//! The dataset as commands: an AOF base without the RDB preamble (aof-use-rdb-preamble no),
//! as Redis's rewriteAppendOnlyFileRio writes it. Collections go in batches of 64 items.

use std::io::{self, Write};

use crate::exec::propagate::encode_command;
use crate::exec::Executor;
use crate::keyspace::db::NO_EXPIRE;
use crate::keyspace::types::stream::{Stream, StreamId};
use crate::keyspace::value::Value;

/// Redis's AOF_REWRITE_ITEMS_PER_CMD.
const ITEMS_PER_COMMAND: usize = 64;

fn num(v: impl itoa::Integer) -> Vec<u8> {
    itoa::Buffer::new().format(v).as_bytes().to_vec()
}

fn emit<W: Write>(w: &mut W, buf: &mut Vec<u8>, args: &[&[u8]]) -> io::Result<()> {
    buf.clear();
    encode_command(buf, args.iter().copied());
    w.write_all(buf)
}

/// Emits `head` followed by `items` in commands of at most 64 items (`per_item` arguments
/// each).
fn batched<W: Write>(
    w: &mut W,
    buf: &mut Vec<u8>,
    head: &[&[u8]],
    items: &[Vec<u8>],
    per_item: usize,
) -> io::Result<()> {
    for chunk in items.chunks(ITEMS_PER_COMMAND * per_item) {
        let mut args: Vec<&[u8]> = head.to_vec();
        args.extend(chunk.iter().map(Vec::as_slice));
        emit(w, buf, &args)?;
    }
    Ok(())
}

pub fn write_commands<W: Write>(ex: &Executor, w: &mut W) -> io::Result<()> {
    let mut buf = Vec::new();
    write_functions(ex, w)?;
    let mut saved = 0u64;
    for (i, db) in ex.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        select(w, &mut buf, i)?;
        for (k, e) in db.keys().iter() {
            write_key(w, &mut buf, k, e, db.entry_expire_at(k, e))?;
            saved += 1;
            super::report_progress(saved);
        }
    }
    Ok(())
}

/// The function libraries, which come before the data.
pub fn write_functions<W: Write>(ex: &Executor, w: &mut W) -> io::Result<()> {
    let mut buf = Vec::new();
    if let Some(f) = ex.functions.as_deref() {
        for lib in f.libraries.values() {
            emit(w, &mut buf, &[b"FUNCTION", b"LOAD", &lib.code])?;
        }
    }
    Ok(())
}

/// Switches to db `i`.
pub fn select<W: Write>(w: &mut W, buf: &mut Vec<u8>, i: usize) -> io::Result<()> {
    emit(w, buf, &[b"SELECT", &num(i)])
}

/// One key as the commands that make it, and its TTL.
pub fn write_key<W: Write>(
    w: &mut W,
    buf: &mut Vec<u8>,
    key: &[u8],
    e: &crate::keyspace::db::Entry,
    expire_at_ms: i64,
) -> io::Result<()> {
    match &e.value {
        Value::Str(s) => emit(w, buf, &[b"SET", key, s])?,
        Value::Int(n) => emit(w, buf, &[b"SET", key, &num(*n)])?,
        Value::List(l) => {
            let mut items = Vec::with_capacity(l.len());
            l.scan(true, |v| {
                items.push(v.to_vec());
                std::ops::ControlFlow::Continue(())
            });
            batched(w, buf, &[b"RPUSH", key], &items, 1)?;
        }
        Value::Set(s) => {
            let items: Vec<Vec<u8>> = s.iter().map(|m| m.to_vec()).collect();
            batched(w, buf, &[b"SADD", key], &items, 1)?;
            // Member TTLs after the members, one SPEXPIREAT each.
            for (m, ttl) in s.ttls() {
                emit(
                    w,
                    buf,
                    &[b"SPEXPIREAT", key, &num(ttl), b"MEMBERS", b"1", m],
                )?;
            }
        }
        Value::Hash(h) => {
            let mut items = Vec::with_capacity(h.len() * 2);
            for (f, v) in h.iter() {
                items.push(f.to_vec());
                items.push(v.to_vec());
            }
            batched(w, buf, &[b"HMSET", key], &items, 2)?;
            // Field TTLs after the fields, one HPEXPIREAT each (Redis 7.4's
            // rewriteHashObject).
            for (f, _, ttl) in h.iter().with_ttl().filter(|(_, _, ttl)| *ttl > 0) {
                emit(w, buf, &[b"HPEXPIREAT", key, &num(ttl), b"FIELDS", b"1", f])?;
            }
        }
        Value::ZSet(z) => {
            let mut items = Vec::with_capacity(z.len() * 2);
            for (m, score) in z.walk(z.first(), false) {
                let mut s = Vec::new();
                crate::util::num::push_g17(&mut s, score);
                items.push(s);
                items.push(m.to_vec());
            }
            batched(w, buf, &[b"ZADD", key], &items, 2)?;
        }
        Value::Stream(s) => stream(w, buf, key, s)?,
    }
    if expire_at_ms != NO_EXPIRE {
        emit(w, buf, &[b"PEXPIREAT", key, &num(expire_at_ms)])?;
    }
    Ok(())
}

/// Redis's rewriteStreamObject: entries as XADD, then XSETID, groups, pending entries.
fn stream<W: Write>(w: &mut W, buf: &mut Vec<u8>, key: &[u8], s: &Stream) -> io::Result<()> {
    if s.length > 0 {
        let mut res = Ok(());
        s.for_each_in(StreamId::MIN, StreamId::MAX, false, |e| {
            let id = e.id.to_bytes();
            let mut args: Vec<&[u8]> = vec![b"XADD", key, &id];
            args.extend(e.flat());
            res = emit(w, buf, &args);
            res.is_ok()
        });
        res?;
    } else {
        // An empty stream: XADD with MAXLEN 0 makes the key (Redis's trick).
        emit(w, buf, &[b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"])?;
    }
    emit(
        w,
        buf,
        &[
            b"XSETID",
            key,
            &s.last_id.to_bytes(),
            b"ENTRIESADDED",
            &num(s.entries_added),
            b"MAXDELETEDID",
            &s.max_deleted_id.to_bytes(),
        ],
    )?;
    for (name, g) in &s.groups {
        emit(
            w,
            buf,
            &[
                b"XGROUP",
                b"CREATE",
                key,
                name,
                &g.last_id.to_bytes(),
                b"ENTRIESREAD",
                &num(g.entries_read),
            ],
        )?;
        for (cname, c) in &g.consumers {
            if c.pel.is_empty() {
                emit(w, buf, &[b"XGROUP", b"CREATECONSUMER", key, name, cname])?;
                continue;
            }
            for id in &c.pel {
                let Some(n) = g.pel.get(id) else {
                    continue;
                };
                emit(
                    w,
                    buf,
                    &[
                        b"XCLAIM",
                        key,
                        name,
                        cname,
                        b"0",
                        &id.to_bytes(),
                        b"TIME",
                        &num(n.delivery_time),
                        b"RETRYCOUNT",
                        &num(n.delivery_count),
                        b"JUSTID",
                        b"FORCE",
                    ],
                )?;
            }
        }
    }
    Ok(())
}
