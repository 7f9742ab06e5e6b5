//! ACL: users and permissions (SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, GENPASS,
//! LOG, DRYRUN, LOAD, SAVE, HELP). The model lives in `crate::acl`; these only parse and
//! reply.

use crate::acl::check::Denied;
use crate::acl::{self, commands as acl_commands, describe, has_spaces, merge_selector_args};
use crate::cmd::args::{eq, int};
use crate::cmd::meta::ACL_CATEGORY_NAMES;
use crate::cmd::server::introspect::help;
use crate::exec::Ctx;
use crate::resp::errors::{self as err, CmdError, CmdResult};
use crate::resp::reply::ReplyBuf;

pub fn acl_setuser(ctx: &mut Ctx) -> CmdResult {
    let name = ctx.argv[2];
    if has_spaces(name) {
        return Err(err::ACL_USERNAME_SPACES.into());
    }
    let rules = &ctx.argv[3..];
    let merged = merge_selector_args(rules).map_err(|i| err::acl_unmatched_paren(rules[i]))?;
    let (id, before) = ctx
        .ex
        .acl
        .set_user(name, &merged)
        .map_err(|(i, e)| err::acl_setuser_rule(&merged[i], e.message()))?;
    if let Some(before) = before {
        ctx.ex
            .disconnect_revoked_subscribers(ctx.client, id, &before);
    }
    ctx.out().ok();
    Ok(())
}

pub fn acl_deluser(ctx: &mut Ctx) -> CmdResult {
    let names = &ctx.argv[2..];
    if names.iter().any(|n| *n == b"default") {
        return Err(err::ACL_DELETE_DEFAULT.into());
    }
    let mut deleted = 0;
    for name in names {
        if let Some(id) = ctx.ex.acl.remove(name) {
            ctx.ex.disconnect_user(ctx.client, id);
            deleted += 1;
        }
    }
    ctx.out().int(deleted);
    Ok(())
}

/// Rules joined by single spaces.
fn spaced(rules: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, r) in rules.enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(&r);
    }
    out
}

/// One selector's commands, keys and channels (GETUSER).
fn selector_fields(out: &mut ReplyBuf, s: &acl::Selector) {
    out.bulk(b"commands");
    out.bulk(&describe::command_rules(s));
    out.bulk(b"keys");
    if s.all_keys {
        out.bulk(b"~*");
    } else {
        out.bulk(&spaced(s.keys.iter().map(|k| {
            let mut rule = Vec::new();
            describe::key_pattern(&mut rule, k);
            rule
        })));
    }
    out.bulk(b"channels");
    if s.all_channels {
        out.bulk(b"&*");
    } else {
        out.bulk(&spaced(
            s.channels.iter().map(|c| [b"&".as_slice(), c].concat()),
        ));
    }
}

pub fn acl_getuser(ctx: &mut Ctx) -> CmdResult {
    let Some(id) = ctx.ex.acl.find(ctx.argv[2]) else {
        ctx.out().null();
        return Ok(());
    };
    let user = ctx.ex.acl.user(id);
    let out = &mut ctx.client.out;
    out.map(6);
    out.bulk(b"flags");
    let flags = describe::flags(user);
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"passwords");
    out.array(user.passwords.len());
    for p in &user.passwords {
        out.bulk(p);
    }
    selector_fields(out, user.root());
    out.bulk(b"selectors");
    out.array(user.selectors.len() - 1);
    for s in &user.selectors[1..] {
        out.map(3);
        selector_fields(out, s);
    }
    Ok(())
}

pub fn acl_list(ctx: &mut Ctx) -> CmdResult {
    let acl = &ctx.ex.acl;
    let out = &mut ctx.client.out;
    out.array(acl.users().count());
    for u in acl.users() {
        out.bulk(&describe::user_line(u));
    }
    Ok(())
}

pub fn acl_users(ctx: &mut Ctx) -> CmdResult {
    let acl = &ctx.ex.acl;
    let out = &mut ctx.client.out;
    out.array(acl.users().count());
    for u in acl.users() {
        out.bulk(&u.name);
    }
    Ok(())
}

pub fn acl_whoami(ctx: &mut Ctx) -> CmdResult {
    let name = &ctx.ex.acl.user(ctx.client.user).name;
    ctx.client.out.bulk(name);
    Ok(())
}

/// CAT, GENPASS and LOG take at most one argument.
fn at_most_one_arg(ctx: &Ctx) -> CmdResult {
    if ctx.argv.len() > 3 {
        return Err(err::subcommand_syntax(ctx.argv[0], ctx.argv[1]));
    }
    Ok(())
}

pub fn acl_cat(ctx: &mut Ctx) -> CmdResult {
    at_most_one_arg(ctx)?;
    let Some(&category) = ctx.argv.get(2) else {
        let out = ctx.out();
        out.array(ACL_CATEGORY_NAMES.len());
        for c in ACL_CATEGORY_NAMES {
            out.bulk(c.as_bytes());
        }
        return Ok(());
    };
    let bit =
        acl_commands::category_bit(category).ok_or_else(|| err::acl_unknown_category(category))?;
    let names: Vec<&str> = acl_commands::get()
        .walk()
        .filter(|c| c.in_category(bit))
        .map(|c| c.name())
        .collect();
    let out = ctx.out();
    out.array(names.len());
    for n in names {
        out.bulk(n.as_bytes());
    }
    Ok(())
}

/// Longest password GENPASS makes, in bits.
const GENPASS_MAX_BITS: i64 = 4096;

pub fn acl_genpass(ctx: &mut Ctx) -> CmdResult {
    at_most_one_arg(ctx)?;
    let bits = match ctx.argv.get(2) {
        Some(a) => int(a)?,
        None => 256,
    };
    if bits <= 0 || bits > GENPASS_MAX_BITS {
        return Err(err::ACL_GENPASS_BITS.into());
    }
    let chars = ((bits + 3) / 4) as usize;
    let hex: Vec<u8> = (0..chars)
        .map(|_| b"0123456789abcdef"[usize::from(rand::random::<u8>() & 15)])
        .collect();
    ctx.out().bulk(&hex);
    Ok(())
}

pub fn acl_log(ctx: &mut Ctx) -> CmdResult {
    at_most_one_arg(ctx)?;
    let mut count: i64 = 10;
    if let Some(&arg) = ctx.argv.get(2) {
        if eq(arg, "RESET") {
            ctx.ex.acl.log.reset();
            ctx.out().ok();
            return Ok(());
        }
        count = int(arg)?.max(0);
    }
    let now = ctx.now_ms;
    let log = &ctx.ex.acl.log;
    let count = (count as usize).min(log.len());
    let out = &mut ctx.client.out;
    out.array(count);
    for e in log.entries().take(count) {
        out.map(10);
        out.bulk(b"count");
        out.int(e.count as i64);
        out.bulk(b"reason");
        out.bulk(e.reason.name().as_bytes());
        out.bulk(b"context");
        out.bulk(e.context.name().as_bytes());
        out.bulk(b"object");
        out.bulk(&e.object);
        out.bulk(b"username");
        out.bulk(&e.username);
        out.bulk(b"age-seconds");
        out.double((now - e.updated_ms) as f64 / 1000.0);
        out.bulk(b"client-info");
        out.bulk(e.client_info.as_bytes());
        // Redis 7.2's additions.
        out.bulk(b"entry-id");
        out.int(e.entry_id as i64);
        out.bulk(b"timestamp-created");
        out.int(e.created_ms);
        out.bulk(b"timestamp-last-updated");
        out.int(e.updated_ms);
    }
    Ok(())
}

pub fn acl_dryrun(ctx: &mut Ctx) -> CmdResult {
    let name = ctx.argv[2];
    let user = ctx
        .ex
        .acl
        .find(name)
        .ok_or_else(|| err::acl_dryrun_no_user(name))?;
    let argv = &ctx.argv[3..];
    let table = ctx.ex.table;
    let cmd = table.get(argv[0]).and_then(|c| match argv.get(1) {
        Some(sub) if c.is_container() => table.get_sub(c, sub),
        _ => Some(c),
    });
    let cmd = cmd.ok_or_else(|| err::acl_dryrun_no_command(argv[0]))?;
    let (arity, argc) = (cmd.meta.arity, argv.len() as i32);
    if (arity > 0 && arity != argc) || argc < -arity {
        return Err(err::wrong_arity(cmd.meta.name));
    }
    match ctx.ex.acl_permits(user, cmd, argv) {
        Ok(()) => ctx.out().ok(),
        Err(d) => {
            let text = match d {
                Denied::Command => format!(
                    "This user has no permissions to run the '{}' command",
                    cmd.meta.name
                ),
                Denied::Key(i) => format!(
                    "This user has no permissions to access the '{}' key",
                    String::from_utf8_lossy(argv[i])
                ),
                Denied::Channel(i) => format!(
                    "This user has no permissions to access the '{}' channel",
                    String::from_utf8_lossy(argv[i])
                ),
            };
            ctx.out().bulk(text.as_bytes());
        }
    }
    Ok(())
}

fn aclfile(ctx: &Ctx) -> Result<String, CmdError> {
    ctx.ex
        .settings
        .aclfile
        .clone()
        .ok_or_else(|| err::ACL_NO_FILE.into())
}

pub fn acl_load(ctx: &mut Ctx) -> CmdResult {
    let file = aclfile(ctx)?;
    let users = acl::file::load(file.as_ref(), &file, ctx.ex.acl.pubsub_all)
        .map_err(|e| err::acl_load_failed(&e))?;
    let gone = ctx.ex.acl.replace_all(users);
    for id in gone {
        ctx.ex.disconnect_user(ctx.client, id);
    }
    ctx.out().ok();
    Ok(())
}

pub fn acl_save(ctx: &mut Ctx) -> CmdResult {
    let file = aclfile(ctx)?;
    if let Err(e) = acl::file::save(file.as_ref(), ctx.ex.acl.users()) {
        tracing::warn!("Saving the ACL file {file}: {e}");
        return Err(err::ACL_SAVE_FAILED.into());
    }
    ctx.out().ok();
    Ok(())
}

pub fn acl_help(ctx: &mut Ctx) -> CmdResult {
    help(
        ctx.out(),
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    );
    Ok(())
}
