//! Integration tests of the indexer, against a real Kafka-protocol broker over TCP: the
//! in-process MockCluster by default, or the cluster in `KAFKA_BROKERS` (each test then
//! creates its own topics).

mod browser;
mod chaos;
mod common;
mod demo;
mod faults;
mod ingestion;
mod live;
mod monitoring;
mod pickup;
mod reindex;
mod search;
mod typos;
