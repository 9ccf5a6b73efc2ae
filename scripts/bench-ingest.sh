#!/usr/bin/env bash
# Ingestion benchmark: throughput, freshness, commit duration, segments and peak RSS of the
# indexer, next to the raw Kafka consume and raw Tantivy indexing ceilings of the same run.
# Usage: scripts/bench-ingest.sh [--products N] [--backlog N] [--rate EVENTS_PER_S]
#        [--stream-seconds S] [--partitions P] [--brokers host:port] [--mix mixed|prices]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p indexer --bin indexer --example bench_ingest
exec target/release/examples/bench_ingest --indexer-bin target/release/indexer "$@"
