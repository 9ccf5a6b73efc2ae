//! Where a product's committed merge state is found when an event touches it: an LRU cache of
//! recently committed states, then the index itself (the `state` stored field). Memory stays
//! bounded by the cache size whatever the catalog size.

use std::num::NonZeroUsize;

use lru::LruCache;
use schemas::{LiveIndex, StoredStateError};
use tantivy::Searcher;

use crate::ingest::merge::ProductState;

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

    /// The committed state of `product_id` (taken out of the cache: it is about to become
    /// pending), or a new one.
    pub fn take(&mut self, live: &LiveIndex, product_id: &str) -> tantivy::Result<ProductState> {
        if let Some(state) = self.cache.pop(product_id) {
            return Ok(state);
        }
        Ok(load_state(live, &self.searcher, product_id)?
            .unwrap_or_else(|| ProductState::new(product_id)))
    }

    /// Caches a state just committed.
    pub fn keep(&mut self, product_id: String, state: ProductState) {
        self.cache.put(product_id, state);
    }
}

/// Reads a product's committed merge state back from the index. An unreadable state is
/// logged and the product starts over from its next events (recover it with a reindex).
pub fn load_state(
    live: &LiveIndex,
    searcher: &Searcher,
    product_id: &str,
) -> tantivy::Result<Option<ProductState>> {
    let Some(addr) = live.find_product(searcher, product_id)? else {
        return Ok(None);
    };
    match live.stored_state(searcher, addr) {
        Ok(state) => Ok(Some(state)),
        Err(StoredStateError::Index(e)) => Err(e),
        Err(StoredStateError::Decode(e)) => {
            tracing::error!(product_id, error = %e, "stored merge state unreadable; the product starts over from the next events (reindex to recover it)");
            Ok(None)
        }
    }
}
