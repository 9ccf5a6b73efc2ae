//! Typed catalog events: what source teams publish, one JSON object per Kafka message.
//!
//! The topic decides the event type ([`EventKind`]); the JSON object's fields are the event.
//! These types serialize to exactly the wire format (they are what the generator and the tests
//! produce), and the JSON Schema files under `schemas/json/` are generated from them. Decoding
//! goes through [`crate::decode`], which validates every field and names the one that is wrong.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize, Serializer};

/// The four event streams. Each has its own topic; the topic decides how a message is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Product,
    Offer,
    Price,
    Inventory,
}

impl EventKind {
    pub const ALL: [EventKind; 4] = [
        EventKind::Product,
        EventKind::Offer,
        EventKind::Price,
        EventKind::Inventory,
    ];

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
    Bool(bool),
    Number(serde_json::Number),
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
pub enum Condition {
    New,
    Refurbished,
    Used,
}

impl Condition {
    pub const ALL: [Condition; 3] = [Condition::New, Condition::Refurbished, Condition::Used];

    pub fn as_str(self) -> &'static str {
        match self {
            Condition::New => "new",
            Condition::Refurbished => "refurbished",
            Condition::Used => "used",
        }
    }

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
    #[schemars(length(min = 1, max = 256))]
    pub product_id: String,
    /// Increases with every change of this record at the source.
    pub version: u64,
    /// When the change happened at the source, epoch milliseconds.
    pub ts: u64,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub brand: String,
    /// Category path from the root to the leaf, e.g. `["Electronics", "TVs"]`.
    #[serde(default)]
    #[schemars(length(max = 32), inner(length(min = 1, max = 256)))]
    pub category: Vec<String>,
    #[serde(default)]
    pub attributes: Attributes,
}

/// A product deleted at the source.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ProductDelete {
    #[schemars(length(min = 1, max = 256))]
    pub product_id: String,
    pub version: u64,
    pub ts: u64,
    pub deleted: Deleted,
}

/// An event of the products topic.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ProductEvent {
    Upsert(ProductUpsert),
    Delete(ProductDelete),
}

/// A seller's offer created or changed.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(transform = allow_deleted_false)]
pub struct OfferUpsert {
    #[schemars(length(min = 1, max = 256))]
    pub offer_id: String,
    #[schemars(length(min = 1, max = 256))]
    pub product_id: String,
    pub version: u64,
    pub ts: u64,
    #[schemars(length(min = 1, max = 256))]
    pub seller_id: String,
    #[serde(default)]
    pub seller_name: String,
    pub condition: Condition,
}

/// A seller's offer withdrawn.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct OfferDelete {
    #[schemars(length(min = 1, max = 256))]
    pub offer_id: String,
    #[schemars(length(min = 1, max = 256))]
    pub product_id: String,
    pub version: u64,
    pub ts: u64,
    pub deleted: Deleted,
}

/// An event of the offers topic.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum OfferEvent {
    Upsert(OfferUpsert),
    Delete(OfferDelete),
}

/// The price of an offer (there is no price delete: withdraw the offer instead).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PriceEvent {
    #[schemars(length(min = 1, max = 256))]
    pub offer_id: String,
    #[schemars(length(min = 1, max = 256))]
    pub product_id: String,
    pub version: u64,
    pub ts: u64,
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
    #[schemars(length(min = 1, max = 256))]
    pub offer_id: String,
    #[schemars(length(min = 1, max = 256))]
    pub product_id: String,
    pub version: u64,
    pub ts: u64,
    pub quantity: u64,
}

/// Any decoded event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Event {
    Product(ProductEvent),
    Offer(OfferEvent),
    Price(PriceEvent),
    Inventory(InventoryEvent),
}

impl ProductEvent {
    pub fn product_id(&self) -> &str {
        match self {
            ProductEvent::Upsert(e) => &e.product_id,
            ProductEvent::Delete(e) => &e.product_id,
        }
    }

    pub fn version(&self) -> u64 {
        match self {
            ProductEvent::Upsert(e) => e.version,
            ProductEvent::Delete(e) => e.version,
        }
    }

    pub fn ts(&self) -> u64 {
        match self {
            ProductEvent::Upsert(e) => e.ts,
            ProductEvent::Delete(e) => e.ts,
        }
    }
}

impl OfferEvent {
    pub fn offer_id(&self) -> &str {
        match self {
            OfferEvent::Upsert(e) => &e.offer_id,
            OfferEvent::Delete(e) => &e.offer_id,
        }
    }

    pub fn product_id(&self) -> &str {
        match self {
            OfferEvent::Upsert(e) => &e.product_id,
            OfferEvent::Delete(e) => &e.product_id,
        }
    }

    pub fn version(&self) -> u64 {
        match self {
            OfferEvent::Upsert(e) => e.version,
            OfferEvent::Delete(e) => e.version,
        }
    }

    pub fn ts(&self) -> u64 {
        match self {
            OfferEvent::Upsert(e) => e.ts,
            OfferEvent::Delete(e) => e.ts,
        }
    }
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Product(_) => EventKind::Product,
            Event::Offer(_) => EventKind::Offer,
            Event::Price(_) => EventKind::Price,
            Event::Inventory(_) => EventKind::Inventory,
        }
    }

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

    pub fn version(&self) -> u64 {
        match self {
            Event::Product(e) => e.version(),
            Event::Offer(e) => e.version(),
            Event::Price(e) => e.version,
            Event::Inventory(e) => e.version,
        }
    }

    pub fn ts(&self) -> u64 {
        match self {
            Event::Product(e) => e.ts(),
            Event::Offer(e) => e.ts(),
            Event::Price(e) => e.ts,
            Event::Inventory(e) => e.ts,
        }
    }

    /// The wire form: the JSON a producer publishes for this event.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: every map key is a string and every number is
        // finite by construction.
        serde_json::to_string(self).unwrap_or_default()
    }
}
