//! DEBUG DIGEST / DIGEST-VALUE: a SHA1-based fingerprint of the dataset that is equal for
//! equal datasets whatever their encodings or insertion order (Redis's debug.c scheme:
//! ordered collections mix their elements in order, unordered ones xor per-element digests).
//! Strings, lists, sets, hashes and sorted sets digest as Redis's do; streams mix their
//! entries and groups rather than Redis's listpack bytes (see docs/compat.md).

use sha1::{Digest as _, Sha1};

use super::db::{Db, Entry};
use super::types::set::Member;
use super::value::Value;
use crate::util::num::{push_g17, push_i64};

pub type Digest = [u8; 20];

/// digest ^= SHA1(data).
fn xor(digest: &mut Digest, data: &[u8]) {
    let hash = Sha1::digest(data);
    for (d, h) in digest.iter_mut().zip(hash.iter()) {
        *d ^= h;
    }
}

/// digest = SHA1(digest ^ SHA1(data)): order-dependent.
fn mix(digest: &mut Digest, data: &[u8]) {
    xor(digest, data);
    let hash = Sha1::digest(&digest[..]);
    digest.copy_from_slice(&hash);
}

fn mix_int(digest: &mut Digest, v: i64, buf: &mut Vec<u8>) {
    buf.clear();
    push_i64(buf, v);
    mix(digest, buf);
}

/// Redis's object type numbers (OBJ_STRING...).
fn type_code(v: &Value) -> u32 {
    match v {
        Value::Str(_) | Value::Int(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    }
}

/// Mixes one key's value (and whether it has a TTL) into `digest` (xorObjectDigest).
pub fn value_digest(entry: &Entry, digest: &mut Digest) {
    let mut buf = Vec::new();
    mix(digest, &type_code(&entry.value).to_be_bytes());
    match &entry.value {
        Value::Str(s) => mix(digest, s.as_slice()),
        Value::Int(i) => mix_int(digest, *i, &mut buf),
        Value::List(l) => l.for_range(0, l.len(), false, |e| mix(digest, e)),
        Value::Set(s) => {
            for m in s.iter() {
                match m {
                    Member::Bytes(b) => xor(digest, b),
                    Member::Int(i) => {
                        buf.clear();
                        push_i64(&mut buf, i);
                        xor(digest, &buf);
                    }
                }
            }
            // Member TTLs are data too: each mixes in with its member.
            for (m, ttl) in s.ttls() {
                let mut ele = [0u8; 20];
                mix(&mut ele, m);
                mix(&mut ele, itoa::Buffer::new().format(ttl).as_bytes());
                xor(digest, &ele);
            }
        }
        Value::ZSet(z) => {
            for (member, score) in z.iter() {
                let mut ele = [0u8; 20];
                mix(&mut ele, member);
                buf.clear();
                push_g17(&mut buf, score);
                mix(&mut ele, &buf);
                xor(digest, &ele);
            }
        }
        Value::Hash(h) => {
            for (field, value, ttl) in h.iter().with_ttl() {
                let mut ele = [0u8; 20];
                mix(&mut ele, field);
                mix(&mut ele, value);
                // A field TTL is data too (replicas and reloads must agree on it).
                if ttl > 0 {
                    mix(&mut ele, itoa::Buffer::new().format(ttl).as_bytes());
                }
                xor(digest, &ele);
            }
        }
        // Redis 7.0 mixes each entry's ID as "ms.seq", then its fields and values; consumer
        // groups are not part of the digest.
        Value::Stream(s) => {
            let mut id = Vec::with_capacity(42);
            s.for_each_in(
                super::types::stream::StreamId::MIN,
                super::types::stream::StreamId::MAX,
                false,
                |e| {
                    id.clear();
                    id.extend_from_slice(itoa::Buffer::new().format(e.id.ms).as_bytes());
                    id.push(b'.');
                    id.extend_from_slice(itoa::Buffer::new().format(e.id.seq).as_bytes());
                    mix(digest, &id);
                    e.for_each(|f, v| {
                        mix(digest, f);
                        mix(digest, v);
                    });
                    true
                },
            );
        }
    }
    if entry.has_expire() {
        xor(digest, b"!!expire!!");
    }
}

/// The digest of one key (key name and value), as DEBUG DIGEST combines them.
fn key_digest(key: &[u8], entry: &Entry) -> Digest {
    let mut d = [0u8; 20];
    mix(&mut d, key);
    value_digest(entry, &mut d);
    d
}

/// DEBUG DIGEST: all zeros for an empty dataset.
pub fn dataset_digest(dbs: &[Db]) -> Digest {
    let mut out = [0u8; 20];
    for (i, db) in dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        mix(&mut out, &(i as u32).to_be_bytes());
        for (k, e) in db.keys().iter() {
            let d = key_digest(k.as_slice(), e);
            xor(&mut out, &d);
        }
    }
    out
}

/// Lowercase hex, as DEBUG DIGEST replies.
pub fn hex(d: &Digest) -> [u8; 40] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 40];
    for (i, b) in d.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 15) as usize];
    }
    out
}
