//! Starting servers for tests: the cinnabar binary under test, and redis-server when present.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::client::Client;

/// A port nobody listens on. Taken below Linux's ephemeral range (32768 up), so no client
/// socket of a concurrent test can hold it, and walked by a counter from a stretch chosen by
/// the process id, so two servers started at once by this test binary never get the same
/// one (asking the kernel for port 0 could hand the same port to both: the second server
/// then failed to bind while its starter was answered by the first).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 10_000;
    const SPAN: u32 = 22_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = std::process::id().wrapping_mul(997) % SPAN;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + (base + n) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A running server process, killed on drop.
pub struct Server {
    pub port: u16,
    pub child: Child,
    pub dir: PathBuf,
}

impl Server {
    pub fn client(&self) -> Client {
        Client::connect(self.port).expect("connect")
    }

    /// Kills the server with SIGKILL and hands over its directory, which stays.
    pub fn kill_keep_dir(mut self) -> PathBuf {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::take(&mut self.dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("cinnabar-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn start(program: &str, tag: &str, extra: &[String]) -> Option<Server> {
    start_at(program, tag, None, None, extra)
}

thread_local! {
    /// Set by `while_loading`: the next server started on this thread counts as started once
    /// it answers at all, even `-LOADING` (tests of the load itself).
    static ANSWERING_IS_ENOUGH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `start` so that the server it starts is handed over while its dataset still loads.
pub fn while_loading<T>(start: impl FnOnce() -> T) -> T {
    ANSWERING_IS_ENOUGH.with(|a| a.set(true));
    let started = start();
    ANSWERING_IS_ENOUGH.with(|a| a.set(false));
    started
}

/// `start` on a given port (once), or on a free one (retried); `config`: the config file
/// named first, as `cinnabar redis.conf --port ...` (the arguments override it).
fn start_at(
    program: &str,
    tag: &str,
    fixed: Option<u16>,
    config: Option<&std::path::Path>,
    extra: &[String],
) -> Option<Server> {
    for _attempt in 0..5 {
        let port = fixed.unwrap_or_else(free_port);
        let dir = temp_dir(tag);
        let mut cmd = Command::new(program);
        cmd.args(config)
            .arg("--port")
            .arg(port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg("no")
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().ok()?;
        let mut server = Server { port, child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = server.child.try_wait() {
                break;
            }
            if let Ok(mut c) = Client::connect(port) {
                c.set_timeout(Duration::from_secs(2));
                // Any reply will do (with requirepass, PING answers NOAUTH) but -LOADING: the
                // server is up once its dataset is in.
                c.send(&["PING"]);
                if let Ok(reply) = c.read_raw() {
                    if !reply.starts_with(b"-LOADING") || ANSWERING_IS_ENOUGH.with(|a| a.get()) {
                        return Some(server);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = server.child.kill();
    }
    None
}

/// Starts cinnabar on `port` (a node coming back where others expect it).
pub fn cinnabar_at(port: u16, extra: &[String]) -> Option<Server> {
    start_at(
        env!("CARGO_BIN_EXE_cinnabar"),
        "test",
        Some(port),
        None,
        extra,
    )
}

/// Starts cinnabar from a config file (which CONFIG REWRITE then rewrites).
pub fn cinnabar_with_config(config: &std::path::Path, extra: &[String]) -> Option<Server> {
    start_at(
        env!("CARGO_BIN_EXE_cinnabar"),
        "test",
        None,
        Some(config),
        extra,
    )
}

/// Starts the cinnabar binary built for this test run.
pub fn cinnabar(extra: &[String]) -> Server {
    start(env!("CARGO_BIN_EXE_cinnabar"), "test", extra).expect("cinnabar did not start")
}

/// A cinnabar logging every write to its AOF, with DEBUG enabled (tests of what commands
/// propagate and of what the file replays).
pub fn cinnabar_with_aof() -> Server {
    let args = ["--appendonly", "yes", "--enable-debug-command", "yes"];
    cinnabar(&args.map(String::from))
}

/// Starts redis-server 7.0.15, the oracle of every live comparison. This is the one place
/// that decides what a missing redis-server means: the comparison is skipped (None) on a
/// developer's machine without it, and the test fails under CI, where every comparison is
/// required.
pub fn oracle(extra: &[String]) -> Option<Server> {
    let program = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let server = start(&program, "redis", extra);
    if server.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "redis-server ({program}) is required under CI"
        );
        eprintln!("redis-server not installed: skipping the comparison");
    }
    server
}

/// Starts a server (`start` gets the extra arguments) on a fresh directory holding a copy of
/// `file` as its dump.rdb.
pub fn with_dump(
    file: &std::path::Path,
    start: impl Fn(&[String]) -> Option<Server>,
) -> Option<Server> {
    let dir = temp_dir("dump");
    std::fs::copy(file, dir.join("dump.rdb")).expect("copy dump.rdb");
    in_dir(dir, start)
}

/// A fresh temporary directory (removed with the server that gets it).
pub fn fresh_dir() -> PathBuf {
    temp_dir("files")
}

/// Starts a server working in `dir` (which it owns from then on).
pub fn in_dir(dir: PathBuf, start: impl Fn(&[String]) -> Option<Server>) -> Option<Server> {
    match start(&["--dir".into(), dir.to_string_lossy().into_owned()]) {
        Some(mut server) => {
            // The server works in `dir`; the one `start` made is unused.
            let _ = std::fs::remove_dir_all(&server.dir);
            server.dir = dir;
            Some(server)
        }
        None => {
            let _ = std::fs::remove_dir_all(&dir);
            None
        }
    }
}

/// Polls `check` every 20 ms until it holds; fails the test after `secs` seconds.
pub fn wait_until(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
