#!/usr/bin/env python3
"""Sentinel failover under load: three redis-sentinel processes monitor a master with two
replicas (cinnabar, or redis-server for comparison). redis-benchmark writes to the master
while a redis-py client, which finds the master through Sentinel, writes numbered keys and
counts one as acknowledged only when `WAIT 1` confirmed it. The master is SIGKILLed; the
script reports the time until Sentinel names the new master and until the client's writes
succeed again, checks that the other replica follows the new master, that every acknowledged
write is on the new master, that the datasets of the two survivors are equal key by key, and
that the old master, restarted, comes back as a replica with the same data.

  cargo build --release && python3 benches/sentinel-failover.py [cinnabar|redis|both] [rounds]
"""

import signal
import sys
import threading
import time

import redis
from redis.sentinel import Sentinel as SentinelClient

from repl_lib import Node, Sentinel, benchmark_load, compare, stop, wait_in_sync, wait_until


class AckedWriter(threading.Thread):
    """SET w:<n> <n> then WAIT 1 through redis-py's Sentinel client, forever until stopped."""

    def __init__(self, sentinel_ports):
        super().__init__(daemon=True)
        self.sentinel = SentinelClient(
            [("127.0.0.1", p) for p in sentinel_ports], socket_timeout=0.5
        )
        self.acked, self.unacked, self.errors = [], 0, 0
        self.last_ok = self.first_error = None
        self.halt = threading.Event()

    def run(self):
        master = self.sentinel.master_for("mymaster", socket_timeout=0.5)
        n = 0
        while not self.halt.is_set():
            n += 1
            try:
                master.set(f"w:{n}", n)
                if master.execute_command("WAIT", 1, 1000) >= 1:
                    self.acked.append(n)
                else:
                    self.unacked += 1
                self.last_ok = time.time()
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                self.errors += 1
                self.first_error = self.first_error or time.time()
                time.sleep(0.05)


def round_trip(kind, base):
    m = Node(kind, base)
    replicas = [Node(kind, base + i, "--replicaof", "127.0.0.1", str(base)) for i in (1, 2)]
    for r in replicas:
        wait_in_sync(m, r)
    sentinels = [Sentinel(base + 10 + i, m) for i in range(3)]
    try:
        wait_until(
            "the sentinels to know each other and both replicas",
            lambda: all(
                int(s.client().sentinel_master("mymaster")["num-other-sentinels"]) == 2
                and int(s.client().sentinel_master("mymaster")["num-slaves"]) == 2
                for s in sentinels
            ),
        )
        writer = AckedWriter([s.port for s in sentinels])
        writer.start()
        load = benchmark_load(m.port, requests=100_000_000, pipeline=1, clients=10)
        time.sleep(3)
        killed = time.time()
        m.kill(signal.SIGKILL)
        stop(load)

        def promoted():
            addr = sentinels[0].client().sentinel_get_master_addr_by_name("mymaster")
            return addr and int(addr[1]) != base

        wait_until("a new master", promoted, timeout=60)
        switched = time.time() - killed
        new_port = int(sentinels[0].client().sentinel_get_master_addr_by_name("mymaster")[1])
        new_master = next(r for r in replicas if r.port == new_port)
        other = next(r for r in replicas if r.port != new_port)
        wait_until("the client to write again", lambda: (writer.last_ok or 0) > killed + 0.01, 60)
        writes_again = writer.last_ok - killed
        wait_until(
            "the other replica to follow",
            lambda: int(other.info()["master_port"]) == new_port
            and other.info()["master_link_status"] == "up",
            60,
        )
        time.sleep(1)
        writer.halt.set()
        writer.join()
        c = new_master.client()
        present = c.mget([f"w:{n}" for n in writer.acked]) if writer.acked else []
        lost = sum(1 for n, v in zip(writer.acked, present) if v != str(n).encode())
        wait_in_sync(new_master, other)
        keys, diff = compare(new_master, other)
        # The old master comes back empty and Sentinel turns it into a replica of the new one.
        m.start()
        wait_until(
            "the old master to rejoin as a replica",
            lambda: m.info()["role"] == "slave" and int(m.info()["master_port"]) == new_port,
            60,
        )
        wait_in_sync(new_master, m)
        keys2, diff2 = compare(new_master, m)
        ok = lost == 0 and not diff and not diff2 and keys > 1000
        print(
            f"{'PASS' if ok else 'FAIL'} {kind:<8} sentinel switch {switched:5.2f} s, client writes again "
            f"{writes_again:5.2f} s, acked {len(writer.acked)} (WAIT 1), lost {lost}, "
            f"not acked {writer.unacked}, errors {writer.errors}; {keys} keys, "
            f"{len(diff)} differ on the other replica, {len(diff2)} on the rejoined old master",
            flush=True,
        )
        return ok
    finally:
        for s in sentinels:
            s.close()
        for n in [m] + replicas:
            n.close()


kinds = {"both": ["cinnabar", "redis"]}.get(sys.argv[1] if len(sys.argv) > 1 else "both")
kinds = kinds or [sys.argv[1]]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
ok = True
for i in range(rounds):
    for j, kind in enumerate(kinds):
        ok &= round_trip(kind, 8100 + 40 * (2 * i + j))
sys.exit(0 if ok else 1)
