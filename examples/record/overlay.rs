//! What the 7.0.15 oracle cannot tell us: commands and options Redis 7.2 added (which cinnabar
//! supports on top), and flags Redis keeps hidden from COMMAND. Each entry cites the 7.2 docs.

use crate::meta::{ArgM, CmdM, KeySpecM};

fn arg(name: &str, kind: &str, token: &str, since: &str, flags: &[&str]) -> ArgM {
    ArgM {
        name: name.into(),
        kind: kind.into(),
        key_spec_index: -1,
        token: token.into(),
        since: since.into(),
        flags: flags.iter().map(|f| f.to_string()).collect(),
        ..Default::default()
    }
}

fn find<'a>(cmds: &'a mut [CmdM], name: &str) -> &'a mut CmdM {
    let (top, sub) = match name.split_once('|') {
        Some((t, _)) => (t, Some(name)),
        None => (name, None),
    };
    let c = cmds
        .iter_mut()
        .find(|c| c.name == top)
        .unwrap_or_else(|| panic!("no {top}"));
    match sub {
        None => c,
        Some(full) => c
            .subs
            .iter_mut()
            .find(|s| s.name == full)
            .unwrap_or_else(|| panic!("no {full}")),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub fn apply(cmds: &mut Vec<CmdM>) {
    // Hidden flags (Redis's command JSON files): PROTECTED gates DEBUG and MODULE LOAD /
    // LOADEX / UNLOAD behind enable-debug-command / enable-module-command; MAY_REPLICATE marks
    // commands that can propagate even when they are not writes.
    for name in ["debug", "module|load", "module|loadex", "module|unload"] {
        find(cmds, name).hidden_flags.push("protected".into());
    }
    for name in ["eval", "evalsha", "fcall", "publish", "spublish", "pfcount"] {
        find(cmds, name).hidden_flags.push("may_replicate".into());
    }

    // 7.2: ZRANK / ZREVRANK accept WITHSCORE.
    for name in ["zrank", "zrevrank"] {
        let c = find(cmds, name);
        c.arity = -3;
        c.args.push(arg(
            "withscore",
            "pure-token",
            "WITHSCORE",
            "",
            &["optional"],
        ));
        c.history.push((
            "7.2.0".into(),
            "Added the optional `WITHSCORE` argument.".into(),
        ));
    }

    // 7.2: CLIENT SETINFO and CLIENT NO-TOUCH.
    let client = find(cmds, "client");
    let template = client
        .subs
        .iter()
        .find(|s| s.name == "client|setname")
        .cloned()
        .expect("setname");
    let mut setinfo = template.clone();
    setinfo.name = "client|setinfo".into();
    setinfo.arity = 4;
    setinfo.since = "7.2.0".into();
    setinfo.complexity = "O(1)".into();
    setinfo.tips = strings(&["request_policy:all_nodes", "response_policy:all_succeeded"]);
    setinfo.history.clear();
    setinfo.args = vec![ArgM {
        name: "attr".into(),
        kind: "oneof".into(),
        key_spec_index: -1,
        args: vec![
            arg("libname", "string", "LIB-NAME", "", &[]),
            arg("libver", "string", "LIB-VER", "", &[]),
        ],
        ..Default::default()
    }];
    let mut no_touch = template;
    no_touch.name = "client|no-touch".into();
    no_touch.arity = 3;
    no_touch.since = "7.2.0".into();
    no_touch.complexity = "O(1)".into();
    no_touch.history.clear();
    no_touch.args = vec![ArgM {
        name: "enabled".into(),
        kind: "oneof".into(),
        key_spec_index: -1,
        args: vec![
            arg("on", "pure-token", "ON", "", &[]),
            arg("off", "pure-token", "OFF", "", &[]),
        ],
        ..Default::default()
    }];
    client.subs.push(setinfo);
    client.subs.push(no_touch);
    client.subs.sort_by(|a, b| a.name.cmp(&b.name));

    // 7.2: CLUSTER MYSHARDID, shaped as CLUSTER MYID.
    let mut myshardid = find(cmds, "cluster|myid").clone();
    myshardid.name = "cluster|myshardid".into();
    myshardid.since = "7.2.0".into();
    myshardid.tips = strings(&["nondeterministic_output"]);
    let cluster = find(cmds, "cluster");
    cluster.subs.push(myshardid);

    // 7.2: WAITAOF numlocal numreplicas timeout.
    let mut waitaof = find(cmds, "wait").clone();
    waitaof.name = "waitaof".into();
    waitaof.arity = 4;
    waitaof.since = "7.2.0".into();
    waitaof.complexity = "O(1)".into();
    waitaof.tips = strings(&["request_policy:all_shards", "response_policy:agg_min"]);
    waitaof.args = vec![
        arg("numlocal", "integer", "", "", &[]),
        arg("numreplicas", "integer", "", "", &[]),
        arg("timeout", "integer", "", "", &[]),
    ];
    cmds.push(waitaof);

    newer_lineages(cmds);
}

/// A key argument bound to key spec 0.
fn key_arg(name: &str) -> ArgM {
    ArgM {
        name: name.into(),
        kind: "key".into(),
        key_spec_index: 0,
        ..Default::default()
    }
}

/// The `FIELDS numfields field [field ...]` block of Redis 7.4+'s hash field commands
/// (`field value` pairs for HSETEX).
fn fields_arg(with_values: bool) -> ArgM {
    let items = if with_values {
        ArgM {
            name: "data".into(),
            kind: "block".into(),
            key_spec_index: -1,
            flags: strings(&["multiple"]),
            args: vec![
                arg("field", "string", "", "", &[]),
                arg("value", "string", "", "", &[]),
            ],
            ..Default::default()
        }
    } else {
        arg("field", "string", "", "", &["multiple"])
    };
    ArgM {
        name: "fields".into(),
        kind: "block".into(),
        key_spec_index: -1,
        token: "FIELDS".into(),
        args: vec![arg("numfields", "integer", "", "", &[]), items],
        ..Default::default()
    }
}

/// The `MEMBERS nummembers member [member ...]` block of Redis 8.12's set member commands.
fn members_arg() -> ArgM {
    ArgM {
        name: "members".into(),
        kind: "block".into(),
        key_spec_index: -1,
        token: "MEMBERS".into(),
        args: vec![
            arg("nummembers", "integer", "", "", &[]),
            arg("member", "string", "", "", &["multiple"]),
        ],
        ..Default::default()
    }
}

/// The EXPIRE family, TTL readers and PERSIST of hash fields or set members: `set`, `read` and
/// `persist` name the templates (flags, ACL categories, key specs) of each kind, `items` the
/// block naming the fields or members.
#[allow(clippy::too_many_arguments)]
fn subkey_ttl_commands(
    cmds: &mut Vec<CmdM>,
    expire: [&str; 4],
    ttl: [&str; 4],
    persist: &str,
    (set, read, persist_like): (&str, &str, &str),
    since: &str,
    what: &str,
    items: impl Fn() -> ArgM,
) {
    let complexity = format!("O(N) where N is the number of specified {what}");
    let units = [
        ("seconds", "integer"),
        ("milliseconds", "integer"),
        ("unix-time-seconds", "unix-time"),
        ("unix-time-milliseconds", "unix-time"),
    ];
    for (name, (time, kind)) in expire.into_iter().zip(units) {
        let mut c = like(cmds, set, name, -6, since);
        c.key_specs[0].flags = strings(&["RW", "update"]);
        c.complexity = complexity.clone();
        c.args = vec![
            key_arg("key"),
            arg(time, kind, "", "", &[]),
            one_of(
                "condition",
                true,
                ["nx", "xx", "gt", "lt"]
                    .iter()
                    .map(|t| arg(t, "pure-token", &t.to_ascii_uppercase(), "", &[]))
                    .collect(),
            ),
            items(),
        ];
        cmds.push(c);
    }
    for name in ttl {
        let mut c = like(cmds, read, name, -5, since);
        c.complexity = complexity.clone();
        c.args = vec![key_arg("key"), items()];
        cmds.push(c);
    }
    let mut c = like(cmds, persist_like, persist, -5, since);
    c.key_specs[0].flags = strings(&["RW", "update"]);
    c.complexity = complexity;
    c.args = vec![key_arg("key"), items()];
    cmds.push(c);
}

/// A one-of group of arguments.
fn one_of(name: &str, optional: bool, args: Vec<ArgM>) -> ArgM {
    ArgM {
        name: name.into(),
        kind: "oneof".into(),
        key_spec_index: -1,
        flags: if optional {
            strings(&["optional"])
        } else {
            Vec::new()
        },
        args,
        ..Default::default()
    }
}

/// A new command shaped as `template` (flags, ACL categories, key specs), renamed.
fn like(cmds: &mut [CmdM], template: &str, name: &str, arity: i64, since: &str) -> CmdM {
    let mut c = find(cmds, template).clone();
    c.name = name.into();
    c.arity = arity;
    c.since = since.into();
    c.history.clear();
    c.doc_flags.clear();
    c.deprecated_since.clear();
    c.replaced_by.clear();
    c
}

/// What Redis 7.4-8.x and Valkey 8-9 added that cinnabar serves, as their command JSON files
/// (redis/src/commands/*.json, valkey/src/commands/*.json) describe it.
fn newer_lineages(cmds: &mut Vec<CmdM>) {
    // Redis 8.4 (IFEQ also Valkey 8.1): SET's compare-and-set conditions.
    let set = find(cmds, "set");
    let condition = set
        .args
        .iter_mut()
        .find(|a| a.name == "condition")
        .expect("set condition");
    condition.args.extend([
        arg("ifeq-value", "string", "IFEQ", "8.4.0", &[]),
        arg("ifne-value", "string", "IFNE", "8.4.0", &[]),
        arg("ifdeq-digest", "string", "IFDEQ", "8.4.0", &[]),
        arg("ifdne-digest", "string", "IFDNE", "8.4.0", &[]),
    ]);
    set.history.push((
        "8.4.0".into(),
        "Added 'IFEQ', 'IFNE', 'IFDEQ', 'IFDNE' options.".into(),
    ));

    // Redis 8.2: BITOP DIFF, DIFF1, ANDOR, ONE; its operation becomes a one-of of tokens.
    let bitop = find(cmds, "bitop");
    let operation = bitop
        .args
        .iter_mut()
        .find(|a| a.name == "operation")
        .expect("bitop operation");
    operation.kind = "oneof".into();
    operation.args = ["and", "or", "xor", "not", "diff", "diff1", "andor", "one"]
        .iter()
        .map(|op| arg(op, "pure-token", &op.to_ascii_uppercase(), "", &[]))
        .collect();
    bitop.history.push((
        "8.2.0".into(),
        "Added the DIFF, DIFF1, ANDOR and ONE operations.".into(),
    ));

    // Redis 8.0: HGETDEL key FIELDS numfields field [field ...].
    let mut hgetdel = like(cmds, "hdel", "hgetdel", -5, "8.0.0");
    hgetdel.key_specs[0].flags = strings(&["RW", "access", "delete"]);
    hgetdel.complexity = "O(N) where N is the number of specified fields".into();
    hgetdel.args = vec![key_arg("key"), fields_arg(false)];
    cmds.push(hgetdel);

    // Redis 7.4: hash field expiration (HEXPIRE ... HPERSIST), Redis 8.0: HGETEX, HSETEX.
    subkey_ttl_commands(
        cmds,
        ["hexpire", "hpexpire", "hexpireat", "hpexpireat"],
        ["httl", "hpttl", "hexpiretime", "hpexpiretime"],
        "hpersist",
        ("hset", "hget", "hdel"),
        "7.4.0",
        "fields",
        || fields_arg(false),
    );
    let ttl_options = |extra: ArgM| {
        let mut v = vec![
            arg("seconds", "integer", "EX", "", &[]),
            arg("milliseconds", "integer", "PX", "", &[]),
            arg("unix-time-seconds", "unix-time", "EXAT", "", &[]),
            arg("unix-time-milliseconds", "unix-time", "PXAT", "", &[]),
        ];
        v.push(extra);
        one_of("expiration", true, v)
    };
    let mut hgetex = like(cmds, "hdel", "hgetex", -5, "8.0.0");
    hgetex.key_specs[0].flags = strings(&["RW", "access", "update"]);
    hgetex.complexity = "O(N) where N is the number of specified fields".into();
    hgetex.args = vec![
        key_arg("key"),
        ttl_options(arg("persist", "pure-token", "PERSIST", "", &[])),
        fields_arg(false),
    ];
    cmds.push(hgetex);
    let mut hsetex = like(cmds, "hset", "hsetex", -6, "8.0.0");
    hsetex.complexity = "O(N) where N is the number of fields being set.".into();
    hsetex.args = vec![
        key_arg("key"),
        one_of(
            "condition",
            true,
            vec![
                arg("fnx", "pure-token", "FNX", "", &[]),
                arg("fxx", "pure-token", "FXX", "", &[]),
            ],
        ),
        ttl_options(arg("keepttl", "pure-token", "KEEPTTL", "", &[])),
        fields_arg(true),
    ];
    cmds.push(hsetex);

    // Redis 8.12: set member expiration (SEXPIRE ... SPERSIST, SADDEX).
    subkey_ttl_commands(
        cmds,
        ["sexpire", "spexpire", "sexpireat", "spexpireat"],
        ["sttl", "spttl", "sexpiretime", "spexpiretime"],
        "spersist",
        ("srem", "sismember", "srem"),
        "8.12.0",
        "members",
        members_arg,
    );
    let mut saddex = like(cmds, "sadd", "saddex", -5, "8.12.0");
    saddex.complexity = "O(N) where N is the number of members being added.".into();
    saddex.args = vec![
        key_arg("key"),
        one_of(
            "condition",
            true,
            vec![
                arg("mnx", "pure-token", "MNX", "", &[]),
                arg("mxx", "pure-token", "MXX", "", &[]),
            ],
        ),
        ttl_options(arg("keepttl", "pure-token", "KEEPTTL", "", &[])),
        members_arg(),
    ];
    cmds.push(saddex);

    // Redis 8.2: KEEPREF | DELREF | ACKED on XADD and XTRIM, and XDELEX, XACKDEL with them.
    let refs = || {
        one_of(
            "condition",
            true,
            ["keepref", "delref", "acked"]
                .iter()
                .map(|t| arg(t, "pure-token", &t.to_ascii_uppercase(), "", &[]))
                .collect(),
        )
    };
    let ids_arg = || ArgM {
        name: "ids".into(),
        kind: "block".into(),
        key_spec_index: -1,
        token: "IDS".into(),
        args: vec![
            arg("numids", "integer", "", "", &[]),
            arg("id", "string", "", "", &["multiple"]),
        ],
        ..Default::default()
    };
    let history = (
        "8.2.0".to_string(),
        "Added the `KEEPREF`, `DELREF` and `ACKED` options.".to_string(),
    );
    let xadd = find(cmds, "xadd");
    let at = xadd
        .args
        .iter()
        .position(|a| a.name == "nomkstream")
        .expect("nomkstream")
        + 1;
    let mut condition = refs();
    condition.since = "8.2.0".into();
    xadd.args.insert(at, condition.clone());
    xadd.history.push(history.clone());
    let xtrim = find(cmds, "xtrim");
    xtrim.args.push(condition);
    xtrim.history.push(history);
    let mut xdelex = like(cmds, "xdel", "xdelex", -5, "8.2.0");
    xdelex.complexity =
        "O(1) for each single item to delete in the stream, regardless of the stream size.".into();
    xdelex.args = vec![key_arg("key"), refs(), ids_arg()];
    cmds.push(xdelex);
    let mut xackdel = like(cmds, "xack", "xackdel", -6, "8.2.0");
    xackdel.key_specs[0].flags = strings(&["RW", "update", "delete"]);
    xackdel.complexity = "O(1) for each entry ID processed.".into();
    xackdel.args = vec![
        key_arg("key"),
        arg("group", "string", "", "", &[]),
        refs(),
        ids_arg(),
    ];
    cmds.push(xackdel);

    // Redis 8.4: XREADGROUP ... CLAIM min-idle-time.
    let xreadgroup = find(cmds, "xreadgroup");
    let at = xreadgroup
        .args
        .iter()
        .position(|a| a.token.eq_ignore_ascii_case("BLOCK"))
        .expect("block")
        + 1;
    xreadgroup.args.insert(
        at,
        arg("min-idle-time", "integer", "CLAIM", "8.4.0", &["optional"]),
    );
    xreadgroup
        .history
        .push(("8.4.0".into(), "Added the `CLAIM` option.".into()));

    // Redis 8.4: DELEX key [IFEQ v | IFNE v | IFDEQ d | IFDNE d].
    let mut delex = like(cmds, "getdel", "delex", -2, "8.4.0");
    delex.key_specs[0].flags = strings(&["RW", "delete"]);
    delex.complexity =
        "O(1) for IFEQ/IFNE, O(N) for IFDEQ/IFDNE where N is the length of the string value."
            .into();
    delex.args = vec![
        key_arg("key"),
        one_of(
            "condition",
            true,
            vec![
                arg("ifeq-value", "string", "IFEQ", "", &[]),
                arg("ifne-value", "string", "IFNE", "", &[]),
                arg("ifdeq-digest", "string", "IFDEQ", "", &[]),
                arg("ifdne-digest", "string", "IFDNE", "", &[]),
            ],
        ),
    ];
    cmds.push(delex);

    // Redis 8.4: DIGEST key.
    let mut digest = like(cmds, "strlen", "digest", 2, "8.4.0");
    digest.complexity = "O(N) where N is the length of the string value.".into();
    digest.args = vec![key_arg("key")];
    cmds.push(digest);

    // Valkey 9.0: DELIFEQ key value.
    let mut delifeq = like(cmds, "getdel", "delifeq", 3, "9.0.0");
    delifeq.key_specs[0].flags = strings(&["RW", "delete"]);
    delifeq.complexity = "O(1)".into();
    delifeq.args = vec![key_arg("key"), arg("value", "string", "", "", &[])];
    cmds.push(delifeq);

    // Redis 8.4 (Valkey 9.1): MSETEX numkeys key value [key value ...] [NX | XX] [expiry].
    let mut msetex = like(cmds, "msetnx", "msetex", -4, "8.4.0");
    msetex.complexity = "O(N) where N is the number of keys to set.".into();
    msetex.flags.push("movablekeys".into());
    msetex.first = 0;
    msetex.last = 0;
    msetex.step = 0;
    msetex.key_specs = vec![KeySpecM {
        notes: String::new(),
        flags: strings(&["OW", "update"]),
        begin: ("index".into(), 1, String::new()),
        find: ("keynum".into(), 0, 1, 2),
    }];
    msetex.args = vec![
        arg("numkeys", "integer", "", "", &[]),
        ArgM {
            name: "data".into(),
            kind: "block".into(),
            key_spec_index: -1,
            flags: strings(&["multiple"]),
            args: vec![key_arg("key"), arg("value", "string", "", "", &[])],
            ..Default::default()
        },
        one_of(
            "condition",
            true,
            vec![
                arg("nx", "pure-token", "NX", "", &[]),
                arg("xx", "pure-token", "XX", "", &[]),
            ],
        ),
        one_of(
            "expiration",
            true,
            vec![
                arg("seconds", "integer", "EX", "", &[]),
                arg("milliseconds", "integer", "PX", "", &[]),
                arg("unix-time-seconds", "unix-time", "EXAT", "", &[]),
                arg("unix-time-milliseconds", "unix-time", "PXAT", "", &[]),
                arg("keepttl", "pure-token", "KEEPTTL", "", &[]),
            ],
        ),
    ];
    cmds.push(msetex);
}
