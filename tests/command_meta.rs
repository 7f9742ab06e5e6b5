//! The command table against the oracle: COMMAND INFO must equal redis-server's for every
//! command we bind (live, when redis-server is installed; CI installs it), and COMMAND DOCS
//! must equal it except for the summaries, which are our own words.

mod common;

use cinnabar::resp::frame::Frame;
use common::server::{cinnabar, oracle};

/// Commands whose metadata differs on purpose (Redis 7.2 additions), see docs/compat.md.
/// Containers among them (CLIENT, CLUSTER) are compared subcommand by subcommand instead.
const CHANGED_IN_7_2: &[&str] = &["zrank", "zrevrank", "client", "cluster", "waitaof"];

/// Commands Redis 7.0 does not have (Redis 8.x, Valkey 9; `tests/newer_commands.rs`).
const ADDED_LATER: &[&str] = &[
    "delex",
    "digest",
    "delifeq",
    "msetex",
    "hgetdel",
    "hexpire",
    "hpexpire",
    "hexpireat",
    "hpexpireat",
    "httl",
    "hpttl",
    "hexpiretime",
    "hpexpiretime",
    "hpersist",
    "hgetex",
    "hsetex",
    "sexpire",
    "spexpire",
    "sexpireat",
    "spexpireat",
    "sttl",
    "spttl",
    "sexpiretime",
    "spexpiretime",
    "spersist",
    "saddex",
    "xdelex",
    "xackdel",
];

/// Commands whose arguments grew after 7.0 (their COMMAND INFO is 7.0's).
const ARGUMENTS_GREW_LATER: &[&str] = &["set", "bitop", "xadd", "xtrim", "xreadgroup"];

/// The subcommands Redis 7.0 lists for the 7.2-changed containers (those it has, with the
/// same metadata; the ones 7.2 added are ours alone).
fn redis_subcommands(rc: &mut common::client::Client) -> Vec<Vec<u8>> {
    let mut subs = Vec::new();
    for top in ["client", "cluster"] {
        let info = rc.cmd(&["COMMAND", "INFO", top]);
        let entry = info.items().unwrap()[0].items().unwrap().to_vec();
        for s in entry[9].items().unwrap() {
            subs.push(s.items().unwrap()[0].as_bytes().unwrap().to_vec());
        }
    }
    assert!(subs.len() > 40, "{} subcommands", subs.len());
    subs
}

/// Whether a name from our COMMAND LIST is left out of the comparison: the 7.2-changed
/// commands, and subcommands other than those of 7.2-changed containers Redis 7.0 has.
fn skipped(name: &[u8], redis_subs: &[Vec<u8>]) -> bool {
    let n = String::from_utf8_lossy(name);
    if CHANGED_IN_7_2.contains(&n.as_ref()) || ADDED_LATER.contains(&n.as_ref()) {
        return true;
    }
    match n.split_once('|') {
        None => false,
        Some((top, _)) => {
            !CHANGED_IN_7_2.contains(&top) || !redis_subs.iter().any(|s| s.as_slice() == name)
        }
    }
}

fn names(f: &Frame) -> Vec<Vec<u8>> {
    f.items()
        .unwrap()
        .iter()
        .map(|i| i.as_bytes().unwrap().to_vec())
        .collect()
}

#[test]
fn command_info_matches_redis() {
    let Some(r) = oracle(&[]) else { return };
    let ours = cinnabar(&[]);
    let mut rc = r.client();
    let mut oc = ours.client();
    let list = names(&oc.cmd(&["COMMAND", "LIST"]));
    assert!(!list.is_empty());
    let redis_subs = redis_subcommands(&mut rc);
    let (mut checked, mut subs_checked) = (0, 0);
    for name in list {
        let n = String::from_utf8_lossy(&name).to_string();
        let top = n.split('|').next().unwrap().to_string();
        if skipped(&name, &redis_subs) {
            continue;
        }
        let expected = rc.cmd_raw(&[b"COMMAND".as_slice(), b"INFO", &name]);
        let actual = oc.cmd_raw(&[b"COMMAND".as_slice(), b"INFO", &name]);
        // Containers list their subcommands in Redis's dict order; compare them unordered.
        let same = common::transcript::frames_match(
            &expected,
            &actual,
            top == n && n_has_subs(&expected),
            false,
        );
        assert!(
            same,
            "COMMAND INFO {n} differs:\nredis: {}\nours:  {}",
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(&actual)
        );
        checked += 1;
        subs_checked += usize::from(n.contains('|'));
    }
    assert!(checked > 50);
    assert!(subs_checked > 40, "{subs_checked} subcommands compared");
}

fn n_has_subs(frame: &[u8]) -> bool {
    // The tenth element of the info array is the subcommand list.
    let (f, _) = cinnabar::resp::frame::decode(frame).unwrap().unwrap();
    f.items()
        .and_then(|i| i.first())
        .and_then(|e| e.items())
        .and_then(|e| e.get(9))
        .and_then(|s| s.items())
        .is_some_and(|s| !s.is_empty())
}

/// Drops every "summary" field from a decoded COMMAND DOCS reply.
fn strip_summaries(f: &mut Frame) {
    match f {
        Frame::Map(pairs) => {
            pairs.retain(|(k, _)| k.as_bytes() != Some(b"summary"));
            for (_, v) in pairs.iter_mut() {
                strip_summaries(v);
            }
        }
        Frame::Array(items) | Frame::Set(items) => items.iter_mut().for_each(strip_summaries),
        _ => {}
    }
}

#[test]
fn command_docs_match_redis_except_summaries() {
    let Some(r) = oracle(&[]) else { return };
    let ours = cinnabar(&[]);
    let mut rc = r.client();
    let mut oc = ours.client();
    let list = names(&oc.cmd(&["COMMAND", "LIST"]));
    let redis_subs = redis_subcommands(&mut rc);
    rc.cmd(&["HELLO", "3"]);
    oc.cmd(&["HELLO", "3"]);
    for name in list {
        let n = String::from_utf8_lossy(&name).to_string();
        if skipped(&name, &redis_subs) {
            continue;
        }
        let mut expected = rc.cmd(&[b"COMMAND".as_slice(), b"DOCS", &name]);
        let mut actual = oc.cmd(&[b"COMMAND".as_slice(), b"DOCS", &name]);
        strip_summaries(&mut expected);
        strip_summaries(&mut actual);
        // Subcommand maps come in Redis's dict order; sort them.
        let sort = |f: &mut Frame| {
            if let Frame::Map(top) = f {
                for (_, doc) in top.iter_mut() {
                    if let Frame::Map(fields) = doc {
                        for (k, v) in fields.iter_mut() {
                            if k.as_bytes() == Some(b"subcommands") {
                                if let Frame::Map(subs) = v {
                                    subs.sort_by(|a, b| a.0.as_bytes().cmp(&b.0.as_bytes()));
                                }
                            }
                        }
                    }
                }
            }
        };
        sort(&mut expected);
        sort(&mut actual);
        if CHANGED_IN_7_2.contains(&n.as_str()) || ARGUMENTS_GREW_LATER.contains(&n.as_str()) {
            continue;
        }
        // Containers: ours lists only bound subcommands.
        if n == "client" || n == "config" || n == "command" || n == "object" {
            continue;
        }
        assert_eq!(expected, actual, "COMMAND DOCS {n} differs");
    }
}

#[test]
fn summaries_are_our_own() {
    let Some(r) = oracle(&[]) else { return };
    let ours = cinnabar(&[]);
    let mut rc = r.client();
    let mut oc = ours.client();
    let summary = |c: &mut common::client::Client, n: &str| -> Vec<u8> {
        let d = c.cmd(&["COMMAND", "DOCS", n]);
        let items = d.items().unwrap().to_vec();
        let fields = items[1].items().unwrap().to_vec();
        let i = fields
            .iter()
            .position(|f| f.as_bytes() == Some(b"summary"))
            .unwrap();
        fields[i + 1].as_bytes().unwrap().to_vec()
    };
    for n in ["get", "set", "del", "incr", "config", "ping"] {
        let theirs = summary(&mut rc, n);
        let mine = summary(&mut oc, n);
        assert!(!mine.is_empty());
        assert_ne!(
            theirs.to_ascii_lowercase(),
            mine.to_ascii_lowercase(),
            "{n}"
        );
    }
}

/// Bare COMMAND (client libraries call it at connect) lists every command, as COMMAND INFO
/// describes each; a container without a bare form refuses to run bare.
#[test]
fn bare_command_lists_the_whole_table() {
    let server = cinnabar(&[]);
    let mut c = server.client();
    let Frame::Array(all) = c.cmd(&["COMMAND"]) else {
        panic!("COMMAND is an array")
    };
    let Frame::Integer(count) = c.cmd(&["COMMAND", "COUNT"]) else {
        panic!("COMMAND COUNT is an integer")
    };
    assert_eq!(all.len() as i64, count);
    assert_eq!(
        c.cmd_raw(&["CONFIG"]),
        b"-ERR wrong number of arguments for 'config' command\r\n"
    );
}
