//! MIGRATE between two cinnabar servers and to redis-server: keys move with their TTLs
//! (deleted here unless COPY, propagated as DEL), NOKEY when none exist, the target's
//! refusal comes back as Redis words it, and an unreachable target is an IOERR.

mod common;

use common::server::{cinnabar, free_port, oracle};

#[test]
fn migrate_moves_keys_between_servers() {
    let src = cinnabar(&[]);
    let dst = cinnabar(&[]);
    let mut s = src.client();
    let mut d = dst.client();
    let port = dst.port.to_string();
    s.ok("RPUSH l a b c");
    s.ok("SET t v PX 100000");
    s.ok("HSET h f v");
    assert_eq!(
        s.cmd_raw(&["MIGRATE", "127.0.0.1", &port, "l", "0", "1000"]),
        b"+OK\r\n"
    );
    assert_eq!(s.cmd_raw(&["EXISTS", "l"]), b":0\r\n");
    assert_eq!(
        d.cmd_raw(&["LRANGE", "l", "0", "-1"]),
        b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
    );
    assert_eq!(
        s.cmd_raw(&["MIGRATE", "127.0.0.1", &port, "l", "0", "1000"]),
        b"+NOKEY\r\n"
    );
    s.ok("RPUSH l x");
    assert_eq!(
        String::from_utf8_lossy(&s.cmd_raw(&["MIGRATE", "127.0.0.1", &port, "l", "0", "1000"])),
        "-ERR Target instance replied with error: BUSYKEY Target key name already exists.\r\n"
    );
    // COPY REPLACE KEYS into db 3: the keys stay here, TTLs travel.
    let r = s.cmd_raw(&[
        "MIGRATE",
        "127.0.0.1",
        &port,
        "",
        "3",
        "1000",
        "COPY",
        "REPLACE",
        "KEYS",
        "l",
        "t",
        "h",
        "nosuch",
    ]);
    assert_eq!(r, b"+OK\r\n");
    assert_eq!(s.cmd_raw(&["DBSIZE"]), b":3\r\n");
    d.ok("SELECT 3");
    assert_eq!(d.cmd_raw(&["DBSIZE"]), b":3\r\n");
    let ttl = String::from_utf8_lossy(&d.cmd_raw(&["PTTL", "t"])).into_owned();
    let ttl: i64 = ttl.trim_start_matches(':').trim().parse().unwrap();
    assert!(ttl > 90_000 && ttl <= 100_000, "{ttl}");
    // Argument errors, and a port nobody listens on.
    assert_eq!(
        String::from_utf8_lossy(&s.cmd_raw(&[
            "MIGRATE",
            "127.0.0.1",
            &port,
            "l",
            "0",
            "1000",
            "KEYS",
            "a"
        ])),
        "-ERR When using MIGRATE KEYS option, the key argument must be set to the empty string\r\n"
    );
    assert_eq!(
        s.cmd_raw(&["MIGRATE", "127.0.0.1", &port, "l", "0", "1000", "BOGUS"]),
        b"-ERR syntax error\r\n"
    );
    let closed = free_port().to_string();
    assert_eq!(
        String::from_utf8_lossy(&s.cmd_raw(&["MIGRATE", "127.0.0.1", &closed, "h", "0", "200"])),
        "-IOERR error or timeout writing to target instance\r\n"
    );
}

#[test]
fn migrate_to_redis_server() {
    let src = cinnabar(&[]);
    let Some(redis) = oracle(&[]) else {
        return;
    };
    let mut s = src.client();
    let mut r = redis.client();
    s.ok("ZADD z 1 a 2 b");
    s.ok("XADD st 1-1 f v");
    let port = redis.port.to_string();
    let reply = s.cmd_raw(&[
        "MIGRATE",
        "127.0.0.1",
        &port,
        "",
        "0",
        "1000",
        "KEYS",
        "z",
        "st",
    ]);
    assert_eq!(reply, b"+OK\r\n");
    assert_eq!(r.cmd_raw(&["ZSCORE", "z", "b"]), b"$1\r\n2\r\n");
    assert_eq!(r.cmd_raw(&["XLEN", "st"]), b":1\r\n");
    assert_eq!(s.cmd_raw(&["DBSIZE"]), b":0\r\n");
}
