//! Per-connection state the executor keeps: selected db, protocol, name, auth, flags and the
//! reply buffer. The socket and the query buffer stay in `net`.

use crate::resp::reply::ReplyBuf;

/// Client flags (a subset of Redis's CLIENT_* flags, named as CLIENT LIST prints them).
pub mod flags {
    /// Close after the pending replies are written (QUIT, protocol errors).
    pub const CLOSE_AFTER_REPLY: u32 = 1 << 0;
    /// Close as soon as possible, without writing more (CLIENT KILL, limits).
    pub const CLOSE_ASAP: u32 = 1 << 1;
    /// CLIENT NO-EVICT ON.
    pub const NO_EVICT: u32 = 1 << 2;
    /// CLIENT NO-TOUCH ON (7.2): commands other than TOUCH do not update access times.
    pub const NO_TOUCH: u32 = 1 << 3;
    /// Connected through the unix socket.
    pub const UNIX_SOCKET: u32 = 1 << 4;
    /// Inside MULTI.
    pub const MULTI: u32 = 1 << 5;
    /// Blocked in a blocking command.
    pub const BLOCKED: u32 = 1 << 6;
    /// Waiting for CLIENT PAUSE to end, its next command still unread.
    pub const POSTPONED: u32 = 1 << 10;
    /// In MONITOR mode.
    pub const MONITOR: u32 = 1 << 11;
    /// A watched key changed: EXEC will fail.
    pub const DIRTY_CAS: u32 = 1 << 8;
    /// A command could not be queued: EXEC will abort.
    pub const DIRTY_EXEC: u32 = 1 << 9;
    /// Subscribed to channels or patterns.
    pub const PUBSUB: u32 = 1 << 7;
    /// CLIENT TRACKING ON.
    pub const TRACKING: u32 = 1 << 12;
    /// The redirect client went away.
    pub const TRACKING_BROKEN_REDIR: u32 = 1 << 13;
    pub const TRACKING_BCAST: u32 = 1 << 14;
    pub const TRACKING_OPTIN: u32 = 1 << 15;
    pub const TRACKING_OPTOUT: u32 = 1 << 16;
    /// CLIENT CACHING YES/NO given for the next command.
    pub const TRACKING_CACHING: u32 = 1 << 17;
    pub const TRACKING_NOLOOP: u32 = 1 << 18;
    /// Blocking commands answer at once (the AOF loader's client, as Redis's).
    pub const DENY_BLOCKING: u32 = 1 << 19;
    /// The scripts' client (Redis's CLIENT_SCRIPT): runs what redis.call asks for.
    pub const SCRIPT: u32 = 1 << 20;
    /// Replays what an earlier run already decided (the AOF loader, later a master): its
    /// commands are obeyed as written (Redis's mustObeyClient).
    pub const OBEY: u32 = 1 << 21;
    /// A replica attached to this server (PSYNC/SYNC): its output is the replication stream.
    pub const REPLICA: u32 = 1 << 22;
    /// The link to this server's master: its commands are applied, replies are not sent.
    pub const MASTER: u32 = 1 << 23;
    /// READONLY: a cluster replica serves this client's reads of its master's slots.
    pub const READONLY: u32 = 1 << 24;
    /// ASKING: the next command may address a slot this node is importing.
    pub const ASKING: u32 = 1 << 25;
    /// Connected over TLS (cluster replies then name TLS ports).
    pub const TLS: u32 = 1 << 26;
    /// SCRIPT DEBUG YES/SYNC: the next EVAL runs under the Lua debugger.
    pub const LUA_DEBUG: u32 = 1 << 27;
    /// SCRIPT DEBUG SYNC: in this process, not a forked child.
    pub const LUA_DEBUG_SYNC: u32 = 1 << 28;
    /// The connection went to a forked Lua debugging session: this side lets go of it
    /// without a word (a TLS close_notify would end the child's session).
    pub const DETACHED: u32 = 1 << 29;
}

/// How a connection reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Unix,
    Tls,
}

/// A client's pub/sub subscriptions.
#[derive(Debug, Default)]
pub struct Subscriptions {
    pub channels: std::collections::HashSet<Vec<u8>>,
    pub patterns: std::collections::HashSet<Vec<u8>>,
    pub shard: std::collections::HashSet<Vec<u8>>,
}

impl Subscriptions {
    /// Redis's clientSubscriptionsCount (channels + patterns).
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0 && self.shard.is_empty()
    }
}

/// REPLCONF's settings for a connection (a replica, or `redis-cli --rdb`).
#[derive(Debug, Default, Clone)]
pub struct ReplConf {
    /// rdb-only 1: SYNC sends the snapshot alone and closes.
    pub rdb_only: bool,
    pub listening_port: u16,
    /// ip-address.
    pub announced_ip: Option<String>,
    /// capa eof (diskless transfer understood) and capa psync2.
    pub capa_eof: bool,
    pub capa_psync2: bool,
    /// rdb-filter-only: the snapshot holds only what is listed (no keys).
    pub rdb_filter: Option<RdbFilter>,
}

/// A replica's request for a partial snapshot (REPLCONF rdb-filter-only): no keys, and
/// the function libraries if `functions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RdbFilter {
    pub functions: bool,
}

/// CLIENT REPLY mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    /// Skipping the current command's reply (SkipNext after it was armed).
    Skip,
}

/// A reply buffer's initial and largest size, and its smallest (Redis's
/// PROTO_REPLY_CHUNK_BYTES, PROTO_REPLY_MIN_BYTES).
pub const REPLY_CHUNK_BYTES: usize = 16 * 1024;
pub const REPLY_MIN_BYTES: usize = 1024;

/// How the cron changed a reply buffer.
pub enum Resized {
    Shrunk,
    Expanded,
}

pub struct Client {
    pub id: u64,
    /// Index in the client table; equals the event-loop token.
    pub slot: usize,
    pub out: ReplyBuf,
    /// Bytes of `out` already written to the socket.
    pub out_sent: usize,
    /// Output other clients' commands queued here (invalidations, Pub/Sub messages) since
    /// the buffer last emptied: its room goes back once written (`compact_output`).
    pub foreign_output: bool,
    /// The reply buffer as Redis sizes it (CLIENT LIST rbs / rbp): its size, grown and shrunk
    /// by the cron after the most reply bytes one command left pending (the peak), and when
    /// the peak last restarted. `out` keeps this much room between replies.
    pub rbuf_size: usize,
    pub rbuf_peak: usize,
    pub rbuf_peak_reset_ms: i64,
    pub db: usize,
    pub name: Option<Vec<u8>>,
    pub lib_name: Option<Vec<u8>>,
    pub lib_ver: Option<Vec<u8>>,
    pub authenticated: bool,
    /// The user this connection runs as (the default user until AUTH says otherwise).
    pub user: crate::acl::UserId,
    pub flags: u32,
    pub reply_mode: ReplyMode,
    pub created_ms: i64,
    pub last_interaction_ms: i64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    /// Query buffer length and free space, reported by the network layer.
    pub qbuf_len: usize,
    /// The propagation offset right after this client's last write (WAITAOF waits for it).
    pub woff: u64,
    /// Replication offset the client's last write reached (WAIT).
    pub repl_woff: u64,
    /// Replicas a blocked WAITAOF waits for (none can answer yet: it waits for its timeout).
    pub wait_replicas: i64,
    pub qbuf_free: usize,
    /// Arguments and their total size of the command being run (CLIENT LIST argv-mem).
    pub argv_len: usize,
    pub argv_mem: usize,
    /// Full name of the last command run (CLIENT LIST cmd).
    pub last_cmd: &'static str,
    /// When the output buffer first went over the soft limit (ms), if it is over now.
    pub obuf_soft_since_ms: Option<i64>,
    /// Channels, patterns and shard channels this client is subscribed to.
    pub subs: Subscriptions,
    /// The queued transaction after MULTI.
    pub multi: Option<Box<super::multi::MultiState>>,
    /// Keys WATCHed by this client.
    pub watched: Vec<super::multi::Watched>,
    /// The wait of a client parked by a blocking command.
    pub blocked: Option<Box<super::blocking::Blocked>>,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub commands_processed: u64,
    /// CLIENT TRACKING REDIRECT target (0: none).
    pub tracking_redirect: u64,
    /// BCAST prefixes, sorted.
    pub tracking_prefixes: Vec<Vec<u8>>,
    /// REPLCONF rdb-only 1: the client wants a snapshot (redis-cli --rdb), not a replication
    /// stream.
    /// What a replica said about itself (REPLCONF), boxed: most clients never say anything.
    replconf: Option<Box<ReplConf>>,
}

impl Client {
    pub fn new(id: u64, slot: usize, now_ms: i64) -> Self {
        Client {
            id,
            slot,
            out: ReplyBuf::new(),
            out_sent: 0,
            foreign_output: false,
            rbuf_size: REPLY_CHUNK_BYTES,
            rbuf_peak: 0,
            rbuf_peak_reset_ms: now_ms,
            db: 0,
            name: None,
            lib_name: None,
            lib_ver: None,
            authenticated: false,
            user: crate::acl::DEFAULT_USER,
            flags: 0,
            reply_mode: ReplyMode::On,
            created_ms: now_ms,
            last_interaction_ms: now_ms,
            addr: String::new(),
            laddr: String::new(),
            fd: -1,
            qbuf_len: 0,
            woff: 0,
            repl_woff: 0,
            wait_replicas: 0,
            qbuf_free: 0,
            argv_len: 0,
            argv_mem: 0,
            last_cmd: "NULL",
            obuf_soft_since_ms: None,
            subs: Subscriptions::default(),
            multi: None,
            watched: Vec::new(),
            blocked: None,
            net_input_bytes: 0,
            net_output_bytes: 0,
            commands_processed: 0,
            tracking_redirect: 0,
            tracking_prefixes: Vec::new(),
            replconf: None,
        }
    }

    #[inline]
    /// The last command's full name for log lines, "<unknown>" before any (Redis's
    /// lastcmd->fullname fallback).
    pub fn last_cmd_for_log(&self) -> &'static str {
        if self.last_cmd == "NULL" {
            "<unknown>"
        } else {
            self.last_cmd
        }
    }

    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// Bytes waiting to be written.
    #[inline]
    /// Memory the client holds (CLIENT LIST tot-mem; what maxmemory-clients counts).
    pub fn total_memory(&self) -> usize {
        self.qbuf_len
            + self.qbuf_free
            + self.out.buf.capacity()
            + self.argv_mem
            + self.multi_memory()
            + self.subscription_memory()
            + std::mem::size_of::<Client>()
    }

    /// CLIENT LIST multi-mem: the queued commands' arguments and slots, and the watched keys'
    /// entries (Redis's multiStateMemOverhead, which does not count the names either).
    pub fn multi_memory(&self) -> usize {
        let queued = self.multi.as_ref().map_or(0, |m| {
            m.queued_bytes + m.queued.capacity() * std::mem::size_of::<(usize, Vec<Vec<u8>>)>()
        });
        queued + self.watched.len() * std::mem::size_of::<super::multi::Watched>()
    }

    /// The table entries of this client's channels, patterns and tracking prefixes (Redis
    /// counts their entries, not the names, which are shared): O(1), as it is summed for
    /// every client at each maxmemory-clients check.
    fn subscription_memory(&self) -> usize {
        let entry = std::mem::size_of::<Vec<u8>>() + std::mem::size_of::<usize>();
        let sets = [&self.subs.channels, &self.subs.patterns, &self.subs.shard];
        sets.iter().map(|s| s.capacity() * entry).sum::<usize>()
            + self.tracking_prefixes.capacity() * entry
    }

    pub fn pending_output(&self) -> usize {
        self.out.buf.len() - self.out_sent
    }

    /// Records how much of the reply buffer this command's replies filled.
    pub fn note_reply_peak(&mut self) {
        let filled = self.pending_output().min(self.rbuf_size);
        self.rbuf_peak = self.rbuf_peak.max(filled);
    }

    /// The cron's reply-buffer check (Redis's clientsCronResizeOutputBuffer): shrink to the
    /// peak when it stays under half the size, double (up to 16 KiB) when a command filled
    /// it; then restart the peak every `peak_reset_ms` (-1: never).
    pub fn resize_reply_buffer(&mut self, now_ms: i64, peak_reset_ms: i64) -> Option<Resized> {
        let (shrink_to, expand_to) = (self.rbuf_size / 2, self.rbuf_size * 2);
        let resized = if shrink_to >= REPLY_MIN_BYTES && self.rbuf_peak < shrink_to {
            self.rbuf_size = REPLY_MIN_BYTES.max(self.rbuf_peak + 1);
            Some(Resized::Shrunk)
        } else if expand_to < REPLY_CHUNK_BYTES * 2 && self.rbuf_peak == self.rbuf_size {
            self.rbuf_size = REPLY_CHUNK_BYTES.min(expand_to);
            Some(Resized::Expanded)
        } else {
            None
        };
        if peak_reset_ms >= 0 && now_ms - self.rbuf_peak_reset_ms >= peak_reset_ms {
            self.rbuf_peak = self.pending_output().min(self.rbuf_size);
            self.rbuf_peak_reset_ms = now_ms;
        }
        // Give back room beyond the size while nothing is pending.
        if self.pending_output() == 0 && self.out.buf.capacity() > self.rbuf_size {
            self.out.buf = Vec::with_capacity(self.rbuf_size);
            self.out_sent = 0;
        }
        resized
    }

    /// Drops the already-written prefix of the reply buffer. Room that other clients' output
    /// grew goes back once it is written, as Redis frees its reply list then: invalidations
    /// and messages must not keep counting against maxmemory after they left (a client's
    /// own replies keep their room, which its next batch reuses).
    pub fn compact_output(&mut self) {
        if self.out_sent == self.out.buf.len() {
            self.out.buf.clear();
            self.out_sent = 0;
            let room = self.out.buf.capacity();
            if room > 1024 * 1024
                || (self.foreign_output && room > self.rbuf_size.max(REPLY_CHUNK_BYTES))
            {
                self.out.buf = Vec::with_capacity(self.rbuf_size);
            }
            self.foreign_output = false;
        } else if self.out_sent > 64 * 1024 && self.out_sent * 2 > self.out.buf.len() {
            self.out.buf.drain(..self.out_sent);
            self.out_sent = 0;
        }
    }

    /// REPLCONF's settings (defaults until the client sends one).
    pub fn replconf(&self) -> &ReplConf {
        static DEFAULT: ReplConf = ReplConf {
            rdb_only: false,
            listening_port: 0,
            announced_ip: None,
            capa_eof: false,
            capa_psync2: false,
            rdb_filter: None,
        };
        self.replconf.as_deref().unwrap_or(&DEFAULT)
    }

    pub fn replconf_mut(&mut self) -> &mut ReplConf {
        self.replconf.get_or_insert_with(Box::default)
    }

    /// The address a replica is known by: what it announced (REPLCONF ip-address), else
    /// the host it connects from.
    pub fn replica_ip(&self) -> String {
        self.replconf()
            .announced_ip
            .clone()
            .unwrap_or_else(|| crate::net::addr_host(&self.addr).to_string())
    }

    /// CLIENT LIST's flags field.
    pub fn flags_string(&self) -> String {
        // Redis's getClientInfoString order.
        const LETTERS: &[(u32, char)] = &[
            (flags::MONITOR, 'O'),
            (flags::REPLICA, 'S'),
            (flags::MASTER, 'M'),
            (flags::PUBSUB, 'P'),
            (flags::MULTI, 'x'),
            (flags::BLOCKED, 'b'),
            // Waiting for a CLIENT PAUSE is blocking in Redis (BLOCKED_POSTPONE).
            (flags::POSTPONED, 'b'),
            (flags::TRACKING, 't'),
            (flags::TRACKING_BROKEN_REDIR, 'R'),
            (flags::TRACKING_BCAST, 'B'),
            (flags::DIRTY_CAS, 'd'),
            (flags::CLOSE_AFTER_REPLY, 'c'),
            (flags::CLOSE_ASAP, 'A'),
            (flags::UNIX_SOCKET, 'U'),
            (flags::NO_EVICT, 'e'),
            (flags::NO_TOUCH, 'T'),
        ];
        let mut s: String = LETTERS
            .iter()
            .filter(|(f, _)| self.has(*f))
            .map(|(_, l)| *l)
            .collect();
        if s.is_empty() {
            s.push('N');
        }
        s
    }
}
