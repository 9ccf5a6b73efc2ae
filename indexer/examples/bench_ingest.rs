//! Ingestion benchmark (issue: Kafka ingestion). Run through `scripts/bench-ingest.sh`.
//!
//! 1. Loads a generated catalog (default 100k products, 1 to 5 offers each, with prices and
//!    inventory) into Kafka (the in-process MockCluster, or `--brokers`).
//! 2. Ceilings, measured in the same run on the same machine: the raw consume rate of those
//!    messages (a bare consumer that only counts them) and the raw Tantivy indexing rate of
//!    the same merged documents (pre-rendered, one writer, one commit).
//! 3. Starts the `indexer` binary and times the initial load (every message committed).
//! 4. Throughput: produces a backlog of changes (10% product, 10% offer, 40% price, 40%
//!    inventory) as fast as possible and times how long the indexer takes to commit them all.
//! 5. Freshness: streams changes at a fixed rate with `ts` = now and reads the exact
//!    p50/p99 (source ts to searchable) from `/status`, plus commit duration, segment count
//!    and the indexer's peak RSS.

use std::time::{Duration, Instant};

use indexer::generate::{ChangeStream, GeneratedCatalog, Mix, Versions};
use indexer::now_ms;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use schemas::{Event, EventKind, IndexFields};
use serde_json::Value;

struct Args {
    products: usize,
    backlog: usize,
    rate: u64,
    stream_seconds: u64,
    /// Partitions per topic. Few by default: the embedded broker (librdkafka's mock, in this
    /// process, on the same 2 cores) spends CPU per partition and per message batch that a
    /// real broker on its own machine would not (16 partitions: 0.65 cores for the load
    /// generator and broker instead of 0.33), and that CPU is taken from the indexer.
    partitions: i32,
    brokers: Option<String>,
    indexer_bin: String,
    /// Extra flags for `indexer run` (`--indexer-arg=--indexing-threads=1`, repeatable).
    indexer_args: Vec<String>,
    seed: u64,
    /// The change mix of the backlog and the stream: `mixed` (10% product, 10% offer, 40%
    /// price, 40% inventory), `prices` (price and inventory only: the live path) or
    /// `inventory` (inventory only; with `--stores`, half of it at stores).
    mix: Mix,
    /// Stores with quantities in the catalog and the changes (see `indexer generate
    /// --stores`).
    stores: usize,
}

fn parse_mix(name: &str) -> Mix {
    match name {
        "mixed" => Mix::default(),
        "prices" => Mix {
            product: 0,
            offer: 0,
            price: 50,
            inventory: 50,
        },
        "inventory" => Mix {
            product: 0,
            offer: 0,
            price: 0,
            inventory: 100,
        },
        other => panic!("--mix is mixed, prices or inventory, got {other:?}"),
    }
}

fn parse_args() -> Args {
    let mut a = Args {
        products: 100_000,
        backlog: 600_000,
        rate: 30_000,
        stream_seconds: 30,
        partitions: 4,
        brokers: None,
        indexer_bin: "target/release/indexer".to_owned(),
        indexer_args: Vec::new(),
        seed: 1,
        mix: Mix::default(),
        stores: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--products" => a.products = value().parse().expect("--products"),
            "--backlog" => a.backlog = value().parse().expect("--backlog"),
            "--rate" => a.rate = value().parse().expect("--rate"),
            "--stream-seconds" => a.stream_seconds = value().parse().expect("--stream-seconds"),
            "--partitions" => a.partitions = value().parse().expect("--partitions"),
            "--brokers" => a.brokers = Some(value()),
            "--indexer-bin" => a.indexer_bin = value(),
            "--seed" => a.seed = value().parse().expect("--seed"),
            "--indexer-arg" => a.indexer_args.push(value()),
            "--mix" => a.mix = parse_mix(&value()),
            "--stores" => a.stores = value().parse().expect("--stores"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

const TOPICS: [&str; 5] = [
    "catalog.products",
    "catalog.offers",
    "catalog.prices",
    "catalog.inventory",
    "catalog.dlq",
];

fn topic(kind: EventKind) -> &'static str {
    TOPICS[kind.index()]
}

fn producer(brokers: &str) -> ThreadedProducer<DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("compression.type", "lz4")
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .create()
        .expect("producer")
}

fn send(p: &ThreadedProducer<DefaultProducerContext>, e: &Event) {
    let payload = e.to_json();
    let mut record: BaseRecord<'_, str, str> = BaseRecord::to(topic(e.kind()))
        .key(e.product_id())
        .payload(&payload);
    loop {
        match p.send(record) {
            Ok(()) => return,
            Err((_, r)) => {
                record = r;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

fn get(client: &reqwest::blocking::Client, url: &str) -> Value {
    client
        .get(url)
        .send()
        .and_then(|r| r.json::<Value>())
        .unwrap_or(Value::Null)
}

fn committed(status: &Value) -> i64 {
    status["kafka"]["partitions"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p["next_offset"].as_i64()).sum())
        .unwrap_or(0)
}

fn wait_committed(
    client: &reqwest::blocking::Client,
    url: &str,
    n: i64,
    max_segments: &mut u64,
) -> Duration {
    let started = Instant::now();
    loop {
        let s = get(client, &format!("{url}/status"));
        *max_segments = (*max_segments).max(s["index"]["segments"].as_u64().unwrap_or(0));
        if committed(&s) >= n {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "indexer did not catch up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU seconds (user + system) used so far by a process.
fn cpu_seconds(pid: u32) -> f64 {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1.to_owned();
            let f: Vec<&str> = after.split_whitespace().collect();
            Some(f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?)
        })
        .unwrap_or(0.0);
    ticks / 100.0
}

fn metric_sum_count(metrics: &str, name: &str) -> (f64, f64) {
    let find = |suffix: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}_{suffix}")))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (find("sum"), find("count"))
}

fn main() {
    let args = parse_args();
    let mock;
    let brokers = match &args.brokers {
        Some(b) => b.clone(),
        None => {
            mock = MockCluster::new(1).expect("mock cluster");
            for t in TOPICS {
                mock.create_topic(t, args.partitions, 1).expect("topic");
            }
            mock.bootstrap_servers()
        }
    };
    println!(
        "# ingestion benchmark: {} products, {} partitions per topic, brokers {brokers}",
        args.products, args.partitions
    );

    // 1. Load the catalog into Kafka.
    let catalog = GeneratedCatalog::synthetic(args.seed, args.products).with_stores(args.stores);
    let mut versions = Versions::starting_after(now_ms() * 1000);
    let load: Vec<Event> = catalog.events(&mut versions, now_ms).collect();
    let p = producer(&brokers);
    let t = Instant::now();
    for e in &load {
        send(&p, e);
    }
    p.flush(Duration::from_secs(300)).expect("flush");
    let load_bytes: usize = load.iter().map(|e| e.to_json().len()).sum();
    println!(
        "catalog: {} events ({:.0} MiB of JSON) produced in {:.1}s",
        load.len(),
        load_bytes as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );

    // 2a. Ceiling: raw consume rate of the same messages.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "bench-raw")
        .set("enable.auto.commit", "false")
        .set("queued.max.messages.kbytes", "32768")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for t in &TOPICS[..4] {
        for part in 0..args.partitions {
            tpl.add_partition_offset(t, part, Offset::Beginning)
                .expect("tpl");
        }
    }
    consumer.assign(&tpl).expect("assign");
    let t = Instant::now();
    let mut seen = 0usize;
    while seen < load.len() {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            seen += 1;
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "raw consume stalled at {seen}"
        );
    }
    let raw_consume = seen as f64 / t.elapsed().as_secs_f64();
    drop(consumer);

    // 2b. Ceiling: raw Tantivy indexing rate of the same merged documents.
    let merged: indexer::merge::MergedCatalog = load.iter().collect();
    let fields = IndexFields::new();
    let docs: Vec<tantivy::TantivyDocument> = merged.states().map(|s| fields.document(s)).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let index = indexer::create_index(dir.path()).expect("index");
    let writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 128 << 20).expect("writer");
    let n_docs = docs.len();
    let t = Instant::now();
    for d in docs {
        writer.add_document(d).expect("add");
    }
    let mut writer = writer;
    writer.commit().expect("commit");
    let raw_index = n_docs as f64 / t.elapsed().as_secs_f64();
    drop(writer);
    println!("ceilings: raw consume {raw_consume:.0} msg/s; raw tantivy indexing {raw_index:.0} docs/s ({n_docs} docs)");

    // 3. The indexer: initial load.
    let data = tempfile::tempdir().expect("tempdir");
    let mut child = std::process::Command::new(&args.indexer_bin)
        .args(["run", "--brokers", &brokers, "--listen", "127.0.0.1:0"])
        .args(&args.indexer_args)
        .arg("--data-dir")
        .arg(data.path())
        .env(
            "RUST_LOG",
            std::env::var("BENCH_INDEXER_LOG").unwrap_or_else(|_| "warn".to_owned()),
        )
        .stderr(
            std::fs::File::create("/tmp/bench-indexer.log")
                .map(std::process::Stdio::from)
                .unwrap_or_else(|_| std::process::Stdio::inherit()),
        )
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start indexer (build it with cargo build --release)");
    let url = {
        use std::io::BufRead;
        let out = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(out).lines();
        let url = loop {
            let line = lines.next().expect("indexer output").expect("line");
            if let Some(u) = line.strip_prefix("indexer listening on ") {
                break u.trim().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        url
    };
    let client = reqwest::blocking::Client::new();
    let mut max_segments = 0;
    let load_time = wait_committed(&client, &url, load.len() as i64, &mut max_segments);
    let load_rate = load.len() as f64 / load_time.as_secs_f64();
    println!(
        "initial load: {} events committed in {:.1}s = {load_rate:.0} events/s",
        load.len(),
        load_time.as_secs_f64()
    );

    // 4. Throughput on a backlog of changes.
    let mut stream = ChangeStream::new(&catalog, args.seed, args.mix);
    let backlog: Vec<Event> = (0..args.backlog)
        .map(|_| stream.next_event(versions.next(), now_ms()))
        .collect();
    let before = committed(&get(&client, &format!("{url}/status")));
    let t = Instant::now();
    for e in &backlog {
        send(&p, e);
    }
    p.flush(Duration::from_secs(300)).expect("flush");
    let produced_in = t.elapsed();
    let caught_up = wait_committed(
        &client,
        &url,
        before + backlog.len() as i64,
        &mut max_segments,
    ) + produced_in;
    let throughput = backlog.len() as f64 / caught_up.as_secs_f64();
    println!(
        "change backlog: {} events produced in {:.1}s, all committed after {:.1}s = {throughput:.0} events/s sustained",
        backlog.len(),
        produced_in.as_secs_f64(),
        caught_up.as_secs_f64()
    );

    // 5. Freshness at a fixed rate, ts = now.
    let before = committed(&get(&client, &format!("{url}/status")));
    let (sum0, count0) = metric_sum_count(
        &client
            .get(format!("{url}/metrics"))
            .send()
            .and_then(|r| r.text())
            .unwrap_or_default(),
        "indexer_commit_duration_seconds",
    );
    // Let the 1-minute freshness window forget the backlog phase.
    std::thread::sleep(Duration::from_secs(61));
    let total = args.rate * args.stream_seconds;
    // 5a. Ceiling: the broker's produce-to-consume latency of the same stream, seen by a
    // plain consumer of the price topic (message timestamp to poll).
    let probing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let probe = {
        let (brokers, partitions, probing) = (brokers.clone(), args.partitions, probing.clone());
        std::thread::spawn(move || broker_latencies(&brokers, partitions, &probing))
    };
    let cpu0 = cpu_seconds(child.id());
    let self0 = cpu_seconds(std::process::id());
    let t = Instant::now();
    for i in 0..total {
        let due = t + Duration::from_secs_f64(i as f64 / args.rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        send(&p, &stream.next_event(versions.next(), now_ms()));
        if i % 10_000 == 0 {
            let s = get(&client, &format!("{url}/status"));
            max_segments = max_segments.max(s["index"]["segments"].as_u64().unwrap_or(0));
        }
    }
    p.flush(Duration::from_secs(300)).expect("flush");
    let achieved = total as f64 / t.elapsed().as_secs_f64();
    probing.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut broker = probe.join().expect("probe");
    broker.sort_unstable();
    let pct = |v: &[u64], q: f64| {
        v.get(((v.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0)
    };
    wait_committed(&client, &url, before + total as i64, &mut max_segments);
    let status = get(&client, &format!("{url}/status"));
    let metrics = client
        .get(format!("{url}/metrics"))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default();
    let (sum1, count1) = metric_sum_count(&metrics, "indexer_commit_duration_seconds");
    let fresh = &status["freshness"]["source"]["last_1m"];
    let latency = &status["freshness"]["pipeline"]["last_1m"];
    let rss = peak_rss_mib(child.id());
    let stream_wall = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds(child.id()) - cpu0;
    let own = cpu_seconds(std::process::id()) - self0;
    println!(
        "paced stream: {total} events at {achieved:.0} events/s (target {}): indexed freshness p50 {} ms, p99 {} ms, max {} ms; kafka-ts latency p99 {} ms",
        args.rate, fresh["p50_ms"], fresh["p99_ms"], fresh["max_ms"], latency["p99_ms"]
    );
    let live = &status["freshness"]["live"]["source"]["last_1m"];
    let live_pipeline = &status["freshness"]["live"]["pipeline"]["last_1m"];
    println!(
        "live path (price/stock in place): {} changes, freshness p50 {} ms, p99 {} ms, max {} ms; kafka-ts latency p50 {} ms, p99 {} ms",
        live["count"], live["p50_ms"], live["p99_ms"], live["max_ms"], live_pipeline["p50_ms"], live_pipeline["p99_ms"]
    );
    println!(
        "ceiling: broker produce-to-consume latency (plain consumer of the price topic, {} messages) p50 {} ms, p99 {} ms, max {} ms",
        broker.len(),
        pct(&broker, 0.5),
        pct(&broker, 0.99),
        broker.last().copied().unwrap_or(0)
    );
    println!(
        "commits during the stream: {} (mean {:.0} ms); segments max {max_segments}, now {}; docs {}; indexer peak RSS {rss:.0} MiB",
        count1 - count0,
        if count1 > count0 { (sum1 - sum0) / (count1 - count0) * 1000.0 } else { 0.0 },
        status["index"]["segments"],
        status["index"]["docs"],
    );
    println!(
        "cpu during the stream: indexer {:.2} cores ({:.1} us/event), load generator + broker {:.2} cores",
        cpu / stream_wall,
        cpu * 1e6 / total as f64,
        own / stream_wall
    );
    println!(
        "ratios: sustained/raw-consume {:.2}, initial-load/raw-consume {:.2}, raw-indexing {raw_index:.0} docs/s",
        throughput / raw_consume,
        load_rate / raw_consume
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Message-timestamp-to-poll latencies (ms) of the price topic, from its end, while
/// `probing`.
fn broker_latencies(
    brokers: &str,
    partitions: i32,
    probing: &std::sync::atomic::AtomicBool,
) -> Vec<u64> {
    use rdkafka::Message;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "bench-latency")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "5")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for part in 0..partitions {
        tpl.add_partition_offset("catalog.prices", part, Offset::End)
            .expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    while probing.load(std::sync::atomic::Ordering::Relaxed) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            if let Some(ts) = m.timestamp().to_millis() {
                out.push(now_ms().saturating_sub(ts as u64));
            }
        }
    }
    out
}
