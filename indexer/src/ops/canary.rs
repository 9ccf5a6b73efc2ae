//! The freshness canary (opt-in, `--canary-interval`): every interval the indexer publishes
//! a synthetic product to the products topic and measures when the search path returns it.
//!
//! The canary product's id starts with `__canary__`: it is indexed like any product, but
//! every shopper query excludes it (results, facets, suggestions, counts). Only this checker
//! asks for it, by a one-time word in its title. One product per indexer instance is
//! updated over and over, so canaries do not accumulate.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use query_api::SearchParams;
use query_api::{Relevance, SharedIndex};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use schemas::{Event, ProductEvent, ProductUpsert};
use serde::Serialize;

use crate::models::KafkaProperties;
use crate::telemetry::CanaryMetrics;
use crate::util::now_ms;

/// Canary figures for `/status`.
#[derive(Debug, Default)]
pub struct CanaryStatus {
    /// Latency of the last canary found, ms.
    pub last_latency_ms: AtomicU64,
    /// When the last canary was found, epoch ms.
    pub last_found_at_ms: AtomicU64,
    /// Canaries found.
    pub found: AtomicU64,
    /// Canaries not found in time.
    pub failures: AtomicU64,
}

/// The canary in `GET /status`.
#[derive(Debug, Clone, Serialize)]
pub struct CanaryReport {
    /// Whether canaries run.
    pub enabled: bool,
    /// How often, ms (0 when off).
    pub interval_ms: u64,
    /// Canaries found.
    pub found: u64,
    /// Canaries not found in time.
    pub failures: u64,
    /// Latency of the last one found.
    pub last_latency_ms: Option<u64>,
    /// When the last one was found.
    pub last_found_at_ms: Option<u64>,
}

impl CanaryStatus {
    /// The figures for `/status`; `interval` is the configured canary interval.
    pub fn report(&self, interval: Option<Duration>) -> CanaryReport {
        let found = self.found.load(Ordering::Relaxed);
        CanaryReport {
            enabled: interval.is_some(),
            interval_ms: interval.map_or(0, |i| i.as_millis() as u64),
            found,
            failures: self.failures.load(Ordering::Relaxed),
            last_latency_ms: (found > 0).then(|| self.last_latency_ms.load(Ordering::Relaxed)),
            last_found_at_ms: (found > 0).then(|| self.last_found_at_ms.load(Ordering::Relaxed)),
        }
    }
}

/// The canary checker: publishes a canary product and searches for it, every interval.
pub struct Canary {
    /// Time between canaries.
    pub interval: Duration,
    /// A canary not found within this time is a failure.
    pub timeout: Duration,
    /// The cluster to publish to.
    pub brokers: String,
    /// The products topic.
    pub topic: String,
    /// Extra librdkafka properties.
    pub kafka_properties: KafkaProperties,
    /// The index searched.
    pub index: SharedIndex,
    /// The relevance settings of the shopper API.
    pub relevance: Relevance,
    /// Where latencies go.
    pub metrics: CanaryMetrics,
    /// Figures for `/status`.
    pub status: Arc<CanaryStatus>,
    /// Raised when the process stops.
    pub shutdown: Arc<AtomicBool>,
}

impl Canary {
    /// Publishes and checks canaries until shutdown.
    pub async fn run(self) {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", "catalog-indexer-canary")
            .set("message.timeout.ms", "10000");
        for (k, v) in &self.kafka_properties {
            config.set(k, v);
        }
        let producer: FutureProducer = match config.create() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot create the canary producer; canaries disabled");
                return;
            }
        };
        let product_id = format!(
            "{}{:08x}",
            schemas::index::CANARY_PREFIX,
            rand::random::<u32>()
        );
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.shutdown.load(Ordering::Relaxed) {
            ticker.tick().await;
            if self.shutdown.load(Ordering::Relaxed) {
                break;
            }
            self.one(&producer, &product_id).await;
        }
    }

    async fn one(&self, producer: &FutureProducer, product_id: &str) {
        let nonce = format!("canary{:016x}", rand::random::<u64>());
        let ts = now_ms();
        let event = Event::Product(ProductEvent::Upsert(ProductUpsert {
            product_id: product_id.to_owned(),
            version: ts * 1000,
            ts,
            title: format!("Freshness canary {nonce}"),
            description: String::new(),
            brand: String::new(),
            category: Vec::new(),
            attributes: Default::default(),
        }));
        let payload = event.to_json();
        let record = FutureRecord::to(&self.topic)
            .key(product_id)
            .payload(&payload);
        if let Err((e, _)) = producer
            .send(record, Timeout::After(Duration::from_secs(10)))
            .await
        {
            tracing::warn!(error = %e, "canary not published");
            self.fail();
            return;
        }
        self.metrics.published.inc();
        let started = Instant::now();
        let params = SearchParams {
            q: nonce.clone(),
            per_page: 1,
            page: 1,
            ..SearchParams::default()
        };
        while started.elapsed() < self.timeout && !self.shutdown.load(Ordering::Relaxed) {
            let index = self.index.current();
            let (relevance, params) = (self.relevance, params.clone());
            let found = tokio::task::spawn_blocking(move || {
                query_api::search_with(
                    &index,
                    relevance,
                    &params,
                    &query_api::SearchOptions {
                        include_canaries: true,
                        deadline: None,
                    },
                )
                .map(|r| r.total > 0)
                .unwrap_or(false)
            })
            .await
            .unwrap_or(false);
            if found {
                let found_at = now_ms();
                let latency = found_at.saturating_sub(ts);
                self.metrics.latency.observe(latency as f64 / 1000.0);
                self.metrics.last_latency.set(latency as f64 / 1000.0);
                self.status
                    .last_latency_ms
                    .store(latency, Ordering::Relaxed);
                self.status
                    .last_found_at_ms
                    .store(found_at, Ordering::Relaxed);
                self.status.found.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(latency_ms = latency, "canary found");
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::warn!(
            timeout_s = self.timeout.as_secs(),
            "canary not searchable in time"
        );
        self.fail();
    }

    fn fail(&self) {
        self.metrics.failures.inc();
        self.status.failures.fetch_add(1, Ordering::Relaxed);
    }
}
