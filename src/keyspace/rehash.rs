//! The bucket tables shared by every hash table here (the keyspace `Dict`, big hashes'
//! `FieldTable`, the sorted-set member index): Redis's dict.c algorithm, once.
//!
//! Power-of-two bucket arrays; a resize allocates the second table and moves buckets over
//! incrementally (one per write, or a time budget from the cron), so no resize stalls the
//! server; while that runs, lookups search both tables and inserts go to the new one. SCAN
//! walks buckets with the reverse-binary cursor, which returns every entry present for the
//! whole scan at least once however the table grows or shrinks meanwhile. Each table type
//! says only what a bucket is and how its entries move ([`Bucket`]).

/// Initial and minimum table size (Redis's DICT_HT_INITIAL_SIZE).
pub const INITIAL_SIZE: usize = 4;
/// A table is shrunk when less than 1/10 full (Redis's HASHTABLE_MIN_FILL).
const MIN_FILL_PERCENT: usize = 10;
/// Empty buckets a rehash step may visit per bucket it moves (Redis uses 10).
const EMPTY_VISITS: usize = 10;

/// Whether tables may resize (Redis's dict_can_resize). While a fork child shares the
/// parent's pages, a resize would copy every page it touches, so tables resize only when
/// out of proportion by `FORCE_RESIZE_RATIO`; the child itself never resizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ResizePolicy {
    Enable = 0,
    Avoid = 1,
    Forbid = 2,
}

static RESIZE_POLICY: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Tables this many times too small (or too big) resize even while a child runs (Redis's
/// dict_force_resize_ratio).
const FORCE_RESIZE_RATIO: usize = 5;

pub fn set_resize_policy(policy: ResizePolicy) {
    RESIZE_POLICY.store(policy as u8, std::sync::atomic::Ordering::Relaxed);
}

fn resize_policy() -> ResizePolicy {
    match RESIZE_POLICY.load(std::sync::atomic::Ordering::Relaxed) {
        0 => ResizePolicy::Enable,
        1 => ResizePolicy::Avoid,
        _ => ResizePolicy::Forbid,
    }
}

/// maxmemory (0: none) and the memory it does not count (replica and AOF buffers), for
/// keyspace tables deciding whether to grow (see `Tables::guard_growth`).
static MAXMEMORY: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static NOT_COUNTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Tables fuller than this grow whatever memory says (Redis's HASHTABLE_MAX_LOAD_FACTOR).
const MAX_LOAD_FACTOR: f64 = 1.618;

/// The executor's maxmemory and not-counted memory, as of its last eviction check.
pub fn set_memory_limit(maxmemory: usize, not_counted: usize) {
    use std::sync::atomic::Ordering::Relaxed;
    MAXMEMORY.store(maxmemory, Relaxed);
    NOT_COUNTED.store(not_counted, Relaxed);
}

/// Whether a guarded table may allocate `more` bytes of buckets at this load (Redis's
/// dictExpandAllowed: not if that would take memory past maxmemory, unless the table is
/// overfull).
fn expand_allowed(more: usize, load: f64) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    let max = MAXMEMORY.load(Relaxed);
    if max == 0 || load > MAX_LOAD_FACTOR {
        return true;
    }
    let used = crate::alloc::used_memory();
    used + more <= max || used.saturating_sub(NOT_COUNTED.load(Relaxed)) + more <= max
}

/// Longest chain the statistics count separately (Redis's DICT_STATS_VECTLEN).
const STATS_VECTLEN: usize = 50;

/// One bucket: the entries whose hash masks to its position.
pub trait Bucket: Default {
    fn is_vacant(&self) -> bool;
    /// Entries in the bucket (its chain's length).
    fn entries(&self) -> usize;
    /// Moves every entry of this bucket (just taken out of the old table) into `to`, a
    /// power-of-two bucket array, by hash; returns how many entries moved.
    fn move_into(self, to: &mut [Self]) -> usize;
}

/// One bucket array and its entry count.
pub struct Buckets<B> {
    pub slots: Vec<B>,
    pub used: usize,
}

impl<B: Bucket> Buckets<B> {
    pub const EMPTY: Self = Buckets {
        slots: Vec::new(),
        used: 0,
    };

    fn with_size(n: usize) -> Self {
        let mut slots = Vec::with_capacity(n);
        slots.resize_with(n, B::default);
        Buckets { slots, used: 0 }
    }

    #[inline]
    pub fn size(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    pub fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// The bucket a hash belongs to (the table must not be empty).
    #[inline]
    pub fn slot_of(&self, hash: u64) -> usize {
        (hash as usize) & self.mask()
    }
}

/// One step of Redis's reverse-binary SCAN cursor over tables with the given masks (the
/// smaller table's, and the larger's while rehashing): calls `visit(in_larger, bucket)` for
/// each bucket to visit and returns the next cursor (0 at the end).
fn scan_step(
    masks: Option<(usize, Option<usize>)>,
    cursor: u64,
    mut visit: impl FnMut(bool, usize),
) -> u64 {
    let Some((m0, larger)) = masks else {
        return 0;
    };
    let mut v = cursor as usize;
    visit(false, v & m0);
    match larger {
        None => {
            v |= !m0;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
        }
        Some(m1) => loop {
            visit(true, v & m1);
            v |= !m1;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
            if v & (m0 ^ m1) == 0 {
                break;
            }
        },
    }
    v as u64
}

/// The two tables of an incrementally rehashed hash table.
pub struct Tables<B> {
    pub ht: [Buckets<B>; 2],
    /// Next bucket of ht[0] to move, while rehashing.
    rehash_idx: Option<usize>,
    /// A keyspace table: it does not grow past maxmemory (see `expand_allowed`).
    guarded: bool,
}

impl<B: Bucket> Default for Tables<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: Bucket> Tables<B> {
    pub const fn new() -> Self {
        Tables {
            ht: [Buckets::EMPTY, Buckets::EMPTY],
            rehash_idx: None,
            guarded: false,
        }
    }

    /// Empty tables sized for `n` entries (Redis's dictExpand at conversion and load).
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
        self.rehash_idx.is_some()
    }

    /// Next bucket of ht[0] to move; buckets below it are empty.
    #[inline]
    pub fn rehash_idx(&self) -> Option<usize> {
        self.rehash_idx
    }

    /// Buckets over both tables.
    pub fn buckets(&self) -> usize {
        self.ht[0].size() + self.ht[1].size()
    }

    /// The tables a lookup searches: ht[0], and ht[1] while rehashing.
    #[inline]
    pub fn live(&self) -> &[Buckets<B>] {
        &self.ht[..1 + usize::from(self.is_rehashing())]
    }

    #[inline]
    pub fn live_mut(&mut self) -> &mut [Buckets<B>] {
        let n = 1 + usize::from(self.is_rehashing());
        &mut self.ht[..n]
    }

    /// Moves up to `n` buckets from the old table; returns true if more work remains.
    pub fn rehash(&mut self, n: usize) -> bool {
        let Some(mut idx) = self.rehash_idx else {
            return false;
        };
        let (s0, s1) = (self.ht[0].size(), self.ht[1].size());
        let out_of_proportion = s1.max(s0) / s1.min(s0).max(1) >= FORCE_RESIZE_RATIO;
        match resize_policy() {
            ResizePolicy::Enable => {}
            ResizePolicy::Avoid if out_of_proportion => {}
            _ => return true,
        }
        let mut empty_visits = n * EMPTY_VISITS;
        let mut n = n;
        while n > 0 && self.ht[0].used != 0 {
            while self.ht[0].slots[idx].is_vacant() {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_idx = Some(idx);
                    return true;
                }
            }
            let [old, new] = &mut self.ht;
            let moved = std::mem::take(&mut old.slots[idx]).move_into(&mut new.slots);
            old.used -= moved;
            new.used += moved;
            idx += 1;
            n -= 1;
        }
        if self.ht[0].used == 0 {
            self.ht[0] = std::mem::replace(&mut self.ht[1], Buckets::EMPTY);
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

    /// The step every write performs while a rehash is pending.
    #[inline]
    pub fn rehash_step(&mut self) {
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
            self.ht[0] = Buckets::with_size(real);
            return;
        }
        self.ht[1] = Buckets::with_size(real);
        self.rehash_idx = Some(0);
    }

    /// Makes this a keyspace table, which does not grow past maxmemory.
    pub fn guard_growth(&mut self) {
        self.guarded = true;
    }

    /// Grows a full table before an insert; returns the table the new entry goes to.
    pub fn prepare_insert(&mut self) -> &mut Buckets<B> {
        if !self.is_rehashing() {
            let (size, used) = (self.ht[0].size(), self.ht[0].used);
            let policy = resize_policy();
            if size == 0 {
                self.resize_to(INITIAL_SIZE);
            } else if ((policy == ResizePolicy::Enable && used >= size)
                || (policy != ResizePolicy::Forbid && used / size > FORCE_RESIZE_RATIO))
                && (!self.guarded
                    || expand_allowed(
                        (used + 1).next_power_of_two() * std::mem::size_of::<B>(),
                        used as f64 / size as f64,
                    ))
            {
                self.resize_to(used + 1);
            }
        }
        let t = usize::from(self.is_rehashing());
        &mut self.ht[t]
    }

    /// Shrinks a sparse table (Redis's htNeedsResize + dictResize). Returns true if started.
    pub fn shrink_if_needed(&mut self) -> bool {
        let size = self.ht[0].size();
        if self.is_rehashing() || size <= INITIAL_SIZE || resize_policy() != ResizePolicy::Enable {
            return false;
        }
        if self.len() * 100 / size < MIN_FILL_PERCENT {
            self.resize_to(self.len());
            return true;
        }
        false
    }

    /// DEBUG HTSTATS's text for these tables (Redis's dictGetStats): per table its size,
    /// entries and chain lengths; the rehashing target too while a rehash runs.
    pub fn stats(&self, out: &mut String) {
        use std::fmt::Write as _;
        for (i, t) in self.live().iter().enumerate() {
            let name = if i == 0 {
                "main hash table"
            } else {
                "rehashing target"
            };
            let _ = writeln!(out, "Hash table {i} stats ({name}):");
            if t.used == 0 {
                out.push_str("No stats available for empty dictionaries\n");
                continue;
            }
            let mut lengths = [0usize; STATS_VECTLEN];
            let (mut slots, mut max_chain, mut total_chain) = (0usize, 0usize, 0usize);
            for b in &t.slots {
                let n = b.entries();
                lengths[n.min(STATS_VECTLEN - 1)] += 1;
                if n > 0 {
                    slots += 1;
                    max_chain = max_chain.max(n);
                    total_chain += n;
                }
            }
            let _ = write!(
                out,
                " table size: {}\n number of elements: {}\n different slots: {slots}\n \
                 max chain length: {max_chain}\n avg chain length (counted): {:.2}\n \
                 avg chain length (computed): {:.2}\n Chain length distribution:\n",
                t.size(),
                t.used,
                total_chain as f32 / slots as f32,
                t.used as f32 / slots as f32,
            );
            for (len, &count) in lengths[..STATS_VECTLEN - 1].iter().enumerate() {
                if count > 0 {
                    let share = count as f32 / t.size() as f32 * 100.0;
                    let _ = writeln!(out, "   {len}: {count} ({share:.2}%)");
                }
            }
        }
    }

    /// Drops both tables, bucket by bucket through `drop_bucket` (chains that would drop
    /// recursively can be unlinked iteratively there).
    pub fn clear_with(&mut self, mut drop_bucket: impl FnMut(B)) {
        for t in &mut self.ht {
            for b in std::mem::take(&mut t.slots) {
                drop_bucket(b);
            }
            t.used = 0;
        }
        self.rehash_idx = None;
    }

    /// One SCAN step from `cursor`: calls `f` on the visited bucket(s) and returns the next
    /// cursor, 0 when the scan is complete (Redis's dictScan).
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&B)) -> u64 {
        let (small, large) = self.scan_order();
        scan_step(self.scan_masks(), cursor, |second, i| {
            f(&self.ht[if second { large } else { small }].slots[i])
        })
    }

    /// `scan` with each visited bucket given mutably (a live snapshot's walk marks the
    /// entries it saves).
    pub fn scan_mut(&mut self, cursor: u64, mut f: impl FnMut(&mut B)) -> u64 {
        let (small, large) = self.scan_order();
        let masks = self.scan_masks();
        let ht = &mut self.ht;
        scan_step(masks, cursor, |second, i| {
            f(&mut ht[if second { large } else { small }].slots[i])
        })
    }

    /// The smaller table's index, then the larger's (the same while not rehashing).
    fn scan_order(&self) -> (usize, usize) {
        if !self.is_rehashing() {
            (0, 0)
        } else if self.ht[0].size() <= self.ht[1].size() {
            (0, 1)
        } else {
            (1, 0)
        }
    }

    /// The masks `scan_step` walks: None when empty; the larger table's too while rehashing.
    fn scan_masks(&self) -> Option<(usize, Option<usize>)> {
        if self.is_empty() {
            return None;
        }
        let (small, large) = self.scan_order();
        Some((
            self.ht[small].mask(),
            (small != large).then(|| self.ht[large].mask()),
        ))
    }

    /// A fairly chosen entry: the bucket holding it and its index there, given each
    /// bucket's entry count (see `keyspace::fair`). None if empty.
    pub fn random(
        &self,
        rng: &mut dyn FnMut() -> u64,
        entries: impl Fn(&B) -> usize,
    ) -> Option<(&B, usize)> {
        if self.is_empty() {
            return None;
        }
        let s0 = self.ht[0].size();
        let (first, end) = match self.rehash_idx {
            Some(idx) => (idx, s0 + self.ht[1].size()),
            None => (0, s0),
        };
        let bucket = |pos: usize| {
            if pos >= s0 {
                &self.ht[1].slots[pos - s0]
            } else {
                &self.ht[0].slots[pos]
            }
        };
        let (pos, i) = super::fair::pick(first, end, rng, |pos| entries(bucket(pos)));
        Some((bucket(pos), i))
    }

    /// Every bucket of both tables, in table order.
    pub fn all(&self) -> impl Iterator<Item = &B> {
        self.ht.iter().flat_map(|t| t.slots.iter())
    }

    /// Checks what holds for every table type: entry counts match `entries`, every entry
    /// sits in the bucket its hash names, and ht[0] is empty below the rehash index (tests).
    pub fn check_invariants(&self, hashes: impl Fn(&B) -> Vec<u64>) {
        for (ti, t) in self.ht.iter().enumerate() {
            let mut n = 0;
            for (i, b) in t.slots.iter().enumerate() {
                for h in hashes(b) {
                    assert_eq!(t.slot_of(h), i, "misplaced entry");
                    if ti == 0 {
                        if let Some(idx) = self.rehash_idx {
                            assert!(i >= idx, "moved bucket not empty");
                        }
                    }
                    n += 1;
                }
            }
            assert_eq!(n, t.used);
            if ti == 1 && !self.is_rehashing() {
                assert_eq!(t.size(), 0);
            }
        }
    }
}
