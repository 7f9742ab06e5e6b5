//! Set member expiration (Redis 8.12's SEXPIRE family, STTL family, SPERSIST, SADDEX). No
//! server of that version is installed here: replies, error texts and what reaches the AOF
//! follow redis.io's command pages and Redis's t_set expiration code (docs/compat.md names
//! the sources). Each scenario runs against both encodings a set with member TTLs has.

mod common;

use common::client::{
    assert_errors, int_list, ints, next_events, now_ms, reply_int as n, reply_text as r,
    sorted_bulks, with_ms_masked, Client,
};
use common::server::{cinnabar, wait_until, Server};
use std::time::Duration;

fn server() -> Server {
    cinnabar(&["--enable-debug-command".into(), "yes".into()])
}

/// set-max-listpack-entries, and the encoding a set with member TTLs then has.
const ENCODINGS: [(&str, &str); 2] = [("128", "listpackex"), ("0", "hashtable")];

fn encoding(c: &mut Client, key: &str) -> String {
    let reply = r(c, &format!("OBJECT ENCODING {key}"));
    reply.split("\r\n").nth(1).unwrap_or("").to_string()
}

#[test]
fn sexpire_conditions_and_answers() {
    let s = server();
    let c = &mut s.client();
    for (entries, enc) in ENCODINGS {
        c.ok(&format!("CONFIG SET set-max-listpack-entries {entries}"));
        c.ok("FLUSHALL");
        // A missing key: -2 for each member.
        assert_eq!(r(c, "SEXPIRE s 100 MEMBERS 2 a b"), ints(&[-2, -2]));
        assert_eq!(r(c, "EXISTS s"), ":0\r\n");
        // An intset takes the encoding of a set with TTLs on its first TTL.
        c.ok("SADD s 1 2 3");
        assert_eq!(encoding(c, "s"), "intset");
        assert_eq!(r(c, "SEXPIRE s 100 MEMBERS 2 1 9"), ints(&[1, -2]));
        assert_eq!(encoding(c, "s"), enc);
        assert_eq!(r(c, "STTL s MEMBERS 3 1 2 9"), ints(&[100, -1, -2]));
        // NX / XX / GT / LT, a member without TTL counting as infinite.
        assert_eq!(r(c, "SEXPIRE s 200 NX MEMBERS 2 1 2"), ints(&[0, 1]));
        assert_eq!(r(c, "SEXPIRE s 300 XX MEMBERS 2 1 3"), ints(&[1, 0]));
        assert_eq!(r(c, "SEXPIRE s 100 GT MEMBERS 2 1 3"), ints(&[0, 0]));
        assert_eq!(r(c, "SEXPIRE s 400 GT MEMBERS 1 1"), ints(&[1]));
        assert_eq!(r(c, "SEXPIRE s 50 LT MEMBERS 2 1 3"), ints(&[1, 1]));
        // The keywords come in any order after the time.
        assert_eq!(r(c, "SEXPIRE s 60 MEMBERS 1 1 LT"), ints(&[0]));
        assert_eq!(r(c, "STTL s MEMBERS 3 1 2 3"), ints(&[50, 200, 50]));
        // Milliseconds and absolute times.
        let at = now_ms() + 100_000;
        assert_eq!(r(c, &format!("SPEXPIREAT s {at} MEMBERS 1 2")), ints(&[1]));
        assert_eq!(r(c, "SPEXPIRETIME s MEMBERS 1 2"), ints(&[at]));
        assert_eq!(
            r(c, "SEXPIRETIME s MEMBERS 1 2"),
            ints(&[(at + 999) / 1000])
        );
        let pttl = int_list(c, "SPTTL s MEMBERS 1 2")[0];
        assert!((99_000..=100_000).contains(&pttl), "{pttl}");
        // SPERSIST: 1, -1 without a TTL, -2 missing.
        assert_eq!(r(c, "SPERSIST s MEMBERS 3 2 2 9"), ints(&[1, -1, -2]));
        assert_eq!(r(c, "SPERSIST nokey MEMBERS 1 a"), ints(&[-2]));
        // A time in the past removes the member (2), and the key with its last one.
        assert_eq!(r(c, "SEXPIREAT s 1 MEMBERS 2 1 9"), ints(&[2, -2]));
        assert_eq!(sorted_bulks(c, "SMEMBERS s"), ["2", "3"]);
        assert_eq!(r(c, "SPEXPIRE s 0 MEMBERS 2 2 3"), ints(&[2, 2]));
        assert_eq!(r(c, "EXISTS s"), ":0\r\n");
        // Another type: WRONGTYPE before anything else is looked at.
        c.ok("SET str x");
        assert!(r(c, "SEXPIRE str x MEMBERS 1 a").starts_with("-WRONGTYPE"));
        assert!(r(c, "STTL str nope 1 a").starts_with("-WRONGTYPE"));
    }
}

#[test]
fn argument_errors_as_redis() {
    let s = server();
    let c = &mut s.client();
    c.ok("SADD s a b");
    let cases = [
        (
            "SEXPIRE s -1 MEMBERS 1 a",
            "invalid expire time, must be >= 0",
        ),
        (
            "SEXPIRE s x MEMBERS 1 a",
            "value is not an integer or out of range",
        ),
        (
            "SEXPIRE s 70368744177664 MEMBERS 1 a",
            "invalid expire time in 'sexpire' command",
        ),
        (
            "SPEXPIREAT s 70368744177664 MEMBERS 1 a",
            "invalid expire time in 'spexpireat' command",
        ),
        (
            "SEXPIRE s 10 NX XX MEMBERS 1 a",
            "Multiple condition flags specified",
        ),
        ("SEXPIRE s 10 FOO MEMBERS 1 a", "unknown argument: FOO"),
        ("SEXPIRE s 10 NX NX a b", "unknown argument: a"),
        ("SEXPIRE s 10 NX XX GT", "missing MEMBERS argument"),
        (
            "SEXPIRE s 10 NX MEMBERS 1",
            "MEMBERS requires at least nummembers and one member argument",
        ),
        ("SEXPIRE s 10 MEMBERS 2 a", "wrong number of arguments"),
        ("SEXPIRE s 10 MEMBERS 3 a b", "wrong number of arguments"),
        (
            "SEXPIRE s 10 MEMBERS 0 a b",
            "Parameter `numMembers` should be greater than 0",
        ),
        (
            "SEXPIRE s 10 MEMBERS x a b",
            "Parameter `numMembers` should be greater than 0",
        ),
        (
            "SEXPIRE s 10 MEMBERS 1 a MEMBERS 1 b",
            "MEMBERS keyword specified multiple times",
        ),
        (
            "STTL s FIELDS 1 a",
            "Mandatory argument MEMBERS is missing or not at the right position",
        ),
        (
            "STTL s MEMBERS 0 a",
            "Number of members must be a positive integer",
        ),
        (
            "SPERSIST s MEMBERS -1 a",
            "Number of members must be a positive integer",
        ),
        (
            "SPTTL s MEMBERS 2 a",
            "The `nummembers` parameter must match the number of arguments",
        ),
        (
            "SADDEX s EX 10 MEMBERS",
            "wrong number of arguments for 'saddex' command",
        ),
        ("SADDEX s MEMBERS 0 a", "invalid number of members"),
        ("SADDEX s MEMBERS 3 a b", "wrong number of arguments"),
        (
            "SADDEX s EX 10 PX 10 MEMBERS 1 a",
            "Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified",
        ),
        (
            "SADDEX s KEEPTTL EX 10 MEMBERS 1 a",
            "Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified",
        ),
        ("SADDEX s MEMBERS 1 a EX", "missing expire time"),
        (
            "SADDEX s MNX MXX MEMBERS 1 a",
            "Only one of MXX or MNX arguments can be specified",
        ),
        ("SADDEX s MEMBERS 1 a NOPE b", "unknown argument: NOPE"),
        (
            "SADDEX s MNX MXX a b",
            "Only one of MXX or MNX arguments can be specified",
        ),
        ("SADDEX s NX a b c", "unknown argument: NX"),
        ("SADDEX s KEEPTTL a b c", "unknown argument: a"),
        (
            "SADDEX s EX -5 MEMBERS 1 a",
            "invalid expire time, must be >= 0",
        ),
        (
            "SADDEX s MEMBERS 1 a MEMBERS 1 b",
            "MEMBERS keyword specified multiple times",
        ),
        ("SADDEX s MXX KEEPTTL x y", "unknown argument: x"),
        (
            "SEXPIRE s 10 MEMBERS",
            "wrong number of arguments for 'sexpire' command",
        ),
        (
            "STTL s MEMBERS",
            "wrong number of arguments for 'sttl' command",
        ),
    ];
    assert_errors(c, &cases);
    // SADDEX checks its arguments before the key's type.
    c.ok("SET str x");
    assert_eq!(
        r(c, "SADDEX str MEMBERS 2 a"),
        "-ERR wrong number of arguments\r\n"
    );
    assert!(r(c, "SADDEX str MEMBERS 1 a").starts_with("-WRONGTYPE"));
}

#[test]
fn lazy_expiry_hides_deletes_and_counts() {
    let s = server();
    let c = &mut s.client();
    c.ok("DEBUG SET-ACTIVE-EXPIRE 0");
    for (entries, _) in ENCODINGS {
        c.ok(&format!("CONFIG SET set-max-listpack-entries {entries}"));
        c.ok("FLUSHALL");
        let expired_before: u64 = c.info_field("stats", "expired_subkeys").parse().unwrap();
        c.ok("SADD s a b c d");
        c.ok("SADD t b c x");
        c.ok("SPEXPIRE s 1 MEMBERS 2 a b");
        std::thread::sleep(Duration::from_millis(10));
        // Readers of whole sets skip expired members without removing them; SCARD counts
        // them until they go.
        assert_eq!(sorted_bulks(c, "SMEMBERS s"), ["c", "d"]);
        assert_eq!(sorted_bulks(c, "SINTER s t"), ["c"]);
        assert_eq!(n(c, "SINTERCARD 2 s t"), 1);
        assert_eq!(sorted_bulks(c, "SUNION s t"), ["b", "c", "d", "x"]);
        assert_eq!(sorted_bulks(c, "SDIFF t s"), ["b", "x"]);
        assert_eq!(sorted_bulks(c, "SDIFF s t"), ["d"]);
        assert_eq!(sorted_bulks(c, "SSCAN s 0"), ["0", "c", "d"]);
        assert_eq!(sorted_bulks(c, "SORT s ALPHA"), ["c", "d"]);
        assert_eq!(
            sorted_bulks(c, "ZUNION 1 s"),
            ["c", "d"],
            "a set read by the zset algebra"
        );
        assert_eq!(n(c, "SUNIONSTORE u s"), 2);
        assert_eq!(r(c, "STTL s MEMBERS 2 a c"), ints(&[-2, -1]));
        assert_eq!(n(c, "SCARD s"), 4);
        // A membership test removes what it finds expired.
        assert_eq!(n(c, "SISMEMBER s a"), 0);
        assert_eq!(n(c, "SCARD s"), 3);
        assert_eq!(r(c, "SMISMEMBER s a b c"), ints(&[0, 0, 1]));
        assert_eq!(n(c, "SCARD s"), 2);
        let expired: u64 = c.info_field("stats", "expired_subkeys").parse().unwrap();
        assert_eq!(expired - expired_before, 2);
        // SADD of an expired member adds it anew, without its TTL.
        c.ok("SPEXPIRE s 1 MEMBERS 1 c");
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(n(c, "SADD s c"), 1);
        assert_eq!(r(c, "STTL s MEMBERS 1 c"), ints(&[-1]));
        // SADD of a live member keeps its TTL.
        c.ok("SEXPIRE s 100 MEMBERS 1 c");
        assert_eq!(n(c, "SADD s c"), 0);
        assert_eq!(r(c, "STTL s MEMBERS 1 c"), ints(&[100]));
        // SRANDMEMBER and SPOP first remove every expired member.
        c.ok("SPEXPIRE s 1 MEMBERS 1 d");
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(r(c, "SRANDMEMBER s 10"), "*1\r\n$1\r\nc\r\n");
        assert_eq!(n(c, "SCARD s"), 1);
        // SMOVE to a set holding an expired copy: the member arrives anew, without a TTL.
        c.ok("SADD dst c");
        c.ok("SPEXPIRE dst 1 MEMBERS 1 c");
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(n(c, "SMOVE s dst c"), 1);
        assert_eq!(r(c, "STTL dst MEMBERS 1 c"), ints(&[-1]));
        assert_eq!(r(c, "STTL s MEMBERS 1 c"), ints(&[-2]));
        c.ok("SADD s c");
        c.ok("SEXPIRE s 100 MEMBERS 1 c");
        // SMOVE of an expired member moves nothing.
        c.ok("SPEXPIRE s 1 MEMBERS 1 c");
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(n(c, "SMOVE s t c"), 0);
        assert_eq!(r(c, "EXISTS s"), ":0\r\n", "the last member took the key");
        c.ok("SADD s p q");
        c.ok("SPEXPIRE s 1 MEMBERS 2 p q");
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(r(c, "SPOP s"), "$-1\r\n");
        assert_eq!(r(c, "EXISTS s"), ":0\r\n");
    }
}

#[test]
fn active_expiry_removes_members_and_keys() {
    let s = server();
    let c = &mut s.client();
    for (entries, _) in ENCODINGS {
        c.ok(&format!("CONFIG SET set-max-listpack-entries {entries}"));
        c.ok("FLUSHALL");
        for size in [1, 17, 200] {
            let members: Vec<String> = (0..size).map(|i| format!("m{i}")).collect();
            let list = members.join(" ");
            c.ok(&format!("SADD same{size} {list}"));
            c.ok(&format!("SPEXPIRE same{size} 50 MEMBERS {size} {list}"));
            c.ok(&format!("SADD mix{size} {list} keep"));
            c.ok(&format!("SPEXPIRE mix{size} 40 MEMBERS {size} {list}"));
        }
        assert_eq!(
            c.info_field("keyspace", "db0"),
            "keys=6,expires=0,avg_ttl=0,subexpiry=6"
        );
        wait_until("members expire", 5, || n(c, "DBSIZE") == 3);
        for size in [1, 17, 200] {
            wait_until("mixed sets keep their other member", 5, || {
                n(c, &format!("SCARD mix{size}")) == 1
            });
        }
        assert_eq!(
            c.info_field("keyspace", "db0"),
            "keys=3,expires=0,avg_ttl=0"
        );
    }
}

#[test]
fn saddex() {
    let s = server();
    let c = &mut s.client();
    for (entries, enc) in ENCODINGS {
        c.ok(&format!("CONFIG SET set-max-listpack-entries {entries}"));
        c.ok("FLUSHALL");
        // MXX on a missing key creates nothing; MNX needs every member absent.
        assert_eq!(n(c, "SADDEX s MXX MEMBERS 1 a"), 0);
        assert_eq!(r(c, "EXISTS s"), ":0\r\n");
        assert_eq!(n(c, "SADDEX s MNX EX 100 MEMBERS 2 a b"), 1);
        assert_eq!(encoding(c, "s"), enc);
        assert_eq!(n(c, "SADDEX s MNX MEMBERS 2 b c"), 0);
        assert_eq!(sorted_bulks(c, "SMEMBERS s"), ["a", "b"]);
        assert_eq!(r(c, "STTL s MEMBERS 2 a b"), ints(&[100, 100]));
        // KEEPTTL keeps it, no option drops it; new members come without one.
        assert_eq!(n(c, "SADDEX s MXX KEEPTTL MEMBERS 1 a"), 1);
        assert_eq!(n(c, "SADDEX s MEMBERS 2 b c"), 1);
        assert_eq!(r(c, "STTL s MEMBERS 3 a b c"), ints(&[100, -1, -1]));
        assert_eq!(n(c, "SADDEX s PX 5000 MEMBERS 2 c d"), 1);
        let d = int_list(c, "SPTTL s MEMBERS 1 d")[0];
        assert!((4000..=5000).contains(&d), "{d}");
        // A time in the past removes the members that exist, adds none, makes no key.
        assert_eq!(n(c, "SADDEX s EXAT 1 MEMBERS 3 a b zz"), 1);
        assert_eq!(sorted_bulks(c, "SMEMBERS s"), ["c", "d"]);
        assert_eq!(n(c, "SADDEX none PXAT 1 MEMBERS 1 a"), 1);
        assert_eq!(r(c, "EXISTS none"), ":0\r\n");
        assert_eq!(n(c, "SADDEX s PXAT 1 MEMBERS 2 c d"), 1);
        assert_eq!(r(c, "EXISTS s"), ":0\r\n");
        // The keywords come in any order.
        assert_eq!(n(c, "SADDEX s MEMBERS 1 x EX 10 MNX"), 1);
        assert_eq!(r(c, "STTL s MEMBERS 1 x"), ints(&[10]));
    }
}

/// What the AOF gets (and so replicas): absolute times, SREM for what a command or expiry
/// removes, nothing for what changed nothing; the file loads back to the same TTLs.
#[test]
fn propagated_as_redis_and_reloaded() {
    let s = common::server::cinnabar_with_aof();
    let c = &mut s.client();
    c.ok("DEBUG SET-ACTIVE-EXPIRE 0");
    c.ok("SADD s m1 m2 m3");
    c.ok("SEXPIRE s 100 MEMBERS 2 m1 nope");
    c.ok("SEXPIRE s 100 XX MEMBERS 1 m3");
    c.ok("SPEXPIRE s 100000 MEMBERS 2 m1 m2 NX");
    c.ok("SPEXPIREAT s 1 MEMBERS 1 m3");
    c.ok("SPERSIST s MEMBERS 1 m1");
    c.ok("SPERSIST s MEMBERS 1 m1");
    c.ok("SADDEX k EX 1000 MEMBERS 1 a");
    c.ok("SADDEX k KEEPTTL MEMBERS 1 a");
    c.ok("SADDEX k MNX MEMBERS 1 a");
    c.ok("SADDEX k EXAT 1 MEMBERS 1 a");
    c.ok("SADD lazy a b");
    c.ok("SPEXPIRE lazy 1 MEMBERS 1 a");
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(n(c, "SISMEMBER lazy a"), 0);
    let aof = std::fs::read(s.dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    let text = with_ms_masked(&String::from_utf8_lossy(&aof).replace("\r\n", " "));
    let expect = [
        "SPEXPIREAT $1 s $13 <ms> $7 MEMBERS $1 1 $2 m1 ",
        "SPEXPIREAT $1 s $13 <ms> $7 MEMBERS $1 1 $2 m2 $2 NX ",
        "SREM $1 s $2 m3 ",
        "SPERSIST $1 s $7 MEMBERS $1 1 $2 m1 ",
        "SADDEX $1 k $4 PXAT $13 <ms> $7 MEMBERS $1 1 $1 a ",
        "SADDEX $1 k $7 KEEPTTL $7 MEMBERS $1 1 $1 a ",
        "SREM $1 k $1 a ",
        "SREM $4 lazy $1 a ",
    ];
    let mut at = 0;
    for want in expect {
        let i = text[at..]
            .find(want)
            .unwrap_or_else(|| panic!("{want:?} after {at} in {text}"));
        at += i + want.len();
    }
    // Nothing for what changed nothing: the XX that failed, the second SPERSIST, MNX (the
    // third SPEXPIREAT is the lazy one's).
    assert_eq!(text.matches("SPEXPIREAT").count(), 3, "{text}");
    assert_eq!(text.matches("SPERSIST").count(), 1, "{text}");
    assert_eq!(text.matches("SADDEX").count(), 2, "{text}");
    // Reloading the AOF (and a rewritten one) gives the same absolute TTLs.
    c.ok("SPEXPIRE s 100000 MEMBERS 1 m1");
    let before = r(c, "SPEXPIRETIME s MEMBERS 3 m1 m2 m3");
    c.ok("DEBUG LOADAOF");
    assert_eq!(r(c, "SPEXPIRETIME s MEMBERS 3 m1 m2 m3"), before);
    c.ok("BGREWRITEAOF");
    wait_until("rewrite done", 10, || {
        c.info_field("persistence", "aof_rewrite_in_progress") == "0"
            && c.info_field("persistence", "aof_rewrite_scheduled") == "0"
    });
    c.ok("DEBUG LOADAOF");
    assert_eq!(r(c, "SPEXPIRETIME s MEMBERS 3 m1 m2 m3"), before);
}

/// Files and DUMP payloads: a set with member TTLs needs cinnabar's own type (no other
/// server has published one) in a version 12 file; both load back with every TTL.
#[test]
fn rdb_and_dump_keep_member_ttls() {
    let s = server();
    let c = &mut s.client();
    c.ok("SADD plain a 1");
    c.ok("SAVE");
    let rdb = std::fs::read(s.dir.join("dump.rdb")).unwrap();
    assert_eq!(&rdb[..9], b"REDIS0010");
    for (entries, enc) in ENCODINGS {
        c.ok(&format!("CONFIG SET set-max-listpack-entries {entries}"));
        c.ok("DEL s");
        c.ok("SADD s a b c 7");
        c.ok("SPEXPIREAT s 4102444800000 MEMBERS 1 a");
        c.ok("SEXPIRE s 1000 MEMBERS 2 b 7");
        let times = r(c, "SPEXPIRETIME s MEMBERS 4 a b c 7");
        c.ok("SAVE");
        let rdb = std::fs::read(s.dir.join("dump.rdb")).unwrap();
        assert_eq!(&rdb[..9], b"REDIS0012");
        c.ok("DEBUG RELOAD");
        assert_eq!(r(c, "SPEXPIRETIME s MEMBERS 4 a b c 7"), times);
        assert_eq!(encoding(c, "s"), enc);
        let digest = r(c, "DEBUG DIGEST-VALUE s");
        let payload = c.cmd(&["DUMP", "s"]);
        let payload = payload.as_bytes().unwrap().to_vec();
        assert_eq!(payload[0], 64, "cinnabar's set with member TTLs");
        assert_eq!(payload[payload.len() - 10], 12);
        let restore: [&[u8]; 4] = [b"RESTORE", b"copy", b"0", &payload];
        assert_eq!(c.cmd_raw(&restore), b"+OK\r\n");
        assert_eq!(r(c, "SPEXPIRETIME copy MEMBERS 4 a b c 7"), times);
        assert_eq!(sorted_bulks(c, "SMEMBERS copy"), ["7", "a", "b", "c"]);
        assert_eq!(r(c, "DEBUG DIGEST-VALUE copy"), digest);
        // A TTL is part of the value's digest.
        c.ok("SPERSIST copy MEMBERS 1 a");
        assert_ne!(r(c, "DEBUG DIGEST-VALUE copy"), digest);
        c.ok("DEL copy");
        // COPY and RENAME carry the TTLs, and the active expiry finds the set there.
        c.ok("SPEXPIRE s 30 MEMBERS 1 c");
        c.ok("COPY s s2");
        c.ok("RENAME s s3");
        wait_until("c expires in both", 5, || {
            n(c, "SCARD s2") == 3 && n(c, "SCARD s3") == 3
        });
        c.ok("DEL s2 s3");
    }
}

#[test]
fn keyspace_events() {
    let s = server();
    let c = &mut s.client();
    c.ok("CONFIG SET notify-keyspace-events Kgs");
    let mut sub = s.client();
    sub.cmd(&["PSUBSCRIBE", "__keyspace@0__:*"]);
    c.ok("SADD s a b");
    c.ok("SEXPIRE s 100 MEMBERS 1 a");
    c.ok("SPERSIST s MEMBERS 1 a");
    c.ok("SADDEX s PX 20 MEMBERS 2 a b");
    let events = next_events(&mut sub, 7);
    assert_eq!(
        events,
        ["sadd", "sexpire", "spersist", "sadd", "sexpire", "sexpired", "del"]
    );
}

/// A replica applies its master's TTLs and SREMs, never removing a member itself: an expired
/// member reads as missing there until the master's SREM arrives.
#[test]
fn replica_hides_and_waits_for_the_master() {
    let master = server();
    let m = &mut master.client();
    m.ok("DEBUG SET-ACTIVE-EXPIRE 0");
    let replica = cinnabar(&[
        "--enable-debug-command".into(),
        "yes".into(),
        "--replicaof".into(),
        "127.0.0.1".into(),
        master.port.to_string(),
    ]);
    let rc = &mut replica.client();
    wait_until("the link", 10, || {
        rc.info_field("replication", "master_link_status") == "up"
    });
    m.ok("SADD s a b c");
    m.ok("SPEXPIRE s 200 MEMBERS 1 a");
    m.ok("SEXPIRE s 1000 MEMBERS 1 b");
    wait_until("the TTLs reach the replica", 10, || {
        int_list(rc, "SPEXPIRETIME s MEMBERS 2 a b") == int_list(m, "SPEXPIRETIME s MEMBERS 2 a b")
    });
    std::thread::sleep(Duration::from_millis(250));
    // Hidden on the replica, but not removed: it counts until the master says so.
    assert_eq!(n(rc, "SISMEMBER s a"), 0);
    assert_eq!(sorted_bulks(rc, "SMEMBERS s"), ["b", "c"]);
    assert_eq!(n(rc, "SCARD s"), 3);
    // The master's lazy expiry sends SREM, and the replica follows.
    assert_eq!(n(m, "SISMEMBER s a"), 0);
    wait_until("the SREM reaches the replica", 10, || n(rc, "SCARD s") == 2);
    assert_eq!(r(rc, "DEBUG DIGEST-VALUE s"), r(m, "DEBUG DIGEST-VALUE s"));
}
