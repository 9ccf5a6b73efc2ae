//! The writer stage: merges decoded events into per-product state and commits the changed
//! products to the index with the positions they cover (the protocol is in
//! [`crate::ingest`]).
//!
//! - `pending`: the products changed since the last commit, and which of them were already
//!   sent to Tantivy while the writer waited for the next batch.
//! - `lookup`: where the committed state of a product comes from (an LRU cache, then the
//!   index).
//! - `commit`: one commit, step by step ([`crate::models::CommitTrigger`]
//!   says why it happens).
//!
//! The writer's fixed handles ([`WriterHandles`]: the index, its writer, the status, the
//! metrics, the dead-letter producer) are kept apart from the per-interval scratch state
//! (pending changes, positions), as quickwit's `IndexerState` and `IndexingWorkbench`.

mod clock;
mod commit;
mod lookup;
mod pending;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use schemas::state::Versioned;
use schemas::stores::StockKey;
use schemas::values::{OfferList, OfferValues, OverlayEntry, ProductValues};
use schemas::{Event, EventKind, InventoryEvent, LiveIndex, ProductState};
use tantivy::IndexWriter;

pub use self::lookup::LookupError;
use self::lookup::StateLookup;
use self::pending::{Pending, Sample};
use crate::ingest::dead_letters::{Confirmed, DeadLetter, DeadLetters, DlqError};
use crate::ingest::merge::{self, Outcome};
use crate::ingest::pipeline::PipelinePanic;
use crate::ingest::source::GroupCommitter;
use crate::models::{
    CommitTrigger, PerKind, PositionAdvance, Positions, RecordAt, RecordBatch, RecordBody,
    SourceRecord, TopicPartition, Topics,
};
use crate::store::live_log::{FrameRef, LiveLog, LiveLogError};
use crate::telemetry::{EventCounters, FreshnessPath, Metrics, SkewLabels, Status};
use crate::util::now_ms;
use crate::util::panic;

/// Products sent ahead per step while idle (small: a new batch must not wait long).
const SEND_AHEAD_STEP: usize = 64;

/// What can stop the writer.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// The index could not be written or read.
    #[error("index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// A product's committed state could not be read.
    #[error(transparent)]
    State(#[from] LookupError),
    /// Dead letters could not be confirmed.
    #[error("dead-letter topic: {0}")]
    Dlq(#[from] DlqError),
    /// The live log could not be written.
    #[error(transparent)]
    LiveLog(#[from] LiveLogError),
    /// Processing a record panicked.
    #[error("{0}")]
    Panicked(Box<PipelinePanic>),
}

/// The writer's limits.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Commit at most this often (from the start of the previous commit).
    pub commit_interval: Duration,
    /// Commit early once this many products changed.
    pub max_docs_per_commit: usize,
    /// Commit early once the changed states take this much memory.
    pub max_pending_bytes: usize,
    /// Committed states kept in memory.
    pub state_cache_entries: usize,
    /// Record freshness of events produced before the pipeline started (false on a brand-new
    /// index, whose initial load is not "changes waiting to become searchable").
    pub observe_backlog_freshness: bool,
    /// Record freshness at all (false for a rebuild: replayed events are not changes).
    pub record_freshness: bool,
}

/// What the writer writes to and reports to, fixed for its life.
pub struct WriterHandles {
    /// The index written.
    pub live: Arc<LiveIndex>,
    /// Its Tantivy writer.
    pub index_writer: IndexWriter,
    /// The topic of each event kind.
    pub topics: Topics,
    /// Where positions and figures go.
    pub status: Arc<Status>,
    /// The metrics.
    pub metrics: Metrics,
    /// The dead-letter producer (`None`: invalid events are only counted).
    pub dead_letters: Option<DeadLetters>,
    /// The consumer-group mirror (`None`: none).
    pub group: Option<GroupCommitter>,
    /// The live log of the index (`None`: an index in memory, whose live values are not
    /// durable).
    pub live_log: Option<LiveLog>,
}

/// The live records and values of a product changed on the live path in the current batch
/// that became pending later in it (taken when its state left the batch).
struct LiveChange {
    offers: Vec<OfferValues>,
    values: ProductValues,
}

/// A state of the live batch, and whether an event of the batch changed it.
struct BatchState {
    state: ProductState,
    changed: bool,
}

impl LiveChange {
    fn of(state: &ProductState) -> LiveChange {
        LiveChange {
            offers: OfferValues::of(state),
            values: ProductValues::of(state),
        }
    }
}

/// A store quantity applied on the live path (see `schemas::stores`), to publish.
struct StoreChange {
    product_id: String,
    offer_id: String,
    store_id: String,
    record: Versioned<u64>,
}

/// Price and inventory events take the live path (see `schemas::values`).
fn is_live(event: &Event) -> bool {
    matches!(event, Event::Price(_) | Event::Inventory(_))
}

/// The live records of `product_id`: changed in the current batch, else published.
fn live_offers(
    index: &LiveIndex,
    held: &HashMap<String, LiveChange>,
    product_id: &str,
) -> Option<Vec<OfferValues>> {
    if let Some(change) = held.get(product_id) {
        return Some(change.offers.clone());
    }
    let values = &index.values;
    let slot = crate::util::lock(&values.slots).get(product_id)?;
    values.overlay.get(slot).map(|e| e.offers.clone())
}

/// The writer stage.
pub struct Writer {
    config: WriterConfig,
    handles: WriterHandles,
    /// Event counters per kind, resolved once.
    counters: PerKind<EventCounters>,
    pending: Pending,
    states: StateLookup,
    positions: Positions,
    positions_changed: bool,
    /// Dead letters settled since the last commit (counted at the commit).
    settled: Confirmed,
    last_commit: Instant,
    started_ms: i64,
    /// The states of the products changed on the live path in the current batch, out of
    /// the state cache until the batch is published (so the cache cannot evict them), then
    /// put back. Their live records are rewritten in place from these states at the end
    /// of the batch: nothing is copied per event.
    live_batch: hashbrown::HashMap<String, BatchState>,
    /// Products of the current batch changed on the live path, then pending: their live
    /// records as of then, published at the end of the batch.
    live_held: HashMap<String, LiveChange>,
    /// Freshness samples of the current batch's live changes.
    live_samples: Vec<Sample>,
    /// Slots changed on the live path since the last commit.
    live_touched: HashSet<u32>,
    /// Slots whose overlay entry the last commit folded into the index (forgotten at the
    /// next commit unless changed on the live path meanwhile).
    folded: HashSet<u32>,
    /// The next offset of each partition read in the current batch (moved into `positions`
    /// at its end).
    batch_next: Vec<(EventKind, i32, i64)>,
    /// Store quantities applied in the current batch, published at its end.
    store_batch: HashMap<StockKey, StoreChange>,
    /// Store quantities of products pending on the indexed path: published with the commit
    /// that shows the product's new state (their availability depends on it).
    store_held: HashMap<StockKey, StoreChange>,
}

impl StoreChange {
    /// Its live-log frame.
    fn frame(&self) -> FrameRef<'_> {
        FrameRef::Stock {
            product_id: &self.product_id,
            offer_id: &self.offer_id,
            store_id: &self.store_id,
            record: &self.record,
        }
    }
}

impl Writer {
    /// A writer resuming at `positions` (the payload of the last commit).
    pub fn new(config: WriterConfig, handles: WriterHandles, positions: Positions) -> Writer {
        let counters =
            PerKind::from_fn(|kind| handles.metrics.event_counters(handles.topics.topic(kind)));
        Writer {
            states: StateLookup::new(&handles.live, config.state_cache_entries),
            handles,
            counters,
            pending: Pending::default(),
            positions,
            positions_changed: false,
            settled: Confirmed::default(),
            // Due at once: the first change after a start is committed promptly. (Checked:
            // the monotonic clock may be younger than a long interval right after boot.)
            last_commit: Instant::now()
                .checked_sub(config.commit_interval)
                .unwrap_or_else(Instant::now),
            started_ms: now_ms() as i64,
            live_batch: hashbrown::HashMap::new(),
            live_held: HashMap::new(),
            live_samples: Vec::new(),
            live_touched: HashSet::new(),
            folded: HashSet::new(),
            batch_next: Vec::new(),
            store_batch: HashMap::new(),
            store_held: HashMap::new(),
            config,
        }
    }

    /// Receives batches until the source stops, committing on the interval and budgets, and
    /// once more at the end.
    pub fn run(mut self, rx: Receiver<RecordBatch>) -> Result<(), WriterError> {
        loop {
            let wait = self.time_to_next_commit();
            // Idle before the next commit: index changed products ahead instead of waiting,
            // so the commit has less to do (never while batches wait: a backlog coalesces
            // repeated changes of a product into one document per commit instead).
            if self.pending.has_unsent() && !wait.is_zero() && rx.is_empty() {
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
                Err(RecvTimeoutError::Timeout) => self.poll_dead_letters()?,
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

    /// How long the loop may wait for a batch: until the interval's commit is due, or a
    /// while when there is nothing to commit.
    fn time_to_next_commit(&self) -> Duration {
        if self.has_changes() {
            (self.last_commit + self.config.commit_interval)
                .saturating_duration_since(Instant::now())
        } else {
            Duration::from_millis(500)
        }
    }

    /// Whether anything was processed since the last commit (or dead letters were settled
    /// since, which lets the committed positions move on).
    pub fn has_changes(&self) -> bool {
        !self.pending.is_empty() || self.positions_changed || !self.settled.is_empty()
    }

    /// While idle, collects dead letters settled in the background (a failing dead-letter
    /// topic that recovers lets the next commit pass their offsets).
    fn poll_dead_letters(&mut self) -> Result<(), WriterError> {
        if let Some(dlq) = &mut self.handles.dead_letters {
            if dlq.pending() > 0 {
                self.settled.absorb(dlq.settle(Duration::ZERO)?);
                self.report_dead_letters();
            }
        }
        Ok(())
    }

    /// The dead-letter backlog to `/status` and `/metrics`.
    fn report_dead_letters(&self) {
        if let Some(dlq) = &self.handles.dead_letters {
            let health = dlq.health();
            self.handles.metrics.dlq_pending.set(health.pending as i64);
            self.handles.status.set_dead_letters(health);
        }
    }

    fn budget_trigger(&self) -> Option<CommitTrigger> {
        if self.pending.len() >= self.config.max_docs_per_commit {
            Some(CommitTrigger::DocBudget)
        } else if self.pending.bytes() >= self.config.max_pending_bytes {
            Some(CommitTrigger::MemoryBudget)
        } else {
            None
        }
    }

    /// Applies a batch of records. A panic is returned with the record it happened at
    /// (the states it was changing are thrown away with the incarnation).
    pub fn process_batch(&mut self, batch: RecordBatch) -> Result<(), WriterError> {
        self.states.refresh(&self.handles.live);
        let (records, advances) = batch.into_parts();
        let mut at = None;
        let processed = panic::catch(|| {
            for record in records {
                at = Some((record.kind, record.partition, record.offset));
                self.process(record)?;
            }
            Ok::<(), WriterError>(())
        });
        match processed {
            Ok(result) => result?,
            Err(caught) => {
                let at = at.map(|(kind, partition, offset)| {
                    RecordAt::new(
                        TopicPartition::new(self.handles.topics.topic(kind), partition),
                        offset,
                    )
                });
                return Err(WriterError::Panicked(Box::new(PipelinePanic {
                    at,
                    caught,
                })));
            }
        }
        self.publish_live()?;
        for (kind, partition, next) in self.batch_next.drain(..) {
            let topic = self.handles.topics.topic(kind);
            self.positions
                .insert(TopicPartition::new(topic, partition), next);
            self.positions_changed = true;
        }
        for advance in advances {
            self.advance(advance);
        }
        self.handles.status.set_processed(&self.positions);
        Ok(())
    }

    /// Moves a partition's position past offsets without records (see [`PositionAdvance`]);
    /// never backwards.
    fn advance(&mut self, advance: PositionAdvance) {
        let tp = TopicPartition::new(self.handles.topics.topic(advance.kind), advance.partition);
        if self
            .positions
            .get(&tp)
            .is_none_or(|next| advance.next > next)
        {
            self.positions.insert(tp, advance.next);
            self.positions_changed = true;
        }
    }

    fn process(&mut self, mut record: SourceRecord) -> Result<(), WriterError> {
        if let RecordBody::Event(event) = &mut record.body {
            let (ts, skew) = clock::plausible_ts(event.ts(), record.kafka_ts_ms, now_ms);
            if let Some(direction) = skew {
                event.set_ts(ts);
                self.handles
                    .metrics
                    .clock_skew
                    .get_or_create(&SkewLabels { direction })
                    .inc();
            }
        }
        self.handles
            .status
            .counters
            .consumed
            .fetch_add(1, Ordering::Relaxed);
        match &record.body {
            RecordBody::Event(event) => {
                let sample = Sample {
                    ts: event.ts(),
                    kafka_ts_ms: record.kafka_ts_ms,
                };
                let pid = event.product_id();
                let outcome = if let Event::Inventory(
                    i @ InventoryEvent {
                        store_id: Some(store_id),
                        ..
                    },
                ) = event
                {
                    self.apply_store(i, store_id, sample)
                } else if is_live(event) && !self.pending.contains(pid) {
                    self.apply_live(event, sample)?
                } else {
                    let (states, index) = (&mut self.states, &self.handles.live);
                    let (batch, held) = (&mut self.live_batch, &mut self.live_held);
                    let state = self.pending.state_mut(pid, || {
                        // Changed on the live path earlier in this batch: its live records
                        // as of now are still published at the end of the batch.
                        if let Some((id, entry)) = batch.remove_entry(pid) {
                            if entry.changed {
                                held.insert(id, LiveChange::of(&entry.state));
                            }
                            return Ok(entry.state);
                        }
                        states.take(index, pid, || live_offers(index, held, pid))
                    })?;
                    panic::failpoint("ingest::apply", pid);
                    let outcome = merge::apply(state, event);
                    if outcome == Outcome::Applied {
                        self.pending.applied(pid, sample);
                    }
                    outcome
                };
                let (counters, status) = (&self.counters[record.kind], &self.handles.status);
                match outcome {
                    Outcome::Applied => {
                        counters.applied.inc();
                        status.counters.applied.fetch_add(1, Ordering::Relaxed);
                    }
                    Outcome::Stale => {
                        counters.stale.inc();
                        status.counters.stale.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            RecordBody::Invalid(invalid) => {
                let topic = self.handles.topics.topic(record.kind);
                let (counters, status) = (&self.counters[record.kind], &self.handles.status);
                tracing::debug!(topic = %topic, partition = record.partition, offset = record.offset, error = %invalid.error, "invalid event sent to the dead-letter topic");
                counters.invalid.inc();
                status.counters.invalid.fetch_add(1, Ordering::Relaxed);
                if let Some(dlq) = &mut self.handles.dead_letters {
                    dlq.send(DeadLetter::new(
                        topic,
                        record.partition,
                        record.offset,
                        record.kafka_ts_ms,
                        record.kind,
                        invalid,
                    ));
                }
            }
        }
        // Per partition of the batch (a few): the positions' keys are owned topic names, so
        // updating them per record allocated and compared strings for every event.
        let next = record.offset + 1;
        match self
            .batch_next
            .iter_mut()
            .find(|(kind, partition, _)| *kind == record.kind && *partition == record.partition)
        {
            Some((_, _, at)) => *at = next,
            None => self.batch_next.push((record.kind, record.partition, next)),
        }
        Ok(())
    }

    /// Applies a price or inventory event of a product not pending on the live path: the
    /// state changes in the cache, the product's live records and values are published at
    /// the end of the batch ([`Writer::publish_live`]), and nothing is re-indexed.
    fn apply_live(&mut self, event: &Event, sample: Sample) -> Result<Outcome, WriterError> {
        let pid = event.product_id();
        let (states, index, held) = (&mut self.states, &self.handles.live, &self.live_held);
        let entry = match self.live_batch.entry_ref(pid) {
            hashbrown::hash_map::EntryRef::Occupied(e) => e.into_mut(),
            hashbrown::hash_map::EntryRef::Vacant(e) => e.insert(BatchState {
                state: states.take(index, pid, || live_offers(index, held, pid))?,
                changed: false,
            }),
        };
        panic::failpoint("ingest::apply", pid);
        let outcome = merge::apply(&mut entry.state, event);
        if outcome == Outcome::Applied {
            entry.changed = true;
            self.live_samples.push(sample);
        }
        Ok(outcome)
    }

    /// Applies a store quantity (an inventory event with a `store_id`): the record changes
    /// at the end of the batch, or with the next commit if the product is pending there.
    fn apply_store(&mut self, event: &InventoryEvent, store_id: &str, sample: Sample) -> Outcome {
        let values = &self.handles.live.values;
        let slot = crate::util::lock(&values.slots).get_or_assign(&event.product_id);
        let stock = &values.stores;
        let key = (
            slot,
            stock.intern_store(store_id),
            stock.intern_offer(&event.offer_id),
        );
        let mut record = self
            .store_held
            .get(&key)
            .or_else(|| self.store_batch.get(&key))
            .map(|c| c.record.clone())
            .or_else(|| stock.get(key));
        panic::failpoint("ingest::apply", &event.product_id);
        let outcome = merge::apply_store(&mut record, event);
        if let (Outcome::Applied, Some(record)) = (outcome, record) {
            let change = StoreChange {
                product_id: event.product_id.clone(),
                offer_id: event.offer_id.clone(),
                store_id: store_id.to_owned(),
                record,
            };
            if self.pending.contains(&event.product_id) {
                self.store_batch.remove(&key);
                self.store_held.insert(key, change);
                self.pending.observe(sample);
            } else {
                self.store_batch.insert(key, change);
                self.live_samples.push(sample);
            }
        }
        outcome
    }

    /// Makes the live changes of a batch visible: their frames written to the live log
    /// first (a crash keeps what a shopper saw), then the overlay and the columns, then the
    /// store quantities and the availability they and the new prices derive.
    fn publish_live(&mut self) -> Result<(), WriterError> {
        if self.live_batch.is_empty() && self.live_held.is_empty() && self.store_batch.is_empty() {
            return Ok(());
        }
        // A product that became pending later in the batch shows its store quantities with
        // the commit that shows its new state.
        let held: Vec<StockKey> = self
            .store_batch
            .iter()
            .filter(|(_, c)| self.pending.contains(&c.product_id))
            .map(|(k, _)| *k)
            .collect();
        for key in held {
            if let Some(change) = self.store_batch.remove(&key) {
                self.store_held.insert(key, change);
            }
        }
        if let Some(log) = &mut self.handles.live_log {
            for (product_id, entry) in self.live_batch.iter().filter(|(_, e)| e.changed) {
                log.append(FrameRef::Offers {
                    product_id,
                    offers: OfferList::State(&entry.state),
                });
            }
            for (product_id, change) in &self.live_held {
                log.append(FrameRef::Offers {
                    product_id,
                    offers: OfferList::Values(&change.offers),
                });
            }
            for change in self.store_batch.values() {
                log.append(change.frame());
            }
            log.flush()?;
        }
        let values = &self.handles.live.values;
        let mut slots = crate::util::lock(&values.slots);
        // Products whose availability may have changed: a price on one of their offers, or
        // a store quantity (`None`: every store of the product).
        let mut refresh: Vec<(u32, String, Option<u32>)> = Vec::new();
        for (product_id, entry) in self.live_batch.drain() {
            if entry.changed {
                let slot = slots.get_or_assign(&product_id);
                values.columns.set(slot, ProductValues::of(&entry.state));
                if !values.stores.stores_of(slot).is_empty() {
                    refresh.push((slot, product_id.clone(), None));
                }
                values.overlay.set_from(slot, &product_id, &entry.state);
                self.live_touched.insert(slot);
            }
            self.states.keep(product_id, entry.state);
        }
        for (product_id, change) in self.live_held.drain() {
            let slot = slots.get_or_assign(&product_id);
            values.columns.set(slot, change.values);
            if !values.stores.stores_of(slot).is_empty() {
                refresh.push((slot, product_id.clone(), None));
            }
            values.overlay.set(
                slot,
                OverlayEntry {
                    product_id,
                    offers: change.offers,
                },
            );
            self.live_touched.insert(slot);
        }
        drop(slots);
        for (key, change) in self.store_batch.drain() {
            values.stores.set(key, change.record);
            refresh.push((key.0, change.product_id, Some(key.1)));
        }
        self.refresh_availability(refresh)?;
        let samples = std::mem::take(&mut self.live_samples);
        self.observe_freshness(FreshnessPath::live, now_ms(), samples);
        Ok(())
    }

    /// Re-derives the availability of `(slot, product, store or every store)` from the
    /// products' states as shoppers see them (none is pending).
    fn refresh_availability(
        &mut self,
        refresh: Vec<(u32, String, Option<u32>)>,
    ) -> Result<(), WriterError> {
        let index = &self.handles.live;
        let no_batch = HashMap::new();
        for (slot, product_id, store) in refresh {
            let state = self.states.get_mut(index, &product_id, || {
                live_offers(index, &no_batch, &product_id)
            })?;
            match store {
                Some(store) => index.values.stores.refresh_store(slot, store, state),
                None => index.values.stores.refresh(slot, state),
            }
        }
        Ok(())
    }

    /// Sends up to `n` pending products to Tantivy ahead of the commit.
    fn send_ahead(&mut self, n: usize) -> Result<(), WriterError> {
        let mut slots = crate::util::lock(&self.handles.live.values.slots);
        let ops = self
            .pending
            .send_ahead(&self.handles.live.fields, n, &mut |id| {
                slots.get_or_assign(id)
            });
        drop(slots);
        if !ops.is_empty() {
            self.handles.index_writer.run(ops)?;
        }
        Ok(())
    }

    /// Reports the index's size to `/status` and `/metrics`; `commit` is the time and
    /// duration of a commit that just happened. Returns the visible document count.
    pub fn report_index_status(
        &mut self,
        commit: Option<(u64, Duration)>,
    ) -> Result<u64, WriterError> {
        self.states.refresh(&self.handles.live);
        let searcher = self.states.searcher();
        let segments = searcher.segment_readers().len() as u64;
        let records = searcher.num_docs();
        let visible = self.handles.live.visible_count(searcher)?;
        let stock = &self.handles.live.values.stores;
        let (store_records, store_bytes) = (stock.len() as u64, stock.bytes() as u64);
        let (status, metrics) = (&self.handles.status, &self.handles.metrics);
        status.update_index(|s| {
            s.docs = visible;
            s.records = records;
            s.segments = segments;
            s.store_records = store_records;
            s.store_bytes = store_bytes;
            if let Some((at, duration)) = commit {
                s.last_commit_ms = at;
                s.last_commit_duration_ms = duration.as_millis() as u64;
                s.commits += 1;
            }
        });
        metrics.segments.set(segments as i64);
        metrics.index_docs.set(visible as i64);
        metrics.store_records.set(store_records as i64);
        for p in status.partitions() {
            if let Some(lag) = p.lag {
                metrics.set_lag(&p.topic, p.partition, lag);
            }
        }
        Ok(visible)
    }
}
