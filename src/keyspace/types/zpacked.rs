//! The compact sorted-set representation (`listpack` in OBJECT ENCODING): one byte buffer of
//! entries in (score, member) order, walked linearly in both directions, as Redis's listpack.
//!
//! Entry layout: `score` (8 bytes, f64 little-endian) | member length (LEB128 varint) | member
//! bytes | back-length (the entry's length up to here, as a varint written backwards so it can
//! be read from its last byte). Small sets stay in one allocation with 10 bytes of overhead per
//! member plus its bytes.
//!
//! Redis stores listpack scores as text printed by `d2string`, whose integer path turns -0
//! into "0"; so a zero score is stored as +0 here too and reads back as "0", as in Redis.
//! Data only: no RESP, no clock.

/// Redis refuses to grow a listpack past 1 GiB (LISTPACK_MAX_SAFETY_SIZE).
pub const MAX_SAFE_BYTES: usize = 1 << 30;

const SCORE: usize = 8;

#[derive(Clone, Default, PartialEq)]
pub struct Packed {
    buf: Vec<u8>,
    count: usize,
}

impl Packed {
    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }
}

fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn push_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` so that reading backwards from the end recovers it: the last byte holds the
/// low 7 bits, and a set high bit means more bytes lie to the left.
fn push_back_varint(out: &mut Vec<u8>, v: usize) {
    let n = varint_len(v);
    let start = out.len();
    out.resize(start + n, 0);
    let mut rest = v;
    for i in 0..n {
        let mut b = (rest & 0x7f) as u8;
        rest >>= 7;
        if i + 1 < n {
            b |= 0x80;
        }
        out[start + n - 1 - i] = b;
    }
}

/// Bytes one entry with a member of `len` bytes takes.
fn entry_size(len: usize) -> usize {
    let body = SCORE + varint_len(len) + len;
    body + varint_len(body)
}

fn encode_entry(out: &mut Vec<u8>, score: f64, member: &[u8]) {
    // d2string prints -0 as "0" (integer path), so the listpack never keeps a negative zero.
    let score = if score == 0.0 { 0.0 } else { score };
    let start = out.len();
    out.extend_from_slice(&score.to_le_bytes());
    push_varint(out, member.len());
    out.extend_from_slice(member);
    let body = out.len() - start;
    push_back_varint(out, body);
}

/// A decoded entry: its score, where its member lies and where the next entry starts.
struct Entry {
    score: f64,
    member: std::ops::Range<usize>,
    next: usize,
}

impl Packed {
    pub fn new() -> Self {
        Packed::default()
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.count
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the buffer in bytes.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Whether adding a member of `len` bytes keeps the buffer under Redis's safety limit.
    pub fn safe_to_add(&self, len: usize) -> bool {
        self.buf.len() + entry_size(len) <= MAX_SAFE_BYTES
    }

    fn decode(&self, pos: usize) -> Entry {
        let b = &self.buf;
        let score = f64::from_le_bytes(b[pos..pos + SCORE].try_into().expect("8 bytes"));
        let mut p = pos + SCORE;
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let c = b[p];
            p += 1;
            len |= usize::from(c & 0x7f) << shift;
            shift += 7;
            if c & 0x80 == 0 {
                break;
            }
        }
        let member = p..p + len;
        let body = p + len - pos;
        Entry {
            score,
            member,
            next: pos + body + varint_len(body),
        }
    }

    /// Member and score of the entry at byte offset `pos`.
    #[inline]
    pub fn get(&self, pos: usize) -> (&[u8], f64) {
        let e = self.decode(pos);
        (&self.buf[e.member], e.score)
    }

    /// Offset of the first entry.
    pub fn first(&self) -> Option<usize> {
        (self.count > 0).then_some(0)
    }

    /// Offset of the last entry.
    pub fn last(&self) -> Option<usize> {
        self.prev(self.buf.len())
    }

    /// Offset of the entry after the one at `pos`.
    pub fn next(&self, pos: usize) -> Option<usize> {
        let n = self.decode(pos).next;
        (n < self.buf.len()).then_some(n)
    }

    /// Offset of the entry before the one at `pos` (`pos` may be the end of the buffer).
    pub fn prev(&self, pos: usize) -> Option<usize> {
        if pos == 0 {
            return None;
        }
        let mut p = pos;
        let mut body = 0usize;
        let mut shift = 0;
        loop {
            p -= 1;
            let c = self.buf[p];
            body |= usize::from(c & 0x7f) << shift;
            shift += 7;
            if c & 0x80 == 0 {
                break;
            }
        }
        Some(p - body)
    }

    /// Entries in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            p: self,
            pos: self.first(),
        }
    }

    /// Offset of the entry at 0-based `rank`.
    pub fn at_rank(&self, rank: usize) -> Option<usize> {
        if rank >= self.count {
            return None;
        }
        if rank <= self.count / 2 {
            let mut pos = 0;
            for _ in 0..rank {
                pos = self.decode(pos).next;
            }
            Some(pos)
        } else {
            let mut pos = self.last()?;
            for _ in 0..(self.count - 1 - rank) {
                pos = self.prev(pos)?;
            }
            Some(pos)
        }
    }

    /// (offset, 0-based rank, score) of `member`.
    pub fn find(&self, member: &[u8]) -> Option<(usize, usize, f64)> {
        let mut pos = 0;
        let mut rank = 0;
        while pos < self.buf.len() {
            let e = self.decode(pos);
            if &self.buf[e.member] == member {
                return Some((pos, rank, e.score));
            }
            pos = e.next;
            rank += 1;
        }
        None
    }

    /// Inserts a member that is not present, at its place by (score, member).
    pub fn insert(&mut self, score: f64, member: &[u8]) {
        debug_assert!(!score.is_nan());
        debug_assert!(self.find(member).is_none());
        let mut pos = 0;
        while pos < self.buf.len() {
            let e = self.decode(pos);
            if e.score > score || (e.score == score && &self.buf[e.member] > member) {
                break;
            }
            pos = e.next;
        }
        let mut entry = Vec::with_capacity(entry_size(member.len()));
        encode_entry(&mut entry, score, member);
        self.buf.splice(pos..pos, entry);
        self.count += 1;
    }

    /// Appends an entry that sorts after every present one (building from sorted input).
    pub fn push_sorted(&mut self, score: f64, member: &[u8]) {
        encode_entry(&mut self.buf, score, member);
        self.count += 1;
    }

    /// Removes the entry at `pos`.
    pub fn remove_at(&mut self, pos: usize) {
        let end = self.decode(pos).next;
        self.buf.drain(pos..end);
        self.count -= 1;
    }

    /// Removes `n` entries starting at `pos`.
    pub fn remove_run(&mut self, pos: usize, n: usize) {
        let mut end = pos;
        for _ in 0..n {
            end = self.decode(end).next;
        }
        self.buf.drain(pos..end);
        self.count -= n;
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (pos, _, score) = self.find(member)?;
        self.remove_at(pos);
        Some(score)
    }

    /// Releases unused capacity after removals.
    pub fn shrink(&mut self) {
        if self.buf.capacity() > self.buf.len() * 2 {
            self.buf.shrink_to_fit();
        }
    }

    /// Checks the buffer decodes to `count` entries in strict (score, member) order, walking
    /// both ways (tests).
    pub fn check_invariants(&self) {
        let mut forward = Vec::new();
        let mut pos = 0;
        while pos < self.buf.len() {
            let e = self.decode(pos);
            assert!(!e.score.is_nan());
            assert!(
                !(e.score == 0.0 && e.score.is_sign_negative()),
                "negative zero stored"
            );
            forward.push(pos);
            pos = e.next;
        }
        assert_eq!(pos, self.buf.len());
        assert_eq!(forward.len(), self.count);
        let mut backward = Vec::new();
        let mut p = self.last();
        while let Some(q) = p {
            backward.push(q);
            p = self.prev(q);
        }
        backward.reverse();
        assert_eq!(forward, backward);
        for w in forward.windows(2) {
            let (a, sa) = self.get(w[0]);
            let (b, sb) = self.get(w[1]);
            assert!(sa < sb || (sa == sb && a < b), "order");
        }
    }
}

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(m, s)| (String::from_utf8_lossy(m), s)))
            .finish()
    }
}

pub struct Iter<'a> {
    p: &'a Packed,
    pos: Option<usize>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        let pos = self.pos?;
        let e = self.p.decode(pos);
        self.pos = (e.next < self.p.buf.len()).then_some(e.next);
        Some((&self.p.buf[e.member], e.score))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn varints_both_ways() {
        for v in [0usize, 1, 127, 128, 300, 16383, 16384, 70000] {
            let mut buf = vec![0u8; v];
            push_back_varint(&mut buf, v);
            assert_eq!(buf.len(), v + varint_len(v));
            let p = Packed { buf, count: 0 };
            assert_eq!(p.prev(p.buf.len()), Some(0), "{v}");
        }
    }

    #[test]
    fn long_members_and_negative_zero() {
        let mut p = Packed::new();
        let long = vec![b'x'; 300];
        p.insert(1.5, &long);
        p.insert(-0.0, b"z");
        p.insert(f64::INFINITY, b"");
        p.check_invariants();
        let v: Vec<(Vec<u8>, f64)> = p.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        assert_eq!(v[0], (b"z".to_vec(), 0.0));
        assert!(v[0].1.is_sign_positive());
        assert_eq!(v[1].0, long);
        assert_eq!(v[2], (Vec::new(), f64::INFINITY));
        assert_eq!(p.find(&long).map(|f| f.1), Some(1));
        assert_eq!(p.remove(&long), Some(1.5));
        p.check_invariants();
        assert_eq!(p.len(), 2);
    }

    proptest! {
        #[test]
        fn model(ops in proptest::collection::vec((0u8..3, 0u8..60, -4i8..4), 0..200)) {
            let mut p = Packed::new();
            let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            for (op, k, s) in ops {
                // Member lengths cross the one-byte varint boundary.
                let key = vec![b'a' + k % 26; usize::from(k) * 3];
                let score = f64::from(s) * 0.5;
                match op {
                    0 => {
                        if let std::collections::btree_map::Entry::Vacant(e) = model.entry(key.clone()) {
                            p.insert(score, &key);
                            e.insert(score);
                        }
                    }
                    1 => prop_assert_eq!(p.remove(&key), model.remove(&key)),
                    _ => {
                        if let Some(pos) = p.first() {
                            let (m, _) = p.get(pos);
                            model.remove(m);
                            p.remove_at(pos);
                        }
                    }
                }
                p.check_invariants();
                let mut want: Vec<(Vec<u8>, f64)> = model.iter().map(|(k, s)| (k.clone(), *s)).collect();
                want.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
                let got: Vec<(Vec<u8>, f64)> = p.iter().map(|(m, s)| (m.to_vec(), s)).collect();
                prop_assert_eq!(&got, &want);
                for (i, (k, s)) in want.iter().enumerate() {
                    let (pos, rank, score) = p.find(k).unwrap();
                    prop_assert_eq!((rank, score), (i, *s));
                    prop_assert_eq!(p.at_rank(i), Some(pos));
                }
            }
        }
    }
}
