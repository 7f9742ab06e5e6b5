//! The slow log (Redis's slowlog.c): commands that ran at least `slowlog-log-slower-than`
//! microseconds, newest first, at most `slowlog-max-len` of them.

use std::collections::VecDeque;

/// Arguments kept per entry (the last one then says how many more there were).
const MAX_ARGC: usize = 32;
/// Bytes kept per argument.
const MAX_STRING: usize = 128;

pub struct Entry {
    pub id: u64,
    pub unix_secs: i64,
    pub micros: u64,
    pub argv: Vec<Vec<u8>>,
    pub addr: String,
    pub name: Vec<u8>,
}

#[derive(Default)]
pub struct Slowlog {
    /// Newest first.
    pub entries: VecDeque<Entry>,
    next_id: u64,
}

impl Slowlog {
    /// Records a command if it was slow enough (secrets redacted), dropping the oldest
    /// entries past `max_len` (Redis's slowlogPushEntryIfNeeded). Fast commands cost one
    /// comparison: nothing is copied before the threshold check.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        threshold_us: i64,
        max_len: usize,
        argv: &[&[u8]],
        micros: u64,
        unix_secs: i64,
        addr: &str,
        name: &[u8],
    ) {
        if threshold_us < 0 || max_len == 0 || (micros as i64) < threshold_us {
            return;
        }
        let argv = &super::pause::redacted_argv(argv)[..];
        let kept = argv.len().min(MAX_ARGC);
        let argv = argv[..kept]
            .iter()
            .enumerate()
            .map(|(j, a)| {
                if kept != argv.len() && j == kept - 1 {
                    format!("... ({} more arguments)", argv.len() - kept + 1).into_bytes()
                } else if a.len() > MAX_STRING {
                    let mut s = a[..MAX_STRING].to_vec();
                    s.extend_from_slice(
                        format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes(),
                    );
                    s
                } else {
                    a.to_vec()
                }
            })
            .collect();
        self.entries.push_front(Entry {
            id: self.next_id,
            unix_secs,
            micros,
            argv,
            addr: if addr.is_empty() {
                "?:0".into()
            } else {
                addr.into()
            },
            name: name.to_vec(),
        });
        self.next_id += 1;
        self.entries.truncate(max_len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_are_trimmed_like_redis() {
        let mut log = Slowlog::default();
        let big = vec![b'x'; 200];
        let mut argv: Vec<&[u8]> = vec![b"SET", &big];
        log.push(0, 10, &argv, 5, 1, "a:1", b"");
        assert_eq!(
            log.entries[0].argv[1].len(),
            128 + "... (72 more bytes)".len()
        );
        argv = vec![b"DEL"; 40];
        log.push(0, 10, &argv, 5, 1, "", b"n");
        let e = &log.entries[0];
        assert_eq!((e.id, e.argv.len(), e.addr.as_str()), (1, 32, "?:0"));
        assert_eq!(e.argv[31], b"... (9 more arguments)");
        log.push(10, 10, &argv, 5, 1, "", b"");
        log.push(-1, 10, &argv, 50, 1, "", b"");
        assert_eq!(log.entries.len(), 2);
        for _ in 0..5 {
            log.push(0, 3, &argv, 5, 1, "", b"");
        }
        assert_eq!(log.entries.len(), 3);
        assert_eq!(log.entries[0].id, 6);
    }
}
