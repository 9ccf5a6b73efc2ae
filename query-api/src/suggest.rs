//! As-you-type suggestions: brands whose name starts with what was typed, then product titles
//! matching the words so far (the last one as a prefix). Cheap enough for every keystroke:
//! one term-dictionary range scan and one top-10 query.

use std::collections::BTreeMap;

use schemas::index::normalize_keyword;
use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::Term;

use crate::error::ApiError;
use crate::index::LiveIndex;
use crate::params::{SearchParams, SuggestParams};
use crate::query::{analyze, QueryBuilder, Relevance};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SuggestionKind {
    Brand,
    Title,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Suggestion {
    pub text: String,
    pub kind: SuggestionKind,
    /// The product a title suggestion comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SuggestResponse {
    pub q: String,
    pub suggestions: Vec<Suggestion>,
}

/// Brands shown before titles, at most.
const MAX_BRANDS: usize = 3;

/// Brands whose normalized name starts with `prefix`, most products first.
fn brands(index: &LiveIndex, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, ApiError> {
    let searcher = index.reader.searcher();
    let field = index.fields.brand_key;
    let mut counts: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(field)?;
        let mut stream = inverted
            .terms()
            .range()
            .ge(prefix.as_bytes())
            .into_stream()?;
        while stream.advance() {
            let key = stream.key();
            if !key.starts_with(prefix.as_bytes()) {
                break;
            }
            *counts.entry(key.to_vec()).or_default() += u64::from(stream.value().doc_freq);
        }
    }
    let mut ranked: Vec<(Vec<u8>, u64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
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
) -> Result<SuggestResponse, ApiError> {
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
    crate::query::expand_prefixes(&mut words, &index.fields, &searcher)?;
    let builder = QueryBuilder {
        fields: &index.fields,
        relevance,
        include_canaries: false,
    };
    let query = builder.query(
        &SearchParams::default(),
        &words,
        crate::query::required_words(&words),
    );
    let mut top = searcher.search(&query, &TopDocs::with_limit(p.limit * 2).order_by_score())?;
    if let Some(phrase) = builder.phrase_query(&words) {
        crate::search::rescore(&searcher, phrase.as_ref(), &mut top)?;
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
