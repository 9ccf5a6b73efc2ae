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
//! Delivery is at-least-once and never blocks the catalog (see the protocol in
//! [`crate::ingest`]): a commit waits briefly for the letters of its interval, and commits
//! every partition only up to its first letter not confirmed yet. Valid events keep being
//! indexed and committed while the dead-letter topic is missing, forbidden or unreachable
//! (letters wait in memory, retried with backoff; `indexer_dlq_pending` and `/status`
//! `dead_letters` show them and why); after a crash the events from that offset on are
//! re-read (merging by version makes the re-read harmless) and dead-lettered then. A
//! producer that failed fatally (fenced, out-of-order sequence) is recreated and its letters
//! resent. An invalid event may be dead-lettered twice, never lost.
//!
//! # A dead letter must never hold the catalog hostage
//!
//! A letter is built to fit: every header value is cut to 1 KiB and every header name to
//! 256 bytes (with a `…` marker), original headers beyond 16 KiB in all are dropped (counted
//! in `dlq.headers.dropped`), a key over 1 KiB is cut (`dlq.key.truncated`), and the payload
//! is cut to what fits under the producer's `message.max.bytes` (`--kafka-property
//! message.max.bytes=…`, 1,000,000 by default) with `dlq.payload.truncated`. A letter that
//! still cannot be delivered — its bounded headers alone are over the limit, or the broker
//! refuses it as too large or invalid once its payload is gone — is a permanent failure:
//! with `--dlq-failure skip` (the default) it is logged at ERROR with its source topic,
//! partition and offset, counted (`indexer_dlq_failures_total{reason}`, `/status`
//! `events.dlq_failed`) and skipped, so the events after it are committed; with
//! `--dlq-failure halt` the commit fails, nothing past the letter is committed, and the
//! pipeline restarts from the last commit with the reason in `/ready` and `/status`.
//! Other delivery errors (broker unreachable, queue full) are retried with backoff.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use futures::FutureExt;

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use schemas::EventKind;

use crate::models::{InvalidRecord, Positions, TopicPartition};
use crate::telemetry::{DlqFailureReason, DlqHealth, DlqTrouble};
use crate::util::now_ms;

/// Payloads larger than this are truncated for the dead-letter topic (brokers reject messages
/// over `message.max.bytes`, 1 MB by default).
const MAX_DLQ_PAYLOAD: usize = 900 * 1024;
/// What is kept of a truncated payload.
const TRUNCATED_PAYLOAD: usize = 64 * 1024;
/// Longest header value of a dead letter, before the `…` marker.
const MAX_HEADER_VALUE: usize = 1024;
/// Longest header name of a dead letter, before the `…` marker.
const MAX_HEADER_NAME: usize = 256;
/// Original headers kept, in bytes (names and values): the rest are dropped.
const MAX_ORIGINAL_HEADERS: usize = 16 * 1024;
/// Longest key of a dead letter, before the `…` marker.
const MAX_KEY: usize = 1024;
/// librdkafka's default `message.max.bytes`.
const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;
/// Room kept under the limit for the record's framing (lengths, varints, timestamps).
const FRAMING_BYTES: usize = 512;
/// The same, per header.
const FRAMING_PER_HEADER: usize = 10;
/// The marker of a cut value.
const CUT_MARKER: &str = "…";

/// What to do with a dead letter that cannot be delivered even cut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DlqFailure {
    /// Log it at ERROR, count it, and commit past it (the catalog keeps flowing).
    #[default]
    Skip,
    /// Fail the commit: ingestion stops at the letter and restarts from the last commit.
    Halt,
}

impl FromStr for DlqFailure {
    type Err = String;

    fn from_str(s: &str) -> Result<DlqFailure, String> {
        match s.trim() {
            "skip" => Ok(DlqFailure::Skip),
            "halt" => Ok(DlqFailure::Halt),
            other => Err(format!("expected skip or halt, got {other:?}")),
        }
    }
}

/// Why dead-letter delivery stopped the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// librdkafka refused the producer.
    #[error("cannot create the dead-letter producer: {0}")]
    Create(KafkaError),
    /// A letter cannot be delivered and the policy is `halt`.
    #[error("the dead letter of {topic} partition {partition} offset {offset} cannot be delivered to the dead-letter topic ({reason}: {detail}); ingestion halts there (--dlq-failure halt)")]
    Undeliverable {
        /// The source topic.
        topic: String,
        /// The source partition.
        partition: i32,
        /// The source offset.
        offset: i64,
        /// The failure's kind.
        reason: DlqFailureReason,
        /// The producer's or broker's error.
        detail: String,
    },
}

/// One message for the dead-letter topic.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The topic the rejected event came from.
    pub source_topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// The key (cut to 1 KiB).
    pub key: Option<Vec<u8>>,
    /// The payload (cut to fit).
    pub payload: Option<Vec<u8>>,
    /// The original headers, then the `dlq.*` ones, every name and value bounded.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// `bytes`, cut to at most `max` bytes plus the marker (at a character boundary when it is
/// text).
fn bounded(bytes: &[u8], max: usize) -> Vec<u8> {
    if bytes.len() <= max {
        return bytes.to_vec();
    }
    let mut end = max;
    if let Ok(text) = std::str::from_utf8(bytes) {
        while !text.is_char_boundary(end) {
            end -= 1;
        }
    }
    let mut out = bytes[..end].to_vec();
    out.extend_from_slice(CUT_MARKER.as_bytes());
    out
}

fn bounded_name(name: &str) -> String {
    String::from_utf8_lossy(&bounded(name.as_bytes(), MAX_HEADER_NAME)).into_owned()
}

impl DeadLetter {
    /// The dead letter of the invalid record at `topic`/`partition`/`offset`.
    pub fn new(
        topic: &str,
        partition: i32,
        offset: i64,
        timestamp_ms: Option<i64>,
        kind: EventKind,
        record: &InvalidRecord,
    ) -> DeadLetter {
        let mut headers = Vec::with_capacity(record.headers.len() + 10);
        let mut kept = 0;
        let mut dropped = 0usize;
        for (k, v) in &record.headers {
            let header = (
                bounded_name(k),
                bounded(v.as_deref().unwrap_or_default(), MAX_HEADER_VALUE),
            );
            kept += header.0.len() + header.1.len();
            if kept > MAX_ORIGINAL_HEADERS {
                dropped += 1;
            } else {
                headers.push(header);
            }
        }
        let mut add = |k: &str, v: String| {
            headers.push((k.to_owned(), bounded(v.as_bytes(), MAX_HEADER_VALUE)));
        };
        if dropped > 0 {
            add("dlq.headers.dropped", dropped.to_string());
        }
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
        if record.key.as_ref().is_some_and(|k| k.len() > MAX_KEY) {
            add("dlq.key.truncated", "true".to_owned());
        }
        let mut letter = DeadLetter {
            source_topic: topic.to_owned(),
            partition,
            offset,
            key: record.key.as_deref().map(|k| bounded(k, MAX_KEY)),
            payload: record.payload.clone(),
            headers,
        };
        if letter
            .payload
            .as_ref()
            .is_some_and(|p| p.len() > MAX_DLQ_PAYLOAD)
        {
            letter.truncate_payload(TRUNCATED_PAYLOAD);
        }
        letter
    }

    /// Cuts the payload to its first `keep` bytes, marked (the original size is recorded
    /// once, at the first cut).
    fn truncate_payload(&mut self, keep: usize) {
        let Some(payload) = &mut self.payload else {
            return;
        };
        if payload.len() <= keep {
            return;
        }
        let size = payload.len();
        payload.truncate(keep);
        if !self
            .headers
            .iter()
            .any(|(k, _)| k == "dlq.payload.truncated")
        {
            self.headers
                .push(("dlq.payload.truncated".to_owned(), b"true".to_vec()));
            self.headers
                .push(("dlq.payload.size".to_owned(), size.to_string().into_bytes()));
        }
    }

    /// Bytes the letter takes against `message.max.bytes`, framing included (a bound from
    /// above of librdkafka's own estimate).
    fn wire_size(&self) -> usize {
        FRAMING_BYTES
            + self.key.as_ref().map_or(0, Vec::len)
            + self.payload.as_ref().map_or(0, Vec::len)
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len() + FRAMING_PER_HEADER)
                .sum::<usize>()
    }

    /// Cuts the payload so that the letter fits `limit` bytes; `false` when it cannot fit
    /// even without a payload.
    fn fit(&mut self, limit: usize) -> bool {
        let size = self.wire_size();
        if size <= limit {
            return true;
        }
        let payload = self.payload.as_ref().map_or(0, Vec::len);
        // The marker headers the cut adds take room too.
        let marks = 2 * FRAMING_PER_HEADER + "dlq.payload.truncated".len() + 4 + 32;
        let others = size - payload + marks;
        if others > limit {
            return false;
        }
        self.truncate_payload(limit - others);
        self.wire_size() <= limit
    }

    /// After the broker refused the letter as too large: a smaller payload, if there is one
    /// to cut (first to 64 KiB, then to nothing).
    fn shrink(&mut self) -> bool {
        match self.payload.as_ref().map(Vec::len) {
            Some(n) if n > TRUNCATED_PAYLOAD => self.truncate_payload(TRUNCATED_PAYLOAD),
            Some(n) if n > 0 => self.truncate_payload(0),
            _ => return false,
        }
        true
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

/// Where a letter's delivery stands.
enum Delivery {
    /// Queued in the producer; the future says how it went.
    Queued(DeliveryFuture),
    /// To be queued (again) once this time has come: a transient failure, or the queue
    /// was full.
    Retry(Instant),
    /// Refused for good as it is (too large, invalid).
    Refused(KafkaError),
}

/// A letter not settled yet.
struct Outstanding {
    letter: DeadLetter,
    delivery: Delivery,
}

/// Whether an error is about the letter itself (it will fail the same way again), and
/// how.
fn permanent(e: &KafkaError) -> Option<DlqFailureReason> {
    match e.rdkafka_error_code()? {
        RDKafkaErrorCode::MessageSizeTooLarge
        | RDKafkaErrorCode::MessageBatchTooLarge
        | RDKafkaErrorCode::InvalidMessageSize => Some(DlqFailureReason::too_large),
        RDKafkaErrorCode::InvalidRecord => Some(DlqFailureReason::rejected),
        _ => None,
    }
}

/// A letter given up on (`--dlq-failure skip`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedLetter {
    /// The topic its event came from.
    pub source_topic: String,
    /// Why it could not be delivered.
    pub reason: DlqFailureReason,
}

/// What [`DeadLetters::settle`] settled.
#[derive(Debug, Default)]
pub struct Confirmed {
    /// Letters acknowledged by the broker, per source topic.
    pub delivered: BTreeMap<String, u64>,
    /// Letters given up on.
    pub failed: Vec<FailedLetter>,
}

impl Confirmed {
    /// Letters settled, delivered or given up on.
    pub fn len(&self) -> usize {
        self.delivered.values().sum::<u64>() as usize + self.failed.len()
    }

    /// Whether nothing was settled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds what `other` settled.
    pub fn absorb(&mut self, other: Confirmed) {
        for (topic, n) in other.delivered {
            *self.delivered.entry(topic).or_insert(0) += n;
        }
        self.failed.extend(other.failed);
    }
}

fn trouble_message(code: Option<RDKafkaErrorCode>) -> &'static str {
    match code {
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            "the dead-letter topic does not exist; create it (letters wait, valid events flow)"
        }
        Some(
            RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::SaslAuthenticationFailed,
        ) => "the indexer may not write the dead-letter topic; grant it (letters wait, valid events flow)",
        Some(RDKafkaErrorCode::Fatal) => {
            "the dead-letter producer failed fatally and was recreated"
        }
        _ => "dead-letter delivery is failing and retried with backoff (letters wait, valid events flow)",
    }
}

/// The dead-letter producer and the letters not yet confirmed.
pub struct DeadLetters {
    config: ClientConfig,
    producer: FutureProducer,
    topic: String,
    max_message_bytes: usize,
    failure: DlqFailure,
    pending: Vec<Outstanding>,
    /// The wait before the next retry of a transient failure (doubles, reset by a delivery).
    backoff: Duration,
    /// Failures in a row, to keep the log quiet.
    failures: u64,
    /// Letters were still unacknowledged when the last settle gave up waiting.
    stalled: bool,
    health: DlqHealth,
}

/// First wait before a retry.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait before a retry.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl DeadLetters {
    /// A producer of `topic` on `brokers`; `extra` are the librdkafka properties of every
    /// client (its `message.max.bytes` is the size letters are cut to).
    pub fn new(
        brokers: &str,
        topic: &str,
        extra: &[(String, String)],
        failure: DlqFailure,
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
        let max_message_bytes = extra
            .iter()
            .rev()
            .find(|(k, _)| k == "message.max.bytes")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES);
        Ok(DeadLetters {
            producer: config.create().map_err(DlqError::Create)?,
            config,
            topic: topic.to_owned(),
            max_message_bytes,
            failure,
            pending: Vec::new(),
            backoff: FIRST_BACKOFF,
            failures: 0,
            stalled: false,
            health: DlqHealth::default(),
        })
    }

    /// Queues a letter, cut to fit; delivery is settled by [`DeadLetters::settle`].
    pub fn send(&mut self, mut letter: DeadLetter) {
        let delivery = if letter.fit(self.max_message_bytes) {
            self.enqueue(&letter)
        } else {
            Delivery::Refused(KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageSizeTooLarge,
            ))
        };
        self.pending.push(Outstanding { letter, delivery });
        self.health.pending = self.pending.len() as u64;
    }

    /// Hands a letter to the producer. A refusal on the spot that is not about the letter
    /// (queue full, topic known to be missing or forbidden) is trouble like a failed
    /// delivery: shown in the health and retried with backoff.
    fn enqueue(&mut self, letter: &DeadLetter) -> Delivery {
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
            Ok(delivery) => Delivery::Queued(delivery),
            Err((e, _)) if permanent(&e).is_some() => Delivery::Refused(e),
            Err((e, _)) => {
                tracing::debug!(error = %e, "dead letter not queued yet; will retry");
                self.transient(&e);
                Delivery::Retry(Instant::now() + self.backoff)
            }
        }
    }

    /// Letters sent and not settled yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Whether deliveries are failing or slow (then a commit does not wait for them).
    pub fn degraded(&self) -> bool {
        self.stalled || self.health.error.is_some()
    }

    /// Where delivery stands, for `/status` and `/metrics`.
    pub fn health(&self) -> DlqHealth {
        self.health.clone()
    }

    /// The offset of the first unsettled letter of every source partition that has one:
    /// no commit may pass it (the event is re-read after a crash, and dead-lettered then).
    pub fn floors(&self) -> Positions {
        let mut floors = Positions::new();
        for o in &self.pending {
            let tp = TopicPartition::new(o.letter.source_topic.as_str(), o.letter.partition);
            let offset = floors
                .get(&tp)
                .map_or(o.letter.offset, |f| f.min(o.letter.offset));
            floors.insert(tp, offset);
        }
        floors
    }

    /// Settles what it can within `wait`: acknowledged letters are confirmed, letters
    /// refused as too large are cut and resent, undeliverable ones are given up on (or fail
    /// under `--dlq-failure halt`), transient failures are retried with backoff, and a
    /// producer that failed fatally is recreated. Never waits longer than `wait` (zero:
    /// only collects what is already settled). Letters not settled stay pending for the
    /// next call.
    pub fn settle(&mut self, wait: Duration) -> Result<Confirmed, DlqError> {
        let deadline = Instant::now() + wait;
        let mut confirmed = Confirmed::default();
        if self.producer.client().fatal_error().is_some() {
            self.recreate()?;
        }
        loop {
            self.requeue_due();
            let in_flight = self
                .pending
                .iter()
                .any(|o| matches!(o.delivery, Delivery::Queued(_)));
            if in_flight {
                let left = deadline.saturating_duration_since(Instant::now());
                // Returns as soon as the queue is empty (every letter acknowledged or
                // failed); a timeout only means some are still in flight.
                let _ = self.producer.flush(Timeout::After(left));
            }
            let resend = self.collect(&mut confirmed)?;
            self.health.pending = self.pending.len() as u64;
            if self.pending.is_empty() {
                self.stalled = false;
                return Ok(confirmed);
            }
            if !resend && Instant::now() >= deadline {
                self.stall();
                return Ok(confirmed);
            }
            if !resend {
                // Only retries waiting for their time are left: wait for the first (within
                // the deadline).
                let next = self
                    .pending
                    .iter()
                    .filter_map(|o| match o.delivery {
                        Delivery::Retry(at) => Some(at),
                        _ => None,
                    })
                    .min();
                let until = next.map_or(deadline, |at| at.min(deadline));
                std::thread::sleep(
                    until
                        .saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(50)),
                );
            }
        }
    }

    /// Queues again the letters whose retry time has come.
    fn requeue_due(&mut self) {
        let now = Instant::now();
        let mut pending = std::mem::take(&mut self.pending);
        for o in &mut pending {
            if matches!(o.delivery, Delivery::Retry(at) if at <= now) {
                o.delivery = self.enqueue(&o.letter);
            }
        }
        self.pending = pending;
    }

    /// Takes the outcome of every settled letter; returns whether some were queued again
    /// right away (cut down, or on a recreated producer).
    fn collect(&mut self, confirmed: &mut Confirmed) -> Result<bool, DlqError> {
        let mut resend = false;
        let mut fatal = false;
        let mut kept = Vec::with_capacity(self.pending.len());
        for mut o in std::mem::take(&mut self.pending) {
            let error = match &mut o.delivery {
                Delivery::Queued(future) => match future.now_or_never() {
                    None => {
                        kept.push(o);
                        continue;
                    }
                    Some(Ok(Ok(_))) => {
                        *confirmed
                            .delivered
                            .entry(o.letter.source_topic.clone())
                            .or_insert(0) += 1;
                        self.delivered();
                        continue;
                    }
                    Some(Ok(Err((e, _)))) => e,
                    // The producer dropped it (recreated): send it again.
                    Some(Err(_)) => KafkaError::Canceled,
                },
                Delivery::Retry(_) => {
                    kept.push(o);
                    continue;
                }
                Delivery::Refused(e) => e.clone(),
            };
            match permanent(&error) {
                Some(DlqFailureReason::too_large) if o.letter.shrink() => {
                    o.delivery = self.enqueue(&o.letter);
                    resend = true;
                    kept.push(o);
                }
                Some(reason) => {
                    // Kept pending when the policy halts: nothing past it is committed.
                    if let Err(e) = self.give_up(&o.letter, reason, &error) {
                        kept.push(o);
                        self.pending = kept;
                        return Err(e);
                    }
                    confirmed.failed.push(FailedLetter {
                        source_topic: o.letter.source_topic.clone(),
                        reason,
                    });
                }
                None => {
                    fatal |= error.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal)
                        || self.producer.client().fatal_error().is_some();
                    self.transient(&error);
                    o.delivery = Delivery::Retry(Instant::now() + self.backoff);
                    kept.push(o);
                }
            }
        }
        self.pending = kept;
        if fatal {
            self.recreate()?;
            resend = true;
        }
        Ok(resend)
    }

    fn delivered(&mut self) {
        self.stalled = false;
        self.backoff = FIRST_BACKOFF;
        self.failures = 0;
        if let Some(trouble) = self.health.error.take() {
            tracing::info!(code = %trouble.code, "dead-letter delivery recovered");
        }
    }

    /// Letters are still in flight past the wait: no error yet, but not acknowledged
    /// either (a missing topic waits for its metadata, an unreachable broker for its
    /// connection).
    fn stall(&mut self) {
        self.stalled = true;
        let in_flight = self
            .pending
            .iter()
            .any(|o| matches!(o.delivery, Delivery::Queued(_)));
        if in_flight && self.health.error.is_none() {
            self.health.error = Some(DlqTrouble {
                code: "NotAcknowledged".to_owned(),
                message: "letters are not acknowledged by the dead-letter topic yet (missing topic, slow or unreachable broker); they wait, valid events flow",
                since_ms: now_ms(),
            });
        }
    }

    fn transient(&mut self, error: &KafkaError) {
        let code = error.rdkafka_error_code();
        let name = code.map_or_else(|| "Unknown".to_owned(), |c| format!("{c:?}"));
        if self.failures.is_multiple_of(20) {
            tracing::warn!(error = %error, code = %name, topic = %self.topic, pending = self.pending.len() + 1, failures = self.failures, "dead-letter delivery failed; retrying with backoff while valid events keep flowing");
        }
        self.failures += 1;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        if self.health.error.as_ref().is_none_or(|t| t.code != name) {
            self.health.error = Some(DlqTrouble {
                code: name,
                message: trouble_message(code),
                since_ms: now_ms(),
            });
        }
    }

    /// A producer failed fatally can send nothing again: a new one replaces it.
    fn recreate(&mut self) -> Result<(), DlqError> {
        let reason = self.producer.client().fatal_error();
        tracing::error!(reason = ?reason, topic = %self.topic, pending = self.pending.len(), "dead-letter producer failed fatally; recreating it");
        self.producer = self.config.create().map_err(DlqError::Create)?;
        self.health.producer_recreated += 1;
        // What the old producer had in flight is gone with it: send it all again.
        let now = Instant::now();
        for o in &mut self.pending {
            if !matches!(o.delivery, Delivery::Refused(_)) {
                o.delivery = Delivery::Retry(now);
            }
        }
        self.health.error = Some(DlqTrouble {
            code: format!("{:?}", RDKafkaErrorCode::Fatal),
            message: trouble_message(Some(RDKafkaErrorCode::Fatal)),
            since_ms: now_ms(),
        });
        Ok(())
    }

    /// A letter that cannot be delivered: skipped loudly (`Ok`), or the end of the commit.
    fn give_up(
        &self,
        letter: &DeadLetter,
        reason: DlqFailureReason,
        error: &KafkaError,
    ) -> Result<(), DlqError> {
        if self.failure == DlqFailure::Halt {
            return Err(DlqError::Undeliverable {
                topic: letter.source_topic.clone(),
                partition: letter.partition,
                offset: letter.offset,
                reason,
                detail: error.to_string(),
            });
        }
        tracing::error!(
            source_topic = %letter.source_topic,
            partition = letter.partition,
            offset = letter.offset,
            reason = reason.as_str(),
            error = %error,
            dlq_topic = %self.topic,
            size = letter.wire_size(),
            limit = self.max_message_bytes,
            "dead letter cannot be delivered; skipped (--dlq-failure skip): the invalid event is not on the dead-letter topic"
        );
        Ok(())
    }

    /// Makes the current producer fail fatally, as a broker-side fencing would.
    #[cfg(test)]
    fn inject_fatal_error(&self) {
        let reason = c"injected by a test";
        // SAFETY: the pointer is the live producer's handle; the reason is a valid C string.
        unsafe {
            rdkafka::bindings::rd_kafka_test_fatal_error(
                self.producer.client().native_ptr(),
                rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                reason.as_ptr(),
            );
        }
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

    fn field_error(len: usize) -> InvalidEvent {
        InvalidEvent::Field {
            field: format!("attributes.{}", "k".repeat(len)),
            problem: schemas::FieldProblem::TooLong { len, max: 256 },
        }
    }

    #[test]
    fn header_names_values_and_keys_are_bounded_with_a_marker() {
        let mut r = record(b"{}".to_vec(), field_error(400_000));
        r.key = Some(vec![b'x'; 2000]);
        r.headers = vec![("n".repeat(400), Some(vec![b'v'; 5000]))];
        let letter = DeadLetter::new("t", 0, 7, None, EventKind::Product, &r);
        for (k, v) in &letter.headers {
            assert!(k.len() <= MAX_HEADER_NAME + CUT_MARKER.len(), "{k}");
            assert!(
                v.len() <= MAX_HEADER_VALUE + CUT_MARKER.len(),
                "{k}: {}",
                v.len()
            );
        }
        let field = letter.header("dlq.error.field").unwrap();
        assert!(field.starts_with("attributes.kkk") && field.ends_with(CUT_MARKER));
        assert!(letter
            .header("dlq.error.message")
            .unwrap()
            .ends_with(CUT_MARKER));
        assert_eq!(
            letter.key.as_ref().map(Vec::len),
            Some(MAX_KEY + CUT_MARKER.len())
        );
        assert_eq!(letter.header("dlq.key.truncated"), Some("true"));
        assert_eq!(letter.header("dlq.offset"), Some("7"));
        assert!(letter.wire_size() < 10_000, "{}", letter.wire_size());
    }

    #[test]
    fn text_is_cut_at_a_character_boundary() {
        let cut = bounded("é".repeat(600).as_bytes(), MAX_HEADER_VALUE);
        let text = String::from_utf8(cut).expect("still UTF-8");
        assert_eq!(text, format!("{}…", "é".repeat(512)));
    }

    #[test]
    fn original_headers_beyond_16_kib_are_dropped_and_counted() {
        let mut r = record(b"{}".to_vec(), field_error(300));
        r.headers = (0..40)
            .map(|i| (format!("h{i:02}"), Some(vec![b'v'; 1000])))
            .collect();
        let letter = DeadLetter::new("t", 0, 0, None, EventKind::Product, &r);
        let kept = letter
            .headers
            .iter()
            .filter(|(k, _)| k.starts_with('h'))
            .count();
        assert_eq!(kept, 16, "1003 bytes each, 16 KiB in all");
        assert_eq!(letter.header("dlq.headers.dropped"), Some("24"));
    }

    #[test]
    fn a_letter_is_cut_to_fit_the_limit_or_refused_when_its_headers_alone_are_over() {
        let r = record(vec![b'x'; 50_000], field_error(300));
        let mut letter = DeadLetter::new("t", 0, 0, None, EventKind::Product, &r);
        assert!(letter.fit(1_000_000), "fits as it is");
        assert_eq!(letter.payload.as_ref().map(Vec::len), Some(50_000));
        assert!(letter.fit(20_000));
        assert!(letter.wire_size() <= 20_000, "{}", letter.wire_size());
        assert!(letter.payload.as_ref().map_or(0, Vec::len) > 15_000);
        assert_eq!(letter.header("dlq.payload.truncated"), Some("true"));
        assert_eq!(letter.header("dlq.payload.size"), Some("50000"));
        let r = record(vec![b'x'; 10], field_error(5_000));
        let mut letter = DeadLetter::new("t", 0, 0, None, EventKind::Product, &r);
        assert!(
            !letter.fit(1_000),
            "the bounded headers alone are over 1000 bytes"
        );
    }

    #[test]
    fn a_letter_refused_as_too_large_shrinks_to_64_kib_then_to_nothing_then_gives_up() {
        let r = record(vec![b'x'; 500_000], field_error(300));
        let mut letter = DeadLetter::new("t", 0, 0, None, EventKind::Product, &r);
        assert!(letter.shrink());
        assert_eq!(
            letter.payload.as_ref().map(Vec::len),
            Some(TRUNCATED_PAYLOAD)
        );
        assert!(letter.shrink());
        assert_eq!(letter.payload.as_ref().map(Vec::len), Some(0));
        assert!(!letter.shrink());
        assert_eq!(letter.header("dlq.payload.size"), Some("500000"));
    }

    #[test]
    fn the_failure_policy_is_skip_or_halt() {
        assert_eq!("skip".parse::<DlqFailure>(), Ok(DlqFailure::Skip));
        assert_eq!("halt".parse::<DlqFailure>(), Ok(DlqFailure::Halt));
        assert!("stop"
            .parse::<DlqFailure>()
            .unwrap_err()
            .contains("skip or halt"));
        assert_eq!(DlqFailure::default(), DlqFailure::Skip);
    }

    fn letter(partition: i32, offset: i64) -> DeadLetter {
        let r = record(b"{}".to_vec(), field_error(300));
        DeadLetter::new(
            "catalog.products",
            partition,
            offset,
            None,
            EventKind::Product,
            &r,
        )
    }

    /// Settles until nothing is pending or `tries` seconds passed.
    fn settle_all(dlq: &mut DeadLetters, tries: u32) -> Confirmed {
        let mut all = Confirmed::default();
        for _ in 0..tries {
            all.absorb(dlq.settle(Duration::from_secs(1)).expect("skip policy"));
            if dlq.pending() == 0 {
                break;
            }
        }
        all
    }

    #[test]
    fn floors_are_the_first_unsettled_offset_of_each_source_partition() {
        // Nothing listens there: every letter stays pending.
        let mut dlq = DeadLetters::new("127.0.0.1:1", "dlq", &[], DlqFailure::Skip).unwrap();
        for (partition, offset) in [(0, 5), (0, 3), (1, 9), (0, 8)] {
            dlq.send(letter(partition, offset));
        }
        let settled = dlq.settle(Duration::ZERO).unwrap();
        assert!(settled.is_empty());
        assert_eq!(dlq.pending(), 4);
        let floors = dlq.floors();
        assert_eq!(floors.get(&("catalog.products", 0).into()), Some(3));
        assert_eq!(floors.get(&("catalog.products", 1).into()), Some(9));
        assert_eq!(floors.len(), 2);
        assert_eq!(dlq.health().pending, 4);
    }

    #[test]
    fn settling_never_waits_longer_than_asked_while_the_broker_is_away() {
        let mut dlq = DeadLetters::new("127.0.0.1:1", "dlq", &[], DlqFailure::Skip).unwrap();
        dlq.send(letter(0, 1));
        let started = Instant::now();
        dlq.settle(Duration::from_millis(200)).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(dlq.pending(), 1, "kept for a later commit, not dropped");
    }

    /// Regression: a letter the producer refused on the spot (queue full; a topic it knows
    /// is forbidden) was retried with no reason in the health, so `/status` said nothing of
    /// why letters waited (flaky `a_forbidden_dead_letter_topic_loses_no_letter_across_a_crash`).
    #[test]
    fn a_letter_refused_on_the_spot_says_why_and_is_retried() {
        let extra = [("queue.buffering.max.messages".to_owned(), "1".to_owned())];
        let mut dlq = DeadLetters::new("127.0.0.1:1", "dlq", &extra, DlqFailure::Skip).unwrap();
        dlq.send(letter(0, 1));
        dlq.send(letter(0, 2));
        dlq.settle(Duration::ZERO).unwrap();
        assert_eq!(
            dlq.health().error.map(|t| t.code).as_deref(),
            Some("QueueFull")
        );
        assert_eq!(dlq.pending(), 2, "both kept");
        assert_eq!(dlq.floors().get(&("catalog.products", 0).into()), Some(1));
    }

    #[test]
    fn a_producer_that_failed_fatally_is_recreated_and_its_letters_delivered() {
        let mock = rdkafka::mocking::MockCluster::new(1).unwrap();
        mock.create_topic("dlq", 1, 1).unwrap();
        let brokers = mock.bootstrap_servers();
        let mut dlq = DeadLetters::new(&brokers, "dlq", &[], DlqFailure::Skip).unwrap();
        dlq.send(letter(0, 1));
        assert_eq!(settle_all(&mut dlq, 10).len(), 1, "healthy first");
        dlq.inject_fatal_error();
        dlq.send(letter(0, 2));
        dlq.send(letter(0, 3));
        let settled = settle_all(&mut dlq, 20);
        assert_eq!(dlq.pending(), 0, "{:?}", dlq.health());
        assert_eq!(settled.delivered.get("catalog.products"), Some(&2));
        assert_eq!(dlq.health().producer_recreated, 1);
        assert!(dlq.producer.client().fatal_error().is_none());
    }
}
