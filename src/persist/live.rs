//! Snapshots without fork (`snapshot-mode live`): BGSAVE, BGREWRITEAOF and replication full
//! syncs write a point-in-time view of the dataset while the executor goes on changing it,
//! so memory stays flat where a forked child's copy-on-write would grow it.
//!
//! Each db gets a `SnapshotView` (see `keyspace::db`): an entry is saved, as it was when the
//! snapshot began, either by the snapshot's own walk over the keys or, if a command gets to
//! it first, just before that command changes or removes it. Entries added meanwhile are
//! never saved. The executor serializes (the keys are its alone) in slices of at most
//! `SLICE` per loop turn while little output waits; a writer thread checksums the stream,
//! writes it to its file or pipe, syncs and renames. The bytes are those of the forked
//! snapshot, in another key order: an RDB (or an AOF base of commands) Redis loads.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::rdb::{self, Encoder, CRC64};
use super::{rewrite, SaveMeta, SaveParams, SyncEvery};
use crate::exec::Executor;
use crate::keyspace::db::{Db, Entry, SnapshotSaver, SnapshotView};

/// Executor time a loop turn gives the walk at most: the latency it may add to a command.
const SLICE: Duration = Duration::from_micros(500);
/// The walk pauses while this much output waits for the writer (memory stays bounded).
const MAX_IN_FLIGHT: usize = 8 << 20;
/// Output is handed to the writer in chunks of about this size.
const CHUNK: usize = 256 << 10;

/// What the snapshot is written as.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    /// An RDB file (BGSAVE, full syncs, an AOF base with the RDB preamble).
    Rdb { checksum: bool },
    /// Commands (an AOF base without the preamble).
    Commands,
}

/// Where the snapshot goes.
pub enum Target {
    /// A file written as `tmp`, synced, then renamed to `rename_to` when given (else left
    /// for the caller, as an AOF rewrite's temp base is).
    File {
        tmp: PathBuf,
        rename_to: Option<PathBuf>,
        incremental_fsync: bool,
    },
    /// The write end of a diskless full sync's pipe.
    Pipe(File),
}

/// What a snapshot writes and how: its header (for an RDB, everything before the data).
pub struct Plan {
    header: Vec<u8>,
    format: Format,
    compress: bool,
    /// No keys at all (REPLCONF rdb-filter-only).
    keyless: bool,
}

impl Plan {
    /// An RDB, as `write_rdb_full` writes it.
    pub fn rdb(ex: &Executor, aof_base: bool, repl: Option<&super::sync::SyncInfo>) -> Plan {
        let p = SaveParams::new(ex, aof_base, repl);
        let mut head = Encoder::unsummed(Vec::new(), false);
        // Writes into a Vec cannot fail.
        let _ = head.header(rdb::version_for(&ex.dbs), &p.aux, &p.functions);
        Plan {
            header: head.into_inner(),
            format: Format::Rdb {
                checksum: p.checksum,
            },
            compress: p.compress,
            keyless: p.keyless,
        }
    }

    /// An AOF base of commands, as `aof::write_base` writes it.
    pub fn commands(ex: &Executor) -> Plan {
        let mut header = Vec::new();
        if ex.settings.aof_timestamp_enabled {
            let _ = write!(header, "#TS:{}\r\n", ex.clock.now_ms() / 1000);
        }
        let _ = rewrite::write_functions(ex, &mut header);
        Plan {
            header,
            format: Format::Commands,
            compress: false,
            keyless: false,
        }
    }
}

enum Msg {
    Chunk(Vec<u8>),
    Finish,
}

/// State shared with the writer thread.
struct Shared {
    in_flight: AtomicUsize,
    /// The snapshot was stopped: the writer must not rename its file.
    abort: AtomicBool,
}

/// A running live snapshot.
pub struct LiveSnapshot {
    epoch: u32,
    format: Format,
    /// The db the stream last switched to, by number.
    stream_db: Option<usize>,
    /// Per db number: its size at the start, until the stream first switches to it.
    sizes: Vec<Option<(usize, usize)>>,
    chunk: Vec<u8>,
    tx: Option<mpsc::Sender<Msg>>,
    shared: Arc<Shared>,
    writer: Option<JoinHandle<Result<(), String>>>,
    /// `rdb-key-save-delay`: microseconds per key (tests slow the snapshot down with it).
    key_delay_us: u64,
    started: Instant,
    keys_saved: u64,
    /// The walk is over and the writer was told to finish.
    finished: bool,
    /// Why the snapshot failed on the executor's side.
    failed: Option<String>,
}

/// The epoch of the next snapshot (0 is an entry's initial value: never a snapshot's).
static NEXT_EPOCH: AtomicUsize = AtomicUsize::new(1);

/// Saves one db's entries into its output, in the snapshot's format.
struct DbSaver {
    enc: Encoder<Vec<u8>>,
    format: Format,
    meta: SaveMeta,
    scratch: Vec<u8>,
}

impl SnapshotSaver for DbSaver {
    fn save(&mut self, key: &[u8], e: &Entry, expire_at_ms: i64) {
        // Writes into a Vec cannot fail.
        let _ = match self.format {
            Format::Rdb { .. } => {
                let (idle, freq) = self.meta.of(e);
                self.enc.entry(key, e, expire_at_ms, idle, freq)
            }
            Format::Commands => {
                rewrite::write_key(self.enc.out_mut(), &mut self.scratch, key, e, expire_at_ms)
            }
        };
    }

    fn output(&mut self) -> &mut Vec<u8> {
        self.enc.out_mut()
    }
}

impl LiveSnapshot {
    /// Starts a snapshot of `ex`'s dataset as of now into `target`.
    pub fn start(ex: &mut Executor, plan: Plan, target: Target) -> Result<Self, String> {
        let Plan {
            header: chunk,
            format,
            compress,
            keyless,
        } = plan;
        let shared = Arc::new(Shared {
            in_flight: AtomicUsize::new(0),
            abort: AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::channel();
        let writer_shared = shared.clone();
        let writer = std::thread::Builder::new()
            .name("snapshot-writer".into())
            .spawn(move || write_stream(rx, target, format, &writer_shared))
            .map_err(|e| format!("can't start the snapshot writer: {e}"))?;
        let epoch = NEXT_EPOCH.fetch_add(1, Ordering::Relaxed) as u32;
        let meta = SaveMeta::new(ex);
        let mut sizes = Vec::with_capacity(ex.dbs.len());
        for (i, db) in ex.dbs.iter_mut().enumerate() {
            // A filtered snapshot holds no keys: its dbs are already walked.
            let saver = DbSaver {
                enc: Encoder::unsummed(Vec::new(), compress),
                format,
                meta,
                scratch: Vec::new(),
            };
            let mut view = SnapshotView::new(epoch, i, Box::new(saver));
            view.walked = keyless;
            sizes.push((!keyless).then(|| (db.len(), db.expires_count())));
            db.begin_snapshot(view);
        }
        Ok(LiveSnapshot {
            epoch,
            format,
            stream_db: None,
            sizes,
            chunk,
            tx: Some(tx),
            shared,
            writer: Some(writer),
            key_delay_us: ex.cfg.get_int("rdb-key-save-delay").max(0) as u64,
            started: Instant::now(),
            keys_saved: 0,
            finished: false,
            failed: None,
        })
    }

    /// One turn's work: collects what commands saved, walks on for up to `SLICE` while
    /// the writer keeps up, and finishes the stream when every db is walked.
    pub fn step(&mut self, dbs: &mut [Db]) {
        if self.finished {
            return;
        }
        // Every db must still be the one the snapshot began on (a load replaces them).
        if !dbs
            .iter_mut()
            .all(|db| db.snapshot().is_some_and(|v| v.epoch == self.epoch))
        {
            self.fail(dbs, "the dataset was replaced during the snapshot");
            return;
        }
        for db in dbs.iter_mut() {
            self.collect(db);
        }
        let deadline = Instant::now() + SLICE;
        let mut buckets = 0u32;
        'walk: for db in dbs.iter_mut() {
            loop {
                if db.snapshot().is_none_or(|v| v.walked) {
                    break;
                }
                if self.chunk.len() + self.shared.in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT
                    || self.delay_reached()
                {
                    break 'walk;
                }
                self.keys_saved += db.snapshot_walk() as u64;
                self.collect(db);
                if self.chunk.len() >= CHUNK {
                    self.send_chunk();
                }
                buckets += 1;
                if buckets % 32 == 0 && Instant::now() >= deadline {
                    break 'walk;
                }
            }
        }
        if dbs
            .iter_mut()
            .all(|db| db.snapshot().is_some_and(|v| v.walked))
        {
            for db in dbs.iter_mut() {
                self.collect(db);
                db.end_snapshot();
            }
            if let Format::Rdb { .. } = self.format {
                self.chunk.push(rdb::opcode::EOF);
            }
            self.send_chunk();
            if let Some(tx) = self.tx.take() {
                let _ = tx.send(Msg::Finish);
            }
            self.finished = true;
        } else if !self.chunk.is_empty() {
            self.send_chunk();
        }
    }

    /// With `rdb-key-save-delay`, the walk saves no faster than one key per that many µs.
    fn delay_reached(&self) -> bool {
        self.key_delay_us != 0
            && self.keys_saved >= self.started.elapsed().as_micros() as u64 / self.key_delay_us
    }

    /// Moves what `db`'s saver wrote into the stream, switching the stream to its db first.
    fn collect(&mut self, db: &mut Db) {
        let Some(view) = db.snapshot() else {
            return;
        };
        let origin = view.origin;
        let out = view.saver.output();
        if out.is_empty() {
            return;
        }
        if self.stream_db != Some(origin) {
            self.stream_db = Some(origin);
            let sizes = self.sizes.get_mut(origin).and_then(Option::take);
            let mut enc = Encoder::unsummed(std::mem::take(&mut self.chunk), false);
            // Writes into a Vec cannot fail.
            let _ = match self.format {
                Format::Rdb { .. } => enc.select_db(origin, sizes),
                Format::Commands => rewrite::select(enc.out_mut(), &mut Vec::new(), origin),
            };
            self.chunk = std::mem::take(enc.out_mut());
        }
        self.chunk.append(out);
    }

    fn send_chunk(&mut self) {
        if self.chunk.is_empty() {
            return;
        }
        let chunk = std::mem::take(&mut self.chunk);
        self.shared
            .in_flight
            .fetch_add(chunk.len(), Ordering::Relaxed);
        if let Some(tx) = &self.tx {
            // A writer that stopped (an I/O error) reports it when joined.
            let _ = tx.send(Msg::Chunk(chunk));
        }
    }

    fn fail(&mut self, dbs: &mut [Db], why: &str) {
        tracing::warn!("Live snapshot failed: {why}");
        self.failed = Some(why.to_string());
        self.stop(dbs);
    }

    /// Ends the snapshot on the executor's side: the views go, the writer is told to stop.
    fn stop(&mut self, dbs: &mut [Db]) {
        for db in dbs {
            if db.snapshot().is_some_and(|v| v.epoch == self.epoch) {
                db.end_snapshot();
            }
        }
        self.shared.abort.store(true, Ordering::Relaxed);
        self.tx = None;
        self.finished = true;
    }

    /// Stops the snapshot (SHUTDOWN, FLUSHALL, a replica's load): its file is never renamed.
    /// A file's writer is waited for, so nothing of it happens after; a pipe's writer ends
    /// when the pipe's reader closes it.
    pub fn abort(&mut self, dbs: &mut [Db], wait: bool) {
        self.stop(dbs);
        if wait {
            if let Some(w) = self.writer.take() {
                let _ = w.join();
            }
        }
    }

    /// Some(succeeded) once the writer is done.
    pub fn try_finish(&mut self) -> Option<bool> {
        if !self.finished || !self.writer.as_ref().is_none_or(|w| w.is_finished()) {
            return None;
        }
        let result = match self.writer.take() {
            Some(w) => w
                .join()
                .unwrap_or_else(|_| Err("the writer panicked".into())),
            None => Err("stopped".into()),
        };
        match (&self.failed, result) {
            (None, Ok(())) => Some(true),
            (Some(_), _) => Some(false),
            (None, Err(e)) => {
                tracing::warn!("Live snapshot failed: {e}");
                Some(false)
            }
        }
    }
}

/// The writer thread: checksums and writes the stream, then syncs and renames a file.
fn write_stream(
    rx: mpsc::Receiver<Msg>,
    target: Target,
    format: Format,
    shared: &Shared,
) -> Result<(), String> {
    let mut crc = CRC64.digest();
    let mut pump = |out: &mut dyn Write| -> std::io::Result<bool> {
        loop {
            match rx.recv() {
                Ok(Msg::Chunk(c)) => {
                    crc.update(&c);
                    let r = out.write_all(&c);
                    shared.in_flight.fetch_sub(c.len(), Ordering::Relaxed);
                    r?;
                }
                Ok(Msg::Finish) => break,
                // The snapshot was stopped.
                Err(_) => return Ok(false),
            }
        }
        if let Format::Rdb { checksum } = format {
            let sum = if checksum { crc.clone().finalize() } else { 0 };
            out.write_all(&sum.to_le_bytes())?;
        }
        Ok(true)
    };
    match target {
        Target::Pipe(mut pipe) => match pump(&mut pipe) {
            Ok(true) => Ok(()),
            Ok(false) => Err("stopped".into()),
            Err(e) => Err(format!("Diskless RDB: {e}")),
        },
        Target::File {
            tmp,
            rename_to,
            incremental_fsync,
        } => {
            let result = (|| -> std::io::Result<bool> {
                let mut out = SyncEvery::new(File::create(&tmp)?, incremental_fsync);
                if !pump(&mut out)? {
                    return Ok(false);
                }
                out.file.sync_all()?;
                if shared.abort.load(Ordering::Relaxed) {
                    return Ok(false);
                }
                if let Some(to) = &rename_to {
                    std::fs::rename(&tmp, to)?;
                    let dir = to.parent().filter(|p| !p.as_os_str().is_empty());
                    if let Ok(d) = File::open(dir.unwrap_or(".".as_ref())) {
                        let _ = d.sync_all();
                    }
                    tracing::info!("DB saved on disk");
                }
                Ok(true)
            })();
            match result {
                Ok(true) => Ok(()),
                Ok(false) => {
                    let _ = std::fs::remove_file(&tmp);
                    Err("stopped".into())
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    Err(format!("Failed saving the DB: {e}"))
                }
            }
        }
    }
}

/// The live snapshot running, if any (a BGSAVE, full sync or AOF rewrite).
fn running(ex: &mut Executor) -> Option<(&mut LiveSnapshot, &mut Vec<Db>)> {
    let live = ex
        .persist
        .child
        .as_mut()
        .and_then(|c| c.live_mut())
        .or_else(|| ex.aof.child.as_mut().and_then(|c| c.live_mut()))?;
    Some((live, &mut ex.dbs))
}

/// The loop turn's share of a running live snapshot (from before-sleep).
pub fn step(ex: &mut Executor) {
    if let Some((live, dbs)) = running(ex) {
        live.step(dbs);
        let saved = live.keys_saved;
        ex.persist.progress.keys_processed = saved;
    }
}

/// How soon the loop must turn again for a running live snapshot: at once while its walk
/// can go on, soon while it waits for its writer, None without one.
pub fn next_turn(ex: &Executor) -> Option<Duration> {
    let live = [ex.persist.child.as_ref(), ex.aof.child.as_ref()]
        .into_iter()
        .flatten()
        .find_map(|c| c.live_snapshot())?;
    if live.finished {
        // Only the writer is left: its end is noticed by the cron.
        return None;
    }
    let throttled =
        live.shared.in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT || live.delay_reached();
    Some(if throttled {
        Duration::from_millis(1)
    } else {
        Duration::ZERO
    })
}

/// Whether background snapshots are made without fork (`snapshot-mode live`).
pub fn enabled(ex: &Executor) -> bool {
    ex.cfg.get_enum("snapshot-mode") == "live"
}

/// This process's pid: a live snapshot stands in for a child, and its temp files carry this pid.
pub fn own_pid() -> libc::pid_t {
    std::process::id() as libc::pid_t
}
