//! MONITOR's feed, CLIENT PAUSE and WAIT, compared with redis-server where timing allows.

mod common;

use std::time::{Duration, Instant};

use common::client::Client;
use common::server::{cinnabar, oracle, Server};

/// Runs a session while a MONITOR client listens; returns the monitor lines with the
/// timestamp and client address normalised.
fn monitored_session(server: &Server) -> Vec<String> {
    let mut mon = server.client();
    assert_eq!(mon.cmd(&["MONITOR"]).as_bytes(), Some(&b"OK"[..]));
    let mut c = server.client();
    let port = c.stream.local_addr().unwrap().port();
    for cmd in [
        vec!["SET", "k", "hello world"],
        vec!["GET", "k"],
        vec!["SET", "bin", "a\"b\\c\n\u{1}"],
        vec!["AUTH", "secret"],
        vec!["HELLO", "2", "AUTH", "default", "pw"],
        vec!["SELECT", "2"],
        vec!["INCR", "n"],
        vec!["NOSUCHCOMMAND", "x"],
        vec!["CONFIG", "GET", "hz"],
        vec!["MULTI"],
        vec!["SET", "a", "1"],
        vec!["INCR", "a"],
        vec!["EXEC"],
        vec!["PING"],
    ] {
        c.cmd(&cmd);
    }
    let mut lines = Vec::new();
    mon.set_timeout(Duration::from_millis(500));
    while let Ok(raw) = mon.read_raw() {
        let line = String::from_utf8_lossy(&raw).to_string();
        // "+1700000000.123456 [0 127.0.0.1:54321] "set" ..." → "[0 client] "set" ..."
        let rest = line.split_once(' ').expect("timestamp").1.to_string();
        lines.push(rest.replace(&format!("127.0.0.1:{port}"), "client"));
    }
    lines
}

#[test]
fn monitor_shows_commands_like_redis() {
    let ours = cinnabar(&[]);
    let got = monitored_session(&ours);
    assert!(
        got.iter()
            .any(|l| l.starts_with("[0 client] \"SET\" \"k\" \"hello world\"")),
        "{got:?}"
    );
    assert!(
        got.iter().any(|l| l.contains("\"AUTH\" \"(redacted)\"")),
        "{got:?}"
    );
    assert!(
        !got.iter().any(|l| l.contains("CONFIG")),
        "admin commands are not shown: {got:?}"
    );
    if let Some(r) = oracle(&[]) {
        assert_eq!(got, monitored_session(&r));
    }
}

#[test]
fn client_pause_write_postpones_writes_only() {
    let server = cinnabar(&[]);
    let mut admin = server.client();
    let mut w = server.client();
    w.cmd(&["SET", "k", "before"]);
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "300", "WRITE"]).as_bytes(),
        Some(&b"OK"[..])
    );
    let start = Instant::now();
    // Reads are served during a WRITE pause.
    assert_eq!(w.cmd(&["GET", "k"]).as_bytes(), Some(&b"before"[..]));
    assert!(start.elapsed() < Duration::from_millis(200));
    // A write waits for the pause to end, and the commands pipelined after it wait too.
    w.send(&["SET", "k", "after"]);
    w.send(&["GET", "k"]);
    assert_eq!(w.read().as_bytes(), Some(&b"OK"[..]));
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(w.read().as_bytes(), Some(&b"after"[..]));
}

#[test]
fn client_pause_all_and_unpause() {
    let server = cinnabar(&[]);
    let mut admin = server.client();
    let mut c = server.client();
    admin.cmd(&["CLIENT", "PAUSE", "10000"]);
    c.send(&["PING"]);
    c.set_timeout(Duration::from_millis(200));
    assert!(c.read_raw().is_err(), "PING must wait during an ALL pause");
    // Every command waits during an ALL pause, CLIENT UNPAUSE included.
    let mut other = Client::connect(server.port).unwrap();
    other.send(&["CLIENT", "UNPAUSE"]);
    other.set_timeout(Duration::from_millis(200));
    assert!(
        other.read_raw().is_err(),
        "every command waits during an ALL pause"
    );
}

#[test]
fn wait_without_replicas() {
    let server = cinnabar(&[]);
    let mut c = server.client();
    assert_eq!(c.cmd(&["WAIT", "0", "0"]).as_int(), Some(0));
    let start = Instant::now();
    assert_eq!(c.cmd(&["WAIT", "1", "100"]).as_int(), Some(0));
    assert!(start.elapsed() >= Duration::from_millis(90));
    assert_eq!(
        c.cmd_raw(&["WAIT", "1", "-1"]),
        b"-ERR timeout is negative\r\n"
    );
}
