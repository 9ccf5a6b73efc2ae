//! What the live store (issue #15) costs per offer, counted by a counting allocator.
//!
//! ```sh
//! cargo run --release -p indexer --example live_memory -- [PRODUCTS] [OFFERS_PER_PRODUCT]
//! ```
//!
//! Builds the live side of an index of `PRODUCTS` products (1,000,000 by default) with
//! `OFFERS_PER_PRODUCT` offers each (3): the slot map and the live columns, always resident,
//! then the overlay with every product's live records, its worst case (every product
//! changed since the last commit; after a commit an entry is dropped once the stored state
//! has its records). Ids are the synthetic catalog's (`sku-0000123`, `sku-0000123-o1`).

use schemas::state::{PriceBody, Versioned};
use schemas::values::{LiveValues, OfferValues, OverlayEntry, ProductValues};

#[path = "common/support.rs"]
mod support;
use support::{arg, live_bytes};

fn main() {
    let products = arg(1, 1_000_000);
    let per_product = arg(2, 3);
    let offers = products * per_product;
    let product_id = |i: usize| format!("sku-{i:07}");

    let base = live_bytes();
    let values = LiveValues::default();
    {
        let mut slots = values.slots.lock().unwrap_or_else(|e| e.into_inner());
        for i in 0..products {
            let slot = slots.get_or_assign(&product_id(i));
            values.columns.set(
                slot,
                ProductValues {
                    price_cents: Some(1999),
                    updated_at: 1,
                },
            );
        }
    }
    let resident = live_bytes() - base;

    let before_overlay = live_bytes();
    for i in 0..products {
        let id = product_id(i);
        let records = (0..per_product)
            .map(|o| OfferValues {
                offer_id: format!("{id}-o{o}"),
                price: Some(Versioned {
                    version: 2,
                    ts: 2,
                    value: PriceBody {
                        price_cents: 1999,
                        currency: "USD".to_owned(),
                        list_price_cents: None,
                    },
                }),
                inventory: Some(Versioned {
                    version: 2,
                    ts: 2,
                    value: 5,
                }),
            })
            .collect();
        values.overlay.set(
            i as u32,
            OverlayEntry {
                product_id: id,
                offers: records,
            },
        );
    }
    let overlay = live_bytes() - before_overlay;

    let per_offer = |bytes: isize| bytes as f64 / offers as f64;
    println!("# live store: {products} products, {offers} offers");
    println!(
        "always resident (slot map + live columns): {:.1} MiB = {:.1} B/offer ({:.1} B/product)",
        resident as f64 / 1048576.0,
        per_offer(resident),
        resident as f64 / products as f64
    );
    println!(
        "overlay, every product dirty (worst case): {:.1} MiB = {:.1} B/offer",
        overlay as f64 / 1048576.0,
        per_offer(overlay)
    );
    println!(
        "total, worst case: {:.1} B/offer (target 64 B/offer)",
        per_offer(resident + overlay)
    );
    println!(
        "check: {} overlay entries, {} slots",
        values.overlay.len(),
        values.slots.lock().map(|s| s.len()).unwrap_or(0)
    );
}
