//! Time. The executor reads the clock once per command through `Clock`, which tests can
//! shift forward instead of sleeping; `keyspace/` never reads it.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct Clock {
    /// Added to the real time (tests move time forward with it).
    offset_ms: i64,
    start: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    pub fn new() -> Self {
        Clock {
            offset_ms: 0,
            start: Instant::now(),
        }
    }

    /// Unix time in milliseconds.
    #[inline]
    pub fn now_ms(&self) -> i64 {
        unix_us() / 1000 + self.offset_ms
    }

    /// Unix time in microseconds.
    #[inline]
    pub fn now_us(&self) -> i64 {
        unix_us() + self.offset_ms * 1000
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

#[inline]
pub fn unix_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
