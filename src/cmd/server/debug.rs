//! DEBUG: the subcommands cinnabar supports; every other one is an explicit error.

use crate::cmd::args::{eq, int};
use crate::exec::Ctx;
use crate::resp::errors::{self as err, CmdResult};

pub fn debug(ctx: &mut Ctx) -> CmdResult {
    let mut args = ctx.args();
    let sub = args.bytes()?;
    if eq(sub, "HELP") {
        super::introspect::help(
            ctx.out(),
            "DEBUG",
            &[
                "OBJECT <key>",
                "    Show low level info about the `key` and associated value.",
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named key:<num>. If <prefix> is specified then",
                "    it is used instead of the 'key' prefix. These are not propagated to",
                "    replicas. Cluster slots are not respected so keys not belonging to the",
                "    current node can be created in cluster mode.",
                "LOADAOF",
                "    Flush the AOF buffers on disk and reload the AOF in memory.",
                "RELOAD [option ...]",
                "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
                "    * MERGE: Merge the content of the RDB with the current dataset.",
                "    * NOFLUSH: Don't flush the dataset before loading the RDB.",
                "    * NOSAVE: Don't save the RDB to disk before reloading.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not",
                "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
                "    default.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        );
        return Ok(());
    }
    if eq(sub, "SLEEP") && args.remaining() == 1 {
        // Redis reads the delay with strtod and no validation: junk means 0.
        let secs = crate::util::num::strtod_prefix(args.bytes()?);
        // The whole server stops, as in Redis: this is what DEBUG SLEEP is for.
        if secs > 0.0 && secs.is_finite() {
            std::thread::sleep(std::time::Duration::from_secs_f64(secs));
        }
        ctx.out().ok();
        return Ok(());
    }
    if eq(sub, "POPULATE") && (1..=3).contains(&args.remaining()) {
        return populate(ctx);
    }
    if eq(sub, "RELOAD") {
        return reload(ctx);
    }
    if eq(sub, "LOADAOF") {
        // Replayed commands are not propagated again.
        ctx.prevent_propagation();
        if let Err(e) = crate::persist::aof::reload(ctx.ex) {
            // Redis exits here too: the dataset is gone and the files cannot rebuild it.
            tracing::warn!("{e}");
            std::process::exit(1);
        }
        ctx.ex.dirty = 0;
        tracing::warn!("Append Only File loaded by DEBUG LOADAOF");
        ctx.out().ok();
        return Ok(());
    }
    if eq(sub, "SET-ACTIVE-EXPIRE") && args.remaining() == 1 {
        ctx.ex.active_expire_enabled = int(args.bytes()?)? != 0;
        ctx.out().ok();
        return Ok(());
    }
    if eq(sub, "OBJECT") && args.remaining() == 1 {
        let key = args.bytes()?;
        let now = ctx.now_ms;
        let Some(e) = ctx.ex.lookup_write(ctx.client.db, key, now) else {
            return Err(err::NO_SUCH_KEY.into());
        };
        let idle = crate::exec::idle_secs(e.lru, now);
        let line = format!(
            "Value at:0x0 refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{idle}",
            e.value.encoding_name(),
            e.value.str_len().unwrap_or(0),
            e.lru
        );
        ctx.out().simple(line.as_bytes());
        return Ok(());
    }
    Err(err::subcommand_syntax(ctx.argv[0], sub))
}

/// DEBUG POPULATE count [prefix] [size]: string keys prefix:N holding "value:N" (cut or
/// zero-padded to `size`); existing keys are left alone.
fn populate(ctx: &mut Ctx) -> CmdResult {
    let count = int(ctx.argv[2])
        .ok()
        .filter(|c| *c >= 0)
        .ok_or(err::POSITIVE)?;
    let prefix: &[u8] = ctx.argv.get(3).copied().unwrap_or(b"key");
    let size = match ctx.argv.get(4) {
        Some(s) => Some(usize::try_from(int(s)?).map_err(|_| err::NOT_INTEGER)?),
        None => None,
    };
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let lru = ctx.new_lru();
    let mut key = Vec::with_capacity(prefix.len() + 21);
    let mut value = Vec::new();
    for i in 0..count {
        key.clear();
        key.extend_from_slice(prefix);
        key.push(b':');
        crate::util::num::push_i64(&mut key, i);
        if ctx.ex.lookup_write(db, &key, now).is_some() {
            continue;
        }
        value.clear();
        value.extend_from_slice(b"value:");
        crate::util::num::push_i64(&mut value, i);
        if let Some(size) = size {
            value.resize(size, 0);
        }
        ctx.ex.dbs[db].insert(
            &key,
            crate::keyspace::value::Value::string(&value),
            crate::keyspace::db::NO_EXPIRE,
            lru,
        );
    }
    ctx.out().ok();
    Ok(())
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: saves, empties the dataset and loads the file
/// back (a check that what we write we read).
fn reload(ctx: &mut Ctx) -> CmdResult {
    let (mut save, mut flush, mut merge) = (true, true, false);
    for opt in &ctx.argv[2..] {
        if eq(opt, "MERGE") {
            merge = true;
        } else if eq(opt, "NOFLUSH") {
            flush = false;
        } else if eq(opt, "NOSAVE") {
            save = false;
        } else {
            return Err(err::DEBUG_RELOAD_OPTION.into());
        }
    }
    if save {
        crate::persist::save(ctx.ex).map_err(|e| {
            tracing::warn!("{e}");
            crate::resp::errors::CmdError::from("ERR Error trying to save the DB")
        })?;
    }
    if flush && !merge {
        for db in &mut ctx.ex.dbs {
            *db = crate::keyspace::db::Db::new();
        }
    }
    match crate::persist::load_rdb_file(ctx.ex) {
        Ok(_) => {
            tracing::info!("DB reloaded by DEBUG RELOAD");
            ctx.out().ok();
            Ok(())
        }
        Err(e) => {
            tracing::warn!("{e}");
            Err("ERR Error trying to load the RDB dump, check server logs.".into())
        }
    }
}
