//! Generates src/cmd/meta_gen.rs from the oracle's COMMAND INFO and COMMAND DOCS (RESP3), the
//! overlay of what Redis 7.2 added, and our own summaries (src/cmd/summaries.txt).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use cinnabar::resp::frame::Frame;

use crate::client::Client;

#[derive(Debug, Clone, Default)]
pub struct KeySpecM {
    pub notes: String,
    pub flags: Vec<String>,
    /// ("index", index, "") | ("keyword", startfrom, keyword) | ("unknown", 0, "")
    pub begin: (String, i64, String),
    /// ("range", lastkey, keystep, limit) | ("keynum", keynumidx, firstkey, keystep) | unknown
    pub find: (String, i64, i64, i64),
}

#[derive(Debug, Clone, Default)]
pub struct ArgM {
    pub name: String,
    pub kind: String,
    pub key_spec_index: i64,
    pub token: String,
    pub summary: String,
    pub since: String,
    pub deprecated_since: String,
    pub flags: Vec<String>,
    pub args: Vec<ArgM>,
}

#[derive(Debug, Clone, Default)]
pub struct CmdM {
    pub name: String,
    pub arity: i64,
    pub flags: Vec<String>,
    pub hidden_flags: Vec<String>,
    pub first: i64,
    pub last: i64,
    pub step: i64,
    pub acl: Vec<String>,
    pub tips: Vec<String>,
    pub key_specs: Vec<KeySpecM>,
    pub subs: Vec<CmdM>,
    pub since: String,
    pub group: String,
    pub complexity: String,
    pub doc_flags: Vec<String>,
    pub deprecated_since: String,
    pub replaced_by: String,
    pub history: Vec<(String, String)>,
    pub args: Vec<ArgM>,
}

fn s(f: &Frame) -> String {
    String::from_utf8(f.as_bytes().expect("string frame").to_vec()).expect("utf8")
}

fn strs(f: &Frame) -> Vec<String> {
    f.items().expect("list").iter().map(s).collect()
}

fn map(f: &Frame) -> BTreeMap<String, &Frame> {
    match f {
        Frame::Map(pairs) => pairs.iter().map(|(k, v)| (s(k), v)).collect(),
        other => panic!("expected map, got {other:?}"),
    }
}

/// Keys of a RESP3 map in wire order (field order matters when we render it back).
fn map_keys(f: &Frame) -> Vec<String> {
    match f {
        Frame::Map(pairs) => pairs.iter().map(|(k, _)| s(k)).collect(),
        _ => vec![],
    }
}

fn parse_key_spec(f: &Frame) -> KeySpecM {
    let m = map(f);
    let mut ks = KeySpecM {
        notes: m.get("notes").map(|f| s(f)).unwrap_or_default(),
        flags: strs(m["flags"]),
        ..Default::default()
    };
    let bs = map(m["begin_search"]);
    let bspec = map(bs["spec"]);
    ks.begin = match s(bs["type"]).as_str() {
        "index" => (
            "index".into(),
            bspec["index"].as_int().unwrap(),
            String::new(),
        ),
        "keyword" => (
            "keyword".into(),
            bspec["startfrom"].as_int().unwrap(),
            s(bspec["keyword"]),
        ),
        _ => ("unknown".into(), 0, String::new()),
    };
    let fk = map(m["find_keys"]);
    let fspec = map(fk["spec"]);
    ks.find = match s(fk["type"]).as_str() {
        "range" => (
            "range".into(),
            fspec["lastkey"].as_int().unwrap(),
            fspec["keystep"].as_int().unwrap(),
            fspec["limit"].as_int().unwrap(),
        ),
        "keynum" => (
            "keynum".into(),
            fspec["keynumidx"].as_int().unwrap(),
            fspec["firstkey"].as_int().unwrap(),
            fspec["keystep"].as_int().unwrap(),
        ),
        _ => ("unknown".into(), 0, 0, 0),
    };
    ks
}

fn parse_info(f: &Frame) -> CmdM {
    let it = f.items().expect("info array");
    CmdM {
        name: s(&it[0]),
        arity: it[1].as_int().unwrap(),
        flags: strs(&it[2]),
        first: it[3].as_int().unwrap(),
        last: it[4].as_int().unwrap(),
        step: it[5].as_int().unwrap(),
        acl: strs(&it[6])
            .into_iter()
            .map(|c| c.trim_start_matches('@').to_string())
            .collect(),
        tips: strs(&it[7]),
        key_specs: it[8].items().unwrap().iter().map(parse_key_spec).collect(),
        subs: it[9].items().unwrap().iter().map(parse_info).collect(),
        ..Default::default()
    }
}

const ARG_FIELDS: &[&str] = &[
    "name",
    "type",
    "display_text",
    "key_spec_index",
    "token",
    "summary",
    "since",
    "deprecated_since",
    "flags",
    "arguments",
];

fn parse_arg(f: &Frame) -> ArgM {
    for k in map_keys(f) {
        assert!(
            ARG_FIELDS.contains(&k.as_str()),
            "unknown argument field {k}"
        );
    }
    let m = map(f);
    ArgM {
        name: s(m["name"]),
        kind: s(m["type"]),
        key_spec_index: m
            .get("key_spec_index")
            .map(|f| f.as_int().unwrap())
            .unwrap_or(-1),
        token: m.get("token").map(|f| s(f)).unwrap_or_default(),
        summary: m.get("summary").map(|f| s(f)).unwrap_or_default(),
        since: m.get("since").map(|f| s(f)).unwrap_or_default(),
        deprecated_since: m.get("deprecated_since").map(|f| s(f)).unwrap_or_default(),
        flags: m.get("flags").map(|f| strs(f)).unwrap_or_default(),
        args: m
            .get("arguments")
            .map(|f| f.items().unwrap().iter().map(parse_arg).collect())
            .unwrap_or_default(),
    }
}

fn apply_docs(cmd: &mut CmdM, f: &Frame) {
    let m = map(f);
    let get = |k: &str| m.get(k).map(|f| s(f)).unwrap_or_default();
    cmd.since = get("since");
    cmd.group = get("group");
    cmd.complexity = get("complexity");
    cmd.deprecated_since = get("deprecated_since");
    cmd.replaced_by = get("replaced_by");
    cmd.doc_flags = m.get("doc_flags").map(|f| strs(f)).unwrap_or_default();
    cmd.history = m
        .get("history")
        .map(|f| {
            f.items()
                .unwrap()
                .iter()
                .map(|h| {
                    let h = h.items().unwrap();
                    (s(&h[0]), s(&h[1]))
                })
                .collect()
        })
        .unwrap_or_default();
    cmd.args = m
        .get("arguments")
        .map(|f| f.items().unwrap().iter().map(parse_arg).collect())
        .unwrap_or_default();
    if let Some(subs) = m.get("subcommands") {
        let subdocs = map(subs);
        for sub in &mut cmd.subs {
            let d = subdocs
                .get(&sub.name)
                .unwrap_or_else(|| panic!("docs for {}", sub.name));
            apply_docs(sub, d);
        }
    }
}

pub fn generate(root: &Path) {
    let redis = crate::start_redis(&[]);
    let mut c = Client::connect(redis.port).unwrap();
    c.cmd(&["HELLO", "3"]);
    let info = c.cmd(&["COMMAND", "INFO"]);
    let docs = c.cmd(&["COMMAND", "DOCS"]);
    let version = match c.cmd(&["INFO", "server"]) {
        Frame::Verbatim(v) | Frame::Bulk(v) => String::from_utf8(v)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:").map(str::to_string))
            .unwrap()
            .trim()
            .to_string(),
        _ => panic!("INFO"),
    };
    let docs = map(&docs);
    let mut cmds: Vec<CmdM> = info.items().unwrap().iter().map(parse_info).collect();
    for cmd in &mut cmds {
        apply_docs(cmd, docs[&cmd.name]);
    }
    crate::overlay::apply(&mut cmds);
    // Redis lists subcommands in its hash order, which changes with every start: sorted, the
    // generated file changes only when the facts do.
    cmds.sort_by(|a, b| a.name.cmp(&b.name));
    for c in &mut cmds {
        c.subs.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let summaries = load_summaries(&root.join("src/cmd/summaries.txt"));
    let code = emit(&cmds, &summaries, &version);
    std::fs::write(root.join("src/cmd/meta_gen.rs"), code).unwrap();
    println!("wrote src/cmd/meta_gen.rs: {} commands", cmds.len());
}

fn load_summaries(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, s) = l.split_once('\t').expect("name<TAB>summary");
            (n.to_string(), s.to_string())
        })
        .collect()
}

pub fn ident(name: &str) -> String {
    name.to_uppercase().replace(['|', '-', '.'], "_")
}

const FLAG_ORDER: &[&str] = &[
    "write",
    "readonly",
    "denyoom",
    "module",
    "admin",
    "pubsub",
    "noscript",
    "blocking",
    "loading",
    "stale",
    "skip_monitor",
    "skip_slowlog",
    "asking",
    "fast",
    "no_auth",
    "no_mandatory_keys",
    "no_async_loading",
    "no_multi",
    "movablekeys",
    "allow_busy",
];

const ACL_ORDER: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

const KEY_FLAG_ORDER: &[&str] = &[
    "RO",
    "RW",
    "OW",
    "RM",
    "access",
    "update",
    "insert",
    "delete",
    "not_key",
    "incomplete",
    "variable_flags",
];

/// Checks that `names` come in `order` (so rendering from a bitmask reproduces the wire order)
/// and returns their indexes.
fn ordered_indexes(names: &[String], order: &[&str], what: &str) -> Vec<usize> {
    let idx: Vec<usize> = names
        .iter()
        .map(|n| {
            order
                .iter()
                .position(|o| o == n)
                .unwrap_or_else(|| panic!("unknown {what} {n}"))
        })
        .collect();
    assert!(
        idx.windows(2).all(|w| w[0] < w[1]),
        "{what} out of order: {names:?}"
    );
    idx
}

fn emit(cmds: &[CmdM], summaries: &BTreeMap<String, String>, version: &str) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "// @generated by `cargo run --example record -- meta` from redis-server {version}'s\n\
         // COMMAND INFO and COMMAND DOCS, plus examples/record/overlay.rs (Redis 7.2 additions)\n\
         // and src/cmd/summaries.txt. Do not edit by hand.\n\
         #![allow(clippy::all)]\n\n\
         use super::meta::*;\n"
    )
    .unwrap();
    let mut all = Vec::new();
    for c in cmds {
        emit_cmd(&mut out, c, summaries);
        all.push(ident(&c.name));
    }
    writeln!(out, "/// Every command Redis knows, sorted by name.").unwrap();
    writeln!(out, "pub static ALL: &[&CommandMeta] = &[").unwrap();
    for a in all {
        writeln!(out, "    &{a},").unwrap();
    }
    writeln!(out, "];").unwrap();
    out
}

fn emit_cmd(out: &mut String, c: &CmdM, summaries: &BTreeMap<String, String>) {
    for sub in &c.subs {
        emit_cmd(out, sub, summaries);
    }
    let flags: Vec<String> = ordered_indexes(&c.flags, FLAG_ORDER, "flag")
        .into_iter()
        .map(|i| {
            format!(
                "flag::{}",
                FLAG_ORDER[i]
                    .to_uppercase()
                    .replace("MOVABLEKEYS", "MOVABLE_KEYS")
            )
        })
        .chain(
            c.hidden_flags
                .iter()
                .map(|h| format!("flag::{}", h.to_uppercase())),
        )
        .collect();
    let acl: u64 = ordered_indexes(&c.acl, ACL_ORDER, "acl category")
        .into_iter()
        .fold(0, |m, i| m | (1 << i));
    let summary = summaries
        .get(&c.name)
        .unwrap_or_else(|| panic!("no summary for {} in src/cmd/summaries.txt", c.name));
    writeln!(
        out,
        "pub static {}: CommandMeta = CommandMeta {{",
        ident(&c.name)
    )
    .unwrap();
    writeln!(out, "    name: {:?},", c.name).unwrap();
    writeln!(out, "    arity: {},", c.arity).unwrap();
    writeln!(
        out,
        "    flags: {},",
        if flags.is_empty() {
            "0".to_string()
        } else {
            flags.join(" | ")
        }
    )
    .unwrap();
    writeln!(
        out,
        "    first_key: {},\n    last_key: {},\n    key_step: {},",
        c.first, c.last, c.step
    )
    .unwrap();
    writeln!(out, "    acl: {acl:#x},").unwrap();
    writeln!(out, "    tips: &{:?},", c.tips).unwrap();
    write!(out, "    key_specs: &[").unwrap();
    for ks in &c.key_specs {
        let kflags: u32 = ordered_indexes(&ks.flags, KEY_FLAG_ORDER, "key flag")
            .into_iter()
            .fold(0, |m, i| m | (1 << i));
        let begin = match ks.begin.0.as_str() {
            "index" => format!("BeginSearch::Index({})", ks.begin.1),
            "keyword" => format!(
                "BeginSearch::Keyword {{ keyword: {:?}, startfrom: {} }}",
                ks.begin.2, ks.begin.1
            ),
            _ => "BeginSearch::Unknown".to_string(),
        };
        let find = match ks.find.0.as_str() {
            "range" => format!(
                "FindKeys::Range {{ lastkey: {}, keystep: {}, limit: {} }}",
                ks.find.1, ks.find.2, ks.find.3
            ),
            "keynum" => format!(
                "FindKeys::Keynum {{ keynumidx: {}, firstkey: {}, keystep: {} }}",
                ks.find.1, ks.find.2, ks.find.3
            ),
            _ => "FindKeys::Unknown".to_string(),
        };
        write!(
            out,
            "\n        KeySpec {{ notes: {:?}, flags: {kflags:#x}, begin_search: {begin}, find_keys: {find} }},",
            ks.notes
        )
        .unwrap();
    }
    if !c.key_specs.is_empty() {
        write!(out, "\n    ").unwrap();
    }
    writeln!(out, "],").unwrap();
    let subs: Vec<String> = c
        .subs
        .iter()
        .map(|s| format!("&{}", ident(&s.name)))
        .collect();
    writeln!(out, "    subcommands: &[{}],", subs.join(", ")).unwrap();
    writeln!(out, "    summary: {summary:?},").unwrap();
    writeln!(out, "    since: {:?},\n    group: {:?},", c.since, c.group).unwrap();
    writeln!(out, "    complexity: {:?},", c.complexity).unwrap();
    writeln!(out, "    doc_flags: &{:?},", c.doc_flags).unwrap();
    writeln!(out, "    deprecated_since: {:?},", c.deprecated_since).unwrap();
    writeln!(out, "    replaced_by: {:?},", c.replaced_by).unwrap();
    writeln!(out, "    history: &{:?},", c.history).unwrap();
    write!(out, "    args: ").unwrap();
    emit_args(out, &c.args, 1);
    writeln!(out, ",\n}};\n").unwrap();
}

fn emit_args(out: &mut String, args: &[ArgM], depth: usize) {
    if args.is_empty() {
        out.push_str("&[]");
        return;
    }
    let pad = "    ".repeat(depth + 1);
    out.push_str("&[\n");
    for a in args {
        write!(
            out,
            "{pad}Arg {{ name: {:?}, kind: {:?}, key_spec_index: {}, token: {:?}, summary: {:?}, \
             since: {:?}, deprecated_since: {:?}, flags: &{:?}, args: ",
            a.name,
            a.kind,
            a.key_spec_index,
            a.token,
            a.summary,
            a.since,
            a.deprecated_since,
            a.flags
        )
        .unwrap();
        emit_args(out, &a.args, depth + 1);
        out.push_str(" },\n");
    }
    out.push_str(&"    ".repeat(depth));
    out.push(']');
}
