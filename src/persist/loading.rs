//! A dataset load in progress (startup, a replica's full sync, DEBUG RELOAD): how far it got
//! (INFO's loading_* fields), and the other clients, served now and then meanwhile, told
//! `-LOADING` for all but the commands flagged `loading` (Redis's processEventsWhileBlocked
//! from rdbLoadProgressCallback and the AOF loop).

use std::time::Instant;

use crate::exec::Executor;

/// How far a load got.
pub struct LoadProgress {
    pub start_unix: i64,
    started: Instant,
    pub total_bytes: u64,
    pub loaded_bytes: u64,
    /// The `used-mem` aux field of the RDB being loaded.
    pub rdb_used_mem: u64,
    /// Bytes of the earlier files of a multi-file load (an AOF's base and incrs).
    base: u64,
    /// Serve the other clients again once this many bytes are in.
    next_events_at: u64,
    /// Setting values, read once per load.
    interval: u64,
    pub key_delay: i64,
}

impl LoadProgress {
    /// INFO persistence's lines for a load in progress (Redis's formulas, including the
    /// fake 1-second ETA before a second has passed).
    pub fn info(&self) -> String {
        let perc = self.loaded_bytes as f64 / (self.total_bytes + 1) as f64 * 100.0;
        let elapsed = self.started.elapsed().as_secs() as i64;
        let eta = if elapsed == 0 {
            1
        } else {
            (elapsed as u64 * self.total_bytes / (self.loaded_bytes + 1)) as i64 - elapsed
        };
        format!(
            "loading_start_time:{}\r\nloading_total_bytes:{}\r\nloading_rdb_used_mem:{}\r\n\
             loading_loaded_bytes:{}\r\nloading_loaded_perc:{perc:.2}\r\nloading_eta_seconds:{eta}\r\n",
            self.start_unix, self.total_bytes, self.rdb_used_mem, self.loaded_bytes
        )
    }
}

/// Marks a load of `total_bytes` as started (Redis's startLoading). A load inside another
/// (an AOF's RDB base) keeps the outer one.
pub fn start(ex: &mut Executor, total_bytes: u64) -> bool {
    if ex.persist.loading.is_some() {
        return false;
    }
    let interval = ex
        .cfg
        .get_int("loading-process-events-interval-bytes")
        .max(1) as u64;
    ex.persist.loading = Some(Box::new(LoadProgress {
        start_unix: ex.clock.now_ms() / 1000,
        started: Instant::now(),
        total_bytes,
        loaded_bytes: 0,
        rdb_used_mem: 0,
        base: 0,
        next_events_at: interval,
        interval,
        key_delay: ex.cfg.get_int("key-load-delay"),
    }));
    true
}

/// Ends the load `start` began (when it returned true).
pub fn stop(ex: &mut Executor, started: bool) {
    if started {
        ex.persist.loading = None;
    }
}

/// The current file of a multi-file load is done: positions now count from its end.
pub fn next_file(ex: &mut Executor, file_bytes: u64) {
    if let Some(l) = ex.persist.loading.as_mut() {
        l.base += file_bytes;
    }
}

/// `pos` bytes of the current file are in: records it, and once every
/// loading-process-events-interval-bytes lets the network layer serve the other clients.
pub fn progress(ex: &mut Executor, pos: u64) {
    let Some(l) = ex.persist.loading.as_mut() else {
        return;
    };
    l.loaded_bytes = l.base + pos;
    if l.loaded_bytes >= l.next_events_at {
        l.next_events_at = (l.loaded_bytes / l.interval + 1) * l.interval;
        ex.serve_while_busy();
        // A client may have changed it meanwhile (CONFIG SET key-load-delay).
        let delay = ex.cfg.get_int("key-load-delay");
        if let Some(l) = ex.persist.loading.as_mut() {
            l.key_delay = delay;
        }
    }
}

/// `pos` bytes of the current file are in, and the other clients are served now (the AOF
/// loop does this every 1024 commands, as Redis's).
pub fn serve(ex: &mut Executor, pos: u64) {
    let Some(l) = ex.persist.loading.as_mut() else {
        return;
    };
    l.loaded_bytes = l.base + pos;
    ex.serve_while_busy();
}

/// key-load-delay, once per key loaded.
pub fn key_delay(ex: &Executor) {
    if let Some(l) = ex.persist.loading.as_ref() {
        debug_delay(l.key_delay);
    }
}

/// Redis's debugDelay (key-load-delay, rdb-key-save-delay): sleeps `usec` microseconds; a
/// negative value sleeps one microsecond once in `-usec` calls, shorter than a sleep can be.
pub fn debug_delay(usec: i64) {
    let usec = if usec < 0 {
        u64::from(rand::random::<u64>() % usec.unsigned_abs() == 0)
    } else {
        usec as u64
    };
    if usec > 0 {
        std::thread::sleep(std::time::Duration::from_micros(usec));
    }
}
