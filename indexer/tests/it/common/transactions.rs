//! Transactions for the tests: a transactional producer, and the transaction markers
//! librdkafka's mock broker does not write.
//!
//! A real broker ends every transaction with a *control record* (a commit or abort marker)
//! in each partition the transaction wrote to. It takes an offset but is never delivered to
//! consumers, so a consumer that counts "last record + 1" stays one offset behind the log
//! end forever. The mock broker accepts `EndTxn` but writes no marker; [`append_marker`]
//! speaks a Kafka `Produce` request (v3) carrying a control batch to it instead, so the
//! log looks as a real broker leaves it.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use super::TestKafka;

const TIMEOUT: Duration = Duration::from_secs(30);

/// How a transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Abort = 0,
    Commit = 1,
}

/// A producer with a `transactional.id`, writing to one partition.
pub struct TransactionalProducer<'a> {
    kafka: &'a TestKafka,
    producer: ThreadedProducer<DefaultProducerContext>,
    topic: String,
    partition: i32,
}

impl TestKafka {
    /// A transactional producer of `topic`/`partition`, its transactions initialised.
    pub fn transactional_producer(
        &self,
        id: &str,
        topic: &str,
        partition: i32,
    ) -> TransactionalProducer<'_> {
        let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("transactional.id", id)
            .create()
            .expect("transactional producer");
        producer
            .init_transactions(TIMEOUT)
            .expect("init_transactions");
        TransactionalProducer {
            kafka: self,
            producer,
            topic: topic.to_owned(),
            partition,
        }
    }
}

impl TransactionalProducer<'_> {
    /// One transaction of `(key, payload)` records, ended by `end`.
    pub fn transaction(&self, records: &[(&str, String)], end: Marker) {
        self.producer
            .begin_transaction()
            .expect("begin_transaction");
        for (key, payload) in records {
            self.producer
                .send(
                    BaseRecord::to(&self.topic)
                        .partition(self.partition)
                        .key(*key)
                        .payload(payload),
                )
                .map_err(|(e, _)| e)
                .expect("send");
        }
        self.producer.flush(TIMEOUT).expect("flush");
        match end {
            Marker::Commit => self.producer.commit_transaction(TIMEOUT),
            Marker::Abort => self.producer.abort_transaction(TIMEOUT),
        }
        .expect("end transaction");
        if self.kafka.is_mock() {
            append_marker(&self.kafka.brokers, &self.topic, self.partition, end);
        }
    }
}

/// Appends a control batch holding one transaction marker to `topic`/`partition` of the
/// (single-broker) cluster at `brokers`.
pub fn append_marker(brokers: &str, topic: &str, partition: i32, marker: Marker) {
    let address = brokers
        .split(',')
        .next()
        .and_then(|b| b.to_socket_addrs().ok())
        .and_then(|mut a| a.next())
        .expect("broker address");
    let mut stream = TcpStream::connect(address).expect("connect to the broker");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let batch = control_batch(marker);

    let mut body = Vec::new();
    body.extend(0i16.to_be_bytes()); // api key: Produce
    body.extend(3i16.to_be_bytes()); // api version
    body.extend(7i32.to_be_bytes()); // correlation id
    put_string(&mut body, "it-markers"); // client id
    body.extend((-1i16).to_be_bytes()); // transactional id: null
    body.extend(1i16.to_be_bytes()); // acks
    body.extend(30_000i32.to_be_bytes()); // timeout
    body.extend(1i32.to_be_bytes()); // topics
    put_string(&mut body, topic);
    body.extend(1i32.to_be_bytes()); // partitions
    body.extend(partition.to_be_bytes());
    body.extend((batch.len() as i32).to_be_bytes());
    body.extend(batch);
    let mut request = (body.len() as i32).to_be_bytes().to_vec();
    request.extend(body);
    stream.write_all(&request).expect("send Produce");

    let mut size = [0u8; 4];
    stream.read_exact(&mut size).expect("Produce response");
    let mut response = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut response).expect("Produce response");
    // correlation id (4), topics (4), topic name (2 + n), partitions (4), partition (4),
    // then the error code.
    let at = 4 + 4 + 2 + topic.len() + 4 + 4;
    let error = i16::from_be_bytes([response[at], response[at + 1]]);
    assert_eq!(error, 0, "the broker refused the marker (error {error})");
}

/// A record batch (magic 2) with the transactional and control attributes and one control
/// record: key = version 0 + marker type, value = version 0 + coordinator epoch 0.
fn control_batch(marker: Marker) -> Vec<u8> {
    let mut key = 0i16.to_be_bytes().to_vec();
    key.extend((marker as i16).to_be_bytes());
    let mut value = 0i16.to_be_bytes().to_vec();
    value.extend(0i32.to_be_bytes());
    let mut record = vec![0u8]; // attributes
    put_varint(&mut record, 0); // timestamp delta
    put_varint(&mut record, 0); // offset delta
    put_varint(&mut record, key.len() as i64);
    record.extend(&key);
    put_varint(&mut record, value.len() as i64);
    record.extend(&value);
    put_varint(&mut record, 0); // headers

    // From the attributes on: what the CRC covers.
    let mut tail = Vec::new();
    tail.extend(0x30i16.to_be_bytes()); // transactional | control
    tail.extend(0i32.to_be_bytes()); // last offset delta
    tail.extend(0i64.to_be_bytes()); // first timestamp
    tail.extend(0i64.to_be_bytes()); // max timestamp
    tail.extend((-1i64).to_be_bytes()); // producer id
    tail.extend((-1i16).to_be_bytes()); // producer epoch
    tail.extend((-1i32).to_be_bytes()); // base sequence
    tail.extend(1i32.to_be_bytes()); // records
    put_varint(&mut tail, record.len() as i64);
    tail.extend(record);

    let mut after_length = Vec::new();
    after_length.extend((-1i32).to_be_bytes()); // partition leader epoch (set by the broker)
    after_length.push(2); // magic
    after_length.extend(crc32c(&tail).to_be_bytes());
    after_length.extend(tail);

    let mut batch = 0i64.to_be_bytes().to_vec(); // base offset (set by the broker)
    batch.extend((after_length.len() as i32).to_be_bytes());
    batch.extend(after_length);
    batch
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as i16).to_be_bytes());
    out.extend(s.as_bytes());
}

/// Zig-zag varint, as Kafka records use.
fn put_varint(out: &mut Vec<u8>, n: i64) {
    let mut v = ((n << 1) ^ (n >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// CRC-32C (Castagnoli), bit by bit: a few bytes per test.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn crc32c_matches_the_standard_check_value() {
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
}

#[test]
fn varints_are_zig_zag() {
    let enc = |n| {
        let mut v = Vec::new();
        put_varint(&mut v, n);
        v
    };
    assert_eq!(enc(0), [0]);
    assert_eq!(enc(-1), [1]);
    assert_eq!(enc(1), [2]);
    assert_eq!(enc(300), [0xd8, 0x04]);
}
