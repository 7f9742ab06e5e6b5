//! ACL users against redis-server (a permission matrix run on both, byte for byte), and what
//! only a running server shows: the ACL log, disconnections, the ACL file, users in the
//! config file, startup refusals.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cinnabar::resp::frame::Frame;
use common::client::{args, Client};
use common::server::{cinnabar, free_port, fresh_dir, in_dir, oracle, Server};

/// Rules for the matrix's users: command rules × key rules × channel rules.
const COMMAND_RULES: &[&str] = &[
    "+@all",
    "-@all +@read",
    "-@all +@write +@read",
    "+@all -@write",
    "-@all +get",
    "-@all +@string +@scripting +@transaction +@pubsub",
];
const KEY_RULES: &[&str] = &[
    "~*",
    "~k:*",
    "%R~k:* %W~w:*",
    "resetkeys",
    "~k:* (~w:* +set)",
];
const CHANNEL_RULES: &[&str] = &["&*", "&c*", "resetchannels"];

/// Commands every matrix user tries, alone, in MULTI and from a script.
const PROBES: &[&str] = &[
    "GET k:1",
    "SET k:1 v",
    "GET w:1",
    "SET w:1 v",
    "COPY k:1 w:2",
    "COPY w:1 k:2",
    "DEL k:1",
    "MGET k:1 w:1",
    "HSET k:h f v",
    "PUBLISH c1 m",
    "PUBLISH z m",
    "SORT k:l",
    "SORT k:l BY nosort",
    "SORT k:l BY w:*",
    "OBJECT ENCODING k:1",
    "CONFIG GET maxmemory",
    "EVAL \"return redis.call('get','k:1')\" 0",
    "EVAL \"return redis.pcall('set','w:1','x')\" 0",
    "EVAL \"return redis.acl_check_cmd('set','w:9','x')\" 0",
    "EVALSHA ffffffffffffffffffffffffffffffffffffffff 0",
];

fn run_matrix(server: &Server) -> Vec<u8> {
    let mut admin = server.client();
    let mut transcript = Vec::new();
    admin.cmd(&["RPUSH", "k:l", "3", "1", "2"]);
    let mut n = 0;
    for cmds in COMMAND_RULES {
        for keys in KEY_RULES {
            for channels in CHANNEL_RULES {
                n += 1;
                let name = format!("u{n}");
                let line = format!("ACL SETUSER {name} on nopass {cmds} {keys} {channels}");
                transcript.extend(admin.cmd_raw(&args(&line)));
                let mut c = server.client();
                c.cmd(&["AUTH", &name, "x"]);
                for probe in PROBES {
                    transcript.extend(c.cmd_raw(&args(probe)));
                }
                // The same in a transaction: refusals abort it at EXEC.
                transcript.extend(c.cmd_raw(&["MULTI"]));
                for probe in &PROBES[..4] {
                    transcript.extend(c.cmd_raw(&args(probe)));
                }
                transcript.extend(c.cmd_raw(&["EXEC"]));
                // Rules changed between queueing and EXEC.
                c.cmd(&["MULTI"]);
                c.cmd_raw(&args("GET k:1"));
                admin.cmd(&args(&format!("ACL SETUSER {name} -get")));
                transcript.extend(c.cmd_raw(&["EXEC"]));
                for probe in &PROBES[..4] {
                    let dry = format!("ACL DRYRUN {name} {probe}");
                    transcript.extend(admin.cmd_raw(&args(&dry)));
                }
            }
        }
    }
    transcript
}

#[test]
fn permission_matrix_matches_redis() {
    let ours = run_matrix(&cinnabar(&[]));
    let Some(redis) = oracle(&[]) else { return };
    let theirs = run_matrix(&redis);
    assert!(
        ours == theirs,
        "replies differ:\n{}",
        first_difference(&ours, &theirs)
    );
}

fn first_difference(a: &[u8], b: &[u8]) -> String {
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let show = |s: &[u8]| {
        String::from_utf8_lossy(&s[at.saturating_sub(200)..(at + 200).min(s.len())]).into_owned()
    };
    format!("cinnabar: ...{}\nredis:    ...{}", show(a), show(b))
}

/// Field `name` of a RESP2 map reply given as a flat array.
fn field<'a>(entry: &'a Frame, name: &str) -> &'a Frame {
    let Frame::Array(items) = entry else {
        panic!("not an array: {entry:?}")
    };
    let at = items
        .iter()
        .position(|f| f.as_bytes() == Some(name.as_bytes()))
        .unwrap_or_else(|| panic!("no {name}"));
    &items[at + 1]
}

fn entries(log: Frame) -> Vec<Frame> {
    match log {
        Frame::Array(e) => e,
        other => panic!("ACL LOG: {other:?}"),
    }
}

#[test]
fn the_acl_log_records_refusals() {
    let server = cinnabar(&[]);
    let mut admin = server.client();
    admin.ok("ACL SETUSER alice on >pw +get +publish +multi +discard +eval ~k* &c*");
    let mut alice = server.client();
    alice.ok("CLIENT SETNAME alices");
    assert_eq!(
        alice.cmd_raw(&["AUTH", "alice", "bad"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    alice.ok("AUTH alice pw");
    for _ in 0..3 {
        alice.cmd(&["SET", "k1", "v"]);
    }
    alice.cmd(&["GET", "other"]);
    alice.cmd(&["PUBLISH", "nope", "m"]);
    alice.cmd(&["MULTI"]);
    alice.cmd(&["GET", "other"]);
    alice.cmd(&["DISCARD"]);
    alice.cmd(&["EVAL", "return redis.call('get','other')", "0"]);

    let log = entries(admin.cmd(&["ACL", "LOG"]));
    let summary: Vec<(String, String, String, i64)> = log
        .iter()
        .map(|e| {
            let text = |n| String::from_utf8_lossy(field(e, n).as_bytes().unwrap()).into_owned();
            let Frame::Integer(count) = field(e, "count") else {
                panic!()
            };
            (text("reason"), text("context"), text("object"), *count)
        })
        .collect();
    let expected = [
        ("key", "lua", "other", 1),
        ("key", "multi", "other", 1),
        ("channel", "toplevel", "nope", 1),
        ("key", "toplevel", "other", 1),
        ("command", "toplevel", "set", 3),
        ("auth", "toplevel", "AUTH", 1),
    ];
    let expected: Vec<(String, String, String, i64)> = expected
        .iter()
        .map(|(r, c, o, n)| (r.to_string(), c.to_string(), o.to_string(), *n))
        .collect();
    assert_eq!(summary, expected);
    let newest = &log[0];
    assert_eq!(field(newest, "username").as_bytes(), Some(&b"alice"[..]));
    let info =
        String::from_utf8_lossy(field(newest, "client-info").as_bytes().unwrap()).into_owned();
    assert!(
        info.contains(" name=alices ")
            && info.contains(" user=alice ")
            && info.contains(" cmd=eval "),
        "{info}"
    );
    // Redis 7.2's fields: ids in creation order, timestamps in ms.
    let Frame::Integer(id_new) = field(&log[0], "entry-id") else {
        panic!()
    };
    let Frame::Integer(id_old) = field(&log[5], "entry-id") else {
        panic!()
    };
    assert_eq!(id_new - id_old, 5);
    let Frame::Integer(created) = field(&log[4], "timestamp-created") else {
        panic!()
    };
    let Frame::Integer(updated) = field(&log[4], "timestamp-last-updated") else {
        panic!()
    };
    assert!(updated >= created && *created > 1_600_000_000_000);

    assert_eq!(admin.info_field("stats", "acl_access_denied_auth"), "1");
    assert_eq!(admin.info_field("stats", "acl_access_denied_cmd"), "3");
    assert_eq!(admin.info_field("stats", "acl_access_denied_key"), "3");
    assert_eq!(admin.info_field("stats", "acl_access_denied_channel"), "1");
    assert_eq!(entries(admin.cmd(&["ACL", "LOG", "2"])).len(), 2);
    admin.ok("CONFIG SET acllog-max-len 2");
    alice.cmd(&["GET", "another"]);
    assert_eq!(entries(admin.cmd(&["ACL", "LOG"])).len(), 2);
    admin.ok("ACL LOG RESET");
    assert!(entries(admin.cmd(&["ACL", "LOG"])).is_empty());
}

/// Was the connection closed by the server? (Whatever it had sent before is skipped.)
fn closed(c: &mut Client) -> bool {
    c.set_timeout(Duration::from_secs(2));
    let _ = c.send_raw(b"PING\r\n");
    loop {
        match c.read_raw() {
            Ok(r) if r.is_empty() => return true,
            Ok(_) => continue,
            Err(e) => {
                return e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut
            }
        }
    }
}

#[test]
fn deleted_users_and_revoked_channels_disconnect_clients() {
    let server = cinnabar(&[]);
    let mut admin = server.client();
    admin.ok("ACL SETUSER bob on nopass +@all ~* &news &sport");
    let mut bob = server.client();
    bob.ok("AUTH bob x");
    let mut sub = server.client();
    sub.ok("AUTH bob x");
    sub.cmd(&["SUBSCRIBE", "news"]);
    let mut psub = server.client();
    psub.ok("AUTH bob x");
    psub.cmd(&["PSUBSCRIBE", "sport"]);
    // Keeping the channels (and adding one) pardons everyone.
    admin.ok("ACL SETUSER bob &weather");
    assert_eq!(admin.cmd_raw(&["PUBLISH", "news", "m"]), b":1\r\n");
    // Losing "sport" closes the pattern subscriber only.
    admin.ok("ACL SETUSER bob resetchannels &news");
    assert!(closed(&mut psub));
    assert_eq!(admin.cmd_raw(&["PUBLISH", "news", "m"]), b":1\r\n");
    assert_eq!(bob.cmd_raw(&["ACL", "WHOAMI"]), b"$3\r\nbob\r\n");
    admin.ok("ACL DELUSER bob");
    assert!(closed(&mut bob));
    assert!(closed(&mut sub));
    // A client deleting its own user gets its reply, then the close.
    admin.ok("ACL SETUSER self on nopass +@all ~*");
    let mut me = server.client();
    me.ok("AUTH self x");
    assert_eq!(me.cmd_raw(&["ACL", "DELUSER", "self"]), b":1\r\n");
    assert!(me.read_to_close().is_empty());
    assert_eq!(
        admin.cmd_raw(&["CLIENT", "KILL", "USER", "nobody"]),
        b"-ERR No such user 'nobody'\r\n"
    );
}

#[test]
fn the_acl_file_loads_saves_and_refuses_bad_files() {
    let dir = fresh_dir();
    std::fs::write(
        dir.join("users.acl"),
        "user default on nopass ~* &* +@all\nuser alice on >alice ~a:* -@all +get +set\n",
    )
    .unwrap();
    let server = in_dir(dir.clone(), |extra| {
        let mut a = extra.to_vec();
        a.extend(["--aclfile".to_string(), "users.acl".to_string()]);
        Some(cinnabar(&a))
    })
    .unwrap();
    let mut alice = server.client();
    alice.ok("AUTH alice alice");
    alice.ok("SET a:1 v");
    assert!(alice.cmd_raw(&["SET", "b:1", "v"]).starts_with(b"-NOPERM"));
    let mut admin = server.client();
    admin.ok("ACL SETUSER bob on >bob ~* +@read");
    admin.ok("ACL SAVE");
    let saved = std::fs::read_to_string(dir.join("users.acl")).unwrap();
    assert_eq!(
        saved
            .lines()
            .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>(),
        ["user alice on", "user bob on", "user default on"]
    );
    assert!(
        saved.contains("user bob on #") && saved.contains(" ~* resetchannels -@all +@read"),
        "{saved}"
    );
    // A bad file changes nothing and says why, line by line.
    std::fs::write(
        dir.join("users.acl"),
        "user carol on +nosuch\nnot a user line\nuser carol off\n",
    )
    .unwrap();
    assert_eq!(
        admin.cmd_raw(&["ACL", "LOAD"]),
        b"-ERR users.acl:1: Unknown command or category name in ACL. users.acl:2 should start with user keyword followed by the username. WARNING: Duplicate user 'carol' found on line 3. WARNING: ACL errors detected, no change to the previously active ACL rules was performed\r\n".to_vec()
    );
    assert_eq!(alice.cmd_raw(&["GET", "a:1"]), b"$1\r\nv\r\n");
    // A good one replaces every user; clients of the old users are disconnected.
    std::fs::write(dir.join("users.acl"), "user carol on nopass ~* +@all\n").unwrap();
    admin.ok("ACL LOAD");
    assert!(closed(&mut alice));
    assert_eq!(
        admin.cmd_raw(&["ACL", "USERS"]),
        b"*2\r\n$5\r\ncarol\r\n$7\r\ndefault\r\n".to_vec()
    );
    std::fs::remove_file(dir.join("users.acl")).unwrap();
    assert_eq!(
        admin.cmd_raw(&["ACL", "LOAD"]),
        b"-ERR Error loading ACLs, opening file 'users.acl': No such file or directory\r\n"
            .to_vec()
    );
}

/// Runs the binary with `argv` and expects it to exit at startup, logging `message`.
fn refuses_to_start(dir: &Path, argv: &[&str], message: &str) {
    let log = dir.join("refused.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cinnabar"))
        .args([
            "--port",
            &free_port().to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args([
            "--dir",
            &dir.to_string_lossy(),
            "--logfile",
            &log.to_string_lossy(),
        ])
        .args(argv)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{argv:?} started");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
    let mut text = std::fs::read_to_string(&log).unwrap_or_default();
    if let Some(mut err) = child.stderr.take() {
        use std::io::Read;
        let _ = err.read_to_string(&mut text);
    }
    assert!(text.contains(message), "{argv:?}: {text}");
}

#[test]
fn startup_refuses_bad_user_setups() {
    let dir = fresh_dir();
    std::fs::write(dir.join("users.acl"), "user a on nopass\n").unwrap();
    refuses_to_start(&dir, &["--aclfile", "users.acl", "--user", "b", "on"], "please define either an ACL file or declare users directly in your redis.conf, but not both.");
    refuses_to_start(&dir, &["--user", "b", "on", "+nosuch"], "Error loading ACL rule '+nosuch' for the user named 'b': Unknown command or category name in ACL");
    refuses_to_start(&dir, &["--aclfile", "missing.acl"], "Aborting Redis startup because of ACL errors: Error loading ACLs, opening file 'missing.acl': No such file or directory");
    // A syntax error is caught while reading the configuration (Redis names argv[j] there).
    refuses_to_start(
        &dir,
        &["--user", "alice", "on", "badrule"],
        "Error in user declaration 'alice': Syntax error",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn users_in_the_config_file_survive_config_rewrite() {
    let dir = fresh_dir();
    let conf = dir.join("redis.conf");
    std::fs::write(
        &conf,
        "user default on nopass ~* &* +@all\nuser app on >app_password ~app:* allcommands\n",
    )
    .unwrap();
    let port = free_port();
    let start = |conf: &Path| {
        Command::new(env!("CARGO_BIN_EXE_cinnabar"))
            .arg(conf)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                &dir.to_string_lossy(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let connect = || {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(c) = Client::connect(port) {
                return c;
            }
            assert!(Instant::now() < deadline, "no server");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut child = start(&conf);
    let mut c = connect();
    c.ok("AUTH app app_password");
    c.ok("SET app:1 v");
    c.ok("AUTH default x");
    c.ok("ACL SETUSER ops on >ops +@all -@dangerous");
    c.ok("CONFIG REWRITE");
    let text = std::fs::read_to_string(&conf).unwrap();
    let users: Vec<&str> = text.lines().filter(|l| l.starts_with("user ")).collect();
    assert_eq!(users.len(), 3, "{text}");
    assert!(
        users[0].starts_with("user app on #") && users[2].starts_with("user ops on #"),
        "{text}"
    );
    let _ = child.kill();
    let _ = child.wait();
    let mut child = start(&conf);
    let mut c = connect();
    c.ok("AUTH ops ops");
    assert_eq!(c.cmd_raw(&["ACL", "WHOAMI"]), b"$3\r\nops\r\n");
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn requirepass_is_the_default_users_password() {
    let server = cinnabar(&["--requirepass".into(), "secret".into()]);
    let mut c = server.client();
    assert_eq!(
        c.cmd_raw(&["GET", "x"]),
        b"-NOAUTH Authentication required.\r\n"
    );
    c.ok("AUTH secret");
    assert!(
        String::from_utf8_lossy(&c.ok("ACL LIST")).contains(&format!(
            "user default on #{} ~* &* +@all",
            String::from_utf8_lossy(&cinnabar::acl::hash_password(b"secret"))
        ))
    );
    assert_eq!(c.cmd_raw(&["CONFIG", "SET", "requirepass", ""]), b"+OK\r\n");
    let mut fresh = server.client();
    fresh.ok("GET x");
    assert_eq!(fresh.cmd_raw(&["AUTH", "x"]), b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n".to_vec());
    // Turning the default user off makes new connections authenticate as someone else.
    c.ok("ACL SETUSER ops on nopass +@all ~*");
    c.ok("ACL SETUSER default off");
    let mut late = server.client();
    assert!(late.cmd_raw(&["GET", "x"]).starts_with(b"-NOAUTH"));
    late.ok("AUTH ops x");
    late.ok("GET x");
}
