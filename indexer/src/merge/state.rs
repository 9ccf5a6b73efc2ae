//! Per-product merge state and the rule that applies one event to it.

use std::collections::BTreeMap;

use schemas::{Attributes, Condition, Event, OfferEvent, ProductEvent};
use serde::{Deserialize, Serialize};

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The event's version was newer than the stored record's: the record now holds it.
    Applied,
    /// The stored record already had this version or a newer one: nothing changed.
    Stale,
}

/// A record value with the version and source timestamp it was set at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versioned<T> {
    #[serde(rename = "v")]
    pub version: u64,
    pub ts: u64,
    /// `None` is a tombstone (for product and offer records).
    #[serde(rename = "val")]
    pub value: T,
}

/// The content of a live product record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductBody {
    pub title: String,
    pub description: String,
    pub brand: String,
    pub category: Vec<String>,
    pub attributes: Attributes,
}

/// The content of a live offer record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferBody {
    pub seller_id: String,
    pub seller_name: String,
    pub condition: Condition,
}

/// The content of a price record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceBody {
    pub price_cents: u64,
    pub currency: String,
    pub list_price_cents: Option<u64>,
}

/// The records of one `offer_id` under a product. Any of them may be missing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OfferSlot {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<Versioned<Option<OfferBody>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Versioned<PriceBody>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Versioned<u64>>,
}

/// Everything known about one product: the input of [`ProductState::render`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductState {
    pub product_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<Versioned<Option<ProductBody>>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub offers: BTreeMap<String, OfferSlot>,
}

/// The stored merge state could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum DecodeStateError {
    #[error("merge state is empty")]
    Empty,
    #[error("merge state has format {0}, this build reads format {STATE_FORMAT}: reindex")]
    UnknownFormat(u8),
    #[error("merge state is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// First byte of the stored state; bumped when its encoding changes incompatibly.
const STATE_FORMAT: u8 = 1;

/// Replaces `slot` with `(version, ts, value)` iff `version` is newer than what it holds.
fn set_if_newer<T>(slot: &mut Option<Versioned<T>>, version: u64, ts: u64, value: T) -> Outcome {
    match slot {
        Some(current) if current.version >= version => Outcome::Stale,
        _ => {
            *slot = Some(Versioned { version, ts, value });
            Outcome::Applied
        }
    }
}

impl ProductState {
    pub fn new(product_id: impl Into<String>) -> ProductState {
        ProductState {
            product_id: product_id.into(),
            product: None,
            offers: BTreeMap::new(),
        }
    }

    /// Applies one event of this product. The caller routes events by `product_id`; an event
    /// of another product is a caller bug and is treated as stale.
    pub fn apply(&mut self, event: &Event) -> Outcome {
        if event.product_id() != self.product_id {
            debug_assert!(
                false,
                "event of {} applied to {}",
                event.product_id(),
                self.product_id
            );
            return Outcome::Stale;
        }
        let (version, ts) = (event.version(), event.ts());
        match event {
            Event::Product(ProductEvent::Upsert(p)) => {
                if self.product.as_ref().is_some_and(|c| c.version >= version) {
                    return Outcome::Stale;
                }
                let body = ProductBody {
                    title: p.title.clone(),
                    description: p.description.clone(),
                    brand: p.brand.clone(),
                    category: p.category.clone(),
                    attributes: p.attributes.clone(),
                };
                set_if_newer(&mut self.product, version, ts, Some(body))
            }
            Event::Product(ProductEvent::Delete(_)) => {
                set_if_newer(&mut self.product, version, ts, None)
            }
            Event::Offer(offer) => {
                let slot = self.slot(offer.offer_id());
                if slot.offer.as_ref().is_some_and(|c| c.version >= version) {
                    return Outcome::Stale;
                }
                let body = match offer {
                    OfferEvent::Upsert(o) => Some(OfferBody {
                        seller_id: o.seller_id.clone(),
                        seller_name: o.seller_name.clone(),
                        condition: o.condition,
                    }),
                    OfferEvent::Delete(_) => None,
                };
                set_if_newer(&mut slot.offer, version, ts, body)
            }
            Event::Price(p) => {
                let slot = self.slot(&p.offer_id);
                if slot.price.as_ref().is_some_and(|c| c.version >= version) {
                    return Outcome::Stale;
                }
                let body = PriceBody {
                    price_cents: p.price_cents,
                    currency: p.currency.clone(),
                    list_price_cents: p.list_price_cents,
                };
                set_if_newer(&mut slot.price, version, ts, body)
            }
            Event::Inventory(i) => set_if_newer(
                &mut self.slot(&i.offer_id).inventory,
                version,
                ts,
                i.quantity,
            ),
        }
    }

    fn slot(&mut self, offer_id: &str) -> &mut OfferSlot {
        self.offers.entry(offer_id.to_owned()).or_default()
    }

    /// Whether the product is visible: its product record exists and is not deleted.
    pub fn is_visible(&self) -> bool {
        matches!(&self.product, Some(Versioned { value: Some(_), .. }))
    }

    /// A rough size of the state in memory, for the writer's memory budget.
    pub fn approx_bytes(&self) -> usize {
        let product = self
            .product
            .as_ref()
            .and_then(|p| p.value.as_ref())
            .map_or(0, |b| {
                b.title.len()
                    + b.description.len()
                    + b.brand.len()
                    + b.category.iter().map(|c| c.len() + 24).sum::<usize>()
                    + b.attributes.keys().map(|k| k.len() + 64).sum::<usize>()
            });
        let offers: usize = self
            .offers
            .iter()
            .map(|(id, s)| {
                id.len()
                    + 160
                    + s.offer
                        .as_ref()
                        .and_then(|o| o.value.as_ref())
                        .map_or(0, |o| o.seller_id.len() + o.seller_name.len())
            })
            .sum();
        128 + self.product_id.len() + product + offers
    }

    /// Encodes the state for storage in the index.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![STATE_FORMAT];
        // Cannot fail: string keys, finite numbers.
        if serde_json::to_writer(&mut out, self).is_err() {
            out.truncate(1);
        }
        out
    }

    /// Decodes a state stored by [`ProductState::encode`].
    pub fn decode(bytes: &[u8]) -> Result<ProductState, DecodeStateError> {
        match bytes.split_first() {
            None => Err(DecodeStateError::Empty),
            Some((&STATE_FORMAT, json)) => Ok(serde_json::from_slice(json)?),
            Some((&other, _)) => Err(DecodeStateError::UnknownFormat(other)),
        }
    }
}
