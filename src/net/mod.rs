//! The network front end: one mio poll loop that accepts, reads, runs commands on the
//! executor and writes replies, all on one thread (Redis's `ae` model). A pipelined batch is
//! parsed and executed in one go and its replies leave in one write.
//!
//! The only module that does socket I/O.

pub mod cluster_bus;
pub mod conn;
pub mod harness;
pub mod io_threads;
pub mod master_link;
pub mod migrate;
pub mod tls;

use std::io::{self, ErrorKind, Read};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, UnixListener};
use mio::{Events, Interest, Poll, Token};

use crate::config::limits;
use crate::exec::client::flags as cf;
use crate::exec::{CallerFns, Executor, NetHooks};
use crate::resp::errors as err;
use crate::resp::parse::{ParseLimits, Parsed};
use conn::{caller_close, caller_read, caller_write, Conn, Stream};

/// Tokens at the top of the range are listeners and the signal pipe; clients use their slot.
const SIGNAL_TOKEN: Token = Token(usize::MAX - 1);
const LISTENER_BASE: usize = usize::MAX - 64;

enum Listener {
    Tcp(TcpListener),
    /// tls-port: TCP whose connections speak TLS.
    Tls(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Listener::Tcp(l) | Listener::Tls(l) => l,
            Listener::Unix(l) => l,
        }
    }
}

/// Everything the loop owns besides the executor.
pub struct Server {
    poll: Poll,
    listeners: Vec<Listener>,
    /// The TLS configuration for connections accepted on tls-port, and what it was built from.
    tls: Option<(Arc<rustls::ServerConfig>, tls::TlsSettings)>,
    /// Boxed so a connection stays in place when the table grows (a busy script's caller
    /// holds its connection while `serve_while_busy` may accept new ones).
    conns: Vec<Option<Box<Conn>>>,
    free_slots: Vec<usize>,
    signal_rx: mio::net::UnixStream,
    /// SIGTERMs and SIGINTs received (the pipe only wakes the loop; SIGINT may ask for
    /// another shutdown than SIGTERM, and a second one exits at once).
    signals: Arc<[std::sync::atomic::AtomicUsize; 2]>,
    /// Slots whose output must be flushed before the next poll.
    flush_list: Vec<usize>,
    /// Slots to read again (stopped for fairness, or unblocked with input waiting).
    read_again: Vec<usize>,
    unixsocket: Option<String>,
    /// Scratch argv whose allocation is reused for every command.
    argv_scratch: Vec<&'static [u8]>,
    /// Scratch for commands read while a script is busy (the outer one is in use).
    busy_scratch: Vec<&'static [u8]>,
    /// Readiness of a busy script's caller, handled once the script is over.
    busy_deferred: Vec<usize>,
    /// Clients reported readable in this turn's batch of events. Readiness is edge-triggered,
    /// so a client whose event waits in the batch behind a busy script's is not reported
    /// again: `serve_busy` serves it from here.
    turn_readable: Vec<usize>,
    /// A full sync's snapshot is being sent to replicas.
    transfer_active: bool,
    /// Cluster mode: the bus listener and node connections.
    bus: cluster_bus::Bus,
    /// Whether spinning before a sleep has been finding events.
    spin: SpinStats,
    /// io-threads: helpers for the socket reads and writes of busy turns.
    io: io_threads::IoThreads,
    /// io-threads-do-reads: reads go to the helpers too (while they are in use).
    threaded_reads: bool,
    /// This turn's readable clients set aside for a threaded read.
    read_batch: Vec<usize>,
    /// Scratch for a threaded batch: its jobs, and each one's slot, free room before the
    /// read and client id.
    jobs: Vec<io_threads::Job>,
    job_slots: Vec<(usize, usize, u64)>,
}

/// How often the spin before a sleep found an event, over a decaying window.
#[derive(Default)]
struct SpinStats {
    tries: u32,
    hits: u32,
}

impl SpinStats {
    /// Spin while at least a third of recent spins found work; a turn in 64 spins anyway so
    /// a change in load is noticed.
    fn worth_it(&mut self) -> bool {
        self.tries < 32 || self.hits * 3 >= self.tries || {
            self.tries += 1;
            self.tries % 64 == 0
        }
    }

    fn record(&mut self, hit: bool) {
        self.tries += 1;
        self.hits += hit as u32;
        if self.tries >= 1024 {
            self.tries /= 2;
            self.hits /= 2;
        }
    }
}

impl Server {
    /// Whether any listener (TCP, TLS or the unix socket) is open.
    pub fn listening(&self) -> bool {
        !self.listeners.is_empty()
    }

    /// Binds the configured addresses and installs the signal handlers.
    pub fn bind(ex: &mut Executor) -> io::Result<Server> {
        let poll = Poll::new()?;
        let s = ex.settings.clone();
        let mut listeners: Vec<Listener> = bind_tcp_listeners(s.port, &s.bind, s.tcp_backlog)?
            .into_iter()
            .map(Listener::Tcp)
            .collect();
        if let Some(Listener::Tcp(l)) = listeners.first() {
            ex.tcp_port = l.local_addr()?.port();
        }
        let tls = tls_for(&s)?;
        listeners.extend(
            bind_tcp_listeners(s.tls_port, &s.bind, s.tcp_backlog)?
                .into_iter()
                .map(Listener::Tls),
        );
        if let Some(path) = &s.unixsocket {
            let _ = std::fs::remove_file(path);
            let l = UnixListener::bind(path)?;
            if s.unixsocketperm != 0 {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(s.unixsocketperm))?;
            }
            listeners.push(Listener::Unix(l));
        }
        for (i, l) in listeners.iter_mut().enumerate() {
            poll.registry()
                .register(l.source(), Token(LISTENER_BASE + i), Interest::READABLE)?;
        }
        let (signal_rx, signal_tx) = std::os::unix::net::UnixStream::pair()?;
        signal_rx.set_nonblocking(true)?;
        let tx2 = signal_tx.try_clone()?;
        let signals: Arc<[std::sync::atomic::AtomicUsize; 2]> = Arc::default();
        let temp_rdb = std::ffi::CString::new(format!("temp-{}.rdb", std::process::id()))
            .expect("no NUL in a file name");
        for (i, sig) in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT]
            .into_iter()
            .enumerate()
        {
            let counters = Arc::clone(&signals);
            let temp_rdb = temp_rdb.clone();
            // SAFETY: the action only uses atomics, write(2), unlink(2) and _exit(2), all
            // async-signal-safe; it is registered before the pipe's, so the count is there
            // when the loop wakes.
            unsafe {
                signal_hook::low_level::register(sig, move || {
                    use std::sync::atomic::Ordering::SeqCst;
                    let pending = crate::exec::shutdown::SIGNALLED.swap(true, SeqCst);
                    // A second Ctrl+C means now: no final save, no waiting for replicas
                    // (the loop may be busy with exactly that).
                    if pending && sig == signal_hook::consts::SIGINT {
                        crate::log::from_signal_handler("You insist... exiting now.");
                        libc::unlink(temp_rdb.as_ptr());
                        libc::_exit(1);
                    }
                    counters[i].fetch_add(1, SeqCst);
                })?;
            }
        }
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGTERM, signal_tx)?;
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGINT, tx2)?;
        let signal_rx = mio::net::UnixStream::from_std(signal_rx);
        Server::assemble(ex, poll, listeners, tls, signal_rx, signals)
    }

    /// The loop's state around its listeners and signal pipe.
    fn assemble(
        ex: &Executor,
        poll: Poll,
        listeners: Vec<Listener>,
        tls: Option<(Arc<rustls::ServerConfig>, tls::TlsSettings)>,
        mut signal_rx: mio::net::UnixStream,
        signals: Arc<[std::sync::atomic::AtomicUsize; 2]>,
    ) -> io::Result<Server> {
        poll.registry()
            .register(&mut signal_rx, SIGNAL_TOKEN, Interest::READABLE)?;
        let s = &ex.settings;
        Ok(Server {
            poll,
            listeners,
            tls,
            conns: Vec::new(),
            free_slots: Vec::new(),
            signal_rx,
            signals,
            flush_list: Vec::new(),
            read_again: Vec::new(),
            unixsocket: s.unixsocket.clone(),
            argv_scratch: Vec::new(),
            busy_scratch: Vec::new(),
            busy_deferred: Vec::new(),
            turn_readable: Vec::new(),
            transfer_active: false,
            bus: cluster_bus::Bus::default(),
            spin: SpinStats::default(),
            io: io_threads::IoThreads::start(ex.cfg.get_int("io-threads") as usize)?,
            threaded_reads: ex.cfg.get_bool("io-threads-do-reads"),
            read_batch: Vec::new(),
            jobs: Vec::new(),
            job_slots: Vec::new(),
        })
    }

    /// Runs until a shutdown is requested and carried out.
    pub fn run(&mut self, ex: &mut Executor) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut next_cron = Instant::now() + ex.cron_interval();
        let mut busy_turn = false;
        self.install_hooks(ex);
        loop {
            let now = Instant::now();
            let mut timeout = if self.read_again.is_empty() {
                next_cron.saturating_duration_since(now)
            } else {
                Duration::ZERO
            };
            if self.transfer_active {
                timeout = timeout.min(Duration::from_millis(1));
            }
            // A live snapshot walks a slice per turn: the loop does not sleep meanwhile.
            if let Some(wait) = crate::persist::live::next_turn(ex) {
                timeout = timeout.min(wait);
            }
            // Wake up for the next blocked-client deadline or the end of a pause.
            if let Some(at_ms) = ex.next_wakeup_ms() {
                let wait_ms = (at_ms - ex.clock.now_ms()).max(0) as u64;
                timeout = timeout.min(Duration::from_millis(wait_ms));
            }
            // After a busy turn, look for new events for a few microseconds before sleeping:
            // under request/response load the next request is usually that close, and a
            // sleep costs a context switch each way (measured: 2.4x Redis's switches).
            // When the cores are shared (several servers and their clients on one machine),
            // the next request comes later than the window and spinning only takes CPU from
            // them: spinning stops while most spins come back empty.
            let mut polled = false;
            if busy_turn && !timeout.is_zero() && self.spin.worth_it() {
                let spin_until = Instant::now() + SPIN_BEFORE_SLEEP;
                while Instant::now() < spin_until {
                    match self.poll.poll(&mut events, Some(Duration::ZERO)) {
                        Ok(()) if !events.is_empty() => {
                            polled = true;
                            break;
                        }
                        Ok(()) => std::hint::spin_loop(),
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                self.spin.record(polled);
            }
            if !polled {
                if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                    if e.kind() != ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
            busy_turn = !events.is_empty();
            self.note_turn_readable(&events);
            for event in events.iter() {
                match event.token() {
                    SIGNAL_TOKEN => self.on_signal(ex),
                    Token(t) if Self::is_bus_token(t) => self.on_bus_event(ex, event),
                    Token(t) if t >= LISTENER_BASE => self.accept(ex, t - LISTENER_BASE),
                    Token(slot) if self.is_link(slot) => self.on_link_event(ex, slot),
                    Token(slot) => {
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.note_peer_closed(slot, event);
                            if self.threaded_reads && self.io.active && self.reads_alone(ex, slot) {
                                self.read_batch.push(slot);
                            } else {
                                self.on_readable(ex, slot);
                            }
                        }
                        if event.is_writable() {
                            if let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) {
                                if c.write_blocked {
                                    c.write_blocked = false;
                                    self.queue_flush(slot);
                                }
                            }
                        }
                    }
                }
            }
            self.read_batch_threaded(ex);
            self.read_deferred(ex);
            if Instant::now() >= next_cron {
                ex.cron();
                if !ex.cron_paused {
                    self.resize_query_buffers(ex);
                }
                next_cron = Instant::now() + ex.cron_interval();
            }
            self.end_turn(ex);
            if ex.exiting {
                self.finish(ex);
                return Ok(());
            }
        }
    }

    /// Reads put off from earlier in the turn or from earlier turns: clients whose script was
    /// busy when their readiness came, and those stopped by the fairness budget.
    fn read_deferred(&mut self, ex: &mut Executor) {
        for slot in std::mem::take(&mut self.busy_deferred) {
            if let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) {
                c.write_blocked = false;
                self.read_again.push(slot);
                self.queue_flush(slot);
            }
        }
        for slot in std::mem::take(&mut self.read_again) {
            if let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) {
                c.read_pending = false;
            }
            self.on_readable(ex, slot);
        }
    }

    /// The end of a loop turn, after its reads: links, the executor's before-sleep work,
    /// resumed clients, the AOF, replication transfers, closes and the replies.
    fn end_turn(&mut self, ex: &mut Executor) {
        self.master_link_turn(ex);
        ex.before_sleep();
        self.cluster_bus_turn(ex);
        // Clients whose wait ended may have pipelined commands waiting in their buffers.
        loop {
            let resumed = ex.take_resumed();
            if resumed.is_empty() {
                break;
            }
            for slot in resumed {
                self.process_input(ex, slot);
            }
        }
        // Writes reach the AOF (and the disk, with appendfsync always) before any reply.
        crate::persist::aof::flush(ex);
        ex.serve_aof_waiters();
        // Snapshot bytes for replicas in a full sync; while one runs, poll again soon (the
        // diskless pipe is not registered with the poller).
        self.transfer_active = crate::repl::pump(ex);
        // Clients killed this turn are gone before anyone reads a reply that says so: a
        // replica killed inside a transaction sees its link drop before the caller can
        // ask it about its link (Redis's CLIENT KILL frees other clients at once).
        self.close_pending(ex);
        self.flush_all(ex);
        self.close_pending(ex);
    }

    /// Gives the executor its way back into this loop (busy scripts, loads). Called again by
    /// `run`; the server must not move in between.
    pub fn install_hooks(&mut self, ex: &mut Executor) {
        ex.net_hooks = Some(NetHooks {
            server: self as *mut Server as *mut (),
            caller: Some(CallerFns {
                read: caller_read,
                write: caller_write,
                close: caller_close,
            }),
            serve: serve_while_busy,
            rebind: rebind_raw,
            configure_tls: configure_tls_raw,
        });
    }

    /// Redis's processEventsWhileBlocked, for a script past busy-reply-threshold or a load:
    /// accepts, reads and answers other clients (BUSY or LOADING, or the commands allowed
    /// then). The script's caller is left alone: its connection is in use up the stack.
    fn serve_busy(&mut self, ex: &mut Executor) {
        let caller = ex.running_slot;
        // Clients whose readiness came in the same batch as the caller's, or that were left
        // to read again for fairness, would otherwise wait for the script to end.
        let mut waiting = self.turn_readable.clone();
        waiting.append(&mut self.read_again);
        for &slot in &waiting {
            if Some(slot) == caller || self.is_replication_input(ex, slot) {
                self.busy_deferred.push(slot);
            } else {
                if let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) {
                    c.read_pending = false;
                }
                self.on_readable(ex, slot);
            }
        }
        // A few rounds, as Redis's processEventsWhileBlocked: a client accepted in one round
        // has its command read in the next, not at the next call.
        let mut events = Events::with_capacity(256);
        // Readiness is edge-triggered: what a round fetched is never reported again. A script
        // that turns busy in one of this round's handlers serves the rest of the round from
        // `turn_readable`, as the main loop's batch is (Redis's level-triggered epoll would
        // report them again).
        let outer_turn = std::mem::take(&mut self.turn_readable);
        for _round in 0..4 {
            if self.poll.poll(&mut events, Some(Duration::ZERO)).is_err() || events.is_empty() {
                break;
            }
            self.note_turn_readable(&events);
            for event in events.iter() {
                match event.token() {
                    SIGNAL_TOKEN => self.on_signal(ex),
                    Token(t) if Self::is_bus_token(t) => self.on_bus_event(ex, event),
                    Token(t) if t >= LISTENER_BASE => self.accept(ex, t - LISTENER_BASE),
                    Token(slot) if Some(slot) == caller || self.is_replication_input(ex, slot) => {
                        self.busy_deferred.push(slot)
                    }
                    Token(slot) => {
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.note_peer_closed(slot, event);
                            self.on_readable(ex, slot);
                        }
                        if event.is_writable() {
                            if let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) {
                                c.write_blocked = false;
                                self.queue_flush(slot);
                            }
                        }
                    }
                }
            }
        }
        self.turn_readable = outer_turn;
        for slot in std::mem::take(&mut ex.pending_write) {
            self.queue_flush(slot);
        }
        // Replies from before the script may acknowledge writes: the AOF first, as always.
        crate::persist::aof::flush(ex);
        let list = std::mem::take(&mut self.flush_list);
        for &slot in &list {
            if Some(slot) == caller {
                self.flush_list.push(slot);
            } else {
                self.flush(ex, slot);
            }
        }
        // Clients that left meanwhile go now (a long load would otherwise keep them all);
        // the caller's own end waits for its command to finish.
        let (later, now) = std::mem::take(&mut ex.to_close)
            .into_iter()
            .partition(|&slot| Some(slot) == caller);
        ex.to_close = now;
        self.close_pending(ex);
        ex.to_close = later;
        // SHUTDOWN during a load exits at once, never saving the half-loaded dataset (Redis
        // turns it into NOSAVE).
        if ex.persist.loading.is_some() {
            ex.shutdown_for_signal();
            if ex.exiting {
                self.finish(ex);
                ex.say_goodbye();
                std::process::exit(0);
            }
        }
    }

    /// Records the clients a batch of events reports readable (`turn_readable`).
    fn note_turn_readable(&mut self, events: &Events) {
        self.turn_readable.clear();
        self.turn_readable.extend(events.iter().filter_map(|e| {
            let Token(slot) = e.token();
            let readable = e.is_readable() || e.is_read_closed() || e.is_error();
            (slot < cluster_bus::BUS_BASE && readable).then_some(slot)
        }));
    }

    /// Input from our master (its handshake, or the master client): applied only after a
    /// busy script, never in the middle of it.
    fn is_replication_input(&self, ex: &Executor, slot: usize) -> bool {
        self.is_link(slot) || ex.client(slot).is_some_and(|c| c.has(cf::MASTER))
    }

    fn on_signal(&mut self, ex: &mut Executor) {
        let mut buf = [0u8; 64];
        while let Ok(n) = self.signal_rx.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        use crate::exec::shutdown::Signal;
        for (i, signal) in [Signal::Term, Signal::Int].into_iter().enumerate() {
            let count = self.signals[i].swap(0, std::sync::atomic::Ordering::SeqCst);
            for _ in 0..count {
                ex.on_shutdown_signal(signal);
            }
        }
    }

    fn accept(&mut self, ex: &mut Executor, idx: usize) {
        loop {
            let accepted = match &self.listeners[idx] {
                Listener::Tcp(l) => l.accept().map(|(s, addr)| {
                    let laddr = s.local_addr().map(|a| fmt_addr(&a)).unwrap_or_default();
                    (Stream::Tcp(s), fmt_addr(&addr), laddr, false)
                }),
                Listener::Tls(l) => l.accept().and_then(|(s, addr)| {
                    let laddr = s.local_addr().map(|a| fmt_addr(&a)).unwrap_or_default();
                    let Some((config, _)) = &self.tls else {
                        return Err(io::Error::other("TLS is not configured"));
                    };
                    let stream = tls::TlsStream::new(s, config.clone())?;
                    Ok((Stream::Tls(Box::new(stream)), fmt_addr(&addr), laddr, false))
                }),
                Listener::Unix(l) => l.accept().map(|(s, _)| {
                    let path = self.unixsocket.clone().unwrap_or_default();
                    (
                        Stream::Unix(s),
                        format!("{path}:0"),
                        format!("{path}:0"),
                        true,
                    )
                }),
            };
            let (mut stream, addr, laddr, unix) = match accepted {
                Ok(a) => a,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!("Accepting client connection: {e}");
                    return;
                }
            };
            if protected_mode_refuses(
                ex.settings.protected_mode,
                ex.acl.default_user(),
                unix,
                &addr,
            ) {
                let msg = format!("-{}\r\n", err::PROTECTED_MODE);
                let _ = stream.write(msg.as_bytes());
                ex.stats.rejected_connections += 1;
                continue;
            }
            if ex.client_count as u64 >= ex.settings.maxclients {
                let msg = format!("-{}\r\n", err::MAX_CLIENTS);
                let _ = stream.write(msg.as_bytes());
                ex.stats.rejected_connections += 1;
                continue;
            }
            use crate::exec::client::Transport;
            let (fd, transport) = match &stream {
                Stream::Tcp(s) => (
                    tcp_options(s, ex.settings.tcp_keepalive_secs),
                    Transport::Tcp,
                ),
                Stream::Tls(s) => (
                    tcp_options(&s.tcp, ex.settings.tcp_keepalive_secs),
                    Transport::Tls,
                ),
                Stream::Unix(s) => (s.as_raw_fd(), Transport::Unix),
            };
            if let Err(e) = self.add_conn(ex, stream, addr, laddr, fd, transport) {
                tracing::warn!("Registering client: {e}");
            }
        }
    }

    /// Registers an accepted connection and its client; returns its slot.
    fn add_conn(
        &mut self,
        ex: &mut Executor,
        mut stream: Stream,
        addr: String,
        laddr: String,
        fd: i32,
        transport: crate::exec::client::Transport,
    ) -> io::Result<usize> {
        let slot = self.free_slots.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        if let Err(e) =
            self.poll
                .registry()
                .register(stream.source(), Token(slot), Interest::READABLE)
        {
            self.free_slots.push(slot);
            return Err(e);
        }
        self.conns[slot] = Some(Box::new(Conn::new(stream)));
        ex.add_client(slot, addr, laddr, fd, transport);
        Ok(slot)
    }

    fn queue_flush(&mut self, slot: usize) {
        if let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) {
            if !c.queued_flush {
                c.queued_flush = true;
                self.flush_list.push(slot);
            }
        }
    }

    /// The peer closed its side (FIN, RST or an error came with this event): the next reads
    /// go on until they see it, even after a short read, or the close would go unnoticed
    /// (edge-triggered readiness does not fire again).
    fn note_peer_closed(&mut self, slot: usize, event: &mio::event::Event) {
        if event.is_read_closed() || event.is_error() {
            if let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) {
                c.peer_closed = true;
            }
        }
    }

    /// Reads what the socket has (within a fairness budget) and runs the complete commands.
    fn on_readable(&mut self, ex: &mut Executor, slot: usize) {
        self.read_and_process(ex, slot, None);
    }

    /// A plain client connection whose reads may go to an io-thread (not a replication
    /// link or our master's stream, whose reads feed replication state; not TLS, whose
    /// session state stays on this thread).
    fn reads_alone(&self, ex: &Executor, slot: usize) -> bool {
        let Some(conn) = self.conns.get(slot).and_then(Option::as_ref) else {
            return false;
        };
        !self.is_link(slot)
            && conn.stream.short_read_drains()
            && !(conn.dead || conn.read_pending || conn.eof)
            && ex
                .client(slot)
                .is_some_and(|c| !c.has(cf::MASTER | cf::REPLICA))
    }

    /// The read of each client set aside this turn, done by the io-threads at once; then
    /// each client's commands run here, in the order the events came.
    fn read_batch_threaded(&mut self, ex: &mut Executor) {
        if self.read_batch.is_empty() {
            return;
        }
        self.jobs.clear();
        self.job_slots.clear();
        for &slot in &self.read_batch {
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let Some(client) = ex.client(slot) else {
                continue;
            };
            let limits = ParseLimits {
                max_bulk_len: ex.settings.proto_max_bulk_len,
                auth_required: !client.authenticated,
            };
            let (want, before_spare) = read_sizes(conn);
            let id = client.id;
            self.jobs.push(io_threads::Job::read(conn, want, limits));
            self.job_slots.push((slot, before_spare, id));
        }
        self.read_batch.clear();
        // SAFETY: each job holds a distinct live connection (the batch came from one turn's
        // events, one per slot), and nothing here touches them until `run` returns.
        unsafe { self.io.run(&mut self.jobs) };
        ex.stats.io_threaded_reads_processed += self.jobs.len() as u64;
        let mut jobs = std::mem::take(&mut self.jobs);
        let job_slots = std::mem::take(&mut self.job_slots);
        for (job, &(slot, before_spare, id)) in jobs.drain(..).zip(&job_slots) {
            // A busy script met earlier in the batch lets the loop serve others meanwhile,
            // and a slot closed then may hold a new connection by now.
            let same = ex.client(slot).is_some_and(|c| c.id == id);
            if let (io_threads::Job::Read { result, .. }, true) = (job, same) {
                self.read_and_process(ex, slot, Some((result, before_spare)));
            }
        }
        self.jobs = jobs;
        self.job_slots = job_slots;
    }

    /// `on_readable`, where `done` is the outcome of a first read an io-thread made.
    fn read_and_process(
        &mut self,
        ex: &mut Executor,
        slot: usize,
        mut done: Option<(io::Result<usize>, usize)>,
    ) {
        if self.is_link(slot) {
            return self.on_link_event(ex, slot);
        }
        let from_master = ex.client(slot).is_some_and(|c| c.has(cf::MASTER));
        for _ in 0..limits::READS_PER_TURN {
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            let (result, before_spare) = match done.take() {
                Some(done) => done,
                None => {
                    if conn.dead || conn.read_pending || conn.eof {
                        return;
                    }
                    let (want, before_spare) = read_sizes(conn);
                    (conn.read_some(want), before_spare)
                }
            };
            ex.stats.total_reads_processed += 1;
            match result {
                Ok(0) if !from_master => {
                    // End of stream: replies already due still go out, then the connection
                    // closes (Redis frees the client on its next read, after writing).
                    conn.eof = true;
                    if let Some(c) = ex.client_mut(slot) {
                        c.flags |= cf::CLOSE_AFTER_REPLY;
                    }
                    self.queue_flush(slot);
                    return;
                }
                Ok(0) => {
                    conn.dead = true;
                    ex.close_client_asap(slot);
                    return;
                }
                Ok(n) => {
                    ex.stats.total_net_input_bytes += n as u64;
                    if let Some(c) = ex.client_mut(slot) {
                        c.net_input_bytes += n as u64;
                    }
                    if from_master {
                        ex.stats.total_net_repl_input_bytes += n as u64;
                        let now_ms = ex.clock.now_ms();
                        if let Some(m) = ex.repl.master.as_mut() {
                            m.read_offset += n as u64;
                            m.last_io_ms = now_ms;
                        }
                    }
                    // Our master's stream is exempt (a big MULTI may be on its way).
                    if conn.qend - conn.qpos > ex.settings.client_query_buffer_limit && !from_master
                    {
                        tracing::warn!("Closing client that reached max query buffer length");
                        ex.stats.client_query_buffer_limit_disconnections += 1;
                        conn.dead = true;
                        ex.close_client_asap(slot);
                        return;
                    }
                    let drains = conn.stream.short_read_drains() && !conn.peer_closed;
                    if conn.stream.has_pending_output() {
                        // The TLS handshake (or an alert) has records to send.
                        self.queue_flush(slot);
                    }
                    self.process_input(ex, slot);
                    // A short read means the socket is drained (edge-triggered readiness
                    // will fire again for new data).
                    if n < before_spare && drains {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if conn.stream.has_pending_output() {
                        self.queue_flush(slot);
                    }
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    conn.dead = true;
                    ex.close_client_asap(slot);
                    return;
                }
            }
            let paused = ex.client(slot).is_none_or(|c| {
                c.has(cf::CLOSE_AFTER_REPLY | cf::CLOSE_ASAP | cf::BLOCKED | cf::POSTPONED)
            });
            if paused {
                return;
            }
        }
        // Budget used up: come back next turn instead of starving others.
        if let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) {
            conn.read_pending = true;
            self.read_again.push(slot);
        }
    }

    /// Parses and executes every complete command in the query buffer.
    fn process_input(&mut self, ex: &mut Executor, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let scratch = if ex.script_busy.is_some() {
            &mut self.busy_scratch
        } else {
            &mut self.argv_scratch
        };
        loop {
            if ex.exiting {
                break;
            }
            let mut max_bulk_len = ex.settings.proto_max_bulk_len;
            let busy = ex.script_busy.is_some();
            let Some(client) = ex.client_mut(slot) else {
                break;
            };
            if client.has(cf::CLOSE_AFTER_REPLY | cf::CLOSE_ASAP | cf::BLOCKED | cf::POSTPONED) {
                break;
            }
            let from_master = client.has(cf::MASTER);
            if from_master {
                if busy {
                    // Applied once the script is over.
                    self.busy_deferred.push(slot);
                    break;
                }
                max_bulk_len = i64::MAX;
            }
            (client.qbuf_len, client.qbuf_free) = conn.qbuf_usage();
            let limits = ParseLimits {
                max_bulk_len,
                auth_required: !client.authenticated,
            };
            let input = &conn.qbuf[conn.qpos..conn.qend];
            match conn.parser.parse(input, limits) {
                Ok(Parsed::Incomplete) => break,
                Ok(Parsed::Command { consumed }) => {
                    prefetch_pipelined(ex, slot, &input[consumed..]);
                    ex.caller_stream = &mut conn.stream as *mut Stream as *mut ();
                    let executed = conn.parser.with_argv(input, scratch, |argv| {
                        argv.is_empty() || ex.execute(slot, argv)
                    });
                    ex.caller_stream = std::ptr::null_mut();
                    conn.parser.reset();
                    if !executed {
                        // Postponed by CLIENT PAUSE: leave the command unread until resumed.
                        break;
                    }
                    if from_master {
                        // Applied stream goes on to our replicas and backlog, a transaction
                        // as a whole (Redis's replicationFeedStreamFromMasterStream).
                        let applied = &conn.qbuf[conn.qpos..conn.qpos + consumed];
                        let in_multi = ex.client(slot).is_some_and(|c| c.multi.is_some());
                        crate::repl::applied_from_master(ex, applied, in_multi);
                    }
                    conn.qpos += consumed;
                }
                Err(e) => {
                    tracing::debug!("Protocol error from client: {}", e.message());
                    ex.protocol_error(slot, &e.message_bytes());
                    conn.qpos = conn.qend;
                    conn.parser.reset();
                    break;
                }
            }
        }
        conn.compact();
        if let Some(client) = ex.client_mut(slot) {
            (client.qbuf_len, client.qbuf_free) = conn.qbuf_usage();
            // SYNC/PSYNC made it a replica: repl-disable-tcp-nodelay trades latency for
            // fewer, bigger packets on its stream (Redis sets it once, at the sync).
            if client.has(cf::REPLICA) && !conn.replica_tuned {
                conn.replica_tuned = true;
                if ex.cfg.get_bool("repl-disable-tcp-nodelay") {
                    conn.stream.set_nodelay(false);
                }
            }
        }
        if ex.client(slot).is_some_and(|c| c.pending_output() > 0) {
            self.queue_flush(slot);
        }
    }

    /// The cron's pass over query buffers (see `Conn::resize`). When many clients went idle
    /// at once (a burst of connections, then quiet), the allocator is asked to hand the
    /// freed pages back now rather than after its decay time: an idle client then costs
    /// only its records, not the page its last read touched.
    fn resize_query_buffers(&mut self, ex: &mut Executor) {
        const PURGE_AFTER_RELEASING: usize = 1 << 20;
        let now_ms = ex.clock.now_ms();
        let mut released = 0;
        for (slot, conn) in self.conns.iter_mut().enumerate() {
            let (Some(conn), Some(client)) = (conn.as_mut(), ex.client_mut(slot)) else {
                continue;
            };
            released += conn.resize((now_ms - client.last_interaction_ms) / 1000);
            (client.qbuf_len, client.qbuf_free) = conn.qbuf_usage();
        }
        if released >= PURGE_AFTER_RELEASING {
            crate::alloc::purge();
        }
    }

    /// Writes queued output for every client that has some; in a busy turn the io-threads
    /// write plain clients' replies in parallel.
    fn flush_all(&mut self, ex: &mut Executor) {
        for slot in std::mem::take(&mut ex.pending_write) {
            self.queue_flush(slot);
        }
        let list = std::mem::take(&mut self.flush_list);
        // A turn with nothing to write leaves the threads as they were, as in Redis (INFO
        // then still shows the last busy turn's state).
        let threaded = !list.is_empty() && self.io.worth_it(list.len());
        if !list.is_empty() {
            ex.stats.io_threads_active = threaded;
        }
        if threaded {
            self.flush_threaded(ex, &list);
        } else {
            for &slot in &list {
                self.flush(ex, slot);
            }
        }
        self.flush_list = list;
        self.flush_list.clear();
    }

    /// The io-threads write every plain client's reply at once (not a replica's, whose
    /// stream follows from the replication buffer, nor TLS); then each is finished here.
    fn flush_threaded(&mut self, ex: &mut Executor, list: &[usize]) {
        self.jobs.clear();
        self.job_slots.clear();
        for &slot in list {
            let (Some(conn), Some(client)) = (
                self.conns.get_mut(slot).and_then(Option::as_mut),
                ex.client(slot),
            ) else {
                continue;
            };
            let plain = conn.stream.short_read_drains() && !conn.stream.has_pending_output();
            if plain
                && !conn.dead
                && !client.has(cf::CLOSE_ASAP | cf::REPLICA)
                && client.out_sent < client.out.buf.len()
            {
                self.jobs.push(io_threads::Job::write(
                    conn,
                    &client.out.buf[client.out_sent..],
                ));
                self.job_slots.push((slot, 0, client.id));
            }
        }
        // SAFETY: each job holds a distinct live connection (flush_list holds a slot once)
        // and its client's pending output, which nothing touches until `run` returns.
        unsafe { self.io.run(&mut self.jobs) };
        ex.stats.io_threaded_writes_processed += self.jobs.len() as u64;
        let mut jobs = std::mem::take(&mut self.jobs);
        let job_slots = std::mem::take(&mut self.job_slots);
        let mut threaded = job_slots.iter().map(|&(slot, _, _)| slot).peekable();
        let mut outcomes = jobs.drain(..).map(|job| match job {
            io_threads::Job::Write { outcome, .. } => outcome,
            io_threads::Job::Read { .. } => unreachable!("a write batch"),
        });
        for &slot in list {
            if threaded.peek() == Some(&slot) {
                threaded.next();
                self.flush_with(ex, slot, outcomes.next());
            } else {
                self.flush(ex, slot);
            }
        }
        drop(outcomes);
        self.jobs = jobs;
        self.job_slots = job_slots;
    }

    fn flush(&mut self, ex: &mut Executor, slot: usize) {
        self.flush_with(ex, slot, None);
    }

    /// Writes a client's pending output (unless an io-thread already did: `by_thread`),
    /// then its replica stream and TLS records, and settles the connection's state.
    fn flush_with(
        &mut self,
        ex: &mut Executor,
        slot: usize,
        by_thread: Option<io_threads::WriteOutcome>,
    ) {
        let registry = self.poll.registry();
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        conn.queued_flush = false;
        let Some(client) = ex.client_mut(slot) else {
            return;
        };
        if conn.dead || client.has(cf::CLOSE_ASAP) {
            return;
        }
        let outcome = match by_thread {
            Some(outcome) => outcome,
            None if client.out_sent < client.out.buf.len() => {
                io_threads::write_all(conn, &client.out.buf[client.out_sent..])
            }
            None => io_threads::WriteOutcome::default(),
        };
        let wrote = by_thread.is_some() || client.out_sent < client.out.buf.len();
        client.out_sent += outcome.written;
        conn.write_blocked |= outcome.blocked;
        conn.dead |= outcome.failed;
        let mut written = outcome.written as u64;
        let replica = client.has(cf::REPLICA);
        let out_done = client.out_sent == client.out.buf.len();
        // A replica's stream follows its own replies, from the shared replication buffer.
        if replica && out_done && !conn.dead && !conn.write_blocked {
            let streamed = write_stream(conn, ex, slot);
            written += streamed;
        }
        let Some(client) = ex.client_mut(slot) else {
            return;
        };
        if !conn.dead && !conn.write_blocked {
            match conn.stream.flush_pending() {
                Ok(true) => {}
                Ok(false) => conn.write_blocked = true,
                Err(_) => conn.dead = true,
            }
        }
        client.net_output_bytes += written;
        let done = client.out_sent == client.out.buf.len() && !conn.stream.has_pending_output();
        // Ask for write readiness only while output is stuck (as Redis installs its write
        // handler): a permanent EPOLLOUT registration would wake the loop after every ACK.
        if conn.write_blocked != conn.watching_writes && !conn.dead {
            let interest = if conn.write_blocked {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if registry
                .reregister(conn.stream.source(), Token(slot), interest)
                .is_ok()
            {
                conn.watching_writes = conn.write_blocked;
            }
        }
        client.compact_output();
        // After the end of stream, one write of what is due, then close (as Redis: a peer
        // that stopped sending does not hold a connection open by not reading).
        let close = conn.dead || conn.eof || (done && client.has(cf::CLOSE_AFTER_REPLY));
        // What a replica is sent counts as replication output, snapshot included (Redis's
        // stat_net_repl_output_bytes), never as client output.
        if replica {
            ex.stats.total_net_repl_output_bytes += written;
        } else {
            ex.stats.total_net_output_bytes += written;
        }
        ex.stats.total_writes_processed += u64::from(wrote);
        if close {
            ex.close_client_asap(slot);
        }
    }

    /// Closes the clients the executor or the I/O marked for closing.
    fn close_pending(&mut self, ex: &mut Executor) {
        for slot in std::mem::take(&mut ex.to_close) {
            if let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) {
                let _ = self.poll.registry().deregister(conn.stream.source());
                if !ex.client(slot).is_some_and(|c| c.has(cf::DETACHED)) {
                    conn.stream.close_notify();
                }
                drop(conn);
                ex.remove_client(slot);
                self.free_slots.push(slot);
            }
        }
    }

    /// Replaces the TCP listeners (the unix socket stays). The old ones close first, as in
    /// Redis's changeListener: `*` on a port cannot be bound beside our own 127.0.0.1 on it.
    /// If the new ones fail, the old addresses are bound again.
    fn rebind(&mut self, ex: &mut Executor, port: u16, bind: &[String]) -> io::Result<()> {
        let is_tcp = |l: &Listener| matches!(l, Listener::Tcp(_));
        self.replace_listeners(Vec::new(), is_tcp)?;
        let backlog = ex.settings.tcp_backlog;
        let fresh = match bind_tcp_listeners(port, bind, backlog) {
            Ok(fresh) => fresh,
            Err(e) => {
                let old = bind_tcp_listeners(ex.settings.port, &ex.settings.bind, backlog)?;
                self.replace_listeners(old.into_iter().map(Listener::Tcp).collect(), is_tcp)?;
                return Err(e);
            }
        };
        self.replace_listeners(fresh.into_iter().map(Listener::Tcp).collect(), is_tcp)?;
        ex.tcp_port = match self.listeners.first() {
            Some(Listener::Tcp(l)) => l.local_addr()?.port(),
            _ => port,
        };
        Ok(())
    }

    /// Swaps the listeners `old` selects for `fresh`, registering them all again.
    fn replace_listeners(
        &mut self,
        fresh: Vec<Listener>,
        old: impl Fn(&Listener) -> bool,
    ) -> io::Result<()> {
        let registry = self.poll.registry();
        for l in &mut self.listeners {
            let _ = registry.deregister(l.source());
        }
        let kept: Vec<Listener> = std::mem::take(&mut self.listeners)
            .into_iter()
            .filter(|l| !old(l))
            .collect();
        // TCP first (INFO's tcp_port is the first one's), then TLS, then the unix socket.
        let mut all: Vec<Listener> = fresh.into_iter().chain(kept).collect();
        all.sort_by_key(|l| match l {
            Listener::Tcp(_) => 0,
            Listener::Tls(_) => 1,
            Listener::Unix(_) => 2,
        });
        self.listeners = all;
        for (i, l) in self.listeners.iter_mut().enumerate() {
            registry.register(l.source(), Token(LISTENER_BASE + i), Interest::READABLE)?;
        }
        Ok(())
    }

    /// CONFIG SET of tls-* (through `NetHooks`): a new TLS configuration for new
    /// connections, and the tls-port listeners if the port or bind addresses changed.
    fn configure_tls(&mut self, s: &crate::config::Settings) -> Result<(), String> {
        let tls = tls_for(s).map_err(|e| e.to_string())?;
        let old_port = self.listeners.iter().find_map(|l| match l {
            Listener::Tls(t) => t.local_addr().ok().map(|a| a.port()),
            _ => None,
        });
        if old_port != (s.tls_port != 0).then_some(s.tls_port) {
            let fresh = bind_tcp_listeners(s.tls_port, &s.bind, s.tcp_backlog)
                .map_err(|e| format!("Failed listening on port {} (tls): {e}", s.tls_port))?;
            self.replace_listeners(fresh.into_iter().map(Listener::Tls).collect(), |l| {
                matches!(l, Listener::Tls(_))
            })
            .map_err(|e| e.to_string())?;
        }
        self.tls = tls;
        Ok(())
    }

    /// Final flush and cleanup before exit.
    fn finish(&mut self, ex: &mut Executor) {
        self.flush_all(ex);
        if let Some(path) = &self.unixsocket {
            let _ = std::fs::remove_file(path);
        }
        self.listeners.clear();
    }
}

/// The TCP listeners for `port` on every `bind` address (none for port 0). An address with a
/// leading `-` is optional: failing to bind it is not an error.
/// While a pipeline runs, the keys of the next two commands are prefetched: the next one's
/// first chain node (its bucket was hinted a command ago), the one after's bucket. Keyspace
/// lookups are cache misses once the data outgrows the cache; this overlaps them with the
/// commands before. A hint only: nothing is read that a command would not read anyway.
#[inline]
fn prefetch_pipelined(ex: &Executor, slot: usize, after: &[u8]) {
    let Some((next, len)) = crate::resp::parse::peek_key(after) else {
        return;
    };
    let Some(db) = ex.client(slot).and_then(|c| ex.dbs.get(c.db)) else {
        return;
    };
    db.keys().prefetch(next, true);
    if let Some((then, _)) = crate::resp::parse::peek_key(&after[len..]) {
        db.keys().prefetch(then, false);
    }
}

/// The size hint for a client's next read (a pending big bulk) and the room it reads into:
/// a read that fills the room may have left data in the socket.
fn read_sizes(conn: &Conn) -> (usize, usize) {
    let want = conn
        .parser
        .pending_bulk_bytes(conn.qend - conn.qpos)
        .unwrap_or(0);
    (want, conn.spare().max(limits::IOBUF_LEN.max(want)))
}

fn bind_tcp_listeners(port: u16, bind: &[String], backlog: i32) -> io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    if port == 0 {
        return Ok(listeners);
    }
    for addr in bind {
        let (optional, addr) = match addr.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, addr.as_str()),
        };
        let ip = match addr {
            "*" => "0.0.0.0",
            "::*" => "::",
            other => other,
        };
        let Ok(sa) = format!("{ip}:{port}")
            .parse::<SocketAddr>()
            .or_else(|_| format!("[{ip}]:{port}").parse())
        else {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!("Invalid bind address '{addr}'"),
            ));
        };
        match bind_tcp(sa, backlog) {
            Ok(l) => listeners.push(l),
            Err(e) if optional => {
                tracing::debug!("Skipping optional bind {sa}: {e}");
            }
            Err(e) => {
                tracing::warn!("Warning: Could not create server TCP listening socket {sa}: {e}");
                return Err(e);
            }
        }
    }
    Ok(listeners)
}

/// The TLS configuration the settings ask for: none without a tls-port.
fn tls_for(
    s: &crate::config::Settings,
) -> io::Result<Option<(Arc<rustls::ServerConfig>, tls::TlsSettings)>> {
    if s.tls_port == 0 {
        return Ok(None);
    }
    let config =
        tls::server_config(&s.tls).map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
    Ok(Some((config, s.tls.clone())))
}

/// A non-blocking connect to `addr`, from bind-source-addr when it is set (Redis binds its
/// outgoing replication and cluster-bus sockets to it).
pub fn connect_from(addr: std::net::SocketAddr, source: &[u8]) -> io::Result<mio::net::TcpStream> {
    if source.is_empty() {
        return mio::net::TcpStream::connect(addr);
    }
    let source: std::net::IpAddr = std::str::from_utf8(source)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "invalid bind-source-addr"))?;
    use socket2::{Domain, Protocol, Socket, Type};
    // socket2 creates it close-on-exec.
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.bind(&std::net::SocketAddr::new(source, 0).into())?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(mio::net::TcpStream::from_std(socket.into()))
}

/// Socket options of an accepted TCP connection; returns its fd.
fn tcp_options(s: &mio::net::TcpStream, keepalive_secs: u32) -> i32 {
    let _ = s.set_nodelay(true);
    set_keepalive(s.as_raw_fd(), keepalive_secs);
    s.as_raw_fd()
}

/// CONFIG SET of the TLS directives (through `NetHooks`).
unsafe fn configure_tls_raw(
    server: *mut (),
    _ex: &mut Executor,
    settings: &crate::config::Settings,
) -> Result<(), String> {
    // SAFETY: the caller passes the server that installed the hooks (see `NetHooks`).
    let server = unsafe { &mut *(server as *mut Server) };
    server.configure_tls(settings)
}

/// CONFIG SET port/bind (through `NetHooks`): binds the new TCP listeners first, so a failure
/// leaves the old ones serving, then swaps them in.
unsafe fn rebind_raw(
    server: *mut (),
    ex: &mut Executor,
    port: u16,
    bind: &[String],
) -> io::Result<()> {
    // SAFETY: the caller passes the server that installed the hooks (see `NetHooks`).
    let server = unsafe { &mut *(server as *mut Server) };
    server.rebind(ex, port, bind)
}

fn bind_tcp(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let domain = if addr.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    // SAFETY: plain socket(2) call; the fd is owned by the std listener below.
    let fd = unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket we own.
    let owned = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    // SAFETY: valid fd and option pointer/length.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            4,
        );
        if addr.is_ipv6() {
            libc::setsockopt(
                fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                (&one as *const libc::c_int).cast(),
                4,
            );
        }
    }
    let std_listener = std::net::TcpListener::from(owned);
    let sock2: std::net::SocketAddr = addr;
    bind_and_listen(&std_listener, sock2, backlog)?;
    std_listener.set_nonblocking(true)?;
    Ok(TcpListener::from_std(std_listener))
}

fn bind_and_listen(l: &std::net::TcpListener, addr: SocketAddr, backlog: i32) -> io::Result<()> {
    let fd = l.as_raw_fd();
    let (storage, len) = sockaddr(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes.
    if unsafe { libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: valid listening socket fd.
    if unsafe { libc::listen(fd, backlog.max(1)) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; zero is a valid start.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            (
                storage,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            (
                storage,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

fn set_keepalive(fd: i32, secs: u32) {
    if secs == 0 {
        return;
    }
    let one: libc::c_int = 1;
    let idle = secs as libc::c_int;
    let intvl = (secs / 3).max(1) as libc::c_int;
    let cnt: libc::c_int = 3;
    // SAFETY: valid socket fd and option pointers/lengths (Redis's anetKeepAlive).
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_KEEPALIVE,
            (&one as *const libc::c_int).cast(),
            4,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPIDLE,
            (&idle as *const libc::c_int).cast(),
            4,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPINTVL,
            (&intvl as *const libc::c_int).cast(),
            4,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPCNT,
            (&cnt as *const libc::c_int).cast(),
            4,
        );
    }
}

/// Redis's connIsLocal: 127.0.0.0/8 or ::1 (also IPv4-mapped loopback).
/// Protected mode (Redis's default): while the default user needs no password, only local
/// peers (loopback, the unix socket) may connect.
fn protected_mode_refuses(
    protected_mode: bool,
    default_user: &crate::acl::User,
    unix: bool,
    peer: &str,
) -> bool {
    protected_mode && default_user.nopass && !unix && !is_loopback(peer)
}

/// The host part of an "ip:port" address.
pub fn addr_host(addr: &str) -> &str {
    match addr.rsplit_once(':') {
        Some((ip, _)) => ip,
        None => addr,
    }
}

pub fn is_loopback(addr: &str) -> bool {
    let ip = addr_host(addr);
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(std::net::IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// "ip:port" as Redis prints it (IPv6 without brackets).
fn fmt_addr(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => format!("{}:{}", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => format!("{}:{}", v6.ip(), v6.port()),
    }
}

/// How long the loop polls without sleeping after a turn that had events.
const SPIN_BEFORE_SLEEP: Duration = Duration::from_micros(60);

/// The executor's way back into the loop while a script is busy.
///
/// # Safety
/// `server` is the `Server` whose `run` installed the poller, still running.
unsafe fn serve_while_busy(server: *mut (), ex: &mut Executor) {
    unsafe { (*(server as *mut Server)).serve_busy(ex) }
}

/// Writes a replica's pending stream from the shared replication buffer, a block at a time,
/// until the socket is full or the replica has everything. Returns the bytes written.
fn write_stream(conn: &mut Conn, ex: &mut Executor, slot: usize) -> u64 {
    let mut written = 0u64;
    loop {
        let chunk = crate::repl::stream_chunk(&ex.repl, slot);
        if chunk.is_empty() {
            break;
        }
        match conn.write(chunk) {
            Ok(n) => {
                written += n as u64;
                crate::repl::stream_sent(ex, slot, n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                conn.write_blocked = true;
                break;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                conn.dead = true;
                break;
            }
        }
    }
    written
}

#[cfg(test)]
mod tests {
    #[test]
    fn protected_mode_admits_local_peers_or_a_password() {
        let mut default = crate::acl::User::new_default();
        let refuses =
            |d: &crate::acl::User, on, unix, peer| super::protected_mode_refuses(on, d, unix, peer);
        assert!(refuses(&default, true, false, "10.1.2.3:5000"));
        assert!(refuses(&default, true, false, "2001:db8::1:5000"));
        assert!(!refuses(&default, true, false, "127.0.0.1:5000"));
        assert!(!refuses(&default, true, true, "/tmp/redis.sock:0"));
        assert!(!refuses(&default, false, false, "10.1.2.3:5000"));
        default.apply(b">secret", false).unwrap();
        assert!(!refuses(&default, true, false, "10.1.2.3:5000"));
    }

    #[test]
    fn loopback_detection() {
        assert!(super::is_loopback("127.0.0.1:5000"));
        assert!(super::is_loopback("127.8.9.10:1"));
        assert!(super::is_loopback("::1:6379"));
        assert!(super::is_loopback("::ffff:127.0.0.1:80"));
        assert!(!super::is_loopback("10.0.0.1:5000"));
        assert!(!super::is_loopback("fe80::1:5000"));
    }
}
