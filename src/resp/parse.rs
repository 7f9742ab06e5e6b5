//! Incremental request parser: bytes from a client → argv, sans I/O.
//!
//! Mirrors Redis's `processMultibulkBuffer` / `processInlineBuffer`, including the exact
//! protocol error texts and the places where Redis is lenient (the CRLF after a bulk payload
//! is skipped, not checked). Multibulk arguments are returned as spans into the caller's buffer,
//! so a command is executed without copying its arguments; inline commands are unescaped into
//! a small owned arena.

use memchr::memchr2;

use crate::util::splitargs::split_args;

/// Redis's PROTO_INLINE_MAX_SIZE: longest inline command, and longest count line.
pub const INLINE_MAX_BYTES: usize = 64 * 1024;

/// A protocol violation; the text after "-ERR " is exactly Redis's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoError {
    TooBigMbulkCount,
    InvalidMultibulkLength,
    UnauthenticatedMultibulkLength,
    TooBigBulkCount,
    ExpectedDollar(u8),
    InvalidBulkLength,
    UnauthenticatedBulkLength,
    TooBigInline,
    UnbalancedQuotes,
}

impl ProtoError {
    /// The full error line Redis sends (without the leading '-' and CRLF).
    pub fn message(&self) -> String {
        match self {
            ProtoError::TooBigMbulkCount => crate::resp::errors::PROTO_TOO_BIG_MBULK_COUNT.into(),
            ProtoError::InvalidMultibulkLength => {
                crate::resp::errors::PROTO_INVALID_MULTIBULK_LEN.into()
            }
            ProtoError::UnauthenticatedMultibulkLength => {
                crate::resp::errors::PROTO_UNAUTH_MULTIBULK_LEN.into()
            }
            ProtoError::TooBigBulkCount => crate::resp::errors::PROTO_TOO_BIG_BULK_COUNT.into(),
            ProtoError::ExpectedDollar(c) => {
                String::from_utf8_lossy(crate::resp::errors::proto_expected_bulk(*c).text())
                    .into_owned()
            }
            ProtoError::InvalidBulkLength => crate::resp::errors::PROTO_INVALID_BULK_LEN.into(),
            ProtoError::UnauthenticatedBulkLength => {
                crate::resp::errors::PROTO_UNAUTH_BULK_LEN.into()
            }
            ProtoError::TooBigInline => crate::resp::errors::PROTO_TOO_BIG_INLINE.into(),
            ProtoError::UnbalancedQuotes => crate::resp::errors::PROTO_UNBALANCED_QUOTES.into(),
        }
    }

    /// The ExpectedDollar text carries the raw byte; this is the same line as bytes.
    pub fn message_bytes(&self) -> Vec<u8> {
        match self {
            ProtoError::ExpectedDollar(c) => {
                crate::resp::errors::proto_expected_bulk(*c).text().to_vec()
            }
            other => other.message().into_bytes(),
        }
    }
}

/// Limits the parser enforces, from config and auth state.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    pub max_bulk_len: i64,
    /// Before AUTH, Redis refuses more than 10 arguments and bulks over 16 KiB.
    pub auth_required: bool,
}

/// Outcome of one parse step.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole command is available; `consumed` bytes of the buffer belong to it. The argv may be
    /// empty (an empty inline line or `*0`), which callers skip.
    Command { consumed: usize },
    /// More bytes are needed.
    Incomplete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unknown,
    Multibulk,
    Inline,
}

/// Per-connection parser state; survives partial reads.
#[derive(Debug)]
pub struct RequestParser {
    kind: Kind,
    /// Bulk arguments still expected; 0 before the count line is read.
    multibulk_left: usize,
    /// Length of the bulk being read, or -1 when its `$` line is still due.
    bulk_len: i64,
    /// Bytes of the current command already parsed.
    pos: usize,
    /// Argument spans (start, end) relative to the start of the current command.
    spans: Vec<(usize, usize)>,
    /// Inline arguments, unescaped.
    inline_args: Vec<Vec<u8>>,
}

/// The first key-position argument (the second) of the multibulk command at the start of
/// `buf`, and the command's length, when the whole command is there. A cheap look ahead for
/// prefetching: no state, no limits, None for anything unusual (the parser decides for real).
pub fn peek_key(buf: &[u8]) -> Option<(&[u8], usize)> {
    fn line(buf: &[u8], at: usize, kind: u8) -> Option<(usize, usize)> {
        if *buf.get(at)? != kind {
            return None;
        }
        let mut n = 0usize;
        let mut i = at + 1;
        loop {
            match *buf.get(i)? {
                d @ b'0'..=b'9' if i - at <= 10 => n = n * 10 + usize::from(d - b'0'),
                b'\r' if i > at + 1 => return Some((n, i + 2)),
                _ => return None,
            }
            i += 1;
        }
    }
    let (count, mut at) = line(buf, 0, b'*')?;
    if !(2..=1024).contains(&count) {
        return None;
    }
    let mut key = None;
    for arg in 0..count {
        let (len, start) = line(buf, at, b'$')?;
        let end = start.checked_add(len)?;
        if end + 2 > buf.len() {
            return None;
        }
        if arg == 1 {
            key = Some(&buf[start..end]);
        }
        at = end + 2;
    }
    Some((key?, at))
}

impl Default for RequestParser {
    fn default() -> Self {
        Self::new()
    }
}

/// Argument slots a connection's argv scratch and parser keep between commands.
const SCRATCH_KEEP: usize = 1024;

impl RequestParser {
    pub fn new() -> Self {
        RequestParser {
            kind: Kind::Unknown,
            multibulk_left: 0,
            bulk_len: -1,
            pos: 0,
            spans: Vec::new(),
            inline_args: Vec::new(),
        }
    }

    /// Parses from `buf`, which must start at the current command's first byte (the same bytes
    /// as the previous call, possibly extended).
    pub fn parse(&mut self, buf: &[u8], limits: ParseLimits) -> Result<Parsed, ProtoError> {
        if self.kind == Kind::Unknown {
            match buf.first() {
                None => return Ok(Parsed::Incomplete),
                Some(b'*') => self.kind = Kind::Multibulk,
                Some(_) => self.kind = Kind::Inline,
            }
        }
        match self.kind {
            Kind::Multibulk => self.parse_multibulk(buf, limits),
            _ => self.parse_inline(buf),
        }
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<Parsed, ProtoError> {
        let Some(newline) = find_byte_c(buf, b'\n') else {
            if buf.len() > INLINE_MAX_BYTES {
                return Err(ProtoError::TooBigInline);
            }
            return Ok(Parsed::Incomplete);
        };
        let line_end = if newline > 0 && buf[newline - 1] == b'\r' {
            newline - 1
        } else {
            newline
        };
        let args = split_args(&buf[..line_end]).ok_or(ProtoError::UnbalancedQuotes)?;
        self.inline_args = args;
        Ok(Parsed::Command {
            consumed: newline + 1,
        })
    }

    fn parse_multibulk(&mut self, buf: &[u8], limits: ParseLimits) -> Result<Parsed, ProtoError> {
        if self.multibulk_left == 0 && self.pos == 0 {
            let Some(cr) = find_byte_c(buf, b'\r') else {
                if buf.len() > INLINE_MAX_BYTES {
                    return Err(ProtoError::TooBigMbulkCount);
                }
                return Ok(Parsed::Incomplete);
            };
            // The byte after '\r' must be present (Redis does not check that it is '\n').
            if cr + 2 > buf.len() {
                return Ok(Parsed::Incomplete);
            }
            let count = crate::util::num::parse_i64(&buf[1..cr])
                .filter(|n| *n <= i64::from(i32::MAX))
                .ok_or(ProtoError::InvalidMultibulkLength)?;
            if count > 10 && limits.auth_required {
                return Err(ProtoError::UnauthenticatedMultibulkLength);
            }
            self.pos = cr + 2;
            if count <= 0 {
                return Ok(Parsed::Command { consumed: self.pos });
            }
            self.multibulk_left = count as usize;
            self.spans.clear();
            self.spans.reserve(self.multibulk_left.min(1024));
        }
        while self.multibulk_left > 0 {
            if self.bulk_len == -1 {
                let rest = &buf[self.pos..];
                let Some(cr) = find_byte_c(rest, b'\r') else {
                    if rest.len() > INLINE_MAX_BYTES {
                        return Err(ProtoError::TooBigBulkCount);
                    }
                    return Ok(Parsed::Incomplete);
                };
                if cr + 2 > rest.len() {
                    return Ok(Parsed::Incomplete);
                }
                if rest[0] != b'$' {
                    return Err(ProtoError::ExpectedDollar(rest[0]));
                }
                let len = crate::util::num::parse_i64(&rest[1..cr])
                    .filter(|n| *n >= 0 && *n <= limits.max_bulk_len)
                    .ok_or(ProtoError::InvalidBulkLength)?;
                if len > 16384 && limits.auth_required {
                    return Err(ProtoError::UnauthenticatedBulkLength);
                }
                self.pos += cr + 2;
                self.bulk_len = len;
            }
            let len = self.bulk_len as usize;
            if buf.len() - self.pos < len + 2 {
                return Ok(Parsed::Incomplete);
            }
            self.spans.push((self.pos, self.pos + len));
            self.pos += len + 2;
            self.bulk_len = -1;
            self.multibulk_left -= 1;
        }
        Ok(Parsed::Command { consumed: self.pos })
    }

    /// Bytes still needed to finish the bulk being read, if known; lets the reader size its
    /// buffer for a large argument in one go (Redis's PROTO_MBULK_BIG_ARG path).
    /// Where a big argument being received starts in the input (Redis trims what precedes
    /// an argument of PROTO_MBULK_BIG_ARG bytes or more, so CLIENT LIST's qbuf counts only it).
    pub fn big_bulk_start(&self) -> Option<usize> {
        const BIG_ARG: i64 = 32 * 1024;
        (self.kind == Kind::Multibulk && self.bulk_len >= BIG_ARG).then_some(self.pos)
    }

    pub fn pending_bulk_bytes(&self, buffered: usize) -> Option<usize> {
        if self.kind == Kind::Multibulk && self.bulk_len >= 0 {
            Some((self.pos + self.bulk_len as usize + 2).saturating_sub(buffered))
        } else {
            None
        }
    }

    /// Fills `argv` with the arguments of the command just parsed from `buf`.
    pub fn argv<'b>(&'b self, buf: &'b [u8], argv: &mut Vec<&'b [u8]>) {
        argv.clear();
        match self.kind {
            Kind::Inline => argv.extend(self.inline_args.iter().map(|a| a.as_slice())),
            _ => argv.extend(self.spans.iter().map(|&(s, e)| &buf[s..e])),
        }
    }

    /// Runs `f` on the arguments just parsed, reusing `scratch`'s allocation for the argv
    /// (no allocation per command).
    pub fn with_argv<R>(
        &self,
        buf: &[u8],
        scratch: &mut Vec<&'static [u8]>,
        f: impl FnOnce(&[&[u8]]) -> R,
    ) -> R {
        let mut argv: Vec<&[u8]> = recycle(std::mem::take(scratch));
        self.argv(buf, &mut argv);
        let r = f(&argv);
        // Keep a usual command's worth of room; a huge one (SADD with 100k members) gives its
        // room back rather than pinning it for the connection's life.
        if argv.capacity() > SCRATCH_KEEP {
            argv = Vec::new();
        }
        *scratch = recycle(argv);
        r
    }

    /// Owned copy of the arguments just parsed (for callers that keep them).
    pub fn argv_owned(&self, buf: &[u8]) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        self.argv(buf, &mut v);
        v.into_iter().map(|a| a.to_vec()).collect()
    }

    /// True if the last parsed command was inline.
    pub fn was_inline(&self) -> bool {
        self.kind == Kind::Inline
    }

    /// True when nothing of a next command has been parsed yet.
    pub fn is_idle(&self) -> bool {
        self.kind == Kind::Unknown
    }

    /// Prepares for the next command after a `Command` result.
    pub fn reset(&mut self) {
        self.kind = Kind::Unknown;
        self.multibulk_left = 0;
        self.bulk_len = -1;
        self.pos = 0;
        self.spans.clear();
        self.inline_args.clear();
        // As the argv scratch: a huge command's spans do not stay with the connection.
        if self.spans.capacity() > SCRATCH_KEEP {
            self.spans = Vec::new();
        }
        if self.inline_args.capacity() > SCRATCH_KEEP {
            self.inline_args = Vec::new();
        }
    }
}

/// Re-types an emptied Vec's allocation for another lifetime: in-place collection reuses the
/// buffer, so this costs nothing and needs no unsafe.
fn recycle<'a, 'b>(mut v: Vec<&'a [u8]>) -> Vec<&'b [u8]> {
    v.clear();
    v.into_iter()
        .map(|_| -> &'b [u8] { unreachable!("vector is empty") })
        .collect()
}

/// `strchr` over a NUL-terminated buffer: the first `needle` before any NUL byte. Count and
/// length lines are a few bytes long, so a plain loop over the first bytes beats the SIMD
/// search's setup; longer scans fall back to memchr2.
#[inline]
fn find_byte_c(buf: &[u8], needle: u8) -> Option<usize> {
    const SHORT: usize = 24;
    for (i, &c) in buf.iter().take(SHORT).enumerate() {
        if c == needle {
            return Some(i);
        }
        if c == 0 {
            return None;
        }
    }
    if buf.len() <= SHORT {
        return None;
    }
    match memchr2(needle, 0, &buf[SHORT..]).map(|i| i + SHORT) {
        Some(i) if buf[i] == needle => Some(i),
        Some(_) => None,
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_key_finds_the_second_argument_of_whole_commands_only() {
        let get = b"*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n";
        assert_eq!(peek_key(get), Some((&b"key:1"[..], get.len())));
        let mut two = get.to_vec();
        two.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
        assert_eq!(peek_key(&two), Some((&b"key:1"[..], get.len())));
        assert_eq!(
            peek_key(&two[get.len()..]),
            Some((&b"k"[..], two.len() - get.len()))
        );
        for cut in 0..get.len() {
            assert_eq!(peek_key(&get[..cut]), None, "cut at {cut}");
        }
        for odd in [
            &b"*1\r\n$4\r\nPING\r\n"[..],
            b"GET k\r\n",
            b"*2\r\n$-1\r\n$1\r\nk\r\n",
            b"*2\r\n$99999999999999999999\r\n",
            b"*2\r\n$\r\n",
        ] {
            assert_eq!(peek_key(odd), None);
        }
    }
    use proptest::prelude::*;

    const LIMITS: ParseLimits = ParseLimits {
        max_bulk_len: 512 * 1024 * 1024,
        auth_required: false,
    };

    /// Feeds `input` split at the given points and collects every command or the error.
    fn run(input: &[u8], splits: &[usize]) -> Result<Vec<Vec<Vec<u8>>>, ProtoError> {
        let mut parser = RequestParser::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut cmds = Vec::new();
        let mut fed = 0;
        let mut cuts: Vec<usize> = splits
            .iter()
            .copied()
            .filter(|&s| s <= input.len())
            .collect();
        cuts.sort_unstable();
        cuts.push(input.len());
        for cut in cuts {
            buf.extend_from_slice(&input[fed..cut]);
            fed = cut;
            loop {
                match parser.parse(&buf, LIMITS)? {
                    Parsed::Incomplete => break,
                    Parsed::Command { consumed } => {
                        let argv = parser.argv_owned(&buf);
                        if !argv.is_empty() {
                            cmds.push(argv);
                        }
                        parser.reset();
                        buf.drain(..consumed);
                    }
                }
            }
        }
        Ok(cmds)
    }

    fn v(args: &[&str]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn multibulk_and_inline() {
        let input = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset a \"b c\"\n*0\r\n\r\n";
        let cmds = run(input, &[]).unwrap();
        assert_eq!(
            cmds,
            vec![v(&["GET", "k"]), v(&["PING"]), v(&["set", "a", "b c"])]
        );
    }

    #[test]
    fn every_split_point() {
        let input = b"*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$0\r\n\r\nPING\r\n*1\r\n$4\r\nPING\r\n";
        let whole = run(input, &[]).unwrap();
        for i in 0..=input.len() {
            for j in i..=input.len() {
                assert_eq!(run(input, &[i, j]).unwrap(), whole, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn errors_match_redis() {
        assert_eq!(run(b"*x\r\n", &[]), Err(ProtoError::InvalidMultibulkLength));
        assert_eq!(
            run(b"*3000000000\r\n", &[]),
            Err(ProtoError::InvalidMultibulkLength)
        );
        assert_eq!(
            run(b"*1\r\nx\r\n", &[]),
            Err(ProtoError::ExpectedDollar(b'x'))
        );
        assert_eq!(
            run(b"*1\r\n$-1\r\n", &[]),
            Err(ProtoError::InvalidBulkLength)
        );
        assert_eq!(
            run(b"*1\r\n$abc\r\n", &[]),
            Err(ProtoError::InvalidBulkLength)
        );
        assert_eq!(run(b"set \"a\r\n", &[]), Err(ProtoError::UnbalancedQuotes));
        let long = vec![b'a'; INLINE_MAX_BYTES + 1];
        assert_eq!(run(&long, &[]), Err(ProtoError::TooBigInline));
        let mut mb = b"*1".to_vec();
        mb.extend(vec![b'1'; INLINE_MAX_BYTES + 1]);
        assert_eq!(run(&mb, &[]), Err(ProtoError::TooBigMbulkCount));
        assert_eq!(run(b"*-5\r\n", &[]).unwrap(), Vec::<Vec<Vec<u8>>>::new());
    }

    #[test]
    fn bulk_limit() {
        let mut p = RequestParser::new();
        let lim = ParseLimits {
            max_bulk_len: 10,
            auth_required: false,
        };
        assert_eq!(
            p.parse(b"*1\r\n$11\r\n", lim),
            Err(ProtoError::InvalidBulkLength)
        );
        let mut p = RequestParser::new();
        let lim = ParseLimits {
            max_bulk_len: 1 << 20,
            auth_required: true,
        };
        assert_eq!(
            p.parse(b"*11\r\n", lim),
            Err(ProtoError::UnauthenticatedMultibulkLength)
        );
        let mut p = RequestParser::new();
        assert_eq!(
            p.parse(b"*1\r\n$16385\r\n", lim),
            Err(ProtoError::UnauthenticatedBulkLength)
        );
    }

    #[test]
    fn pending_bulk_hint() {
        let mut p = RequestParser::new();
        let buf = b"*1\r\n$100\r\nabc";
        assert_eq!(p.parse(buf, LIMITS).unwrap(), Parsed::Incomplete);
        assert_eq!(p.pending_bulk_bytes(buf.len()), Some(100 + 2 - 3));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512),
                                    cut in 0usize..512) {
            let _ = run(&data, &[cut]);
        }

        #[test]
        fn encoded_commands_roundtrip(cmds in proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..6), 1..6),
                cut in 0usize..2000) {
            let mut input = Vec::new();
            for c in &cmds {
                input.extend(format!("*{}\r\n", c.len()).bytes());
                for a in c {
                    input.extend(format!("${}\r\n", a.len()).bytes());
                    input.extend(a);
                    input.extend(b"\r\n");
                }
            }
            prop_assert_eq!(run(&input, &[cut]).unwrap(), cmds);
        }
    }
}
