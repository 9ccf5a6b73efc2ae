//! The contract shared by the indexer and the query API.
//!
//! A tour:
//! - `event`: the four event kinds source teams publish (product, offer, price, inventory),
//!   typed, serializing to exactly the wire format.
//! - `decode`: raw Kafka payload to [`Event`], validating every field; an invalid message
//!   gives an [`InvalidEvent`] naming the field and the reason, and decoding never panics.
//! - `document`: the merged [`ProductDocument`] served by `GET /products/{id}` and search hits.
//! - [`state`]: a product's merge state (every record with its version), its compact stored
//!   form, and how it renders into the document.
//! - [`index`]: the Tantivy schema and analyzers, defined once for writers and readers, and
//!   the one decoder of the merge state stored in the index.
//! - [`stores`]: quantities per store and the availability derived from them, for pickup
//!   in store (issue #15 part B), kept on the live path only.
//! - [`values`]: live values (prices and stock updated in place, by slot) beside the index,
//!   read by filters, sorts, facets and documents; the design note of issue #15.
//! - `live`: the live index handle (index, reader, fields), atomically swappable, shared by
//!   the indexer (writes, state lookups) and the query API (searches).
//! - `contract` (test only): the JSON Schema files under `schemas/json/`, generated from these
//!   types and kept in sync by a test (`UPDATE_SCHEMAS=1` rewrites them); example events live
//!   under `schemas/examples/`.
//!
//! The merge rules that apply events to states live in the indexer (`indexer::merge`).
//!
//! Module dependencies run one way (checked by `scripts/check-layout.py`): `event` ←
//! `decode`; `event` ← `document` ← `state` ← `index` ← `values` ← `live`; `state` ← `stores` ← `values`; `contract` reads `event` and
//! `document`. Nothing points back.

#![warn(missing_docs)]

#[cfg(test)]
mod contract;
mod decode;
mod document;
mod event;
pub mod index;
mod live;
pub mod state;
pub mod stores;
pub mod values;

pub use decode::{decode, FieldProblem, InvalidEvent, JsonType, MAX_MESSAGE_BYTES};
pub use document::{OfferDocument, Pickup, ProductDocument};
pub use event::{
    AttributeValue, Attributes, Condition, Deleted, Event, EventKind, InventoryEvent, OfferDelete,
    OfferEvent, OfferUpsert, PriceEvent, ProductDelete, ProductEvent, ProductUpsert,
};
pub use index::{IndexFields, SCHEMA_VERSION};
pub use live::{LiveIndex, SharedIndex, StoredStateError};
pub use state::ProductState;
