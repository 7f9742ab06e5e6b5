//! `QuickList`: a list of byte strings kept in packed chunks ("nodes"), after Redis's
//! quicklist of listpacks.
//!
//! Each node is one heap buffer holding its entries back to back, readable from either end:
//! `varint(tag) [varint(p)] suffix [reversed varint(p)] reversed varint(tag)`. An element
//! that shares `p` >= 4 leading bytes with the node's base (its first element, kept aside)
//! stores only `p` and the rest; others store themselves whole, with two bytes of overhead
//! below 64 bytes. Lists of similar elements (queue items, IDs, log lines) take a fraction of
//! Redis's listpack bytes, while node limits count listpack sizes, so nodes split where
//! Redis's do. The data sits in the middle of its buffer with free
//! room at the edge that grows, so pushing or popping at either end of the list is amortized
//! O(1) without moving the other entries. Nodes are bounded like Redis's
//! `list-max-listpack-size` (negative: 4/8/16/32/64 KiB per node; positive: entries per node,
//! at most 8 KiB), and `list-compress-depth` keeps all but the `depth` nodes at each end
//! LZF-compressed, as Redis does. Index lookups walk node counts from the nearer end and skip
//! whole nodes.
//!
//! Data only: no RESP, no clock.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::ops::ControlFlow;

/// Node byte limits for list-max-listpack-size -1 .. -5.
const SIZE_CLASSES: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// Elements of at least this many bytes get a node of their own (a "plain" node, never
/// merged). 1 GiB unless DEBUG QUICKLIST-PACKED-THRESHOLD lowers it, process-wide as in Redis.
static PACKED_THRESHOLD: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(1 << 30);

/// DEBUG QUICKLIST-PACKED-THRESHOLD: 0 restores the default; false when out of range (up to
/// 4 GiB less 1 MiB, as quicklistisSetPackedThreshold allows).
pub fn set_packed_threshold(bytes: u64) -> bool {
    if bytes > (1 << 32) - (1 << 20) {
        return false;
    }
    let bytes = if bytes == 0 { 1 << 30 } else { bytes as usize };
    PACKED_THRESHOLD.store(bytes, std::sync::atomic::Ordering::Relaxed);
    true
}

#[inline]
fn is_large(bytes: usize) -> bool {
    bytes >= PACKED_THRESHOLD.load(std::sync::atomic::Ordering::Relaxed)
}

/// Byte limit of a node when the fill counts entries (Redis's SIZE_SAFETY_LIMIT).
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Largest entry count per node (Redis's FILL_MAX).
const FILL_MAX: i32 = (1 << 15) - 1;
/// Largest compress depth (Redis's COMPRESS_MAX).
const COMPRESS_MAX: usize = (1 << 16) - 1;
/// Nodes smaller than this are not worth compressing.
const MIN_COMPRESS_BYTES: usize = 48;
/// Compression must save at least this much to be kept.
const MIN_COMPRESS_IMPROVE: usize = 8;

// ---- entry encoding ----

#[inline]
fn varint_len(n: usize) -> usize {
    if n < 1 << 7 {
        1
    } else if n < 1 << 14 {
        2
    } else {
        let mut k = 1;
        let mut v = n >> 7;
        while v > 0 {
            k += 1;
            v >>= 7;
        }
        k
    }
}

/// Redis's size for an element of `n` bytes in a listpack, roughly: what node limits count,
/// so nodes split where Redis's do whatever the prefix coding saves.
#[inline]
pub fn logical_size(n: usize) -> usize {
    n + 2 * varint_len(n)
}

/// Elements sharing fewer bytes than this with their node's base are stored whole (the
/// prefix length costs two bytes).
const MIN_SHARED: usize = 4;
/// Longest base a node keeps.
const BASE_MAX: usize = 64;

/// Bytes of `v` shared with `base`, if worth coding.
#[inline]
fn shared_prefix(base: &[u8], v: &[u8]) -> usize {
    if base.len() < MIN_SHARED || v.len() < MIN_SHARED || base[..MIN_SHARED] != v[..MIN_SHARED] {
        return 0;
    }
    let n = base.iter().zip(v).take_while(|(a, b)| a == b).count();
    n
}

/// The header of an entry with `p` shared bytes and a suffix of `s`: the suffix length and
/// whether a prefix length follows.
#[inline]
fn tag(p: usize, s: usize) -> usize {
    s << 1 | usize::from(p > 0)
}

/// Bytes an entry takes: `p` bytes shared with the node's base, then a suffix of `s`.
#[inline]
fn entry_size(p: usize, s: usize) -> usize {
    let prefix = if p > 0 { 2 * varint_len(p) } else { 0 };
    s + 2 * varint_len(tag(p, s)) + prefix
}

/// Calls `put(i, byte)` for each byte of `v` as a varint (7 bits a byte, low first, high
/// bit set on all but the last); returns the byte count.
#[inline]
fn varint_bytes(mut v: usize, mut put: impl FnMut(usize, u8)) -> usize {
    let h = varint_len(v);
    for i in 0..h {
        let mut b = (v & 0x7f) as u8;
        v >>= 7;
        if i + 1 < h {
            b |= 0x80;
        }
        put(i, b);
    }
    h
}

/// Writes `v` at `at`, forwards; returns the bytes written.
#[inline]
fn put_fwd(dst: &mut [u8], at: usize, v: usize) -> usize {
    varint_bytes(v, |i, b| dst[at + i] = b)
}

/// Writes `v` so that it ends at `end` and reads backwards; returns the bytes written.
#[inline]
fn put_back(dst: &mut [u8], end: usize, v: usize) -> usize {
    varint_bytes(v, |i, b| dst[end - 1 - i] = b)
}

/// Writes one entry (`p` bytes shared with the base, then `suffix`) into `dst`, which is
/// exactly `entry_size(p, suffix.len())` long: `varint(tag) [varint(p)] suffix
/// [reversed varint(p)] reversed varint(tag)`, readable from either end.
#[inline]
fn write_entry(dst: &mut [u8], p: usize, suffix: &[u8]) {
    let t = tag(p, suffix.len());
    let mut at = put_fwd(dst, 0, t);
    let mut end = dst.len() - put_back(dst, dst.len(), t);
    if p > 0 {
        at += put_fwd(dst, at, p);
        end -= put_back(dst, end, p);
    }
    dst[at..end].copy_from_slice(suffix);
}

/// The entry for `v` in a node with `base`: (shared bytes, entry size).
#[inline]
fn coded(base: &[u8], v: &[u8]) -> (usize, usize) {
    let p = shared_prefix(base, v);
    (p, entry_size(p, v.len() - p))
}

/// The entry for `v` relative to `base`, as bytes.
fn encode(base: &[u8], v: &[u8]) -> Vec<u8> {
    let (p, sz) = coded(base, v);
    let mut e = vec![0u8; sz];
    write_entry(&mut e, p, &v[p..]);
    e
}

/// A decoded entry: `p` bytes of the node's base, then the suffix at `raw[ds..ds + s]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ent {
    p: usize,
    ds: usize,
    s: usize,
}

impl Ent {
    /// The element's length.
    #[inline]
    fn len(&self) -> usize {
        self.p + self.s
    }

    /// The element's bytes: borrowed when it has no prefix, else assembled in `scratch`.
    #[inline]
    fn bytes<'a>(&self, base: &'a [u8], raw: &'a [u8], scratch: &'a mut Vec<u8>) -> &'a [u8] {
        let suffix = &raw[self.ds..self.ds + self.s];
        if self.p == 0 {
            return suffix;
        }
        scratch.clear();
        scratch.extend_from_slice(&base[..self.p]);
        scratch.extend_from_slice(suffix);
        scratch
    }

    /// Whether the element equals `v`, without assembling it.
    #[inline]
    fn equals(&self, base: &[u8], raw: &[u8], v: &[u8]) -> bool {
        v.len() == self.len()
            && v[..self.p] == base[..self.p]
            && v[self.p..] == raw[self.ds..self.ds + self.s]
    }
}

/// The length header at `pos`: (element length, header size).
#[inline]
fn read_fwd(buf: &[u8], pos: usize) -> (usize, usize) {
    let b = buf[pos];
    if b < 0x80 {
        return (b as usize, 1);
    }
    let mut v = 0usize;
    let mut i = 0;
    loop {
        let b = buf[pos + i];
        v |= ((b & 0x7f) as usize) << (7 * i);
        i += 1;
        if b & 0x80 == 0 {
            return (v, i);
        }
    }
}

/// The length trailer ending at `end`: (element length, trailer size).
#[inline]
fn read_back(buf: &[u8], end: usize) -> (usize, usize) {
    let b = buf[end - 1];
    if b < 0x80 {
        return (b as usize, 1);
    }
    let mut v = 0usize;
    let mut i = 0;
    loop {
        let b = buf[end - 1 - i];
        v |= ((b & 0x7f) as usize) << (7 * i);
        i += 1;
        if b & 0x80 == 0 {
            return (v, i);
        }
    }
}

/// The entry starting at `off` in packed `raw`, and the next entry's offset.
#[inline]
fn entry_at(raw: &[u8], off: usize) -> (Ent, usize) {
    let (t, h) = read_fwd(raw, off);
    let (s, mut pos) = (t >> 1, off + h);
    let (mut p, mut ph) = (0, 0);
    if t & 1 != 0 {
        (p, ph) = read_fwd(raw, pos);
        pos += ph;
    }
    (Ent { p, ds: pos, s }, pos + s + ph + h)
}

/// The entry ending at `end` in packed `raw`, and its start.
#[inline]
fn entry_before(raw: &[u8], end: usize) -> (Ent, usize) {
    let (t, h) = read_back(raw, end);
    let (s, mut pos) = (t >> 1, end - h);
    let (mut p, mut ph) = (0, 0);
    if t & 1 != 0 {
        (p, ph) = read_back(raw, pos);
        pos -= ph;
    }
    let ds = pos - s;
    (Ent { p, ds, s }, ds - ph - h)
}

/// The logical size (see `logical_size`) of the packed entries `raw`.
fn logical_of(raw: &[u8]) -> usize {
    let mut off = 0;
    let mut total = 0;
    while off < raw.len() {
        let (e, next) = entry_at(raw, off);
        total += logical_size(e.len());
        off = next;
    }
    total
}

/// Offset of entry `k` of `count` entries in packed `raw`, walking from the nearer end.
fn nth_offset(raw: &[u8], count: usize, k: usize) -> usize {
    if k <= count / 2 {
        let mut off = 0;
        for _ in 0..k {
            off = entry_at(raw, off).1;
        }
        off
    } else {
        let mut end = raw.len();
        for _ in 0..count - k {
            end = entry_before(raw, end).1;
        }
        end
    }
}

// ---- nodes ----

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Raw,
    /// `buf` holds the LZF form of the entries; `end - start` is their raw length.
    Compressed,
    /// Raw, and a compression attempt did not pay off (not retried until it changes).
    Incompressible,
}

#[derive(Clone)]
struct Node {
    /// Raw: the entries are `buf[start..end]`, with free room on both sides.
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    count: u32,
    state: State,
    /// The bytes entries share a prefix with: the node's first element, when it got it.
    base: Box<[u8]>,
    /// The entries' `logical_size`s: what node limits count.
    logical: usize,
}

impl Node {
    fn new() -> Node {
        Node {
            buf: Box::new([]),
            start: 0,
            end: 0,
            count: 0,
            state: State::Raw,
            base: Box::new([]),
            logical: 0,
        }
    }

    /// Size of the packed entries (compressed or not).
    #[inline]
    fn raw_len(&self) -> usize {
        self.end - self.start
    }

    #[inline]
    /// A node holding one large element alone (see PACKED_THRESHOLD).
    fn is_plain(&self) -> bool {
        self.count == 1 && is_large(self.logical)
    }

    fn is_compressed(&self) -> bool {
        self.state == State::Compressed
    }

    /// The packed entries of a raw node.
    #[inline]
    fn data(&self) -> &[u8] {
        debug_assert!(!self.is_compressed());
        &self.buf[self.start..self.end]
    }

    /// The packed entries, decompressed into a temporary buffer if needed.
    fn raw(&self) -> Cow<'_, [u8]> {
        if self.is_compressed() {
            Cow::Owned(lzf::decompress(&self.buf, self.raw_len()).expect("own LZF data"))
        } else {
            Cow::Borrowed(self.data())
        }
    }

    /// Makes the node raw before it changes.
    fn touch(&mut self) {
        if self.is_compressed() {
            let raw = lzf::decompress(&self.buf, self.raw_len()).expect("own LZF data");
            self.end = raw.len();
            self.start = 0;
            self.buf = raw.into_boxed_slice();
        }
        self.state = State::Raw;
    }

    fn compress(&mut self) {
        if self.state != State::Raw {
            return;
        }
        let n = self.raw_len();
        if n < MIN_COMPRESS_BYTES {
            self.state = State::Incompressible;
            return;
        }
        let mut z = Vec::with_capacity(n);
        match crate::util::lzf::compress(self.data(), &mut z, n) {
            true if z.len() + MIN_COMPRESS_IMPROVE < n => {
                self.buf = z.into_boxed_slice();
                self.start = 0;
                self.end = n;
                self.state = State::Compressed;
            }
            _ => self.state = State::Incompressible,
        }
    }

    /// Ensures `front` free bytes before the data and `back` after it. Growth leaves extra
    /// room on the growing side (up to `limit` in total) so repeated pushes are amortized.
    fn reserve(&mut self, front: usize, back: usize, limit: usize) {
        debug_assert!(!self.is_compressed());
        if self.start >= front && self.buf.len() - self.end >= back {
            return;
        }
        let used = self.raw_len();
        let want = used + front + back;
        let slack = if used == 0 {
            0
        } else {
            (used / 2).max(16).min(limit.saturating_sub(want))
        };
        let (f, b) = if front > 0 {
            (front + slack, back)
        } else {
            (front, back + slack)
        };
        let mut nb = vec![0u8; f + used + b].into_boxed_slice();
        nb[f..f + used].copy_from_slice(self.data());
        self.buf = nb;
        self.start = f;
        self.end = f + used;
    }

    /// Gives back free room once the node will not grow at this edge any more.
    fn shrink(&mut self) {
        if self.is_compressed() {
            return;
        }
        let used = self.raw_len();
        if self.buf.len() > used + used / 8 + 16 {
            self.buf = self.data().to_vec().into_boxed_slice();
            self.start = 0;
            self.end = used;
        }
    }

    /// Shrinks after removals left most of the buffer unused.
    fn maybe_shrink(&mut self) {
        if self.buf.len() > 64 && self.raw_len() < self.buf.len() / 4 {
            self.shrink();
        }
    }

    /// A new node's first element becomes its base.
    fn adopt_base(&mut self, v: &[u8]) {
        if self.count == 0 {
            self.base = v[..v.len().min(BASE_MAX)].into();
        }
    }

    fn push_back(&mut self, v: &[u8], limit: usize) {
        self.adopt_base(v);
        let (p, sz) = coded(&self.base, v);
        self.reserve(0, sz, limit);
        write_entry(&mut self.buf[self.end..self.end + sz], p, &v[p..]);
        self.end += sz;
        self.count += 1;
        self.logical += logical_size(v.len());
        self.state = State::Raw;
    }

    fn push_front(&mut self, v: &[u8], limit: usize) {
        self.adopt_base(v);
        let (p, sz) = coded(&self.base, v);
        self.reserve(sz, 0, limit);
        write_entry(&mut self.buf[self.start - sz..self.start], p, &v[p..]);
        self.start -= sz;
        self.count += 1;
        self.logical += logical_size(v.len());
        self.state = State::Raw;
    }

    /// Replaces the raw bytes `[from, to)` (offsets into the data) with `with`.
    fn splice(&mut self, from: usize, to: usize, with: &[u8]) {
        debug_assert!(!self.is_compressed());
        let used = self.raw_len();
        let new_len = used - (to - from) + with.len();
        if new_len <= self.buf.len() - self.start && with.len() == to - from {
            let s = self.start;
            self.buf[s + from..s + to].copy_from_slice(with);
            self.state = State::Raw;
            return;
        }
        let mut v = Vec::with_capacity(new_len);
        let d = self.data();
        v.extend_from_slice(&d[..from]);
        v.extend_from_slice(with);
        v.extend_from_slice(&d[to..]);
        self.buf = v.into_boxed_slice();
        self.start = 0;
        self.end = new_len;
        self.state = State::Raw;
    }

    /// A raw node holding `data` (packed entries, coded against `base`) with `count`
    /// entries.
    fn from_packed(data: Vec<u8>, count: u32, base: Box<[u8]>) -> Node {
        let end = data.len();
        Node {
            logical: logical_of(&data),
            buf: data.into_boxed_slice(),
            start: 0,
            end,
            count,
            state: State::Raw,
            base,
        }
    }
}

// ---- the list ----

/// A list of byte strings in packed nodes. See the module docs.
#[derive(Clone)]
pub struct QuickList {
    nodes: VecDeque<Node>,
    len: usize,
    /// list-max-listpack-size when the list was made.
    fill: i16,
    /// list-compress-depth when the list was made.
    depth: u16,
}

impl QuickList {
    /// An empty list with Redis's options: `fill` = list-max-listpack-size,
    /// `depth` = list-compress-depth (both clamped as Redis clamps them).
    pub fn new(fill: i64, depth: usize) -> QuickList {
        let fill = if fill > i64::from(FILL_MAX) {
            FILL_MAX as i16
        } else if fill < -5 {
            -5
        } else {
            fill as i16
        };
        QuickList {
            nodes: VecDeque::new(),
            len: 0,
            fill,
            depth: depth.min(COMPRESS_MAX) as u16,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn compressed_nodes(&self) -> usize {
        self.nodes.iter().filter(|n| n.is_compressed()).count()
    }

    /// Bytes of packed entries (before compression) plus node overhead, roughly.
    pub fn heap_bytes(&self) -> usize {
        self.nodes
            .iter()
            .map(|n| n.buf.len() + n.base.len())
            .sum::<usize>()
            + self.nodes.capacity() * std::mem::size_of::<Node>()
    }

    #[inline]
    fn limit_bytes(&self) -> usize {
        if self.fill < 0 {
            SIZE_CLASSES[(-self.fill - 1) as usize]
        } else {
            SIZE_SAFETY_LIMIT
        }
    }

    /// Whether `n` may take `extra` more bytes in `add` more entries.
    #[inline]
    fn allows(&self, n: &Node, extra: usize, add: u32) -> bool {
        if n.count == 0 {
            return true;
        }
        if is_large(extra) || n.is_plain() {
            return false;
        }
        if n.logical + extra > self.limit_bytes() {
            return false;
        }
        self.fill < 0 || n.count + add <= self.fill as u32
    }

    // ---- compression bookkeeping ----

    #[inline]
    fn wants_compressed(&self, i: usize) -> bool {
        let d = self.depth as usize;
        d > 0 && i >= d && i + d < self.nodes.len()
    }

    fn settle(&mut self, i: usize) {
        if i >= self.nodes.len() {
            return;
        }
        if self.wants_compressed(i) {
            self.nodes[i].compress();
        } else if self.nodes[i].is_compressed() {
            self.nodes[i].touch();
        }
    }

    /// After nodes were added or removed at an end: only the nodes crossing the depth
    /// boundary can change state.
    fn settle_edges(&mut self) {
        let d = self.depth as usize;
        if d == 0 {
            return;
        }
        // Everything within depth + 1 of either end: removals of several nodes at an end
        // move more than one node across the boundary.
        let n = self.nodes.len();
        let front = (d + 1).min(n);
        for i in 0..front {
            self.settle(i);
        }
        for i in n.saturating_sub(d + 1).max(front)..n {
            self.settle(i);
        }
    }

    /// After changes in the middle.
    fn settle_all(&mut self) {
        if self.depth == 0 {
            return;
        }
        for i in 0..self.nodes.len() {
            self.settle(i);
        }
    }

    // ---- ends ----

    pub fn push(&mut self, head: bool, v: &[u8]) {
        if head {
            self.push_front(v)
        } else {
            self.push_back(v)
        }
    }

    pub fn push_back(&mut self, v: &[u8]) {
        let sz = logical_size(v.len());
        let limit = self.limit_bytes();
        let room = match self.nodes.back() {
            Some(n) => !n.is_compressed() && self.allows(n, sz, 1),
            None => false,
        };
        if !room {
            if let Some(n) = self.nodes.back_mut() {
                n.shrink();
            }
            self.nodes.push_back(Node::new());
            self.settle_edges();
        }
        let node = self.nodes.back_mut().expect("a tail node");
        node.push_back(v, limit);
        self.len += 1;
    }

    pub fn push_front(&mut self, v: &[u8]) {
        let sz = logical_size(v.len());
        let limit = self.limit_bytes();
        let room = match self.nodes.front() {
            Some(n) => !n.is_compressed() && self.allows(n, sz, 1),
            None => false,
        };
        if !room {
            if let Some(n) = self.nodes.front_mut() {
                n.shrink();
            }
            self.nodes.push_front(Node::new());
            self.settle_edges();
        }
        let node = self.nodes.front_mut().expect("a head node");
        node.push_front(v, limit);
        self.len += 1;
    }

    /// Pops the first (`head`) or last element and passes it to `f`.
    pub fn pop_with<R>(&mut self, head: bool, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let node = if head {
            self.nodes.front_mut()?
        } else {
            self.nodes.back_mut()?
        };
        node.touch();
        let mut scratch = Vec::new();
        let raw = &node.buf[node.start..node.end];
        let (e, r) = if head {
            let (e, next) = entry_at(raw, 0);
            let r = f(e.bytes(&node.base, raw, &mut scratch));
            node.start += next;
            (e, r)
        } else {
            let (e, st) = entry_before(raw, raw.len());
            let r = f(e.bytes(&node.base, raw, &mut scratch));
            node.end = node.start + st;
            (e, r)
        };
        node.logical -= logical_size(e.len());
        node.count -= 1;
        self.len -= 1;
        if node.count == 0 {
            if head {
                self.nodes.pop_front();
            } else {
                self.nodes.pop_back();
            }
            self.settle_edges();
        } else {
            node.maybe_shrink();
        }
        Some(r)
    }

    pub fn pop(&mut self, head: bool) -> Option<Vec<u8>> {
        self.pop_with(head, |v| v.to_vec())
    }

    // ---- positions ----

    /// (node index, index within the node) of element `index` (< len), walking node counts
    /// from the nearer end.
    fn locate(&self, index: usize) -> (usize, usize) {
        debug_assert!(index < self.len);
        if index < self.len / 2 {
            let mut i = index;
            for (ni, n) in self.nodes.iter().enumerate() {
                let c = n.count as usize;
                if i < c {
                    return (ni, i);
                }
                i -= c;
            }
        } else {
            let mut from_end = self.len - 1 - index;
            for (ni, n) in self.nodes.iter().enumerate().rev() {
                let c = n.count as usize;
                if from_end < c {
                    return (ni, c - 1 - from_end);
                }
                from_end -= c;
            }
        }
        unreachable!("index {index} within length {}", self.len)
    }

    /// Passes element `index` (< len) to `f`.
    pub fn get_with<R>(&self, index: usize, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        if index >= self.len {
            return None;
        }
        let (ni, k) = self.locate(index);
        let node = &self.nodes[ni];
        let raw = node.raw();
        let off = nth_offset(&raw, node.count as usize, k);
        let (e, _) = entry_at(&raw, off);
        Some(f(e.bytes(&node.base, &raw, &mut Vec::new())))
    }

    pub fn get(&self, index: usize) -> Option<Vec<u8>> {
        self.get_with(index, |v| v.to_vec())
    }

    /// Calls `f` on elements `start .. start + count` (clamped to the list), in order, or in
    /// reverse order when `reverse`.
    #[inline]
    pub fn for_range(&self, start: usize, count: usize, reverse: bool, mut f: impl FnMut(&[u8])) {
        if start >= self.len || count == 0 {
            return;
        }
        let mut left = count.min(self.len - start);
        let mut scratch = Vec::new();
        if !reverse {
            let (mut ni, k) = self.locate(start);
            let mut first = Some(k);
            while left > 0 {
                let node = &self.nodes[ni];
                let raw = node.raw();
                let mut off = match first.take() {
                    Some(k) => nth_offset(&raw, node.count as usize, k),
                    None => 0,
                };
                while left > 0 && off < raw.len() {
                    let (e, next) = entry_at(&raw, off);
                    f(e.bytes(&node.base, &raw, &mut scratch));
                    off = next;
                    left -= 1;
                }
                ni += 1;
            }
        } else {
            let last = start + left - 1;
            let (mut ni, k) = self.locate(last);
            let mut first = Some(k);
            loop {
                let node = &self.nodes[ni];
                let raw = node.raw();
                let mut end = match first.take() {
                    Some(k) => entry_at(&raw, nth_offset(&raw, node.count as usize, k)).1,
                    None => raw.len(),
                };
                while left > 0 && end > 0 {
                    let (e, st) = entry_before(&raw, end);
                    f(e.bytes(&node.base, &raw, &mut scratch));
                    end = st;
                    left -= 1;
                }
                if left == 0 || ni == 0 {
                    break;
                }
                ni -= 1;
            }
        }
    }

    /// DEBUG QUICKLIST's description, in the shape of Redis's quicklistRepr: the list, then
    /// each node; with `full`, each node's entries too.
    pub fn describe(&self, full: bool) -> String {
        use std::fmt::Write;
        let mut out = String::from("{quicklist}\n");
        let _ = writeln!(out, "{{count : {}}}", self.len);
        let _ = writeln!(out, "{{len : {}}}", self.nodes.len());
        let _ = writeln!(out, "{{fill : {}}}", self.fill);
        let _ = writeln!(out, "{{compress : {}}}", self.depth);
        let _ = writeln!(out, "{{bookmark_count : 0}}");
        let mut scratch = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let _ = writeln!(out, "{{quicklist node({i})");
            let _ = writeln!(
                out,
                "{{container : {}, encoding: {}, size: {}, count: {}, recompress: 0, attempted_compress: 0}}",
                if node.is_plain() { "PLAIN" } else { "PACKED" },
                if node.is_compressed() { "LZF" } else { "RAW" },
                node.raw_len(),
                node.count
            );
            if full {
                let raw = node.raw();
                let mut off = 0;
                let mut index = 0;
                while off < raw.len() {
                    let (e, next) = entry_at(&raw, off);
                    let bytes = e.bytes(&node.base, &raw, &mut scratch);
                    let _ = writeln!(
                        out,
                        "{{\n\tindex: {index},\n\t[str]{}\n}}",
                        String::from_utf8_lossy(bytes)
                    );
                    off = next;
                    index += 1;
                }
            }
            out.push_str("}\n");
        }
        out
    }

    /// Visits every element from the head (or from the tail) until `f` breaks.
    pub fn scan(&self, from_head: bool, mut f: impl FnMut(&[u8]) -> ControlFlow<()>) {
        let n = self.nodes.len();
        let mut scratch = Vec::new();
        for i in 0..n {
            let node = &self.nodes[if from_head { i } else { n - 1 - i }];
            let raw = node.raw();
            if from_head {
                let mut off = 0;
                while off < raw.len() {
                    let (e, next) = entry_at(&raw, off);
                    if f(e.bytes(&node.base, &raw, &mut scratch)).is_break() {
                        return;
                    }
                    off = next;
                }
            } else {
                let mut end = raw.len();
                while end > 0 {
                    let (e, st) = entry_before(&raw, end);
                    if f(e.bytes(&node.base, &raw, &mut scratch)).is_break() {
                        return;
                    }
                    end = st;
                }
            }
        }
    }

    /// Every element, head to tail (tests, persistence).
    pub fn to_vec(&self) -> Vec<Vec<u8>> {
        let mut v = Vec::with_capacity(self.len);
        self.for_range(0, self.len, false, |e| v.push(e.to_vec()));
        v
    }

    // ---- changes in the middle ----

    /// Replaces element `index`; false if out of range.
    pub fn set(&mut self, index: usize, v: &[u8]) -> bool {
        if index >= self.len {
            return false;
        }
        let (ni, k) = self.locate(index);
        let node = &mut self.nodes[ni];
        node.touch();
        let raw = node.data();
        let off = nth_offset(raw, node.count as usize, k);
        let (old, next) = entry_at(raw, off);
        let e = encode(&node.base, v);
        node.logical = node.logical - logical_size(old.len()) + logical_size(v.len());
        node.splice(off, next, &e);
        if node.count > 1 && node.logical > self.limit_bytes() {
            // Too big for the node now: give the element a node of its own.
            self.split(ni, k + 1);
            self.split(ni, k);
            self.merge_around(ni);
        }
        self.settle_all();
        true
    }

    /// Moves entries `k..` of node `ni` into a new node after it (no-op at the edges).
    fn split(&mut self, ni: usize, k: usize) {
        let node = &mut self.nodes[ni];
        let count = node.count as usize;
        if k == 0 || k >= count {
            return;
        }
        node.touch();
        let raw = node.data();
        let off = nth_offset(raw, count, k);
        let tail = Node::from_packed(raw[off..].to_vec(), (count - k) as u32, node.base.clone());
        node.end = node.start + off;
        node.count = k as u32;
        node.logical -= tail.logical;
        node.shrink();
        self.nodes.insert(ni + 1, tail);
    }

    /// Whether nodes `a` and `b` fit in one node.
    fn can_merge(&self, a: usize, b: usize) -> bool {
        let (x, y) = (&self.nodes[a], &self.nodes[b]);
        if x.is_plain() || y.is_plain() {
            return false;
        }
        let bytes = x.logical + y.logical;
        let count = x.count + y.count;
        bytes <= self.limit_bytes() && (self.fill < 0 || count <= self.fill.max(1) as u32)
    }

    /// Merges node `i + 1` into node `i`.
    fn merge_next(&mut self, i: usize) {
        let next = self.nodes.remove(i + 1).expect("next node");
        let limit = self.limit_bytes();
        let node = &mut self.nodes[i];
        let raw = next.raw();
        // The entries move as they are when both nodes share a base, else are coded again.
        let recoded;
        let raw: &[u8] = if next.base == node.base {
            &raw
        } else {
            let mut out = Vec::with_capacity(raw.len());
            let (mut off, mut scratch) = (0, Vec::new());
            while off < raw.len() {
                let (e, nx) = entry_at(&raw, off);
                out.extend_from_slice(&encode(&node.base, e.bytes(&next.base, &raw, &mut scratch)));
                off = nx;
            }
            recoded = out;
            &recoded
        };
        node.touch();
        node.reserve(0, raw.len(), limit);
        node.buf[node.end..node.end + raw.len()].copy_from_slice(raw);
        node.end += raw.len();
        node.count += next.count;
        node.logical += next.logical;
    }

    /// Merges node `i` with its neighbours where they fit together.
    fn merge_around(&mut self, i: usize) {
        let mut i = i;
        if i > 0 && i < self.nodes.len() && self.can_merge(i - 1, i) {
            self.merge_next(i - 1);
            i -= 1;
        }
        if i + 1 < self.nodes.len() && self.can_merge(i, i + 1) {
            self.merge_next(i);
        }
    }

    /// Inserts `v` so that it becomes element `index` (0 ..= len).
    pub fn insert(&mut self, index: usize, v: &[u8]) {
        if index == 0 {
            return self.push_front(v);
        }
        if index >= self.len {
            return self.push_back(v);
        }
        let sz = logical_size(v.len());
        let limit = self.limit_bytes();
        let (ni, k) = self.locate(index);
        if self.allows(&self.nodes[ni], sz, 1) {
            let node = &mut self.nodes[ni];
            node.touch();
            let off = nth_offset(node.data(), node.count as usize, k);
            let e = encode(&node.base, v);
            node.splice(off, off, &e);
            node.count += 1;
            node.logical += sz;
        } else if k == 0 && ni > 0 && self.allows(&self.nodes[ni - 1], sz, 1) {
            let prev = &mut self.nodes[ni - 1];
            prev.touch();
            prev.push_back(v, limit);
        } else {
            self.split(ni, k);
            let at = if k == 0 { ni } else { ni + 1 };
            let mut node = Node::new();
            node.push_back(v, limit);
            node.shrink();
            self.nodes.insert(at, node);
            self.merge_around(at);
        }
        self.len += 1;
        self.settle_all();
    }

    /// Removes `n` elements starting at `start` (clamped to the list).
    pub fn delete_range(&mut self, start: usize, n: usize) {
        if start >= self.len {
            return;
        }
        let mut left = n.min(self.len - start);
        let mut middle = false;
        while left > 0 {
            let (ni, k) = self.locate(start);
            let node = &mut self.nodes[ni];
            let count = node.count as usize;
            let take = left.min(count - k);
            if take == count {
                self.nodes.remove(ni);
                if ni != 0 && ni != self.nodes.len() {
                    middle = true;
                }
            } else {
                node.touch();
                let raw = node.data();
                let from = nth_offset(raw, count, k);
                let mut to = from;
                let mut logical = 0;
                for _ in 0..take {
                    let (e, next) = entry_at(raw, to);
                    logical += logical_size(e.len());
                    to = next;
                }
                let at_end = to == raw.len();
                node.logical -= logical;
                if from == 0 {
                    node.start += to;
                } else if at_end {
                    node.end = node.start + from;
                } else {
                    node.splice(from, to, &[]);
                }
                node.count -= take as u32;
                node.maybe_shrink();
                if ni != 0 && ni + 1 != self.nodes.len() {
                    middle = true;
                }
            }
            self.len -= take;
            left -= take;
        }
        if middle {
            self.settle_all();
        } else {
            self.settle_edges();
        }
    }

    /// Removes up to `limit` elements equal to `v` (all when `limit` is 0), scanning from the
    /// head or from the tail. Returns how many were removed.
    pub fn remove_matching(&mut self, v: &[u8], limit: usize, from_head: bool) -> usize {
        let mut removed = 0;
        let n = self.nodes.len();
        let mut emptied = false;
        let mut touched = Vec::new();
        for step in 0..n {
            if limit != 0 && removed == limit {
                break;
            }
            let ni = if from_head { step } else { n - 1 - step };
            let node = &self.nodes[ni];
            let raw = node.raw();
            let mut hits: Vec<(usize, usize)> = Vec::new();
            let mut off = 0;
            while off < raw.len() {
                let (e, next) = entry_at(&raw, off);
                if e.equals(&node.base, &raw, v) {
                    hits.push((off, next));
                }
                off = next;
            }
            if hits.is_empty() {
                continue;
            }
            if limit != 0 && hits.len() > limit - removed {
                let keep = limit - removed;
                if from_head {
                    hits.truncate(keep);
                } else {
                    hits.drain(..hits.len() - keep);
                }
            }
            let mut out = Vec::with_capacity(raw.len());
            let mut at = 0;
            for &(from, to) in &hits {
                out.extend_from_slice(&raw[at..from]);
                at = to;
            }
            out.extend_from_slice(&raw[at..]);
            drop(raw);
            let node = &mut self.nodes[ni];
            let count = node.count - hits.len() as u32;
            let base = std::mem::take(&mut node.base);
            *node = Node::from_packed(out, count, base);
            removed += hits.len();
            emptied |= count == 0;
            touched.push(ni);
        }
        if removed == 0 {
            return 0;
        }
        self.len -= removed;
        if emptied {
            self.nodes.retain(|n| n.count > 0);
        }
        if !touched.is_empty() && !self.nodes.is_empty() {
            // Pull fragments together where neighbours now fit in one node.
            let mut i = 0;
            while i + 1 < self.nodes.len() {
                let small = self.nodes[i].logical < self.limit_bytes() / 2
                    || self.nodes[i + 1].logical < self.limit_bytes() / 2;
                if small && self.can_merge(i, i + 1) {
                    self.merge_next(i);
                } else {
                    i += 1;
                }
            }
        }
        self.settle_all();
        removed
    }

    /// Checks the structure (tests): counts, encodings, node limits and compression.
    pub fn check_invariants(&self) {
        let mut total = 0;
        let n = self.nodes.len();
        for (i, node) in self.nodes.iter().enumerate() {
            assert!(node.count > 0, "empty node {i}");
            assert!(node.start <= node.end);
            if !node.is_compressed() {
                assert!(node.end <= node.buf.len());
            }
            let raw = node.raw();
            assert_eq!(raw.len(), node.raw_len());
            let mut off = 0;
            let mut c = 0;
            while off < raw.len() {
                let (e, next) = entry_at(&raw, off);
                assert!(next <= raw.len(), "entry overruns node {i}");
                assert_eq!(entry_before(&raw, next), (e, off), "trailer of node {i}");
                assert!(e.p <= node.base.len(), "prefix of node {i} beyond its base");
                assert!(e.p == 0 || e.p >= MIN_SHARED, "short prefix in node {i}");
                off = next;
                c += 1;
            }
            assert_eq!(c, node.count as usize, "count of node {i}");
            assert_eq!(node.logical, logical_of(&raw), "logical size of node {i}");
            if node.count > 1 {
                assert!(
                    node.logical <= self.limit_bytes(),
                    "node {i} over the byte limit"
                );
                if self.fill >= 0 {
                    assert!(node.count <= self.fill.max(1) as u32, "node {i} over fill");
                }
            }
            if self.wants_compressed(i) {
                assert!(
                    node.state != State::Raw,
                    "node {i} of {n} should be compressed"
                );
            } else {
                assert!(!node.is_compressed(), "node {i} of {n} should be raw");
            }
            total += node.count as usize;
        }
        assert_eq!(total, self.len, "length");
    }
}

impl std::fmt::Debug for QuickList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuickList")
            .field("len", &self.len)
            .field("nodes", &self.nodes.len())
            .field("fill", &self.fill)
            .field("depth", &self.depth)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn entry_encoding_roundtrip() {
        for n in [0usize, 1, 127, 128, 300, 16383, 16384, 70000, 3_000_000] {
            let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
            for p in [0, 4, 63, 200] {
                if p > n {
                    continue;
                }
                let mut base = data[..p].to_vec();
                base.extend_from_slice(b"!");
                let buf = encode(&base, &data);
                let (e, next) = entry_at(&buf, 0);
                assert_eq!((e.len(), next), (n, buf.len()));
                assert_eq!(e.bytes(&base, &buf, &mut Vec::new()), &data[..]);
                assert!(e.equals(&base, &buf, &data));
                assert_eq!(entry_before(&buf, buf.len()), (e, 0));
            }
        }
        // Whole elements cost what they did before prefix coding; shared prefixes save.
        assert_eq!(encode(b"", b"abc").len(), 5);
        assert_eq!(encode(b"", &[b'x'; 200]).len(), 204);
        assert_eq!(encode(b"element:123000", b"element:123456").len(), 7);
        assert_eq!(encode(b"element:123000", b"elem").len(), 4);
        assert_eq!(encode(b"elx", b"elxyz").len(), 7);
    }

    #[test]
    fn basic_ops() {
        let mut l = QuickList::new(4, 1);
        for i in 0..20u32 {
            l.push_back(i.to_string().as_bytes());
            l.check_invariants();
        }
        assert_eq!(l.len(), 20);
        assert!(l.node_count() >= 5);
        assert_eq!(l.get(7).unwrap(), b"7");
        l.insert(3, b"x");
        l.check_invariants();
        assert_eq!(l.get(3).unwrap(), b"x");
        assert_eq!(l.remove_matching(b"x", 0, true), 1);
        l.delete_range(2, 10);
        l.check_invariants();
        let v: Vec<String> = l
            .to_vec()
            .into_iter()
            .map(|e| String::from_utf8(e).unwrap())
            .collect();
        assert_eq!(
            v,
            ["0", "1", "12", "13", "14", "15", "16", "17", "18", "19"]
        );
        let mut rev = Vec::new();
        l.for_range(1, 3, true, |e| rev.push(e.to_vec()));
        assert_eq!(rev, vec![b"13".to_vec(), b"12".to_vec(), b"1".to_vec()]);
    }

    #[test]
    fn compression_of_inner_nodes() {
        let mut l = QuickList::new(-1, 1);
        let v = vec![b'a'; 500];
        for _ in 0..100 {
            l.push_back(&v);
        }
        l.check_invariants();
        assert!(l.compressed_nodes() > 0);
        assert!(l.heap_bytes() < 100 * 500 / 4);
        assert_eq!(l.get(50).unwrap(), v);
        for _ in 0..100 {
            l.pop(true).unwrap();
            l.check_invariants();
        }
        assert!(l.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(bool, Vec<u8>),
        Pop(bool),
        Set(usize, Vec<u8>),
        Insert(usize, Vec<u8>),
        Delete(usize, usize),
        Remove(Vec<u8>, usize, bool),
        Range(usize, usize, bool),
        Get(usize),
    }

    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            6 => prop::sample::select(vec![b"a".to_vec(), b"b".to_vec(), b"".to_vec(), b"12".to_vec()]),
            4 => (0..3usize, 0..2000u32).prop_map(|(k, i)| {
                let prefix = ["element:", "element:1", "job:queue:"][k];
                format!("{prefix}{i}").into_bytes()
            }),
            2 => prop::collection::vec(any::<u8>(), 0..40),
            1 => prop::collection::vec(Just(b'z'), 100..300),
            1 => prop::collection::vec(Just(b'q'), 5000..9000),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (any::<bool>(), value()).prop_map(|(h, v)| Op::Push(h, v)),
            3 => any::<bool>().prop_map(Op::Pop),
            2 => (0..200usize, value()).prop_map(|(i, v)| Op::Set(i, v)),
            3 => (0..200usize, value()).prop_map(|(i, v)| Op::Insert(i, v)),
            1 => (0..200usize, 0..30usize).prop_map(|(i, n)| Op::Delete(i, n)),
            1 => (value(), 0..4usize, any::<bool>()).prop_map(|(v, n, h)| Op::Remove(v, n, h)),
            2 => (0..200usize, 0..50usize, any::<bool>()).prop_map(|(i, n, r)| Op::Range(i, n, r)),
            2 => (0..200usize).prop_map(Op::Get),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn matches_vecdeque(
            fill in prop::sample::select(vec![-5i64, -2, -1, 0, 1, 3, 8]),
            depth in 0usize..3,
            ops in prop::collection::vec(op(), 1..300),
        ) {
            let mut l = QuickList::new(fill, depth);
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for op in ops {
                match op {
                    Op::Push(h, v) => {
                        l.push(h, &v);
                        if h { m.push_front(v) } else { m.push_back(v) }
                    }
                    Op::Pop(h) => {
                        let want = if h { m.pop_front() } else { m.pop_back() };
                        prop_assert_eq!(l.pop(h), want);
                    }
                    Op::Set(i, v) => {
                        let ok = i < m.len();
                        prop_assert_eq!(l.set(i, &v), ok);
                        if ok { m[i] = v; }
                    }
                    Op::Insert(i, v) => {
                        let i = i.min(m.len());
                        l.insert(i, &v);
                        m.insert(i, v);
                    }
                    Op::Delete(i, n) => {
                        l.delete_range(i, n);
                        if i < m.len() {
                            let n = n.min(m.len() - i);
                            m.drain(i..i + n);
                        }
                    }
                    Op::Remove(v, n, h) => {
                        let mut removed = 0;
                        if h {
                            let mut k = 0;
                            while k < m.len() {
                                if m[k] == v && (n == 0 || removed < n) {
                                    m.remove(k);
                                    removed += 1;
                                } else {
                                    k += 1;
                                }
                            }
                        } else {
                            let mut k = m.len();
                            while k > 0 {
                                k -= 1;
                                if m[k] == v && (n == 0 || removed < n) {
                                    m.remove(k);
                                    removed += 1;
                                }
                            }
                        }
                        prop_assert_eq!(l.remove_matching(&v, n, h), removed);
                    }
                    Op::Range(i, n, r) => {
                        let mut got = Vec::new();
                        l.for_range(i, n, r, |e| got.push(e.to_vec()));
                        let mut want: Vec<Vec<u8>> = m.iter().skip(i).take(n).cloned().collect();
                        if r { want.reverse(); }
                        prop_assert_eq!(got, want);
                    }
                    Op::Get(i) => {
                        prop_assert_eq!(l.get(i), m.get(i).cloned());
                    }
                }
                l.check_invariants();
                prop_assert_eq!(l.len(), m.len());
            }
            let all: Vec<Vec<u8>> = m.iter().cloned().collect();
            prop_assert_eq!(l.to_vec(), all);
            let mut back = Vec::new();
            l.scan(false, |e| { back.push(e.to_vec()); ControlFlow::Continue(()) });
            back.reverse();
            prop_assert_eq!(back, m.iter().cloned().collect::<Vec<_>>());
        }
    }
}
