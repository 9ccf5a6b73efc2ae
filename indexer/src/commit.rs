//! The commit protocol: how documents, merge state and Kafka offsets become durable together.
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
//!    `prepare_commit`, sets the payload to [`CommitPayload`] (the next offset of every
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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Why a commit happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommitTrigger {
    /// `commit_interval` has passed and there are changes.
    Interval,
    /// The number of changed products reached `max_docs_per_commit`.
    DocBudget,
    /// The changed products' state reached `max_pending_mb`.
    MemoryBudget,
    /// The process is stopping (SIGTERM, Ctrl-C) or the pipeline is being handed over.
    Shutdown,
}

impl CommitTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            CommitTrigger::Interval => "interval",
            CommitTrigger::DocBudget => "doc_budget",
            CommitTrigger::MemoryBudget => "memory_budget",
            CommitTrigger::Shutdown => "shutdown",
        }
    }
}

/// One topic-partition's position in the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    /// The next offset to consume.
    pub next_offset: i64,
}

/// Current payload format.
const PAYLOAD_FORMAT: u32 = 1;

/// What every index commit carries, as JSON in Tantivy's commit payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitPayload {
    pub format: u32,
    /// [`schemas::SCHEMA_VERSION`] of the code that wrote the commit.
    pub schema_version: u32,
    pub offsets: Vec<PartitionOffset>,
    pub committed_at_ms: u64,
}

/// The payload of an existing index could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("commit payload is not valid JSON: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("commit payload has format {0}; this build reads format {PAYLOAD_FORMAT}")]
    UnknownFormat(u32),
}

impl CommitPayload {
    pub fn new(positions: &BTreeMap<(String, i32), i64>, committed_at_ms: u64) -> CommitPayload {
        CommitPayload {
            format: PAYLOAD_FORMAT,
            schema_version: schemas::SCHEMA_VERSION,
            offsets: positions
                .iter()
                .map(|((topic, partition), &next_offset)| PartitionOffset {
                    topic: topic.clone(),
                    partition: *partition,
                    next_offset,
                })
                .collect(),
            committed_at_ms,
        }
    }

    pub fn to_json(&self) -> String {
        // Plain strings and integers: cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the payload of a commit; `None` for an index that never committed one.
    pub fn parse(payload: Option<&str>) -> Result<Option<CommitPayload>, PayloadError> {
        let Some(text) = payload.filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        let payload: CommitPayload = serde_json::from_str(text)?;
        if payload.format != PAYLOAD_FORMAT {
            return Err(PayloadError::UnknownFormat(payload.format));
        }
        Ok(Some(payload))
    }

    pub fn positions(&self) -> BTreeMap<(String, i32), i64> {
        self.offsets
            .iter()
            .map(|o| ((o.topic.clone(), o.partition), o.next_offset))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips() {
        let mut positions = BTreeMap::new();
        positions.insert(("catalog.prices".to_owned(), 3), 42);
        positions.insert(("catalog.products".to_owned(), 0), 7);
        let p = CommitPayload::new(&positions, 99);
        let back = CommitPayload::parse(Some(&p.to_json())).unwrap().unwrap();
        assert_eq!(back, p);
        assert_eq!(back.positions(), positions);
    }

    #[test]
    fn missing_payload_means_a_new_index() {
        assert!(CommitPayload::parse(None).unwrap().is_none());
        assert!(CommitPayload::parse(Some("")).unwrap().is_none());
    }

    #[test]
    fn corrupt_or_future_payloads_are_errors() {
        assert!(matches!(
            CommitPayload::parse(Some("{not json")),
            Err(PayloadError::Corrupt(_))
        ));
        let future = r#"{"format":9,"schema_version":1,"offsets":[],"committed_at_ms":0}"#;
        assert!(matches!(
            CommitPayload::parse(Some(future)),
            Err(PayloadError::UnknownFormat(9))
        ));
    }
}
