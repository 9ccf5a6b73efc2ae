//! The live index: a Tantivy index, its reader and the resolved fields, behind an atomically
//! swappable handle. Both sides use it: the indexer writes through it (and reads merge states
//! back), the query API searches it.
//!
//! The indexer owns the writer and reloads the reader right after each commit, so a search
//! that starts after a commit returns sees it. A full reindex builds another index and swaps
//! the handle ([`SharedIndex::swap`]): searches already running keep the `Arc` of the old
//! index until they finish; new ones get the new index. Nothing in between is ever visible.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{
    DocAddress, DocSet, Index, IndexReader, Searcher, TantivyDocument, Term, TERMINATED,
};

use crate::document::ProductDocument;
use crate::index::IndexFields;
use crate::state::{DecodeStateError, ProductState};
use crate::values::{LiveValues, Overlay};

/// One open index.
pub struct LiveIndex {
    /// The Tantivy index.
    pub index: Index,
    /// Its reader (manual reload: the writer reloads it after each commit).
    pub reader: IndexReader,
    /// The fields of its schema.
    pub fields: IndexFields,
    /// Where the index lives on disk (`None` in memory).
    pub path: Option<PathBuf>,
    /// Increases with every swap; tells apart the index generations.
    pub generation: u64,
    /// Set when the index was swapped out: its directory, deleted when the last request
    /// holding this index finishes.
    pub retired: Mutex<Option<PathBuf>>,
    /// Prices and stock kept current beside the index (see `values`): swapped with it.
    pub values: LiveValues,
}

/// A product's stored merge state could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StoredStateError {
    /// The index could not be read.
    #[error("index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The stored bytes are not a state this build reads.
    #[error("stored product state: {0}")]
    Decode(#[from] DecodeStateError),
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
            values: LiveValues::default(),
        }
    }

    /// [`LiveIndex::new`] with live values already loaded.
    pub fn with_values(mut self, values: LiveValues) -> LiveIndex {
        self.values = values;
        self
    }

    /// The product's slot in the live values, read from the document at `addr`.
    pub fn slot_of(&self, searcher: &Searcher, addr: DocAddress) -> Option<u32> {
        let segment = searcher.segment_reader(addr.segment_ord);
        let column = segment.fast_fields().u64(crate::index::names::SLOT).ok()?;
        column
            .first(addr.doc_id)
            .and_then(|s| u32::try_from(s).ok())
    }

    /// The merge state at `addr` with the live records of its slot put over it: what a
    /// shopper sees of the product now.
    pub fn current_state(
        &self,
        searcher: &Searcher,
        addr: DocAddress,
    ) -> Result<ProductState, StoredStateError> {
        let mut state = self.stored_state(searcher, addr)?;
        if let Some(live) = self
            .slot_of(searcher, addr)
            .and_then(|slot| self.values.overlay.get(slot))
        {
            Overlay::apply(&mut state, &live.offers);
        }
        Ok(state)
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
        self.product_at_stores(product_id, &[])
    }

    /// [`LiveIndex::product`] with its `pickup` block for `stores`.
    pub fn product_at_stores(
        &self,
        product_id: &str,
        stores: &[String],
    ) -> tantivy::Result<Option<ProductDocument>> {
        let searcher = self.reader.searcher();
        let hits = searcher.search(
            &self.product_query(product_id),
            &TopDocs::with_limit(1).order_by_score(),
        )?;
        let Some((_, addr)) = hits.first() else {
            return Ok(None);
        };
        self.document_at_stores(&searcher, *addr, stores)
    }

    /// The merge state stored with the index document at `addr`.
    pub fn stored_state(
        &self,
        searcher: &Searcher,
        addr: DocAddress,
    ) -> Result<ProductState, StoredStateError> {
        let doc: TantivyDocument = searcher.doc(addr)?;
        Ok(self.fields.stored_state(&doc)?)
    }

    /// The merged document of the index document at `addr` (`None` when not visible). An
    /// unreadable state is an index error: a search must not show a product it cannot read.
    pub fn document(
        &self,
        searcher: &Searcher,
        addr: DocAddress,
    ) -> tantivy::Result<Option<ProductDocument>> {
        self.document_at_stores(searcher, addr, &[])
    }

    /// [`LiveIndex::document`] with its `pickup` block for `stores` (none: no block).
    pub fn document_at_stores(
        &self,
        searcher: &Searcher,
        addr: DocAddress,
        stores: &[String],
    ) -> tantivy::Result<Option<ProductDocument>> {
        match self.current_state(searcher, addr) {
            Ok(state) => Ok(state.render().map(|mut doc| {
                if !stores.is_empty() {
                    doc.pickup = self
                        .slot_of(searcher, addr)
                        .and_then(|slot| self.values.stores.pickup(slot, &state, stores));
                }
                doc
            })),
            Err(StoredStateError::Index(e)) => Err(e),
            Err(StoredStateError::Decode(e)) => Err(tantivy::TantivyError::InternalError(format!(
                "stored product state: {e}"
            ))),
        }
    }

    /// The address of the live (not deleted) document of `product_id`, visible or not.
    pub fn find_product(
        &self,
        searcher: &Searcher,
        product_id: &str,
    ) -> tantivy::Result<Option<DocAddress>> {
        let term = Term::from_field_text(self.fields.product_id, product_id);
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let inverted = segment.inverted_index(self.fields.product_id)?;
            let Some(mut postings) = inverted.read_postings(&term, IndexRecordOption::Basic)?
            else {
                continue;
            };
            let mut doc = postings.doc();
            while doc != TERMINATED {
                if !segment.is_deleted(doc) {
                    return Ok(Some(DocAddress::new(ord as u32, doc)));
                }
                doc = postings.advance();
            }
        }
        Ok(None)
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
    /// A handle on `index`.
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
