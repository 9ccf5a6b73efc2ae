//! Pickup in store through Kafka and HTTP (issue #15 part B): store quantities shown by
//! `pickup_store=` and `?store=` without a commit, durable across `kill -9` (the live log),
//! following the offer records of the indexed path, and a bad `store_id` dead-lettered.

use std::time::Duration;

use schemas::EventKind;
use serde_json::{json, Value};

use crate::common::{wait_for, Indexer, TestKafka};

/// Products `pk-0..2`, each with offers `-o0` (cheaper) and `-o1`, priced but out of stock
/// online; the number of events.
fn seed(kafka: &TestKafka) -> i64 {
    for i in 0..3 {
        let p = format!("pk-{i}");
        kafka.produce_keyed(
            EventKind::Product,
            &p,
            &format!(r#"{{"product_id":"{p}","version":1,"ts":1,"title":"Pickup lamp {i}"}}"#),
        );
        for (o, price) in [(0, 1_000), (1, 2_000)] {
            let offer = format!(r#""offer_id":"{p}-o{o}","product_id":"{p}","version":1,"ts":1"#);
            kafka.produce_keyed(
                EventKind::Offer,
                &p,
                &format!(r#"{{{offer},"seller_id":"s{o}","condition":"new"}}"#),
            );
            kafka.produce_keyed(
                EventKind::Price,
                &p,
                &format!(r#"{{{offer},"price_cents":{price},"currency":"USD"}}"#),
            );
        }
    }
    kafka.flush();
    15
}

fn store_event(product: &str, offer: &str, store: &str, version: u64, quantity: u64) -> String {
    format!(
        r#"{{"offer_id":"{offer}","product_id":"{product}","store_id":"{store}","version":{version},"ts":{version},"quantity":{quantity}}}"#
    )
}

/// What shoppers see of pickup: the products and pickup blocks of both stores, a product
/// page at a store, and the store list.
fn pickup_answers(indexer: &Indexer) -> Value {
    let search = |store: &str| {
        let (status, body) = indexer.get(&format!("/search?q=lamp&pickup_store={store}"));
        assert_eq!(status, 200, "{body}");
        let hits: Vec<Value> = body["hits"]
            .as_array()
            .map(|h| {
                h.iter()
                    .map(|h| json!([h["product"]["product_id"], h["product"]["pickup"]]))
                    .collect()
            })
            .unwrap_or_default();
        json!({"total": body["total"], "hits": hits})
    };
    json!({
        "downtown": search("downtown"),
        "airport": search("airport"),
        "page": indexer.get("/products/pk-0?store=downtown").1["pickup"],
        "stores": indexer.get("/stores").1,
    })
}

#[test]
fn store_quantities_are_shown_in_place_survive_a_kill9_and_follow_the_offers() {
    let kafka = TestKafka::new(2);
    let dir = tempfile::tempdir().unwrap();
    // No commit after the seed: the store quantities reach shoppers by the live path only.
    let (indexer, _) = Indexer::seeded_then_uncommitted(&kafka, dir.path(), seed);
    for (product, offer, store, version, quantity) in [
        ("pk-0", "pk-0-o1", "downtown", 1, 4),
        ("pk-0", "pk-0-o0", "downtown", 1, 2),
        ("pk-1", "pk-1-o0", "airport", 2, 1),
        // Stale: an older version of the record above.
        ("pk-1", "pk-1-o0", "airport", 1, 9),
        ("pk-2", "pk-2-o1", "downtown", 1, 0),
    ] {
        kafka.produce_keyed(
            EventKind::Inventory,
            product,
            &store_event(product, offer, store, version, quantity),
        );
    }
    // A store id of 65 bytes is invalid: dead-lettered, nothing else changes.
    let long = "x".repeat(65);
    kafka.produce_keyed(
        EventKind::Inventory,
        "pk-2",
        &store_event("pk-2", "pk-2-o0", &long, 1, 3),
    );
    kafka.flush();
    let expected = json!({
        "downtown": {"total": 1, "hits": [["pk-0", {"store_id": "downtown", "quantity": 2, "offer_id": "pk-0-o0"}]]},
        "airport": {"total": 1, "hits": [["pk-1", {"store_id": "airport", "quantity": 1, "offer_id": "pk-1-o0"}]]},
        "page": {"store_id": "downtown", "quantity": 2, "offer_id": "pk-0-o0"},
        "stores": {"stores": [
            {"store_id": "airport", "products": 1},
            {"store_id": "downtown", "products": 1},
        ]},
    });
    let shown = wait_for(Duration::from_secs(30), || {
        let events = &indexer.status()["events"];
        let consumed = events["applied"].as_u64().unwrap_or(0)
            + events["stale"].as_u64().unwrap_or(0)
            + events["invalid"].as_u64().unwrap_or(0);
        (consumed >= 6).then(|| pickup_answers(&indexer))
    });
    assert_eq!(shown.as_ref(), Some(&expected));
    let events = &indexer.status()["events"];
    assert_eq!(
        (events["stale"].as_u64(), events["invalid"].as_u64()),
        (Some(1), Some(1)),
        "{events}"
    );
    let (_, online) = indexer.get("/search?q=lamp&in_stock=true");
    assert_eq!(
        online["total"], 0,
        "store stock is not online stock: {online}"
    );

    // Killed before any commit: the restart shows the same before serving.
    indexer.kill9();
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    assert_eq!(
        pickup_answers(&indexer),
        expected,
        "right after the restart"
    );

    // The offer stocked at downtown is deleted (indexed path): pickup falls back to the
    // other offer there, with the commit that hides it.
    kafka.produce_keyed(
        EventKind::Offer,
        "pk-0",
        r#"{"offer_id":"pk-0-o0","product_id":"pk-0","version":2,"ts":2,"deleted":true}"#,
    );
    kafka.flush();
    let moved = wait_for(Duration::from_secs(30), || {
        let a = pickup_answers(&indexer);
        (a["page"]["offer_id"] == "pk-0-o1").then_some(a)
    });
    let moved = moved.expect("the pickup block follows the offer delete");
    assert_eq!(
        moved["downtown"]["hits"],
        json!([["pk-0", {"store_id": "downtown", "quantity": 4, "offer_id": "pk-0-o1"}]])
    );
    // And a quantity dropping to 0 takes the product out of the store's results.
    kafka.produce_keyed(
        EventKind::Inventory,
        "pk-1",
        &store_event("pk-1", "pk-1-o0", "airport", 3, 0),
    );
    kafka.flush();
    let gone = wait_for(Duration::from_secs(30), || {
        let a = pickup_answers(&indexer);
        (a["airport"]["total"] == 0).then_some(a)
    });
    let gone = gone.expect("out of stock at the store");
    // Operators see the records held (one per (offer, store) reported; a record at 0 stays).
    let held = wait_for(Duration::from_secs(30), || {
        let n = indexer.status()["index"]["store_records"].as_u64();
        (n == Some(4)).then_some(n)
    });
    assert_eq!(held, Some(Some(4)), "{}", indexer.status()["index"]);
    assert_eq!(
        gone["stores"],
        json!({"stores": [
            {"store_id": "airport", "products": 0},
            {"store_id": "downtown", "products": 1},
        ]})
    );
}
