//! Random string and generic key commands.

use super::{run_family, Rng};

const VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "-1",
    "42",
    "9223372036854775807",
    "-9223372036854775808",
    "3.14",
    "1e3",
    "-0",
    "01",
    "abc",
    "hello world",
    " 7",
    "x",
    "1.5e-3",
    "inf",
    "nan",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];
const INTS: &[&str] = &[
    "0",
    "1",
    "-1",
    "5",
    "100",
    "-7",
    "abc",
    "9223372036854775807",
    "2",
    "3",
];
const OFFSETS: &[&str] = &["0", "1", "2", "5", "-1", "-3", "10", "100", "abc"];

pub fn key(r: &mut Rng) -> String {
    format!("k{}", r.below(6))
}

/// One random command over strings and generic key operations.
pub fn command(r: &mut Rng) -> Vec<String> {
    let k = key(r);
    let v = r.pick(VALUES).to_string();
    let s = |x: &str| x.to_string();
    match r.below(34) {
        0 | 1 => vec![s("SET"), k, v],
        2 => {
            let mut c = vec![s("SET"), k, v];
            for opt in ["NX", "XX", "GET", "KEEPTTL"] {
                if r.below(3) == 0 {
                    c.push(s(opt));
                }
            }
            if r.below(3) == 0 {
                c.push(s("EX"));
                c.push(s(r.pick(&["100000", "0", "-1", "x"])));
            }
            c
        }
        3 | 4 => vec![s("GET"), k],
        5 => vec![s("APPEND"), k, v],
        6 => vec![s("INCR"), k],
        7 => vec![s("INCRBY"), k, s(r.pick(INTS))],
        8 => vec![s("DECRBY"), k, s(r.pick(INTS))],
        9 => vec![
            s("INCRBYFLOAT"),
            k,
            s(r.pick(&["1", "0.1", "-2.5", "1e2", "x", "0"])),
        ],
        10 => vec![s("STRLEN"), k],
        11 => vec![s("GETRANGE"), k, s(r.pick(OFFSETS)), s(r.pick(OFFSETS))],
        12 => vec![s("SETRANGE"), k, s(r.pick(&["0", "1", "3", "7", "-1"])), v],
        13 => vec![s("MSET"), k, v, key(r), s(r.pick(VALUES))],
        14 => vec![s("MGET"), k, key(r), key(r)],
        15 => vec![s("MSETNX"), k, v, key(r), s("z")],
        16 => vec![s("GETSET"), k, v],
        17 => vec![s("GETDEL"), k],
        18 => vec![s("DEL"), k, key(r)],
        19 => vec![s("EXISTS"), k.clone(), key(r), k],
        20 => vec![s("TYPE"), k],
        21 => vec![s("RENAME"), k, key(r)],
        22 => vec![s("RENAMENX"), k, key(r)],
        23 => vec![
            s("COPY"),
            k,
            key(r),
            s(r.pick(&["REPLACE", "DB", "x"])),
            s("1"),
        ],
        24 => vec![s("OBJECT"), s("ENCODING"), k],
        25 => vec![s("SETNX"), k, v],
        26 => vec![s("LCS"), k, key(r)],
        27 => vec![
            s("EXPIRE"),
            k,
            s(r.pick(&["100000", "200000", "0", "-5", "x"])),
            s(r.pick(&["NX", "XX", "GT", "LT", "NX"])),
        ],
        28 => vec![s("PERSIST"), k],
        29 => vec![
            s("GETEX"),
            k,
            s(r.pick(&["PERSIST", "EX", "PX"])),
            s("100000"),
        ],
        30 => vec![s("DECR"), k],
        31 => vec![s("SUBSTR"), k, s(r.pick(OFFSETS)), s(r.pick(OFFSETS))],
        32 => vec![s("DBSIZE")],
        _ => vec![
            s("LCS"),
            k,
            key(r),
            s(r.pick(&["LEN", "IDX", "IDX WITHMATCHLEN"])),
        ],
    }
}

#[test]
fn random_string_and_key_commands_match_redis() {
    run_family(command, &[], 1..=20, 1500);
}
