//! The RDB file format (version 10, what Redis 7.0 writes): encoder and decoder.
//!
//! Sans I/O over byte buffers and `Write`/`Read`; the caller owns files. Layout:
//! "REDIS0010", aux fields, per database SELECTDB + RESIZEDB + entries, EOF, CRC-64.

use std::io::{self, Write};

use crc::{Crc, Table, CRC_64_REDIS};

use crate::keyspace::db::{Db, Entry, NO_EXPIRE};
use crate::keyspace::types::hash::{self, Hash};
use crate::keyspace::types::set::{self, Member, Set};
use crate::keyspace::types::stream::{Consumer, Group, Nack, Stream, StreamId};
use crate::keyspace::value::Value;
use crate::util::num::parse_i64;

use super::compact;

pub const RDB_VERSION: u16 = 10;
/// Oldest version we read.
pub const RDB_VERSION_MIN: u16 = 1;
/// Newest version we read with Redis's `REDIS` magic (Redis 7.4 writes 12; 8.x files of a
/// later version load when they hold only types we know, else the unknown type is refused
/// with its offset).
pub const RDB_VERSION_MAX: u16 = 15;
/// Valkey 9's versions, written after a `VALKEY` magic (Valkey keeps 12-79 for Redis's).
pub const VALKEY_VERSIONS: std::ops::RangeInclusive<u16> = 80..=81;

/// Which server line wrote a file or payload: type 22 means a different thing in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lineage {
    #[default]
    Redis,
    Valkey,
}

impl Lineage {
    /// The lineage of an RDB or DUMP payload version, None for one we do not read.
    pub fn of_version(version: u16) -> Option<Lineage> {
        if (RDB_VERSION_MIN..=RDB_VERSION_MAX).contains(&version) {
            Some(Lineage::Redis)
        } else if VALKEY_VERSIONS.contains(&version) {
            Some(Lineage::Valkey)
        } else {
            None
        }
    }
}

pub mod opcode {
    /// Redis 7.4+ in cluster mode: a slot's id and key counts before its keys (a hint).
    pub const SLOT_INFO: u8 = 244;
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

pub mod rtype {
    pub const STRING: u8 = 0;
    /// RDB_TYPE_ZSET: scores as text (version 1 files).
    pub const ZSET: u8 = 3;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const STREAM_LISTPACKS: u8 = 15;
    /// Redis 7.2's small sets.
    pub const SET_LISTPACK: u8 = 20;
    /// RDB_TYPE_SET: length, then each member as a string.
    pub const SET: u8 = 2;
    /// A plain list: length, then each element as a string.
    pub const LIST: u8 = 1;
    pub const HASH: u8 = 4;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_2: u8 = 5;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const LIST_QUICKLIST_2: u8 = 18;
    /// Redis 7.0's stream encoding (what we write).
    pub const STREAM_LISTPACKS_2: u8 = 19;
    /// Redis 7.2's (adds the consumers' active time).
    pub const STREAM_LISTPACKS_3: u8 = 21;
    /// Redis 7.4's hashes with field TTLs: pairs with a TTL each (absolute in the release
    /// candidate's form, relative to a minimum in the final one), or a listpack of triples.
    pub const HASH_METADATA_PRE_GA: u8 = 22;
    pub const HASH_LISTPACK_EX_PRE_GA: u8 = 23;
    pub const HASH_METADATA: u8 = 24;
    pub const HASH_LISTPACK_EX: u8 = 25;
    /// Valkey 9's hash with field TTLs (RDB_TYPE_HASH_2, the same number as Redis 7.4's
    /// HASH_METADATA_PRE_GA): count, then field, value, TTL (ms, -1 for none) for each.
    pub const VALKEY_HASH_2: u8 = 22;
    /// A set with member TTLs (Redis 8.12's set member expiration). Neither lineage has
    /// published a file format for it, so this one is cinnabar's own, laid out as
    /// HASH_METADATA without values: the earliest TTL (8 bytes, ms), the count, then each
    /// member's TTL relative to it plus one (0: none) before the member. The number is far
    /// from both lineages' types (up to 25) and below the opcodes (244 and up).
    pub const SET_MEMBER_TTLS: u8 = 64;
}

/// Quicklist node containers (RDB_TYPE_LIST_QUICKLIST_2).
const QUICKLIST_PLAIN: u64 = 1;
const QUICKLIST_PACKED: u64 = 2;

/// Alternating elements as pairs (hash field/value, zset member/score).
fn into_pairs(elements: Vec<Vec<u8>>, what: &str) -> Result<Vec<compact::Pair>, String> {
    if elements.len() % 2 != 0 {
        return Err(format!("Odd number of elements in a {what}"));
    }
    let mut it = elements.into_iter();
    let mut out = Vec::with_capacity(it.len() / 2);
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, b));
    }
    Ok(out)
}

/// The most an LZF stream can expand (a 3-byte back-reference copies 264 bytes).
const LZF_MAX_EXPANSION: usize = 90;

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Redis 7.4's version, the first with hash field TTLs (RDB_TYPE_HASH_METADATA).
pub const RDB_VERSION_FIELD_TTLS: u16 = 12;

/// The version a dataset is written in: 10, which Redis 7.0 and Valkey load, unless a hash
/// has field TTLs, which need Redis 7.4's 12 (logged, since older servers refuse it).
pub fn version_for(dbs: &[Db]) -> u16 {
    let keys: usize = dbs.iter().map(Db::keys_with_subkey_ttls).sum();
    if keys == 0 {
        return RDB_VERSION;
    }
    let sets: usize = dbs.iter().map(Db::sets_with_member_ttls).sum();
    let hashes = keys - sets;
    if sets == 0 {
        tracing::info!(
            "Writing RDB version {RDB_VERSION_FIELD_TTLS}: {hashes} hashes have field TTLs (Redis 7.4 and later load it, Redis 7.0 does not)"
        );
    } else {
        tracing::warn!(
            "Writing RDB version {RDB_VERSION_FIELD_TTLS}: {hashes} hashes have field TTLs and {sets} sets have member TTLs, saved as type {} (cinnabar's own: no other server loads this file)",
            rtype::SET_MEMBER_TTLS
        );
    }
    RDB_VERSION_FIELD_TTLS
}

/// The version a DUMP payload of `v` carries: 12 for a hash with field TTLs, else 10.
pub fn payload_version(v: &Value) -> u16 {
    if matches!(rdb_type(v), rtype::HASH_METADATA | rtype::SET_MEMBER_TTLS) {
        RDB_VERSION_FIELD_TTLS
    } else {
        RDB_VERSION
    }
}

/// The RDB type byte a value is saved with (Redis 7.0's plain encodings; streams as 7.0).
pub fn rdb_type(v: &Value) -> u8 {
    match v {
        Value::Str(_) | Value::Int(_) => rtype::STRING,
        Value::Set(s) if s.is_intset() => rtype::SET_INTSET,
        Value::Set(s) if s.has_ttls() => rtype::SET_MEMBER_TTLS,
        Value::Set(_) => rtype::SET,
        Value::List(_) => rtype::LIST,
        Value::Hash(h) if h.has_ttls() => rtype::HASH_METADATA,
        Value::Hash(h) if h.is_packed() => rtype::HASH_LISTPACK,
        Value::Hash(_) => rtype::HASH,
        Value::ZSet(z) if z.is_packed() => rtype::ZSET_LISTPACK,
        Value::ZSet(_) => rtype::ZSET_2,
        Value::Stream(_) => rtype::STREAM_LISTPACKS_2,
    }
}

/// The listpack Redis keeps for a small hash (field, value, ...) or sorted set (member,
/// score as d2string text, ... by ascending score): written as is in RDB files and DUMP
/// payloads, so ours are byte-identical.
pub fn compact_listpack(v: &Value) -> Option<Vec<u8>> {
    let mut lp = crate::keyspace::types::stream::listpack::Writer::new();
    match v {
        Value::Hash(h) if h.is_packed() && !h.has_ttls() => {
            for (f, val) in h.iter() {
                lp.string(f);
                lp.string(val);
            }
        }
        Value::ZSet(z) if z.is_packed() => {
            let mut score = Vec::new();
            for (m, s) in z.walk(z.first(), false) {
                lp.string(m);
                score.clear();
                crate::util::num::push_g17(&mut score, s);
                lp.string(&score);
            }
        }
        _ => return None,
    }
    Some(lp.finish())
}

/// Redis's CRC-64 (Jones), table-driven 16 bytes at a time.
pub static CRC64: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_REDIS);

/// Writes RDB bytes while keeping the running checksum.
pub struct Encoder<W: Write> {
    out: W,
    /// The running checksum; None where the bytes are checksummed elsewhere (a live
    /// snapshot's writer thread sums the whole stream).
    digest: Option<crc::Digest<'static, u64, Table<16>>>,
    pub compress: bool,
    pub written: u64,
    /// Reused output of LZF compression.
    lzf_buf: Vec<u8>,
}

impl<W: Write> Encoder<W> {
    pub fn new(out: W, compress: bool) -> Self {
        Encoder {
            out,
            digest: Some(CRC64.digest()),
            compress,
            written: 0,
            lzf_buf: Vec::new(),
        }
    }

    /// An encoder that keeps no checksum.
    pub fn unsummed(out: W, compress: bool) -> Self {
        Encoder {
            digest: None,
            ..Encoder::new(out, compress)
        }
    }

    /// The output written so far.
    pub fn out_mut(&mut self) -> &mut W {
        &mut self.out
    }

    pub fn raw(&mut self, b: &[u8]) -> io::Result<()> {
        if let Some(d) = &mut self.digest {
            d.update(b);
        }
        self.written += b.len() as u64;
        self.out.write_all(b)
    }

    pub fn byte(&mut self, b: u8) -> io::Result<()> {
        self.raw(&[b])
    }

    /// Length encoding: 6, 14, 32 or 64 bits.
    pub fn len(&mut self, n: u64) -> io::Result<()> {
        if n < 1 << 6 {
            self.byte(n as u8)
        } else if n < 1 << 14 {
            self.raw(&[0x40 | (n >> 8) as u8, n as u8])
        } else if n <= u64::from(u32::MAX) {
            self.byte(0x80)?;
            self.raw(&(n as u32).to_be_bytes())
        } else {
            self.byte(0x81)?;
            self.raw(&n.to_be_bytes())
        }
    }

    /// An integer in the special string encoding, if it fits 32 bits.
    fn try_int(&mut self, v: i64) -> io::Result<bool> {
        if let Ok(b) = i8::try_from(v) {
            self.raw(&[0xC0 | ENC_INT8, b as u8])?;
        } else if let Ok(s) = i16::try_from(v) {
            self.byte(0xC0 | ENC_INT16)?;
            self.raw(&s.to_le_bytes())?;
        } else if let Ok(w) = i32::try_from(v) {
            self.byte(0xC0 | ENC_INT32)?;
            self.raw(&w.to_le_bytes())?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// Redis's rdbSaveRawString: small canonical integers as ints, long strings LZF'd when it
    /// pays, the rest raw.
    pub fn string(&mut self, s: &[u8]) -> io::Result<()> {
        if s.len() <= 11 {
            if let Some(v) = parse_i64(s) {
                if self.try_int(v)? {
                    return Ok(());
                }
            }
        }
        // Redis compresses strings over 20 bytes when that saves at least 4 bytes.
        if self.compress && s.len() > 20 {
            let mut c = std::mem::take(&mut self.lzf_buf);
            if crate::util::lzf::compress(s, &mut c, s.len() - 4) {
                self.byte(0xC0 | ENC_LZF)?;
                self.len(c.len() as u64)?;
                self.len(s.len() as u64)?;
                let r = self.raw(&c);
                self.lzf_buf = c;
                return r;
            }
            self.lzf_buf = c;
        }
        self.len(s.len() as u64)?;
        self.raw(s)
    }

    /// Redis's rdbSaveLongLongAsStringObject.
    pub fn int_string(&mut self, v: i64) -> io::Result<()> {
        if self.try_int(v)? {
            return Ok(());
        }
        let mut b = itoa::Buffer::new();
        let s = b.format(v).as_bytes().to_vec();
        self.len(s.len() as u64)?;
        self.raw(&s)
    }

    pub fn aux(&mut self, key: &str, value: &[u8]) -> io::Result<()> {
        self.byte(opcode::AUX)?;
        self.string(key.as_bytes())?;
        self.string(value)
    }

    /// A key with its expire and access metadata, type byte, name and value.
    pub fn entry(
        &mut self,
        key: &[u8],
        e: &Entry,
        expire_at_ms: i64,
        lru_idle_secs: Option<u64>,
        lfu_freq: Option<u8>,
    ) -> io::Result<()> {
        if expire_at_ms != NO_EXPIRE {
            self.byte(opcode::EXPIRETIME_MS)?;
            self.raw(&expire_at_ms.to_le_bytes())?;
        }
        if let Some(idle) = lru_idle_secs {
            self.byte(opcode::IDLE)?;
            self.len(idle)?;
        }
        if let Some(f) = lfu_freq {
            self.byte(opcode::FREQ)?;
            self.byte(f)?;
        }
        self.byte(rdb_type(&e.value))?;
        self.string(key)?;
        self.value(&e.value)
    }

    /// A value's body, after its type byte (and key, in a file; DUMP writes none).
    pub fn value(&mut self, v: &Value) -> io::Result<()> {
        if let Some(lp) = compact_listpack(v) {
            return self.string(&lp);
        }
        match v {
            Value::Str(s) => self.string(s),
            Value::Int(i) => self.int_string(*i),
            Value::Set(set) if set.is_intset() => self.string(&set.intset_bytes()),
            Value::Set(set) if set.has_ttls() => {
                let min = set.min_ttl().unwrap_or(0);
                self.raw(&(min as u64).to_le_bytes())?;
                self.len(set.len() as u64)?;
                for m in set.iter() {
                    m.with_bytes(|b| {
                        let rel = set.ttl(b).map_or(0, |at| (at - min + 1) as u64);
                        self.len(rel)?;
                        self.string(b)
                    })?;
                }
                Ok(())
            }
            Value::Set(set) => {
                self.len(set.len() as u64)?;
                for m in set.iter() {
                    match m {
                        Member::Int(i) => self.int_string(i)?,
                        Member::Bytes(b) => self.string(b)?,
                    }
                }
                Ok(())
            }
            Value::List(l) => {
                self.len(l.len() as u64)?;
                let mut res = Ok(());
                l.scan(true, |e| match self.string(e) {
                    Ok(()) => std::ops::ControlFlow::Continue(()),
                    Err(err) => {
                        res = Err(err);
                        std::ops::ControlFlow::Break(())
                    }
                });
                res
            }
            Value::Hash(h) => match h.min_ttl() {
                // RDB_TYPE_HASH_METADATA (Redis 7.4): the earliest TTL, then each field's TTL
                // relative to it plus one (0: none) before the field and value.
                Some(min) => {
                    self.raw(&(min as u64).to_le_bytes())?;
                    self.len(h.len() as u64)?;
                    for (f, v, ttl) in h.iter().with_ttl() {
                        self.len(if ttl == 0 { 0 } else { (ttl - min + 1) as u64 })?;
                        self.string(f)?;
                        self.string(v)?;
                    }
                    Ok(())
                }
                None => {
                    self.len(h.len() as u64)?;
                    for (f, v) in h.iter() {
                        self.string(f)?;
                        self.string(v)?;
                    }
                    Ok(())
                }
            },
            Value::ZSet(z) => {
                self.len(z.len() as u64)?;
                // Highest first, as Redis saves a skiplist (its loader then inserts at the head).
                for (m, score) in z.walk(z.last(), true) {
                    self.string(m)?;
                    self.raw(&score.to_le_bytes())?;
                }
                Ok(())
            }
            Value::Stream(st) => self.stream(st),
        }
    }

    /// A stream as Redis 7.0 saves it (RDB_TYPE_STREAM_LISTPACKS_2): its nodes as listpacks,
    /// counters, then the consumer groups with their PELs and consumers.
    fn stream(&mut self, s: &crate::keyspace::types::stream::Stream) -> io::Result<()> {
        let lps = s.to_listpacks();
        self.len(lps.len() as u64)?;
        for (k, lp) in &lps {
            self.string(k)?;
            self.string(lp)?;
        }
        for v in [
            s.length,
            s.last_id.ms,
            s.last_id.seq,
            s.first_id.ms,
            s.first_id.seq,
            s.max_deleted_id.ms,
            s.max_deleted_id.seq,
            s.entries_added,
        ] {
            self.len(v)?;
        }
        self.len(s.groups.len() as u64)?;
        for (name, g) in &s.groups {
            self.string(name)?;
            self.len(g.last_id.ms)?;
            self.len(g.last_id.seq)?;
            self.len(g.entries_read as u64)?;
            self.len(g.pel.len() as u64)?;
            for (id, n) in &g.pel {
                self.raw(&id.encode())?;
                self.raw(&n.delivery_time.to_le_bytes())?;
                self.len(n.delivery_count)?;
            }
            self.len(g.consumers.len() as u64)?;
            for (cname, c) in &g.consumers {
                self.string(cname)?;
                self.raw(&c.seen_time.to_le_bytes())?;
                self.len(c.pel.len() as u64)?;
                for id in &c.pel {
                    self.raw(&id.encode())?;
                }
            }
        }
        Ok(())
    }

    /// The bytes written so far, without an EOF or checksum (DUMP payloads).
    pub fn into_inner(self) -> W {
        self.out
    }

    /// EOF opcode and checksum (zero when checksums are off).
    pub fn finish(mut self, checksum: bool) -> io::Result<W> {
        self.byte(opcode::EOF)?;
        let crc = if checksum {
            self.digest.clone().map_or(0, |d| d.finalize())
        } else {
            0
        };
        self.out.write_all(&crc.to_le_bytes())?;
        self.written += 8;
        Ok(self.out)
    }
}

/// Writes a whole dataset. `meta(entry)` gives the LRU idle seconds or LFU counter to store.
pub fn write_dataset<W: Write>(
    out: W,
    dbs: &[Db],
    aux: &[(&str, Vec<u8>)],
    functions: &[&[u8]],
    compress: bool,
    checksum: bool,
    meta: impl Fn(&Entry) -> (Option<u64>, Option<u8>),
) -> io::Result<W> {
    let mut enc = Encoder::new(out, compress);
    enc.header(version_for(dbs), aux, functions)?;
    for (i, db) in dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        enc.select_db(i, Some((db.len(), db.expires_count())))?;
        for (k, e) in db.keys().iter() {
            let (idle, freq) = meta(e);
            enc.entry(k, e, db.entry_expire_at(k, e), idle, freq)?;
        }
    }
    enc.finish(checksum)
}

impl<W: Write> Encoder<W> {
    /// The magic and version, aux fields and function libraries: what comes before the data.
    pub fn header(
        &mut self,
        version: u16,
        aux: &[(&str, Vec<u8>)],
        functions: &[&[u8]],
    ) -> io::Result<()> {
        self.raw(format!("REDIS{version:04}").as_bytes())?;
        for (k, v) in aux {
            self.aux(k, v)?;
        }
        // Function libraries come before the data, as Redis writes them (their code only).
        for code in functions {
            self.byte(opcode::FUNCTION2)?;
            self.string(code)?;
        }
        Ok(())
    }

    /// Switches to db `i`, with its size hint (keys, keys with a TTL) when given.
    pub fn select_db(&mut self, i: usize, sizes: Option<(usize, usize)>) -> io::Result<()> {
        self.byte(opcode::SELECTDB)?;
        self.len(i as u64)?;
        if let Some((keys, expires)) = sizes {
            self.byte(opcode::RESIZEDB)?;
            self.len(keys as u64)?;
            self.len(expires as u64)?;
        }
        Ok(())
    }
}

/// A decoding failure with the byte offset where it was found.
#[derive(Debug)]
pub struct DecodeError {
    pub offset: usize,
    pub msg: String,
    /// The input ended or failed to read (a streamed snapshot cut short), as opposed to
    /// bytes that are not a valid RDB.
    pub short_read: bool,
}

impl DecodeError {
    pub fn at(offset: usize, msg: String) -> DecodeError {
        DecodeError {
            offset,
            msg,
            short_read: false,
        }
    }
}

/// A compact encoding that fails its checks (bounds, duplicates) is reported as Redis's
/// rdbLoadObject reports it ("Hash ziplist integrity check failed."); a cut input stays a
/// short read.
fn integrity<T>(r: Result<T, DecodeError>, what: &str) -> Result<T, DecodeError> {
    r.map_err(|mut e| {
        if !e.short_read {
            e.msg = format!("{what} integrity check failed.");
        }
        e
    })
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at offset {}", self.msg, self.offset)
    }
}

/// Where a streamed snapshot's bytes come from: appends more to the buffer (a few KiB to a
/// few hundred at a time), Ok(0) at the end.
pub type Source<'a> = Box<dyn FnMut(&mut Vec<u8>) -> io::Result<usize> + 'a>;

/// The part of a streamed input held in memory: what was read and not yet passed (a
/// record at most, plus what the last read brought), and the checksum of what was dropped.
struct Window<'a> {
    bytes: Vec<u8>,
    /// Input offset of `bytes[0]`.
    base: usize,
    source: Source<'a>,
    crc: crc::Digest<'static, u64, Table<16>>,
}

/// A streamed input drops what it has passed once this much piled up (at a record's end).
const WINDOW_KEEP: usize = 1 << 20;

/// Reads RDB bytes from a slice, or from a stream as they arrive (a replica loading its
/// master's snapshot from the socket, Redis's rioConnRead).
pub struct Decoder<'a> {
    buf: &'a [u8],
    window: Option<Window<'a>>,
    /// Offset in the input of the next byte.
    pub pos: usize,
    /// The code of each function library met while loading.
    pub functions: Vec<Vec<u8>>,
    /// Encoding thresholds for loaded sets (set-max-intset-entries and friends).
    pub set_limits: set::Limits,
    /// list-max-listpack-size and list-compress-depth for the lists it builds.
    pub list_options: (i64, usize),
    /// Encoding thresholds loaded hashes are built with (hash-max-listpack-*).
    pub hash_limits: hash::Limits,
    /// Sorted sets load into a listpack when they fit these (zset-max-listpack-*).
    pub zset_limits: crate::keyspace::types::zset::Limits,
    /// The time hash field TTLs (Redis 7.4) are checked against; 0: keep every field.
    pub now_ms: i64,
    /// The trailing CRC64 is checked (off under DEBUG SET-SKIP-CHECKSUM-VALIDATION 1).
    pub verify_checksum: bool,
    /// Hash fields dropped because their TTL had passed (Redis 7.4's loader skips them).
    pub fields_expired: usize,
    /// Empty collections skipped (Redis logs the first ten by name, then the count).
    pub empty_keys_skipped: usize,
    /// Who wrote the input (from its magic, or a DUMP payload's version).
    pub lineage: Lineage,
}

/// A loaded key.
pub struct LoadedKey {
    /// Bytes of the input consumed once this key was read.
    pub at: usize,
    pub db: usize,
    pub key: Vec<u8>,
    pub value: Value,
    pub expire_at_ms: i64,
    pub idle_secs: Option<u64>,
    pub freq: Option<u8>,
}

/// Either a length or a special string encoding.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Decoder {
            buf,
            window: None,
            pos: 0,
            set_limits: set::Limits::default(),
            list_options: (-2, 0),
            hash_limits: hash::Limits::default(),
            zset_limits: Default::default(),
            now_ms: 0,
            verify_checksum: true,
            fields_expired: 0,
            empty_keys_skipped: 0,
            functions: Vec::new(),
            lineage: Lineage::Redis,
        }
    }

    /// A plain list (RDB_TYPE_LIST) built as Redis builds it on load: pushed in order into a
    /// list with the current node options. None for an empty list (Redis skips the key).
    fn list(&mut self) -> Result<Option<Value>, DecodeError> {
        let n = self.length()?;
        if n == 0 {
            return Ok(None);
        }
        let mut items = Vec::with_capacity(n.min(1 << 16) as usize);
        for _ in 0..n {
            items.push(self.string()?);
        }
        Ok(self.build_list(items))
    }

    /// A list pushed in order into the current node options; None when empty.
    fn build_list(&self, items: Vec<Vec<u8>>) -> Option<Value> {
        if items.is_empty() {
            return None;
        }
        let (fill, depth) = self.list_options;
        let mut l = crate::keyspace::types::list::List::new(fill, depth);
        for e in &items {
            l.push_back(e);
        }
        Some(Value::List(Box::new(l)))
    }

    /// Lists in ziplists (type 10), quicklists of ziplists (14) or of listpack / plain nodes
    /// (18), all loaded into our list.
    fn compact_list(&mut self, t: u8) -> Result<Option<Value>, DecodeError> {
        let nodes = if t == rtype::LIST_ZIPLIST {
            1
        } else {
            self.length()?
        };
        let mut items = Vec::new();
        for _ in 0..nodes {
            let container = if t == rtype::LIST_QUICKLIST_2 {
                self.length()?
            } else {
                QUICKLIST_PACKED
            };
            let at = self.pos;
            let data = self.string()?;
            // A node of no bytes holds nothing Redis could load (its loader refuses it).
            if data.is_empty() {
                return Err(DecodeError::at(at, "Quicklist node of no bytes".into()));
            }
            let decoded = match (t, container) {
                (_, QUICKLIST_PLAIN) => Ok(vec![data]),
                (rtype::LIST_QUICKLIST_2, QUICKLIST_PACKED) => compact::listpack(&data)
                    .map_err(|_| "Listpack integrity check failed.".to_string()),
                (rtype::LIST_ZIPLIST, _) => compact::ziplist(&data)
                    .map_err(|_| "List ziplist integrity check failed.".to_string()),
                (_, QUICKLIST_PACKED) => compact::ziplist(&data)
                    .map_err(|_| "Ziplist integrity check failed.".to_string()),
                _ => Err(format!("Unknown quicklist node container {container}")),
            };
            let node = decoded.map_err(|msg| DecodeError::at(at, msg))?;
            items.extend(node);
        }
        Ok(self.build_list(items))
    }

    /// Hashes in a zipmap (9), ziplist (13) or listpack (16).
    fn compact_hash(&mut self, t: u8) -> Result<Option<Value>, DecodeError> {
        let at = self.pos;
        let data = self.string()?;
        let what = match t {
            rtype::HASH_ZIPMAP => "Zipmap",
            rtype::HASH_ZIPLIST => "Hash ziplist",
            _ => "Hash listpack",
        };
        let pairs = match t {
            rtype::HASH_ZIPMAP => compact::zipmap(&data),
            _ => self
                .flat_elements(t, &data)
                .and_then(|e| into_pairs(e, "hash")),
        }
        .map_err(|msg| DecodeError::at(at, msg));
        integrity(
            pairs.and_then(|pairs| {
                let entries = pairs.into_iter().map(|(f, v)| (f, v, 0)).collect();
                self.build_hash(at, entries, t != rtype::HASH_ZIPMAP)
            }),
            what,
        )
    }

    /// Sorted sets in a ziplist (12) or listpack (17): member, score, member, score...
    fn compact_zset(&mut self, t: u8) -> Result<Option<Value>, DecodeError> {
        let what = if t == rtype::ZSET_ZIPLIST {
            "Zset ziplist"
        } else {
            "Zset listpack"
        };
        integrity(self.compact_zset_body(t), what)
    }

    fn compact_zset_body(&mut self, t: u8) -> Result<Option<Value>, DecodeError> {
        let at = self.pos;
        let data = self.string()?;
        let pairs = self
            .flat_elements(t, &data)
            .and_then(|e| into_pairs(e, "zset"))
            .map_err(|msg| DecodeError::at(at, msg))?;
        let mut entries = Vec::with_capacity(pairs.len());
        for (m, s) in pairs {
            let score = crate::util::num::parse_f64(&s).ok_or_else(|| DecodeError {
                offset: at,
                msg: "Zset with an invalid score detected".into(),
                short_read: false,
            })?;
            entries.push((m, score));
        }
        self.build_zset(at, entries, true)
    }

    /// Sets as an intset (11) or a listpack (20, Redis 7.2).
    fn compact_set(&mut self, t: u8) -> Result<Option<Value>, DecodeError> {
        let at = self.pos;
        let data = self.string()?;
        let (members, what) = if t == rtype::SET_INTSET {
            let ints = compact::intset(&data);
            let members = ints.map(|v| v.iter().map(|i| i.to_string().into_bytes()).collect());
            (members, "Intset")
        } else {
            (compact::listpack(&data), "Set listpack")
        };
        let members = members.map_err(|msg| DecodeError::at(at, msg));
        integrity(members.and_then(|m| self.build_set(m)), what)
    }

    fn flat_elements(&self, t: u8, data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        match t {
            rtype::HASH_ZIPLIST | rtype::ZSET_ZIPLIST => compact::ziplist(data),
            _ => compact::listpack(data),
        }
    }

    fn fail<T>(&self, msg: impl Into<String>) -> Result<T, DecodeError> {
        Err(DecodeError {
            offset: self.pos,
            msg: msg.into(),
            short_read: false,
        })
    }

    /// A decoder over bytes `source` delivers; memory holds what it read and did not pass
    /// yet, never what a length in the input claims.
    pub fn streaming(source: Source<'a>) -> Self {
        let mut dec = Decoder::new(&[]);
        dec.window = Some(Window {
            bytes: Vec::new(),
            base: 0,
            source,
            crc: CRC64.digest(),
        });
        dec
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.window.is_none() {
            if self.buf.len() - self.pos < n {
                return self.fail("Unexpected end of file (truncated RDB)");
            }
            let s = &self.buf[self.pos..self.pos + n];
            self.pos += n;
            return Ok(s);
        }
        let w = self.window.as_mut().expect("checked above");
        let start = self.pos - w.base;
        while w.bytes.len() - start < n {
            let msg = match (w.source)(&mut w.bytes) {
                Ok(0) => "Unexpected end of file (truncated RDB)".to_string(),
                Ok(_) => continue,
                Err(e) => format!("Read error: {e}"),
            };
            return Err(DecodeError {
                offset: self.pos,
                msg,
                short_read: true,
            });
        }
        self.pos += n;
        Ok(&w.bytes[start..start + n])
    }

    /// At a record's end: a streamed input forgets what it passed, once there is enough of it
    /// (folding it into the running checksum).
    fn settle(&mut self) {
        if let Some(w) = self.window.as_mut() {
            let passed = self.pos - w.base;
            if passed >= WINDOW_KEEP {
                w.crc.update(&w.bytes[..passed]);
                w.bytes.drain(..passed);
                w.base = self.pos;
            }
        }
    }

    /// Whether `bytes` come next (consumed if so).
    pub fn next_is(&mut self, bytes: &[u8]) -> bool {
        self.take(bytes.len()).is_ok_and(|b| b == bytes)
    }

    /// Whether the input has nothing past the position.
    pub fn at_end(&mut self) -> bool {
        self.take(1).is_err()
    }

    /// Bytes a streamed input read past the position (after the RDB's end: what follows it
    /// on the wire).
    pub fn into_rest(self) -> Vec<u8> {
        match self.window {
            Some(mut w) => w.bytes.split_off(self.pos - w.base),
            None => self.buf[self.pos..].to_vec(),
        }
    }

    /// The CRC-64 of the input before the position.
    fn checksum_so_far(&mut self) -> u64 {
        match self.window.as_mut() {
            Some(w) => {
                let mut crc = w.crc.clone();
                crc.update(&w.bytes[..self.pos - w.base]);
                crc.finalize()
            }
            None => CRC64.checksum(&self.buf[..self.pos]),
        }
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn len_or_enc(&mut self) -> Result<Len, DecodeError> {
        let b = self.byte()?;
        Ok(match b >> 6 {
            0 => Len::Plain(u64::from(b & 0x3f)),
            1 => Len::Plain((u64::from(b & 0x3f) << 8) | u64::from(self.byte()?)),
            2 => match b {
                0x80 => Len::Plain(u64::from(u32::from_be_bytes(
                    self.take(4)?.try_into().expect("4"),
                ))),
                0x81 => Len::Plain(u64::from_be_bytes(self.take(8)?.try_into().expect("8"))),
                _ => return self.fail(format!("Unknown length encoding {b:#x}")),
            },
            _ => Len::Encoded(b & 0x3f),
        })
    }

    pub fn length(&mut self) -> Result<u64, DecodeError> {
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => self.fail("Unexpected encoded length"),
        }
    }

    pub fn string(&mut self) -> Result<Vec<u8>, DecodeError> {
        match self.len_or_enc()? {
            Len::Plain(n) => {
                let n = usize::try_from(n).or_else(|_| self.fail("String too long"))?;
                Ok(self.take(n)?.to_vec())
            }
            Len::Encoded(ENC_INT8) => Ok((self.byte()? as i8).to_string().into_bytes()),
            Len::Encoded(ENC_INT16) => Ok(i16::from_le_bytes(self.take(2)?.try_into().expect("2"))
                .to_string()
                .into_bytes()),
            Len::Encoded(ENC_INT32) => Ok(i32::from_le_bytes(self.take(4)?.try_into().expect("4"))
                .to_string()
                .into_bytes()),
            Len::Encoded(ENC_LZF) => {
                let clen = self.length()? as usize;
                let len = self.length()? as usize;
                let start = self.pos;
                let data = self.take(clen)?;
                // LZF expands at most ~88x (3 bytes stand for up to 264): a larger claim is
                // corruption, and must not make us allocate it (RESTORE payloads come from
                // clients).
                if len > clen.saturating_mul(LZF_MAX_EXPANSION) + 64 {
                    return Err(DecodeError {
                        offset: start,
                        msg: "Invalid LZF compressed string".into(),
                        short_read: false,
                    });
                }
                match lzf::decompress(data, len) {
                    Ok(v) if v.len() == len => Ok(v),
                    _ => Err(DecodeError {
                        offset: start,
                        msg: "Invalid LZF compressed string".into(),
                        short_read: false,
                    }),
                }
            }
            Len::Encoded(e) => self.fail(format!("Unknown RDB string encoding type {e}")),
        }
    }

    fn stream_id(&mut self) -> Result<StreamId, DecodeError> {
        Ok(StreamId::new(self.length()?, self.length()?))
    }

    fn raw_id(&mut self) -> Result<StreamId, DecodeError> {
        let b = self.take(16)?;
        Ok(StreamId::new(
            u64::from_be_bytes(b[..8].try_into().expect("8")),
            u64::from_be_bytes(b[8..].try_into().expect("8")),
        ))
    }

    fn ms_time(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    /// A stream of type 19 (Redis 7.0) or 21 (Redis 7.2).
    fn stream(&mut self, t: u8) -> Result<Stream, DecodeError> {
        let mut s = Stream::new();
        let nodes = self.length()?;
        for _ in 0..nodes {
            let key = self.string()?;
            let lp = self.string()?;
            let at = self.pos;
            // Redis: "Stream listpack integrity check failed." (the detail is ours).
            s.load_listpack(&key, &lp).map_err(|msg| {
                DecodeError::at(at, format!("Stream listpack integrity check failed. {msg}"))
            })?;
        }
        s.length = self.length()?;
        if s.length != s.counted_len() {
            return self.fail("Stream length inconsistent with its listpacks");
        }
        s.last_id = self.stream_id()?;
        let v1 = t == rtype::STREAM_LISTPACKS;
        if v1 {
            // Redis 5/6 streams: no tombstone or counter fields; Redis derives them.
            s.first_id = s.edge_id(true);
            s.max_deleted_id = StreamId::new(0, 0);
            s.entries_added = s.length;
        } else {
            s.first_id = self.stream_id()?;
            s.max_deleted_id = self.stream_id()?;
            s.entries_added = self.length()?;
        }
        let groups = self.length()?;
        for _ in 0..groups {
            let name = self.string()?;
            let last = self.stream_id()?;
            let entries_read = if v1 {
                s.estimate_distance(last)
            } else {
                self.length()? as i64
            };
            let mut g = Group::new(last, entries_read);
            let pel = self.length()?;
            for _ in 0..pel {
                let id = self.raw_id()?;
                let delivery_time = self.ms_time()?;
                let delivery_count = self.length()?;
                g.pel.insert(
                    id,
                    Nack {
                        delivery_time,
                        delivery_count,
                        consumer: Vec::new(),
                    },
                );
            }
            let consumers = self.length()?;
            for _ in 0..consumers {
                let cname = self.string()?;
                let seen_time = self.ms_time()?;
                if t == rtype::STREAM_LISTPACKS_3 {
                    self.ms_time()?;
                }
                if g.consumers.contains_key(&cname) {
                    return self.fail("Duplicate stream consumer detected.");
                }
                let mut c = Consumer {
                    seen_time,
                    ..Default::default()
                };
                let n = self.length()?;
                for _ in 0..n {
                    let id = self.raw_id()?;
                    match g.pel.get_mut(&id) {
                        Some(nack) => nack.consumer = cname.clone(),
                        None => return self.fail("Consumer PEL entry missing from the group PEL"),
                    }
                    if !c.pel.insert(id) {
                        return self.fail(
                            "Duplicated consumer PEL entry  loading a stream consumer group",
                        );
                    }
                }
                g.consumers.insert(cname, c);
            }
            // Every pending entry must have got a consumer (Redis checks this when it
            // validates deeply, which cinnabar always does).
            if g.pel.values().any(|n| n.consumer.is_empty()) {
                return self.fail("Stream CG PEL entry without consumer");
            }
            s.groups.insert(name, g);
        }
        Ok(s)
    }

    /// A plain RDB_TYPE_SET, encoded as Redis encodes a loaded set: intset when every member
    /// is an integer and they are few enough, else a hash table. None for an empty set.
    fn load_set(&mut self) -> Result<Option<Value>, DecodeError> {
        let n = self.length()?;
        if n == 0 {
            return Ok(None);
        }
        let mut members = Vec::with_capacity(n.min(1 << 16) as usize);
        for _ in 0..n {
            members.push(self.string()?);
        }
        self.build_set(members)
    }

    /// A set with member TTLs (`rtype::SET_MEMBER_TTLS`): the earliest TTL, the count, then
    /// each member's relative TTL (0: none) and the member. Expired members are dropped.
    fn set_with_ttls(&mut self) -> Result<Option<Value>, DecodeError> {
        let min_expire = u64::from_le_bytes(self.take(8)?.try_into().expect("8"));
        let n = self.length()?;
        self.check_hash_count(n, 2)?;
        let mut members = Vec::with_capacity(n.min(1 << 16) as usize);
        let mut ttls = Vec::new();
        for _ in 0..n {
            let at = self.pos;
            let rel = self.length()?;
            let expire_at = if rel == 0 {
                0
            } else {
                rel.wrapping_add(min_expire).wrapping_sub(1)
            };
            if expire_at >= 1 << 48 {
                return Err(DecodeError::at(at, "Set member TTL out of range".into()));
            }
            let m = self.string()?;
            if !self.keep_field(expire_at) {
                continue;
            }
            if expire_at != 0 {
                ttls.push((m.clone(), expire_at as i64));
            }
            members.push(m);
        }
        let Some(Value::Set(mut set)) = self.build_set(members)? else {
            return Ok(None);
        };
        let lim = self.set_limits;
        for (m, at) in ttls {
            set.set_ttl(&m, at, &lim);
        }
        Ok(Some(Value::Set(set)))
    }

    /// A set in the encoding Redis gives a loaded set; None when empty.
    fn build_set(&self, members: Vec<Vec<u8>>) -> Result<Option<Value>, DecodeError> {
        if members.is_empty() {
            return Ok(None);
        }
        let lim = self.set_limits;
        let mut s = Set::new_ints();
        for m in &members {
            if !s.insert(m, &lim) {
                return self.fail("Duplicate set members detected");
            }
        }
        Ok(Some(Value::Set(Box::new(s))))
    }

    /// A RDB_TYPE_HASH value (pair count, then field and value strings), built in the encoding
    /// Redis would build after loading it. None for an empty hash (Redis skips such keys).
    fn hash(&mut self) -> Result<Option<Value>, DecodeError> {
        let start = self.pos;
        let n = self.length()?;
        if n == 0 {
            return Ok(None);
        }
        self.check_hash_count(n, 2)?;
        let mut pairs = Vec::with_capacity(n.min(1 << 16) as usize);
        for _ in 0..n {
            let f = self.string()?;
            let v = self.string()?;
            pairs.push((f, v, 0));
        }
        self.build_hash(start, pairs, false)
    }

    /// A hash of `n` fields, each at least `min_bytes` long in the file, must fit in what is
    /// left of it: a corrupt count cannot make us over-allocate.
    fn check_hash_count(&mut self, n: u64, min_bytes: u64) -> Result<(), DecodeError> {
        if self.window.is_some() {
            // A stream's size is unknown: the pairs are only allocated as they arrive.
            return Ok(());
        }
        let remaining = (self.buf.len() - self.pos) as u64;
        if n > remaining / min_bytes {
            return self.fail("Hash length exceeds the file size");
        }
        Ok(())
    }

    /// Whether a field with this absolute TTL (0: none) is kept: not if it already passed
    /// (when `now_ms` is set); counts what is dropped.
    fn keep_field(&mut self, expire_at: u64) -> bool {
        if expire_at != 0 && self.now_ms > 0 && expire_at <= self.now_ms as u64 {
            self.fields_expired += 1;
            return false;
        }
        true
    }

    /// A field TTL as stored (0: none); one past Redis's EB_EXPIRE_TIME_MAX is corrupt.
    fn field_ttl(&self, at: usize, expire_at: u64) -> Result<i64, DecodeError> {
        if expire_at >= 1 << 48 {
            return Err(DecodeError::at(at, "Hash field TTL out of range".into()));
        }
        Ok(expire_at as i64)
    }

    /// Redis 7.4's hash with field TTLs (RDB_TYPE_HASH_METADATA and its release-candidate
    /// form): [min expire,] count, then TTL, field, value for each field.
    fn hash_with_ttls(&mut self, t: u8) -> Result<Option<Value>, DecodeError> {
        let start = self.pos;
        let min_expire = if t == rtype::HASH_METADATA {
            u64::from_le_bytes(self.take(8)?.try_into().expect("8"))
        } else {
            0
        };
        let n = self.length()?;
        self.check_hash_count(n, 3)?;
        let mut pairs = Vec::with_capacity(n.min(1 << 16) as usize);
        for _ in 0..n {
            let at = self.pos;
            let ttl = self.length()?;
            let expire_at = match (t, ttl) {
                (_, 0) => 0,
                (rtype::HASH_METADATA, rel) => rel.wrapping_add(min_expire).wrapping_sub(1),
                (_, abs) => abs,
            };
            let ttl = self.field_ttl(at, expire_at)?;
            let f = self.string()?;
            let v = self.string()?;
            if self.keep_field(expire_at) {
                pairs.push((f, v, ttl));
            }
        }
        self.build_hash(start, pairs, false)
    }

    /// Valkey 9's hash with field TTLs: count, then field, value and a TTL in ms (-1: none).
    fn valkey_hash_with_ttls(&mut self) -> Result<Option<Value>, DecodeError> {
        let start = self.pos;
        let n = self.length()?;
        self.check_hash_count(n, 10)?;
        let mut pairs = Vec::with_capacity(n.min(1 << 16) as usize);
        for _ in 0..n {
            let f = self.string()?;
            let v = self.string()?;
            let at = self.pos;
            let ttl = i64::from_le_bytes(self.take(8)?.try_into().expect("8"));
            let expire_at = if ttl < 0 { 0 } else { ttl as u64 };
            let ttl = self.field_ttl(at, expire_at)?;
            if self.keep_field(expire_at) {
                pairs.push((f, v, ttl));
            }
        }
        self.build_hash(start, pairs, false)
    }

    /// Redis 7.4's listpack hash with field TTLs: [min expire,] a listpack of field, value,
    /// TTL (0: none) triples.
    fn hash_listpack_with_ttls(&mut self, t: u8) -> Result<Option<Value>, DecodeError> {
        if t == rtype::HASH_LISTPACK_EX {
            self.take(8)?;
        }
        let at = self.pos;
        let data = self.string()?;
        let items = compact::listpack(&data).map_err(|msg| DecodeError::at(at, msg))?;
        if items.len() % 3 != 0 {
            return Err(DecodeError {
                offset: at,
                msg: "Hash listpack with field TTLs has a bad element count".into(),
                short_read: false,
            });
        }
        let mut pairs = Vec::with_capacity(items.len() / 3);
        let mut it = items.into_iter();
        while let (Some(f), Some(v), Some(ttl)) = (it.next(), it.next(), it.next()) {
            let expire_at = crate::util::num::parse_u64(&ttl).ok_or_else(|| DecodeError {
                offset: at,
                msg: "Hash listpack with an invalid field TTL".into(),
                short_read: false,
            })?;
            let ttl = self.field_ttl(at, expire_at)?;
            if self.keep_field(expire_at) {
                pairs.push((f, v, ttl));
            }
        }
        self.build_hash(at, pairs, true)
    }

    /// A hash in the encoding Redis builds after loading it; None when empty.
    /// `count_only`: Redis 7.0 keeps a loaded ziplist/listpack hash compact whatever its value
    /// sizes, converting on the entry count alone (plain and zipmap hashes check both).
    fn build_hash(
        &self,
        start: usize,
        entries: Vec<(Vec<u8>, Vec<u8>, i64)>,
        count_only: bool,
    ) -> Result<Option<Value>, DecodeError> {
        if entries.is_empty() {
            return Ok(None);
        }
        let mut limits = self.hash_limits;
        if count_only {
            limits.max_value = usize::MAX;
        }
        let with_ttls = entries.iter().any(|(_, _, ttl)| *ttl > 0);
        let entries_ref = entries.iter().map(|(f, v, ttl)| (&f[..], &v[..], *ttl));
        match Hash::from_entries(entries.len(), entries_ref, limits) {
            Ok(mut h) => {
                if with_ttls {
                    h.make_ex();
                }
                Ok(Some(Value::Hash(Box::new(h))))
            }
            Err(hash::LoadError::DuplicateField) => Err(DecodeError {
                offset: start,
                msg: "Duplicate hash fields detected".into(),
                short_read: false,
            }),
        }
    }

    /// A RDB_TYPE_ZSET_2 body: count, then (member, little-endian f64) pairs in any order.
    /// Built whole, so the encoding follows the final size, as Redis converts after loading.
    /// None for an empty set, which Redis skips.
    fn zset2(&mut self) -> Result<Option<Value>, DecodeError> {
        let start = self.pos;
        let n = self.length()?;
        if n == 0 {
            return Ok(None);
        }
        let mut entries: Vec<(Vec<u8>, f64)> = Vec::with_capacity(n.min(1 << 20) as usize);
        for _ in 0..n {
            let m = self.string()?;
            let score = f64::from_le_bytes(self.take(8)?.try_into().expect("8"));
            if score.is_nan() {
                return self.fail("Zset with NAN score detected");
            }
            entries.push((m, score));
        }
        self.build_zset(start, entries, false)
    }

    /// A RDB_TYPE_ZSET (version 1) body: scores as text (253 nan, 254 inf, 255 -inf).
    fn zset1(&mut self) -> Result<Option<Value>, DecodeError> {
        let start = self.pos;
        let n = self.length()?;
        let mut entries: Vec<(Vec<u8>, f64)> = Vec::with_capacity(n.min(1 << 20) as usize);
        for _ in 0..n {
            let m = self.string()?;
            let score = match self.byte()? {
                253 => return self.fail("Zset with NAN score detected"),
                254 => f64::INFINITY,
                255 => f64::NEG_INFINITY,
                len => {
                    let text = self.take(usize::from(len))?;
                    crate::util::num::parse_f64(text)
                        .ok_or_else(|| self.fail::<()>("Invalid zset score").unwrap_err())?
                }
            };
            entries.push((m, score));
        }
        self.build_zset(start, entries, false)
    }

    /// A sorted set built whole (so its encoding follows the final size); None when empty.
    /// `count_only` as for hashes: a loaded ziplist/listpack zset converts on its size alone.
    fn build_zset(
        &mut self,
        start: usize,
        mut entries: Vec<(Vec<u8>, f64)>,
        count_only: bool,
    ) -> Result<Option<Value>, DecodeError> {
        use crate::keyspace::types::zset::ZSet;
        if entries.is_empty() {
            return Ok(None);
        }
        entries.sort_by(|a, b| {
            a.1.partial_cmp(&b.1)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.0.cmp(&b.0))
        });
        let mut seen: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
        if !entries.iter().all(|e| seen.insert(&e.0)) {
            self.pos = start;
            return self.fail("Duplicate zset fields detected");
        }
        drop(seen);
        let mut limits = self.zset_limits;
        if count_only {
            limits.max_value = usize::MAX;
        }
        Ok(Some(Value::ZSet(Box::new(ZSet::from_sorted(
            &entries, limits,
        )))))
    }

    /// A value's type byte (DUMP payloads start with it).
    pub fn value_type(&mut self) -> Result<u8, DecodeError> {
        self.byte()
    }

    /// One value of RDB type `t` (a file's key value, or a DUMP payload's). None for an
    /// empty collection, which Redis skips.
    pub fn value(&mut self, t: u8) -> Result<Option<Value>, DecodeError> {
        Ok(match t {
            rtype::STRING => Some(Value::string_from_vec(self.string()?)),
            rtype::LIST => self.list()?,
            rtype::SET => self.load_set()?,
            rtype::HASH => self.hash()?,
            rtype::ZSET => self.zset1()?,
            rtype::ZSET_2 => self.zset2()?,
            rtype::HASH_ZIPMAP | rtype::HASH_ZIPLIST | rtype::HASH_LISTPACK => {
                self.compact_hash(t)?
            }
            rtype::LIST_ZIPLIST | rtype::LIST_QUICKLIST | rtype::LIST_QUICKLIST_2 => {
                self.compact_list(t)?
            }
            rtype::SET_INTSET | rtype::SET_LISTPACK => self.compact_set(t)?,
            rtype::SET_MEMBER_TTLS => self.set_with_ttls()?,
            rtype::ZSET_ZIPLIST | rtype::ZSET_LISTPACK => self.compact_zset(t)?,
            rtype::STREAM_LISTPACKS | rtype::STREAM_LISTPACKS_2 | rtype::STREAM_LISTPACKS_3 => {
                Some(Value::Stream(Box::new(self.stream(t)?)))
            }
            rtype::VALKEY_HASH_2 if self.lineage == Lineage::Valkey => {
                self.valkey_hash_with_ttls()?
            }
            rtype::HASH_METADATA_PRE_GA | rtype::HASH_METADATA
                if self.lineage == Lineage::Redis =>
            {
                self.hash_with_ttls(t)?
            }
            rtype::HASH_LISTPACK_EX_PRE_GA | rtype::HASH_LISTPACK_EX
                if self.lineage == Lineage::Redis =>
            {
                self.hash_listpack_with_ttls(t)?
            }
            other => {
                self.pos -= 1;
                return self.fail(format!("Unsupported RDB object type {other}"));
            }
        })
    }

    /// Parses a whole file, calling `on_key` for each key; checks the CRC if present.
    pub fn load(
        &mut self,
        mut on_aux: impl FnMut(&[u8], &[u8]),
        mut on_key: impl FnMut(LoadedKey) -> Result<(), String>,
    ) -> Result<(), DecodeError> {
        let magic = self.take(9)?;
        // "REDIS0011" or Valkey 9's "VALKEY080".
        let (lineage, digits) = if magic.starts_with(b"REDIS") {
            (Lineage::Redis, &magic[5..])
        } else if magic.starts_with(b"VALKEY") {
            (Lineage::Valkey, &magic[6..])
        } else {
            self.pos = 0;
            return self.fail("Wrong signature trying to load DB from file");
        };
        let version: u16 = std::str::from_utf8(digits)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if Lineage::of_version(version) != Some(lineage) {
            self.pos = 9 - digits.len();
            return self.fail(format!("Can't handle RDB format version {version}"));
        }
        self.lineage = lineage;
        let mut db = 0usize;
        let mut expire = NO_EXPIRE;
        let mut idle = None;
        let mut freq = None;
        loop {
            let t = self.byte()?;
            match t {
                opcode::EOF => break,
                opcode::SELECTDB => db = self.length()? as usize,
                opcode::SLOT_INFO => {
                    // Slot id, keys and keys with a TTL: only a sizing hint.
                    for _ in 0..3 {
                        self.length()?;
                    }
                }
                opcode::RESIZEDB => {
                    self.length()?;
                    self.length()?;
                }
                opcode::AUX => {
                    let k = self.string()?;
                    let v = self.string()?;
                    on_aux(&k, &v);
                }
                opcode::EXPIRETIME_MS => {
                    expire = i64::from_le_bytes(self.take(8)?.try_into().expect("8"))
                }
                opcode::EXPIRETIME => {
                    expire =
                        i64::from(i32::from_le_bytes(self.take(4)?.try_into().expect("4"))) * 1000
                }
                opcode::IDLE => idle = Some(self.length()?),
                opcode::FREQ => freq = Some(self.byte()?),
                opcode::MODULE_AUX => {
                    return self.fail("Module auxiliary data is not supported yet")
                }
                opcode::FUNCTION2 => {
                    let code = self.string()?;
                    self.functions.push(code);
                }
                opcode::FUNCTION => return self.fail("Pre-GA function format not supported"),
                rtype::STRING
                | rtype::LIST
                | rtype::SET
                | rtype::HASH
                | rtype::ZSET
                | rtype::ZSET_2
                | rtype::HASH_ZIPMAP
                | rtype::HASH_ZIPLIST
                | rtype::HASH_LISTPACK
                | rtype::LIST_ZIPLIST
                | rtype::LIST_QUICKLIST
                | rtype::LIST_QUICKLIST_2
                | rtype::SET_INTSET
                | rtype::SET_LISTPACK
                | rtype::ZSET_ZIPLIST
                | rtype::ZSET_LISTPACK
                | rtype::STREAM_LISTPACKS
                | rtype::STREAM_LISTPACKS_2
                | rtype::STREAM_LISTPACKS_3
                | rtype::HASH_METADATA_PRE_GA
                | rtype::HASH_LISTPACK_EX_PRE_GA
                | rtype::HASH_METADATA
                | rtype::HASH_LISTPACK_EX
                | rtype::SET_MEMBER_TTLS => {
                    let key = self.string()?;
                    // None: an empty collection, which Redis skips on load.
                    let value = self.value(t)?;
                    let at = self.pos;
                    if value.is_none() {
                        if self.empty_keys_skipped < 10 {
                            tracing::info!(
                                "rdbLoadObject skipping empty key: {}",
                                String::from_utf8_lossy(&key)
                            );
                        }
                        self.empty_keys_skipped += 1;
                    }
                    if let Some(value) = value {
                        on_key(LoadedKey {
                            at,
                            db,
                            key,
                            value,
                            expire_at_ms: expire,
                            idle_secs: idle,
                            freq,
                        })
                        .map_err(|msg| DecodeError::at(at, msg))?;
                    }
                    expire = NO_EXPIRE;
                    idle = None;
                    freq = None;
                    self.settle();
                }
                other => {
                    self.pos -= 1;
                    return self.fail(format!("Unsupported RDB object type {other}"));
                }
            }
        }
        // A file may end without its checksum (Redis reads it only when there); a stream
        // always has one.
        if version >= 5 && (self.window.is_some() || self.buf.len() - self.pos >= 8) {
            let actual = self.checksum_so_far();
            let expected = u64::from_le_bytes(self.take(8)?.try_into().expect("8"));
            if self.verify_checksum && expected != 0 && actual != expected {
                self.pos -= 8;
                tracing::warn!(
                    "Wrong RDB checksum expected: ({expected:x}) got: ({actual:x}). Aborting now."
                );
                return self.fail("RDB CRC error");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields of a decoded hash, sorted.
    fn hash_fields(v: Option<Value>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let Some(Value::Hash(h)) = v else {
            panic!("not a hash")
        };
        let mut f: Vec<_> = h.iter().map(|(a, b)| (a.to_vec(), b.to_vec())).collect();
        f.sort();
        f
    }

    /// Redis 7.4's hashes with field TTLs load without the TTLs, expired fields dropped.
    #[test]
    fn hashes_with_field_ttls() {
        let now = 1_800_000_000_000i64;
        let want = vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"c".to_vec(), b"3".to_vec()),
        ];
        // [min expire,] count, then TTL, field, value.
        let encode = |min: Option<u64>, fields: [(u64, &str, &str); 3]| {
            let mut enc = Encoder::new(Vec::new(), false);
            if let Some(m) = min {
                enc.raw(&m.to_le_bytes()).unwrap();
            }
            enc.len(3).unwrap();
            for (ttl, f, v) in fields {
                enc.len(ttl).unwrap();
                enc.string(f.as_bytes()).unwrap();
                enc.string(v.as_bytes()).unwrap();
            }
            enc.into_inner()
        };
        // RDB_TYPE_HASH_METADATA: TTLs relative to the minimum (+1), 0 for none.
        let min = (now - 10) as u64;
        let body = encode(Some(min), [(0, "a", "1"), (1, "b", "2"), (1000, "c", "3")]);
        let mut dec = Decoder::new(&body);
        dec.now_ms = now;
        assert_eq!(hash_fields(dec.value(rtype::HASH_METADATA).unwrap()), want);
        assert_eq!(dec.fields_expired, 1);
        assert_eq!(dec.pos, body.len());
        // The release candidate's form: absolute TTLs, no minimum.
        let body = encode(
            None,
            [(0, "a", "1"), (min, "b", "2"), (min + 999, "c", "3")],
        );
        let mut dec = Decoder::new(&body);
        dec.now_ms = now;
        assert_eq!(
            hash_fields(dec.value(rtype::HASH_METADATA_PRE_GA).unwrap()),
            want
        );
        // RDB_TYPE_HASH_LISTPACK_EX: min expire, then a listpack of field, value, TTL.
        let mut lp = crate::keyspace::types::stream::listpack::Writer::new();
        for (f, v, ttl) in [
            ("a", "1", 0i64),
            ("b", "2", min as i64),
            ("c", "3", min as i64 + 999),
        ] {
            lp.string(f.as_bytes());
            lp.string(v.as_bytes());
            lp.int(ttl);
        }
        let mut enc = Encoder::new(Vec::new(), false);
        enc.raw(&min.to_le_bytes()).unwrap();
        enc.string(&lp.finish()).unwrap();
        let body = enc.into_inner();
        let mut dec = Decoder::new(&body);
        dec.now_ms = now;
        assert_eq!(
            hash_fields(dec.value(rtype::HASH_LISTPACK_EX).unwrap()),
            want
        );
        assert_eq!(dec.pos, body.len());
    }

    #[test]
    fn roundtrip_stream() {
        let mut st = Stream::new();
        for i in 1..=250u64 {
            let v = i.to_string();
            let pairs: Vec<&[u8]> = if i % 7 == 0 {
                vec![b"other", v.as_bytes()]
            } else {
                vec![b"f", v.as_bytes(), b"g", b"hello"]
            };
            st.append(StreamId::new(i, 0), &pairs, 100, 4096);
        }
        st.delete(StreamId::new(5, 0));
        st.max_deleted_id = StreamId::new(5, 0);
        st.trim(
            crate::keyspace::types::stream::Trim::MaxLen(200),
            false,
            0,
            Default::default(),
        );
        let mut g = Group::new(StreamId::new(60, 0), 12);
        g.create_consumer(b"alice", 1_700_000_000_000);
        g.pel.insert(
            StreamId::new(55, 0),
            Nack {
                delivery_time: 1_700_000_000_123,
                delivery_count: 3,
                consumer: b"alice".to_vec(),
            },
        );
        g.assign(StreamId::new(55, 0), b"alice");
        st.groups.insert(b"g".to_vec(), g);
        let mut db = Db::new();
        db.insert(b"s", Value::Stream(Box::new(st.clone())), NO_EXPIRE, 0);
        let bytes =
            write_dataset(Vec::new(), &[db], &[], &[], true, true, |_| (None, None)).unwrap();
        let mut got = None;
        Decoder::new(&bytes)
            .load(
                |_, _| {},
                |k| {
                    got = Some(k.value);
                    Ok(())
                },
            )
            .unwrap();
        let Some(Value::Stream(back)) = got else {
            panic!("no stream loaded")
        };
        back.check_invariants();
        assert_eq!(back.to_listpacks(), st.to_listpacks());
        assert_eq!(
            (
                back.length,
                back.last_id,
                back.first_id,
                back.max_deleted_id,
                back.entries_added
            ),
            (
                st.length,
                st.last_id,
                st.first_id,
                st.max_deleted_id,
                st.entries_added
            )
        );
        let (a, b) = (&back.groups[&b"g"[..]], &st.groups[&b"g"[..]]);
        assert_eq!(
            (a.last_id, a.entries_read, &a.pel),
            (b.last_id, b.entries_read, &b.pel)
        );
        assert_eq!(
            a.consumers[&b"alice"[..]].pel,
            b.consumers[&b"alice"[..]].pel
        );
    }

    #[test]
    fn crc64_check_value() {
        assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    /// Hashes save as RDB_TYPE_HASH and load in the encoding Redis would pick.
    #[test]
    fn roundtrip_hashes() {
        let lim = hash::Limits::default();
        let mut small = Hash::new();
        small.set(b"a", b"1", lim);
        small.set(b"b", b"", lim);
        let mut long = Hash::new();
        long.set(b"f", &[b'x'; 65], lim);
        let mut big = Hash::new();
        for i in 0..600 {
            big.set(
                format!("field:{i}").as_bytes(),
                format!("v{i}").as_bytes(),
                lim,
            );
        }
        // Shrunk after growing: a table in memory, but compact again once reloaded.
        let mut shrunk = big.clone();
        for i in 2..600 {
            shrunk.remove(format!("field:{i}").as_bytes());
        }
        let mut db = Db::new();
        for (k, h) in [
            ("small", small),
            ("long", long),
            ("big", big),
            ("shrunk", shrunk),
        ] {
            db.insert(k.as_bytes(), Value::Hash(Box::new(h)), NO_EXPIRE, 0);
        }
        let bytes =
            write_dataset(Vec::new(), &[db], &[], &[], true, true, |_| (None, None)).unwrap();
        let mut got = std::collections::BTreeMap::new();
        Decoder::new(&bytes)
            .load(
                |_, _| {},
                |k| {
                    got.insert(k.key, k.value);
                    Ok(())
                },
            )
            .unwrap();
        let enc = |k: &str| got[k.as_bytes()].encoding_name();
        assert_eq!(enc("small"), "listpack");
        assert_eq!(enc("long"), "hashtable");
        assert_eq!(enc("big"), "hashtable");
        assert_eq!(enc("shrunk"), "listpack");
        let Value::Hash(h) = &got[&b"small"[..]] else {
            panic!("not a hash")
        };
        let pairs: Vec<(&[u8], &[u8])> = h.iter().collect();
        assert_eq!(pairs, vec![(&b"a"[..], &b"1"[..]), (&b"b"[..], &b""[..])]);
        let Value::Hash(h) = &got[&b"big"[..]] else {
            panic!("not a hash")
        };
        assert_eq!(h.len(), 600);
        assert_eq!(h.get(b"field:599"), Some(&b"v599"[..]));
        // Tighter thresholds at load time convert more.
        let mut dec = Decoder::new(&bytes);
        dec.hash_limits = hash::Limits {
            max_entries: 1,
            max_value: 64,
        };
        let mut encs = Vec::new();
        dec.load(
            |_, _| {},
            |k| {
                encs.push(k.value.encoding_name());
                Ok(())
            },
        )
        .unwrap();
        assert!(encs.iter().all(|e| *e == "hashtable"));
    }

    #[test]
    fn hash_with_duplicate_fields_is_refused() {
        let mut enc = Encoder::new(Vec::new(), false);
        enc.raw(b"REDIS0010").unwrap();
        enc.byte(rtype::HASH).unwrap();
        enc.string(b"h").unwrap();
        enc.len(2).unwrap();
        for s in [&b"a"[..], b"1", b"a", b"2"] {
            enc.string(s).unwrap();
        }
        let bytes = enc.finish(true).unwrap();
        let e = Decoder::new(&bytes)
            .load(|_, _| {}, |_| Ok(()))
            .unwrap_err();
        assert!(e.msg.contains("Duplicate"), "{e}");
    }

    #[test]
    fn roundtrip_zsets() {
        use crate::keyspace::types::zset::{AddFlags, Limits, ZSet};
        let lim = Limits::default();
        let mut small = ZSet::for_new_key(lim, 1);
        let mut big = ZSet::for_new_key(lim, 1);
        for (i, m) in ["a", "b", "c"].iter().enumerate() {
            small.add(i as f64 - 1.0, m.as_bytes(), AddFlags::default(), lim);
        }
        small.add(f64::INFINITY, b"inf", AddFlags::default(), lim);
        small.add(-0.0, b"zero", AddFlags::default(), lim);
        for i in 0..300 {
            let m = format!("m{i}");
            big.add(
                f64::from(i % 7) * 0.5,
                m.as_bytes(),
                AddFlags::default(),
                lim,
            );
        }
        assert_eq!(big.encoding_name(), "skiplist");
        let mut db = Db::new();
        db.insert(b"small", Value::ZSet(Box::new(small.clone())), NO_EXPIRE, 0);
        db.insert(
            b"big",
            Value::ZSet(Box::new(big.clone())),
            1_900_000_000_000,
            0,
        );
        let bytes =
            write_dataset(Vec::new(), &[db], &[], &[], true, true, |_| (None, None)).unwrap();
        let load = |limits: Limits| {
            let mut got = Vec::new();
            let mut d = Decoder::new(&bytes);
            d.zset_limits = limits;
            d.load(
                |_, _| {},
                |k| {
                    got.push((k.key, k.value, k.expire_at_ms));
                    Ok(())
                },
            )
            .unwrap();
            got.sort_by(|a, b| a.0.cmp(&b.0));
            got
        };
        let contents =
            |z: &ZSet| -> Vec<(Vec<u8>, f64)> { z.iter().map(|(m, s)| (m.to_vec(), s)).collect() };
        let got = load(lim);
        let (Value::ZSet(b), Value::ZSet(s)) = (&got[0].1, &got[1].1) else {
            panic!("zsets expected");
        };
        assert_eq!(got[0].2, 1_900_000_000_000);
        assert_eq!(b.encoding_name(), "skiplist");
        assert_eq!(s.encoding_name(), "listpack");
        assert_eq!(contents(b), contents(&big));
        assert_eq!(contents(s), contents(&small));
        b.check_invariants();
        // Loaded under bigger limits the big set becomes a listpack, as Redis converts.
        let got = load(Limits {
            max_entries: 1000,
            max_value: 64,
        });
        let Value::ZSet(b) = &got[0].1 else {
            panic!("zset expected");
        };
        assert_eq!(b.encoding_name(), "listpack");
        assert_eq!(contents(b), contents(&big));
    }

    #[test]
    fn roundtrip_lists() {
        use crate::keyspace::types::list::List;
        let mut db = Db::new();
        let mut small = List::new(-2, 0);
        for e in [&b"a"[..], b"", b"12", b"-7", &[0u8, 255, 10]] {
            small.push_back(e);
        }
        let mut big = List::new(4, 1);
        let elems: Vec<Vec<u8>> = (0..1000)
            .map(|i| format!("element-{i}").repeat(i % 7 + 1).into_bytes())
            .collect();
        for e in &elems {
            big.push_back(e);
        }
        db.insert(b"small", Value::List(Box::new(small)), NO_EXPIRE, 0);
        db.insert(b"big", Value::List(Box::new(big)), 1_900_000_000_000, 0);
        let bytes =
            write_dataset(Vec::new(), &[db], &[], &[], true, true, |_| (None, None)).unwrap();
        let mut got = Vec::new();
        let mut dec = Decoder::new(&bytes);
        dec.list_options = (3, 2);
        dec.load(
            |_, _| {},
            |k| {
                let Value::List(l) = &k.value else {
                    panic!("not a list")
                };
                l.check_invariants();
                got.push((k.key.clone(), l.to_vec(), l.node_count(), k.expire_at_ms));
                Ok(())
            },
        )
        .unwrap();
        got.sort();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, b"big");
        assert_eq!(got[0].1, elems);
        assert_eq!(got[0].2, 334, "loaded with the current fill (3 per node)");
        assert_eq!(got[0].3, 1_900_000_000_000);
        assert_eq!(
            got[1].1,
            vec![
                b"a".to_vec(),
                vec![],
                b"12".to_vec(),
                b"-7".to_vec(),
                vec![0, 255, 10]
            ]
        );
        // An empty plain list is skipped, as Redis skips it.
        let mut raw = b"REDIS0010".to_vec();
        raw.extend_from_slice(&[rtype::LIST, 1, b'e', 0, opcode::EOF]);
        raw.extend_from_slice(&[0; 8]);
        let mut n = 0;
        Decoder::new(&raw)
            .load(
                |_, _| {},
                |_| {
                    n += 1;
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn lzf_length_claims_are_bounded() {
        // ENC_LZF, compressed length 3, claimed length 4 GiB.
        let mut bytes = vec![
            0xC0 | ENC_LZF,
            3,
            0x80,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0,
            b'a',
            b'b',
        ];
        bytes.push(0);
        let err = Decoder::new(&bytes).string().unwrap_err();
        assert_eq!(err.msg, "Invalid LZF compressed string");
    }

    #[test]
    fn roundtrip_strings() {
        let mut db = Db::new();
        db.insert(b"a", Value::string(b"hello"), NO_EXPIRE, 0);
        db.insert(b"n", Value::string(b"-123456789"), 1_900_000_000_000, 0);
        db.insert(b"big", Value::string(&vec![b'x'; 1000]), NO_EXPIRE, 0);
        db.insert(b"i64", Value::Int(i64::MAX), NO_EXPIRE, 0);
        let dbs = vec![Db::new(), db];
        let bytes = write_dataset(
            Vec::new(),
            &dbs,
            &[("redis-ver", b"7.2.4".to_vec())],
            &[b"#!lua name=lib\nredis.register_function('f', function() return 1 end)"],
            true,
            true,
            |_| (None, None),
        )
        .unwrap();
        let mut got = Vec::new();
        let mut aux = Vec::new();
        let mut dec = Decoder::new(&bytes);
        dec.load(
            |k, v| aux.push((k.to_vec(), v.to_vec())),
            |k| {
                got.push((k.db, k.key, k.value.str_to_vec().unwrap(), k.expire_at_ms));
                Ok(())
            },
        )
        .unwrap();
        got.sort();
        assert_eq!(aux, vec![(b"redis-ver".to_vec(), b"7.2.4".to_vec())]);
        assert_eq!(
            dec.functions,
            vec![b"#!lua name=lib\nredis.register_function('f', function() return 1 end)".to_vec()]
        );
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], (1, b"a".to_vec(), b"hello".to_vec(), NO_EXPIRE));
        assert_eq!(got[1].2, vec![b'x'; 1000]);
        assert_eq!(
            got[3],
            (1, b"n".to_vec(), b"-123456789".to_vec(), 1_900_000_000_000)
        );
        // A flipped byte is caught by the checksum.
        let mut bad = bytes.clone();
        let n = bad.len();
        bad[n - 12] ^= 1;
        assert!(Decoder::new(&bad).load(|_, _| {}, |_| Ok(())).is_err());
        // Truncation names an offset.
        let e = Decoder::new(&bytes[..bytes.len() - 20])
            .load(|_, _| {}, |_| Ok(()))
            .unwrap_err();
        assert!(e.offset > 0);
    }

    /// A streamed input decodes as the same bytes in a slice do, whatever the sizes of the
    /// pieces it arrives in, keeps only a window in memory, checks the checksum across
    /// dropped parts, and hands back what followed the RDB.
    #[test]
    fn streaming_matches_slice_decoding() {
        let mut db = Db::new();
        for i in 0..3000 {
            let v = vec![b'a' + (i % 26) as u8; 1 + (i * 37) % 2000];
            db.insert(format!("k{i}").as_bytes(), Value::string(&v), NO_EXPIRE, 0);
        }
        let dbs = vec![db];
        let mut bytes =
            write_dataset(Vec::new(), &dbs, &[], &[], false, true, |_| (None, None)).unwrap();
        let decode = |input: &[u8], piece: usize| {
            let mut at = 0;
            let mut peak = 0;
            let source = Box::new(|out: &mut Vec<u8>| {
                let n = piece.min(input.len() - at);
                out.extend_from_slice(&input[at..at + n]);
                at += n;
                peak = peak.max(out.capacity());
                Ok(n)
            });
            let mut keys = Vec::new();
            let mut dec = Decoder::streaming(source);
            let r = dec.load(
                |_, _| {},
                |k| {
                    keys.push((k.key, k.value.str_to_vec().unwrap()));
                    Ok(())
                },
            );
            let rest = dec.into_rest();
            (r.map(|()| keys), rest, peak)
        };
        let mut want = Vec::new();
        Decoder::new(&bytes)
            .load(
                |_, _| {},
                |k| {
                    want.push((k.key, k.value.str_to_vec().unwrap()));
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(want.len(), 3000);
        bytes.extend_from_slice(b"EOFMARK+stream");
        for piece in [1, 7, 4096, 65536] {
            let (keys, rest, peak) = decode(&bytes, piece);
            assert_eq!(keys.unwrap(), want, "pieces of {piece}");
            // At most a piece beyond the mark was read.
            assert!(b"EOFMARK+stream".starts_with(&rest) || rest == b"EOFMARK+stream");
            assert!(peak < 4 * WINDOW_KEEP, "window {peak}");
        }
        assert!(
            bytes.len() > 2 * WINDOW_KEEP,
            "the window was dropped at least once"
        );
        // A flipped byte early on (already out of the window at the end) fails the checksum.
        let mut bad = bytes.clone();
        let in_a_value = (bytes.len() / 3..)
            .find(|&i| bytes[i..i + 64].iter().all(|&b| b == bytes[i]))
            .unwrap();
        bad[in_a_value + 32] ^= 0x20;
        let (r, _, _) = decode(&bad, 4096);
        let e = r.map(|_| ()).unwrap_err();
        assert_eq!(e.msg, "RDB CRC error", "{e}");
        // A stream cut short is truncated, not loaded.
        let (r, _, _) = decode(&bytes[..bytes.len() / 2], 4096);
        assert!(r.unwrap_err().msg.contains("truncated"));
    }

    #[test]
    fn roundtrip_sets() {
        let lim = set::Limits::default();
        let mut db = Db::new();
        let small_ints = Set::from_members([&b"3"[..], b"-70000", b"1"], &lim).unwrap();
        let mixed = Set::from_members([&b"1"[..], b"a", b"x y"], &lim).unwrap();
        let many: Vec<Vec<u8>> = (0..600).map(|i| format!("{i}").into_bytes()).collect();
        let big_ints = Set::from_members(many.iter().map(Vec::as_slice), &lim).unwrap();
        let long: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("member:{i}").into_bytes())
            .collect();
        let strings = Set::from_members(long.iter().map(Vec::as_slice), &lim).unwrap();
        let sets = [
            (&b"ints"[..], small_ints),
            (b"mixed", mixed),
            (b"bigints", big_ints),
            (b"strings", strings),
        ];
        for (k, s) in &sets {
            db.insert(k, Value::Set(Box::new(s.clone())), NO_EXPIRE, 0);
        }
        let bytes =
            write_dataset(Vec::new(), &[db], &[], &[], true, true, |_| (None, None)).unwrap();
        let mut got = std::collections::BTreeMap::new();
        Decoder::new(&bytes)
            .load(
                |_, _| {},
                |k| {
                    got.insert(k.key, k.value);
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(got.len(), sets.len());
        for (k, s) in &sets {
            let Value::Set(loaded) = &got[*k] else {
                panic!("not a set")
            };
            assert_eq!(loaded.encoding_name(), s.encoding_name());
            let a: std::collections::BTreeSet<Vec<u8>> =
                loaded.iter().map(Member::to_vec).collect();
            let b: std::collections::BTreeSet<Vec<u8>> = s.iter().map(Member::to_vec).collect();
            assert_eq!(a, b);
        }
        assert_eq!(got[&b"ints"[..]].encoding_name(), "intset");
        assert_eq!(got[&b"bigints"[..]].encoding_name(), "hashtable");
        // With a lower threshold the same file loads the small integer set as a hash table.
        let mut dec = Decoder::new(&bytes);
        dec.set_limits.max_intset_entries = 2;
        let mut encodings = Vec::new();
        dec.load(
            |_, _| {},
            |k| {
                encodings.push((k.key, k.value.encoding_name()));
                Ok(())
            },
        )
        .unwrap();
        assert!(encodings.contains(&(b"ints".to_vec(), "hashtable")));
    }

    #[test]
    fn set_duplicates_and_empty_sets() {
        let mut enc = Encoder::new(Vec::new(), false);
        enc.raw(b"REDIS0010").unwrap();
        enc.byte(rtype::SET).unwrap();
        enc.string(b"empty").unwrap();
        enc.len(0).unwrap();
        enc.byte(rtype::SET).unwrap();
        enc.string(b"dup").unwrap();
        enc.len(2).unwrap();
        enc.string(b"a").unwrap();
        enc.string(b"a").unwrap();
        let bytes = enc.finish(true).unwrap();
        let mut keys = Vec::new();
        let e = Decoder::new(&bytes)
            .load(
                |_, _| {},
                |k| {
                    keys.push(k.key);
                    Ok(())
                },
            )
            .unwrap_err();
        assert!(keys.is_empty());
        assert!(e.msg.contains("Duplicate set members"));
    }
}
