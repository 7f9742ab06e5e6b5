//! Pub/Sub under load: many subscribers, and slow subscribers cut off at their output limit.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::server::cinnabar;

#[test]
fn publish_reaches_a_thousand_subscribers() {
    let server = cinnabar(&["--maxclients".into(), "2000".into()]);
    let mut subs = Vec::new();
    for _ in 0..1000 {
        let mut c = server.client();
        c.send(&["SUBSCRIBE", "fanout"]);
        subs.push(c);
    }
    for c in &mut subs {
        c.read_raw().unwrap();
    }
    let mut p = server.client();
    assert_eq!(p.cmd(&["PUBLISH", "fanout", "hi"]).as_int(), Some(1000));
    for c in &mut subs {
        let f = c.read();
        let items = f.items().unwrap();
        assert_eq!(items[2].as_bytes(), Some(&b"hi"[..]));
    }
}

fn rss_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn slow_subscriber_is_disconnected_at_the_pubsub_limit() {
    let server = cinnabar(&[
        "--client-output-buffer-limit".into(),
        "pubsub 4mb 1mb 1".into(),
    ]);
    let pid = server.child.id();
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    use std::io::Write;
    slow.write_all(b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nfeed\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let before = rss_kb(pid);
    let mut p = server.client();
    let payload = vec![b'x'; 64 * 1024];
    let start = Instant::now();
    let mut receivers_dropped = false;
    // 200 MiB of messages: without a limit the server would buffer them all.
    for _ in 0..3200 {
        let n = p
            .cmd(&[&b"PUBLISH"[..], b"feed", &payload])
            .as_int()
            .unwrap();
        if n == 0 {
            receivers_dropped = true;
            break;
        }
    }
    assert!(
        receivers_dropped,
        "the slow subscriber was never disconnected ({:?})",
        start.elapsed()
    );
    let after = rss_kb(pid);
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
    // The cut-off client sees its connection closed after whatever was already sent.
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match slow.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let info = p.cmd(&["INFO", "stats"]);
    let text = String::from_utf8_lossy(info.as_bytes().unwrap()).to_string();
    assert!(
        text.contains("client_output_buffer_limit_disconnections:1"),
        "{text}"
    );
}
