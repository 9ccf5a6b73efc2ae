//! The data directory: index generations, `CURRENT`, the lock, and opening the live index.
//!
//! ```text
//! DATA_DIR/
//!   LOCK                 held by the one indexer process using the directory
//!   CURRENT              name of the live index (replaced atomically: temp file + rename)
//!   indexes/gen-000001/  a Tantivy index (and its live.log: live prices and stock)
//!   indexes/gen-000002/  a newer one being built by a reindex, until CURRENT names it
//!   indexes/gen-000002.building   marker: gen-000002 is not complete yet
//!   indexes/gen-000000.retired    marker: a swapped-out generation, to delete
//! ```
//!
//! Only the index named by `CURRENT` is ever opened as the live index. A reindex builds a
//! new generation next to it (marked `.building` from its creation until it is complete)
//! and switches `CURRENT` once the new index is complete, so a crash at any point leaves
//! `CURRENT` naming a complete index.
//!
//! # The program never destroys the data directory
//!
//! - A generation is deleted only when it is known to be garbage: newer than the one
//!   `CURRENT` names and marked `.building` (an interrupted rebuild), or marked `.retired`
//!   (swapped out). Any other generation `CURRENT` does not name is kept, with a warning.
//! - The generation `CURRENT` names is never deleted ([`IndexStore::remove`] re-reads
//!   `CURRENT` and refuses).
//! - A missing or unreadable `CURRENT` while generations exist is not a new data directory:
//!   the start is refused ([`StoreError::NoCurrent`]) with the generations found and the
//!   command that picks one (`indexer run --generation gen-NNNNNN`), or `indexer rebuild`
//!   builds a new one from the log.
//! - Once `CURRENT` is renamed, the switch has happened: a failure of the directory sync
//!   after it is logged, not returned, so no caller undoes a switch that is visible.
//!
//! - `generation`: [`Generation`], the typed `gen-NNNNNN` name.
//! - `lock`: [`DataDirLock`], one process per directory.
//! - [`live_log`]: the durable side of the live prices and stock (issue #15): the log each
//!   generation keeps beside its Tantivy files, replayed when the index is opened.
//! - `open`: creating and opening Tantivy indexes, reading a commit's payload, and
//!   [`serve`], the one function that makes an opened index a [`LiveIndex`].
//!
//! Depends on `models` and `util` only.

mod generation;
pub mod live_log;
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
pub use open::{create_index, open_index, read_payload, serve, write_positions};

const CURRENT: &str = "CURRENT";
const INDEXES: &str = "indexes";
/// Marker of a generation not complete yet.
const BUILDING: &str = "building";
/// Marker of a swapped-out generation.
const RETIRED: &str = "retired";

/// What [`IndexStore::remove_leftovers`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Generations deleted (interrupted rebuilds, swapped-out indexes).
    pub removed: Vec<Generation>,
    /// Generations `CURRENT` does not name that are not known garbage: kept.
    pub kept: Vec<Generation>,
}

impl Leftovers {
    /// Logs what was done.
    pub fn log(&self) {
        if !self.removed.is_empty() {
            let removed: Vec<String> = self.removed.iter().map(Generation::to_string).collect();
            tracing::warn!(?removed, "removed leftover index generations (an interrupted rebuild, or a swapped-out index)");
        }
        if !self.kept.is_empty() {
            let kept: Vec<String> = self.kept.iter().map(Generation::to_string).collect();
            tracing::warn!(?kept, "index generations CURRENT does not name were kept (not known to be unfinished or swapped out); delete them by hand once unneeded");
        }
    }
}

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
    /// `CURRENT` is missing, unreadable, or names a missing generation, and generations
    /// exist: which one is live is unknown, and nothing is deleted or created.
    #[error("{problem} in data directory {}; generations found: {}. Refusing to start rather than guess or delete anything. Pick the live one with `indexer run --data-dir {} --generation GEN` (e.g. --generation {}), or build a new one from the log with `indexer rebuild --data-dir {}`", .dir.display(), .found.join(", "), .dir.display(), .suggested, .dir.display())]
    NoCurrent {
        /// The data directory.
        dir: PathBuf,
        /// What is wrong with `CURRENT`.
        problem: String,
        /// The generations present, each with what is known of it.
        found: Vec<String>,
        /// The newest complete generation (what to try first).
        suggested: String,
    },
    /// `--generation` names a generation that cannot be the live index.
    #[error("--generation {generation}: {problem}")]
    BadChoice {
        /// The generation asked for.
        generation: String,
        /// Why it cannot be used.
        problem: &'static str,
    },
    /// Something tried to delete the live generation.
    #[error("refusing to delete {0}: CURRENT names it")]
    RemovingCurrent(Generation),
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

/// Deletes a file; a missing one is fine.
fn remove_file(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path)(e)),
    }
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

    fn marker(&self, generation: Generation, kind: &str) -> PathBuf {
        self.root.join(INDEXES).join(format!("{generation}.{kind}"))
    }

    /// Whether generation `generation` is marked `.building` (not complete).
    pub fn is_building(&self, generation: Generation) -> bool {
        self.marker(generation, BUILDING).exists()
    }

    fn is_retired(&self, generation: Generation) -> bool {
        self.marker(generation, RETIRED).exists()
    }

    /// Marks a rebuilt generation complete (before `CURRENT` may name it).
    pub fn mark_complete(&self, generation: Generation) -> Result<(), StoreError> {
        remove_file(&self.marker(generation, BUILDING))?;
        self.sync_dir(&self.root.join(INDEXES))
    }

    /// Marks a swapped-out generation for deletion (deleted when unused, or at next start).
    pub fn mark_retired(&self, generation: Generation) -> Result<(), StoreError> {
        let marker = self.marker(generation, RETIRED);
        fs::write(&marker, b"").map_err(io(&marker))
    }

    /// The generation `CURRENT` should name, when it is missing or unreadable: an error
    /// naming what was found (see the module docs), or `None` for a new data directory.
    fn unknown_current(&self, problem: String) -> Result<Option<Generation>, StoreError> {
        let present = self.generations()?;
        if present.is_empty() {
            return Ok(None);
        }
        let found = present
            .iter()
            .map(|g| {
                let state = if self.is_building(*g) {
                    "unfinished"
                } else if self.is_retired(*g) {
                    "swapped out"
                } else {
                    "complete"
                };
                format!("{g} ({state})")
            })
            .collect();
        let suggested = present
            .iter()
            .rev()
            .find(|g| !self.is_building(**g) && !self.is_retired(**g))
            .or(present.last())
            .map(Generation::to_string)
            .unwrap_or_default();
        Err(StoreError::NoCurrent {
            dir: self.root.clone(),
            problem,
            found,
            suggested,
        })
    }

    /// The live generation: what `CURRENT` names, checked (see the module docs).
    fn live_generation(&self) -> Result<Option<Generation>, StoreError> {
        match self.current_name() {
            Ok(Some(name)) if self.path_of(name).is_dir() => Ok(Some(name)),
            Ok(Some(name)) => {
                self.unknown_current(format!("CURRENT names {name}, which does not exist"))
            }
            Ok(None) => self.unknown_current("CURRENT is missing".to_owned()),
            Err(e) => self.unknown_current(format!("CURRENT is unreadable ({e})")),
        }
    }

    /// Makes `generation` the live index at an operator's request (`--generation`), after
    /// checking it exists and is complete.
    pub fn choose(&self, generation: &str) -> Result<Generation, StoreError> {
        let bad = |problem| StoreError::BadChoice {
            generation: generation.to_owned(),
            problem,
        };
        let chosen = Generation::parse(generation)
            .ok_or_else(|| bad("not a generation name (gen-NNNNNN)"))?;
        if !self.path_of(chosen).is_dir() {
            return Err(bad("no such generation in the data directory"));
        }
        if self.is_building(chosen) {
            return Err(bad("this generation is an unfinished rebuild"));
        }
        open_index(&self.path_of(chosen))?;
        remove_file(&self.marker(chosen, RETIRED))?;
        self.make_current(chosen)?;
        tracing::warn!(generation = %chosen, "CURRENT set by --generation");
        Ok(chosen)
    }

    /// Opens the live index, creating the first generation in a new data directory.
    pub fn open_live(&self) -> Result<OpenedIndex, StoreError> {
        let name = match self.live_generation()? {
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
        self.live_generation()?;
        self.remove_leftovers()?.log();
        let opened = self.open_live()?;
        tracing::info!(index = %opened.path.display(), resumed = opened.payload.is_some(), "index opened");
        serve(opened.index, opened.path, opened.name)
    }

    /// Creates a new, empty index generation (for a rebuild), marked `.building` until
    /// [`IndexStore::mark_complete`].
    pub fn create_generation(&self) -> Result<(Generation, Index), StoreError> {
        let name = self.next_generation()?;
        let marker = self.marker(name, BUILDING);
        fs::write(&marker, b"").map_err(io(&marker))?;
        self.sync_dir(&self.root.join(INDEXES))?;
        let index = create_index(&self.path_of(name))?;
        Ok((name, index))
    }

    /// Makes `generation` the live index, atomically and durably (`CURRENT` is rewritten
    /// through a temporary file and a rename, and the directory is synced). An error means
    /// `CURRENT` was not switched; once the rename is done the switch has happened, and a
    /// failure of the directory sync after it is logged (retried at the next switch), not
    /// returned: a caller must never undo a switch that is visible.
    pub fn make_current(&self, generation: Generation) -> Result<(), StoreError> {
        let tmp = self.root.join("CURRENT.tmp");
        let target = self.root.join(CURRENT);
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(generation.to_string().as_bytes())
            .map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &target).map_err(io(&target))?;
        let synced = (|| {
            fail::fail_point!("store::current_synced", |_| Err(io(&self.root)(
                std::io::Error::other("injected by the store::current_synced failpoint")
            )));
            self.sync_dir(&self.root)
        })();
        if let Err(e) = synced {
            tracing::error!(error = %e, generation = %generation, "CURRENT now names the generation, but syncing the data directory failed: a power loss could bring back the previous CURRENT");
        }
        Ok(())
    }

    /// Makes a directory's entries durable (after a switch of `CURRENT`, the
    /// `store::current_synced` failpoint of the fault tests makes it fail).
    fn sync_dir(&self, dir: &Path) -> Result<(), StoreError> {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))
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

    /// Deletes the generations known to be garbage: newer than the live one and marked
    /// `.building`, or marked `.retired`; keeps every other (see the module docs). Does
    /// nothing but report while the live generation is unknown.
    pub fn remove_leftovers(&self) -> Result<Leftovers, StoreError> {
        let mut leftovers = Leftovers::default();
        let Ok(Some(current)) = self.current_name() else {
            leftovers.kept = self.generations()?;
            return Ok(leftovers);
        };
        for name in self.generations()? {
            if name == current {
                continue;
            }
            let unfinished = name > current && self.is_building(name);
            if unfinished || self.is_retired(name) {
                self.remove(name)?;
                leftovers.removed.push(name);
            } else {
                leftovers.kept.push(name);
            }
        }
        // Markers whose generation is gone (deleted once unused, after a swap).
        let dir = self.root.join(INDEXES);
        for entry in fs::read_dir(&dir).map_err(io(&dir))?.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some((generation, _)) = name
                .rsplit_once('.')
                .and_then(|(g, kind)| Some((Generation::parse(g)?, kind)))
            {
                if generation != current && !self.path_of(generation).exists() {
                    remove_file(&entry.path())?;
                }
            }
        }
        Ok(leftovers)
    }

    /// Deletes generation `generation`'s directory and markers (nothing if absent). Refuses
    /// to delete the generation `CURRENT` names.
    pub fn remove(&self, generation: Generation) -> Result<(), StoreError> {
        if self.current_name().ok().flatten() == Some(generation) {
            return Err(StoreError::RemovingCurrent(generation));
        }
        let path = self.path_of(generation);
        match fs::remove_dir_all(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
        remove_file(&self.marker(generation, BUILDING))?;
        remove_file(&self.marker(generation, RETIRED))
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
        assert!(store.is_building(half_built));
        let leftovers = store.remove_leftovers().unwrap();
        assert_eq!(leftovers.removed, vec!["gen-000002"]);
        assert!(leftovers.kept.is_empty());
        assert_eq!(store.generations().unwrap(), vec!["gen-000001"]);
        assert!(!store.is_building(half_built), "its marker is gone too");
    }

    /// Regression (issue #14): a missing CURRENT used to make every generation a
    /// leftover, deleted at start, and a new empty index was created in their place.
    #[test]
    fn a_missing_or_unreadable_current_refuses_to_start_and_deletes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = IndexStore::new(dir.path()).unwrap();
        drop(store.open_live().unwrap());
        let (second, _) = store.create_generation().unwrap();
        store.mark_complete(second).unwrap();
        let (third, _) = store.create_generation().unwrap();
        for (current, problem) in [
            (None, "CURRENT is missing"),
            (Some("garbage"), "CURRENT is unreadable"),
            (
                Some("gen-000009"),
                "CURRENT names gen-000009, which does not exist",
            ),
        ] {
            match current {
                None => fs::remove_file(dir.path().join(CURRENT)).unwrap_or(()),
                Some(text) => fs::write(dir.path().join(CURRENT), text).unwrap(),
            }
            let Err(err) = store.open_serving() else {
                panic!("started with {problem}");
            };
            let err = err.to_string();
            for part in [
                problem,
                "gen-000001 (complete)",
                "gen-000002 (complete)",
                "gen-000003 (unfinished)",
                "--generation gen-000002",
                "indexer rebuild",
            ] {
                assert!(err.contains(part), "{part:?} in {err}");
            }
            assert_eq!(store.generations().unwrap().len(), 3, "nothing deleted");
        }
        assert!(store.choose("gen-000003").is_err(), "unfinished");
        assert!(store.choose("gen-000007").is_err(), "absent");
        assert!(store.choose("../etc").is_err(), "not a name");
        assert_eq!(store.choose("gen-000001").unwrap(), Generation::FIRST);
        assert_eq!(store.open_serving().unwrap().generation, 1);
        assert_eq!(
            store.generations().unwrap(),
            vec![Generation::FIRST, second],
            "the unfinished newer one is removed, the complete one kept"
        );
        assert_eq!(store.remove_leftovers().unwrap().kept, vec![second]);
        assert_eq!(
            third, "gen-000003",
            "(the unfinished one was numbered after the others)"
        );
    }

    #[test]
    fn the_generation_current_names_is_never_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = IndexStore::new(dir.path()).unwrap();
        drop(store.open_live().unwrap());
        let err = store.remove(Generation::FIRST).unwrap_err();
        assert!(matches!(err, StoreError::RemovingCurrent(_)), "{err}");
        assert!(store.path_of(Generation::FIRST).is_dir());
    }

    #[test]
    fn make_current_switches_the_live_generation() {
        let dir = tempfile::tempdir().unwrap();
        let store = IndexStore::new(dir.path()).unwrap();
        drop(store.open_live().unwrap());
        let (next, _) = store.create_generation().unwrap();
        store.mark_complete(next).unwrap();
        store.make_current(next).unwrap();
        assert_eq!(store.open_live().unwrap().name, next);
        assert_eq!(
            store.remove_leftovers().unwrap().kept,
            vec!["gen-000001"],
            "not known to be swapped out: kept"
        );
        store.mark_retired(Generation::FIRST).unwrap();
        assert_eq!(
            store.remove_leftovers().unwrap().removed,
            vec!["gen-000001"]
        );
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
