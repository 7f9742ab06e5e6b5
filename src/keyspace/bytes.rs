//! `CompactBytes`: a 16-byte owned byte string that keeps up to 15 bytes inline.
//!
//! Keys and string values are mostly short ("user:1000", "key:12345", integers), so storing
//! them inside the dict node instead of in a separate allocation saves an allocation per key.
//! 16 bytes rather than 24: a keyspace node (key, value, LRU, snapshot epoch, next pointer)
//! is then 48 bytes, one 48-byte jemalloc class instead of 64 or 80. The last byte is a tag with
//! spare values, so `Option<CompactBytes>` and enums that hold one (like `Value`) stay 16 bytes.
//!
//! A "mutated" bit records that the string was modified in place (APPEND, SETRANGE, SETBIT):
//! Redis then reports the `raw` encoding, and we switch to a greedy capacity (power of two up to
//! 1 MiB, then whole MiBs) so repeated appends stay amortised O(1). The capacity is a function
//! of the length and the bit, so it need not be stored.

use std::alloc::{alloc, dealloc, realloc, Layout};
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ptr;

/// Longest string stored inline.
pub const INLINE_MAX: usize = 15;
const MUTATED_BASE: u8 = 16;
const HEAP: u8 = 32;
const HEAP_MUTATED: u8 = 33;

/// The tag byte. Values 0..=15 are inline lengths, 16..=31 inline lengths of mutated strings,
/// 32/33 heap storage; 34..=255 are free for enclosing enums' discriminants.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[rustfmt::skip]
#[allow(dead_code)]
enum Tag {
    I0, I1, I2, I3, I4, I5, I6, I7, I8, I9, I10, I11, I12, I13, I14, I15,
    M0, M1, M2, M3, M4, M5, M6, M7, M8, M9, M10, M11, M12, M13, M14, M15,
    Heap, HeapMutated,
}

impl Tag {
    #[inline]
    fn from_u8(v: u8) -> Tag {
        assert!(v <= HEAP_MUTATED, "tag out of range");
        // SAFETY: Tag is repr(u8) with contiguous discriminants 0..=HEAP_MUTATED, checked above.
        unsafe { std::mem::transmute::<u8, Tag>(v) }
    }
}

/// Layout: bytes 0..15 hold inline data (the first 8 overlay `ptr`), or `ptr` + `heap_len`.
#[repr(C)]
pub struct CompactBytes {
    /// Heap pointer, or the first 8 inline bytes as an address without provenance.
    ptr: *mut u8,
    /// Inline bytes 8..15, or the heap length (little-endian, 56 bits).
    mid: [u8; 7],
    tag: Tag,
}

// SAFETY: CompactBytes uniquely owns its heap buffer, like Box<[u8]>.
unsafe impl Send for CompactBytes {}
// SAFETY: shared access only reads.
unsafe impl Sync for CompactBytes {}

const _: () = assert!(std::mem::size_of::<CompactBytes>() == 16);
const _: () = assert!(std::mem::size_of::<Option<CompactBytes>>() == 16);
const _: () = assert!(
    cfg!(target_endian = "little"),
    "inline layout assumes little-endian"
);

/// Greedy capacity for a mutated heap string of `len` bytes.
#[inline]
fn greedy_cap(len: usize) -> usize {
    const MIB: usize = 1 << 20;
    if len < MIB {
        len.next_power_of_two()
    } else {
        len.div_ceil(MIB) * MIB
    }
}

impl CompactBytes {
    pub const fn empty() -> Self {
        CompactBytes {
            ptr: ptr::null_mut(),
            mid: [0; 7],
            tag: Tag::I0,
        }
    }

    pub fn new(data: &[u8]) -> Self {
        if data.len() <= INLINE_MAX {
            let mut s = Self::empty();
            s.write_inline(data, false);
            s
        } else {
            Self::heap_from(data, false)
        }
    }

    /// Takes ownership of a Vec's bytes (no copy for long strings beyond a shrink).
    pub fn from_vec(v: Vec<u8>) -> Self {
        if v.len() <= INLINE_MAX {
            return Self::new(&v);
        }
        let boxed = v.into_boxed_slice();
        let len = boxed.len();
        let p = Box::into_raw(boxed) as *mut u8;
        let mut s = Self::empty();
        s.ptr = p;
        s.set_heap_len(len);
        s.tag = Tag::Heap;
        s
    }

    fn heap_from(data: &[u8], mutated: bool) -> Self {
        let cap = if mutated {
            greedy_cap(data.len())
        } else {
            data.len()
        };
        let p = alloc_bytes(cap);
        // SAFETY: `p` has room for `cap >= data.len()` bytes and does not overlap `data`.
        unsafe { ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
        let mut s = Self::empty();
        s.ptr = p;
        s.set_heap_len(data.len());
        s.tag = if mutated { Tag::HeapMutated } else { Tag::Heap };
        s
    }

    #[inline]
    fn tag(&self) -> u8 {
        self.tag as u8
    }

    #[inline]
    fn is_heap(&self) -> bool {
        self.tag() >= HEAP
    }

    #[inline]
    fn heap_len(&self) -> usize {
        let mut l = [0u8; 8];
        l[..7].copy_from_slice(&self.mid);
        u64::from_le_bytes(l) as usize
    }

    #[inline]
    fn set_heap_len(&mut self, len: usize) {
        self.mid.copy_from_slice(&(len as u64).to_le_bytes()[..7]);
    }

    /// Capacity of the heap buffer (valid only when `is_heap`).
    #[inline]
    fn heap_cap(&self) -> usize {
        if self.tag() == HEAP_MUTATED {
            greedy_cap(self.heap_len())
        } else {
            self.heap_len()
        }
    }

    /// Writes `data` inline (len <= INLINE_MAX), dropping nothing: callers free any heap buffer first.
    fn write_inline(&mut self, data: &[u8], mutated: bool) {
        debug_assert!(data.len() <= INLINE_MAX);
        let mut bytes = [0u8; INLINE_MAX];
        bytes[..data.len()].copy_from_slice(data);
        let mut first = [0u8; 8];
        first.copy_from_slice(&bytes[..8]);
        self.ptr = ptr::without_provenance_mut(usize::from_le_bytes(first));
        self.mid.copy_from_slice(&bytes[8..15]);
        let base = if mutated { MUTATED_BASE } else { 0 };
        self.tag = Tag::from_u8(base + data.len() as u8);
    }

    #[inline]
    pub fn len(&self) -> usize {
        let t = self.tag();
        if t >= HEAP {
            self.heap_len()
        } else if t >= MUTATED_BASE {
            usize::from(t - MUTATED_BASE)
        } else {
            usize::from(t)
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if the string was changed in place (Redis reports such strings as `raw`).
    #[inline]
    pub fn is_mutated(&self) -> bool {
        let t = self.tag();
        t == HEAP_MUTATED || (MUTATED_BASE..HEAP).contains(&t)
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        if self.is_heap() {
            // SAFETY: heap mode: `ptr` points to `heap_len` initialised bytes we own.
            unsafe { std::slice::from_raw_parts(self.ptr, self.heap_len()) }
        } else {
            // SAFETY: repr(C) puts ptr and mid at offsets 0 and 8: 15 contiguous bytes,
            // all initialised; we read `len() <= 15` of them as plain bytes.
            unsafe { std::slice::from_raw_parts(self as *const Self as *const u8, self.len()) }
        }
    }

    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len();
        if self.is_heap() {
            // SAFETY: as in `as_slice`, with unique access through &mut self.
            unsafe { std::slice::from_raw_parts_mut(self.ptr, len) }
        } else {
            // SAFETY: as in `as_slice`; writing bytes into the inline area keeps every field
            // valid (the tag byte at offset 15 is outside the slice).
            unsafe { std::slice::from_raw_parts_mut(self as *mut Self as *mut u8, len) }
        }
    }

    /// Marks the string as modified in place and switches a heap buffer to greedy capacity.
    pub fn mark_mutated(&mut self) {
        if self.is_mutated() {
            return;
        }
        let t = self.tag();
        if t == HEAP {
            let len = self.heap_len();
            self.ptr = realloc_bytes(self.ptr, len, greedy_cap(len));
            self.tag = Tag::HeapMutated;
        } else {
            self.tag = Tag::from_u8(t + MUTATED_BASE);
        }
    }

    /// Resizes to `new_len`, zero-filling growth; the string becomes mutated.
    pub fn resize(&mut self, new_len: usize) {
        self.mark_mutated();
        let old_len = self.len();
        if new_len == old_len {
            return;
        }
        if !self.is_heap() {
            if new_len <= INLINE_MAX {
                let mut tmp = [0u8; INLINE_MAX];
                let keep = old_len.min(new_len);
                tmp[..keep].copy_from_slice(&self.as_slice()[..keep]);
                self.write_inline(&tmp[..new_len], true);
            } else {
                let cap = greedy_cap(new_len);
                let layout = Layout::array::<u8>(cap).expect("string too large");
                // SAFETY: non-zero size; zeroed memory is a valid byte buffer.
                let p = unsafe { std::alloc::alloc_zeroed(layout) };
                if p.is_null() {
                    std::alloc::handle_alloc_error(layout);
                }
                // SAFETY: `p` has `cap >= new_len > old_len` bytes; the source is our inline data.
                unsafe { ptr::copy_nonoverlapping(self.as_slice().as_ptr(), p, old_len) };
                *self = Self::empty();
                self.ptr = p;
                self.set_heap_len(new_len);
                self.tag = Tag::HeapMutated;
            }
            return;
        }
        let old_cap = greedy_cap(old_len);
        let new_cap = greedy_cap(new_len);
        if new_cap != old_cap {
            self.ptr = realloc_bytes(self.ptr, old_cap, new_cap);
        }
        if new_len > old_len {
            // SAFETY: the buffer has `new_cap >= new_len` bytes.
            unsafe { ptr::write_bytes(self.ptr.add(old_len), 0, new_len - old_len) };
        }
        self.set_heap_len(new_len);
    }

    /// Appends bytes (APPEND); the string becomes mutated.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        let old = self.len();
        self.resize(old + data.len());
        self.as_mut_slice()[old..].copy_from_slice(data);
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.as_slice().to_vec()
    }

    /// Bytes allocated outside the struct (for MEMORY USAGE and used_memory estimates).
    pub fn heap_bytes(&self) -> usize {
        if self.is_heap() {
            self.heap_cap()
        } else {
            0
        }
    }
}

fn alloc_bytes(cap: usize) -> *mut u8 {
    let layout = Layout::array::<u8>(cap).expect("string too large");
    // SAFETY: cap > INLINE_MAX > 0, so the layout is non-zero-sized.
    let p = unsafe { alloc(layout) };
    if p.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    p
}

fn realloc_bytes(p: *mut u8, old_cap: usize, new_cap: usize) -> *mut u8 {
    let layout = Layout::array::<u8>(old_cap).expect("layout");
    // SAFETY: `p` was allocated with `layout`; new_cap > 0.
    let np = unsafe { realloc(p, layout, new_cap) };
    if np.is_null() {
        std::alloc::handle_alloc_error(Layout::array::<u8>(new_cap).expect("layout"));
    }
    np
}

impl Drop for CompactBytes {
    fn drop(&mut self) {
        if self.is_heap() {
            let cap = self.heap_cap();
            // SAFETY: heap mode owns `ptr`, allocated with exactly `cap` bytes, align 1.
            unsafe { dealloc(self.ptr, Layout::array::<u8>(cap).expect("layout")) };
        }
    }
}

impl Clone for CompactBytes {
    fn clone(&self) -> Self {
        let mut c = if self.is_heap() {
            Self::heap_from(self.as_slice(), false)
        } else {
            CompactBytes {
                ptr: self.ptr,
                mid: self.mid,
                tag: self.tag,
            }
        };
        if self.is_mutated() {
            c.mark_mutated();
        }
        c
    }
}

impl Default for CompactBytes {
    fn default() -> Self {
        Self::empty()
    }
}

impl PartialEq for CompactBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for CompactBytes {}

impl PartialOrd for CompactBytes {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CompactBytes {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl Hash for CompactBytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl Borrow<[u8]> for CompactBytes {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for CompactBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::ops::Deref for CompactBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<&[u8]> for CompactBytes {
    fn from(d: &[u8]) -> Self {
        Self::new(d)
    }
}

impl fmt::Debug for CompactBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn inline_and_heap() {
        for n in [0, 1, 15, 16, 23, 24, 100] {
            let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let s = CompactBytes::new(&data);
            assert_eq!(s.as_slice(), &data[..]);
            assert_eq!(s.len(), n);
            assert!(!s.is_mutated());
            assert_eq!(s.clone(), s);
            assert_eq!(CompactBytes::from_vec(data.clone()).as_slice(), &data[..]);
        }
    }

    #[test]
    fn append_and_resize() {
        let mut s = CompactBytes::new(b"abc");
        s.extend_from_slice(b"def");
        assert!(s.is_mutated());
        assert_eq!(s.as_slice(), b"abcdef");
        for i in 0..1000u32 {
            s.extend_from_slice(&i.to_le_bytes());
        }
        assert_eq!(s.len(), 6 + 4000);
        s.resize(10);
        assert_eq!(s.as_slice(), b"abcdef\0\0\0\0");
        s.resize(3);
        assert_eq!(s.as_slice(), b"abc");
    }

    proptest! {
        #[test]
        fn model(ops in proptest::collection::vec((0u8..3, proptest::collection::vec(any::<u8>(), 0..40), 0usize..80), 0..40)) {
            let mut s = CompactBytes::new(b"");
            let mut m: Vec<u8> = Vec::new();
            for (op, data, n) in ops {
                match op {
                    0 => { s.extend_from_slice(&data); m.extend_from_slice(&data); }
                    1 => { s.resize(n); m.resize(n, 0); }
                    _ => { s = CompactBytes::new(&data); m = data.clone(); }
                }
                prop_assert_eq!(s.as_slice(), &m[..]);
                let c = s.clone();
                prop_assert_eq!(c.as_slice(), &m[..]);
            }
        }
    }
}
