#!/usr/bin/env bash
# Reindex benchmark: rebuild PRODUCTS products (default 1M, one offer each: ~4 events per
# product) from the Kafka log, without and with concurrent query load, next to the raw
# consume ceiling of the same messages measured in the same run.
# Usage: scripts/bench-reindex.sh [PRODUCTS] [QUERY_CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
PRODUCTS=${1:-1000000}
CONC=${2:-4}
TOKEN=bench-token
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
cargo build --release -p indexer --bin indexer --example raw_consume
BIN=target/release/indexer
DATA=$(mktemp -d)
OUT=$(mktemp)
cleanup() { kill "$IDX" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DATA" "$OUT"; }
trap cleanup EXIT
# 64 partitions per topic: the embedded broker keeps ~5 MiB per partition. Large producer
# batches (linger) keep its per-fetch walk over the partition's batches short.
"$BIN" run --data-dir "$DATA" --listen 127.0.0.1:0 --embedded-partitions 64 --admin-token "$TOKEN" >"$OUT" 2>"$DATA.log" &
IDX=$!
until grep -q "indexer listening on" "$OUT"; do sleep 0.2; done
URL=$(grep -o "http://[0-9.:]*" "$OUT" | head -1)
BROKERS=$(grep -o "in-memory): [0-9.:]*" "$OUT" | awk '{print $NF}')
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
echo "# reindex benchmark: $PRODUCTS products, $(nproc) cores"
"$BIN" generate --brokers "$BROKERS" --products "$PRODUCTS" --max-offers 1 --rate 100000 --start-version 1 --kafka-property linger.ms=100 2>/dev/null
until [ "$(curl -s "$URL/status" | field "d['kafka']['total_lag']")" = "0" ]; do sleep 2; done
EVENTS=$(curl -s "$URL/status" | field "d['events']['consumed']")
echo "log: $EVENTS events; index: $(curl -s "$URL/status" | field "d['index']['docs']") products"
echo "ceiling: $(target/release/examples/raw_consume "$BROKERS" | grep RESULT)"
reindex() {
  local start end
  start=$(date +%s.%N)
  curl -s -X POST -H "Authorization: Bearer $TOKEN" "$URL/admin/reindex" >/dev/null
  local peak=0
  while true; do
    R=$(curl -s -H "Authorization: Bearer $TOKEN" "$URL/admin/reindex")
    S=$(echo "$R" | field "d['state']")
    P=$(echo "$R" | field "int(d['progress']['events_per_second'])")
    [ "$P" -gt "$peak" ] && peak=$P
    case "$S" in done|failed) break;; esac
    sleep 0.5
  done
  end=$(date +%s.%N)
  echo "$R" | field "'state %s, %d events replayed, error %s' % (d['state'], d['progress']['events_replayed'], d['error'])"
  python3 -c "print('rebuild time %.1f s, average %.0f events/s, peak %d events/s' % ($end - $start, $EVENTS / ($end - $start), $peak))"
}
echo "== reindex, no query load"
reindex
echo "== reindex with wrk -c$CONC searches"
wrk -t2 -c"$CONC" -d600s --latency -s scripts/bench/search.lua "$URL" > "$DATA.wrk" 2>&1 &
WRK=$!
reindex
kill -INT $WRK; wait $WRK 2>/dev/null || true
grep RESULT "$DATA.wrk" || tail -5 "$DATA.wrk"
echo "indexer peak RSS: $(grep VmHWM /proc/$IDX/status | awk '{printf "%.0f MiB", $2/1024}')"
