//! Property test of the live path (issue #15): random event sets, delivered in random
//! order with duplicates and random commit points, through the writer (prices and stock
//! in place, the rest re-indexed), give exactly the answers of an index built from
//! scratch with every event re-indexed, for every answer that reads prices or stock:
//! documents, price and stock filters, price sorts, newest sort, the price facet, totals;
//! and so does the index reopened after a crash (the live log replayed, Kafka re-read from
//! the last commit). Store quantities (issue #15 part B) are interleaved with the rest:
//! the `pickup_store` filter, its `pickup` blocks and `GET /products/{id}?store=` must agree
//! with an independent model of the store records over the same final states.

use std::sync::Arc;

use prometheus_client::registry::Registry;
use proptest::prelude::*;
use query_api::{Facet, Relevance, SearchParams, Sort};
use schemas::{EventKind, LiveIndex};

use super::{Writer, WriterConfig, WriterHandles};
use std::collections::BTreeMap;

use schemas::state::Versioned;
use schemas::{Event, InventoryEvent, ProductState};

use crate::ingest::merge;
use crate::ingest::merge::tests::{arb_set_and_delivery, Op, Record};
use crate::models::{
    CommitTrigger, PerKind, Positions, RecordBatch, RecordBody, SourceRecord, Topics,
};
use crate::store::live_log::LiveLog;
use crate::store::{create_index, open_index, read_payload, serve, Generation};
use crate::telemetry::{Metrics, Status};

fn topics() -> Topics {
    Topics {
        events: PerKind::from_fn(|k| format!("t.{k:?}")),
        dlq: "t.dlq".into(),
    }
}

/// A writer over `live` whose live log compacts as often as it can, so replays read
/// compacted logs too.
fn writer(live: Arc<LiveIndex>, from: Positions) -> Writer {
    let index_writer = live.index.writer_with_num_threads(1, 15_000_000).unwrap();
    let dir = live.path.clone().unwrap();
    let handles = WriterHandles {
        live,
        index_writer,
        topics: topics(),
        status: Arc::new(Status::new(
            "mock".into(),
            true,
            "g".into(),
            std::time::Duration::from_secs(60),
        )),
        metrics: Metrics::new(&mut Registry::default()),
        dead_letters: None,
        group: None,
        live_log: Some(LiveLog::open(&dir).unwrap().compact_often()),
    };
    let config = WriterConfig {
        commit_interval: std::time::Duration::from_secs(3600),
        max_docs_per_commit: usize::MAX,
        max_pending_bytes: usize::MAX,
        state_cache_entries: 2,
        observe_backlog_freshness: true,
        record_freshness: true,
    };
    Writer::new(config, handles, from)
}

/// One generated store quantity: product, offer, store, version, seed (quantity and `ts`).
type StoreOp = (u8, u8, u8, u64, u8);

fn store_event((p, o, store, version, seed): StoreOp) -> Event {
    Event::Inventory(InventoryEvent {
        offer_id: format!("o{o}"),
        product_id: format!("p{p}"),
        version,
        ts: 1_000 + version * 10 + u64::from(seed % 7),
        quantity: u64::from(seed % 3),
        store_id: Some(format!("s{store}")),
    })
}

fn arb_store_ops() -> impl Strategy<Value = Vec<(usize, StoreOp)>> {
    proptest::collection::vec(
        (
            any::<usize>(),
            (0u8..3, 0u8..4, 0u8..2, 0u64..6, any::<u8>()),
        ),
        0..24,
    )
}

/// `delivery`'s events with each store op inserted at its (random) position.
fn with_stores(delivery: &[Op], stores: &[(usize, StoreOp)]) -> Vec<Event> {
    let mut events: Vec<Event> = delivery.iter().map(Op::event).collect();
    for (at, op) in stores {
        let at = at % (events.len() + 1);
        events.insert(at, store_event(*op));
    }
    events
}

/// The model of the store records: per `(product, offer, store)`, the winner over every
/// event of it, by version, then `ts`, then content hash (the rule, applied to the set).
fn store_model(events: &[Event]) -> BTreeMap<(String, String, String), Versioned<u64>> {
    let mut out: BTreeMap<(String, String, String), Versioned<u64>> = BTreeMap::new();
    for e in events {
        let Event::Inventory(i) = e else { continue };
        let Some(store) = &i.store_id else { continue };
        let key = (i.product_id.clone(), i.offer_id.clone(), store.clone());
        let rank = |v: u64, ts: u64, q: u64| (v, ts, merge::content_hash(&q));
        let wins = out
            .get(&key)
            .is_none_or(|c| rank(i.version, i.ts, i.quantity) > rank(c.version, c.ts, c.value));
        if wins {
            out.insert(
                key,
                Versioned {
                    version: i.version,
                    ts: i.ts,
                    value: i.quantity,
                },
            );
        }
    }
    out
}

/// Every event on partition 0 of its kind's topic, at consecutive offsets per topic from
/// `next` (which is left past the last).
fn records(delivery: &[Op], next: &mut PerKind<i64>) -> Vec<SourceRecord> {
    let events: Vec<Event> = delivery.iter().map(Op::event).collect();
    event_records(&events, next)
}

/// [`records`] of events.
fn event_records(events: &[Event], next: &mut PerKind<i64>) -> Vec<SourceRecord> {
    events
        .iter()
        .map(|event| {
            let event = event.clone();
            let kind: EventKind = event.kind();
            let offset = next[kind];
            next[kind] += 1;
            // The log's clock agrees with the event's, so no `ts` is clamped (clock.rs).
            let kafka_ts_ms = Some(event.ts() as i64);
            SourceRecord {
                kind,
                partition: 0,
                offset,
                kafka_ts_ms,
                body: RecordBody::Event(event),
            }
        })
        .collect()
}

fn deliver(w: &mut Writer, records: &[SourceRecord], cuts: &[bool]) {
    for (i, chunk) in records.chunks(3).enumerate() {
        let mut batch = RecordBatch::default();
        for r in chunk {
            batch.push(r.clone());
        }
        w.process_batch(batch).unwrap();
        if cuts.get(i).copied().unwrap_or(false) {
            w.commit(CommitTrigger::Interval).unwrap();
        }
    }
}

/// What shoppers can see of the catalog, in a form two indexes can be compared by.
fn answers(index: &LiveIndex) -> Vec<String> {
    let mut out = Vec::new();
    let stores = ["s0".to_owned(), "s1".to_owned()];
    for p in 0..3 {
        let id = format!("p{p}");
        out.push(format!("{id}: {:?}", index.product(&id).unwrap()));
        for store in &stores {
            let doc = index.product_at_stores(&id, std::slice::from_ref(store));
            out.push(format!(
                "{id} at {store}: {:?}",
                doc.unwrap().map(|d| d.pickup)
            ));
        }
    }
    for pickup_stores in [vec![stores[0].clone()], stores.to_vec()] {
        let p = SearchParams {
            pickup_stores: pickup_stores.clone(),
            sort: Sort::PriceAsc,
            page: 1,
            per_page: 10,
            facets: vec![Facet::Price],
            ..SearchParams::default()
        };
        let r = query_api::search(index, Relevance::default(), &p).unwrap();
        let mut products: Vec<String> = r.hits.iter().map(|h| format!("{:?}", h.product)).collect();
        products.sort();
        out.push(format!(
            "pickup {pickup_stores:?}: total {} facets {:?} products {products:?}",
            r.total, r.facets
        ));
    }
    let filters: [(Option<u64>, Option<u64>, Option<bool>); 5] = [
        (None, None, None),
        (None, None, Some(true)),
        (None, None, Some(false)),
        (Some(100), Some(300), None),
        (Some(200), None, Some(true)),
    ];
    for (min_price, max_price, in_stock) in filters {
        for sort in [Sort::Newest, Sort::PriceAsc, Sort::PriceDesc] {
            let p = SearchParams {
                min_price,
                max_price,
                in_stock,
                sort,
                page: 1,
                per_page: 10,
                facets: vec![Facet::Price],
                ..SearchParams::default()
            };
            let r = query_api::search(index, Relevance::default(), &p).unwrap();
            // Ties keep index order, which differs between two indexes: compare the sort
            // keys in order and the products as a set.
            let keys: Vec<(Option<u64>, u64)> = r
                .hits
                .iter()
                .map(|h| match sort {
                    Sort::Newest => (None, h.product.updated_at),
                    _ => (h.product.price_cents, 0),
                })
                .collect();
            let mut products: Vec<String> =
                r.hits.iter().map(|h| format!("{:?}", h.product)).collect();
            products.sort();
            out.push(format!(
                "{min_price:?} {max_price:?} {in_stock:?} {sort:?}: total {} keys {keys:?} facets {:?} products {products:?}",
                r.total, r.facets
            ));
        }
    }
    out
}

/// The index a from-scratch re-index of every event gives, with the store records of the
/// model and their availability derived once from the final states.
fn oracle(events: &[Event]) -> LiveIndex {
    let catalog: crate::ingest::merge::MergedCatalog = events
        .iter()
        .filter(|e| !matches!(e, Event::Inventory(i) if i.store_id.is_some()))
        .collect();
    let fields = schemas::IndexFields::new();
    let index = tantivy::Index::create_in_ram(fields.schema.clone());
    schemas::index::register_analyzers(&index);
    let mut w: tantivy::IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
    let states: Vec<&ProductState> = catalog.states().collect();
    for (slot, s) in states.iter().enumerate() {
        w.add_document(fields.document_in(s, Some(slot as u32)))
            .unwrap();
    }
    w.commit().unwrap();
    let reader = index.reader().unwrap();
    let live = LiveIndex::new(index, reader, fields, None, 0);
    let stock = &live.values.stores;
    for ((product, offer, store), record) in store_model(events) {
        let Some(slot) = states.iter().position(|s| s.product_id == product) else {
            continue;
        };
        let key = (
            slot as u32,
            stock.intern_store(&store),
            stock.intern_offer(&offer),
        );
        stock.set(key, record);
    }
    for (slot, s) in states.iter().enumerate() {
        stock.refresh(slot as u32, s);
    }
    live
}

/// Price and inventory events only, for records the delivery may or may not know, with
/// stale versions and duplicates: the tail that reaches shoppers by the live path alone.
fn arb_live_tail() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        (any::<bool>(), 0u8..3, 0u8..4, 0u64..10, any::<u8>()),
        0..20,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .map(|(price, p, o, version, seed)| Op {
                record: if price {
                    Record::Price(p, o)
                } else {
                    Record::Inventory(p, o)
                },
                version,
                seed,
            })
            .collect()
    })
}

fn open(dir: &std::path::Path) -> Arc<LiveIndex> {
    Arc::new(serve(open_index(dir).unwrap(), dir.to_owned(), Generation::FIRST).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_live_path_answers_exactly_like_a_full_reindex_before_and_after_a_crash(
        (_, delivery) in arb_set_and_delivery(40),
        store_ops in arb_store_ops(),
        cuts in proptest::collection::vec(any::<bool>(), 0..20),
        crash_after in 0usize..20,
        tail in arb_live_tail(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("gen");
        create_index(&dir).unwrap();
        let live = open(&dir);
        let mut next = PerKind::from_fn(|_| 0i64);
        let events = with_stores(&delivery, &store_ops);
        let recs = event_records(&events, &mut next);
        let expected = answers(&oracle(&events));

        let mut w = writer(live.clone(), Positions::new());
        deliver(&mut w, &recs, &cuts);
        w.commit(CommitTrigger::Shutdown).unwrap();
        prop_assert_eq!(answers(&live), expected.clone(), "live path");

        // Then prices and stock only, never committed: every answer must already show them.
        let tail_records = records(&tail, &mut next);
        let everything: Vec<Event> = events
            .iter()
            .cloned()
            .chain(tail.iter().map(Op::event))
            .collect();
        let expected_tail = answers(&oracle(&everything));
        deliver(&mut w, &tail_records, &[]);
        prop_assert_eq!(answers(&live), expected_tail.clone(), "live tail, uncommitted");

        // Killed before any commit: the restart shows them again before serving.
        drop(w);
        drop(live);
        prop_assert_eq!(answers(&open(&dir)), expected_tail, "live tail after a crash");

        // A crash part-way (nothing after the last commit reaches Tantivy; the live log
        // keeps what was shown), then a restart that re-reads Kafka from the last commit.
        let dir = tmp.path().join("crashed");
        create_index(&dir).unwrap();
        let live = open(&dir);
        let mut w = writer(live.clone(), Positions::new());
        let upto = (crash_after * 3).min(recs.len());
        deliver(&mut w, &recs[..upto], &cuts);
        drop(w);
        drop(live);
        // Restart: the live log replayed, Kafka re-read from the last commit.
        let live = open(&dir);
        let payload = read_payload(&live.index, &dir).unwrap();
        let from = payload.map(|p| p.positions()).unwrap_or_default();
        let rest: Vec<SourceRecord> = recs
            .iter()
            .filter(|r| {
                let tp = crate::models::TopicPartition::new(topics().topic(r.kind), r.partition);
                from.get(&tp).is_none_or(|next| r.offset >= next)
            })
            .cloned()
            .collect();
        let mut w = writer(live.clone(), from);
        deliver(&mut w, &rest, &[]);
        w.commit(CommitTrigger::Shutdown).unwrap();
        prop_assert_eq!(answers(&live), expected, "after a crash and a replay");
    }
}

/// Regression guard for the in-place live batch: a price applied on the live path, then,
/// in the same batch, a text change of the product (which makes it pending until the next
/// commit) still shows the new price at the end of the batch, before the commit; and the
/// commit then shows both.
#[test]
fn a_price_then_a_text_change_in_one_batch_shows_the_price_before_the_commit() {
    use crate::ingest::merge::tests::{Op, Record};
    let op = |record, version, seed| Op {
        record,
        version,
        seed,
    };
    let dir = tempfile::tempdir().unwrap();
    create_index(dir.path()).unwrap();
    let live = open(dir.path());
    let mut w = writer(live.clone(), Positions::new());
    let mut next = PerKind::from_fn(|_| 0);
    let first = [
        op(Record::Product(1), 1, 1),
        op(Record::Offer(1, 1), 1, 1),
        op(Record::Price(1, 1), 1, 1),
        op(Record::Inventory(1, 1), 1, 1),
    ];
    deliver(&mut w, &records(&first, &mut next), &[false, true]);
    let price = |live: &LiveIndex| live.product("p1").unwrap().map(|d| d.price_cents);
    assert_eq!(price(&live), Some(Some(100)));
    let mut batch = RecordBatch::default();
    for r in records(
        &[op(Record::Price(1, 1), 2, 3), op(Record::Product(1), 2, 1)],
        &mut next,
    ) {
        batch.push(r);
    }
    w.process_batch(batch).unwrap();
    assert_eq!(
        price(&live),
        Some(Some(300)),
        "the price is live before the commit"
    );
    let title = |live: &LiveIndex| live.product("p1").unwrap().map(|d| d.title);
    assert_eq!(
        title(&live),
        Some("title 1 v1".to_owned()),
        "the text waits for it"
    );
    w.commit(CommitTrigger::Interval).unwrap();
    assert_eq!(price(&live), Some(Some(300)));
    assert_eq!(title(&live), Some("title 1 v2".to_owned()));
}
