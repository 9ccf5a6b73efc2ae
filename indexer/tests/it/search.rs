//! The search API on the live index, fed through Kafka.

use std::time::Duration;

use schemas::EventKind;
use serde_json::Value;

use crate::common::{wait_for, Indexer, TestKafka};

fn ids(body: &Value) -> Vec<String> {
    body["hits"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|h| h["product"]["product_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_price_change_moves_a_product_in_and_out_of_a_price_filter_and_sort() {
    let kafka = TestKafka::new(2);
    let dir = tempfile::tempdir().unwrap();
    let indexer = Indexer::start(&kafka, dir.path(), &[]);
    let produced = std::cell::Cell::new(0i64);
    let send = |kind: EventKind, key: &str, json: String| {
        kafka.produce_keyed(kind, key, &json);
        produced.set(produced.get() + 1);
    };
    for (id, title, price) in [
        ("a", "Red Kettle", 3000),
        ("b", "Blue Kettle", 4000),
        ("c", "Green Kettle", 5000),
    ] {
        send(
            EventKind::Product,
            id,
            format!(r#"{{"product_id":"{id}","version":1,"ts":1,"title":"{title}"}}"#),
        );
        send(
            EventKind::Offer,
            id,
            format!(
                r#"{{"offer_id":"{id}-o","product_id":"{id}","version":1,"ts":1,"seller_id":"s","condition":"new"}}"#
            ),
        );
        send(
            EventKind::Price,
            id,
            format!(
                r#"{{"offer_id":"{id}-o","product_id":"{id}","version":1,"ts":1,"price_cents":{price},"currency":"USD"}}"#
            ),
        );
        send(
            EventKind::Inventory,
            id,
            format!(
                r#"{{"offer_id":"{id}-o","product_id":"{id}","version":1,"ts":1,"quantity":5}}"#
            ),
        );
    }
    kafka.flush();
    indexer.wait_committed(produced.get(), Duration::from_secs(30));
    let (status, body) = indexer.get("/search?q=kettle&max_price=4500&sort=price_asc");
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), ["a", "b"]);
    assert_eq!(
        ids(&indexer.get("/search?q=kettle&sort=price_desc").1),
        ["c", "b", "a"]
    );

    // "a" becomes the dearest: out of the filter, first in price_desc.
    send(EventKind::Price, "a", r#"{"offer_id":"a-o","product_id":"a","version":2,"ts":2,"price_cents":9000,"currency":"USD"}"#.to_owned());
    kafka.flush();
    indexer.wait_committed(produced.get(), Duration::from_secs(30));
    assert_eq!(
        ids(&indexer
            .get("/search?q=kettle&max_price=4500&sort=price_asc")
            .1),
        ["b"]
    );
    assert_eq!(
        ids(&indexer.get("/search?q=kettle&sort=price_desc").1),
        ["a", "c", "b"]
    );

    // And back, cheapest of all.
    send(EventKind::Price, "a", r#"{"offer_id":"a-o","product_id":"a","version":3,"ts":3,"price_cents":1000,"currency":"USD"}"#.to_owned());
    kafka.flush();
    let back = wait_for(Duration::from_secs(10), || {
        let got = ids(&indexer
            .get("/search?q=kettle&max_price=4500&sort=price_asc")
            .1);
        (got == ["a", "b"]).then_some(got)
    });
    assert!(back.is_some());
    assert_eq!(
        ids(&indexer.get("/search?sort=price_asc").1),
        ["a", "b", "c"]
    );
    // Out of stock: leaves the in_stock filter, keeps its document.
    send(
        EventKind::Inventory,
        "a",
        r#"{"offer_id":"a-o","product_id":"a","version":2,"ts":4,"quantity":0}"#.to_owned(),
    );
    kafka.flush();
    indexer.wait_committed(produced.get(), Duration::from_secs(30));
    assert_eq!(
        ids(&indexer.get("/search?in_stock=true&sort=price_asc").1),
        ["b", "c"]
    );
}
