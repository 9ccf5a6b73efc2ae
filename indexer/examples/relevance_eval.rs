//! Relevance evaluation on real shopper queries with human judgments (Home Depot, see
//! `../shared/data/README.md`). Run through `scripts/relevance-eval.sh`.
//!
//! 1. Loads one product per distinct `product_uid` (text = `product_title`) as product
//!    events through Kafka (in-process MockCluster) into the release `indexer` binary.
//! 2. Splits the distinct queries by `sha1(search_term)` (integer value of the hex digest
//!    modulo 2: 0 is dev, 1 is test) and runs each query of the chosen split through
//!    `GET /search?q=...&per_page=100`.
//! 3. Prints condensed nDCG@10 (top 100 results, unjudged products dropped, gain =
//!    relevance - 1, ideal ordering of the query's judged products; averaged over queries
//!    with a non-zero ideal DCG) and recall@100 of products with relevance >= 2.5 (averaged
//!    over queries that have one), next to plain BM25 on the same index: Tantivy's query
//!    parser over the title field, any word matching (OR).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use indexer::generate::parse_csv;
use indexer::now_ms;
use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use schemas::{Event, ProductEvent, ProductUpsert};
use serde_json::Value;
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::Value as _;

struct Judgment {
    product: String,
    relevance: f64,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut csv = PathBuf::from("../shared/data/homedepot_relevance.csv");
    let mut indexer_bin = "target/release/indexer".to_owned();
    let mut split = "dev".to_owned();
    let mut extra: Vec<String> = Vec::new();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--csv" => csv = PathBuf::from(value()),
            "--indexer-bin" => indexer_bin = value(),
            "--split" => split = value(),
            "--indexer-arg" => extra.push(value()),
            other => panic!("unknown flag {other}"),
        }
    }
    let split_bit = match split.as_str() {
        "dev" => 0,
        "test" => 1,
        other => panic!("--split is dev or test, got {other}"),
    };
    let Ok(text) = std::fs::read_to_string(&csv) else {
        println!(
            "skipped: {} not found (see the shared data README)",
            csv.display()
        );
        return;
    };
    let rows = parse_csv(&text);
    let header = &rows[0];
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let (uid, title, term, rel) = (
        col("product_uid"),
        col("product_title"),
        col("search_term"),
        col("relevance"),
    );
    let mut titles: BTreeMap<String, String> = BTreeMap::new();
    let mut judgments: BTreeMap<String, Vec<Judgment>> = BTreeMap::new();
    for r in rows.iter().skip(1).filter(|r| r.len() > rel) {
        titles.insert(r[uid].clone(), r[title].clone());
        judgments
            .entry(r[term].clone())
            .or_default()
            .push(Judgment {
                product: r[uid].clone(),
                relevance: r[rel].parse().unwrap_or(1.0),
            });
    }
    let queries: Vec<(&String, &Vec<Judgment>)> = judgments
        .iter()
        .filter(|(q, _)| {
            let digest = sha1_smol::Sha1::from(String::as_bytes(q)).digest().bytes();
            u32::from(digest[19] & 1) == split_bit
        })
        .collect();
    println!(
        "# relevance: {} products, {} judged pairs, {} queries in the {split} split",
        titles.len(),
        judgments.values().map(Vec::len).sum::<usize>(),
        queries.len()
    );

    // Index the corpus through Kafka.
    let mock = MockCluster::new(1).expect("mock cluster");
    for t in [
        "catalog.products",
        "catalog.offers",
        "catalog.prices",
        "catalog.inventory",
        "catalog.dlq",
    ] {
        mock.create_topic(t, 8, 1).expect("topic");
    }
    let brokers = mock.bootstrap_servers();
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("compression.type", "lz4")
        .set("linger.ms", "20")
        .create()
        .expect("producer");
    let ts = now_ms();
    for (id, title) in &titles {
        let event = Event::Product(ProductEvent::Upsert(ProductUpsert {
            product_id: id.clone(),
            version: 1,
            ts,
            title: title.clone(),
            description: String::new(),
            brand: String::new(),
            category: Vec::new(),
            attributes: Default::default(),
        }));
        let json = event.to_json();
        let mut record: BaseRecord<'_, str, str> = BaseRecord::to("catalog.products")
            .key(id.as_str())
            .payload(json.as_str());
        while let Err((_, r)) = producer.send(record) {
            record = r;
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    let data = tempfile::tempdir().expect("tempdir");
    let mut child = std::process::Command::new(&indexer_bin)
        .args([
            "run",
            "--brokers",
            &brokers,
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data.path())
        .args(&extra)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start indexer (cargo build --release)");
    let url = {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
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
    let started = Instant::now();
    loop {
        let s: Value = client
            .get(format!("{url}/status"))
            .send()
            .and_then(|r| r.json())
            .unwrap_or(Value::Null);
        if s["index"]["docs"].as_u64() == Some(titles.len() as u64) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "corpus not indexed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Our search.
    let t = Instant::now();
    let ours: Vec<Vec<String>> = queries
        .iter()
        .map(|(q, _)| {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("q", q)
                .append_pair("per_page", "100")
                .finish();
            let body: Value = client
                .get(format!("{url}/search?{query}"))
                .send()
                .and_then(|r| r.json())
                .unwrap_or(Value::Null);
            body["hits"]
                .as_array()
                .map(|h| {
                    h.iter()
                        .filter_map(|h| h["product"]["product_id"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    let ours_ms = t.elapsed().as_secs_f64() * 1000.0 / queries.len() as f64;

    // Plain BM25 on the same index.
    let current = std::fs::read_to_string(data.path().join("CURRENT")).expect("CURRENT");
    let index = tantivy::Index::open_in_dir(data.path().join("indexes").join(current.trim()))
        .expect("open index");
    schemas::index::register_analyzers(&index);
    let fields = schemas::IndexFields::from_schema(&index.schema()).expect("fields");
    let searcher = index.reader().expect("reader").searcher();
    let parser = QueryParser::for_index(&index, vec![fields.title]);
    let bm25: Vec<Vec<String>> = queries
        .iter()
        .map(|(q, _)| {
            let (query, _) = parser.parse_query_lenient(q);
            searcher
                .search(&query, &TopDocs::with_limit(100).order_by_score())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(_, addr)| {
                    let doc: tantivy::TantivyDocument = searcher.doc(addr).ok()?;
                    let state =
                        schemas::ProductState::decode(doc.get_first(fields.state)?.as_bytes()?)
                            .ok()?;
                    Some(state.product_id)
                })
                .collect()
        })
        .collect();

    let report = |name: &str, results: &[Vec<String>]| {
        let (ndcg, n_ndcg, recall, n_recall) = metrics(&queries, results);
        println!("{name:<28} nDCG@10 {ndcg:.4} ({n_ndcg} queries)   recall@100 {recall:.4} ({n_recall} queries)");
    };
    report(&format!("ours ({split})"), &ours);
    report(&format!("plain BM25 title OR ({split})"), &bm25);
    println!("mean latency of our /search through HTTP: {ours_ms:.1} ms");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Condensed nDCG@10 and recall@100, averaged over queries.
fn metrics(
    queries: &[(&String, &Vec<Judgment>)],
    results: &[Vec<String>],
) -> (f64, usize, f64, usize) {
    let (mut ndcg_sum, mut ndcg_n, mut recall_sum, mut recall_n) = (0.0, 0, 0.0, 0);
    for ((_, judged), hits) in queries.iter().zip(results) {
        let gain: HashMap<&str, f64> = judged
            .iter()
            .map(|j| (j.product.as_str(), j.relevance - 1.0))
            .collect();
        let condensed: Vec<f64> = hits
            .iter()
            .take(100)
            .filter_map(|h| gain.get(h.as_str()).copied())
            .collect();
        let dcg = |gains: &[f64]| -> f64 {
            gains
                .iter()
                .take(10)
                .enumerate()
                .map(|(i, g)| g / ((i + 2) as f64).log2())
                .sum()
        };
        let mut ideal: Vec<f64> = gain.values().copied().collect();
        ideal.sort_by(|a, b| b.total_cmp(a));
        let idcg = dcg(&ideal);
        if idcg > 0.0 {
            ndcg_sum += dcg(&condensed) / idcg;
            ndcg_n += 1;
        }
        let relevant: Vec<&str> = judged
            .iter()
            .filter(|j| j.relevance >= 2.5)
            .map(|j| j.product.as_str())
            .collect();
        if !relevant.is_empty() {
            let found = relevant
                .iter()
                .filter(|r| hits.iter().take(100).any(|h| h == *r))
                .count();
            recall_sum += found as f64 / relevant.len() as f64;
            recall_n += 1;
        }
    }
    (
        ndcg_sum / ndcg_n.max(1) as f64,
        ndcg_n,
        recall_sum / recall_n.max(1) as f64,
        recall_n,
    )
}
