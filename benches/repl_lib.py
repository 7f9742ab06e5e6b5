"""Shared pieces of the replication and Sentinel benches: start cinnabar or redis-server
nodes and redis-sentinel on loopback, drive redis-benchmark write load, and compare two
datasets key by key. Needs redis-py (`pip install redis`) and Debian's redis-server,
redis-tools and redis-sentinel."""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
BINARIES = {
    "cinnabar": os.environ.get(
        "CINNABAR", os.path.join(HERE, "..", "target", "release", "cinnabar")
    ),
    "redis": os.environ.get("REDIS_SERVER", "/usr/bin/redis-server"),
}


def wait_until(what, check, timeout=30.0, step=0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(step)
    raise TimeoutError(f"timed out waiting for {what}")


class Node:
    """One server process (cinnabar or redis-server) in its own directory."""

    def __init__(self, kind, port, *extra, host="127.0.0.1", keep_dir=None):
        self.kind, self.port, self.host = kind, port, host
        self.dir = keep_dir or tempfile.mkdtemp(prefix=f"{kind}-{port}-")
        self.extra = list(extra)
        self.proc = None
        self.start()

    def start(self):
        argv = [
            BINARIES[self.kind],
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", self.dir,
            "--save", "",
            "--appendonly", "no",
            "--logfile", os.path.join(self.dir, "server.log"),
            "--enable-debug-command", "yes",
            "--repl-diskless-sync-delay", "0",
        ] + self.extra
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(f"{self.kind}:{self.port} to answer", lambda: self.client().ping())

    def client(self, **kw):
        return redis.Redis(host=self.host, port=self.port, socket_timeout=10, **kw)

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait()

    def close(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def info(self, section="replication"):
        return self.client().info(section)

    def name(self):
        return f"{self.kind}:{self.port}"


class Sentinel:
    """A redis-sentinel process monitoring `master` as mymaster."""

    def __init__(self, port, master, quorum=2, down_after_ms=1000, failover_timeout_ms=5000):
        self.port = port
        self.dir = tempfile.mkdtemp(prefix=f"sentinel-{port}-")
        conf = os.path.join(self.dir, "sentinel.conf")
        with open(conf, "w") as f:
            f.write(
                f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
                f"logfile {self.dir}/sentinel.log\n"
                f"sentinel monitor mymaster {master.host} {master.port} {quorum}\n"
                f"sentinel down-after-milliseconds mymaster {down_after_ms}\n"
                f"sentinel failover-timeout mymaster {failover_timeout_ms}\n"
                "sentinel parallel-syncs mymaster 1\n"
            )
        self.proc = subprocess.Popen(
            ["redis-sentinel", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until("sentinel to answer", lambda: self.client().ping())

    def client(self):
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def repl_offset(node):
    return int(node.info()["master_repl_offset"])


def wait_in_sync(master, replica, timeout=60.0):
    """The replica's link is up and it has applied everything the master produced."""
    wait_until(
        f"{replica.name()} link to {master.name()}",
        lambda: replica.info().get("master_link_status") == "up",
        timeout,
    )
    target = repl_offset(master)
    wait_until(
        f"{replica.name()} to reach offset {target}",
        lambda: int(replica.info()["slave_repl_offset"]) >= target,
        timeout,
    )


def benchmark_load(port, requests=300_000, pipeline=16, clients=20, keyspace=100_000):
    """redis-benchmark writing strings, counters, lists, sets, hashes and sorted sets."""
    return subprocess.Popen(
        [
            "redis-benchmark", "-p", str(port), "-n", str(requests), "-P", str(pipeline),
            "-c", str(clients), "-r", str(keyspace), "-q",
            "-t", "set,incr,lpush,rpush,sadd,hset,zadd,lpop,spop",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def dataset(node):
    """Every key of every non-empty db, with its type, TTL presence and canonical value."""
    out = {}
    keyspace = node.info("keyspace")
    for db_name in keyspace:
        db = int(db_name[2:])
        c = node.client(db=db)
        keys = list(c.scan_iter(count=1000))
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            p = c.pipeline(transaction=False)
            for k in chunk:
                p.type(k)
                p.pttl(k)
            meta = p.execute()
            p = c.pipeline(transaction=False)
            for i, k in enumerate(chunk):
                kind = meta[2 * i]
                if kind == b"string":
                    p.get(k)
                elif kind == b"list":
                    p.lrange(k, 0, -1)
                elif kind == b"set":
                    p.smembers(k)
                elif kind == b"zset":
                    p.zrange(k, 0, -1, withscores=True)
                elif kind == b"hash":
                    p.hgetall(k)
                elif kind == b"stream":
                    p.xrange(k)
                else:
                    p.type(k)
            values = p.execute()
            for i, k in enumerate(chunk):
                value = values[i]
                if isinstance(value, (set, dict)):
                    value = sorted(value.items() if isinstance(value, dict) else value)
                out[(db, k)] = (meta[2 * i], meta[2 * i + 1] > 0, value)
    return out


def compare(a, b):
    """Key-by-key comparison; returns (keys, differences)."""
    da, db = dataset(a), dataset(b)
    diff = [k for k in set(da) | set(db) if da.get(k) != db.get(k)]
    return len(da), diff
