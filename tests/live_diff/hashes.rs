//! Random hash commands against redis-server and cinnabar, with default and tiny encoding
//! thresholds, over RESP2 and RESP3 connections. Replies whose order Redis leaves unspecified
//! (hash-table iteration) are compared as sets of pairs; HSCAN is run to completion on both
//! sides; HRANDFIELD is checked for shape (type, size, membership, values, distinctness).
//! Every seed ends by comparing each key's encoding and contents.

use super::Rng;
use crate::common::client::Client;
use crate::common::server::{cinnabar, oracle};
use crate::common::transcript::frames_match;
use cinnabar::resp::frame::Frame;
use std::collections::{BTreeMap, BTreeSet};

const FIELDS: &[&str] = &[
    "a",
    "b",
    "c",
    "f1",
    "f2",
    "f3",
    "",
    "0",
    "-1",
    "12345",
    "x\u{0}y",
    "hello world",
    "longfield-longfield-longfield-longfield-longfield-longfield-longfield",
];

const VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "-1",
    "42",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "3.14",
    "1e3",
    "-0",
    "01",
    " 1",
    "abc",
    "inf",
    "nan",
    "12345678",
    "123456789",
    "v",
    "a long value that is longer than sixty-four bytes, which converts the hash",
];

const INCRS: &[&str] = &[
    "0",
    "1",
    "-1",
    "5",
    "100",
    "9223372036854775807",
    "-9223372036854775808",
    "x",
    "1.5",
    "",
];

const FLOAT_INCRS: &[&str] = &[
    "0", "1", "-1", "0.1", "-2.5", "1e2", "1e-5", "3.0e3", "x", "inf", "nan", "1e308", "", "5.",
    ".5",
];

/// How a command's replies are compared.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Check {
    Exact,
    /// Aggregates compared with their elements sorted (HKEYS, HVALS).
    Unordered,
    /// HGETALL: the same field/value pairs in any order.
    Pairs,
    /// HRANDFIELD: shape only.
    Random,
    /// HSCAN to completion on both sides.
    ScanAll,
}

fn key(r: &mut Rng) -> String {
    format!("k{}", r.below(5))
}

fn field(r: &mut Rng) -> String {
    if r.below(3) == 0 {
        format!("n{}", r.below(40))
    } else {
        r.pick(FIELDS).to_string()
    }
}

fn value(r: &mut Rng) -> String {
    if r.below(4) == 0 {
        (r.below(200) as i64 - 50).to_string()
    } else {
        r.pick(VALUES).to_string()
    }
}

fn count(r: &mut Rng) -> String {
    r.pick(&[
        "0", "1", "2", "3", "5", "10", "100", "1000", "-1", "-2", "-5", "-20", "x", "1.5",
    ])
    .to_string()
}

fn command(r: &mut Rng) -> (Vec<String>, Check) {
    let s = |x: &str| x.to_string();
    let k = if r.below(40) == 0 { s("str") } else { key(r) };
    let c = |v: Vec<String>| (v, Check::Exact);
    match r.below(44) {
        0..=5 => {
            let mut v = vec![s(if r.below(4) == 0 { "HMSET" } else { "HSET" }), k];
            for _ in 0..1 + r.below(4) {
                v.push(field(r));
                v.push(value(r));
            }
            if r.below(30) == 0 {
                v.pop();
            }
            c(v)
        }
        6 => {
            // A run of fields, to cross hash-max-listpack-entries.
            let start = r.below(300);
            let n = 1 + if r.below(3) == 0 {
                r.below(600)
            } else {
                r.below(20)
            };
            let mut v = vec![s("HSET"), k];
            for i in start..start + n {
                v.push(format!("r{i}"));
                v.push(i.to_string());
            }
            c(v)
        }
        7 => c(vec![s("HSETNX"), k, field(r), value(r)]),
        8..=10 => {
            let mut v = vec![s("HDEL"), k];
            for _ in 0..1 + r.below(4) {
                v.push(field(r));
            }
            c(v)
        }
        11 => {
            // Delete a run of fields.
            let start = r.below(300);
            let mut v = vec![s("HDEL"), k];
            for i in start..start + 1 + r.below(400) {
                v.push(format!("r{i}"));
            }
            c(v)
        }
        12 | 13 => c(vec![s("HGET"), k, field(r)]),
        14 => {
            let mut v = vec![s("HMGET"), k];
            for _ in 0..1 + r.below(4) {
                v.push(field(r));
            }
            c(v)
        }
        15 => c(vec![s("HLEN"), k]),
        16 => c(vec![s("HSTRLEN"), k, field(r)]),
        17 => c(vec![s("HEXISTS"), k, field(r)]),
        18 => (vec![s("HKEYS"), k], Check::Unordered),
        19 => (vec![s("HVALS"), k], Check::Unordered),
        20 | 21 => (vec![s("HGETALL"), k], Check::Pairs),
        22..=24 => c(vec![s("HINCRBY"), k, field(r), s(r.pick(INCRS))]),
        25..=27 => c(vec![s("HINCRBYFLOAT"), k, field(r), s(r.pick(FLOAT_INCRS))]),
        28 => (vec![s("HRANDFIELD"), k], Check::Random),
        29 | 30 => (vec![s("HRANDFIELD"), k, count(r)], Check::Random),
        31 => {
            let mut v = vec![s("HRANDFIELD"), k, count(r), s("WITHVALUES")];
            if r.below(20) == 0 {
                v[3] = s("WITHVALUE");
            }
            (v, Check::Random)
        }
        32 | 33 => {
            let mut v = vec![s("HSCAN"), k, s("0")];
            if r.below(2) == 0 {
                v.push(s("COUNT"));
                v.push(s(r.pick(&["1", "3", "10", "100", "0", "x"])));
            }
            if r.below(3) == 0 {
                v.push(s("MATCH"));
                v.push(s(r.pick(&["*", "f*", "r1*", "n[0-3]", "?", "nomatch"])));
            }
            (v, Check::ScanAll)
        }
        34 => c(vec![s("OBJECT"), s("ENCODING"), k]),
        35 => c(vec![s("TYPE"), k]),
        36 => c(vec![s("DEL"), k]),
        37 => c(vec![s("RENAME"), k, key(r)]),
        38 => c(vec![s("COPY"), k, key(r)]),
        39 => c(vec![s("SET"), s("str"), s("v")]),
        40 => c(vec![s("EXISTS"), k]),
        41 => c(vec![s("HGET"), k]),
        42 => c(vec![s("HINCRBY"), k, field(r), s("1"), s("2")]),
        _ => c(vec![s("HLEN"), k]),
    }
}

/// A reply's field/value pairs (RESP2 flat array or RESP3 map), None for other shapes.
fn pairs_of(f: &Frame) -> Option<BTreeMap<Vec<u8>, Vec<u8>>> {
    match f {
        Frame::Array(v) if v.len() % 2 == 0 => v
            .chunks(2)
            .map(|p| Some((p[0].as_bytes()?.to_vec(), p[1].as_bytes()?.to_vec())))
            .collect(),
        Frame::Map(v) => v
            .iter()
            .map(|(a, b)| Some((a.as_bytes()?.to_vec(), b.as_bytes()?.to_vec())))
            .collect(),
        _ => None,
    }
}

fn contents(c: &mut Client, key: &str) -> BTreeMap<Vec<u8>, Vec<u8>> {
    pairs_of(&c.cmd(&["HGETALL", key])).unwrap_or_default()
}

/// Checks an HRANDFIELD reply against the hash it came from; `exp` is Redis's reply.
fn check_random(
    cmd: &[String],
    before: &BTreeMap<Vec<u8>, Vec<u8>>,
    exp: &Frame,
    got: &Frame,
) -> Result<(), String> {
    let kind = |f: &Frame| std::mem::discriminant(f);
    if kind(exp) != kind(got) {
        return Err("reply types differ".into());
    }
    match exp {
        Frame::Array(e) => {
            let Frame::Array(g) = got else {
                unreachable!("same kind")
            };
            if e.len() != g.len() {
                return Err(format!("sizes differ: {} vs {}", e.len(), g.len()));
            }
            let withvalues = cmd.len() == 4;
            // Each pick as (field, value if given).
            let mut picks: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
            let bytes = |f: &Frame| f.as_bytes().map(<[u8]>::to_vec);
            if !withvalues {
                for f in g {
                    picks.push((bytes(f).ok_or("not a bulk string")?, None));
                }
            } else if g.iter().all(|f| matches!(f, Frame::Array(_))) && !g.is_empty() {
                // RESP3: [field, value] pairs.
                for p in g {
                    let Frame::Array(p) = p else { unreachable!() };
                    let [f, v] = &p[..] else {
                        return Err("pair of wrong size".into());
                    };
                    if !matches!(e[0], Frame::Array(_)) {
                        return Err("RESP3 pairs where Redis sent a flat array".into());
                    }
                    picks.push((bytes(f).ok_or("field")?, Some(bytes(v).ok_or("value")?)));
                }
            } else {
                if g.len() % 2 != 0 || e.first().is_some_and(|f| matches!(f, Frame::Array(_))) {
                    return Err("flat array where Redis sent pairs".into());
                }
                for p in g.chunks(2) {
                    picks.push((
                        bytes(&p[0]).ok_or("field")?,
                        Some(bytes(&p[1]).ok_or("value")?),
                    ));
                }
            }
            for (f, v) in &picks {
                match before.get(f) {
                    None => return Err(format!("{:?} is not a field", String::from_utf8_lossy(f))),
                    Some(stored) => {
                        if v.as_ref().is_some_and(|v| v != stored) {
                            return Err("wrong value".into());
                        }
                    }
                }
            }
            let negative = cmd.get(2).is_some_and(|c| c.starts_with('-'));
            if !negative {
                let distinct: BTreeSet<&Vec<u8>> = picks.iter().map(|(f, _)| f).collect();
                if distinct.len() != picks.len() {
                    return Err("repeated field".into());
                }
            }
            Ok(())
        }
        Frame::Bulk(_) => {
            let f = got.as_bytes().unwrap_or_default();
            if before.contains_key(f) {
                Ok(())
            } else {
                Err("not a field".into())
            }
        }
        _ if exp == got => Ok(()),
        _ => Err("replies differ".into()),
    }
}

/// HSCAN from cursor 0 to the end: the pairs seen, or the first non-scan reply.
fn scan_all(c: &mut Client, cmd: &[String]) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, Vec<u8>> {
    let mut argv = cmd.to_vec();
    let mut seen = BTreeMap::new();
    for _ in 0..100_000 {
        let raw = c.cmd(&argv);
        let Frame::Array(parts) = &raw else {
            return Err(format!("{raw:?}").into_bytes());
        };
        let (Some(cursor), Some(found)) = (
            parts.first().and_then(Frame::as_bytes),
            parts.get(1).and_then(pairs_of),
        ) else {
            return Err(format!("{raw:?}").into_bytes());
        };
        seen.extend(found);
        if cursor == b"0" {
            return Ok(seen);
        }
        argv[2] = String::from_utf8_lossy(cursor).into_owned();
    }
    Err(b"scan did not finish".to_vec())
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
        Check::Pairs => {
            let exp = a.cmd(cmd);
            let got = b.cmd(cmd);
            let same = match (pairs_of(&exp), pairs_of(&got)) {
                (Some(e), Some(g)) => {
                    e == g && std::mem::discriminant(&exp) == std::mem::discriminant(&got)
                }
                _ => exp == got,
            };
            if same {
                Ok(())
            } else {
                Err(format!("redis: {exp:?}\n  ours:  {got:?}"))
            }
        }
        Check::Random => {
            let before = contents(b, &cmd[1]);
            let exp = a.cmd(cmd);
            let got = b.cmd(cmd);
            check_random(cmd, &before, &exp, &got)
                .map_err(|e| format!("{e}\n  redis: {exp:?}\n  ours:  {got:?}"))
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
        if contents(a, &k) != contents(b, &k) {
            return Err(format!("{k}: contents differ"));
        }
    }
    Ok(())
}

fn run(args: &[&str], seeds: std::ops::RangeInclusive<u64>, steps: usize) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let Some(oracle) = oracle(&args) else {
        return;
    };
    let ours = cinnabar(&args);
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
                    "seed {seed} step {i} (resp{}): {cmd:.300?}\n  {e:.2000}\n  earlier:\n    {}",
                    if resp3 { 3 } else { 2 },
                    tail.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join("\n    ")
                );
            }
            let mut shown = format!("{cmd:?}");
            shown.truncate(300);
            history.push(shown);
        }
        if let Err(e) = compare_keys(&mut a2, &mut b2) {
            panic!("seed {seed} at the end: {e}");
        }
    }
}

#[test]
fn random_hash_commands_match_redis() {
    run(&[], 1..=20, 1500);
}

#[test]
fn random_hash_commands_match_redis_tiny_thresholds() {
    run(
        &[
            "--hash-max-listpack-entries",
            "4",
            "--hash-max-listpack-value",
            "8",
        ],
        1..=20,
        1500,
    );
}
