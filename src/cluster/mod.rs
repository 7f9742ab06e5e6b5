//! Redis Cluster: the node table, slot ownership, epochs, the bus protocol's state machine
//! (gossip, failure detection, elections, manual failover, replica migration) and the
//! nodes.conf text, as Redis 7.0's cluster.c runs them, so cinnabar nodes and redis-server
//! nodes form one cluster.
//!
//! Sans-I/O: `net::cluster_bus` owns the sockets and hands complete frames in; what must
//! happen outside the cluster state (follow a new master, drop keys of a lost slot, deliver
//! a published message, pause writes) comes out as `Effect`s the executor applies
//! (`glue`). Time is passed in.

pub mod glue;
pub mod slot;
pub mod wire;

use std::collections::HashMap;

use slot::SLOTS;
use wire::{ty, Body, Gossip, Header, Message, Name, NAME_LEN, NULL_NAME, SLOT_BYTES};

pub type NodeId = usize;
pub type LinkId = u64;

/// Node flags (Redis's CLUSTER_NODE_*), also sent on the bus.
pub mod nf {
    pub const MASTER: u16 = 1;
    pub const SLAVE: u16 = 2;
    pub const PFAIL: u16 = 4;
    pub const FAIL: u16 = 8;
    pub const MYSELF: u16 = 16;
    pub const HANDSHAKE: u16 = 32;
    pub const NOADDR: u16 = 64;
    pub const MEET: u16 = 128;
    pub const MIGRATE_TO: u16 = 256;
    pub const NOFAILOVER: u16 = 512;
}

/// Things to do before the loop sleeps (Redis's CLUSTER_TODO_*).
pub mod todo {
    pub const HANDLE_FAILOVER: u8 = 1 << 0;
    pub const UPDATE_STATE: u8 = 1 << 1;
    pub const SAVE_CONFIG: u8 = 1 << 2;
    pub const FSYNC_CONFIG: u8 = 1 << 3;
    pub const HANDLE_MANUALFAILOVER: u8 = 1 << 4;
}

const FAIL_REPORT_VALIDITY_MULT: i64 = 2;
const FAIL_UNDO_TIME_MULT: i64 = 2;
/// Milliseconds a manual failover may take.
pub const MF_TIMEOUT: i64 = 5000;
const MF_PAUSE_MULT: i64 = 2;
const SLAVE_MIGRATION_DELAY: i64 = 5000;
const BLACKLIST_TTL_SECS: i64 = 60;
const MAX_REJOIN_DELAY: i64 = 5000;
const MIN_REJOIN_DELAY: i64 = 500;
const WRITABLE_DELAY: i64 = 2000;
const CANT_FAILOVER_RELOG_SECS: i64 = 300;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CantFailover {
    None,
    DataAge,
    WaitingDelay,
    Expired,
    WaitingVotes,
}

/// What the cluster asks of the rest of the server.
#[derive(Debug)]
pub enum Effect {
    /// Replicate this address (replicationSetMaster).
    SetMaster(String, u16),
    /// Stop replicating (replicationUnsetMaster).
    UnsetMaster,
    /// Drop every key in the slot (delKeysInSlot), and its shard channels.
    DelKeysInSlot(u16),
    /// Drop the shard channels of a slot we no longer serve.
    RemoveShardChannels(u16),
    /// Deliver a message published elsewhere in the cluster.
    Publish {
        shard: bool,
        channel: Vec<u8>,
        message: Vec<u8>,
    },
    /// Pause writes until this time (a replica asked for a manual failover).
    PauseWrites(i64),
    Unpause,
    /// Empty the dataset (a replica reset into a master).
    FlushData,
}

pub struct Node {
    pub name: Name,
    pub ctime: i64,
    pub flags: u16,
    pub config_epoch: u64,
    pub slots: Box<[u8; SLOT_BYTES]>,
    pub numslots: usize,
    pub replicas: Vec<NodeId>,
    pub master: Option<NodeId>,
    pub ping_sent: i64,
    pub pong_received: i64,
    pub data_received: i64,
    pub fail_time: i64,
    pub voted_time: i64,
    pub repl_offset_time: i64,
    pub orphaned_time: i64,
    pub repl_offset: u64,
    pub ip: String,
    pub hostname: String,
    pub port: u16,
    pub pport: u16,
    pub cport: u16,
    pub link: Option<LinkId>,
    pub inbound_link: Option<LinkId>,
    /// Masters that reported this node failing, and when.
    pub fail_reports: Vec<(NodeId, i64)>,
    /// The shard (a master and its replicas) it belongs to (Redis 7.2; random until the
    /// node or its master tells).
    pub shard_id: Name,
    /// Whether it speaks Redis 7.2's ping extensions (forgotten nodes, shard id): None until
    /// it sent a PING/PONG/MEET. Redis 7.0 logs a warning for each extension it does not
    /// know, so those nodes are not sent them.
    pub speaks_v72_exts: Option<bool>,
}

impl Node {
    fn new(name: Name, flags: u16, now: i64) -> Node {
        Node {
            name,
            ctime: now,
            flags,
            config_epoch: 0,
            slots: Box::new([0; SLOT_BYTES]),
            numslots: 0,
            replicas: Vec::new(),
            master: None,
            ping_sent: 0,
            pong_received: 0,
            data_received: 0,
            fail_time: 0,
            voted_time: 0,
            repl_offset_time: 0,
            orphaned_time: 0,
            repl_offset: 0,
            ip: String::new(),
            hostname: String::new(),
            port: 0,
            pport: 0,
            cport: 0,
            link: None,
            inbound_link: None,
            fail_reports: Vec::new(),
            shard_id: random_name(),
            speaks_v72_exts: None,
        }
    }

    pub fn is(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }
    pub fn is_master(&self) -> bool {
        self.is(nf::MASTER)
    }
    pub fn is_replica(&self) -> bool {
        self.is(nf::SLAVE)
    }
    pub fn failed(&self) -> bool {
        self.is(nf::FAIL)
    }
    pub fn timed_out(&self) -> bool {
        self.is(nf::PFAIL)
    }
    pub fn in_handshake(&self) -> bool {
        self.is(nf::HANDSHAKE)
    }
    pub fn has_slot(&self, slot: usize) -> bool {
        bit(&self.slots[..], slot)
    }
    /// The port a client should use: the plaintext one (`pport`) when `use_pport` and the
    /// node announced one (Redis's `use_pport && node->pport ? node->pport : node->port`).
    pub fn client_port(&self, use_pport: bool) -> u16 {
        if use_pport && self.pport != 0 {
            self.pport
        } else {
            self.port
        }
    }
    pub fn name_str(&self) -> &str {
        std::str::from_utf8(&self.name).unwrap_or("")
    }
}

pub fn bit(bitmap: &[u8], pos: usize) -> bool {
    bitmap[pos / 8] & (1 << (pos & 7)) != 0
}
fn set_bit(bitmap: &mut [u8], pos: usize) {
    bitmap[pos / 8] |= 1 << (pos & 7);
}
fn clear_bit(bitmap: &mut [u8], pos: usize) {
    bitmap[pos / 8] &= !(1 << (pos & 7));
}

/// A bus connection: outbound (we connected to `node`) or inbound (accepted; the node is
/// known once its first message names it).
pub struct Link {
    pub node: Option<NodeId>,
    pub inbound: bool,
    pub ctime: i64,
    pub out: Vec<u8>,
    /// Bytes of the frame being received.
    pub rcv: Vec<u8>,
    /// The connect finished (outbound) or the socket was accepted.
    pub connected: bool,
    /// The peer's address and the local address of the socket.
    pub peer_ip: String,
    pub local_ip: String,
    /// Where an outbound link connects.
    pub target: Option<(String, u16)>,
    /// Whether the peer's last PING/PONG/MEET carried Redis 7.2's shard id extension.
    pub peer_v72_exts: Option<bool>,
}

/// Settings the cluster reads (refreshed from the config before use).
#[derive(Clone, Default)]
pub struct ClusterSettings {
    pub node_timeout: i64,
    pub announce_ip: Option<String>,
    pub announce_hostname: String,
    pub port: u16,
    pub pport: u16,
    pub cport: u16,
    pub require_full_coverage: bool,
    pub replica_validity_factor: i64,
    pub migration_barrier: i64,
    pub allow_replica_migration: bool,
    pub replica_no_failover: bool,
    pub repl_ping_period_secs: i64,
    pub link_sendbuf_limit: usize,
}

/// What the executor tells the cluster about itself for one call.
pub struct Env<'a> {
    pub now: i64,
    pub unix_secs: i64,
    /// master_repl_offset on a master, the applied offset on a replica.
    pub repl_offset: u64,
    /// Milliseconds since the master was last heard from (or since the link went down).
    pub master_data_age_ms: i64,
    pub keys_in_slot: &'a dyn Fn(usize) -> usize,
}

pub struct Cluster {
    nodes: Vec<Option<Node>>,
    free_ids: Vec<NodeId>,
    by_name: HashMap<Name, NodeId>,
    pub myself: NodeId,
    pub current_epoch: u64,
    pub last_vote_epoch: u64,
    pub state_ok: bool,
    pub size: usize,
    pub slots: Vec<Option<NodeId>>,
    pub migrating: Vec<Option<NodeId>>,
    pub importing: Vec<Option<NodeId>>,
    blacklist: HashMap<Name, i64>,
    failover_auth_time: i64,
    failover_auth_count: usize,
    failover_auth_sent: bool,
    failover_auth_rank: usize,
    failover_auth_epoch: u64,
    cant_failover_reason: CantFailover,
    cant_failover_lastlog: i64,
    pub mf_end: i64,
    /// A replica of ours asked for a manual failover: writes are held meanwhile.
    pub mf_slave: Option<NodeId>,
    mf_master_offset: i64,
    mf_can_start: bool,
    pub todo: u8,
    pub stats_sent: [u64; ty::COUNT],
    pub stats_received: [u64; ty::COUNT],
    stats_pfail_nodes: usize,
    pub stat_links_buffer_limit_exceeded: u64,
    pub links: HashMap<LinkId, Link>,
    next_link: LinkId,
    /// Outbound links for the network layer to connect.
    pub connect_queue: Vec<LinkId>,
    /// Links freed here whose sockets the network layer must close.
    pub closed_links: Vec<LinkId>,
    pub effects: Vec<Effect>,
    iteration: u64,
    first_update_ms: i64,
    among_minority_ms: i64,
    pub cfg: ClusterSettings,
    /// DEBUG CLUSTERLINK / drop filters are not modelled; messages of this type are dropped.
    pub drop_packet_filter: Option<u16>,
    /// The replication offset of the last cron (for messages sent outside a call with an Env).
    last_offset: u64,
    /// A failover was won: the config is saved (and fsynced) before the next sleep.
    save_now: bool,
    /// When the cluster cron last ran (it runs every 100 ms).
    pub last_cron_ms: i64,
}

/// A node id as Redis checks it: 40 characters of [a-z0-9].
pub fn valid_name(name: &[u8]) -> bool {
    name.len() == NAME_LEN
        && name
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Who a node description is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodesView {
    /// CLUSTER NODES/REPLICAS: `use_pport` names plaintext ports (a plaintext client of a
    /// `tls-cluster` node).
    Client { use_pport: bool },
    /// nodes.conf: Redis 7.2's format, with the auxiliary fields (shard-id).
    ConfigFile,
}

pub fn random_name() -> Name {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut n = [0u8; NAME_LEN];
    for c in n.iter_mut() {
        *c = HEX[(rand::random::<u8>() & 15) as usize];
    }
    n
}

impl Cluster {
    /// A cluster that knows only a fresh `myself` (a master with a random name).
    pub fn new(now: i64, cfg: ClusterSettings) -> Cluster {
        let mut c = Cluster {
            nodes: Vec::new(),
            free_ids: Vec::new(),
            by_name: HashMap::new(),
            myself: 0,
            current_epoch: 0,
            last_vote_epoch: 0,
            state_ok: false,
            size: 1,
            slots: vec![None; SLOTS],
            migrating: vec![None; SLOTS],
            importing: vec![None; SLOTS],
            blacklist: HashMap::new(),
            failover_auth_time: 0,
            failover_auth_count: 0,
            failover_auth_sent: false,
            failover_auth_rank: 0,
            failover_auth_epoch: 0,
            cant_failover_reason: CantFailover::None,
            cant_failover_lastlog: 0,
            mf_end: 0,
            mf_slave: None,
            mf_master_offset: -1,
            mf_can_start: false,
            todo: 0,
            stats_sent: [0; ty::COUNT],
            stats_received: [0; ty::COUNT],
            stats_pfail_nodes: 0,
            stat_links_buffer_limit_exceeded: 0,
            links: HashMap::new(),
            next_link: 1,
            connect_queue: Vec::new(),
            closed_links: Vec::new(),
            effects: Vec::new(),
            iteration: 0,
            first_update_ms: 0,
            among_minority_ms: 0,
            cfg,
            drop_packet_filter: None,
            last_offset: 0,
            save_now: false,
            last_cron_ms: 0,
        };
        c.myself = c.add_node(Node::new(random_name(), nf::MYSELF | nf::MASTER, now));
        c
    }

    // ---------------------------------------------------------------- node table

    pub fn node(&self, id: NodeId) -> &Node {
        self.nodes[id].as_ref().expect("live node id")
    }
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        self.nodes[id].as_mut().expect("live node id")
    }
    pub fn me(&self) -> &Node {
        self.node(self.myself)
    }
    fn me_mut(&mut self) -> &mut Node {
        let id = self.myself;
        self.node_mut(id)
    }
    pub fn node_ids(&self) -> Vec<NodeId> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_some())
            .collect()
    }
    pub fn node_count(&self) -> usize {
        self.by_name.len()
    }
    pub fn lookup(&self, name: &[u8]) -> Option<NodeId> {
        if !valid_name(name) {
            return None;
        }
        let name: Name = name.try_into().ok()?;
        self.by_name.get(&name).copied()
    }
    fn lookup_exact(&self, name: &Name) -> Option<NodeId> {
        self.by_name.get(name).copied()
    }

    fn add_node(&mut self, node: Node) -> NodeId {
        let name = node.name;
        let id = match self.free_ids.pop() {
            Some(id) => {
                self.nodes[id] = Some(node);
                id
            }
            None => {
                self.nodes.push(Some(node));
                self.nodes.len() - 1
            }
        };
        self.by_name.insert(name, id);
        id
    }

    /// The node of a name, created (with no flags) if unknown: nodes.conf and gossip refer
    /// to masters before they are described.
    pub fn node_by_name_or_new(&mut self, name: Name, now: i64) -> NodeId {
        match self.lookup_exact(&name) {
            Some(id) => id,
            None => self.add_node(Node::new(name, 0, now)),
        }
    }

    fn rename_node(&mut self, id: NodeId, new: Name) {
        let old = self.node(id).name;
        tracing::debug!(
            "Renaming node {} into {}",
            String::from_utf8_lossy(&old),
            String::from_utf8_lossy(&new)
        );
        self.by_name.remove(&old);
        self.node_mut(id).name = new;
        self.by_name.insert(new, id);
    }

    /// Removes a node: its slots become unassigned, its failure reports go, its links close
    /// (Redis's clusterDelNode).
    pub fn del_node(&mut self, id: NodeId) {
        for s in 0..SLOTS {
            if self.importing[s] == Some(id) {
                self.importing[s] = None;
            }
            if self.migrating[s] == Some(id) {
                self.migrating[s] = None;
            }
            if self.slots[s] == Some(id) {
                self.del_slot(s);
            }
        }
        for other in self.node_ids() {
            if other != id {
                self.del_failure_report(other, id, i64::MAX);
            }
        }
        let node = self.nodes[id].take().expect("live node");
        for r in &node.replicas {
            if let Some(n) = self.nodes[*r].as_mut() {
                n.master = None;
            }
        }
        if node.is_replica() {
            if let Some(m) = node.master {
                self.remove_replica(m, id);
            }
        }
        self.by_name.remove(&node.name);
        for link in [node.link, node.inbound_link].into_iter().flatten() {
            self.free_link(link);
        }
        self.free_ids.push(id);
    }

    fn remove_replica(&mut self, master: NodeId, replica: NodeId) {
        let m = self.node_mut(master);
        if let Some(pos) = m.replicas.iter().position(|&r| r == replica) {
            m.replicas.remove(pos);
            if m.replicas.is_empty() {
                m.flags &= !nf::MIGRATE_TO;
            }
        }
    }

    pub fn add_replica(&mut self, master: NodeId, replica: NodeId) {
        let m = self.node_mut(master);
        if !m.replicas.contains(&replica) {
            m.replicas.push(replica);
            m.flags |= nf::MIGRATE_TO;
        }
    }

    fn count_non_failing_replicas(&self, id: NodeId) -> usize {
        self.node(id)
            .replicas
            .iter()
            .filter(|&&r| !self.node(r).failed())
            .count()
    }

    // ---------------------------------------------------------------- failure reports

    fn add_failure_report(&mut self, failing: NodeId, sender: NodeId, now: i64) -> bool {
        let n = self.node_mut(failing);
        if let Some(r) = n.fail_reports.iter_mut().find(|r| r.0 == sender) {
            r.1 = now;
            return false;
        }
        n.fail_reports.push((sender, now));
        true
    }

    fn cleanup_failure_reports(&mut self, id: NodeId, now: i64) {
        let max = self.cfg.node_timeout * FAIL_REPORT_VALIDITY_MULT;
        self.node_mut(id)
            .fail_reports
            .retain(|r| now.saturating_sub(r.1) <= max);
    }

    fn del_failure_report(&mut self, id: NodeId, sender: NodeId, now: i64) -> bool {
        let n = self.node_mut(id);
        let Some(pos) = n.fail_reports.iter().position(|r| r.0 == sender) else {
            return false;
        };
        n.fail_reports.remove(pos);
        if now != i64::MAX {
            self.cleanup_failure_reports(id, now);
        }
        true
    }

    pub fn failure_reports_count(&mut self, id: NodeId, now: i64) -> usize {
        self.cleanup_failure_reports(id, now);
        self.node(id).fail_reports.len()
    }

    // ---------------------------------------------------------------- epochs

    pub fn max_epoch(&self) -> u64 {
        self.nodes
            .iter()
            .flatten()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0)
            .max(self.current_epoch)
    }

    /// A new config epoch for this node without agreement (after importing a slot, or a
    /// forced takeover); false if ours is already the greatest.
    pub fn bump_epoch_without_consensus(&mut self) -> bool {
        let max = self.max_epoch();
        let mine = self.me().config_epoch;
        if mine == 0 || mine != max {
            self.current_epoch += 1;
            let epoch = self.current_epoch;
            self.me_mut().config_epoch = epoch;
            self.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG;
            tracing::warn!("New configEpoch set to {epoch}");
            true
        } else {
            false
        }
    }

    /// Two masters with the same config epoch: the one with the smaller name moves on.
    fn handle_epoch_collision(&mut self, sender: NodeId) {
        let (s, me) = (self.node(sender), self.me());
        if s.config_epoch != me.config_epoch || !s.is_master() || !me.is_master() {
            return;
        }
        if s.name <= me.name {
            return;
        }
        self.current_epoch += 1;
        let epoch = self.current_epoch;
        self.me_mut().config_epoch = epoch;
        self.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG;
        tracing::debug!(
            "WARNING: configEpoch collision with node {}. configEpoch set to {epoch}",
            self.node(sender).name_str()
        );
    }

    // ---------------------------------------------------------------- blacklist

    fn blacklist_cleanup(&mut self, unix_secs: i64) {
        self.blacklist.retain(|_, expire| *expire >= unix_secs);
    }
    pub fn blacklist_add(&mut self, name: Name, unix_secs: i64) {
        self.blacklist_cleanup(unix_secs);
        self.blacklist.insert(name, unix_secs + BLACKLIST_TTL_SECS);
    }
    fn blacklisted(&mut self, name: &Name, unix_secs: i64) -> bool {
        self.blacklist_cleanup(unix_secs);
        self.blacklist.contains_key(name)
    }

    // ---------------------------------------------------------------- failure detection

    fn mark_failing_if_needed(&mut self, id: NodeId, now: i64) {
        let quorum = self.size / 2 + 1;
        let n = self.node(id);
        if !n.timed_out() || n.failed() {
            return;
        }
        let mut failures = self.failure_reports_count(id, now);
        if self.me().is_master() {
            failures += 1;
        }
        if failures < quorum {
            return;
        }
        tracing::info!(
            "Marking node {} as failing (quorum reached).",
            self.node(id).name_str()
        );
        let n = self.node_mut(id);
        n.flags &= !nf::PFAIL;
        n.flags |= nf::FAIL;
        n.fail_time = now;
        let name = n.name;
        self.send_fail(&name);
        self.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
    }

    fn clear_failure_if_needed(&mut self, id: NodeId, now: i64) {
        let timeout = self.cfg.node_timeout;
        let n = self.node_mut(id);
        if n.is_replica() || n.numslots == 0 {
            tracing::info!(
                "Clear FAIL state for node {}: {} is reachable again.",
                n.name_str(),
                if n.is_replica() {
                    "replica"
                } else {
                    "master without slots"
                }
            );
            n.flags &= !nf::FAIL;
            self.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
            return;
        }
        if n.is_master() && n.numslots > 0 && now - n.fail_time > timeout * FAIL_UNDO_TIME_MULT {
            tracing::info!(
                "Clear FAIL state for node {}: is reachable again and nobody is serving its slots after some time.",
                n.name_str()
            );
            n.flags &= !nf::FAIL;
            self.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
        }
    }

    fn handshake_in_progress(&self, ip: &str, port: u16, cport: u16) -> bool {
        self.nodes.iter().flatten().any(|n| {
            n.in_handshake() && n.ip.eq_ignore_ascii_case(ip) && n.port == port && n.cport == cport
        })
    }

    /// CLUSTER MEET: a handshake node for the address (Some(false) if one is in progress,
    /// None for an invalid address).
    pub fn start_handshake(&mut self, ip: &str, port: i64, cport: i64, now: i64) -> Option<bool> {
        let norm = match ip.parse::<core::net::IpAddr>() {
            Ok(a) => a.to_string(),
            Err(_) => return None,
        };
        if !(1..=65535).contains(&port) || !(1..=65535).contains(&cport) {
            return None;
        }
        let (port, cport) = (port as u16, cport as u16);
        if self.handshake_in_progress(&norm, port, cport) {
            return Some(false);
        }
        let mut n = Node::new(random_name(), nf::HANDSHAKE | nf::MEET, now);
        n.ip = norm;
        n.port = port;
        n.cport = cport;
        self.add_node(n);
        Some(true)
    }

    // ---------------------------------------------------------------- slots

    fn masters_have_replicas(&self) -> bool {
        self.nodes
            .iter()
            .flatten()
            .filter(|n| !n.is_replica())
            .any(|n| !n.replicas.is_empty())
    }

    fn set_slot_bit(&mut self, id: NodeId, slot: usize) -> bool {
        let have_replicas = self.masters_have_replicas();
        let n = self.node_mut(id);
        let old = bit(&n.slots[..], slot);
        set_bit(&mut n.slots[..], slot);
        if !old {
            n.numslots += 1;
            if n.numslots == 1 && have_replicas {
                n.flags |= nf::MIGRATE_TO;
            }
        }
        old
    }

    pub fn add_slot(&mut self, id: NodeId, slot: usize) -> bool {
        if self.slots[slot].is_some() {
            return false;
        }
        self.set_slot_bit(id, slot);
        self.slots[slot] = Some(id);
        true
    }

    pub fn del_slot(&mut self, slot: usize) -> bool {
        let Some(id) = self.slots[slot] else {
            return false;
        };
        // Shard channels of a slot our shard no longer serves are unsubscribed.
        let shard_master = if self.node(id).is_master() {
            Some(id)
        } else {
            self.node(id).master
        };
        let my_master = if self.me().is_master() {
            Some(self.myself)
        } else {
            self.me().master
        };
        if shard_master.is_some() && shard_master == my_master {
            self.effects.push(Effect::RemoveShardChannels(slot as u16));
        }
        let n = self.node_mut(id);
        clear_bit(&mut n.slots[..], slot);
        n.numslots -= 1;
        self.slots[slot] = None;
        true
    }

    fn del_node_slots(&mut self, id: NodeId) -> usize {
        let mut deleted = 0;
        for s in 0..SLOTS {
            if self.node(id).has_slot(s) {
                self.del_slot(s);
                deleted += 1;
            }
        }
        deleted
    }

    pub fn close_all_slots(&mut self) {
        self.migrating.iter_mut().for_each(|s| *s = None);
        self.importing.iter_mut().for_each(|s| *s = None);
    }

    // ---------------------------------------------------------------- roles

    fn set_node_as_master(&mut self, id: NodeId) {
        if self.node(id).is_master() {
            return;
        }
        if let Some(m) = self.node(id).master {
            self.remove_replica(m, id);
            if id != self.myself {
                self.node_mut(id).flags |= nf::MIGRATE_TO;
            }
        }
        let n = self.node_mut(id);
        n.flags &= !nf::SLAVE;
        n.flags |= nf::MASTER;
        n.master = None;
        self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
    }

    /// Puts `id` in shard `shard`; a replica of `id` (us) follows (Redis 7.2's
    /// updateShardId).
    fn update_shard_id(&mut self, id: NodeId, shard: Name) {
        if self.node(id).shard_id != shard {
            self.node_mut(id).shard_id = shard;
            self.todo |= todo::SAVE_CONFIG;
        }
        if id != self.myself && self.me().master == Some(id) && self.me().shard_id != shard {
            self.me_mut().shard_id = shard;
            self.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG;
        }
    }

    /// Makes this node a replica of `master` (Redis's clusterSetMaster).
    pub fn set_master(&mut self, master: NodeId) {
        let me = self.myself;
        if self.me().is_master() {
            let m = self.me_mut();
            m.flags &= !(nf::MASTER | nf::MIGRATE_TO);
            m.flags |= nf::SLAVE;
            self.close_all_slots();
        } else if let Some(old) = self.me().master {
            self.remove_replica(old, me);
        }
        self.me_mut().master = Some(master);
        self.add_replica(master, me);
        let shard = self.node(master).shard_id;
        self.update_shard_id(me, shard);
        let (ip, port) = (self.node(master).ip.clone(), self.node(master).port);
        self.effects.push(Effect::SetMaster(ip, port));
        self.reset_manual_failover();
    }

    /// CLUSTER RESET: forget everyone, drop slots; HARD also takes a new name and zeroes
    /// the epochs.
    pub fn reset(&mut self, hard: bool, now: i64) {
        if self.me().is_replica() {
            let me = self.myself;
            self.set_node_as_master(me);
            self.effects.push(Effect::UnsetMaster);
            self.effects.push(Effect::FlushData);
        }
        self.close_all_slots();
        self.reset_manual_failover();
        for s in 0..SLOTS {
            self.del_slot(s);
        }
        for id in self.node_ids() {
            if id != self.myself {
                self.del_node(id);
            }
        }
        if hard {
            self.current_epoch = 0;
            self.last_vote_epoch = 0;
            self.me_mut().config_epoch = 0;
            tracing::warn!("configEpoch set to 0 via CLUSTER RESET HARD");
            let me = self.myself;
            self.rename_node(me, random_name());
            tracing::info!("Node hard reset, now I'm {}", self.me().name_str());
        }
        let _ = now;
        self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE | todo::FSYNC_CONFIG;
    }

    // ---------------------------------------------------------------- links

    /// A link record for an accepted bus connection.
    pub fn new_inbound_link(&mut self, now: i64, peer_ip: String, local_ip: String) -> LinkId {
        let id = self.next_link;
        self.next_link += 1;
        self.links.insert(
            id,
            Link {
                peer_v72_exts: None,
                node: None,
                inbound: true,
                ctime: now,
                out: Vec::new(),
                rcv: Vec::new(),
                connected: true,
                peer_ip,
                local_ip,
                target: None,
            },
        );
        id
    }

    fn new_outbound_link(&mut self, node: NodeId, now: i64) -> LinkId {
        let id = self.next_link;
        self.next_link += 1;
        let n = self.node(node);
        let target = Some((n.ip.clone(), n.cport));
        self.links.insert(
            id,
            Link {
                peer_v72_exts: None,
                node: Some(node),
                inbound: false,
                ctime: now,
                out: Vec::new(),
                rcv: Vec::new(),
                connected: false,
                peer_ip: String::new(),
                local_ip: String::new(),
                target,
            },
        );
        self.node_mut(node).link = Some(id);
        self.connect_queue.push(id);
        id
    }

    /// Forgets a link; the network layer closes its socket.
    pub fn free_link(&mut self, id: LinkId) {
        let Some(link) = self.links.remove(&id) else {
            return;
        };
        if let Some(n) = link.node.and_then(|n| self.nodes[n].as_mut()) {
            if n.link == Some(id) {
                n.link = None;
            } else if n.inbound_link == Some(id) {
                n.inbound_link = None;
            }
        }
        self.closed_links.push(id);
    }

    /// The outbound connection failed before it was up.
    pub fn link_connect_failed(&mut self, id: LinkId, now: i64, why: &str) {
        if let Some(node) = self.links.get(&id).and_then(|l| l.node) {
            let n = self.node_mut(node);
            if n.ping_sent == 0 {
                n.ping_sent = now;
            }
            tracing::debug!(
                "Connection with Node {} at {}:{} failed: {why}",
                n.name_str(),
                n.ip,
                n.cport
            );
        }
        self.free_link(id);
    }

    /// The outbound connection is up: PING (or MEET) at once, so failure detection has a
    /// ping to time.
    pub fn link_connected(&mut self, id: LinkId, local_ip: String, env: &Env) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        link.connected = true;
        link.local_ip = local_ip;
        let Some(node) = link.node else { return };
        let old_ping_sent = self.node(node).ping_sent;
        let meet = self.node(node).is(nf::MEET);
        self.send_ping(id, if meet { ty::MEET } else { ty::PING }, env);
        if old_ping_sent != 0 {
            self.node_mut(node).ping_sent = old_ping_sent;
        }
        self.node_mut(node).flags &= !nf::MEET;
    }

    fn send(&mut self, link: LinkId, bytes: &[u8]) {
        let t = wire::frame_type(bytes) as usize;
        if let Some(l) = self.links.get_mut(&link) {
            l.out.extend_from_slice(bytes);
            if t < ty::COUNT {
                self.stats_sent[t] += 1;
            }
        }
    }

    fn broadcast(&mut self, bytes: &[u8]) {
        for id in self.node_ids() {
            let n = self.node(id);
            if n.is(nf::MYSELF | nf::HANDSHAKE) {
                continue;
            }
            if let Some(link) = n.link {
                self.send(link, bytes);
            }
        }
    }

    // ---------------------------------------------------------------- messages out

    fn header(&self, t: u16, env: &Env) -> Header {
        let me = self.me();
        let master = match me.master {
            Some(m) if me.is_replica() => self.node(m),
            _ => me,
        };
        Header {
            ty: t,
            count: 0,
            port: self.cfg.port,
            current_epoch: self.current_epoch,
            config_epoch: master.config_epoch,
            offset: env.repl_offset,
            sender: me.name,
            myslots: master.slots.clone(),
            slaveof: me.master.map_or(NULL_NAME, |m| self.node(m).name),
            myip: self
                .cfg
                .announce_ip
                .as_deref()
                .unwrap_or("")
                .as_bytes()
                .to_vec(),
            extensions: 0,
            pport: self.cfg.pport,
            cport: self.cfg.cport,
            flags: me.flags,
            state: if self.state_ok { 0 } else { 1 },
            mflags: [
                if me.is_master() && self.mf_end != 0 {
                    wire::mflag::PAUSED
                } else {
                    0
                },
                0,
                0,
            ],
        }
    }

    fn gossip_entry(n: &Node) -> Gossip {
        Gossip {
            name: n.name,
            ping_sent: (n.ping_sent / 1000) as u32,
            pong_received: (n.pong_received / 1000) as u32,
            ip: n.ip.as_bytes().to_vec(),
            port: n.port,
            cport: n.cport,
            flags: n.flags,
            pport: n.pport,
        }
    }

    /// PING, PONG or MEET with gossip about a tenth of the nodes (at least 3) plus every
    /// node we think is failing (Redis's clusterSendPing).
    pub fn send_ping(&mut self, link: LinkId, t: u16, env: &Env) {
        let Some(l) = self.links.get(&link) else {
            return;
        };
        let (inbound, target, peer_v72) = (l.inbound, l.node, l.peer_v72_exts);
        let total = self.node_count();
        let mut fresh = total.saturating_sub(2);
        let wanted = (total / 10).max(3).min(fresh);
        if !inbound && t == ty::PING {
            if let Some(n) = target {
                self.node_mut(n).ping_sent = env.now;
            }
        }
        let hdr = self.header(t, env);
        let ids = self.node_ids();
        let mut gossip: Vec<Gossip> = Vec::with_capacity(wanted + self.stats_pfail_nodes);
        let mut iterations = wanted * 3;
        while fresh > 0 && gossip.len() < wanted && iterations > 0 {
            iterations -= 1;
            let id = ids[(rand::random::<u32>() as usize) % ids.len()];
            let n = self.node(id);
            if id == self.myself || n.timed_out() {
                continue;
            }
            if n.is(nf::HANDSHAKE | nf::NOADDR) || (n.link.is_none() && n.numslots == 0) {
                fresh -= 1;
                continue;
            }
            if gossip.iter().any(|g| g.name == n.name) {
                continue;
            }
            gossip.push(Self::gossip_entry(n));
            fresh -= 1;
        }
        let mut pfail_wanted = self.stats_pfail_nodes;
        for &id in &ids {
            if pfail_wanted == 0 {
                break;
            }
            let n = self.node(id);
            if n.is(nf::HANDSHAKE | nf::NOADDR) || !n.timed_out() {
                continue;
            }
            gossip.push(Self::gossip_entry(n));
            pfail_wanted -= 1;
        }
        let hostname = (!self.cfg.announce_hostname.is_empty())
            .then(|| self.cfg.announce_hostname.as_bytes().to_vec());
        // Redis 7.2's extensions go to nodes that speak them, and to nodes not heard yet.
        let v72 = peer_v72
            .or_else(|| target.and_then(|n| self.node(n).speaks_v72_exts))
            .unwrap_or(true);
        let (forgotten, shard_id) = if v72 {
            let forgotten = self
                .blacklist
                .iter()
                .filter(|&(_, &expire)| expire >= env.unix_secs)
                .map(|(name, &expire)| (*name, (expire - env.unix_secs) as u64))
                .collect();
            (forgotten, Some(self.me().shard_id))
        } else {
            (Vec::new(), None)
        };
        let bytes = wire::encode(
            hdr,
            &Body::Ping {
                gossip,
                hostname,
                forgotten,
                shard_id,
            },
        );
        self.send(link, &bytes);
    }

    /// A PONG to every connected node (or only to the replicas of our shard), so a
    /// configuration change spreads at once.
    fn broadcast_pong(&mut self, local_replicas_only: bool, env: &Env) {
        let me = self.myself;
        let my_master = self.me().master;
        for id in self.node_ids() {
            let n = self.node(id);
            let Some(link) = n.link else { continue };
            if id == me || n.in_handshake() {
                continue;
            }
            if local_replicas_only {
                let local = n.is_replica()
                    && n.master.is_some()
                    && (n.master == Some(me) || n.master == my_master);
                if !local {
                    continue;
                }
            }
            self.send_ping(link, ty::PONG, env);
        }
    }

    /// A PONG to every connected node (after taking a slot, so it is known at once).
    pub fn broadcast_pong_all(&mut self, env: &Env) {
        self.broadcast_pong(false, env);
    }

    fn send_fail(&mut self, about: &Name) {
        let env_less = self.header_no_env(ty::FAIL);
        let bytes = wire::encode(env_less, &Body::Fail { about: *about });
        self.broadcast(&bytes);
    }

    /// A header for messages whose offset field nobody reads on receipt of that type
    /// beyond the sender's bookkeeping; it carries the last offset we announced.
    fn header_no_env(&self, t: u16) -> Header {
        let env = Env {
            now: 0,
            unix_secs: 0,
            repl_offset: self.last_offset,
            master_data_age_ms: 0,
            keys_in_slot: &|_| 0,
        };
        self.header(t, &env)
    }

    fn send_update(&mut self, link: Option<LinkId>, about: NodeId) {
        let Some(link) = link else { return };
        let n = self.node(about);
        let body = Body::Update {
            config_epoch: n.config_epoch,
            name: n.name,
            slots: n.slots.clone(),
        };
        let bytes = wire::encode(self.header_no_env(ty::UPDATE), &body);
        self.send(link, &bytes);
    }

    /// PUBLISH to every node, or SPUBLISH to the other nodes of our shard.
    pub fn propagate_publish(&mut self, channel: &[u8], message: &[u8], shard: bool) {
        let t = if shard { ty::PUBLISHSHARD } else { ty::PUBLISH };
        let bytes = wire::encode(
            self.header_no_env(t),
            &Body::Publish {
                channel: channel.to_vec(),
                message: message.to_vec(),
            },
        );
        if !shard {
            self.broadcast(&bytes);
            return;
        }
        let me = self.myself;
        let master = if self.me().is_master() {
            Some(me)
        } else {
            self.me().master
        };
        let Some(master) = master else { return };
        let mut shard_nodes = vec![master];
        shard_nodes.extend(self.node(master).replicas.iter().copied());
        for id in shard_nodes {
            if id != me {
                if let Some(link) = self.node(id).link {
                    self.send(link, &bytes);
                }
            }
        }
    }

    fn request_failover_auth(&mut self, env: &Env) {
        let mut hdr = self.header(ty::FAILOVER_AUTH_REQUEST, env);
        if self.mf_end != 0 {
            hdr.mflags[0] |= wire::mflag::FORCEACK;
        }
        let bytes = wire::encode(hdr, &Body::Empty);
        self.broadcast(&bytes);
    }

    fn send_header_only(&mut self, to: NodeId, t: u16, env: &Env) {
        let Some(link) = self.node(to).link else {
            return;
        };
        let bytes = wire::encode(self.header(t, env), &Body::Empty);
        self.send(link, &bytes);
    }

    /// Votes for a replica asking to replace its failed master, when Redis would.
    fn send_failover_auth_if_needed(&mut self, node: NodeId, req: &Header, env: &Env) {
        let me = self.me();
        if me.is_replica() || me.numslots == 0 {
            return;
        }
        let name = self.node(node).name_str().to_string();
        if req.current_epoch < self.current_epoch {
            tracing::warn!(
                "Failover auth denied to {name}: reqEpoch ({}) < curEpoch({})",
                req.current_epoch,
                self.current_epoch
            );
            return;
        }
        if self.last_vote_epoch == self.current_epoch {
            tracing::warn!(
                "Failover auth denied to {name}: already voted for epoch {}",
                self.current_epoch
            );
            return;
        }
        let force_ack = req.mflags[0] & wire::mflag::FORCEACK != 0;
        let n = self.node(node);
        let master = n.master;
        if n.is_master() {
            tracing::warn!("Failover auth denied to {name}: it is a master node");
            return;
        }
        let Some(master) = master else {
            tracing::warn!("Failover auth denied to {name}: I don't know its master");
            return;
        };
        if !self.node(master).failed() && !force_ack {
            tracing::warn!("Failover auth denied to {name}: its master is up");
            return;
        }
        let since_vote = env.now - self.node(master).voted_time;
        if since_vote < self.cfg.node_timeout * 2 {
            tracing::warn!(
                "Failover auth denied to {name}: can't vote about this master before {} milliseconds",
                self.cfg.node_timeout * 2 - since_vote
            );
            return;
        }
        for s in 0..SLOTS {
            if !bit(&req.myslots[..], s) {
                continue;
            }
            let Some(owner) = self.slots[s] else { continue };
            let epoch = self.node(owner).config_epoch;
            if epoch <= req.config_epoch {
                continue;
            }
            tracing::warn!(
                "Failover auth denied to {name}: slot {s} epoch ({epoch}) > reqEpoch ({})",
                req.config_epoch
            );
            return;
        }
        self.last_vote_epoch = self.current_epoch;
        self.node_mut(master).voted_time = env.now;
        self.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG;
        self.send_header_only(node, ty::FAILOVER_AUTH_ACK, env);
        tracing::warn!(
            "Failover auth granted to {name} for epoch {}",
            self.current_epoch
        );
    }

    // ---------------------------------------------------------------- messages in

    /// Where the sender's address comes from: its announced IP or the socket's peer.
    fn announced_ip(link: &Link, myip: &[u8]) -> String {
        if myip.is_empty() {
            link.peer_ip.clone()
        } else {
            String::from_utf8_lossy(myip).into_owned()
        }
    }

    /// The sender's address changed: take the new one and reconnect (Redis's
    /// nodeUpdateAddressIfNeeded).
    fn update_address_if_needed(&mut self, node: NodeId, link: LinkId, h: &Header) -> bool {
        if self.node(node).link == Some(link) {
            return false;
        }
        let Some(l) = self.links.get(&link) else {
            return false;
        };
        let ip = Self::announced_ip(l, &h.myip);
        let n = self.node(node);
        if n.port == h.port && n.cport == h.cport && n.pport == h.pport && n.ip == ip {
            return false;
        }
        let n = self.node_mut(node);
        n.ip = ip;
        n.port = h.port;
        n.pport = h.pport;
        n.cport = h.cport;
        n.flags &= !nf::NOADDR;
        let old = n.link.take();
        tracing::warn!(
            "Address updated for node {}, now {}:{}",
            n.name_str(),
            n.ip,
            n.port
        );
        if let Some(old) = old {
            if let Some(l) = self.links.get_mut(&old) {
                l.node = None;
            }
            self.free_link(old);
        }
        if self.me().is_replica() && self.me().master == Some(node) {
            let n = self.node(node);
            self.effects.push(Effect::SetMaster(n.ip.clone(), n.port));
        }
        true
    }

    fn process_gossip(&mut self, gossip: &[Gossip], sender: Option<NodeId>, env: &Env) {
        for g in gossip {
            if tracing::enabled!(tracing::Level::DEBUG) {
                tracing::debug!(
                    "GOSSIP {} {}:{}@{} {}",
                    String::from_utf8_lossy(&g.name),
                    String::from_utf8_lossy(&g.ip),
                    g.port,
                    g.cport,
                    flags_repr(g.flags)
                );
            }
            match self.lookup_exact(&g.name) {
                Some(node) => {
                    if let Some(s) = sender {
                        if self.node(s).is_master() && node != self.myself {
                            if g.flags & (nf::FAIL | nf::PFAIL) != 0 {
                                if self.add_failure_report(node, s, env.now) {
                                    tracing::debug!(
                                        "Node {} reported node {} as not reachable.",
                                        self.node(s).name_str(),
                                        self.node(node).name_str()
                                    );
                                }
                                self.mark_failing_if_needed(node, env.now);
                            } else if self.del_failure_report(node, s, env.now) {
                                tracing::debug!(
                                    "Node {} reported node {} is back online.",
                                    self.node(s).name_str(),
                                    self.node(node).name_str()
                                );
                            }
                        }
                    }
                    if g.flags & (nf::FAIL | nf::PFAIL) == 0
                        && self.node(node).ping_sent == 0
                        && self.failure_reports_count(node, env.now) == 0
                    {
                        let pong = g.pong_received as i64 * 1000;
                        let n = self.node_mut(node);
                        if pong <= env.now + 500 && pong > n.pong_received {
                            n.pong_received = pong;
                        }
                    }
                    let n = self.node(node);
                    let gip = String::from_utf8_lossy(&g.ip);
                    if n.is(nf::FAIL | nf::PFAIL)
                        && g.flags & nf::NOADDR == 0
                        && g.flags & (nf::FAIL | nf::PFAIL) == 0
                        && (!n.ip.eq_ignore_ascii_case(&gip)
                            || n.port != g.port
                            || n.cport != g.cport)
                    {
                        let n = self.node_mut(node);
                        let old = n.link.take();
                        n.ip = gip.into_owned();
                        n.port = g.port;
                        n.pport = g.pport;
                        n.cport = g.cport;
                        n.flags &= !nf::NOADDR;
                        if let Some(old) = old {
                            if let Some(l) = self.links.get_mut(&old) {
                                l.node = None;
                            }
                            self.free_link(old);
                        }
                    }
                }
                None => {
                    // Only nodes a known member vouches for, never by address alone: the
                    // address may belong to another cluster by now.
                    if sender.is_some()
                        && g.flags & nf::NOADDR == 0
                        && !self.blacklisted(&g.name, env.unix_secs)
                    {
                        let mut n = Node::new(g.name, g.flags, env.now);
                        n.ip = String::from_utf8_lossy(&g.ip).into_owned();
                        n.port = g.port;
                        n.pport = g.pport;
                        n.cport = g.cport;
                        self.add_node(n);
                    }
                }
            }
        }
    }

    /// Rebinds slots the sender claims with a newer config; we may find we were failed
    /// over and follow the new master (Redis's clusterUpdateSlotsConfigWith).
    fn update_slots_config_with(
        &mut self,
        sender: NodeId,
        sender_epoch: u64,
        slots: &[u8; SLOT_BYTES],
        env: &Env,
    ) {
        if sender == self.myself {
            tracing::warn!("Discarding UPDATE message about myself.");
            return;
        }
        let me = self.myself;
        let curmaster = if self.me().is_master() {
            Some(me)
        } else {
            self.me().master
        };
        let mut newmaster = None;
        let mut dirty = Vec::new();
        let (mut sender_slots, mut migrated_our_slots) = (0, 0);
        for s in 0..SLOTS {
            if !bit(&slots[..], s) {
                continue;
            }
            sender_slots += 1;
            if self.slots[s] == Some(sender) || self.importing[s].is_some() {
                continue;
            }
            let newer = match self.slots[s] {
                None => true,
                Some(owner) => self.node(owner).config_epoch < sender_epoch,
            };
            if newer {
                if self.slots[s] == Some(me) && (env.keys_in_slot)(s) > 0 {
                    dirty.push(s as u16);
                }
                if self.slots[s].is_some() && self.slots[s] == curmaster {
                    newmaster = Some(sender);
                    migrated_our_slots += 1;
                }
                self.del_slot(s);
                self.add_slot(sender, s);
                self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE | todo::FSYNC_CONFIG;
            }
        }
        let cur_numslots = curmaster.map_or(0, |m| self.node(m).numslots);
        let grandmaster = self.me().master.and_then(|m| self.node(m).master);
        if newmaster.is_some()
            && cur_numslots == 0
            && (self.cfg.allow_replica_migration || sender_slots == migrated_our_slots)
        {
            tracing::warn!(
                "Configuration change detected. Reconfiguring myself as a replica of {}",
                self.node(sender).name_str()
            );
            self.set_master(sender);
            self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE | todo::FSYNC_CONFIG;
        } else if let Some(gm) = grandmaster {
            tracing::warn!(
                "I'm a sub-replica! Reconfiguring myself as a replica of grandmaster {}",
                self.node(gm).name_str()
            );
            self.set_master(gm);
            self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE | todo::FSYNC_CONFIG;
        } else {
            for s in dirty {
                self.effects.push(Effect::DelKeysInSlot(s));
            }
        }
    }

    /// The node a message comes from, tying an inbound link to it when first named.
    fn sender_of(&mut self, link: LinkId, h: &Header) -> Option<NodeId> {
        let l = self.links.get(&link)?;
        if let Some(n) = l.node {
            if !self.node(n).in_handshake() {
                return Some(n);
            }
        }
        let sender = self.lookup_exact(&h.sender)?;
        let l = self.links.get_mut(&link)?;
        if l.node.is_none() && l.inbound {
            l.node = Some(sender);
            let n = self.node_mut(sender);
            if let Some(old) = n.inbound_link.replace(link) {
                tracing::debug!("Replacing inbound link from node {}", n.name_str());
                let _ = old;
            }
        }
        Some(sender)
    }

    /// Handles one complete frame. Returns false if the link was freed meanwhile.
    pub fn process_packet(&mut self, link: LinkId, frame: &[u8], env: &Env) -> bool {
        let t = wire::frame_type(frame);
        if (t as usize) < ty::COUNT {
            self.stats_received[t as usize] += 1;
        }
        if self.drop_packet_filter == Some(t) {
            tracing::warn!("Dropping packet that matches debug drop filter");
            return true;
        }
        let msg = match wire::decode(frame) {
            Ok(m) => m,
            Err(wire::Invalid::Version) => return true,
            Err(e) => {
                tracing::warn!("{e}");
                return true;
            }
        };
        let Message { hdr: h, body } = msg;
        let now = env.now;
        let sender = self.sender_of(link, &h);
        if let Some(s) = sender {
            self.node_mut(s).data_received = now;
        }
        let mut sender_epoch = 0;
        let mut sender_current_epoch = 0;
        if let Some(s) = sender.filter(|&s| !self.node(s).in_handshake()) {
            sender_current_epoch = h.current_epoch;
            sender_epoch = h.config_epoch;
            if sender_current_epoch > self.current_epoch {
                self.current_epoch = sender_current_epoch;
            }
            if sender_epoch > self.node(s).config_epoch {
                self.node_mut(s).config_epoch = sender_epoch;
                self.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG;
            }
            let n = self.node_mut(s);
            n.repl_offset = h.offset;
            n.repl_offset_time = now;
            if self.mf_end != 0
                && self.me().is_replica()
                && self.me().master == Some(s)
                && h.mflags[0] & wire::mflag::PAUSED != 0
                && self.mf_master_offset == -1
            {
                self.mf_master_offset = h.offset as i64;
                self.todo |= todo::HANDLE_MANUALFAILOVER;
                tracing::warn!(
                    "Received replication offset for paused master manual failover: {}",
                    self.mf_master_offset
                );
            }
        }
        let is_ping = matches!(t, ty::PING | ty::PONG | ty::MEET);
        if let Body::Ping { shard_id, .. } = &body {
            if let Some(l) = self.links.get_mut(&link) {
                l.peer_v72_exts = Some(shard_id.is_some());
            }
        }
        if t == ty::PING || t == ty::MEET {
            // Our own address, as the peer reached us (unless announced).
            if (t == ty::MEET || self.me().ip.is_empty()) && self.cfg.announce_ip.is_none() {
                let local = self.links.get(&link).map(|l| l.local_ip.clone());
                if let Some(ip) = local.filter(|ip| !ip.is_empty() && *ip != self.me().ip) {
                    tracing::warn!("IP address for this node updated to {ip}");
                    self.me_mut().ip = ip;
                    self.todo |= todo::SAVE_CONFIG;
                }
            }
            if sender.is_none() && t == ty::MEET {
                let Some(l) = self.links.get(&link) else {
                    return false;
                };
                let mut n = Node::new(random_name(), nf::HANDSHAKE, now);
                n.ip = Self::announced_ip(l, &h.myip);
                n.port = h.port;
                n.pport = h.pport;
                n.cport = h.cport;
                self.add_node(n);
                self.todo |= todo::SAVE_CONFIG;
                if let Body::Ping { gossip, .. } = &body {
                    self.process_gossip(gossip, None, env);
                }
            }
            self.send_ping(link, ty::PONG, env);
        }
        if is_ping {
            let Some(l) = self.links.get(&link) else {
                return false;
            };
            let (inbound, link_node) = (l.inbound, l.node);
            if !inbound {
                let Some(ln) = link_node else { return true };
                if self.node(ln).in_handshake() {
                    if let Some(s) = sender {
                        tracing::debug!(
                            "Handshake: we already know node {}, updating the address if needed.",
                            self.node(s).name_str()
                        );
                        if self.update_address_if_needed(s, link, &h) {
                            self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
                        }
                        self.del_node(ln);
                        return false;
                    }
                    self.rename_node(ln, h.sender);
                    tracing::debug!(
                        "Handshake with node {} completed.",
                        self.node(ln).name_str()
                    );
                    let n = self.node_mut(ln);
                    n.flags &= !nf::HANDSHAKE;
                    n.flags |= h.flags & (nf::MASTER | nf::SLAVE);
                    self.todo |= todo::SAVE_CONFIG;
                } else if self.node(ln).name != h.sender {
                    let n = self.node_mut(ln);
                    tracing::debug!(
                        "PONG contains mismatching sender ID. About node {} added {} ms ago, having flags {}",
                        n.name_str(),
                        now - n.ctime,
                        n.flags
                    );
                    n.flags |= nf::NOADDR;
                    n.ip.clear();
                    n.port = 0;
                    n.pport = 0;
                    n.cport = 0;
                    self.free_link(link);
                    self.todo |= todo::SAVE_CONFIG;
                    return false;
                }
            }
            // The sender's own word on NOFAILOVER is the latest.
            let sender = self.sender_of(link, &h).or(sender);
            if let Some(s) = sender {
                let n = self.node_mut(s);
                n.flags = (n.flags & !nf::NOFAILOVER) | (h.flags & nf::NOFAILOVER);
            }
            if let Some(s) = sender {
                if t == ty::PING
                    && !self.node(s).in_handshake()
                    && self.update_address_if_needed(s, link, &h)
                {
                    self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
                }
            }
            if !inbound && t == ty::PONG {
                if let Some(ln) = self.links.get(&link).and_then(|l| l.node) {
                    let n = self.node_mut(ln);
                    n.pong_received = now;
                    n.ping_sent = 0;
                    if n.timed_out() {
                        n.flags &= !nf::PFAIL;
                        self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
                    } else if n.failed() {
                        self.clear_failure_if_needed(ln, now);
                    }
                }
            }
            if let Some(s) = sender {
                if h.slaveof == NULL_NAME {
                    self.set_node_as_master(s);
                } else {
                    let master = self.lookup_exact(&h.slaveof);
                    if self.node(s).is_master() {
                        self.del_node_slots(s);
                        let n = self.node_mut(s);
                        n.flags &= !(nf::MASTER | nf::MIGRATE_TO);
                        n.flags |= nf::SLAVE;
                        self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
                    }
                    if let Some(m) = master {
                        if self.node(s).master != Some(m) {
                            if let Some(old) = self.node(s).master {
                                self.remove_replica(old, s);
                            }
                            self.add_replica(m, s);
                            self.node_mut(s).master = Some(m);
                            self.todo |= todo::SAVE_CONFIG;
                        }
                    }
                }
            }
            let mut dirty_slots = false;
            if let Some(s) = sender {
                let sm = if self.node(s).is_master() {
                    Some(s)
                } else {
                    self.node(s).master
                };
                if let Some(sm) = sm {
                    dirty_slots = self.node(sm).slots[..] != h.myslots[..];
                }
            }
            if let Some(s) = sender {
                if self.node(s).is_master() && dirty_slots {
                    self.update_slots_config_with(s, sender_epoch, &h.myslots, env);
                }
            }
            if let (Some(s), true) = (sender, dirty_slots) {
                for slot in 0..SLOTS {
                    if !bit(&h.myslots[..], slot) {
                        continue;
                    }
                    let Some(owner) = self.slots[slot] else {
                        continue;
                    };
                    if owner == s {
                        continue;
                    }
                    if self.node(owner).config_epoch > sender_epoch {
                        tracing::debug!(
                            "Node {} has old slots configuration, sending an UPDATE message about {}",
                            self.node(s).name_str(),
                            self.node(owner).name_str()
                        );
                        let to = self.node(s).link;
                        self.send_update(to, owner);
                        break;
                    }
                }
            }
            if let Some(s) = sender {
                if self.me().is_master()
                    && self.node(s).is_master()
                    && sender_epoch == self.me().config_epoch
                {
                    self.handle_epoch_collision(s);
                }
            }
            if let (
                Some(s),
                Body::Ping {
                    gossip,
                    hostname,
                    forgotten,
                    shard_id,
                },
            ) = (sender, &body)
            {
                self.process_gossip(gossip, Some(s), env);
                for (name, ttl) in forgotten {
                    if let Some(n) = self.lookup_exact(name) {
                        if n != self.myself
                            && !(self.me().is_replica() && self.me().master == Some(n))
                        {
                            self.blacklist.insert(*name, env.unix_secs + *ttl as i64);
                            self.del_node(n);
                            self.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
                        }
                    }
                }
                if self.nodes.get(s).is_some_and(Option::is_some) {
                    let host = hostname
                        .as_deref()
                        .map(|h| String::from_utf8_lossy(h).into_owned())
                        .unwrap_or_default();
                    self.node_mut(s).hostname = host;
                    // Without the extension (Redis 7.0), a node is in its master's shard.
                    self.node_mut(s).speaks_v72_exts = Some(shard_id.is_some());
                    let shard = match (shard_id, self.node(s).master) {
                        (Some(id), _) => *id,
                        (None, Some(m)) if self.node(s).is_replica() => self.node(m).shard_id,
                        (None, _) => self.node(s).shard_id,
                    };
                    self.update_shard_id(s, shard);
                }
            }
            return self.links.contains_key(&link);
        }
        match (t, body) {
            (ty::FAIL, Body::Fail { about }) => match sender {
                Some(_) => {
                    if let Some(f) = self.lookup_exact(&about) {
                        if !self.node(f).is(nf::FAIL | nf::MYSELF) {
                            tracing::info!(
                                "FAIL message received from {} about {}",
                                String::from_utf8_lossy(&h.sender),
                                String::from_utf8_lossy(&about)
                            );
                            let n = self.node_mut(f);
                            n.flags |= nf::FAIL;
                            n.fail_time = now;
                            n.flags &= !nf::PFAIL;
                            self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
                        }
                    }
                }
                None => tracing::info!(
                    "Ignoring FAIL message from unknown node {} about {}",
                    String::from_utf8_lossy(&h.sender),
                    String::from_utf8_lossy(&about)
                ),
            },
            (ty::PUBLISH | ty::PUBLISHSHARD, Body::Publish { channel, message })
                if sender.is_some() =>
            {
                self.effects.push(Effect::Publish {
                    shard: t == ty::PUBLISHSHARD,
                    channel,
                    message,
                });
            }
            (ty::FAILOVER_AUTH_REQUEST, _) => {
                if let Some(s) = sender {
                    self.send_failover_auth_if_needed(s, &h, env);
                }
            }
            (ty::FAILOVER_AUTH_ACK, _) => {
                if let Some(s) = sender {
                    let n = self.node(s);
                    if n.is_master()
                        && n.numslots > 0
                        && sender_current_epoch >= self.failover_auth_epoch
                    {
                        self.failover_auth_count += 1;
                        self.todo |= todo::HANDLE_FAILOVER;
                    }
                }
            }
            (ty::MFSTART, _) => {
                let Some(s) = sender else { return true };
                if self.node(s).master != Some(self.myself) {
                    return true;
                }
                self.reset_manual_failover();
                self.mf_end = now + MF_TIMEOUT;
                self.mf_slave = Some(s);
                self.effects
                    .push(Effect::PauseWrites(now + MF_TIMEOUT * MF_PAUSE_MULT));
                tracing::warn!(
                    "Manual failover requested by replica {}.",
                    self.node(s).name_str()
                );
                self.send_ping(link, ty::PING, env);
            }
            (
                ty::UPDATE,
                Body::Update {
                    config_epoch,
                    name,
                    slots,
                },
            ) => {
                if sender.is_none() {
                    return true;
                }
                let Some(n) = self.lookup_exact(&name) else {
                    return true;
                };
                if self.node(n).config_epoch >= config_epoch {
                    return true;
                }
                if self.node(n).is_replica() {
                    self.set_node_as_master(n);
                }
                self.node_mut(n).config_epoch = config_epoch;
                self.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG;
                self.update_slots_config_with(n, config_epoch, &slots, env);
            }
            (ty::MODULE, _) => {}
            (t, _) if (t as usize) >= ty::COUNT => {
                tracing::warn!("Received unknown packet type: {t}");
            }
            _ => {}
        }
        true
    }

    // ---------------------------------------------------------------- failover

    fn replica_rank(&self, env: &Env) -> usize {
        let me = self.me();
        let Some(master) = me.master else { return 0 };
        self.node(master)
            .replicas
            .iter()
            .filter(|&&r| {
                r != self.myself
                    && !self.node(r).is(nf::NOFAILOVER)
                    && self.node(r).repl_offset > env.repl_offset
            })
            .count()
    }

    fn log_cant_failover(&mut self, reason: CantFailover, env: &Env) {
        if reason == self.cant_failover_reason
            && env.unix_secs - self.cant_failover_lastlog < CANT_FAILOVER_RELOG_SECS
        {
            return;
        }
        self.cant_failover_reason = reason;
        if let Some(m) = self.me().master {
            let m = self.node(m);
            if m.failed() && env.now - m.fail_time < self.cfg.node_timeout + 5000 {
                return;
            }
        }
        let msg = match reason {
            CantFailover::DataAge => "Disconnected from master for longer than allowed. Please check the 'cluster-replica-validity-factor' configuration option.",
            CantFailover::WaitingDelay => "Waiting the delay before I can start a new failover.",
            CantFailover::Expired => "Failover attempt expired.",
            CantFailover::WaitingVotes => "Waiting for votes, but majority still not reached.",
            CantFailover::None => "Unknown reason code.",
        };
        self.cant_failover_lastlog = env.unix_secs;
        tracing::warn!("Currently unable to failover: {msg}");
    }

    /// Takes the old master's slots and tells everyone (the end of every failover).
    fn replace_my_master(&mut self, env: &Env) {
        let me = self.myself;
        let Some(old) = self.me().master else { return };
        if self.me().is_master() {
            return;
        }
        self.set_node_as_master(me);
        self.effects.push(Effect::UnsetMaster);
        for s in 0..SLOTS {
            if self.node(old).has_slot(s) {
                self.del_slot(s);
                self.add_slot(me, s);
            }
        }
        self.update_state(env.now);
        self.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG;
        self.save_now = true;
        self.broadcast_pong(false, env);
        self.reset_manual_failover();
    }

    fn handle_replica_failover(&mut self, env: &Env) {
        let now = env.now;
        let auth_age = now - self.failover_auth_time;
        let quorum = self.size / 2 + 1;
        let manual = self.mf_end != 0 && self.mf_can_start;
        self.todo &= !todo::HANDLE_FAILOVER;
        let auth_timeout = (self.cfg.node_timeout * 2).max(2000);
        let auth_retry = auth_timeout * 2;
        let me = self.me();
        let master = me.master;
        let skip = me.is_master()
            || master.is_none()
            || master.is_some_and(|m| !self.node(m).failed() && !manual)
            || (self.cfg.replica_no_failover && !manual)
            || master.is_some_and(|m| self.node(m).numslots == 0);
        if skip {
            self.cant_failover_reason = CantFailover::None;
            return;
        }
        let mut data_age = env.master_data_age_ms;
        if data_age > self.cfg.node_timeout {
            data_age -= self.cfg.node_timeout;
        }
        if self.cfg.replica_validity_factor != 0
            && data_age
                > self.cfg.repl_ping_period_secs * 1000
                    + self.cfg.node_timeout * self.cfg.replica_validity_factor
            && !manual
        {
            self.log_cant_failover(CantFailover::DataAge, env);
            return;
        }
        if auth_age > auth_retry {
            self.failover_auth_time = now + 500 + (rand::random::<u32>() % 500) as i64;
            self.failover_auth_count = 0;
            self.failover_auth_sent = false;
            self.failover_auth_rank = self.replica_rank(env);
            self.failover_auth_time += self.failover_auth_rank as i64 * 1000;
            if self.mf_end != 0 {
                self.failover_auth_time = now;
                self.failover_auth_rank = 0;
                self.todo |= todo::HANDLE_FAILOVER;
            }
            tracing::warn!(
                "Start of election delayed for {} milliseconds (rank #{}, offset {}).",
                self.failover_auth_time - now,
                self.failover_auth_rank,
                env.repl_offset
            );
            self.broadcast_pong(true, env);
            return;
        }
        if !self.failover_auth_sent && self.mf_end == 0 {
            let rank = self.replica_rank(env);
            if rank > self.failover_auth_rank {
                let added = (rank - self.failover_auth_rank) as i64 * 1000;
                self.failover_auth_time += added;
                self.failover_auth_rank = rank;
                tracing::warn!(
                    "Replica rank updated to #{rank}, added {added} milliseconds of delay."
                );
            }
        }
        if now < self.failover_auth_time {
            self.log_cant_failover(CantFailover::WaitingDelay, env);
            return;
        }
        if auth_age > auth_timeout {
            self.log_cant_failover(CantFailover::Expired, env);
            return;
        }
        if !self.failover_auth_sent {
            self.current_epoch += 1;
            self.failover_auth_epoch = self.current_epoch;
            tracing::warn!(
                "Starting a failover election for epoch {}.",
                self.current_epoch
            );
            self.request_failover_auth(env);
            self.failover_auth_sent = true;
            self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE | todo::FSYNC_CONFIG;
            return;
        }
        if self.failover_auth_count >= quorum {
            tracing::warn!("Failover election won: I'm the new master.");
            if self.me().config_epoch < self.failover_auth_epoch {
                let epoch = self.failover_auth_epoch;
                self.me_mut().config_epoch = epoch;
                tracing::warn!("configEpoch set to {epoch} after successful failover");
            }
            self.replace_my_master(env);
        } else {
            self.log_cant_failover(CantFailover::WaitingVotes, env);
        }
    }

    fn handle_replica_migration(&mut self, max_replicas: usize, env: &Env) {
        if !self.state_ok {
            return;
        }
        let Some(mymaster) = self.me().master else {
            return;
        };
        let ok = self
            .node(mymaster)
            .replicas
            .iter()
            .filter(|&&r| !self.node(r).is(nf::FAIL | nf::PFAIL))
            .count();
        if ok as i64 <= self.cfg.migration_barrier {
            return;
        }
        let mut candidate = self.myself;
        let mut target = None;
        for id in self.node_ids() {
            let n = self.node(id);
            let mut orphaned = !(n.is_replica() || n.failed()) && n.is(nf::MIGRATE_TO);
            let okr = if n.is_master() {
                self.count_non_failing_replicas(id)
            } else {
                0
            };
            if okr > 0 {
                orphaned = false;
            }
            if orphaned {
                if target.is_none() && n.numslots > 0 {
                    target = Some(id);
                }
                if n.orphaned_time == 0 {
                    self.node_mut(id).orphaned_time = env.now;
                }
            } else {
                self.node_mut(id).orphaned_time = 0;
            }
            if okr == max_replicas {
                for &r in &self.node(id).replicas {
                    if self.node(r).name < self.node(candidate).name {
                        candidate = r;
                    }
                }
            }
        }
        if let Some(t) = target {
            if candidate == self.myself
                && env.now - self.node(t).orphaned_time > SLAVE_MIGRATION_DELAY
            {
                tracing::warn!("Migrating to orphaned master {}", self.node(t).name_str());
                self.set_master(t);
            }
        }
    }

    pub fn reset_manual_failover(&mut self) {
        if self.mf_slave.is_some() {
            self.effects.push(Effect::Unpause);
        }
        self.mf_end = 0;
        self.mf_can_start = false;
        self.mf_slave = None;
        self.mf_master_offset = -1;
    }

    fn handle_manual_failover(&mut self, env: &Env) {
        if self.mf_end == 0 || self.mf_can_start || self.mf_master_offset == -1 {
            return;
        }
        if self.mf_master_offset == env.repl_offset as i64 {
            self.mf_can_start = true;
            tracing::warn!("All master replication stream processed, manual failover can start.");
            self.todo |= todo::HANDLE_FAILOVER;
            return;
        }
        self.todo |= todo::HANDLE_MANUALFAILOVER;
    }

    /// CLUSTER FAILOVER [FORCE|TAKEOVER] once its checks passed.
    pub fn start_manual_failover(&mut self, force: bool, takeover: bool, env: &Env) {
        self.reset_manual_failover();
        self.mf_end = env.now + MF_TIMEOUT;
        if takeover {
            tracing::warn!("Taking over the master (user request).");
            self.bump_epoch_without_consensus();
            self.replace_my_master(env);
        } else if force {
            tracing::warn!("Forced failover user request accepted.");
            self.mf_can_start = true;
        } else {
            tracing::warn!("Manual failover user request accepted.");
            if let Some(m) = self.me().master {
                self.send_header_only(m, ty::MFSTART, env);
            }
        }
    }

    // ---------------------------------------------------------------- cron, state

    /// Ten times a second (Redis's clusterCron).
    pub fn cron(&mut self, env: &Env) {
        self.iteration += 1;
        self.last_offset = env.repl_offset;
        let now = env.now;
        let timeout = self.cfg.node_timeout;
        let handshake_timeout = timeout.max(1000);
        self.stats_pfail_nodes = 0;
        for id in self.node_ids() {
            if self.nodes[id].is_none() {
                continue;
            }
            if self.cfg.link_sendbuf_limit > 0 {
                let n = self.node(id);
                for l in [n.link, n.inbound_link].into_iter().flatten() {
                    let used = self.links.get(&l).map_or(0, |l| l.out.capacity());
                    if used > self.cfg.link_sendbuf_limit {
                        let l2 = &self.links[&l];
                        tracing::warn!(
                            "Freeing cluster link({} node {}, used memory: {used}) due to exceeding send buffer memory limit.",
                            if l2.inbound { "from" } else { "to" },
                            self.node(id).name_str()
                        );
                        self.free_link(l);
                        self.stat_links_buffer_limit_exceeded += 1;
                    }
                }
            }
            let n = self.node(id);
            if n.is(nf::MYSELF | nf::NOADDR) {
                continue;
            }
            let (pfail, handshake_expired) = (
                n.timed_out(),
                n.in_handshake() && now - n.ctime > handshake_timeout,
            );
            let n_link = n.link;
            if pfail {
                self.stats_pfail_nodes += 1;
            }
            if handshake_expired {
                self.del_node(id);
                continue;
            }
            if n_link.is_none() {
                self.new_outbound_link(id, now);
            }
        }
        if self.iteration % 10 == 0 {
            let ids = self.node_ids();
            let mut best: Option<(NodeId, i64)> = None;
            for _ in 0..5 {
                let id = ids[(rand::random::<u32>() as usize) % ids.len()];
                let n = self.node(id);
                if n.link.is_none() || n.ping_sent != 0 || n.is(nf::MYSELF | nf::HANDSHAKE) {
                    continue;
                }
                if best.is_none_or(|(_, p)| p > n.pong_received) {
                    best = Some((id, n.pong_received));
                }
            }
            if let Some((id, _)) = best {
                if let Some(link) = self.node(id).link {
                    self.send_ping(link, ty::PING, env);
                }
            }
        }
        let (mut orphaned, mut max_replicas, mut my_master_replicas) = (0, 0, 0);
        let mut update_state = false;
        for id in self.node_ids() {
            let Some(n) = self.nodes[id].as_ref() else {
                continue;
            };
            if n.is(nf::MYSELF | nf::NOADDR | nf::HANDSHAKE) {
                continue;
            }
            if self.me().is_replica() && n.is_master() && !n.failed() {
                let ok = self.count_non_failing_replicas(id);
                if ok == 0 && n.numslots > 0 && n.is(nf::MIGRATE_TO) {
                    orphaned += 1;
                }
                max_replicas = max_replicas.max(ok);
                if self.me().master == Some(id) {
                    my_master_replicas = ok;
                }
            }
            let ping_delay = now - n.ping_sent;
            let data_delay = now - n.data_received;
            if let Some(link) = n.link {
                let link_age = self.links.get(&link).map_or(0, |l| now - l.ctime);
                if link_age > timeout
                    && n.ping_sent != 0
                    && ping_delay > timeout / 2
                    && data_delay > timeout / 2
                {
                    self.free_link(link);
                }
            }
            let n = self.node(id);
            if let Some(link) = n.link {
                if n.ping_sent == 0 && now - n.pong_received > timeout / 2 {
                    self.send_ping(link, ty::PING, env);
                    continue;
                }
                if self.mf_end != 0 && self.me().is_master() && self.mf_slave == Some(id) {
                    self.send_ping(link, ty::PING, env);
                    continue;
                }
            }
            let n = self.node(id);
            if n.ping_sent == 0 {
                continue;
            }
            let node_delay = ping_delay.min(data_delay);
            if node_delay > timeout && !n.is(nf::PFAIL | nf::FAIL) {
                tracing::debug!("*** NODE {} possibly failing", n.name_str());
                self.node_mut(id).flags |= nf::PFAIL;
                update_state = true;
            }
        }
        if self.mf_end != 0 && self.mf_end < now {
            tracing::warn!("Manual failover timed out.");
            self.reset_manual_failover();
        }
        if self.me().is_replica() {
            self.handle_manual_failover(env);
            self.handle_replica_failover(env);
            if orphaned > 0
                && max_replicas >= 2
                && my_master_replicas == max_replicas
                && self.cfg.allow_replica_migration
            {
                self.handle_replica_migration(max_replicas, env);
            }
        }
        if update_state || !self.state_ok {
            self.update_state(now);
        }
    }

    /// What must happen before the loop sleeps; returns whether (and how) to save the
    /// config: None, Some(false) write, Some(true) write and fsync.
    pub fn before_sleep(&mut self, env: &Env) -> Option<bool> {
        let flags = self.todo;
        self.todo = 0;
        if flags & todo::HANDLE_MANUALFAILOVER != 0 {
            if self.me().is_replica() {
                self.handle_manual_failover(env);
                self.handle_replica_failover(env);
            }
        } else if flags & todo::HANDLE_FAILOVER != 0 {
            self.handle_replica_failover(env);
        }
        if flags & todo::UPDATE_STATE != 0 {
            self.update_state(env.now);
        }
        let save = flags & todo::SAVE_CONFIG != 0 || std::mem::take(&mut self.save_now);
        // Work done above may ask for more (a failover won saves at once).
        let again = std::mem::take(&mut self.todo);
        self.todo = again & !(todo::SAVE_CONFIG | todo::FSYNC_CONFIG);
        let save = save || again & todo::SAVE_CONFIG != 0;
        save.then_some((flags | again) & todo::FSYNC_CONFIG != 0)
    }

    /// ok or fail, from slot coverage and whether we see a majority of masters.
    pub fn update_state(&mut self, now: i64) {
        self.todo &= !todo::UPDATE_STATE;
        if self.first_update_ms == 0 {
            self.first_update_ms = now;
        }
        if self.me().is_master() && !self.state_ok && now - self.first_update_ms < WRITABLE_DELAY {
            return;
        }
        let mut ok = true;
        if self.cfg.require_full_coverage {
            ok = self
                .slots
                .iter()
                .all(|s| s.is_some_and(|n| !self.node(n).failed()));
        }
        let mut size = 0;
        let mut reachable = 0;
        for n in self.nodes.iter().flatten() {
            if n.is_master() && n.numslots > 0 {
                size += 1;
                if !n.is(nf::FAIL | nf::PFAIL) {
                    reachable += 1;
                }
            }
        }
        self.size = size;
        if reachable < size / 2 + 1 {
            ok = false;
            self.among_minority_ms = now;
        }
        if ok != self.state_ok {
            let rejoin = self
                .cfg
                .node_timeout
                .clamp(MIN_REJOIN_DELAY, MAX_REJOIN_DELAY);
            if ok && self.me().is_master() && now - self.among_minority_ms < rejoin {
                return;
            }
            tracing::warn!("Cluster state changed: {}", if ok { "ok" } else { "fail" });
            self.state_ok = ok;
        }
    }

    // ---------------------------------------------------------------- descriptions

    /// One CLUSTER NODES line (without the newline), or one line of nodes.conf.
    pub fn node_description(&self, id: NodeId, view: NodesView) -> String {
        let n = self.node(id);
        let port = n.client_port(view == NodesView::Client { use_pport: true });
        let mut s = String::with_capacity(128);
        s.push_str(n.name_str());
        s.push_str(&format!(" {}:{}@{}", n.ip, port, n.cport));
        if !n.hostname.is_empty() {
            s.push(',');
            s.push_str(&n.hostname);
        }
        if view == NodesView::ConfigFile {
            // Redis 7.2's auxiliary fields, kept out of CLUSTER NODES as there.
            if n.hostname.is_empty() {
                s.push(',');
            }
            s.push_str(",shard-id=");
            s.push_str(std::str::from_utf8(&n.shard_id).unwrap_or_default());
        }
        s.push(' ');
        s.push_str(&flags_repr(n.flags));
        s.push(' ');
        match n.master {
            Some(m) => s.push_str(self.node(m).name_str()),
            None => s.push('-'),
        }
        let epoch = match n.master {
            Some(m) if n.is_replica() => self.node(m).config_epoch,
            _ => n.config_epoch,
        };
        let connected = n.link.is_some() || n.is(nf::MYSELF);
        s.push_str(&format!(
            " {} {} {} {}",
            n.ping_sent,
            n.pong_received,
            epoch,
            if connected {
                "connected"
            } else {
                "disconnected"
            }
        ));
        for (start, end) in self.slot_ranges(id) {
            if start == end {
                s.push_str(&format!(" {start}"));
            } else {
                s.push_str(&format!(" {start}-{end}"));
            }
        }
        if n.is(nf::MYSELF) {
            for slot in 0..SLOTS {
                if let Some(to) = self.migrating[slot] {
                    s.push_str(&format!(" [{slot}->-{}]", self.node(to).name_str()));
                } else if let Some(from) = self.importing[slot] {
                    s.push_str(&format!(" [{slot}-<-{}]", self.node(from).name_str()));
                }
            }
        }
        s
    }

    /// The slot ranges a node owns, from the slot table.
    pub fn slot_ranges(&self, id: NodeId) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        if self.node(id).numslots == 0 {
            return out;
        }
        let mut start = None;
        for s in 0..=SLOTS {
            let mine = s < SLOTS && self.slots[s] == Some(id);
            match (mine, start) {
                (true, None) => start = Some(s),
                (false, Some(b)) => {
                    out.push((b, s - 1));
                    start = None;
                }
                _ => {}
            }
        }
        out
    }

    /// CLUSTER NODES (and nodes.conf without the vars line), skipping nodes with any of
    /// `filter`'s flags.
    pub fn nodes_description(&self, filter: u16, view: NodesView) -> String {
        let mut s = String::new();
        for id in self.node_ids() {
            if self.node(id).is(filter) {
                continue;
            }
            s.push_str(&self.node_description(id, view));
            s.push('\n');
        }
        s
    }

    /// Memory the bus links hold (INFO's mem_cluster_links): each link and its buffers.
    pub fn links_memory(&self) -> usize {
        self.links
            .values()
            .map(|l| std::mem::size_of::<Link>() + l.out.capacity() + l.rcv.capacity())
            .sum()
    }

    /// nodes.conf: the nodes (not those in handshake) and the epochs.
    pub fn config_text(&self) -> String {
        let mut s = self.nodes_description(nf::HANDSHAKE, NodesView::ConfigFile);
        s.push_str(&format!(
            "vars currentEpoch {} lastVoteEpoch {}\n",
            self.current_epoch, self.last_vote_epoch
        ));
        s
    }

    /// CLUSTER INFO.
    pub fn info_text(&self) -> String {
        let (mut assigned, mut ok, mut pfail, mut fail) = (0, 0, 0, 0);
        for n in self.slots.iter().flatten() {
            assigned += 1;
            let n = self.node(*n);
            if n.failed() {
                fail += 1;
            } else if n.timed_out() {
                pfail += 1;
            } else {
                ok += 1;
            }
        }
        let me = self.me();
        let my_epoch = match me.master {
            Some(m) if me.is_replica() => self.node(m).config_epoch,
            _ => me.config_epoch,
        };
        let mut s = format!(
            "cluster_state:{}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{ok}\r\n\
             cluster_slots_pfail:{pfail}\r\ncluster_slots_fail:{fail}\r\ncluster_known_nodes:{}\r\n\
             cluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{my_epoch}\r\n",
            if self.state_ok { "ok" } else { "fail" },
            self.node_count(),
            self.size,
            self.current_epoch
        );
        let mut total = 0;
        for (t, &n) in self.stats_sent.iter().enumerate() {
            if n > 0 {
                total += n;
                s.push_str(&format!(
                    "cluster_stats_messages_{}_sent:{n}\r\n",
                    ty::name(t as u16)
                ));
            }
        }
        s.push_str(&format!("cluster_stats_messages_sent:{total}\r\n"));
        let mut total = 0;
        for (t, &n) in self.stats_received.iter().enumerate() {
            if n > 0 {
                total += n;
                s.push_str(&format!(
                    "cluster_stats_messages_{}_received:{n}\r\n",
                    ty::name(t as u16)
                ));
            }
        }
        s.push_str(&format!("cluster_stats_messages_received:{total}\r\n"));
        s.push_str(&format!(
            "total_cluster_links_buffer_limit_exceeded:{}\r\n",
            self.stat_links_buffer_limit_exceeded
        ));
        s
    }

    // ---------------------------------------------------------------- nodes.conf

    /// Loads nodes.conf text (Redis's clusterLoadConfig). Err names a corrupt file.
    pub fn load_config(&mut self, text: &str, now: i64) -> Result<(), String> {
        let fmterr = || "Unrecoverable error: corrupted cluster config file.".to_string();
        // The fresh myself made by `new` is replaced by the file's.
        let fresh = self.myself;
        self.del_node(fresh);
        let mut myself = None;
        for line in text.lines() {
            if line.is_empty() {
                continue;
            }
            let argv = crate::util::splitargs::split_args(line.as_bytes()).ok_or_else(fmterr)?;
            if argv.is_empty() {
                continue;
            }
            let arg = |i: usize| String::from_utf8_lossy(&argv[i]).into_owned();
            if argv[0].eq_ignore_ascii_case(b"vars") {
                if argv.len() % 2 == 0 {
                    return Err(fmterr());
                }
                for pair in argv[1..].chunks(2) {
                    let v = String::from_utf8_lossy(&pair[1])
                        .parse::<u64>()
                        .unwrap_or(0);
                    if pair[0].eq_ignore_ascii_case(b"currentEpoch") {
                        self.current_epoch = v;
                    } else if pair[0].eq_ignore_ascii_case(b"lastVoteEpoch") {
                        self.last_vote_epoch = v;
                    } else {
                        tracing::warn!(
                            "Skipping unknown cluster config variable '{}'",
                            String::from_utf8_lossy(&pair[0])
                        );
                    }
                }
                continue;
            }
            if argv.len() < 8 || !valid_name(&argv[0]) {
                return Err(fmterr());
            }
            let name: Name = argv[0][..].try_into().map_err(|_| fmterr())?;
            let id = self.node_by_name_or_new(name, now);
            // ip:port@cport[,hostname][,key=value...] (the auxiliary fields are 7.2's).
            let field = arg(1);
            let mut parts = field.split(',');
            let addr = parts.next().unwrap_or_default().to_string();
            let mut hostname = String::new();
            let mut shard_id = None;
            for (i, part) in parts.enumerate() {
                match part.split_once('=') {
                    None if i == 0 => hostname = part.to_string(),
                    None => return Err(fmterr()),
                    Some(("shard-id", v)) => {
                        let v: Name = v.as_bytes().try_into().map_err(|_| fmterr())?;
                        shard_id = Some(v);
                    }
                    // nodename, tcp-port, tls-port: what 7.2 also records; ours come from
                    // the config.
                    Some(_) => {}
                }
            }
            if let Some(shard) = shard_id {
                self.node_mut(id).shard_id = shard;
            }
            let colon = addr.rfind(':').ok_or_else(fmterr)?;
            let (ip, ports) = (addr[..colon].to_string(), &addr[colon + 1..]);
            let (port, cport) = match ports.split_once('@') {
                Some((p, c)) => (atoi(p), Some(atoi(c))),
                None => (atoi(ports), None),
            };
            {
                let n = self.node_mut(id);
                n.hostname = hostname;
                n.ip = ip;
                n.port = port as u16;
                n.cport = cport.unwrap_or(port + 10000) as u16;
            }
            for f in arg(2).split(',') {
                let n = self.node_mut(id);
                match f.to_ascii_lowercase().as_str() {
                    "myself" => {
                        if myself.is_some() {
                            return Err(fmterr());
                        }
                        n.flags |= nf::MYSELF;
                        myself = Some(id);
                    }
                    "master" => n.flags |= nf::MASTER,
                    "slave" => n.flags |= nf::SLAVE,
                    "fail?" => n.flags |= nf::PFAIL,
                    "fail" => {
                        n.flags |= nf::FAIL;
                        n.fail_time = now;
                    }
                    "handshake" => n.flags |= nf::HANDSHAKE,
                    "noaddr" => n.flags |= nf::NOADDR,
                    "nofailover" => n.flags |= nf::NOFAILOVER,
                    "noflags" => {}
                    _ => return Err("Unknown flag in redis cluster config file".into()),
                }
            }
            if argv[3][0] != b'-' {
                if !valid_name(&argv[3]) {
                    return Err(fmterr());
                }
                let mname: Name = argv[3][..].try_into().map_err(|_| fmterr())?;
                let m = self.node_by_name_or_new(mname, now);
                self.node_mut(id).master = Some(m);
                self.add_replica(m, id);
            }
            if atoi(&arg(4)) != 0 {
                self.node_mut(id).ping_sent = now;
            }
            if atoi(&arg(5)) != 0 {
                self.node_mut(id).pong_received = now;
            }
            self.node_mut(id).config_epoch = arg(6).parse().unwrap_or(0);
            for spec in &argv[8..] {
                let spec = String::from_utf8_lossy(spec);
                if let Some(rest) = spec.strip_prefix('[') {
                    let dash = rest.find('-').ok_or_else(fmterr)?;
                    let slot = atoi(&rest[..dash]);
                    if !(0..SLOTS as i64).contains(&slot) {
                        return Err(fmterr());
                    }
                    let dir = rest.as_bytes().get(dash + 1).copied();
                    let other = rest.get(dash + 3..).ok_or_else(fmterr)?;
                    let other = other.strip_suffix(']').ok_or_else(fmterr)?;
                    if !valid_name(other.as_bytes()) {
                        return Err(fmterr());
                    }
                    let oname: Name = other.as_bytes().try_into().map_err(|_| fmterr())?;
                    let o = self.node_by_name_or_new(oname, now);
                    if dir == Some(b'>') {
                        self.migrating[slot as usize] = Some(o);
                    } else {
                        self.importing[slot as usize] = Some(o);
                    }
                    continue;
                }
                let (start, stop) = match spec.split_once('-') {
                    Some((a, b)) => (atoi(a), atoi(b)),
                    None => (atoi(&spec), atoi(&spec)),
                };
                if !(0..SLOTS as i64).contains(&start) || !(0..SLOTS as i64).contains(&stop) {
                    return Err(fmterr());
                }
                for s in start..=stop {
                    self.add_slot(id, s as usize);
                }
            }
        }
        let Some(me) = myself else {
            return Err(fmterr());
        };
        self.myself = me;
        tracing::info!("Node configuration loaded, I'm {}", self.me().name_str());
        let max = self.max_epoch();
        if max > self.current_epoch {
            self.current_epoch = max;
        }
        Ok(())
    }

    /// Slots with keys that no node is serving here are taken; slots with keys that
    /// another node owns are marked importing (Redis's verifyClusterConfigWithData).
    pub fn verify_config_with_data(&mut self, keys_in_slot: &dyn Fn(usize) -> usize) -> bool {
        if self.me().is_replica() {
            return false;
        }
        let me = self.myself;
        let mut changed = false;
        for s in 0..SLOTS {
            if keys_in_slot(s) == 0 || self.slots[s] == Some(me) || self.importing[s].is_some() {
                continue;
            }
            changed = true;
            match self.slots[s] {
                None => {
                    tracing::warn!(
                        "I have keys for unassigned slot {s}. Taking responsibility for it."
                    );
                    self.add_slot(me, s);
                }
                Some(owner) => {
                    tracing::warn!("I have keys for slot {s}, but the slot is assigned to another node. Setting it to importing state.");
                    self.importing[s] = Some(owner);
                }
            }
        }
        changed
    }

    /// Is the replica available to serve reads (CLUSTER SLOTS lists it)?
    pub fn replica_available(&self, id: NodeId, my_offset: u64) -> bool {
        let n = self.node(id);
        if n.failed() {
            return false;
        }
        let off = if n.is(nf::MYSELF) {
            my_offset
        } else {
            n.repl_offset
        };
        off != 0
    }

    /// The master and replicas of the shard `id` belongs to.
    pub fn shard_of(&self, id: NodeId) -> Vec<NodeId> {
        let n = self.node(id);
        let master = if n.is_master() {
            id
        } else {
            match n.master {
                Some(m) => m,
                None => return vec![id],
            }
        };
        let mut out = vec![master];
        out.extend(self.node(master).replicas.iter().copied());
        out
    }
}

fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let v: i64 = digits[..end].parse().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

/// Flags as CLUSTER NODES writes them.
pub fn flags_repr(flags: u16) -> String {
    const TABLE: &[(u16, &str)] = &[
        (nf::MYSELF, "myself"),
        (nf::MASTER, "master"),
        (nf::SLAVE, "slave"),
        (nf::PFAIL, "fail?"),
        (nf::FAIL, "fail"),
        (nf::HANDSHAKE, "handshake"),
        (nf::NOADDR, "noaddr"),
        (nf::NOFAILOVER, "nofailover"),
    ];
    let names: Vec<&str> = TABLE
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        "noflags".to_string()
    } else {
        names.join(",")
    }
}
