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
    /// The union of the queued commands' flags (`Executor::command_flags`): what EXEC may do.
    pub flags: u64,
}

/// A key a client watches, and whether it had already expired (unreaped) at WATCH time.
pub struct Watched {
    pub db: usize,
    pub key: Vec<u8>,
    pub expired_at_watch: bool,
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
        let expired_at_watch = self.dbs[db].peek(key).is_some_and(|e| e.is_expired(now_ms));
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

    /// Marks the clients watching `key` in `db` (Redis's touchWatchedKey).
    pub(super) fn touch_watched(&mut self, db: usize, key: &[u8]) {
        if self.watches.is_empty() {
            return;
        }
        let Some(slots) = self.watches.keys.get(&(db, key.to_vec())) else {
            return;
        };
        for &slot in slots.clone().iter() {
            if self.running_slot == Some(slot) {
                self.running_dirty_cas = true;
            } else if let Some(c) = self.clients.get_mut(slot).and_then(|c| c.as_deref_mut()) {
                c.flags |= cf::DIRTY_CAS;
            }
        }
    }

    /// Before a database is emptied (FLUSHDB/FLUSHALL) or swapped: watchers of keys that
    /// exist there (or in `other`, for SWAPDB) see a change.
    pub fn touch_watched_in_db(&mut self, db: usize, other: Option<usize>) {
        if self.watches.is_empty() {
            return;
        }
        let touched: Vec<Vec<u8>> = self
            .watches
            .keys
            .keys()
            .filter(|(d, k)| {
                *d == db
                    && (self.dbs[db].peek(k).is_some()
                        || other.is_some_and(|o| self.dbs[o].peek(k).is_some()))
            })
            .map(|(_, k)| k.clone())
            .collect();
        for k in touched {
            self.touch_watched(db, &k);
        }
    }

    /// Redis's isWatchedKeyExpired: a watched key that was live at WATCH time has expired.
    pub fn watched_key_expired(&self, client: &Client, now_ms: i64) -> bool {
        client.watched.iter().any(|w| {
            !w.expired_at_watch
                && self.dbs[w.db]
                    .peek(&w.key)
                    .is_some_and(|e| e.is_expired(now_ms))
        })
    }

    /// Ends a transaction without running it.
    pub fn discard_transaction(&mut self, client: &mut Client) {
        client.multi = None;
        client.flags &= !(cf::MULTI | cf::DIRTY_EXEC | cf::DIRTY_CAS);
        self.unwatch_all(client);
    }
}
