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

/// Corrupt payloads both servers refuse with "Bad data format": a quicklist node of no bytes,
/// a stream group naming one consumer twice, and (checked deeply) a pending entry that no
/// consumer holds and an entry whose lp-count is wrong. The stream payloads are Redis's own test inputs.
fn refuses_corrupt_payloads(server: &common::server::Server) -> Vec<Vec<u8>> {
    let mut c = server.client();
    c.ok("CONFIG SET sanitize-dump-payload yes");
    let payloads: [&[u8]; 4] = [
        b"\x12\x01\x01\x00\x0a\x00\x8f\xc6\xc0\x57\x1c\x0a\xb3\x3c",
        b"\x0F\x00\x00\x00\x00\x01\x07\x6D\x79\x67\x72\x6F\x75\x70\x00\x00\x00\x02\x04\x6E\x61\x6D\x65\x2A\x4C\xAA\x9A\x7D\x01\x00\x00\x00\x04\x6E\x61\x6D\x65\x2B\x4C\xAA\x9A\x7D\x01\x00\x00\x00\x0A\x00\xCC\xED\x8C\xA7\x62\xEE\xC7\xC8",
        b"\x0F\x01\x10\x00\x00\x01\x7B\x08\xF0\xB2\x34\x00\x00\x00\x00\x00\x00\x00\x00\xC3\x3B\x40\x42\x19\x42\x00\x00\x00\x18\x00\x02\x01\x01\x01\x02\x01\x84\x69\x74\x65\x6D\x05\x85\x76\x61\x6C\x75\x65\x06\x00\x20\x10\x00\x00\x20\x01\x00\x01\x20\x03\x02\x05\x01\x03\x20\x05\x40\x00\x04\x82\x5F\x31\x03\x05\x60\x19\x80\x32\x02\x05\x01\xFF\x02\x81\x00\x00\x01\x7B\x08\xF0\xB2\x34\x02\x01\x07\x6D\x79\x67\x72\x6F\x75\x70\x81\x00\x00\x01\x7B\x08\xF0\xB2\x34\x01\x01\x00\x00\x01\x7B\x08\xF0\xB2\x34\x00\x00\x00\x00\x00\x00\x00\x01\x35\xB2\xF0\x08\x7B\x01\x00\x00\x01\x01\x13\x41\x6C\x69\x63\x65\x35\xB2\xF0\x08\x7B\x01\x00\x00\x01\x00\x00\x01\x7B\x08\xF0\xB2\x34\x00\x00\x00\x00\x00\x00\x00\x01\x09\x00\x28\x2F\xE0\xC5\x04\xBB\xA7\x31",
        // An entry's lp-count that does not match its elements.
        b"\x0F\x01\x10\x00\x00\x01\x73\xDE\xDF\x7D\x9B\x00\x00\x00\x00\x00\x00\x00\x00\x40\x42\x42\x00\x00\x00\x18\x00\x03\x01\x00\x01\x02\x01\x84\x69\x74\x65\x6D\x05\x85\x76\x61\x6C\x75\x65\x06\x00\x01\x02\x01\x00\x01\x00\x01\x01\x01\x00\x01\x56\x01\x02\x01\x22\x01\x00\x01\x01\x01\x82\x5F\x31\x03\x05\x01\x02\x01\x2C\x01\x00\x01\x01\x01\x02\x01\x05\x01\xFF\x03\x81\x00\x00\x01\x73\xDE\xDF\x7D\xC7\x00\x01\x07\x6D\x79\x67\x72\x6F\x75\x70\x81\x00\x00\x01\x73\xDE\xDF\x7D\x9B\x00\x01\x00\x00\x01\x73\xDE\xDF\x7D\x9B\x00\x00\x00\x00\x00\x00\x00\x00\xF9\x7D\xDF\xDE\x73\x01\x00\x00\x01\x01\x05\x41\x6C\x69\x63\x65\xEB\x7D\xDF\xDE\x73\x01\x00\x00\x01\x00\x00\x01\x73\xDE\xDF\x7D\x9B\x00\x00\x00\x00\x00\x00\x00\x00\x09\x00\xB2\xA8\xA7\x5F\x1B\x61\x72\xD5",
    ];
    let mut seen = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        if i == 2 {
            c.ok("DEBUG SET-SKIP-CHECKSUM-VALIDATION 1");
        }
        seen.push(c.cmd_raw(&[&b"RESTORE"[..], b"key", b"0", p, b"REPLACE"]));
    }
    seen.push(c.cmd_raw(&["PING"]));
    seen
}

#[test]
fn corrupt_payloads_are_refused_as_redis_refuses_them() {
    let ours =
        refuses_corrupt_payloads(&cinnabar(&["--enable-debug-command".into(), "yes".into()]));
    assert_eq!(ours[0], b"-ERR Bad data format\r\n");
    assert_eq!(ours[1], b"-ERR Bad data format\r\n");
    assert_eq!(ours[2], b"-ERR Bad data format\r\n");
    assert_eq!(ours[3], b"-ERR Bad data format\r\n");
    if let Some(theirs) = oracle(&["--enable-debug-command".into(), "yes".into()]) {
        assert_eq!(ours, refuses_corrupt_payloads(&theirs));
    }
}
