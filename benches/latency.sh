#!/usr/bin/env bash
# Latency side by side at 50 clients (redis-benchmark's own measurements): p50, p99 and p99.9
# for SET, GET and LRANGE_100 at pipeline 1, then SET while BGSAVE runs back to back over a
# populated keyspace. cinnabar and redis-server are measured in turn, A B A B, and each figure
# is the median over the rounds.
#   benches/latency.sh [-n 200000] [-r 3] [--keys 1000000]
# p99.9 is the first percentile redis-benchmark prints at or above 99.9% (its histogram steps).
set -euo pipefail
requests=200000 rounds=3 keys=1000000
while (($#)); do
  case $1 in
    -n) requests=$2; shift 2 ;;
    -r) rounds=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    *) sed -n '2,7p' "$0"; exit 2 ;;
  esac
done
source "$(dirname "$0")/side-by-side.sh"
rport=$(free_port); oport=$(free_port)
mkdir -p "$work/r" "$work/o"
redis-server --port "$rport" --save '' --appendonly no --dir "$work/r" --enable-debug-command yes >/dev/null 2>&1 & pids+=($!)
"$ours" --port "$oport" --save '' --appendonly no --dir "$work/o" --enable-debug-command yes >/dev/null 2>&1 & pids+=($!)
wait_up "$rport"; wait_up "$oport"

# One run: prints "p50 p99 p99.9" in milliseconds.
percentiles() { # port benchmark-args...
  local port=$1; shift
  redis-benchmark -p "$port" -c 50 -r 1000000 "$@" 2>/dev/null | tr '\r' '\n' | awk '
    /^ *[0-9.]+% <=/ { p = $1; sub("%", "", p); if (p + 0 >= 99.9 && p999 == "") p999 = $3 }
    /latency summary/ { getline; getline; p50 = $3; p99 = $5 }
    END { print p50, p99, p999 }'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
row() { # label benchmark-args...
  local label=$1; shift
  for who in redis ours; do
    local port=$rport; [[ $who == ours ]] && port=$oport
    : >"$work/runs"
    for ((i = 0; i < rounds; i++)); do percentiles "$port" "$@" >>"$work/runs"; done
    for col in 1 2 3; do eval "${who}_$col=$(awk -v c=$col '{print $c}' "$work/runs" | median)"; done
  done
  printf '%-18s %8s %8s %8s   %8s %8s %8s\n' "$label" "$redis_1" "$redis_2" "$redis_3" "$ours_1" "$ours_2" "$ours_3"
}
printf '%-18s %26s   %26s\n' "" "redis-server (ms)" "cinnabar (ms)"
printf '%-18s %8s %8s %8s   %8s %8s %8s\n' test p50 p99 p99.9 p50 p99 p99.9
row SET -t set -n "$requests"
row GET -t get -n "$requests"
row LRANGE_100 -t lrange_100 -n "$((requests / 4))"
# SET during snapshots: BGSAVE again as soon as one ends, for the whole run.
for port in "$rport" "$oport"; do redis-cli -p "$port" debug populate "$keys" key 100 >/dev/null; done
saver() { while :; do redis-cli -p "$1" bgsave >/dev/null 2>&1; sleep 0.05; done; }
saver "$rport" & spid1=$!; saver "$oport" & spid2=$!; pids+=("$spid1" "$spid2")
row "SET during BGSAVE" -t set -n "$requests" -P 16
kill "$spid1" "$spid2" 2>/dev/null || true
