//! Random set commands against redis-server and cinnabar, with default and tiny encoding
//! thresholds. Replies whose order Redis leaves unspecified (hash-table iteration) are
//! compared order-insensitively; SSCAN is run to completion on both sides and the members
//! compared as sets; SRANDMEMBER and SPOP are checked for shape (type, size, membership,
//! distinctness) and, after SPOP, both servers are given Redis's resulting set so they stay
//! in step.

use super::Rng;
use crate::common::client::Client;
use crate::common::server::{cinnabar, oracle};
use crate::common::transcript::frames_match;
use cinnabar::resp::frame::Frame;
use std::collections::BTreeSet;

const MEMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "-1",
    "7",
    "42",
    "100",
    "65536",
    "-70000",
    "2147483648",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-0",
    "01",
    "+1",
    " 1",
    "1.5",
    "",
    "a",
    "b",
    "c",
    "hello world",
    "x\u{0}y",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];

/// How a command's replies are compared.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Check {
    Exact,
    /// Aggregates compared with their elements sorted.
    Unordered,
    /// SRANDMEMBER / SPOP: shape only; `distinct` when no member may repeat.
    Random {
        pop: bool,
    },
    /// SSCAN to completion on both sides.
    ScanAll,
}

fn key(r: &mut Rng) -> String {
    format!("k{}", r.below(5))
}

fn member(r: &mut Rng) -> String {
    if r.below(4) == 0 {
        // Small integers make intersections and moves likely.
        (r.below(12) as i64 - 2).to_string()
    } else {
        r.pick(MEMBERS).to_string()
    }
}

fn keys(r: &mut Rng, min: u64) -> Vec<String> {
    let n = min + r.below(3);
    (0..n)
        .map(|_| {
            if r.below(25) == 0 {
                "str".to_string()
            } else if r.below(12) == 0 {
                "missing".to_string()
            } else {
                key(r)
            }
        })
        .collect()
}

fn command(r: &mut Rng) -> (Vec<String>, Check) {
    let s = |x: &str| x.to_string();
    let k = if r.below(40) == 0 { s("str") } else { key(r) };
    let members = |r: &mut Rng, n: u64| -> Vec<String> {
        (0..1 + r.below(n)).map(|_| member(r)).collect::<Vec<_>>()
    };
    let c = |v: Vec<String>| (v, Check::Exact);
    match r.below(40) {
        0..=5 => {
            let mut v = vec![s("SADD"), k];
            v.extend(members(r, 6));
            c(v)
        }
        6 => {
            // A run of integers, to cross set-max-intset-entries.
            let start = r.below(600) as i64 - 100;
            let span = if r.below(4) == 0 { 600 } else { 40 };
            let n = 1 + r.below(span) as i64;
            let mut v = vec![s("SADD"), k];
            v.extend((start..start + n).map(|i| i.to_string()));
            c(v)
        }
        7..=9 => {
            let mut v = vec![s("SREM"), k];
            v.extend(members(r, 5));
            c(v)
        }
        10 => c(vec![s("SISMEMBER"), k, member(r)]),
        11 => {
            let mut v = vec![s("SMISMEMBER"), k];
            v.extend(members(r, 4));
            c(v)
        }
        12 => c(vec![s("SCARD"), k]),
        13 | 14 => (vec![s("SMEMBERS"), k], Check::Unordered),
        15..=17 => c(vec![s("OBJECT"), s("ENCODING"), k]),
        18 | 19 => {
            let mut v = vec![s("SRANDMEMBER"), k];
            if r.below(4) != 0 {
                v.push(
                    r.pick(&["0", "1", "2", "3", "5", "10", "100", "-1", "-3", "-20", "x"])
                        .to_string(),
                );
            }
            (v, Check::Random { pop: false })
        }
        20 | 21 => {
            let mut v = vec![s("SPOP"), k];
            if r.below(3) != 0 {
                v.push(
                    r.pick(&["0", "1", "2", "3", "5", "8", "30", "200", "-1", "x"])
                        .to_string(),
                );
            }
            (v, Check::Random { pop: true })
        }
        22 | 23 => c(vec![s("SMOVE"), k, key(r), member(r)]),
        24 => {
            let mut v = vec![s(r.pick(&["SINTER", "SUNION", "SDIFF"]))];
            v.extend(keys(r, 1));
            (v, Check::Unordered)
        }
        25 => {
            let mut v = vec![s("SDIFF"), k];
            v.extend(keys(r, 1));
            (v, Check::Unordered)
        }
        26 => {
            let ks = keys(r, 1);
            let mut v = vec![s("SINTERCARD"), ks.len().to_string()];
            v.extend(ks);
            if r.below(2) == 0 {
                v.push(s("LIMIT"));
                v.push(r.pick(&["0", "1", "2", "5", "-1"]).to_string());
            }
            c(v)
        }
        27..=30 => {
            let op = r.pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]);
            let mut v = vec![s(op), key(r)];
            v.extend(keys(r, 1));
            c(v)
        }
        31 | 32 => {
            let mut v = vec![s("SSCAN"), k, s("0")];
            if r.below(3) == 0 {
                v.push(s("MATCH"));
                v.push(r.pick(&["*", "1*", "[a-c]", "*0*", "-*"]).to_string());
            }
            if r.below(2) == 0 {
                v.push(s("COUNT"));
                v.push(r.pick(&["1", "2", "5", "100"]).to_string());
            }
            (v, Check::ScanAll)
        }
        33 => c(vec![s("DEL"), k]),
        34 => c(vec![s("EXPIRE"), k, s("1000")]),
        35 => c(vec![s("TTL"), k]),
        36 => c(vec![s("TYPE"), k]),
        37 => c(vec![s("SET"), s("str"), s("v")]),
        38 => c(vec![s("EXISTS"), k]),
        _ => c(vec![s("SCARD"), k]),
    }
}

fn items(f: &Frame) -> Option<Vec<Vec<u8>>> {
    match f {
        Frame::Array(v) | Frame::Set(v) => {
            v.iter().map(|x| x.as_bytes().map(<[u8]>::to_vec)).collect()
        }
        Frame::Bulk(b) => Some(vec![b.clone()]),
        _ => None,
    }
}

fn members_of(c: &mut Client, key: &str) -> BTreeSet<Vec<u8>> {
    match c.cmd(&["SMEMBERS", key]) {
        Frame::Array(v) | Frame::Set(v) => v
            .iter()
            .filter_map(|x| x.as_bytes().map(<[u8]>::to_vec))
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// Checks a random reply's shape against the set it came from.
fn check_random(
    cmd: &[String],
    before: &BTreeSet<Vec<u8>>,
    exp: &Frame,
    got: &Frame,
) -> Result<(), String> {
    let kind = |f: &Frame| std::mem::discriminant(f);
    if kind(exp) != kind(got) {
        return Err("reply types differ".into());
    }
    if matches!(exp, Frame::Error(_))
        || matches!(exp, Frame::Null | Frame::NullArray | Frame::Integer(_))
    {
        return if exp == got {
            Ok(())
        } else {
            Err("replies differ".into())
        };
    }
    let (Some(e), Some(g)) = (items(exp), items(got)) else {
        return Err("unexpected reply".into());
    };
    if e.len() != g.len() {
        return Err(format!("sizes differ: {} vs {}", e.len(), g.len()));
    }
    if let Some(m) = g.iter().find(|m| !before.contains(*m)) {
        return Err(format!("{:?} is not a member", String::from_utf8_lossy(m)));
    }
    let negative = cmd.get(2).is_some_and(|c| c.starts_with('-'));
    if !negative {
        let distinct: BTreeSet<&Vec<u8>> = g.iter().collect();
        if distinct.len() != g.len() {
            return Err("repeated member".into());
        }
    }
    Ok(())
}

fn scan_all(c: &mut Client, cmd: &[String]) -> Result<BTreeSet<Vec<u8>>, Vec<u8>> {
    let mut argv = cmd.to_vec();
    let mut seen = BTreeSet::new();
    for _ in 0..100_000 {
        let raw = c.cmd(&argv);
        let Frame::Array(parts) = &raw else {
            return Err(format!("{raw:?}").into_bytes());
        };
        let (Some(cursor), Some(Frame::Array(found))) =
            (parts.first().and_then(Frame::as_bytes), parts.get(1))
        else {
            return Err(format!("{raw:?}").into_bytes());
        };
        seen.extend(
            found
                .iter()
                .filter_map(|x| x.as_bytes().map(<[u8]>::to_vec)),
        );
        if cursor == b"0" {
            return Ok(seen);
        }
        argv[2] = String::from_utf8_lossy(cursor).into_owned();
    }
    Err(b"scan did not finish".to_vec())
}

/// Gives both servers Redis's content for `key` (after a SPOP took different members).
fn resync(a: &mut Client, b: &mut Client, key: &str) -> Result<(), String> {
    let exp = members_of(a, key);
    let got = members_of(b, key);
    if exp.len() != got.len() {
        return Err(format!(
            "after SPOP sizes differ: {} vs {}",
            exp.len(),
            got.len()
        ));
    }
    if exp == got {
        return Ok(());
    }
    let mut argv: Vec<Vec<u8>> = vec![b"SADD".to_vec(), key.as_bytes().to_vec()];
    argv.extend(exp.iter().cloned());
    for c in [a, b] {
        c.cmd(&["DEL", key]);
        c.cmd(&argv);
    }
    Ok(())
}

fn step(cmd: &[String], check: Check, a: &mut Client, b: &mut Client) -> Result<(), String> {
    match check {
        Check::Exact | Check::Unordered => {
            let exp = a.cmd_raw(cmd);
            let got = b.cmd_raw(cmd);
            if frames_match(&exp, &got, check == Check::Unordered, false) {
                Ok(())
            } else {
                Err(format!(
                    "redis: {:?}\n  ours:  {:?}",
                    String::from_utf8_lossy(&exp),
                    String::from_utf8_lossy(&got)
                ))
            }
        }
        Check::Random { pop } => {
            let before = members_of(b, &cmd[1]);
            let exp = a.cmd(cmd);
            let got = b.cmd(cmd);
            check_random(cmd, &before, &exp, &got)
                .map_err(|e| format!("{e}\n  redis: {exp:?}\n  ours:  {got:?}"))?;
            if pop {
                resync(a, b, &cmd[1])?;
            }
            Ok(())
        }
        Check::ScanAll => {
            let exp = scan_all(a, cmd);
            let got = scan_all(b, cmd);
            if exp == got {
                Ok(())
            } else {
                Err(format!("redis: {exp:?}\n  ours:  {got:?}"))
            }
        }
    }
}

/// Compares the encodings and contents of every key at the end of a seed.
fn compare_keys(a: &mut Client, b: &mut Client) -> Result<(), String> {
    for i in 0..5 {
        let k = format!("k{i}");
        let enc = ["OBJECT", "ENCODING", k.as_str()];
        let (e, g) = (a.cmd_raw(&enc), b.cmd_raw(&enc));
        if e != g {
            return Err(format!(
                "{k}: encodings {:?} vs {:?}",
                String::from_utf8_lossy(&e),
                String::from_utf8_lossy(&g)
            ));
        }
        if members_of(a, &k) != members_of(b, &k) {
            return Err(format!("{k}: contents differ"));
        }
    }
    Ok(())
}

fn run(
    redis_args: &[&str],
    our_extra: &[&str],
    seeds: std::ops::RangeInclusive<u64>,
    steps: usize,
) {
    let args: Vec<String> = redis_args.iter().map(|a| a.to_string()).collect();
    let Some(oracle) = oracle(&args) else {
        return;
    };
    let mut ours_args = args.clone();
    ours_args.extend(our_extra.iter().map(|a| a.to_string()));
    let ours = cinnabar(&ours_args);
    let seeds: Vec<u64> = match std::env::var("LIVE_DIFF_SEED") {
        Ok(s) => vec![s.parse().expect("seed")],
        Err(_) => seeds.collect(),
    };
    // One RESP2 and one RESP3 connection per server.
    let (mut a2, mut b2) = (oracle.client(), ours.client());
    let (mut a3, mut b3) = (oracle.client(), ours.client());
    a3.cmd(&["HELLO", "3"]);
    b3.cmd(&["HELLO", "3"]);
    for seed in seeds {
        a2.cmd(&["FLUSHALL"]);
        b2.cmd(&["FLUSHALL"]);
        let mut r = Rng(seed | 1);
        let mut history: Vec<String> = Vec::new();
        for i in 0..steps {
            let (cmd, check) = command(&mut r);
            let resp3 = r.below(4) == 0;
            let (a, b) = if resp3 {
                (&mut a3, &mut b3)
            } else {
                (&mut a2, &mut b2)
            };
            if let Err(e) = step(&cmd, check, a, b) {
                let tail: Vec<&String> = history.iter().rev().take(15).rev().collect();
                panic!(
                    "seed {seed} step {i} (resp{}): {cmd:?}\n  {e}\n  earlier:\n    {}",
                    if resp3 { 3 } else { 2 },
                    tail.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join("\n    ")
                );
            }
            history.push(format!("{cmd:?}"));
        }
        if let Err(e) = compare_keys(&mut a2, &mut b2) {
            panic!("seed {seed} at the end: {e}");
        }
    }
}

#[test]
fn random_set_commands_match_redis() {
    run(&[], &[], 1..=20, 1500);
}

#[test]
fn random_set_commands_match_redis_tiny_thresholds() {
    run(
        &["--set-max-intset-entries", "4"],
        &[
            "--set-max-listpack-entries",
            "3",
            "--set-max-listpack-value",
            "4",
        ],
        1..=20,
        1500,
    );
}
