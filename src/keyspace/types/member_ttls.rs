//! `MemberTtls`: the TTLs of a set's members (Redis 8.12's set member expiration), kept beside
//! the members. Only members that have a TTL are in it, so a set pays nothing per member
//! without one; each member with a TTL is found by name (STTL, lazy expiry) and by time (the
//! active expiry takes the earliest first).

use crate::keyspace::bytes::CompactBytes;
use std::collections::{BTreeSet, HashMap};

#[derive(Default, Clone)]
pub struct MemberTtls {
    by_member: HashMap<CompactBytes, i64, foldhash::fast::RandomState>,
    by_time: BTreeSet<(i64, CompactBytes)>,
}

impl MemberTtls {
    #[inline]
    pub fn len(&self) -> usize {
        self.by_member.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.by_member.is_empty()
    }

    /// The member's TTL (absolute ms), if it has one.
    #[inline]
    pub fn get(&self, m: &[u8]) -> Option<i64> {
        if self.by_member.is_empty() {
            return None;
        }
        self.by_member.get(m).copied()
    }

    /// Gives `m` the TTL `at` (replacing any).
    pub fn set(&mut self, m: &[u8], at: i64) {
        if let Some(old) = self.by_member.get_mut(m) {
            if *old == at {
                return;
            }
            let key = CompactBytes::new(m);
            self.by_time.remove(&(*old, key.clone()));
            *old = at;
            self.by_time.insert((at, key));
            return;
        }
        let key = CompactBytes::new(m);
        self.by_member.insert(key.clone(), at);
        self.by_time.insert((at, key));
    }

    /// Drops `m`'s TTL; the TTL it had.
    pub fn remove(&mut self, m: &[u8]) -> Option<i64> {
        if self.by_member.is_empty() {
            return None;
        }
        let (key, at) = self.by_member.remove_entry(m)?;
        self.by_time.remove(&(at, key));
        Some(at)
    }

    /// The earliest TTL.
    #[inline]
    pub fn min(&self) -> Option<i64> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Up to `limit` members whose TTL is before `now`, earliest first (their TTLs dropped).
    pub fn take_due(&mut self, now: i64, limit: usize) -> Vec<CompactBytes> {
        let mut out = Vec::new();
        while out.len() < limit {
            match self.by_time.first() {
                Some((at, _)) if *at < now => {}
                _ => break,
            }
            let Some((_, m)) = self.by_time.pop_first() else {
                break;
            };
            self.by_member.remove(m.as_slice());
            out.push(m);
        }
        out
    }

    /// Every (member, TTL), earliest first.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], i64)> + '_ {
        self.by_time.iter().map(|(at, m)| (m.as_slice(), *at))
    }

    /// Heap bytes, roughly (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        // A map slot (key + value + control byte) and a tree entry per member, each copy of
        // the name counted.
        self.by_member.capacity() * (std::mem::size_of::<(CompactBytes, i64)>() + 1)
            + self.by_time.len() * (std::mem::size_of::<(i64, CompactBytes)>() + 16)
            + self
                .by_member
                .keys()
                .map(|k| 2 * k.heap_bytes())
                .sum::<usize>()
    }

    /// Both views agree (tests).
    pub fn check_invariants(&self) {
        assert_eq!(self.by_member.len(), self.by_time.len());
        for (at, m) in &self.by_time {
            assert_eq!(self.by_member.get(m.as_slice()), Some(at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replace_remove_and_take_due() {
        let mut t = MemberTtls::default();
        t.set(b"a", 30);
        t.set(b"b", 10);
        t.set(b"c", 20);
        t.set(b"a", 5);
        t.check_invariants();
        assert_eq!(t.min(), Some(5));
        assert_eq!(t.get(b"a"), Some(5));
        assert_eq!(t.remove(b"c"), Some(20));
        assert_eq!(t.remove(b"c"), None);
        let due: Vec<Vec<u8>> = t.take_due(11, 10).iter().map(|m| m.to_vec()).collect();
        assert_eq!(due, vec![b"a".to_vec(), b"b".to_vec()]);
        assert!(t.is_empty());
        t.check_invariants();
        for i in 0..10 {
            t.set(format!("m{i}").as_bytes(), i);
        }
        assert_eq!(t.take_due(100, 3).len(), 3);
        assert_eq!(t.len(), 7);
        assert_eq!(t.min(), Some(3));
    }
}
