//! The source stage: Kafka messages in, decoded [`SourceRecord`] batches out, over a bounded
//! channel to the writer (the channel's capacity is the backpressure: when the writer falls
//! behind, the source blocks, librdkafka's prefetch queue fills up to its bound and fetching
//! stops; memory stays bounded however large the backlog).

pub mod embedded;
pub mod kafka;

use schemas::{Event, EventKind, InvalidEvent};

use crate::config::KafkaArgs;

/// The topic of each event kind, and the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Indexed by `EventKind as usize` order of [`EventKind::ALL`].
    pub events: [String; 4],
    pub dlq: String,
}

impl Topics {
    pub fn from_args(args: &KafkaArgs) -> Topics {
        Topics {
            events: args.event_topics().map(str::to_owned),
            dlq: args.topic_dlq.clone(),
        }
    }

    pub fn topic(&self, kind: EventKind) -> &str {
        &self.events[kind_index(kind)]
    }

    pub fn kind_of(&self, topic: &str) -> Option<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|&k| self.events[kind_index(k)] == topic)
    }

    /// Every topic the embedded broker creates.
    pub fn all(&self) -> Vec<&str> {
        self.events
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(self.dlq.as_str()))
            .collect()
    }
}

pub fn kind_index(kind: EventKind) -> usize {
    match kind {
        EventKind::Product => 0,
        EventKind::Offer => 1,
        EventKind::Price => 2,
        EventKind::Inventory => 3,
    }
}

/// A message that failed decoding, kept whole for the dead-letter topic.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidRecord {
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub error: InvalidEvent,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RecordBody {
    Event(Event),
    Invalid(Box<InvalidRecord>),
}

/// One consumed message, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    pub kind: EventKind,
    pub partition: i32,
    pub offset: i64,
    /// The Kafka message timestamp (producer create time or broker log-append time).
    pub kafka_ts_ms: Option<i64>,
    pub body: RecordBody,
}

/// What the source sends the writer.
pub type Batch = Vec<SourceRecord>;
