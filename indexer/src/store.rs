//! The on-disk layout of the data directory and opening the live index.
//!
//! ```text
//! DATA_DIR/
//!   CURRENT              name of the live index (replaced atomically: temp file + rename)
//!   indexes/gen-000001/  a Tantivy index
//!   indexes/gen-000002/  a newer one being built by a reindex, until CURRENT names it
//! ```
//!
//! Only the index named by `CURRENT` is ever opened as the live index. A reindex builds a
//! new generation next to it and flips `CURRENT` once the new index is complete, so a crash at
//! any point leaves `CURRENT` naming a complete index; directories it does not name are
//! leftovers, removed at start.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use schemas::IndexFields;
use tantivy::{Index, IndexSettings};

use crate::commit::{CommitPayload, PayloadError};

const CURRENT: &str = "CURRENT";
const INDEXES: &str = "indexes";
const GENERATION_PREFIX: &str = "gen-";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("data directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("index {path}: {source}")]
    Tantivy {
        path: PathBuf,
        #[source]
        source: tantivy::TantivyError,
    },
    #[error("index {path} was built with schema version {found}, this build needs {expected}: rebuild it with `indexer rebuild --data-dir DIR`")]
    SchemaMismatch {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("index {path}: {source}")]
    Payload {
        path: PathBuf,
        #[source]
        source: PayloadError,
    },
    #[error("CURRENT in {0} names {1:?}, which is not an index generation")]
    BadCurrent(PathBuf, String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// An index opened from the data directory, with what its last commit says.
pub struct OpenedIndex {
    pub name: String,
    pub path: PathBuf,
    pub index: Index,
    pub payload: Option<CommitPayload>,
}

/// The data directory.
#[derive(Debug, Clone)]
pub struct IndexStore {
    root: PathBuf,
}

impl IndexStore {
    pub fn new(data_dir: &Path) -> Result<IndexStore, StoreError> {
        let indexes = data_dir.join(INDEXES);
        fs::create_dir_all(&indexes).map_err(io(&indexes))?;
        Ok(IndexStore {
            root: data_dir.to_owned(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path_of(&self, name: &str) -> PathBuf {
        self.root.join(INDEXES).join(name)
    }

    /// The name `CURRENT` holds, if any.
    pub fn current_name(&self) -> Result<Option<String>, StoreError> {
        let path = self.root.join(CURRENT);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let name = text.trim().to_owned();
                if !is_generation(&name) {
                    return Err(StoreError::BadCurrent(self.root.clone(), name));
                }
                Ok(Some(name))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Opens the live index, creating the first generation in a new data directory.
    pub fn open_live(&self) -> Result<OpenedIndex, StoreError> {
        let name = match self.current_name()? {
            Some(name) => name,
            None => {
                let name = self.next_generation_name()?;
                create_index(&self.path_of(&name))?;
                self.publish(&name)?;
                name
            }
        };
        let path = self.path_of(&name);
        let index = open_index(&path)?;
        let payload = read_payload(&index, &path)?;
        if let Some(p) = &payload {
            if p.schema_version != schemas::SCHEMA_VERSION {
                return Err(StoreError::SchemaMismatch {
                    path,
                    found: p.schema_version,
                    expected: schemas::SCHEMA_VERSION,
                });
            }
        }
        Ok(OpenedIndex {
            name,
            path,
            index,
            payload,
        })
    }

    /// Creates a new, empty index generation (for a rebuild).
    pub fn create_generation(&self) -> Result<(String, Index), StoreError> {
        let name = self.next_generation_name()?;
        let index = create_index(&self.path_of(&name))?;
        Ok((name, index))
    }

    /// Makes `name` the live index, atomically and durably.
    pub fn publish(&self, name: &str) -> Result<(), StoreError> {
        let tmp = self.root.join("CURRENT.tmp");
        let target = self.root.join(CURRENT);
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(name.as_bytes()).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &target).map_err(io(&target))?;
        fs::File::open(&self.root)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.root))?;
        Ok(())
    }

    /// Every index generation directory present, in order.
    pub fn generations(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.root.join(INDEXES);
        let mut names: Vec<String> = fs::read_dir(&dir)
            .map_err(io(&dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_generation(n))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Removes every generation but the live one (half-built or swapped-out indexes).
    pub fn remove_leftovers(&self) -> Result<Vec<String>, StoreError> {
        let current = self.current_name()?;
        let mut removed = Vec::new();
        for name in self.generations()? {
            if Some(&name) != current.as_ref() {
                self.remove(&name)?;
                removed.push(name);
            }
        }
        Ok(removed)
    }

    pub fn remove(&self, name: &str) -> Result<(), StoreError> {
        let path = self.path_of(name);
        match fs::remove_dir_all(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn next_generation_name(&self) -> Result<String, StoreError> {
        let last = self
            .generations()?
            .iter()
            .chain(self.current_name()?.iter())
            .filter_map(|n| n.strip_prefix(GENERATION_PREFIX)?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        Ok(format!("{GENERATION_PREFIX}{:06}", last + 1))
    }
}

fn is_generation(name: &str) -> bool {
    name.strip_prefix(GENERATION_PREFIX)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_data_dir_gets_a_first_generation() {
        let dir = tempfile::tempdir().unwrap();
        let store = IndexStore::new(dir.path()).unwrap();
        let opened = store.open_live().unwrap();
        assert_eq!(opened.name, "gen-000001");
        assert!(opened.payload.is_none());
        assert_eq!(store.current_name().unwrap().as_deref(), Some("gen-000001"));
        drop(opened);
        // Reopening finds the same one.
        assert_eq!(store.open_live().unwrap().name, "gen-000001");
    }

    #[test]
    fn leftover_generations_are_removed_and_current_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = IndexStore::new(dir.path()).unwrap();
        drop(store.open_live().unwrap());
        let (half_built, _) = store.create_generation().unwrap();
        assert_eq!(half_built, "gen-000002");
        assert_eq!(store.remove_leftovers().unwrap(), vec!["gen-000002"]);
        assert_eq!(store.generations().unwrap(), vec!["gen-000001"]);
    }

    #[test]
    fn publish_switches_current() {
        let dir = tempfile::tempdir().unwrap();
        let store = IndexStore::new(dir.path()).unwrap();
        drop(store.open_live().unwrap());
        let (next, _) = store.create_generation().unwrap();
        store.publish(&next).unwrap();
        assert_eq!(store.open_live().unwrap().name, next);
        assert_eq!(store.remove_leftovers().unwrap(), vec!["gen-000001"]);
    }

    #[test]
    fn a_corrupt_current_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = IndexStore::new(dir.path()).unwrap();
        fs::write(dir.path().join(CURRENT), "../../etc").unwrap();
        let err = store.open_live().err().unwrap();
        assert!(matches!(err, StoreError::BadCurrent(..)), "{err}");
    }

    #[test]
    fn an_index_with_another_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = tantivy::schema::Schema::builder();
        b.add_text_field("product_id", tantivy::schema::STRING);
        Index::create_in_dir(dir.path(), b.build()).unwrap();
        let err = open_index(dir.path()).err().unwrap();
        assert!(matches!(err, StoreError::SchemaMismatch { .. }), "{err}");
        assert!(err.to_string().contains("indexer rebuild"));
    }
}
