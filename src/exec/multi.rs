//! Transactions: MULTI queues, EXEC runs the queue atomically, WATCH makes EXEC conditional.
//!
//! Watched keys are indexed by (db, key) → watching clients; any change signalled through
//! `signal_modified` (writes, expiry, FLUSHDB/FLUSHALL/SWAPDB, keys moving in or out) marks
//! the watchers dirty, and their EXEC then replies with a null array.

use std::collections::HashMap;

use super::client::flags as cf;
use super::{Client, Executor};
use crate::cmd::table::Command;

/// A client's queued transaction.
#[derive(Default)]
pub struct MultiState {
    pub queued: Vec<(&'static Command, Vec<Vec<u8>>)>,
    /// Bytes of the queued arguments (CLIENT LIST multi-mem, part of what
    /// maxmemory-clients counts).
    pub queued_bytes: usize,
    /// The union of the queued commands' flags (`Executor::command_flags`): what EXEC may do.
    pub flags: u64,
    /// The union of the flags the queued commands lack (Redis's cmd_inv_flags): EXEC may
    /// run on a stale replica only if every queued command may.
    pub missing_flags: u64,
}

/// A key a client watches, and whether it had already expired (unreaped) at WATCH time.
pub struct Watched {
    pub db: usize,
    pub key: Vec<u8>,
    pub expired_at_watch: bool,
}

/// What happened to a watched key, for Redis's rules on keys that were already expired when
/// WATCH ran (a deleted stale key is no change).
#[derive(Clone, Copy)]
pub enum Touch {
    /// Written or deleted; `exists`: the key is in the database afterwards.
    Modified { exists: bool },
    /// FLUSHDB/FLUSHALL/SWAPDB replaced the database: whether the key `existed` in it, and its
    /// state in what replaces it (None: absent; Some(expired)).
    Emptied {
        existed: bool,
        replacement: Option<bool>,
    },
}

/// Applies a touch to one watcher (Redis's touchWatchedKey / touchAllWatchedKeysInDb).
pub fn apply_touch(client: &mut Client, db: usize, key: &[u8], touch: Touch) {
    let w = client
        .watched
        .iter_mut()
        .find(|w| w.db == db && w.key == key);
    let dirty = match (w, touch) {
        (Some(w), Touch::Modified { exists }) if w.expired_at_watch => {
            if exists {
                true
            } else {
                // The stale key was deleted: logically no change.
                w.expired_at_watch = false;
                false
            }
        }
        (
            Some(w),
            Touch::Emptied {
                existed,
                replacement,
            },
        ) => {
            if w.expired_at_watch {
                match replacement {
                    None => {
                        w.expired_at_watch = false;
                        false
                    }
                    // Still expired after the swap.
                    Some(true) => false,
                    Some(false) => true,
                }
            } else if !existed && replacement == Some(true) {
                // A missing key replaced by an expired one.
                w.expired_at_watch = true;
                false
            } else {
                true
            }
        }
        _ => true,
    };
    if dirty {
        client.flags |= cf::DIRTY_CAS;
    }
}

/// Executor-side index of watched keys.
#[derive(Default)]
pub struct WatchIndex {
    keys: HashMap<(usize, Vec<u8>), Vec<usize>>,
}

impl WatchIndex {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl Executor {
    /// WATCH one key for `client`.
    pub fn watch(&mut self, client: &mut Client, key: &[u8], now_ms: i64) {
        let db = client.db;
        if client.watched.iter().any(|w| w.db == db && w.key == key) {
            return;
        }
        let expired_at_watch = self.dbs[db].is_expired(key, now_ms);
        client.watched.push(Watched {
            db,
            key: key.to_vec(),
            expired_at_watch,
        });
        self.watches
            .keys
            .entry((db, key.to_vec()))
            .or_default()
            .push(client.slot);
    }

    /// UNWATCH, EXEC, DISCARD, RESET and disconnect drop every watch.
    pub fn unwatch_all(&mut self, client: &mut Client) {
        for w in std::mem::take(&mut client.watched) {
            let k = (w.db, w.key);
            if let Some(v) = self.watches.keys.get_mut(&k) {
                v.retain(|s| *s != client.slot);
                if v.is_empty() {
                    self.watches.keys.remove(&k);
                }
            }
        }
        client.flags &= !cf::DIRTY_CAS;
    }

    /// Marks the clients watching `key` in `db` (Redis's touchWatchedKey), after the change.
    pub(super) fn touch_watched(&mut self, db: usize, key: &[u8]) {
        if self.watches.is_empty() {
            return;
        }
        let exists = self.dbs[db].peek(key).is_some();
        self.touch_watchers(db, key, Touch::Modified { exists });
    }

    fn touch_watchers(&mut self, db: usize, key: &[u8], touch: Touch) {
        let Some(slots) = self.watches.keys.get(&(db, key.to_vec())) else {
            return;
        };
        for &slot in slots.clone().iter() {
            if self.running_slot == Some(slot) {
                // The running client is out of the table: applied when it returns.
                self.running_touches.push((db, key.to_vec(), touch));
            } else if let Some(c) = self.clients.get_mut(slot).and_then(|c| c.as_deref_mut()) {
                apply_touch(c, db, key, touch);
            }
        }
    }

    /// Before a database is emptied (FLUSHDB/FLUSHALL) or swapped: watchers of keys that
    /// exist there (or in `other`, for SWAPDB) see a change.
    pub fn touch_watched_in_db(&mut self, db: usize, other: Option<usize>) {
        if self.watches.is_empty() {
            return;
        }
        let now_ms = self.clock.now_ms();
        let touched: Vec<(Vec<u8>, Touch)> = self
            .watches
            .keys
            .keys()
            .filter(|(d, _)| *d == db)
            .filter_map(|(_, k)| {
                let existed = self.dbs[db].peek(k).is_some();
                let replacement = other
                    .filter(|&o| self.dbs[o].peek(k).is_some())
                    .map(|o| self.dbs[o].is_expired(k, now_ms));
                (existed || replacement.is_some()).then(|| {
                    let touch = Touch::Emptied {
                        existed,
                        replacement,
                    };
                    (k.clone(), touch)
                })
            })
            .collect();
        for (k, touch) in touched {
            self.touch_watchers(db, &k, touch);
        }
    }

    /// Redis's isWatchedKeyExpired: a watched key that was live at WATCH time has expired.
    pub fn watched_key_expired(&self, client: &Client, now_ms: i64) -> bool {
        client
            .watched
            .iter()
            .any(|w| !w.expired_at_watch && self.dbs[w.db].is_expired(&w.key, now_ms))
    }

    /// Ends a transaction without running it.
    pub fn discard_transaction(&mut self, client: &mut Client) {
        client.multi = None;
        client.flags &= !(cf::MULTI | cf::DIRTY_EXEC | cf::DIRTY_CAS);
        self.unwatch_all(client);
    }
}
