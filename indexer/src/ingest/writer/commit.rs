//! One commit, in the order the protocol needs (see [`crate::ingest`]): every pending
//! product to Tantivy, dead letters confirmed, Tantivy commit with the positions as payload,
//! reader reloaded, then the bookkeeping (cache, freshness, consumer-group mirror, status,
//! metrics).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::clock::is_change;
use super::{Writer, WriterError};
use crate::ingest::dead_letters::Confirmed;
use crate::models::{CommitPayload, CommitTrigger, Positions};
use std::collections::{HashMap, HashSet};

use schemas::state::Versioned;
use schemas::stores::StockKey;
use schemas::values::{LiveValues, OfferList, ProductValues};

use super::pending::Sample;
use crate::store::live_log::FrameRef;
use crate::telemetry::{DlqFailureLabels, FreshnessPath, PathLabels, TriggerLabels};
use crate::util::now_ms;

/// Operations per batch handed to Tantivy's indexing threads.
const OPS_PER_BATCH: usize = 512;
/// How long a commit waits for the acknowledgement of its dead letters while the
/// dead-letter topic is healthy (a few ms normally; past it, the letters are confirmed by a
/// later commit and their partitions held back until then).
const CONFIRM_WAIT: Duration = Duration::from_secs(1);

/// The names behind the interned ids of store records, for their frames.
struct StockNames {
    products: HashMap<u32, String>,
    stores: Vec<std::sync::Arc<str>>,
    offers: HashMap<u32, std::sync::Arc<str>>,
}

impl StockNames {
    fn of(values: &LiveValues, records: &[(StockKey, Versioned<u64>)]) -> StockNames {
        let stock = &values.stores;
        let slots: HashSet<u32> = records.iter().map(|(k, _)| k.0).collect();
        let products = crate::util::lock(&values.slots)
            .iter()
            .filter(|(_, slot)| slots.contains(slot))
            .map(|(id, slot)| (slot, id.to_owned()))
            .collect();
        let mut stores = Vec::new();
        while let Some(name) = stock.store_name(stores.len() as u32) {
            stores.push(name);
        }
        let offers = records
            .iter()
            .filter_map(|(k, _)| Some((k.2, stock.offer_name(k.2)?)))
            .collect();
        StockNames {
            products,
            stores,
            offers,
        }
    }
}

/// Outcome of a commit, for tests and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitReport {
    /// Why it happened.
    pub trigger: CommitTrigger,
    /// Products re-indexed.
    pub docs: usize,
    /// Dead letters confirmed.
    pub dead_letters: usize,
}

/// When the steps of a commit ended, from its start.
struct Timings {
    built: Duration,
    tantivy_done: Duration,
    elapsed: Duration,
}

impl Writer {
    /// Makes everything processed so far searchable and durable.
    pub fn commit(&mut self, trigger: CommitTrigger) -> Result<CommitReport, WriterError> {
        let started = Instant::now();
        let docs = self.pending.len();
        self.send_pending()?;
        let built = started.elapsed();
        let dead_letters = self.confirm_dead_letters()?;
        let committed = self.committable_positions();
        let forget = self.log_live_fold()?;
        let committed_at = self.commit_index(&committed)?;
        let tantivy_done = started.elapsed();
        self.fold_live(&forget);
        self.handles.live.reader.reload()?;
        let searchable_ms = now_ms();
        let timings = Timings {
            built,
            tantivy_done,
            elapsed: started.elapsed(),
        };
        self.close_interval(started, searchable_ms, &committed);
        self.rotate_live_log()?;
        self.report_index_status(Some((committed_at, timings.elapsed)))?;
        self.record_commit(trigger, docs, committed_at, &timings, &dead_letters);
        Ok(CommitReport {
            trigger,
            docs,
            dead_letters: dead_letters.delivered.values().sum::<u64>() as usize,
        })
    }

    /// Hands every pending product not sent ahead to Tantivy's indexing threads, in batches
    /// (one channel message per batch rather than per document).
    fn send_pending(&mut self) -> Result<(), WriterError> {
        let mut slots = crate::util::lock(&self.handles.live.values.slots);
        let mut slot_of = |id: &str| slots.get_or_assign(id);
        for ops in
            self.pending
                .unsent_operations(&self.handles.live.fields, OPS_PER_BATCH, &mut slot_of)
        {
            self.handles.index_writer.run(ops)?;
        }
        Ok(())
    }

    /// The live log's side of a commit (see `store::live_log`), before the Tantivy commit:
    /// a re-indexed product with live records gets a frame of its records as committed
    /// (a frame is never older than the stored state); the products folded by the previous
    /// commit and not changed on the live path since are forgotten; then the log is synced.
    /// Returns the slots to forget.
    fn log_live_fold(&mut self) -> Result<Vec<u32>, WriterError> {
        let values = &self.handles.live.values;
        let slots = crate::util::lock(&values.slots);
        let mut forget = Vec::new();
        for slot in self.folded.drain() {
            if self.live_touched.contains(&slot) {
                continue;
            }
            if let Some(entry) = values.overlay.get(slot) {
                if !self.pending.contains(&entry.product_id) {
                    forget.push((slot, entry.product_id.clone()));
                }
            }
        }
        let Some(log) = &mut self.handles.live_log else {
            return Ok(forget.into_iter().map(|(slot, _)| slot).collect());
        };
        for (id, state) in self.pending.states() {
            if slots
                .get(id)
                .is_some_and(|slot| values.overlay.get(slot).is_some())
            {
                log.append(FrameRef::Offers {
                    product_id: id,
                    offers: OfferList::State(state),
                });
            }
        }
        for (_, product_id) in &forget {
            log.append(FrameRef::Forget { product_id });
        }
        for change in self.store_held.values() {
            log.append(change.frame());
        }
        log.sync()?;
        Ok(forget.into_iter().map(|(slot, _)| slot).collect())
    }

    /// Right after the Tantivy commit, before the reader reload: the re-indexed products'
    /// live values become those of their committed states (an overlay entry is refreshed,
    /// and forgotten by the next commit), and the slots of `forget` lose theirs.
    fn fold_live(&mut self, forget: &[u32]) {
        let values = &self.handles.live.values;
        let slots = crate::util::lock(&values.slots);
        for (id, state) in self.pending.states() {
            let Some(slot) = slots.get(id) else { continue };
            values.columns.set(slot, ProductValues::of(state));
            if values.overlay.get(slot).is_some() {
                values.overlay.set_from(slot, id, state);
                self.folded.insert(slot);
            }
        }
        for slot in forget {
            values.overlay.remove(*slot);
        }
        // Store quantities held for the commit, then the availability of every re-indexed
        // product with store records, from its committed state.
        for (key, change) in self.store_held.drain() {
            values.stores.set(key, change.record);
        }
        for (id, state) in self.pending.states() {
            if let Some(slot) = slots.get(id) {
                values.stores.refresh(slot, state);
            }
        }
        self.live_touched.clear();
    }

    /// Compacts the live log once it has grown enough (see `store::live_log`).
    fn rotate_live_log(&mut self) -> Result<(), WriterError> {
        let Some(log) = &mut self.handles.live_log else {
            return Ok(());
        };
        if log.wants_rotation() {
            let values = &self.handles.live.values;
            let entries = values.overlay.entries();
            let stock = values.stores.records();
            let names = StockNames::of(values, &stock);
            let offers = entries.iter().map(|(_, e)| FrameRef::Offers {
                product_id: &e.product_id,
                offers: OfferList::Values(&e.offers),
            });
            let stock = stock.iter().filter_map(|(key, record)| {
                Some(FrameRef::Stock {
                    product_id: names.products.get(&key.0)?,
                    store_id: names.stores.get(key.1 as usize)?,
                    offer_id: names.offers.get(&key.2)?,
                    record,
                })
            });
            log.rotate(offers.chain(stock))?;
        }
        Ok(())
    }

    /// Settles the dead letters of the interval: waits a little for their acknowledgement
    /// while the dead-letter topic is healthy, not at all while it fails (see
    /// `dead_letters`). Fails only under `--dlq-failure halt` for an undeliverable letter:
    /// then nothing of the interval is committed, and it is consumed again on restart.
    fn confirm_dead_letters(&mut self) -> Result<Confirmed, WriterError> {
        let mut confirmed = std::mem::take(&mut self.settled);
        let settled = match &mut self.handles.dead_letters {
            Some(dlq) => {
                let wait = if dlq.degraded() {
                    Duration::ZERO
                } else {
                    CONFIRM_WAIT
                };
                dlq.settle(wait)
            }
            None => Ok(Confirmed::default()),
        };
        self.report_dead_letters();
        match settled {
            Ok(n) => {
                confirmed.absorb(n);
                Ok(confirmed)
            }
            Err(e) => {
                self.handles.index_writer.rollback()?;
                Err(e.into())
            }
        }
    }

    /// The positions the commit stores: what was processed, but on each partition never
    /// past its first dead letter not confirmed yet (it must be re-read after a crash).
    fn committable_positions(&self) -> Positions {
        match &self.handles.dead_letters {
            Some(dlq) if dlq.pending() > 0 => self.positions.capped(&dlq.floors()),
            _ => self.positions.clone(),
        }
    }

    /// The Tantivy commit, with `positions` as payload; returns its time (epoch ms).
    fn commit_index(&mut self, positions: &Positions) -> Result<u64, WriterError> {
        let committed_at = now_ms();
        let payload = CommitPayload::new(positions, committed_at);
        let mut prepared = self.handles.index_writer.prepare_commit()?;
        prepared.set_payload(&payload.to_json());
        prepared.commit()?;
        Ok(committed_at)
    }

    /// After the commit: the committed states go to the cache, the interval starts over,
    /// freshness is recorded, and the positions are mirrored and reported.
    fn close_interval(&mut self, started: Instant, searchable_ms: u64, committed: &Positions) {
        for (id, state) in self.pending.finish() {
            self.states.keep(id, state);
        }
        self.positions_changed = false;
        self.last_commit = started;
        let samples = self.pending.take_samples();
        self.observe_freshness(FreshnessPath::indexed, searchable_ms, samples);
        if let Some(group) = &self.handles.group {
            group.commit(committed);
        }
        self.handles.status.set_committed(committed);
    }

    fn record_commit(
        &self,
        trigger: CommitTrigger,
        docs: usize,
        committed_at: u64,
        timings: &Timings,
        dead_letters: &Confirmed,
    ) {
        let m = &self.handles.metrics;
        m.commits.get_or_create(&TriggerLabels { trigger }).inc();
        m.commit_duration.observe(timings.elapsed.as_secs_f64());
        m.docs_per_commit.observe(docs as f64);
        m.last_commit_timestamp.set(committed_at as f64 / 1000.0);
        for failed in &dead_letters.failed {
            self.handles
                .status
                .counters
                .dlq_failed
                .fetch_add(1, Ordering::Relaxed);
            m.dlq_failures
                .get_or_create(&DlqFailureLabels {
                    reason: failed.reason,
                })
                .inc();
        }
        for (topic, n) in &dead_letters.delivered {
            self.handles
                .status
                .counters
                .dlq
                .fetch_add(*n, Ordering::Relaxed);
            if let Some(kind) = self.handles.topics.kind_of(topic) {
                self.counters[kind].dlq.inc_by(*n);
            }
        }
        tracing::debug!(
            trigger = trigger.as_str(),
            docs,
            dead_letters = dead_letters.delivered.values().sum::<u64>(),
            dead_letters_failed = dead_letters.failed.len(),
            build_ms = timings.built.as_millis() as u64,
            tantivy_commit_ms = (timings.tantivy_done - timings.built).as_millis() as u64,
            duration_ms = timings.elapsed.as_millis() as u64,
            "index commit"
        );
    }

    /// Records the freshness of changes made searchable at `searchable_ms` on `path`.
    pub(super) fn observe_freshness(
        &mut self,
        path: FreshnessPath,
        searchable_ms: u64,
        samples: Vec<Sample>,
    ) {
        if !self.config.record_freshness {
            return;
        }
        let labels = PathLabels { path };
        let freshness = self.handles.metrics.freshness.get_or_create(&labels);
        let latency = self.handles.metrics.pipeline_latency.get_or_create(&labels);
        let backlog_floor = (!self.config.observe_backlog_freshness).then_some(self.started_ms);
        let mut pairs = Vec::with_capacity(samples.len());
        for s in samples {
            if backlog_floor.is_some_and(|floor| s.kafka_ts_ms.is_some_and(|k| k < floor)) {
                continue;
            }
            // A backfilled old record is not a change: no source freshness (see `clock`).
            let source_ms =
                is_change(s.ts, s.kafka_ts_ms).then(|| searchable_ms.saturating_sub(s.ts));
            let pipeline_ms = s
                .kafka_ts_ms
                .map(|k| (searchable_ms as i64 - k).max(0) as u64);
            if let Some(source_ms) = source_ms {
                freshness.observe(source_ms as f64 / 1000.0);
            }
            if let Some(p) = pipeline_ms {
                latency.observe(p as f64 / 1000.0);
            }
            pairs.push((source_ms, pipeline_ms));
        }
        self.handles
            .status
            .freshness_of(path)
            .record(Instant::now(), pairs);
    }
}
