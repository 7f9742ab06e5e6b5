//! Snapshots without fork (`snapshot-mode live`): BGSAVE, BGREWRITEAOF and replication full
//! syncs save the dataset as it was when they began while commands go on changing it. Each
//! test changes keys of every type mid-snapshot, in every way a command can (overwrite,
//! delete, rename, move, expire, SWAPDB, FLUSHDB), then loads what was written into
//! redis-server and cinnabar and compares it with the dataset at the start, key by key and
//! by DEBUG DIGEST.

mod common;

use std::time::{Duration, Instant};

use common::client::Client;
use common::dataset::{fill, snapshot_all};
use common::server::{cinnabar, in_dir, oracle, wait_until, with_dump, Server};

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Live snapshots, slowed to one key per 300 µs so that the changes below land mid-walk.
fn live(extra: &[&str]) -> Vec<String> {
    let mut a = args(&[
        "--snapshot-mode",
        "live",
        "--rdb-key-save-delay",
        "300",
        "--enable-debug-command",
        "yes",
    ]);
    a.extend(args(extra));
    a
}

const KEYS: usize = 3000;

/// `fill`'s every-type dataset, 3,000 plain keys, and keys in dbs 1 to 3.
fn populate(c: &mut Client) {
    fill(c);
    let mut batch = Vec::new();
    for i in 0..KEYS {
        batch.extend_from_slice(format!("SET k:{i} v:{i}\r\n").as_bytes());
    }
    for db in 1..=3 {
        batch.extend_from_slice(
            format!("SELECT {db}\r\nSET in-{db} x\r\nRPUSH l-{db} a b\r\n").as_bytes(),
        );
    }
    batch.extend_from_slice(b"SELECT 0\r\n");
    c.send_raw(&batch).unwrap();
    for _ in 0..KEYS + 3 * 3 + 1 {
        c.read();
    }
}

/// The dataset as a client sees it: every key of every db, and the digest.
fn state(c: &mut Client) -> (Vec<String>, String) {
    let keys = snapshot_all(c);
    let digest = String::from_utf8_lossy(&c.cmd_raw(&["DEBUG", "DIGEST"])).into_owned();
    (keys, digest)
}

/// Changes of every kind, to keys of every type, each before the walk can have reached
/// them all.
fn change_everything(c: &mut Client) {
    for line in [
        "SET k:1 changed",
        "DEL k:2",
        "RENAME k:3 k:renamed",
        "MOVE k:4 1",
        "EXPIRE k:5 1000",
        "DEL k:6",
        "SET k:6 recreated",
        "APPEND str -appended",
        "INCR int",
        "PERSIST ttl",
        "HSET hbig f1 changed",
        "HDEL hsmall a",
        "RPUSH lbig tail",
        "LPOP lsmall",
        "SADD sbig new",
        "SREM sints 3",
        "ZADD zbig 9999 m1",
        "ZREM zsmall a",
        "XADD st 9-1 f new",
        "SETRANGE long 0 XYZ",
        "SET brand-new 1",
        "SWAPDB 1 2",
        "FUNCTION DELETE lib",
    ] {
        c.ok(line);
    }
    c.ok("SELECT 3");
    c.ok("FLUSHDB");
    c.ok("SELECT 0");
    let mut batch = Vec::new();
    for i in (10..KEYS).step_by(3) {
        batch.extend_from_slice(format!("SET k:{i} overwritten\r\nDEL k:{}\r\n", i + 1).as_bytes());
    }
    c.send_raw(&batch).unwrap();
    for _ in (10..KEYS).step_by(3) {
        c.read();
        c.read();
    }
}

fn in_progress(c: &mut Client, field: &str) -> bool {
    c.persistence_field(field) == "1"
}

fn wait_done(c: &mut Client, field: &str) {
    wait_until(field, 60, || !in_progress(c, field));
}

/// Loads `dump` into a fresh server of each kind and compares it with `expected`.
fn loads_as(dump: &std::path::Path, expected: &(Vec<String>, String)) {
    let ours = with_dump(dump, |a| {
        let mut a = a.to_vec();
        a.extend(args(&["--enable-debug-command", "yes"]));
        Some(cinnabar(&a))
    })
    .unwrap();
    assert_same(&state(&mut ours.client()), expected, "cinnabar");
    if let Some(theirs) = with_dump(dump, |a| {
        let mut a = a.to_vec();
        a.extend(args(&["--enable-debug-command", "yes"]));
        oracle(&a)
    }) {
        assert_same(&state(&mut theirs.client()), expected, "redis-server");
    }
}

fn assert_same(got: &(Vec<String>, String), expected: &(Vec<String>, String), who: &str) {
    assert!(expected.0.len() > KEYS / 2, "the dataset is there");
    if got.0 != expected.0 {
        let missing: Vec<&String> = expected
            .0
            .iter()
            .filter(|l| !got.0.contains(l))
            .take(10)
            .collect();
        let extra: Vec<&String> = got
            .0
            .iter()
            .filter(|l| !expected.0.contains(l))
            .take(10)
            .collect();
        panic!("{who} loaded another dataset\nmissing: {missing:#?}\nextra: {extra:#?}");
    }
    assert_eq!(got.1, expected.1, "{who}: DEBUG DIGEST");
}

#[test]
fn bgsave_writes_the_moment_it_began_while_everything_changes() {
    let server = cinnabar(&live(&[]));
    let mut c = server.client();
    populate(&mut c);
    let before = state(&mut c);
    let rss_before: u64 = c.info_field("memory", "used_memory").parse().unwrap();
    assert_eq!(c.cmd_raw(&["BGSAVE"]), b"+Background saving started\r\n");
    change_everything(&mut c);
    // Everything above happened while the snapshot was still walking.
    assert!(
        in_progress(&mut c, "rdb_bgsave_in_progress"),
        "the save ended too soon"
    );
    assert_eq!(
        c.cmd_raw(&["BGSAVE"]),
        b"-ERR Background save already in progress\r\n"
    );
    let after = state(&mut c);
    wait_done(&mut c, "rdb_bgsave_in_progress");
    assert_eq!(c.persistence_field("rdb_last_bgsave_status"), "ok");
    // No fork happened.
    assert_eq!(c.info_field("stats", "total_forks"), "0");
    // The server's own dataset is what the commands made.
    assert_same(&state(&mut c), &after, "the server after its save");
    let used: u64 = c.info_field("memory", "used_memory").parse().unwrap();
    assert!(
        used < rss_before * 2,
        "memory grew from {rss_before} to {used}"
    );
    loads_as(&server.dir.join("dump.rdb"), &before);
}

#[test]
fn flushall_stops_a_live_bgsave_and_leaves_no_file() {
    let server = cinnabar(&live(&[]));
    let mut c = server.client();
    populate(&mut c);
    assert_eq!(c.cmd_raw(&["BGSAVE"]), b"+Background saving started\r\n");
    c.ok("FLUSHALL");
    assert!(!in_progress(&mut c, "rdb_bgsave_in_progress"));
    std::thread::sleep(Duration::from_millis(300));
    let files: Vec<String> = std::fs::read_dir(&server.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rdb"))
        .collect();
    assert!(files.is_empty(), "files left: {files:?}");
    // The next one saves the (empty) dataset.
    c.ok("SET after 1");
    assert_eq!(c.cmd_raw(&["BGSAVE"]), b"+Background saving started\r\n");
    wait_done(&mut c, "rdb_bgsave_in_progress");
    assert_eq!(c.persistence_field("rdb_last_bgsave_status"), "ok");
    let again = with_dump(&server.dir.join("dump.rdb"), |a| Some(cinnabar(a))).unwrap();
    assert_eq!(again.client().cmd(&["DBSIZE"]).as_int(), Some(1));
}

/// BGREWRITEAOF in live mode: the base is the moment it began, the incr file what came
/// after; a restart (of cinnabar, and of redis-server on the same files) gives the dataset
/// as it was at the end.
fn aof_rewrite(preamble: &str) {
    let server = cinnabar(&live(&[
        "--appendonly",
        "yes",
        "--aof-use-rdb-preamble",
        preamble,
    ]));
    let mut c = server.client();
    populate(&mut c);
    wait_until("the first rewrite", 30, || {
        c.persistence_field("aof_rewrite_in_progress") == "0"
    });
    c.ok("BGREWRITEAOF");
    change_everything(&mut c);
    assert!(
        in_progress(&mut c, "aof_rewrite_in_progress"),
        "the rewrite ended too soon"
    );
    wait_done(&mut c, "aof_rewrite_in_progress");
    assert_eq!(c.persistence_field("aof_last_bgrewrite_status"), "ok");
    c.ok("SET after-rewrite 1");
    let end = state(&mut c);
    drop(c);
    let dir = server.kill_keep_dir();
    let copy = common::server::fresh_dir();
    copy_dir(&dir.join("appendonlydir"), &copy.join("appendonlydir"));
    let restarted = with_aof(dir, |a| Some(cinnabar(a))).unwrap();
    assert_same(
        &state(&mut restarted.client()),
        &end,
        "cinnabar after a restart",
    );
    if let Some(theirs) = with_aof(copy, oracle) {
        assert_same(
            &state(&mut theirs.client()),
            &end,
            "redis-server on our AOF",
        );
    }
}

/// A server started by `start` in `dir` with the AOF on.
fn with_aof(
    dir: std::path::PathBuf,
    start: impl Fn(&[String]) -> Option<Server>,
) -> Option<Server> {
    in_dir(dir, |a| {
        let mut a = a.to_vec();
        a.extend(args(&[
            "--appendonly",
            "yes",
            "--enable-debug-command",
            "yes",
        ]));
        start(&a)
    })
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn aof_rewrite_with_rdb_preamble() {
    aof_rewrite("yes");
}

#[test]
fn aof_rewrite_as_commands() {
    aof_rewrite("no");
}

fn offset(c: &mut Client) -> u64 {
    c.info_field("replication", "master_repl_offset")
        .parse()
        .unwrap()
}

/// A full sync from a live-snapshot master while it takes writes: the replica ends with the
/// master's dataset.
fn full_sync(diskless: bool, start_replica: impl Fn(&[String]) -> Option<Server>) {
    let master = cinnabar(&live(&[
        "--repl-diskless-sync",
        if diskless { "yes" } else { "no" },
        "--repl-diskless-sync-delay",
        "0",
    ]));
    let mut m = master.client();
    populate(&mut m);
    let mut replica_args = args(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
    replica_args.extend(args(&["--enable-debug-command", "yes"]));
    let Some(replica) = start_replica(&replica_args) else {
        return;
    };
    let started = Instant::now();
    wait_until("the sync to start", 10, || {
        in_progress(&mut m, "rdb_bgsave_in_progress")
    });
    change_everything(&mut m);
    assert!(
        in_progress(&mut m, "rdb_bgsave_in_progress"),
        "the sync ended too soon"
    );
    let mut r = replica.client();
    wait_until("the link", 60, || {
        r.info_field("replication", "master_link_status") == "up"
    });
    let target = offset(&mut m);
    wait_until("the replica's offset", 20, || {
        r.info_field("replication", "slave_repl_offset")
            .parse::<u64>()
            .is_ok_and(|o| o >= target)
    });
    assert_eq!(m.info_field("stats", "total_forks"), "0");
    assert_same(&state(&mut r), &state(&mut m), "the replica");
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn diskless_full_sync_to_redis() {
    full_sync(true, oracle);
}

#[test]
fn disk_full_sync_to_redis() {
    full_sync(false, oracle);
}

#[test]
fn diskless_full_sync_to_cinnabar() {
    full_sync(true, |a| Some(cinnabar(a)));
}
