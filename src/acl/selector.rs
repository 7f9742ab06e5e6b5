//! A selector: one set of permissions (commands, key patterns, channel patterns). A user has
//! a root selector and any number of `(...)` selectors; a command runs if any one allows it.

use super::commands::{self, AclCommand, COMMAND_BITS, FUTURE_BIT};
use super::RuleError;

/// Key pattern permissions.
pub const READ: u8 = 1;
pub const WRITE: u8 = 2;
pub const READ_WRITE: u8 = READ | WRITE;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pub pattern: Vec<u8>,
    /// READ, WRITE or both.
    pub perm: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    pub all_keys: bool,
    pub all_channels: bool,
    /// Every command may run, bits unchecked (cleared by any removal).
    pub all_commands: bool,
    allowed: [u64; COMMAND_BITS / 64],
    /// First arguments allowed for a command whose bit is clear ("+select|0"), by id.
    first_args: Vec<(usize, Vec<Vec<u8>>)>,
    pub keys: Vec<KeyPattern>,
    pub channels: Vec<Vec<u8>>,
}

impl Selector {
    /// An empty selector (no permissions); `all_channels` per acl-pubsub-default.
    pub fn new(all_channels: bool) -> Self {
        Selector {
            all_keys: false,
            all_channels,
            all_commands: false,
            allowed: [0; COMMAND_BITS / 64],
            first_args: Vec::new(),
            keys: Vec::new(),
            channels: Vec::new(),
        }
    }

    #[inline]
    pub fn bit(&self, id: usize) -> bool {
        id < COMMAND_BITS && self.allowed[id / 64] & (1 << (id % 64)) != 0
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if id >= COMMAND_BITS {
            return;
        }
        if on {
            self.allowed[id / 64] |= 1 << (id % 64);
        } else {
            self.allowed[id / 64] &= !(1 << (id % 64));
            self.all_commands = false;
        }
    }

    /// Created by +@all: commands added later (modules) may run too.
    pub fn allows_future_commands(&self) -> bool {
        self.bit(FUTURE_BIT)
    }

    pub fn first_args(&self, id: usize) -> &[Vec<u8>] {
        self.first_args
            .iter()
            .find(|(i, _)| *i == id)
            .map_or(&[], |(_, a)| a.as_slice())
    }

    fn add_first_arg(&mut self, id: usize, arg: &[u8]) {
        let pos = match self.first_args.iter().position(|(i, _)| *i == id) {
            Some(p) => p,
            None => {
                self.first_args.push((id, Vec::new()));
                self.first_args.len() - 1
            }
        };
        let args = &mut self.first_args[pos].1;
        if !args.iter().any(|a| a.eq_ignore_ascii_case(arg)) {
            args.push(arg.to_vec());
        }
    }

    /// Allows or blocks a command; a container takes its subcommands along (Redis's
    /// ACLChangeSelectorPerm).
    pub fn change_perm(&mut self, cmd: &AclCommand, allow: bool) {
        self.set_bit(cmd.id, allow);
        self.first_args.retain(|(i, _)| *i != cmd.id);
        for &sub in &cmd.subs {
            self.set_bit(sub, allow);
        }
    }

    fn set_category(&mut self, bit: u64, allow: bool) {
        let table = commands::get();
        for cmd in table.top_level() {
            if cmd.in_category(bit) {
                self.change_perm(cmd, allow);
            }
            for &sub in &cmd.subs {
                let sub = table.get(sub);
                if sub.in_category(bit) {
                    self.change_perm(sub, allow);
                }
            }
        }
    }

    /// Commands of a category this selector allows and denies.
    pub fn count_category(&self, bit: u64) -> (usize, usize) {
        let (mut on, mut off) = (0, 0);
        for cmd in commands::get().walk() {
            if cmd.in_category(bit) {
                if self.bit(cmd.id) {
                    on += 1;
                } else {
                    off += 1;
                }
            }
        }
        (on, off)
    }

    pub fn same_commands(&self, other: &Selector) -> bool {
        self.allowed == other.allowed
    }

    fn all(&mut self, allow: bool) {
        self.allowed = [if allow { u64::MAX } else { 0 }; COMMAND_BITS / 64];
        self.all_commands = allow;
        self.first_args.clear();
    }

    /// Applies one selector rule (Redis's ACLSetSelector).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if op.is_empty() {
            return Err(RuleError::Syntax);
        }
        let is = |name: &str| op.eq_ignore_ascii_case(name.as_bytes());
        if is("allkeys") || is("~*") {
            self.all_keys = true;
            self.keys.clear();
        } else if is("resetkeys") {
            self.all_keys = false;
            self.keys.clear();
        } else if is("allchannels") || is("&*") {
            self.all_channels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.all_channels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.all(true);
        } else if is("nocommands") || is("-@all") {
            self.all(false);
        } else if op[0] == b'~' || op[0] == b'%' {
            self.add_key_pattern(op)?;
        } else if op[0] == b'&' {
            if self.all_channels {
                return Err(RuleError::ChannelAfterAll);
            }
            let pattern = &op[1..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(pattern.to_vec());
            }
            self.all_channels = false;
        } else if op.len() > 1 && op[1] == b'@' && (op[0] == b'+' || op[0] == b'-') {
            let bit = commands::category_bit(&op[2..]).ok_or(RuleError::UnknownCommand)?;
            self.set_category(bit, op[0] == b'+');
        } else if op[0] == b'+' {
            self.allow_command(&op[1..])?;
        } else if op[0] == b'-' {
            let cmd = commands::get()
                .lookup(&op[1..])
                .ok_or(RuleError::UnknownCommand)?;
            self.change_perm(cmd, false);
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    /// `~pattern`, `%R~pattern`, `%W~pattern`, `%RW~pattern`.
    fn add_key_pattern(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if self.all_keys {
            return Err(RuleError::KeyAfterAll);
        }
        let mut perm = 0;
        let mut offset = 1;
        if op[0] == b'%' {
            while offset < op.len() {
                match op[offset].to_ascii_uppercase() {
                    b'R' if perm & READ == 0 => perm |= READ,
                    b'W' if perm & WRITE == 0 => perm |= WRITE,
                    b'~' => {
                        offset += 1;
                        break;
                    }
                    _ => return Err(RuleError::Syntax),
                }
                offset += 1;
            }
            if perm == 0 {
                return Err(RuleError::Syntax);
            }
        } else {
            perm = READ_WRITE;
        }
        let pattern = &op[offset.min(op.len())..];
        if has_spaces(pattern) {
            return Err(RuleError::Syntax);
        }
        match self.keys.iter_mut().find(|k| k.pattern == pattern) {
            Some(k) => k.perm |= perm,
            None => self.keys.push(KeyPattern {
                pattern: pattern.to_vec(),
                perm,
            }),
        }
        self.all_keys = false;
        Ok(())
    }

    /// `+cmd`, `+container|sub`, or `+cmd|first-arg` (deprecated by Redis, still accepted).
    fn allow_command(&mut self, name: &[u8]) -> Result<(), RuleError> {
        let table = commands::get();
        let Some(bar) = name.iter().rposition(|&b| b == b'|') else {
            let cmd = table.lookup(name).ok_or(RuleError::UnknownCommand)?;
            self.change_perm(cmd, true);
            return Ok(());
        };
        let (base, arg) = (&name[..bar], &name[bar + 1..]);
        let cmd = table.lookup(base).ok_or(RuleError::UnknownCommand)?;
        if cmd.parent.is_some() {
            return Err(RuleError::FirstArgOfSubcommand);
        }
        if arg.is_empty() {
            return Err(RuleError::Syntax);
        }
        if cmd.subs.is_empty() {
            tracing::warn!(
                "Deprecation warning: Allowing a first arg of an otherwise blocked command is a \
                 misuse of ACL and may get disabled in the future (offender: +{})",
                String::from_utf8_lossy(name)
            );
            self.add_first_arg(cmd.id, arg);
        } else {
            let sub = table.lookup(name).ok_or(RuleError::UnknownCommand)?;
            self.change_perm(sub, true);
        }
        Ok(())
    }
}

/// Spaces or NUL bytes, refused in user names and patterns (they would not survive an ACL
/// file round trip).
pub fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|&b| b == 0 || b.is_ascii_whitespace() || b == 0x0b)
}
