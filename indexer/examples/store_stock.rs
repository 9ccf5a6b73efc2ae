//! Pickup in store (issue #15 part B): what the store quantities cost per record, how fast
//! they are updated, and what the `pickup_store` filter adds to a search.
//!
//! ```sh
//! cargo run --release -p indexer --example store_stock -- [PRODUCTS] [STORES] [STOCKED_PCT] [UPDATES]
//! ```
//!
//! Defaults: 100,000 products (one priced offer each), 500 stores, 20% of the (offer, store)
//! pairs stocked (10M records), 2,000,000 updates.
//!
//! 1. **Memory**: the records and availability bitmaps of [`StoreStock`], counted by a
//!    counting allocator, per record.
//! 2. **Updates**: one thread doing the writer's work per store event, minus Kafka and
//!    decoding: product id to slot, store and offer ids interned, the record read, the merge
//!    rule (`merge::apply_store`), the record written, the availability bit re-derived from
//!    the product's state. Half the updates set a quantity of 0.
//! 3. **Filter**: the same searches (browse, and two-word queries) over an in-memory Tantivy
//!    index of the products, without `pickup_store`, with one store, and with five, p50 and
//!    p99 over the runs (one search thread).

use std::time::{Duration, Instant};

use indexer::merge::{self, Outcome};
use query_api::{Relevance, SearchParams};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use schemas::state::{OfferBody, OfferSlot, PriceBody, ProductBody, Versioned};
use schemas::stores::StoreStock;
use schemas::values::LiveValues;
use schemas::{Condition, IndexFields, InventoryEvent, LiveIndex, ProductState};

#[path = "common/support.rs"]
mod support;
use support::{arg, live_bytes};

const WORDS: &[&str] = &[
    "lamp", "kettle", "drill", "router", "blender", "chair", "desk", "speaker", "cable", "mixer",
    "heater", "fan", "toaster", "monitor", "camera", "tripod", "shelf", "rug", "pillow", "mug",
];

fn product_id(i: usize) -> String {
    format!("sku-{i:07}")
}

fn store_id(k: usize) -> String {
    format!("store-{k:03}")
}

fn v<T>(value: T) -> Versioned<T> {
    Versioned {
        version: 1,
        ts: 1,
        value,
    }
}

fn state(i: usize) -> ProductState {
    let mut s = ProductState::new(product_id(i));
    let title = format!(
        "{} {} {}",
        WORDS[i % WORDS.len()],
        WORDS[(i / 7) % WORDS.len()],
        WORDS[(i / 131) % WORDS.len()]
    );
    s.product = Some(v(Some(ProductBody {
        title,
        description: String::new(),
        brand: String::new(),
        category: vec![],
        attributes: vec![],
    })));
    s.offers.insert(
        format!("{}-o0", product_id(i)),
        OfferSlot {
            offer: Some(v(Some(OfferBody {
                seller_id: "s".into(),
                seller_name: String::new(),
                condition: Condition::New,
            }))),
            price: Some(v(PriceBody {
                price_cents: 1_000 + (i as u64 % 5_000),
                currency: "USD".into(),
                list_price_cents: None,
            })),
            inventory: Some(v(3)),
        },
    );
    s
}

fn quantiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (at(0.5).as_secs_f64() * 1e3, at(0.99).as_secs_f64() * 1e3)
}

fn main() {
    let products = arg(1, 100_000);
    let stores = arg(2, 500);
    let stocked_pct = arg(3, 20) as u32;
    let updates = arg(4, 2_000_000);
    let states: Vec<ProductState> = (0..products).map(state).collect();
    let mut rng = StdRng::seed_from_u64(7);

    // 1. Memory.
    let values = LiveValues::default();
    {
        let mut slots = values.slots.lock().unwrap_or_else(|e| e.into_inner());
        for i in 0..products {
            slots.insert(product_id(i), i as u32);
        }
    }
    let before = live_bytes();
    let stock: &StoreStock = &values.stores;
    for (i, s) in states.iter().enumerate() {
        let offer = stock.intern_offer(&format!("{}-o0", product_id(i)));
        for k in 0..stores {
            if rng.random_ratio(stocked_pct, 100) {
                let key = (i as u32, stock.intern_store(&store_id(k)), offer);
                let quantity = rng.random_range(1..20);
                stock.set(key, v(quantity));
            }
        }
        stock.refresh(i as u32, s);
    }
    let bytes = live_bytes() - before;
    let records = stock.len();
    println!("# store quantities: {products} products x {stores} stores, {stocked_pct}% stocked");
    println!(
        "memory: {records} records, {:.1} MiB = {:.1} B/record (records, bitmaps, interned ids; estimate {:.1} B/record)",
        bytes as f64 / 1048576.0,
        bytes as f64 / records as f64,
        stock.bytes() as f64 / records as f64
    );

    // 2. Updates, as the writer applies them.
    let events: Vec<InventoryEvent> = (0..updates.min(1 << 20))
        .map(|n| {
            let i = rng.random_range(0..products);
            InventoryEvent {
                offer_id: format!("{}-o0", product_id(i)),
                product_id: product_id(i),
                version: 2 + n as u64,
                ts: 2,
                quantity: if rng.random_ratio(1, 2) {
                    0
                } else {
                    rng.random_range(1..20)
                },
                store_id: Some(store_id(rng.random_range(0..stores))),
            }
        })
        .collect();
    let started = Instant::now();
    let mut applied = 0usize;
    for n in 0..updates {
        let e = &events[n % events.len()];
        let Some(store) = e.store_id.as_deref() else {
            continue;
        };
        let slot = match values
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&e.product_id)
        {
            Some(slot) => slot,
            None => continue,
        };
        let key = (
            slot,
            stock.intern_store(store),
            stock.intern_offer(&e.offer_id),
        );
        let mut record = stock.get(key);
        if merge::apply_store(&mut record, e) == Outcome::Applied {
            if let Some(record) = record {
                stock.set(key, record);
                stock.refresh_store(slot, key.1, &states[slot as usize]);
                applied += 1;
            }
        }
    }
    let took = started.elapsed();
    println!(
        "updates: {updates} in {:.2}s = {:.0} updates/s on one thread ({applied} applied, the rest stale replays), {:.2} µs each",
        took.as_secs_f64(),
        updates as f64 / took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / updates as f64
    );

    // 3. The filter's cost in a search.
    let fields = IndexFields::new();
    let index = tantivy::Index::create_in_ram(fields.schema.clone());
    schemas::index::register_analyzers(&index);
    let mut writer: tantivy::IndexWriter = match index.writer_with_num_threads(1, 200_000_000) {
        Ok(w) => w,
        Err(e) => panic!("index writer: {e}"),
    };
    for (i, s) in states.iter().enumerate() {
        if let Err(e) = writer.add_document(fields.document_in(s, Some(i as u32))) {
            panic!("add: {e}");
        }
    }
    if let Err(e) = writer.commit() {
        panic!("commit: {e}");
    }
    let reader = match index.reader() {
        Ok(r) => r,
        Err(e) => panic!("reader: {e}"),
    };
    let live = LiveIndex::new(index, reader, fields, None, 1).with_values(values);
    let one = [store_id(0)];
    let five: Vec<String> = (0..5).map(store_id).collect();
    let run = |q: &str, pickup: &[String]| {
        let p = SearchParams {
            q: q.to_owned(),
            pickup_stores: pickup.to_vec(),
            page: 1,
            per_page: 20,
            ..SearchParams::default()
        };
        let t = Instant::now();
        let r = match query_api::search(&live, Relevance::default(), &p) {
            Ok(r) => r,
            Err(e) => panic!("search: {e}"),
        };
        (t.elapsed(), r.total)
    };
    println!("search (one thread, 20 hits with pickup blocks; p50 / p99 ms, total matched):");
    for q in ["", "lamp kettle", "drill"] {
        for (name, pickup) in [
            ("no filter", &[][..]),
            ("1 store", &one[..]),
            ("5 stores", &five[..]),
        ] {
            let mut samples = Vec::new();
            let mut total = 0;
            for _ in 0..200 {
                let (d, t) = run(q, pickup);
                samples.push(d);
                total = t;
            }
            let (p50, p99) = quantiles(samples);
            println!("  q={q:?} {name:>9}: {p50:.2} / {p99:.2} ms, total {total}");
        }
    }
}
