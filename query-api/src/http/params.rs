//! Parsing and validating the query string of `GET /search`, `GET /products/{id}` and
//! `GET /suggest` into the search's request types ([`SearchParams`], [`ProductParams`],
//! [`SuggestParams`]).
//!
//! The query string is decoded by hand (not through serde) so that every problem gets a
//! precise message: an unknown parameter, a repeated one that may not repeat, a value of the
//! wrong type or out of range. Every limit here bounds the work one request can cause.

use std::collections::BTreeMap;

use super::error::ApiError;
use crate::search::{Facet, ProductParams, SearchParams, Sort, SuggestParams};

/// Longest accepted `q`, in characters.
pub const MAX_Q_CHARS: usize = 512;
/// Deepest accepted page: `page * per_page` may not exceed this (like Elasticsearch's
/// `index.max_result_window`).
pub const MAX_RESULT_WINDOW: u64 = 10_000;
/// Most values of one repeatable filter (`brand`, `seller_id`, one `attr.NAME`).
pub const MAX_FILTER_VALUES: usize = 50;
/// Most distinct `attr.NAME` filters.
pub const MAX_ATTR_FILTERS: usize = 20;
/// Most facets per request.
pub const MAX_FACETS: usize = 10;
/// Longest accepted filter value, in bytes.
pub const MAX_VALUE_BYTES: usize = 256;
/// Longest store id (the event contract's limit).
pub const MAX_STORE_ID_BYTES: usize = 64;
/// Most `pickup_store` values of one search.
pub const MAX_PICKUP_STORES: usize = 20;

/// The facet a `facets=` entry names.
fn facet(s: &str) -> Result<Facet, ApiError> {
    match s {
        "brand" => Ok(Facet::Brand),
        "category" => Ok(Facet::Category),
        "price" => Ok(Facet::Price),
        "seller_id" => Ok(Facet::SellerId),
        other => match other.strip_prefix("attr.") {
            Some(name) => Ok(Facet::Attr(attr_name(name, "facets")?)),
            None => Err(invalid(format!(
                "unknown facet {other:?}; facets are brand, category, price, seller_id and attr.NAME"
            ))),
        },
    }
}

fn invalid(message: String) -> ApiError {
    ApiError::InvalidParameter(message)
}

/// Decodes a raw query string into its pairs.
pub fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|r| {
        form_urlencoded::parse(r.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

/// Rejects a second occurrence of a parameter that may appear once.
fn once(seen: &mut Vec<&'static str>, name: &'static str) -> Result<(), ApiError> {
    if seen.contains(&name) {
        return Err(invalid(format!("{name} may be given only once")));
    }
    seen.push(name);
    Ok(())
}

fn bounded_value(name: &str, value: &str) -> Result<String, ApiError> {
    if value.is_empty() {
        return Err(invalid(format!("{name} must not be empty")));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(invalid(format!(
            "{name} must be at most {MAX_VALUE_BYTES} bytes"
        )));
    }
    Ok(value.to_owned())
}

fn attr_name(name: &str, context: &str) -> Result<String, ApiError> {
    if name.is_empty() || name.len() > MAX_VALUE_BYTES {
        return Err(invalid(format!(
            "{context}: attr.NAME needs a name of 1 to {MAX_VALUE_BYTES} bytes"
        )));
    }
    Ok(name.to_owned())
}

/// A store id: 1 to [`MAX_STORE_ID_BYTES`] bytes without control characters, as in events.
fn store_id(name: &str, value: &str) -> Result<String, ApiError> {
    if value.is_empty() || value.len() > MAX_STORE_ID_BYTES {
        return Err(invalid(format!(
            "{name} must be a store id of 1 to {MAX_STORE_ID_BYTES} bytes"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{name} must not contain control characters"
        )));
    }
    Ok(value.to_owned())
}

fn price(name: &str, value: &str) -> Result<u64, ApiError> {
    value.parse::<u64>().map_err(|_| {
        invalid(format!(
            "{name} must be a whole number of cents (0 or more), got {:?}",
            truncate(value)
        ))
    })
}

fn truncate(value: &str) -> String {
    value.chars().take(40).collect()
}

fn push_limited(list: &mut Vec<String>, name: &str, value: &str) -> Result<(), ApiError> {
    if list.len() >= MAX_FILTER_VALUES {
        return Err(invalid(format!(
            "{name} may be given at most {MAX_FILTER_VALUES} times"
        )));
    }
    list.push(bounded_value(name, value)?);
    Ok(())
}

impl SearchParams {
    /// Parses and validates the query pairs of `GET /search`.
    pub fn parse(pairs: &[(String, String)]) -> Result<SearchParams, ApiError> {
        let mut p = SearchParams {
            page: 1,
            per_page: 20,
            ..SearchParams::default()
        };
        let mut seen = Vec::new();
        let mut unknown = Vec::new();
        for (key, value) in pairs {
            if !p.set(&mut seen, key, value)? {
                unknown.push(truncate(key));
            }
        }
        reject_unknown(&unknown)?;
        p.check_bounds()?;
        Ok(p)
    }

    /// Applies one parameter; `false` when `key` is not a parameter of `/search`.
    fn set(
        &mut self,
        seen: &mut Vec<&'static str>,
        key: &str,
        value: &str,
    ) -> Result<bool, ApiError> {
        match key {
            "q" => {
                once(seen, "q")?;
                self.q = query_text(value)?;
            }
            "brand" => push_limited(&mut self.brands, "brand", value)?,
            "seller_id" => push_limited(&mut self.seller_ids, "seller_id", value)?,
            "pickup_store" => {
                if self.pickup_stores.len() >= MAX_PICKUP_STORES {
                    return Err(invalid(format!(
                        "pickup_store may be given at most {MAX_PICKUP_STORES} times"
                    )));
                }
                let store = store_id("pickup_store", value)?;
                if !self.pickup_stores.contains(&store) {
                    self.pickup_stores.push(store);
                }
            }
            "category" => {
                once(seen, "category")?;
                self.category = Some(category_path(value)?);
            }
            "min_price" => {
                once(seen, "min_price")?;
                self.min_price = Some(price("min_price", value)?);
            }
            "max_price" => {
                once(seen, "max_price")?;
                self.max_price = Some(price("max_price", value)?);
            }
            "in_stock" => {
                once(seen, "in_stock")?;
                self.in_stock = Some(in_stock(value)?);
            }
            "sort" => {
                once(seen, "sort")?;
                self.sort = sort(value)?;
            }
            "page" => {
                once(seen, "page")?;
                self.page = page(value)?;
            }
            "per_page" => {
                once(seen, "per_page")?;
                self.per_page = per_page(value)?;
            }
            "facets" => {
                once(seen, "facets")?;
                add_facets(&mut self.facets, value)?;
            }
            other => match other.strip_prefix("attr.") {
                Some(name) => add_attr_filter(&mut self.attrs, name, value)?,
                None => return Ok(false),
            },
        }
        Ok(true)
    }

    /// Checks across parameters: the price range, and the result window.
    fn check_bounds(&self) -> Result<(), ApiError> {
        if let (Some(lo), Some(hi)) = (self.min_price, self.max_price) {
            if lo > hi {
                return Err(invalid(format!(
                    "min_price ({lo}) must not be greater than max_price ({hi})"
                )));
            }
        }
        if self.page.saturating_mul(self.per_page) > MAX_RESULT_WINDOW {
            return Err(invalid(format!(
                "page * per_page must be at most {MAX_RESULT_WINDOW} (deep pagination is not supported; refine the query)"
            )));
        }
        Ok(())
    }
}

fn query_text(value: &str) -> Result<String, ApiError> {
    if value.chars().count() > MAX_Q_CHARS {
        return Err(invalid(format!(
            "q must be at most {MAX_Q_CHARS} characters"
        )));
    }
    Ok(value.to_owned())
}

fn category_path(value: &str) -> Result<String, ApiError> {
    if value.is_empty() || value.len() > 4 * MAX_VALUE_BYTES {
        return Err(invalid(format!(
            "category must be a path of 1 to {} bytes, segments joined by '>'",
            4 * MAX_VALUE_BYTES
        )));
    }
    let segments: Vec<&str> = value.split('>').map(str::trim).collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(invalid(format!(
            "category {:?} has an empty segment; write it like Electronics>TVs",
            truncate(value)
        )));
    }
    Ok(segments.join(">"))
}

fn in_stock(value: &str) -> Result<bool, ApiError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(invalid(format!(
            "in_stock must be true or false, got {:?}",
            truncate(other)
        ))),
    }
}

fn sort(value: &str) -> Result<Sort, ApiError> {
    Sort::parse(value).ok_or_else(|| {
        invalid(format!(
            "sort must be relevance, price_asc, price_desc or newest, got {:?}",
            truncate(value)
        ))
    })
}

fn page(value: &str) -> Result<u64, ApiError> {
    value
        .parse::<u64>()
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| {
            invalid(format!(
                "page must be a whole number from 1, got {:?}",
                truncate(value)
            ))
        })
}

fn per_page(value: &str) -> Result<u64, ApiError> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| (1..=100).contains(n))
        .ok_or_else(|| invalid("per_page must be between 1 and 100".to_owned()))
}

fn add_facets(facets: &mut Vec<Facet>, value: &str) -> Result<(), ApiError> {
    for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let facet = facet(name)?;
        if !facets.contains(&facet) {
            facets.push(facet);
        }
        if facets.len() > MAX_FACETS {
            return Err(invalid(format!("at most {MAX_FACETS} facets per request")));
        }
    }
    Ok(())
}

fn add_attr_filter(
    attrs: &mut BTreeMap<String, Vec<String>>,
    name: &str,
    value: &str,
) -> Result<(), ApiError> {
    let name = attr_name(name, "filter")?;
    if !attrs.contains_key(&name) && attrs.len() >= MAX_ATTR_FILTERS {
        return Err(invalid(format!(
            "at most {MAX_ATTR_FILTERS} attribute filters per request"
        )));
    }
    let values = attrs.entry(name.clone()).or_default();
    push_limited(values, &format!("attr.{name}"), value)
}

fn reject_unknown(unknown: &[String]) -> Result<(), ApiError> {
    if unknown.is_empty() {
        return Ok(());
    }
    Err(ApiError::UnknownParameter(format!(
        "unknown parameter{} {}; /search accepts q, brand, category, min_price, max_price, in_stock, seller_id, pickup_store, attr.NAME, sort, page, per_page, facets",
        if unknown.len() > 1 { "s" } else { "" },
        unknown
            .iter()
            .map(|u| format!("{u:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

impl ProductParams {
    /// Parses and validates the query pairs of `GET /products/{id}`.
    pub fn parse(pairs: &[(String, String)]) -> Result<ProductParams, ApiError> {
        let mut p = ProductParams::default();
        let mut seen = Vec::new();
        for (key, value) in pairs {
            match key.as_str() {
                "store" => {
                    once(&mut seen, "store")?;
                    p.store = Some(store_id("store", value)?);
                }
                other => {
                    return Err(ApiError::UnknownParameter(format!(
                        "unknown parameter {:?}; /products/{{id}} accepts store",
                        truncate(other)
                    )))
                }
            }
        }
        Ok(p)
    }
}

impl SuggestParams {
    /// Parses and validates the query pairs of `GET /suggest`.
    pub fn parse(pairs: &[(String, String)]) -> Result<SuggestParams, ApiError> {
        let mut q = None;
        let mut limit = 10;
        let mut seen = Vec::new();
        for (key, value) in pairs {
            match key.as_str() {
                "q" => {
                    once(&mut seen, "q")?;
                    if value.chars().count() > 128 {
                        return Err(invalid("q must be at most 128 characters".to_owned()));
                    }
                    q = Some(value.clone());
                }
                "limit" => {
                    once(&mut seen, "limit")?;
                    limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=10).contains(n))
                        .ok_or_else(|| invalid("limit must be between 1 and 10".to_owned()))?;
                }
                other => {
                    return Err(ApiError::UnknownParameter(format!(
                        "unknown parameter {:?}; /suggest accepts q and limit",
                        truncate(other)
                    )))
                }
            }
        }
        let q = q.ok_or_else(|| invalid("q is required".to_owned()))?;
        Ok(SuggestParams { q, limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(query: &str) -> Result<SearchParams, ApiError> {
        SearchParams::parse(&pairs(Some(query)))
    }

    fn message(query: &str) -> String {
        match parse(query) {
            Err(ApiError::InvalidParameter(m)) | Err(ApiError::UnknownParameter(m)) => m,
            other => panic!("{query}: expected an error, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let p = parse("").unwrap();
        assert_eq!((p.page, p.per_page, p.sort), (1, 20, Sort::Relevance));
        assert!(p.q.is_empty() && p.facets.is_empty());
    }

    #[test]
    fn every_parameter_is_parsed() {
        let p = parse(
            "q=smart+tv&brand=Samsung&brand=LG&category=Electronics%3ETVs&min_price=100&max_price=900\
             &in_stock=true&seller_id=s1&seller_id=s2&attr.color=black&attr.color=white&attr.size=55\
             &sort=price_desc&page=3&per_page=50&facets=brand,category,price,seller_id,attr.color",
        )
        .unwrap();
        assert_eq!(p.q, "smart tv");
        assert_eq!(p.brands, ["Samsung", "LG"]);
        assert_eq!(p.category.as_deref(), Some("Electronics>TVs"));
        assert_eq!(
            (p.min_price, p.max_price, p.in_stock),
            (Some(100), Some(900), Some(true))
        );
        assert_eq!(p.seller_ids, ["s1", "s2"]);
        assert_eq!(p.attrs["color"], ["black", "white"]);
        assert_eq!(p.attrs["size"], ["55"]);
        assert_eq!(
            (p.sort, p.page, p.per_page, p.offset()),
            (Sort::PriceDesc, 3, 50, 100)
        );
        assert_eq!(
            p.facets,
            [
                Facet::Brand,
                Facet::Category,
                Facet::Price,
                Facet::SellerId,
                Facet::Attr("color".into())
            ]
        );
    }

    #[test]
    fn category_segments_are_trimmed() {
        assert_eq!(
            parse("category=Electronics+%3E+TVs")
                .unwrap()
                .category
                .as_deref(),
            Some("Electronics>TVs")
        );
        assert!(message("category=Electronics%3E%3ETVs").contains("empty segment"));
    }

    #[test]
    fn errors_name_the_parameter() {
        assert_eq!(message("per_page=0"), "per_page must be between 1 and 100");
        assert_eq!(
            message("per_page=101"),
            "per_page must be between 1 and 100"
        );
        assert!(message("page=0").starts_with("page must be"));
        assert!(message("page=x").starts_with("page must be"));
        assert!(message("page=101&per_page=100").contains("page * per_page"));
        assert!(
            parse("page=100&per_page=100").is_ok(),
            "10,000 exactly is allowed"
        );
        assert!(message("min_price=-1").starts_with("min_price"));
        assert!(message("max_price=1.5").starts_with("max_price"));
        assert!(message("min_price=5&max_price=4").contains("greater than"));
        assert!(message("in_stock=yes").starts_with("in_stock"));
        assert!(message("sort=cheap").starts_with("sort"));
        assert!(message("facets=colour").contains("unknown facet"));
        assert!(message("facets=attr.").contains("attr.NAME"));
        assert!(message("q=a&q=b").contains("only once"));
        assert!(message("brand=").contains("must not be empty"));
        assert!(message(&format!("brand={}", "x".repeat(300))).contains("at most"));
        assert!(message(&format!("q={}", "x".repeat(513))).contains("512"));
        assert!(
            parse(&format!("q={}", "é".repeat(512))).is_ok(),
            "characters, not bytes"
        );
    }

    #[test]
    fn unknown_parameters_are_rejected_with_the_allowed_list() {
        let m = message("q=tv&colour=red&pg=2");
        assert!(
            m.starts_with("unknown parameters \"colour\", \"pg\""),
            "{m}"
        );
        assert!(m.contains("per_page"));
        assert!(matches!(parse("x=1"), Err(ApiError::UnknownParameter(_))));
    }

    #[test]
    fn repeatable_filters_are_bounded() {
        let many: String = (0..=MAX_FILTER_VALUES)
            .map(|i| format!("brand=b{i}&"))
            .collect();
        assert!(message(&many).contains("at most"));
        let attrs: String = (0..=MAX_ATTR_FILTERS)
            .map(|i| format!("attr.a{i}=v&"))
            .collect();
        assert!(message(&attrs).contains("attribute filters"));
    }

    #[test]
    fn suggest_params() {
        let p = SuggestParams::parse(&pairs(Some("q=sam&limit=5"))).unwrap();
        assert_eq!((p.q.as_str(), p.limit), ("sam", 5));
        assert!(SuggestParams::parse(&pairs(Some(""))).is_err());
        assert!(SuggestParams::parse(&pairs(Some("q=a&limit=11"))).is_err());
        assert!(SuggestParams::parse(&pairs(Some("q=a&x=1"))).is_err());
    }

    proptest! {
        /// Arbitrary query strings never panic and errors always carry a message.
        #[test]
        fn arbitrary_query_strings_never_panic(raw in ".{0,300}") {
            match SearchParams::parse(&pairs(Some(&raw))) {
                Ok(p) => prop_assert!(p.page * p.per_page <= MAX_RESULT_WINDOW),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
            let _ = SuggestParams::parse(&pairs(Some(&raw)));
        }

        #[test]
        fn arbitrary_pairs_never_panic(
            pairs in proptest::collection::vec(
                (prop_oneof![Just("q".to_owned()), Just("page".to_owned()), Just("per_page".to_owned()),
                    Just("facets".to_owned()), Just("category".to_owned()), Just("min_price".to_owned()),
                    Just("attr.x".to_owned()), "[a-z._]{0,8}"], ".{0,40}"),
                0..20)
        ) {
            let _ = SearchParams::parse(&pairs);
        }
    }
}
