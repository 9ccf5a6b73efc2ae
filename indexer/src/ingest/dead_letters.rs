//! The dead-letter topic: invalid events, with the original key, payload and headers, plus
//! headers saying where each came from and why it was rejected.
//!
//! Headers added (original headers are kept, before these):
//! `dlq.topic`, `dlq.partition`, `dlq.offset`, `dlq.timestamp` (source message, epoch ms),
//! `dlq.event.kind`, `dlq.error.code` (stable, e.g. `missing_field`), `dlq.error.field`
//! (when one field is at fault), `dlq.error.message`, and `dlq.payload.truncated` with
//! `dlq.payload.size` when a payload too large for the dead-letter topic was cut to its
//! first 64 KiB.
//!
//! Delivery is confirmed before the offsets of the rejected events are committed (see the
//! protocol in [`crate::ingest`]): an invalid event is never lost, but may be dead-lettered
//! twice after a crash.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use schemas::EventKind;

use crate::models::InvalidRecord;

/// Payloads larger than this are truncated for the dead-letter topic (brokers reject messages
/// over `message.max.bytes`, 1 MB by default).
const MAX_DLQ_PAYLOAD: usize = 900 * 1024;
/// What is kept of a truncated payload.
const TRUNCATED_PAYLOAD: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error("cannot create the dead-letter producer: {0}")]
    Create(KafkaError),
    #[error("dead-letter delivery interrupted by shutdown with {0} events unconfirmed")]
    Interrupted(usize),
}

/// One message for the dead-letter topic.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The topic the rejected event came from.
    pub source_topic: String,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl DeadLetter {
    pub fn new(
        topic: &str,
        partition: i32,
        offset: i64,
        timestamp_ms: Option<i64>,
        kind: EventKind,
        record: &InvalidRecord,
    ) -> DeadLetter {
        let mut headers: Vec<(String, Vec<u8>)> = record
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
            .collect();
        let mut add = |k: &str, v: String| headers.push((k.to_owned(), v.into_bytes()));
        add("dlq.topic", topic.to_owned());
        add("dlq.partition", partition.to_string());
        add("dlq.offset", offset.to_string());
        if let Some(ts) = timestamp_ms {
            add("dlq.timestamp", ts.to_string());
        }
        add("dlq.event.kind", kind.as_str().to_owned());
        add("dlq.error.code", record.error.code().to_owned());
        if let Some(field) = record.error.field_name() {
            add("dlq.error.field", field.to_owned());
        }
        add("dlq.error.message", record.error.to_string());
        let mut letter = DeadLetter {
            source_topic: topic.to_owned(),
            key: record.key.clone(),
            payload: record.payload.clone(),
            headers,
        };
        if letter
            .payload
            .as_ref()
            .is_some_and(|p| p.len() > MAX_DLQ_PAYLOAD)
        {
            letter.truncate();
        }
        letter
    }

    fn truncate(&mut self) {
        let Some(payload) = &mut self.payload else {
            return;
        };
        if self
            .headers
            .iter()
            .any(|(k, _)| k == "dlq.payload.truncated")
        {
            return;
        }
        let size = payload.len();
        payload.truncate(TRUNCATED_PAYLOAD);
        self.headers
            .push(("dlq.payload.truncated".to_owned(), b"true".to_vec()));
        self.headers
            .push(("dlq.payload.size".to_owned(), size.to_string().into_bytes()));
    }

    #[cfg(test)]
    fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// The dead-letter producer and the letters not yet confirmed.
pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
    pending: Vec<(DeadLetter, Option<DeliveryFuture>)>,
}

impl DeadLetters {
    pub fn new(
        brokers: &str,
        topic: &str,
        extra: &[(String, String)],
    ) -> Result<DeadLetters, DlqError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("client.id", "catalog-indexer-dlq")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "30000")
            .set("linger.ms", "5");
        for (k, v) in extra {
            config.set(k, v);
        }
        Ok(DeadLetters {
            producer: config.create().map_err(DlqError::Create)?,
            topic: topic.to_owned(),
            pending: Vec::new(),
        })
    }

    /// Queues a letter; delivery is confirmed by [`DeadLetters::confirm`].
    pub fn send(&mut self, letter: DeadLetter) {
        let delivery = self.enqueue(&letter);
        self.pending.push((letter, delivery));
    }

    fn enqueue(&self, letter: &DeadLetter) -> Option<DeliveryFuture> {
        let mut headers = OwnedHeaders::new_with_capacity(letter.headers.len());
        for (k, v) in &letter.headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(v),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.topic).headers(headers);
        if let Some(key) = &letter.key {
            record = record.key(key);
        }
        if let Some(payload) = &letter.payload {
            record = record.payload(payload);
        }
        match self.producer.send_result(record) {
            Ok(delivery) => Some(delivery),
            Err((e, _)) => {
                tracing::debug!(error = %e, "dead letter not queued yet; will retry");
                None
            }
        }
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Waits until every queued letter is acknowledged by the broker, resending failures
    /// with backoff. Returns how many were confirmed per source topic; fails only when
    /// `shutdown` is raised before all are confirmed (their offsets must then not be
    /// committed).
    pub fn confirm(&mut self, shutdown: &AtomicBool) -> Result<BTreeMap<String, u64>, DlqError> {
        let mut confirmed = BTreeMap::new();
        let mut backoff = Duration::from_millis(100);
        let mut attempt = 0u32;
        while !self.pending.is_empty() {
            let mut failed = Vec::new();
            for (mut letter, delivery) in std::mem::take(&mut self.pending) {
                let outcome = match delivery {
                    Some(d) => futures::executor::block_on(d).ok(),
                    None => None,
                };
                match outcome {
                    Some(Ok(_)) => *confirmed.entry(letter.source_topic).or_insert(0) += 1,
                    Some(Err((e, _))) => {
                        if e.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageSizeTooLarge) {
                            letter.truncate();
                        }
                        if attempt.is_multiple_of(10) {
                            tracing::warn!(error = %e, topic = %self.topic, attempt, "dead-letter delivery failed; retrying");
                        }
                        failed.push(letter);
                    }
                    None => failed.push(letter),
                }
            }
            if failed.is_empty() {
                break;
            }
            if shutdown.load(Ordering::Relaxed) {
                let n = failed.len();
                self.pending = failed.into_iter().map(|l| (l, None)).collect();
                return Err(DlqError::Interrupted(n));
            }
            attempt += 1;
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
            self.pending = failed
                .into_iter()
                .map(|l| {
                    let d = self.enqueue(&l);
                    (l, d)
                })
                .collect();
        }
        Ok(confirmed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::InvalidEvent;

    fn record(payload: Vec<u8>, error: InvalidEvent) -> InvalidRecord {
        InvalidRecord {
            key: Some(b"p1".to_vec()),
            payload: Some(payload),
            headers: vec![("trace-id".to_owned(), Some(b"abc".to_vec()))],
            error,
        }
    }

    #[test]
    fn headers_say_where_from_and_why() {
        let r = record(
            b"{}".to_vec(),
            InvalidEvent::Field {
                field: "product_id".into(),
                problem: schemas::FieldProblem::Missing,
            },
        );
        let letter = DeadLetter::new("catalog.prices", 3, 42, Some(7), EventKind::Price, &r);
        assert_eq!(letter.key.as_deref(), Some(&b"p1"[..]));
        assert_eq!(letter.payload.as_deref(), Some(&b"{}"[..]));
        assert_eq!(
            letter.header("trace-id"),
            Some("abc"),
            "original headers are kept"
        );
        assert_eq!(letter.header("dlq.topic"), Some("catalog.prices"));
        assert_eq!(letter.header("dlq.partition"), Some("3"));
        assert_eq!(letter.header("dlq.offset"), Some("42"));
        assert_eq!(letter.header("dlq.timestamp"), Some("7"));
        assert_eq!(letter.header("dlq.event.kind"), Some("price"));
        assert_eq!(letter.header("dlq.error.code"), Some("missing_field"));
        assert_eq!(letter.header("dlq.error.field"), Some("product_id"));
        assert_eq!(
            letter.header("dlq.error.message"),
            Some("field `product_id` is missing")
        );
        assert_eq!(letter.header("dlq.payload.truncated"), None);
    }

    #[test]
    fn oversized_payloads_are_truncated_and_marked() {
        let r = record(
            vec![b'x'; 2 * 1024 * 1024],
            InvalidEvent::TooLarge {
                size: 2 * 1024 * 1024,
                limit: 1024 * 1024,
            },
        );
        let letter = DeadLetter::new("t", 0, 0, None, EventKind::Product, &r);
        assert_eq!(
            letter.payload.as_ref().map(Vec::len),
            Some(TRUNCATED_PAYLOAD)
        );
        assert_eq!(letter.header("dlq.payload.truncated"), Some("true"));
        assert_eq!(letter.header("dlq.payload.size"), Some("2097152"));
        assert_eq!(letter.header("dlq.error.code"), Some("too_large"));
    }
}
