//! Blocking commands (BLPOP, BZPOPMIN, XREAD BLOCK, ...): clients waiting for keys.
//!
//! A handler that finds nothing to serve calls `Ctx::block`; the executor parks the client
//! (FIFO per key) with a copy of its command. When a waited-for key is created with the right
//! type (`Executor::signal_ready`), the waiting clients re-run their command in arrival order
//! after the current command finishes, as Redis serves them after the command (or the whole
//! MULTI/EXEC or script) that made the key ready. Timeouts and CLIENT UNBLOCK end a wait.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use super::client::flags as cf;
use super::{Client, Ctx, Executor};
use crate::cmd::table::Command;
use crate::resp::errors::{self as err, CmdError};

/// What kind of value the client waits for; only a key of that type wakes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    List,
    ZSet,
    Stream,
    /// WAIT: no key wakes it; it ends on replica acks or its timeout.
    Wait,
    /// WAITAOF: ends when the AOF is synced past the client's last write, or on timeout.
    WaitAof,
    /// SHUTDOWN waiting for lagging replicas: the process exits, or the shutdown fails.
    Shutdown,
}

impl BlockKind {
    pub fn matches(self, type_name: &str) -> bool {
        matches!(
            (self, type_name),
            (BlockKind::List, "list") | (BlockKind::ZSet, "zset") | (BlockKind::Stream, "stream")
        )
    }
}

/// A parked client's wait.
pub struct Blocked {
    pub kind: BlockKind,
    pub db: usize,
    pub keys: Vec<Vec<u8>>,
    /// Absolute unix ms, or 0 to wait forever.
    pub deadline_ms: i64,
    /// When to run the command again even if no key is signalled (XREADGROUP ... CLAIM: when
    /// a pending entry gets idle enough); 0 for never.
    pub wake_ms: i64,
    /// The command to run again when a key is ready (kept resolved: with rename-command the
    /// name in argv is not the command's own name).
    pub cmd: &'static Command,
    pub argv: Vec<Vec<u8>>,
}

/// A block request left by a handler in `Ctx`.
#[derive(Debug)]
pub struct BlockRequest {
    pub kind: BlockKind,
    pub keys: Vec<Vec<u8>>,
    pub deadline_ms: i64,
    /// The command to park instead of the one that ran (XREAD resolves "$").
    pub argv: Option<Vec<Vec<u8>>>,
    /// See `Blocked::wake_ms`.
    pub wake_ms: i64,
}

/// Executor-side bookkeeping for blocked clients.
#[derive(Default)]
pub struct BlockingState {
    /// (db, key) → slots of the clients waiting for it, oldest first.
    waiting: HashMap<(usize, Vec<u8>), VecDeque<usize>>,
    /// Keys signalled since the last serve pass, in signal order.
    ready: VecDeque<(usize, Vec<u8>)>,
    ready_set: HashSet<(usize, Vec<u8>)>,
    /// (deadline ms, client id, slot) of waits with a timeout.
    timeouts: BTreeSet<(i64, u64, usize)>,
    /// (wake ms, client id, slot) of waits to retry at a time (`Blocked::wake_ms`).
    wakeups: BTreeSet<(i64, u64, usize)>,
    /// Clients that were unblocked and may have pipelined input to process.
    pub resumed: Vec<usize>,
    pub blocked_count: usize,
}

impl Ctx<'_> {
    /// Parks this client until one of `keys` holds a `kind` value, or `deadline_ms` passes
    /// (0: forever). The handler must not write a reply when it blocks.
    pub fn block(&mut self, kind: BlockKind, keys: &[&[u8]], deadline_ms: i64) {
        self.block_request = Some(BlockRequest {
            kind,
            keys: keys.iter().map(|k| k.to_vec()).collect(),
            deadline_ms,
            argv: None,
            wake_ms: 0,
        });
    }

    /// Asks the parked command to run again at `wake_ms` even if no key is signalled.
    pub fn wake_at(&mut self, wake_ms: i64) {
        if let Some(r) = self.block_request.as_mut() {
            r.wake_ms = wake_ms;
        }
    }

    /// Like `block`, parking `argv` to run again instead of the current command.
    pub fn block_with_argv(
        &mut self,
        kind: BlockKind,
        keys: &[&[u8]],
        deadline_ms: i64,
        argv: Vec<Vec<u8>>,
    ) {
        self.block(kind, keys, deadline_ms);
        if let Some(r) = self.block_request.as_mut() {
            r.argv = Some(argv);
        }
    }

    /// False inside MULTI and scripts, where blocking commands behave as non-blocking ones.
    pub fn can_block(&self) -> bool {
        !self.no_block
    }
}

/// Redis's getTimeoutFromObjectOrReply for seconds given as a float: absolute ms, or 0.
pub fn parse_timeout_secs(arg: &[u8], now_ms: i64) -> Result<i64, CmdError> {
    let ms = crate::util::num::timeout_secs_to_ms(arg)
        .ok_or_else(|| CmdError::from(err::TIMEOUT_NOT_FLOAT))?;
    timeout_from_ms(ms, now_ms)
}

/// The same for a timeout given in integer milliseconds (XREAD BLOCK, WAIT).
pub fn parse_timeout_ms(arg: &[u8], now_ms: i64) -> Result<i64, CmdError> {
    let ms =
        crate::util::num::parse_i64(arg).ok_or_else(|| CmdError::from(err::TIMEOUT_NOT_INTEGER))?;
    timeout_from_ms(ms, now_ms)
}

fn timeout_from_ms(ms: i64, now_ms: i64) -> Result<i64, CmdError> {
    if ms < 0 {
        return Err(err::TIMEOUT_NEGATIVE.into());
    }
    if ms == 0 {
        return Ok(0);
    }
    ms.checked_add(now_ms)
        .ok_or_else(|| err::TIMEOUT_OUT_OF_RANGE.into())
}

impl Executor {
    /// Marks `key` as possibly serving blocked clients (Redis's signalKeyAsReady). Call it
    /// whenever a list, sorted set or stream key is created.
    pub fn signal_ready(&mut self, db: usize, key: &[u8]) {
        let st = &mut self.blocking;
        if st.waiting.is_empty() {
            return;
        }
        let k = (db, key.to_vec());
        if st.waiting.contains_key(&k) && st.ready_set.insert(k.clone()) {
            st.ready.push_back(k);
        }
    }

    /// A changed key that no longer holds a stream wakes the clients blocked on it, so a
    /// waiting XREADGROUP can fail as in Redis (signalDeletedKeyAsReady).
    pub fn signal_if_stream_gone(&mut self, db: usize, key: &[u8]) {
        if self.blocking.waiting.is_empty() {
            return;
        }
        let is_stream = self.dbs[db]
            .peek(key)
            .is_some_and(|e| e.value.type_name() == "stream");
        if !is_stream {
            self.signal_ready(db, key);
        }
    }

    /// After a flush or SWAPDB: every waited-for key of `db` is looked at again (a stream that
    /// disappeared ends XREADGROUP waits, a key that arrived may serve waiters).
    pub fn signal_waited_keys_in_db(&mut self, db: usize) {
        let mut keys: Vec<Vec<u8>> = self
            .blocking
            .waiting
            .keys()
            .filter(|k| k.0 == db)
            .map(|k| k.1.clone())
            .collect();
        keys.sort();
        for k in keys {
            self.signal_ready(db, &k);
        }
    }

    /// Signals every waited-for key of `db` that holds a value (after SWAPDB, as Redis's
    /// scanDatabaseForReadyKeys).
    pub fn signal_existing_waited_keys(&mut self, db: usize) {
        let mut keys: Vec<Vec<u8>> = self
            .blocking
            .waiting
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k.clone())
            .collect();
        keys.sort();
        for k in keys {
            if self.dbs[db].peek(&k).is_some() {
                self.signal_ready(db, &k);
            }
        }
    }

    /// Parks `client` after its handler asked to block.
    pub(super) fn park(
        &mut self,
        client: &mut Client,
        mut req: BlockRequest,
        cmd: &'static Command,
        argv: &[&[u8]],
    ) {
        let db = client.db;
        // A key named twice is waited for once (Redis keeps a set of keys per client).
        let mut seen = HashSet::new();
        req.keys.retain(|k| seen.insert(k.clone()));
        for k in &req.keys {
            self.blocking
                .waiting
                .entry((db, k.clone()))
                .or_default()
                .push_back(client.slot);
        }
        if req.deadline_ms > 0 {
            self.blocking
                .timeouts
                .insert((req.deadline_ms, client.id, client.slot));
        }
        if req.wake_ms > 0 {
            self.blocking
                .wakeups
                .insert((req.wake_ms, client.id, client.slot));
        }
        client.flags |= cf::BLOCKED;
        client.blocked = Some(Box::new(Blocked {
            kind: req.kind,
            db,
            keys: req.keys,
            deadline_ms: req.deadline_ms,
            wake_ms: req.wake_ms,
            cmd,
            argv: req
                .argv
                .unwrap_or_else(|| argv.iter().map(|a| a.to_vec()).collect()),
        }));
        self.blocking.blocked_count += 1;
    }

    /// Removes a client's wait from every index (served, timed out, unblocked or gone).
    pub(super) fn unpark(&mut self, client: &mut Client) {
        let Some(b) = client.blocked.take() else {
            return;
        };
        for k in b.keys {
            let key = (b.db, k);
            if let Some(q) = self.blocking.waiting.get_mut(&key) {
                q.retain(|s| *s != client.slot);
                if q.is_empty() {
                    self.blocking.waiting.remove(&key);
                }
            }
        }
        if b.deadline_ms > 0 {
            self.blocking
                .timeouts
                .remove(&(b.deadline_ms, client.id, client.slot));
        }
        self.blocking
            .wakeups
            .remove(&(b.wake_ms, client.id, client.slot));
        client.flags &= !cf::BLOCKED;
        self.blocking.blocked_count -= 1;
    }

    /// Serves clients blocked on keys that became ready (Redis's handleClientsBlockedOnKeys).
    /// Serving one may make others ready (BLMOVE pushes), so loop until quiet.
    pub(super) fn serve_ready_keys(&mut self) {
        while let Some(key) = self.blocking.ready.pop_front() {
            self.blocking.ready_set.remove(&key);
            let Some(queue) = self.blocking.waiting.get(&key) else {
                continue;
            };
            let waiting: Vec<usize> = queue.iter().copied().collect();
            for slot in waiting {
                let now_ms = self.clock.now_ms();
                let (db, name) = (key.0, key.1.as_slice());
                // A stream that is gone still wakes XREADGROUP, which then fails.
                let type_name = self
                    .lookup_write(db, name, now_ms)
                    .map(|e| e.value.type_name());
                let Some(mut client) = self.clients.get_mut(slot).and_then(Option::take) else {
                    continue;
                };
                let kind_ok = client.blocked.as_ref().is_some_and(|b| match type_name {
                    Some(t) => b.kind.matches(t) || b.kind == BlockKind::Stream,
                    None => b.kind == BlockKind::Stream,
                });
                if kind_ok {
                    self.running_slot = Some(slot);
                    self.running_id = client.id;
                    self.retry_blocked(&mut client, now_ms, name.to_vec());
                    self.running_slot = None;
                    self.running_id = 0;
                    self.flush_self_pushes(&mut client);
                }
                self.clients[slot] = Some(client);
                self.flush_tracking_pending();
            }
        }
    }

    /// Runs a parked client's command again, serving from `key`; unparks it if the command
    /// did not block again.
    fn retry_blocked(&mut self, client: &mut Client, now_ms: i64, key: Vec<u8>) {
        let blocked = client.blocked.as_ref().expect("parked");
        let cmd = blocked.cmd;
        let argv_owned = blocked.argv.clone();
        let argv: Vec<&[u8]> = argv_owned.iter().map(|a| a.as_slice()).collect();
        let handler = cmd.handler.expect("bound command");
        let started = std::time::Instant::now();
        let prop = self.propagation_begin();
        let (result, request) = {
            let mut ctx = Ctx::new(self, client, &argv, cmd, now_ms);
            ctx.retry = true;
            ctx.ready_key = Some(&key);
            let r = handler(&mut ctx);
            (r, ctx.block_request.take())
        };
        self.propagation_end(prop, client, &argv, false);
        if let Some(req) = request {
            // Nothing to serve after all: keep the place in line, with the new wake time.
            let b = client.blocked.as_mut().expect("parked");
            if b.wake_ms != req.wake_ms {
                let (id, slot) = (client.id, client.slot);
                self.blocking.wakeups.remove(&(b.wake_ms, id, slot));
                b.wake_ms = req.wake_ms;
                if req.wake_ms > 0 {
                    self.blocking.wakeups.insert((req.wake_ms, id, slot));
                }
            }
            return;
        }
        if let Err(e) = result {
            client.out.error(e.text());
            self.stats.count_error(e.code());
        }
        self.stats.account_errors(Some(cmd.id), false);
        self.slowlog_push(client, &argv, started.elapsed().as_micros() as u64, now_ms);
        self.unpark(client);
        self.resume(client.slot);
    }

    fn resume(&mut self, slot: usize) {
        self.pending_write.push(slot);
        self.blocking.resumed.push(slot);
    }

    /// The earliest wait deadline or wake time, if any (the event loop sleeps no longer than
    /// this).
    pub fn next_block_deadline(&self) -> Option<i64> {
        let timeout = self.blocking.timeouts.first().map(|t| t.0);
        let wakeup = self.blocking.wakeups.first().map(|t| t.0);
        match (timeout, wakeup) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs again the waits whose wake time came (their keys are signalled), then replies
    /// to waits whose deadline passed (null array, as Redis).
    pub fn expire_blocked(&mut self, now_ms: i64) {
        let mut woke = false;
        while let Some(&(wake, id, slot)) = self.blocking.wakeups.first() {
            if wake > now_ms {
                break;
            }
            self.blocking.wakeups.pop_first();
            let keys = self
                .clients
                .get_mut(slot)
                .and_then(Option::as_mut)
                .and_then(|c| {
                    let b = c.blocked.as_mut().filter(|_| c.id == id)?;
                    b.wake_ms = 0;
                    Some((b.db, b.keys.clone()))
                });
            if let Some((db, keys)) = keys {
                for key in keys {
                    self.signal_ready(db, &key);
                }
                woke = true;
            }
        }
        if woke {
            self.serve_ready_keys();
        }
        while let Some(&(deadline, _, slot)) = self.blocking.timeouts.iter().next() {
            if deadline > now_ms {
                break;
            }
            let Some(mut client) = self.clients.get_mut(slot).and_then(Option::take) else {
                self.blocking.timeouts.pop_first();
                continue;
            };
            let acked = crate::repl::replicas_acked(self, client.repl_woff);
            reply_timed_out(&mut client, self.aof_synced_offset(), acked);
            self.unpark(&mut client);
            self.clients[slot] = Some(client);
            self.resume(slot);
        }
    }

    /// How far the AOF is synced, None when it is off.
    pub fn aof_synced_offset(&self) -> Option<u64> {
        (self.aof.state != crate::persist::aof::State::Off).then_some(self.aof.fsynced)
    }

    /// Answers WAITAOF clients whose writes the AOF has synced (after each AOF flush).
    pub fn serve_aof_waiters(&mut self) {
        if self.blocking.blocked_count == 0 {
            return;
        }
        let Some(fsynced) = self.aof_synced_offset() else {
            return;
        };
        self.answer_waiters(
            BlockKind::WaitAof,
            |_, c| (c.woff <= fsynced && c.wait_replicas == 0).then_some(()),
            |client, ()| reply_waitaof(client, Some(fsynced)),
        );
    }

    /// Answers WAIT clients whose writes enough replicas acknowledged (Redis's
    /// processClientsWaitingReplicas).
    pub fn serve_repl_waiters(&mut self) {
        if self.blocking.blocked_count == 0 || self.repl.replicas.is_empty() {
            return;
        }
        self.answer_waiters(
            BlockKind::Wait,
            |ex, c| {
                let acked = crate::repl::replicas_acked(ex, c.repl_woff);
                (acked as i64 >= c.wait_replicas).then_some(acked)
            },
            |client, acked| client.out.int(acked as i64),
        );
    }

    /// Answers the clients parked in `kind` for which `ready` has a value, with `reply`.
    fn answer_waiters<T>(
        &mut self,
        kind: BlockKind,
        ready: impl Fn(&Executor, &Client) -> Option<T>,
        mut reply: impl FnMut(&mut Client, T),
    ) {
        let done: Vec<(usize, T)> = self
            .clients
            .iter()
            .flatten()
            .filter(|c| c.blocked.as_ref().is_some_and(|b| b.kind == kind))
            .filter_map(|c| ready(self, c).map(|v| (c.slot, v)))
            .collect();
        for (slot, value) in done {
            let Some(mut client) = self.clients.get_mut(slot).and_then(Option::take) else {
                continue;
            };
            reply(&mut client, value);
            self.unpark(&mut client);
            self.clients[slot] = Some(client);
            self.resume(slot);
        }
    }

    /// Ends every wait of `kind` with the error `text`.
    pub(super) fn fail_waiters(&mut self, kind: BlockKind, text: &'static str) {
        let e = CmdError::from(text);
        let mut failed = Vec::new();
        self.answer_waiters(
            kind,
            |_, _| Some(()),
            |client, ()| {
                client.out.error(e.text());
                failed.push(client.blocked.as_ref().map(|b| b.cmd.id));
            },
        );
        for cmd in failed {
            self.stats.count_error(e.code());
            self.stats.account_errors(cmd, false);
        }
    }

    /// The server became a replica: every blocked client gets an error and is closed (Redis's
    /// disconnectAllBlockedClients). Clients held by CLIENT PAUSE are not blocked here.
    pub fn disconnect_blocked_clients(&mut self) {
        let slots: Vec<usize> = self
            .clients
            .iter()
            .flatten()
            .filter(|c| c.blocked.is_some())
            .map(|c| c.slot)
            .collect();
        for slot in slots {
            let Some(mut client) = self.clients.get_mut(slot).and_then(Option::take) else {
                continue;
            };
            let e = CmdError::from(err::UNBLOCKED_ROLE_CHANGE);
            client.out.error(e.text());
            self.stats.count_error(e.code());
            self.unpark(&mut client);
            client.flags |= cf::CLOSE_AFTER_REPLY;
            self.clients[slot] = Some(client);
            self.pending_write.push(slot);
        }
    }

    /// Clients waiting for keys, with the first key and whether their command writes (for
    /// cluster redirections after a slot moved).
    pub fn blocked_on_keys(&self) -> Vec<(usize, Vec<u8>, bool)> {
        self.clients
            .iter()
            .flatten()
            .filter_map(|c| {
                let b = c.blocked.as_ref()?;
                if !matches!(
                    b.kind,
                    BlockKind::List | BlockKind::ZSet | BlockKind::Stream
                ) {
                    return None;
                }
                let key = b.keys.first()?.clone();
                let writes = b.cmd.meta.has(crate::cmd::meta::flag::WRITE);
                Some((c.slot, key, writes))
            })
            .collect()
    }

    /// Ends a client's wait with an error reply (a cluster redirection).
    pub fn unblock_with_error(&mut self, slot: usize, text: &[u8]) {
        let Some(mut client) = self.clients.get_mut(slot).and_then(Option::take) else {
            return;
        };
        if client.blocked.is_none() {
            self.clients[slot] = Some(client);
            return;
        }
        client.out.error(text);
        self.stats
            .count_error(crate::resp::errors::error_code(text));
        self.unpark(&mut client);
        self.clients[slot] = Some(client);
        self.resume(slot);
    }

    /// CLIENT UNBLOCK: ends a client's wait with a timeout reply or an error.
    pub fn unblock_client(&mut self, id: u64, with_error: bool) -> bool {
        let Some(slot) = self
            .clients
            .iter()
            .flatten()
            // A SHUTDOWN caller has no timeout reply: it waits for the shutdown to end.
            .find(|c| {
                c.id == id
                    && c.blocked
                        .as_ref()
                        .is_some_and(|b| b.kind != BlockKind::Shutdown)
            })
            .map(|c| c.slot)
        else {
            return false;
        };
        let Some(mut client) = self.clients.get_mut(slot).and_then(Option::take) else {
            return false;
        };
        if with_error {
            let e = CmdError::from(err::UNBLOCKED_BY_CLIENT_UNBLOCK);
            client.out.error(e.text());
            self.stats.count_error(e.code());
            // The waiting command failed, not CLIENT UNBLOCK.
            let blocked_cmd = client.blocked.as_ref().map(|b| b.cmd.id);
            self.stats.account_errors(blocked_cmd, false);
        } else {
            let acked = crate::repl::replicas_acked(self, client.repl_woff);
            reply_timed_out(&mut client, self.aof_synced_offset(), acked);
        }
        self.unpark(&mut client);
        self.clients[slot] = Some(client);
        self.resume(slot);
        true
    }

    /// Clients unblocked since the last call (the event loop processes their pending input).
    pub fn take_resumed(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.blocking.resumed)
    }
}

/// The reply a wait gets when its time is up (Redis's replyToBlockedClientTimedOut).
fn reply_timed_out(client: &mut Client, fsynced: Option<u64>, acked: usize) {
    match client.blocked.as_ref().map(|b| b.kind) {
        // WAIT answers with the number of replicas that acknowledged its writes.
        Some(BlockKind::Wait) => client.out.int(acked as i64),
        Some(BlockKind::WaitAof) => reply_waitaof(client, fsynced),
        _ => client.out.null_array(),
    }
}

/// WAITAOF's reply: [local AOF synced past the client's last write (0/1; 0 with the AOF
/// off), replicas (0)].
pub fn reply_waitaof(client: &mut Client, fsynced: Option<u64>) {
    client.out.array(2);
    client
        .out
        .int(i64::from(fsynced.is_some_and(|f| f >= client.woff)));
    client.out.int(0);
}
