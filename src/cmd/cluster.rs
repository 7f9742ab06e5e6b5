//! The "cluster" group: CLUSTER and its subcommands, READONLY, READWRITE, ASKING. Without
//! cluster-enabled every one of them answers as a standalone Redis does.

use crate::cluster::glue::{self, preferred_endpoint};
use crate::cluster::slot::{key_hash_slot, SLOTS};
use crate::cluster::{nf, todo, Cluster, NodeId, NodesView};
use crate::cmd::args::{eq, int};
use crate::cmd::meta_gen as m;
use crate::cmd::table::Handler;
use crate::exec::client::flags as cf;
use crate::exec::Ctx;
use crate::resp::errors::{self as err, CmdError, CmdResult};

/// The cluster, or the standalone refusal.
fn cluster<'a>(ctx: &'a mut Ctx) -> Result<&'a mut Cluster, CmdError> {
    ctx.ex
        .cluster
        .as_deref_mut()
        .ok_or_else(|| err::CLUSTER_DISABLED.into())
}

fn enabled(ctx: &Ctx) -> CmdResult {
    if ctx.ex.cluster.is_some() {
        Ok(())
    } else {
        Err(err::CLUSTER_DISABLED.into())
    }
}

/// A subcommand called with arguments it does not take.
fn syntax(ctx: &Ctx) -> CmdError {
    err::subcommand_syntax(b"cluster", ctx.argv[1])
}

fn slot_arg(a: &[u8]) -> Result<usize, CmdError> {
    match int(a) {
        Ok(s) if (0..SLOTS as i64).contains(&s) => Ok(s as usize),
        _ => Err(err::CLUSTER_INVALID_SLOT.into()),
    }
}

fn readonly(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    ctx.client.flags |= cf::READONLY;
    ctx.out().ok();
    Ok(())
}

fn readwrite(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    ctx.client.flags &= !cf::READONLY;
    ctx.out().ok();
    Ok(())
}

fn asking(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    ctx.client.flags |= cf::ASKING;
    ctx.out().ok();
    Ok(())
}

fn help(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    crate::cmd::server::introspect::help(
        ctx.out(),
        "CLUSTER",
        &[
            "ADDSLOTS <slot> [<slot> ...]",
            "    Assign slots to current node.",
            "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "    Assign slots which are between <start-slot> and <end-slot> to current node.",
            "BUMPEPOCH",
            "    Advance the cluster config epoch.",
            "COUNT-FAILURE-REPORTS <node-id>",
            "    Return number of failure reports for <node-id>.",
            "COUNTKEYSINSLOT <slot>",
            "    Return the number of keys in <slot>.",
            "DELSLOTS <slot> [<slot> ...]",
            "    Delete slots information from current node.",
            "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "    Delete slots information which are between <start-slot> and <end-slot> from current node.",
            "FAILOVER [FORCE|TAKEOVER]",
            "    Promote current replica node to being a master.",
            "FORGET <node-id>",
            "    Remove a node from the cluster.",
            "GETKEYSINSLOT <slot> <count>",
            "    Return key names stored by current node in a slot.",
            "FLUSHSLOTS",
            "    Delete current node own slots information.",
            "INFO",
            "    Return information about the cluster.",
            "KEYSLOT <key>",
            "    Return the hash slot for <key>.",
            "MEET <ip> <port> [<bus-port>]",
            "    Connect nodes into a working cluster.",
            "MYID",
            "    Return the node id.",
            "MYSHARDID",
            "    Return the node's shard id.",
            "NODES",
            "    Return cluster configuration seen by node. Output format:",
            "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
            "REPLICATE <node-id>",
            "    Configure current node as replica to <node-id>.",
            "RESET [HARD|SOFT]",
            "    Reset current node (default: soft).",
            "SET-CONFIG-EPOCH <epoch>",
            "    Set config epoch of current node.",
            "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
            "    Set slot state.",
            "REPLICAS <node-id>",
            "    Return <node-id> replicas.",
            "SAVECONFIG",
            "    Force saving cluster configuration on disk.",
            "SLOTS",
            "    Return information about slots range mappings. Each range is made of:",
            "    start, end, master and replicas IP addresses, ports and ids",
            "SHARDS",
            "    Return information about slot range mappings and the nodes associated with them.",
            "LINKS",
            "    Return information about all network links between this node and its peers.",
            "    Output format is an array where each array element is a map containing attributes of a link",
        ],
    );
    Ok(())
}

fn meet(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    if ctx.argv.len() > 5 {
        return Err(syntax(ctx));
    }
    let port = int(ctx.argv[3]).map_err(|_| err::cluster_bad_base_port(ctx.argv[3]))?;
    let cport = match ctx.argv.get(4) {
        Some(a) => int(a).map_err(|_| err::cluster_bad_bus_port(a))?,
        None => port + 10000,
    };
    let ip = String::from_utf8_lossy(ctx.argv[2]).into_owned();
    let now = ctx.now_ms;
    if cluster(ctx)?
        .start_handshake(&ip, port, cport, now)
        .is_none()
    {
        return Err(err::cluster_bad_address(ctx.argv[2], ctx.argv[3]));
    }
    ctx.out().ok();
    Ok(())
}

fn nodes(ctx: &mut Ctx) -> CmdResult {
    let use_pport = glue::use_pport(ctx.ex, ctx.client);
    let text = cluster(ctx)?.nodes_description(0, NodesView::Client { use_pport });
    ctx.out().verbatim(b"txt", text.as_bytes());
    Ok(())
}

/// CLUSTER MYSHARDID (7.2): the shard id, shared by a master and its replicas.
fn myshardid(ctx: &mut Ctx) -> CmdResult {
    let id = cluster(ctx)?.me().shard_id;
    ctx.out().bulk(&id);
    Ok(())
}

fn myid(ctx: &mut Ctx) -> CmdResult {
    let name = cluster(ctx)?.me().name;
    ctx.out().bulk(&name);
    Ok(())
}

/// One node as CLUSTER SLOTS lists it: endpoint, port, id, other endpoints.
fn slots_node(ctx: &mut Ctx, id: NodeId) {
    let c = ctx.ex.cluster.as_deref().expect("cluster mode");
    let n = c.node(id);
    let endpoint_type = ctx.ex.cfg.get_enum("cluster-preferred-endpoint-type");
    let port = n.client_port(glue::use_pport(ctx.ex, ctx.client));
    let (ip, host, name) = (n.ip.clone(), n.hostname.clone(), n.name);
    let endpoint = preferred_endpoint(ctx.ex, &ip, &host).to_string();
    let out = &mut ctx.client.out;
    out.array(4);
    if endpoint_type == "unknown-endpoint" {
        out.null();
    } else {
        out.bulk(endpoint.as_bytes());
    }
    out.int(port as i64);
    out.bulk(&name);
    let mut extra: Vec<(&str, &str)> = Vec::new();
    if endpoint_type != "ip" {
        extra.push(("ip", &ip));
    }
    if endpoint_type != "hostname" && !host.is_empty() {
        extra.push(("hostname", &host));
    }
    out.map(extra.len());
    for (k, v) in extra {
        out.bulk(k.as_bytes());
        out.bulk(v.as_bytes());
    }
}

fn slots(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    let my_offset = glue::repl_offset(ctx.ex);
    let c = ctx.ex.cluster.as_deref().expect("cluster mode");
    let ranges: Vec<(usize, usize, Vec<NodeId>)> = glue::slot_ranges(c)
        .into_iter()
        .map(|(start, end, owner)| {
            let mut nodes = vec![owner];
            nodes.extend(
                c.node(owner)
                    .replicas
                    .iter()
                    .copied()
                    .filter(|&r| c.replica_available(r, my_offset)),
            );
            (start, end, nodes)
        })
        .collect();
    ctx.out().array(ranges.len());
    for (start, end, nodes) in ranges {
        let out = ctx.out();
        out.array(2 + nodes.len());
        out.int(start as i64);
        out.int(end as i64);
        for id in nodes {
            slots_node(ctx, id);
        }
    }
    Ok(())
}

fn shards(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    let my_offset_replica = glue::repl_offset(ctx.ex);
    let my_offset_master = ctx.ex.repl.offset;
    let c = ctx.ex.cluster.as_deref().expect("cluster mode");
    let masters: Vec<NodeId> = c
        .node_ids()
        .into_iter()
        .filter(|&id| !c.node(id).is_replica())
        .collect();
    struct NodeInfo {
        fields: Vec<(&'static str, Result<Vec<u8>, i64>)>,
    }
    let mut shards_out = Vec::new();
    for m in masters {
        let ranges: Vec<i64> = c
            .slot_ranges(m)
            .into_iter()
            .flat_map(|(a, b)| [a as i64, b as i64])
            .collect();
        let mut infos = Vec::new();
        for id in c.shard_of(m) {
            let n = c.node(id);
            let mut f: Vec<(&'static str, Result<Vec<u8>, i64>)> = Vec::new();
            f.push(("id", Ok(n.name.to_vec())));
            let tls = ctx.ex.cfg.get_bool("tls-cluster");
            let (plain, tls_port) = if tls { (n.pport, n.port) } else { (n.port, 0) };
            if plain != 0 {
                f.push(("port", Err(plain as i64)));
            }
            if tls_port != 0 {
                f.push(("tls-port", Err(tls_port as i64)));
            }
            f.push(("ip", Ok(n.ip.as_bytes().to_vec())));
            f.push((
                "endpoint",
                Ok(preferred_endpoint(ctx.ex, &n.ip, &n.hostname)
                    .as_bytes()
                    .to_vec()),
            ));
            if !n.hostname.is_empty() {
                f.push(("hostname", Ok(n.hostname.as_bytes().to_vec())));
            }
            let offset = if n.is(nf::MYSELF) {
                if n.is_replica() {
                    my_offset_replica
                } else {
                    my_offset_master
                }
            } else {
                n.repl_offset
            };
            f.push((
                "role",
                Ok(if n.is_replica() {
                    b"replica".to_vec()
                } else {
                    b"master".to_vec()
                }),
            ));
            f.push(("replication-offset", Err(offset as i64)));
            let health: &[u8] = if n.failed() {
                b"fail"
            } else if n.is_replica() && offset == 0 {
                b"loading"
            } else {
                b"online"
            };
            f.push(("health", Ok(health.to_vec())));
            infos.push(NodeInfo { fields: f });
        }
        shards_out.push((ranges, infos));
    }
    let out = ctx.out();
    out.array(shards_out.len());
    for (ranges, infos) in shards_out {
        out.map(2);
        out.bulk(b"slots");
        out.array(ranges.len());
        for r in ranges {
            out.int(r);
        }
        out.bulk(b"nodes");
        out.array(infos.len());
        for info in infos {
            out.map(info.fields.len());
            for (k, v) in info.fields {
                out.bulk(k.as_bytes());
                match v {
                    Ok(b) => out.bulk(&b),
                    Err(i) => out.int(i),
                }
            }
        }
    }
    Ok(())
}

fn flushslots(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    if !ctx.ex.dbs[0].is_empty() {
        return Err(err::CLUSTER_FLUSHSLOTS_NOT_EMPTY.into());
    }
    let c = cluster(ctx)?;
    for s in 0..SLOTS {
        if c.slots[s] == Some(c.myself) {
            c.del_slot(s);
        }
    }
    c.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
    ctx.out().ok();
    Ok(())
}

/// Marks the slots of `ranges` for ADD/DELSLOTS[RANGE] after checking each is free (or
/// assigned) and named once.
fn update_slots(ctx: &mut Ctx, ranges: &[(usize, usize)], del: bool) -> CmdResult {
    let c = cluster(ctx)?;
    let mut seen = vec![false; SLOTS];
    for &(start, end) in ranges {
        for (s, seen) in seen.iter_mut().enumerate().take(end + 1).skip(start) {
            if del && c.slots[s].is_none() {
                return Err(err::cluster_slot_unassigned(s));
            } else if !del && c.slots[s].is_some() {
                return Err(err::cluster_slot_busy(s));
            }
            if std::mem::replace(seen, true) {
                return Err(err::cluster_slot_repeated(s));
            }
        }
    }
    let me = c.myself;
    for (s, _) in seen.iter().enumerate().filter(|(_, &x)| x) {
        c.importing[s] = None;
        if del {
            c.del_slot(s);
        } else {
            c.add_slot(me, s);
        }
    }
    c.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
    ctx.out().ok();
    Ok(())
}

fn addslots_generic(ctx: &mut Ctx, del: bool) -> CmdResult {
    enabled(ctx)?;
    let slots = ctx.argv[2..]
        .iter()
        .map(|a| slot_arg(a))
        .collect::<Result<Vec<_>, _>>()?;
    let ranges: Vec<(usize, usize)> = slots.into_iter().map(|s| (s, s)).collect();
    update_slots(ctx, &ranges, del)
}

fn addslots(ctx: &mut Ctx) -> CmdResult {
    addslots_generic(ctx, false)
}

fn delslots(ctx: &mut Ctx) -> CmdResult {
    addslots_generic(ctx, true)
}

fn slotsrange_generic(ctx: &mut Ctx, del: bool) -> CmdResult {
    enabled(ctx)?;
    if ctx.argv.len() % 2 == 1 {
        return Err(err::wrong_arity(ctx.cmd.meta.name));
    }
    let mut ranges = Vec::new();
    for pair in ctx.argv[2..].chunks(2) {
        let (start, end) = (slot_arg(pair[0])?, slot_arg(pair[1])?);
        if start > end {
            return Err(err::cluster_slot_range_reversed(start, end));
        }
        ranges.push((start, end));
    }
    update_slots(ctx, &ranges, del)
}

fn addslotsrange(ctx: &mut Ctx) -> CmdResult {
    slotsrange_generic(ctx, false)
}

fn delslotsrange(ctx: &mut Ctx) -> CmdResult {
    slotsrange_generic(ctx, true)
}

fn setslot(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    if ctx
        .ex
        .cluster
        .as_deref()
        .is_some_and(|c| c.me().is_replica())
    {
        return Err(err::CLUSTER_SETSLOT_REPLICA.into());
    }
    let slot = slot_arg(ctx.argv[2])?;
    let action = ctx.argv[3];
    let argc = ctx.argv.len();
    let keys_in_slot = ctx.ex.dbs[0].keys_in_slot(slot);
    let allow_migration = ctx.ex.cfg.get_bool("cluster-allow-replica-migration");
    let target = ctx.argv.get(4).copied();
    let c = cluster(ctx)?;
    let me = c.myself;
    let lookup_master = |c: &Cluster, unknown: fn(&[u8]) -> CmdError| -> Result<NodeId, CmdError> {
        let name = target.unwrap_or_default();
        let n = c.lookup(name).ok_or_else(|| unknown(name))?;
        if c.node(n).is_replica() {
            return Err(err::CLUSTER_TARGET_NOT_MASTER.into());
        }
        Ok(n)
    };
    let mut broadcast = false;
    if eq(action, "migrating") && argc == 5 {
        if c.slots[slot] != Some(me) {
            return Err(err::cluster_not_owner(slot));
        }
        let n = lookup_master(c, err::cluster_dont_know_node)?;
        c.migrating[slot] = Some(n);
    } else if eq(action, "importing") && argc == 5 {
        if c.slots[slot] == Some(me) {
            return Err(err::cluster_already_owner(slot));
        }
        let n = lookup_master(c, err::cluster_dont_know_node)?;
        c.importing[slot] = Some(n);
    } else if eq(action, "stable") && argc == 4 {
        c.importing[slot] = None;
        c.migrating[slot] = None;
    } else if eq(action, "node") && argc == 5 {
        let n = lookup_master(c, err::cluster_unknown_node)?;
        if c.slots[slot] == Some(me) && n != me && keys_in_slot != 0 {
            return Err(err::cluster_slot_has_keys(slot));
        }
        if keys_in_slot == 0 && c.migrating[slot].is_some() {
            c.migrating[slot] = None;
        }
        let was_mine = c.slots[slot] == Some(me);
        c.del_slot(slot);
        c.add_slot(n, slot);
        if was_mine && n != me && c.me().numslots == 0 && allow_migration {
            tracing::warn!(
                "Configuration change detected. Reconfiguring myself as a replica of {}",
                c.node(n).name_str()
            );
            c.set_master(n);
            c.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE | todo::FSYNC_CONFIG;
        }
        if n == me && c.importing[slot].is_some() {
            if c.bump_epoch_without_consensus() {
                tracing::warn!("configEpoch updated after importing slot {slot}");
            }
            c.importing[slot] = None;
            broadcast = true;
        }
    } else {
        return Err(err::CLUSTER_SETSLOT_INVALID.into());
    }
    c.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
    if broadcast {
        glue::with(ctx.ex, |c, env| c.broadcast_pong_all(env));
    } else {
        glue::with(ctx.ex, |_, _| ());
    }
    ctx.out().ok();
    Ok(())
}

fn bumpepoch(ctx: &mut Ctx) -> CmdResult {
    let c = cluster(ctx)?;
    let bumped = c.bump_epoch_without_consensus();
    let epoch = c.me().config_epoch;
    let text = format!("{} {epoch}", if bumped { "BUMPED" } else { "STILL" });
    ctx.out().simple(text.as_bytes());
    Ok(())
}

fn info(ctx: &mut Ctx) -> CmdResult {
    let text = cluster(ctx)?.info_text();
    ctx.out().verbatim(b"txt", text.as_bytes());
    Ok(())
}

fn saveconfig(ctx: &mut Ctx) -> CmdResult {
    let text = cluster(ctx)?.config_text();
    let path = glue::cfg_str(ctx.ex, "cluster-config-file");
    crate::persist::nodes_conf::write(&path, &text, true)
        .map_err(|e| err::cluster_saveconfig_failed(&crate::util::strerror(&e)))?;
    ctx.out().ok();
    Ok(())
}

fn keyslot(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    let slot = key_hash_slot(ctx.argv[2]);
    ctx.out().int(slot as i64);
    Ok(())
}

fn countkeysinslot(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    let slot = int(ctx.argv[2])?;
    if !(0..SLOTS as i64).contains(&slot) {
        return Err(err::CLUSTER_BAD_SLOT.into());
    }
    let n = ctx.ex.dbs[0].keys_in_slot(slot as usize);
    ctx.out().int(n as i64);
    Ok(())
}

fn getkeysinslot(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    let slot = int(ctx.argv[2])?;
    let count = int(ctx.argv[3])?;
    if !(0..SLOTS as i64).contains(&slot) || count < 0 {
        return Err(err::CLUSTER_BAD_SLOT_OR_COUNT.into());
    }
    let keys = ctx.ex.dbs[0].slot_keys(slot as usize, count as usize);
    let out = ctx.out();
    out.array(keys.len());
    for k in keys {
        out.bulk(k.as_slice());
    }
    Ok(())
}

fn node_arg(ctx: &mut Ctx) -> Result<NodeId, CmdError> {
    let name = ctx.argv[2];
    cluster(ctx)?
        .lookup(name)
        .ok_or_else(|| err::cluster_unknown_node(name))
}

fn forget(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    let n = node_arg(ctx)?;
    let unix = ctx.now_ms / 1000;
    let c = cluster(ctx)?;
    if n == c.myself {
        return Err(err::CLUSTER_FORGET_MYSELF.into());
    }
    if c.me().is_replica() && c.me().master == Some(n) {
        return Err(err::CLUSTER_FORGET_MASTER.into());
    }
    let name = c.node(n).name;
    c.blacklist_add(name, unix);
    c.del_node(n);
    c.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
    glue::with(ctx.ex, |_, _| ());
    ctx.out().ok();
    Ok(())
}

fn replicate(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    let n = node_arg(ctx)?;
    let has_keys = !ctx.ex.dbs[0].is_empty();
    let c = cluster(ctx)?;
    if n == c.myself {
        return Err(err::CLUSTER_REPLICATE_MYSELF.into());
    }
    if c.node(n).is_replica() {
        return Err(err::CLUSTER_REPLICATE_REPLICA.into());
    }
    if c.me().is_master() && (c.me().numslots != 0 || has_keys) {
        return Err(err::CLUSTER_REPLICATE_NOT_EMPTY.into());
    }
    c.set_master(n);
    c.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
    glue::with(ctx.ex, |_, _| ());
    ctx.out().ok();
    Ok(())
}

fn replicas(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    let n = node_arg(ctx)?;
    let use_pport = glue::use_pport(ctx.ex, ctx.client);
    let c = ctx.ex.cluster.as_deref().expect("cluster mode");
    if c.node(n).is_replica() {
        return Err(err::CLUSTER_NOT_A_MASTER.into());
    }
    let lines: Vec<String> = c
        .node(n)
        .replicas
        .iter()
        .map(|&r| c.node_description(r, NodesView::Client { use_pport }))
        .collect();
    let out = ctx.out();
    out.array(lines.len());
    for l in lines {
        out.bulk(l.as_bytes());
    }
    Ok(())
}

fn count_failure_reports(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    let n = node_arg(ctx)?;
    let now = ctx.now_ms;
    let count = cluster(ctx)?.failure_reports_count(n, now);
    ctx.out().int(count as i64);
    Ok(())
}

fn failover(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    let (mut force, mut takeover) = (false, false);
    match ctx.argv.len() {
        2 => {}
        3 if eq(ctx.argv[2], "force") => force = true,
        3 if eq(ctx.argv[2], "takeover") => {
            takeover = true;
            force = true;
        }
        3 => return Err(err::SYNTAX.into()),
        _ => return Err(syntax(ctx)),
    }
    let c = cluster(ctx)?;
    if c.me().is_master() {
        return Err(err::CLUSTER_FAILOVER_ON_MASTER.into());
    }
    let Some(m) = c.me().master else {
        return Err(err::CLUSTER_FAILOVER_NO_MASTER.into());
    };
    if !force && (c.node(m).failed() || c.node(m).link.is_none()) {
        return Err(err::CLUSTER_FAILOVER_MASTER_DOWN.into());
    }
    glue::with(ctx.ex, |c, env| {
        c.start_manual_failover(force, takeover, env)
    });
    ctx.out().ok();
    Ok(())
}

fn set_config_epoch(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    let epoch = int(ctx.argv[2])?;
    let c = cluster(ctx)?;
    if epoch < 0 {
        return Err(err::cluster_bad_epoch(epoch));
    }
    if c.node_count() > 1 {
        return Err(err::CLUSTER_EPOCH_KNOWS_OTHERS.into());
    }
    if c.me().config_epoch != 0 {
        return Err(err::CLUSTER_EPOCH_NONZERO.into());
    }
    let me = c.myself;
    c.node_mut(me).config_epoch = epoch as u64;
    tracing::warn!("configEpoch set to {epoch} via CLUSTER SET-CONFIG-EPOCH");
    if c.current_epoch < epoch as u64 {
        c.current_epoch = epoch as u64;
    }
    c.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
    ctx.out().ok();
    Ok(())
}

fn reset(ctx: &mut Ctx) -> CmdResult {
    enabled(ctx)?;
    let hard = match ctx.argv.get(2) {
        None => false,
        Some(a) if eq(a, "hard") => true,
        Some(a) if eq(a, "soft") => false,
        Some(_) if ctx.argv.len() == 3 => return Err(err::SYNTAX.into()),
        Some(_) => return Err(syntax(ctx)),
    };
    if ctx.argv.len() > 3 {
        return Err(syntax(ctx));
    }
    let is_master = ctx
        .ex
        .cluster
        .as_deref()
        .is_some_and(|c| c.me().is_master());
    if is_master && !ctx.ex.dbs[ctx.client.db].is_empty() {
        return Err(err::CLUSTER_RESET_WITH_KEYS.into());
    }
    let now = ctx.now_ms;
    glue::with(ctx.ex, |c, _| c.reset(hard, now));
    ctx.out().ok();
    Ok(())
}

fn links(ctx: &mut Ctx) -> CmdResult {
    let c = cluster(ctx)?;
    let mut rows: Vec<(bool, crate::cluster::wire::Name, i64, String, usize, usize)> = Vec::new();
    for id in c.node_ids() {
        let n = c.node(id);
        for l in [n.link, n.inbound_link].into_iter().flatten() {
            if let Some(link) = c.links.get(&l) {
                let mut events = String::from("r");
                if !link.out.is_empty() || !link.connected {
                    events.push('w');
                }
                rows.push((
                    link.inbound,
                    n.name,
                    link.ctime,
                    events,
                    link.out.capacity(),
                    link.out.len(),
                ));
            }
        }
    }
    let out = ctx.out();
    out.array(rows.len());
    for (inbound, name, ctime, events, alloc, used) in rows {
        out.map(6);
        out.bulk(b"direction");
        out.bulk(if inbound { b"from" } else { b"to" });
        out.bulk(b"node");
        out.bulk(&name);
        out.bulk(b"create-time");
        out.int(ctime);
        out.bulk(b"events");
        out.bulk(events.as_bytes());
        out.bulk(b"send-buffer-allocated");
        out.int(alloc as i64);
        out.bulk(b"send-buffer-used");
        out.int(used as i64);
    }
    Ok(())
}

pub const HANDLERS: &[(&crate::cmd::meta::CommandMeta, Handler)] = &[
    (&m::READONLY, readonly),
    (&m::READWRITE, readwrite),
    (&m::ASKING, asking),
    (&m::CLUSTER_ADDSLOTS, addslots),
    (&m::CLUSTER_ADDSLOTSRANGE, addslotsrange),
    (&m::CLUSTER_BUMPEPOCH, bumpepoch),
    (&m::CLUSTER_COUNT_FAILURE_REPORTS, count_failure_reports),
    (&m::CLUSTER_COUNTKEYSINSLOT, countkeysinslot),
    (&m::CLUSTER_DELSLOTS, delslots),
    (&m::CLUSTER_DELSLOTSRANGE, delslotsrange),
    (&m::CLUSTER_FAILOVER, failover),
    (&m::CLUSTER_FLUSHSLOTS, flushslots),
    (&m::CLUSTER_FORGET, forget),
    (&m::CLUSTER_GETKEYSINSLOT, getkeysinslot),
    (&m::CLUSTER_HELP, help),
    (&m::CLUSTER_INFO, info),
    (&m::CLUSTER_KEYSLOT, keyslot),
    (&m::CLUSTER_LINKS, links),
    (&m::CLUSTER_MEET, meet),
    (&m::CLUSTER_MYID, myid),
    (&m::CLUSTER_MYSHARDID, myshardid),
    (&m::CLUSTER_NODES, nodes),
    (&m::CLUSTER_REPLICAS, replicas),
    (&m::CLUSTER_REPLICATE, replicate),
    (&m::CLUSTER_RESET, reset),
    (&m::CLUSTER_SAVECONFIG, saveconfig),
    (&m::CLUSTER_SET_CONFIG_EPOCH, set_config_epoch),
    (&m::CLUSTER_SETSLOT, setslot),
    (&m::CLUSTER_SHARDS, shards),
    (&m::CLUSTER_SLAVES, replicas),
    (&m::CLUSTER_SLOTS, slots),
];
