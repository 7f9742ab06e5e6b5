//! The ACL log: recent refusals, similar ones folded into one entry with a count (Redis's
//! ACLLog, with Redis 7.2's entry-id and timestamps).

use std::collections::VecDeque;

/// Entries closer than this in time fold together (Redis's ACL_LOG_GROUPING_MAX_TIME_DELTA).
const GROUPING_MS: i64 = 60_000;
/// Newest entries a new one is compared with before it is added.
const FOLD_SCAN: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Command,
    Key,
    Channel,
    Auth,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    Multi,
    Lua,
}

impl Context {
    pub fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub count: u64,
    pub reason: Reason,
    pub context: Context,
    /// The command, key, channel or user name at fault.
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// The client's CLIENT LIST line at the last occurrence.
    pub client_info: String,
    pub entry_id: u64,
}

#[derive(Default)]
pub struct AclLog {
    /// Newest first.
    entries: VecDeque<Entry>,
    next_id: u64,
}

impl AclLog {
    /// Records a refusal, folding it into a recent similar entry (same reason, context,
    /// object and user within a minute), keeping at most `max_len` entries.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        reason: Reason,
        context: Context,
        object: &[u8],
        username: &[u8],
        client_info: String,
        now_ms: i64,
        max_len: usize,
    ) {
        let similar = self.entries.iter().take(FOLD_SCAN).position(|e| {
            e.reason == reason
                && e.context == context
                && (e.updated_ms - now_ms).abs() <= GROUPING_MS
                && e.object == object
                && e.username == username
        });
        if let Some(i) = similar {
            let mut e = self.entries.remove(i).expect("found");
            e.count += 1;
            e.updated_ms = now_ms;
            e.client_info = client_info;
            self.entries.push_front(e);
            return;
        }
        self.entries.push_front(Entry {
            count: 1,
            reason,
            context,
            object: object.to_vec(),
            username: username.to_vec(),
            created_ms: now_ms,
            updated_ms: now_ms,
            client_info,
            entry_id: self.next_id,
        });
        self.next_id += 1;
        self.entries.truncate(max_len);
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_entries_fold_and_the_log_is_bounded() {
        let mut log = AclLog::default();
        for _ in 0..3 {
            log.add(
                Reason::Key,
                Context::Toplevel,
                b"k",
                b"u",
                "c".into(),
                1000,
                2,
            );
        }
        assert_eq!(log.len(), 1);
        assert_eq!(log.entries().next().unwrap().count, 3);
        log.add(Reason::Key, Context::Multi, b"k", b"u", "c".into(), 1000, 2);
        log.add(
            Reason::Command,
            Context::Toplevel,
            b"get",
            b"u",
            "c".into(),
            1000,
            2,
        );
        assert_eq!(log.len(), 2);
        // A minute later the same refusal starts a new entry.
        log.add(
            Reason::Command,
            Context::Toplevel,
            b"get",
            b"u",
            "c".into(),
            70_000,
            5,
        );
        assert_eq!(log.len(), 3);
    }
}
