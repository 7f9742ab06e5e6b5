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

/// Where an op goes (Redis's PROPAGATE_AOF / PROPAGATE_REPL): a bit set.
pub type Targets = u8;
pub const TO_AOF: Targets = 1;
pub const TO_REPLICAS: Targets = 2;
pub const TO_ALL: Targets = TO_AOF | TO_REPLICAS;

/// A caller's per-command propagation state, kept across a nested call.
pub type Saved = (bool, bool, bool, Targets);

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
    /// Sinks the running command does not go to: PUBLISH skips the AOF (Redis's
    /// PROPAGATE_REPL), so that only replicas' subscribers get the messages.
    pub withheld: Targets,
    /// Sinks the commands a script calls do not go to (redis.set_repl); none outside
    /// scripts.
    pub script_withheld: Targets,
    /// Byte ranges of `pending` that some sink does not get, with the targets of each.
    partial_ranges: Vec<(usize, usize, Targets)>,
    /// Ops of the running unit that the AOF gets and that replicas get.
    aof_ops: u32,
    repl_ops: u32,
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

    /// Adds an op to the running unit, for every sink (as Redis's alsoPropagate callers ask,
    /// whatever a script's redis.set_repl said).
    pub fn also<'a>(&mut self, db: usize, args: impl ExactSizeIterator<Item = &'a [u8]>) {
        let start = self.pending.len();
        self.select_for_pending(db);
        encode_command(&mut self.pending, args);
        self.count_op(start, TO_ALL);
    }

    /// Counts the op that `pending[start..]` holds for the sinks in `targets`.
    fn count_op(&mut self, start: usize, targets: Targets) {
        self.aof_ops += u32::from(targets & TO_AOF != 0);
        self.repl_ops += u32::from(targets & TO_REPLICAS != 0);
        if targets != TO_ALL {
            self.partial_ranges
                .push((start, self.pending.len(), targets));
        }
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
        let saved = (self.rewritten, self.prevented, self.forced, self.withheld);
        self.rewritten = false;
        self.prevented = false;
        self.forced = false;
        self.withheld = 0;
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
            self.count_op(start, TO_ALL & !(self.withheld | self.script_withheld));
        }
        (self.rewritten, self.prevented, self.forced, self.withheld) = saved;
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
        let ranges = std::mem::take(&mut self.partial_ranges);
        let aof_ops = std::mem::replace(&mut self.aof_ops, 0);
        let repl_ops = std::mem::replace(&mut self.repl_ops, 0);
        for (sink, target, ops) in [
            (&mut self.aof, TO_AOF, aof_ops),
            (&mut self.repl, TO_REPLICAS, repl_ops),
        ] {
            if !sink.on || ops == 0 {
                continue;
            }
            sink.select(first_db);
            if wrap {
                sink.push(MULTI);
            }
            let mut at = 0;
            let mut skipped = false;
            for &(start, end, targets) in &ranges {
                if targets & target == 0 {
                    sink.push(&pending[at..start]);
                    at = end;
                    skipped = true;
                }
            }
            sink.push(&pending[at..]);
            if wrap {
                sink.push(EXEC);
            }
            // A skipped op may have carried the SELECT the rest relied on: the next op
            // selects its db again.
            sink.stream_db = if skipped { None } else { Some(last_db) };
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
        p.withheld = TO_AOF;
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
        p.withheld = TO_AOF;
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
