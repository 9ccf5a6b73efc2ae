//! `indexer rebuild`: the offline rebuild, with the service stopped.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use super::rebuild::{check_log, remaining, Rebuild};
use super::ReindexError;
use crate::ingest::PipelineSettings;
use crate::models::Positions;
use crate::store::{self, IndexStore};

/// Rebuilds the index of a data directory with the service stopped, up to the end of the
/// log as it is when the rebuild starts, then makes it the live index. `on_progress` gets
/// the events replayed and the events left, every 200 ms.
pub fn rebuild_offline(
    settings: &PipelineSettings,
    data_dir: &Path,
    force: bool,
    mut on_progress: impl FnMut(u64, i64),
) -> Result<PathBuf, ReindexError> {
    let store = IndexStore::new(data_dir)?;
    store.remove_leftovers()?.log();
    // The generation this rebuild replaces (none in a new directory, or when CURRENT is
    // missing: a rebuild is also how a data directory without CURRENT is repaired).
    let previous = store.current_name().ok().flatten();
    let (bounds, warnings) = check_log(settings, force)?;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let target: Positions = bounds
        .iter()
        .map(|(k, (_, high))| (k.clone(), *high))
        .collect();
    let (generation, index) = store.create_generation()?;
    let shutdown = Arc::new(AtomicBool::new(false));
    let result = (|| {
        let new_index = Arc::new(store::serve(index, store.path_of(generation), generation)?);
        let rebuild = Rebuild::start(settings, new_index, shutdown.clone())?;
        loop {
            let processed = rebuild.processed();
            let left = remaining(&target, &processed);
            on_progress(rebuild.replayed(), left);
            if left == 0 {
                break;
            }
            if rebuild.failed() {
                rebuild.finish()?;
                return Err(ReindexError::Handover(
                    "the rebuild stopped early".to_owned(),
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let (new_index, _) = rebuild.finish()?;
        drop(new_index);
        store.mark_complete(generation)?;
        store.make_current(generation)?;
        Ok(store.path_of(generation))
    })();
    match &result {
        Ok(_) => {
            if let Some(previous) = previous.filter(|p| *p != generation) {
                store.mark_retired(previous)?;
                store.remove(previous)?;
            }
        }
        Err(_) => {
            if let Err(e) = store.remove(generation) {
                tracing::warn!(error = %e, generation = %generation, "cannot remove the abandoned rebuild");
            }
        }
    }
    result
}
