//! Hash field expiration (Redis 7.4's HEXPIRE family, HTTL family, HPERSIST; Redis 8.0's
//! HGETEX and HSETEX). No server of those versions is installed here: replies, error texts and
//! what reaches the AOF follow redis.io's command pages and Redis's own hash-field-expire
//! tests (docs/compat.md names the sources). Each scenario runs against both encodings.

mod common;

use common::client::{
    int_list, ints, next_events, now_ms, reply_int as n, reply_text as r, sorted_bulks,
    with_ms_masked, Client,
};
use common::server::{cinnabar, wait_until, Server};
use std::time::Duration;

/// Every field and value a full HSCAN returns, sorted.
fn hscan_all(c: &mut Client, key: &str) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut all = Vec::new();
    loop {
        // *2, $n, cursor, *n, then the items as $len / bytes pairs.
        let reply = r(c, &format!("HSCAN {key} {cursor}"));
        let lines: Vec<&str> = reply.split("\r\n").collect();
        cursor = lines[2].to_string();
        all.extend(lines[4..].iter().skip(1).step_by(2).map(|s| s.to_string()));
        if cursor == "0" {
            break;
        }
    }
    all.retain(|s| !s.is_empty());
    all.sort();
    all
}

fn server() -> Server {
    cinnabar(&["--enable-debug-command".into(), "yes".into()])
}

/// The two encodings a hash can have: listpackex and hashtable.
const ENCODINGS: [(&str, &str); 2] = [("512", "listpackex"), ("0", "hashtable")];

#[test]
fn hexpire_conditions_and_answers() {
    let s = server();
    let c = &mut s.client();
    for (entries, encoding) in ENCODINGS {
        c.ok(&format!("CONFIG SET hash-max-listpack-entries {entries}"));
        c.ok("DEL h");
        // A missing key: every field is missing.
        assert_eq!(r(c, "HEXPIRE h 100 FIELDS 2 a b"), ints(&[-2, -2]));
        assert_eq!(r(c, "HTTL h FIELDS 1 a"), ints(&[-2]));
        assert_eq!(r(c, "HPERSIST h FIELDS 1 a"), ints(&[-2]));
        c.ok("HSET h f1 v1 f2 v2 f3 v3");
        // NX, XX, GT, LT as Redis: no TTL counts as infinite for LT, never passes GT or XX.
        assert_eq!(r(c, "HPEXPIRE h 1000 NX FIELDS 1 f1"), ints(&[1]));
        assert_eq!(r(c, "HPEXPIRE h 1000 NX FIELDS 2 f1 f2"), ints(&[0, 1]));
        assert_eq!(r(c, "HPEXPIRE h 2000 XX FIELDS 2 f1 f3"), ints(&[1, 0]));
        assert_eq!(
            r(c, "HPEXPIRE h 1500 GT FIELDS 3 f1 f2 f3"),
            ints(&[0, 1, 0])
        );
        assert_eq!(
            r(c, "HPEXPIRE h 1200 LT FIELDS 3 f1 f2 f3"),
            ints(&[1, 1, 1])
        );
        assert_eq!(
            r(c, "OBJECT ENCODING h"),
            format!("${}\r\n{encoding}\r\n", encoding.len())
        );
        // TTLs: seconds round up, times are absolute.
        let ttl = int_list(c, "HPTTL h FIELDS 2 f1 nope");
        assert!((1000..=1200).contains(&ttl[0]) && ttl[1] == -2, "{ttl:?}");
        assert_eq!(r(c, "HTTL h FIELDS 1 f1"), ints(&[2]));
        let at = int_list(c, "HPEXPIRETIME h FIELDS 1 f1")[0];
        assert!((now_ms() + 1000..=now_ms() + 1200).contains(&at), "{at}");
        assert_eq!(
            r(c, "HEXPIRETIME h FIELDS 1 f1"),
            ints(&[(at + 999) / 1000])
        );
        // HPERSIST: 1 removed, -1 had none, -2 absent.
        assert_eq!(r(c, "HPERSIST h FIELDS 3 f1 f1 nope"), ints(&[1, -1, -2]));
        assert_eq!(r(c, "HTTL h FIELDS 1 f1"), ints(&[-1]));
        // A time in the past deletes the fields it would set (2), after the condition.
        c.ok("HSET h f4 v4");
        c.ok("HEXPIRE h 1000 FIELDS 1 f4");
        assert_eq!(
            r(c, "HPEXPIREAT h 1 NX FIELDS 4 f1 f3 nope f4"),
            ints(&[2, 0, -2, 0])
        );
        assert_eq!(r(c, "HEXISTS h f1"), ":0\r\n");
        // The last field going takes the key with it.
        c.ok("HSET one f v");
        assert_eq!(r(c, "HEXPIREAT one 1 FIELDS 1 f"), ints(&[2]));
        assert_eq!(r(c, "EXISTS one"), ":0\r\n");
    }
}

#[test]
fn argument_errors_as_redis() {
    let s = server();
    let c = &mut s.client();
    c.ok("HSET h f v");
    c.ok("SET str v");
    let cases = [
        (
            "HEXPIRE h -1 FIELDS 1 f",
            "-ERR invalid expire time, must be >= 0",
        ),
        (
            "HEXPIRE h x FIELDS 1 f",
            "-ERR value is not an integer or out of range",
        ),
        (
            "HEXPIRE h 70368744178 FIELDS 1 f",
            "-ERR invalid expire time in 'hexpire' command",
        ),
        (
            "HPEXPIREAT h 70368744177664 FIELDS 1 f",
            "-ERR invalid expire time in 'hpexpireat' command",
        ),
        (
            "HPEXPIRE h 10 NX FIELDS 0 f",
            "-ERR Parameter `numFields` should be greater than 0",
        ),
        (
            "HPEXPIRE h 10 NX FIELDS 2 f",
            "-ERR The `numfields` parameter must match the number of arguments",
        ),
        (
            "HPEXPIRE h 10 XX FIELD 1 f",
            "-ERR Mandatory argument FIELDS is missing or not at the right position",
        ),
        (
            "HTTL h FIELDS 0 f",
            "-ERR Number of fields must be a positive integer",
        ),
        (
            "HTTL h FIELDS 2 f",
            "-ERR The `numfields` parameter must match the number of arguments",
        ),
        (
            "HPERSIST h FIELD 1 f",
            "-ERR Mandatory argument FIELDS is missing or not at the right position",
        ),
        (
            "HGETEX h PXAT 1 1",
            "-ERR Mandatory argument FIELDS is missing or not at the right position",
        ),
        (
            "HGETEX h PERSIST 1 FIELDS 1 a",
            "-ERR Mandatory argument FIELDS is missing or not at the right position",
        ),
        (
            "HGETEX h FIELDS -1 a",
            "-ERR Number of fields must be a positive integer",
        ),
        (
            "HGETEX h PX -1 FIELDS 1 a",
            "-ERR invalid expire time, must be >= 0",
        ),
        ("HSETEX h nx FIELDS 1 a b", "-ERR unknown argument: nx"),
        (
            "HSETEX h FXX FNX FIELDS 1 a b",
            "-ERR Only one of FXX or FNX arguments can be specified",
        ),
        (
            "HSETEX h EX 10 KEEPTTL FIELDS 1 a b",
            "-ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified",
        ),
        (
            "HSETEX h EX FIELDS 1 a b",
            "-ERR value is not an integer or out of range",
        ),
        ("HSETEX h FIELDS x a b", "-ERR invalid number of fields"),
        ("HSETEX h FIELDS 0 a b", "-ERR invalid number of fields"),
        (
            "HSETEX h FIELDS 2 a b c",
            "-ERR wrong number of arguments for 'hsetex' command",
        ),
        (
            "HSETEX h FIELDS 1 a b c",
            "-ERR wrong number of arguments for 'hsetex' command",
        ),
        (
            "HEXPIRE str 10 FIELDS 1 f",
            "-WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (
            "HTTL str FIELDS 1 f",
            "-WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (
            "HPERSIST str FIELDS 1 f",
            "-WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (
            "HGETEX str FIELDS 1 f",
            "-WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (
            "HSETEX str FIELDS 1 f v",
            "-WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
    ];
    for (line, err) in cases {
        assert_eq!(r(c, line), format!("{err}\r\n"), "{line}");
    }
    assert_eq!(r(c, "HTTL h FIELDS 1 f"), ints(&[-1]), "nothing changed");
}

#[test]
fn lazy_expiry_hides_deletes_and_counts() {
    let s = server();
    let c = &mut s.client();
    c.ok("DEBUG SET-ACTIVE-EXPIRE 0");
    for (entries, _) in ENCODINGS {
        c.ok(&format!("CONFIG SET hash-max-listpack-entries {entries}"));
        c.ok("FLUSHALL");
        c.ok("CONFIG RESETSTAT");
        c.ok("HSET h f1 v1 f2 v2 f3 v3 f4 10 keep k");
        c.ok("HPEXPIRE h 1 FIELDS 4 f1 f2 f3 f4");
        std::thread::sleep(Duration::from_millis(10));
        // HLEN counts expired fields; the listing commands skip them without deleting.
        assert_eq!(n(c, "HLEN h"), 5);
        assert_eq!(sorted_bulks(c, "HGETALL h"), ["k", "keep"]);
        assert_eq!(sorted_bulks(c, "HKEYS h"), ["keep"]);
        assert_eq!(hscan_all(c, "h"), ["k", "keep"]);
        assert_eq!(c.info_field("stats", "expired_subkeys"), "0");
        // Reading one deletes it.
        assert_eq!(r(c, "HGET h f1"), "$-1\r\n");
        assert_eq!(n(c, "HLEN h"), 4);
        assert_eq!(r(c, "HEXISTS h f2"), ":0\r\n");
        assert_eq!(r(c, "HSTRLEN h f3"), ":0\r\n");
        // HINCRBY starts an expired field afresh.
        assert_eq!(n(c, "HINCRBY h f4 1"), 1);
        assert_eq!(c.info_field("stats", "expired_subkeys"), "4");
        assert_eq!(r(c, "HTTL h FIELDS 1 f4"), ints(&[-1]));
        // HMGET: nils; the key goes with its last field.
        c.ok("HSET g a 1 b 2");
        c.ok("HPEXPIRE g 1 FIELDS 2 a b");
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(r(c, "HMGET g a b"), "*2\r\n$-1\r\n$-1\r\n");
        assert_eq!(r(c, "EXISTS g"), ":0\r\n");
        // HRANDFIELD deletes every expired field first.
        c.ok("HSET rf a 1 b 2 c 3");
        c.ok("HPEXPIRE rf 1 FIELDS 2 a b");
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(sorted_bulks(c, "HRANDFIELD rf 5"), ["c"]);
        assert_eq!(n(c, "HLEN rf"), 1);
        // HSET discards a TTL; HINCRBY keeps it.
        c.ok("HSET t a 1 b 2");
        c.ok("HEXPIRE t 100 FIELDS 2 a b");
        c.ok("HSET t a 5");
        assert_eq!(n(c, "HINCRBY t b 1"), 3);
        assert_eq!(r(c, "HTTL t FIELDS 2 a b"), ints(&[-1, 100]));
    }
}

#[test]
fn active_expiry_removes_fields_and_keys() {
    let s = server();
    let c = &mut s.client();
    for (entries, _) in ENCODINGS {
        c.ok(&format!("CONFIG SET hash-max-listpack-entries {entries}"));
        c.ok("FLUSHALL");
        for size in [1, 17, 40] {
            for i in 0..size {
                c.ok(&format!("HSET same{size} f{i} v"));
                c.ok(&format!("HPEXPIRE same{size} 50 FIELDS 1 f{i}"));
                c.ok(&format!("HSET mix{size} f{i} v keep{i} v"));
                c.ok(&format!("HPEXPIRE mix{size} {} FIELDS 1 f{i}", 30 + i));
            }
        }
        assert_eq!(
            c.info_field("keyspace", "db0"),
            "keys=6,expires=0,avg_ttl=0,subexpiry=6"
        );
        wait_until("fields expire", 5, || n(c, "DBSIZE") == 3);
        for size in [1, 17, 40] {
            wait_until("mixed hashes keep their other fields", 5, || {
                n(c, &format!("HLEN mix{size}")) == size
            });
        }
        assert_eq!(
            c.info_field("keyspace", "db0"),
            "keys=3,expires=0,avg_ttl=0"
        );
    }
}

#[test]
fn hgetex_and_hsetex() {
    let s = server();
    let c = &mut s.client();
    for (entries, _) in ENCODINGS {
        c.ok(&format!("CONFIG SET hash-max-listpack-entries {entries}"));
        c.ok("FLUSHALL");
        assert_eq!(r(c, "HGETEX h FIELDS 2 a b"), "*2\r\n$-1\r\n$-1\r\n");
        // FXX on a missing key creates nothing; FNX needs every field absent.
        assert_eq!(n(c, "HSETEX h FXX FIELDS 1 a 1"), 0);
        assert_eq!(r(c, "EXISTS h"), ":0\r\n");
        assert_eq!(n(c, "HSETEX h FNX EX 100 FIELDS 2 a 1 b 2"), 1);
        assert_eq!(n(c, "HSETEX h FNX FIELDS 2 b 3 c 3"), 0);
        assert_eq!(sorted_bulks(c, "HKEYS h"), ["a", "b"]);
        assert_eq!(r(c, "HTTL h FIELDS 2 a b"), ints(&[100, 100]));
        // KEEPTTL keeps it, no option discards it.
        assert_eq!(n(c, "HSETEX h FXX KEEPTTL FIELDS 1 a 10"), 1);
        assert_eq!(n(c, "HSETEX h FIELDS 1 b 20"), 1);
        assert_eq!(r(c, "HTTL h FIELDS 2 a b"), ints(&[100, -1]));
        assert_eq!(r(c, "HGET h a"), "$2\r\n10\r\n");
        // HGETEX: values, then the TTL set, removed, or the fields deleted.
        assert_eq!(
            r(c, "HGETEX h PX 5000 FIELDS 2 b nope"),
            "*2\r\n$2\r\n20\r\n$-1\r\n"
        );
        let b = int_list(c, "HPTTL h FIELDS 1 b")[0];
        assert!((4000..=5000).contains(&b), "{b}");
        assert_eq!(r(c, "HGETEX h PERSIST FIELDS 1 b"), "*1\r\n$2\r\n20\r\n");
        assert_eq!(r(c, "HTTL h FIELDS 1 b"), ints(&[-1]));
        assert_eq!(
            r(c, "HGETEX h EXAT 1 FIELDS 2 a b"),
            "*2\r\n$2\r\n10\r\n$2\r\n20\r\n"
        );
        assert_eq!(r(c, "EXISTS h"), ":0\r\n");
        // HSETEX with a time in the past: set and deleted at once.
        assert_eq!(n(c, "HSETEX h PXAT 1 FIELDS 1 a 1"), 1);
        assert_eq!(r(c, "EXISTS h"), ":0\r\n");
    }
}

/// What the AOF gets (and so replicas): absolute times, HDEL for what a command or expiry
/// deletes, and nothing for what changed nothing; the file loads back to the same TTLs.
#[test]
fn propagated_as_redis_and_reloaded() {
    let s = common::server::cinnabar_with_aof();
    let c = &mut s.client();
    c.ok("DEBUG SET-ACTIVE-EXPIRE 0");
    c.ok("HSET h f1 v1 f2 v2 f3 v3");
    c.ok("HEXPIRE h 100 FIELDS 2 f1 nope");
    c.ok("HEXPIRE h 100 XX FIELDS 1 f3");
    c.ok("HPEXPIRE h 100000 NX FIELDS 2 f1 f2");
    c.ok("HPEXPIREAT h 1 FIELDS 1 f3");
    c.ok("HPERSIST h FIELDS 1 f1");
    c.ok("HSETEX k EX 1000 FIELDS 1 a 1");
    c.ok("HSETEX k KEEPTTL FIELDS 1 a 2");
    c.ok("HSETEX k FNX FIELDS 1 a 3");
    c.ok("HGETEX k EX 2000 FIELDS 1 a");
    c.ok("HGETEX k PERSIST FIELDS 1 a");
    c.ok("HGETEX k FIELDS 1 a");
    c.ok("HSET x f 1.5");
    c.ok("HEXPIRE x 100 FIELDS 1 f");
    c.ok("HINCRBYFLOAT x f 1");
    c.ok("HSET lazy a 1 b 2");
    c.ok("HPEXPIRE lazy 1 FIELDS 1 a");
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(r(c, "HGET lazy a"), "$-1\r\n");
    let aof = std::fs::read(s.dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    let text = with_ms_masked(&String::from_utf8_lossy(&aof).replace("\r\n", " "));
    let expect = [
        "HPEXPIREAT $1 h $13 <ms> $6 FIELDS $1 1 $2 f1 ",
        "HPEXPIREAT $1 h $13 <ms> $2 NX $6 FIELDS $1 1 $2 f2 ",
        "HDEL $1 h $2 f3 ",
        "HPERSIST $1 h $6 FIELDS $1 1 $2 f1 ",
        "HSETEX $1 k $4 PXAT $13 <ms> $6 FIELDS $1 1 $1 a $1 1 ",
        "HSETEX $1 k $7 KEEPTTL $6 FIELDS $1 1 $1 a $1 2 ",
        "HPEXPIREAT $1 k $13 <ms> $6 FIELDS $1 1 $1 a ",
        "HPERSIST $1 k $6 FIELDS $1 1 $1 a ",
        "HSETEX $1 x $7 KEEPTTL $6 FIELDS $1 1 $1 f $3 2.5 ",
        "HDEL $4 lazy $1 a ",
    ];
    let mut at = 0;
    for want in expect {
        let i = text[at..]
            .find(want)
            .unwrap_or_else(|| panic!("{want:?} after {at} in {text}"));
        at += i + want.len();
    }
    // Nothing that changed nothing: the XX that failed, the FNX refused, the plain HGETEX.
    assert_eq!(text.matches("HPEXPIREAT").count(), 5, "{text}");
    assert_eq!(text.matches("HSETEX").count(), 3, "{text}");
    // Reloading the AOF gives the same absolute TTLs.
    let before = r(c, "HPEXPIRETIME h FIELDS 3 f1 f2 f3");
    let x = r(c, "HPEXPIRETIME x FIELDS 1 f");
    c.ok("DEBUG LOADAOF");
    assert_eq!(r(c, "HPEXPIRETIME h FIELDS 3 f1 f2 f3"), before);
    assert_eq!(r(c, "HPEXPIRETIME x FIELDS 1 f"), x);
    assert_eq!(r(c, "HGET x f"), "$3\r\n2.5\r\n");
}

/// Files and DUMP payloads: version 10 unless a hash has field TTLs, then Redis 7.4's 12 with
/// RDB_TYPE_HASH_METADATA; both load back with every TTL.
#[test]
fn rdb_and_dump_keep_field_ttls() {
    let s = server();
    let c = &mut s.client();
    c.ok("HSET plain a 1");
    c.ok("SAVE");
    let rdb = std::fs::read(s.dir.join("dump.rdb")).unwrap();
    assert_eq!(&rdb[..9], b"REDIS0010");
    let payload = c.cmd(&["DUMP", "plain"]);
    let payload = payload.as_bytes().unwrap().to_vec();
    assert_eq!(payload[payload.len() - 10], 10);
    for (entries, encoding) in ENCODINGS {
        c.ok(&format!("CONFIG SET hash-max-listpack-entries {entries}"));
        c.ok("DEL h");
        c.ok("HSET h a 1 b 2 c 3");
        c.ok("HPEXPIREAT h 4102444800000 FIELDS 1 a");
        c.ok("HEXPIRE h 1000 FIELDS 1 b");
        let times = r(c, "HPEXPIRETIME h FIELDS 3 a b c");
        c.ok("SAVE");
        let rdb = std::fs::read(s.dir.join("dump.rdb")).unwrap();
        assert_eq!(&rdb[..9], b"REDIS0012");
        c.ok("DEBUG RELOAD");
        assert_eq!(r(c, "HPEXPIRETIME h FIELDS 3 a b c"), times);
        assert_eq!(
            r(c, "OBJECT ENCODING h"),
            format!("${}\r\n{encoding}\r\n", encoding.len())
        );
        let payload = c.cmd(&["DUMP", "h"]);
        let payload = payload.as_bytes().unwrap().to_vec();
        assert_eq!(payload[0], 24, "RDB_TYPE_HASH_METADATA");
        assert_eq!(payload[payload.len() - 10], 12);
        let restore: [&[u8]; 4] = [b"RESTORE", b"copy", b"0", &payload];
        assert_eq!(c.cmd_raw(&restore), b"+OK\r\n");
        assert_eq!(r(c, "HPEXPIRETIME copy FIELDS 3 a b c"), times);
        assert_eq!(
            sorted_bulks(c, "HGETALL copy"),
            ["1", "2", "3", "a", "b", "c"]
        );
        c.ok("DEL copy");
        // COPY and RENAME carry the TTLs, and the active expiry finds the hash there.
        c.ok("HPEXPIRE h 30 FIELDS 1 c");
        c.ok("COPY h h2");
        c.ok("RENAME h h3");
        wait_until("c expires in both", 5, || {
            n(c, "HLEN h2") == 2 && n(c, "HLEN h3") == 2
        });
        c.ok("DEL h2 h3");
    }
}

#[test]
fn keyspace_events() {
    let s = server();
    let c = &mut s.client();
    c.ok("CONFIG SET notify-keyspace-events Kgh");
    let mut sub = s.client();
    sub.cmd(&["PSUBSCRIBE", "__keyspace@0__:*"]);
    c.ok("HSET h a 1 b 2");
    c.ok("HEXPIRE h 100 FIELDS 1 a");
    c.ok("HPERSIST h FIELDS 1 a");
    c.ok("HPEXPIRE h 20 FIELDS 2 a b");
    let events = next_events(&mut sub, 6);
    assert_eq!(
        events,
        ["hset", "hexpire", "hpersist", "hexpire", "hexpired", "del"]
    );
}
