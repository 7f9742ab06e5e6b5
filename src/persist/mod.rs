//! Persistence: RDB snapshots. The only module besides `net` that does file I/O.

pub mod aof;
pub mod compact;
pub mod live;
pub mod loading;
pub mod nodes_conf;
pub mod rdb;
pub mod rewrite;
pub mod sync;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use crate::config::REDIS_VERSION;
use crate::exec::{idle_secs, lfu_decayed, Executor};
use crate::keyspace::value::Value;

fn rdb_path(ex: &Executor) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(ex.cfg.get_str("dbfilename")).to_string())
}

/// SAVE: writes the dataset to a temp file, fsyncs, renames over dbfilename (in `dir`, the
/// working directory).
pub fn save(ex: &mut Executor) -> Result<(), String> {
    if ex.persist.child.is_some() {
        return Err(crate::resp::errors::BGSAVE_IN_PROGRESS.into());
    }
    let now = ex.clock.now_ms();
    write_snapshot(ex)?;
    ex.dirty = 0;
    ex.lastsave_unix = now / 1000;
    ex.persist.last_bgsave_ok = true;
    ex.persist.saves += 1;
    Ok(())
}

/// Writes the dataset to temp-<pid>.rdb, fsyncs it and renames it over dbfilename (the
/// body of SAVE, and of the BGSAVE child).
fn write_snapshot(ex: &Executor) -> Result<(), String> {
    let repl = sync::save_info(ex);
    write_snapshot_with(ex, repl.as_ref())
}

/// `write_snapshot` with the given replication aux fields.
fn write_snapshot_with(ex: &Executor, repl: Option<&sync::SyncInfo>) -> Result<(), String> {
    let path = rdb_path(ex);
    let tmp = PathBuf::from(format!("temp-{}.rdb", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let file = File::create(&tmp)?;
        let file = SyncEvery::new(file, ex.cfg.get_bool("rdb-save-incremental-fsync"));
        let w = write_rdb_full(ex, BufWriter::with_capacity(1 << 16, file), false, repl)?;
        let file = w.into_inner().map_err(|e| e.into_error())?.file;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        if let Ok(d) = File::open(".") {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    match result {
        Ok(()) => {
            tracing::info!("DB saved on disk");
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(format!("Failed saving the DB: {e}"))
        }
    }
}

/// The whole dataset (aux fields, function libraries, every db) as an RDB file into `out`.
pub fn write_rdb<W: Write>(ex: &Executor, out: W) -> std::io::Result<W> {
    write_rdb_with(ex, out, false)
}

/// `write_rdb`, marked as an AOF base (the `aof-base` aux field) when `aof_base`.
pub fn write_rdb_with<W: Write>(ex: &Executor, out: W, aof_base: bool) -> std::io::Result<W> {
    let repl = sync::save_info(ex);
    write_rdb_full(ex, out, aof_base, repl.as_ref())
}

/// The RDB with its replication aux fields (`repl-stream-db`, `repl-id`, `repl-offset`) when
/// given: a replica that loads it (or this server, restarted) can continue that history.
pub fn write_rdb_full<W: Write>(
    ex: &Executor,
    out: W,
    aof_base: bool,
    repl: Option<&sync::SyncInfo>,
) -> std::io::Result<W> {
    let p = SaveParams::new(ex, aof_base, repl);
    let key_delay = ex.cfg.get_int("rdb-key-save-delay");
    // A filtered snapshot (REPLCONF rdb-filter-only) holds no keys.
    let dbs: &[crate::keyspace::db::Db] = if p.keyless { &[] } else { &ex.dbs };
    let meta = p.meta;
    let saved = std::cell::Cell::new(0u64);
    rdb::write_dataset(
        out,
        dbs,
        &p.aux,
        &p.functions,
        p.compress,
        p.checksum,
        |e| {
            if key_delay != 0 {
                loading::debug_delay(key_delay);
            }
            saved.set(saved.get() + 1);
            report_progress(saved.get());
            meta.of(e)
        },
    )
}

/// What an RDB written now holds besides its keys, and how it writes them.
pub struct SaveParams<'a> {
    pub aux: Vec<(&'static str, Vec<u8>)>,
    /// The function libraries' code.
    pub functions: Vec<&'a [u8]>,
    pub compress: bool,
    pub checksum: bool,
    /// No keys at all (REPLCONF rdb-filter-only).
    pub keyless: bool,
    pub meta: SaveMeta,
}

impl<'a> SaveParams<'a> {
    pub fn new(ex: &'a Executor, aof_base: bool, repl: Option<&sync::SyncInfo>) -> Self {
        let now = ex.clock.now_ms();
        let mut aux: Vec<(&str, Vec<u8>)> = vec![
            ("redis-ver", REDIS_VERSION.as_bytes().to_vec()),
            ("redis-bits", b"64".to_vec()),
            ("ctime", (now / 1000).to_string().into_bytes()),
            (
                "used-mem",
                crate::alloc::used_memory().to_string().into_bytes(),
            ),
        ];
        if let Some(r) = repl {
            aux.push(("repl-stream-db", r.stream_db.to_string().into_bytes()));
            aux.push(("repl-id", r.replid.as_bytes().to_vec()));
            aux.push(("repl-offset", r.offset.to_string().into_bytes()));
        }
        aux.push(("aof-base", if aof_base { b"1" } else { b"0" }.to_vec()));
        let filter = repl.and_then(|r| r.filter);
        let functions: Vec<&[u8]> = ex
            .functions
            .as_deref()
            .filter(|_| filter.is_none_or(|f| f.functions))
            .map(|f| f.libraries.values().map(|l| l.code.as_slice()).collect())
            .unwrap_or_default();
        SaveParams {
            aux,
            functions,
            compress: ex.cfg.get_bool("rdbcompression"),
            checksum: ex.cfg.get_bool("rdbchecksum"),
            keyless: filter.is_some(),
            meta: SaveMeta::new(ex),
        }
    }
}

/// How a key's access time is saved: the LRU idle seconds or the LFU counter, as of the
/// moment the snapshot began.
#[derive(Clone, Copy)]
pub struct SaveMeta {
    now_ms: i64,
    lfu: bool,
    lru: bool,
    decay: i64,
}

impl SaveMeta {
    pub fn new(ex: &Executor) -> SaveMeta {
        SaveMeta {
            now_ms: ex.clock.now_ms(),
            lfu: ex.lfu_mode(),
            lru: ex.settings.maxmemory_policy.ends_with("lru"),
            decay: ex.settings.lfu_decay_time,
        }
    }

    /// (idle seconds, LFU counter) to store for `e`.
    pub fn of(&self, e: &crate::keyspace::db::Entry) -> (Option<u64>, Option<u8>) {
        if self.lfu {
            (
                None,
                Some(lfu_decayed(e.lru(), self.now_ms, self.decay) as u8),
            )
        } else if self.lru {
            (Some(idle_secs(e.lru(), self.now_ms)), None)
        } else {
            (None, None)
        }
    }
}

/// Loads dbfilename at startup if it exists. Refuses (Err) a corrupt or unsupported file:
/// the server must not start with part of a dataset. A master remembers the keys it found
/// expired, whose deletions start its replication stream (`repl::start`), so replicas that
/// continue from the file's history drop them too (Redis's RDBFLAGS_FEED_REPL).
pub fn load(ex: &mut Executor) -> Result<Option<usize>, String> {
    if ex.settings.appendonly {
        return aof::load_at_start(ex).map(|()| Some(ex.persist.loaded_keys));
    }
    let master = matches!(
        ex.cfg.get("replicaof"),
        crate::config::Setting::ReplicaOf(None)
    );
    if master {
        ex.persist.expired_at_start = Some(Vec::new());
    }
    let loaded = load_rdb_file(ex);
    if loaded.is_err() {
        ex.persist.expired_at_start = None;
    }
    loaded
}

/// Loads dbfilename if it exists (startup without AOF, DEBUG RELOAD).
pub fn load_rdb_file(ex: &mut Executor) -> Result<Option<usize>, String> {
    load_rdb_file_into(ex, LoadMode::Replace)
}

/// How a load treats the dataset already in memory.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    /// The file's content replaces it (startup, AOF base).
    Replace,
    /// Added to it (DEBUG RELOAD NOFLUSH): a key or library present in both fails the load,
    /// unless `merge`, where the file's wins (Redis's RDBFLAGS_ALLOW_DUP).
    Into { merge: bool },
}

/// `load_rdb_file` with a choice of what happens to the current dataset.
pub fn load_rdb_file_into(ex: &mut Executor, mode: LoadMode) -> Result<Option<usize>, String> {
    let path = rdb_path(ex);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("Fatal error loading the DB: {e}. Exiting.")),
    };
    load_rdb_bytes_into(ex, &bytes, &path.display().to_string(), mode)?;
    let (loaded, expired) = (ex.persist.loaded_keys, ex.persist.loaded_expired);
    match ex.persist.loaded_empty_skipped {
        0 => tracing::info!("Done loading RDB, keys loaded: {loaded}, keys expired: {expired}."),
        empty => tracing::info!(
            "Done loading RDB, keys loaded: {loaded}, keys expired: {expired}, empty keys skipped: {empty}."
        ),
    }
    Ok(Some(loaded))
}

/// Replaces the dataset with the RDB in `bytes` (a dump file, or an AOF base); returns how
/// many bytes the RDB took (an old AOF may go on with commands after it).
pub fn load_rdb_bytes(ex: &mut Executor, bytes: &[u8], name: &str) -> Result<usize, String> {
    load_rdb_bytes_into(ex, bytes, name, LoadMode::Replace)
}

fn load_rdb_bytes_into(
    ex: &mut Executor,
    bytes: &[u8],
    name: &str,
    mode: LoadMode,
) -> Result<usize, String> {
    let mut dec = decoder(bytes, &ex.settings);
    dec.verify_checksum = !ex.skip_checksum_validation;
    load_decoded(ex, &mut dec, bytes.len() as u64, name, mode, None)?;
    Ok(dec.pos)
}

/// What must follow a streamed RDB for its load to count (checked before the dataset is
/// replaced).
#[derive(Clone, Copy)]
pub enum StreamEnd {
    /// A diskless transfer's EOF mark.
    Mark([u8; 40]),
    /// Nothing: a sized transfer, read up to its announced size, ends with the RDB.
    Exhausted,
}

/// Replaces the dataset with an RDB read from `source` as it arrives (a replica's diskless
/// load: Redis parses the master's snapshot from the socket). `total`: its size when
/// known, for INFO's progress. The dataset in place is in use until the load succeeds (an
/// async load serves it meanwhile). Returns the bytes read past `end`, and the replaced dbs.
pub fn load_rdb_stream(
    ex: &mut Executor,
    source: rdb::Source<'_>,
    total: u64,
    end: StreamEnd,
    name: &str,
) -> Result<(Vec<u8>, Vec<crate::keyspace::db::Db>), String> {
    let mut dec = rdb::Decoder::streaming(source);
    configure(&mut dec, &ex.settings);
    let dbs = load_decoded(ex, &mut dec, total, name, LoadMode::Replace, Some(end))?;
    Ok((dec.into_rest(), dbs))
}

/// Loads what `dec` reads, then checks that `trailer` follows; returns the dbs the load
/// replaced (none when it added to them).
fn load_decoded(
    ex: &mut Executor,
    dec: &mut rdb::Decoder<'_>,
    total: u64,
    name: &str,
    mode: LoadMode,
    trailer: Option<StreamEnd>,
) -> Result<Vec<crate::keyspace::db::Db>, String> {
    let now = ex.clock.now_ms();
    let lfu = ex.lfu_mode();
    let ndbs = ex.dbs.len();
    let mut loaded = 0usize;
    let mut expired = 0usize;
    let mut dbs: Vec<crate::keyspace::db::Db> = match mode {
        LoadMode::Replace => (0..ndbs).map(|_| crate::keyspace::db::Db::new()).collect(),
        LoadMode::Into { .. } => std::mem::take(&mut ex.dbs),
    };
    dec.now_ms = now;
    let mut repl_id: Option<String> = None;
    let mut repl_offset: Option<u64> = None;
    let mut repl_stream_db: Option<usize> = None;
    let used_mem = std::cell::Cell::new(0u64);
    let started = loading::start(ex, total);
    let result = dec.load(
        |name, value| match name {
            b"repl-id" if value.len() == 40 => {
                repl_id = Some(String::from_utf8_lossy(value).into_owned())
            }
            b"repl-offset" => {
                repl_offset = crate::util::num::parse_i64(value).map(|v| v.max(0) as u64)
            }
            b"repl-stream-db" => {
                repl_stream_db = crate::util::num::parse_i64(value)
                    .and_then(|v| usize::try_from(v).ok())
                    .filter(|&db| db < ndbs)
            }
            b"used-mem" => {
                used_mem.set(crate::util::num::parse_i64(value).unwrap_or(0).max(0) as u64)
            }
            _ => {}
        },
        |k| {
            loading::key_delay(ex);
            if let Some(l) = ex.persist.loading.as_mut() {
                l.rdb_used_mem = used_mem.get();
            }
            ex.persist.loaded_keys = loaded;
            loading::progress(ex, k.at as u64);
            if k.db >= ndbs {
                return Err(format!("FATAL: Data file was created with a Redis server configured to handle more than {ndbs} databases."));
            }
            if k.expire_at_ms != crate::keyspace::db::NO_EXPIRE && k.expire_at_ms < now {
                expired += 1;
                if let Some(list) = ex.persist.expired_at_start.as_mut() {
                    list.push((k.db, k.key));
                }
                return Ok(());
            }
            let lru = if lfu {
                (crate::exec::lfu_minutes(now) << 8) | u32::from(k.freq.unwrap_or(crate::exec::LFU_INIT_VAL as u8))
            } else {
                let idle = k.idle_secs.unwrap_or(0) as u32;
                crate::exec::lru_clock(now).wrapping_sub(idle) & crate::keyspace::db::LRU_CLOCK_MAX
            };
            if let LoadMode::Into { merge } = mode {
                if dbs[k.db].peek(&k.key).is_some() {
                    if !merge {
                        return Err(format!(
                            "RDB has duplicated key '{}' in DB {}",
                            String::from_utf8_lossy(&k.key),
                            k.db
                        ));
                    }
                    dbs[k.db].remove(&k.key);
                }
            }
            dbs[k.db].insert(&k.key, k.value, k.expire_at_ms, lru);
            loaded += 1;
            Ok(())
        },
    );
    loading::stop(ex, started);
    if let Err(e) = result {
        if let LoadMode::Into { .. } = mode {
            // What was loaded so far stays, as in Redis.
            ex.dbs = dbs;
        }
        return Err(match (&trailer, e.short_read) {
            // From the master's socket (Redis's rdbReportError for diskless loading): a cut
            // transfer is a connection error, and the replica asks again.
            (Some(_), true) => format!(
                "Internal error in RDB reading offset {}, function at rdb.c:0 -> Unexpected EOF reading RDB file. Failure loading rdb format from socket, assuming connection error, resuming operation.",
                e.offset
            ),
            (Some(_), false) => format!(
                "Internal error in RDB reading offset {}, function at rdb.c:0 -> {}. Failure loading rdb format",
                e.offset, e.msg
            ),
            // A file (Redis's rdbReportError): the reason, then the server stops.
            (None, short_read) => {
                let reason = if short_read {
                    tracing::warn!("Short read or OOM loading DB. Unrecoverable error, aborting now.");
                    "Unexpected EOF reading RDB file"
                } else {
                    e.msg.as_str()
                };
                tracing::warn!(
                    "Internal error in RDB reading offset {}, function at rdb.c:0 -> {reason} ({name})",
                    e.offset
                );
                // Redis then runs redis-check-rdb over the file, which reports it again.
                tracing::warn!("--- RDB ERROR DETECTED ---");
                tracing::warn!("[offset {}] {reason}", e.offset);
                "Terminating server after rdb file reading failure.".to_string()
            }
        });
    }
    match trailer {
        Some(StreamEnd::Mark(mark)) if !dec.next_is(&mark) => {
            return Err("Replication stream EOF marker is broken".into());
        }
        Some(StreamEnd::Exhausted) if !dec.at_end() => {
            return Err("The master's snapshot goes on past the RDB's end".into());
        }
        _ => {}
    }
    // A replacing load replaces the libraries too (none if the file has none); the ones in
    // place stay until the load has succeeded.
    if !dec.functions.is_empty() || mode == LoadMode::Replace {
        let (mut functions, replace) = match mode {
            LoadMode::Replace => (crate::script::functions::Functions::new(), false),
            LoadMode::Into { merge } => (
                ex.functions
                    .take()
                    .unwrap_or_else(crate::script::functions::Functions::new),
                merge,
            ),
        };
        for code in &dec.functions {
            if let Err(e) = functions.load(code, replace) {
                if let LoadMode::Into { .. } = mode {
                    // What was loaded so far stays, as in Redis.
                    ex.functions = Some(functions);
                    ex.dbs = dbs;
                }
                return Err(format!(
                    "Failed loading library, {}. Refusing to start.",
                    String::from_utf8_lossy(e.text())
                ));
            }
        }
        ex.functions = (!dec.functions.is_empty()).then_some(functions);
    }
    if dec.fields_expired > 0 {
        tracing::info!(
            "{name}: {} hash fields whose TTL had passed were not loaded",
            dec.fields_expired
        );
    }
    let replaced = std::mem::replace(&mut ex.dbs, dbs);
    ex.persist.loaded_keys = loaded;
    ex.persist.loaded_expired = expired;
    ex.persist.loaded_empty_skipped = dec.empty_keys_skipped;
    ex.persist.loaded_repl = repl_id
        .zip(repl_offset)
        .map(|(id, offset)| (id, offset, repl_stream_db.unwrap_or(0)));
    Ok(replaced)
}

/// A decoder over `bytes` that builds values with the configured encoding thresholds.
pub fn decoder<'a>(bytes: &'a [u8], settings: &crate::config::Settings) -> rdb::Decoder<'a> {
    let mut dec = rdb::Decoder::new(bytes);
    configure(&mut dec, settings);
    dec
}

/// Values are built with the configured encoding thresholds.
fn configure(dec: &mut rdb::Decoder<'_>, settings: &crate::config::Settings) {
    dec.set_limits = crate::cmd::sets::limits_from(settings);
    dec.list_options = (
        settings.list_max_listpack_size,
        settings.list_compress_depth,
    );
    dec.hash_limits = crate::keyspace::types::hash::Limits {
        max_entries: settings.hash_max_listpack_entries,
        max_value: settings.hash_max_listpack_value,
    };
    dec.zset_limits = crate::keyspace::types::zset::Limits {
        max_entries: settings.zset_max_listpack_entries,
        max_value: settings.zset_max_listpack_value,
    };
}

/// A value as a DUMP payload: its RDB type and body, the RDB version, a CRC-64.
pub fn dump_payload(value: &Value, compress: bool) -> Vec<u8> {
    let mut enc = rdb::Encoder::new(Vec::new(), compress);
    // Writing to a Vec cannot fail.
    let _ = enc.byte(rdb::rdb_type(value));
    let _ = enc.value(value);
    seal_payload_as(enc.into_inner(), rdb::payload_version(value))
}

/// Appends a DUMP payload's footer: the RDB version and a CRC-64 of all before it.
pub fn seal_payload(body: Vec<u8>) -> Vec<u8> {
    seal_payload_as(body, rdb::RDB_VERSION)
}

/// `seal_payload` with the version the body needs.
fn seal_payload_as(mut body: Vec<u8>, version: u16) -> Vec<u8> {
    body.extend_from_slice(&version.to_le_bytes());
    let crc = rdb::CRC64.checksum(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// The body of a DUMP payload of a version we read (Redis's up to 8.x, Valkey 9's), with a
/// matching CRC-64 (Redis's verifyDumpPayload), and who wrote it.
pub fn open_payload(payload: &[u8], verify_checksum: bool) -> Option<(&[u8], rdb::Lineage)> {
    let body_len = payload.len().checked_sub(10)?;
    let version = u16::from_le_bytes([payload[body_len], payload[body_len + 1]]);
    let crc = u64::from_le_bytes(payload[body_len + 2..].try_into().ok()?);
    let crc_ok = !verify_checksum || rdb::CRC64.checksum(&payload[..body_len + 2]) == crc;
    let lineage = rdb::Lineage::of_version(version)?;
    crc_ok.then(|| (&payload[..body_len], lineage))
}

/// A file written in one go that is synced every 4 MiB (rdb-save-incremental-fsync,
/// aof-rewrite-incremental-fsync): the kernel then never holds gigabytes of dirty pages that
/// the final fsync would flush in one long stall (Redis's REDIS_AUTOSYNC_BYTES).
pub struct SyncEvery {
    pub file: File,
    enabled: bool,
    unsynced: usize,
}

const AUTOSYNC_BYTES: usize = 4 * 1024 * 1024;

impl SyncEvery {
    pub fn new(file: File, enabled: bool) -> SyncEvery {
        SyncEvery {
            file,
            enabled,
            unsynced: 0,
        }
    }
}

impl Write for SyncEvery {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.unsynced += n;
        if self.enabled && self.unsynced >= AUTOSYNC_BYTES {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Flushes a writer and syncs the file under it.
pub fn sync_file(f: &mut File) -> std::io::Result<()> {
    f.flush()?;
    f.sync_all()
}

/// State of background saving (Redis's rdb_child_pid and the INFO persistence counters).
pub struct PersistState {
    pub child: Option<RdbChild>,
    /// What the running child last reported (INFO's current_cow_* and current_save_keys_*).
    pub progress: ChildProgress,
    /// BGSAVE SCHEDULE asked while a child ran: start one when it ends.
    pub scheduled: bool,
    pub last_bgsave_ok: bool,
    pub last_bgsave_secs: i64,
    /// When the last background save was tried (a failed one is retried after a delay).
    pub last_bgsave_try_ms: i64,
    pub saves: u64,
    pub last_cow_bytes: u64,
    pub total_forks: u64,
    pub latest_fork_usec: u64,
    pub loaded_keys: usize,
    pub loaded_expired: usize,
    /// Empty collections the last load skipped.
    pub loaded_empty_skipped: usize,
    /// The replication history (`repl-id`, `repl-offset`) of the last RDB loaded.
    pub loaded_repl: Option<(String, u64, usize)>,
    /// The read end of a diskless sync's pipe, and its transfer's EOF mark.
    pub sync_pipe: Option<sync::SyncPipe>,
    pub sync_mark: [u8; 40],
    /// A load in progress: clients are told -LOADING meanwhile.
    pub loading: Option<Box<loading::LoadProgress>>,
    /// The load in progress is a replica's async load (repl-diskless-load swapdb, same
    /// history): the old dataset stays in use and only `no-async-loading` commands wait.
    pub async_loading: bool,
    /// Keys the startup load found expired (a master's, to be deleted on its stream).
    pub expired_at_start: Option<Vec<(usize, Vec<u8>)>>,
}

impl Default for PersistState {
    fn default() -> Self {
        PersistState {
            child: None,
            progress: ChildProgress::default(),
            scheduled: false,
            last_bgsave_ok: true,
            last_bgsave_secs: -1,
            last_bgsave_try_ms: 0,
            saves: 0,
            last_cow_bytes: 0,
            total_forks: 0,
            latest_fork_usec: 0,
            loaded_keys: 0,
            loaded_expired: 0,
            loaded_empty_skipped: 0,
            loaded_repl: None,
            sync_pipe: None,
            sync_mark: [b'0'; 40],
            loading: None,
            async_loading: false,
            expired_at_start: None,
        }
    }
}

/// A running snapshot's progress, as its child reports it (Redis's stat_current_cow_* and
/// stat_current_save_keys_*); reset when a child starts and when it ends.
#[derive(Default, Clone, Copy, Debug)]
pub struct ChildProgress {
    pub cow_peak: u64,
    pub cow: u64,
    /// When the copy-on-write size was measured.
    pub cow_at: Option<std::time::Instant>,
    pub keys_processed: u64,
    pub keys_total: u64,
}

impl ChildProgress {
    /// INFO's current_fork_perc.
    pub fn percent(&self) -> f64 {
        if self.keys_total == 0 {
            0.0
        } else {
            self.keys_processed as f64 / self.keys_total as f64 * 100.0
        }
    }
}

/// One report through the child's info pipe: kind (PROGRESS or DONE), keys saved so far,
/// copy-on-write bytes.
const REPORT_BYTES: usize = 17;
const REPORT_PROGRESS: u8 = 0;
const REPORT_DONE: u8 = 1;

/// The write end of the info pipe, in a forked child (-1 elsewhere).
static CHILD_INFO_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

fn send_report(kind: u8, keys: u64, cow: u64) {
    let fd = CHILD_INFO_FD.load(std::sync::atomic::Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let mut rec = [0u8; REPORT_BYTES];
    rec[0] = kind;
    rec[1..9].copy_from_slice(&keys.to_le_bytes());
    rec[9..17].copy_from_slice(&cow.to_le_bytes());
    // SAFETY: writes our own buffer to the pipe descriptor this child owns.
    let n = unsafe { libc::write(fd, rec.as_ptr().cast(), REPORT_BYTES) };
    if n != REPORT_BYTES as isize {
        // The parent is gone (Redis's child exits when it cannot report either).
        tracing::warn!("Child failed reporting info to parent, exiting.");
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(1) }
    }
}

/// Called by a snapshot as it saves keys: in a forked child, about once a second, reports
/// the keys saved so far and the copy-on-write bytes (Redis's sendChildInfo every 1024 keys).
pub fn report_progress(keys: u64) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_MS: AtomicU64 = AtomicU64::new(0);
    if keys % 1024 != 0 || CHILD_INFO_FD.load(Ordering::Relaxed) < 0 {
        return;
    }
    let now = (crate::clock::unix_us() / 1000) as u64;
    if now.saturating_sub(LAST_MS.load(Ordering::Relaxed)) < 1000 {
        return;
    }
    LAST_MS.store(now, Ordering::Relaxed);
    send_report(REPORT_PROGRESS, keys, private_dirty_bytes());
}

/// A forked child writing a snapshot.
pub struct RdbChild {
    pub pid: libc::pid_t,
    pub started: std::time::Instant,
    pub dirty_at_start: u64,
    /// What the child makes.
    pub kind: ChildKind,
    worker: Worker,
}

/// Who makes the snapshot.
enum Worker {
    /// A forked child, which reports its progress here, and its copy-on-write bytes before
    /// exiting; `pending` holds a report read in part.
    Forked { report: File, pending: Vec<u8> },
    /// This process (`snapshot-mode live`).
    Live(Box<live::LiveSnapshot>),
}

/// What a snapshot child is for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ChildKind {
    /// BGSAVE (or an AOF rewrite): a file.
    Save,
    /// A full sync for replicas: the dump file, then sent from it.
    SyncDisk,
    /// A full sync streamed to replicas through a pipe (diskless).
    SyncSocket,
}

/// After a failed background save, automatic saves wait this long (CONFIG_BGSAVE_RETRY_DELAY).
const BGSAVE_RETRY_DELAY_MS: i64 = 5000;

/// BGSAVE: forks; the child writes the snapshot from its copy-on-write view of memory while
/// the parent goes on serving. Single-threaded process, so the child may allocate freely.
pub fn bgsave(ex: &mut Executor) -> Result<(), String> {
    if ex.persist.child.is_some() {
        return Err(crate::resp::errors::BGSAVE_IN_PROGRESS.into());
    }
    ex.persist.last_bgsave_try_ms = ex.clock.now_ms();
    if live::enabled(ex) {
        let repl = sync::save_info(ex);
        let plan = live::Plan::rdb(ex, false, repl.as_ref());
        let target = live::Target::File {
            tmp: PathBuf::from(format!("temp-{}.rdb", live::own_pid())),
            rename_to: Some(rdb_path(ex)),
            incremental_fsync: ex.cfg.get_bool("rdb-save-incremental-fsync"),
        };
        return match live::LiveSnapshot::start(ex, plan, target) {
            Ok(snapshot) => {
                tracing::info!("Background saving started (live, without fork)");
                ex.persist.child = Some(RdbChild::live(ex, ChildKind::Save, snapshot));
                Ok(())
            }
            Err(e) => {
                ex.persist.last_bgsave_ok = false;
                Err(format!("Can't save in background: {e}"))
            }
        };
    }
    match fork_child(ex, "RDB", |ex| {
        write_snapshot(ex)
            .map_err(|e| tracing::warn!("{e}"))
            .is_ok()
    }) {
        Ok(child) => {
            tracing::info!("Background saving started by pid {}", child.pid);
            ex.persist.child = Some(child);
            Ok(())
        }
        Err(e) => {
            ex.persist.last_bgsave_ok = false;
            Err(format!("Can't save in background: {e}"))
        }
    }
}

/// Forks a child that runs `body` on its copy-on-write view of the dataset and reports its
/// copy-on-write bytes through a pipe before exiting (0 when `body` succeeded).
pub fn fork_child(
    ex: &mut Executor,
    what: &str,
    body: impl FnOnce(&Executor) -> bool,
) -> Result<RdbChild, String> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: both descriptors were just created and are owned here.
    let (read_end, write_end) = unsafe {
        use std::os::fd::FromRawFd;
        (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1]))
    };
    let started = std::time::Instant::now();
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the child only uses the executor's memory and the allocator (glibc makes malloc
    // safe across fork); the AOF fsync thread, the only other one, holds no lock it needs.
    match unsafe { libc::fork() } {
        -1 => Err(format!("fork: {}", std::io::Error::last_os_error())),
        0 => {
            // A child whose parent is killed has no one to hand its work to: it ends too (a
            // Redis child finds out from a write error on its info pipe).
            // SAFETY: prctl and getppid act on this process only.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
            }
            crate::log::mark_child();
            drop(read_end);
            {
                use std::os::fd::AsRawFd;
                CHILD_INFO_FD.store(write_end.as_raw_fd(), std::sync::atomic::Ordering::Relaxed);
            }
            let _ = crate::oom::apply(&ex.cfg, crate::oom::Class::BackgroundChild);
            crate::keyspace::rehash::set_resize_policy(
                crate::keyspace::rehash::ResizePolicy::Forbid,
            );
            let ok = body(ex);
            let cow = private_dirty_bytes();
            if cow > 0 {
                tracing::info!("Fork CoW for {what}: current {} MB", cow / (1024 * 1024));
            }
            send_report(REPORT_DONE, 0, cow);
            drop(write_end);
            // SAFETY: ends the child at once, without running the parent's destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        pid => {
            drop(write_end);
            // SAFETY: sets O_NONBLOCK on our own descriptor: reports are read as they come.
            unsafe {
                use std::os::fd::AsRawFd;
                let fd = read_end.as_raw_fd();
                let flags = libc::fcntl(fd, libc::F_GETFL);
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
            ex.persist.progress = ChildProgress {
                keys_total: ex.dbs.iter().map(|d| d.len() as u64).sum(),
                ..ChildProgress::default()
            };
            ex.persist.latest_fork_usec = started.elapsed().as_micros() as u64;
            let now = ex.clock.now_ms();
            ex.latency_sample("fork", ex.persist.latest_fork_usec / 1000, now);
            ex.persist.total_forks += 1;
            Ok(RdbChild {
                pid,
                started,
                dirty_at_start: ex.dirty,
                kind: ChildKind::Save,
                worker: Worker::Forked {
                    report: read_end,
                    pending: Vec::new(),
                },
            })
        }
    }
}

impl RdbChild {
    /// A live snapshot in the place of a child (`snapshot-mode live`): the pid is ours.
    pub fn live(ex: &mut Executor, kind: ChildKind, snapshot: live::LiveSnapshot) -> RdbChild {
        ex.persist.progress = ChildProgress {
            keys_total: ex.dbs.iter().map(|d| d.len() as u64).sum(),
            ..ChildProgress::default()
        };
        RdbChild {
            pid: live::own_pid(),
            started: std::time::Instant::now(),
            dirty_at_start: ex.dirty,
            kind,
            worker: Worker::Live(Box::new(snapshot)),
        }
    }

    pub fn live_snapshot(&self) -> Option<&live::LiveSnapshot> {
        match &self.worker {
            Worker::Live(l) => Some(l),
            Worker::Forked { .. } => None,
        }
    }

    pub fn live_mut(&mut self) -> Option<&mut live::LiveSnapshot> {
        match &mut self.worker {
            Worker::Live(l) => Some(l),
            Worker::Forked { .. } => None,
        }
    }

    /// Reads the reports the child sent so far into `progress`; the copy-on-write bytes of
    /// its final report, once it came.
    pub fn read_reports(&mut self, progress: &mut ChildProgress) -> Option<u64> {
        let Worker::Forked { report, pending } = &mut self.worker else {
            return None;
        };
        let mut done = None;
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(report, &mut buf) {
            if n == 0 {
                break;
            }
            pending.extend_from_slice(&buf[..n]);
        }
        let whole = pending.len() / REPORT_BYTES * REPORT_BYTES;
        for rec in pending[..whole].chunks(REPORT_BYTES) {
            let keys = u64::from_le_bytes(rec[1..9].try_into().expect("8 bytes"));
            let cow = u64::from_le_bytes(rec[9..17].try_into().expect("8 bytes"));
            if rec[0] == REPORT_DONE {
                done = Some(cow);
                continue;
            }
            progress.keys_processed = keys;
            progress.cow = cow;
            progress.cow_peak = progress.cow_peak.max(cow);
            progress.cow_at = Some(std::time::Instant::now());
        }
        pending.drain(..whole);
        done
    }

    /// Reaps the child if it ended: Some((succeeded, copy-on-write bytes)).
    pub fn try_reap(&mut self) -> Option<(bool, Option<u64>)> {
        if let Worker::Live(l) = &mut self.worker {
            return l.try_finish().map(|ok| (ok, None));
        }
        let mut status = 0;
        // SAFETY: waits without blocking for our own child.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        if r != self.pid && r != -1 {
            return None;
        }
        let ok = r == self.pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        let cow = self.read_reports(&mut ChildProgress::default());
        Some((ok, cow))
    }

    /// Stops the child and waits for it (a live snapshot's pipe writer ends once the pipe's
    /// reader is closed).
    pub fn kill(&mut self, dbs: &mut [crate::keyspace::db::Db]) {
        if let Worker::Live(l) = &mut self.worker {
            l.abort(dbs, self.kind != ChildKind::SyncSocket);
            return;
        }
        // SAFETY: signals and reaps our own child.
        unsafe {
            libc::kill(self.pid, libc::SIGUSR1);
            let mut status = 0;
            libc::waitpid(self.pid, &mut status, 0);
        }
    }
}

/// Collects the snapshot child if it has exited (Redis's checkChildrenDone) and acts on how
/// it ended.
pub fn reap_child(ex: &mut Executor) {
    if let Some(child) = &mut ex.persist.child {
        if let Some((ok, cow)) = child.try_reap() {
            let child = ex.persist.child.take().expect("child");
            if let Some(cow) = cow {
                ex.persist.last_cow_bytes = cow;
            }
            if child.kind == ChildKind::SyncSocket {
                if ok {
                    tracing::info!("Background RDB transfer terminated with success");
                } else {
                    tracing::warn!("Background transfer error");
                }
                if ok {
                    // What the child left in the pipe still goes out, then the EOF mark.
                    crate::repl::pump_pipe(ex, true);
                }
                sync::abandon_pipe(ex);
                crate::repl::on_sync_child_done(ex, ok, true);
                return;
            }
            ex.persist.last_bgsave_secs = child.started.elapsed().as_secs() as i64;
            ex.persist.last_bgsave_ok = ok;
            if ok {
                tracing::info!("Background saving terminated with success");
                ex.dirty = ex.dirty.saturating_sub(child.dirty_at_start);
                ex.lastsave_unix = ex.clock.now_ms() / 1000;
                ex.persist.saves += 1;
            } else {
                tracing::warn!("Background saving error");
                let _ = std::fs::remove_file(format!("temp-{}.rdb", child.pid));
            }
            if child.kind == ChildKind::SyncDisk {
                crate::repl::on_sync_child_done(ex, ok, false);
            } else {
                // Replicas waiting for a disk snapshot can have this one's successor.
                crate::repl::start_pending_sync(ex);
            }
        }
    }
}

/// Reaps a finished BGSAVE child and starts due saves: a scheduled BGSAVE, or a
/// `save <seconds> <changes>` point.
pub fn cron(ex: &mut Executor) {
    for child in [ex.persist.child.as_mut(), ex.aof.child.as_mut()]
        .into_iter()
        .flatten()
    {
        child.read_reports(&mut ex.persist.progress);
    }
    aof::cron(ex);
    if ex.persist.child.is_some() {
        reap_child(ex);
    }
    if ex.persist.child.is_none() && ex.aof.child.is_none() {
        ex.persist.progress = ChildProgress::default();
    }
    if ex.persist.child.is_some() {
        return;
    }
    if ex.aof.child.is_some() {
        return;
    }
    if std::mem::take(&mut ex.persist.scheduled) {
        if let Err(e) = bgsave(ex) {
            tracing::warn!("{e}");
        }
        return;
    }
    let now_ms = ex.clock.now_ms();
    let retry_ok =
        ex.persist.last_bgsave_ok || now_ms - ex.persist.last_bgsave_try_ms > BGSAVE_RETRY_DELAY_MS;
    let elapsed = now_ms / 1000 - ex.lastsave_unix;
    let due = ex
        .settings
        .save_points
        .iter()
        .find(|(secs, changes)| ex.dirty >= *changes && elapsed >= *secs as i64);
    if let (Some(&(secs, changes)), true) = (due, retry_ok) {
        tracing::info!("{changes} changes in {secs} seconds. Saving...");
        if let Err(e) = bgsave(ex) {
            tracing::warn!("{e}");
        }
    }
}

/// Stops a running BGSAVE child (SHUTDOWN, FLUSHALL) and removes its temp file.
pub fn kill_child(ex: &mut Executor) {
    if let Some(mut child) = ex.persist.child.take() {
        child.kill(&mut ex.dbs);
        let _ = std::fs::remove_file(format!("temp-{}.rdb", child.pid));
        tracing::info!("Killing RDB child process {}", child.pid);
        // Replicas waiting for its snapshot will not get it (and never a truncated one).
        match child.kind {
            ChildKind::SyncSocket => {
                sync::close_pipe(ex);
                crate::repl::snapshot_failed(ex, true);
            }
            ChildKind::SyncDisk => crate::repl::snapshot_failed(ex, false),
            _ => {}
        }
    }
}

/// Private dirty memory of this process: in the BGSAVE child, the pages copied on write.
fn private_dirty_bytes() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/smaps_rollup") else {
        return 0;
    };
    text.lines()
        .filter(|l| l.starts_with("Private_Dirty:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}
