//! `Blob`: an owned byte string behind one thin pointer (8 bytes, null when empty), allocated
//! to its exact size, plus the varint length codec the hash encodings share.
//!
//! The allocation holds a varint of the content length followed by the content, so a bucket of
//! the big hash table costs one pointer and a packed hash one pointer plus its bytes. Edits go
//! through `splice`, which reallocates in place where the allocator can and moves only the tail.

use std::alloc::{alloc, dealloc, realloc, Layout};
use std::ptr::{self, NonNull};

/// Longest varint (LEB128 of a u64).
pub const VARINT_MAX: usize = 10;

/// Bytes `encode_varint` writes for `v`.
#[inline]
pub fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Writes `v` as LEB128 into `buf`; returns the number of bytes written.
#[inline]
pub fn encode_varint(mut v: usize, buf: &mut [u8; VARINT_MAX]) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        buf[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    buf[i] = v as u8;
    i + 1
}

/// Reads a LEB128 value at `at`; returns (value, bytes used). The buffers decoded here were
/// written by `encode_varint`, so they are well formed.
#[inline]
pub fn decode_varint(buf: &[u8], at: usize) -> (usize, usize) {
    let first = buf[at];
    if first < 0x80 {
        return (usize::from(first), 1);
    }
    let mut v = 0usize;
    let mut shift = 0;
    let mut i = at;
    loop {
        let b = buf[i];
        v |= usize::from(b & 0x7f) << shift;
        i += 1;
        if b < 0x80 {
            return (v, i - at);
        }
        shift += 7;
    }
}

/// An exact-size byte buffer behind a thin pointer.
pub struct Blob {
    ptr: Option<NonNull<u8>>,
}

// SAFETY: a Blob uniquely owns its allocation, like Box<[u8]>.
unsafe impl Send for Blob {}
// SAFETY: shared access only reads.
unsafe impl Sync for Blob {}

const _: () = assert!(std::mem::size_of::<Blob>() == 8);

fn layout(size: usize) -> Layout {
    Layout::array::<u8>(size).expect("blob too large")
}

impl Blob {
    pub const EMPTY: Blob = Blob { ptr: None };

    pub fn new(content: &[u8]) -> Blob {
        let mut b = Blob::EMPTY;
        b.splice(0, 0, &[content]);
        b
    }

    /// (content length, header length).
    #[inline]
    fn header(&self) -> (usize, usize) {
        match self.ptr {
            None => (0, 0),
            Some(p) => {
                // SAFETY: a non-null blob starts with a complete varint written by `splice`;
                // decoding reads at most VARINT_MAX bytes, all within the allocation because
                // the varint is followed by `len` content bytes and decoding stops at its end.
                let mut v = 0usize;
                let mut shift = 0;
                let mut i = 0;
                loop {
                    let b = unsafe { *p.as_ptr().add(i) };
                    v |= usize::from(b & 0x7f) << shift;
                    i += 1;
                    if b < 0x80 {
                        return (v, i);
                    }
                    shift += 7;
                }
            }
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.header().0
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ptr.is_none()
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self.ptr {
            None => &[],
            Some(p) => {
                let (len, h) = self.header();
                // SAFETY: the allocation holds `h` header bytes then `len` initialised bytes.
                unsafe { std::slice::from_raw_parts(p.as_ptr().add(h), len) }
            }
        }
    }

    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        match self.ptr {
            None => &mut [],
            Some(p) => {
                let (len, h) = self.header();
                // SAFETY: as in `as_slice`, with unique access through &mut self.
                unsafe { std::slice::from_raw_parts_mut(p.as_ptr().add(h), len) }
            }
        }
    }

    /// Bytes allocated (header and content).
    pub fn alloc_size(&self) -> usize {
        match self.ptr {
            None => 0,
            Some(_) => {
                let (len, h) = self.header();
                len + h
            }
        }
    }

    /// Replaces content bytes `start..end` with the concatenation of `parts`. The parts must not
    /// point into this blob (the borrow checker sees to that).
    pub fn splice(&mut self, start: usize, end: usize, parts: &[&[u8]]) {
        let (old_len, old_h) = self.header();
        assert!(start <= end && end <= old_len, "splice out of range");
        let ins: usize = parts.iter().map(|p| p.len()).sum();
        let new_len = old_len - (end - start) + ins;
        let old_total = old_len + old_h;
        if new_len == 0 {
            if let Some(p) = self.ptr.take() {
                // SAFETY: allocated with `old_total` bytes, align 1.
                unsafe { dealloc(p.as_ptr(), layout(old_total)) };
            }
            return;
        }
        let new_h = varint_len(new_len);
        let new_total = new_len + new_h;
        let tail = old_len - end;
        // SAFETY: every copy below stays inside the (re)allocated buffer: the old layout is
        // [old_h][prefix start][replaced end-start][tail], the new one
        // [new_h][prefix start][inserted ins][tail]; moves use `ptr::copy` (memmove) and are
        // ordered so that no source is overwritten before it is read (see each branch).
        unsafe {
            let base: *mut u8 = match self.ptr {
                None => {
                    let p = alloc(layout(new_total));
                    if p.is_null() {
                        std::alloc::handle_alloc_error(layout(new_total));
                    }
                    p
                }
                Some(p) if new_total > old_total => {
                    let np = realloc(p.as_ptr(), layout(old_total), new_total);
                    if np.is_null() {
                        std::alloc::handle_alloc_error(layout(new_total));
                    }
                    // Growing: everything moves right. The tail first (its destination is the
                    // rightmost), then the prefix, whose destination ends before the tail's.
                    ptr::copy(np.add(old_h + end), np.add(new_h + start + ins), tail);
                    if new_h != old_h {
                        ptr::copy(np.add(old_h), np.add(new_h), start);
                    }
                    np
                }
                Some(p) => {
                    let p = p.as_ptr();
                    // Shrinking (or same size): everything moves left. The prefix first (its
                    // destination ends before the tail's source), then the tail.
                    if new_h != old_h {
                        ptr::copy(p.add(old_h), p.add(new_h), start);
                    }
                    ptr::copy(p.add(old_h + end), p.add(new_h + start + ins), tail);
                    if new_total != old_total {
                        let np = realloc(p, layout(old_total), new_total);
                        if np.is_null() {
                            std::alloc::handle_alloc_error(layout(new_total));
                        }
                        np
                    } else {
                        p
                    }
                }
            };
            let mut at = base.add(new_h + start);
            for part in parts {
                ptr::copy_nonoverlapping(part.as_ptr(), at, part.len());
                at = at.add(part.len());
            }
            let mut hb = [0u8; VARINT_MAX];
            let n = encode_varint(new_len, &mut hb);
            debug_assert_eq!(n, new_h);
            ptr::copy_nonoverlapping(hb.as_ptr(), base, n);
            self.ptr = Some(NonNull::new_unchecked(base));
        }
    }

    /// Appends the concatenation of `parts`.
    #[inline]
    pub fn append(&mut self, parts: &[&[u8]]) {
        let n = self.len();
        self.splice(n, n, parts);
    }

    /// Frees the content.
    pub fn clear(&mut self) {
        let n = self.len();
        self.splice(0, n, &[]);
    }
}

impl Drop for Blob {
    fn drop(&mut self) {
        self.clear();
    }
}

impl Clone for Blob {
    fn clone(&self) -> Self {
        Blob::new(self.as_slice())
    }
}

impl Default for Blob {
    fn default() -> Self {
        Blob::EMPTY
    }
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn varints() {
        for v in [0usize, 1, 127, 128, 300, 16383, 16384, usize::MAX] {
            let mut b = [0u8; VARINT_MAX];
            let n = encode_varint(v, &mut b);
            assert_eq!(n, varint_len(v));
            assert_eq!(decode_varint(&b, 0), (v, n));
        }
    }

    #[test]
    fn header_growth_and_shrink() {
        let mut b = Blob::new(b"abc");
        let big = vec![7u8; 200];
        b.splice(1, 2, &[&big]);
        assert_eq!(b.len(), 202);
        assert_eq!(&b.as_slice()[..1], b"a");
        assert_eq!(&b.as_slice()[201..], b"c");
        b.splice(1, 201, &[b"B"]);
        assert_eq!(b.as_slice(), b"aBc");
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.as_slice(), b"");
    }

    proptest! {
        #[test]
        fn model(ops in proptest::collection::vec(
            (any::<u16>(), any::<u16>(), proptest::collection::vec(any::<u8>(), 0..300), 0usize..3),
            0..60,
        )) {
            let mut b = Blob::EMPTY;
            let mut m: Vec<u8> = Vec::new();
            for (x, y, data, nparts) in ops {
                let (mut s, mut e) = (x as usize % (m.len() + 1), y as usize % (m.len() + 1));
                if s > e {
                    std::mem::swap(&mut s, &mut e);
                }
                let half = data.len() / 2;
                let parts: Vec<&[u8]> = match nparts {
                    0 => vec![],
                    1 => vec![&data[..]],
                    _ => vec![&data[..half], &data[half..]],
                };
                b.splice(s, e, &parts);
                let ins: Vec<u8> = parts.concat();
                m.splice(s..e, ins);
                prop_assert_eq!(b.as_slice(), &m[..]);
                prop_assert_eq!(b.is_empty(), m.is_empty());
                let c = b.clone();
                prop_assert_eq!(c.as_slice(), &m[..]);
            }
        }
    }
}

/// The entry codec both hash encodings share: `varint(field len << 1 | has TTL) field
/// varint(value len) value [varint(TTL)]`. A field without a TTL costs nothing extra; one with
/// a TTL (absolute Unix time in ms, always > 0) six bytes or so.
pub mod entry {
    use super::{decode_varint, encode_varint, VARINT_MAX};

    /// One decoded entry and where its parts sit.
    #[derive(Debug, Clone, Copy)]
    pub struct At<'a> {
        pub field: &'a [u8],
        pub value: &'a [u8],
        /// Absolute expiry in ms, 0 for none.
        pub ttl: i64,
        /// Start of the value's length varint.
        pub value_hdr: usize,
        pub end: usize,
    }

    /// Decodes the entry starting at `at`. The buffers decoded here were written by `Header`,
    /// so they are well formed.
    #[inline]
    pub fn at(buf: &[u8], at: usize) -> At<'_> {
        let (tag, n) = decode_varint(buf, at);
        let fstart = at + n;
        let fend = fstart + (tag >> 1);
        let (vlen, n) = decode_varint(buf, fend);
        let vstart = fend + n;
        let vend = vstart + vlen;
        let (ttl, end) = if tag & 1 == 1 {
            let (t, n) = decode_varint(buf, vend);
            (t as i64, vend + n)
        } else {
            (0, vend)
        };
        At {
            field: &buf[fstart..fend],
            value: &buf[vstart..vend],
            ttl,
            value_hdr: fend,
            end,
        }
    }

    /// The encoded length fields of one entry, to splice in with its field and value.
    pub struct Header {
        field: [u8; VARINT_MAX],
        field_len: usize,
        value: [u8; VARINT_MAX],
        value_len: usize,
        ttl: [u8; VARINT_MAX],
        ttl_len: usize,
    }

    impl Header {
        /// `ttl` 0: none.
        #[inline]
        pub fn new(field_len: usize, value_len: usize, ttl: i64) -> Header {
            debug_assert!(ttl >= 0);
            let mut h = Header {
                field: [0; VARINT_MAX],
                field_len: 0,
                value: [0; VARINT_MAX],
                value_len: 0,
                ttl: [0; VARINT_MAX],
                ttl_len: 0,
            };
            h.field_len = encode_varint(field_len << 1 | usize::from(ttl > 0), &mut h.field);
            h.value_len = encode_varint(value_len, &mut h.value);
            if ttl > 0 {
                h.ttl_len = encode_varint(ttl as usize, &mut h.ttl);
            }
            h
        }

        /// The whole entry as parts for `Blob::splice`/`append`.
        #[inline]
        pub fn parts<'a>(&'a self, field: &'a [u8], value: &'a [u8]) -> [&'a [u8]; 5] {
            [
                &self.field[..self.field_len],
                field,
                &self.value[..self.value_len],
                value,
                &self.ttl[..self.ttl_len],
            ]
        }

        /// The entry from its value on (value length, value, TTL), to replace
        /// `value_hdr..end` of an entry whose field keeps its TTL flag.
        #[inline]
        pub fn tail<'a>(&'a self, value: &'a [u8]) -> [&'a [u8]; 3] {
            [
                &self.value[..self.value_len],
                value,
                &self.ttl[..self.ttl_len],
            ]
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn round_trip() {
            for (f, v, ttl) in [
                (&b""[..], &b""[..], 0i64),
                (b"field", b"value", 1_780_000_000_000),
                (&[7u8; 200][..], &[1u8; 70000][..], 0),
                (b"f", b"", 1),
            ] {
                let h = super::Header::new(f.len(), v.len(), ttl);
                let buf: Vec<u8> = h.parts(f, v).concat();
                let e = super::at(&buf, 0);
                assert_eq!((e.field, e.value, e.ttl, e.end), (f, v, ttl, buf.len()));
            }
        }
    }
}
