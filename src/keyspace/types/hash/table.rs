//! `FieldTable`: the big form of a hash (Redis's `hashtable` encoding), leaner than a
//! node-per-entry dict.
//!
//! The tables are Redis's dict design, shared through `keyspace::rehash`, but a bucket is one `Blob`
//! holding all of its entries packed back to back (the codec of `blob::entry`, with an optional
//! TTL per entry) instead of a chain of nodes. A bucket thus costs 8 bytes and an entry its bytes plus a share
//! of one allocation, with no per-entry node, key or value allocations: about 55 bytes per
//! `field:N`/`value:N` pair against Redis's ~72. SCAN keeps Redis's guarantee because
//! buckets, masks and the cursor walk are the same.

use super::blob::{entry, Blob};
use crate::keyspace::dict::hash_bytes;
use crate::keyspace::rehash::{Bucket, Tables};
use std::collections::BTreeMap;

impl Bucket for Blob {
    #[inline]
    fn is_vacant(&self) -> bool {
        self.is_empty()
    }

    fn entries(&self) -> usize {
        bucket_entries(self).count()
    }

    fn move_into(self, to: &mut [Self]) -> usize {
        let mask = to.len() - 1;
        let buf = self.as_slice();
        let mut moved = 0;
        let mut at = 0;
        while at < buf.len() {
            let e = entry::at(buf, at);
            to[(hash_bytes(e.field) as usize) & mask].append(&[&buf[at..e.end]]);
            moved += 1;
            at = e.end;
        }
        moved
    }
}

/// An entry's place inside a bucket's content.
#[derive(Clone, Copy)]
struct Slot {
    table: usize,
    bucket: usize,
    start: usize,
    value_hdr: usize,
    end: usize,
    ttl: i64,
}

/// Entries of one bucket.
fn bucket_entries(b: &Blob) -> impl Iterator<Item = entry::At<'_>> {
    let buf = b.as_slice();
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= buf.len() {
            return None;
        }
        let e = entry::at(buf, at);
        at = e.end;
        Some(e)
    })
}

/// The fields with a TTL, by (TTL, field hash), counted: what the active expiry walks in
/// order. The field itself is found again through its hash (and the TTL, which tells
/// colliding fields apart unless they also share the TTL, and then both are due together).
/// About 20 bytes a field, against the field's copy an index keyed by name would hold.
type TtlOrder = BTreeMap<(i64, u64), u32>;

/// A hash table of byte-string fields to byte-string values, each with an optional TTL.
#[derive(Default)]
pub struct FieldTable {
    tables: Tables<Blob>,
    ttls: Option<Box<TtlOrder>>,
}

impl FieldTable {
    pub fn new() -> Self {
        FieldTable {
            tables: Tables::new(),
            ttls: None,
        }
    }

    /// An empty table sized for `n` entries (Redis's dictExpand at conversion and load).
    pub fn with_capacity(n: usize) -> Self {
        FieldTable {
            tables: Tables::with_capacity(n),
            ttls: None,
        }
    }

    #[inline]
    /// DEBUG HTSTATS-KEY's text for this table.
    pub fn stats(&self, out: &mut String) {
        self.tables.stats(out);
    }

    pub fn len(&self) -> usize {
        self.tables.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn is_rehashing(&self) -> bool {
        self.tables.is_rehashing()
    }

    /// Bytes allocated: bucket arrays, bucket contents and the TTL order (estimated).
    pub fn alloc_size(&self) -> usize {
        let order = self.ttls.as_ref().map_or(0, |o| o.len() * 32);
        order
            + self
                .tables
                .ht
                .iter()
                .map(|t| {
                    t.slots.capacity() * std::mem::size_of::<Blob>()
                        + t.slots.iter().map(Blob::alloc_size).sum::<usize>()
                })
                .sum::<usize>()
    }

    /// Moves up to `n` buckets from the old table; returns true if more work remains.
    pub fn rehash(&mut self, n: usize) -> bool {
        self.tables.rehash(n)
    }

    /// Shrinks a sparse table (run after a deletion, as Redis does).
    pub fn shrink_if_needed(&mut self) {
        self.tables.shrink_if_needed();
    }

    /// The first slot whose entry satisfies `hit`, looking in `h`'s bucket of each table.
    fn find_by(&self, h: u64, mut hit: impl FnMut(&entry::At<'_>) -> bool) -> Option<Slot> {
        if self.is_empty() {
            return None;
        }
        for (ti, t) in self.tables.live().iter().enumerate() {
            if t.size() == 0 {
                continue;
            }
            let bucket = (h as usize) & t.mask();
            let buf = t.slots[bucket].as_slice();
            let mut at = 0;
            while at < buf.len() {
                let e = entry::at(buf, at);
                if hit(&e) {
                    return Some(Slot {
                        table: ti,
                        bucket,
                        start: at,
                        value_hdr: e.value_hdr,
                        end: e.end,
                        ttl: e.ttl,
                    });
                }
                at = e.end;
            }
        }
        None
    }

    fn find(&self, h: u64, field: &[u8]) -> Option<Slot> {
        self.find_by(h, |e| e.field == field)
    }

    fn entry_of(&self, s: Slot) -> entry::At<'_> {
        entry::at(self.tables.ht[s.table].slots[s.bucket].as_slice(), s.start)
    }

    /// Looks a field up (no rehash step, like a read-only dictFind).
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.get_with_ttl(field).map(|(v, _)| v)
    }

    /// The value and TTL (0: none) of `field`.
    pub fn get_with_ttl(&self, field: &[u8]) -> Option<(&[u8], i64)> {
        let s = self.find(hash_bytes(field), field)?;
        let e = self.entry_of(s);
        Some((e.value, e.ttl))
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.find(hash_bytes(field), field).is_some()
    }

    fn order_add(&mut self, ttl: i64, h: u64) {
        if ttl > 0 {
            *self
                .ttls
                .get_or_insert_with(Default::default)
                .entry((ttl, h))
                .or_insert(0) += 1;
        }
    }

    fn order_remove(&mut self, ttl: i64, h: u64) {
        if ttl == 0 {
            return;
        }
        if let Some(o) = &mut self.ttls {
            if let std::collections::btree_map::Entry::Occupied(mut e) = o.entry((ttl, h)) {
                *e.get_mut() -= 1;
                if *e.get() == 0 {
                    e.remove();
                }
            }
        }
    }

    /// Sets a field; returns true if it was added. An existing field loses its TTL unless
    /// `keep_ttl` (HSET against HINCRBY).
    pub fn insert(&mut self, field: &[u8], value: &[u8], keep_ttl: bool) -> bool {
        self.tables.rehash_step();
        let h = hash_bytes(field);
        if let Some(s) = self.find(h, field) {
            let slots = &mut self.tables.ht[s.table].slots[s.bucket];
            if s.ttl == 0 || keep_ttl {
                let hdr = entry::Header::new(field.len(), value.len(), s.ttl);
                slots.splice(s.value_hdr, s.end, &hdr.tail(value));
            } else {
                let hdr = entry::Header::new(field.len(), value.len(), 0);
                slots.splice(s.start, s.end, &hdr.parts(field, value));
                self.order_remove(s.ttl, h);
            }
            return false;
        }
        self.insert_new(h, field, value, 0);
        true
    }

    /// Adds a field known to be absent, with its TTL (0: none).
    pub fn insert_absent(&mut self, field: &[u8], value: &[u8], ttl: i64) {
        self.tables.rehash_step();
        self.insert_new(hash_bytes(field), field, value, ttl);
    }

    fn insert_new(&mut self, h: u64, field: &[u8], value: &[u8], ttl: i64) {
        let t = self.tables.prepare_insert();
        let b = t.slot_of(h);
        let hdr = entry::Header::new(field.len(), value.len(), ttl);
        t.slots[b].append(&hdr.parts(field, value));
        t.used += 1;
        self.order_add(ttl, h);
    }

    /// Sets or clears (0) the TTL of an existing field. Returns false if it is absent.
    pub fn set_ttl(&mut self, field: &[u8], ttl: i64) -> bool {
        let h = hash_bytes(field);
        let Some(s) = self.find(h, field) else {
            return false;
        };
        if s.ttl == ttl {
            return true;
        }
        let value = self.entry_of(s).value.to_vec();
        let hdr = entry::Header::new(field.len(), value.len(), ttl);
        self.tables.ht[s.table].slots[s.bucket].splice(s.start, s.end, &hdr.parts(field, &value));
        self.order_remove(s.ttl, h);
        self.order_add(ttl, h);
        true
    }

    fn remove_slot(&mut self, s: Slot, h: u64) {
        let t = &mut self.tables.ht[s.table];
        t.slots[s.bucket].splice(s.start, s.end, &[]);
        t.used -= 1;
        self.order_remove(s.ttl, h);
    }

    /// Removes a field; returns true if it was there. The caller shrinks when it sees fit
    /// (Redis does after each deletion).
    pub fn remove(&mut self, field: &[u8]) -> bool {
        if self.is_empty() {
            return false;
        }
        self.tables.rehash_step();
        let h = hash_bytes(field);
        let Some(s) = self.find(h, field) else {
            return false;
        };
        self.remove_slot(s, h);
        true
    }

    /// The earliest TTL, if any field has one.
    pub fn min_ttl(&self) -> Option<i64> {
        self.ttls
            .as_ref()
            .and_then(|o| o.keys().next())
            .map(|(t, _)| *t)
    }

    /// Whether any field has a TTL.
    pub fn has_ttls(&self) -> bool {
        self.ttls.as_ref().is_some_and(|o| !o.is_empty())
    }

    /// Removes up to `max` fields whose TTL is before `now`, earliest first, handing each
    /// field to `gone` before it goes. Returns how many went.
    pub fn remove_due(&mut self, now: i64, max: usize, mut gone: impl FnMut(&[u8])) -> usize {
        let mut n = 0;
        while n < max {
            let Some(&(ttl, h)) = self.ttls.as_ref().and_then(|o| o.keys().next()) else {
                break;
            };
            if ttl >= now {
                break;
            }
            match self.find_by(h, |e| e.ttl == ttl && hash_bytes(e.field) == h) {
                Some(s) => {
                    gone(self.entry_of(s).field);
                    self.remove_slot(s, h);
                    n += 1;
                }
                // Unreachable while the order is kept in step; never loop on it.
                None => self.order_remove(ttl, h),
            }
        }
        if n > 0 {
            self.shrink_if_needed();
        }
        n
    }

    /// One SCAN step from `cursor`: calls `f` on every entry of the visited bucket(s) and
    /// returns the next cursor (0 when the scan is complete). Redis's dictScan algorithm.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &[u8], i64)) -> u64 {
        self.tables.scan(cursor, |b| {
            for e in bucket_entries(b) {
                f(e.field, e.value, e.ttl);
            }
        })
    }

    /// A random entry with its TTL, fairly chosen (see `keyspace::fair`). None if empty.
    pub fn random(&self, rng: &mut impl FnMut() -> u64) -> Option<(&[u8], &[u8])> {
        let (b, i) = self.tables.random(rng, |b| bucket_entries(b).count())?;
        bucket_entries(b).nth(i).map(|e| (e.field, e.value))
    }

    /// Every entry (order unspecified).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.iter_with_ttl().map(|(f, v, _)| (f, v))
    }

    /// Every entry with its TTL (0: none).
    pub fn iter_with_ttl(&self) -> impl Iterator<Item = (&[u8], &[u8], i64)> {
        self.tables
            .all()
            .flat_map(bucket_entries)
            .map(|e| (e.field, e.value, e.ttl))
    }

    /// Verifies counts, bucket placement, the rehash index and the TTL order (tests).
    pub fn check_invariants(&self) {
        self.tables
            .check_invariants(|b| bucket_entries(b).map(|e| hash_bytes(e.field)).collect());
        let mut fields: Vec<&[u8]> = self.iter().map(|(f, _)| f).collect();
        fields.sort_unstable();
        let before = fields.len();
        fields.dedup();
        assert_eq!(before, fields.len(), "duplicate field");
        let mut order = TtlOrder::new();
        for (f, _, ttl) in self.iter_with_ttl() {
            if ttl > 0 {
                *order.entry((ttl, hash_bytes(f))).or_insert(0) += 1;
            }
        }
        let have = self.ttls.as_deref().cloned().unwrap_or_default();
        assert_eq!(order, have, "TTL order in step with the entries");
    }
}

impl Clone for FieldTable {
    fn clone(&self) -> Self {
        let mut t = FieldTable::with_capacity(self.len());
        for (f, v, ttl) in self.iter_with_ttl() {
            t.insert_absent(f, v, ttl);
        }
        t
    }
}

impl std::fmt::Debug for FieldTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FieldTable({} entries)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashSet};

    fn f(i: u32) -> Vec<u8> {
        format!("field:{i}").into_bytes()
    }

    #[test]
    fn grow_and_shrink_through_rehash() {
        let mut t = FieldTable::new();
        for i in 0..5000 {
            assert!(t.insert(&f(i), format!("value:{i}").as_bytes(), false));
            if i % 331 == 0 {
                t.check_invariants();
            }
        }
        assert_eq!(t.len(), 5000);
        for i in 0..5000 {
            assert_eq!(t.get(&f(i)), Some(format!("value:{i}").as_bytes()));
        }
        for i in 0..4990 {
            assert!(t.remove(&f(i)));
            t.shrink_if_needed();
        }
        // A shrink cannot start while a rehash runs (like Redis's dictResize); the next check
        // after it completes does.
        while t.rehash(100) {}
        t.shrink_if_needed();
        while t.rehash(100) {}
        t.check_invariants();
        assert_eq!(t.len(), 10);
        assert!(t.tables.ht[0].size() <= 128);
        assert_eq!(t.iter().count(), 10);
    }

    #[test]
    fn scan_sees_stable_entries_while_resizing() {
        for grow in [true, false] {
            let mut t = FieldTable::new();
            let initial = if grow { 100 } else { 3000 };
            for i in 0..initial {
                t.insert(&f(i), b"v", false);
            }
            let mut seen = HashSet::new();
            let mut cursor = 0;
            let mut next = initial;
            let mut victim = 100;
            loop {
                cursor = t.scan(cursor, |k, _, _| {
                    seen.insert(k.to_vec());
                });
                for _ in 0..40 {
                    if grow && next < 3000 {
                        t.insert(&f(next), b"v", false);
                        next += 1;
                    } else if !grow && victim < 3000 {
                        t.remove(&f(victim));
                        t.shrink_if_needed();
                        victim += 1;
                    }
                }
                if cursor == 0 {
                    break;
                }
            }
            for i in 0..100 {
                assert!(seen.contains(&f(i)), "missed {i} (grow={grow})");
            }
        }
    }

    #[test]
    fn random_covers_entries() {
        let mut t = FieldTable::new();
        let mut rng = crate::util::rng::splitmix(7u64);
        assert!(t.random(&mut rng).is_none());
        for i in 0..300 {
            t.insert(&f(i), b"x", false);
        }
        let mut seen = HashSet::new();
        for _ in 0..20000 {
            seen.insert(t.random(&mut rng).unwrap().0.to_vec());
        }
        assert!(seen.len() > 290);
    }

    proptest! {
        /// Against a BTreeMap, through growth, shrinking and interleaved rehash steps.
        #[test]
        fn model(ops in proptest::collection::vec(
            (0u8..4, 0u32..300, proptest::collection::vec(any::<u8>(), 0..40)),
            0..800,
        )) {
            let mut t = FieldTable::new();
            let mut m: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            for (op, i, v) in ops {
                let k = f(i);
                match op {
                    0 | 1 => prop_assert_eq!(t.insert(&k, &v, false), m.insert(k.clone(), v).is_none()),
                    2 => {
                        prop_assert_eq!(t.remove(&k), m.remove(&k).is_some());
                        t.shrink_if_needed();
                    }
                    _ => prop_assert_eq!(t.get(&k), m.get(&k).map(|v| &v[..])),
                }
                prop_assert_eq!(t.len(), m.len());
                t.check_invariants();
            }
            let mut got: Vec<(Vec<u8>, Vec<u8>)> =
                t.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
            got.sort();
            prop_assert_eq!(got, m.into_iter().collect::<Vec<_>>());
        }
    }
}
