//! MEMORY USAGE / STATS / DOCTOR / MALLOC-STATS / PURGE / HELP, and the overview INFO memory
//! shares (Redis's getMemoryOverheadData).

use crate::cmd::args::{eq, int};
use crate::exec::{Ctx, Executor};
use crate::resp::errors::{self as err, CmdResult};

/// Where the memory goes (Redis's struct redisMemOverhead).
pub struct Overview {
    pub used: u64,
    pub peak: u64,
    pub startup: u64,
    pub rss: u64,
    pub clients_normal: u64,
    pub repl_buffers: crate::repl::BufferMemory,
    pub aof_buffer: u64,
    pub lua_caches: u64,
    pub functions_caches: u64,
    /// Per non-empty db: (index, main table overhead, expires table overhead).
    pub dbs: Vec<(usize, u64, u64)>,
    pub overhead_total: u64,
    pub keys: u64,
    pub dataset: u64,
}

impl Overview {
    pub fn of(ex: &Executor) -> Overview {
        let used = crate::alloc::used_memory() as u64;
        let rss = crate::alloc::rss_bytes() as u64;
        let clients_normal: u64 = ex
            .clients
            .iter()
            .flatten()
            .map(|c| (c.out.buf.capacity() + c.qbuf_len + c.qbuf_free) as u64)
            .sum();
        let aof_buffer = ex.prop.aof.buf.capacity() as u64;
        let lua_caches = ex
            .scripting
            .as_deref()
            .map_or(0, |e| e.scripts_bytes() as u64);
        let functions_caches = ex.functions.as_deref().map_or(0, |f| {
            f.libraries.values().map(|l| l.code.len() as u64).sum()
        });
        let dbs: Vec<(usize, u64, u64)> = ex
            .dbs
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.is_empty())
            .map(|(i, d)| {
                (
                    i,
                    d.keys().overhead_bytes() as u64,
                    d.volatile().overhead_bytes() as u64,
                )
            })
            .collect();
        let startup = ex.stats.startup_memory;
        let repl_buffers = crate::repl::buffer_memory(ex);
        let overhead_total = startup
            + repl_buffers.total
            + clients_normal
            + aof_buffer
            + lua_caches
            + functions_caches
            + dbs.iter().map(|(_, m, e)| m + e).sum::<u64>();
        let keys = ex.dbs.iter().map(|d| d.len() as u64).sum();
        Overview {
            used,
            peak: ex.stats.peak_memory.max(used),
            startup,
            rss,
            clients_normal,
            repl_buffers,
            aof_buffer,
            lua_caches,
            functions_caches,
            dbs,
            overhead_total,
            keys,
            dataset: used.saturating_sub(overhead_total),
        }
    }

    pub fn dataset_percent(&self) -> f64 {
        let net = self.used.saturating_sub(self.startup);
        if net == 0 {
            0.0
        } else {
            self.dataset as f64 * 100.0 / net as f64
        }
    }

    pub fn peak_percent(&self) -> f64 {
        self.used as f64 * 100.0 / self.peak.max(1) as f64
    }

    pub fn fragmentation(&self) -> f64 {
        self.rss as f64 / self.used.max(1) as f64
    }
}

/// MEMORY USAGE key [SAMPLES count]: the key's table entry, its name and its value.
pub fn memory_usage(ctx: &mut Ctx) -> CmdResult {
    let mut i = 3;
    while i < ctx.argv.len() {
        if eq(ctx.argv[i], "SAMPLES") && i + 1 < ctx.argv.len() {
            if int(ctx.argv[i + 1])? < 0 {
                return Err(err::SYNTAX.into());
            }
            i += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let key = ctx.argv[2];
    let db = ctx.client.db;
    let now = ctx.now_ms;
    let Some(e) = ctx.ex.lookup_write(db, key, now) else {
        ctx.out().null();
        return Ok(());
    };
    // Every value is measured whole: our collections know their sizes without sampling.
    let bytes = crate::keyspace::db::ENTRY_BYTES + e.value.heap_bytes() + key_heap(key);
    ctx.out().int(bytes as i64);
    Ok(())
}

/// Heap bytes of a key name (names up to 23 bytes live inline in the entry).
fn key_heap(key: &[u8]) -> usize {
    crate::keyspace::bytes::CompactBytes::new(key).heap_bytes()
}

pub fn memory_stats(ctx: &mut Ctx) -> CmdResult {
    let o = Overview::of(ctx.ex);
    let out = &mut ctx.client.out;
    out.map(27 + o.dbs.len());
    let int = |out: &mut crate::resp::reply::ReplyBuf, name: &str, v: u64| {
        out.bulk(name.as_bytes());
        out.int(v as i64);
    };
    int(out, "peak.allocated", o.peak);
    int(out, "total.allocated", o.used);
    int(out, "startup.allocated", o.startup);
    int(out, "replication.backlog", o.repl_buffers.backlog);
    int(out, "clients.slaves", o.repl_buffers.replicas);
    int(out, "clients.normal", o.clients_normal);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", o.aof_buffer);
    int(out, "lua.caches", o.lua_caches);
    int(out, "functions.caches", o.functions_caches);
    for &(i, main, expires) in &o.dbs {
        out.bulk(format!("db.{i}").as_bytes());
        out.map(3);
        int(out, "overhead.hashtable.main", main);
        int(out, "overhead.hashtable.expires", expires);
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    int(out, "overhead.total", o.overhead_total);
    int(out, "keys.count", o.keys);
    let per_key = o
        .used
        .saturating_sub(o.startup)
        .checked_div(o.keys)
        .unwrap_or(0);
    int(out, "keys.bytes-per-key", per_key);
    int(out, "dataset.bytes", o.dataset);
    out.bulk(b"dataset.percentage");
    out.double(o.dataset_percent());
    out.bulk(b"peak.percentage");
    out.double(o.peak_percent());
    // The system allocator has no separate active/resident figures: RSS stands for both.
    int(out, "allocator.allocated", o.used);
    int(out, "allocator.active", o.rss);
    int(out, "allocator.resident", o.rss);
    out.bulk(b"allocator-fragmentation.ratio");
    out.double(o.fragmentation());
    int(
        out,
        "allocator-fragmentation.bytes",
        o.rss.saturating_sub(o.used),
    );
    out.bulk(b"allocator-rss.ratio");
    out.double(1.0);
    int(out, "allocator-rss.bytes", 0);
    out.bulk(b"rss-overhead.ratio");
    out.double(1.0);
    int(out, "rss-overhead.bytes", 0);
    out.bulk(b"fragmentation");
    out.double(o.fragmentation());
    int(out, "fragmentation.bytes", o.rss.saturating_sub(o.used));
    Ok(())
}

/// MEMORY DOCTOR: Redis's checks that apply to this allocator.
pub fn memory_doctor(ctx: &mut Ctx) -> CmdResult {
    let o = Overview::of(ctx.ex);
    let text = if o.used < 5 * 1024 * 1024 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".to_string()
    } else {
        let mut issues = Vec::new();
        if o.peak as f64 / o.used as f64 > 1.5 {
            issues.push(String::from(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n"));
        }
        if o.fragmentation() > 1.4 && o.peak as f64 / o.used as f64 <= 1.5 {
            issues.push(" * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"ALLOCATOR\".\n\n".replace("ALLOCATOR", crate::alloc::allocator()));
        }
        let nclients = ctx.ex.client_count.max(1) as u64;
        if o.clients_normal / nclients > 200 * 1024 {
            issues.push(String::from(" * Big client buffers: The clients output buffers are in general too big, over 200 KB per client on average. This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n"));
        }
        if issues.is_empty() {
            "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".to_string()
        } else {
            let mut s = String::from(
                "Sam, I detected a few issues in this Redis instance memory implants:\n\n",
            );
            for i in issues {
                s.push_str(&i);
            }
            s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
            s
        }
    };
    ctx.out().verbatim(b"txt", text.as_bytes());
    Ok(())
}

pub fn memory_malloc_stats(ctx: &mut Ctx) -> CmdResult {
    let report = crate::alloc::allocator_stats()
        .unwrap_or_else(|| "Stats not supported for the current allocator".to_string());
    ctx.out().verbatim(b"txt", report.as_bytes());
    Ok(())
}

pub fn memory_purge(ctx: &mut Ctx) -> CmdResult {
    crate::alloc::purge();
    ctx.out().ok();
    Ok(())
}

pub fn memory_help(ctx: &mut Ctx) -> CmdResult {
    super::introspect::help(
        ctx.out(),
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}
