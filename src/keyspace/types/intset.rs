//! `IntSet`: Redis's intset. A sorted array of distinct integers stored at the narrowest width
//! (16, 32 or 64 bits) that holds every member; lookups are binary searches. Adding a value
//! that does not fit the current width upgrades the whole array; the width never shrinks (as in
//! Redis, where removal keeps the encoding).

/// A sorted set of distinct i64 at 16-, 32- or 64-bit width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntSet {
    W16(Vec<i16>),
    W32(Vec<i32>),
    W64(Vec<i64>),
}

impl Default for IntSet {
    fn default() -> Self {
        Self::new()
    }
}

/// Width in bytes needed to hold `v` (Redis's _intsetValueEncoding).
#[inline]
fn width_of(v: i64) -> u8 {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

#[inline]
fn insert_sorted<T: Ord + Copy>(v: &mut Vec<T>, x: T) -> bool {
    match v.binary_search(&x) {
        Ok(_) => false,
        Err(i) => {
            v.insert(i, x);
            true
        }
    }
}

#[inline]
fn remove_sorted<T: Ord + Copy>(v: &mut Vec<T>, x: T) -> bool {
    match v.binary_search(&x) {
        Ok(i) => {
            v.remove(i);
            true
        }
        Err(_) => false,
    }
}

impl IntSet {
    /// The intset as Redis lays it out (and saves it in RDB files): encoding (the width),
    /// length, then the members little-endian.
    pub fn to_redis_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.len() * self.width() as usize);
        out.extend_from_slice(&u32::from(self.width()).to_le_bytes());
        out.extend_from_slice(&(self.len() as u32).to_le_bytes());
        match self {
            IntSet::W16(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            IntSet::W32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            IntSet::W64(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        }
        out
    }

    /// An empty intset at 16-bit width (Redis's intsetNew).
    pub const fn new() -> Self {
        IntSet::W16(Vec::new())
    }

    #[inline]
    pub fn len(&self) -> usize {
        match self {
            IntSet::W16(v) => v.len(),
            IntSet::W32(v) => v.len(),
            IntSet::W64(v) => v.len(),
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes per member: 2, 4 or 8.
    pub fn width(&self) -> u8 {
        match self {
            IntSet::W16(_) => 2,
            IntSet::W32(_) => 4,
            IntSet::W64(_) => 8,
        }
    }

    /// Heap bytes of the member array (allocated capacity).
    pub fn heap_bytes(&self) -> usize {
        match self {
            IntSet::W16(v) => v.capacity() * 2,
            IntSet::W32(v) => v.capacity() * 4,
            IntSet::W64(v) => v.capacity() * 8,
        }
    }

    pub fn contains(&self, x: i64) -> bool {
        if width_of(x) > self.width() {
            return false;
        }
        // The casts are lossless: x fits the current width (checked above).
        match self {
            IntSet::W16(v) => v.binary_search(&(x as i16)).is_ok(),
            IntSet::W32(v) => v.binary_search(&(x as i32)).is_ok(),
            IntSet::W64(v) => v.binary_search(&x).is_ok(),
        }
    }

    /// Widens the array so that values of `w` bytes fit (Redis's intsetUpgradeAndAdd).
    fn upgrade(&mut self, w: u8) {
        if w <= self.width() {
            return;
        }
        let wide: Vec<i64> = self.iter().collect();
        *self = if w == 4 {
            IntSet::W32(wide.into_iter().map(|x| x as i32).collect())
        } else {
            IntSet::W64(wide)
        };
    }

    /// Adds `x`; false if it was already present.
    pub fn insert(&mut self, x: i64) -> bool {
        let w = width_of(x);
        if w > self.width() {
            // A value that needs a wider encoding is smaller or larger than every member.
            self.upgrade(w);
        }
        match self {
            IntSet::W16(v) => insert_sorted(v, x as i16),
            IntSet::W32(v) => insert_sorted(v, x as i32),
            IntSet::W64(v) => insert_sorted(v, x),
        }
    }

    /// Removes `x`; false if it was not present.
    pub fn remove(&mut self, x: i64) -> bool {
        if width_of(x) > self.width() {
            return false;
        }
        match self {
            IntSet::W16(v) => remove_sorted(v, x as i16),
            IntSet::W32(v) => remove_sorted(v, x as i32),
            IntSet::W64(v) => remove_sorted(v, x),
        }
    }

    /// The member at sorted position `i` (panics if out of range: callers index below `len`).
    #[inline]
    pub fn get(&self, i: usize) -> i64 {
        match self {
            IntSet::W16(v) => i64::from(v[i]),
            IntSet::W32(v) => i64::from(v[i]),
            IntSet::W64(v) => v[i],
        }
    }

    /// Members in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            set: self,
            pos: 0,
            end: self.len(),
        }
    }

    /// Releases spare capacity.
    pub fn shrink_to_fit(&mut self) {
        match self {
            IntSet::W16(v) => v.shrink_to_fit(),
            IntSet::W32(v) => v.shrink_to_fit(),
            IntSet::W64(v) => v.shrink_to_fit(),
        }
    }

    /// Strictly ascending members (tests).
    pub fn check_invariants(&self) {
        let v: Vec<i64> = self.iter().collect();
        for w in v.windows(2) {
            assert!(w[0] < w[1], "intset not strictly ascending: {w:?}");
        }
    }
}

/// Ascending iterator over an intset.
#[derive(Clone)]
pub struct Iter<'a> {
    set: &'a IntSet,
    pos: usize,
    end: usize,
}

impl Iterator for Iter<'_> {
    type Item = i64;

    #[inline]
    fn next(&mut self) -> Option<i64> {
        if self.pos >= self.end {
            return None;
        }
        let v = self.set.get(self.pos);
        self.pos += 1;
        Some(v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.pos;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn widths_upgrade_and_stay() {
        let mut s = IntSet::new();
        assert_eq!(s.width(), 2);
        assert!(s.insert(5));
        assert!(!s.insert(5));
        assert!(s.insert(-32768));
        assert_eq!(s.width(), 2);
        assert!(s.insert(32768));
        assert_eq!(s.width(), 4);
        assert!(s.insert(i64::from(i32::MIN) - 1));
        assert_eq!(s.width(), 8);
        assert!(s.insert(i64::MAX));
        assert!(s.insert(i64::MIN));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![
                i64::MIN,
                i64::from(i32::MIN) - 1,
                -32768,
                5,
                32768,
                i64::MAX
            ]
        );
        for x in [i64::MIN, i64::MAX, 32768, i64::from(i32::MIN) - 1] {
            assert!(s.remove(x));
        }
        assert_eq!(s.width(), 8);
        assert!(s.contains(5) && !s.contains(6));
        s.check_invariants();
    }

    #[test]
    fn narrow_set_rejects_wide_values() {
        let mut s = IntSet::new();
        s.insert(1);
        assert!(!s.contains(1 << 40));
        assert!(!s.remove(1 << 40));
        assert_eq!(s.width(), 2);
    }

    fn value() -> impl Strategy<Value = i64> {
        prop_oneof![
            -40i64..40,
            -70000i64..70000,
            any::<i32>().prop_map(i64::from),
            any::<i64>(),
            Just(i64::MIN),
            Just(i64::MAX),
        ]
    }

    proptest! {
        #[test]
        fn model(ops in proptest::collection::vec((0u8..3, value()), 0..400)) {
            let mut s = IntSet::new();
            let mut m = BTreeSet::new();
            let mut max_width = 2;
            for (op, x) in ops {
                match op {
                    0 | 1 => {
                        prop_assert_eq!(s.insert(x), m.insert(x));
                        max_width = max_width.max(width_of(x));
                    }
                    _ => prop_assert_eq!(s.remove(x), m.remove(&x)),
                }
                s.check_invariants();
                prop_assert_eq!(s.len(), m.len());
                prop_assert_eq!(s.width(), max_width);
                prop_assert_eq!(s.contains(x), m.contains(&x));
            }
            prop_assert_eq!(s.iter().collect::<Vec<_>>(), m.iter().copied().collect::<Vec<_>>());
            for (i, x) in m.iter().enumerate() {
                prop_assert_eq!(s.get(i), *x);
            }
        }
    }
}
