//! The command table as ACL rules see it: every bound command and subcommand by its
//! statistics id (the bit it owns in a selector's bitmap), its categories, and its parent or
//! subcommands. Rules name commands by their original names, whatever rename-command did
//! (Redis's orig_commands).

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::cmd::meta::{flag, CommandMeta};

/// Bits in a selector's command bitmap (Redis's USER_COMMAND_BITS_COUNT).
pub const COMMAND_BITS: usize = 1024;
/// The reserved bit set only by +@all: "may run commands added later" (modules).
pub const FUTURE_BIT: usize = COMMAND_BITS - 1;

pub struct AclCommand {
    pub id: usize,
    pub meta: &'static CommandMeta,
    /// The container's id, for a subcommand.
    pub parent: Option<usize>,
    /// Subcommand ids, in `AclCommands::order`'s order.
    pub subs: Vec<usize>,
}

impl AclCommand {
    pub fn name(&self) -> &'static str {
        self.meta.name
    }

    pub fn in_category(&self, bit: u64) -> bool {
        self.meta.acl & bit != 0
    }
}

pub struct AclCommands {
    by_id: Vec<Option<AclCommand>>,
    /// Top-level command ids by name; each one's subcommands follow it in `subs`.
    top: Vec<usize>,
    by_name: HashMap<&'static str, usize>,
}

impl AclCommands {
    fn build() -> Self {
        let table = crate::cmd::table::get();
        let metas = &table.metas;
        assert!(
            metas.len() < FUTURE_BIT,
            "command ids overflow the ACL bitmap"
        );
        let mut by_name: HashMap<&'static str, usize> = HashMap::new();
        for (id, meta) in metas.iter().enumerate() {
            by_name.insert(meta.name, id);
        }
        let mut by_id: Vec<Option<AclCommand>> = metas
            .iter()
            .enumerate()
            .map(|(id, meta)| {
                let parent = meta
                    .name
                    .split_once('|')
                    .and_then(|(container, _)| by_name.get(container).copied());
                Some(AclCommand {
                    id,
                    meta,
                    parent,
                    subs: Vec::new(),
                })
            })
            .collect();
        let mut ids: Vec<usize> = (0..metas.len()).collect();
        ids.sort_by_key(|&id| metas[id].name);
        let mut top = Vec::new();
        for id in ids {
            match by_id[id].as_ref().and_then(|c| c.parent) {
                Some(p) => {
                    if let Some(parent) = by_id[p].as_mut() {
                        parent.subs.push(id);
                    }
                }
                None => top.push(id),
            }
        }
        // Module commands never take part in category rules; none exist here.
        debug_assert!(metas.iter().all(|m| !m.has(flag::MODULE)));
        by_id.shrink_to_fit();
        AclCommands {
            by_id,
            top,
            by_name,
        }
    }

    pub fn get(&self, id: usize) -> &AclCommand {
        self.by_id[id].as_ref().expect("a bound command id")
    }

    /// Looks a rule's command up: "get" or "config|get", any case (Redis's ACLLookupCommand:
    /// a name with a '|' must be a container's subcommand).
    pub fn lookup(&self, name: &[u8]) -> Option<&AclCommand> {
        let lower = String::from_utf8(name.to_ascii_lowercase()).ok()?;
        let mut parts = lower.split('|');
        let first = parts.next()?;
        let second = parts.next();
        if parts.next().is_some() {
            return None;
        }
        let container = self.get(*self.by_name.get(first)?);
        if container.parent.is_some() {
            return None;
        }
        match second {
            None => Some(container),
            Some(_) if container.subs.is_empty() => None,
            Some(_) => self.by_name.get(lower.as_str()).map(|&id| self.get(id)),
        }
    }

    /// Every command, each container followed by its subcommands.
    pub fn walk(&self) -> impl Iterator<Item = &AclCommand> {
        self.top.iter().flat_map(move |&id| {
            let c = self.get(id);
            std::iter::once(c).chain(c.subs.iter().map(move |&s| self.get(s)))
        })
    }

    pub fn top_level(&self) -> impl Iterator<Item = &AclCommand> {
        self.top.iter().map(move |&id| self.get(id))
    }
}

/// The ACL view of the command table (built on first use, after the table).
pub fn get() -> &'static AclCommands {
    static COMMANDS: OnceLock<AclCommands> = OnceLock::new();
    COMMANDS.get_or_init(AclCommands::build)
}

/// A category's bit in `CommandMeta::acl`, by name (any case).
pub fn category_bit(name: &[u8]) -> Option<u64> {
    crate::cmd::meta::ACL_CATEGORY_NAMES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map(crate::cmd::meta::acl_bit)
}
