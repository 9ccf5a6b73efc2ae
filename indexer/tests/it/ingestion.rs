//! Kafka ingestion end to end: exactly-once results, crashes, dead letters, outages, freshness.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use indexer::merge::MergedCatalog;
use schemas::{Event, EventKind};
use serde_json::Value;

use crate::common::events::{random_events, shuffled_with_duplicates};
use crate::common::{header, wait_for, Indexer, TestKafka};

/// Every product of `events` is served exactly as the merge engine says (404 when invisible).
fn assert_matches_merge_engine(indexer: &Indexer, events: &[Event]) {
    let catalog: MergedCatalog = events.iter().collect();
    let expected = catalog.documents();
    let ids: BTreeSet<&str> = events.iter().map(Event::product_id).collect();
    let mut visible = 0;
    for id in ids {
        let (status, body) = indexer.get(&format!("/products/{id}"));
        match expected.get(id) {
            Some(doc) => {
                visible += 1;
                assert_eq!(status, 200, "{id} should be visible");
                assert_eq!(body, serde_json::to_value(doc).unwrap(), "document of {id}");
            }
            None => assert_eq!(status, 404, "{id} should not be visible: {body}"),
        }
    }
    let index = &indexer.status()["index"];
    assert_eq!(index["docs"].as_u64(), Some(visible as u64));
    assert_eq!(
        index["records"].as_u64(),
        Some(catalog.states().count() as u64),
        "one stored merge state per product, visible or not"
    );
}

#[test]
fn shuffled_events_with_duplicates_give_the_merge_engines_documents() {
    let kafka = TestKafka::new(4);
    let events = random_events(7, 150);
    let delivery = shuffled_with_duplicates(&events, 8, 20);
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    kafka.produce(&delivery);
    kafka.flush();
    indexer.wait_committed(delivery.len() as i64, Duration::from_secs(60));
    assert_matches_merge_engine(&indexer, &events);
    let counters = &indexer.status()["events"];
    assert_eq!(counters["consumed"].as_u64(), Some(delivery.len() as u64));
    assert_eq!(
        counters["applied"].as_u64().unwrap() + counters["stale"].as_u64().unwrap(),
        delivery.len() as u64
    );
    assert!(
        counters["stale"].as_u64().unwrap() > 0,
        "duplicates are stale"
    );
}

#[test]
fn kill_dash_nine_at_random_moments_converges_to_a_clean_runs_state() {
    let kafka = TestKafka::new(3);
    let events = random_events(21, 400);
    let delivery = shuffled_with_duplicates(&events, 22, 10);
    let dir = tempfile::tempdir().unwrap();
    let producer = kafka.producer();
    std::thread::scope(|scope| {
        // Events flow during the whole test, about 3 s worth.
        let flowing =
            scope.spawn(|| producer.produce_paced(&delivery, (delivery.len() / 3) as u32));
        let mut kills = 0;
        while kills < 6 {
            let indexer = Indexer::start(&kafka, dir.path(), &["--commit-interval-ms", "50"]);
            std::thread::sleep(Duration::from_millis(rand::random_range(50..600)));
            indexer.kill9();
            kills += 1;
        }
        flowing.join().unwrap();
    });
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    indexer.wait_committed(delivery.len() as i64, Duration::from_secs(60));
    assert_matches_merge_engine(&indexer, &events);
}

#[test]
fn invalid_events_go_to_the_dead_letter_topic_and_valid_ones_around_them_are_indexed() {
    let kafka = TestKafka::new(1);
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    let valid = random_events(3, 10);
    let prices = kafka.topic(EventKind::Price).to_owned();
    let products = kafka.topic(EventKind::Product).to_owned();
    let oversized = format!(
        "{{\"product_id\":\"big\",\"version\":1,\"ts\":1,\"title\":\"{}\"}}",
        "x".repeat(1024 * 1024 + 10)
    );
    let invalid: Vec<(&str, Option<Vec<u8>>, &str)> = vec![
        (&prices, Some(b"{not json".to_vec()), "not_json"),
        (&prices, Some(b"{\"a\":\"\xff\xfe\"}".to_vec()), "not_utf8"),
        (&prices, None, "null_payload"),
        (
            &prices,
            Some(br#"{"offer_id":"o","product_id":"p","version":"1","ts":1,"price_cents":5,"currency":"USD"}"#.to_vec()),
            "wrong_type",
        ),
        (
            &prices,
            Some(br#"{"offer_id":"o","product_id":"p","version":1,"ts":1,"price_cents":-5,"currency":"USD"}"#.to_vec()),
            "negative_number",
        ),
        (&products, Some(oversized.into_bytes()), "too_large"),
        (&products, Some(b"[1,2,3]".to_vec()), "not_object"),
    ];
    // Interleave: valid, invalid, valid, ...
    let mut expected_codes = Vec::new();
    let mut total = 0;
    for (i, e) in valid.iter().enumerate() {
        kafka.produce_raw(
            kafka.topic(e.kind()),
            Some(0),
            Some(b"k"),
            Some(e.to_json().as_bytes()),
            &[],
        );
        total += 1;
        if let Some((topic, payload, code)) = invalid.get(i) {
            kafka.produce_raw(
                topic,
                Some(0),
                Some(b"bad-key"),
                payload.as_deref(),
                &[("trace", b"t-1")],
            );
            expected_codes.push(*code);
            total += 1;
        }
    }
    kafka.flush();
    indexer.wait_committed(total, Duration::from_secs(60));
    assert_matches_merge_engine(&indexer, &valid);

    let letters = kafka.read_all(kafka.dlq(), invalid.len(), Duration::from_secs(20));
    assert_eq!(letters.len(), invalid.len());
    let mut codes: Vec<String> = letters
        .iter()
        .filter_map(|m| header(m, "dlq.error.code"))
        .collect();
    codes.sort();
    expected_codes.sort();
    assert_eq!(codes, expected_codes);
    for m in &letters {
        use rdkafka::Message;
        assert_eq!(m.key(), Some(&b"bad-key"[..]));
        assert_eq!(
            header(m, "trace").as_deref(),
            Some("t-1"),
            "original headers kept"
        );
        let topic = header(m, "dlq.topic").unwrap();
        assert!(topic == prices || topic == products);
        assert_eq!(header(m, "dlq.partition").as_deref(), Some("0"));
        assert!(header(m, "dlq.offset").unwrap().parse::<i64>().is_ok());
        assert!(!header(m, "dlq.error.message").unwrap().is_empty());
        match header(m, "dlq.error.code").as_deref() {
            Some("null_payload") => assert_eq!(m.payload(), None),
            Some("too_large") => {
                assert_eq!(header(m, "dlq.payload.truncated").as_deref(), Some("true"));
            }
            Some("not_json") => assert_eq!(m.payload(), Some(&b"{not json"[..])),
            _ => {}
        }
    }
    let counters = &indexer.status()["events"];
    assert_eq!(counters["invalid"].as_u64(), Some(invalid.len() as u64));
    assert_eq!(counters["dlq"].as_u64(), Some(invalid.len() as u64));
}

#[test]
fn a_broker_outage_loses_nothing_and_reports_not_ready() {
    let kafka = TestKafka::new(2);
    let Some(mock) = kafka.mock() else {
        eprintln!("skipped: broker outages are injected with the in-process MockCluster only");
        return;
    };
    let events = random_events(31, 60);
    let (before, after) = events.split_at(events.len() / 2);
    let dir = tempfile::tempdir().unwrap();
    // These events carry old timestamps: keep the freshness SLO out of this test.
    let indexer = Indexer::start(
        &kafka,
        dir.path(),
        &[
            "--freshness-target",
            "500ms",
            "--freshness-slo",
            "100000h",
            "--freshness-slo-live",
            "100000h",
        ],
    );
    kafka.produce(before);
    kafka.flush();
    indexer.wait_committed(before.len() as i64, Duration::from_secs(30));

    mock.broker_down(1).unwrap();
    let reason = wait_for(Duration::from_secs(20), || {
        let (code, body) = indexer.get("/health/ingestion");
        (code == 503).then(|| body["reason"].as_str().unwrap_or_default().to_owned())
    });
    assert_eq!(reason.as_deref(), Some("kafka_unreachable"));
    // Regression (issue #14): /ready used to answer 503 here, taking every replica out of
    // the balancer during a broker incident while each could serve its index.
    let (code, ready) = indexer.get("/ready");
    assert_eq!(code, 200, "{ready}");
    assert_eq!(ready["degraded"], true);
    assert_eq!(ready["problems"][0]["reason"], "kafka_unreachable");
    // Reads keep being served during the outage.
    let id = before[0].product_id();
    let (code, _) = indexer.get(&format!("/products/{id}"));
    assert!(code == 200 || code == 404);

    mock.broker_up(1).unwrap();
    kafka.produce(after);
    kafka.flush();
    indexer.wait_committed(events.len() as i64, Duration::from_secs(60));
    assert_matches_merge_engine(&indexer, &events);
    let healthy = wait_for(Duration::from_secs(20), || {
        (indexer.get("/health/ingestion").0 == 200).then_some(())
    });
    assert!(
        healthy.is_some(),
        "ingestion healthy again after the outage"
    );
    assert_eq!(indexer.get("/ready").1["degraded"], false);
}

#[test]
fn at_idle_a_change_is_searchable_within_two_seconds() {
    let kafka = TestKafka::new(2);
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &["--commit-interval-ms", "1000"]);
    let events = random_events(5, 1);
    kafka.produce(&events);
    kafka.flush();
    indexer.wait_committed(events.len() as i64, Duration::from_secs(30));
    // Idle now. One new product:
    let product = r#"{"product_id":"fresh-1","version":1,"ts":1,"title":"Fresh"}"#;
    let started = Instant::now();
    kafka.produce_raw(
        kafka.topic(EventKind::Product),
        None,
        Some(b"fresh-1"),
        Some(product.as_bytes()),
        &[],
    );
    kafka.flush();
    let seen = wait_for(Duration::from_secs(2), || {
        (indexer.get("/products/fresh-1").0 == 200).then(|| started.elapsed())
    });
    assert!(seen.is_some(), "not searchable within 2 s");
}

#[test]
fn sigterm_commits_and_exits_zero_and_a_restart_resumes_from_the_commit() {
    let kafka = TestKafka::new(2);
    let events = random_events(41, 40);
    let dir = tempfile::tempdir().unwrap();
    // A long interval: only the shutdown commit can make these durable.
    let indexer = Indexer::start(&kafka, dir.path(), &["--commit-interval-ms", "600000"]);
    kafka.produce(&events);
    kafka.flush();
    let processed = wait_for(Duration::from_secs(30), || {
        let total: i64 = indexer.status()["kafka"]["partitions"]
            .as_array()?
            .iter()
            .filter_map(|p| p["processed_offset"].as_i64())
            .sum();
        (total == events.len() as i64).then_some(total)
    });
    assert!(processed.is_some());
    let exit = indexer.terminate();
    assert_eq!(exit.code(), Some(0));

    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    // Resumed from the payload: everything committed before any new commit.
    assert_eq!(indexer.committed_total(), events.len() as i64);
    assert_matches_merge_engine(&indexer, &events);
    assert_eq!(
        indexer.status()["events"]["consumed"].as_u64(),
        Some(0),
        "nothing replayed"
    );
}

#[test]
fn topics_created_later_are_picked_up() {
    let kafka = TestKafka::new(2);
    let Some(mock) = kafka.mock() else {
        eprintln!("skipped: needs the in-process MockCluster");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let late = format!("{}.late", kafka.topic(EventKind::Offer));
    let mut args: Vec<String> = vec!["--topic-offers".into(), late.clone()];
    args.extend(["--commit-interval-ms".into(), "100".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let indexer = Indexer::start(&kafka, dir.path(), &args);
    let product = r#"{"product_id":"p","version":1,"ts":1,"title":"T"}"#;
    kafka.produce_raw(
        kafka.topic(EventKind::Product),
        Some(0),
        None,
        Some(product.as_bytes()),
        &[],
    );
    kafka.flush();
    indexer.wait_committed(1, Duration::from_secs(30));

    mock.create_topic(&late, 3, 1).unwrap();
    let offer =
        r#"{"offer_id":"o","product_id":"p","version":1,"ts":1,"seller_id":"s","condition":"new"}"#;
    kafka.produce_raw(&late, Some(2), None, Some(offer.as_bytes()), &[]);
    kafka.flush();
    indexer.wait_committed(2, Duration::from_secs(30));
    let (_, doc) = indexer.get("/products/p");
    assert_eq!(doc["offer_count"], Value::from(1));
    let partitions = indexer.status()["kafka"]["partitions"].clone();
    assert!(partitions
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["topic"] == late.as_str() && p["partition"] == 2));
}

#[test]
fn bad_command_lines_exit_with_code_2_and_a_clear_message() {
    for (args, needle) in [
        (
            vec!["run", "--commit-interval-ms", "soon"],
            "--commit-interval-ms",
        ),
        (vec!["run", "--brokers", "nohostport"], "host:port"),
        (vec!["run", "--listen", "x"], "--listen"),
        (vec!["run", "--unknown"], "--unknown"),
        (vec!["frobnicate"], "frobnicate"),
    ] {
        let out = std::process::Command::new(crate::common::indexer_binary())
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn a_second_indexer_on_the_same_data_dir_is_refused() {
    let kafka = TestKafka::new(1);
    let dir = tempfile::tempdir().unwrap();
    let _first = Indexer::start(&kafka, dir.path(), &[]);
    let out = std::process::Command::new(crate::common::indexer_binary())
        .arg("run")
        .args(kafka.args())
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another indexer"));
}

#[test]
fn committed_offsets_are_mirrored_to_the_consumer_group_for_lag_tools() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let kafka = TestKafka::new(2);
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &["--group-id", "lag-tools-see-me"]);
    let events = random_events(51, 30);
    kafka.produce(&events);
    kafka.flush();
    indexer.wait_committed(events.len() as i64, Duration::from_secs(30));
    let expected: std::collections::BTreeMap<(String, i32), i64> = indexer.status()["kafka"]
        ["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                (
                    p["topic"].as_str().unwrap().to_owned(),
                    p["partition"].as_i64().unwrap() as i32,
                ),
                p["next_offset"].as_i64().unwrap(),
            )
        })
        .filter(|(_, next)| *next > 0)
        .collect();
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", "lag-tools-see-me")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for (topic, partition) in expected.keys() {
        tpl.add_partition(topic, *partition);
    }
    // The mirror is asynchronous: wait for it.
    let mirrored = wait_for(Duration::from_secs(20), || {
        let got = consumer
            .committed_offsets(tpl.clone(), Duration::from_secs(5))
            .ok()?;
        let all = expected.iter().all(|((t, p), next)| {
            got.find_partition(t, *p).map(|e| e.offset()) == Some(rdkafka::Offset::Offset(*next))
        });
        all.then_some(())
    });
    assert!(
        mirrored.is_some(),
        "the group's committed offsets equal the index's: {expected:?}"
    );
}
