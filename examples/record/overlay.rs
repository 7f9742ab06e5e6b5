//! What the 7.0.15 oracle cannot tell us: commands and options Redis 7.2 added (which cinnabar
//! supports on top), and flags Redis keeps hidden from COMMAND. Each entry cites the 7.2 docs.

use crate::meta::{ArgM, CmdM};

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
}
