//! Redis 8.2's stream reference strategies (XDELEX, XACKDEL, KEEPREF | DELREF | ACKED on XADD
//! and XTRIM) and Redis 8.4's XREADGROUP ... CLAIM. No server of those versions is installed
//! here: the scenarios and answers follow Redis's own stream tests and t_stream.c
//! (docs/compat.md names the sources).

mod common;

use common::client::{
    assert_errors, ints, reply_int as n, reply_text as r, with_ms_masked, Client,
};
use common::server::{cinnabar, Server};

fn server() -> Server {
    cinnabar(&["--enable-debug-command".into(), "yes".into()])
}

/// The IDs of a range reply, in order.
fn ids(c: &mut Client, line: &str) -> Vec<String> {
    r(c, line)
        .split("\r\n")
        .filter(|l| l.len() > 2 && l.contains('-') && !l.starts_with('$'))
        .map(str::to_string)
        .collect()
}

/// A stream `s` of entries 1-0..=n-0 in nodes of two, read whole by group `g`.
fn stream_read_by_group(c: &mut Client, n: u64) {
    c.ok("CONFIG SET stream-node-max-entries 2");
    for i in 1..=n {
        c.ok(&format!("XADD s {i}-0 f v"));
    }
    c.ok("XGROUP CREATE s g 0");
    c.ok("XREADGROUP GROUP g c STREAMS s >");
}

#[test]
fn xdelex_and_xackdel_argument_errors() {
    let s = server();
    let c = &mut s.client();
    c.ok("XADD s 1-0 f v");
    c.ok("XGROUP CREATE s g 0");
    let cases = [
        (
            "XDELEX s DELREF",
            "wrong number of arguments for 'xdelex' command",
        ),
        ("XDELEX s KEEPREF DELREF IDS 1 1-0", "syntax error"),
        ("XDELEX s ACKED ACKED IDS 1 1-0", "syntax error"),
        (
            "XDELEX s IDS 0 1-0",
            "Number of IDs must be a positive integer",
        ),
        (
            "XDELEX s IDS x 1-0",
            "Number of IDs must be a positive integer",
        ),
        (
            "XDELEX s IDS 3 1-0 2-0",
            "The `numids` parameter must match the number of arguments",
        ),
        ("XDELEX s IDS 1 1-0 2-0", "syntax error"),
        (
            "XDELEX s IDS 1 zz",
            "Invalid stream ID specified as stream command argument",
        ),
        (
            "XDELEX s IDS 2 1-0 +",
            "Invalid stream ID specified as stream command argument",
        ),
        (
            "XACKDEL s g KEEPREF",
            "wrong number of arguments for 'xackdel' command",
        ),
        ("XACKDEL s g NOPE IDS 1 1-0", "syntax error"),
        (
            "XACKDEL s g IDS 1 x",
            "Invalid stream ID specified as stream command argument",
        ),
        (
            "XADD s ACKED DELREF * f v",
            "Invalid stream ID specified as stream command argument",
        ),
        ("XTRIM s MAXLEN 0 ACKED ACKED", "syntax error"),
    ];
    assert_errors(c, &cases);
    // A missing key (or group) answers -1 for each ID, without reading them.
    assert_eq!(r(c, "XDELEX nokey IDS 2 a b"), ints(&[-1, -1]));
    assert_eq!(r(c, "XACKDEL s nogroup IDS 2 a b"), ints(&[-1, -1]));
    // The key's type comes first.
    c.ok("SET str x");
    assert!(r(c, "XDELEX str KEEPREF KEEPREF x").starts_with("-WRONGTYPE"));
    assert!(r(c, "XACKDEL str g NOPE IDS 1 1").starts_with("-WRONGTYPE"));
    // IDS can come first, a strategy after it.
    assert_eq!(r(c, "XDELEX s IDS 1 1-0 ACKED"), ints(&[2]));
}

#[test]
fn xdelex_strategies() {
    let s = server();
    let c = &mut s.client();
    stream_read_by_group(c, 4);
    // ACKED keeps what is pending or not delivered yet (2, even when absent) and deletes
    // what no group needs.
    c.ok("XACK s g 1-0");
    assert_eq!(r(c, "XDELEX s ACKED IDS 3 1-0 2-0 9-0"), ints(&[1, 2, 2]));
    // KEEPREF deletes and leaves the pending entry dangling.
    assert_eq!(r(c, "XDELEX s IDS 2 2-0 2-0"), ints(&[1, -1]));
    assert_eq!(n(c, "XLEN s"), 2);
    assert!(r(c, "XPENDING s g").starts_with("*4\r\n:3\r\n"));
    // DELREF drops the references too, even of an entry already gone.
    assert_eq!(r(c, "XDELEX s DELREF IDS 2 2-0 3-0"), ints(&[-1, 1]));
    assert!(r(c, "XPENDING s g").starts_with("*4\r\n:1\r\n"));
    assert_eq!(ids(c, "XRANGE s - +"), ["4-0"]);
    // An entry a group was not delivered yet is still needed; without groups nothing is.
    c.ok("XADD s 5-0 f v");
    assert_eq!(r(c, "XDELEX s ACKED IDS 1 5-0"), ints(&[2]));
    c.ok("XGROUP DESTROY s g");
    assert_eq!(r(c, "XDELEX s ACKED IDS 2 4-0 5-0"), ints(&[1, 1]));
    assert_eq!(n(c, "XLEN s"), 0);
    // Each group counts: created at 1-0 and 3-0.
    for i in 1..=3 {
        c.ok(&format!("XADD t {i}-0 f v"));
    }
    c.ok("XGROUP CREATE t g1 1-0");
    c.ok("XGROUP CREATE t g2 3-0");
    assert_eq!(r(c, "XDELEX t ACKED IDS 1 1-0"), ints(&[1]));
    assert_eq!(r(c, "XDELEX t ACKED IDS 1 2-0"), ints(&[2]));
    c.ok("XGROUP DESTROY t g1");
    assert_eq!(r(c, "XDELEX t ACKED IDS 1 2-0"), ints(&[1]));
}

#[test]
fn xackdel_strategies() {
    let s = server();
    let c = &mut s.client();
    for (strategy, first, second) in [
        ("KEEPREF", [1, 1], [-1, -1]),
        ("DELREF", [1, 1], [-1, -1]),
        ("ACKED", [2, 2], [1, 1]),
    ] {
        c.ok("FLUSHALL");
        c.ok("XADD s 1-0 f v");
        c.ok("XADD s 2-0 f v");
        c.ok("XGROUP CREATE s g1 0");
        c.ok("XGROUP CREATE s g2 0");
        c.ok("XREADGROUP GROUP g1 c STREAMS s >");
        c.ok("XREADGROUP GROUP g2 c STREAMS s >");
        assert_eq!(
            r(c, &format!("XACKDEL s g1 {strategy} IDS 2 1-0 2-0")),
            ints(&first),
            "{strategy}"
        );
        assert!(r(c, "XPENDING s g1").starts_with("*4\r\n:0\r\n"));
        let g2_pending = if strategy == "KEEPREF" { 2 } else { 0 };
        match strategy {
            "ACKED" => {
                assert_eq!(n(c, "XLEN s"), 2, "kept for g2");
                assert_eq!(
                    r(c, &format!("XACKDEL s g2 {strategy} IDS 2 1-0 2-0")),
                    ints(&second)
                );
                assert_eq!(n(c, "XLEN s"), 0);
            }
            _ => {
                assert_eq!(n(c, "XLEN s"), 0);
                assert!(r(c, "XPENDING s g2").starts_with(&format!("*4\r\n:{g2_pending}\r\n")));
                if strategy == "DELREF" {
                    assert_eq!(
                        r(c, &format!("XACKDEL s g2 {strategy} IDS 2 1-0 2-0")),
                        ints(&second)
                    );
                }
            }
        }
    }
    // An ID pending but whose entry is gone still counts as deleted.
    c.ok("FLUSHALL");
    stream_read_by_group(c, 1);
    c.ok("XDEL s 1-0");
    assert_eq!(r(c, "XACKDEL s g IDS 1 1-0"), ints(&[1]));
}

#[test]
fn trimming_with_strategies() {
    let s = server();
    let c = &mut s.client();
    stream_read_by_group(c, 5);
    c.ok("XACK s g 1-0 2-0 4-0");
    // ACKED skips what is pending and trims past it (approximate trims are exact here).
    assert_eq!(n(c, "XTRIM s MINID ~ 6-0 ACKED"), 3);
    assert_eq!(ids(c, "XRANGE s - +"), ["3-0", "5-0"]);
    // An entry no group was delivered yet is not trimmed.
    c.ok("XADD s 6-0 f v");
    assert_eq!(r(c, "XADD s MAXLEN = 1 ACKED 7-0 f v"), "$3\r\n7-0\r\n");
    assert_eq!(ids(c, "XRANGE s - +"), ["3-0", "5-0", "6-0", "7-0"]);
    // DELREF trims and drops the pending entries.
    assert_eq!(n(c, "XTRIM s MAXLEN 1 DELREF"), 3);
    assert_eq!(ids(c, "XRANGE s - +"), ["7-0"]);
    assert!(r(c, "XPENDING s g").starts_with("*4\r\n:0\r\n"));
    // KEEPREF (the default) leaves them dangling.
    c.ok("FLUSHALL");
    stream_read_by_group(c, 4);
    assert_eq!(n(c, "XTRIM s MAXLEN 0 KEEPREF"), 4);
    assert!(r(c, "XPENDING s g").starts_with("*4\r\n:4\r\n"));
}

/// XDELEX/XACKDEL go to the AOF as given; an approximate ACKED trim goes as the exact trim
/// it did, which replays to the same stream even where it trimmed past a pending entry.
#[test]
fn propagated_and_replayed() {
    let s = common::server::cinnabar_with_aof();
    let c = &mut s.client();
    stream_read_by_group(c, 8);
    c.ok("XACK s g 1-0 2-0 4-0 5-0");
    c.ok("XTRIM s MINID ~ 6-0 ACKED LIMIT 4");
    c.ok("XDELEX s DELREF IDS 1 7-0");
    c.ok("XACKDEL s g ACKED IDS 1 8-0");
    c.ok("XDELEX s IDS 1 99-0");
    let aof = std::fs::read(s.dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    let text = with_ms_masked(&String::from_utf8_lossy(&aof).replace("\r\n", " "));
    for want in [
        "XTRIM $1 s $5 MINID $1 = $3 4-1 $5 ACKED $5 LIMIT $1 4 ",
        "XDELEX $1 s $6 DELREF $3 IDS $1 1 $3 7-0 ",
        "XACKDEL $1 s $1 g $5 ACKED $3 IDS $1 1 $3 8-0 ",
    ] {
        assert!(text.contains(want), "{want:?} in {text}");
    }
    assert!(
        !text.contains("99-0"),
        "nothing changed, nothing sent: {text}"
    );
    let range = r(c, "XRANGE s - +");
    let pending = r(c, "XPENDING s g");
    assert_eq!(ids(c, "XRANGE s - +"), ["3-0", "5-0", "6-0"]);
    c.ok("DEBUG LOADAOF");
    assert_eq!(r(c, "XRANGE s - +"), range);
    assert_eq!(r(c, "XPENDING s g"), pending);
}

/// The entries of an XREADGROUP reply for one stream: (id, idle, delivery count) of each
/// four-element entry.
fn claim_entries(c: &mut Client, line: &str) -> Vec<(String, i64, i64)> {
    let frame = c.cmd(&line.split(' ').collect::<Vec<_>>());
    let Some(streams) = frame.items() else {
        return Vec::new();
    };
    let stream = streams[0].items().unwrap();
    stream[1]
        .items()
        .unwrap()
        .iter()
        .map(|e| {
            let e = e.items().unwrap();
            assert_eq!(e.len(), 4, "CLAIM replies four-element entries");
            let id = String::from_utf8(e[0].as_bytes().unwrap().to_vec()).unwrap();
            (id, e[2].as_int().unwrap(), e[3].as_int().unwrap())
        })
        .collect()
}

#[test]
fn xreadgroup_claim() {
    let s = server();
    let c = &mut s.client();
    let cases = [
        (
            "XREAD CLAIM 10 STREAMS s 0",
            "The CLAIM option is only supported by XREADGROUP. You called XREAD instead.",
        ),
        (
            "XREADGROUP GROUP g c CLAIM -1 STREAMS s >",
            "min-idle-time must be a positive integer",
        ),
        (
            "XREADGROUP GROUP g c CLAIM +10 STREAMS s >",
            "min-idle-time is not an integer or out of range",
        ),
        (
            "XREADGROUP GROUP g c CLAIM STREAMS s >",
            "min-idle-time is not an integer or out of range",
        ),
    ];
    assert_errors(c, &cases);
    for i in 1..=4 {
        c.ok(&format!("XADD s {i}-0 f v{i}"));
    }
    c.ok("XGROUP CREATE s g 0");
    c.ok("XREADGROUP GROUP g c1 COUNT 1 STREAMS s >");
    std::thread::sleep(std::time::Duration::from_millis(30));
    c.ok("XREADGROUP GROUP g c1 COUNT 1 STREAMS s >");
    std::thread::sleep(std::time::Duration::from_millis(30));
    // Nothing idle enough and nothing new: nil.
    c.ok("XREADGROUP GROUP g c2 COUNT 2 STREAMS s >");
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(
        r(c, "XREADGROUP GROUP g c3 CLAIM 100000 STREAMS s >"),
        "*-1\r\n"
    );
    // Longest idle first, with the count before this delivery; COUNT covers both kinds.
    let got = claim_entries(c, "XREADGROUP GROUP g c3 CLAIM 20 COUNT 2 STREAMS s >");
    let ids: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(ids, ["1-0", "2-0"]);
    assert!(got[0].1 >= 50 && got[1].1 >= 20, "{got:?}");
    assert_eq!((got[0].2, got[1].2), (1, 1));
    // XPENDING: c3 owns them now, delivered twice.
    let pending = r(c, "XPENDING s g - + 10 c3");
    assert_eq!(pending.matches(":2\r\n").count(), 2, "{pending}");
    // A deleted entry is skipped; new entries come after the claimed ones, as 0, 0.
    c.ok("XDEL s 3-0");
    c.ok("XADD s 5-0 f v5");
    std::thread::sleep(std::time::Duration::from_millis(5));
    let got = claim_entries(c, "XREADGROUP GROUP g c4 CLAIM 0 NOACK STREAMS s >");
    let ids: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(ids, ["4-0", "1-0", "2-0", "5-0"]);
    assert_eq!(got[3].1, 0);
    assert_eq!(got[3].2, 0);
    // NOACK left the claimed ones pending (and 5-0 not pending).
    let summary = r(c, "XPENDING s g");
    assert!(summary.starts_with("*4\r\n:4\r\n"), "{summary}");
    // With an explicit ID, CLAIM is ignored: the consumer's history (3-0 stayed c2's), in
    // two-element entries.
    assert_eq!(
        r(c, "XREADGROUP GROUP g c4 CLAIM 0 STREAMS s 0"),
        "*1\r\n*2\r\n$1\r\ns\r\n*3\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$2\r\nv1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nf\r\n$2\r\nv2\r\n*2\r\n$3\r\n4-0\r\n*2\r\n$1\r\nf\r\n$2\r\nv4\r\n"
    );
}

/// A blocked XREADGROUP ... CLAIM is served when a pending entry gets idle enough.
#[test]
fn xreadgroup_claim_blocks_until_idle() {
    let s = server();
    let c = &mut s.client();
    c.ok("XADD s 1-0 f v");
    c.ok("XGROUP CREATE s g 0");
    c.ok("XREADGROUP GROUP g c1 STREAMS s >");
    let start = std::time::Instant::now();
    let got = claim_entries(c, "XREADGROUP GROUP g c2 CLAIM 300 BLOCK 5000 STREAMS s >");
    let waited = start.elapsed().as_millis();
    assert!((250..3000).contains(&waited), "waited {waited} ms");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "1-0");
    assert!(got[0].1 >= 300, "{got:?}");
}

/// Claims propagate as XCLAIMs that carry the new owner and delivery count.
#[test]
fn xreadgroup_claim_propagated() {
    let s = common::server::cinnabar_with_aof();
    let c = &mut s.client();
    c.ok("XADD s 1-0 f v");
    c.ok("XGROUP CREATE s g 0");
    c.ok("XREADGROUP GROUP g c1 STREAMS s >");
    c.ok("XREADGROUP GROUP g c2 CLAIM 0 STREAMS s >");
    let aof = std::fs::read(s.dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    let text = with_ms_masked(&String::from_utf8_lossy(&aof).replace("\r\n", " "));
    let want = "XCLAIM $1 s $1 g $2 c2 $1 0 $3 1-0 $4 TIME $13 <ms> $10 RETRYCOUNT $1 2 $5 FORCE $6 JUSTID $6 LASTID $3 1-0 ";
    assert!(text.contains(want), "{text}");
    let pending = r(c, "XPENDING s g - + 10");
    c.ok("DEBUG LOADAOF");
    let after = r(c, "XPENDING s g - + 10");
    // Owner and delivery count survive the replay (the idle time moves on).
    assert_eq!(pending.split("\r\n").nth(4), after.split("\r\n").nth(4));
    assert_eq!(pending.split("\r\n").last(), after.split("\r\n").last());
    assert!(
        after.contains("$2\r\nc2\r\n") && after.contains(":2\r\n"),
        "{after}"
    );
}
