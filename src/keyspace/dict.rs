//! `Dict`: Redis's hash table design: chained buckets, power-of-two sizes, two tables during
//! an incremental rehash, and the reverse-binary SCAN cursor.
//!
//! Why not std's HashMap: SCAN must return every element that is present for the whole scan at
//! least once while the table grows or shrinks, and a resize must never stall the server for
//! a large table. Both need control over buckets that hashbrown does not expose. The keyspace,
//! big hashes, sets and the member index of sorted sets all use this one table.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use super::bytes::CompactBytes;

/// Keys are byte strings.
pub trait DictKey {
    fn key_bytes(&self) -> &[u8];
}

impl DictKey for CompactBytes {
    #[inline]
    fn key_bytes(&self) -> &[u8] {
        self.as_slice()
    }
}

impl DictKey for Vec<u8> {
    #[inline]
    fn key_bytes(&self) -> &[u8] {
        self
    }
}

impl DictKey for Box<[u8]> {
    #[inline]
    fn key_bytes(&self) -> &[u8] {
        self
    }
}

/// Initial and minimum table size (Redis's DICT_HT_INITIAL_SIZE).
const INITIAL_SIZE: usize = 4;
/// A table is shrunk when less than 1/10 full (Redis's HASHTABLE_MIN_FILL).
const MIN_FILL_PERCENT: usize = 10;
/// With resizing discouraged (a snapshot child shares pages), grow only past this load.
const FORCE_RESIZE_RATIO: usize = 5;

fn seed() -> &'static foldhash::fast::FixedState {
    static SEED: OnceLock<foldhash::fast::FixedState> = OnceLock::new();
    SEED.get_or_init(|| foldhash::fast::FixedState::with_seed(rand::random()))
}

/// Hash of a key, shared by every dict (one random seed per process, as Redis does).
#[inline]
pub fn hash_bytes(key: &[u8]) -> u64 {
    let mut h = seed().build_hasher();
    h.write(key);
    h.finish()
}

struct Node<K, V> {
    key: K,
    value: V,
    next: Option<Box<Node<K, V>>>,
}

struct Table<K, V> {
    buckets: Vec<Option<Box<Node<K, V>>>>,
    used: usize,
}

impl<K, V> Table<K, V> {
    const EMPTY: Self = Table {
        buckets: Vec::new(),
        used: 0,
    };

    fn empty() -> Self {
        Table {
            buckets: Vec::new(),
            used: 0,
        }
    }

    fn with_size(n: usize) -> Self {
        let mut buckets = Vec::with_capacity(n);
        buckets.resize_with(n, || None);
        Table { buckets, used: 0 }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    #[inline]
    fn size(&self) -> usize {
        self.buckets.len()
    }
}

/// A hash table keyed by bytes.
pub struct Dict<K: DictKey, V> {
    ht: [Table<K, V>; 2],
    /// Next bucket of ht[0] to move, while rehashing.
    rehash_idx: Option<usize>,
}

impl<K: DictKey, V> Default for Dict<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

/// Growth is discouraged while a snapshot child shares our pages (copy-on-write).
static RESIZE_ALLOWED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

pub fn set_resize_allowed(allowed: bool) {
    RESIZE_ALLOWED.store(allowed, std::sync::atomic::Ordering::Relaxed);
}

fn resize_allowed() -> bool {
    RESIZE_ALLOWED.load(std::sync::atomic::Ordering::Relaxed)
}

impl<K: DictKey, V> Dict<K, V> {
    pub const fn new() -> Self {
        Dict {
            ht: [Table::EMPTY, Table::EMPTY],
            rehash_idx: None,
        }
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
        self.rehash_idx.is_some()
    }

    /// Number of buckets over both tables (for INFO/DEBUG style reporting and memory).
    pub fn buckets(&self) -> usize {
        self.ht[0].size() + self.ht[1].size()
    }

    /// Moves up to `n` buckets from the old table; returns true if more work remains.
    pub fn rehash(&mut self, n: usize) -> bool {
        let Some(mut idx) = self.rehash_idx else {
            return false;
        };
        let mut empty_visits = n * 10;
        let mut n = n;
        while n > 0 && self.ht[0].used != 0 {
            while self.ht[0].buckets[idx].is_none() {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_idx = Some(idx);
                    return true;
                }
            }
            let mut chain = self.ht[0].buckets[idx].take();
            while let Some(mut node) = chain {
                chain = node.next.take();
                let b = (hash_bytes(node.key.key_bytes()) as usize) & self.ht[1].mask();
                node.next = self.ht[1].buckets[b].take();
                self.ht[1].buckets[b] = Some(node);
                self.ht[0].used -= 1;
                self.ht[1].used += 1;
            }
            idx += 1;
            n -= 1;
        }
        if self.ht[0].used == 0 {
            self.ht[0] = std::mem::replace(&mut self.ht[1], Table::empty());
            self.rehash_idx = None;
            return false;
        }
        self.rehash_idx = Some(idx);
        true
    }

    /// Rehashes in steps of 100 buckets while `more_time()` says so (Redis's
    /// dictRehashMilliseconds: the cron passes its clock, the keyspace reads none).
    pub fn rehash_while(&mut self, mut more_time: impl FnMut() -> bool) {
        while self.rehash(100) {
            if !more_time() {
                break;
            }
        }
    }

    #[inline]
    fn rehash_step(&mut self) {
        if self.rehash_idx.is_some() {
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
            self.ht[0] = Table::with_size(real);
            return;
        }
        self.ht[1] = Table::with_size(real);
        self.rehash_idx = Some(0);
    }

    fn expand_if_needed(&mut self) {
        if self.is_rehashing() {
            return;
        }
        let size = self.ht[0].size();
        if size == 0 {
            self.resize_to(INITIAL_SIZE);
            return;
        }
        let used = self.ht[0].used;
        if used >= size && (resize_allowed() || used / size > FORCE_RESIZE_RATIO) {
            self.resize_to(used + 1);
        }
    }

    /// Shrinks a sparse table (Redis's htNeedsResize + dictResize). Returns true if started.
    pub fn shrink_if_needed(&mut self) -> bool {
        let size = self.ht[0].size();
        let used = self.len();
        if self.is_rehashing() || !resize_allowed() || size <= INITIAL_SIZE {
            return false;
        }
        if used * 100 / size < MIN_FILL_PERCENT {
            self.resize_to(used);
            return true;
        }
        false
    }

    fn find_in<'a>(t: &'a Table<K, V>, hash: u64, key: &[u8]) -> Option<&'a Node<K, V>> {
        if t.size() == 0 {
            return None;
        }
        let mut cur = t.buckets[(hash as usize) & t.mask()].as_deref();
        while let Some(n) = cur {
            if n.key.key_bytes() == key {
                return Some(n);
            }
            cur = n.next.as_deref();
        }
        None
    }

    fn find_in_mut<'a>(
        t: &'a mut Table<K, V>,
        hash: u64,
        key: &[u8],
    ) -> Option<&'a mut Node<K, V>> {
        if t.size() == 0 {
            return None;
        }
        let mask = t.mask();
        let mut cur = t.buckets[(hash as usize) & mask].as_deref_mut();
        while let Some(n) = cur {
            if n.key.key_bytes() == key {
                return Some(n);
            }
            cur = n.next.as_deref_mut();
        }
        None
    }

    /// Looks a key up without advancing a rehash.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.get_key_value(key).map(|(_, v)| v)
    }

    pub fn get_key_value(&self, key: &[u8]) -> Option<(&K, &V)> {
        if self.is_empty() {
            return None;
        }
        let h = hash_bytes(key);
        let n = Self::find_in(&self.ht[0], h, key).or_else(|| {
            if self.is_rehashing() {
                Self::find_in(&self.ht[1], h, key)
            } else {
                None
            }
        })?;
        Some((&n.key, &n.value))
    }

    #[inline]
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Mutable lookup; advances a pending rehash by one step.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let h = hash_bytes(key);
        let rehashing = self.is_rehashing();
        let [t0, t1] = &mut self.ht;
        if let Some(n) = Self::find_in_mut(t0, h, key) {
            return Some(&mut n.value);
        }
        if rehashing {
            return Self::find_in_mut(t1, h, key).map(|n| &mut n.value);
        }
        None
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.rehash_step();
        let h = hash_bytes(key.key_bytes());
        if let Some(v) = self.get_mut_no_step(h, key.key_bytes()) {
            return Some(std::mem::replace(v, value));
        }
        self.insert_hashed(h, key, value);
        None
    }

    /// Returns the value for `key`, inserting one (with key `make_key()`) if absent.
    /// The bool is true if it was inserted.
    pub fn entry(
        &mut self,
        key: &[u8],
        make_key: impl FnOnce() -> K,
        make_value: impl FnOnce() -> V,
    ) -> (&mut V, bool) {
        self.rehash_step();
        let h = hash_bytes(key);
        if let Some(v) = self.get_mut_no_step(h, key) {
            let p: *mut V = v;
            // SAFETY: `p` comes from a live &mut into self and nothing else touches self before
            // it is returned; this only sidesteps the borrow checker's conditional-return limit.
            return (unsafe { &mut *p }, false);
        }
        (self.insert_hashed(h, make_key(), make_value()), true)
    }

    /// Inserts a key known to be absent.
    fn insert_hashed(&mut self, h: u64, key: K, value: V) -> &mut V {
        self.expand_if_needed();
        let t = if self.is_rehashing() { 1 } else { 0 };
        let table = &mut self.ht[t];
        let b = (h as usize) & table.mask();
        let node = Box::new(Node {
            key,
            value,
            next: table.buckets[b].take(),
        });
        table.buckets[b] = Some(node);
        table.used += 1;
        &mut table.buckets[b].as_mut().expect("just set").value
    }

    fn get_mut_no_step(&mut self, h: u64, key: &[u8]) -> Option<&mut V> {
        let rehashing = self.is_rehashing();
        let [t0, t1] = &mut self.ht;
        if let Some(n) = Self::find_in_mut(t0, h, key) {
            return Some(&mut n.value);
        }
        if rehashing {
            return Self::find_in_mut(t1, h, key).map(|n| &mut n.value);
        }
        None
    }

    /// Removes a key; returns its key and value.
    pub fn remove(&mut self, key: &[u8]) -> Option<(K, V)> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let h = hash_bytes(key);
        for t in 0..2 {
            if t == 1 && !self.is_rehashing() {
                break;
            }
            let table = &mut self.ht[t];
            if table.size() == 0 {
                continue;
            }
            let b = (h as usize) & table.mask();
            let mut link = &mut table.buckets[b];
            loop {
                match link {
                    None => break,
                    Some(node) if node.key.key_bytes() == key => {
                        let mut node = link.take().expect("matched");
                        *link = node.next.take();
                        table.used -= 1;
                        let Node { key, value, .. } = *node;
                        return Some((key, value));
                    }
                    Some(node) => link = &mut node.next,
                }
            }
        }
        None
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        // Drop chains iteratively: a long chain dropped recursively could overflow the stack.
        for t in &mut self.ht {
            for b in t.buckets.iter_mut() {
                let mut cur = b.take();
                while let Some(mut n) = cur {
                    cur = n.next.take();
                }
            }
            *t = Table::empty();
        }
        self.rehash_idx = None;
    }

    /// One SCAN step from `cursor`: calls `f` on every entry of the visited bucket(s) and
    /// returns the next cursor (0 when the scan is complete). Redis's dictScan algorithm.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&K, &V)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor as usize;
        let emit = |t: &Table<K, V>, idx: usize, f: &mut dyn FnMut(&K, &V)| {
            let mut cur = t.buckets[idx].as_deref();
            while let Some(n) = cur {
                f(&n.key, &n.value);
                cur = n.next.as_deref();
            }
        };
        if !self.is_rehashing() {
            let t = &self.ht[0];
            let m0 = t.mask();
            emit(t, v & m0, &mut f);
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
            emit(small, v & m0, &mut f);
            loop {
                emit(large, v & m1, &mut f);
                v |= !m1;
                v = v.reverse_bits().wrapping_add(1).reverse_bits();
                if v & (m0 ^ m1) == 0 {
                    break;
                }
            }
        }
        v as u64
    }

    /// A random entry, or None if empty, fairly chosen (see `fair`).
    pub fn random(&self, rng: &mut impl FnMut() -> u64) -> Option<(&K, &V)> {
        if self.is_empty() {
            return None;
        }
        let s0 = self.ht[0].size();
        let (first, end) = match self.rehash_idx {
            Some(idx) => (idx, s0 + self.ht[1].size()),
            None => (0, s0),
        };
        let head = |pos: usize| {
            if pos >= s0 {
                self.ht[1].buckets[pos - s0].as_deref()
            } else {
                self.ht[0].buckets[pos].as_deref()
            }
        };
        let chain = |pos: usize| std::iter::successors(head(pos), |n| n.next.as_deref());
        let (pos, i) = super::fair::pick(first, end, rng, |pos| chain(pos).count());
        chain(pos).nth(i).map(|n| (&n.key, &n.value))
    }

    /// Calls `f` on up to `count` entries found from a random bucket on, walking buckets in
    /// order (Redis's dictGetSomeKeys: much cheaper than `count` random picks, and random
    /// enough for eviction sampling). Gives up after `count * 10` buckets.
    pub fn sample(&self, count: usize, rng: &mut impl FnMut() -> u64, mut f: impl FnMut(&K, &V)) {
        if self.is_empty() || count == 0 {
            return;
        }
        let tables: &[&Table<K, V>] = if self.rehash_idx.is_some() {
            &[&self.ht[0], &self.ht[1]]
        } else {
            &[&self.ht[0]]
        };
        let max_size = tables.iter().map(|t| t.size()).max().unwrap_or(0);
        if max_size == 0 {
            return;
        }
        let mask = max_size - 1;
        let mut at = (rng() as usize) & mask;
        let mut found = 0;
        let mut steps = count * 10;
        while found < count && steps > 0 {
            for (i, t) in tables.iter().enumerate() {
                // Buckets of ht[0] below the rehash index are empty (moved to ht[1]).
                if i == 0 && self.rehash_idx.is_some_and(|idx| at < idx) {
                    continue;
                }
                if at >= t.size() {
                    continue;
                }
                let mut node = t.buckets[at].as_deref();
                while let Some(n) = node {
                    f(&n.key, &n.value);
                    found += 1;
                    if found == count {
                        return;
                    }
                    node = n.next.as_deref();
                }
            }
            at = (at + 1) & mask;
            steps -= 1;
        }
    }

    /// Iterates every entry (order unspecified).
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            dict: self,
            table: 0,
            bucket: 0,
            node: None,
        }
    }

    /// Consumes the dict, yielding owned entries.
    pub fn drain(&mut self) -> Vec<(K, V)> {
        let mut out = Vec::with_capacity(self.len());
        for t in &mut self.ht {
            for b in t.buckets.iter_mut() {
                let mut cur = b.take();
                while let Some(mut n) = cur {
                    cur = n.next.take();
                    let Node { key, value, .. } = *n;
                    out.push((key, value));
                }
            }
            *t = Table::empty();
        }
        self.rehash_idx = None;
        out
    }

    /// Calls `f` on every value mutably.
    pub fn for_each_mut(&mut self, mut f: impl FnMut(&K, &mut V)) {
        for t in &mut self.ht {
            for b in t.buckets.iter_mut() {
                let mut cur = b.as_deref_mut();
                while let Some(n) = cur {
                    f(&n.key, &mut n.value);
                    cur = n.next.as_deref_mut();
                }
            }
        }
    }

    /// Heap bytes used by the table structure itself (buckets and nodes, not key/value heaps).
    pub fn overhead_bytes(&self) -> usize {
        self.buckets() * std::mem::size_of::<usize>()
            + self.len() * std::mem::size_of::<Node<K, V>>()
    }

    /// Verifies counts and bucket placement (tests).
    pub fn check_invariants(&self) {
        for (ti, t) in self.ht.iter().enumerate() {
            let mut n = 0;
            for (i, b) in t.buckets.iter().enumerate() {
                let mut cur = b.as_deref();
                while let Some(node) = cur {
                    assert_eq!((hash_bytes(node.key.key_bytes()) as usize) & t.mask(), i);
                    if ti == 0 {
                        if let Some(idx) = self.rehash_idx {
                            assert!(i >= idx, "moved bucket not empty");
                        }
                    }
                    n += 1;
                    cur = node.next.as_deref();
                }
            }
            assert_eq!(n, t.used);
        }
    }
}

impl<K: DictKey, V> Drop for Dict<K, V> {
    fn drop(&mut self) {
        self.clear();
    }
}

pub struct Iter<'a, K: DictKey, V> {
    dict: &'a Dict<K, V>,
    table: usize,
    bucket: usize,
    node: Option<&'a Node<K, V>>,
}

impl<'a, K: DictKey, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(n) = self.node {
                self.node = n.next.as_deref();
                return Some((&n.key, &n.value));
            }
            let t = self.dict.ht.get(self.table)?;
            if self.bucket >= t.size() {
                self.table += 1;
                self.bucket = 0;
                continue;
            }
            self.node = t.buckets[self.bucket].as_deref();
            self.bucket += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashSet};

    fn k(i: u32) -> Vec<u8> {
        format!("key:{i}").into_bytes()
    }

    #[test]
    fn insert_get_remove_through_rehash() {
        let mut d: Dict<Vec<u8>, u32> = Dict::new();
        for i in 0..5000 {
            assert!(d.insert(k(i), i).is_none());
            if i % 97 == 0 {
                d.check_invariants();
            }
        }
        assert_eq!(d.len(), 5000);
        for i in 0..5000 {
            assert_eq!(d.get(&k(i)), Some(&i));
        }
        for i in (0..5000).step_by(2) {
            assert_eq!(d.remove(&k(i)), Some((k(i), i)));
        }
        while d.shrink_if_needed() || d.rehash(100) {}
        d.check_invariants();
        assert_eq!(d.len(), 2500);
        assert_eq!(d.iter().count(), 2500);
    }

    #[test]
    fn scan_sees_stable_elements_while_growing() {
        let mut d: Dict<Vec<u8>, ()> = Dict::new();
        for i in 0..100 {
            d.insert(k(i), ());
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut next_new = 100;
        loop {
            cursor = d.scan(cursor, |key, _| {
                seen.insert(key.clone());
            });
            // Grow the table mid-scan, through several rehashes (then let the scan finish).
            for _ in 0..40 {
                if next_new < 3000 {
                    d.insert(k(next_new), ());
                    next_new += 1;
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..100 {
            assert!(seen.contains(&k(i)), "missed {i}");
        }
    }

    #[test]
    fn scan_sees_stable_elements_while_shrinking() {
        let mut d: Dict<Vec<u8>, ()> = Dict::new();
        for i in 0..2000 {
            d.insert(k(i), ());
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut victim = 100;
        loop {
            cursor = d.scan(cursor, |key, _| {
                seen.insert(key.clone());
            });
            for _ in 0..50 {
                if victim < 2000 {
                    d.remove(&k(victim));
                    victim += 1;
                }
            }
            d.shrink_if_needed();
            if cursor == 0 {
                break;
            }
        }
        for i in 0..100 {
            assert!(seen.contains(&k(i)), "missed {i}");
        }
    }

    #[test]
    fn random_returns_members() {
        let mut d: Dict<Vec<u8>, u32> = Dict::new();
        let mut rng = crate::util::rng::splitmix(1u64);
        assert!(d.random(&mut rng).is_none());
        for i in 0..300 {
            d.insert(k(i), i);
        }
        let mut seen = HashSet::new();
        for _ in 0..20000 {
            let (key, v) = d.random(&mut rng).unwrap();
            assert_eq!(key, &k(*v));
            seen.insert(*v);
        }
        assert!(seen.len() > 290);
    }

    proptest! {
        #[test]
        fn model(ops in proptest::collection::vec((0u8..4, 0u32..200), 0..600)) {
            let mut d: Dict<Vec<u8>, u32> = Dict::new();
            let mut m: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
            for (op, i) in ops {
                match op {
                    0 => prop_assert_eq!(d.insert(k(i), i), m.insert(k(i), i)),
                    1 => prop_assert_eq!(d.remove(&k(i)).map(|(_, v)| v), m.remove(&k(i))),
                    2 => { d.shrink_if_needed(); }
                    _ => {
                        let (v, inserted) = d.entry(&k(i), || k(i), || 1000);
                        *v += 1;
                        let e = m.entry(k(i)).or_insert(1000);
                        *e += 1;
                        prop_assert_eq!(inserted, *e == 1001);
                    }
                }
                prop_assert_eq!(d.len(), m.len());
            }
            d.check_invariants();
            let mut got: Vec<(Vec<u8>, u32)> = d.iter().map(|(k, v)| (k.clone(), *v)).collect();
            got.sort();
            prop_assert_eq!(got, m.into_iter().collect::<Vec<_>>());
        }
    }
}
