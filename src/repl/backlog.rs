//! The replication backlog (Redis's repl_backlog): the last `size` bytes of the replication
//! stream, so that a replica that lost its link can continue from its offset (PSYNC) instead
//! of loading a new snapshot.

pub struct Backlog {
    ring: Vec<u8>,
    /// Where the next byte goes in `ring`.
    idx: usize,
    /// Bytes of history held (at most the ring's size).
    histlen: usize,
    /// Replication offset of the last byte appended.
    end_offset: u64,
}

impl Backlog {
    /// An empty backlog whose next byte will have offset `next_offset` (Redis starts a backlog
    /// at master_repl_offset + 1).
    pub fn new(size: usize, next_offset: u64) -> Backlog {
        Backlog {
            ring: vec![0; size.max(1)],
            idx: 0,
            histlen: 0,
            end_offset: next_offset.saturating_sub(1),
        }
    }

    pub fn size(&self) -> usize {
        self.ring.len()
    }

    pub fn histlen(&self) -> usize {
        self.histlen
    }

    /// Offset of the oldest byte held (repl_backlog_first_byte_offset).
    pub fn first_offset(&self) -> u64 {
        self.end_offset + 1 - self.histlen as u64
    }

    pub fn append(&mut self, mut data: &[u8]) {
        self.end_offset += data.len() as u64;
        let size = self.ring.len();
        if data.len() > size {
            data = &data[data.len() - size..];
        }
        while !data.is_empty() {
            let n = (size - self.idx).min(data.len());
            self.ring[self.idx..self.idx + n].copy_from_slice(&data[..n]);
            self.idx = (self.idx + n) % size;
            data = &data[n..];
            self.histlen = (self.histlen + n).min(size);
        }
    }

    /// Whether a replica that has everything before `offset` can continue from here.
    pub fn covers(&self, offset: u64) -> bool {
        offset >= self.first_offset() && offset <= self.end_offset + 1
    }

    /// The bytes from `offset` (covered) to the end.
    pub fn since(&self, offset: u64) -> Vec<u8> {
        let skip = (offset - self.first_offset()) as usize;
        let len = self.histlen - skip;
        let size = self.ring.len();
        let start = (self.idx + size - self.histlen + skip) % size;
        let mut out = Vec::with_capacity(len);
        let first = (size - start).min(len);
        out.extend_from_slice(&self.ring[start..start + first]);
        out.extend_from_slice(&self.ring[..len - first]);
        out
    }

    /// A new size keeps the most recent history that fits (CONFIG SET repl-backlog-size).
    pub fn resize(&mut self, size: usize) {
        let keep = self.histlen.min(size.max(1));
        let tail = self.since(self.end_offset + 1 - keep as u64);
        let end = self.end_offset;
        *self = Backlog::new(size, end + 1 - keep as u64);
        self.append(&tail);
        debug_assert_eq!(self.end_offset, end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_serves_from_any_covered_offset() {
        let mut b = Backlog::new(8, 1);
        b.append(b"abcde");
        assert_eq!((b.first_offset(), b.histlen()), (1, 5));
        assert_eq!(b.since(3), b"cde");
        b.append(b"fghij");
        assert_eq!((b.first_offset(), b.histlen()), (3, 8));
        assert!(!b.covers(2) && b.covers(3) && b.covers(11) && !b.covers(12));
        assert_eq!(b.since(3), b"cdefghij");
        assert_eq!(b.since(10), b"j");
        assert_eq!(b.since(11), b"");
        b.append(b"0123456789xy");
        assert_eq!(b.since(b.first_offset()), b"456789xy");
        b.resize(4);
        assert_eq!(b.since(b.first_offset()), b"89xy");
        b.resize(16);
        b.append(b"z");
        assert_eq!(b.since(b.first_offset()), b"89xyz");
    }
}
