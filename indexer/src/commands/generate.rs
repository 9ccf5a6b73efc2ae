//! `indexer generate`: publishes a generated catalog (and changes) until done, or until
//! Ctrl-C / SIGTERM, which stops publishing, flushes what was sent and exits 0.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::cli::GenerateArgs;
use crate::tools::publish::{self, Publication, PublishError, Published};

/// Why `indexer generate` failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateCommandError {
    /// The publication failed.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The signal thread's runtime could not start.
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs `indexer generate`.
pub fn run(args: &GenerateArgs) -> Result<Published, GenerateCommandError> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(GenerateCommandError::Runtime)?;
    std::thread::spawn(move || {
        runtime.block_on(super::wait_for_signal());
        flag.store(true, Ordering::Relaxed);
    });
    Ok(publish::run(&Publication::from(args), stop)?)
}
