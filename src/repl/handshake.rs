//! The replica's side of connecting to a master (Redis's syncWithMaster and
//! readSyncBulkPayload), sans I/O: bytes from the master go in, commands to send and events
//! come out. `net` owns the socket and `persist::sync` the file the snapshot lands in.
//!
//! PING; then, pipelined, AUTH (masterauth), REPLCONF listening-port, REPLCONF ip-address
//! (replica-announce-ip), REPLCONF capa eof capa psync2; then PSYNC <replid> <offset>, and
//! for a full resync the snapshot as `$<len>` bytes or `$EOF:<mark>` ... `<mark>`.

use std::collections::VecDeque;

use crate::exec::propagate::encode_command;

/// What the handshake needs to know about us.
pub struct Params {
    pub masteruser: Option<Vec<u8>>,
    pub masterauth: Option<Vec<u8>>,
    pub listening_port: u16,
    pub announce_ip: Option<String>,
    /// PSYNC's arguments: the history we have ("?" and -1 for none).
    pub psync_replid: String,
    pub psync_offset: i64,
    /// We are handing over to this master (FAILOVER): PSYNC asks it to take over.
    pub failover: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Send(Vec<u8>),
    /// A non-fatal problem worth a log line.
    Note(String),
    /// +FULLRESYNC: a snapshot follows (None: SYNC, offset unknown).
    FullResync {
        replid: String,
        offset: i64,
    },
    /// The snapshot's size when announced (`$<len>`), None for an EOF-marked stream. Input
    /// stops here until the caller says how the payload is read: `receive` (as `Payload`
    /// events) or `detach` (the caller reads the socket itself).
    PayloadStart(Option<u64>),
    Payload(Vec<u8>),
    /// The snapshot is complete; what follows in `rest()` is the replication stream.
    PayloadEnd,
    /// +CONTINUE: the stream goes on from our offset (under a new id if the master says so).
    Continue {
        replid: Option<String>,
    },
    /// The master cannot serve us now (-LOADING, -NOMASTERLINK, ...): try again later.
    Retry(String),
    /// The handshake failed.
    Fail(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Pong,
    Auth,
    Port,
    Ip,
    Capa,
    Psync,
    /// After SYNC (a master without PSYNC): the bulk header comes at once.
    Bulk,
}

enum Stage {
    Lines,
    /// The bulk header came: what follows waits for `receive` or `detach`.
    Held(Box<Stage>),
    /// Receiving a `$<len>` payload: bytes left.
    Sized(u64),
    /// Receiving an EOF-marked payload.
    Marked {
        mark: [u8; 40],
        tail: Vec<u8>,
    },
    Done,
}

pub struct Handshake {
    params: Params,
    expect: VecDeque<Expect>,
    stage: Stage,
    buf: Vec<u8>,
}

fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_command(&mut out, args.iter().copied());
    out
}

impl Handshake {
    pub fn new(params: Params) -> Handshake {
        Handshake {
            params,
            expect: VecDeque::new(),
            stage: Stage::Lines,
            buf: Vec::new(),
        }
    }

    /// The first command, once connected.
    pub fn start(&mut self) -> Vec<u8> {
        self.expect.push_back(Expect::Pong);
        command(&[b"PING"])
    }

    /// Bytes that followed the snapshot (the start of the replication stream, or the stream
    /// after +CONTINUE).
    pub fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    /// After `PayloadStart`: the payload comes as `Payload` events, this input's first.
    pub fn receive(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        if let Stage::Held(stage) = std::mem::replace(&mut self.stage, Stage::Done) {
            self.stage = *stage;
            let rest = std::mem::take(&mut self.buf);
            self.payload(&rest, &mut events);
        }
        events
    }

    /// After `PayloadStart`: the caller reads the payload itself. Returns the EOF mark (None
    /// for a sized payload) and the payload's first bytes, already received.
    pub fn detach(&mut self) -> (Option<[u8; 40]>, Vec<u8>) {
        let mark = match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Held(stage) => match *stage {
                Stage::Marked { mark, .. } => Some(mark),
                _ => None,
            },
            _ => None,
        };
        (mark, std::mem::take(&mut self.buf))
    }

    /// Consumes bytes from the master, returning what to do.
    pub fn input(&mut self, data: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        match &mut self.stage {
            Stage::Done => {
                self.buf.extend_from_slice(data);
                return events;
            }
            Stage::Sized(_) | Stage::Marked { .. } => self.payload(data, &mut events),
            Stage::Lines | Stage::Held(_) => self.buf.extend_from_slice(data),
        }
        while matches!(self.stage, Stage::Lines) {
            let Some(nl) = memchr::memchr(b'\n', &self.buf) else {
                break;
            };
            let mut line: Vec<u8> = self.buf.drain(..=nl).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            // A bare newline keeps the link alive while the master prepares the snapshot.
            if line.is_empty() {
                continue;
            }
            let Some(expect) = self.expect.pop_front() else {
                events.push(Event::Fail(format!(
                    "Unexpected reply from master: '{}'",
                    String::from_utf8_lossy(&line)
                )));
                self.stage = Stage::Done;
                break;
            };
            if !self.on_line(expect, &line, &mut events) {
                self.stage = Stage::Done;
                self.buf.clear();
                break;
            }
            if !matches!(self.stage, Stage::Lines | Stage::Done) {
                let payload = std::mem::replace(&mut self.stage, Stage::Done);
                self.stage = Stage::Held(Box::new(payload));
            }
        }
        events
    }

    /// One reply line; false when the handshake is over (failed, or continuing).
    fn on_line(&mut self, expect: Expect, line: &[u8], events: &mut Vec<Event>) -> bool {
        let text = String::from_utf8_lossy(line).into_owned();
        let error = line.first() == Some(&b'-');
        match expect {
            Expect::Pong => {
                // Without credentials yet, an error about them still proves the master is there.
                if error
                    && !crate::resp::errors::MASTER_PING_AUTH_REPLIES
                        .iter()
                        .any(|p| line.starts_with(p))
                {
                    events.push(Event::Fail(format!(
                        "Error reply to PING from master: '{text}'"
                    )));
                    return false;
                }
                events.push(Event::Note(
                    "Master replied to PING, replication can continue...".into(),
                ));
                let mut out = Vec::new();
                if let Some(pass) = &self.params.masterauth {
                    match &self.params.masteruser {
                        Some(user) => out.extend(command(&[b"AUTH", user, pass])),
                        None => out.extend(command(&[b"AUTH", pass])),
                    }
                    self.expect.push_back(Expect::Auth);
                }
                let port = self.params.listening_port.to_string();
                out.extend(command(&[b"REPLCONF", b"listening-port", port.as_bytes()]));
                self.expect.push_back(Expect::Port);
                if let Some(ip) = &self.params.announce_ip {
                    out.extend(command(&[b"REPLCONF", b"ip-address", ip.as_bytes()]));
                    self.expect.push_back(Expect::Ip);
                }
                out.extend(command(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]));
                self.expect.push_back(Expect::Capa);
                events.push(Event::Send(out));
            }
            Expect::Auth if error => {
                events.push(Event::Fail(format!("Unable to AUTH to MASTER: {text}")));
                return false;
            }
            Expect::Auth => {}
            Expect::Port | Expect::Ip | Expect::Capa => {
                if error {
                    let what = match expect {
                        Expect::Port => "REPLCONF listening-port",
                        Expect::Ip => "REPLCONF ip-address",
                        _ => "REPLCONF capa",
                    };
                    events.push(Event::Note(format!(
                        "(Non critical) Master does not understand {what}: {text}"
                    )));
                }
                if expect == Expect::Capa {
                    let offset = self.params.psync_offset.to_string();
                    let replid = self.params.psync_replid.clone();
                    let mut psync: Vec<&[u8]> =
                        vec![b"PSYNC", replid.as_bytes(), offset.as_bytes()];
                    if self.params.failover {
                        psync.push(b"FAILOVER");
                    }
                    events.push(Event::Send(command(&psync)));
                    self.expect.push_back(Expect::Psync);
                }
            }
            Expect::Psync => {
                if let Some(rest) = line.strip_prefix(b"+FULLRESYNC") {
                    let words: Vec<&[u8]> = rest
                        .split(|&b| b == b' ')
                        .filter(|w| !w.is_empty())
                        .collect();
                    let (replid, offset) = match words.as_slice() {
                        [id, off] if id.len() == 40 => (
                            String::from_utf8_lossy(id).into_owned(),
                            crate::util::num::parse_i64(off).unwrap_or(-1),
                        ),
                        _ => {
                            events.push(Event::Note(
                                "Master replied with wrong +FULLRESYNC syntax.".into(),
                            ));
                            (String::new(), -1)
                        }
                    };
                    events.push(Event::FullResync { replid, offset });
                    self.expect.push_back(Expect::Bulk);
                } else if let Some(rest) = line.strip_prefix(b"+CONTINUE") {
                    let id = rest.trim_ascii();
                    let replid = (id.len() == 40).then(|| String::from_utf8_lossy(id).into_owned());
                    events.push(Event::Continue { replid });
                    self.stage = Stage::Done;
                    return true;
                } else if line.starts_with(b"-NOMASTERLINK") || line.starts_with(b"-LOADING") {
                    events.push(Event::Retry(format!(
                        "Master is currently unable to PSYNC but should be in the future: {text}"
                    )));
                    return false;
                } else if self.params.failover {
                    // A failover target that will not continue our history: the failover is
                    // off (no SYNC fallback then).
                    events.push(Event::Fail(format!(
                        "Master does not support PSYNC or is in error state (reply: {text})"
                    )));
                    return false;
                } else if error {
                    // A master older than PSYNC: the plain SYNC sends the snapshot at once.
                    events.push(Event::Note(format!(
                        "Master does not support PSYNC or is in error state (reply: {text})"
                    )));
                    events.push(Event::Send(command(&[b"SYNC"])));
                    events.push(Event::FullResync {
                        replid: String::new(),
                        offset: -1,
                    });
                    self.expect.push_back(Expect::Bulk);
                } else {
                    events.push(Event::Fail(format!(
                        "Unexpected reply to PSYNC from master: {text}"
                    )));
                    return false;
                }
            }
            Expect::Bulk => {
                if error {
                    events.push(Event::Fail(format!(
                        "MASTER aborted replication with an error: {}",
                        &text[1..]
                    )));
                    return false;
                }
                if let Some(mark) = line.strip_prefix(b"$EOF:") {
                    if mark.len() != 40 {
                        events.push(Event::Fail("Bad EOF mark from master".into()));
                        return false;
                    }
                    let mut m = [0u8; 40];
                    m.copy_from_slice(mark);
                    events.push(Event::PayloadStart(None));
                    self.stage = Stage::Marked {
                        mark: m,
                        tail: Vec::new(),
                    };
                } else if let Some(len) = line
                    .strip_prefix(b"$")
                    .and_then(crate::util::num::parse_i64)
                    .filter(|&n| n >= 0)
                {
                    events.push(Event::PayloadStart(Some(len as u64)));
                    self.stage = Stage::Sized(len as u64);
                    if len == 0 {
                        self.stage = Stage::Done;
                        events.push(Event::PayloadEnd);
                    }
                } else {
                    events.push(Event::Fail(format!(
                        "Bad protocol from MASTER, the first byte is not '$' (we received '{text}'), are you sure the host and port are right?"
                    )));
                    return false;
                }
            }
        }
        true
    }

    fn payload(&mut self, data: &[u8], events: &mut Vec<Event>) {
        match &mut self.stage {
            Stage::Sized(left) => {
                let n = (*left).min(data.len() as u64) as usize;
                if n > 0 {
                    events.push(Event::Payload(data[..n].to_vec()));
                }
                *left -= n as u64;
                if *left == 0 {
                    self.stage = Stage::Done;
                    self.buf.extend_from_slice(&data[n..]);
                    events.push(Event::PayloadEnd);
                }
            }
            Stage::Marked { mark, tail } => {
                // The last 40 bytes might be the mark: hold them back until more comes.
                tail.extend_from_slice(data);
                if tail.len() >= 40 && tail[tail.len() - 40..] == mark[..] {
                    tail.truncate(tail.len() - 40);
                    if !tail.is_empty() {
                        events.push(Event::Payload(std::mem::take(tail)));
                    }
                    self.stage = Stage::Done;
                    events.push(Event::PayloadEnd);
                } else if tail.len() > 40 {
                    let keep = tail.split_off(tail.len() - 40);
                    events.push(Event::Payload(std::mem::replace(tail, keep)));
                }
            }
            Stage::Lines | Stage::Held(_) | Stage::Done => self.buf.extend_from_slice(data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(auth: bool) -> Params {
        Params {
            masteruser: None,
            masterauth: auth.then(|| b"pw".to_vec()),
            listening_port: 7001,
            announce_ip: None,
            psync_replid: "?".into(),
            psync_offset: -1,
            failover: false,
        }
    }

    /// `input`, taking the payload as events once it starts.
    fn feed(h: &mut Handshake, data: &[u8]) -> Vec<Event> {
        let mut ev = h.input(data);
        if ev.iter().any(|e| matches!(e, Event::PayloadStart(_))) {
            ev.extend(h.receive());
        }
        ev
    }

    fn payload(events: &[Event]) -> Vec<u8> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Payload(p) => Some(p.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn full_resync_with_sized_payload_then_stream() {
        let mut h = Handshake::new(params(true));
        assert_eq!(h.start(), b"*1\r\n$4\r\nPING\r\n");
        let ev = h.input(b"-NOAUTH Authentication required.\r\n");
        let Event::Send(sent) = &ev[1] else {
            panic!("{ev:?}")
        };
        assert!(sent.starts_with(b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*3\r\n$8\r\nREPLCONF"));
        let ev = h.input(b"+OK\r\n+OK\r\n+OK");
        assert!(ev.is_empty(), "{ev:?}");
        let ev = h.input(b"\r\n");
        assert!(matches!(&ev[0], Event::Send(s) if s.ends_with(b"$1\r\n?\r\n$2\r\n-1\r\n")));
        let id = "a".repeat(40);
        let ev = feed(
            &mut h,
            format!("\n\n+FULLRESYNC {id} 17\r\n\n$5\r\nab").as_bytes(),
        );
        assert_eq!(
            ev[0],
            Event::FullResync {
                replid: id.clone(),
                offset: 17
            }
        );
        assert_eq!(ev[1], Event::PayloadStart(Some(5)));
        let ev2 = h.input(b"cde*1\r\n$4\r\nPING\r\n");
        assert_eq!([payload(&ev), payload(&ev2)].concat(), b"abcde");
        assert_eq!(ev2.last(), Some(&Event::PayloadEnd));
        assert_eq!(h.take_rest(), b"*1\r\n$4\r\nPING\r\n");
    }

    #[test]
    fn eof_marked_payload_split_anywhere() {
        let mark = [b'm'; 40];
        let mut body = b"$EOF:".to_vec();
        body.extend_from_slice(&mark);
        body.extend_from_slice(b"\r\nREDIS0011-some-data-");
        body.extend_from_slice(&mark);
        for cut in 1..body.len() {
            let mut h = Handshake::new(params(false));
            h.start();
            h.input(b"+PONG\r\n+OK\r\n+OK\r\n");
            h.input(format!("+FULLRESYNC {} 0\r\n", "b".repeat(40)).as_bytes());
            let mut ev = feed(&mut h, &body[..cut]);
            ev.extend(feed(&mut h, &body[cut..]));
            assert_eq!(payload(&ev), b"REDIS0011-some-data-", "cut {cut}");
            assert_eq!(ev.last(), Some(&Event::PayloadEnd), "cut {cut}");
        }
    }

    /// A caller that reads the payload itself gets the mark and the bytes already here.
    #[test]
    fn detached_payload() {
        let mut h = Handshake::new(params(false));
        h.start();
        h.input(b"+PONG\r\n+OK\r\n+OK\r\n");
        let mut input = format!("+FULLRESYNC {} 0\r\n$EOF:", "b".repeat(40)).into_bytes();
        input.extend_from_slice(&[b'm'; 40]);
        input.extend_from_slice(b"\r\nREDIS0011");
        let ev = h.input(&input);
        assert_eq!(ev.last(), Some(&Event::PayloadStart(None)));
        assert!(h.input(b"-more").is_empty(), "held until told");
        assert_eq!(h.detach(), (Some([b'm'; 40]), b"REDIS0011-more".to_vec()));
        assert!(h.is_done());
    }

    #[test]
    fn continue_and_refusals() {
        let mut h = Handshake::new(params(false));
        h.start();
        h.input(b"+PONG\r\n+OK\r\n+OK\r\n");
        let ev = h.input(format!("+CONTINUE {}\r\n*1\r\n", "c".repeat(40)).as_bytes());
        assert_eq!(
            ev,
            [Event::Continue {
                replid: Some("c".repeat(40))
            }]
        );
        assert_eq!(h.take_rest(), b"*1\r\n");
        let mut h = Handshake::new(params(false));
        h.start();
        let ev = h.input(b"-ERR wrong\r\n");
        assert!(
            matches!(&ev[0], Event::Fail(t) if t == "Error reply to PING from master: '-ERR wrong'")
        );
        let mut h = Handshake::new(params(false));
        h.start();
        h.input(b"+PONG\r\n+OK\r\n+OK\r\n");
        let ev = h.input(b"-LOADING Redis is loading the dataset in memory\r\n");
        assert!(matches!(&ev[0], Event::Retry(_)));
    }
}
