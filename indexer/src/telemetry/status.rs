//! Live state shared by the pipeline stages and the HTTP endpoints (`/status`, `/ready`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::freshness::Freshness;
use super::metrics::FreshnessPath;
use super::slo::{Slo, SloState};
use crate::models::{Positions, TopicPartition};
use crate::util::lock;

/// The pipeline failure code (and ingestion problem reason) of a data directory out of
/// space.
pub const DISK_FULL: &str = "disk_full";

/// Where one topic-partition stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionPosition {
    /// Next offset to consume according to the last index commit (what is searchable).
    pub committed: i64,
    /// Next offset the writer has processed (searchable after the next commit).
    pub processed: i64,
    /// Last known end of the log this consumer can read (-1 when unknown): the last stable
    /// offset under `read_committed` (the high watermark when no transaction is open).
    pub high_watermark: i64,
    /// Last known log start offset (-1 when unknown).
    pub low_watermark: i64,
}

impl PartitionPosition {
    /// Messages not yet searchable. Offsets below the log start were deleted by retention
    /// and can never be consumed, so they do not count.
    pub fn lag(&self) -> i64 {
        if self.high_watermark < 0 {
            return 0;
        }
        (self.high_watermark - self.committed.max(self.low_watermark)).max(0)
    }
}

/// One partition in `GET /status`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PartitionStatus {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Next offset according to the last index commit (what is searchable).
    pub next_offset: i64,
    /// Next offset the writer has processed.
    pub processed_offset: i64,
    /// Last known end of the readable log: the last stable offset (records of transactions
    /// still open are not counted until committed).
    pub high_watermark: Option<i64>,
    /// Last known log start offset.
    pub low_watermark: Option<i64>,
    /// Messages not yet searchable (known once a watermark was seen).
    pub lag: Option<i64>,
}

/// The index side of `GET /status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IndexStatus {
    /// Visible (searchable) products.
    pub docs: u64,
    /// Stored products, visible or not (deleted products and orphans keep their state).
    pub records: u64,
    /// Searchable segments.
    pub segments: u64,
    /// Store quantity records held (pickup in store), and their approximate bytes.
    pub store_records: u64,
    /// Approximate bytes of the store quantities.
    pub store_bytes: u64,
    /// Epoch ms of the last commit (0 before the first one).
    pub last_commit_ms: u64,
    /// How long the last commit took.
    pub last_commit_duration_ms: u64,
    /// Commits since the process started.
    pub commits: u64,
    /// The live index generation.
    pub generation: u64,
    /// Where the live index is (only for authenticated callers of `/status`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
}

/// Event counters since the process started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Records consumed (valid or not).
    pub consumed: AtomicU64,
    /// Events merged (newer than the stored record).
    pub applied: AtomicU64,
    /// Events ignored as not newer.
    pub stale: AtomicU64,
    /// Invalid messages.
    pub invalid: AtomicU64,
    /// Invalid messages confirmed on the dead-letter topic.
    pub dlq: AtomicU64,
    /// Invalid messages whose dead letter could not be delivered, skipped.
    pub dlq_failed: AtomicU64,
}

/// [`Counters`] at one moment.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Records consumed.
    pub consumed: u64,
    /// Events merged.
    pub applied: u64,
    /// Events ignored as not newer.
    pub stale: u64,
    /// Invalid messages.
    pub invalid: u64,
    /// Invalid messages dead-lettered.
    pub dlq: u64,
    /// Invalid messages whose dead letter could not be delivered, skipped.
    pub dlq_failed: u64,
}

impl Counters {
    /// The counters now.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            consumed: self.consumed.load(Ordering::Relaxed),
            applied: self.applied.load(Ordering::Relaxed),
            stale: self.stale.load(Ordering::Relaxed),
            invalid: self.invalid.load(Ordering::Relaxed),
            dlq: self.dlq.load(Ordering::Relaxed),
            dlq_failed: self.dlq_failed.load(Ordering::Relaxed),
        }
    }
}

/// Why letters are waiting, for `/status` (a stable code and a short message: the
/// producer's own words go to the log only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DlqTrouble {
    /// librdkafka's error code, e.g. `UnknownTopicOrPartition`, `TopicAuthorizationFailed`.
    pub code: String,
    /// What it means.
    pub message: &'static str,
    /// Epoch ms of the first failure of this kind in a row.
    pub since_ms: u64,
}

/// The dead-letter side of `/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DlqHealth {
    /// Letters not confirmed yet (their offsets are not committed).
    pub pending: u64,
    /// Why they wait, while deliveries fail.
    pub error: Option<DlqTrouble>,
    /// Times the producer failed fatally and was recreated.
    pub producer_recreated: u64,
}

/// Why a stored offset has no record to resume from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapReason {
    /// Below the log start: retention deleted records the index never saw.
    Truncated,
    /// Past the log end: the topic was deleted and recreated, or the broker lost data.
    BeyondEnd,
}

impl GapReason {
    /// The label value (as in `/status`).
    pub fn as_str(self) -> &'static str {
        match self {
            GapReason::Truncated => "truncated",
            GapReason::BeyondEnd => "beyond_end",
        }
    }
}

impl prometheus_client::encoding::EncodeLabelValue for GapReason {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

/// What the source did about a log gap (`--on-log-gap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapAction {
    /// The partition is not consumed until an operator rebuilds (`fail`).
    Held,
    /// Held, and a forced reindex was requested (`rebuild`).
    Rebuilding,
    /// Consumed from the log start, the gap accepted (`continue`).
    Continued,
}

/// A partition whose stored offset the log no longer has, as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogGap {
    pub topic: String,
    pub partition: i32,
    pub reason: GapReason,
    /// The next offset the last index commit stored.
    pub stored_offset: i64,
    /// The log start and end (high watermark) found.
    pub log_start: i64,
    pub log_end: i64,
    pub action: GapAction,
}

/// Why the indexer cannot serve (`/ready`), or why ingestion is unhealthy
/// (`/health/ingestion`, and `/ready`'s `degraded` reasons).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NotReady {
    /// Stable code. Serving: `starting`, `stopping`. Ingestion: `pipeline_failed`,
    /// `kafka_unreachable`, `log_gap`, `lagging`, `freshness_slo_breached`,
    /// `dead_letters_waiting`.
    pub reason: &'static str,
    /// What is wrong, for people (a short message, never a raw error string or a path).
    pub message: String,
    /// The raw error behind it, for authenticated callers only (`None` otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl NotReady {
    fn new(reason: &'static str, message: String) -> NotReady {
        NotReady {
            reason,
            message,
            detail: None,
        }
    }
}

/// A failure as `/status` shows it: a stable code for everyone, the raw error (which may
/// hold paths and internal names) for authenticated callers and the log only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Stable code, e.g. `AllBrokersDown`, `data_directory`.
    pub code: String,
    /// The raw error.
    pub detail: String,
}

impl Fault {
    /// A fault with `code` and the raw `detail`.
    pub fn new(code: impl Into<String>, detail: impl Into<String>) -> Fault {
        Fault {
            code: code.into(),
            detail: detail.into(),
        }
    }
}

/// Where serving stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum ServingState {
    /// The pipeline has not made its first attempt yet.
    Starting = 0,
    /// Searches are served from the index.
    Serving = 1,
    /// A stop was requested: draining.
    Stopping = 2,
}

/// Everything the stages report and the endpoints read.
#[derive(Debug)]
pub struct Status {
    /// The cluster's bootstrap servers.
    pub brokers: String,
    /// Whether the cluster is the embedded broker.
    pub embedded: bool,
    /// The consumer group offsets are mirrored to.
    pub group_id: String,
    /// How long the index may stay behind the log before `/ready` says not ready.
    pub freshness_target: Duration,
    /// Event counters.
    pub counters: Counters,
    /// Freshness percentiles of the indexed path (re-indexed changes).
    pub freshness: Freshness,
    /// Freshness percentiles of the live path (price and stock in place, issue #15).
    pub freshness_live: Freshness,
    slo: Option<Slo>,
    slo_live: Option<Slo>,
    connected: AtomicBool,
    kafka_error: Mutex<Option<Fault>>,
    pipeline_error: Mutex<Option<Fault>>,
    pipeline_running: AtomicBool,
    serving: AtomicU8,
    dead_letters: Mutex<DlqHealth>,
    log_gaps: Mutex<Vec<LogGap>>,
    /// Every gap found since the process started, by partition and stored offset: a new
    /// incarnation finding the same gap again does not count it again.
    gaps_seen: Mutex<BTreeSet<(TopicPartition, i64, GapReason)>>,
    rebuild_requested: AtomicBool,
    partitions: Mutex<BTreeMap<TopicPartition, PartitionPosition>>,
    index: Mutex<IndexStatus>,
    /// Last time every known partition was fully searchable.
    caught_up_at: Mutex<Instant>,
}

impl Status {
    /// The status of a pipeline on `brokers` that has not started yet.
    pub fn new(
        brokers: String,
        embedded: bool,
        group_id: String,
        freshness_target: Duration,
    ) -> Status {
        Status {
            brokers,
            embedded,
            group_id,
            freshness_target,
            counters: Counters::default(),
            freshness: Freshness::default(),
            freshness_live: Freshness::default(),
            slo: None,
            slo_live: None,
            connected: AtomicBool::new(false),
            kafka_error: Mutex::new(None),
            pipeline_error: Mutex::new(None),
            pipeline_running: AtomicBool::new(false),
            serving: AtomicU8::new(ServingState::Starting as u8),
            dead_letters: Mutex::new(DlqHealth::default()),
            log_gaps: Mutex::new(Vec::new()),
            gaps_seen: Mutex::new(BTreeSet::new()),
            rebuild_requested: AtomicBool::new(false),
            partitions: Mutex::new(BTreeMap::new()),
            index: Mutex::new(IndexStatus::default()),
            caught_up_at: Mutex::new(Instant::now()),
        }
    }

    /// The freshness measures of one path.
    pub fn freshness_of(&self, path: FreshnessPath) -> &Freshness {
        match path {
            FreshnessPath::live => &self.freshness_live,
            FreshnessPath::indexed => &self.freshness,
        }
    }

    /// Sets the freshness objective of the indexed path `/ready` checks.
    pub fn with_slo(mut self, slo: Slo) -> Status {
        self.slo = Some(slo);
        self
    }

    /// Sets the freshness objective of the live path (price and stock in place).
    pub fn with_live_slo(mut self, slo: Slo) -> Status {
        self.slo_live = Some(slo.for_path(FreshnessPath::live.as_str()));
        self
    }

    /// Where the freshness SLO of the indexed path stands (`None` without one).
    pub fn slo_state(&self) -> Option<SloState> {
        self.slo_state_of(FreshnessPath::indexed)
    }

    /// Where the freshness SLO of `path` stands (`None` without one).
    pub fn slo_state_of(&self, path: FreshnessPath) -> Option<SloState> {
        let slo = match path {
            FreshnessPath::live => self.slo_live.as_ref(),
            FreshnessPath::indexed => self.slo.as_ref(),
        };
        slo.map(|slo| slo.evaluate(self.freshness_of(path), Instant::now()))
    }

    /// Records whether the cluster answers; returns true when this changed the state.
    pub fn set_connected(&self, connected: bool, error: Option<Fault>) -> bool {
        *lock(&self.kafka_error) = error;
        self.connected.swap(connected, Ordering::Relaxed) != connected
    }

    /// Whether the cluster answered last time it was asked.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Why the cluster did not answer, if it did not.
    pub fn kafka_error(&self) -> Option<Fault> {
        lock(&self.kafka_error).clone()
    }

    /// The supervisor is about to make its first attempt: the index is open and served,
    /// whatever ingestion does next.
    pub fn set_serving(&self) {
        let _ = self.serving.compare_exchange(
            ServingState::Starting as u8,
            ServingState::Serving as u8,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// A stop was requested: `/ready` answers 503 so that balancers drain the instance.
    pub fn set_stopping(&self) {
        self.serving
            .store(ServingState::Stopping as u8, Ordering::Relaxed);
    }

    /// Records whether the ingestion pipeline runs (running clears its last error).
    pub fn set_pipeline_running(&self, running: bool) {
        if running {
            self.set_serving();
        }
        self.pipeline_running.store(running, Ordering::Relaxed);
        if running {
            *lock(&self.pipeline_error) = None;
        }
    }

    /// Records that the pipeline failed and is restarting.
    pub fn set_pipeline_error(&self, error: Fault) {
        self.pipeline_running.store(false, Ordering::Relaxed);
        *lock(&self.pipeline_error) = Some(error);
    }

    /// Where dead-letter delivery stands.
    pub fn set_dead_letters(&self, health: DlqHealth) {
        *lock(&self.dead_letters) = health;
    }

    /// Where dead-letter delivery stood at its last report.
    pub fn dead_letters(&self) -> DlqHealth {
        lock(&self.dead_letters).clone()
    }

    /// Records a log gap found at assignment (replacing an earlier one of the partition);
    /// `rebuild` requests a forced reindex ([`Status::take_rebuild_request`]). Returns
    /// whether this gap (partition, stored offset, reason) is new to the process, i.e.
    /// whether to count it in `indexer_offset_resets_total`: a pipeline incarnation that
    /// finds it again (restarted before the rebuild swapped) sees the same loss.
    pub fn record_log_gap(&self, gap: LogGap) -> bool {
        if gap.action == GapAction::Rebuilding {
            self.rebuild_requested.store(true, Ordering::Relaxed);
        }
        let first = lock(&self.gaps_seen).insert((
            TopicPartition::new(gap.topic.as_str(), gap.partition),
            gap.stored_offset,
            gap.reason,
        ));
        let mut gaps = lock(&self.log_gaps);
        gaps.retain(|g| (g.topic.as_str(), g.partition) != (gap.topic.as_str(), gap.partition));
        gaps.push(gap);
        first
    }

    /// Forgets the gaps of a new pipeline incarnation (it checks its partitions again).
    pub fn clear_log_gaps(&self) {
        lock(&self.log_gaps).clear();
    }

    /// The log gaps found by the running pipeline.
    pub fn log_gaps(&self) -> Vec<LogGap> {
        lock(&self.log_gaps).clone()
    }

    /// Whether a forced reindex was requested (`--on-log-gap rebuild`), clearing it.
    pub fn take_rebuild_request(&self) -> bool {
        self.rebuild_requested.swap(false, Ordering::Relaxed)
    }

    /// Registers a partition the source consumes, starting at `next_offset`.
    pub fn add_partition(&self, topic: &str, partition: i32, next_offset: i64) {
        lock(&self.partitions)
            .entry(TopicPartition::new(topic, partition))
            .or_insert(PartitionPosition {
                committed: next_offset,
                processed: next_offset,
                high_watermark: -1,
                low_watermark: -1,
            });
    }

    /// Watermarks as last seen by the consumer.
    pub fn set_watermarks(&self, topic: &str, partition: i32, low: i64, high: i64) {
        if let Some(p) = lock(&self.partitions).get_mut(&TopicPartition::new(topic, partition)) {
            if high >= 0 {
                p.high_watermark = high;
            }
            if low >= 0 {
                p.low_watermark = low;
            }
        }
        self.refresh_caught_up();
    }

    /// Offsets processed by the writer (not yet committed).
    pub fn set_processed(&self, positions: &Positions) {
        let mut parts = lock(&self.partitions);
        for (key, next) in positions.iter() {
            if let Some(p) = parts.get_mut(key) {
                p.processed = next;
                p.high_watermark = p.high_watermark.max(next);
            }
        }
    }

    /// Offsets made searchable by an index commit.
    pub fn set_committed(&self, positions: &Positions) {
        {
            let mut parts = lock(&self.partitions);
            for (key, next) in positions.iter() {
                let p = parts.entry(key.clone()).or_insert(PartitionPosition {
                    committed: next,
                    processed: next,
                    high_watermark: -1,
                    low_watermark: -1,
                });
                p.committed = next;
                p.processed = p.processed.max(next);
                // Consumed offsets prove the high watermark is at least there.
                p.high_watermark = p.high_watermark.max(next);
            }
        }
        self.refresh_caught_up();
    }

    /// The next offset the writer has processed, of every known partition.
    pub fn processed_offsets(&self) -> Positions {
        self.offsets_by(|p| p.processed)
    }

    /// The next offset of the last index commit, of every known partition.
    pub fn committed_offsets(&self) -> Positions {
        self.offsets_by(|p| p.committed)
    }

    fn offsets_by(&self, pick: impl Fn(&PartitionPosition) -> i64) -> Positions {
        lock(&self.partitions)
            .iter()
            .map(|(k, p)| (k.clone(), pick(p)))
            .collect()
    }

    /// Every known partition, for `GET /status`.
    pub fn partitions(&self) -> Vec<PartitionStatus> {
        lock(&self.partitions)
            .iter()
            .map(|(tp, p)| {
                let known = |v: i64| (v >= 0).then_some(v);
                PartitionStatus {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    next_offset: p.committed,
                    processed_offset: p.processed,
                    high_watermark: known(p.high_watermark),
                    low_watermark: known(p.low_watermark),
                    lag: known(p.high_watermark).map(|_| p.lag()),
                }
            })
            .collect()
    }

    /// Messages not yet searchable, over all partitions with a known high watermark.
    pub fn total_lag(&self) -> i64 {
        lock(&self.partitions)
            .values()
            .filter(|p| p.high_watermark >= 0)
            .map(PartitionPosition::lag)
            .sum()
    }

    fn refresh_caught_up(&self) {
        if self.total_lag() == 0 {
            *lock(&self.caught_up_at) = Instant::now();
        }
    }

    /// How long the index has been behind the log (zero when caught up).
    pub fn behind_for(&self) -> Duration {
        if self.total_lag() == 0 {
            *lock(&self.caught_up_at) = Instant::now();
            return Duration::ZERO;
        }
        lock(&self.caught_up_at).elapsed()
    }

    /// Changes the index side of the status.
    pub fn update_index(&self, f: impl FnOnce(&mut IndexStatus)) {
        f(&mut lock(&self.index));
    }

    /// The index side of the status.
    pub fn index(&self) -> IndexStatus {
        lock(&self.index).clone()
    }

    /// `Ok` when the indexer can serve searches (the index is open and served): what
    /// `/ready` answers, for load balancers. Ingestion trouble (Kafka down, lag, a late
    /// producer clock) never takes an instance out of the balancer: every replica would
    /// leave at once while each could serve its index ([`Status::ingestion_problems`]).
    pub fn readiness(&self) -> Result<(), NotReady> {
        match self.serving.load(Ordering::Relaxed) {
            s if s == ServingState::Serving as u8 => Ok(()),
            s if s == ServingState::Stopping as u8 => Err(NotReady::new(
                "stopping",
                "the indexer is stopping".to_owned(),
            )),
            _ => Err(NotReady::new(
                "starting",
                "the indexer is starting".to_owned(),
            )),
        }
    }

    /// Everything wrong with ingestion, most fundamental first (empty: healthy): what
    /// `/health/ingestion` answers and `/ready` lists as `degraded`. Messages are short and
    /// carry stable codes; the raw errors are in the log, and in `detail` when `detailed`
    /// (authenticated callers).
    pub fn ingestion_problems_with(&self, detailed: bool) -> Vec<NotReady> {
        let mut problems = Vec::new();
        if let Some(error) = lock(&self.pipeline_error).clone() {
            if error.code == DISK_FULL {
                problems.push(NotReady {
                    reason: DISK_FULL,
                    message: "the data directory's disk is full: index commits fail and are retried with backoff; searches are served from the last commit; free space and ingestion resumes from there, losing nothing".to_owned(),
                    detail: detailed.then_some(error.detail),
                });
            } else {
                problems.push(NotReady {
                reason: "pipeline_failed",
                message: format!(
                    "ingestion pipeline failed and is restarting from its last commit ({}); details in the log",
                    error.code
                ),
                detail: detailed.then_some(error.detail),
            });
            }
        } else if !self.pipeline_running.load(Ordering::Relaxed) {
            problems.push(NotReady::new(
                "starting",
                "ingestion pipeline is starting".to_owned(),
            ));
        }
        if !self.is_connected() {
            let error = self.kafka_error();
            problems.push(NotReady {
                reason: "kafka_unreachable",
                message: format!(
                    "kafka cluster {} is unreachable ({})",
                    self.brokers,
                    error.as_ref().map_or("no answer yet", |e| e.code.as_str())
                ),
                detail: error.filter(|_| detailed).map(|e| e.detail),
            });
        }
        for gap in self.log_gaps() {
            if gap.action == GapAction::Continued {
                continue;
            }
            let what = match gap.reason {
                GapReason::Truncated => format!(
                    "starts at offset {}, past the stored offset {}: retention deleted records the index never saw",
                    gap.log_start, gap.stored_offset
                ),
                GapReason::BeyondEnd => format!(
                    "ends at offset {}, before the stored offset {}: the topic was recreated or the broker lost data",
                    gap.log_end, gap.stored_offset
                ),
            };
            let fix = match gap.action {
                GapAction::Rebuilding => "a forced reindex was started (--on-log-gap rebuild)",
                _ => "rebuild with `indexer reindex --force`, or accept the loss with --on-log-gap continue",
            };
            problems.push(NotReady::new(
                "log_gap",
                format!(
                    "{}[{}] is not consumed: the log {what}; {fix}",
                    gap.topic, gap.partition
                ),
            ));
        }
        let behind = self.behind_for();
        if behind > self.freshness_target {
            problems.push(NotReady::new(
                "lagging",
                format!(
                    "index is {} messages behind the log and has been for {:.1}s (target {:.1}s)",
                    self.total_lag(),
                    behind.as_secs_f64(),
                    self.freshness_target.as_secs_f64()
                ),
            ));
        }
        for path in FreshnessPath::ALL {
            if let Some(slo) = self.slo_state_of(path).filter(|s| s.breached) {
                problems.push(NotReady::new(
                    "freshness_slo_breached",
                    format!(
                        "degraded: {} path freshness p99 is {} ms over the last {} s, objective {} ms",
                        path.as_str(),
                        slo.p99_ms.unwrap_or(0),
                        slo.window_s,
                        slo.target_ms
                    ),
                ));
            }
        }
        let dead_letters = self.dead_letters();
        if let (true, Some(trouble)) = (dead_letters.pending > 0, &dead_letters.error) {
            problems.push(NotReady::new(
                "dead_letters_waiting",
                format!(
                    "{} dead letters wait ({}): {}",
                    dead_letters.pending, trouble.code, trouble.message
                ),
            ));
        }
        problems
    }

    /// [`Status::ingestion_problems_with`] for anyone (no raw errors).
    pub fn ingestion_problems(&self) -> Vec<NotReady> {
        self.ingestion_problems_with(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> Status {
        let s = Status::new("b:1".into(), false, "g".into(), Duration::from_millis(0));
        s.set_pipeline_running(true);
        s.set_connected(true, None);
        s
    }

    /// Regression (issue #14): raw errors (with file paths) were in `/status`, `/ready`
    /// and `/health/ingestion` for anyone.
    #[test]
    fn raw_errors_are_only_shown_to_authenticated_callers() {
        let s = status();
        s.set_pipeline_error(Fault::new(
            "data_directory",
            "data directory /var/lib/indexer/secret-path: permission denied",
        ));
        s.set_connected(
            false,
            Some(Fault::new("AllBrokersDown", "10.0.0.7:9092 refused")),
        );
        for p in s.ingestion_problems() {
            assert!(p.detail.is_none());
            assert!(
                !p.message.contains("/var/lib") && !p.message.contains("10.0.0.7"),
                "{p:?}"
            );
        }
        let problems = s.ingestion_problems();
        assert!(
            problems[0].message.contains("(data_directory)"),
            "{problems:?}"
        );
        assert!(
            problems[1].message.contains("(AllBrokersDown)"),
            "{problems:?}"
        );
        let detailed = s.ingestion_problems_with(true);
        assert!(detailed[0]
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("/var/lib"));
        assert!(detailed[1]
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("10.0.0.7"));
    }

    /// Issue #15: each path has its own objective; a slow live path breaches its own
    /// (tighter) objective even when the indexed path meets its one, and the problem
    /// names the path.
    #[test]
    fn each_freshness_path_is_held_to_its_own_objective() {
        let window = Duration::from_secs(60);
        let s = status()
            .with_slo(Slo::new(Duration::from_secs(2), window))
            .with_live_slo(Slo::new(Duration::from_millis(100), window));
        let now = Instant::now();
        let slow_live = (0..100).map(|_| (Some(500), Some(500)));
        s.freshness_of(FreshnessPath::live).record(now, slow_live);
        s.freshness_of(FreshnessPath::indexed)
            .record(now, (0..100).map(|_| (Some(500), Some(500))));
        assert!(s.slo_state_of(FreshnessPath::live).unwrap().breached);
        assert!(!s.slo_state_of(FreshnessPath::indexed).unwrap().breached);
        let problems = s.ingestion_problems();
        let slo: Vec<_> = problems
            .iter()
            .filter(|p| p.reason == "freshness_slo_breached")
            .collect();
        assert_eq!(slo.len(), 1, "{problems:?}");
        assert!(slo[0].message.contains("live path"), "{problems:?}");
    }

    #[test]
    fn lag_is_high_watermark_minus_committed() {
        let s = status();
        s.add_partition("t", 0, 5);
        assert_eq!(
            s.partitions()[0].lag,
            None,
            "unknown until a watermark is seen"
        );
        s.set_watermarks("t", 0, 0, 12);
        assert_eq!(s.partitions()[0].lag, Some(7));
        let mut pos = Positions::new();
        pos.insert(("t".to_owned(), 0), 12);
        s.set_committed(&pos);
        assert_eq!(s.partitions()[0].lag, Some(0));
        assert_eq!(s.total_lag(), 0);
    }

    #[test]
    fn offsets_lost_to_retention_are_not_lag() {
        let s = status();
        s.add_partition("t", 0, 0);
        s.set_watermarks("t", 0, 100, 100);
        assert_eq!(s.partitions()[0].lag, Some(0));
        s.set_watermarks("t", 0, 100, 130);
        assert_eq!(s.total_lag(), 30);
    }

    fn reasons(s: &Status) -> Vec<&'static str> {
        s.ingestion_problems().iter().map(|p| p.reason).collect()
    }

    /// Regression (issue #14): lag, Kafka and the pipeline used to make `/ready` answer
    /// 503, taking every replica out of the balancer at once.
    #[test]
    fn ingestion_trouble_is_reported_but_never_stops_serving() {
        let s = status();
        assert_eq!(s.readiness(), Ok(()));
        assert!(reasons(&s).is_empty());
        s.add_partition("t", 0, 0);
        s.set_watermarks("t", 0, 0, 3);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(reasons(&s), ["lagging"]);
        s.set_connected(
            false,
            Some(Fault::new("AllBrokersDown", "all brokers down")),
        );
        assert_eq!(reasons(&s), ["kafka_unreachable", "lagging"]);
        assert!(s.ingestion_problems()[0].message.contains("AllBrokersDown"));
        s.set_pipeline_error(Fault::new("index_write", "disk full"));
        assert_eq!(
            reasons(&s),
            ["pipeline_failed", "kafka_unreachable", "lagging"]
        );
        assert_eq!(s.readiness(), Ok(()), "still serving its index");
        s.set_stopping();
        assert_eq!(s.readiness().unwrap_err().reason, "stopping");
    }

    #[test]
    fn serving_starts_with_the_first_attempt_of_the_pipeline() {
        let s = Status::new("b:1".into(), false, "g".into(), Duration::from_secs(1));
        assert_eq!(s.readiness().unwrap_err().reason, "starting");
        s.set_serving();
        assert_eq!(s.readiness(), Ok(()));
        s.set_pipeline_error(Fault::new("kafka_consumer", "consumer refused"));
        assert_eq!(s.readiness(), Ok(()));
    }

    /// Regression: a pipeline incarnation that found the same log gap again (restarted
    /// before the rebuild swapped) counted it twice in `indexer_offset_resets_total`
    /// (flaky `a_log_gap_under_rebuild_starts_a_forced_reindex`: 2 resets for one gap).
    #[test]
    fn a_gap_found_again_by_a_new_incarnation_is_counted_once() {
        let s = status();
        let gap = |stored| LogGap {
            topic: "catalog.products".into(),
            partition: 0,
            reason: GapReason::Truncated,
            stored_offset: stored,
            log_start: 9,
            log_end: 61,
            action: GapAction::Rebuilding,
        };
        assert!(s.record_log_gap(gap(1)));
        s.clear_log_gaps();
        assert!(!s.record_log_gap(gap(1)), "the same loss, found again");
        assert_eq!(
            s.log_gaps(),
            vec![gap(1)],
            "still shown to the new incarnation"
        );
        assert!(
            s.record_log_gap(gap(5)),
            "another stored offset is another gap"
        );
        assert!(s.take_rebuild_request());
    }
}
