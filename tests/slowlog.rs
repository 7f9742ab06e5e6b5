//! SLOWLOG: what is logged (inner commands of scripts and transactions, redacted AUTH,
//! trimmed arguments, served blocking commands), compared with redis-server when present.

mod common;

use common::client::Client;
use common::server::{cinnabar, oracle, Server};
use std::time::Duration;

/// The slow log with time, duration and client port blanked.
fn slowlog(c: &mut Client) -> Vec<String> {
    let frame = c.cmd(&["SLOWLOG", "GET", "-1"]);
    let mut out = Vec::new();
    for e in frame.items().unwrap() {
        let f = e.items().unwrap();
        let argv: Vec<String> = f[3]
            .items()
            .unwrap()
            .iter()
            .map(|a| String::from_utf8_lossy(a.as_bytes().unwrap()).into_owned())
            .collect();
        let addr = String::from_utf8_lossy(f[4].as_bytes().unwrap()).into_owned();
        let addr = addr.split(':').next().unwrap_or_default().to_string();
        out.push(format!(
            "{} {} | {} | {}",
            f[0].as_int().unwrap(),
            argv.join(" "),
            addr,
            String::from_utf8_lossy(f[5].as_bytes().unwrap())
        ));
    }
    out
}

fn exercise(server: &Server) -> Vec<String> {
    let mut c = server.client();
    c.ok("CONFIG SET slowlog-log-slower-than 0");
    c.ok("SET a 1");
    c.ok("CLIENT SETNAME worker");
    c.ok("EVAL redis.call('set','b','2') 0");
    for line in ["MULTI", "SET c 1", "INCR c", "EXEC"] {
        c.cmd_raw(&line.split(' ').collect::<Vec<_>>());
    }
    c.cmd_raw(&["AUTH", "secret"]);
    c.cmd_raw(&["HELLO", "2", "AUTH", "user", "pass"]);
    let big = "x".repeat(300);
    c.ok(&format!("SET big {big}"));
    let many: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    c.ok(&format!("DEL {}", many.join(" ")));
    // A blocking command is logged when it is served.
    let mut waiter = server.client();
    waiter.send(&["BLPOP", "q", "0"]);
    std::thread::sleep(Duration::from_millis(100));
    c.ok("RPUSH q x");
    waiter.read();
    c.ok("CONFIG SET slowlog-max-len 20");
    let len = c.cmd(&["SLOWLOG", "LEN"]).as_int().unwrap();
    assert!(len >= 10, "{len}");
    let mut log = slowlog(&mut c);
    log.push(format!("{:?}", c.cmd_raw(&["SLOWLOG", "GET", "-2"])));
    log.push(format!("{:?}", c.cmd_raw(&["SLOWLOG", "GET", "0"])));
    c.ok("SLOWLOG RESET");
    log.extend(slowlog(&mut c));
    log
}

#[test]
fn slowlog_matches_redis() {
    let ours = exercise(&cinnabar(&[]));
    assert!(ours.iter().any(|l| l.contains("(redacted)")), "{ours:#?}");
    assert!(
        ours.iter().any(|l| l.contains("... (172 more bytes)")),
        "{ours:#?}"
    );
    assert!(
        ours.iter().any(|l| l.contains("... (10 more arguments)")),
        "{ours:#?}"
    );
    assert!(ours.iter().any(|l| l.contains("BLPOP q 0")), "{ours:#?}");
    if let Some(redis) = oracle(&[]) {
        assert_eq!(ours, exercise(&redis));
    }
}

/// The latency monitor records a slow command; LATENCY reports it as Redis does.
#[test]
fn latency_monitor_reports_a_slow_command() {
    let server = cinnabar(&["--enable-debug-command".into(), "yes".into()]);
    let mut c = server.client();
    c.ok("CONFIG SET latency-monitor-threshold 10");
    c.ok("SET k v");
    c.ok("DEBUG SLEEP 0.05");
    let latest = c.cmd(&["LATENCY", "LATEST"]);
    let rows = latest.items().unwrap();
    assert_eq!(rows.len(), 1);
    let row = rows[0].items().unwrap();
    assert_eq!(row[0].as_bytes(), Some(&b"command"[..]));
    let (last, max) = (row[2].as_int().unwrap(), row[3].as_int().unwrap());
    assert!((50..200).contains(&last) && last == max, "{last} {max}");
    assert_eq!(
        c.cmd(&["LATENCY", "HISTORY", "command"])
            .items()
            .unwrap()
            .len(),
        1
    );
    let graph = String::from_utf8_lossy(&c.cmd_raw(&["LATENCY", "GRAPH", "command"])).into_owned();
    assert!(
        graph.contains(&format!("command - high {last} ms, low {last} ms")),
        "{graph}"
    );
    // One sample: the bar, a blank line, then its age ("0s", or "1s" across a second) down.
    assert!(
        graph.contains("\n_\n \n0\ns\n") || graph.contains("\n_\n \n1\ns\n"),
        "{graph:?}"
    );
    let doctor = String::from_utf8_lossy(&c.cmd_raw(&["LATENCY", "DOCTOR"])).into_owned();
    assert!(doctor.contains("1. command: 1 latency spikes"), "{doctor}");
    let hist = c.cmd(&["LATENCY", "HISTOGRAM", "set"]);
    let items = hist.items().unwrap();
    assert_eq!(items[0].as_bytes(), Some(&b"set"[..]));
    assert_eq!(items[1].items().unwrap()[1].as_int(), Some(1));
    assert_eq!(c.cmd(&["LATENCY", "RESET"]).as_int(), Some(1));
    assert_eq!(c.cmd(&["LATENCY", "LATEST"]).items().unwrap().len(), 0);
}
