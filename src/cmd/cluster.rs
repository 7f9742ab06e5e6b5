//! The "cluster" group: CLUSTER and its subcommands, READONLY, READWRITE, ASKING. Cluster mode
//! is not built yet; a standalone Redis 7.0 answers every one of them the same way, and so
//! does cinnabar (after the table has checked the arity).

use crate::cmd::meta_gen as m;
use crate::cmd::table::Handler;
use crate::exec::Ctx;
use crate::resp::errors::{self as err, CmdResult};

fn cluster_disabled(_: &mut Ctx) -> CmdResult {
    Err(err::CLUSTER_DISABLED.into())
}

pub const HANDLERS: &[(&crate::cmd::meta::CommandMeta, Handler)] = &[
    (&m::READONLY, cluster_disabled),
    (&m::READWRITE, cluster_disabled),
    (&m::ASKING, cluster_disabled),
    (&m::CLUSTER_ADDSLOTS, cluster_disabled),
    (&m::CLUSTER_ADDSLOTSRANGE, cluster_disabled),
    (&m::CLUSTER_BUMPEPOCH, cluster_disabled),
    (&m::CLUSTER_COUNT_FAILURE_REPORTS, cluster_disabled),
    (&m::CLUSTER_COUNTKEYSINSLOT, cluster_disabled),
    (&m::CLUSTER_DELSLOTS, cluster_disabled),
    (&m::CLUSTER_DELSLOTSRANGE, cluster_disabled),
    (&m::CLUSTER_FAILOVER, cluster_disabled),
    (&m::CLUSTER_FLUSHSLOTS, cluster_disabled),
    (&m::CLUSTER_FORGET, cluster_disabled),
    (&m::CLUSTER_GETKEYSINSLOT, cluster_disabled),
    (&m::CLUSTER_HELP, cluster_disabled),
    (&m::CLUSTER_INFO, cluster_disabled),
    (&m::CLUSTER_KEYSLOT, cluster_disabled),
    (&m::CLUSTER_LINKS, cluster_disabled),
    (&m::CLUSTER_MEET, cluster_disabled),
    (&m::CLUSTER_MYID, cluster_disabled),
    (&m::CLUSTER_NODES, cluster_disabled),
    (&m::CLUSTER_REPLICAS, cluster_disabled),
    (&m::CLUSTER_REPLICATE, cluster_disabled),
    (&m::CLUSTER_RESET, cluster_disabled),
    (&m::CLUSTER_SAVECONFIG, cluster_disabled),
    (&m::CLUSTER_SET_CONFIG_EPOCH, cluster_disabled),
    (&m::CLUSTER_SETSLOT, cluster_disabled),
    (&m::CLUSTER_SHARDS, cluster_disabled),
    (&m::CLUSTER_SLAVES, cluster_disabled),
    (&m::CLUSTER_SLOTS, cluster_disabled),
];
