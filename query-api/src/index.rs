//! The live index as the API sees it: a Tantivy index, its reader, and the resolved fields,
//! behind an atomically swappable handle.
//!
//! The indexer owns the writer and reloads the reader right after each commit, so a search
//! that starts after a commit returns sees it. A full reindex builds another index and swaps
//! the handle ([`SharedIndex::swap`]): searches already running keep the `Arc` of the old index
//! until they finish; new ones get the new index. Nothing in between is ever visible.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use schemas::{IndexFields, ProductDocument, ProductState};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{DocAddress, Index, IndexReader, Searcher, TantivyDocument, Term};

/// One open index.
pub struct LiveIndex {
    pub index: Index,
    pub reader: IndexReader,
    pub fields: IndexFields,
    /// Where the index lives on disk (`None` in memory).
    pub path: Option<PathBuf>,
    /// Increases with every swap; tells apart the index generations.
    pub generation: u64,
    /// Set when the index was swapped out: its directory, deleted when the last request
    /// holding this index finishes.
    pub retired: Mutex<Option<PathBuf>>,
}

impl Drop for LiveIndex {
    fn drop(&mut self) {
        let retired = self
            .retired
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(path) = retired {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => tracing::info!(path = %path.display(), "swapped-out index deleted"),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot delete a swapped-out index; it is removed at the next start")
                }
            }
        }
    }
}

impl std::fmt::Debug for LiveIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveIndex")
            .field("path", &self.path)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl LiveIndex {
    /// An index to serve, without a directory to delete.
    pub fn new(
        index: Index,
        reader: IndexReader,
        fields: IndexFields,
        path: Option<PathBuf>,
        generation: u64,
    ) -> LiveIndex {
        LiveIndex {
            index,
            reader,
            fields,
            path,
            generation,
            retired: Mutex::new(None),
        }
    }

    /// Deletes this index's directory once nothing uses the index any more.
    pub fn retire(&self) {
        if let Some(path) = &self.path {
            *self
                .retired
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(path.clone());
        }
    }

    /// The query matching the visible product with this id.
    pub fn product_query(&self, product_id: &str) -> BooleanQuery {
        let f = &self.fields;
        let id: Box<dyn Query> = Box::new(TermQuery::new(
            Term::from_field_text(f.product_id, product_id),
            IndexRecordOption::Basic,
        ));
        BooleanQuery::new(vec![(Occur::Must, id), (Occur::Must, self.visible_query())])
    }

    /// The filter every shopper-facing query carries.
    pub fn visible_query(&self) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_bool(self.fields.visible, true),
            IndexRecordOption::Basic,
        ))
    }

    /// The merged document of a visible product.
    pub fn product(&self, product_id: &str) -> tantivy::Result<Option<ProductDocument>> {
        let searcher = self.reader.searcher();
        let hits = searcher.search(
            &self.product_query(product_id),
            &TopDocs::with_limit(1).order_by_score(),
        )?;
        let Some((_, addr)) = hits.first() else {
            return Ok(None);
        };
        self.document(&searcher, *addr)
    }

    /// The merged document of the index document at `addr` (`None` when not visible).
    pub fn document(
        &self,
        searcher: &Searcher,
        addr: DocAddress,
    ) -> tantivy::Result<Option<ProductDocument>> {
        let doc: TantivyDocument = searcher.doc(addr)?;
        let bytes = doc
            .get_first(self.fields.state)
            .and_then(|v| v.as_bytes())
            .unwrap_or_default();
        let state = ProductState::decode(bytes).map_err(|e| {
            tantivy::TantivyError::InternalError(format!("stored product state: {e}"))
        })?;
        Ok(state.render())
    }

    /// Number of visible products (freshness canaries aside).
    pub fn visible_count(&self, searcher: &Searcher) -> tantivy::Result<u64> {
        let query = BooleanQuery::new(vec![
            (Occur::Must, self.visible_query()),
            (
                Occur::MustNot,
                Box::new(TermQuery::new(
                    Term::from_field_bool(self.fields.canary, true),
                    IndexRecordOption::Basic,
                )),
            ),
        ]);
        let count = searcher.search(&query, &tantivy::collector::Count)?;
        Ok(count as u64)
    }
}

/// The handle every request goes through; swapped atomically by a reindex.
#[derive(Clone)]
pub struct SharedIndex(Arc<ArcSwap<LiveIndex>>);

impl SharedIndex {
    pub fn new(index: LiveIndex) -> SharedIndex {
        SharedIndex(Arc::new(ArcSwap::from_pointee(index)))
    }

    /// The current index; hold the `Arc` for the duration of one request.
    pub fn current(&self) -> Arc<LiveIndex> {
        self.0.load_full()
    }

    /// Makes `index` the current one; returns the previous one.
    pub fn swap(&self, index: Arc<LiveIndex>) -> Arc<LiveIndex> {
        self.0.swap(index)
    }
}
