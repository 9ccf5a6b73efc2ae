//! Wires the stages together (source thread, bounded channel, writer) and keeps them
//! running: a failed run is torn down and started again from the last index commit, with
//! backoff, while the HTTP API keeps serving the index.
//!
//! Words: an *incarnation* ([`Incarnation`]) is one run of the stages, from the positions
//! of a commit until it stops or fails; the *pipeline* ([`Pipeline`]) is the supervisor
//! that runs incarnations of the live ingestion one after the other.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use schemas::{LiveIndex, SharedIndex};

use super::dead_letters::{DeadLetters, DlqError, DlqFailure};
use super::quarantine::{Quarantine, POISON_CRASHES};
use super::segment_policy::UpdateHeavyMergePolicy;
use super::source::{consumer_config, KafkaSource, LogGapPolicy};
use super::writer::{Writer, WriterConfig, WriterError, WriterHandles};
use crate::models::{KafkaProperties, Positions, RecordAt, Topics};
use crate::store;
use crate::store::live_log::LiveLog;
use crate::telemetry::{Fault, Metrics, Status, DISK_FULL};
use crate::util::panic::{self, Caught};
use crate::util::{disk, lock, lower_thread_priority};

/// Batches in flight between source and writer: with the batch bounds of the source, at most
/// a few tens of MiB of messages wait here.
const CHANNEL_CAPACITY: usize = 8;

/// Why an incarnation stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Tantivy refused a writer.
    #[error("cannot open the index writer: {0}")]
    OpenWriter(tantivy::TantivyError),
    /// The data directory failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// librdkafka refused the consumer.
    #[error("cannot create the kafka consumer: {0}")]
    Consumer(rdkafka::error::KafkaError),
    /// The dead-letter producer failed.
    #[error(transparent)]
    Dlq(#[from] DlqError),
    /// The writer failed.
    #[error(transparent)]
    Writer(#[from] WriterError),
    /// A thread could not be started.
    #[error("cannot start a pipeline thread: {0}")]
    Thread(std::io::Error),
    /// The source thread panicked.
    #[error("the source thread panicked")]
    SourcePanicked,
    /// A stage panicked (the writer, or the supervisor itself).
    #[error("{0}")]
    Panicked(Box<PipelinePanic>),
}

/// A panic of the pipeline, and the record being processed then (when known).
#[derive(Debug)]
pub struct PipelinePanic {
    /// The record whose processing panicked.
    pub at: Option<RecordAt>,
    /// The panic.
    pub caught: Caught,
}

impl std::fmt::Display for PipelinePanic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.at {
            Some(at) => write!(f, "the pipeline panicked processing {at}: {}", self.caught),
            None => write!(f, "the pipeline panicked: {}", self.caught),
        }
    }
}

impl PipelineError {
    /// A stable code for the failure (what `/status` shows to everyone).
    pub fn code(&self) -> &'static str {
        match self {
            PipelineError::OpenWriter(_) => "index_writer",
            PipelineError::Store(_) => "data_directory",
            PipelineError::Consumer(_) => "kafka_consumer",
            PipelineError::Dlq(e) | PipelineError::Writer(WriterError::Dlq(e)) => match e {
                DlqError::Create(_) => "dlq_producer",
                DlqError::Undeliverable { .. } => "dlq_undeliverable",
            },
            PipelineError::Writer(WriterError::Tantivy(_)) => "index_write",
            PipelineError::Writer(WriterError::State(_)) => "state_unreadable",
            PipelineError::Writer(WriterError::LiveLog(_)) => "live_log",
            PipelineError::Writer(WriterError::Panicked(_))
            | PipelineError::Panicked(_)
            | PipelineError::SourcePanicked => "panicked",
            PipelineError::Thread(_) => "thread",
        }
    }

    /// The panic behind this failure, if it is one.
    pub fn panic(&self) -> Option<&PipelinePanic> {
        match self {
            PipelineError::Panicked(p) | PipelineError::Writer(WriterError::Panicked(p)) => Some(p),
            _ => None,
        }
    }
}

/// Where the pipeline reads from.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// Bootstrap servers (the embedded broker's, or the cluster's).
    pub brokers: String,
    /// The consumer group offsets are mirrored to (for lag tools).
    pub group_id: String,
    /// Extra librdkafka properties.
    pub properties: KafkaProperties,
    /// The topics.
    pub topics: Topics,
    /// What to do with a dead letter that cannot be delivered.
    pub dlq_failure: DlqFailure,
    /// What to do with a resumed partition whose stored offset the log no longer has.
    pub on_log_gap: LogGapPolicy,
}

/// How the pipeline writes the index.
#[derive(Debug, Clone)]
pub struct IndexingSettings {
    /// Commit cadence and budgets.
    pub writer: WriterConfig,
    /// Tantivy's indexing memory.
    pub writer_memory_bytes: usize,
    /// Tantivy's indexing threads.
    pub indexing_threads: usize,
    /// Niceness of the ingestion threads (0 = as the rest of the process); see
    /// [`lower_thread_priority`].
    pub indexing_nice: i32,
    /// The segment merge policy.
    pub merge_policy: UpdateHeavyMergePolicy,
    /// Consume at most this many events per second (rebuilds only).
    pub max_rate: Option<u64>,
}

/// Everything an incarnation needs.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// Where it reads from.
    pub kafka: KafkaSettings,
    /// How it writes.
    pub indexing: IndexingSettings,
    /// Poison events set aside, shared by every incarnation (live and rebuilds).
    pub quarantine: Arc<Quarantine>,
}

/// Pausing and resuming the live pipeline (a reindex hands the index over while it is
/// paused). The supervisor checks the mode before each incarnation; a pause raises the
/// running incarnation's stop flag, which ends it with a final commit.
#[derive(Default)]
pub struct Control {
    mode: Mutex<Mode>,
    changed: Condvar,
    pause_flag: Arc<AtomicBool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Mode {
    #[default]
    Running,
    Pausing,
    Paused,
}

/// The live pipeline did not pause in time.
#[derive(Debug, thiserror::Error)]
#[error("the live pipeline did not pause within {0:?}")]
pub struct PauseTimeout(Duration);

impl Control {
    /// Stops the live pipeline after a final commit and waits until it has stopped.
    pub fn pause(&self, timeout: Duration) -> Result<(), PauseTimeout> {
        let mut mode = lock(&self.mode);
        if *mode == Mode::Running {
            *mode = Mode::Pausing;
            self.pause_flag.store(true, Ordering::Relaxed);
        }
        let (mode, result) = self
            .changed
            .wait_timeout_while(mode, timeout, |m| *m != Mode::Paused)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if result.timed_out() && *mode != Mode::Paused {
            return Err(PauseTimeout(timeout));
        }
        Ok(())
    }

    /// Lets the live pipeline run again (on whatever index is current then).
    pub fn resume(&self) {
        let mut mode = lock(&self.mode);
        *mode = Mode::Running;
        self.changed.notify_all();
    }

    fn pause_requested(&self) -> bool {
        self.pause_flag.load(Ordering::Relaxed)
    }

    /// Called by the supervisor between incarnations: returns once running is allowed (or
    /// at shutdown). Resets the pause flag for the next incarnation.
    fn wait_until_running(&self, shutdown: &AtomicBool) {
        let mut mode = lock(&self.mode);
        while *mode != Mode::Running && !shutdown.load(Ordering::Relaxed) {
            if *mode == Mode::Pausing {
                *mode = Mode::Paused;
                self.changed.notify_all();
                tracing::info!("ingestion paused");
            }
            mode = self
                .changed
                .wait_timeout(mode, Duration::from_millis(100))
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        self.pause_flag.store(false, Ordering::Relaxed);
    }
}

/// What an incarnation is for, which decides what it does besides indexing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The live pipeline: invalid events go to the dead-letter topic, committed offsets are
    /// mirrored to the consumer group, freshness is recorded.
    Live,
    /// A rebuild: invalid events are only counted (they were dead-lettered when first
    /// consumed), nothing is mirrored, replayed events are not changes (no freshness).
    Rebuild,
}

impl Role {
    fn dead_letters(self) -> bool {
        self == Role::Live
    }

    fn mirror_group(self) -> bool {
        self == Role::Live
    }

    fn record_freshness(self) -> bool {
        self == Role::Live
    }
}

/// One run of the stages: a source thread and a writer on `index`, from `from` (earliest
/// for partitions not in it).
pub struct Incarnation<'a> {
    /// Settings of the run.
    pub settings: &'a PipelineSettings,
    /// The index written.
    pub index: Arc<LiveIndex>,
    /// Where to start.
    pub from: Positions,
    /// Where positions and figures go.
    pub status: Arc<Status>,
    /// The metrics.
    pub metrics: Metrics,
    /// The run stops (after a final commit) when any of these is raised.
    pub stop: Vec<Arc<AtomicBool>>,
    /// Live or rebuild.
    pub role: Role,
}

impl Incarnation<'_> {
    /// Runs until one of `stop` is raised (then commits what it has and returns Ok) or a
    /// failure (Err; nothing past the last commit is kept).
    pub fn run(self) -> Result<(), PipelineError> {
        let s = self.settings;
        // Before any thread of the run exists: they all inherit it.
        lower_thread_priority(s.indexing.indexing_nice);
        let index_writer = self
            .index
            .index
            .writer_with_num_threads(s.indexing.indexing_threads, s.indexing.writer_memory_bytes)
            .map_err(PipelineError::OpenWriter)?;
        index_writer.set_merge_policy(Box::new(s.indexing.merge_policy.clone()));
        let dead_letters = if self.role.dead_letters() {
            Some(DeadLetters::new(
                &s.kafka.brokers,
                &s.kafka.topics.dlq,
                &s.kafka.properties,
                s.kafka.dlq_failure,
            )?)
        } else {
            None
        };
        let (tx, rx) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
        let done = Arc::new(AtomicBool::new(false));
        let mut flags = self.stop;
        flags.push(done.clone());
        let source = KafkaSource::new(
            &consumer_config(&s.kafka.brokers, &s.kafka.group_id, &s.kafka.properties),
            s.kafka.topics.clone(),
            self.status.clone(),
            self.from.clone(),
            tx,
            flags,
        )
        .map_err(PipelineError::Consumer)?
        .with_max_rate(s.indexing.max_rate)
        .with_quarantine(s.quarantine.clone())
        .with_log_gaps(s.kafka.on_log_gap, self.metrics.offset_resets.clone());
        if self.role.mirror_group() {
            // This incarnation checks its partitions again.
            self.status.clear_log_gaps();
        }
        let group = self.role.mirror_group().then(|| source.group_committer());
        let source_thread = std::thread::Builder::new()
            .name("kafka-source".to_owned())
            .spawn(move || source.run())
            .map_err(PipelineError::Thread)?;
        let live_log = match &self.index.path {
            Some(dir) => Some(LiveLog::open(dir).map_err(WriterError::LiveLog)?),
            None => None,
        };
        let mut writer_config = s.indexing.writer.clone();
        if !self.role.record_freshness() {
            writer_config.record_freshness = false;
        }
        let handles = WriterHandles {
            live: self.index,
            index_writer,
            topics: s.kafka.topics.clone(),
            status: self.status.clone(),
            metrics: self.metrics,
            dead_letters,
            group,
            live_log,
        };
        let mut writer = Writer::new(writer_config, handles, self.from);
        writer.report_index_status(None)?;
        self.status.set_pipeline_running(true);
        let result = panic::catch(|| writer.run(rx)).unwrap_or_else(|caught| {
            Err(WriterError::Panicked(Box::new(PipelinePanic {
                at: None,
                caught,
            })))
        });
        done.store(true, Ordering::Relaxed);
        let joined = source_thread.join();
        result?;
        joined.map_err(|_| PipelineError::SourcePanicked)?;
        Ok(())
    }
}

/// The supervisor of the live ingestion.
pub struct Pipeline {
    /// Settings of every incarnation.
    pub settings: PipelineSettings,
    /// The served index (an incarnation writes the current one).
    pub index: SharedIndex,
    /// Where positions and figures go.
    pub status: Arc<Status>,
    /// The metrics.
    pub metrics: Metrics,
    /// Raised once, when the process stops.
    pub shutdown: Arc<AtomicBool>,
    /// Pause and resume (reindex handover).
    pub control: Arc<Control>,
}

impl Pipeline {
    /// Runs incarnations until shutdown, restarting failed ones with exponential backoff,
    /// and holding while paused.
    pub fn supervise(&self) {
        // The index is open: it is served whatever ingestion does from here on.
        self.status.set_serving();
        let mut backoff = Duration::from_millis(500);
        loop {
            self.control.wait_until_running(&self.shutdown);
            if self.shutdown.load(Ordering::Relaxed) {
                break;
            }
            let run = panic::catch(|| self.run_once()).unwrap_or_else(|caught| {
                Err(PipelineError::Panicked(Box::new(PipelinePanic {
                    at: None,
                    caught,
                })))
            });
            match run {
                Ok(()) => backoff = Duration::from_millis(500),
                Err(e) => {
                    self.record_panic(&e, backoff);
                    let code = self.failure_code(&e);
                    let retry_in_ms = backoff.as_millis() as u64;
                    if code == DISK_FULL {
                        tracing::error!(error = %e, retry_in_ms, "data directory disk full: index commits fail and are retried; searches are served from the last commit");
                    } else if e.panic().is_none() {
                        tracing::error!(error = %e, retry_in_ms, "ingestion pipeline failed; restarting from the last commit");
                    }
                    self.status
                        .set_pipeline_error(Fault::new(code, e.to_string()));
                    self.metrics.pipeline_restarts.inc();
                    self.sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        self.status.set_pipeline_running(false);
    }

    /// The failure's stable code, [`DISK_FULL`] when writing the index failed for want of
    /// space (see `util/disk.rs` for how that is told).
    fn failure_code(&self, error: &PipelineError) -> &'static str {
        let code = error.code();
        if !matches!(
            code,
            "index_write" | "index_writer" | "data_directory" | "live_log"
        ) {
            return code;
        }
        let budget = self.settings.indexing.writer_memory_bytes as u64;
        let short_of_space = || {
            self.index
                .current()
                .path
                .as_deref()
                .and_then(disk::free_bytes)
                .is_some_and(|free| free < budget)
        };
        if disk::is_out_of_space(error) || short_of_space() {
            DISK_FULL
        } else {
            code
        }
    }

    /// A panic is logged once, with the record it happened at, and counted against that
    /// record (set aside after [`POISON_CRASHES`]).
    fn record_panic(&self, error: &PipelineError, backoff: Duration) {
        let Some(p) = error.panic() else {
            return;
        };
        let retry_in_ms = backoff.as_millis() as u64;
        match &p.at {
            Some(at) => {
                let crashes = self.settings.quarantine.crashed(at, &p.caught);
                let set_aside = crashes >= POISON_CRASHES;
                tracing::error!(
                    topic = %at.partition.topic,
                    partition = at.partition.partition,
                    offset = at.offset,
                    panic = %p.caught,
                    crashes,
                    set_aside,
                    retry_in_ms,
                    "ingestion pipeline panicked processing an event; restarting from the last commit"
                );
            }
            None => {
                tracing::error!(panic = %p.caught, retry_in_ms, "ingestion pipeline panicked; restarting from the last commit")
            }
        }
    }

    fn sleep(&self, duration: Duration) {
        let step = Duration::from_millis(50);
        let mut left = duration;
        while !left.is_zero()
            && !self.shutdown.load(Ordering::Relaxed)
            && !self.control.pause_requested()
        {
            std::thread::sleep(step.min(left));
            left = left.saturating_sub(step);
        }
    }

    /// One incarnation: resume from the live index's last commit, run until shutdown or a
    /// pause (Ok, after a final commit) or a failure (Err, nothing past the last commit kept).
    pub fn run_once(&self) -> Result<(), PipelineError> {
        let live = self.index.current();
        let path = live.path.clone().unwrap_or_default();
        let payload = store::read_payload(&live.index, &path)?;
        let resumed = payload.is_some();
        let last_commit_ms = payload.as_ref().map(|p| p.committed_at_ms);
        let positions = payload.map(|p| p.positions()).unwrap_or_default();
        for (tp, next) in positions.iter() {
            self.status.add_partition(&tp.topic, tp.partition, next);
        }
        self.status.set_committed(&positions);
        if let Some(at) = last_commit_ms {
            self.status.update_index(|s| s.last_commit_ms = at);
        }
        let generation = live.generation;
        let shown = path.display().to_string();
        self.status.update_index(|s| {
            s.generation = generation;
            s.path = shown;
        });
        let mut settings = self.settings.clone();
        settings.indexing.writer.observe_backlog_freshness = resumed;
        tracing::info!(resumed, generation, "ingestion pipeline started");
        Incarnation {
            settings: &settings,
            index: live,
            from: positions,
            status: self.status.clone(),
            metrics: self.metrics.clone(),
            stop: vec![self.shutdown.clone(), self.control.pause_flag.clone()],
            role: Role::Live,
        }
        .run()?;
        tracing::info!("ingestion pipeline stopped");
        Ok(())
    }
}
