//! Ingestion: Kafka events in, a fresh Tantivy index out, exactly once. The stages, in
//! order, each in its own module:
//!
//! - `source`: the Kafka consumer thread (explicit assignment at the committed positions,
//!   decoding, batching, backpressure) and the embedded broker.
//! - `merge`: the pure merge engine (events to per-product state to merged documents).
//! - `writer`: applies events to states (pending changes, state lookups) and commits the
//!   changed products to Tantivy with the positions they cover.
//! - `dead_letters`: invalid events to the dead-letter topic, confirmed before their
//!   offsets are committed.
//! - `segment_policy`: the segment merge policy of an update-heavy index.
//! - `quarantine`: poison events (their processing panics) set aside after a few crashes.
//! - `pipeline`: wires source and writer into one run ([`Incarnation`]), restarts failed
//!   runs from the last commit ([`Pipeline::supervise`]) and pauses them for a reindex
//!   ([`Control`]).
//!
//! May use `models`, `store`, `telemetry` and `util`; never `cli`, `commands`, `http`,
//! `ops`, `reindex` or `tools` (checked by `scripts/check-layout.py`).
//!
//! # Exactly once into the index
//!
//! Kafka alone gives at-least-once delivery. The index gets exactly-once because the position
//! in the log is stored *inside* the index commit, atomically with what it produced:
//!
//! 1. The writer applies events to per-product merge states, remembering for every
//!    topic-partition the next offset after the last event it processed (valid, stale or
//!    invalid alike).
//! 2. At commit time it re-indexes every product changed since the last commit (each product
//!    once, however many events touched it: `delete_term(product_id)` + `add_document` with
//!    the rendered document *and* the merge state), waits until the dead-letter topic has
//!    acknowledged every invalid event of the interval, then calls Tantivy's
//!    `prepare_commit`, sets the payload to [`CommitPayload`](crate::models::CommitPayload) (the next offset of every
//!    topic-partition) and commits. Tantivy writes `meta.json` atomically (temp file and
//!    rename): after a crash the index holds either the previous commit or this one, never a
//!    mix.
//! 3. The reader is reloaded right after the commit returns: the changes are searchable.
//! 4. Only then are the same offsets committed to the Kafka consumer group, asynchronously,
//!    so standard lag tools see progress. Nothing reads them back: correctness never
//!    depends on them.
//!
//! On start, the consumer is assigned every partition at the offset in the payload of the
//! last commit (earliest for partitions the payload does not know). Events after that offset
//! are replayed; since merging is idempotent (versions), replaying an event whose effect was
//! already committed cannot happen, and replaying one whose effect was lost with the crash
//! restores it. The dead-letter topic is at-least-once: an invalid event may be dead-lettered
//! again after a crash.

pub mod dead_letters;
pub mod merge;
pub mod pipeline;
pub mod quarantine;
pub mod segment_policy;
pub mod source;
pub mod writer;

pub use pipeline::{
    Control, Incarnation, IndexingSettings, KafkaSettings, Pipeline, PipelineError,
    PipelineSettings, Role,
};
