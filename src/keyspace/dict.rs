//! `Dict`: Redis's hash table with chained buckets, over the shared incremental-rehash
//! tables of `keyspace::rehash`.
//!
//! Why not std's HashMap: SCAN must return every element that is present for the whole scan at
//! least once while the table grows or shrinks, and a resize must never stall the server for
//! a large table. Both need control over buckets that hashbrown does not expose. The keyspace
//! and big sets use `Dict`; big hashes and the sorted-set member index keep their own bucket
//! shapes over the same `Tables`.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use super::bytes::CompactBytes;
use super::rehash::{Bucket, Buckets, Tables};

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

/// A bucket is a chain of boxed nodes.
type Chain<K, V> = Option<Box<Node<K, V>>>;

impl<K: DictKey, V> Bucket for Chain<K, V> {
    #[inline]
    fn is_vacant(&self) -> bool {
        self.is_none()
    }

    fn entries(&self) -> usize {
        std::iter::successors(self.as_deref(), |n| n.next.as_deref()).count()
    }

    fn move_into(mut self, to: &mut [Self]) -> usize {
        let mask = to.len() - 1;
        let mut moved = 0;
        while let Some(mut node) = self {
            self = node.next.take();
            let b = (hash_bytes(node.key.key_bytes()) as usize) & mask;
            node.next = to[b].take();
            to[b] = Some(node);
            moved += 1;
        }
        moved
    }
}

/// The nodes of one chain.
fn chain<K, V>(b: &Chain<K, V>) -> impl Iterator<Item = &Node<K, V>> {
    std::iter::successors(b.as_deref(), |n| n.next.as_deref())
}

/// A prefetch hint: never faults, whatever the address.
#[inline(always)]
fn prefetch_read(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint; it reads nothing the program sees and cannot fault.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A hash table keyed by bytes.
pub struct Dict<K: DictKey, V> {
    tables: Tables<Chain<K, V>>,
}

impl<K: DictKey, V> Default for Dict<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: DictKey, V> Dict<K, V> {
    pub const fn new() -> Self {
        Dict {
            tables: Tables::new(),
        }
    }

    #[inline]
    /// DEBUG HTSTATS's text for this table.
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

    /// Number of buckets over both tables (for INFO/DEBUG style reporting and memory).
    pub fn buckets(&self) -> usize {
        self.tables.buckets()
    }

    /// Moves up to `n` buckets from the old table; returns true if more work remains.
    pub fn rehash(&mut self, n: usize) -> bool {
        self.tables.rehash(n)
    }

    /// Rehashes in steps of 100 buckets while `more_time()` says so.
    pub fn rehash_while(&mut self, more_time: impl FnMut() -> bool) {
        self.tables.rehash_while(more_time)
    }

    /// Shrinks a sparse table. Returns true if started.
    pub fn shrink_if_needed(&mut self) -> bool {
        self.tables.shrink_if_needed()
    }

    fn find_in_mut<'a>(
        t: &'a mut Buckets<Chain<K, V>>,
        hash: u64,
        key: &[u8],
    ) -> Option<&'a mut Node<K, V>> {
        if t.size() == 0 {
            return None;
        }
        let b = t.slot_of(hash);
        let mut cur = t.slots[b].as_deref_mut();
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
        let n = self.tables.live().iter().find_map(|t| {
            if t.size() == 0 {
                return None;
            }
            chain(&t.slots[t.slot_of(h)]).find(|n| n.key.key_bytes() == key)
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
        self.tables.rehash_step();
        self.get_mut_no_step(hash_bytes(key), key)
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.tables.rehash_step();
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
        self.tables.rehash_step();
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
        let table = self.tables.prepare_insert();
        let b = table.slot_of(h);
        let node = Box::new(Node {
            key,
            value,
            next: table.slots[b].take(),
        });
        table.used += 1;
        &mut table.slots[b].insert(node).value
    }

    /// Hints the CPU to fetch what a lookup of `key` will read: with `deep`, the first node of
    /// its chain (whose bucket an earlier shallow call brought in), else the bucket. A
    /// pipeline's commands prefetch one and two commands ahead, so the cache misses of a
    /// lookup overlap the work of the commands before it.
    #[inline]
    pub fn prefetch(&self, key: &[u8], deep: bool) {
        let Some(table) = self.tables.live().first() else {
            return;
        };
        if table.size() == 0 {
            return;
        }
        let slot = &table.slots[table.slot_of(hash_bytes(key))];
        if deep {
            if let Some(node) = slot.as_deref() {
                prefetch_read(node as *const Node<K, V> as *const u8);
            }
        } else {
            prefetch_read(slot as *const Chain<K, V> as *const u8);
        }
    }

    fn get_mut_no_step(&mut self, h: u64, key: &[u8]) -> Option<&mut V> {
        let (t0, t1) = self.tables.live_mut().split_at_mut(1);
        if let Some(n) = Self::find_in_mut(&mut t0[0], h, key) {
            return Some(&mut n.value);
        }
        let n = Self::find_in_mut(t1.first_mut()?, h, key)?;
        Some(&mut n.value)
    }

    /// Removes a key; returns its key and value.
    pub fn remove(&mut self, key: &[u8]) -> Option<(K, V)> {
        if self.is_empty() {
            return None;
        }
        self.tables.rehash_step();
        let h = hash_bytes(key);
        for table in self.tables.live_mut() {
            if table.size() == 0 {
                continue;
            }
            let b = table.slot_of(h);
            let mut link = &mut table.slots[b];
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
        self.tables.clear_with(|mut cur| {
            while let Some(mut n) = cur {
                cur = n.next.take();
            }
        });
    }

    /// One SCAN step from `cursor`: calls `f` on every entry of the visited bucket(s) and
    /// returns the next cursor (0 when the scan is complete). Redis's dictScan algorithm.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&K, &V)) -> u64 {
        self.tables.scan(cursor, |b| {
            for n in chain(b) {
                f(&n.key, &n.value);
            }
        })
    }

    /// Makes this a keyspace table: it does not grow while the new buckets would take memory
    /// past maxmemory (Redis's dictExpandAllowed for the db and expires dicts).
    pub fn guard_growth(&mut self) {
        self.tables.guard_growth();
    }

    /// `scan` with the values given mutably.
    pub fn scan_mut(&mut self, cursor: u64, mut f: impl FnMut(&K, &mut V)) -> u64 {
        self.tables.scan_mut(cursor, |b| {
            let mut cur = b.as_deref_mut();
            while let Some(n) = cur {
                f(&n.key, &mut n.value);
                cur = n.next.as_deref_mut();
            }
        })
    }

    /// A random entry, or None if empty, fairly chosen (see `fair`).
    pub fn random(&self, rng: &mut impl FnMut() -> u64) -> Option<(&K, &V)> {
        let (b, i) = self.tables.random(rng, |b| chain(b).count())?;
        chain(b).nth(i).map(|n| (&n.key, &n.value))
    }

    /// Calls `f` on up to `count` entries found from a random bucket on, walking buckets in
    /// order (Redis's dictGetSomeKeys: much cheaper than `count` random picks, and random
    /// enough for eviction sampling). Gives up after `count * 10` buckets.
    pub fn sample(&self, count: usize, rng: &mut impl FnMut() -> u64, mut f: impl FnMut(&K, &V)) {
        if self.is_empty() || count == 0 {
            return;
        }
        let tables = self.tables.live();
        let rehash_idx = self.tables.rehash_idx();
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
                if i == 0 && rehash_idx.is_some_and(|idx| at < idx) {
                    continue;
                }
                if at >= t.size() {
                    continue;
                }
                for n in chain(&t.slots[at]) {
                    f(&n.key, &n.value);
                    found += 1;
                    if found == count {
                        return;
                    }
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
        self.tables.clear_with(|mut cur| {
            while let Some(mut n) = cur {
                cur = n.next.take();
                let Node { key, value, .. } = *n;
                out.push((key, value));
            }
        });
        out
    }

    /// Calls `f` on every value mutably.
    pub fn for_each_mut(&mut self, mut f: impl FnMut(&K, &mut V)) {
        for t in &mut self.tables.ht {
            for b in t.slots.iter_mut() {
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
        self.tables
            .check_invariants(|b| chain(b).map(|n| hash_bytes(n.key.key_bytes())).collect());
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
            let t = self.dict.tables.ht.get(self.table)?;
            if self.bucket >= t.size() {
                self.table += 1;
                self.bucket = 0;
                continue;
            }
            self.node = t.slots[self.bucket].as_deref();
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
