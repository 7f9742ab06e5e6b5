//! The append-only file, in Redis 7's multi-part layout: a directory (`appenddirname`) with a
//! base file (an RDB, or commands), incremental files of commands, and a manifest naming them
//! in order. The executor encodes writes as commands (`exec::propagate`); this module writes
//! them before any reply goes out, syncs them as `appendfsync` says, loads the files at
//! start, and rewrites the base in a forked child (BGREWRITEAOF).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use super::RdbChild;
use crate::exec::client::{flags as cf, Client};
use crate::exec::Executor;

/// Redis's aof_state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum State {
    #[default]
    Off,
    On,
    /// Turned on at runtime: on once the first rewrite has written a base.
    WaitRewrite,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Part {
    name: String,
    seq: u64,
}

/// The manifest: which files make the AOF, in order (Redis's aofManifest).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Manifest {
    base: Option<(Part, bool)>,
    incrs: Vec<Part>,
    history: Vec<Part>,
    /// Highest sequence numbers used so far.
    base_seq: u64,
    incr_seq: u64,
}

impl Manifest {
    /// Redis's aofLoadManifestFromFile: lines of `key value` pairs (file, seq, type; other
    /// keys are skipped for forward compatibility), `#` comments, at most 1024 bytes a line.
    /// The error names the line, as Redis's FATAL AOF MANIFEST FILE ERROR report does.
    fn parse(text: &[u8]) -> Result<Manifest, String> {
        const MAX_LINE: usize = 1024;
        let mut m = Manifest::default();
        let mut rest = text;
        let mut linenum = 0;
        while !rest.is_empty() {
            // fgets with a 1024-byte buffer: a line is what fits, up to its newline.
            let take = rest.len().min(MAX_LINE);
            let (raw, newline) = match memchr::memchr(b'\n', &rest[..take]) {
                Some(nl) => (&rest[..nl + 1], true),
                None => (&rest[..take], false),
            };
            rest = &rest[raw.len()..];
            linenum += 1;
            if raw.first() == Some(&b'#') {
                continue;
            }
            let line = trim(raw);
            let fail = |err: &str| manifest_error(Some((linenum, line)), err);
            if !newline {
                // Found before the line is kept, so the report does not show it.
                let err = "The AOF manifest file contains too long line";
                return Err(manifest_error(None, err));
            }
            if line.is_empty() {
                return Err(fail("Invalid AOF manifest file format"));
            }
            let words = match crate::util::splitargs::split_args(line) {
                Some(w) if w.len() >= 6 && w.len() % 2 == 0 => w,
                _ => return Err(fail("Invalid AOF manifest file format")),
            };
            let (mut name, mut seq, mut kind) = (None, 0u64, None);
            for kv in words.chunks(2) {
                let key = kv[0].as_slice();
                if key.eq_ignore_ascii_case(b"file") {
                    let file = String::from_utf8_lossy(&kv[1]).into_owned();
                    if file.contains('/') {
                        return Err(fail("File can't be a path, just a filename"));
                    }
                    name = Some(file);
                } else if key.eq_ignore_ascii_case(b"seq") {
                    // atoll: leading digits, 0 when there are none (and 0 is refused below).
                    seq = crate::util::num::atoll_prefix(&kv[1]).max(0) as u64;
                } else if key.eq_ignore_ascii_case(b"type") {
                    kind = kv[1].first().copied();
                }
            }
            let (Some(name), true, Some(kind)) = (name, seq != 0, kind) else {
                return Err(fail("Invalid AOF manifest file format"));
            };
            let part = Part { name, seq };
            match kind {
                b'b' => {
                    if m.base.is_some() {
                        return Err(fail("Found duplicate base file information"));
                    }
                    m.base_seq = seq;
                    let rdb = part.name.ends_with(".rdb");
                    m.base = Some((part, rdb));
                }
                b'h' => m.history.push(part),
                b'i' => {
                    if seq <= m.incr_seq {
                        return Err(fail("Found a non-monotonic sequence number"));
                    }
                    m.incr_seq = seq;
                    m.incrs.push(part);
                }
                _ => return Err(fail("Unknown AOF file type")),
            }
        }
        if linenum == 0 {
            return Err(manifest_error(None, "Found an empty AOF manifest"));
        }
        Ok(m)
    }

    fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut line = |p: &Part, kind: char| {
            out.extend_from_slice(b"file ");
            // Redis quotes a name that needs it (sdsneedsrepr), as its loader splits lines
            // like arguments.
            let name = p.name.as_bytes();
            if name
                .iter()
                .any(|&c| matches!(c, b'\\' | b'"') || !c.is_ascii_graphic())
            {
                crate::util::splitargs::repr(name, &mut out);
            } else {
                out.extend_from_slice(name);
            }
            out.extend_from_slice(format!(" seq {} type {kind}\n", p.seq).as_bytes());
        };
        if let Some((b, _)) = &self.base {
            line(b, 'b');
        }
        for h in &self.history {
            line(h, 'h');
        }
        for i in &self.incrs {
            line(i, 'i');
        }
        out
    }
}

/// A manifest line without its surrounding blanks (sdstrim with " \t\r\n").
fn trim(line: &[u8]) -> &[u8] {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = line.iter().position(|b| !blank(b)).unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |e| e + 1);
    &line[start..end]
}

/// Redis's report of a manifest it cannot use (the server then exits).
fn manifest_error(at: Option<(usize, &[u8])>, err: &str) -> String {
    let mut out = String::from("\n*** FATAL AOF MANIFEST FILE ERROR ***\n");
    if let Some((linenum, line)) = at {
        out.push_str(&format!(
            "Reading the manifest file, at line {linenum}\n>>> '{}'\n",
            String::from_utf8_lossy(line)
        ));
    }
    out.push_str(err);
    out
}

/// Syncs the AOF off the executor thread for `appendfsync everysec` (Redis's bio fsync job).
struct Fsyncer {
    jobs: mpsc::Sender<File>,
    busy: Arc<AtomicBool>,
}

impl Fsyncer {
    fn start() -> Fsyncer {
        let (jobs, rx) = mpsc::channel::<File>();
        let busy = Arc::new(AtomicBool::new(false));
        let flag = busy.clone();
        std::thread::Builder::new()
            .name("aof-fsync".into())
            .spawn(move || {
                for f in rx {
                    if let Err(e) = f.sync_data() {
                        tracing::warn!("Error syncing the AOF in the background: {e}");
                    }
                    flag.store(false, Ordering::Release);
                }
            })
            .expect("spawn the AOF fsync thread");
        Fsyncer { jobs, busy }
    }
}

/// The AOF and its counters (Redis's server.aof_*).
#[derive(Default)]
pub struct Aof {
    pub state: State,
    /// DEBUG AOF-FLUSH-SLEEP: microseconds to wait before each write of the buffer (tests
    /// use it to widen the window between the write and the replies).
    pub flush_sleep_us: u64,
    /// The BGREWRITEAOF child.
    pub child: Option<RdbChild>,
    /// Automatic rewrites wait until this unix second after repeated failures, and the wait
    /// doubles each time (Redis's aofRewriteLimited).
    limit_until: i64,
    limit_delay_minutes: i64,
    pub rewrite_scheduled: bool,
    manifest: Manifest,
    file: Option<File>,
    /// Bytes of all files, and of the base and incr files after the last rewrite.
    pub current_size: u64,
    pub base_size: u64,
    /// Written but not yet synced.
    unsynced: bool,
    last_fsync_ms: i64,
    fsyncer: Option<Fsyncer>,
    pub last_write_error: Option<String>,
    pub rewrites: u64,
    pub last_rewrite_secs: Option<i64>,
    pub last_rewrite_failed: bool,
    pub consecutive_failures: u64,
    pub last_cow_bytes: u64,
    pub delayed_fsync: u64,
    /// Startup is done: CONFIG SET appendonly may now turn the AOF on or off.
    started: bool,
    pub loaded_truncated: bool,
    /// Second of the last `#TS:` annotation.
    last_timestamp: i64,
    /// Propagation offset known to be on disk (WAITAOF), and the one a running background
    /// sync will make so.
    pub fsynced: u64,
    fsync_target: Option<u64>,
}

impl Aof {
    /// A background fsync has not finished yet.
    pub fn fsync_pending(&self) -> bool {
        self.fsyncer
            .as_ref()
            .is_some_and(|f| f.busy.load(Ordering::Acquire))
    }
}

fn dir(ex: &Executor) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(ex.cfg.get_str("appenddirname")).into_owned())
}

fn file_name(ex: &Executor) -> String {
    String::from_utf8_lossy(ex.cfg.get_str("appendfilename")).into_owned()
}

fn manifest_path(ex: &Executor) -> PathBuf {
    dir(ex).join(format!("{}.manifest", file_name(ex)))
}

fn sync_dir(path: &Path) {
    if let Ok(d) = File::open(path) {
        let _ = d.sync_all();
    }
}

/// Writes the manifest to a temp file, syncs it and renames it over the old one.
fn persist_manifest(ex: &Executor, m: &Manifest) -> std::io::Result<()> {
    let dir = dir(ex);
    let tmp = dir.join(format!("temp-{}.manifest", file_name(ex)));
    let mut f = File::create(&tmp)?;
    f.write_all(&m.render())?;
    f.sync_all()?;
    std::fs::rename(&tmp, manifest_path(ex))?;
    sync_dir(&dir);
    Ok(())
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The base's size and the whole AOF's (what automatic rewrites compare).
fn measure(ex: &mut Executor, dir: &Path, m: &Manifest) {
    ex.aof.base_size = m
        .base
        .as_ref()
        .map_or(0, |(b, _)| file_size(&dir.join(&b.name)));
    let incrs: u64 = m.incrs.iter().map(|p| file_size(&dir.join(&p.name))).sum();
    ex.aof.current_size = ex.aof.base_size + incrs;
}

// ---- loading ----

/// Startup with `appendonly yes` (Redis's loadAppendOnlyFiles + aofOpenIfNeededOnServerStart):
/// loads the AOF (the RDB file is ignored, as in Redis), then opens it for appending,
/// creating a base and an incr file when there are none.
pub fn load_at_start(ex: &mut Executor) -> Result<(), String> {
    let dir = dir(ex);
    let name = file_name(ex);
    let mut manifest = read_manifest(ex)?;
    // An old single-file AOF beside the data becomes the base of the new layout: when there
    // is no manifest yet, or when an upgrade stopped after writing the manifest but before
    // moving the file (Redis's loadAppendOnlyFiles and aofUpgradePrepare).
    let interrupted_upgrade = manifest.incrs.is_empty()
        && manifest.base.as_ref().is_some_and(|(b, _)| b.name == name)
        && !dir.join(&name).exists();
    let no_manifest = manifest.base.is_none() && manifest.incrs.is_empty();
    if (no_manifest || interrupted_upgrade) && Path::new(&name).is_file() {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("Can't create the AOF directory: {e}"))?;
        manifest.base = Some((
            Part {
                name: name.clone(),
                seq: 1,
            },
            false,
        ));
        manifest.base_seq = 1;
        // The manifest first, then the move: a crash in between leaves the layout the
        // interrupted-upgrade case above picks up again.
        persist_manifest(ex, &manifest)
            .map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
        std::fs::rename(&name, dir.join(&name)).map_err(|e| {
            format!(
                "Error trying to rename the existing AOF to the AOF directory {}: {}",
                dir.display(),
                crate::util::strerror(&e)
            )
        })?;
        tracing::info!(
            "Successfully migrated an old-style AOF file ({name}) into the AOF directory ({}).",
            dir.display()
        );
    }
    load_parts(ex, &manifest)?;
    ex.aof.manifest = manifest;
    open_at_start(ex)
}

/// The manifest in the AOF directory; an empty one when there is none.
fn read_manifest(ex: &Executor) -> Result<Manifest, String> {
    let mpath = manifest_path(ex);
    match std::fs::read(&mpath) {
        Ok(text) => Manifest::parse(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(e) => Err(format!(
            "Fatal error: can't open the AOF manifest {}: {e}",
            mpath.display()
        )),
    }
}

/// DEBUG LOADAOF: `reload`, and on failure the process exits, as Redis's does: the dataset
/// is gone and the files cannot rebuild it.
pub fn reload_or_exit(ex: &mut Executor) {
    if let Err(e) = reload(ex) {
        tracing::warn!("{e}");
        std::process::exit(1);
    }
}

/// DEBUG LOADAOF: writes what is pending, empties the dataset and loads the AOF again.
pub fn reload(ex: &mut Executor) -> Result<(), String> {
    if ex.aof.state == State::On {
        flush_and_sync(ex);
    }
    for db in &mut ex.dbs {
        *db = crate::keyspace::db::Db::new();
    }
    ex.functions = None;
    // The manifest as the disk has it (Redis's aofLoadManifestFromDisk): its sequence
    // numbers are where the next files continue.
    ex.aof.manifest = read_manifest(ex)?;
    delete_history(ex);
    let manifest = ex.aof.manifest.clone();
    load_parts(ex, &manifest)
}

/// Loads the base and incr files the manifest names, in order.
fn load_parts(ex: &mut Executor, manifest: &Manifest) -> Result<(), String> {
    let dir = dir(ex);
    let start = std::time::Instant::now();
    let mut parts: Vec<(PathBuf, &str)> = Vec::new();
    if let Some((b, _)) = &manifest.base {
        parts.push((dir.join(&b.name), "base"));
    }
    parts.extend(manifest.incrs.iter().map(|p| (dir.join(&p.name), "incr")));
    let total = parts.len();
    // Every file the manifest names must be there before anything loads (Redis sizes them
    // all first, for the loading progress, and a missing one is fatal).
    let mut sizes = Vec::with_capacity(total);
    for (path, _) in &parts {
        match std::fs::metadata(path) {
            Ok(m) => sizes.push(m.len()),
            Err(e) => {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                return Err(format!(
                    "Unable to obtain the AOF file {name} length. stat: {}",
                    crate::util::strerror(&e)
                ));
            }
        }
    }
    let started = super::loading::start(ex, sizes.iter().sum());
    let mut loaded_any = false;
    for (i, (path, kind)) in parts.iter().enumerate() {
        let last = i + 1 == total;
        match load_file(ex, path, kind, last) {
            Ok(loaded) => loaded_any |= loaded,
            Err(e) => {
                super::loading::stop(ex, started);
                return Err(e);
            }
        }
        super::loading::next_file(ex, sizes[i]);
    }
    super::loading::stop(ex, started);
    if loaded_any {
        tracing::info!(
            "DB loaded from append only file: {:.3} seconds",
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Loads one file of the AOF (`kind`: base or incr; only the `last` may be cut short);
/// false if it does not exist or is empty.
fn load_file(ex: &mut Executor, path: &Path, kind: &str, last: bool) -> Result<bool, String> {
    let started = std::time::Instant::now();
    let shown = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("The AOF file {shown} doesn't exist"));
        }
        Err(e) => {
            return Err(format!(
                "Fatal error: can't open the append log file {shown} for reading: {e}"
            ))
        }
    };
    if bytes.is_empty() {
        return Ok(false);
    }
    let mut start = 0;
    if bytes.starts_with(b"REDIS") {
        tracing::info!("Reading RDB base file on AOF loading...");
        start = super::load_rdb_bytes(ex, &bytes, &shown)?;
        tracing::info!("Reading the remaining AOF tail...");
    }
    let keep = replay(ex, &bytes, start, &shown, last)?;
    if keep < bytes.len() {
        // aof-load-truncated: the torn tail goes, so appending continues from a clean end.
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(keep as u64).map(|()| f))
            .and_then(|f| f.sync_all());
        match f {
            Ok(()) => {
                tracing::warn!("AOF {shown} loaded anyway because aof-load-truncated is enabled")
            }
            Err(e) => return Err(format!("Error truncating the AOF file {shown}: {e}")),
        }
        ex.aof.loaded_truncated = true;
    }
    tracing::info!(
        "DB loaded from {kind} file {shown}: {:.3} seconds",
        started.elapsed().as_secs_f64()
    );
    Ok(true)
}

/// How a command stream ends.
enum Torn {
    /// Not RESP: refuse.
    Bad,
    /// Cut short at the end.
    Short,
}

/// Parses one `*argc $len arg ...` command at `pos`; Ok(None) at the end of the buffer.
/// A command's arguments and the offset after it.
type Parsed<'a> = Option<(Vec<&'a [u8]>, usize)>;

fn parse_command(b: &[u8], mut pos: usize) -> Result<Parsed<'_>, Torn> {
    if pos >= b.len() {
        return Ok(None);
    }
    let line = |pos: usize, prefix: u8| -> Result<(i64, usize), Torn> {
        let end = b[pos..]
            .iter()
            .position(|&c| c == b'\n')
            .ok_or(Torn::Short)?
            + pos;
        if b[pos] != prefix {
            return Err(Torn::Bad);
        }
        let digits = b[pos + 1..end].strip_suffix(b"\r").ok_or(Torn::Bad)?;
        let n = crate::util::num::parse_i64(digits).ok_or(Torn::Bad)?;
        Ok((n, end + 1))
    };
    let (argc, next) = line(pos, b'*')?;
    if argc < 1 {
        return Err(Torn::Bad);
    }
    pos = next;
    // Memory follows the bytes present, never the count claimed: each argument takes at
    // least four bytes ("$0\r\n").
    let mut argv = Vec::with_capacity((argc as usize).min((b.len() - pos) / 4 + 1));
    for _ in 0..argc {
        if pos >= b.len() {
            return Err(Torn::Short);
        }
        let (len, next) = line(pos, b'$')?;
        if len < 0 {
            return Err(Torn::Bad);
        }
        let end = match usize::try_from(len).ok().and_then(|l| next.checked_add(l)) {
            Some(end) if end.checked_add(2).is_some_and(|e| e <= b.len()) => end,
            _ => return Err(Torn::Short),
        };
        argv.push(&b[next..end]);
        pos = end + 2;
    }
    Ok(Some((argv, pos)))
}

/// Loads an AOF's bytes (an RDB preamble, then commands) into `ex` as startup would, without
/// a file (fuzzing and its corpus replay).
pub fn load_bytes(ex: &mut Executor, bytes: &[u8]) -> Result<usize, String> {
    let mut start = 0;
    if bytes.starts_with(b"REDIS") {
        start = super::load_rdb_bytes(ex, bytes, "fuzz.aof")?;
    }
    replay(ex, bytes, start, "fuzz.aof", true)
}

/// Replays the commands in `bytes[start..]`; returns how many bytes to keep (less than all
/// when a torn tail was dropped under aof-load-truncated).
fn replay(
    ex: &mut Executor,
    bytes: &[u8],
    start: usize,
    shown: &str,
    last: bool,
) -> Result<usize, String> {
    let mut client = Client::new(u64::MAX, usize::MAX, ex.clock.now_ms());
    client.authenticated = true;
    client.flags |= cf::DENY_BLOCKING | cf::OBEY;
    let was_enabled = std::mem::replace(&mut ex.prop.aof.on, false);
    ex.loading = true;
    let mut pos = start;
    // Where the open MULTI began: a transaction cut short is dropped whole.
    let mut multi_at: Option<usize> = None;
    let mut replayed = 0u64;
    let result = loop {
        // Annotations (aof-timestamp-enabled) are lines starting with '#'.
        if bytes.get(pos) == Some(&b'#') {
            match bytes[pos..].iter().position(|&c| c == b'\n') {
                Some(n) => {
                    pos += n + 1;
                    continue;
                }
                None => break Err(Torn::Short),
            }
        }
        match parse_command(bytes, pos) {
            Ok(None) => break Ok(()),
            Ok(Some((argv, next))) => {
                if crate::cmd::args::eq(argv[0], "MULTI") {
                    multi_at = Some(pos);
                } else if crate::cmd::args::eq(argv[0], "EXEC") {
                    multi_at = None;
                }
                if let Err(e) = ex.replay(&mut client, &argv) {
                    ex.loading = false;
                    ex.prop.aof.on = was_enabled;
                    return Err(format!("{e} {shown}"));
                }
                pos = next;
                replayed += 1;
                if replayed % 1024 == 0 {
                    super::loading::serve(ex, pos as u64);
                }
            }
            Err(t) => break Err(t),
        }
    };
    ex.loading = false;
    ex.prop.aof.on = was_enabled;
    let fix = "You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.";
    match result {
        Ok(()) => match multi_at {
            None => Ok(pos),
            Some(at) => {
                if last && ex.settings.aof_load_truncated {
                    tracing::warn!("Revert incomplete MULTI/EXEC transaction in AOF file {shown}");
                    Ok(at)
                } else {
                    Err(format!("Unexpected end of file reading the append only file {shown}. {fix}"))
                }
            }
        },
        Err(Torn::Short) => {
            if last && ex.settings.aof_load_truncated {
                tracing::warn!("!!! Warning: short read while loading the AOF file {shown}!!!");
                let keep = multi_at.unwrap_or(pos);
                tracing::warn!("!!! Truncating the AOF {shown} at offset {keep} !!!");
                Ok(keep)
            } else {
                Err(format!("Unexpected end of file reading the append only file {shown}. {fix}"))
            }
        }
        Err(Torn::Bad) => Err(format!(
            "Bad file format reading the append only file {shown} (at offset {pos}): make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
        )),
    }
}

// ---- writing ----

fn base_name(ex: &Executor, seq: u64, rdb: bool) -> String {
    format!(
        "{}.{seq}.base.{}",
        file_name(ex),
        if rdb { "rdb" } else { "aof" }
    )
}

fn incr_name(ex: &Executor, seq: u64) -> String {
    format!("{}.{seq}.incr.aof", file_name(ex))
}

/// After loading: a base written from the dataset if there is none, a fresh incr file if
/// there is none, and the last incr file open for appending.
fn open_at_start(ex: &mut Executor) -> Result<(), String> {
    let dir = dir(ex);
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("Can't create the AOF directory {}: {e}", dir.display()))?;
    let mut m = std::mem::take(&mut ex.aof.manifest);
    let mut changed = false;
    if m.base.is_none() && m.incrs.is_empty() {
        let rdb = ex.settings.aof_use_rdb_preamble;
        let seq = m.base_seq + 1;
        let name = base_name(ex, seq, rdb);
        write_base(ex, &dir.join(&name), rdb)
            .map_err(|e| format!("Can't create the AOF base file {name}: {e}"))?;
        tracing::info!("Creating AOF base file {name} on server start");
        m.base = Some((Part { name, seq }, rdb));
        m.base_seq = seq;
        changed = true;
    }
    if m.incrs.is_empty() {
        let seq = m.incr_seq + 1;
        let name = incr_name(ex, seq);
        tracing::info!("Creating AOF incr file {name} on server start");
        m.incrs.push(Part { name, seq });
        m.incr_seq = seq;
        changed = true;
    } else if let Some(last) = m.incrs.last() {
        tracing::info!("Opening AOF incr file {} on server start", last.name);
    }
    if changed {
        persist_manifest(ex, &m).map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    }
    let last = m.incrs.last().expect("an incr file").name.clone();
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(&last))
        .map_err(|e| format!("Can't open the append-only file {last}: {e}"))?;
    sync_dir(&dir);
    measure(ex, &dir, &m);
    ex.aof.manifest = m;
    ex.aof.file = Some(file);
    ex.aof.state = State::On;
    ex.aof.started = true;
    ex.aof.last_fsync_ms = ex.clock.now_ms();
    ex.prop.aof.on = true;
    ex.prop.aof.restart_stream();
    Ok(())
}

/// Marks startup done without an AOF (CONFIG SET appendonly yes may turn it on later).
pub fn started_without(ex: &mut Executor) {
    ex.aof.started = true;
}

/// Writes the commands of finished execution units to the AOF, before any reply goes out,
/// and syncs as appendfsync says (Redis's flushAppendOnlyFile, from beforeSleep).
pub fn flush(ex: &mut Executor) {
    // A finished background sync makes its offset durable.
    if let Some(target) = ex.aof.fsync_target {
        if !ex.aof.fsync_pending() {
            ex.aof.fsynced = ex.aof.fsynced.max(target);
            ex.aof.fsync_target = None;
        }
    }
    if ex.prop.aof.buf.is_empty() {
        if ex.aof.unsynced {
            maybe_background_fsync(ex);
        }
        return;
    }
    if ex.aof.file.is_none() {
        // No file (off, or waiting for the rewrite that opens one): nothing to keep.
        ex.prop.aof.buf.clear();
        return;
    }
    if ex.aof.flush_sleep_us > 0 {
        std::thread::sleep(std::time::Duration::from_micros(ex.aof.flush_sleep_us));
    }
    if ex.settings.aof_timestamp_enabled {
        // aof-timestamp-enabled: a `#TS:<unix seconds>` line whenever the second changed.
        let secs = ex.clock.now_ms() / 1000;
        // Not in front of the rest of a failed write (that may end mid-command).
        if secs > ex.aof.last_timestamp && ex.aof.last_write_error.is_none() {
            let ts = format!("#TS:{secs}\r\n");
            ex.prop.aof.buf.splice(0..0, ts.into_bytes());
            ex.aof.last_timestamp = secs;
        }
    }
    let Some(file) = ex.aof.file.as_mut() else {
        return;
    };
    let buf = &mut ex.prop.aof.buf;
    let write_started = std::time::Instant::now();
    let mut written = 0;
    let mut error = None;
    while written < buf.len() {
        match file.write(&buf[written..]) {
            Ok(0) => {
                error = Some("short write".to_string());
                break;
            }
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let write_ms = write_started.elapsed().as_millis() as u64;
    buf.drain(..written);
    if buf.is_empty() && buf.capacity() > 1 << 20 {
        // A burst's buffer is not kept (Redis frees a big aof_buf after writing it too).
        buf.shrink_to(1 << 16);
    }
    ex.aof.current_size += written as u64;
    ex.aof.unsynced = true;
    let now = ex.clock.now_ms();
    ex.latency_sample("aof-write", write_ms, now);
    let always = ex.settings.appendfsync == "always";
    if let Some(e) = error {
        if always {
            // Redis exits too: a reply would promise a write the disk does not have.
            tracing::warn!("Can't recover from AOF write error when the AOF fsync policy is 'always': {e}. Exiting...");
            std::process::exit(1);
        }
        if ex.aof.last_write_error.is_none() {
            tracing::warn!("Error writing to the AOF file: {e}");
        }
        ex.aof.last_write_error = Some(e);
        return;
    }
    if ex.aof.last_write_error.take().is_some() {
        tracing::warn!("AOF write error looks solved, Redis can write again.");
    }
    let written = written_offset(ex);
    if always {
        let sync_started = std::time::Instant::now();
        let file = ex.aof.file.as_mut().expect("open AOF");
        if let Err(e) = file.sync_data() {
            tracing::warn!("Can't persist the AOF for fsync error when the AOF fsync policy is 'always': {e}. Exiting...");
            std::process::exit(1);
        }
        ex.aof.unsynced = false;
        ex.aof.fsynced = written;
        ex.aof.last_fsync_ms = ex.clock.now_ms();
        let ms = sync_started.elapsed().as_millis() as u64;
        ex.latency_sample("aof-fsync-always", ms, ex.aof.last_fsync_ms);
    } else if ex.settings.appendfsync == "no" {
        // The kernel decides when: what is written counts as synced (there is nothing to
        // wait for).
        ex.aof.fsynced = written;
    } else {
        maybe_background_fsync(ex);
    }
}

/// The propagation offset that has reached the file (emitted minus what waits to be written).
fn written_offset(ex: &Executor) -> u64 {
    ex.prop.aof.emitted - ex.prop.aof.buf.len() as u64
}

/// everysec: hands an fsync to the background thread once a second.
fn maybe_background_fsync(ex: &mut Executor) {
    if ex.settings.appendfsync != "everysec" {
        return;
    }
    if ex.settings.no_appendfsync_on_rewrite
        && (ex.aof.child.is_some() || ex.persist.child.is_some())
    {
        return;
    }
    let now = ex.clock.now_ms();
    if now - ex.aof.last_fsync_ms < 1000 {
        return;
    }
    let Some(file) = ex.aof.file.as_ref() else {
        return;
    };
    let fsyncer = ex.aof.fsyncer.get_or_insert_with(Fsyncer::start);
    if fsyncer.busy.load(Ordering::Acquire) {
        // The disk is slower than a second per sync: Redis counts this.
        ex.aof.delayed_fsync += 1;
        return;
    }
    if let Ok(clone) = file.try_clone() {
        fsyncer.busy.store(true, Ordering::Release);
        if fsyncer.jobs.send(clone).is_err() {
            fsyncer.busy.store(false, Ordering::Release);
        } else {
            ex.aof.fsync_target = Some(written_offset(ex));
        }
    }
    ex.aof.unsynced = false;
    ex.aof.last_fsync_ms = now;
}

/// Writes and syncs everything pending (shutdown, turning the AOF off).
pub fn flush_and_sync(ex: &mut Executor) {
    flush(ex);
    if let Some(f) = &ex.aof.file {
        if f.sync_data().is_ok() {
            ex.aof.fsynced = written_offset(ex);
        }
    }
    ex.aof.unsynced = false;
}

// ---- rewriting ----

/// The dataset as an AOF base: an RDB (aof-use-rdb-preamble) or commands.
fn write_base(ex: &Executor, path: &Path, rdb: bool) -> std::io::Result<()> {
    let file = File::create(path)?;
    let file = super::SyncEvery::new(file, ex.cfg.get_bool("aof-rewrite-incremental-fsync"));
    let w = std::io::BufWriter::with_capacity(1 << 16, file);
    let w = if rdb {
        super::write_rdb_with(ex, w, true)?
    } else {
        let mut w = w;
        // A base of commands starts with its moment (Redis writes the annotation before an
        // RDB preamble too, where its own loader then misses the preamble: not there).
        if ex.settings.aof_timestamp_enabled {
            use std::io::Write as _;
            write!(w, "#TS:{}\r\n", ex.clock.now_ms() / 1000)?;
        }
        super::rewrite::write_commands(ex, &mut w)?;
        w
    };
    let mut file = w.into_inner().map_err(|e| e.into_error())?.file;
    super::sync_file(&mut file)
}

/// BGREWRITEAOF (Redis's rewriteAppendOnlyFileBackground): new writes go to a new incr file
/// from now on, and a child writes the dataset as the new base; when it is done the manifest
/// drops the older files.
pub fn rewrite_start(ex: &mut Executor) -> Result<(), String> {
    if ex.aof.child.is_some() || ex.persist.child.is_some() {
        return Err("child process active".into());
    }
    let dir = dir(ex);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        ex.aof.last_rewrite_failed = true;
        return Err(format!(
            "Can't open or create append-only dir {}: {}",
            dir.display(),
            crate::util::strerror(&e)
        ));
    }
    flush(ex);
    if let Err(e) = open_new_incr(ex, &dir) {
        ex.aof.last_rewrite_failed = true;
        return Err(e);
    }
    let rdb = ex.settings.aof_use_rdb_preamble;
    if super::live::enabled(ex) {
        use super::live::{LiveSnapshot, Plan, Target};
        let plan = if rdb {
            let repl = super::sync::save_info(ex);
            Plan::rdb(ex, true, repl.as_ref())
        } else {
            Plan::commands(ex)
        };
        let target = Target::File {
            tmp: dir.join(format!("temp-rewriteaof-bg-{}.aof", super::live::own_pid())),
            rename_to: None,
            incremental_fsync: ex.cfg.get_bool("aof-rewrite-incremental-fsync"),
        };
        let snapshot = LiveSnapshot::start(ex, plan, target)
            .map_err(|e| format!("Can't rewrite append only file in background: {e}"))?;
        tracing::info!("Background append only file rewriting started (live, without fork)");
        ex.aof.child = Some(super::RdbChild::live(ex, super::ChildKind::Save, snapshot));
        ex.aof.rewrite_scheduled = false;
        return Ok(());
    }
    let tmp = dir.clone();
    let child = super::fork_child(ex, "AOF rewrite", move |ex| {
        let path = tmp.join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
        match write_base(ex, &path, rdb) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("Error rewriting the append only file: {e}");
                false
            }
        }
    })
    .map_err(|e| format!("Can't rewrite append only file in background: {e}"))?;
    tracing::info!(
        "Background append only file rewriting started by pid {}",
        child.pid
    );
    ex.aof.child = Some(child);
    ex.aof.rewrite_scheduled = false;
    Ok(())
}

/// The file writes go to from the rewrite's start on (Redis's openNewIncrAofForAppend): with
/// the AOF on, the next incr file, in the manifest at once; while the AOF waits for its first
/// rewrite, a temp incr file the rewrite renames into the manifest when it succeeds; with
/// the AOF off, none.
fn open_new_incr(ex: &mut Executor, dir: &Path) -> Result<(), String> {
    let (name, manifest) = match ex.aof.state {
        State::Off => return Ok(()),
        State::WaitRewrite => (temp_incr_name(ex), None),
        State::On => {
            let mut m = ex.aof.manifest.clone();
            m.incr_seq += 1;
            let name = incr_name(ex, m.incr_seq);
            m.incrs.push(Part {
                name: name.clone(),
                seq: m.incr_seq,
            });
            (name, Some(m))
        }
    };
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join(&name))
        .map_err(|e| {
            format!(
                "Can't open the append-only file {name}: {}",
                crate::util::strerror(&e)
            )
        })?;
    if let Some(m) = &manifest {
        persist_manifest(ex, m).map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    }
    tracing::info!("Creating AOF incr file {name} on background rewrite");
    if let Some(old) = ex.aof.file.take() {
        let _ = old.sync_data();
    }
    if let Some(m) = manifest {
        ex.aof.manifest = m;
    }
    ex.aof.file = Some(file);
    ex.aof.unsynced = false;
    ex.prop.aof.on = true;
    ex.prop.aof.restart_stream();
    Ok(())
}

/// The temp incr file of a first rewrite (Redis's getTempIncrAofName).
fn temp_incr_name(ex: &Executor) -> String {
    format!("temp-{}.incr", file_name(ex))
}

/// Deletes the history files unless aof-disable-auto-gc (Redis's aofDelHistoryFiles).
fn delete_history(ex: &mut Executor) {
    if ex.cfg.get_bool("aof-disable-auto-gc") || ex.aof.manifest.history.is_empty() {
        return;
    }
    let dir = dir(ex);
    for h in std::mem::take(&mut ex.aof.manifest.history) {
        tracing::info!("Removing the history file {} in the background", h.name);
        let _ = std::fs::remove_file(dir.join(&h.name));
    }
    if let Err(e) = persist_manifest(ex, &ex.aof.manifest) {
        tracing::warn!("Can't persist the AOF manifest: {e}");
    }
}

/// After repeated failures automatic rewrites wait 1, 2, 4 ... up to 60 minutes (Redis's
/// aofRewriteLimited); true while they must wait.
fn rewrite_limited(ex: &mut Executor) -> bool {
    const THRESHOLD: u64 = 3;
    const MAX_MINUTES: i64 = 60;
    let now = ex.clock.now_ms() / 1000;
    let aof = &mut ex.aof;
    if aof.consecutive_failures < THRESHOLD {
        aof.limit_delay_minutes = 0;
        aof.limit_until = 0;
        return false;
    }
    if aof.limit_until != 0 {
        if now < aof.limit_until {
            return true;
        }
        aof.limit_until = 0;
        return false;
    }
    aof.limit_delay_minutes = if aof.limit_delay_minutes == 0 {
        1
    } else {
        (aof.limit_delay_minutes * 2).min(MAX_MINUTES)
    };
    aof.limit_until = now + aof.limit_delay_minutes * 60;
    tracing::warn!(
        "Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {} minutes",
        aof.limit_delay_minutes
    );
    true
}

/// Reaps a finished rewrite child and installs its base (Redis's backgroundRewriteDoneHandler);
/// starts scheduled and automatic rewrites.
pub fn cron(ex: &mut Executor) {
    if let Some(child) = &mut ex.aof.child {
        let Some((ok, cow)) = child.try_reap() else {
            return;
        };
        let child = ex.aof.child.take().expect("child");
        if let Some(cow) = cow {
            ex.aof.last_cow_bytes = cow;
        }
        ex.aof.last_rewrite_secs = Some(child.started.elapsed().as_secs() as i64);
        let tmp_name = format!("temp-rewriteaof-bg-{}.aof", child.pid);
        let tmp = dir(ex).join(&tmp_name);
        let done = if ok {
            tracing::info!("Background AOF rewrite terminated with success");
            install_rewrite(ex, &tmp, &tmp_name)
        } else {
            Err("Background AOF rewrite terminated with error".into())
        };
        match done {
            Ok(()) => {
                ex.aof.rewrites += 1;
                ex.aof.consecutive_failures = 0;
                ex.aof.last_rewrite_failed = false;
                tracing::info!("Background AOF rewrite finished successfully");
                if ex.aof.state == State::WaitRewrite {
                    ex.aof.state = State::On;
                }
            }
            Err(e) => {
                ex.aof.consecutive_failures += 1;
                ex.aof.last_rewrite_failed = true;
                tracing::warn!("{e}");
            }
        }
        let _ = std::fs::remove_file(&tmp);
        // A first rewrite that failed starts over, with a new temp incr file.
        if ex.aof.state == State::WaitRewrite {
            ex.prop.aof.buf.clear();
            let name = temp_incr_name(ex);
            tracing::info!("Removing the temp incr aof file {name} in the background");
            let _ = std::fs::remove_file(dir(ex).join(&name));
            ex.aof.rewrite_scheduled = true;
        }
        return;
    }
    if ex.persist.child.is_some() {
        return;
    }
    if ex.aof.rewrite_scheduled {
        if let Err(e) = rewrite_start(ex) {
            tracing::warn!("{e}");
        }
        return;
    }
    let pct = ex.settings.auto_aof_rewrite_percentage;
    if ex.aof.state == State::On
        && pct > 0
        && ex.aof.current_size > ex.settings.auto_aof_rewrite_min_size
    {
        let base = ex.aof.base_size.max(1);
        let growth = (ex.aof.current_size.saturating_sub(base) * 100 / base) as i64;
        if growth >= pct && !rewrite_limited(ex) {
            tracing::info!("Starting automatic rewriting of AOF on {growth}% growth");
            if let Err(e) = rewrite_start(ex) {
                tracing::warn!("{e}");
            }
        }
    }
}

/// Makes the rewrite's output the new base (Redis's backgroundRewriteDoneHandler): the old
/// base and the incr files written before the rewrite began become history, and a first
/// rewrite's temp incr file becomes the next incr file.
fn install_rewrite(ex: &mut Executor, tmp: &Path, tmp_name: &str) -> Result<(), String> {
    let dir = dir(ex);
    let rdb = ex.settings.aof_use_rdb_preamble;
    let mut m = ex.aof.manifest.clone();
    let old_base = m.base.take().map(|(b, _)| b);
    m.base_seq += 1;
    let name = base_name(ex, m.base_seq, rdb);
    std::fs::rename(tmp, dir.join(&name)).map_err(|e| {
        format!(
            "Error trying to rename the temporary AOF base file {tmp_name} into {name}: {}",
            crate::util::strerror(&e)
        )
    })?;
    tracing::info!("Successfully renamed the temporary AOF base file {tmp_name} into {name}");
    m.base = Some((
        Part {
            name: name.clone(),
            seq: m.base_seq,
        },
        rdb,
    ));
    let mut new_incr = None;
    if ex.aof.state == State::WaitRewrite {
        let temp = temp_incr_name(ex);
        m.incr_seq += 1;
        let incr = incr_name(ex, m.incr_seq);
        if let Err(e) = std::fs::rename(dir.join(&temp), dir.join(&incr)) {
            let _ = std::fs::remove_file(dir.join(&name));
            return Err(format!(
                "Error trying to rename the temporary AOF incr file {temp} into {incr}: {}",
                crate::util::strerror(&e)
            ));
        }
        tracing::info!("Successfully renamed the temporary AOF incr file {temp} into {incr}");
        m.incrs.push(Part {
            name: incr.clone(),
            seq: m.incr_seq,
        });
        new_incr = Some(incr);
    }
    // Every incr file but the one being written (none while the AOF is off) is history now,
    // listed newest base first as Redis lists it.
    let keep = usize::from(ex.aof.file.is_some()).min(m.incrs.len());
    let rewritten: Vec<Part> = m.incrs.drain(..m.incrs.len() - keep).collect();
    let mut history = rewritten;
    history.extend(old_base);
    history.append(&mut m.history);
    m.history = history;
    if let Err(e) = persist_manifest(ex, &m) {
        let _ = std::fs::remove_file(dir.join(&name));
        if let Some(incr) = new_incr {
            let _ = std::fs::remove_file(dir.join(incr));
        }
        return Err(format!("Can't persist the AOF manifest: {e}"));
    }
    sync_dir(&dir);
    if ex.aof.file.is_some() {
        measure(ex, &dir, &m);
    }
    ex.aof.manifest = m;
    delete_history(ex);
    Ok(())
}

/// Stops a running rewrite (turning the AOF off, shutdown).
pub fn kill_child(ex: &mut Executor) {
    if let Some(mut child) = ex.aof.child.take() {
        child.kill(&mut ex.dbs);
        let _ = std::fs::remove_file(dir(ex).join(format!("temp-rewriteaof-bg-{}.aof", child.pid)));
        tracing::info!("Killing running AOF rewrite child: {}", child.pid);
    }
}

/// CONFIG SET appendonly: turns the AOF on (through a first rewrite) or off.
pub fn apply_config(ex: &mut Executor) -> Result<(), String> {
    if !ex.aof.started {
        return Ok(());
    }
    // aof-disable-auto-gc turned off: the history kept meanwhile goes now.
    delete_history(ex);
    match (ex.settings.appendonly, ex.aof.state) {
        (true, State::Off) => {
            ex.aof.state = State::WaitRewrite;
            if ex.persist.child.is_some() {
                ex.aof.rewrite_scheduled = true;
                tracing::warn!("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
                return Ok(());
            }
            if ex.in_exec {
                ex.aof.rewrite_scheduled = true;
                tracing::warn!("AOF was enabled during a transaction. An AOF background was scheduled to start when possible.");
                return Ok(());
            }
            // A rewrite already running writes no base for the new AOF: it starts over.
            if ex.aof.child.is_some() {
                tracing::warn!("AOF was enabled but there is already an AOF rewriting in background. Stopping background AOF and starting a rewrite now.");
                kill_child(ex);
            }
            if let Err(e) = rewrite_start(ex) {
                ex.aof.state = State::Off;
                tracing::warn!("Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. ({e})");
                return Err("Unable to turn on AOF. Check server logs.".into());
            }
            Ok(())
        }
        (false, State::On | State::WaitRewrite) => {
            flush_and_sync(ex);
            kill_child(ex);
            ex.aof.file = None;
            ex.aof.state = State::Off;
            ex.aof.rewrite_scheduled = false;
            ex.prop.aof.on = false;
            ex.prop.aof.buf.clear();
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A replica's full sync replaces the dataset: the AOF stops before the load (true if it was
/// on) and `restart_after_sync` starts it again with a rewrite of the new dataset (Redis's
/// stopAppendOnly / restartAOFAfterSYNC).
pub fn stop_for_sync(ex: &mut Executor) -> bool {
    if ex.aof.state == State::Off {
        return false;
    }
    let configured = std::mem::replace(&mut ex.settings.appendonly, false);
    let _ = apply_config(ex);
    ex.settings.appendonly = configured;
    true
}

pub fn restart_after_sync(ex: &mut Executor) {
    if let Err(e) = apply_config(ex) {
        tracing::warn!("Failed enabling the AOF after successful master synchronization! ({e})");
    }
}

/// The manifest of a directory, for tests: (base name, incr names).
pub fn describe_manifest(text: &[u8]) -> Result<(Option<String>, Vec<String>), String> {
    let m = Manifest::parse(text)?;
    Ok((
        m.base.map(|(b, _)| b.name),
        m.incrs.into_iter().map(|p| p.name).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip_and_errors() {
        let text = b"file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.1.incr.aof seq 1 type h\nfile appendonly.aof.3.incr.aof seq 3 type i\nfile appendonly.aof.4.incr.aof seq 4 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.render(), text.to_vec());
        assert_eq!((m.base_seq, m.incr_seq), (2, 4));
        assert!(Manifest::parse(b"").is_err());
        assert!(Manifest::parse(b"file a seq 1 type x\n").is_err());
        assert!(Manifest::parse(b"file a/b seq 1 type b\n").is_err());
        assert!(Manifest::parse(b"file a seq 2 type i\nfile b seq 1 type i\n").is_err());
    }

    #[test]
    fn command_parsing_tells_torn_from_bad() {
        let b = b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n";
        let (argv, end) = parse_command(b, 0).ok().flatten().unwrap();
        assert_eq!(argv, vec![b"GET".as_slice(), b"a"]);
        assert_eq!(end, b.len());
        for cut in 1..b.len() {
            assert!(
                matches!(parse_command(&b[..cut], 0), Err(Torn::Short)),
                "cut {cut}"
            );
        }
        assert!(matches!(parse_command(b"GET a\r\n", 0), Err(Torn::Bad)));
        assert!(matches!(parse_command(b"*1\r\n+OK\r\n", 0), Err(Torn::Bad)));
    }
}
