//! The hash value type: a compact `PairList` while small (Redis's `listpack`), a `FieldTable`
//! once it grows (Redis's `hashtable`), with Redis's conversion rules:
//!
//! - a write converts first if a field or value it stores is longer than
//!   hash-max-listpack-value, or if the packed form would pass 1 GiB (Redis's lpSafeToAdd);
//! - an insertion converts after adding when the hash has more than hash-max-listpack-entries
//!   fields;
//! - nothing ever converts back, however much the hash shrinks.
//!
//! A field may carry a TTL (Redis 7.4's hash field expiration), stored inside its entry in
//! either form. The type stores, orders and finds TTLs; an expired field stays until
//! `cmd::hashes` deletes it lazily or the executor's active cycle does (`remove_due`), so
//! what a command sees of an expired field is decided there, as in Redis.

mod blob;
mod pairlist;
mod table;

pub use pairlist::PairList;
pub use table::FieldTable;

/// Redis's LISTPACK_MAX_SAFETY_SIZE: a packed hash never grows past this many bytes.
pub const PACKED_MAX_BYTES: usize = 1 << 30;

/// The encoding thresholds (hash-max-listpack-entries / hash-max-listpack-value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_entries: usize,
    pub max_value: usize,
}

impl Default for Limits {
    /// Redis's defaults.
    fn default() -> Self {
        Limits {
            max_entries: 512,
            max_value: 64,
        }
    }
}

/// A hash value.
#[derive(Debug, Clone)]
pub enum Hash {
    Packed(PairList),
    Table(Box<FieldTable>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Packed(PairList::new())
    }
}

/// Why an RDB hash could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    DuplicateField,
}

impl Hash {
    /// DEBUG HTSTATS-KEY: the field table's statistics (hashtable encoding only).
    pub fn hash_table_stats(&self, out: &mut String) -> bool {
        match self {
            Hash::Table(t) => {
                t.stats(out);
                true
            }
            Hash::Packed(_) => false,
        }
    }

    /// An empty hash in the compact encoding (Redis's createHashObject).
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    pub fn len(&self) -> usize {
        match self {
            Hash::Packed(p) => p.len(),
            Hash::Table(t) => t.len(),
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING's answer, as Redis reports it (listpackex once a field-TTL command has
    /// touched a small hash: Redis 7.4).
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Hash::Packed(p) if p.is_ex() => "listpackex",
            Hash::Packed(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn is_packed(&self) -> bool {
        matches!(self, Hash::Packed(_))
    }

    /// Heap bytes held (the value's own allocations, for MEMORY-style estimates).
    pub fn alloc_size(&self) -> usize {
        match self {
            Hash::Packed(p) => p.alloc_size(),
            Hash::Table(t) => std::mem::size_of::<FieldTable>() + t.alloc_size(),
        }
    }

    /// The value of `field`, expired or not (the callers in `cmd::hashes` decide).
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.get_with_ttl(field).map(|(v, _)| v)
    }

    /// The value and TTL (absolute ms, 0: none) of `field`, expired or not.
    pub fn get_with_ttl(&self, field: &[u8]) -> Option<(&[u8], i64)> {
        match self {
            Hash::Packed(p) => p.get_with_ttl(field),
            Hash::Table(t) => t.get_with_ttl(field),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match self {
            Hash::Packed(p) => p.contains(field),
            Hash::Table(t) => t.contains(field),
        }
    }

    /// Switches to the table encoding (Redis's hashTypeConvert); a no-op if already there.
    pub fn convert(&mut self) {
        if let Hash::Packed(p) = self {
            let mut t = FieldTable::with_capacity(p.len());
            let mut it = p.iter();
            while let Some((f, v, ttl)) = it.next_with_ttl() {
                t.insert_absent(f, v, ttl);
            }
            *self = Hash::Table(Box::new(t));
        }
    }

    /// Redis's hashTypeTryConversion before a write of `args` (fields and values): converts if
    /// any is longer than `max_value` or the packed form would pass its size limit.
    pub fn prepare_write(&mut self, args: &[&[u8]], lim: Limits) {
        let Hash::Packed(p) = self else {
            return;
        };
        let mut sum = 0usize;
        for a in args {
            if a.len() > lim.max_value {
                self.convert();
                return;
            }
            sum = sum.saturating_add(a.len());
        }
        if p.byte_len().saturating_add(sum) > PACKED_MAX_BYTES {
            self.convert();
        }
    }

    /// Redis's hashTypeSet: stores `value` under `field`, which loses any TTL it had (HSET);
    /// returns true if the field is new. Converts first if the field or value is too long for
    /// the compact form, and afterwards if the hash has too many fields for it.
    pub fn set(&mut self, field: &[u8], value: &[u8], lim: Limits) -> bool {
        self.set_with(field, value, lim, false)
    }

    /// As `set`, but an existing field keeps its TTL (HINCRBY, HSETEX KEEPTTL).
    pub fn set_keep_ttl(&mut self, field: &[u8], value: &[u8], lim: Limits) -> bool {
        self.set_with(field, value, lim, true)
    }

    fn set_with(&mut self, field: &[u8], value: &[u8], lim: Limits, keep_ttl: bool) -> bool {
        if let Hash::Packed(p) = self {
            if field.len() > lim.max_value
                || value.len() > lim.max_value
                || p.byte_len() + field.len() + value.len() + 3 * 10 > PACKED_MAX_BYTES
            {
                self.convert();
            }
        }
        match self {
            Hash::Packed(p) => {
                let added = p.set(field, value, keep_ttl);
                if added && p.len() > lim.max_entries {
                    self.convert();
                }
                added
            }
            Hash::Table(t) => t.insert(field, value, keep_ttl),
        }
    }

    /// Marks a small hash listpackex (Redis converts on the first field-TTL command).
    pub fn make_ex(&mut self) {
        if let Hash::Packed(p) = self {
            p.make_ex();
        }
    }

    /// Sets (absolute ms) or clears (0) the TTL of an existing field; false if absent.
    pub fn set_ttl(&mut self, field: &[u8], ttl: i64) -> bool {
        match self {
            Hash::Packed(p) => p.set_ttl(field, ttl),
            Hash::Table(t) => t.set_ttl(field, ttl),
        }
    }

    /// The earliest field TTL, if any field has one.
    pub fn min_ttl(&self) -> Option<i64> {
        match self {
            Hash::Packed(p) => p.min_ttl(),
            Hash::Table(t) => t.min_ttl(),
        }
    }

    /// Whether any field has a TTL.
    pub fn has_ttls(&self) -> bool {
        match self {
            Hash::Packed(p) => p.min_ttl().is_some(),
            Hash::Table(t) => t.has_ttls(),
        }
    }

    /// Removes up to `max` fields whose TTL is before `now`, earliest first, handing each to
    /// `gone` first. Returns how many went.
    pub fn remove_due(&mut self, now: i64, max: usize, mut gone: impl FnMut(&[u8])) -> usize {
        match self {
            Hash::Packed(p) => {
                let mut n = 0;
                while n < max {
                    let Some(f) = p
                        .iter()
                        .next_with_ttl()
                        .filter(|(_, _, ttl)| expired(*ttl, now))
                        .map(|(f, _, _)| f.to_vec())
                    else {
                        break;
                    };
                    gone(&f);
                    p.remove(&f);
                    n += 1;
                }
                n
            }
            Hash::Table(t) => t.remove_due(now, max, gone),
        }
    }

    /// Removes a field; returns true if it was there. A table shrinks when it gets sparse.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Packed(p) => p.remove(field),
            Hash::Table(t) => {
                let removed = t.remove(field);
                if removed {
                    t.shrink_if_needed();
                }
                removed
            }
        }
    }

    /// Every pair, expired or not: the order of the compact form, table order otherwise.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            Hash::Packed(p) => Iter::Packed(p.iter()),
            Hash::Table(t) => Iter::Table(Box::new(t.iter_with_ttl())),
        }
    }

    /// The pairs not expired at `now`.
    pub fn iter_live(&self, now: i64) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.iter()
            .with_ttl()
            .filter(move |(_, _, ttl)| !expired(*ttl, now))
            .map(|(f, v, _)| (f, v))
    }

    /// How many fields are not expired at `now` (HLEN counts them all, as Redis's does).
    pub fn len_live(&self, now: i64) -> usize {
        if !self.has_ttls() {
            return self.len();
        }
        self.iter_live(now).count()
    }

    /// Builds a hash from RDB entries (field, value, TTL or 0) the way Redis's loader does:
    /// the table encoding from the start when there are more than `max_entries` pairs,
    /// otherwise compact until a field or value is too long (or the packed size limit is
    /// reached), then the table. A hash loaded with field TTLs is listpackex when small.
    pub fn from_entries<'a>(
        count: usize,
        entries: impl IntoIterator<Item = (&'a [u8], &'a [u8], i64)>,
        lim: Limits,
    ) -> Result<Hash, LoadError> {
        let mut h = if count > lim.max_entries {
            Hash::Table(Box::new(FieldTable::with_capacity(count)))
        } else {
            Hash::new()
        };
        for (f, v, ttl) in entries {
            if let Hash::Packed(p) = &mut h {
                if f.len() > lim.max_value
                    || v.len() > lim.max_value
                    || p.byte_len() + f.len() + v.len() > PACKED_MAX_BYTES
                {
                    h.convert();
                }
            }
            match &mut h {
                Hash::Packed(p) => {
                    if p.contains(f) {
                        return Err(LoadError::DuplicateField);
                    }
                    p.push_with_ttl(f, v, ttl);
                }
                Hash::Table(t) => {
                    if t.contains(f) {
                        return Err(LoadError::DuplicateField);
                    }
                    t.insert_absent(f, v, ttl);
                }
            }
        }
        Ok(h)
    }

    /// `from_entries` for pairs without TTLs.
    pub fn from_pairs<'a>(
        count: usize,
        pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        lim: Limits,
    ) -> Result<Hash, LoadError> {
        Self::from_entries(count, pairs.into_iter().map(|(f, v)| (f, v, 0)), lim)
    }

    /// Verifies the representation (tests).
    pub fn check_invariants(&self) {
        match self {
            Hash::Packed(p) => p.check_invariants(),
            Hash::Table(t) => t.check_invariants(),
        }
    }
}

/// Whether a field with TTL `ttl` (0: none) is expired at `now` (Redis's hfieldIsExpired:
/// due strictly before now).
#[inline]
pub fn expired(ttl: i64, now: i64) -> bool {
    ttl != 0 && ttl < now
}

/// Iterator over a hash's pairs.
pub enum Iter<'a> {
    Packed(pairlist::Iter<'a>),
    Table(Box<dyn Iterator<Item = (&'a [u8], &'a [u8], i64)> + 'a>),
}

impl<'a> Iter<'a> {
    /// The pairs with their TTLs (0: none).
    pub fn with_ttl(self) -> impl Iterator<Item = (&'a [u8], &'a [u8], i64)> {
        let mut it = self;
        std::iter::from_fn(move || match &mut it {
            Iter::Packed(i) => i.next_with_ttl(),
            Iter::Table(i) => i.next(),
        })
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Packed(i) => i.next(),
            Iter::Table(i) => i.next().map(|(f, v, _)| (f, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const LIM: Limits = Limits {
        max_entries: 4,
        max_value: 8,
    };

    #[test]
    fn conversions_follow_redis() {
        let mut h = Hash::new();
        for i in 0..4 {
            assert!(h.set(format!("f{i}").as_bytes(), b"v", LIM));
        }
        assert_eq!(h.encoding_name(), "listpack");
        assert!(h.set(b"f4", b"v", LIM));
        assert_eq!(h.encoding_name(), "hashtable");
        for i in 0..5 {
            assert!(h.remove(format!("f{i}").as_bytes()));
        }
        assert!(h.is_empty());
        assert_eq!(h.encoding_name(), "hashtable", "never converts back");

        let mut h = Hash::new();
        h.set(b"a", b"12345678", LIM);
        assert!(h.is_packed());
        h.set(b"a", b"123456789", LIM);
        assert!(!h.is_packed(), "long value converts");

        let mut h = Hash::new();
        h.prepare_write(&[b"a", b"b", b"123456789"], LIM);
        assert!(!h.is_packed(), "a long argument converts before the write");
    }

    #[test]
    fn load_like_redis() {
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"a", b"1"), (b"b", b"2")];
        let h = Hash::from_pairs(2, pairs.clone(), LIM).unwrap();
        assert!(h.is_packed());
        let h = Hash::from_pairs(
            2,
            pairs,
            Limits {
                max_entries: 1,
                ..LIM
            },
        )
        .unwrap();
        assert!(!h.is_packed());
        let long: Vec<(&[u8], &[u8])> = vec![(b"a", b"1"), (b"b", b"123456789"), (b"c", b"3")];
        let h = Hash::from_pairs(3, long, LIM).unwrap();
        assert!(!h.is_packed());
        assert_eq!(h.len(), 3);
        let dup: Vec<(&[u8], &[u8])> = vec![(b"a", b"1"), (b"a", b"2")];
        assert_eq!(
            Hash::from_pairs(2, dup.clone(), LIM).unwrap_err(),
            LoadError::DuplicateField
        );
        assert!(Hash::from_pairs(
            2,
            dup,
            Limits {
                max_entries: 0,
                ..LIM
            }
        )
        .is_err());
    }

    #[test]
    fn field_ttls_in_both_encodings() {
        for lim in [
            LIM,
            Limits {
                max_entries: 0,
                ..LIM
            },
        ] {
            let mut h = Hash::new();
            for f in ["a", "b", "c", "d"] {
                h.set(f.as_bytes(), b"v", lim);
            }
            h.make_ex();
            assert!(!h.has_ttls());
            assert!(h.set_ttl(b"c", 300) && h.set_ttl(b"a", 100) && h.set_ttl(b"d", 300));
            assert!(!h.set_ttl(b"zz", 5));
            h.check_invariants();
            assert_eq!(h.min_ttl(), Some(100));
            if h.is_packed() {
                assert_eq!(h.encoding_name(), "listpackex");
                // Redis's listpackex order: by TTL (a newer one before equals), then the rest.
                let order: Vec<&[u8]> = h.iter().map(|(f, _)| f).collect();
                assert_eq!(order, [&b"a"[..], b"d", b"c", b"b"]);
            }
            // HSET drops a TTL, the KEEPTTL form keeps it.
            h.set(b"a", b"w", lim);
            h.set_keep_ttl(b"c", b"w", lim);
            assert_eq!(h.get_with_ttl(b"a"), Some((&b"w"[..], 0)));
            assert_eq!(h.get_with_ttl(b"c"), Some((&b"w"[..], 300)));
            h.check_invariants();
            assert_eq!(h.len_live(301), 2);
            let mut gone = Vec::new();
            assert_eq!(h.remove_due(301, 10, |f| gone.push(f.to_vec())), 2);
            gone.sort();
            assert_eq!(gone, [b"c".to_vec(), b"d".to_vec()]);
            assert_eq!(h.min_ttl(), None);
            h.check_invariants();
            // Conversion and cloning keep TTLs.
            h.set_ttl(b"b", 50);
            let mut t = h.clone();
            t.convert();
            assert_eq!(t.get_with_ttl(b"b"), Some((&b"v"[..], 50)));
            t.check_invariants();
        }
    }

    proptest! {
        /// Both encodings against a BTreeMap, converting at the tiny thresholds.
        #[test]
        fn model(ops in proptest::collection::vec(
            (0u8..3, 0u8..10, proptest::collection::vec(b'a'..=b'z', 0..12)),
            0..200,
        )) {
            let mut h = Hash::new();
            let mut m: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            let mut converted = false;
            for (op, f, v) in ops {
                let field = format!("f{f}").into_bytes();
                match op {
                    0 | 1 => prop_assert_eq!(h.set(&field, &v, LIM), m.insert(field.clone(), v).is_none()),
                    _ => prop_assert_eq!(h.remove(&field), m.remove(&field).is_some()),
                }
                h.check_invariants();
                converted |= !h.is_packed();
                prop_assert_eq!(!h.is_packed(), converted, "never converts back");
                prop_assert_eq!(h.len(), m.len());
                let mut got: Vec<(Vec<u8>, Vec<u8>)> =
                    h.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
                got.sort();
                prop_assert_eq!(&got, &m.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>());
            }
        }
    }
}
