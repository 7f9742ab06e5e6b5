//! DUMP from redis-server 7.0.15 RESTOREs into cinnabar and ours into redis-server, for every
//! type and encoding (contents, encodings and TTLs compared). Needs redis-server (CI has it).

mod common;

use common::client::Client;
use common::dataset::{fill, snapshot};
use common::server::{cinnabar, oracle};

fn keys(c: &mut Client) -> Vec<Vec<u8>> {
    match c.cmd(&["KEYS", "*"]) {
        cinnabar::resp::frame::Frame::Array(v) => {
            v.iter().map(|f| f.as_bytes().unwrap().to_vec()).collect()
        }
        other => panic!("KEYS: {other:?}"),
    }
}

/// DUMPs every key of `from` and RESTOREs it into `to` with its TTL.
fn copy_all(from: &mut Client, to: &mut Client) {
    for k in keys(from) {
        let payload = from.cmd(&[&b"DUMP"[..], &k]);
        let payload = payload.as_bytes().expect("payload").to_vec();
        let ttl = from
            .cmd(&[&b"PTTL"[..], &k])
            .as_int()
            .unwrap()
            .max(0)
            .to_string();
        let r = to.cmd_raw(&[&b"RESTORE"[..], &k, ttl.as_bytes(), &payload]);
        assert_eq!(r, b"+OK\r\n", "{}", String::from_utf8_lossy(&k));
    }
}

#[test]
fn payloads_move_both_ways() {
    let Some(theirs) = oracle(&[]) else {
        return;
    };
    let ours = cinnabar(&[]);
    let (mut r, mut o) = (theirs.client(), ours.client());
    fill(&mut r);
    let expected = snapshot(&mut r);
    copy_all(&mut r, &mut o);
    assert_eq!(snapshot(&mut o), expected, "redis → cinnabar");
    let back = oracle(&[]).expect("second redis-server");
    let mut b = back.client();
    copy_all(&mut o, &mut b);
    assert_eq!(snapshot(&mut b), expected, "cinnabar → redis");
}
