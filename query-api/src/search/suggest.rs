//! As-you-type suggestions: brands whose name starts with what was typed, then product titles
//! matching the words so far (the last one as a prefix). Cheap enough for every keystroke:
//! one term-dictionary range scan and one top-10 query.

use schemas::index::normalize_keyword;
use schemas::LiveIndex;
use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::Term;

use super::analysis::{analyze, required_words};
use super::error::SearchError;
use super::execute::rescore;
use super::expansion::{expand_prefixes, prefix_terms};
use super::query::{QueryBuilder, Relevance};
use super::request::{SearchParams, SuggestParams};

/// Where a suggestion comes from.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SuggestionKind {
    /// A brand name starting with what was typed.
    Brand,
    /// The title of a product matching what was typed.
    Title,
}

/// One suggestion.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Suggestion {
    /// The text to show (and to search for when chosen).
    pub text: String,
    /// Brand or title.
    pub kind: SuggestionKind,
    /// The product a title suggestion comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
}

/// The body of `GET /suggest`.
#[derive(Debug, Clone, Serialize)]
pub struct SuggestResponse {
    /// What was typed.
    pub q: String,
    /// Brands first, then titles.
    pub suggestions: Vec<Suggestion>,
}

/// Brands shown before titles, at most.
const MAX_BRANDS: usize = 3;

/// Brands whose normalized name starts with `prefix`, most products first.
fn brands(index: &LiveIndex, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
    let searcher = index.reader.searcher();
    let field = index.fields.brand_key;
    let ranked = prefix_terms(&searcher, field, prefix.as_bytes(), usize::MAX, |_| false)?;
    let mut out = Vec::new();
    for (key, _) in ranked.into_iter().take(limit) {
        let Ok(normalized) = String::from_utf8(key) else {
            continue;
        };
        // Show the brand as a product spells it.
        let query = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(field, &normalized),
                    IndexRecordOption::Basic,
                )),
            ),
            (Occur::Must, index.visible_query()),
        ]);
        let top = searcher.search(&query, &TopDocs::with_limit(1).order_by_score())?;
        let Some((_, addr)) = top.first() else {
            continue;
        };
        let text = index
            .document(&searcher, *addr)?
            .map(|d| d.brand)
            .unwrap_or(normalized);
        out.push(Suggestion {
            text,
            kind: SuggestionKind::Brand,
            product_id: None,
        });
    }
    Ok(out)
}

/// Suggestions for `p.q`.
pub fn suggest(
    index: &LiveIndex,
    relevance: Relevance,
    p: &SuggestParams,
) -> Result<SuggestResponse, SearchError> {
    let mut words = analyze(&p.q);
    let mut suggestions = Vec::new();
    if let Some(last) = words.last_mut() {
        // While typing, every last word is a prefix, even one letter.
        last.prefix = true;
        let typed = normalize_keyword(p.q.trim());
        suggestions.extend(brands(index, &typed, MAX_BRANDS.min(p.limit))?);
    }
    if words.is_empty() {
        return Ok(SuggestResponse {
            q: p.q.clone(),
            suggestions,
        });
    }
    let searcher = index.reader.searcher();
    expand_prefixes(&mut words, &index.fields, &searcher)?;
    let builder = QueryBuilder {
        fields: &index.fields,
        relevance,
        include_canaries: false,
        live: index.values.columns.view(),
        stores: &index.values.stores,
    };
    let query = builder.query(&SearchParams::default(), &words, required_words(&words));
    let mut top = searcher.search(
        query.as_ref(),
        &TopDocs::with_limit(p.limit * 2).order_by_score(),
    )?;
    if let Some(phrase) = builder.phrase_query(&words) {
        rescore(&searcher, phrase.as_ref(), &mut top)?;
    }
    for (_, addr) in top {
        if suggestions.len() >= p.limit {
            break;
        }
        let Some(product) = index.document(&searcher, addr)? else {
            continue;
        };
        if suggestions.iter().any(|s| s.text == product.title) {
            continue;
        }
        suggestions.push(Suggestion {
            text: product.title,
            kind: SuggestionKind::Title,
            product_id: Some(product.product_id),
        });
    }
    Ok(SuggestResponse {
        q: p.q.clone(),
        suggestions,
    })
}
