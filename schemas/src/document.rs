//! The merged product document: what `GET /products/{product_id}` and search hits return.
//!
//! One document per visible product, denormalized from the product record and the offer, price
//! and inventory records of its offers. The indexer's merge engine builds it; the query API
//! only reads it back from the index.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::{Attributes, Condition};

/// Separator of category path segments in filters and facet values (`Electronics>TVs`).
pub const CATEGORY_SEPARATOR: &str = ">";

/// One seller's offer as shown on the product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OfferDocument {
    /// The offer's id at the source.
    pub offer_id: String,
    /// The seller's id.
    pub seller_id: String,
    /// The seller's display name.
    pub seller_name: String,
    /// The condition of the offered item.
    pub condition: Condition,
    /// `null` until the offer has a price record.
    pub price_cents: Option<u64>,
    /// `null` until the offer has a price record.
    pub currency: Option<String>,
    /// The seller's list (strike-through) price, when the price record has one.
    pub list_price_cents: Option<u64>,
    /// 0 until the offer has an inventory record.
    pub quantity: u64,
    /// The offer has a price and `quantity > 0`.
    pub in_stock: bool,
}

/// The merged, denormalized product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProductDocument {
    /// The product's id at the source.
    pub product_id: String,
    /// The product's title.
    pub title: String,
    /// The product's description.
    pub description: String,
    /// The brand (empty when unknown).
    pub brand: String,
    /// Category path from the root to the leaf.
    pub category: Vec<String>,
    /// Open-ended attributes (`color`, `screen_size_in`, ...).
    pub attributes: Attributes,
    /// Shown offers, sorted by `offer_id`.
    pub offers: Vec<OfferDocument>,
    /// Lowest price among in-stock offers; `null` when no offer is in stock.
    pub price_cents: Option<u64>,
    /// Currency of `price_cents`; `null` when `price_cents` is.
    pub currency: Option<String>,
    /// Some shown offer is in stock.
    pub in_stock: bool,
    /// Number of shown offers.
    pub offer_count: u64,
    /// Greatest `ts` (epoch ms) among the records merged into this product.
    pub updated_at: u64,
    /// Version of the product record this document shows.
    pub version: u64,
    /// Pickup in store: the best offer in stock at one of the stores asked for
    /// (`GET /search?pickup_store=S`, `GET /products/{id}?store=S`); absent when no store
    /// was asked for or none of them has the product in stock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pickup: Option<Pickup>,
}

/// Where a product can be picked up: the cheapest shown offer with a price and a positive
/// quantity at the store (ties: the store asked for first, then the lowest `offer_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Pickup {
    /// The store.
    pub store_id: String,
    /// Units of the offer at the store.
    pub quantity: u64,
    /// The offer.
    pub offer_id: String,
}

impl ProductDocument {
    /// The document as JSON bytes, the form stored in the index.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        // Cannot fail: all map keys are strings and all numbers finite.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a document stored by [`ProductDocument::to_json_bytes`].
    pub fn from_json_bytes(bytes: &[u8]) -> Result<ProductDocument, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The category path joined with `>` (`Electronics>TVs`), the form filters use.
    pub fn category_path(&self) -> String {
        self.category.join(CATEGORY_SEPARATOR)
    }
}
