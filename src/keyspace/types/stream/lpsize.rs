//! Sizes of Redis listpack elements, to know when Redis would open a new stream node.

use crate::util::num::parse_i64;

/// Listpack header (total bytes + element count) and end byte.
pub const HEADER: usize = 7;
/// Redis's STREAM_LISTPACK_MAX_SIZE.
pub const MAX_SIZE: usize = 1 << 30;

/// Bytes of the back-length field for an element of `l` encoded bytes.
fn backlen(l: usize) -> usize {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2_097_151 {
        3
    } else if l < 268_435_455 {
        4
    } else {
        5
    }
}

/// Encoded size of an integer element (with its back-length).
pub fn int(v: i64) -> usize {
    let enc = if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if (i64::from(i16::MIN)..=i64::from(i16::MAX)).contains(&v) {
        3
    } else if (-8_388_608..=8_388_607).contains(&v) {
        4
    } else if (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&v) {
        5
    } else {
        9
    };
    enc + backlen(enc)
}

/// Encoded size of a string element; canonical integers are stored as integers.
pub fn string(s: &[u8]) -> usize {
    if s.len() <= 20 {
        if let Some(v) = parse_i64(s) {
            return int(v);
        }
    }
    let enc = if s.len() < 64 {
        1 + s.len()
    } else if s.len() < 4096 {
        2 + s.len()
    } else {
        5 + s.len()
    };
    enc + backlen(enc)
}
