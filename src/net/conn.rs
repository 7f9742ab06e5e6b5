//! A connection: its socket, query buffer and parser state. The only place (with the event
//! loop) that reads or writes sockets.

use std::io::{self, Read, Write};

use mio::net::{TcpStream, UnixStream};

use crate::resp::parse::RequestParser;

pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    pub fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
        }
    }
}

pub struct Conn {
    pub stream: Stream,
    /// Query buffer; bytes `qpos..qend` are received and not yet consumed. The whole Vec is
    /// initialised once, so reads never re-zero it.
    pub qbuf: Vec<u8>,
    pub qpos: usize,
    pub qend: usize,
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
}

impl Conn {
    pub fn new(stream: Stream) -> Self {
        Conn {
            stream,
            qbuf: Vec::new(),
            qpos: 0,
            qend: 0,
            parser: RequestParser::new(),
            write_blocked: false,
            watching_writes: false,
            queued_flush: false,
            read_pending: false,
            dead: false,
        }
    }

    /// Unconsumed query bytes.
    #[inline]
    pub fn input(&self) -> &[u8] {
        &self.qbuf[self.qpos..self.qend]
    }

    /// Drops consumed bytes so the next command starts at offset 0.
    pub fn compact(&mut self) {
        if self.qpos == 0 {
            return;
        }
        if self.qpos == self.qend {
            self.qpos = 0;
            self.qend = 0;
            // Give back a buffer that grew for a big argument.
            if self.qbuf.len() > 4 * crate::config::limits::IOBUF_LEN {
                self.qbuf = Vec::new();
            }
        } else {
            self.qbuf.copy_within(self.qpos..self.qend, 0);
            self.qend -= self.qpos;
            self.qpos = 0;
        }
    }

    /// Free bytes after `qend`.
    pub fn spare(&self) -> usize {
        self.qbuf.len() - self.qend
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
                let new_len = if need < 1 << 20 {
                    need.next_power_of_two()
                } else {
                    need
                };
                self.qbuf.resize(new_len, 0);
            }
        }
        let n = self.stream.read(&mut self.qbuf[self.qend..])?;
        self.qend += n;
        Ok(n)
    }

    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.stream.write(data)
    }
}
