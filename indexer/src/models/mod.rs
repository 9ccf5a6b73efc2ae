//! The typed messages and values that cross stages (quickwit's `models/`): where the
//! pipeline is in the log ([`Positions`]), what the source hands the writer
//! ([`RecordBatch`] of [`SourceRecord`]s), which topic holds which event kind ([`Topics`],
//! [`PerKind`]), what every index commit carries ([`CommitPayload`]) and why it happened
//! ([`CommitTrigger`]).
//!
//! Depends on `schemas` and `util` only: every other folder may use it.

mod payload;
mod positions;
mod records;
mod secret;
mod topics;
mod trigger;

pub use payload::{CommitPayload, PartitionOffset, PayloadError};
pub use positions::{Positions, RecordAt, TopicPartition};
pub use records::{InvalidRecord, PositionAdvance, RecordBatch, RecordBody, SourceRecord};
pub use secret::{KafkaProperties, Secret};
pub use topics::{PerKind, Topics};
pub use trigger::CommitTrigger;
