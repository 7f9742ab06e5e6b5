//! The "hyperloglog" group: PFADD, PFCOUNT, PFMERGE, and the internal PFDEBUG and PFSELFTEST.
//!
//! An HLL is an ordinary string value holding Redis's HYLL bytes (see `keyspace::hll`), so
//! GET, DUMP and SET see exactly what Redis would store.

use crate::cmd::args::eq;
use crate::cmd::meta_gen as m;
use crate::cmd::table::Handler;
use crate::config::notify;
use crate::exec::Ctx;
use crate::keyspace::bytes::CompactBytes;
use crate::keyspace::db::NO_EXPIRE;
use crate::keyspace::hll::{self, Corrupt, Encoding, SelfTestFailure};
use crate::keyspace::value::Value;
use crate::resp::errors::{self as err, CmdError, CmdResult};

fn corrupt(_: Corrupt) -> CmdError {
    err::HLL_INVALID.into()
}

/// Redis's isHLLObjectOrReply: the value's bytes if it is a well-formed HLL header, plain
/// WRONGTYPE for other types, the HLL WRONGTYPE text for other strings (int-encoded too).
fn hll_bytes(v: &Value) -> Result<(Encoding, &[u8]), CmdError> {
    if !v.is_string() {
        return Err(err::WRONGTYPE.into());
    }
    match v {
        Value::Str(s) => hll::encoding_of(s.as_slice())
            .map(|enc| (enc, s.as_slice()))
            .ok_or_else(|| err::HLL_WRONGTYPE.into()),
        _ => Err(err::HLL_WRONGTYPE.into()),
    }
}

/// The checked HLL, made mutable in place (Redis's dbUnshareStringValue: the value becomes
/// `raw`).
fn hll_bytes_mut(v: &mut Value) -> Result<(Encoding, &mut CompactBytes), CmdError> {
    let (enc, _) = hll_bytes(v)?;
    let s = v
        .str_make_mut()
        .ok_or_else(|| CmdError::from(err::HLL_WRONGTYPE))?;
    Ok((enc, s))
}

/// A new empty HLL value; Redis creates it as a `raw` string.
fn new_hll_value() -> Value {
    let mut s = CompactBytes::from_vec(hll::new_sparse());
    s.mark_mutated();
    Value::Str(s)
}

/// Creates an empty HLL at `key` in the client's db (the caller knows it is absent).
fn create_hll(ctx: &mut Ctx, key: &[u8]) {
    let lru = ctx.new_lru();
    ctx.db().insert(key, new_hll_value(), NO_EXPIRE, lru);
}

/// The HLL stored at `key`, which the caller just checked or created.
fn stored_hll<'a>(ctx: &'a mut Ctx, key: &[u8]) -> &'a mut CompactBytes {
    ctx.db()
        .peek_mut(key)
        .and_then(|e| e.value.str_make_mut())
        .expect("HLL checked or created just before")
}

/// Adds every element; returns how many changed a register.
fn add_elements(
    buf: &mut CompactBytes,
    elements: &[&[u8]],
    max_bytes: usize,
) -> Result<u64, Corrupt> {
    let mut changed = 0;
    for e in elements {
        if hll::add(buf, e, max_bytes)? {
            changed += 1;
        }
    }
    Ok(changed)
}

pub fn pfadd(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let key = argv[1];
    let max_bytes = ctx.ex.settings.hll_sparse_max_bytes;
    // Creating the key counts as an update even when no element is given.
    let mut updated = match ctx.write(key) {
        Some(e) => {
            hll_bytes_mut(&mut e.value)?;
            0
        }
        None => {
            create_hll(ctx, key);
            1
        }
    };
    let buf = stored_hll(ctx, key);
    // On a corrupt HLL, registers already raised stay raised, as in Redis.
    updated += add_elements(buf, &argv[2..], max_bytes).map_err(corrupt)?;
    if updated > 0 {
        hll::invalidate_cache(buf.as_mut_slice());
        ctx.modified(key, notify::STRING, "pfadd");
        // Redis adds one to the dirty counter per changed register.
        ctx.ex.dirty += updated - 1;
    }
    ctx.out().int(i64::from(updated > 0));
    Ok(())
}

/// The register-wise maximum of the HLLs at `keys` (missing keys count as empty), and
/// whether any of them is dense.
fn union(ctx: &mut Ctx, keys: &[&[u8]]) -> Result<(Vec<u8>, bool), CmdError> {
    let mut max = vec![0u8; hll::REGISTERS];
    let mut any_dense = false;
    for key in keys {
        let Some(e) = ctx.read(key) else { continue };
        let (enc, bytes) = hll_bytes(&e.value)?;
        any_dense |= enc == Encoding::Dense;
        hll::merge_into(&mut max, bytes).map_err(corrupt)?;
    }
    Ok((max, any_dense))
}

pub fn pfcount(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    if argv.len() > 2 {
        // Several keys: the cardinality of their union, computed without storing anything.
        let (max, _) = union(ctx, &argv[1..])?;
        ctx.out().int(hll::count_registers(&max) as i64);
        return Ok(());
    }
    let key = argv[1];
    let Some(e) = ctx.read(key) else {
        ctx.out().int(0);
        return Ok(());
    };
    let (_, buf) = hll_bytes_mut(&mut e.value)?;
    let card = match hll::cached_card(buf.as_slice()) {
        Some(card) => card,
        None => {
            let card = hll::count(buf.as_slice()).map_err(corrupt)?;
            // The cache lives in the value: a change to replicate, though no event is sent.
            hll::set_cached_card(buf.as_mut_slice(), card);
            let db = ctx.client.db;
            ctx.ex.dirty += 1;
            ctx.ex.signal_modified(db, key);
            card
        }
    };
    ctx.out().int(card as i64);
    Ok(())
}

pub fn pfmerge(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let dest = argv[1];
    let max_bytes = ctx.ex.settings.hll_sparse_max_bytes;
    // The destination is one of the inputs, and is checked with them.
    let (max, any_dense) = union(ctx, &argv[1..])?;
    if ctx.write(dest).is_none() {
        create_hll(ctx, dest);
    }
    let buf = stored_hll(ctx, dest);
    // The target stays sparse (if it is) unless an input was dense; raising registers may
    // still promote it.
    if any_dense {
        hll::to_dense(buf).map_err(corrupt)?;
    }
    for (index, &value) in max.iter().enumerate() {
        if value != 0 {
            // Cannot fail: the destination was validated by the union above.
            let _ = hll::raise(buf, index, value, max_bytes);
        }
    }
    hll::invalidate_cache(buf.as_mut_slice());
    // Redis reports a merge as a mass "pfadd".
    ctx.modified(dest, notify::STRING, "pfadd");
    ctx.out().ok();
    Ok(())
}

pub fn pfdebug(ctx: &mut Ctx) -> CmdResult {
    let (sub, key) = (ctx.argv[1], ctx.argv[2]);
    let Some(e) = ctx.write(key) else {
        return Err(err::HLL_NO_KEY.into());
    };
    let (enc, buf) = hll_bytes_mut(&mut e.value)?;
    if eq(sub, "getreg") {
        let converted = hll::to_dense(buf).map_err(corrupt)?;
        let regs = hll::dense_registers(buf.as_slice());
        if converted {
            ctx.ex.dirty += 1;
        }
        let out = ctx.out();
        out.array(regs.len());
        for r in regs {
            out.int(i64::from(r));
        }
    } else if eq(sub, "decode") {
        if enc != Encoding::Sparse {
            return Err(err::HLL_NOT_SPARSE.into());
        }
        let text = hll::decode_sparse(buf.as_slice());
        ctx.out().bulk(text.as_bytes());
    } else if eq(sub, "encoding") {
        ctx.out().simple(enc.name().as_bytes());
    } else if eq(sub, "todense") {
        let converted = hll::to_dense(buf).map_err(corrupt)?;
        if converted {
            ctx.ex.dirty += 1;
        }
        ctx.out().int(i64::from(converted));
    } else {
        return Err(err::pfdebug_unknown_subcommand(sub));
    }
    Ok(())
}

pub fn pfselftest(ctx: &mut Ctx) -> CmdResult {
    let seed = ctx.ex.random_u64();
    hll::self_test(ctx.ex.settings.hll_sparse_max_bytes, seed).map_err(|f| match f {
        SelfTestFailure::Register {
            index,
            expected,
            got,
        } => err::hll_test_register(index, expected, got),
        SelfTestFailure::SparseNotUsed => err::HLL_TEST_SPARSE_NOT_USED.into(),
        SelfTestFailure::Disagree => err::HLL_TEST_DISAGREE.into(),
        SelfTestFailure::TooBigError { card, abserr } => err::hll_test_too_big_error(card, abserr),
    })?;
    ctx.out().ok();
    Ok(())
}

pub const HANDLERS: &[(&crate::cmd::meta::CommandMeta, Handler)] = &[
    (&m::PFADD, pfadd),
    (&m::PFCOUNT, pfcount),
    (&m::PFMERGE, pfmerge),
    (&m::PFDEBUG, pfdebug),
    (&m::PFSELFTEST, pfselftest),
];
