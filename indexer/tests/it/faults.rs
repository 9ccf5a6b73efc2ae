//! Faults and poison (issue #14): one bad event, one bad dead letter, must never stall the
//! catalog or lose an event. Each test is a scenario that failed on the code before its fix.

use std::time::Duration;

use schemas::EventKind;

use crate::common::{header, wait_for, Indexer, TestKafka};

/// A product event whose attribute *name* is `len` bytes long: invalid (names are at most
/// 256 bytes), and every part of its dead letter that names the field carries the name.
fn product_with_attribute_name(id: &str, len: usize) -> String {
    format!(
        "{{\"product_id\":\"{id}\",\"version\":1,\"ts\":1,\"title\":\"Poison\",\"attributes\":{{\"{}\":\"v\"}}}}",
        "k".repeat(len)
    )
}

fn valid_product(id: &str) -> String {
    format!("{{\"product_id\":\"{id}\",\"version\":1,\"ts\":1,\"title\":\"Valid product after the poison\"}}")
}

fn metric(indexer: &Indexer, sample: &str) -> Option<f64> {
    let text = reqwest::blocking::get(format!("{}/metrics", indexer.url))
        .ok()?
        .text()
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(sample))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Produces the poison then a valid product on the products topic; returns once both are
/// in the log.
fn poison_then_valid(kafka: &TestKafka, poison: &str, valid_id: &str) {
    let topic = kafka.topic(EventKind::Product).to_owned();
    kafka.produce_raw(
        &topic,
        Some(0),
        Some(b"poison"),
        Some(poison.as_bytes()),
        &[],
    );
    kafka.produce_raw(
        &topic,
        Some(0),
        Some(valid_id.as_bytes()),
        Some(valid_product(valid_id).as_bytes()),
        &[],
    );
    kafka.flush();
}

fn searchable(indexer: &Indexer, id: &str, timeout: Duration) -> bool {
    wait_for(timeout, || {
        (indexer.get(&format!("/products/{id}")).0 == 200).then_some(())
    })
    .is_some()
}

#[test]
fn a_dead_letter_too_large_with_its_headers_is_cut_to_fit_and_the_catalog_keeps_flowing() {
    let kafka = TestKafka::new(1);
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    // 400 KB of name: the payload plus the two headers that repeat it (`dlq.error.field`,
    // `dlq.error.message`) are over the producer's 1 MB `message.max.bytes`.
    poison_then_valid(
        &kafka,
        &product_with_attribute_name("p-poison", 400_000),
        "p-after",
    );
    assert!(
        searchable(&indexer, "p-after", Duration::from_secs(30)),
        "the product after the poison never became searchable"
    );
    let letters = kafka.read_all(kafka.dlq(), 1, Duration::from_secs(20));
    assert_eq!(letters.len(), 1, "the poison is dead-lettered");
    let letter = &letters[0];
    assert_eq!(
        header(letter, "dlq.error.code").as_deref(),
        Some("too_long")
    );
    for key in ["dlq.error.field", "dlq.error.message"] {
        let value = header(letter, key).unwrap_or_default();
        assert!(
            value.len() <= 1024 + "…".len() && value.ends_with('…'),
            "{key} is cut to 1 KiB with a marker: {} bytes",
            value.len()
        );
    }
    use rdkafka::Message;
    assert_eq!(
        letter.payload().map(<[u8]>::len),
        Some(product_with_attribute_name("p-poison", 400_000).len()),
        "the payload fits once the headers are bounded: kept whole"
    );
    let events = &indexer.status()["events"];
    assert_eq!(events["dlq"].as_u64(), Some(1));
    assert_eq!(events["dlq_failed"].as_u64(), Some(0));
}

#[test]
fn a_dead_letter_that_cannot_fit_at_all_is_skipped_loudly_and_counted() {
    let kafka = TestKafka::new(1);
    let dir = tempfile::tempdir().unwrap();
    // The smallest limit librdkafka accepts: the bounded headers alone are larger.
    let indexer = Indexer::start(
        &kafka,
        dir.path(),
        &["--kafka-property", "message.max.bytes=1000"],
    );
    poison_then_valid(
        &kafka,
        &product_with_attribute_name("p-poison", 5_000),
        "p-after",
    );
    assert!(
        searchable(&indexer, "p-after", Duration::from_secs(30)),
        "the product after an undeliverable dead letter never became searchable"
    );
    assert_eq!(
        metric(&indexer, "indexer_dlq_failures_total{reason=\"too_large\"}"),
        Some(1.0)
    );
    let events = &indexer.status()["events"];
    assert_eq!(events["invalid"].as_u64(), Some(1));
    assert_eq!(events["dlq"].as_u64(), Some(0));
    assert_eq!(events["dlq_failed"].as_u64(), Some(1));
    assert!(kafka
        .read_all(kafka.dlq(), 1, Duration::from_secs(3))
        .is_empty());
}

#[test]
fn with_dlq_failure_halt_an_undeliverable_dead_letter_stops_ingestion_and_says_where() {
    let kafka = TestKafka::new(1);
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(
        &kafka,
        dir.path(),
        &[
            "--kafka-property",
            "message.max.bytes=1000",
            "--dlq-failure",
            "halt",
        ],
    );
    poison_then_valid(
        &kafka,
        &product_with_attribute_name("p-poison", 5_000),
        "p-after",
    );
    let not_ready = wait_for(Duration::from_secs(30), || {
        let (code, body) = indexer.get("/ready");
        (code == 503 && body["reason"] == "pipeline_failed").then_some(body)
    })
    .expect("ingestion halts and /ready says so");
    let message = not_ready["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        message.contains("dead letter") && message.contains("offset 0"),
        "{message}"
    );
    assert_eq!(indexer.get("/products/p-after").0, 404, "nothing past it");
}
