//! Decoding and validation of raw Kafka payloads into typed [`Event`]s.
//!
//! Decoding never panics and never trusts the input: the payload is size-checked before it is
//! parsed, parsed into a generic JSON value (serde_json bounds nesting depth), and then every
//! field is checked by hand so that the error names the field and says what is wrong with it
//! ([`InvalidEvent`]). Unknown fields are ignored, so producers can add fields without breaking
//! the indexer.

use std::fmt;

use serde_json::{Map, Value};

use crate::event::{
    AttributeValue, Attributes, Condition, Deleted, Event, EventKind, InventoryEvent, OfferDelete,
    OfferEvent, OfferUpsert, PriceEvent, ProductDelete, ProductEvent, ProductUpsert,
};

/// Largest accepted message payload, in bytes (1 MiB).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Longest accepted id (`product_id`, `offer_id`, `seller_id`), in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// Longest accepted `store_id`, in bytes.
pub const MAX_STORE_ID_BYTES: usize = 64;
/// Deepest accepted category path.
pub const MAX_CATEGORY_DEPTH: usize = 32;
/// Longest accepted category segment, in bytes.
pub const MAX_CATEGORY_SEGMENT_BYTES: usize = 256;
/// Most attributes accepted on one product.
pub const MAX_ATTRIBUTES: usize = 1024;
/// Longest accepted attribute name, in bytes.
pub const MAX_ATTRIBUTE_NAME_BYTES: usize = 256;

/// The JSON type of a value, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool,
    /// Any JSON number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl JsonType {
    /// The type of `value`.
    pub fn of(value: &Value) -> JsonType {
        match value {
            Value::Null => JsonType::Null,
            Value::Bool(_) => JsonType::Bool,
            Value::Number(_) => JsonType::Number,
            Value::String(_) => JsonType::String,
            Value::Array(_) => JsonType::Array,
            Value::Object(_) => JsonType::Object,
        }
    }
}

impl fmt::Display for JsonType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonType::Null => "null",
            JsonType::Bool => "a boolean",
            JsonType::Number => "a number",
            JsonType::String => "a string",
            JsonType::Array => "an array",
            JsonType::Object => "an object",
        })
    }
}

/// What is wrong with one field of an otherwise well-formed JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    /// A required field is absent.
    #[error("is missing")]
    Missing,
    /// The field has another JSON type than the contract says.
    #[error("must be {expected}, found {found}")]
    WrongType {
        /// What the contract says, e.g. "a string".
        expected: &'static str,
        /// What the message has.
        found: JsonType,
    },
    /// A count or amount below zero.
    #[error("must not be negative, found {value}")]
    Negative {
        /// The number as written.
        value: String,
    },
    /// A fraction where a whole number is needed.
    #[error("must be a whole number, found {value}")]
    NotInteger {
        /// The number as written.
        value: String,
    },
    /// A whole number too large for 64 bits.
    #[error("is out of range, found {value}")]
    OutOfRange {
        /// The number as written.
        value: String,
    },
    /// An empty string where a value is needed.
    #[error("must not be empty")]
    Empty,
    /// A string longer than its limit.
    #[error("is {len} bytes long, over the limit of {max}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A list or map with more entries than its limit.
    #[error("has {count} entries, over the limit of {max}")]
    TooMany {
        /// Its entries.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An id or label containing control characters.
    #[error("must not contain control characters")]
    ControlCharacter,
    /// A value outside a closed list (e.g. `condition`).
    #[error("must be one of {allowed}, found {value:?}")]
    UnknownVariant {
        /// The value as written (truncated).
        value: String,
        /// The accepted values, for the message.
        allowed: &'static str,
    },
    /// A string not in the required format (e.g. a currency code).
    #[error("must be {expected}, found {value:?}")]
    BadFormat {
        /// The format, for the message.
        expected: &'static str,
        /// The value as written (truncated).
        value: String,
    },
}

/// Why a message is not a valid event. Every variant says which part is wrong and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEvent {
    /// A Kafka tombstone (null payload).
    #[error("payload is null: events must be JSON objects (deletes are events with `deleted: true`, not tombstones)")]
    NullPayload,
    /// A payload over [`MAX_MESSAGE_BYTES`].
    #[error("payload is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// The payload's size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A payload that is not UTF-8 text.
    #[error("payload is not valid UTF-8 (first invalid byte at offset {offset})")]
    NotUtf8 {
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// Text that does not parse as JSON.
    #[error("payload is not valid JSON: {detail}")]
    NotJson {
        /// The parser's message.
        detail: String,
    },
    /// JSON that is not an object.
    #[error("payload must be a JSON object, found {found}")]
    NotObject {
        /// What it is instead.
        found: JsonType,
    },
    /// One field is wrong.
    #[error("field `{field}` {problem}")]
    Field {
        /// The field's name (a path for nested fields, e.g. `attributes.color`).
        field: String,
        /// What is wrong with it.
        problem: FieldProblem,
    },
    /// Processing the event crashed the ingestion pipeline again and again (a bug, not a
    /// producer's mistake): it is set aside so that the rest of the catalog keeps flowing.
    #[error("processing this event crashed the ingestion pipeline {crashes} times (panic: {panic}); set aside so that the rest of the catalog keeps flowing")]
    CrashedPipeline {
        /// Crashes at this event before it was set aside.
        crashes: u32,
        /// The panic's message and location.
        panic: String,
    },
}

impl InvalidEvent {
    fn field(field: impl Into<String>, problem: FieldProblem) -> InvalidEvent {
        InvalidEvent::Field {
            field: field.into(),
            problem,
        }
    }

    /// A stable, machine-readable code for the error (used in dead-letter headers and metrics).
    pub fn code(&self) -> &'static str {
        match self {
            InvalidEvent::NullPayload => "null_payload",
            InvalidEvent::TooLarge { .. } => "too_large",
            InvalidEvent::NotUtf8 { .. } => "not_utf8",
            InvalidEvent::NotJson { .. } => "not_json",
            InvalidEvent::NotObject { .. } => "not_object",
            InvalidEvent::CrashedPipeline { .. } => "crashed_pipeline",
            InvalidEvent::Field { problem, .. } => match problem {
                FieldProblem::Missing => "missing_field",
                FieldProblem::WrongType { .. } => "wrong_type",
                FieldProblem::Negative { .. } => "negative_number",
                FieldProblem::NotInteger { .. } => "not_integer",
                FieldProblem::OutOfRange { .. } => "out_of_range",
                FieldProblem::Empty => "empty_value",
                FieldProblem::TooLong { .. } => "too_long",
                FieldProblem::TooMany { .. } => "too_many_entries",
                FieldProblem::ControlCharacter => "control_character",
                FieldProblem::UnknownVariant { .. } => "unknown_variant",
                FieldProblem::BadFormat { .. } => "bad_format",
            },
        }
    }

    /// The offending field, when the error is about one field.
    pub fn field_name(&self) -> Option<&str> {
        match self {
            InvalidEvent::Field { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Decodes one message payload of the topic of `kind`. `None` is a null payload (a Kafka
/// tombstone), which is not a valid event.
pub fn decode(kind: EventKind, payload: Option<&[u8]>) -> Result<Event, InvalidEvent> {
    let object = parse_object(payload)?;
    let fields = Fields(&object);
    Ok(match kind {
        EventKind::Product => Event::Product(decode_product(&fields)?),
        EventKind::Offer => Event::Offer(decode_offer(&fields)?),
        EventKind::Price => Event::Price(decode_price(&fields)?),
        EventKind::Inventory => Event::Inventory(decode_inventory(&fields)?),
    })
}

fn parse_object(payload: Option<&[u8]>) -> Result<Map<String, Value>, InvalidEvent> {
    let bytes = payload.ok_or(InvalidEvent::NullPayload)?;
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(InvalidEvent::TooLarge {
            size: bytes.len(),
            limit: MAX_MESSAGE_BYTES,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| InvalidEvent::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let value: Value = serde_json::from_str(text).map_err(|e| InvalidEvent::NotJson {
        detail: e.to_string(),
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(InvalidEvent::NotObject {
            found: JsonType::of(&other),
        }),
    }
}

fn decode_product(f: &Fields<'_>) -> Result<ProductEvent, InvalidEvent> {
    let product_id = f.id("product_id")?;
    let version = f.u64("version")?;
    let ts = f.u64("ts")?;
    if f.deleted()? {
        return Ok(ProductEvent::Delete(ProductDelete {
            product_id,
            version,
            ts,
            deleted: Deleted,
        }));
    }
    Ok(ProductEvent::Upsert(ProductUpsert {
        product_id,
        version,
        ts,
        title: f.string("title")?,
        description: f.opt_string("description")?.unwrap_or_default(),
        brand: f.opt_string("brand")?.unwrap_or_default(),
        category: f.category("category")?,
        attributes: f.attributes("attributes")?,
    }))
}

fn decode_offer(f: &Fields<'_>) -> Result<OfferEvent, InvalidEvent> {
    let offer_id = f.id("offer_id")?;
    let product_id = f.id("product_id")?;
    let version = f.u64("version")?;
    let ts = f.u64("ts")?;
    if f.deleted()? {
        return Ok(OfferEvent::Delete(OfferDelete {
            offer_id,
            product_id,
            version,
            ts,
            deleted: Deleted,
        }));
    }
    Ok(OfferEvent::Upsert(OfferUpsert {
        offer_id,
        product_id,
        version,
        ts,
        seller_id: f.id("seller_id")?,
        seller_name: f.opt_string("seller_name")?.unwrap_or_default(),
        condition: f.condition("condition")?,
    }))
}

fn decode_price(f: &Fields<'_>) -> Result<PriceEvent, InvalidEvent> {
    Ok(PriceEvent {
        offer_id: f.id("offer_id")?,
        product_id: f.id("product_id")?,
        version: f.u64("version")?,
        ts: f.u64("ts")?,
        price_cents: f.u64("price_cents")?,
        currency: f.currency("currency")?,
        list_price_cents: f.opt_u64("list_price_cents")?,
    })
}

fn decode_inventory(f: &Fields<'_>) -> Result<InventoryEvent, InvalidEvent> {
    Ok(InventoryEvent {
        offer_id: f.id("offer_id")?,
        product_id: f.id("product_id")?,
        version: f.u64("version")?,
        ts: f.u64("ts")?,
        quantity: f.u64("quantity")?,
        store_id: f.opt_id("store_id", MAX_STORE_ID_BYTES)?,
    })
}

/// Typed accessors over a JSON object that report errors by field name.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn required(&self, name: &str) -> Result<&Value, InvalidEvent> {
        match self.0.get(name) {
            None => Err(InvalidEvent::field(name, FieldProblem::Missing)),
            Some(v) => Ok(v),
        }
    }

    /// An optional field: absent and `null` both mean "not given".
    fn optional(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn u64(&self, name: &str) -> Result<u64, InvalidEvent> {
        unsigned(name, self.required(name)?)
    }

    fn opt_u64(&self, name: &str) -> Result<Option<u64>, InvalidEvent> {
        self.optional(name).map(|v| unsigned(name, v)).transpose()
    }

    fn string(&self, name: &str) -> Result<String, InvalidEvent> {
        string(name, self.required(name)?)
    }

    fn opt_string(&self, name: &str) -> Result<Option<String>, InvalidEvent> {
        self.optional(name).map(|v| string(name, v)).transpose()
    }

    fn id(&self, name: &str) -> Result<String, InvalidEvent> {
        let id = self.string(name)?;
        check_label(name, &id, MAX_ID_BYTES)?;
        Ok(id)
    }

    /// An optional id of at most `max` bytes (same rules as the other ids).
    fn opt_id(&self, name: &str, max: usize) -> Result<Option<String>, InvalidEvent> {
        let Some(id) = self.opt_string(name)? else {
            return Ok(None);
        };
        check_label(name, &id, max)?;
        Ok(Some(id))
    }

    fn deleted(&self) -> Result<bool, InvalidEvent> {
        match self.optional("deleted") {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(wrong_type("deleted", "a boolean", other)),
        }
    }

    fn condition(&self, name: &str) -> Result<Condition, InvalidEvent> {
        let value = self.string(name)?;
        Condition::parse(&value).ok_or_else(|| {
            InvalidEvent::field(
                name,
                FieldProblem::UnknownVariant {
                    value: truncate_for_message(&value),
                    allowed: "\"new\", \"refurbished\", \"used\"",
                },
            )
        })
    }

    fn currency(&self, name: &str) -> Result<String, InvalidEvent> {
        let value = self.string(name)?;
        if value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(value)
        } else {
            Err(InvalidEvent::field(
                name,
                FieldProblem::BadFormat {
                    expected: "a three-letter upper-case ISO 4217 code such as \"USD\"",
                    value: truncate_for_message(&value),
                },
            ))
        }
    }

    fn category(&self, name: &str) -> Result<Vec<String>, InvalidEvent> {
        let Some(value) = self.optional(name) else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = value else {
            return Err(wrong_type(name, "an array of strings", value));
        };
        if items.len() > MAX_CATEGORY_DEPTH {
            return Err(InvalidEvent::field(
                name,
                FieldProblem::TooMany {
                    count: items.len(),
                    max: MAX_CATEGORY_DEPTH,
                },
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("{name}[{i}]");
                let segment = string(&path, item)?;
                check_label(&path, &segment, MAX_CATEGORY_SEGMENT_BYTES)?;
                Ok(segment)
            })
            .collect()
    }

    fn attributes(&self, name: &str) -> Result<Attributes, InvalidEvent> {
        let Some(value) = self.optional(name) else {
            return Ok(Attributes::new());
        };
        let Value::Object(map) = value else {
            return Err(wrong_type(name, "an object", value));
        };
        if map.len() > MAX_ATTRIBUTES {
            return Err(InvalidEvent::field(
                name,
                FieldProblem::TooMany {
                    count: map.len(),
                    max: MAX_ATTRIBUTES,
                },
            ));
        }
        let mut attributes = Attributes::new();
        for (key, value) in map {
            let path = format!("{name}.{key}");
            check_label(&path, key, MAX_ATTRIBUTE_NAME_BYTES)?;
            let value = match value {
                Value::String(s) => AttributeValue::String(s.clone()),
                Value::Number(n) => AttributeValue::Number(n.clone()),
                Value::Bool(b) => AttributeValue::Bool(*b),
                other => return Err(wrong_type(&path, "a string, a number or a boolean", other)),
            };
            attributes.insert(key.clone(), value);
        }
        Ok(attributes)
    }
}

fn wrong_type(name: &str, expected: &'static str, found: &Value) -> InvalidEvent {
    InvalidEvent::field(
        name,
        FieldProblem::WrongType {
            expected,
            found: JsonType::of(found),
        },
    )
}

fn string(name: &str, value: &Value) -> Result<String, InvalidEvent> {
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err(wrong_type(name, "a string", other)),
    }
}

fn unsigned(name: &str, value: &Value) -> Result<u64, InvalidEvent> {
    let Value::Number(n) = value else {
        return Err(wrong_type(name, "an unsigned integer", value));
    };
    if let Some(u) = n.as_u64() {
        return Ok(u);
    }
    let shown = n.to_string();
    let problem = if n.as_i64().is_some() {
        FieldProblem::Negative { value: shown }
    } else {
        // A float: negative, fractional, or too large for 64 bits.
        match n.as_f64() {
            Some(f) if f < 0.0 => FieldProblem::Negative { value: shown },
            Some(f) if f.fract() != 0.0 => FieldProblem::NotInteger { value: shown },
            Some(f) if f < 18_446_744_073_709_551_616.0 => {
                FieldProblem::NotInteger { value: shown }
            }
            _ => FieldProblem::OutOfRange { value: shown },
        }
    };
    Err(InvalidEvent::field(name, problem))
}

/// Ids, category segments and attribute names: non-empty, bounded, no control characters.
fn check_label(name: &str, value: &str, max: usize) -> Result<(), InvalidEvent> {
    if value.is_empty() {
        return Err(InvalidEvent::field(name, FieldProblem::Empty));
    }
    if value.len() > max {
        return Err(InvalidEvent::field(
            name,
            FieldProblem::TooLong {
                len: value.len(),
                max,
            },
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidEvent::field(name, FieldProblem::ControlCharacter));
    }
    Ok(())
}

/// Keeps error messages short when the offending value is huge.
fn truncate_for_message(value: &str) -> String {
    const MAX: usize = 64;
    if value.len() <= MAX {
        return value.to_owned();
    }
    let mut end = MAX;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &value[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode_json(kind: EventKind, value: Value) -> Result<Event, InvalidEvent> {
        decode(kind, Some(value.to_string().as_bytes()))
    }

    fn product() -> Value {
        json!({
            "product_id": "p1", "version": 3, "ts": 1_700_000_000_000u64,
            "title": "Samsung 55\" QLED TV", "description": "A television.", "brand": "Samsung",
            "category": ["Electronics", "TVs"],
            "attributes": {"screen_size_in": 55, "color": "black", "smart": true}
        })
    }

    fn price() -> Value {
        json!({"offer_id": "o1", "product_id": "p1", "version": 1, "ts": 5, "price_cents": 49_999, "currency": "USD"})
    }

    fn field_error(kind: EventKind, value: Value) -> (String, FieldProblem) {
        match decode_json(kind, value) {
            Err(InvalidEvent::Field { field, problem }) => (field, problem),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn decodes_a_full_product() {
        let Event::Product(ProductEvent::Upsert(p)) =
            decode_json(EventKind::Product, product()).unwrap()
        else {
            panic!("not a product upsert")
        };
        assert_eq!(p.product_id, "p1");
        assert_eq!(p.version, 3);
        assert_eq!(p.category, vec!["Electronics", "TVs"]);
        assert_eq!(p.attributes["smart"], AttributeValue::Bool(true));
        assert_eq!(p.attributes["screen_size_in"].as_text(), "55");
    }

    #[test]
    fn optional_text_fields_default_to_empty() {
        let e = decode_json(
            EventKind::Product,
            json!({"product_id": "p", "version": 0, "ts": 0, "title": "", "brand": null}),
        )
        .unwrap();
        let Event::Product(ProductEvent::Upsert(p)) = e else {
            panic!("not an upsert")
        };
        assert_eq!(p.brand, "");
        assert!(p.category.is_empty() && p.attributes.is_empty());
    }

    #[test]
    fn deleted_true_is_a_delete_and_ignores_other_fields() {
        let e = decode_json(
            EventKind::Product,
            json!({"product_id": "p", "version": 9, "ts": 1, "deleted": true}),
        )
        .unwrap();
        assert!(matches!(e, Event::Product(ProductEvent::Delete(ref d)) if d.version == 9));
        let e = decode_json(
            EventKind::Offer,
            json!({"offer_id": "o", "product_id": "p", "version": 2, "ts": 1, "deleted": true}),
        )
        .unwrap();
        assert!(matches!(e, Event::Offer(OfferEvent::Delete(_))));
    }

    #[test]
    fn deleted_false_is_an_upsert() {
        let mut p = product();
        p["deleted"] = json!(false);
        assert!(matches!(
            decode_json(EventKind::Product, p),
            Ok(Event::Product(ProductEvent::Upsert(_)))
        ));
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let mut p = price();
        p["warehouse"] = json!({"nested": [1, 2, 3]});
        assert!(decode_json(EventKind::Price, p).is_ok());
    }

    #[test]
    fn null_payload_is_invalid() {
        assert_eq!(
            decode(EventKind::Product, None),
            Err(InvalidEvent::NullPayload)
        );
    }

    #[test]
    fn oversized_payload_is_invalid_before_parsing() {
        let big = vec![b' '; MAX_MESSAGE_BYTES + 1];
        assert_eq!(
            decode(EventKind::Price, Some(&big)),
            Err(InvalidEvent::TooLarge {
                size: MAX_MESSAGE_BYTES + 1,
                limit: MAX_MESSAGE_BYTES
            })
        );
    }

    #[test]
    fn invalid_utf8_is_invalid() {
        let err = decode(EventKind::Price, Some(b"{\"a\": \"\xff\"}")).unwrap_err();
        assert_eq!(err, InvalidEvent::NotUtf8 { offset: 7 });
        assert_eq!(err.code(), "not_utf8");
    }

    #[test]
    fn invalid_json_is_invalid() {
        let err = decode(EventKind::Product, Some(b"{\"product_id\": ")).unwrap_err();
        assert!(matches!(err, InvalidEvent::NotJson { .. }), "{err:?}");
        assert!(err.to_string().starts_with("payload is not valid JSON"));
    }

    #[test]
    fn deeply_nested_json_is_rejected_without_overflowing_the_stack() {
        let deep = "[".repeat(100_000);
        let err = decode(EventKind::Product, Some(deep.as_bytes())).unwrap_err();
        assert!(matches!(err, InvalidEvent::NotJson { .. }), "{err:?}");
    }

    #[test]
    fn non_object_json_is_invalid() {
        for (payload, found) in [
            ("[1]", JsonType::Array),
            ("\"x\"", JsonType::String),
            ("42", JsonType::Number),
            ("null", JsonType::Null),
            ("true", JsonType::Bool),
        ] {
            assert_eq!(
                decode(EventKind::Inventory, Some(payload.as_bytes())),
                Err(InvalidEvent::NotObject { found })
            );
        }
    }

    #[test]
    fn missing_required_fields_are_named() {
        for (kind, base, field) in [
            (EventKind::Product, product(), "product_id"),
            (EventKind::Product, product(), "version"),
            (EventKind::Product, product(), "ts"),
            (EventKind::Product, product(), "title"),
            (EventKind::Price, price(), "offer_id"),
            (EventKind::Price, price(), "price_cents"),
            (EventKind::Price, price(), "currency"),
        ] {
            let mut v = base;
            v.as_object_mut().unwrap().remove(field);
            assert_eq!(
                field_error(kind, v),
                (field.to_owned(), FieldProblem::Missing)
            );
        }
        let offer =
            json!({"offer_id": "o", "product_id": "p", "version": 1, "ts": 1, "seller_id": "s"});
        assert_eq!(
            field_error(EventKind::Offer, offer),
            ("condition".to_owned(), FieldProblem::Missing)
        );
        let inventory = json!({"offer_id": "o", "product_id": "p", "version": 1, "ts": 1});
        assert_eq!(
            field_error(EventKind::Inventory, inventory),
            ("quantity".to_owned(), FieldProblem::Missing)
        );
    }

    #[test]
    fn null_required_field_is_a_wrong_type() {
        let mut v = price();
        v["version"] = Value::Null;
        assert_eq!(
            field_error(EventKind::Price, v),
            (
                "version".to_owned(),
                FieldProblem::WrongType {
                    expected: "an unsigned integer",
                    found: JsonType::Null
                }
            )
        );
    }

    #[test]
    fn mistyped_fields_are_named() {
        let mut v = price();
        v["price_cents"] = json!("12.99");
        let (field, problem) = field_error(EventKind::Price, v);
        assert_eq!(field, "price_cents");
        assert_eq!(
            problem.to_string(),
            "must be an unsigned integer, found a string"
        );

        let mut v = product();
        v["title"] = json!(12);
        assert_eq!(field_error(EventKind::Product, v).0, "title");

        let mut v = product();
        v["category"] = json!("Electronics>TVs");
        assert_eq!(field_error(EventKind::Product, v).0, "category");

        let mut v = product();
        v["category"] = json!(["Electronics", 7]);
        assert_eq!(field_error(EventKind::Product, v).0, "category[1]");

        let mut v = product();
        v["attributes"] = json!({"color": ["red"]});
        let (field, problem) = field_error(EventKind::Product, v);
        assert_eq!(field, "attributes.color");
        assert!(matches!(
            problem,
            FieldProblem::WrongType {
                found: JsonType::Array,
                ..
            }
        ));

        let mut v = product();
        v["attributes"] = json!({"color": null});
        assert_eq!(field_error(EventKind::Product, v).0, "attributes.color");

        let mut v = product();
        v["deleted"] = json!("yes");
        assert_eq!(field_error(EventKind::Product, v).0, "deleted");
    }

    #[test]
    fn negative_fractional_and_huge_numbers_are_rejected() {
        let cases = [
            (json!(-1), "negative_number"),
            (json!(-1.5), "negative_number"),
            (json!(1.5), "not_integer"),
            (json!(1e300), "out_of_range"),
        ];
        for (value, code) in cases {
            let mut v = json!({"offer_id": "o", "product_id": "p", "version": 1, "ts": 1});
            v["quantity"] = value;
            let err = decode_json(EventKind::Inventory, v).unwrap_err();
            assert_eq!(err.code(), code, "{err}");
            assert_eq!(err.field_name(), Some("quantity"));
        }
        let err = decode(
            EventKind::Inventory,
            Some(br#"{"offer_id":"o","product_id":"p","version":18446744073709551616,"ts":1,"quantity":1}"#),
        )
        .unwrap_err();
        assert_eq!(err.code(), "out_of_range");
    }

    #[test]
    fn list_price_is_optional_but_checked() {
        let mut v = price();
        v["list_price_cents"] = Value::Null;
        assert!(decode_json(EventKind::Price, v.clone()).is_ok());
        v["list_price_cents"] = json!(-3);
        assert_eq!(field_error(EventKind::Price, v).0, "list_price_cents");
    }

    #[test]
    fn unknown_condition_is_rejected_with_the_allowed_values() {
        let v = json!({"offer_id": "o", "product_id": "p", "version": 1, "ts": 1, "seller_id": "s", "condition": "broken"});
        let err = decode_json(EventKind::Offer, v).unwrap_err();
        assert_eq!(err.code(), "unknown_variant");
        assert_eq!(
            err.to_string(),
            "field `condition` must be one of \"new\", \"refurbished\", \"used\", found \"broken\""
        );
    }

    #[test]
    fn bad_currency_is_rejected() {
        for bad in ["usd", "US", "USDX", "", "U$D"] {
            let mut v = price();
            v["currency"] = json!(bad);
            let err = decode_json(EventKind::Price, v).unwrap_err();
            assert_eq!(err.code(), "bad_format", "{bad}");
        }
    }

    #[test]
    fn empty_long_and_control_ids_are_rejected() {
        let cases = [
            (json!(""), "empty_value"),
            (json!("x".repeat(MAX_ID_BYTES + 1)), "too_long"),
            (json!("a\nb"), "control_character"),
        ];
        for (id, code) in cases {
            let mut v = price();
            v["product_id"] = id;
            let err = decode_json(EventKind::Price, v).unwrap_err();
            assert_eq!((err.code(), err.field_name()), (code, Some("product_id")));
        }
        let mut v = price();
        v["offer_id"] = json!("x".repeat(MAX_ID_BYTES));
        assert!(
            decode_json(EventKind::Price, v).is_ok(),
            "the limit itself is allowed"
        );
    }

    #[test]
    fn a_store_id_sets_a_store_quantity_and_follows_the_id_rules() {
        let base =
            json!({"offer_id": "o", "product_id": "p", "version": 1, "ts": 1, "quantity": 3});
        let Ok(Event::Inventory(online)) = decode_json(EventKind::Inventory, base.clone()) else {
            panic!("an inventory event without store_id decodes");
        };
        assert_eq!(online.store_id, None);
        let mut v = base.clone();
        v["store_id"] = json!(null);
        assert!(
            matches!(decode_json(EventKind::Inventory, v), Ok(Event::Inventory(i)) if i.store_id.is_none()),
            "null is not given"
        );
        let mut v = base.clone();
        v["store_id"] = json!("x".repeat(MAX_STORE_ID_BYTES));
        assert!(
            matches!(decode_json(EventKind::Inventory, v), Ok(Event::Inventory(i)) if i.store_id.as_deref().map(str::len) == Some(MAX_STORE_ID_BYTES)),
            "the limit itself is allowed"
        );
        let cases = [
            (json!(""), "empty_value"),
            (json!("x".repeat(MAX_STORE_ID_BYTES + 1)), "too_long"),
            (json!("a\tb"), "control_character"),
            (json!(17), "wrong_type"),
        ];
        for (id, code) in cases {
            let mut v = base.clone();
            v["store_id"] = id;
            let err = decode_json(EventKind::Inventory, v).unwrap_err();
            assert_eq!((err.code(), err.field_name()), (code, Some("store_id")));
        }
    }

    #[test]
    fn category_and_attribute_limits() {
        let mut v = product();
        v["category"] = json!(["a", ""]);
        assert_eq!(
            field_error(EventKind::Product, v),
            ("category[1]".to_owned(), FieldProblem::Empty)
        );

        let mut v = product();
        v["category"] = json!(vec!["c"; MAX_CATEGORY_DEPTH + 1]);
        assert!(matches!(
            field_error(EventKind::Product, v).1,
            FieldProblem::TooMany { .. }
        ));

        let mut v = product();
        let many: Map<String, Value> = (0..=MAX_ATTRIBUTES)
            .map(|i| (format!("k{i}"), json!(i)))
            .collect();
        v["attributes"] = Value::Object(many);
        assert!(matches!(
            field_error(EventKind::Product, v).1,
            FieldProblem::TooMany { .. }
        ));

        let mut v = product();
        v["attributes"] = json!({"": 1});
        assert_eq!(
            field_error(EventKind::Product, v),
            ("attributes.".to_owned(), FieldProblem::Empty)
        );
    }

    #[test]
    fn every_error_has_a_distinct_code_and_a_message() {
        let errors = [
            InvalidEvent::NullPayload,
            InvalidEvent::TooLarge { size: 2, limit: 1 },
            InvalidEvent::NotUtf8 { offset: 0 },
            InvalidEvent::NotJson { detail: "x".into() },
            InvalidEvent::NotObject {
                found: JsonType::Array,
            },
        ];
        let mut codes: Vec<_> = errors.iter().map(InvalidEvent::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
        assert!(errors.iter().all(|e| !e.to_string().is_empty()));
    }

    #[test]
    fn truncates_long_values_on_char_boundaries() {
        let s = "é".repeat(100);
        let t = truncate_for_message(&s);
        assert!(t.ends_with("...") && t.len() <= 67);
    }

    #[test]
    fn encoded_events_decode_to_themselves() {
        for (kind, v) in [(EventKind::Product, product()), (EventKind::Price, price())] {
            let event = decode_json(kind, v).unwrap();
            let again = decode(kind, Some(event.to_json().as_bytes())).unwrap();
            assert_eq!(event, again);
        }
    }

    mod never_panics {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                for kind in EventKind::ALL {
                    let _ = decode(kind, Some(&bytes));
                }
            }

            #[test]
            fn on_arbitrary_json_objects(
                entries in proptest::collection::btree_map(
                    prop_oneof![Just("product_id".to_owned()), Just("offer_id".to_owned()),
                        Just("version".to_owned()), Just("ts".to_owned()), Just("title".to_owned()),
                        Just("category".to_owned()), Just("attributes".to_owned()),
                        Just("price_cents".to_owned()), Just("currency".to_owned()),
                        Just("quantity".to_owned()), Just("condition".to_owned()),
                        Just("seller_id".to_owned()), Just("deleted".to_owned()), "[a-z]{1,8}"],
                    arb_json(), 0..12)
            ) {
                let payload = Value::Object(entries.into_iter().collect()).to_string();
                for kind in EventKind::ALL {
                    if let Err(e) = decode(kind, Some(payload.as_bytes())) {
                        prop_assert!(!e.to_string().is_empty());
                    }
                }
            }
        }

        fn arb_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(Value::from),
                ".{0,12}".prop_map(Value::String),
            ];
            leaf.prop_recursive(3, 16, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    proptest::collection::btree_map("[a-z]{0,4}", inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }
    }
}
