//! What can go wrong while searching: only internal failures (bad requests are refused by the
//! HTTP layer before a search starts).

/// A search could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The search ran past its deadline and was stopped.
    #[error("the search ran past its deadline")]
    Timeout,
    /// The index could not be read (or a stored state could not be decoded).
    #[error("tantivy: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The facet collector returned counts for another number of facets (a bug).
    #[error("facet counts: {counts} for {facets} facets")]
    FacetCounts {
        /// Counts returned.
        counts: usize,
        /// Facets asked for.
        facets: usize,
    },
}
