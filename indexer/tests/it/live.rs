//! The live path through Kafka (issue #15): price and stock shown in place, durable across
//! `kill -9` by the live log, never older after a restart than what a shopper already saw.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use schemas::EventKind;
use serde_json::Value;

use crate::common::{wait_for, Indexer, TestKafka};

const PRODUCTS: usize = 12;
/// Price versions streamed after the seed (version `v` costs `BASE + v` cents).
const LAST_VERSION: u64 = 60;
const BASE: u64 = 10_000;

fn id(i: usize) -> String {
    format!("live-{i}")
}

fn price_event(product: &str, version: u64) -> String {
    format!(
        r#"{{"offer_id":"{product}-o","product_id":"{product}","version":{version},"ts":{version},"price_cents":{},"currency":"USD"}}"#,
        BASE + version
    )
}

/// Every product with one offer in stock at version 1; the number of events.
fn seed(kafka: &TestKafka) -> i64 {
    for i in 0..PRODUCTS {
        let p = id(i);
        kafka.produce_keyed(
            EventKind::Product,
            &p,
            &format!(r#"{{"product_id":"{p}","version":1,"ts":1,"title":"Live kettle {i}"}}"#),
        );
        kafka.produce_keyed(EventKind::Offer,
            &p,
            &format!(
                r#"{{"offer_id":"{p}-o","product_id":"{p}","version":1,"ts":1,"seller_id":"s","condition":"new"}}"#
            ),
        );
        kafka.produce_keyed(EventKind::Price, &p, &price_event(&p, 1));
        kafka.produce_keyed(
            EventKind::Inventory,
            &p,
            &format!(
                r#"{{"offer_id":"{p}-o","product_id":"{p}","version":1,"ts":1,"quantity":5}}"#
            ),
        );
    }
    kafka.flush();
    4 * PRODUCTS as i64
}

/// The price version `/products/{id}` shows (`None` when it answers no price).
fn shown_version(indexer: &Indexer, product: &str) -> Option<u64> {
    let (_, doc) = indexer.get(&format!("/products/{product}"));
    doc["price_cents"].as_u64().map(|c| c - BASE)
}

#[test]
fn a_kill9_during_a_price_stream_never_shows_an_older_price_after_the_restart() {
    let kafka = TestKafka::new(2);
    let dir = tempfile::tempdir().unwrap();
    // No commit while prices stream: what a shopper sees is only in the live log when the
    // process is killed.
    let (indexer, seeded) = Indexer::seeded_then_uncommitted(&kafka, dir.path(), seed);
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    let killed = AtomicBool::new(false);
    let prices = kafka.producer();
    let topic = kafka.topic(EventKind::Price).to_owned();
    std::thread::scope(|scope| {
        let producer = scope.spawn(|| {
            for version in 2..=LAST_VERSION {
                // The last third only once the indexer is killed: the stream goes on
                // across the crash, whatever the machine's speed.
                if version > 2 * LAST_VERSION / 3 {
                    // Bounded: a failed assertion before the kill must not hang the test.
                    wait_for(Duration::from_secs(90), || {
                        killed.load(Ordering::Relaxed).then_some(())
                    });
                }
                for i in 0..PRODUCTS {
                    let p = id(i);
                    let event = price_event(&p, version);
                    // One partition per product, as keyed production would.
                    let partition = (i % 2) as i32;
                    prices.produce_raw(
                        &topic,
                        partition,
                        p.as_bytes(),
                        Some(event.as_bytes()),
                        &[],
                    );
                }
                prices.flush();
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        // Read while prices change; kill once shoppers saw well past the committed state.
        let killed_at = wait_for(Duration::from_secs(60), || {
            for i in 0..PRODUCTS {
                let p = id(i);
                if let Some(v) = shown_version(&indexer, &p) {
                    let max = seen.entry(p).or_insert(0);
                    *max = (*max).max(v);
                }
            }
            let low = seen.values().min().copied().unwrap_or(0);
            (seen.len() == PRODUCTS && low >= LAST_VERSION / 3).then_some(low)
        });
        assert!(killed_at.is_some(), "prices did not move: {seen:?}");
        // Shown well past the last commit: only the live log has those prices.
        let kafka_status = indexer.status()["kafka"].clone();
        let processed: i64 = kafka_status["partitions"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p["processed_offset"].as_i64())
                    .sum()
            })
            .unwrap_or(0);
        assert!(
            processed - indexer.committed_total() >= 10 * PRODUCTS as i64,
            "prices shown past the last commit: {kafka_status}"
        );
        indexer.kill9();
        killed.store(true, Ordering::Relaxed);

        let indexer = Indexer::start(&kafka, dir.path(), &[]);
        // The first answers after the restart: never a price older than one already shown.
        for (p, max) in &seen {
            let now = shown_version(&indexer, p);
            assert!(
                now >= Some(*max),
                "{p}: showed version {max} before the kill, {now:?} after the restart"
            );
        }
        producer.join().unwrap();
        // And the stream ends exactly where it ended, every event counted once.
        let done = wait_for(Duration::from_secs(30), || {
            (0..PRODUCTS)
                .all(|i| shown_version(&indexer, &id(i)) == Some(LAST_VERSION))
                .then_some(())
        });
        assert!(done.is_some(), "the last price of every product is shown");
        let total = seeded + (LAST_VERSION as i64 - 1) * PRODUCTS as i64;
        indexer.wait_committed(total, Duration::from_secs(30));
        let (status, body) = indexer.get(&format!(
            "/search?q=kettle&max_price={}&sort=price_asc&per_page=50",
            BASE + LAST_VERSION
        ));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["total"].as_u64(), Some(PRODUCTS as u64), "{body}");
        let (_, body) = indexer.get(&format!(
            "/search?q=kettle&max_price={}",
            BASE + LAST_VERSION - 1
        ));
        assert_eq!(
            body["total"].as_u64(),
            Some(0),
            "no filter answers an older price: {body}"
        );
        let status: Value = indexer.status();
        assert!(
            status["freshness"]["live"]["pipeline"]["last_15m"]["count"].as_u64() > Some(0),
            "the stream took the live path: {}",
            status["freshness"]
        );
    });
}
