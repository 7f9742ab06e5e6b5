//! Random XADD / XTRIM / XDEL / XRANGE / XREVRANGE / XLEN / XINFO STREAM, with default and tiny
//! node sizes so node boundaries, approximate trimming and tombstones are exercised.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{run_family, Rng};

/// Milliseconds part of new IDs: grows slowly so "ms-*" and equal-ms IDs both happen.
static MS: AtomicU64 = AtomicU64::new(1);

const FIELDS: &[&str] = &["f", "g", "name", "12", "-5", "h"];
const VALUES: &[&str] = &[
    "v",
    "1",
    "127",
    "128",
    "-4096",
    "70000",
    "9223372036854775807",
    "hello world",
    "",
    "0123",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];

fn key(r: &mut Rng) -> String {
    format!("k{}", r.below(3))
}

fn recent_id(r: &mut Rng) -> String {
    let ms = MS.load(Ordering::Relaxed);
    let back = r.below(40);
    format!("{}-{}", ms.saturating_sub(back), r.below(3))
}

fn range_id(r: &mut Rng, end: bool) -> String {
    match r.below(8) {
        0 => (if end { "+" } else { "-" }).to_string(),
        1 => format!("({}", recent_id(r)),
        2 => {
            let ms = MS.load(Ordering::Relaxed);
            format!("{}", ms.saturating_sub(r.below(40)))
        }
        _ => recent_id(r),
    }
}

fn trim_args(r: &mut Rng, c: &mut Vec<String>) {
    let approx = r.below(3);
    if r.below(2) == 0 {
        c.push("MAXLEN".into());
        match approx {
            0 => c.push("~".into()),
            1 => c.push("=".into()),
            _ => {}
        }
        c.push(r.below(30).to_string());
    } else {
        c.push("MINID".into());
        match approx {
            0 => c.push("~".into()),
            1 => c.push("=".into()),
            _ => {}
        }
        c.push(recent_id(r));
    }
    if approx == 0 && r.below(3) == 0 {
        c.push("LIMIT".into());
        c.push(r.pick(&["0", "1", "3", "10", "100"]).to_string());
    }
}

/// One random stream command.
pub fn command(r: &mut Rng) -> Vec<String> {
    let k = key(r);
    let s = |x: &str| x.to_string();
    match r.below(20) {
        0..=7 => {
            let ms = MS.fetch_add(r.below(3), Ordering::Relaxed);
            let mut c = vec![s("XADD"), k];
            if r.below(8) == 0 {
                trim_args(r, &mut c);
            }
            c.push(match r.below(6) {
                0 => format!("{ms}-*"),
                1 => format!("{}-{}", ms.saturating_sub(1), r.below(3)),
                _ => format!("{ms}-{}", r.below(4)),
            });
            let n = 1 + r.below(3) as usize;
            let same = r.below(3) != 0;
            for field in FIELDS.iter().take(n) {
                c.push(if same {
                    field.to_string()
                } else {
                    r.pick(FIELDS).to_string()
                });
                c.push(r.pick(VALUES).to_string());
            }
            c
        }
        8 | 9 => {
            let mut c = vec![s("XDEL"), k];
            for _ in 0..1 + r.below(3) {
                c.push(recent_id(r));
            }
            c
        }
        10 | 11 => {
            let mut c = vec![s("XTRIM"), k];
            trim_args(r, &mut c);
            c
        }
        12 | 13 => {
            let mut c = vec![s("XRANGE"), k, range_id(r, false), range_id(r, true)];
            if r.below(2) == 0 {
                c.push(s("COUNT"));
                c.push(r.below(6).to_string());
            }
            c
        }
        14 => {
            let mut c = vec![s("XREVRANGE"), k, range_id(r, true), range_id(r, false)];
            if r.below(2) == 0 {
                c.push(s("COUNT"));
                c.push(r.below(6).to_string());
            }
            c
        }
        15 => vec![s("XLEN"), k],
        16 | 17 => vec![s("XINFO"), s("STREAM"), k],
        18 => vec![
            s("XREAD"),
            s("COUNT"),
            r.below(4).to_string(),
            s("STREAMS"),
            k,
            recent_id(r),
        ],
        _ => vec![s("XINFO"), s("STREAM"), k, s("FULL"), s("COUNT"), s("3")],
    }
}

#[test]
fn random_stream_commands_match_redis() {
    run_family(command, &[], 1..=10, 1500);
}

#[test]
fn random_stream_commands_match_redis_small_nodes() {
    run_family(
        command,
        &[
            "--stream-node-max-entries",
            "4",
            "--stream-node-max-bytes",
            "120",
        ],
        1..=10,
        1500,
    );
}

/// One random command over streams with consumer groups (replies without times: summaries,
/// JUSTID claims, XINFO GROUPS with entries-read and lag).
pub fn group_command(r: &mut Rng) -> Vec<String> {
    let k = key(r);
    let s = |x: &str| x.to_string();
    let g = s(r.pick(&["g1", "g2"]));
    let c = s(r.pick(&["alice", "bob", "carol"]));
    match r.below(24) {
        0..=5 => {
            // XINFO STREAM FULL shows delivery and seen times once groups exist.
            let mut v = command(r);
            v.truncate(if v[0] == "XINFO" { 3 } else { v.len() });
            v
        }
        6 => vec![
            s("XGROUP"),
            s("CREATE"),
            k,
            g,
            s(r.pick(&["$", "0", "1-0"])),
            s("MKSTREAM"),
        ],
        7 => {
            let id = if r.below(2) == 0 {
                s("$")
            } else {
                recent_id(r)
            };
            let mut v = vec![s("XGROUP"), s("SETID"), k, g, id];
            if r.below(3) == 0 {
                v.push(s("ENTRIESREAD"));
                v.push(r.pick(&["-1", "0", "3", "10"]).to_string());
            }
            v
        }
        8 => vec![s("XGROUP"), s("DESTROY"), k, g],
        9 => vec![s("XGROUP"), s("DELCONSUMER"), k, g, c],
        10..=12 => {
            let mut v = vec![s("XREADGROUP"), s("GROUP"), g, c];
            if r.below(2) == 0 {
                v.push(s("COUNT"));
                v.push(r.below(4).to_string());
            }
            if r.below(5) == 0 {
                v.push(s("NOACK"));
            }
            v.push(s("STREAMS"));
            v.push(k);
            v.push(if r.below(4) == 0 { s("0") } else { s(">") });
            v
        }
        13 | 14 => {
            let mut v = vec![s("XACK"), k, g];
            for _ in 0..1 + r.below(3) {
                v.push(recent_id(r));
            }
            v
        }
        15 => vec![s("XPENDING"), k, g],
        16 | 17 => vec![s("XINFO"), s("GROUPS"), k],
        18 => {
            let mut v = vec![s("XCLAIM"), k, g, c, s("0")];
            for _ in 0..1 + r.below(3) {
                v.push(recent_id(r));
            }
            v.push(s("JUSTID"));
            if r.below(3) == 0 {
                v.push(s("FORCE"));
            }
            v
        }
        19 => vec![
            s("XAUTOCLAIM"),
            k,
            g,
            c,
            s("0"),
            range_id(r, false),
            s("COUNT"),
            (1 + r.below(4)).to_string(),
            s("JUSTID"),
        ],
        20 => vec![s("XINFO"), s("STREAM"), k],
        21 => vec![s("XGROUP"), s("CREATECONSUMER"), k, g, c],
        _ => vec![s("XPENDING"), k, g],
    }
}

#[test]
fn random_stream_group_commands_match_redis() {
    run_family(group_command, &[], 1..=10, 1500);
}

#[test]
fn random_stream_group_commands_match_redis_small_nodes() {
    run_family(
        group_command,
        &["--stream-node-max-entries", "3"],
        1..=6,
        1500,
    );
}
