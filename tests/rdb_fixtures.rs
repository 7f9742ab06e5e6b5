//! Every file in tests/fixtures/rdb (RDB versions 2–10, every encoding Redis 2.x–7.0 writes:
//! zipmap, ziplist, intset, quicklist v1/v2, listpack, streams v1/v2, text zset scores,
//! expiry in seconds and ms, function libraries) loads into cinnabar exactly as into
//! redis-server 7.0.15. Needs redis-server (required under CI).

mod common;

use std::path::{Path, PathBuf};

use common::dataset::snapshot_all;
use common::server::{cinnabar, redis, redis_or_skip, with_dump};

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

#[test]
fn every_fixture_loads_as_in_redis() {
    if redis_or_skip(&[]).is_none() {
        return;
    }
    let mut failures = Vec::new();
    for file in fixtures() {
        let theirs = with_dump(&file, redis).expect("redis-server loads every fixture");
        let expected = snapshot_all(&mut theirs.client());
        let ours = with_dump(&file, |a| Some(cinnabar(a))).unwrap();
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
