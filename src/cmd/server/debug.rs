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
                "AOF-FLUSH-SLEEP <microsec>",
                "    Server will sleep before flushing the AOF, this is used for testing.",
                "ASSERT",
                "    Crash by assertion failed.",
                "CHANGE-REPL-ID",
                "    Change the replication IDs of the instance.",
                "    Dangerous: should be used only for testing the replication subsystem.",
                "CONFIG-REWRITE-FORCE-ALL",
                "    Like CONFIG REWRITE but writes all configuration options, including",
                "    keywords not listed in original configuration file or default values.",
                "CRASH-AND-RECOVER [<milliseconds>]",
                "    Hard crash and restart after a <milliseconds> delay (default 0).",
                "DIGEST",
                "    Output a hex signature representing the current DB content.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hex signature of the values of all the specified keys.",
                "ERROR <string>",
                "    Return a Redis protocol error with <string> as message. Useful for clients",
                "    unit tests to simulate Redis errors.",
                "LEAK <string>",
                "    Create a memory leak of the input string.",
                "LOG <message>",
                "    Write <message> to the server log.",
                "HTSTATS <dbid>",
                "    Return hash table statistics of the specified Redis database.",
                "HTSTATS-KEY <key>",
                "    Like HTSTATS but for the hash table stored at <key>'s value.",
                "LOADAOF",
                "    Flush the AOF buffers on disk and reload the AOF in memory.",
                "REPLICATE <string>",
                "    Replicates the provided string to replicas, allowing data divergence.",
                "MALLCTL <key> [<val>]",
                "    Get or set a malloc tuning integer.",
                "MALLCTL-STR <key> [<val>]",
                "    Get or set a malloc tuning string.",
                "OBJECT <key>",
                "    Show low level info about `key` and associated value.",
                "DROP-CLUSTER-PACKET-FILTER <packet-type>",
                "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
                "OOM",
                "    Crash the server simulating an out-of-memory error.",
                "PANIC",
                "    Crash the server simulating a panic.",
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named key:<num>. If <prefix> is specified then",
                "    it is used instead of the 'key' prefix. These are not propagated to",
                "    replicas. Cluster slots are not respected so keys not belonging to the",
                "    current node can be created in cluster mode.",
                "PROTOCOL <type>",
                "    Reply with a test value of the specified type. <type> can be: string,",
                "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
                "    true, false.",
                "RELOAD [option ...]",
                "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
                "    * MERGE: conflicting keys will be loaded from RDB.",
                "    * NOFLUSH: the existing database will not be removed before load, but",
                "      conflicting keys will generate an exception and kill the server.",
                "    * NOSAVE: the database will be loaded from an existing RDB file.",
                "    Examples:",
                "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
                "      the database.",
                "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
                "      existing RDB file.",
                "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
                "      file to the database.",
                "RESTART [<milliseconds>]",
                "    Graceful restart: save config, db, restart after a <milliseconds> delay (default 0).",
                "SDSLEN <key>",
                "    Show low level SDS string info representing `key` and value.",
                "SEGFAULT",
                "    Crash the server with sigsegv.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not",
                "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
                "    default.",
                "QUICKLIST-PACKED-THRESHOLD <size>",
                "    Sets the threshold for elements to be inserted as plain vs packed nodes",
                "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
                "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
                "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
                "STRINGMATCH-TEST",
                "    Run a fuzz tester against the stringmatchlen() function.",
                "STRUCTSIZE",
                "    Return the size of different Redis core C structures.",
                "LISTPACK <key>",
                "    Show low level info about the listpack encoding of <key>.",
                "QUICKLIST <key> [<0|1>]",
                "    Show low level info about the quicklist encoding of <key>.",
                "    The optional argument (0 by default) sets the level of detail",
                "CLIENT-EVICTION",
                "    Show low level client eviction pools info (maxmemory-clients).",
                "PAUSE-CRON <0|1>",
                "    Stop periodic cron job processing.",
                "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
                "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
                "    In case NEVER is provided the last observed peak will never be reset",
                "    In case RESET is provided the peak reset time will be restored to the default value",
                "REPLYBUFFER RESIZING <0|1>",
                "    Enable or disable the reply buffer resize cron job",
                "CLUSTERLINK KILL <to|from|all> <node-id>",
                "    Kills the link based on the direction to/from (both) with the provided node.",
                "STRINGMATCH-LEN <pattern>",
                "    Match <pattern> against a 1 MB string (the guard against deep recursion).",
                "SET-DISABLE-DENY-SCRIPTS <0|1>",
                "    For testing only: disable the deny-scripts flag (commands marked noscript",
                "    run from scripts).",
            ],
        );
        return Ok(());
    }
    if (eq(sub, "MALLCTL") || eq(sub, "MALLCTL-STR")) && (1..=2).contains(&args.remaining()) {
        let name = String::from_utf8_lossy(ctx.argv[2]).into_owned();
        let new = ctx.argv.get(3).copied();
        if eq(sub, "MALLCTL") {
            let new = new.map(int).transpose()?;
            if let Some(r) = crate::alloc::mallctl_int(&name, new) {
                match r.map_err(err::allocator_control)? {
                    Some(v) => ctx.out().int(v),
                    None => ctx.out().ok(),
                }
                return Ok(());
            }
        } else if let Some(r) = crate::alloc::mallctl_str(&name, new) {
            match r.map_err(err::allocator_control)? {
                Some(v) => ctx.out().bulk(v.as_bytes()),
                None => ctx.out().ok(),
            }
            return Ok(());
        }
    }
    if eq(sub, "CONFIG-REWRITE-FORCE-ALL") && args.remaining() == 0 {
        return super::config_cmd::rewrite(ctx, true);
    }
    if eq(sub, "SET-SKIP-CHECKSUM-VALIDATION") && args.remaining() == 1 {
        ctx.ex.skip_checksum_validation = int(ctx.argv[2])? != 0;
        ctx.out().ok();
        return Ok(());
    }
    if eq(sub, "AOF-FLUSH-SLEEP") && args.remaining() == 1 {
        ctx.ex.aof.flush_sleep_us = int(ctx.argv[2])?.max(0) as u64;
        ctx.out().ok();
        return Ok(());
    }
    if eq(sub, "LOG") && args.remaining() == 1 {
        tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(ctx.argv[2]));
        ctx.out().ok();
        return Ok(());
    }
    // Crashes on demand: the crash report, then the process ends (Redis's wording).
    if eq(sub, "SEGFAULT") && args.remaining() == 0 {
        crate::crash::segfault();
    }
    if eq(sub, "PANIC") && args.remaining() == 0 {
        let now = ctx.now_ms / 1000;
        crate::crash::software_failure(false, &format!("DEBUG PANIC called at Unix time {now}"));
    }
    if eq(sub, "ASSERT") && args.remaining() == 0 {
        crate::crash::software_failure(true, "debug: '1 == 2' is not true");
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
        crate::persist::aof::reload_or_exit(ctx.ex);
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
    if eq(sub, "DIGEST") && args.remaining() == 0 {
        let d = crate::keyspace::digest::dataset_digest(&ctx.ex.dbs);
        ctx.out().simple(&crate::keyspace::digest::hex(&d));
        return Ok(());
    }
    if eq(sub, "DIGEST-VALUE") {
        let (db, now) = (ctx.client.db, ctx.now_ms);
        let keys = args.rest();
        let out = &mut ctx.client.out;
        out.array(keys.len());
        for key in keys {
            let mut d = [0u8; 20];
            let live = ctx.ex.dbs[db]
                .peek(key)
                .filter(|_| !ctx.ex.dbs[db].is_expired(key, now));
            if let Some(e) = live {
                crate::keyspace::digest::value_digest(e, &mut d);
            }
            out.simple(&crate::keyspace::digest::hex(&d));
        }
        return Ok(());
    }
    if eq(sub, "QUICKLIST-PACKED-THRESHOLD") && args.remaining() == 1 {
        let ok = crate::config::parse_memory(args.bytes()?)
            .is_some_and(crate::keyspace::types::quicklist::set_packed_threshold);
        if !ok {
            return Err(err::DEBUG_PACKED_THRESHOLD.into());
        }
        ctx.out().ok();
        return Ok(());
    }
    if eq(sub, "PROTOCOL") && args.remaining() == 1 {
        return protocol(ctx, args.bytes()?);
    }
    if eq(sub, "REPLYBUFFER") && args.remaining() == 2 {
        let (what, value) = (args.bytes()?, args.bytes()?);
        if eq(what, "PEAK-RESET-TIME") {
            ctx.ex.reply_buffer_peak_reset_ms = if eq(value, "NEVER") {
                -1
            } else if eq(value, "RESET") {
                crate::exec::REPLY_BUFFER_PEAK_RESET_MS
            } else {
                int(value)?
            };
        } else if eq(what, "RESIZING") {
            // Redis reads it with atoi: anything not a number is 0.
            ctx.ex.reply_buffer_resizing = crate::util::num::strtod_prefix(value) != 0.0;
        } else {
            return Err(err::subcommand_syntax(ctx.argv[0], ctx.argv[1]));
        }
        ctx.out().ok();
        return Ok(());
    }
    if eq(sub, "PAUSE-CRON") && args.remaining() == 1 {
        ctx.ex.cron_paused = int(args.bytes()?)? != 0;
        ctx.out().ok();
        return Ok(());
    }
    if eq(sub, "SET-DISABLE-DENY-SCRIPTS") && args.remaining() == 1 {
        ctx.ex.script_deny_disabled = int(args.bytes()?)? != 0;
        ctx.out().ok();
        return Ok(());
    }
    if eq(sub, "ERROR") && args.remaining() == 1 {
        // The text is the client's own: it is the error to reply, as Redis's addReplyError.
        let text = args.bytes()?;
        return Err(err::CmdError::owned(text.to_vec()));
    }
    if eq(sub, "STRINGMATCH-LEN") && args.remaining() == 1 {
        // Redis's check that a long pattern cannot make stringmatchlen recurse for ever.
        let pattern = args.bytes()?;
        let matched = crate::util::glob::glob_match(pattern, &[b'a'; 1024 * 1024], false);
        ctx.out().int(i64::from(matched));
        return Ok(());
    }
    // A command sent to the replicas as if propagated, never run here (Redis's test hook
    // for replicas that fail what their master sends).
    if eq(sub, "REPLICATE") && args.remaining() >= 1 {
        let mut cmd = Vec::new();
        crate::exec::propagate::encode_command(&mut cmd, ctx.argv[2..].iter().copied());
        crate::repl::feed_bytes(ctx.ex, &cmd);
        ctx.out().ok();
        return Ok(());
    }
    // A new replication history: no replica can continue the old one.
    if eq(sub, "CHANGE-REPL-ID") && args.remaining() == 0 {
        ctx.ex.repl.replid = crate::repl::random_replid();
        ctx.ex.repl.clear_replid2();
        tracing::info!("Changed replication IDs by DEBUG CHANGE-REPL-ID");
        ctx.out().ok();
        return Ok(());
    }
    if eq(sub, "LISTPACK") && args.remaining() == 1 {
        let key = args.bytes()?;
        let Some(e) = ctx.ex.dbs[ctx.client.db].peek(key) else {
            return Err(err::NO_SUCH_KEY.into());
        };
        // The listpack Redis would hold (and RDB files carry) for the value.
        let lp = crate::persist::rdb::compact_listpack(&e.value).ok_or(err::NOT_A_LISTPACK)?;
        let text = crate::keyspace::types::stream::listpack::repr(&lp, lp.as_ptr() as usize)
            .map_err(|_| err::NOT_A_LISTPACK)?;
        // Redis prints the structure on the server's standard output.
        print!("{text}");
        ctx.out().simple(b"Listpack structure printed on stdout");
        return Ok(());
    }
    if eq(sub, "HTSTATS") && args.remaining() == 1 {
        let db = int(args.bytes()?)?;
        let db = usize::try_from(db)
            .ok()
            .filter(|&d| d < ctx.ex.dbs.len())
            .ok_or(err::OUT_OF_RANGE_DATABASE)?;
        let mut text = String::from("[Dictionary HT]\n");
        ctx.ex.dbs[db].keys().stats(&mut text);
        text.push_str("[Expires HT]\n");
        ctx.ex.dbs[db].volatile().stats(&mut text);
        ctx.out().verbatim(b"txt", text.as_bytes());
        return Ok(());
    }
    if eq(sub, "CLUSTERLINK") && args.remaining() == 3 && eq(ctx.argv[2], "KILL") {
        let (dir, name) = (ctx.argv[3], ctx.argv[4]);
        let Some(c) = ctx.ex.cluster.as_mut() else {
            return Err(err::DEBUG_CLUSTER_ONLY.into());
        };
        let n = c
            .lookup(name)
            .ok_or_else(|| err::cluster_unknown_node(name))?;
        let (to, from) = (c.node(n).link, c.node(n).inbound_link);
        let links = if eq(dir, "from") {
            vec![from]
        } else if eq(dir, "to") {
            vec![to]
        } else if eq(dir, "all") {
            vec![to, from]
        } else {
            return Err(err::unknown_direction(dir));
        };
        for l in links.into_iter().flatten() {
            c.free_link(l);
        }
        ctx.out().ok();
        return Ok(());
    }
    if eq(sub, "HTSTATS-KEY") && args.remaining() == 1 {
        let key = args.bytes()?;
        let Some(e) = ctx.ex.dbs[ctx.client.db].peek(key) else {
            return Err(err::NO_SUCH_KEY.into());
        };
        let text = e.value.hash_table_stats().ok_or(err::NOT_A_HASH_TABLE)?;
        ctx.out().verbatim(b"txt", text.as_bytes());
        return Ok(());
    }
    if eq(sub, "OBJECT") && args.remaining() == 1 {
        let key = args.bytes()?;
        let now = ctx.now_ms;
        // The key as stored, even if its TTL passed (Redis reads the dict directly).
        let Some(e) = ctx.ex.dbs[ctx.client.db].peek(key) else {
            return Err(err::NO_SUCH_KEY.into());
        };
        let idle = crate::exec::idle_secs(e.lru(), now);
        let line = format!(
            "Value at:0x0 refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{idle}",
            e.value.encoding_name(),
            e.value.str_len().unwrap_or(0),
            e.lru()
        );
        ctx.out().simple(line.as_bytes());
        return Ok(());
    }
    if eq(sub, "STRINGMATCH-TEST") && args.remaining() == 0 {
        stringmatch_fuzz(10_000_000);
        ctx.out()
            .simple(b"Apparently Redis did not crash: test passed");
        return Ok(());
    }
    if eq(sub, "SDSLEN") && args.remaining() == 1 {
        return sdslen(ctx, ctx.argv[2]);
    }
    if eq(sub, "STRUCTSIZE") && args.remaining() == 0 {
        use std::mem::size_of;
        let line = format!(
            "bits:{} entry:{} value:{} key:{} setkey:{} client:{} ",
            usize::BITS,
            size_of::<crate::keyspace::db::Entry>(),
            size_of::<crate::keyspace::value::Value>(),
            size_of::<crate::keyspace::bytes::CompactBytes>(),
            size_of::<crate::keyspace::types::set_key::SetKey>(),
            size_of::<crate::exec::Client>(),
        );
        ctx.out().simple(line.as_bytes());
        return Ok(());
    }
    if eq(sub, "QUICKLIST") && (1..=2).contains(&args.remaining()) {
        let key = args.bytes()?;
        let full = ctx
            .argv
            .get(3)
            .is_some_and(|a| crate::util::num::atoll_prefix(a) != 0);
        let Some(e) = ctx.ex.dbs[ctx.client.db].peek(key) else {
            return Err(err::NO_SUCH_KEY.into());
        };
        let crate::keyspace::value::Value::List(list) = &e.value else {
            return Err(err::NOT_A_QUICKLIST.into());
        };
        // Redis prints the structure on the server's standard output.
        print!("{}", list.describe(full));
        ctx.out().simple(b"Quicklist structure printed on stdout");
        return Ok(());
    }
    if eq(sub, "CLIENT-EVICTION") && args.remaining() == 0 {
        if ctx.ex.client_eviction_limit() == 0 {
            return Err(err::CLIENT_EVICTION_DISABLED.into());
        }
        let text = ctx.ex.client_eviction_buckets();
        ctx.out().verbatim(b"txt", text.as_bytes());
        return Ok(());
    }
    if eq(sub, "LEAK") && args.remaining() == 1 {
        // As asked: a copy nobody frees.
        std::mem::forget(ctx.argv[2].to_vec());
        ctx.out().ok();
        return Ok(());
    }
    if eq(sub, "OOM") {
        crate::crash::software_failure(
            false,
            &format!(
                "Redis aborting for OUT OF MEMORY. Allocating {} bytes!",
                usize::MAX
            ),
        );
    }
    if eq(sub, "DROP-CLUSTER-PACKET-FILTER") && args.remaining() == 1 {
        let packet_type = int(args.bytes()?)?;
        if let Some(c) = ctx.ex.cluster.as_mut() {
            c.drop_packet_filter = u16::try_from(packet_type).ok();
        }
        ctx.out().ok();
        return Ok(());
    }
    if eq(sub, "RESTART") || eq(sub, "CRASH-AND-RECOVER") {
        let delay = match ctx.argv.get(2) {
            Some(ms) => int(ms)?.max(0) as u64,
            None => 0,
        };
        return restart(ctx, eq(sub, "RESTART"), delay);
    }
    Err(err::subcommand_syntax(ctx.argv[0], sub))
}

/// DEBUG PROTOCOL <type>: one reply of each RESP type, for clients to test their parsers.
fn protocol(ctx: &mut Ctx, name: &[u8]) -> CmdResult {
    let resp3 = ctx.client.out.is_resp3();
    let out = ctx.out();
    if eq(name, "string") {
        out.bulk(b"Hello World");
    } else if eq(name, "integer") {
        out.int(12345);
    } else if eq(name, "double") {
        #[allow(clippy::approx_constant)] // Redis sends exactly 3.141, not pi.
        out.double(3.141);
    } else if eq(name, "bignum") {
        out.big_number(b"1234567999999999999999999999999999999");
    } else if eq(name, "null") {
        out.null();
    } else if eq(name, "array") || eq(name, "set") {
        if eq(name, "array") {
            out.array(3);
        } else {
            out.set(3);
        }
        for j in 0..3 {
            out.int(j);
        }
    } else if eq(name, "map") {
        out.map(3);
        for j in 0..3 {
            out.int(j);
            out.bool(j == 1);
        }
    } else if eq(name, "attrib") {
        if resp3 {
            out.raw(b"|1\r\n");
            out.bulk(b"key-popularity");
            out.array(2);
            out.bulk(b"key:123");
            out.int(90);
        }
        // An attribute is not a reply: a real one follows.
        out.bulk(b"Some real reply following the attribute");
    } else if eq(name, "push") {
        if !resp3 {
            return Err(err::DEBUG_PUSH_RESP2.into());
        }
        out.push(2);
        out.bulk(b"server-cpu-usage");
        out.int(42);
        out.bulk(b"Some real reply following the push reply");
    } else if eq(name, "true") {
        out.bool(true);
    } else if eq(name, "false") {
        out.bool(false);
    } else if eq(name, "verbatim") {
        out.verbatim(b"txt", b"This is a verbatim\nstring");
    } else {
        return Err(err::DEBUG_PROTOCOL_TYPE.into());
    }
    Ok(())
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
            err::CmdError::from(err::DEBUG_RELOAD_SAVE_FAILED)
        })?;
    }
    // Without NOFLUSH the file replaces everything (MERGE has nothing to merge with then).
    let mode = if flush {
        crate::persist::LoadMode::Replace
    } else {
        crate::persist::LoadMode::Into { merge }
    };
    match crate::persist::load_rdb_file_into(ctx.ex, mode) {
        Ok(_) => {
            tracing::info!("DB reloaded by DEBUG RELOAD");
            ctx.out().ok();
            Ok(())
        }
        Err(e) => {
            tracing::warn!("{e}");
            Err(err::DEBUG_RELOAD_FAILED.into())
        }
    }
}

/// DEBUG STRINGMATCH-TEST (Redis's stringmatchlen_fuzz_test): random patterns against random
/// strings, for a matcher that must neither crash nor hang.
fn stringmatch_fuzz(cycles: u32) -> u32 {
    let mut next = crate::util::rng::splitmix(rand::random());
    let mut below = |n: u64| next() % n;
    let mut matches = 0;
    let (mut text, mut pattern) = ([0u8; 32], [0u8; 32]);
    for _ in 0..cycles {
        let text_len = below(32) as usize;
        let pattern_len = below(32) as usize;
        for b in &mut text[..text_len] {
            *b = below(128) as u8;
        }
        for b in &mut pattern[..pattern_len] {
            *b = below(128) as u8;
        }
        matches += u32::from(crate::util::glob::glob_match(
            &pattern[..pattern_len],
            &text[..text_len],
            false,
        ));
    }
    matches
}

/// DEBUG SDSLEN <key>: the lengths and allocations of a string key's name and value.
fn sdslen(ctx: &mut Ctx, key: &[u8]) -> CmdResult {
    let Some(e) = ctx.ex.dbs[ctx.client.db].peek(key) else {
        return Err(err::NO_SUCH_KEY.into());
    };
    let Some(len) = e
        .value
        .str_len()
        .filter(|_| e.value.encoding_name() != "int")
    else {
        return Err(err::NOT_AN_SDS_STRING.into());
    };
    let key_heap = crate::keyspace::bytes::CompactBytes::new(key).heap_bytes();
    let line = format!(
        "key_sds_len:{}, key_sds_avail:0, key_zmalloc: {key_heap}, val_sds_len:{len}, val_sds_avail:0, val_zmalloc: {}",
        key.len(),
        e.value.heap_bytes()
    );
    ctx.out().simple(line.as_bytes());
    Ok(())
}

/// DEBUG RESTART (save as a shutdown would, rewrite the configuration file) and DEBUG
/// CRASH-AND-RECOVER (nothing saved): the server starts over in this process after `delay`
/// milliseconds. Replies only if that could not happen.
fn restart(ctx: &mut Ctx, graceful: bool, delay: u64) -> CmdResult {
    if graceful {
        if let Some(path) = ctx.ex.cfg.file.clone() {
            if let Err(e) = super::config_cmd::rewrite_file(ctx.ex, &path, false) {
                tracing::warn!("Can't restart: configuration rewrite process failed: {e}");
                return Err(err::RESTART_FAILED.into());
            }
        }
        let now = crate::exec::shutdown::ShutdownRequest {
            save: None,
            now: true,
            force: false,
        };
        if ctx.ex.begin_shutdown(now) != crate::exec::shutdown::Shutdown::Exit {
            tracing::warn!("Can't restart: error preparing for shutdown");
            return Err(err::RESTART_FAILED.into());
        }
    }
    let why = crate::restart::exec_again(delay);
    tracing::warn!("{why}");
    Err(err::RESTART_FAILED.into())
}
