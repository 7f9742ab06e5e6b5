//! redis-sentinel (Debian's, the same 7.0.15) manages cinnabar nodes as it manages Redis: it
//! discovers the replicas from INFO, sees the master die, promotes a replica (REPLICAOF NO ONE
//! in its MULTI with CONFIG REWRITE and CLIENT KILL), moves the other replica to it, and turns
//! the old master into a replica when it comes back. No data written before the failover is
//! lost, and both replicas end equal to the new master.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::client::Client;
use common::dataset::{as_replicated, fill, snapshot_all};
use common::server::{cinnabar, free_port, Server};

struct Sentinel {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts redis-sentinel watching `master`; None (outside CI) when it is not installed.
fn sentinel(master: &Server) -> Option<Sentinel> {
    let program = std::env::var("REDIS_SENTINEL").unwrap_or_else(|_| "redis-sentinel".into());
    let port = free_port();
    let dir = common::server::fresh_dir();
    let conf = dir.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nlogfile {}/sentinel.log\n\
             sentinel monitor mymaster 127.0.0.1 {} 1\n\
             sentinel down-after-milliseconds mymaster 1500\n\
             sentinel failover-timeout mymaster 4000\n\
             sentinel parallel-syncs mymaster 2\n",
            dir.display(),
            dir.display(),
            master.port
        ),
    )
    .expect("sentinel.conf");
    let child = Command::new(&program)
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        assert!(
            std::env::var("CI").is_err(),
            "redis-sentinel ({program}) is required under CI"
        );
        eprintln!("redis-sentinel not installed: skipping");
        return None;
    };
    let s = Sentinel { child, port, dir };
    wait_until("sentinel to listen", || Client::connect(port).is_ok());
    Some(s)
}

fn wait_until(what: &str, check: impl FnMut() -> bool) {
    common::server::wait_until(what, 40, check);
}

fn master_addr(s: &mut Client) -> String {
    let r = s.cmd_raw(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"]);
    String::from_utf8_lossy(&r).into_owned()
}

/// A field of INFO replication, None when the connection is cut: Sentinel's reconfiguration
/// ends with CLIENT KILL TYPE normal, which may close a checking client at any moment (on
/// Redis as on cinnabar).
fn field(server: &Server, name: &str) -> Option<String> {
    let mut c = Client::connect(server.port).ok()?;
    c.send(&["INFO", "replication"]);
    let raw = c.read_raw().ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    Some(
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
            .unwrap_or_default(),
    )
}

fn in_sync(master: &Server, replica: &Server) -> bool {
    let offset = |s: &Server, name: &str| field(s, name).and_then(|v| v.parse::<u64>().ok());
    field(replica, "master_link_status").as_deref() == Some("up")
        && offset(replica, "slave_repl_offset")
            .zip(offset(master, "master_repl_offset"))
            .is_some_and(|(have, want)| have >= want)
}

#[test]
fn sentinel_fails_over_cinnabar_nodes() {
    let master = cinnabar(&["--repl-diskless-sync-delay".into(), "0".into()]);
    let replica_args = |m: &Server| {
        vec![
            "--replicaof".to_string(),
            "127.0.0.1".into(),
            m.port.to_string(),
            "--repl-diskless-sync-delay".into(),
            "0".into(),
        ]
    };
    let a = cinnabar(&replica_args(&master));
    let b = cinnabar(&replica_args(&master));
    let mut m = master.client();
    fill(&mut m);
    wait_until("replicas in sync", || {
        in_sync(&master, &a) && in_sync(&master, &b)
    });
    let Some(s) = sentinel(&master) else {
        return;
    };
    let mut sc = Client::connect(s.port).expect("sentinel");
    // Sentinel learns the replicas from the master's INFO.
    wait_until("sentinel to see both replicas", || {
        let r = sc.cmd_raw(&["SENTINEL", "REPLICAS", "mymaster"]);
        r.starts_with(b"*2\r\n")
    });
    let before = as_replicated(&snapshot_all(&mut m));
    let old_port = master.port;
    let old_dir = master.kill_keep_dir();
    wait_until("the failover", || {
        !master_addr(&mut sc).contains(&format!("\r\n{old_port}\r\n"))
    });
    let addr = master_addr(&mut sc);
    let (promoted, other) = if addr.contains(&format!("\r\n{}\r\n", a.port)) {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let mut p = promoted.client();
    assert_eq!(p.info_field("replication", "role"), "master");
    assert_eq!(
        as_replicated(&snapshot_all(&mut p)),
        before,
        "nothing written is lost"
    );
    p.ok("SET after-failover 1");
    // The other replica follows the new master.
    wait_until("the other replica to follow", || {
        field(other, "master_port") == Some(promoted.port.to_string()) && in_sync(promoted, other)
    });
    assert_eq!(
        as_replicated(&snapshot_all(&mut other.client())),
        as_replicated(&snapshot_all(&mut p))
    );
    // The old master comes back on its port and is turned into a replica.
    let back = common::server::in_dir(old_dir, |extra| {
        common::server::cinnabar_at(old_port, extra)
    });
    let Some(back) = back else {
        // The port was taken meanwhile: the failover itself was checked.
        return;
    };
    // Whoever Sentinel names as master now (it may have moved again), the old master follows.
    let current = |sc: &mut Client| -> Option<&Server> {
        let addr = master_addr(sc);
        [&a, &b]
            .into_iter()
            .find(|n| addr.contains(&format!("\r\n{}\r\n", n.port)))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !current(&mut sc).is_some_and(|m| {
        field(&back, "master_port") == Some(m.port.to_string()) && in_sync(m, &back)
    }) {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(s.dir.join("sentinel.log")).unwrap_or_default();
            panic!(
                "timed out waiting for the old master to become a replica\n{}\n{}",
                back.client().info_field("replication", "role"),
                log
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let now_master = current(&mut sc).expect("a master");
    assert_eq!(
        as_replicated(&snapshot_all(&mut back.client())),
        as_replicated(&snapshot_all(&mut now_master.client()))
    );
}
