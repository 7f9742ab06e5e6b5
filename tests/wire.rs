//! Raw bytes over TCP: pipelining, split frames, inline commands, protocol errors, limits.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::client::Client;
use common::server::{cinnabar, oracle, wait_until, Server};

fn raw(server: &Server) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Sends bytes and reads until the server closes the connection.
fn send_and_read_all(server: &Server, bytes: &[u8]) -> Vec<u8> {
    let mut s = raw(server);
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

#[test]
fn protocol_errors_reply_and_close() {
    let server = cinnabar(&[]);
    let cases: &[(&[u8], &[u8])] = &[
        (
            b"*x\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\nx\r\n",
            b"-ERR Protocol error: expected '$', got 'x'\r\n",
        ),
        (
            b"*1\r\n$-1\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$abc\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"set a \"b\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            b"PING\r\n*1\r\n$4\r\nPING\r\n*1\r\nz\r\n",
            b"+PONG\r\n+PONG\r\n-ERR Protocol error: expected '$', got 'z'\r\n",
        ),
    ];
    for (input, expected) in cases {
        let out = send_and_read_all(&server, input);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(expected),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
    // The server is still fine for others.
    assert_eq!(
        server.client().cmd(&["PING"]).as_bytes(),
        Some(&b"PONG"[..])
    );
}

#[test]
fn oversized_count_lines_and_inline_requests() {
    let server = cinnabar(&[]);
    let mut big_inline = vec![b'a'; 70 * 1024];
    big_inline.push(b' ');
    assert_eq!(
        send_and_read_all(&server, &big_inline),
        b"-ERR Protocol error: too big inline request\r\n"
    );
    let mut big_count = b"*1".to_vec();
    big_count.extend(vec![b'1'; 70 * 1024]);
    assert_eq!(
        send_and_read_all(&server, &big_count),
        b"-ERR Protocol error: too big mbulk count string\r\n"
    );
    let mut big_bulk = b"*1\r\n$1".to_vec();
    big_bulk.extend(vec![b'1'; 70 * 1024]);
    assert_eq!(
        send_and_read_all(&server, &big_bulk),
        b"-ERR Protocol error: too big bulk count string\r\n"
    );
}

#[test]
fn proto_max_bulk_len_is_enforced() {
    let server = cinnabar(&["--proto-max-bulk-len".into(), "1mb".into()]);
    let out = send_and_read_all(&server, b"*2\r\n$3\r\nGET\r\n$1048577\r\n");
    assert_eq!(out, b"-ERR Protocol error: invalid bulk length\r\n");
}

#[test]
fn inline_commands_like_telnet() {
    let server = cinnabar(&[]);
    let mut s = raw(&server);
    s.write_all(b"PING\r\nset k \"hello world\"\nGET k\r\n\r\nECHO 'it\\'s'\r\n")
        .unwrap();
    let mut buf = vec![0u8; 256];
    let mut got = Vec::new();
    while got.len() < 40 {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(
        String::from_utf8_lossy(&got),
        "+PONG\r\n+OK\r\n$11\r\nhello world\r\n$4\r\nit's\r\n"
    );
}

#[test]
fn pipelining_thousands_in_one_write() {
    let server = cinnabar(&[]);
    let mut s = raw(&server);
    let n = 10_000;
    let mut req = Vec::new();
    for i in 0..n {
        req.extend(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\nk{i}\r\n$1\r\nv\r\n",
                format!("k{i}").len()
            )
            .bytes(),
        );
    }
    req.extend(b"*1\r\n$6\r\nDBSIZE\r\n");
    s.write_all(&req).unwrap();
    let expected_len = n * 5 + format!(":{n}\r\n").len();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while got.len() < expected_len {
        let r = s.read(&mut buf).unwrap();
        assert!(r > 0, "closed early");
        got.extend_from_slice(&buf[..r]);
    }
    assert!(got.ends_with(format!(":{n}\r\n").as_bytes()));
    assert_eq!(got.len(), expected_len);
}

#[test]
fn frames_split_at_every_byte() {
    let server = cinnabar(&[]);
    let mut s = raw(&server);
    s.set_nodelay(true).unwrap();
    let req =
        b"*3\r\n$3\r\nSET\r\n$5\r\nsplit\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$5\r\nsplit\r\n";
    for b in req.iter() {
        s.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    let expected = b"+OK\r\n$5\r\nvalue\r\n";
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while got.len() < expected.len() {
        let n = s.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(&got, expected);
}

#[test]
fn large_values_round_trip() {
    let server = cinnabar(&[]);
    let mut c = server.client();
    let big: Vec<u8> = (0..20_000_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(
        c.cmd(&[&b"SET"[..], b"big", &big]).as_bytes(),
        Some(&b"OK"[..])
    );
    let got = c.cmd(&["GET", "big"]);
    assert_eq!(got.as_bytes().map(|b| b.len()), Some(big.len()));
    assert_eq!(got.as_bytes(), Some(&big[..]));
}

#[test]
fn random_garbage_does_not_hurt_other_clients() {
    let server = cinnabar(&[]);
    let mut good = server.client();
    let mut state = 0x9e3779b97f4a7c15u64;
    for round in 0..200 {
        let mut s = raw(&server);
        let len = 1 + (round * 37) % 4000;
        let mut junk = Vec::with_capacity(len);
        for _ in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            junk.push(state as u8);
        }
        // Start some rounds with a valid-looking header so the parser goes deeper.
        if round % 3 == 0 {
            junk.splice(0..0, b"*3\r\n$3\r\nSET\r\n".iter().copied());
        }
        let _ = s.write_all(&junk);
        drop(s);
        if round % 20 == 0 {
            assert_eq!(good.cmd(&["PING"]).as_bytes(), Some(&b"PONG"[..]));
        }
    }
    // Truncated frames and oversized lengths.
    for frame in [
        &b"*2\r\n$3\r\nGET\r\n$100\r\nabc"[..],
        b"*99999999\r\n",
        b"*1\r\n$536870912\r\n",
        b"$5\r\nhello\r\n",
    ] {
        let mut s = raw(&server);
        let _ = s.write_all(frame);
    }
    assert_eq!(good.cmd(&["SET", "k", "v"]).as_bytes(), Some(&b"OK"[..]));
    assert_eq!(good.cmd(&["GET", "k"]).as_bytes(), Some(&b"v"[..]));
}

#[test]
fn hello_3_switches_protocol() {
    let server = cinnabar(&[]);
    let mut c = server.client();
    let reply = c.cmd_raw(&["HELLO", "3"]);
    let text = String::from_utf8_lossy(&reply).to_string();
    assert!(text.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.4\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:"), "{text}");
    assert!(text.ends_with("$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"), "{text}");
    assert_eq!(c.cmd_raw(&["GET", "nosuch"]), b"_\r\n");
    c.cmd(&["SET", "f", "1.5"]);
    assert_eq!(
        c.cmd_raw(&["HELLO", "2", "SETNAME", "me"]).first(),
        Some(&b'*')
    );
    assert_eq!(c.cmd_raw(&["GET", "nosuch"]), b"$-1\r\n");
    assert_eq!(c.cmd_raw(&["CLIENT", "GETNAME"]), b"$2\r\nme\r\n");
}

#[test]
fn quit_closes_after_reply() {
    let server = cinnabar(&[]);
    let out = send_and_read_all(&server, b"PING\r\nQUIT\r\nPING\r\n");
    assert_eq!(out, b"+PONG\r\n+OK\r\n");
}

#[test]
fn maxclients_rejects_extra_connections() {
    let server = cinnabar(&["--maxclients".into(), "2".into()]);
    let mut a = server.client();
    // The start-up probe's connection may not be reaped yet: wait until `a` is alone.
    for _ in 0..100 {
        let info = a.cmd(&["INFO", "clients"]);
        if String::from_utf8_lossy(info.as_bytes().unwrap()).contains("connected_clients:1\r\n") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut b = server.client();
    assert_eq!(a.cmd(&["PING"]).as_bytes(), Some(&b"PONG"[..]));
    assert_eq!(b.cmd(&["PING"]).as_bytes(), Some(&b"PONG"[..]));
    let out = send_and_read_all(&server, b"PING\r\n");
    assert_eq!(out, b"-ERR max number of clients reached\r\n");
    drop(a);
    std::thread::sleep(Duration::from_millis(100));
    let mut c = server.client();
    assert_eq!(c.cmd(&["PING"]).as_bytes(), Some(&b"PONG"[..]));
}

#[test]
fn idle_timeout_closes_clients() {
    let server = cinnabar(&["--timeout".into(), "1".into(), "--hz".into(), "50".into()]);
    let mut c = server.client();
    assert_eq!(c.cmd(&["PING"]).as_bytes(), Some(&b"PONG"[..]));
    std::thread::sleep(Duration::from_millis(2600));
    c.send(&["PING"]);
    assert!(c.read_raw().is_err(), "idle client should have been closed");
}

#[test]
fn query_buffer_limit_closes_client() {
    let server = cinnabar(&["--client-query-buffer-limit".into(), "1mb".into()]);
    let mut s = raw(&server);
    let _ = s.write_all(b"*2\r\n$3\r\nSET\r\n$5000000\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    let mut closed = false;
    for _ in 0..100 {
        if s.write_all(&chunk).is_err() {
            closed = true;
            break;
        }
    }
    let mut buf = [0u8; 16];
    if !closed {
        closed = matches!(s.read(&mut buf), Ok(0) | Err(_));
    }
    assert!(closed);
    assert_eq!(
        server.client().cmd(&["PING"]).as_bytes(),
        Some(&b"PONG"[..])
    );
}

#[test]
fn output_buffer_limit_closes_slow_reader() {
    let server = cinnabar(&[
        "--client-output-buffer-limit".into(),
        "normal 1mb 0 0".into(),
    ]);
    let mut c = server.client();
    let v = vec![b'x'; 1024 * 1024];
    c.cmd(&[&b"SET"[..], b"big", &v]);
    // Ask for far more than the limit without reading.
    let mut s = raw(&server);
    let mut req = Vec::new();
    for _ in 0..50 {
        req.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
    }
    s.write_all(&req).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    assert!(
        total < 50 * 1024 * 1024,
        "client should be cut off before all replies ({total} bytes)"
    );
    assert_eq!(c.cmd(&["PING"]).as_bytes(), Some(&b"PONG"[..]));
}

#[test]
fn requirepass_gates_commands() {
    let server = cinnabar(&["--requirepass".into(), "sekret".into()]);
    let mut c = server.client();
    // The test helper's PING happened on another connection; this one starts unauthenticated.
    assert_eq!(
        c.cmd_raw(&["GET", "x"]),
        b"-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        c.cmd_raw(&["AUTH", "wrong"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(c.cmd_raw(&["AUTH", "sekret"]), b"+OK\r\n");
    assert_eq!(c.cmd_raw(&["GET", "x"]), b"$-1\r\n");
    // Unauthenticated clients may not send big frames.
    let mut raw_client = Client::connect(server.port).unwrap();
    raw_client.send_raw(b"*11\r\n").unwrap();
    assert_eq!(
        raw_client.read_to_close(),
        b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
}

#[test]
fn unix_socket_serves_clients() {
    let dir = std::env::temp_dir().join(format!("cinnabar-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cinnabar.sock");
    let server = cinnabar(&[
        "--unixsocket".into(),
        path.display().to_string(),
        "--unixsocketperm".into(),
        "700".into(),
    ]);
    let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"*1\r\n$4\r\nPING\r\n*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n")
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !got.ends_with(b"\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"+PONG\r\n"));
    let text = String::from_utf8_lossy(&got).to_string();
    assert!(
        text.contains(&format!("addr={}:0 ", path.display())),
        "{text}"
    );
    assert!(text.contains(" flags=U "), "{text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o700
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// HRANDFIELD, SRANDMEMBER and ZRANDMEMBER with a huge negative count (repeats allowed, up to
/// 2^63 picks) stop at the client's hard output limit and close it; the server and its other
/// clients carry on.
#[test]
fn random_replies_are_capped() {
    let server = cinnabar(&[
        "--client-output-buffer-limit".into(),
        "normal 1mb 0 0".into(),
    ]);
    let mut c = server.client();
    c.ok("HSET h a 1 b 2");
    c.ok("SADD s a b c");
    c.ok("ZADD z 1 a 2 b");
    for cmd in [
        "HRANDFIELD h -4000000000000000000 WITHVALUES",
        "SRANDMEMBER s -9223372036854775807",
        "ZRANDMEMBER z -4611686018427387903",
    ] {
        let argv: Vec<&str> = cmd.split(' ').collect();
        let mut req = format!("*{}\r\n", argv.len());
        for a in &argv {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        let total = send_and_read_all(&server, req.as_bytes()).len();
        assert!(total < 8 << 20, "{cmd}: {total} bytes before the close");
        assert_eq!(c.cmd(&["PING"]).as_bytes(), Some(&b"PONG"[..]), "{cmd}");
    }
}

fn connected_clients(c: &mut Client) -> String {
    let info = c.cmd(&["INFO", "clients"]);
    String::from_utf8_lossy(info.as_bytes().unwrap())
        .lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .unwrap_or_default()
        .to_string()
}

/// A close that arrives in the same read as a request (half a command, a whole one, or a
/// reset) frees the connection, and a half-closed client still gets its reply before the
/// close, on both servers. Before, such connections stayed counted until maxclients filled.
#[test]
fn a_close_arriving_with_the_request_frees_the_connection() {
    let servers = [Some(cinnabar(&[])), oracle(&[])];
    for server in servers.iter().flatten() {
        let mut observer = server.client();
        wait_until("only the observer is connected", 10, || {
            connected_clients(&mut observer) == "1"
        });
        let used_memory =
            |c: &mut Client| -> i64 { c.info_field("memory", "used_memory").parse().unwrap() };
        let before = used_memory(&mut observer);
        for i in 0..1500 {
            let mut s = raw(server);
            match i % 3 {
                // Half a command, then FIN.
                0 => s.write_all(b"*2\r\n$3\r\nGET").unwrap(),
                // A whole command and FIN.
                1 => s.write_all(b"PING\r\n").unwrap(),
                // A reply left unread makes the close a reset.
                _ => {
                    s.write_all(b"PING\r\n*2\r\n$3\r\nGET").unwrap();
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        wait_until("every closed connection is freed", 20, || {
            connected_clients(&mut observer) == "1"
        });
        let after = used_memory(&mut observer);
        assert!(
            after - before < 512 * 1024,
            "used_memory {before} -> {after} after the connections closed"
        );
        let mut s = raw(server);
        s.write_all(b"PING\r\n").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).expect("the reply, then the close");
        assert_eq!(out, b"+PONG\r\n");
    }
}

/// client-output-buffer-limit at startup for one class keeps the others' defaults.
#[test]
fn startup_output_buffer_limit_keeps_other_classes() {
    let args = [
        "--client-output-buffer-limit".to_string(),
        "normal 32mb 16mb 10".into(),
    ];
    let ours = cinnabar(&args)
        .client()
        .cmd_raw(&["CONFIG", "GET", "client-output-buffer-limit"]);
    assert_eq!(
        String::from_utf8_lossy(&ours),
        "*2\r\n$26\r\nclient-output-buffer-limit\r\n$82\r\nnormal 33554432 16777216 10 slave 268435456 67108864 60 pubsub 33554432 8388608 60\r\n"
    );
    if let Some(redis) = oracle(&args) {
        let theirs = redis
            .client()
            .cmd_raw(&["CONFIG", "GET", "client-output-buffer-limit"]);
        assert_eq!(ours, theirs);
    }
}

/// A bulk length is a claim, not an allocation: ten connections that promise 512 MB and send
/// three bytes leave the address space (not only the resident set) within a few MB, and
/// another client is answered at once.
#[test]
fn bulk_length_claims_do_not_allocate() {
    let server = cinnabar(&[]);
    let vm = |field: &str| -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .expect("field")
    };
    let (size_before, rss_before) = (vm("VmSize:"), vm("VmRSS:"));
    let mut claims: Vec<TcpStream> = (0..10).map(|_| raw(&server)).collect();
    for s in &mut claims {
        s.write_all(b"*1\r\n$536870000\r\nabc").unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    assert_eq!(server.client().cmd_raw(&["PING"]), b"+PONG\r\n");
    assert!(started.elapsed() < Duration::from_secs(1));
    let (size_after, rss_after) = (vm("VmSize:"), vm("VmRSS:"));
    assert!(
        size_after.saturating_sub(size_before) < 64 * 1024,
        "VmSize {size_before} -> {size_after} kB"
    );
    assert!(
        rss_after.saturating_sub(rss_before) < 16 * 1024,
        "VmRSS {rss_before} -> {rss_after} kB"
    );
}
