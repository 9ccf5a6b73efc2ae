//! The writer stage: merges decoded events into per-product state and commits the changed
//! products to the index (see [`crate::commit`] for the protocol).
//!
//! State lookups go, in order, to the products changed since the last commit (`pending`),
//! an LRU cache of committed states, and the index itself (the `state` stored field), so
//! memory stays bounded by the cache size whatever the catalog size.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use lru::LruCache;
use prometheus_client::metrics::counter::Counter;
use query_api::LiveIndex;
use schemas::IndexFields;
use tantivy::indexer::UserOperation;
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{DocAddress, DocSet, IndexWriter, Searcher, TantivyDocument, Term, TERMINATED};

/// What one applied event adds to a state's size, at most, for the memory budget (a new
/// offer record with its strings; replacing a record adds less).
const APPROX_RECORD_BYTES: usize = 256;

/// Products sent ahead per step while idle (small: a new batch must not wait long).
const SEND_AHEAD_STEP: usize = 64;

/// Operations per batch handed to Tantivy's indexing threads.
const OPS_PER_BATCH: usize = 512;

use crate::commit::{CommitPayload, CommitTrigger};
use crate::dlq::{DeadLetter, DeadLetters, DlqError};
use crate::merge::{self, Outcome, ProductState};
use crate::metrics::{EventOutcome, Metrics, TriggerLabels};
use crate::source::kafka::GroupCommitter;
use crate::source::{kind_index, Batch, RecordBody, SourceRecord, Topics};
use crate::status::Status;

#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("dead-letter topic: {0}")]
    Dlq(#[from] DlqError),
}

/// The writer's limits.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub commit_interval: Duration,
    pub max_docs_per_commit: usize,
    pub max_pending_bytes: usize,
    pub state_cache_entries: usize,
    /// Record freshness of events produced before the pipeline started (false on a brand-new
    /// index, whose initial load is not "changes waiting to become searchable").
    pub observe_backlog_freshness: bool,
    /// Record freshness at all (false for a rebuild: replayed events are not changes).
    pub record_freshness: bool,
}

/// A freshness sample: the event's source `ts` and its Kafka timestamp.
#[derive(Debug, Clone, Copy)]
struct Sample {
    ts: u64,
    kafka_ts_ms: Option<i64>,
}

/// Outcome of a commit, for tests and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitReport {
    pub trigger: CommitTrigger,
    pub docs: usize,
    pub dead_letters: usize,
}

pub struct Writer {
    config: WriterConfig,
    live: Arc<LiveIndex>,
    fields: IndexFields,
    index_writer: IndexWriter,
    topics: Topics,
    status: Arc<Status>,
    metrics: Metrics,
    /// `[kind][outcome]` counters, resolved once.
    counters: Vec<[Counter; 4]>,
    dlq: Option<DeadLetters>,
    group: Option<GroupCommitter>,
    shutdown: Arc<AtomicBool>,
    pending: HashMap<String, ProductState>,
    pending_bytes: usize,
    /// Pending products whose current document is already in Tantivy's queue (sent ahead
    /// while the writer waited for the next batch; uncommitted, so invisible until the
    /// commit). A product that changes again is sent again: its new delete removes the
    /// earlier add, whose opstamp is lower.
    sent: HashSet<String>,
    /// Pending products not sent yet (may hold duplicates).
    unsent: VecDeque<String>,
    cache: LruCache<String, ProductState>,
    positions: BTreeMap<(String, i32), i64>,
    positions_changed: bool,
    samples: Vec<Sample>,
    last_commit: Instant,
    started_ms: i64,
    searcher: Searcher,
}

/// The Tantivy operations that replace a product's document: delete every earlier version
/// (lower opstamps, committed or not), then add the current one.
fn upsert(fields: &IndexFields, product_id: &str, state: &ProductState) -> [UserOperation; 2] {
    [
        UserOperation::Delete(Term::from_field_text(fields.product_id, product_id)),
        UserOperation::Add(fields.document(state)),
    ]
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Writer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: WriterConfig,
        live: Arc<LiveIndex>,
        index_writer: IndexWriter,
        topics: Topics,
        positions: BTreeMap<(String, i32), i64>,
        status: Arc<Status>,
        metrics: Metrics,
        dlq: Option<DeadLetters>,
        group: Option<GroupCommitter>,
        shutdown: Arc<AtomicBool>,
    ) -> Writer {
        let outcomes = [
            EventOutcome::applied,
            EventOutcome::stale,
            EventOutcome::invalid,
            EventOutcome::dlq,
        ];
        let counters = topics
            .events
            .iter()
            .map(|topic| {
                outcomes.map(|outcome| {
                    metrics
                        .events
                        .get_or_create_owned(&crate::metrics::EventLabels {
                            topic: topic.clone(),
                            outcome,
                        })
                })
            })
            .collect();
        let cache_size =
            NonZeroUsize::new(config.state_cache_entries.max(1)).unwrap_or(NonZeroUsize::MIN);
        Writer {
            fields: live.fields.clone(),
            searcher: live.reader.searcher(),
            live,
            index_writer,
            topics,
            status,
            metrics,
            counters,
            dlq,
            group,
            shutdown,
            pending: HashMap::new(),
            pending_bytes: 0,
            sent: HashSet::new(),
            unsent: VecDeque::new(),
            cache: LruCache::new(cache_size),
            positions,
            positions_changed: false,
            samples: Vec::new(),
            last_commit: Instant::now() - config.commit_interval,
            started_ms: now_ms() as i64,
            config,
        }
    }

    /// Receives batches until the source stops, committing on the interval and budgets, and
    /// once more at the end.
    pub fn run(mut self, rx: Receiver<Batch>) -> Result<(), WriterError> {
        loop {
            let has_changes = self.has_changes();
            let wait = if has_changes {
                (self.last_commit + self.config.commit_interval)
                    .saturating_duration_since(Instant::now())
            } else {
                Duration::from_millis(500)
            };
            // Idle before the next commit: index changed products ahead instead of waiting,
            // so the commit has less to do (never while batches wait: a backlog coalesces
            // repeated changes of a product into one document per commit instead).
            if !self.unsent.is_empty() && !wait.is_zero() && rx.is_empty() {
                self.send_ahead(SEND_AHEAD_STEP)?;
                continue;
            }
            match rx.recv_timeout(wait) {
                Ok(batch) => {
                    self.process_batch(batch)?;
                    if let Some(trigger) = self.budget_trigger() {
                        self.commit(trigger)?;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    if self.has_changes() {
                        self.commit(CommitTrigger::Shutdown)?;
                    }
                    return Ok(());
                }
            }
            if self.has_changes() && self.last_commit.elapsed() >= self.config.commit_interval {
                self.commit(CommitTrigger::Interval)?;
            }
        }
    }

    pub fn has_changes(&self) -> bool {
        !self.pending.is_empty()
            || self.positions_changed
            || self.dlq.as_ref().is_some_and(|d| d.pending() > 0)
    }

    fn budget_trigger(&self) -> Option<CommitTrigger> {
        if self.pending.len() >= self.config.max_docs_per_commit {
            Some(CommitTrigger::DocBudget)
        } else if self.pending_bytes >= self.config.max_pending_bytes {
            Some(CommitTrigger::MemoryBudget)
        } else {
            None
        }
    }

    pub fn process_batch(&mut self, batch: Batch) -> Result<(), WriterError> {
        self.searcher = self.live.reader.searcher();
        for record in batch {
            self.process(record)?;
        }
        self.status.set_processed(&self.positions);
        Ok(())
    }

    fn process(&mut self, record: SourceRecord) -> Result<(), WriterError> {
        let k = kind_index(record.kind);
        let topic = self.topics.events[k].clone();
        self.status
            .counters
            .consumed
            .fetch_add(1, Ordering::Relaxed);
        match &record.body {
            RecordBody::Event(event) => {
                let ts = event.ts();
                let state = self.state_mut(event.product_id())?;
                match merge::apply(state, event) {
                    Outcome::Applied => {
                        // Growth of a state by one event: a new record at most.
                        self.pending_bytes += APPROX_RECORD_BYTES;
                        // A sent document is stale now: send it again (a product not sent
                        // yet is still queued).
                        if self.sent.remove(event.product_id()) {
                            self.unsent.push_back(event.product_id().to_owned());
                        }
                        self.counters[k][0].inc();
                        self.status.counters.applied.fetch_add(1, Ordering::Relaxed);
                        self.samples.push(Sample {
                            ts,
                            kafka_ts_ms: record.kafka_ts_ms,
                        });
                    }
                    Outcome::Stale => {
                        self.counters[k][1].inc();
                        self.status.counters.stale.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            RecordBody::Invalid(invalid) => {
                tracing::debug!(topic = %topic, partition = record.partition, offset = record.offset, error = %invalid.error, "invalid event sent to the dead-letter topic");
                self.counters[k][2].inc();
                self.status.counters.invalid.fetch_add(1, Ordering::Relaxed);
                if let Some(dlq) = &mut self.dlq {
                    dlq.send(DeadLetter::new(
                        &topic,
                        record.partition,
                        record.offset,
                        record.kafka_ts_ms,
                        record.kind,
                        invalid,
                    ));
                }
            }
        }
        self.positions
            .insert((topic, record.partition), record.offset + 1);
        self.positions_changed = true;
        Ok(())
    }

    /// Sends up to `n` pending products to Tantivy ahead of the commit.
    fn send_ahead(&mut self, n: usize) -> Result<(), WriterError> {
        let mut ops = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let Some(id) = self.unsent.pop_front() else {
                break;
            };
            if self.sent.contains(&id) {
                continue;
            }
            if let Some(state) = self.pending.get(&id) {
                ops.extend(upsert(&self.fields, &id, state));
                self.sent.insert(id);
            }
        }
        if !ops.is_empty() {
            self.index_writer.run(ops)?;
        }
        Ok(())
    }

    /// The state of `product_id`, moved into `pending` (it is about to change).
    fn state_mut(&mut self, product_id: &str) -> Result<&mut ProductState, WriterError> {
        match self.pending.entry(product_id.to_owned()) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => {
                let state = match self.cache.pop(product_id) {
                    Some(state) => state,
                    None => load_state(&self.searcher, &self.fields, product_id)?
                        .unwrap_or_else(|| ProductState::new(product_id)),
                };
                self.pending_bytes += state.approx_bytes();
                self.unsent.push_back(product_id.to_owned());
                Ok(e.insert(state))
            }
        }
    }

    /// Makes everything processed so far searchable and durable.
    pub fn commit(&mut self, trigger: CommitTrigger) -> Result<CommitReport, WriterError> {
        let started = Instant::now();
        let docs = self.pending.len();
        // Operations go to Tantivy's indexing threads in batches (one channel message per
        // batch rather than per document).
        let mut ops = Vec::with_capacity(OPS_PER_BATCH);
        for (product_id, state) in &self.pending {
            if self.sent.contains(product_id) {
                continue;
            }
            ops.extend(upsert(&self.fields, product_id, state));
            if ops.len() >= OPS_PER_BATCH {
                self.index_writer.run(std::mem::take(&mut ops))?;
            }
        }
        if !ops.is_empty() {
            self.index_writer.run(ops)?;
        }
        let built = started.elapsed();
        let confirmed = match &mut self.dlq {
            Some(dlq) => dlq.confirm(&self.shutdown),
            None => Ok(BTreeMap::new()),
        };
        let dead_letters_by_topic = match confirmed {
            Ok(n) => n,
            Err(e) => {
                // Nothing of this interval may be committed past an unconfirmed dead letter:
                // drop it all; it is consumed again on restart.
                self.index_writer.rollback()?;
                return Err(e.into());
            }
        };
        let dead_letters = dead_letters_by_topic.values().sum::<u64>() as usize;
        let committed_at = now_ms();
        let payload = CommitPayload::new(&self.positions, committed_at);
        let mut prepared = self.index_writer.prepare_commit()?;
        prepared.set_payload(&payload.to_json());
        prepared.commit()?;
        let tantivy_done = started.elapsed();
        self.live.reader.reload()?;
        let searchable_ms = now_ms();
        let elapsed = started.elapsed();

        for (id, state) in self.pending.drain() {
            self.cache.put(id, state);
        }
        self.sent.clear();
        self.unsent.clear();
        self.pending_bytes = 0;
        self.positions_changed = false;
        self.last_commit = started;
        self.observe_freshness(searchable_ms);
        if let Some(group) = &self.group {
            group.commit(&self.positions);
        }

        self.status.set_committed(&self.positions);
        self.publish_index_status(Some((committed_at, elapsed)))?;
        let m = &self.metrics;
        m.commits
            .get_or_create(&TriggerLabels {
                trigger: trigger.as_str().to_owned(),
            })
            .inc();
        m.commit_duration.observe(elapsed.as_secs_f64());
        m.docs_per_commit.observe(docs as f64);
        m.last_commit_timestamp.set(committed_at as f64 / 1000.0);
        for (topic, n) in &dead_letters_by_topic {
            self.status.counters.dlq.fetch_add(*n, Ordering::Relaxed);
            if let Some(kind) = self.topics.kind_of(topic) {
                self.counters[kind_index(kind)][3].inc_by(*n);
            }
        }
        tracing::debug!(
            trigger = trigger.as_str(),
            docs,
            dead_letters,
            build_ms = built.as_millis() as u64,
            tantivy_commit_ms = (tantivy_done - built).as_millis() as u64,
            duration_ms = elapsed.as_millis() as u64,
            "index commit"
        );
        Ok(CommitReport {
            trigger,
            docs,
            dead_letters,
        })
    }

    /// Publishes the index's size to `/status` and `/metrics`; `commit` is the time and
    /// duration of a commit that just happened. Returns the visible document count.
    pub fn publish_index_status(
        &mut self,
        commit: Option<(u64, Duration)>,
    ) -> Result<u64, WriterError> {
        self.searcher = self.live.reader.searcher();
        let segments = self.searcher.segment_readers().len() as u64;
        let records = self.searcher.num_docs();
        let visible = self.live.visible_count(&self.searcher)?;
        self.status.update_index(|s| {
            s.docs = visible;
            s.records = records;
            s.segments = segments;
            if let Some((at, duration)) = commit {
                s.last_commit_ms = at;
                s.last_commit_duration_ms = duration.as_millis() as u64;
                s.commits += 1;
            }
        });
        self.metrics.segments.set(segments as i64);
        self.metrics.index_docs.set(visible as i64);
        for p in self.status.partitions() {
            if let Some(lag) = p.lag {
                self.metrics
                    .consumer_lag
                    .get_or_create(&crate::metrics::PartitionLabels {
                        topic: p.topic,
                        partition: p.partition.to_string(),
                    })
                    .set(lag);
            }
        }
        Ok(visible)
    }

    fn observe_freshness(&mut self, searchable_ms: u64) {
        if !self.config.record_freshness {
            self.samples.clear();
            return;
        }
        let backlog_floor = (!self.config.observe_backlog_freshness).then_some(self.started_ms);
        let mut pairs = Vec::with_capacity(self.samples.len());
        for s in self.samples.drain(..) {
            if backlog_floor.is_some_and(|floor| s.kafka_ts_ms.is_some_and(|k| k < floor)) {
                continue;
            }
            let source_ms = searchable_ms.saturating_sub(s.ts);
            let pipeline_ms = s
                .kafka_ts_ms
                .map(|k| (searchable_ms as i64 - k).max(0) as u64);
            self.metrics.freshness.observe(source_ms as f64 / 1000.0);
            if let Some(p) = pipeline_ms {
                self.metrics.pipeline_latency.observe(p as f64 / 1000.0);
            }
            pairs.push((source_ms, pipeline_ms));
        }
        self.status.freshness.record(Instant::now(), pairs);
    }

    /// Positions processed so far (committed or not).
    pub fn positions(&self) -> &BTreeMap<(String, i32), i64> {
        &self.positions
    }
}

/// Reads a product's committed merge state back from the index.
pub fn load_state(
    searcher: &Searcher,
    fields: &IndexFields,
    product_id: &str,
) -> tantivy::Result<Option<ProductState>> {
    let Some(addr) = find_product(searcher, fields, product_id)? else {
        return Ok(None);
    };
    let doc: TantivyDocument = searcher.doc(addr)?;
    let bytes = doc
        .get_first(fields.state)
        .and_then(|v| v.as_bytes())
        .unwrap_or_default();
    match ProductState::decode(bytes) {
        Ok(state) => Ok(Some(state)),
        Err(e) => {
            tracing::error!(product_id, error = %e, "stored merge state unreadable; the product starts over from the next events (reindex to recover it)");
            Ok(None)
        }
    }
}

/// The address of the live (not deleted) document of `product_id`.
pub fn find_product(
    searcher: &Searcher,
    fields: &IndexFields,
    product_id: &str,
) -> tantivy::Result<Option<DocAddress>> {
    let term = Term::from_field_text(fields.product_id, product_id);
    for (ord, segment) in searcher.segment_readers().iter().enumerate() {
        let inverted = segment.inverted_index(fields.product_id)?;
        let Some(mut postings) = inverted.read_postings(&term, IndexRecordOption::Basic)? else {
            continue;
        };
        let mut doc = postings.doc();
        while doc != TERMINATED {
            if !segment.is_deleted(doc) {
                return Ok(Some(DocAddress::new(ord as u32, doc)));
            }
            doc = postings.advance();
        }
    }
    Ok(None)
}
