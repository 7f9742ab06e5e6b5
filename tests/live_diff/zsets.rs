//! Random sorted-set commands, with default thresholds and with tiny ones so both encodings
//! and the conversions between them are exercised. Random-order replies (ZRANDMEMBER with a
//! count below the size, ZSCAN of a skiplist) are left out.

use super::{run_family, Rng};

const SCORES: &[&str] = &[
    "0",
    "1",
    "2",
    "2.5",
    "-3",
    "-0",
    "10",
    "0.1",
    "inf",
    "-inf",
    "+inf",
    "1e308",
    "-1.5",
    "3.0000000000000004",
    "abc",
    "nan",
    "7",
    "100",
    "1e-5",
    "4611686018427387904",
];
const MIN_MAX: &[&str] = &[
    "-inf", "+inf", "(1", "2", "(2.5", "0", "-1", "5", "(0", "10", "abc", "(", "", "inf", "-3",
];
const LEX: &[&str] = &[
    "-", "+", "[a", "(b", "[m3", "(m1", "[", "(", "a", "[zz", "(m", "[m10",
];
const RANKS: &[&str] = &["0", "1", "-1", "-2", "2", "5", "100", "-100", "3", "x"];
const COUNTS: &[&str] = &["0", "1", "2", "3", "10", "-1", "x"];

fn member(r: &mut Rng) -> String {
    match r.below(16) {
        0 => String::new(),
        1 => "a".into(),
        2 => "b".into(),
        3 => "x".repeat(70),
        4 => "abcdefghij".into(),
        _ => format!("m{}", r.below(12)),
    }
}

fn key(r: &mut Rng) -> String {
    if r.below(25) == 0 {
        return "ks".into();
    }
    format!("k{}", r.below(5))
}

/// Keys whose members all score 0: lex ranges over mixed scores depend on the skiplist's
/// random levels in Redis, so lex commands only touch these.
fn lkey(r: &mut Rng) -> String {
    format!("l{}", r.below(2))
}

fn keys(r: &mut Rng, c: &mut Vec<String>) -> usize {
    let n = 1 + r.below(3) as usize;
    c.push(n.to_string());
    for _ in 0..n {
        c.push(key(r));
    }
    n
}

fn s(x: &str) -> String {
    x.to_string()
}

fn range_opts(r: &mut Rng, c: &mut Vec<String>, withscores: bool) {
    if withscores && r.below(2) == 0 {
        c.push(s("WITHSCORES"));
    }
    if r.below(3) == 0 {
        c.push(s("LIMIT"));
        c.push(s(r.pick(&["0", "1", "2", "-1", "5"])));
        c.push(s(r.pick(&["1", "2", "-1", "0", "10"])));
    }
}

/// One random sorted-set command.
pub fn command(r: &mut Rng) -> Vec<String> {
    let k = key(r);
    match r.below(48) {
        0..=4 => {
            let mut c = vec![s("ZADD"), k];
            for opt in ["NX", "XX", "GT", "LT", "CH", "INCR"] {
                if r.below(9) == 0 {
                    c.push(s(opt));
                }
            }
            for _ in 0..1 + r.below(4) {
                c.push(s(r.pick(SCORES)));
                c.push(member(r));
            }
            c
        }
        5 => {
            let mut c = vec![s("ZADD"), k];
            let base = r.below(200);
            for i in 0..40 {
                c.push(((i * 7 + base) % 23).to_string());
                c.push(format!("bulk{}", (base + i * 3) % 260));
            }
            c
        }
        6 => vec![s("ZINCRBY"), k, s(r.pick(SCORES)), member(r)],
        7 | 8 => vec![s("ZREM"), k, member(r), member(r)],
        9 => vec![s("ZCARD"), k],
        10 => vec![s("ZSCORE"), k, member(r)],
        11 => vec![s("ZMSCORE"), k, member(r), member(r)],
        12 => vec![s("ZCOUNT"), k, s(r.pick(MIN_MAX)), s(r.pick(MIN_MAX))],
        13 => vec![s("ZLEXCOUNT"), lkey(r), s(r.pick(LEX)), s(r.pick(LEX))],
        14 => vec![s(r.pick(&["ZRANK", "ZREVRANK"])), k, member(r)],
        15 | 16 => {
            let mut c = vec![s("ZRANGE"), k, s(r.pick(RANKS)), s(r.pick(RANKS))];
            if r.below(3) == 0 {
                c.push(s("REV"));
            }
            if r.below(2) == 0 {
                c.push(s("WITHSCORES"));
            }
            c
        }
        17 => {
            let mut c = vec![
                s("ZRANGE"),
                k,
                s(r.pick(MIN_MAX)),
                s(r.pick(MIN_MAX)),
                s("BYSCORE"),
            ];
            if r.below(2) == 0 {
                c.push(s("REV"));
            }
            range_opts(r, &mut c, true);
            c
        }
        18 => {
            let mut c = vec![
                s("ZRANGE"),
                lkey(r),
                s(r.pick(LEX)),
                s(r.pick(LEX)),
                s("BYLEX"),
            ];
            if r.below(2) == 0 {
                c.push(s("REV"));
            }
            range_opts(r, &mut c, false);
            c
        }
        19 => {
            let mut c = vec![
                s("ZRANGEBYSCORE"),
                k,
                s(r.pick(MIN_MAX)),
                s(r.pick(MIN_MAX)),
            ];
            range_opts(r, &mut c, true);
            c
        }
        20 => {
            let mut c = vec![
                s("ZREVRANGEBYSCORE"),
                k,
                s(r.pick(MIN_MAX)),
                s(r.pick(MIN_MAX)),
            ];
            range_opts(r, &mut c, true);
            c
        }
        21 => {
            let mut c = vec![s("ZRANGEBYLEX"), lkey(r), s(r.pick(LEX)), s(r.pick(LEX))];
            range_opts(r, &mut c, false);
            c
        }
        22 => {
            let mut c = vec![s("ZREVRANGEBYLEX"), lkey(r), s(r.pick(LEX)), s(r.pick(LEX))];
            range_opts(r, &mut c, false);
            c
        }
        23 => {
            let mut c = vec![s("ZREVRANGE"), k, s(r.pick(RANKS)), s(r.pick(RANKS))];
            if r.below(2) == 0 {
                c.push(s("WITHSCORES"));
            }
            c
        }
        24 => {
            let dst = key(r);
            match r.below(3) {
                0 => vec![s("ZRANGESTORE"), dst, k, s(r.pick(RANKS)), s(r.pick(RANKS))],
                1 => {
                    let mut c = vec![
                        s("ZRANGESTORE"),
                        dst,
                        k,
                        s(r.pick(MIN_MAX)),
                        s(r.pick(MIN_MAX)),
                        s("BYSCORE"),
                    ];
                    range_opts(r, &mut c, false);
                    c
                }
                _ => vec![
                    s("ZRANGESTORE"),
                    dst,
                    lkey(r),
                    s(r.pick(LEX)),
                    s(r.pick(LEX)),
                    s("BYLEX"),
                ],
            }
        }
        25 => vec![s("ZREMRANGEBYRANK"), k, s(r.pick(RANKS)), s(r.pick(RANKS))],
        26 => vec![
            s("ZREMRANGEBYSCORE"),
            k,
            s(r.pick(MIN_MAX)),
            s(r.pick(MIN_MAX)),
        ],
        27 => vec![s("ZREMRANGEBYLEX"), lkey(r), s(r.pick(LEX)), s(r.pick(LEX))],
        28 | 29 => {
            let mut c = vec![s(r.pick(&["ZPOPMIN", "ZPOPMAX"])), k];
            if r.below(2) == 0 {
                c.push(s(r.pick(COUNTS)));
            }
            c
        }
        30 => {
            let mut c = vec![s("ZMPOP")];
            keys(r, &mut c);
            c.push(s(r.pick(&["MIN", "MAX", "min", "x"])));
            if r.below(2) == 0 {
                c.push(s("COUNT"));
                c.push(s(r.pick(COUNTS)));
            }
            c
        }
        31 => {
            let mut c = vec![s(r.pick(&["BZPOPMIN", "BZPOPMAX"])), k, key(r)];
            c.push(s("0.01"));
            c
        }
        32 => {
            let mut c = vec![s("BZMPOP"), s("0.01")];
            keys(r, &mut c);
            c.push(s(r.pick(&["MIN", "MAX"])));
            if r.below(2) == 0 {
                c.push(s("COUNT"));
                c.push(s(r.pick(COUNTS)));
            }
            c
        }
        33..=36 => {
            let cmd = r.pick(&[
                "ZUNION",
                "ZINTER",
                "ZDIFF",
                "ZUNIONSTORE",
                "ZINTERSTORE",
                "ZDIFFSTORE",
                "ZINTERCARD",
            ]);
            let mut c = vec![s(cmd)];
            if cmd.ends_with("STORE") {
                c.push(key(r));
            }
            let n = keys(r, &mut c);
            if r.below(3) == 0 && !cmd.starts_with("ZDIFF") && cmd != "ZINTERCARD" {
                c.push(s("WEIGHTS"));
                for _ in 0..n {
                    c.push(s(r.pick(&["1", "2", "-1", "0.5", "0", "inf", "x"])));
                }
            }
            if r.below(3) == 0 && !cmd.starts_with("ZDIFF") && cmd != "ZINTERCARD" {
                c.push(s("AGGREGATE"));
                c.push(s(r.pick(&["SUM", "MIN", "MAX", "avg"])));
            }
            if r.below(2) == 0 && !cmd.ends_with("STORE") && cmd != "ZINTERCARD" {
                c.push(s("WITHSCORES"));
            }
            if cmd == "ZINTERCARD" && r.below(2) == 0 {
                c.push(s("LIMIT"));
                c.push(s(r.pick(&["0", "1", "2", "-1"])));
            }
            c
        }
        37 => vec![s("ZRANDMEMBER"), k, s(r.pick(&["300", "1000", "0"]))],
        38 => vec![s("ZRANDMEMBER"), k, s("400"), s("WITHSCORES")],
        39 => vec![s("OBJECT"), s("ENCODING"), k],
        40 => vec![s("TYPE"), k],
        41 => vec![s("DEL"), k],
        42 => vec![s("SET"), s("ks"), s("v")],
        43 => {
            let mut c = vec![s("ZADD"), lkey(r)];
            if r.below(4) == 0 {
                c.push(s(r.pick(&["NX", "XX", "CH"])));
            }
            for _ in 0..1 + r.below(6) {
                c.push(s("0"));
                c.push(member(r));
            }
            c
        }
        44 => vec![s("EXISTS"), k],
        45 => vec![s("ZRANGE"), k, s("0"), s("-1"), s("WITHSCORES")],
        _ => vec![s("ZREM"), lkey(r), member(r), member(r)],
    }
}

#[test]
fn random_zset_commands_match_redis() {
    run_family(command, &[], 1..=12, 1500);
}

#[test]
fn random_zset_commands_match_redis_tiny_thresholds() {
    run_family(
        command,
        &[
            "--zset-max-listpack-entries",
            "4",
            "--zset-max-listpack-value",
            "8",
        ],
        1..=12,
        1500,
    );
}
