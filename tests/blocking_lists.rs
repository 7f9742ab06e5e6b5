//! Blocking list commands with several clients: FIFO wake-ups, fractional timeouts, BLMOVE
//! chains, pushes inside MULTI, keys deleted/renamed/of another type while clients wait,
//! CLIENT UNBLOCK, pipelined input behind a blocked command, disconnects.

mod common;

use std::time::{Duration, Instant};

use common::client::Client;
use common::server::{cinnabar, Server};

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

/// RESP2 array of bulk strings.
fn arr(items: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len());
    for i in items {
        out.push_str(&bulk(i));
    }
    out.into_bytes()
}

const NULL_ARRAY: &[u8] = b"*-1\r\n";

fn blocked_clients(c: &mut Client) -> u64 {
    let info = c.cmd(&["INFO", "clients"]);
    let text = String::from_utf8_lossy(info.as_bytes().expect("bulk")).to_string();
    text.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .expect("blocked_clients")
        .trim()
        .parse()
        .expect("number")
}

/// Waits until the server reports `n` blocked clients.
fn wait_blocked(main: &mut Client, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while blocked_clients(main) != n {
        assert!(
            Instant::now() < deadline,
            "never reached {n} blocked clients"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends a blocking command from a new client and waits until it is parked.
fn park(server: &Server, main: &mut Client, argv: &[&str]) -> Client {
    let before = blocked_clients(main);
    let mut c = server.client();
    c.send(argv);
    wait_blocked(main, before + 1);
    c
}

fn client_id(c: &mut Client) -> String {
    c.cmd(&["CLIENT", "ID"]).as_int().expect("id").to_string()
}

#[test]
fn wakeups_follow_arrival_order() {
    let server = cinnabar(&[]);
    let mut main = server.client();
    let mut waiters: Vec<Client> = (0..6)
        .map(|i| {
            let cmd = if i % 2 == 0 { "BLPOP" } else { "BRPOP" };
            park(&server, &mut main, &[cmd, "k", "other", "0"])
        })
        .collect();
    // One push serves as many waiters as it has elements, oldest first.
    assert_eq!(
        main.cmd(&["RPUSH", "k", "1", "2", "3", "4"]).as_int(),
        Some(4)
    );
    // BLPOP takes the head, BRPOP the tail: 1, 4, 2, 3.
    for (i, want) in ["1", "4", "2", "3"].iter().enumerate() {
        assert_eq!(
            waiters[i].read_raw().unwrap(),
            arr(&["k", want]),
            "waiter {i}"
        );
    }
    assert_eq!(blocked_clients(&mut main), 2);
    assert_eq!(main.cmd(&["EXISTS", "k"]).as_int(), Some(0));
    // The remaining two, in order, from whichever of their keys gets data.
    main.cmd(&["LPUSH", "other", "x"]);
    assert_eq!(waiters[4].read_raw().unwrap(), arr(&["other", "x"]));
    main.cmd(&["LPUSH", "k", "y"]);
    assert_eq!(waiters[5].read_raw().unwrap(), arr(&["k", "y"]));
    assert_eq!(blocked_clients(&mut main), 0);
}

#[test]
fn fractional_timeouts() {
    let server = cinnabar(&[]);
    let mut main = server.client();
    let mut c = server.client();
    for (cmd, null) in [
        (&["BLPOP", "k", "0.2"][..], NULL_ARRAY),
        (&["BRPOP", "k", "k2", "0.15"][..], NULL_ARRAY),
        (&["BLMPOP", "0.1", "1", "k", "LEFT"][..], NULL_ARRAY),
        // Redis 7.0 times BLMOVE out with a null array too (not a null bulk).
        (
            &["BLMOVE", "k", "d", "LEFT", "RIGHT", "0.1"][..],
            NULL_ARRAY,
        ),
        (&["BRPOPLPUSH", "k", "d", "0.1"][..], NULL_ARRAY),
    ] {
        let start = Instant::now();
        assert_eq!(c.cmd_raw(cmd), null, "{cmd:?}");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(90),
            "{cmd:?} returned after {took:?}"
        );
        assert!(
            took < Duration::from_secs(2),
            "{cmd:?} returned after {took:?}"
        );
    }
    // A tiny timeout is still a timeout, not "forever".
    assert_eq!(c.cmd_raw(&["BLPOP", "k", "0.0001"]), NULL_ARRAY);
    // Shorter waits end first, whatever the order they started in.
    let mut slow = park(&server, &mut main, &["BLPOP", "k", "0.6"]);
    let mut fast = park(&server, &mut main, &["BLPOP", "k", "0.1"]);
    let start = Instant::now();
    assert_eq!(fast.read_raw().unwrap(), NULL_ARRAY);
    assert!(start.elapsed() < Duration::from_millis(450));
    assert_eq!(blocked_clients(&mut main), 1);
    // Served before its deadline: the value, and no late null.
    main.cmd(&["RPUSH", "k", "v"]);
    assert_eq!(slow.read_raw().unwrap(), arr(&["k", "v"]));
    std::thread::sleep(Duration::from_millis(700));
    slow.set_timeout(Duration::from_millis(100));
    assert!(
        slow.read_raw().is_err(),
        "nothing more for the served client"
    );
}

#[test]
fn blmove_chains_serve_each_hop() {
    let server = cinnabar(&[]);
    let mut main = server.client();
    let mut c1 = park(
        &server,
        &mut main,
        &["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"],
    );
    let mut c2 = park(
        &server,
        &mut main,
        &["BLMOVE", "b", "c", "RIGHT", "LEFT", "0"],
    );
    let mut c3 = park(&server, &mut main, &["BRPOPLPUSH", "c", "d", "0"]);
    let mut c4 = park(&server, &mut main, &["BLPOP", "d", "0"]);
    main.cmd(&["RPUSH", "a", "x"]);
    assert_eq!(c1.read_raw().unwrap(), bulk("x").into_bytes());
    assert_eq!(c2.read_raw().unwrap(), bulk("x").into_bytes());
    assert_eq!(c3.read_raw().unwrap(), bulk("x").into_bytes());
    assert_eq!(c4.read_raw().unwrap(), arr(&["d", "x"]));
    assert_eq!(main.cmd(&["EXISTS", "a", "b", "c", "d"]).as_int(), Some(0));
    // A cycle: each hop hands the element on once.
    let mut p = park(
        &server,
        &mut main,
        &["BLMOVE", "p", "q", "LEFT", "LEFT", "0"],
    );
    let mut q = park(
        &server,
        &mut main,
        &["BLMOVE", "q", "p", "LEFT", "LEFT", "0"],
    );
    main.cmd(&["LPUSH", "p", "e"]);
    assert_eq!(p.read_raw().unwrap(), bulk("e").into_bytes());
    assert_eq!(q.read_raw().unwrap(), bulk("e").into_bytes());
    assert_eq!(main.cmd_raw(&["LRANGE", "p", "0", "-1"]), arr(&["e"]));
    assert_eq!(main.cmd(&["EXISTS", "q"]).as_int(), Some(0));
}

#[test]
fn pushes_inside_multi_are_served_after_exec() {
    let server = cinnabar(&[]);
    let mut main = server.client();
    let mut c1 = park(&server, &mut main, &["BLPOP", "k", "0"]);
    main.cmd(&["MULTI"]);
    main.cmd(&["RPUSH", "k", "a"]);
    // Inside MULTI a blocking pop never blocks: here it takes what the transaction pushed.
    main.cmd(&["BLPOP", "k", "0"]);
    main.cmd(&["BLPOP", "nolist", "0"]);
    main.cmd(&["RPUSH", "k", "b", "c"]);
    let exec = main.cmd_raw(&["EXEC"]);
    let mut want = b"*4\r\n:1\r\n".to_vec();
    want.extend(arr(&["k", "a"]));
    want.extend(b"*-1\r\n:2\r\n");
    assert_eq!(exec, want);
    // The waiter sees the list as EXEC left it.
    assert_eq!(c1.read_raw().unwrap(), arr(&["k", "b"]));
    assert_eq!(main.cmd_raw(&["LRANGE", "k", "0", "-1"]), arr(&["c"]));
    // Pushed then emptied inside one transaction: still waiting.
    main.cmd(&["DEL", "k"]);
    let mut c2 = park(&server, &mut main, &["BRPOP", "k", "0"]);
    main.cmd(&["MULTI"]);
    main.cmd(&["LPUSH", "k", "x"]);
    main.cmd(&["DEL", "k"]);
    main.cmd(&["EXEC"]);
    assert_eq!(blocked_clients(&mut main), 1);
    main.cmd(&["LPUSH", "k", "y"]);
    assert_eq!(c2.read_raw().unwrap(), arr(&["k", "y"]));
}

#[test]
fn waited_key_deleted_renamed_or_of_another_type() {
    let server = cinnabar(&[]);
    let mut main = server.client();
    let mut c = park(&server, &mut main, &["BLPOP", "k", "0"]);
    // Another type under the key: the waiter keeps waiting.
    main.cmd(&["SET", "k", "str"]);
    main.cmd(&["APPEND", "k", "more"]);
    assert_eq!(blocked_clients(&mut main), 1);
    main.cmd(&["DEL", "k"]);
    assert_eq!(blocked_clients(&mut main), 1);
    // A list renamed onto the key serves it.
    main.cmd(&["RPUSH", "src", "r1", "r2"]);
    main.cmd(&["RENAME", "src", "k"]);
    assert_eq!(c.read_raw().unwrap(), arr(&["k", "r1"]));
    assert_eq!(main.cmd_raw(&["LRANGE", "k", "0", "-1"]), arr(&["r2"]));
    main.cmd(&["DEL", "k"]);
    // A string renamed onto it does not.
    let mut c = park(
        &server,
        &mut main,
        &["BLMPOP", "0", "1", "k", "RIGHT", "COUNT", "9"],
    );
    main.cmd(&["SET", "s", "v"]);
    main.cmd(&["RENAME", "s", "k"]);
    assert_eq!(blocked_clients(&mut main), 1);
    main.cmd(&["DEL", "k"]);
    main.cmd(&["RPUSH", "k", "1", "2", "3"]);
    let mut want = b"*2\r\n".to_vec();
    want.extend(bulk("k").as_bytes());
    want.extend(arr(&["3", "2", "1"]));
    assert_eq!(c.read_raw().unwrap(), want);
    assert_eq!(main.cmd(&["EXISTS", "k"]).as_int(), Some(0));
    // The destination of a waiting BLMOVE changes type: WRONGTYPE, the element stays put.
    let mut c = park(
        &server,
        &mut main,
        &["BLMOVE", "from", "to", "LEFT", "LEFT", "0"],
    );
    main.cmd(&["SET", "to", "x"]);
    main.cmd(&["RPUSH", "from", "e"]);
    assert_eq!(
        c.read_raw().unwrap(),
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(main.cmd_raw(&["LRANGE", "from", "0", "-1"]), arr(&["e"]));
    assert_eq!(blocked_clients(&mut main), 0);
}

#[test]
fn client_unblock_timeout_and_error() {
    let server = cinnabar(&[]);
    let mut main = server.client();
    let mut c1 = server.client();
    let id1 = client_id(&mut c1);
    let mut c2 = server.client();
    let id2 = client_id(&mut c2);
    c1.send(&["BLPOP", "k", "0"]);
    c2.send(&["BLMOVE", "k", "d", "LEFT", "LEFT", "0"]);
    wait_blocked(&mut main, 2);
    assert_eq!(
        main.cmd(&["CLIENT", "UNBLOCK", &id1, "TIMEOUT"]).as_int(),
        Some(1)
    );
    assert_eq!(c1.read_raw().unwrap(), NULL_ARRAY);
    assert_eq!(
        main.cmd(&["CLIENT", "UNBLOCK", &id2, "ERROR"]).as_int(),
        Some(1)
    );
    assert_eq!(
        c2.read_raw().unwrap(),
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    assert_eq!(main.cmd(&["CLIENT", "UNBLOCK", &id1]).as_int(), Some(0));
    // Neither waits any more: a push stays in the list, and both answer new commands.
    main.cmd(&["RPUSH", "k", "v"]);
    assert_eq!(main.cmd(&["LLEN", "k"]).as_int(), Some(1));
    assert_eq!(c1.cmd_raw(&["PING"]), b"+PONG\r\n");
    assert_eq!(c2.cmd_raw(&["LPOP", "k"]), bulk("v").into_bytes());
}

#[test]
fn pipelined_commands_behind_a_blocked_one_run_after_it() {
    let server = cinnabar(&[]);
    let mut main = server.client();
    let mut c = server.client();
    let mut pipeline = cinnabar::resp::frame::encode_command(&["BLPOP", "k", "0"]);
    pipeline.extend(cinnabar::resp::frame::encode_command(&[
        "RPUSH", "k", "mine",
    ]));
    pipeline.extend(cinnabar::resp::frame::encode_command(&["LPOP", "k"]));
    c.send_raw(&pipeline).unwrap();
    wait_blocked(&mut main, 1);
    // The pipelined RPUSH must not have run: it would have served the client itself.
    assert_eq!(main.cmd(&["EXISTS", "k"]).as_int(), Some(0));
    main.cmd(&["RPUSH", "k", "first"]);
    assert_eq!(c.read_raw().unwrap(), arr(&["k", "first"]));
    assert_eq!(c.read_raw().unwrap(), b":1\r\n");
    assert_eq!(c.read_raw().unwrap(), bulk("mine").into_bytes());
}

#[test]
fn disconnected_waiters_take_nothing() {
    let server = cinnabar(&[]);
    let mut main = server.client();
    let c = park(&server, &mut main, &["BLPOP", "k", "0"]);
    let mut other = park(&server, &mut main, &["BLPOP", "k", "0"]);
    drop(c);
    wait_blocked(&mut main, 1);
    main.cmd(&["RPUSH", "k", "a", "b"]);
    assert_eq!(other.read_raw().unwrap(), arr(&["k", "a"]));
    assert_eq!(main.cmd_raw(&["LRANGE", "k", "0", "-1"]), arr(&["b"]));
}

#[test]
fn many_waiters_on_many_keys() {
    let server = cinnabar(&[]);
    let mut main = server.client();
    let mut clients = Vec::new();
    for i in 0..50 {
        let k1 = format!("key{}", i % 7);
        let k2 = format!("key{}", (i + 3) % 7);
        clients.push(park(&server, &mut main, &["BRPOP", &k1, &k2, "0"]));
    }
    for i in 0..50 {
        main.cmd(&["LPUSH", &format!("key{}", i % 7), &i.to_string()]);
    }
    let mut got: Vec<i64> = clients
        .iter_mut()
        .map(|c| {
            let f = c.read();
            let items = f.items().expect("array").to_vec();
            String::from_utf8_lossy(items[1].as_bytes().unwrap())
                .parse()
                .unwrap()
        })
        .collect();
    got.sort();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
    assert_eq!(blocked_clients(&mut main), 0);
}
