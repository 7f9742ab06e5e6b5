//! The recorder: asks a real redis-server and writes down what it says.
//!
//!   cargo run --example record -- meta                  # regenerate src/cmd/meta_gen.rs
//!   cargo run --example record -- transcripts [FILE..]  # re-record tests/transcripts/*.txt
//!
//! REDIS_SERVER names the binary (default `redis-server` on PATH, 7.0.15 from Debian).
//!
//! A command Redis 7.0 lacks gets its metadata from `overlay.rs`. The recorder links the
//! library, so bind the new handler in its family's HANDLERS only after `meta` has written
//! the metadata it names.

#[path = "../../tests/common/client.rs"]
mod client;
#[path = "../../tests/common/transcript.rs"]
mod transcript;

mod meta;
mod overlay;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use client::Client;

pub struct Redis {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn start_redis(extra: &[String]) -> Redis {
    let program = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("cinnabar-record-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new(&program)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
        ])
        .arg("no")
        .arg("--dir")
        .arg(&dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let redis = Redis { port, child, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut c) = Client::connect(port) {
            if c.cmd(&["PING"]).as_bytes() == Some(b"PONG") {
                return redis;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server did not start");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    match args.first().map(String::as_str) {
        Some("meta") => meta::generate(root),
        Some("transcripts") => record_transcripts(root, &args[1..]),
        _ => {
            eprintln!("usage: record meta | record transcripts [FILE..]");
            std::process::exit(2);
        }
    }
}

fn record_transcripts(root: &Path, files: &[String]) {
    let files: Vec<PathBuf> = if files.is_empty() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(root.join("tests/transcripts"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .collect();
        v.sort();
        v
    } else {
        files.iter().map(PathBuf::from).collect()
    };
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let steps = transcript::parse(&text);
        let recorded = record_one(&steps);
        std::fs::write(&f, transcript::render_steps(&recorded)).unwrap();
        println!("recorded {}", f.display());
    }
}

/// Runs the steps against a fresh redis-server and fills in the replies it gives.
fn record_one(steps: &[transcript::Step]) -> Vec<transcript::Step> {
    use transcript::Step;
    let server_args: Vec<String> = steps
        .iter()
        .filter_map(|s| match s {
            Step::ServerArgs(a) => Some(a.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let redis = start_redis(&server_args);
    let mut clients: std::collections::HashMap<String, Client> = Default::default();
    let mut current = "main".to_string();
    let mut out = Vec::new();
    for s in steps {
        let c = clients
            .entry(current.clone())
            .or_insert_with(|| Client::connect(redis.port).expect("connect"));
        match s {
            Step::Client(name) => {
                current = name.clone();
                out.push(s.clone());
            }
            Step::Sleep(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                out.push(s.clone());
            }
            Step::Command {
                line,
                text,
                argv,
                frames_hint,
                unordered,
                skip,
                ..
            } => {
                c.send(argv);
                let n = frames_hint.unwrap_or(1);
                let replies = (0..n)
                    .map(|_| {
                        c.read_raw()
                            .unwrap_or_else(|e| panic!("line {line}: {text}: {e}"))
                    })
                    .collect();
                out.push(Step::Command {
                    line: *line,
                    text: text.clone(),
                    argv: argv.clone(),
                    frames_hint: *frames_hint,
                    unordered: *unordered,
                    skip: *skip,
                    replies,
                });
            }
            Step::Read {
                line,
                n,
                unordered,
                skip,
                ..
            } => {
                let replies: Vec<Vec<u8>> = if *n == transcript::DRAIN {
                    c.set_timeout(Duration::from_millis(300));
                    let mut got = Vec::new();
                    while let Ok(f) = c.read_raw() {
                        got.push(f);
                    }
                    c.set_timeout(Duration::from_secs(10));
                    got
                } else {
                    (0..*n)
                        .map(|_| {
                            c.read_raw()
                                .unwrap_or_else(|e| panic!("line {line}: read: {e}"))
                        })
                        .collect()
                };
                out.push(Step::Read {
                    line: *line,
                    n: replies.len(),
                    unordered: *unordered,
                    skip: *skip,
                    replies,
                });
            }
            other => out.push(other.clone()),
        }
    }
    out
}
