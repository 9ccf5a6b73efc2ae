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

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::registry::Registry;
use query_api::{LiveIndex, SharedIndex};
use schemas::IndexFields;
use serde::{Deserialize, Serialize};
use tantivy::ReloadPolicy;

use crate::commit::PartitionOffset;
use crate::metrics::Metrics;
use crate::pipeline::{run_stage, Control, PipelineError, PipelineSettings, StageOptions};
use crate::source::kafka::{consumer_config, log_bounds};
use crate::status::Status;
use crate::store::{self, IndexStore, StoreError};

/// Next offset per topic-partition.
type Positions = BTreeMap<(String, i32), i64>;
/// Log start and end offsets per topic-partition.
type LogBounds = BTreeMap<(String, i32), (i64, i64)>;

/// What must be undone when a rebuild stops half-way.
struct Abort {
    rebuild: Option<Rebuild>,
    paused: bool,
    error: ReindexError,
}

fn abort(rebuild: Option<Rebuild>, paused: bool, error: ReindexError) -> Box<Abort> {
    Box::new(Abort {
        rebuild,
        paused,
        error,
    })
}

/// Products per commit of a rebuild, at least.
const REBUILD_DOCS_PER_COMMIT: usize = 250_000;

/// How close (in events) the rebuild must get to the live index before ingestion pauses.
const HANDOVER_GAP: i64 = 5_000;
/// How long the live pipeline may take to pause (its final commit).
const PAUSE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the final catch-up, with ingestion paused, may take.
const FINAL_CATCH_UP_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReindexState {
    Idle,
    Building,
    CatchingUp,
    Swapping,
    Done,
    Failed,
}

impl ReindexState {
    pub fn is_running(self) -> bool {
        matches!(
            self,
            ReindexState::Building | ReindexState::CatchingUp | ReindexState::Swapping
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReindexState::Idle => "idle",
            ReindexState::Building => "building",
            ReindexState::CatchingUp => "catching_up",
            ReindexState::Swapping => "swapping",
            ReindexState::Done => "done",
            ReindexState::Failed => "failed",
        }
    }
}

/// Progress of a rebuild.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Progress {
    /// Events consumed by the rebuild so far.
    pub events_replayed: u64,
    /// Replay rate over the last seconds.
    pub events_per_second: f64,
    /// Where the rebuild has to get to (the live index's offsets, moving while it chases).
    pub target_offsets: Vec<PartitionOffset>,
    /// Where the rebuild is.
    pub rebuilt_offsets: Vec<PartitionOffset>,
    /// Events between the two.
    pub remaining_events: i64,
}

/// `GET /admin/reindex`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReindexReport {
    pub state: ReindexState,
    /// The index generation being built (or built).
    pub generation: Option<String>,
    pub started_at_ms: Option<u64>,
    pub finished_at_ms: Option<u64>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    pub progress: Progress,
}

impl Default for ReindexReport {
    fn default() -> ReindexReport {
        ReindexReport {
            state: ReindexState::Idle,
            generation: None,
            started_at_ms: None,
            finished_at_ms: None,
            error: None,
            warnings: Vec::new(),
            progress: Progress::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReindexError {
    #[error("a reindex is already {0}")]
    AlreadyRunning(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("cannot read the log's bounds: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("the log no longer starts at offset 0 ({0}); retention deleted records a rebuild cannot restore. Use force to rebuild anyway")]
    Truncated(String),
    #[error("{0}")]
    Handover(String),
    #[error("cannot open the new index: {0}")]
    Open(tantivy::TantivyError),
    #[error("stopped by shutdown")]
    Shutdown,
    #[error("cannot start the reindex thread: {0}")]
    Thread(std::io::Error),
}

fn now_ms() -> u64 {
    crate::generate::now_ms()
}

/// Offsets as the report shows them.
fn offsets(positions: &BTreeMap<(String, i32), i64>) -> Vec<PartitionOffset> {
    positions
        .iter()
        .map(|((topic, partition), &next_offset)| PartitionOffset {
            topic: topic.clone(),
            partition: *partition,
            next_offset,
        })
        .collect()
}

/// Events `rebuilt` still lacks to reach `target`.
fn remaining(target: &BTreeMap<(String, i32), i64>, rebuilt: &BTreeMap<(String, i32), i64>) -> i64 {
    target
        .iter()
        .map(|(k, &t)| (t - rebuilt.get(k).copied().unwrap_or(0)).max(0))
        .sum()
}

/// Opens a freshly created generation for serving and for the rebuild writer.
fn live_index(
    store: &IndexStore,
    name: &str,
    index: tantivy::Index,
) -> Result<Arc<LiveIndex>, ReindexError> {
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .map_err(ReindexError::Open)?;
    let fields = IndexFields::from_schema(&index.schema())
        .map_err(|e| ReindexError::Open(tantivy::TantivyError::SchemaError(e.to_string())))?;
    let generation = name.trim_start_matches("gen-").parse().unwrap_or_default();
    Ok(Arc::new(LiveIndex::new(
        index,
        reader,
        fields,
        Some(store.path_of(name)),
        generation,
    )))
}

/// Rejects a rebuild from a log that lost its beginning, unless forced.
fn check_log(
    settings: &PipelineSettings,
    force: bool,
) -> Result<(LogBounds, Vec<String>), ReindexError> {
    let bounds = log_bounds(
        &consumer_config(
            &settings.brokers,
            &settings.group_id,
            &settings.kafka_properties,
        ),
        &settings.topics.events,
        Duration::from_secs(10),
    )?;
    let truncated: Vec<String> = bounds
        .iter()
        .filter(|(_, (low, _))| *low > 0)
        .map(|((t, p), (low, _))| format!("{t}[{p}] starts at {low}"))
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

/// A rebuild pipeline running on its own thread.
struct Rebuild {
    index: Arc<LiveIndex>,
    status: Arc<Status>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<(), PipelineError>>,
}

impl Rebuild {
    fn start(
        settings: &PipelineSettings,
        index: Arc<LiveIndex>,
        shutdown: Arc<AtomicBool>,
    ) -> Result<Rebuild, ReindexError> {
        let mut settings = settings.clone();
        // Throughput over freshness: nobody searches this index yet.
        settings.writer.commit_interval = Duration::from_secs(10);
        settings.writer.record_freshness = false;
        // One indexing thread per core, as far as the writer memory allows (Tantivy needs
        // 15 MiB per thread).
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let affordable = settings.writer_memory_bytes / (15 << 20);
        settings.indexing_threads = settings.indexing_threads.max(cores.min(affordable));
        // Larger commits: the four topics are replayed side by side but not in step, so a
        // product's events arrive spread over the replay; the more of them one commit
        // coalesces, the fewer times the product is indexed and looked up again (still
        // bounded by the pending-memory budget, which triggers a commit first).
        settings.writer.max_docs_per_commit = settings
            .writer
            .max_docs_per_commit
            .max(REBUILD_DOCS_PER_COMMIT);
        let status = Arc::new(Status::new(
            settings.brokers.clone(),
            false,
            settings.group_id.clone(),
            Duration::from_secs(3600),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let metrics = Metrics::new(&mut Registry::default());
        let thread = {
            let (index, status, stop, shutdown) = (
                index.clone(),
                status.clone(),
                stop.clone(),
                shutdown.clone(),
            );
            std::thread::Builder::new()
                .name("rebuild".to_owned())
                .spawn(move || {
                    run_stage(
                        &settings,
                        index,
                        BTreeMap::new(),
                        status,
                        metrics,
                        vec![stop, shutdown.clone()],
                        shutdown,
                        StageOptions::REBUILD,
                    )
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

    fn processed(&self) -> BTreeMap<(String, i32), i64> {
        self.status
            .positions()
            .into_iter()
            .map(|(k, p)| (k, p.processed))
            .collect()
    }

    fn replayed(&self) -> u64 {
        self.status.counters.consumed.load(Ordering::Relaxed)
    }

    /// Stops with a final commit; returns the committed positions.
    fn finish(self) -> Result<(Arc<LiveIndex>, Positions), ReindexError> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| ReindexError::Handover("the rebuild thread panicked".to_owned()))??;
        let path = self.index.path.clone().unwrap_or_default();
        let committed = store::read_payload(&self.index.index, &path)?
            .map(|p| p.positions())
            .unwrap_or_default();
        Ok((self.index, committed))
    }

    fn abandon(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }

    fn failed(&self) -> bool {
        self.thread.is_finished()
    }
}

/// Reindex metrics (in the process registry).
#[derive(Clone)]
pub struct ReindexMetrics {
    pub events: prometheus_client::metrics::counter::Counter,
    pub events_per_second:
        prometheus_client::metrics::gauge::Gauge<f64, std::sync::atomic::AtomicU64>,
    pub remaining: prometheus_client::metrics::gauge::Gauge,
    pub running: prometheus_client::metrics::gauge::Gauge,
    pub outcomes: prometheus_client::metrics::family::Family<
        crate::metrics::OutcomeLabels,
        prometheus_client::metrics::counter::Counter,
    >,
}

impl ReindexMetrics {
    pub fn new(registry: &mut Registry) -> ReindexMetrics {
        let m = ReindexMetrics {
            events: Default::default(),
            events_per_second: Default::default(),
            remaining: Default::default(),
            running: Default::default(),
            outcomes: Default::default(),
        };
        registry.register(
            "indexer_reindex_events",
            "Events replayed by rebuilds",
            m.events.clone(),
        );
        registry.register(
            "indexer_reindex_events_per_second",
            "Replay rate of the running rebuild",
            m.events_per_second.clone(),
        );
        registry.register(
            "indexer_reindex_remaining_events",
            "Events the running rebuild still has to replay to catch up with the live index",
            m.remaining.clone(),
        );
        registry.register(
            "indexer_reindex_running",
            "1 while a rebuild runs",
            m.running.clone(),
        );
        registry.register(
            "indexer_reindexes",
            "Finished rebuilds by outcome (done, failed)",
            m.outcomes.clone(),
        );
        m
    }
}

/// Starts and reports rebuilds of the live index (one at a time).
pub struct Reindexer {
    pub settings: PipelineSettings,
    pub store: IndexStore,
    pub index: SharedIndex,
    pub live_status: Arc<Status>,
    pub control: Arc<Control>,
    pub shutdown: Arc<AtomicBool>,
    pub metrics: ReindexMetrics,
    report: Mutex<ReindexReport>,
}

impl Reindexer {
    pub fn new(
        settings: PipelineSettings,
        store: IndexStore,
        index: SharedIndex,
        live_status: Arc<Status>,
        control: Arc<Control>,
        shutdown: Arc<AtomicBool>,
        metrics: ReindexMetrics,
    ) -> Reindexer {
        Reindexer {
            settings,
            store,
            index,
            live_status,
            control,
            shutdown,
            metrics,
            report: Mutex::new(ReindexReport::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReindexReport> {
        self.report
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn report(&self) -> ReindexReport {
        self.lock().clone()
    }

    fn update(&self, f: impl FnOnce(&mut ReindexReport)) {
        f(&mut self.lock());
    }

    /// Starts a rebuild in the background; fails if one is running.
    pub fn start(self: &Arc<Self>, force: bool) -> Result<ReindexReport, ReindexError> {
        {
            let mut report = self.lock();
            if report.state.is_running() {
                return Err(ReindexError::AlreadyRunning(report.state.as_str()));
            }
            *report = ReindexReport {
                state: ReindexState::Building,
                started_at_ms: Some(now_ms()),
                ..ReindexReport::default()
            };
        }
        self.metrics.running.set(1);
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("reindex".to_owned())
            .spawn(move || {
                let outcome = this.run(force);
                this.metrics.running.set(0);
                this.metrics.events_per_second.set(0.0);
                match outcome {
                    Ok(()) => {
                        this.metrics
                            .outcomes
                            .get_or_create(&crate::metrics::OutcomeLabels {
                                outcome: "done".to_owned(),
                            })
                            .inc();
                        tracing::info!("reindex done");
                    }
                    Err(e) => {
                        this.metrics
                            .outcomes
                            .get_or_create(&crate::metrics::OutcomeLabels {
                                outcome: "failed".to_owned(),
                            })
                            .inc();
                        tracing::error!(error = %e, "reindex failed; the live index is unchanged");
                        this.update(|r| {
                            r.state = ReindexState::Failed;
                            r.error = Some(e.to_string());
                            r.finished_at_ms = Some(now_ms());
                        });
                    }
                }
            });
        if let Err(e) = spawned {
            self.metrics.running.set(0);
            self.update(|r| {
                r.state = ReindexState::Failed;
                r.error = Some(e.to_string());
            });
            return Err(ReindexError::Thread(e));
        }
        Ok(self.report())
    }

    fn live_committed(&self) -> BTreeMap<(String, i32), i64> {
        self.live_status
            .positions()
            .into_iter()
            .map(|(k, p)| (k, p.committed))
            .collect()
    }

    fn run(&self, force: bool) -> Result<(), ReindexError> {
        let (_, warnings) = check_log(&self.settings, force)?;
        let (name, index) = self.store.create_generation()?;
        tracing::info!(generation = %name, "reindex started");
        self.update(|r| {
            r.generation = Some(name.clone());
            r.warnings = warnings;
        });
        let new_index = match live_index(&self.store, &name, index) {
            Ok(i) => i,
            Err(e) => {
                let _ = self.store.remove(&name);
                return Err(e);
            }
        };
        let rebuild = Rebuild::start(&self.settings, new_index, self.shutdown.clone())?;
        match self.chase_and_swap(rebuild, &name) {
            Ok(()) => Ok(()),
            Err(aborted) => {
                let Abort {
                    rebuild,
                    paused,
                    error: e,
                } = *aborted;
                if let Some(r) = rebuild {
                    r.abandon();
                }
                if paused {
                    self.control.resume();
                }
                if let Err(remove) = self.store.remove(&name) {
                    tracing::warn!(error = %remove, "cannot remove the abandoned index; it is removed at the next start");
                }
                Err(e)
            }
        }
    }

    /// Building, catching up, swapping. On error, returns what must be cleaned up.
    fn chase_and_swap(&self, rebuild: Rebuild, name: &str) -> Result<(), Box<Abort>> {
        let started_target = self.live_committed();
        let mut rate = RateMeter::new(rebuild.replayed());
        let mut catching_up = false;
        // Building, then chasing the live index while it moves.
        loop {
            if self.shutdown.load(Ordering::Relaxed) {
                return Err(abort(Some(rebuild), false, ReindexError::Shutdown));
            }
            if rebuild.failed() {
                let e = match rebuild.finish() {
                    Err(e) => e,
                    Ok(_) => ReindexError::Handover("the rebuild stopped early".to_owned()),
                };
                return Err(abort(None, false, e));
            }
            let processed = rebuild.processed();
            let target = if catching_up {
                self.live_committed()
            } else {
                started_target.clone()
            };
            let left = remaining(&target, &processed);
            self.progress(&rebuild, &mut rate, &target, &processed, left);
            if !catching_up && left == 0 {
                catching_up = true;
                self.update(|r| r.state = ReindexState::CatchingUp);
                continue;
            }
            if catching_up && left <= HANDOVER_GAP {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }

        // Pause ingestion; catch up exactly; commit.
        if let Err(e) = self.control.pause(PAUSE_TIMEOUT) {
            return Err(abort(
                Some(rebuild),
                true,
                ReindexError::Handover(e.to_string()),
            ));
        }
        let live = self.index.current();
        let final_target =
            match store::read_payload(&live.index, &live.path.clone().unwrap_or_default()) {
                Ok(p) => p.map(|p| p.positions()).unwrap_or_default(),
                Err(e) => return Err(abort(Some(rebuild), true, e.into())),
            };
        drop(live);
        let deadline = Instant::now() + FINAL_CATCH_UP_TIMEOUT;
        loop {
            let processed = rebuild.processed();
            let left = remaining(&final_target, &processed);
            self.progress(&rebuild, &mut rate, &final_target, &processed, left);
            if left == 0 {
                break;
            }
            if rebuild.failed()
                || Instant::now() > deadline
                || self.shutdown.load(Ordering::Relaxed)
            {
                return Err(abort(
                    Some(rebuild),
                    true,
                    ReindexError::Handover(format!(
                        "the rebuild did not reach the live offsets ({left} events short)"
                    )),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.update(|r| r.state = ReindexState::Swapping);
        let (new_index, committed) = match rebuild.finish() {
            Ok(v) => v,
            Err(e) => return Err(abort(None, true, e)),
        };
        if remaining(&final_target, &committed) > 0 {
            return Err(abort(
                None,
                true,
                ReindexError::Handover(
                    "the rebuild's final commit is behind the live index".to_owned(),
                ),
            ));
        }

        // The switch: durable first (CURRENT), then what requests see.
        if let Err(e) = self.store.publish(name) {
            return Err(abort(None, true, e.into()));
        }
        let old = self.index.swap(new_index);
        old.retire();
        drop(old);
        self.control.resume();
        self.update(|r| {
            r.state = ReindexState::Done;
            r.finished_at_ms = Some(now_ms());
            r.progress.remaining_events = 0;
        });
        tracing::info!(generation = %name, "reindex swapped in the new index");
        Ok(())
    }

    fn progress(
        &self,
        rebuild: &Rebuild,
        rate: &mut RateMeter,
        target: &BTreeMap<(String, i32), i64>,
        processed: &BTreeMap<(String, i32), i64>,
        left: i64,
    ) {
        let replayed = rebuild.replayed();
        let per_second = rate.update(replayed);
        let before = self.lock().progress.events_replayed;
        self.metrics.events.inc_by(replayed.saturating_sub(before));
        self.metrics.events_per_second.set(per_second);
        self.metrics.remaining.set(left);
        self.update(|r| {
            r.progress = Progress {
                events_replayed: replayed,
                events_per_second: per_second,
                target_offsets: offsets(target),
                rebuilt_offsets: offsets(processed),
                remaining_events: left,
            };
        });
    }
}

/// Events per second over a sliding window of a few seconds.
struct RateMeter {
    samples: std::collections::VecDeque<(Instant, u64)>,
}

impl RateMeter {
    fn new(start: u64) -> RateMeter {
        let mut samples = std::collections::VecDeque::new();
        samples.push_back((Instant::now(), start));
        RateMeter { samples }
    }

    fn update(&mut self, value: u64) -> f64 {
        let now = Instant::now();
        self.samples.push_back((now, value));
        while self.samples.len() > 2
            && now.duration_since(self.samples[0].0) > Duration::from_secs(5)
        {
            self.samples.pop_front();
        }
        let (t0, v0) = self.samples[0];
        let elapsed = now.duration_since(t0).as_secs_f64();
        if elapsed <= 0.0 {
            return 0.0;
        }
        value.saturating_sub(v0) as f64 / elapsed
    }
}

/// `indexer rebuild`: rebuilds the index of a data directory with the service stopped, up
/// to the end of the log as it is when the rebuild starts, then makes it the live index.
pub fn rebuild_offline(
    settings: &PipelineSettings,
    data_dir: &std::path::Path,
    force: bool,
    mut on_progress: impl FnMut(u64, i64),
) -> Result<PathBuf, ReindexError> {
    let store = IndexStore::new(data_dir)?;
    let removed = store.remove_leftovers()?;
    if !removed.is_empty() {
        tracing::warn!(?removed, "removed leftover index directories");
    }
    let (bounds, warnings) = check_log(settings, force)?;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let target: BTreeMap<(String, i32), i64> = bounds
        .iter()
        .map(|(k, (_, high))| (k.clone(), *high))
        .collect();
    let (name, index) = store.create_generation()?;
    let shutdown = Arc::new(AtomicBool::new(false));
    let result = (|| {
        let new_index = live_index(&store, &name, index)?;
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
        store.publish(&name)?;
        store.remove_leftovers()?;
        Ok(store.path_of(&name))
    })();
    if result.is_err() {
        let _ = store.remove(&name);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_counts_only_what_is_behind() {
        let target: BTreeMap<(String, i32), i64> =
            [(("t".to_owned(), 0), 10), (("t".to_owned(), 1), 5)]
                .into_iter()
                .collect();
        let mut rebuilt = BTreeMap::new();
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

    #[test]
    fn states_serialize_as_documented() {
        let names: Vec<String> = [
            ReindexState::Idle,
            ReindexState::Building,
            ReindexState::CatchingUp,
            ReindexState::Swapping,
            ReindexState::Done,
            ReindexState::Failed,
        ]
        .iter()
        .map(|s| serde_json::to_string(s).unwrap())
        .collect();
        assert_eq!(
            names,
            [
                "\"idle\"",
                "\"building\"",
                "\"catching_up\"",
                "\"swapping\"",
                "\"done\"",
                "\"failed\""
            ]
        );
    }
}
