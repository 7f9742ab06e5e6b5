//! Typed argument parsing for handlers: a cursor over argv with Redis's number rules and
//! error texts, so a handler reads like its command's syntax.

use crate::resp::errors::{self as err, CmdError};
use crate::util::num::{parse_f64, parse_i64};

/// A cursor over a command's arguments (after the name).
#[derive(Clone, Copy)]
pub struct Args<'a> {
    argv: &'a [&'a [u8]],
    pos: usize,
}

impl<'a> Args<'a> {
    /// Starts at argument `start` (1 = first argument after the command name).
    pub fn new(argv: &'a [&'a [u8]], start: usize) -> Self {
        Args {
            argv,
            pos: start.min(argv.len()),
        }
    }

    /// Index of the next argument in argv.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.argv.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// All arguments not consumed yet.
    pub fn rest(&self) -> &'a [&'a [u8]] {
        &self.argv[self.pos..]
    }

    pub fn peek(&self) -> Option<&'a [u8]> {
        self.argv.get(self.pos).copied()
    }

    /// Next argument if any.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<&'a [u8]> {
        let a = self.peek()?;
        self.pos += 1;
        Some(a)
    }

    /// Next argument, or a syntax error if there is none.
    pub fn bytes(&mut self) -> Result<&'a [u8], CmdError> {
        self.next().ok_or_else(|| err::SYNTAX.into())
    }

    /// Next argument as i64 ("value is not an integer or out of range").
    pub fn i64(&mut self) -> Result<i64, CmdError> {
        int(self.bytes()?)
    }

    /// Next argument as a double ("value is not a valid float").
    pub fn f64(&mut self) -> Result<f64, CmdError> {
        float(self.bytes()?)
    }

    /// True if the next argument equals `token` (case-insensitive).
    pub fn is(&self, token: &str) -> bool {
        self.peek()
            .is_some_and(|a| a.eq_ignore_ascii_case(token.as_bytes()))
    }

    /// Consumes the next argument if it equals `token`.
    pub fn eat(&mut self, token: &str) -> bool {
        if self.is(token) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
}

/// Redis's getLongLongFromObjectOrReply.
pub fn int(a: &[u8]) -> Result<i64, CmdError> {
    parse_i64(a).ok_or_else(|| err::NOT_INTEGER.into())
}

/// Redis's getDoubleFromObjectOrReply.
pub fn float(a: &[u8]) -> Result<f64, CmdError> {
    parse_f64(a).ok_or_else(|| err::NOT_FLOAT.into())
}

/// Redis's getRangeLongFromObjectOrReply: `msg` for a non-number and for out of range alike.
pub fn int_in(a: &[u8], min: i64, max: i64, msg: &'static str) -> Result<i64, CmdError> {
    match parse_i64(a) {
        Some(v) if v >= min && v <= max => Ok(v),
        _ => Err(msg.into()),
    }
}

/// Case-insensitive token comparison.
#[inline]
pub fn eq(a: &[u8], token: &str) -> bool {
    a.eq_ignore_ascii_case(token.as_bytes())
}
