//! Prometheus metrics of the indexer. Names are part of the operator contract (README,
//! alert rules, dashboard): keep them stable.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

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

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub topic: String,
    pub outcome: EventOutcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TriggerLabels {
    pub trigger: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub topic: String,
    pub partition: String,
}

/// Buckets from 10 ms to 60 s for freshness and latency histograms.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0,
];

/// Every metric the indexer exports.
#[derive(Clone)]
pub struct Metrics {
    pub events: Family<EventLabels, Counter>,
    pub commits: Family<TriggerLabels, Counter>,
    pub commit_duration: Histogram,
    pub docs_per_commit: Histogram,
    pub segments: Gauge,
    pub index_docs: Gauge,
    pub consumer_lag: Family<PartitionLabels, Gauge>,
    pub last_commit_timestamp: Gauge<f64, AtomicU64>,
    pub freshness: Histogram,
    pub pipeline_latency: Histogram,
    pub pipeline_restarts: Counter,
    pub kafka_connected: Gauge,
    pub ready: Gauge,
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
            consumer_lag: Family::default(),
            last_commit_timestamp: Gauge::default(),
            freshness: Histogram::new(LATENCY_BUCKETS),
            pipeline_latency: Histogram::new(LATENCY_BUCKETS),
            pipeline_restarts: Counter::default(),
            kafka_connected: Gauge::default(),
            ready: Gauge::default(),
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
            "Source freshness: time from the event's ts at the source until it is searchable",
            m.freshness.clone(),
        );
        registry.register(
            "indexer_pipeline_latency_seconds",
            "Pipeline latency: time from the Kafka message timestamp until it is searchable",
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
            "1 when /ready answers 200, 0 otherwise",
            m.ready.clone(),
        );
        m
    }

    /// Creates every series whose labels are known up front, so dashboards and alerts see
    /// zeros rather than missing series.
    pub fn preset(&self, topics: &[String]) {
        for topic in topics {
            for outcome in [
                EventOutcome::applied,
                EventOutcome::stale,
                EventOutcome::invalid,
                EventOutcome::dlq,
            ] {
                let _ = self.events.get_or_create(&EventLabels {
                    topic: topic.clone(),
                    outcome,
                });
            }
        }
        for trigger in [
            crate::commit::CommitTrigger::Interval,
            crate::commit::CommitTrigger::DocBudget,
            crate::commit::CommitTrigger::MemoryBudget,
            crate::commit::CommitTrigger::Shutdown,
        ] {
            let _ = self.commits.get_or_create(&TriggerLabels {
                trigger: trigger.as_str().to_owned(),
            });
        }
    }

    pub fn event(&self, topic: &str, outcome: EventOutcome) {
        self.events
            .get_or_create(&EventLabels {
                topic: topic.to_owned(),
                outcome,
            })
            .inc();
    }
}

/// Renders a registry in the Prometheus text exposition format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}
