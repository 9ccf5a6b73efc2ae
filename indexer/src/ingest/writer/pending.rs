//! The changes of one commit interval: every product changed since the last commit (each
//! once, however many events touched it), which of them are already in Tantivy's queue, and
//! the freshness samples of the events applied.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet, VecDeque};

use schemas::IndexFields;
use tantivy::indexer::UserOperation;
use tantivy::Term;

use crate::ingest::merge::ProductState;

/// What one applied event adds to a state's size, at most, for the memory budget (a new
/// offer record with its strings; replacing a record adds less).
const APPROX_RECORD_BYTES: usize = 256;

/// A freshness sample: the event's source `ts` and its Kafka timestamp.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub ts: u64,
    pub kafka_ts_ms: Option<i64>,
}

/// The products changed since the last commit.
#[derive(Default)]
pub(super) struct Pending {
    states: HashMap<String, ProductState>,
    /// Approximate size of `states`, for the memory budget.
    bytes: usize,
    /// Pending products whose current document is already in Tantivy's queue (sent ahead
    /// while the writer waited for the next batch; uncommitted, so invisible until the
    /// commit). A product that changes again is sent again: its new delete removes the
    /// earlier add, whose opstamp is lower.
    sent: HashSet<String>,
    /// Pending products not sent yet (may hold duplicates).
    unsent: VecDeque<String>,
    samples: Vec<Sample>,
}

/// The Tantivy operations that replace a product's document: delete every earlier version
/// (lower opstamps, committed or not), then add the current one.
/// The document carries the product's live-values slot (`slot_of`).
fn upsert(
    fields: &IndexFields,
    product_id: &str,
    state: &ProductState,
    slot: u32,
) -> [UserOperation; 2] {
    [
        UserOperation::Delete(Term::from_field_text(fields.product_id, product_id)),
        UserOperation::Add(fields.document_in(state, Some(slot))),
    ]
}

impl Pending {
    /// Products changed.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Approximate memory of the changed states.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether some product waits to be sent ahead.
    pub fn has_unsent(&self) -> bool {
        !self.unsent.is_empty()
    }

    /// The state of `product_id`, made pending (it is about to change); `load` gives it when
    /// it is not pending yet.
    pub fn state_mut<E>(
        &mut self,
        product_id: &str,
        load: impl FnOnce() -> Result<ProductState, E>,
    ) -> Result<&mut ProductState, E> {
        match self.states.entry(product_id.to_owned()) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => {
                let state = load()?;
                self.bytes += state.approx_bytes();
                self.unsent.push_back(product_id.to_owned());
                Ok(e.insert(state))
            }
        }
    }

    /// Records that an event changed the pending state of `product_id`.
    pub fn applied(&mut self, product_id: &str, sample: Sample) {
        // Growth of a state by one event: a new record at most.
        self.bytes += APPROX_RECORD_BYTES;
        // A sent document is stale now: send it again (a product not sent yet is still
        // queued).
        if self.sent.remove(product_id) {
            self.unsent.push_back(product_id.to_owned());
        }
        self.samples.push(sample);
    }

    /// A change that becomes visible with the commit without changing a document (a store
    /// quantity of a pending product): only its freshness sample.
    pub fn observe(&mut self, sample: Sample) {
        self.samples.push(sample);
    }

    /// The operations of up to `n` products not sent yet, marked as sent.
    pub fn send_ahead(
        &mut self,
        fields: &IndexFields,
        n: usize,
        slot_of: &mut dyn FnMut(&str) -> u32,
    ) -> Vec<UserOperation> {
        let mut ops = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let Some(id) = self.unsent.pop_front() else {
                break;
            };
            if self.sent.contains(&id) {
                continue;
            }
            if let Some(state) = self.states.get(&id) {
                ops.extend(upsert(fields, &id, state, slot_of(&id)));
                self.sent.insert(id);
            }
        }
        ops
    }

    /// The operations of every product not sent ahead, in batches of `batch` operations.
    pub fn unsent_operations<'a>(
        &'a self,
        fields: &'a IndexFields,
        batch: usize,
        slot_of: &'a mut dyn FnMut(&str) -> u32,
    ) -> impl Iterator<Item = Vec<UserOperation>> + 'a {
        let mut ops = self
            .states
            .iter()
            .filter(|(id, _)| !self.sent.contains(*id))
            .flat_map(move |(id, state)| upsert(fields, id, state, slot_of(id)))
            .peekable();
        std::iter::from_fn(move || {
            ops.peek()?;
            Some(ops.by_ref().take(batch).collect())
        })
    }

    /// Whether `product_id` changed since the last commit.
    pub fn contains(&self, product_id: &str) -> bool {
        self.states.contains_key(product_id)
    }

    /// Every changed product with its state.
    pub fn states(&self) -> impl Iterator<Item = (&String, &ProductState)> {
        self.states.iter()
    }

    /// The freshness samples of the interval, taken.
    pub fn take_samples(&mut self) -> Vec<Sample> {
        std::mem::take(&mut self.samples)
    }

    /// Ends the interval (after its commit): the committed states, taken.
    pub fn finish(&mut self) -> impl Iterator<Item = (String, ProductState)> + '_ {
        self.sent.clear();
        self.unsent.clear();
        self.bytes = 0;
        self.states.drain()
    }
}
