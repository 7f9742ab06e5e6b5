//! A connection: its socket, query buffer and parser state. The only place (with the event
//! loop) that reads or writes sockets.

use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;

use mio::net::{TcpStream, UnixStream};

use super::tls::TlsStream;
use crate::resp::parse::RequestParser;

pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<TlsStream>),
}

impl Stream {
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }

    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    /// Reads into uninitialised memory, so buffer pages nobody writes stay unallocated (an
    /// idle client costs what it received, not its buffer's size). TLS decrypts into zeroed
    /// memory.
    pub fn read_uninit(&mut self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        let fd = match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tls(s) => {
                for b in buf.iter_mut() {
                    b.write(0);
                }
                // SAFETY: every byte was just initialised.
                let init = unsafe { &mut *(buf as *mut [MaybeUninit<u8>] as *mut [u8]) };
                return s.read(init);
            }
        };
        // SAFETY: read(2) writes at most `buf.len()` bytes into the buffer, which we own.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    pub fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
            Stream::Tls(s) => &mut s.tcp,
        }
    }

    /// The socket's descriptor.
    pub fn fd(&self) -> std::os::fd::RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tls(s) => s.tcp.as_raw_fd(),
        }
    }

    /// The TCP socket under it (none for a unix socket).
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Tcp(s) => Some(s),
            Stream::Unix(_) => None,
            Stream::Tls(s) => Some(&s.tcp),
        }
    }

    /// TCP_NODELAY on or off (nothing for a unix socket).
    pub fn set_nodelay(&self, on: bool) {
        if let Some(tcp) = self.tcp() {
            let _ = tcp.set_nodelay(on);
        }
    }

    /// A short read does not prove the socket drained: TLS reads record by record.
    pub fn short_read_drains(&self) -> bool {
        !matches!(self, Stream::Tls(_))
    }

    /// Sends encrypted bytes still buffered (TLS). Ok(true) when nothing is left.
    pub fn flush_pending(&mut self) -> io::Result<bool> {
        match self {
            Stream::Tls(s) => s.flush_pending(),
            _ => Ok(true),
        }
    }

    pub fn has_pending_output(&self) -> bool {
        matches!(self, Stream::Tls(s) if s.has_pending_output())
    }

    /// Ends a TLS session cleanly before the socket closes (nothing for plain sockets).
    pub fn close_notify(&mut self) {
        if let Stream::Tls(s) = self {
            s.close_notify();
        }
    }
}

pub struct Conn {
    pub stream: Stream,
    /// Query buffer; bytes `qpos..qend` are received and not yet consumed (`qend` is the
    /// Vec's length; its spare capacity is where reads land, never zeroed).
    pub qbuf: Vec<u8>,
    pub qpos: usize,
    pub qend: usize,
    /// Most bytes held since the last resize check (Redis's querybuf_peak).
    pub qbuf_peak: usize,
    pub parser: RequestParser,
    /// The last write hit WouldBlock: wait for a writable event.
    pub write_blocked: bool,
    /// Registered for write readiness (only while output is blocked).
    pub watching_writes: bool,
    /// Already queued in this turn's flush list.
    pub queued_flush: bool,
    /// Stopped reading with data possibly left in the socket (fairness budget).
    pub read_pending: bool,
    /// Peer closed or a fatal error.
    pub dead: bool,
    /// An event reported the peer's close: read until the end of stream is seen.
    pub peer_closed: bool,
    /// The end of stream was read: nothing more to read, the connection closes once its
    /// replies are out.
    pub eof: bool,
    /// A connection to our master still in its handshake.
    pub link: Option<Box<super::master_link::LinkIo>>,
    /// Became a replica's connection and got its socket options (repl-disable-tcp-nodelay).
    pub replica_tuned: bool,
}

impl Conn {
    pub fn new(stream: Stream) -> Self {
        Conn {
            stream,
            qbuf: Vec::new(),
            qpos: 0,
            qend: 0,
            qbuf_peak: 0,
            parser: RequestParser::new(),
            write_blocked: false,
            watching_writes: false,
            queued_flush: false,
            read_pending: false,
            dead: false,
            peer_closed: false,
            eof: false,
            link: None,
            replica_tuned: false,
        }
    }

    /// Unconsumed query bytes.
    #[inline]
    pub fn input(&self) -> &[u8] {
        &self.qbuf[self.qpos..self.qend]
    }

    /// Drops consumed bytes so the next command starts at offset 0. The buffer keeps its size
    /// (a client that sent a big argument is likely to send another, as Redis assumes too);
    /// the cron gives the space back (`resize`).
    pub fn compact(&mut self) {
        if self.qpos == 0 {
            return;
        }
        if self.qpos == self.qend {
            self.qpos = 0;
            self.qend = 0;
        } else {
            self.qbuf.copy_within(self.qpos..self.qend, 0);
            self.qend -= self.qpos;
            self.qpos = 0;
        }
        self.qbuf.truncate(self.qend);
    }

    /// Free bytes after `qend`.
    pub fn spare(&self) -> usize {
        self.qbuf.capacity() - self.qend
    }

    /// Reads once; `want` is a size hint for a pending big bulk. Returns bytes read.
    pub fn read_some(&mut self, want: usize) -> io::Result<usize> {
        let target = want.max(crate::config::limits::IOBUF_LEN);
        if self.spare() < target {
            if self.qpos > 0 {
                self.compact();
            }
            if self.spare() < target {
                let need = self.qend + target;
                // A big argument gets exactly its room (Redis's sdsMakeRoomForNonGreedy), so
                // the buffer does not hold up to twice what the client sends.
                let new_cap = if need < 1 << 20 && want <= crate::config::limits::IOBUF_LEN {
                    need.next_power_of_two()
                } else {
                    need
                };
                self.qbuf.reserve_exact(new_cap - self.qend);
            }
        }
        let n = self.stream.read_uninit(self.qbuf.spare_capacity_mut())?;
        // SAFETY: the read initialised `n` bytes after the current length.
        unsafe { self.qbuf.set_len(self.qend + n) };
        self.qend += n;
        self.qbuf_peak = self.qbuf_peak.max(self.qend);
        Ok(n)
    }

    /// The cron's query-buffer check (Redis's clientsCronResizeQueryBuffer): when more than
    /// 4 KiB are unused, an idle client (over 2 s) gives back all the spare room, and a busy
    /// one keeps only what its recent peak (or the bulk it is reading) needs once the buffer
    /// is over 32 KiB and twice that peak. Then the peak restarts from what is held now.
    /// Returns the bytes an idle client gave back.
    pub fn resize(&mut self, idle_secs: i64) -> usize {
        const RESIZE_THRESHOLD: usize = 32 * 1024;
        self.compact();
        let held = self.qend;
        let bulk = self.parser.pending_bulk_bytes(held).map(|rest| held + rest);
        let mut released = 0;
        if self.qbuf.capacity() - held > 4 * 1024 {
            let size = self.qbuf.capacity();
            if idle_secs > 2 {
                self.qbuf.shrink_to_fit();
                released = size - self.qbuf.capacity();
            } else if size > RESIZE_THRESHOLD && size / 2 > self.qbuf_peak {
                let keep = held.max(self.qbuf_peak).max(bulk.unwrap_or(0));
                self.qbuf.shrink_to(keep);
            }
        }
        self.qbuf_peak = held.max(bulk.unwrap_or(0));
        released
    }

    /// (bytes held, free bytes) as CLIENT LIST shows them: held counts the commands of the
    /// batch being executed, as Redis's query buffer still holds them.
    /// CLIENT LIST's qbuf and qbuf-free: the bytes not yet consumed (from a big argument's
    /// first byte while one is being received), and the room after them.
    pub fn qbuf_usage(&self) -> (usize, usize) {
        let start = self.qpos + self.parser.big_bulk_start().unwrap_or(0);
        (
            self.qend.saturating_sub(start),
            self.qbuf.capacity() - self.qend,
        )
    }

    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.stream.write(data)
    }
}

/// How long the Lua debugger waits for its client to take output (Redis's send timeout).
const DEBUGGER_SEND_TIMEOUT_MS: libc::c_int = 5000;

/// Waits until `fd` is ready for `events`, at most `timeout_ms` (-1: no limit).
fn wait_ready(
    fd: std::os::fd::RawFd,
    events: libc::c_short,
    timeout_ms: libc::c_int,
) -> io::Result<()> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    loop {
        // SAFETY: one pollfd, ours.
        match unsafe { libc::poll(&mut p, 1, timeout_ms) } {
            0 => return Err(io::Error::from(io::ErrorKind::TimedOut)),
            n if n > 0 => return Ok(()),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// `CallerIo::read`: a blocking read on a non-blocking stream.
/// # Safety
/// `stream` points at the running command's `Stream`.
pub unsafe fn caller_read(stream: *mut (), buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: per the contract; nothing else touches the stream while the command runs.
    let s = unsafe { &mut *(stream as *mut Stream) };
    loop {
        match s.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait_ready(s.fd(), libc::POLLIN, -1)?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// `CallerIo::write`: writes everything (and flushes TLS records), waiting for the socket.
/// # Safety
/// As `caller_read`.
pub unsafe fn caller_write(stream: *mut (), mut bytes: &[u8]) -> io::Result<()> {
    // SAFETY: as in `caller_read`.
    let s = unsafe { &mut *(stream as *mut Stream) };
    let fd = s.fd();
    while !bytes.is_empty() {
        match s.write(bytes) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait_ready(fd, libc::POLLOUT, DEBUGGER_SEND_TIMEOUT_MS)?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    flush_blocking(s)
}

/// Sends what TLS still holds, waiting for the socket (a few seconds at most).
fn flush_blocking(s: &mut Stream) -> io::Result<()> {
    let fd = s.fd();
    loop {
        match s.flush_pending() {
            Ok(true) => return Ok(()),
            Ok(false) => wait_ready(fd, libc::POLLOUT, DEBUGGER_SEND_TIMEOUT_MS)?,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait_ready(fd, libc::POLLOUT, DEBUGGER_SEND_TIMEOUT_MS)?
            }
            Err(e) => return Err(e),
        }
    }
}

/// `CallerIo::close`: ends a TLS session cleanly, waiting for the socket to take the alert.
/// # Safety
/// As `caller_read`.
pub unsafe fn caller_close(stream: *mut ()) {
    // SAFETY: as in `caller_read`.
    let s = unsafe { &mut *(stream as *mut Stream) };
    s.close_notify();
    let _ = flush_blocking(s);
}
