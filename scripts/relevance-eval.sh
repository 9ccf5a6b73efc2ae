#!/usr/bin/env bash
# Relevance evaluation on the Home Depot judgments (../shared/data/homedepot_relevance.csv):
# condensed nDCG@10 and recall@100 of GET /search, next to plain BM25 on the same index.
# Usage: scripts/relevance-eval.sh [--split dev|test] [--csv PATH] [--indexer-arg FLAG ...]
# Tune on the dev split only; report the test split.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p indexer --bin indexer --example relevance_eval
exec target/release/examples/relevance_eval --indexer-bin target/release/indexer "$@"
