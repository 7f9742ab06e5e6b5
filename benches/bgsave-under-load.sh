#!/usr/bin/env bash
# BGSAVE of a populated dataset (default 4,000,000 keys of 1,000 bytes: about 4 GB) while
# redis-benchmark writes over the same keys (SET -P 16, 50 clients): redis-server, cinnabar
# with snapshot-mode fork and cinnabar with snapshot-mode live, one after the other.
# For each: the memory of the server and its children (the sum of their PSS, so pages a fork
# shares are counted once and pages it copies twice) before the save and at its peak, the
# save's duration, and the p99 of the writes without and during the save.
#   benches/bgsave-under-load.sh [keys=4000000] [value-bytes=1000]
set -euo pipefail
keys=${1:-4000000} size=${2:-1000}
source "$(dirname "$0")/side-by-side.sh"
# kB of PSS of a process and its children.
pss_tree() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
# p99 (ms) of `n` pipelined SETs over the keyspace.
p99() { redis-benchmark -p "$1" -c 50 -t set -P 16 -n "$2" -r "$keys" -d "$size" 2>/dev/null \
        | tr '\r' '\n' | grep -A2 "latency summary" | tail -1 | awk '{print $5}'; }
# The keys redis-benchmark's -r picks from ("key:" and 12 digits), so that the writes during
# the save overwrite keys that exist (a steady dataset), as SET values of `size` bytes.
populate() {
  python3 - "$keys" "$size" <<'PY' | redis-cli -p "$1" --pipe >/dev/null
import sys
keys, size = int(sys.argv[1]), int(sys.argv[2])
value = b"x" * size
out = sys.stdout.buffer
for start in range(0, keys, 10000):
    out.write(b"".join(
        b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$%d\r\n%s\r\n" % (i, size, value)
        for i in range(start, min(start + 10000, keys))))
PY
}
saving() { redis-cli -p "$1" info persistence | grep -q "rdb_bgsave_in_progress:1"; }
measure() { # name port pid
  local name=$1 port=$2 pid=$3
  populate "$port"
  local base; base=$(p99 "$port" 1000000)
  local before; before=$(pss_tree "$pid"); local peak=$before
  local start; start=$(date +%s.%N)
  redis-cli -p "$port" bgsave >/dev/null
  # Writes for as long as the save runs (in rounds, each with its own p99; the worst counts).
  (while saving "$port"; do p99 "$port" 300000; done) >"$work/during" & local load=$!
  while saving "$port"; do
    local now; now=$(pss_tree "$pid"); ((now > peak)) && peak=$now; sleep 0.05
  done
  local secs; secs=$(echo "$(date +%s.%N) - $start" | bc)
  wait "$load"
  local during; during=$(sort -n "$work/during" | tail -1)
  printf '%-16s %9d %9d %6.3f %8.1f %9s %9s\n' "$name" "$((before / 1024))" "$((peak / 1024))" \
    "$(echo "$peak / $before" | bc -l)" "$secs" "$base" "${during:--}"
}
printf '%-16s %9s %9s %6s %8s %9s %9s\n' server "MB before" "MB peak" ratio "save s" "p99 ms" "p99 save"
for who in redis fork live; do
  port=$(free_port); mkdir -p "$work/$who"
  if [[ $who == redis ]]; then
    redis-server --port "$port" --save '' --appendonly no --dir "$work/$who" --enable-debug-command yes >/dev/null 2>&1 & pid=$!
  else
    "$ours" --port "$port" --save '' --appendonly no --dir "$work/$who" --enable-debug-command yes \
      --snapshot-mode "$who" >/dev/null 2>&1 & pid=$!
  fi
  pids+=("$pid"); wait_up "$port"
  name=$who; [[ $who != redis ]] && name="cinnabar $who"
  measure "$name" "$port" "$pid"
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" 2>/dev/null || true
done
