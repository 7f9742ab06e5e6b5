//! Reply encoding: typed writers that pick RESP2 or RESP3 framing from the client's protocol.
//!
//! Every command writes its reply through a `ReplyBuf`, which appends to the client's output
//! buffer; nothing here allocates per reply beyond the buffer's own growth. RESP3-only types
//! degrade as Redis degrades them for RESP2 clients (maps become flat arrays, doubles become
//! bulk strings, booleans become 1/0, null becomes `$-1` or `*-1`).

use crate::util::num::{push_g17, push_i64, push_u64};

/// Protocol version of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Resp2 = 2,
    Resp3 = 3,
}

/// An output buffer plus the framing rules of its client.
#[derive(Debug)]
pub struct ReplyBuf {
    pub buf: Vec<u8>,
    pub proto: Proto,
    /// While a command's reply is dropped (CLIENT REPLY OFF/SKIP): the pushes written
    /// meanwhile, which are kept (Redis's CLIENT_PUSHING bypasses the silence).
    silenced: Option<Vec<std::ops::Range<usize>>>,
}

/// Position of a length header written before its element count is known.
#[derive(Debug, Clone, Copy)]
pub struct Deferred {
    at: usize,
    kind: u8,
}

impl Default for ReplyBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplyBuf {
    pub fn new() -> Self {
        ReplyBuf {
            buf: Vec::new(),
            proto: Proto::Resp2,
            silenced: None,
        }
    }

    /// The reply about to be written will be dropped (`drop_silenced`), except for pushes.
    pub fn silence(&mut self) {
        self.silenced = Some(Vec::new());
    }

    /// Marks what was written from `start` on as a push (a pub/sub message or subscription
    /// confirmation): it survives `drop_silenced`.
    #[inline]
    pub fn pushed_since(&mut self, start: usize) {
        if let Some(kept) = &mut self.silenced {
            kept.push(start..self.buf.len());
        }
    }

    /// Ends the silence: drops what was written since `start` (when given), keeping the
    /// pushes marked meanwhile.
    pub fn end_silence(&mut self, drop_since: Option<usize>) {
        let kept = self.silenced.take().unwrap_or_default();
        let Some(start) = drop_since else {
            return;
        };
        let mut end = start;
        for range in kept {
            let len = range.len();
            self.buf.copy_within(range, end);
            end += len;
        }
        self.buf.truncate(end);
    }

    #[inline]
    pub fn is_resp3(&self) -> bool {
        self.proto == Proto::Resp3
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    #[inline]
    fn header(&mut self, kind: u8, n: u64) {
        self.buf.push(kind);
        push_u64(&mut self.buf, n);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `+text`. The text must not contain CR or LF.
    #[inline]
    pub fn simple(&mut self, text: &[u8]) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(text);
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// `-text`, where text starts with the error code ("ERR ...", "WRONGTYPE ..."). CR and LF
    /// in the text become spaces, as Redis's addReplyErrorFormat does, so a client-supplied
    /// fragment cannot break the framing.
    pub fn error(&mut self, text: &[u8]) {
        self.buf.push(b'-');
        self.buf.extend(
            text.iter()
                .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn int(&mut self, v: i64) {
        self.buf.push(b':');
        push_i64(&mut self.buf, v);
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn bulk(&mut self, data: &[u8]) {
        let len = data.len();
        if len < 10 {
            // Most elements of big replies are short: the whole frame in one reservation,
            // without formatting the length.
            self.buf.reserve(len + 6);
            self.buf
                .extend_from_slice(&[b'$', b'0' + len as u8, b'\r', b'\n']);
        } else {
            self.header(b'$', len as u64);
            self.buf.reserve(len + 2);
        }
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A bulk string holding the decimal form of `v` (e.g. GET of an int-encoded value).
    pub fn bulk_i64(&mut self, v: i64) {
        let mut tmp = itoa::Buffer::new();
        self.bulk(tmp.format(v).as_bytes());
    }

    /// Null bulk (`$-1` in RESP2).
    #[inline]
    pub fn null(&mut self) {
        if self.is_resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// Null array (`*-1` in RESP2).
    #[inline]
    pub fn null_array(&mut self) {
        if self.is_resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    #[inline]
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as u64);
    }

    /// A map of `n` pairs (flat array of 2n in RESP2).
    #[inline]
    pub fn map(&mut self, n: usize) {
        if self.is_resp3() {
            self.header(b'%', n as u64);
        } else {
            self.header(b'*', 2 * n as u64);
        }
    }

    /// A set of `n` elements (array in RESP2).
    #[inline]
    pub fn set(&mut self, n: usize) {
        let kind = if self.is_resp3() { b'~' } else { b'*' };
        self.header(kind, n as u64);
    }

    /// An out-of-band push of `n` elements (array in RESP2).
    #[inline]
    pub fn push(&mut self, n: usize) {
        let kind = if self.is_resp3() { b'>' } else { b'*' };
        self.header(kind, n as u64);
    }

    /// A coordinate as Redis's addReplyHumanLongDouble prints it: bulk in RESP2, double in
    /// RESP3, both in long-double human form.
    pub fn human_long_double(&mut self, v: f64) {
        let mut tmp = Vec::with_capacity(48);
        crate::util::num::push_human_ld(&mut tmp, v);
        if self.is_resp3() {
            self.buf.push(b',');
            self.buf.extend_from_slice(&tmp);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(&tmp);
        }
    }

    /// A double, printed as `%.17g` (Redis 7.0's addReplyDouble).
    pub fn double(&mut self, v: f64) {
        if self.is_resp3() {
            self.buf.push(b',');
            push_g17(&mut self.buf, v);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            let mut tmp = Vec::with_capacity(32);
            push_g17(&mut tmp, v);
            self.bulk(&tmp);
        }
    }

    /// Boolean (`:1` / `:0` in RESP2).
    pub fn bool(&mut self, v: bool) {
        if self.is_resp3() {
            self.buf
                .extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.buf
                .extend_from_slice(if v { b":1\r\n" } else { b":0\r\n" });
        }
    }

    /// Verbatim string with a three-letter format ("txt"); a bulk string in RESP2.
    pub fn verbatim(&mut self, format: &[u8; 3], text: &[u8]) {
        if self.is_resp3() {
            self.header(b'=', text.len() as u64 + 4);
            self.buf.extend_from_slice(format);
            self.buf.push(b':');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// Big number given as decimal digits; a bulk string in RESP2.
    pub fn big_number(&mut self, digits: &[u8]) {
        if self.is_resp3() {
            self.buf.push(b'(');
            self.buf.extend_from_slice(digits);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(digits);
        }
    }

    /// Appends pre-encoded protocol bytes (shared replies, replayed frames).
    #[inline]
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Starts an aggregate whose length is not known yet (Redis's addReplyDeferredLen).
    pub fn deferred_array(&mut self) -> Deferred {
        self.deferred(b'*')
    }

    pub fn deferred_map(&mut self) -> Deferred {
        self.deferred(if self.is_resp3() { b'%' } else { b'*' })
    }

    pub fn deferred_set(&mut self) -> Deferred {
        self.deferred(if self.is_resp3() { b'~' } else { b'*' })
    }

    fn deferred(&mut self, kind: u8) -> Deferred {
        Deferred {
            at: self.buf.len(),
            kind,
        }
    }

    /// Writes the header for a deferred array or set of `n` elements.
    pub fn set_deferred(&mut self, d: Deferred, n: usize) {
        self.insert_header(d, n);
    }

    /// Writes the header for a deferred map of `pairs` pairs.
    pub fn set_deferred_map(&mut self, d: Deferred, pairs: usize) {
        let n = if self.is_resp3() { pairs } else { pairs * 2 };
        self.insert_header(d, n);
    }

    fn insert_header(&mut self, d: Deferred, n: usize) {
        let mut head = [0u8; 24];
        head[0] = d.kind;
        let mut tmp = itoa::Buffer::new();
        let digits = tmp.format(n).as_bytes();
        head[1..1 + digits.len()].copy_from_slice(digits);
        head[1 + digits.len()..3 + digits.len()].copy_from_slice(b"\r\n");
        self.buf
            .splice(d.at..d.at, head[..3 + digits.len()].iter().copied());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_framing() {
        let mut r = ReplyBuf::new();
        r.map(1);
        r.bulk(b"a");
        r.double(1.5);
        r.null();
        r.null_array();
        r.bool(true);
        assert_eq!(r.buf, b"*2\r\n$1\r\na\r\n$3\r\n1.5\r\n$-1\r\n*-1\r\n:1\r\n");
        let mut r = ReplyBuf {
            silenced: None,
            buf: Vec::new(),
            proto: Proto::Resp3,
        };
        r.map(1);
        r.bulk(b"a");
        r.double(1.5);
        r.null();
        r.bool(false);
        assert_eq!(r.buf, b"%1\r\n$1\r\na\r\n,1.5\r\n_\r\n#f\r\n");
    }

    #[test]
    fn deferred() {
        let mut r = ReplyBuf::new();
        r.ok();
        let d = r.deferred_array();
        r.int(1);
        r.int(2);
        r.set_deferred(d, 2);
        assert_eq!(r.buf, b"+OK\r\n*2\r\n:1\r\n:2\r\n");
        let mut r = ReplyBuf::new();
        let d = r.deferred_map();
        r.int(1);
        r.int(2);
        r.set_deferred_map(d, 1);
        assert_eq!(r.buf, b"*2\r\n:1\r\n:2\r\n");
    }

    #[test]
    fn error_sanitizes_newlines() {
        let mut r = ReplyBuf::new();
        r.error(b"ERR a\r\nb");
        assert_eq!(r.buf, b"-ERR a  b\r\n");
    }
}
