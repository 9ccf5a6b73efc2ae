//! Helpers of the integration tests: a Kafka cluster (in-process MockCluster, or the cluster
//! named by `KAFKA_BROKERS`), the `indexer` binary as a child process, random event sets.

#![allow(dead_code)]

pub mod events;
pub mod transactions;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, OwnedHeaders, OwnedMessage};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};
use schemas::{Event, EventKind};
use serde_json::Value;

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// A Kafka cluster with this test's own topics.
pub struct TestKafka {
    mock: Option<MockCluster<'static, DefaultProducerContext>>,
    pub brokers: String,
    /// Topic names in `EventKind::ALL` order, then the dead-letter topic.
    pub topics: [String; 5],
    pub partitions: i32,
    producer: ThreadedProducer<DefaultProducerContext>,
}

fn topic_index(kind: EventKind) -> usize {
    EventKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

impl TestKafka {
    /// An in-process MockCluster, or fresh topics on `KAFKA_BROKERS` when set.
    pub fn new(partitions: i32) -> TestKafka {
        let external = std::env::var("KAFKA_BROKERS")
            .ok()
            .filter(|b| !b.is_empty());
        let prefix = match &external {
            Some(_) => format!(
                "it{}-{}-{}.",
                std::process::id(),
                NEXT_ID.fetch_add(1, Ordering::Relaxed),
                rand::random::<u32>()
            ),
            None => String::new(),
        };
        let topics = [
            "catalog.products",
            "catalog.offers",
            "catalog.prices",
            "catalog.inventory",
            "catalog.dlq",
        ]
        .map(|t| format!("{prefix}{t}"));
        let (mock, brokers) = match external {
            Some(brokers) => {
                create_external_topics(&brokers, &topics, partitions);
                (None, brokers)
            }
            None => {
                let mock = MockCluster::new(1).expect("mock cluster");
                for t in &topics {
                    mock.create_topic(t, partitions, 1).expect("create topic");
                }
                let brokers = mock.bootstrap_servers();
                (Some(mock), brokers)
            }
        };
        let producer = new_producer(&brokers);
        TestKafka {
            mock,
            brokers,
            topics,
            partitions,
            producer,
        }
    }

    /// Another producer of this cluster's topics, usable from another thread.
    pub fn producer(&self) -> TestProducer {
        TestProducer {
            producer: new_producer(&self.brokers),
            topics: self.topics.clone(),
            partitions: self.partitions,
        }
    }

    pub fn is_mock(&self) -> bool {
        self.mock.is_some()
    }

    pub fn mock(&self) -> Option<&MockCluster<'static, DefaultProducerContext>> {
        self.mock.as_ref()
    }

    pub fn topic(&self, kind: EventKind) -> &str {
        &self.topics[topic_index(kind)]
    }

    pub fn dlq(&self) -> &str {
        &self.topics[4]
    }

    /// The flags that point the indexer at this cluster and these topics.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["--brokers".to_owned(), self.brokers.clone()];
        for (flag, topic) in [
            "--topic-products",
            "--topic-offers",
            "--topic-prices",
            "--topic-inventory",
            "--topic-dlq",
        ]
        .iter()
        .zip(&self.topics)
        {
            args.push((*flag).to_owned());
            args.push(topic.clone());
        }
        args
    }

    /// Produces one raw message to `topic` (partition chosen by key, or given).
    pub fn produce_raw(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: &[(&str, &[u8])],
    ) {
        send_raw(&self.producer, topic, partition, key, payload, headers);
    }

    /// Produces one JSON payload to the topic of `kind`, keyed by `key` (partition chosen by
    /// the key).
    pub fn produce_keyed(&self, kind: EventKind, key: &str, json: &str) {
        self.produce_raw(
            self.topic(kind),
            None,
            Some(key.as_bytes()),
            Some(json.as_bytes()),
            &[],
        );
    }

    /// Produces events to their topics, keyed by product id, to a random partition (the
    /// indexer must not depend on partitioning).
    pub fn produce(&self, events: &[Event]) {
        for e in events {
            let partition = rand::random_range(0..self.partitions);
            self.produce_raw(
                self.topic(e.kind()),
                Some(partition),
                Some(e.product_id().as_bytes()),
                Some(e.to_json().as_bytes()),
                &[],
            );
        }
    }

    pub fn flush(&self) {
        self.producer
            .flush(Duration::from_secs(30))
            .expect("flush producer");
    }

    /// The log start and end (high watermark, or last stable offset under transactions) of
    /// `topic`/`partition`, as the broker reports them.
    pub fn watermarks(&self, topic: &str, partition: i32) -> (i64, i64) {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .expect("consumer");
        consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .expect("watermarks")
    }

    /// Every message of `topic`, from the beginning.
    pub fn read_all(&self, topic: &str, expected: usize, timeout: Duration) -> Vec<OwnedMessage> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", "it-reader")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..self.partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("tpl");
        }
        consumer.assign(&tpl).expect("assign");
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < expected && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                out.push(m.detach());
            }
        }
        out
    }
}

fn new_producer(brokers: &str) -> ThreadedProducer<DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("message.max.bytes", "4000000")
        .set("linger.ms", "2")
        .create()
        .expect("producer")
}

/// Sends one message, waiting while the producer's queue is full.
fn send_raw(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    partition: Option<i32>,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
    headers: &[(&str, &[u8])],
) {
    let mut owned = OwnedHeaders::new();
    for (k, v) in headers {
        owned = owned.insert(rdkafka::message::Header {
            key: k,
            value: Some(*v),
        });
    }
    let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).headers(owned);
    if let Some(p) = partition {
        record = record.partition(p);
    }
    if let Some(k) = key {
        record = record.key(k);
    }
    if let Some(p) = payload {
        record = record.payload(p);
    }
    while let Err((err, r)) = producer.send(record) {
        assert!(
            matches!(
                err.rdkafka_error_code(),
                Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
            ),
            "produce failed: {err}"
        );
        std::thread::sleep(Duration::from_millis(5));
        record = r;
    }
}

/// A producer of the test topics that can move to another thread.
pub struct TestProducer {
    producer: ThreadedProducer<DefaultProducerContext>,
    topics: [String; 5],
    partitions: i32,
}

impl TestProducer {
    /// Produces one raw message to `topic`/`partition`, waiting while the queue is full
    /// (the cluster unreachable).
    pub fn produce_raw(
        &self,
        topic: &str,
        partition: i32,
        key: &[u8],
        payload: Option<&[u8]>,
        headers: &[(&str, &[u8])],
    ) {
        send_raw(
            &self.producer,
            topic,
            Some(partition),
            Some(key),
            payload,
            headers,
        );
    }

    /// Waits until every message produced is in the cluster.
    pub fn flush(&self) {
        self.producer
            .flush(Duration::from_secs(300))
            .expect("flush");
    }

    /// Produces raw payloads to `topic` and waits until the cluster has them all (however
    /// long it is unreachable).
    pub fn produce_raw_all(&self, topic: &str, payloads: &[String]) {
        for p in payloads {
            let mut record: BaseRecord<'_, [u8], [u8]> =
                BaseRecord::to(topic).payload(p.as_bytes());
            while let Err((_, r)) = self.producer.send(record) {
                std::thread::sleep(Duration::from_millis(5));
                record = r;
            }
        }
        self.producer
            .flush(Duration::from_secs(120))
            .expect("flush");
    }

    /// Produces `events` at about `per_second`, then flushes.
    pub fn produce_paced(&self, events: &[Event], per_second: u32) {
        let started = Instant::now();
        for (i, e) in events.iter().enumerate() {
            let due = started + Duration::from_secs_f64(i as f64 / f64::from(per_second));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            self.produce_raw(
                &self.topics[topic_index(e.kind())],
                rand::random_range(0..self.partitions),
                e.product_id().as_bytes(),
                Some(e.to_json().as_bytes()),
                &[],
            );
        }
        self.producer.flush(Duration::from_secs(30)).expect("flush");
    }
}

fn create_external_topics(brokers: &str, topics: &[String], partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let results = rt
        .block_on(admin.create_topics(&new, &AdminOptions::new()))
        .expect("create topics");
    for r in results {
        r.expect("topic created");
    }
}

/// Header value of a message, as text.
pub fn header(message: &OwnedMessage, key: &str) -> Option<String> {
    message.headers().and_then(|h| {
        h.iter()
            .find(|h| h.key == key)
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    })
}

/// A running `indexer run` child process.
pub struct Indexer {
    child: Option<Child>,
    pub url: String,
    pub data_dir: PathBuf,
    client: reqwest::blocking::Client,
}

pub fn indexer_binary() -> &'static str {
    env!("CARGO_BIN_EXE_indexer")
}

impl Indexer {
    /// Seeds the topics (`seed` returns how many events it produced), lets an indexer commit
    /// them all and stop, then starts one that does not commit again for 10 minutes: what
    /// shoppers see of later events is then only in the live path (and the live log).
    /// Returns it with the number of seeded events.
    pub fn seeded_then_uncommitted(
        kafka: &TestKafka,
        data_dir: &Path,
        seed: impl FnOnce(&TestKafka) -> i64,
    ) -> (Indexer, i64) {
        let indexer = Indexer::start(kafka, data_dir, &[]);
        let seeded = seed(kafka);
        indexer.wait_committed(seeded, Duration::from_secs(30));
        assert!(indexer.terminate().success());
        let indexer = Indexer::start(kafka, data_dir, &["--commit-interval-ms", "600000"]);
        (indexer, seeded)
    }

    /// Starts `indexer run` on `kafka` with `data_dir`, and waits until it listens.
    pub fn start(kafka: &TestKafka, data_dir: &Path, extra: &[&str]) -> Indexer {
        Indexer::start_with_env(kafka, data_dir, extra, &[])
    }

    /// [`Indexer::start`] with environment variables (e.g. `FAILPOINTS`).
    pub fn start_with_env(
        kafka: &TestKafka,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Indexer {
        let mut cmd = Command::new(indexer_binary());
        cmd.arg("run")
            .args(kafka.args())
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0", "--commit-interval-ms", "200"])
            .args(extra)
            .env("RUST_LOG", "info,tantivy=warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        Indexer::spawn(cmd, data_dir)
    }

    pub fn spawn(mut cmd: Command, data_dir: &Path) -> Indexer {
        let mut child = cmd.spawn().expect("spawn indexer");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(url) = line.strip_prefix("indexer listening on ") {
                        let _ = tx.send(url.trim().to_owned());
                        sent = true;
                    }
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("indexer did not start listening");
        let indexer = Indexer {
            child: Some(child),
            url,
            data_dir: data_dir.to_owned(),
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("http client"),
        };
        // The HTTP server listens before the ingestion pipeline runs: wait for it too.
        let started = wait_for(Duration::from_secs(60), || {
            let (_, body) = indexer.get("/health/ingestion");
            (body["reason"] != "starting").then_some(())
        });
        assert!(started.is_some(), "the ingestion pipeline did not start");
        indexer
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .expect("http request");
        let status = response.status().as_u16();
        let body = response.json::<Value>().unwrap_or(Value::Null);
        (status, body)
    }

    pub fn status(&self) -> Value {
        self.get("/status").1
    }

    /// Sum of the committed next offsets of all partitions of the event topics.
    pub fn committed_total(&self) -> i64 {
        self.status()["kafka"]["partitions"]
            .as_array()
            .map(|ps| ps.iter().filter_map(|p| p["next_offset"].as_i64()).sum())
            .unwrap_or(0)
    }

    /// Waits until `n` messages (over all event partitions) are committed to the index.
    pub fn wait_committed(&self, n: i64, timeout: Duration) {
        let total = wait_for(timeout, || {
            let total = self.committed_total();
            (total >= n).then_some(total)
        });
        assert_eq!(
            total,
            Some(n),
            "index did not commit {n} messages in {timeout:?}"
        );
    }

    /// Sends SIGKILL.
    pub fn kill9(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        child.wait().expect("wait")
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `f` every 25 ms until it returns `Some`, or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Runs the offline `indexer rebuild` of `dir`; `None` when it has not finished within
/// `timeout` (it is then killed).
pub fn offline_rebuild(
    kafka: &TestKafka,
    dir: &std::path::Path,
    timeout: Duration,
) -> Option<bool> {
    let mut child = std::process::Command::new(indexer_binary())
        .arg("rebuild")
        .args(kafka.args())
        .arg("--data-dir")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let done = wait_for(timeout, || child.try_wait().ok().flatten());
    if done.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    done.map(|status| status.success())
}

/// Waits until the reindex of `indexer` ends (`done` or `failed`), asking
/// `GET /admin/reindex` with `token`; its last answer, or `None` after `timeout`.
pub fn wait_reindex_end(indexer: &Indexer, token: &str, timeout: Duration) -> Option<Value> {
    let client = reqwest::blocking::Client::new();
    let url = format!("{}/admin/reindex", indexer.url);
    wait_for(timeout, || {
        let body: Value = client
            .get(&url)
            .bearer_auth(token)
            .send()
            .ok()?
            .json()
            .ok()?;
        matches!(body["state"].as_str(), Some("done" | "failed")).then_some(body)
    })
}
