#!/bin/bash
# Full sync of N keys (default 1,000,000): seconds from REPLICAOF to master_link_status:up on an
# empty replica, cinnabar and redis-server alternately, three rounds. Release build first.
N=${1:-1000000}
run() { # $1 = binary, $2 = base port
  local bin=$1 p=$2 d=$(mktemp -d)
  $bin --port $p --save "" --dir $d --repl-diskless-sync yes --repl-diskless-sync-delay 0 --enable-debug-command yes --logfile $d/m.log --daemonize no & local M=$!
  $bin --port $((p+1)) --save "" --dir $d --dbfilename r.rdb --logfile $d/r.log --daemonize no & local R=$!
  sleep 0.5
  redis-cli -p $p debug populate $N key 16 >/dev/null
  local t0=$(date +%s.%N)
  redis-cli -p $((p+1)) replicaof 127.0.0.1 $p >/dev/null
  until redis-cli -p $((p+1)) info replication | grep -q "master_link_status:up"; do sleep 0.01; done
  local t1=$(date +%s.%N)
  echo "$(basename $bin) $(echo "$t1 - $t0" | bc) s, replica dbsize $(redis-cli -p $((p+1)) dbsize)"
  kill $M $R; wait $M $R 2>/dev/null; rm -rf $d
}
for i in 1 2 3; do
  run "$(dirname "$0")/../target/release/cinnabar" 7850
  run /usr/bin/redis-server 7860
done
