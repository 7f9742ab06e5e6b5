//! Finding the keys of a command from its key specs (Redis's getKeysUsingKeySpecs), for
//! COMMAND GETKEYS and, later, ACL key checks and cluster slot routing.

use super::meta::{key_flag, BeginSearch, CommandMeta, FindKeys};
use crate::util::num::parse_i64;

/// A key position in argv and the flags of the spec that found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef {
    pub pos: usize,
    pub flags: u32,
}

/// Does the command have keys at all (Redis's doesCommandHaveKeys)?
pub fn has_keys(meta: &CommandMeta) -> bool {
    meta.has(super::meta::flag::MOVABLE_KEYS) && meta.key_specs.is_empty()
        || meta
            .key_specs
            .iter()
            .any(|ks| ks.flags & key_flag::NOT_KEY == 0)
}

/// Keys from the specs, or None if a spec does not fit argv (an invalid or incomplete spec).
pub fn keys_from_specs(meta: &CommandMeta, argv: &[&[u8]]) -> Option<Vec<KeyRef>> {
    specs_positions(meta, argv, false)
}

/// Keys and the channels that specs name (sharded pub/sub), for cluster slot routing.
pub fn keys_from_specs_including_channels(
    meta: &CommandMeta,
    argv: &[&[u8]],
) -> Option<Vec<KeyRef>> {
    specs_positions(meta, argv, true)
}

fn specs_positions(meta: &CommandMeta, argv: &[&[u8]], not_keys: bool) -> Option<Vec<KeyRef>> {
    let argc = argv.len() as i64;
    let mut out = Vec::new();
    for spec in meta.key_specs {
        if spec.flags & key_flag::NOT_KEY != 0 && !not_keys {
            continue;
        }
        let mut first: i64 = match spec.begin_search {
            BeginSearch::Index(i) => i64::from(i),
            BeginSearch::Keyword { keyword, startfrom } => {
                let startfrom = i64::from(startfrom);
                let start = if startfrom > 0 {
                    startfrom
                } else {
                    argc + startfrom
                };
                let end = if startfrom > 0 { argc - 1 } else { 1 };
                let mut found = 0;
                let mut i = start;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if argv[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
                        found = i + 1;
                        break;
                    }
                    i = if start <= end { i + 1 } else { i - 1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            BeginSearch::Unknown => return None,
        };
        let (last, step) = match spec.find_keys {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let (lastkey, limit) = (i64::from(lastkey), i64::from(limit));
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (last, i64::from(keystep))
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let keynumidx = i64::from(keynumidx);
                if keynumidx >= argc - first {
                    return None;
                }
                let numkeys = parse_i64(argv[(first + keynumidx) as usize]).filter(|n| *n >= 0)?;
                first += i64::from(firstkey);
                // The last key is `keystep` apart from the one before it (MSETEX's pairs; Redis
                // fixed the same in redis/redis#14659).
                let step = i64::from(keystep).max(1);
                (
                    first.saturating_add((numkeys - 1).saturating_mul(step)),
                    step,
                )
            }
            FindKeys::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            out.push(KeyRef {
                pos: i as usize,
                flags: spec.flags,
            });
            i += step.max(1);
        }
        if spec.flags & key_flag::INCOMPLETE != 0 && out.is_empty() {
            return None;
        }
    }
    Some(out)
}

/// The keys of a command: specs first when they are reliable, else an empty answer.
pub fn command_keys(meta: &CommandMeta, argv: &[&[u8]]) -> Option<Vec<KeyRef>> {
    let has_keyspec = meta
        .key_specs
        .iter()
        .any(|ks| ks.flags & key_flag::NOT_KEY == 0);
    let has_varflags = meta
        .key_specs
        .iter()
        .any(|ks| ks.flags & key_flag::VARIABLE_FLAGS != 0);
    // An incomplete spec (MIGRATE's key or KEYS, SORT's STORE) cannot be trusted: the
    // command's own key finder decides, as Redis's getKeysUsingKeySpecs fails over to it.
    let incomplete = meta
        .key_specs
        .iter()
        .any(|ks| ks.flags & key_flag::INCOMPLETE != 0);
    if has_keyspec && !has_varflags && !incomplete {
        if let Some(k) = keys_from_specs(meta, argv) {
            return Some(k);
        }
    }
    if let Some(keys) = keys_proc(meta, argv) {
        return Some(keys);
    }
    // Commands whose flags vary with the arguments: the specs still locate the keys.
    if has_varflags || incomplete {
        return keys_from_specs(meta, argv);
    }
    None
}

/// Commands that find their keys (or their keys' flags) by looking at the arguments, as
/// Redis's getkeys_proc callbacks do.
fn keys_proc(meta: &CommandMeta, argv: &[&[u8]]) -> Option<Vec<KeyRef>> {
    use key_flag::*;
    match meta.name {
        // SET: overwrite, unless GET makes it a read too.
        "set" => {
            let get = argv.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"GET"));
            let flags = if get {
                RW | ACCESS | UPDATE
            } else {
                OW | UPDATE
            };
            Some(vec![KeyRef { pos: 1, flags }])
        }
        // BITFIELD: a read when it only GETs, otherwise a write.
        "bitfield" => {
            let flags = if bitfield_is_read_only(argv) {
                RO | ACCESS
            } else {
                RW | ACCESS | UPDATE
            };
            Some(vec![KeyRef { pos: 1, flags }])
        }
        "sort" => Some(sort_keys(argv)),
        "sort_ro" => Some(vec![KeyRef {
            pos: 1,
            flags: RO | ACCESS,
        }]),
        "migrate" => migrate_keys(argv),
        _ => None,
    }
}

/// SORT's keys: the sorted key, and the last STORE destination (Redis's sortGetKeys skips
/// LIMIT's two arguments and BY/GET's pattern while looking for STORE).
fn sort_keys(argv: &[&[u8]]) -> Vec<KeyRef> {
    use key_flag::*;
    let mut keys = vec![KeyRef {
        pos: 1,
        flags: RO | ACCESS,
    }];
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        let a = argv[i];
        if a.eq_ignore_ascii_case(b"LIMIT") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"GET") || a.eq_ignore_ascii_case(b"BY") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"STORE") && i + 1 < argv.len() {
            store = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    if let Some(pos) = store {
        keys.push(KeyRef {
            pos,
            flags: OW | UPDATE,
        });
    }
    keys
}

/// MIGRATE's keys: the key argument, or what follows KEYS when the key argument is empty
/// (Redis's migrateGetKeys; KEYS with a non-empty key argument is a syntax error: no keys).
fn migrate_keys(argv: &[&[u8]]) -> Option<Vec<KeyRef>> {
    use key_flag::*;
    let (mut first, mut num) = (3, 1);
    let mut i = 6;
    while i < argv.len() {
        let a = argv[i];
        if a.eq_ignore_ascii_case(b"KEYS") {
            if !argv[3].is_empty() {
                return Some(Vec::new());
            }
            first = i + 1;
            num = argv.len() - first;
            break;
        }
        if a.eq_ignore_ascii_case(b"AUTH") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"AUTH2") {
            i += 2;
        }
        i += 1;
    }
    Some(
        (first..first + num)
            .filter(|&pos| pos < argv.len())
            .map(|pos| KeyRef {
                pos,
                flags: RW | ACCESS | DELETE,
            })
            .collect(),
    )
}

/// Whether BITFIELD's arguments hold only GET and OVERFLOW operations. Anything it cannot
/// parse counts as a write, the safer answer (as Redis's bitfieldGetKeys decides).
fn bitfield_is_read_only(argv: &[&[u8]]) -> bool {
    let mut i = 2;
    while i < argv.len() {
        let remaining = argv.len() - i - 1;
        let op = argv[i];
        if op.eq_ignore_ascii_case(b"GET") && remaining >= 2 {
            i += 3;
        } else if op.eq_ignore_ascii_case(b"OVERFLOW") && remaining >= 1 {
            i += 2;
        } else {
            return false;
        }
    }
    true
}
