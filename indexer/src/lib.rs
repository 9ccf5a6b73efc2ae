//! The indexer: Kafka catalog events in, a fresh Tantivy product index out, and the service
//! around it.
//!
//! A tour, one folder per concern (each opens with its own tour and the folders it may use;
//! `scripts/check-layout.py` checks the rules in CI, and ARCHITECTURE.md draws the tree):
//! - `models`: the typed messages and values between stages (positions, record batches,
//!   topics per event kind, the commit payload).
//! - `ingest`: the pipeline, in order — source (Kafka, embedded broker), merge (the pure
//!   merge engine), writer (pending changes, state lookups, commit), dead letters, segment
//!   policy, and the supervisor that restarts and pauses it.
//! - `reindex`: rebuilding from the Kafka log — online with a zero-downtime swap
//!   (`indexer reindex`), and offline (`indexer rebuild`).
//! - `store`: the data directory — generations, `CURRENT`, the lock, and the one way to open
//!   the live index.
//! - `telemetry`: status, freshness percentiles, the SLO and every Prometheus metric: written
//!   by the stages, read by the HTTP side.
//! - `ops`: the dashboard's history and the freshness canary.
//! - `http`: the HTTP application — the query API's routes, operator and admin routes, the
//!   shopper page and the dashboard.
//! - `tools`: the catalog generator and the Kafka publisher (`indexer generate`); the
//!   service never imports them.
//! - [`cli`]: the command line, typed and validated, converted into the stages' settings.
//! - [`commands`]: the composition roots of the commands, called by the thin binary.
//! - `util`: the clock, a poison-tolerant lock, thread priority.
//!
//! What the benchmarks and tests use is re-exported here: the generator ([`generate`]),
//! the merge engine ([`merge`]), [`create_index`] and [`now_ms`].

pub mod cli;
pub mod commands;
mod http;
mod ingest;
mod models;
mod ops;
mod reindex;
mod store;
mod telemetry;
mod tools;
mod util;

pub use ingest::merge;
pub use store::create_index;
pub use tools::generate;
pub use util::now_ms;
