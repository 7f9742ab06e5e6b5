//! MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw]
//! [KEYS key...]: moves keys to another server as RESTORE commands carrying DUMP payloads,
//! over a cached blocking link (net::migrate), then deletes them here (unless COPY) and
//! propagates that as DEL. Errors and the retry rule are Redis's migrateCommand's.

use std::time::Duration;

use crate::cmd::args::{eq, int};
use crate::exec::Ctx;
use crate::keyspace::db::NO_EXPIRE;
use crate::net::migrate::{is_timeout, ConnectError};
use crate::resp::errors::{self as err, CmdError, CmdResult};
use crate::util::num::push_i64;

struct Options<'a> {
    copy: bool,
    replace: bool,
    auth: Option<(Option<&'a [u8]>, &'a [u8])>,
    keys: &'a [&'a [u8]],
}

fn parse_options<'a>(argv: &'a [&'a [u8]]) -> Result<Options<'a>, CmdError> {
    let mut o = Options {
        copy: false,
        replace: false,
        auth: None,
        keys: &argv[3..4],
    };
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let a = argv[j];
        if eq(a, "COPY") {
            o.copy = true;
        } else if eq(a, "REPLACE") {
            o.replace = true;
        } else if eq(a, "AUTH") {
            if more < 1 {
                return Err(err::SYNTAX.into());
            }
            o.auth = Some((None, argv[j + 1]));
            j += 1;
        } else if eq(a, "AUTH2") {
            if more < 2 {
                return Err(err::SYNTAX.into());
            }
            o.auth = Some((Some(argv[j + 1]), argv[j + 2]));
            j += 2;
        } else if eq(a, "KEYS") {
            if !argv[3].is_empty() {
                return Err(err::MIGRATE_KEYS_NEEDS_EMPTY_KEY.into());
            }
            o.keys = &argv[j + 1..];
            break;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    Ok(o)
}

/// The cached link to the target, over TLS when the cluster bus speaks it.
fn target_link<'a>(
    ex: &'a mut crate::exec::Executor,
    host: &[u8],
    port: &[u8],
    timeout: Duration,
    now_ms: i64,
    tls: bool,
) -> Result<&'a mut crate::net::migrate::MigrateLink, ConnectError> {
    ex.migrate_links
        .get(host, port, timeout, now_ms, tls.then_some(&ex.settings.tls))
}

/// Appends one command in RESP to `out`.
fn push_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    crate::exec::propagate::encode_command(out, args.iter().copied());
}

pub fn migrate(ctx: &mut Ctx) -> CmdResult {
    let argv = ctx.argv;
    let opts = parse_options(argv)?;
    let timeout = int(argv[5])?;
    let dbid = int(argv[4])?;
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    // Keys that are here; none at all is not an error (they may just have expired).
    let mut keys: Vec<&[u8]> = Vec::with_capacity(opts.keys.len());
    for &k in opts.keys {
        if ctx.read(k).is_some() {
            keys.push(k);
        }
    }
    if keys.is_empty() {
        ctx.prevent_propagation();
        ctx.out().simple(b"NOKEY");
        return Ok(());
    }
    let (host, port) = (argv[1], argv[2]);
    let compress = ctx.ex.cfg.get_bool("rdbcompression");
    // A cluster's MIGRATE speaks TLS when its bus does (Redis's migrateGetSocket).
    let tls = ctx.ex.cfg.get_bool("tls-cluster");
    let mut may_retry = true;
    loop {
        let now_ms = ctx.now_ms;
        let link = match target_link(ctx.ex, host, port, timeout, now_ms, tls) {
            Ok(l) => l,
            Err(ConnectError::Timeout) => return Err(err::MIGRATE_CONNECT.into()),
            Err(ConnectError::Failed) => return Err(err::MIGRATE_WRITE.into()),
        };
        let select = link.last_dbid != dbid;
        // The request: AUTH, SELECT, then one RESTORE per live key.
        let mut request = Vec::new();
        if let Some((user, pass)) = opts.auth {
            match user {
                Some(u) => push_command(&mut request, &[b"AUTH", u, pass]),
                None => push_command(&mut request, &[b"AUTH", pass]),
            }
        }
        let mut num = Vec::new();
        if select {
            push_i64(&mut num, dbid);
            push_command(&mut request, &[b"SELECT", &num]);
        }
        let mut sent: Vec<&[u8]> = Vec::with_capacity(keys.len());
        for &k in &keys {
            let db = ctx.client.db;
            let Some(e) = ctx.ex.dbs[db].peek(k) else {
                continue;
            };
            let expire_at_ms = ctx.ex.dbs[db].entry_expire_at(k, e);
            let ttl = if expire_at_ms == NO_EXPIRE {
                0
            } else {
                let left = expire_at_ms - now_ms;
                if left < 0 {
                    continue;
                }
                left.max(1)
            };
            let payload = crate::persist::dump_payload(&e.value, compress);
            num.clear();
            push_i64(&mut num, ttl);
            // A cluster target may be importing the slot: RESTORE-ASKING is served there.
            let restore: &[u8] = if ctx.ex.cluster.is_some() {
                b"RESTORE-ASKING"
            } else {
                b"RESTORE"
            };
            if opts.replace {
                push_command(&mut request, &[restore, k, &num, &payload, b"REPLACE"]);
            } else {
                push_command(&mut request, &[restore, k, &num, &payload]);
            }
            sent.push(k);
        }
        let link = match target_link(ctx.ex, host, port, timeout, now_ms, tls) {
            Ok(l) => l,
            Err(_) => return Err(err::MIGRATE_WRITE.into()),
        };
        let mut write_error = false;
        let mut timed_out = false;
        let mut replies: Vec<Vec<u8>> = Vec::new();
        let mut first_error: Option<Vec<u8>> = None;
        match link.send(&request, timeout) {
            Err(e) => {
                write_error = true;
                timed_out = is_timeout(&e);
            }
            Ok(()) => {
                let wanted = usize::from(opts.auth.is_some()) + usize::from(select) + sent.len();
                for _ in 0..wanted {
                    match link.read_line(timeout) {
                        Ok(line) => {
                            if line.first() == Some(&b'-') && first_error.is_none() {
                                first_error = Some(line.clone());
                            }
                            replies.push(line);
                        }
                        Err(e) => {
                            timed_out = is_timeout(&e);
                            break;
                        }
                    }
                }
            }
        }
        let preamble = usize::from(opts.auth.is_some()) + usize::from(select);
        let socket_error = write_error || replies.len() < preamble + sent.len();
        // Nothing processed and the link was just stale: try once more on a new one.
        if socket_error
            && first_error.is_none()
            && replies.len() <= preamble
            && may_retry
            && !timed_out
        {
            ctx.ex.migrate_links.close(host, port);
            may_retry = false;
            continue;
        }
        // Keys the target acknowledged leave this server (unless COPY).
        let preamble_failed = replies[..preamble.min(replies.len())]
            .iter()
            .any(|r| r.first() == Some(&b'-'));
        let mut moved: Vec<&[u8]> = Vec::new();
        if !opts.copy {
            for (k, reply) in sent.iter().zip(replies.iter().skip(preamble)) {
                if preamble_failed || reply.first() == Some(&b'-') {
                    continue;
                }
                let db = ctx.client.db;
                ctx.ex.dbs[db].remove(k);
                ctx.modified(k, crate::config::notify::GENERIC, "del");
                moved.push(k);
            }
        }
        if moved.is_empty() {
            ctx.prevent_propagation();
        } else {
            let mut del: Vec<&[u8]> = Vec::with_capacity(moved.len() + 1);
            del.push(b"DEL");
            del.extend_from_slice(&moved);
            ctx.propagate_as(&del);
        }
        if socket_error {
            ctx.ex.migrate_links.close(host, port);
        }
        if let Some(e) = first_error {
            if let Ok(l) = target_link(ctx.ex, host, port, timeout, now_ms, tls) {
                l.last_dbid = -1;
            }
            return Err(err::migrate_target_error(&e[1..]));
        }
        if socket_error {
            return Err(if write_error {
                err::MIGRATE_WRITE.into()
            } else {
                err::MIGRATE_READ.into()
            });
        }
        if let Ok(l) = target_link(ctx.ex, host, port, timeout, now_ms, tls) {
            l.last_dbid = dbid;
        }
        ctx.out().ok();
        return Ok(());
    }
}
