//! `PairList`: the compact form of a small hash (what Redis calls a listpack): field/value pairs
//! packed back to back in one exact-size allocation, in insertion order.
//!
//! Layout of the blob content: a 4-byte little-endian pair count, then per pair
//! `varint(field len) field varint(value len) value`. Lookups scan linearly, as Redis's do; the
//! encoding is only used while the hash is small (hash-max-listpack-entries/-value).

use super::blob::{decode_varint, encode_varint, Blob, VARINT_MAX};

const COUNT_BYTES: usize = 4;

/// Where a pair sits in the content.
#[derive(Debug, Clone, Copy)]
struct Pos {
    /// Start of the pair (its field length varint).
    start: usize,
    /// Start of the value's length varint.
    value_hdr: usize,
    /// End of the pair.
    end: usize,
}

/// Field/value pairs in insertion order.
#[derive(Clone, Default, Debug)]
pub struct PairList {
    blob: Blob,
}

/// Decodes the pair starting at `at`: (field, value, end).
#[inline]
fn pair_at(buf: &[u8], at: usize) -> (&[u8], &[u8], usize) {
    let (flen, n) = decode_varint(buf, at);
    let fstart = at + n;
    let fend = fstart + flen;
    let (vlen, n) = decode_varint(buf, fend);
    let vstart = fend + n;
    let vend = vstart + vlen;
    (&buf[fstart..fend], &buf[vstart..vend], vend)
}

impl PairList {
    pub const fn new() -> Self {
        PairList { blob: Blob::EMPTY }
    }

    /// Number of pairs.
    #[inline]
    pub fn len(&self) -> usize {
        let b = self.blob.as_slice();
        if b.is_empty() {
            0
        } else {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of packed content (for the 1 GiB safety limit Redis applies to listpacks).
    pub fn byte_len(&self) -> usize {
        self.blob.len()
    }

    /// Bytes allocated.
    pub fn alloc_size(&self) -> usize {
        self.blob.alloc_size()
    }

    fn set_count(&mut self, n: usize) {
        let n = u32::try_from(n).expect("pair count fits u32 (the list is capped at 1 GiB)");
        self.blob.as_mut_slice()[..COUNT_BYTES].copy_from_slice(&n.to_le_bytes());
    }

    fn find(&self, field: &[u8]) -> Option<Pos> {
        let buf = self.blob.as_slice();
        let mut at = COUNT_BYTES.min(buf.len());
        while at < buf.len() {
            let (flen, n) = decode_varint(buf, at);
            let fstart = at + n;
            let fend = fstart + flen;
            let (vlen, n) = decode_varint(buf, fend);
            let end = fend + n + vlen;
            if flen == field.len() && &buf[fstart..fend] == field {
                return Some(Pos {
                    start: at,
                    value_hdr: fend,
                    end,
                });
            }
            at = end;
        }
        None
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        let p = self.find(field)?;
        let buf = self.blob.as_slice();
        let (vlen, n) = decode_varint(buf, p.value_hdr);
        Some(&buf[p.value_hdr + n..p.value_hdr + n + vlen])
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.find(field).is_some()
    }

    /// Appends a pair without looking for the field (the caller knows it is absent).
    pub fn push(&mut self, field: &[u8], value: &[u8]) {
        let n = self.len();
        let mut fh = [0u8; VARINT_MAX];
        let mut vh = [0u8; VARINT_MAX];
        let fl = encode_varint(field.len(), &mut fh);
        let vl = encode_varint(value.len(), &mut vh);
        if self.blob.is_empty() {
            self.blob.append(&[&[0u8; COUNT_BYTES]]);
        }
        self.blob.append(&[&fh[..fl], field, &vh[..vl], value]);
        self.set_count(n + 1);
    }

    /// Sets a field: a new field goes to the end, an existing one keeps its place. Returns true
    /// if the field was added.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        match self.find(field) {
            Some(p) => {
                let mut vh = [0u8; VARINT_MAX];
                let vl = encode_varint(value.len(), &mut vh);
                self.blob.splice(p.value_hdr, p.end, &[&vh[..vl], value]);
                false
            }
            None => {
                self.push(field, value);
                true
            }
        }
    }

    /// Removes a field; returns true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let Some(p) = self.find(field) else {
            return false;
        };
        let n = self.len();
        if n == 1 {
            self.blob.clear();
        } else {
            self.blob.splice(p.start, p.end, &[]);
            self.set_count(n - 1);
        }
        true
    }

    /// Pairs in order.
    pub fn iter(&self) -> Iter<'_> {
        let buf = self.blob.as_slice();
        Iter {
            buf,
            at: COUNT_BYTES.min(buf.len()),
        }
    }

    /// Verifies the count and that every pair decodes inside the buffer (tests).
    pub fn check_invariants(&self) {
        let buf = self.blob.as_slice();
        if buf.is_empty() {
            return;
        }
        assert!(buf.len() >= COUNT_BYTES);
        let mut at = COUNT_BYTES;
        let mut n = 0;
        while at < buf.len() {
            let (_, _, end) = pair_at(buf, at);
            assert!(end <= buf.len());
            at = end;
            n += 1;
        }
        assert_eq!(at, buf.len());
        assert_eq!(n, self.len());
        assert!(n > 0, "an empty list holds no allocation");
    }
}

pub struct Iter<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.buf.len() {
            return None;
        }
        let (f, v, end) = pair_at(self.buf, self.at);
        self.at = end;
        Some((f, v))
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
        assert!(p.set(b"a", b"1"));
        assert!(p.set(b"b", b"2"));
        assert!(p.set(b"c", b"3"));
        assert!(!p.set(b"a", &[b'x'; 300]));
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
        assert!(p.set(b"", b""));
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
                        let added = p.set(&field, &v);
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
