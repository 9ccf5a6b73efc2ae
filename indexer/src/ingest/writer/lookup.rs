//! Where a product's committed merge state is found when an event touches it: an LRU cache of
//! recently committed states, then the index itself (the `state` stored field). Memory stays
//! bounded by the cache size whatever the catalog size.
//!
//! A stored state this build cannot read (corrupt bytes, a state written by a newer
//! version) stops the pipeline ([`LookupError::Unreadable`], naming the product): merging
//! the next events into an empty state and committing it would silently overwrite the
//! product with a state that lacks every record before them. The pipeline restarts and
//! fails again at the same product until the index is rebuilt from the log (`indexer
//! reindex --force` online, `indexer rebuild` offline), which repairs it; searches keep
//! being served meanwhile (the product itself fails to render, as an index error).

use std::num::NonZeroUsize;

use lru::LruCache;
use schemas::values::{OfferValues, Overlay};
use schemas::{LiveIndex, StoredStateError};
use tantivy::Searcher;

use crate::ingest::merge::{DecodeStateError, ProductState};

/// A committed state could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The index could not be read.
    #[error("index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The stored state of a product is not one this build reads.
    #[error("the stored merge state of product {product_id:?} is unreadable ({error}); ingestion stops there rather than overwrite it with a state made of later events only; repair it by rebuilding the index from the log: `indexer reindex --force` (online) or `indexer rebuild` (offline)")]
    Unreadable {
        /// The product.
        product_id: String,
        /// Why its state does not decode.
        error: DecodeStateError,
    },
}

/// Committed states, cached, and the searcher they are read back with.
pub(super) struct StateLookup {
    cache: LruCache<String, ProductState>,
    searcher: Searcher,
}

impl StateLookup {
    /// Keeps up to `entries` states of `live` in memory.
    pub fn new(live: &LiveIndex, entries: usize) -> StateLookup {
        let size = NonZeroUsize::new(entries.max(1)).unwrap_or(NonZeroUsize::MIN);
        StateLookup {
            cache: LruCache::new(size),
            searcher: live.reader.searcher(),
        }
    }

    /// Reads what the last commit made visible.
    pub fn refresh(&mut self, live: &LiveIndex) {
        self.searcher = live.reader.searcher();
    }

    /// The searcher of the last refresh.
    pub fn searcher(&self) -> &Searcher {
        &self.searcher
    }

    /// The current state of `product_id` (taken out of the cache: it is about to become
    /// pending), or a new one. `live` gives the product's live records (see
    /// `schemas::values`), put over the stored state when it is read from the index.
    pub fn take(
        &mut self,
        index: &LiveIndex,
        product_id: &str,
        live: impl FnOnce() -> Option<Vec<OfferValues>>,
    ) -> Result<ProductState, LookupError> {
        if let Some(state) = self.cache.pop(product_id) {
            return Ok(state);
        }
        self.load(index, product_id, live)
    }

    fn load(
        &self,
        index: &LiveIndex,
        product_id: &str,
        live: impl FnOnce() -> Option<Vec<OfferValues>>,
    ) -> Result<ProductState, LookupError> {
        load_with(index, &self.searcher, product_id, live)
    }

    /// The current state of `product_id`, left in the cache (the live path changes it in
    /// place: it is not pending).
    pub fn get_mut(
        &mut self,
        index: &LiveIndex,
        product_id: &str,
        live: impl FnOnce() -> Option<Vec<OfferValues>>,
    ) -> Result<&mut ProductState, LookupError> {
        let searcher = &self.searcher;
        // By reference: the key is copied only when the state is not cached.
        self.cache
            .try_get_or_insert_mut_ref(product_id, || load_with(index, searcher, product_id, live))
    }

    /// Caches a state just committed.
    pub fn keep(&mut self, product_id: String, state: ProductState) {
        self.cache.put(product_id, state);
    }
}

/// The stored state of `product_id` (or a new one) with its live records put over it.
fn load_with(
    index: &LiveIndex,
    searcher: &Searcher,
    product_id: &str,
    live: impl FnOnce() -> Option<Vec<OfferValues>>,
) -> Result<ProductState, LookupError> {
    let mut state =
        load_state(index, searcher, product_id)?.unwrap_or_else(|| ProductState::new(product_id));
    if let Some(offers) = live() {
        Overlay::apply(&mut state, &offers);
    }
    Ok(state)
}

/// Reads a product's committed merge state back from the index (`None`: never stored). An
/// unreadable state is an error, never an empty state (see the module docs).
pub fn load_state(
    live: &LiveIndex,
    searcher: &Searcher,
    product_id: &str,
) -> Result<Option<ProductState>, LookupError> {
    let Some(addr) = live.find_product(searcher, product_id)? else {
        return Ok(None);
    };
    match live.stored_state(searcher, addr) {
        Ok(state) => Ok(Some(state)),
        Err(StoredStateError::Index(e)) => Err(e.into()),
        Err(StoredStateError::Decode(error)) => Err(LookupError::Unreadable {
            product_id: product_id.to_owned(),
            error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use tantivy::TantivyDocument;

    use super::*;
    use crate::store::{create_index, serve, Generation};

    /// An index holding product `p1` with `state` as its stored state bytes.
    fn index_with_state(dir: &std::path::Path, state: &[u8]) -> LiveIndex {
        let index = create_index(dir).unwrap();
        let live = serve(index, dir.to_owned(), Generation::FIRST).unwrap();
        let mut writer = live.index.writer_with_num_threads(1, 15 << 20).unwrap();
        let mut doc = TantivyDocument::default();
        doc.add_text(live.fields.product_id, "p1");
        doc.add_bytes(live.fields.state, state);
        writer.add_document(doc).unwrap();
        writer.commit().unwrap();
        live.reader.reload().unwrap();
        live
    }

    /// Regression (issue #14): an unreadable state used to be logged and replaced by an
    /// empty one, which the next commit wrote over the product.
    #[test]
    fn an_unreadable_state_is_an_error_naming_the_product_never_an_empty_state() {
        for (bytes, what) in [
            (&[99u8, 1, 2][..], "a state format from a newer version"),
            (&[2u8, 0xff, 0xff, 0xff][..], "corrupt bytes"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let live = index_with_state(dir.path(), bytes);
            let mut lookup = StateLookup::new(&live, 16);
            match lookup.take(&live, "p1", || None) {
                Err(LookupError::Unreadable { product_id, .. }) => assert_eq!(product_id, "p1"),
                other => panic!("{what}: {other:?}"),
            }
            let error = lookup.take(&live, "p1", || None).unwrap_err().to_string();
            assert!(
                error.contains("\"p1\"") && error.contains("indexer reindex --force"),
                "{error}"
            );
            assert_eq!(
                lookup.take(&live, "p2", || None).unwrap(),
                ProductState::new("p2"),
                "a product never stored starts empty"
            );
        }
    }
}
