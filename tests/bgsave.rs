//! BGSAVE: a forked child writes a snapshot while the server keeps serving; a failed save
//! stops writes with MISCONF (stop-writes-on-bgsave-error), compared with redis-server.

mod common;

use std::time::{Duration, Instant};

use common::client::Client;
use common::server::{cinnabar, oracle, with_dump, Server};

fn info_field(c: &mut Client, field: &str) -> String {
    c.persistence_field(field)
}

fn wait_bgsave(c: &mut Client) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(c, "rdb_bgsave_in_progress") != "0" {
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bgsave_snapshot_loads_and_writes_continue_meanwhile() {
    let server = cinnabar(&[]);
    let mut c = server.client();
    let mut batch = Vec::new();
    for i in 0..20000 {
        batch.extend_from_slice(format!("SET key:{i} value:{i}\r\n").as_bytes());
    }
    c.send_raw(&batch).unwrap();
    for _ in 0..20000 {
        c.read();
    }
    assert_eq!(c.cmd_raw(&["BGSAVE"]), b"+Background saving started\r\n");
    // The parent keeps answering (and writing) while the child saves.
    assert_eq!(c.cmd_raw(&["SET", "after", "1"]), b"+OK\r\n");
    wait_bgsave(&mut c);
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert_eq!(info_field(&mut c, "rdb_saves"), "1");
    // The write made during the save is still unsaved.
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "1");
    let again = with_dump(&server.dir.join("dump.rdb"), |a| Some(cinnabar(a))).unwrap();
    let mut a = again.client();
    assert_eq!(a.cmd(&["DBSIZE"]).as_int(), Some(20000));
    assert_eq!(a.cmd_raw(&["GET", "key:777"]), b"$9\r\nvalue:777\r\n");
}

/// What a client sees when a BGSAVE fails (the target is a directory, so the rename fails).
fn failed_save(server: &Server) -> Vec<Vec<u8>> {
    std::fs::create_dir_all(server.dir.join("dump.rdb")).unwrap();
    let mut c = server.client();
    c.cmd(&["SET", "k", "v"]);
    let mut seen = vec![c.cmd_raw(&["BGSAVE"])];
    wait_bgsave(&mut c);
    seen.push(info_field(&mut c, "rdb_last_bgsave_status").into_bytes());
    seen.push(c.cmd_raw(&["SET", "k", "v2"]));
    seen.push(c.cmd_raw(&["PING"]));
    seen.push(c.cmd_raw(&["GET", "k"]));
    seen.push(c.cmd_raw(&["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"]));
    seen.push(c.cmd_raw(&["SET", "k", "v3"]));
    seen
}

#[test]
fn failed_bgsave_stops_writes_with_misconf() {
    let args = ["--save".to_string(), "3600 1".to_string()];
    let ours = failed_save(&cinnabar(&args));
    assert_eq!(ours[1], b"err");
    assert!(ours[2].starts_with(b"-MISCONF"));
    if let Some(theirs) = oracle(&args) {
        assert_eq!(ours, failed_save(&theirs));
    }
}

/// `redis-cli --rdb` (REPLCONF capa eof, REPLCONF rdb-only 1, SYNC) gets a dump that
/// redis-server and cinnabar both load.
#[test]
fn redis_cli_rdb_backup_loads_in_both() {
    if std::process::Command::new("redis-cli")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").is_err(),
            "redis-cli is required under CI"
        );
        return;
    }
    let server = cinnabar(&[]);
    let mut c = server.client();
    common::dataset::fill(&mut c);
    let expected = common::dataset::snapshot_all(&mut c);
    let file = server.dir.join("backup.rdb");
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &server.port.to_string(), "--rdb"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = with_dump(&file, |a| Some(cinnabar(a))).unwrap();
    assert_eq!(common::dataset::snapshot_all(&mut ours.client()), expected);
    if oracle(&[]).is_some() {
        let theirs = with_dump(&file, oracle).expect("redis-server loads the backup");
        assert_eq!(
            common::dataset::snapshot_all(&mut theirs.client()),
            expected
        );
    }
}

/// With save points, FLUSHALL saves the empty dataset at once (a restart must not bring the
/// flushed keys back), as Redis's flushAllDataAndResetRDB does.
#[test]
fn flushall_with_save_points_saves_the_empty_dataset() {
    let run = |server: &Server| {
        let mut c = server.client();
        c.cmd(&["SET", "a", "1"]);
        c.cmd(&["SAVE"]);
        let flush = c.cmd_raw(&["FLUSHALL"]);
        let changes = info_field(&mut c, "rdb_changes_since_last_save");
        let file = std::fs::read(server.dir.join("dump.rdb")).unwrap();
        // The saved file holds no keys: no SELECTDB opcode (0xFE) after the aux fields.
        let has_db = file.windows(2).any(|w| w == [0xFE, 0x00]);
        (flush, changes, has_db)
    };
    let args = ["--save".to_string(), "3600 1".to_string()];
    let ours = run(&cinnabar(&args));
    assert_eq!(ours, (b"+OK\r\n".to_vec(), "0".to_string(), false));
    if let Some(theirs) = oracle(&args) {
        assert_eq!(ours, run(&theirs));
    }
}

/// The BGSAVE child of `server` (from /proc: the server's only child process).
fn child_of(server: &Server) -> Option<i32> {
    let pid = server.child.id();
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

/// The table sizes DEBUG HTSTATS reports for `db` (the main table's, then the rehashing
/// target's while a rehash runs).
fn table_sizes(c: &mut Client, db: &str) -> Vec<u64> {
    let stats = String::from_utf8_lossy(&c.cmd_raw(&["DEBUG", "HTSTATS", db])).into_owned();
    stats
        .lines()
        .filter_map(|l| l.trim().strip_prefix("table size: ")?.parse().ok())
        .collect()
}

/// While a fork child shares the parent's pages, hash tables do not resize (a rehash would
/// copy every page it touches); once it is gone they do (Redis's updateDictResizePolicy,
/// the suite's "Don't rehash if redis has child process"). DEBUG HTSTATS shows it, on both
/// servers, with the same text around the numbers.
#[test]
fn tables_do_not_resize_while_a_child_runs() {
    let check = |server: Server| {
        let mut c = server.client();
        assert_eq!(
            c.cmd_raw(&["DEBUG", "HTSTATS", "99"]),
            b"-ERR Out of range database\r\n"
        );
        let empty =
            "Hash table 0 stats (main hash table):\nNo stats available for empty dictionaries\n";
        let text = format!("[Dictionary HT]\n{empty}[Expires HT]\n{empty}");
        assert_eq!(
            String::from_utf8_lossy(&c.cmd_raw(&["DEBUG", "HTSTATS", "1"])),
            format!("${}\r\n{text}\r\n", text.len())
        );
        c.ok("SET str v");
        assert_eq!(
            c.cmd_raw(&["DEBUG", "HTSTATS-KEY", "str"]),
            b"-ERR The value stored at the specified key is not represented using an hash table\r\n"
        );
        assert_eq!(
            c.cmd_raw(&["DEBUG", "HTSTATS-KEY", "nokey"]),
            b"-ERR no such key\r\n"
        );
        c.ok("SELECT 9");
        c.ok("DEBUG POPULATE 4096 key 1");
        assert_eq!(table_sizes(&mut c, "9")[..1], [4096]);
        c.ok("CONFIG SET rdb-key-save-delay 1000000");
        c.ok("BGSAVE");
        let mut child = None;
        common::server::wait_until("the BGSAVE child", 10, || {
            child = child_of(&server);
            child.is_some()
        });
        c.ok("MSET k1 v1 k2 v2");
        assert!(!table_sizes(&mut c, "9").contains(&8192), "no resize");
        // SAFETY: a signal to the server's own child, which this test made it start.
        unsafe { libc::kill(child.expect("child"), libc::SIGKILL) };
        common::server::wait_until("the child's end", 10, || {
            info_field(&mut c, "rdb_bgsave_in_progress") == "0"
        });
        c.ok("SET k3 v3");
        assert!(table_sizes(&mut c, "9").contains(&8192), "resized");
    };
    let debug = ["--enable-debug-command".to_string(), "yes".to_string()];
    check(cinnabar(&debug));
    if let Some(redis) = oracle(&debug) {
        check(redis);
    }
}

/// INFO persistence during a BGSAVE: the child reports the keys it saved and its
/// copy-on-write about once a second (current_save_keys_*, current_fork_perc,
/// current_cow_*), and the fields go back to zero when it ends. Checked on redis-server too.
fn child_progress_is_reported(server: &Server) {
    let mut c = server.client();
    let mut batch = Vec::new();
    for i in 0..3000 {
        batch.extend_from_slice(format!("SET key:{i} {}\r\n", "v".repeat(500)).as_bytes());
    }
    c.send_raw(&batch).unwrap();
    for _ in 0..3000 {
        c.read();
    }
    c.ok("CONFIG SET rdb-key-save-delay 1000");
    assert_eq!(c.cmd_raw(&["BGSAVE"]), b"+Background saving started\r\n");
    assert_eq!(info_field(&mut c, "current_save_keys_total"), "3000");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let processed: u64 = info_field(&mut c, "current_save_keys_processed")
            .parse()
            .unwrap();
        let perc: f64 = info_field(&mut c, "current_fork_perc").parse().unwrap();
        if processed > 0 {
            assert!(
                processed <= 3000 && perc > 0.0 && perc <= 100.0,
                "{processed} {perc}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no progress reported");
        std::thread::sleep(Duration::from_millis(50));
    }
    c.ok("CONFIG SET rdb-key-save-delay 0");
    wait_bgsave(&mut c);
    for field in [
        "current_save_keys_processed",
        "current_save_keys_total",
        "current_cow_size",
    ] {
        assert_eq!(info_field(&mut c, field), "0", "{field}");
    }
    assert_eq!(info_field(&mut c, "current_fork_perc"), "0.00");
}

#[test]
fn bgsave_child_reports_its_progress() {
    child_progress_is_reported(&cinnabar(&[]));
    if let Some(theirs) = oracle(&[]) {
        child_progress_is_reported(&theirs);
    }
}
