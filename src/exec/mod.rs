//! The executor: one thread, owner of every database and client state; runs each command in
//! arrival order (Redis's processCommand + call).
//!
//! The network layer hands it one client's argv at a time and afterwards writes out whatever
//! landed in reply buffers. Sans I/O: nothing here touches a socket or a file.

pub mod acl;
pub mod blocking;
pub mod client;
pub mod evict;
pub mod latency;
pub mod lazyfree;
pub mod multi;
pub mod pause;
pub mod propagate;
pub mod publish;
pub mod shutdown;
pub mod slowlog;
pub mod stats;
#[cfg(test)]
pub mod testing;
pub mod tracking;
pub mod watchdog;

use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::cmd::meta::{flag, CommandMeta};
use crate::cmd::table::{self, Command, CommandTable};
use crate::config::{self, limits, Config, Settings};
use crate::keyspace::bytes::CompactBytes;
use crate::keyspace::db::{past, Db, Entry, LRU_CLOCK_MAX};
use crate::resp::errors::{self as err, CmdError, CmdResult};
use crate::resp::reply::ReplyBuf;

use client::flags as cf;
pub use client::{Client, ReplyMode};
use stats::Stats;

/// What a handler sees: the executor, its own client, its arguments and the time.
pub struct Ctx<'a> {
    pub ex: &'a mut Executor,
    pub client: &'a mut Client,
    pub argv: &'a [&'a [u8]],
    pub cmd: &'static Command,
    /// Time of this command, read once (Redis caches it per command too).
    pub now_ms: i64,
    /// Set by `block`: the handler found nothing and wants to wait.
    pub block_request: Option<blocking::BlockRequest>,
    /// Inside MULTI or a script: blocking commands must not block.
    pub no_block: bool,
    /// The command runs again for a client woken on a key (see exec/blocking.rs).
    pub retry: bool,
    /// When a parked client's command runs again: the key that became ready. Blocking
    /// commands serve from this key only (Redis 7.0 serves a client from the key that was
    /// signalled, not from the first non-empty key of its command).
    pub ready_key: Option<&'a [u8]>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        ex: &'a mut Executor,
        client: &'a mut Client,
        argv: &'a [&'a [u8]],
        cmd: &'static Command,
        now_ms: i64,
    ) -> Self {
        Ctx {
            ex,
            client,
            argv,
            cmd,
            now_ms,
            block_request: None,
            no_block: false,
            retry: false,
            ready_key: None,
        }
    }

    #[inline]
    pub fn out(&mut self) -> &mut ReplyBuf {
        &mut self.client.out
    }

    /// Arguments after the command name (or after the subcommand for subcommands).
    pub fn args(&self) -> crate::cmd::args::Args<'a> {
        let start = if self.cmd.meta.name.contains('|') {
            2
        } else {
            1
        };
        crate::cmd::args::Args::new(self.argv, start)
    }

    #[inline]
    pub fn db(&mut self) -> &mut Db {
        &mut self.ex.dbs[self.client.db]
    }

    /// Redis's lookupKeyRead for the client's db.
    #[inline]
    pub fn read(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let touch = !self.client.has(cf::NO_TOUCH);
        self.ex.lookup_read(self.client.db, key, self.now_ms, touch)
    }

    /// Redis's lookupKeyWrite for the client's db.
    #[inline]
    pub fn write(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.ex.lookup_write(self.client.db, key, self.now_ms)
    }

    /// Records a change to `key`: dirty counter, WATCH/tracking invalidation and the
    /// keyspace event `event` of class `class`.
    pub fn modified(&mut self, key: &[u8], class: u32, event: &'static str) {
        let db = self.client.db;
        self.ex.dirty += 1;
        self.ex.signal_modified(db, key);
        self.notify(class, event, key);
    }

    /// Redis 8.2's events for a key whose value was replaced whole: "overwritten", and
    /// "type_changed" when the type `was` differs from the one it has now. None: it was added.
    pub fn overwritten(&mut self, key: &[u8], was: Option<&'static str>) {
        self.overwritten_in(self.client.db, key, was);
    }

    /// `overwritten` for a key of db `db` (COPY ... DB).
    pub fn overwritten_in(&mut self, db: usize, key: &[u8], was: Option<&'static str>) {
        use config::notify::{OVERWRITTEN, TYPE_CHANGED};
        // Off unless asked for ('o', 'c'): then no second lookup on an overwriting SET.
        let Some(was) =
            was.filter(|_| self.ex.settings.notify_flags & (OVERWRITTEN | TYPE_CHANGED) != 0)
        else {
            return;
        };
        let client = Some(&mut *self.client);
        self.ex
            .notify_to(OVERWRITTEN, "overwritten", key, db, client);
        let now = self.ex.dbs[db].peek(key).map(|e| e.value.type_name());
        if now.is_some_and(|t| t != was) {
            let client = Some(&mut *self.client);
            self.ex
                .notify_to(TYPE_CHANGED, "type_changed", key, db, client);
        }
    }

    /// The command is to be propagated (to the AOF) as `args` instead of its argv (Redis's
    /// rewriteClientCommandVector): relative TTLs become absolute, random choices explicit.
    pub fn propagate_as(&mut self, args: &[&[u8]]) {
        if self.ex.prop.enabled() {
            self.ex.prop.rewrite(args.iter().copied());
        }
    }

    /// Propagates `args` in the client's db as part of this command (Redis's alsoPropagate).
    pub fn also_propagate(&mut self, args: &[&[u8]]) {
        if self.ex.prop.enabled() {
            self.ex.prop.also(self.client.db, args.iter().copied());
        }
    }

    /// The command's own argv is not propagated (its effects went out as other commands).
    pub fn prevent_propagation(&mut self) {
        self.ex.prop.prevented = true;
    }

    /// Whether propagation is on: rewrites that cost work are skipped when it is off.
    #[inline]
    pub fn propagating(&self) -> bool {
        self.ex.prop.enabled()
    }

    /// LRU clock value to stamp a new or overwritten key with.
    pub fn new_lru(&self) -> u32 {
        self.ex.new_lru(self.now_ms)
    }
}

pub use shutdown::ShutdownRequest;

pub struct Executor {
    pub cfg: Config,
    pub settings: Settings,
    pub table: &'static CommandTable,
    pub dbs: Vec<Db>,
    /// Clients by slot. The running client is taken out while its command executes.
    pub clients: Vec<Option<Box<Client>>>,
    pub client_count: usize,
    next_client_id: u64,
    pub clock: Clock,
    pub stats: Stats,
    /// Changes since the last save (Redis's server.dirty).
    pub dirty: u64,
    pub lastsave_unix: i64,
    pub run_id: String,
    pub start_unix_ms: i64,
    /// Slots of clients (other than the running one) that got output to write.
    pub pending_write: Vec<usize>,
    /// Slots of clients to close after this turn.
    pub to_close: Vec<usize>,
    /// A shutdown signal arrived and was not cancelled (Redis's shutdown_asap).
    pub shutdown_asap: Option<shutdown::Signal>,
    /// A shutdown waiting for lagging replicas.
    pub shutdown_wait: Option<shutdown::ShutdownWait>,
    /// Shutdown prepared: the loop flushes and exits.
    pub exiting: bool,
    /// EXEC is running its queued commands (Redis's server.in_exec): background work they
    /// ask for (BGREWRITEAOF, turning the AOF on) is scheduled for after the transaction.
    pub in_exec: bool,
    /// The change counter when the running EXEC began.
    pub exec_dirty_start: u64,
    /// DEBUG SET-ACTIVE-EXPIRE.
    pub active_expire_enabled: bool,
    /// DEBUG PAUSE-CRON: the periodic tasks are stopped (tests use it to hold a state).
    pub cron_paused: bool,
    /// DEBUG SET-SKIP-CHECKSUM-VALIDATION: RESTORE payloads and RDB files load without
    /// their checksums checked.
    pub skip_checksum_validation: bool,
    /// DEBUG REPLYBUFFER: how often reply-buffer peaks restart (ms, -1 never), and whether
    /// the cron resizes reply buffers at all.
    pub reply_buffer_peak_reset_ms: i64,
    pub reply_buffer_resizing: bool,
    /// The last slow expiry cycle ran out of time or found many stale keys.
    expire_backlog: bool,
    /// Deadline of a DEBUG SLEEP or CLIENT PAUSE style stall is not modelled here.
    rng_state: u64,
    /// Port actually listened on (0 if none), for INFO.
    pub tcp_port: u16,
    pub executable: String,
    pub config_file: String,
    pub hz: u32,
    cron_loops: u64,
    pub blocking: blocking::BlockingState,
    pub pubsub: crate::pubsub::Registry,
    pub watches: multi::WatchIndex,
    pub pause: Option<pause::Pause>,
    /// Clients whose next command waits for the pause to end.
    pub postponed: Vec<usize>,
    /// Clients in MONITOR mode.
    pub monitors: Vec<usize>,
    /// The running client touched a key it watches (applied when its command ends).
    /// Watched-key touches for the running client, applied when it returns to the table.
    running_touches: Vec<(usize, Vec<u8>, multi::Touch)>,
    /// Slot of the client whose command is running (it is out of `clients` meanwhile).
    pub running_slot: Option<usize>,
    /// Id of the client whose command is running, 0 between commands.
    pub running_id: u64,
    /// Messages for the running client that arrived without access to it (resp2, resp3 pairs).
    self_pushes: Vec<Vec<u8>>,
    pub tracking: tracking::TrackingState,
    /// The EVAL interpreter (created on first use; taken out while a script runs).
    pub scripting: Option<Box<crate::script::Engine>>,
    /// FUNCTION libraries and their interpreter (created on first use).
    pub functions: Option<Box<crate::script::functions::Functions>>,
    /// A script runs past busy-reply-threshold (true: a function): others get BUSY.
    pub script_busy: Option<bool>,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may call commands flagged noscript.
    pub script_deny_disabled: bool,
    /// Set by the network layer: serves other clients while a script is busy.
    pub net_hooks: Option<NetHooks>,
    /// Set by the network layer while a command runs: its connection's stream, for the Lua
    /// debugger (null between commands).
    pub caller_stream: *mut (),
    /// Forked Lua debugging sessions still running (Redis's ldb.children).
    pub ldb_children: Vec<i32>,
    pub watchdog: watchdog::Watchdog,
    /// Background saving (the BGSAVE child) and its counters.
    pub persist: crate::persist::PersistState,
    /// The background thread that frees big values (UNLINK, FLUSH ASYNC).
    pub lazyfree: lazyfree::LazyFree,
    /// MIGRATE's cached links to target servers.
    pub migrate_links: crate::net::migrate::MigrateLinks,
    /// Replaying the AOF: keys do not expire meanwhile (the commands saw them alive).
    pub loading: bool,
    pub slowlog: slowlog::Slowlog,
    pub latency: latency::LatencyMonitor,
    /// maxmemory eviction: the candidate pool and the state of a time-limited round.
    pub eviction: evict::EvictionState,
    /// Memory was over maxmemory (and could not be freed) when the running command started
    /// (Redis's pre_command_oom_state: scripts check it at their first write).
    pub oom_at_command_start: bool,
    /// Writes as commands for the AOF.
    pub prop: propagate::Propagation,
    /// The append-only file.
    pub aof: crate::persist::aof::Aof,
    /// Users and their permissions, and the ACL log.
    pub acl: crate::acl::Acl,
    /// Replication: ids, offsets, backlog, replicas, the link to our master.
    pub repl: crate::repl::Repl,
    /// Master-link connections (no client yet, or a master client dropped) for `net` to close.
    pub link_to_close: Vec<usize>,
    /// The running command comes from our master (its keys do not expire under it).
    pub running_master: bool,
    /// When the replication cron last ran.
    pub repl_cron_ms: i64,
    /// Cluster mode (cluster-enabled): the node table, slots and the bus state.
    pub cluster: Option<Box<crate::cluster::Cluster>>,
}

/// State saved when a command starts, for propagating it when it ends.
pub(super) struct PropagationMark {
    saved: propagate::Saved,
    dirty: u64,
    emitted: u64,
}

/// Redis's REPLY_BUFFER_DEFAULT_PEAK_RESET_TIME (ms).
pub const REPLY_BUFFER_PEAK_RESET_MS: i64 = 5000;

/// Blocking I/O on a command's own connection (Redis's ldb.conn): the Lua debugger talks to
/// its client from inside the script. `net` provides the functions once (`NetHooks`) and
/// the running command's stream before each command (`Executor::caller_stream`).
#[derive(Clone, Copy)]
pub struct CallerFns {
    /// Reads what is there, waiting until something is; Ok(0) at the end of the stream.
    /// # Safety
    /// The stream must be the running command's.
    pub read: unsafe fn(*mut (), &mut [u8]) -> std::io::Result<usize>,
    /// Writes all of it, waiting at most a few seconds for the socket to take it.
    /// # Safety
    /// As `read`.
    pub write: unsafe fn(*mut (), &[u8]) -> std::io::Result<()>,
    /// Ends the session on it cleanly (TLS's close_notify) before this process lets go.
    /// # Safety
    /// As `read`.
    pub close: unsafe fn(*mut ()),
}

/// The running command's connection with the functions that do blocking I/O on it.
#[derive(Clone, Copy)]
pub struct CallerIo {
    /// The connection's stream, valid while the command runs (made only by `caller_io`).
    stream: *mut (),
    fns: CallerFns,
}

impl CallerIo {
    pub fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        // SAFETY: `stream` is the running command's (see `Executor::caller_io`).
        unsafe { (self.fns.read)(self.stream, buf) }
    }

    pub fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        // SAFETY: as in `read`.
        unsafe { (self.fns.write)(self.stream, bytes) }
    }

    pub fn close(&self) {
        // SAFETY: as in `read`.
        unsafe { (self.fns.close)(self.stream) }
    }
}

/// What the network layer lets the executor ask of it (Redis's processEventsWhileBlocked,
/// listener changes), installed by `net::Server::run`.
#[derive(Clone, Copy)]
pub struct NetHooks {
    pub server: *mut (),
    /// Blocking I/O on the running command's connection (none without sockets).
    pub caller: Option<CallerFns>,
    /// Serves other clients while a script is busy.
    /// # Safety
    /// `server` must be the live server that installed these hooks.
    pub serve: unsafe fn(*mut (), &mut Executor),
    /// Replaces the TCP listeners (CONFIG SET port / bind); the old ones stay on failure.
    /// # Safety
    /// As `serve`.
    pub rebind: unsafe fn(*mut (), &mut Executor, u16, &[String]) -> std::io::Result<()>,
    /// Rebuilds the TLS configuration and tls-port listeners (CONFIG SET tls-*).
    /// # Safety
    /// As `serve`.
    pub configure_tls: unsafe fn(*mut (), &mut Executor, &Settings) -> Result<(), String>,
}

impl Executor {
    pub fn new(cfg: Config) -> Self {
        let settings = cfg.settings();
        let table = table::init(&cfg.renames);
        let clock = Clock::new();
        let now = clock.now_ms();
        let dbs = (0..settings.databases).map(|_| Db::new()).collect();
        let run_id: String = (0..40)
            .map(|_| format!("{:x}", rand::random::<u8>() & 15))
            .collect();
        let config_file = cfg
            .file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let hz = settings.hz;
        let mut ex = Executor {
            repl: crate::repl::Repl::new(now),
            link_to_close: Vec::new(),
            running_master: false,
            repl_cron_ms: 0,
            cluster: None,
            cfg,
            settings,
            table,
            dbs,
            clients: Vec::new(),
            client_count: 0,
            next_client_id: 1,
            clock,
            stats: Stats::new(table.metas.len()),
            dirty: 0,
            lastsave_unix: now / 1000,
            run_id,
            start_unix_ms: now,
            pending_write: Vec::new(),
            to_close: Vec::new(),
            shutdown_asap: None,
            shutdown_wait: None,
            exiting: false,
            in_exec: false,
            exec_dirty_start: 0,
            active_expire_enabled: true,
            reply_buffer_peak_reset_ms: REPLY_BUFFER_PEAK_RESET_MS,
            reply_buffer_resizing: true,
            cron_paused: false,
            skip_checksum_validation: false,
            expire_backlog: false,
            rng_state: rand::random::<u64>() | 1,
            tcp_port: 0,
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            config_file,
            hz,
            cron_loops: 0,
            blocking: blocking::BlockingState::default(),
            pubsub: crate::pubsub::Registry::default(),
            watches: multi::WatchIndex::default(),
            pause: None,
            postponed: Vec::new(),
            monitors: Vec::new(),
            running_touches: Vec::new(),
            running_slot: None,
            caller_stream: std::ptr::null_mut(),
            ldb_children: Vec::new(),
            running_id: 0,
            self_pushes: Vec::new(),
            tracking: tracking::TrackingState::default(),
            scripting: None,
            functions: None,
            script_busy: None,
            script_deny_disabled: false,
            net_hooks: None,
            watchdog: Default::default(),
            persist: crate::persist::PersistState::default(),
            lazyfree: lazyfree::LazyFree::start(),
            migrate_links: Default::default(),
            loading: false,
            eviction: evict::EvictionState::default(),
            slowlog: slowlog::Slowlog::default(),
            latency: latency::LatencyMonitor::default(),
            oom_at_command_start: false,
            prop: propagate::Propagation::default(),
            aof: crate::persist::aof::Aof::default(),
            acl: crate::acl::Acl::new(),
        };
        ex.apply_config();
        ex.acl
            .set_default_password(ex.settings.requirepass.as_deref());
        ex
    }

    /// The process title from proc-title-template (Redis's redisSetProcTitle).
    fn show_proc_title(&self) {
        if !self.cfg.get_bool("set-proc-title") {
            return;
        }
        let s = &self.settings;
        let title = crate::proctitle::exec_name();
        let vars = crate::proctitle::Vars {
            title: &title,
            bind: s.bind.first().map(String::as_str),
            port: s.port,
            tls_port: s.tls_port,
            unixsocket: s.unixsocket.as_deref().unwrap_or(""),
            config_file: self.cfg.file.as_deref().and_then(|p| p.to_str()),
            cluster: self.cfg.get_bool("cluster-enabled"),
        };
        let template = self.cfg.get_str("proc-title-template");
        if let Some(t) = crate::proctitle::expand(template, &vars) {
            crate::proctitle::set(&t);
        }
    }

    /// Which oom-score-adj-values entry applies to this process now.
    pub fn oom_class(&self) -> crate::oom::Class {
        if self.repl.is_replica() {
            crate::oom::Class::Replica
        } else {
            crate::oom::Class::Master
        }
    }

    /// Sets the OOM score for our role (at startup and when the role changes); a refusal is
    /// logged and the server goes on, as Redis.
    pub fn apply_oom_score(&self) {
        let _ = crate::oom::apply(&self.cfg, self.oom_class());
    }

    /// Re-derives the typed settings after a CONFIG SET.
    pub fn apply_config(&mut self) {
        self.settings = self.cfg.settings();
        self.show_proc_title();
        self.hz = self.settings.hz;
        self.watchdog.beat(self.cfg.get_int("watchdog-period"));
        crate::crash::set_enabled(self.cfg.get_bool("crash-log-enabled"));
        self.acl.pubsub_all = self.settings.acl_pubsub_all;
        let f = self.settings.notify_flags;
        let track = f & config::notify::NEW != 0
            && f & (config::notify::KEYSPACE | config::notify::KEYEVENT) != 0;
        for db in &mut self.dbs {
            db.track_created = track;
            db.created.clear();
        }
        // CONFIG SET repl-backlog-size resizes the live backlog (Redis's resizeReplicationBacklog).
        let backlog_size = self.cfg.get_int("repl-backlog-size").max(16 * 1024) as usize;
        if let Some(b) = &mut self.repl.backlog {
            if b.size() != backlog_size {
                b.set_size(backlog_size);
                crate::repl::trim_backlog(self);
            }
        }
    }

    /// A fast generator for sampling (RANDOMKEY, eviction, seeds of per-command streams).
    pub fn random_u64(&mut self) -> u64 {
        crate::util::rng::splitmix_next(&mut self.rng_state)
    }

    // ---- clients ----

    /// Registers a new connection in `slot`; returns its client id.
    pub fn add_client(
        &mut self,
        slot: usize,
        addr: String,
        laddr: String,
        fd: i32,
        transport: client::Transport,
    ) -> u64 {
        let id = self.next_client_id;
        self.next_client_id += 1;
        let now = self.clock.now_ms();
        let mut c = Client::new(id, slot, now);
        c.addr = addr;
        c.laddr = laddr;
        c.fd = fd;
        c.authenticated = self.acl.default_authenticated();
        match transport {
            client::Transport::Tcp => {}
            client::Transport::Unix => c.flags |= cf::UNIX_SOCKET,
            client::Transport::Tls => c.flags |= cf::TLS,
        }
        if self.clients.len() <= slot {
            self.clients.resize_with(slot + 1, || None);
        }
        assert!(self.clients[slot].is_none(), "slot {slot} in use");
        self.clients[slot] = Some(Box::new(c));
        self.tracking.slots.insert(id, slot);
        self.client_count += 1;
        self.stats.total_connections_received += 1;
        id
    }

    /// Forgets a closed connection.
    pub fn remove_client(&mut self, slot: usize) {
        if let Some(mut c) = self.clients.get_mut(slot).and_then(Option::take) {
            self.client_count -= 1;
            self.unpark(&mut c);
            self.unsubscribe_all(&mut c);
            self.unwatch_all(&mut c);
            self.disable_tracking(&mut c);
            self.tracking.slots.remove(&c.id);
            self.monitors.retain(|s| *s != slot);
            self.postponed.retain(|s| *s != slot);
            if c.has(cf::REPLICA) {
                crate::repl::on_replica_gone(self, slot);
            }
            if c.has(cf::MASTER) {
                crate::repl::on_master_gone(self, slot, c.db);
            }
        }
    }

    pub fn client(&self, slot: usize) -> Option<&Client> {
        self.clients.get(slot).and_then(|c| c.as_deref())
    }

    pub fn client_mut(&mut self, slot: usize) -> Option<&mut Client> {
        self.clients.get_mut(slot).and_then(|c| c.as_deref_mut())
    }

    /// The running command's connection, for blocking I/O on it (the Lua debugger).
    pub fn caller_io(&self) -> Option<CallerIo> {
        let fns = self.net_hooks?.caller?;
        (!self.caller_stream.is_null()).then_some(CallerIo {
            stream: self.caller_stream,
            fns,
        })
    }

    /// Marks `client` (the running one, or any taken out of the table) to be closed at the
    /// end of this turn without further replies.
    pub fn close_asap(&mut self, client: &mut Client) {
        if !client.has(cf::CLOSE_ASAP) {
            client.flags |= cf::CLOSE_ASAP;
            self.to_close.push(client.slot);
        }
    }

    /// Marks a client to be closed at the end of this turn without further replies.
    pub fn close_client_asap(&mut self, slot: usize) {
        if let Some(c) = self.client_mut(slot) {
            if !c.has(cf::CLOSE_ASAP) {
                c.flags |= cf::CLOSE_ASAP;
                self.to_close.push(slot);
            }
        }
    }

    /// Closes, at the end of this turn, every client (the running one aside: it is out of
    /// the table) that `pred` selects; returns how many.
    pub fn close_clients_where(&mut self, pred: impl Fn(&Client) -> bool) -> usize {
        let slots: Vec<usize> = self
            .clients
            .iter()
            .flatten()
            .filter(|c| pred(c))
            .map(|c| c.slot)
            .collect();
        for &slot in &slots {
            self.close_client_asap(slot);
        }
        slots.len()
    }

    // ---- command execution ----

    /// A replica leaves eviction to its master (replica-ignore-maxmemory).
    pub fn ignores_maxmemory(&self) -> bool {
        self.repl.is_replica() && self.settings.replica_ignore_maxmemory
    }

    /// Runs one command for the client in `slot` (Redis's processCommand).
    /// Returns false if the command was postponed by CLIENT PAUSE (the caller keeps it
    /// unread and stops reading from this client).
    pub fn execute(&mut self, slot: usize, argv: &[&[u8]]) -> bool {
        // Clients first (after the last command grew their buffers), then keys; a busy
        // script's callers are only answered BUSY. Before the client leaves the table, so
        // that invalidations of evicted keys reach it ahead of its reply, as in Redis.
        if self.settings.maxmemory_clients != 0 {
            self.evict_clients();
        }
        if self.settings.maxmemory > 0 && self.script_busy.is_none() && !self.ignores_maxmemory() {
            self.oom_at_command_start = !self.perform_evictions();
        }
        // Redis's trackingLimitUsedSlots, before the command: while the client is still in the
        // table, its own invalidations reach it ahead of its reply.
        if self.tracking.clients > 0 {
            self.limit_tracking_table();
        }
        let Some(mut client) = self.clients.get_mut(slot).and_then(Option::take) else {
            return true;
        };
        if client.has(cf::CLOSE_ASAP) {
            // Evicted just now: its command does not run.
            self.clients[slot] = Some(client);
            return true;
        }
        self.running_slot = Some(slot);
        self.running_id = client.id;
        self.running_master = client.has(cf::MASTER);
        let reply_start = client.out.len();
        let was_replica = client.has(cf::REPLICA);
        let executed = self.process(&mut client, argv);
        if self.running_master {
            // Our master gets no replies (an ACK it asks for goes out below).
            client.out.buf.truncate(reply_start);
            self.running_master = false;
        }
        if was_replica && client.out.len() > reply_start {
            // A reply would corrupt the stream this connection carries: it goes, and so does
            // the replica (Redis's check in _addReplyToBufferOrList).
            client.out.buf.truncate(reply_start);
            let info = self.client_info(&client, self.clock.now_ms());
            let cmd = client.last_cmd_for_log();
            tracing::warn!(
                "Replica generated a reply to command '{cmd}', disconnecting it: {info}"
            );
            if !client.has(cf::CLOSE_ASAP) {
                client.flags |= cf::CLOSE_ASAP;
                self.to_close.push(slot);
            }
        }
        client.note_reply_peak();
        if self.settings.notify_flags & config::notify::NEW != 0 {
            for db in 0..self.dbs.len() {
                self.announce_new_keys(db, Some(&mut client));
            }
        }
        self.running_slot = None;
        self.running_id = 0;
        for (db, key, touch) in std::mem::take(&mut self.running_touches) {
            multi::apply_touch(&mut client, db, &key, touch);
        }
        if !self.self_pushes.is_empty() {
            self.flush_self_pushes(&mut client);
        }
        self.clients[slot] = Some(client);
        if !self.prop.repl.buf.is_empty() {
            crate::repl::feed(self);
        }
        if self.repl.ack_to_master {
            self.repl.ack_to_master = false;
            crate::repl::send_ack(self);
        }
        if self.repl.sync_due {
            crate::repl::start_pending_sync(self);
        }
        self.flush_tracking_pending();
        // Keys a busy script made ready are served after the script, not in the middle.
        if self.script_busy.is_none() {
            self.serve_ready_keys();
        }
        executed
    }

    /// Listens on `port` at the `bind` addresses instead (CONFIG SET). Without a network layer
    /// (tests, loading) there is nothing to rebind.
    pub fn rebind(&mut self, port: u16, bind: &[String]) -> std::io::Result<()> {
        let Some(hooks) = self.net_hooks else {
            return Ok(());
        };
        // SAFETY: the server installed the hooks in `run` and outlives the loop.
        unsafe { (hooks.rebind)(hooks.server, self, port, bind) }
    }

    /// Applies new TLS settings to the network layer (nothing to do without one).
    pub fn configure_tls(&mut self, settings: &Settings) -> Result<(), String> {
        let Some(hooks) = self.net_hooks else {
            return Ok(());
        };
        // SAFETY: the server installed the hooks in `run` and outlives the loop.
        unsafe { (hooks.configure_tls)(hooks.server, self, settings) }
    }

    /// Called from a script past busy-reply-threshold: lets the network layer serve the
    /// other clients, keeping the running client's state aside meanwhile.
    pub fn serve_while_busy(&mut self) {
        let Some(poller) = self.net_hooks else {
            return;
        };
        let saved = (
            self.running_slot,
            self.running_id,
            std::mem::take(&mut self.running_touches),
            std::mem::take(&mut self.self_pushes),
        );
        // SAFETY: the server installed the poller in `run` and outlives the loop; it does not
        // touch the running client's connection.
        unsafe { (poller.serve)(poller.server, self) };
        self.running_slot = saved.0;
        self.running_id = saved.1;
        self.running_touches = saved.2;
        let mut pushes = saved.3;
        pushes.append(&mut self.self_pushes);
        self.self_pushes = pushes;
    }

    /// Runs one command read from the AOF on the loader's client (Redis's
    /// loadSingleAppendOnlyFile loop). Err for a command this server does not know.
    pub fn replay(&mut self, client: &mut Client, argv: &[&[u8]]) -> Result<(), String> {
        if self.table.get(argv[0]).is_none() {
            return Err(format!(
                "Unknown command '{}' reading the append only file",
                String::from_utf8_lossy(argv[0])
            ));
        }
        self.process(client, argv);
        client.out.buf.clear();
        Ok(())
    }

    /// Replies to a protocol error and marks the client to close once the reply is out.
    pub fn protocol_error(&mut self, slot: usize, text: &[u8]) {
        if let Some(c) = self.client_mut(slot) {
            c.out.error(text);
            c.flags |= cf::CLOSE_AFTER_REPLY;
        }
        self.stats.count_error(b"ERR");
    }

    /// Returns false if the command must wait for a CLIENT PAUSE to end.
    fn process(&mut self, client: &mut Client, argv: &[&[u8]]) -> bool {
        let start = Instant::now();
        let now_ms = self.clock.ms_at(start);
        client.last_interaction_ms = now_ms;
        client.argv_len = argv.len();
        client.argv_mem = argv.iter().map(|a| a.len()).sum();
        let done = self.process_inner(client, argv, start, now_ms);
        // The arguments are gone once the command ran (Redis's freeClientArgv).
        if done {
            client.argv_mem = 0;
        }
        done
    }

    fn process_inner(
        &mut self,
        client: &mut Client,
        argv: &[&[u8]],
        start: Instant,
        now_ms: i64,
    ) -> bool {
        if argv.is_empty() {
            return true;
        }
        // CLIENT LIST's cmd= (and the ACL log's client line, written by the checks) names the
        // command as soon as it is known, run or refused.
        let resolved = match self.resolve(argv) {
            Ok(cmd) => {
                client.last_cmd = cmd.meta.name;
                Ok((cmd, self.check_allowed(client, cmd, argv, now_ms)))
            }
            Err((found, e)) => {
                if let Some(cmd) = found {
                    client.last_cmd = cmd.meta.name;
                }
                Err((found, e))
            }
        };
        if let Ok((cmd, Ok(()))) = &resolved {
            if self.must_postpone(client, cmd, argv, now_ms) {
                self.postpone(client);
                return false;
            }
        }
        // CLIENT CACHING applies to the next command (or transaction): any other command run
        // outside MULTI uses it up.
        let keeps_caching = matches!(&resolved, Ok((c, _)) if c.meta.name.starts_with("client|"));
        let reply_start = client.out.len();
        if client.reply_mode == ReplyMode::SkipNext {
            client.reply_mode = ReplyMode::Skip;
        }
        let silenced = matches!(client.reply_mode, ReplyMode::Off | ReplyMode::Skip);
        if silenced {
            client.out.silence();
        }
        match resolved {
            Ok((cmd, Ok(()))) => {
                if client.multi.is_some() && !runs_inside_multi(cmd) {
                    let flags = self.command_flags(cmd, argv);
                    if let Some(m) = client.multi.as_mut() {
                        m.flags |= flags;
                        m.missing_flags |= !flags;
                        m.queued_bytes += argv.iter().map(|a| a.len()).sum::<usize>();
                        m.queued
                            .push((cmd, argv.iter().map(|a| a.to_vec()).collect()));
                    }
                    client.out.simple(b"QUEUED");
                } else {
                    self.call(client, cmd, argv, start, now_ms, false);
                }
            }
            Ok((cmd, Err(e))) | Err((Some(cmd), e)) => self.reject(client, Some(cmd), &e),
            Err((None, e)) => self.reject(client, None, &e),
        }
        if silenced {
            // CLIENT REPLY ON is answered; otherwise only pushes get out.
            let answered = client.reply_mode == ReplyMode::On;
            client.out.end_silence((!answered).then_some(reply_start));
            if client.reply_mode == ReplyMode::Skip {
                client.reply_mode = ReplyMode::On;
            }
        }
        if !keeps_caching && client.multi.is_none() {
            client.flags &= !cf::TRACKING_CACHING;
        }
        // ASKING holds for one command (or the transaction it precedes).
        if client.multi.is_none() && client.last_cmd != "asking" {
            client.flags &= !cf::ASKING;
        }
        client.commands_processed += 1;
        self.check_output_limits(client, now_ms);
        true
    }

    /// Redis's rejectCommand: a command refused while queueing makes EXEC abort; a refused
    /// EXEC discards the transaction and says why.
    fn reject(&mut self, client: &mut Client, cmd: Option<&Command>, e: &CmdError) {
        if client.multi.is_some() {
            client.flags |= cf::DIRTY_EXEC;
        }
        let abort;
        let e = if cmd.is_some_and(|c| c.meta.name == "exec") {
            self.discard_transaction(client);
            abort = err::exec_abort_because(e);
            &abort
        } else {
            e
        };
        client.out.error(e.text());
        self.stats.count_error(e.code());
        self.stats.account_errors(cmd.map(|c| c.id), true);
        self.after_error_reply(client, e.text());
    }

    /// An error for our master (or for the AOF being loaded) means the data diverged: it is
    /// logged loudly, counted, and under propagation-error-behavior panic ends the process
    /// (Redis's afterErrorReply).
    fn after_error_reply(&mut self, client: &Client, text: &[u8]) {
        let to_master = client.has(cf::MASTER);
        let to_aof = !to_master && client.has(cf::OBEY);
        let (from, to) = if to_master {
            ("replica", "master")
        } else if to_aof {
            ("server", "AOF")
        } else if client.has(cf::REPLICA) {
            ("master", "replica")
        } else {
            return;
        };
        self.stats.unexpected_error_replies += 1;
        let behavior = self.cfg.get_enum("propagation-error-behavior");
        let cmd = client.last_cmd_for_log();
        let text = String::from_utf8_lossy(text);
        if (to_master && self.settings.replica_read_only && behavior != "ignore")
            || (to_aof && behavior == "panic")
        {
            tracing::warn!("This {from} panicked sending an error to its {to} after processing the command '{cmd}'");
            tracing::warn!("Error: '{text}'");
            std::process::exit(1);
        }
        tracing::warn!(
            "== CRITICAL == This {from} is sending an error to its {to}: '{text}' after processing the command '{cmd}'"
        );
    }

    /// Finds the command (and subcommand) for argv, with Redis's unknown/arity errors; an
    /// arity error names the command it is about.
    fn resolve(
        &self,
        argv: &[&[u8]],
    ) -> Result<&'static Command, (Option<&'static Command>, CmdError)> {
        let table = self.table;
        let Some(mut cmd) = table.get(argv[0]) else {
            return Err((None, err::unknown_command(argv)));
        };
        if cmd.is_container() && argv.len() > 1 {
            match table.get_sub(cmd, argv[1]) {
                Some(sub) => cmd = sub,
                None => return Err((None, err::unknown_subcommand(argv[1], &cmd.name))),
            }
        }
        let arity = cmd.meta.arity;
        let argc = argv.len() as i32;
        // A container without a handler of its own never runs bare (its arity asks for a
        // subcommand; this holds even if the metadata said otherwise).
        if (arity > 0 && argc != arity) || argc < -arity || cmd.handler.is_none() {
            return Err((Some(cmd), err::wrong_arity(cmd.meta.name)));
        }
        Ok(cmd)
    }

    /// Why data cannot reach the disk, if it cannot (Redis's writeCommandsDeniedByDiskError):
    /// the last background save failed (with stop-writes-on-bgsave-error), or an AOF write did.
    pub fn disk_error(&self) -> Option<CmdError> {
        if !self.persist.last_bgsave_ok
            && self.settings.stop_writes_on_bgsave_error
            && !self.settings.save_points.is_empty()
        {
            return Some(err::MISCONF.into());
        }
        let e = self.aof.last_write_error.as_ref()?;
        Some(CmdError::owned(
            [err::MISCONF_AOF.as_bytes(), e.as_bytes()].concat(),
        ))
    }

    /// min-replicas-to-write is met (Redis's checkGoodReplicasStatus): online replicas that
    /// acknowledged within min-replicas-max-lag.
    pub fn enough_good_replicas(&self) -> bool {
        let s = &self.settings;
        self.repl.is_replica()
            || s.min_replicas_to_write == 0
            || s.min_replicas_max_lag == 0
            || crate::repl::good_replicas(self, self.clock.now_ms())
                >= s.min_replicas_to_write as usize
    }

    /// What refuses a write right now, if anything: the disk, or too few replicas.
    pub fn write_refusal(&self) -> Option<CmdError> {
        self.disk_error()
            .or_else(|| (!self.enough_good_replicas()).then(|| err::NOREPLICAS.into()))
    }

    /// The command's flags as Redis's getCommandFlags gives them: a script's declared flags
    /// (shebang, registered function) stand in for EVAL's and FCALL's own.
    pub fn command_flags(&self, cmd: &Command, argv: &[&[u8]]) -> u64 {
        let flags = cmd.meta.flags;
        match crate::cmd::scripting::declared_flags(self, cmd.meta.name, argv) {
            Some(declared) => crate::cmd::scripting::script_command_flags(flags, declared),
            None => flags,
        }
    }

    /// `command_flags`, and for EXEC those of the transaction it runs.
    pub(super) fn effective_flags(&self, client: &Client, cmd: &Command, argv: &[&[u8]]) -> u64 {
        let mut flags = self.command_flags(cmd, argv);
        if cmd.meta.name == "exec" {
            flags |= client.multi.as_ref().map_or(0, |m| m.flags);
        }
        flags
    }

    /// A replica whose link to its master is down with replica-serve-stale-data no: only
    /// commands flagged `stale` run.
    pub fn serves_no_stale_data(&self) -> bool {
        self.repl.master.as_ref().is_some_and(|link| {
            link.state != crate::repl::LinkState::Connected
                && !self.settings.replica_serve_stale_data
        })
    }

    /// Checks run after lookup and before the handler, in Redis's order.
    fn check_allowed(
        &mut self,
        client: &Client,
        cmd: &Command,
        argv: &[&[u8]],
        now_ms: i64,
    ) -> CmdResult {
        let meta: &CommandMeta = cmd.meta;
        if meta.has(flag::PROTECTED) {
            let debug = meta.name.starts_with("debug");
            let setting = if debug {
                self.settings.enable_debug_command
            } else {
                self.settings.enable_module_command
            };
            let local = client.has(cf::UNIX_SOCKET) || crate::net::is_loopback(&client.addr);
            if !(setting == "yes" || (setting == "local" && local)) {
                return Err(if debug {
                    err::DEBUG_NOT_ALLOWED.into()
                } else {
                    err::MODULE_NOT_ALLOWED.into()
                });
            }
        }
        if self.acl.auth_required(client.authenticated) && !meta.has(flag::NO_AUTH) {
            return Err(err::NOAUTH.into());
        }
        if client.multi.is_some() && meta.has(flag::NO_MULTI) {
            return Err(err::NOT_ALLOWED_IN_MULTI.into());
        }
        let context = if client.multi.is_some() {
            crate::acl::log::Context::Multi
        } else {
            crate::acl::log::Context::Toplevel
        };
        // Our master's commands, and the AOF's being loaded, are obeyed as they come (Redis's
        // mustObeyClient).
        let from_master = client.has(cf::MASTER) || client.has(cf::OBEY);
        if !from_master {
            if let Err(d) = self.acl_check(client, client.user, cmd, argv, context, now_ms) {
                return Err(Self::noperm(cmd, d));
            }
            // The node that serves the keys' slot runs the command (Redis's getNodeByQuery).
            if self.cluster.is_some() {
                crate::cluster::glue::route(self, client, cmd, argv)?;
            }
        }
        // Over maxmemory with nothing left to evict: commands that may grow memory are refused
        // (and anything queued in MULTI, which would hold memory until EXEC).
        let flags = self.effective_flags(client, cmd, argv);
        let writes = flags & flag::WRITE != 0;
        if self.oom_at_command_start && self.settings.maxmemory > 0 && !from_master {
            let denyoom = flags & flag::DENYOOM != 0;
            let queueing = client.multi.is_some()
                && !matches!(meta.name, "exec" | "discard" | "quit" | "reset");
            if denyoom || queueing {
                return Err(err::OOM.into());
            }
        }
        // Writes stop while data cannot reach the disk, so a client cannot believe data is
        // safe that is not; PING too, as in Redis: it is how a client notices.
        if (writes || meta.name == "ping") && !from_master {
            if let Some(e) = self.disk_error() {
                return Err(e);
            }
        }
        if writes && !self.enough_good_replicas() {
            return Err(err::NOREPLICAS.into());
        }
        if self.repl.is_replica() && writes && !from_master && self.settings.replica_read_only {
            return Err(err::READONLY_REPLICA.into());
        }
        // A RESP2 connection in subscriber mode can only manage subscriptions.
        if client.has(cf::PUBSUB) && !client.out.is_resp3() {
            const ALLOWED: &[&str] = &[
                "ping",
                "subscribe",
                "ssubscribe",
                "unsubscribe",
                "sunsubscribe",
                "psubscribe",
                "punsubscribe",
                "quit",
                "reset",
            ];
            if !ALLOWED.contains(&meta.name) {
                return Err(err::pubsub_context(meta.name));
            }
        }
        let stale_ok = match &client.multi {
            Some(m) if meta.name == "exec" => m.missing_flags & flag::STALE == 0,
            _ => flags & flag::STALE != 0,
        };
        if !stale_ok && self.serves_no_stale_data() {
            return Err(err::MASTERDOWN.into());
        }
        // The load itself (an AOF's commands) is obeyed; only other clients wait. An async
        // load serves the old dataset: only what would disturb the load waits.
        if self.persist.loading.is_some() && !client.has(cf::OBEY) {
            let waits = if self.persist.async_loading {
                meta.has(flag::NO_ASYNC_LOADING)
            } else {
                !meta.has(flag::LOADING)
            };
            if waits {
                return Err(err::LOADING.into());
            }
        }
        if let Some(function) = self.script_busy {
            if !meta.has(flag::ALLOW_BUSY) {
                return Err(if function {
                    err::BUSY_FUNCTION.into()
                } else {
                    err::BUSY_SCRIPT.into()
                });
            }
        }
        // A replica connection only speaks replication.
        if client.has(cf::REPLICA)
            && flags & (flag::MAY_REPLICATE | flag::WRITE | flag::READONLY) != 0
        {
            return Err(err::REPLICA_KEYSPACE.into());
        }
        Ok(())
    }

    /// Runs a handler with statistics (Redis's call()).
    /// Runs one command queued by MULTI, timed from now (EXEC's loop).
    pub fn call_queued(&mut self, client: &mut Client, cmd: &'static Command, argv: &[&[u8]]) {
        let start = Instant::now();
        let now_ms = self.clock.ms_at(start);
        self.call(client, cmd, argv, start, now_ms, true);
    }

    pub fn call(
        &mut self,
        client: &mut Client,
        cmd: &'static Command,
        argv: &[&[u8]],
        start: Instant,
        now_ms: i64,
        no_block: bool,
    ) {
        let handler = cmd.handler.expect("resolved commands have handlers");
        let prop = self.propagation_begin();
        let (result, block) = {
            let deny = client.has(cf::DENY_BLOCKING);
            let mut ctx = Ctx::new(self, client, argv, cmd, now_ms);
            ctx.no_block = no_block || deny;
            let r = handler(&mut ctx);
            (r, ctx.block_request.take())
        };
        if let (Ok(()), Some(req)) = (&result, block) {
            self.park(client, req, cmd, argv);
        }
        self.propagation_end(prop, client, argv, propagates_inner_commands(cmd));
        if result.is_ok()
            && cmd.meta.has(flag::WRITE)
            && self.repl.is_replica()
            && !client.has(cf::MASTER)
            && !self.loading
        {
            crate::repl::remember_writable_expires(self, client.db, cmd.meta, argv);
        }
        // A read-only script run is tracked through the commands it runs (see
        // `track_script_keys`), not by itself.
        if cmd.meta.has(flag::READONLY)
            && client.has(cf::TRACKING)
            && !client.has(cf::TRACKING_BCAST)
            && !matches!(cmd.meta.name, "eval_ro" | "evalsha_ro" | "fcall_ro")
        {
            self.remember_tracked_keys(client, cmd, argv);
        }
        if !self.monitors.is_empty()
            && !cmd.meta.has(flag::SKIP_MONITOR)
            && !cmd.meta.has(flag::ADMIN)
        {
            let shown = pause::redacted_argv(argv);
            let db = client.db;
            self.feed_monitors(client, &shown, db);
        }
        let usec = start.elapsed().as_micros() as u64;
        // A command that blocked is logged when it is served (see exec/blocking.rs).
        if !cmd.meta.has(flag::SKIP_SLOWLOG) && !client.has(cf::BLOCKED) {
            self.slowlog_push(client, argv, usec, now_ms);
        }
        if !client.has(cf::BLOCKED) {
            let event = if cmd.meta.has(flag::FAST) {
                "fast-command"
            } else {
                "command"
            };
            self.latency_sample(event, usec / 1000, now_ms);
        }
        let st = &mut self.stats.cmd[cmd.id];
        st.calls += 1;
        st.usec += usec;
        if self.settings.latency_tracking {
            latency::record(&mut st.hist, usec);
        }
        if let Err(e) = result {
            client.out.error(e.text());
            self.stats.count_error(e.code());
            self.after_error_reply(client, e.text());
        }
        if !self.stats.account_errors(Some(cmd.id), false)
            && std::mem::take(&mut self.stats.uncounted_failure)
        {
            self.stats.cmd[cmd.id].failed_calls += 1;
        }
        self.stats.total_commands_processed += 1;
    }

    /// Records a latency event of `ms` milliseconds if the monitor is on and it is slow enough.
    pub fn latency_sample(&mut self, event: &'static str, ms: u64, now_ms: i64) {
        let threshold = self.settings.latency_monitor_threshold;
        self.latency
            .add_if_needed(threshold, event, ms, now_ms / 1000);
    }

    /// Adds the command to the slow log if it took `slowlog-log-slower-than` or more.
    pub(super) fn slowlog_push(&mut self, client: &Client, argv: &[&[u8]], usec: u64, now_ms: i64) {
        let name = client.name.as_deref().unwrap_or_default();
        // A client without a connection (the scripts' one) shows as Redis's "?:0".
        let addr = if client.fd < 0 {
            ""
        } else {
            client.addr.as_str()
        };
        self.slowlog.push(
            self.settings.slowlog_log_slower_than,
            self.settings.slowlog_max_len,
            argv,
            usec,
            now_ms / 1000,
            addr,
            name,
        );
    }

    /// Starts propagating a command (when anything consumes propagation): what `end` needs.
    pub(super) fn propagation_begin(&mut self) -> Option<PropagationMark> {
        self.prop.enabled().then(|| PropagationMark {
            saved: self.prop.enter(),
            dirty: self.dirty,
            emitted: self.prop.aof.emitted,
        })
    }

    /// Propagates the command that ran if it changed data (not its argv when `inner_only`:
    /// EXEC and scripts propagate their inner commands), and records the client's write
    /// offset for WAITAOF.
    pub(super) fn propagation_end(
        &mut self,
        mark: Option<PropagationMark>,
        client: &mut Client,
        argv: &[&[u8]],
        inner_only: bool,
    ) {
        let Some(mark) = mark else {
            return;
        };
        if inner_only {
            self.prop.prevented = true;
        }
        // A save during the command (SAVE, SHUTDOWN) resets the counter: that is no change
        // to propagate (Redis clamps the difference at zero).
        let changed = self.dirty > mark.dirty;
        self.prop
            .leave(mark.saved, client.db, changed, argv.iter().copied());
        if self.prop.aof.emitted != mark.emitted {
            client.woff = self.prop.aof.emitted;
        }
        if !self.prop.repl.buf.is_empty() {
            client.repl_woff = self.repl.offset + self.prop.repl.buf.len() as u64;
        }
    }

    /// Closes clients whose pending output passed client-output-buffer-limit.
    pub fn check_output_limits(&mut self, client: &mut Client, now_ms: i64) {
        let class = if client.has(cf::REPLICA) {
            1
        } else if client.has(cf::PUBSUB) {
            2
        } else {
            0
        };
        let mut limit = self.settings.obuf_limits[class];
        let pending = if class == 1 {
            // A replica's output is the part of the shared replication buffer it still
            // needs; a hard limit below the backlog's size would cut every replica that
            // continues from the backlog, so the backlog's size applies (as in Redis).
            if limit.hard_bytes != 0 {
                let backlog = self.repl.backlog.as_ref().map_or(0, |b| b.size()) as u64;
                limit.hard_bytes = limit.hard_bytes.max(backlog);
            }
            crate::repl::replica_buffer_usage(&self.repl, client.slot) as u64
        } else {
            client.pending_output() as u64
        };
        let hard = limit.hard_bytes != 0 && pending >= limit.hard_bytes;
        let mut soft = false;
        if limit.soft_bytes != 0 && pending >= limit.soft_bytes {
            match client.obuf_soft_since_ms {
                None => client.obuf_soft_since_ms = Some(now_ms),
                Some(since) => soft = (now_ms - since) as u64 > limit.soft_secs * 1000,
            }
        } else {
            client.obuf_soft_since_ms = None;
        }
        if (hard || soft) && !client.has(cf::CLOSE_ASAP) {
            tracing::warn!(
                "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
                client.id,
                client.addr
            );
            self.stats.client_output_buffer_limit_disconnections += 1;
            client.flags |= cf::CLOSE_ASAP;
            self.to_close.push(client.slot);
        }
    }

    // ---- keyspace access with Redis's side effects ----

    /// The LRU/LFU value for a key created or overwritten now.
    pub fn new_lru(&self, now_ms: i64) -> u32 {
        if self.lfu_mode() {
            (lfu_minutes(now_ms) << 8) | LFU_INIT_VAL
        } else {
            lru_clock(now_ms)
        }
    }

    #[inline]
    pub fn lfu_mode(&self) -> bool {
        self.settings.maxmemory_policy.ends_with("lfu")
    }

    /// lookupKeyRead: lazy expiry, hit/miss stats, access time. An expired key is deleted
    /// (with its side effects) and reads as missing.
    pub fn lookup_read(
        &mut self,
        db: usize,
        key: &[u8],
        now_ms: i64,
        touch: bool,
    ) -> Option<&mut Entry> {
        let lfu = self.lfu_mode();
        let (log_factor, decay) = (self.settings.lfu_log_factor, self.settings.lfu_decay_time);
        let rnd = if lfu && touch { self.random_u64() } else { 0 };
        let Some(e) = self.lookup(db, key, now_ms, false) else {
            self.stats.keyspace_misses += 1;
            return None;
        };
        if touch {
            e.set_lru(if lfu {
                lfu_touch(e.lru(), now_ms, log_factor, decay, rnd)
            } else {
                lru_clock(now_ms)
            });
        }
        e.value.rehash_step();
        let p: *mut Entry = e;
        self.stats.keyspace_hits += 1;
        // SAFETY: `p` points into `self.dbs`; only `self.stats` (a different field) was touched
        // since it was taken, so the entry is still valid and not aliased.
        Some(unsafe { &mut *p })
    }

    /// lookupKeyWrite: lazy expiry, no stats. One hash lookup for a live key.
    pub fn lookup_write(&mut self, db: usize, key: &[u8], now_ms: i64) -> Option<&mut Entry> {
        self.lookup(db, key, now_ms, true)
    }

    /// The lookup under both: an expired key reads as missing, and is deleted unless this is
    /// a replica reading (its master deletes it; a write on a writable replica may).
    fn lookup(&mut self, db: usize, key: &[u8], now_ms: i64, write: bool) -> Option<&mut Entry> {
        let p: *mut Entry = self.dbs[db].peek_mut(key)?;
        // SAFETY: `p` was just taken from the dict and nothing has touched the dict since.
        if !self.loading
            && unsafe { (*p).has_expire() }
            && past(self.dbs[db].expire_at(key), now_ms)
        {
            // A replica leaves expiry to its master: the master's own commands still see the
            // key, anyone else sees it gone (Redis 7.0's expireIfNeeded on a replica).
            if self.running_master {
                // SAFETY: as above.
                return Some(unsafe { &mut *p });
            }
            // During CLIENT PAUSE the dataset stays still: the key reads as missing. A write
            // on a writable replica removes it, as a master would (Redis's forced delete for
            // write lookups).
            let replica_keeps =
                self.repl.is_replica() && (!write || self.settings.replica_read_only);
            if !self.is_paused(now_ms) && !replica_keeps {
                self.delete_expired(db, key);
            }
            return None;
        }
        // SAFETY: as above; the dict is unchanged, so `p` is still the live entry.
        Some(unsafe { &mut *p })
    }

    /// Deletes `key` if its TTL passed; returns true if it did.
    pub fn expire_if_needed(&mut self, db: usize, key: &[u8], now_ms: i64) -> bool {
        match self.dbs[db].peek(key) {
            Some(_)
                if self.dbs[db].is_expired(key, now_ms)
                    && !self.loading
                    && !self.running_master => {}
            _ => return false,
        }
        if !self.is_paused(now_ms) && !self.repl.is_replica() {
            self.delete_expired(db, key);
        }
        true
    }

    /// Removes an expired key with its side effects (stats, event, invalidation).
    pub fn delete_expired(&mut self, db: usize, key: &[u8]) {
        if let Some(e) = self.dbs[db].remove(key) {
            if self.settings.lazyfree_lazy_expire {
                self.lazyfree.free_value(e.value);
            }
        }
        self.propagate_deletion(db, key, self.settings.lazyfree_lazy_expire);
        self.stats.expired_keys += 1;
        self.notify(config::notify::EXPIRED, "expired", key, db);
        self.signal_modified_by_server(db, key);
    }

    /// A change the server made (expiry, eviction), not the running client: even a NOLOOP
    /// client hears of it (Redis's signalModifiedKey with no client).
    pub fn signal_modified_by_server(&mut self, db: usize, key: &[u8]) {
        let running = std::mem::take(&mut self.running_id);
        self.signal_modified(db, key);
        self.running_id = running;
    }

    /// A deletion the server made (expiry, eviction) goes out at once, outside the running
    /// command, as Redis 7.0's propagateDeletion does.
    pub fn propagate_deletion(&mut self, db: usize, key: &[u8], lazy: bool) {
        if self.prop.enabled() {
            let del = propagate::deletion_command(lazy);
            self.prop.now(db, [del, key].into_iter());
        }
    }

    /// The client's CLIENT LIST line, without its newline (for logs).
    pub fn client_info(&self, client: &Client, now_ms: i64) -> String {
        let mut info = String::new();
        let user = &self.acl.user(client.user).name;
        crate::cmd::connection::client_info_line(client, user, now_ms, &mut info);
        info.pop();
        info
    }

    /// The last words of a server that shut down: the pidfile goes, the log says so.
    pub fn say_goodbye(&self) {
        if let Some(p) = &self.settings.pidfile {
            let _ = std::fs::remove_file(p);
        }
        tracing::warn!("cinnabar is now ready to exit, bye bye...");
    }

    /// WATCH and client-side-caching invalidation for a changed key (Redis's
    /// signalModifiedKey).
    pub fn signal_modified(&mut self, db: usize, key: &[u8]) {
        self.signal_if_stream_gone(db, key);
        self.touch_watched(db, key);
        self.invalidate_tracked_key(key, true);
    }

    /// After SWAPDB: clients blocked on keys that now exist in either db are served.
    pub fn swapped_dbs(&mut self, a: usize, b: usize) {
        self.signal_existing_waited_keys(a);
        self.signal_existing_waited_keys(b);
    }

    // ---- background work ----

    /// Periodic work, `hz` times a second (Redis's serverCron).
    /// Collects the forked Lua debugging sessions that ended (Redis's ldbRemoveChild).
    fn reap_debug_sessions(&mut self) {
        self.ldb_children.retain(|&pid| {
            let mut status = 0;
            // SAFETY: waits, without blocking, for a child of ours.
            unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) == 0 }
        });
    }

    /// Ends the forked Lua debugging sessions (Redis's ldbKillForkedSessions, at shutdown).
    pub fn kill_debug_sessions(&mut self) {
        for pid in std::mem::take(&mut self.ldb_children) {
            tracing::warn!("Killing debugging session {pid}");
            // SAFETY: signals a child of ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }

    pub fn cron(&mut self) {
        if self.cron_paused {
            return;
        }
        self.clock.refresh();
        let now_ms = self.clock.now_ms();
        self.cron_loops += 1;
        self.watchdog.beat(self.cfg.get_int("watchdog-period"));
        self.migrate_links.close_idle(now_ms);
        self.stats.sample(now_ms);
        self.clients_cron(now_ms);
        self.reap_debug_sessions();
        crate::persist::cron(self);
        self.shutdown_cron(now_ms);
        crate::cluster::glue::cron(self);
        // Redis's replicationCron runs once a second.
        if now_ms - self.repl_cron_ms >= 1000 {
            self.repl_cron_ms = now_ms;
            crate::repl::cron(self);
            crate::repl::replica_cron(self);
        }
        if self.active_expire_enabled && !self.is_paused(now_ms) && self.repl.is_replica() {
            crate::repl::expire_writable_keys(self, now_ms);
        }
        if self.active_expire_enabled && !self.is_paused(now_ms) && !self.repl.is_replica() {
            let budget_us =
                limits::EXPIRE_SLOW_CYCLE_PERCENT * 1_000_000 / u64::from(self.hz.max(1)) / 100;
            let started = Instant::now();
            self.active_expire(now_ms, Duration::from_micros(budget_us));
            self.latency_sample("expire-cycle", started.elapsed().as_millis() as u64, now_ms);
        }
        // Also done before every command; here so that a CONFIG SET of
        // tracking-table-max-keys takes effect on an idle server too.
        if self.tracking.clients > 0 {
            self.limit_tracking_table();
        }
        // Redis's databasesCron: shrink sparse tables, then give one resizing table 1 ms.
        for db in &mut self.dbs {
            db.shrink_if_sparse();
        }
        if self.settings.activerehashing {
            if let Some(db) = self.dbs.iter_mut().find(|d| d.is_rehashing()) {
                let start = Instant::now();
                db.rehash_while(|| start.elapsed() < Duration::from_millis(1));
            }
        }
    }

    /// Short expiry cycle before sleeping when the slow cycle left work (ACTIVE_EXPIRE_CYCLE_FAST).
    pub fn before_sleep(&mut self) {
        self.broadcast_tracking();
        crate::cluster::glue::before_sleep(self);
        // While a fork child shares our pages, tables avoid resizing (Redis's
        // updateDictResizePolicy).
        use crate::keyspace::rehash::{set_resize_policy, ResizePolicy};
        let child = [self.persist.child.as_ref(), self.aof.child.as_ref()]
            .into_iter()
            .flatten()
            .any(|c| c.live_snapshot().is_none());
        set_resize_policy(if child {
            ResizePolicy::Avoid
        } else {
            ResizePolicy::Enable
        });
        let now_ms = self.clock.now_ms();
        self.check_pause(now_ms);
        if self.next_block_deadline().is_some_and(|d| d <= now_ms) {
            self.expire_blocked(now_ms);
        }
        if self.eviction.running {
            self.perform_evictions();
        }
        if self.settings.maxmemory_clients != 0 {
            self.evict_clients();
        }
        if self.active_expire_enabled && self.expire_backlog && !self.repl.is_replica() {
            self.active_expire(now_ms, Duration::from_micros(limits::EXPIRE_FAST_CYCLE_US));
        }
        if std::mem::take(&mut self.repl.ack_requested) {
            crate::repl::request_acks(self);
        }
        crate::persist::live::step(self);
        crate::repl::feed(self);
        self.serve_repl_waiters();
        crate::repl::update_failover(self);
    }

    fn active_expire(&mut self, now_ms: i64, budget: Duration) {
        let start = Instant::now();
        let effort = self.settings.active_expire_effort.max(1) as usize - 1;
        let per_loop = limits::EXPIRE_KEYS_PER_LOOP + limits::EXPIRE_KEYS_PER_LOOP / 4 * effort;
        let stale_ok = limits::EXPIRE_ACCEPTABLE_STALE_PERCENT.saturating_sub(effort);
        let mut expired_keys: Vec<CompactBytes> = Vec::new();
        let mut backlog = false;
        'dbs: for db in 0..self.dbs.len() {
            let mut iterations = 0u32;
            loop {
                expired_keys.clear();
                let (sampled, expired) =
                    self.dbs[db].expire_sample(now_ms, per_loop, &mut expired_keys);
                for k in &expired_keys {
                    self.propagate_deletion(db, k, self.settings.lazyfree_lazy_expire);
                    self.stats.expired_keys += 1;
                    self.notify(config::notify::EXPIRED, "expired", k, db);
                    self.signal_modified(db, k);
                }
                if sampled == 0 {
                    break;
                }
                iterations += 1;
                if iterations % 16 == 0 && start.elapsed() >= budget {
                    backlog = true;
                    break 'dbs;
                }
                if expired * 100 / sampled <= stale_ok {
                    break;
                }
            }
        }
        if !backlog {
            backlog = self.active_expire_fields(now_ms, start, budget);
        }
        self.expire_backlog = backlog;
    }

    /// The active expiry of hash fields: hashes whose earliest field TTL passed, earliest
    /// first, until none is due or `budget` (from `start`) runs out, which it returns (Redis's
    /// activeExpireCycle calling hashTypeDbActiveExpire).
    fn active_expire_fields(&mut self, now_ms: i64, start: Instant, budget: Duration) -> bool {
        for db in 0..self.dbs.len() {
            while let Some(key) = self.dbs[db].next_field_expiry(now_ms) {
                crate::cmd::subkey_ttl::expire_due(self, db, &key, now_ms);
                if start.elapsed() >= budget {
                    return true;
                }
            }
        }
        false
    }

    /// Idle timeouts (Redis's clientsCronHandleTimeout).
    fn clients_cron(&mut self, now_ms: i64) {
        if self.reply_buffer_resizing {
            let reset = self.reply_buffer_peak_reset_ms;
            for c in self.clients.iter_mut().flatten() {
                match c.resize_reply_buffer(now_ms, reset) {
                    Some(client::Resized::Shrunk) => self.stats.reply_buffer_shrinks += 1,
                    Some(client::Resized::Expanded) => self.stats.reply_buffer_expands += 1,
                    None => {}
                }
            }
        }
        // A soft output limit runs out with no new output too (Redis's clientsCron checks
        // every client's limits).
        let over_soft: Vec<usize> = self
            .clients
            .iter()
            .flatten()
            .filter(|c| c.obuf_soft_since_ms.is_some())
            .map(|c| c.slot)
            .collect();
        for slot in over_soft {
            self.enforce_output_limit(slot, now_ms);
        }
        let timeout = self.settings.timeout_secs;
        if timeout == 0 {
            return;
        }
        let mut idle = Vec::new();
        for c in self.clients.iter().flatten() {
            // Replication links have repl-timeout instead.
            if c.has(cf::BLOCKED | cf::PUBSUB | cf::REPLICA | cf::MASTER) {
                continue;
            }
            if (now_ms - c.last_interaction_ms) as u64 > timeout * 1000 {
                idle.push(c.slot);
            }
        }
        for slot in idle {
            tracing::debug!("Closing idle client");
            self.close_client_asap(slot);
        }
    }

    /// Milliseconds between cron runs.
    pub fn cron_interval(&self) -> Duration {
        Duration::from_millis(1000 / u64::from(self.hz.max(1)))
    }
}

/// Redis's LRU_CLOCK(): seconds, 24 bits.
pub fn lru_clock(now_ms: i64) -> u32 {
    ((now_ms / 1000) as u64 & u64::from(LRU_CLOCK_MAX)) as u32
}

/// Initial LFU counter of a new key (Redis's LFU_INIT_VAL).
pub const LFU_INIT_VAL: u32 = 5;

/// LFU time base: minutes, 16 bits.
pub fn lfu_minutes(now_ms: i64) -> u32 {
    ((now_ms / 60_000) as u64 & 0xffff) as u32
}

/// Minutes since the LFU time stamp `ldt` (wrapping at 16 bits).
pub fn lfu_elapsed(ldt: u32, now_ms: i64) -> u32 {
    let now = lfu_minutes(now_ms);
    if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    }
}

/// The LFU counter after decay (Redis's LFUDecrAndReturn).
pub fn lfu_decayed(lru: u32, now_ms: i64, decay_time: i64) -> u32 {
    let ldt = lru >> 8;
    let counter = lru & 255;
    let periods = if decay_time > 0 {
        lfu_elapsed(ldt, now_ms) / decay_time as u32
    } else {
        0
    };
    counter.saturating_sub(periods)
}

/// Redis's updateLFU: decay, then a logarithmic increment.
fn lfu_touch(lru: u32, now_ms: i64, log_factor: i64, decay_time: i64, rnd: u64) -> u32 {
    let mut counter = lfu_decayed(lru, now_ms, decay_time);
    if counter < 255 {
        let r = (rnd >> 11) as f64 / (1u64 << 53) as f64;
        let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
        let p = 1.0 / (base * log_factor as f64 + 1.0);
        if r < p {
            counter += 1;
        }
    }
    (lfu_minutes(now_ms) << 8) | counter
}

/// Seconds since last access for OBJECT IDLETIME (Redis's estimateObjectIdleTime).
pub fn idle_secs(lru: u32, now_ms: i64) -> u64 {
    let clock = lru_clock(now_ms);
    let diff = if clock >= lru {
        clock - lru
    } else {
        clock + (LRU_CLOCK_MAX - lru)
    };
    u64::from(diff)
}

/// Commands whose own argv is never propagated: the commands they run are (Redis replicates
/// script effects, and a transaction as its commands).
fn propagates_inner_commands(cmd: &Command) -> bool {
    matches!(
        cmd.meta.name,
        "exec" | "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// Commands that run immediately even inside MULTI (Redis's processCommand list).
fn runs_inside_multi(cmd: &Command) -> bool {
    matches!(
        cmd.meta.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}
