//! Live values: prices and stock visible in milliseconds, without re-indexing text.
//!
//! # Design note (issue #15)
//!
//! Price and inventory events are most of the stream and never change a product's text,
//! sellers or visibility: only its price and inventory records, hence its derived
//! `price_cents`, `in_stock` and `updated_at`. Re-indexing the whole document for them
//! (delete, add, commit, merge) is what made freshness a second. Like Vespa's attributes
//! (and Flipkart's forward index beside Lucene), they are kept here, beside Tantivy, and
//! updated in place:
//!
//! - **Slots.** Every Tantivy document carries a `slot` (u64 fast field) assigned by the
//!   writer, stable for the product's life (re-indexing keeps it). Live values are arrays
//!   indexed by slot.
//! - **Columns** ([`LiveColumns`]): per slot the product's derived values (lowest in-stock
//!   price or none, `updated_at`), in fixed-size chunks of atomics. The writer stores,
//!   searches load, nobody locks per document; a chunk never moves once allocated (growing
//!   adds chunks behind a short lock a search takes once to clone the chunk list). A slot
//!   never set falls back to the document's own fast fields, which are then current (the
//!   product was never updated on the live path since it was indexed).
//! - **Overlay** ([`Overlay`]): per slot, the price and inventory records of the product's
//!   offers that the index's stored state may not have yet. A document is rendered from
//!   its stored state with these records put over it ([`Overlay::apply`]); the writer
//!   guarantees an overlay entry is never older than the stored state (it refreshes the
//!   entry whenever it re-indexes the product), so putting over is plain replacement and
//!   the merge rules stay in one place (the writer).
//! - **Readers** ([`SegmentValues`]): what filters, sorts, facets read per document of a
//!   segment: the slot, then the live column, else the fast fields.
//!
//! The writer (`indexer::ingest::writer`) owns the only mutation path and the durability
//! (a log of live records next to the index, synced before each Tantivy commit); this
//! module is the read side both crates share.
//!
//! Consistency for a reader: one product's derived values are read in two loads (flags,
//! then price), so a search racing an update sees either the old or the new in-stock flag
//! with a price at least as new. Between two updates of one product nothing is torn that a
//! shopper can see: a price is only read while the flag says in stock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use tantivy::columnar::Column;
use tantivy::{DocId, SegmentReader};

use crate::index::names;
use crate::state::{OfferSlot, PriceBody, ProductState, Versioned};

/// Slots per chunk of the columns.
const CHUNK: usize = 4096;
/// Flag: the slot holds a live value (else: read the document's fast fields).
const SET: u8 = 1;
/// Flag: the product is in stock (its lowest in-stock price is in the price column).
const IN_STOCK: u8 = 2;

/// The derived values of one product that the live path keeps current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductValues {
    /// The lowest price among in-stock offers (`None`: not in stock).
    pub price_cents: Option<u64>,
    /// The greatest `ts` of the product's records.
    pub updated_at: u64,
}

impl ProductValues {
    /// The values a state renders to (the same rules as [`ProductState::render`]).
    pub fn of(state: &ProductState) -> ProductValues {
        ProductValues {
            price_cents: state
                .cheapest_in_stock()
                .and_then(|o| o.price)
                .map(|p| p.price_cents),
            updated_at: state.updated_at(),
        }
    }
}

struct Chunk {
    price: Box<[AtomicU64]>,
    updated_at: Box<[AtomicU64]>,
    flags: Box<[AtomicU8]>,
}

impl Chunk {
    fn new() -> Chunk {
        Chunk {
            price: (0..CHUNK).map(|_| AtomicU64::new(0)).collect(),
            updated_at: (0..CHUNK).map(|_| AtomicU64::new(0)).collect(),
            flags: (0..CHUNK).map(|_| AtomicU8::new(0)).collect(),
        }
    }
}

/// Per-slot derived values (see the module notes).
#[derive(Default)]
pub struct LiveColumns {
    chunks: RwLock<Vec<Arc<Chunk>>>,
}

/// A reader's view of the columns: the chunks that existed when it was taken (a slot past
/// them was never set, so it falls back to the fast fields).
#[derive(Clone, Default)]
pub struct ColumnsView {
    chunks: Vec<Arc<Chunk>>,
}

impl ColumnsView {
    /// The live values of `slot`, if it holds any.
    #[inline]
    pub fn get(&self, slot: u64) -> Option<ProductValues> {
        let chunk = self.chunks.get(slot as usize / CHUNK)?;
        let i = slot as usize % CHUNK;
        let flags = chunk.flags[i].load(Ordering::Acquire);
        if flags & SET == 0 {
            return None;
        }
        Some(ProductValues {
            price_cents: (flags & IN_STOCK != 0).then(|| chunk.price[i].load(Ordering::Acquire)),
            updated_at: chunk.updated_at[i].load(Ordering::Acquire),
        })
    }
}

impl LiveColumns {
    /// The current chunks, for one search.
    pub fn view(&self) -> ColumnsView {
        ColumnsView {
            chunks: self
                .chunks
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }

    /// Sets the values of `slot` (the writer only).
    pub fn set(&self, slot: u32, values: ProductValues) {
        let (c, i) = (slot as usize / CHUNK, slot as usize % CHUNK);
        let chunk = {
            let read = self
                .chunks
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            read.get(c).cloned()
        };
        let chunk = match chunk {
            Some(chunk) => chunk,
            None => {
                let mut write = self
                    .chunks
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                while write.len() <= c {
                    write.push(Arc::new(Chunk::new()));
                }
                write[c].clone()
            }
        };
        chunk.updated_at[i].store(values.updated_at, Ordering::Release);
        let flags = match values.price_cents {
            Some(p) => {
                chunk.price[i].store(p, Ordering::Release);
                SET | IN_STOCK
            }
            None => SET,
        };
        chunk.flags[i].store(flags, Ordering::Release);
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.chunks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
            * CHUNK
            * 17
    }
}

/// The live records of one offer: what the stored state's offer slot gets replaced with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferValues {
    /// The offer's id.
    pub offer_id: String,
    /// Its price record.
    pub price: Option<Versioned<PriceBody>>,
    /// Its inventory record.
    pub inventory: Option<Versioned<u64>>,
}

impl OfferValues {
    /// The offers of `state` that have live records, in `offer_id` order.
    fn listed(state: &ProductState) -> impl Iterator<Item = (&String, &OfferSlot)> {
        state
            .offers
            .iter()
            .filter(|(_, s)| s.price.is_some() || s.inventory.is_some())
    }

    /// The price and inventory records of every offer of `state`.
    pub fn of(state: &ProductState) -> Vec<OfferValues> {
        OfferValues::listed(state)
            .map(|(id, s)| OfferValues {
                offer_id: id.clone(),
                price: s.price.clone(),
                inventory: s.inventory.clone(),
            })
            .collect()
    }

    /// Makes `out` equal to [`OfferValues::of`]`(state)`, reusing its allocations (ids and
    /// currencies are rewritten in place: a price change allocates nothing).
    pub fn assign(out: &mut Vec<OfferValues>, state: &ProductState) {
        let mut n = 0;
        for (id, s) in OfferValues::listed(state) {
            match out.get_mut(n) {
                Some(o) => {
                    o.offer_id.clone_from(id);
                    o.price.clone_from(&s.price);
                    o.inventory.clone_from(&s.inventory);
                }
                None => out.push(OfferValues {
                    offer_id: id.clone(),
                    price: s.price.clone(),
                    inventory: s.inventory.clone(),
                }),
            }
            n += 1;
        }
        out.truncate(n);
    }
}

/// The live records of a product's offers, to serialize: either a list already made, or
/// read straight from the product's state (encoded the same as [`OfferValues::of`] of it,
/// without building that list).
#[derive(Debug, Clone, Copy)]
pub enum OfferList<'a> {
    /// A list of records.
    Values(&'a [OfferValues]),
    /// The records of this state's offers.
    State(&'a ProductState),
}

/// One offer's records, borrowed: serialized exactly as [`OfferValues`].
#[derive(Serialize)]
struct OfferRef<'a> {
    offer_id: &'a str,
    price: &'a Option<Versioned<PriceBody>>,
    inventory: &'a Option<Versioned<u64>>,
}

impl Serialize for OfferList<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self {
            OfferList::Values(values) => values.serialize(serializer),
            OfferList::State(state) => {
                let len = OfferValues::listed(state).count();
                let mut seq = serializer.serialize_seq(Some(len))?;
                for (id, s) in OfferValues::listed(state) {
                    seq.serialize_element(&OfferRef {
                        offer_id: id,
                        price: &s.price,
                        inventory: &s.inventory,
                    })?;
                }
                seq.end()
            }
        }
    }
}

/// Shards of the overlay map (the writer updates one entry while searches read others).
const SHARDS: usize = 16;

/// The live records of one product.
#[derive(Debug, Clone, PartialEq)]
pub struct OverlayEntry {
    /// The product.
    pub product_id: String,
    /// Price and inventory records of its offers.
    pub offers: Vec<OfferValues>,
}

type Shard = RwLock<HashMap<u32, Arc<OverlayEntry>>>;

/// Per slot, the live records the stored states may lack (see the module notes).
pub struct Overlay {
    shards: Vec<Shard>,
}

impl Default for Overlay {
    fn default() -> Overlay {
        Overlay {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
        }
    }
}

impl Overlay {
    fn shard(&self, slot: u32) -> &Shard {
        &self.shards[slot as usize % SHARDS]
    }

    /// The live records of `slot`.
    pub fn get(&self, slot: u32) -> Option<Arc<OverlayEntry>> {
        self.shard(slot)
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&slot)
            .cloned()
    }

    /// Replaces the live records of `slot` (the writer only).
    pub fn set(&self, slot: u32, entry: OverlayEntry) {
        self.shard(slot)
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(slot, Arc::new(entry));
    }

    /// Sets the live records of `slot` to those of `state` (the product `product_id`):
    /// rewritten in place when no search holds the entry, else a new entry (the writer
    /// only).
    pub fn set_from(&self, slot: u32, product_id: &str, state: &ProductState) {
        let mut shard = self
            .shard(slot)
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = shard.get_mut(&slot).and_then(Arc::get_mut) {
            if entry.product_id == product_id {
                OfferValues::assign(&mut entry.offers, state);
                return;
            }
        }
        shard.insert(
            slot,
            Arc::new(OverlayEntry {
                product_id: product_id.to_owned(),
                offers: OfferValues::of(state),
            }),
        );
    }

    /// Forgets `slot` (its stored state has every record; the writer only).
    pub fn remove(&self, slot: u32) {
        self.shard(slot)
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&slot);
    }

    /// Slots with live records.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .len()
            })
            .sum()
    }

    /// Whether no slot has live records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry, for a snapshot.
    pub fn entries(&self) -> Vec<(u32, Arc<OverlayEntry>)> {
        let mut out = Vec::new();
        for s in &self.shards {
            let s = s.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            out.extend(s.iter().map(|(k, v)| (*k, v.clone())));
        }
        out
    }

    /// Puts `offers` over `state`: each listed offer's price and inventory records replace
    /// the stored ones.
    pub fn apply(state: &mut ProductState, offers: &[OfferValues]) {
        for o in offers {
            let slot = state.offers.entry(o.offer_id.clone()).or_default();
            slot.price = o.price.clone();
            slot.inventory = o.inventory.clone();
        }
    }
}

/// The live side of one index: slots, columns, overlay.
#[derive(Default)]
pub struct LiveValues {
    /// Derived values per slot.
    pub columns: LiveColumns,
    /// Live records per slot.
    pub overlay: Overlay,
    /// The slot of each product known (the writer's; filled when the index is opened).
    pub slots: std::sync::Mutex<SlotMap>,
    /// Quantities per store and the availability derived from them (see `stores`).
    pub stores: crate::stores::StoreStock,
}

/// Product ids to slots.
#[derive(Debug, Default)]
pub struct SlotMap {
    slots: HashMap<String, u32>,
    next: u32,
}

impl SlotMap {
    /// The slot of `product_id`, if it has one.
    pub fn get(&self, product_id: &str) -> Option<u32> {
        self.slots.get(product_id).copied()
    }

    /// The slot of `product_id`, assigned now if it has none.
    pub fn get_or_assign(&mut self, product_id: &str) -> u32 {
        if let Some(s) = self.slots.get(product_id) {
            return *s;
        }
        let slot = self.next;
        self.next += 1;
        self.slots.insert(product_id.to_owned(), slot);
        slot
    }

    /// Records a slot read back from the index.
    pub fn insert(&mut self, product_id: String, slot: u32) {
        self.next = self.next.max(slot.saturating_add(1));
        self.slots.insert(product_id, slot);
    }

    /// Products with a slot.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Every product with its slot.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        self.slots.iter().map(|(id, slot)| (id.as_str(), *slot))
    }

    /// Whether no product has a slot.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

impl std::fmt::Debug for LiveValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveValues")
            .field("overlay", &self.overlay.len())
            .finish_non_exhaustive()
    }
}

/// The values filters, sorts and facets read for the documents of one segment.
pub struct SegmentValues {
    slot: Option<Column<u64>>,
    price: Option<Column<u64>>,
    in_stock: Option<Column<bool>>,
    updated_at: Option<Column<u64>>,
    view: ColumnsView,
}

impl SegmentValues {
    /// The reader of `segment` over `view`.
    pub fn new(segment: &SegmentReader, view: ColumnsView) -> SegmentValues {
        let fast = segment.fast_fields();
        SegmentValues {
            slot: fast.u64(names::SLOT).ok(),
            price: fast.u64(names::PRICE_CENTS).ok(),
            in_stock: fast.bool(names::IN_STOCK).ok(),
            updated_at: fast.u64(names::UPDATED_AT).ok(),
            view,
        }
    }

    /// The document's slot.
    #[inline]
    pub fn slot(&self, doc: DocId) -> Option<u64> {
        self.slot.as_ref().and_then(|c| c.first(doc))
    }

    /// The live values of the document's product, else its indexed ones.
    #[inline]
    pub fn values(&self, doc: DocId) -> ProductValues {
        if let Some(v) = self.slot(doc).and_then(|s| self.view.get(s)) {
            return v;
        }
        let in_stock = self
            .in_stock
            .as_ref()
            .and_then(|c| c.first(doc))
            .unwrap_or(false);
        ProductValues {
            price_cents: if in_stock {
                self.price.as_ref().and_then(|c| c.first(doc))
            } else {
                None
            },
            updated_at: self
                .updated_at
                .as_ref()
                .and_then(|c| c.first(doc))
                .unwrap_or(0),
        }
    }

    /// The lowest in-stock price of the document's product.
    #[inline]
    pub fn price(&self, doc: DocId) -> Option<u64> {
        self.values(doc).price_cents
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// One generated offer: its number, price and currency, quantity.
    type GenOffer = (u8, Option<(u64, &'static str)>, Option<u64>);

    /// A state with these offers.
    fn state_with(offers: &[GenOffer]) -> ProductState {
        let mut state = ProductState::new("p1");
        for (i, (offer, price, quantity)) in offers.iter().enumerate() {
            let slot = state.offers.entry(format!("o{offer}")).or_default();
            slot.price = price.map(|(cents, currency)| Versioned {
                version: i as u64,
                ts: 10 + i as u64,
                value: PriceBody {
                    price_cents: cents,
                    currency: currency.to_owned(),
                    list_price_cents: (cents % 2 == 0).then_some(cents + 100),
                },
            });
            slot.inventory = quantity.map(|q| Versioned {
                version: i as u64,
                ts: 20 + i as u64,
                value: q,
            });
        }
        state
    }

    fn offers() -> impl Strategy<Value = Vec<GenOffer>> {
        let currency = prop::sample::select(vec!["USD", "EUR", "SEK"]);
        prop::collection::vec(
            (
                0u8..6,
                prop::option::of((0u64..5000, currency)),
                prop::option::of(0u64..9),
            ),
            0..8,
        )
    }

    proptest! {
        /// Rewriting in place gives exactly the list built from scratch, whatever the
        /// list held before (offers appearing, disappearing, changing currency).
        #[test]
        fn assign_rewrites_in_place_to_the_list_of_the_state(before in offers(), after in offers()) {
            let (before, after) = (state_with(&before), state_with(&after));
            let mut out = OfferValues::of(&before);
            OfferValues::assign(&mut out, &after);
            prop_assert_eq!(out, OfferValues::of(&after));
        }
    }

    #[test]
    fn an_overlay_entry_is_rewritten_in_place_unless_a_search_holds_it() {
        let overlay = Overlay::default();
        let (a, b) = (
            state_with(&[(1, Some((500, "USD")), Some(2))]),
            state_with(&[(1, Some((400, "USD")), Some(2)), (2, None, Some(1))]),
        );
        overlay.set_from(3, "p1", &a);
        let held = overlay.get(3).unwrap();
        overlay.set_from(3, "p1", &b);
        assert_eq!(
            held.offers,
            OfferValues::of(&a),
            "a search keeps what it read"
        );
        assert_eq!(overlay.get(3).unwrap().offers, OfferValues::of(&b));
        drop(held);
        overlay.set_from(3, "p1", &a);
        assert_eq!(overlay.get(3).unwrap().offers, OfferValues::of(&a));
        overlay.set_from(3, "p2", &b);
        let entry = overlay.get(3).unwrap();
        assert_eq!(
            (entry.product_id.as_str(), &entry.offers),
            ("p2", &OfferValues::of(&b))
        );
    }

    #[test]
    fn columns_hold_what_was_set_and_nothing_else() {
        let c = LiveColumns::default();
        assert_eq!(c.view().get(3), None);
        let v = ProductValues {
            price_cents: Some(1999),
            updated_at: 7,
        };
        c.set(3, v);
        let far = CHUNK as u32 * 3 + 5;
        let out = ProductValues {
            price_cents: None,
            updated_at: 9,
        };
        c.set(far, out);
        let view = c.view();
        assert_eq!(view.get(3), Some(v));
        assert_eq!(view.get(4), None);
        assert_eq!(view.get(far as u64), Some(out));
        c.set(3, out);
        assert_eq!(
            view.get(3),
            Some(out),
            "a view sees later updates of its chunks"
        );
        assert_eq!(view.get(u64::MAX), None);
    }

    #[test]
    fn slots_are_stable_and_never_reused() {
        let mut s = SlotMap::default();
        s.insert("a".into(), 7);
        assert_eq!(s.get_or_assign("b"), 8);
        assert_eq!(s.get_or_assign("a"), 7);
        assert_eq!(s.get_or_assign("b"), 8);
        assert_eq!(s.get("c"), None);
    }
}
