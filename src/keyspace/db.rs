//! `Db`: one logical database: keys → entries, plus the keys that carry a TTL and their TTLs.
//!
//! A key's node holds its name, value, LRU/LFU data and a flag saying it has a TTL (48 bytes,
//! one jemalloc class); the TTL itself lives in `volatile`, as Redis keeps it in its `expires`
//! dict, so keys without one (most) do not pay 8 bytes for it.
//!
//! Data only: no RESP, no sockets, no clock reads. Callers pass the time in and perform the
//! side effects of expiry (stats, notifications, propagation) in the executor.

use super::bytes::CompactBytes;
use super::dict::Dict;
use super::value::Value;

/// `expire_at_ms` of a key without a TTL.
pub const NO_EXPIRE: i64 = -1;

/// Redis's LRU clock: seconds, 24 bits.
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

/// Bytes a key's table entry takes besides the heap of its name and value: the node (name,
/// entry, chain link) and its bucket slot (for MEMORY USAGE).
pub const ENTRY_BYTES: usize = std::mem::size_of::<crate::keyspace::bytes::CompactBytes>()
    + std::mem::size_of::<Entry>()
    + 2 * std::mem::size_of::<usize>();

pub struct Entry {
    pub value: Value,
    /// Low 24 bits: the LRU clock of the last access, or LFU (16-bit minutes << 8 | 8-bit
    /// counter). Bit 31: the key has a TTL, kept in `Db::volatile`.
    meta: u32,
    /// The live snapshot that saved (or must not save) this entry: one whose epoch differs
    /// saves it before it first changes (see `SnapshotView`).
    snapshot_epoch: u32,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 24);

const LRU_BITS: u32 = LRU_CLOCK_MAX;
const HAS_EXPIRE: u32 = 1 << 31;

impl Entry {
    pub fn new(value: Value, lru: u32) -> Entry {
        Entry {
            value,
            meta: lru & LRU_BITS,
            snapshot_epoch: 0,
        }
    }

    /// LRU clock or LFU data (24 bits).
    #[inline]
    pub fn lru(&self) -> u32 {
        self.meta & LRU_BITS
    }

    #[inline]
    pub fn set_lru(&mut self, lru: u32) {
        self.meta = (self.meta & !LRU_BITS) | (lru & LRU_BITS);
    }

    /// True if the key has a TTL (its time is `Db::expire_at`).
    #[inline]
    pub fn has_expire(&self) -> bool {
        self.meta & HAS_EXPIRE != 0
    }

    #[inline]
    fn set_has_expire(&mut self, on: bool) {
        if on {
            self.meta |= HAS_EXPIRE;
        } else {
            self.meta &= !HAS_EXPIRE;
        }
    }
}

/// Redis's keyIsExpired: strictly past the deadline (`NO_EXPIRE` never is).
#[inline]
pub fn past(expire_at_ms: i64, now_ms: i64) -> bool {
    expire_at_ms != NO_EXPIRE && now_ms > expire_at_ms
}

/// Saves entries for a live snapshot (`persist::live`): each as it was when the snapshot
/// began, into bytes the snapshot collects.
pub trait SnapshotSaver: Send {
    /// Saves one key with its TTL (`NO_EXPIRE` for none).
    fn save(&mut self, key: &[u8], entry: &Entry, expire_at_ms: i64);
    /// What was saved so far and not yet taken.
    fn output(&mut self) -> &mut Vec<u8>;
}

/// A point-in-time view of a `Db` being saved while it changes (a snapshot without fork).
/// Invariant: an entry that existed when the snapshot began and has not been saved yet
/// (its epoch differs) is unchanged since; every `Db` method that changes, replaces or
/// removes an entry first saves it (`before_change`), and entries added meanwhile carry the
/// epoch, so they are never saved. `keys` is private so no other path can change one.
pub struct SnapshotView {
    pub epoch: u32,
    /// The db number this data is saved under (SWAPDB moves views with their dbs).
    pub origin: usize,
    /// Where the snapshot's own walk over the keys resumes (a SCAN cursor).
    pub cursor: u64,
    /// The walk is over: every entry is saved.
    pub walked: bool,
    pub saver: Box<dyn SnapshotSaver>,
}

impl SnapshotView {
    pub fn new(epoch: u32, origin: usize, saver: Box<dyn SnapshotSaver>) -> SnapshotView {
        SnapshotView {
            epoch,
            origin,
            cursor: 0,
            walked: false,
            saver,
        }
    }

    #[inline]
    fn before_change(&mut self, key: &[u8], e: &mut Entry, volatile: &Volatile) {
        if e.snapshot_epoch != self.epoch {
            self.saver.save(key, e, ttl_of(volatile, key, e));
            e.snapshot_epoch = self.epoch;
        }
    }

    /// An entry removed before it was saved is saved now, with its TTL.
    #[inline]
    fn before_drop(&mut self, key: &[u8], e: &Entry, expire_at_ms: i64) {
        if e.snapshot_epoch != self.epoch {
            self.saver.save(key, e, expire_at_ms);
        }
    }
}

/// Keys with a TTL → their absolute unix time in ms.
pub type Volatile = Dict<CompactBytes, i64>;

/// The TTL of an entry of `volatile`'s db.
#[inline]
fn ttl_of(volatile: &Volatile, key: &[u8], e: &Entry) -> i64 {
    if e.has_expire() {
        volatile.get(key).copied().unwrap_or(NO_EXPIRE)
    } else {
        NO_EXPIRE
    }
}

/// The hashes and sets that have fields or members with TTLs, each under its earliest one
/// (Redis's db->subexpires): what the active expiry visits, earliest first, and INFO's
/// `subexpiry`. `Db` keeps it in step when values come and go whole (insert, overwrite,
/// removal, flush); a command that changes TTLs inside a value calls `Db::sync_field_ttls`
/// after.
#[derive(Default)]
struct FieldExpiryIndex {
    by_key: std::collections::HashMap<CompactBytes, i64, foldhash::fast::RandomState>,
    by_time: std::collections::BTreeSet<(i64, CompactBytes)>,
}

impl FieldExpiryIndex {
    fn set(&mut self, key: &[u8], at: Option<i64>) {
        match at {
            Some(at) => {
                if let Some(old) = self.by_key.get_mut(key) {
                    if *old == at {
                        return;
                    }
                    self.by_time.remove(&(*old, CompactBytes::new(key)));
                    *old = at;
                } else {
                    self.by_key.insert(CompactBytes::new(key), at);
                }
                self.by_time.insert((at, CompactBytes::new(key)));
            }
            None => {
                if let Some(old) = self.by_key.remove(key) {
                    self.by_time.remove(&(old, CompactBytes::new(key)));
                }
            }
        }
    }

    fn clear(&mut self) {
        self.by_key.clear();
        self.by_time.clear();
    }
}

/// The earliest field or member TTL of a hash or set that has any; None for anything else.
#[inline]
fn field_ttls_of(v: &Value) -> Option<i64> {
    match v {
        Value::Hash(h) => h.min_ttl(),
        Value::Set(s) => s.min_ttl(),
        _ => None,
    }
}

pub struct Db {
    keys: Dict<CompactBytes, Entry>,
    /// A live snapshot in progress over this db.
    snapshot: Option<SnapshotView>,
    /// Keys with a TTL and their TTLs, sampled by the active expiry cycle. Changed only by
    /// the methods below, which keep each entry's `has_expire` flag in step.
    volatile: Volatile,
    /// Hashes with field TTLs, by their earliest (Redis's db->hexpires).
    hfe: FieldExpiryIndex,
    /// Running estimate of the average TTL, for INFO keyspace.
    pub avg_ttl_ms: i64,
    /// Where the active expiry cycle resumes scanning `volatile`.
    pub expire_cursor: u64,
    /// Record keys as they are created (for the "new" keyspace event) when set.
    pub track_created: bool,
    /// Keys created since the executor last drained this list.
    pub created: Vec<CompactBytes>,
    /// Cluster mode: the keys of each hash slot, so a slot's keys are counted, listed and
    /// moved in time proportional to the slot, not the keyspace (Redis's slots_to_keys).
    pub slots: Option<Box<SlotIndex>>,
}

/// Keys by hash slot.
pub struct SlotIndex {
    keys: Vec<Dict<CompactBytes, ()>>,
}

impl SlotIndex {
    fn new() -> SlotIndex {
        SlotIndex {
            keys: (0..crate::cluster::slot::SLOTS)
                .map(|_| Dict::new())
                .collect(),
        }
    }

    fn add(&mut self, key: &[u8]) {
        let slot = crate::cluster::slot::key_hash_slot(key) as usize;
        self.keys[slot].insert(CompactBytes::new(key), ());
    }

    fn remove(&mut self, key: &[u8]) {
        let slot = crate::cluster::slot::key_hash_slot(key) as usize;
        self.keys[slot].remove(key);
    }

    fn clear(&mut self) {
        self.keys.iter_mut().for_each(Dict::clear);
    }
}

impl Default for Db {
    fn default() -> Self {
        Self::new()
    }
}

impl Db {
    pub fn new() -> Self {
        let mut keys = Dict::new();
        keys.guard_growth();
        let mut volatile = Dict::new();
        volatile.guard_growth();
        Db {
            keys,
            snapshot: None,
            volatile,
            hfe: FieldExpiryIndex::default(),
            avg_ttl_ms: 0,
            expire_cursor: 0,
            track_created: false,
            created: Vec::new(),
            slots: None,
        }
    }

    /// Keeps keys by hash slot from now on (cluster mode).
    pub fn index_slots(&mut self) {
        let mut index = SlotIndex::new();
        for (k, _) in self.keys.iter() {
            index.add(k.as_slice());
        }
        self.slots = Some(Box::new(index));
    }

    /// Keys in a hash slot (0 without the slot index).
    pub fn keys_in_slot(&self, slot: usize) -> usize {
        self.slots.as_ref().map_or(0, |s| s.keys[slot].len())
    }

    /// Up to `count` keys of a slot.
    pub fn slot_keys(&self, slot: usize, count: usize) -> Vec<CompactBytes> {
        let Some(s) = &self.slots else {
            return Vec::new();
        };
        s.keys[slot]
            .iter()
            .take(count)
            .map(|(k, _)| k.clone())
            .collect()
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn expires_count(&self) -> usize {
        self.volatile.len()
    }

    /// How many hashes and sets have fields or members with TTLs (INFO keyspace's
    /// `subexpiry`).
    pub fn keys_with_subkey_ttls(&self) -> usize {
        self.hfe.by_key.len()
    }

    /// The sets among them (the RDB writer names what needs its newer format).
    pub fn sets_with_member_ttls(&self) -> usize {
        self.hfe
            .by_key
            .keys()
            .filter(|k| matches!(self.keys.get(k.as_slice()), Some(e) if matches!(e.value, Value::Set(_))))
            .count()
    }

    /// After a command changed field TTLs inside the hash at `key`: files it under its
    /// earliest field TTL, or nowhere if it has none left (or is gone, or is no hash).
    pub fn sync_field_ttls(&mut self, key: &[u8]) {
        let at = self.keys.get(key).and_then(|e| field_ttls_of(&e.value));
        self.hfe.set(key, at);
    }

    /// The hash with the earliest field TTL before `now_ms`, if any (the active expiry's next
    /// visit; it calls `sync_field_ttls` after).
    pub fn next_field_expiry(&self, now_ms: i64) -> Option<CompactBytes> {
        self.hfe
            .by_time
            .first()
            .filter(|(at, _)| *at < now_ms)
            .map(|(_, k)| k.clone())
    }

    /// The keys with a TTL and their TTLs, read-only.
    #[inline]
    pub fn volatile(&self) -> &Volatile {
        &self.volatile
    }

    /// A key's TTL (absolute ms), or `NO_EXPIRE`: for a key without one, or a missing key.
    #[inline]
    pub fn expire_at(&self, key: &[u8]) -> i64 {
        self.volatile.get(key).copied().unwrap_or(NO_EXPIRE)
    }

    /// The TTL of `e`, the entry of `key` in this db: no lookup for a key without one.
    #[inline]
    pub fn entry_expire_at(&self, key: &[u8], e: &Entry) -> i64 {
        ttl_of(&self.volatile, key, e)
    }

    /// True if the key exists and its TTL has passed (expiry ignored otherwise).
    #[inline]
    pub fn is_expired(&self, key: &[u8], now_ms: i64) -> bool {
        self.keys
            .get(key)
            .is_some_and(|e| e.has_expire() && past(self.expire_at(key), now_ms))
    }

    /// The keys, read-only: every change goes through the methods below (see SnapshotView).
    #[inline]
    pub fn keys(&self) -> &Dict<CompactBytes, Entry> {
        &self.keys
    }

    /// The entry, ignoring expiry.
    #[inline]
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.keys.get(key)
    }

    /// The entry, ignoring expiry, to change: a live snapshot saves it first.
    #[inline]
    pub fn peek_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let e = self.keys.get_mut(key)?;
        if let Some(view) = &mut self.snapshot {
            view.before_change(key, e, &self.volatile);
        }
        Some(e)
    }

    /// Adds or overwrites a key. Without `keep_ttl` an overwritten key loses its TTL (SET).
    /// Returns the type the key had if it was overwritten (Redis 8.2's overwritten and
    /// type_changed events), None if it was added.
    pub fn set(
        &mut self,
        key: &[u8],
        value: Value,
        keep_ttl: bool,
        lru: u32,
    ) -> Option<&'static str> {
        let (entry, inserted) = self.keys.entry(
            key,
            || CompactBytes::new(key),
            || Entry::new(Value::Int(0), lru),
        );
        if let Some(view) = &mut self.snapshot {
            if inserted {
                entry.snapshot_epoch = view.epoch;
            } else {
                view.before_change(key, entry, &self.volatile);
            }
        }
        let old_type = (!inserted).then(|| entry.value.type_name());
        let field_ttls = field_ttls_of(&value);
        let had_field_ttls = !inserted && !self.hfe.by_key.is_empty();
        entry.value = value;
        if field_ttls.is_some() || had_field_ttls {
            self.hfe.set(key, field_ttls);
        }
        if inserted {
            if self.track_created {
                self.created.push(CompactBytes::new(key));
            }
            if let Some(s) = &mut self.slots {
                s.add(key);
            }
        }
        if !inserted {
            entry.set_lru(lru);
            if !keep_ttl && entry.has_expire() {
                entry.set_has_expire(false);
                self.volatile.remove(key);
            }
        }
        old_type
    }

    /// Inserts a key that is known to be absent, with an optional TTL.
    pub fn insert(&mut self, key: &[u8], value: Value, expire_at_ms: i64, lru: u32) {
        if self.track_created {
            self.created.push(CompactBytes::new(key));
        }
        if let Some(s) = &mut self.slots {
            s.add(key);
        }
        if let Some(at) = field_ttls_of(&value) {
            self.hfe.set(key, Some(at));
        }
        let mut entry = Entry::new(value, lru);
        if let Some(view) = &self.snapshot {
            entry.snapshot_epoch = view.epoch;
        }
        if expire_at_ms != NO_EXPIRE {
            entry.set_has_expire(true);
            self.volatile.insert(CompactBytes::new(key), expire_at_ms);
        }
        self.keys.insert(CompactBytes::new(key), entry);
    }

    /// Inserts an owned key and entry with its TTL (RENAME, MOVE, COPY, loading).
    pub fn insert_entry(&mut self, key: CompactBytes, mut entry: Entry, expire_at_ms: i64) {
        if let Some(view) = &mut self.snapshot {
            if let Some(old) = self.keys.get_mut(key.as_slice()) {
                view.before_change(key.as_slice(), old, &self.volatile);
            }
            entry.snapshot_epoch = view.epoch;
        }
        entry.set_has_expire(expire_at_ms != NO_EXPIRE);
        if expire_at_ms != NO_EXPIRE {
            self.volatile.insert(key.clone(), expire_at_ms);
        } else {
            self.volatile.remove(key.as_slice());
        }
        if self.track_created {
            self.created.push(key.clone());
        }
        if let Some(s) = &mut self.slots {
            s.add(key.as_slice());
        }
        let field_ttls = field_ttls_of(&entry.value);
        if field_ttls.is_some() || !self.hfe.by_key.is_empty() {
            self.hfe.set(key.as_slice(), field_ttls);
        }
        self.keys.insert(key, entry);
    }

    /// Removes a key; returns its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        self.take(key).map(|(_, e, _)| e)
    }

    /// Removes a key, returning the owned key, the entry and its TTL.
    pub fn take(&mut self, key: &[u8]) -> Option<(CompactBytes, Entry, i64)> {
        let (k, e) = self.keys.remove(key)?;
        let expire_at_ms = if e.has_expire() {
            self.volatile.remove(key).map_or(NO_EXPIRE, |(_, at)| at)
        } else {
            NO_EXPIRE
        };
        if let Some(view) = &mut self.snapshot {
            view.before_drop(key, &e, expire_at_ms);
        }
        if let Some(s) = &mut self.slots {
            s.remove(key);
        }
        if !self.hfe.by_key.is_empty() {
            self.hfe.set(key, None);
        }
        Some((k, e, expire_at_ms))
    }

    /// Sets a TTL on an existing key. Returns false if the key does not exist.
    pub fn set_expire(&mut self, key: &[u8], at_ms: i64) -> bool {
        let Some(e) = self.peek_mut(key) else {
            return false;
        };
        if e.has_expire() {
            if let Some(at) = self.volatile.get_mut(key) {
                *at = at_ms;
            }
        } else {
            e.set_has_expire(true);
            self.volatile.insert(CompactBytes::new(key), at_ms);
        }
        true
    }

    /// Removes a TTL. Returns true if there was one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        let Some(e) = self.peek_mut(key) else {
            return false;
        };
        if !e.has_expire() {
            return false;
        }
        e.set_has_expire(false);
        self.volatile.remove(key);
        true
    }

    /// Removes everything; returns how many keys there were.
    pub fn clear(&mut self) -> usize {
        self.save_all_pending();
        let n = self.keys.len();
        self.keys.clear();
        self.volatile.clear();
        self.hfe.clear();
        self.avg_ttl_ms = 0;
        self.expire_cursor = 0;
        self.created.clear();
        if let Some(s) = &mut self.slots {
            s.clear();
        }
        n
    }

    /// Takes the keys out, leaving the database empty, for freeing elsewhere (FLUSHDB ASYNC).
    pub fn take_contents(&mut self) -> (Dict<CompactBytes, Entry>, Volatile) {
        self.save_all_pending();
        let keys = std::mem::take(&mut self.keys);
        let volatile = std::mem::take(&mut self.volatile);
        self.clear();
        (keys, volatile)
    }

    // ---- live snapshots ----

    /// Starts a live snapshot over this db.
    pub fn begin_snapshot(&mut self, view: SnapshotView) {
        self.snapshot = Some(view);
    }

    /// Ends it, returning what it saved and was not yet taken.
    pub fn end_snapshot(&mut self) -> Option<SnapshotView> {
        self.snapshot.take()
    }

    pub fn snapshot(&mut self) -> Option<&mut SnapshotView> {
        self.snapshot.as_mut()
    }

    /// One step of the snapshot's own walk: saves the unsaved entries of the next
    /// bucket(s); returns how many it saved. The walk marks itself over at its end.
    pub fn snapshot_walk(&mut self) -> usize {
        let Some(view) = &mut self.snapshot else {
            return 0;
        };
        if view.walked {
            return 0;
        }
        let mut saved = 0;
        let epoch = view.epoch;
        let saver = &mut view.saver;
        let volatile = &self.volatile;
        view.cursor = self.keys.scan_mut(view.cursor, |k, e| {
            if e.snapshot_epoch != epoch {
                saver.save(k, e, ttl_of(volatile, k, e));
                e.snapshot_epoch = epoch;
                saved += 1;
            }
        });
        view.walked = view.cursor == 0;
        saved
    }

    /// Saves every entry the snapshot has not saved yet (before the db is emptied).
    fn save_all_pending(&mut self) {
        if let Some(view) = &mut self.snapshot {
            let volatile = &self.volatile;
            self.keys
                .for_each_mut(|k, e| view.before_change(k, e, volatile));
        }
    }

    /// Swaps the contents of two databases (SWAPDB).
    pub fn swap(&mut self, other: &mut Db) {
        std::mem::swap(self, other);
    }

    /// Starts shrinking tables that became sparse (from the cron).
    pub fn shrink_if_sparse(&mut self) {
        self.keys.shrink_if_needed();
        self.volatile.shrink_if_needed();
    }

    pub fn is_rehashing(&self) -> bool {
        self.keys.is_rehashing() || self.volatile.is_rehashing()
    }

    /// Incremental rehash work while `more_time()` says so (from the cron).
    pub fn rehash_while(&mut self, mut more_time: impl FnMut() -> bool) {
        self.keys.rehash_while(&mut more_time);
        self.volatile.rehash_while(&mut more_time);
    }

    /// One pass of the active expiry cycle over up to `sample` volatile keys. Expired keys are
    /// removed and pushed to `expired`. Returns (sampled, expired count).
    pub fn expire_sample(
        &mut self,
        now_ms: i64,
        sample: usize,
        expired: &mut Vec<CompactBytes>,
    ) -> (usize, usize) {
        if self.volatile.is_empty() {
            return (0, 0);
        }
        let mut candidates: Vec<CompactBytes> = Vec::with_capacity(sample);
        let mut sampled = 0;
        let mut ttl_sum: i64 = 0;
        let mut ttl_samples: i64 = 0;
        let mut buckets_left = sample * 20;
        let mut cursor = self.expire_cursor;
        while sampled < sample && buckets_left > 0 {
            cursor = self.volatile.scan(cursor, |k, &at| {
                sampled += 1;
                if past(at, now_ms) {
                    candidates.push(k.clone());
                } else {
                    ttl_sum += at - now_ms;
                    ttl_samples += 1;
                }
            });
            buckets_left -= 1;
            if cursor == 0 {
                break;
            }
        }
        self.expire_cursor = cursor;
        if ttl_samples > 0 {
            let avg = ttl_sum / ttl_samples;
            self.avg_ttl_ms = if self.avg_ttl_ms == 0 {
                avg
            } else {
                (self.avg_ttl_ms / 50) * 49 + avg / 50
            };
        }
        let n = candidates.len();
        for k in candidates {
            self.remove(&k);
            expired.push(k);
        }
        (sampled, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::slot::key_hash_slot;

    #[test]
    fn slot_index_follows_the_keys() {
        let mut db = Db::new();
        db.insert(b"before", Value::Int(1), NO_EXPIRE, 0);
        db.index_slots();
        let s = |k: &[u8]| key_hash_slot(k) as usize;
        assert_eq!(db.keys_in_slot(s(b"before")), 1);
        db.set(b"{t}a", Value::Int(1), false, 0);
        db.set(b"{t}a", Value::Int(2), false, 0);
        db.insert(b"{t}b", Value::Int(1), 5, 0);
        db.insert_entry(
            CompactBytes::new(b"{t}c"),
            Entry::new(Value::Int(3), 0),
            NO_EXPIRE,
        );
        assert_eq!(db.keys_in_slot(s(b"t")), 3);
        let mut keys: Vec<Vec<u8>> = db
            .slot_keys(s(b"t"), 10)
            .into_iter()
            .map(|k| k.as_slice().to_vec())
            .collect();
        keys.sort();
        assert_eq!(keys, [b"{t}a".to_vec(), b"{t}b".to_vec(), b"{t}c".to_vec()]);
        assert_eq!(db.slot_keys(s(b"t"), 2).len(), 2);
        db.remove(b"{t}a");
        db.take(b"{t}b");
        let mut expired = Vec::new();
        db.set_expire(b"{t}c", 1);
        db.expire_sample(10, 20, &mut expired);
        assert_eq!(db.keys_in_slot(s(b"t")), 0);
        assert_eq!(db.keys_in_slot(s(b"before")), 1);
        db.clear();
        assert_eq!(db.keys_in_slot(s(b"before")), 0);
    }

    type Saved = std::sync::Arc<std::sync::Mutex<Vec<(Vec<u8>, i64)>>>;

    /// Records what a snapshot saved: key → value (integers stand for values here).
    struct Recorder(Saved, Vec<u8>);

    impl SnapshotSaver for Recorder {
        fn save(&mut self, key: &[u8], e: &Entry, _expire_at_ms: i64) {
            let Value::Int(v) = e.value else {
                panic!("not an int")
            };
            self.0.lock().unwrap().push((key.to_vec(), v));
        }
        fn output(&mut self) -> &mut Vec<u8> {
            &mut self.1
        }
    }

    proptest::proptest! {
        /// Whatever commands do while a snapshot walks, it saves every key that existed when
        /// it began exactly once, with the value it had then, and nothing else.
        #[test]
        fn a_live_snapshot_saves_the_moment_it_began(
            initial in 0usize..300,
            ops in proptest::collection::vec((0u8..8, 0usize..400, 0i64..1000), 0..600),
        ) {
            let mut db = Db::new();
            let mut expected = std::collections::BTreeMap::new();
            for i in 0..initial {
                let k = format!("k{i}").into_bytes();
                db.insert(&k, Value::Int(i as i64), NO_EXPIRE, 0);
                expected.insert(k, i as i64);
            }
            let saved = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            db.begin_snapshot(SnapshotView::new(7, 0, Box::new(Recorder(saved.clone(), Vec::new()))));
            let mut other = Db::new();
            for (op, n, v) in ops {
                let k = format!("k{n}").into_bytes();
                match op {
                    0 => { db.set(&k, Value::Int(v), false, 0); }
                    1 => { db.remove(&k); }
                    2 => { db.set_expire(&k, v); }
                    3 => { db.persist(&k); }
                    4 => if let Some(e) = db.peek_mut(&k) { e.value = Value::Int(v) },
                    5 => if let Some((_, e, at)) = db.take(&k) {
                        // RENAME: the entry comes back under another name.
                        db.insert_entry(CompactBytes::new(&format!("r{v}").into_bytes()), e, at);
                    },
                    6 => if db.peek(&k).is_none() {
                        db.insert(&k, Value::Int(v), NO_EXPIRE, 0);
                    },
                    _ => { db.snapshot_walk(); }
                }
                if n % 97 == 0 {
                    // SWAPDB and back: the view travels with its db.
                    db.swap(&mut other);
                    other.swap(&mut db);
                }
            }
            // Every key's has-TTL bit matches the TTL table, whatever ran.
            let flagged = db.keys().iter().filter(|(_, e)| e.has_expire()).count();
            proptest::prop_assert_eq!(flagged, db.volatile().len());
            for (k, e) in db.keys().iter() {
                proptest::prop_assert_eq!(e.has_expire(), db.volatile().contains_key(k));
            }
            while db.snapshot().is_some_and(|v| !v.walked) {
                db.snapshot_walk();
            }
            db.end_snapshot();
            let mut got = std::collections::BTreeMap::new();
            for (k, v) in saved.lock().unwrap().drain(..) {
                proptest::prop_assert!(got.insert(k, v).is_none(), "a key saved twice");
            }
            proptest::prop_assert_eq!(got, expected);
        }
    }
}
