//! watchdog-period (Redis's software watchdog, a debugging aid): when the executor thread has
//! not reached its cron for longer than the period (a slow command, a load, a blocking read),
//! a thread watching its heartbeat sends it SIGALRM, and its handler writes Redis's
//! "WATCHDOG TIMER EXPIRED" report with the executor's stack (`crash`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Watchdog {
    shared: Option<Arc<Shared>>,
}

struct Shared {
    start: Instant,
    /// When the executor last passed its cron (ms since `start`).
    beat_ms: AtomicI64,
    /// watchdog-period in ms; 0: off.
    period_ms: AtomicI64,
    /// The executor thread, which the report is about.
    executor: libc::pthread_t,
}

impl Watchdog {
    /// Called from every cron: records the heartbeat and the current period, starting the
    /// watching thread the first time the period is set.
    pub fn beat(&mut self, period_ms: i64) {
        if self.shared.is_none() {
            if period_ms <= 0 {
                return;
            }
            crate::crash::install_watchdog_handler();
            let shared = Arc::new(Shared {
                start: Instant::now(),
                beat_ms: AtomicI64::new(0),
                period_ms: AtomicI64::new(period_ms),
                // SAFETY: pthread_self has no preconditions; beat runs on the executor.
                executor: unsafe { libc::pthread_self() },
            });
            let watched = shared.clone();
            let spawned = std::thread::Builder::new()
                .name("watchdog".into())
                .spawn(move || watch(&watched));
            if spawned.is_err() {
                return;
            }
            self.shared = Some(shared);
        }
        if let Some(s) = &self.shared {
            s.beat_ms.store(s.elapsed_ms(), Ordering::Relaxed);
            s.period_ms.store(period_ms.max(0), Ordering::Relaxed);
        }
    }
}

impl Shared {
    fn elapsed_ms(&self) -> i64 {
        self.start.elapsed().as_millis() as i64
    }
}

fn watch(s: &Shared) {
    let mut reported_beat = -1;
    loop {
        let period = s.period_ms.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(if period > 0 {
            (period as u64 / 4).clamp(10, 100)
        } else {
            100
        }));
        let beat = s.beat_ms.load(Ordering::Relaxed);
        if period > 0 && beat != reported_beat && s.elapsed_ms() - beat > period {
            reported_beat = beat;
            // SAFETY: the executor thread lives as long as the process (it runs the loop).
            unsafe { libc::pthread_kill(s.executor, crate::crash::WATCHDOG_SIGNAL) };
        }
    }
}
