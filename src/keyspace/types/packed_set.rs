//! `PackedSet`: a small set of byte strings in one buffer, each member stored as a LEB128
//! length followed by its bytes, in insertion order. Lookups are linear scans, which beat
//! hashing for the few short members it is used for (Redis 7.2 keeps small sets in a listpack
//! the same way). It saves the per-member node, bucket and allocation of a hash table.

/// Members packed back to back: `varint(len) bytes` each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackedSet {
    buf: Vec<u8>,
    count: u32,
}

/// Reads a LEB128 length at `pos`; returns (length, header size).
#[inline]
fn read_len(buf: &[u8], pos: usize) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    let mut i = pos;
    loop {
        let b = buf[i];
        n |= usize::from(b & 0x7f) << shift;
        i += 1;
        if b & 0x80 == 0 {
            return (n, i - pos);
        }
        shift += 7;
    }
}

#[inline]
fn push_len(buf: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

#[inline]
fn len_size(mut n: usize) -> usize {
    let mut s = 1;
    while n >= 0x80 {
        n >>= 7;
        s += 1;
    }
    s
}

impl PackedSet {
    pub const fn new() -> Self {
        PackedSet {
            buf: Vec::new(),
            count: 0,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.count as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Heap bytes used (allocated capacity).
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Byte range (start of header, end of member) of `m`, if present.
    fn find(&self, m: &[u8]) -> Option<(usize, usize)> {
        let buf = &self.buf;
        let mut pos = 0;
        while pos < buf.len() {
            let (n, h) = read_len(buf, pos);
            let start = pos + h;
            let end = start + n;
            if n == m.len() && &buf[start..end] == m {
                return Some((pos, end));
            }
            pos = end;
        }
        None
    }

    #[inline]
    pub fn contains(&self, m: &[u8]) -> bool {
        self.find(m).is_some()
    }

    /// Appends `m` without checking for a duplicate (the caller knows it is absent).
    pub fn push_new(&mut self, m: &[u8]) {
        self.buf.reserve_exact(len_size(m.len()) + m.len());
        push_len(&mut self.buf, m.len());
        self.buf.extend_from_slice(m);
        self.count += 1;
    }

    /// Adds `m`; false if it was already present.
    pub fn insert(&mut self, m: &[u8]) -> bool {
        if self.contains(m) {
            return false;
        }
        self.push_new(m);
        true
    }

    /// Removes `m`; false if it was not present.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self.find(m) {
            Some((start, end)) => {
                self.buf.drain(start..end);
                self.count -= 1;
                if self.buf.capacity() > 2 * self.buf.len() + 64 {
                    self.buf.shrink_to_fit();
                }
                true
            }
            None => false,
        }
    }

    /// The member at position `i` in insertion order (walks the buffer).
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.iter().nth(i)
    }

    /// Members in insertion order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            pos: 0,
            left: self.len(),
        }
    }

    /// Length of the longest member.
    pub fn max_member_len(&self) -> usize {
        self.iter().map(<[u8]>::len).max().unwrap_or(0)
    }

    /// The count matches the buffer and no member repeats (tests).
    pub fn check_invariants(&self) {
        let members: Vec<&[u8]> = self.iter().collect();
        assert_eq!(members.len(), self.len());
        let mut sorted = members.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), members.len(), "duplicate member");
        let total: usize = members.iter().map(|m| len_size(m.len()) + m.len()).sum();
        assert_eq!(total, self.buf.len());
    }
}

/// Iterator over a packed set's members.
#[derive(Clone)]
pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let (n, h) = read_len(self.buf, self.pos);
        let start = self.pos + h;
        self.pos = start + n;
        self.left -= 1;
        Some(&self.buf[start..start + n])
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn long_members_and_lengths() {
        let mut s = PackedSet::new();
        let long = vec![b'x'; 300];
        assert!(s.insert(b""));
        assert!(s.insert(&long));
        assert!(!s.insert(&long));
        assert!(s.insert(b"a"));
        assert_eq!(s.len(), 3);
        assert_eq!(s.get(1), Some(&long[..]));
        assert_eq!(s.max_member_len(), 300);
        assert!(s.remove(&long));
        assert!(!s.remove(&long));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![&b""[..], &b"a"[..]]);
        s.check_invariants();
    }

    proptest! {
        #[test]
        fn model(ops in proptest::collection::vec((0u8..3, 0usize..40, 0usize..200), 0..300)) {
            let mut s = PackedSet::new();
            let mut m = BTreeSet::new();
            for (op, id, len) in ops {
                let member: Vec<u8> = format!("{id}:").bytes().chain(std::iter::repeat_n(b'z', len % (id + 1))).collect();
                match op {
                    0 | 1 => prop_assert_eq!(s.insert(&member), m.insert(member.clone())),
                    _ => prop_assert_eq!(s.remove(&member), m.remove(&member)),
                }
                s.check_invariants();
                prop_assert_eq!(s.len(), m.len());
                prop_assert_eq!(s.contains(&member), m.contains(&member));
            }
            let got: BTreeSet<Vec<u8>> = s.iter().map(<[u8]>::to_vec).collect();
            prop_assert_eq!(got, m);
        }
    }
}
