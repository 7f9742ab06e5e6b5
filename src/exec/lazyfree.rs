//! Freeing big values off the executor thread (Redis's lazyfree.c and its bio thread): UNLINK,
//! FLUSHALL/FLUSHDB ASYNC and the lazyfree-lazy-* deletions hand values whose free effort
//! passes a threshold to a background thread, so releasing a million-element set does not
//! stall every client. INFO reports the queue (lazyfree_pending_objects) and the count freed
//! (lazyfreed_objects).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;

use crate::keyspace::value::Value;

/// Values with more allocations than this are freed in the background (LAZYFREE_THRESHOLD).
const THRESHOLD: usize = 64;

/// Something to drop on the background thread, with how many objects it counts for.
struct Garbage(Box<dyn FnOnce() + 'static>, u64);

// SAFETY: a job owns what it frees outright: values and databases leave the keyspace before
// they are queued and nothing on the executor thread refers to them any more. Their Drop
// impls touch only their own memory (the allocator is thread-safe).
unsafe impl Send for Garbage {}

#[derive(Default)]
struct Counters {
    pending: AtomicU64,
    freed: AtomicU64,
}

pub struct LazyFree {
    tx: Option<Sender<Garbage>>,
    counters: Arc<Counters>,
}

impl LazyFree {
    /// Starts the background thread.
    pub fn start() -> LazyFree {
        let (tx, rx) = channel::<Garbage>();
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let spawned = std::thread::Builder::new()
            .name("lazyfree".into())
            .spawn(move || {
                for Garbage(free, n) in rx {
                    free();
                    c.pending.fetch_sub(n, Ordering::Relaxed);
                    c.freed.fetch_add(n, Ordering::Relaxed);
                }
            });
        let tx = match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::warn!("Can't start the lazyfree thread ({e}): freeing in place");
                None
            }
        };
        LazyFree { tx, counters }
    }

    /// Frees `value` now if it is cheap, else on the background thread.
    pub fn free_value(&self, value: Value) {
        if value.free_effort() > THRESHOLD {
            self.queue(1, move || drop(value));
        }
    }

    /// Frees `what` (a whole database's tables, say: `objects` keys) in the background.
    pub fn free_later<T: 'static>(&self, objects: u64, what: T) {
        self.queue(objects, move || drop(what));
    }

    fn queue(&self, objects: u64, free: impl FnOnce() + 'static) {
        let Some(tx) = &self.tx else {
            return free();
        };
        self.counters.pending.fetch_add(objects, Ordering::Relaxed);
        if let Err(job) = tx.send(Garbage(Box::new(free), objects)) {
            self.counters.pending.fetch_sub(objects, Ordering::Relaxed);
            (job.0 .0)();
        }
    }

    /// Objects queued and not freed yet (INFO lazyfree_pending_objects).
    pub fn pending(&self) -> u64 {
        self.counters.pending.load(Ordering::Relaxed)
    }

    /// Objects freed in the background since the last CONFIG RESETSTAT (lazyfreed_objects).
    pub fn freed(&self) -> u64 {
        self.counters.freed.load(Ordering::Relaxed)
    }

    pub fn reset_stats(&self) {
        self.counters.freed.store(0, Ordering::Relaxed);
    }
}
