//! The command table: the generated metadata joined with each family's handlers.
//!
//! Built once at startup (rename-command applied). Only commands with a handler exist for
//! clients: COMMAND, COMMAND COUNT and lookups never see the others.

use std::collections::HashMap as StdMap;

/// Name lookups happen per command: use a fast hasher (names are not attacker-chosen keys of a
/// growing table; the table is fixed at startup).
type HashMap<K, V> = StdMap<K, V, foldhash::fast::RandomState>;
use std::sync::OnceLock;

use super::meta::CommandMeta;
use crate::exec::Ctx;
use crate::resp::errors::CmdResult;

pub type Handler = fn(&mut Ctx) -> CmdResult;

pub struct Command {
    pub meta: &'static CommandMeta,
    /// None for containers that only dispatch to `subs` (the arity check keeps them from
    /// running bare).
    pub handler: Option<Handler>,
    /// Bound subcommands, keyed by lowercase short name.
    pub subs: HashMap<Vec<u8>, Command>,
    /// Index into the per-command statistics.
    pub id: usize,
    /// Name clients use (differs from meta.name after rename-command).
    pub name: String,
}

impl Command {
    /// Has subcommands (COMMAND also has a handler of its own, for the bare form).
    pub fn is_container(&self) -> bool {
        !self.subs.is_empty()
    }

    /// Bound subcommands sorted by name.
    pub fn sorted_subs(&self) -> Vec<&Command> {
        let mut v: Vec<&Command> = self.subs.values().collect();
        v.sort_by_key(|c| c.meta.name);
        v
    }
}

pub struct CommandTable {
    by_name: HashMap<Vec<u8>, Command>,
    /// Metadata by command id: the statistics index (INFO commandstats) and the bit ACL
    /// selectors give the command. Renamed and disabled commands keep theirs.
    pub metas: Vec<&'static CommandMeta>,
}

/// Longest command name looked up (longer names are unknown).
const MAX_NAME: usize = 64;

impl CommandTable {
    fn build(renames: &[(String, String)]) -> Self {
        let mut handlers: HashMap<&'static str, Handler> = HashMap::default();
        for family in super::FAMILIES {
            for (meta, h) in family.iter() {
                let prev = handlers.insert(meta.name, *h);
                assert!(prev.is_none(), "{} bound twice", meta.name);
            }
        }
        let mut table = CommandTable {
            by_name: HashMap::default(),
            metas: Vec::new(),
        };
        for meta in super::meta_gen::ALL {
            let cmd = if meta.is_container() {
                let mut subs = HashMap::default();
                for sub in meta.subcommands {
                    if let Some(h) = handlers.get(sub.name) {
                        let id = table.metas.len();
                        table.metas.push(sub);
                        let short = sub.short_name().as_bytes().to_vec();
                        subs.insert(
                            short,
                            Command {
                                meta: sub,
                                handler: Some(*h),
                                subs: HashMap::default(),
                                id,
                                name: sub.name.to_string(),
                            },
                        );
                    }
                }
                if subs.is_empty() {
                    continue;
                }
                let id = table.metas.len();
                table.metas.push(meta);
                Command {
                    meta,
                    handler: handlers.get(meta.name).copied(),
                    subs,
                    id,
                    name: meta.name.to_string(),
                }
            } else {
                let Some(h) = handlers.get(meta.name) else {
                    continue;
                };
                let id = table.metas.len();
                table.metas.push(meta);
                Command {
                    meta,
                    handler: Some(*h),
                    subs: HashMap::default(),
                    id,
                    name: meta.name.to_string(),
                }
            };
            table.by_name.insert(meta.name.as_bytes().to_vec(), cmd);
        }
        for (from, to) in renames {
            if let Some(mut cmd) = table.by_name.remove(from.as_bytes()) {
                if !to.is_empty() {
                    cmd.name = to.clone();
                    table.by_name.insert(to.as_bytes().to_vec(), cmd);
                }
            }
        }
        table
    }

    /// Looks a command up by name, case-insensitively, without allocating.
    pub fn get(&self, name: &[u8]) -> Option<&Command> {
        if name.len() > MAX_NAME {
            return None;
        }
        let mut buf = [0u8; MAX_NAME];
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&lower[..])
    }

    /// Looks up a subcommand of a container, case-insensitively.
    pub fn get_sub<'a>(&self, container: &'a Command, name: &[u8]) -> Option<&'a Command> {
        if name.len() > MAX_NAME {
            return None;
        }
        let mut buf = [0u8; MAX_NAME];
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        container.subs.get(&lower[..])
    }

    /// Every bound top-level command, sorted by name.
    pub fn commands(&self) -> Vec<&Command> {
        let mut v: Vec<&Command> = self.by_name.values().collect();
        v.sort_by_key(|c| c.meta.name);
        v
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Resolves "get" or "config|get" to a bound command.
    pub fn by_fullname(&self, fullname: &[u8]) -> Option<&Command> {
        match fullname.iter().position(|c| *c == b'|') {
            None => self.get(fullname),
            Some(i) => {
                let c = self.get(&fullname[..i])?;
                self.get_sub(c, &fullname[i + 1..])
            }
        }
    }
}

static TABLE: OnceLock<CommandTable> = OnceLock::new();

/// Builds the table (first call wins; later calls return the same table).
pub fn init(renames: &[(String, String)]) -> &'static CommandTable {
    TABLE.get_or_init(|| CommandTable::build(renames))
}

/// The table, built with no renames if nobody initialised it yet (tests).
pub fn get() -> &'static CommandTable {
    init(&[])
}
