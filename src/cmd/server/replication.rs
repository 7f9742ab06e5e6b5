//! Replication commands: REPLICAOF/SLAVEOF, ROLE, REPLCONF, PSYNC, SYNC. The state machine
//! is `repl`; these parse and answer.

use crate::cmd::args::{eq, int};
use crate::exec::client::flags as cf;
use crate::exec::Ctx;
use crate::resp::errors::{self as err, CmdError, CmdResult};

/// ROLE: master with its replicas, or replica with its link's state.
pub fn role(ctx: &mut Ctx) -> CmdResult {
    crate::repl::role(ctx.ex, &mut ctx.client.out);
    Ok(())
}

/// REPLICAOF host port | NO ONE (SLAVEOF is the same command).
pub fn replicaof(ctx: &mut Ctx) -> CmdResult {
    let (host, port) = (ctx.argv[1], ctx.argv[2]);
    if ctx.ex.repl.failover.is_some() {
        return Err(err::REPLICAOF_DURING_FAILOVER.into());
    }
    if eq(host, "no") && eq(port, "one") {
        if ctx.ex.repl.is_replica() {
            crate::repl::unset_master(ctx.ex);
            tracing::info!(
                "MASTER MODE enabled (user request from 'id={} addr={}')",
                ctx.client.id,
                ctx.client.addr
            );
        }
        ctx.out().ok();
        return Ok(());
    }
    if ctx.client.has(cf::REPLICA) {
        return Err(err::REPLICAOF_FROM_REPLICA.into());
    }
    let port = int(port)
        .ok()
        .filter(|p| (0..=65535).contains(p))
        .ok_or_else(|| CmdError::from(err::INVALID_MASTER_PORT))? as u16;
    let host = String::from_utf8_lossy(host).into_owned();
    if let Some(m) = &ctx.ex.repl.master {
        if m.host.eq_ignore_ascii_case(&host) && m.port == port {
            tracing::info!("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
            ctx.out()
                .raw(b"+OK Already connected to specified master\r\n");
            return Ok(());
        }
    }
    tracing::info!(
        "REPLICAOF {host}:{port} enabled (user request from 'id={} addr={}')",
        ctx.client.id,
        ctx.client.addr
    );
    crate::repl::set_master(ctx.ex, host, port);
    ctx.out().ok();
    Ok(())
}

/// REPLCONF option value ...: what a replica tells its master about itself, and the ACKs.
pub fn replconf(ctx: &mut Ctx) -> CmdResult {
    let opts = &ctx.argv[1..];
    if opts.len() % 2 != 0 {
        return Err(err::SYNTAX.into());
    }
    for pair in opts.chunks(2) {
        let (name, value) = (pair[0], pair[1]);
        if eq(name, "listening-port") {
            ctx.client.replconf_mut().listening_port = int(value)? as u16;
        } else if eq(name, "ip-address") {
            // NET_HOST_STR_LEN
            if value.len() >= 256 {
                return Err(err::replconf_ip_too_long(value.len()));
            }
            ctx.client.replconf_mut().announced_ip =
                Some(String::from_utf8_lossy(value).into_owned());
        } else if eq(name, "capa") {
            if eq(value, "eof") {
                ctx.client.replconf_mut().capa_eof = true;
            } else if eq(value, "psync2") {
                ctx.client.replconf_mut().capa_psync2 = true;
            }
        } else if eq(name, "ack") {
            // From a replica only, and never answered.
            if ctx.client.has(cf::REPLICA) {
                if let Some(offset) = crate::util::num::parse_i64(value) {
                    crate::repl::on_ack(ctx.ex, ctx.client.slot, offset.max(0) as u64);
                }
            }
            return Ok(());
        } else if eq(name, "getack") {
            if ctx.client.has(cf::MASTER) {
                ctx.ex.repl.ack_to_master = true;
            }
            return Ok(());
        } else if eq(name, "rdb-only") {
            ctx.client.replconf_mut().rdb_only = int(value)? == 1;
        } else if eq(name, "rdb-filter-only") {
            // What the snapshot includes: nothing by default, "functions" on request.
            let filters = crate::util::splitargs::split_args(value)
                .ok_or_else(|| CmdError::from(err::RDB_FILTER_MISSING))?;
            let mut functions = false;
            for f in &filters {
                if !eq(f, "functions") {
                    return Err(err::rdb_filter_unsupported(f));
                }
                functions = true;
            }
            ctx.client.replconf_mut().rdb_filter =
                Some(crate::exec::client::RdbFilter { functions });
        } else {
            return Err(err::replconf_unknown_option(name));
        }
    }
    ctx.out().ok();
    Ok(())
}

/// PSYNC replid offset [FAILOVER]: continue from the backlog, or a full resync. With
/// FAILOVER our master hands over to us: we become master first (same history, new id).
pub fn psync(ctx: &mut Ctx) -> CmdResult {
    let offset = int(ctx.argv[2]).inspect_err(|_| {
        let name = crate::repl::replica_name_of(ctx.client);
        tracing::info!("Replica {name} asks for synchronization");
        tracing::warn!("Replica {name} asks for synchronization but with a wrong offset");
    })?;
    if ctx.argv.len() > 3 && eq(ctx.argv[3], "failover") {
        if !ctx.ex.repl.is_replica() {
            return Err(err::PSYNC_FAILOVER_TO_MASTER.into());
        }
        if !ctx.argv[1].eq_ignore_ascii_case(ctx.ex.repl.replid.as_bytes()) {
            return Err(err::PSYNC_FAILOVER_REPLID.into());
        }
        crate::repl::unset_master(ctx.ex);
        tracing::info!(
            "MASTER MODE enabled (failover request from 'id={} addr={}')",
            ctx.client.id,
            ctx.client.addr
        );
    }
    sync_request(ctx, Some((ctx.argv[1], offset)))
}

/// FAILOVER [TO host port [FORCE]] [TIMEOUT ms] | ABORT: hand the master role to a replica
/// once it has every write (writes pause meanwhile).
pub fn failover(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    if argv.len() == 2 && eq(argv[1], "abort") {
        if ctx.ex.repl.failover.is_none() {
            return Err(err::FAILOVER_NONE.into());
        }
        crate::repl::abort_failover(ctx.ex, "Failover manually aborted");
        ctx.out().ok();
        return Ok(());
    }
    let (mut target, mut timeout, mut force) = (None, None, false);
    let mut j = 1;
    while j < argv.len() {
        if eq(argv[j], "to") && j + 2 < argv.len() {
            let port = int(argv[j + 2])?;
            target = Some((String::from_utf8_lossy(argv[j + 1]).into_owned(), port));
            j += 3;
        } else if eq(argv[j], "timeout") && j + 1 < argv.len() {
            let ms = int(argv[j + 1])?;
            if ms <= 0 {
                return Err(err::FAILOVER_TIMEOUT.into());
            }
            timeout = Some(ms);
            j += 2;
        } else if eq(argv[j], "force") {
            force = true;
            j += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    if ctx.ex.repl.failover.is_some() {
        return Err(err::FAILOVER_IN_PROGRESS.into());
    }
    if ctx.ex.repl.is_replica() {
        return Err(err::FAILOVER_ON_REPLICA.into());
    }
    if ctx.ex.repl.replicas.is_empty() {
        return Err(err::FAILOVER_NO_REPLICAS.into());
    }
    if force && (timeout.is_none() || target.is_none()) {
        return Err(err::FAILOVER_FORCE_ARGS.into());
    }
    let target = match target {
        Some((host, port)) => {
            let port = u16::try_from(port).unwrap_or(0);
            let Some(r) = crate::repl::find_replica(ctx.ex, &host, port) else {
                return Err(err::FAILOVER_NOT_A_REPLICA.into());
            };
            if r.state != crate::repl::ReplicaState::Online {
                return Err(err::FAILOVER_NOT_ONLINE.into());
            }
            Some((host, port))
        }
        None => None,
    };
    let end_ms = timeout.map(|ms| ctx.now_ms + ms);
    crate::repl::start_failover(
        ctx.ex,
        crate::repl::Failover {
            target,
            force,
            end_ms,
            in_progress: false,
        },
    );
    ctx.out().ok();
    Ok(())
}

/// SYNC: the old full resync (no +FULLRESYNC line); `redis-cli --rdb` asks it with
/// REPLCONF rdb-only 1 and gets the snapshot alone.
pub fn sync(ctx: &mut Ctx) -> CmdResult {
    if ctx.client.replconf().rdb_only {
        return rdb_only(ctx);
    }
    sync_request(ctx, None)
}

/// Redis's syncCommand.
fn sync_request(ctx: &mut Ctx, psync: Option<(&[u8], i64)>) -> CmdResult {
    if ctx.client.has(cf::REPLICA) {
        return Ok(());
    }
    if ctx.ex.repl.failover.is_some() {
        return Err(err::SYNC_DURING_FAILOVER.into());
    }
    if ctx
        .ex
        .repl
        .master
        .as_ref()
        .is_some_and(|m| m.state != crate::repl::LinkState::Connected)
    {
        return Err(err::NOMASTERLINK.into());
    }
    if ctx.client.pending_output() > 0 {
        return Err(err::SYNC_WITH_PENDING_OUTPUT.into());
    }
    if ctx.client.replconf().rdb_filter.is_some() && !ctx.client.replconf().capa_eof {
        return Err(err::RDB_FILTER_NEEDS_EOF.into());
    }
    let name = crate::repl::replica_name_of(ctx.client);
    tracing::info!("Replica {name} asks for synchronization");
    crate::repl::feed(ctx.ex);
    if let Some((replid, offset)) = psync {
        match ctx.ex.repl.can_continue(replid, offset) {
            Ok(()) => {
                crate::repl::continue_replica(ctx.ex, ctx.client, offset as u64, &name);
                return Ok(());
            }
            Err(why) => {
                if replid == b"?" {
                    tracing::info!("Full resync requested by replica {name}");
                } else {
                    ctx.ex.repl.stat_sync_partial_err += 1;
                    tracing::info!("Partial resynchronization not accepted: {why}");
                }
            }
        }
    }
    crate::repl::begin_full_sync(ctx.ex, ctx.client, psync.is_none());
    Ok(())
}

/// The snapshot as one bulk, then the connection closes (`redis-cli --rdb`).
fn rdb_only(ctx: &mut Ctx) -> CmdResult {
    // REPLCONF rdb-filter-only (`redis-cli --functions-rdb`): only those parts.
    let rdb = match ctx.client.replconf().rdb_filter {
        Some(filter) => {
            use crate::persist::sync::{save_info, SyncInfo};
            let info = SyncInfo {
                filter: Some(filter),
                ..save_info(ctx.ex).unwrap_or(SyncInfo {
                    replid: ctx.ex.repl.replid.clone(),
                    offset: ctx.ex.repl.offset,
                    stream_db: 0,
                    filter: None,
                })
            };
            crate::persist::write_rdb_full(ctx.ex, Vec::new(), false, Some(&info))
        }
        None => crate::persist::write_rdb(ctx.ex, Vec::new()),
    }
    .map_err(|e| {
        tracing::warn!("SYNC: {e}");
        CmdError::from("ERR")
    })?;
    tracing::info!(
        "Replica {} asks for synchronization: sending an RDB of {} bytes (rdb-only)",
        ctx.client.addr,
        rdb.len()
    );
    let out = ctx.out();
    out.raw(b"$");
    crate::util::num::push_u64(&mut out.buf, rdb.len() as u64);
    out.raw(b"\r\n");
    out.raw(&rdb);
    ctx.client.flags |= cf::CLOSE_AFTER_REPLY;
    Ok(())
}
