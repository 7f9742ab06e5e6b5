//! The "server" group: INFO, CONFIG, COMMAND, DEBUG, FLUSHDB/FLUSHALL, DBSIZE, TIME,
//! LASTSAVE, SHUTDOWN.

pub mod acl;
pub mod config_cmd;
pub mod debug;
pub mod info;
pub mod introspect;
pub mod latency;
pub mod memory;
pub mod module;
pub mod replication;
pub mod slowlog;

use crate::cmd::args::{eq, int};
use crate::cmd::meta_gen as m;
use crate::cmd::table::Handler;
use crate::exec::blocking::BlockKind;
use crate::exec::shutdown::Shutdown;
use crate::exec::{Ctx, ShutdownRequest};
use crate::resp::errors::{self as err, CmdError, CmdResult};

pub fn dbsize(ctx: &mut Ctx) -> CmdResult {
    let n = ctx.db().len() as i64;
    ctx.out().int(n);
    Ok(())
}

pub fn time(ctx: &mut Ctx) -> CmdResult {
    let us = ctx.ex.clock.now_us();
    let out = ctx.out();
    out.array(2);
    out.bulk_i64(us / 1_000_000);
    out.bulk_i64(us % 1_000_000);
    Ok(())
}

pub fn lastsave(ctx: &mut Ctx) -> CmdResult {
    let t = ctx.ex.lastsave_unix;
    ctx.out().int(t);
    Ok(())
}

/// FLUSHDB / FLUSHALL take an optional ASYNC or SYNC; without one, lazyfree-lazy-user-flush
/// decides. True for ASYNC.
fn flush_mode(ctx: &Ctx) -> Result<bool, CmdError> {
    let mut args = ctx.args();
    match args.next() {
        None => Ok(ctx.ex.settings.lazyfree_lazy_user_flush),
        Some(a) if args.is_empty() && eq(a, "ASYNC") => Ok(true),
        Some(a) if args.is_empty() && eq(a, "SYNC") => Ok(false),
        Some(_) => Err(err::SYNTAX.into()),
    }
}

/// Empties a database, its tables freed in the background when `lazy`. Returns the number
/// of keys it held.
pub fn empty_db(ex: &mut crate::exec::Executor, db: usize, lazy: bool) -> usize {
    if lazy {
        let old = ex.dbs[db].take_contents();
        let n = old.0.len();
        ex.lazyfree.free_later(n as u64, old);
        n
    } else {
        ex.dbs[db].clear()
    }
}

pub fn flushdb(ctx: &mut Ctx) -> CmdResult {
    let lazy = flush_mode(ctx)?;
    let db = ctx.client.db;
    ctx.ex.touch_watched_in_db(db, None);
    let removed = empty_db(ctx.ex, db, lazy);
    ctx.ex.signal_waited_keys_in_db(db);
    ctx.ex.invalidate_tracking_on_flush();
    ctx.ex.dirty += removed as u64;
    // Replicas and the AOF get it even when the db was already empty (they may not be).
    ctx.ex.prop.forced = true;
    ctx.out().ok();
    Ok(())
}

pub fn flushall(ctx: &mut Ctx) -> CmdResult {
    let lazy = flush_mode(ctx)?;
    let mut removed = 0;
    for db in 0..ctx.ex.dbs.len() {
        ctx.ex.touch_watched_in_db(db, None);
    }
    for db in 0..ctx.ex.dbs.len() {
        removed += empty_db(ctx.ex, db, lazy);
    }
    for db in 0..ctx.ex.dbs.len() {
        ctx.ex.signal_waited_keys_in_db(db);
    }
    ctx.ex.invalidate_tracking_on_flush();
    ctx.ex.dirty += removed as u64 + 1;
    // As Redis's flushAllDataAndResetRDB: a running BGSAVE is stale now, and with save points
    // the empty dataset is saved at once so a restart cannot bring the old data back.
    crate::persist::kill_child(ctx.ex);
    if !ctx.ex.settings.save_points.is_empty() {
        if let Err(e) = crate::persist::save(ctx.ex) {
            tracing::warn!("{e}");
        }
        // The save reset the change counter; the flush must still reach the AOF.
        ctx.ex.prop.forced = true;
    }
    ctx.out().ok();
    Ok(())
}

pub fn swapdb(ctx: &mut Ctx) -> CmdResult {
    if ctx.ex.cluster.is_some() {
        return Err(err::SWAPDB_IN_CLUSTER.into());
    }
    let a = int(ctx.argv[1]).map_err(|_| CmdError::from(err::INVALID_FIRST_DB_INDEX))?;
    let b = int(ctx.argv[2]).map_err(|_| CmdError::from(err::INVALID_SECOND_DB_INDEX))?;
    let n = ctx.ex.dbs.len() as i64;
    if a < 0 || a >= n || b < 0 || b >= n {
        return Err(err::DB_INDEX.into());
    }
    let (a, b) = (a as usize, b as usize);
    if a != b {
        ctx.ex.touch_watched_in_db(a, Some(b));
        ctx.ex.touch_watched_in_db(b, Some(a));
        ctx.ex.dbs.swap(a, b);
        ctx.ex.swapped_dbs(a, b);
        ctx.ex.signal_waited_keys_in_db(a);
        ctx.ex.signal_waited_keys_in_db(b);
        ctx.ex.dirty += 1;
    }
    ctx.out().ok();
    Ok(())
}

pub fn monitor(ctx: &mut Ctx) -> CmdResult {
    if !ctx.can_block() {
        return Err(err::MONITOR_DENY_BLOCKING.into());
    }
    if ctx.client.has(crate::exec::client::flags::MONITOR) {
        return Ok(());
    }
    ctx.client.flags |= crate::exec::client::flags::MONITOR;
    ctx.ex.monitors.push(ctx.client.slot);
    ctx.out().ok();
    Ok(())
}

/// LOLWUT [VERSION v]: the server's version line. (Redis draws a picture for versions 5 and 6
/// first; cinnabar answers every version with the line alone.)
pub fn lolwut(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let mut i = 1;
    while i < argv.len() {
        if eq(argv[i], "VERSION") && i + 1 < argv.len() {
            int(argv[i + 1]).map_err(|_| CmdError::from(err::NOT_INTEGER))?;
            i += 2;
        } else {
            i += 1;
        }
    }
    let mut line = b"Redis ver. ".to_vec();
    line.extend_from_slice(crate::config::REDIS_VERSION.as_bytes());
    line.push(b'\n');
    ctx.out().verbatim(b"txt", &line);
    Ok(())
}

/// SAVE: a synchronous snapshot to dbfilename.
pub fn save(ctx: &mut Ctx) -> CmdResult {
    if ctx.ex.persist.child.is_some() {
        return Err(err::BGSAVE_IN_PROGRESS.into());
    }
    match crate::persist::save(ctx.ex) {
        Ok(()) => {
            ctx.out().ok();
            Ok(())
        }
        Err(e) => {
            tracing::warn!("{e}");
            Err("ERR".into())
        }
    }
}

/// BGSAVE [SCHEDULE]: a forked child writes the snapshot (see persist::bgsave).
pub fn bgsave(ctx: &mut Ctx) -> CmdResult {
    let schedule = match ctx.args().rest() {
        [] => false,
        [a] if eq(a, "SCHEDULE") => true,
        _ => return Err(err::SYNTAX.into()),
    };
    if ctx.ex.persist.child.is_some() {
        return Err(err::BGSAVE_IN_PROGRESS.into());
    }
    if ctx.ex.aof.child.is_some() && !schedule {
        return Err(err::BGSAVE_AOF_CHILD.into());
    }
    // Inside EXEC the fork waits for the transaction (Redis forks only between commands).
    if ctx.client.has(crate::exec::client::flags::MULTI)
        || schedule && (ctx.ex.persist.scheduled || ctx.ex.aof.child.is_some())
    {
        ctx.ex.persist.scheduled = true;
        ctx.out().simple(b"Background saving scheduled");
        return Ok(());
    }
    match crate::persist::bgsave(ctx.ex) {
        Ok(()) => {
            ctx.out().simple(b"Background saving started");
            Ok(())
        }
        Err(e) => {
            tracing::warn!("{e}");
            Err("ERR".into())
        }
    }
}

/// BGREWRITEAOF: a forked child writes the dataset as the AOF's new base (see persist::aof).
pub fn bgrewriteaof(ctx: &mut Ctx) -> CmdResult {
    if ctx.ex.aof.child.is_some() {
        return Err(err::AOF_REWRITE_IN_PROGRESS.into());
    }
    if ctx.ex.persist.child.is_some() || ctx.ex.in_exec {
        ctx.ex.aof.rewrite_scheduled = true;
        ctx.out()
            .simple(b"Background append only file rewriting scheduled");
        return Ok(());
    }
    match crate::persist::aof::rewrite_start(ctx.ex) {
        Ok(()) => {
            ctx.out()
                .simple(b"Background append only file rewriting started");
            Ok(())
        }
        Err(e) => {
            tracing::warn!("{e}");
            Err(err::AOF_REWRITE_FAILED.into())
        }
    }
}

/// SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]. The caller blocks while the shutdown
/// waits for lagging replicas; it gets no reply if the server exits, an error if it does not.
pub fn shutdown(ctx: &mut Ctx) -> CmdResult {
    let mut req = ShutdownRequest::default();
    let (mut abort, mut save, mut nosave) = (false, false, false);
    for a in ctx.args().rest() {
        if eq(a, "NOSAVE") {
            nosave = true;
        } else if eq(a, "SAVE") {
            save = true;
        } else if eq(a, "NOW") {
            req.now = true;
        } else if eq(a, "FORCE") {
            req.force = true;
        } else if eq(a, "ABORT") {
            abort = true;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let flagged = save || nosave || req.now || req.force;
    if (abort && flagged) || (save && nosave) {
        return Err(err::SYNTAX.into());
    }
    if abort {
        if !ctx.ex.abort_shutdown() {
            return Err(err::NO_SHUTDOWN_IN_PROGRESS.into());
        }
        ctx.out().ok();
        return Ok(());
    }
    req.save = (save || nosave).then_some(save);
    // During a busy script only SHUTDOWN NOSAVE may end the server (it cannot save a
    // dataset the script is half-way through changing).
    if let Some(function) = ctx.ex.script_busy {
        if !nosave {
            return Err(if function {
                err::BUSY_FUNCTION.into()
            } else {
                err::BUSY_SCRIPT.into()
            });
        }
    }
    match ctx.ex.begin_shutdown(req) {
        // No reply: the connection closes when the server exits.
        Shutdown::Exit => Ok(()),
        Shutdown::Waiting => {
            ctx.block(BlockKind::Shutdown, &[], 0);
            Ok(())
        }
        Shutdown::Failed => Err(err::SHUTDOWN_FAILED.into()),
    }
}

pub const HANDLERS: &[(&crate::cmd::meta::CommandMeta, Handler)] = &[
    // MIGRATE's RESTORE in a cluster: RESTORE that an importing slot accepts (flag ASKING).
    (&m::RESTORE_ASKING, crate::cmd::generic::restore),
    (&m::ACL_SETUSER, acl::acl_setuser),
    (&m::ACL_DELUSER, acl::acl_deluser),
    (&m::ACL_GETUSER, acl::acl_getuser),
    (&m::ACL_LIST, acl::acl_list),
    (&m::ACL_USERS, acl::acl_users),
    (&m::ACL_WHOAMI, acl::acl_whoami),
    (&m::ACL_CAT, acl::acl_cat),
    (&m::ACL_GENPASS, acl::acl_genpass),
    (&m::ACL_LOG, acl::acl_log),
    (&m::ACL_DRYRUN, acl::acl_dryrun),
    (&m::ACL_LOAD, acl::acl_load),
    (&m::ACL_SAVE, acl::acl_save),
    (&m::ACL_HELP, acl::acl_help),
    (&m::DBSIZE, dbsize),
    (&m::TIME, time),
    (&m::LASTSAVE, lastsave),
    (&m::BGSAVE, bgsave),
    (&m::BGREWRITEAOF, bgrewriteaof),
    (&m::REPLCONF, replication::replconf),
    (&m::SYNC, replication::sync),
    (&m::PSYNC, replication::psync),
    (&m::REPLICAOF, replication::replicaof),
    (&m::SLAVEOF, replication::replicaof),
    (&m::FAILOVER, replication::failover),
    (&m::FLUSHDB, flushdb),
    (&m::FLUSHALL, flushall),
    (&m::SHUTDOWN, shutdown),
    (&m::SAVE, save),
    (&m::MONITOR, monitor),
    (&m::ROLE, replication::role),
    (&m::LOLWUT, lolwut),
    (&m::MODULE_LIST, module::module_list),
    (&m::MODULE_LOAD, module::module_load),
    (&m::MODULE_LOADEX, module::module_load),
    (&m::MODULE_UNLOAD, module::module_unload),
    (&m::MODULE_HELP, module::module_help),
    (&m::SWAPDB, swapdb),
    (&m::INFO, info::info),
    (&m::DEBUG, debug::debug),
    (&m::CONFIG_GET, config_cmd::config_get),
    (&m::CONFIG_SET, config_cmd::config_set),
    (&m::CONFIG_RESETSTAT, config_cmd::config_resetstat),
    (&m::CONFIG_REWRITE, config_cmd::config_rewrite),
    (&m::CONFIG_HELP, config_cmd::config_help),
    (&m::COMMAND, introspect::command),
    (&m::COMMAND_COUNT, introspect::command_count),
    (&m::COMMAND_INFO, introspect::command_info),
    (&m::COMMAND_DOCS, introspect::command_docs),
    (&m::COMMAND_LIST, introspect::command_list),
    (&m::COMMAND_GETKEYS, introspect::command_getkeys),
    (
        &m::COMMAND_GETKEYSANDFLAGS,
        introspect::command_getkeysandflags,
    ),
    (&m::COMMAND_HELP, introspect::command_help),
    (&m::MEMORY_USAGE, memory::memory_usage),
    (&m::MEMORY_STATS, memory::memory_stats),
    (&m::MEMORY_DOCTOR, memory::memory_doctor),
    (&m::MEMORY_MALLOC_STATS, memory::memory_malloc_stats),
    (&m::MEMORY_PURGE, memory::memory_purge),
    (&m::MEMORY_HELP, memory::memory_help),
    (&m::LATENCY_LATEST, latency::latency_latest),
    (&m::LATENCY_HISTORY, latency::latency_history),
    (&m::LATENCY_RESET, latency::latency_reset),
    (&m::LATENCY_GRAPH, latency::latency_graph),
    (&m::LATENCY_DOCTOR, latency::latency_doctor),
    (&m::LATENCY_HISTOGRAM, latency::latency_histogram),
    (&m::LATENCY_HELP, latency::latency_help),
    (&m::SLOWLOG_GET, slowlog::slowlog_get),
    (&m::SLOWLOG_LEN, slowlog::slowlog_len),
    (&m::SLOWLOG_RESET, slowlog::slowlog_reset),
    (&m::SLOWLOG_HELP, slowlog::slowlog_help),
];
