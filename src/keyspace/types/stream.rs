//! The stream value type: entries keyed by IDs (ms-seq), kept in packed nodes of up to
//! `stream-node-max-entries` entries / `stream-node-max-bytes` bytes in an ordered index, like
//! Redis's listpacks in a radix tree, plus consumer groups with their pending entries lists.
//!
//! A node packs its entries back to back: a "master" field list (the fields of the entry that
//! opened the node), then for each entry a flags byte, the ID as deltas from the node's first
//! ID, and either only the values (same fields as the master) or the field count and pairs.
//! Deleted entries stay in place with a flag, as in Redis, so node boundaries, trimming and
//! node-fill decisions happen exactly where Redis makes them. Each node also tracks the size
//! Redis's listpack for it would have, because Redis opens a new node on that size.

pub mod listpack;
pub mod lpsize;

use std::collections::{BTreeMap, BTreeSet};

/// Flags of a packed entry (Redis's STREAM_ITEM_FLAG_*).
const FLAG_DELETED: u8 = 1;
const FLAG_SAMEFIELDS: u8 = 2;

/// A stream entry ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    /// The next ID, or None at the maximum (Redis's streamIncrID).
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID, or None at 0-0 (Redis's streamDecrID).
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// "ms-seq".
    pub fn write(self, out: &mut Vec<u8>) {
        let mut b = itoa::Buffer::new();
        out.extend_from_slice(b.format(self.ms).as_bytes());
        out.push(b'-');
        out.extend_from_slice(b.format(self.seq).as_bytes());
    }

    pub fn to_bytes(self) -> Vec<u8> {
        let mut v = Vec::with_capacity(24);
        self.write(&mut v);
        v
    }

    /// 16-byte big-endian form (Redis's radix tree key).
    pub fn encode(self) -> [u8; 16] {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&self.ms.to_be_bytes());
        k[8..].copy_from_slice(&self.seq.to_be_bytes());
        k
    }
}

// ---- packed byte helpers ----

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn get_varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

fn put_str(buf: &mut Vec<u8>, s: &[u8]) {
    put_varint(buf, s.len() as u64);
    buf.extend_from_slice(s);
}

fn get_str<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let n = get_varint(buf, pos) as usize;
    let s = &buf[*pos..*pos + n];
    *pos += n;
    s
}

fn skip_str(buf: &[u8], pos: &mut usize) {
    let n = get_varint(buf, pos) as usize;
    *pos += n;
}

/// One node: the entries whose IDs start at its key.
#[derive(Clone, Debug)]
pub struct Node {
    /// Entries not deleted.
    live: u32,
    /// Entries flagged deleted.
    deleted: u32,
    /// Size of the equivalent Redis listpack without its count/deleted elements.
    lp_base: u32,
    /// Number of master fields and where the entries begin in `buf`.
    master_n: u32,
    master_end: u32,
    /// ID of the last entry (deleted or not).
    last: StreamId,
    buf: Vec<u8>,
}

/// A decoded entry header inside a node.
#[derive(Clone, Copy, Debug)]
struct Header {
    id: StreamId,
    flags: u8,
    /// Position of the flags byte.
    at: usize,
    /// Number of field-value pairs.
    n: usize,
    /// Start of the field/value data.
    body: usize,
    /// Start of the next entry.
    next: usize,
}

impl Node {
    fn new(master: StreamId, fields: &[&[u8]]) -> Node {
        let mut buf = Vec::with_capacity(64);
        put_varint(&mut buf, fields.len() as u64);
        for f in fields {
            put_str(&mut buf, f);
        }
        let mut lp_base = lpsize::HEADER + lpsize::int(fields.len() as i64) + lpsize::int(0);
        for f in fields {
            lp_base += lpsize::string(f);
        }
        Node {
            live: 0,
            deleted: 0,
            lp_base: lp_base as u32,
            master_n: fields.len() as u32,
            master_end: buf.len() as u32,
            last: master,
            buf,
        }
    }

    /// Redis's lpBytes for this node.
    pub fn lp_bytes(&self) -> usize {
        self.lp_base as usize
            + lpsize::int(i64::from(self.live))
            + lpsize::int(i64::from(self.deleted))
    }

    pub fn live(&self) -> u32 {
        self.live
    }

    fn master_fields(&self) -> impl Iterator<Item = &[u8]> {
        let mut pos = 0;
        let n = get_varint(&self.buf, &mut pos);
        (0..n).map(move |_| get_str(&self.buf, &mut pos))
    }

    fn same_as_master(&self, pairs: &[&[u8]]) -> bool {
        if pairs.len() / 2 != self.master_n as usize {
            return false;
        }
        self.master_fields()
            .zip(pairs.chunks_exact(2))
            .all(|(m, p)| m == p[0])
    }

    fn append(&mut self, master: StreamId, id: StreamId, pairs: &[&[u8]]) {
        let same = self.same_as_master(pairs);
        let n = pairs.len() / 2;
        let ms_delta = id.ms.wrapping_sub(master.ms);
        let seq_delta = id.seq.wrapping_sub(master.seq) as i64;
        self.buf.push(if same { FLAG_SAMEFIELDS } else { 0 });
        put_varint(&mut self.buf, ms_delta);
        put_varint(&mut self.buf, ((seq_delta << 1) ^ (seq_delta >> 63)) as u64);
        let mut size = lpsize::int(i64::from(if same { FLAG_SAMEFIELDS } else { 0 }))
            + lpsize::int(ms_delta as i64)
            + lpsize::int(seq_delta);
        let lp_count = if same {
            for p in pairs.chunks_exact(2) {
                put_str(&mut self.buf, p[1]);
                size += lpsize::string(p[1]);
            }
            n as i64 + 3
        } else {
            put_varint(&mut self.buf, n as u64);
            size += lpsize::int(n as i64);
            for p in pairs {
                put_str(&mut self.buf, p);
                size += lpsize::string(p);
            }
            2 * n as i64 + 4
        };
        size += lpsize::int(lp_count);
        self.lp_base = self.lp_base.saturating_add(size as u32);
        self.live += 1;
        self.last = id;
    }

    fn header(&self, master: StreamId, at: usize) -> Header {
        let buf = &self.buf;
        let mut pos = at;
        let flags = buf[pos];
        pos += 1;
        let ms = master.ms.wrapping_add(get_varint(buf, &mut pos));
        let z = get_varint(buf, &mut pos);
        let seq_delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
        let seq = master.seq.wrapping_add(seq_delta as u64);
        let (n, pairs_stored) = if flags & FLAG_SAMEFIELDS != 0 {
            (self.master_n as usize, false)
        } else {
            (get_varint(buf, &mut pos) as usize, true)
        };
        let body = pos;
        let strings = if pairs_stored { 2 * n } else { n };
        for _ in 0..strings {
            skip_str(buf, &mut pos);
        }
        Header {
            id: StreamId::new(ms, seq),
            flags,
            at,
            n,
            body,
            next: pos,
        }
    }

    /// Headers of every entry (deleted ones too), in order.
    fn headers(&self, master: StreamId) -> Vec<Header> {
        let mut out = Vec::with_capacity((self.live + self.deleted) as usize);
        let mut pos = self.master_end as usize;
        while pos < self.buf.len() {
            let h = self.header(master, pos);
            pos = h.next;
            out.push(h);
        }
        out
    }

    fn entry(&self, h: &Header) -> Entry<'_> {
        Entry {
            id: h.id,
            node: self,
            same: h.flags & FLAG_SAMEFIELDS != 0,
            n: h.n,
            body: h.body,
        }
    }

    fn mark_deleted(&mut self, h: &Header) {
        self.buf[h.at] |= FLAG_DELETED;
        self.live -= 1;
        self.deleted += 1;
    }

    /// Heap bytes used by this node.
    fn heap_bytes(&self) -> usize {
        self.buf.capacity() + std::mem::size_of::<Node>()
    }
}

/// A borrowed stream entry: its ID and field-value pairs.
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    pub id: StreamId,
    node: &'a Node,
    same: bool,
    n: usize,
    body: usize,
}

impl<'a> Entry<'a> {
    /// Number of field-value pairs.
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Calls `f(field, value)` for each pair in order.
    pub fn for_each(&self, mut f: impl FnMut(&'a [u8], &'a [u8])) {
        let buf: &'a [u8] = &self.node.buf;
        let mut pos = self.body;
        if self.same {
            let mut mpos = 0;
            get_varint(buf, &mut mpos);
            for _ in 0..self.n {
                let field = get_str(buf, &mut mpos);
                let value = get_str(buf, &mut pos);
                f(field, value);
            }
        } else {
            for _ in 0..self.n {
                let field = get_str(buf, &mut pos);
                let value = get_str(buf, &mut pos);
                f(field, value);
            }
        }
    }

    /// The pairs as a flat list field, value, field, value...
    pub fn flat(&self) -> Vec<&'a [u8]> {
        let mut v = Vec::with_capacity(self.n * 2);
        self.for_each(|f, val| {
            v.push(f);
            v.push(val);
        });
        v
    }
}

/// A pending entry: delivered to a consumer and not yet acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    pub delivery_time: i64,
    pub delivery_count: u64,
    pub consumer: Vec<u8>,
}

#[derive(Clone, Debug, Default)]
pub struct Consumer {
    pub seen_time: i64,
    pub pel: BTreeSet<StreamId>,
}

/// Redis's SCG_INVALID_ENTRIES_READ.
pub const ENTRIES_READ_INVALID: i64 = -1;

#[derive(Clone, Debug)]
pub struct Group {
    pub last_id: StreamId,
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Self {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Creates a consumer if missing; true if it was created.
    pub fn create_consumer(&mut self, name: &[u8], now_ms: i64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            name.to_vec(),
            Consumer {
                seen_time: now_ms,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Deletes a consumer and its pending entries; returns how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Removes a pending entry from the group and its consumer.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(n) => {
                if let Some(c) = self.consumers.get_mut(&n.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Makes `consumer` own the pending entry `id` (which must be in the PEL).
    pub fn assign(&mut self, id: StreamId, consumer: &[u8]) {
        let Some(n) = self.pel.get_mut(&id) else {
            return;
        };
        if n.consumer != consumer {
            if let Some(c) = self.consumers.get_mut(&n.consumer) {
                c.pel.remove(&id);
            }
            n.consumer = consumer.to_vec();
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }
}

/// How XADD/XTRIM trim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    None,
    MaxLen(u64),
    MinId(StreamId),
}

/// What a trim removed: how many entries, and the highest ID among them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trimmed {
    pub count: u64,
    pub last: Option<StreamId>,
}

/// What deleting or trimming entries does about the consumer groups' references to them
/// (Redis 8.2's KEEPREF | DELREF | ACKED).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RefStrategy {
    /// Delete; pending entries that name the entry stay (as before 8.2).
    #[default]
    KeepRef,
    /// Delete, and remove the entry from every group's pending entries.
    DelRef,
    /// Delete only an entry no group still needs (`Stream::is_referenced`).
    Acked,
}

/// A stream value.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Node>,
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Vec<u8>, Group>,
}

impl Stream {
    pub fn new() -> Self {
        Stream::default()
    }

    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    pub fn encoding_name(&self) -> &'static str {
        "stream"
    }

    /// Number of nodes (Redis's radix-tree-keys).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Appends an entry with a valid (greater than last) ID. `max_entries`/`max_bytes` are
    /// stream-node-max-entries / stream-node-max-bytes.
    pub fn append(&mut self, id: StreamId, pairs: &[&[u8]], max_entries: i64, max_bytes: u64) {
        let total: usize = pairs.iter().map(|p| p.len()).sum();
        let mut max_bytes = max_bytes as usize;
        if max_bytes == 0 || max_bytes > lpsize::MAX_SIZE {
            max_bytes = lpsize::MAX_SIZE;
        }
        let need_new = match self.nodes.last_key_value() {
            None => true,
            Some((_, node)) => {
                node.lp_bytes() + total >= max_bytes
                    || (max_entries > 0
                        && i64::from(node.live) + i64::from(node.deleted) >= max_entries)
            }
        };
        if need_new {
            if let Some((_, last)) = self.nodes.last_key_value() {
                if last.buf.capacity() > last.buf.len() {
                    let key = *self.nodes.last_key_value().map(|(k, _)| k).expect("node");
                    if let Some(n) = self.nodes.get_mut(&key) {
                        n.buf.shrink_to_fit();
                    }
                }
            }
            let fields: Vec<&[u8]> = pairs.iter().step_by(2).copied().collect();
            self.nodes.insert(id, Node::new(id, &fields));
        }
        let (master, node) = self.nodes.last_key_value().expect("node");
        let master = *master;
        let _ = node;
        let node = self.nodes.get_mut(&master).expect("node");
        node.append(master, id, pairs);
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
    }

    /// Calls `f` for live entries with start <= id <= end, ascending or descending, until it
    /// returns false.
    pub fn for_each_in<'a>(
        &'a self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(Entry<'a>) -> bool,
    ) {
        if start > end {
            return;
        }
        if !rev {
            let first = self
                .nodes
                .range(..=start)
                .next_back()
                .map(|(k, _)| *k)
                .unwrap_or(start);
            for (master, node) in self.nodes.range(first..=end) {
                if node.last < start {
                    continue;
                }
                for h in node.headers(*master) {
                    if h.id > end {
                        return;
                    }
                    if h.id < start || h.flags & FLAG_DELETED != 0 {
                        continue;
                    }
                    if !f(node.entry(&h)) {
                        return;
                    }
                }
            }
        } else {
            for (master, node) in self.nodes.range(..=end).rev() {
                if node.last < start {
                    return;
                }
                for h in node.headers(*master).iter().rev() {
                    if h.id < start {
                        return;
                    }
                    if h.id > end || h.flags & FLAG_DELETED != 0 {
                        continue;
                    }
                    if !f(node.entry(h)) {
                        return;
                    }
                }
            }
        }
    }

    /// The live entry with this ID.
    pub fn get(&self, id: StreamId) -> Option<Entry<'_>> {
        let mut out = None;
        self.for_each_in(id, id, false, |e| {
            out = Some(e);
            false
        });
        out
    }

    pub fn contains(&self, id: StreamId) -> bool {
        self.get(id).is_some()
    }

    /// First (or last) live entry ID; Redis's streamGetEdgeID with tombstones skipped:
    /// MAX (first) or 0-0 (last) when there is none.
    pub fn edge_id(&self, first: bool) -> StreamId {
        let mut out = None;
        self.for_each_in(StreamId::MIN, StreamId::MAX, !first, |e| {
            out = Some(e.id);
            false
        });
        out.unwrap_or(if first { StreamId::MAX } else { StreamId::MIN })
    }

    /// Redis's streamLastValidID.
    pub fn last_valid_id(&self) -> StreamId {
        self.edge_id(false)
    }

    /// Flags one entry deleted (XDEL); removes its node when it was the last live one.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master, _)) = self.nodes.range(..=id).next_back() else {
            return false;
        };
        let node = self.nodes.get_mut(&master).expect("node");
        if node.last < id {
            return false;
        }
        let Some(h) = node
            .headers(master)
            .into_iter()
            .find(|h| h.id == id && h.flags & FLAG_DELETED == 0)
        else {
            return false;
        };
        if node.live == 1 {
            self.nodes.remove(&master);
        } else {
            node.mark_deleted(&h);
        }
        self.length -= 1;
        true
    }

    /// Whether some consumer group still needs entry `id` (Redis's streamEntryIsReferenced):
    /// a group has not been delivered it yet, or it is pending in one. Never without groups.
    pub fn is_referenced(&self, id: StreamId) -> bool {
        let min_last = self.groups.values().map(|g| g.last_id).min();
        match min_last {
            None => false,
            Some(last) => last < id || self.groups.values().any(|g| g.pel.contains_key(&id)),
        }
    }

    /// Removes `id` from every group's pending entries (and their consumers'); whether it was
    /// pending anywhere (Redis's streamCleanupEntryCGroupRefs).
    pub fn drop_refs(&mut self, id: StreamId) -> bool {
        let mut any = false;
        for g in self.groups.values_mut() {
            any |= g.ack(id);
        }
        any
    }

    /// XDEL's deletion of one entry: `max_deleted_id` and `first_id` follow.
    pub fn delete_entry(&mut self, id: StreamId) -> bool {
        if !self.delete(id) {
            return false;
        }
        if id > self.max_deleted_id {
            self.max_deleted_id = id;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if id == self.first_id {
            self.first_id = self.edge_id(true);
        }
        true
    }

    /// Redis's streamTrim; returns the number of entries removed. Under KEEPREF whole nodes
    /// go at once and `approx` stops at the first node that cannot; under DELREF and ACKED
    /// every entry is visited (references dropped, or entries still needed skipped), so the
    /// trim is exact but for `limit`.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: i64, refs: RefStrategy) -> Trimmed {
        if how == Trim::None {
            return Trimmed::default();
        }
        if refs != RefStrategy::KeepRef {
            return self.trim_by_entry(how, limit, refs);
        }
        let mut deleted: u64 = 0;
        let mut last = None;
        loop {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let Some((&master, node)) = self.nodes.first_key_value() else {
                break;
            };
            let entries = u64::from(node.live);
            if limit > 0 && (deleted + entries) as i64 > limit {
                break;
            }
            let remove_node = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => node.last < min,
                Trim::None => false,
            };
            if remove_node {
                last = Some(node.last);
                self.nodes.remove(&master);
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            let node = self.nodes.get_mut(&master).expect("node");
            for h in node.headers(master) {
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => h.id >= min,
                    Trim::None => true,
                };
                if stop {
                    break;
                }
                if h.flags & FLAG_DELETED == 0 {
                    node.mark_deleted(&h);
                    self.length -= 1;
                    deleted += 1;
                    last = Some(h.id);
                }
            }
            break;
        }
        self.after_trim(deleted);
        Trimmed {
            count: deleted,
            last,
        }
    }

    /// The DELREF / ACKED trim: entry by entry from the head, while the threshold calls for
    /// trimming; a node that ends up empty goes.
    fn trim_by_entry(&mut self, how: Trim, limit: i64, refs: RefStrategy) -> Trimmed {
        let mut deleted: u64 = 0;
        let mut last = None;
        let mut from = StreamId::MIN;
        loop {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let Some((&master, node)) = self.nodes.range(from..).next() else {
                break;
            };
            let entries = u64::from(node.live);
            if limit > 0 && (deleted + entries) as i64 > limit {
                break;
            }
            let whole_node = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => node.last < min,
                Trim::None => false,
            };
            for h in node.headers(master) {
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => h.id >= min,
                    Trim::None => true,
                };
                if stop {
                    break;
                }
                if h.flags & FLAG_DELETED != 0 {
                    continue;
                }
                match refs {
                    RefStrategy::DelRef => {
                        self.drop_refs(h.id);
                    }
                    RefStrategy::Acked if self.is_referenced(h.id) => continue,
                    _ => {}
                }
                let node = self.nodes.get_mut(&master).expect("node");
                node.mark_deleted(&h);
                self.length -= 1;
                deleted += 1;
                last = Some(h.id);
            }
            let node = &self.nodes[&master];
            let last = node.last;
            if node.live == 0 {
                self.nodes.remove(&master);
            }
            if !whole_node {
                break;
            }
            let Some(next) = last.incr() else {
                break;
            };
            from = next;
        }
        self.after_trim(deleted);
        Trimmed {
            count: deleted,
            last,
        }
    }

    /// After a trim removed `deleted` entries: the first ID follows.
    fn after_trim(&mut self, deleted: u64) {
        if deleted > 0 {
            self.first_id = if self.length == 0 {
                StreamId::MIN
            } else {
                self.edge_id(true)
            };
        }
    }

    /// Redis's streamRangeHasTombstones with `end` open.
    pub fn range_has_tombstones(&self, start: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id
    }

    /// Redis's streamEstimateDistanceFromFirstEverEntry (ENTRIES_READ_INVALID when unknown).
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        } else if id > self.last_id {
            return ENTRIES_READ_INVALID;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return (self.entries_added as i64).wrapping_sub(self.length as i64);
            } else if id == self.first_id {
                return (self.entries_added as i64)
                    .wrapping_sub(self.length as i64)
                    .wrapping_add(1);
            }
        }
        ENTRIES_READ_INVALID
    }

    /// A group's lag, or None when it cannot be computed (Redis's streamReplyWithCGLag).
    pub fn group_lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != ENTRIES_READ_INVALID && !self.range_has_tombstones(g.last_id) {
            return Some((self.entries_added as i64).wrapping_sub(g.entries_read));
        }
        let read = self.estimate_distance(g.last_id);
        (read != ENTRIES_READ_INVALID).then(|| (self.entries_added as i64).wrapping_sub(read))
    }

    /// Redis's radix-tree-nodes: nodes of a compressed radix tree over the 16-byte keys.
    pub fn rax_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| k.encode()).collect();
        if keys.is_empty() {
            return 1;
        }
        rax_count(&keys, 0)
    }

    /// Heap bytes used, for MEMORY USAGE.
    pub fn heap_bytes(&self) -> usize {
        let nodes: usize = self.nodes.values().map(|n| n.heap_bytes() + 40).sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(k, g)| k.len() + 64 + g.pel.len() * 80 + g.consumers.len() * 64)
            .sum();
        nodes + groups + std::mem::size_of::<Stream>()
    }

    /// Each node as (16-byte key, Redis listpack), for RDB.
    pub fn to_listpacks(&self) -> Vec<([u8; 16], Vec<u8>)> {
        self.nodes
            .iter()
            .map(|(master, node)| {
                let mut w = listpack::Writer::new();
                w.int(i64::from(node.live));
                w.int(i64::from(node.deleted));
                w.int(i64::from(node.master_n));
                for f in node.master_fields() {
                    w.string(f);
                }
                w.int(0);
                for h in node.headers(*master) {
                    w.int(i64::from(h.flags));
                    w.int(h.id.ms.wrapping_sub(master.ms) as i64);
                    w.int(h.id.seq.wrapping_sub(master.seq) as i64);
                    let e = node.entry(&h);
                    if e.same {
                        e.for_each(|_, v| w.string(v));
                        w.int(h.n as i64 + 3);
                    } else {
                        w.int(h.n as i64);
                        e.for_each(|f, v| {
                            w.string(f);
                            w.string(v);
                        });
                        w.int(2 * h.n as i64 + 4);
                    }
                }
                (master.encode(), w.finish())
            })
            .collect()
    }

    /// Adds a node read from an RDB file (key and listpack as Redis saves them). The caller
    /// sets the stream's counters and IDs from the file afterwards.
    pub fn load_listpack(&mut self, key: &[u8], lp: &[u8]) -> Result<(), String> {
        let bad = || "Invalid stream listpack".to_string();
        let key: [u8; 16] = key.try_into().map_err(|_| bad())?;
        let master = StreamId::new(
            u64::from_be_bytes(key[..8].try_into().map_err(|_| bad())?),
            u64::from_be_bytes(key[8..].try_into().map_err(|_| bad())?),
        );
        if let Some((last, _)) = self.nodes.last_key_value() {
            if *last >= master {
                return Err(bad());
            }
        }
        let els = listpack::decode(lp)?;
        let mut it = els.iter();
        let mut next_int = || it.next().and_then(|e| e.int()).ok_or_else(bad);
        let count = next_int()?;
        let deleted = next_int()?;
        let nf = usize::try_from(next_int()?).map_err(|_| bad())?;
        let mut pos = 3;
        let fields: Vec<Vec<u8>> = els
            .get(pos..pos + nf)
            .ok_or_else(bad)?
            .iter()
            .map(|e| e.bytes())
            .collect();
        pos += nf;
        if els.get(pos).and_then(|e| e.int()) != Some(0) {
            return Err(bad());
        }
        pos += 1;
        let frefs: Vec<&[u8]> = fields.iter().map(|f| f.as_slice()).collect();
        let mut node = Node::new(master, &frefs);
        let mut prev: Option<StreamId> = None;
        let int_at = |i: usize| els.get(i).and_then(|e| e.int()).ok_or_else(bad);
        while pos < els.len() {
            let flags = u8::try_from(int_at(pos)?).map_err(|_| bad())?;
            let ms = master.ms.wrapping_add(int_at(pos + 1)? as u64);
            let seq = master.seq.wrapping_add(int_at(pos + 2)? as u64);
            let id = StreamId::new(ms, seq);
            if prev.is_some_and(|p| p >= id) || (prev.is_none() && id != master) {
                return Err(bad());
            }
            prev = Some(id);
            pos += 3;
            let mut pairs: Vec<Vec<u8>> = Vec::new();
            // lp-count: the entry's elements before it (Redis's streamAppendItem).
            let elements = if flags & FLAG_SAMEFIELDS != 0 {
                for f in &fields {
                    pairs.push(f.clone());
                    pairs.push(els.get(pos).ok_or_else(bad)?.bytes());
                    pos += 1;
                }
                fields.len() + 3
            } else {
                let n = usize::try_from(int_at(pos)?).map_err(|_| bad())?;
                pos += 1;
                for _ in 0..2 * n {
                    pairs.push(els.get(pos).ok_or_else(bad)?.bytes());
                    pos += 1;
                }
                2 * n + 4
            };
            if usize::try_from(int_at(pos)?).ok() != Some(elements) {
                return Err(bad());
            }
            pos += 1;
            let refs: Vec<&[u8]> = pairs.iter().map(|p| p.as_slice()).collect();
            node.append(master, id, &refs);
            if flags & FLAG_DELETED != 0 {
                let h = node.headers(master).pop().ok_or_else(bad)?;
                node.mark_deleted(&h);
            }
        }
        // The master entry's counts must add up to the entries there are (Redis's deep
        // listpack validation walks exactly that many).
        let entries = i64::from(node.live) + i64::from(node.deleted);
        if pos != els.len() || entries == 0 || count.checked_add(deleted) != Some(entries) {
            return Err(bad());
        }
        node.buf.shrink_to_fit();
        self.nodes.insert(master, node);
        Ok(())
    }

    /// Live entries counted from the nodes (to validate a loaded length).
    pub fn counted_len(&self) -> u64 {
        self.nodes.values().map(|n| u64::from(n.live)).sum()
    }

    /// Structural checks for tests. A node may hold only deleted entries, as in Redis (exact
    /// MINID trimming up to a deleted last entry).
    pub fn check_invariants(&self) {
        let mut len = 0u64;
        let mut prev: Option<StreamId> = None;
        for (master, node) in &self.nodes {
            assert!(node.live + node.deleted > 0, "empty node");
            let hs = node.headers(*master);
            assert_eq!(hs.len() as u32, node.live + node.deleted);
            assert_eq!(hs.first().map(|h| h.id), Some(*master));
            assert_eq!(hs.last().map(|h| h.id), Some(node.last));
            for h in &hs {
                if let Some(p) = prev {
                    assert!(h.id > p);
                }
                prev = Some(h.id);
            }
            let live = hs.iter().filter(|h| h.flags & FLAG_DELETED == 0).count();
            assert_eq!(live as u32, node.live);
            len += live as u64;
        }
        assert_eq!(len, self.length);
        if let Some(p) = prev {
            assert!(p <= self.last_id);
        }
    }
}

/// Nodes of Redis's rax holding `keys` (sorted, distinct, same length) below depth `d`:
/// a compressed node for a shared run, a branching node where keys diverge, a leaf per key.
fn rax_count(keys: &[[u8; 16]], d: usize) -> usize {
    if d == 16 {
        return 1;
    }
    let first = &keys[0];
    let last = &keys[keys.len() - 1];
    let mut common = d;
    while common < 16 && first[common] == last[common] {
        common += 1;
    }
    let mut count = 0;
    if common > d {
        // One compressed node for the run of shared bytes.
        count += 1;
        if common == 16 {
            return count + 1;
        }
    }
    // A branching node at `common`, children grouped by their byte there.
    count += 1;
    let mut i = 0;
    while i < keys.len() {
        let b = keys[i][common];
        let mut j = i;
        while j < keys.len() && keys[j][common] == b {
            j += 1;
        }
        count += rax_count(&keys[i..j], common + 1);
        i = j;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(s: &Stream) -> Vec<StreamId> {
        let mut v = Vec::new();
        s.for_each_in(StreamId::MIN, StreamId::MAX, false, |e| {
            v.push(e.id);
            true
        });
        v
    }

    #[test]
    fn append_range_delete_trim_against_model() {
        let mut rng = 12345u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let strategies = [
            RefStrategy::KeepRef,
            RefStrategy::DelRef,
            RefStrategy::Acked,
        ];
        for round in 0..20 {
            let mut s = Stream::new();
            let mut model: BTreeMap<StreamId, Vec<Vec<u8>>> = BTreeMap::new();
            let mut ms = 1u64;
            for _ in 0..400 {
                match next() % 10 {
                    0..=5 => {
                        ms += next() % 3;
                        let id = s.last_id.max(StreamId::new(ms, 0)).incr().expect("id");
                        let nf = 1 + (next() % 3) as usize;
                        let mut pairs: Vec<Vec<u8>> = Vec::new();
                        for i in 0..nf {
                            let f = if next() % 4 == 0 {
                                format!("g{i}")
                            } else {
                                format!("f{i}")
                            };
                            pairs.push(f.into_bytes());
                            pairs.push(format!("{}", next() % 1000).into_bytes());
                        }
                        let refs: Vec<&[u8]> = pairs.iter().map(|p| p.as_slice()).collect();
                        s.append(id, &refs, 3 + round % 5, 4096);
                        model.insert(id, pairs);
                    }
                    6 | 7 => {
                        if let Some(&id) = model.keys().nth((next() % 7) as usize) {
                            assert!(s.delete(id));
                            model.remove(&id);
                        } else {
                            assert!(!s.delete(StreamId::new(ms, 7)));
                        }
                    }
                    8 => {
                        // Without groups every strategy trims the same, exactly.
                        let max = next() % 40;
                        let refs = strategies[(next() % 3) as usize];
                        s.trim(Trim::MaxLen(max), false, 0, refs);
                        while model.len() as u64 > max {
                            model.pop_first();
                        }
                    }
                    _ => {
                        let min = StreamId::new(ms.saturating_sub(next() % 20), 0);
                        let refs = strategies[(next() % 3) as usize];
                        s.trim(Trim::MinId(min), next() % 2 == 0, 0, refs);
                        if refs == RefStrategy::KeepRef {
                            // An approximate trim may leave some behind; resync the model.
                            let have: BTreeSet<StreamId> = ids(&s).into_iter().collect();
                            model.retain(|k, _| have.contains(k));
                        } else {
                            model.retain(|k, _| *k >= min);
                        }
                    }
                }
                s.check_invariants();
                assert_eq!(ids(&s), model.keys().copied().collect::<Vec<_>>());
                for (id, pairs) in &model {
                    let e = s.get(*id).expect("entry");
                    let got: Vec<Vec<u8>> = e.flat().iter().map(|x| x.to_vec()).collect();
                    assert_eq!(&got, pairs);
                }
                let mut rev = Vec::new();
                s.for_each_in(StreamId::MIN, StreamId::MAX, true, |e| {
                    rev.push(e.id);
                    true
                });
                rev.reverse();
                assert_eq!(rev, ids(&s));
            }
        }
    }

    #[test]
    fn rax_nodes_small() {
        let mut s = Stream::new();
        assert_eq!(s.rax_nodes(), 1);
        s.append(StreamId::new(1, 1), &[b"a", b"b"], 1, 4096);
        assert_eq!(s.rax_nodes(), 2);
        s.append(StreamId::new(1, 2), &[b"a", b"b"], 1, 4096);
        assert_eq!(s.rax_nodes(), 4);
    }

    /// ACKED skips what a group still needs (not delivered yet, or pending) and trims past
    /// it; DELREF drops the pending entries of what it trims.
    #[test]
    fn trim_strategies_with_groups() {
        let build = || {
            let mut s = Stream::new();
            for ms in 1..=6 {
                s.append(StreamId::new(ms, 0), &[b"f", b"v"], 2, 4096);
                s.last_id = StreamId::new(ms, 0);
            }
            let mut g = Group::new(StreamId::new(5, 0), 5);
            g.create_consumer(b"c", 0);
            for ms in [2, 4] {
                g.pel.insert(
                    StreamId::new(ms, 0),
                    Nack {
                        delivery_time: 0,
                        delivery_count: 1,
                        consumer: b"c".to_vec(),
                    },
                );
                g.assign(StreamId::new(ms, 0), b"c");
            }
            s.groups.insert(b"g".to_vec(), g);
            s
        };
        let min = Trim::MinId(StreamId::new(7, 0));
        let mut s = build();
        assert!(s.is_referenced(StreamId::new(2, 0)));
        assert!(s.is_referenced(StreamId::new(6, 0)), "not delivered yet");
        assert!(!s.is_referenced(StreamId::new(3, 0)));
        let t = s.trim(min, true, 0, RefStrategy::Acked);
        assert_eq!(t.count, 3);
        assert_eq!(t.last, Some(StreamId::new(5, 0)));
        let left: Vec<u64> = ids(&s).iter().map(|i| i.ms).collect();
        assert_eq!(left, [2, 4, 6]);
        s.check_invariants();
        let mut s = build();
        assert_eq!(
            s.trim(Trim::MaxLen(2), false, 0, RefStrategy::DelRef).count,
            4
        );
        assert!(s.groups[&b"g"[..]].pel.is_empty());
        assert!(s.groups[&b"g"[..]].consumers[&b"c"[..]].pel.is_empty());
        s.check_invariants();
        // KEEPREF leaves the pending entries dangling.
        let mut s = build();
        assert_eq!(s.trim(min, false, 0, RefStrategy::KeepRef).count, 6);
        assert_eq!(s.groups[&b"g"[..]].pel.len(), 2);
        // LIMIT counts whole nodes, as Redis's: the third node would pass 3.
        let mut s = build();
        assert_eq!(s.trim(min, true, 3, RefStrategy::Acked).count, 2);
    }
}
