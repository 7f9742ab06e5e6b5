//! Time. The executor reads the clock once per command through `Clock`, which tests can
//! shift forward instead of sleeping; `keyspace/` never reads it.
//!
//! Unix time is derived from the monotonic clock and a wall-clock base that the cron refreshes
//! (every 1/hz s): one clock read per command serves both the command's `now` and its latency
//! statistics, and wall-clock steps are picked up within one cron period.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct Clock {
    /// Added to the real time (tests move time forward with it).
    offset_ms: i64,
    start: Instant,
    base_instant: Instant,
    base_unix_us: i64,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    pub fn new() -> Self {
        let now = Instant::now();
        Clock {
            offset_ms: 0,
            start: now,
            base_instant: now,
            base_unix_us: unix_us(),
        }
    }

    /// Re-reads the wall clock (from the cron).
    pub fn refresh(&mut self) {
        self.base_instant = Instant::now();
        self.base_unix_us = unix_us();
    }

    /// Unix time in microseconds at monotonic instant `t`.
    #[inline]
    pub fn us_at(&self, t: Instant) -> i64 {
        let since = t.saturating_duration_since(self.base_instant).as_micros() as i64;
        self.base_unix_us + since + self.offset_ms * 1000
    }

    /// Unix time in milliseconds at monotonic instant `t`.
    #[inline]
    pub fn ms_at(&self, t: Instant) -> i64 {
        self.us_at(t) / 1000
    }

    /// Unix time in milliseconds.
    #[inline]
    pub fn now_ms(&self) -> i64 {
        self.ms_at(Instant::now())
    }

    /// Unix time in microseconds.
    #[inline]
    pub fn now_us(&self) -> i64 {
        self.us_at(Instant::now())
    }

    /// Monotonic time since the clock was made.
    pub fn uptime(&self) -> std::time::Duration {
        self.start.elapsed()
    }

    /// Moves time forward (tests).
    pub fn advance_ms(&mut self, ms: i64) {
        self.offset_ms += ms;
    }
}

/// Wall-clock unix time in microseconds.
#[inline]
pub fn unix_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
