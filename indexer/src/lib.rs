//! The indexer: Kafka catalog events in, a fresh Tantivy product index out.
//!
//! A tour, in pipeline order:
//! - [`merge`]: the pure merge engine (events to per-product state to merged documents).

pub mod merge;
