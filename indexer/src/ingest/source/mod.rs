//! The source stage: Kafka messages in, decoded record batches out, over a bounded channel
//! to the writer (the channel's capacity is the backpressure: when the writer falls behind,
//! the source blocks, librdkafka's prefetch queue fills up to its bound and fetching stops;
//! memory stays bounded however large the backlog).
//!
//! - `kafka`: the consumer thread ([`KafkaSource`]), the consumer-group mirror
//!   ([`GroupCommitter`]) and the log bounds a rebuild checks.
//! - `embedded`: librdkafka's mock cluster, in-process ([`EmbeddedKafka`]).
//! - `log_gap`: stored offsets the log no longer has, and `--on-log-gap` ([`LogGapPolicy`]).

mod embedded;
mod kafka;
mod log_gap;

pub use embedded::{EmbeddedError, EmbeddedKafka};
pub use kafka::{consumer_config, log_bounds, GroupCommitter, KafkaSource, LogBounds};
pub use log_gap::LogGapPolicy;
