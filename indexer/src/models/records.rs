//! What the source stage hands the writer: consumed messages, decoded.

use schemas::{Event, EventKind, InvalidEvent};

/// A message that failed decoding, kept whole for the dead-letter topic.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidRecord {
    /// The original key.
    pub key: Option<Vec<u8>>,
    /// The original payload.
    pub payload: Option<Vec<u8>>,
    /// The original headers.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Why it is invalid.
    pub error: InvalidEvent,
}

/// A consumed message's content: an event, or why it is not one.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordBody {
    /// A valid event.
    Event(Event),
    /// An invalid message, bound for the dead-letter topic.
    Invalid(Box<InvalidRecord>),
}

/// One consumed message, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    /// The kind of its topic.
    pub kind: EventKind,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// The Kafka message timestamp (producer create time or broker log-append time).
    pub kafka_ts_ms: Option<i64>,
    /// The event, or the invalid message.
    pub body: RecordBody,
}

/// The message between source and writer: consecutive records of the assigned partitions
/// (at most a few thousand, a few MiB), in the order they were consumed.
///
/// It may end with [`PositionAdvance`]s: offsets the consumer moved past that hold no
/// record (transaction markers, records of aborted transactions).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordBatch {
    records: Vec<SourceRecord>,
    advances: Vec<PositionAdvance>,
}

/// The consumer's position in a partition moved past offsets that carry no record: a
/// transactional producer's commit and abort markers take an offset each and are never
/// delivered, nor are an aborted transaction's records under `read_committed`. Without it, a
/// partition whose log ends with a marker would stay one offset behind forever (lag never 0,
/// a rebuild never done). Sent after every record before `next`, so committing `next` loses
/// nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionAdvance {
    /// The kind of its topic.
    pub kind: EventKind,
    /// Its partition.
    pub partition: i32,
    /// The next offset to fetch.
    pub next: i64,
}

impl RecordBatch {
    /// Adds a record.
    pub fn push(&mut self, record: SourceRecord) {
        self.records.push(record);
    }

    /// Adds a position advance (after the records it follows).
    pub fn advance(&mut self, advance: PositionAdvance) {
        self.advances.push(advance);
    }

    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the batch has neither record nor advance.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.advances.is_empty()
    }

    /// The records, then the advances that follow them.
    pub fn into_parts(self) -> (Vec<SourceRecord>, Vec<PositionAdvance>) {
        (self.records, self.advances)
    }
}

impl FromIterator<SourceRecord> for RecordBatch {
    fn from_iter<I: IntoIterator<Item = SourceRecord>>(iter: I) -> RecordBatch {
        RecordBatch {
            records: iter.into_iter().collect(),
            advances: Vec::new(),
        }
    }
}
