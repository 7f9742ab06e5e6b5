//! Lists through an RDB file: cinnabar saves them as RDB_TYPE_LIST, then redis-server and a
//! fresh cinnabar load the same file under several node options and must agree on every key's
//! encoding, contents and TTL. Skips without redis-server (fails under CI).

mod common;

use common::client::Client;
use common::server::{cinnabar, oracle};

fn contents(c: &mut Client, key: &str) -> Vec<u8> {
    c.cmd_raw(&["LRANGE", key, "0", "-1"])
}

#[test]
fn redis_and_cinnabar_load_our_lists_alike() {
    let Some(probe) = oracle(&[]) else {
        return;
    };
    drop(probe);
    let src = cinnabar(&[
        "--list-max-listpack-size".into(),
        "3".into(),
        "--list-compress-depth".into(),
        "1".into(),
    ]);
    let mut c = src.client();
    let mut keys = Vec::new();
    for (name, n, vlen) in [
        ("one", 1, 1),
        ("ints", 50, 0),
        ("long", 20, 300),
        ("huge", 3, 20000),
        ("many", 5000, 12),
    ] {
        let mut argv = vec!["RPUSH".to_string(), name.to_string()];
        for i in 0..n {
            argv.push(if vlen == 0 {
                (i as i64 * 7919 - 100_000).to_string()
            } else {
                format!("{i:0>vlen$}")
            });
        }
        c.cmd(&argv);
        keys.push(name);
    }
    c.cmd(&["RPUSH", "bin", "", "\u{0}\u{1}", "a b", ""]);
    keys.push("bin");
    c.cmd(&["PEXPIRE", "many", "100000000"]);
    // Edited in the middle before saving.
    c.cmd(&["LINSERT", "many", "BEFORE", "000000000100", "inserted"]);
    c.cmd(&["LREM", "many", "0", "000000000200"]);
    c.cmd(&["LSET", "long", "5", "x"]);
    assert_eq!(c.cmd(&["SAVE"]).as_bytes(), Some(&b"OK"[..]));
    let dir = src.dir.to_string_lossy().to_string();

    for (size, depth) in [("-2", "0"), ("4", "1"), ("-1", "2"), ("1", "0")] {
        let args: Vec<String> = [
            "--dir",
            &dir,
            "--list-max-listpack-size",
            size,
            "--list-compress-depth",
            depth,
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
            assert_eq!(a.cmd(&enc), b.cmd(&enc), "{k} with size={size}");
            assert_eq!(contents(&mut a, k), contents(&mut b, k), "{k}");
            let ttl = ["TTL", k];
            let (ta, tb) = (a.cmd(&ttl).as_int().unwrap(), b.cmd(&ttl).as_int().unwrap());
            assert!((ta - tb).abs() <= 2, "{k}: ttl {ta} vs {tb}");
        }
    }
}
