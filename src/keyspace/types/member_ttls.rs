//! `MemberTtls`: the TTLs of a set's members (Redis 8.12's set member expiration), kept beside
//! the members. Only members that have a TTL are in it, so a set pays nothing per member
//! without one; each member with a TTL is found by name (STTL, lazy expiry) and by time (the
//! active expiry takes the earliest first): a sorted vector while few, then a map and an
//! ordered set.

use crate::keyspace::bytes::CompactBytes;
use std::collections::{BTreeSet, HashMap};

/// Up to this many TTLs live in one sorted vector (a set this small is a listpack in Redis);
/// beyond, a map and an ordered set.
const FEW_MAX: usize = 128;

#[derive(Clone)]
pub enum MemberTtls {
    /// (TTL, member), sorted: one allocation, 24 bytes a member of up to 15 bytes.
    Few(Vec<(i64, CompactBytes)>),
    Many(Box<Indexed>),
}

/// The TTLs of many members, found by name and by time.
#[derive(Default, Clone)]
pub struct Indexed {
    by_member: HashMap<CompactBytes, i64, foldhash::fast::RandomState>,
    by_time: BTreeSet<(i64, CompactBytes)>,
}

impl Default for MemberTtls {
    fn default() -> Self {
        MemberTtls::Few(Vec::new())
    }
}

impl MemberTtls {
    #[inline]
    pub fn len(&self) -> usize {
        match self {
            MemberTtls::Few(v) => v.len(),
            MemberTtls::Many(m) => m.by_member.len(),
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The member's TTL (absolute ms), if it has one.
    #[inline]
    pub fn get(&self, m: &[u8]) -> Option<i64> {
        match self {
            MemberTtls::Few(v) => v.iter().find(|(_, k)| k.as_slice() == m).map(|e| e.0),
            MemberTtls::Many(x) => x.by_member.get(m).copied(),
        }
    }

    /// Gives `m` the TTL `at` (replacing any).
    pub fn set(&mut self, m: &[u8], at: i64) {
        if self.get(m) == Some(at) {
            return;
        }
        self.remove(m);
        match self {
            MemberTtls::Few(v) if v.len() < FEW_MAX => {
                let i = v.partition_point(|(t, k)| (*t, k.as_slice()) < (at, m));
                v.insert(i, (at, CompactBytes::new(m)));
            }
            MemberTtls::Few(v) => {
                let mut x = Indexed::default();
                for (t, k) in v.drain(..) {
                    x.by_member.insert(k.clone(), t);
                    x.by_time.insert((t, k));
                }
                *self = MemberTtls::Many(Box::new(x));
                self.set(m, at);
            }
            MemberTtls::Many(x) => {
                let key = CompactBytes::new(m);
                x.by_member.insert(key.clone(), at);
                x.by_time.insert((at, key));
            }
        }
    }

    /// Drops `m`'s TTL; the TTL it had.
    pub fn remove(&mut self, m: &[u8]) -> Option<i64> {
        match self {
            MemberTtls::Few(v) => {
                let i = v.iter().position(|(_, k)| k.as_slice() == m)?;
                Some(v.remove(i).0)
            }
            MemberTtls::Many(x) => {
                let (key, at) = x.by_member.remove_entry(m)?;
                x.by_time.remove(&(at, key));
                Some(at)
            }
        }
    }

    /// The earliest TTL.
    #[inline]
    pub fn min(&self) -> Option<i64> {
        match self {
            MemberTtls::Few(v) => v.first().map(|e| e.0),
            MemberTtls::Many(x) => x.by_time.first().map(|(at, _)| *at),
        }
    }

    /// Up to `limit` members whose TTL is before `now`, earliest first (their TTLs dropped).
    pub fn take_due(&mut self, now: i64, limit: usize) -> Vec<CompactBytes> {
        match self {
            MemberTtls::Few(v) => {
                let n = v.iter().take(limit).take_while(|(t, _)| *t < now).count();
                v.drain(..n).map(|(_, k)| k).collect()
            }
            MemberTtls::Many(x) => {
                let mut out = Vec::new();
                while out.len() < limit {
                    match x.by_time.first() {
                        Some((at, _)) if *at < now => {}
                        _ => break,
                    }
                    let Some((_, m)) = x.by_time.pop_first() else {
                        break;
                    };
                    x.by_member.remove(m.as_slice());
                    out.push(m);
                }
                out
            }
        }
    }

    /// Every (member, TTL), earliest first.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], i64)> + '_> {
        match self {
            MemberTtls::Few(v) => Box::new(v.iter().map(|(at, m)| (m.as_slice(), *at))),
            MemberTtls::Many(x) => Box::new(x.by_time.iter().map(|(at, m)| (m.as_slice(), *at))),
        }
    }

    /// Heap bytes, roughly (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        let names: usize = self
            .iter()
            .map(|(m, _)| CompactBytes::new(m).heap_bytes())
            .sum();
        match self {
            MemberTtls::Few(v) => v.capacity() * std::mem::size_of::<(i64, CompactBytes)>() + names,
            // A map slot (key + value + control byte) and a tree entry per member, each with
            // its copy of the name.
            MemberTtls::Many(x) => {
                x.by_member.capacity() * (std::mem::size_of::<(CompactBytes, i64)>() + 1)
                    + x.by_time.len() * (std::mem::size_of::<(i64, CompactBytes)>() + 16)
                    + 2 * names
            }
        }
    }

    /// Sorted and unique, and both views agree (tests).
    pub fn check_invariants(&self) {
        match self {
            MemberTtls::Few(v) => {
                assert!(v.windows(2).all(|w| (w[0].0, &w[0].1) < (w[1].0, &w[1].1)));
                let names: BTreeSet<&[u8]> = v.iter().map(|(_, k)| k.as_slice()).collect();
                assert_eq!(names.len(), v.len(), "a member twice");
            }
            MemberTtls::Many(x) => {
                assert_eq!(x.by_member.len(), x.by_time.len());
                for (at, m) in &x.by_time {
                    assert_eq!(x.by_member.get(m.as_slice()), Some(at));
                }
            }
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

    #[test]
    fn few_become_many_and_agree_with_a_model() {
        let mut t = MemberTtls::default();
        let mut model: std::collections::BTreeMap<Vec<u8>, i64> = Default::default();
        let mut x = 7u64;
        for round in 0..3000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let m = format!("m{}", x % 300).into_bytes();
            match x % 5 {
                0 => assert_eq!(t.remove(&m), model.remove(&m)),
                1 if round % 7 == 0 => {
                    let now = (x % 1000) as i64;
                    let mut due: Vec<(i64, Vec<u8>)> = model
                        .iter()
                        .filter(|(_, at)| **at < now)
                        .map(|(k, at)| (*at, k.clone()))
                        .collect();
                    due.sort();
                    due.truncate(5);
                    let got: Vec<Vec<u8>> = t.take_due(now, 5).iter().map(|k| k.to_vec()).collect();
                    assert_eq!(got, due.iter().map(|d| d.1.clone()).collect::<Vec<_>>());
                    for (_, k) in due {
                        model.remove(&k);
                    }
                }
                _ => {
                    let at = (x % 1000) as i64;
                    t.set(&m, at);
                    model.insert(m.clone(), at);
                }
            }
            t.check_invariants();
            assert_eq!(t.len(), model.len());
            assert_eq!(t.get(&m), model.get(&m).copied());
            assert_eq!(t.min(), model.values().min().copied());
        }
        assert!(matches!(t, MemberTtls::Many(_)), "grew past FEW_MAX");
    }
}
