//! `PairList`: the compact form of a small hash (what Redis calls a listpack): entries packed
//! back to back in one exact-size allocation (the codec of `blob::entry`, which gives an entry
//! an optional TTL).
//!
//! Layout of the blob content: a 4-byte little-endian word (the entry count, and in its top
//! bit whether the list is "ex", Redis's listpackex: a hash touched by a field-TTL command),
//! then the entries. Lookups scan linearly, as Redis's do; the encoding is only used while the
//! hash is small (hash-max-listpack-entries/-value).
//!
//! Order, as Redis keeps its listpack and listpackex: entries with a TTL first, by TTL (a new
//! one before those with the same TTL), then those without, in insertion order. A plain list
//! has no TTLs, so that is insertion order.

use super::blob::{entry, Blob};

const COUNT_BYTES: usize = 4;
/// The "ex" bit of the count word.
const EX_FLAG: u32 = 1 << 31;

/// Field/value pairs in the order above.
#[derive(Clone, Default, Debug)]
pub struct PairList {
    blob: Blob,
}

impl PairList {
    pub const fn new() -> Self {
        PairList { blob: Blob::EMPTY }
    }

    fn word(&self) -> u32 {
        let b = self.blob.as_slice();
        if b.is_empty() {
            0
        } else {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        }
    }

    /// Number of pairs.
    #[inline]
    pub fn len(&self) -> usize {
        (self.word() & !EX_FLAG) as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.blob.is_empty()
    }

    /// Whether a field-TTL command has touched this list (OBJECT ENCODING "listpackex").
    pub fn is_ex(&self) -> bool {
        self.word() & EX_FLAG != 0
    }

    /// Marks the list "ex" (Redis converts a listpack to listpackex on the first field-TTL
    /// command). An empty list has nowhere to keep the mark; it gets it with its first TTL.
    pub fn make_ex(&mut self) {
        if !self.is_empty() {
            self.set_word(self.len(), true);
        }
    }

    /// Bytes of packed content (for the 1 GiB safety limit Redis applies to listpacks).
    pub fn byte_len(&self) -> usize {
        self.blob.len()
    }

    /// Bytes allocated.
    pub fn alloc_size(&self) -> usize {
        self.blob.alloc_size()
    }

    fn set_word(&mut self, n: usize, ex: bool) {
        let n = u32::try_from(n)
            .ok()
            .filter(|n| n & EX_FLAG == 0)
            .expect("pair count fits 31 bits (the list is capped at 1 GiB)");
        let w = n | if ex { EX_FLAG } else { 0 };
        self.blob.as_mut_slice()[..COUNT_BYTES].copy_from_slice(&w.to_le_bytes());
    }

    fn set_count(&mut self, n: usize) {
        let ex = self.is_ex();
        self.set_word(n, ex);
    }

    /// Entries with their positions.
    fn entries(&self) -> impl Iterator<Item = (usize, entry::At<'_>)> {
        let buf = self.blob.as_slice();
        let mut at = COUNT_BYTES.min(buf.len());
        std::iter::from_fn(move || {
            if at >= buf.len() {
                return None;
            }
            let e = entry::at(buf, at);
            let start = at;
            at = e.end;
            Some((start, e))
        })
    }

    /// (start, entry) of `field`.
    fn find(&self, field: &[u8]) -> Option<(usize, entry::At<'_>)> {
        self.entries().find(|(_, e)| e.field == field)
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.find(field).map(|(_, e)| e.value)
    }

    /// The value and TTL (0: none) of `field`.
    pub fn get_with_ttl(&self, field: &[u8]) -> Option<(&[u8], i64)> {
        self.find(field).map(|(_, e)| (e.value, e.ttl))
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.find(field).is_some()
    }

    /// Where an entry with this TTL goes: before the first entry with a TTL at or after it
    /// (or without one); at the end without a TTL.
    fn place_for(&self, ttl: i64) -> usize {
        if ttl == 0 {
            return COUNT_BYTES.max(self.blob.len());
        }
        self.entries()
            .find(|(_, e)| e.ttl == 0 || e.ttl >= ttl)
            .map_or(self.blob.len().max(COUNT_BYTES), |(start, _)| start)
    }

    fn insert_at(&mut self, pos: usize, field: &[u8], value: &[u8], ttl: i64) {
        let n = self.len();
        let ex = self.is_ex() || ttl > 0;
        if self.blob.is_empty() {
            self.blob.append(&[&[0u8; COUNT_BYTES]]);
        }
        let h = entry::Header::new(field.len(), value.len(), ttl);
        self.blob.splice(pos, pos, &h.parts(field, value));
        self.set_word(n + 1, ex);
    }

    /// Adds a pair without a TTL and without looking for the field (the caller knows it is
    /// absent): at the end.
    pub fn push(&mut self, field: &[u8], value: &[u8]) {
        let end = self.blob.len().max(COUNT_BYTES);
        self.insert_at(end, field, value, 0);
    }

    /// Adds a pair known to be absent with its TTL (0: none), in order (loading).
    pub fn push_with_ttl(&mut self, field: &[u8], value: &[u8], ttl: i64) {
        let pos = self.place_for(ttl);
        self.insert_at(pos, field, value, ttl);
    }

    /// Sets a field (HSET): a new field goes to the end; an existing one loses its TTL unless
    /// `keep_ttl`, and keeps its place unless it loses a TTL (then it moves to the end, with
    /// the fields without one). Returns true if the field was added.
    pub fn set(&mut self, field: &[u8], value: &[u8], keep_ttl: bool) -> bool {
        let Some((start, e)) = self.find(field) else {
            self.push(field, value);
            return true;
        };
        if e.ttl == 0 || keep_ttl {
            let (value_hdr, end) = (e.value_hdr, e.end);
            let h = entry::Header::new(field.len(), value.len(), e.ttl);
            self.blob.splice(value_hdr, end, &h.tail(value));
        } else {
            let end = e.end;
            self.blob.splice(start, end, &[]);
            let n = self.len();
            self.set_count(n - 1);
            self.push(field, value);
        }
        false
    }

    /// Sets or clears (0) the TTL of an existing field, moving it to its place. Returns false
    /// if the field is absent.
    pub fn set_ttl(&mut self, field: &[u8], ttl: i64) -> bool {
        let Some((start, e)) = self.find(field) else {
            return false;
        };
        if e.ttl == ttl {
            return true;
        }
        let (end, value) = (e.end, e.value.to_vec());
        self.blob.splice(start, end, &[]);
        let n = self.len();
        self.set_count(n - 1);
        let pos = self.place_for(ttl);
        self.insert_at(pos, field, &value, ttl);
        true
    }

    /// Removes a field; returns true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let Some((start, e)) = self.find(field) else {
            return false;
        };
        let n = self.len();
        if n == 1 {
            self.blob.clear();
        } else {
            let end = e.end;
            self.blob.splice(start, end, &[]);
            self.set_count(n - 1);
        }
        true
    }

    /// The earliest TTL, if any field has one (the first entry's, by the order).
    pub fn min_ttl(&self) -> Option<i64> {
        self.entries().next().map(|(_, e)| e.ttl).filter(|t| *t > 0)
    }

    /// Pairs in order.
    pub fn iter(&self) -> Iter<'_> {
        let buf = self.blob.as_slice();
        Iter {
            buf,
            at: COUNT_BYTES.min(buf.len()),
        }
    }

    /// Verifies the count, that every entry decodes inside the buffer and the TTL order
    /// (tests).
    pub fn check_invariants(&self) {
        let buf = self.blob.as_slice();
        if buf.is_empty() {
            return;
        }
        assert!(buf.len() >= COUNT_BYTES);
        let mut n = 0;
        let mut last = COUNT_BYTES;
        let mut prev_ttl = 1i64;
        for (_, e) in self.entries() {
            assert!(e.end <= buf.len());
            assert!(e.ttl >= 0);
            if e.ttl > 0 {
                assert!(prev_ttl > 0 && e.ttl >= prev_ttl, "TTL order");
                assert!(self.is_ex(), "a TTL makes the list ex");
            }
            prev_ttl = if e.ttl == 0 { 0 } else { e.ttl };
            last = e.end;
            n += 1;
        }
        assert_eq!(last, buf.len());
        assert_eq!(n, self.len());
        assert!(n > 0, "an empty list holds no allocation");
    }
}

pub struct Iter<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iter<'a> {
    /// The next entry with its TTL (0: none).
    #[inline]
    pub fn next_with_ttl(&mut self) -> Option<(&'a [u8], &'a [u8], i64)> {
        if self.at >= self.buf.len() {
            return None;
        }
        let e = entry::at(self.buf, self.at);
        self.at = e.end;
        Some((e.field, e.value, e.ttl))
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.next_with_ttl().map(|(f, v, _)| (f, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn model_check(p: &PairList, m: &[(Vec<u8>, Vec<u8>)]) {
        p.check_invariants();
        assert_eq!(p.len(), m.len());
        let got: Vec<(Vec<u8>, Vec<u8>)> =
            p.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
        assert_eq!(got, m);
    }

    #[test]
    fn order_is_insertion_order() {
        let mut p = PairList::new();
        assert!(p.set(b"a", b"1", false));
        assert!(p.set(b"b", b"2", false));
        assert!(p.set(b"c", b"3", false));
        assert!(!p.set(b"a", &[b'x'; 300], false));
        assert!(p.remove(b"b"));
        assert!(!p.remove(b"b"));
        model_check(
            &p,
            &[
                (b"a".to_vec(), vec![b'x'; 300]),
                (b"c".to_vec(), b"3".to_vec()),
            ],
        );
        assert_eq!(p.get(b"c"), Some(&b"3"[..]));
        assert!(p.remove(b"a"));
        assert!(p.remove(b"c"));
        assert!(p.is_empty());
        assert_eq!(p.alloc_size(), 0);
        assert!(p.set(b"", b"", false));
        assert_eq!(p.get(b""), Some(&b""[..]));
    }

    proptest! {
        /// Against a Vec of pairs (insertion order, in-place updates).
        #[test]
        fn model(ops in proptest::collection::vec(
            (0u8..3, 0u8..12, proptest::collection::vec(any::<u8>(), 0..200)),
            0..120,
        )) {
            let mut p = PairList::new();
            let mut m: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            for (op, f, v) in ops {
                let field = format!("f{f}").into_bytes();
                match op {
                    0 | 1 => {
                        let added = p.set(&field, &v, false);
                        match m.iter_mut().find(|(k, _)| *k == field) {
                            Some(e) => { prop_assert!(!added); e.1 = v.clone(); }
                            None => { prop_assert!(added); m.push((field.clone(), v.clone())); }
                        }
                    }
                    _ => {
                        let removed = p.remove(&field);
                        let before = m.len();
                        m.retain(|(k, _)| *k != field);
                        prop_assert_eq!(removed, m.len() != before);
                    }
                }
                model_check(&p, &m);
                prop_assert_eq!(p.get(&field), m.iter().find(|(k, _)| *k == field).map(|(_, v)| &v[..]));
            }
        }
    }
}
