//! Persistence: RDB snapshots. The only module besides `net` that does file I/O.

pub mod compact;
pub mod rdb;

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
    let path = rdb_path(ex);
    let tmp = PathBuf::from(format!("temp-{}.rdb", std::process::id()));
    let now = ex.clock.now_ms();
    let lfu = ex.lfu_mode();
    let lru_policy = ex.settings.maxmemory_policy.ends_with("lru");
    let decay = ex.settings.lfu_decay_time;
    let aux: Vec<(&str, Vec<u8>)> = vec![
        ("redis-ver", REDIS_VERSION.as_bytes().to_vec()),
        ("redis-bits", b"64".to_vec()),
        ("ctime", (now / 1000).to_string().into_bytes()),
        (
            "used-mem",
            crate::alloc::used_memory().to_string().into_bytes(),
        ),
        ("aof-base", b"0".to_vec()),
    ];
    let compress = ex.cfg.get_bool("rdbcompression");
    let checksum = ex.cfg.get_bool("rdbchecksum");
    let functions: Vec<&[u8]> = ex
        .functions
        .as_deref()
        .map(|f| f.libraries.values().map(|l| l.code.as_slice()).collect())
        .unwrap_or_default();
    let result = (|| -> std::io::Result<()> {
        let file = File::create(&tmp)?;
        let w = rdb::write_dataset(
            BufWriter::with_capacity(1 << 16, file),
            &ex.dbs,
            &aux,
            &functions,
            compress,
            checksum,
            |e| {
                if lfu {
                    (None, Some(lfu_decayed(e.lru, now, decay) as u8))
                } else if lru_policy {
                    (Some(idle_secs(e.lru, now)), None)
                } else {
                    (None, None)
                }
            },
        )?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        if let Ok(d) = File::open(".") {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    match result {
        Ok(()) => {
            ex.dirty = 0;
            ex.lastsave_unix = now / 1000;
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(format!("Failed saving the DB: {e}"))
        }
    }
}

/// Loads dbfilename at startup if it exists. Refuses (Err) a corrupt or unsupported file:
/// the server must not start with part of a dataset.
pub fn load(ex: &mut Executor) -> Result<Option<usize>, String> {
    let path = rdb_path(ex);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("Fatal error loading the DB: {e}. Exiting.")),
    };
    let now = ex.clock.now_ms();
    let lfu = ex.lfu_mode();
    let ndbs = ex.dbs.len();
    let mut loaded = 0usize;
    let mut expired = 0usize;
    let mut dbs: Vec<crate::keyspace::db::Db> =
        (0..ndbs).map(|_| crate::keyspace::db::Db::new()).collect();
    let mut dec = decoder(&bytes, &ex.settings);
    dec.load(
        |_, _| {},
        |k| {
            if k.db >= ndbs {
                return Err(format!("FATAL: Data file was created with a Redis server configured to handle more than {ndbs} databases."));
            }
            if k.expire_at_ms != crate::keyspace::db::NO_EXPIRE && k.expire_at_ms < now {
                expired += 1;
                return Ok(());
            }
            let lru = if lfu {
                (crate::exec::lfu_minutes(now) << 8) | u32::from(k.freq.unwrap_or(crate::exec::LFU_INIT_VAL as u8))
            } else {
                let idle = k.idle_secs.unwrap_or(0) as u32;
                crate::exec::lru_clock(now).wrapping_sub(idle) & crate::keyspace::db::LRU_CLOCK_MAX
            };
            dbs[k.db].insert(&k.key, k.value, k.expire_at_ms, lru);
            loaded += 1;
            Ok(())
        },
    )
    .map_err(|e| format!("Short read or corrupt RDB file '{}': {e}. Refusing to start.", path.display()))?;
    if !dec.functions.is_empty() {
        let mut functions = crate::script::functions::Functions::new();
        for code in &dec.functions {
            functions.load(code, false).map_err(|e| {
                format!(
                    "Failed loading library, {}. Refusing to start.",
                    String::from_utf8_lossy(e.text())
                )
            })?;
        }
        ex.functions = Some(functions);
    }
    ex.dbs = dbs;
    tracing::info!("Done loading RDB, keys loaded: {loaded}, keys expired: {expired}.");
    Ok(Some(loaded))
}

/// A decoder that builds values with the configured encoding thresholds.
pub fn decoder<'a>(bytes: &'a [u8], settings: &crate::config::Settings) -> rdb::Decoder<'a> {
    let mut dec = rdb::Decoder::new(bytes);
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
    dec
}

/// A value as a DUMP payload: its RDB type and body, the RDB version, a CRC-64.
pub fn dump_payload(value: &Value, compress: bool) -> Vec<u8> {
    let mut enc = rdb::Encoder::new(Vec::new(), compress);
    // Writing to a Vec cannot fail.
    let _ = enc.byte(rdb::rdb_type(value));
    let _ = enc.value(value);
    seal_payload(enc.into_inner())
}

/// Appends a DUMP payload's footer: the RDB version and a CRC-64 of all before it.
pub fn seal_payload(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&rdb::RDB_VERSION.to_le_bytes());
    let crc = rdb::CRC64.checksum(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// The body of a DUMP payload of a version we read, with a matching CRC-64 (Redis's
/// verifyDumpPayload).
pub fn open_payload(payload: &[u8]) -> Option<&[u8]> {
    let body_len = payload.len().checked_sub(10)?;
    let version = u16::from_le_bytes([payload[body_len], payload[body_len + 1]]);
    let crc = u64::from_le_bytes(payload[body_len + 2..].try_into().ok()?);
    (version <= rdb::RDB_VERSION_MAX && rdb::CRC64.checksum(&payload[..body_len + 2]) == crc)
        .then(|| &payload[..body_len])
}

/// Flushes a writer and syncs the file under it.
pub fn sync_file(f: &mut File) -> std::io::Result<()> {
    f.flush()?;
    f.sync_all()
}
