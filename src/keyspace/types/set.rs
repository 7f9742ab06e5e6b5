//! The set value type.
//!
//! Three representations, reported as Redis 7.0.15 reports them:
//! - `Ints`: an intset (`intset`), while every member is a canonical decimal i64 and there are
//!   at most set-max-intset-entries of them;
//! - `Packed`: a small set of strings in one buffer (reported as `hashtable`, which is what
//!   Redis 7.0 uses for it); bounded by set-max-listpack-entries/-value, the thresholds Redis 7.2
//!   gives its own packed sets;
//! - `Table`: a `Dict` of members (`hashtable`), with SCAN cursors and incremental rehashing.
//!
//! - `Expiring`: a packed set or a table whose members may have TTLs (Redis 8.12's set member
//!   expiration), reported as `listpackex` while packed; the TTLs live beside the members in
//!   a `MemberTtls`. A set becomes one with its first member TTL and stays one.
//!
//! As in Redis, a set never goes back to `intset` by itself: only commands that build a new
//! set (the *STORE commands, SPOP's rebuild, loading) choose the encoding afresh.

use super::intset::IntSet;
use super::member_ttls::MemberTtls;
use super::packed_set::PackedSet;
use super::set_key::SetKey;
use crate::keyspace::bytes::CompactBytes;
use crate::keyspace::dict::Dict;
use crate::util::num::parse_i64;

/// The hash table of a big set.
pub type Table = Dict<SetKey, ()>;

/// Encoding thresholds, read from the settings at each command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// set-max-intset-entries.
    pub max_intset_entries: usize,
    /// set-max-listpack-entries: most members kept packed.
    pub max_packed_entries: usize,
    /// set-max-listpack-value: longest member kept packed.
    pub max_packed_value: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_intset_entries: 512,
            max_packed_entries: 128,
            max_packed_value: 64,
        }
    }
}

/// A set value.
pub enum Set {
    Ints(IntSet),
    Packed(PackedSet),
    Table(Box<Table>),
    Expiring(Box<Expiring>),
}

/// A set whose members may have TTLs: the members (`Packed` or `Table`, never another
/// encoding) and the TTLs of those that have one.
pub struct Expiring {
    members: Set,
    ttls: MemberTtls,
}

/// Whether a member TTL `at` (absolute ms) has passed at `clock`: the TTL's own millisecond
/// is still alive, as for keys and hash fields.
#[inline]
pub fn ttl_passed(at: i64, clock: i64) -> bool {
    at < clock
}

/// A borrowed member: integers of an intset are not stored as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// Calls `f` with the member's bytes (integers formatted on the stack).
    #[inline]
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(i) => f(itoa::Buffer::new().format(i).as_bytes()),
            Member::Bytes(b) => f(b),
        }
    }

    pub fn to_vec(self) -> Vec<u8> {
        self.with_bytes(<[u8]>::to_vec)
    }

    pub fn to_owned(self) -> Owned {
        match self {
            Member::Int(i) => Owned::Int(i),
            Member::Bytes(b) => Owned::Bytes(CompactBytes::new(b)),
        }
    }
}

/// An owned member (what SPOP takes out of a set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owned {
    Int(i64),
    Bytes(CompactBytes),
}

impl Owned {
    pub fn as_member(&self) -> Member<'_> {
        match self {
            Owned::Int(i) => Member::Int(*i),
            Owned::Bytes(b) => Member::Bytes(b.as_slice()),
        }
    }
}

/// The integer an intset would store for `m` (Redis's string2ll rules), if any.
#[inline]
pub fn as_int(m: &[u8]) -> Option<i64> {
    parse_i64(m)
}

/// Decimal length of an integer.
#[inline]
fn int_len(i: i64) -> usize {
    itoa::Buffer::new().format(i).len()
}

impl Default for Set {
    fn default() -> Self {
        Self::new_ints()
    }
}

impl Set {
    /// DEBUG HTSTATS-KEY: the table's statistics (hashtable encoding only). A small set of
    /// strings is packed here but a table in Redis (both report `hashtable`): it shows the
    /// size Redis's table would have, without chain statistics.
    pub fn hash_table_stats(&self, out: &mut String) -> bool {
        match self {
            Set::Table(t) => t.stats(out),
            Set::Packed(p) => {
                let n = p.len();
                out.push_str(&format!(
                    "Hash table 0 stats (main hash table):\n table size: {}\n number of elements: {n}\n",
                    n.max(crate::keyspace::rehash::INITIAL_SIZE).next_power_of_two()
                ));
            }
            Set::Ints(_) => return false,
            Set::Expiring(e) => return e.members.hash_table_stats(out),
        }
        true
    }

    /// One step of a pending rehash of a table.
    pub fn rehash_step(&mut self) {
        match self {
            Set::Table(t) => {
                t.rehash(1);
            }
            Set::Expiring(e) => e.members.rehash_step(),
            _ => {}
        }
    }

    /// An empty intset: where Redis starts every set built by a command (createIntsetObject).
    pub const fn new_ints() -> Self {
        Set::Ints(IntSet::new())
    }

    /// An empty set of the encoding Redis creates for a first member `first` (setTypeCreate).
    pub fn new_for(first: &[u8]) -> Self {
        if as_int(first).is_some() {
            Set::Ints(IntSet::new())
        } else {
            Set::Packed(PackedSet::new())
        }
    }

    /// Builds a set from members the way Redis loads one: intset if every member is an integer
    /// and there are at most `max_intset_entries`, else a hash table. Err on a duplicate.
    pub fn from_members<'a>(
        members: impl IntoIterator<Item = &'a [u8]>,
        lim: &Limits,
    ) -> Result<Set, &'a [u8]> {
        let mut s = Set::new_ints();
        for m in members {
            if !s.insert(m, lim) {
                return Err(m);
            }
        }
        Ok(s)
    }

    #[inline]
    pub fn len(&self) -> usize {
        match self {
            Set::Ints(s) => s.len(),
            Set::Packed(s) => s.len(),
            Set::Table(d) => d.len(),
            Set::Expiring(e) => e.members.len(),
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING's answer, as Redis 7.0.15 reports it (and Redis 8.12 for a set with
    /// member TTLs: `listpackex` while small).
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Packed(_) | Set::Table(_) => "hashtable",
            Set::Expiring(e) if matches!(e.members, Set::Packed(_)) => "listpackex",
            Set::Expiring(_) => "hashtable",
        }
    }

    /// True when the members are in a hash table (SSCAN then walks it with a cursor).
    #[inline]
    pub fn is_table(&self) -> bool {
        match self {
            Set::Table(_) => true,
            Set::Expiring(e) => e.members.is_table(),
            _ => false,
        }
    }

    /// True for the intset encoding.
    #[inline]
    pub fn is_intset(&self) -> bool {
        matches!(self, Set::Ints(_))
    }

    /// Redis's intset bytes of an intset-encoded set (empty otherwise).
    pub fn intset_bytes(&self) -> Vec<u8> {
        match self {
            Set::Ints(s) => s.to_redis_bytes(),
            _ => Vec::new(),
        }
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Ints(s) => as_int(m).is_some_and(|i| s.contains(i)),
            Set::Packed(s) => s.contains(m),
            Set::Table(d) => d.contains_key(m),
            Set::Expiring(e) => e.members.contains(m),
        }
    }

    /// Membership of a member taken from another set (no formatting for intset pairs).
    #[inline]
    pub fn contains_member(&self, m: Member<'_>) -> bool {
        match (self, m) {
            (Set::Ints(s), Member::Int(i)) => s.contains(i),
            (_, m) => m.with_bytes(|b| self.contains(b)),
        }
    }

    /// Leaves the intset encoding for a hash table (Redis's setTypeConvert), packed when the
    /// members, plus `adding` more, stay within the packed limits.
    fn convert_from_ints(&mut self, lim: &Limits, adding: usize) {
        let Set::Ints(ints) = self else {
            return;
        };
        let n = ints.len();
        let fits = n + adding <= lim.max_packed_entries
            && ints.iter().all(|i| int_len(i) <= lim.max_packed_value);
        *self = Self::from_ints(ints, fits);
    }

    /// The members of an intset as text, packed or in a table.
    fn from_ints(ints: &IntSet, packed: bool) -> Set {
        let mut buf = itoa::Buffer::new();
        if packed {
            let mut p = PackedSet::new();
            for i in ints.iter() {
                p.push_new(buf.format(i).as_bytes());
            }
            Set::Packed(p)
        } else {
            let mut d = Table::new();
            for i in ints.iter() {
                d.insert(SetKey::new(buf.format(i).as_bytes()), ());
            }
            Set::Table(Box::new(d))
        }
    }

    /// Moves a packed set into a hash table.
    fn convert_packed_to_table(&mut self) {
        let Set::Packed(p) = self else {
            return;
        };
        let mut d = Table::new();
        for m in p.iter() {
            d.insert(SetKey::new(m), ());
        }
        *self = Set::Table(Box::new(d));
    }

    /// Adds `m`; false if it was already a member (Redis's setTypeAdd, with its conversions).
    pub fn insert(&mut self, m: &[u8], lim: &Limits) -> bool {
        match self {
            Set::Ints(s) => {
                if let Some(i) = as_int(m) {
                    if !s.insert(i) {
                        return false;
                    }
                    if s.len() > lim.max_intset_entries {
                        self.convert_from_ints(lim, 0);
                    }
                    return true;
                }
                self.convert_from_ints(lim, 1);
                self.insert(m, lim)
            }
            Set::Packed(p) => {
                if p.contains(m) {
                    return false;
                }
                if p.len() < lim.max_packed_entries && m.len() <= lim.max_packed_value {
                    p.push_new(m);
                    return true;
                }
                self.convert_packed_to_table();
                self.insert(m, lim)
            }
            Set::Table(d) => d.entry(m, || SetKey::new(m), || ()).1,
            // A member already there keeps its TTL; a new one has none.
            Set::Expiring(e) => e.members.insert(m, lim),
        }
    }

    /// Adds a member taken from another set.
    pub fn insert_member(&mut self, m: Member<'_>, lim: &Limits) -> bool {
        m.with_bytes(|b| self.insert(b, lim))
    }

    /// Removes `m`; false if it was not a member. A hash table shrinks when it gets sparse
    /// (Redis's setTypeRemove does the same).
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Ints(s) => as_int(m).is_some_and(|i| s.remove(i)),
            Set::Packed(p) => p.remove(m),
            Set::Table(d) => {
                if d.remove(m).is_some() {
                    d.shrink_if_needed();
                    true
                } else {
                    false
                }
            }
            Set::Expiring(e) => {
                let removed = e.members.remove(m);
                if removed {
                    e.ttls.remove(m);
                }
                removed
            }
        }
    }

    /// A uniformly chosen member for the packed and intset encodings; for a hash table, a
    /// fair pick as Redis's dictGetFairRandomKey (see `keyspace::fair`). None if empty.
    pub fn random(&self, rng: &mut impl FnMut() -> u64) -> Option<Member<'_>> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        match self {
            Set::Ints(s) => Some(Member::Int(s.get((rng() % n as u64) as usize))),
            Set::Packed(p) => p.get((rng() % n as u64) as usize).map(Member::Bytes),
            Set::Table(d) => d.random(rng).map(|(k, _)| Member::Bytes(k.as_slice())),
            Set::Expiring(e) => e.members.random(rng),
        }
    }

    /// Removes and returns a random member.
    pub fn pop_random(&mut self, rng: &mut impl FnMut() -> u64) -> Option<Owned> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        match self {
            Set::Ints(s) => {
                let v = s.get((rng() % n as u64) as usize);
                s.remove(v);
                Some(Owned::Int(v))
            }
            Set::Packed(p) => {
                let m = p.get((rng() % n as u64) as usize)?.to_vec();
                p.remove(&m);
                Some(Owned::Bytes(CompactBytes::from_vec(m)))
            }
            Set::Table(d) => {
                let m = CompactBytes::new(d.random(rng)?.0.as_slice());
                d.remove(m.as_slice())?;
                d.shrink_if_needed();
                Some(Owned::Bytes(m))
            }
            Set::Expiring(e) => {
                let popped = e.members.pop_random(rng)?;
                popped.as_member().with_bytes(|b| e.ttls.remove(b));
                Some(popped)
            }
        }
    }

    /// Every member: ascending for an intset, insertion order for a packed set, bucket order
    /// for a hash table.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            Set::Ints(s) => Iter::Ints(s.iter()),
            Set::Packed(p) => Iter::Packed(p.iter()),
            Set::Table(d) => Iter::Table(d.iter()),
            Set::Expiring(e) => e.members.iter(),
        }
    }

    /// One SSCAN step over a hash table (`f` per member, next cursor). The compact encodings
    /// have no cursor: callers return them whole (cursor 0), as Redis does.
    pub fn table_scan(&self, cursor: u64, mut f: impl FnMut(&[u8])) -> Option<u64> {
        match self {
            Set::Table(d) => Some(d.scan(cursor, |k, _| f(k.as_slice()))),
            Set::Expiring(e) => e.members.table_scan(cursor, f),
            _ => None,
        }
    }

    /// Rough heap footprint for MEMORY USAGE.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Set::Ints(s) => s.heap_bytes(),
            Set::Packed(p) => p.heap_bytes(),
            Set::Table(d) => {
                std::mem::size_of::<Table>()
                    + d.overhead_bytes()
                    + d.iter().map(|(k, _)| k.heap_bytes()).sum::<usize>()
            }
            Set::Expiring(e) => {
                std::mem::size_of::<Expiring>() + e.members.heap_bytes() + e.ttls.heap_bytes()
            }
        }
    }

    /// Structure checks (tests).
    pub fn check_invariants(&self) {
        match self {
            Set::Ints(s) => s.check_invariants(),
            Set::Packed(p) => p.check_invariants(),
            Set::Table(d) => d.check_invariants(),
            Set::Expiring(e) => {
                assert!(matches!(e.members, Set::Packed(_) | Set::Table(_)));
                e.members.check_invariants();
                e.ttls.check_invariants();
                for (m, _) in e.ttls.iter() {
                    assert!(e.members.contains(m), "a TTL without its member");
                }
            }
        }
    }

    // ---- member TTLs ----

    /// The member's TTL (absolute ms), if it has one (expired or not).
    #[inline]
    pub fn ttl(&self, m: &[u8]) -> Option<i64> {
        match self {
            Set::Expiring(e) => e.ttls.get(m),
            _ => None,
        }
    }

    /// Whether any member has a TTL.
    #[inline]
    pub fn has_ttls(&self) -> bool {
        matches!(self, Set::Expiring(e) if !e.ttls.is_empty())
    }

    /// The earliest member TTL.
    #[inline]
    pub fn min_ttl(&self) -> Option<i64> {
        match self {
            Set::Expiring(e) => e.ttls.min(),
            _ => None,
        }
    }

    /// Whether `m` is a member whose TTL passed at `clock`.
    #[inline]
    pub fn is_expired(&self, m: &[u8], clock: i64) -> bool {
        self.ttl(m).is_some_and(|at| ttl_passed(at, clock))
    }

    /// Membership, an expired member counting as absent.
    #[inline]
    pub fn contains_live(&self, m: &[u8], clock: i64) -> bool {
        self.contains(m) && !self.is_expired(m, clock)
    }

    /// `contains_live` for a member taken from another set.
    #[inline]
    pub fn contains_member_live(&self, m: Member<'_>, clock: i64) -> bool {
        if !self.has_ttls() {
            return self.contains_member(m);
        }
        m.with_bytes(|b| self.contains_live(b, clock))
    }

    /// The members whose TTL has not passed at `clock` (what readers see).
    pub fn iter_live(&self, clock: i64) -> impl Iterator<Item = Member<'_>> + '_ {
        let ttls = match self {
            Set::Expiring(e) if !e.ttls.is_empty() => Some(&e.ttls),
            _ => None,
        };
        self.iter().filter(move |m| {
            ttls.is_none_or(|t| m.with_bytes(|b| !t.get(b).is_some_and(|at| ttl_passed(at, clock))))
        })
    }

    /// How many members are alive at `clock`.
    pub fn len_live(&self, clock: i64) -> usize {
        match self {
            Set::Expiring(e) if !e.ttls.is_empty() => {
                let dead = e
                    .ttls
                    .iter()
                    .filter(|(_, at)| ttl_passed(*at, clock))
                    .count();
                self.len() - dead
            }
            _ => self.len(),
        }
    }

    /// Gives the member `m` (which must be one) the TTL `at`. The set first becomes an
    /// `Expiring` one, packed when Redis would make it a `listpackex` (at most
    /// set-max-listpack-entries members and, for an intset, a value limit of at least 20,
    /// the longest integer) and a table otherwise.
    pub fn set_ttl(&mut self, m: &[u8], at: i64, lim: &Limits) {
        self.make_expiring(lim);
        if let Set::Expiring(e) = self {
            debug_assert!(e.members.contains(m));
            e.ttls.set(m, at);
        }
    }

    /// Drops the TTL of `m`; whether it had one.
    pub fn persist(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Expiring(e) => e.ttls.remove(m).is_some(),
            _ => false,
        }
    }

    /// Makes this an `Expiring` set (no-op if it is one).
    fn make_expiring(&mut self, lim: &Limits) {
        if matches!(self, Set::Expiring(_)) {
            return;
        }
        if let Set::Ints(ints) = self {
            let fits = ints.len() <= lim.max_packed_entries && lim.max_packed_value >= 20;
            *self = Self::from_ints(ints, fits);
        }
        let members = std::mem::take(self);
        *self = Set::Expiring(Box::new(Expiring {
            members,
            ttls: MemberTtls::default(),
        }));
    }

    /// Removes up to `limit` members whose TTL is before `now`, earliest first, calling
    /// `gone` with each (the active expiry and the sweeps before sampling).
    pub fn remove_due(&mut self, now: i64, limit: usize, mut gone: impl FnMut(&[u8])) -> usize {
        let Set::Expiring(e) = self else {
            return 0;
        };
        let due = e.ttls.take_due(now, limit);
        for m in &due {
            e.members.remove(m.as_slice());
            gone(m.as_slice());
        }
        due.len()
    }

    /// Every member with a TTL and its TTL, earliest first (persistence).
    pub fn ttls(&self) -> impl Iterator<Item = (&[u8], i64)> + '_ {
        let ttls = match self {
            Set::Expiring(e) => Some(&e.ttls),
            _ => None,
        };
        ttls.into_iter().flat_map(MemberTtls::iter)
    }
}

impl Clone for Set {
    fn clone(&self) -> Self {
        match self {
            Set::Ints(s) => Set::Ints(s.clone()),
            Set::Packed(p) => Set::Packed(p.clone()),
            Set::Table(d) => {
                let mut t = Table::new();
                for (k, _) in d.iter() {
                    t.insert(k.clone(), ());
                }
                Set::Table(Box::new(t))
            }
            Set::Expiring(e) => Set::Expiring(Box::new(Expiring {
                members: e.members.clone(),
                ttls: e.ttls.clone(),
            })),
        }
    }
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(
                self.iter()
                    .map(|m| String::from_utf8_lossy(&m.to_vec()).into_owned()),
            )
            .finish()
    }
}

/// Iterator over a set's members.
pub enum Iter<'a> {
    Ints(super::intset::Iter<'a>),
    Packed(super::packed_set::Iter<'a>),
    Table(crate::keyspace::dict::Iter<'a, SetKey, ()>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;

    #[inline]
    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            Iter::Ints(it) => it.next().map(Member::Int),
            Iter::Packed(it) => it.next().map(Member::Bytes),
            Iter::Table(it) => it.next().map(|(k, _)| Member::Bytes(k.as_slice())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn lim(max_intset: usize, packed: usize, value: usize) -> Limits {
        Limits {
            max_intset_entries: max_intset,
            max_packed_entries: packed,
            max_packed_value: value,
        }
    }

    fn members(s: &Set) -> BTreeSet<Vec<u8>> {
        s.iter().map(Member::to_vec).collect()
    }

    #[test]
    fn conversions() {
        let l = lim(3, 4, 8);
        let mut s = Set::new_for(b"1");
        assert!(s.insert(b"1", &l) && s.insert(b"2", &l) && s.insert(b"3", &l));
        assert_eq!(s.encoding_name(), "intset");
        assert!(s.insert(b"4", &l));
        assert!(matches!(s, Set::Packed(_)));
        assert_eq!(s.encoding_name(), "hashtable");
        assert!(s.remove(b"4") && s.remove(b"3"));
        assert_eq!(s.encoding_name(), "hashtable");
        for m in [&b"a"[..], b"b", b"c"] {
            s.insert(m, &l);
        }
        assert!(matches!(s, Set::Table(_)));
        assert_eq!(s.len(), 5);
        let mut s = Set::new_for(b"x");
        assert_eq!(s.encoding_name(), "hashtable");
        assert!(s.insert(b"123456789", &l));
        assert!(matches!(s, Set::Table(_)));
        // -0, 01 and +1 are not integers for an intset.
        let mut s = Set::new_ints();
        s.insert(b"-0", &l);
        assert_eq!(s.encoding_name(), "hashtable");
        assert!(s.contains(b"-0") && !s.contains(b"0"));
    }

    #[test]
    fn from_members_detects_duplicates() {
        let l = Limits::default();
        assert!(Set::from_members([&b"1"[..], b"2", b"1"], &l).is_err());
        let s = Set::from_members([&b"1"[..], b"2"], &l).unwrap();
        assert!(s.is_intset());
        let s = Set::from_members([&b"1"[..], b"a"], &l).unwrap();
        assert!(!s.is_intset());
    }

    #[test]
    fn random_and_pop_cover_all_members() {
        let l = lim(4, 8, 64);
        let mut rng = crate::util::rng::splitmix(7u64);
        for n in [3usize, 6, 40] {
            let mut s = Set::new_ints();
            for i in 0..n {
                s.insert(i.to_string().as_bytes(), &l);
            }
            let mut seen = BTreeSet::new();
            for _ in 0..n * 50 {
                seen.insert(s.random(&mut rng).unwrap().to_vec());
            }
            assert_eq!(seen, members(&s));
            let mut popped = BTreeSet::new();
            while let Some(m) = s.pop_random(&mut rng) {
                popped.insert(m.as_member().to_vec());
                s.check_invariants();
            }
            assert_eq!(popped.len(), n);
            assert!(s.is_empty());
        }
    }

    fn member() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (-20i64..20).prop_map(|i| i.to_string().into_bytes()),
            any::<i64>().prop_map(|i| i.to_string().into_bytes()),
            proptest::sample::select(vec!["a", "b", "-0", "01", "x y", "", "1.5"])
                .prop_map(|s| s.as_bytes().to_vec()),
            (0usize..30).prop_map(|n| vec![b'q'; n]),
        ]
    }

    proptest! {
        #[test]
        fn model(
            ops in proptest::collection::vec((0u8..6, member()), 0..300),
            max_intset in 0usize..8,
            packed in 0usize..8,
            value in 0usize..24,
        ) {
            let l = lim(max_intset, packed, value);
            let mut s = Set::new_ints();
            let mut m: BTreeSet<Vec<u8>> = BTreeSet::new();
            // Redis's rule: intset until a non-integer arrives or it grows past the limit.
            let mut intset = true;
            let mut state = 99u64;
            let mut rng = move || { state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); state >> 11 };
            // Member TTLs: the model's, and a clock that moves on with each TTL given.
            let mut ttls: std::collections::BTreeMap<Vec<u8>, i64> = Default::default();
            let mut clock = 0i64;
            for (op, x) in ops {
                match op {
                    0 | 1 => {
                        prop_assert_eq!(s.insert(&x, &l), m.insert(x.clone()));
                        intset = intset && as_int(&x).is_some() && m.len() <= max_intset;
                    }
                    2 => {
                        prop_assert_eq!(s.remove(&x), m.remove(&x));
                        ttls.remove(&x);
                    }
                    4 if m.contains(&x) => {
                        clock += 1;
                        s.set_ttl(&x, clock + (x.len() as i64 % 3), &l);
                        ttls.insert(x.clone(), clock + (x.len() as i64 % 3));
                        intset = false;
                    }
                    4 => {}
                    5 => {
                        let mut gone = Vec::new();
                        s.remove_due(clock, usize::MAX, |g| gone.push(g.to_vec()));
                        let due: Vec<Vec<u8>> = ttls.iter().filter(|(_, at)| **at < clock).map(|(k, _)| k.clone()).collect();
                        gone.sort();
                        prop_assert_eq!(&gone, &due);
                        for k in due {
                            ttls.remove(&k);
                            m.remove(&k);
                        }
                    }
                    _ => {
                        let got = s.pop_random(&mut rng).map(|o| o.as_member().to_vec());
                        match got {
                            Some(v) => {
                                prop_assert!(m.remove(&v));
                                ttls.remove(&v);
                            }
                            None => prop_assert!(m.is_empty()),
                        }
                    }
                }
                s.check_invariants();
                prop_assert_eq!(s.len(), m.len());
                prop_assert_eq!(s.is_intset(), intset);
                prop_assert_eq!(s.contains(&x), m.contains(&x));
                prop_assert_eq!(s.ttl(&x), ttls.get(&x).copied());
                prop_assert_eq!(s.min_ttl(), ttls.values().min().copied());
                if let Set::Packed(p) = &s {
                    prop_assert!(p.len() <= packed && p.max_member_len() <= value);
                }
            }
            prop_assert_eq!(members(&s), m.clone());
            prop_assert_eq!(members(&s.clone()), m);
        }
    }
}
