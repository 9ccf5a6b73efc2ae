//! From shopper text and filters to a Tantivy query, built clause by clause (never through
//! Tantivy's query parser, which has had panics and hangs on odd input).
//!
//! # Relevance
//!
//! The text is split into words with the index's own analyzer (lower-cased, ASCII-folded);
//! each word becomes a *word group*: a disjunction-max over the text fields of
//! - an exact match of the word's English stem, BM25-scored and boosted per field
//!   (title > brand > category > attributes > description, see [`Relevance`]);
//! - a fuzzy match for typos: 1 edit for words of 4 or more characters, 2 edits from 9
//!   (transpositions count as one edit), of the word as typed against the words of title,
//!   brand, category and attributes as written (the `typo_words` field: not stemmed, since
//!   a misspelt word stems differently from the correct one). Fuzzy
//!   matches score a small constant, so an exact match always ranks above a fuzzy one. The
//!   corrections are found once per search, for at most 5 words, 50 terms per word and
//!   field, among the terms with the same first letter
//!   ([`expand_typos`](super::expansion::expand_typos)), and every pass reuses them.
//!   Only words the catalog does not know as typed get typo corrections: a word that at
//!   least `typo_threshold` products contain (title, brand, category or attributes) is
//!   taken as typed, as spell checkers do (Lucene's "suggest when not in index", Typesense's
//!   typo thresholds). "drill" then does not also find grills, and frequent words skip the
//!   costliest part of a query (enumerating a term dictionary through an automaton);
//! - for the last word (the one being typed), a prefix match on title, brand and category:
//!   the most frequent terms it completes to
//!   ([`expand_prefixes`](super::expansion::expand_prefixes)), scoring a small constant.
//!
//! All word groups must match (AND), except stop words ("with", "for"), which only add to the
//! score. When that finds nothing (or fewer than `relax_below` products), the search is run
//! again requiring fewer words (all but one, then fewer, but never more than the words that
//! some product holds: none at all when no word is known; the step is found by a binary
//! search over the steps, the totals only growing as fewer words are required), so a
//! shopper gets the closest
//! products instead of an empty page; in a relaxed search, products with more of the words
//! rank first. Unit words also match their catalog abbreviation ("inch" matches "in").
//! Multi-word queries get a phrase bonus on the title, added to the top of the ranking only
//! (a re-scoring window, as Elasticsearch's `rescore`): checking positions in every match of
//! two broad words cost 40% of such a search.
//!
//! Filters are exact-match clauses that do not score; every query also requires
//! `visible:true` (as "not `visible:false`", the cheaper form) and excludes canaries.

use schemas::index::normalize_keyword;
use schemas::stores::StoreStock;
use schemas::values::{ColumnsView, SegmentValues};
use schemas::IndexFields;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, PhraseQuery, Query, TermQuery,
    TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::Term;

use super::analysis::Word;
use super::expansion::text_fields;
use super::request::SearchParams;
use crate::scorers::{MinMatchQuery, PredicateQuery, WordGroup};

/// Per-field weights of the text match.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Relevance {
    /// Weight of a title match.
    pub title: f32,
    /// Weight of a brand match.
    pub brand: f32,
    /// Weight of a category match.
    pub category: f32,
    /// Weight of an attribute value match.
    pub attributes: f32,
    /// Weight of a description match.
    pub description: f32,
    /// Bonus for the words appearing as a phrase in the title.
    pub phrase: f32,
    /// Relax the text match (require fewer words) while fewer products than this match;
    /// 1 relaxes only when nothing matches.
    pub relax_below: u64,
    /// A word gets typo corrections only while fewer products than this contain it as typed
    /// (0: always).
    pub typo_threshold: u64,
}

impl Default for Relevance {
    fn default() -> Relevance {
        Relevance {
            title: 3.0,
            brand: 2.0,
            category: 1.5,
            attributes: 1.0,
            description: 0.5,
            phrase: 1.5,
            relax_below: 100,
            typo_threshold: 5,
        }
    }
}

/// Constant score of a fuzzy match, relative to the field boost (exact matches score BM25,
/// typically 1 to 10 per field).
const FUZZY_WEIGHT: f32 = 0.05;
/// Constant score of a prefix match of the last word, relative to the field boost.
const PREFIX_WEIGHT: f32 = 0.1;
/// Score bonus per matched word in relaxed queries: more than any text score.
const WORD_BONUS: f32 = 1000.0;
/// Tie breaker of the per-word disjunction over fields.
const TIE_BREAKER: f32 = 0.1;

/// Builds the queries of a search.
pub struct QueryBuilder<'a> {
    pub fields: &'a IndexFields,
    pub relevance: Relevance,
    /// Let freshness canaries match (the canary checker only; never shoppers).
    pub include_canaries: bool,
    /// The live prices and stock the price and stock filters read.
    pub live: ColumnsView,
    /// The store quantities the `pickup_store` filter reads.
    pub stores: &'a StoreStock,
}

impl QueryBuilder<'_> {
    fn text_fields(&self) -> [(Field, f32); 5] {
        let b = self.relevance;
        let [title, brand, category, attributes, description] = text_fields(self.fields);
        [
            (title, b.title),
            (brand, b.brand),
            (category, b.category),
            (attributes, b.attributes),
            (description, b.description),
        ]
    }

    /// The disjunction of everything one word can match.
    pub fn word_group(&self, word: &Word) -> WordGroup {
        let f = self.fields;
        let mut disjuncts: Vec<Box<dyn Query>> = Vec::new();
        for (field, boost) in self.text_fields() {
            let term = Term::from_field_text(field, &word.stem);
            disjuncts.push(Box::new(BoostQuery::new(
                Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
                boost,
            )));
            for alt in &word.alternatives {
                disjuncts.push(Box::new(BoostQuery::new(
                    Box::new(TermQuery::new(
                        Term::from_field_text(field, alt),
                        IndexRecordOption::WithFreqs,
                    )),
                    boost,
                )));
            }
            if let Some(completions) = term_set(&word.completions, field, boost * PREFIX_WEIGHT) {
                disjuncts.push(completions);
            }
        }
        // Typo corrections, resolved once per search (`expand_typos`) among the words as
        // written (`typo_words`): the same constant-score match as Tantivy's
        // `FuzzyTermQuery`, without walking the automaton again in every pass and segment.
        let written = self.relevance.title * PREFIX_WEIGHT;
        if let Some(completions) = term_set(&word.completions, f.typo_words, written) {
            disjuncts.push(completions);
        }
        if word.fuzziness > 0 {
            let score = self.relevance.title * FUZZY_WEIGHT;
            if let Some(typos) = term_set(&word.typos, f.typo_words, score) {
                disjuncts.push(typos);
            }
        }
        WordGroup::new(disjuncts, TIE_BREAKER)
    }

    /// The text part: at least `required` of the non-optional words (all of them when
    /// `required` is their count); optional words only add to the score.
    pub fn text_query(&self, words: &[Word], required: usize) -> Box<dyn Query> {
        let mut groups: Vec<WordGroup> = Vec::new();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for w in words {
            if w.optional {
                clauses.push((Occur::Should, Box::new(self.word_group(w))));
            } else {
                groups.push(self.word_group(w));
            }
        }
        if groups.len() == 1 {
            clauses.extend(
                groups
                    .into_iter()
                    .map(|g| -> (Occur, Box<dyn Query>) { (Occur::Must, Box::new(g)) }),
            );
        } else if required >= groups.len() {
            // All the words: the rarest is walked and the others probed at its matches.
            let all = groups.len();
            clauses.push((Occur::Must, Box::new(MinMatchQuery::new(groups, all, 0.0))));
        } else {
            // Relaxed: a product with more of the words always ranks above one with fewer
            // (each matched word adds a bonus larger than any text score), then by score.
            clauses.push((
                Occur::Must,
                Box::new(MinMatchQuery::new(groups, required, WORD_BONUS)),
            ));
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// The bonus of the words appearing as a phrase in the title (two words or more), which
    /// re-scores the top of a relevance ranking (see `search::rescore`).
    pub fn phrase_query(&self, words: &[Word]) -> Option<Box<dyn Query>> {
        if words.len() < 2 || self.relevance.phrase <= 0.0 {
            return None;
        }
        let terms: Vec<Term> = words
            .iter()
            .map(|w| Term::from_field_text(self.fields.title, &w.stem))
            .collect();
        Some(Box::new(BoostQuery::new(
            Box::new(PhraseQuery::new(terms)),
            self.relevance.phrase,
        )))
    }

    /// The non-scoring filter clauses of the parameters, plus visibility.
    pub fn filters(&self, p: &SearchParams) -> Vec<(Occur, Box<dyn Query>)> {
        let f = self.fields;
        // Excluding the few invisible products costs a walk over their short posting list;
        // requiring `visible:true` would intersect with a list of the whole catalog.
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::MustNot,
            term(Term::from_field_bool(f.visible, false)),
        )];
        if !self.include_canaries {
            clauses.push((Occur::MustNot, term(Term::from_field_bool(f.canary, true))));
        }
        if !p.brands.is_empty() {
            let terms = p
                .brands
                .iter()
                .map(|b| Term::from_field_text(f.brand_key, &normalize_keyword(b)));
            clauses.push((Occur::Must, filter(Box::new(TermSetQuery::new(terms)))));
        }
        if let Some(category) = &p.category {
            clauses.push((
                Occur::Must,
                filter(term(Term::from_field_text(f.category_prefix, category))),
            ));
        }
        if !p.seller_ids.is_empty() {
            let terms = p
                .seller_ids
                .iter()
                .map(|s| Term::from_field_text(f.seller_id, s));
            clauses.push((Occur::Must, filter(Box::new(TermSetQuery::new(terms)))));
        }
        for (name, values) in &p.attrs {
            let terms = values.iter().map(|v| attr_term(f.attr, name, v));
            clauses.push((Occur::Must, filter(Box::new(TermSetQuery::new(terms)))));
        }
        clauses
    }

    /// The live price and stock filter of the parameters (issue #15), if any: the price
    /// and stock of now, not of the last re-index. Applied to the candidates of the rest of
    /// the query ([`PredicateQuery`]).
    fn live_filter(&self, p: &SearchParams) -> Option<crate::scorers::SegmentPredicate> {
        if p.min_price.is_none() && p.max_price.is_none() && p.in_stock.is_none() {
            return None;
        }
        let (lo, hi, in_stock) = (p.min_price, p.max_price, p.in_stock);
        let live = self.live.clone();
        Some(std::sync::Arc::new(move |segment| {
            let values = SegmentValues::new(segment, live.clone());
            Box::new(move |doc| {
                let price = values.price(doc);
                let priced = lo.is_none() && hi.is_none()
                    || price.is_some_and(|v| {
                        lo.is_none_or(|lo| v >= lo) && hi.is_none_or(|hi| v <= hi)
                    });
                priced && in_stock.is_none_or(|s| s == price.is_some())
            })
        }))
    }

    /// The whole query: text (with `required` words) and filters. Without words, every
    /// visible product matching the filters (browse).
    pub fn query(&self, p: &SearchParams, words: &[Word], required: usize) -> Box<dyn Query> {
        let mut clauses = self.filters(p);
        if words.is_empty() {
            clauses.push((Occur::Must, filter(Box::new(AllQuery))));
        } else {
            clauses.push((Occur::Must, self.text_query(words, required)));
        }
        let mut query: Box<dyn Query> = Box::new(BooleanQuery::new(clauses));
        if let Some(predicate) = self.live_filter(p) {
            query = Box::new(PredicateQuery::new("live_price_stock", query, predicate));
        }
        if let Some(predicate) = self.pickup_filter(p) {
            query = Box::new(PredicateQuery::new("pickup_store", query, predicate));
        }
        query
    }

    /// The `pickup_store` filter (issue #15 part B), if any: products in stock at one of
    /// the stores now, read from the availability bits by slot (see `schemas::stores`).
    fn pickup_filter(&self, p: &SearchParams) -> Option<crate::scorers::SegmentPredicate> {
        if p.pickup_stores.is_empty() {
            return None;
        }
        let view = self.stores.view(&p.pickup_stores);
        Some(std::sync::Arc::new(move |segment| {
            let slot = segment.fast_fields().u64(schemas::index::names::SLOT).ok();
            let view = view.clone();
            Box::new(move |doc| {
                slot.as_ref()
                    .and_then(|c| c.first(doc))
                    .is_some_and(|s| view.any(s))
            })
        }))
    }
}

/// The term of an `attr.NAME=VALUE` filter, normalized like the indexed keyword.
pub fn attr_term(field: Field, name: &str, value: &str) -> Term {
    let mut t = Term::from_field_json_path(field, name, false);
    t.append_type_and_str(&normalize_keyword(value));
    t
}

/// A constant-score match of the `terms` of `field`, if any.
fn term_set(terms: &[Term], field: Field, score: f32) -> Option<Box<dyn Query>> {
    let terms: Vec<Term> = terms
        .iter()
        .filter(|t| t.field() == field)
        .cloned()
        .collect();
    (!terms.is_empty()).then(|| -> Box<dyn Query> {
        Box::new(ConstScoreQuery::new(
            Box::new(TermSetQuery::new(terms)),
            score,
        ))
    })
}

fn term(t: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(t, IndexRecordOption::Basic))
}

/// A clause that restricts without scoring.
fn filter(q: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(q, 0.0))
}

/// How many words the relaxation steps require, after "all of them" found too little:
/// all but one, then fewer, down to one; never more than the `can_match` words that some
/// product holds (a step requiring more finds nothing, for any catalog), so a query of
/// unknown words runs no relaxation pass at all.
pub fn relaxation_steps(words: usize, can_match: usize) -> Vec<usize> {
    (1..words.min(can_match + 1)).rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relaxation_goes_from_all_but_one_down_to_one() {
        assert_eq!(relaxation_steps(1, 1), Vec::<usize>::new());
        assert_eq!(relaxation_steps(2, 2), [1]);
        assert_eq!(relaxation_steps(3, 3), [2, 1]);
        assert_eq!(relaxation_steps(5, 5), [4, 3, 2, 1]);
    }

    #[test]
    fn relaxation_never_requires_more_words_than_can_match() {
        assert_eq!(
            relaxation_steps(5, 0),
            Vec::<usize>::new(),
            "nothing matched"
        );
        assert_eq!(relaxation_steps(32, 0), Vec::<usize>::new());
        assert_eq!(relaxation_steps(5, 2), [2, 1]);
        assert_eq!(relaxation_steps(5, 4), [4, 3, 2, 1]);
        assert_eq!(relaxation_steps(32, 1), [1]);
    }
}
