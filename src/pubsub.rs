//! Pub/Sub registry: which clients listen on which channels, patterns and shard channels.
//! Data only; the executor delivers messages into clients' reply buffers.

use std::collections::HashMap;

use crate::util::glob::glob_match;

/// Subscribers of each channel, in subscription order (PUBLISH delivers in this order).
#[derive(Default)]
pub struct Registry {
    channels: HashMap<Vec<u8>, Vec<usize>>,
    /// Patterns in first-subscription order, each with its subscribers.
    patterns: Vec<(Vec<u8>, Vec<usize>)>,
    shard_channels: HashMap<Vec<u8>, Vec<usize>>,
}

/// The namespace a subscription lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Registry {
    fn map(&mut self, kind: Kind) -> &mut HashMap<Vec<u8>, Vec<usize>> {
        match kind {
            Kind::Shard => &mut self.shard_channels,
            _ => &mut self.channels,
        }
    }

    /// Adds `slot` to `name`; false if it was already subscribed.
    pub fn subscribe(&mut self, kind: Kind, name: &[u8], slot: usize) -> bool {
        if kind == Kind::Pattern {
            return match self.patterns.iter_mut().find(|(p, _)| p == name) {
                Some((_, subs)) if subs.contains(&slot) => false,
                Some((_, subs)) => {
                    subs.push(slot);
                    true
                }
                None => {
                    self.patterns.push((name.to_vec(), vec![slot]));
                    true
                }
            };
        }
        let subs = self.map(kind).entry(name.to_vec()).or_default();
        if subs.contains(&slot) {
            return false;
        }
        subs.push(slot);
        true
    }

    /// Removes `slot` from `name`; false if it was not subscribed.
    pub fn unsubscribe(&mut self, kind: Kind, name: &[u8], slot: usize) -> bool {
        if kind == Kind::Pattern {
            let Some(i) = self.patterns.iter().position(|(p, _)| p == name) else {
                return false;
            };
            let subs = &mut self.patterns[i].1;
            let Some(j) = subs.iter().position(|s| *s == slot) else {
                return false;
            };
            subs.remove(j);
            if subs.is_empty() {
                self.patterns.remove(i);
            }
            return true;
        }
        let map = self.map(kind);
        let Some(subs) = map.get_mut(name) else {
            return false;
        };
        let Some(j) = subs.iter().position(|s| *s == slot) else {
            return false;
        };
        subs.remove(j);
        if subs.is_empty() {
            map.remove(name);
        }
        true
    }

    /// Subscribers of a channel (or shard channel).
    pub fn subscribers(&self, kind: Kind, channel: &[u8]) -> &[usize] {
        let map = if kind == Kind::Shard {
            &self.shard_channels
        } else {
            &self.channels
        };
        map.get(channel).map(Vec::as_slice).unwrap_or(&[])
    }

    /// (pattern, subscribers) for every pattern matching `channel`.
    pub fn matching_patterns<'a>(
        &'a self,
        channel: &'a [u8],
    ) -> impl Iterator<Item = (&'a [u8], &'a [usize])> {
        self.patterns
            .iter()
            .filter(move |(p, _)| glob_match(p, channel, false))
            .map(|(p, s)| (p.as_slice(), s.as_slice()))
    }

    /// Active channel names matching an optional pattern (PUBSUB CHANNELS / SHARDCHANNELS).
    pub fn channel_names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<&[u8]> {
        let map = if kind == Kind::Shard {
            &self.shard_channels
        } else {
            &self.channels
        };
        map.keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .map(Vec::as_slice)
            .collect()
    }

    /// Number of distinct patterns (PUBSUB NUMPAT).
    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }

    pub fn channel_count(&self, kind: Kind) -> usize {
        if kind == Kind::Shard {
            self.shard_channels.len()
        } else {
            self.channels.len()
        }
    }
}

/// A message frame encoded once per protocol and shared by every receiver.
pub struct Encoded {
    pub resp2: Vec<u8>,
    pub resp3: Vec<u8>,
}

/// Encodes `[kind, (pattern,) channel, payload]` as a RESP2 array and a RESP3 push.
pub fn encode_message(
    kind: &[u8],
    pattern: Option<&[u8]>,
    channel: &[u8],
    payload: &[u8],
) -> Encoded {
    let n = if pattern.is_some() { 4 } else { 3 };
    let mut body = Vec::with_capacity(32 + channel.len() + payload.len());
    let mut bulk = |b: &[u8]| {
        body.push(b'$');
        crate::util::num::push_u64(&mut body, b.len() as u64);
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(b);
        body.extend_from_slice(b"\r\n");
    };
    bulk(kind);
    if let Some(p) = pattern {
        bulk(p);
    }
    bulk(channel);
    bulk(payload);
    let mut resp2 = format!("*{n}\r\n").into_bytes();
    resp2.extend_from_slice(&body);
    let mut resp3 = format!(">{n}\r\n").into_bytes();
    resp3.extend_from_slice(&body);
    Encoded { resp2, resp3 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_and_match() {
        let mut r = Registry::default();
        assert!(r.subscribe(Kind::Channel, b"news", 1));
        assert!(!r.subscribe(Kind::Channel, b"news", 1));
        assert!(r.subscribe(Kind::Channel, b"news", 2));
        assert!(r.subscribe(Kind::Pattern, b"n*", 3));
        assert_eq!(r.subscribers(Kind::Channel, b"news"), &[1, 2]);
        assert_eq!(r.matching_patterns(b"news").count(), 1);
        assert!(r.unsubscribe(Kind::Channel, b"news", 1));
        assert!(!r.unsubscribe(Kind::Channel, b"news", 1));
        assert!(r.unsubscribe(Kind::Pattern, b"n*", 3));
        assert_eq!(r.pattern_count(), 0);
        let e = encode_message(b"message", None, b"ch", b"hi");
        assert_eq!(e.resp2, b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n");
        assert_eq!(&e.resp3[..3], b">3\r");
    }
}
