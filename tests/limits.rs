//! 10,000 clients: they connect, each runs a command, they idle; maxclients turns the next one
//! away with Redis's error, and an idle client costs no more resident memory than on
//! redis-server (measured on both).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::server::{cinnabar, oracle, Server};

const CLIENTS: usize = 10_000;

/// Lifts this process's open-file limit to its hard limit (servers started later inherit it).
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    assert!(
        lim.rlim_cur as usize >= CLIENTS + 200,
        "the open-file hard limit ({}) is too low for {CLIENTS} clients and their server",
        lim.rlim_cur
    );
}

fn rss(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// Connects CLIENTS clients, runs PING on each, lets them idle; returns resident bytes per
/// idle client.
fn idle_client_cost(server: &Server) -> u64 {
    let before = rss(server);
    let mut socks: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).expect("connect"))
        .collect();
    for s in &mut socks {
        s.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    }
    let mut buf = [0u8; 16];
    for s in &mut socks {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let n = s.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"+PONG\r\n");
    }
    // One more is one too many.
    let mut extra = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reply = Vec::new();
    let _ = extra.read_to_end(&mut reply);
    assert_eq!(reply, b"-ERR max number of clients reached\r\n");
    std::thread::sleep(Duration::from_secs(3));
    let cost = (rss(server).saturating_sub(before)) / CLIENTS as u64;
    // Room for one more once a client leaves; the others are still there.
    drop(socks.pop());
    std::thread::sleep(Duration::from_millis(200));
    let mut c = server.client();
    assert_eq!(
        c.info_field("clients", "connected_clients"),
        CLIENTS.to_string()
    );
    drop(socks);
    cost
}

#[test]
fn ten_thousand_clients_connect_run_and_idle() {
    raise_fd_limit();
    let args = ["--maxclients".to_string(), CLIENTS.to_string()];
    let ours = idle_client_cost(&cinnabar(&args));
    eprintln!("resident memory per idle client: cinnabar {ours} bytes");
    let Some(redis) = oracle(&args) else { return };
    let theirs = idle_client_cost(&redis);
    eprintln!("resident memory per idle client: redis-server {theirs} bytes");
    assert!(
        ours <= theirs,
        "cinnabar {ours} > redis-server {theirs} bytes per idle client"
    );
}

/// The socket inodes the process `pid` holds open (from its /proc fd links).
fn socket_inodes(pid: u32) -> std::collections::HashSet<String> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("/proc/<server>/fd");
    fds.filter_map(|fd| {
        let link = std::fs::read_link(fd.ok()?.path()).ok()?;
        let link = link.to_str()?;
        Some(
            link.strip_prefix("socket:[")?
                .strip_suffix(']')?
                .to_string(),
        )
    })
    .collect()
}

/// The keepalive timer of the server's end of the established connection from client port
/// `peer` to server port `port`, in seconds (None: no keepalive), from /proc/net/tcp (timer
/// kind 2 is keepalive; the remaining time is in USER_HZ ticks). Only sockets the server
/// process holds count: the 10,000-client test beside this one opens connections whose
/// ephemeral ports may repeat `port` and `peer` in the other direction. One entry per socket
/// inode: /proc/net/tcp read while that test churns connections can list a socket twice.
fn server_side_keepalive(server: &Server, peer: u16) -> Vec<Option<f64>> {
    let port = server.port;
    let ours = socket_inodes(server.child.id());
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let port_of = |addr: &str| u16::from_str_radix(addr.rsplit(':').next()?, 16).ok();
    let by_inode: std::collections::BTreeMap<&str, Option<f64>> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (local, remote) = (port_of(f[1])?, port_of(f[2])?);
            let held = ours.contains(f[9]);
            (local == port && remote == peer && f[3] == "01" && held).then(|| {
                let (kind, when) = f[5].split_once(':')?;
                let timer =
                    (kind == "02").then(|| u64::from_str_radix(when, 16).unwrap() as f64 / 100.0);
                Some((f[9], timer))
            })?
        })
        .collect();
    by_inode.into_values().collect()
}

fn keepalive_of_new_connection(server: &Server) -> Option<f64> {
    let mut c = server.client();
    assert_eq!(c.cmd_raw(&["PING"]), b"+PONG\r\n");
    let peer = c.stream.local_addr().expect("local address").port();
    let timers = server_side_keepalive(server, peer);
    assert_eq!(timers.len(), 1, "one connection to {}", server.port);
    timers[0]
}

#[test]
fn tcp_keepalive_probes_idle_connections_as_configured() {
    let check = |server: &Server| {
        let first = keepalive_of_new_connection(server).expect("keepalive on");
        assert!(first > 0.0 && first <= 7.0, "{first}s");
        // CONFIG SET applies to connections accepted afterwards; 0 turns probes off.
        let mut admin = server.client();
        assert_eq!(
            admin.cmd_raw(&["CONFIG", "SET", "tcp-keepalive", "0"]),
            b"+OK\r\n"
        );
        drop(admin);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(keepalive_of_new_connection(server), None);
    };
    let args = ["--tcp-keepalive".to_string(), "7".to_string()];
    check(&cinnabar(&args));
    if let Some(redis) = oracle(&args) {
        check(&redis);
    }
}

/// A subscriber that stops reading is dropped once its output stays over the pubsub soft
/// limit for the limit's seconds, even when nothing more is published (Redis checks every
/// client's limits from its cron). Returns whether it was gone in time.
fn soft_limit_without_traffic(server: &Server) -> bool {
    let mut c = server.client();
    assert_eq!(
        c.cmd_raw(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 0 100000 1"
        ]),
        b"+OK\r\n"
    );
    let mut sub = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    sub.write_all(b"CLIENT SETNAME slow\r\nSUBSCRIBE foo\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut buf = [0u8; 256];
    let _ = sub.read(&mut buf);
    let payload = "x".repeat(1000);
    let omem = |c: &mut common::client::Client| -> Option<u64> {
        let list = String::from_utf8_lossy(&c.cmd_raw(&["CLIENT", "LIST"])).into_owned();
        let line = list.lines().find(|l| l.contains("name=slow"))?.to_string();
        let field = line.split(' ').find(|f| f.starts_with("omem="))?;
        field[5..].parse().ok()
    };
    // Publish until the subscriber's output is over the soft limit, then stop.
    while omem(&mut c).is_some_and(|m| m <= 100_000) {
        c.cmd(&["PUBLISH", "foo", &payload]);
    }
    let stopped = std::time::Instant::now();
    while stopped.elapsed() < Duration::from_millis(3500) {
        if omem(&mut c).is_none() {
            return stopped.elapsed() >= Duration::from_millis(500);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn pubsub_soft_output_limit_holds_without_traffic() {
    assert!(
        soft_limit_without_traffic(&cinnabar(&[])),
        "cinnabar kept the client"
    );
    if let Some(theirs) = oracle(&[]) {
        assert!(
            soft_limit_without_traffic(&theirs),
            "redis-server kept the client"
        );
    }
}

/// CLIENT LIST fields of a client named `name`.
fn client_fields(
    c: &mut common::client::Client,
    name: &str,
    fields: &[&str],
) -> Option<Vec<String>> {
    let list = String::from_utf8_lossy(&c.cmd_raw(&["CLIENT", "LIST"])).into_owned();
    let line = list
        .lines()
        .find(|l| l.contains(&format!("name={name} ")))?
        .to_string();
    Some(
        fields
            .iter()
            .map(|f| {
                line.split(' ')
                    .find(|kv| kv.starts_with(&format!("{f}=")))
                    .unwrap_or("")
                    .to_string()
            })
            .collect(),
    )
}

/// What a client's memory is made of, as CLIENT LIST shows it and maxmemory-clients counts
/// it: a big argument half received counts from its first byte (qbuf), the arguments of a
/// finished command are gone (argv-mem 0), and a transaction's queued commands count
/// (multi-mem), so a client queueing more than maxmemory-clients is evicted.
fn client_memory_parts(server: &Server) -> (Vec<String>, bool, bool) {
    let mut c = server.client();
    let mut big = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    big.write_all(b"CLIENT SETNAME big\r\n").unwrap();
    let mut buf = [0u8; 64];
    let _ = big.read(&mut buf);
    let n = 200_000;
    let mut partial = format!("*1\r\n${n}\r\n").into_bytes();
    partial.extend(std::iter::repeat_n(b'v', n));
    big.write_all(&partial).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let fields = client_fields(&mut c, "big", &["qbuf", "argv-mem", "multi"]).unwrap();
    // maxmemory-clients 2 MB: two queued 400 KB commands fit, five do not.
    assert_eq!(
        c.cmd_raw(&["CONFIG", "SET", "maxmemory-clients", "2000000"]),
        b"+OK\r\n"
    );
    let mut tx = server.client();
    tx.ok("CLIENT SETNAME tx");
    tx.ok("MULTI");
    let value = "v".repeat(400_000);
    for _ in 0..2 {
        tx.cmd(&["SET", "k", &value]);
    }
    std::thread::sleep(Duration::from_millis(100));
    let fits = client_fields(&mut c, "tx", &["multi"]).is_some();
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .write_all(b"CLIENT SETNAME tx2\r\nMULTI\r\n")
        .unwrap();
    for _ in 0..5 {
        let cmd = format!(
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n{value}\r\n",
            value.len()
        );
        if stream.write_all(cmd.as_bytes()).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let evicted = client_fields(&mut c, "tx2", &["multi"]).is_none();
    (fields, fits, evicted)
}

#[test]
fn client_memory_counts_what_redis_counts() {
    let ours = client_memory_parts(&cinnabar(&[]));
    assert_eq!(ours.0, ["qbuf=200000", "argv-mem=0", "multi=-1"]);
    assert!(ours.1, "two queued commands fit");
    assert!(ours.2, "five queued commands evict the client");
    if let Some(theirs) = oracle(&[]) {
        assert_eq!(ours, client_memory_parts(&theirs));
    }
}
