//! What a search is, independent of HTTP: Tantivy and `schemas` only (never axum or tower;
//! checked by `scripts/check-layout.py`).
//!
//! In the order a search runs:
//! - `request`: [`SearchParams`], [`SuggestParams`], [`Sort`], [`Facet`] — validated input.
//! - `analysis`: shopper text to words (folding, stems, typo tolerance, stop words,
//!   unit alternatives, the last word as a prefix).
//! - `expansion`: term expansion against the index — typo corrections only for words the
//!   catalog does not know, and the completions of the word being typed
//!   (`prefix_terms`, also used by suggestions).
//! - `query`: words and filters to a Tantivy query (`QueryBuilder`, [`Relevance`]; the
//!   relevance rules are in its docs).
//! - `execute`: [`search()`] — top documents, total and facets in one pass, relaxation, the
//!   phrase re-scoring window, highlights.
//! - `facets`: exact facet counts by term ordinal (`FacetCollector`).
//! - `highlight`: `<em>` around exact, stemmed, fuzzy and prefix matches.
//! - `suggest`: [`suggest()`] — brands, then titles, for every keystroke.
//! - `error`: [`SearchError`].

mod analysis;
mod error;
mod execute;
mod expansion;
mod facets;
mod highlight;
mod query;
mod request;
mod suggest;

pub use error::SearchError;
pub use execute::{search, search_with, Highlights, Hit, SearchOptions, SearchResponse};
pub use facets::FacetValue;
pub use query::Relevance;
pub use request::{Facet, ProductParams, SearchParams, Sort, SuggestParams};
pub use suggest::{suggest, SuggestResponse, Suggestion, SuggestionKind};
