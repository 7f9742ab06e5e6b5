//! A client connection over a socket pair, driven through the loop's own steps (read,
//! parse, execute, write, close) without listeners or a poll wait: the request-path fuzz
//! target and tests feed it bytes in any split and read back what a client would.

use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use super::conn::Stream;
use super::Server;
use crate::exec::client::Transport;
use crate::exec::Executor;

pub struct Harness {
    server: Server,
    /// The client's end of the current connection, and the server's slot for it.
    peer: Option<(UnixStream, usize)>,
    /// The slot of the connection `close` last closed.
    closed_slot: Option<usize>,
}

impl Harness {
    /// A loop with no listeners. Slots below `reserved` are left to clients the caller adds
    /// to the executor itself (the fuzz executor's in-process client is slot 0).
    pub fn new(ex: &Executor, reserved: usize) -> io::Result<Harness> {
        let (signal_rx, _) = UnixStream::pair()?;
        signal_rx.set_nonblocking(true)?;
        let mut server = Server::assemble(
            ex,
            mio::Poll::new()?,
            Vec::new(),
            None,
            mio::net::UnixStream::from_std(signal_rx),
            Arc::default(),
        )?;
        server.conns.resize_with(reserved, || None);
        Ok(Harness {
            server,
            peer: None,
            closed_slot: None,
        })
    }

    /// Opens a connection (closing the last one first).
    pub fn connect(&mut self, ex: &mut Executor) -> io::Result<()> {
        self.close(ex);
        let (ours, theirs) = UnixStream::pair()?;
        ours.set_nonblocking(true)?;
        theirs.set_nonblocking(true)?;
        let fd = ours.as_raw_fd();
        let stream = Stream::Unix(mio::net::UnixStream::from_std(ours));
        let slot = self.server.add_conn(
            ex,
            stream,
            "harness:0".into(),
            "harness:0".into(),
            fd,
            Transport::Unix,
        )?;
        self.peer = Some((theirs, slot));
        Ok(())
    }

    /// Whether the server still holds the connection.
    pub fn connected(&self) -> bool {
        self.peer
            .as_ref()
            .is_some_and(|(_, slot)| self.server.conns[*slot].is_some())
    }

    /// Sends `bytes` and runs loop turns until the server has nothing more to do for the
    /// connection; appends what came back to `replies`.
    pub fn send(&mut self, ex: &mut Executor, bytes: &[u8], replies: &mut Vec<u8>) {
        let mut sent = 0;
        while sent < bytes.len() {
            let Some((peer, _)) = self.peer.as_mut() else {
                return;
            };
            match peer.write(&bytes[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // The socket is full: the server reads it in its next turn.
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if !self.turn(ex, replies) && !self.connected() {
                        return;
                    }
                }
                // The server closed the connection.
                Err(_) => break,
            }
        }
        while self.turn(ex, replies) {}
    }

    /// The client closes its end; the loop sees the end of stream and frees the connection
    /// (`connected` tells whether it did).
    pub fn close(&mut self, ex: &mut Executor) {
        let Some((peer, slot)) = self.peer.take() else {
            return;
        };
        drop(peer);
        for _ in 0..8 {
            if self.server.conns[slot].is_none() {
                break;
            }
            self.server.on_readable(ex, slot);
            self.server.end_turn(ex);
        }
        self.closed_slot = Some(slot);
    }

    /// Whether the last connection closed by `close` is gone from the server.
    pub fn freed(&self) -> bool {
        self.closed_slot
            .is_none_or(|slot| self.server.conns[slot].is_none())
    }

    /// One loop turn for the connection: read, run, write, then read what it wrote. Returns
    /// whether another turn may do more (input left unread, or output still pending).
    fn turn(&mut self, ex: &mut Executor, replies: &mut Vec<u8>) -> bool {
        let Some(slot) = self.peer.as_ref().map(|(_, s)| *s) else {
            return false;
        };
        if self.server.conns[slot].is_none() {
            self.drain(replies);
            return false;
        }
        self.server.on_readable(ex, slot);
        self.server.read_deferred(ex);
        self.server.end_turn(ex);
        self.drain(replies);
        let Some(conn) = self.server.conns[slot].as_mut() else {
            return false;
        };
        // The client read what was stuck: the writable event the loop would get.
        let blocked = std::mem::take(&mut conn.write_blocked);
        let more_input = conn.read_pending;
        if blocked {
            self.server.queue_flush(slot);
            self.server.flush_all(ex);
        }
        blocked || more_input
    }

    /// Reads everything the server sent so far.
    fn drain(&mut self, replies: &mut Vec<u8>) -> usize {
        let Some((peer, _)) = self.peer.as_mut() else {
            return 0;
        };
        let mut total = 0;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match peer.read(&mut chunk) {
                Ok(0) => return total,
                Ok(n) => {
                    replies.extend_from_slice(&chunk[..n]);
                    total += n;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return total,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn send(h: &mut Harness, ex: &mut Executor, bytes: &[u8]) -> Vec<u8> {
        let mut replies = Vec::new();
        h.send(ex, bytes, &mut replies);
        replies
    }

    #[test]
    fn bytes_in_any_split_give_the_replies_and_a_close_frees_the_connection() {
        let mut ex = Executor::new(Config::new());
        let mut h = Harness::new(&ex, 0).expect("harness");
        h.connect(&mut ex).expect("connect");
        let request = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\nGET k\r\n";
        let mut replies = Vec::new();
        for byte in request.chunks(1) {
            h.send(&mut ex, byte, &mut replies);
        }
        assert_eq!(replies, b"+OK\r\n$5\r\nhello\r\n");
        // Half a command, then the close.
        assert_eq!(send(&mut h, &mut ex, b"*2\r\n$3\r\nGET"), b"");
        h.close(&mut ex);
        assert!(h.freed());
        assert_eq!(ex.client_count, 0);
        // A reply bigger than the socket buffer arrives whole.
        h.connect(&mut ex).expect("connect");
        let big = "x".repeat(3 << 20);
        let set = format!(
            "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n{big}\r\n",
            big.len()
        );
        assert_eq!(send(&mut h, &mut ex, set.as_bytes()), b"+OK\r\n");
        let got = send(&mut h, &mut ex, b"GET big\r\n");
        assert_eq!(got.len(), big.len() + 12);
        // QUIT: the server closes first.
        assert_eq!(send(&mut h, &mut ex, b"QUIT\r\n"), b"+OK\r\n");
        assert!(!h.connected());
        h.close(&mut ex);
        assert!(h.freed());
        assert_eq!(ex.client_count, 0);
    }
}
