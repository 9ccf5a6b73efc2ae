//! Full reindex: a blue/green rebuild from the Kafka log with a zero-downtime swap.
//!
//! # The swap protocol
//!
//! 1. **building**: a new index generation is created next to the live one
//!    (`indexes/gen-N+1`, not named by `CURRENT`) and a second pipeline (its own consumer,
//!    no dead-letter writes, no consumer-group mirroring) replays all four topics into it
//!    from their earliest offsets, while the live pipeline keeps serving and indexing.
//! 2. **catching_up**: once the rebuild has replayed up to where the live index was when the
//!    rebuild started, it chases the live index's current offsets until it is within a few
//!    thousand events of them. Then the live pipeline is paused (it commits first), its
//!    final offsets `L` are read from its commit payload, and the rebuild continues until
//!    it has processed at least `L` on every partition and commits. Its payload `R >= L`.
//! 3. **swapping**: `CURRENT` is rewritten to name the new generation (atomic rename), the
//!    served index handle is swapped (requests already running finish on the old index,
//!    which is deleted when the last of them lets go), and the live pipeline resumes — on
//!    the new index, from its payload `R`. Events between `L` and `R` are in the new index
//!    already: nothing is lost or applied twice.
//!
//! A crash before the `CURRENT` rename leaves the live index untouched (the half-built
//! generation is removed at the next start); a crash after it opens the new index. Only
//! the ingestion pause of step 2 is visible: changes wait a few seconds; searches never do.
//!
//! A log that no longer starts at offset 0 (retention deleted records) cannot restore what
//! was deleted: the rebuild refuses to start unless forced.
//!
//! # Reindex and rebuild
//!
//! Two words, two commands, one mechanism ([`rebuild`](self) runs the replay for both):
//! - **reindex** is *online*: `POST /admin/reindex` (or `indexer reindex`, its client) asks a
//!   running indexer to rebuild beside the live index and swap it in as above, without
//!   downtime ([`Reindexer`]).
//! - **rebuild** is *offline*: `indexer rebuild --data-dir D` replays the log into a new
//!   generation of a data directory no process is using, up to the log's end as it is when
//!   it starts, then switches `CURRENT` ([`rebuild_offline`]); for an index built by an
//!   incompatible schema, which a service cannot open.
//!
//! Files: `progress` (state, report, rate), `rebuild` (the rebuild pipeline and the log
//! check), `online` (the reindex and its swap), `offline` (`indexer rebuild`).
//!
//! May use `ingest`, `store`, `telemetry`, `models` and `util`; never `http` or `cli`.

mod offline;
mod online;
mod progress;
mod rebuild;

pub use offline::rebuild_offline;
pub use online::{Reindexer, ReindexerParts};
pub use progress::{ReindexReport, ReindexState};

use crate::ingest::PipelineError;
use crate::store::StoreError;

/// Why a rebuild could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum ReindexError {
    /// One is running already (in this state).
    #[error("a reindex is already {0}")]
    AlreadyRunning(&'static str),
    /// The data directory failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The rebuild pipeline failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The log's bounds could not be read.
    #[error("cannot read the log's bounds: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// Retention deleted the beginning of the log.
    #[error("the log no longer starts at offset 0 ({0}); retention deleted records a rebuild cannot restore. Use force to rebuild anyway")]
    Truncated(String),
    /// The handover to the new index failed.
    #[error("{0}")]
    Handover(String),
    /// Stopped by the process stopping.
    #[error("stopped by shutdown")]
    Shutdown,
    /// The rebuild thread could not be started.
    #[error("cannot start the reindex thread: {0}")]
    Thread(std::io::Error),
}
