//! What a search or a suggestion asks for, validated: the types the HTTP layer parses query
//! strings into (`http::params`) and the search runs on.

use std::collections::BTreeMap;

/// Sort orders of `/search`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// By relevance score (browsing without words: newest first).
    #[default]
    Relevance,
    /// Cheapest first; products without a price last.
    PriceAsc,
    /// Dearest first; products without a price last.
    PriceDesc,
    /// Most recently updated first.
    Newest,
}

impl Sort {
    /// The order a `sort=` value names, if any.
    pub fn parse(s: &str) -> Option<Sort> {
        match s {
            "relevance" => Some(Sort::Relevance),
            "price_asc" => Some(Sort::PriceAsc),
            "price_desc" => Some(Sort::PriceDesc),
            "newest" => Some(Sort::Newest),
            _ => None,
        }
    }
}

/// A facet to count over the filtered result set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Facet {
    /// Products per brand.
    Brand,
    /// Products per category path prefix.
    Category,
    /// Products per price bucket.
    Price,
    /// Products per seller.
    SellerId,
    /// Products per value of the named attribute.
    Attr(String),
}

impl Facet {
    /// The key of this facet in the response's `facets` object.
    pub fn key(&self) -> String {
        match self {
            Facet::Brand => "brand".to_owned(),
            Facet::Category => "category".to_owned(),
            Facet::Price => "price".to_owned(),
            Facet::SellerId => "seller_id".to_owned(),
            Facet::Attr(name) => format!("attr.{name}"),
        }
    }
}

/// Validated parameters of `GET /search`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchParams {
    /// The shopper's text (may be empty: browse).
    pub q: String,
    /// Brands, any of them.
    pub brands: Vec<String>,
    /// Category path prefix, segments joined by `>`.
    pub category: Option<String>,
    /// Lowest in-stock price at least this, in cents.
    pub min_price: Option<u64>,
    /// Lowest in-stock price at most this, in cents.
    pub max_price: Option<u64>,
    /// Only products in stock (`true`) or out of stock (`false`).
    pub in_stock: Option<bool>,
    /// Sellers, any of them.
    pub seller_ids: Vec<String>,
    /// Stores where the product must be in stock for pickup, any of them (issue #15 part
    /// B); each hit then carries its `pickup` block.
    pub pickup_stores: Vec<String>,
    /// `attr.NAME=VALUE` filters: values OR'ed per name, names AND'ed.
    pub attrs: BTreeMap<String, Vec<String>>,
    /// The order of the hits.
    pub sort: Sort,
    /// The page, from 1.
    pub page: u64,
    /// Hits per page.
    pub per_page: u64,
    /// Facets to count, in request order.
    pub facets: Vec<Facet>,
}

impl SearchParams {
    /// Documents to skip before the page.
    pub fn offset(&self) -> usize {
        ((self.page - 1) * self.per_page) as usize
    }

    /// These parameters without the filter of `facet` (`brand=` for `brand`, `seller_id=`
    /// for `seller_id`, `attr.X=` for `attr.X`, `min_price`/`max_price` for `price`,
    /// `category=` for `category`), or `None` when they have none: the set a disjunctive
    /// facet counts over (see `facets`).
    pub fn without_filter_of(&self, facet: &Facet) -> Option<SearchParams> {
        let mut p = self.clone();
        let had = match facet {
            Facet::Brand => !std::mem::take(&mut p.brands).is_empty(),
            Facet::SellerId => !std::mem::take(&mut p.seller_ids).is_empty(),
            Facet::Attr(name) => p.attrs.remove(name).is_some(),
            Facet::Price => p.min_price.take().is_some() | p.max_price.take().is_some(),
            Facet::Category => p.category.take().is_some(),
        };
        had.then_some(p)
    }
}

/// Validated parameters of `GET /products/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProductParams {
    /// The store to show the `pickup` block of.
    pub store: Option<String>,
}

/// Validated parameters of `GET /suggest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuggestParams {
    /// What was typed so far.
    pub q: String,
    /// Suggestions wanted, at most.
    pub limit: usize,
}
