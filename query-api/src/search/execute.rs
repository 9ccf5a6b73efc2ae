//! Running a search: relevance or sorted top documents, total count and facets in one pass
//! over the index, relaxing the text match when the strict query finds nothing.

use std::time::Instant;

use schemas::ProductDocument;
use serde::Serialize;
use tantivy::collector::{Collector, Count, TopDocs};
use tantivy::query::{EnableScoring, Query, Scorer};
use tantivy::{DocAddress, DocSet, Score, Searcher, SegmentReader};

use schemas::values::{ColumnsView, SegmentValues};
use schemas::LiveIndex;

use super::analysis::{analyze, required_words, Word};
use super::error::SearchError;
use super::expansion::{expand_prefixes, expand_typos};
use super::facets::{self, FacetCollector};
use super::highlight::highlight;
use super::query::{relaxation_steps, QueryBuilder, Relevance};
use super::request::{Facet, SearchParams, Sort};
use crate::scorers::{Deadline, DeadlineQuery};

/// What matched in one hit.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Highlights {
    /// The title with matched words in `<em>` (HTML-escaped); absent when no word matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// One product of a page of results.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Hit {
    /// Its relevance score.
    pub score: Score,
    /// The merged document.
    pub product: ProductDocument,
    /// What matched.
    pub highlights: Highlights,
}

/// The body of `GET /search`.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResponse {
    /// Products matching, over all pages.
    pub total: u64,
    /// The page shown, from 1.
    pub page: u64,
    /// Hits per page.
    pub per_page: u64,
    /// The page's products.
    pub hits: Vec<Hit>,
    /// Facets in request order (a JSON object; serde_json keeps insertion order off, so
    /// clients should look values up by key).
    pub facets: serde_json::Map<String, serde_json::Value>,
    /// Time spent searching, in milliseconds.
    pub took_ms: u64,
    /// True when no product had all the words and fewer were required.
    pub relaxed: bool,
    /// How many query words each hit contains at least: fewer than `words` when no product
    /// has them all (`relaxed`) or when fewer than `--relax-below` do (those rank first).
    pub matched_words: usize,
    /// Products with every word (with the filters); equals `total` unless fewer words were
    /// required.
    pub total_all_words: u64,
    /// Words of the query that were used (stems), for debugging relevance.
    pub words: usize,
    /// Facets whose counts may be under-counted (more distinct values than are counted
    /// exactly, e.g. `attr.sku`; see the facets module); absent when every count is exact.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub facets_approximate: Vec<String>,
}

/// Sort key of the sorted orders: the sorted value, then the relevance score.
type SortKey = (u64, Score);

/// Makes the key of each order, larger first, from the live values (issue #15).
fn sort_key_fn(
    sort: Sort,
    live: ColumnsView,
) -> impl Fn(&SegmentReader) -> Box<dyn Fn(tantivy::DocId, Score) -> SortKey> + Send + Sync + 'static
{
    move |segment: &SegmentReader| {
        let values = SegmentValues::new(segment, live.clone());
        Box::new(move |doc, score| {
            let v = values.values(doc);
            let key = match (sort, v.price_cents) {
                // Cheaper first, products without a price last.
                (Sort::PriceAsc, Some(p)) => u64::MAX - p,
                // Dearer first (+1 so a price of 0 still ranks above no price).
                (Sort::PriceDesc, Some(p)) => p.saturating_add(1),
                (Sort::Newest, _) => v.updated_at,
                _ => 0,
            };
            (key, score)
        })
    }
}

struct Page {
    total: u64,
    top: Vec<(Score, DocAddress)>,
    facets: Vec<facets::FacetResult>,
}

/// How many of the top products of a relevance ranking the title phrase bonus re-scores
/// (Elasticsearch's rescore `window_size`).
pub const RESCORE_WINDOW: usize = 100;

/// Adds the score of `query` (the phrase bonus) to the hits it matches and re-sorts them.
/// Only increases scores: re-scoring the top `n` of a ranking keeps them above the rest.
pub fn rescore(
    searcher: &Searcher,
    query: &dyn Query,
    hits: &mut [(Score, DocAddress)],
) -> tantivy::Result<()> {
    let weight = query.weight(EnableScoring::enabled_from_searcher(searcher))?;
    let mut by_doc: Vec<usize> = (0..hits.len()).collect();
    by_doc.sort_by_key(|&i| hits[i].1);
    let mut scorer: Option<(u32, Box<dyn Scorer>)> = None;
    for i in by_doc {
        let addr = hits[i].1;
        let mut current = match scorer.take() {
            Some((segment, s)) if segment == addr.segment_ord => s,
            _ => weight.scorer(searcher.segment_reader(addr.segment_ord), 1.0)?,
        };
        if current.doc() <= addr.doc_id && current.seek(addr.doc_id) == addr.doc_id {
            hits[i].0 += current.score();
        }
        scorer = Some((addr.segment_ord, current));
    }
    hits.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Ok(())
}

fn collect_page(
    searcher: &Searcher,
    query: &dyn Query,
    phrase: Option<&dyn Query>,
    p: &SearchParams,
    sort: Sort,
    live: &ColumnsView,
) -> Result<Page, SearchError> {
    // A relevance ranking with a phrase bonus collects at least the re-scoring window.
    let window = match (sort, phrase) {
        (Sort::Relevance, Some(_)) => RESCORE_WINDOW,
        _ => 0,
    };
    let end = p.offset() + p.per_page as usize;
    let limit = if window > 0 {
        TopDocs::with_limit(end.max(window))
    } else {
        TopDocs::with_limit(p.per_page as usize).and_offset(p.offset())
    };
    let aggs = (!p.facets.is_empty()).then(|| FacetCollector::new(&p.facets, live.clone()));
    fn run<C>(
        searcher: &Searcher,
        query: &dyn Query,
        top: C,
        aggs: Option<FacetCollector>,
    ) -> tantivy::Result<(C::Fruit, usize, Option<Vec<facets::Counts>>)>
    where
        C: Collector,
    {
        searcher.search(query, &(top, Count, aggs))
    }
    let (top, total, aggregations) = match sort {
        Sort::Relevance => {
            let (top, total, aggs) = run(searcher, query, limit.order_by_score(), aggs)?;
            (top, total, aggs)
        }
        sorted => {
            let (top, total, aggs) = run(
                searcher,
                query,
                limit.tweak_score(sort_key_fn(sorted, live.clone())),
                aggs,
            )?;
            let top = top.into_iter().map(|((_, s), addr)| (s, addr)).collect();
            (top, total, aggs)
        }
    };
    let facets = match aggregations {
        Some(results) => facets::response(&p.facets, results)?,
        None => Vec::new(),
    };
    let mut top = top;
    if let Some(phrase) = phrase.filter(|_| window > 0) {
        let rescored = top.len().min(window);
        rescore(searcher, phrase, &mut top[..rescored])?;
        top = top
            .into_iter()
            .skip(p.offset())
            .take(p.per_page as usize)
            .collect();
    }
    Ok(Page {
        total: total as u64,
        top,
        facets,
    })
}

/// How a search runs, beyond its parameters.
#[derive(Debug, Clone, Default)]
pub struct SearchOptions {
    /// Let freshness canaries match (the canary checker only; never shoppers).
    pub include_canaries: bool,
    /// Stop and answer [`SearchError::Timeout`] past this instant (checked inside the
    /// search, so the work stops too, not only the wait).
    pub deadline: Option<Instant>,
}

/// Runs a search on `index`.
pub fn search(
    index: &LiveIndex,
    relevance: Relevance,
    p: &SearchParams,
) -> Result<SearchResponse, SearchError> {
    search_with(index, relevance, p, &SearchOptions::default())
}

/// [`search`] with options: a deadline, canaries.
pub fn search_with(
    index: &LiveIndex,
    relevance: Relevance,
    p: &SearchParams,
    options: &SearchOptions,
) -> Result<SearchResponse, SearchError> {
    let started = Instant::now();
    let deadline = Deadline::new(options.deadline);
    let searcher = index.reader.searcher();
    let words = query_words(index, &searcher, relevance, &p.q, &deadline)?;
    let builder = QueryBuilder {
        fields: &index.fields,
        relevance,
        include_canaries: options.include_canaries,
        live: index.values.columns.view(),
        stores: &index.values.stores,
    };
    // Browsing without words has no relevance: show the newest first.
    let sort = if words.is_empty() && p.sort == Sort::Relevance {
        Sort::Newest
    } else {
        p.sort
    };
    let all = required_words(&words);
    let (mut page, required, total_all_words) =
        collect_relaxing(&searcher, &builder, &words, p, sort, &deadline)?;
    disjunctive_facets(
        &searcher,
        &builder,
        &words,
        p,
        required,
        &deadline,
        &mut page.facets,
    )?;
    let hits = render_hits(index, &searcher, page.top, &words, &p.pickup_stores)?;
    let facets_approximate = page
        .facets
        .iter()
        .filter(|(_, _, approximate)| *approximate)
        .map(|(k, _, _)| k.clone())
        .collect();
    let facets = page
        .facets
        .into_iter()
        .map(|(k, v, _)| (k, serde_json::to_value(v).unwrap_or_default()))
        .collect();
    Ok(SearchResponse {
        total: page.total,
        page: p.page,
        per_page: p.per_page,
        hits,
        facets,
        took_ms: started.elapsed().as_millis() as u64,
        relaxed: required < all && total_all_words == 0,
        matched_words: required,
        total_all_words,
        words: words.len(),
        facets_approximate,
    })
}

/// The words of `q`, with typo corrections only where the catalog does not know them and
/// the completions of the word being typed.
fn query_words(
    index: &LiveIndex,
    searcher: &Searcher,
    relevance: Relevance,
    q: &str,
    deadline: &Deadline,
) -> Result<Vec<Word>, SearchError> {
    let mut words: Vec<Word> = analyze(q);
    expand_typos(
        &mut words,
        &index.fields,
        searcher,
        relevance.typo_threshold,
        deadline,
    )?;
    expand_prefixes(&mut words, &index.fields, searcher)?;
    if deadline.expired() {
        return Err(SearchError::Timeout);
    }
    Ok(words)
}

/// The page with every word required, or, while fewer than `relax_below` products match,
/// with fewer words required (all but one, then fewer). Returns the page, how many words
/// its products match and how many products match every word.
fn collect_relaxing(
    searcher: &Searcher,
    builder: &QueryBuilder<'_>,
    words: &[Word],
    p: &SearchParams,
    sort: Sort,
    deadline: &Deadline,
) -> Result<(Page, usize, u64), SearchError> {
    let relax_below = builder.relevance.relax_below.max(1);
    let all = required_words(words);
    let can_match = words
        .iter()
        .filter(|w| !w.optional && w.can_match())
        .count();
    let mut required = all;
    let phrase = builder.phrase_query(words);
    let phrase = phrase.as_deref();
    let pass = |required: usize| -> Result<Page, SearchError> {
        let query = DeadlineQuery::new(builder.query(p, words, required), deadline.clone());
        let page = collect_page(searcher, &query, phrase, p, sort, &builder.live)?;
        if deadline.expired() {
            return Err(SearchError::Timeout);
        }
        Ok(page)
    };
    let mut page = pass(required)?;
    let total_all_words = page.total;
    let steps = relaxation_steps(all, can_match);
    if page.total < relax_below {
        if let Some((step, relaxed)) =
            relaxation_step(&steps, |page: &Page| page.total >= relax_below, pass)?
        {
            page = relaxed;
            required = step;
        }
    }
    Ok((page, required, total_all_words))
}

/// Multi-select facets (issue #16 item 3): a facet whose own filter is set counts over the
/// products matching every *other* filter (`brand` counts ignore `brand=`, `price` ignores
/// `min_price`/`max_price`, ...), so ticking a second brand keeps the first's count and
/// shows the others; `category` then shows the children and the siblings of the selected
/// path. Hits and `total` apply every filter. One extra pass per such facet, counting that
/// facet only, with the text match of the page (the same words required), as
/// Elasticsearch's `post_filter` pattern and Algolia's disjunctive faceting do. Replaces
/// the page's counts of those facets (request order).
fn disjunctive_facets(
    searcher: &Searcher,
    builder: &QueryBuilder<'_>,
    words: &[Word],
    p: &SearchParams,
    required: usize,
    deadline: &Deadline,
    facets: &mut [facets::FacetResult],
) -> Result<(), SearchError> {
    for (i, facet) in p.facets.iter().enumerate() {
        let Some(others) = p.without_filter_of(facet) else {
            continue;
        };
        let query = DeadlineQuery::new(builder.query(&others, words, required), deadline.clone());
        let one = std::slice::from_ref(facet);
        let mut counts =
            searcher.search(&query, &FacetCollector::new(one, builder.live.clone()))?;
        if deadline.expired() {
            return Err(SearchError::Timeout);
        }
        if let (Facet::Category, Some(selected), Some(c)) = (facet, &p.category, counts.first_mut())
        {
            facets::category_neighbourhood(c, selected);
        }
        if let (Some(result), Some(slot)) =
            (facets::response(one, counts)?.pop(), facets.get_mut(i))
        {
            *slot = result;
        }
    }
    Ok(())
}

/// The first of `steps` (fewer words required at each) whose result is `enough`, or the last
/// step's result when none is; `None` without steps. Requiring fewer words never matches
/// fewer products, so `enough` can only turn true along the steps and a binary search finds
/// the same step as trying them one by one, in about log2(steps) + 1 passes instead of up
/// to 31.
fn relaxation_step<P, E>(
    steps: &[usize],
    enough: impl Fn(&P) -> bool,
    mut pass: impl FnMut(usize) -> Result<P, E>,
) -> Result<Option<(usize, P)>, E> {
    let Some(last) = steps.len().checked_sub(1) else {
        return Ok(None);
    };
    let (mut lo, mut hi) = (0, last);
    let mut best: Option<(usize, P)> = None;
    while lo < hi {
        let mid = (lo + hi) / 2;
        let tried = pass(steps[mid])?;
        if enough(&tried) {
            hi = mid;
            best = Some((mid, tried));
        } else {
            lo = mid + 1;
        }
    }
    let result = match best {
        Some((i, tried)) if i == lo => tried,
        _ => pass(steps[lo])?,
    };
    Ok(Some((steps[lo], result)))
}

/// The documents of the page's hits, with their highlights.
fn render_hits(
    index: &LiveIndex,
    searcher: &Searcher,
    top: Vec<(Score, DocAddress)>,
    words: &[Word],
    pickup_stores: &[String],
) -> Result<Vec<Hit>, SearchError> {
    let mut hits = Vec::with_capacity(top.len());
    for (score, addr) in top {
        if let Some(product) = index.document_at_stores(searcher, addr, pickup_stores)? {
            let title = highlight(&product.title, words);
            hits.push(Hit {
                score,
                product,
                highlights: Highlights { title },
            });
        }
    }
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::relaxation_step;

    /// The definition: try the steps one by one, stop at the first that is enough.
    fn linear(steps: &[usize], totals: &[u64], below: u64) -> Option<(usize, u64)> {
        let mut last = None;
        for (i, step) in steps.iter().enumerate() {
            last = Some((*step, totals[i]));
            if totals[i] >= below {
                break;
            }
        }
        last
    }

    proptest! {
        #[test]
        fn the_binary_search_finds_the_step_of_the_linear_one(
            n in 0usize..32,
            increments in proptest::collection::vec(0u64..5, 32),
            below in 1u64..40,
        ) {
            let steps: Vec<usize> = (1..=n).rev().collect();
            // Totals only grow as fewer words are required.
            let totals: Vec<u64> = increments[..n]
                .iter()
                .scan(0, |t, i| { *t += i; Some(*t) })
                .collect();
            let mut passes = 0;
            let got = relaxation_step(&steps, |t: &u64| *t >= below, |step| {
                passes += 1;
                Ok::<u64, ()>(totals[n - step])
            }).unwrap();
            prop_assert_eq!(got, linear(&steps, &totals, below));
            let bound = (usize::BITS - n.leading_zeros()) as usize + 1;
            prop_assert!(passes <= bound, "{} passes for {} steps", passes, n);
        }
    }
}
