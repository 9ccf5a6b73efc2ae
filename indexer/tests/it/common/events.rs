//! Random catalog event sets: products, offers, prices and inventory with several versions
//! per record, deletes, recreations and orphans.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use schemas::{
    AttributeValue, Condition, Deleted, Event, InventoryEvent, OfferDelete, OfferEvent,
    OfferUpsert, PriceEvent, ProductDelete, ProductEvent, ProductUpsert,
};

/// `products` products' worth of events: each record gets 1 to 3 versions; about one product
/// in eight never gets a product record (its offers stay orphans), some products and offers
/// end deleted.
pub fn random_events(seed: u64, products: usize) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for p in 0..products {
        let product_id = format!("p{p:04}");
        if rng.random_ratio(7, 8) {
            for version in versions(&mut rng) {
                let ts = 1_700_000_000_000 + version * 1000 + p as u64;
                if rng.random_ratio(1, 6) {
                    out.push(Event::Product(ProductEvent::Delete(ProductDelete {
                        product_id: product_id.clone(),
                        version,
                        ts,
                        deleted: Deleted,
                    })));
                } else {
                    out.push(Event::Product(ProductEvent::Upsert(ProductUpsert {
                        product_id: product_id.clone(),
                        version,
                        ts,
                        title: format!("Product {p} edition {version}"),
                        description: "A test product".to_owned(),
                        brand: ["Acme", "Globex", "", "Initech"][p % 4].to_owned(),
                        category: vec!["Root".to_owned(), format!("Cat{}", p % 5)],
                        attributes: [("n".to_owned(), AttributeValue::Number(version.into()))]
                            .into_iter()
                            .collect(),
                    })));
                }
            }
        }
        for o in 0..rng.random_range(0..4) {
            let offer_id = format!("{product_id}-o{o}");
            for version in versions(&mut rng) {
                let ts = 1_700_000_000_000 + version * 1000 + o;
                if rng.random_ratio(1, 8) {
                    out.push(Event::Offer(OfferEvent::Delete(OfferDelete {
                        offer_id: offer_id.clone(),
                        product_id: product_id.clone(),
                        version,
                        ts,
                        deleted: Deleted,
                    })));
                } else {
                    out.push(Event::Offer(OfferEvent::Upsert(OfferUpsert {
                        offer_id: offer_id.clone(),
                        product_id: product_id.clone(),
                        version,
                        ts,
                        seller_id: format!("s{}", (p + o as usize) % 7),
                        seller_name: format!("Seller {version}"),
                        condition: Condition::ALL[rng.random_range(0..3)],
                    })));
                }
            }
            if rng.random_ratio(5, 6) {
                for version in versions(&mut rng) {
                    out.push(Event::Price(PriceEvent {
                        offer_id: offer_id.clone(),
                        product_id: product_id.clone(),
                        version,
                        ts: 1_700_000_000_000 + version * 7,
                        price_cents: rng.random_range(100..100_000),
                        currency: "USD".to_owned(),
                        list_price_cents: None,
                    }));
                }
            }
            if rng.random_ratio(5, 6) {
                for version in versions(&mut rng) {
                    out.push(Event::Inventory(InventoryEvent {
                        offer_id: offer_id.clone(),
                        product_id: product_id.clone(),
                        version,
                        ts: 1_700_000_000_000 + version * 11,
                        quantity: rng.random_range(0..4),
                        store_id: None,
                    }));
                }
            }
        }
    }
    out
}

fn versions(rng: &mut StdRng) -> Vec<u64> {
    let mut v: Vec<u64> = (1..=rng.random_range(1..=3))
        .map(|i| i * 10 + rng.random_range(0..9))
        .collect();
    v.dedup();
    v
}

/// The events shuffled, with about `dup_percent`% of them delivered twice.
pub fn shuffled_with_duplicates(events: &[Event], seed: u64, dup_percent: u32) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = events.to_vec();
    for e in events {
        if rng.random_ratio(dup_percent, 100) {
            out.push(e.clone());
        }
    }
    out.shuffle(&mut rng);
    out
}
