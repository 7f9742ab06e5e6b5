//! Consumer groups with several clients, run against cinnabar and (when installed) redis-server
//! with the same script; the replies must be equal. Explicit IDs keep replies deterministic;
//! idle times are only used as thresholds.

mod common;

use std::thread::sleep;
use std::time::Duration;

use common::client::Client;
use common::server::{cinnabar, oracle, Server};
use common::transcript::escape;

/// Replies in order, escaped, for comparison.
struct Log(Vec<String>);

impl Log {
    fn cmd(&mut self, c: &mut Client, line: &str) -> String {
        let argv = common::client::args(line);
        let r = escape(&c.cmd_raw(&argv));
        self.0.push(format!("{line} -> {r}"));
        r
    }

    fn send(&mut self, c: &mut Client, line: &str) {
        c.send(&common::client::args(line));
        self.0.push(format!("{line} (sent)"));
    }

    fn read(&mut self, c: &mut Client, what: &str) -> String {
        let r = escape(&c.read_raw().expect("reply"));
        self.0.push(format!("{what} <- {r}"));
        r
    }
}

fn pause() {
    sleep(Duration::from_millis(60));
}

/// Two consumers in a group, pending entries, XACK, XCLAIM after idle, XAUTOCLAIM and a
/// blocking XREADGROUP woken by XADD.
fn two_consumers(server: &Server) -> Vec<String> {
    let mut log = Log(Vec::new());
    let mut p = server.client();
    let mut c1 = server.client();
    let mut c2 = server.client();
    log.cmd(&mut p, "XGROUP CREATE jobs workers $ MKSTREAM");
    for i in 1..=6 {
        log.cmd(&mut p, &format!("XADD jobs {i}-0 job {i}"));
    }
    log.cmd(
        &mut c1,
        "XREADGROUP GROUP workers c1 COUNT 2 STREAMS jobs >",
    );
    log.cmd(
        &mut c2,
        "XREADGROUP GROUP workers c2 COUNT 2 STREAMS jobs >",
    );
    log.cmd(&mut p, "XPENDING jobs workers");
    log.cmd(&mut c1, "XACK jobs workers 1-0");
    log.cmd(&mut p, "XPENDING jobs workers");
    log.cmd(&mut c1, "XREADGROUP GROUP workers c1 STREAMS jobs 0");
    // Nothing is idle for long yet.
    log.cmd(&mut c2, "XCLAIM jobs workers c2 100000 2-0");
    sleep(Duration::from_millis(150));
    log.cmd(&mut c2, "XCLAIM jobs workers c2 100 2-0");
    log.cmd(&mut p, "XPENDING jobs workers");
    log.cmd(&mut c2, "XREADGROUP GROUP workers c2 STREAMS jobs 0");
    sleep(Duration::from_millis(150));
    log.cmd(&mut c1, "XAUTOCLAIM jobs workers c1 100 0 COUNT 10");
    log.cmd(&mut p, "XPENDING jobs workers");
    log.cmd(&mut c1, "XACK jobs workers 2-0 3-0 4-0");
    log.cmd(&mut c2, "XREADGROUP GROUP workers c2 STREAMS jobs >");
    // Both block; each XADD serves the client that waited longest.
    log.send(
        &mut c1,
        "XREADGROUP GROUP workers c1 BLOCK 0 COUNT 1 STREAMS jobs >",
    );
    pause();
    log.send(
        &mut c2,
        "XREADGROUP GROUP workers c2 BLOCK 0 COUNT 1 STREAMS jobs >",
    );
    pause();
    log.cmd(&mut p, "XADD jobs 7-0 job 7");
    log.read(&mut c1, "c1");
    log.cmd(&mut p, "XADD jobs 8-0 job 8");
    log.read(&mut c2, "c2");
    log.cmd(&mut p, "XPENDING jobs workers");
    log.cmd(&mut p, "XINFO GROUPS jobs");
    log.0
}

/// A chat room: a producer and two readers blocked on XREADGROUP; one reader dies with
/// unacknowledged messages and the other takes them over with XAUTOCLAIM.
fn chat(server: &Server) -> Vec<String> {
    let mut log = Log(Vec::new());
    let mut alice = server.client();
    let mut bob = server.client();
    let mut carol = server.client();
    log.cmd(&mut alice, "XGROUP CREATE room readers 0 MKSTREAM");
    log.send(
        &mut bob,
        "XREADGROUP GROUP readers bob BLOCK 0 COUNT 2 STREAMS room >",
    );
    pause();
    log.send(
        &mut carol,
        "XREADGROUP GROUP readers carol BLOCK 0 COUNT 2 STREAMS room >",
    );
    pause();
    log.cmd(&mut alice, "XADD room 100-0 from alice text hi");
    log.read(&mut bob, "bob");
    log.cmd(&mut alice, "MULTI");
    log.cmd(&mut alice, "XADD room 101-0 from alice text how");
    log.cmd(&mut alice, "XADD room 102-0 from alice text are");
    log.cmd(&mut alice, "EXEC");
    log.read(&mut carol, "carol");
    log.cmd(&mut carol, "XACK room readers 101-0 102-0");
    log.cmd(&mut alice, "XADD room 103-0 from alice text you");
    log.cmd(&mut alice, "XADD room 104-0 from alice text ?");
    log.cmd(
        &mut bob,
        "XREADGROUP GROUP readers bob COUNT 2 STREAMS room >",
    );
    // bob dies without acknowledging 100-0, 103-0 and 104-0.
    drop(bob);
    log.cmd(&mut carol, "XPENDING room readers");
    log.cmd(&mut carol, "XAUTOCLAIM room readers carol 100000 0");
    sleep(Duration::from_millis(200));
    log.cmd(&mut carol, "XAUTOCLAIM room readers carol 150 0 COUNT 2");
    log.cmd(
        &mut carol,
        "XAUTOCLAIM room readers carol 150 104-0 COUNT 2",
    );
    log.cmd(&mut carol, "XPENDING room readers");
    log.cmd(&mut carol, "XACK room readers 100-0 103-0 104-0");
    log.cmd(&mut carol, "XGROUP DELCONSUMER room readers bob");
    log.cmd(&mut carol, "XPENDING room readers");
    log.cmd(&mut alice, "XINFO GROUPS room");
    log.cmd(&mut alice, "XLEN room");
    log.0
}

fn check(scenario: fn(&Server) -> Vec<String>, must_contain: &[&str]) {
    let ours = scenario(&cinnabar(&[]));
    let joined = ours.join("\n");
    for m in must_contain {
        assert!(joined.contains(m), "missing {m:?} in\n{joined}");
    }
    match oracle(&[]) {
        Some(r) => {
            let theirs = scenario(&r);
            for (a, b) in theirs.iter().zip(&ours) {
                assert_eq!(a, b, "redis vs cinnabar");
            }
            assert_eq!(theirs.len(), ours.len());
        }
        None => eprintln!("redis-server not installed: compared with expectations only"),
    }
}

#[test]
fn two_consumers_pending_claim_autoclaim_and_blocking() {
    check(
        two_consumers,
        &[
            // XPENDING summary after both reads: 4 pending, two consumers with 2 each.
            "*4\\r\\n:4\\r\\n$3\\r\\n1-0\\r\\n$3\\r\\n4-0",
            // The blocked c1 got 7-0.
            "c1 <- *1\\r\\n*2\\r\\n$4\\r\\njobs\\r\\n*1\\r\\n*2\\r\\n$3\\r\\n7-0",
        ],
    );
}

#[test]
fn chat_room_with_a_dead_consumer() {
    check(
        chat,
        &[
            "bob <- *1\\r\\n*2\\r\\n$4\\r\\nroom\\r\\n*1\\r\\n*2\\r\\n$5\\r\\n100-0",
            "carol <- *1\\r\\n*2\\r\\n$4\\r\\nroom\\r\\n*2\\r\\n*2\\r\\n$5\\r\\n101-0",
        ],
    );
}
