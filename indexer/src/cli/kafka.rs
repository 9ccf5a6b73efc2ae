//! The Kafka connection and topic names every command that talks to Kafka shares.

use clap::Args;

use super::parsers::{parse_brokers, parse_property, parse_topic};
use crate::ingest::dead_letters::DlqFailure;
use crate::ingest::source::LogGapPolicy;
use crate::ingest::KafkaSettings;
use crate::models::{KafkaProperties, PerKind, Topics};

/// Kafka connection and topic names, shared by every command that talks to Kafka. (Its
/// `Debug` shows the keys of `--kafka-property`, never the values.)
#[derive(Clone, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers (`host:port,...`). Without it, an embedded Kafka-protocol broker
    /// is started in-process and its address printed.
    #[arg(long, env = "INDEXER_BROKERS", value_parser = parse_brokers)]
    pub brokers: Option<String>,

    /// Topic of product events.
    #[arg(long, env = "INDEXER_TOPIC_PRODUCTS", default_value = "catalog.products", value_parser = parse_topic)]
    pub topic_products: String,

    /// Topic of offer events.
    #[arg(long, env = "INDEXER_TOPIC_OFFERS", default_value = "catalog.offers", value_parser = parse_topic)]
    pub topic_offers: String,

    /// Topic of price events.
    #[arg(long, env = "INDEXER_TOPIC_PRICES", default_value = "catalog.prices", value_parser = parse_topic)]
    pub topic_prices: String,

    /// Topic of inventory events.
    #[arg(long, env = "INDEXER_TOPIC_INVENTORY", default_value = "catalog.inventory", value_parser = parse_topic)]
    pub topic_inventory: String,

    /// Dead-letter topic: invalid events go there with headers saying where from and why.
    #[arg(long, env = "INDEXER_TOPIC_DLQ", default_value = "catalog.dlq", value_parser = parse_topic)]
    pub topic_dlq: String,

    /// Partitions per topic of the embedded broker (ignored with --brokers).
    #[arg(long, env = "INDEXER_EMBEDDED_PARTITIONS", default_value_t = 8,
          value_parser = clap::value_parser!(i32).range(1..=256))]
    pub embedded_partitions: i32,

    /// Extra librdkafka client properties, `key=value` (repeatable), e.g.
    /// `security.protocol=SASL_SSL`.
    #[arg(long = "kafka-property", env = "INDEXER_KAFKA_PROPERTIES", value_delimiter = ',', value_parser = parse_property, hide_env_values = true)]
    pub kafka_properties: Vec<(String, String)>,
}

impl std::fmt::Debug for KafkaArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaArgs")
            .field("brokers", &self.brokers)
            .field("topic_products", &self.topic_products)
            .field("topic_offers", &self.topic_offers)
            .field("topic_prices", &self.topic_prices)
            .field("topic_inventory", &self.topic_inventory)
            .field("topic_dlq", &self.topic_dlq)
            .field("embedded_partitions", &self.embedded_partitions)
            .field(
                "kafka_properties",
                &KafkaProperties::from(self.kafka_properties.clone()),
            )
            .finish()
    }
}

impl KafkaArgs {
    /// The four event topics, in `EventKind::ALL` order.
    pub fn event_topics(&self) -> [&str; 4] {
        [
            &self.topic_products,
            &self.topic_offers,
            &self.topic_prices,
            &self.topic_inventory,
        ]
    }

    /// Where a pipeline reads from: these topics on `brokers` (the embedded broker's, or
    /// the cluster's), mirrored to `group_id`.
    pub fn settings(&self, brokers: String, group_id: &str) -> KafkaSettings {
        KafkaSettings {
            brokers,
            group_id: group_id.to_owned(),
            properties: self.kafka_properties.clone().into(),
            topics: Topics::from(self),
            dlq_failure: DlqFailure::default(),
            on_log_gap: LogGapPolicy::default(),
        }
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        let mut all: Vec<&str> = self.event_topics().to_vec();
        all.push(&self.topic_dlq);
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != all.len() {
            return Err(format!(
                "topic names must be distinct (products, offers, prices, inventory, dlq), got {all:?}"
            ));
        }
        for (key, value) in &self.kafka_properties {
            if let Some((_, required, why)) = OWNED_PROPERTIES
                .iter()
                .find(|(k, required, _)| k == key && required != value)
            {
                return Err(format!(
                    "--kafka-property {key}={value}: the indexer sets {key}={required} itself ({why}); remove it"
                ));
            }
        }
        Ok(())
    }
}

/// Consumer properties the exactly-once protocol depends on: `--kafka-property` may only
/// repeat their value.
const OWNED_PROPERTIES: [(&str, &str, &str); 3] = [
    (
        "isolation.level",
        "read_committed",
        "records of aborted transactions must never be indexed",
    ),
    (
        "enable.auto.commit",
        "false",
        "the index commit is the source of truth for offsets",
    ),
    (
        "enable.auto.offset.store",
        "false",
        "offsets are stored with the index commit",
    ),
];

impl From<&KafkaArgs> for Topics {
    fn from(args: &KafkaArgs) -> Topics {
        let events = args.event_topics();
        Topics {
            events: PerKind::from_fn(|kind| events[kind.index()].to_owned()),
            dlq: args.topic_dlq.clone(),
        }
    }
}
