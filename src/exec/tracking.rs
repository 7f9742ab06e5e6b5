//! Client-side caching (Redis's tracking.c): CLIENT TRACKING state, the table of keys each
//! tracking client may have cached, BCAST prefixes, and the invalidation messages.
//!
//! Default mode remembers, per key, the ids of clients that read it with a read-only command;
//! a write to the key sends each of them one invalidation and forgets the key. BCAST mode
//! instead collects every changed key under the subscribed prefixes and broadcasts them once
//! per event-loop turn. Messages go as RESP3 pushes, or to a redirect client (as a pub/sub
//! message on `__redis__:invalidate` when that client speaks RESP2).
//!
//! The running client is out of the client table while its command executes, so anything
//! addressed to it (or through its redirect) waits in `pending` and is sent right after its
//! reply, which is also the order Redis uses.

use std::collections::{BTreeMap, HashMap};

use super::client::flags as cf;
use super::{Client, Executor};
use crate::cmd::table::Command;
use crate::resp::reply::Proto;

const CHANNEL: &[u8] = b"__redis__:invalidate";

/// What an invalidation says.
enum Payload {
    /// One key (a `*1` array).
    Key(Vec<u8>),
    /// Everything (FLUSHDB/FLUSHALL): a null in the tracking client's protocol.
    Flush,
    /// A BCAST batch, already encoded as an array of keys.
    Encoded(Vec<u8>),
}

/// One BCAST prefix: subscribed clients and keys changed since the last broadcast, with the
/// id of the client that changed each last (for NOLOOP; 0 for the server itself).
#[derive(Default)]
struct Prefix {
    clients: Vec<u64>,
    keys: BTreeMap<Vec<u8>, u64>,
}

#[derive(Default)]
pub struct TrackingState {
    /// Key → ids of clients that may hold it in their cache.
    table: HashMap<Vec<u8>, Vec<u64>>,
    total_items: usize,
    prefixes: BTreeMap<Vec<u8>, Prefix>,
    /// Clients with tracking on.
    pub clients: usize,
    /// Client id → slot, kept for every connection (redirect and table lookups).
    pub slots: HashMap<u64, usize>,
    /// Messages for the running client (or through it), sent after its reply, with the id
    /// of the client whose command caused them.
    pending: Vec<(u64, Payload, u64)>,
    /// Consecutive turns the table stayed over tracking-table-max-keys.
    over_limit_turns: u32,
}

/// The parsed options of CLIENT TRACKING ON.
pub struct TrackingOptions {
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    pub prefixes: Vec<Vec<u8>>,
}

/// Does one of `a`, `b` start with the other (Redis's stringCheckPrefix)?
pub fn prefixes_overlap(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

impl TrackingState {
    pub fn total_keys(&self) -> usize {
        self.table.len()
    }

    pub fn total_items(&self) -> usize {
        self.total_items
    }

    pub fn total_prefixes(&self) -> usize {
        self.prefixes.len()
    }
}

impl Executor {
    /// CLIENT TRACKING ON with validated options (Redis's enableTracking).
    pub fn enable_tracking(&mut self, c: &mut Client, opts: TrackingOptions) {
        if !c.has(cf::TRACKING) {
            self.tracking.clients += 1;
        }
        c.flags |= cf::TRACKING;
        c.flags &= !(cf::TRACKING_BROKEN_REDIR
            | cf::TRACKING_BCAST
            | cf::TRACKING_OPTIN
            | cf::TRACKING_OPTOUT
            | cf::TRACKING_NOLOOP);
        c.tracking_redirect = opts.redirect;
        if opts.bcast {
            c.flags |= cf::TRACKING_BCAST;
            let prefixes = if opts.prefixes.is_empty() {
                vec![Vec::new()]
            } else {
                opts.prefixes
            };
            for p in prefixes {
                if !c.tracking_prefixes.contains(&p) {
                    let entry = self.tracking.prefixes.entry(p.clone()).or_default();
                    entry.clients.push(c.id);
                    c.tracking_prefixes.push(p);
                }
            }
            c.tracking_prefixes.sort();
        }
        if opts.optin {
            c.flags |= cf::TRACKING_OPTIN;
        }
        if opts.optout {
            c.flags |= cf::TRACKING_OPTOUT;
        }
        if opts.noloop {
            c.flags |= cf::TRACKING_NOLOOP;
        }
    }

    /// CLIENT TRACKING OFF, RESET and disconnection (Redis's disableTracking).
    pub fn disable_tracking(&mut self, c: &mut Client) {
        for p in std::mem::take(&mut c.tracking_prefixes) {
            if let Some(entry) = self.tracking.prefixes.get_mut(&p) {
                entry.clients.retain(|id| *id != c.id);
                if entry.clients.is_empty() {
                    self.tracking.prefixes.remove(&p);
                }
            }
        }
        if c.has(cf::TRACKING) {
            self.tracking.clients -= 1;
            c.flags &= !(cf::TRACKING
                | cf::TRACKING_BROKEN_REDIR
                | cf::TRACKING_BCAST
                | cf::TRACKING_OPTIN
                | cf::TRACKING_OPTOUT
                | cf::TRACKING_CACHING
                | cf::TRACKING_NOLOOP);
        }
    }

    /// After a read-only command of a tracking client: remember the keys it may now cache
    /// (Redis's trackingRememberKeys).
    /// A script run by `caller` (with `script_argv`) ran a read-only command: as in Redis 7.0,
    /// the caller tracks the keys the script declared.
    pub fn track_script_keys(&mut self, caller: &Client, script_argv: &[&[u8]]) {
        if !caller.has(cf::TRACKING) || caller.has(cf::TRACKING_BCAST) {
            return;
        }
        if let Some(cmd) = script_argv.first().and_then(|name| self.table.get(name)) {
            self.remember_tracked_keys(caller, cmd, script_argv);
        }
    }

    pub(super) fn remember_tracked_keys(&mut self, c: &Client, cmd: &Command, argv: &[&[u8]]) {
        let optin = c.has(cf::TRACKING_OPTIN);
        let optout = c.has(cf::TRACKING_OPTOUT);
        let caching = c.has(cf::TRACKING_CACHING);
        if (optin && !caching) || (optout && caching) {
            return;
        }
        if cmd.meta.has(crate::cmd::meta::flag::PUBSUB) {
            return;
        }
        let Some(keys) = crate::cmd::keys::command_keys(cmd.meta, argv) else {
            return;
        };
        for k in keys {
            let Some(key) = argv.get(k.pos) else { continue };
            let ids = self.tracking.table.entry(key.to_vec()).or_default();
            if !ids.contains(&c.id) {
                ids.push(c.id);
                self.tracking.total_items += 1;
            }
        }
    }

    /// A key changed (from `signal_modified`): invalidate it for the clients that cached it
    /// and queue it for BCAST prefixes (Redis's trackingInvalidateKey).
    pub(super) fn invalidate_tracked_key(&mut self, key: &[u8], bcast: bool) {
        if self.tracking.clients == 0 && self.tracking.table.is_empty() {
            return;
        }
        let by = self.running_id;
        if bcast && !self.tracking.prefixes.is_empty() {
            for (p, entry) in self.tracking.prefixes.iter_mut() {
                if key.starts_with(p) {
                    entry.keys.insert(key.to_vec(), by);
                }
            }
        }
        let Some(ids) = self.tracking.table.remove(key) else {
            return;
        };
        self.tracking.total_items -= ids.len();
        for id in ids {
            self.send_tracking(id, Payload::Key(key.to_vec()), by);
        }
    }

    /// FLUSHDB / FLUSHALL: every tracking client drops its whole cache (Redis's
    /// trackingInvalidateKeysOnFlush); the table is emptied.
    pub fn invalidate_tracking_on_flush(&mut self) {
        if self.tracking.clients > 0 {
            let mut ids: Vec<u64> = self
                .clients
                .iter()
                .flatten()
                .filter(|c| c.has(cf::TRACKING))
                .map(|c| c.id)
                .collect();
            if self.running_id != 0 {
                ids.push(self.running_id);
            }
            for id in ids {
                self.send_tracking(id, Payload::Flush, 0);
            }
        }
        self.tracking.table.clear();
        self.tracking.total_items = 0;
    }

    /// Before processing a command: keep the table within tracking-table-max-keys by
    /// invalidating keys (Redis's trackingLimitUsedSlots, with its growing effort).
    pub(super) fn limit_tracking_table(&mut self) {
        let max = self.settings.tracking_table_max_keys;
        if max == 0 || self.tracking.table.len() <= max {
            self.tracking.over_limit_turns = 0;
            return;
        }
        let mut effort = 100 * (self.tracking.over_limit_turns as usize + 1);
        while effort > 0 {
            effort -= 1;
            let Some(key) = self.tracking.table.keys().next().cloned() else {
                break;
            };
            self.invalidate_tracked_key(&key, false);
            if self.tracking.table.len() <= max {
                self.tracking.over_limit_turns = 0;
                return;
            }
        }
        self.tracking.over_limit_turns += 1;
    }

    /// Once per event-loop turn: send each BCAST prefix's changed keys to its clients
    /// (Redis's trackingBroadcastInvalidationMessages).
    pub(super) fn broadcast_tracking(&mut self) {
        if self.tracking.prefixes.values().all(|p| p.keys.is_empty()) {
            return;
        }
        let mut sends = Vec::new();
        for entry in self.tracking.prefixes.values_mut() {
            if entry.keys.is_empty() {
                continue;
            }
            let keys = std::mem::take(&mut entry.keys);
            for &id in &entry.clients {
                let noloop = self
                    .tracking
                    .slots
                    .get(&id)
                    .and_then(|&s| self.clients.get(s))
                    .and_then(|c| c.as_deref())
                    .is_some_and(|c| c.has(cf::TRACKING_NOLOOP));
                let shown: Vec<&Vec<u8>> = keys
                    .iter()
                    .filter(|(_, by)| !(noloop && **by == id))
                    .map(|(k, _)| k)
                    .collect();
                if shown.is_empty() {
                    continue;
                }
                let mut enc = Vec::new();
                encode_keys(&mut enc, &shown);
                sends.push((id, Payload::Encoded(enc)));
            }
        }
        for (id, payload) in sends {
            self.send_tracking(id, payload, 0);
        }
    }

    /// Sends what waited for the running client once it is back in the table.
    pub(super) fn flush_tracking_pending(&mut self) {
        if self.tracking.pending.is_empty() {
            return;
        }
        for (id, payload, by) in std::mem::take(&mut self.tracking.pending) {
            self.send_tracking(id, payload, by);
        }
    }

    /// Redis's sendTrackingMessage: to the client itself (RESP3), or through its redirect.
    /// `by` is the client whose command changed the key (NOLOOP clients skip their own).
    fn send_tracking(&mut self, id: u64, payload: Payload, by: u64) {
        let Some(&slot) = self.tracking.slots.get(&id) else {
            return;
        };
        if self.running_slot == Some(slot) {
            self.tracking.pending.push((id, payload, by));
            return;
        }
        let Some(c) = self.clients.get(slot).and_then(|c| c.as_deref()) else {
            return;
        };
        if !c.has(cf::TRACKING) {
            return;
        }
        if let Payload::Key(_) = payload {
            // A key from the table: only default-mode clients take it (the client may have
            // switched to BCAST since it read the key).
            if c.has(cf::TRACKING_BCAST) || (c.has(cf::TRACKING_NOLOOP) && by == id) {
                return;
            }
        }
        let own_proto = c.out.proto;
        let redirect = c.tracking_redirect;
        let mut receiver = slot;
        if redirect != 0 {
            match self.tracking.slots.get(&redirect) {
                Some(&r) if self.running_slot == Some(r) => {
                    self.tracking.pending.push((id, payload, by));
                    return;
                }
                Some(&r) => receiver = r,
                None => {
                    let Some(c) = self.client_mut(slot) else {
                        return;
                    };
                    c.flags |= cf::TRACKING_BROKEN_REDIR;
                    if c.out.is_resp3() {
                        c.out.push(2);
                        c.out.bulk(b"tracking-redir-broken");
                        c.out.int(redirect as i64);
                        self.pending_write.push(slot);
                    }
                    return;
                }
            }
        }
        let now_ms = self.clock.now_ms();
        let Some(r) = self.client_mut(receiver) else {
            return;
        };
        if r.out.is_resp3() {
            r.out.push(2);
            r.out.bulk(b"invalidate");
        } else if redirect != 0 && r.has(cf::PUBSUB) {
            r.out.array(3);
            r.out.bulk(b"message");
            r.out.bulk(CHANNEL);
        } else {
            return;
        }
        match payload {
            Payload::Key(k) => {
                r.out.array(1);
                r.out.bulk(&k);
            }
            Payload::Flush => r.out.raw(if own_proto == Proto::Resp3 {
                b"_\r\n"
            } else {
                b"$-1\r\n"
            }),
            Payload::Encoded(e) => r.out.raw(&e),
        }
        r.foreign_output = true;
        self.pending_write.push(receiver);
        self.enforce_output_limit(receiver, now_ms);
    }
}

fn encode_keys(out: &mut Vec<u8>, keys: &[&Vec<u8>]) {
    let mut tmp = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(tmp.format(keys.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for k in keys {
        out.push(b'$');
        out.extend_from_slice(tmp.format(k.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(k);
        out.extend_from_slice(b"\r\n");
    }
}
