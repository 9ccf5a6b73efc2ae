//! Facet counts over the filtered result set, counted exactly while the search collects its
//! matches ([`FacetCollector`]).
//!
//! | facet | counts | order |
//! |---|---|---|
//! | `brand` | per brand (normalized: lower-cased, ASCII-folded) | count, top 20 |
//! | `category` | per category path prefix (`Electronics`, `Electronics>TVs`, ...) | count, top 50 |
//! | `price` | fixed buckets of the lowest in-stock price, see [`PRICE_BUCKETS`] | price |
//! | `seller_id` | per seller (a product counts once per seller with a shown offer) | count, top 20 |
//! | `attr.NAME` | per value of attribute NAME (normalized) | count, top 20 |

//!
//! Counts are exact for facets of up to 65,536 distinct values per segment (brands,
//! categories, sellers, most attributes): each segment counts by term ordinal of the facet's
//! fast field in a dense array and passes every counted value on (turned into strings in one
//! sorted pass over the dictionary), and segments merge by value before the top values are
//! kept. (Tantivy's terms aggregation keeps a top list per segment, so a value outside
//! one segment's top list is under-counted, as in Elasticsearch; it also cost twice as much
//! per document.) A value a product holds twice counts once.
//!
//! # High-cardinality facets (issue #14 item 13)
//!
//! A facet over an attribute like a SKU (a million distinct values) must not allocate per
//! distinct value per request: it took 25 s and 264 MiB for `facets=attr.model` over 1M
//! products, mostly turning every counted ordinal into a string. Beyond 65,536 distinct
//! values in a segment, counting uses a bounded heavy-hitters summary (Misra-Gries, at most
//! [`HEAVY_HITTERS`] counters: every value more frequent than 1/4,096 of the segment's matches
//! is kept, counts are lower bounds), and only a segment's top [`shard_size`] ordinals (1,000
//! for the 20 values shown) are turned into strings. Such a facet's counts may be
//! under-counted: the response lists it in `facets_approximate` (as Elasticsearch reports
//! `doc_count_error_upper_bound`). Per request, a facet holds at most 256 KiB of dense counts
//! or 4,096 counters per segment, whatever the cardinality.

use std::collections::HashMap;

use schemas::values::{ColumnsView, SegmentValues};
use serde::Serialize;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Cardinality, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use schemas::index::CATEGORY_SEPARATOR;

use super::error::SearchError;
use super::request::Facet;

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

const TERMS_SIZE: usize = 20;
const CATEGORY_SIZE: usize = 50;
/// Up to this many distinct values in a segment, counts go to an array indexed by ordinal.
const DENSE_COUNTS: usize = 1 << 16;
/// Counters of the heavy-hitters summary of a facet with more distinct values in a segment.
pub const HEAVY_HITTERS: usize = 4096;

/// Values a segment passes on to the merge, for a facet that shows `size` values
/// (Elasticsearch's `shard_size`).
pub fn shard_size(size: usize) -> usize {
    (size * 10).max(1000)
}

/// One value of a facet with its count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FacetValue {
    /// The value (a price bucket's key for `price`).
    pub value: String,
    /// Products with this value.
    pub count: u64,
    /// Price buckets only: the bucket's bounds in cents (`to` excluded, `null` when open).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
    /// Price buckets only: the upper bound, excluded (`Some(None)` for the open bucket).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Option<u64>>,
}

/// The fast field a keyword facet counts, and how many values it shows.
fn terms_field(facet: &Facet) -> Option<(String, usize)> {
    match facet {
        Facet::Brand => Some(("brand_key".to_owned(), TERMS_SIZE)),
        Facet::Category => Some(("category_prefix".to_owned(), CATEGORY_SIZE)),
        Facet::SellerId => Some(("seller_id".to_owned(), TERMS_SIZE)),
        Facet::Attr(name) => Some((format!("attr.{name}"), TERMS_SIZE)),
        Facet::Price => None,
    }
}

fn bucket_key(from: u64, to: Option<u64>) -> String {
    match to {
        Some(to) => format!("{from}-{to}"),
        None => format!("{from}+"),
    }
}

/// The price bucket of `cents`.
fn price_bucket(cents: u64) -> usize {
    PRICE_BUCKETS
        .iter()
        .position(|(_, to)| to.is_none_or(|to| cents < to))
        .unwrap_or(PRICE_BUCKETS.len() - 1)
}

/// Counts the requested facets of every match; its fruit is one [`Counts`] per facet, in
/// request order.
pub struct FacetCollector {
    facets: Vec<Facet>,
    /// The live prices the `price` facet counts (issue #15).
    live: ColumnsView,
}

impl FacetCollector {
    pub fn new(facets: &[Facet], live: ColumnsView) -> FacetCollector {
        FacetCollector {
            facets: facets.to_vec(),
            live,
        }
    }
}

/// The counts of one facet, merged over segments.
#[derive(Debug, Clone, PartialEq)]
pub enum Counts {
    /// Per value; `approximate` when some value may be under-counted (see the module notes).
    Terms {
        counts: HashMap<String, u64>,
        approximate: bool,
    },
    Price([u64; PRICE_BUCKETS.len()]),
}

enum OrdCounts {
    Dense(Vec<u32>),
    Heavy(HeavyHitters),
}

/// Misra-Gries: at most `HEAVY_HITTERS` counters; a value that finds them all taken takes
/// one from every counter (dropping those at zero) instead. Every value more frequent than
/// 1/`HEAVY_HITTERS` of what was counted survives; a count is at most that far below the
/// true one. Amortized O(1) per value: each decrement pass removes what it costs.
struct HeavyHitters {
    counters: HashMap<u64, u32>,
    /// Whether a decrement pass happened (the counts are then lower bounds).
    decremented: bool,
}

impl HeavyHitters {
    fn new() -> HeavyHitters {
        HeavyHitters {
            counters: HashMap::with_capacity(HEAVY_HITTERS),
            decremented: false,
        }
    }

    #[inline]
    fn add(&mut self, value: u64) {
        if let Some(c) = self.counters.get_mut(&value) {
            *c += 1;
        } else if self.counters.len() < HEAVY_HITTERS {
            self.counters.insert(value, 1);
        } else {
            self.decremented = true;
            self.counters.retain(|_, c| {
                *c -= 1;
                *c > 0
            });
        }
    }
}

enum SegmentFacet {
    /// A keyword facet (`None` when the segment has no value of it), with how many values
    /// the segment passes on.
    Terms(Option<(StrColumn, OrdCounts)>, usize),
    /// The live price of each document (not a column: see `schemas::values`).
    Price(Box<SegmentValues>, [u64; PRICE_BUCKETS.len()]),
}

/// Documents counted together: fast field values are read a block at a time (translating a
/// block of document ids to column rows is much cheaper than one at a time).
const BLOCK: usize = 512;

pub struct FacetSegmentCollector {
    facets: Vec<SegmentFacet>,
    /// Matches not counted yet.
    docs: Vec<DocId>,
    /// Per value row of the block: its document, its row and its value.
    row_docs: Vec<DocId>,
    rows: Vec<u32>,
    values: Vec<u64>,
}

/// Calls `f` with each value of a block, once per document (a value a product holds twice
/// counts once); `row_docs` is the document of each value, `multi` whether a document can
/// have several.
#[inline]
fn each_value(values: &[u64], row_docs: &[DocId], multi: bool, mut f: impl FnMut(u64)) {
    if !multi {
        values.iter().for_each(|v| f(*v));
        return;
    }
    let mut first_of_doc = 0;
    for (i, value) in values.iter().enumerate() {
        if i > 0 && row_docs.get(i) != row_docs.get(i - 1) {
            first_of_doc = i;
        }
        if !values[first_of_doc..i].contains(value) {
            f(*value);
        }
    }
}

impl FacetSegmentCollector {
    /// Counts the buffered matches.
    fn flush(&mut self) {
        if self.docs.is_empty() {
            return;
        }
        for facet in &mut self.facets {
            let column = match facet {
                SegmentFacet::Terms(None, _) => continue,
                SegmentFacet::Terms(Some((column, _)), _) => column.ords(),
                SegmentFacet::Price(values, counts) => {
                    for &doc in &self.docs {
                        if let Some(price) = values.price(doc) {
                            counts[price_bucket(price)] += 1;
                        }
                    }
                    continue;
                }
            };
            self.row_docs.clear();
            self.rows.clear();
            column.row_ids_for_docs(&self.docs, &mut self.row_docs, &mut self.rows);
            self.values.clear();
            self.values.resize(self.rows.len(), 0);
            column.values.get_vals(&self.rows, &mut self.values);
            let multi = column.get_cardinality() == Cardinality::Multivalued;
            let (values, row_docs) = (&self.values, &self.row_docs);
            match facet {
                SegmentFacet::Terms(Some((_, OrdCounts::Dense(counts))), _) => {
                    each_value(values, row_docs, multi, |v| {
                        if let Some(c) = counts.get_mut(v as usize) {
                            *c += 1;
                        }
                    })
                }
                SegmentFacet::Terms(Some((_, OrdCounts::Heavy(counts))), _) => {
                    each_value(values, row_docs, multi, |v| counts.add(v))
                }
                SegmentFacet::Price(..) => {}
                SegmentFacet::Terms(None, _) => {}
            }
        }
        self.docs.clear();
    }
}

impl Collector for FacetCollector {
    type Fruit = Vec<Counts>;
    type Child = FacetSegmentCollector;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<FacetSegmentCollector> {
        let fast = reader.fast_fields();
        let mut facets = Vec::with_capacity(self.facets.len());
        for facet in &self.facets {
            facets.push(match terms_field(facet) {
                Some((field, size)) => SegmentFacet::Terms(
                    fast.str(&field)?.map(|column| {
                        let terms = column.num_terms();
                        let counts = if terms <= DENSE_COUNTS {
                            OrdCounts::Dense(vec![0; terms])
                        } else {
                            OrdCounts::Heavy(HeavyHitters::new())
                        };
                        (column, counts)
                    }),
                    shard_size(size),
                ),
                None => SegmentFacet::Price(
                    Box::new(SegmentValues::new(reader, self.live.clone())),
                    [0; PRICE_BUCKETS.len()],
                ),
            });
        }
        Ok(FacetSegmentCollector {
            facets,
            docs: Vec::with_capacity(BLOCK),
            row_docs: Vec::new(),
            rows: Vec::new(),
            values: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<Vec<Counts>>) -> tantivy::Result<Vec<Counts>> {
        let mut merged: Vec<Counts> = self
            .facets
            .iter()
            .map(|f| match f {
                Facet::Price => Counts::Price([0; PRICE_BUCKETS.len()]),
                _ => Counts::Terms {
                    counts: HashMap::new(),
                    approximate: false,
                },
            })
            .collect();
        for segment in segments {
            for (total, counts) in merged.iter_mut().zip(segment) {
                match (total, counts) {
                    (
                        Counts::Terms {
                            counts: total,
                            approximate: total_approximate,
                        },
                        Counts::Terms {
                            counts,
                            approximate,
                        },
                    ) => {
                        *total_approximate |= approximate;
                        for (value, n) in counts {
                            *total.entry(value).or_default() += n;
                        }
                    }
                    (Counts::Price(total), Counts::Price(counts)) => {
                        for (t, n) in total.iter_mut().zip(counts) {
                            *t += n;
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(merged)
    }
}

impl SegmentCollector for FacetSegmentCollector {
    type Fruit = Vec<Counts>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.docs.push(doc);
        if self.docs.len() >= BLOCK {
            self.flush();
        }
    }

    fn harvest(mut self) -> Vec<Counts> {
        self.flush();
        self.facets
            .into_iter()
            .map(|facet| match facet {
                SegmentFacet::Terms(None, _) => Counts::Terms {
                    counts: HashMap::new(),
                    approximate: false,
                },
                SegmentFacet::Terms(Some((column, counts)), keep) => {
                    // Dense counts (at most 65,536 values) pass on every value: exact, and
                    // one sorted pass over the dictionary turns them into strings cheaply.
                    let (nonzero, decremented, keep): (Vec<(u64, u32)>, bool, usize) = match counts
                    {
                        OrdCounts::Dense(counts) => (
                            counts
                                .into_iter()
                                .enumerate()
                                .filter(|(_, n)| *n > 0)
                                .map(|(ord, n)| (ord as u64, n))
                                .collect(),
                            false,
                            usize::MAX,
                        ),
                        OrdCounts::Heavy(h) => {
                            (h.counters.into_iter().collect(), h.decremented, keep)
                        }
                    };
                    let (top, truncated) = top_ords(nonzero, keep);
                    Counts::Terms {
                        counts: ord_values(&column, &top),
                        approximate: decremented || truncated,
                    }
                }
                SegmentFacet::Price(_, counts) => Counts::Price(counts),
            })
            .collect()
    }
}

/// The `keep` largest counts (ties: smaller ordinal first), sorted by ordinal, and whether
/// some were left out.
fn top_ords(mut counts: Vec<(u64, u32)>, keep: usize) -> (Vec<(u64, u32)>, bool) {
    let truncated = counts.len() > keep;
    if truncated && keep > 0 {
        counts.select_nth_unstable_by(keep - 1, |a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    }
    counts.truncate(keep);
    counts.sort_unstable_by_key(|(ord, _)| *ord);
    (counts, truncated)
}

/// The values of the ordinals `top` (sorted), with their counts: one pass over the
/// dictionary, not one lookup per value. A dictionary read error leaves values out: facets
/// are a guide, and the search itself read the same segment.
fn ord_values(column: &StrColumn, top: &[(u64, u32)]) -> HashMap<String, u64> {
    let ords: Vec<u64> = top.iter().map(|(ord, _)| *ord).collect();
    let mut out = HashMap::with_capacity(top.len());
    let mut counts = top.iter().map(|(_, n)| *n);
    let _ = column.dictionary().sorted_ords_to_term_cb(&ords, |bytes| {
        if let (Some(n), Ok(value)) = (counts.next(), std::str::from_utf8(bytes)) {
            *out.entry(value.to_owned()).or_default() += u64::from(n);
        }
    });
    out
}

/// One facet of the response: its key, its values, and whether counts may be under-counted.
pub type FacetResult = (String, Vec<FacetValue>, bool);

/// Keeps, of the category counts made without the category filter, the neighbourhood of
/// the `selected` path: its children and its siblings (itself included), as a shopper's
/// category tree shows them. Other counts are left alone.
pub fn category_neighbourhood(counts: &mut Counts, selected: &str) {
    let Counts::Terms { counts, .. } = counts else {
        return;
    };
    let parent = |path: &str| {
        path.rsplit_once(CATEGORY_SEPARATOR)
            .map(|(p, _)| p.to_owned())
    };
    let selected_parent = parent(selected);
    counts.retain(|path, _| {
        let p = parent(path);
        p.as_deref() == Some(selected) || p == selected_parent
    });
}

/// The facets of the response, in request order: the top values of each (most products
/// first, ties by value), price buckets in price order.
pub fn response(facets: &[Facet], counts: Vec<Counts>) -> Result<Vec<FacetResult>, SearchError> {
    if counts.len() != facets.len() {
        return Err(SearchError::FacetCounts {
            counts: counts.len(),
            facets: facets.len(),
        });
    }
    let mut out = Vec::with_capacity(facets.len());
    for (facet, counts) in facets.iter().zip(counts) {
        let (values, approximate) = match counts {
            Counts::Price(counts) => (
                PRICE_BUCKETS
                    .iter()
                    .zip(counts)
                    .map(|((from, to), count)| FacetValue {
                        value: bucket_key(*from, *to),
                        count,
                        from: Some(*from),
                        to: Some(*to),
                    })
                    .collect(),
                false,
            ),
            Counts::Terms {
                counts,
                approximate,
            } => {
                let size = terms_field(facet).map_or(TERMS_SIZE, |(_, size)| size);
                let mut values: Vec<FacetValue> = counts
                    .into_iter()
                    .filter(|(_, count)| *count > 0)
                    .map(|(value, count)| FacetValue {
                        value,
                        count,
                        from: None,
                        to: None,
                    })
                    .collect();
                values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
                values.truncate(size);
                (values, approximate)
            }
        };
        out.push((facet.key(), values, approximate));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_buckets_are_contiguous_and_documented() {
        for pair in PRICE_BUCKETS.windows(2) {
            assert_eq!(pair[0].1, Some(pair[1].0));
        }
        assert_eq!(bucket_key(0, Some(2500)), "0-2500");
        assert_eq!(bucket_key(100_000, None), "100000+");
    }

    #[test]
    fn prices_fall_in_their_bucket() {
        assert_eq!(price_bucket(0), 0);
        assert_eq!(price_bucket(2_499), 0);
        assert_eq!(price_bucket(2_500), 1);
        assert_eq!(price_bucket(99_999), 5);
        assert_eq!(price_bucket(100_000), 6);
        assert_eq!(price_bucket(u64::MAX), 6);
    }

    #[test]
    fn the_top_values_are_kept_most_first_ties_by_value() {
        let counts: HashMap<String, u64> = (0..30u64)
            .map(|i| (format!("v{i:02}"), i / 2))
            .chain([("zero".to_owned(), 0)])
            .collect();
        let out = response(
            &[Facet::Brand],
            vec![Counts::Terms {
                counts,
                approximate: false,
            }],
        )
        .unwrap();
        let values: Vec<(&str, u64)> = out[0]
            .1
            .iter()
            .map(|v| (v.value.as_str(), v.count))
            .collect();
        assert_eq!(values.len(), TERMS_SIZE);
        assert_eq!(values[0], ("v28", 14));
        assert_eq!(values[1], ("v29", 14));
        assert_eq!(values[TERMS_SIZE - 1], ("v11", 5));
        assert!(response(&[Facet::Brand], vec![]).is_err());
    }
}

#[cfg(test)]
mod bounded_tests {
    use super::*;

    #[test]
    fn heavy_hitters_keep_every_value_more_frequent_than_one_in_capacity() {
        let mut h = HeavyHitters::new();
        // 3 frequent values among 200,000 distinct ones seen once each.
        let mut expected = HashMap::new();
        for i in 0..200_000u64 {
            h.add(1_000_000 + i);
            if i % 20 == 0 {
                for v in [1u64, 2, 3] {
                    h.add(v);
                    *expected.entry(v).or_insert(0u32) += 1;
                }
            }
        }
        assert!(h.counters.len() <= HEAVY_HITTERS, "bounded");
        assert!(h.decremented);
        let total = 200_000 + 3 * 10_000;
        for (v, n) in expected {
            let kept = h.counters.get(&v).copied().unwrap_or(0);
            assert!(kept <= n, "a lower bound");
            assert!(
                n - kept <= (total / HEAVY_HITTERS) as u32,
                "{v}: {kept} of {n}"
            );
        }
    }

    #[test]
    fn few_distinct_values_are_counted_exactly() {
        let mut h = HeavyHitters::new();
        for i in 0..100_000u64 {
            h.add(i % 1000);
        }
        assert!(!h.decremented);
        assert!(h.counters.values().all(|n| *n == 100));
    }

    #[test]
    fn a_segment_passes_on_its_top_values_sorted_by_ordinal() {
        let counts: Vec<(u64, u32)> = (0..5000u64).map(|o| (o, (o % 97) as u32 + 1)).collect();
        let (top, truncated) = top_ords(counts.clone(), 10);
        assert!(truncated);
        assert_eq!(top.len(), 10);
        assert!(top.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(top.iter().all(|(_, n)| *n == 97), "{top:?}");
        let (all, truncated) = top_ords(counts[..50].to_vec(), 1000);
        assert!(!truncated);
        assert_eq!(all, counts[..50].to_vec());
    }
}
