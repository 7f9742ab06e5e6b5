//! BZPOPMIN/BZPOPMAX/BZMPOP with two or more clients: wake-up by ZADD, FIFO among waiters,
//! timeouts, wrong-type keys that do not wake, MULTI that creates and empties a key, and
//! the non-blocking behaviour inside MULTI. The same script runs against redis-server when
//! it is installed and both transcripts must match byte for byte.

mod common;

use std::time::{Duration, Instant};

use common::client::Client;
use common::server::{cinnabar, oracle, Server};

/// Gives a just-sent blocking command time to park.
fn settle() {
    std::thread::sleep(Duration::from_millis(60));
}

/// Runs the scenario; returns every reply in order, as text.
fn scenario(server: &Server) -> Vec<String> {
    let mut a = server.client();
    let mut b = server.client();
    let mut c = server.client();
    let mut log = Vec::new();
    let mut push = |tag: &str, raw: Vec<u8>| {
        log.push(format!("{tag}: {}", String::from_utf8_lossy(&raw)));
    };
    let read = |cl: &mut Client| cl.read_raw().expect("reply");

    // 1. BZPOPMIN on two missing keys; a ZADD to the second wakes it.
    a.send(&["BZPOPMIN", "z1", "z2", "0"]);
    settle();
    push("b zadd", b.cmd_raw(&["ZADD", "z2", "5", "m", "6", "n"]));
    push("a woke", read(&mut a));
    push(
        "b rest",
        b.cmd_raw(&["ZRANGE", "z2", "0", "-1", "WITHSCORES"]),
    );

    // 2. BZMPOP with COUNT, served from the key that appears.
    a.send(&["BZMPOP", "0", "2", "z1", "z3", "MAX", "COUNT", "2"]);
    settle();
    push(
        "b zadd",
        b.cmd_raw(&["ZADD", "z3", "1", "a", "2", "b", "3", "c"]),
    );
    push("a woke", read(&mut a));
    push("b rest", b.cmd_raw(&["ZRANGE", "z3", "0", "-1"]));

    // 3. Two waiters are served in arrival order.
    a.send(&["BZPOPMIN", "q", "0"]);
    settle();
    c.send(&["BZPOPMAX", "q", "0"]);
    settle();
    push(
        "b zadd",
        b.cmd_raw(&["ZADD", "q", "1", "x", "2", "y", "3", "z"]),
    );
    push("a woke", read(&mut a));
    push("c woke", read(&mut c));
    push("b rest", b.cmd_raw(&["ZRANGE", "q", "0", "-1"]));

    // 4. A string at the key does not wake the waiter; a sorted set later does.
    a.send(&["BZPOPMIN", "w", "0"]);
    settle();
    push("b set", b.cmd_raw(&["SET", "w", "str"]));
    push("b del", b.cmd_raw(&["DEL", "w"]));
    push("b zadd", b.cmd_raw(&["ZADD", "w", "7", "seven"]));
    push("a woke", read(&mut a));

    // 5. A transaction that creates and empties the key leaves the waiter blocked.
    a.send(&["BZMPOP", "0", "1", "t", "MIN"]);
    settle();
    push("b multi", b.cmd_raw(&["MULTI"]));
    push("b q1", b.cmd_raw(&["ZADD", "t", "1", "gone"]));
    push("b q2", b.cmd_raw(&["ZREM", "t", "gone"]));
    push("b exec", b.cmd_raw(&["EXEC"]));
    push("b zadd", b.cmd_raw(&["ZADD", "t", "2", "kept"]));
    push("a woke", read(&mut a));

    // 6. Timeouts reply with a null array.
    let start = Instant::now();
    push("a timeout", a.cmd_raw(&["BZPOPMAX", "nosuch", "0.1"]));
    assert!(start.elapsed() >= Duration::from_millis(90));
    push(
        "a timeout",
        a.cmd_raw(&["BZMPOP", "0.05", "1", "nosuch", "MIN"]),
    );

    // 7. Inside MULTI the blocking pops do not block.
    push("a multi", a.cmd_raw(&["MULTI"]));
    push("a q", a.cmd_raw(&["BZPOPMIN", "nosuch", "0"]));
    push("a q", a.cmd_raw(&["BZMPOP", "0", "1", "nosuch", "MAX"]));
    push("a exec", a.cmd_raw(&["EXEC"]));

    // 8. RESP3 waiter.
    a.cmd_raw(&["HELLO", "3"]);
    a.send(&["BZMPOP", "0", "1", "r3", "MIN", "COUNT", "5"]);
    settle();
    push("b zadd", b.cmd_raw(&["ZADD", "r3", "1.5", "p", "2", "q"]));
    push("a woke", read(&mut a));
    a.send(&["BZPOPMIN", "r3b", "0"]);
    settle();
    push("b zadd", b.cmd_raw(&["ZADD", "r3b", "-inf", "low"]));
    push("a woke", read(&mut a));
    push("b exists", b.cmd_raw(&["EXISTS", "r3", "r3b"]));
    log
}

#[test]
fn blocking_zset_pops() {
    let ours = scenario(&cinnabar(&[]));
    let expect_prefix = [
        "b zadd: :2\r\n",
        "a woke: *3\r\n$2\r\nz2\r\n$1\r\nm\r\n$1\r\n5\r\n",
        "b rest: *2\r\n$1\r\nn\r\n$1\r\n6\r\n",
        "b zadd: :3\r\n",
        "a woke: *2\r\n$2\r\nz3\r\n*2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n",
        "b rest: *1\r\n$1\r\na\r\n",
        "b zadd: :3\r\n",
        "a woke: *3\r\n$1\r\nq\r\n$1\r\nx\r\n$1\r\n1\r\n",
        "c woke: *3\r\n$1\r\nq\r\n$1\r\nz\r\n$1\r\n3\r\n",
        "b rest: *1\r\n$1\r\ny\r\n",
    ];
    for (i, e) in expect_prefix.iter().enumerate() {
        assert_eq!(&ours[i], e, "step {i}");
    }
    if let Some(oracle) = oracle(&[]) {
        let theirs = scenario(&oracle);
        assert_eq!(ours, theirs);
    }
}
