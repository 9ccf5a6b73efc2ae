//! Full reindex: blue/green rebuild under load, crash during the build, auth, offline rebuild.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indexer::generate::{ChangeStream, GeneratedCatalog, Mix, Versions};
use indexer::merge;
use schemas::Event;
use serde_json::Value;

use crate::common::{wait_for, Indexer, TestKafka};

const TOKEN: &str = "test-admin-token";

fn admin(indexer: &Indexer, method: &str, token: Option<&str>) -> (u16, Value) {
    let client = reqwest::blocking::Client::new();
    let url = format!("{}/admin/reindex", indexer.url);
    let mut request = match method {
        "POST" => client.post(&url),
        _ => client.get(&url),
    };
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().expect("admin request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// A catalog of `products` with quantities at `stores` stores, its events and versions.
fn catalog_events(products: usize, stores: usize) -> (GeneratedCatalog, Vec<Event>, Versions) {
    let catalog = GeneratedCatalog::synthetic(3, products).with_stores(stores);
    let mut versions = Versions::starting_after(1);
    // A plausible `ts` (a `ts` decades old is clamped to the Kafka timestamp at ingestion,
    // which the merge engine used as the oracle here does not know).
    let now = indexer::now_ms();
    let events: Vec<Event> = catalog.events(&mut versions, || now).collect();
    (catalog, events, versions)
}

fn generation(indexer: &Indexer) -> u64 {
    indexer.status()["index"]["generation"]
        .as_u64()
        .unwrap_or(0)
}

/// Whether an event is a store quantity (kept beside the merge state, not in it).
fn at_store(e: &Event) -> bool {
    matches!(e, Event::Inventory(i) if i.store_id.is_some())
}

fn assert_documents(indexer: &Indexer, events: &[Event]) {
    let oracle: merge::MergedCatalog = events.iter().filter(|e| !at_store(e)).collect();
    let docs = oracle.documents();
    for (id, doc) in &docs {
        let (status, body) = indexer.get(&format!("/products/{id}"));
        assert_eq!(status, 200, "{id}");
        assert_eq!(body, serde_json::to_value(doc).unwrap(), "{id}");
    }
    assert_eq!(
        indexer.status()["index"]["docs"].as_u64(),
        Some(docs.len() as u64)
    );
    // The price filters, read from the live values of the index served (issue #15: the
    // rebuilt generation's live values are swapped with it).
    let mut prices: Vec<u64> = docs.values().filter_map(|d| d.price_cents).collect();
    prices.sort_unstable();
    for q in [1, 4, 2, 3] {
        let Some(&cut) = prices.get(prices.len() * q / 5) else {
            continue;
        };
        let expected = prices.iter().filter(|p| **p <= cut).count();
        let (status, body) = indexer.get(&format!("/search?q=&max_price={cut}&per_page=1"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["total"].as_u64(),
            Some(expected as u64),
            "max_price={cut}"
        );
    }
}

/// Pickup answers (`/stores` counts, every product's block at every store) against a model:
/// the latest store record per (product, offer, store) (versions only increase here) over
/// the oracle's documents: the cheapest shown priced offer with a positive quantity there.
fn assert_pickup(indexer: &Indexer, events: &[Event]) {
    let oracle: merge::MergedCatalog = events.iter().filter(|e| !at_store(e)).collect();
    let mut stock: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
    for e in events {
        let Event::Inventory(i) = e else { continue };
        let Some(store) = &i.store_id else { continue };
        let key = (i.product_id.clone(), i.offer_id.clone(), store.clone());
        if stock.get(&key).is_none_or(|(v, _)| i.version > *v) {
            stock.insert(key, (i.version, i.quantity));
        }
    }
    let stores: BTreeSet<&String> = stock.keys().map(|(_, _, s)| s).collect();
    assert!(!stores.is_empty(), "the catalog has store quantities");
    let mut counts: BTreeMap<&String, u64> = BTreeMap::new();
    for (id, doc) in oracle.documents() {
        for store in &stores {
            let quantity = |offer: &str| {
                stock
                    .get(&(id.clone(), offer.to_owned(), (*store).clone()))
                    .map_or(0, |(_, q)| *q)
            };
            let best = doc
                .offers
                .iter()
                .filter_map(|o| Some((o.price_cents?, o.offer_id.as_str(), quantity(&o.offer_id))))
                .filter(|(_, _, q)| *q > 0)
                .min_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
            let expected = best.map(|(_, offer, q)| {
                serde_json::json!({"store_id": store, "quantity": q, "offer_id": offer})
            });
            *counts.entry(store).or_default() += u64::from(expected.is_some());
            let (_, body) = indexer.get(&format!("/products/{id}?store={store}"));
            assert_eq!(body.get("pickup").cloned(), expected, "{id} at {store}");
        }
    }
    let expected: Vec<Value> = counts
        .iter()
        .map(|(s, n)| serde_json::json!({"store_id": s, "products": n}))
        .collect();
    assert_eq!(indexer.get("/stores").1["stores"], Value::Array(expected));
}

fn wait_reindex(indexer: &Indexer, timeout: Duration) -> Value {
    wait_for(timeout, || {
        let (_, body) = admin(indexer, "GET", Some(TOKEN));
        matches!(body["state"].as_str(), Some("done" | "failed")).then_some(body)
    })
    .expect("reindex did not finish")
}

#[test]
fn reindex_under_load_swaps_without_a_failed_or_empty_response() {
    let kafka = TestKafka::new(2);
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &["--admin-token", TOKEN]);
    let (catalog, mut events, mut versions) = catalog_events(300, 3);
    kafka.produce(&events);
    kafka.flush();
    indexer.wait_committed(events.len() as i64, Duration::from_secs(60));
    let before = generation(&indexer);
    let ids: Vec<String> = (0..300).step_by(7).map(|i| catalog.product_id(i)).collect();

    // Prices and inventory (half of it at stores) keep changing during the reindex (no
    // deletes: every product stays visible, so any empty answer is a failure).
    let mut stream = ChangeStream::new(
        &catalog,
        9,
        Mix {
            product: 0,
            offer: 0,
            price: 50,
            inventory: 50,
        },
    );
    let changes: Vec<Event> = (0..3_000)
        .map(|_| stream.next_event(versions.next(), indexer::now_ms()))
        .collect();
    events.extend(changes.iter().cloned());

    let stop = AtomicBool::new(false);
    let failures = Mutex::new(Vec::new());
    let requests = AtomicU64::new(0);
    let generations = Mutex::new(BTreeSet::new());
    let producer = kafka.producer();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let client = reqwest::blocking::Client::new();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let (path, needs_hits) = if i.is_multiple_of(2) {
                    (format!("/products/{}", ids[i % ids.len()]), false)
                } else {
                    ("/search?q=&per_page=5&facets=brand".to_owned(), true)
                };
                let outcome = client.get(format!("{}{path}", indexer.url)).send();
                requests.fetch_add(1, Ordering::Relaxed);
                match outcome {
                    Ok(r) if r.status().is_success() => {
                        let body: Value = r.json().unwrap_or(Value::Null);
                        let empty = if needs_hits {
                            body["total"].as_u64().unwrap_or(0) == 0
                        } else {
                            body["product_id"].is_null()
                        };
                        if empty {
                            failures
                                .lock()
                                .unwrap()
                                .push(format!("{path}: empty {body}"));
                        }
                    }
                    Ok(r) => failures
                        .lock()
                        .unwrap()
                        .push(format!("{path}: {}", r.status())),
                    Err(e) => failures.lock().unwrap().push(format!("{path}: {e}")),
                }
                if i.is_multiple_of(10) {
                    generations.lock().unwrap().insert(generation(&indexer));
                }
            }
        });
        let flowing = scope.spawn(|| producer.produce_paced(&changes, 600));
        std::thread::sleep(Duration::from_millis(500));
        let (status, body) = admin(&indexer, "POST", Some(TOKEN));
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["state"], "building");
        let (status, body) = admin(&indexer, "POST", Some(TOKEN));
        assert_eq!(status, 409, "a second start conflicts: {body}");
        assert_eq!(body["error"]["code"], "conflict");
        let report = wait_reindex(&indexer, Duration::from_secs(180));
        assert_eq!(report["state"], "done", "{report}");
        assert!(report["progress"]["events_replayed"].as_u64().unwrap() > 0);
        assert!(report["finished_at_ms"].as_u64() >= report["started_at_ms"].as_u64());
        flowing.join().unwrap();
        indexer.wait_committed(events.len() as i64, Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed or empty of {} requests: {:?}",
        failures.len(),
        requests.load(Ordering::Relaxed),
        &failures[..failures.len().min(5)]
    );
    let after = generation(&indexer);
    assert!(after > before, "the swap happened ({before} -> {after})");
    assert!(generations.into_inner().unwrap().contains(&after));
    assert_documents(&indexer, &events);
    assert_pickup(&indexer, &events);
    let old = dir.path().join("indexes").join(format!("gen-{before:06}"));
    assert!(
        wait_for(Duration::from_secs(10), || (!old.exists()).then_some(())).is_some(),
        "the old index is deleted"
    );
    let metrics = reqwest::blocking::get(format!("{}/metrics", indexer.url))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("indexer_reindexes_total{outcome=\"done\"} 1"),
        "{metrics}"
    );

    // A restart right after the swap opens the new index.
    let exit = indexer.terminate();
    assert_eq!(exit.code(), Some(0));
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    assert_eq!(generation(&indexer), after);
    assert_documents(&indexer, &events);
    assert_pickup(&indexer, &events);
}

#[test]
fn a_crash_during_the_build_leaves_the_live_index_and_removes_the_leftover() {
    let kafka = TestKafka::new(2);
    let dir = tempfile::tempdir().unwrap();
    // A throttled rebuild: about 5 s for these events, time to crash in the middle.
    let indexer = Indexer::start(
        &kafka,
        dir.path(),
        &["--admin-token", TOKEN, "--reindex-max-rate", "1000"],
    );
    let (_, events, _) = catalog_events(500, 0);
    kafka.produce(&events);
    kafka.flush();
    indexer.wait_committed(events.len() as i64, Duration::from_secs(120));
    let live = generation(&indexer);
    let (status, _) = admin(&indexer, "POST", Some(TOKEN));
    assert_eq!(status, 202);
    let mut last = Value::Null;
    let building = wait_for(Duration::from_secs(60), || {
        let (_, body) = admin(&indexer, "GET", Some(TOKEN));
        last = body.clone();
        (body["state"] == "building" && body["progress"]["events_replayed"].as_u64() > Some(0))
            .then_some(body)
    });
    assert!(building.is_some(), "the build started: {last}");
    indexer.kill9();
    let leftover = dir
        .path()
        .join("indexes")
        .join(format!("gen-{:06}", live + 1));
    assert!(
        leftover.exists(),
        "a half-built index was on disk at the crash"
    );

    let indexer = Indexer::start(&kafka, dir.path(), &["--admin-token", TOKEN]);
    assert!(
        !leftover.exists(),
        "the half-built index is removed at start"
    );
    assert_eq!(generation(&indexer), live);
    assert_documents(&indexer, &events);
    let (_, body) = admin(&indexer, "GET", Some(TOKEN));
    assert_eq!(body["state"], "idle");
}

#[test]
fn admin_routes_need_the_token_and_are_off_without_one() {
    let kafka = TestKafka::new(1);
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &["--admin-token", TOKEN]);
    for (method, token) in [
        ("GET", None),
        ("GET", Some("wrong")),
        ("POST", None),
        ("POST", Some("test-admin-tokeN")),
    ] {
        let (status, body) = admin(&indexer, method, token);
        assert_eq!(status, 401, "{method} {token:?}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let (status, body) = admin(&indexer, "GET", Some(TOKEN));
    assert_eq!((status, body["state"].as_str()), (200, Some("idle")));
    drop(indexer);

    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    let (status, body) = admin(&indexer, "POST", Some(TOKEN));
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "disabled");
}

#[test]
fn offline_rebuild_replaces_the_index_of_a_stopped_service() {
    let kafka = TestKafka::new(2);
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    let (_, events, _) = catalog_events(200, 0);
    kafka.produce(&events);
    kafka.flush();
    indexer.wait_committed(events.len() as i64, Duration::from_secs(60));
    let before = generation(&indexer);
    assert_eq!(indexer.terminate().code(), Some(0));

    let started = Instant::now();
    let out = std::process::Command::new(crate::common::indexer_binary())
        .arg("rebuild")
        .args(kafka.args())
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(120));
    let generations: Vec<String> = std::fs::read_dir(dir.path().join("indexes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        generations,
        [format!("gen-{:06}", before + 1)],
        "only the rebuilt index is left"
    );

    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    assert_eq!(generation(&indexer), before + 1);
    assert_documents(&indexer, &events);
    assert_eq!(
        indexer.committed_total(),
        events.len() as i64,
        "resumes from the rebuilt index's offsets"
    );
}

#[test]
fn the_cli_starts_and_follows_a_reindex() {
    let kafka = TestKafka::new(1);
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &["--admin-token", TOKEN]);
    let (_, events, _) = catalog_events(50, 0);
    kafka.produce(&events);
    kafka.flush();
    indexer.wait_committed(events.len() as i64, Duration::from_secs(60));
    let run = |token: &str| {
        std::process::Command::new(crate::common::indexer_binary())
            .args(["reindex", "--url", &indexer.url, "--token", token, "--wait"])
            .output()
            .unwrap()
    };
    let out = run("wrong");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(TOKEN);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("reindex done"));
    assert_eq!(admin(&indexer, "GET", Some(TOKEN)).1["state"], "done");
    assert_documents(&indexer, &events);
}

#[test]
fn a_log_truncated_by_retention_is_refused_unless_forced() {
    let kafka = TestKafka::new(1);
    if !kafka.is_mock() {
        eprintln!("skipped: relies on the mock broker's 5 MiB partition retention");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &["--admin-token", TOKEN]);
    // ~6 MiB into one partition: the mock broker drops the oldest batches.
    let topic = kafka.topic(schemas::EventKind::Product).to_owned();
    for i in 0..60 {
        let json = format!(
            r#"{{"product_id":"big-{i}","version":1,"ts":1,"title":"Big {i}","description":"{}"}}"#,
            "x".repeat(100_000)
        );
        kafka.produce_raw(&topic, Some(0), None, Some(json.as_bytes()), &[]);
        kafka.flush();
    }
    let (status, _) = admin(&indexer, "POST", Some(TOKEN));
    assert_eq!(status, 202);
    let report = wait_reindex(&indexer, Duration::from_secs(60));
    assert_eq!(report["state"], "failed");
    assert!(
        report["error"].as_str().unwrap().contains("retention"),
        "{report}"
    );

    let client = reqwest::blocking::Client::new();
    let response = client
        .post(format!("{}/admin/reindex?force=true", indexer.url))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let report = wait_reindex(&indexer, Duration::from_secs(120));
    assert_eq!(report["state"], "done", "{report}");
    assert!(!report["warnings"].as_array().unwrap().is_empty());
}
