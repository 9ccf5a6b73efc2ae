//! A rebuild pipeline running on its own thread: an [`Incarnation`] in the
//! [`Role::Rebuild`] role, tuned for throughput, replaying the log from the start into a
//! new generation. Shared by the online reindex and the offline `indexer rebuild`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus_client::registry::Registry;
use schemas::LiveIndex;

use super::ReindexError;
use crate::ingest::source::{consumer_config, log_bounds, LogBounds};
use crate::ingest::{Incarnation, PipelineError, PipelineSettings, Role};
use crate::models::Positions;
use crate::store;
use crate::telemetry::{Metrics, Status};
use crate::util::available_cores;

/// Products per commit of a rebuild, at least.
const REBUILD_DOCS_PER_COMMIT: usize = 250_000;

/// Events `rebuilt` still lacks to reach `target`.
pub(super) fn remaining(target: &Positions, rebuilt: &Positions) -> i64 {
    rebuilt.behind(target)
}

/// Rejects a rebuild from a log that lost its beginning, unless forced. Returns the log's
/// bounds and, when forced, what the rebuilt index will lack.
pub(super) fn check_log(
    settings: &PipelineSettings,
    force: bool,
) -> Result<(LogBounds, Vec<String>), ReindexError> {
    let kafka = &settings.kafka;
    let bounds = log_bounds(
        &consumer_config(&kafka.brokers, &kafka.group_id, &kafka.properties),
        &kafka.topics.event_topics(),
        Duration::from_secs(10),
    )?;
    let truncated: Vec<String> = bounds
        .iter()
        .filter(|(_, (low, _))| *low > 0)
        .map(|(tp, (low, _))| format!("{tp} starts at {low}"))
        .collect();
    if !truncated.is_empty() && !force {
        return Err(ReindexError::Truncated(truncated.join(", ")));
    }
    let warnings = truncated
        .into_iter()
        .map(|t| {
            format!(
                "{t}: earlier records were deleted by retention and are not in the rebuilt index"
            )
        })
        .collect();
    Ok((bounds, warnings))
}

/// The settings of a rebuild: throughput over freshness (nobody searches the new index
/// yet).
fn rebuild_settings(settings: &PipelineSettings) -> PipelineSettings {
    let mut settings = settings.clone();
    let indexing = &mut settings.indexing;
    indexing.writer.commit_interval = Duration::from_secs(10);
    indexing.writer.record_freshness = false;
    // One indexing thread per core, as far as the writer memory allows (Tantivy needs
    // 15 MiB per thread).
    let affordable = indexing.writer_memory_bytes / (15 << 20);
    indexing.indexing_threads = indexing
        .indexing_threads
        .max(available_cores().min(affordable));
    // Larger commits: the four topics are replayed side by side but not in step, so a
    // product's events arrive spread over the replay; the more of them one commit
    // coalesces, the fewer times the product is indexed and looked up again (still
    // bounded by the pending-memory budget, which triggers a commit first).
    indexing.writer.max_docs_per_commit = indexing
        .writer
        .max_docs_per_commit
        .max(REBUILD_DOCS_PER_COMMIT);
    settings
}

/// A rebuild pipeline running on its own thread.
pub(super) struct Rebuild {
    index: Arc<LiveIndex>,
    status: Arc<Status>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<(), PipelineError>>,
}

impl Rebuild {
    /// Starts replaying the whole log into `index` (an empty new generation).
    pub fn start(
        settings: &PipelineSettings,
        index: Arc<LiveIndex>,
        shutdown: Arc<AtomicBool>,
    ) -> Result<Rebuild, ReindexError> {
        let settings = rebuild_settings(settings);
        let status = Arc::new(Status::new(
            settings.kafka.brokers.clone(),
            false,
            settings.kafka.group_id.clone(),
            Duration::from_secs(3600),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let metrics = Metrics::new(&mut Registry::default());
        let thread = {
            let (index, status, stop) = (index.clone(), status.clone(), stop.clone());
            std::thread::Builder::new()
                .name("rebuild".to_owned())
                .spawn(move || {
                    Incarnation {
                        settings: &settings,
                        index,
                        from: Positions::new(),
                        status,
                        metrics,
                        stop: vec![stop, shutdown],
                        role: Role::Rebuild,
                    }
                    .run()
                })
                .map_err(ReindexError::Thread)?
        };
        Ok(Rebuild {
            index,
            status,
            stop,
            thread,
        })
    }

    /// Where the rebuild has processed to (committed or not).
    pub fn processed(&self) -> Positions {
        self.status.processed_offsets()
    }

    /// Events consumed so far.
    pub fn replayed(&self) -> u64 {
        self.status.counters.consumed.load(Ordering::Relaxed)
    }

    /// Stops with a final commit; returns the index and the committed positions.
    pub fn finish(self) -> Result<(Arc<LiveIndex>, Positions), ReindexError> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| ReindexError::Handover("the rebuild thread panicked".to_owned()))??;
        if let Some(gap) = self.status.log_gaps().first() {
            return Err(ReindexError::Handover(format!(
                "retention deleted records of {}[{}] before the rebuild read them (from offset {} to {}); raise the topic's retention.ms or --reindex-max-rate",
                gap.topic, gap.partition, gap.stored_offset, gap.log_start
            )));
        }
        let path = self.index.path.clone().unwrap_or_default();
        let committed = store::read_payload(&self.index.index, &path)?
            .map(|p| p.positions())
            .unwrap_or_default();
        Ok((self.index, committed))
    }

    /// Stops without caring how.
    pub fn abandon(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }

    /// Whether the rebuild failed: its thread ended (it only ends by itself on a failure),
    /// or retention overtook its consumer (a log gap: the new index would lack records).
    pub fn failed(&self) -> bool {
        self.thread.is_finished() || !self.status.log_gaps().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_counts_only_what_is_behind() {
        let target: Positions = [(("t".to_owned(), 0), 10), (("t".to_owned(), 1), 5)]
            .into_iter()
            .collect();
        let mut rebuilt = Positions::new();
        assert_eq!(remaining(&target, &rebuilt), 15);
        rebuilt.insert(("t".to_owned(), 0), 12);
        assert_eq!(
            remaining(&target, &rebuilt),
            5,
            "ahead on one partition does not make up for another"
        );
        rebuilt.insert(("t".to_owned(), 1), 5);
        assert_eq!(remaining(&target, &rebuilt), 0);
    }
}
