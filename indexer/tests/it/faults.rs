//! Faults and poison (issue #14): one bad event, one bad dead letter, must never stall the
//! catalog or lose an event. Each test is a scenario that failed on the code before its fix.

use std::time::Duration;

use schemas::EventKind;

use crate::common::transactions::Marker;
use crate::common::{header, offline_rebuild, wait_for, wait_reindex_end, Indexer, TestKafka};

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
    // Counted by the commit that confirmed it.
    let events = wait_for(Duration::from_secs(10), || {
        let events = indexer.status()["events"].clone();
        (events["dlq"].as_u64() > Some(0)).then_some(events)
    })
    .unwrap_or_default();
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
    // Counted by the commit that made p-after searchable, just after its reload.
    let counted = wait_for(Duration::from_secs(10), || {
        metric(&indexer, "indexer_dlq_failures_total{reason=\"too_large\"}").filter(|n| *n > 0.0)
    });
    assert_eq!(counted, Some(1.0));
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
            "--admin-token",
            "halt-test-admin-token",
        ],
    );
    poison_then_valid(
        &kafka,
        &product_with_attribute_name("p-poison", 5_000),
        "p-after",
    );
    let not_ready = wait_for(Duration::from_secs(30), || {
        let (code, body) = indexer.get("/health/ingestion");
        (code == 503 && body["reason"] == "pipeline_failed").then_some(body)
    })
    .expect("ingestion halts and /health/ingestion says so");
    assert_eq!(indexer.get("/ready").0, 200, "the index is still served");
    let message = not_ready["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("dlq_undeliverable"), "{message}");
    // The raw error (which names the offset) is for the token holder.
    let detailed: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{}/health/ingestion", indexer.url))
        .bearer_auth("halt-test-admin-token")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let detail = detailed["problems"][0]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        detail.contains("dead letter") && detail.contains("offset 0"),
        "{detailed}"
    );
    assert!(not_ready["problems"][0].get("detail").is_none());
    assert_eq!(indexer.get("/products/p-after").0, 404, "nothing past it");
}

/// The products partition's entry in `/status`.
fn products_partition(indexer: &Indexer, kafka: &TestKafka) -> serde_json::Value {
    let status = indexer.status();
    status["kafka"]["partitions"]
        .as_array()
        .and_then(|ps| {
            ps.iter()
                .find(|p| p["topic"] == kafka.topic(EventKind::Product) && p["partition"] == 0)
                .cloned()
        })
        .unwrap_or_default()
}

/// A small invalid product (its attribute name is over 256 bytes).
fn small_poison() -> String {
    product_with_attribute_name("p-poison", 300)
}

#[test]
fn a_missing_dead_letter_topic_holds_back_only_the_offset_of_its_letter_and_valid_events_keep_flowing(
) {
    let kafka = TestKafka::new(1);
    let Some(mock) = kafka.mock() else {
        eprintln!("skipped: needs the mock cluster to hide the dead-letter topic");
        return;
    };
    use rdkafka::types::RDKafkaRespErr;
    mock.topic_error(
        kafka.dlq(),
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    poison_then_valid(&kafka, &small_poison(), "p-after");
    assert!(
        searchable(&indexer, "p-after", Duration::from_secs(30)),
        "a missing dead-letter topic stopped the valid product after the poison"
    );
    let partition = products_partition(&indexer, &kafka);
    assert_eq!(
        partition["next_offset"].as_i64(),
        Some(0),
        "committed up to the unconfirmed letter, never past it: {partition}"
    );
    assert_eq!(partition["processed_offset"].as_i64(), Some(2));
    let dead_letters = wait_for(Duration::from_secs(10), || {
        let d = indexer.status()["dead_letters"].clone();
        d["error"]["code"].is_string().then_some(d)
    })
    .expect("/status says why letters wait");
    assert_eq!(dead_letters["pending"].as_u64(), Some(1), "{dead_letters}");
    assert_eq!(metric(&indexer, "indexer_dlq_pending"), Some(1.0));

    // The topic appears: the letter is delivered and the partition committed past it.
    mock.topic_error(kafka.dlq(), RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR)
        .unwrap();
    let letters = kafka.read_all(kafka.dlq(), 1, Duration::from_secs(60));
    assert_eq!(letters.len(), 1);
    assert_eq!(header(&letters[0], "dlq.offset").as_deref(), Some("0"));
    let caught_up = wait_for(Duration::from_secs(30), || {
        (products_partition(&indexer, &kafka)["next_offset"].as_i64() == Some(2)).then_some(())
    });
    assert!(caught_up.is_some(), "{}", indexer.status());
    let dead_letters = &indexer.status()["dead_letters"];
    assert_eq!(dead_letters["pending"].as_u64(), Some(0), "{dead_letters}");
    assert!(dead_letters["error"].is_null(), "{dead_letters}");
    let dlq = wait_for(Duration::from_secs(10), || {
        indexer.status()["events"]["dlq"]
            .as_u64()
            .filter(|n| *n > 0)
    });
    assert_eq!(dlq, Some(1));
}

#[test]
fn a_forbidden_dead_letter_topic_loses_no_letter_across_a_crash() {
    let kafka = TestKafka::new(1);
    let Some(mock) = kafka.mock() else {
        eprintln!("skipped: needs the mock cluster to forbid the dead-letter topic");
        return;
    };
    use rdkafka::types::RDKafkaRespErr;
    mock.topic_error(
        kafka.dlq(),
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    poison_then_valid(&kafka, &small_poison(), "p-after");
    assert!(
        searchable(&indexer, "p-after", Duration::from_secs(30)),
        "a forbidden dead-letter topic stopped the valid product after the poison"
    );
    let code = wait_for(Duration::from_secs(30), || {
        indexer.status()["dead_letters"]["error"]["code"]
            .as_str()
            .map(str::to_owned)
    });
    assert_eq!(code.as_deref(), Some("TopicAuthorizationFailed"));
    assert_eq!(
        products_partition(&indexer, &kafka)["next_offset"].as_i64(),
        Some(0)
    );
    indexer.kill9();

    // Allowed again, restarted: the event is re-read from the held-back offset and its
    // letter delivered; the valid product is still there.
    mock.topic_error(kafka.dlq(), RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR)
        .unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    let letters = kafka.read_all(kafka.dlq(), 1, Duration::from_secs(60));
    assert_eq!(
        letters.len(),
        1,
        "the letter pending at the crash is not lost"
    );
    assert_eq!(header(&letters[0], "dlq.offset").as_deref(), Some("0"));
    assert!(searchable(&indexer, "p-after", Duration::from_secs(10)));
    let caught_up = wait_for(Duration::from_secs(30), || {
        (products_partition(&indexer, &kafka)["next_offset"].as_i64() == Some(2)).then_some(())
    });
    assert!(caught_up.is_some(), "{}", indexer.status());
}

/// A valid product event of `id`, keyed by it, on products partition 0.
fn produce_product(kafka: &TestKafka, id: &str) {
    kafka.produce_raw(
        kafka.topic(EventKind::Product),
        Some(0),
        Some(id.as_bytes()),
        Some(valid_product(id).as_bytes()),
        &[],
    );
}

#[test]
fn an_event_that_panics_the_pipeline_is_set_aside_after_three_crashes_and_dead_lettered() {
    let kafka = TestKafka::new(1);
    let dir = tempfile::tempdir().unwrap();
    // Merging any event of p-poison panics (a stand-in for a bug one event triggers).
    let indexer = Indexer::start_with_env(
        &kafka,
        dir.path(),
        &[],
        &[("FAILPOINTS", "ingest::apply=return(p-poison)")],
    );
    produce_product(&kafka, "p-before");
    kafka.flush();
    assert!(searchable(&indexer, "p-before", Duration::from_secs(30)));
    produce_product(&kafka, "p-poison");
    produce_product(&kafka, "p-after");
    kafka.flush();
    assert!(
        searchable(&indexer, "p-after", Duration::from_secs(60)),
        "a poison event crash-loops the pipeline: {}",
        indexer.status()
    );
    let letters = kafka.read_all(kafka.dlq(), 1, Duration::from_secs(20));
    assert_eq!(letters.len(), 1);
    assert_eq!(
        header(&letters[0], "dlq.error.code").as_deref(),
        Some("crashed_pipeline")
    );
    assert_eq!(header(&letters[0], "dlq.offset").as_deref(), Some("1"));
    let message = header(&letters[0], "dlq.error.message").unwrap_or_default();
    assert!(
        message.contains("3 times") && message.contains("ingest::apply failpoint"),
        "{message}"
    );
    assert_eq!(
        metric(&indexer, "indexer_pipeline_restarts_total"),
        Some(3.0),
        "restarted from the last commit after each crash, then set aside"
    );
    assert_eq!(indexer.get("/products/p-poison").0, 404);
    assert_eq!(indexer.get("/products/p-before").0, 200, "nothing lost");
    // Running again (the crashes delayed p-after by seconds: the freshness objective may
    // rightly be breached, but the pipeline is no longer failing).
    let running = wait_for(Duration::from_secs(10), || {
        let problems = indexer.status()["ingestion"]["problems"].clone();
        let reasons: Vec<&str> = problems
            .as_array()
            .map(|p| p.iter().filter_map(|p| p["reason"].as_str()).collect())
            .unwrap_or_default();
        (!reasons.contains(&"pipeline_failed")).then_some(())
    });
    assert!(running.is_some(), "{}", indexer.status());
    assert!(
        metric(
            &indexer,
            "indexer_clock_skew_events_total{direction=\"past\"}"
        )
        .is_some_and(|n| n >= 2.0),
        "the ts of 1 of p-before and p-after is counted as clock skew"
    );
}

#[test]
fn an_event_whose_decoding_panics_is_dead_lettered_without_a_restart() {
    let kafka = TestKafka::new(1);
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start_with_env(
        &kafka,
        dir.path(),
        &[],
        &[("FAILPOINTS", "ingest::decode=return(p-poison)")],
    );
    produce_product(&kafka, "p-poison");
    produce_product(&kafka, "p-after");
    kafka.flush();
    assert!(searchable(&indexer, "p-after", Duration::from_secs(30)));
    let letters = kafka.read_all(kafka.dlq(), 1, Duration::from_secs(20));
    assert_eq!(letters.len(), 1);
    assert_eq!(
        header(&letters[0], "dlq.error.code").as_deref(),
        Some("crashed_pipeline")
    );
    assert_eq!(
        metric(&indexer, "indexer_pipeline_restarts_total"),
        Some(0.0)
    );
    assert_eq!(indexer.get("/products/p-poison").0, 404);
}

/// Runs `indexer run` on `dir` expecting it to refuse to start: its exit status and stderr
/// (killed after 60 s if it starts instead).
fn run_expecting_refusal(kafka: &TestKafka, dir: &std::path::Path) -> (bool, String) {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(crate::common::indexer_binary())
        .arg("run")
        .args(kafka.args())
        .arg("--data-dir")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let exited = wait_for(Duration::from_secs(60), || child.try_wait().ok().flatten());
    if exited.is_none() {
        let _ = child.kill();
    }
    let _ = child.wait();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    (exited.is_some_and(|s| !s.success()), stderr)
}

#[test]
fn a_missing_current_refuses_to_start_names_the_generations_and_deletes_nothing() {
    let kafka = TestKafka::new(1);
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    produce_product(&kafka, "p-kept");
    kafka.flush();
    assert!(searchable(&indexer, "p-kept", Duration::from_secs(30)));
    indexer.terminate();
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();

    let (refused, stderr) = run_expecting_refusal(&kafka, dir.path());
    assert!(refused, "started without CURRENT: {stderr}");
    assert!(
        stderr.contains("CURRENT is missing")
            && stderr.contains("gen-000001 (complete)")
            && stderr.contains("--generation gen-000001"),
        "{stderr}"
    );
    assert!(
        dir.path().join("indexes/gen-000001").is_dir(),
        "the generation is not deleted"
    );
    assert!(!dir.path().join("indexes/gen-000002").exists());

    let indexer = Indexer::start(&kafka, dir.path(), &["--generation", "gen-000001"]);
    assert_eq!(
        indexer.get("/products/p-kept").0,
        200,
        "the index is intact"
    );
    assert_eq!(indexer.status()["index"]["generation"].as_u64(), Some(1));
}

#[test]
fn a_failed_sync_after_current_was_switched_keeps_the_generation_current_names() {
    let kafka = TestKafka::new(1);
    let dir = tempfile::tempdir().unwrap();
    const TOKEN: &str = "fault-test-admin-token";
    // Every sync of the data directory after CURRENT is renamed fails.
    let indexer = Indexer::start_with_env(
        &kafka,
        dir.path(),
        &["--admin-token", TOKEN],
        &[("FAILPOINTS", "store::current_synced=return")],
    );
    produce_product(&kafka, "p-swapped");
    kafka.flush();
    assert!(searchable(&indexer, "p-swapped", Duration::from_secs(30)));
    let client = reqwest::blocking::Client::new();
    let url = format!("{}/admin/reindex", indexer.url);
    let started = client.post(&url).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(started.status().as_u16(), 202);
    let done =
        wait_reindex_end(&indexer, TOKEN, Duration::from_secs(60)).expect("the reindex ends");
    let current = std::fs::read_to_string(dir.path().join("CURRENT")).unwrap();
    assert!(
        dir.path().join("indexes").join(current.trim()).is_dir(),
        "CURRENT names {current}, which must exist (reindex: {done})"
    );
    assert_eq!(done["state"], "done", "the switch happened: {done}");
    assert_eq!(indexer.get("/products/p-swapped").0, 200);
    indexer.terminate();
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    assert_eq!(
        indexer.get("/products/p-swapped").0,
        200,
        "after a restart too"
    );
    assert_eq!(indexer.status()["index"]["generation"].as_u64(), Some(2));
}

fn product_at(id: &str, ts: u64) -> String {
    format!("{{\"product_id\":\"{id}\",\"version\":1,\"ts\":{ts},\"title\":\"Clock {id}\"}}")
}

fn now_ms() -> u64 {
    indexer::now_ms()
}

/// Regression (issue #14): a producer clock ten years ahead pinned its product at the top
/// of `newest`, and a `ts` of 0 breached the freshness objective by itself.
#[test]
fn implausible_producer_clocks_are_clamped_counted_and_never_pin_or_breach() {
    let kafka = TestKafka::new(1);
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    let topic = kafka.topic(EventKind::Product).to_owned();
    let now = now_ms();
    let ten_years = 10 * 365 * 24 * 3600 * 1000;
    for (id, ts) in [
        ("p-future", now + ten_years),
        ("p-zero", 0),
        // A minute ahead: plausible drift, kept.
        ("p-recent", now + 60_000),
    ] {
        kafka.produce_raw(
            &topic,
            Some(0),
            Some(id.as_bytes()),
            Some(product_at(id, ts).as_bytes()),
            &[],
        );
    }
    kafka.flush();
    indexer.wait_committed(3, Duration::from_secs(30));
    let (_, body) = indexer.get("/search?sort=newest");
    let ids: Vec<&str> = body["hits"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|d| d["product"]["product_id"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(ids.first().copied(), Some("p-recent"), "{body}");
    let (_, future) = indexer.get("/products/p-future");
    let updated = future["updated_at"].as_u64().unwrap_or(u64::MAX);
    assert!(
        updated <= now_ms() + 60_000,
        "clamped to the Kafka timestamp: {future}"
    );
    assert_eq!(
        metric(
            &indexer,
            "indexer_clock_skew_events_total{direction=\"future\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &indexer,
            "indexer_clock_skew_events_total{direction=\"past\"}"
        ),
        Some(1.0)
    );
    let healthy = wait_for(Duration::from_secs(10), || {
        (indexer.get("/health/ingestion").0 == 200).then_some(())
    });
    assert!(healthy.is_some(), "{}", indexer.status());
    assert_eq!(indexer.status()["slo"]["breached"], false);
}

/// Regression (issue #14): `--help` printed `INDEXER_KAFKA_PROPERTIES`' value (a
/// `sasl.password`), and `/status` showed file paths and raw errors to anyone.
#[test]
fn secrets_never_reach_help_logs_or_status_and_raw_errors_need_the_token() {
    use std::process::{Command, Stdio};
    const SECRET: &str = "hunter2-secret-value";
    const TOKEN: &str = "status-test-admin-token";
    for sub in ["run", "demo", "reindex", "rebuild", "generate"] {
        let out = Command::new(crate::common::indexer_binary())
            .args([sub, "--help"])
            .env("INDEXER_ADMIN_TOKEN", format!("{SECRET}-token"))
            .env(
                "INDEXER_KAFKA_PROPERTIES",
                format!("sasl.password={SECRET}"),
            )
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{sub} --help");
        assert!(
            !text.contains(SECRET),
            "{sub} --help shows a secret:\n{text}"
        );
    }

    let kafka = TestKafka::new(1);
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("indexer.log");
    let mut cmd = Command::new(crate::common::indexer_binary());
    cmd.arg("run")
        .args(kafka.args())
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--listen", "127.0.0.1:0", "--commit-interval-ms", "200"])
        .args(["--admin-token", TOKEN])
        .args(["--kafka-property", &format!("sasl.password={SECRET}")])
        .env("RUST_LOG", "debug,tantivy=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()));
    let indexer = Indexer::spawn(cmd, dir.path());
    produce_product(&kafka, "p-secret");
    kafka.flush();
    assert!(searchable(&indexer, "p-secret", Duration::from_secs(30)));

    let public = indexer.status();
    let text = public.to_string();
    assert!(public["index"].get("path").is_none(), "{}", public["index"]);
    assert!(
        !text.contains(&dir.path().display().to_string()),
        "a path: {text}"
    );
    assert!(!text.contains(SECRET) && !text.contains(TOKEN));
    let private: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{}/status", indexer.url))
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        private["index"]["path"]
            .as_str()
            .is_some_and(|p| p.contains("gen-000001")),
        "the token holder sees the path: {}",
        private["index"]
    );
    indexer.terminate();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("index commit"), "the log was captured");
    assert!(
        !log.contains(SECRET),
        "the log shows the kafka property's value"
    );
    assert!(!log.contains(TOKEN), "the log shows the admin token");
}

/// Regression (issue #14): connections that trickle header bytes were held forever (no
/// header timeout, no connection limit): enough of them exhaust the server.
#[test]
fn slow_clients_are_disconnected_and_never_starve_the_others() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    const SLOW: usize = 1_500;
    let kafka = TestKafka::new(1);
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(
        &kafka,
        dir.path(),
        &["--http-header-timeout", "3s", "--max-connections", "2000"],
    );
    let addr = indexer.url.trim_start_matches("http://").to_owned();
    let mut slow: Vec<TcpStream> = (0..SLOW)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /search?q=x HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
            s
        })
        .collect();
    let started = std::time::Instant::now();
    let mut closed = vec![false; SLOW];
    let mut served = 0;
    // Trickle a header byte on every open one, and check the others are still served.
    while closed.iter().any(|c| !c) && started.elapsed() < Duration::from_secs(20) {
        for (i, s) in slow.iter_mut().enumerate() {
            if closed[i] {
                continue;
            }
            let mut buf = [0u8; 256];
            match s.read(&mut buf) {
                // The server answered (408) or closed: the slow client is out.
                Ok(_) => closed[i] = true,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    if s.write_all(b"X").is_err() {
                        closed[i] = true;
                    }
                }
                Err(_) => closed[i] = true,
            }
        }
        for path in ["/health", "/search?q=kettle"] {
            assert_eq!(
                indexer.get(path).0,
                200,
                "{path} while {SLOW} clients trickle"
            );
            served += 1;
        }
    }
    let open = closed.iter().filter(|c| !**c).count();
    assert_eq!(
        open,
        0,
        "slow clients still connected after {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "closed within the header timeout and a margin: {:?}",
        started.elapsed()
    );
    assert!(served >= 2);
}

#[test]
fn connections_past_the_limit_are_closed_at_once_and_counted() {
    use std::io::Read;
    use std::net::TcpStream;
    let kafka = TestKafka::new(1);
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &["--max-connections", "20"]);
    let addr = indexer.url.trim_start_matches("http://").to_owned();
    let held: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    let mut extra = TcpStream::connect(&addr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        extra.read(&mut buf).ok(),
        Some(0),
        "the 21st connection is closed by the server"
    );
    drop(held);
    let counted = wait_for(Duration::from_secs(10), || {
        metric(&indexer, "http_connections_rejected_total").filter(|n| *n >= 1.0)
    });
    assert!(counted.is_some());
}

/// Fills partition 0 of the products topic with ~6 MiB: the mock broker keeps about 5 MiB
/// per partition and drops the oldest batches, as retention would.
fn overflow_retention(kafka: &TestKafka, prefix: &str) {
    overflow_retention_with(kafka, prefix, 60);
}

/// `count` products of 100 KB each on the products partition.
fn overflow_retention_with(kafka: &TestKafka, prefix: &str, count: usize) {
    let topic = kafka.topic(EventKind::Product).to_owned();
    for i in 0..count {
        let json = format!(
            r#"{{"product_id":"{prefix}-{i}","version":1,"ts":1,"title":"Big {i}","description":"{}"}}"#,
            "x".repeat(100_000)
        );
        kafka.produce_raw(&topic, Some(0), None, Some(json.as_bytes()), &[]);
        kafka.flush();
    }
}

/// Indexes `p0` (offset 0 of products[0]), stops, then lets retention delete it and more
/// while the indexer is down; `None` without the mock broker.
fn truncated_while_down() -> Option<(TestKafka, tempfile::TempDir)> {
    let kafka = TestKafka::new(1);
    if !kafka.is_mock() {
        eprintln!("skipped: relies on the mock broker's 5 MiB partition retention");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let topic = kafka.topic(EventKind::Product).to_owned();
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    kafka.produce_raw(
        &topic,
        Some(0),
        None,
        Some(valid_product("p0").as_bytes()),
        &[],
    );
    kafka.flush();
    indexer.wait_committed(1, Duration::from_secs(30));
    assert!(indexer.terminate().success());
    overflow_retention(&kafka, "big");
    Some((kafka, dir))
}

fn offset_resets_sample(kafka: &TestKafka) -> String {
    format!(
        "indexer_offset_resets_total{{topic=\"{}\",partition=\"0\",reason=\"truncated\"}}",
        kafka.topic(EventKind::Product)
    )
}

/// Regression (issue #14 item 5): retention deleted records past the stored offset while
/// the indexer was down; on start the old code resumed at the log start without a word
/// (librdkafka's `auto.offset.reset=earliest`), so the products of the lost records could
/// stay stale for ever.
#[test]
fn a_log_truncated_while_down_is_never_skipped_silently() {
    let Some((kafka, dir)) = truncated_while_down() else {
        return;
    };
    let topic = kafka.topic(EventKind::Product).to_owned();

    // Default `fail`: the partition is held and reported; serving goes on.
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    let problem = wait_for(Duration::from_secs(30), || {
        let (code, body) = indexer.get("/health/ingestion");
        (code == 503 && body["reason"] == "log_gap").then_some(body)
    });
    let problem = problem.expect("the gap is reported as the ingestion problem log_gap");
    let message = problem["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("{topic}[0]")), "{problem}");
    assert!(message.contains("indexer reindex --force"), "{problem}");
    let gaps = &indexer.status()["kafka"]["log_gaps"];
    assert_eq!(gaps[0]["reason"], "truncated", "{gaps}");
    assert_eq!(gaps[0]["action"], "held");
    assert_eq!(gaps[0]["stored_offset"], 1);
    assert!(gaps[0]["log_start"].as_i64().unwrap() > 1, "{gaps}");
    let sample = offset_resets_sample(&kafka);
    assert_eq!(metric(&indexer, &sample), Some(1.0));
    assert_eq!(indexer.get("/ready").0, 200, "serving is not ingestion");
    assert_eq!(indexer.get("/products/p0").0, 200);
    assert_eq!(indexer.get("/products/big-59").0, 404, "not consumed");
    assert!(indexer.terminate().success());

    // `continue`: the loss is accepted, counted, and the partition consumed.
    let indexer = Indexer::start(&kafka, dir.path(), &["--on-log-gap", "continue"]);
    assert!(searchable(&indexer, "big-59", Duration::from_secs(60)));
    assert_eq!(metric(&indexer, &sample), Some(1.0));
    assert_eq!(
        indexer.status()["kafka"]["log_gaps"][0]["action"],
        "continued"
    );
    // An accepted gap is not a problem (the old events just indexed may still breach the
    // freshness objective: they waited in the log).
    let problems = indexer.get("/health/ingestion").1["problems"].clone();
    let reasons: Vec<&str> = problems
        .as_array()
        .map(|p| p.iter().filter_map(|p| p["reason"].as_str()).collect())
        .unwrap_or_default();
    assert!(!reasons.contains(&"log_gap"), "{problems}");
}

/// Regression (issue #14 item 5, found by the soak): retention overtaking a *running*
/// consumer was jumped over silently (`auto.offset.reset=earliest`): the records between
/// its position and the new log start were never indexed, and nothing said so. Here the
/// consumer is slowed down (one poll every 2 s, a 1 MiB prefetch) while 12 MB go to a
/// partition the mock broker keeps only 5 MiB of.
#[test]
fn retention_overtaking_a_running_consumer_is_a_log_gap_never_a_silent_jump() {
    let kafka = TestKafka::new(1);
    if !kafka.is_mock() {
        eprintln!("skipped: relies on the mock broker's 5 MiB partition retention");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start_with_env(
        &kafka,
        dir.path(),
        &["--kafka-property", "queued.max.messages.kbytes=1024"],
        &[("FAILPOINTS", "ingest::poll=sleep(2000)")],
    );
    overflow_retention_with(&kafka, "run", 120);
    let gap = wait_for(Duration::from_secs(60), || {
        indexer.status()["kafka"]["log_gaps"]
            .as_array()
            .and_then(|g| g.first().cloned())
    });
    let gap = gap.unwrap_or_else(|| panic!("no log gap reported: {}", indexer.status()["kafka"]));
    assert_eq!(gap["reason"], "truncated", "{gap}");
    assert_eq!(gap["action"], "held", "{gap}");
    assert!(
        gap["stored_offset"].as_i64() < gap["log_start"].as_i64(),
        "{gap}"
    );
    assert_eq!(metric(&indexer, &offset_resets_sample(&kafka)), Some(1.0));
    let (code, health) = indexer.get("/health/ingestion");
    assert_eq!(code, 503);
    assert!(health.to_string().contains("log_gap"), "{health}");
    // Held: nothing past the gap is consumed, so nothing is committed past it.
    assert_eq!(indexer.get("/products/run-119").0, 404);
    let partition = &indexer.status()["kafka"]["partitions"]
        .as_array()
        .and_then(|ps| {
            ps.iter()
                .find(|p| p["topic"] == kafka.topic(EventKind::Product))
                .cloned()
        })
        .unwrap_or_default();
    assert!(
        partition["next_offset"].as_i64() <= gap["stored_offset"].as_i64(),
        "{partition} {gap}"
    );
}

/// `--on-log-gap rebuild`: the gap starts a forced reindex; the new index holds what the log
/// still has, and the pipeline restarts on it, past the gap.
#[test]
fn a_log_gap_under_rebuild_starts_a_forced_reindex() {
    let Some((kafka, dir)) = truncated_while_down() else {
        return;
    };
    let indexer = Indexer::start(&kafka, dir.path(), &["--on-log-gap", "rebuild"]);
    assert!(searchable(&indexer, "big-59", Duration::from_secs(90)));
    assert_eq!(metric(&indexer, &offset_resets_sample(&kafka)), Some(1.0));
    let settled = wait_for(Duration::from_secs(30), || {
        let status = indexer.status();
        (status["reindex"]["state"] == "done"
            && status["kafka"]["log_gaps"]
                .as_array()
                .is_some_and(|g| g.is_empty()))
        .then_some(())
    });
    assert!(settled.is_some(), "{}", indexer.status());
    assert_eq!(
        indexer.get("/products/p0").0,
        404,
        "deleted by retention: lost"
    );
}

/// Item 4: a transactional producer ends each transaction with a marker that takes an
/// offset and is never delivered. Lag must still reach 0 after the last committed
/// transaction, the offline rebuild must finish, and an aborted transaction's records must
/// never be indexed (that last part needs a real broker: the mock one cannot abort).
#[test]
fn transaction_markers_do_not_hold_lag_or_the_rebuild_and_aborted_records_are_never_indexed() {
    let kafka = TestKafka::new(1);
    let topic = kafka.topic(EventKind::Product).to_owned();
    let producer = kafka.transactional_producer("it-transactions", &topic, 0);
    let records = |ids: &[&'static str]| -> Vec<(&'static str, String)> {
        ids.iter().map(|id| (*id, valid_product(id))).collect()
    };
    producer.transaction(&records(&["tx-1", "tx-2"]), Marker::Commit);
    if !kafka.is_mock() {
        producer.transaction(&records(&["tx-aborted"]), Marker::Abort);
    }
    producer.transaction(&records(&["tx-3"]), Marker::Commit);

    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    assert!(searchable(&indexer, "tx-3", Duration::from_secs(30)));
    // The log end, past the last marker, as the broker reports it.
    let log_end = kafka.watermarks(&topic, 0).1;
    let products = |status: &serde_json::Value| {
        status["kafka"]["partitions"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["topic"] == topic.as_str()).cloned())
            .unwrap_or_default()
    };
    let caught_up = wait_for(Duration::from_secs(30), || {
        let status = indexer.status();
        (products(&status)["high_watermark"] == log_end
            && status["kafka"]["total_lag"] == 0
            && indexer.get("/health/ingestion").0 == 200)
            .then_some(())
    });
    assert!(
        caught_up.is_some(),
        "lag never reached 0 after the last transaction (log end {log_end}): {}",
        indexer.status()["kafka"]
    );
    assert_eq!(indexer.get("/ready").0, 200);
    assert_eq!(
        products(&indexer.status())["next_offset"],
        log_end,
        "the committed position is past the last marker"
    );
    if !kafka.is_mock() {
        assert_eq!(indexer.get("/products/tx-aborted").0, 404, "aborted");
    }
    assert!(indexer.terminate().success());

    assert_eq!(
        offline_rebuild(&kafka, dir.path(), Duration::from_secs(60)),
        Some(true),
        "the offline rebuild never finished"
    );
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    for id in ["tx-1", "tx-2", "tx-3"] {
        assert!(searchable(&indexer, id, Duration::from_secs(30)), "{id}");
    }
    if !kafka.is_mock() {
        assert_eq!(indexer.get("/products/tx-aborted").0, 404, "aborted");
    }
}

/// A small tmpfs mounted over a temporary directory (needs `CAP_SYS_ADMIN`, as root on the
/// CI machine); unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size_mib: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(SmallDisk { dir })
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Fills the disk: a file that grows until the device says it is full.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn product_with_description(id: &str, words: usize) -> String {
    let description = (0..words)
        .map(|i| format!("word{id}x{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    format!("{{\"product_id\":\"{id}\",\"version\":1,\"ts\":1,\"title\":\"Kettle {id}\",\"description\":\"{description}\"}}")
}

fn produce_products(kafka: &TestKafka, ids: impl Iterator<Item = String>) -> usize {
    let topic = kafka.topic(EventKind::Product).to_owned();
    let mut n = 0;
    for id in ids {
        let payload = product_with_description(&id, 200);
        kafka.produce_raw(
            &topic,
            Some(0),
            Some(id.as_bytes()),
            Some(payload.as_bytes()),
            &[],
        );
        n += 1;
    }
    kafka.flush();
    n
}

/// Item 10: with the data directory's disk full, commits fail and are retried with backoff,
/// `/ready` stays 200 (searches are served from the last commit) and says `disk_full`, and
/// once space is freed ingestion resumes with nothing lost.
#[test]
fn a_full_disk_fails_commits_keeps_serving_says_disk_full_and_resumes_losing_nothing() {
    let Some(disk) = SmallDisk::mount(48) else {
        eprintln!("skipped: cannot mount a tmpfs here (needs CAP_SYS_ADMIN)");
        return;
    };
    let kafka = TestKafka::new(1);
    let indexer = Indexer::start(&kafka, disk.path(), &[]);
    let before = produce_products(&kafka, (0..50).map(|i| format!("old-{i}")));
    indexer.wait_committed(before as i64, Duration::from_secs(60));

    let filler = disk.fill();
    let after = produce_products(&kafka, (0..300).map(|i| format!("new-{i}")));
    let full = wait_for(Duration::from_secs(60), || {
        let (code, body) = indexer.get("/health/ingestion");
        (code == 503 && body["reason"] == "disk_full").then_some(body)
    });
    assert!(
        full.is_some(),
        "ingestion never said disk_full: {}",
        indexer.get("/health/ingestion").1
    );
    let (code, ready) = indexer.get("/ready");
    assert_eq!(code, 200, "searches are still served: {ready}");
    assert_eq!(ready["degraded"], true);
    assert!(
        ready["problems"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["reason"] == "disk_full")),
        "{ready}"
    );
    assert_eq!(indexer.get("/products/old-7").0, 200);
    let (code, found) = indexer.get("/search?q=kettle&per_page=1");
    assert_eq!(code, 200, "{found}");
    assert_eq!(
        found["total"], before,
        "served from the last commit: {found}"
    );

    std::fs::remove_file(filler).unwrap();
    indexer.wait_committed((before + after) as i64, Duration::from_secs(120));
    assert!(searchable(&indexer, "new-299", Duration::from_secs(10)));
    assert_eq!(
        indexer.get("/health/ingestion").1["reason"],
        serde_json::Value::Null
    );
    let (_, found) = indexer.get("/search?q=kettle&per_page=1");
    assert_eq!(found["total"], before + after, "nothing lost: {found}");
    assert!(indexer.terminate().success());
}
