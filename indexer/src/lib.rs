//! The indexer: Kafka catalog events in, a fresh Tantivy product index out.
//!
//! A tour, in pipeline order:
//! - [`source`]: the Kafka consumer thread (explicit assignment, decoding, batching,
//!   backpressure) and the embedded broker.
//! - [`merge`]: the pure merge engine (events to per-product state to merged documents).
//! - [`writer`]: applies events to states and commits changed products to Tantivy.
//! - [`commit`]: the commit protocol (offsets in the Tantivy commit payload: exactly once).
//! - [`dlq`]: the dead-letter topic for invalid events.
//! - [`pipeline`]: wires source and writer, restarts them after failures, pauses them for
//!   a reindex.
//! - [`reindex`]: blue/green rebuilds from the Kafka log and the zero-downtime swap.
//! - [`store`]: the data directory layout and index generations.
//! - [`status`], [`metrics`], [`freshness`], [`slo`], [`history`], [`canary`], [`http`]: what
//!   operators see (freshness percentiles, SLO, canaries, the dashboard's history).
//! - [`config`], [`run`]: the command line and the `run` command.
//! - [`generate`], [`publish`]: the catalog generator and `indexer generate`.
//! - [`demo`]: the default command, everything on one machine.

pub mod admin;
pub mod canary;
pub mod commit;
pub mod config;
pub mod demo;
pub mod dlq;
pub mod freshness;
pub mod generate;
pub mod history;
pub mod http;
pub mod merge;
pub mod metrics;
pub mod pipeline;
pub mod publish;
pub mod reindex;
pub mod run;
pub mod segment_policy;
pub mod slo;
pub mod source;
pub mod status;
pub mod store;
pub mod ui;
pub mod writer;
