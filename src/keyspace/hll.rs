//! HyperLogLog sketches stored in Redis's exact byte format, so that a value written here is
//! the same string Redis would hold after the same commands (GET, DUMP and RDB interoperate).
//!
//! Layout of the string: the 4-byte magic "HYLL", an encoding byte (0 dense, 1 sparse), three
//! unused bytes, the cached cardinality as 8 little-endian bytes whose top bit marks the cache
//! invalid, then the registers:
//!
//! * dense: 16384 registers of 6 bits each, packed least significant bit first (12288 bytes);
//! * sparse: run-length opcodes. `00xxxxxx` ZERO covers x+1 registers, `01xxxxxx yyyyyyyy`
//!   XZERO covers (x<<8|y)+1, `1vvvvvxx` VAL sets x+1 registers to v+1.
//!
//! Sparse strings are promoted to dense when they would grow past `hll-sparse-max-bytes` or
//! a register needs a value above 32. Every parse of client-supplied bytes is bounds checked:
//! a corrupt string yields `Corrupt` (INVALIDOBJ), never a panic. Where Redis reads one byte
//! past the end (its strings carry a NUL terminator) we read a zero, as it does.

use super::bytes::CompactBytes;

/// Bits of the hash that select the register.
const P: u32 = 14;
/// Bits of the hash left for the run of zeroes.
const Q: usize = 64 - P as usize;
pub const REGISTERS: usize = 1 << P;
const P_MASK: u64 = REGISTERS as u64 - 1;
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
pub const HDR_SIZE: usize = 16;
pub const DENSE_SIZE: usize = HDR_SIZE + (REGISTERS * BITS).div_ceil(8);
const MAGIC: &[u8; 4] = b"HYLL";
const ENC_DENSE: u8 = 0;
const ENC_SPARSE: u8 = 1;
/// Offset of the encoding byte and of the cached cardinality in the header.
const ENC_OFFSET: usize = 4;
const CARD_OFFSET: usize = 8;
/// Seed Redis passes to MurmurHash64A for HLL elements.
const HASH_SEED: u64 = 0xadc8_3b19;
/// 0.5/ln(2), the limit of the bias-correction constant for large register counts.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;

/// The data is not a well-formed HLL (Redis's INVALIDOBJ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Dense,
    Sparse,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Dense => "dense",
            Encoding::Sparse => "sparse",
        }
    }
}

/// A growable byte buffer holding an HLL string: the stored value in place, or a Vec.
pub trait HllBuf {
    fn bytes(&self) -> &[u8];
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Changes the length, zero-filling growth.
    fn set_len(&mut self, len: usize);
}

impl HllBuf for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
    fn set_len(&mut self, len: usize) {
        self.resize(len, 0);
    }
}

impl HllBuf for CompactBytes {
    fn bytes(&self) -> &[u8] {
        self.as_slice()
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
    fn set_len(&mut self, len: usize) {
        self.resize(len);
    }
}

// ---- header ----

/// The encoding if `s` passes Redis's isHLLObjectOrReply checks (magic, known encoding, and
/// exact length for dense), else None ("not a valid HyperLogLog string value").
pub fn encoding_of(s: &[u8]) -> Option<Encoding> {
    if s.len() < HDR_SIZE || &s[..4] != MAGIC {
        return None;
    }
    match s[ENC_OFFSET] {
        ENC_DENSE if s.len() == DENSE_SIZE => Some(Encoding::Dense),
        ENC_SPARSE => Some(Encoding::Sparse),
        _ => None,
    }
}

/// An empty sparse HLL: one XZERO covering all registers, cached cardinality 0 (valid).
pub fn new_sparse() -> Vec<u8> {
    let mut s = Vec::with_capacity(HDR_SIZE + 2);
    s.extend_from_slice(MAGIC);
    s.push(ENC_SPARSE);
    s.resize(HDR_SIZE, 0);
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(SPARSE_XZERO_MAX_LEN);
        s.extend_from_slice(&xzero_op(run));
        left -= run;
    }
    s
}

/// The cached cardinality, if the cache is valid. `s` must be at least a header long.
pub fn cached_card(s: &[u8]) -> Option<u64> {
    let card = u64::from_le_bytes(s[CARD_OFFSET..HDR_SIZE].try_into().ok()?);
    (card >> 63 == 0).then_some(card)
}

pub fn set_cached_card(s: &mut [u8], card: u64) {
    s[CARD_OFFSET..HDR_SIZE].copy_from_slice(&card.to_le_bytes());
}

/// Sets the invalid bit, keeping the other cache bytes as they are (as Redis does).
pub fn invalidate_cache(s: &mut [u8]) {
    s[HDR_SIZE - 1] |= 0x80;
}

// ---- hashing ----

/// Austin Appleby's MurmurHash64A, little-endian, as Redis uses it.
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    // Redis passes the length as a C int.
    let len = data.len() as i32 as i64 as u64;
    let mut h = seed ^ len.wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut k = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element maps to and the length of its "000..1" pattern (1..=Q+1).
pub fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, HASH_SEED);
    let index = (hash & P_MASK) as usize;
    // A sentinel bit at Q bounds the count when the remaining bits are all zero.
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---- dense registers ----

/// Register `i` of a packed 6-bit array; bytes past the end read as zero.
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let bit = i * BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    let b0 = u16::from(regs.get(byte).copied().unwrap_or(0));
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 | (b1 << 8)) >> shift) as u8) & REGISTER_MAX
}

/// Writes register `i` (value masked to 6 bits).
pub fn dense_set(regs: &mut [u8], i: usize, value: u8) {
    let bit = i * BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    let mask = u16::from(REGISTER_MAX) << shift;
    let v = u16::from(value & REGISTER_MAX) << shift;
    regs[byte] = (u16::from(regs[byte]) & !mask | v) as u8;
    if let Some(b) = regs.get_mut(byte + 1) {
        *b = ((u16::from(*b) << 8 & !mask | v) >> 8) as u8;
    }
}

/// All registers of a dense HLL string, one byte each.
pub fn dense_registers(s: &[u8]) -> Vec<u8> {
    let regs = &s[HDR_SIZE..];
    (0..REGISTERS).map(|i| dense_get(regs, i)).collect()
}

/// Raises register `i` to `count`; true if it changed.
fn dense_raise(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_set(regs, i, count);
        true
    } else {
        false
    }
}

// ---- sparse opcodes ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Zero(usize),
    XZero(usize),
    Val(u8, usize),
}

impl Op {
    /// Decodes the opcode at `pos` (< s.len()); returns it and its size in bytes.
    fn at(s: &[u8], pos: usize) -> (Op, usize) {
        let b = s[pos];
        if b & 0x80 != 0 {
            (Op::Val(((b >> 2) & 0x1f) + 1, usize::from(b & 3) + 1), 1)
        } else if b & 0x40 != 0 {
            let lo = s.get(pos + 1).copied().unwrap_or(0);
            (
                Op::XZero((usize::from(b & 0x3f) << 8 | usize::from(lo)) + 1),
                2,
            )
        } else {
            (Op::Zero(usize::from(b) + 1), 1)
        }
    }

    /// Registers covered.
    fn span(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }
}

fn val_op(value: u8, len: usize) -> u8 {
    0x80 | (value - 1) << 2 | (len - 1) as u8
}

fn zero_op(len: usize) -> u8 {
    (len - 1) as u8
}

fn xzero_op(len: usize) -> [u8; 2] {
    let l = len - 1;
    [0x40 | (l >> 8) as u8, (l & 0xff) as u8]
}

/// The opcodes replacing one split run: at most XZERO, VAL, XZERO (5 bytes).
struct Seq {
    bytes: [u8; 5],
    len: usize,
}

impl Seq {
    fn new() -> Self {
        Seq {
            bytes: [0; 5],
            len: 0,
        }
    }

    fn push(&mut self, b: u8) {
        self.bytes[self.len] = b;
        self.len += 1;
    }

    /// Appends the shortest opcode for a run of `len` zero registers.
    fn push_zeroes(&mut self, len: usize) {
        if len > SPARSE_ZERO_MAX_LEN {
            xzero_op(len).into_iter().for_each(|b| self.push(b));
        } else {
            self.push(zero_op(len));
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Walks the opcodes of a sparse string, calling `f(first_register, op)` for each.
/// Stops early when `f` returns false.
fn walk_sparse(s: &[u8], mut f: impl FnMut(usize, Op) -> bool) {
    let mut pos = HDR_SIZE;
    let mut first = 0usize;
    while pos < s.len() {
        let (op, size) = Op::at(s, pos);
        if !f(first, op) {
            return;
        }
        first += op.span();
        pos += size;
    }
}

/// Feeds the registers of a sparse string to `set(index, value)` for VAL runs; fails unless
/// the runs cover exactly REGISTERS. A VAL run that would pass the end stops the walk and
/// makes the string corrupt, so `set` only sees valid indexes.
fn for_each_sparse_val(s: &[u8], mut set: impl FnMut(usize, u8)) -> Result<(), Corrupt> {
    let mut covered = 0usize;
    let mut overflow = false;
    walk_sparse(s, |first, op| {
        covered = first + op.span();
        if let Op::Val(v, _) = op {
            if covered > REGISTERS {
                overflow = true;
                return false;
            }
            (first..covered).for_each(|i| set(i, v));
        }
        true
    });
    if covered == REGISTERS && !overflow {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// The dense string equivalent to a sparse one (header copied, encoding changed).
pub fn sparse_to_dense(s: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR_SIZE].copy_from_slice(&s[..HDR_SIZE]);
    dense[ENC_OFFSET] = ENC_DENSE;
    let regs = &mut dense[HDR_SIZE..];
    for_each_sparse_val(s, |i, v| dense_set(regs, i, v))?;
    Ok(dense)
}

/// Converts `buf` to dense in place; true if it was sparse.
pub fn to_dense<B: HllBuf + ?Sized>(buf: &mut B) -> Result<bool, Corrupt> {
    if buf.bytes()[ENC_OFFSET] == ENC_DENSE {
        return Ok(false);
    }
    let dense = sparse_to_dense(buf.bytes())?;
    buf.set_len(DENSE_SIZE);
    buf.bytes_mut().copy_from_slice(&dense);
    Ok(true)
}

/// Replaces `old_len` bytes at `pos` with `seq`. The result has exactly `len + seq.len() -
/// old_len` bytes even when the old opcode was cut short by the end of the string.
fn splice<B: HllBuf + ?Sized>(buf: &mut B, pos: usize, old_len: usize, seq: &[u8]) {
    let len = buf.bytes().len();
    let new_len = len + seq.len() - old_len;
    let tail = (pos + old_len).min(len)..len;
    if new_len > len {
        buf.set_len(new_len);
    }
    let bytes = buf.bytes_mut();
    if !tail.is_empty() {
        bytes.copy_within(tail, pos + seq.len());
    }
    let n = seq.len().min(new_len - pos);
    bytes[pos..pos + n].copy_from_slice(&seq[..n]);
    if new_len < len {
        buf.set_len(new_len);
    }
}

/// After an update, joins adjacent VAL opcodes of equal value whose runs fit in one opcode,
/// looking at up to five opcodes from `start` (the update can only have split one).
fn merge_adjacent_vals<B: HllBuf + ?Sized>(buf: &mut B, start: usize) {
    let mut pos = start;
    let mut budget = 5;
    while pos < buf.bytes().len() && budget > 0 {
        budget -= 1;
        let s = buf.bytes();
        match Op::at(s, pos) {
            (Op::XZero(_), _) => pos += 2,
            (Op::Zero(_), _) => pos += 1,
            (Op::Val(v1, n1), _) => {
                if let Some((Op::Val(v2, n2), _)) = (pos + 1 < s.len()).then(|| Op::at(s, pos + 1))
                {
                    if v1 == v2 && n1 + n2 <= SPARSE_VAL_MAX_LEN {
                        let len = s.len();
                        let bytes = buf.bytes_mut();
                        bytes.copy_within(pos + 1..len, pos);
                        bytes[pos] = val_op(v1, n1 + n2);
                        buf.set_len(len - 1);
                        // Stay here: the merged run may join the next one too.
                        continue;
                    }
                }
                pos += 1;
            }
        }
    }
}

/// The opcodes that replace a run (`op`, covering `first..=last`) when register `index` in it
/// becomes `count`.
fn split_run(op: Op, first: usize, last: usize, index: usize, count: u8) -> Seq {
    let mut seq = Seq::new();
    match op {
        Op::Val(v, _) => {
            if index != first {
                seq.push(val_op(v, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(v, last - index));
            }
        }
        Op::Zero(_) | Op::XZero(_) => {
            if index != first {
                seq.push_zeroes(index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push_zeroes(last - index);
            }
        }
    }
    seq
}

/// Raises register `index` of a sparse HLL to `count`, promoting to dense when the value does
/// not fit a VAL opcode or the string would pass `max_bytes`. True if a register changed.
fn sparse_raise<B: HllBuf + ?Sized>(
    buf: &mut B,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<bool, Corrupt> {
    if count > SPARSE_VAL_MAX_VALUE {
        return promote_and_raise(buf, index, count);
    }
    // Find the opcode covering `index`, and the one before it.
    let s = buf.bytes();
    let mut found = None;
    let mut prev = None;
    let (mut pos, mut first) = (HDR_SIZE, 0usize);
    while pos < s.len() {
        let (op, size) = Op::at(s, pos);
        if index < first + op.span() {
            found = Some((op, size));
            break;
        }
        prev = Some(pos);
        pos += size;
        first += op.span();
    }
    let (op, size) = found.ok_or(Corrupt)?;
    match op {
        Op::Val(v, _) if v >= count => return Ok(false),
        // A run of one register: rewrite the opcode in place.
        Op::Val(_, 1) | Op::Zero(1) => buf.bytes_mut()[pos] = val_op(count, 1),
        _ => {
            let seq = split_run(op, first, first + op.span() - 1, index, count);
            let (seq, len) = (seq.as_slice(), buf.bytes().len());
            if seq.len() > size && len + seq.len() - size > max_bytes {
                return promote_and_raise(buf, index, count);
            }
            splice(buf, pos, size, seq);
        }
    }
    merge_adjacent_vals(buf, prev.unwrap_or(HDR_SIZE));
    invalidate_cache(buf.bytes_mut());
    Ok(true)
}

fn promote_and_raise<B: HllBuf + ?Sized>(
    buf: &mut B,
    index: usize,
    count: u8,
) -> Result<bool, Corrupt> {
    to_dense(buf)?;
    Ok(dense_raise(&mut buf.bytes_mut()[HDR_SIZE..], index, count))
}

/// Raises register `index` to `count` in an HLL of either encoding (`buf` must have passed
/// `encoding_of`). True if the register changed.
pub fn raise<B: HllBuf + ?Sized>(
    buf: &mut B,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<bool, Corrupt> {
    match buf.bytes()[ENC_OFFSET] {
        ENC_DENSE => Ok(dense_raise(&mut buf.bytes_mut()[HDR_SIZE..], index, count)),
        ENC_SPARSE => sparse_raise(buf, index, count, max_bytes),
        _ => Err(Corrupt),
    }
}

/// Adds an element (Redis's hllAdd). True if a register changed.
pub fn add<B: HllBuf + ?Sized>(
    buf: &mut B,
    element: &[u8],
    max_bytes: usize,
) -> Result<bool, Corrupt> {
    let (index, count) = pattern(element);
    raise(buf, index, count, max_bytes)
}

/// Folds an HLL string into `max` (one byte per register): max[i] = MAX(max[i], hll[i]).
pub fn merge_into(max: &mut [u8], s: &[u8]) -> Result<(), Corrupt> {
    match s[ENC_OFFSET] {
        ENC_DENSE => {
            let regs = &s[HDR_SIZE..];
            for (i, m) in max.iter_mut().enumerate().take(REGISTERS) {
                *m = (*m).max(dense_get(regs, i));
            }
            Ok(())
        }
        _ => for_each_sparse_val(s, |i, v| max[i] = max[i].max(v)),
    }
}

// ---- cardinality ----

/// Counts of registers by value. Values above Q+1 cannot come from hashing but may be set by
/// hand in dense strings, hence 64 slots.
type Histogram = [u64; 64];

fn histogram_of_bytes(regs: &[u8]) -> Histogram {
    let mut h = [0u64; 64];
    for &r in regs.iter().take(REGISTERS) {
        h[usize::from(r & 63)] += 1;
    }
    h
}

fn histogram_dense(regs: &[u8]) -> Histogram {
    let mut h = [0u64; 64];
    for i in 0..REGISTERS {
        h[usize::from(dense_get(regs, i))] += 1;
    }
    h
}

fn histogram_sparse(s: &[u8]) -> Result<Histogram, Corrupt> {
    let mut h = [0u64; 64];
    let mut covered = 0usize;
    walk_sparse(s, |first, op| {
        covered = first + op.span();
        match op {
            Op::Zero(n) | Op::XZero(n) => h[0] += n as u64,
            Op::Val(v, n) => h[usize::from(v)] += n as u64,
        }
        true
    });
    if covered == REGISTERS {
        Ok(h)
    } else {
        Err(Corrupt)
    }
}

/// Ertl's σ(x) series ("New cardinality estimation algorithms for HyperLogLog sketches").
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    // Converges in well under 100 steps for x in [0, 1); the cap guards odd inputs.
    for _ in 0..1000 {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            break;
        }
    }
    z
}

/// Ertl's τ(x) series.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    for _ in 0..1000 {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if before == z {
            break;
        }
    }
    z / 3.0
}

/// The improved raw estimator over a register histogram (same operation order as Redis, so
/// the rounded result is identical).
fn estimate(h: &Histogram) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - h[Q + 1] as f64) / m);
    for &count in h[1..=Q].iter().rev() {
        z += count as f64;
        z *= 0.5;
    }
    z += m * sigma(h[0] as f64 / m);
    c_round_to_u64(ALPHA_INF * m * m / z)
}

/// Redis's `(uint64_t)(double)llroundl(x)` on x86-64, including its results for values no
/// integer can hold (registers set by hand can make the estimate infinite): llroundl gives
/// LLONG_MIN, whose conversion back to unsigned keeps the bit pattern (2^63).
fn c_round_to_u64(x: f64) -> u64 {
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if x.is_nan() || !(-TWO_POW_63..TWO_POW_63).contains(&x) {
        return 1 << 63;
    }
    let rounded = x.round() as i64 as f64;
    if rounded < 0.0 {
        rounded as i64 as u64
    } else {
        rounded as u64
    }
}

/// Cardinality estimate of an HLL string (ignoring the cache).
pub fn count(s: &[u8]) -> Result<u64, Corrupt> {
    let h = match s[ENC_OFFSET] {
        ENC_DENSE => histogram_dense(&s[HDR_SIZE..]),
        ENC_SPARSE => histogram_sparse(s)?,
        _ => return Err(Corrupt),
    };
    Ok(estimate(&h))
}

/// Cardinality estimate of one-byte-per-register data (the union built by `merge_into`).
pub fn count_registers(max: &[u8]) -> u64 {
    estimate(&histogram_of_bytes(max))
}

// ---- debugging ----

/// PFDEBUG DECODE's text: "Z:16374 v:2,1 z:9" style, one item per opcode.
pub fn decode_sparse(s: &[u8]) -> String {
    let mut parts = Vec::new();
    walk_sparse(s, |_, op| {
        parts.push(match op {
            Op::Zero(n) => format!("z:{n}"),
            Op::XZero(n) => format!("Z:{n}"),
            Op::Val(v, n) => format!("v:{v},{n}"),
        });
        true
    });
    parts.join(" ")
}

/// Why PFSELFTEST failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelfTestFailure {
    Register { index: usize, expected: u8, got: u8 },
    SparseNotUsed,
    Disagree,
    TooBigError { card: u64, abserr: u64 },
}

/// A small xorshift generator: the self test needs varied values, not secrets.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Round trips of random values through the packed registers.
fn self_test_registers(rng: &mut XorShift, rounds: usize) -> Result<(), SelfTestFailure> {
    let mut regs = vec![0u8; DENSE_SIZE - HDR_SIZE];
    let mut expected = vec![0u8; REGISTERS];
    for _ in 0..rounds {
        for (i, e) in expected.iter_mut().enumerate() {
            *e = (rng.next() as u8) & REGISTER_MAX;
            dense_set(&mut regs, i, *e);
        }
        for (index, &e) in expected.iter().enumerate() {
            let got = dense_get(&regs, index);
            if got != e {
                return Err(SelfTestFailure::Register {
                    index,
                    expected: e,
                    got,
                });
            }
        }
    }
    Ok(())
}

/// Adds distinct elements to a dense and a sparse HLL side by side; at every power of ten
/// checks that small sets stay sparse, both agree, and the error is within six standard
/// errors.
fn self_test_accuracy(
    rng: &mut XorShift,
    elements: u64,
    max_bytes: usize,
) -> Result<(), SelfTestFailure> {
    let mut dense = new_sparse();
    to_dense(&mut dense).map_err(|_| SelfTestFailure::Disagree)?;
    let mut sparse = new_sparse();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let seed = rng.next();
    let mut checkpoint = 1u64;
    for j in 1..=elements {
        let ele = (j ^ seed).to_le_bytes();
        add(&mut dense, &ele, max_bytes).map_err(|_| SelfTestFailure::Disagree)?;
        add(&mut sparse, &ele, max_bytes).map_err(|_| SelfTestFailure::Disagree)?;
        if j != checkpoint {
            continue;
        }
        if (j as usize) < max_bytes / 2 && encoding_of(&sparse) != Some(Encoding::Sparse) {
            return Err(SelfTestFailure::SparseNotUsed);
        }
        let estimate = count(&dense).map_err(|_| SelfTestFailure::Disagree)?;
        if count(&sparse) != Ok(estimate) {
            return Err(SelfTestFailure::Disagree);
        }
        let abserr = checkpoint.abs_diff(estimate);
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        if abserr > maxerr {
            return Err(SelfTestFailure::TooBigError {
                card: checkpoint,
                abserr,
            });
        }
        checkpoint *= 10;
    }
    Ok(())
}

/// PFSELFTEST: register access and estimator accuracy up to ten million elements.
pub fn self_test(max_bytes: usize, seed: u64) -> Result<(), SelfTestFailure> {
    let mut rng = XorShift(seed | 1);
    self_test_registers(&mut rng, 1000)?;
    self_test_accuracy(&mut rng, 10_000_000, max_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hll_with(elements: impl IntoIterator<Item = Vec<u8>>, max_bytes: usize) -> Vec<u8> {
        let mut s = new_sparse();
        for e in elements {
            add(&mut s, &e, max_bytes).unwrap();
        }
        s
    }

    fn nums(range: std::ops::Range<u32>) -> impl Iterator<Item = Vec<u8>> {
        range.map(|i| format!("ele:{i}").into_bytes())
    }

    /// All register values, whatever the encoding.
    fn registers(s: &[u8]) -> Vec<u8> {
        let mut max = vec![0u8; REGISTERS];
        merge_into(&mut max, s).unwrap();
        max
    }

    #[test]
    fn murmur_matches_reference_values() {
        // Redis 7.0.15 answers "Z:16374 v:2,1 z:9" to PFADD k x; PFDEBUG DECODE k.
        assert_eq!(pattern(b"x"), (16374, 2));
        assert_eq!(murmur64a(b"", 0), 0);
    }

    #[test]
    fn new_sparse_bytes() {
        let s = new_sparse();
        assert_eq!(s, b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
        assert_eq!(encoding_of(&s), Some(Encoding::Sparse));
        assert_eq!(cached_card(&s), Some(0));
        assert_eq!(count(&s), Ok(0));
        assert_eq!(decode_sparse(&s), "Z:16384");
    }

    #[test]
    fn dense_registers_round_trip() {
        let mut regs = vec![0u8; DENSE_SIZE - HDR_SIZE];
        for i in 0..REGISTERS {
            dense_set(&mut regs, i, (i * 7 % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i * 7 % 64) as u8, "register {i}");
        }
        assert!(self_test_registers(&mut XorShift(7), 3).is_ok());
    }

    #[test]
    fn sparse_and_dense_agree() {
        for n in [0u32, 1, 5, 50, 300, 1000] {
            let sparse = hll_with(nums(0..n), usize::MAX);
            assert_eq!(encoding_of(&sparse), Some(Encoding::Sparse));
            let dense = sparse_to_dense(&sparse).unwrap();
            assert_eq!(encoding_of(&dense), Some(Encoding::Dense));
            assert_eq!(registers(&sparse), registers(&dense));
            assert_eq!(count(&sparse), count(&dense));
            // Adding the same elements directly to a dense HLL gives the same registers.
            let mut direct = new_sparse();
            to_dense(&mut direct).unwrap();
            for e in nums(0..n) {
                add(&mut direct, &e, 0).unwrap();
            }
            assert_eq!(registers(&direct), registers(&dense));
        }
    }

    #[test]
    fn sparse_opcodes_stay_canonical() {
        // Every update leaves a sequence that decodes to the same registers as a dense twin,
        // and adjacent equal VAL runs are joined.
        let s = hll_with(nums(0..200), usize::MAX);
        let mut covered = 0;
        walk_sparse(&s, |first, op| {
            assert_eq!(first, covered);
            covered += op.span();
            true
        });
        assert_eq!(covered, REGISTERS);
    }

    #[test]
    fn promotes_at_max_bytes() {
        let s = hll_with(nums(0..2000), 3000);
        assert_eq!(encoding_of(&s), Some(Encoding::Dense));
        let small = hll_with(nums(0..100), 3000);
        assert_eq!(encoding_of(&small), Some(Encoding::Sparse));
        assert!(small.len() <= 3000);
        // A register value above 32 promotes too.
        let mut s = new_sparse();
        assert_eq!(raise(&mut s, 5, 33, 3000), Ok(true));
        assert_eq!(encoding_of(&s), Some(Encoding::Dense));
        assert_eq!(registers(&s)[5], 33);
    }

    #[test]
    fn raise_reports_changes() {
        let mut s = new_sparse();
        assert_eq!(add(&mut s, b"a", 3000), Ok(true));
        assert_eq!(add(&mut s, b"a", 3000), Ok(false));
        assert_eq!(cached_card(&s), None);
        set_cached_card(&mut s, 1);
        assert_eq!(cached_card(&s), Some(1));
    }

    #[test]
    fn estimator_accuracy() {
        let mut dense = new_sparse();
        to_dense(&mut dense).unwrap();
        let mut next = 1u64;
        for i in 1..=100_000u64 {
            add(&mut dense, &i.to_le_bytes(), 0).unwrap();
            if i == next || i == 100_000 {
                let est = count(&dense).unwrap() as f64;
                let err = (est - i as f64).abs() / i as f64;
                // Six standard errors (1.04/sqrt(m) = 0.81%), plus slack for tiny sets.
                assert!(
                    err <= 0.05 || (est - i as f64).abs() <= 1.0,
                    "n={i} est={est}"
                );
                next = next * 3 / 2 + 1;
            }
        }
    }

    #[test]
    fn merge_is_union() {
        let a = hll_with(nums(0..3000), 3000);
        let b = hll_with(nums(2000..5000), 3000);
        let both = hll_with(nums(0..5000), 3000);
        let mut max = vec![0u8; REGISTERS];
        merge_into(&mut max, &a).unwrap();
        merge_into(&mut max, &b).unwrap();
        assert_eq!(max, registers(&both));
        assert_eq!(count_registers(&max), count(&both).unwrap());
    }

    #[test]
    fn estimate_of_saturated_registers_matches_c() {
        // All registers at 63: z is 0, the estimate infinite; Redis replies 2^63 as a signed
        // integer.
        assert_eq!(count_registers(&[63u8; REGISTERS]), 1 << 63);
        assert_eq!(c_round_to_u64(2.5), 3);
        assert_eq!(c_round_to_u64(-0.4), 0);
        assert_eq!(c_round_to_u64(f64::NAN), 1 << 63);
    }

    #[test]
    fn validation() {
        assert_eq!(encoding_of(b"HYLL"), None);
        assert_eq!(encoding_of(b"HYLX\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff"), None);
        assert_eq!(encoding_of(b"HYLL\x02\0\0\0\0\0\0\0\0\0\0\0\x7f\xff"), None);
        let mut d = sparse_to_dense(&new_sparse()).unwrap();
        assert_eq!(encoding_of(&d), Some(Encoding::Dense));
        d.push(0);
        assert_eq!(encoding_of(&d), None);
        // Runs that do not cover exactly 16384 registers are corrupt.
        let mut s = new_sparse();
        s.push(0);
        assert_eq!(count(&s), Err(Corrupt));
        assert_eq!(sparse_to_dense(&s), Err(Corrupt));
        let header_only = &new_sparse()[..HDR_SIZE];
        assert_eq!(count(header_only), Err(Corrupt));
        assert_eq!(add(&mut header_only.to_vec(), b"x", 3000), Err(Corrupt));
    }

    #[test]
    fn corrupt_payloads_never_panic() {
        let mut rng = XorShift(0x1234_5678);
        for round in 0..3000 {
            let mut s = if round % 3 == 0 {
                hll_with(nums(0..(round % 200)), 3000)
            } else {
                new_sparse()[..HDR_SIZE].to_vec()
            };
            if round % 3 != 0 {
                let n = (rng.next() % 64) as usize;
                s.extend((0..n).map(|_| rng.next() as u8));
            } else {
                for _ in 0..1 + rng.next() % 5 {
                    let pos = HDR_SIZE + (rng.next() as usize) % (s.len() - HDR_SIZE);
                    s[pos] = rng.next() as u8;
                }
            }
            if round % 7 == 0 {
                s[ENC_OFFSET] = ENC_DENSE;
                s.resize(DENSE_SIZE, rng.next() as u8);
            }
            if encoding_of(&s).is_none() {
                continue;
            }
            let _ = count(&s);
            let _ = decode_sparse(&s);
            let mut max = vec![0u8; REGISTERS];
            let _ = merge_into(&mut max, &s);
            let mut t = s.clone();
            for i in 0..20u32 {
                if add(&mut t, &i.to_le_bytes(), 3000).is_err() {
                    break;
                }
            }
            for (i, v) in [(0usize, 3u8), (REGISTERS - 1, 40), (77, 1)] {
                let mut t = s.clone();
                let _ = raise(&mut t, i, v, 3000);
            }
            let mut t = s.clone();
            let _ = to_dense(&mut t);
        }
    }

    #[test]
    fn stored_values_behave_like_vecs() {
        // The server edits CompactBytes in place, inline (<= 23 bytes) or on the heap.
        let mut rng = XorShift(42);
        for round in 0..300 {
            let mut v = new_sparse()[..HDR_SIZE].to_vec();
            v.extend((0..round % 30).map(|_| rng.next() as u8));
            let mut c = CompactBytes::new(&v);
            for i in 0..50u32 {
                let e = i.to_le_bytes();
                let (a, b) = (add(&mut v, &e, 3000), add(&mut c, &e, 3000));
                assert_eq!(a, b);
                assert_eq!(v, c.as_slice());
                if a.is_err() {
                    break;
                }
            }
        }
    }

    #[test]
    fn self_test_passes_on_a_small_run() {
        let mut rng = XorShift(99);
        assert_eq!(self_test_accuracy(&mut rng, 100_000, 3000), Ok(()));
    }
}
