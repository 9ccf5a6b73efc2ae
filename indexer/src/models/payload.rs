//! What every index commit carries, as JSON in Tantivy's commit payload: the next offset of
//! every topic-partition the commit covers (see `ingest` for the protocol that makes this
//! exactly once).

use serde::{Deserialize, Serialize};

use super::positions::Positions;

/// One topic-partition's position in the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The next offset to consume.
    pub next_offset: i64,
}

impl PartitionOffset {
    /// `positions` as a list, in topic then partition order (the payload's and the reindex
    /// report's form).
    pub fn list(positions: &Positions) -> Vec<PartitionOffset> {
        positions
            .iter()
            .map(|(tp, next_offset)| PartitionOffset {
                topic: tp.topic.clone(),
                partition: tp.partition,
                next_offset,
            })
            .collect()
    }
}

/// Current payload format.
pub const PAYLOAD_FORMAT: u32 = 1;

/// What every index commit carries, as JSON in Tantivy's commit payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitPayload {
    /// The payload's format (this build writes and reads [`PAYLOAD_FORMAT`]).
    pub format: u32,
    /// [`schemas::SCHEMA_VERSION`] of the code that wrote the commit.
    pub schema_version: u32,
    /// The next offset of every topic-partition the commit covers.
    pub offsets: Vec<PartitionOffset>,
    /// When the commit was made, epoch ms.
    pub committed_at_ms: u64,
}

/// The payload of an existing index could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Not the JSON of a payload.
    #[error("commit payload is not valid JSON: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// A format this build does not read.
    #[error("commit payload has format {0}; this build reads format {PAYLOAD_FORMAT}")]
    UnknownFormat(u32),
}

impl CommitPayload {
    /// The payload of a commit covering `positions`, made at `committed_at_ms`.
    pub fn new(positions: &Positions, committed_at_ms: u64) -> CommitPayload {
        CommitPayload {
            format: PAYLOAD_FORMAT,
            schema_version: schemas::SCHEMA_VERSION,
            offsets: PartitionOffset::list(positions),
            committed_at_ms,
        }
    }

    /// The payload as Tantivy stores it.
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

    /// The positions the commit covers.
    pub fn positions(&self) -> Positions {
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
        let mut positions = Positions::new();
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
