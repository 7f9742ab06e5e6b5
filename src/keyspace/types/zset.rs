//! The zset value type: a sorted set of unique byte-string members ordered by (score, member).
//!
//! Two representations, switched at Redis 7.0's points so OBJECT ENCODING agrees:
//! - `listpack` (`zpacked::Packed`): one byte buffer, linear operations, for small sets;
//! - `skiplist` (`skiplist::SkipList`): skiplist with spans plus a member index, O(log n)
//!   order operations and O(1) member lookups.
//!
//! A listpack becomes a skiplist when an insert would pass `zset-max-listpack-entries` or adds
//! a member longer than `zset-max-listpack-value`; a skiplist never goes back, except for
//! results built whole (ZUNIONSTORE and friends, RDB loading), which pick their encoding from
//! their final size (`from_sorted`). Callers pass the thresholds in (`Limits`).
//!
//! Positions (`Pos`) and walks (`Walk`) give the command layer one way to read either
//! representation. Data only: no RESP, no clock.

use std::cmp::Ordering;

use super::skiplist::{NodeRef, SkipList};
use super::zpacked::{Packed, MAX_SAFE_BYTES};

/// The compact-encoding thresholds (zset-max-listpack-entries / -value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_entries: usize,
    pub max_value: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 128,
            max_value: 64,
        }
    }
}

/// A score interval; `minex`/`maxex` make an end exclusive (`(` in Redis's syntax).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    #[inline]
    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    #[inline]
    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }

    /// True for ranges that can hold nothing whatever the set (Redis's zslIsInRange test).
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a lex range: `-`, `+`, `[member` or `(member`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    NegInf,
    PosInf,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

/// A member interval, compared as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    #[inline]
    pub fn gte_min(&self, v: &[u8]) -> bool {
        match &self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Incl(s) => v >= s.as_slice(),
            LexBound::Excl(s) => v > s.as_slice(),
        }
    }

    #[inline]
    pub fn lte_max(&self, v: &[u8]) -> bool {
        match &self.max {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(s) => v <= s.as_slice(),
            LexBound::Excl(s) => v < s.as_slice(),
        }
    }

    /// True for ranges that can hold nothing (Redis's zslIsInLexRange test, with its rule
    /// that `-` sorts before and `+` after every string, and each equals itself).
    pub fn is_empty(&self) -> bool {
        use LexBound::*;
        let cmp = match (&self.min, &self.max) {
            (NegInf, NegInf) | (PosInf, PosInf) => Ordering::Equal,
            (NegInf, _) | (_, PosInf) => Ordering::Less,
            (PosInf, _) | (_, NegInf) => Ordering::Greater,
            (Incl(a) | Excl(a), Incl(b) | Excl(b)) => a.cmp(b),
        };
        let exclusive = matches!(self.min, Excl(_)) || matches!(self.max, Excl(_));
        cmp == Ordering::Greater || (cmp == Ordering::Equal && exclusive)
    }
}

/// ZADD's input options.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

/// What an add did (Redis's zsetAdd out flags), with the resulting score where there is one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AddOutcome {
    Added(f64),
    Updated(f64),
    /// Present with that very score already: processed, nothing changed.
    Unchanged(f64),
    /// Skipped by NX, XX, GT or LT.
    Nop,
    /// The score (or the incremented score) is NaN; nothing changed.
    NotANumber,
}

#[derive(Clone)]
enum Repr {
    Packed(Packed),
    Skip(SkipList),
}

/// A sorted set value.
#[derive(Clone)]
pub struct ZSet {
    repr: Repr,
}

impl Default for ZSet {
    fn default() -> Self {
        Self::new_packed()
    }
}

impl std::fmt::Debug for ZSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.repr {
            Repr::Packed(p) => write!(f, "listpack{p:?}"),
            Repr::Skip(s) => write!(f, "skiplist{s:?}"),
        }
    }
}

/// A position in a set: a byte offset in a listpack or a skiplist node.
#[derive(Clone, Copy)]
pub enum Pos<'a> {
    Packed(usize),
    Skip(NodeRef<'a>),
}

impl ZSet {
    /// One step of a pending rehash of the member index.
    pub fn rehash_step(&mut self) {
        if let Repr::Skip(s) = &mut self.repr {
            s.rehash_step();
        }
    }

    /// DEBUG HTSTATS-KEY: the member index's statistics (skiplist encoding only).
    pub fn hash_table_stats(&self, out: &mut String) -> bool {
        match &self.repr {
            Repr::Skip(s) => {
                s.index_stats(out);
                true
            }
            Repr::Packed(_) => false,
        }
    }

    pub fn new_packed() -> Self {
        ZSet {
            repr: Repr::Packed(Packed::new()),
        }
    }

    pub fn new_skiplist() -> Self {
        ZSet {
            repr: Repr::Skip(SkipList::new()),
        }
    }

    /// The empty set ZADD creates for a new key (Redis 7.0): a skiplist if listpacks are
    /// disabled or the first member is already too long, else a listpack.
    pub fn for_new_key(limits: Limits, first_member_len: usize) -> Self {
        if limits.max_entries == 0 || limits.max_value < first_member_len {
            Self::new_skiplist()
        } else {
            Self::new_packed()
        }
    }

    /// The empty set ZRANGESTORE fills with `len_hint` members (-1: unknown).
    pub fn for_store(limits: Limits, len_hint: i64) -> Self {
        if len_hint > 0 && len_hint as u64 > limits.max_entries as u64 {
            Self::new_skiplist()
        } else {
            Self::new_packed()
        }
    }

    /// Builds a set from members sorted by (score, member), unique, scores not NaN; picks the
    /// encoding from the final size (Redis's zsetConvertToListpackIfNeeded).
    pub fn from_sorted(entries: &[(Vec<u8>, f64)], limits: Limits) -> Self {
        let max_len = entries.iter().map(|e| e.0.len()).max().unwrap_or(0);
        let total: usize = entries.iter().map(|e| e.0.len()).sum();
        if entries.len() <= limits.max_entries
            && max_len <= limits.max_value
            && total <= MAX_SAFE_BYTES
        {
            let mut p = Packed::new();
            for (m, s) in entries {
                p.push_sorted(*s, m);
            }
            return ZSet {
                repr: Repr::Packed(p),
            };
        }
        let mut s = SkipList::with_capacity(entries.len());
        for (m, score) in entries.iter().rev() {
            s.insert(*score, m);
        }
        ZSet {
            repr: Repr::Skip(s),
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.len(),
            Repr::Skip(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING's answer, as Redis 7.0.15 reports it.
    pub fn encoding_name(&self) -> &'static str {
        match &self.repr {
            Repr::Packed(_) => "listpack",
            Repr::Skip(_) => "skiplist",
        }
    }

    /// Heap bytes held (MEMORY USAGE style estimate).
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.heap_bytes(),
            Repr::Skip(s) => s.heap_bytes(),
        }
    }

    pub fn is_packed(&self) -> bool {
        matches!(self.repr, Repr::Packed(_))
    }

    /// Turns a listpack into a skiplist (Redis's zsetConvert).
    pub fn convert_to_skiplist(&mut self) {
        let Repr::Packed(p) = &self.repr else {
            return;
        };
        let mut s = SkipList::with_capacity(p.len());
        // From the largest down, so every insert stops at the head.
        let mut pos = p.last();
        while let Some(at) = pos {
            let (m, score) = p.get(at);
            s.insert(score, m);
            pos = p.prev(at);
        }
        self.repr = Repr::Skip(s);
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Packed(p) => p.find(member).map(|f| f.2),
            Repr::Skip(s) => s.score(member),
        }
    }

    /// Redis's zsetAdd: adds or updates `member` as the flags allow, converting a listpack
    /// that would grow past the limits.
    pub fn add(&mut self, score: f64, member: &[u8], f: AddFlags, limits: Limits) -> AddOutcome {
        if score.is_nan() {
            return AddOutcome::NotANumber;
        }
        let found = match &self.repr {
            Repr::Packed(p) => p.find(member).map(|(pos, _, cur)| (Some(pos), cur)),
            Repr::Skip(s) => s.score(member).map(|cur| (None, cur)),
        };
        let Some((pos, cur)) = found else {
            if f.xx {
                return AddOutcome::Nop;
            }
            if let Repr::Packed(p) = &self.repr {
                if p.len() + 1 > limits.max_entries
                    || member.len() > limits.max_value
                    || !p.safe_to_add(member.len())
                {
                    self.convert_to_skiplist();
                }
            }
            match &mut self.repr {
                Repr::Packed(p) => p.insert(score, member),
                Repr::Skip(s) => s.insert(score, member),
            }
            return AddOutcome::Added(score);
        };
        if f.nx {
            return AddOutcome::Nop;
        }
        let mut score = score;
        if f.incr {
            score += cur;
            if score.is_nan() {
                return AddOutcome::NotANumber;
            }
        }
        if (f.lt && score >= cur) || (f.gt && score <= cur) {
            return AddOutcome::Nop;
        }
        if score == cur {
            return AddOutcome::Unchanged(score);
        }
        match &mut self.repr {
            Repr::Packed(p) => {
                p.remove_at(pos.expect("found in the listpack"));
                p.insert(score, member);
            }
            Repr::Skip(s) => {
                s.update_score(member, score);
            }
        }
        AddOutcome::Updated(score)
    }

    /// Removes `member`; returns whether it was present.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Packed(p) => p.remove(member).is_some(),
            Repr::Skip(s) => s.remove(member).is_some(),
        }
    }

    /// Removes and returns the lowest (`max` false) or highest member.
    pub fn pop(&mut self, max: bool) -> Option<(Vec<u8>, f64)> {
        match &mut self.repr {
            Repr::Packed(p) => {
                let pos = if max { p.last()? } else { p.first()? };
                let (m, s) = p.get(pos);
                let out = (m.to_vec(), s);
                p.remove_at(pos);
                Some(out)
            }
            Repr::Skip(s) => s.pop(max),
        }
    }

    /// 0-based rank (ascending) and score of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match &self.repr {
            Repr::Packed(p) => p.find(member).map(|(_, r, s)| (r, s)),
            Repr::Skip(s) => s.rank(member),
        }
    }

    pub fn first(&self) -> Option<Pos<'_>> {
        match &self.repr {
            Repr::Packed(p) => p.first().map(Pos::Packed),
            Repr::Skip(s) => s.first().map(Pos::Skip),
        }
    }

    pub fn last(&self) -> Option<Pos<'_>> {
        match &self.repr {
            Repr::Packed(p) => p.last().map(Pos::Packed),
            Repr::Skip(s) => s.last().map(Pos::Skip),
        }
    }

    /// The member at 0-based ascending `rank`.
    pub fn at_rank(&self, rank: usize) -> Option<Pos<'_>> {
        match &self.repr {
            Repr::Packed(p) => p.at_rank(rank).map(Pos::Packed),
            Repr::Skip(s) => s.at_rank(rank + 1).map(Pos::Skip),
        }
    }

    /// 0-based ascending rank of a position.
    pub fn rank_of(&self, pos: Pos<'_>) -> usize {
        match (&self.repr, pos) {
            (Repr::Skip(s), Pos::Skip(n)) => s.rank_of(n) - 1,
            (Repr::Packed(p), Pos::Packed(at)) => {
                let mut r = 0;
                let mut q = p.first();
                while let Some(x) = q {
                    if x == at {
                        break;
                    }
                    r += 1;
                    q = p.next(x);
                }
                r
            }
            _ => unreachable!("position of another representation"),
        }
    }

    /// Member and score at a position.
    #[inline]
    pub fn get<'a>(&'a self, pos: Pos<'a>) -> (&'a [u8], f64) {
        match (&self.repr, pos) {
            (Repr::Packed(p), Pos::Packed(at)) => p.get(at),
            (_, Pos::Skip(n)) => (n.member(), n.score()),
            _ => unreachable!("position of another representation"),
        }
    }

    /// The next position in ascending (`reverse` false) or descending order.
    #[inline]
    pub fn step<'a>(&'a self, pos: Pos<'a>, reverse: bool) -> Option<Pos<'a>> {
        match (&self.repr, pos) {
            (Repr::Packed(p), Pos::Packed(at)) => {
                if reverse {
                    p.prev(at).map(Pos::Packed)
                } else {
                    p.next(at).map(Pos::Packed)
                }
            }
            (_, Pos::Skip(n)) => {
                if reverse {
                    n.prev().map(Pos::Skip)
                } else {
                    n.next().map(Pos::Skip)
                }
            }
            _ => unreachable!("position of another representation"),
        }
    }

    /// Walks from `start` in the given direction.
    pub fn walk<'a>(&'a self, start: Option<Pos<'a>>, reverse: bool) -> Walk<'a> {
        Walk {
            z: self,
            pos: start,
            reverse,
        }
    }

    /// All members in ascending order.
    pub fn iter(&self) -> Walk<'_> {
        self.walk(self.first(), false)
    }

    /// First member whose score is in range (zslFirstInRange / zzlFirstInRange).
    pub fn first_in_score(&self, r: &ScoreRange) -> Option<Pos<'_>> {
        match &self.repr {
            Repr::Skip(s) => s.first_in_score(r).map(Pos::Skip),
            Repr::Packed(p) => {
                if r.is_empty() {
                    return None;
                }
                let mut q = p.first();
                while let Some(at) = q {
                    let (_, score) = p.get(at);
                    if r.gte_min(score) {
                        return r.lte_max(score).then_some(Pos::Packed(at));
                    }
                    q = p.next(at);
                }
                None
            }
        }
    }

    /// Last member whose score is in range.
    pub fn last_in_score(&self, r: &ScoreRange) -> Option<Pos<'_>> {
        match &self.repr {
            Repr::Skip(s) => s.last_in_score(r).map(Pos::Skip),
            Repr::Packed(p) => {
                if r.is_empty() {
                    return None;
                }
                let mut q = p.last();
                while let Some(at) = q {
                    let (_, score) = p.get(at);
                    if r.lte_max(score) {
                        return r.gte_min(score).then_some(Pos::Packed(at));
                    }
                    q = p.prev(at);
                }
                None
            }
        }
    }

    /// First member in the lex range.
    pub fn first_in_lex(&self, r: &LexRange) -> Option<Pos<'_>> {
        match &self.repr {
            Repr::Skip(s) => s.first_in_lex(r).map(Pos::Skip),
            Repr::Packed(p) => {
                if !self.packed_in_lex_range(p, r) {
                    return None;
                }
                let mut q = p.first();
                while let Some(at) = q {
                    let (m, _) = p.get(at);
                    if r.gte_min(m) {
                        return r.lte_max(m).then_some(Pos::Packed(at));
                    }
                    q = p.next(at);
                }
                None
            }
        }
    }

    /// Last member in the lex range.
    pub fn last_in_lex(&self, r: &LexRange) -> Option<Pos<'_>> {
        match &self.repr {
            Repr::Skip(s) => s.last_in_lex(r).map(Pos::Skip),
            Repr::Packed(p) => {
                if !self.packed_in_lex_range(p, r) {
                    return None;
                }
                let mut q = p.last();
                while let Some(at) = q {
                    let (m, _) = p.get(at);
                    if r.lte_max(m) {
                        return r.gte_min(m).then_some(Pos::Packed(at));
                    }
                    q = p.prev(at);
                }
                None
            }
        }
    }

    /// zzlIsInLexRange: the range is not empty and overlaps the first..last members.
    fn packed_in_lex_range(&self, p: &Packed, r: &LexRange) -> bool {
        if r.is_empty() {
            return false;
        }
        match (p.first(), p.last()) {
            (Some(f), Some(l)) => r.gte_min(p.get(l).0) && r.lte_max(p.get(f).0),
            _ => false,
        }
    }

    /// Members with scores in range (ZCOUNT): O(log n) on a skiplist via ranks.
    pub fn count_in_score(&self, r: &ScoreRange) -> usize {
        let Some(first) = self.first_in_score(r) else {
            return 0;
        };
        if self.is_packed() {
            return self
                .walk(Some(first), false)
                .take_while(|e| r.lte_max(e.1))
                .count();
        }
        let last = self.last_in_score(r).expect("a first implies a last");
        self.rank_of(last) + 1 - self.rank_of(first)
    }

    /// Members in the lex range (ZLEXCOUNT).
    pub fn count_in_lex(&self, r: &LexRange) -> usize {
        let Some(first) = self.first_in_lex(r) else {
            return 0;
        };
        if self.is_packed() {
            return self
                .walk(Some(first), false)
                .take_while(|e| r.lte_max(e.0))
                .count();
        }
        let first_rank = self.rank_of(first);
        match self.last_in_lex(r) {
            Some(last) => (self.rank_of(last) + 1).saturating_sub(first_rank),
            None => 0,
        }
    }

    /// Removes the members with 0-based ranks start..=end (in bounds); returns how many.
    pub fn remove_rank_range(&mut self, start: usize, end: usize) -> usize {
        debug_assert!(start <= end && end < self.len());
        match &mut self.repr {
            Repr::Packed(p) => {
                let n = end - start + 1;
                if let Some(pos) = p.at_rank(start) {
                    p.remove_run(pos, n);
                }
                p.shrink();
                n
            }
            Repr::Skip(s) => s.remove_rank_range(start + 1, end + 1),
        }
    }

    /// Removes the members with scores in range; returns how many.
    pub fn remove_score_range(&mut self, r: &ScoreRange) -> usize {
        if let Repr::Skip(s) = &mut self.repr {
            return s.remove_score_range(r);
        }
        let Some(Pos::Packed(start)) = self.first_in_score(r) else {
            return 0;
        };
        let Repr::Packed(p) = &mut self.repr else {
            unreachable!("checked above")
        };
        let n = count_from(p, start, |_, s| r.lte_max(s));
        p.remove_run(start, n);
        p.shrink();
        n
    }

    /// Removes the members in the lex range; returns how many.
    pub fn remove_lex_range(&mut self, r: &LexRange) -> usize {
        if let Repr::Skip(s) = &mut self.repr {
            return s.remove_lex_range(r);
        }
        let Some(Pos::Packed(start)) = self.first_in_lex(r) else {
            return 0;
        };
        let Repr::Packed(p) = &mut self.repr else {
            unreachable!("checked above")
        };
        let n = count_from(p, start, |m, _| r.lte_max(m));
        p.remove_run(start, n);
        p.shrink();
        n
    }

    /// Gives a skiplist's member index a chance to shrink after many removals.
    pub fn shrink(&mut self) {
        match &mut self.repr {
            Repr::Packed(p) => p.shrink(),
            Repr::Skip(s) => s.shrink_index(),
        }
    }

    /// A random member with its score.
    pub fn random(&self, rng: &mut dyn FnMut() -> u64) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Packed(p) => {
                if p.is_empty() {
                    return None;
                }
                let r = (rng() % p.len() as u64) as usize;
                p.at_rank(r).map(|at| p.get(at))
            }
            Repr::Skip(s) => s.random(rng).map(|n| (n.member(), n.score())),
        }
    }

    /// One ZSCAN step. A listpack is returned whole with cursor 0, as Redis does; a skiplist
    /// visits index buckets with the reverse-binary cursor.
    pub fn scan(&self, cursor: u64, f: &mut dyn FnMut(&[u8], f64)) -> u64 {
        match &self.repr {
            Repr::Packed(p) => {
                for (m, s) in p.iter() {
                    f(m, s);
                }
                0
            }
            Repr::Skip(s) => s.scan(cursor, f),
        }
    }

    /// Checks the representation's invariants (tests).
    pub fn check_invariants(&self) {
        match &self.repr {
            Repr::Packed(p) => p.check_invariants(),
            Repr::Skip(s) => s.check_invariants(),
        }
    }
}

/// Entries from `start` on while `keep` holds.
fn count_from(p: &Packed, start: usize, mut keep: impl FnMut(&[u8], f64) -> bool) -> usize {
    let mut n = 0;
    let mut q = Some(start);
    while let Some(at) = q {
        let (m, s) = p.get(at);
        if !keep(m, s) {
            break;
        }
        n += 1;
        q = p.next(at);
    }
    n
}

/// A walk over a set in one direction.
pub struct Walk<'a> {
    z: &'a ZSet,
    pos: Option<Pos<'a>>,
    reverse: bool,
}

impl<'a> Iterator for Walk<'a> {
    type Item = (&'a [u8], f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let pos = self.pos?;
        self.pos = self.z.step(pos, self.reverse);
        Some(self.z.get(pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn sorted(model: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<(Vec<u8>, f64)> = model.iter().map(|(k, s)| (k.clone(), *s)).collect();
        v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
        v
    }

    fn contents(z: &ZSet) -> Vec<(Vec<u8>, f64)> {
        z.iter().map(|(m, s)| (m.to_vec(), s)).collect()
    }

    #[test]
    fn converts_at_the_limits() {
        let lim = Limits {
            max_entries: 3,
            max_value: 4,
        };
        let mut z = ZSet::for_new_key(lim, 1);
        for (i, m) in [b"a", b"b", b"c"].iter().enumerate() {
            assert_eq!(
                z.add(i as f64, *m, AddFlags::default(), lim),
                AddOutcome::Added(i as f64)
            );
        }
        assert_eq!(z.encoding_name(), "listpack");
        z.add(9.0, b"d", AddFlags::default(), lim);
        assert_eq!(z.encoding_name(), "skiplist");
        z.check_invariants();
        // Never back, even when small again.
        while z.pop(false).is_some() {}
        assert_eq!(z.encoding_name(), "skiplist");
        let mut z = ZSet::for_new_key(lim, 1);
        z.add(1.0, b"toolong", AddFlags::default(), lim);
        assert_eq!(z.encoding_name(), "skiplist");
        assert_eq!(ZSet::for_new_key(lim, 5).encoding_name(), "skiplist");
        let zero = Limits {
            max_entries: 0,
            max_value: 64,
        };
        assert_eq!(ZSet::for_new_key(zero, 1).encoding_name(), "skiplist");
    }

    #[test]
    fn add_flags() {
        let lim = Limits::default();
        let mut z = ZSet::new_packed();
        let nx = AddFlags {
            nx: true,
            ..Default::default()
        };
        let gt = AddFlags {
            gt: true,
            ..Default::default()
        };
        let incr = AddFlags {
            incr: true,
            ..Default::default()
        };
        assert_eq!(z.add(1.0, b"a", nx, lim), AddOutcome::Added(1.0));
        assert_eq!(z.add(2.0, b"a", nx, lim), AddOutcome::Nop);
        assert_eq!(z.add(0.0, b"a", gt, lim), AddOutcome::Nop);
        assert_eq!(z.add(5.0, b"a", gt, lim), AddOutcome::Updated(5.0));
        assert_eq!(z.add(5.0, b"a", gt, lim), AddOutcome::Nop);
        assert_eq!(
            z.add(5.0, b"a", AddFlags::default(), lim),
            AddOutcome::Unchanged(5.0)
        );
        assert_eq!(
            z.add(f64::INFINITY, b"a", incr, lim),
            AddOutcome::Updated(f64::INFINITY)
        );
        assert_eq!(
            z.add(f64::NEG_INFINITY, b"a", incr, lim),
            AddOutcome::NotANumber
        );
        assert_eq!(z.score(b"a"), Some(f64::INFINITY));
    }

    #[test]
    fn lex_range_emptiness() {
        use LexBound::*;
        let r = |min, max| LexRange { min, max };
        assert!(!r(NegInf, PosInf).is_empty());
        assert!(!r(NegInf, NegInf).is_empty());
        assert!(r(PosInf, NegInf).is_empty());
        assert!(!r(Incl(b"a".to_vec()), Incl(b"a".to_vec())).is_empty());
        assert!(r(Excl(b"a".to_vec()), Incl(b"a".to_vec())).is_empty());
        assert!(r(Incl(b"b".to_vec()), Incl(b"a".to_vec())).is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(u8, i8, u8),
        Remove(u8),
        Pop(bool),
        RemoveRank(u8, u8),
        RemoveScore(i8, i8, bool, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u8..40, -6i8..6, 0u8..32).prop_map(|(a, b, c)| Op::Add(a, b, c)),
            2 => (0u8..40).prop_map(Op::Remove),
            1 => any::<bool>().prop_map(Op::Pop),
            1 => (0u8..30, 0u8..30).prop_map(|(a, b)| Op::RemoveRank(a, b)),
            1 => (-6i8..6, -6i8..6, any::<bool>(), any::<bool>())
                .prop_map(|(a, b, c, d)| Op::RemoveScore(a, b, c, d)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        /// Both representations behave like the model, through conversions.
        #[test]
        fn model(ops in proptest::collection::vec(op(), 0..150), max_entries in 0usize..12) {
            let lim = Limits { max_entries, max_value: 6 };
            let mut z = ZSet::for_new_key(lim, 1);
            let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Add(a, s, flags) => {
                        let m = vec![b'a' + a % 26; usize::from(a / 26) * 6 + 1];
                        let f = AddFlags {
                            nx: flags & 1 != 0,
                            xx: flags & 2 != 0 && flags & 1 == 0,
                            gt: flags & 4 != 0 && flags & 1 == 0,
                            lt: flags & 8 != 0 && flags & 5 == 0,
                            incr: flags & 16 != 0,
                        };
                        let mut score = f64::from(s) / 2.0;
                        let out = z.add(score, &m, f, lim);
                        match model.get(&m).copied() {
                            None if f.xx => prop_assert_eq!(out, AddOutcome::Nop),
                            None => {
                                prop_assert_eq!(out, AddOutcome::Added(score));
                                model.insert(m, score);
                            }
                            Some(_) if f.nx => prop_assert_eq!(out, AddOutcome::Nop),
                            Some(cur) => {
                                if f.incr {
                                    score += cur;
                                }
                                if (f.lt && score >= cur) || (f.gt && score <= cur) {
                                    prop_assert_eq!(out, AddOutcome::Nop);
                                } else if score == cur {
                                    prop_assert_eq!(out, AddOutcome::Unchanged(score));
                                } else {
                                    prop_assert_eq!(out, AddOutcome::Updated(score));
                                    model.insert(m, score);
                                }
                            }
                        }
                    }
                    Op::Remove(a) => {
                        let m = vec![b'a' + a % 26; usize::from(a / 26) * 6 + 1];
                        prop_assert_eq!(z.remove(&m), model.remove(&m).is_some());
                    }
                    Op::Pop(max) => {
                        let s = sorted(&model);
                        let want = if max { s.last().cloned() } else { s.first().cloned() };
                        if let Some((k, _)) = &want {
                            model.remove(k);
                        }
                        prop_assert_eq!(z.pop(max), want);
                    }
                    Op::RemoveRank(a, b) => {
                        let (start, end) = (usize::from(a.min(b)), usize::from(a.max(b)));
                        if end < model.len() {
                            let s = sorted(&model);
                            prop_assert_eq!(z.remove_rank_range(start, end), end - start + 1);
                            for (k, _) in &s[start..=end] {
                                model.remove(k);
                            }
                        }
                    }
                    Op::RemoveScore(a, b, minex, maxex) => {
                        let r = ScoreRange { min: f64::from(a) / 2.0, max: f64::from(b) / 2.0, minex, maxex };
                        let want = model.values().filter(|s| r.gte_min(**s) && r.lte_max(**s)).count();
                        prop_assert_eq!(z.count_in_score(&r), if r.is_empty() { 0 } else { want });
                        let n = z.remove_score_range(&r);
                        let before = model.len();
                        model.retain(|_, s| !(r.gte_min(*s) && r.lte_max(*s)));
                        prop_assert_eq!(n, before - model.len());
                    }
                }
                z.check_invariants();
                let want = sorted(&model);
                prop_assert_eq!(contents(&z), want.clone());
                let rev: Vec<(Vec<u8>, f64)> = z.walk(z.last(), true).map(|(m, s)| (m.to_vec(), s)).collect();
                prop_assert_eq!(rev, want.iter().rev().cloned().collect::<Vec<_>>());
                for (i, (k, s)) in want.iter().enumerate() {
                    prop_assert_eq!(z.rank(k), Some((i, *s)));
                    let pos = z.at_rank(i).unwrap();
                    prop_assert_eq!(z.get(pos).0, &k[..]);
                    prop_assert_eq!(z.rank_of(pos), i);
                }
                if z.len() > max_entries {
                    prop_assert_eq!(z.encoding_name(), "skiplist");
                }
            }
            let rebuilt = ZSet::from_sorted(&sorted(&model), lim);
            rebuilt.check_invariants();
            prop_assert_eq!(contents(&rebuilt), sorted(&model));
        }
    }
}
