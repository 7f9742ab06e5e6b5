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

/// Per-command latency histogram in the layout of Redis's HDR histogram (values in ns,
/// 2 significant digits: exact below 256, then 128 sub-buckets per power of two), so the
/// percentiles and the LATENCY HISTOGRAM rows read as Redis's do.
pub const HDR_LEN: usize = 256 + 22 * 128;
/// Redis's LATENCY_HISTOGRAM_MAX_VALUE: 1 s in ns.
const HDR_MAX_NS: u64 = 1_000_000_000;

/// The slot of a duration in ns.
pub fn hdr_index(ns: u64) -> usize {
    let v = ns.clamp(1, HDR_MAX_NS);
    if v < 256 {
        return v as usize;
    }
    let b = 63 - v.leading_zeros() as usize - 7;
    256 + (b - 1) * 128 + ((v >> b) as usize - 128)
}

/// The highest value a slot stands for (hdr's highest_equivalent_value).
pub fn hdr_highest(idx: usize) -> u64 {
    if idx < 256 {
        return idx as u64;
    }
    let b = (idx - 256) / 128 + 1;
    let sub = ((idx - 256) % 128 + 128) as u64;
    (sub << b) + (1u64 << b) - 1
}

/// Records a command's duration.
pub fn record(hist: &mut Vec<u64>, usec: u64) {
    if hist.is_empty() {
        *hist = vec![0; HDR_LEN];
    }
    hist[hdr_index(usec.saturating_mul(1000))] += 1;
}

/// The value at `percentile` in us (hdr_value_at_percentile / 1000).
pub fn percentile_usec(hist: &[u64], percentile: f64) -> f64 {
    let total: u64 = hist.iter().sum();
    let want = (((percentile.min(100.0) / 100.0) * total as f64) + 0.5) as u64;
    let want = want.max(1);
    let mut seen = 0;
    for (i, &n) in hist.iter().enumerate() {
        seen += n;
        if seen >= want {
            return hdr_highest(i) as f64 / 1000.0;
        }
    }
    0.0
}

/// Rows of LATENCY HISTOGRAM: at 1024 ns * 2^k (reported as the highest equivalent value in
/// us), the cumulative count, where it grew (Redis's fillCommandCDF over hdr_iter_log).
pub fn cdf_rows(hist: &[u64]) -> Vec<(u64, u64)> {
    let total: u64 = hist.iter().sum();
    let mut rows = Vec::new();
    let (mut cumulative, mut previous, mut idx) = (0u64, 0u64, 0usize);
    let mut level = 1024u64;
    while previous < total && level <= HDR_MAX_NS * 2 {
        let limit = hdr_highest(hdr_index(level));
        while idx < hist.len() && hdr_highest(idx) <= limit {
            cumulative += hist[idx];
            idx += 1;
        }
        if cumulative > previous {
            rows.push((limit / 1000, cumulative));
        }
        previous = cumulative;
        level *= 2;
    }
    rows
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
    fn hdr_layout_reads_like_redis() {
        // Percentile values Redis printed for 2, 4 and 10 us commands.
        for (usec, want) in [(2u64, 2.007), (4, 4.015), (10, 10.047)] {
            let mut h = Vec::new();
            record(&mut h, usec);
            assert_eq!(percentile_usec(&h, 50.0), want);
        }
        for ns in (1..5_000_000u64).step_by(997) {
            let i = hdr_index(ns);
            assert!(
                ns <= hdr_highest(i) && (i == 0 || ns > hdr_highest(i - 1)),
                "{ns}"
            );
        }
        assert!(hdr_index(u64::MAX) < HDR_LEN);
        // LATENCY HISTOGRAM rows Redis gave for SETs of 6, 12, 14, 30 us: 8:1 16:3 33:4.
        let mut h = Vec::new();
        for usec in [6, 12, 14, 30] {
            record(&mut h, usec);
        }
        assert_eq!(cdf_rows(&h), [(8, 1), (16, 3), (33, 4)]);
    }
}
