//! Counters behind INFO stats, commandstats and errorstats.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct CmdStats {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
    /// Calls per latency bucket (exec::latency::bucket_of), for LATENCY HISTOGRAM.
    pub hist: Vec<u64>,
}

/// Samples kept for instantaneous metrics (Redis's STATS_METRIC_SAMPLES).
const SAMPLES: usize = 16;
/// Minimum spacing of samples (Redis samples every 100 ms).
const SAMPLE_EVERY_MS: i64 = 100;

#[derive(Debug, Default, Clone)]
struct Metric {
    samples: [u64; SAMPLES],
    idx: usize,
    last_value: u64,
    last_ms: i64,
}

impl Metric {
    /// Records a per-second rate from the growth of `value` since the last sample.
    fn track(&mut self, now_ms: i64, value: u64) {
        if self.last_ms == 0 {
            self.last_ms = now_ms;
            self.last_value = value;
            return;
        }
        let dt = now_ms - self.last_ms;
        if dt < SAMPLE_EVERY_MS {
            return;
        }
        let rate = (value - self.last_value) * 1000 / dt as u64;
        self.samples[self.idx] = rate;
        self.idx = (self.idx + 1) % SAMPLES;
        self.last_ms = now_ms;
        self.last_value = value;
    }

    fn average(&self) -> u64 {
        self.samples.iter().sum::<u64>() / SAMPLES as u64
    }
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub cmd: Vec<CmdStats>,
    /// Error replies by code (INFO errorstats).
    pub errors: BTreeMap<Vec<u8>, u64>,
    pub total_error_replies: u64,
    /// Errors sent to our master or met loading the AOF (INFO unexpected_error_replies).
    pub unexpected_error_replies: u64,
    /// `total_error_replies` when a command's errors were last accounted (Redis's static
    /// prev_err_count): a nested command's error is not its caller's too.
    errors_accounted: u64,
    /// The running command failed with an error reply that was not counted (a script returned
    /// an error a command already counted: Redis's ERR_REPLY_FLAG_NO_STATS_UPDATE).
    pub uncounted_failure: bool,
    pub total_commands_processed: u64,
    pub total_connections_received: u64,
    pub rejected_connections: u64,
    pub expired_keys: u64,
    /// Hash fields deleted because their TTL passed (Redis 7.4's expired_subkeys).
    pub expired_subkeys: u64,
    pub evicted_keys: u64,
    pub evicted_clients: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub total_net_input_bytes: u64,
    /// Reads from and writes to client sockets (Redis's stat_total_reads/writes_processed),
    /// and the clients served through io-threads batches.
    pub total_reads_processed: u64,
    pub total_writes_processed: u64,
    pub io_threaded_reads_processed: u64,
    pub io_threaded_writes_processed: u64,
    /// The last turn with output due used the io-threads (INFO io_threads_active).
    pub io_threads_active: bool,
    pub total_net_output_bytes: u64,
    /// Replication stream and snapshots received from our master / sent to replicas.
    pub total_net_repl_input_bytes: u64,
    pub total_net_repl_output_bytes: u64,
    pub client_query_buffer_limit_disconnections: u64,
    /// Reply buffers the cron shrank or grew (INFO reply_buffer_shrinks / _expands).
    pub reply_buffer_shrinks: u64,
    pub reply_buffer_expands: u64,
    pub client_output_buffer_limit_disconnections: u64,
    /// Highest used memory seen (sampled by the cron and by INFO/MEMORY).
    pub peak_memory: u64,
    /// Used memory once the server was set up, before loading data.
    pub startup_memory: u64,
    ops: Metric,
    net_in: Metric,
    net_out: Metric,
}

impl Stats {
    pub fn new(commands: usize) -> Self {
        Stats {
            cmd: vec![CmdStats::default(); commands],
            ..Default::default()
        }
    }

    /// Redis's incrCommandStatsOnError: if error replies were counted since the last
    /// accounting, command `id` (when there is one) failed, or was rejected before it ran.
    /// Returns whether it did.
    pub fn account_errors(&mut self, id: Option<usize>, rejected: bool) -> bool {
        let erred = self.total_error_replies > self.errors_accounted;
        self.errors_accounted = self.total_error_replies;
        match id.and_then(|id| self.cmd.get_mut(id)) {
            Some(st) if erred => {
                if rejected {
                    st.rejected_calls += 1;
                } else {
                    st.failed_calls += 1;
                }
                true
            }
            _ => false,
        }
    }

    /// Counts an error reply under its code (Redis keeps at most 128 distinct codes).
    pub fn count_error(&mut self, code: &[u8]) {
        self.total_error_replies += 1;
        if let Some(n) = self.errors.get_mut(code) {
            *n += 1;
        } else if self.errors.len() < 128 {
            self.errors.insert(code.to_vec(), 1);
        }
    }

    /// Raises the memory peak.
    pub fn note_memory(&mut self, used: u64) {
        self.peak_memory = self.peak_memory.max(used);
    }

    /// Feeds the instantaneous metrics (called from the cron).
    pub fn sample(&mut self, now_ms: i64) {
        self.note_memory(crate::alloc::used_memory() as u64);
        self.ops.track(now_ms, self.total_commands_processed);
        self.net_in.track(now_ms, self.total_net_input_bytes);
        self.net_out.track(now_ms, self.total_net_output_bytes);
    }

    pub fn instantaneous_ops(&self) -> u64 {
        self.ops.average()
    }

    pub fn instantaneous_input_kbps(&self) -> f64 {
        self.net_in.average() as f64 / 1024.0
    }

    pub fn instantaneous_output_kbps(&self) -> f64 {
        self.net_out.average() as f64 / 1024.0
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&mut self) {
        let n = self.cmd.len();
        *self = Stats::new(n);
    }
}
