#!/bin/bash
# Write throughput of a master with one replica attached (the replication stream on), cinnabar
# and redis-server alternately: redis-benchmark at pipeline 16 against the master, three rounds,
# medians and the ratio (cinnabar / redis). Release build first.
#   bash benches/repl-throughput.sh [requests]
N=${1:-1000000}
ROUNDS=${ROUNDS:-3}
run() { # $1 = binary, $2 = base port; prints "test rps" lines
  local bin=$1 p=$2 d=$(mktemp -d)
  $bin --port $p --save "" --dir $d --dbfilename m.rdb --repl-diskless-sync-delay 0 --logfile $d/m.log --daemonize no & local M=$!
  $bin --port $((p+1)) --save "" --dir $d --dbfilename r.rdb --logfile $d/r.log --daemonize no --replicaof 127.0.0.1 $p & local R=$!
  sleep 0.5
  until redis-cli -p $((p+1)) info replication | grep -q "master_link_status:up"; do sleep 0.05; done
  redis-benchmark -p $p -P 16 -c 50 -n $N -r 100000 -t set,incr,lpush,hset -q --csv 2>/dev/null | tail -n +2 | tr -d '"' | cut -d, -f1,2
  # The replica must have kept up with all of it.
  local want=$(redis-cli -p $p info replication | grep master_repl_offset | tr -dc 0-9)
  until [ "$(redis-cli -p $((p+1)) info replication | grep slave_repl_offset | tr -dc 0-9)" -ge "$want" ]; do sleep 0.05; done
  kill $M $R; wait $M $R 2>/dev/null; rm -rf $d
}
ours=$(mktemp); theirs=$(mktemp)
for i in $(seq $ROUNDS); do
  run "$(dirname "$0")/../target/release/cinnabar" 7870 >> $ours
  run /usr/bin/redis-server 7880 >> $theirs
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf "%-8s %12s %12s %6s\n" test cinnabar redis ratio
for t in $(cut -d, -f1 $ours | sort -u); do
  a=$(grep "^$t," $ours | cut -d, -f2 | median); b=$(grep "^$t," $theirs | cut -d, -f2 | median)
  printf "%-8s %12.0f %12.0f %6.2f\n" $t $a $b $(echo "$a / $b" | bc -l)
done
rm -f $ours $theirs
