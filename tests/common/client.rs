//! A blocking RESP client over TCP for tests and the recorder: sends argv, reads raw frames.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use cinnabar::resp::frame::{decode, encode_command, Frame};

pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(port: u16) -> std::io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Client {
            stream,
            buf: Vec::new(),
        })
    }

    pub fn set_timeout(&self, d: Duration) {
        self.stream.set_read_timeout(Some(d)).expect("timeout");
    }

    pub fn send<A: AsRef<[u8]>>(&mut self, argv: &[A]) {
        self.stream.write_all(&encode_command(argv)).expect("send");
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads one whole frame and returns its raw bytes.
    pub fn read_raw(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some((_, n)) = decode(&self.buf)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?
            {
                return Ok(self.buf.drain(..n).collect());
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub fn read(&mut self) -> Frame {
        let raw = self.read_raw().expect("read frame");
        decode(&raw).expect("valid").expect("whole").0
    }

    /// Sends a command and returns its decoded reply.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, argv: &[A]) -> Frame {
        self.send(argv);
        self.read()
    }

    /// Sends a command and returns its raw reply bytes.
    pub fn cmd_raw<A: AsRef<[u8]>>(&mut self, argv: &[A]) -> Vec<u8> {
        self.send(argv);
        self.read_raw().expect("reply")
    }

    /// Reads whatever arrives until the peer closes (or the timeout passes).
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 65536];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return out,
                Ok(n) => out.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

impl Client {
    /// Runs a space-separated command line and checks it did not fail; returns the reply.
    pub fn ok(&mut self, line: &str) -> Vec<u8> {
        let argv: Vec<&str> = line.split(' ').collect();
        let r = self.cmd_raw(&argv);
        assert!(
            !r.starts_with(b"-"),
            "{line}: {}",
            String::from_utf8_lossy(&r)
        );
        r
    }

    /// A field of an INFO section ("" when absent).
    pub fn info_field(&mut self, section: &str, field: &str) -> String {
        let info = self.cmd(&["INFO", section]);
        let text = String::from_utf8_lossy(info.as_bytes().expect("INFO")).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
            .unwrap_or_default()
    }

    /// A field of the CLIENT LIST line of the client named `name` (its value as text).
    pub fn client_field(&mut self, name: &str, field: &str) -> String {
        let list = self.cmd(&["CLIENT", "LIST"]);
        let text = String::from_utf8_lossy(list.as_bytes().expect("CLIENT LIST")).into_owned();
        let line = text
            .lines()
            .find(|l| l.contains(&format!(" name={name} ")))
            .unwrap_or_else(|| panic!("no client named {name}: {text}"));
        line.split(' ')
            .find_map(|f| f.strip_prefix(&format!("{field}=")))
            .unwrap_or_else(|| panic!("no field {field}: {line}"))
            .to_string()
    }

    /// A field of INFO persistence.
    pub fn persistence_field(&mut self, field: &str) -> String {
        self.info_field("persistence", field)
    }
}

/// The raw reply to a space-separated command line, as text.
pub fn reply_text(c: &mut Client, line: &str) -> String {
    let argv: Vec<&str> = line.split(' ').collect();
    String::from_utf8_lossy(&c.cmd_raw(&argv)).into_owned()
}

/// The integer reply to a space-separated command line.
pub fn reply_int(c: &mut Client, line: &str) -> i64 {
    let reply = reply_text(c, line);
    reply[1..reply.len() - 2]
        .parse()
        .unwrap_or_else(|_| panic!("{line}: {reply}"))
}

/// Splits a redis-cli style line into argv.
pub fn args(line: &str) -> Vec<Vec<u8>> {
    cinnabar::util::splitargs::split_args(line.as_bytes()).expect("quoting")
}

/// An array of integers, as RESP.
pub fn ints(v: &[i64]) -> String {
    let mut s = format!("*{}\r\n", v.len());
    for i in v {
        s.push_str(&format!(":{i}\r\n"));
    }
    s
}

/// The integers of an array reply.
pub fn int_list(c: &mut Client, line: &str) -> Vec<i64> {
    reply_text(c, line)
        .split("\r\n")
        .filter_map(|l| l.strip_prefix(':'))
        .map(|v| v.parse().unwrap())
        .collect()
}

/// The sorted bulk strings of an array reply.
pub fn sorted_bulks(c: &mut Client, line: &str) -> Vec<String> {
    let reply = reply_text(c, line);
    let mut lines = reply.split("\r\n");
    let mut out = Vec::new();
    while let Some(l) = lines.next() {
        if l.starts_with('$') && l != "$-1" {
            out.push(lines.next().unwrap().to_string());
        }
    }
    out.sort();
    out
}

/// The wall clock in ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `text` with every 13-digit number (a time in ms) as `<ms>`.
pub fn with_ms_masked(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let boundary = i == 0 || !b[i - 1].is_ascii_digit();
        if digits == 13 && boundary {
            out.push_str("<ms>");
            i += 13;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Each `(command line, error text)` answers `-ERR <text>`.
pub fn assert_errors(c: &mut Client, cases: &[(&str, &str)]) {
    for (line, want) in cases {
        assert_eq!(reply_text(c, line), format!("-ERR {want}\r\n"), "{line}");
    }
}

/// The names of the next `n` keyspace events a PSUBSCRIBEd client receives.
pub fn next_events(sub: &mut Client, n: usize) -> Vec<String> {
    sub.set_timeout(std::time::Duration::from_secs(5));
    let mut raw = String::new();
    while raw.matches("pmessage").count() < n {
        raw.push_str(&String::from_utf8_lossy(&sub.read_raw().unwrap()));
    }
    // The event is the last line of each message.
    raw.split("pmessage\r\n")
        .skip(1)
        .map(|m| m.split("\r\n").nth(5).unwrap().to_string())
        .collect()
}
