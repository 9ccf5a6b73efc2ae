//! The online reindex: [`Reindexer`] starts one rebuild at a time in the background, chases
//! the live index and swaps the new generation in (the protocol is in [`super`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use schemas::{LiveIndex, SharedIndex};

use super::progress::{Progress, RateMeter, ReindexReport, ReindexState};
use super::rebuild::{check_log, remaining, Rebuild};
use super::ReindexError;
use crate::ingest::{Control, PipelineSettings};
use crate::models::{PartitionOffset, Positions};
use crate::store::{self, Generation, IndexStore};
use crate::telemetry::{ReindexMetrics, ReindexOutcome, Status};
use crate::util::{lock, now_ms};

/// How close (in events) the rebuild must get to the live index before ingestion pauses.
const HANDOVER_GAP: i64 = 5_000;
/// How long the live pipeline may take to pause (its final commit).
const PAUSE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the final catch-up, with ingestion paused, may take.
const FINAL_CATCH_UP_TIMEOUT: Duration = Duration::from_secs(300);

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

/// Starts and reports rebuilds of the live index (one at a time).
pub struct Reindexer {
    settings: PipelineSettings,
    store: IndexStore,
    index: SharedIndex,
    live_status: Arc<Status>,
    control: Arc<Control>,
    shutdown: Arc<AtomicBool>,
    metrics: ReindexMetrics,
    report: Mutex<ReindexReport>,
}

/// What a [`Reindexer`] works with.
pub struct ReindexerParts {
    /// Settings of the rebuild pipeline (the live pipeline's, with its throttle).
    pub settings: PipelineSettings,
    /// The data directory.
    pub store: IndexStore,
    /// The served index, swapped at the end.
    pub index: SharedIndex,
    /// The live pipeline's status (its committed offsets are the target).
    pub live_status: Arc<Status>,
    /// Pauses the live pipeline for the handover.
    pub control: Arc<Control>,
    /// Raised when the process stops.
    pub shutdown: Arc<AtomicBool>,
    /// The reindex metrics.
    pub metrics: ReindexMetrics,
}

impl Reindexer {
    /// A reindexer with nothing running.
    pub fn new(parts: ReindexerParts) -> Reindexer {
        Reindexer {
            settings: parts.settings,
            store: parts.store,
            index: parts.index,
            live_status: parts.live_status,
            control: parts.control,
            shutdown: parts.shutdown,
            metrics: parts.metrics,
            report: Mutex::new(ReindexReport::default()),
        }
    }

    /// The current or last rebuild.
    pub fn report(&self) -> ReindexReport {
        lock(&self.report).clone()
    }

    fn update(&self, f: impl FnOnce(&mut ReindexReport)) {
        f(&mut lock(&self.report));
    }

    /// Starts a rebuild in the background; fails if one is running.
    pub fn start(self: &Arc<Self>, force: bool) -> Result<ReindexReport, ReindexError> {
        {
            let mut report = lock(&self.report);
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
                this.finished(outcome);
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

    /// Records how a rebuild ended.
    fn finished(&self, outcome: Result<(), ReindexError>) {
        self.metrics.running.set(0);
        self.metrics.events_per_second.set(0.0);
        match outcome {
            Ok(()) => {
                self.metrics.finished(ReindexOutcome::done);
                tracing::info!("reindex done");
            }
            Err(e) => {
                self.metrics.finished(ReindexOutcome::failed);
                tracing::error!(error = %e, "reindex failed; the live index is unchanged");
                self.update(|r| {
                    r.state = ReindexState::Failed;
                    r.error = Some(e.to_string());
                    r.finished_at_ms = Some(now_ms());
                });
            }
        }
    }

    fn run(&self, force: bool) -> Result<(), ReindexError> {
        let (_, warnings) = check_log(&self.settings, force)?;
        let (generation, index) = self.store.create_generation()?;
        tracing::info!(generation = %generation, "reindex started");
        self.update(|r| {
            r.generation = Some(generation.to_string());
            r.warnings = warnings;
        });
        let new_index = match store::serve(index, self.store.path_of(generation), generation) {
            Ok(i) => Arc::new(i),
            Err(e) => {
                let _ = self.store.remove(generation);
                return Err(e.into());
            }
        };
        let rebuild = Rebuild::start(&self.settings, new_index, self.shutdown.clone())?;
        match self.chase_and_swap(rebuild, generation) {
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
                if let Err(remove) = self.store.remove(generation) {
                    tracing::warn!(error = %remove, "cannot remove the abandoned index; it is removed at the next start");
                }
                Err(e)
            }
        }
    }

    /// Building, catching up, swapping. On error, returns what must be cleaned up.
    fn chase_and_swap(&self, rebuild: Rebuild, generation: Generation) -> Result<(), Box<Abort>> {
        let mut rate = RateMeter::new(rebuild.replayed());
        let rebuild = self.chase(rebuild, &mut rate)?;
        let new_index = self.hand_over(rebuild, &mut rate)?;
        self.swap(generation, new_index)
    }

    /// Building, then chasing the live index while it moves, until the rebuild is within
    /// [`HANDOVER_GAP`] events of it.
    fn chase(&self, rebuild: Rebuild, rate: &mut RateMeter) -> Result<Rebuild, Box<Abort>> {
        let started_target = self.live_status.committed_offsets();
        let mut catching_up = false;
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
                self.live_status.committed_offsets()
            } else {
                started_target.clone()
            };
            let left = remaining(&target, &processed);
            self.progress(&rebuild, rate, &target, &processed, left);
            if !catching_up && left == 0 {
                catching_up = true;
                self.update(|r| r.state = ReindexState::CatchingUp);
                continue;
            }
            if catching_up && left <= HANDOVER_GAP {
                return Ok(rebuild);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Pauses ingestion (after its final commit), catches up exactly to the live index's
    /// final offsets and commits. Returns the finished new index.
    fn hand_over(
        &self,
        rebuild: Rebuild,
        rate: &mut RateMeter,
    ) -> Result<Arc<LiveIndex>, Box<Abort>> {
        if let Err(e) = self.control.pause(PAUSE_TIMEOUT) {
            return Err(abort(
                Some(rebuild),
                true,
                ReindexError::Handover(e.to_string()),
            ));
        }
        let final_target = match self.live_payload_positions() {
            Ok(p) => p,
            Err(e) => return Err(abort(Some(rebuild), true, e)),
        };
        let deadline = Instant::now() + FINAL_CATCH_UP_TIMEOUT;
        loop {
            let processed = rebuild.processed();
            let left = remaining(&final_target, &processed);
            self.progress(&rebuild, rate, &final_target, &processed, left);
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
        // The rebuild does not stop exactly at the target: it may have replayed records past
        // the live index's final offsets, and it dead-letters nothing. Resuming past them
        // would lose the dead letters of invalid events among them (found by the chaos
        // run). So the new index resumes at the live index's own offsets (partitions it never
        // consumed from their beginning): records past them are read again, merging by
        // version makes the valid ones stale, and the invalid ones are dead-lettered.
        let path = new_index.path.clone().unwrap_or_default();
        if let Err(e) = store::write_positions(&new_index.index, &path, &final_target) {
            return Err(abort(None, true, e.into()));
        }
        Ok(new_index)
    }

    /// The positions of the live index's last commit (final while ingestion is paused).
    fn live_payload_positions(&self) -> Result<Positions, ReindexError> {
        let live = self.index.current();
        let path = live.path.clone().unwrap_or_default();
        Ok(store::read_payload(&live.index, &path)?
            .map(|p| p.positions())
            .unwrap_or_default())
    }

    /// The switch: durable first (`CURRENT`), then what requests see; ingestion resumes on
    /// the new index.
    fn swap(&self, generation: Generation, new_index: Arc<LiveIndex>) -> Result<(), Box<Abort>> {
        if let Err(e) = self
            .store
            .mark_complete(generation)
            .and_then(|()| self.store.make_current(generation))
        {
            return Err(abort(None, true, e.into()));
        }
        let old = self.index.swap(new_index);
        let retired = Generation::from_number(old.generation);
        if let Err(e) = self.store.mark_retired(retired) {
            tracing::warn!(error = %e, generation = %retired, "cannot mark the swapped-out index for deletion; it is kept at the next start");
        }
        old.retire();
        drop(old);
        self.control.resume();
        self.update(|r| {
            r.state = ReindexState::Done;
            r.finished_at_ms = Some(now_ms());
            r.progress.remaining_events = 0;
        });
        tracing::info!(generation = %generation, "reindex swapped in the new index");
        Ok(())
    }

    fn progress(
        &self,
        rebuild: &Rebuild,
        rate: &mut RateMeter,
        target: &Positions,
        processed: &Positions,
        left: i64,
    ) {
        let replayed = rebuild.replayed();
        let per_second = rate.update(replayed);
        let before = lock(&self.report).progress.events_replayed;
        self.metrics.events.inc_by(replayed.saturating_sub(before));
        self.metrics.events_per_second.set(per_second);
        self.metrics.remaining.set(left);
        self.update(|r| {
            r.progress = Progress {
                events_replayed: replayed,
                events_per_second: per_second,
                target_offsets: PartitionOffset::list(target),
                rebuilt_offsets: PartitionOffset::list(processed),
                remaining_events: left,
            };
        });
    }
}
