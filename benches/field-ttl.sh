#!/usr/bin/env bash
# Hash field TTLs at scale (issue 18's bar): HASHES hashes of FIELDS fields each, every field
# with a TTL spread over SPREAD_MS starting TTL_MS from now; reports memory per field with and
# without the TTLs (used_memory deltas, against the same data without TTLs) and how late the
# active expiry finishes after the last TTL. KIND=set does the same with set members
# (SADD, SPEXPIREAT ... MEMBERS).
#
#   benches/field-ttl.sh                # 10,000 hashes x 100 fields (1,000,000 fields)
#   HASHES=1000 FIELDS=50 benches/field-ttl.sh
#   KIND=set benches/field-ttl.sh       # 10,000 sets x 100 members
set -euo pipefail
cd "$(dirname "$0")/.."
HASHES="${HASHES:-10000}" FIELDS="${FIELDS:-100}" TTL_MS="${TTL_MS:-10000}" SPREAD_MS="${SPREAD_MS:-5000}"
PORT="${PORT:-7391}"
bin=target/release/cinnabar
[ -x "$bin" ] || cargo build --release
dir="$(mktemp -d)"
KIND="${KIND:-hash}"
"$bin" --port "$PORT" --save "" --dir "$dir" --hash-max-listpack-entries "${ENTRIES:-512}" \
  --set-max-listpack-entries "${ENTRIES:-128}" >"$dir/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
cli() { redis-cli -p "$PORT" "$@"; }
until cli ping >/dev/null 2>&1; do sleep 0.05; done
mem() { cli info memory | awk -F: '/^used_memory:/ {print $2+0}'; }

fields_list() { for ((f = 0; f < FIELDS; f++)); do printf ' field:%d' "$f"; done; }
hset_cmds() {
  local fl
  if [ "$KIND" = set ]; then
    fl="$(fields_list)"
    for ((h = 0; h < HASHES; h++)); do echo "SADD hash:$h$fl"; done
    return
  fi
  fl="$(for ((f = 0; f < FIELDS; f++)); do printf ' field:%d value:%d' "$f" "$f"; done)"
  for ((h = 0; h < HASHES; h++)); do echo "HSET hash:$h$fl"; done
}
base=$(mem)
hset_cmds | cli --pipe >/dev/null
plain=$(mem)
now=$(($(date +%s%N) / 1000000))
last=$((now + TTL_MS + ((HASHES - 1) * SPREAD_MS) / HASHES))
fl="$(fields_list)"
for ((h = 0; h < HASHES; h++)); do
  at=$((now + TTL_MS + (h * SPREAD_MS) / HASHES))
  if [ "$KIND" = set ]; then
    echo "SPEXPIREAT hash:$h $at MEMBERS $FIELDS$fl"
  else
    echo "HPEXPIREAT hash:$h $at FIELDS $FIELDS$fl"
  fi
done | cli --pipe >/dev/null
with_ttl=$(mem)
n=$((HASHES * FIELDS))
echo "$KIND items: $n in $HASHES keys ($(cli object encoding hash:0))"
echo "bytes/item without TTL: $(( (plain - base) / n ))   with TTL: $(( (with_ttl - base) / n ))   (+$(( (with_ttl - plain) / n )))"
while [ "$(cli dbsize)" != "0" ]; do sleep 0.05; done
done_ms=$(($(date +%s%N) / 1000000))
echo "all expired $((done_ms - last)) ms after the last TTL; expired_subkeys: $(cli info stats | awk -F: '/^expired_subkeys/ {print $2+0}')"
