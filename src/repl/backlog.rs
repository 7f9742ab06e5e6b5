//! The replication buffer, shared by the backlog and every replica (Redis 7's replBufBlock
//! list): the stream is stored once, in blocks, however many replicas read it.
//!
//! The backlog keeps at least `size` bytes of history, counted in whole blocks from the
//! oldest. A replica is a reader at an offset (the next byte it must receive); it sends from
//! the blocks directly. The oldest block is dropped only when the backlog holds more than it
//! needs and no reader still needs that block, so a slow replica makes the backlog outgrow
//! its size (and a replica that reconnects may continue from that longer history), until the
//! replica's output-buffer limit cuts it.

use std::collections::VecDeque;

/// Smallest block (Redis's PROTO_REPLY_CHUNK_BYTES): small writes share one.
const MIN_BLOCK: usize = 16 * 1024;
/// What a block costs besides its bytes (Redis's replBufBlock header and list node).
pub const BLOCK_OVERHEAD: usize = 64;

struct Block {
    /// Replication offset of the first byte.
    start: u64,
    data: Vec<u8>,
    /// The bytes it may hold (a full block has `data.len() == cap`).
    cap: usize,
}

impl Block {
    /// The offset just past its last byte.
    fn end(&self) -> u64 {
        self.start + self.data.len() as u64
    }
}

pub struct Backlog {
    blocks: VecDeque<Block>,
    /// repl-backlog-size.
    size: usize,
    /// Bytes of history held: from the oldest block's first byte to the end.
    histlen: usize,
    /// Replication offset of the last byte appended.
    end_offset: u64,
    /// Blocks' memory, overhead included (Redis's repl_buffer_mem).
    mem: usize,
}

impl Backlog {
    /// An empty backlog whose next byte will have offset `next_offset` (Redis starts a backlog
    /// at master_repl_offset + 1).
    pub fn new(size: usize, next_offset: u64) -> Backlog {
        Backlog {
            blocks: VecDeque::new(),
            size: size.max(1),
            histlen: 0,
            end_offset: next_offset.saturating_sub(1),
            mem: 0,
        }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// CONFIG SET repl-backlog-size: the history shrinks at the next `trim`.
    pub fn set_size(&mut self, size: usize) {
        self.size = size.max(1);
    }

    pub fn histlen(&self) -> usize {
        self.histlen
    }

    /// Offset of the oldest byte held (repl_backlog_first_byte_offset).
    pub fn first_offset(&self) -> u64 {
        self.end_offset + 1 - self.histlen as u64
    }

    /// INFO's mem_total_replication_buffers: the blocks, and the block list's spare room
    /// (counted here, its doubling cannot pass for dataset growth and drive evictions).
    pub fn mem(&self) -> usize {
        self.mem + self.list_spare()
    }

    fn list_spare(&self) -> usize {
        (self.blocks.capacity() - self.blocks.len()) * std::mem::size_of::<Block>()
    }

    /// Appends stream bytes; true if a new block was needed (replicas' output limits are
    /// checked then, as Redis does).
    pub fn append(&mut self, mut data: &[u8]) -> bool {
        self.histlen += data.len();
        self.end_offset += data.len() as u64;
        if let Some(tail) = self.blocks.back_mut() {
            let n = (tail.cap - tail.data.len()).min(data.len());
            tail.data.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        let added = !data.is_empty();
        // Blocks of at least MIN_BLOCK, and at most a 16th of the backlog, so that a big
        // write does not pin a huge block when only its end is still needed.
        let limit = (self.size / 16).max(MIN_BLOCK);
        while !data.is_empty() {
            let cap = data.len().clamp(MIN_BLOCK, limit);
            let n = cap.min(data.len());
            let mut block = Vec::with_capacity(cap);
            block.extend_from_slice(&data[..n]);
            let start = self.end_offset + 1 - data.len() as u64;
            self.blocks.push_back(Block {
                start,
                data: block,
                cap,
            });
            self.mem += cap + BLOCK_OVERHEAD;
            data = &data[n..];
        }
        added
    }

    /// Whether a replica that has everything before `offset` can continue from here.
    pub fn covers(&self, offset: u64) -> bool {
        offset >= self.first_offset() && offset <= self.end_offset + 1
    }

    /// The index of the block a reader at `offset` (covered) uses: the one holding that
    /// byte, or the last block for a reader that has everything.
    fn block_of(&self, offset: u64) -> Option<usize> {
        let after = self.blocks.partition_point(|b| b.start <= offset);
        after.checked_sub(1)
    }

    /// The stored bytes from `offset` to the end of their block (empty when the reader at
    /// `offset` has everything).
    pub fn chunk_at(&self, offset: u64) -> &[u8] {
        match self.block_of(offset) {
            Some(i) => {
                let b = &self.blocks[i];
                let skip = (offset.saturating_sub(b.start) as usize).min(b.data.len());
                &b.data[skip..]
            }
            None => &[],
        }
    }

    /// The buffer memory a reader at `offset` keeps alive: its block and every later one,
    /// the tail's free room included (Redis's getClientOutputBufferMemoryUsage for replicas).
    pub fn held_from(&self, offset: u64) -> usize {
        let Some(i) = self.block_of(offset) else {
            return 0;
        };
        let (first, last) = (&self.blocks[i], &self.blocks[self.blocks.len() - 1]);
        let blocks = self.blocks.len() - i;
        (last.start + last.cap as u64 - first.start) as usize + blocks * BLOCK_OVERHEAD
    }

    /// Drops the oldest blocks the backlog no longer needs and no reader uses (`oldest`: the
    /// lowest reader offset), keeping at least `size` bytes and one block (Redis's
    /// incrementalTrimReplicationBacklog).
    pub fn trim(&mut self, oldest: Option<u64>) {
        while self.histlen > self.size && self.blocks.len() > 1 {
            let head = &self.blocks[0];
            // A reader whose next byte is in this block still needs it.
            if oldest.is_some_and(|o| o < head.end()) {
                break;
            }
            if self.histlen - head.data.len() <= self.size {
                break;
            }
            self.histlen -= head.data.len();
            self.mem -= head.cap + BLOCK_OVERHEAD;
            self.blocks.pop_front();
        }
    }

    /// The bytes from `offset` (covered) to the end, copied.
    #[cfg(test)]
    fn since(&self, mut offset: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let chunk = self.chunk_at(offset);
            if chunk.is_empty() {
                return out;
            }
            out.extend_from_slice(chunk);
            offset += chunk.len() as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_writes_share_a_block_and_history_is_kept_in_whole_blocks() {
        let mut b = Backlog::new(MIN_BLOCK, 1);
        assert!(b.append(b"abcde"));
        assert!(!b.append(b"fgh"));
        assert_eq!((b.first_offset(), b.histlen()), (1, 8));
        assert_eq!(b.since(3), b"cdefgh");
        assert_eq!(b.mem(), MIN_BLOCK + BLOCK_OVERHEAD + b.list_spare());
        // Fill the first block and spill into two more: the first goes once the others
        // hold more than the backlog's size.
        let big = vec![b'x'; 2 * MIN_BLOCK];
        assert!(b.append(&big));
        assert_eq!(b.histlen(), 8 + 2 * MIN_BLOCK);
        b.trim(None);
        assert_eq!(b.histlen(), MIN_BLOCK + 8);
        assert_eq!(b.first_offset(), MIN_BLOCK as u64 + 1);
        b.trim(None);
        assert_eq!(
            b.histlen(),
            MIN_BLOCK + 8,
            "one more would leave too little"
        );
        assert!(b.covers(b.first_offset()) && !b.covers(b.first_offset() - 1));
        assert_eq!(b.since(b.first_offset()).len(), b.histlen());
    }

    #[test]
    fn memory_counts_the_block_lists_spare_room() {
        let mut b = Backlog::new(MIN_BLOCK, 1);
        let block = vec![b'z'; MIN_BLOCK];
        for _ in 0..600 {
            b.append(&block);
        }
        // The list of 600 blocks has room for more: that room is memory of the buffer too,
        // or its doubling would count as dataset growth under maxmemory.
        let spare = b.blocks.capacity() - b.blocks.len();
        assert!(spare > 0);
        assert_eq!(
            b.mem(),
            600 * (MIN_BLOCK + BLOCK_OVERHEAD) + spare * std::mem::size_of::<Block>()
        );
    }

    #[test]
    fn a_reader_keeps_the_blocks_it_has_not_sent() {
        let mut b = Backlog::new(MIN_BLOCK, 101);
        let block = vec![b'y'; MIN_BLOCK];
        for _ in 0..8 {
            b.append(&block);
        }
        let reader = 101 + MIN_BLOCK as u64 + 5;
        b.trim(Some(reader));
        assert_eq!(b.first_offset(), 101 + MIN_BLOCK as u64);
        assert_eq!(b.histlen(), 7 * MIN_BLOCK);
        assert_eq!(b.held_from(reader), 7 * (MIN_BLOCK + BLOCK_OVERHEAD));
        assert_eq!(b.chunk_at(reader).len(), MIN_BLOCK - 5);
        // Once it has everything, only the backlog's own size is kept.
        b.trim(Some(b.first_offset() + b.histlen() as u64));
        assert_eq!(b.histlen(), 2 * MIN_BLOCK);
        assert_eq!(b.mem(), 2 * (MIN_BLOCK + BLOCK_OVERHEAD) + b.list_spare());
        assert!(b.chunk_at(101 + 8 * MIN_BLOCK as u64).is_empty());
    }

    #[test]
    fn big_writes_are_cut_into_blocks_of_a_sixteenth_of_the_backlog() {
        let mut b = Backlog::new(1 << 20, 1);
        b.append(&vec![b'z'; 200_000]);
        assert_eq!(b.blocks.len(), 4);
        assert!(b.blocks.iter().all(|blk| blk.cap <= 65536));
        assert_eq!(b.since(1).len(), 200_000);
        assert_eq!(b.chunk_at(65537).len(), 65536);
    }
}
