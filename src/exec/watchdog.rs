//! watchdog-period (Redis's software watchdog, a debugging aid): when the executor thread has
//! not reached its cron for longer than the period (a slow command, a load, a blocking read),
//! Redis's "WATCHDOG TIMER EXPIRED" lines go to the log. Redis arms SIGALRM for this; a
//! thread watching a heartbeat does the same without a signal handler that logs.

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
}

impl Watchdog {
    /// Called from every cron: records the heartbeat and the current period, starting the
    /// watching thread the first time the period is set.
    pub fn beat(&mut self, period_ms: i64) {
        if self.shared.is_none() {
            if period_ms <= 0 {
                return;
            }
            let shared = Arc::new(Shared {
                start: Instant::now(),
                beat_ms: AtomicI64::new(0),
                period_ms: AtomicI64::new(period_ms),
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
            tracing::warn!("\n--- WATCHDOG TIMER EXPIRED ---");
            tracing::warn!("(the executor thread is busy; no stack trace is taken)");
            tracing::warn!("--------\n");
        }
    }
}
