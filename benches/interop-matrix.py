#!/usr/bin/env python3
"""Replication interop matrix, each case under redis-benchmark write load, each ending with the
two (or three) datasets compared key by key:

  cinnabar replica of redis-server, redis-server replica of cinnabar, cinnabar of cinnabar,
  a chain redis-server -> cinnabar -> redis-server, a partial resync after
  CLIENT KILL TYPE master and after restarting the replica (both directions), and FAILOVER
  between the pair (both directions).

  cargo build --release && python3 benches/interop-matrix.py
"""

import sys
import time

from repl_lib import Node, benchmark_load, compare, stop, wait_in_sync, wait_until

PORT = iter(range(7900, 8000))
FAST = ["--repl-diskless-sync", "yes", "--repl-backlog-size", "256mb"]


def node(kind, *extra):
    return Node(kind, next(PORT), *FAST, *extra)


def stats(n):
    s = n.info("stats")
    return int(s["sync_full"]), int(s["sync_partial_ok"])


def check(label, master, replicas, started, expect=None):
    for r in replicas:
        upstream = master if r is replicas[0] else replicas[0]
        wait_in_sync(upstream, r)
    for r in replicas:
        keys, diff = compare(master, r)
        ok = not diff and keys > 1000 and (expect is None or expect())
        print(
            f"{'PASS' if ok else 'FAIL'}  {label:<58} {master.name():>15} -> {r.name():<15} "
            f"{keys:>7} keys, {len(diff)} differ, {time.time() - started:5.1f} s",
            flush=True,
        )
        if not ok:
            global failures
            failures += 1


def full_sync(master_kind, replica_kind):
    m = node(master_kind)
    r = node(replica_kind)
    t = time.time()
    load = benchmark_load(m.port)
    time.sleep(0.7)  # the sync starts with writes already flowing
    r.client().replicaof("127.0.0.1", m.port)
    load.wait()
    check(f"full sync under load ({replica_kind} replica of {master_kind})", m, [r], t)
    for n in (m, r):
        n.close()


def chained():
    m, mid, leaf = node("redis"), node("cinnabar"), node("redis")
    t = time.time()
    load = benchmark_load(m.port)
    time.sleep(0.5)
    mid.client().replicaof("127.0.0.1", m.port)
    leaf.client().replicaof("127.0.0.1", mid.port)
    load.wait()
    check("chain redis-server -> cinnabar -> redis-server", m, [mid, leaf], t)
    for n in (m, mid, leaf):
        n.close()


def partial_after_link_kill(master_kind, replica_kind):
    m, r = node(master_kind), node(replica_kind)
    r.client().replicaof("127.0.0.1", m.port)
    wait_in_sync(m, r)
    before = stats(m)
    t = time.time()
    load = benchmark_load(m.port)
    for _ in range(3):
        time.sleep(0.5)
        r.client().client_kill_filter(_type="master")
    load.wait()
    check(
        f"partial resync after CLIENT KILL TYPE master x3 ({replica_kind} of {master_kind})",
        m,
        [r],
        t,
        expect=lambda: stats(m)[0] == before[0] and stats(m)[1] >= before[1] + 3,
    )
    for n in (m, r):
        n.close()


def partial_after_restart(master_kind, replica_kind):
    m = node(master_kind)
    r = node(replica_kind)
    r.client().replicaof("127.0.0.1", m.port)
    wait_in_sync(m, r)
    before = stats(m)
    t = time.time()
    load = benchmark_load(m.port)
    time.sleep(0.7)
    try:
        r.client().shutdown(save=True)
    except Exception:
        pass  # the connection closes as the server exits
    r.proc.wait()
    time.sleep(0.3)  # the master goes on taking writes while the replica is down
    r.extra += ["--replicaof", "127.0.0.1", str(m.port)]
    r.start()
    load.wait()
    check(
        f"partial resync after restarting the replica ({replica_kind} of {master_kind})",
        m,
        [r],
        t,
        expect=lambda: stats(m)[0] == before[0] and stats(m)[1] == before[1] + 1,
    )
    for n in (m, r):
        n.close()


def failover(master_kind, replica_kind):
    m, r = node(master_kind), node(replica_kind)
    r.client().replicaof("127.0.0.1", m.port)
    wait_in_sync(m, r)
    t = time.time()
    load = benchmark_load(m.port, requests=100_000_000)
    time.sleep(1.0)
    m.client().execute_command("FAILOVER", "TIMEOUT", "5000")
    wait_until("the roles to swap", lambda: r.info()["role"] == "master" and m.info()["role"] == "slave")
    stop(load)  # its clients now get -READONLY from the old master
    # Writes after the swap go to the new master and must reach the old one.
    load = benchmark_load(r.port, requests=300_000)
    load.wait()
    check(f"FAILOVER under load ({master_kind} master to {replica_kind} replica)", r, [m], t)
    for n in (m, r):
        n.close()


failures = 0
cases = [
    lambda: full_sync("redis", "cinnabar"),
    lambda: full_sync("cinnabar", "redis"),
    lambda: full_sync("cinnabar", "cinnabar"),
    chained,
    lambda: partial_after_link_kill("redis", "cinnabar"),
    lambda: partial_after_link_kill("cinnabar", "redis"),
    lambda: partial_after_link_kill("cinnabar", "cinnabar"),
    lambda: partial_after_restart("redis", "cinnabar"),
    lambda: partial_after_restart("cinnabar", "redis"),
    lambda: partial_after_restart("cinnabar", "cinnabar"),
    lambda: failover("cinnabar", "redis"),
    lambda: failover("redis", "cinnabar"),
    lambda: failover("cinnabar", "cinnabar"),
]
for case in cases:
    case()
print(f"{len(cases)} cases, {failures} failed")
sys.exit(1 if failures else 0)
