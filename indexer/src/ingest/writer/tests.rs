//! Property test of the live path (issue #15): random event sets, delivered in random
//! order with duplicates and random commit points, through the writer (prices and stock
//! in place, the rest re-indexed), give exactly the answers of an index built from
//! scratch with every event re-indexed, for every answer that reads prices or stock:
//! documents, price and stock filters, price sorts, newest sort, the price facet, totals;
//! and so does the index reopened after a crash (the live log replayed, Kafka re-read from
//! the last commit).

use std::sync::Arc;

use prometheus_client::registry::Registry;
use proptest::prelude::*;
use query_api::{Facet, Relevance, SearchParams, Sort};
use schemas::{EventKind, LiveIndex};

use super::{Writer, WriterConfig, WriterHandles};
use crate::ingest::merge::tests::{arb_set_and_delivery, catalog_of, Op, Record};
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
        live_log: Some(LiveLog::open(&dir).unwrap()),
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

/// Every event on partition 0 of its kind's topic, at consecutive offsets per topic from
/// `next` (which is left past the last).
fn records(delivery: &[Op], next: &mut PerKind<i64>) -> Vec<SourceRecord> {
    delivery
        .iter()
        .map(|op| {
            let event = op.event();
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
    for p in 0..3 {
        let id = format!("p{p}");
        out.push(format!("{id}: {:?}", index.product(&id).unwrap()));
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

/// The index a from-scratch re-index of every event gives.
fn oracle(delivery: &[Op]) -> LiveIndex {
    let catalog = catalog_of(delivery);
    let fields = schemas::IndexFields::new();
    let index = tantivy::Index::create_in_ram(fields.schema.clone());
    schemas::index::register_analyzers(&index);
    let mut w: tantivy::IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
    for s in catalog.states() {
        w.add_document(fields.document(s)).unwrap();
    }
    w.commit().unwrap();
    let reader = index.reader().unwrap();
    LiveIndex::new(index, reader, fields, None, 0)
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
        cuts in proptest::collection::vec(any::<bool>(), 0..20),
        crash_after in 0usize..20,
        tail in arb_live_tail(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("gen");
        create_index(&dir).unwrap();
        let live = open(&dir);
        let mut next = PerKind::from_fn(|_| 0i64);
        let recs = records(&delivery, &mut next);
        let expected = answers(&oracle(&delivery));

        let mut w = writer(live.clone(), Positions::new());
        deliver(&mut w, &recs, &cuts);
        w.commit(CommitTrigger::Shutdown).unwrap();
        prop_assert_eq!(answers(&live), expected.clone(), "live path");

        // Then prices and stock only, never committed: every answer must already show them.
        let tail_records = records(&tail, &mut next);
        let everything: Vec<Op> = delivery.iter().chain(&tail).copied().collect();
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
