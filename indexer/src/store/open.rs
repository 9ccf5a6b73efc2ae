//! Creating and opening Tantivy indexes of this build's schema, and making one a
//! [`LiveIndex`].

use std::fs;
use std::path::{Path, PathBuf};

use schemas::{IndexFields, LiveIndex};
use tantivy::{Index, IndexSettings, IndexWriter, ReloadPolicy};

use super::{io, Generation, StoreError};
use crate::models::{CommitPayload, Positions};
use crate::util::now_ms;

/// Creates an empty index with this build's schema at `path`.
pub fn create_index(path: &Path) -> Result<Index, StoreError> {
    fs::create_dir_all(path).map_err(io(path))?;
    let index = Index::builder()
        .schema(IndexFields::new().schema)
        .settings(index_settings())
        .create_in_dir(path)
        .map_err(|source| StoreError::Tantivy {
            path: path.to_owned(),
            source,
        })?;
    schemas::index::register_analyzers(&index);
    Ok(index)
}

/// Settings of new indexes.
pub fn index_settings() -> IndexSettings {
    IndexSettings::default()
}

/// Opens an existing index and checks it has this build's schema.
pub fn open_index(path: &Path) -> Result<Index, StoreError> {
    let index = Index::open_in_dir(path).map_err(|source| StoreError::Tantivy {
        path: path.to_owned(),
        source,
    })?;
    if index.schema() != IndexFields::new().schema {
        let found = read_payload(&index, path)?
            .map(|p| p.schema_version)
            .unwrap_or(0);
        return Err(StoreError::SchemaMismatch {
            path: path.to_owned(),
            found,
            expected: schemas::SCHEMA_VERSION,
        });
    }
    schemas::index::register_analyzers(&index);
    Ok(index)
}

/// The payload of the index's last commit.
pub fn read_payload(index: &Index, path: &Path) -> Result<Option<CommitPayload>, StoreError> {
    let metas = index.load_metas().map_err(|source| StoreError::Tantivy {
        path: path.to_owned(),
        source,
    })?;
    CommitPayload::parse(metas.payload.as_deref()).map_err(|source| StoreError::Payload {
        path: path.to_owned(),
        source,
    })
}

/// Commits `positions` as the payload of `index` (at `path`), with no document change:
/// where the next pipeline on it resumes. Only while no other writer is open on it.
pub fn write_positions(
    index: &Index,
    path: &Path,
    positions: &Positions,
) -> Result<(), StoreError> {
    let tantivy = |source| StoreError::Tantivy {
        path: path.to_owned(),
        source,
    };
    // The smallest writer Tantivy allows: nothing is indexed, only the payload changes.
    let mut writer: IndexWriter = index
        .writer_with_num_threads(1, 15_000_000)
        .map_err(tantivy)?;
    let mut prepared = writer.prepare_commit().map_err(tantivy)?;
    prepared.set_payload(&CommitPayload::new(positions, now_ms()).to_json());
    prepared.commit().map_err(tantivy)?;
    Ok(())
}

/// Makes an opened index of generation `generation` (at `path`) a [`LiveIndex`]: a reader
/// with a manual reload policy (the writer reloads it right after each commit) and the
/// fields of its schema. The one way the live index and a rebuild's new generation are
/// opened.
pub fn serve(index: Index, path: PathBuf, generation: Generation) -> Result<LiveIndex, StoreError> {
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .map_err(StoreError::Reader)?;
    let fields = IndexFields::from_schema(&index.schema())
        .map_err(|e| StoreError::Reader(tantivy::TantivyError::SchemaError(e.to_string())))?;
    let live = LiveIndex::new(
        index,
        reader,
        fields,
        Some(path.clone()),
        generation.number(),
    );
    let restored = super::live_log::restore(&live, &path).map_err(|e| StoreError::Io {
        path: e.path,
        source: e.source,
    })?;
    if restored.frames > 0 {
        tracing::info!(index = %path.display(), products = restored.slots, live_products = restored.live, store_records = restored.stock, frames = restored.frames, "live values restored from the live log");
    }
    Ok(live)
}
