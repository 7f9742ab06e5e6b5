//! Transcript files: commands and the exact replies redis-server gave, replayed against
//! cinnabar. Shared by the replay test (`tests/transcripts.rs`) and the recorder
//! (`examples/record`), which includes this file by path.
//!
//! Format, one item per line:
//!   `# text`            comment (kept on re-record)
//!   `!server-args ...`  extra arguments for both servers (first lines only)
//!   `!client NAME`      switch to connection NAME (opened on first use; "main" at start)
//!   `!frames N`         the next command yields N reply frames (default 1)
//!   `!read N`           read N more frames on the current connection (e.g. after a wake-up)
//!   `!drain`            (authoring only) the recorder reads whatever frames arrive within
//!                       300 ms and writes them down as `!read N`
//!   `!sleep MS`         pause before the next step
//!   `!unordered`        the next reply is an array whose elements may come in any order
//!   `!skip`             the next reply is read but not compared (TIME, CLIENT ID, ...)
//!   `> CMD ARGS`        a command, quoted like redis-cli input ("a b", 'c', \x00 escapes)
//!   anything else       RESP reply lines, CRLF removed and bytes escaped (\\ \r \n \xHH)
#![allow(dead_code)]

use cinnabar::util::splitargs::split_args;

/// `Step::Read::n` of a `!drain` not recorded yet.
pub const DRAIN: usize = usize::MAX;

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Comment(String),
    ServerArgs(Vec<String>),
    Client(String),
    Sleep(u64),
    /// A command with its flags and recorded reply frames (raw RESP bytes each).
    Command {
        line: usize,
        text: String,
        argv: Vec<Vec<u8>>,
        frames_hint: Option<usize>,
        unordered: bool,
        skip: bool,
        replies: Vec<Vec<u8>>,
    },
    /// `!read N` and the frames recorded for it.
    Read {
        line: usize,
        n: usize,
        unordered: bool,
        skip: bool,
        replies: Vec<Vec<u8>>,
    },
}

pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &c in bytes {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'\\' => out.push(b'\\'),
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b'x' if i + 3 < b.len() => {
                    let h = std::str::from_utf8(&b[i + 2..i + 4]).expect("hex");
                    out.push(u8::from_str_radix(h, 16).expect("hex escape"));
                    i += 4;
                    continue;
                }
                other => panic!("bad escape \\{}", other as char),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Renders one RESP frame (raw bytes) as transcript lines.
pub fn frame_to_lines(frame: &[u8]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut pos = 0;
    render(frame, &mut pos, &mut lines);
    assert_eq!(pos, frame.len(), "one frame");
    lines
}

fn read_line<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let i = memchr::memmem::find(&buf[*pos..], b"\r\n").expect("CRLF");
    let l = &buf[*pos..*pos + i];
    *pos += i + 2;
    l
}

fn count(l: &[u8]) -> i64 {
    std::str::from_utf8(&l[1..]).unwrap().parse().unwrap()
}

fn render(buf: &[u8], pos: &mut usize, lines: &mut Vec<String>) {
    let l = read_line(buf, pos);
    lines.push(escape(l));
    match l[0] {
        b'$' | b'=' | b'!' => {
            let n = count(l);
            if n >= 0 {
                let n = n as usize;
                lines.push(escape(&buf[*pos..*pos + n]));
                *pos += n + 2;
            }
        }
        b'*' | b'~' | b'>' => {
            for _ in 0..count(l).max(0) {
                render(buf, pos, lines);
            }
        }
        b'%' | b'|' => {
            for _ in 0..2 * count(l).max(0) {
                render(buf, pos, lines);
            }
        }
        _ => {}
    }
}

/// Parses reply lines starting at `*i` into one raw frame.
fn parse_frame(lines: &[&str], i: &mut usize) -> Vec<u8> {
    let mut out = Vec::new();
    parse_into(lines, i, &mut out);
    out
}

fn parse_into(lines: &[&str], i: &mut usize, out: &mut Vec<u8>) {
    let head = unescape(lines[*i]);
    *i += 1;
    out.extend_from_slice(&head);
    out.extend_from_slice(b"\r\n");
    match head[0] {
        b'$' | b'=' | b'!' if count(&head) >= 0 => {
            out.extend_from_slice(&unescape(lines[*i]));
            out.extend_from_slice(b"\r\n");
            *i += 1;
        }
        b'*' | b'~' | b'>' => {
            for _ in 0..count(&head).max(0) {
                parse_into(lines, i, out);
            }
        }
        b'%' | b'|' => {
            for _ in 0..2 * count(&head).max(0) {
                parse_into(lines, i, out);
            }
        }
        _ => {}
    }
}

/// A comment line: `#` text, but not a RESP3 boolean reply (`#t`, `#f`).
fn is_comment(l: &str) -> bool {
    l.starts_with('#') && l != "#t" && l != "#f"
}

fn is_reply_line(l: &str) -> bool {
    !(l.starts_with("> ") || l.starts_with('!') || is_comment(l) || l.is_empty())
}

pub fn parse(text: &str) -> Vec<Step> {
    let lines: Vec<&str> = text.lines().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    let (mut frames_hint, mut unordered, mut skip) = (None, false, false);
    while i < lines.len() {
        let l = lines[i];
        let lineno = i + 1;
        i += 1;
        if l.is_empty() {
            continue;
        }
        if let Some(c) = l.strip_prefix('#').filter(|_| is_comment(l)) {
            steps.push(Step::Comment(c.strip_prefix(' ').unwrap_or(c).to_string()));
        } else if let Some(d) = l.strip_prefix('!') {
            let (name, arg) = d.split_once(' ').unwrap_or((d, ""));
            match name {
                "server-args" => steps.push(Step::ServerArgs(
                    split_args(arg.as_bytes())
                        .expect("server-args quoting")
                        .into_iter()
                        .map(|a| String::from_utf8(a).unwrap())
                        .collect(),
                )),
                "client" => steps.push(Step::Client(arg.to_string())),
                "sleep" => steps.push(Step::Sleep(arg.parse().expect("sleep ms"))),
                "frames" => frames_hint = Some(arg.parse().expect("frames N")),
                "unordered" => unordered = true,
                "skip" => skip = true,
                "read" | "drain" => {
                    let n: usize = if name == "drain" {
                        DRAIN
                    } else {
                        arg.parse().expect("read N")
                    };
                    let mut replies = Vec::new();
                    while i < lines.len() && is_reply_line(lines[i]) {
                        replies.push(parse_frame(&lines, &mut i));
                    }
                    steps.push(Step::Read {
                        line: lineno,
                        n,
                        unordered,
                        skip,
                        replies,
                    });
                    unordered = false;
                    skip = false;
                }
                other => panic!("line {lineno}: unknown directive !{other}"),
            }
        } else if let Some(cmd) = l.strip_prefix("> ") {
            let argv = split_args(cmd.as_bytes())
                .unwrap_or_else(|| panic!("line {lineno}: unbalanced quotes"));
            let mut replies = Vec::new();
            while i < lines.len() && is_reply_line(lines[i]) {
                replies.push(parse_frame(&lines, &mut i));
            }
            steps.push(Step::Command {
                line: lineno,
                text: cmd.to_string(),
                argv,
                frames_hint: frames_hint.take(),
                unordered,
                skip,
                replies,
            });
            unordered = false;
            skip = false;
        } else {
            panic!("line {lineno}: reply line without a command: {l}");
        }
    }
    steps
}

/// Writes steps back to text (the recorder's output).
pub fn render_steps(steps: &[Step]) -> String {
    let mut out = String::new();
    let flags = |out: &mut String, unordered: bool, skip: bool| {
        if unordered {
            out.push_str("!unordered\n");
        }
        if skip {
            out.push_str("!skip\n");
        }
    };
    for s in steps {
        match s {
            Step::Comment(c) if c.is_empty() => out.push_str("#\n"),
            Step::Comment(c) => out.push_str(&format!("# {c}\n")),
            Step::ServerArgs(a) => out.push_str(&format!("!server-args {}\n", a.join(" "))),
            Step::Client(c) => out.push_str(&format!("!client {c}\n")),
            Step::Sleep(ms) => out.push_str(&format!("!sleep {ms}\n")),
            Step::Command {
                text,
                frames_hint,
                unordered,
                skip,
                replies,
                ..
            } => {
                if let Some(n) = frames_hint {
                    out.push_str(&format!("!frames {n}\n"));
                }
                flags(&mut out, *unordered, *skip);
                out.push_str(&format!("> {text}\n"));
                for r in replies {
                    for l in frame_to_lines(r) {
                        out.push_str(&l);
                        out.push('\n');
                    }
                }
            }
            Step::Read {
                n,
                unordered,
                skip,
                replies,
                ..
            } => {
                flags(&mut out, *unordered, *skip);
                out.push_str(&format!("!read {n}\n"));
                for r in replies {
                    for l in frame_to_lines(r) {
                        out.push_str(&l);
                        out.push('\n');
                    }
                }
            }
        }
    }
    out
}

/// Compares an actual frame with the recorded one under the step's rules. `unordered` sorts
/// the elements of every array and set, at any depth, before comparing.
pub fn frames_match(expected: &[u8], actual: &[u8], unordered: bool, skip: bool) -> bool {
    if skip {
        return true;
    }
    if !unordered {
        return expected == actual;
    }
    normalize(expected) == normalize(actual)
}

/// Canonical form of a frame with aggregate elements sorted (recursively).
fn normalize(f: &[u8]) -> Vec<u8> {
    let mut pos = 0;
    norm_at(f, &mut pos)
}

fn norm_at(f: &[u8], pos: &mut usize) -> Vec<u8> {
    let start = *pos;
    let head = read_line(f, pos).to_vec();
    let mut out = head.clone();
    out.extend_from_slice(b"\r\n");
    match head[0] {
        b'*' | b'~' | b'>' | b'%' => {
            let n = count(&head).max(0) as usize * if head[0] == b'%' { 2 } else { 1 };
            let mut items: Vec<Vec<u8>> = (0..n).map(|_| norm_at(f, pos)).collect();
            if head[0] != b'%' {
                items.sort();
            }
            for i in items {
                out.extend(i);
            }
            out
        }
        b'$' | b'=' | b'!' if count(&head) >= 0 => {
            let n = count(&head) as usize;
            *pos += n + 2;
            f[start..*pos].to_vec()
        }
        _ => f[start..*pos].to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let text = "# hi\n> SET a \"b c\"\n+OK\n> LRANGE l 0 -1\n*2\n$3\na\\r\\n\n$-1\n";
        let steps = parse(text);
        assert_eq!(render_steps(&steps), text);
        match &steps[2] {
            Step::Command { replies, .. } => {
                assert_eq!(replies[0], b"*2\r\n$3\r\na\r\n\r\n$-1\r\n")
            }
            _ => panic!(),
        }
    }
}
