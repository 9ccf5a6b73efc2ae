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
//!   record ([`apply`]); otherwise it is stale and ignored ([`Outcome::Stale`]). Two
//!   different events of one record with an equal version (two producers, a producer bug)
//!   are ordered by their `ts`, then by a hash of their content ([`content_hash`]): the later,
//!   then the greater, wins. Hence the final state depends only on the set of events, not
//!   on their order (a rebuild and the live index always agree), and a duplicate changes
//!   nothing: at-least-once delivery and full replays are safe.
//! - Records are independent: a price may arrive before its offer, an offer before its
//!   product. They are kept and shown once their parent exists. A deleted product or offer
//!   keeps its children's records; recreating it with a higher version shows them again.
//! - Records are keyed by `(product_id, offer_id)`: an offer id reused under another product
//!   is another record. Moving an offer between products is a delete on the old product and a
//!   create on the new one.
//! - An inventory event with a `store_id` sets the `(product_id, offer_id, store_id)` record,
//!   by the same rule ([`apply_store`]). Store records live beside the state, on the live path
//!   only (`schemas::stores`); they never change the document's online fields (`in_stock`,
//!   `price_cents`, `updated_at`) and are shown as the `pickup` block when a store is asked
//!   for.
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
pub(crate) mod tests;

pub use merged::MergedCatalog;
pub use schemas::state::{
    DecodeStateError, OfferBody, OfferSlot, PriceBody, ProductBody, ProductState, Versioned,
};

use std::cmp::Ordering;

use schemas::{Event, InventoryEvent, OfferEvent, ProductEvent};
use serde::Serialize;

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The event's version was newer than the stored record's: the record now holds it.
    Applied,
    /// The stored record already had this version or a newer one: nothing changed.
    Stale,
}

/// The content hash that breaks a tie between two different records of one version and
/// one `ts`: FNV-1a (64 bits) of the stored value's JSON, so it depends only on the
/// content, the same in every process, version and rebuild.
pub fn content_hash<T: Serialize>(value: &T) -> u64 {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Sets `slot` to the record an event at `version` and `ts` makes (`make`), iff it wins over
/// the stored one: a higher version; at an equal version, a later `ts`; at an equal `ts`
/// too, the greater [`content_hash`]. Identical content is a duplicate (stale). Every pair
/// of records is thus ordered by what they hold, never by which arrived first.
fn replace<T: Serialize>(
    slot: &mut Option<Versioned<T>>,
    version: u64,
    ts: u64,
    make: impl FnOnce() -> T,
) -> Outcome {
    if let Some(current) = slot.as_ref() {
        match (version, ts).cmp(&(current.version, current.ts)) {
            Ordering::Less => return Outcome::Stale,
            Ordering::Equal => {
                let value = make();
                if content_hash(&value) <= content_hash(&current.value) {
                    return Outcome::Stale;
                }
                *slot = Some(Versioned { version, ts, value });
                return Outcome::Applied;
            }
            Ordering::Greater => {}
        }
    }
    *slot = Some(Versioned {
        version,
        ts,
        value: make(),
    });
    Outcome::Applied
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
        Event::Product(p) => replace(&mut state.product, version, ts, || product_body(p)),
        Event::Offer(offer) => {
            let slot = slot(state, offer.offer_id());
            replace(&mut slot.offer, version, ts, || offer_body(offer))
        }
        Event::Price(p) => {
            let slot = slot(state, &p.offer_id);
            replace(&mut slot.price, version, ts, || PriceBody {
                price_cents: p.price_cents,
                currency: p.currency.clone(),
                list_price_cents: p.list_price_cents,
            })
        }
        Event::Inventory(i) if i.store_id.is_some() => {
            debug_assert!(
                false,
                "store quantity of {} applied to its state",
                i.product_id
            );
            Outcome::Stale
        }
        Event::Inventory(i) => {
            let slot = slot(state, &i.offer_id);
            replace(&mut slot.inventory, version, ts, || i.quantity)
        }
    }
}

/// Applies an inventory event with a `store_id` to its `(product, offer, store)` record,
/// which lives beside the state (`schemas::stores`): the same rule as every record.
pub fn apply_store(record: &mut Option<Versioned<u64>>, event: &InventoryEvent) -> Outcome {
    replace(record, event.version, event.ts, || event.quantity)
}

/// The stored product record of an event (`None`: a tombstone).
fn product_body(event: &ProductEvent) -> Option<ProductBody> {
    match event {
        ProductEvent::Upsert(p) => Some(ProductBody {
            title: p.title.clone(),
            description: p.description.clone(),
            brand: p.brand.clone(),
            category: p.category.clone(),
            attributes: ProductBody::store_attributes(&p.attributes),
        }),
        ProductEvent::Delete(_) => None,
    }
}

/// The stored offer record of an event (`None`: a tombstone).
fn offer_body(event: &OfferEvent) -> Option<OfferBody> {
    match event {
        OfferEvent::Upsert(o) => Some(OfferBody {
            seller_id: o.seller_id.clone(),
            seller_name: o.seller_name.clone(),
            condition: o.condition,
        }),
        OfferEvent::Delete(_) => None,
    }
}

/// The [`content_hash`] of the record `event` sets (what a tie is broken by).
pub fn event_content_hash(event: &Event) -> u64 {
    match event {
        Event::Product(p) => content_hash(&product_body(p)),
        Event::Offer(o) => content_hash(&offer_body(o)),
        Event::Price(p) => content_hash(&PriceBody {
            price_cents: p.price_cents,
            currency: p.currency.clone(),
            list_price_cents: p.list_price_cents,
        }),
        Event::Inventory(i) => content_hash(&i.quantity),
    }
}

fn slot<'a>(state: &'a mut ProductState, offer_id: &str) -> &'a mut OfferSlot {
    state.offers.entry(offer_id.to_owned()).or_default()
}
