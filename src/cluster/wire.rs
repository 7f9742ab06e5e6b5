//! The cluster bus's messages, byte for byte as Redis 7.0 lays them out (`clusterMsg` in
//! cluster.h): a fixed 2256-byte header in network byte order, then a body by type. Both
//! directions go through here, so a message we write is one Redis reads and the reverse.

/// Header size (Redis's CLUSTERMSG_MIN_LEN, `sizeof(clusterMsg) - sizeof(union clusterMsgData)`).
pub const HEADER_LEN: usize = 2256;
/// One gossip entry (`clusterMsgDataGossip`).
pub const GOSSIP_LEN: usize = 104;
pub const NAME_LEN: usize = 40;
pub const IP_LEN: usize = 46;
pub const SLOT_BYTES: usize = crate::cluster::slot::SLOTS / 8;
/// Bus protocol version.
pub const PROTO_VER: u16 = 1;

pub mod ty {
    pub const PING: u16 = 0;
    pub const PONG: u16 = 1;
    pub const MEET: u16 = 2;
    pub const FAIL: u16 = 3;
    pub const PUBLISH: u16 = 4;
    pub const FAILOVER_AUTH_REQUEST: u16 = 5;
    pub const FAILOVER_AUTH_ACK: u16 = 6;
    pub const UPDATE: u16 = 7;
    pub const MFSTART: u16 = 8;
    pub const MODULE: u16 = 9;
    pub const PUBLISHSHARD: u16 = 10;
    /// Number of types (stats arrays).
    pub const COUNT: usize = 11;

    /// The name INFO and the logs use (Redis's clusterGetMessageTypeString).
    pub fn name(t: u16) -> &'static str {
        match t {
            PING => "ping",
            PONG => "pong",
            MEET => "meet",
            FAIL => "fail",
            PUBLISH => "publish",
            PUBLISHSHARD => "publishshard",
            FAILOVER_AUTH_REQUEST => "auth-req",
            FAILOVER_AUTH_ACK => "auth-ack",
            UPDATE => "update",
            MFSTART => "mfstart",
            MODULE => "module",
            _ => "unknown",
        }
    }
}

/// Header `mflags[0]` bits.
pub mod mflag {
    /// Master paused for a manual failover.
    pub const PAUSED: u8 = 1 << 0;
    /// Vote even though the master is up (manual failover).
    pub const FORCEACK: u8 = 1 << 1;
    /// PING/PONG/MEET carries extensions.
    pub const EXT_DATA: u8 = 1 << 2;
}

/// Ping extension types (Redis 7.0 knows the hostname; 7.2 added the rest).
pub mod ext {
    pub const HOSTNAME: u16 = 0;
    pub const HUMAN_NODENAME: u16 = 1;
    pub const FORGOTTEN_NODE: u16 = 2;
    pub const SHARDID: u16 = 3;
}

pub type Name = [u8; NAME_LEN];
pub const NULL_NAME: Name = [0; NAME_LEN];

/// The header fields every message carries.
#[derive(Clone)]
pub struct Header {
    pub ty: u16,
    pub count: u16,
    pub port: u16,
    pub current_epoch: u64,
    pub config_epoch: u64,
    pub offset: u64,
    pub sender: Name,
    pub myslots: Box<[u8; SLOT_BYTES]>,
    pub slaveof: Name,
    /// Announced IP (empty: the receiver uses the socket's peer address).
    pub myip: Vec<u8>,
    pub extensions: u16,
    pub pport: u16,
    pub cport: u16,
    pub flags: u16,
    pub state: u8,
    pub mflags: [u8; 3],
}

/// One gossip entry: what the sender knows of another node.
#[derive(Clone, Debug)]
pub struct Gossip {
    pub name: Name,
    pub ping_sent: u32,
    pub pong_received: u32,
    pub ip: Vec<u8>,
    pub port: u16,
    pub cport: u16,
    pub flags: u16,
    pub pport: u16,
}

pub enum Body {
    /// PING, PONG, MEET: gossip entries and the extensions: the hostname (Redis 7.0), and
    /// forgotten nodes with their TTLs and the sender's shard id (7.2).
    Ping {
        gossip: Vec<Gossip>,
        hostname: Option<Vec<u8>>,
        forgotten: Vec<(Name, u64)>,
        shard_id: Option<Name>,
    },
    Fail {
        about: Name,
    },
    Publish {
        channel: Vec<u8>,
        message: Vec<u8>,
    },
    Update {
        config_epoch: u64,
        name: Name,
        slots: Box<[u8; SLOT_BYTES]>,
    },
    /// Header-only messages (auth request/ack, MFSTART) and MODULE (ignored).
    Empty,
}

pub struct Message {
    pub hdr: Header,
    pub body: Body,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn name_at(b: &[u8], at: usize) -> Name {
    b[at..at + NAME_LEN].try_into().expect("40 bytes")
}
/// A NUL-terminated string in a fixed field.
fn cstr(b: &[u8]) -> Vec<u8> {
    let end = memchr::memchr(0, b).unwrap_or(b.len());
    b[..end].to_vec()
}

/// The total length a message claims (its first 8 bytes), after checking the signature and
/// that it is at least a header; None for a bad frame (the link is dropped).
pub fn frame_len(first8: &[u8]) -> Option<usize> {
    if &first8[..4] != b"RCmb" {
        return None;
    }
    let len = be32(first8, 4) as usize;
    (len >= HEADER_LEN).then_some(len)
}

/// Why a complete frame is not processed (Redis logs and skips it, keeping the link).
#[derive(Debug)]
pub enum Invalid {
    Version,
    Length {
        ty: u16,
        got: usize,
        expected: usize,
    },
    ExtPadding {
        ty: u16,
        len: usize,
    },
    ExtOverflow {
        ty: u16,
        total: usize,
    },
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invalid::Version => write!(f, "Received a packet of a different bus version"),
            Invalid::Length { ty, got, expected } => write!(
                f,
                "Received invalid {} packet of length {got} but expected length {expected}",
                ty::name(*ty)
            ),
            Invalid::ExtPadding { ty, len } => write!(
                f,
                "Received a {} packet without proper padding ({len} bytes)",
                ty::name(*ty)
            ),
            Invalid::ExtOverflow { ty, total } => write!(
                f,
                "Received invalid {} packet with extension data that exceeds total packet length ({total})",
                ty::name(*ty)
            ),
        }
    }
}

/// The type of a complete frame (for the received-messages stats, counted before checks).
pub fn frame_type(frame: &[u8]) -> u16 {
    be16(frame, 12)
}

/// Decodes a complete frame, checking its length against its type as Redis's
/// clusterProcessPacket does.
pub fn decode(b: &[u8]) -> Result<Message, Invalid> {
    let total = b.len();
    if be16(b, 8) != PROTO_VER {
        return Err(Invalid::Version);
    }
    let t = be16(b, 12);
    let count = be16(b, 14);
    let extensions = be16(b, 2214);
    let mflags = [b[2253], b[2254], b[2255]];
    let mut expected = HEADER_LEN;
    let mut body = Body::Empty;
    match t {
        ty::PING | ty::PONG | ty::MEET => {
            expected += GOSSIP_LEN * count as usize;
            if expected > total {
                return Err(Invalid::Length {
                    ty: t,
                    got: total,
                    expected,
                });
            }
            let gossip = (0..count as usize)
                .map(|i| {
                    let g = &b[HEADER_LEN + i * GOSSIP_LEN..HEADER_LEN + (i + 1) * GOSSIP_LEN];
                    Gossip {
                        name: name_at(g, 0),
                        ping_sent: be32(g, 40),
                        pong_received: be32(g, 44),
                        ip: cstr(&g[48..48 + IP_LEN]),
                        port: be16(g, 94),
                        cport: be16(g, 96),
                        flags: be16(g, 98),
                        pport: be16(g, 100),
                    }
                })
                .collect();
            let mut hostname = None;
            let mut forgotten = Vec::new();
            let mut shard_id = None;
            if mflags[0] & mflag::EXT_DATA != 0 {
                for _ in 0..extensions {
                    if expected + 8 > total {
                        return Err(Invalid::ExtOverflow { ty: t, total });
                    }
                    let len = be32(b, expected) as usize;
                    if len % 8 != 0 || len < 8 {
                        return Err(Invalid::ExtPadding { ty: t, len });
                    }
                    if total - expected < len {
                        return Err(Invalid::ExtOverflow { ty: t, total });
                    }
                    let data = &b[expected + 8..expected + len];
                    match be16(b, expected + 4) {
                        ext::HOSTNAME => hostname = Some(cstr(data)),
                        ext::FORGOTTEN_NODE if data.len() >= NAME_LEN + 8 => {
                            forgotten.push((name_at(data, 0), be64(data, NAME_LEN)))
                        }
                        ext::SHARDID if data.len() >= NAME_LEN => shard_id = Some(name_at(data, 0)),
                        _ => {}
                    }
                    expected += len;
                }
            }
            body = Body::Ping {
                gossip,
                hostname,
                forgotten,
                shard_id,
            };
        }
        ty::FAIL => {
            expected += NAME_LEN;
            if expected == total {
                body = Body::Fail {
                    about: name_at(b, HEADER_LEN),
                };
            }
        }
        ty::PUBLISH | ty::PUBLISHSHARD => {
            if total >= HEADER_LEN + 8 {
                let ch = be32(b, HEADER_LEN) as usize;
                let msg = be32(b, HEADER_LEN + 4) as usize;
                expected += 8 + ch + msg;
                if expected == total {
                    let at = HEADER_LEN + 8;
                    body = Body::Publish {
                        channel: b[at..at + ch].to_vec(),
                        message: b[at + ch..at + ch + msg].to_vec(),
                    };
                }
            } else {
                expected += 16;
            }
        }
        ty::FAILOVER_AUTH_REQUEST | ty::FAILOVER_AUTH_ACK | ty::MFSTART => {}
        ty::UPDATE => {
            expected += 8 + NAME_LEN + SLOT_BYTES;
            if expected == total {
                let at = HEADER_LEN;
                let mut slots = Box::new([0u8; SLOT_BYTES]);
                slots.copy_from_slice(&b[at + 8 + NAME_LEN..at + 8 + NAME_LEN + SLOT_BYTES]);
                body = Body::Update {
                    config_epoch: be64(b, at),
                    name: name_at(b, at + 8),
                    slots,
                };
            }
        }
        ty::MODULE => {
            expected += if total >= HEADER_LEN + 13 {
                13 + be32(b, HEADER_LEN + 8) as usize
            } else {
                16
            };
        }
        // An unknown type is assumed well formed.
        _ => expected = total,
    }
    if expected != total {
        return Err(Invalid::Length {
            ty: t,
            got: total,
            expected,
        });
    }
    let mut myslots = Box::new([0u8; SLOT_BYTES]);
    myslots.copy_from_slice(&b[80..80 + SLOT_BYTES]);
    Ok(Message {
        hdr: Header {
            ty: t,
            count,
            port: be16(b, 10),
            current_epoch: be64(b, 16),
            config_epoch: be64(b, 24),
            offset: be64(b, 32),
            sender: name_at(b, 40),
            myslots,
            slaveof: name_at(b, 2128),
            myip: cstr(&b[2168..2168 + IP_LEN]),
            extensions,
            pport: be16(b, 2246),
            cport: be16(b, 2248),
            flags: be16(b, 2250),
            state: b[2252],
            mflags,
        },
        body,
    })
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}
fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_be_bytes());
}
fn put_cstr(b: &mut [u8], at: usize, field: usize, s: &[u8]) {
    let n = s.len().min(field - 1);
    b[at..at + n].copy_from_slice(&s[..n]);
}

/// Writes the header into `out` (which must hold at least HEADER_LEN bytes); the total
/// length is patched by `finish`.
fn put_header(out: &mut [u8], h: &Header) {
    out[..4].copy_from_slice(b"RCmb");
    put16(out, 8, PROTO_VER);
    put16(out, 10, h.port);
    put16(out, 12, h.ty);
    put16(out, 14, h.count);
    put64(out, 16, h.current_epoch);
    put64(out, 24, h.config_epoch);
    put64(out, 32, h.offset);
    out[40..80].copy_from_slice(&h.sender);
    out[80..80 + SLOT_BYTES].copy_from_slice(&h.myslots[..]);
    out[2128..2168].copy_from_slice(&h.slaveof);
    put_cstr(out, 2168, IP_LEN, &h.myip);
    put16(out, 2214, h.extensions);
    put16(out, 2246, h.pport);
    put16(out, 2248, h.cport);
    put16(out, 2250, h.flags);
    out[2252] = h.state;
    out[2253..2256].copy_from_slice(&h.mflags);
}

/// Encodes a message; the header's count, extensions and EXT_DATA flag follow the body.
pub fn encode(mut h: Header, body: &Body) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_LEN];
    match body {
        Body::Ping {
            gossip,
            hostname,
            forgotten,
            shard_id,
        } => {
            h.count = gossip.len() as u16;
            out.resize(HEADER_LEN + GOSSIP_LEN * gossip.len(), 0);
            for (i, g) in gossip.iter().enumerate() {
                let at = HEADER_LEN + i * GOSSIP_LEN;
                out[at..at + NAME_LEN].copy_from_slice(&g.name);
                put32(&mut out, at + 40, g.ping_sent);
                put32(&mut out, at + 44, g.pong_received);
                put_cstr(&mut out, at + 48, IP_LEN, &g.ip);
                put16(&mut out, at + 94, g.port);
                put16(&mut out, at + 96, g.cport);
                put16(&mut out, at + 98, g.flags);
                put16(&mut out, at + 100, g.pport);
            }
            let mut extensions = 0u16;
            let mut push_ext = |out: &mut Vec<u8>, t: u16, data: &[u8], nul: bool| {
                let padded = (data.len() + nul as usize).div_ceil(8) * 8;
                let at = out.len();
                out.resize(at + 8 + padded, 0);
                put32(out, at, (8 + padded) as u32);
                put16(out, at + 4, t);
                out[at + 8..at + 8 + data.len()].copy_from_slice(data);
                extensions += 1;
            };
            if let Some(host) = hostname.as_deref().filter(|h| !h.is_empty()) {
                push_ext(&mut out, ext::HOSTNAME, host, true);
            }
            for (name, ttl) in forgotten {
                let mut data = [0u8; NAME_LEN + 8];
                data[..NAME_LEN].copy_from_slice(name);
                data[NAME_LEN..].copy_from_slice(&ttl.to_be_bytes());
                push_ext(&mut out, ext::FORGOTTEN_NODE, &data, false);
            }
            if let Some(id) = shard_id {
                push_ext(&mut out, ext::SHARDID, id, false);
            }
            h.extensions = extensions;
            if extensions > 0 {
                h.mflags[0] |= mflag::EXT_DATA;
            }
        }
        Body::Fail { about } => out.extend_from_slice(about),
        Body::Publish { channel, message } => {
            out.extend_from_slice(&(channel.len() as u32).to_be_bytes());
            out.extend_from_slice(&(message.len() as u32).to_be_bytes());
            out.extend_from_slice(channel);
            out.extend_from_slice(message);
        }
        Body::Update {
            config_epoch,
            name,
            slots,
        } => {
            out.extend_from_slice(&config_epoch.to_be_bytes());
            out.extend_from_slice(name);
            out.extend_from_slice(&slots[..]);
        }
        Body::Empty => {}
    }
    put_header(&mut out, &h);
    let len = out.len() as u32;
    put32(&mut out, 4, len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(t: u16) -> Header {
        Header {
            ty: t,
            count: 0,
            port: 7000,
            current_epoch: 5,
            config_epoch: 3,
            offset: 1234,
            sender: [b'a'; 40],
            myslots: Box::new([0u8; SLOT_BYTES]),
            slaveof: NULL_NAME,
            myip: b"127.0.0.1".to_vec(),
            extensions: 0,
            pport: 0,
            cport: 17000,
            flags: 1,
            state: 0,
            mflags: [0; 3],
        }
    }

    #[test]
    fn ping_round_trips_with_gossip_and_hostname() {
        let g = Gossip {
            name: [b'b'; 40],
            ping_sent: 1,
            pong_received: 2,
            ip: b"127.0.0.2".to_vec(),
            port: 7001,
            cport: 17001,
            flags: 2,
            pport: 0,
        };
        let bytes = encode(
            header(ty::PING),
            &Body::Ping {
                gossip: vec![g],
                hostname: Some(b"host-1".to_vec()),
                forgotten: vec![([b'f'; 40], 55)],
                shard_id: Some([b's'; 40]),
            },
        );
        // Extensions: hostname 8 + 8, forgotten node 8 + 48, shard id 8 + 40.
        assert_eq!(bytes.len(), HEADER_LEN + GOSSIP_LEN + 16 + 56 + 48);
        assert_eq!(frame_len(&bytes[..8]), Some(bytes.len()));
        let m = decode(&bytes).unwrap();
        assert_eq!(m.hdr.count, 1);
        assert_eq!(m.hdr.offset, 1234);
        assert_eq!(m.hdr.myip, b"127.0.0.1");
        assert_eq!(m.hdr.extensions, 3);
        let Body::Ping {
            gossip,
            hostname,
            forgotten,
            shard_id,
        } = m.body
        else {
            panic!("not a ping")
        };
        assert_eq!(gossip[0].port, 7001);
        assert_eq!(hostname.as_deref(), Some(&b"host-1"[..]));
        assert_eq!(forgotten, vec![([b'f'; 40], 55)]);
        assert_eq!(shard_id, Some([b's'; 40]));
    }

    #[test]
    fn wrong_lengths_are_refused() {
        let mut bytes = encode(header(ty::FAIL), &Body::Fail { about: [b'c'; 40] });
        assert!(decode(&bytes).is_ok());
        bytes.push(0);
        assert!(matches!(decode(&bytes), Err(Invalid::Length { .. })));
        let mut update = encode(
            header(ty::UPDATE),
            &Body::Update {
                config_epoch: 1,
                name: [b'c'; 40],
                slots: Box::new([0; SLOT_BYTES]),
            },
        );
        assert_eq!(update.len(), HEADER_LEN + 2096);
        update.truncate(update.len() - 1);
        assert!(decode(&update).is_err());
    }
}
