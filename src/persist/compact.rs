//! The compact encodings older and current Redis versions write inside RDB values: ziplist,
//! listpack, intset and zipmap. Each decoder checks every bound and returns the elements (an
//! integer entry as its decimal text, as Redis hands it back).

use crate::keyspace::types::stream::listpack;

/// A hash field and its value, or a sorted-set member and its score text.
pub type Pair = (Vec<u8>, Vec<u8>);

fn bad(what: &str) -> String {
    format!("Invalid {what} encoding")
}

/// Elements of a listpack (Redis 7 hashes, sorted sets, lists, 7.2 sets).
pub fn listpack(lp: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    Ok(listpack::decode(lp)
        .map_err(|_| bad("listpack"))?
        .iter()
        .map(|e| e.bytes())
        .collect())
}

/// Elements of a ziplist (Redis 2.6–6.2 small lists, hashes, sorted sets), checked as
/// Redis's ziplistValidateIntegrity checks it: the total and tail offsets, the count, and
/// each entry's record of the previous entry's length.
pub fn ziplist(zl: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let err = || bad("ziplist");
    if zl.len() < 11 || u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize != zl.len() {
        return Err(err());
    }
    let tail = u32::from_le_bytes([zl[4], zl[5], zl[6], zl[7]]) as usize;
    let count = u16::from_le_bytes([zl[8], zl[9]]);
    let take = |p: usize, n: usize| zl.get(p..p + n).ok_or_else(err);
    let mut out = Vec::new();
    let mut p = 10;
    let (mut prev_start, mut prev_len) = (10, 0usize);
    loop {
        let first = *zl.get(p).ok_or_else(err)?;
        if first == 0xFF {
            break;
        }
        let start = p;
        let prevlen = if first < 254 {
            usize::from(first)
        } else {
            u32::from_le_bytes(arr(take(p + 1, 4)?)) as usize
        };
        if prevlen != prev_len {
            return Err(err());
        }
        p += if first < 254 { 1 } else { 5 };
        let b = *zl.get(p).ok_or_else(err)?;
        let (entry, size) = match b >> 6 {
            0 => {
                let n = usize::from(b & 0x3F);
                (take(p + 1, n)?.to_vec(), 1 + n)
            }
            1 => {
                let n = (usize::from(b & 0x3F) << 8) | usize::from(take(p + 1, 1)?[0]);
                (take(p + 2, n)?.to_vec(), 2 + n)
            }
            2 => {
                let l = take(p + 1, 4)?;
                let n = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
                (take(p + 5, n)?.to_vec(), 5 + n)
            }
            _ => {
                let (v, n) = match b {
                    0xC0 => (i64::from(i16::from_le_bytes(arr(take(p + 1, 2)?))), 2),
                    0xD0 => (i64::from(i32::from_le_bytes(arr(take(p + 1, 4)?))), 4),
                    0xE0 => (i64::from_le_bytes(arr(take(p + 1, 8)?)), 8),
                    0xF0 => {
                        let d = take(p + 1, 3)?;
                        (i64::from(i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8), 3)
                    }
                    0xFE => (i64::from(take(p + 1, 1)?[0] as i8), 1),
                    0xF1..=0xFD => (i64::from(b & 0x0F) - 1, 0),
                    _ => return Err(err()),
                };
                (v.to_string().into_bytes(), 1 + n)
            }
        };
        out.push(entry);
        p += size;
        (prev_start, prev_len) = (start, p - start);
    }
    let counted = out.len() >= usize::from(u16::MAX) || usize::from(count) == out.len();
    if p != zl.len() - 1 || tail != prev_start || !(count == u16::MAX || counted) {
        return Err(err());
    }
    Ok(out)
}

fn arr<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    a
}

/// Members of an intset (small integer sets, all versions).
pub fn intset(is: &[u8]) -> Result<Vec<i64>, String> {
    let err = || bad("intset");
    if is.len() < 8 {
        return Err(err());
    }
    let width = u32::from_le_bytes(arr(&is[..4])) as usize;
    let len = u32::from_le_bytes(arr(&is[4..8])) as usize;
    if !matches!(width, 2 | 4 | 8) || is.len() != 8 + width * len {
        return Err(err());
    }
    let members: Vec<i64> = is[8..]
        .chunks_exact(width)
        .map(|c| match width {
            2 => i64::from(i16::from_le_bytes(arr(c))),
            4 => i64::from(i32::from_le_bytes(arr(c))),
            _ => i64::from_le_bytes(arr(c)),
        })
        .collect();
    // Redis keeps intsets sorted without duplicates; anything else is corruption.
    if members.windows(2).any(|w| w[0] >= w[1]) {
        return Err(err());
    }
    Ok(members)
}

/// Field/value pairs of a zipmap (Redis 2.4 and older small hashes).
pub fn zipmap(zm: &[u8]) -> Result<Vec<Pair>, String> {
    let err = || bad("zipmap");
    let mut p = 1;
    let len_at = |p: &mut usize| -> Result<usize, String> {
        let b = *zm.get(*p).ok_or_else(err)?;
        match b {
            0..=253 => {
                *p += 1;
                Ok(usize::from(b))
            }
            254 => {
                let l = zm.get(*p + 1..*p + 5).ok_or_else(err)?;
                *p += 5;
                Ok(u32::from_le_bytes(arr(l)) as usize)
            }
            _ => Err(err()),
        }
    };
    let mut out = Vec::new();
    loop {
        if *zm.get(p).ok_or_else(err)? == 255 {
            break;
        }
        let klen = len_at(&mut p)?;
        let key = zm.get(p..p + klen).ok_or_else(err)?.to_vec();
        p += klen;
        let vlen = len_at(&mut p)?;
        let free = usize::from(*zm.get(p).ok_or_else(err)?);
        p += 1;
        let value = zm.get(p..p + vlen).ok_or_else(err)?.to_vec();
        p += vlen + free;
        out.push((key, value));
    }
    // Redis's zipmapValidateIntegrity: at least one record, the end marker last.
    if out.is_empty() || p != zm.len() - 1 {
        return Err(err());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ziplist as Redis 6 builds it for RPUSH l a 1 300 -70000 5000000000 12 13 hello.
    fn sample_ziplist() -> Vec<u8> {
        let mut body: Vec<u8> = Vec::new();
        let mut prev = 0usize;
        let mut last_start = 0usize;
        let mut push = |body: &mut Vec<u8>, enc: &[u8]| {
            let start = body.len();
            body.push(prev as u8);
            body.extend_from_slice(enc);
            prev = body.len() - start;
            last_start = start;
        };
        push(&mut body, &[0x01, b'a']);
        push(&mut body, &[0xF2]); // immediate 1
        push(&mut body, &[0xC0, 0x2C, 0x01]); // int16 300
        push(&mut body, &[0xF0, 0x90, 0xEE, 0xFE]); // int24 -70000
        push(&mut body, &[0xE0, 0x00, 0xF2, 0x05, 0x2A, 0x01, 0, 0, 0]); // int64 5e9
        push(&mut body, &[0xFD]); // immediate 12
        push(&mut body, &[0xFE, 13]); // int8 13
        push(&mut body, &[0x05, b'h', b'e', b'l', b'l', b'o']);
        let mut zl = Vec::new();
        zl.extend_from_slice(&((body.len() + 11) as u32).to_le_bytes());
        zl.extend_from_slice(&((10 + last_start) as u32).to_le_bytes());
        zl.extend_from_slice(&8u16.to_le_bytes());
        zl.extend_from_slice(&body);
        zl.push(0xFF);
        zl
    }

    #[test]
    fn ziplist_every_encoding() {
        let got = ziplist(&sample_ziplist()).unwrap();
        let want: Vec<&[u8]> = vec![
            b"a",
            b"1",
            b"300",
            b"-70000",
            b"5000000000",
            b"12",
            b"13",
            b"hello",
        ];
        assert_eq!(got, want);
        let mut truncated = sample_ziplist();
        truncated.truncate(truncated.len() - 3);
        assert!(ziplist(&truncated).is_err());
        // A wrong tail offset, count, or previous-entry length is refused (Redis's
        // ziplistValidateIntegrity).
        for (at, delta) in [(4, 1u8), (8, 1), (13, 1)] {
            let mut zl = sample_ziplist();
            zl[at] = zl[at].wrapping_add(delta);
            assert!(ziplist(&zl).is_err(), "byte {at}");
        }
    }

    #[test]
    fn intset_widths_and_corruption() {
        let mut is = 4u32.to_le_bytes().to_vec();
        is.extend_from_slice(&3u32.to_le_bytes());
        for v in [-5i32, 7, 100000] {
            is.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(intset(&is).unwrap(), vec![-5, 7, 100000]);
        is.truncate(is.len() - 1);
        assert!(intset(&is).is_err());
    }

    #[test]
    fn zipmap_pairs() {
        // zmlen, "f1" => "v1" (free 0), "k" => "" (free 2), end.
        let zm = [2, 2, b'f', b'1', 2, 0, b'v', b'1', 1, b'k', 0, 2, 0, 0, 255];
        assert_eq!(
            zipmap(&zm).unwrap(),
            vec![
                (b"f1".to_vec(), b"v1".to_vec()),
                (b"k".to_vec(), Vec::new())
            ]
        );
        assert!(zipmap(&zm[..8]).is_err());
    }
}
