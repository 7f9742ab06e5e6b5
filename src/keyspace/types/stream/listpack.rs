//! Redis's listpack byte format, for streams in RDB files (RDB_TYPE_STREAM_LISTPACKS_*): each
//! stream node is saved as the listpack Redis would hold for it.

use crate::util::num::parse_i64;

/// One listpack element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum El<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl El<'_> {
    pub fn int(&self) -> Option<i64> {
        match self {
            El::Int(v) => Some(*v),
            El::Str(s) => parse_i64(s),
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        match self {
            El::Int(v) => itoa::Buffer::new().format(*v).as_bytes().to_vec(),
            El::Str(s) => s.to_vec(),
        }
    }
}

/// Builds a listpack element by element.
pub struct Writer {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

impl Writer {
    pub fn new() -> Self {
        Writer {
            buf: vec![0; 6],
            count: 0,
        }
    }

    fn backlen(&mut self, l: usize) {
        let l = l as u64;
        if l <= 127 {
            self.buf.push(l as u8);
        } else if l < 16383 {
            self.buf
                .extend_from_slice(&[(l >> 7) as u8, (l & 127) as u8 | 128]);
        } else if l < 2_097_151 {
            self.buf.extend_from_slice(&[
                (l >> 14) as u8,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]);
        } else if l < 268_435_455 {
            self.buf.extend_from_slice(&[
                (l >> 21) as u8,
                ((l >> 14) & 127) as u8 | 128,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]);
        } else {
            self.buf.extend_from_slice(&[
                (l >> 28) as u8,
                ((l >> 21) & 127) as u8 | 128,
                ((l >> 14) & 127) as u8 | 128,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]);
        }
    }

    pub fn int(&mut self, v: i64) {
        let start = self.buf.len();
        if (0..=127).contains(&v) {
            self.buf.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u64) & 0x1fff;
            self.buf.push(0xC0 | (u >> 8) as u8);
            self.buf.push(u as u8);
        } else if (i64::from(i16::MIN)..=i64::from(i16::MAX)).contains(&v) {
            self.buf.push(0xF1);
            self.buf.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-8_388_608..=8_388_607).contains(&v) {
            self.buf.push(0xF2);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&v) {
            self.buf.push(0xF3);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            self.buf.push(0xF4);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        let l = self.buf.len() - start;
        self.backlen(l);
        self.count += 1;
    }

    /// A string; canonical integers are stored as integers, as lpAppend does.
    pub fn string(&mut self, s: &[u8]) {
        if s.len() <= 20 {
            if let Some(v) = parse_i64(s) {
                return self.int(v);
            }
        }
        let start = self.buf.len();
        let n = s.len();
        if n < 64 {
            self.buf.push(0x80 | n as u8);
        } else if n < 4096 {
            self.buf.push(0xE0 | (n >> 8) as u8);
            self.buf.push(n as u8);
        } else {
            self.buf.push(0xF0);
            self.buf.extend_from_slice(&(n as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        let l = self.buf.len() - start;
        self.backlen(l);
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xFF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let n = self.count.min(65535) as u16;
        self.buf[4..6].copy_from_slice(&n.to_le_bytes());
        self.buf
    }
}

fn backlen_size(l: usize) -> usize {
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

/// Decodes every element of a listpack, checking its bounds.
pub fn decode(lp: &[u8]) -> Result<Vec<El<'_>>, String> {
    Ok(entries(lp)?.into_iter().map(|e| e.el).collect())
}

/// An element with its place: offset in the listpack, header bytes, encoded size (header
/// and payload, without the back length).
struct Placed<'a> {
    offset: usize,
    header: usize,
    size: usize,
    el: El<'a>,
}

/// Redis's lpRepr (DEBUG LISTPACK), byte for byte but for the addresses, which are `base`
/// plus each offset.
pub fn repr(lp: &[u8], base: usize) -> Result<String, String> {
    use std::fmt::Write;
    let placed = entries(lp)?;
    let mut out = format!(
        "{{total bytes {}}} {{num entries {}}}\n",
        lp.len(),
        placed.len()
    );
    for (index, e) in placed.iter().enumerate() {
        let back = backlen_size(e.size);
        let _ = write!(
            out,
            "{{\n\taddr: 0x{:08x},\n\tindex: {index:2},\n\toffset: {},\n\thdr+entrylen+backlen: {:2},\n\thdrlen: {:3},\n\tbacklen: {back:2},\n\tpayload: {}\n\tbytes: ",
            base + e.offset,
            e.offset,
            e.size + back,
            e.header,
            e.size - e.header
        );
        for b in &lp[e.offset..e.offset + e.size + back] {
            let _ = write!(out, "{b:02x}|");
        }
        out.push_str("\n\t[str]");
        // Long strings show their first 40 bytes.
        let value = e.el.bytes();
        out.push_str(&String::from_utf8_lossy(&value[..value.len().min(40)]));
        if value.len() > 40 {
            out.push_str("...");
        }
        out.push_str("\n}\n");
    }
    out.push_str("{end}\n\n");
    Ok(out)
}

/// Every element of a listpack with its place, checking its bounds.
fn entries(lp: &[u8]) -> Result<Vec<Placed<'_>>, String> {
    let bad = || "Invalid listpack".to_string();
    if lp.len() < 7 || u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize != lp.len() {
        return Err(bad());
    }
    let mut out = Vec::new();
    let mut p = 6;
    let take = |p: usize, n: usize| -> Result<&[u8], String> { lp.get(p..p + n).ok_or_else(bad) };
    loop {
        let b = *lp.get(p).ok_or_else(bad)?;
        if b == 0xFF {
            break;
        }
        let header = match b {
            0xE0..=0xEF => 2,
            0xF0 => 5,
            _ => 1,
        };
        let (el, enc_len) = if b & 0x80 == 0 {
            (El::Int(i64::from(b)), 1)
        } else if b & 0xC0 == 0x80 {
            let n = (b & 0x3F) as usize;
            (El::Str(take(p + 1, n)?), 1 + n)
        } else if b & 0xE0 == 0xC0 {
            let lo = take(p + 1, 1)?[0];
            let u = (i64::from(b & 0x1F) << 8) | i64::from(lo);
            (El::Int(if u >= 4096 { u - 8192 } else { u }), 2)
        } else if b & 0xF0 == 0xE0 {
            let n = ((usize::from(b & 0x0F)) << 8) | usize::from(take(p + 1, 1)?[0]);
            (El::Str(take(p + 2, n)?), 2 + n)
        } else {
            match b {
                0xF0 => {
                    let l = take(p + 1, 4)?;
                    let n = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
                    (El::Str(take(p + 5, n)?), 5 + n)
                }
                0xF1 => {
                    let d = take(p + 1, 2)?;
                    (El::Int(i64::from(i16::from_le_bytes([d[0], d[1]]))), 3)
                }
                0xF2 => {
                    let d = take(p + 1, 3)?;
                    let v = i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8;
                    (El::Int(i64::from(v)), 4)
                }
                0xF3 => {
                    let d = take(p + 1, 4)?;
                    (
                        El::Int(i64::from(i32::from_le_bytes([d[0], d[1], d[2], d[3]]))),
                        5,
                    )
                }
                0xF4 => {
                    let d = take(p + 1, 8)?;
                    (
                        El::Int(i64::from_le_bytes(d.try_into().map_err(|_| bad())?)),
                        9,
                    )
                }
                _ => return Err(bad()),
            }
        };
        let offset = p;
        p += enc_len + backlen_size(enc_len);
        if p >= lp.len() {
            return Err(bad());
        }
        out.push(Placed {
            offset,
            header,
            size: enc_len,
            el,
        });
    }
    if p != lp.len() - 1 {
        return Err(bad());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DEBUG LISTPACK's dump as redis-server 7.0.15 printed it for this hash (addresses
    /// masked): every kind of entry header, and a long string cut at 40 bytes.
    #[test]
    fn repr_matches_redis() {
        let long = "y".repeat(100);
        let mut w = Writer::new();
        for f in [
            "a",
            "1",
            "b",
            "5000",
            "c",
            "-3",
            "d",
            "70000",
            "e",
            "5000000000",
            "f",
            &long,
            "g",
            "300",
            "h",
            "-70000",
        ] {
            w.string(f.as_bytes());
        }
        let text = repr(&w.finish(), 0).unwrap();
        let masked: Vec<String> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| match l.find("addr: 0x") {
                Some(at) => format!("{}addr: X,", &l[..at]),
                None => l.to_string(),
            })
            .collect();
        let want = include_str!("../../../../tests/fixtures/debug-listpack-hash.txt");
        assert_eq!(masked.join("\n"), want.trim_end());
    }

    #[test]
    fn roundtrip_elements() {
        let ints = [
            0i64,
            1,
            127,
            128,
            -1,
            4095,
            -4096,
            4096,
            32767,
            -32768,
            40000,
            8_388_607,
            -8_388_608,
            9_000_000,
            i64::from(i32::MAX),
            i64::MAX,
            i64::MIN,
        ];
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 100];
        let mut w = Writer::new();
        for v in ints {
            w.int(v);
        }
        w.string(b"abc");
        w.string(&mid);
        w.string(&long);
        w.string(b"123");
        let lp = w.finish();
        let els = decode(&lp).unwrap();
        for (i, v) in ints.iter().enumerate() {
            assert_eq!(els[i], El::Int(*v));
        }
        assert_eq!(els[ints.len()], El::Str(b"abc"));
        assert_eq!(els[ints.len() + 1], El::Str(&mid));
        assert_eq!(els[ints.len() + 2], El::Str(&long));
        assert_eq!(els[ints.len() + 3], El::Int(123));
        // The computed sizes agree with the real encoding.
        let mut sum = super::super::lpsize::HEADER;
        for v in ints {
            sum += super::super::lpsize::int(v);
        }
        for s in [&b"abc"[..], &mid, &long, b"123"] {
            sum += super::super::lpsize::string(s);
        }
        assert_eq!(sum, lp.len());
    }
}
