//! CLIENT PAUSE / UNPAUSE, and MONITOR's command feed.
//!
//! While a pause is active, commands of the paused kind (all of them, or only writes) are
//! postponed: the client stops processing input, with the command left in its buffer, until
//! the pause ends. Keys do not expire meanwhile (they read as missing but are not deleted),
//! as Redis keeps the dataset still during a pause.

use super::client::flags as cf;
use super::{Client, Executor};
use crate::cmd::meta::flag;
use crate::cmd::table::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    pub until_ms: i64,
    /// Only commands that may change the dataset are postponed.
    pub writes_only: bool,
}

impl Executor {
    /// Starts or extends a pause (a later deadline wins; ALL wins over WRITE).
    pub fn pause_clients(&mut self, until_ms: i64, writes_only: bool) {
        self.pause = Some(match self.pause {
            Some(p) => Pause {
                until_ms: p.until_ms.max(until_ms),
                writes_only: p.writes_only && writes_only,
            },
            None => Pause {
                until_ms,
                writes_only,
            },
        });
    }

    /// Ends the pause and lets postponed clients run their commands.
    pub fn unpause_clients(&mut self) {
        self.pause = None;
        self.resume_postponed();
    }

    /// Postponed clients run their commands again (those still paused wait anew).
    pub fn resume_postponed(&mut self) {
        for slot in std::mem::take(&mut self.postponed) {
            if let Some(c) = self.clients.get_mut(slot).and_then(|c| c.as_deref_mut()) {
                c.flags &= !cf::POSTPONED;
                self.blocking.resumed.push(slot);
            }
        }
    }

    /// True while a pause keeps keys from expiring.
    pub fn is_paused(&self, now_ms: i64) -> bool {
        self.pause.is_some_and(|p| p.until_ms > now_ms) || self.holds_writes()
    }

    /// A FAILOVER or a shutdown waiting for replicas holds writes (Redis's
    /// PAUSE_DURING_FAILOVER and PAUSE_DURING_SHUTDOWN) until it ends.
    fn holds_writes(&self) -> bool {
        self.repl.failover.is_some()
            || self.shutdown_holds_writes()
            || self.cluster.as_ref().is_some_and(|c| c.mf_slave.is_some())
    }

    /// Should this command wait for the pause to end?
    pub(super) fn must_postpone(
        &self,
        client: &Client,
        cmd: &Command,
        argv: &[&[u8]],
        now_ms: i64,
    ) -> bool {
        let p = match self.pause {
            Some(p) if p.until_ms > now_ms => p,
            _ if self.holds_writes() => Pause {
                until_ms: i64::MAX,
                writes_only: true,
            },
            _ => return false,
        };
        if !p.writes_only {
            return true;
        }
        // What may reach the replication stream waits: writes, PUBLISH and the like, scripts
        // that did not declare no-writes, EXEC of a transaction holding any of them.
        self.effective_flags(client, cmd, argv) & (flag::WRITE | flag::MAY_REPLICATE) != 0
    }

    /// Parks a client whose command waits for the pause to end.
    pub(super) fn postpone(&mut self, client: &mut Client) {
        client.flags |= cf::POSTPONED;
        self.postponed.push(client.slot);
    }

    /// The next moment (unix ms) a wait or a pause ends, so the event loop wakes for it.
    pub fn next_wakeup_ms(&self) -> Option<i64> {
        let pause = self.pause.map(|p| p.until_ms);
        match (self.next_block_deadline(), pause) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Ends an expired pause (from the cron and before sleeping).
    pub fn check_pause(&mut self, now_ms: i64) {
        if self.pause.is_some_and(|p| p.until_ms <= now_ms) {
            self.unpause_clients();
        }
    }

    /// Sends a command to every MONITOR client (Redis's replicationFeedMonitors).
    pub fn feed_monitors(&mut self, client: &mut Client, argv: &[&[u8]], db: usize) {
        let us = self.clock.now_us();
        let mut line = format!("+{}.{:06} [{db} ", us / 1_000_000, us % 1_000_000).into_bytes();
        if client.has(cf::UNIX_SOCKET) {
            line.extend_from_slice(b"unix:");
            line.extend_from_slice(self.settings.unixsocket.as_deref().unwrap_or("").as_bytes());
        } else {
            line.extend_from_slice(client.addr.as_bytes());
        }
        line.extend_from_slice(b"] ");
        for (i, a) in argv.iter().enumerate() {
            if i > 0 {
                line.push(b' ');
            }
            crate::util::splitargs::repr(a, &mut line);
        }
        line.extend_from_slice(b"\r\n");
        for slot in self.monitors.clone() {
            if slot == client.slot {
                client.out.raw(&line);
            } else if let Some(m) = self.clients.get_mut(slot).and_then(|c| c.as_deref_mut()) {
                m.out.raw(&line);
                self.pending_write.push(slot);
            }
        }
    }
}

/// Arguments MONITOR must not show (passwords), as Redis redacts them.
pub fn redacted_argv<'a>(argv: &[&'a [u8]]) -> Vec<&'a [u8]> {
    const REDACTED: &[u8] = b"(redacted)";
    let name = argv[0];
    let mut out = argv.to_vec();
    if name.eq_ignore_ascii_case(b"auth") {
        for a in out.iter_mut().skip(1) {
            *a = REDACTED;
        }
    } else if name.eq_ignore_ascii_case(b"acl")
        && out
            .get(1)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"setuser"))
    {
        for a in out.iter_mut().skip(2) {
            *a = REDACTED;
        }
    } else if name.eq_ignore_ascii_case(b"migrate") {
        // AUTH <password> and AUTH2 <username> <password>, before KEYS.
        let mut i = 6;
        while i < out.len() {
            if out[i].eq_ignore_ascii_case(b"AUTH") && i + 1 < out.len() {
                out[i + 1] = REDACTED;
                i += 2;
            } else if out[i].eq_ignore_ascii_case(b"AUTH2") && i + 2 < out.len() {
                out[i + 1] = REDACTED;
                out[i + 2] = REDACTED;
                i += 3;
            } else if out[i].eq_ignore_ascii_case(b"KEYS") {
                break;
            } else {
                i += 1;
            }
        }
    } else if name.eq_ignore_ascii_case(b"config")
        && out.get(1).is_some_and(|s| s.eq_ignore_ascii_case(b"set"))
    {
        // Values of sensitive parameters (requirepass, masterauth...).
        let mut i = 2;
        while i + 1 < out.len() {
            let sensitive = crate::config::lookup(&String::from_utf8_lossy(out[i]))
                .is_some_and(|d| crate::config::DEFS[d].flags & crate::config::SENSITIVE != 0);
            if sensitive {
                out[i + 1] = REDACTED;
            }
            i += 2;
        }
    } else if name.eq_ignore_ascii_case(b"hello") {
        let mut i = 2;
        while i < out.len() {
            if out[i].eq_ignore_ascii_case(b"AUTH") && i + 2 < out.len() {
                out[i + 1] = REDACTED;
                out[i + 2] = REDACTED;
                i += 3;
            } else {
                i += 1;
            }
        }
    }
    out
}
