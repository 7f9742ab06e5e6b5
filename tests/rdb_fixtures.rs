//! Every file in tests/fixtures/rdb (RDB versions 2–10, every encoding Redis 2.x–7.0 writes:
//! zipmap, ziplist, intset, quicklist v1/v2, listpack, streams v1/v2, text zset scores,
//! expiry in seconds and ms, function libraries) loads into cinnabar exactly as into
//! redis-server 7.0.15. Needs redis-server (required under CI).

mod common;

use std::path::{Path, PathBuf};

use common::dataset::snapshot_all;
use common::server::{cinnabar, redis, Server};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rdb");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rdb"))
        .collect();
    v.sort();
    v
}

/// Starts `start` on a copy of `file` as its dump.rdb.
fn load(file: &Path, start: impl Fn(&[String]) -> Option<Server>) -> Option<Server> {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let dir = std::env::temp_dir().join(format!("cinnabar-fixture-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(file, dir.join("dump.rdb")).unwrap();
    let server = start(&["--dir".into(), dir.to_string_lossy().into_owned()]);
    server
}

#[test]
fn every_fixture_loads_as_in_redis() {
    if redis(&[]).is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "redis-server is required under CI"
        );
        return;
    }
    let mut failures = Vec::new();
    for file in fixtures() {
        let theirs = load(&file, redis).expect("redis-server loads every fixture");
        let expected = snapshot_all(&mut theirs.client());
        let ours = load(&file, |a| Some(cinnabar(a))).unwrap();
        let got = snapshot_all(&mut ours.client());
        if got != expected {
            let first = got.iter().zip(&expected).position(|(a, b)| a != b);
            failures.push(format!(
                "{}: first difference at line {first:?}\n  ours:  {:?}\n  redis: {:?}",
                file.display(),
                first.map(|i| &got[i]),
                first.map(|i| &expected[i]),
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
