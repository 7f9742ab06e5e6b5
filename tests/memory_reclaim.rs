//! Memory coming back: UNLINK, FLUSHALL/FLUSHDB ASYNC and lazyfree-lazy-user-del hand big
//! values to the lazyfree thread (INFO lazyfree_pending_objects / lazyfreed_objects, and
//! used_memory comes back down); small values are freed in place. The query buffer, the
//! argument scratch of a huge command and the reply buffer are sized as Redis sizes them.

mod common;

use std::time::{Duration, Instant};

use common::client::Client;
use common::server::cinnabar;

fn mem_field(c: &mut Client, field: &str) -> u64 {
    c.info_field("memory", field)
        .parse()
        .expect("INFO memory field")
}

/// Waits until the background thread is idle and `freed` objects were freed in all.
fn wait_freed(c: &mut Client, freed: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pending = mem_field(c, "lazyfree_pending_objects");
        let done = mem_field(c, "lazyfreed_objects");
        if pending == 0 && done == freed {
            return;
        }
        assert!(Instant::now() < deadline, "pending {pending}, freed {done}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn big_set(c: &mut Client, key: &str) {
    let mut argv: Vec<String> = vec!["SADD".into(), key.into()];
    argv.extend((0..100_000).map(|i| i.to_string()));
    c.cmd(&argv);
}

#[test]
fn unlink_frees_big_values_in_the_background() {
    let server = cinnabar(&[]);
    let mut c = server.client();
    let before = mem_field(&mut c, "used_memory");
    big_set(&mut c, "myset");
    let peak = mem_field(&mut c, "used_memory");
    assert!(peak > before + 1_000_000, "{before} -> {peak}");
    c.ok("UNLINK myset");
    wait_freed(&mut c, 1);
    // The set, the 100k-argument query and its argv scratch are all given back.
    let deadline = Instant::now() + Duration::from_secs(5);
    while mem_field(&mut c, "used_memory") > before * 2 {
        assert!(Instant::now() < deadline, "memory not reclaimed");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A small value is freed in place: not counted.
    c.ok("SADD small a b c");
    c.ok("UNLINK small");
    wait_freed(&mut c, 1);
}

#[test]
fn flush_async_and_lazy_user_del_count_their_objects() {
    let server = cinnabar(&[]);
    let mut c = server.client();
    for i in 0..10 {
        c.ok(&format!("SET k{i} v"));
    }
    c.ok("FLUSHALL ASYNC");
    wait_freed(&mut c, 10);
    assert_eq!(c.cmd_raw(&["DBSIZE"]), b":0\r\n");
    c.ok("CONFIG RESETSTAT");
    wait_freed(&mut c, 0);
    // DEL is lazy under lazyfree-lazy-user-del.
    big_set(&mut c, "s1");
    c.ok("DEL s1");
    wait_freed(&mut c, 0);
    c.ok("CONFIG SET lazyfree-lazy-user-del yes");
    big_set(&mut c, "s2");
    c.ok("DEL s2");
    wait_freed(&mut c, 1);
    // FLUSHDB without an option follows lazyfree-lazy-user-flush.
    c.ok("CONFIG SET lazyfree-lazy-user-flush yes");
    c.ok("SET a 1");
    c.ok("FLUSHDB");
    wait_freed(&mut c, 2);
}

/// CLIENT LIST's qbuf + qbuf-free: 16 KiB for a fresh connection, more after a big argument,
/// then back down once the cron sees the client's recent peak is small (Redis's
/// clientsCronResizeQueryBuffer), and nothing once it is idle.
#[test]
fn query_buffer_grows_and_shrinks_as_in_redis() {
    let server = cinnabar(&[]);
    let mut c = server.client();
    let mut probe = server.client();
    c.ok("CLIENT SETNAME qb");
    let qbuf = |probe: &mut Client| -> usize {
        let qbuf: usize = probe.client_field("qb", "qbuf").parse().unwrap();
        let free: usize = probe.client_field("qb", "qbuf-free").parse().unwrap();
        qbuf + free
    };
    let fresh = qbuf(&mut probe);
    assert!((16384..32768).contains(&fresh), "{fresh}");
    c.cmd(&["SET", "x", &"A".repeat(400_000)]);
    let grown = qbuf(&mut probe);
    assert!(grown > 32768, "{grown}");
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        c.ok("SET x y");
        let now = qbuf(&mut probe);
        if now > 0 && now < grown {
            break;
        }
        assert!(Instant::now() < deadline, "still {now}");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The trim may have left a buffer too small to be worth trimming again (under Redis's
    // 4 KiB of spare room); a fresh read gives it its full 16 KiB, which idleness then frees.
    c.ok("SET x y");
    let deadline = Instant::now() + Duration::from_secs(6);
    while qbuf(&mut probe) != 0 {
        assert!(Instant::now() < deadline, "idle client keeps its buffer");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// CLIENT LIST rbs: an idle client's reply buffer shrinks to 1 KiB; one that keeps filling it
/// grows back to 16 KiB, no further (Redis's clientsCronResizeOutputBuffer).
#[test]
fn reply_buffer_shrinks_when_idle_and_grows_when_filled() {
    let server = cinnabar(&["--enable-debug-command".into(), "yes".into()]);
    let mut admin = server.client();
    let mut c = server.client();
    c.ok("CLIENT SETNAME rb");
    admin.ok("DEBUG REPLYBUFFER PEAK-RESET-TIME 100");
    let rbs = |admin: &mut Client| -> usize { admin.client_field("rb", "rbs").parse().unwrap() };
    assert_eq!(rbs(&mut admin), 16384);
    let deadline = Instant::now() + Duration::from_secs(3);
    while rbs(&mut admin) != 1024 {
        assert!(
            Instant::now() < deadline,
            "idle buffer still {}",
            rbs(&mut admin)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    admin.cmd(&["SET", "big", &"x".repeat(32768)]);
    admin.ok("DEBUG REPLYBUFFER PEAK-RESET-TIME NEVER");
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        c.cmd(&["GET", "big"]);
        let size = rbs(&mut admin);
        if size == 16384 {
            break;
        }
        assert!(Instant::now() < deadline, "busy buffer still {size}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let shrinks = admin.info_field("stats", "reply_buffer_shrinks");
    let expands = admin.info_field("stats", "reply_buffer_expands");
    assert!(shrinks.parse::<u64>().unwrap() >= 1, "{shrinks}");
    assert!(expands.parse::<u64>().unwrap() >= 4, "{expands}");
}

/// A string value costs its own bytes, not the query buffer it arrived in (Redis's "trim on
/// SET with big value", which its suite runs only under jemalloc).
#[test]
fn big_string_values_are_trimmed_to_their_length() {
    let server = cinnabar(&[]);
    let mut c = server.client();
    c.cmd(&["SET", "key", &"A".repeat(100_000)]);
    c.cmd(&["SET", "key", &"A".repeat(33_000)]);
    let cinnabar::resp::frame::Frame::Integer(usage) = c.cmd(&["MEMORY", "USAGE", "key"]) else {
        panic!("MEMORY USAGE is an integer");
    };
    assert!((33_000..42_000).contains(&usage), "{usage}");
}

/// DEBUG MALLCTL / MALLCTL-STR read and write jemalloc's settings as Redis's do, errors
/// included; `activedefrag yes` is refused as by a Redis whose jemalloc cannot defragment
/// (Debian's, the oracle's), since cinnabar does not defragment either.
#[test]
fn mallctl_and_activedefrag_as_redis_with_a_stock_jemalloc() {
    let debug: Vec<String> = ["--enable-debug-command", "yes"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let Some(redis) = common::server::oracle(&debug) else {
        return;
    };
    let ours = common::server::cinnabar(&debug);
    let (rc, oc) = (&mut redis.client(), &mut ours.client());
    if !String::from_utf8_lossy(&oc.cmd_raw(&["INFO", "memory"])).contains("jemalloc") {
        // Built without libjemalloc-dev: DEBUG MALLCTL does not exist, as in Redis on libc.
        return;
    }
    for line in [
        "DEBUG MALLCTL arenas.page",
        "DEBUG MALLCTL nosuch.setting",
        "DEBUG MALLCTL arenas.page 5",
        "DEBUG MALLCTL opt.narenas",
        "DEBUG MALLCTL arenas.page x",
        "DEBUG MALLCTL-STR nosuch",
        "DEBUG MALLCTL-STR thread.tcache.flush VOID",
        "DEBUG MALLCTL",
        "CONFIG SET activedefrag yes",
        "CONFIG GET activedefrag",
        "CONFIG SET activedefrag no",
    ] {
        let argv: Vec<&str> = line.split(' ').collect();
        assert_eq!(
            String::from_utf8_lossy(&oc.cmd_raw(&argv)),
            String::from_utf8_lossy(&rc.cmd_raw(&argv)),
            "{line}"
        );
    }
    let version = oc.cmd_raw(&["DEBUG", "MALLCTL-STR", "version"]);
    assert!(
        String::from_utf8_lossy(&version).contains("\r\n5."),
        "{version:?}"
    );
}
