//! Fuzzing entry points: `fuzz/` drives them under libFuzzer (cargo +nightly fuzz run
//! <target>), and `tests/fuzz_corpus.rs` replays the committed corpus and every crash found on
//! stable. Each takes arbitrary bytes and must neither panic, hang nor allocate beyond what the
//! bytes justify.
//!
//! The executor ones share one in-process server per thread (made once: creating one starts a
//! thread) with the commands that touch files, the network or the process renamed away. That
//! server lives for the whole run, so run libFuzzer with -detect_leaks=0.

use std::cell::RefCell;

use crate::config::Config;
use crate::exec::Executor;
use crate::resp::parse::{ParseLimits, Parsed, RequestParser};

/// Commands a fuzzed client must not reach: files, sockets, the process, long sleeps, and
/// PFSELFTEST (a fixed second of work that would drown every other input).
const DISABLED: &[&str] = &[
    "shutdown",
    "save",
    "bgsave",
    "bgrewriteaof",
    "config",
    "debug",
    "migrate",
    "sync",
    "psync",
    "replicaof",
    "slaveof",
    "failover",
    "monitor",
    "wait",
    "waitaof",
    "module",
    "pfselftest",
];

thread_local! {
    static EXECUTOR: RefCell<Option<Executor>> = const { RefCell::new(None) };
    static HARNESS: RefCell<Option<crate::net::harness::Harness>> = const { RefCell::new(None) };
    static RESETS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Ends a script past busy-reply-threshold, as SCRIPT KILL would (fuzzed scripts may loop).
unsafe fn kill_busy_script(_server: *mut (), _ex: &mut Executor) {
    crate::script::bridge::with_running(|b| b.kill = Some(crate::resp::errors::SCRIPT_KILLED));
}

unsafe fn no_rebind(_: *mut (), _: &mut Executor, _: u16, _: &[String]) -> std::io::Result<()> {
    Ok(())
}

unsafe fn no_tls(_: *mut (), _: &mut Executor, _: &crate::config::Settings) -> Result<(), String> {
    Ok(())
}

fn with_executor<R>(f: impl FnOnce(&mut Executor) -> R) -> R {
    EXECUTOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let ex = slot.get_or_insert_with(|| {
            let mut cfg = Config::new();
            cfg.renames = DISABLED
                .iter()
                .map(|c| (c.to_string(), String::new()))
                .collect();
            // 16 MB values at most: a 30-byte SETRANGE may otherwise ask for 512 MB, which
            // is Redis's behaviour too but only slows the search.
            for (name, value) in [
                ("busy-reply-threshold", "2"),
                ("save", ""),
                ("proto-max-bulk-len", "16mb"),
            ] {
                let idx = crate::config::lookup(name).expect("a directive");
                cfg.set(idx, &[value.as_bytes().to_vec()])
                    .expect("a valid value");
            }
            let mut ex = Executor::new(cfg);
            ex.net_hooks = Some(crate::exec::NetHooks {
                server: std::ptr::null_mut(),
                caller: None,
                serve: kill_busy_script,
                rebind: no_rebind,
                configure_tls: no_tls,
            });
            ex.add_client(
                0,
                "127.0.0.1:1".into(),
                "127.0.0.1:6379".into(),
                -1,
                crate::exec::client::Transport::Tcp,
            );
            ex
        });
        f(ex)
    })
}

/// Runs one command for the fuzzing client and drops its reply.
fn run(ex: &mut Executor, argv: &[&[u8]]) {
    if argv.is_empty() {
        return;
    }
    ex.execute(0, argv);
    // A blocked or paused client would wait for the network; here it is released at once.
    ex.unpause_clients();
    let id = ex.client(0).map_or(0, |c| c.id);
    ex.unblock_client(id, false);
    let _ = ex.take_resumed();
    if let Some(c) = ex.client_mut(0) {
        c.out.buf.clear();
        c.out_sent = 0;
    }
}

/// Empties the dataset, forgets users, and connects a fresh client (the last one may have
/// been killed, paused or locked out).
fn reset(ex: &mut Executor) {
    ex.remove_client(0);
    ex.to_close.clear();
    ex.pending_write.clear();
    let pubsub_all = ex.acl.pubsub_all;
    ex.acl = crate::acl::Acl::new();
    ex.acl.pubsub_all = pubsub_all;
    ex.add_client(
        0,
        "127.0.0.1:1".into(),
        "127.0.0.1:6379".into(),
        -1,
        crate::exec::client::Transport::Tcp,
    );
    run(ex, &[b"FLUSHALL", b"SYNC"]);
    // Recreating the Lua interpreters costs more than most inputs: now and then is enough to
    // keep the script cache bounded.
    RESETS.with(|n| {
        let count = n.get() + 1;
        n.set(count);
        if count % 1000 == 0 {
            run(ex, &[b"SCRIPT", b"FLUSH"]);
            run(ex, &[b"FUNCTION", b"FLUSH"]);
        }
    });
}

/// The request parser on arbitrary input, command after command.
pub fn resp_request(data: &[u8]) {
    let mut parser = RequestParser::new();
    let mut scratch: Vec<&'static [u8]> = Vec::new();
    let mut pos = 0;
    for auth_required in [false, true] {
        while pos < data.len() {
            let limits = ParseLimits {
                max_bulk_len: 512 * 1024 * 1024,
                auth_required,
            };
            match parser.parse(&data[pos..], limits) {
                Ok(Parsed::Incomplete) => break,
                Ok(Parsed::Command { consumed }) => {
                    assert!(consumed > 0 && pos + consumed <= data.len());
                    parser.with_argv(&data[pos..], &mut scratch, |argv| {
                        assert!(argv.iter().all(|a| a.len() <= data.len()));
                    });
                    parser.reset();
                    pos += consumed;
                }
                Err(_) => {
                    parser.reset();
                    break;
                }
            }
        }
        pos = 0;
        parser.reset();
    }
}

/// The whole request path of one connection: bytes in (the first byte picks how they are
/// split into writes), replies out, then the client's close. The replies must be well-formed
/// RESP and the closed connection must be freed.
pub fn request_path(data: &[u8]) {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    with_executor(|ex| {
        HARNESS.with(|cell| {
            let mut slot = cell.borrow_mut();
            // Slot 0 is the in-process client that `reset` uses.
            let h = slot.get_or_insert_with(|| {
                crate::net::harness::Harness::new(ex, 1).expect("a socket pair")
            });
            h.connect(ex).expect("a socket pair");
            let mut replies = Vec::new();
            // Write sizes from 1 byte to whole input, so frames split at every boundary.
            let step = match split % 4 {
                0 => data.len().max(1),
                1 => 1,
                2 => 7,
                _ => 1 + usize::from(split >> 2),
            };
            for chunk in data.chunks(step) {
                h.send(ex, chunk, &mut replies);
                ex.unpause_clients();
                drop_whole_frames(&mut replies);
            }
            // A connection the server dropped (an output limit) may end inside a reply.
            let dropped = !h.connected();
            h.close(ex);
            assert!(h.freed(), "a closed connection stays held");
            assert!(
                replies.is_empty() || dropped,
                "the reply stream ends inside a frame: {replies:?}"
            );
        });
        reset(ex);
    })
}

/// Checks the complete RESP frames at the front of `replies` and drops them.
fn drop_whole_frames(replies: &mut Vec<u8>) {
    let mut pos = 0;
    while pos < replies.len() {
        match crate::resp::frame::decode(&replies[pos..]) {
            Ok(Some((_, n))) => pos += n,
            Ok(None) => break,
            Err(e) => panic!("malformed reply stream at {:?}: {e}", &replies[pos..]),
        }
    }
    replies.drain(..pos);
}

/// Commands: one per line, arguments split as redis-cli splits them.
pub fn commands(data: &[u8]) {
    with_executor(|ex| {
        for line in data.split(|&b| b == b'\n').take(64) {
            let Some(argv) = crate::util::splitargs::split_args(line) else {
                continue;
            };
            let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
            if argv.first().is_some_and(|c| {
                [&b"eval"[..], b"evalsha", b"fcall", b"function"]
                    .iter()
                    .any(|s| c.eq_ignore_ascii_case(s))
            }) {
                continue;
            }
            run(ex, &argv);
        }
        reset(ex);
    })
}

/// A Lua script through EVAL (looping scripts are killed past busy-reply-threshold).
pub fn lua_script(data: &[u8]) {
    with_executor(|ex| {
        run(ex, &[b"EVAL", data, b"2", b"k1", b"k2", b"a1"]);
        reset(ex);
    })
}

/// An RDB file.
pub fn rdb_file(data: &[u8]) {
    with_executor(|ex| {
        let _ = crate::persist::load_rdb_bytes(ex, data, "fuzz.rdb");
        reset(ex);
    })
}

/// A RESTORE payload. cinnabar checks every payload deeply whatever sanitize-dump-payload
/// says (values are rebuilt into its own structures, never trusted as they are), so one
/// pass covers both settings.
pub fn restore_payload(data: &[u8]) {
    with_executor(|ex| {
        run(ex, &[b"RESTORE", b"k", b"0", data, b"REPLACE"]);
        // Touch what was restored, as a client would next.
        for cmd in [
            &[&b"TYPE"[..], b"k"][..],
            &[b"DUMP", b"k"],
            &[b"OBJECT", b"ENCODING", b"k"],
        ] {
            run(ex, cmd);
        }
        reset(ex);
    })
}

/// An append-only file (an optional RDB preamble, then commands).
pub fn aof_file(data: &[u8]) {
    with_executor(|ex| {
        let _ = crate::persist::aof::load_bytes(ex, data);
        reset(ex);
    })
}

/// A fuzz target: arbitrary bytes in, nothing out but a panic or a hang if wrong.
pub type Target = fn(&[u8]);

/// Every target by name (for the fuzz binaries and the corpus replay).
pub const TARGETS: &[(&str, Target)] = &[
    ("resp_request", resp_request),
    ("request_path", request_path),
    ("commands", commands),
    ("lua_script", lua_script),
    ("rdb_file", rdb_file),
    ("restore_payload", restore_payload),
    ("aof_file", aof_file),
];
