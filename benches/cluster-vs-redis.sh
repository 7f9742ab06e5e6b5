#!/usr/bin/env bash
# Throughput of a 3-master cinnabar cluster against a 3-master redis-server cluster on the
# same machine, with `redis-benchmark --cluster`. Prints requests/s per test and the ratio
# (ours/redis, above 1 is faster), best of -r runs.
#   benches/cluster-vs-redis.sh [-n requests] [-c clients] [-P pipelines] [-r runs] [-t tests]
set -euo pipefail
N=200000; C=50; PIPES="1 16"; RUNS=3; TESTS="set,get,incr,lpush,hset"
while getopts "n:c:P:r:t:" o; do
  case $o in n) N=$OPTARG;; c) C=$OPTARG;; P) PIPES=${OPTARG//,/ };; r) RUNS=$OPTARG;; t) TESTS=$OPTARG;; *) exit 2;; esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OURS=${CINNABAR:-$ROOT/target/release/cinnabar}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
start_cluster() { # binary base_port
  local bin=$1 base=$2
  for i in 0 1 2; do
    local p=$((base + i)); mkdir -p "$WORK/$p"
    (cd "$WORK/$p" && exec "$bin" --port $p --bind 127.0.0.1 --cluster-enabled yes --save "" \
        --appendonly no --logfile log.txt >/dev/null 2>&1) &
    PIDS+=($!)
  done
  for i in 0 1 2; do
    until redis-cli -p $((base + i)) ping >/dev/null 2>&1; do sleep 0.05; done
  done
  redis-cli --cluster-yes --cluster create 127.0.0.1:$base 127.0.0.1:$((base+1)) \
      127.0.0.1:$((base+2)) >/dev/null
  until [ "$(redis-cli -p $base cluster info | tr -d '\r' | grep cluster_state)" = "cluster_state:ok" ]; do
    sleep 0.1
  done
}
best() { # port pipeline test
  local b=0
  for _ in $(seq "$RUNS"); do
    local v
    v=$(redis-benchmark --cluster -p "$1" -n "$N" -c "$C" -P "$2" -t "$3" --csv 2>/dev/null \
        | tail -1 | cut -d, -f2 | tr -d '"')
    b=$(python3 -c "print(max($b, ${v:-0}))")
  done
  echo "$b"
}
start_cluster "$OURS" 30001
start_cluster "${REDIS_SERVER:-redis-server}" 30101
printf "%-8s %3s %12s %12s %7s\n" test P cinnabar redis ratio
for P in $PIPES; do
  for t in ${TESTS//,/ }; do
    ours=$(best 30001 "$P" "$t"); theirs=$(best 30101 "$P" "$t")
    printf "%-8s %3s %12.0f %12.0f %7.2f\n" "$t" "$P" "$ours" "$theirs" \
        "$(python3 -c "print($ours / $theirs if $theirs else 0)")"
  done
done
