//! `FieldTable`: the big form of a hash (Redis's `hashtable` encoding), leaner than a
//! node-per-entry dict.
//!
//! The design is Redis's dict (power-of-two bucket arrays, two tables during an incremental
//! rehash, the reverse-binary SCAN cursor, shrink below 10% fill), but a bucket is one `Blob`
//! holding all of its entries packed back to back (`varint flen, field, varint vlen, value`)
//! instead of a chain of nodes. A bucket thus costs 8 bytes and an entry its bytes plus a share
//! of one allocation, with no per-entry node, key or value allocations: about 55 bytes per
//! `field:N`/`value:N` pair against Redis's ~72. SCAN keeps Redis's guarantee because
//! buckets, masks and the cursor walk are the same.

use super::blob::{decode_varint, encode_varint, Blob, VARINT_MAX};
use crate::keyspace::dict::hash_bytes;

/// Initial and minimum table size (Redis's DICT_HT_INITIAL_SIZE).
const INITIAL_SIZE: usize = 4;
/// A table is shrunk when less than 1/10 full (Redis's HASHTABLE_MIN_FILL).
const MIN_FILL_PERCENT: usize = 10;
/// Empty buckets a rehash step may visit per bucket it moves (Redis uses 10).
const EMPTY_VISITS: usize = 10;
const NOT_REHASHING: usize = usize::MAX;

#[derive(Default)]
struct Buckets {
    slots: Vec<Blob>,
    used: usize,
}

impl Buckets {
    fn with_size(n: usize) -> Self {
        let mut slots = Vec::with_capacity(n);
        slots.resize_with(n, Blob::default);
        Buckets { slots, used: 0 }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    #[inline]
    fn size(&self) -> usize {
        self.slots.len()
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
}

/// Decodes the entry at `at` of a bucket's content: (field, value, end).
#[inline]
fn entry_at(buf: &[u8], at: usize) -> (&[u8], &[u8], usize) {
    let (flen, n) = decode_varint(buf, at);
    let fstart = at + n;
    let fend = fstart + flen;
    let (vlen, n) = decode_varint(buf, fend);
    let vstart = fend + n;
    (
        &buf[fstart..fend],
        &buf[vstart..vstart + vlen],
        vstart + vlen,
    )
}

/// Entries of one bucket.
fn bucket_entries(b: &Blob) -> impl Iterator<Item = (&[u8], &[u8])> {
    let buf = b.as_slice();
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= buf.len() {
            return None;
        }
        let (f, v, end) = entry_at(buf, at);
        at = end;
        Some((f, v))
    })
}

/// A hash table of byte-string fields to byte-string values.
pub struct FieldTable {
    ht: [Buckets; 2],
    /// Next bucket of ht[0] to move, or NOT_REHASHING.
    rehash_idx: usize,
}

impl Default for FieldTable {
    fn default() -> Self {
        Self::new()
    }
}

impl FieldTable {
    pub fn new() -> Self {
        FieldTable {
            ht: [Buckets::default(), Buckets::default()],
            rehash_idx: NOT_REHASHING,
        }
    }

    /// An empty table sized for `n` entries (Redis's dictExpand at conversion and load).
    pub fn with_capacity(n: usize) -> Self {
        let mut t = Self::new();
        if n > 0 {
            t.ht[0] = Buckets::with_size(n.max(INITIAL_SIZE).next_power_of_two());
        }
        t
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.ht[0].used + self.ht[1].used
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn is_rehashing(&self) -> bool {
        self.rehash_idx != NOT_REHASHING
    }

    /// Bytes allocated: bucket arrays and bucket contents.
    pub fn alloc_size(&self) -> usize {
        self.ht
            .iter()
            .map(|t| {
                t.slots.capacity() * std::mem::size_of::<Blob>()
                    + t.slots.iter().map(Blob::alloc_size).sum::<usize>()
            })
            .sum()
    }

    /// Moves up to `n` buckets from the old table; returns true if more work remains.
    pub fn rehash(&mut self, n: usize) -> bool {
        if !self.is_rehashing() {
            return false;
        }
        let mut idx = self.rehash_idx;
        let mut empty_visits = n * EMPTY_VISITS;
        let mut n = n;
        while n > 0 && self.ht[0].used != 0 {
            while self.ht[0].slots[idx].is_empty() {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_idx = idx;
                    return true;
                }
            }
            let src = std::mem::take(&mut self.ht[0].slots[idx]);
            let [_, new] = &mut self.ht;
            let mask = new.mask();
            let mut moved = 0;
            let buf = src.as_slice();
            let mut at = 0;
            while at < buf.len() {
                let (f, _, end) = entry_at(buf, at);
                let b = (hash_bytes(f) as usize) & mask;
                new.slots[b].append(&[&buf[at..end]]);
                moved += 1;
                at = end;
            }
            new.used += moved;
            self.ht[0].used -= moved;
            idx += 1;
            n -= 1;
        }
        if self.ht[0].used == 0 {
            self.ht[0] = std::mem::take(&mut self.ht[1]);
            self.rehash_idx = NOT_REHASHING;
            return false;
        }
        self.rehash_idx = idx;
        true
    }

    #[inline]
    fn rehash_step(&mut self) {
        if self.is_rehashing() {
            self.rehash(1);
        }
    }

    /// Starts a resize to the smallest power of two >= `size`.
    fn resize_to(&mut self, size: usize) {
        if self.is_rehashing() {
            return;
        }
        let real = size.max(INITIAL_SIZE).next_power_of_two();
        if real == self.ht[0].size() {
            return;
        }
        if self.ht[0].size() == 0 {
            self.ht[0] = Buckets::with_size(real);
            return;
        }
        self.ht[1] = Buckets::with_size(real);
        self.rehash_idx = 0;
    }

    fn expand_if_needed(&mut self) {
        if self.is_rehashing() {
            return;
        }
        let size = self.ht[0].size();
        if size == 0 {
            self.resize_to(INITIAL_SIZE);
        } else if self.ht[0].used >= size {
            self.resize_to(self.ht[0].used + 1);
        }
    }

    /// Shrinks a sparse table (Redis's htNeedsResize + dictResize, run after a deletion).
    pub fn shrink_if_needed(&mut self) {
        let size = self.ht[0].size();
        if self.is_rehashing() || size <= INITIAL_SIZE {
            return;
        }
        if self.len() * 100 / size < MIN_FILL_PERCENT {
            self.resize_to(self.len());
        }
    }

    fn find(&self, h: u64, field: &[u8]) -> Option<Slot> {
        if self.is_empty() {
            return None;
        }
        let tables = if self.is_rehashing() { 2 } else { 1 };
        for (ti, t) in self.ht.iter().enumerate().take(tables) {
            if t.size() == 0 {
                continue;
            }
            let bucket = (h as usize) & t.mask();
            let buf = t.slots[bucket].as_slice();
            let mut at = 0;
            while at < buf.len() {
                let (flen, n) = decode_varint(buf, at);
                let fstart = at + n;
                let fend = fstart + flen;
                let (vlen, n) = decode_varint(buf, fend);
                let end = fend + n + vlen;
                if flen == field.len() && &buf[fstart..fend] == field {
                    return Some(Slot {
                        table: ti,
                        bucket,
                        start: at,
                        value_hdr: fend,
                        end,
                    });
                }
                at = end;
            }
        }
        None
    }

    fn value_of(&self, s: Slot) -> &[u8] {
        let buf = self.ht[s.table].slots[s.bucket].as_slice();
        let (vlen, n) = decode_varint(buf, s.value_hdr);
        &buf[s.value_hdr + n..s.value_hdr + n + vlen]
    }

    /// Looks a field up (no rehash step, like a read-only dictFind).
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        let s = self.find(hash_bytes(field), field)?;
        Some(self.value_of(s))
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.find(hash_bytes(field), field).is_some()
    }

    /// Sets a field; returns true if it was added.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        self.rehash_step();
        let h = hash_bytes(field);
        let mut vh = [0u8; VARINT_MAX];
        let vl = encode_varint(value.len(), &mut vh);
        if let Some(s) = self.find(h, field) {
            self.ht[s.table].slots[s.bucket].splice(s.value_hdr, s.end, &[&vh[..vl], value]);
            return false;
        }
        self.insert_new(h, field, &vh[..vl], value);
        true
    }

    /// Adds a field known to be absent.
    pub fn insert_absent(&mut self, field: &[u8], value: &[u8]) {
        self.rehash_step();
        let mut vh = [0u8; VARINT_MAX];
        let vl = encode_varint(value.len(), &mut vh);
        self.insert_new(hash_bytes(field), field, &vh[..vl], value);
    }

    fn insert_new(&mut self, h: u64, field: &[u8], vhdr: &[u8], value: &[u8]) {
        self.expand_if_needed();
        let t = &mut self.ht[usize::from(self.rehash_idx != NOT_REHASHING)];
        let b = (h as usize) & t.mask();
        let mut fh = [0u8; VARINT_MAX];
        let fl = encode_varint(field.len(), &mut fh);
        t.slots[b].append(&[&fh[..fl], field, vhdr, value]);
        t.used += 1;
    }

    /// Removes a field; returns true if it was there. The caller shrinks when it sees fit
    /// (Redis does after each deletion).
    pub fn remove(&mut self, field: &[u8]) -> bool {
        if self.is_empty() {
            return false;
        }
        self.rehash_step();
        let Some(s) = self.find(hash_bytes(field), field) else {
            return false;
        };
        let t = &mut self.ht[s.table];
        t.slots[s.bucket].splice(s.start, s.end, &[]);
        t.used -= 1;
        true
    }

    /// One SCAN step from `cursor`: calls `f` on every entry of the visited bucket(s) and
    /// returns the next cursor (0 when the scan is complete). Redis's dictScan algorithm.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor as usize;
        let mut emit = |t: &Buckets, idx: usize| {
            for (k, val) in bucket_entries(&t.slots[idx]) {
                f(k, val);
            }
        };
        if !self.is_rehashing() {
            let t = &self.ht[0];
            let m0 = t.mask();
            emit(t, v & m0);
            v |= !m0;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
        } else {
            let (small, large) = if self.ht[0].size() <= self.ht[1].size() {
                (&self.ht[0], &self.ht[1])
            } else {
                (&self.ht[1], &self.ht[0])
            };
            let m0 = small.mask();
            let m1 = large.mask();
            emit(small, v & m0);
            loop {
                emit(large, v & m1);
                v |= !m1;
                v = v.reverse_bits().wrapping_add(1).reverse_bits();
                if v & (m0 ^ m1) == 0 {
                    break;
                }
            }
        }
        v as u64
    }

    /// A random entry, fairly chosen (see `keyspace::fair`). None if empty.
    pub fn random(&self, rng: &mut impl FnMut() -> u64) -> Option<(&[u8], &[u8])> {
        if self.is_empty() {
            return None;
        }
        let s0 = self.ht[0].size();
        let (first, end) = if self.is_rehashing() {
            (self.rehash_idx, s0 + self.ht[1].size())
        } else {
            (0, s0)
        };
        let bucket = |pos: usize| {
            if pos >= s0 {
                &self.ht[1].slots[pos - s0]
            } else {
                &self.ht[0].slots[pos]
            }
        };
        let (pos, i) =
            crate::keyspace::fair::pick(first, end, rng, |pos| bucket_entries(bucket(pos)).count());
        bucket_entries(bucket(pos)).nth(i)
    }

    /// Every entry (order unspecified).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.ht
            .iter()
            .flat_map(|t| t.slots.iter())
            .flat_map(bucket_entries)
    }

    /// Verifies counts, bucket placement and the rehash index (tests).
    pub fn check_invariants(&self) {
        for (ti, t) in self.ht.iter().enumerate() {
            let mut n = 0;
            for (i, b) in t.slots.iter().enumerate() {
                for (f, _) in bucket_entries(b) {
                    assert_eq!((hash_bytes(f) as usize) & t.mask(), i, "misplaced entry");
                    if ti == 0 && self.is_rehashing() {
                        assert!(i >= self.rehash_idx, "moved bucket not empty");
                    }
                    n += 1;
                }
            }
            assert_eq!(n, t.used);
            if ti == 1 && !self.is_rehashing() {
                assert_eq!(t.size(), 0);
            }
        }
        let mut fields: Vec<&[u8]> = self.iter().map(|(f, _)| f).collect();
        fields.sort_unstable();
        let before = fields.len();
        fields.dedup();
        assert_eq!(before, fields.len(), "duplicate field");
    }
}

impl Clone for FieldTable {
    fn clone(&self) -> Self {
        let mut t = FieldTable::with_capacity(self.len());
        for (f, v) in self.iter() {
            t.insert_absent(f, v);
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
            assert!(t.insert(&f(i), format!("value:{i}").as_bytes()));
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
        assert!(t.ht[0].size() <= 128);
        assert_eq!(t.iter().count(), 10);
    }

    #[test]
    fn scan_sees_stable_entries_while_resizing() {
        for grow in [true, false] {
            let mut t = FieldTable::new();
            let initial = if grow { 100 } else { 3000 };
            for i in 0..initial {
                t.insert(&f(i), b"v");
            }
            let mut seen = HashSet::new();
            let mut cursor = 0;
            let mut next = initial;
            let mut victim = 100;
            loop {
                cursor = t.scan(cursor, |k, _| {
                    seen.insert(k.to_vec());
                });
                for _ in 0..40 {
                    if grow && next < 3000 {
                        t.insert(&f(next), b"v");
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
            t.insert(&f(i), b"x");
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
                    0 | 1 => prop_assert_eq!(t.insert(&k, &v), m.insert(k.clone(), v).is_none()),
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
