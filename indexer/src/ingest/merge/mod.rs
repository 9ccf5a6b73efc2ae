//! The merge engine: catalog events in, one merged document per product out.
//!
//! A pure, synchronous, I/O-free function of the events it is given, so it can be tested
//! exhaustively (see the property tests in `tests.rs`) and used as the oracle of the end-to-end
//! tests.
//!
//! # Merge rules
//!
//! State is kept per product ([`ProductState`], defined with its stored form and its rendering
//! in `schemas::state`): the product record, and per `offer_id` an offer
//! record, a price record and an inventory record. Every record is stored with the `version`
//! and `ts` it was last set at; product and offer deletes are stored too, as versioned
//! tombstones.
//!
//! - An event is applied iff its `version` is greater than the stored version of the same
//!   record ([`apply`]); otherwise it is stale and ignored ([`Outcome::Stale`]). Equal versions are stale.
//!   Hence the final state depends only on the set of events, not on their order, and a
//!   duplicate changes nothing: at-least-once delivery and full replays are safe.
//! - Records are independent: a price may arrive before its offer, an offer before its
//!   product. They are kept and shown once their parent exists. A deleted product or offer
//!   keeps its children's records; recreating it with a higher version shows them again.
//! - Records are keyed by `(product_id, offer_id)`: an offer id reused under another product
//!   is another record. Moving an offer between products is a delete on the old product and a
//!   create on the new one.
//!
//! # The document
//!
//! A product is visible iff its product record exists and is not deleted. An offer is shown
//! iff its offer record exists and is not deleted; it is in stock iff it has a price record
//! and `quantity > 0` (quantity is 0 without an inventory record). Derived fields:
//! `price_cents` is the lowest price among in-stock offers (ties: lowest `offer_id`), with its
//! `currency`; `in_stock` says some shown offer is in stock; `offer_count` counts shown offers;
//! `updated_at` is the greatest `ts` among the product's stored records (tombstones and
//! not-yet-shown records included, so a delete or an orphan also moves it).

mod merged;
#[cfg(test)]
mod tests;

pub use merged::MergedCatalog;
pub use schemas::state::{
    DecodeStateError, OfferBody, OfferSlot, PriceBody, ProductBody, ProductState, Versioned,
};

use schemas::{Event, OfferEvent, ProductEvent};

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The event's version was newer than the stored record's: the record now holds it.
    Applied,
    /// The stored record already had this version or a newer one: nothing changed.
    Stale,
}

/// Whether a record stored at `current` is replaced by an event at `version`.
fn is_newer<T>(current: &Option<Versioned<T>>, version: u64) -> bool {
    current.as_ref().is_none_or(|c| version > c.version)
}

/// Applies one event to its product's state: the merge rule. The caller routes events by
/// `product_id`; an event of another product is a caller bug and is treated as stale.
pub fn apply(state: &mut ProductState, event: &Event) -> Outcome {
    if event.product_id() != state.product_id {
        debug_assert!(
            false,
            "event of {} applied to {}",
            event.product_id(),
            state.product_id
        );
        return Outcome::Stale;
    }
    let (version, ts) = (event.version(), event.ts());
    match event {
        Event::Product(p) => {
            if !is_newer(&state.product, version) {
                return Outcome::Stale;
            }
            state.product = versioned(
                version,
                ts,
                match p {
                    ProductEvent::Upsert(p) => Some(ProductBody {
                        title: p.title.clone(),
                        description: p.description.clone(),
                        brand: p.brand.clone(),
                        category: p.category.clone(),
                        attributes: ProductBody::store_attributes(&p.attributes),
                    }),
                    ProductEvent::Delete(_) => None,
                },
            );
        }
        Event::Offer(offer) => {
            let slot = slot(state, offer.offer_id());
            if !is_newer(&slot.offer, version) {
                return Outcome::Stale;
            }
            slot.offer = versioned(
                version,
                ts,
                match offer {
                    OfferEvent::Upsert(o) => Some(OfferBody {
                        seller_id: o.seller_id.clone(),
                        seller_name: o.seller_name.clone(),
                        condition: o.condition,
                    }),
                    OfferEvent::Delete(_) => None,
                },
            );
        }
        Event::Price(p) => {
            let slot = slot(state, &p.offer_id);
            if !is_newer(&slot.price, version) {
                return Outcome::Stale;
            }
            slot.price = Some(Versioned {
                version,
                ts,
                value: PriceBody {
                    price_cents: p.price_cents,
                    currency: p.currency.clone(),
                    list_price_cents: p.list_price_cents,
                },
            });
        }
        Event::Inventory(i) => {
            let slot = slot(state, &i.offer_id);
            if !is_newer(&slot.inventory, version) {
                return Outcome::Stale;
            }
            slot.inventory = Some(Versioned {
                version,
                ts,
                value: i.quantity,
            });
        }
    }
    Outcome::Applied
}

fn versioned<T>(version: u64, ts: u64, value: T) -> Option<Versioned<T>> {
    Some(Versioned { version, ts, value })
}

fn slot<'a>(state: &'a mut ProductState, offer_id: &str) -> &'a mut OfferSlot {
    state.offers.entry(offer_id.to_owned()).or_default()
}
