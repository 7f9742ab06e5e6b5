#!/usr/bin/env bash
# Throughput against client count and io-threads, cinnabar and redis-server side by side (each
# started with the same --io-threads N --io-threads-do-reads yes). Meant for machines with more
# cores than the CI's two: the benchmark client needs cores of its own (its --threads).
#   benches/io-threads-scaling.sh [-T 1,2,4] [-c 50,200,1000] [-t get,set] [-P 1] [-n 400000] [--bench-threads 2]
# Prints one row per (test, io-threads, clients): the median requests/s of each server over
# three runs and their ratio (ours/redis).
set -euo pipefail
threads=1,2,4 clients=50,200,1000 tests=get,set pipe=1 requests=400000 bthreads=2 rounds=3
while (($#)); do
  case $1 in
    -T) threads=$2; shift 2 ;;
    -c) clients=$2; shift 2 ;;
    -t) tests=$2; shift 2 ;;
    -P) pipe=$2; shift 2 ;;
    -n) requests=$2; shift 2 ;;
    -r) rounds=$2; shift 2 ;;
    --bench-threads) bthreads=$2; shift 2 ;;
    *) sed -n '2,7p' "$0"; exit 2 ;;
  esac
done
source "$(dirname "$0")/side-by-side.sh"
ulimit -n "$(ulimit -Hn)"
start() { # name io-threads: sets $port and $last_pid (server in the background)
  port=$(free_port); mkdir -p "$work/$1$2"
  local bin=redis-server; [[ $1 == ours ]] && bin=$ours
  "$bin" --port "$port" --save '' --appendonly no --dir "$work/$1$2" --maxclients 10000 \
    --io-threads "$2" --io-threads-do-reads yes >"$work/$1$2.log" 2>&1 & pids+=($!)
  last_pid=$!
  wait_up "$port" || { tail "$work/$1$2.log" >&2; exit 1; }
}
rps() { # port test clients
  redis-benchmark -p "$1" -t "$2" -c "$3" -P "$pipe" -n "$requests" -r 1000000 --threads "$bthreads" --csv 2>/dev/null \
    | tail -n +2 | head -1 | cut -d, -f2 | tr -d '"'
}
median() { tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-6s %10s %8s %14s %14s %7s\n' test io-threads clients "redis rps" "ours rps" ratio
IFS=, read -ra tlist <<<"$threads"; IFS=, read -ra clist <<<"$clients"; IFS=, read -ra testlist <<<"$tests"
for n in "${tlist[@]}"; do
  start redis "$n"; rport=$port rpid=$last_pid
  start ours "$n"; oport=$port opid=$last_pid
  for t in "${testlist[@]}"; do
    for c in "${clist[@]}"; do
      r=() o=()
      for ((i = 0; i < rounds; i++)); do r+=("$(rps "$rport" "$t" "$c")"); o+=("$(rps "$oport" "$t" "$c")"); done
      rm=$(echo "${r[*]}" | median); om=$(echo "${o[*]}" | median)
      printf '%-6s %10s %8s %14.0f %14.0f %7.2f\n' "$t" "$n" "$c" "$rm" "$om" "$(python3 -c "print($om/$rm)")"
    done
  done
  kill "$rpid" "$opid"; wait "$rpid" "$opid" 2>/dev/null || true
done
