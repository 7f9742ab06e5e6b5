//! Redis glob matching (`stringmatchlen`): `*`, `?`, `[...]` with ranges and `^`, `\` escapes.
//!
//! Used by KEYS, SCAN MATCH, CONFIG GET, PSUBSCRIBE and friends. The port keeps Redis's
//! quirks: bytes compare as C `char` (signed) inside ranges, an unterminated `[` matches as if
//! closed, and a nesting limit plus the "skip longer matches" cut keep hostile patterns linear.

/// Byte at `i`, or 0 past the end (the C code reads the NUL terminator there).
#[inline]
fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

#[inline]
fn lower(c: u8) -> u8 {
    c.to_ascii_lowercase()
}

/// Does `string` match `pattern`?
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_impl(pattern, string, nocase, &mut skip_longer, 0)
}

fn match_impl(
    mut pattern: &[u8],
    mut string: &[u8],
    nocase: bool,
    skip_longer: &mut bool,
    nesting: u32,
) -> bool {
    if nesting > 1000 {
        return false;
    }
    while !pattern.is_empty() && !string.is_empty() {
        match pattern[0] {
            b'*' => {
                while pattern.len() > 1 && pattern[1] == b'*' {
                    pattern = &pattern[1..];
                }
                if pattern.len() == 1 {
                    return true;
                }
                while !string.is_empty() {
                    if match_impl(&pattern[1..], string, nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    string = &string[1..];
                }
                *skip_longer = true;
                return false;
            }
            b'?' => string = &string[1..],
            b'[' => {
                pattern = &pattern[1..];
                let not = at(pattern, 0) == b'^';
                if not {
                    pattern = &pattern[1..];
                }
                let mut matched = false;
                // `p` indexes into the original slice so the "unterminated" case can step back.
                let mut p = 0usize;
                loop {
                    let remaining = pattern.len().saturating_sub(p);
                    if at(pattern, p) == b'\\' && remaining >= 2 {
                        p += 1;
                        if at(pattern, p) == string[0] {
                            matched = true;
                        }
                    } else if at(pattern, p) == b']' {
                        break;
                    } else if remaining == 0 {
                        // Unterminated class: Redis steps back one and stops.
                        p = p.saturating_sub(1);
                        break;
                    } else if remaining >= 3 && at(pattern, p + 1) == b'-' {
                        let mut start = at(pattern, p) as i8 as i32;
                        let mut end = at(pattern, p + 2) as i8 as i32;
                        let mut c = string[0] as i8 as i32;
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        if nocase {
                            start = lower_i32(start);
                            end = lower_i32(end);
                            c = lower_i32(c);
                        }
                        p += 2;
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if nocase {
                        if lower(at(pattern, p)) == lower(string[0]) {
                            matched = true;
                        }
                    } else if at(pattern, p) == string[0] {
                        matched = true;
                    }
                    p += 1;
                }
                pattern = &pattern[p.min(pattern.len())..];
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                string = &string[1..];
            }
            first => {
                let mut c = first;
                if first == b'\\' && pattern.len() >= 2 {
                    pattern = &pattern[1..];
                    c = pattern[0];
                }
                let equal = if nocase {
                    lower(c) == lower(string[0])
                } else {
                    c == string[0]
                };
                if !equal {
                    return false;
                }
                string = &string[1..];
            }
        }
        pattern = &pattern[pattern.len().min(1)..];
        if string.is_empty() {
            while at(pattern, 0) == b'*' {
                pattern = &pattern[1..];
            }
            break;
        }
    }
    pattern.is_empty() && string.is_empty()
}

fn lower_i32(c: i32) -> i32 {
    if (i32::from(b'A')..=i32::from(b'Z')).contains(&c) {
        c + 32
    } else {
        c
    }
}

/// True if the pattern can match only one exact string (no wildcards), so callers can look the
/// key up directly instead of scanning.
pub fn is_literal(pattern: &[u8]) -> bool {
    !pattern
        .iter()
        .any(|c| matches!(c, b'*' | b'?' | b'[' | b'\\'))
}

#[cfg(test)]
mod tests {
    use super::glob_match as m;

    #[test]
    fn basics() {
        assert!(m(b"*", b"anything", false));
        assert!(m(b"h?llo", b"hello", false));
        assert!(m(b"h*llo", b"heeeello", false));
        assert!(m(b"h[ae]llo", b"hallo", false));
        assert!(!m(b"h[ae]llo", b"hillo", false));
        assert!(m(b"h[^e]llo", b"hallo", false));
        assert!(!m(b"h[^e]llo", b"hello", false));
        assert!(m(b"h[a-b]llo", b"hbllo", false));
        assert!(m(b"h[b-a]llo", b"hbllo", false));
        assert!(m(b"h\\*llo", b"h*llo", false));
        assert!(!m(b"h\\*llo", b"hallo", false));
        assert!(m(b"HELLO", b"hello", true));
        assert!(!m(b"HELLO", b"hello", false));
        assert!(m(b"a*", b"a", false));
        assert!(m(b"a**", b"a", false));
        assert!(!m(b"a?", b"a", false));
        assert!(m(b"[abc", b"a", false));
    }

    #[test]
    fn empty_string_cases() {
        // The loop never runs for an empty string: only an empty pattern matches.
        assert!(!m(b"*", b"", false));
        assert!(m(b"", b"", false));
    }

    #[test]
    fn hostile_pattern_is_fast() {
        let pat = b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        let s = vec![b'a'; 5000];
        assert!(!m(pat, &s, false));
    }
}
