//! The cluster bus's sockets: the listener on the bus port, connections accepted from other
//! nodes and the ones we open to them. Bytes go to and from `cluster::Link`s; the cluster
//! state machine decides everything else.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Token};

use super::Server;
use crate::cluster::{glue, LinkId};
use crate::exec::Executor;

/// Tokens of bus connections start here (clients use small slots, listeners the top).
pub(super) const BUS_BASE: usize = usize::MAX / 2;
/// Tokens of bus listeners (after the client listeners' range).
pub(super) const BUS_LISTENER_BASE: usize = super::LISTENER_BASE + 32;

pub(super) struct BusConn {
    stream: TcpStream,
    link: LinkId,
    connecting: bool,
}

#[derive(Default)]
pub(super) struct Bus {
    listeners: Vec<TcpListener>,
    conns: Vec<Option<BusConn>>,
    free: Vec<usize>,
    by_link: HashMap<LinkId, usize>,
}

fn ip_of(a: io::Result<SocketAddr>) -> String {
    a.map(|a| a.ip().to_string()).unwrap_or_default()
}

impl Server {
    /// Listens on the bus port (cluster mode); the caller exits on failure, as Redis does.
    pub fn bind_cluster_bus(&mut self, ex: &mut Executor) -> io::Result<()> {
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
            match conn.stream.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => return self.bus_connect_failed(ex, idx, &e.to_string()),
            }
            match conn.stream.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotConnected => return,
                Err(e) => return self.bus_connect_failed(ex, idx, &e.to_string()),
            }
            conn.connecting = false;
            let _ = super::tcp_options(&conn.stream, 0);
            let local = ip_of(conn.stream.local_addr());
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
            let (stream, addr) = match l.accept() {
                Ok(a) => a,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!("Error accepting cluster node: {e}");
                    return;
                }
            };
            let _ = super::tcp_options(&stream, 0);
            tracing::debug!(
                "Accepting cluster node connection from {}",
                super::fmt_addr(&addr)
            );
            let now = ex.clock.now_ms();
            let local = ip_of(stream.local_addr());
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
    fn bus_insert(
        &mut self,
        mut stream: TcpStream,
        link: LinkId,
        connecting: bool,
    ) -> io::Result<()> {
        let idx = self.bus.free.pop().unwrap_or_else(|| {
            self.bus.conns.push(None);
            self.bus.conns.len() - 1
        });
        if let Err(e) = self.poll.registry().register(
            &mut stream,
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
        let _ = self.poll.registry().deregister(&mut conn.stream);
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
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
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
            let result = addr
                .map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))
                .and_then(TcpStream::connect);
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
