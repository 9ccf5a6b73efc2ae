//! `indexer generate`: publishes a generated catalog, then optionally a stream of changes,
//! at a bounded rate, to any Kafka cluster.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use std::path::PathBuf;

use super::generate::{messages, GenerateError, GeneratedCatalog, Message};
use crate::models::{KafkaProperties, Topics};
use crate::util::now_ms;

/// Why a publication stopped.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The catalog could not be built (CSV).
    #[error(transparent)]
    Catalog(#[from] GenerateError),
    /// librdkafka refused the producer.
    #[error("cannot create the kafka producer: {0}")]
    Producer(rdkafka::error::KafkaError),
    /// A message could not be queued.
    #[error("publishing to {topic} failed: {source}")]
    Send {
        /// Where to.
        topic: String,
        /// Why.
        source: rdkafka::error::KafkaError,
    },
    /// The cluster did not acknowledge everything in time.
    #[error("{0} messages were not acknowledged by the cluster before the timeout")]
    Unflushed(String),
}

/// What a publication did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    /// Messages published.
    pub events: u64,
    /// Of which deliberately invalid.
    pub invalid: u64,
}

/// Where the products come from.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogSource {
    /// The synthetic vocabulary.
    Synthetic,
    /// Rows of a CSV of real listings.
    Csv(PathBuf),
}

/// What `indexer generate` publishes, and where.
#[derive(Debug, Clone)]
pub struct Publication {
    /// Bootstrap servers.
    pub brokers: String,
    /// The topics.
    pub topics: Topics,
    /// Extra librdkafka properties.
    pub kafka_properties: KafkaProperties,
    /// Where the products come from.
    pub source: CatalogSource,
    /// Products in the catalog.
    pub products: usize,
    /// Offers per product, at most.
    pub max_offers: usize,
    /// Stores with quantities (0: online only).
    pub stores: usize,
    /// Events per second, at most.
    pub rate: u64,
    /// The seed of catalog and changes.
    pub seed: u64,
    /// Share of deliberately invalid events.
    pub invalid_ratio: f64,
    /// Publish the catalog first.
    pub catalog: bool,
    /// Then changes: `None` none, `Some(None)` until stopped, `Some(Some(n))` n of them.
    pub changes: Option<Option<u64>>,
    /// First version number (default: the time in microseconds).
    pub start_version: Option<u64>,
}

/// A token bucket: at most `rate` per second, in bursts of at most a tenth of a second.
struct Pacer {
    rate: f64,
    started: Instant,
    sent: u64,
}

impl Pacer {
    fn new(rate: u64) -> Pacer {
        Pacer {
            rate: rate as f64,
            started: Instant::now(),
            sent: 0,
        }
    }

    fn wait(&mut self) {
        self.sent += 1;
        let due = self.started + Duration::from_secs_f64(self.sent as f64 / self.rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            if wait > Duration::from_millis(2) {
                std::thread::sleep(wait);
            }
        }
    }
}

impl Publication {
    fn catalog(&self) -> Result<GeneratedCatalog, GenerateError> {
        let catalog = match &self.source {
            CatalogSource::Csv(path) => GeneratedCatalog::from_csv(self.seed, self.products, path)?,
            CatalogSource::Synthetic => GeneratedCatalog::synthetic(self.seed, self.products),
        };
        Ok(catalog
            .with_max_offers(self.max_offers)
            .with_stores(self.stores))
    }

    fn producer(&self) -> Result<ThreadedProducer<DefaultProducerContext>, PublishError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", "catalog-generator")
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            .set("queue.buffering.max.messages", "500000");
        for (k, v) in &self.kafka_properties {
            config.set(k, v);
        }
        config.create().map_err(PublishError::Producer)
    }

    fn announce(&self, catalog: &GeneratedCatalog, catalog_len: u64) {
        eprintln!(
            "publishing {} to {} at up to {} events/s{}",
            if self.catalog {
                format!(
                    "a catalog of {} products ({catalog_len} events)",
                    catalog.len()
                )
            } else {
                "changes".to_owned()
            },
            self.brokers,
            self.rate,
            if self.changes.is_some() {
                ", then streaming changes"
            } else {
                ""
            }
        );
    }
}

/// Progress lines: a bar while the catalog goes out, then a line every 5 s of changes.
struct Report {
    bar: ProgressBar,
    catalog_len: u64,
    last: Instant,
    since_last: u64,
}

impl Report {
    fn new(catalog_len: u64) -> Report {
        let bar = ProgressBar::new(1);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} catalog {bar:40} {pos}/{len} events ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_length(catalog_len.max(1));
        Report {
            bar,
            catalog_len,
            last: Instant::now(),
            since_last: 0,
        }
    }

    /// After the `events`-th message.
    fn published(&mut self, events: u64) {
        if events <= self.catalog_len {
            self.bar.inc(1);
            if events == self.catalog_len {
                self.bar.finish_and_clear();
                eprintln!("catalog published: {} events", self.catalog_len);
            }
            return;
        }
        self.since_last += 1;
        if self.last.elapsed() >= Duration::from_secs(5) {
            eprintln!(
                "streaming: {} changes so far, {:.0} events/s",
                events - self.catalog_len,
                self.since_last as f64 / self.last.elapsed().as_secs_f64()
            );
            self.last = Instant::now();
            self.since_last = 0;
        }
    }
}

/// Queues one message, waiting while librdkafka's queue is full.
fn send(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    message: &Message,
) -> Result<(), PublishError> {
    let mut record: BaseRecord<'_, str, [u8]> = BaseRecord::to(topic).key(&message.key);
    if let Some(p) = &message.payload {
        record = record.payload(p);
    }
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((e, r)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                record = r;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((source, _)) => {
                return Err(PublishError::Send {
                    topic: topic.to_owned(),
                    source,
                })
            }
        }
    }
}

/// Publishes `publication` until done or `stop` is raised.
pub fn run(publication: &Publication, stop: Arc<AtomicBool>) -> Result<Published, PublishError> {
    let catalog = publication.catalog()?;
    let producer = publication.producer()?;
    let start_version = publication.start_version.unwrap_or_else(|| now_ms() * 1000);
    let catalog_len = if publication.catalog {
        catalog.event_count()
    } else {
        0
    };
    publication.announce(&catalog, catalog_len);
    let mut report = Report::new(catalog_len);
    let mut pacer = Pacer::new(publication.rate);
    let mut published = Published::default();
    let all = messages(
        &catalog,
        publication.seed,
        start_version,
        publication.catalog,
        publication.changes,
        publication.invalid_ratio,
        now_ms,
    );
    for message in all {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        pacer.wait();
        send(&producer, publication.topics.topic(message.kind), &message)?;
        published.events += 1;
        published.invalid += u64::from(message.invalid.is_some());
        report.published(published.events);
    }
    report.bar.finish_and_clear();
    producer
        .flush(Duration::from_secs(60))
        .map_err(|e| PublishError::Unflushed(e.to_string()))?;
    eprintln!(
        "published {} events ({} invalid)",
        published.events, published.invalid
    );
    Ok(published)
}
