//! The Lua debugger (SCRIPT DEBUG YES|SYNC): whole sessions, command by command, byte for
//! byte against redis-server 7.0.15 (function addresses masked), in both modes; what a
//! session leaves behind (SYNC keeps its writes, YES loses them), and the server's health
//! after a client misbehaves inside one.

mod common;

use common::client::Client;
use common::server::{cinnabar, oracle, Server};

/// One debugger command per entry, sent as RESP (`raw:` sends the rest as bytes).
fn send_debugger_command(c: &mut Client, line: &str) {
    match line.strip_prefix("raw:") {
        Some(bytes) => c.send_raw(bytes.as_bytes()).expect("send"),
        None => c.send(&line.split(' ').collect::<Vec<_>>()),
    }
}

/// Runs a session: SCRIPT DEBUG `mode`, EVAL `script` with `keys_args`, then each command,
/// recording every raw reply (the stop, each command's lines, `<endsession>` and the
/// script's reply) until the server closes the connection.
fn session(
    port: u16,
    mode: &str,
    script: &str,
    keys_args: &[&str],
    commands: &[&str],
) -> Vec<String> {
    let mut c = Client::connect(port).expect("connect");
    let mut seen =
        vec![String::from_utf8_lossy(&c.cmd_raw(&["SCRIPT", "DEBUG", mode])).into_owned()];
    let mut eval = vec!["EVAL", script];
    eval.extend_from_slice(keys_args);
    c.send(&eval);
    let mut pending = commands.iter();
    loop {
        let Ok(raw) = c.read_raw() else {
            seen.push("<closed>".into());
            return seen;
        };
        let text = String::from_utf8_lossy(&raw).into_owned();
        let ended = text.contains("+<endsession>\r\n");
        seen.push(mask_addresses(&text));
        if ended {
            // The script's reply, then the close.
            seen.push(String::from_utf8_lossy(&c.read_raw().expect("the reply")).into_owned());
            assert!(
                c.read_to_close().is_empty(),
                "the session's connection closes"
            );
            return seen;
        }
        let line = pending
            .next()
            .unwrap_or_else(|| panic!("the session goes on: {seen:?}"));
        send_debugger_command(&mut c, line);
    }
}

/// `function@0x...`: addresses differ between processes.
fn mask_addresses(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("@0x") {
        out.push_str(&rest[..at + 1]);
        rest = rest[at + 3..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
        out.push_str("ADDR");
    }
    out.push_str(rest);
    out
}

/// The same session on cinnabar and, when present, on redis-server: the same bytes.
fn same_session(mode: &str, script: &str, keys_args: &[&str], commands: &[&str]) -> Vec<String> {
    let ours = cinnabar(&[]);
    let got = session(ours.port, mode, script, keys_args, commands);
    if let Some(redis) = oracle(&[]) {
        let want = session(redis.port, mode, script, keys_args, commands);
        assert_eq!(got, want, "cinnabar against redis-server");
    }
    got
}

const SCRIPT: &str = "local a = 1\n\
                      local t = {1,2,'x',{k='v'}}\n\
                      redis.call('set','k',a)\n\
                      redis.debug('hi', t, 5)\n\
                      redis.breakpoint()\n\
                      local b = redis.call('get','k')\n\
                      return b\n";

#[test]
fn stepping_listing_printing_and_breakpoints() {
    let seen = same_session(
        "sync",
        SCRIPT,
        &["1", "key1", "arg1"],
        &[
            "h",
            "l",
            "s",
            "p",
            "p t",
            "p KEYS",
            "p ARGV",
            "b 6",
            "b",
            "c",
            "t",
            "e a+1",
            "e a=",
            "r get k",
            "r set x y",
            "m",
            "m 10",
            "m 0",
            "w",
            "b -6",
            "b 0",
            "b x",
            "b 99",
            "xyz",
            "l 1 1",
            "l 3 x",
            "s",
            "s",
        ],
    );
    assert_eq!(
        seen[1],
        "*2\r\n+* Stopped at 1, stop reason = step over\r\n+-> 1   local a = 1\r\n"
    );
    assert!(seen
        .iter()
        .any(|s| s.contains("<debug> line 4: \"hi\", {1; 2; \"x\"; {[\"k\"]=\"v\"}}, 5")));
    assert!(seen
        .iter()
        .any(|s| s.contains("stop reason = redis.breakpoint() called")));
    assert_eq!(seen.last().unwrap(), "$1\r\n1\r\n");
}

#[test]
fn values_errors_and_abort() {
    let locals = "local x = 3.5\nlocal y = {a=1}\nlocal z = nil\nlocal w = true\n\
                  local f = function() return 1 end\nlocal big = 1e20\nlocal s = 'a\\nb\\0\"'\n\
                  error('boom')";
    let seen = same_session(
        "sync",
        locals,
        &["0"],
        &[
            "s",
            "s",
            "s",
            "s",
            "s",
            "s",
            "s",
            "p",
            "p big",
            "p s",
            "e {1,nil,3}",
            "e 2^60",
            "e -0.0",
            "e 1/0",
            "e error('s')",
            "e setmetatable({}, {})",
            "s",
        ],
    );
    assert!(seen
        .last()
        .unwrap()
        .starts_with("-ERR user_script:8: boom script: "));
    let seen = same_session(
        "sync",
        "redis.call('set','ab','1')\nreturn 1",
        &["0"],
        &["s", "a"],
    );
    assert!(seen
        .last()
        .unwrap()
        .starts_with("-ERR script aborted for user request script: "));
}

#[test]
fn redis_command_logging_and_trimming() {
    same_session(
        "sync",
        "local t = {}\nfor i=1,100 do t[i]=i end\nreturn 1",
        &["0"],
        &[
            "r nosuch a",
            "r get",
            "r incr ab",
            "r hset h a 1",
            "r hgetall h",
            "r set a b c d e f g h i j k l m",
            "e {1,2}",
            "e redis.call('ping')",
            "e nil",
            "r lpush l 1 2 3",
            "r lrange l 0 -1",
            "r get nokey",
            "s",
            "s",
            "s",
            "s",
            "p t",
            "m 100",
            "p t",
            "c",
        ],
    );
    // A command with more arguments than the stack holds by default is refused, not a crash.
    let mut hundred = String::from("raw:*101\r\n$5\r\nredis\r\n");
    hundred.push_str(&"$4\r\ntest\r\n".repeat(100));
    let seen = same_session("sync", "return 'hello'", &["0"], &[&hundred, "s"]);
    assert!(seen[2].contains("<error> Unknown Redis command called from script"));
}

#[test]
fn protocol_errors_end_the_session() {
    // A NUL ends a command's name; inline commands are protocol errors.
    same_session(
        "sync",
        "return 'hello'",
        &["0"],
        &[
            "raw:*1\r\n$11\r\nhello\0world\r\n",
            "raw:*1\r\n$6\r\n\0hello\r\n",
            "s",
        ],
    );
    let seen = same_session("sync", "return 1", &["0"], &["raw:s\r\n"]);
    assert!(seen
        .last()
        .unwrap()
        .starts_with("-ERR protocol error script: "));
}

#[test]
fn errors_before_the_script_runs_still_end_the_session() {
    for (script, args) in [("return 1", "x"), ("return +", "0")] {
        let run = |port| {
            let mut c = Client::connect(port).expect("connect");
            c.cmd_raw(&["SCRIPT", "DEBUG", "SYNC"]);
            c.send(&["EVAL", script, args]);
            c.read_to_close()
        };
        let ours = run(cinnabar(&[]).port);
        assert!(
            ours.starts_with(b"*1\r\n+<endsession>\r\n-ERR "),
            "{ours:?}"
        );
        if let Some(redis) = oracle(&[]) {
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&run(redis.port))
            );
        }
    }
}

/// SCRIPT DEBUG's own rules: outside a pipeline, EVAL only, the modes, and the debugger's
/// functions outside a session (and absent from functions).
#[test]
fn script_debug_rules() {
    let lines = |server: &Server| {
        let mut c = server.client();
        let mut out = Vec::new();
        c.send_raw(b"*1\r\n$4\r\nPING\r\n*3\r\n$6\r\nSCRIPT\r\n$5\r\nDEBUG\r\n$4\r\nSYNC\r\n")
            .unwrap();
        out.push(c.read_raw().unwrap());
        out.push(c.read_raw().unwrap());
        let library = "#!lua name=lib\nredis.register_function('f', function() return redis.breakpoint() end)";
        for argv in [
            &["EVAL", "return redis.breakpoint()", "0"][..],
            &["EVAL", "return redis.debug('x')", "0"],
            &["SCRIPT", "DEBUG", "maybe"],
            &["SCRIPT", "DEBUG"],
            &["FUNCTION", "LOAD", library],
            &["FCALL", "f", "0"],
            &["SCRIPT", "DEBUG", "SYNC"],
            &["EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"],
        ] {
            out.push(c.cmd_raw(argv));
        }
        out.iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect::<Vec<_>>()
    };
    let ours = lines(&cinnabar(&[]));
    assert_eq!(
        ours[1],
        "-ERR SCRIPT DEBUG must be called outside a pipeline\r\n"
    );
    assert_eq!(ours[2], "$-1\r\n");
    assert_eq!(
        ours[9],
        "-ERR Please use EVAL instead of EVALSHA for debugging\r\n"
    );
    if let Some(redis) = oracle(&[]) {
        assert_eq!(ours, lines(&redis));
    }
}

/// SYNC debugs in the server: its writes stay. YES debugs in a forked child: its writes go
/// with it, and the server serves others meanwhile.
#[test]
fn sync_keeps_writes_and_forked_sessions_lose_them() {
    for server in [Some(cinnabar(&[])), oracle(&[])].into_iter().flatten() {
        let script = "redis.call('set','written','1')\nreturn redis.call('get','written')";
        let seen = session(server.port, "sync", script, &["0"], &["c"]);
        assert_eq!(seen.last().unwrap(), "$1\r\n1\r\n");
        let mut other = server.client();
        assert_eq!(other.cmd_raw(&["GET", "written"]), b"$1\r\n1\r\n");
        other.cmd_raw(&["DEL", "written"]);

        let mut debugged = Client::connect(server.port).expect("connect");
        debugged.cmd_raw(&["SCRIPT", "DEBUG", "YES"]);
        debugged.send(&["EVAL", script, "0"]);
        let stop = debugged.read_raw().expect("the first stop");
        assert!(String::from_utf8_lossy(&stop).contains("Stopped at 1"));
        // The server is not held by the session.
        assert_eq!(other.cmd_raw(&["PING"]), b"+PONG\r\n");
        debugged.send(&["s"]);
        let step = String::from_utf8_lossy(&debugged.read_raw().unwrap()).into_owned();
        assert!(step.contains("<redis> set written 1"), "{step}");
        debugged.send(&["c"]);
        assert_eq!(debugged.read_raw().unwrap(), b"*1\r\n+<endsession>\r\n");
        assert_eq!(debugged.read_raw().unwrap(), b"$1\r\n1\r\n");
        assert!(debugged.read_to_close().is_empty());
        assert_eq!(
            other.cmd_raw(&["GET", "written"]),
            b"$-1\r\n",
            "rolled back"
        );
    }
}

/// A debugging client that goes away mid-session: the script runs to its end, and the
/// server serves others afterwards; a forked session's child is reaped.
#[test]
fn client_leaving_a_session() {
    let server = cinnabar(&[]);
    for mode in ["sync", "yes"] {
        let mut c = server.client();
        c.cmd_raw(&["SCRIPT", "DEBUG", mode]);
        c.send(&[
            "EVAL",
            "redis.call('incr','runs')\nredis.breakpoint()\nreturn 1",
            "0",
        ]);
        c.read_raw().expect("the first stop");
        drop(c);
    }
    let mut other = server.client();
    common::server::wait_until("the sync session's end", 10, || {
        other.cmd_raw(&["GET", "runs"]) == b"$1\r\n1\r\n"
    });
    assert_eq!(other.cmd_raw(&["PING"]), b"+PONG\r\n");
}
