//! The RDB file format (version 10, what Redis 7.0 writes): encoder and decoder.
//!
//! Sans I/O over byte buffers and `Write`/`Read`; the caller owns files. Layout:
//! "REDIS0010", aux fields, per database SELECTDB + RESIZEDB + entries, EOF, CRC-64.

use std::io::{self, Write};

use crc::{Crc, Table, CRC_64_REDIS};

use crate::keyspace::db::{Db, Entry, NO_EXPIRE};
use crate::keyspace::types::stream::{Consumer, Group, Nack, Stream, StreamId};
use crate::keyspace::value::Value;
use crate::util::num::parse_i64;

pub const RDB_VERSION: u16 = 10;
/// Oldest version we read.
pub const RDB_VERSION_MIN: u16 = 1;
/// Newest version we read (Redis 7.4 writes 12).
pub const RDB_VERSION_MAX: u16 = 12;

pub mod opcode {
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
    /// Redis 7.0's stream encoding (what we write).
    pub const STREAM_LISTPACKS_2: u8 = 19;
    /// Redis 7.2's (adds the consumers' active time).
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Redis's CRC-64 (Jones), table-driven 16 bytes at a time.
pub static CRC64: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_REDIS);

/// Writes RDB bytes while keeping the running checksum.
pub struct Encoder<W: Write> {
    out: W,
    digest: crc::Digest<'static, u64, Table<16>>,
    pub compress: bool,
    pub written: u64,
}

impl<W: Write> Encoder<W> {
    pub fn new(out: W, compress: bool) -> Self {
        Encoder {
            out,
            digest: CRC64.digest(),
            compress,
            written: 0,
        }
    }

    pub fn raw(&mut self, b: &[u8]) -> io::Result<()> {
        self.digest.update(b);
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
        if self.compress && s.len() > 20 {
            if let Ok(c) = lzf::compress(s) {
                if c.len() < s.len() {
                    self.byte(0xC0 | ENC_LZF)?;
                    self.len(c.len() as u64)?;
                    self.len(s.len() as u64)?;
                    return self.raw(&c);
                }
            }
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
        lru_idle_secs: Option<u64>,
        lfu_freq: Option<u8>,
    ) -> io::Result<()> {
        if e.expire_at_ms != NO_EXPIRE {
            self.byte(opcode::EXPIRETIME_MS)?;
            self.raw(&e.expire_at_ms.to_le_bytes())?;
        }
        if let Some(idle) = lru_idle_secs {
            self.byte(opcode::IDLE)?;
            self.len(idle)?;
        }
        if let Some(f) = lfu_freq {
            self.byte(opcode::FREQ)?;
            self.byte(f)?;
        }
        match &e.value {
            Value::Str(s) => {
                self.byte(rtype::STRING)?;
                self.string(key)?;
                self.string(s)
            }
            Value::Int(i) => {
                self.byte(rtype::STRING)?;
                self.string(key)?;
                self.int_string(*i)
            }
            Value::Stream(st) => {
                self.byte(rtype::STREAM_LISTPACKS_2)?;
                self.string(key)?;
                self.stream(st)
            }
            other => Err(io::Error::other(format!(
                "saving {} values is not supported yet",
                other.type_name()
            ))),
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

    /// EOF opcode and checksum (zero when checksums are off).
    pub fn finish(mut self, checksum: bool) -> io::Result<W> {
        self.byte(opcode::EOF)?;
        let crc = if checksum {
            self.digest.clone().finalize()
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
    compress: bool,
    checksum: bool,
    meta: impl Fn(&Entry) -> (Option<u64>, Option<u8>),
) -> io::Result<W> {
    let mut enc = Encoder::new(out, compress);
    enc.raw(format!("REDIS{RDB_VERSION:04}").as_bytes())?;
    for (k, v) in aux {
        enc.aux(k, v)?;
    }
    for (i, db) in dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        enc.byte(opcode::SELECTDB)?;
        enc.len(i as u64)?;
        enc.byte(opcode::RESIZEDB)?;
        enc.len(db.len() as u64)?;
        enc.len(db.expires_count() as u64)?;
        for (k, e) in db.keys.iter() {
            let (idle, freq) = meta(e);
            enc.entry(k, e, idle, freq)?;
        }
    }
    enc.finish(checksum)
}

/// A decoding failure with the byte offset where it was found.
#[derive(Debug)]
pub struct DecodeError {
    pub offset: usize,
    pub msg: String,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at offset {}", self.msg, self.offset)
    }
}

/// Reads RDB bytes from a slice.
pub struct Decoder<'a> {
    buf: &'a [u8],
    pub pos: usize,
}

/// A loaded key.
pub struct LoadedKey {
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
        Decoder { buf, pos: 0 }
    }

    fn fail<T>(&self, msg: impl Into<String>) -> Result<T, DecodeError> {
        Err(DecodeError {
            offset: self.pos,
            msg: msg.into(),
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() - self.pos < n {
            return self.fail("Unexpected end of file (truncated RDB)");
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
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
                match lzf::decompress(data, len) {
                    Ok(v) if v.len() == len => Ok(v),
                    _ => Err(DecodeError {
                        offset: start,
                        msg: "Invalid LZF compressed string".into(),
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
            s.load_listpack(&key, &lp)
                .map_err(|msg| DecodeError { offset: at, msg })?;
        }
        s.length = self.length()?;
        if s.length != s.counted_len() {
            return self.fail("Stream length inconsistent with its listpacks");
        }
        s.last_id = self.stream_id()?;
        s.first_id = self.stream_id()?;
        s.max_deleted_id = self.stream_id()?;
        s.entries_added = self.length()?;
        let groups = self.length()?;
        for _ in 0..groups {
            let name = self.string()?;
            let last = self.stream_id()?;
            let entries_read = self.length()? as i64;
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
                    c.pel.insert(id);
                }
                g.consumers.insert(cname, c);
            }
            s.groups.insert(name, g);
        }
        Ok(s)
    }

    /// Parses a whole file, calling `on_key` for each key; checks the CRC if present.
    pub fn load(
        &mut self,
        mut on_aux: impl FnMut(&[u8], &[u8]),
        mut on_key: impl FnMut(LoadedKey) -> Result<(), String>,
    ) -> Result<(), DecodeError> {
        let magic = self.take(9)?;
        if &magic[..5] != b"REDIS" {
            self.pos = 0;
            return self.fail("Wrong signature trying to load DB from file");
        }
        let version: u16 = std::str::from_utf8(&magic[5..])
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if !(RDB_VERSION_MIN..=RDB_VERSION_MAX).contains(&version) {
            self.pos = 5;
            return self.fail(format!("Can't handle RDB format version {version}"));
        }
        let mut db = 0usize;
        let mut expire = NO_EXPIRE;
        let mut idle = None;
        let mut freq = None;
        loop {
            let t = self.byte()?;
            match t {
                opcode::EOF => break,
                opcode::SELECTDB => db = self.length()? as usize,
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
                opcode::FUNCTION | opcode::FUNCTION2 => {
                    return self.fail("Function libraries are not supported yet")
                }
                rtype::STRING | rtype::STREAM_LISTPACKS_2 | rtype::STREAM_LISTPACKS_3 => {
                    let key = self.string()?;
                    let value = if t == rtype::STRING {
                        Value::string_from_vec(self.string()?)
                    } else {
                        Value::Stream(Box::new(self.stream(t)?))
                    };
                    let at = self.pos;
                    on_key(LoadedKey {
                        db,
                        key,
                        value,
                        expire_at_ms: expire,
                        idle_secs: idle,
                        freq,
                    })
                    .map_err(|msg| DecodeError { offset: at, msg })?;
                    expire = NO_EXPIRE;
                    idle = None;
                    freq = None;
                }
                other => {
                    self.pos -= 1;
                    return self.fail(format!("Unsupported RDB object type {other}"));
                }
            }
        }
        if version >= 5 && self.buf.len() - self.pos >= 8 {
            let expected =
                u64::from_le_bytes(self.buf[self.pos..self.pos + 8].try_into().expect("8"));
            if expected != 0 {
                let actual = CRC64.checksum(&self.buf[..self.pos]);
                if actual != expected {
                    return self.fail(format!(
                        "Wrong RDB checksum expected: {expected:016x} got: {actual:016x}"
                    ));
                }
            }
            self.pos += 8;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        st.trim(crate::keyspace::types::stream::Trim::MaxLen(200), false, 0);
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
        let bytes = write_dataset(Vec::new(), &[db], &[], true, true, |_| (None, None)).unwrap();
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
            true,
            true,
            |_| (None, None),
        )
        .unwrap();
        let mut got = Vec::new();
        let mut aux = Vec::new();
        Decoder::new(&bytes)
            .load(
                |k, v| aux.push((k.to_vec(), v.to_vec())),
                |k| {
                    got.push((k.db, k.key, k.value.str_to_vec().unwrap(), k.expire_at_ms));
                    Ok(())
                },
            )
            .unwrap();
        got.sort();
        assert_eq!(aux, vec![(b"redis-ver".to_vec(), b"7.2.4".to_vec())]);
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
}
