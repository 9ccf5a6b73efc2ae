//! From shopper text and filters to a Tantivy query, built clause by clause (never through
//! Tantivy's query parser, which has had panics and hangs on odd input).
//!
//! # Relevance
//!
//! The text is split into words with the index's own analyzer (lower-cased, ASCII-folded);
//! each word becomes a *word group*: a disjunction-max over the text fields of
//! - an exact match of the word's English stem, BM25-scored and boosted per field
//!   (title > brand > category > attributes > description, see [`Relevance`]);
//! - a fuzzy match for typos: 1 edit for words of 5 or more characters, 2 edits from 9
//!   (transpositions count as one edit), on title, brand, category and attributes. Fuzzy
//!   matches score a small constant, so an exact match always ranks above a fuzzy one.
//!   Only words the catalog does not know as typed get typo corrections: a word that at
//!   least `typo_threshold` products contain (title, brand, category or attributes) is
//!   taken as typed, as spell checkers do (Lucene's "suggest when not in index", Typesense's
//!   typo thresholds). "drill" then does not also find grills, and frequent words skip the
//!   costliest part of a query (enumerating a term dictionary through an automaton);
//! - for the last word (the one being typed), a prefix match on title, brand and category:
//!   the most frequent terms it completes to ([`expand_prefixes`]), scoring a small constant.
//!
//! All word groups must match (AND), except stop words ("with", "for"), which only add to the
//! score. When that finds nothing (or fewer than `relax_below` products), the search is run
//! again requiring fewer words (all but one, then fewer), so a shopper gets the closest
//! products instead of an empty page; in a relaxed search, products with more of the words
//! rank first. Unit words also match their catalog abbreviation ("inch" matches "in").
//! Multi-word queries get a phrase bonus on the title, added to the top of the ranking only
//! (a re-scoring window, as Elasticsearch's `rescore`): checking positions in every match of
//! two broad words cost 40% of such a search.
//!
//! Filters are exact-match clauses that do not score; every query also requires
//! `visible:true` (as "not `visible:false`", the cheaper form) and excludes canaries.

use std::collections::HashMap;
use std::ops::Bound;

use schemas::index::{normalize_keyword, text_analyzer};
use schemas::IndexFields;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, PhraseQuery, Query,
    RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{Searcher, Term};

use crate::min_match::MinMatchQuery;
use crate::params::SearchParams;
use crate::word_group::WordGroup;

/// Most query words used; more are ignored (a pasted paragraph must not build a huge query).
pub const MAX_WORDS: usize = 32;

/// Per-field weights of the text match.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Relevance {
    pub title: f32,
    pub brand: f32,
    pub category: f32,
    pub attributes: f32,
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
            relax_below: 1,
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

/// One word of the query, analyzed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// Lower-cased and ASCII-folded, as typed.
    pub folded: String,
    /// The English stem of `folded`: what the index holds.
    pub stem: String,
    /// Edits allowed for typos (0, 1 or 2).
    pub fuzziness: u8,
    /// Whether the word also matches as a prefix (the last word).
    pub prefix: bool,
    /// A stop word ("with", "for") among other words: it adds to the score but is not
    /// required.
    pub optional: bool,
    /// Other stems the word also matches exactly (unit spellings: "inch" also matches "in").
    pub alternatives: Vec<String>,
    /// For a prefix word, the index terms it completes to (see [`expand_prefixes`]).
    pub completions: Vec<Term>,
}

/// English stop words (Lucene's list): optional in queries that have other words.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Unit spellings that catalogs abbreviate: a query word also matches its abbreviation.
const UNIT_ALTERNATIVES: &[(&str, &str)] = &[
    ("inch", "in"),
    ("inches", "in"),
    ("foot", "ft"),
    ("feet", "ft"),
    ("pound", "lb"),
    ("pounds", "lb"),
    ("lbs", "lb"),
    ("ounce", "oz"),
    ("ounces", "oz"),
    ("gallon", "gal"),
    ("gallons", "gal"),
    ("quart", "qt"),
    ("volts", "v"),
    ("volt", "v"),
    ("watts", "w"),
    ("watt", "w"),
];

fn folding_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Typo tolerance by word length, in characters; none for words with digits (model numbers
/// and sizes: "1500w" must not match "1000w").
pub fn fuzziness(word: &str) -> u8 {
    if word.chars().any(|c| c.is_ascii_digit()) {
        return 0;
    }
    match word.chars().count() {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// Splits shopper text into analyzed words (at most [`MAX_WORDS`]).
pub fn analyze(text: &str) -> Vec<Word> {
    let mut folding = folding_analyzer();
    let mut stemming = text_analyzer();
    let mut words = Vec::new();
    let mut stream = folding.token_stream(text);
    while stream.advance() && words.len() < MAX_WORDS {
        let folded = stream.token().text.clone();
        let mut stem = String::new();
        {
            let mut s = stemming.token_stream(&folded);
            while s.advance() {
                stem.push_str(&s.token().text);
            }
        }
        if stem.is_empty() {
            continue;
        }
        let alternatives = UNIT_ALTERNATIVES
            .iter()
            .filter(|(word, _)| *word == folded)
            .map(|(_, alt)| (*alt).to_owned())
            .collect();
        words.push(Word {
            fuzziness: fuzziness(&folded),
            optional: STOP_WORDS.contains(&folded.as_str()),
            folded,
            stem,
            prefix: false,
            alternatives,
            completions: Vec::new(),
        });
    }
    // A query of stop words only keeps them all required.
    if words.iter().all(|w| w.optional) {
        for w in &mut words {
            w.optional = false;
        }
    }
    // The last word may be incomplete (typed as you search): it also matches as a prefix,
    // unless the text ends with a separator.
    let ends_open = text.chars().last().is_some_and(char::is_alphanumeric);
    if let Some(last) = words.last_mut() {
        last.prefix = ends_open
            && last.folded.chars().count() >= 2
            && !last.folded.chars().all(|c| c.is_ascii_digit());
    }
    words
}

/// The fields where typo corrections apply (every text field but the description).
fn typo_fields(fields: &IndexFields) -> [Field; 4] {
    [
        fields.title,
        fields.brand,
        fields.category,
        fields.attributes,
    ]
}

/// Takes the typo corrections off the words that at least `threshold` products contain as
/// typed (in a field that typos apply to); see the module notes.
pub fn drop_typos_of_known_words(
    words: &mut [Word],
    fields: &IndexFields,
    searcher: &Searcher,
    threshold: u64,
) -> tantivy::Result<()> {
    if threshold == 0 {
        return Ok(());
    }
    for word in words.iter_mut().filter(|w| w.fuzziness > 0) {
        for field in typo_fields(fields) {
            if searcher.doc_freq(&Term::from_field_text(field, &word.stem))? >= threshold {
                word.fuzziness = 0;
                break;
            }
        }
    }
    Ok(())
}

/// Completions of a word being typed kept per field: the ones most products contain
/// (Typesense's `max_candidates`, Lucene's `max_expansions`).
pub const MAX_COMPLETIONS: usize = 10;
/// Index terms scanned per field and segment for the completions of one prefix, at most
/// (a one- or two-letter prefix can start tens of thousands of terms).
const MAX_COMPLETION_SCAN: usize = 5_000;

/// Finds the completions of the prefix words: the index terms of title, brand and category
/// that start with the word as typed, other than the word itself (which the exact match
/// covers), the [`MAX_COMPLETIONS`] most frequent per field.
///
/// Expanding a prefix to every term it starts (Tantivy's prefix automaton) walks the posting
/// list of the typed word a second time when it is also a word ("set" starts "set"), and of
/// hundreds of rare terms after a short prefix; the frequent completions are the ones
/// shoppers mean, and what they cost is bounded.
pub fn expand_prefixes(
    words: &mut [Word],
    fields: &IndexFields,
    searcher: &Searcher,
) -> tantivy::Result<()> {
    for word in words.iter_mut().filter(|w| w.prefix) {
        word.completions.clear();
        let prefix = word.folded.as_bytes();
        for field in [fields.title, fields.brand, fields.category] {
            let mut counts: HashMap<Vec<u8>, u64> = HashMap::new();
            for segment in searcher.segment_readers() {
                let inverted = segment.inverted_index(field)?;
                let mut stream = inverted.terms().range().ge(prefix).into_stream()?;
                let mut scanned = 0;
                while scanned < MAX_COMPLETION_SCAN && stream.advance() {
                    let key = stream.key();
                    if !key.starts_with(prefix) {
                        break;
                    }
                    scanned += 1;
                    let exact = key == word.stem.as_bytes()
                        || word.alternatives.iter().any(|a| key == a.as_bytes());
                    if !exact {
                        *counts.entry(key.to_vec()).or_default() +=
                            u64::from(stream.value().doc_freq);
                    }
                }
            }
            let mut ranked: Vec<(Vec<u8>, u64)> = counts.into_iter().collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            word.completions.extend(
                ranked
                    .into_iter()
                    .take(MAX_COMPLETIONS)
                    .filter_map(|(key, _)| String::from_utf8(key).ok())
                    .map(|text| Term::from_field_text(field, &text)),
            );
        }
    }
    Ok(())
}

/// How many words of `words` are required (the non-optional ones).
pub fn required_words(words: &[Word]) -> usize {
    words.iter().filter(|w| !w.optional).count()
}

/// Builds the queries of a search.
pub struct QueryBuilder<'a> {
    pub fields: &'a IndexFields,
    pub relevance: Relevance,
    /// Let freshness canaries match (the canary checker only; never shoppers).
    pub include_canaries: bool,
}

impl QueryBuilder<'_> {
    fn text_fields(&self) -> [(Field, f32); 5] {
        let (f, b) = (self.fields, self.relevance);
        [
            (f.title, b.title),
            (f.brand, b.brand),
            (f.category, b.category),
            (f.attributes, b.attributes),
            (f.description, b.description),
        ]
    }

    /// The disjunction of everything one word can match.
    pub fn word_group(&self, word: &Word) -> WordGroup {
        let f = self.fields;
        let typo_fields = typo_fields(f);
        let mut disjuncts: Vec<Box<dyn Query>> = Vec::new();
        for (field, boost) in self.text_fields() {
            let term = Term::from_field_text(field, &word.stem);
            disjuncts.push(Box::new(BoostQuery::new(
                Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)),
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
            if word.fuzziness > 0 && typo_fields.contains(&field) {
                disjuncts.push(Box::new(BoostQuery::new(
                    Box::new(FuzzyTermQuery::new(term, word.fuzziness, true)),
                    boost * FUZZY_WEIGHT,
                )));
            }
            let completions: Vec<Term> = word
                .completions
                .iter()
                .filter(|t| t.field() == field)
                .cloned()
                .collect();
            if !completions.is_empty() {
                disjuncts.push(Box::new(ConstScoreQuery::new(
                    Box::new(TermSetQuery::new(completions)),
                    boost * PREFIX_WEIGHT,
                )));
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
        if p.min_price.is_some() || p.max_price.is_some() {
            let lo = p.min_price.map_or(Bound::Unbounded, |v| {
                Bound::Included(Term::from_field_u64(f.price_cents, v))
            });
            let hi = p.max_price.map_or(Bound::Unbounded, |v| {
                Bound::Included(Term::from_field_u64(f.price_cents, v))
            });
            clauses.push((Occur::Must, filter(Box::new(RangeQuery::new(lo, hi)))));
        }
        if let Some(in_stock) = p.in_stock {
            clauses.push((
                Occur::Must,
                filter(term(Term::from_field_bool(f.in_stock, in_stock))),
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

    /// The whole query: text (with `required` words) and filters. Without words, every
    /// visible product matching the filters (browse).
    pub fn query(&self, p: &SearchParams, words: &[Word], required: usize) -> BooleanQuery {
        let mut clauses = self.filters(p);
        if words.is_empty() {
            clauses.push((Occur::Must, filter(Box::new(AllQuery))));
        } else {
            clauses.push((Occur::Must, self.text_query(words, required)));
        }
        BooleanQuery::new(clauses)
    }
}

/// The term of an `attr.NAME=VALUE` filter, normalized like the indexed keyword.
pub fn attr_term(field: Field, name: &str, value: &str) -> Term {
    let mut t = Term::from_field_json_path(field, name, false);
    t.append_type_and_str(&normalize_keyword(value));
    t
}

fn term(t: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(t, IndexRecordOption::Basic))
}

/// A clause that restricts without scoring.
fn filter(q: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(q, 0.0))
}

/// How many words the relaxation steps require, after "all of them" found too little:
/// all but one, then fewer, down to one.
pub fn relaxation_steps(words: usize) -> Vec<usize> {
    (1..words).rev().collect()
}

#[cfg(test)]
mod tests {
    use tantivy::{doc, Index, IndexWriter};

    use super::*;

    #[test]
    fn a_prefix_completes_to_its_most_frequent_terms_other_than_itself() {
        let fields = IndexFields::new();
        let index = Index::create_in_ram(fields.schema.clone());
        schemas::index::register_analyzers(&index);
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        // Every title has "set"; completion i (15 of them, unchanged by the stemmer) is in
        // i + 1 titles, over two segments.
        let completions: Vec<String> = "bcdfghjklmnpqrt"
            .chars()
            .map(|c| format!("setx{c}"))
            .collect();
        for (i, c) in completions.iter().enumerate() {
            for n in 0..=i {
                writer
                    .add_document(doc!(fields.title => format!("set {c}")))
                    .unwrap();
                if n == i / 2 {
                    writer.commit().unwrap();
                }
            }
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let mut words = analyze("set");
        expand_prefixes(&mut words, &fields, &searcher).unwrap();
        let got: Vec<String> = words[0]
            .completions
            .iter()
            .map(|t| t.value().as_str().unwrap().to_owned())
            .collect();
        let most_frequent: Vec<String> = completions
            .iter()
            .rev()
            .take(MAX_COMPLETIONS)
            .cloned()
            .collect();
        assert_eq!(
            got, most_frequent,
            "most products first, not the typed word"
        );
        assert!(words[0]
            .completions
            .iter()
            .all(|t| t.field() == fields.title));

        let mut finished = analyze("set ");
        expand_prefixes(&mut finished, &fields, &searcher).unwrap();
        assert!(
            finished[0].completions.is_empty(),
            "a finished word has none"
        );
        let mut unknown = analyze("zq");
        expand_prefixes(&mut unknown, &fields, &searcher).unwrap();
        assert!(unknown[0].completions.is_empty());
    }

    #[test]
    fn words_are_folded_and_stemmed_and_the_last_is_a_prefix() {
        let words = analyze("Crème  Brûlée TORCHES sams");
        let folded: Vec<&str> = words.iter().map(|w| w.folded.as_str()).collect();
        let stems: Vec<&str> = words.iter().map(|w| w.stem.as_str()).collect();
        assert_eq!(folded, ["creme", "brulee", "torches", "sams"]);
        assert_eq!(stems, ["creme", "brule", "torch", "sam"]);
        assert_eq!(
            words.iter().map(|w| w.prefix).collect::<Vec<_>>(),
            [false, false, false, true]
        );
        assert!(
            !analyze("tv ").last().unwrap().prefix,
            "a finished word is no prefix"
        );
        assert!(
            !analyze("tv x").last().unwrap().prefix,
            "one letter is no prefix"
        );
    }

    #[test]
    fn stop_words_are_optional_and_units_have_alternatives() {
        let words = analyze("drill with 12 inch bit");
        let optional: Vec<bool> = words.iter().map(|w| w.optional).collect();
        assert_eq!(optional, [false, true, false, false, false]);
        assert_eq!(required_words(&words), 4);
        assert_eq!(words[3].alternatives, ["in"]);
        assert!(!words[2].prefix && words[2].fuzziness == 0);
        let only_stop = analyze("the with");
        assert_eq!(required_words(&only_stop), 2);
        assert!(
            !analyze("fan 12").last().unwrap().prefix,
            "numbers are no prefixes"
        );
    }

    #[test]
    fn fuzziness_follows_word_length() {
        assert_eq!(fuzziness("tv"), 0);
        assert_eq!(fuzziness("lamp"), 0);
        assert_eq!(fuzziness("drill"), 1);
        assert_eq!(fuzziness("cordless"), 1);
        assert_eq!(fuzziness("headphone"), 2);
        assert_eq!(fuzziness("1500w"), 0, "no typos in sizes and models");
    }

    #[test]
    fn long_queries_are_capped() {
        let text = "word ".repeat(100);
        assert_eq!(analyze(&text).len(), MAX_WORDS);
        assert!(analyze("  ,;- ").is_empty());
    }

    #[test]
    fn relaxation_goes_from_all_but_one_down_to_one() {
        assert_eq!(relaxation_steps(1), Vec::<usize>::new());
        assert_eq!(relaxation_steps(2), [1]);
        assert_eq!(relaxation_steps(3), [2, 1]);
        assert_eq!(relaxation_steps(5), [4, 3, 2, 1]);
    }
}
