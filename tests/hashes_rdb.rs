//! Hashes through an RDB file: cinnabar saves them as RDB_TYPE_HASH, then redis-server and a
//! fresh cinnabar load the same file under several encoding thresholds and must agree on every
//! key's encoding and contents. Skips without redis-server (fails under CI).

mod common;

use std::collections::BTreeMap;

use cinnabar::resp::frame::Frame;
use common::client::Client;
use common::server::{cinnabar, oracle};

fn contents(c: &mut Client, key: &str) -> BTreeMap<Vec<u8>, Vec<u8>> {
    match c.cmd(&["HGETALL", key]) {
        Frame::Array(v) => v
            .chunks(2)
            .map(|p| {
                (
                    p[0].as_bytes().unwrap().to_vec(),
                    p[1].as_bytes().unwrap().to_vec(),
                )
            })
            .collect(),
        other => panic!("HGETALL {key}: {other:?}"),
    }
}

#[test]
fn redis_and_cinnabar_load_our_hashes_alike() {
    let Some(probe) = oracle(&[]) else {
        return;
    };
    drop(probe);
    let src = cinnabar(&[]);
    let mut c = src.client();
    let mut keys = Vec::new();
    for (name, fields, vlen) in [
        ("one", 1, 1),
        ("three", 3, 5),
        ("five", 5, 1),
        ("long", 3, 70),
        ("edge64", 2, 64),
        ("big", 600, 3),
        ("mid", 100, 10),
    ] {
        let mut argv = vec!["HSET".to_string(), name.to_string()];
        for i in 0..fields {
            argv.push(format!("field:{i}"));
            argv.push(format!("{i:0>vlen$}"));
        }
        c.cmd(&argv);
        keys.push(name);
    }
    // A hashtable shrunk back to two fields: compact again once reloaded.
    let mut argv = vec!["HDEL".to_string(), "big2".to_string()];
    c.cmd(&["HSET", "big2", "keep", "1", "keep2", "2"]);
    for i in 0..600 {
        c.cmd(&["HSET", "big2", &format!("f{i}"), "x"]);
        argv.push(format!("f{i}"));
    }
    c.cmd(&argv);
    keys.push("big2");
    assert_eq!(
        c.cmd(&["OBJECT", "ENCODING", "big2"]).as_bytes(),
        Some(&b"hashtable"[..])
    );
    assert_eq!(c.cmd(&["SAVE"]).as_bytes(), Some(&b"OK"[..]));
    let dir = src.dir.to_string_lossy().to_string();

    for (entries, value) in [("512", "64"), ("4", "8"), ("0", "64"), ("100", "2")] {
        let args: Vec<String> = [
            "--dir",
            &dir,
            "--hash-max-listpack-entries",
            entries,
            "--hash-max-listpack-value",
            value,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let oracle = oracle(&args).expect("redis-server");
        let ours = cinnabar(&args);
        let (mut a, mut b) = (oracle.client(), ours.client());
        assert_eq!(a.cmd(&["DBSIZE"]).as_int(), Some(keys.len() as i64));
        assert_eq!(b.cmd(&["DBSIZE"]).as_int(), Some(keys.len() as i64));
        for k in &keys {
            let enc = ["OBJECT", "ENCODING", k];
            assert_eq!(
                a.cmd(&enc),
                b.cmd(&enc),
                "{k} with entries={entries} value={value}"
            );
            assert_eq!(contents(&mut a, k), contents(&mut b, k), "{k}");
        }
    }
}
