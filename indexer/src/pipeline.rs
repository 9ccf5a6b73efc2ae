//! Wires the stages together (source thread, bounded channel, writer) and keeps them
//! running: a failed pipeline is torn down and started again from the last index commit, with
//! backoff, while the HTTP API keeps serving the index.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use query_api::SharedIndex;

use crate::dlq::{DeadLetters, DlqError};
use crate::metrics::Metrics;
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
    pub merge_deletes_ratio: f32,
    pub merge_min_segments: usize,
}

pub struct Pipeline {
    pub settings: PipelineSettings,
    pub index: SharedIndex,
    pub status: Arc<Status>,
    pub metrics: Metrics,
    /// Raised once, when the process stops.
    pub shutdown: Arc<AtomicBool>,
}

impl Pipeline {
    /// Runs pipelines until shutdown, restarting failed ones with exponential backoff.
    pub fn supervise(&self) {
        let mut backoff = Duration::from_millis(500);
        while !self.shutdown.load(Ordering::Relaxed) {
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
        while !left.is_zero() && !self.shutdown.load(Ordering::Relaxed) {
            std::thread::sleep(step.min(left));
            left = left.saturating_sub(step);
        }
    }

    /// One incarnation: resume from the live index's last commit, run until shutdown (Ok,
    /// after a final commit) or a failure (Err, nothing past the last commit kept).
    pub fn run_once(&self) -> Result<(), PipelineError> {
        let s = &self.settings;
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

        let index_writer = live
            .index
            .writer_with_num_threads(s.indexing_threads, s.writer_memory_bytes)
            .map_err(PipelineError::OpenWriter)?;
        index_writer.set_merge_policy(Box::new(store::merge_policy(
            s.merge_deletes_ratio,
            s.merge_min_segments,
        )));

        let dlq = DeadLetters::new(&s.brokers, &s.topics.dlq, &s.kafka_properties)?;
        let (tx, rx) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
        let stop = Arc::new(AtomicBool::new(false));
        let source = KafkaSource::new(
            &consumer_config(&s.brokers, &s.group_id, &s.kafka_properties),
            s.topics.clone(),
            self.status.clone(),
            positions.clone(),
            tx,
            vec![self.shutdown.clone(), stop.clone()],
        )
        .map_err(PipelineError::Consumer)?;
        let group = source.group_committer();
        let source_thread = std::thread::Builder::new()
            .name("kafka-source".to_owned())
            .spawn(move || source.run())
            .map_err(PipelineError::Thread)?;

        let mut writer_config = s.writer.clone();
        writer_config.observe_backlog_freshness = resumed;
        let mut writer = Writer::new(
            writer_config,
            live,
            index_writer,
            s.topics.clone(),
            positions,
            self.status.clone(),
            self.metrics.clone(),
            dlq,
            Some(group),
            self.shutdown.clone(),
        );
        writer.publish_index_status(None)?;
        if let Some(at) = last_commit_ms {
            self.status.update_index(|s| s.last_commit_ms = at);
        }
        self.status.set_pipeline_running(true);
        tracing::info!(resumed, "ingestion pipeline started");
        let result = writer.run(rx);
        stop.store(true, Ordering::Relaxed);
        let joined = source_thread.join();
        result?;
        joined.map_err(|_| PipelineError::SourcePanicked)?;
        tracing::info!("ingestion pipeline stopped");
        Ok(())
    }
}
