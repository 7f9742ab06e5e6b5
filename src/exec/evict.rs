//! maxmemory eviction (Redis's evict.c): before a command runs, keys are evicted by the
//! configured policy until used memory is under `maxmemory`, within a time budget set by
//! `maxmemory-eviction-tenacity`; what is left continues between loop turns.
//!
//! The approximated LRU/LFU/TTL policies keep Redis's eviction pool: each round samples
//! `maxmemory-samples` keys per database into a pool of the 16 best candidates seen so far,
//! and evicts the best one still present.

use std::time::{Duration, Instant};

use super::{idle_secs, lfu_decayed, Executor};
use crate::keyspace::bytes::CompactBytes;
use crate::keyspace::db::NO_EXPIRE;

/// Redis's EVPOOL_SIZE.
const POOL_SIZE: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Policy {
    NoEviction,
    Lru { all: bool },
    Lfu { all: bool },
    Random { all: bool },
    VolatileTtl,
}

impl Policy {
    fn from_name(name: &str) -> Policy {
        match name {
            "allkeys-lru" => Policy::Lru { all: true },
            "volatile-lru" => Policy::Lru { all: false },
            "allkeys-lfu" => Policy::Lfu { all: true },
            "volatile-lfu" => Policy::Lfu { all: false },
            "allkeys-random" => Policy::Random { all: true },
            "volatile-random" => Policy::Random { all: false },
            "volatile-ttl" => Policy::VolatileTtl,
            _ => Policy::NoEviction,
        }
    }

    fn all_keys(self) -> bool {
        matches!(
            self,
            Policy::Lru { all: true } | Policy::Lfu { all: true } | Policy::Random { all: true }
        )
    }
}

struct Candidate {
    /// Higher is a better candidate (idle time, 255 - LFU counter, or time left inverted).
    score: u64,
    db: usize,
    key: CompactBytes,
}

#[derive(Default)]
pub struct EvictionState {
    /// Candidates sorted by ascending score; the best is last.
    pool: Vec<Candidate>,
    /// Where the random policies look next (Redis's static next_db).
    next_db: usize,
    /// A time-limited round stopped with memory still over the limit: go on later.
    pub running: bool,
    /// When used memory went over maxmemory (cleared once under), for INFO.
    pub exceeded_since: Option<Instant>,
    pub total_exceeded: Duration,
}

/// Redis's evictionTimeLimitUs: 50 us per tenacity step up to 10, then 15% more per step;
/// 100 means no limit.
fn time_limit(tenacity: i64) -> Option<Duration> {
    match tenacity {
        t if t <= 10 => Some(Duration::from_micros(50 * t.max(0) as u64)),
        t if t < 100 => Some(Duration::from_micros(
            (500.0 * 1.15f64.powf(t as f64 - 10.0)) as u64,
        )),
        _ => None,
    }
}

impl Executor {
    /// Memory that counts against maxmemory: what the allocator holds minus the AOF bytes
    /// waiting to be written and the replicas' share of the replication buffer (Redis's
    /// freeMemoryGetNotCountedMemory).
    pub fn memory_for_eviction(&self) -> usize {
        crate::alloc::used_memory().saturating_sub(self.memory_not_counted())
    }

    /// What maxmemory does not count: replica output and the AOF buffer (Redis's
    /// freeMemoryGetNotCountedMemory).
    fn memory_not_counted(&self) -> usize {
        self.prop.aof.buf.len() + crate::repl::buffer_memory(self).not_counted as usize
    }

    /// Redis's performEvictions: false when memory is over maxmemory and nothing more can be
    /// evicted (EVICT_FAIL), so commands that may grow memory are refused.
    pub fn perform_evictions(&mut self) -> bool {
        let max = self.settings.maxmemory as usize;
        let not_counted = if max == 0 {
            0
        } else {
            self.memory_not_counted()
        };
        crate::keyspace::rehash::set_memory_limit(max, not_counted);
        if max == 0 || self.loading || self.ignores_maxmemory() {
            return true;
        }
        // A paused dataset stays still: no evictions either (Redis's
        // isSafeToPerformEvictions), as if under maxmemory.
        if self.is_paused(self.clock.now_ms()) {
            return true;
        }
        // Nor in the middle of an execution unit that already wrote (CONFIG SET maxmemory
        // inside MULTI): its writes are propagated together at its end, and an eviction's DEL
        // would come before them (Redis checks its pending also_propagate ops).
        if self.prop.has_pending() || (self.in_exec && self.dirty > self.exec_dirty_start) {
            return true;
        }
        let used = self.memory_for_eviction();
        if used <= max {
            if let Some(since) = self.eviction.exceeded_since.take() {
                self.eviction.total_exceeded += since.elapsed();
            }
            self.eviction.running = false;
            return true;
        }
        self.eviction
            .exceeded_since
            .get_or_insert_with(Instant::now);
        let policy = Policy::from_name(self.settings.maxmemory_policy);
        if policy == Policy::NoEviction {
            return false;
        }
        let to_free = used - max;
        let start = Instant::now();
        let limit = time_limit(self.settings.maxmemory_eviction_tenacity);
        let mut freed = 0usize;
        let mut evicted = 0u64;
        self.eviction.running = false;
        while freed < to_free {
            let Some((db, key)) = self.eviction_candidate(policy) else {
                // Nothing left to evict.
                return self.memory_for_eviction() <= max;
            };
            freed += self.evict(db, &key);
            evicted += 1;
            if evicted % 16 == 0 && limit.is_some_and(|l| start.elapsed() > l) {
                // The rest goes on between loop turns (Redis's evictionTimeProc).
                self.eviction.running = true;
                break;
            }
        }
        let now = self.clock.now_ms();
        self.latency_sample("eviction-cycle", start.elapsed().as_millis() as u64, now);
        true
    }

    /// maxmemory-clients in bytes (a percentage is of maxmemory), 0 when off; at least 128 KiB
    /// so a bad setting cannot cut every connection (Redis's getClientEvictionLimit).
    pub fn client_eviction_limit(&self) -> usize {
        let v = self.settings.maxmemory_clients;
        let bytes = if v < 0 && self.settings.maxmemory > 0 {
            (self.settings.maxmemory as f64 * (-v) as f64 / 100.0) as usize
        } else if v > 0 {
            v as usize
        } else {
            return 0;
        };
        bytes.max(128 * 1024)
    }

    /// DEBUG CLIENT-EVICTION: the clients eviction may close, by memory bucket (Redis's
    /// power-of-two pools from 32 KiB to 4 GiB), with the memory each bucket holds.
    pub fn client_eviction_buckets(&self) -> String {
        use std::fmt::Write;
        const MIN_LOG: u32 = 15;
        const BUCKETS: usize = 19;
        let mut pools = [(0usize, 0usize); BUCKETS];
        let evictable = self.clients.iter().flatten().filter(|c| {
            !c.has(super::client::flags::NO_EVICT)
                && !c.has(super::client::flags::MASTER | super::client::flags::REPLICA)
        });
        for c in evictable {
            let mem = c.total_memory();
            let bits = usize::BITS - mem.leading_zeros();
            let i = (bits.saturating_sub(MIN_LOG) as usize).min(BUCKETS - 1);
            pools[i].0 += mem;
            pools[i].1 += 1;
        }
        let mut text = String::new();
        for (j, (mem, clients)) in pools.iter().enumerate() {
            let low = 1u64 << (j as u32 + MIN_LOG - 1);
            if j == BUCKETS - 1 {
                let _ = write!(text, "bucket {low:>10}+            :");
            } else {
                let low = if j == 0 { 0 } else { low };
                let high = (1u64 << (j as u32 + MIN_LOG)) - 1;
                let _ = write!(text, "bucket {low:>10} - {high:>10}:");
            }
            let _ = writeln!(text, " tot-mem: {mem:>10}, clients: {clients}");
        }
        text
    }

    /// Closes the clients that use the most memory until all of them together fit in
    /// maxmemory-clients (Redis's evictClients); CLIENT NO-EVICT ones are spared. The running
    /// client is out of the table and is not considered.
    pub fn evict_clients(&mut self) {
        let limit = self.client_eviction_limit();
        if limit == 0 {
            return;
        }
        let mut total: usize = self
            .clients
            .iter()
            .flatten()
            .filter(|c| !c.has(super::client::flags::CLOSE_ASAP))
            .map(|c| c.total_memory())
            .sum();
        if total <= limit {
            return;
        }
        let mut candidates: Vec<(usize, usize)> = self
            .clients
            .iter()
            .flatten()
            .filter(|c| {
                !c.has(super::client::flags::NO_EVICT) && !c.has(super::client::flags::CLOSE_ASAP)
            })
            .map(|c| (c.total_memory(), c.slot))
            .collect();
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        for (mem, slot) in candidates {
            if total <= limit {
                break;
            }
            if let Some(c) = self.client_mut(slot) {
                tracing::info!("Evicting client: id={} addr={} tot-mem={mem}", c.id, c.addr);
                // Its replies will never be sent: their memory goes now, before keys are
                // weighed against maxmemory (Redis frees an evicted client at once).
                c.out.buf = Vec::new();
                c.out_sent = 0;
            }
            self.close_client_asap(slot);
            self.stats.evicted_clients += 1;
            total -= mem;
        }
    }

    /// Deletes an evicted key with Redis's side effects: stats, event, invalidation, and a
    /// DEL (UNLINK with lazyfree-lazy-eviction) for the AOF.
    /// Returns the bytes the deletion itself freed: what the side effects then take (the
    /// invalidation messages to tracking clients, the DEL for the AOF) does not count, or
    /// evicting keys tracked by many clients would feed itself until the dataset is gone
    /// (Redis measures the same way).
    fn evict(&mut self, db: usize, key: &[u8]) -> usize {
        let before = crate::alloc::used_memory();
        drop(self.dbs[db].remove(key));
        let freed = before.saturating_sub(crate::alloc::used_memory());
        self.stats.evicted_keys += 1;
        self.signal_modified_by_server(db, key);
        self.notify(crate::config::notify::EVICTED, "evicted", key, db);
        self.propagate_deletion(db, key, self.settings.lazyfree_lazy_eviction);
        freed
    }

    /// The next key to evict under `policy`, None when there is none.
    fn eviction_candidate(&mut self, policy: Policy) -> Option<(usize, CompactBytes)> {
        let ndb = self.dbs.len();
        if let Policy::Random { all } = policy {
            for _ in 0..ndb {
                self.eviction.next_db = (self.eviction.next_db + 1) % ndb;
                let db = self.eviction.next_db;
                let mut rng = crate::util::rng::splitmix(self.random_u64());
                let d = &self.dbs[db];
                let key = if all {
                    d.keys().random(&mut rng).map(|(k, _)| k.clone())
                } else {
                    d.volatile().random(&mut rng).map(|(k, _)| k.clone())
                };
                if let Some(k) = key {
                    return Some((db, k));
                }
            }
            return None;
        }
        loop {
            let mut total = 0;
            for db in 0..ndb {
                let n = if policy.all_keys() {
                    self.dbs[db].len()
                } else {
                    self.dbs[db].expires_count()
                };
                if n > 0 {
                    self.populate_pool(db, policy);
                    total += n;
                }
            }
            if total == 0 {
                return None;
            }
            // Best first; a candidate deleted since it was pooled is skipped.
            while let Some(c) = self.eviction.pool.pop() {
                let d = &self.dbs[c.db];
                let present = if policy.all_keys() {
                    d.keys().get(c.key.as_slice()).is_some()
                } else {
                    d.volatile().get(c.key.as_slice()).is_some()
                };
                if present {
                    return Some((c.db, c.key));
                }
            }
        }
    }

    /// Redis's evictionPoolPopulate: samples keys of `db` and keeps the best candidates.
    fn populate_pool(&mut self, db: usize, policy: Policy) {
        let now = self.clock.now_ms();
        let samples = self.settings.maxmemory_samples.max(1) as usize;
        let decay = self.settings.lfu_decay_time;
        let mut rng = crate::util::rng::splitmix(self.random_u64());
        let d = &self.dbs[db];
        let pool = &mut self.eviction.pool;
        // `expire_at_ms` matters only to volatile-ttl, which samples keys with a TTL.
        let mut consider =
            |key: &CompactBytes, entry: &crate::keyspace::db::Entry, expire_at_ms: i64| {
                let score = match policy {
                    Policy::Lru { .. } => idle_secs(entry.lru(), now),
                    Policy::Lfu { .. } => 255 - u64::from(lfu_decayed(entry.lru(), now, decay)),
                    _ => u64::MAX - expire_at_ms as u64,
                };
                if pool
                    .iter()
                    .any(|c| c.db == db && c.key.as_slice() == key.as_slice())
                {
                    return;
                }
                // A full pool keeps the 16 best: one worse than all of them is not taken.
                let at = pool.partition_point(|c| c.score < score);
                let key = key.clone();
                if pool.len() == POOL_SIZE {
                    if at == 0 {
                        return;
                    }
                    pool.remove(0);
                    pool.insert(at - 1, Candidate { score, db, key });
                } else {
                    pool.insert(at, Candidate { score, db, key });
                }
            };
        if policy.all_keys() {
            d.keys()
                .sample(samples, &mut rng, |k, e| consider(k, e, NO_EXPIRE));
        } else {
            d.volatile().sample(samples, &mut rng, |k, &at| {
                if let Some(e) = d.keys().get(k.as_slice()) {
                    consider(k, e, at);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenacity_limits_are_redis_s() {
        assert_eq!(time_limit(0), Some(Duration::ZERO));
        assert_eq!(time_limit(10), Some(Duration::from_micros(500)));
        assert_eq!(time_limit(11), Some(Duration::from_micros(575)));
        assert_eq!(time_limit(100), None);
    }
}
