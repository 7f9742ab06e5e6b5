//! io-threads: helper threads read and write sockets while one thread runs the commands.
//! Both servers run with the same io-threads settings and must give the same replies.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::client::{args, Client};
use common::server::{cinnabar, oracle, wait_until, Server};

fn io_threads_args() -> Vec<String> {
    ["--io-threads", "4", "--io-threads-do-reads", "yes"]
        .map(String::from)
        .to_vec()
}

fn stat(c: &mut Client, field: &str) -> u64 {
    c.info_field("stats", field).parse().expect("a number")
}

/// Many clients pipelining at once, some closing halfway through a command: every reply
/// arrives in order and intact, the counter sees every INCR, and every connection is freed.
/// Returns whether INFO showed the io-threads in use meanwhile.
fn busy_clients_keep_order(server: &Server) -> bool {
    let mut observer = server.client();
    const CLIENTS: usize = 24;
    const ROUNDS: usize = 40;
    const BATCH: usize = 25;
    let port = server.port;
    let workers: Vec<_> = (0..CLIENTS)
        .map(|id| {
            std::thread::spawn(move || {
                let mut c = Client::connect(port).expect("connect");
                for round in 0..ROUNDS {
                    // A third send a malformed request midway through the busy period.
                    if id % 3 == 1 && round == ROUNDS / 2 {
                        c.send_raw(b"*1\r\nx\r\n").expect("send");
                        assert_eq!(
                            c.read_to_close(),
                            b"-ERR Protocol error: expected '$', got 'x'\r\n"
                        );
                        return;
                    }
                    let mut batch = Vec::new();
                    for j in 0..BATCH {
                        let key = format!("k:{id}:{round}:{j}");
                        let value = format!("v{}", "x".repeat(j * 40));
                        for cmd in [
                            vec!["SET".to_string(), key.clone(), value.clone()],
                            vec!["GET".to_string(), key],
                            vec!["INCR".to_string(), "counter".to_string()],
                        ] {
                            batch.extend(cinnabar::resp::frame::encode_command(&cmd));
                        }
                    }
                    c.send_raw(&batch).expect("send");
                    for j in 0..BATCH {
                        assert_eq!(c.read_raw().expect("reply"), b"+OK\r\n");
                        let value = format!("v{}", "x".repeat(j * 40));
                        let want = format!("${}\r\n{value}\r\n", value.len());
                        assert_eq!(c.read_raw().expect("reply"), want.as_bytes());
                        assert_eq!(c.read_raw().expect("reply")[0], b':');
                    }
                }
                // Half the others leave in the middle of a command.
                if id % 2 == 0 {
                    c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nx").expect("send");
                }
            })
        })
        .collect();
    let mut seen_active = false;
    while workers.iter().any(|w| !w.is_finished()) {
        seen_active |= observer.info_field("server", "io_threads_active") == "1";
    }
    for w in workers {
        w.join().expect("a client thread");
    }
    // Clients 1, 4, 7, ... stopped halfway.
    let stopped = (0..CLIENTS).filter(|id| id % 3 == 1).count();
    let total = ((CLIENTS - stopped) * ROUNDS * BATCH + stopped * (ROUNDS / 2) * BATCH) as i64;
    assert_eq!(
        observer.cmd_raw(&args("GET counter")),
        format!("${}\r\n{total}\r\n", total.to_string().len()).into_bytes()
    );
    assert_eq!(
        observer.cmd_raw(&args("DBSIZE")),
        format!(":{}\r\n", total + 1).into_bytes()
    );
    wait_until("every client is freed", 10, || {
        observer.info_field("clients", "connected_clients") == "1"
    });
    seen_active
}

#[test]
fn busy_turns_use_the_threads_and_replies_stay_in_order() {
    let servers = [
        Some(cinnabar(&io_threads_args())),
        oracle(&io_threads_args()),
    ];
    for server in servers.iter().flatten() {
        assert!(
            busy_clients_keep_order(server),
            "io_threads_active:1 while busy"
        );
        let mut c = server.client();
        assert!(stat(&mut c, "io_threaded_writes_processed") > 0);
        assert!(stat(&mut c, "io_threaded_reads_processed") > 0);
        // A turn with a single reply to write stops the threads.
        assert_eq!(c.info_field("server", "io_threads_active"), "0");
    }
}

#[test]
fn without_io_threads_nothing_is_threaded_and_reads_and_writes_are_counted() {
    let servers = [Some(cinnabar(&[])), oracle(&[])];
    let mut deltas = Vec::new();
    for server in servers.iter().flatten() {
        assert!(!busy_clients_keep_order(server));
        let mut c = server.client();
        assert_eq!(stat(&mut c, "io_threaded_writes_processed"), 0);
        assert_eq!(stat(&mut c, "io_threaded_reads_processed"), 0);
        assert_eq!(c.info_field("server", "io_threads_active"), "0");
        // One read and one write per request of a client that waits for each reply.
        let (reads, writes) = (
            stat(&mut c, "total_reads_processed"),
            stat(&mut c, "total_writes_processed"),
        );
        for _ in 0..10 {
            assert_eq!(c.cmd_raw(&args("PING")), b"+PONG\r\n");
        }
        deltas.push((
            stat(&mut c, "total_reads_processed") - reads,
            stat(&mut c, "total_writes_processed") - writes,
        ));
    }
    // The INFOs around the PINGs count too; both servers count alike.
    assert_eq!(deltas[0], (12, 12));
    if deltas.len() == 2 {
        assert_eq!(deltas[0], deltas[1]);
    }
}

#[test]
fn io_threads_directives_are_read_only_at_run_time() {
    let server = cinnabar(&io_threads_args());
    let mut c = server.client();
    assert_eq!(
        c.cmd_raw(&args("CONFIG GET io-threads")),
        b"*2\r\n$10\r\nio-threads\r\n$1\r\n4\r\n"
    );
    let reply = c.cmd_raw(&args("CONFIG SET io-threads 2"));
    assert!(
        reply.starts_with(b"-ERR CONFIG SET failed (possibly related to argument 'io-threads')"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    // A big pipelined batch through the threads arrives whole.
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let n = 20_000;
    s.write_all(&b"PING\r\n".repeat(n)).unwrap();
    let mut got = vec![0u8; n * 7];
    s.read_exact(&mut got).expect("every reply");
    assert!(got.chunks(7).all(|r| r == b"+PONG\r\n"));
}
