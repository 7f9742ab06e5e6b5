//! Scripts that run long: BUSY for other clients after busy-reply-threshold, SCRIPT KILL,
//! UNKILLABLE after a write, SHUTDOWN NOSAVE — compared with redis-server where present.

mod common;

use std::time::Duration;

use common::client::Client;
use common::server::{cinnabar, oracle, Server};

fn args(threshold_ms: u64) -> Vec<String> {
    vec!["--busy-reply-threshold".into(), threshold_ms.to_string()]
}

/// Sends `command` (a long script) on one connection and, once it has run past the threshold,
/// returns that connection and a second one.
fn start_busy(server: &Server, command: &[&str]) -> (Client, Client) {
    let mut runner = server.client();
    runner.set_timeout(Duration::from_secs(20));
    runner.send(command);
    std::thread::sleep(Duration::from_millis(400));
    let other = server.client();
    other.set_timeout(Duration::from_secs(20));
    (runner, other)
}

/// Starts `script` on one connection, then returns what a second connection sees while it
/// runs, what SCRIPT KILL answers, and the script's own reply.
fn busy_then_kill(server: &Server, script: &str) -> Vec<Vec<u8>> {
    let (mut runner, mut other) = start_busy(server, &["EVAL", script, "0"]);
    let mut seen = vec![
        other.cmd_raw(&["PING"]),
        other.cmd_raw(&["GET", "x"]),
        other.cmd_raw(&["SCRIPT", "KILL"]),
    ];
    seen.push(runner.read_raw().expect("script reply"));
    seen.push(other.cmd_raw(&["PING"]));
    seen.push(other.cmd_raw(&["SCRIPT", "KILL"]));
    seen
}

#[test]
fn busy_script_answers_busy_and_script_kill_recovers() {
    let server = cinnabar(&args(200));
    let ours = busy_then_kill(&server, "local i = 0 while true do i = i + 1 end");
    let text: Vec<String> = ours
        .iter()
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .collect();
    assert!(
        text[0].starts_with("-BUSY Redis is busy running a script."),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("-ERR Script killed by user with SCRIPT KILL...")),
        "{text:?}"
    );
    assert_eq!(text[4], "+PONG\r\n", "{text:?}");
    assert!(text[5].starts_with("-NOTBUSY"), "{text:?}");
    if let Some(redis) = oracle(&args(200)) {
        let theirs = busy_then_kill(&redis, "local i = 0 while true do i = i + 1 end");
        assert_eq!(
            text,
            theirs
                .iter()
                .map(|r| String::from_utf8_lossy(r).into_owned())
                .collect::<Vec<_>>()
        );
    }
}

/// A script that catches errors with pcall cannot swallow SCRIPT KILL.
#[test]
fn script_kill_is_not_swallowed_by_pcall() {
    let script = "while true do pcall(function() while true do end end) end";
    let ours = busy_then_kill(&cinnabar(&args(200)), script);
    assert!(String::from_utf8_lossy(&ours[3])
        .starts_with("-ERR Script killed by user with SCRIPT KILL..."));
    if let Some(redis) = oracle(&args(200)) {
        assert_eq!(ours, busy_then_kill(&redis, script));
    }
}

/// os has only clock (Redis 7.2); the rest of os stays out of the sandbox.
#[test]
fn os_clock_only() {
    let server = cinnabar(&[]);
    let mut c = server.client();
    assert_eq!(
        c.cmd_raw(&["EVAL", "return type(os.clock())", "0"]),
        b"$6\r\nnumber\r\n"
    );
    let e = c.cmd_raw(&["EVAL", "return os.time()", "0"]);
    assert!(e.starts_with(b"-ERR user_script:1: attempt to call field 'time' (a nil value)"));
}

/// A script that wrote cannot be killed; SHUTDOWN NOSAVE ends the server instead.
#[test]
fn written_script_is_unkillable_and_shutdown_nosave_stops_it() {
    let script = "redis.call('set', 'x', '1') while true do end";
    let run = |server: &Server| {
        let (mut runner, mut other) = start_busy(server, &["EVAL", script, "0"]);
        let kill = other.cmd_raw(&["SCRIPT", "KILL"]);
        let shutdown_save = other.cmd_raw(&["SHUTDOWN"]);
        other.send(&["SHUTDOWN", "NOSAVE"]);
        // The server goes away: both connections see the close.
        let _ = runner.read_to_close();
        (kill, shutdown_save)
    };
    let ours = run(&cinnabar(&args(200)));
    assert!(ours
        .0
        .starts_with(b"-UNKILLABLE Sorry the script already executed write commands"));
    if let Some(redis) = oracle(&args(200)) {
        assert_eq!(ours, run(&redis));
    }
}

/// A busy function: others get the FUNCTION flavour of BUSY, FUNCTION STATS shows it,
/// SCRIPT KILL refuses, FUNCTION KILL stops it.
#[test]
fn busy_function_and_function_kill() {
    let run = |server: &Server| {
        let lib =
            "#!lua name=spin\nredis.register_function('spin', function() while true do end end)";
        assert_eq!(
            server.client().cmd_raw(&["FUNCTION", "LOAD", lib]),
            b"$4\r\nspin\r\n"
        );
        let (mut c, mut other) = start_busy(server, &["FCALL", "spin", "0"]);
        let mut seen = vec![other.cmd_raw(&["PING"]), other.cmd_raw(&["SCRIPT", "KILL"])];
        // duration_ms varies: keep the reply up to it.
        let stats = other.cmd_raw(&["FUNCTION", "STATS"]);
        let cut = stats
            .windows(11)
            .position(|w| w == b"duration_ms")
            .expect("running_script has a duration");
        seen.push(stats[..cut].to_vec());
        seen.push(other.cmd_raw(&["FUNCTION", "KILL"]));
        seen.push(c.read_raw().expect("fcall reply"));
        seen.push(other.cmd_raw(&["FUNCTION", "STATS"]));
        seen
    };
    let ours = run(&cinnabar(&args(200)));
    let text: Vec<String> = ours
        .iter()
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .collect();
    assert!(
        text[0]
            .starts_with("-BUSY Redis is busy running a script. You can only call FUNCTION KILL"),
        "{text:?}"
    );
    assert!(
        text[4].starts_with("-ERR Script killed by user with SCRIPT KILL..."),
        "{text:?}"
    );
    if let Some(redis) = oracle(&args(200)) {
        assert_eq!(ours, run(&redis));
    }
}

/// A table that holds itself more than once expands exponentially as a reply; redis-server
/// never finishes (and its output buffer grows until memory runs out). cinnabar stops at
/// proto-max-bulk-len and answers an error, and stays up; a table that holds itself once
/// still gives Redis's nesting down to the Lua stack limit.
#[test]
fn self_referencing_reply_is_bounded() {
    let server = cinnabar(&["--proto-max-bulk-len".into(), "1mb".into()]);
    let mut c = server.client();
    c.set_timeout(Duration::from_secs(20));
    let started = std::time::Instant::now();
    let reply = c.cmd_raw(&[
        "EVAL",
        "local t={} for i=1,4000 do t[i]=t end return t",
        "0",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "-ERR script reply larger than proto-max-bulk-len (a table nested in itself?)\r\n"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let errors = c.cmd_raw(&["INFO", "errorstats"]);
    assert!(
        String::from_utf8_lossy(&errors).contains("errorstat_ERR:count=1"),
        "{}",
        String::from_utf8_lossy(&errors)
    );
    // The client's reader recurses once per level: give it room for 2,000 levels.
    let once = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || c.cmd_raw(&["EVAL", "local t={} t[1]=t return t", "0"]))
        .expect("a thread")
        .join()
        .expect("the nested reply");
    let mut c = server.client();
    assert!(once.starts_with(b"*1\r\n*1\r\n"));
    assert!(once.ends_with(b"-ERR reached lua stack limit\r\n"));
    assert_eq!(c.cmd_raw(&["PING"]), b"+PONG\r\n");
}
