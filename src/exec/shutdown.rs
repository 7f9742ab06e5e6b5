//! SHUTDOWN and SIGTERM/SIGINT (Redis's prepareForShutdown and finishShutdown).
//!
//! A shutdown first gives lagging replicas up to `shutdown-timeout` seconds to catch up, so
//! that no write the master acknowledged is lost with it: writes are held (as by CLIENT PAUSE
//! WRITE), the replicas are asked for an ACK, and the cron finishes the shutdown once every
//! replica acknowledged the master's offset or the time is up. SHUTDOWN callers stay blocked
//! meanwhile; SHUTDOWN ABORT (or a failure to save) cancels it and answers them with an
//! error. NOW skips the wait; FORCE exits even if the final save fails.

use super::blocking::BlockKind;
use super::Executor;
use crate::repl::ReplicaState;

/// A shutdown signal arrived and no shutdown was cancelled since: set by the signal handler
/// itself, which exits at once on a second SIGINT (Redis's shutdown_asap).
pub static SIGNALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// What a SHUTDOWN (or a signal, through shutdown-on-sigterm/-sigint) asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShutdownRequest {
    /// Some(true) SAVE, Some(false) NOSAVE, None: save if save points are configured.
    pub save: Option<bool>,
    /// Do not wait for lagging replicas.
    pub now: bool,
    /// Exit even if the final save fails.
    pub force: bool,
}

impl ShutdownRequest {
    /// The request a signal makes under shutdown-on-sigterm/-sigint's flags (bit 0 default,
    /// then save, nosave, now, force, in the order of `config::SHUTDOWN_FLAGS`).
    pub fn from_flags(flags: u32) -> ShutdownRequest {
        let has = |bit: u32| flags & (1 << bit) != 0;
        ShutdownRequest {
            // SAVE wins over NOSAVE, as in finishShutdown.
            save: if has(1) {
                Some(true)
            } else if has(2) {
                Some(false)
            } else {
                None
            },
            now: has(3),
            force: has(4),
        }
    }
}

/// The shutdown signals, which may ask for different things (shutdown-on-sig*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Term,
    Int,
}

/// A shutdown waiting for its replicas (Redis's shutdown_mstime and shutdown_flags).
#[derive(Debug, Clone, Copy)]
pub struct ShutdownWait {
    pub req: ShutdownRequest,
    pub deadline_ms: i64,
}

/// How a shutdown request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Prepared: the loop flushes what it has and the process exits.
    Exit,
    /// Waiting for lagging replicas (or another shutdown already is).
    Waiting,
    /// Cancelled by an error (logged); the server keeps running.
    Failed,
}

impl Executor {
    /// Starts a shutdown (Redis's prepareForShutdown).
    pub fn begin_shutdown(&mut self, mut req: ShutdownRequest) -> Shutdown {
        if self.shutdown_wait.is_some() {
            return Shutdown::Waiting;
        }
        // A half-loaded dataset must never overwrite the dump.
        if self.persist.loading.is_some() {
            req.save = Some(false);
        }
        tracing::warn!("User requested shutdown...");
        let timeout_s = self.cfg.get_int("shutdown-timeout");
        if !req.now && timeout_s != 0 && !self.ready_to_shutdown() {
            let now_ms = self.clock.now_ms();
            if !self.is_paused(now_ms) {
                crate::repl::request_acks(self);
            }
            self.shutdown_wait = Some(ShutdownWait {
                req,
                deadline_ms: now_ms + timeout_s * 1000,
            });
            tracing::info!("Waiting for replicas before shutting down.");
            return Shutdown::Waiting;
        }
        self.finish_shutdown(req)
    }

    /// Every replica acknowledged everything written so far.
    fn ready_to_shutdown(&self) -> bool {
        let offset = self.repl.offset;
        self.repl.replicas.iter().all(|r| r.ack_offset == offset)
    }

    /// The rest of a shutdown once the replicas caught up or the time is up (Redis's
    /// finishShutdown): children stopped, the AOF synced, the final save.
    fn finish_shutdown(&mut self, req: ShutdownRequest) -> Shutdown {
        self.report_lagging_replicas();
        self.kill_debug_sessions();
        if self.persist.child.is_some() {
            tracing::warn!("There is a child saving an .rdb. Killing it!");
            crate::persist::kill_child(self);
        }
        use crate::persist::aof::State;
        if self.aof.state != State::Off {
            if self.aof.child.is_some() {
                // The AOF is not written yet: exiting now would lose the dataset.
                if self.aof.state == State::WaitRewrite {
                    if req.force {
                        tracing::warn!("Writing initial AOF. Exit anyway.");
                    } else {
                        tracing::warn!("Writing initial AOF, can't exit.");
                        return self.shutdown_failed();
                    }
                }
                tracing::warn!("There is a child rewriting the AOF. Killing it!");
                crate::persist::aof::kill_child(self);
            }
            tracing::info!("Calling fsync() on the AOF file.");
            crate::persist::aof::flush_and_sync(self);
        }
        if req.save.unwrap_or(!self.settings.save_points.is_empty()) {
            tracing::info!("Saving the final RDB snapshot before exiting.");
            if let Err(e) = crate::persist::save(self) {
                if req.force {
                    tracing::warn!("Error trying to save the DB. Exit anyway. ({e})");
                } else {
                    tracing::warn!("Error trying to save the DB, can't exit. ({e})");
                    return self.shutdown_failed();
                }
            }
        }
        self.shutdown_wait = None;
        self.exiting = true;
        Shutdown::Exit
    }

    /// Logs each replica that has not acknowledged the master's offset, then the count.
    fn report_lagging_replicas(&self) {
        let now_s = self.clock.now_ms() / 1000;
        let offset = self.repl.offset;
        let lagging = self.repl.replicas.iter().filter(|r| r.ack_offset != offset);
        let mut count = 0;
        for r in lagging {
            count += 1;
            let lag = match r.state {
                ReplicaState::Online => now_s - r.ack_ms / 1000,
                _ => 0,
            };
            tracing::warn!(
                "Lagging replica {} reported offset {} behind master, lag={lag}, state={}.",
                crate::repl::replica_name(self, r.slot),
                offset as i64 - r.ack_offset as i64,
                r.state.name()
            );
        }
        let total = self.repl.replicas.len();
        if total > 0 {
            tracing::info!(
                "{} of {total} replicas are in sync when shutting down.",
                total - count
            );
        }
    }

    fn shutdown_failed(&mut self) -> Shutdown {
        tracing::warn!(
            "Errors trying to shut down the server. Check the logs for more information."
        );
        self.cancel_shutdown();
        Shutdown::Failed
    }

    /// Ends a shutdown that will not happen: writes flow again, its callers get an error.
    fn cancel_shutdown(&mut self) {
        self.shutdown_asap = None;
        SIGNALLED.store(false, std::sync::atomic::Ordering::SeqCst);
        self.shutdown_wait = None;
        self.answer_shutdown_waiters();
        self.resume_postponed();
    }

    /// SHUTDOWN ABORT: false when no shutdown is in progress or pending.
    pub fn abort_shutdown(&mut self) -> bool {
        if self.shutdown_wait.is_none() && self.shutdown_asap.is_none() {
            return false;
        }
        self.cancel_shutdown();
        tracing::info!("Shutdown manually aborted.");
        true
    }

    /// Writes wait while a shutdown waits for its replicas (Redis's PAUSE_DURING_SHUTDOWN).
    pub fn shutdown_holds_writes(&self) -> bool {
        self.shutdown_wait.is_some()
    }

    /// INFO's shutdown_in_milliseconds, present only while a shutdown waits.
    pub fn shutdown_in_ms(&self, now_ms: i64) -> Option<i64> {
        self.shutdown_wait.map(|w| (w.deadline_ms - now_ms).max(0))
    }

    /// A shutdown signal arrived (Redis's sigShutdownHandler; the handler itself exits on a
    /// second SIGINT, see `SIGNALLED`).
    pub fn on_shutdown_signal(&mut self, signal: Signal) {
        tracing::warn!(
            "{}",
            if self.persist.loading.is_some() {
                "Received shutdown signal during loading, scheduling shutdown."
            } else if signal == Signal::Int {
                "Received SIGINT scheduling shutdown..."
            } else {
                "Received SIGTERM scheduling shutdown..."
            }
        );
        self.shutdown_asap = Some(signal);
    }

    /// The shutdown a signal asked for, unless one is already under way.
    pub fn shutdown_for_signal(&mut self) {
        let Some(signal) = self.shutdown_asap else {
            return;
        };
        if self.shutdown_wait.is_some() || self.exiting {
            return;
        }
        let flags = match signal {
            Signal::Term => self.settings.shutdown_on_sigterm,
            Signal::Int => self.settings.shutdown_on_sigint,
        };
        self.begin_shutdown(ShutdownRequest::from_flags(flags));
    }

    /// From the cron: a waiting shutdown goes on once its replicas caught up or time is up.
    pub(super) fn shutdown_cron(&mut self, now_ms: i64) {
        // A signal's shutdown starts here, as in Redis's serverCron (so DEBUG PAUSE-CRON
        // holds it, and SHUTDOWN ABORT can still cancel it).
        self.shutdown_for_signal();
        if let Some(wait) = self.shutdown_wait {
            if now_ms >= wait.deadline_ms || self.ready_to_shutdown() {
                self.finish_shutdown(wait.req);
            }
        }
    }

    /// Clients blocked in SHUTDOWN learn that it failed (Redis's
    /// replyToClientsBlockedOnShutdown).
    fn answer_shutdown_waiters(&mut self) {
        self.fail_waiters(BlockKind::Shutdown, crate::resp::errors::SHUTDOWN_FAILED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_flags_map_to_requests() {
        assert_eq!(ShutdownRequest::from_flags(1), ShutdownRequest::default());
        let save_now = ShutdownRequest::from_flags(2 | 8);
        assert_eq!(save_now.save, Some(true));
        assert!(save_now.now && !save_now.force);
        let nosave_force = ShutdownRequest::from_flags(4 | 16);
        assert_eq!(nosave_force.save, Some(false));
        assert!(nosave_force.force);
        assert_eq!(ShutdownRequest::from_flags(2 | 4).save, Some(true));
    }
}
