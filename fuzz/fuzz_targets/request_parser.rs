//! Arbitrary bytes, fed in arbitrary chunks, through the request parser: it must never panic,
//! and splitting the input must not change the commands parsed.
#![no_main]

use cinnabar::resp::parse::{ParseLimits, Parsed, RequestParser};
use libfuzzer_sys::fuzz_target;

fn run(data: &[u8], chunk: usize) -> (Vec<Vec<Vec<u8>>>, bool) {
    let limits = ParseLimits { max_bulk_len: 1 << 20, auth_required: false };
    let mut p = RequestParser::new();
    let mut buf = Vec::new();
    let mut cmds = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match p.parse(&buf, limits) {
                Ok(Parsed::Incomplete) => break,
                Ok(Parsed::Command { consumed }) => {
                    cmds.push(p.argv_owned(&buf));
                    p.reset();
                    buf.drain(..consumed);
                }
                Err(_) => return (cmds, true),
            }
        }
    }
    (cmds, false)
}

fuzz_target!(|input: (u8, &[u8])| {
    let (chunk, data) = input;
    let whole = run(data, data.len());
    let split = run(data, usize::from(chunk));
    assert_eq!(whole, split);
});
