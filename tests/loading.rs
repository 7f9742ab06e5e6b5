//! While the dataset loads at startup, other clients are answered: `-LOADING` for what may
//! not run then, INFO's loading fields for what may, and SHUTDOWN ends the server at once
//! without saving the half-loaded dataset. Compared with redis-server loading the same file
//! (slowed down by key-load-delay, as Redis's own tests do).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::client::Client;
use common::server::{cinnabar, fresh_dir, oracle, while_loading, with_dump, Server};

const KEYS: usize = 20_000;

/// A dump.rdb of KEYS string keys, written by cinnabar; returns its directory.
fn dump_dir() -> PathBuf {
    let server = cinnabar(&[]);
    let mut c = server.client();
    let mut batch = Vec::new();
    for i in 0..KEYS {
        batch.extend_from_slice(format!("SET key:{i} value:{i}\r\n").as_bytes());
    }
    c.send_raw(&batch).unwrap();
    for _ in 0..KEYS {
        c.read();
    }
    assert_eq!(c.cmd_raw(&["SAVE"]), b"+OK\r\n");
    let dir = fresh_dir();
    std::fs::copy(server.dir.join("dump.rdb"), dir.join("dump.rdb")).unwrap();
    dir
}

/// 100 µs per key: about two seconds of loading, served every KiB of input.
fn slow_load(extra: &[&str]) -> Vec<String> {
    ["--key-load-delay", "100"]
        .iter()
        .chain(&["--loading-process-events-interval-bytes", "1024"])
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
}

/// cinnabar started on a copy of `file`, handed over while it loads.
fn ours_loading(file: &Path, extra: &[String]) -> Server {
    while_loading(|| with_dump(file, |a| Some(cinnabar(&[a, extra].concat()))))
        .expect("cinnabar did not start")
}

/// The same for redis-server.
fn redis_loading(file: &Path, extra: &[String]) -> Option<Server> {
    while_loading(|| with_dump(file, |a| oracle(&[a, extra].concat())))
}

fn persistence(c: &mut Client) -> Vec<(String, String)> {
    let info = c.cmd(&["INFO", "persistence"]);
    let text = String::from_utf8_lossy(info.as_bytes().expect("INFO")).into_owned();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn field<'a>(info: &'a [(String, String)], name: &str) -> &'a str {
    info.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// What a client sees during a load, and once it is over.
#[derive(Debug, PartialEq)]
struct Seen {
    get: Vec<u8>,
    ping: Vec<u8>,
    config_get: Vec<u8>,
    field_names: Vec<String>,
    total_bytes: String,
    rdb_used_mem_given: bool,
    errorstat: String,
    dbsize_after: Vec<u8>,
}

fn observe(server: &Server) -> Seen {
    let mut c = server.client();
    let info = persistence(&mut c);
    assert_eq!(field(&info, "loading"), "1", "{info:?}");
    let seen_get = c.cmd_raw(&["GET", "key:1"]);
    let seen_ping = c.cmd_raw(&["PING"]);
    let config_get = c.cmd_raw(&["CONFIG", "GET", "key-load-delay"]);
    let errorstat = c.info_field("errorstats", "errorstat_LOADING");
    let deadline = Instant::now() + Duration::from_secs(60);
    while field(&persistence(&mut c), "loading") != "0" {
        assert!(Instant::now() < deadline, "the load did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
    Seen {
        get: seen_get,
        ping: seen_ping,
        config_get,
        field_names: info.iter().map(|(k, _)| k.clone()).collect(),
        total_bytes: field(&info, "loading_total_bytes").to_string(),
        rdb_used_mem_given: field(&info, "loading_rdb_used_mem").parse::<u64>().unwrap() > 0,
        errorstat,
        dbsize_after: c.cmd_raw(&["DBSIZE"]),
    }
}

#[test]
fn clients_are_answered_loading_while_the_dump_loads() {
    let dir = dump_dir();
    let file = dir.join("dump.rdb");
    let size = std::fs::metadata(&file).unwrap().len().to_string();
    let ours = observe(&ours_loading(&file, &slow_load(&[])));
    assert_eq!(
        ours.get,
        b"-LOADING Redis is loading the dataset in memory\r\n"
    );
    assert_eq!(ours.total_bytes, size);
    assert!(ours.rdb_used_mem_given);
    assert_eq!(ours.dbsize_after, format!(":{KEYS}\r\n").into_bytes());
    let Some(redis) = redis_loading(&file, &slow_load(&[])) else {
        return;
    };
    assert_eq!(ours, observe(&redis));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn shutdown_during_a_load_exits_at_once_without_saving() {
    let dir = dump_dir();
    let file = dir.join("dump.rdb");
    let check = |mut server: Server| {
        let before = std::fs::read(server.dir.join("dump.rdb")).unwrap();
        let mut c = server.client();
        assert_eq!(c.persistence_field("loading"), "1");
        c.send(&["SHUTDOWN"]);
        assert_eq!(c.read_to_close(), b"");
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "still running");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Saving points are configured, yet the file is the one that was being loaded.
        assert_eq!(std::fs::read(server.dir.join("dump.rdb")).unwrap(), before);
    };
    let args = slow_load(&["--save", "1 1"]);
    check(ours_loading(&file, &args));
    if let Some(redis) = redis_loading(&file, &args) {
        check(redis);
    }
    let _ = std::fs::remove_dir_all(dir);
}
