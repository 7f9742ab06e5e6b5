//! `SetKey`: a member of a big set as its hash-table node holds it, in 16 bytes. Members of up
//! to 15 bytes (every integer, most identifiers) live inline; longer ones in a heap slice. A
//! node (key + next pointer) is then 24 bytes, one 32-byte allocation, which keeps a big set's
//! cost per member below Redis's (dictEntry + sds) for short members. `CompactBytes` (24 bytes)
//! would make the node 32 bytes and its allocation 48.

use crate::keyspace::dict::DictKey;

/// Inline members up to this length.
pub const INLINE_MAX: usize = 15;
/// Tag of a heap member; inline members store their length (0..=15) in the tag.
const HEAP: u8 = 0xff;

/// An owned member: `data[..tag]` inline, or (pointer, length) of a leaked `Box<[u8]>` in
/// `data[0..8]` and `data[8..15]` (little-endian, 56 bits).
pub struct SetKey {
    data: [u8; INLINE_MAX],
    tag: u8,
}

// SAFETY: a SetKey owns its heap slice exclusively (like a Box<[u8]>).
unsafe impl Send for SetKey {}
// SAFETY: shared access only reads the slice.
unsafe impl Sync for SetKey {}

impl SetKey {
    pub fn new(m: &[u8]) -> Self {
        let mut data = [0u8; INLINE_MAX];
        if m.len() <= INLINE_MAX {
            data[..m.len()].copy_from_slice(m);
            return SetKey {
                data,
                tag: m.len() as u8,
            };
        }
        let b: Box<[u8]> = m.into();
        let len = b.len() as u64;
        let ptr = Box::into_raw(b) as *mut u8 as usize as u64;
        data[..8].copy_from_slice(&ptr.to_le_bytes());
        data[8..].copy_from_slice(&len.to_le_bytes()[..7]);
        SetKey { data, tag: HEAP }
    }

    /// Pointer and length of a heap member.
    #[inline]
    fn heap_parts(&self) -> (*mut u8, usize) {
        let mut p = [0u8; 8];
        p.copy_from_slice(&self.data[..8]);
        let mut l = [0u8; 8];
        l[..7].copy_from_slice(&self.data[8..]);
        (
            u64::from_le_bytes(p) as usize as *mut u8,
            u64::from_le_bytes(l) as usize,
        )
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        if self.tag == HEAP {
            let (p, n) = self.heap_parts();
            // SAFETY: p/n come from the Box<[u8]> this key owns (see `new`).
            unsafe { std::slice::from_raw_parts(p, n) }
        } else {
            &self.data[..usize::from(self.tag)]
        }
    }

    /// Bytes allocated outside the node.
    pub fn heap_bytes(&self) -> usize {
        if self.tag == HEAP {
            self.heap_parts().1
        } else {
            0
        }
    }
}

impl Drop for SetKey {
    fn drop(&mut self) {
        if self.tag == HEAP {
            let (p, n) = self.heap_parts();
            // SAFETY: reconstitutes the Box<[u8]> leaked in `new`, exactly once.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, n)) });
        }
    }
}

impl Clone for SetKey {
    fn clone(&self) -> Self {
        SetKey::new(self.as_slice())
    }
}

impl DictKey for SetKey {
    #[inline]
    fn key_bytes(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::fmt::Debug for SetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_and_round_trip() {
        assert_eq!(std::mem::size_of::<SetKey>(), 16);
        for n in [0usize, 1, 7, 14, 15, 16, 17, 64, 1000] {
            let m: Vec<u8> = (0..n).map(|i| (i * 7 + 1) as u8).collect();
            let k = SetKey::new(&m);
            assert_eq!(k.as_slice(), &m[..]);
            let c = k.clone();
            drop(k);
            assert_eq!(c.as_slice(), &m[..]);
            assert_eq!(c.heap_bytes(), if n > INLINE_MAX { n } else { 0 });
        }
    }
}
