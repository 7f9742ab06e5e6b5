//! Replication (Redis's replication.c), sans I/O: the replication ids and offsets, the
//! backlog, the replicas attached to this server and the state of the link to its own master.
//!
//! Master side: writes leave the executor through the propagation stream's `repl` sink
//! (`exec::propagate`); `feed` moves them into the backlog and to every replica. A replica
//! that asks to PSYNC from an offset the backlog covers gets `+CONTINUE` and the history;
//! otherwise `+FULLRESYNC` and a snapshot made by the same fork helper as BGSAVE
//! (`persist::sync`), written to disk and sent from the file, or streamed through a pipe
//! (diskless, EOF-marked). The stream is stored once, in the replication buffer the backlog
//! and the replicas share (`backlog`); each replica reads it from its own offset, and the
//! bytes produced while its snapshot is made or sent wait there.
//!
//! Replica side: `net` connects to the master and drives `handshake::Handshake`; the RDB
//! lands in a temp file that replaces the dataset, then the link becomes the master client
//! (`cf::MASTER`) whose commands are applied and whose stream is proxied to our own replicas.

pub mod backlog;
pub mod handshake;

use std::fmt::Write as _;

use crate::exec::client::flags as cf;
use crate::exec::Executor;
use backlog::Backlog;

/// A replica's progress (Redis's SLAVE_STATE_*).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReplicaState {
    /// Waiting for a snapshot to start (another child runs, or the diskless delay).
    WaitBgsaveStart,
    /// The snapshot for it is being made (diskless: and streamed).
    WaitBgsaveEnd,
    /// The snapshot file is being sent.
    SendBulk,
    Online,
}

impl ReplicaState {
    /// INFO's `state=` (Redis's replstateToString).
    pub fn name(self) -> &'static str {
        match self {
            ReplicaState::WaitBgsaveStart | ReplicaState::WaitBgsaveEnd => "wait_bgsave",
            ReplicaState::SendBulk => "send_bulk",
            ReplicaState::Online => "online",
        }
    }
}

/// A replica attached to this server.
pub struct Replica {
    pub slot: usize,
    pub state: ReplicaState,
    /// REPLCONF listening-port.
    pub listening_port: u16,
    /// REPLCONF capa eof: a diskless transfer is understood.
    pub capa_eof: bool,
    /// Offset the replica acknowledged (REPLCONF ACK) and when.
    pub ack_offset: u64,
    pub ack_ms: i64,
    /// The offset of the next stream byte it gets from the shared buffer, once it has one
    /// (Redis's ref_repl_buf_node): set when its snapshot starts or its PSYNC is accepted;
    /// the bytes are written only once it is online.
    pub stream_pos: Option<u64>,
    /// A diskless transfer ended: the stream starts with its first ACK (Redis's
    /// repl_start_cmd_stream_on_ack).
    pub start_on_ack: bool,
    /// The diskless payload was sent in full (the child may still be exiting).
    pub payload_sent: bool,
    /// The snapshot file being sent (SendBulk).
    pub transfer: Option<crate::persist::sync::FileTransfer>,
    /// SYNC (not PSYNC): no +FULLRESYNC line.
    pub pre_psync: bool,
    /// An ACK came (the stream of a diskless replica starts then, out of the ACK's command).
    pub acked: bool,
    /// The snapshot this replica waits for goes to a socket (diskless).
    pub diskless: bool,
    /// REPLCONF rdb-filter-only: the parts of the dataset it wants.
    pub filter: Option<crate::exec::client::RdbFilter>,
    /// A diskless transfer's output left unsent, and since when it has not moved (Redis's
    /// repl_last_partial_write): a replica that stops reading its snapshot times out.
    pub unsent: (usize, Option<i64>),
}

/// The link to our master's state, as ROLE names it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LinkState {
    /// Must connect (now or after a failed try).
    Connect,
    Connecting,
    Handshake,
    /// Receiving the snapshot.
    Transfer,
    Connected,
}

impl LinkState {
    pub fn role_name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Transfer => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// This server is a replica of `host:port`.
pub struct MasterLink {
    pub host: String,
    pub port: u16,
    pub state: LinkState,
    /// Slot of the connection (handshake or master client).
    pub slot: Option<usize>,
    /// When data last came from the master.
    pub last_io_ms: i64,
    /// When the link went down (None: never up yet).
    pub down_since_ms: Option<i64>,
    /// Earliest time for the next connection attempt.
    pub retry_at_ms: i64,
    /// Stream read from the master (slave_read_repl_offset) and applied (slave_repl_offset).
    pub read_offset: u64,
    /// The snapshot being received: its size when announced, bytes so far.
    pub sync_total: Option<u64>,
    pub sync_read: u64,
    pub sync_last_io_ms: i64,
    /// When the last REPLCONF ACK went out.
    pub last_ack_ms: i64,
    /// Applied bytes of an unfinished MULTI from the master: they reach our replicas with
    /// its EXEC (the stream is proxied at transaction boundaries).
    pub pending_applied: Vec<u8>,
}

/// The history this server can continue from when it reconnects to a master (Redis's
/// cached master): its replication id and the offset it has.
#[derive(Clone, Debug)]
pub struct CachedMaster {
    pub replid: String,
    pub offset: u64,
    /// The db the stream had selected: a continued stream does not select it again
    /// (Redis keeps the cached master client, with its db).
    pub db: usize,
}

pub struct Repl {
    pub replid: String,
    pub replid2: String,
    /// Offset up to which replid2 is valid (-1: none).
    pub second_replid_offset: i64,
    /// master_repl_offset: bytes of replication stream this server has produced or applied.
    pub offset: u64,
    pub backlog: Option<Backlog>,
    pub replicas: Vec<Replica>,
    pub master: Option<MasterLink>,
    pub cached_master: Option<CachedMaster>,
    /// When the last replica left (repl-backlog-ttl counts from here).
    pub no_replicas_since_ms: i64,
    pub last_ping_ms: i64,
    /// Replicas are waiting for a diskless snapshot since then (repl-diskless-sync-delay).
    pub diskless_wait_since_ms: Option<i64>,
    pub stat_sync_full: u64,
    pub stat_sync_partial_ok: u64,
    pub stat_sync_partial_err: u64,
    /// A WAIT started: ask the replicas for an ACK before sleeping.
    pub ack_requested: bool,
    /// Our master asked for an ACK (REPLCONF GETACK).
    pub ack_to_master: bool,
    /// A replica waits for a snapshot: try to start one after the command.
    pub sync_due: bool,
    /// A FAILOVER under way.
    pub failover: Option<Failover>,
    /// Keys with a TTL that clients (not the master) wrote on this writable replica, with
    /// the dbs (bits 0-63) holding them: the master knows nothing of them, so the replica
    /// expires them itself (Redis's slaveKeysWithExpire).
    pub writable_expires: std::collections::HashMap<Vec<u8>, u64>,
}

/// FAILOVER's progress (Redis's failover_state and its parameters).
#[derive(Clone, Debug)]
pub struct Failover {
    /// TO host port; None: the first replica that catches up.
    pub target: Option<(String, u16)>,
    pub force: bool,
    /// TIMEOUT: when waiting ends (aborted, or forced with FORCE).
    pub end_ms: Option<i64>,
    /// The target caught up: we are now its replica, asking PSYNC ... FAILOVER.
    pub in_progress: bool,
}

pub const NULL_REPLID: &str = "0000000000000000000000000000000000000000";

/// A fresh random 40-hex-digit replication id.
pub fn random_replid() -> String {
    (0..40)
        .map(|_| char::from_digit(u32::from(rand::random::<u8>() & 15), 16).unwrap_or('0'))
        .collect()
}

impl Repl {
    pub fn new(now_ms: i64) -> Repl {
        Repl {
            replid: random_replid(),
            replid2: NULL_REPLID.into(),
            second_replid_offset: -1,
            offset: 0,
            backlog: None,
            replicas: Vec::new(),
            master: None,
            cached_master: None,
            no_replicas_since_ms: now_ms,
            last_ping_ms: now_ms,
            diskless_wait_since_ms: None,
            stat_sync_full: 0,
            stat_sync_partial_ok: 0,
            stat_sync_partial_err: 0,
            ack_requested: false,
            ack_to_master: false,
            sync_due: false,
            failover: None,
            writable_expires: std::collections::HashMap::new(),
        }
    }

    pub fn is_replica(&self) -> bool {
        self.master.is_some()
    }

    pub fn replica(&self, slot: usize) -> Option<&Replica> {
        self.replicas.iter().find(|r| r.slot == slot)
    }

    pub fn replica_mut(&mut self, slot: usize) -> Option<&mut Replica> {
        self.replicas.iter_mut().find(|r| r.slot == slot)
    }

    /// Redis's shiftReplicationId: the current history stays valid as the secondary id up to
    /// this offset; a new id starts (a replica promoted to master).
    pub fn shift_replid(&mut self) {
        self.replid2 = std::mem::replace(&mut self.replid, random_replid());
        self.second_replid_offset = self.offset as i64 + 1;
    }

    pub fn clear_replid2(&mut self) {
        self.replid2 = NULL_REPLID.into();
        self.second_replid_offset = -1;
    }

    /// Can a replica that has `replid` up to `offset - 1` continue from here
    /// (Redis's masterTryPartialResynchronization checks)? Err says why not, for the log.
    pub fn can_continue(&self, replid: &[u8], offset: i64) -> Result<(), String> {
        let ours = replid.eq_ignore_ascii_case(self.replid.as_bytes());
        let previous = replid.eq_ignore_ascii_case(self.replid2.as_bytes());
        if !ours && (!previous || offset > self.second_replid_offset) {
            return Err(if !previous {
                format!(
                    "Replication ID mismatch (Replica asked for '{}', my replication IDs are '{}' and '{}')",
                    String::from_utf8_lossy(replid),
                    self.replid,
                    self.replid2
                )
            } else {
                format!(
                    "Requested offset for second ID was {offset}, but I can reply up to {}",
                    self.second_replid_offset
                )
            });
        }
        match &self.backlog {
            Some(b) if offset >= 0 && b.covers(offset as u64) => Ok(()),
            Some(b) => Err(format!(
                "Unable to partial resync with replica for lack of backlog (Replica request was: {offset}), and I can only reply with the range [{}, {}]",
                b.first_offset(),
                b.first_offset() + b.histlen() as u64
            )),
            None => Err("No backlog".into()),
        }
    }
}

/// Creates the backlog if there is none (Redis's createReplicationBacklog).
pub fn ensure_backlog(ex: &mut Executor) {
    if ex.repl.backlog.is_none() {
        let size = ex.cfg.get_int("repl-backlog-size").max(16 * 1024) as usize;
        ex.repl.backlog = Some(Backlog::new(size, ex.repl.offset + 1));
    }
    // A master (and only a master) produces the stream itself.
    ex.prop.repl.on = !ex.repl.is_replica();
}

/// Moves what the executor propagated into the backlog and to the replicas.
pub fn feed(ex: &mut Executor) {
    if ex.prop.repl.buf.is_empty() {
        return;
    }
    let data = std::mem::take(&mut ex.prop.repl.buf);
    feed_bytes(ex, &data);
    let mut data = data;
    data.clear();
    ex.prop.repl.buf = data;
}

/// Adds stream bytes (ours, or our master's that we applied) to the backlog and sends them to
/// every replica (Redis's feedReplicationBuffer).
pub fn feed_bytes(ex: &mut Executor, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    ex.repl.offset += data.len() as u64;
    let Some(b) = &mut ex.repl.backlog else {
        return;
    };
    let added = b.append(data);
    let now_ms = ex.clock.now_ms();
    for i in 0..ex.repl.replicas.len() {
        let r = &ex.repl.replicas[i];
        let slot = r.slot;
        if r.stream_pos.is_none() {
            continue;
        }
        if streaming(r) {
            ex.pending_write.push(slot);
        }
        // Output limits are checked when the buffer grows by a block (as in Redis).
        if added {
            if let Some(mut client) = ex.clients.get_mut(slot).and_then(Option::take) {
                ex.check_output_limits(&mut client, now_ms);
                ex.clients[slot] = Some(client);
            }
        }
    }
    if added {
        trim_backlog(ex);
    }
}

/// A replica's stream goes out once its snapshot is in (for a diskless one, once it ACKed).
fn streaming(r: &Replica) -> bool {
    r.state == ReplicaState::Online && !r.start_on_ack
}

/// The lowest offset a replica still has to receive.
fn oldest_reader(repl: &Repl) -> Option<u64> {
    repl.replicas.iter().filter_map(|r| r.stream_pos).min()
}

/// Frees the shared buffer's blocks that neither the backlog nor a replica needs.
pub fn trim_backlog(ex: &mut Executor) {
    let oldest = oldest_reader(&ex.repl);
    if let Some(b) = &mut ex.repl.backlog {
        b.trim(oldest);
    }
}

/// The stream bytes the replica in `slot` may write next: a part of one block of the shared
/// buffer (empty when it has everything or is not online yet).
pub fn stream_chunk(repl: &Repl, slot: usize) -> &[u8] {
    let (Some(r), Some(b)) = (repl.replica(slot), &repl.backlog) else {
        return &[];
    };
    match r.stream_pos {
        Some(pos) if streaming(r) => b.chunk_at(pos),
        _ => &[],
    }
}

/// `n` stream bytes reached the replica's socket: it moves on, and blocks nobody needs go.
pub fn stream_sent(ex: &mut Executor, slot: usize, n: usize) {
    if let Some(pos) = ex
        .repl
        .replica_mut(slot)
        .and_then(|r| r.stream_pos.as_mut())
    {
        *pos += n as u64;
    }
    trim_backlog(ex);
}

/// The shared buffer memory the replica in `slot` keeps alive (its output buffer, for
/// CLIENT LIST and client-output-buffer-limit).
pub fn replica_buffer_usage(repl: &Repl, slot: usize) -> usize {
    let pos = repl.replica(slot).and_then(|r| r.stream_pos);
    match (pos, &repl.backlog) {
        (Some(pos), Some(b)) => b.held_from(pos),
        _ => 0,
    }
}

/// The shared replication buffer's memory as Redis reports it.
#[derive(Debug, Default, Clone, Copy)]
pub struct BufferMemory {
    /// mem_total_replication_buffers.
    pub total: u64,
    /// mem_replication_backlog: up to the backlog's size.
    pub backlog: u64,
    /// mem_clients_slaves: what replicas keep beyond the backlog's size.
    pub replicas: u64,
    /// What maxmemory does not count (Redis's freeMemoryGetNotCountedMemory): the part
    /// beyond the backlog's size and its blocks' overhead, so that replicas' buffers (and
    /// DELs evictions feed them) never drive more evictions.
    pub not_counted: u64,
}

pub fn buffer_memory(ex: &Executor) -> BufferMemory {
    let Some(b) = &ex.repl.backlog else {
        return BufferMemory::default();
    };
    let (total, size) = (b.mem() as u64, b.size() as u64);
    let (backlog, replicas) = if !ex.repl.replicas.is_empty() && total > size {
        (size, total - size)
    } else {
        (total, 0)
    };
    let counted = size + (size / (16 * 1024) + 1) * backlog::BLOCK_OVERHEAD as u64;
    BufferMemory {
        total,
        backlog,
        replicas,
        not_counted: total.saturating_sub(counted),
    }
}

/// Bytes of our master's stream that the master client applied go on to our replicas and
/// backlog, a transaction as a whole (Redis's replicationFeedStreamFromMasterStream).
pub fn applied_from_master(ex: &mut Executor, applied: &[u8], in_multi: bool) {
    let Some(m) = ex.repl.master.as_mut() else {
        return;
    };
    if in_multi {
        m.pending_applied.extend_from_slice(applied);
    } else if m.pending_applied.is_empty() {
        feed_bytes(ex, applied);
    } else {
        let mut pending = std::mem::take(&mut m.pending_applied);
        pending.extend_from_slice(applied);
        feed_bytes(ex, &pending);
        pending.clear();
        if let Some(m) = ex.repl.master.as_mut() {
            m.pending_applied = pending;
        }
    }
}

/// A client became a replica: records it and creates the backlog if needed.
fn attach<'a>(
    ex: &'a mut Executor,
    client: &mut crate::exec::Client,
    state: ReplicaState,
) -> &'a mut Replica {
    let now_ms = ex.clock.now_ms();
    client.flags |= cf::REPLICA;
    ex.repl.replicas.push(Replica {
        slot: client.slot,
        state,
        listening_port: client.replconf().listening_port,
        capa_eof: client.replconf().capa_eof,
        ack_offset: 0,
        ack_ms: now_ms,
        stream_pos: None,
        start_on_ack: false,
        payload_sent: false,
        transfer: None,
        pre_psync: false,
        acked: false,
        diskless: false,
        filter: client.replconf().rdb_filter,
        unsent: (0, None),
    });
    let last = ex.repl.replicas.len() - 1;
    &mut ex.repl.replicas[last]
}

/// The address a replica is known by in logs: ip:listening-port.
pub fn replica_name(ex: &Executor, slot: usize) -> String {
    ex.client(slot).map(replica_name_of).unwrap_or_default()
}

/// ip:listening-port as Redis's replicationGetSlaveName prints it.
pub fn replica_name_of(c: &crate::exec::Client) -> String {
    match c.replconf().listening_port {
        0 => format!("{}:<unknown-replica-port>", c.replica_ip()),
        port => format!("{}:{port}", c.replica_ip()),
    }
}

/// A replica's IP as INFO, ROLE and FAILOVER know it.
fn replica_ip(ex: &Executor, r: &Replica) -> String {
    ex.client(r.slot)
        .map(crate::exec::Client::replica_ip)
        .unwrap_or_default()
}

/// PSYNC accepted from the backlog: the replica is online at once, and gets the history it
/// misses (Redis's masterTryPartialResynchronization success path).
pub fn continue_replica(
    ex: &mut Executor,
    client: &mut crate::exec::Client,
    offset: u64,
    name: &str,
) {
    if client.replconf().capa_psync2 {
        client
            .out
            .raw(format!("+CONTINUE {}\r\n", ex.repl.replid).as_bytes());
    } else {
        client.out.raw(b"+CONTINUE\r\n");
    }
    // The history is sent from the shared buffer, from where the replica stopped.
    let history = ex.repl.offset + 1 - offset;
    tracing::info!(
        "Partial resynchronization request from {name} accepted. Sending {history} bytes of backlog starting from offset {offset}."
    );
    attach(ex, client, ReplicaState::Online).stream_pos = Some(offset);
    ex.pending_write.push(client.slot);
    ex.repl.stat_sync_partial_ok += 1;
}

/// A full resync was asked for: the replica waits for a snapshot (Redis's syncCommand). The
/// snapshot starts once the command is over (`start_pending_sync`).
pub fn begin_full_sync(ex: &mut Executor, client: &mut crate::exec::Client, pre_psync: bool) {
    ex.repl.stat_sync_full += 1;
    let first = ex.repl.replicas.is_empty() && ex.repl.backlog.is_none();
    let diskless_setting = ex.cfg.get_bool("repl-diskless-sync");
    let r = attach(ex, client, ReplicaState::WaitBgsaveStart);
    r.pre_psync = pre_psync;
    // A filtered snapshot is never the dump file: it always goes through a socket.
    r.diskless = (diskless_setting || r.filter.is_some()) && r.capa_eof;
    let diskless = r.diskless;
    if first {
        // A new history starts with the backlog (Redis's changeReplicationId).
        ex.repl.replid = random_replid();
        ex.repl.clear_replid2();
        ensure_backlog(ex);
        tracing::info!(
            "Replication backlog created, my new replication IDs are '{}' and '{}'",
            ex.repl.replid,
            ex.repl.replid2
        );
    } else {
        ensure_backlog(ex);
    }
    if diskless {
        if ex.repl.diskless_wait_since_ms.is_none() {
            ex.repl.diskless_wait_since_ms = Some(ex.clock.now_ms());
        }
        tracing::info!("Delay next BGSAVE for diskless SYNC");
    } else if ex.persist.child.is_some() || ex.aof.child.is_some() {
        tracing::info!(
            "Can't attach the replica to the current BGSAVE. Waiting for next BGSAVE for SYNC"
        );
    }
    ex.repl.sync_due = true;
}

/// Starts a snapshot for the replicas waiting for one, if no child runs (Redis's
/// startBgsaveForReplication). Diskless replicas and disk ones get separate snapshots.
pub fn start_pending_sync(ex: &mut Executor) {
    ex.repl.sync_due = false;
    if ex.persist.child.is_some() || ex.aof.child.is_some() {
        return;
    }
    let now_ms = ex.clock.now_ms();
    let waiting = |ex: &Executor, diskless: bool| {
        ex.repl
            .replicas
            .iter()
            .filter(|r| r.state == ReplicaState::WaitBgsaveStart && r.diskless == diskless)
            .count()
    };
    let diskless_due = ex.repl.diskless_wait_since_ms.is_some_and(|since| {
        let delay = ex.cfg.get_int("repl-diskless-sync-delay") * 1000;
        let max = ex.cfg.get_int("repl-diskless-sync-max-replicas") as usize;
        now_ms - since >= delay || (max > 0 && waiting(ex, true) >= max)
    });
    let diskless = if waiting(ex, false) > 0 {
        false
    } else if diskless_due && waiting(ex, true) > 0 {
        true
    } else {
        return;
    };
    // Replicas that asked for the same parts of the dataset share one snapshot.
    let filter = ex
        .repl
        .replicas
        .iter()
        .find(|r| r.state == ReplicaState::WaitBgsaveStart && r.diskless == diskless)
        .and_then(|r| r.filter);
    let in_group = move |r: &Replica| {
        r.state == ReplicaState::WaitBgsaveStart && r.diskless == diskless && r.filter == filter
    };
    // The snapshot must be followed by exactly the stream after it: what was propagated goes
    // out first, and the stream re-selects its db after the fork (Redis's slaveseldb = -1).
    feed(ex);
    let offset = ex.repl.offset;
    let target = if diskless { "replicas sockets" } else { "disk" };
    tracing::info!("Starting BGSAVE for SYNC with target: {target}");
    let info = crate::persist::sync::SyncInfo {
        replid: ex.repl.replid.clone(),
        offset,
        stream_db: 0,
        filter,
    };
    if let Err(e) = crate::persist::sync::start(ex, diskless, info) {
        tracing::warn!("BGSAVE for replication failed: {e}");
        let failed: Vec<usize> = ex
            .repl
            .replicas
            .iter()
            .filter(|r| in_group(r))
            .map(|r| r.slot)
            .collect();
        for slot in failed {
            if let Some(c) = ex.client_mut(slot) {
                c.out
                    .error(crate::resp::errors::REPLICATION_BGSAVE_FAILED.as_bytes());
            }
            ex.close_client_asap(slot);
        }
        return;
    }
    if diskless {
        ex.repl.diskless_wait_since_ms = None;
    }
    ex.prop.repl.restart_stream();
    let replid = ex.repl.replid.clone();
    let mut started = Vec::new();
    for r in &mut ex.repl.replicas {
        if in_group(r) {
            r.state = ReplicaState::WaitBgsaveEnd;
            // The stream after the snapshot's point waits in the shared buffer.
            r.stream_pos = Some(offset + 1);
            started.push((r.slot, r.pre_psync));
        }
    }
    // Diskless replicas wanting other parts of the dataset wait for the next snapshot.
    if diskless && waiting(ex, true) > 0 {
        ex.repl.diskless_wait_since_ms = Some(now_ms);
    }
    let mark = crate::persist::sync::eof_mark(ex);
    for (slot, pre_psync) in started {
        if let Some(c) = ex.client_mut(slot) {
            if !pre_psync {
                c.out
                    .raw(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes());
            }
            if diskless {
                c.out.raw(b"$EOF:");
                c.out.raw(&mark);
                c.out.raw(b"\r\n");
            }
        }
        ex.pending_write.push(slot);
    }
}

/// Replicas waiting for the end of a (disk or diskless) snapshot.
fn waiting_for_snapshot(ex: &Executor, diskless: bool) -> Vec<usize> {
    ex.repl
        .replicas
        .iter()
        .filter(|r| r.state == ReplicaState::WaitBgsaveEnd && r.diskless == diskless)
        .map(|r| r.slot)
        .collect()
}

/// The snapshot child failed or was killed: the replicas waiting for it are dropped (they
/// reconnect and ask again).
pub fn snapshot_failed(ex: &mut Executor, diskless: bool) {
    for slot in waiting_for_snapshot(ex, diskless) {
        tracing::warn!("SYNC failed. BGSAVE child returned an error");
        ex.close_client_asap(slot);
    }
}

/// The snapshot child ended (Redis's updateSlavesWaitingBgsave).
pub fn on_sync_child_done(ex: &mut Executor, ok: bool, diskless: bool) {
    if !ok {
        snapshot_failed(ex, diskless);
        start_pending_sync(ex);
        return;
    }
    for slot in waiting_for_snapshot(ex, diskless) {
        let name = replica_name(ex, slot);
        if diskless {
            tracing::info!("Streamed RDB transfer with replica {name} succeeded (socket). Waiting for REPLCONF ACK from slave to enable streaming");
            if let Some(r) = ex.repl.replica_mut(slot) {
                r.state = ReplicaState::Online;
                r.start_on_ack = true;
            }
        } else {
            match crate::persist::sync::open_snapshot(ex) {
                Ok((transfer, size)) => {
                    if let Some(c) = ex.client_mut(slot) {
                        c.out.raw(format!("${size}\r\n").as_bytes());
                    }
                    if let Some(r) = ex.repl.replica_mut(slot) {
                        r.state = ReplicaState::SendBulk;
                        r.transfer = Some(transfer);
                    }
                    ex.pending_write.push(slot);
                }
                Err(e) => {
                    tracing::warn!("SYNC failed. Can't open/stat DB after BGSAVE: {e}");
                    ex.close_client_asap(slot);
                }
            }
        }
    }
    start_pending_sync(ex);
}

/// Output a replica may have pending before more of its snapshot is queued.
const TRANSFER_WINDOW: usize = 1 << 20;

/// Moves snapshot bytes toward replicas (each loop turn): file chunks for SendBulk replicas,
/// the diskless child's pipe for the others. Returns true while a transfer is under way (the
/// loop then polls without sleeping long).
pub fn pump(ex: &mut Executor) -> bool {
    let mut active = false;
    let acked: Vec<usize> = ex
        .repl
        .replicas
        .iter()
        .filter(|r| r.state == ReplicaState::Online && r.start_on_ack && r.acked)
        .map(|r| r.slot)
        .collect();
    for slot in acked {
        put_online(ex, slot);
    }
    // Disk transfers.
    for i in 0..ex.repl.replicas.len() {
        let slot = ex.repl.replicas[i].slot;
        if ex.repl.replicas[i].state != ReplicaState::SendBulk {
            continue;
        }
        active = true;
        let pending = ex.client(slot).map_or(usize::MAX, |c| c.pending_output());
        if pending >= TRANSFER_WINDOW {
            continue;
        }
        let Some(transfer) = ex.repl.replicas[i].transfer.as_mut() else {
            continue;
        };
        let mut chunk = Vec::new();
        match transfer.read_chunk(&mut chunk, TRANSFER_WINDOW) {
            Ok(done) => {
                if let Some(c) = ex.client_mut(slot) {
                    c.out.raw(&chunk);
                }
                ex.pending_write.push(slot);
                if done {
                    put_online(ex, slot);
                }
            }
            Err(e) => {
                tracing::warn!("Read error sending DB to replica: {e}");
                ex.close_client_asap(slot);
            }
        }
    }
    if crate::persist::sync::has_pipe(ex) {
        active = true;
        if crate::persist::sync::pipe_ended(ex) {
            // Its child is exiting: how it ends decides whether the EOF mark goes out.
            crate::persist::reap_child(ex);
        } else {
            pump_pipe(ex, false);
        }
    }
    active
}

/// Moves what the diskless child wrote into its replicas' buffers. Reads only when every
/// receiver has room (the slowest sets the pace, as in Redis's rdbPipeReadHandler), unless
/// `drain`: the child ended well and what it left in the pipe must all go out, then the EOF
/// mark. The pipe's end alone proves nothing (a killed child ends it too): the mark waits
/// for the child's exit status.
pub fn pump_pipe(ex: &mut Executor, drain: bool) {
    let receivers: Vec<usize> = ex
        .repl
        .replicas
        .iter()
        .filter(|r| r.state == ReplicaState::WaitBgsaveEnd && r.diskless && !r.payload_sent)
        .map(|r| r.slot)
        .collect();
    while crate::persist::sync::has_pipe(ex) {
        let room = receivers.iter().all(|&s| {
            ex.client(s)
                .is_none_or(|c| c.pending_output() < TRANSFER_WINDOW)
        });
        if !room && !drain {
            return;
        }
        let mut chunk = Vec::new();
        let ended = crate::persist::sync::read_pipe(ex, &mut chunk, TRANSFER_WINDOW);
        // The child is gone: an empty read is the end even if the pipe says "again".
        let eof = drain && (ended || chunk.is_empty());
        for &slot in &receivers {
            if let Some(c) = ex.client_mut(slot) {
                c.out.raw(&chunk);
            }
            ex.pending_write.push(slot);
        }
        if eof {
            tracing::info!(
                "Diskless rdb transfer, done reading from pipe, {} replicas still up.",
                receivers.len()
            );
            let mark = crate::persist::sync::eof_mark(ex);
            for &slot in &receivers {
                if let Some(c) = ex.client_mut(slot) {
                    c.out.raw(&mark);
                }
                if let Some(r) = ex.repl.replica_mut(slot) {
                    r.payload_sent = true;
                }
            }
            crate::persist::sync::close_pipe(ex);
            return;
        }
        if !drain {
            if ended {
                crate::persist::sync::mark_pipe_ended(ex);
            }
            return;
        }
    }
}

/// The snapshot reached the replica: the stream written meanwhile follows
/// (Redis's replicaPutOnline + replicaStartCommandStream).
fn put_online(ex: &mut Executor, slot: usize) {
    let now_ms = ex.clock.now_ms();
    let name = replica_name(ex, slot);
    let Some(r) = ex.repl.replica_mut(slot) else {
        return;
    };
    r.state = ReplicaState::Online;
    r.transfer = None;
    r.start_on_ack = false;
    r.ack_ms = now_ms;
    ex.pending_write.push(slot);
    tracing::info!("Synchronization with replica {name} succeeded");
}

/// REPLCONF ACK from a replica.
pub fn on_ack(ex: &mut Executor, slot: usize, offset: u64) {
    let now_ms = ex.clock.now_ms();
    let Some(r) = ex.repl.replica_mut(slot) else {
        return;
    };
    if offset > r.ack_offset {
        r.ack_offset = offset;
    }
    r.ack_ms = now_ms;
    r.acked = true;
}

/// A replica's connection closed.
pub fn on_replica_gone(ex: &mut Executor, slot: usize) {
    let before = ex.repl.replicas.len();
    let waits = |r: &Replica| {
        matches!(
            r.state,
            ReplicaState::WaitBgsaveStart | ReplicaState::WaitBgsaveEnd
        )
    };
    let waited_for_snapshot = ex.repl.replicas.iter().any(|r| r.slot == slot && waits(r));
    ex.repl.replicas.retain(|r| r.slot != slot);
    trim_backlog(ex);
    // A snapshot made only for replicas that all left is not worth finishing (with save
    // points it is also the dataset's safety copy, and stays; Redis's freeClient check).
    let disk_sync_child = ex
        .persist
        .child
        .as_ref()
        .is_some_and(|c| c.kind == crate::persist::ChildKind::SyncDisk);
    if waited_for_snapshot
        && disk_sync_child
        && ex.settings.save_points.is_empty()
        && !ex.repl.replicas.iter().any(waits)
    {
        crate::persist::kill_child(ex);
    }
    if before != ex.repl.replicas.len() {
        if ex.repl.replicas.is_empty() {
            ex.repl.no_replicas_since_ms = ex.clock.now_ms();
        }
        if ex
            .repl
            .replicas
            .iter()
            .all(|r| r.state != ReplicaState::WaitBgsaveEnd || !r.diskless)
        {
            // Nobody reads the diskless snapshot any more.
            crate::persist::sync::abandon_pipe(ex);
        }
    }
}

/// Replicas whose acknowledgement is recent enough for min-replicas-max-lag.
pub fn good_replicas(ex: &Executor, now_ms: i64) -> usize {
    let max_lag = i64::from(ex.settings.min_replicas_max_lag) * 1000;
    ex.repl
        .replicas
        .iter()
        .filter(|r| r.state == ReplicaState::Online && now_ms - r.ack_ms <= max_lag)
        .count()
}

/// Replicas that acknowledged `offset` (WAIT).
pub fn replicas_acked(ex: &Executor, offset: u64) -> usize {
    ex.repl
        .replicas
        .iter()
        .filter(|r| r.state == ReplicaState::Online && r.ack_offset >= offset)
        .count()
}

/// Asks every online replica for an acknowledgement (WAIT's REPLCONF GETACK *).
pub fn request_acks(ex: &mut Executor) {
    if ex.repl.replicas.is_empty() {
        return;
    }
    let getack: &[&[u8]] = &[b"REPLCONF", b"GETACK", b"*"];
    let mut cmd = Vec::new();
    crate::exec::propagate::encode_command(&mut cmd, getack.iter().copied());
    feed(ex);
    feed_bytes(ex, &cmd);
}

/// Every second or so (Redis's replicationCron, master half): PING on the stream, newlines to
/// replicas waiting for a diskless snapshot, timeouts, the backlog's TTL, delayed snapshots.
pub fn cron(ex: &mut Executor) {
    let now_ms = ex.clock.now_ms();
    let timeout_ms = ex.cfg.get_int("repl-timeout") * 1000;
    let ping_ms = ex.cfg.get_int("repl-ping-replica-period") * 1000;
    if !ex.repl.is_replica()
        && !ex.repl.replicas.is_empty()
        && now_ms - ex.repl.last_ping_ms >= ping_ms
    {
        ex.repl.last_ping_ms = now_ms;
        feed(ex);
        feed_bytes(ex, b"*1\r\n$4\r\nPING\r\n");
    }
    let mut close = Vec::new();
    let mut stalled = Vec::new();
    for r in &mut ex.repl.replicas {
        if r.state == ReplicaState::WaitBgsaveEnd && r.diskless && !r.payload_sent {
            let pending = ex
                .clients
                .get(r.slot)
                .and_then(|c| c.as_deref())
                .map_or(0, |c| c.pending_output());
            r.unsent = match r.unsent {
                _ if pending == 0 => (0, None),
                (before, Some(since)) if before == pending => (pending, Some(since)),
                _ => (pending, Some(now_ms)),
            };
            if r.unsent.1.is_some_and(|since| now_ms - since > timeout_ms) {
                stalled.push(r.slot);
            }
        }
    }
    for slot in stalled {
        tracing::warn!(
            "Disconnecting timedout replica (full sync): {}",
            replica_name(ex, slot)
        );
        ex.close_client_asap(slot);
    }
    for r in &ex.repl.replicas {
        match r.state {
            // Newlines keep a replica that waits for a snapshot from timing out.
            ReplicaState::WaitBgsaveStart | ReplicaState::WaitBgsaveEnd if !r.payload_sent => {
                if let Some(c) = ex.clients.get_mut(r.slot).and_then(|c| c.as_deref_mut()) {
                    if r.state == ReplicaState::WaitBgsaveStart || !r.diskless {
                        c.out.raw(b"\n");
                        ex.pending_write.push(r.slot);
                    }
                }
            }
            ReplicaState::Online if now_ms - r.ack_ms > timeout_ms && !r.start_on_ack => {
                close.push(r.slot);
            }
            _ => {}
        }
    }
    for slot in close {
        tracing::warn!(
            "Disconnecting timedout replica (streaming sync): {}",
            replica_name(ex, slot)
        );
        ex.close_client_asap(slot);
    }
    let ttl_ms = ex.cfg.get_int("repl-backlog-ttl") * 1000;
    if ex.repl.replicas.is_empty()
        && !ex.repl.is_replica()
        && ttl_ms > 0
        && ex.repl.backlog.is_some()
        && now_ms - ex.repl.no_replicas_since_ms > ttl_ms
    {
        // The history no replica can use is dropped; a new one starts with the next replica.
        ex.repl.replid = random_replid();
        ex.repl.clear_replid2();
        ex.repl.backlog = None;
        ex.prop.repl.on = false;
        tracing::info!(
            "Replication backlog freed after {} seconds without connected replicas.",
            ttl_ms / 1000
        );
    }
    start_pending_sync(ex);
}

/// Lines of INFO's replication section (Redis's genRedisInfoString "replication").
pub fn info(ex: &Executor, s: &mut String) {
    let now_ms = ex.clock.now_ms();
    let r = &ex.repl;
    match &r.master {
        None => s.push_str("role:master\r\n"),
        Some(m) => {
            let up = m.state == LinkState::Connected;
            let _ = write!(
                s,
                "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\n\
                 master_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\n\
                 slave_read_repl_offset:{}\r\nslave_repl_offset:{}\r\n",
                m.host,
                m.port,
                if up { "up" } else { "down" },
                if up {
                    (now_ms - m.last_io_ms) / 1000
                } else {
                    -1
                },
                u8::from(m.state == LinkState::Transfer),
                m.read_offset,
                applied_offset(ex),
            );
            if m.state == LinkState::Transfer {
                let total = m.sync_total.map_or(-1, |t| t as i64);
                let left = if total >= 0 {
                    total - m.sync_read as i64
                } else {
                    -1
                };
                let perc = if total > 0 {
                    m.sync_read as f64 * 100.0 / total as f64
                } else {
                    0.0
                };
                let _ = write!(
                    s,
                    "master_sync_total_bytes:{total}\r\nmaster_sync_read_bytes:{}\r\n\
                     master_sync_left_bytes:{left}\r\nmaster_sync_perc:{perc:.2}\r\n\
                     master_sync_last_io_seconds_ago:{}\r\n",
                    m.sync_read,
                    (now_ms - m.sync_last_io_ms) / 1000
                );
            }
            if !up {
                let since = m.down_since_ms.map_or(-1, |d| (now_ms - d) / 1000);
                let _ = write!(s, "master_link_down_since_seconds:{since}\r\n");
            }
            let _ = write!(
                s,
                "slave_priority:{}\r\nslave_read_only:{}\r\nreplica_announced:{}\r\n",
                ex.cfg.get_int("replica-priority"),
                u8::from(ex.cfg.get_bool("replica-read-only")),
                u8::from(ex.cfg.get_bool("replica-announced")),
            );
        }
    }
    let _ = write!(s, "connected_slaves:{}\r\n", r.replicas.len());
    for (i, rep) in r.replicas.iter().enumerate() {
        if ex.client(rep.slot).is_none() {
            continue;
        }
        let ip = replica_ip(ex, rep);
        let _ = write!(
            s,
            "slave{i}:ip={ip},port={},state={},offset={},lag={}\r\n",
            rep.listening_port,
            rep.state.name(),
            rep.ack_offset,
            (now_ms - rep.ack_ms) / 1000
        );
    }
    let (active, size, first, histlen) = match &r.backlog {
        Some(b) => (1, b.size(), b.first_offset(), b.histlen()),
        None => (0, ex.cfg.get_int("repl-backlog-size").max(0) as usize, 0, 0),
    };
    let _ = write!(
        s,
        "master_failover_state:{}\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\n\
         master_repl_offset:{}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:{active}\r\n\
         repl_backlog_size:{size}\r\nrepl_backlog_first_byte_offset:{first}\r\n\
         repl_backlog_histlen:{histlen}\r\n",
        failover_state(ex),
        r.replid,
        r.replid2,
        r.offset,
        r.second_replid_offset,
    );
}

/// Offset of the master's stream applied here (slave_repl_offset): while the link is down,
/// the cached master's.
pub fn applied_offset(ex: &Executor) -> u64 {
    match ex.repl.master.as_ref().map(|m| m.state) {
        Some(LinkState::Connected) => ex.repl.offset,
        _ => ex.repl.cached_master.as_ref().map_or(1, |c| c.offset),
    }
}

/// ROLE's reply.
pub fn role(ex: &Executor, out: &mut crate::resp::reply::ReplyBuf) {
    match &ex.repl.master {
        None => {
            out.array(3);
            out.bulk(b"master");
            out.int(ex.repl.offset as i64);
            let online: Vec<&Replica> = ex
                .repl
                .replicas
                .iter()
                .filter(|r| r.state == ReplicaState::Online)
                .collect();
            out.array(online.len());
            for r in online {
                let ip = replica_ip(ex, r);
                out.array(3);
                out.bulk(ip.as_bytes());
                out.bulk_i64(i64::from(r.listening_port));
                out.bulk_i64(r.ack_offset as i64);
            }
        }
        Some(m) => {
            out.array(5);
            out.bulk(b"slave");
            out.bulk(m.host.as_bytes());
            out.int(i64::from(m.port));
            out.bulk(m.state.role_name().as_bytes());
            let offset = if m.state == LinkState::Connected {
                ex.repl.offset as i64
            } else {
                -1
            };
            out.int(offset);
        }
    }
}

/// REPLICAOF host port: follow a (new) master (Redis's replicationSetMaster).
pub fn set_master(ex: &mut Executor, host: String, port: u16) {
    let was_master = ex.repl.master.is_none();
    drop_master_link(ex);
    // Leaving a master we were connected to starts the time without one (Redis's
    // repl_down_since), which a cluster replica's election eligibility reads.
    let down_since_ms = ex.repl.master.as_ref().and_then(|m| m.down_since_ms);
    if was_master {
        // Our own history is what we can continue from with the new master.
        feed(ex);
        ex.repl.cached_master = Some(CachedMaster {
            replid: ex.repl.replid.clone(),
            offset: ex.repl.offset,
            db: ex.prop.repl_stream_db().unwrap_or(0),
        });
    }
    ex.prop.repl.on = false;
    ex.disconnect_blocked_clients();
    record_master_in_config(ex, Some((&host, port)));
    crate::log::set_replica(true);
    let now_ms = ex.clock.now_ms();
    ex.repl.master = Some(MasterLink {
        host,
        port,
        state: LinkState::Connect,
        slot: None,
        last_io_ms: now_ms,
        down_since_ms,
        retry_at_ms: 0,
        read_offset: 0,
        sync_total: None,
        sync_read: 0,
        sync_last_io_ms: now_ms,
        last_ack_ms: 0,
        pending_applied: Vec::new(),
    });
    ex.apply_oom_score();
}

/// `replicaof` follows the runtime master, as Redis's does: CONFIG GET shows it and CONFIG
/// REWRITE saves it, so a restarted replica reconnects (and continues from its dump).
fn record_master_in_config(ex: &mut Executor, master: Option<(&str, u16)>) {
    let idx = crate::config::lookup("replicaof").expect("replicaof is a directive");
    let args = match master {
        Some((host, port)) => vec![host.as_bytes().to_vec(), port.to_string().into_bytes()],
        None => vec![b"no".to_vec(), b"one".to_vec()],
    };
    let _ = ex.cfg.set(idx, &args);
}

/// REPLICAOF NO ONE: this server becomes a master, continuing its history under a new id
/// (Redis's replicationUnsetMaster).
pub fn unset_master(ex: &mut Executor) {
    if ex.repl.master.is_none() {
        return;
    }
    // A master expires every key itself.
    ex.repl.writable_expires.clear();
    drop_master_link(ex);
    ex.repl.master = None;
    ex.apply_oom_score();
    record_master_in_config(ex, None);
    crate::log::set_replica(false);
    ex.repl.cached_master = None;
    ex.repl.shift_replid();
    // Replicas must learn the new id: they reconnect and continue with PSYNC.
    let slots: Vec<usize> = ex.repl.replicas.iter().map(|r| r.slot).collect();
    for slot in slots {
        ex.close_client_asap(slot);
    }
    ex.repl.no_replicas_since_ms = ex.clock.now_ms();
    ex.prop.repl.restart_stream();
    if ex.repl.backlog.is_some() {
        ex.prop.repl.on = true;
    }
}

/// Closes the connection to the master (handshake or master client), caching what we have
/// of its stream for a PSYNC.
pub fn drop_master_link(ex: &mut Executor) {
    let Some(m) = ex.repl.master.as_mut() else {
        return;
    };
    let state = m.state;
    let slot = m.slot.take();
    m.state = LinkState::Connect;
    // A transaction cut in the middle was not applied: the master sends it again.
    m.pending_applied.clear();
    if state == LinkState::Connected {
        m.down_since_ms = Some(ex.clock.now_ms());
        let db = slot.and_then(|s| ex.client(s)).map_or(0, |c| c.db);
        ex.repl.cached_master = Some(CachedMaster {
            replid: ex.repl.replid.clone(),
            offset: ex.repl.offset,
            db,
        });
    }
    if let Some(slot) = slot {
        ex.link_to_close.push(slot);
        if ex.client(slot).is_some() {
            ex.close_client_asap(slot);
        }
    }
}

/// The master client's connection went away (closed by either side).
pub fn on_master_gone(ex: &mut Executor, slot: usize, db: usize) {
    let Some(m) = ex.repl.master.as_ref() else {
        return;
    };
    if m.slot != Some(slot) {
        return;
    }
    tracing::info!("Connection with master lost.");
    tracing::info!("* Caching the disconnected master state.");
    drop_master_link(ex);
    // The client has left the table already: its db comes from the caller.
    if let Some(cached) = ex.repl.cached_master.as_mut() {
        cached.db = db;
    }
    ex.link_to_close.retain(|s| *s != slot);
}

/// Replica half of the cron: the master timeout and our ACK every second.
pub fn replica_cron(ex: &mut Executor) {
    let now_ms = ex.clock.now_ms();
    let timeout_ms = ex.cfg.get_int("repl-timeout") * 1000;
    let Some(m) = ex.repl.master.as_mut() else {
        return;
    };
    let slot = m.slot;
    match m.state {
        LinkState::Connected => {
            if now_ms - m.last_io_ms > timeout_ms {
                tracing::warn!("MASTER timeout: no data nor PING received...");
                drop_master_link(ex);
                return;
            }
            if now_ms - m.last_ack_ms >= 1000 {
                m.last_ack_ms = now_ms;
                send_ack(ex);
            }
        }
        LinkState::Connecting | LinkState::Handshake | LinkState::Transfer => {
            if now_ms - m.last_io_ms > timeout_ms {
                tracing::warn!("Timeout connecting to the MASTER...");
                m.state = LinkState::Connect;
                m.slot = None;
                if let Some(slot) = slot {
                    ex.link_to_close.push(slot);
                }
            }
        }
        LinkState::Connect => {}
    }
}

/// REPLCONF ACK <offset> to our master.
pub fn send_ack(ex: &mut Executor) {
    let Some(slot) = ex.repl.master.as_ref().and_then(|m| m.slot) else {
        return;
    };
    let offset = ex.repl.offset.to_string();
    let mut cmd = Vec::new();
    let args: [&[u8]; 3] = [b"REPLCONF", b"ACK", offset.as_bytes()];
    crate::exec::propagate::encode_command(&mut cmd, args.into_iter());
    if let Some(c) = ex.client_mut(slot) {
        c.out.raw(&cmd);
        ex.pending_write.push(slot);
    }
}

/// Our replicas' history is no longer ours (a full sync, or the master's new id): they
/// reconnect and ask again.
fn disconnect_replicas(ex: &mut Executor) {
    let slots: Vec<usize> = ex.repl.replicas.iter().map(|r| r.slot).collect();
    for slot in slots {
        ex.close_client_asap(slot);
    }
    // They read no more of the buffer (which a new history may replace before they go).
    for r in &mut ex.repl.replicas {
        r.stream_pos = None;
    }
}

/// After a write by a client of this writable replica: the keys it left with a TTL are
/// remembered, to be expired here (Redis's rememberSlaveKeyWithExpire).
pub fn remember_writable_expires(
    ex: &mut Executor,
    db: usize,
    meta: &crate::cmd::meta::CommandMeta,
    argv: &[&[u8]],
) {
    if db >= 64 {
        return;
    }
    let Some(keys) = crate::cmd::keys::command_keys(meta, argv) else {
        return;
    };
    for k in keys {
        let key = argv[k.pos];
        if ex.dbs[db].peek(key).is_some_and(|e| e.has_expire()) {
            *ex.repl.writable_expires.entry(key.to_vec()).or_insert(0) |= 1 << db;
        }
    }
}

/// The cron's pass over `writable_expires` (Redis's expireSlaveKeys): expired keys are
/// deleted (and the deletion goes to our AOF and replicas); keys gone or without a TTL are
/// forgotten.
pub fn expire_writable_keys(ex: &mut Executor, now_ms: i64) {
    if ex.repl.writable_expires.is_empty() {
        return;
    }
    let tracked = std::mem::take(&mut ex.repl.writable_expires);
    for (key, dbs) in tracked {
        let mut left = 0u64;
        let ndbs = ex.dbs.len().min(64);
        for db in (0..ndbs).filter(|d| dbs & (1 << d) != 0) {
            match ex.dbs[db].peek(&key) {
                Some(_) if ex.dbs[db].is_expired(&key, now_ms) => ex.delete_expired(db, &key),
                Some(e) if e.has_expire() => left |= 1 << db,
                _ => {}
            }
        }
        if left != 0 {
            ex.repl.writable_expires.insert(key, left);
        }
    }
}

/// Whether the master's next snapshot is loaded from memory rather than the dump file
/// (repl-diskless-load swapdb, or on-empty-db when there is nothing to lose; Redis's
/// useDisklessLoad).
pub fn use_diskless_load(ex: &Executor) -> bool {
    match ex.cfg.get_enum("repl-diskless-load") {
        "swapdb" => true,
        "on-empty-db" => ex.dbs.iter().all(|db| db.is_empty()),
        _ => false,
    }
}

/// Empties the dataset, freeing it in the background under replica-lazy-flush.
fn flush_for_sync(ex: &mut Executor, dbs: &mut [crate::keyspace::db::Db]) {
    let lazy = ex.cfg.get_bool("replica-lazy-flush");
    for db in dbs {
        if lazy {
            let old = db.take_contents();
            ex.lazyfree.free_later(old.0.len() as u64, old);
        }
        *db = crate::keyspace::db::Db::new();
    }
}

/// The master's snapshot replaces the dataset, and its history (`replid` up to `offset`)
/// becomes ours (Redis's readSyncBulkPayload). From the dump file the old data goes first;
/// from the socket under repl-diskless-load swapdb it stays in place until the snapshot has
/// loaded, and stays for good if the snapshot turns out corrupt or the link drops. When the
/// master's history is the one we follow, the old data is even served meanwhile (Redis's
/// async loading). Returns what the link brought past the snapshot's end.
pub fn load_synced_snapshot(
    ex: &mut Executor,
    replid: String,
    offset: i64,
    received: crate::persist::sync::Received<'_>,
) -> Result<Vec<u8>, String> {
    use crate::persist::sync::Received;
    disconnect_replicas(ex);
    crate::persist::kill_child(ex);
    ex.repl.writable_expires.clear();
    let aof_was_on = crate::persist::aof::stop_for_sync(ex);
    let swap = matches!(received, Received::Stream { .. })
        && ex.cfg.get_enum("repl-diskless-load") == "swapdb";
    if !swap {
        tracing::info!("MASTER <-> REPLICA sync: Flushing old data");
        let mut dbs = std::mem::take(&mut ex.dbs);
        flush_for_sync(ex, &mut dbs);
        ex.dbs = dbs;
        ex.functions = None;
    }
    ex.persist.async_loading = swap && replid == ex.repl.replid;
    tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory");
    let loaded = match received {
        Received::DumpFile => crate::persist::load_rdb_file(ex).map(|_| Vec::new()),
        Received::Stream { source, total, end } => {
            crate::persist::load_rdb_stream(ex, source, total, end, "the master's snapshot").map(
                |(rest, mut replaced)| {
                    if swap {
                        tracing::info!(
                            "MASTER <-> REPLICA sync: Swapping active DB with loaded DB"
                        );
                    }
                    flush_for_sync(ex, &mut replaced);
                    rest
                },
            )
        }
    };
    ex.persist.async_loading = false;
    if swap && loaded.is_err() {
        tracing::info!("MASTER <-> REPLICA sync: Discarding the half-loaded data");
    }
    if !swap || loaded.is_ok() {
        ex.invalidate_tracking_on_flush();
        for db in 0..ex.dbs.len() {
            ex.touch_watched_in_db(db, None);
        }
    }
    if aof_was_on {
        crate::persist::aof::restart_after_sync(ex);
    }
    let rest = loaded?;
    ex.repl.replid = replid;
    ex.repl.clear_replid2();
    ex.repl.offset = offset.max(0) as u64;
    ex.repl.cached_master = None;
    ex.repl.backlog = None;
    ensure_backlog(ex);
    ex.prop.repl.on = false;
    if let Some(m) = ex.repl.master.as_mut() {
        m.read_offset = ex.repl.offset;
    }
    tracing::info!("MASTER <-> REPLICA sync: Finished with success");
    Ok(rest)
}

/// +CONTINUE: the stream goes on from our offset; under the master's new id if it changed
/// (Redis's replicationResurrectCachedMaster and the PSYNC2 id switch).
pub fn on_continue(ex: &mut Executor, new_replid: Option<String>) -> usize {
    tracing::info!("Successful partial resynchronization with master.");
    let cached = ex.repl.cached_master.take();
    let db = cached.as_ref().map_or(0, |c| c.db);
    if let (Some(id), Some(c)) = (new_replid, cached.as_ref()) {
        if id != c.replid {
            ex.repl.replid2 = c.replid.clone();
            ex.repl.second_replid_offset = ex.repl.offset as i64 + 1;
            ex.repl.replid = id;
            tracing::info!("Master replication ID changed to {}", ex.repl.replid);
            disconnect_replicas(ex);
        }
    }
    ensure_backlog(ex);
    ex.prop.repl.on = false;
    if let Some(m) = ex.repl.master.as_mut() {
        m.read_offset = ex.repl.offset;
    }
    tracing::info!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
    db
}

/// At startup, after loading: the history the dump file recorded can be continued (a replica
/// asks its master for it; a master serves it to replicas that had it), and `replicaof` from
/// the configuration takes effect.
pub fn start(ex: &mut Executor) {
    let replicaof = match ex.cfg.get("replicaof") {
        crate::config::Setting::ReplicaOf(Some((host, port))) => Some((host.clone(), *port)),
        _ => None,
    };
    let loaded = ex.persist.loaded_repl.take();
    match replicaof {
        Some((host, port)) => {
            set_master(ex, host, port);
            if let Some((replid, offset, db)) = loaded {
                // The history the dump recorded is ours (Redis sets server.replid and
                // master_repl_offset from it): the stream continued on it counts from there.
                ex.repl.replid = replid.clone();
                ex.repl.offset = offset;
                ex.repl.cached_master = Some(CachedMaster { replid, offset, db });
            } else {
                ex.repl.cached_master = None;
            }
        }
        None => {
            if let Some((replid, offset, _)) = loaded {
                ex.repl.replid2 = replid;
                ex.repl.second_replid_offset = offset as i64 + 1;
                ex.repl.offset = offset;
                ensure_backlog(ex);
            }
            let expired = ex.persist.expired_at_start.take().unwrap_or_default();
            if !expired.is_empty() {
                ensure_backlog(ex);
                let lazy = ex.settings.lazyfree_lazy_expire;
                for (db, key) in expired {
                    ex.propagate_deletion(db, &key, lazy);
                }
                feed(ex);
            }
        }
    }
    ex.persist.expired_at_start = None;
}

/// INFO's master_failover_state.
pub fn failover_state(ex: &Executor) -> &'static str {
    match &ex.repl.failover {
        None => "no-failover",
        Some(f) if f.in_progress => "failover-in-progress",
        Some(_) => "waiting-for-sync",
    }
}

/// The replica at `host:port` as it announced itself.
pub fn find_replica<'a>(ex: &'a Executor, host: &str, port: u16) -> Option<&'a Replica> {
    ex.repl
        .replicas
        .iter()
        .find(|r| r.listening_port == port && replica_ip(ex, r).eq_ignore_ascii_case(host))
}

/// FAILOVER accepted: writes pause until a replica has all of them.
pub fn start_failover(ex: &mut Executor, failover: Failover) {
    match &failover.target {
        Some((h, p)) => tracing::info!("FAILOVER requested to {h}:{p}."),
        None => tracing::info!("FAILOVER requested to any replica."),
    }
    ex.repl.failover = Some(failover);
    ex.repl.ack_requested = true;
}

/// Ends the failover state and lets paused writes go (Redis's clearFailoverState).
fn clear_failover(ex: &mut Executor) {
    ex.repl.failover = None;
    ex.resume_postponed();
}

/// Redis's abortFailover.
pub fn abort_failover(ex: &mut Executor, why: &str) {
    let Some(f) = &ex.repl.failover else {
        return;
    };
    let target = match (&ex.repl.master, &f.target) {
        (Some(m), _) if f.in_progress => format!("{}:{}", m.host, m.port),
        (_, Some((host, port))) => format!("{host}:{port}"),
        _ => "any replica".to_string(),
    };
    tracing::warn!("FAILOVER to {target} aborted: {why}");
    if f.in_progress {
        unset_master(ex);
    }
    clear_failover(ex);
}

/// Checks a waiting failover (Redis's updateFailoverStatus): the timeout, and whether the
/// target (or any replica) acknowledged everything.
pub fn update_failover(ex: &mut Executor) {
    let Some(f) = ex.repl.failover.clone() else {
        return;
    };
    if f.in_progress {
        return;
    }
    let now_ms = ex.clock.now_ms();
    if f.end_ms.is_some_and(|end| end <= now_ms) {
        match (&f.target, f.force) {
            (Some((host, port)), true) => {
                tracing::warn!("FAILOVER to {host}:{port} time out exceeded, failing over.");
                begin_handover(ex, host.clone(), *port);
            }
            _ => abort_failover(ex, "Replica never caught up before timeout"),
        }
        return;
    }
    feed(ex);
    let offset = ex.repl.offset;
    let caught_up = |r: &Replica| r.state == ReplicaState::Online && r.ack_offset == offset;
    let target = match &f.target {
        Some((host, port)) => find_replica(ex, host, *port).filter(|r| caught_up(r)),
        None => ex.repl.replicas.iter().find(|r| caught_up(r)),
    };
    let Some(r) = target else {
        return;
    };
    let host = replica_ip(ex, r);
    let port = r.listening_port;
    tracing::info!("Failover target {host}:{port} is synced, failing over.");
    begin_handover(ex, host, port);
}

/// The target has everything: we become its replica and ask it, with PSYNC ... FAILOVER, to
/// take over as master.
fn begin_handover(ex: &mut Executor, host: String, port: u16) {
    if let Some(f) = ex.repl.failover.as_mut() {
        f.in_progress = true;
    }
    set_master(ex, host, port);
}

/// The handshake of a failover ended: continuing (or resyncing) with the new master
/// completes it; anything else aborts it.
pub fn on_failover_handshake(ex: &mut Executor, accepted: bool) {
    if !ex.repl.failover.as_ref().is_some_and(|f| f.in_progress) {
        return;
    }
    if accepted {
        clear_failover(ex);
    } else {
        abort_failover(ex, "Failover target rejected psync request");
    }
}
