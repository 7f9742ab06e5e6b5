#!/usr/bin/env python3
"""The seeds' workloads through redis-py's RedisCluster, on a 3-master cinnabar cluster and
a 3-master redis-server cluster started side by side: a game leaderboard (sorted set),
sessions (hashes with a TTL), rate limits (INCR + EXPIRE in a cluster pipeline) and locks
released by the usual Lua compare-and-delete. Each workload checks its results (the
leaderboard's order, every session readable, counters exact, a lock never held twice) and
reports operations per second for both servers.

    pip install redis; benches/cluster_workloads.py [--seconds 5]
"""
import argparse, os, shutil, subprocess, sys, tempfile, time, uuid

from redis.cluster import RedisCluster

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CINNABAR = os.environ.get("CINNABAR", os.path.join(ROOT, "target/release/cinnabar"))
REDIS = os.environ.get("REDIS_SERVER", "redis-server")

RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
else
    return 0
end
"""


def start_cluster(binary, base, workdir):
    procs = []
    for i in range(3):
        d = os.path.join(workdir, str(base + i))
        os.makedirs(d)
        procs.append(subprocess.Popen(
            [binary, "--port", str(base + i), "--bind", "127.0.0.1", "--cluster-enabled",
             "yes", "--save", "", "--appendonly", "no", "--logfile", "log.txt"],
            cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for i in range(3):
        while subprocess.run(["redis-cli", "-p", str(base + i), "ping"],
                             capture_output=True).stdout.strip() != b"PONG":
            time.sleep(0.05)
    subprocess.run(["redis-cli", "--cluster-yes", "--cluster", "create"] +
                   [f"127.0.0.1:{base + i}" for i in range(3)], check=True,
                   capture_output=True)
    while b"cluster_state:ok" not in subprocess.run(
            ["redis-cli", "-p", str(base), "cluster", "info"], capture_output=True).stdout:
        time.sleep(0.1)
    return procs


def timed(seconds, step):
    n, end = 0, time.time() + seconds
    while time.time() < end:
        step(n)
        n += 1
    return n / seconds


def leaderboard(rc, seconds):
    rc.delete("{game}:scores")
    players = [f"player:{i}" for i in range(1000)]
    def step(n):
        rc.zincrby("{game}:scores", n % 7 + 1, players[n % len(players)])
        if n % 10 == 0:
            rc.zrevrange("{game}:scores", 0, 9, withscores=True)
            rc.zrevrank("{game}:scores", players[n % len(players)])
    rate = timed(seconds, step)
    top = rc.zrevrange("{game}:scores", 0, -1, withscores=True)
    assert all(top[i][1] >= top[i + 1][1] for i in range(len(top) - 1)), "order"
    return rate


def sessions(rc, seconds):
    ids = []
    def step(n):
        sid = f"session:{uuid.uuid4().hex}"
        rc.hset(sid, mapping={"user": n, "cart": "a,b,c", "ts": time.time()})
        rc.expire(sid, 1800)
        ids.append(sid)
        if n % 2:
            assert rc.hgetall(ids[n // 2])[b"user"] == str(n // 2).encode()
    rate = timed(seconds, step)
    assert all(rc.ttl(s) > 0 for s in ids[:100])
    return rate


def rate_limits(rc, seconds):
    users = [f"api:user:{i}" for i in range(500)]
    rc.delete(*users[:1]) if users else None
    for u in users:
        rc.delete(u)
    sent = {}
    def step(n):
        u = users[n % len(users)]
        pipe = rc.pipeline()
        pipe.incr(u)
        pipe.expire(u, 60)
        count, _ = pipe.execute()
        sent[u] = sent.get(u, 0) + 1
        assert count == sent[u], (u, count, sent[u])
    return timed(seconds, step)


def locks(rc, seconds):
    release = rc.register_script(RELEASE)
    held = set()
    def step(n):
        res = f"lock:res{n % 50}"
        token = uuid.uuid4().hex
        if rc.set(res, token, nx=True, px=30000):
            assert res not in held, "lock granted twice"
            held.add(res)
            assert release(keys=[res], args=[token]) == 1
            held.discard(res)
        # A stale token never releases someone else's lock.
        assert release(keys=[res], args=["not-the-owner"]) == 0
    return timed(seconds, step)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    a = ap.parse_args()
    work = tempfile.mkdtemp()
    procs = []
    try:
        procs += start_cluster(CINNABAR, 31001, os.path.join(work, "ours"))
        procs += start_cluster(REDIS, 31101, os.path.join(work, "redis"))
        clients = {"cinnabar": RedisCluster(host="127.0.0.1", port=31001),
                   "redis": RedisCluster(host="127.0.0.1", port=31101)}
        print(f"{'workload':<12} {'cinnabar ops/s':>15} {'redis ops/s':>12} {'ratio':>6}")
        for name, fn in [("leaderboard", leaderboard), ("sessions", sessions),
                         ("rate-limits", rate_limits), ("locks", locks)]:
            ours = fn(clients["cinnabar"], a.seconds)
            theirs = fn(clients["redis"], a.seconds)
            print(f"{name:<12} {ours:>15.0f} {theirs:>12.0f} {ours / theirs:>6.2f}")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
