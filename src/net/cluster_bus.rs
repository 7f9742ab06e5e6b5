//! The cluster bus's sockets: the listener on the bus port, connections accepted from other
//! nodes and the ones we open to them. Bytes go to and from `cluster::Link`s; the cluster
//! state machine decides everything else.

use std::collections::HashMap;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::sync::Arc;

use mio::net::TcpListener;
use mio::{Interest, Token};

use super::conn::Stream;
use super::tls::TlsStream;
use super::Server;
use crate::cluster::{glue, LinkId};
use crate::exec::Executor;

/// Tokens of bus connections start here (clients use small slots, listeners the top).
pub(super) const BUS_BASE: usize = usize::MAX / 2;
/// Tokens of bus listeners (after the client listeners' range).
pub(super) const BUS_LISTENER_BASE: usize = super::LISTENER_BASE + 32;

pub(super) struct BusConn {
    /// Plain TCP, or TLS with `tls-cluster yes`.
    stream: Stream,
    link: LinkId,
    connecting: bool,
}

#[derive(Default)]
pub(super) struct Bus {
    listeners: Vec<TcpListener>,
    conns: Vec<Option<BusConn>>,
    free: Vec<usize>,
    by_link: HashMap<LinkId, usize>,
    /// `tls-cluster yes`: both ends of every link speak TLS.
    tls: Option<(Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>)>,
}

fn ip_of(a: io::Result<SocketAddr>) -> String {
    a.map(|a| a.ip().to_string()).unwrap_or_default()
}

impl Server {
    /// Listens on the bus port (cluster mode); the caller exits on failure, as Redis does.
    pub fn bind_cluster_bus(&mut self, ex: &mut Executor) -> io::Result<()> {
        if ex.cfg.get_bool("tls-cluster") {
            let tls = &ex.settings.tls;
            let invalid = |e: String| io::Error::new(ErrorKind::InvalidData, e);
            let server = super::tls::server_config(tls).map_err(invalid)?;
            let client = super::tls::client_config(tls).map_err(invalid)?;
            self.bus.tls = Some((server, client));
        }
        let port = glue::bus_listen_port(ex);
        let s = &ex.settings;
        let listeners = super::bind_tcp_listeners(port, &s.bind, s.tcp_backlog)?;
        if listeners.is_empty() {
            return Err(io::Error::other("no bus listener"));
        }
        for mut l in listeners {
            let token = Token(BUS_LISTENER_BASE + self.bus.listeners.len());
            self.poll
                .registry()
                .register(&mut l, token, Interest::READABLE)?;
            self.bus.listeners.push(l);
        }
        Ok(())
    }

    pub(super) fn is_bus_token(t: usize) -> bool {
        (BUS_BASE..super::LISTENER_BASE).contains(&t)
            || (BUS_LISTENER_BASE..BUS_LISTENER_BASE + 16).contains(&t)
    }

    pub(super) fn on_bus_event(&mut self, ex: &mut Executor, event: &mio::event::Event) {
        let t = event.token().0;
        if t >= BUS_LISTENER_BASE {
            return self.bus_accept(ex, t - BUS_LISTENER_BASE);
        }
        let idx = t - BUS_BASE;
        let Some(conn) = self.bus.conns.get_mut(idx).and_then(Option::as_mut) else {
            return;
        };
        let link = conn.link;
        if conn.connecting {
            if !event.is_writable() && !event.is_error() && !event.is_write_closed() {
                return;
            }
            let Some(tcp) = conn.stream.tcp() else { return };
            match tcp.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => return self.bus_connect_failed(ex, idx, &e.to_string()),
            }
            match tcp.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotConnected => return,
                Err(e) => return self.bus_connect_failed(ex, idx, &e.to_string()),
            }
            conn.connecting = false;
            let _ = super::tcp_options(tcp, 0);
            let local = ip_of(tcp.local_addr());
            glue::with(ex, |c, env| c.link_connected(link, local, env));
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.bus_read(ex, idx);
        }
        self.bus_flush(ex);
    }

    fn bus_accept(&mut self, ex: &mut Executor, idx: usize) {
        // While loading, UPDATE messages could change what the data being loaded means.
        if ex.persist.loading.is_some() && !ex.repl.is_replica() {
            return;
        }
        loop {
            let Some(l) = self.bus.listeners.get(idx) else {
                return;
            };
            let (tcp, addr) = match l.accept() {
                Ok(a) => a,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!("Error accepting cluster node: {e}");
                    return;
                }
            };
            let _ = super::tcp_options(&tcp, 0);
            tracing::debug!(
                "Accepting cluster node connection from {}",
                super::fmt_addr(&addr)
            );
            let now = ex.clock.now_ms();
            let local = ip_of(tcp.local_addr());
            let stream = match &self.bus.tls {
                None => Stream::Tcp(tcp),
                Some((server, _)) => match TlsStream::new(tcp, server.clone()) {
                    Ok(t) => Stream::Tls(Box::new(t)),
                    Err(e) => {
                        tracing::debug!("Error accepting cluster node (TLS): {e}");
                        continue;
                    }
                },
            };
            let Some(link) = ex
                .cluster
                .as_mut()
                .map(|c| c.new_inbound_link(now, addr.ip().to_string(), local))
            else {
                return;
            };
            if let Err(e) = self.bus_insert(stream, link, false) {
                tracing::warn!("Registering cluster link: {e}");
                if let Some(c) = ex.cluster.as_mut() {
                    c.free_link(link);
                }
                continue;
            }
        }
    }

    /// Registers a bus socket with the poller and keeps it under its link.
    fn bus_insert(&mut self, mut stream: Stream, link: LinkId, connecting: bool) -> io::Result<()> {
        let idx = self.bus.free.pop().unwrap_or_else(|| {
            self.bus.conns.push(None);
            self.bus.conns.len() - 1
        });
        if let Err(e) = self.poll.registry().register(
            stream.source(),
            Token(BUS_BASE + idx),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.bus.free.push(idx);
            return Err(e);
        }
        self.bus.by_link.insert(link, idx);
        self.bus.conns[idx] = Some(BusConn {
            stream,
            link,
            connecting,
        });
        Ok(())
    }

    fn bus_connect_failed(&mut self, ex: &mut Executor, idx: usize, why: &str) {
        let Some(conn) = self.bus_drop(idx) else {
            return;
        };
        let now = ex.clock.now_ms();
        if let Some(c) = ex.cluster.as_mut() {
            c.link_connect_failed(conn.link, now, why);
            c.closed_links.retain(|&l| l != conn.link);
        }
    }

    fn bus_drop(&mut self, idx: usize) -> Option<BusConn> {
        let mut conn = self.bus.conns.get_mut(idx).and_then(Option::take)?;
        let _ = self.poll.registry().deregister(conn.stream.source());
        self.bus.by_link.remove(&conn.link);
        self.bus.free.push(idx);
        Some(conn)
    }

    fn bus_read(&mut self, ex: &mut Executor, idx: usize) {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let Some(conn) = self.bus.conns.get_mut(idx).and_then(Option::as_mut) else {
                return;
            };
            let link = conn.link;
            match conn.stream.read(&mut buf) {
                Ok(0) => {
                    tracing::debug!("I/O error reading from node link: connection closed");
                    return self.bus_link_gone(ex, idx);
                }
                Ok(n) => {
                    if !glue::on_bus_input(ex, link, &buf[..n]) {
                        self.bus_drop(idx);
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    // A TLS handshake may have records to answer with.
                    if conn.stream.has_pending_output() && conn.stream.flush_pending().is_err() {
                        return self.bus_link_gone(ex, idx);
                    }
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::debug!("I/O error reading from node link: {e}");
                    return self.bus_link_gone(ex, idx);
                }
            }
        }
    }

    /// The connection broke: the link goes (the cron reconnects outbound ones).
    fn bus_link_gone(&mut self, ex: &mut Executor, idx: usize) {
        if let Some(conn) = self.bus_drop(idx) {
            if let Some(c) = ex.cluster.as_mut() {
                c.free_link(conn.link);
                c.closed_links.retain(|&l| l != conn.link);
            }
        }
    }

    /// Writes what the links have queued.
    fn bus_flush(&mut self, ex: &mut Executor) {
        let Some(c) = ex.cluster.as_mut() else { return };
        let mut broken = Vec::new();
        for (&link, &idx) in &self.bus.by_link {
            let Some(conn) = self.bus.conns.get_mut(idx).and_then(Option::as_mut) else {
                continue;
            };
            if conn.connecting {
                continue;
            }
            if conn.stream.flush_pending().is_err() {
                broken.push(idx);
                continue;
            }
            let Some(l) = c.links.get_mut(&link) else {
                continue;
            };
            let mut written = 0;
            while written < l.out.len() {
                match conn.stream.write(&l.out[written..]) {
                    Ok(0) => {
                        broken.push(idx);
                        break;
                    }
                    Ok(n) => written += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        tracing::debug!("I/O error writing to node link: {e}");
                        broken.push(idx);
                        break;
                    }
                }
            }
            l.out.drain(..written);
            if l.out.is_empty() && l.out.capacity() > 64 * 1024 {
                l.out.shrink_to(16 * 1024);
            }
        }
        for idx in broken {
            self.bus_link_gone(ex, idx);
        }
    }

    /// Each turn: close what the cluster freed, open what it asked for, write queued bytes.
    pub(super) fn cluster_bus_turn(&mut self, ex: &mut Executor) {
        let Some(c) = ex.cluster.as_mut() else { return };
        let closed = std::mem::take(&mut c.closed_links);
        let connects = std::mem::take(&mut c.connect_queue);
        for link in closed {
            if let Some(&idx) = self.bus.by_link.get(&link) {
                self.bus_drop(idx);
            }
        }
        for link in connects {
            let target = ex
                .cluster
                .as_ref()
                .and_then(|c| c.links.get(&link))
                .and_then(|l| l.target.clone());
            let Some((ip, port)) = target else { continue };
            let addr = ip
                .parse::<std::net::IpAddr>()
                .map(|a| SocketAddr::new(a, port));
            let tls = self.bus.tls.as_ref().map(|(_, client)| client.clone());
            let result = addr
                .map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))
                .and_then(|a| super::connect_from(a, ex.cfg.get_str("bind-source-addr")))
                .and_then(|tcp| match tls {
                    None => Ok(Stream::Tcp(tcp)),
                    Some(client) => {
                        TlsStream::client(tcp, client, &ip).map(|t| Stream::Tls(Box::new(t)))
                    }
                });
            match result {
                Ok(stream) => match self.bus_insert(stream, link, true) {
                    Ok(()) => {}
                    Err(e) => {
                        let now = ex.clock.now_ms();
                        if let Some(c) = ex.cluster.as_mut() {
                            c.link_connect_failed(link, now, &e.to_string());
                        }
                    }
                },
                Err(e) => {
                    let now = ex.clock.now_ms();
                    if let Some(c) = ex.cluster.as_mut() {
                        c.link_connect_failed(link, now, &e.to_string());
                    }
                }
            }
        }
        // Links freed just now (a failed connect) have no socket to close.
        if let Some(c) = ex.cluster.as_mut() {
            let known = &self.bus.by_link;
            c.closed_links.retain(|l| known.contains_key(l));
        }
        self.bus_flush(ex);
    }
}
