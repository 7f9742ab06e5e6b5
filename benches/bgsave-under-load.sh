#!/usr/bin/env bash
# BGSAVE of a ~1 GB dataset while redis-benchmark writes (SET -P 16), cinnabar and redis-server
# in turn: p99 of the writes without and during the save, parent RSS before and at its peak,
# and the child's copy-on-write as INFO reports it.
#   benches/bgsave-under-load.sh [keys=4000000] [value-bytes=200]
set -euo pipefail
keys=${1:-4000000} size=${2:-200}
source "$(dirname "$0")/side-by-side.sh"
rss() { awk '/VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
p99() { redis-benchmark -p "$1" -t set -P 16 -n 3000000 -r "$keys" -d "$size" 2>/dev/null \
        | tr '\r' '\n' | grep -A2 "latency summary" | tail -1 | awk '{print $5}'; }
measure() {
  local name=$1 port=$2 pid=$3
  redis-cli -p "$port" debug populate "$keys" key "$size" >/dev/null
  local base; base=$(p99 "$port")
  local before; before=$(rss "$pid"); local peak=$before
  redis-cli -p "$port" bgsave >/dev/null
  p99 "$port" > "$work/during" & local bench=$!
  while kill -0 "$bench" 2>/dev/null; do
    local now; now=$(rss "$pid"); (( now > peak )) && peak=$now; sleep 0.02
  done
  while redis-cli -p "$port" info persistence | grep -q "rdb_bgsave_in_progress:1"; do sleep 0.2; done
  local cow; cow=$(redis-cli -p "$port" info persistence | tr -d '\r' | awk -F: '/rdb_last_cow_size/{print $2}')
  printf '%-9s p99 %s ms -> %s ms during BGSAVE; RSS %s kB -> peak %s kB; child CoW %s bytes\n' \
    "$name" "$base" "$(cat "$work/during")" "$before" "$peak" "$cow"
}
rport=$(free_port); oport=$(free_port)
mkdir -p "$work/r" "$work/o"
redis-server --port "$rport" --save '' --appendonly no --dir "$work/r" --enable-debug-command yes >/dev/null 2>&1 & pids+=($!); rpid=$!
"$ours" --port "$oport" --save '' --appendonly no --dir "$work/o" --enable-debug-command yes >/dev/null 2>&1 & pids+=($!); opid=$!
wait_up "$rport"; wait_up "$oport"
measure redis "$rport" "$rpid"
redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1 || true
measure cinnabar "$oport" "$opid"
