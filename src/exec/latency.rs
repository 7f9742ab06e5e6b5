//! The latency monitor (Redis's latency.c): events slower than `latency-monitor-threshold`
//! milliseconds, one sample per second per event (the worst), the last 160 kept; and the
//! per-command latency histograms of LATENCY HISTOGRAM (`latency-tracking`).

use std::collections::{BTreeMap, VecDeque};

/// Samples kept per event (Redis's LATENCY_TS_LEN).
const TS_LEN: usize = 160;

#[derive(Default)]
pub struct Series {
    /// (unix seconds, milliseconds), oldest first.
    pub samples: VecDeque<(i64, u64)>,
    pub max: u64,
}

#[derive(Default)]
pub struct LatencyMonitor {
    pub events: BTreeMap<&'static str, Series>,
}

impl LatencyMonitor {
    /// Records `ms` for `event` if the monitor is on and it reaches the threshold (Redis's
    /// latencyAddSampleIfNeeded).
    pub fn add_if_needed(
        &mut self,
        threshold_ms: i64,
        event: &'static str,
        ms: u64,
        now_secs: i64,
    ) {
        if threshold_ms <= 0 || (ms as i64) < threshold_ms {
            return;
        }
        let s = self.events.entry(event).or_default();
        s.max = s.max.max(ms);
        match s.samples.back_mut() {
            Some(last) if last.0 == now_secs => last.1 = last.1.max(ms),
            _ => {
                s.samples.push_back((now_secs, ms));
                if s.samples.len() > TS_LEN {
                    s.samples.pop_front();
                }
            }
        }
    }
}

/// Buckets of a latency histogram: bucket k holds durations up to about 1.024 us * 2^k, as
/// the log iteration over Redis's HDR histogram (2 significant digits, in ns) reports them.
pub const HIST_BUCKETS: usize = 40;

/// Upper bound, in ns, of histogram bucket `k` (the highest value equivalent to
/// 1024 * 2^k ns at 2 significant digits).
pub fn bucket_limit_ns(k: usize) -> u64 {
    let v = 1024u64 << k;
    v + v / 128 - 1
}

/// The bucket a duration of `usec` microseconds falls in.
pub fn bucket_of(usec: u64) -> usize {
    let ns = usec.saturating_mul(1000);
    // Start from log2(ns / 1024) and correct by a step (this runs for every command).
    let q = ns >> 10;
    let mut k = if q == 0 {
        0
    } else {
        (63 - q.leading_zeros() as usize).min(HIST_BUCKETS - 1)
    };
    while k > 0 && ns <= bucket_limit_ns(k - 1) {
        k -= 1;
    }
    while k < HIST_BUCKETS - 1 && ns > bucket_limit_ns(k) {
        k += 1;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_keep_the_worst_per_second_and_the_last_160() {
        let mut m = LatencyMonitor::default();
        m.add_if_needed(0, "command", 50, 1);
        m.add_if_needed(10, "command", 5, 1);
        assert!(m.events.is_empty());
        m.add_if_needed(10, "command", 20, 1);
        m.add_if_needed(10, "command", 30, 1);
        m.add_if_needed(10, "command", 15, 1);
        let s = &m.events["command"];
        assert_eq!((s.samples.len(), s.samples[0].1, s.max), (1, 30, 30));
        for t in 2..300 {
            m.add_if_needed(10, "command", 11, t);
        }
        assert_eq!(m.events["command"].samples.len(), 160);
    }

    #[test]
    fn histogram_bounds_read_like_redis() {
        // Redis reports these bucket keys (in us): 1 2 4 8 16 33 66 132 ...
        let keys: Vec<u64> = (0..8).map(|k| bucket_limit_ns(k) / 1000).collect();
        assert_eq!(keys, [1, 2, 4, 8, 16, 33, 66, 132]);
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 0);
        assert_eq!(bucket_of(2), 1);
        assert_eq!(bucket_of(32), 5);
        for usec in 0..100_000u64 {
            let k = bucket_of(usec);
            assert!(usec * 1000 <= bucket_limit_ns(k));
            assert!(k == 0 || usec * 1000 > bucket_limit_ns(k - 1));
        }
    }
}
