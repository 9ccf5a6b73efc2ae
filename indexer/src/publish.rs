//! `indexer generate`: publishes a generated catalog, then optionally a stream of changes,
//! at a bounded rate, to any Kafka cluster.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use crate::config::GenerateArgs;
use crate::generate::{messages, now_ms, Catalog, GenerateError};
use crate::source::{kind_index, Topics};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Catalog(#[from] GenerateError),
    #[error("cannot create the kafka producer: {0}")]
    Producer(rdkafka::error::KafkaError),
    #[error("publishing to {topic} failed: {source}")]
    Send {
        topic: String,
        source: rdkafka::error::KafkaError,
    },
    #[error("{0} messages were not acknowledged by the cluster before the timeout")]
    Unflushed(String),
}

/// What a publication did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    pub events: u64,
    pub invalid: u64,
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

/// Runs `indexer generate` until done or `stop` is raised.
pub fn run(args: &GenerateArgs, stop: Arc<AtomicBool>) -> Result<Published, PublishError> {
    let brokers = args.kafka.brokers.clone().unwrap_or_default();
    let topics = Topics::from_args(&args.kafka);
    let catalog = match &args.catalog_csv {
        Some(path) => Catalog::from_csv(args.seed, args.products as usize, path)?,
        None => Catalog::synthetic(args.seed, args.products as usize),
    }
    .with_max_offers(args.max_offers as usize);
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &brokers)
        .set("client.id", "catalog-generator")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "500000");
    for (k, v) in &args.kafka.kafka_properties {
        config.set(k, v);
    }
    let producer: ThreadedProducer<DefaultProducerContext> =
        config.create().map_err(PublishError::Producer)?;

    let start_version = args.start_version.unwrap_or_else(|| now_ms() * 1000);
    let stream_limit = match (args.stream, args.duration) {
        (false, _) => None,
        (true, Some(d)) => Some(Some((d.as_secs_f64() * args.rate as f64).ceil() as u64)),
        (true, None) => Some(None),
    };
    let bar = ProgressBar::new(1);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} catalog {bar:40} {pos}/{len} events ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let catalog_len = if args.no_catalog {
        0
    } else {
        catalog.event_count()
    };
    bar.set_length(catalog_len.max(1));
    eprintln!(
        "publishing {} to {brokers} at up to {} events/s{}",
        if args.no_catalog {
            "changes".to_owned()
        } else {
            format!(
                "a catalog of {} products ({catalog_len} events)",
                catalog.len()
            )
        },
        args.rate,
        if args.stream {
            ", then streaming changes"
        } else {
            ""
        }
    );

    let mut pacer = Pacer::new(args.rate);
    let mut published = Published::default();
    let mut last_report = Instant::now();
    let mut since_report = 0u64;
    let all = messages(
        &catalog,
        args.seed,
        start_version,
        !args.no_catalog,
        stream_limit,
        args.invalid_ratio,
        now_ms,
    );
    for message in all {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        pacer.wait();
        let topic = &topics.events[kind_index(message.kind)];
        let mut record: BaseRecord<'_, str, [u8]> = BaseRecord::to(topic).key(&message.key);
        if let Some(p) = &message.payload {
            record = record.payload(p);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, r)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((source, _)) => {
                    return Err(PublishError::Send {
                        topic: topic.clone(),
                        source,
                    })
                }
            }
        }
        published.events += 1;
        published.invalid += u64::from(message.invalid.is_some());
        if published.events <= catalog_len {
            bar.inc(1);
            if published.events == catalog_len {
                bar.finish_and_clear();
                eprintln!("catalog published: {catalog_len} events");
            }
        } else {
            since_report += 1;
            if last_report.elapsed() >= Duration::from_secs(5) {
                eprintln!(
                    "streaming: {} changes so far, {:.0} events/s",
                    published.events - catalog_len,
                    since_report as f64 / last_report.elapsed().as_secs_f64()
                );
                last_report = Instant::now();
                since_report = 0;
            }
        }
    }
    bar.finish_and_clear();
    producer
        .flush(Duration::from_secs(60))
        .map_err(|e| PublishError::Unflushed(e.to_string()))?;
    eprintln!(
        "published {} events ({} invalid)",
        published.events, published.invalid
    );
    Ok(published)
}
