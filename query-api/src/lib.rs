//! The shopper-facing read API, mounted by `indexer run` on the live index.
//!
//! A tour, by folder (each opens with its own tour; the dependency rules are checked by
//! `scripts/check-layout.py`):
//! - `http/`: the axum side — routes, query-string parsing ([`SearchParams::parse`]), the
//!   error table ([`ApiError`]), protections ([`harden`], [`HttpLimits`]) and HTTP metrics
//!   ([`HttpMetrics`]). The only place that imports axum, tower or HTTP types.
//! - `search/`: what a search is — request types, text analysis, typo and prefix term
//!   expansion, query building, execution, facets, highlights, suggestions. Tantivy and
//!   `schemas` only.
//! - `scorers/`: the two Tantivy scorers of our own (minimum-should-match over word groups,
//!   and the word group itself). Tantivy only.
//!
//! The live index handle ([`LiveIndex`], [`SharedIndex`]) comes from `schemas`, which the
//! indexer's ingestion side shares without depending on this crate.

#![warn(missing_docs)]

mod http;
mod scorers;
mod search;

pub use http::{
    error_body, harden, not_found, pairs, panic_response, router, track, ApiError, ApiState,
    HttpLimits, HttpMetrics, Missing, RequestLabels, RouteLabels, SearchSettings, MAX_ATTR_FILTERS,
    MAX_FACETS, MAX_FILTER_VALUES, MAX_Q_CHARS, MAX_RESULT_WINDOW, MAX_VALUE_BYTES,
};
pub use schemas::{LiveIndex, SharedIndex};
pub use search::{
    search, search_with, suggest, Facet, FacetValue, Highlights, Hit, Relevance, SearchError,
    SearchOptions, SearchParams, SearchResponse, Sort, SuggestParams, SuggestResponse, Suggestion,
    SuggestionKind,
};
