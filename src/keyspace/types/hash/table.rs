//! `FieldTable`: the big form of a hash (Redis's `hashtable` encoding), leaner than a
//! node-per-entry dict.
//!
//! The tables are Redis's dict design, shared through `keyspace::rehash`, but a bucket is one `Blob`
//! holding all of its entries packed back to back (`varint flen, field, varint vlen, value`)
//! instead of a chain of nodes. A bucket thus costs 8 bytes and an entry its bytes plus a share
//! of one allocation, with no per-entry node, key or value allocations: about 55 bytes per
//! `field:N`/`value:N` pair against Redis's ~72. SCAN keeps Redis's guarantee because
//! buckets, masks and the cursor walk are the same.

use super::blob::{decode_varint, encode_varint, Blob, VARINT_MAX};
use crate::keyspace::dict::hash_bytes;
use crate::keyspace::rehash::{Bucket, Tables};

impl Bucket for Blob {
    #[inline]
    fn is_vacant(&self) -> bool {
        self.is_empty()
    }

    fn entries(&self) -> usize {
        let buf = self.as_slice();
        let (mut n, mut at) = (0, 0);
        while at < buf.len() {
            at = entry_at(buf, at).2;
            n += 1;
        }
        n
    }

    fn move_into(self, to: &mut [Self]) -> usize {
        let mask = to.len() - 1;
        let buf = self.as_slice();
        let mut moved = 0;
        let mut at = 0;
        while at < buf.len() {
            let (f, _, end) = entry_at(buf, at);
            to[(hash_bytes(f) as usize) & mask].append(&[&buf[at..end]]);
            moved += 1;
            at = end;
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
#[derive(Default)]
pub struct FieldTable {
    tables: Tables<Blob>,
}

impl FieldTable {
    pub fn new() -> Self {
        FieldTable {
            tables: Tables::new(),
        }
    }

    /// An empty table sized for `n` entries (Redis's dictExpand at conversion and load).
    pub fn with_capacity(n: usize) -> Self {
        FieldTable {
            tables: Tables::with_capacity(n),
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

    /// Bytes allocated: bucket arrays and bucket contents.
    pub fn alloc_size(&self) -> usize {
        self.tables
            .ht
            .iter()
            .map(|t| {
                t.slots.capacity() * std::mem::size_of::<Blob>()
                    + t.slots.iter().map(Blob::alloc_size).sum::<usize>()
            })
            .sum()
    }

    /// Moves up to `n` buckets from the old table; returns true if more work remains.
    pub fn rehash(&mut self, n: usize) -> bool {
        self.tables.rehash(n)
    }

    /// Shrinks a sparse table (run after a deletion, as Redis does).
    pub fn shrink_if_needed(&mut self) {
        self.tables.shrink_if_needed();
    }

    fn find(&self, h: u64, field: &[u8]) -> Option<Slot> {
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
        let buf = self.tables.ht[s.table].slots[s.bucket].as_slice();
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
        self.tables.rehash_step();
        let h = hash_bytes(field);
        let mut vh = [0u8; VARINT_MAX];
        let vl = encode_varint(value.len(), &mut vh);
        if let Some(s) = self.find(h, field) {
            self.tables.ht[s.table].slots[s.bucket].splice(s.value_hdr, s.end, &[&vh[..vl], value]);
            return false;
        }
        self.insert_new(h, field, &vh[..vl], value);
        true
    }

    /// Adds a field known to be absent.
    pub fn insert_absent(&mut self, field: &[u8], value: &[u8]) {
        self.tables.rehash_step();
        let mut vh = [0u8; VARINT_MAX];
        let vl = encode_varint(value.len(), &mut vh);
        self.insert_new(hash_bytes(field), field, &vh[..vl], value);
    }

    fn insert_new(&mut self, h: u64, field: &[u8], vhdr: &[u8], value: &[u8]) {
        let t = self.tables.prepare_insert();
        let b = t.slot_of(h);
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
        self.tables.rehash_step();
        let Some(s) = self.find(hash_bytes(field), field) else {
            return false;
        };
        let t = &mut self.tables.ht[s.table];
        t.slots[s.bucket].splice(s.start, s.end, &[]);
        t.used -= 1;
        true
    }

    /// One SCAN step from `cursor`: calls `f` on every entry of the visited bucket(s) and
    /// returns the next cursor (0 when the scan is complete). Redis's dictScan algorithm.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        self.tables.scan(cursor, |b| {
            for (k, v) in bucket_entries(b) {
                f(k, v);
            }
        })
    }

    /// A random entry, fairly chosen (see `keyspace::fair`). None if empty.
    pub fn random(&self, rng: &mut impl FnMut() -> u64) -> Option<(&[u8], &[u8])> {
        let (b, i) = self.tables.random(rng, |b| bucket_entries(b).count())?;
        bucket_entries(b).nth(i)
    }

    /// Every entry (order unspecified).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.tables.all().flat_map(bucket_entries)
    }

    /// Verifies counts, bucket placement and the rehash index (tests).
    pub fn check_invariants(&self) {
        self.tables
            .check_invariants(|b| bucket_entries(b).map(|(f, _)| hash_bytes(f)).collect());
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
        assert!(t.tables.ht[0].size() <= 128);
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
