//! Typed catalog events: what source teams publish, one JSON object per Kafka message.
//!
//! The topic decides the event type ([`EventKind`]); the JSON object's fields are the event.
//! These types serialize to exactly the wire format (they are what the generator and the tests
//! produce), and the JSON Schema files under `schemas/json/` are generated from them. Decoding
//! goes through [`crate::decode()`], which validates every field and names the one that is wrong.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize, Serializer};

/// The four event streams. Each has its own topic; the topic decides how a message is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// The products topic: product content.
    Product,
    /// The offers topic: sellers' offers of a product.
    Offer,
    /// The prices topic: an offer's price.
    Price,
    /// The inventory topic: an offer's stock.
    Inventory,
}

impl EventKind {
    /// Every kind, in [`EventKind::index`] order.
    pub const ALL: [EventKind; 4] = [
        EventKind::Product,
        EventKind::Offer,
        EventKind::Price,
        EventKind::Inventory,
    ];

    /// The position of the kind in [`EventKind::ALL`], for tables indexed by kind.
    pub fn index(self) -> usize {
        match self {
            EventKind::Product => 0,
            EventKind::Offer => 1,
            EventKind::Price => 2,
            EventKind::Inventory => 3,
        }
    }

    /// The kind's name, as in dead-letter headers and the JSON Schema file names.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Product => "product",
            EventKind::Offer => "offer",
            EventKind::Price => "price",
            EventKind::Inventory => "inventory",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An attribute value: a string, a number or a boolean (never null, an array or an object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum AttributeValue {
    /// `true` or `false`.
    Bool(bool),
    /// A JSON number.
    Number(serde_json::Number),
    /// A string.
    String(String),
}

impl AttributeValue {
    /// The value as text, the way it is indexed for attribute filters (`attr.NAME=VALUE`) and
    /// facets: strings as they are, numbers in their JSON form, booleans as `true`/`false`.
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            AttributeValue::String(s) => Cow::Borrowed(s),
            AttributeValue::Number(n) => Cow::Owned(n.to_string()),
            AttributeValue::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        }
    }
}

/// Open-ended product attributes (`color`, `screen_size_in`, ...), sorted by name.
pub type Attributes = BTreeMap<String, AttributeValue>;

/// The condition of an offered item.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
// The variants are named by their wire values (`new`, `refurbished`, `used`); a doc comment
// per variant would turn the JSON Schema's `enum` into a `oneOf` of constants.
#[allow(missing_docs)]
pub enum Condition {
    New,
    Refurbished,
    Used,
}

impl Condition {
    /// Every condition.
    pub const ALL: [Condition; 3] = [Condition::New, Condition::Refurbished, Condition::Used];

    /// The condition as the wire format spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::New => "new",
            Condition::Refurbished => "refurbished",
            Condition::Used => "used",
        }
    }

    /// The condition a wire value names, if any.
    pub fn parse(s: &str) -> Option<Condition> {
        Condition::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// The literal `true` of a delete event's `deleted` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deleted;

impl Serialize for Deleted {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bool(true)
    }
}

impl JsonSchema for Deleted {
    fn schema_name() -> Cow<'static, str> {
        "Deleted".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "boolean", "const": true })
    }
}

/// Adds `"deleted": {"const": false}` to an upsert's schema: an upsert may say `deleted: false`.
fn allow_deleted_false(schema: &mut Schema) {
    if let Some(props) = schema
        .get_mut("properties")
        .and_then(serde_json::Value::as_object_mut)
    {
        props.insert(
            "deleted".to_owned(),
            serde_json::json!({ "type": "boolean", "const": false, "description": "An upsert may state `deleted: false`; `true` makes the event a delete." }),
        );
    }
}

/// A product created or changed at the source.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(transform = allow_deleted_false)]
pub struct ProductUpsert {
    /// The product's id at the source (the Kafka key).
    #[schemars(length(min = 1, max = 256))]
    pub product_id: String,
    /// Increases with every change of this record at the source.
    pub version: u64,
    /// When the change happened at the source, epoch milliseconds.
    pub ts: u64,
    /// The product's title.
    pub title: String,
    /// The description.
    #[serde(default)]
    pub description: String,
    /// The brand.
    #[serde(default)]
    pub brand: String,
    /// Category path from the root to the leaf, e.g. `["Electronics", "TVs"]`.
    #[serde(default)]
    #[schemars(length(max = 32), inner(length(min = 1, max = 256)))]
    pub category: Vec<String>,
    /// Open-ended attributes.
    #[serde(default)]
    pub attributes: Attributes,
}

/// A product deleted at the source.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ProductDelete {
    /// The product's id at the source.
    #[schemars(length(min = 1, max = 256))]
    pub product_id: String,
    /// Increases with every change of this record at the source.
    pub version: u64,
    /// When the delete happened at the source, epoch milliseconds.
    pub ts: u64,
    /// Always `true`.
    pub deleted: Deleted,
}

/// An event of the products topic.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ProductEvent {
    /// The product exists with this content.
    Upsert(ProductUpsert),
    /// The product is gone.
    Delete(ProductDelete),
}

/// A seller's offer created or changed.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(transform = allow_deleted_false)]
pub struct OfferUpsert {
    /// The offer's id at the source.
    #[schemars(length(min = 1, max = 256))]
    pub offer_id: String,
    /// The product offered.
    #[schemars(length(min = 1, max = 256))]
    pub product_id: String,
    /// Increases with every change of this record at the source.
    pub version: u64,
    /// When the change happened at the source, epoch milliseconds.
    pub ts: u64,
    /// The seller's id.
    #[schemars(length(min = 1, max = 256))]
    pub seller_id: String,
    /// The seller's display name.
    #[serde(default)]
    pub seller_name: String,
    /// The condition of the offered item.
    pub condition: Condition,
}

/// A seller's offer withdrawn.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct OfferDelete {
    /// The offer's id at the source.
    #[schemars(length(min = 1, max = 256))]
    pub offer_id: String,
    /// The product it was offered for.
    #[schemars(length(min = 1, max = 256))]
    pub product_id: String,
    /// Increases with every change of this record at the source.
    pub version: u64,
    /// When the delete happened at the source, epoch milliseconds.
    pub ts: u64,
    /// Always `true`.
    pub deleted: Deleted,
}

/// An event of the offers topic.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum OfferEvent {
    /// The offer exists with this content.
    Upsert(OfferUpsert),
    /// The offer is withdrawn.
    Delete(OfferDelete),
}

/// The price of an offer (there is no price delete: withdraw the offer instead).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PriceEvent {
    /// The offer priced.
    #[schemars(length(min = 1, max = 256))]
    pub offer_id: String,
    /// The product of the offer.
    #[schemars(length(min = 1, max = 256))]
    pub product_id: String,
    /// Increases with every change of this record at the source.
    pub version: u64,
    /// When the change happened at the source, epoch milliseconds.
    pub ts: u64,
    /// The price in cents.
    pub price_cents: u64,
    /// ISO 4217 currency code, three upper-case letters.
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: String,
    /// The seller's list (strike-through) price, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_price_cents: Option<u64>,
}

/// The stock of an offer.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct InventoryEvent {
    /// The offer stocked.
    #[schemars(length(min = 1, max = 256))]
    pub offer_id: String,
    /// The product of the offer.
    #[schemars(length(min = 1, max = 256))]
    pub product_id: String,
    /// Increases with every change of this record at the source.
    pub version: u64,
    /// When the change happened at the source, epoch milliseconds.
    pub ts: u64,
    /// Units available (online, or at `store_id`).
    pub quantity: u64,
    /// The store the quantity is at (issue #15 part B: pickup in store); absent: the online
    /// quantity. Each `(product_id, offer_id, store_id)` is its own versioned record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub store_id: Option<String>,
}

/// Any decoded event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Event {
    /// From the products topic.
    Product(ProductEvent),
    /// From the offers topic.
    Offer(OfferEvent),
    /// From the prices topic.
    Price(PriceEvent),
    /// From the inventory topic.
    Inventory(InventoryEvent),
}

impl ProductEvent {
    /// The product the event is about.
    pub fn product_id(&self) -> &str {
        match self {
            ProductEvent::Upsert(e) => &e.product_id,
            ProductEvent::Delete(e) => &e.product_id,
        }
    }

    /// The record's version.
    pub fn version(&self) -> u64 {
        match self {
            ProductEvent::Upsert(e) => e.version,
            ProductEvent::Delete(e) => e.version,
        }
    }

    /// The source timestamp, epoch ms.
    pub fn ts(&self) -> u64 {
        match self {
            ProductEvent::Upsert(e) => e.ts,
            ProductEvent::Delete(e) => e.ts,
        }
    }
}

impl OfferEvent {
    /// The offer the event is about.
    pub fn offer_id(&self) -> &str {
        match self {
            OfferEvent::Upsert(e) => &e.offer_id,
            OfferEvent::Delete(e) => &e.offer_id,
        }
    }

    /// The product the event is about.
    pub fn product_id(&self) -> &str {
        match self {
            OfferEvent::Upsert(e) => &e.product_id,
            OfferEvent::Delete(e) => &e.product_id,
        }
    }

    /// The record's version.
    pub fn version(&self) -> u64 {
        match self {
            OfferEvent::Upsert(e) => e.version,
            OfferEvent::Delete(e) => e.version,
        }
    }

    /// The source timestamp, epoch ms.
    pub fn ts(&self) -> u64 {
        match self {
            OfferEvent::Upsert(e) => e.ts,
            OfferEvent::Delete(e) => e.ts,
        }
    }
}

impl Event {
    /// The topic kind the event comes from.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Product(_) => EventKind::Product,
            Event::Offer(_) => EventKind::Offer,
            Event::Price(_) => EventKind::Price,
            Event::Inventory(_) => EventKind::Inventory,
        }
    }

    /// The product the event is about (the partitioning key).
    pub fn product_id(&self) -> &str {
        match self {
            Event::Product(e) => e.product_id(),
            Event::Offer(e) => e.product_id(),
            Event::Price(e) => &e.product_id,
            Event::Inventory(e) => &e.product_id,
        }
    }

    /// The offer this event is about, `None` for product events.
    pub fn offer_id(&self) -> Option<&str> {
        match self {
            Event::Product(_) => None,
            Event::Offer(e) => Some(e.offer_id()),
            Event::Price(e) => Some(&e.offer_id),
            Event::Inventory(e) => Some(&e.offer_id),
        }
    }

    /// The record's version.
    pub fn version(&self) -> u64 {
        match self {
            Event::Product(e) => e.version(),
            Event::Offer(e) => e.version(),
            Event::Price(e) => e.version,
            Event::Inventory(e) => e.version,
        }
    }

    /// The source timestamp, epoch ms.
    pub fn ts(&self) -> u64 {
        match self {
            Event::Product(e) => e.ts(),
            Event::Offer(e) => e.ts(),
            Event::Price(e) => e.ts,
            Event::Inventory(e) => e.ts,
        }
    }

    /// Replaces the source timestamp (the indexer clamps implausible ones).
    pub fn set_ts(&mut self, ts: u64) {
        match self {
            Event::Product(ProductEvent::Upsert(e)) => e.ts = ts,
            Event::Product(ProductEvent::Delete(e)) => e.ts = ts,
            Event::Offer(OfferEvent::Upsert(e)) => e.ts = ts,
            Event::Offer(OfferEvent::Delete(e)) => e.ts = ts,
            Event::Price(e) => e.ts = ts,
            Event::Inventory(e) => e.ts = ts,
        }
    }

    /// The wire form: the JSON a producer publishes for this event.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: every map key is a string and every number is
        // finite by construction.
        serde_json::to_string(self).unwrap_or_default()
    }
}
