//! Wires the stages together (source thread, bounded channel, writer) and keeps them
//! running: a failed pipeline is torn down and started again from the last index commit, with
//! backoff, while the HTTP API keeps serving the index.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use query_api::{LiveIndex, SharedIndex};

use crate::dlq::{DeadLetters, DlqError};
use crate::metrics::Metrics;
use crate::segment_policy::UpdateHeavyMergePolicy;
use crate::source::kafka::{consumer_config, KafkaSource};
use crate::source::Topics;
use crate::status::Status;
use crate::store;
use crate::writer::{Writer, WriterConfig, WriterError};

/// Batches in flight between source and writer: with the batch bounds of the source, at most
/// a few tens of MiB of messages wait here.
const CHANNEL_CAPACITY: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot open the index writer: {0}")]
    OpenWriter(tantivy::TantivyError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("cannot create the kafka consumer: {0}")]
    Consumer(rdkafka::error::KafkaError),
    #[error(transparent)]
    Dlq(#[from] DlqError),
    #[error(transparent)]
    Writer(#[from] WriterError),
    #[error("cannot start a pipeline thread: {0}")]
    Thread(std::io::Error),
    #[error("the source thread panicked")]
    SourcePanicked,
}

/// Lowers the CPU priority of the calling thread to `nice` (Linux; elsewhere nothing), and
/// so of every thread it starts afterwards: the Kafka consumer, the writer, Tantivy's
/// indexing and merge threads. When searches and ingestion compete for the cores, searches
/// win and ingestion uses the rest, as a search engine's separate search and indexing thread
/// pools do; on an idle machine it changes nothing. Never fails the pipeline: a refusal is
/// logged.
pub fn lower_thread_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority have no memory-safety preconditions; with
        // PRIO_PROCESS and a thread id, setpriority changes only that thread.
        let rc = unsafe {
            let tid = libc::gettid() as libc::id_t;
            // Only ever lower: a process already started nicer keeps its own setting.
            if libc::getpriority(libc::PRIO_PROCESS, tid) >= nice {
                return;
            }
            libc::setpriority(libc::PRIO_PROCESS, tid, nice)
        };
        if rc != 0 {
            tracing::warn!(nice, error = %std::io::Error::last_os_error(), "cannot lower the priority of the ingestion threads");
        }
    }
}

/// Everything a pipeline incarnation needs.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub brokers: String,
    pub group_id: String,
    pub kafka_properties: Vec<(String, String)>,
    pub topics: Topics,
    pub writer: WriterConfig,
    pub writer_memory_bytes: usize,
    pub indexing_threads: usize,
    /// Niceness of the ingestion threads (0 = as the rest of the process); see
    /// [`lower_thread_priority`].
    pub indexing_nice: i32,
    pub merge_deletes_ratio: f32,
    pub max_segments: usize,
    pub merge_min_segments: usize,
    /// Consume at most this many events per second (rebuilds only).
    pub max_rate: Option<u64>,
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

#[derive(Debug, thiserror::Error)]
#[error("the live pipeline did not pause within {0:?}")]
pub struct PauseTimeout(Duration);

impl Control {
    fn lock(&self) -> std::sync::MutexGuard<'_, Mode> {
        self.mode
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stops the live pipeline after a final commit and waits until it has stopped.
    pub fn pause(&self, timeout: Duration) -> Result<(), PauseTimeout> {
        let mut mode = self.lock();
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
        let mut mode = self.lock();
        *mode = Mode::Running;
        self.changed.notify_all();
    }

    fn pause_requested(&self) -> bool {
        self.pause_flag.load(Ordering::Relaxed)
    }

    /// Called by the supervisor between incarnations: returns once running is allowed (or
    /// at shutdown). Resets the pause flag for the next incarnation.
    fn wait_until_running(&self, shutdown: &AtomicBool) {
        let mut mode = self.lock();
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

/// What one run of the stages does besides indexing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageOptions {
    /// Send invalid events to the dead-letter topic (the live pipeline; a rebuild only counts
    /// them: they were dead-lettered when first consumed).
    pub dead_letters: bool,
    /// Mirror committed offsets to the consumer group (the live pipeline only).
    pub mirror_group: bool,
    /// Record freshness (the live pipeline only).
    pub record_freshness: bool,
}

impl StageOptions {
    pub const LIVE: StageOptions = StageOptions {
        dead_letters: true,
        mirror_group: true,
        record_freshness: true,
    };
    pub const REBUILD: StageOptions = StageOptions {
        dead_letters: false,
        mirror_group: false,
        record_freshness: false,
    };
}

/// Runs a source thread and a writer on `live`, from `positions` (earliest for partitions
/// not in it), until one of `stop` is raised (then commits what it has and returns Ok) or a
/// failure (Err; nothing past the last commit is kept). `abort` interrupts retries that
/// would otherwise block (dead-letter delivery).
#[allow(clippy::too_many_arguments)]
pub fn run_stage(
    s: &PipelineSettings,
    live: Arc<LiveIndex>,
    positions: BTreeMap<(String, i32), i64>,
    status: Arc<Status>,
    metrics: Metrics,
    stop: Vec<Arc<AtomicBool>>,
    abort: Arc<AtomicBool>,
    options: StageOptions,
) -> Result<(), PipelineError> {
    // Before any thread of the stage exists: they all inherit it.
    lower_thread_priority(s.indexing_nice);
    let index_writer = live
        .index
        .writer_with_num_threads(s.indexing_threads, s.writer_memory_bytes)
        .map_err(PipelineError::OpenWriter)?;
    index_writer.set_merge_policy(Box::new(UpdateHeavyMergePolicy {
        max_segments: s.max_segments,
        merge_width: s.merge_min_segments,
        deletes_ratio: s.merge_deletes_ratio,
    }));
    let dlq = if options.dead_letters {
        Some(DeadLetters::new(
            &s.brokers,
            &s.topics.dlq,
            &s.kafka_properties,
        )?)
    } else {
        None
    };
    let (tx, rx) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
    let done = Arc::new(AtomicBool::new(false));
    let mut flags = stop;
    flags.push(done.clone());
    let source = KafkaSource::new(
        &consumer_config(&s.brokers, &s.group_id, &s.kafka_properties),
        s.topics.clone(),
        status.clone(),
        positions.clone(),
        tx,
        flags,
    )
    .map_err(PipelineError::Consumer)?
    .with_max_rate(s.max_rate);
    let group = options.mirror_group.then(|| source.group_committer());
    let source_thread = std::thread::Builder::new()
        .name("kafka-source".to_owned())
        .spawn(move || source.run())
        .map_err(PipelineError::Thread)?;
    let mut writer_config = s.writer.clone();
    if !options.record_freshness {
        writer_config.record_freshness = false;
    }
    let mut writer = Writer::new(
        writer_config,
        live,
        index_writer,
        s.topics.clone(),
        positions,
        status.clone(),
        metrics,
        dlq,
        group,
        abort,
    );
    writer.publish_index_status(None)?;
    status.set_pipeline_running(true);
    let result = writer.run(rx);
    done.store(true, Ordering::Relaxed);
    let joined = source_thread.join();
    result?;
    joined.map_err(|_| PipelineError::SourcePanicked)?;
    Ok(())
}

pub struct Pipeline {
    pub settings: PipelineSettings,
    pub index: SharedIndex,
    pub status: Arc<Status>,
    pub metrics: Metrics,
    /// Raised once, when the process stops.
    pub shutdown: Arc<AtomicBool>,
    pub control: Arc<Control>,
}

impl Pipeline {
    /// Runs pipelines until shutdown, restarting failed ones with exponential backoff, and
    /// holding while paused.
    pub fn supervise(&self) {
        let mut backoff = Duration::from_millis(500);
        loop {
            self.control.wait_until_running(&self.shutdown);
            if self.shutdown.load(Ordering::Relaxed) {
                break;
            }
            match self.run_once() {
                Ok(()) => backoff = Duration::from_millis(500),
                Err(e) => {
                    tracing::error!(error = %e, retry_in_ms = backoff.as_millis() as u64, "ingestion pipeline failed; restarting from the last commit");
                    self.status.set_pipeline_error(e.to_string());
                    self.metrics.pipeline_restarts.inc();
                    self.sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        self.status.set_pipeline_running(false);
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
        for ((topic, partition), next) in &positions {
            self.status.add_partition(topic, *partition, *next);
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
        settings.writer.observe_backlog_freshness = resumed;
        tracing::info!(resumed, generation, "ingestion pipeline started");
        run_stage(
            &settings,
            live,
            positions,
            self.status.clone(),
            self.metrics.clone(),
            vec![self.shutdown.clone(), self.control.pause_flag.clone()],
            self.shutdown.clone(),
            StageOptions::LIVE,
        )?;
        tracing::info!("ingestion pipeline stopped");
        Ok(())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::lower_thread_priority;

    fn current_nice() -> i32 {
        // SAFETY: as in `lower_thread_priority`; getpriority only reads.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
    }

    #[test]
    fn the_ingestion_priority_applies_to_the_thread_and_the_threads_it_starts() {
        let process = current_nice();
        let (own, child) = std::thread::spawn(|| {
            lower_thread_priority(3);
            let own = current_nice();
            let child = std::thread::spawn(current_nice).join().unwrap();
            (own, child)
        })
        .join()
        .unwrap();
        // Never raised: a process started nicer keeps its niceness.
        assert_eq!(own, process.max(3));
        assert_eq!(child, own);
        // Other threads keep theirs.
        assert_eq!(current_nice(), process);
    }
}
