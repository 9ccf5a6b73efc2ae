//! The raw Kafka consume ceiling: how fast a bare consumer (no decoding, no indexing) reads
//! every message of the catalog topics from the beginning. Used by scripts/bench-reindex.sh.
//! Usage: raw_consume BROKERS [TOPIC...]

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

fn main() {
    let mut args = std::env::args().skip(1);
    let brokers = args.next().expect("usage: raw_consume BROKERS [TOPIC...]");
    let mut topics: Vec<String> = args.collect();
    if topics.is_empty() {
        topics = [
            "catalog.products",
            "catalog.offers",
            "catalog.prices",
            "catalog.inventory",
        ]
        .map(str::to_owned)
        .to_vec();
    }
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "raw-consume-ceiling")
        .set("enable.auto.commit", "false")
        .set("queued.max.messages.kbytes", "32768")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    let mut total = 0i64;
    for topic in &topics {
        let md = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("metadata");
        for t in md.topics() {
            for p in t.partitions() {
                let (low, high) = consumer
                    .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                    .expect("watermarks");
                total += high - low;
                tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                    .expect("tpl");
            }
        }
    }
    consumer.assign(&tpl).expect("assign");
    let started = Instant::now();
    let mut seen = 0i64;
    while seen < total {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            seen += 1;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "stalled at {seen}/{total}"
        );
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "RESULT messages={seen} seconds={secs:.2} rate={:.0}",
        seen as f64 / secs
    );
}
