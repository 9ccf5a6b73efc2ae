//! A product's merge state, its stored (binary) form, and how it renders into the merged
//! document.
//!
//! The state is what the index stores for every product (the `state` field): the writer
//! reads it back to apply new events (the rules live in `indexer::merge`), and the query API
//! renders documents from it. Rendering is here, next to the state, because it *is* the
//! document contract: a product is visible iff its product record exists and is not deleted;
//! an offer is shown iff its offer record exists and is not deleted; it is in stock iff it
//! has a price record and `quantity > 0` (quantity is 0 without an inventory record);
//! `price_cents` is the lowest price among in-stock offers (ties: lowest `offer_id`), with
//! its `currency`; `in_stock` says some shown offer is in stock; `offer_count` counts shown
//! offers; `updated_at` is the greatest `ts` among the product's stored records (tombstones
//! and not-yet-shown records included).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::document::{OfferDocument, ProductDocument};
use crate::event::{AttributeValue, Attributes, Condition};

/// A record value with the version and source timestamp it was set at.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Versioned<T> {
    /// The event's version: a record is replaced only by a higher one.
    pub version: u64,
    /// The event's source timestamp, epoch ms.
    pub ts: u64,
    /// `None` is a tombstone (for product and offer records).
    pub value: T,
}

// By hand for `clone_from`, which reuses the value's allocations: the live path rewrites
// a product's records in place on every price change (`values::OfferValues::assign`).
impl<T: Clone> Clone for Versioned<T> {
    fn clone(&self) -> Self {
        Versioned {
            version: self.version,
            ts: self.ts,
            value: self.value.clone(),
        }
    }

    fn clone_from(&mut self, source: &Self) {
        self.version = source.version;
        self.ts = source.ts;
        self.value.clone_from(&source.value);
    }
}

/// An attribute value in the stored state (a binary format cannot use JSON's untagged
/// numbers, so numbers keep their kind).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StoredValue {
    /// A boolean.
    Bool(bool),
    /// A number that fits `u64`.
    UInt(u64),
    /// A negative whole number.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// A string.
    Str(String),
}

impl From<&AttributeValue> for StoredValue {
    fn from(v: &AttributeValue) -> StoredValue {
        match v {
            AttributeValue::Bool(b) => StoredValue::Bool(*b),
            AttributeValue::String(s) => StoredValue::Str(s.clone()),
            AttributeValue::Number(n) => {
                if let Some(u) = n.as_u64() {
                    StoredValue::UInt(u)
                } else if let Some(i) = n.as_i64() {
                    StoredValue::Int(i)
                } else {
                    StoredValue::Float(n.as_f64().unwrap_or(0.0))
                }
            }
        }
    }
}

impl From<&StoredValue> for AttributeValue {
    fn from(v: &StoredValue) -> AttributeValue {
        match v {
            StoredValue::Bool(b) => AttributeValue::Bool(*b),
            StoredValue::UInt(u) => AttributeValue::Number((*u).into()),
            StoredValue::Int(i) => AttributeValue::Number((*i).into()),
            StoredValue::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(AttributeValue::Number(0.into()), AttributeValue::Number),
            StoredValue::Str(s) => AttributeValue::String(s.clone()),
        }
    }
}

/// The content of a live product record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductBody {
    /// The title.
    pub title: String,
    /// The description.
    pub description: String,
    /// The brand.
    pub brand: String,
    /// The category path, root first.
    pub category: Vec<String>,
    /// Attributes in name order, in their stored form.
    pub attributes: Vec<(String, StoredValue)>,
}

impl ProductBody {
    /// The attributes as the event carried them.
    pub fn attributes(&self) -> Attributes {
        self.attributes
            .iter()
            .map(|(k, v)| (k.clone(), AttributeValue::from(v)))
            .collect()
    }

    /// Event attributes in their stored form.
    pub fn store_attributes(attributes: &Attributes) -> Vec<(String, StoredValue)> {
        attributes
            .iter()
            .map(|(k, v)| (k.clone(), StoredValue::from(v)))
            .collect()
    }
}

/// The content of a live offer record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferBody {
    /// The seller's id.
    pub seller_id: String,
    /// The seller's display name.
    pub seller_name: String,
    /// The condition of the offered item.
    pub condition: Condition,
}

/// The content of a price record.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct PriceBody {
    /// The price in cents.
    pub price_cents: u64,
    /// ISO 4217 currency code.
    pub currency: String,
    /// The list (strike-through) price, if any.
    pub list_price_cents: Option<u64>,
}

// By hand for `clone_from` (see `Versioned`): the currency keeps its allocation.
impl Clone for PriceBody {
    fn clone(&self) -> Self {
        PriceBody {
            price_cents: self.price_cents,
            currency: self.currency.clone(),
            list_price_cents: self.list_price_cents,
        }
    }

    fn clone_from(&mut self, source: &Self) {
        self.price_cents = source.price_cents;
        self.currency.clone_from(&source.currency);
        self.list_price_cents = source.list_price_cents;
    }
}

/// The records of one `offer_id` under a product. Any of them may be missing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OfferSlot {
    /// The offer record (`None` inside: a tombstone).
    pub offer: Option<Versioned<Option<OfferBody>>>,
    /// The price record.
    pub price: Option<Versioned<PriceBody>>,
    /// The inventory record: the quantity.
    pub inventory: Option<Versioned<u64>>,
}

/// Everything known about one product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductState {
    /// The product's id.
    pub product_id: String,
    /// The product record (`None` inside: a tombstone).
    pub product: Option<Versioned<Option<ProductBody>>>,
    /// The records of each `offer_id`, in id order.
    pub offers: BTreeMap<String, OfferSlot>,
}

/// The stored merge state could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum DecodeStateError {
    /// No bytes at all.
    #[error("merge state is empty")]
    Empty,
    #[error("merge state has format {0}, this build reads format {STATE_FORMAT}: reindex")]
    /// A format byte this build does not read (a newer build wrote it).
    UnknownFormat(u8),
    #[error("merge state is corrupt: {0}")]
    /// The bytes do not decode.
    Corrupt(#[from] postcard::Error),
}

/// First byte of the stored state; bumped when its encoding changes incompatibly.
pub const STATE_FORMAT: u8 = 2;

impl ProductState {
    /// The state of a product nothing is known about yet.
    pub fn new(product_id: impl Into<String>) -> ProductState {
        ProductState {
            product_id: product_id.into(),
            product: None,
            offers: BTreeMap::new(),
        }
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
                    + b.attributes
                        .iter()
                        .map(|(k, _)| k.len() + 64)
                        .sum::<usize>()
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

    /// The stored form: a format byte, then the state in postcard (compact binary).
    pub fn encode(&self) -> Vec<u8> {
        let out = vec![STATE_FORMAT];
        // Serializing plain data into a Vec cannot fail.
        match postcard::to_extend(self, out) {
            Ok(v) => v,
            Err(_) => vec![STATE_FORMAT],
        }
    }

    /// Reads a state stored by [`ProductState::encode`].
    pub fn decode(bytes: &[u8]) -> Result<ProductState, DecodeStateError> {
        match bytes.split_first() {
            None => Err(DecodeStateError::Empty),
            Some((&STATE_FORMAT, rest)) => Ok(postcard::from_bytes(rest)?),
            Some((&other, _)) => Err(DecodeStateError::UnknownFormat(other)),
        }
    }

    /// The greatest `ts` among all stored records of the product, tombstones included.
    pub fn updated_at(&self) -> u64 {
        let product = self.product.as_ref().map(|p| p.ts);
        let children = self.offers.values().flat_map(|s| {
            [
                s.offer.as_ref().map(|r| r.ts),
                s.price.as_ref().map(|r| r.ts),
                s.inventory.as_ref().map(|r| r.ts),
            ]
        });
        std::iter::once(product)
            .chain(children)
            .flatten()
            .max()
            .unwrap_or(0)
    }

    /// The live product record: its version and content (`None` when not visible).
    pub fn body(&self) -> Option<(u64, &ProductBody)> {
        match &self.product {
            Some(Versioned {
                version,
                value: Some(body),
                ..
            }) => Some((*version, body)),
            _ => None,
        }
    }

    /// The shown offers (offer record present and not deleted), in `offer_id` order.
    pub fn shown_offers(&self) -> impl Iterator<Item = ShownOffer<'_>> {
        self.offers.iter().filter_map(|(offer_id, slot)| {
            Some(ShownOffer {
                offer_id,
                offer: slot.offer.as_ref()?.value.as_ref()?,
                price: slot.price.as_ref().map(|p| &p.value),
                quantity: slot.inventory.as_ref().map_or(0, |i| i.value),
            })
        })
    }

    /// The in-stock offer with the lowest price (ties: lowest `offer_id`).
    pub fn cheapest_in_stock(&self) -> Option<ShownOffer<'_>> {
        // `min_by_key` keeps the first minimum, and offers come in offer_id order.
        self.shown_offers()
            .filter(ShownOffer::in_stock)
            .min_by_key(|o| o.price.map(|p| p.price_cents))
    }

    /// The merged document, or `None` when the product is not visible.
    pub fn render(&self) -> Option<ProductDocument> {
        let (version, body) = self.body()?;
        let offers: Vec<OfferDocument> = self
            .shown_offers()
            .map(|o| OfferDocument {
                offer_id: o.offer_id.to_owned(),
                seller_id: o.offer.seller_id.clone(),
                seller_name: o.offer.seller_name.clone(),
                condition: o.offer.condition,
                price_cents: o.price.map(|p| p.price_cents),
                currency: o.price.map(|p| p.currency.clone()),
                list_price_cents: o.price.and_then(|p| p.list_price_cents),
                quantity: o.quantity,
                in_stock: o.in_stock(),
            })
            .collect();
        let cheapest = self.cheapest_in_stock();
        Some(ProductDocument {
            product_id: self.product_id.clone(),
            title: body.title.clone(),
            description: body.description.clone(),
            brand: body.brand.clone(),
            category: body.category.clone(),
            attributes: body.attributes(),
            price_cents: cheapest
                .as_ref()
                .and_then(|o| o.price)
                .map(|p| p.price_cents),
            currency: cheapest
                .as_ref()
                .and_then(|o| o.price)
                .map(|p| p.currency.clone()),
            in_stock: cheapest.is_some(),
            offer_count: offers.len() as u64,
            updated_at: self.updated_at(),
            version,
            offers,
            pickup: None,
        })
    }
}

/// An offer as shown on the product, borrowed from the state.
#[derive(Debug, Clone, Copy)]
pub struct ShownOffer<'a> {
    /// The offer's id.
    pub offer_id: &'a str,
    /// The offer record's content.
    pub offer: &'a OfferBody,
    /// The price record's content, if any.
    pub price: Option<&'a PriceBody>,
    /// 0 without an inventory record.
    pub quantity: u64,
}

impl ShownOffer<'_> {
    /// Has a price and `quantity > 0`.
    pub fn in_stock(&self) -> bool {
        self.price.is_some() && self.quantity > 0
    }
}

impl StoredValue {
    /// The value as text, exactly as [`AttributeValue::as_text`] gives it.
    pub fn as_text(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            StoredValue::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            StoredValue::UInt(u) => Cow::Owned(u.to_string()),
            StoredValue::Int(i) => Cow::Owned(i.to_string()),
            StoredValue::Str(s) => Cow::Borrowed(s),
            StoredValue::Float(_) => Cow::Owned(AttributeValue::from(self).as_text().into_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_errors_are_typed() {
        assert!(matches!(
            ProductState::decode(&[]),
            Err(DecodeStateError::Empty)
        ));
        assert!(matches!(
            ProductState::decode(&[9, 1]),
            Err(DecodeStateError::UnknownFormat(9))
        ));
        assert!(matches!(
            ProductState::decode(&[STATE_FORMAT, 200]),
            Err(DecodeStateError::Corrupt(_))
        ));
    }

    #[test]
    fn attribute_numbers_keep_their_kind_through_storage() {
        let attrs: Attributes = [
            ("u".to_owned(), AttributeValue::Number(7u64.into())),
            ("i".to_owned(), AttributeValue::Number((-7i64).into())),
            (
                "f".to_owned(),
                AttributeValue::Number(serde_json::Number::from_f64(1.5).unwrap()),
            ),
            ("b".to_owned(), AttributeValue::Bool(true)),
            ("s".to_owned(), AttributeValue::String("x".into())),
        ]
        .into_iter()
        .collect();
        let mut state = ProductState::new("p");
        state.product = Some(Versioned {
            version: 1,
            ts: 1,
            value: Some(ProductBody {
                title: "t".into(),
                description: String::new(),
                brand: String::new(),
                category: vec![],
                attributes: ProductBody::store_attributes(&attrs),
            }),
        });
        let back = ProductState::decode(&state.encode()).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.render().unwrap().attributes, attrs);
    }
}
