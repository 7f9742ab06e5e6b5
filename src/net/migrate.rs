//! MIGRATE's links to target servers: blocking sockets with a timeout, as Redis's
//! migrateCommand uses them (the whole server waits for the transfer, by design), cached for
//! ten seconds per host:port so a resharding tool's stream of MIGRATEs reuses one
//! connection and skips SELECT when the database did not change.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Links kept (Redis's MIGRATE_SOCKET_CACHE_ITEMS) and how long an idle one lives.
const MAX_LINKS: usize = 64;
const LINK_TTL_MS: i64 = 10_000;
/// Replies longer than this are cut (Redis reads them into 1 KiB buffers).
const MAX_LINE: usize = 1024;

pub struct MigrateLink {
    reader: BufReader<TcpStream>,
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
    /// The cached link to host:port, or a new one.
    pub fn get(
        &mut self,
        host: &[u8],
        port: &[u8],
        timeout: Duration,
        now_ms: i64,
    ) -> Result<&mut MigrateLink, ConnectError> {
        let name = link_name(host, port);
        if !self.links.contains_key(&name) {
            if self.links.len() >= MAX_LINKS {
                // Make room: any one will do, as in Redis.
                if let Some(k) = self.links.keys().next().cloned() {
                    self.links.remove(&k);
                }
            }
            let stream = connect(host, port, timeout)?;
            let _ = stream.set_nodelay(true);
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
        s.set_write_timeout(Some(timeout))?;
        for chunk in buf.chunks(64 * 1024) {
            s.write_all(chunk)?;
        }
        Ok(())
    }

    /// One reply line without its CRLF ("+OK", "-ERR ...").
    pub fn read_line(&mut self, timeout: Duration) -> io::Result<Vec<u8>> {
        self.reader.get_ref().set_read_timeout(Some(timeout))?;
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
