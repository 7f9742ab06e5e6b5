//! TLS on tls-port with redis-cli, a rustls client and raw sockets: certificates made here by
//! openssl (a throwaway CA, a server and a client certificate, an encrypted key), never
//! committed. Replies are compared with redis-server's over TLS with the same certificates.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::certs::{make_certs, tls_args};
use common::server::{cinnabar, free_port, oracle, Server};

/// redis-cli over TLS; returns (success, stdout + stderr).
fn cli(certs: &Path, port: u16, client_cert: bool, args: &[&str]) -> (bool, String) {
    let p = |f: &str| certs.join(f).to_string_lossy().into_owned();
    let mut cmd = Command::new("redis-cli");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "--tls",
        "--cacert",
        &p("ca.crt"),
    ]);
    if client_cert {
        cmd.args(["--cert", &p("client.crt"), "--key", &p("client.key")]);
    }
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli is installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success() && !text.contains("Could not") && !text.contains("failed"),
        text,
    )
}

const SESSION: &[&[&str]] = &[
    &["PING"],
    &["SET", "k", "v"],
    &["GET", "k"],
    &["RPUSH", "l", "a", "b", "c"],
    &["LRANGE", "l", "0", "-1"],
    &["INCR", "k"],
    &["HELLO", "3", "SETNAME", "tlsclient"],
];

fn session(certs: &Path, port: u16) -> Vec<String> {
    SESSION
        .iter()
        .map(|argv| {
            let (ok, out) = cli(certs, port, true, argv);
            assert!(ok, "{argv:?}: {out}");
            // HELLO's reply carries the server's name, version and client id.
            if argv[0] == "HELLO" {
                out.lines()
                    .filter(|l| l.contains("proto") || l.contains("3"))
                    .count()
                    .to_string()
            } else {
                out
            }
        })
        .collect()
}

#[test]
fn redis_cli_over_tls_matches_redis_server() {
    let certs = make_certs();
    let tls_port = free_port();
    let server = cinnabar(&tls_args(&certs, tls_port, &[]));
    let ours = session(&certs, tls_port);
    // The plain port keeps working beside it.
    let mut plain = server.client();
    assert_eq!(plain.cmd_raw(&["GET", "k"]), b"$1\r\nv\r\n");
    let redis_tls_port = free_port();
    if let Some(_redis) = oracle(&tls_args(&certs, redis_tls_port, &[])) {
        assert_eq!(ours, session(&certs, redis_tls_port));
    }
    let _ = std::fs::remove_dir_all(&certs);
}

/// The `redis` crate's rustls client (rediss:// with a client certificate), as applications
/// connect: the same replies from cinnabar and from redis-server.
fn redis_crate_session(certs: &Path, port: u16) -> Vec<String> {
    let pem = |f: &str| std::fs::read(certs.join(f)).unwrap();
    let client = redis::Client::build_with_tls(
        format!("rediss://127.0.0.1:{port}/"),
        redis::TlsCertificates {
            client_tls: Some(redis::ClientTlsConfig {
                client_cert: pem("client.crt"),
                client_key: pem("client.key"),
            }),
            root_cert: Some(pem("ca.crt")),
        },
    )
    .unwrap();
    let mut con = client.get_connection().expect("a TLS connection");
    let mut replies = Vec::new();
    for argv in SESSION.iter().filter(|a| a[0] != "HELLO") {
        let mut cmd = redis::cmd(argv[0]);
        for a in &argv[1..] {
            cmd.arg(*a);
        }
        // Error replies (INCR on "v") are part of the session.
        let reply: redis::RedisResult<redis::Value> = cmd.query(&mut con);
        replies.push(format!("{reply:?}"));
    }
    // A reply far bigger than one TLS record.
    let big = vec![b'x'; 1 << 20];
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(&big)
        .query(&mut con)
        .unwrap();
    let back: Vec<u8> = redis::cmd("GET").arg("big").query(&mut con).unwrap();
    assert!(back == big);
    replies
}

#[test]
fn redis_crate_over_tls_matches_redis_server() {
    let certs = make_certs();
    let port = free_port();
    let _server = cinnabar(&tls_args(&certs, port, &[]));
    let ours = redis_crate_session(&certs, port);
    assert_eq!(ours.len(), SESSION.len() - 1);
    let redis_port = free_port();
    if let Some(_redis) = oracle(&tls_args(&certs, redis_port, &[])) {
        assert_eq!(ours, redis_crate_session(&certs, redis_port));
    }
    let _ = std::fs::remove_dir_all(&certs);
}

#[test]
fn client_certificates_are_required_optional_or_ignored() {
    let certs = make_certs();
    for (mode, with_cert_ok, without_cert_ok) in [
        ("yes", true, false),
        ("optional", true, true),
        ("no", true, true),
    ] {
        let port = free_port();
        let _server = cinnabar(&tls_args(&certs, port, &["--tls-auth-clients", mode]));
        assert_eq!(
            cli(&certs, port, true, &["PING"]).0,
            with_cert_ok,
            "{mode} with a certificate"
        );
        let (ok, out) = cli(&certs, port, false, &["PING"]);
        assert_eq!(ok, without_cert_ok, "{mode} without a certificate: {out}");
    }
    let _ = std::fs::remove_dir_all(&certs);
}

#[test]
fn an_encrypted_key_needs_its_password() {
    let certs = make_certs();
    let key = certs.join("server-enc.key").to_string_lossy().into_owned();
    let port = free_port();
    let _server = cinnabar(&tls_args(
        &certs,
        port,
        &["--tls-key-file", &key, "--tls-key-file-pass", "secret"],
    ));
    assert!(cli(&certs, port, true, &["PING"]).0);
    // Without the password the server refuses to start, and says why.
    let log = certs.join("bad.log");
    let status = Command::new(env!("CARGO_BIN_EXE_cinnabar"))
        .args([
            "--port",
            "0",
            "--save",
            "",
            "--logfile",
            &log.to_string_lossy(),
        ])
        .args(tls_args(
            &certs,
            free_port(),
            &["--tls-key-file", &key, "--tls-key-file-pass", "wrong"],
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("Failed to load private key")
            && text.contains("Failed to configure TLS. Check logs for more info."),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&certs);
}

/// A rustls client (what the `redis` crate's rustls feature uses underneath).
fn rustls_client(certs: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(certs.join("ca.crt")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(certs.join("client.crt"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let key = PrivateKeyDer::from_pem_file(certs.join("client.key")).unwrap();
    let provider = Arc::new(cinnabar::net::tls::ring_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap(),
    )
}

#[test]
fn stalled_handshakes_do_not_hold_others_and_big_replies_arrive_whole() {
    let certs = make_certs();
    let port = free_port();
    let server = cinnabar(&tls_args(&certs, port, &[]));
    // Peers that stop mid-handshake, or never start one.
    let mut stalled = Vec::new();
    for i in 0..20 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        if i % 2 == 0 {
            s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).unwrap();
        }
        stalled.push(s);
    }
    let config = rustls_client(&certs);
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let started = Instant::now();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    // A 3 MB value goes in and comes back through many TLS records.
    let value = "x".repeat(3 << 20);
    let set = format!(
        "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n{value}\r\n",
        value.len()
    );
    tls.write_all(set.as_bytes()).unwrap();
    tls.write_all(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n").unwrap();
    let expect = format!("+OK\r\n${}\r\n{value}\r\n", value.len());
    let mut got = vec![0u8; expect.len()];
    tls.read_exact(&mut got).unwrap();
    assert!(got == expect.as_bytes());
    assert!(started.elapsed() < Duration::from_secs(5));
    let mut plain = server.client();
    assert!(
        plain
            .info_field("clients", "connected_clients")
            .parse::<u64>()
            .unwrap()
            >= 21
    );
    drop(stalled);
    let _ = std::fs::remove_dir_all(&certs);
}

#[test]
fn config_set_reloads_certificates_and_rolls_back_bad_ones() {
    let certs = make_certs();
    let port = free_port();
    let server: Server = cinnabar(&tls_args(&certs, port, &[]));
    let mut c = server.client();
    assert_eq!(
        c.cmd_raw(&["CONFIG", "SET", "tls-cert-file", "/nonexistent.crt"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration. Check server logs.\r\n".to_vec()
    );
    assert!(cli(&certs, port, true, &["PING"]).0);
    let key = certs.join("server-enc.key").to_string_lossy().into_owned();
    assert_eq!(
        c.cmd_raw(&[
            "CONFIG",
            "SET",
            "tls-key-file",
            &key,
            "tls-key-file-pass",
            "secret"
        ]),
        b"+OK\r\n"
    );
    assert!(cli(&certs, port, true, &["PING"]).0);
    // A new tls-port: the old one closes, the new one serves.
    let moved = free_port();
    assert_eq!(
        c.cmd_raw(&["CONFIG", "SET", "tls-port", &moved.to_string()]),
        b"+OK\r\n"
    );
    assert!(cli(&certs, moved, true, &["PING"]).0);
    assert!(!cli(&certs, port, true, &["PING"]).0);
    let _ = std::fs::remove_dir_all(&certs);
}

/// tls-replication: a replica reaches its master's tls-port over TLS (client certificate
/// required there), with cinnabar and redis-server on either side; the data arrives and
/// keeps arriving.
#[test]
fn replication_over_tls_both_ways() {
    let certs = make_certs();
    let replica_args = |master_tls_port: u16| {
        let own_tls = free_port();
        tls_args(
            &certs,
            own_tls,
            &[
                "--tls-replication",
                "yes",
                "--replicaof",
                "127.0.0.1",
                &master_tls_port.to_string(),
            ],
        )
    };
    let check = |master: &Server, replica: &Server, key: &str| {
        let mut m = master.client();
        m.ok(&format!("SET {key} before-sync"));
        let mut r = replica.client();
        common::server::wait_until("the TLS link", 20, || {
            r.info_field("replication", "master_link_status") == "up"
        });
        m.ok(&format!("SET {key}:streamed after-sync"));
        common::server::wait_until("the streamed write", 20, || {
            r.cmd_raw(&["GET", &format!("{key}:streamed")]) == b"$10\r\nafter-sync\r\n"
        });
        assert_eq!(r.cmd_raw(&["GET", key]), b"$11\r\nbefore-sync\r\n");
    };
    let master_tls = free_port();
    let fast = ["--repl-diskless-sync-delay", "0"];
    let master = cinnabar(&tls_args(&certs, master_tls, &fast));
    let replica = cinnabar(&replica_args(master_tls));
    check(&master, &replica, "to-cinnabar");
    if let Some(redis_replica) = oracle(&replica_args(master_tls)) {
        check(&master, &redis_replica, "to-redis");
    }
    let redis_tls = free_port();
    if let Some(redis_master) = oracle(&tls_args(&certs, redis_tls, &fast)) {
        let replica = cinnabar(&replica_args(redis_tls));
        check(&redis_master, &replica, "from-redis");
    }
    let _ = std::fs::remove_dir_all(&certs);
}

/// The Lua debugger over TLS, as redis-cli drives it (`--ldb`: a forked session, and
/// `--ldb-sync-mode`): a forked session's writes rolled back, and the lines and reply of a
/// sync session as redis-server's. (redis-server 7.0.15's forked session over TLS ends at
/// once, with nothing: see docs/compat.md.)
#[test]
fn lua_debugger_over_tls() {
    let certs = make_certs();
    let script = certs.join("debugged.lua");
    std::fs::write(
        &script,
        "redis.call('set','k','1')\nlocal x = redis.call('get','k')\nreturn x\n",
    )
    .unwrap();
    let debug = |port: u16, mode: &str| {
        let p = |f: &str| certs.join(f).to_string_lossy().into_owned();
        let mut child = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--tls"])
            .args(["--cacert", &p("ca.crt"), "--cert", &p("client.crt")])
            .args([
                "--key",
                &p("client.key"),
                mode,
                "--eval",
                &p("debugged.lua"),
            ])
            .args(["k", ",", "a"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("redis-cli is installed");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"s\ns\np\nc\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let errors = String::from_utf8_lossy(&out.stderr);
        assert!(errors.is_empty(), "redis-cli: {errors}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let tls_port = free_port();
    let server = cinnabar(&tls_args(&certs, tls_port, &[]));
    let forked = debug(tls_port, "--ldb");
    assert!(forked.contains("<redis> get k"), "{forked}");
    assert!(forked.contains("rolled back"), "{forked}");
    assert_eq!(server.client().cmd_raw(&["EXISTS", "k"]), b":0\r\n");
    let synced = debug(tls_port, "--ldb-sync-mode");
    assert!(synced.contains("<value> x = \"1\""), "{synced}");
    assert_eq!(server.client().cmd_raw(&["EXISTS", "k"]), b":1\r\n");
    let redis_tls_port = free_port();
    if let Some(_redis) = oracle(&tls_args(&certs, redis_tls_port, &[])) {
        assert_eq!(synced, debug(redis_tls_port, "--ldb-sync-mode"));
    }
    let _ = std::fs::remove_dir_all(&certs);
}

/// A connection the server closes (QUIT, CLIENT KILL) ends its TLS session with
/// close_notify, as Redis's: the client reads a clean end, not a truncation.
#[test]
fn closed_connections_end_with_close_notify() {
    let certs = make_certs();
    let port = free_port();
    let server = cinnabar(&tls_args(&certs, port, &[]));
    let connect = || {
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let conn = rustls::ClientConnection::new(rustls_client(&certs), name).unwrap();
        let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        rustls::StreamOwned::new(conn, sock)
    };
    let mut quitting = connect();
    quitting.write_all(b"*1\r\n$4\r\nQUIT\r\n").unwrap();
    let mut got = Vec::new();
    // read_to_end fails with UnexpectedEof when the session ends without close_notify.
    quitting
        .read_to_end(&mut got)
        .expect("a clean end of the session");
    assert_eq!(got, b"+OK\r\n");
    let mut killed = connect();
    killed
        .write_all(b"*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$6\r\nvictim\r\n")
        .unwrap();
    let mut ok = [0u8; 5];
    killed.read_exact(&mut ok).unwrap();
    let list = String::from_utf8_lossy(&server.client().cmd_raw(&["CLIENT", "LIST"])).into_owned();
    let id = list
        .lines()
        .find(|l| l.contains("name=victim"))
        .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .expect("the victim's id")
        .to_string();
    server.client().cmd_raw(&["CLIENT", "KILL", "ID", &id]);
    let mut rest = Vec::new();
    killed
        .read_to_end(&mut rest)
        .expect("a clean end of the session");
    assert!(rest.is_empty());
    let _ = std::fs::remove_dir_all(&certs);
}
