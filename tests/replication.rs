//! Replication between real processes: cinnabar as master of redis-server 7.0.15, as its
//! replica, and of itself (disk and diskless snapshots); partial resync after a cut link and
//! after a promotion; WAIT. Every test ends by comparing the datasets key by key.

mod common;

use std::time::Duration;

use common::client::Client;
use common::dataset::{as_replicated, fill, snapshot_all};
use common::server::{cinnabar, oracle, Server};

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Fast snapshots for tests: no diskless delay.
fn master_args(diskless: bool) -> Vec<String> {
    args(&[
        "--repl-diskless-sync",
        if diskless { "yes" } else { "no" },
        "--repl-diskless-sync-delay",
        "0",
    ])
}

fn replica_of(master: &Server) -> Vec<String> {
    args(&["--replicaof", "127.0.0.1", &master.port.to_string()])
}

fn wait_until(what: &str, check: impl FnMut() -> bool) {
    common::server::wait_until(what, 20, check);
}

/// The same commands on two servers get the same replies, byte for byte.
fn same_replies(ours: &mut Client, theirs: &mut Client, lines: &[&str]) {
    for line in lines {
        let argv: Vec<&str> = line.split(' ').collect();
        assert_eq!(
            String::from_utf8_lossy(&ours.cmd_raw(&argv)),
            String::from_utf8_lossy(&theirs.cmd_raw(&argv)),
            "{line}"
        );
    }
}

fn offset(c: &mut Client) -> u64 {
    c.info_field("replication", "master_repl_offset")
        .parse()
        .expect("master_repl_offset")
}

/// Waits until the replica is linked and has applied everything the master produced.
fn wait_in_sync(master: &Server, replica: &Server) {
    let (mut m, mut r) = (master.client(), replica.client());
    wait_until("the link", || {
        r.info_field("replication", "master_link_status") == "up"
    });
    let target = offset(&mut m);
    wait_until("the replica's offset", || {
        r.info_field("replication", "slave_repl_offset")
            .parse::<u64>()
            .is_ok_and(|o| o >= target)
    });
}

/// Writes of every kind a master propagates: plain commands, a transaction, a script, other
/// dbs, expiries and deletions.
fn more_writes(c: &mut Client) {
    for line in [
        "SET after-sync 1",
        "INCRBY int 5",
        "LPUSH lsmall new",
        "HDEL hbig f1",
        "ZINCRBY zsmall 2 a",
        "SADD sstrs d",
        "XADD st 3-1 f v3",
        "EXPIRE str 1000",
        "DEL neg",
    ] {
        c.ok(line);
    }
    c.ok("MULTI");
    c.ok("SET tx1 a");
    c.ok("SET tx2 b");
    c.ok("EXEC");
    let script = "redis.call('SET', KEYS[1], 'by-script') redis.call('INCR', 'int')";
    assert_eq!(c.cmd_raw(&["EVAL", script, "1", "scripted"]), b"$-1\r\n");
    c.ok("SELECT 5");
    c.ok("SET in-db-5 x");
    c.ok("SELECT 0");
    c.ok("SET short-lived v PX 50");
    std::thread::sleep(Duration::from_millis(120));
    // The master expires it (and propagates the deletion) when a client touches it.
    c.ok("GET short-lived");
}

fn assert_same(master: &Server, replica: &Server) {
    wait_in_sync(master, replica);
    assert_same_data(master, replica);
}

fn assert_same_data(master: &Server, replica: &Server) {
    let ours = as_replicated(&snapshot_all(&mut master.client()));
    let theirs = as_replicated(&snapshot_all(&mut replica.client()));
    assert!(
        ours.len() > 15,
        "the dataset is there: {} lines",
        ours.len()
    );
    if ours != theirs {
        let short = |l: &String| l.chars().take(200).collect::<String>();
        let only_master: Vec<String> = ours
            .iter()
            .filter(|l| !theirs.contains(l))
            .map(short)
            .collect();
        let only_replica: Vec<String> = theirs
            .iter()
            .filter(|l| !ours.contains(l))
            .map(short)
            .collect();
        panic!("datasets differ\nonly on the master: {only_master:#?}\nonly on the replica: {only_replica:#?}");
    }
}

/// A full sync, then the stream, from `master` to a replica started by `start_replica`.
fn full_sync_then_stream(master: Server, start_replica: impl Fn(&[String]) -> Option<Server>) {
    let mut m = master.client();
    fill(&mut m);
    let Some(replica) = start_replica(&replica_of(&master)) else {
        return;
    };
    wait_in_sync(&master, &replica);
    more_writes(&mut m);
    assert_same(&master, &replica);
    let mut r = replica.client();
    assert_eq!(
        r.cmd_raw(&["SET", "x", "1"]),
        b"-READONLY You can't write against a read only replica.\r\n"
    );
}

#[test]
fn cinnabar_master_feeds_a_redis_replica() {
    full_sync_then_stream(cinnabar(&master_args(true)), oracle);
}

#[test]
fn redis_master_feeds_a_cinnabar_replica() {
    let Some(master) = oracle(&master_args(true)) else {
        return;
    };
    full_sync_then_stream(master, |a| Some(cinnabar(a)));
}

#[test]
fn cinnabar_to_cinnabar_disk_snapshot() {
    full_sync_then_stream(cinnabar(&master_args(false)), |a| Some(cinnabar(a)));
}

#[test]
fn cinnabar_to_cinnabar_diskless_snapshot() {
    full_sync_then_stream(cinnabar(&master_args(true)), |a| Some(cinnabar(a)));
}

/// The link is cut (CLIENT KILL TYPE master on the replica); writes meanwhile come from the
/// backlog (+CONTINUE), not a new snapshot.
fn partial_resync_after_cut(master: Server, replica: Server) {
    let (mut m, mut r) = (master.client(), replica.client());
    fill(&mut m);
    wait_in_sync(&master, &replica);
    let full_before = m.info_field("stats", "sync_full");
    assert_eq!(r.cmd_raw(&["CLIENT", "KILL", "TYPE", "master"]), b":1\r\n");
    more_writes(&mut m);
    assert_same(&master, &replica);
    assert_eq!(m.info_field("stats", "sync_full"), full_before);
    assert_eq!(m.info_field("stats", "sync_partial_ok"), "1");
}

#[test]
fn partial_resync_cinnabar_master() {
    let master = cinnabar(&master_args(true));
    let replica = cinnabar(&replica_of(&master));
    partial_resync_after_cut(master, replica);
}

/// Redis 7.0's stream propagates a consumer group's reads as XCLAIMs, which leave a
/// replica's `entries-read` unknown: what a replica shows is judged against a redis-server
/// replica of the same master, not against the master.
#[test]
fn partial_resync_redis_master_cinnabar_replica() {
    let Some(master) = oracle(&master_args(true)) else {
        return;
    };
    let replica = cinnabar(&replica_of(&master));
    let Some(reference) = oracle(&replica_of(&master)) else {
        return;
    };
    let (mut m, mut r) = (master.client(), replica.client());
    // Both replicas get the data through the stream, not a snapshot.
    wait_in_sync(&master, &replica);
    wait_in_sync(&master, &reference);
    fill(&mut m);
    wait_in_sync(&master, &replica);
    assert_eq!(r.cmd_raw(&["CLIENT", "KILL", "TYPE", "master"]), b":1\r\n");
    more_writes(&mut m);
    wait_in_sync(&master, &replica);
    wait_in_sync(&master, &reference);
    assert_same_data(&reference, &replica);
    assert_eq!(m.info_field("stats", "sync_partial_ok"), "1");
}

#[test]
fn partial_resync_cinnabar_master_redis_replica() {
    let master = cinnabar(&master_args(true));
    let Some(replica) = oracle(&replica_of(&master)) else {
        return;
    };
    partial_resync_after_cut(master, replica);
}

/// The master's side of it: the replica's link is killed from the master.
#[test]
fn master_kills_replica_link_and_it_continues() {
    let master = cinnabar(&master_args(false));
    let replica = cinnabar(&replica_of(&master));
    let mut m = master.client();
    fill(&mut m);
    wait_in_sync(&master, &replica);
    assert_eq!(m.cmd_raw(&["CLIENT", "KILL", "TYPE", "replica"]), b":1\r\n");
    more_writes(&mut m);
    assert_same(&master, &replica);
    assert_eq!(m.info_field("stats", "sync_partial_ok"), "1");
}

/// A replica promoted with REPLICAOF NO ONE keeps the history under a new id (replid2); a
/// second replica moved to it continues with PSYNC instead of a new snapshot.
#[test]
fn promotion_keeps_history_for_other_replicas() {
    let master = cinnabar(&master_args(true));
    let a = cinnabar(&replica_of(&master));
    let b = cinnabar(&replica_of(&master));
    let mut m = master.client();
    fill(&mut m);
    wait_in_sync(&master, &a);
    wait_in_sync(&master, &b);
    let (mut ca, mut cb) = (a.client(), b.client());
    let old_id = m.info_field("replication", "master_replid");
    drop(master);
    ca.ok("REPLICAOF NO ONE");
    assert_eq!(ca.info_field("replication", "role"), "master");
    assert_eq!(ca.info_field("replication", "master_replid2"), old_id);
    cb.ok(&format!("REPLICAOF 127.0.0.1 {}", a.port));
    more_writes(&mut ca);
    assert_same(&a, &b);
    assert_eq!(ca.info_field("stats", "sync_full"), "0");
    assert_eq!(ca.info_field("stats", "sync_partial_ok"), "1");
}

/// WAIT counts the replicas that acknowledged the client's writes; ROLE and INFO list them.
#[test]
fn wait_role_and_info_on_both_sides() {
    let master = cinnabar(&master_args(true));
    let replica = cinnabar(&replica_of(&master));
    let mut m = master.client();
    fill(&mut m);
    wait_in_sync(&master, &replica);
    m.ok("SET k v");
    assert_eq!(m.cmd_raw(&["WAIT", "1", "5000"]), b":1\r\n");
    // Asking for more replicas than there are times out with the count.
    assert_eq!(m.cmd_raw(&["WAIT", "2", "100"]), b":1\r\n");
    let mut r = replica.client();
    assert!(r
        .cmd_raw(&["WAIT", "1", "100"])
        .starts_with(b"-ERR WAIT cannot be used with replica instances."));
    let role = String::from_utf8_lossy(&m.cmd_raw(&["ROLE"])).into_owned();
    let port = replica.port.to_string();
    assert!(
        role.starts_with("*3\r\n$6\r\nmaster\r\n:") && role.contains(&port),
        "{role}"
    );
    let role = String::from_utf8_lossy(&r.cmd_raw(&["ROLE"])).into_owned();
    assert!(
        role.starts_with(&format!(
            "*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:{}\r\n$9\r\nconnected\r\n:",
            master.port
        )),
        "{role}"
    );
    let line = m.info_field("replication", "slave0");
    assert!(
        line.starts_with(&format!("ip=127.0.0.1,port={port},state=online,offset=")),
        "{line}"
    );
    let list =
        String::from_utf8_lossy(&r.cmd_raw(&["CLIENT", "LIST", "TYPE", "master"])).into_owned();
    assert!(
        list.contains(" flags=M ") && list.contains(" user=(superuser) "),
        "{list}"
    );
    assert_same(&master, &replica);
}

/// A replica restarted from its own dump file continues from the offset the file recorded.
#[test]
fn restarted_replica_continues_from_its_dump() {
    let master = cinnabar(&master_args(true));
    let mut m = master.client();
    fill(&mut m);
    let dir = common::server::fresh_dir();
    let start = |a: &[String]| {
        let mut all = replica_of(&master);
        all.extend_from_slice(a);
        Some(cinnabar(&all))
    };
    let replica = common::server::in_dir(dir.clone(), start).expect("replica");
    wait_in_sync(&master, &replica);
    // Stream applied after the sync: the dump's offset is past the sync's, and the
    // restarted replica's offset must count from it.
    m.ok("SET before-save 1");
    wait_in_sync(&master, &replica);
    replica.client().ok("SAVE");
    let dir = replica.kill_keep_dir();
    more_writes(&mut m);
    let replica = common::server::in_dir(dir, start).expect("replica again");
    assert_same(&master, &replica);
    assert_eq!(m.info_field("stats", "sync_full"), "1");
    assert_eq!(m.info_field("stats", "sync_partial_ok"), "1");
    let mut r = replica.client();
    assert_eq!(
        r.info_field("replication", "master_repl_offset"),
        m.info_field("replication", "master_repl_offset")
    );
    assert_eq!(
        r.info_field("replication", "master_replid"),
        m.info_field("replication", "master_replid")
    );
}

/// REPLICAOF at runtime is what CONFIG GET replicaof shows and CONFIG REWRITE saves, as in
/// Redis; a replica restarted from its rewritten config file reconnects by itself and
/// continues from its dump (psync2's "Partial resync after restart using RDB aux fields").
#[test]
fn rewritten_config_keeps_the_runtime_master() {
    let master = cinnabar(&master_args(true));
    let mut m = master.client();
    fill(&mut m);
    let dir = common::server::fresh_dir();
    let conf = dir.join("replica.conf");
    std::fs::write(&conf, "appendonly no\n").expect("replica.conf");
    let start = |a: &[String]| common::server::cinnabar_with_config(&conf, a);
    let replica = common::server::in_dir(dir.clone(), start).expect("replica");
    let mut r = replica.client();
    let theirs = oracle(&[]);
    let replicaof = format!("REPLICAOF 127.0.0.1 {}", master.port);
    for line in [
        replicaof.as_str(),
        "CONFIG GET replicaof",
        "CONFIG GET slaveof",
    ] {
        let argv: Vec<&str> = line.split(' ').collect();
        let ours = r.cmd_raw(&argv);
        if let Some(redis) = &theirs {
            assert_eq!(ours, redis.client().cmd_raw(&argv), "{line}");
        }
    }
    wait_in_sync(&master, &replica);
    r.ok("CONFIG REWRITE");
    let text = std::fs::read_to_string(&conf).expect("rewritten config");
    assert!(
        text.contains(&format!("replicaof 127.0.0.1 {}", master.port)),
        "{text}"
    );
    r.send(&["SHUTDOWN", "SAVE"]);
    assert!(r.read_raw().is_err(), "SHUTDOWN closes the connection");
    let dir = replica.kill_keep_dir();
    more_writes(&mut m);
    let full = m.info_field("stats", "sync_full");
    let partial: u64 = m.info_field("stats", "sync_partial_ok").parse().unwrap();
    // Started without REPLICAOF: the file names the master.
    let replica = common::server::in_dir(dir, start).expect("replica again");
    assert_same(&master, &replica);
    assert_eq!(m.info_field("stats", "sync_full"), full);
    assert_eq!(
        m.info_field("stats", "sync_partial_ok"),
        (partial + 1).to_string()
    );
    // NO ONE clears it again.
    let mut r = replica.client();
    r.ok("REPLICAOF NO ONE");
    let ours = r.cmd_raw(&["CONFIG", "GET", "replicaof"]);
    if let Some(redis) = &theirs {
        let mut c = redis.client();
        c.ok("REPLICAOF NO ONE");
        assert_eq!(ours, c.cmd_raw(&["CONFIG", "GET", "replicaof"]));
    }
}

/// A replica that stops reading is cut at the replica class's output-buffer limit (the
/// stream held during its sync counts too); the master goes on serving.
#[test]
fn slow_replica_is_cut_at_its_output_limit() {
    let master = cinnabar(&args(&[
        "--client-output-buffer-limit",
        "replica",
        "256kb",
        "0",
        "0",
        "--repl-diskless-sync",
        "no",
    ]));
    let mut fake = master.client();
    assert_eq!(
        fake.cmd_raw(&["REPLCONF", "listening-port", "1"]),
        b"+OK\r\n"
    );
    fake.send(&["PSYNC", "?", "-1"]);
    let mut m = master.client();
    wait_until("the replica to attach", || {
        m.info_field("replication", "connected_slaves") == "1"
    });
    let big = "x".repeat(64 * 1024);
    for i in 0..400 {
        m.cmd(&["SET", &format!("k{i}"), &big]);
    }
    wait_until("the slow replica to be cut", || {
        m.info_field("replication", "connected_slaves") == "0"
    });
    assert_ne!(
        m.info_field("stats", "client_output_buffer_limit_disconnections"),
        "0"
    );
    assert_eq!(m.cmd_raw(&["PING"]), b"+PONG\r\n");
}

/// With replica-serve-stale-data no, a replica whose master is gone answers MASTERDOWN to
/// what is not allowed on stale data, exactly as a redis-server replica does.
#[test]
fn stale_replica_answers_masterdown_as_redis() {
    let master = cinnabar(&master_args(true));
    let mut extra = replica_of(&master);
    extra.extend(args(&["--replica-serve-stale-data", "no"]));
    let replica = cinnabar(&extra);
    let Some(reference) = oracle(&extra) else {
        return;
    };
    wait_in_sync(&master, &replica);
    wait_in_sync(&master, &reference);
    drop(master);
    for s in [&replica, &reference] {
        let mut c = s.client();
        wait_until("the link to drop", || {
            c.info_field("replication", "master_link_status") == "down"
        });
    }
    let (mut ours, mut theirs) = (replica.client(), reference.client());
    same_replies(
        &mut ours,
        &mut theirs,
        &[
            "GET k",
            "SET k v",
            "DBSIZE",
            "PING",
            "ECHO x",
            "CONFIG GET replica-serve-stale-data",
        ],
    );
}

/// The master is killed and comes back empty on the same port (no dump file): the replica
/// reconnects, cannot continue the old history, and loads the new one.
#[test]
fn replica_follows_a_restarted_master() {
    let master = cinnabar(&master_args(true));
    let replica = cinnabar(&replica_of(&master));
    let mut m = master.client();
    fill(&mut m);
    wait_in_sync(&master, &replica);
    let port = master.port;
    let dir = master.kill_keep_dir();
    let master = common::server::in_dir(dir, |extra| {
        let mut all = master_args(true);
        all.extend_from_slice(extra);
        common::server::cinnabar_at(port, &all)
    })
    .expect("master again");
    let mut m = master.client();
    m.ok("SET only-after-restart 1");
    fill(&mut m);
    assert_same(&master, &replica);
    assert_eq!(
        replica
            .client()
            .cmd_raw(&["EXISTS", "neg", "only-after-restart"]),
        b":2\r\n"
    );
}

/// FAILOVER's refusals, compared with redis-server (a master with one replica each).
#[test]
fn failover_errors_match_redis() {
    let master = cinnabar(&master_args(true));
    let replica = cinnabar(&replica_of(&master));
    let Some(rmaster) = oracle(&master_args(true)) else {
        return;
    };
    let Some(rreplica) = oracle(&replica_of(&rmaster)) else {
        return;
    };
    wait_in_sync(&master, &replica);
    wait_in_sync(&rmaster, &rreplica);
    let (mut ours, mut theirs) = (master.client(), rmaster.client());
    same_replies(
        &mut ours,
        &mut theirs,
        &[
            "FAILOVER ABORT",
            "FAILOVER TO 127.0.0.1 1",
            "FAILOVER FORCE",
            "FAILOVER TO 127.0.0.1 1 FORCE",
            "FAILOVER TIMEOUT 0",
            "FAILOVER TIMEOUT x",
            "FAILOVER bogus",
            "FAILOVER TO 127.0.0.1",
            "PSYNC abc 1 FAILOVER",
            "REPLCONF listening-port x",
            "REPLCONF bogus 1",
            "REPLCONF capa",
            "REPLCONF rdb-filter-only foo",
            "REPLCONF rdb-filter-only functions",
            "REPLICAOF 127.0.0.1 70000",
            "ROLE x",
            "WAIT 0 x",
        ],
    );
    let (mut ours, mut theirs) = (replica.client(), rreplica.client());
    same_replies(
        &mut ours,
        &mut theirs,
        &["FAILOVER", "WAIT 1 10", "SET k v", "PSYNC x 1 FAILOVER"],
    );
}

/// FAILOVER hands the master role to the replica once it has every write; the old master
/// continues as its replica (PSYNC, no new snapshot) and nothing is lost.
#[test]
fn failover_to_a_replica() {
    let master = cinnabar(&master_args(true));
    let replica = cinnabar(&replica_of(&master));
    let mut m = master.client();
    fill(&mut m);
    wait_in_sync(&master, &replica);
    m.ok(&format!(
        "FAILOVER TO 127.0.0.1 {} TIMEOUT 5000",
        replica.port
    ));
    let mut r = replica.client();
    wait_until("the replica to take over", || {
        r.info_field("replication", "role") == "master"
    });
    wait_until("the old master to follow", || {
        m.info_field("replication", "role") == "slave"
            && m.info_field("replication", "master_link_status") == "up"
    });
    assert_eq!(
        m.info_field("replication", "master_failover_state"),
        "no-failover"
    );
    more_writes(&mut r);
    assert_same(&replica, &master);
    assert_eq!(r.info_field("stats", "sync_full"), "0");
}

/// A replica with the AOF on rewrites it after a full sync: restarted from its AOF alone, it
/// holds the master's dataset, not the one it had before.
#[test]
fn replica_aof_holds_the_synced_dataset() {
    let master = cinnabar(&master_args(true));
    let mut m = master.client();
    fill(&mut m);
    let aof = |a: &[String]| {
        let mut all = replica_of(&master);
        all.extend(args(&["--appendonly", "yes"]));
        all.extend_from_slice(a);
        Some(cinnabar(&all))
    };
    let dir = common::server::fresh_dir();
    let replica = common::server::in_dir(dir, |a| {
        // Something of its own first, which the sync must replace.
        let mut all = args(&["--appendonly", "yes"]);
        all.extend_from_slice(a);
        Some(cinnabar(&all))
    })
    .expect("replica");
    replica.client().ok("SET stale-local 1");
    let dir = replica.kill_keep_dir();
    let replica = common::server::in_dir(dir, aof).expect("replica again");
    wait_in_sync(&master, &replica);
    more_writes(&mut m);
    wait_in_sync(&master, &replica);
    let mut r = replica.client();
    wait_until("the AOF rewrite", || {
        r.info_field("persistence", "aof_rewrite_in_progress") == "0"
            && r.info_field("persistence", "aof_rewrite_scheduled") == "0"
            && r.info_field("persistence", "aof_enabled") == "1"
    });
    let expected = snapshot_all(&mut m);
    let dir = replica.kill_keep_dir();
    let alone = common::server::in_dir(dir, |a| {
        let mut all = args(&["--appendonly", "yes"]);
        all.extend_from_slice(a);
        Some(cinnabar(&all))
    })
    .expect("restarted from its AOF");
    assert_eq!(snapshot_all(&mut alone.client()), expected);
}

/// `redis-cli --replica` (SYNC with a filtered, diskless snapshot, then the stream) shows the
/// writes made after it attached.
#[test]
fn redis_cli_replica_mode() {
    let master = cinnabar(&master_args(true));
    let mut m = master.client();
    m.ok("SET before 1");
    // stdbuf: redis-cli's stdout is a pipe here, which it would only flush when full.
    let cli = std::process::Command::new("stdbuf")
        .args([
            "-oL",
            "redis-cli",
            "-p",
            &master.port.to_string(),
            "--replica",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut cli) = cli else {
        assert!(
            std::env::var("CI").is_err(),
            "redis-cli is required under CI"
        );
        return;
    };
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let stdout = cli.stdout.take().expect("stdout");
    let sink = seen.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    wait_until("redis-cli to attach", || {
        m.info_field("replication", "slave0")
            .contains("state=online")
    });
    m.ok("SET after 2");
    m.ok("RPUSH list x");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        // The stream carries the commands as the client typed them.
        let text = seen.lock().unwrap().to_lowercase();
        if text.contains("\"set\",\"after\",\"2\"") && text.contains("\"rpush\",\"list\",\"x\"") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "redis-cli printed: {text}\n{}",
            m.info_field("replication", "slave0")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = cli.kill();
    let _ = cli.wait();
}

/// A replica of a replica gets the master's stream as its replica applied it, transactions
/// whole.
#[test]
fn chained_replicas() {
    let master = cinnabar(&master_args(true));
    let mut middle_args = replica_of(&master);
    middle_args.extend(master_args(true));
    let middle = cinnabar(&middle_args);
    let leaf = cinnabar(&replica_of(&middle));
    let mut m = master.client();
    fill(&mut m);
    wait_in_sync(&master, &middle);
    wait_in_sync(&middle, &leaf);
    more_writes(&mut m);
    wait_in_sync(&master, &middle);
    assert_same(&middle, &leaf);
    assert_same_data(&master, &leaf);
}

/// repl-diskless-load: the snapshot is parsed from the socket and the replica's dump file is
/// never written (as with Redis). swapdb always, on-empty-db because the replica starts
/// empty; from an EOF-marked (diskless) transfer and from a sized one (the master saved to
/// disk first), which must end exactly with the RDB.
#[test]
fn diskless_load_from_a_redis_master() {
    for master_diskless in [true, false] {
        let Some(master) = oracle(&master_args(master_diskless)) else {
            return;
        };
        let mut m = master.client();
        fill(&mut m);
        more_writes(&mut m);
        for mode in ["swapdb", "on-empty-db"] {
            let mut a = replica_of(&master);
            a.extend(args(&["--repl-diskless-load", mode]));
            let replica = cinnabar(&a);
            wait_in_sync(&master, &replica);
            m.ok(&format!("SET after-{mode} 1"));
            assert_same(&master, &replica);
            assert!(
                !replica.dir.join("dump.rdb").exists(),
                "{mode}: the snapshot was loaded from the socket"
            );
        }
    }
}

/// Under repl-diskless-load the replica parses the snapshot from the socket as it arrives,
/// as Redis's does: a replica that loads slowly (key-load-delay) holds back its master's
/// diskless transfer (the snapshot child is still writing halfway through the load) instead
/// of gathering the whole snapshot in memory first. Checked on redis-server pairs too.
#[test]
fn diskless_load_parses_the_snapshot_as_it_arrives() {
    let check = |start: &dyn Fn(&[String]) -> Option<Server>| {
        let Some(master) = start(&args(&[
            "--repl-diskless-sync",
            "yes",
            "--repl-diskless-sync-delay",
            "0",
            "--rdbcompression",
            "no",
            "--enable-debug-command",
            "yes",
        ])) else {
            return;
        };
        let mut m = master.client();
        let big = "v".repeat(10_000);
        for batch in 0..30 {
            let mut mset = vec!["MSET".to_string()];
            for i in 0..100 {
                mset.push(format!("key:{batch}:{i}"));
                mset.push(big.clone());
            }
            let argv: Vec<&str> = mset.iter().map(String::as_str).collect();
            assert_eq!(m.cmd_raw(&argv), b"+OK\r\n");
        }
        fill(&mut m);
        let replica = start(&args(&[
            "--repl-diskless-load",
            "swapdb",
            "--key-load-delay",
            "1000",
            "--enable-debug-command",
            "yes",
        ]))
        .expect("replica");
        let mut r = replica.client();
        r.ok(&format!("REPLICAOF 127.0.0.1 {}", master.port));
        wait_until("the load to start", || {
            r.info_field("persistence", "loading") == "1"
        });
        // 3 s of loading in all: look a second in.
        std::thread::sleep(Duration::from_millis(1000));
        assert_eq!(r.info_field("persistence", "loading"), "1");
        assert_eq!(
            m.info_field("persistence", "rdb_bgsave_in_progress"),
            "1",
            "the master's transfer waits for the replica"
        );
        r.ok("CONFIG SET key-load-delay 0");
        wait_in_sync(&master, &replica);
        assert_eq!(m.cmd_raw(&["DBSIZE"]), b":3016\r\n");
        assert_eq!(
            r.cmd_raw(&["DEBUG", "DIGEST"]),
            m.cmd_raw(&["DEBUG", "DIGEST"])
        );
    };
    check(&|a| Some(cinnabar(a)));
    check(&oracle);
}

/// repl-diskless-load swapdb with the master's history unchanged (a full sync because the
/// backlog no longer covers the replica): the old dataset and libraries are served while the
/// new snapshot loads (async_loading:1, loading:0), only no-async-loading commands and
/// deny-loading configs wait, a failed load keeps the old data, a finished one replaces it.
/// The same steps on a redis-server pair give the same replies.
#[test]
fn async_loading_serves_the_old_data() {
    let run = |start: &dyn Fn(&[String]) -> Option<Server>| -> Option<Vec<String>> {
        let debug = ["--enable-debug-command", "yes"];
        let mut margs = master_args(true);
        margs.extend(args(&debug));
        let master = start(&margs)?;
        // Other clients are served between every two keys loaded.
        let mut rargs = args(&[
            "--repl-diskless-load",
            "swapdb",
            "--replica-read-only",
            "no",
            "--loading-process-events-interval-bytes",
            "1024",
        ]);
        rargs.extend(args(&debug));
        rargs.extend(replica_of(&master));
        let replica = start(&rargs).expect("replica");
        let (mut m, mut r) = (master.client(), replica.client());
        wait_in_sync(&master, &replica);
        let function = |v: &str| {
            format!("#!lua name=test\nredis.register_function('test', function() return '{v}' end)")
        };
        // Big values, uncompressed: the snapshot arrives (and is served between) key by key.
        m.ok("DEBUG POPULATE 500 master 20000");
        m.ok("CONFIG SET rdbcompression no");
        r.cmd_raw(&["FUNCTION", "LOAD", &function("hello1")]);
        m.cmd_raw(&["FUNCTION", "LOAD", &function("hello2")]);
        wait_in_sync(&master, &replica);
        r.ok("SET mykey myvalue");
        m.ok("CONFIG SET rdb-key-save-delay 5000");
        let big = "A".repeat(16384);
        m.ok("MULTI");
        m.ok("CLIENT KILL TYPE replica");
        m.ok("CONFIG SET repl-backlog-size 16384");
        for i in 0..10 {
            m.cmd_raw(&["SET", &format!("key{i}"), &big]);
        }
        m.ok("EXEC");
        wait_until("async loading", || {
            r.info_field("persistence", "async_loading") == "1"
        });
        let mut seen = vec![r.info_field("persistence", "loading")];
        for line in [
            "GET mykey",
            "FCALL test 0",
            "DBSIZE",
            "CONFIG SET appendonly no",
            "REPLICAOF NO ONE",
            "SET written-meanwhile 1",
        ] {
            let argv: Vec<&str> = line.split(' ').collect();
            seen.push(format!(
                "{line}: {}",
                String::from_utf8_lossy(&r.cmd_raw(&argv))
            ));
        }
        // A script turning busy mid-load: others get BUSY, SCRIPT KILL ends it.
        r.ok("CONFIG SET busy-reply-threshold 10");
        let mut script = replica.client();
        script.send(&["EVAL", "while true do end", "0"]);
        std::thread::sleep(Duration::from_millis(200));
        for line in ["PING", "SCRIPT KILL"] {
            let argv: Vec<&str> = line.split(' ').collect();
            seen.push(format!(
                "{line}: {}",
                String::from_utf8_lossy(&r.cmd_raw(&argv))
            ));
        }
        let killed = script.read_raw().expect("the script's reply");
        seen.push(String::from_utf8_lossy(&killed[..20]).into_owned());
        seen.push(format!(
            "PING: {}",
            String::from_utf8_lossy(&r.cmd_raw(&["PING"]))
        ));
        // The link drops mid-load: the old data stays.
        m.ok("CONFIG SET repl-diskless-sync-delay 5");
        m.ok("CLIENT KILL TYPE replica");
        wait_until("the load to stop", || {
            r.info_field("persistence", "async_loading") == "0"
        });
        for line in ["GET mykey", "FCALL test 0", "DBSIZE"] {
            let argv: Vec<&str> = line.split(' ').collect();
            seen.push(format!(
                "{line}: {}",
                String::from_utf8_lossy(&r.cmd_raw(&argv))
            ));
        }
        // The next sync completes: the master's data and library replace ours.
        m.ok("CONFIG SET rdb-key-save-delay 0");
        m.ok("CONFIG SET repl-diskless-sync-delay 0");
        wait_in_sync(&master, &replica);
        for line in ["GET mykey", "FCALL test 0", "DBSIZE"] {
            let argv: Vec<&str> = line.split(' ').collect();
            seen.push(format!(
                "{line}: {}",
                String::from_utf8_lossy(&r.cmd_raw(&argv))
            ));
        }
        assert_eq!(
            r.cmd_raw(&["DEBUG", "DIGEST"]),
            m.cmd_raw(&["DEBUG", "DIGEST"])
        );
        Some(seen)
    };
    let ours = run(&|a| Some(cinnabar(a))).expect("cinnabar");
    assert_eq!(ours[0], "0", "not plain loading");
    assert_eq!(ours[1], "GET mykey: $7\r\nmyvalue\r\n");
    if let Some(theirs) = run(&oracle) {
        assert_eq!(ours, theirs);
    }
}

/// A replica that moves to a new master keeps its own replicas and its history until the
/// new snapshot has arrived: when the new master dies mid-snapshot, nothing was loaded (no
/// truncated snapshot is taken for a whole one), the sub-replica's link never dropped, and
/// the old master still continues the replica with a partial resync (the Tcl suite's "Don't
/// disconnect with replicas before loading transferred RDB" and "Discard cache master").
#[test]
fn failed_full_sync_keeps_replicas_and_history() {
    let master1 = cinnabar(&master_args(true));
    let mut margs = master_args(true);
    margs.extend(args(&["--enable-debug-command", "yes"]));
    let master2 = cinnabar(&margs);
    let (replica, sub) = (cinnabar(&master_args(true)), cinnabar(&[]));
    let (mut m1, mut m2, mut r, mut s) = (
        master1.client(),
        master2.client(),
        replica.client(),
        sub.client(),
    );
    m1.ok("SET a b");
    m2.ok("DEBUG POPULATE 10 master2 10");
    m2.ok("CONFIG SET rdb-key-save-delay 1000000");
    r.ok(&format!("REPLICAOF 127.0.0.1 {}", master1.port));
    wait_in_sync(&master1, &replica);
    s.ok(&format!("REPLICAOF 127.0.0.1 {}", replica.port));
    wait_in_sync(&replica, &sub);
    let sub_link = r.cmd_raw(&["CLIENT", "LIST", "TYPE", "replica"]);
    r.ok(&format!("REPLICAOF 127.0.0.1 {}", master2.port));
    wait_until("the snapshot to start", || {
        m2.info_field("replication", "slave0")
            .contains("wait_bgsave")
    });
    m2.send(&["SHUTDOWN", "NOSAVE"]);
    assert!(m2.read_raw().is_err());
    drop(master2);
    wait_until("the link to fail", || {
        r.info_field("replication", "master_link_status") == "down"
            && r.info_field("replication", "master_sync_in_progress") == "0"
    });
    std::thread::sleep(Duration::from_millis(200));
    let id_of = |list: &[u8]| {
        String::from_utf8_lossy(list)
            .split_whitespace()
            .find(|t| t.starts_with("id="))
            .map(str::to_string)
    };
    assert_eq!(
        id_of(&r.cmd_raw(&["CLIENT", "LIST", "TYPE", "replica"])),
        id_of(&sub_link),
        "the sub-replica kept its link"
    );
    assert_eq!(
        r.cmd_raw(&["GET", "a"]),
        b"$1\r\nb\r\n",
        "nothing was loaded"
    );
    let replid = |c: &mut Client| c.info_field("replication", "master_replid");
    let id = replid(&mut m1);
    assert_eq!(replid(&mut r), id);
    assert_eq!(replid(&mut s), id);
    let full = m1.info_field("stats", "sync_full");
    let partial: u64 = m1.info_field("stats", "sync_partial_ok").parse().unwrap();
    r.ok(&format!("REPLICAOF 127.0.0.1 {}", master1.port));
    wait_in_sync(&master1, &replica);
    assert_eq!(m1.info_field("stats", "sync_full"), full);
    assert_eq!(
        m1.info_field("stats", "sync_partial_ok"),
        (partial + 1).to_string()
    );
    m1.ok("SET after 1");
    wait_in_sync(&master1, &replica);
    wait_in_sync(&replica, &sub);
    assert_eq!(s.cmd_raw(&["GET", "after"]), b"$1\r\n1\r\n");
    assert_eq!(replid(&mut s), id);
}

/// A master that answers the handshake with a full resync whose snapshot is corrupt, as many
/// times as it is asked; counts the snapshots sent.
fn corrupt_snapshot_master() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    // One RESP array of bulk strings per command.
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim().to_string();
                    let Some(n) = line.strip_prefix('*') else {
                        // An inline command (or a bare newline): words.
                        let mut words = line.split(' ').map(str::to_uppercase);
                        if words.next().as_deref() == Some("PING")
                            && stream.write_all(b"+PONG\r\n").is_err()
                        {
                            return;
                        }
                        continue;
                    };
                    let n: usize = n.parse().unwrap_or(0);
                    let mut argv = Vec::new();
                    let mut line = String::new();
                    for _ in 0..n {
                        line.clear();
                        reader.read_line(&mut line).unwrap();
                        let len: usize = line.trim()[1..].parse().unwrap();
                        let mut arg = vec![0; len + 2];
                        reader.read_exact(&mut arg).unwrap();
                        arg.truncate(len);
                        argv.push(String::from_utf8_lossy(&arg).to_uppercase());
                    }
                    let reply: Vec<u8> = match argv.first().map(String::as_str) {
                        Some("PING") => b"+PONG\r\n".to_vec(),
                        Some("PSYNC") | Some("SYNC") => {
                            // A valid start (one key), then an object type nobody knows.
                            let rdb = b"REDIS0009\xfe\x00\x00\x01a\x01b\x3f\x01c\x01d\xff";
                            let mut r =
                                format!("+FULLRESYNC {} 0\r\n${}\r\n", "e".repeat(40), rdb.len())
                                    .into_bytes();
                            r.extend_from_slice(rdb);
                            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            r
                        }
                        _ => b"+OK\r\n".to_vec(),
                    };
                    if stream.write_all(&reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, sent)
}

/// A corrupt snapshot from the master: under repl-diskless-load swapdb the replica keeps
/// the data it had (compared with redis-server); from disk (disabled) the old data was
/// flushed before the load, and the replica asks again. (redis-server exits there, after
/// running redis-check-rdb on the file; docs/compat.md.)
#[test]
fn corrupt_snapshot_keeps_data_only_under_swapdb() {
    let (port, sent) = corrupt_snapshot_master();
    let check = |replica: Server| -> Vec<Vec<u8>> {
        let mut r = replica.client();
        for i in 0..100 {
            r.ok(&format!("SET old:{i} v"));
        }
        let before = sent.load(std::sync::atomic::Ordering::SeqCst);
        r.ok(&format!("REPLICAOF 127.0.0.1 {port}"));
        // The second snapshot is asked for only after the first failed to load.
        wait_until("a retried sync", || {
            sent.load(std::sync::atomic::Ordering::SeqCst) >= before + 2
        });
        vec![r.cmd_raw(&["DBSIZE"]), r.cmd_raw(&["GET", "a"])]
    };
    let swapdb = args(&["--repl-diskless-load", "swapdb"]);
    let ours = check(cinnabar(&swapdb));
    assert_eq!(ours, [b":100\r\n".to_vec(), b"$-1\r\n".to_vec()]);
    let from_disk = check(cinnabar(&args(&["--repl-diskless-load", "disabled"])));
    assert_eq!(from_disk, [b":0\r\n".to_vec(), b"$-1\r\n".to_vec()]);
    if let Some(redis) = oracle(&swapdb) {
        assert_eq!(ours, check(redis));
    }
}

/// replica-lazy-flush: the data a replica held before its full sync is freed in the
/// background (INFO's lazyfreed_objects counts it), as on redis-server.
#[test]
fn replica_lazy_flush_frees_old_data_in_the_background() {
    let master = cinnabar(&master_args(true));
    fill(&mut master.client());
    let check = |start: &dyn Fn(&[String]) -> Option<Server>| -> Option<String> {
        let replica = start(&args(&["--replica-lazy-flush", "yes"]))?;
        let mut r = replica.client();
        for i in 0..1000 {
            r.ok(&format!("SET old:{i} v"));
        }
        r.ok(&format!("REPLICAOF 127.0.0.1 {}", master.port));
        wait_in_sync(&master, &replica);
        assert_same_data(&master, &replica);
        let mut freed = String::new();
        wait_until("the old data freed", || {
            freed = r.info_field("memory", "lazyfreed_objects");
            freed != "0"
        });
        Some(freed)
    };
    let ours = check(&|a| Some(cinnabar(a))).unwrap();
    assert_eq!(ours, "1000");
    if let Some(theirs) = check(&oracle) {
        assert_eq!(ours, theirs);
    }
}

/// A writable replica (replica-read-only no): keys its own clients write with a TTL expire
/// there (the master knows nothing of them; INFO counts them in slave_expires_tracked_keys),
/// while the master's expired keys wait for the master's DEL; a write to a logically expired
/// key starts it afresh. Compared with a redis-server replica of the same master.
#[test]
fn writable_replica_expires_its_own_keys_only() {
    let master = cinnabar(&[master_args(true), args(&["--enable-debug-command", "yes"])].concat());
    let mut m = master.client();
    m.ok("DEBUG SET-ACTIVE-EXPIRE 0");
    let mut run = |replica: Server| -> Vec<Vec<u8>> {
        let mut r = replica.client();
        wait_in_sync(&master, &replica);
        r.ok("CONFIG SET replica-read-only no");
        r.ok("SELECT 5");
        let mut seen = Vec::new();
        for line in ["SET own1 1 PX 100", "SET own2 2 PX 100", "SET own3 3"] {
            seen.push(r.cmd_raw(&line.split(' ').collect::<Vec<_>>()));
        }
        seen.push(
            r.info_field("stats", "slave_expires_tracked_keys")
                .into_bytes(),
        );
        wait_until("the replica's own keys expired", || {
            r.cmd_raw(&["DBSIZE"]) == b":1\r\n"
        });
        seen.push(
            r.info_field("stats", "slave_expires_tracked_keys")
                .into_bytes(),
        );
        // The master's keys, expired but not deleted (its active expiry is off).
        m.ok("SELECT 6");
        m.ok("SET m1 5 PX 10");
        m.ok("SET m2 5 PX 10");
        wait_in_sync(&master, &replica);
        std::thread::sleep(Duration::from_millis(50));
        r.ok("SELECT 6");
        for line in [
            "DBSIZE",
            "EXISTS m1 m2",
            "INCR m1",
            "TTL m1",
            "GET m2",
            "DBSIZE",
        ] {
            seen.push(r.cmd_raw(&line.split(' ').collect::<Vec<_>>()));
        }
        m.ok("DEL m1 m2");
        m.ok("SELECT 0");
        seen
    };
    let replica_args = || replica_of(&master);
    let ours = run(cinnabar(&replica_args()));
    assert_eq!(ours[3], b"2", "two keys with a TTL tracked");
    if let Some(redis) = oracle(&replica_args()) {
        assert_eq!(ours, run(redis));
    }
}

/// A link cut while the stream is in another db than 0: the continued stream does not select
/// it again, so the replica must resume in that db (Redis keeps its cached master client and
/// its db). From a cinnabar master and from a redis-server one.
#[test]
fn partial_resync_resumes_in_the_streams_db() {
    let check = |master: Server| {
        let replica = cinnabar(&replica_of(&master));
        let (mut m, mut r) = (master.client(), replica.client());
        m.ok("SELECT 5");
        m.ok("SET before-cut 1");
        wait_in_sync(&master, &replica);
        let full_syncs = m.info_field("stats", "sync_full");
        r.ok("CLIENT KILL TYPE master");
        m.ok("SET after-cut 2");
        wait_in_sync(&master, &replica);
        m.ok("SET after-resync 3");
        wait_in_sync(&master, &replica);
        assert_eq!(
            m.info_field("stats", "sync_full"),
            full_syncs,
            "a partial resync"
        );
        r.ok("SELECT 5");
        for key in ["before-cut", "after-cut", "after-resync"] {
            assert_eq!(r.cmd_raw(&["EXISTS", key]), b":1\r\n", "{key} in db 5");
        }
        r.ok("SELECT 0");
        assert_eq!(r.cmd_raw(&["DBSIZE"]), b":0\r\n", "nothing in db 0");
    };
    check(cinnabar(&master_args(true)));
    if let Some(redis) = oracle(&master_args(true)) {
        check(redis);
    }
}

fn signal(server: &Server, sig: i32) {
    // SAFETY: a signal to a child process this test started.
    assert_eq!(unsafe { libc::kill(server.child.id() as i32, sig) }, 0);
}

/// A master started by `start` with its log in its directory, and a replica of the same kind.
fn logged_pair(
    start: &dyn Fn(&[String]) -> Option<Server>,
    extra: &[&str],
) -> Option<(Server, Server, std::path::PathBuf)> {
    let dir = common::server::fresh_dir();
    let log = dir.join("master.log");
    let mut all = master_args(true);
    all.extend(args(&["--logfile", &log.to_string_lossy()]));
    all.extend(args(extra));
    let master = common::server::in_dir(dir, |a| {
        let mut both = all.clone();
        both.extend_from_slice(a);
        start(&both)
    })?;
    let replica = start(&replica_of(&master))?;
    master.client().ok("SET k 1");
    wait_in_sync(&master, &replica);
    Some((master, replica, log))
}

fn wait_for_exit(server: &mut Server) {
    wait_until("the master's exit", || {
        server.child.try_wait().expect("try_wait").is_some()
    });
}

fn shutdown_in_progress(c: &mut Client) -> bool {
    c.info_field("server", "shutdown_in_milliseconds")
        .parse::<i64>()
        .is_ok_and(|ms| ms > 0)
}

/// SHUTDOWN and SIGTERM give a lagging replica `shutdown-timeout` to catch up before the
/// master exits, so that no acknowledged write is lost with it: SHUTDOWN callers block,
/// writes wait, INFO shows the time left; SHUTDOWN ABORT answers the callers with Redis's
/// error and lets the writes run. Checked on both servers; returns the master's log.
fn shutdown_waits_then_aborts_then_catches_up(
    start: &dyn Fn(&[String]) -> Option<Server>,
) -> Option<String> {
    let (mut master, replica, log) = logged_pair(start, &["--shutdown-timeout", "30"])?;
    let mut m = master.client();
    signal(&replica, libc::SIGSTOP);
    m.ok("INCR k");
    let mut callers = [master.client(), master.client()];
    for c in &mut callers {
        c.send(&["SHUTDOWN"]);
    }
    wait_until("the shutdown to wait", || shutdown_in_progress(&mut m));
    wait_until("two blocked callers", || {
        m.info_field("clients", "blocked_clients") == "2"
    });
    let mut writer = master.client();
    writer.send(&["SET", "held", "1"]);
    writer.set_timeout(Duration::from_millis(300));
    assert!(writer.read_raw().is_err(), "a write waits for the shutdown");
    assert_eq!(
        m.cmd_raw(&["SHUTDOWN", "ABORT", "NOW"]),
        b"-ERR syntax error\r\n"
    );
    assert_eq!(m.cmd_raw(&["SHUTDOWN", "ABORT"]), b"+OK\r\n");
    for c in &mut callers {
        assert_eq!(
            c.read_raw().expect("the callers' answer"),
            b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n"
        );
    }
    writer.set_timeout(Duration::from_secs(10));
    assert_eq!(writer.read_raw().expect("the write"), b"+OK\r\n");
    assert_eq!(m.info_field("server", "shutdown_in_milliseconds"), "");
    assert_eq!(
        m.cmd_raw(&["SHUTDOWN", "ABORT"]),
        b"-ERR No shutdown in progress.\r\n"
    );
    // Now for good: the master waits for the replica, which wakes up and catches up.
    signal(&master, libc::SIGTERM);
    wait_until("the shutdown to wait", || shutdown_in_progress(&mut m));
    signal(&replica, libc::SIGCONT);
    wait_for_exit(&mut master);
    let mut r = replica.client();
    assert_eq!(r.cmd_raw(&["GET", "k"]), b"$1\r\n2\r\n");
    assert_eq!(r.cmd_raw(&["GET", "held"]), b"$1\r\n1\r\n");
    let text = std::fs::read_to_string(&log).expect("the master's log");
    for line in [
        "Waiting for replicas before shutting down.",
        "Shutdown manually aborted.",
        "1 of 1 replicas are in sync when shutting down.",
        "is now ready to exit, bye bye...",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    assert!(!text.contains("Lagging replica"), "{text}");
    Some(text)
}

/// With the replica still stopped when `shutdown-timeout` runs out, the master logs the
/// replica it leaves behind and exits. Returns the "Lagging replica" line with its lag
/// (seconds since the last ACK) and its distance blanked.
fn shutdown_gives_up_on_a_stopped_replica(
    start: &dyn Fn(&[String]) -> Option<Server>,
) -> Option<String> {
    let (mut master, replica, log) = logged_pair(start, &["--shutdown-timeout", "1"])?;
    signal(&replica, libc::SIGSTOP);
    master.client().ok("INCR k");
    let started = std::time::Instant::now();
    signal(&master, libc::SIGTERM);
    wait_for_exit(&mut master);
    assert!(started.elapsed() >= Duration::from_millis(900), "waited");
    signal(&replica, libc::SIGCONT);
    let text = std::fs::read_to_string(&log).expect("the master's log");
    assert!(
        text.contains("0 of 1 replicas are in sync when shutting down."),
        "{text}"
    );
    let line = text
        .lines()
        .find_map(|l| Some(l.split_once("Lagging replica")?.1))
        .unwrap_or_else(|| panic!("{text}"))
        .replace(&replica.port.to_string(), "PORT");
    // How far behind depends on when the replica last ACKed (once a second) before it was
    // stopped: the number must be positive, the words are compared.
    let (head, rest) = line.split_once("reported offset ").expect("offset");
    let (behind, rest) = rest.split_once(' ').expect("offset's end");
    assert!(behind.parse::<u64>().is_ok_and(|n| n > 0), "{line}");
    let (middle, tail) = rest.split_once("lag=").expect("lag=");
    let tail = tail.split_once(',').expect("lag's end").1;
    Some(format!("{head}reported offset _ {middle}lag=_,{tail}"))
}

#[test]
fn shutdown_waits_for_lagging_replicas() {
    let ours: &dyn Fn(&[String]) -> Option<Server> = &|a| Some(cinnabar(a));
    let theirs: &dyn Fn(&[String]) -> Option<Server> = &oracle;
    shutdown_waits_then_aborts_then_catches_up(ours);
    let lagging = shutdown_gives_up_on_a_stopped_replica(ours).expect("ours");
    if shutdown_waits_then_aborts_then_catches_up(theirs).is_some() {
        let redis = shutdown_gives_up_on_a_stopped_replica(theirs).expect("redis");
        assert_eq!(lagging, redis);
    }
}

fn info_u64(c: &mut Client, section: &str, field: &str) -> u64 {
    c.info_field(section, field)
        .parse()
        .unwrap_or_else(|_| panic!("{field}"))
}

/// The stream is stored once for the backlog and every replica (Redis 7's shared
/// replication buffer): a stopped replica keeps what it has not received, so the backlog
/// outgrows its size (and the history stays usable), without a copy per replica; once that
/// replica is gone, the buffer shrinks back to the backlog's size. Checked on both servers.
#[test]
fn replication_buffer_is_shared_and_shrinks() {
    let check = |start: &dyn Fn(&[String]) -> Option<Server>| {
        let mut margs = master_args(true);
        margs.extend(args(&["--repl-backlog-size", "16384"]));
        let Some(master) = start(&margs) else { return };
        let running = start(&replica_of(&master)).expect("replica");
        let mut stopped = start(&replica_of(&master)).expect("replica");
        let mut m = master.client();
        wait_until("two replicas online", || {
            m.info_field("replication", "connected_slaves") == "2"
                && m.info_field("replication", "slave1")
                    .contains("state=online")
        });
        wait_in_sync(&master, &running);
        wait_in_sync(&master, &stopped);
        signal(&stopped, libc::SIGSTOP);
        let value = "v".repeat(10_000);
        for i in 0..1600 {
            m.ok(&format!("SET key:{i} {value}"));
        }
        wait_in_sync(&master, &running);
        // 16 MB written: more than the stopped replica's socket buffers can hold.
        let histlen = info_u64(&mut m, "replication", "repl_backlog_histlen");
        let total = info_u64(&mut m, "memory", "mem_total_replication_buffers");
        assert!(histlen > 4 << 20, "histlen {histlen}");
        assert!(total >= histlen && total < histlen + histlen / 4, "{total}");
        assert!(
            info_u64(&mut m, "memory", "mem_clients_slaves") > 0,
            "the excess counts as the replicas'"
        );
        signal(&stopped, libc::SIGCONT);
        let _ = stopped.child.kill();
        wait_until("one replica left", || {
            m.info_field("replication", "connected_slaves") == "1"
        });
        wait_until("the buffer to shrink", || {
            info_u64(&mut m, "memory", "mem_total_replication_buffers") < 256 * 1024
        });
        assert!(info_u64(&mut m, "replication", "repl_backlog_histlen") < 64 * 1024);
        assert_same_data(&master, &running);
    };
    check(&|a| Some(cinnabar(a)));
    check(&oracle);
}

/// A transaction queued before the replica lost its master: with replica-serve-stale-data
/// no, EXEC checks the queued commands (GET, PING may not serve stale data; INFO may) and
/// refuses with EXECABORT ... MASTERDOWN, as Redis checks the queued commands' flags at EXEC.
#[test]
fn exec_on_a_stale_replica_checks_the_queued_commands() {
    let replies = |server: Server| {
        let (mut c, mut admin) = (server.client(), server.client());
        let mut got = Vec::new();
        c.ok("CONFIG SET replica-serve-stale-data no");
        c.ok("SET xx 1");
        for queued in ["GET xx", "PING", "INFO server"] {
            c.ok("MULTI");
            got.push(c.ok(queued));
            admin.ok("REPLICAOF 127.0.0.1 1");
            let exec = c.cmd_raw(&["EXEC"]);
            // INFO's text differs between servers; only its kind of reply is compared.
            got.push(if exec.starts_with(b"*1\r\n$") {
                b"*1 bulk".to_vec()
            } else {
                exec
            });
            admin.ok("REPLICAOF NO ONE");
        }
        got
    };
    let ours = replies(cinnabar(&[]));
    assert_eq!(
        String::from_utf8_lossy(&ours[1]),
        "-EXECABORT Transaction discarded because of: MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n"
    );
    if let Some(redis) = oracle(&[]) {
        assert_eq!(ours, replies(redis));
    }
}

/// PUBLISH reaches replicas (not the AOF), so a replica's subscribers hear what is published
/// on the master, alone or inside a transaction, as with Redis (master and replica of the
/// same kind, both kinds).
#[test]
fn replicas_deliver_what_the_master_publishes() {
    let check = |master: Server| {
        let replica = start_replica_like(&master);
        wait_in_sync(&master, &replica);
        let mut sub = replica.client();
        assert!(sub.ok("SUBSCRIBE news").starts_with(b"*3\r\n"));
        let mut m = master.client();
        m.ok("PUBLISH news alone");
        m.ok("MULTI");
        m.ok("SET k v");
        m.ok("PUBLISH news in-a-transaction");
        m.ok("EXEC");
        let mut heard = Vec::new();
        for _ in 0..2 {
            heard.push(sub.read_raw().expect("a message"));
        }
        heard
    };
    let ours = check(cinnabar(&master_args(true)));
    assert_eq!(
        ours[0],
        b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nalone\r\n"
    );
    if let Some(redis) = oracle(&master_args(true)) {
        assert_eq!(ours, check(redis));
    }
}

/// A replica of the same server kind as `master` (the binary it runs).
fn start_replica_like(master: &Server) -> Server {
    let redis = std::fs::read_link(format!("/proc/{}/exe", master.child.id()))
        .is_ok_and(|p| p.to_string_lossy().contains("redis"));
    if redis {
        oracle(&replica_of(master)).expect("redis replica")
    } else {
        cinnabar(&replica_of(master))
    }
}

/// On a stale replica (link down, replica-serve-stale-data no) a function declared
/// allow-stale may run, but only stale-safe commands inside it (GET is refused, INFO is
/// not); one without the flag gets MASTERDOWN. Byte for byte as Redis.
#[test]
fn allow_stale_functions_run_only_stale_safe_commands() {
    let replies = |server: Server| {
        let mut c = server.client();
        let lib = "#!lua name=test\n\
            redis.register_function{function_name='f1', callback=function() return 'hello' end, flags={'no-writes'}}\n\
            redis.register_function{function_name='f2', callback=function() return 'hello' end, flags={'allow-stale', 'no-writes'}}\n\
            redis.register_function{function_name='f3', callback=function() return redis.call('get', 'x') end, flags={'allow-stale', 'no-writes'}}\n\
            redis.register_function{function_name='f4', callback=function() return redis.call('ping') end, flags={'allow-stale', 'no-writes'}}";
        assert_eq!(c.cmd_raw(&["FUNCTION", "LOAD", lib]), b"$4\r\ntest\r\n");
        c.ok("CONFIG SET replica-serve-stale-data no");
        c.ok("REPLICAOF 127.0.0.1 1");
        let got: Vec<Vec<u8>> = ["f1", "f2", "f3", "f4"]
            .iter()
            .map(|f| c.cmd_raw(&["FCALL", f, "0"]))
            .collect();
        c.ok("REPLICAOF NO ONE");
        got
    };
    let ours = replies(cinnabar(&[]));
    assert!(
        String::from_utf8_lossy(&ours[2])
            .starts_with("-ERR Can not execute the command on a stale replica"),
        "{:?}",
        String::from_utf8_lossy(&ours[2])
    );
    if let Some(redis) = oracle(&[]) {
        let theirs = replies(redis);
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(String::from_utf8_lossy(a), String::from_utf8_lossy(b));
        }
    }
}

/// `redis-cli --functions-rdb` gets a snapshot of the function libraries only (REPLCONF
/// rdb-filter-only functions): loaded into a fresh server it holds the library and no key.
/// The same from redis-server.
#[test]
fn redis_cli_functions_rdb_holds_only_functions() {
    let check = |server: Server| {
        let mut c = server.client();
        c.ok("SET k1 v1");
        c.ok("SET k2 v2");
        let lib = "#!lua name=lib1\nredis.register_function('func1', function() return 123 end)";
        assert_eq!(c.cmd_raw(&["FUNCTION", "LOAD", lib]), b"$4\r\nlib1\r\n");
        let file = common::server::fresh_dir().join("functions.rdb");
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &server.port.to_string(), "--functions-rdb"])
            .arg(&file)
            .output()
            .expect("redis-cli");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Transfer finished with success")
                || String::from_utf8_lossy(&out.stdout).contains("Transfer finished with success"),
            "{out:?}"
        );
        let loaded = common::server::with_dump(&file, |a| Some(cinnabar(a))).expect("loads");
        let mut l = loaded.client();
        assert_eq!(l.cmd_raw(&["DBSIZE"]), b":0\r\n");
        assert_eq!(l.cmd_raw(&["FCALL", "func1", "0"]), b":123\r\n");
    };
    let no_delay = args(&["--repl-diskless-sync-delay", "0"]);
    check(cinnabar(&no_delay));
    if let Some(redis) = oracle(&no_delay) {
        check(redis);
    }
}

/// bind-source-addr: the replica connects to its master from that address, as the master's
/// INFO shows.
#[test]
fn replica_connects_from_bind_source_addr() {
    let master = cinnabar(&master_args(true));
    let replica = cinnabar(&[]);
    let mut r = replica.client();
    r.ok("CONFIG SET bind-source-addr 127.0.0.2");
    r.ok(&format!("REPLICAOF 127.0.0.1 {}", master.port));
    wait_in_sync(&master, &replica);
    let slave0 = master.client().info_field("replication", "slave0");
    assert!(slave0.starts_with("ip=127.0.0.2,"), "{slave0}");
}

/// redis.set_repl: what a script's commands propagate to follows the flags in force when
/// each runs (REPL_NONE, REPL_AOF, REPL_ALL), for the AOF and the replicas apart; the AOF
/// holds the same bytes as Redis's.
#[test]
fn script_set_repl_picks_the_targets_of_each_command() {
    let script = "redis.call('set','a','1'); redis.set_repl(redis.REPL_NONE); \
                  redis.call('set','b','2'); redis.set_repl(redis.REPL_AOF); \
                  redis.call('set','c','3'); redis.set_repl(redis.REPL_ALL); \
                  redis.call('set','d','4'); redis.set_repl(redis.REPL_REPLICA); \
                  redis.call('set','e','5')";
    let run = |start: &dyn Fn(&[String]) -> Option<Server>| -> Option<(String, Vec<u8>)> {
        let mut master_args = master_args(true);
        master_args.extend(args(&[
            "--appendonly",
            "yes",
            "--aof-use-rdb-preamble",
            "no",
        ]));
        let master = start(&master_args)?;
        let replica = start(&replica_of(&master))?;
        let mut m = master.client();
        wait_in_sync(&master, &replica);
        m.ok(&format!("EVAL {} 0", script.replace(' ', "")));
        wait_in_sync(&master, &replica);
        let seen = common::client::reply_text(&mut replica.client(), "MGET a b c d e");
        let aof = std::fs::read(master.dir.join("appendonlydir/appendonly.aof.1.incr.aof"))
            .expect("the incr file");
        Some((seen, aof))
    };
    let (seen, aof) = run(&|a| Some(cinnabar(a))).expect("cinnabar");
    assert_eq!(
        seen,
        "*5\r\n$1\r\n1\r\n$-1\r\n$-1\r\n$1\r\n4\r\n$1\r\n5\r\n"
    );
    let text = String::from_utf8_lossy(&aof);
    assert!(
        text.contains("$1\r\nc\r\n") && !text.contains("$1\r\nb\r\n"),
        "{text}"
    );
    assert!(!text.contains("$1\r\ne\r\n"), "{text}");
    if let Some((redis_seen, redis_aof)) = run(&|a| oracle(a)) {
        assert_eq!(seen, redis_seen);
        assert_eq!(text, String::from_utf8_lossy(&redis_aof));
    }
}

/// Scripts on a replica: a write a script calls is refused as READONLY (also from a
/// transaction); on a stale replica (replica-serve-stale-data no) a script without a
/// shebang is refused as MASTERDOWN before it runs, and one allowed to run stale is refused
/// the commands that cannot. The same replies as Redis's.
#[test]
fn scripts_on_replicas_are_refused_as_redis_refuses_them() {
    let replies = |start: &dyn Fn(&[String]) -> Option<Server>| -> Option<Vec<String>> {
        let master = start(&master_args(true))?;
        let replica = start(&replica_of(&master))?;
        wait_in_sync(&master, &replica);
        let mut r = replica.client();
        let mut out = Vec::new();
        let mut run = |r: &mut Client, argv: &[&str]| {
            out.push(String::from_utf8_lossy(&r.cmd_raw(argv)).into_owned())
        };
        let write = "redis.call('set','x',1) return 1";
        run(&mut r, &["EVAL", write, "1", "x"]);
        run(&mut r, &["MULTI"]);
        run(&mut r, &["EVAL", write, "1", "x"]);
        run(&mut r, &["EXEC"]);
        run(&mut r, &["CONFIG", "SET", "replica-serve-stale-data", "no"]);
        drop(master);
        wait_until("the link down", || {
            r.info_field("replication", "master_link_status") == "down"
        });
        run(&mut r, &["EVAL", "return redis.call('get','x')", "1", "x"]);
        run(&mut r, &["EVAL", "return 1", "0"]);
        run(&mut r, &["EVAL", "#!lua flags=no-writes\nreturn 1", "0"]);
        run(
            &mut r,
            &["EVAL", "#!lua flags=allow-stale,no-writes\nreturn 1", "0"],
        );
        run(
            &mut r,
            &[
                "EVAL",
                "#!lua flags=allow-stale,no-writes\nreturn redis.call('get','x')",
                "1",
                "x",
            ],
        );
        run(
            &mut r,
            &[
                "EVAL",
                "#!lua flags=allow-stale,no-writes\nreturn redis.call('echo','e')",
                "0",
            ],
        );
        Some(out)
    };
    let ours = replies(&|a| Some(cinnabar(a))).expect("cinnabar");
    assert!(ours[0].starts_with("-READONLY You can't write against a read only replica. script: "));
    assert!(ours[5].starts_with("-MASTERDOWN "), "{ours:?}");
    if let Some(theirs) = replies(&|a| oracle(a)) {
        assert_eq!(ours, theirs);
    }
}
