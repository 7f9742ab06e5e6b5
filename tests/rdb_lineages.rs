//! RDB files and DUMP payloads of the newer lineages, built by hand from their documented
//! formats (no server of those versions is installed here): Valkey 9's `VALKEY080` files
//! with RDB_TYPE_HASH_2, Redis 7.4+ cluster files with RDB_OPCODE_SLOT_INFO, and what is
//! refused, with the offset named: a version from the future, a type we do not know. A
//! file cinnabar loaded is saved again as version 10, which redis-server 7.0 loads: the
//! two servers then hold the same keys.

mod common;

use std::path::PathBuf;

use cinnabar::persist::rdb::{Encoder, CRC64};
use common::dataset::snapshot_all;
use common::server::{cinnabar, fresh_dir, in_dir, oracle, with_dump};

const AUX: u8 = 250;
const SELECTDB: u8 = 254;
const RESIZEDB: u8 = 251;
const EOF: u8 = 255;
const SLOT_INFO: u8 = 244;

/// A file: `magic`, a few aux fields, `body` (keys), EOF and the CRC-64.
fn rdb_file(magic: &[u8], body: impl FnOnce(&mut Encoder<Vec<u8>>)) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new(), false);
    e.raw(magic).unwrap();
    for (k, v) in [("valkey-ver", "9.0.0"), ("redis-bits", "64")] {
        e.byte(AUX).unwrap();
        e.string(k.as_bytes()).unwrap();
        e.string(v.as_bytes()).unwrap();
    }
    e.byte(SELECTDB).unwrap();
    e.len(0).unwrap();
    body(&mut e);
    e.byte(EOF).unwrap();
    let mut bytes = e.into_inner();
    let crc = CRC64.checksum(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

fn string_key(e: &mut Encoder<Vec<u8>>, k: &str, v: &str) {
    e.byte(0).unwrap();
    e.string(k.as_bytes()).unwrap();
    e.string(v.as_bytes()).unwrap();
}

/// Valkey 9's RDB_TYPE_HASH_2: count, then field, value and a TTL in ms (-1 for none).
fn valkey_hash(e: &mut Encoder<Vec<u8>>, key: &str, fields: &[(&str, &str, i64)]) {
    e.byte(22).unwrap();
    e.string(key.as_bytes()).unwrap();
    e.len(fields.len() as u64).unwrap();
    for (f, v, ttl) in fields {
        e.string(f.as_bytes()).unwrap();
        e.string(v.as_bytes()).unwrap();
        e.raw(&ttl.to_le_bytes()).unwrap();
    }
}

fn write_dump(bytes: &[u8]) -> PathBuf {
    let dir = fresh_dir();
    let path = dir.join("source.rdb");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Starts cinnabar on the file, saves, and loads what it saved into redis-server 7.0:
/// both must then hold `expected` (the keys as `snapshot_all` lists them).
fn loads_and_saves_for_redis(bytes: &[u8]) -> Vec<String> {
    let file = write_dump(bytes);
    let ours = with_dump(&file, |a| Some(cinnabar(a))).expect("cinnabar loads the file");
    let mut c = ours.client();
    let got = snapshot_all(&mut c);
    assert_eq!(c.cmd_raw(&["SAVE"]), b"+OK\r\n");
    let saved = std::fs::read(ours.dir.join("dump.rdb")).unwrap();
    assert_eq!(&saved[..9], b"REDIS0010", "saved as version 10");
    if let Some(theirs) = with_dump(&write_dump(&saved), oracle) {
        assert_eq!(snapshot_all(&mut theirs.client()), got);
    }
    got
}

fn future_ms() -> i64 {
    4_000_000_000_000
}

#[test]
fn valkey_9_file_with_field_ttls() {
    let bytes = rdb_file(b"VALKEY080", |e| {
        e.byte(AUX).unwrap();
        e.string(b"slot-info").unwrap();
        e.string(b"0,2,0,1").unwrap();
        string_key(e, "s", "v");
        // a: no TTL, b: its TTL passed (dropped), c: a TTL ahead (kept, without it).
        valkey_hash(
            e,
            "h",
            &[("a", "1", -1), ("b", "2", 1000), ("c", "3", future_ms())],
        );
        // Every field expired: the key is not loaded.
        valkey_hash(e, "gone", &[("x", "1", 1000)]);
    });
    // c keeps its TTL (so the hash is listpackex, TTL fields first), b's had passed, and the
    // hash whose every field expired is not loaded.
    let file = write_dump(&bytes);
    let ours = with_dump(&file, |a| Some(cinnabar(a))).unwrap();
    let mut c = ours.client();
    assert_eq!(c.cmd_raw(&["GET", "s"]), b"$1\r\nv\r\n");
    assert_eq!(
        c.cmd_raw(&["HGETALL", "h"]),
        b"*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\na\r\n$1\r\n1\r\n"
    );
    let times = c.cmd_raw(&["HPEXPIRETIME", "h", "FIELDS", "3", "a", "b", "c"]);
    assert_eq!(
        times,
        format!("*3\r\n:-1\r\n:-2\r\n:{}\r\n", future_ms()).as_bytes()
    );
    assert_eq!(c.cmd_raw(&["EXISTS", "gone"]), b":0\r\n");
    // Saved as Redis 7.4's version 12 (the TTL needs it), and loaded back the same.
    assert_eq!(c.cmd_raw(&["SAVE"]), b"+OK\r\n");
    let saved = std::fs::read(ours.dir.join("dump.rdb")).unwrap();
    assert_eq!(&saved[..9], b"REDIS0012");
    let again = with_dump(&write_dump(&saved), |a| Some(cinnabar(a))).unwrap();
    let mut c = again.client();
    assert_eq!(
        c.cmd_raw(&["HPEXPIRETIME", "h", "FIELDS", "3", "a", "b", "c"]),
        times
    );
}

#[test]
fn redis_cluster_file_with_slot_info() {
    let bytes = rdb_file(b"REDIS0012", |e| {
        e.byte(RESIZEDB).unwrap();
        e.len(1).unwrap();
        e.len(0).unwrap();
        e.byte(SLOT_INFO).unwrap();
        for n in [866, 1, 0] {
            e.len(n).unwrap();
        }
        string_key(e, "foo", "bar");
    });
    let got = loads_and_saves_for_redis(&bytes);
    assert!(got.join("\n").contains("\nfoo +string"), "{got:?}");
}

/// Starts cinnabar on a file it must refuse; returns its log.
fn refused(bytes: &[u8]) -> String {
    let dir = fresh_dir();
    std::fs::write(dir.join("dump.rdb"), bytes).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cinnabar"))
        .args(["--port", &common::server::free_port().to_string(), "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a bad file was loaded");
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn future_versions_and_unknown_types_are_refused_with_their_offset() {
    for (magic, version, offset) in [
        (&b"VALKEY082"[..], 82, 6),
        (b"REDIS0016", 16, 5),
        // Each magic with the other line's numbers.
        (b"VALKEY011", 11, 6),
        (b"REDIS0080", 80, 5),
    ] {
        let log = refused(&rdb_file(magic, |e| string_key(e, "k", "v")));
        assert!(
            log.contains(&format!(
                "Internal error in RDB reading offset {offset}, function at rdb.c:0 -> Can't handle RDB format version {version}"
            )),
            "{log}"
        );
    }
    // Type 26 (Redis 8.x's newer types): refused at the byte that names it.
    let bytes = rdb_file(b"REDIS0013", |e| {
        string_key(e, "k", "v");
        e.byte(26).unwrap();
    });
    let at = bytes.len() - 10;
    let log = refused(&bytes);
    assert!(
        log.contains(&format!(
            "Internal error in RDB reading offset {at}, function at rdb.c:0 -> Unsupported RDB object type 26"
        )),
        "{log}"
    );
    // Redis 7.4's types under Valkey's magic are not Valkey's.
    let log = refused(&rdb_file(b"VALKEY080", |e| {
        e.byte(24).unwrap();
        e.string(b"h").unwrap();
    }));
    assert!(log.contains("Unsupported RDB object type 24"), "{log}");
}

#[test]
fn valkey_dump_payloads_restore() {
    // A DUMP payload: type, value, then the RDB version (80: Valkey 9) and a CRC-64.
    let mut e = Encoder::new(Vec::new(), false);
    e.byte(22).unwrap();
    e.len(2).unwrap();
    for (f, v, ttl) in [("a", "1", -1i64), ("b", "2", future_ms())] {
        e.string(f.as_bytes()).unwrap();
        e.string(v.as_bytes()).unwrap();
        e.raw(&ttl.to_le_bytes()).unwrap();
    }
    let mut payload = e.into_inner();
    payload.extend_from_slice(&80u16.to_le_bytes());
    let crc = CRC64.checksum(&payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    let server = in_dir(fresh_dir(), |a| Some(cinnabar(a))).unwrap();
    let mut c = server.client();
    let restore = |c: &mut common::client::Client, key: &str, p: &[u8]| {
        c.cmd_raw(&[b"RESTORE".as_slice(), key.as_bytes(), b"0", p])
    };
    assert_eq!(restore(&mut c, "h", &payload), b"+OK\r\n");
    assert_eq!(c.cmd_raw(&["HLEN", "h"]), b":2\r\n");
    // The same bytes under Redis 7.4's version: type 22 is its pre-GA layout, which these
    // bytes are not.
    let mut redis = payload[..payload.len() - 10].to_vec();
    redis.extend_from_slice(&12u16.to_le_bytes());
    let crc = CRC64.checksum(&redis);
    redis.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(restore(&mut c, "r", &redis), b"-ERR Bad data format\r\n");
    // A version from the future.
    let mut future = payload[..payload.len() - 10].to_vec();
    future.extend_from_slice(&82u16.to_le_bytes());
    let crc = CRC64.checksum(&future);
    future.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(
        restore(&mut c, "f", &future),
        b"-ERR DUMP payload version or checksum are wrong\r\n"
    );
}
