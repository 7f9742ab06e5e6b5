//! Client-side caching across connections: redirection (RESP2 pub/sub and RESP3), broken
//! redirects, tracking-table-max-keys and the INFO counters. Each scenario also runs against
//! redis-server when it is installed, and both must produce the same bytes.

mod common;

use std::time::Duration;

use common::client::Client;
use common::server::{cinnabar, oracle, Server};

fn id_of(c: &mut Client) -> String {
    let f = c.cmd(&["CLIENT", "ID"]);
    f.as_int().expect("id").to_string()
}

/// Everything a connection receives within a short wait, as raw bytes.
fn drain(c: &mut Client) -> Vec<u8> {
    c.set_timeout(Duration::from_millis(200));
    let mut out = Vec::new();
    while let Ok(f) = c.read_raw() {
        out.extend_from_slice(&f);
    }
    c.set_timeout(Duration::from_secs(10));
    out
}

/// Redirected invalidations: to a RESP2 subscriber of `__redis__:invalidate`, to a RESP3
/// client, and what happens once the redirect target is gone.
fn redirect_scenario(server: &Server) -> Vec<Vec<u8>> {
    let mut seen = Vec::new();
    let mut tracker = server.client();
    let mut sub = server.client();
    let mut writer = server.client();
    let sub_id = id_of(&mut sub);
    seen.push(sub.cmd_raw(&["SUBSCRIBE", "__redis__:invalidate"]));
    seen.push(tracker.cmd_raw(&["CLIENT", "TRACKING", "on", "REDIRECT", &sub_id]));
    let info = tracker.cmd_raw(&["CLIENT", "GETREDIR"]);
    assert_eq!(info, format!(":{sub_id}\r\n").into_bytes());
    tracker.cmd_raw(&["GET", "rk"]);
    writer.cmd_raw(&["SET", "rk", "1"]);
    seen.push(drain(&mut sub));
    tracker.cmd_raw(&["GET", "rk"]);
    writer.cmd_raw(&["FLUSHALL"]);
    seen.push(drain(&mut sub));
    // RESP3 redirect target: a push, not a pub/sub message.
    let mut target3 = server.client();
    target3.cmd_raw(&["HELLO", "3"]);
    let t3 = id_of(&mut target3);
    let mut tracker2 = server.client();
    tracker2.cmd_raw(&["HELLO", "3"]);
    seen.push(tracker2.cmd_raw(&["CLIENT", "TRACKING", "on", "REDIRECT", &t3]));
    writer.cmd_raw(&["SET", "m1", "x"]);
    tracker2.cmd_raw(&["MGET", "m1", "m2"]);
    writer.cmd_raw(&["DEL", "m1", "m2"]);
    writer.cmd_raw(&["SET", "m2", "x"]);
    seen.push(drain(&mut target3));
    // The target disconnects: the tracker learns it on the next invalidation.
    tracker2.cmd_raw(&["GET", "m3"]);
    drop(target3);
    std::thread::sleep(Duration::from_millis(100));
    writer.cmd_raw(&["SET", "m3", "x"]);
    let broken = drain(&mut tracker2);
    assert_eq!(
        broken,
        format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{t3}\r\n").into_bytes()
    );
    let info = tracker2.cmd_raw(&["CLIENT", "TRACKINGINFO"]);
    let expected = format!(
        "%3\r\n$5\r\nflags\r\n~2\r\n$2\r\non\r\n$15\r\nbroken_redirect\r\n$8\r\nredirect\r\n\
         :{t3}\r\n$8\r\nprefixes\r\n*0\r\n"
    );
    assert_eq!(String::from_utf8_lossy(&info), expected);
    let list = tracker2.cmd_raw(&["CLIENT", "INFO"]);
    let list = String::from_utf8_lossy(&list).to_string();
    assert!(list.contains(" flags=tR "), "{list}");
    assert!(list.contains(&format!(" redir={t3} ")), "{list}");
    seen
}

#[test]
fn redirected_invalidations() {
    let ours = redirect_scenario(&cinnabar(&[]));
    let expected: Vec<&[u8]> = vec![
        b"*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n",
        b"+OK\r\n",
        b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$2\r\nrk\r\n",
        b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n",
        b"+OK\r\n",
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nm1\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nm2\r\n",
    ];
    for (got, want) in ours.iter().zip(&expected) {
        assert_eq!(String::from_utf8_lossy(got), String::from_utf8_lossy(want));
    }
    if let Some(real) = oracle(&[]) {
        assert_eq!(redirect_scenario(&real), ours);
    }
}

#[test]
fn table_is_kept_within_tracking_table_max_keys() {
    let server = cinnabar(&["--tracking-table-max-keys".into(), "10".into()]);
    let mut tracker = server.client();
    tracker.cmd_raw(&["HELLO", "3"]);
    tracker.cmd_raw(&["CLIENT", "TRACKING", "on"]);
    for i in 0..30 {
        tracker.send(&["GET", &format!("key:{i}")]);
    }
    // Keys evicted from the table are invalidated, so the client's cache stays correct.
    let pushes = drain(&mut tracker);
    let n = pushes.windows(10).filter(|w| w == b"invalidate").count();
    assert!(n >= 19, "{n} invalidations");
    let mut other = server.client();
    let info = other.cmd_raw(&["INFO", "stats"]);
    let info = String::from_utf8_lossy(&info).to_string();
    let keys: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("tracking_total_keys:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(keys <= 11, "{keys}");
    let clients = other.cmd_raw(&["INFO", "clients"]);
    assert!(String::from_utf8_lossy(&clients).contains("tracking_clients:1\r\n"));
    drop(tracker);
    std::thread::sleep(Duration::from_millis(100));
    let clients = other.cmd_raw(&["INFO", "clients"]);
    assert!(String::from_utf8_lossy(&clients).contains("tracking_clients:0\r\n"));
}
