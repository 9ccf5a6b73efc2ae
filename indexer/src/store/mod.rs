//! The data directory: index generations, `CURRENT`, the lock, and opening the live index.
//!
//! ```text
//! DATA_DIR/
//!   LOCK                 held by the one indexer process using the directory
//!   CURRENT              name of the live index (replaced atomically: temp file + rename)
//!   indexes/gen-000001/  a Tantivy index
//!   indexes/gen-000002/  a newer one being built by a reindex, until CURRENT names it
//! ```
//!
//! Only the index named by `CURRENT` is ever opened as the live index. A reindex builds a
//! new generation next to it and switches `CURRENT` once the new index is complete, so a
//! crash at any point leaves `CURRENT` naming a complete index; directories it does not
//! name are leftovers, removed at start.
//!
//! - `generation`: [`Generation`], the typed `gen-NNNNNN` name.
//! - `lock`: [`DataDirLock`], one process per directory.
//! - `open`: creating and opening Tantivy indexes, reading a commit's payload, and
//!   [`serve`], the one function that makes an opened index a [`LiveIndex`].
//!
//! Depends on `models` and `util` only.

mod generation;
mod lock;
mod open;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use schemas::LiveIndex;
use tantivy::Index;

use crate::models::{CommitPayload, PayloadError};

pub use generation::Generation;
pub use lock::DataDirLock;
pub use open::{create_index, open_index, read_payload, serve};

const CURRENT: &str = "CURRENT";
const INDEXES: &str = "indexes";

/// What can go wrong with the data directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("data directory {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Tantivy could not create, open or read an index.
    #[error("index {path}: {source}")]
    Tantivy {
        /// The index directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: tantivy::TantivyError,
    },
    /// The index was built by a build with another schema.
    #[error("index {path} was built with schema version {found}, this build needs {expected}: rebuild it with `indexer rebuild --data-dir DIR`")]
    SchemaMismatch {
        /// The index directory.
        path: PathBuf,
        /// Its schema version (0 when unknown).
        found: u32,
        /// This build's.
        expected: u32,
    },
    /// The payload of the index's last commit is unreadable.
    #[error("index {path}: {source}")]
    Payload {
        /// The index directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: PayloadError,
    },
    /// `CURRENT` holds something that is not a generation name.
    #[error("CURRENT in {0} names {1:?}, which is not an index generation")]
    BadCurrent(PathBuf, String),
    /// The index reader could not be opened.
    #[error("cannot open the index reader: {0}")]
    Reader(tantivy::TantivyError),
    /// Another process holds the data directory.
    #[error("data directory {} is in use by another indexer process", .0.display())]
    Locked(PathBuf),
    /// The lock file could not be created or locked.
    #[error("cannot lock the data directory {}: {source}", .path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// An index opened from the data directory, with what its last commit says.
pub struct OpenedIndex {
    /// Its generation.
    pub name: Generation,
    /// Its directory.
    pub path: PathBuf,
    /// The index.
    pub index: Index,
    /// The payload of its last commit (`None` for a new index).
    pub payload: Option<CommitPayload>,
}

/// The data directory.
#[derive(Debug, Clone)]
pub struct IndexStore {
    root: PathBuf,
}

impl IndexStore {
    /// The data directory at `data_dir`, created if missing.
    pub fn new(data_dir: &Path) -> Result<IndexStore, StoreError> {
        let indexes = data_dir.join(INDEXES);
        fs::create_dir_all(&indexes).map_err(io(&indexes))?;
        Ok(IndexStore {
            root: data_dir.to_owned(),
        })
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of generation `generation`.
    pub fn path_of(&self, generation: Generation) -> PathBuf {
        self.root.join(INDEXES).join(generation.to_string())
    }

    /// The generation `CURRENT` names, if any.
    pub fn current_name(&self) -> Result<Option<Generation>, StoreError> {
        let path = self.root.join(CURRENT);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let name = text.trim();
                match Generation::parse(name) {
                    Some(generation) => Ok(Some(generation)),
                    None => Err(StoreError::BadCurrent(self.root.clone(), name.to_owned())),
                }
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
                let name = self.next_generation()?;
                create_index(&self.path_of(name))?;
                self.make_current(name)?;
                name
            }
        };
        let path = self.path_of(name);
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

    /// Removes leftovers, then opens the live index for serving (see [`serve`]).
    pub fn open_serving(&self) -> Result<LiveIndex, StoreError> {
        let removed = self.remove_leftovers()?;
        if !removed.is_empty() {
            let removed: Vec<String> = removed.iter().map(Generation::to_string).collect();
            tracing::warn!(
                ?removed,
                "removed leftover index directories (an interrupted rebuild, or a swapped-out index)"
            );
        }
        let opened = self.open_live()?;
        tracing::info!(index = %opened.path.display(), resumed = opened.payload.is_some(), "index opened");
        serve(opened.index, opened.path, opened.name)
    }

    /// Creates a new, empty index generation (for a rebuild).
    pub fn create_generation(&self) -> Result<(Generation, Index), StoreError> {
        let name = self.next_generation()?;
        let index = create_index(&self.path_of(name))?;
        Ok((name, index))
    }

    /// Makes `generation` the live index, atomically and durably (`CURRENT` is rewritten
    /// through a temporary file and a rename, and the directory is synced).
    pub fn make_current(&self, generation: Generation) -> Result<(), StoreError> {
        let tmp = self.root.join("CURRENT.tmp");
        let target = self.root.join(CURRENT);
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(generation.to_string().as_bytes())
            .map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &target).map_err(io(&target))?;
        fs::File::open(&self.root)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.root))?;
        Ok(())
    }

    /// Every index generation directory present, in order.
    pub fn generations(&self) -> Result<Vec<Generation>, StoreError> {
        let dir = self.root.join(INDEXES);
        let mut names: Vec<Generation> = fs::read_dir(&dir)
            .map_err(io(&dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| Generation::parse(&n))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Removes every generation but the live one (half-built or swapped-out indexes).
    pub fn remove_leftovers(&self) -> Result<Vec<Generation>, StoreError> {
        let current = self.current_name()?;
        let mut removed = Vec::new();
        for name in self.generations()? {
            if Some(name) != current {
                self.remove(name)?;
                removed.push(name);
            }
        }
        Ok(removed)
    }

    /// Deletes generation `generation`'s directory (nothing if it is absent).
    pub fn remove(&self, generation: Generation) -> Result<(), StoreError> {
        let path = self.path_of(generation);
        match fs::remove_dir_all(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn next_generation(&self) -> Result<Generation, StoreError> {
        let last = self
            .generations()?
            .into_iter()
            .chain(self.current_name()?)
            .max();
        Ok(last.map_or(Generation::FIRST, Generation::next))
    }
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
        assert_eq!(
            store
                .current_name()
                .unwrap()
                .map(|g| g.to_string())
                .as_deref(),
            Some("gen-000001")
        );
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
    fn make_current_switches_the_live_generation() {
        let dir = tempfile::tempdir().unwrap();
        let store = IndexStore::new(dir.path()).unwrap();
        drop(store.open_live().unwrap());
        let (next, _) = store.create_generation().unwrap();
        store.make_current(next).unwrap();
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
