//! The append-only file: replay reproduces the dataset, rewrites, Redis 7's directory layout
//! exchanged with redis-server, torn and corrupt files, runtime CONFIG SET, and crash safety
//! under `appendfsync always`.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::client::Client;
use common::dataset::{fill, snapshot_all};
use common::server::{cinnabar, fresh_dir, in_dir, oracle, Server};

fn aof_args(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["--appendonly", "yes"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// cinnabar with the AOF on, working in `dir`.
fn cinnabar_in(dir: PathBuf, extra: &[&str]) -> Server {
    let args = aof_args(extra);
    in_dir(dir, |a| {
        let mut all = args.clone();
        all.extend_from_slice(a);
        Some(cinnabar(&all))
    })
    .expect("cinnabar started")
}

fn run(c: &mut Client, line: &str) -> Vec<u8> {
    c.ok(line)
}

fn info_field(c: &mut Client, field: &str) -> String {
    c.persistence_field(field)
}

fn wait_rewrite(c: &mut Client) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(c, "aof_rewrite_in_progress") != "0"
        || info_field(c, "aof_rewrite_scheduled") != "0"
    {
        assert!(Instant::now() < deadline, "the AOF rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes whose propagation is rewritten: relative TTLs, random pops, blocking pops served
/// later, stream IDs and approximate trims, consumer groups, scripts, transactions across
/// databases, lazy expiry.
fn workload(server: &Server) {
    let mut c = server.client();
    fill(&mut c);
    for line in [
        "SET ex1 v EX 1000",
        "SETEX ex2 1000 v",
        "PSETEX ex3 1000000 v",
        "SET ex4 v PXAT 99999999999999",
        "EXPIRE str 5000",
        "PEXPIRE neg 5000000",
        "GETEX int PX 800000",
        "INCRBYFLOAT fl 1.25",
        "INCRBYFLOAT fl 0.1",
        "HINCRBYFLOAT hf f 2.5",
        "SADD sp a b c d e f g h i j",
        "SPOP sp",
        "SPOP sp 3",
        "SADD sp2 x y",
        "SPOP sp2 5",
        "RPUSH lp a b c d e",
        "LMPOP 1 lp LEFT COUNT 2",
        "BLPOP lp 0",
        "ZADD zp 1 a 2 b 3 c 4 d",
        "ZMPOP 1 zp MIN COUNT 2",
        "BZPOPMAX zp 0",
        "XADD sx * a 1",
        "XADD sx * a 2",
        "XADD sx * a 3",
        "XADD sx MAXLEN ~ 2 * a 4",
        "XTRIM sx MAXLEN ~ 1",
        "XGROUP CREATE sx g 0",
        "XREADGROUP GROUP g c1 COUNT 2 STREAMS sx >",
        "XREADGROUP GROUP g c3 NOACK STREAMS sx >",
        "XREADGROUP GROUP g c1 STREAMS sx 0",
        "XAUTOCLAIM sx g c2 0 0 COUNT 1",
        "GETDEL int",
        "SET tmp 1",
        "RENAME tmp tmp2",
        "COPY tmp2 tmp3",
        "MOVE tmp3 4",
        "FCALL f 0",
        "SET gone 1 PX 1",
    ] {
        run(&mut c, line);
    }
    run(
        &mut c,
        "EVAL redis.call('set','s1','1');redis.call('incr','s1');redis.call('expire','s1',100);return#redis.call('spop','sp') 0",
    );
    // A transaction that changes database in the middle.
    for line in [
        "MULTI", "SET t1 1", "SELECT 2", "SET t2 2", "INCR t2", "EXEC",
    ] {
        c.cmd_raw(&line.split(' ').collect::<Vec<_>>());
    }
    run(&mut c, "SELECT 0");
    // A pop served after blocking, and a lazily expired key.
    let mut waiter = server.client();
    waiter.send(&["BRPOP", "bq", "0"]);
    std::thread::sleep(Duration::from_millis(100));
    run(&mut c, "RPUSH bq x y");
    assert_eq!(waiter.read().as_bytes(), None);
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(c.cmd_raw(&["GET", "gone"]), b"$-1\r\n");
    run(&mut c, "SELECT 5");
    run(&mut c, "SET in5 v");
    run(&mut c, "SWAPDB 5 6");
    run(&mut c, "SELECT 0");
}

fn view(server: &Server) -> Vec<String> {
    snapshot_all(&mut server.client())
}

/// Compares two views, naming the first line that differs (the views are long).
fn assert_same(got: &[String], want: &[String]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "line {i} differs");
    }
    assert_eq!(got.len(), want.len(), "different number of lines");
}

#[test]
fn replay_reproduces_the_dataset() {
    let server = cinnabar_in(fresh_dir(), &["--enable-debug-command", "yes"]);
    workload(&server);
    let before = as_replayed(view(&server));
    assert!(before.len() > 30, "{}", before.len());
    // In place, then after a restart.
    assert_eq!(server.client().cmd_raw(&["DEBUG", "LOADAOF"]), b"+OK\r\n");
    assert_same(&view(&server), &before);
    let dir = server.kill_keep_dir();
    let again = cinnabar_in(dir, &[]);
    assert_same(&view(&again), &before);
}

/// The live view as a replay rebuilds it, Redis's and ours alike: XREADGROUP's entries went
/// out as XCLAIMs, whose LASTID carries the group's last ID but not its entries read, so
/// stream group g1 (read only that way) replays with entries-read unknown
/// (`redis_loads_our_aof_directory` checks that Redis replays our file to the same).
fn as_replayed(mut view: Vec<String>) -> Vec<String> {
    let g1 = view
        .iter_mut()
        .find(|l| l.contains("$4\r\nname\r\n$2\r\ng1\r\n"))
        .expect("group g1 in the view");
    let known = "$12\r\nentries-read\r\n:1\r\n";
    assert!(g1.contains(known), "{g1}");
    *g1 = g1.replace(known, "$12\r\nentries-read\r\n$-1\r\n");
    view
}

fn manifest(dir: &Path) -> (Option<String>, Vec<String>) {
    let text = std::fs::read(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
    cinnabar::persist::aof::describe_manifest(&text).unwrap()
}

fn rewrite_round_trip(preamble: &str) {
    let server = cinnabar_in(fresh_dir(), &["--aof-use-rdb-preamble", preamble]);
    workload(&server);
    let mut c = server.client();
    assert_eq!(
        c.cmd_raw(&["BGREWRITEAOF"]),
        b"+Background append only file rewriting started\r\n"
    );
    // Writes during the rewrite go to the new incr file.
    run(&mut c, "SET during 1");
    wait_rewrite(&mut c);
    run(&mut c, "SET after 1");
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    assert_eq!(info_field(&mut c, "aof_rewrites"), "1");
    let ext = if preamble == "yes" { "rdb" } else { "aof" };
    let (base, incrs) = manifest(&server.dir);
    assert_eq!(
        base.as_deref(),
        Some(format!("appendonly.aof.2.base.{ext}").as_str())
    );
    assert_eq!(incrs, ["appendonly.aof.2.incr.aof"]);
    let files: Vec<String> = std::fs::read_dir(server.dir.join("appendonlydir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 3, "old files are deleted: {files:?}");
    let before = view(&server);
    let dir = server.kill_keep_dir();
    let again = cinnabar_in(dir, &["--aof-use-rdb-preamble", preamble]);
    assert_same(&view(&again), &before);
}

/// aof-timestamp-enabled: `#TS:` lines in the file, skipped on load (by Redis too).
#[test]
fn timestamp_annotations() {
    let server = cinnabar_in(fresh_dir(), &["--aof-timestamp-enabled", "yes"]);
    let mut c = server.client();
    run(&mut c, "SET a 1");
    std::thread::sleep(Duration::from_millis(1100));
    run(&mut c, "SET b 2");
    let text = std::fs::read(server.dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    let marks = text
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"#TS:"))
        .count();
    assert_eq!(marks, 2, "{}", String::from_utf8_lossy(&text));
    // A base written as commands starts with its moment too (the suite's "Generate timestamp
    // annotations in AOF").
    run(&mut c, "CONFIG SET aof-use-rdb-preamble no");
    run(&mut c, "BGREWRITEAOF");
    wait_rewrite(&mut c);
    let base = std::fs::read(server.dir.join("appendonlydir/appendonly.aof.2.base.aof")).unwrap();
    assert!(
        base.starts_with(b"#TS:"),
        "{}",
        String::from_utf8_lossy(&base)
    );
    let dir = server.kill_keep_dir();
    let again = cinnabar_in(dir.clone(), &[]);
    assert_eq!(again.client().cmd(&["DBSIZE"]).as_int(), Some(2));
    let dir = again.kill_keep_dir();
    if let Some(redis) = redis_in(dir) {
        assert_eq!(redis.client().cmd(&["DBSIZE"]).as_int(), Some(2));
    }
}

#[test]
fn bgrewriteaof_with_rdb_preamble() {
    rewrite_round_trip("yes");
}

#[test]
fn bgrewriteaof_as_commands() {
    rewrite_round_trip("no");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Runs the workload with the AOF on in `first`, then loads the AOF directory in `second`
/// and in another `first`: both must see the same dataset.
fn exchange(
    first: impl Fn(PathBuf) -> Option<Server>,
    second: impl Fn(PathBuf) -> Option<Server>,
    rewrite: bool,
) {
    let Some(a) = first(fresh_dir()) else {
        return;
    };
    workload(&a);
    let mut c = a.client();
    if rewrite {
        c.cmd(&["BGREWRITEAOF"]);
        wait_rewrite(&mut c);
        run(&mut c, "SET after-rewrite 1");
    }
    // With appendfsync everysec Redis may hold writes back while a background fsync runs:
    // copy the files only once nothing waits in its AOF buffer.
    common::server::wait_until("the AOF buffer to reach the file", 10, || {
        matches!(
            c.info_field("persistence", "aof_buffer_length").as_str(),
            "0" | ""
        )
    });
    let copy = |a: &Server| {
        let dir = fresh_dir();
        copy_dir(&a.dir.join("appendonlydir"), &dir.join("appendonlydir"));
        dir
    };
    let reloaded = first(copy(&a)).expect("first server again");
    let b = second(copy(&a)).expect("second server");
    assert_same(&view(&b), &view(&reloaded));
}

fn redis_in(dir: PathBuf) -> Option<Server> {
    redis_in_with(dir, &[])
}

/// redis-server with the AOF on and `extra` arguments, working in `dir`.
fn redis_in_with(dir: PathBuf, extra: &[&str]) -> Option<Server> {
    let args = aof_args(extra);
    let probe = oracle(&[])?;
    drop(probe);
    in_dir(dir, |a| {
        let mut all = args.clone();
        all.extend_from_slice(a);
        common::server::oracle(&all)
    })
}

#[test]
fn redis_loads_our_aof_directory() {
    exchange(|d| Some(cinnabar_in(d, &[])), redis_in, false);
    exchange(|d| Some(cinnabar_in(d, &[])), redis_in, true);
}

#[test]
fn we_load_the_aof_directory_of_redis() {
    exchange(redis_in, |d| Some(cinnabar_in(d, &[])), false);
    exchange(redis_in, |d| Some(cinnabar_in(d, &[])), true);
}

/// Starts cinnabar on `dir` expecting it to refuse; returns its log.
fn refused(dir: &Path, extra: &[&str]) -> String {
    refused_by(env!("CARGO_BIN_EXE_cinnabar"), dir, extra)
}

/// Starts `program` (cinnabar or redis-server) on `dir` expecting it to refuse.
fn refused_by(program: &str, dir: &Path, extra: &[&str]) -> String {
    let log = dir.join("log.txt");
    let status = std::process::Command::new(program)
        .args([
            "--port",
            &common::server::free_port().to_string(),
            "--save",
            "",
        ])
        .args(aof_args(extra))
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(&log)
        .status()
        .unwrap();
    assert!(!status.success(), "the server started");
    std::fs::read_to_string(log).unwrap()
}

fn write_legacy_dir(dir: &Path, incr: &[u8]) {
    let d = dir.join("appendonlydir");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("appendonly.aof.manifest"),
        "file appendonly.aof.1.incr.aof seq 1 type i\n",
    )
    .unwrap();
    std::fs::write(d.join("appendonly.aof.1.incr.aof"), incr).unwrap();
}

const TWO_SETS: &[u8] = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n";

#[test]
fn torn_tail_is_dropped_only_when_allowed() {
    // The last command cut in the middle.
    let torn = &TWO_SETS[..TWO_SETS.len() - 4];
    let dir = fresh_dir();
    write_legacy_dir(&dir, torn);
    let log = refused(&dir, &["--aof-load-truncated", "no"]);
    assert!(log.contains("Unexpected end of file"), "{log}");
    let server = cinnabar_in(dir, &[]);
    let mut c = server.client();
    assert_eq!(c.cmd_raw(&["GET", "a"]), b"$1\r\n1\r\n");
    assert_eq!(c.cmd_raw(&["EXISTS", "b"]), b":0\r\n");
    // The file was cut back to the last whole command and takes appends again.
    run(&mut c, "SET c 3");
    let dir = server.kill_keep_dir();
    let again = cinnabar_in(dir, &["--aof-load-truncated", "no"]);
    assert_eq!(
        again.client().cmd_raw(&["MGET", "a", "c"]),
        b"*2\r\n$1\r\n1\r\n$1\r\n3\r\n"
    );

    // A transaction cut short is dropped whole.
    let mut tx = TWO_SETS.to_vec();
    tx.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\n1\r\n");
    let dir = fresh_dir();
    write_legacy_dir(&dir, &tx);
    let server = cinnabar_in(dir, &[]);
    assert_eq!(server.client().cmd_raw(&["EXISTS", "x", "b"]), b":1\r\n");
}

#[test]
fn corrupt_aof_refuses_to_start() {
    let mut bad = TWO_SETS.to_vec();
    bad[16] = b'?';
    let dir = fresh_dir();
    write_legacy_dir(&dir, &bad);
    let log = refused(&dir, &[]);
    assert!(
        log.contains("Bad file format reading the append only file"),
        "{log}"
    );

    let dir = fresh_dir();
    write_legacy_dir(&dir, b"*1\r\n$7\r\nNOSUCHX\r\n");
    let log = refused(&dir, &[]);
    assert!(log.contains("Unknown command 'NOSUCHX'"), "{log}");

    let dir = fresh_dir();
    let d = dir.join("appendonlydir");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("appendonly.aof.manifest"), "file x seq 1 type q\n").unwrap();
    let log = refused(&dir, &[]);
    assert!(log.contains("manifest"), "{log}");
}

#[test]
fn old_single_file_aof_is_loaded_and_moved() {
    let dir = fresh_dir();
    std::fs::write(dir.join("appendonly.aof"), TWO_SETS).unwrap();
    let server = cinnabar_in(dir, &[]);
    let mut c = server.client();
    assert_eq!(
        c.cmd_raw(&["MGET", "a", "b"]),
        b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n"
    );
    run(&mut c, "SET c 3");
    assert!(!server.dir.join("appendonly.aof").exists());
    let (base, _) = manifest(&server.dir);
    assert_eq!(base.as_deref(), Some("appendonly.aof"));
    let dir = server.kill_keep_dir();
    let again = cinnabar_in(dir, &[]);
    assert_eq!(again.client().cmd(&["DBSIZE"]).as_int(), Some(3));
}

#[test]
fn config_set_appendonly_at_runtime() {
    let server = cinnabar(&[]);
    let mut c = server.client();
    run(&mut c, "SET before 1");
    assert_eq!(
        c.cmd_raw(&["CONFIG", "SET", "appendonly", "yes"]),
        b"+OK\r\n"
    );
    wait_rewrite(&mut c);
    assert_eq!(info_field(&mut c, "aof_enabled"), "1");
    run(&mut c, "SET on 1");
    let (base, incrs) = manifest(&server.dir);
    assert!(base.is_some() && incrs.len() == 1, "{base:?} {incrs:?}");
    assert_eq!(
        c.cmd_raw(&["CONFIG", "SET", "appendonly", "no"]),
        b"+OK\r\n"
    );
    run(&mut c, "SET off 1");
    let dir = server.kill_keep_dir();
    let again = cinnabar_in(dir, &[]);
    assert_eq!(
        again.client().cmd_raw(&["MGET", "before", "on", "off"]),
        b"*3\r\n$1\r\n1\r\n$1\r\n1\r\n$-1\r\n"
    );
}

/// appendfsync always: the server is killed with SIGKILL at random moments while a client
/// writes numbered keys; after each restart every acknowledged write is there.
#[test]
fn acknowledged_writes_survive_sigkill() {
    let mut dir = fresh_dir();
    let mut acked = 0u64;
    for round in 0..4 {
        let server = cinnabar_in(dir, &["--appendfsync", "always"]);
        let mut c = server.client();
        // Everything acknowledged before is still there.
        if acked > 0 {
            let last = format!("k:{}", acked - 1);
            assert_eq!(c.cmd_raw(&["EXISTS", &last]), b":1\r\n", "round {round}");
            assert!(c.cmd(&["DBSIZE"]).as_int().unwrap() as u64 >= acked);
        }
        let port = server.port;
        let start = acked;
        let writer = std::thread::spawn(move || {
            let mut c = Client::connect(port).unwrap();
            c.set_timeout(Duration::from_secs(5));
            let mut n = start;
            loop {
                let key = format!("k:{n}");
                c.send(&["SET", key.as_str(), "v"]);
                match c.read_raw() {
                    Ok(r) if r == b"+OK\r\n" => n += 1,
                    _ => return n,
                }
            }
        });
        let wait = 100 + (round * 37) % 150;
        std::thread::sleep(Duration::from_millis(wait));
        dir = server.kill_keep_dir();
        acked = writer.join().unwrap();
        assert!(acked > start, "round {round}: no write was acknowledged");
    }
    let server = cinnabar_in(dir, &[]);
    let mut c = server.client();
    for i in 0..acked {
        let key = format!("k:{i}");
        assert_eq!(
            c.cmd_raw(&["EXISTS", &key]),
            b":1\r\n",
            "{key} of {acked} lost"
        );
    }
}

/// The commands of a server's first incr file, with timestamps (ms since the epoch) replaced by
/// `<ms>`, and stream IDs made of one by `<id>` (how many IDs share a millisecond depends on
/// timing).
fn propagated(dir: &Path) -> Vec<String> {
    let bytes = std::fs::read(dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    let mut out = Vec::new();
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        let (frame, used) = cinnabar::resp::frame::decode(rest).unwrap().unwrap();
        rest = &rest[used..];
        let words: Vec<String> = frame
            .items()
            .unwrap()
            .iter()
            .map(|f| {
                let w = String::from_utf8_lossy(f.as_bytes().unwrap()).into_owned();
                let (ms, seq) = w.split_once('-').unwrap_or((&w, ""));
                match ms.parse::<u64>() {
                    Ok(n)
                        if n >= 1_000_000_000_000
                            && (seq.is_empty() || seq.parse::<u64>().is_ok()) =>
                    {
                        if seq.is_empty() {
                            "<ms>".into()
                        } else {
                            "<id>".into()
                        }
                    }
                    _ => w,
                }
            })
            .collect();
        out.push(words.join(" "));
    }
    out
}

/// The same commands sent to redis-server and to cinnabar leave the same commands in their
/// AOFs (after the timestamps): relative TTLs, pops, blocking commands, stream trims and
/// claims, scripts, transactions, expiry.
#[test]
fn propagation_matches_redis() {
    let Some(redis) = redis_in(fresh_dir()) else {
        return;
    };
    let ours = cinnabar_in(fresh_dir(), &[]);
    let lines = [
        "SET a 1",
        "SET b 2 EX 100",
        "SET b 2 PX 100000 GET",
        "SET b 3 EXAT 99999999999",
        "SET b 4 PXAT 99999999999000 NX",
        "SET b2 4 pxat 99999999999000",
        "PUBLISH channel only-for-replicas",
        "SET b2 5 PXAT 99999999999000 GET",
        "SET b 5 KEEPTTL",
        "SETEX c 100 v",
        "PSETEX d 100000 v",
        "SETNX a 2",
        "EXPIRE a 1000",
        "PEXPIRE a 1000000 XX",
        "EXPIREAT a 99999999999",
        "EXPIRE a 100 NX",
        "EXPIREAT a 1",
        "SET g 1",
        "GETEX g EX 10",
        "GETEX g PERSIST",
        "GETEX g PXAT 1",
        "SET g 1",
        "GETDEL g",
        "INCRBYFLOAT f 1.5",
        "INCRBYFLOAT f 0.25",
        "HINCRBYFLOAT h x 2.5",
        "SADD s1 only",
        "SPOP s1",
        "SADD s2 a b c",
        "SPOP s2 5",
        "RPUSH l a b c d e f",
        "LPOP l",
        "LPOP l 2",
        "LMPOP 2 nol l RIGHT COUNT 5",
        "RPUSH l a b c",
        "BLPOP l 0",
        "BRPOP l 0",
        "BLMPOP 0 1 l LEFT COUNT 3",
        "RPUSH l a b c",
        "BLMOVE l l2 LEFT RIGHT 0",
        "BRPOPLPUSH l l2 0",
        "LMOVE l2 l LEFT LEFT",
        "ZADD z 1 a 2 b 3 c 4 d 5 e",
        "ZPOPMIN z",
        "ZMPOP 1 z MAX COUNT 2",
        "BZPOPMIN z 0",
        "BZMPOP 0 1 z MIN COUNT 9",
        "ZINCRBY z2 1.5 m",
        "XADD x 1-1 a 1",
        "XADD x 2-* a 2",
        "XADD x * a 3",
        "XADD x MAXLEN ~ 1 * a 4",
        "XADD x MAXLEN 3 * a 5",
        "XTRIM x MAXLEN ~ 0",
        "XTRIM x MINID 0",
        "XGROUP CREATE x g 0",
        "XGROUP CREATE y g $ MKSTREAM",
        "XCLAIM x g c1 0 1-1 FORCE",
        "XAUTOCLAIM x g c2 0 0",
        "XACK x g 1-1",
        "XGROUP CREATECONSUMER x g c3",
        "XGROUP DELCONSUMER x g c3",
        "XGROUP SETID x g 0",
        "XDEL x 1-1",
        "XSETID y 5-5",
        "XGROUP DESTROY x g",
        "EVAL redis.call('set','e1','1') 0",
        "EVAL redis.call('set','e2','1');redis.call('incr','e2');redis.call('expire','e2',100) 0",
        "EVAL return#redis.call('get','a') 0",
        "MULTI",
        "SET m1 1",
        "EXEC",
        "MULTI",
        "SET m1 2",
        "SELECT 3",
        "SET m2 2",
        "EXEC",
        "SET in3 1",
        "SELECT 0",
        "MOVE a 4",
        "COPY b b2",
        "RENAME b2 b3",
        "SWAPDB 0 5",
        "SWAPDB 0 5",
        "PFADD hll a b c",
        "PFCOUNT hll",
        "SET gone 1 PX 1",
        "SLEEP",
        "GET gone",
        "HSETNX h x 1",
        "DEL nothing",
        "FLUSHDB",
        "SET after 1",
        "FLUSHALL",
    ];
    for server in [&redis, &ours] {
        let mut c = server.client();
        for line in lines {
            if line == "SLEEP" {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            c.cmd_raw(&line.split(' ').collect::<Vec<_>>());
        }
        // A pop served after blocking.
        let mut waiter = server.client();
        waiter.send(&["BLPOP", "bl", "0"]);
        std::thread::sleep(Duration::from_millis(100));
        c.cmd_raw(&["RPUSH", "bl", "1", "2"]);
        waiter.read();
        c.send(&["SHUTDOWN", "NOSAVE"]);
        c.read_to_close();
    }
    let want = propagated(&redis.dir);
    let got = propagated(&ours.dir);
    assert!(want.len() > 80, "{}", want.len());
    assert_same(&got, &want);
}

/// auto-aof-rewrite-percentage / min-size: the AOF rewrites itself once it has grown enough.
#[test]
fn automatic_rewrite_on_growth() {
    let server = cinnabar_in(
        fresh_dir(),
        &[
            "--auto-aof-rewrite-min-size",
            "100000",
            "--auto-aof-rewrite-percentage",
            "100",
        ],
    );
    let mut c = server.client();
    let value = "x".repeat(1000);
    for i in 0..50 {
        run(&mut c, &format!("SET k{i} {value}"));
    }
    // 50 KB: under the minimum size.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(info_field(&mut c, "aof_rewrites"), "0");
    for i in 0..100 {
        run(&mut c, &format!("SET k{i} {value}"));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut c, "aof_rewrites") != "1" {
        assert!(Instant::now() < deadline, "no automatic rewrite");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The new base holds the 100 keys (LZF-compressed), far less than the 150 writes.
    let base: u64 = info_field(&mut c, "aof_base_size").parse().unwrap();
    assert!(base > 1000 && base < 50_000, "{base}");
    let dir = server.kill_keep_dir();
    let again = cinnabar_in(dir, &[]);
    assert_eq!(again.client().cmd(&["DBSIZE"]).as_int(), Some(100));
}

/// An old single-file AOF that starts with an RDB preamble (Redis 4 to 6) and goes on with
/// commands.
#[test]
fn old_aof_with_rdb_preamble() {
    let source = cinnabar(&[]);
    let mut c = source.client();
    fill(&mut c);
    run(&mut c, "SAVE");
    let mut file = std::fs::read(source.dir.join("dump.rdb")).unwrap();
    file.extend_from_slice(TWO_SETS);
    let dir = fresh_dir();
    std::fs::write(dir.join("appendonly.aof"), &file).unwrap();
    run(&mut c, "MSET a 1 b 2");
    let server = cinnabar_in(dir, &[]);
    assert_same(&view(&server), &view(&source));
}

/// WAITAOF (Redis 7.2): waits until the AOF is synced past the client's last write.
#[test]
fn waitaof_waits_for_the_sync() {
    let off = cinnabar(&[]);
    let mut c = off.client();
    assert_eq!(
        c.cmd_raw(&["WAITAOF", "1", "0", "0"]),
        b"-ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.\r\n"
    );
    assert_eq!(
        c.cmd_raw(&["WAITAOF", "0", "0", "0"]),
        b"*2\r\n:0\r\n:0\r\n"
    );
    assert_eq!(
        c.cmd_raw(&["WAITAOF", "2", "0", "0"]),
        b"-ERR value is out of range, value must between 0 and 1\r\n"
    );
    assert_eq!(
        c.cmd_raw(&["WAITAOF", "0", "-1", "0"]),
        b"-ERR value is out of range, must be positive\r\n"
    );
    // No replica can answer: the timeout ends the wait.
    let start = Instant::now();
    assert_eq!(
        c.cmd_raw(&["WAITAOF", "0", "1", "100"]),
        b"*2\r\n:0\r\n:0\r\n"
    );
    assert!(start.elapsed() >= Duration::from_millis(80));

    let everysec = cinnabar_in(fresh_dir(), &[]);
    let mut c = everysec.client();
    run(&mut c, "SET k v");
    let start = Instant::now();
    assert_eq!(
        c.cmd_raw(&["WAITAOF", "1", "0", "0"]),
        b"*2\r\n:1\r\n:0\r\n"
    );
    assert!(start.elapsed() < Duration::from_millis(2500));
    // Inside MULTI it does not block.
    for line in ["MULTI", "SET k2 v", "WAITAOF 1 0 0"] {
        c.cmd_raw(&line.split(' ').collect::<Vec<_>>());
    }
    let r = c.cmd_raw(&["EXEC"]);
    assert!(
        r.starts_with(b"*2\r\n+OK\r\n*2\r\n:"),
        "{}",
        String::from_utf8_lossy(&r)
    );
    // Waiting for a replica ends with the timeout; by then the second's sync has run.
    assert_eq!(
        c.cmd_raw(&["WAITAOF", "1", "1", "2000"]),
        b"*2\r\n:1\r\n:0\r\n"
    );

    let always = cinnabar_in(fresh_dir(), &["--appendfsync", "always"]);
    let mut c = always.client();
    run(&mut c, "SET k v");
    assert_eq!(
        c.cmd_raw(&["WAITAOF", "1", "0", "0"]),
        b"*2\r\n:1\r\n:0\r\n"
    );
}

/// An approximate trim with LIMIT reaches the AOF as the exact outcome (`MAXLEN = n`, LIMIT
/// kept as written); replaying it ignores the LIMIT, as Redis does for commands it must obey,
/// so the reloaded stream has the same length whatever the node size now.
#[test]
fn limited_trim_replays_exactly() {
    let server = cinnabar_in(
        fresh_dir(),
        &[
            "--stream-node-max-entries",
            "10",
            "--enable-debug-command",
            "yes",
        ],
    );
    let mut c = server.client();
    for _ in 0..100 {
        run(&mut c, "XADD s * f v");
    }
    run(&mut c, "XADD s MAXLEN ~ 55 LIMIT 30 * f v");
    assert_eq!(c.cmd_raw(&["XLEN", "s"]), b":71\r\n");
    run(&mut c, "CONFIG SET stream-node-max-entries 1");
    run(&mut c, "DEBUG LOADAOF");
    assert_eq!(c.cmd_raw(&["XLEN", "s"]), b":71\r\n");
}

/// Inside EXEC, BGREWRITEAOF and CONFIG SET appendonly yes only schedule the rewrite, which
/// starts after the transaction (Redis's in_exec); both servers answer the same and fork.
#[test]
fn rewrites_asked_for_inside_a_transaction_start_after_it() {
    let check = |server: Server| {
        let mut c = server.client();
        let forks =
            |c: &mut Client| -> u64 { c.info_field("stats", "total_forks").parse().unwrap() };
        let mut replies = Vec::new();
        for step in ["BGREWRITEAOF", "CONFIG SET appendonly yes"] {
            if step.starts_with("CONFIG") {
                c.ok("CONFIG SET appendonly no");
            }
            let before = forks(&mut c);
            c.ok("MULTI");
            c.ok("SET foo bar");
            c.ok(step);
            replies.push(c.cmd_raw(&["EXEC"]));
            common::server::wait_until("the rewrite's fork", 10, || forks(&mut c) > before);
            wait_rewrite(&mut c);
        }
        replies
    };
    let dir = common::server::fresh_dir();
    let ours = check(cinnabar_in(dir, &[]));
    assert_eq!(
        String::from_utf8_lossy(&ours[0]),
        "*2\r\n+OK\r\n+Background append only file rewriting scheduled\r\n"
    );
    if let Some(redis) = redis_in(common::server::fresh_dir()) {
        assert_eq!(ours, check(redis));
    }
}

/// DEBUG LOADAOF on a read-only replica replays the AOF as written: its writes (FUNCTION
/// LOAD, DELETE, FLUSH) are obeyed, not refused with READONLY, on both servers.
#[test]
fn a_read_only_replica_replays_its_aof_as_written() {
    let check = |server: Server| {
        let mut c = server.client();
        wait_rewrite(&mut c);
        let load =
            "#!lua name=test\nredis.register_function('test', function() return 'hello' end)";
        let mut lists = Vec::new();
        for change in ["LOAD", "DELETE", "RELOAD-AND-FLUSH"] {
            match change {
                "LOAD" => assert_eq!(c.cmd_raw(&["FUNCTION", "LOAD", load]), b"$4\r\ntest\r\n"),
                "DELETE" => {
                    c.ok("FUNCTION DELETE test");
                }
                _ => {
                    c.cmd_raw(&["FUNCTION", "LOAD", load]);
                    c.ok("FUNCTION FLUSH");
                }
            }
            c.ok("CONFIG SET slave-read-only yes");
            c.ok("SLAVEOF 127.0.0.1 0");
            c.ok("DEBUG LOADAOF");
            c.ok("SLAVEOF NO ONE");
            lists.push(c.cmd_raw(&["FUNCTION", "LIST"]));
        }
        assert!(lists[0].starts_with(b"*1\r\n"), "{:?}", lists[0]);
        lists
    };
    let debug = ["--enable-debug-command", "yes"];
    let ours = check(cinnabar_in(common::server::fresh_dir(), &debug));
    if let Some(redis) = redis_in_with(common::server::fresh_dir(), &debug) {
        assert_eq!(ours, check(redis));
    }
}

/// Manifests Redis refuses, each with its report: the same lines from both servers (the
/// manifest cases of Redis's integration/aof-multi-part).
#[test]
fn broken_manifests_are_refused_with_redis_report() {
    let long_line = "file appendonly.aof.1.base.aof seq 1 type b ".repeat(30) + "\n";
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "a named file missing",
            "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.2.incr.aof seq 2 type i\n".into(),
            &["appendonly.aof.1.base.aof", "appendonly.aof.2.incr.aof"],
        ),
        (
            "a blank line",
            "file appendonly.aof.1.incr.aof seq 1 type i\n\nfile appendonly.aof.3.incr.aof seq 3 type i\n".into(),
            &["appendonly.aof.1.incr.aof", "appendonly.aof.3.incr.aof"],
        ),
        (
            "a key misspelt",
            "filx appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n".into(),
            &["appendonly.aof.1.base.aof", "appendonly.aof.1.incr.aof"],
        ),
        (
            "a key missing",
            "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof type i\n".into(),
            &["appendonly.aof.1.base.aof", "appendonly.aof.1.incr.aof"],
        ),
        (
            "a line over 1024 bytes",
            long_line + "file appendonly.aof.1.incr.aof seq 1 type i\n",
            &["appendonly.aof.1.base.aof", "appendonly.aof.1.incr.aof"],
        ),
        (
            "an odd word",
            "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i newkey\n".into(),
            &["appendonly.aof.1.base.aof", "appendonly.aof.1.incr.aof"],
        ),
        (
            "no newline at the end",
            "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i".into(),
            &["appendonly.aof.1.base.aof", "appendonly.aof.1.incr.aof"],
        ),
        (
            "sequence going down",
            "file appendonly.aof.2.incr.aof seq 2 type i\nfile appendonly.aof.1.incr.aof seq 1 type i\n".into(),
            &["appendonly.aof.1.incr.aof", "appendonly.aof.2.incr.aof"],
        ),
    ];
    let report = |log: &str| -> Vec<String> {
        log.lines()
            .map(|l| match l.find(" # ").or_else(|| l.find(" * ")) {
                Some(i) if l[..i].contains(':') => l[i + 3..].to_string(),
                _ => l.to_string(),
            })
            .filter(|l| {
                [
                    "FATAL AOF MANIFEST",
                    "Reading the manifest",
                    ">>> ",
                    "Invalid AOF manifest",
                    "too long line",
                    "Unable to obtain",
                    "non-monotonic",
                ]
                .iter()
                .any(|m| l.contains(m))
            })
            .collect()
    };
    let redis = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let have_redis = oracle(&[]).is_some();
    for (what, manifest, files) in &cases {
        let mut reports = Vec::new();
        for program in [env!("CARGO_BIN_EXE_cinnabar"), redis.as_str()] {
            if program == redis && !have_redis {
                continue;
            }
            let dir = fresh_dir();
            let d = dir.join("appendonlydir");
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("appendonly.aof.manifest"), manifest).unwrap();
            for f in *files {
                std::fs::write(d.join(f), TWO_SETS).unwrap();
            }
            let r = report(&refused_by(program, &dir, &[]));
            assert!(!r.is_empty(), "{what}: {program} gave no report");
            reports.push(r);
            let _ = std::fs::remove_dir_all(&dir);
        }
        if let [ours, theirs] = &reports[..] {
            assert_eq!(ours, theirs, "{what}");
        }
    }
}

/// An upgrade from a single-file AOF that stopped after writing the manifest but before
/// moving the file is finished at the next start, as Redis does.
#[test]
fn an_interrupted_upgrade_is_finished() {
    type Start = fn(PathBuf) -> Option<Server>;
    let starts: [(&str, Start); 2] = [
        ("cinnabar", |d| Some(cinnabar_in(d, &[]))),
        ("redis", redis_in),
    ];
    for (who, start) in starts {
        let dir = fresh_dir();
        std::fs::write(dir.join("appendonly.aof"), TWO_SETS).unwrap();
        let d = dir.join("appendonlydir");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("appendonly.aof.manifest"),
            "file appendonly.aof seq 1 type b\n",
        )
        .unwrap();
        let Some(server) = start(dir.clone()) else {
            continue;
        };
        let mut c = server.client();
        assert_eq!(c.cmd_raw(&["GET", "b"]), b"$1\r\n2\r\n", "{who}");
        assert!(!dir.join("appendonly.aof").exists(), "{who}");
        assert!(d.join("appendonly.aof").exists(), "{who}");
        assert_eq!(
            std::fs::read_to_string(d.join("appendonly.aof.manifest")).unwrap(),
            "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n",
            "{who}"
        );
    }
}

/// The manifest text after each step, on a server started in a fresh directory with `args`.
fn manifest_history(
    start: impl Fn(&[String]) -> Option<Server>,
    args: &[&str],
) -> Option<Vec<String>> {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.extend(["--enable-debug-command", "yes"].map(String::from));
    let server = in_dir(fresh_dir(), |a| {
        let mut v = all.clone();
        v.extend_from_slice(a);
        start(&v)
    })?;
    let mut c = server.client();
    let name = args
        .windows(2)
        .find(|w| w[0] == "--appendfilename")
        .map_or("appendonly.aof", |w| w[1]);
    let path = server
        .dir
        .join("appendonlydir")
        .join(format!("{name}.manifest"));
    let mut seen = Vec::new();
    let mut step = |c: &mut Client, lines: &[&str]| {
        for line in lines {
            c.ok(line);
            wait_rewrite(c);
        }
        // History files are removed in the background in Redis: give them a moment.
        std::thread::sleep(Duration::from_millis(100));
        let text = std::fs::read(&path).map_or_else(
            |_| "(none)".into(),
            |t| String::from_utf8_lossy(&t).into_owned(),
        );
        let mut files: Vec<String> = std::fs::read_dir(path.parent().unwrap())
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        seen.push(format!("after {lines:?}:\n{text}files: {files:?}"));
    };
    step(&mut c, &["SET k v", "BGREWRITEAOF", "SET k2 v"]);
    step(&mut c, &["CONFIG SET appendonly no", "BGREWRITEAOF"]);
    step(&mut c, &["DEBUG LOADAOF", "CONFIG SET appendonly yes"]);
    step(
        &mut c,
        &[
            "CONFIG SET aof-disable-auto-gc yes",
            "BGREWRITEAOF",
            "SET k3 v",
            "BGREWRITEAOF",
        ],
    );
    step(&mut c, &["CONFIG SET aof-disable-auto-gc no"]);
    step(&mut c, &["DEBUG LOADAOF", "BGREWRITEAOF"]);
    assert_eq!(c.cmd_raw(&["GET", "k3"]), b"$1\r\nv\r\n");
    Some(seen)
}

/// Which files make the AOF after rewrites with the AOF on and off, DEBUG LOADAOF, turning
/// it on at run time and keeping history (aof-disable-auto-gc): the same manifests and files
/// as redis-server's, sequence numbers included. A file name with spaces and newlines is
/// quoted in the manifest as Redis quotes it.
#[test]
fn manifests_follow_redis_through_rewrites() {
    for args in [
        &["--appendonly", "yes"][..],
        &[
            "--appendonly",
            "yes",
            "--appendfilename",
            " file seq \n\n.aof ",
        ][..],
    ] {
        let ours = manifest_history(|a| Some(cinnabar(a)), args).unwrap();
        assert!(ours.len() == 6, "every step ran");
        if let Some(theirs) = manifest_history(oracle, args) {
            assert_eq!(ours, theirs);
        }
    }
}
