//! `Value`: what a key holds. Representations are ours; `type_name` and `encoding_name`
//! report exactly what Redis 7.0.15 reports for the same history of commands.

use super::bytes::CompactBytes;
use super::types::{hash::Hash, list::List, set::Set, stream::Stream, zset::ZSet};
use crate::util::num::{parse_i64, push_i64};

/// Redis stores strings up to this length as `embstr`.
pub const EMBSTR_MAX: usize = 44;
/// Longest decimal string Redis tries to store as an integer.
const INT_ENCODE_MAX_LEN: usize = 20;

pub enum Value {
    /// A string kept as bytes (`embstr` or `raw`).
    Str(CompactBytes),
    /// A string that is a canonical decimal i64 (`int`).
    Int(i64),
    List(Box<List>),
    Hash(Box<Hash>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
    Stream(Box<Stream>),
}

const _: () = assert!(std::mem::size_of::<Value>() == 16);

impl Value {
    /// One step of a pending rehash of the table holding this value, as every lookup in a
    /// Redis dict does: reads too move a resize along (SRANDMEMBER on a set that stopped
    /// growing would otherwise leave it half rehashed).
    pub fn rehash_step(&mut self) {
        match self {
            Value::Set(s) => s.rehash_step(),
            Value::Hash(h) => {
                if let crate::keyspace::types::hash::Hash::Table(t) = &mut **h {
                    t.rehash(1);
                }
            }
            Value::ZSet(z) => z.rehash_step(),
            _ => {}
        }
    }

    /// DEBUG HTSTATS-KEY: the statistics of the hash table holding this value, if one does.
    pub fn hash_table_stats(&self) -> Option<String> {
        let mut out = String::new();
        let held = match self {
            Value::Set(s) => s.hash_table_stats(&mut out),
            Value::Hash(h) => h.hash_table_stats(&mut out),
            Value::ZSet(z) => z.hash_table_stats(&mut out),
            _ => false,
        };
        held.then_some(out)
    }

    /// How much work freeing this value takes (Redis's lazyfreeGetFreeEffort): allocations
    /// to release for the structures made of many, 1 for packed forms and strings.
    pub fn free_effort(&self) -> usize {
        match self {
            Value::List(l) => l.node_count(),
            Value::Set(s) if s.encoding_name() == "hashtable" => s.len(),
            Value::Hash(h) if !h.is_packed() => h.len(),
            Value::ZSet(z) if !z.is_packed() => z.len(),
            Value::Stream(s) => {
                // Nodes, plus each group's pending entries and consumers.
                s.node_count()
                    + s.groups
                        .values()
                        .map(|g| 1 + g.pel.len() + g.consumers.len())
                        .sum::<usize>()
            }
            _ => 1,
        }
    }

    /// Stores a client-supplied string the way Redis's tryObjectEncoding does.
    pub fn string(data: &[u8]) -> Value {
        if data.len() <= INT_ENCODE_MAX_LEN {
            if let Some(i) = parse_i64(data) {
                return Value::Int(i);
            }
        }
        Value::Str(CompactBytes::new(data))
    }

    /// Like `string`, taking ownership of a buffer.
    pub fn string_from_vec(data: Vec<u8>) -> Value {
        if data.len() <= INT_ENCODE_MAX_LEN {
            if let Some(i) = parse_i64(&data) {
                return Value::Int(i);
            }
        }
        Value::Str(CompactBytes::from_vec(data))
    }

    /// TYPE's answer.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) | Value::Int(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// OBJECT ENCODING's answer.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str(s) if s.is_mutated() || s.len() > EMBSTR_MAX => "raw",
            Value::Str(_) => "embstr",
            Value::List(l) => l.encoding_name(),
            Value::Hash(h) => h.encoding_name(),
            Value::Set(s) => s.encoding_name(),
            Value::ZSet(z) => z.encoding_name(),
            Value::Stream(s) => s.encoding_name(),
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::Str(_) | Value::Int(_))
    }
}

impl Clone for Value {
    fn clone(&self) -> Self {
        match self {
            Value::Str(s) => Value::Str(s.clone()),
            Value::Int(i) => Value::Int(*i),
            Value::List(l) => Value::List(l.clone()),
            Value::Hash(h) => Value::Hash(h.clone()),
            Value::Set(s) => Value::Set(s.clone()),
            Value::ZSet(z) => Value::ZSet(z.clone()),
            Value::Stream(s) => Value::Stream(s.clone()),
        }
    }
}

/// A string value's bytes, borrowed or formatted from an integer without allocating.
pub enum StrBytes<'a> {
    Borrowed(&'a [u8]),
    Int(itoa::Buffer, i64),
}

impl StrBytes<'_> {
    pub fn as_slice(&mut self) -> &[u8] {
        match self {
            StrBytes::Borrowed(b) => b,
            StrBytes::Int(buf, i) => buf.format(*i).as_bytes(),
        }
    }
}

impl Value {
    /// Bytes of a string value (None for other types).
    pub fn str_bytes(&self) -> Option<StrBytes<'_>> {
        match self {
            Value::Str(s) => Some(StrBytes::Borrowed(s.as_slice())),
            Value::Int(i) => Some(StrBytes::Int(itoa::Buffer::new(), *i)),
            _ => None,
        }
    }

    /// Owned bytes of a string value.
    pub fn str_to_vec(&self) -> Option<Vec<u8>> {
        match self {
            Value::Str(s) => Some(s.to_vec()),
            Value::Int(i) => {
                let mut v = Vec::with_capacity(20);
                push_i64(&mut v, *i);
                Some(v)
            }
            _ => None,
        }
    }

    /// Length of a string value in bytes.
    pub fn str_len(&self) -> Option<usize> {
        match self {
            Value::Str(s) => Some(s.len()),
            Value::Int(i) => Some(itoa::Buffer::new().format(*i).len()),
            _ => None,
        }
    }

    /// Turns a string value into mutable bytes (Redis's dbUnshareStringValue): ints become
    /// byte strings, and the string is marked as modified in place (`raw`).
    pub fn str_make_mut(&mut self) -> Option<&mut CompactBytes> {
        if let Value::Int(i) = *self {
            let mut v = Vec::with_capacity(20);
            push_i64(&mut v, i);
            *self = Value::Str(CompactBytes::new(&v));
        }
        match self {
            Value::Str(s) => {
                s.mark_mutated();
                Some(s)
            }
            _ => None,
        }
    }

    /// Rough heap footprint, for MEMORY USAGE and eviction accounting.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_bytes(),
            Value::Stream(s) => s.heap_bytes(),
            Value::Int(_) => 0,
            Value::List(l) => l.heap_bytes(),
            Value::Hash(h) => h.alloc_size(),
            Value::Set(s) => s.heap_bytes(),
            Value::ZSet(z) => z.heap_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(Value::string(b"123").encoding_name(), "int");
        assert_eq!(Value::string(b"-0").encoding_name(), "embstr");
        assert_eq!(Value::string(b"0123").encoding_name(), "embstr");
        assert_eq!(Value::string(&[b'a'; 44]).encoding_name(), "embstr");
        assert_eq!(Value::string(&[b'a'; 45]).encoding_name(), "raw");
        let mut v = Value::string(b"12");
        v.str_make_mut().unwrap().extend_from_slice(b"3");
        assert_eq!(v.encoding_name(), "raw");
        assert_eq!(v.str_to_vec().unwrap(), b"123");
    }
}
