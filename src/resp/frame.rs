//! Client-side RESP2/RESP3 reply decoding: used by the test harness, the transcript recorder and
//! (later) replication, where cinnabar is the client. Not on the server's request path.

/// A decoded reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    Bulk(Vec<u8>),
    Null,
    NullArray,
    Array(Vec<Frame>),
    Map(Vec<(Frame, Frame)>),
    Set(Vec<Frame>),
    Push(Vec<Frame>),
    Double(Vec<u8>),
    Boolean(bool),
    Verbatim(Vec<u8>),
    BigNumber(Vec<u8>),
    Attribute(Vec<(Frame, Frame)>),
}

impl Frame {
    /// Bytes of a string-like frame.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Frame::Simple(b) | Frame::Bulk(b) | Frame::Verbatim(b) | Frame::Double(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Frame::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// Elements of an array-like frame.
    pub fn items(&self) -> Option<&[Frame]> {
        match self {
            Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => Some(v),
            _ => None,
        }
    }
}

/// Decodes one frame from the start of `buf`: Ok(Some((frame, consumed))), Ok(None) if
/// incomplete, Err on malformed input.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, String> {
    let mut pos = 0;
    match decode_at(buf, &mut pos)? {
        Some(f) => Ok(Some((f, pos))),
        None => Ok(None),
    }
}

fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let rest = &buf[*pos..];
    let i = memchr::memmem::find(rest, b"\r\n")?;
    *pos += i + 2;
    Some(&rest[..i])
}

fn int(s: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad integer {:?}", String::from_utf8_lossy(s)))
}

fn decode_at(buf: &[u8], pos: &mut usize) -> Result<Option<Frame>, String> {
    if *pos >= buf.len() {
        return Ok(None);
    }
    let kind = buf[*pos];
    *pos += 1;
    let Some(l) = line(buf, pos) else {
        return Ok(None);
    };
    let l = l.to_vec();
    let frame = match kind {
        b'+' => Frame::Simple(l),
        b'-' => Frame::Error(l),
        b':' => Frame::Integer(int(&l)?),
        b'_' => Frame::Null,
        b',' => Frame::Double(l),
        b'#' => Frame::Boolean(l == b"t"),
        b'(' => Frame::BigNumber(l),
        b'$' | b'=' | b'!' => {
            let n = int(&l)?;
            if n < 0 {
                return Ok(Some(Frame::Null));
            }
            let n = n as usize;
            if buf.len() < *pos + n + 2 {
                return Ok(None);
            }
            let data = buf[*pos..*pos + n].to_vec();
            *pos += n + 2;
            match kind {
                b'$' => Frame::Bulk(data),
                b'=' => Frame::Verbatim(data),
                _ => Frame::Error(data),
            }
        }
        b'*' | b'~' | b'>' => {
            let n = int(&l)?;
            if n < 0 {
                return Ok(Some(Frame::NullArray));
            }
            let mut items = Vec::with_capacity(n.min(1024) as usize);
            for _ in 0..n {
                match decode_at(buf, pos)? {
                    Some(f) => items.push(f),
                    None => return Ok(None),
                }
            }
            match kind {
                b'*' => Frame::Array(items),
                b'~' => Frame::Set(items),
                _ => Frame::Push(items),
            }
        }
        b'%' | b'|' => {
            let n = int(&l)?;
            let mut pairs = Vec::with_capacity(n.clamp(0, 1024) as usize);
            for _ in 0..n {
                let Some(k) = decode_at(buf, pos)? else {
                    return Ok(None);
                };
                let Some(v) = decode_at(buf, pos)? else {
                    return Ok(None);
                };
                pairs.push((k, v));
            }
            if kind == b'%' {
                Frame::Map(pairs)
            } else {
                // An attribute precedes the real reply; keep both by returning the reply.
                return decode_at(buf, pos);
            }
        }
        other => return Err(format!("unknown RESP type byte {other:#x}")),
    };
    Ok(Some(frame))
}

/// Encodes a command as a RESP multibulk.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = Vec::new();
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(a.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_nested() {
        let b = b"*2\r\n$1\r\na\r\n%1\r\n+k\r\n:5\r\nrest";
        let (f, n) = decode(b).unwrap().unwrap();
        assert_eq!(n, b.len() - 4);
        assert_eq!(
            f,
            Frame::Array(vec![
                Frame::Bulk(b"a".to_vec()),
                Frame::Map(vec![(Frame::Simple(b"k".to_vec()), Frame::Integer(5))])
            ])
        );
        assert_eq!(decode(b"*2\r\n$1\r\na\r\n").unwrap(), None);
    }
}
