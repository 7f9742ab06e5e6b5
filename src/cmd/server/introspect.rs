//! COMMAND and its subcommands, rendered from the command table.

use crate::cmd::args::eq;
use crate::cmd::keys::command_keys;
use crate::cmd::meta::{
    self, Arg, BeginSearch, CommandMeta, FindKeys, KeySpec, ACL_CATEGORY_NAMES, FLAG_NAMES,
    KEY_FLAG_NAMES,
};
use crate::cmd::table::Command;
use crate::exec::Ctx;
use crate::resp::errors::{self as err, CmdResult};
use crate::resp::reply::ReplyBuf;
use crate::util::glob::glob_match;

/// COMMAND with no subcommand: info for every command.
pub fn command(ctx: &mut Ctx) -> CmdResult {
    let cmds = ctx.ex.table.commands();
    let out = ctx.out();
    out.array(cmds.len());
    for c in cmds {
        info(out, c);
    }
    Ok(())
}

pub fn command_count(ctx: &mut Ctx) -> CmdResult {
    let n = ctx.ex.table.len() as i64;
    ctx.out().int(n);
    Ok(())
}

pub fn command_info(ctx: &mut Ctx) -> CmdResult {
    let names = ctx.args().rest();
    let table = ctx.ex.table;
    let out = &mut ctx.client.out;
    if names.is_empty() {
        let cmds = table.commands();
        out.array(cmds.len());
        for c in cmds {
            info(out, c);
        }
        return Ok(());
    }
    out.array(names.len());
    for n in names {
        match table.by_fullname(n) {
            Some(c) => info(out, c),
            None => out.null(),
        }
    }
    Ok(())
}

pub fn command_docs(ctx: &mut Ctx) -> CmdResult {
    let names = ctx.args().rest();
    let table = ctx.ex.table;
    let out = &mut ctx.client.out;
    let cmds: Vec<&Command> = if names.is_empty() {
        table.commands()
    } else {
        names.iter().filter_map(|n| table.by_fullname(n)).collect()
    };
    out.map(cmds.len());
    for c in cmds {
        out.bulk(c.name.as_bytes());
        docs(out, c);
    }
    Ok(())
}

pub fn command_list(ctx: &mut Ctx) -> CmdResult {
    let mut args = ctx.args();
    let table = ctx.ex.table;
    enum Filter<'a> {
        All,
        Module,
        AclCat(&'a [u8]),
        Pattern(&'a [u8]),
    }
    let filter = if args.is_empty() {
        Filter::All
    } else {
        if args.remaining() != 3 || !args.eat("FILTERBY") {
            return Err(err::SYNTAX.into());
        }
        let kind = args.bytes()?;
        let value = args.bytes()?;
        if eq(kind, "MODULE") {
            Filter::Module
        } else if eq(kind, "ACLCAT") {
            Filter::AclCat(value)
        } else if eq(kind, "PATTERN") {
            Filter::Pattern(value)
        } else {
            return Err(err::SYNTAX.into());
        }
    };
    let mut names: Vec<&str> = Vec::new();
    for c in table.commands() {
        let mut all = vec![c];
        all.extend(c.sorted_subs());
        for c in all {
            let keep = match &filter {
                Filter::All => true,
                Filter::Module => false,
                Filter::AclCat(cat) => ACL_CATEGORY_NAMES
                    .iter()
                    .position(|n| n.as_bytes().eq_ignore_ascii_case(cat))
                    .is_some_and(|i| c.meta.acl & meta::acl_bit(i) != 0),
                Filter::Pattern(p) => glob_match(p, c.name.as_bytes(), true),
            };
            if keep {
                names.push(&c.name);
            }
        }
    }
    let out = ctx.out();
    out.array(names.len());
    for n in names {
        out.bulk(n.as_bytes());
    }
    Ok(())
}

pub fn command_getkeys(ctx: &mut Ctx) -> CmdResult {
    getkeys(ctx, false)
}

pub fn command_getkeysandflags(ctx: &mut Ctx) -> CmdResult {
    getkeys(ctx, true)
}

fn getkeys(ctx: &mut Ctx, with_flags: bool) -> CmdResult {
    let argv = &ctx.argv[2..];
    let table = ctx.ex.table;
    let cmd = table.get(argv[0]).and_then(|c| {
        if c.is_container() {
            argv.get(1).and_then(|s| table.get_sub(c, s))
        } else {
            Some(c)
        }
    });
    let Some(cmd) = cmd else {
        return Err(err::GETKEYS_INVALID_COMMAND.into());
    };
    let meta = cmd.meta;
    if !crate::cmd::keys::has_keys(meta) {
        return Err(err::GETKEYS_NO_KEYS.into());
    }
    let argc = argv.len() as i32;
    if (meta.arity > 0 && meta.arity != argc) || argc < -meta.arity {
        return Err(err::GETKEYS_ARITY.into());
    }
    let keys = command_keys(meta, argv).unwrap_or_default();
    if keys.is_empty() {
        if meta.has(meta::flag::NO_MANDATORY_KEYS) {
            ctx.out().array(0);
            return Ok(());
        }
        return Err(err::GETKEYS_INVALID_ARGS.into());
    }
    let out = ctx.out();
    out.array(keys.len());
    for k in keys {
        if with_flags {
            out.array(2);
            out.bulk(argv[k.pos]);
            key_flags(out, k.flags);
        } else {
            out.bulk(argv[k.pos]);
        }
    }
    Ok(())
}

pub fn command_help(ctx: &mut Ctx) -> CmdResult {
    help(
        ctx.out(),
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
    Ok(())
}

/// Redis's addReplyHelp: a header line, the lines, and the HELP entry, as status replies.
pub fn help(out: &mut ReplyBuf, container: &str, lines: &[&str]) {
    out.array(lines.len() + 3);
    out.simple(
        format!("{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").as_bytes(),
    );
    for l in lines {
        out.simple(l.as_bytes());
    }
    out.simple(b"HELP");
    out.simple(b"    Prints this help.");
}

fn flag_set(out: &mut ReplyBuf, names: &[&str]) {
    out.set(names.len());
    for n in names {
        out.simple(n.as_bytes());
    }
}

fn key_flags(out: &mut ReplyBuf, flags: u32) {
    let names: Vec<&str> = KEY_FLAG_NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| flags & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    flag_set(out, &names);
}

/// One COMMAND INFO entry (Redis's addReplyCommandInfo).
fn info(out: &mut ReplyBuf, c: &Command) {
    let m = c.meta;
    out.array(10);
    out.bulk(c.name.as_bytes());
    out.int(i64::from(m.arity));
    let flags: Vec<&str> = FLAG_NAMES
        .iter()
        .filter(|(f, _)| m.flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    flag_set(out, &flags);
    out.int(i64::from(m.first_key));
    out.int(i64::from(m.last_key));
    out.int(i64::from(m.key_step));
    let cats: Vec<String> = ACL_CATEGORY_NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| m.acl & meta::acl_bit(*i) != 0)
        .map(|(_, n)| format!("@{n}"))
        .collect();
    out.set(cats.len());
    for cat in &cats {
        out.simple(cat.as_bytes());
    }
    out.set(m.tips.len());
    for t in m.tips {
        out.bulk(t.as_bytes());
    }
    // A set in RESP3, as Redis 7.0 sends the key specs.
    out.set(m.key_specs.len());
    for ks in m.key_specs {
        key_spec(out, ks);
    }
    let subs = c.sorted_subs();
    // Redis 7.0: an empty set for a command without subcommands, else an array.
    if subs.is_empty() {
        out.set(0);
    } else {
        out.array(subs.len());
    }
    for s in subs {
        info(out, s);
    }
}

fn key_spec(out: &mut ReplyBuf, ks: &KeySpec) {
    out.map(if ks.notes.is_empty() { 3 } else { 4 });
    if !ks.notes.is_empty() {
        out.bulk(b"notes");
        out.bulk(ks.notes.as_bytes());
    }
    out.bulk(b"flags");
    key_flags(out, ks.flags);
    out.bulk(b"begin_search");
    match ks.begin_search {
        BeginSearch::Index(i) => {
            out.map(2);
            out.bulk(b"type");
            out.bulk(b"index");
            out.bulk(b"spec");
            out.map(1);
            out.bulk(b"index");
            out.int(i64::from(i));
        }
        BeginSearch::Keyword { keyword, startfrom } => {
            out.map(2);
            out.bulk(b"type");
            out.bulk(b"keyword");
            out.bulk(b"spec");
            out.map(2);
            out.bulk(b"keyword");
            out.bulk(keyword.as_bytes());
            out.bulk(b"startfrom");
            out.int(i64::from(startfrom));
        }
        BeginSearch::Unknown => {
            out.map(2);
            out.bulk(b"type");
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
        }
    }
    out.bulk(b"find_keys");
    match ks.find_keys {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => {
            out.map(2);
            out.bulk(b"type");
            out.bulk(b"range");
            out.bulk(b"spec");
            out.map(3);
            out.bulk(b"lastkey");
            out.int(i64::from(lastkey));
            out.bulk(b"keystep");
            out.int(i64::from(keystep));
            out.bulk(b"limit");
            out.int(i64::from(limit));
        }
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => {
            out.map(2);
            out.bulk(b"type");
            out.bulk(b"keynum");
            out.bulk(b"spec");
            out.map(3);
            out.bulk(b"keynumidx");
            out.int(i64::from(keynumidx));
            out.bulk(b"firstkey");
            out.int(i64::from(firstkey));
            out.bulk(b"keystep");
            out.int(i64::from(keystep));
        }
        FindKeys::Unknown => {
            out.map(2);
            out.bulk(b"type");
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
        }
    }
}

/// One COMMAND DOCS entry (Redis's addReplyCommandDocs).
fn docs(out: &mut ReplyBuf, c: &Command) {
    let m: &CommandMeta = c.meta;
    let subs = c.sorted_subs();
    let fields = 1 + [
        !m.summary.is_empty(),
        !m.since.is_empty(),
        !m.complexity.is_empty(),
        !m.doc_flags.is_empty(),
        !m.deprecated_since.is_empty(),
        !m.replaced_by.is_empty(),
        !m.history.is_empty(),
        !m.args.is_empty(),
        !subs.is_empty(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    out.map(fields);
    if !m.summary.is_empty() {
        out.bulk(b"summary");
        out.bulk(m.summary.as_bytes());
    }
    if !m.since.is_empty() {
        out.bulk(b"since");
        out.bulk(m.since.as_bytes());
    }
    out.bulk(b"group");
    out.bulk(m.group.as_bytes());
    if !m.complexity.is_empty() {
        out.bulk(b"complexity");
        out.bulk(m.complexity.as_bytes());
    }
    if !m.doc_flags.is_empty() {
        out.bulk(b"doc_flags");
        flag_set(out, m.doc_flags);
    }
    if !m.deprecated_since.is_empty() {
        out.bulk(b"deprecated_since");
        out.bulk(m.deprecated_since.as_bytes());
    }
    if !m.replaced_by.is_empty() {
        out.bulk(b"replaced_by");
        out.bulk(m.replaced_by.as_bytes());
    }
    if !m.history.is_empty() {
        out.bulk(b"history");
        // Redis sends history as a set of [version, description] pairs.
        out.set(m.history.len());
        for (v, d) in m.history {
            out.array(2);
            out.bulk(v.as_bytes());
            out.bulk(d.as_bytes());
        }
    }
    if !m.args.is_empty() {
        out.bulk(b"arguments");
        args(out, m.args);
    }
    if !subs.is_empty() {
        out.bulk(b"subcommands");
        out.map(subs.len());
        for s in subs {
            out.bulk(s.name.as_bytes());
            docs(out, s);
        }
    }
}

fn args(out: &mut ReplyBuf, list: &[Arg]) {
    out.array(list.len());
    for a in list {
        let nested = a.kind == "oneof" || a.kind == "block";
        // A pure token always has one, even empty (MIGRATE's "" key).
        let has_token = !a.token.is_empty() || a.kind == "pure-token";
        let fields = 2 + [
            a.key_spec_index != -1,
            has_token,
            !a.summary.is_empty(),
            !a.since.is_empty(),
            !a.deprecated_since.is_empty(),
            !a.flags.is_empty(),
            nested,
        ]
        .iter()
        .filter(|b| **b)
        .count();
        out.map(fields);
        out.bulk(b"name");
        out.bulk(a.name.as_bytes());
        out.bulk(b"type");
        out.bulk(a.kind.as_bytes());
        if a.key_spec_index != -1 {
            out.bulk(b"key_spec_index");
            out.int(i64::from(a.key_spec_index));
        }
        if has_token {
            out.bulk(b"token");
            out.bulk(a.token.as_bytes());
        }
        if !a.summary.is_empty() {
            out.bulk(b"summary");
            out.bulk(a.summary.as_bytes());
        }
        if !a.since.is_empty() {
            out.bulk(b"since");
            out.bulk(a.since.as_bytes());
        }
        if !a.deprecated_since.is_empty() {
            out.bulk(b"deprecated_since");
            out.bulk(a.deprecated_since.as_bytes());
        }
        if !a.flags.is_empty() {
            out.bulk(b"flags");
            flag_set(out, a.flags);
        }
        if nested {
            out.bulk(b"arguments");
            args(out, a.args);
        }
    }
}
