//! Access control lists: users, what each may run and touch, and the log of refusals
//! (Redis 7.0's acl.c model, replies byte for byte).
//!
//! The executor owns one `Acl`; a client holds the `UserId` it authenticated as. A user is
//! flags, password hashes and selectors: the root selector (rules given outside parentheses)
//! and any `(...)` selectors; a command runs when one selector allows the command, its keys
//! and its channels. Data only: the ACL file is read and written by `acl::file`.

pub mod check;
pub mod commands;
pub mod describe;
pub mod file;
pub mod log;
pub mod selector;

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

pub use selector::{has_spaces, Selector};

/// Why a rule did not apply (Redis's errno values in ACLSetUser).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleError {
    Syntax,
    UnknownCommand,
    KeyAfterAll,
    ChannelAfterAll,
    NoSuchPassword,
    BadHash,
    FirstArgOfSubcommand,
    DuplicateUser,
}

impl RuleError {
    /// Redis's ACLSetUserStringError.
    pub fn message(self) -> &'static str {
        use crate::resp::errors as e;
        match self {
            RuleError::Syntax => e::ACL_RULE_SYNTAX,
            RuleError::UnknownCommand => e::ACL_RULE_UNKNOWN_COMMAND,
            RuleError::KeyAfterAll => e::ACL_RULE_KEY_AFTER_ALL,
            RuleError::ChannelAfterAll => e::ACL_RULE_CHANNEL_AFTER_ALL,
            RuleError::NoSuchPassword => e::ACL_RULE_NO_SUCH_PASSWORD,
            RuleError::BadHash => e::ACL_RULE_BAD_HASH,
            RuleError::FirstArgOfSubcommand => e::ACL_RULE_FIRST_ARG_OF_SUBCOMMAND,
            RuleError::DuplicateUser => e::ACL_RULE_DUPLICATE_USER,
        }
    }
}

/// A user's index in the registry. The default user is always 0 and never removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(u32);

pub const DEFAULT_USER: UserId = UserId(0);

/// Length of a password hash: SHA-256 in lowercase hex.
const HASH_LEN: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: Vec<u8>,
    pub enabled: bool,
    pub nopass: bool,
    /// Some(true): sanitize-payload, Some(false): skip-sanitize-payload, None: neither said.
    pub sanitize_payload: Option<bool>,
    /// SHA-256 hex digests.
    pub passwords: Vec<Vec<u8>>,
    /// The root selector first, then `(...)` selectors in the order given.
    pub selectors: Vec<Selector>,
}

/// Redis's ACLHashPassword.
pub fn hash_password(password: &[u8]) -> Vec<u8> {
    let digest = Sha256::digest(password);
    let mut hex = Vec::with_capacity(HASH_LEN);
    for b in digest {
        hex.push(b"0123456789abcdef"[usize::from(b >> 4)]);
        hex.push(b"0123456789abcdef"[usize::from(b & 15)]);
    }
    hex
}

fn valid_hash(h: &[u8]) -> bool {
    h.len() == HASH_LEN
        && h.iter()
            .all(|&c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// The hash a password rule names: its clear text hashed (`>`/`<` rules) or the hash given
/// (`#`/`!` rules).
fn rule_hash(op: &[u8], clear_text_prefix: u8) -> Result<Vec<u8>, RuleError> {
    if op[0] == clear_text_prefix {
        Ok(hash_password(&op[1..]))
    } else if valid_hash(&op[1..]) {
        Ok(op[1..].to_vec())
    } else {
        Err(RuleError::BadHash)
    }
}

/// Compares two hashes in time independent of where they differ.
fn same_hash(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

impl User {
    /// A new user: off, no passwords, no permissions (channels per acl-pubsub-default).
    pub fn new(name: &[u8], pubsub_all: bool) -> Self {
        User {
            name: name.to_vec(),
            enabled: false,
            nopass: false,
            sanitize_payload: None,
            passwords: Vec::new(),
            selectors: vec![Selector::new(pubsub_all)],
        }
    }

    /// The default user as the server starts: on, nopass, everything allowed.
    pub fn new_default() -> Self {
        let mut u = User::new(b"default", false);
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            u.apply(op.as_bytes(), false).expect("default rules");
        }
        u
    }

    pub fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    /// Applies one rule (Redis's ACLSetUser). An empty rule does nothing.
    pub fn apply(&mut self, op: &[u8], pubsub_all: bool) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |name: &str| op.eq_ignore_ascii_case(name.as_bytes());
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.sanitize_payload = Some(false);
        } else if is("sanitize-payload") {
            self.sanitize_payload = Some(true);
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = rule_hash(op, b'>')?;
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = rule_hash(op, b'<')?;
            let pos = self
                .passwords
                .iter()
                .position(|p| *p == hash)
                .ok_or(RuleError::NoSuchPassword)?;
            self.passwords.remove(pos);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' && op.len() > 1 {
            let inner = &op[1..op.len() - 1];
            // Unbalanced quotes make an empty selector, as in Redis (sdssplitargs fails).
            let ops = crate::util::splitargs::split_args(inner).unwrap_or_default();
            let mut s = Selector::new(pubsub_all);
            for op in &ops {
                s.apply(op)?;
            }
            self.selectors.push(s);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            for op in ["resetpass", "resetkeys", "resetchannels"] {
                self.apply(op.as_bytes(), pubsub_all)?;
            }
            if pubsub_all {
                self.apply(b"allchannels", pubsub_all)?;
            }
            for op in ["off", "sanitize-payload", "clearselectors", "-@all"] {
                self.apply(op.as_bytes(), pubsub_all)?;
            }
        } else {
            self.selectors[0].apply(op)?;
        }
        Ok(())
    }

    /// Does `password` authenticate this user? (Not whether the user is enabled.)
    pub fn password_matches(&self, password: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let hash = hash_password(password);
        // Compare with every hash, so timing does not tell which one matched.
        self.passwords
            .iter()
            .fold(false, |ok, p| same_hash(p, &hash) | ok)
    }

    /// May run anything on anything: the fast path for the default user.
    pub fn unrestricted(&self) -> bool {
        self.selectors
            .iter()
            .any(|s| s.all_commands && s.all_keys && s.all_channels)
    }
}

/// Merges selector rules spread over several arguments ("(+get", "~k)") into one, as Redis
/// does for SETUSER and user lines. Err(index of the unclosed opening argument).
pub fn merge_selector_args(args: &[&[u8]]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::with_capacity(args.len());
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (i, &op) in args.iter().enumerate() {
        if let Some((_, sel)) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(op);
            if op.last() == Some(&b')') {
                let (_, sel) = open.take().expect("open selector");
                out.push(sel);
            }
            continue;
        }
        if op.first() == Some(&b'(') && op.last() != Some(&b')') {
            open = Some((i, op.to_vec()));
            continue;
        }
        out.push(op.to_vec());
    }
    match open {
        Some((i, _)) => Err(i),
        None => Ok(out),
    }
}

/// Counters of refusals (INFO stats acl_access_denied_*).
#[derive(Default, Debug, Clone, Copy)]
pub struct DeniedStats {
    pub auth: u64,
    pub cmd: u64,
    pub key: u64,
    pub channel: u64,
}

/// Every user, by name, and the ACL log.
pub struct Acl {
    users: Vec<Option<User>>,
    by_name: BTreeMap<Vec<u8>, UserId>,
    pub log: log::AclLog,
    pub denied: DeniedStats,
    /// acl-pubsub-default is allchannels: new users and `reset` get &*.
    pub pubsub_all: bool,
}

impl Default for Acl {
    fn default() -> Self {
        Self::new()
    }
}

impl Acl {
    pub fn new() -> Self {
        let mut acl = Acl {
            users: Vec::new(),
            by_name: BTreeMap::new(),
            log: log::AclLog::default(),
            denied: DeniedStats::default(),
            pubsub_all: false,
        };
        acl.insert(User::new_default());
        acl
    }

    fn insert(&mut self, user: User) -> UserId {
        let name = user.name.clone();
        let id = match self.users.iter().position(Option::is_none) {
            Some(free) => {
                self.users[free] = Some(user);
                UserId(free as u32)
            }
            None => {
                self.users.push(Some(user));
                UserId((self.users.len() - 1) as u32)
            }
        };
        self.by_name.insert(name, id);
        id
    }

    pub fn user(&self, id: UserId) -> &User {
        self.users[id.0 as usize]
            .as_ref()
            .expect("clients hold live user ids")
    }

    pub fn default_user(&self) -> &User {
        self.user(DEFAULT_USER)
    }

    pub fn find(&self, name: &[u8]) -> Option<UserId> {
        self.by_name.get(name).copied()
    }

    /// Users in name order (ACL LIST, ACL USERS, ACL SAVE).
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.by_name.values().map(|&id| self.user(id))
    }

    /// A new connection's state: authenticated when the default user needs no password.
    pub fn default_authenticated(&self) -> bool {
        let d = self.default_user();
        d.nopass && d.enabled
    }

    /// Must a connection that has not authenticated do so (Redis's authRequired)?
    pub fn auth_required(&self, authenticated: bool) -> bool {
        !authenticated && !self.default_authenticated()
    }

    /// Checks a user name and password (Redis's ACLCheckUserCredentials).
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<UserId> {
        let id = self.find(name)?;
        let u = self.user(id);
        (u.enabled && u.password_matches(password)).then_some(id)
    }

    /// Stores a user built from `rules` applied to a copy of the current one (or a new one),
    /// all or nothing. Returns the user's id and its state before, if it existed.
    pub fn set_user(
        &mut self,
        name: &[u8],
        rules: &[Vec<u8>],
    ) -> Result<(UserId, Option<User>), (usize, RuleError)> {
        let existing = self.find(name);
        let mut staged = match existing {
            Some(id) => self.user(id).clone(),
            None => User::new(name, self.pubsub_all),
        };
        for (i, op) in rules.iter().enumerate() {
            staged.apply(op, self.pubsub_all).map_err(|e| (i, e))?;
        }
        Ok(match existing {
            Some(id) => {
                let old =
                    std::mem::replace(self.users[id.0 as usize].as_mut().expect("live"), staged);
                (id, Some(old))
            }
            None => (self.insert(staged), None),
        })
    }

    /// Stores a user as it is, replacing one of the same name.
    pub fn put(&mut self, user: User) -> UserId {
        match self.find(&user.name) {
            Some(id) => {
                self.users[id.0 as usize] = Some(user);
                id
            }
            None => self.insert(user),
        }
    }

    /// Removes a user (never the default one); its clients are the caller's to disconnect.
    pub fn remove(&mut self, name: &[u8]) -> Option<UserId> {
        if name == b"default" {
            return None;
        }
        let id = self.by_name.remove(name)?;
        self.users[id.0 as usize] = None;
        Some(id)
    }

    /// Replaces every user with `users` (ACL LOAD, startup). The default user keeps id 0
    /// (made afresh if `users` lacks it). Returns the ids that no longer hold the same user.
    pub fn replace_all(&mut self, users: Vec<User>) -> Vec<UserId> {
        let gone: Vec<UserId> = self
            .by_name
            .values()
            .copied()
            .filter(|&id| id != DEFAULT_USER)
            .collect();
        let mut default = None;
        self.users.truncate(1);
        self.by_name.clear();
        let mut rest = Vec::new();
        for u in users {
            if u.name == b"default" {
                default = Some(u);
            } else {
                rest.push(u);
            }
        }
        let default = default.unwrap_or_else(User::new_default);
        self.by_name.insert(default.name.clone(), DEFAULT_USER);
        self.users[0] = Some(default);
        for u in rest {
            self.insert(u);
        }
        gone
    }

    /// requirepass: sets or clears the default user's only password.
    pub fn set_default_password(&mut self, password: Option<&[u8]>) {
        let pubsub_all = self.pubsub_all;
        let d = self.users[0].as_mut().expect("default user");
        d.apply(b"resetpass", pubsub_all).expect("resetpass");
        match password {
            Some(p) => {
                let mut op = Vec::with_capacity(p.len() + 1);
                op.push(b'>');
                op.extend_from_slice(p);
                d.apply(&op, pubsub_all).expect("a password");
            }
            None => d.apply(b"nopass", pubsub_all).expect("nopass"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hashes_are_sha256_hex() {
        assert_eq!(
            hash_password(b"p"),
            b"148de9c5a7a44d19e56cd9ae1a554bf67847afb0c58f6e12fa29ac7ddfca9940".to_vec()
        );
    }

    #[test]
    fn selectors_spread_over_arguments_merge() {
        let args: Vec<&[u8]> = vec![b"on", b"(+get", b"~k", b"&c)", b"(+set)"];
        assert_eq!(
            merge_selector_args(&args).unwrap(),
            vec![b"on".to_vec(), b"(+get ~k &c)".to_vec(), b"(+set)".to_vec()]
        );
        let open: Vec<&[u8]> = vec![b"a", b"(+get", b"~k"];
        assert_eq!(merge_selector_args(&open), Err(1));
    }

    #[test]
    fn rules_apply_all_or_nothing() {
        let mut acl = Acl::new();
        acl.set_user(b"u", &[b"on".to_vec(), b">p".to_vec()])
            .unwrap();
        let id = acl.find(b"u").unwrap();
        let before = acl.user(id).clone();
        let e = acl.set_user(b"u", &[b"off".to_vec(), b"+nosuch".to_vec()]);
        assert_eq!(e.unwrap_err(), (1, RuleError::UnknownCommand));
        assert_eq!(acl.user(id), &before);
        assert_eq!(acl.authenticate(b"u", b"p"), Some(id));
        assert_eq!(acl.authenticate(b"u", b"q"), None);
    }
}
