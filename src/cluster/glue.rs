//! The cluster inside the server: settings from the config, the environment each cluster
//! call sees, the effects it asks for, the cron and before-sleep hooks, and the routing of
//! commands to the node that serves their slot (Redis's getNodeByQuery).

use super::slot::{key_hash_slot, SLOTS};
use super::{nf, Cluster, ClusterSettings, Effect, Env, LinkId, NodeId};
use crate::cmd::meta::{flag, key_flag};
use crate::cmd::table::Command;
use crate::exec::client::flags as cf;
use crate::exec::{Client, Executor};
use crate::pubsub::Kind;
use crate::resp::errors::{self as err, CmdError};

/// A string directive's value.
pub fn cfg_str(ex: &Executor, name: &str) -> String {
    String::from_utf8_lossy(ex.cfg.get_str(name)).into_owned()
}

/// The cluster settings from the config.
pub fn settings(ex: &Executor) -> ClusterSettings {
    let cfg = &ex.cfg;
    let tls = cfg.get_bool("tls-cluster");
    let port = if tls {
        cfg.get_int("tls-port") as u16
    } else {
        ex.tcp_port
    };
    let mut announced_port = port;
    let mut pport = if tls { ex.tcp_port } else { 0 };
    let announce_port = cfg.get_int("cluster-announce-port") as u16;
    let announce_tls_port = cfg.get_int("cluster-announce-tls-port") as u16;
    if tls && announce_tls_port != 0 {
        announced_port = announce_tls_port;
        pport = announce_port;
    } else if announce_port != 0 {
        announced_port = announce_port;
    }
    let bus_port = cfg.get_int("cluster-announce-bus-port") as u16;
    let cport = if bus_port != 0 {
        bus_port
    } else {
        bus_listen_port(ex)
    };
    let announce_ip = cfg_str(ex, "cluster-announce-ip");
    ClusterSettings {
        node_timeout: cfg.get_int("cluster-node-timeout"),
        announce_ip: (!announce_ip.is_empty()).then_some(announce_ip),
        announce_hostname: cfg_str(ex, "cluster-announce-hostname"),
        port: announced_port,
        pport,
        cport,
        require_full_coverage: cfg.get_bool("cluster-require-full-coverage"),
        replica_validity_factor: cfg.get_int("cluster-replica-validity-factor"),
        migration_barrier: cfg.get_int("cluster-migration-barrier"),
        allow_replica_migration: cfg.get_bool("cluster-allow-replica-migration"),
        replica_no_failover: cfg.get_bool("cluster-replica-no-failover"),
        repl_ping_period_secs: cfg.get_int("repl-ping-replica-period"),
        link_sendbuf_limit: cfg.get_int("cluster-link-sendbuf-limit") as usize,
    }
}

/// The port the bus listens on: cluster-port, or the client port + 10000.
pub fn bus_listen_port(ex: &Executor) -> u16 {
    let cluster_port = ex.cfg.get_int("cluster-port") as u16;
    if cluster_port != 0 {
        return cluster_port;
    }
    let base = if ex.cfg.get_bool("tls-cluster") {
        ex.cfg.get_int("tls-port") as u16
    } else {
        ex.tcp_port
    };
    base.saturating_add(10000)
}

/// Our replication offset as the bus reports it (Redis's replicationGetSlaveOffset on a
/// replica: 0 before any data came).
pub fn repl_offset(ex: &Executor) -> u64 {
    match &ex.repl.master {
        None => ex.repl.offset,
        Some(m) if m.state == crate::repl::LinkState::Connected => ex.repl.offset,
        Some(_) => ex.repl.cached_master.as_ref().map_or(0, |c| c.offset),
    }
}

fn master_data_age_ms(ex: &Executor, now: i64) -> i64 {
    match &ex.repl.master {
        Some(m) if m.state == crate::repl::LinkState::Connected => {
            (now - m.last_io_ms) / 1000 * 1000
        }
        // Never synced: as old as the epoch (Redis's repl_down_since of 0), so a replica
        // without data is never elected.
        Some(m) => now - m.down_since_ms.unwrap_or(0),
        None => 0,
    }
}

/// Runs `f` on the cluster with the server's view, then applies what it asked for.
pub fn with<R>(ex: &mut Executor, f: impl FnOnce(&mut Cluster, &Env) -> R) -> Option<R> {
    let mut c = ex.cluster.take()?;
    let now = ex.clock.now_ms();
    let r = {
        let db0 = &ex.dbs[0];
        let count = |s: usize| db0.keys_in_slot(s);
        let env = Env {
            now,
            unix_secs: now / 1000,
            repl_offset: repl_offset(ex),
            master_data_age_ms: master_data_age_ms(ex, now),
            keys_in_slot: &count,
        };
        f(&mut c, &env)
    };
    ex.cluster = Some(c);
    apply_effects(ex);
    Some(r)
}

fn apply_effects(ex: &mut Executor) {
    loop {
        let Some(c) = ex.cluster.as_mut() else { return };
        if c.effects.is_empty() {
            return;
        }
        for e in std::mem::take(&mut c.effects) {
            match e {
                Effect::SetMaster(host, port) => crate::repl::set_master(ex, host, port),
                Effect::UnsetMaster => crate::repl::unset_master(ex),
                Effect::DelKeysInSlot(slot) => {
                    del_keys_in_slot(ex, slot as usize);
                }
                Effect::RemoveShardChannels(slot) => remove_shard_channels(ex, slot),
                Effect::Publish {
                    shard,
                    channel,
                    message,
                } => {
                    let kind = if shard { Kind::Shard } else { Kind::Channel };
                    ex.publish(kind, &channel, &message, None);
                }
                Effect::PauseWrites(_) => {}
                Effect::Unpause => ex.resume_postponed(),
                Effect::FlushData => {
                    for db in 0..ex.dbs.len() {
                        crate::cmd::server::empty_db(ex, db, false);
                    }
                }
            }
        }
    }
}

/// Deletes every key of a slot, each propagated and notified as a deletion (Redis's
/// delKeysInSlot). Returns how many went.
pub fn del_keys_in_slot(ex: &mut Executor, slot: usize) -> usize {
    let keys = ex.dbs[0].slot_keys(slot, usize::MAX);
    let lazy = ex.settings.lazyfree_lazy_server_del;
    for k in &keys {
        if let Some(e) = ex.dbs[0].remove(k.as_slice()) {
            if lazy {
                ex.lazyfree.free_value(e.value);
            }
        }
        ex.propagate_deletion(0, k.as_slice(), lazy);
        ex.notify(crate::config::notify::GENERIC, "del", k.as_slice(), 0);
        ex.signal_modified_by_server(0, k.as_slice());
        ex.dirty += 1;
    }
    keys.len()
}

/// Unsubscribes every client from the shard channels of a slot.
fn remove_shard_channels(ex: &mut Executor, slot: u16) {
    let channels: Vec<Vec<u8>> = ex
        .pubsub
        .channel_names(Kind::Shard, None)
        .into_iter()
        .filter(|c| key_hash_slot(c) == slot)
        .map(<[u8]>::to_vec)
        .collect();
    for ch in channels {
        crate::cmd::pubsub::unsubscribe_everyone(ex, Kind::Shard, &ch);
    }
}

/// Starts cluster mode: lock and load nodes.conf (or create it), index keys by slot.
pub fn init(ex: &mut Executor) -> Result<(), String> {
    let path = cfg_str(ex, "cluster-config-file");
    let now = ex.clock.now_ms();
    crate::persist::nodes_conf::lock(&path)?;
    let mut c = Box::new(Cluster::new(now, settings(ex)));
    let saveconf = match crate::persist::nodes_conf::read(&path)? {
        Some(text) => {
            c.load_config(&text, now)?;
            false
        }
        None => {
            tracing::info!("No cluster configuration found, I'm {}", c.me().name_str());
            true
        }
    };
    if saveconf {
        crate::persist::nodes_conf::write(&path, &c.config_text(), true)
            .map_err(|e| format!("Fatal: can't update cluster config file. {e}"))?;
    }
    ex.dbs[0].index_slots();
    c.cfg = settings(ex);
    let s = c.cfg.clone();
    let me = c.myself;
    let my = c.node_mut(me);
    my.port = s.port;
    my.pport = s.pport;
    my.cport = s.cport;
    if let Some(ip) = &s.announce_ip {
        my.ip = ip.clone();
    }
    my.hostname = s.announce_hostname.clone();
    if s.replica_no_failover {
        my.flags |= nf::NOFAILOVER;
    } else {
        my.flags &= !nf::NOFAILOVER;
    }
    ex.cluster = Some(c);
    Ok(())
}

/// After the dataset is loaded: reconcile slots with the keys we hold. Err if a database
/// other than 0 has keys.
pub fn verify_data(ex: &mut Executor) -> Result<(), String> {
    if ex.cluster.is_none() {
        return Ok(());
    }
    if ex.dbs.iter().skip(1).any(|d| !d.is_empty()) {
        return Err(
            "You can't have keys in a DB different than DB 0 when in Cluster mode. Exiting.".into(),
        );
    }
    let db0 = &ex.dbs[0];
    let count = |s: usize| db0.keys_in_slot(s);
    let Some(c) = ex.cluster.as_mut() else {
        return Ok(());
    };
    if c.verify_config_with_data(&count) {
        save_config(ex, true);
    }
    Ok(())
}

/// Writes nodes.conf; the process ends if it cannot (a node must not run on a view it
/// cannot persist).
pub fn save_config(ex: &Executor, fsync: bool) {
    let Some(c) = ex.cluster.as_ref() else { return };
    let path = cfg_str(ex, "cluster-config-file");
    crate::persist::nodes_conf::write_or_exit(&path, &c.config_text(), fsync);
}

/// Redis runs clusterCron every 100 ms.
pub fn cron(ex: &mut Executor) {
    let now = ex.clock.now_ms();
    let Some(c) = ex.cluster.as_mut() else { return };
    if now - c.last_cron_ms < 100 {
        return;
    }
    c.last_cron_ms = now;
    let s = settings(ex);
    let me_hostname = s.announce_hostname.clone();
    let no_failover = s.replica_no_failover;
    let announce_ip = s.announce_ip.clone();
    with(ex, |c, env| {
        c.cfg = s;
        let me = c.myself;
        let my = c.node_mut(me);
        my.hostname = me_hostname;
        let before = my.flags;
        if no_failover {
            my.flags |= nf::NOFAILOVER;
        } else {
            my.flags &= !nf::NOFAILOVER;
        }
        if let Some(ip) = announce_ip {
            my.ip = ip;
        }
        if my.flags != before {
            c.todo |= super::todo::SAVE_CONFIG | super::todo::UPDATE_STATE;
        }
        c.cron(env);
    });
    redirect_blocked_clients(ex);
    // The replica follows its master once it knows where it is.
    let follow = ex.cluster.as_ref().and_then(|c| {
        let me = c.me();
        let m = me.master?;
        let m = c.node(m);
        (me.is_replica() && !m.is(nf::NOADDR)).then(|| (m.ip.clone(), m.port))
    });
    if let Some((ip, port)) = follow {
        if ex.repl.master.is_none() {
            crate::repl::set_master(ex, ip, port);
        }
    }
}

/// Before the loop sleeps: failover steps, state, and the config save.
pub fn before_sleep(ex: &mut Executor) {
    if ex.cluster.is_none() {
        return;
    }
    if let Some(Some(fsync)) = with(ex, |c, env| c.before_sleep(env)) {
        save_config(ex, fsync);
    }
}

/// Bytes from a bus link: complete frames are processed. Returns false if the link is gone.
pub fn on_bus_input(ex: &mut Executor, link: LinkId, data: &[u8]) -> bool {
    with(ex, |c, env| {
        let Some(l) = c.links.get_mut(&link) else {
            return false;
        };
        l.rcv.extend_from_slice(data);
        loop {
            let Some(l) = c.links.get_mut(&link) else {
                return false;
            };
            if l.rcv.len() < 8 {
                return true;
            }
            let Some(len) = super::wire::frame_len(&l.rcv[..8]) else {
                tracing::warn!("Bad message length or signature received from Cluster bus.");
                c.free_link(link);
                return false;
            };
            if l.rcv.len() < len {
                return true;
            }
            let rest = l.rcv.split_off(len);
            let frame = std::mem::replace(&mut l.rcv, rest);
            if !c.process_packet(link, &frame, env) {
                return false;
            }
        }
    })
    .unwrap_or(false)
}

/// Where the cluster routes a command (Redis's getNodeByQuery and clusterRedirectClient):
/// Ok with the keys' slot (None without keys) to serve it here, or the redirection or
/// refusal to reply with.
pub fn route(
    ex: &Executor,
    client: &Client,
    cmd: &Command,
    argv: &[&[u8]],
) -> Result<Option<usize>, CmdError> {
    let Some(c) = ex.cluster.as_ref() else {
        return Ok(None);
    };
    let meta = cmd.meta;
    let is_exec = meta.name == "exec";
    if !meta.has(flag::MOVABLE_KEYS) && meta.key_specs.is_empty() && !is_exec {
        return Ok(None);
    }
    let mut commands: Vec<(&Command, Vec<&[u8]>)> = Vec::new();
    if is_exec {
        let Some(m) = &client.multi else {
            return Ok(None);
        };
        for (qc, qargv) in &m.queued {
            commands.push((qc, qargv.iter().map(Vec::as_slice).collect()));
        }
    } else {
        commands.push((cmd, argv.to_vec()));
    }
    let pubsubshard = matches!(meta.name, "ssubscribe" | "sunsubscribe" | "spublish");
    let mut first: Option<&[u8]> = None;
    let mut slot = 0usize;
    let mut owner: Option<NodeId> = None;
    let (mut migrating, mut importing, mut multiple, mut missing) = (false, false, false, 0);
    let now = ex.clock.now_ms();
    for (qc, qargv) in &commands {
        for key in routing_keys(qc, qargv) {
            let this = key_hash_slot(key) as usize;
            match first {
                None => {
                    first = Some(key);
                    slot = this;
                    owner = c.slots[slot];
                    let Some(n) = owner else {
                        return Err(err::CLUSTERDOWN_UNBOUND.into());
                    };
                    if n == c.myself && c.migrating[slot].is_some() {
                        migrating = true;
                    } else if c.importing[slot].is_some() {
                        importing = true;
                    }
                }
                Some(f) if f != key => {
                    if this != slot {
                        return Err(err::CROSSSLOT.into());
                    }
                    multiple = true;
                }
                _ => {}
            }
            if (migrating || importing) && !pubsubshard {
                let alive = ex.dbs[0]
                    .peek(key)
                    .is_some_and(|_| !ex.dbs[0].is_expired(key, now) || ex.repl.is_replica());
                if !alive {
                    missing += 1;
                }
            }
        }
    }
    let Some(n) = owner else { return Ok(None) };
    if !c.state_ok {
        if pubsubshard {
            if !ex.cfg.get_bool("cluster-allow-pubsubshard-when-down") {
                return Err(err::CLUSTERDOWN.into());
            }
        } else if !ex.cfg.get_bool("cluster-allow-reads-when-down") {
            return Err(err::CLUSTERDOWN.into());
        } else if ex.command_flags(cmd, argv) & flag::WRITE != 0 {
            return Err(err::CLUSTERDOWN_READ_ONLY.into());
        }
    }
    if (migrating || importing) && meta.name == "migrate" {
        return Ok(Some(slot));
    }
    if migrating && missing > 0 {
        let to = c.migrating[slot].expect("migrating slot has a target");
        return Err(redirect(ex, client, c, true, slot, to));
    }
    if importing && (client.has(cf::ASKING) || meta.has(flag::ASKING)) {
        if multiple && missing > 0 {
            return Err(err::TRYAGAIN.into());
        }
        return Ok(Some(slot));
    }
    let writes = if is_exec {
        client
            .multi
            .as_ref()
            .is_some_and(|m| m.flags & flag::WRITE != 0)
    } else {
        ex.command_flags(cmd, argv) & flag::WRITE != 0
    };
    if (client.has(cf::READONLY) || pubsubshard)
        && !writes
        && c.me().is_replica()
        && c.me().master == Some(n)
    {
        return Ok(Some(slot));
    }
    if n != c.myself {
        return Err(redirect(ex, client, c, false, slot, n));
    }
    Ok(Some(slot))
}

/// The keys (and shard channels) a command addresses, for routing: key specs including
/// those that name channels.
fn routing_keys<'a>(cmd: &Command, argv: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let meta = cmd.meta;
    let channels = meta
        .key_specs
        .iter()
        .any(|ks| ks.flags & key_flag::NOT_KEY != 0);
    let refs = if channels {
        crate::cmd::keys::keys_from_specs_including_channels(meta, argv)
    } else {
        crate::cmd::keys::command_keys(meta, argv)
    };
    refs.unwrap_or_default()
        .into_iter()
        .filter_map(|k| argv.get(k.pos).copied())
        .collect()
}

/// Whether replies to `client` name plaintext ports: it came in without TLS to a node
/// whose bus, and so whose announced ports, are TLS.
pub fn use_pport(ex: &Executor, client: &Client) -> bool {
    ex.cfg.get_bool("tls-cluster") && !client.has(cf::TLS)
}

/// -MOVED (or -ASK) with the node's preferred endpoint.
fn redirect(
    ex: &Executor,
    client: &Client,
    c: &Cluster,
    ask: bool,
    slot: usize,
    to: NodeId,
) -> CmdError {
    let n = c.node(to);
    let endpoint = preferred_endpoint(ex, &n.ip, &n.hostname);
    err::cluster_redirect(ask, slot, endpoint, n.client_port(use_pport(ex, client)))
}

/// cluster-preferred-endpoint-type: ip, hostname ("?" if none) or unknown-endpoint ("").
pub fn preferred_endpoint<'a>(ex: &Executor, ip: &'a str, hostname: &'a str) -> &'a str {
    match ex.cfg.get_enum("cluster-preferred-endpoint-type") {
        "hostname" => {
            if hostname.is_empty() {
                "?"
            } else {
                hostname
            }
        }
        "unknown-endpoint" => "",
        _ => ip,
    }
}

/// Clients blocked on keys of a slot we no longer serve get a redirection (Redis's
/// clusterRedirectBlockedClientIfNeeded).
fn redirect_blocked_clients(ex: &mut Executor) {
    let Some(c) = ex.cluster.as_ref() else { return };
    let blocked = ex.blocked_on_keys();
    let mut redirects: Vec<(usize, CmdError)> = Vec::new();
    for (client_slot, key, writes) in blocked {
        let Some(client) = ex.client(client_slot) else {
            continue;
        };
        let readonly = client.has(cf::READONLY);
        if !c.state_ok {
            redirects.push((client_slot, err::CLUSTERDOWN.into()));
            continue;
        }
        let slot = key_hash_slot(&key) as usize;
        let mut node = c.slots[slot];
        if readonly && !writes && c.me().is_replica() && c.me().master == node && node.is_some() {
            node = Some(c.myself);
        }
        if node != Some(c.myself) && c.importing[slot].is_none() {
            let e = match node {
                None => err::CLUSTERDOWN_UNBOUND.into(),
                Some(n) => redirect(ex, client, c, false, slot, n),
            };
            redirects.push((client_slot, e));
        }
    }
    for (slot, e) in redirects {
        ex.unblock_with_error(slot, e.text());
    }
}

/// The number of bus sockets (INFO's cluster_connections): two per other node.
pub fn connections(ex: &Executor) -> usize {
    ex.cluster
        .as_ref()
        .map_or(0, |c| c.node_count().saturating_sub(1) * 2)
}

/// Nodes with a slot range: for CLUSTER SLOTS.
pub fn slot_ranges(c: &Cluster) -> Vec<(usize, usize, NodeId)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut cur: Option<NodeId> = None;
    for s in 0..=SLOTS {
        let n = if s < SLOTS { c.slots[s] } else { None };
        if n != cur {
            if let Some(owner) = cur {
                out.push((start, s - 1, owner));
            }
            cur = n;
            start = s;
        }
    }
    out
}
