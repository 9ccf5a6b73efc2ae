//! The merge engine: catalog events in, one merged document per product out.
//!
//! A pure, synchronous, I/O-free function of the events it is given, so it can be tested
//! exhaustively (see the property tests in `tests.rs`) and used as the oracle of the end-to-end
//! tests.
//!
//! # Merge rules
//!
//! State is kept per product ([`ProductState`]): the product record, and per `offer_id` an offer
//! record, a price record and an inventory record. Every record is stored with the `version`
//! and `ts` it was last set at; product and offer deletes are stored too, as versioned
//! tombstones.
//!
//! - An event is applied iff its `version` is greater than the stored version of the same
//!   record; otherwise it is stale and ignored ([`Outcome::Stale`]). Equal versions are stale.
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

mod catalog;
mod render;
mod state;
#[cfg(test)]
mod tests;

pub use catalog::Catalog;
pub use state::{
    DecodeStateError, OfferBody, OfferSlot, Outcome, PriceBody, ProductBody, ProductState,
    Versioned,
};
