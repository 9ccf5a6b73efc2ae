#!/usr/bin/env bash
# Search benchmark: a catalog of PRODUCTS products (default 1M) on the embedded broker,
# changes streaming at STREAM_RATE events/s (default 5000) while wrk drives typical 1-3 word
# queries with facets at increasing concurrency. Prints QPS and latency percentiles per level,
# next to the HTTP ceiling (GET /health through the same server) of the same run.
# Usage: scripts/bench-search.sh [PRODUCTS] [STREAM_RATE] [SECONDS_PER_LEVEL]
set -euo pipefail
cd "$(dirname "$0")/.."
PRODUCTS=${1:-1000000}
STREAM_RATE=${2:-5000}
SECONDS_PER_LEVEL=${3:-20}
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
cargo build --release -p indexer --bin indexer
BIN=target/release/indexer
DATA=$(mktemp -d)
OUT=$(mktemp)
cleanup() { kill "$GEN" "$IDX" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DATA" "$OUT"; }
trap cleanup EXIT
# The embedded broker (librdkafka's mock) keeps about the last 5 MiB of each partition and
# finds a fetch offset by walking the partition's list of message batches: few partitions
# and large batches (producer linger) keep that walk short, as on a real broker.
"$BIN" run --data-dir "$DATA" --listen 127.0.0.1:0 --embedded-partitions 8 >"$OUT" 2>"$DATA.log" &
IDX=$!
GEN=
until grep -q "indexer listening on" "$OUT"; do sleep 0.2; done
URL=$(grep -o "http://[0-9.:]*" "$OUT" | head -1)
BROKERS=$(grep -o "in-memory): [0-9.:]*" "$OUT" | awk '{print $NF}')
echo "# search benchmark: $PRODUCTS products, $STREAM_RATE events/s streaming, $(nproc) cores"
status() { curl -s "$URL/status"; }
# fresh(d): freshness p99 over the last minute, indexed path / live path (price and stock
# shown in place), in ms.
field() { python3 -c "import json,sys
def fresh(d):
    f = lambda path: (d['freshness'][path]['source']['last_1m'] or {}).get('p99_ms')
    return '%s / %s' % (f('indexed'), f('live'))
d=json.load(sys.stdin); print($1)"; }
START=$(date +%s)
"$BIN" generate --brokers "$BROKERS" --products "$PRODUCTS" --rate 60000 --start-version 1 --kafka-property linger.ms=100 2>/dev/null
until [ "$(status | field "d['kafka']['total_lag']")" = "0" ]; do sleep 2; done
echo "catalog loaded and indexed in $(( $(date +%s) - START ))s: $(status | field "d['index']['docs']") products, $(status | field "d['index']['segments']") segments, indexer RSS $(ps -o rss= -p $IDX | awk '{printf "%.0f MiB", $1/1024}')"
"$BIN" generate --brokers "$BROKERS" --products "$PRODUCTS" --no-catalog --stream --rate "$STREAM_RATE" --start-version 1000000000000 --kafka-property linger.ms=100 2>/dev/null &
GEN=$!
sleep 60
echo "streaming $STREAM_RATE events/s, no searches: $(status | field "'lag %s, freshness p99 (1 min) indexed / live %s ms' % (d['kafka']['total_lag'], fresh(d))")"
H=${URL#http://}
# Paced: shoppers arriving at a set rate (think time between requests) rather than as fast
# as answers come back; the achieved rate is what the server sustained.
echo "| paced rate | achieved QPS | p50 ms | p90 ms | p99 ms | max ms | errors | ingestion lag after | freshness p99 (1 min) indexed / live |"
echo "|---|---|---|---|---|---|---|---|---|"
for R in 250 300 350; do
  S=$(wrk -t2 -c16 -d"${SECONDS_PER_LEVEL}s" --latency -s scripts/bench/search-paced.lua "http://$H" -- "$R" 16 | grep RESULT)
  get() { echo "$1" | tr ' ' '\n' | grep "^$2=" | cut -d= -f2; }
  L=$(status | field "'%s | %s ms' % (d['kafka']['total_lag'], fresh(d))")
  echo "| $R | $(get "$S" rps) | $(get "$S" p50_ms) | $(get "$S" p90_ms) | $(get "$S" p99_ms) | $(get "$S" max_ms) | $(( $(get "$S" errors) + $(get "$S" non2xx) )) | $L |"
done
# Let ingestion catch up and the 1-minute freshness window turn over before the sweep.
until [ "$(status | field "d['kafka']['total_lag'] < 20000")" = "True" ]; do sleep 2; done
sleep 60
echo
echo "| concurrency | search QPS | p50 ms | p90 ms | p99 ms | max ms | errors | /health QPS (ceiling) | /health p99 ms | ingestion lag after | freshness p99 (1 min) indexed / live |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for C in 1 2 4 8 16 32; do
  T=$(( C < 2 ? 1 : 2 ))
  S=$(wrk -t"$T" -c"$C" -d"${SECONDS_PER_LEVEL}s" --latency -s scripts/bench/search.lua "http://$H" | grep RESULT)
  K=$(wrk -t"$T" -c"$C" -d5s --latency -s scripts/bench/health.lua "http://$H/health" | grep RESULT)
  get() { echo "$1" | tr ' ' '\n' | grep "^$2=" | cut -d= -f2; }
  L=$(status | field "'%s | %s ms' % (d['kafka']['total_lag'], fresh(d))")
  echo "| $C | $(get "$S" rps) | $(get "$S" p50_ms) | $(get "$S" p90_ms) | $(get "$S" p99_ms) | $(get "$S" max_ms) | $(( $(get "$S" errors) + $(get "$S" non2xx) )) | $(get "$K" rps) | $(get "$K" p99_ms) | $L |"
done
echo "indexer RSS now $(ps -o rss= -p $IDX | awk '{printf "%.0f MiB", $1/1024}'), peak $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' /proc/$IDX/status)"
echo "during the run: $(status | field "'freshness p99 (1m) indexed / live %s ms, lag %s, docs %s, segments %s' % (fresh(d), d['kafka']['total_lag'], d['index']['docs'], d['index']['segments'])")"
