//! The Kafka consumer: explicit assignment, decode, batch, send to the writer.
//!
//! - No consumer-group rebalancing: the index is local state, so the consumer `assign`s every
//!   partition of the four topics itself, at the offsets of the last index commit (earliest for
//!   partitions the index has never seen). The start offsets go into the assignment list
//!   (a `seek` right after `assign` can fail with "Erroneous state").
//! - Partitions (and topics) that appear later are found by a metadata refresh every few
//!   seconds and added with `incremental_assign`, from their earliest offset.
//! - The poll loop runs on its own thread; it decodes every message (so the writer only
//!   merges) and sends batches over a bounded channel. A full channel blocks the loop; that
//!   is the backpressure.
//! - Watermarks for lag come from librdkafka's statistics callback (the last stable offset:
//!   records of open transactions are not visible yet, so they are not lag); whether the
//!   cluster answers comes from the metadata refresh.
//! - Transactions: `isolation.level=read_committed`, so records of aborted transactions are
//!   never delivered. Their commit and abort markers take offsets but are never delivered
//!   either: when the queue runs dry the source asks the consumer for its position (the next
//!   offset to fetch) and sends a [`PositionAdvance`] past them, so a log that ends with a
//!   marker is still fully consumed (lag 0, rebuild done).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{SendTimeoutError, Sender};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use schemas::{EventKind, InvalidEvent};

use super::log_gap::{classify, LogGapPolicy};
use crate::ingest::quarantine::Quarantine;
use crate::models::{
    InvalidRecord, PositionAdvance, Positions, RecordAt, RecordBatch, RecordBody, SourceRecord,
    TopicPartition, Topics,
};
use crate::telemetry::{Fault, GapAction, GapReason, LogGap, OffsetResetLabels, Status};
use crate::util::panic;

/// Largest batch handed to the writer at once.
const MAX_BATCH_RECORDS: usize = 4096;
/// Smaller batches when throttled, so the rate is smooth.
const THROTTLED_BATCH_RECORDS: usize = 256;
/// Largest payload volume of one batch.
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// How often partitions are rediscovered once all topics were found.
const METADATA_REFRESH: Duration = Duration::from_secs(5);
/// How often while some topic is still missing or the cluster does not answer.
const METADATA_RETRY: Duration = Duration::from_secs(1);

/// librdkafka client properties shared by every consumer of the catalog topics.
pub fn consumer_config(brokers: &str, group_id: &str, extra: &[(String, String)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", group_id)
        .set("client.id", "catalog-indexer")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // A fetch position the log no longer has (retention overtook the consumer, the
        // topic was recreated): an error the source turns into a log gap, never a silent
        // jump to the log start (`check_running_gaps`, `log_gap.rs`).
        .set("auto.offset.reset", "error")
        // Never index an aborted transaction's records (librdkafka's default, made explicit:
        // the lag and the rebuild's target are the last stable offset because of it).
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "false")
        .set("statistics.interval.ms", "1000")
        // Bounds librdkafka's prefetch queue: part of the memory bound under a backlog.
        .set("queued.max.messages.kbytes", "32768")
        .set("fetch.wait.max.ms", "100")
        .set("topic.metadata.refresh.interval.ms", "10000")
        .set("reconnect.backoff.ms", "100")
        .set("reconnect.backoff.max.ms", "5000");
    for (k, v) in extra {
        config.set(k, v);
    }
    config
}

/// Consumer callbacks: statistics feed watermarks into [`Status`]; errors are logged.
pub struct SourceContext {
    status: Arc<Status>,
}

impl SourceContext {
    pub fn new(status: Arc<Status>) -> SourceContext {
        SourceContext { status }
    }
}

impl ClientContext for SourceContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 {
                    // Under read_committed, the end a consumer can reach is the last stable
                    // offset: an open transaction's records are not lag until committed.
                    let end = if p.ls_offset >= 0 {
                        p.ls_offset
                    } else {
                        p.hi_offset
                    };
                    self.status
                        .set_watermarks(topic, *partition, p.lo_offset, end);
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            if self
                .status
                .set_connected(false, Some(Fault::new("AllBrokersDown", reason)))
            {
                tracing::warn!(reason, "kafka unreachable: all brokers are down; retrying");
            }
        } else {
            tracing::debug!(%error, reason, "kafka client error");
        }
    }
}

impl ConsumerContext for SourceContext {}

pub type SourceConsumer = BaseConsumer<SourceContext>;

/// Mirrors index commits to the Kafka consumer group, for lag tools only.
#[derive(Clone)]
pub struct GroupCommitter {
    consumer: Arc<SourceConsumer>,
}

impl GroupCommitter {
    /// Commits `positions` (next offsets) asynchronously; failures are only logged.
    pub fn commit(&self, positions: &Positions) {
        let mut tpl = TopicPartitionList::new();
        for (tp, next) in positions.iter() {
            if tpl
                .add_partition_offset(&tp.topic, tp.partition, Offset::Offset(next))
                .is_err()
            {
                return;
            }
        }
        if tpl.count() == 0 {
            return;
        }
        if let Err(e) = self.consumer.commit(&tpl, CommitMode::Async) {
            tracing::debug!(error = %e, "consumer group offset commit failed (lag tools only)");
        }
    }
}

/// The consumer side of the pipeline.
pub struct KafkaSource {
    consumer: Arc<SourceConsumer>,
    topics: Topics,
    status: Arc<Status>,
    /// Where to start partitions the last index commit knows.
    resume: Positions,
    assigned: HashSet<TopicPartition>,
    missing_topics: HashSet<String>,
    tx: Sender<RecordBatch>,
    /// The source stops when any of these is raised.
    stop: Vec<Arc<AtomicBool>>,
    /// At most this many messages per second (a rebuild's throttle), `None` for no limit.
    max_rate: Option<u64>,
    /// Poison events to set aside.
    quarantine: Arc<Quarantine>,
    /// What to do with a resumed partition whose stored offset the log no longer has.
    gap_policy: LogGapPolicy,
    /// `indexer_offset_resets_total`.
    offset_resets: Family<OffsetResetLabels, Counter>,
    /// Partitions held back by a log gap (checked again by the next incarnation).
    held: HashSet<TopicPartition>,
    /// Per partition, the next offset after the last record or advance sent to the writer.
    delivered: HashMap<(EventKind, i32), i64>,
    /// The consumer reported a fetch position out of range since the last check.
    out_of_range: bool,
}

impl KafkaSource {
    /// A consumer of the event topics of `topics`, resuming from `resume`, sending to `tx`
    /// until one of `stop` is raised.
    pub fn new(
        config: &ClientConfig,
        topics: Topics,
        status: Arc<Status>,
        resume: Positions,
        tx: Sender<RecordBatch>,
        stop: Vec<Arc<AtomicBool>>,
    ) -> KafkaResult<KafkaSource> {
        let consumer: SourceConsumer =
            config.create_with_context(SourceContext::new(status.clone()))?;
        Ok(KafkaSource {
            consumer: Arc::new(consumer),
            topics,
            status,
            resume,
            assigned: HashSet::new(),
            missing_topics: HashSet::new(),
            tx,
            stop,
            max_rate: None,
            quarantine: Arc::default(),
            gap_policy: LogGapPolicy::default(),
            offset_resets: Family::default(),
            held: HashSet::new(),
            delivered: HashMap::new(),
            out_of_range: false,
        })
    }

    /// Handles log gaps of resumed partitions by `policy`, counting them in `resets`.
    pub fn with_log_gaps(
        mut self,
        policy: LogGapPolicy,
        resets: Family<OffsetResetLabels, Counter>,
    ) -> KafkaSource {
        self.gap_policy = policy;
        self.offset_resets = resets;
        self
    }

    /// Limits the consume rate (a throttled rebuild).
    pub fn with_max_rate(mut self, max_rate: Option<u64>) -> KafkaSource {
        self.max_rate = max_rate.filter(|r| *r > 0);
        self
    }

    /// Sets aside the poison events of `quarantine`.
    pub fn with_quarantine(mut self, quarantine: Arc<Quarantine>) -> KafkaSource {
        self.quarantine = quarantine;
        self
    }

    /// A handle that mirrors commits to the consumer group through this consumer.
    pub fn group_committer(&self) -> GroupCommitter {
        GroupCommitter {
            consumer: self.consumer.clone(),
        }
    }

    /// Polls until shutdown is requested or the writer goes away.
    pub fn run(mut self) {
        let mut next_refresh = Instant::now();
        let started = Instant::now();
        let mut consumed = 0u64;
        loop {
            if self.stopping() {
                tracing::debug!("source stopping");
                return;
            }
            if Instant::now() >= next_refresh {
                let complete = self.refresh_partitions();
                next_refresh = Instant::now()
                    + if complete {
                        METADATA_REFRESH
                    } else {
                        METADATA_RETRY
                    };
            }
            panic::pause_point("ingest::poll");
            let (mut batch, drained) = self.poll_batch(Duration::from_millis(100));
            if drained {
                self.add_advances(&mut batch);
            }
            if std::mem::take(&mut self.out_of_range) {
                // After this batch is sent: it holds what came before the error.
                if !batch.is_empty() && !self.send(batch) {
                    return;
                }
                batch = RecordBatch::default();
                self.check_running_gaps();
            }
            consumed += batch.len() as u64;
            if !batch.is_empty() && !self.send(batch) {
                return;
            }
            if let Some(rate) = self.max_rate {
                let due = started + Duration::from_secs_f64(consumed as f64 / rate as f64);
                while Instant::now() < due && !self.stopping() {
                    std::thread::sleep((due - Instant::now()).min(Duration::from_millis(100)));
                }
            }
        }
    }

    fn stopping(&self) -> bool {
        self.stop.iter().any(|s| s.load(Ordering::Relaxed))
    }

    /// Sends a batch, blocking while the writer is behind; false when the pipeline stops.
    fn send(&self, mut batch: RecordBatch) -> bool {
        loop {
            match self.tx.send_timeout(batch, Duration::from_millis(200)) {
                Ok(()) => return true,
                Err(SendTimeoutError::Disconnected(_)) => {
                    tracing::debug!("source stopping: writer gone");
                    return false;
                }
                Err(SendTimeoutError::Timeout(b)) => {
                    if self.stopping() {
                        return false;
                    }
                    batch = b;
                }
            }
        }
    }

    /// Polls up to a batch; also says whether the consumer's queue ran dry.
    fn poll_batch(&mut self, wait: Duration) -> (RecordBatch, bool) {
        let mut batch = RecordBatch::default();
        let mut drained = false;
        let mut bytes = 0usize;
        let mut timeout = wait;
        let max_records = if self.max_rate.is_some() {
            THROTTLED_BATCH_RECORDS
        } else {
            MAX_BATCH_RECORDS
        };
        while batch.len() < max_records && bytes < MAX_BATCH_BYTES {
            match self.consumer.poll(timeout) {
                None => {
                    drained = true;
                    break;
                }
                Some(Ok(message)) => {
                    bytes += message.payload_len();
                    if let Some(record) = self.decode(&message) {
                        self.delivered
                            .insert((record.kind, record.partition), record.offset + 1);
                        batch.push(record);
                    }
                }
                Some(Err(e)) => {
                    if e.rdkafka_error_code() == Some(RDKafkaErrorCode::AutoOffsetReset) {
                        self.out_of_range = true;
                    } else {
                        tracing::warn!(error = %e, "kafka consume error; retrying");
                    }
                    break;
                }
            }
            timeout = Duration::ZERO;
        }
        (batch, drained)
    }

    /// Adds an advance for every partition whose position (the next offset to fetch) is
    /// past the last record sent: the consumer skipped offsets that hold no record. Asked
    /// only once the queue ran dry, so every record before the position is in `batch` or
    /// already sent.
    fn add_advances(&mut self, batch: &mut RecordBatch) {
        let Ok(positions) = self.consumer.position() else {
            return;
        };
        for element in positions.elements() {
            let Offset::Offset(next) = element.offset() else {
                continue;
            };
            let Some(kind) = self.topics.kind_of(element.topic()) else {
                continue;
            };
            let delivered = self
                .delivered
                .entry((kind, element.partition()))
                .or_insert(-1);
            if next > *delivered {
                *delivered = next;
                batch.advance(PositionAdvance {
                    kind,
                    partition: element.partition(),
                    next,
                });
            }
        }
    }

    fn decode(&self, message: &BorrowedMessage<'_>) -> Option<SourceRecord> {
        let Some(kind) = self.topics.kind_of(message.topic()) else {
            tracing::warn!(
                topic = message.topic(),
                "message from an unexpected topic ignored"
            );
            return None;
        };
        let at = RecordAt::new(
            TopicPartition::new(message.topic(), message.partition()),
            message.offset(),
        );
        let decoded = match self.quarantine.set_aside(&at) {
            Some((crashes, panic)) => {
                tracing::warn!(topic = message.topic(), partition = message.partition(), offset = message.offset(), crashes, "poison event set aside: dead-lettered as crashed_pipeline");
                Err(InvalidEvent::CrashedPipeline { crashes, panic })
            }
            None => panic::catch(|| {
                if let Some(key) = message.key() {
                    panic::failpoint("ingest::decode", &String::from_utf8_lossy(key));
                }
                schemas::decode(kind, message.payload())
            })
            .unwrap_or_else(
                |caught| {
                    tracing::error!(topic = message.topic(), partition = message.partition(), offset = message.offset(), panic = %caught, "decoding an event panicked; dead-lettered as crashed_pipeline");
                    Err(InvalidEvent::CrashedPipeline {
                        crashes: 1,
                        panic: caught.to_string(),
                    })
                },
            ),
        };
        let body = match decoded {
            Ok(event) => RecordBody::Event(event),
            Err(error) => RecordBody::Invalid(Box::new(InvalidRecord {
                key: message.key().map(<[u8]>::to_vec),
                payload: message.payload().map(<[u8]>::to_vec),
                headers: message
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                            .collect()
                    })
                    .unwrap_or_default(),
                error,
            })),
        };
        Some(SourceRecord {
            kind,
            partition: message.partition(),
            offset: message.offset(),
            kafka_ts_ms: message.timestamp().to_millis(),
            body,
        })
    }

    /// Finds the partitions of the event topics and assigns the new ones. Returns whether
    /// every topic was found.
    fn refresh_partitions(&mut self) -> bool {
        let mut new = Vec::new();
        let mut complete = true;
        for topic in self.topics.event_topics() {
            match self
                .consumer
                .fetch_metadata(Some(&topic), Duration::from_secs(3))
            {
                Ok(metadata) => {
                    if self.status.set_connected(true, None) {
                        tracing::info!(brokers = %self.status.brokers, "kafka reachable");
                    }
                    let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
                        continue;
                    };
                    if t.error().is_some() || t.partitions().is_empty() {
                        complete = false;
                        if self.missing_topics.insert(topic.clone()) {
                            tracing::warn!(topic = %topic, "topic does not exist yet; waiting for it");
                        }
                        continue;
                    }
                    if self.missing_topics.remove(&topic) {
                        tracing::info!(topic = %topic, "topic appeared");
                    }
                    for p in t.partitions() {
                        let key = TopicPartition::new(topic.clone(), p.id());
                        if !self.assigned.contains(&key) {
                            new.push(key);
                        }
                    }
                }
                Err(e) => {
                    complete = false;
                    let code = e
                        .rdkafka_error_code()
                        .map_or_else(|| "metadata".to_owned(), |c| format!("{c:?}"));
                    if self
                        .status
                        .set_connected(false, Some(Fault::new(code, e.to_string())))
                    {
                        tracing::warn!(error = %e, brokers = %self.status.brokers, "kafka unreachable; retrying");
                    }
                    break;
                }
            }
        }
        if !new.is_empty() {
            self.assign(new);
        }
        complete
    }

    /// The log start and end of `tp`, asked of the broker.
    fn log_bounds_of(&self, tp: &TopicPartition) -> KafkaResult<(i64, i64)> {
        self.consumer
            .fetch_watermarks(&tp.topic, tp.partition, Duration::from_secs(5))
    }

    /// Where a resumed partition starts, or `None` to hold it back (a log gap under
    /// `fail`/`rebuild`, or watermarks not known yet: retried at the next refresh). See
    /// `log_gap.rs`.
    fn resume_offset(&mut self, tp: &TopicPartition, stored: i64) -> Option<Offset> {
        let (low, high) = match self.log_bounds_of(tp) {
            Ok(bounds) => bounds,
            Err(e) => {
                tracing::warn!(topic = %tp.topic, partition = tp.partition, error = %e, "cannot read the partition's log bounds; assignment retried");
                return None;
            }
        };
        let Some(reason) = classify(stored, low, high) else {
            return Some(Offset::Offset(stored));
        };
        self.on_gap(tp, stored, low, high, reason)
    }

    /// A gap found at `stored` (resuming, or while running): counted, recorded, logged and
    /// handled by the policy. `Some(log start)` to consume from there (`continue`), `None`
    /// when the partition is held.
    fn on_gap(
        &mut self,
        tp: &TopicPartition,
        stored: i64,
        low: i64,
        high: i64,
        reason: GapReason,
    ) -> Option<Offset> {
        let action = match self.gap_policy {
            LogGapPolicy::Fail => GapAction::Held,
            LogGapPolicy::Rebuild => GapAction::Rebuilding,
            LogGapPolicy::Continue => GapAction::Continued,
        };
        let first_seen = self.status.record_log_gap(LogGap {
            topic: tp.topic.clone(),
            partition: tp.partition,
            reason,
            stored_offset: stored,
            log_start: low,
            log_end: high,
            action,
        });
        if first_seen {
            self.offset_resets
                .get_or_create(&OffsetResetLabels {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    reason,
                })
                .inc();
        }
        let lost = match reason {
            GapReason::Truncated => low - stored,
            GapReason::BeyondEnd => stored - high,
        };
        if action == GapAction::Continued {
            tracing::warn!(topic = %tp.topic, partition = tp.partition, ?reason, stored, log_start = low, log_end = high, lost, "log gap accepted (--on-log-gap continue): consuming from the log start");
            return Some(Offset::Offset(low));
        }
        tracing::error!(topic = %tp.topic, partition = tp.partition, ?reason, stored, log_start = low, log_end = high, lost, policy = ?self.gap_policy, "log gap: the partition is not consumed; rebuild with `indexer reindex --force` (or accept the loss with --on-log-gap continue)");
        // Known to the status (its lag shows what waits), but not consumed.
        self.status.add_partition(&tp.topic, tp.partition, stored);
        self.held.insert(tp.clone());
        None
    }

    /// After the consumer said a fetch position is out of range (`auto.offset.reset` is
    /// `error`: librdkafka would otherwise jump to the log start silently): finds the
    /// partitions whose next offset the log no longer has — retention overtook the
    /// consumer, or the topic was recreated under it — and handles each as a log gap.
    /// Earlier messages of a partition come before its error in the queue, so what was
    /// delivered is where the consumer stood.
    fn check_running_gaps(&mut self) {
        let assigned: Vec<TopicPartition> = self.assigned.iter().cloned().collect();
        for tp in assigned {
            let Some(kind) = self.topics.kind_of(&tp.topic) else {
                continue;
            };
            let Some(&next) = self.delivered.get(&(kind, tp.partition)) else {
                continue;
            };
            let (low, high) = match self.log_bounds_of(&tp) {
                Ok(bounds) => bounds,
                Err(e) => {
                    tracing::warn!(topic = %tp.topic, partition = tp.partition, error = %e, "cannot read the partition's log bounds after an out-of-range fetch; checked again at the next error");
                    continue;
                }
            };
            let Some(reason) = classify(next, low, high) else {
                continue;
            };
            let resume = self.on_gap(&tp, next, low, high, reason);
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&tp.topic, tp.partition);
            if self.consumer.incremental_unassign(&tpl).is_err() {
                tracing::error!(topic = %tp.topic, partition = tp.partition, "cannot stop consuming a partition with a log gap");
                continue;
            }
            self.assigned.remove(&tp);
            if let Some(Offset::Offset(low)) = resume {
                let mut tpl = TopicPartitionList::new();
                let assigned = tpl
                    .add_partition_offset(&tp.topic, tp.partition, Offset::Offset(low))
                    .is_ok()
                    && self.consumer.incremental_assign(&tpl).is_ok();
                if assigned {
                    self.delivered.insert((kind, tp.partition), low);
                    self.assigned.insert(tp);
                }
            }
        }
    }

    fn assign(&mut self, partitions: Vec<TopicPartition>) {
        let mut tpl = TopicPartitionList::new();
        let mut assigning = Vec::with_capacity(partitions.len());
        for tp in partitions {
            if self.held.contains(&tp) {
                continue;
            }
            let offset = match self.resume.get(&tp) {
                Some(next) => match self.resume_offset(&tp, next) {
                    Some(offset) => offset,
                    None => continue,
                },
                None => Offset::Beginning,
            };
            assigning.push((tp, offset));
        }
        let partitions: Vec<TopicPartition> = assigning.iter().map(|(tp, _)| tp.clone()).collect();
        if partitions.is_empty() {
            return;
        }
        for (tp, offset) in &assigning {
            let offset = *offset;
            if let Err(e) = tpl.add_partition_offset(&tp.topic, tp.partition, offset) {
                tracing::error!(error = %e, topic = %tp.topic, partition = tp.partition, "cannot build assignment");
                return;
            }
        }
        match self.consumer.incremental_assign(&tpl) {
            Ok(()) => {
                let mut per_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
                for tp in &partitions {
                    per_topic.entry(&tp.topic).or_default().push(tp.partition);
                }
                for (topic, list) in per_topic {
                    let resumed = list
                        .iter()
                        .filter(|p| self.resume.contains(&TopicPartition::new(topic, **p)))
                        .count();
                    tracing::info!(topic, partitions = ?list, resumed, "partitions assigned");
                }
                for tp in partitions {
                    let start = self.resume.get(&tp).unwrap_or(0);
                    self.status.add_partition(&tp.topic, tp.partition, start);
                    if let Some(kind) = self.topics.kind_of(&tp.topic) {
                        self.delivered.insert((kind, tp.partition), start);
                    }
                    // At 0 from the start, so the first gap is an increase alerts see (a
                    // counter born at 1 shows none).
                    for reason in [GapReason::Truncated, GapReason::BeyondEnd] {
                        let _ = self.offset_resets.get_or_create(&OffsetResetLabels {
                            topic: tp.topic.clone(),
                            partition: tp.partition,
                            reason,
                        });
                    }
                    self.assigned.insert(tp);
                }
            }
            Err(e) => tracing::warn!(error = %e, "partition assignment failed; will retry"),
        }
    }
}

/// Log start and end offsets per topic-partition.
pub type LogBounds = BTreeMap<TopicPartition, (i64, i64)>;

/// Log start and end offsets of every partition of `topics`, asked of the cluster.
pub fn log_bounds(
    config: &ClientConfig,
    topics: &[String],
    timeout: Duration,
) -> KafkaResult<LogBounds> {
    let consumer: BaseConsumer = config.create()?;
    let mut out = BTreeMap::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
        for t in metadata.topics().iter().filter(|t| t.name() == topic) {
            for p in t.partitions() {
                let (low, high) = consumer.fetch_watermarks(topic, p.id(), timeout)?;
                out.insert(TopicPartition::new(topic.clone(), p.id()), (low, high));
            }
        }
    }
    Ok(out)
}
