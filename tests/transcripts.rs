//! Replays every tests/transcripts/*.txt (commands with the replies redis-server 7.0.15 gave,
//! recorded by `cargo run --example record -- transcripts`) against the cinnabar binary and
//! requires byte-identical replies.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use common::client::Client;
use common::transcript::{self, escape, frame_to_lines, frames_match, Step};

fn files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("tests/transcripts")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    v.sort();
    v
}

fn show(frame: &[u8]) -> String {
    match std::panic::catch_unwind(|| frame_to_lines(frame)) {
        Ok(lines) => lines.join("\n    "),
        Err(_) => escape(frame),
    }
}

/// Replays one file; returns the mismatches.
fn replay(path: &PathBuf) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("read transcript");
    let steps = transcript::parse(&text);
    let args: Vec<String> = steps
        .iter()
        .filter_map(|s| match s {
            Step::ServerArgs(a) => Some(a.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let server = common::server::cinnabar(&args);
    let mut clients: HashMap<String, Client> = HashMap::new();
    let mut current = "main".to_string();
    let mut failures = Vec::new();
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    for step in &steps {
        let c = clients.entry(current.clone()).or_insert_with(|| {
            let c = server.client();
            c.set_timeout(Duration::from_secs(30));
            c
        });
        let (line, text, replies, unordered, skip) = match step {
            Step::Client(n) => {
                current = n.clone();
                continue;
            }
            Step::Sleep(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                continue;
            }
            Step::Command {
                line,
                text,
                argv,
                replies,
                unordered,
                skip,
                ..
            } => {
                c.send(argv);
                (line, text.as_str(), replies, unordered, skip)
            }
            Step::Read {
                line,
                replies,
                unordered,
                skip,
                ..
            } => (line, "!read", replies, unordered, skip),
            _ => continue,
        };
        for expected in replies {
            match c.read_raw() {
                Ok(actual) if frames_match(expected, &actual, *unordered, *skip) => {}
                Ok(actual) => failures.push(format!(
                    "{name}:{line}: {text}\n  expected:\n    {}\n  got:\n    {}",
                    show(expected),
                    show(&actual)
                )),
                Err(e) => {
                    failures.push(format!(
                        "{name}:{line}: {text}\n  expected:\n    {}\n  got error: {e}",
                        show(expected)
                    ));
                    return failures;
                }
            }
        }
    }
    failures
}

#[test]
fn transcripts_match_redis() {
    let files = files();
    assert!(!files.is_empty(), "no transcripts found");
    // Files are independent servers: replay them on a few threads.
    let chunks: Vec<Vec<PathBuf>> = {
        let n = 4;
        let mut c: Vec<Vec<PathBuf>> = vec![Vec::new(); n];
        for (i, f) in files.into_iter().enumerate() {
            c[i % n].push(f);
        }
        c
    };
    let handles: Vec<_> = chunks
        .into_iter()
        .map(|fs| std::thread::spawn(move || fs.iter().flat_map(replay).collect::<Vec<_>>()))
        .collect();
    let failures: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("replay thread"))
        .collect();
    if !failures.is_empty() {
        panic!(
            "{} mismatches:\n\n{}",
            failures.len(),
            failures.join("\n\n")
        );
    }
}
