//! The change stream: an endless, deterministic mix of product, offer, price and
//! inventory changes to a catalog, with a few deletes and re-creations.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use schemas::{Deleted, Event, OfferDelete, OfferEvent, ProductDelete, ProductEvent};

use super::catalog::GeneratedCatalog;

/// Shares of each event kind in a change stream, in percent.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    pub product: u32,
    pub offer: u32,
    pub price: u32,
    pub inventory: u32,
}

impl Default for Mix {
    fn default() -> Mix {
        Mix {
            product: 10,
            offer: 10,
            price: 40,
            inventory: 40,
        }
    }
}

/// An endless stream of changes to a catalog.
pub struct ChangeStream<'a> {
    catalog: &'a GeneratedCatalog,
    rng: StdRng,
    mix: Mix,
}

impl<'a> ChangeStream<'a> {
    pub fn new(catalog: &'a GeneratedCatalog, seed: u64, mix: Mix) -> ChangeStream<'a> {
        ChangeStream {
            catalog,
            rng: StdRng::seed_from_u64(seed ^ 0x0C4A_96E5),
            mix,
        }
    }

    /// The next change, with the given version and timestamp.
    pub fn next_event(&mut self, version: u64, ts: u64) -> Event {
        let c = self.catalog;
        let i = self.rng.random_range(0..c.len().max(1));
        let slots = c.offer_count(i);
        let total = self.mix.product + self.mix.offer + self.mix.price + self.mix.inventory;
        let roll = self.rng.random_range(0..total.max(1));
        let product_id = c.product_id(i);
        if roll < self.mix.product {
            // 2% of product changes are deletes; a later change recreates the product.
            if self.rng.random_ratio(1, 50) {
                return Event::Product(ProductEvent::Delete(ProductDelete {
                    product_id,
                    version,
                    ts,
                    deleted: Deleted,
                }));
            }
            let mut p = c.product(i, version, ts);
            // A content change: the description gets a new note.
            p.description = format!("{} Updated listing #{version}.", p.description);
            return Event::Product(ProductEvent::Upsert(p));
        }
        // Offer events sometimes touch a slot beyond the initial ones: a new seller.
        let slot = self
            .rng
            .random_range(0..slots + usize::from(roll < self.mix.product + self.mix.offer));
        if roll < self.mix.product + self.mix.offer {
            if self.rng.random_ratio(1, 10) {
                return Event::Offer(OfferEvent::Delete(OfferDelete {
                    offer_id: c.offer_id(i, slot),
                    product_id,
                    version,
                    ts,
                    deleted: Deleted,
                }));
            }
            return Event::Offer(OfferEvent::Upsert(c.offer(
                i,
                slot,
                version,
                ts,
                &mut self.rng,
            )));
        }
        if roll < self.mix.product + self.mix.offer + self.mix.price {
            return Event::Price(c.price(i, slot, version, ts, &mut self.rng));
        }
        // With stores, half the inventory changes are a store's quantity.
        if c.stores() > 0 && self.rng.random_ratio(1, 2) {
            let k = self.rng.random_range(0..c.stores());
            return Event::Inventory(c.store_inventory(i, slot, k, version, ts, &mut self.rng));
        }
        Event::Inventory(c.inventory(i, slot, version, ts, &mut self.rng))
    }
}
