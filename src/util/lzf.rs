//! LZF compression as liblzf 3.6 does it with Redis's settings (HLOG 16, VERY_FAST), so
//! compressed RDB strings and DUMP payloads come out byte for byte as Redis writes them.
//!
//! Why not the `lzf` crate for compressing: it allocates and zeroes a 512 KiB hash table on
//! every call, which made a BGSAVE of many 200-byte values spend two thirds of its time in
//! memset. Here the table lives with the thread and a generation stamp stands for "empty".
//! (Decompression stays with the crate.)

use std::cell::RefCell;

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

struct Table {
    /// Position + 1 of the last input position with this hash (0: none), valid when the
    /// matching generation equals the current one.
    pos: Vec<u32>,
    generation: Vec<u32>,
    current: u32,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table {
        pos: vec![0; HSIZE],
        generation: vec![0; HSIZE],
        current: 0,
    });
}

#[inline]
fn idx(h: u32) -> usize {
    (((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5))) as usize) & (HSIZE - 1)
}

/// Compresses `input` into `out` (cleared first) if the result fits in `max_out` bytes;
/// returns false otherwise (liblzf's `lzf_compress(in, len, out, max_out) == 0`).
pub fn compress(input: &[u8], out: &mut Vec<u8>, max_out: usize) -> bool {
    out.clear();
    if input.is_empty() || max_out == 0 || input.len() > u32::MAX as usize - 1 {
        return false;
    }
    TABLE.with(|t| {
        let t = &mut *t.borrow_mut();
        t.current = t.current.wrapping_add(1);
        if t.current == 0 {
            t.generation.iter_mut().for_each(|g| *g = 0);
            t.current = 1;
        }
        compress_with(t, input, out, max_out)
    })
}

fn compress_with(t: &mut Table, input: &[u8], out: &mut Vec<u8>, max_out: usize) -> bool {
    let in_len = input.len();
    let gen = t.current;
    // `out` holds the bytes so far; `lit_at` is where the current literal run's header goes.
    let mut lit = 0usize;
    out.push(0);
    let mut lit_at = 0usize;
    let mut ip = 0usize;
    let frst = |p: usize| (u32::from(input[p]) << 8) | u32::from(input[p + 1]);
    let mut hval = if in_len >= 2 { frst(0) } else { 0 };
    while in_len >= 3 && ip < in_len - 2 {
        hval = (hval << 8) | u32::from(input[ip + 2]);
        let slot = idx(hval);
        let ref_pos = if t.generation[slot] == gen {
            t.pos[slot] as usize
        } else {
            0
        };
        t.pos[slot] = ip as u32;
        t.generation[slot] = gen;
        let matched = ref_pos > 0
            && ref_pos < ip
            && ip - ref_pos - 1 < MAX_OFF
            && input[ref_pos + 2] == input[ip + 2]
            && input[ref_pos] == input[ip]
            && input[ref_pos + 1] == input[ip + 1];
        if matched {
            let off = ip - ref_pos - 1;
            let mut len = 2usize;
            let maxlen = (in_len - ip - len).min(MAX_REF);
            // The header of an empty literal run is dropped.
            let op_after_undo = out.len() - usize::from(lit == 0);
            if op_after_undo + 3 + 1 >= max_out {
                return false;
            }
            out[lit_at] = (lit as u8).wrapping_sub(1);
            if lit == 0 {
                out.pop();
            }
            // liblzf's loop, unrolled part included: its exact stopping point decides the
            // bytes we write.
            let mut done = false;
            if maxlen > 16 {
                for _ in 0..16 {
                    len += 1;
                    if input[ref_pos + len] != input[ip + len] {
                        done = true;
                        break;
                    }
                }
            }
            if !done {
                loop {
                    len += 1;
                    if !(len < maxlen && input[ref_pos + len] == input[ip + len]) {
                        break;
                    }
                }
            }
            len -= 2;
            ip += 1;
            if len < 7 {
                out.push(((off >> 8) + (len << 5)) as u8);
            } else {
                out.push(((off >> 8) + (7 << 5)) as u8);
                out.push((len - 7) as u8);
            }
            out.push(off as u8);
            lit = 0;
            lit_at = out.len();
            out.push(0);
            ip += len + 1;
            if ip >= in_len - 2 {
                break;
            }
            // VERY_FAST: hash the two positions before the new one.
            ip -= 2;
            hval = frst(ip);
            for _ in 0..2 {
                hval = (hval << 8) | u32::from(input[ip + 2]);
                let slot = idx(hval);
                t.pos[slot] = ip as u32;
                t.generation[slot] = gen;
                ip += 1;
            }
        } else {
            if out.len() >= max_out {
                return false;
            }
            push_literal(out, &mut lit, &mut lit_at, input[ip]);
            ip += 1;
        }
    }
    if out.len() + 3 > max_out {
        return false;
    }
    for &b in &input[ip..] {
        push_literal(out, &mut lit, &mut lit_at, b);
    }
    out[lit_at] = (lit as u8).wrapping_sub(1);
    if lit == 0 {
        out.pop();
    }
    out.len() <= max_out
}

/// Appends a literal byte; a full run (32) gets its header and a new run starts.
#[inline]
fn push_literal(out: &mut Vec<u8>, lit: &mut usize, lit_at: &mut usize, b: u8) {
    *lit += 1;
    out.push(b);
    if *lit == MAX_LIT {
        out[*lit_at] = (*lit - 1) as u8;
        *lit = 0;
        *lit_at = out.len();
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(data: &[u8]) {
        let mut out = Vec::new();
        if compress(data, &mut out, data.len() + 64) {
            assert_eq!(lzf::decompress(&out, data.len()).unwrap(), data);
        }
    }

    #[test]
    fn decompresses_to_the_input() {
        roundtrip(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        roundtrip(b"abcabcabcabcabcabcabcabcabcabcabcabcabcabc-xyz");
        let mut v = b"value:123".to_vec();
        v.resize(200, 0);
        roundtrip(&v);
        let mut x = 0x1234_5678u64;
        let noise: Vec<u8> = (0..5000)
            .map(|i| {
                x = crate::util::rng::splitmix_next(&mut x);
                if i % 7 == 0 {
                    b'a'
                } else {
                    (x & 15) as u8
                }
            })
            .collect();
        roundtrip(&noise);
        roundtrip(b"ab");
        roundtrip(b"abc");
    }

    /// The crate's output for these inputs was checked against C liblzf (crates.md); ours
    /// must be the same bytes, since DUMP payloads are compared with Redis's.
    #[test]
    fn same_bytes_as_liblzf() {
        let inputs: Vec<Vec<u8>> = vec![
            b"a".repeat(300),
            b"abcdefgh".repeat(100),
            {
                let mut v = b"value:77".to_vec();
                v.resize(200, 0);
                v
            },
            b"#!lua name=lib1\nredis.register_function('f1', function(keys, args) return redis.call('incr', keys[1]) end)".to_vec(),
        ];
        for input in inputs {
            let expected = lzf::compress(&input).unwrap();
            let mut out = Vec::new();
            assert!(compress(&input, &mut out, input.len()));
            assert_eq!(out, expected, "{:?}", String::from_utf8_lossy(&input));
        }
    }
}
