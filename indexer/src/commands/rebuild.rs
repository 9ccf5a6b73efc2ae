//! `indexer rebuild`: the offline rebuild of a data directory, with a progress bar.

use std::path::PathBuf;

use super::run::pipeline_settings;
use crate::cli::RebuildArgs;
use crate::reindex::{rebuild_offline, ReindexError};
use crate::store::{IndexStore, StoreError};

/// Why the rebuild failed.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// The data directory failed (including: in use by a running indexer).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The rebuild failed.
    #[error(transparent)]
    Reindex(#[from] ReindexError),
}

/// Runs `indexer rebuild`; returns the new index's directory.
pub fn run(args: &RebuildArgs) -> Result<PathBuf, RebuildError> {
    let store = IndexStore::new(&args.data_dir)?;
    let _lock = store.lock()?;
    let settings = pipeline_settings(
        &args.indexing,
        &args.kafka,
        args.kafka.brokers.clone().unwrap_or_default(),
        &args.group_id,
    );
    let bar = indicatif::ProgressBar::new(1);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} rebuilding {bar:40} {pos}/{len} events ({per_sec})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let path = rebuild_offline(&settings, &args.data_dir, args.force, |done, left| {
        bar.set_length(done + left.max(0) as u64);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    eprintln!("rebuilt {}", path.display());
    Ok(path)
}
