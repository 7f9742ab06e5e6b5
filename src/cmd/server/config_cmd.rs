//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP.

use std::collections::HashSet;

use crate::config::{self, Kind, Setting, DEFS, DENY_LOADING, IMMUTABLE, MULTI_ARG, PROTECTED};
use crate::exec::Ctx;
use crate::resp::errors::{self as err, CmdError, CmdResult};
use crate::util::splitargs::split_args;

pub fn config_get(ctx: &mut Ctx) -> CmdResult {
    let patterns = ctx.args().rest();
    let pairs = ctx.ex.cfg.get_matching(patterns);
    let out = ctx.out();
    out.map(pairs.len());
    for (name, value) in pairs {
        out.bulk(name);
        out.bulk(&value);
    }
    Ok(())
}

fn set_failed(name: &[u8], why: &str) -> CmdError {
    err::config_set_failed(name, why)
}

pub fn config_set(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args().rest();
    if args.len() % 2 != 0 {
        return Err(err::SYNTAX.into());
    }
    let local = crate::net::is_loopback(&ctx.client.addr)
        || ctx.client.has(crate::exec::client::flags::UNIX_SOCKET);
    let mut seen = HashSet::new();
    let mut changes: Vec<(usize, &[u8])> = Vec::new();
    let mut denied_while_loading = false;
    for pair in args.chunks(2) {
        let (name, value) = (pair[0], pair[1]);
        let Some(idx) = config::lookup(&String::from_utf8_lossy(name)) else {
            return Err(err::config_set_unknown(name));
        };
        let def = &DEFS[idx];
        if def.flags & IMMUTABLE != 0 {
            return Err(set_failed(name, "can't set immutable config"));
        }
        if def.flags & PROTECTED != 0 {
            let allowed = match ctx.ex.settings.enable_protected_configs {
                "yes" => true,
                "local" => local,
                _ => false,
            };
            if !allowed {
                return Err(set_failed(name, "can't set protected config"));
            }
        }
        if def.flags & DENY_LOADING != 0 && ctx.ex.persist.loading.is_some() {
            denied_while_loading = true;
            continue;
        }
        if !seen.insert(idx) {
            return Err(set_failed(name, "duplicate parameter"));
        }
        changes.push((idx, value));
    }
    if denied_while_loading {
        return Err(err::LOADING.into());
    }
    // Validate everything first, then apply: CONFIG SET is all or nothing.
    let mut staged = ctx.ex.cfg.clone();
    let dir_was = std::env::current_dir().ok();
    for (idx, value) in &changes {
        let def = &DEFS[*idx];
        let argv: Vec<Vec<u8>> = if def.flags & MULTI_ARG != 0 {
            split_args(value).ok_or_else(|| set_failed(def.name.as_bytes(), "Invalid argument"))?
        } else {
            vec![value.to_vec()]
        };
        let result = match (def.kind, &staged.values[*idx]) {
            (Kind::Save, _) if argv.is_empty() => {
                staged.values[*idx] = Setting::Save(Vec::new());
                Ok(())
            }
            (Kind::Dir, _) => config::change_dir(value)
                .map(|_| staged.values[*idx] = Setting::Str(value.to_vec())),
            _ => staged.set(*idx, &argv),
        };
        if let Err(e) = result {
            restore_dir(dir_was.as_deref(), &changes);
            return Err(set_failed(def.name.as_bytes(), &e.0));
        }
    }
    // New listening addresses are bound before anything is committed: if the port is taken,
    // every parameter keeps its old value (Redis's rollback on apply errors).
    let (port, bind) = {
        let s = staged.settings();
        (s.port, s.bind)
    };
    if port != ctx.ex.settings.port || bind != ctx.ex.settings.bind {
        if let Err(e) = ctx.ex.rebind(port, &bind) {
            tracing::warn!("Failed listening on port {port} (TCP): {e}");
            restore_dir(dir_was.as_deref(), &changes);
            let (name, why) = if port != ctx.ex.settings.port {
                ("port", "Unable to listen on this port")
            } else {
                ("bind", "Failed to bind to specified addresses.")
            };
            return Err(set_failed(name.as_bytes(), why));
        }
    }
    // TLS certificates, keys and listeners: rebuilt before anything is committed too.
    let staged_settings = staged.settings();
    if staged_settings.tls_port != ctx.ex.settings.tls_port
        || staged_settings.tls != ctx.ex.settings.tls
    {
        if let Err(e) = ctx.ex.configure_tls(&staged_settings) {
            tracing::warn!("{e}");
            restore_dir(dir_was.as_deref(), &changes);
            let (name, why) = if staged_settings.tls_port != ctx.ex.settings.tls_port {
                (
                    "tls-port",
                    "Unable to listen on this port. Check server logs.",
                )
            } else {
                let name = changes
                    .iter()
                    .map(|(i, _)| DEFS[*i].name)
                    .find(|n| n.starts_with("tls-"))
                    .unwrap_or("tls-cert-file");
                (
                    name,
                    "Unable to update TLS configuration. Check server logs.",
                )
            };
            return Err(set_failed(name.as_bytes(), why));
        }
    }
    // The OOM score is set before anything is committed: a kernel refusal rolls back.
    let oom_changed = changes
        .iter()
        .find(|(idx, _)| DEFS[*idx].name.starts_with("oom-score-adj"));
    if let Some((idx, _)) = oom_changed {
        let class = ctx.ex.oom_class();
        if crate::oom::apply(&staged, class).is_err() {
            let _ = crate::oom::apply(&ctx.ex.cfg, class);
            restore_dir(dir_was.as_deref(), &changes);
            let name = DEFS[*idx].name;
            let why = if name == "oom-score-adj" {
                "Failed to set current oom_score_adj. Check server logs."
            } else {
                "Failed to apply oom-score-adj-values configuration"
            };
            return Err(set_failed(name.as_bytes(), why));
        }
    }
    for (idx, _) in &changes {
        if DEFS[*idx].effect == config::Effect::Stored {
            tracing::warn!("CONFIG SET {}: accepted and reported by CONFIG GET, but cinnabar does not act on it yet", DEFS[*idx].name);
        }
    }
    let appendonly_was = ctx.ex.settings.appendonly;
    let maxmemory_was = ctx.ex.settings.maxmemory;
    ctx.ex.cfg = staged;
    ctx.ex.apply_config();
    // requirepass is the default user's password (Redis's ACLUpdateDefaultUserPassword).
    if changes
        .iter()
        .any(|(idx, _)| DEFS[*idx].name == "requirepass")
    {
        let password = ctx.ex.settings.requirepass.clone();
        ctx.ex.acl.set_default_password(password.as_deref());
    }
    // A lower limit evicts at once (Redis's updateMaxmemory).
    let maxmemory = ctx.ex.settings.maxmemory;
    if maxmemory != 0 && maxmemory != maxmemory_was {
        let used = crate::alloc::used_memory() as u64;
        if maxmemory < used {
            tracing::warn!("WARNING: the new maxmemory value set via CONFIG SET ({maxmemory}) is smaller than the current memory usage ({used}). This will result in key eviction and/or the inability to accept new write commands depending on the maxmemory-policy.");
        }
        ctx.ex.perform_evictions();
    }
    if let Err(e) = crate::persist::aof::apply_config(ctx.ex) {
        let idx = config::lookup("appendonly").expect("appendonly is a directive");
        let old = if appendonly_was { "yes" } else { "no" };
        let _ = ctx.ex.cfg.set(idx, &[old.as_bytes().to_vec()]);
        ctx.ex.apply_config();
        return Err(set_failed(b"appendonly", &e));
    }
    ctx.out().ok();
    Ok(())
}

/// A failed CONFIG SET that had changed `dir` goes back to the old one.
fn restore_dir(old: Option<&std::path::Path>, changes: &[(usize, &[u8])]) {
    let changed_dir = changes
        .iter()
        .any(|(idx, _)| matches!(DEFS[*idx].kind, Kind::Dir));
    if let (true, Some(old)) = (changed_dir, old) {
        let _ = config::change_dir(old.as_os_str().as_encoded_bytes());
    }
}

pub fn config_resetstat(ctx: &mut Ctx) -> CmdResult {
    ctx.ex.stats.reset();
    ctx.ex.lazyfree.reset_stats();
    let repl = &mut ctx.ex.repl;
    (
        repl.stat_sync_full,
        repl.stat_sync_partial_ok,
        repl.stat_sync_partial_err,
    ) = (0, 0, 0);
    ctx.out().ok();
    Ok(())
}

pub fn config_rewrite(ctx: &mut Ctx) -> CmdResult {
    rewrite(ctx, false)
}

/// CONFIG REWRITE, or with `force_all` DEBUG CONFIG-REWRITE-FORCE-ALL (every directive
/// written, defaults included).
pub fn rewrite(ctx: &mut Ctx, force_all: bool) -> CmdResult {
    let Some(path) = ctx.ex.cfg.file.clone() else {
        return Err(err::NO_CONFIG_FILE.into());
    };
    match rewrite_file(ctx.ex, &path, force_all) {
        Ok(()) => {
            tracing::info!("CONFIG REWRITE executed with success.");
            ctx.out().ok();
            Ok(())
        }
        Err(e) => {
            tracing::warn!("CONFIG REWRITE failed: {e}");
            Err(err::config_rewrite_failed(&e.to_string()))
        }
    }
}

/// Writes the running configuration to `path`; users too, unless they live in an ACL file.
pub fn rewrite_file(
    ex: &crate::exec::Executor,
    path: &std::path::Path,
    force_all: bool,
) -> std::io::Result<()> {
    let user_lines: Vec<String> = if ex.settings.aclfile.is_some() {
        Vec::new()
    } else {
        ex.acl
            .users()
            .map(|u| String::from_utf8_lossy(&crate::acl::describe::user_line(u)).into_owned())
            .collect()
    };
    config::rewrite_file(&ex.cfg, path, &user_lines, force_all)
}

pub fn config_help(ctx: &mut Ctx) -> CmdResult {
    super::introspect::help(
        ctx.out(),
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}
