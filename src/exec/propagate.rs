//! Command propagation (Redis's alsoPropagate / propagatePendingCommands): what a write
//! command did, as commands that replay to the same dataset, for the AOF.
//!
//! A top-level command is one execution unit. Its writes (its own argv, a rewrite of it, or
//! extra ops such as a script's or a transaction's inner commands) collect in `pending`; when
//! the unit ends they go to `out`, wrapped in MULTI/EXEC if there is more than one, preceded
//! by SELECT when the db differs from the stream's. Expiry deletions are emitted at once, as
//! Redis 7.0 does. Sans I/O: `persist::aof` writes `out` to the file.

/// Encodes `args` as a RESP array of bulk strings.
pub fn encode_command<'a>(out: &mut Vec<u8>, args: impl ExactSizeIterator<Item = &'a [u8]>) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(itoa::Buffer::new().format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// The command a server-side deletion propagates as: DEL, or UNLINK under the matching
/// lazyfree-lazy-* setting (Redis's propagateDeletion).
pub fn deletion_command(lazy: bool) -> &'static [u8] {
    if lazy {
        b"UNLINK"
    } else {
        b"DEL"
    }
}

fn encode_select(out: &mut Vec<u8>, db: usize) {
    let n = itoa::Buffer::new().format(db).as_bytes().to_vec();
    encode_command(out, [b"SELECT".as_slice(), &n].into_iter());
}

/// One consumer of the propagated stream (the AOF, or the replication stream): its own
/// buffer and its own idea of the selected db (Redis's aof_selected_db, slaveseldb).
#[derive(Default)]
pub struct Sink {
    /// Someone consumes this stream.
    pub on: bool,
    /// The db the emitted stream is at.
    stream_db: Option<usize>,
    /// Emitted commands, ready for the consumer.
    pub buf: Vec<u8>,
    /// Bytes emitted since start (the AOF: the offset a client's last write reached, for
    /// WAITAOF; replication: the master offset).
    pub emitted: u64,
}

impl Sink {
    fn select(&mut self, db: usize) {
        if self.stream_db != Some(db) {
            let before = self.buf.len();
            encode_select(&mut self.buf, db);
            self.emitted += (self.buf.len() - before) as u64;
            self.stream_db = Some(db);
        }
    }

    /// Appends raw stream bytes, counted.
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.emitted += bytes.len() as u64;
    }

    /// The stream starts over (a new AOF file, a full sync): the next op selects its db.
    pub fn restart_stream(&mut self) {
        self.stream_db = None;
    }
}

/// A caller's per-command propagation state, kept across a nested call.
pub type Saved = (bool, bool, bool, bool);

#[derive(Default)]
pub struct Propagation {
    /// Ops of the running execution unit.
    pending: Vec<u8>,
    pending_ops: u32,
    pending_first_db: usize,
    pending_last_db: usize,
    /// Nesting of `call` (EXEC and scripts call commands).
    pub depth: u32,
    /// The running command asked to be propagated as this (already encoded) instead.
    rewrite: Vec<u8>,
    rewritten: bool,
    /// The running command propagates nothing of its own (its effects went out as ops).
    pub prevented: bool,
    /// The running command propagates even if the change counter says it changed nothing.
    pub forced: bool,
    /// The running command goes to replicas only, not the AOF (Redis's PROPAGATE_REPL:
    /// PUBLISH, so that replicas' subscribers get the messages).
    pub replicas_only: bool,
    /// Byte ranges of `pending` that only replicas get, and the ops the AOF gets.
    replicas_only_ranges: Vec<(usize, usize)>,
    aof_ops: u32,
    /// The append-only file's stream.
    pub aof: Sink,
    /// The replication stream (on while this server is a master with a backlog).
    pub repl: Sink,
}

impl Propagation {
    /// The running execution unit has ops waiting to be propagated.
    #[inline]
    pub fn has_pending(&self) -> bool {
        self.pending_ops != 0
    }

    /// Someone consumes the stream: commands must say what they did.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.aof.on || self.repl.on
    }

    /// The db the replication stream is at (the `repl-stream-db` of a snapshot).
    pub fn repl_stream_db(&self) -> Option<usize> {
        self.repl.stream_db
    }

    fn sinks(&mut self) -> impl Iterator<Item = &mut Sink> {
        [&mut self.aof, &mut self.repl].into_iter().filter(|s| s.on)
    }

    /// Adds an op to the running unit.
    pub fn also<'a>(&mut self, db: usize, args: impl ExactSizeIterator<Item = &'a [u8]>) {
        self.aof_ops += 1;
        self.select_for_pending(db);
        encode_command(&mut self.pending, args);
    }

    fn select_for_pending(&mut self, db: usize) {
        if self.pending_ops == 0 {
            self.pending_first_db = db;
        } else if db != self.pending_last_db {
            encode_select(&mut self.pending, db);
        }
        self.pending_last_db = db;
        self.pending_ops += 1;
    }

    /// Emits an op at once, outside the running unit (expiry deletions).
    pub fn now<'a>(&mut self, db: usize, args: impl ExactSizeIterator<Item = &'a [u8]>) {
        // Encoded once, at the end of the running unit's buffer (its room is reused), and
        // cut off again once every sink has it.
        let start = self.pending.len();
        encode_command(&mut self.pending, args);
        let op = std::mem::take(&mut self.pending);
        for sink in self.sinks() {
            sink.select(db);
            sink.push(&op[start..]);
        }
        self.pending = op;
        self.pending.truncate(start);
    }

    /// The running command is to be propagated as `args`.
    pub fn rewrite<'a>(&mut self, args: impl ExactSizeIterator<Item = &'a [u8]>) {
        self.rewrite.clear();
        encode_command(&mut self.rewrite, args);
        self.rewritten = true;
    }

    /// State of the command about to run; returns what the caller's was (nested calls).
    pub fn enter(&mut self) -> Saved {
        self.depth += 1;
        let saved = (
            self.rewritten,
            self.prevented,
            self.forced,
            self.replicas_only,
        );
        self.rewritten = false;
        self.prevented = false;
        self.forced = false;
        self.replicas_only = false;
        saved
    }

    /// After a command ran: propagates it if it changed the dataset and may propagate, then
    /// restores the caller's state; at the top level the unit is emitted.
    pub fn leave<'a>(
        &mut self,
        saved: Saved,
        db: usize,
        changed: bool,
        argv: impl ExactSizeIterator<Item = &'a [u8]>,
    ) {
        if (changed || self.forced) && !self.prevented {
            let start = self.pending.len();
            self.select_for_pending(db);
            if self.rewritten {
                self.pending.extend_from_slice(&self.rewrite);
            } else {
                encode_command(&mut self.pending, argv);
            }
            if self.replicas_only {
                self.replicas_only_ranges.push((start, self.pending.len()));
            } else {
                self.aof_ops += 1;
            }
        }
        (
            self.rewritten,
            self.prevented,
            self.forced,
            self.replicas_only,
        ) = saved;
        self.depth -= 1;
        if self.depth == 0 {
            self.end_unit();
        }
    }

    fn end_unit(&mut self) {
        if self.pending_ops == 0 {
            return;
        }
        let wrap = self.pending_ops > 1;
        let (first_db, last_db) = (self.pending_first_db, self.pending_last_db);
        let pending = std::mem::take(&mut self.pending);
        let ranges = std::mem::take(&mut self.replicas_only_ranges);
        let aof_ops = std::mem::replace(&mut self.aof_ops, 0);
        for (sink, is_aof) in [(&mut self.aof, true), (&mut self.repl, false)] {
            if !sink.on || (is_aof && aof_ops == 0) {
                continue;
            }
            sink.select(first_db);
            if wrap {
                sink.push(MULTI);
            }
            if is_aof && !ranges.is_empty() {
                let mut at = 0;
                for &(start, end) in &ranges {
                    sink.push(&pending[at..start]);
                    at = end;
                }
                sink.push(&pending[at..]);
            } else {
                sink.push(&pending);
            }
            if wrap {
                sink.push(EXEC);
            }
            // A skipped op may have carried the SELECT the rest relied on: the next op
            // selects its db again.
            sink.stream_db = if is_aof && !ranges.is_empty() {
                None
            } else {
                Some(last_db)
            };
        }
        self.pending = pending;
        self.pending.clear();
        self.pending_ops = 0;
    }
}

const MULTI: &[u8] = b"*1\r\n$5\r\nMULTI\r\n";
const EXEC: &[u8] = b"*1\r\n$4\r\nEXEC\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(mut b: &[u8]) -> Vec<String> {
        let mut cmds = Vec::new();
        while !b.is_empty() {
            let (frame, used) = crate::resp::frame::decode(b).unwrap().unwrap();
            let words: Vec<String> = frame
                .items()
                .unwrap()
                .iter()
                .map(|f| String::from_utf8_lossy(f.as_bytes().unwrap()).into_owned())
                .collect();
            cmds.push(words.join(" "));
            b = &b[used..];
        }
        cmds
    }

    fn args(s: &str) -> impl ExactSizeIterator<Item = &[u8]> {
        s.split(' ')
            .map(str::as_bytes)
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn replica_only_ops_skip_the_aof() {
        let mut p = Propagation::default();
        p.aof.on = true;
        p.repl.on = true;
        // Alone: the AOF gets nothing at all.
        let s = p.enter();
        p.forced = true;
        p.replicas_only = true;
        p.leave(s, 0, false, args("publish c m"));
        assert!(p.aof.buf.is_empty());
        assert_eq!(parse(&p.repl.buf), ["SELECT 0", "publish c m"]);
        // In a transaction with a write: both wrap it, only replicas get the message.
        p.repl.buf.clear();
        let outer = p.enter();
        let s = p.enter();
        p.leave(s, 0, true, args("set a 1"));
        let s = p.enter();
        p.forced = true;
        p.replicas_only = true;
        p.leave(s, 1, false, args("publish c m"));
        p.prevented = true;
        p.leave(outer, 1, true, args("exec"));
        assert_eq!(parse(&p.aof.buf), ["SELECT 0", "MULTI", "set a 1", "EXEC"]);
        assert_eq!(
            parse(&p.repl.buf),
            ["MULTI", "set a 1", "SELECT 1", "publish c m", "EXEC"]
        );
        // The AOF never got SELECT 1: a write in db 1 selects it there.
        p.aof.buf.clear();
        let s = p.enter();
        p.leave(s, 1, true, args("set b 1"));
        assert_eq!(parse(&p.aof.buf), ["SELECT 1", "set b 1"]);
    }

    #[test]
    fn one_op_is_not_wrapped_and_selects_once() {
        let mut p = Propagation::default();
        p.aof.on = true;
        let s = p.enter();
        p.leave(s, 0, true, args("set a 1"));
        let s = p.enter();
        p.leave(s, 0, true, args("set b 1"));
        let s = p.enter();
        p.leave(s, 0, false, args("get a"));
        assert_eq!(parse(&p.aof.buf), ["SELECT 0", "set a 1", "set b 1"]);
    }

    #[test]
    fn nested_ops_are_wrapped_with_selects_inside() {
        let mut p = Propagation::default();
        p.aof.on = true;
        let outer = p.enter();
        let s = p.enter();
        p.leave(s, 2, true, args("set a 1"));
        let s = p.enter();
        p.rewrite(args("SET b 1 PXAT 5"));
        p.leave(s, 3, true, args("set b 1 ex 5"));
        p.now(0, args("DEL x"));
        p.prevented = true;
        p.leave(outer, 3, true, args("exec"));
        assert_eq!(
            parse(&p.aof.buf),
            [
                "SELECT 0",
                "DEL x",
                "SELECT 2",
                "MULTI",
                "set a 1",
                "SELECT 3",
                "SET b 1 PXAT 5",
                "EXEC"
            ]
        );
    }
}
