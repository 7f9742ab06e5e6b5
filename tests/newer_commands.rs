//! Commands Redis 8.x and Valkey 9 added (docs/compat.md): compare-and-set and
//! compare-and-delete on strings (SET ... IFEQ/IFNE/IFDEQ/IFDNE, DELEX, DIGEST, DELIFEQ),
//! MSETEX, and BITOP DIFF/DIFF1/ANDOR/ONE. No server of those versions is installed here:
//! replies follow redis.io's and valkey.io's command pages and the upstream sources, and the
//! AOF shows what replicas would be sent.

mod common;

use common::client::{reply_int as n, reply_text as r, Client};
use common::server::{cinnabar, oracle};

const SYNTAX: &str = "-ERR syntax error\r\n";
const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
const NIL: &str = "$-1\r\n";

#[test]
fn set_ifeq_and_ifne() {
    let server = cinnabar(&[]);
    let c = &mut server.client();
    // IFEQ never creates a key; IFNE does.
    assert_eq!(r(c, "SET lock t1 IFEQ t0"), NIL);
    assert_eq!(r(c, "EXISTS lock"), ":0\r\n");
    assert_eq!(r(c, "SET lock t1 IFNE t0"), "+OK\r\n");
    assert_eq!(r(c, "SET lock t2 IFEQ t0"), NIL);
    assert_eq!(r(c, "SET lock t2 IFEQ t1 PX 100000"), "+OK\r\n");
    assert_eq!(r(c, "GET lock"), "$2\r\nt2\r\n");
    assert!((90_000..=100_000).contains(&n(c, "PTTL lock")));
    assert_eq!(r(c, "SET lock t3 IFNE t2"), NIL);
    assert_eq!(r(c, "SET lock t3 IFNE other"), "+OK\r\n");
    // GET returns the old value whether or not the condition held.
    assert_eq!(r(c, "SET lock t4 IFEQ nope GET"), "$2\r\nt3\r\n");
    assert_eq!(r(c, "GET lock"), "$2\r\nt3\r\n");
    assert_eq!(r(c, "SET lock t4 IFEQ t3 GET"), "$2\r\nt3\r\n");
    assert_eq!(r(c, "GET lock"), "$2\r\nt4\r\n");
    // Integers compare as their text.
    c.ok("SET n 12");
    assert_eq!(r(c, "SET n 13 IFEQ 12"), "+OK\r\n");
    // Another type: WRONGTYPE, untouched.
    c.ok("RPUSH list a");
    assert_eq!(r(c, "SET list v IFEQ a"), WRONGTYPE);
    assert_eq!(r(c, "SET list v IFNE a"), WRONGTYPE);
    assert_eq!(r(c, "TYPE list"), "+list\r\n");
    // One condition, never with NX or XX, and always with its argument.
    for bad in [
        "SET k v IFEQ a NX",
        "SET k v XX IFEQ a",
        "SET k v IFEQ a IFNE b",
        "SET k v IFEQ",
        "SET k v IFXX a",
    ] {
        assert_eq!(r(c, bad), SYNTAX, "{bad}");
    }
}

#[test]
fn digests() {
    let server = cinnabar(&[]);
    let c = &mut server.client();
    assert_eq!(r(c, "DIGEST missing"), NIL);
    // The value of redis/redis#14496: its digest keeps its leading zeros.
    let v = "v8lf0c11xh8ymlqztfd3eeq16kfn4sspw7fqmnuuq3k3t75em5wdizgcdw7uc26nnf961u2jkfzkjytls2kwlj7626sd";
    c.ok(&format!("SET foo {v}"));
    assert_eq!(r(c, "DIGEST foo"), "$16\r\n00006c38adf31777\r\n");
    c.ok("RPUSH list a");
    assert_eq!(r(c, "DIGEST list"), WRONGTYPE);
    // IFDEQ/IFDNE take 16 hex digits in either case.
    assert_eq!(r(c, "SET foo w IFDEQ 0000000000000000"), NIL);
    assert_eq!(r(c, "SET foo w IFDNE 00006C38ADF31777"), NIL);
    assert_eq!(r(c, "SET foo w IFDEQ 00006C38ADF31777"), "+OK\r\n");
    let d = r(c, "DIGEST foo");
    let d = d.lines().nth(1).unwrap().to_string();
    assert_eq!(r(c, &format!("SET foo x IFDNE {d}")), NIL);
    assert_eq!(r(c, "SET foo x IFDNE 0000000000000000"), "+OK\r\n");
    // IFDNE creates a missing key, IFDEQ does not.
    assert_eq!(r(c, "SET new x IFDEQ 0000000000000000"), NIL);
    assert_eq!(r(c, "SET new x IFDNE 0000000000000000"), "+OK\r\n");
    for bad in ["6c38adf31777", "00006c38adf3177g", "00006c38adf317770"] {
        assert_eq!(
            r(c, &format!("SET foo y IFDEQ {bad}")),
            "-ERR must be exactly 16 hexadecimal characters\r\n"
        );
    }
}

#[test]
fn delex_and_delifeq() {
    let server = cinnabar(&["--appendonly".into(), "yes".into()]);
    let c = &mut server.client();
    // Without a condition: DEL of one key, of any type.
    c.ok("RPUSH list a");
    assert_eq!(r(c, "DELEX list"), ":1\r\n");
    assert_eq!(r(c, "DELEX list"), ":0\r\n");
    c.ok("SET lock owner1");
    assert_eq!(r(c, "DELEX lock IFEQ owner2"), ":0\r\n");
    assert_eq!(r(c, "DELEX lock IFNE owner1"), ":0\r\n");
    assert_eq!(r(c, "DELEX lock IFEQ owner1"), ":1\r\n");
    assert_eq!(r(c, "EXISTS lock"), ":0\r\n");
    assert_eq!(r(c, "DELEX lock IFNE x"), ":0\r\n");
    c.ok("SET lock owner1");
    let d = r(c, "DIGEST lock");
    let d = d.lines().nth(1).unwrap().to_uppercase();
    assert_eq!(r(c, &format!("DELEX lock IFDNE {d}")), ":0\r\n");
    assert_eq!(r(c, &format!("DELEX lock IFDEQ {d}")), ":1\r\n");
    c.ok("RPUSH list a");
    assert_eq!(r(c, "DELEX list IFEQ a"), WRONGTYPE);
    // Syntax is checked before the key is looked up.
    for bad in [
        "DELEX missing IFEQ",
        "DELEX missing IFXX a",
        "DELEX missing IFEQ a b",
    ] {
        assert_eq!(r(c, bad), SYNTAX, "{bad}");
    }
    assert_eq!(
        r(c, "DELEX missing IFDEQ abc"),
        "-ERR must be exactly 16 hexadecimal characters\r\n"
    );
    // Valkey's DELIFEQ.
    c.ok("SET lock owner1");
    assert_eq!(r(c, "DELIFEQ lock owner2"), ":0\r\n");
    assert_eq!(r(c, "DELIFEQ lock owner1"), ":1\r\n");
    assert_eq!(r(c, "DELIFEQ lock owner1"), ":0\r\n");
    assert_eq!(r(c, "DELIFEQ list a"), WRONGTYPE);
    // Each deletion reaches the AOF (and replicas) as a DEL; a refused one not at all.
    let aof = std::fs::read(server.dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    let aof = String::from_utf8_lossy(&aof);
    assert_eq!(
        aof.matches("$3\r\nDEL\r\n$4\r\nlock\r\n").count(),
        3,
        "{aof}"
    );
    assert!(!aof.contains("DELEX") && !aof.contains("DELIFEQ"), "{aof}");
}

/// A lock released with DELEX / DELIFEQ on cinnabar answers and ends as the seeds' Lua release
/// script does on redis-server, step by step.
#[test]
fn lock_release_matches_the_lua_script() {
    let Some(redis) = oracle(&[]) else { return };
    let server = cinnabar(&[]);
    let (rc, c) = (&mut redis.client(), &mut server.client());
    let script = "if redis.call('get',KEYS[1]) == ARGV[1] then return redis.call('del',KEYS[1]) else return 0 end";
    let steps: &[(&str, &str)] = &[
        ("SET lock owner-a NX PX 30000", ""),
        ("SET lock owner-b NX PX 30000", ""),
        ("", "owner-b"),
        ("", "owner-a"),
        ("", "owner-a"),
        ("SET lock owner-b NX PX 30000", ""),
        ("RPUSH other x", ""),
        ("", "owner-b"),
    ];
    for (i, (line, release)) in steps.iter().enumerate() {
        if !line.is_empty() {
            assert_eq!(r(rc, line), r(c, line), "step {i}: {line}");
            continue;
        }
        let lua = rc.cmd_raw(&["EVAL", script, "1", "lock", release]);
        let delex = c.cmd_raw(&["DELEX", "lock", "IFEQ", release]);
        assert_eq!(lua, delex, "step {i}: DELEX by {release}");
        if delex == b":1\r\n" {
            // Put the lock back to try DELIFEQ on the same state.
            c.cmd(&["SET", "lock", release]);
        }
        let delifeq = c.cmd_raw(&["DELIFEQ", "lock", release]);
        assert_eq!(lua, delifeq, "step {i}: DELIFEQ by {release}");
        assert_eq!(r(rc, "GET lock"), r(c, "GET lock"), "step {i}");
    }
}

#[test]
fn msetex_sets_all_or_none_with_one_expiry() {
    let server = cinnabar(&["--appendonly".into(), "yes".into()]);
    let c = &mut server.client();
    assert_eq!(r(c, "MSETEX 2 a 1 b 2 EX 100"), ":1\r\n");
    assert_eq!(r(c, "MGET a b"), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    for k in ["a", "b"] {
        assert!((99..=100).contains(&n(c, &format!("TTL {k}"))));
    }
    // NX: none may exist; XX: all must.
    assert_eq!(r(c, "MSETEX 2 a 9 c 9 NX"), ":0\r\n");
    assert_eq!(r(c, "EXISTS c"), ":0\r\n");
    assert_eq!(r(c, "MSETEX 2 a 9 c 9 XX PX 5000"), ":0\r\n");
    assert_eq!(r(c, "GET a"), "$1\r\n1\r\n");
    assert_eq!(r(c, "MSETEX 2 a 3 b 4 XX KEEPTTL"), ":1\r\n");
    assert_eq!(r(c, "GET b"), "$1\r\n4\r\n");
    assert!((90..=100).contains(&n(c, "TTL b")));
    // Without an expiration the keys lose theirs, as MSET.
    assert_eq!(r(c, "MSETEX 1 a 5"), ":1\r\n");
    assert_eq!(r(c, "TTL a"), ":-1\r\n");
    assert_eq!(r(c, "MSETEX 2 c 1 d 2 NX PXAT 99999999999999"), ":1\r\n");
    assert_eq!(r(c, "PEXPIRETIME d"), ":99999999999999\r\n");
    // Errors.
    assert_eq!(r(c, "MSETEX 0 a 1"), "-ERR invalid numkeys value\r\n");
    assert_eq!(r(c, "MSETEX x a 1"), "-ERR invalid numkeys value\r\n");
    assert_eq!(
        r(c, "MSETEX 2 a 1 b"),
        "-ERR wrong number of key-value pairs\r\n"
    );
    assert_eq!(r(c, "MSETEX 1 a 1 NX XX"), SYNTAX);
    assert_eq!(r(c, "MSETEX 1 a 1 EX 10 KEEPTTL"), SYNTAX);
    assert_eq!(r(c, "MSETEX 1 a 1 GET"), SYNTAX);
    assert_eq!(
        r(c, "MSETEX 1 a 1 EX 0"),
        "-ERR invalid expire time in 'msetex' command\r\n"
    );
    assert_eq!(
        r(c, "COMMAND GETKEYS MSETEX 2 k1 v1 k2 v2 KEEPTTL"),
        "*2\r\n$2\r\nk1\r\n$2\r\nk2\r\n"
    );
    // Relative expirations reach the AOF as an absolute PXAT.
    let aof = std::fs::read(server.dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    let aof = String::from_utf8_lossy(&aof);
    let first = aof.find("MSETEX").expect("MSETEX in the AOF");
    let cmd = &aof[first..first + 80];
    assert!(cmd.contains("$4\r\nPXAT\r\n$13\r\n"), "{cmd}");
    assert!(!cmd.contains("\r\nEX\r\n"), "{cmd}");
}

#[test]
fn bitop_diff_diff1_andor_one() {
    let server = cinnabar(&[]);
    let c = &mut server.client();
    // X = 0b1111_0000, Y1 = 0b1100_1100, Y2 = 0b1010_1010 (plus a second byte in Y2).
    c.cmd(&[&b"SET"[..], b"x", &[0xf0]]);
    c.cmd(&[&b"SET"[..], b"y1", &[0xcc]]);
    c.cmd(&[&b"SET"[..], b"y2", &[0xaa, 0x01]]);
    let get = |c: &mut Client, k: &str| c.cmd_raw(&["GET", k]);
    for (op, keys, want) in [
        ("DIFF", "x y1 y2", [0xf0 & !(0xcc | 0xaa), 0x00]),
        ("DIFF1", "x y1 y2", [!0xf0 & (0xcc | 0xaa), 0x01]),
        ("ANDOR", "x y1 y2", [0xf0 & (0xcc | 0xaa), 0x00]),
        // In exactly one of the three: 0x10 (x), 0x04 (y1), 0x02 and the second byte (y2).
        ("ONE", "x y1 y2", [0x16, 0x01]),
    ] {
        let line = format!("BITOP {op} d {keys}");
        assert_eq!(r(c, &line), ":2\r\n", "{line}");
        let mut expect = b"$2\r\n".to_vec();
        expect.extend_from_slice(&want);
        expect.extend_from_slice(b"\r\n");
        assert_eq!(get(c, "d"), expect, "{line}");
    }
    // ONE of two is XOR; a missing X counts as zeros.
    assert_eq!(r(c, "BITOP ONE d x y1"), ":1\r\n");
    assert_eq!(
        get(c, "d"),
        [b"$1\r\n".as_slice(), &[0xf0 ^ 0xcc], b"\r\n"].concat()
    );
    assert_eq!(r(c, "BITOP ANDOR d missing y1"), ":1\r\n");
    assert_eq!(get(c, "d"), b"$1\r\n\x00\r\n");
    assert_eq!(r(c, "BITOP DIFF1 d missing y1"), ":1\r\n");
    assert_eq!(
        get(c, "d"),
        [b"$1\r\n".as_slice(), &[0xcc], b"\r\n"].concat()
    );
    assert_eq!(r(c, "BITOP ONE d x"), ":1\r\n");
    for op in ["DIFF", "DIFF1", "ANDOR"] {
        assert_eq!(
            r(c, &format!("BITOP {op} d x")),
            format!("-ERR BITOP {op} must be called with at least two source keys.\r\n")
        );
    }
    c.ok("RPUSH list a");
    assert_eq!(r(c, "BITOP DIFF d x list"), WRONGTYPE);
}

#[test]
fn hgetdel_returns_and_removes_fields() {
    let server = cinnabar(&["--appendonly".into(), "yes".into()]);
    let c = &mut server.client();
    assert_eq!(r(c, "HGETDEL missing FIELDS 2 a b"), "*2\r\n$-1\r\n$-1\r\n");
    c.ok("HSET h a 1 b 2 c 3");
    assert_eq!(
        r(c, "HGETDEL h FIELDS 3 a x a"),
        "*3\r\n$1\r\n1\r\n$-1\r\n$-1\r\n"
    );
    assert_eq!(r(c, "HLEN h"), ":2\r\n");
    assert_eq!(
        r(c, "HGETDEL h FIELDS 2 b c"),
        "*2\r\n$1\r\n2\r\n$1\r\n3\r\n"
    );
    assert_eq!(r(c, "EXISTS h"), ":0\r\n");
    c.ok("SET s v");
    // The type is checked before the arguments.
    assert_eq!(r(c, "HGETDEL s NOFIELDS 1 a"), WRONGTYPE);
    c.ok("HSET h a 1");
    for (bad, want) in [
        (
            "HGETDEL h FIELD 1 a",
            "Mandatory argument FIELDS is missing or not at the right position",
        ),
        (
            "HGETDEL h FIELDS 0 a",
            "Number of fields must be a positive integer",
        ),
        (
            "HGETDEL h FIELDS x a",
            "Number of fields must be a positive integer",
        ),
        (
            "HGETDEL h FIELDS 2 a",
            "The `numfields` parameter must match the number of arguments",
        ),
        (
            "HGETDEL h FIELDS 1 a b",
            "The `numfields` parameter must match the number of arguments",
        ),
    ] {
        assert_eq!(r(c, bad), format!("-ERR {want}\r\n"), "{bad}");
    }
    assert_eq!(
        r(c, "HGETDEL h"),
        "-ERR wrong number of arguments for 'hgetdel' command\r\n"
    );
    // Replicas and the AOF get the deletion as HDEL.
    let aof = std::fs::read(server.dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    let aof = String::from_utf8_lossy(&aof);
    assert!(
        aof.contains("$4\r\nHDEL\r\n$1\r\nh\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\na\r\n"),
        "{aof}"
    );
    assert!(!aof.contains("HGETDEL"), "{aof}");
}

/// Redis 8.2's `overwritten` and `type_changed` events ('o' and 'c', outside 'A'): before the
/// command's own event for SET and the STORE commands, after rename_to for RENAME.
#[test]
fn overwritten_and_type_changed_events() {
    let server = cinnabar(&["--notify-keyspace-events".into(), "KE$oc".into()]);
    let c = &mut server.client();
    assert_eq!(
        r(c, "CONFIG GET notify-keyspace-events"),
        "*2\r\n$22\r\nnotify-keyspace-events\r\n$5\r\n$KEoc\r\n"
    );
    let sub = &mut server.client();
    sub.cmd(&["PSUBSCRIBE", "__keyspace@0__:*"]);
    c.ok("RPUSH l a");
    c.ok("SET l x");
    c.ok("SET l y");
    c.ok("SET fresh v");
    c.ok("RENAME fresh l");
    c.ok("SADD s1 m");
    c.ok("SUNIONSTORE l s1");
    c.ok("SET end v");
    let got: Vec<String> = (0..10)
        .map(|_| {
            let items = sub.read().items().expect("pmessage").to_vec();
            let key = String::from_utf8_lossy(items[2].as_bytes().unwrap()).into_owned();
            let event = String::from_utf8_lossy(items[3].as_bytes().unwrap()).into_owned();
            format!("{}:{event}", key.trim_start_matches("__keyspace@0__:"))
        })
        .collect();
    assert_eq!(
        got,
        [
            "l:overwritten",
            "l:type_changed",
            "l:set",
            "l:overwritten",
            "l:set",
            "fresh:set",
            // RENAME over a string: same type ('g' events are off here).
            "l:overwritten",
            // SUNIONSTORE over a string ('s' events are off).
            "l:overwritten",
            "l:type_changed",
            "end:set",
        ]
    );
    // 'A' does not include them, as it does not include 'n'.
    c.ok("CONFIG SET notify-keyspace-events KEA");
    let sub2 = &mut server.client();
    sub2.cmd(&["PSUBSCRIBE", "__keyspace@0__:k"]);
    c.ok("SET k 1");
    c.ok("SET k 2");
    for _ in 0..2 {
        let items = sub2.read().items().expect("pmessage").to_vec();
        assert_eq!(items[3].as_bytes(), Some(&b"set"[..]));
    }
}

#[test]
fn new_commands_are_documented() {
    let server = cinnabar(&[]);
    let c = &mut server.client();
    for (cmd, since) in [
        ("delex", "8.4.0"),
        ("digest", "8.4.0"),
        ("msetex", "8.4.0"),
        ("delifeq", "9.0.0"),
        ("hgetdel", "8.0.0"),
    ] {
        let docs = r(c, &format!("COMMAND DOCS {cmd}"));
        assert!(
            docs.contains(&format!("$5\r\nsince\r\n$5\r\n{since}\r\n")),
            "{cmd}: {docs}"
        );
    }
    let set = r(c, "COMMAND DOCS set");
    for token in ["IFEQ", "IFNE", "IFDEQ", "IFDNE"] {
        assert!(set.contains(&format!("\r\n{token}\r\n")), "{token}");
    }
}
