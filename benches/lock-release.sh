#!/usr/bin/env bash
# Releasing a lock: the seeds' Lua script (GET, compare, DEL) on redis-server and cinnabar,
# against cinnabar's single commands for the same effect: DELEX lock IFEQ token (Redis 8.4),
# DELIFEQ lock token (Valkey 9) and SET lock token IFEQ token (a compare-and-set refresh).
# Each release is tried with another owner's token on a held lock, so every request runs the
# whole read-and-compare path and the lock stays held (redis-benchmark repeats one command).
# Prints requests per second for each, at pipeline 1 and 16 with 50 clients.
#   benches/lock-release.sh [requests=200000]
set -euo pipefail
n=${1:-200000}
source "$(dirname "$0")/side-by-side.sh"
rport=$(free_port) oport=$(free_port)
redis-server --port "$rport" --save "" --appendonly no --dir "$work" >/dev/null &
pids+=($!)
"$ours" --port "$oport" --save "" --appendonly no --dir "$work" >/dev/null &
pids+=($!)
wait_up "$rport" && wait_up "$oport"
script='if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end'
rps() { redis-benchmark -p "$1" -c 50 -n "$n" -P "$2" -q "${@:3}" 2>/dev/null | tr '\r' '\n' \
        | grep -o '[0-9.]* requests per second' | tail -1 | awk '{print int($1)}'; }
printf '%-40s %8s %10s %10s\n' release server P1 P16
for port in "$rport" "$oport"; do redis-cli -p "$port" set lock owner-a >/dev/null; done
row() { printf '%-40s %8s %10s %10s\n' "$1" "$2" "$(rps "$3" 1 "${@:4}")" "$(rps "$3" 16 "${@:4}")"; }
row "EVAL GET/compare/DEL" redis "$rport" eval "$script" 1 lock owner-b
row "EVAL GET/compare/DEL" cinnabar "$oport" eval "$script" 1 lock owner-b
row "DELEX lock IFEQ token" cinnabar "$oport" delex lock IFEQ owner-b
row "DELIFEQ lock token" cinnabar "$oport" delifeq lock owner-b
row "SET lock token IFEQ token" cinnabar "$oport" set lock owner-b IFEQ owner-b
[ "$(redis-cli -p "$oport" get lock)" = owner-a ] && [ "$(redis-cli -p "$rport" get lock)" = owner-a ]
echo "the lock is still held by owner-a on both servers"
