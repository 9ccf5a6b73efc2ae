//! Prometheus metrics of the indexer, all in one place: the pipeline's, the rebuild's and the
//! canary's. Names are part of the operator contract (README, alert rules, dashboard): keep
//! them stable. Label values are bounded: enums, configured topic names, partition numbers.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::models::CommitTrigger;

/// What happened to a consumed event.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum EventOutcome {
    /// Newer than the stored record: merged.
    applied,
    /// Not newer than the stored record: ignored.
    stale,
    /// Failed decoding or validation.
    invalid,
    /// Written to the dead-letter topic.
    dlq,
}

impl EventOutcome {
    /// Every outcome.
    pub const ALL: [EventOutcome; 4] = [
        EventOutcome::applied,
        EventOutcome::stale,
        EventOutcome::invalid,
        EventOutcome::dlq,
    ];
}

/// Labels of `indexer_events_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// One of the four configured event topics.
    pub topic: String,
    /// What happened to the event.
    pub outcome: EventOutcome,
}

/// The `indexer_events_total` counters of one topic, by outcome.
#[derive(Clone)]
pub struct EventCounters {
    /// Merged.
    pub applied: Counter,
    /// Not newer than the stored record.
    pub stale: Counter,
    /// Failed decoding.
    pub invalid: Counter,
    /// Written to the dead-letter topic.
    pub dlq: Counter,
}

/// Which path made a change searchable (issue #15).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum FreshnessPath {
    /// Price and stock updated in place (live values), visible in milliseconds.
    live,
    /// Re-indexed in Tantivy and visible at the next commit.
    indexed,
}

impl FreshnessPath {
    /// Both paths.
    pub const ALL: [FreshnessPath; 2] = [FreshnessPath::live, FreshnessPath::indexed];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FreshnessPath::live => "live",
            FreshnessPath::indexed => "indexed",
        }
    }
}

/// Labels of `indexer_freshness_seconds` and `indexer_pipeline_latency_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PathLabels {
    /// `live` or `indexed`.
    pub path: FreshnessPath,
}

/// A histogram family with the latency buckets.
pub type LatencyFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Labels of `indexer_commits_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TriggerLabels {
    /// Why the commit happened.
    pub trigger: CommitTrigger,
}

/// How a rebuild ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum ReindexOutcome {
    /// Swapped in.
    done,
    /// Abandoned; the live index is unchanged.
    failed,
}

/// Why a dead letter could not be delivered.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum DlqFailureReason {
    /// Over the producer's or the broker's message size limit even cut down.
    too_large,
    /// Refused by the broker as an invalid record.
    rejected,
}

impl DlqFailureReason {
    /// The reason's label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DlqFailureReason::too_large => "too_large",
            DlqFailureReason::rejected => "rejected",
        }
    }
}

impl std::fmt::Display for DlqFailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Labels of `indexer_dlq_failures_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DlqFailureLabels {
    /// Why the letter could not be delivered.
    pub reason: DlqFailureReason,
}

/// Which way an event's `ts` was implausible.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum SkewDirection {
    /// Ahead of its Kafka timestamp.
    future,
    /// Far behind it.
    past,
}

/// Labels of `indexer_clock_skew_events_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SkewLabels {
    /// Which way.
    pub direction: SkewDirection,
}

/// Labels of `indexer_offset_resets_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OffsetResetLabels {
    /// One of the event topics.
    pub topic: String,
    pub partition: i32,
    /// Why the stored offset had no record.
    pub reason: super::status::GapReason,
}

/// Labels of `indexer_reindexes_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// How the rebuild ended.
    pub outcome: ReindexOutcome,
}

/// Labels of `indexer_consumer_lag`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    /// One of the event topics.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
}

/// Buckets from 10 ms to 60 s for freshness and latency histograms.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0,
];

/// Every metric the indexer exports.
#[derive(Clone)]
pub struct Metrics {
    /// `indexer_events_total{topic,outcome}`.
    pub events: Family<EventLabels, Counter>,
    /// `indexer_commits_total{trigger}`.
    pub commits: Family<TriggerLabels, Counter>,
    /// `indexer_commit_duration_seconds`.
    pub commit_duration: Histogram,
    /// `indexer_docs_per_commit`.
    pub docs_per_commit: Histogram,
    /// `indexer_segments`.
    pub segments: Gauge,
    /// `indexer_index_docs`.
    pub index_docs: Gauge,
    /// `indexer_store_records`.
    pub store_records: Gauge,
    /// `indexer_consumer_lag{topic,partition}`.
    pub consumer_lag: Family<PartitionLabels, Gauge>,
    /// `indexer_last_commit_timestamp_seconds`.
    pub last_commit_timestamp: Gauge<f64, AtomicU64>,
    /// `indexer_freshness_seconds{path}`.
    pub freshness: LatencyFamily<PathLabels>,
    /// `indexer_pipeline_latency_seconds{path}`.
    pub pipeline_latency: LatencyFamily<PathLabels>,
    /// `indexer_pipeline_restarts_total`.
    pub pipeline_restarts: Counter,
    /// `indexer_kafka_connected`.
    pub kafka_connected: Gauge,
    /// `indexer_ready`.
    pub ready: Gauge,
    /// `indexer_ingestion_healthy`.
    pub ingestion_healthy: Gauge,
    /// `indexer_clock_skew_events_total{direction}`.
    pub clock_skew: Family<SkewLabels, Counter>,
    /// `indexer_dlq_failures_total{reason}`.
    pub dlq_failures: Family<DlqFailureLabels, Counter>,
    /// `indexer_offset_resets_total{topic,partition,reason}`: log gaps found at assignment.
    pub offset_resets: Family<OffsetResetLabels, Counter>,
    /// `indexer_dlq_pending`.
    pub dlq_pending: Gauge,
    /// `indexer_data_dir_free_bytes`: space left on the data directory's filesystem.
    pub data_dir_free: Gauge,
    /// `indexer_data_dir_size_bytes`: that filesystem's size.
    pub data_dir_size: Gauge,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            events: Family::default(),
            commits: Family::default(),
            commit_duration: Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            docs_per_commit: Histogram::new([
                1.0, 10.0, 100.0, 1_000.0, 5_000.0, 10_000.0, 25_000.0, 50_000.0, 100_000.0,
            ]),
            segments: Gauge::default(),
            index_docs: Gauge::default(),
            store_records: Gauge::default(),
            consumer_lag: Family::default(),
            last_commit_timestamp: Gauge::default(),
            freshness: Family::new_with_constructor(latency_histogram),
            pipeline_latency: Family::new_with_constructor(latency_histogram),
            pipeline_restarts: Counter::default(),
            kafka_connected: Gauge::default(),
            ready: Gauge::default(),
            ingestion_healthy: Gauge::default(),
            clock_skew: Family::default(),
            dlq_failures: Family::default(),
            offset_resets: Family::default(),
            dlq_pending: Gauge::default(),
            data_dir_free: Gauge::default(),
            data_dir_size: Gauge::default(),
        };
        registry.register(
            "indexer_events",
            "Events consumed, by topic and outcome (applied, stale, invalid, dlq)",
            m.events.clone(),
        );
        registry.register(
            "indexer_commits",
            "Index commits, by what triggered them",
            m.commits.clone(),
        );
        registry.register(
            "indexer_commit_duration_seconds",
            "Time to build, commit and publish one index commit",
            m.commit_duration.clone(),
        );
        registry.register(
            "indexer_docs_per_commit",
            "Product documents re-indexed per commit",
            m.docs_per_commit.clone(),
        );
        registry.register(
            "indexer_segments",
            "Searchable segments in the index",
            m.segments.clone(),
        );
        registry.register(
            "indexer_index_docs",
            "Visible (searchable) products in the index",
            m.index_docs.clone(),
        );
        registry.register(
            "indexer_store_records",
            "Store quantity records held for pickup in store, one per (offer, store) ever reported",
            m.store_records.clone(),
        );
        registry.register(
            "indexer_consumer_lag",
            "Messages not yet searchable per topic-partition (high watermark minus committed next offset)",
            m.consumer_lag.clone(),
        );
        registry.register(
            "indexer_last_commit_timestamp_seconds",
            "Unix time of the last index commit",
            m.last_commit_timestamp.clone(),
        );
        registry.register(
            "indexer_freshness_seconds",
            "Source freshness: time from the event's ts at the source until it is searchable, per path (live: price and stock in place; indexed: re-indexed)",
            m.freshness.clone(),
        );
        registry.register(
            "indexer_pipeline_latency_seconds",
            "Pipeline latency: time from the Kafka message timestamp until it is searchable, per path",
            m.pipeline_latency.clone(),
        );
        registry.register(
            "indexer_pipeline_restarts",
            "Restarts of the ingestion pipeline after a failure",
            m.pipeline_restarts.clone(),
        );
        registry.register(
            "indexer_kafka_connected",
            "1 when the Kafka cluster answers, 0 otherwise",
            m.kafka_connected.clone(),
        );
        registry.register(
            "indexer_ready",
            "1 when /ready answers 200 (the index is served), 0 otherwise",
            m.ready.clone(),
        );
        registry.register(
            "indexer_ingestion_healthy",
            "1 when /health/ingestion answers 200 (pipeline running, Kafka reachable, not lagging, freshness SLO met), 0 otherwise",
            m.ingestion_healthy.clone(),
        );
        registry.register(
            "indexer_offset_resets",
            "Partitions whose stored offset the log no longer had at assignment (truncated: below the log start; beyond_end: past the log end, a recreated topic), by partition and reason",
            m.offset_resets.clone(),
        );
        registry.register(
            "indexer_clock_skew_events",
            "Events whose ts was implausible against their Kafka timestamp (over 5 min ahead, or over a year behind), clamped to it, by direction",
            m.clock_skew.clone(),
        );
        registry.register(
            "indexer_dlq_failures",
            "Invalid events whose dead letter could not be delivered even cut down, skipped (--dlq-failure skip), by reason",
            m.dlq_failures.clone(),
        );
        registry.register(
            "indexer_dlq_pending",
            "Dead letters not confirmed by the dead-letter topic yet (their partitions are committed only up to the first of them)",
            m.dlq_pending.clone(),
        );
        registry.register(
            "indexer_data_dir_free_bytes",
            "Bytes available on the data directory's filesystem (commits fail once the next segment no longer fits)",
            m.data_dir_free.clone(),
        );
        registry.register(
            "indexer_data_dir_size_bytes",
            "Size of the data directory's filesystem, in bytes",
            m.data_dir_size.clone(),
        );
        m
    }

    /// Creates every series whose labels are known up front, so dashboards and alerts see
    /// zeros rather than missing series.
    pub fn preset<'a>(&self, topics: impl IntoIterator<Item = &'a String>) {
        for topic in topics {
            for outcome in EventOutcome::ALL {
                let _ = self.events.get_or_create(&EventLabels {
                    topic: topic.clone(),
                    outcome,
                });
            }
        }
        for trigger in CommitTrigger::ALL {
            let _ = self.commits.get_or_create(&TriggerLabels { trigger });
        }
        for path in FreshnessPath::ALL {
            let _ = self.freshness.get_or_create(&PathLabels { path });
            let _ = self.pipeline_latency.get_or_create(&PathLabels { path });
        }
        for direction in [SkewDirection::future, SkewDirection::past] {
            let _ = self.clock_skew.get_or_create(&SkewLabels { direction });
        }
        for reason in [DlqFailureReason::too_large, DlqFailureReason::rejected] {
            let _ = self
                .dlq_failures
                .get_or_create(&DlqFailureLabels { reason });
        }
    }

    /// The four outcome counters of `topic`, resolved once by a stage that counts every
    /// event.
    pub fn event_counters(&self, topic: &str) -> EventCounters {
        let counter = |outcome| {
            self.events.get_or_create_owned(&EventLabels {
                topic: topic.to_owned(),
                outcome,
            })
        };
        EventCounters {
            applied: counter(EventOutcome::applied),
            stale: counter(EventOutcome::stale),
            invalid: counter(EventOutcome::invalid),
            dlq: counter(EventOutcome::dlq),
        }
    }

    /// Sets the lag gauge of one partition.
    pub fn set_lag(&self, topic: &str, partition: i32, lag: i64) {
        self.consumer_lag
            .get_or_create(&PartitionLabels {
                topic: topic.to_owned(),
                partition,
            })
            .set(lag);
    }
}

/// Reindex metrics (in the process registry).
#[derive(Clone)]
pub struct ReindexMetrics {
    /// `indexer_reindex_events_total`.
    pub events: Counter,
    /// `indexer_reindex_events_per_second`.
    pub events_per_second: Gauge<f64, AtomicU64>,
    /// `indexer_reindex_remaining_events`.
    pub remaining: Gauge,
    /// `indexer_reindex_running`.
    pub running: Gauge,
    /// `indexer_reindexes_total{outcome}`.
    pub outcomes: Family<OutcomeLabels, Counter>,
}

impl ReindexMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &mut Registry) -> ReindexMetrics {
        let m = ReindexMetrics {
            events: Default::default(),
            events_per_second: Default::default(),
            remaining: Default::default(),
            running: Default::default(),
            outcomes: Default::default(),
        };
        registry.register(
            "indexer_reindex_events",
            "Events replayed by rebuilds",
            m.events.clone(),
        );
        registry.register(
            "indexer_reindex_events_per_second",
            "Replay rate of the running rebuild",
            m.events_per_second.clone(),
        );
        registry.register(
            "indexer_reindex_remaining_events",
            "Events the running rebuild still has to replay to catch up with the live index",
            m.remaining.clone(),
        );
        registry.register(
            "indexer_reindex_running",
            "1 while a rebuild runs",
            m.running.clone(),
        );
        registry.register(
            "indexer_reindexes",
            "Finished rebuilds by outcome (done, failed)",
            m.outcomes.clone(),
        );
        m
    }

    /// Counts a finished rebuild.
    pub fn finished(&self, outcome: ReindexOutcome) {
        self.outcomes
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }
}

/// Freshness canary metrics.
#[derive(Clone)]
pub struct CanaryMetrics {
    /// `indexer_canary_latency_seconds`.
    pub latency: Histogram,
    /// `indexer_canary_last_latency_seconds`.
    pub last_latency: Gauge<f64, AtomicU64>,
    /// `indexer_canaries_total`.
    pub published: Counter,
    /// `indexer_canary_failures_total`.
    pub failures: Counter,
}

impl CanaryMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &mut Registry) -> CanaryMetrics {
        let m = CanaryMetrics {
            latency: Histogram::new(LATENCY_BUCKETS),
            last_latency: Gauge::default(),
            published: Counter::default(),
            failures: Counter::default(),
        };
        registry.register(
            "indexer_canary_latency_seconds",
            "Time from publishing a canary product to finding it through the search path",
            m.latency.clone(),
        );
        registry.register(
            "indexer_canary_last_latency_seconds",
            "Latency of the last canary found",
            m.last_latency.clone(),
        );
        registry.register(
            "indexer_canaries",
            "Canary products published",
            m.published.clone(),
        );
        registry.register(
            "indexer_canary_failures",
            "Canaries not found in time (or not published)",
            m.failures.clone(),
        );
        m
    }
}

/// Renders a registry in the Prometheus text exposition format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}
