//! The replica's connection to its master, until it becomes the master client: the
//! non-blocking connect, the handshake (`repl::handshake`, sans I/O) and the snapshot's
//! transfer into a temp file or memory (`persist::sync::Receiver`).

use std::io::ErrorKind;
use std::net::ToSocketAddrs;

use mio::{Interest, Token};

use super::conn::{Conn, Stream};
use super::Server;
use crate::exec::Executor;
use crate::repl::handshake::{Event, Handshake, Params};
use crate::repl::LinkState;

/// State of a master connection still in its handshake.
pub struct LinkIo {
    hs: Handshake,
    connected: bool,
    /// Commands for the master not yet written.
    out: Vec<u8>,
    receiver: Option<crate::persist::sync::Receiver>,
    /// +FULLRESYNC's id and offset.
    full: Option<(String, i64)>,
}

impl Server {
    /// Starts connecting to our master when due (Redis's connectWithMaster), and closes
    /// link connections the executor dropped.
    pub(super) fn master_link_turn(&mut self, ex: &mut Executor) {
        for slot in std::mem::take(&mut ex.link_to_close) {
            if ex.client(slot).is_some() {
                continue; // a master client: closed with the clients
            }
            self.drop_link_conn(slot);
        }
        let now_ms = ex.clock.now_ms();
        let Some(m) = ex.repl.master.as_mut() else {
            return;
        };
        if m.state != LinkState::Connect || now_ms < m.retry_at_ms {
            return;
        }
        tracing::info!("Connecting to MASTER {}:{}", m.host, m.port);
        let addr = (m.host.as_str(), m.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next());
        let source = ex.cfg.get_str("bind-source-addr");
        let stream = match addr.map(|a| super::connect_from(a, source)) {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                tracing::warn!("Unable to connect to MASTER: {e}");
                m.retry_at_ms = now_ms + 1000;
                return;
            }
            None => {
                tracing::warn!("Unable to connect to MASTER: cannot resolve {}", m.host);
                m.retry_at_ms = now_ms + 1000;
                return;
            }
        };
        let slot = self.free_slots.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let stream = if ex.cfg.get_bool("tls-replication") {
            let tls = crate::net::tls::client_config(&ex.settings.tls).and_then(|config| {
                crate::net::tls::TlsStream::client(stream, config, &m.host)
                    .map_err(|e| e.to_string())
            });
            match tls {
                Ok(t) => Stream::Tls(Box::new(t)),
                Err(e) => {
                    tracing::warn!("Unable to connect to MASTER: {e}");
                    m.retry_at_ms = now_ms + 1000;
                    return;
                }
            }
        } else {
            Stream::Tcp(stream)
        };
        let mut conn = Conn::new(stream);
        if self
            .poll
            .registry()
            .register(
                conn.stream.source(),
                Token(slot),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
        {
            self.free_slots.push(slot);
            m.retry_at_ms = now_ms + 1000;
            return;
        }
        let params = handshake_params(ex);
        conn.link = Some(Box::new(LinkIo {
            hs: Handshake::new(params),
            connected: false,
            out: Vec::new(),
            receiver: None,
            full: None,
        }));
        self.conns[slot] = Some(Box::new(conn));
        if let Some(m) = ex.repl.master.as_mut() {
            m.slot = Some(slot);
            m.state = LinkState::Connecting;
            m.last_io_ms = now_ms;
        }
        tracing::info!("MASTER <-> REPLICA sync started");
    }

    pub(super) fn is_link(&self, slot: usize) -> bool {
        self.conns
            .get(slot)
            .and_then(Option::as_ref)
            .is_some_and(|c| c.link.is_some())
    }

    fn drop_link_conn(&mut self, slot: usize) {
        if let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) {
            let _ = self.poll.registry().deregister(conn.stream.source());
            if let Some(link) = conn.link.take() {
                if let Some(r) = link.receiver {
                    r.discard();
                }
            }
            self.free_slots.push(slot);
        }
    }

    /// The handshake failed: close, and try again in a second.
    fn link_failed(&mut self, ex: &mut Executor, slot: usize, why: &str) {
        tracing::warn!("{why}");
        self.drop_link_conn(slot);
        let now_ms = ex.clock.now_ms();
        if let Some(m) = ex.repl.master.as_mut() {
            if m.slot == Some(slot) {
                m.slot = None;
                m.state = LinkState::Connect;
                m.retry_at_ms = now_ms + 1000;
            }
        }
    }

    /// Readiness of a link connection in its handshake.
    pub(super) fn on_link_event(&mut self, ex: &mut Executor, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let Some(link) = conn.link.as_mut() else {
            return;
        };
        if !link.connected {
            let Some(tcp) = conn.stream.tcp() else {
                return;
            };
            match tcp.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => {
                    return self.link_failed(
                        ex,
                        slot,
                        &format!("Error condition on socket for SYNC: {e}"),
                    );
                }
            }
            match tcp.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotConnected => return,
                Err(e) => {
                    return self.link_failed(
                        ex,
                        slot,
                        &format!("Error condition on socket for SYNC: {e}"),
                    );
                }
            }
            link.connected = true;
            let _ = super::tcp_options(tcp, ex.settings.tcp_keepalive_secs);
            tracing::info!("Non blocking connect for SYNC fired the event.");
            let ping = link.hs.start();
            link.out.extend_from_slice(&ping);
            if let Some(m) = ex.repl.master.as_mut() {
                m.state = LinkState::Handshake;
            }
        }
        // Write what the handshake has to say.
        while !link.out.is_empty() {
            match conn.stream.write(&link.out) {
                Ok(n) => {
                    link.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    return self.link_failed(ex, slot, &format!("Error writing to MASTER: {e}"));
                }
            }
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            let n = match conn.stream.read(&mut buf) {
                Ok(0) => {
                    return self.link_failed(
                        ex,
                        slot,
                        "Master closed the connection during the handshake",
                    );
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    return self.link_failed(ex, slot, &format!("Error reading from MASTER: {e}"));
                }
            };
            let now_ms = ex.clock.now_ms();
            if let Some(m) = ex.repl.master.as_mut() {
                m.last_io_ms = now_ms;
            }
            let Some(link) = conn.link.as_mut() else {
                return;
            };
            let events = link.hs.input(&buf[..n]);
            for event in events {
                if !self.on_handshake_event(ex, slot, event) {
                    return;
                }
            }
            // Send what the events produced.
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            let Some(link) = conn.link.as_mut() else {
                return;
            };
            while !link.out.is_empty() {
                match conn.stream.write(&link.out) {
                    Ok(n) => {
                        link.out.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
    }

    /// One handshake event; false when the connection is done with (failed or promoted).
    fn on_handshake_event(&mut self, ex: &mut Executor, slot: usize, event: Event) -> bool {
        let now_ms = ex.clock.now_ms();
        let Some(link) = self
            .conns
            .get_mut(slot)
            .and_then(Option::as_mut)
            .and_then(|c| c.link.as_mut())
        else {
            return false;
        };
        match event {
            Event::Send(bytes) => link.out.extend_from_slice(&bytes),
            Event::Note(text) => tracing::info!("{text}"),
            Event::FullResync { replid, offset } => {
                crate::repl::on_failover_handshake(ex, true);
                if !replid.is_empty() {
                    tracing::info!("Full resync from master: {replid}:{offset}");
                }
                link.full = Some((replid, offset));
            }
            Event::PayloadStart(size) => {
                let diskless = crate::repl::use_diskless_load(ex) && size != Some(0);
                let to = if diskless { "parser" } else { "disk" };
                match size {
                    Some(n) => tracing::info!(
                        "MASTER <-> REPLICA sync: receiving {n} bytes from master to {to}"
                    ),
                    None => tracing::info!(
                        "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to {to}"
                    ),
                }
                if let Some(m) = ex.repl.master.as_mut() {
                    m.state = LinkState::Transfer;
                    m.sync_total = size;
                    m.sync_read = 0;
                    m.sync_last_io_ms = now_ms;
                }
                if diskless {
                    self.load_from_link(ex, slot, size);
                    return false;
                }
                match crate::persist::sync::Receiver::create(now_ms) {
                    Ok(r) => link.receiver = Some(r),
                    Err(e) => {
                        self.link_failed(
                            ex,
                            slot,
                            &format!("Opening the temp file needed for MASTER <-> REPLICA synchronization: {e}"),
                        );
                        return false;
                    }
                }
                for event in link.hs.receive() {
                    if !self.on_handshake_event(ex, slot, event) {
                        return false;
                    }
                }
            }
            Event::Payload(bytes) => {
                let written = link.receiver.as_mut().map(|r| r.write(&bytes));
                if let Some(Err(e)) = written {
                    self.link_failed(ex, slot, &format!("Write error saving DB on disk: {e}"));
                    return false;
                }
                ex.stats.total_net_repl_input_bytes += bytes.len() as u64;
                if let Some(m) = ex.repl.master.as_mut() {
                    m.sync_read += bytes.len() as u64;
                    m.sync_last_io_ms = now_ms;
                }
            }
            Event::PayloadEnd => {
                let receiver = link.receiver.take();
                let (replid, offset) = link.full.take().unwrap_or_default();
                let rest = link.hs.take_rest();
                let received = match receiver.map(|r| r.finish(ex)) {
                    Some(Ok(received)) => received,
                    None => crate::persist::sync::Received::DumpFile,
                    Some(Err(e)) => {
                        self.link_failed(
                            ex,
                            slot,
                            &format!("Failed trying to rename the temp DB into dump.rdb in MASTER <-> REPLICA synchronization: {e}"),
                        );
                        return false;
                    }
                };
                if let Err(e) = crate::repl::load_synced_snapshot(ex, replid, offset, received) {
                    tracing::warn!("{e}");
                    self.link_failed(
                        ex,
                        slot,
                        "Failed trying to load the MASTER synchronization DB from disk, check server logs.",
                    );
                    return false;
                }
                // The snapshot says which db its stream goes on in (repl-stream-db).
                let db = ex.persist.loaded_repl.take().map_or(0, |(_, _, db)| db);
                self.become_master_client(ex, slot, rest, db);
                return false;
            }
            Event::Continue { replid } => {
                let rest = link.hs.take_rest();
                crate::repl::on_failover_handshake(ex, true);
                let db = crate::repl::on_continue(ex, replid);
                self.become_master_client(ex, slot, rest, db);
                return false;
            }
            Event::Retry(text) | Event::Fail(text) => {
                self.link_failed(ex, slot, &text);
                crate::repl::on_failover_handshake(ex, false);
                return false;
            }
        }
        true
    }

    /// repl-diskless-load: the snapshot is parsed from the socket as it arrives (Redis's
    /// rioConnRead), so a replica that loads slowly slows its master's transfer instead of
    /// piling the snapshot up in memory. The connection is taken out of the loop meanwhile:
    /// the load serves the other clients now and then, never this link.
    fn load_from_link(&mut self, ex: &mut Executor, slot: usize, size: Option<u64>) {
        let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let Some(link) = conn.link.as_mut() else {
            self.conns[slot] = Some(conn);
            return;
        };
        let (mark, first) = link.hs.detach();
        let (replid, offset) = link.full.take().unwrap_or_default();
        let fd = conn
            .stream
            .tcp()
            .map_or(-1, std::os::fd::AsRawFd::as_raw_fd);
        let mut reader = LinkReader {
            stream: &mut conn.stream,
            fd,
            pending: first,
            left: size,
            read: 0,
            timeout_ms: (ex.cfg.get_int("repl-timeout") * 1000).max(1) as i32,
        };
        let source: crate::persist::rdb::Source = Box::new(|out| reader.read_into(out));
        let received = crate::persist::sync::Received::Stream {
            source,
            total: size.unwrap_or(0),
            end: mark.map_or(
                crate::persist::StreamEnd::Exhausted,
                crate::persist::StreamEnd::Mark,
            ),
        };
        let loaded = crate::repl::load_synced_snapshot(ex, replid, offset, received);
        let read = reader.read;
        let after = std::mem::take(&mut reader.pending);
        self.conns[slot] = Some(conn);
        ex.stats.total_net_repl_input_bytes += read;
        if let Some(m) = ex.repl.master.as_mut() {
            m.sync_read = read;
            m.last_io_ms = ex.clock.now_ms();
        }
        match loaded {
            Ok(mut rest) => {
                rest.extend_from_slice(&after);
                let db = ex.persist.loaded_repl.take().map_or(0, |(_, _, db)| db);
                self.become_master_client(ex, slot, rest, db);
                // What the socket holds already came without a new readiness event.
                self.read_again.push(slot);
            }
            Err(e) => {
                tracing::warn!("{e}");
                self.link_failed(
                    ex,
                    slot,
                    "Failed trying to load the MASTER synchronization DB from socket, check server logs.",
                );
            }
        }
    }

    /// The link is synchronized: it becomes the master client, whose commands are applied
    /// (`rest` is the stream that came with the last handshake bytes).
    fn become_master_client(&mut self, ex: &mut Executor, slot: usize, rest: Vec<u8>, db: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let link = conn.link.take();
        let (addr, laddr, fd) = match conn.stream.tcp() {
            Some(s) => (
                s.peer_addr()
                    .map(|a| super::fmt_addr(&a))
                    .unwrap_or_default(),
                s.local_addr()
                    .map(|a| super::fmt_addr(&a))
                    .unwrap_or_default(),
                std::os::fd::AsRawFd::as_raw_fd(s),
            ),
            None => (String::new(), String::new(), -1),
        };
        let _ =
            self.poll
                .registry()
                .reregister(conn.stream.source(), Token(slot), Interest::READABLE);
        conn.watching_writes = false;
        // Anything of the handshake not yet written (the last ACK) goes first.
        let pending_out = link.map(|l| l.out).unwrap_or_default();
        ex.add_client(slot, addr, laddr, fd, crate::exec::client::Transport::Tcp);
        if let Some(c) = ex.client_mut(slot) {
            use crate::exec::client::flags as cf;
            c.flags |= cf::MASTER | cf::OBEY;
            c.authenticated = true;
            c.db = db;
            c.out.raw(&pending_out);
        }
        let now_ms = ex.clock.now_ms();
        if let Some(m) = ex.repl.master.as_mut() {
            m.state = LinkState::Connected;
            m.slot = Some(slot);
            m.last_io_ms = now_ms;
            m.down_since_ms = None;
            m.last_ack_ms = now_ms;
        }
        // The first ACK at once: a master that streamed the snapshot waits for it.
        crate::repl::send_ack(ex);
        if let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) {
            conn.qbuf.extend_from_slice(&rest);
            conn.qend = conn.qbuf.len();
            if let Some(m) = ex.repl.master.as_mut() {
                m.read_offset += rest.len() as u64;
            }
        }
        self.process_input(ex, slot);
        self.queue_flush(slot);
    }
}

/// What the handshake says about us.
fn handshake_params(ex: &Executor) -> Params {
    let str_opt = |name: &str| {
        let v = ex.cfg.get_str(name);
        (!v.is_empty()).then(|| v.to_vec())
    };
    let announce_port = ex.cfg.get_int("replica-announce-port");
    let (replid, offset) = match &ex.repl.cached_master {
        Some(c) => (c.replid.clone(), c.offset as i64 + 1),
        None => ("?".to_string(), -1),
    };
    if replid == "?" {
        tracing::info!("Partial resynchronization not possible (no cached master)");
    } else {
        tracing::info!("Trying a partial resynchronization (request {replid}:{offset}).");
    }
    Params {
        masteruser: str_opt("masteruser"),
        masterauth: str_opt("masterauth"),
        listening_port: if announce_port > 0 {
            announce_port as u16
        } else {
            ex.tcp_port
        },
        announce_ip: str_opt("replica-announce-ip")
            .map(|v| String::from_utf8_lossy(&v).into_owned()),
        psync_replid: replid,
        psync_offset: offset,
        failover: ex.repl.failover.as_ref().is_some_and(|f| f.in_progress),
    }
}

/// The master's snapshot, read from the link as the loader asks for it: the bytes that came
/// with the handshake first, then the socket, waiting up to repl-timeout for each read (the
/// socket is non-blocking: Redis blocks it with a receive timeout instead).
struct LinkReader<'a> {
    stream: &'a mut Stream,
    fd: std::os::fd::RawFd,
    pending: Vec<u8>,
    /// Bytes of a sized payload not yet read (None: EOF-marked, read freely).
    left: Option<u64>,
    read: u64,
    timeout_ms: i32,
}

impl LinkReader<'_> {
    fn read_into(&mut self, out: &mut Vec<u8>) -> std::io::Result<usize> {
        let cap = self
            .left
            .map_or(usize::MAX, |n| n.min(usize::MAX as u64) as usize);
        if cap == 0 {
            return Ok(0);
        }
        let n = if !self.pending.is_empty() {
            let n = self.pending.len().min(cap);
            out.extend_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            n
        } else {
            let mut buf = [0u8; 64 * 1024];
            let want = buf.len().min(cap);
            loop {
                match self.stream.read(&mut buf[..want]) {
                    Ok(0) => {
                        return Err(std::io::Error::new(
                            ErrorKind::ConnectionAborted,
                            "connection lost",
                        ))
                    }
                    Ok(n) => {
                        out.extend_from_slice(&buf[..n]);
                        break n;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => self.wait_readable()?,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        };
        self.read += n as u64;
        if let Some(left) = self.left.as_mut() {
            *left -= n as u64;
        }
        Ok(n)
    }

    fn wait_readable(&self) -> std::io::Result<()> {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polls one descriptor this connection owns, described by a valid pollfd.
        match unsafe { libc::poll(&mut pfd, 1, self.timeout_ms) } {
            0 => Err(std::io::Error::new(ErrorKind::TimedOut, "timeout")),
            n if n < 0 => {
                let e = std::io::Error::last_os_error();
                if e.kind() == ErrorKind::Interrupted {
                    Ok(())
                } else {
                    Err(e)
                }
            }
            _ => Ok(()),
        }
    }
}
