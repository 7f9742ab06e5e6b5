//! Cluster mode against the tools and servers people run: redis-cli --cluster builds and
//! checks clusters of cinnabar nodes, mixed with redis-server 7.0.15 nodes; a killed master
//! is replaced by its replica; slots move under load with no key lost; CLUSTER's replies and
//! errors match Redis's. Node timeouts are 500 ms so failovers take about a second.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::client::Client;
use common::server::{cinnabar, free_port, oracle, wait_until, Server};

const NODE_TIMEOUT_MS: u64 = 500;

fn cluster_args() -> Vec<String> {
    [
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        &NODE_TIMEOUT_MS.to_string(),
        "--cluster-port",
        &free_port().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn cinnabar_node() -> Server {
    cinnabar(&cluster_args())
}

/// A redis-server 7.0.15 cluster node (None outside CI without it).
fn redis_node() -> Option<Server> {
    oracle(&cluster_args())
}

fn redis_cli(args: &[String]) -> String {
    let (ok, text) = redis_cli_status(args);
    assert!(ok, "redis-cli {args:?} failed:\n{text}");
    text
}

/// Runs redis-cli: whether it succeeded, and what it printed.
fn redis_cli_status(args: &[String]) -> (bool, String) {
    let program = std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".into());
    let out = Command::new(&program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn addr(s: &Server) -> String {
    format!("127.0.0.1:{}", s.port)
}

/// `redis-cli --cluster create` over the nodes (masters first), then waits for every node
/// to see the cluster ok.
fn create(nodes: &[&Server], replicas: usize) {
    let mut args: Vec<String> = vec!["--cluster-yes".into(), "--cluster".into(), "create".into()];
    args.extend(nodes.iter().map(|n| addr(n)));
    args.extend(["--cluster-replicas".into(), replicas.to_string()]);
    let out = redis_cli(&args);
    assert!(out.contains("[OK] All 16384 slots covered."), "{out}");
    for n in nodes {
        wait_for_ok(n);
    }
}

fn wait_for_ok(n: &Server) {
    let mut c = n.client();
    wait_until("cluster_state:ok", 30, || {
        info_field(&mut c, "cluster_state") == "ok"
    });
}

fn info_field(c: &mut Client, field: &str) -> String {
    let text = String::from_utf8_lossy(&c.cmd_raw(&["CLUSTER", "INFO"])).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// `redis-cli --cluster check` through `node`: every node agrees and every slot is covered.
fn check(node: &Server) {
    let out = redis_cli(&["--cluster".into(), "check".into(), addr(node)]);
    assert!(
        out.contains("[OK] All nodes agree about slots configuration.")
            && out.contains("[OK] All 16384 slots covered.")
            && !out.contains("[ERR]"),
        "{out}"
    );
}

/// A client that follows MOVED and ASK, as a cluster client library does.
struct ClusterClient {
    conns: HashMap<u16, Client>,
    entry: u16,
    redirects: usize,
}

impl ClusterClient {
    fn new(entry: u16) -> ClusterClient {
        ClusterClient {
            conns: HashMap::new(),
            entry,
            redirects: 0,
        }
    }

    fn conn(&mut self, port: u16) -> &mut Client {
        self.conns
            .entry(port)
            .or_insert_with(|| Client::connect(port).expect("connect to node"))
    }

    /// Runs a command, following redirections; returns the final raw reply.
    fn cmd(&mut self, argv: &[&[u8]]) -> Vec<u8> {
        let mut port = self.entry;
        let mut asking = false;
        for _ in 0..20 {
            let c = self.conn(port);
            if asking {
                assert_eq!(c.cmd_raw(&["ASKING"]), b"+OK\r\n");
            }
            let reply = c.cmd_raw(argv);
            let text = String::from_utf8_lossy(&reply).into_owned();
            let moved = text.strip_prefix("-MOVED ");
            let ask = text.strip_prefix("-ASK ");
            match moved.or(ask) {
                Some(rest) => {
                    self.redirects += 1;
                    asking = ask.is_some();
                    let target = rest.split_whitespace().nth(1).expect("address");
                    port = target.rsplit(':').next().unwrap().parse().unwrap();
                    if !asking {
                        self.entry = port;
                    }
                }
                None if text.starts_with("-TRYAGAIN") || text.starts_with("-CLUSTERDOWN") => {
                    std::thread::sleep(Duration::from_millis(20));
                    asking = false;
                }
                None => return reply,
            }
        }
        panic!(
            "too many redirections for {:?}",
            String::from_utf8_lossy(argv[0])
        );
    }
}

fn bulk(v: &str) -> Vec<u8> {
    format!("${}\r\n{v}\r\n", v.len()).into_bytes()
}

/// The replies and errors of CLUSTER and of commands cluster mode changes, compared byte
/// for byte with a redis-server cluster node (node ids replaced by a placeholder).
#[test]
fn cluster_commands_answer_as_redis() {
    let Some(redis) = redis_node() else { return };
    let ours = cinnabar_node();
    let script_shebang =
        "#!lua\nredis.call('set','foo','bar')\nredis.call('set','bar','foo')\nreturn 'OK'";
    let unknown = "0123456789012345678901234567890123456789";
    let before_slots: Vec<Vec<&str>> = vec![
        vec!["CLUSTER", "KEYSLOT", "{user1000}.following"],
        vec!["CLUSTER", "INFO"],
        vec!["CLUSTER", "SLOTS"],
        vec!["CLUSTER", "LINKS"],
        vec!["CLUSTER", "COUNTKEYSINSLOT", "99999"],
        vec!["CLUSTER", "COUNTKEYSINSLOT", "x"],
        vec!["CLUSTER", "GETKEYSINSLOT", "0", "-1"],
        vec!["CLUSTER", "GETKEYSINSLOT", "0", "10"],
        vec!["CLUSTER", "SETSLOT", "5", "MIGRATING", unknown],
        vec!["CLUSTER", "SETSLOT", "5", "IMPORTING", unknown],
        vec!["CLUSTER", "SETSLOT", "5", "NODE", unknown],
        vec!["CLUSTER", "SETSLOT", "5", "BOGUS"],
        vec!["CLUSTER", "SETSLOT", "16384", "STABLE"],
        vec!["CLUSTER", "MEET", "1.2.3", "5"],
        vec!["CLUSTER", "MEET", "127.0.0.1", "x"],
        vec!["CLUSTER", "MEET", "127.0.0.1", "7000", "y"],
        vec!["CLUSTER", "FORGET", unknown],
        vec!["CLUSTER", "REPLICATE", unknown],
        vec!["CLUSTER", "REPLICAS", unknown],
        vec!["CLUSTER", "COUNT-FAILURE-REPORTS", unknown],
        vec!["CLUSTER", "FAILOVER"],
        vec!["CLUSTER", "FAILOVER", "BOGUS"],
        vec!["CLUSTER", "RESET", "BOGUS"],
        vec!["CLUSTER", "SET-CONFIG-EPOCH", "-1"],
        vec!["CLUSTER", "FOO"],
        vec!["CLUSTER", "ADDSLOTS", "0", "x"],
        vec!["CLUSTER", "ADDSLOTS", "16384"],
        vec!["CLUSTER", "ADDSLOTSRANGE", "0", "1", "2"],
        vec!["CLUSTER", "ADDSLOTSRANGE", "5", "1"],
        vec!["CLUSTER", "ADDSLOTS", "1", "1"],
        vec!["CLUSTER", "DELSLOTS", "7"],
        vec!["CLUSTER", "DELSLOTSRANGE", "7", "9"],
        vec!["GET", "foo"],
        vec!["SELECT", "1"],
        vec!["SELECT", "0"],
        vec!["SWAPDB", "0", "1"],
        vec!["READONLY"],
        vec!["READWRITE"],
        vec!["ASKING"],
        vec!["CLUSTER", "SET-CONFIG-EPOCH", "5"],
        vec!["CLUSTER", "SET-CONFIG-EPOCH", "6"],
        vec!["CLUSTER", "BUMPEPOCH"],
        vec!["CLUSTER", "ADDSLOTSRANGE", "0", "16383"],
        vec!["CLUSTER", "ADDSLOTS", "100"],
        vec!["CLUSTER", "FLUSHSLOTS"],
        vec!["CLUSTER", "ADDSLOTSRANGE", "0", "16383"],
    ];
    let after_ok: Vec<Vec<&str>> = vec![
        vec!["CLUSTER", "INFO"],
        vec!["SET", "foo", "bar"],
        vec!["MGET", "foo", "bar"],
        vec!["MGET", "{a}x", "{a}y"],
        vec!["CLUSTER", "COUNTKEYSINSLOT", "12182"],
        vec!["CLUSTER", "GETKEYSINSLOT", "12182", "10"],
        vec!["MOVE", "foo", "1"],
        vec!["COPY", "foo", "baz", "DB", "1"],
        vec!["CLUSTER", "SETSLOT", "12182", "NODE", unknown],
        vec!["CLUSTER", "FLUSHSLOTS"],
        vec!["CLUSTER", "RESET"],
        vec!["EVAL", script_shebang, "0"],
        vec![
            "EVAL",
            "redis.call('set','foo','bar') return redis.call('set','bar','foo')",
            "0",
        ],
        vec![
            "EVAL",
            "#!lua\nreturn redis.call('set','foo','bar')",
            "1",
            "bar",
        ],
        vec!["EVAL", "#!lua flags=no-cluster\nreturn 1", "0"],
        vec!["CLUSTER", "DELSLOTS", "12182"],
        vec!["GET", "foo"],
        vec!["EVAL", "return redis.call('get','foo')", "0"],
        vec!["CLUSTER", "INFO"],
    ];
    let mut pairs = [(redis.client(), Vec::new()), (ours.client(), Vec::new())];
    for (c, out) in pairs.iter_mut() {
        let id = String::from_utf8_lossy(&c.cmd_raw(&["CLUSTER", "MYID"]))
            .lines()
            .nth(1)
            .unwrap()
            .to_string();
        let norm = |raw: Vec<u8>| String::from_utf8_lossy(&raw).replace(&id, "<myid>");
        for argv in &before_slots {
            out.push((argv.join(" "), norm(c.cmd_raw(argv))));
        }
        wait_until("cluster_state:ok", 10, || {
            info_field(c, "cluster_state") == "ok"
        });
        for argv in &after_ok {
            out.push((argv.join(" "), norm(c.cmd_raw(argv))));
        }
    }
    let [(_, theirs), (_, mine)] = pairs;
    assert_eq!(theirs.len(), mine.len());
    for (t, m) in theirs.iter().zip(&mine) {
        assert_eq!(t, m, "reply to {} differs", t.0);
    }
}

/// Six cinnabar nodes made into three shards by redis-cli; a SIGKILLed master is replaced
/// by its replica within a few node timeouts, with the data the replica had.
#[test]
fn redis_cli_builds_a_cluster_that_survives_a_master_kill() {
    let nodes: Vec<Server> = (0..6).map(|_| cinnabar_node()).collect();
    let refs: Vec<&Server> = nodes.iter().collect();
    create(&refs, 1);
    check(&nodes[0]);
    let mut cc = ClusterClient::new(nodes[0].port);
    for i in 0..300 {
        let k = format!("key:{i}");
        assert_eq!(cc.cmd(&[b"SET", k.as_bytes(), k.as_bytes()]), b"+OK\r\n");
    }
    assert!(cc.redirects > 0, "keys of other shards redirect");
    // Some master dies; its replica takes over.
    let mut nodes: Vec<Option<Server>> = nodes.into_iter().map(Some).collect();
    let replica = (0..6)
        .find(|&i| !is_master(nodes[i].as_ref().unwrap()))
        .expect("a replica");
    let master = master_index(&nodes, nodes[replica].as_ref().unwrap());
    wait_synced(
        nodes[master].as_ref().unwrap(),
        nodes[replica].as_ref().unwrap(),
    );
    drop(nodes[master].take());
    let started = Instant::now();
    let promoted = nodes[replica].as_ref().unwrap();
    wait_until("the replica is promoted", 20, || is_master(promoted));
    let took = started.elapsed();
    eprintln!("promotion after a master kill: {} ms", took.as_millis());
    assert!(
        took < Duration::from_millis(NODE_TIMEOUT_MS * 8),
        "promotion took {took:?}"
    );
    let alive: Vec<&Server> = nodes.iter().flatten().collect();
    for n in &alive {
        wait_for_ok(n);
    }
    let mut cc = ClusterClient::new(alive[0].port);
    for i in 0..300 {
        let k = format!("key:{i}");
        assert_eq!(cc.cmd(&[b"GET", k.as_bytes()]), bulk(&k), "{k}");
    }
}

/// Three redis-server masters with three cinnabar replicas form one cluster and pass
/// `--cluster check`. A redis master dies and its cinnabar replica takes over (voted by the
/// redis masters); then a redis node joins as that cinnabar master's replica, the cinnabar
/// master dies, and the redis replica takes over. No key is lost either way.
#[test]
fn mixed_cluster_with_redis_server_fails_over_both_ways() {
    let (Some(r1), Some(r2), Some(r3)) = (redis_node(), redis_node(), redis_node()) else {
        return;
    };
    let (c1, c2, c3) = (cinnabar_node(), cinnabar_node(), cinnabar_node());
    create(&[&r1, &r2, &r3, &c1, &c2, &c3], 1);
    check(&c1);
    check(&r1);
    let mut cc = ClusterClient::new(c1.port);
    for i in 0..200 {
        let k = format!("mixed:{i}");
        assert_eq!(cc.cmd(&[b"SET", k.as_bytes(), b"v"]), b"+OK\r\n");
    }
    let mut nodes: Vec<Option<Server>> =
        vec![r1, r2, r3, c1, c2, c3].into_iter().map(Some).collect();
    // A redis master whose replica is a cinnabar node dies.
    let cin = nodes[3].as_ref().unwrap();
    let master = master_index(&nodes, cin);
    assert!(master < 3, "cinnabar replicas follow redis masters");
    wait_synced(nodes[master].as_ref().unwrap(), cin);
    drop(nodes[master].take());
    let cin = nodes[3].as_ref().unwrap();
    wait_until(
        "the cinnabar replica is promoted by redis masters",
        20,
        || is_master(cin),
    );
    for n in nodes.iter().flatten() {
        wait_for_ok(n);
    }
    // A redis node becomes the cinnabar master's replica; the cinnabar master dies.
    let Some(r4) = redis_node() else { return };
    redis_cli(&[
        "--cluster".into(),
        "add-node".into(),
        addr(&r4),
        addr(cin),
        "--cluster-slave".into(),
        "--cluster-master-id".into(),
        my_id(cin),
    ]);
    wait_until("the redis replica is attached", 20, || {
        r4.client()
            .cmd_raw(&["ROLE"])
            .starts_with(b"*5\r\n$5\r\nslave")
    });
    wait_synced(cin, &r4);
    drop(nodes[3].take());
    wait_until("the redis replica is promoted", 20, || is_master(&r4));
    nodes.push(Some(r4));
    for n in nodes.iter().flatten() {
        wait_for_ok(n);
    }
    let alive: Vec<&Server> = nodes.iter().flatten().collect();
    check(alive[0]);
    let mut cc = ClusterClient::new(alive[0].port);
    for i in 0..200 {
        let k = format!("mixed:{i}");
        assert_eq!(cc.cmd(&[b"GET", k.as_bytes()]), bulk("v"), "{k}");
    }
}

fn my_id(n: &Server) -> String {
    String::from_utf8_lossy(&n.client().cmd_raw(&["CLUSTER", "MYID"]))
        .lines()
        .nth(1)
        .unwrap()
        .to_string()
}

fn shard_id(n: &Server) -> String {
    let reply = n.client().cmd_raw(&["CLUSTER", "MYSHARDID"]);
    let text = String::from_utf8_lossy(&reply).into_owned();
    let id = text.lines().nth(1).unwrap_or_default().to_string();
    assert_eq!(id.len(), 40, "{text}");
    id
}

fn is_master(n: &Server) -> bool {
    n.client()
        .cmd_raw(&["ROLE"])
        .starts_with(b"*3\r\n$6\r\nmaster")
}

/// The index of `replica`'s master among `nodes`.
fn master_index(nodes: &[Option<Server>], replica: &Server) -> usize {
    let text =
        String::from_utf8_lossy(&replica.client().cmd_raw(&["CLUSTER", "NODES"])).into_owned();
    let master_id = text
        .lines()
        .find(|l| l.contains("myself"))
        .and_then(|l| l.split_whitespace().nth(3))
        .unwrap()
        .to_string();
    nodes
        .iter()
        .position(|n| n.as_ref().is_some_and(|n| my_id(n) == master_id))
        .expect("the master is one of the nodes")
}

/// Waits until the replica holds as many keys as its master.
fn wait_synced(master: &Server, replica: &Server) {
    let (mut m, mut r) = (master.client(), replica.client());
    wait_until("the replica caught up", 20, || {
        m.cmd_raw(&["DBSIZE"]) == r.cmd_raw(&["DBSIZE"])
    });
}

/// 4096 slots move with redis-cli --cluster reshard while a client writes and reads: every
/// key written is there afterwards, and the client saw only redirections.
#[test]
fn reshard_under_load_loses_no_keys() {
    let nodes: Vec<Server> = (0..3).map(|_| cinnabar_node()).collect();
    let refs: Vec<&Server> = nodes.iter().collect();
    create(&refs, 0);
    let (from, to) = (my_id(&nodes[0]), my_id(&nodes[1]));
    let entry = nodes[2].port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut cc = ClusterClient::new(entry);
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 2000 {
                let k = format!("rs:{n}");
                assert_eq!(cc.cmd(&[b"SET", k.as_bytes(), k.as_bytes()]), b"+OK\r\n");
                let back = format!("rs:{}", n / 2);
                assert_eq!(cc.cmd(&[b"GET", back.as_bytes()]), bulk(&back));
                n += 1;
            }
            (n, cc.redirects)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let out = redis_cli(&[
        "--cluster".into(),
        "reshard".into(),
        addr(&nodes[0]),
        "--cluster-from".into(),
        from,
        "--cluster-to".into(),
        to,
        "--cluster-slots".into(),
        "4096".into(),
        "--cluster-yes".into(),
    ]);
    assert!(!out.contains("[ERR]"), "{out}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (written, redirects) = writer.join().expect("writer");
    assert!(redirects > 0);
    check(&nodes[0]);
    let mut cc = ClusterClient::new(nodes[0].port);
    for i in 0..written {
        let k = format!("rs:{i}");
        assert_eq!(cc.cmd(&[b"GET", k.as_bytes()]), bulk(&k), "{k} lost");
    }
    let total: i64 = nodes
        .iter()
        .map(|n| {
            String::from_utf8_lossy(&n.client().cmd_raw(&["DBSIZE"]))
                .trim_start_matches(':')
                .trim()
                .parse::<i64>()
                .unwrap()
        })
        .sum();
    assert_eq!(total as u64, written, "no key duplicated or lost");
    let counts =
        String::from_utf8_lossy(&nodes[1].client().cmd_raw(&["CLUSTER", "INFO"])).into_owned();
    assert!(counts.contains("cluster_state:ok"));
}

/// add-node joins an empty node (as a master, then as a replica), del-node removes it and
/// the others forget it.
#[test]
fn redis_cli_adds_and_removes_nodes() {
    let nodes: Vec<Server> = (0..3).map(|_| cinnabar_node()).collect();
    let refs: Vec<&Server> = nodes.iter().collect();
    create(&refs, 0);
    let extra = cinnabar_node();
    let replica = cinnabar_node();
    redis_cli(&[
        "--cluster".into(),
        "add-node".into(),
        addr(&extra),
        addr(&nodes[0]),
    ]);
    redis_cli(&[
        "--cluster".into(),
        "add-node".into(),
        addr(&replica),
        addr(&nodes[0]),
        "--cluster-slave".into(),
    ]);
    // del-node sends CLUSTER FORGET to every node, which fails on one that has not heard of
    // the node yet: wait until the gossip reached them all, by its real ID (a node still in
    // handshake is counted in cluster_known_nodes under a random name).
    let extra_id = my_id(&extra);
    wait_until("every node knows five", 20, || {
        nodes.iter().chain([&extra, &replica]).all(|n| {
            let text =
                String::from_utf8_lossy(&n.client().cmd_raw(&["CLUSTER", "NODES"])).into_owned();
            info_field(&mut n.client(), "cluster_known_nodes") == "5"
                && text.contains(&extra_id)
                && !text.contains("handshake")
        })
    });
    wait_until("the replica is attached", 20, || {
        replica
            .client()
            .cmd_raw(&["ROLE"])
            .starts_with(b"*5\r\n$5\r\nslave")
    });
    check(&nodes[2]);
    // The first FORGET spreads by gossip too (Redis 7.2's forgotten-node ping extension), so
    // a node redis-cli reaches late may have forgotten the node already and answer "Unknown
    // node": then the removal happened all the same, which the wait below checks.
    let (ok, text) = redis_cli_status(&[
        "--cluster".into(),
        "del-node".into(),
        addr(&nodes[0]),
        extra_id.clone(),
    ]);
    assert!(
        ok || (text.contains(&format!("ERR Unknown node {extra_id}"))
            && text.matches("replied with error").count() == 1),
        "del-node failed:\n{text}"
    );
    wait_until("the node is forgotten", 20, || {
        nodes.iter().all(|n| {
            !String::from_utf8_lossy(&n.client().cmd_raw(&["CLUSTER", "NODES"])).contains(&extra_id)
        })
    });
    check(&nodes[0]);
}

/// PUBLISH reaches subscribers on every node; SPUBLISH reaches the shard's replica.
#[test]
fn pubsub_crosses_the_cluster_bus() {
    let nodes: Vec<Server> = (0..4).map(|_| cinnabar_node()).collect();
    let refs: Vec<&Server> = nodes.iter().collect();
    // Three masters... with four nodes and one replica for the first shard.
    let mut args: Vec<String> = vec!["--cluster-yes".into(), "--cluster".into(), "create".into()];
    args.extend(refs[..3].iter().map(|n| addr(n)));
    redis_cli(&args);
    for n in &refs[..3] {
        wait_for_ok(n);
    }
    redis_cli(&[
        "--cluster".into(),
        "add-node".into(),
        addr(&nodes[3]),
        addr(&nodes[0]),
        "--cluster-slave".into(),
        "--cluster-master-id".into(),
        my_id(&nodes[0]),
    ]);
    wait_for_ok(&nodes[3]);
    // SPUBLISH reaches the replicas its master knows of.
    let (master_id, replica_id) = (my_id(&nodes[0]), my_id(&nodes[3]));
    wait_until("the master knows its replica", 20, || {
        let reply = nodes[0]
            .client()
            .cmd_raw(&["CLUSTER", "REPLICAS", &master_id]);
        String::from_utf8_lossy(&reply).contains(&replica_id)
    });
    let mut sub = nodes[2].client();
    sub.cmd_raw(&["SUBSCRIBE", "news"]);
    let mut ssub = nodes[3].client();
    // A shard channel of the first shard's slots (slot 0 is served by nodes[0]).
    let mut channel = String::new();
    for i in 0.. {
        channel = format!("ch{i}");
        let slot =
            String::from_utf8_lossy(&nodes[0].client().cmd_raw(&["CLUSTER", "KEYSLOT", &channel]))
                .trim_start_matches(':')
                .trim()
                .parse::<u16>()
                .unwrap();
        if slot < 5000 {
            break;
        }
    }
    ssub.cmd_raw(&["READONLY"]);
    let reply = ssub.cmd_raw(&["SSUBSCRIBE", &channel]);
    assert!(
        reply.starts_with(b"*3\r\n$10\r\nssubscribe"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    std::thread::sleep(Duration::from_millis(200));
    nodes[0].client().cmd_raw(&["PUBLISH", "news", "hello"]);
    assert_eq!(
        sub.read_raw().unwrap(),
        b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"
    );
    nodes[0]
        .client()
        .cmd_raw(&["SPUBLISH", &channel, "shard-hello"]);
    let msg = ssub.read_raw().unwrap();
    assert!(
        String::from_utf8_lossy(&msg).contains("shard-hello"),
        "{}",
        String::from_utf8_lossy(&msg)
    );
}

/// A replica that never synced is not elected (it has no data to serve); its master comes
/// back from its nodes.conf and AOF and keeps its slots. Once the replica has synced, a
/// killed master is replaced, and on restart it rejoins as the replica of its successor.
/// No key is lost either time.
#[test]
fn a_killed_master_restarts_from_nodes_conf_without_losing_keys() {
    let args = {
        let mut a = cluster_args();
        a.extend(["--appendonly".to_string(), "yes".to_string()]);
        a
    };
    let first = common::server::in_dir(common::server::fresh_dir(), |d| {
        common::server::cinnabar_at(free_port(), &[d, &args].concat())
    })
    .expect("node with an AOF");
    let port = first.port;
    let mut nodes: Vec<Option<Server>> = (0..2).map(|_| Some(cinnabar_node())).collect();
    create(
        &[
            &first,
            nodes[0].as_ref().unwrap(),
            nodes[1].as_ref().unwrap(),
        ],
        0,
    );
    let replica = cinnabar(
        &[
            cluster_args(),
            vec!["--repl-diskless-sync-delay".into(), "3".into()],
        ]
        .concat(),
    );
    redis_cli(&[
        "--cluster".into(),
        "add-node".into(),
        addr(&replica),
        addr(&first),
        "--cluster-slave".into(),
        "--cluster-master-id".into(),
        my_id(&first),
    ]);
    // The shard id (7.2): the replica joins its master's; each master has its own.
    let shard = shard_id(&first);
    wait_until("the replica takes its master's shard id", 10, || {
        shard_id(&replica) == shard
    });
    assert!(nodes.iter().flatten().all(|n| shard_id(n) != shard));
    let mut cc = ClusterClient::new(nodes[1].as_ref().unwrap().port);
    for i in 0..100 {
        let k = format!("r:{i}");
        assert_eq!(cc.cmd(&[b"SET", k.as_bytes(), k.as_bytes()]), b"+OK\r\n");
    }
    assert!(first.client().cmd_raw(&["DBSIZE"]) != b":0\r\n");
    let dir = first.kill_keep_dir();
    // The replica has nothing yet: it must not take over.
    std::thread::sleep(Duration::from_millis(NODE_TIMEOUT_MS * 6));
    assert!(!is_master(&replica), "a replica without data was elected");
    let first = common::server::in_dir(dir, |d| {
        common::server::cinnabar_at(port, &[d, &args].concat())
    })
    .expect("restart");
    wait_for_ok(&first);
    assert!(is_master(&first));
    assert_eq!(shard_id(&first), shard, "nodes.conf keeps the shard id");
    wait_synced(&first, &replica);
    let mut cc = ClusterClient::new(nodes[1].as_ref().unwrap().port);
    for i in 0..100 {
        let k = format!("r:{i}");
        assert_eq!(cc.cmd(&[b"GET", k.as_bytes()]), bulk(&k), "{k}");
    }
    // Synced: now the replica takes over, and the old master comes back as its replica.
    let dir = first.kill_keep_dir();
    wait_until("the synced replica is promoted", 20, || is_master(&replica));
    let first = common::server::in_dir(dir, |d| {
        common::server::cinnabar_at(port, &[d, &args].concat())
    })
    .expect("restart");
    wait_until("the old master follows its successor", 20, || {
        first
            .client()
            .cmd_raw(&["ROLE"])
            .starts_with(b"*5\r\n$5\r\nslave")
    });
    wait_synced(&replica, &first);
    assert_eq!(shard_id(&replica), shard, "a failover keeps the shard");
    assert_eq!(shard_id(&first), shard);
    nodes.push(Some(first));
    nodes.push(Some(replica));
    let alive: Vec<&Server> = nodes.iter().flatten().collect();
    for n in &alive {
        wait_for_ok(n);
    }
    check(alive[0]);
    let mut cc = ClusterClient::new(alive[0].port);
    for i in 0..100 {
        let k = format!("r:{i}");
        assert_eq!(cc.cmd(&[b"GET", k.as_bytes()]), bulk(&k), "{k}");
    }
}

/// A `tls-cluster` node: its bus, MIGRATE and replication speak TLS; clients reach it on
/// `tls_port` (TLS) or its port (plain).
struct TlsNode {
    server: Server,
    tls_port: u16,
}

fn tls_node(certs: &std::path::Path, redis: bool) -> Option<TlsNode> {
    let tls_port = free_port();
    let mut args = cluster_args();
    args.extend(common::certs::tls_args(
        certs,
        tls_port,
        &["--tls-cluster", "yes", "--tls-replication", "yes"],
    ));
    let server = if redis {
        oracle(&args)?
    } else {
        cinnabar(&args)
    };
    Some(TlsNode { server, tls_port })
}

/// redis-cli over TLS with the test certificates.
fn tls_cli(certs: &std::path::Path, args: &[String]) -> String {
    let p = |f: &str| certs.join(f).to_string_lossy().into_owned();
    let mut all = vec![
        "--tls".to_string(),
        "--cert".into(),
        p("client.crt"),
        "--key".into(),
        p("client.key"),
        "--cacert".into(),
        p("ca.crt"),
    ];
    all.extend_from_slice(args);
    redis_cli(&all)
}

fn tls_addr(n: &TlsNode) -> String {
    format!("127.0.0.1:{}", n.tls_port)
}

/// tls-cluster with cinnabar and redis-server nodes: redis-cli builds it over TLS; slots
/// move both ways between them (MIGRATE over TLS); plaintext clients are redirected to
/// plaintext ports, TLS clients see TLS ports; a redis master dies and its cinnabar replica,
/// fed over TLS, takes over with every key.
#[test]
fn tls_cluster_mixes_with_redis_server() {
    let certs = common::certs::make_certs();
    let Some(r1) = tls_node(&certs, true) else {
        return;
    };
    let c1 = tls_node(&certs, false).unwrap();
    let c2 = tls_node(&certs, false).unwrap();
    let c3 = tls_node(&certs, false).unwrap();
    let mut args: Vec<String> = vec!["--cluster-yes".into(), "--cluster".into(), "create".into()];
    args.extend([&c1, &c2, &r1].iter().map(|n| tls_addr(n)));
    let out = tls_cli(&certs, &args);
    assert!(out.contains("[OK] All 16384 slots covered."), "{out}");
    tls_cli(
        &certs,
        &[
            "--cluster".into(),
            "add-node".into(),
            tls_addr(&c3),
            tls_addr(&c1),
            "--cluster-slave".into(),
            "--cluster-master-id".into(),
            my_id(&r1.server),
        ],
    );
    for n in [&c1, &c2, &c3, &r1] {
        wait_for_ok(&n.server);
    }
    // Plaintext clients follow plaintext ports.
    let plain: Vec<u16> = [&c1, &c2, &r1].iter().map(|n| n.server.port).collect();
    let mut cc = ClusterClient::new(c1.server.port);
    for i in 0..300 {
        let k = format!("tls:{i}");
        assert_eq!(cc.cmd(&[b"SET", k.as_bytes(), k.as_bytes()]), b"+OK\r\n");
    }
    assert!(cc.redirects > 0);
    let moved = (0..300)
        .map(|i| c1.server.client().cmd_raw(&["GET", &format!("tls:{i}")]))
        .find(|r| r.starts_with(b"-MOVED"))
        .expect("a key of another shard");
    let port: u16 = String::from_utf8_lossy(&moved)
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(plain.contains(&port), "MOVED to a plaintext port: {port}");
    let nodes = tls_cli(
        &certs,
        &[
            "-p".into(),
            c1.tls_port.to_string(),
            "CLUSTER".into(),
            "NODES".into(),
        ],
    );
    assert!(nodes.contains(&format!(":{}@", r1.tls_port)), "{nodes}");
    // Slots move cinnabar -> redis and redis -> cinnabar, once every node agrees.
    let agreed = || {
        let p = |f: &str| certs.join(f).to_string_lossy().into_owned();
        Command::new("redis-cli")
            .args([
                "--tls",
                "--cert",
                &p("client.crt"),
                "--key",
                &p("client.key"),
            ])
            .args([
                "--cacert",
                &p("ca.crt"),
                "--cluster",
                "check",
                &tls_addr(&c2),
            ])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("[OK] All nodes agree"))
    };
    for (from, to) in [(&c1, &r1), (&r1, &c2)] {
        wait_until("every node agrees on the slots", 20, agreed);
        let out = tls_cli(
            &certs,
            &[
                "--cluster".into(),
                "reshard".into(),
                tls_addr(from),
                "--cluster-from".into(),
                my_id(&from.server),
                "--cluster-to".into(),
                my_id(&to.server),
                "--cluster-slots".into(),
                "1000".into(),
                "--cluster-yes".into(),
            ],
        );
        assert!(!out.contains("[ERR]"), "{out}");
    }
    wait_until("every node agrees on the slots", 20, agreed);
    // The redis master dies; its cinnabar replica takes over.
    wait_synced(&r1.server, &c3.server);
    drop(r1);
    wait_until("the cinnabar replica is promoted", 20, || {
        is_master(&c3.server)
    });
    for n in [&c1, &c2, &c3] {
        wait_for_ok(&n.server);
    }
    let mut cc = ClusterClient::new(c2.server.port);
    for i in 0..300 {
        let k = format!("tls:{i}");
        assert_eq!(cc.cmd(&[b"GET", k.as_bytes()]), bulk(&k), "{k}");
    }
}
