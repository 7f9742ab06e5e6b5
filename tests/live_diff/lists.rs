//! Random list commands (and a few string/generic ones for WRONGTYPE, renames and deletes),
//! with default node options and with tiny nodes and compression.

use super::{run_family, Rng};

const VALUES: &[&str] = &[
    "a",
    "b",
    "c",
    "a",
    "",
    "0",
    "1",
    "-1",
    "9223372036854775807",
    "hello world",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
];
const INDEXES: &[&str] = &[
    "0", "1", "2", "3", "5", "10", "-1", "-2", "-3", "-10", "100", "-100", "x",
];
const COUNTS: &[&str] = &["0", "1", "2", "3", "7", "-1", "-2", "100", "x"];

fn key(r: &mut Rng) -> String {
    format!("k{}", r.below(5))
}

fn value(r: &mut Rng) -> String {
    if r.below(20) == 0 {
        // Long enough to fill a node on its own.
        "v".repeat(r.below(9000) as usize)
    } else {
        r.pick(VALUES).to_string()
    }
}

fn side(r: &mut Rng) -> String {
    r.pick(&["LEFT", "RIGHT", "left", "right", "LEFT", "RIGHT", "UP"])
        .to_string()
}

/// One random command.
pub fn command(r: &mut Rng) -> Vec<String> {
    let k = key(r);
    let s = |x: &str| x.to_string();
    match r.below(40) {
        0..=3 => {
            let mut c = vec![s(r.pick(&["LPUSH", "RPUSH"])), k];
            for _ in 0..=r.below(8) {
                c.push(value(r));
            }
            c
        }
        4 => {
            let mut c = vec![s(r.pick(&["LPUSHX", "RPUSHX"])), k];
            for _ in 0..=r.below(3) {
                c.push(value(r));
            }
            c
        }
        5 | 6 => vec![s(r.pick(&["LPOP", "RPOP"])), k],
        7 => vec![s(r.pick(&["LPOP", "RPOP"])), k, s(r.pick(COUNTS))],
        8 => vec![s("LLEN"), k],
        9..=11 => vec![s("LRANGE"), k, s(r.pick(INDEXES)), s(r.pick(INDEXES))],
        12 | 13 => vec![s("LINDEX"), k, s(r.pick(INDEXES))],
        14 => vec![s("LSET"), k, s(r.pick(INDEXES)), value(r)],
        15 | 16 => vec![
            s("LINSERT"),
            k,
            s(r.pick(&["BEFORE", "AFTER", "after", "NEAR"])),
            s(r.pick(VALUES)),
            value(r),
        ],
        17 => vec![s("LREM"), k, s(r.pick(COUNTS)), s(r.pick(VALUES))],
        18 => vec![s("LTRIM"), k, s(r.pick(INDEXES)), s(r.pick(INDEXES))],
        19 | 20 => {
            let mut c = vec![s("LPOS"), k, s(r.pick(VALUES))];
            for _ in 0..r.below(4) {
                match r.below(4) {
                    0 => c.extend([s("RANK"), s(r.pick(&["1", "2", "-1", "-3", "0", "x"]))]),
                    1 => c.extend([s("COUNT"), s(r.pick(COUNTS))]),
                    2 => c.extend([s("MAXLEN"), s(r.pick(COUNTS))]),
                    _ => c.push(s(r.pick(&["RANK", "FOO"]))),
                }
            }
            c
        }
        21 | 22 => vec![s("LMOVE"), k, key(r), side(r), side(r)],
        23 => vec![s("RPOPLPUSH"), k, key(r)],
        24 | 25 => {
            let n = r.below(3) + 1;
            let mut c = vec![s("LMPOP"), n.to_string()];
            for _ in 0..n {
                c.push(key(r));
            }
            c.push(side(r));
            if r.below(2) == 0 {
                c.extend([s("COUNT"), s(r.pick(COUNTS))]);
            }
            if r.below(15) == 0 {
                c[1] = s(r.pick(&["0", "-1", "x", "5"]));
            }
            c
        }
        // Blocking forms with data present, or a short wait when there is none.
        26 => vec![s(r.pick(&["BLPOP", "BRPOP"])), k, key(r), s("0.01")],
        27 => vec![s("BLMOVE"), k, key(r), side(r), side(r), s("0.01")],
        28 => vec![s("BRPOPLPUSH"), k, key(r), s(r.pick(&["0.01", "-1", "x"]))],
        29 => vec![
            s("BLMPOP"),
            s(r.pick(&["0.01", "0.01", "-1"])),
            s("2"),
            k,
            key(r),
            side(r),
            s("COUNT"),
            s(r.pick(COUNTS)),
        ],
        30 => vec![s("SET"), k, s("str")],
        31 => vec![s("DEL"), k],
        32 => vec![s("RENAME"), k, key(r)],
        33 => vec![s("TYPE"), k],
        34 => vec![s("OBJECT"), s("ENCODING"), k],
        35 => vec![s("EXISTS"), k],
        36 => vec![s("COPY"), k, key(r), s("REPLACE")],
        37 => {
            // A sweep over a whole list checks every element after many edits.
            vec![s("LRANGE"), k, s("0"), s("-1")]
        }
        38 => vec![
            s("LINDEX"),
            k,
            s(r.pick(&["0", "-1", "7", "-8", "20", "-21"])),
        ],
        _ => vec![s("LPOS"), k, s(r.pick(VALUES)), s("COUNT"), s("0")],
    }
}

#[test]
fn random_list_commands_match_redis() {
    run_family(command, &[], 1..=12, 1500);
}

#[test]
fn random_list_commands_match_redis_tiny_nodes() {
    run_family(
        command,
        &[
            "--list-max-listpack-size",
            "4",
            "--list-compress-depth",
            "1",
        ],
        1..=12,
        1500,
    );
}

#[test]
fn random_list_commands_match_redis_tiny_bytes() {
    run_family(
        command,
        &[
            "--list-max-listpack-size",
            "-1",
            "--list-compress-depth",
            "2",
        ],
        1..=8,
        1500,
    );
}
