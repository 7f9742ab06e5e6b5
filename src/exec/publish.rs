//! Message delivery: PUBLISH and keyspace notifications into subscribers' reply buffers.
//!
//! A message is encoded once per protocol version and copied into each receiver's buffer.
//! The running client is out of the client table while its command executes: it receives
//! its own messages directly when the caller passes it (the command's own events, delivered
//! in order before its reply, as Redis does) and otherwise right after its command.

use super::client::flags as cf;
use super::{Client, Ctx, Executor};
use crate::config::notify;
use crate::pubsub::{encode_message, Encoded, Kind};
use crate::resp::reply::Proto;

impl Executor {
    /// Delivers `payload` on `channel` (PUBLISH, SPUBLISH, notifications); returns receivers.
    pub fn publish(
        &mut self,
        kind: Kind,
        channel: &[u8],
        payload: &[u8],
        mut current: Option<&mut Client>,
    ) -> usize {
        let mut receivers = 0;
        let msg_kind: &[u8] = if kind == Kind::Shard {
            b"smessage"
        } else {
            b"message"
        };
        let subs: Vec<usize> = self.pubsub.subscribers(kind, channel).to_vec();
        if !subs.is_empty() {
            let enc = encode_message(msg_kind, None, channel, payload);
            for slot in subs {
                self.deliver(slot, &enc, current.as_deref_mut());
                receivers += 1;
            }
        }
        if kind == Kind::Channel {
            let matches: Vec<(Vec<u8>, Vec<usize>)> = self
                .pubsub
                .matching_patterns(channel)
                .map(|(p, s)| (p.to_vec(), s.to_vec()))
                .collect();
            for (pattern, slots) in matches {
                let enc = encode_message(b"pmessage", Some(&pattern), channel, payload);
                for slot in slots {
                    self.deliver(slot, &enc, current.as_deref_mut());
                    receivers += 1;
                }
            }
        }
        receivers
    }

    fn deliver(&mut self, slot: usize, enc: &Encoded, current: Option<&mut Client>) {
        let frame = |proto: Proto| {
            if proto == Proto::Resp3 {
                &enc.resp3
            } else {
                &enc.resp2
            }
        };
        if let Some(c) = current.filter(|c| c.slot == slot) {
            let start = c.out.len();
            c.out.raw(frame(c.out.proto));
            c.out.pushed_since(start);
            return;
        }
        if self.running_slot == Some(slot) {
            self.self_pushes.push(enc.resp2.clone());
            self.self_pushes.push(enc.resp3.clone());
            return;
        }
        let now_ms = self.clock.now_ms();
        let Some(c) = self.clients.get_mut(slot).and_then(|c| c.as_deref_mut()) else {
            return;
        };
        c.out.raw(frame(c.out.proto));
        c.foreign_output = true;
        self.pending_write.push(slot);
        self.enforce_output_limit(slot, now_ms);
    }

    /// Pushes queued for the running client while it was out of the table, in order.
    pub(super) fn flush_self_pushes(&mut self, client: &mut Client) {
        let pushes = std::mem::take(&mut self.self_pushes);
        for pair in pushes.chunks(2) {
            let frame = if client.out.is_resp3() {
                &pair[1]
            } else {
                &pair[0]
            };
            client.out.raw(frame);
        }
    }

    /// Closes a (non-running) client whose output passed its class's limit.
    pub(super) fn enforce_output_limit(&mut self, slot: usize, now_ms: i64) {
        let Some(mut c) = self.clients.get_mut(slot).and_then(Option::take) else {
            return;
        };
        self.check_output_limits(&mut c, now_ms);
        self.clients[slot] = Some(c);
    }

    /// Publishes a keyspace notification (Redis's notifyKeyspaceEvent), if its class and a
    /// K or E channel type are enabled. `current` is the running client, if the caller has it.
    pub fn notify_to(
        &mut self,
        class: u32,
        event: &str,
        key: &[u8],
        db: usize,
        mut current: Option<&mut Client>,
    ) {
        // Keys created by this command announce themselves first ("new", from dbAdd in Redis).
        if class != notify::NEW {
            self.announce_new_keys(db, current.as_deref_mut());
        }
        let flags = self.settings.notify_flags;
        if flags & class == 0 {
            return;
        }
        if flags & notify::KEYSPACE != 0 {
            let mut ch = Vec::with_capacity(16 + key.len());
            ch.extend_from_slice(b"__keyspace@");
            crate::util::num::push_u64(&mut ch, db as u64);
            ch.extend_from_slice(b"__:");
            ch.extend_from_slice(key);
            self.publish(Kind::Channel, &ch, event.as_bytes(), current.as_deref_mut());
        }
        if flags & notify::KEYEVENT != 0 {
            let mut ch = Vec::with_capacity(16 + event.len());
            ch.extend_from_slice(b"__keyevent@");
            crate::util::num::push_u64(&mut ch, db as u64);
            ch.extend_from_slice(b"__:");
            ch.extend_from_slice(event.as_bytes());
            self.publish(Kind::Channel, &ch, key, current);
        }
    }

    /// Emits "new" for keys created since the last call (only recorded when that event is on).
    pub fn announce_new_keys(&mut self, db: usize, mut current: Option<&mut Client>) {
        if self.dbs[db].created.is_empty() {
            return;
        }
        for k in std::mem::take(&mut self.dbs[db].created) {
            self.notify_to(notify::NEW, "new", &k, db, current.as_deref_mut());
        }
    }

    /// Keyspace notification from executor internals (expiry, eviction).
    pub fn notify(&mut self, class: u32, event: &str, key: &[u8], db: usize) {
        self.notify_to(class, event, key, db, None);
    }
}

impl Ctx<'_> {
    /// A keyspace notification for this command, delivered in order to this client too.
    pub fn notify(&mut self, class: u32, event: &str, key: &[u8]) {
        let db = self.client.db;
        self.ex
            .notify_to(class, event, key, db, Some(&mut *self.client));
    }

    /// True when this client is subscribed to anything (Redis's CLIENT_PUBSUB).
    pub fn in_pubsub(&self) -> bool {
        self.client.has(cf::PUBSUB)
    }
}
