//! May this user run this command on these keys and channels? (Redis's
//! ACLCheckAllUserCommandPerm and friends.)

use super::commands::AclCommand;
use super::selector::{Selector, READ, WRITE};
use super::User;
use crate::cmd::keys::{command_keys, has_keys, KeyRef};
use crate::cmd::meta::{flag, key_flag};
use crate::util::glob::glob_match;

/// Why a command was refused, with the argv index of the key or channel at fault. When
/// selectors disagree, `rank` picks the one Redis reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Command,
    Key(usize),
    Channel(usize),
}

impl Denied {
    /// Redis's ACL_DENIED_* order (a channel refusal beats a key refusal beats a command
    /// refusal), then the later argument.
    fn rank(self) -> (u8, usize) {
        match self {
            Denied::Command => (1, 0),
            Denied::Key(i) => (2, i),
            Denied::Channel(i) => (4, i),
        }
    }
}

/// The permission a key spec's flags call for.
fn needed(flags: u32) -> u8 {
    let mut p = 0;
    if flags & key_flag::ACCESS != 0 {
        p |= READ;
    }
    if flags & (key_flag::INSERT | key_flag::DELETE | key_flag::UPDATE) != 0 {
        p |= WRITE;
    }
    p
}

/// May selector `s` touch `key` as `flags` say?
pub fn selector_allows_key(s: &Selector, key: &[u8], flags: u32) -> bool {
    if s.all_keys {
        return true;
    }
    let need = needed(flags);
    s.keys
        .iter()
        .any(|k| k.perm & need == need && glob_match(&k.pattern, key, false))
}

/// Channel `name` against a list of channel patterns: as a glob (PUBLISH, SUBSCRIBE), or
/// literally (a PSUBSCRIBE pattern must be one of the user's patterns).
fn channel_in(list: &[Vec<u8>], name: &[u8], literal: bool) -> bool {
    list.iter().any(|p| {
        if literal {
            p.as_slice() == name
        } else {
            glob_match(p, name, false)
        }
    })
}

/// The channel arguments of a command and whether they are patterns: (first, count, literal).
fn channel_args(cmd: &AclCommand, argc: usize) -> Option<(usize, usize, bool)> {
    match cmd.name() {
        "publish" | "spublish" => Some((1, 1, false)),
        "subscribe" | "ssubscribe" => Some((1, argc - 1, false)),
        "psubscribe" => Some((1, argc - 1, true)),
        _ => None,
    }
}

fn selector_check(
    s: &Selector,
    cmd: &AclCommand,
    argv: &[&[u8]],
    keys: &mut Option<Vec<KeyRef>>,
) -> Result<(), Denied> {
    if !s.all_commands && !cmd.meta.has(flag::NO_AUTH) && !s.bit(cmd.id) {
        let idx = if cmd.parent.is_some() { 2 } else { 1 };
        let allowed = argv.get(idx).is_some_and(|a| {
            s.first_args(cmd.id)
                .iter()
                .any(|f| f.eq_ignore_ascii_case(a))
        });
        if argv.len() < 2 || !allowed {
            return Err(Denied::Command);
        }
    }
    if !s.all_keys && has_keys(cmd.meta) {
        let keys = keys.get_or_insert_with(|| command_keys(cmd.meta, argv).unwrap_or_default());
        for k in keys.iter() {
            if !selector_allows_key(s, argv[k.pos], k.flags) {
                return Err(Denied::Key(k.pos));
            }
        }
    }
    if !s.all_channels {
        if let Some((first, count, literal)) = channel_args(cmd, argv.len()) {
            for (i, ch) in argv.iter().enumerate().skip(first).take(count) {
                if !channel_in(&s.channels, ch, literal) {
                    return Err(Denied::Channel(i));
                }
            }
        }
    }
    Ok(())
}

/// Checks a command against every selector of the user: allowed if one allows it; else the
/// most telling refusal.
pub fn check_command(user: &User, cmd: &AclCommand, argv: &[&[u8]]) -> Result<(), Denied> {
    let mut keys = None;
    let mut worst: Option<Denied> = None;
    for s in &user.selectors {
        match selector_check(s, cmd, argv, &mut keys) {
            Ok(()) => return Ok(()),
            Err(d) => {
                if worst.is_none_or(|w| d.rank() > w.rank()) {
                    worst = Some(d);
                }
            }
        }
    }
    Err(worst.unwrap_or(Denied::Command))
}

/// May the user touch `key` with the access `flags` describe, through any selector?
pub fn user_allows_key(user: &User, key: &[u8], flags: u32) -> bool {
    user.selectors
        .iter()
        .any(|s| selector_allows_key(s, key, flags))
}

/// May the user use channel (or, literally, pattern) `name`?
pub fn user_allows_channel(user: &User, name: &[u8], literal: bool) -> bool {
    user.selectors
        .iter()
        .any(|s| s.all_channels || channel_in(&s.channels, name, literal))
}

/// Does some selector that allows the command also read every key (SORT BY/GET patterns
/// may read any key; Redis's ACLUserCheckCmdWithUnrestrictedKeyAccess)?
pub fn user_reads_any_key(user: &User, cmd: &AclCommand, argv: &[&[u8]]) -> bool {
    let mut keys = None;
    user.selectors.iter().any(|s| {
        selector_check(s, cmd, argv, &mut keys).is_ok()
            && (s.all_keys
                || s.keys
                    .iter()
                    .any(|k| k.perm & READ != 0 && k.pattern == b"*"))
    })
}
