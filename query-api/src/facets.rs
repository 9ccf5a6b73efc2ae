//! Facet counts over the filtered result set, with Tantivy's aggregations.
//!
//! | facet | counts | order |
//! |---|---|---|
//! | `brand` | per brand (normalized: lower-cased, ASCII-folded) | count, top 20 |
//! | `category` | per category path prefix (`Electronics`, `Electronics>TVs`, ...) | count, top 50 |
//! | `price` | fixed buckets of the lowest in-stock price, see [`PRICE_BUCKETS`] | price |
//! | `seller_id` | per seller (a product counts once per seller with a shown offer) | count, top 20 |
//! | `attr.NAME` | per value of attribute NAME (normalized) | count, top 20 |

use serde::Serialize;
use serde_json::{json, Map, Value};
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::agg_result::AggregationResults;

use crate::error::ApiError;
use crate::params::Facet;

/// Price buckets in cents: `[from, to)`; the last one is open.
pub const PRICE_BUCKETS: [(u64, Option<u64>); 7] = [
    (0, Some(2_500)),
    (2_500, Some(5_000)),
    (5_000, Some(10_000)),
    (10_000, Some(25_000)),
    (25_000, Some(50_000)),
    (50_000, Some(100_000)),
    (100_000, None),
];

const TERMS_SIZE: u32 = 20;
const CATEGORY_SIZE: u32 = 50;

/// One value of a facet with its count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FacetValue {
    pub value: String,
    pub count: u64,
    /// Price buckets only: the bucket's bounds in cents (`to` excluded, `null` when open).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Option<u64>>,
}

fn agg_name(i: usize) -> String {
    format!("f{i}")
}

/// The aggregation request of the facets.
pub fn request(facets: &[Facet]) -> Result<Aggregations, ApiError> {
    let mut aggs = Map::new();
    for (i, facet) in facets.iter().enumerate() {
        let terms = |field: &str, size: u32| json!({ "terms": { "field": field, "size": size } });
        let agg = match facet {
            Facet::Brand => terms("brand_key", TERMS_SIZE),
            Facet::Category => terms("category_prefix", CATEGORY_SIZE),
            Facet::SellerId => terms("seller_id", TERMS_SIZE),
            Facet::Attr(name) => terms(&format!("attr.{name}"), TERMS_SIZE),
            Facet::Price => {
                let ranges: Vec<Value> = PRICE_BUCKETS
                    .iter()
                    .map(|(from, to)| match to {
                        Some(to) => json!({ "key": bucket_key(*from, Some(*to)), "from": *from as f64, "to": *to as f64 }),
                        None => json!({ "key": bucket_key(*from, None), "from": *from as f64 }),
                    })
                    .collect();
                json!({ "range": { "field": "price_cents", "ranges": ranges } })
            }
        };
        aggs.insert(agg_name(i), agg);
    }
    serde_json::from_value(Value::Object(aggs))
        .map_err(|e| ApiError::internal(format!("facet request: {e}")))
}

fn bucket_key(from: u64, to: Option<u64>) -> String {
    match to {
        Some(to) => format!("{from}-{to}"),
        None => format!("{from}+"),
    }
}

/// The facets of the response, in request order.
pub fn response(
    facets: &[Facet],
    results: AggregationResults,
) -> Result<Vec<(String, Vec<FacetValue>)>, ApiError> {
    let value = serde_json::to_value(results)
        .map_err(|e| ApiError::internal(format!("facet results: {e}")))?;
    let mut out = Vec::new();
    for (i, facet) in facets.iter().enumerate() {
        let buckets = value
            .get(agg_name(i))
            .and_then(|a| a.get("buckets"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let values = match facet {
            Facet::Price => PRICE_BUCKETS
                .iter()
                .map(|(from, to)| {
                    let key = bucket_key(*from, *to);
                    let count = buckets
                        .iter()
                        .find(|b| b.get("key").and_then(Value::as_str) == Some(key.as_str()))
                        .and_then(|b| b.get("doc_count"))
                        .and_then(Value::as_u64)
                        .unwrap_or(0);
                    FacetValue {
                        value: key,
                        count,
                        from: Some(*from),
                        to: Some(*to),
                    }
                })
                .collect(),
            _ => {
                let mut values: Vec<FacetValue> = buckets
                    .iter()
                    .filter_map(|b| {
                        let key = match b.get("key")? {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        Some(FacetValue {
                            value: key,
                            count: b.get("doc_count")?.as_u64()?,
                            from: None,
                            to: None,
                        })
                    })
                    .filter(|v| v.count > 0)
                    .collect();
                // Top values first; ties in value order, for stable output.
                values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
                values
            }
        };
        out.push((facet.key(), values));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_facet_builds_a_valid_request() {
        let facets = [
            Facet::Brand,
            Facet::Category,
            Facet::Price,
            Facet::SellerId,
            Facet::Attr("color".into()),
        ];
        assert!(request(&facets).is_ok());
    }

    #[test]
    fn price_buckets_are_contiguous_and_documented() {
        for pair in PRICE_BUCKETS.windows(2) {
            assert_eq!(pair[0].1, Some(pair[1].0));
        }
        assert_eq!(bucket_key(0, Some(2500)), "0-2500");
        assert_eq!(bucket_key(100_000, None), "100000+");
    }
}
