//! The "connection" group: PING, ECHO, QUIT, RESET, SELECT, AUTH, HELLO and CLIENT.

use std::fmt::Write;

use crate::acl::log::{Context, Reason};
use crate::cmd::args::{eq, int};
use crate::cmd::meta_gen as m;
use crate::cmd::table::Handler;
use crate::config::REDIS_VERSION;
use crate::exec::client::{flags as cf, Client, ReplyMode};
use crate::exec::tracking::{prefixes_overlap, TrackingOptions};
use crate::exec::Ctx;
use crate::resp::errors::{self as err, CmdError, CmdResult};
use crate::resp::reply::Proto;

pub fn ping(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args().rest();
    if args.len() > 1 {
        return Err(err::wrong_arity("ping"));
    }
    let subscribed_resp2 = ctx.client.has(cf::PUBSUB) && !ctx.client.out.is_resp3();
    let out = ctx.out();
    if subscribed_resp2 {
        out.array(2);
        out.bulk(b"pong");
        out.bulk(args.first().copied().unwrap_or(b""));
    } else if let Some(msg) = args.first() {
        out.bulk(msg);
    } else {
        out.simple(b"PONG");
    }
    Ok(())
}

pub fn echo(ctx: &mut Ctx) -> CmdResult {
    let msg = ctx.argv[1];
    ctx.out().bulk(msg);
    Ok(())
}

pub fn quit(ctx: &mut Ctx) -> CmdResult {
    ctx.out().ok();
    ctx.client.flags |= cf::CLOSE_AFTER_REPLY;
    Ok(())
}

pub fn reset(ctx: &mut Ctx) -> CmdResult {
    let c = &mut *ctx.client;
    c.db = 0;
    c.out.proto = Proto::Resp2;
    c.name = None;
    c.reply_mode = ReplyMode::On;
    if c.has(cf::MONITOR) {
        let slot = c.slot;
        ctx.ex.monitors.retain(|s| *s != slot);
    }
    let c = &mut *ctx.client;
    c.flags &= !(cf::NO_EVICT | cf::NO_TOUCH | cf::MULTI | cf::MONITOR);
    c.user = crate::acl::DEFAULT_USER;
    c.authenticated = ctx.ex.acl.default_authenticated();
    ctx.ex.unsubscribe_all(ctx.client);
    ctx.ex.discard_transaction(ctx.client);
    ctx.ex.disable_tracking(ctx.client);
    ctx.out().simple(b"RESET");
    Ok(())
}

pub fn select(ctx: &mut Ctx) -> CmdResult {
    let idx = int(ctx.argv[1]).map_err(|_| CmdError::from(err::NOT_INTEGER))?;
    if ctx.ex.cluster.is_some() && idx != 0 {
        return Err(err::SELECT_IN_CLUSTER.into());
    }
    if idx < 0 || idx as usize >= ctx.ex.dbs.len() {
        return Err(err::DB_INDEX.into());
    }
    ctx.client.db = idx as usize;
    ctx.out().ok();
    Ok(())
}

/// Authenticates the connection as `user` (Redis's ACLAuthenticateUser); a failure is logged.
fn check_auth(ctx: &mut Ctx, user: &[u8], pass: &[u8]) -> CmdResult {
    if let Some(id) = ctx.ex.acl.authenticate(user, pass) {
        ctx.client.authenticated = true;
        ctx.client.user = id;
        return Ok(());
    }
    let context = if ctx.client.multi.is_some() {
        Context::Multi
    } else {
        Context::Toplevel
    };
    let object = ctx.argv[0];
    ctx.ex
        .acl_log(ctx.client, Reason::Auth, context, object, user, ctx.now_ms);
    Err(err::WRONGPASS.into())
}

pub fn auth(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args().rest();
    match args {
        [pass] => {
            if ctx.ex.acl.default_user().nopass {
                return Err(err::AUTH_NO_PASSWORD.into());
            }
            check_auth(ctx, b"default", pass)?;
        }
        [user, pass] => check_auth(ctx, user, pass)?,
        _ => return Err(err::SYNTAX.into()),
    }
    ctx.out().ok();
    Ok(())
}

pub fn hello(ctx: &mut Ctx) -> CmdResult {
    let mut args = ctx.args();
    let mut ver = None;
    if let Some(v) = args.next() {
        let v = int(v).map_err(|_| CmdError::from(err::HELLO_PROTOVER))?;
        if !(2..=3).contains(&v) {
            return Err(err::NOPROTO.into());
        }
        ver = Some(v);
    }
    let mut setname = None;
    // AUTH takes effect as it is read, before later options are checked (as in Redis).
    while let Some(opt) = args.next() {
        if eq(opt, "AUTH") && args.remaining() >= 2 {
            let (user, pass) = (args.bytes()?, args.bytes()?);
            check_auth(ctx, user, pass)?;
        } else if eq(opt, "SETNAME") && args.remaining() >= 1 {
            setname = Some(args.bytes()?);
        } else {
            return Err(err::hello_syntax(opt));
        }
    }
    if !ctx.client.authenticated {
        return Err(err::HELLO_NOAUTH.into());
    }
    if let Some(name) = setname {
        set_name(ctx.client, name)?;
    }
    if let Some(v) = ver {
        ctx.client.out.proto = if v == 3 { Proto::Resp3 } else { Proto::Resp2 };
    }
    let id = ctx.client.id;
    let proto = ctx.client.out.proto as i64;
    let out = ctx.out();
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(proto);
    out.bulk(b"id");
    out.int(id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}

/// Client names, LIB-NAME and LIB-VER may only hold printable non-space ASCII.
fn valid_attr(v: &[u8]) -> bool {
    v.iter().all(|c| (b'!'..=b'~').contains(c))
}

fn set_name(client: &mut Client, name: &[u8]) -> CmdResult {
    if !valid_attr(name) {
        return Err(err::CLIENT_NAME_CHARS.into());
    }
    client.name = if name.is_empty() {
        None
    } else {
        Some(name.to_vec())
    };
    Ok(())
}

pub fn client_id(ctx: &mut Ctx) -> CmdResult {
    let id = ctx.client.id as i64;
    ctx.out().int(id);
    Ok(())
}

pub fn client_setname(ctx: &mut Ctx) -> CmdResult {
    set_name(ctx.client, ctx.argv[2])?;
    ctx.out().ok();
    Ok(())
}

pub fn client_getname(ctx: &mut Ctx) -> CmdResult {
    match ctx.client.name.clone() {
        Some(n) => ctx.out().bulk(&n),
        None => ctx.out().null(),
    }
    Ok(())
}

pub fn client_setinfo(ctx: &mut Ctx) -> CmdResult {
    let (attr, value) = (ctx.argv[2], ctx.argv[3]);
    let is_name = eq(attr, "LIB-NAME");
    if !is_name && !eq(attr, "LIB-VER") {
        return Err(err::unrecognized_option(attr));
    }
    if !valid_attr(value) {
        return Err(err::setinfo_bad_chars(attr));
    }
    let v = if value.is_empty() {
        None
    } else {
        Some(value.to_vec())
    };
    if is_name {
        ctx.client.lib_name = v;
    } else {
        ctx.client.lib_ver = v;
    }
    ctx.out().ok();
    Ok(())
}

/// Parses ON / OFF for CLIENT NO-EVICT and NO-TOUCH.
fn on_off(a: &[u8]) -> Result<bool, CmdError> {
    if eq(a, "ON") {
        Ok(true)
    } else if eq(a, "OFF") {
        Ok(false)
    } else {
        Err(err::SYNTAX.into())
    }
}

pub fn client_no_evict(ctx: &mut Ctx) -> CmdResult {
    if on_off(ctx.argv[2])? {
        ctx.client.flags |= cf::NO_EVICT;
    } else {
        ctx.client.flags &= !cf::NO_EVICT;
    }
    ctx.out().ok();
    Ok(())
}

pub fn client_no_touch(ctx: &mut Ctx) -> CmdResult {
    if on_off(ctx.argv[2])? {
        ctx.client.flags |= cf::NO_TOUCH;
    } else {
        ctx.client.flags &= !cf::NO_TOUCH;
    }
    ctx.out().ok();
    Ok(())
}

pub fn client_reply(ctx: &mut Ctx) -> CmdResult {
    let a = ctx.argv[2];
    if eq(a, "ON") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.out().ok();
    } else if eq(a, "OFF") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if eq(a, "SKIP") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        return Err(err::SYNTAX.into());
    }
    Ok(())
}

pub fn client_tracking(ctx: &mut Ctx) -> CmdResult {
    let mut opts = TrackingOptions {
        redirect: 0,
        bcast: false,
        optin: false,
        optout: false,
        noloop: false,
        prefixes: Vec::new(),
    };
    let argv = ctx.argv;
    let mut j = 3;
    while j < argv.len() {
        let a = argv[j];
        let more = j + 1 < argv.len();
        if eq(a, "REDIRECT") && more {
            j += 1;
            if opts.redirect != 0 {
                return Err(err::TRACKING_ONE_REDIRECT.into());
            }
            let id = int(argv[j]).map_err(|_| CmdError::from(err::NOT_INTEGER))?;
            if id <= 0 || !ctx.ex.tracking.slots.contains_key(&(id as u64)) {
                return Err(err::TRACKING_NO_REDIRECT_CLIENT.into());
            }
            opts.redirect = id as u64;
        } else if eq(a, "BCAST") {
            opts.bcast = true;
        } else if eq(a, "OPTIN") {
            opts.optin = true;
        } else if eq(a, "OPTOUT") {
            opts.optout = true;
        } else if eq(a, "NOLOOP") {
            opts.noloop = true;
        } else if eq(a, "PREFIX") && more {
            j += 1;
            opts.prefixes.push(argv[j].to_vec());
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    let c = &*ctx.client;
    if eq(argv[2], "ON") {
        if !opts.bcast && !opts.prefixes.is_empty() {
            return Err(err::TRACKING_PREFIX_NEEDS_BCAST.into());
        }
        if c.has(cf::TRACKING) && c.has(cf::TRACKING_BCAST) != opts.bcast {
            return Err(err::TRACKING_BCAST_SWITCH.into());
        }
        if opts.bcast && (opts.optin || opts.optout) {
            return Err(err::TRACKING_OPT_BCAST.into());
        }
        if opts.optin && opts.optout {
            return Err(err::TRACKING_OPTIN_OPTOUT.into());
        }
        if (opts.optin && c.has(cf::TRACKING_OPTOUT)) || (opts.optout && c.has(cf::TRACKING_OPTIN))
        {
            return Err(err::TRACKING_OPT_SWITCH.into());
        }
        if opts.bcast {
            for (i, p) in opts.prefixes.iter().enumerate() {
                if let Some(old) = c.tracking_prefixes.iter().find(|o| prefixes_overlap(o, p)) {
                    return Err(err::tracking_prefix_overlap(p, old, true));
                }
                if let Some(other) = opts.prefixes[i + 1..]
                    .iter()
                    .find(|o| prefixes_overlap(o, p))
                {
                    return Err(err::tracking_prefix_overlap(p, other, false));
                }
            }
        }
        ctx.ex.enable_tracking(ctx.client, opts);
    } else if eq(argv[2], "OFF") {
        ctx.ex.disable_tracking(ctx.client);
    } else {
        return Err(err::SYNTAX.into());
    }
    ctx.out().ok();
    Ok(())
}

pub fn client_caching(ctx: &mut Ctx) -> CmdResult {
    let c = &mut *ctx.client;
    if !c.has(cf::TRACKING) {
        return Err(err::CACHING_NOT_TRACKING.into());
    }
    let a = ctx.argv[2];
    if eq(a, "YES") {
        if !c.has(cf::TRACKING_OPTIN) {
            return Err(err::CACHING_YES_OPTIN.into());
        }
    } else if eq(a, "NO") {
        if !c.has(cf::TRACKING_OPTOUT) {
            return Err(err::CACHING_NO_OPTOUT.into());
        }
    } else {
        return Err(err::SYNTAX.into());
    }
    c.flags |= cf::TRACKING_CACHING;
    ctx.out().ok();
    Ok(())
}

/// The redirect id while tracking is on (0: none), else -1.
fn tracking_redirect(c: &Client) -> i64 {
    if c.has(cf::TRACKING) {
        c.tracking_redirect as i64
    } else {
        -1
    }
}

pub fn client_getredir(ctx: &mut Ctx) -> CmdResult {
    let r = tracking_redirect(ctx.client);
    ctx.out().int(r);
    Ok(())
}

pub fn client_trackinginfo(ctx: &mut Ctx) -> CmdResult {
    let c = &*ctx.client;
    let mut flags: Vec<&[u8]> = vec![if c.has(cf::TRACKING) { b"on" } else { b"off" }];
    if c.has(cf::TRACKING_BCAST) {
        flags.push(b"bcast");
    }
    if c.has(cf::TRACKING_OPTIN) {
        flags.push(b"optin");
        if c.has(cf::TRACKING_CACHING) {
            flags.push(b"caching-yes");
        }
    }
    if c.has(cf::TRACKING_OPTOUT) {
        flags.push(b"optout");
        if c.has(cf::TRACKING_CACHING) {
            flags.push(b"caching-no");
        }
    }
    if c.has(cf::TRACKING_NOLOOP) {
        flags.push(b"noloop");
    }
    if c.has(cf::TRACKING_BROKEN_REDIR) {
        flags.push(b"broken_redirect");
    }
    let redirect = tracking_redirect(c);
    let prefixes = c.tracking_prefixes.clone();
    let out = ctx.out();
    out.map(3);
    out.bulk(b"flags");
    out.set(flags.len());
    for f in flags {
        out.bulk(f);
    }
    out.bulk(b"redirect");
    out.int(redirect);
    out.bulk(b"prefixes");
    out.array(prefixes.len());
    for p in &prefixes {
        out.bulk(p);
    }
    Ok(())
}

/// Redis's client types for CLIENT LIST TYPE and CLIENT KILL TYPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Replica,
    PubSub,
    Master,
}

fn client_type_by_name(name: &[u8]) -> Option<ClientType> {
    if eq(name, "normal") {
        Some(ClientType::Normal)
    } else if eq(name, "slave") || eq(name, "replica") {
        Some(ClientType::Replica)
    } else if eq(name, "pubsub") {
        Some(ClientType::PubSub)
    } else if eq(name, "master") {
        Some(ClientType::Master)
    } else {
        None
    }
}

fn client_type(c: &Client) -> ClientType {
    if c.has(cf::MASTER) {
        ClientType::Master
    } else if c.has(cf::REPLICA) {
        ClientType::Replica
    } else if c.has(cf::PUBSUB) {
        ClientType::PubSub
    } else {
        ClientType::Normal
    }
}

fn unknown_type(name: &[u8]) -> CmdError {
    err::unknown_client_type(name)
}

/// One CLIENT LIST line (Redis's catClientInfoString, with 7.2's lib-name / lib-ver).
pub fn client_info_line(c: &Client, user: &[u8], now_ms: i64, out: &mut String) {
    let pending = c.pending_output();
    let _ = writeln!(
        out,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} \
         multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl={} oll=0 omem={} \
         tot-mem={} events=r{} cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        String::from_utf8_lossy(c.name.as_deref().unwrap_or(b"")),
        (now_ms - c.created_ms) / 1000,
        (now_ms - c.last_interaction_ms) / 1000,
        c.flags_string(),
        c.db,
        c.subs.channels.len(),
        c.subs.patterns.len(),
        c.subs.shard.len(),
        c.multi.as_ref().map_or(-1, |m| m.queued.len() as i64),
        c.qbuf_len,
        c.qbuf_free,
        c.argv_mem,
        c.multi_memory(),
        c.rbuf_size,
        c.rbuf_peak,
        pending,
        pending,
        c.total_memory(),
        if pending > 0 { "w" } else { "" },
        c.last_cmd,
        String::from_utf8_lossy(user),
        tracking_redirect(c),
        c.out.proto as u8,
        String::from_utf8_lossy(c.lib_name.as_deref().unwrap_or(b"")),
        String::from_utf8_lossy(c.lib_ver.as_deref().unwrap_or(b"")),
    );
}

/// All clients in id order, the running one included.
fn all_clients<'a>(ctx: &'a Ctx) -> Vec<&'a Client> {
    let mut v: Vec<&Client> = ctx.ex.clients.iter().flatten().map(|c| &**c).collect();
    v.push(&*ctx.client);
    v.sort_by_key(|c| c.id);
    v
}

pub fn client_list(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args().rest();
    let now = ctx.now_ms;
    let mut text = String::new();
    let acl = &ctx.ex.acl;
    let client_info_line = |c: &Client, now, text: &mut String| {
        // Our master runs as no user at all: Redis prints "(superuser)".
        let user: &[u8] = if c.has(cf::MASTER) {
            b"(superuser)"
        } else {
            &acl.user(c.user).name
        };
        client_info_line(c, user, now, text)
    };
    if args.len() == 2 && eq(args[0], "TYPE") {
        let t = client_type_by_name(args[1]).ok_or_else(|| unknown_type(args[1]))?;
        for c in all_clients(ctx) {
            if client_type(c) == t {
                client_info_line(c, now, &mut text);
            }
        }
    } else if args.len() >= 2 && eq(args[0], "ID") {
        let mut ids = Vec::new();
        for a in &args[1..] {
            ids.push(int(a).map_err(|_| CmdError::from(err::INVALID_CLIENT_ID))?);
        }
        let clients = all_clients(ctx);
        for id in ids {
            if let Some(c) = clients.iter().find(|c| c.id as i64 == id) {
                client_info_line(c, now, &mut text);
            }
        }
    } else if !args.is_empty() {
        return Err(err::SYNTAX.into());
    } else {
        for c in all_clients(ctx) {
            client_info_line(c, now, &mut text);
        }
    }
    ctx.out().verbatim(b"txt", text.as_bytes());
    Ok(())
}

pub fn client_info(ctx: &mut Ctx) -> CmdResult {
    let mut text = String::new();
    let user = &ctx.ex.acl.user(ctx.client.user).name;
    client_info_line(ctx.client, user, ctx.now_ms, &mut text);
    ctx.out().verbatim(b"txt", text.as_bytes());
    Ok(())
}

pub fn client_kill(ctx: &mut Ctx) -> CmdResult {
    let args = ctx.args().rest();
    let mut addr: Option<&[u8]> = None;
    let mut laddr: Option<&[u8]> = None;
    let mut id: Option<u64> = None;
    let mut ctype: Option<ClientType> = None;
    let mut maxage: Option<i64> = None;
    let mut user: Option<crate::acl::UserId> = None;
    let mut skipme = true;
    let old_style = args.len() == 1;
    if old_style {
        addr = Some(args[0]);
        skipme = false;
    } else if args.len() >= 2 {
        let mut i = 0;
        while i < args.len() {
            let (opt, more) = (args[i], i + 1 < args.len());
            if !more {
                return Err(err::SYNTAX.into());
            }
            let v = args[i + 1];
            if eq(opt, "ID") {
                let n = crate::cmd::args::int_in(v, 1, i64::MAX, err::CLIENT_ID_POSITIVE)?;
                id = Some(n as u64);
            } else if eq(opt, "TYPE") {
                ctype = Some(client_type_by_name(v).ok_or_else(|| unknown_type(v))?);
            } else if eq(opt, "ADDR") {
                addr = Some(v);
            } else if eq(opt, "LADDR") {
                laddr = Some(v);
            } else if eq(opt, "USER") {
                user = Some(ctx.ex.acl.find(v).ok_or_else(|| err::no_such_user(v))?);
            } else if eq(opt, "SKIPME") {
                skipme = if eq(v, "YES") {
                    true
                } else if eq(v, "NO") {
                    false
                } else {
                    return Err(err::SYNTAX.into());
                };
            } else if eq(opt, "MAXAGE") {
                maxage = Some(int(v)?);
            } else {
                return Err(err::SYNTAX.into());
            }
            i += 2;
        }
    } else {
        return Err(err::SYNTAX.into());
    }
    let now = ctx.now_ms;
    let matches = |c: &Client| {
        addr.is_none_or(|a| c.addr.as_bytes() == a)
            && laddr.is_none_or(|a| c.laddr.as_bytes() == a)
            && ctype.is_none_or(|t| client_type(c) == t)
            && id.is_none_or(|i| c.id == i)
            && maxage.is_none_or(|secs| (now - c.created_ms) / 1000 >= secs)
            && user.is_none_or(|u| c.user == u)
    };
    let mut killed = ctx.ex.close_clients_where(matches) as i64;
    let kill_self = !skipme && matches(ctx.client);
    if kill_self {
        killed += 1;
    }
    if old_style {
        if killed == 0 {
            return Err(err::NO_SUCH_CLIENT.into());
        }
        ctx.out().ok();
    } else {
        ctx.out().int(killed);
    }
    if kill_self {
        ctx.client.flags |= cf::CLOSE_AFTER_REPLY;
    }
    Ok(())
}

pub fn client_unblock(ctx: &mut Ctx) -> CmdResult {
    let mut args = ctx.args();
    let id = int(args.bytes()?)?;
    let with_error = match args.next() {
        None => false,
        Some(a) if eq(a, "TIMEOUT") => false,
        Some(a) if eq(a, "ERROR") => true,
        Some(_) => return Err(err::CLIENT_UNBLOCK_REASON.into()),
    };
    let done = id > 0 && ctx.ex.unblock_client(id as u64, with_error);
    ctx.out().int(i64::from(done));
    Ok(())
}

pub fn client_pause(ctx: &mut Ctx) -> CmdResult {
    let ms = int(ctx.argv[2]).map_err(|_| CmdError::from(err::TIMEOUT_NOT_INTEGER))?;
    if ms < 0 {
        return Err(err::TIMEOUT_NEGATIVE.into());
    }
    let writes_only = match ctx.argv.get(3) {
        None => false,
        Some(m) if eq(m, "WRITE") => true,
        Some(m) if eq(m, "ALL") => false,
        Some(_) => return Err(err::CLIENT_PAUSE_MODE.into()),
    };
    if ctx.argv.len() > 4 {
        return Err(err::SYNTAX.into());
    }
    let until = ctx.now_ms.saturating_add(ms);
    ctx.ex.pause_clients(until, writes_only);
    ctx.out().ok();
    Ok(())
}

pub fn client_unpause(ctx: &mut Ctx) -> CmdResult {
    ctx.ex.unpause_clients();
    ctx.out().ok();
    Ok(())
}

pub fn client_help(ctx: &mut Ctx) -> CmdResult {
    crate::cmd::server::introspect::help(
        ctx.out(),
        "CLIENT",
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "    * MAXAGE <maxage>",
            "      Kill connections older than the specified age.",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
        ],
    );
    Ok(())
}

pub const HANDLERS: &[(&crate::cmd::meta::CommandMeta, Handler)] = &[
    (&m::PING, ping),
    (&m::ECHO, echo),
    (&m::QUIT, quit),
    (&m::RESET, reset),
    (&m::SELECT, select),
    (&m::AUTH, auth),
    (&m::HELLO, hello),
    (&m::CLIENT_ID, client_id),
    (&m::CLIENT_SETNAME, client_setname),
    (&m::CLIENT_GETNAME, client_getname),
    (&m::CLIENT_SETINFO, client_setinfo),
    (&m::CLIENT_NO_EVICT, client_no_evict),
    (&m::CLIENT_NO_TOUCH, client_no_touch),
    (&m::CLIENT_REPLY, client_reply),
    (&m::CLIENT_LIST, client_list),
    (&m::CLIENT_INFO, client_info),
    (&m::CLIENT_KILL, client_kill),
    (&m::CLIENT_HELP, client_help),
    (&m::CLIENT_UNBLOCK, client_unblock),
    (&m::CLIENT_PAUSE, client_pause),
    (&m::CLIENT_UNPAUSE, client_unpause),
    (&m::CLIENT_TRACKING, client_tracking),
    (&m::CLIENT_CACHING, client_caching),
    (&m::CLIENT_GETREDIR, client_getredir),
    (&m::CLIENT_TRACKINGINFO, client_trackinginfo),
];
