//! MIGRATE's links to target servers: blocking sockets with a timeout, as Redis's
//! migrateCommand uses them (the whole server waits for the transfer, by design), cached for
//! ten seconds per host:port so a resharding tool's stream of MIGRATEs reuses one
//! connection and skips SELECT when the database did not change. With `tls-cluster yes`
//! the links speak TLS, as Redis's do.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use rustls::{ClientConnection, StreamOwned};

use super::tls::TlsSettings;

/// Links kept (Redis's MIGRATE_SOCKET_CACHE_ITEMS) and how long an idle one lives.
const MAX_LINKS: usize = 64;
const LINK_TTL_MS: i64 = 10_000;
/// Replies longer than this are cut (Redis reads them into 1 KiB buffers).
const MAX_LINE: usize = 1024;

/// A link's socket: plain, or TLS over it (the handshake runs on the first write).
enum LinkStream {
    Tcp(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl LinkStream {
    fn tcp(&self) -> &TcpStream {
        match self {
            LinkStream::Tcp(s) => s,
            LinkStream::Tls(s) => &s.sock,
        }
    }
}

impl Read for LinkStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            LinkStream::Tcp(s) => s.read(buf),
            LinkStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for LinkStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            LinkStream::Tcp(s) => s.write(buf),
            LinkStream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            LinkStream::Tcp(s) => s.flush(),
            LinkStream::Tls(s) => s.flush(),
        }
    }
}

pub struct MigrateLink {
    reader: BufReader<LinkStream>,
    /// The database SELECTed on the target, -1 when unknown.
    pub last_dbid: i64,
    last_use_ms: i64,
}

/// Why no link could be had.
pub enum ConnectError {
    /// The connection did not complete within the timeout.
    Timeout,
    /// It failed at once (refused, unreachable, unknown host): Redis only notices when it
    /// writes.
    Failed,
}

#[derive(Default)]
pub struct MigrateLinks {
    links: HashMap<Vec<u8>, MigrateLink>,
}

fn link_name(host: &[u8], port: &[u8]) -> Vec<u8> {
    let mut name = host.to_vec();
    name.push(b':');
    name.extend_from_slice(port);
    name
}

impl MigrateLinks {
    /// The cached link to host:port, or a new one (over TLS when `tls` is given).
    pub fn get(
        &mut self,
        host: &[u8],
        port: &[u8],
        timeout: Duration,
        now_ms: i64,
        tls: Option<&TlsSettings>,
    ) -> Result<&mut MigrateLink, ConnectError> {
        let name = link_name(host, port);
        if !self.links.contains_key(&name) {
            if self.links.len() >= MAX_LINKS {
                // Make room: any one will do, as in Redis.
                if let Some(k) = self.links.keys().next().cloned() {
                    self.links.remove(&k);
                }
            }
            let tcp = connect(host, port, timeout)?;
            let _ = tcp.set_nodelay(true);
            let stream = match tls {
                None => LinkStream::Tcp(tcp),
                Some(settings) => {
                    let config = super::tls::client_config(settings).map_err(|e| {
                        tracing::warn!("MIGRATE over TLS: {e}");
                        ConnectError::Failed
                    })?;
                    let name = String::from_utf8_lossy(host).into_owned();
                    let server_name = rustls::pki_types::ServerName::try_from(name)
                        .or_else(|_| rustls::pki_types::ServerName::try_from("localhost"))
                        .map_err(|_| ConnectError::Failed)?;
                    let conn = ClientConnection::new(config, server_name)
                        .map_err(|_| ConnectError::Failed)?;
                    LinkStream::Tls(Box::new(StreamOwned::new(conn, tcp)))
                }
            };
            self.links.insert(
                name.clone(),
                MigrateLink {
                    reader: BufReader::new(stream),
                    last_dbid: -1,
                    last_use_ms: now_ms,
                },
            );
        }
        let link = self.links.get_mut(&name).expect("just inserted");
        link.last_use_ms = now_ms;
        Ok(link)
    }

    /// Links open (INFO migrate_cached_sockets).
    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    pub fn close(&mut self, host: &[u8], port: &[u8]) {
        self.links.remove(&link_name(host, port));
    }

    /// Closes links idle for ten seconds (from the cron).
    pub fn close_idle(&mut self, now_ms: i64) {
        self.links
            .retain(|_, l| now_ms - l.last_use_ms <= LINK_TTL_MS);
    }
}

fn connect(host: &[u8], port: &[u8], timeout: Duration) -> Result<TcpStream, ConnectError> {
    let host = std::str::from_utf8(host).map_err(|_| ConnectError::Failed)?;
    let port: u16 = std::str::from_utf8(port)
        .ok()
        .and_then(|p| p.parse().ok())
        .ok_or(ConnectError::Failed)?;
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|_| ConnectError::Failed)?;
    let mut timed_out = false;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::WouldBlock => {
                timed_out = true
            }
            Err(_) => {}
        }
    }
    Err(if timed_out {
        ConnectError::Timeout
    } else {
        ConnectError::Failed
    })
}

impl MigrateLink {
    /// Writes all of `buf` within `timeout` per write.
    pub fn send(&mut self, buf: &[u8], timeout: Duration) -> io::Result<()> {
        let s = self.reader.get_mut();
        s.tcp().set_write_timeout(Some(timeout))?;
        s.tcp().set_read_timeout(Some(timeout))?;
        for chunk in buf.chunks(64 * 1024) {
            s.write_all(chunk)?;
        }
        s.flush()
    }

    /// One reply line without its CRLF ("+OK", "-ERR ...").
    pub fn read_line(&mut self, timeout: Duration) -> io::Result<Vec<u8>> {
        self.reader
            .get_ref()
            .tcp()
            .set_read_timeout(Some(timeout))?;
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            return Err(io::Error::new(ErrorKind::UnexpectedEof, "short reply"));
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(line)
    }
}

/// Whether an I/O error was a timeout (no retry then, as Redis).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock)
}
