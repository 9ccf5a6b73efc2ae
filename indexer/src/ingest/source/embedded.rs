//! The embedded broker: librdkafka's built-in Kafka-protocol mock cluster, in-process, on
//! loopback TCP. Any Kafka client (kcat, a Python client) can produce to it.
//!
//! Its limits, from librdkafka's `rdkafka_mock.c`: everything is in memory and lost when the
//! process exits, and each partition keeps only about its last 5 MiB of message batches
//! (older ones are dropped, like retention). Hence the default of 8 partitions per topic and
//! compressed producers in the demo; for real retention, use a real cluster (`--brokers`).

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

/// A running embedded cluster; dropping it stops the broker.
pub struct EmbeddedKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("cannot start the embedded Kafka broker: {0}")]
    Start(rdkafka::error::KafkaError),
    #[error("cannot create topic {topic} on the embedded broker: {source}")]
    Topic {
        topic: String,
        source: rdkafka::error::KafkaError,
    },
}

impl EmbeddedKafka {
    /// Starts a one-broker cluster with `topics`, each with `partitions` partitions.
    pub fn start(topics: &[&str], partitions: i32) -> Result<EmbeddedKafka, EmbeddedError> {
        let cluster = MockCluster::new(1).map_err(EmbeddedError::Start)?;
        for topic in topics {
            cluster
                .create_topic(topic, partitions, 1)
                .map_err(|source| EmbeddedError::Topic {
                    topic: (*topic).to_owned(),
                    source,
                })?;
        }
        Ok(EmbeddedKafka { cluster })
    }

    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }
}
