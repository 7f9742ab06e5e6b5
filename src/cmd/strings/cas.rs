//! Compare-and-set and compare-and-delete on strings: SET's IFEQ/IFNE/IFDEQ/IFDNE conditions
//! and DELEX, DIGEST (Redis 8.4), DELIFEQ (Valkey 9.0). A lock is released by deleting its key
//! only while it still holds the owner's token, in one command instead of a Lua script.

use crate::cmd::args::eq;
use crate::config::notify;
use crate::exec::Ctx;
use crate::keyspace::value::Value;
use crate::resp::errors::{self as err, CmdError, CmdResult};

/// Hex digits of a digest (Redis's DIGEST_HEX_LENGTH).
const DIGEST_HEX_LEN: usize = 16;

/// A condition on a key's current string value.
#[derive(Clone, Copy)]
pub enum Condition<'a> {
    /// The value equals this one (the key must exist).
    ValueIs(&'a [u8]),
    /// The value differs from this one, or the key is missing.
    ValueIsNot(&'a [u8]),
    /// The value's digest is this one (the key must exist).
    DigestIs(u64),
    /// The value's digest differs from this one, or the key is missing.
    DigestIsNot(u64),
}

impl<'a> Condition<'a> {
    /// The condition `token arg` names, `Ok(None)` if `token` is not one; a digest must be
    /// 16 hex digits (either case).
    pub fn parse(token: &[u8], arg: &'a [u8]) -> Result<Option<Condition<'a>>, CmdError> {
        Ok(Some(if eq(token, "IFEQ") {
            Condition::ValueIs(arg)
        } else if eq(token, "IFNE") {
            Condition::ValueIsNot(arg)
        } else if eq(token, "IFDEQ") {
            Condition::DigestIs(parse_digest(arg)?)
        } else if eq(token, "IFDNE") {
            Condition::DigestIsNot(parse_digest(arg)?)
        } else {
            return Ok(None);
        }))
    }

    /// True if the key must exist for the condition to hold (IFEQ, IFDEQ).
    pub fn needs_key(self) -> bool {
        matches!(self, Condition::ValueIs(_) | Condition::DigestIs(_))
    }

    /// Whether the condition holds for a key's current string value.
    pub fn holds(self, current: &[u8]) -> bool {
        match self {
            Condition::ValueIs(v) => current == v,
            Condition::ValueIsNot(v) => current != v,
            Condition::DigestIs(d) => digest(current) == d,
            Condition::DigestIsNot(d) => digest(current) != d,
        }
    }

    /// Whether it holds for the value at a key (None: missing); WRONGTYPE if not a string.
    pub fn holds_for(self, value: Option<&Value>) -> Result<bool, CmdError> {
        let Some(v) = value else {
            return Ok(!self.needs_key());
        };
        let mut bytes = v.str_bytes().ok_or(err::WRONGTYPE)?;
        Ok(self.holds(bytes.as_slice()))
    }
}

/// XXH3-64 (seed 0) of a string value, as DIGEST and IFDEQ/IFDNE compute it.
pub fn digest(value: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(value)
}

/// A digest as DIGEST prints it: 16 lowercase hex digits, leading zeros kept.
pub fn digest_hex(d: u64) -> [u8; DIGEST_HEX_LEN] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; DIGEST_HEX_LEN];
    for (i, b) in out.iter_mut().enumerate() {
        *b = HEX[((d >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

/// A digest argument: exactly 16 hex digits, compared without regard to case.
fn parse_digest(arg: &[u8]) -> Result<u64, CmdError> {
    if arg.len() != DIGEST_HEX_LEN || !arg.iter().all(u8::is_ascii_hexdigit) {
        return Err(err::DIGEST_LENGTH.into());
    }
    let text = std::str::from_utf8(arg).map_err(|_| err::DIGEST_LENGTH)?;
    u64::from_str_radix(text, 16).map_err(|_| err::DIGEST_LENGTH.into())
}

/// DIGEST key: the value's digest, null for a missing key.
pub fn digest_cmd(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let d = match ctx.ex.lookup_read(db, key, now, true) {
        None => None,
        Some(e) => {
            let mut bytes = e.value.str_bytes().ok_or(err::WRONGTYPE)?;
            Some(digest(bytes.as_slice()))
        }
    };
    match d {
        None => ctx.out().null(),
        Some(d) => ctx.out().bulk(&digest_hex(d)),
    }
    Ok(())
}

/// Deletes a key a condition allowed to go, as DEL would (event, invalidation, propagation).
fn delete_checked(ctx: &mut Ctx, key: &[u8]) {
    ctx.db().remove(key);
    ctx.modified(key, notify::GENERIC, "del");
    ctx.propagate_as(&[b"DEL", key]);
    ctx.out().int(1);
}

/// DELEX key [IFEQ v | IFNE v | IFDEQ d | IFDNE d]: without a condition, DEL of one key (any
/// type); with one, the key must hold a string, and goes only if the condition holds.
pub fn delex(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.argv[1];
    let condition = match ctx.argv.len() {
        2 => None,
        4 => Some(Condition::parse(ctx.argv[2], ctx.argv[3])?.ok_or(err::SYNTAX)?),
        _ => return Err(err::SYNTAX.into()),
    };
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let Some(e) = ctx.ex.lookup_write(db, key, now) else {
        ctx.out().int(0);
        return Ok(());
    };
    if let Some(c) = condition {
        if !c.holds_for(Some(&e.value))? {
            ctx.out().int(0);
            return Ok(());
        }
    }
    delete_checked(ctx, key);
    Ok(())
}

/// DELIFEQ key value (Valkey): deletes the key only while it holds `value`.
pub fn delifeq(ctx: &mut Ctx) -> CmdResult {
    let (key, value) = (ctx.argv[1], ctx.argv[2]);
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let Some(e) = ctx.ex.lookup_write(db, key, now) else {
        ctx.out().int(0);
        return Ok(());
    };
    if !Condition::ValueIs(value).holds_for(Some(&e.value))? {
        ctx.out().int(0);
        return Ok(());
    }
    delete_checked(ctx, key);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_xxh3_in_sixteen_hex_digits() {
        // The value from redis/redis#14496, whose digest has leading zeros.
        let v = b"v8lf0c11xh8ymlqztfd3eeq16kfn4sspw7fqmnuuq3k3t75em5wdizgcdw7uc26nnf961u2jkfzkjytls2kwlj7626sd";
        assert_eq!(&digest_hex(digest(v)), b"00006c38adf31777");
        assert_eq!(parse_digest(b"00006C38ADF31777").ok(), Some(digest(v)));
        assert!(parse_digest(b"6c38adf31777").is_err());
        assert!(parse_digest(b"00006c38adf3177g").is_err());
    }

    #[test]
    fn conditions_on_missing_keys() {
        assert!(!Condition::ValueIs(b"a").holds_for(None).unwrap());
        assert!(Condition::ValueIsNot(b"a").holds_for(None).unwrap());
        assert!(!Condition::DigestIs(1).holds_for(None).unwrap());
        assert!(Condition::DigestIsNot(1).holds_for(None).unwrap());
        let v = Value::Int(12);
        assert!(Condition::ValueIs(b"12").holds_for(Some(&v)).unwrap());
        assert!(Condition::DigestIs(digest(b"12"))
            .holds_for(Some(&v))
            .unwrap());
    }
}
