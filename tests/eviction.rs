//! maxmemory eviction under real memory use: the limit holds, the LRU approximation keeps
//! recently used keys, volatile policies touch only keys with a TTL. (What is refused over
//! the limit, and how scripts behave, is in the `eviction` transcript.)

mod common;

use std::time::Duration;

use common::client::Client;
use common::server::{cinnabar, oracle, Server};

fn used_memory(c: &mut Client) -> u64 {
    c.info_field("memory", "used_memory").parse().unwrap()
}

fn evicted(c: &mut Client) -> u64 {
    c.info_field("stats", "evicted_keys").parse().unwrap()
}

/// Pipelines `n` SETs of 1000-byte values named `prefix:i` (with `extra` arguments).
fn write_keys(c: &mut Client, prefix: &str, n: usize, extra: &str) {
    let value = "v".repeat(1000);
    let mut batch = Vec::new();
    for i in 0..n {
        batch.extend_from_slice(format!("SET {prefix}:{i} {value} {extra}\r\n").as_bytes());
    }
    c.send_raw(&batch).unwrap();
    for _ in 0..n {
        let r = c.read_raw().unwrap();
        assert_eq!(r, b"+OK\r\n", "{}", String::from_utf8_lossy(&r));
    }
}

#[test]
fn the_limit_holds_and_recently_used_keys_stay() {
    let server = cinnabar(&[]);
    let mut c = server.client();
    write_keys(&mut c, "cold", 2000, "");
    // The LRU clock ticks in seconds.
    std::thread::sleep(Duration::from_millis(2100));
    for i in 0..200 {
        c.cmd(&["GET", &format!("cold:{i}")]);
    }
    let limit = used_memory(&mut c);
    c.ok(&format!("CONFIG SET maxmemory {limit}"));
    c.ok("CONFIG SET maxmemory-policy allkeys-lru");
    write_keys(&mut c, "new", 1000, "");
    assert!(evicted(&mut c) >= 900, "evicted {}", evicted(&mut c));
    assert!(
        used_memory(&mut c) <= limit + 64 * 1024,
        "used {} limit {limit}",
        used_memory(&mut c)
    );
    let hot_left = (0..200)
        .filter(|i| c.cmd(&["EXISTS", &format!("cold:{i}")]).as_int() == Some(1))
        .count();
    assert!(
        hot_left >= 190,
        "only {hot_left} of 200 recently used keys stayed"
    );
    let new_left = (0..1000)
        .filter(|i| c.cmd(&["EXISTS", &format!("new:{i}")]).as_int() == Some(1))
        .count();
    assert!(new_left >= 950, "only {new_left} of 1000 new keys stayed");
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl() {
    let server = cinnabar(&[]);
    let mut c = server.client();
    write_keys(&mut c, "keep", 500, "");
    write_keys(&mut c, "short", 500, "EX 1000");
    write_keys(&mut c, "long", 500, "EX 100000");
    let limit = used_memory(&mut c);
    c.ok(&format!("CONFIG SET maxmemory {limit}"));
    c.ok("CONFIG SET maxmemory-policy volatile-ttl");
    write_keys(&mut c, "more", 400, "EX 50000");
    let count = |c: &mut Client, prefix: &str| {
        (0..500)
            .filter(|i| c.cmd(&["EXISTS", &format!("{prefix}:{i}")]).as_int() == Some(1))
            .count()
    };
    assert_eq!(count(&mut c, "keep"), 500);
    // The nearest expiries go first.
    assert!(count(&mut c, "short") < 200, "{}", count(&mut c, "short"));
    assert!(count(&mut c, "long") > 450, "{}", count(&mut c, "long"));
    // Once no key has a TTL left to evict, writes are refused.
    c.ok("CONFIG SET maxmemory-policy volatile-random");
    let value = "v".repeat(1000);
    let mut refused = false;
    for i in 0..5000 {
        let r = c.cmd_raw(&["SET", &format!("x:{i}"), &value]);
        if r.starts_with(b"-OOM") {
            refused = true;
            break;
        }
    }
    assert!(refused);
    assert_eq!(count(&mut c, "keep"), 500);
    assert_eq!(c.cmd(&["EXISTS", "long:1"]).as_int(), Some(0));
}

#[test]
fn evictions_reach_the_aof_as_deletions() {
    let server = cinnabar(&["--appendonly".into(), "yes".into()]);
    let mut c = server.client();
    write_keys(&mut c, "k", 300, "");
    let limit = used_memory(&mut c);
    c.ok(&format!("CONFIG SET maxmemory {limit}"));
    c.ok("CONFIG SET maxmemory-policy allkeys-random");
    write_keys(&mut c, "n", 300, "");
    let n = evicted(&mut c);
    assert!(n > 100, "{n}");
    let aof = std::fs::read(server.dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    let dels = aof.windows(9).filter(|w| w == b"$3\r\nDEL\r\n").count() as u64;
    assert_eq!(dels, n);
}

#[test]
fn memory_usage_and_stats_account_for_the_data() {
    let server = cinnabar(&[]);
    let mut c = server.client();
    c.ok("SET small 1");
    c.ok(&format!("SET big {}", "x".repeat(10_000)));
    c.ok("RPUSH list a b c");
    let usage = |c: &mut Client, k: &str| c.cmd(&["MEMORY", "USAGE", k]).as_int().unwrap();
    assert!(usage(&mut c, "small") < 200);
    assert!((10_000..11_000).contains(&usage(&mut c, "big")));
    assert!(usage(&mut c, "list") > usage(&mut c, "small"));
    let stats = c.cmd(&["MEMORY", "STATS"]);
    let items = stats.items().unwrap();
    let field = |name: &str| {
        let i = items
            .iter()
            .position(|f| f.as_bytes() == Some(name.as_bytes()))
            .unwrap_or_else(|| panic!("no {name}"));
        items[i + 1].clone()
    };
    assert_eq!(field("keys.count").as_int(), Some(3));
    let total = field("total.allocated").as_int().unwrap();
    let dataset = field("dataset.bytes").as_int().unwrap();
    assert!(dataset > 10_000 && dataset < total, "{dataset} {total}");
    assert!(field("db.0").items().is_some());
    let info = c.cmd(&["INFO", "memory"]);
    let text = String::from_utf8_lossy(info.as_bytes().unwrap()).into_owned();
    let get = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    };
    assert!(get("used_memory_peak") >= get("used_memory_startup"));
    assert!(get("used_memory_dataset") > 10_000);
}

/// maxmemory-clients: past the limit the client holding the most memory is closed; one with
/// CLIENT NO-EVICT stays.
#[test]
fn clients_holding_the_most_memory_are_evicted() {
    let server = cinnabar(&[]);
    let mut c = server.client();
    c.ok("CONFIG SET maxmemory-clients 4mb");
    // A SET whose value is still coming: its query buffer holds what arrived.
    let partial = |cl: &mut Client, len: usize| {
        let mut b = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${len}\r\n").into_bytes();
        b.extend(std::iter::repeat_n(b'x', len - 10));
        // The server may close the connection while this is still being sent.
        let _ = cl.send_raw(&b);
    };
    let mut keeper = server.client();
    keeper.ok("CLIENT NO-EVICT on");
    let kept = 600_000;
    partial(&mut keeper, kept);
    let mut big = server.client();
    partial(&mut big, 8_000_000);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(c.cmd_raw(&["PING"]), b"+PONG\r\n");
    // The big client was closed.
    big.set_timeout(std::time::Duration::from_secs(2));
    assert!(big.read_to_close().is_empty());
    let info = c.cmd(&["INFO", "stats"]);
    let text = String::from_utf8_lossy(info.as_bytes().unwrap()).into_owned();
    assert!(text.contains("evicted_clients:1\r\n"), "{text}");
    // The protected one finishes its command.
    keeper.send_raw(&[b'x'; 10]).unwrap();
    keeper.send_raw(b"\r\n").unwrap();
    assert_eq!(keeper.read_raw().unwrap(), b"+OK\r\n");
    assert_eq!(c.cmd(&["STRLEN", "k"]).as_int(), Some(kept as i64));
}

/// While clients are paused the dataset stays still: no evictions even over maxmemory
/// (Redis's isSafeToPerformEvictions); the first command after the pause evicts. Checked on
/// both servers.
#[test]
fn no_evictions_while_clients_are_paused() {
    let check = |server: common::server::Server| {
        let mut c = server.client();
        write_keys(&mut c, "k", 2000, "");
        c.ok("CONFIG SET maxmemory-policy allkeys-random");
        c.ok("CLIENT PAUSE 100000 WRITE");
        c.ok("CONFIG SET maxmemory 1");
        assert_eq!(c.cmd_raw(&["DBSIZE"]), b":2000\r\n");
        assert_eq!(evicted(&mut c), 0);
        c.ok("CLIENT UNPAUSE");
        c.ok("PING");
        assert!(evicted(&mut c) > 0, "evictions resume");
        c.ok("CONFIG SET maxmemory 0");
    };
    check(cinnabar(&[]));
    if let Some(redis) = common::server::oracle(&[]) {
        check(redis);
    }
}

/// CONFIG SET maxmemory inside a transaction that already wrote evicts nothing until the
/// transaction ends (its writes are propagated together), then evicts; as redis-server.
fn eviction_waits_for_the_transaction(server: &Server) -> Vec<Vec<u8>> {
    let mut c = server.client();
    let mut seen = vec![c.cmd_raw(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"])];
    for line in [
        "MULTI",
        "INCR x",
        "CONFIG SET maxmemory 1",
        "INCR x",
        "EXEC",
    ] {
        seen.push(c.cmd_raw(&line.split(' ').collect::<Vec<_>>()));
    }
    common::server::wait_until("the eviction", 10, || {
        c.cmd(&["DBSIZE"]).as_int() == Some(0)
    });
    seen.push(c.cmd_raw(&["CONFIG", "SET", "maxmemory", "0"]));
    seen
}

#[test]
fn no_eviction_inside_a_transaction_that_wrote() {
    let ours = eviction_waits_for_the_transaction(&cinnabar(&[]));
    assert!(String::from_utf8_lossy(&ours[5]).contains(":2\r\n"));
    if let Some(theirs) = oracle(&[]) {
        assert_eq!(ours, eviction_waits_for_the_transaction(&theirs));
    }
}

/// A keyspace table that would grow past maxmemory does not (while it is not overfull): at
/// 4,096 keys, the next insert would double the table, and with maxmemory 10 KB above the
/// usage that would force evictions; no key is evicted, as in redis-server.
fn growth_stays_under_maxmemory(server: &Server) -> i64 {
    let mut c = server.client();
    // Per-command latency histograms are allocated on first use: not in the measured window.
    c.ok("CONFIG SET latency-tracking no");
    c.ok("CONFIG SET maxmemory-policy allkeys-random");
    let mut batch = Vec::new();
    for i in 0..4096 {
        batch.extend_from_slice(format!("SET key:{i} 1\r\n").as_bytes());
    }
    c.send_raw(&batch).unwrap();
    for _ in 0..4096 {
        c.read();
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let limit = used_memory(&mut c) + 10 * 1024;
    c.ok(&format!("CONFIG SET maxmemory {limit}"));
    c.ok("SET k1 v1");
    c.ok("SET k2 v2");
    c.cmd(&["DBSIZE"]).as_int().unwrap()
}

#[test]
fn keyspace_tables_do_not_grow_past_maxmemory() {
    assert_eq!(growth_stays_under_maxmemory(&cinnabar(&[])), 4098);
    if let Some(theirs) = oracle(&[]) {
        assert_eq!(growth_stays_under_maxmemory(&theirs), 4098);
    }
}

/// Invalidations an eviction sends to tracking clients do not feed more evictions once they
/// are written out (Redis's "client tracking don't cause eviction feedback loop"): the room
/// they took in the clients' reply buffers goes back, so the next command sees the memory
/// the evicted keys freed.
#[test]
fn tracking_invalidations_do_not_feed_evictions() {
    let s = cinnabar(&[]);
    let mut c = s.client();
    // A command's first latency histogram would count as growth too (Redis's test turns
    // latency tracking off for the same reason).
    c.ok("CONFIG SET latency-tracking no");
    c.ok("CONFIG SET maxmemory-policy allkeys-lru");
    c.ok("CONFIG SET maxmemory-eviction-tenacity 100");
    let mut trackers: Vec<Client> = (0..10).map(|_| s.client()).collect();
    for t in &mut trackers {
        t.cmd(&["HELLO", "3"]);
        t.cmd(&["CLIENT", "TRACKING", "on"]);
    }
    for j in 0..300 {
        let key = format!("{j}{}", "x".repeat(1000));
        c.cmd(&["SET", key.as_str(), "x"]);
        for t in &mut trackers {
            t.cmd(&["GET", key.as_str()]);
        }
    }
    std::thread::sleep(Duration::from_millis(1100));
    let limit = used_memory(&mut c) - 40_000;
    c.ok(&format!("CONFIG SET maxmemory {limit}"));
    let gone = evicted(&mut c);
    let left = c.cmd(&["DBSIZE"]).as_int().unwrap();
    assert!(
        (200..=300).contains(&left),
        "{left} keys left, {gone} evicted"
    );
    assert!((10..=50).contains(&gone), "{gone} evicted");
}

/// DEBUG CLIENT-EVICTION: the clients maxmemory-clients may close, in Redis's power-of-two
/// pools, each with the memory CLIENT LIST gives it; CLIENT NO-EVICT ones are left out.
#[test]
fn debug_client_eviction_shows_the_pools() {
    let server = cinnabar(&["--enable-debug-command".into(), "yes".into()]);
    let mut control = server.client();
    control.ok("CONFIG SET maxmemory-clients 100mb");
    control.ok("CLIENT NO-EVICT on");
    // A client holding a 100 KB argument it has not finished sending.
    let mut big = server.client();
    big.ok("CLIENT SETNAME big");
    big.send_raw(format!("*2\r\n$3\r\nSET\r\n$200000\r\n{}", "x".repeat(100_000)).as_bytes())
        .unwrap();
    common::server::wait_until("the argument in the buffer", 10, || {
        control
            .client_field("big", "qbuf")
            .parse::<usize>()
            .unwrap()
            >= 100_000
    });
    let mem: usize = control.client_field("big", "tot-mem").parse().unwrap();
    let text =
        String::from_utf8_lossy(&control.cmd_raw(&["DEBUG", "CLIENT-EVICTION"])).into_owned();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("bucket")).collect();
    assert_eq!(lines.len(), 19, "{text}");
    assert!(
        lines[0].starts_with("bucket          0 -      32767: tot-mem:"),
        "{text}"
    );
    assert!(
        lines[18].starts_with("bucket 4294967296+            : tot-mem:"),
        "{text}"
    );
    let holding: Vec<&&str> = lines
        .iter()
        .filter(|l| !l.ends_with("clients: 0"))
        .collect();
    assert_eq!(holding.len(), 1, "only the big client counts: {text}");
    assert!(
        holding[0].contains(&format!("tot-mem: {mem:>10}, clients: 1")),
        "{mem}: {text}"
    );
    let bits = usize::BITS - mem.leading_zeros();
    assert!(
        holding[0].starts_with(&format!("bucket {:>10}", 1u64 << (bits - 1))),
        "{text}"
    );
}

/// maxmemory-clients before maxmemory: a client whose pipelined replies pile up (GETs of a
/// 1 MB value it does not read) is evicted once it holds more than maxmemory-clients, and
/// its memory is gone before keys are weighed against maxmemory, so no key goes. The same
/// outcome as redis-server's.
#[test]
fn client_eviction_comes_before_key_eviction() {
    let run = |server: Server| {
        let mut c = server.client();
        c.ok("CONFIG SET maxmemory-policy allkeys-lru");
        c.ok("CLIENT NO-EVICT on");
        c.ok("SETRANGE big 1000000 x");
        for j in 0..50 {
            c.ok(&format!("SETRANGE {j} 100000 x"));
        }
        let dataset: u64 = c.info_field("memory", "used_memory").parse().unwrap();
        c.ok("CONFIG SET maxmemory-clients 3mb");
        c.ok(&format!("CONFIG SET maxmemory {}", dataset + 3_500_000));
        let mut reader = server.client();
        reader
            .send_raw(&b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(30))
            .unwrap();
        let stat = |c: &mut Client, f: &str| c.info_field("stats", f).parse::<u64>().unwrap();
        common::server::wait_until("the reader's eviction", 10, || {
            stat(&mut c, "evicted_clients") == 1
        });
        stat(&mut c, "evicted_keys")
    };
    assert_eq!(run(cinnabar(&[])), 0);
    if let Some(redis) = oracle(&[]) {
        assert_eq!(run(redis), 0);
    }
}
