#!/usr/bin/env bash
# PUBLISH throughput with N subscribers reading, cinnabar against redis-server side by side.
#   benches/publish-fanout.sh [subscribers=50] [requests=100000] [pipeline=1]
# Prints requests/s of each server and the ratio ours/redis (above 1 is faster).
set -euo pipefail
subs=${1:-50} requests=${2:-100000} pipe=${3:-1}
source "$(dirname "$0")/side-by-side.sh"
rport=$(free_port); oport=$(free_port)
redis-server --port "$rport" --save '' --appendonly no --dir "$work" >/dev/null 2>&1 & pids+=($!)
"$ours" --port "$oport" --save '' --appendonly no --dir "$work" >/dev/null 2>&1 & pids+=($!)
wait_up "$rport"; wait_up "$oport"
for port in "$rport" "$oport"; do
  for _ in $(seq "$subs"); do redis-cli -p "$port" subscribe fanout >/dev/null & pids+=($!); done
done
sleep 1
rate() { redis-benchmark -p "$1" -n "$requests" -c 50 -P "$pipe" --csv publish fanout hello-world 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"'; }
r=() o=()
for _ in 1 2 3; do r+=("$(rate "$rport")"); o+=("$(rate "$oport")"); done
python3 - "${r[@]}" "${o[@]}" <<'PY'
import sys, statistics
v = [float(x) for x in sys.argv[1:]]
r, o = statistics.median(v[:3]), statistics.median(v[3:])
print(f"PUBLISH to subscribers: redis {r:.0f} req/s, cinnabar {o:.0f} req/s, ratio {o/r:.2f}")
PY
