//! INFO: the sections and field names tools read, in Redis's order.

use std::fmt::Write;

use crate::config::{CINNABAR_VERSION, REDIS_VERSION};
use crate::exec::{lru_clock, Ctx, Executor};
use crate::resp::errors::CmdResult;

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

pub fn info(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args().rest();
    let mut wanted: Vec<String> = Vec::new();
    let mut everything = false;
    if args.is_empty() {
        wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    for a in args {
        let a = String::from_utf8_lossy(a).to_ascii_lowercase();
        match a.as_str() {
            "default" => wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string())),
            "all" => wanted.extend(ALL_SECTIONS.iter().map(|s| s.to_string())),
            "everything" => {
                everything = true;
                wanted.extend(ALL_SECTIONS.iter().map(|s| s.to_string()));
            }
            _ => wanted.push(a),
        }
    }
    let _ = everything;
    let text = render(ctx.ex, Some(&*ctx.client), &wanted, ctx.now_ms);
    ctx.out().verbatim(b"txt", text.as_bytes());
    Ok(())
}

/// Renders the requested sections. `current` is the client running INFO (not in the table).
pub fn render(
    ex: &Executor,
    current: Option<&crate::exec::Client>,
    wanted: &[String],
    now_ms: i64,
) -> String {
    let mut s = String::new();
    let has = |name: &str| wanted.iter().any(|w| w == name);
    let section = |s: &mut String, title: &str| {
        if !s.is_empty() {
            s.push_str("\r\n");
        }
        let _ = write!(s, "# {title}\r\n");
    };
    let clients = || ex.clients.iter().flatten().map(|c| &**c).chain(current);
    if has("server") {
        section(&mut s, "Server");
        let uptime = (now_ms - ex.start_unix_ms) / 1000;
        let uname = uname();
        let _ = write!(
            s,
            "redis_version:{REDIS_VERSION}\r\ncinnabar_version:{CINNABAR_VERSION}\r\nredis_git_sha1:00000000\r\n\
             redis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{uname}\r\n\
             arch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\n\
             atomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\n\
             run_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\n\
             uptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\n\
             config_file:{}\r\nio_threads_active:{}\r\n",
            std::process::id(),
            ex.run_id,
            ex.tcp_port,
            ex.clock.now_us(),
            uptime / 86400,
            ex.hz,
            ex.settings.hz,
            lru_clock(now_ms),
            ex.executable,
            ex.config_file,
            u8::from(ex.stats.io_threads_active),
        );
        if let Some(ms) = ex.shutdown_in_ms(now_ms) {
            let _ = write!(s, "shutdown_in_milliseconds:{ms}\r\n");
        }
    }
    if has("clients") {
        section(&mut s, "Clients");
        // Clients waiting for a CLIENT PAUSE to end count as blocked, as in Redis.
        let blocked = ex.blocking.blocked_count + ex.postponed.len();
        let max_in = clients().map(|c| c.qbuf_len).max().unwrap_or(0);
        let max_out = clients().map(|c| c.pending_output()).max().unwrap_or(0);
        let _ = write!(
            s,
            "connected_clients:{}\r\ncluster_connections:{}\r\nmaxclients:{}\r\n\
             client_recent_max_input_buffer:{max_in}\r\nclient_recent_max_output_buffer:{max_out}\r\n\
             blocked_clients:{blocked}\r\ntracking_clients:{}\r\nclients_in_timeout_table:0\r\n",
            // Replicas are not counted (Redis's listLength(clients) - listLength(slaves)).
            ex.client_count.saturating_sub(ex.repl.replicas.len()),
            crate::cluster::glue::connections(ex),
            ex.settings.maxclients,
            ex.tracking.clients,
        );
    }
    if has("memory") {
        section(&mut s, "Memory");
        let o = super::memory::Overview::of(ex);
        let (used, rss, peak) = (o.used, o.rss, o.peak);
        let (overhead, startup, dataset) = (o.overhead_total, o.startup, o.dataset);
        let (peak_perc, dataset_perc) = (o.peak_percent(), o.dataset_percent());
        let aof_buffer = o.aof_buffer;
        let allocator = crate::alloc::allocator();
        let repl_buffers = crate::repl::buffer_memory(ex);
        let not_counted = ex.prop.aof.buf.len() as u64 + repl_buffers.not_counted;
        let total = crate::alloc::total_system_memory();
        let maxmemory = ex.settings.maxmemory;
        let frag = if used > 0 {
            rss as f64 / used as f64
        } else {
            0.0
        };
        let (lua, scripts, scripts_bytes) = ex.scripting.as_deref().map_or((0, 0, 0), |e| {
            (
                e.memory() as u64,
                e.script_count(),
                e.scripts_bytes() as u64,
            )
        });
        let (libs, funcs, vm_functions) = ex.functions.as_deref().map_or((0, 0, 0), |f| {
            let vm = f.engine.as_deref().map_or(0, |e| e.memory() as u64);
            (f.libraries.len(), f.function_count(), vm)
        });
        let cluster_links = ex.cluster.as_ref().map_or(0, |c| c.links_memory());
        // jemalloc's own view where it is linked (Redis's allocator_* fields); else the
        // counted bytes and the RSS stand in.
        let (allocated, active, resident) =
            crate::alloc::allocator_info().unwrap_or((used, rss, rss));
        let ratio = |a: u64, b: u64| if b > 0 { a as f64 / b as f64 } else { 0.0 };
        let mem_clients: u64 = clients()
            .map(|c| (c.out.buf.capacity() + c.qbuf_len + c.qbuf_free) as u64)
            .sum();
        let _ = write!(
            s,
            "used_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\n\
             used_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\n\
             used_memory_peak_perc:{peak_perc:.2}%\r\nused_memory_overhead:{overhead}\r\nused_memory_startup:{startup}\r\n\
             used_memory_dataset:{dataset}\r\nused_memory_dataset_perc:{dataset_perc:.2}%\r\n\
             allocator_allocated:{allocated}\r\nallocator_active:{active}\r\nallocator_resident:{resident}\r\n\
             total_system_memory:{total}\r\ntotal_system_memory_human:{}\r\n\
             used_memory_lua:{lua}\r\nused_memory_vm_eval:{lua}\r\nused_memory_lua_human:{}\r\n\
             used_memory_scripts_eval:{scripts_bytes}\r\nnumber_of_cached_scripts:{scripts}\r\nnumber_of_functions:{funcs}\r\n\
             number_of_libraries:{libs}\r\nused_memory_vm_functions:{vm_functions}\r\nused_memory_vm_total:{}\r\n\
             used_memory_vm_total_human:{}\r\nused_memory_functions:0\r\nused_memory_scripts:{scripts_bytes}\r\n\
             used_memory_scripts_human:{}\r\nmaxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\n\
             maxmemory_policy:{}\r\nallocator_frag_ratio:{:.2}\r\nallocator_frag_bytes:{}\r\n\
             allocator_rss_ratio:{:.2}\r\nallocator_rss_bytes:{}\r\nrss_overhead_ratio:{:.2}\r\n\
             rss_overhead_bytes:{}\r\nmem_fragmentation_ratio:{frag:.2}\r\n\
             mem_fragmentation_bytes:{}\r\nmem_not_counted_for_evict:{not_counted}\r\nmem_replication_backlog:{}\r\n\
             mem_total_replication_buffers:{}\r\nmem_clients_slaves:{}\r\nmem_clients_normal:{mem_clients}\r\n\
             mem_cluster_links:{cluster_links}\r\nmem_aof_buffer:{aof_buffer}\r\nmem_allocator:{allocator}\r\nactive_defrag_running:0\r\n\
             lazyfree_pending_objects:{}\r\nlazyfreed_objects:{}\r\n",
            human(used),
            human(rss),
            human(used),
            human(total),
            human(lua),
            lua + vm_functions,
            human(lua + vm_functions),
            human(scripts_bytes),
            human(maxmemory),
            ex.settings.maxmemory_policy,
            ratio(active, allocated),
            active as i64 - allocated as i64,
            ratio(resident, active),
            resident as i64 - active as i64,
            ratio(rss, resident),
            rss as i64 - resident as i64,
            rss as i64 - used as i64,
            repl_buffers.backlog,
            repl_buffers.total,
            repl_buffers.replicas,
            ex.lazyfree.pending(),
            ex.lazyfree.freed(),
        );
    }
    if has("persistence") {
        section(&mut s, "Persistence");
        let _ = write!(
            s,
            "loading:{}\r\nasync_loading:{}\r\ncurrent_cow_peak:{}\r\ncurrent_cow_size:{}\r\n\
             current_cow_size_age:{}\r\ncurrent_fork_perc:{:.2}\r\ncurrent_save_keys_processed:{}\r\n\
             current_save_keys_total:{}\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\n\
             rdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\n\
             rdb_current_bgsave_time_sec:{}\r\nrdb_saves:{}\r\nrdb_last_cow_size:{}\r\n\
             rdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\naof_enabled:{}\r\n\
             aof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\n\
             aof_current_rewrite_time_sec:{}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\n\
             aof_rewrites_consecutive_failures:{}\r\naof_last_write_status:{}\r\naof_last_cow_size:{}\r\n\
             module_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
            u8::from(ex.persist.loading.is_some() && !ex.persist.async_loading),
            u8::from(ex.persist.async_loading),
            ex.persist.progress.cow_peak,
            ex.persist.progress.cow,
            ex.persist.progress.cow_at.map_or(0, |t| t.elapsed().as_secs()),
            ex.persist.progress.percent(),
            ex.persist.progress.keys_processed,
            ex.persist.progress.keys_total,
            ex.dirty,
            u8::from(ex.persist.child.is_some()),
            ex.lastsave_unix,
            if ex.persist.last_bgsave_ok { "ok" } else { "err" },
            ex.persist.last_bgsave_secs,
            ex.persist
                .child
                .as_ref()
                .map_or(-1, |c| c.started.elapsed().as_secs() as i64),
            ex.persist.saves,
            ex.persist.last_cow_bytes,
            ex.persist.loaded_expired,
            ex.persist.loaded_keys,
            u8::from(ex.aof.state != crate::persist::aof::State::Off),
            u8::from(ex.aof.child.is_some()),
            u8::from(ex.aof.rewrite_scheduled),
            ex.aof.last_rewrite_secs.unwrap_or(-1),
            ex.aof
                .child
                .as_ref()
                .map_or(-1, |c| c.started.elapsed().as_secs() as i64),
            if ex.aof.last_rewrite_failed { "err" } else { "ok" },
            ex.aof.rewrites,
            ex.aof.consecutive_failures,
            if ex.aof.last_write_error.is_some() { "err" } else { "ok" },
            ex.aof.last_cow_bytes,
        );
        if ex.aof.state != crate::persist::aof::State::Off {
            let _ = write!(
                s,
                "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:{}\r\n\
                 aof_buffer_length:{}\r\naof_pending_bio_fsync:{}\r\naof_delayed_fsync:{}\r\n",
                ex.aof.current_size,
                ex.aof.base_size,
                u8::from(ex.aof.rewrite_scheduled),
                ex.prop.aof.buf.len(),
                u8::from(ex.aof.fsync_pending()),
                ex.aof.delayed_fsync,
            );
        }
        if let Some(l) = &ex.persist.loading {
            s.push_str(&l.info());
        }
    }
    if has("stats") {
        section(&mut s, "Stats");
        let current_exceeded = ex
            .eviction
            .exceeded_since
            .map_or(std::time::Duration::ZERO, |t| t.elapsed());
        let st = &ex.stats;
        let _ = write!(
            s,
            "total_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
             instantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\n\
             total_net_repl_input_bytes:{}\r\ntotal_net_repl_output_bytes:{}\r\n\
             instantaneous_input_kbps:{:.2}\r\ninstantaneous_output_kbps:{:.2}\r\n\
             instantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\n\
             rejected_connections:{}\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\n\
             expired_keys:{}\r\nexpired_subkeys:{}\r\nexpired_stale_perc:0.00\r\nexpired_time_cap_reached_count:0\r\n\
             expire_cycle_cpu_milliseconds:0\r\nevicted_keys:{}\r\nevicted_clients:{}\r\n\
             total_eviction_exceeded_time:{}\r\ncurrent_eviction_exceeded_time:{}\r\n\
             keyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\n\
             pubsubshard_channels:{}\r\nlatest_fork_usec:{}\r\ntotal_forks:{}\r\nmigrate_cached_sockets:{}\r\n\
             slave_expires_tracked_keys:{}\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\n\
             active_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\n\
             current_active_defrag_time:0\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\n\
             tracking_total_prefixes:{}\r\nunexpected_error_replies:{}\r\ntotal_error_replies:{}\r\n\
             dump_payload_sanitizations:0\r\ntotal_reads_processed:{}\r\ntotal_writes_processed:{}\r\n\
             io_threaded_reads_processed:{}\r\nio_threaded_writes_processed:{}\r\n\
             reply_buffer_shrinks:{}\r\nreply_buffer_expands:{}\r\n\
             client_query_buffer_limit_disconnections:{}\r\nclient_output_buffer_limit_disconnections:{}\r\n\
             acl_access_denied_auth:{}\r\nacl_access_denied_cmd:{}\r\nacl_access_denied_key:{}\r\n\
             acl_access_denied_channel:{}\r\n",
            st.total_connections_received,
            st.total_commands_processed,
            st.instantaneous_ops(),
            st.total_net_input_bytes,
            st.total_net_output_bytes,
            st.total_net_repl_input_bytes,
            st.total_net_repl_output_bytes,
            st.instantaneous_input_kbps(),
            st.instantaneous_output_kbps(),
            st.rejected_connections,
            ex.repl.stat_sync_full,
            ex.repl.stat_sync_partial_ok,
            ex.repl.stat_sync_partial_err,
            st.expired_keys,
            st.expired_subkeys,
            st.evicted_keys,
            st.evicted_clients,
            (ex.eviction.total_exceeded + current_exceeded).as_millis(),
            current_exceeded.as_millis(),
            st.keyspace_hits,
            st.keyspace_misses,
            ex.pubsub.channel_count(crate::pubsub::Kind::Channel),
            ex.pubsub.pattern_count(),
            ex.pubsub.channel_count(crate::pubsub::Kind::Shard),
            ex.persist.latest_fork_usec,
            ex.persist.total_forks,
            ex.migrate_links.len(),
            ex.repl.writable_expires.len(),
            ex.tracking.total_keys(),
            ex.tracking.total_items(),
            ex.tracking.total_prefixes(),
            st.unexpected_error_replies,
            st.total_error_replies,
            st.total_reads_processed,
            st.total_writes_processed,
            st.io_threaded_reads_processed,
            st.io_threaded_writes_processed,
            st.reply_buffer_shrinks,
            st.reply_buffer_expands,
            st.client_query_buffer_limit_disconnections,
            st.client_output_buffer_limit_disconnections,
            ex.acl.denied.auth,
            ex.acl.denied.cmd,
            ex.acl.denied.key,
            ex.acl.denied.channel,
        );
    }
    if has("replication") {
        section(&mut s, "Replication");
        crate::repl::info(ex, &mut s);
    }
    if has("cpu") {
        section(&mut s, "CPU");
        let (user, sys) = cpu_times(libc::RUSAGE_SELF);
        let (cuser, csys) = cpu_times(libc::RUSAGE_CHILDREN);
        let _ = write!(
            s,
            "used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:{csys:.6}\r\n\
             used_cpu_user_children:{cuser:.6}\r\nused_cpu_sys_main_thread:{sys:.6}\r\n\
             used_cpu_user_main_thread:{user:.6}\r\n"
        );
    }
    if has("modules") || has("module_list") {
        section(&mut s, "Modules");
    }
    if has("commandstats") {
        section(&mut s, "Commandstats");
        for (i, name) in ex.table.metas.iter().map(|m| m.name).enumerate() {
            let c = &ex.stats.cmd[i];
            if c.calls == 0 && c.rejected_calls == 0 && c.failed_calls == 0 {
                continue;
            }
            let per = if c.calls > 0 {
                c.usec as f64 / c.calls as f64
            } else {
                0.0
            };
            let _ = write!(
                s,
                "cmdstat_{name}:calls={},usec={},usec_per_call={per:.2},rejected_calls={},failed_calls={}\r\n",
                c.calls, c.usec, c.rejected_calls, c.failed_calls
            );
        }
    }
    if has("errorstats") {
        section(&mut s, "Errorstats");
        for (code, n) in &ex.stats.errors {
            let _ = write!(
                s,
                "errorstat_{}:count={n}\r\n",
                String::from_utf8_lossy(code)
            );
        }
    }
    if has("latencystats") {
        section(&mut s, "Latencystats");
        for (i, name) in ex.table.metas.iter().map(|m| m.name).enumerate() {
            let hist = &ex.stats.cmd[i].hist;
            let total: u64 = hist.iter().sum();
            if total == 0 {
                continue;
            }
            let _ = write!(s, "latency_percentiles_usec_{name}:");
            for (j, p) in ex.settings.latency_percentiles.iter().enumerate() {
                let usec = crate::exec::latency::percentile_usec(hist, *p);
                let label = format!("{p}");
                let sep = if j == 0 { "" } else { "," };
                let _ = write!(s, "{sep}p{label}={usec:.3}");
            }
            s.push_str("\r\n");
        }
    }
    if has("cluster") {
        section(&mut s, "Cluster");
        let enabled = ex.cluster.is_some() as u8;
        let _ = write!(s, "cluster_enabled:{enabled}\r\n");
    }
    if has("keyspace") {
        section(&mut s, "Keyspace");
        for (i, db) in ex.dbs.iter().enumerate() {
            if db.is_empty() {
                continue;
            }
            let _ = write!(
                s,
                "db{i}:keys={},expires={},avg_ttl={}",
                db.len(),
                db.expires_count(),
                db.avg_ttl_ms
            );
            // Redis 7.4 added `subexpiry` (hashes with field TTLs); it shows only where
            // there are some, so the line stays Redis 7.0's for everyone else.
            let sub = db.keys_with_subkey_ttls();
            if sub > 0 {
                let _ = write!(s, ",subexpiry={sub}");
            }
            s.push_str("\r\n");
        }
    }
    s
}

/// Redis's bytesToHuman.
pub fn human(n: u64) -> String {
    let n = n as f64;
    const K: f64 = 1024.0;
    if n < K {
        format!("{}B", n as u64)
    } else if n < K * K {
        format!("{:.2}K", n / K)
    } else if n < K * K * K {
        format!("{:.2}M", n / (K * K))
    } else if n < K * K * K * K {
        format!("{:.2}G", n / (K * K * K))
    } else if n < K * K * K * K * K {
        format!("{:.2}T", n / (K * K * K * K))
    } else {
        format!("{:.2}P", n / (K * K * K * K * K))
    }
}

fn uname() -> String {
    // SAFETY: utsname is plain data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "Linux".into();
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).to_string()
    };
    format!(
        "{} {} {}",
        field(&u.sysname),
        field(&u.release),
        field(&u.machine)
    )
}

fn cpu_times(who: libc::c_int) -> (f64, f64) {
    // SAFETY: rusage is plain data; getrusage fills it.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `r` is valid and writable.
    if unsafe { libc::getrusage(who, &mut r) } != 0 {
        return (0.0, 0.0);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(r.ru_utime), t(r.ru_stime))
}
