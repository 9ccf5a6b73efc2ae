#!/usr/bin/env bash
# Soak (issue #14): `indexer demo` (50,000 products on the embedded broker) with changes at
# twice the demo's rate (RATE, default 1000 events/s) and paced searches (SEARCH_RPS,
# default 50/s, wrk) for SECONDS (default 1800). Every SAMPLE seconds it prints the
# process's RSS, open files, the index's segment count, documents and lag; at the end, the
# search latency wrk measured and whether RSS, open files and segments stayed flat after
# the warm-up (the first WARMUP seconds, default 300).
# Usage: scripts/soak.sh [SECONDS] [RATE] [SEARCH_RPS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TOTAL=${1:-1800}
RATE=${2:-1000}
SEARCH_RPS=${3:-50}
SAMPLE=${SAMPLE:-60}
WARMUP=${WARMUP:-300}
PORT=${PORT:-18600}
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
cargo build --release -p indexer --bin indexer
BIN=target/release/indexer
DATA=$(mktemp -d)
OUT=$(mktemp)
SAMPLES=$(mktemp)
cleanup() { kill "$WRK" 2>/dev/null || true; kill "$IDX" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DATA" "$OUT" "$SAMPLES"; }
WRK=
trap cleanup EXIT
"$BIN" demo --rate "$RATE" --listen "127.0.0.1:$PORT" --data-dir "$DATA/data" >"$OUT" 2>"$DATA.log" &
IDX=$!
URL="http://127.0.0.1:$PORT"
until curl -sf "$URL/ready" >/dev/null; do
  kill -0 "$IDX" 2>/dev/null || { echo "soak: the demo exited" >&2; tail -20 "$DATA.log" >&2; exit 1; }
  sleep 1
done
echo "# soak: indexer demo --rate $RATE, $SEARCH_RPS searches/s, ${SECONDS_TOTAL}s, $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
wrk -t1 -c8 -d"${SECONDS_TOTAL}s" --latency -s scripts/bench/search-paced.lua "$URL" -- "$SEARCH_RPS" 8 >"$DATA/wrk.txt" 2>&1 &
WRK=$!
printf "%6s %9s %6s %9s %9s %8s %10s\n" t_s rss_mib files segments docs lag consumed
start=$(date +%s)
while :; do
  now=$(( $(date +%s) - start ))
  rss=$(awk '/VmRSS/{printf "%.0f", $2/1024}' "/proc/$IDX/status")
  files=$(ls "/proc/$IDX/fd" | wc -l)
  read -r segments docs lag consumed < <(curl -s "$URL/status" | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['index']['segments'], d['index']['docs'], d['kafka']['total_lag'], d['events']['consumed'])")
  printf "%6d %9d %6d %9d %9d %8d %10d\n" "$now" "$rss" "$files" "$segments" "$docs" "$lag" "$consumed" | tee -a "$SAMPLES"
  [ "$now" -ge "$SECONDS_TOTAL" ] && break
  sleep "$SAMPLE"
done
wait "$WRK" || true
WRK=
echo "# searches (wrk, paced $SEARCH_RPS/s over 8 connections):"
grep -E "Requests/sec|Non-2xx|Socket errors|^ +50%|^ +90%|^ +99%" "$DATA/wrk.txt" || cat "$DATA/wrk.txt"
python3 - "$SAMPLES" "$WARMUP" <<'PY'
import sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
warm = [r for r in rows if r[0] >= int(sys.argv[2])] or rows
def span(i):
    vals = [r[i] for r in warm]
    return min(vals), max(vals), vals[0], vals[-1]
for name, i in (("rss_mib", 1), ("open_files", 2), ("segments", 3)):
    lo, hi, first, last = span(i)
    print(f"# after warm-up: {name} min {lo} max {hi} first {first} last {last}")
events = warm[-1][6] - warm[0][6]
secs = max(1, warm[-1][0] - warm[0][0])
print(f"# after warm-up: {events} events in {secs} s = {events / secs:.0f} events/s; max lag {max(r[5] for r in warm)}")
PY
