//! Store availability: the quantity of each offer at each store, for "pickup today at my
//! store" (issue #15 part B).
//!
//! # Design note
//!
//! An inventory event with a `store_id` sets one `(product, offer, store)` record, versioned
//! like every other record (`indexer::merge`: higher version, then later `ts`, then the
//! content hash). Such records never enter the product's stored state nor its Tantivy
//! document: a product stocked at 500 stores would carry 500 records per offer into every
//! re-index. They live here, on the live path only, beside the price and stock overlay,
//! and are made durable by the same live log (`indexer::store::live_log`, one `Stock`
//! frame per record applied, replayed on start, rewritten on compaction).
//!
//! - **Records** ([`StoreStock::get`]): a B-tree per shard of slots, keyed by
//!   `(slot, store, offer)` with store and offer ids interned to `u32`, valued by the
//!   versioned quantity. Ordered keys give a product's stores (a range by slot) and one
//!   store's offers of a product (a range by slot and store) without a second index. A
//!   record whose quantity fell to 0 is kept: its version must keep rejecting older events
//!   (dropping it would let a stale event put stock back). Memory is thus proportional to
//!   the `(offer, store)` pairs ever reported, ~40–60 bytes each (measured by
//!   `indexer/examples/store_stock.rs`).
//! - **Availability** ([`AvailabilityView`]): per store, one bit per slot, "some shown offer
//!   with a price has a positive quantity here, and the product is visible" ([`best_at`]).
//!   What `pickup_store=` filters read per candidate document: one atomic load per store
//!   asked for. The bits are
//!   derived by the writer (the only mutator) from the product's state as shoppers see it,
//!   each time that state or one of the product's store records becomes visible, so the
//!   filter, the `pickup` block and the document always agree.
//! - **Pickup** ([`StoreStock::pickup`]): rendered per hit from the product's current state
//!   and the records of the stores asked for, by the same rule as the bits.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::document::Pickup;
use crate::state::{ProductState, Versioned};

/// Shards of the record maps (by slot).
const SHARDS: usize = 16;
/// Bits per chunk of an availability bitmap.
const CHUNK_BITS: usize = 1 << 16;
const CHUNK_WORDS: usize = CHUNK_BITS / 64;

/// A record's key: slot, interned store, interned offer.
pub type StockKey = (u32, u32, u32);

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Strings to dense ids, never forgotten.
#[derive(Default)]
struct Interner {
    ids: HashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

impl Interner {
    fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        let name: Arc<str> = Arc::from(name);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }

    fn bytes(&self) -> usize {
        self.names.iter().map(|n| n.len() + 16 + 8).sum::<usize>()
            + self.ids.capacity() * (16 + 4 + 8)
    }
}

type Words = Arc<[AtomicU64]>;

/// One store's availability bits, in chunks that never move once allocated.
#[derive(Default)]
struct Bits {
    chunks: RwLock<Vec<Words>>,
}

impl Bits {
    fn set(&self, slot: u32, on: bool) {
        let (c, bit) = (slot as usize / CHUNK_BITS, slot as usize % CHUNK_BITS);
        let chunk = read(&self.chunks).get(c).cloned();
        let chunk = match chunk {
            Some(chunk) => chunk,
            None if !on => return,
            None => {
                let mut w = write(&self.chunks);
                while w.len() <= c {
                    w.push((0..CHUNK_WORDS).map(|_| AtomicU64::new(0)).collect());
                }
                w[c].clone()
            }
        };
        let mask = 1u64 << (bit % 64);
        if on {
            chunk[bit / 64].fetch_or(mask, Ordering::Release);
        } else {
            chunk[bit / 64].fetch_and(!mask, Ordering::Release);
        }
    }

    fn count(&self) -> u64 {
        read(&self.chunks)
            .iter()
            .flat_map(|c| c.iter())
            .map(|w| u64::from(w.load(Ordering::Relaxed).count_ones()))
            .sum()
    }
}

/// The availability bits of the stores one search asked for.
#[derive(Clone, Default)]
pub struct AvailabilityView {
    stores: Vec<Vec<Words>>,
}

impl AvailabilityView {
    /// Whether the product of `slot` is in stock at one of the stores.
    #[inline]
    pub fn any(&self, slot: u64) -> bool {
        let (c, bit) = (slot as usize / CHUNK_BITS, slot as usize % CHUNK_BITS);
        self.stores.iter().any(|chunks| {
            chunks
                .get(c)
                .is_some_and(|w| w[bit / 64].load(Ordering::Acquire) & (1u64 << (bit % 64)) != 0)
        })
    }
}

/// The best offer of `state` to pick up at a store whose quantity of an offer is
/// `quantity(offer_id)`: the cheapest shown offer with a price and a positive quantity there
/// (ties: the lowest `offer_id`), if the product is visible. Returns `(offer_id, quantity,
/// price_cents)`.
pub fn best_at(state: &ProductState, quantity: impl Fn(&str) -> u64) -> Option<(&str, u64, u64)> {
    if !state.is_visible() {
        return None;
    }
    // `min_by_key` keeps the first minimum, and offers come in offer_id order.
    state
        .shown_offers()
        .filter_map(|o| {
            let price = o.price?.price_cents;
            let q = quantity(o.offer_id);
            (q > 0).then_some((o.offer_id, q, price))
        })
        .min_by_key(|(_, _, price)| *price)
}

/// Every store record and the availability derived from them (see the module notes).
pub struct StoreStock {
    stores: RwLock<Interner>,
    offers: RwLock<Interner>,
    records: Vec<RwLock<BTreeMap<StockKey, Versioned<u64>>>>,
    available: RwLock<Vec<Arc<Bits>>>,
}

impl Default for StoreStock {
    fn default() -> StoreStock {
        StoreStock {
            stores: RwLock::default(),
            offers: RwLock::default(),
            records: (0..SHARDS).map(|_| RwLock::default()).collect(),
            available: RwLock::default(),
        }
    }
}

impl std::fmt::Debug for StoreStock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreStock")
            .field("records", &self.len())
            .finish_non_exhaustive()
    }
}

impl StoreStock {
    fn shard(&self, slot: u32) -> &RwLock<BTreeMap<StockKey, Versioned<u64>>> {
        &self.records[slot as usize % SHARDS]
    }

    /// The id of a store known (`None`: no record was ever set there).
    pub fn store(&self, store_id: &str) -> Option<u32> {
        read(&self.stores).get(store_id)
    }

    /// The id of a store, assigned now if new (the writer only).
    pub fn intern_store(&self, store_id: &str) -> u32 {
        if let Some(id) = self.store(store_id) {
            return id;
        }
        write(&self.stores).intern(store_id)
    }

    /// The id of an offer, assigned now if new (the writer only).
    pub fn intern_offer(&self, offer_id: &str) -> u32 {
        if let Some(id) = read(&self.offers).get(offer_id) {
            return id;
        }
        write(&self.offers).intern(offer_id)
    }

    /// The name of an interned store.
    pub fn store_name(&self, store: u32) -> Option<Arc<str>> {
        read(&self.stores).names.get(store as usize).cloned()
    }

    /// The name of an interned offer.
    pub fn offer_name(&self, offer: u32) -> Option<Arc<str>> {
        read(&self.offers).names.get(offer as usize).cloned()
    }

    /// The record of `key`.
    pub fn get(&self, key: StockKey) -> Option<Versioned<u64>> {
        read(self.shard(key.0)).get(&key).cloned()
    }

    /// Sets the record of `key` (the writer only, after the merge rule chose it).
    pub fn set(&self, key: StockKey, record: Versioned<u64>) {
        write(self.shard(key.0)).insert(key, record);
    }

    /// The stores with a record of the product of `slot`.
    pub fn stores_of(&self, slot: u32) -> Vec<u32> {
        let shard = read(self.shard(slot));
        let mut out: Vec<u32> = shard
            .range((slot, 0, 0)..=(slot, u32::MAX, u32::MAX))
            .map(|((_, store, _), _)| *store)
            .collect();
        out.dedup();
        out
    }

    /// `f` over the quantity of each offer (by id) of the product of `slot` at `store`
    /// (offers without a record have none: 0), without allocating: the writer re-derives a
    /// bit per store event. (Two read locks; a writer only ever holds one lock, so this
    /// cannot deadlock.)
    fn with_quantities<R>(
        &self,
        slot: u32,
        store: u32,
        f: impl FnOnce(&dyn Fn(&str) -> u64) -> R,
    ) -> R {
        let offers = read(&self.offers);
        let shard = read(self.shard(slot));
        let quantity = |offer_id: &str| {
            offers
                .get(offer_id)
                .and_then(|offer| shard.get(&(slot, store, offer)))
                .map_or(0, |r| r.value)
        };
        f(&quantity)
    }

    /// Re-derives the availability bit of every store of the product of `slot` from
    /// `state`, its state as shoppers see it (the writer only).
    pub fn refresh(&self, slot: u32, state: &ProductState) {
        for store in self.stores_of(slot) {
            self.refresh_store(slot, store, state);
        }
    }

    /// Re-derives the availability bit of the product of `slot` at `store` (the writer
    /// only).
    pub fn refresh_store(&self, slot: u32, store: u32, state: &ProductState) {
        let on = self.with_quantities(slot, store, |q| best_at(state, q).is_some());
        let bits = read(&self.available).get(store as usize).cloned();
        let bits = match bits {
            Some(b) => b,
            None if !on => return,
            None => {
                let mut w = write(&self.available);
                while w.len() <= store as usize {
                    w.push(Arc::default());
                }
                w[store as usize].clone()
            }
        };
        bits.set(slot, on);
    }

    /// The availability bits of `stores` (unknown stores are left out: nothing is in stock
    /// there), for one search.
    pub fn view(&self, store_ids: &[String]) -> AvailabilityView {
        let available = read(&self.available);
        let stores = store_ids
            .iter()
            .filter_map(|s| self.store(s))
            .filter_map(|s| available.get(s as usize))
            .map(|b| read(&b.chunks).clone())
            .collect();
        AvailabilityView { stores }
    }

    /// The pickup block of a product at the first of `store_ids` that has the cheapest
    /// offer in stock (see [`Pickup`]), from `state`, its current state.
    pub fn pickup(&self, slot: u32, state: &ProductState, store_ids: &[String]) -> Option<Pickup> {
        let mut best: Option<(u64, Pickup)> = None;
        for store_id in store_ids {
            let Some(store) = self.store(store_id) else {
                continue;
            };
            let Some((offer_id, quantity, price)) =
                self.with_quantities(slot, store, |q| best_at(state, q))
            else {
                continue;
            };
            if best.as_ref().is_none_or(|(p, _)| price < *p) {
                let pickup = Pickup {
                    store_id: store_id.clone(),
                    quantity,
                    offer_id: offer_id.to_owned(),
                };
                best = Some((price, pickup));
            }
        }
        best.map(|(_, p)| p)
    }

    /// Every known store with the number of products in stock there, by store id.
    pub fn store_counts(&self) -> Vec<(Arc<str>, u64)> {
        let names = read(&self.stores).names.clone();
        let available = read(&self.available);
        let mut out: Vec<(Arc<str>, u64)> = names
            .into_iter()
            .enumerate()
            .map(|(i, name)| (name, available.get(i).map_or(0, |b| b.count())))
            .collect();
        out.sort();
        out
    }

    /// Every record, for a compaction of the live log.
    pub fn records(&self) -> Vec<(StockKey, Versioned<u64>)> {
        let mut out = Vec::new();
        for shard in &self.records {
            out.extend(read(shard).iter().map(|(k, v)| (*k, v.clone())));
        }
        out
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.records.iter().map(|s| read(s).len()).sum()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An estimate of the bytes held (records at the B-tree's typical fill, bitmaps,
    /// interned ids); `examples/store_stock.rs` measures the real figure.
    pub fn bytes(&self) -> usize {
        let records = self.len() * (12 + 24) * 3 / 2;
        let bits: usize = read(&self.available)
            .iter()
            .map(|b| read(&b.chunks).len() * CHUNK_WORDS * 8)
            .sum();
        records + bits + read(&self.stores).bytes() + read(&self.offers).bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{OfferBody, OfferSlot, PriceBody};
    use crate::Condition;

    fn record(quantity: u64) -> Versioned<u64> {
        Versioned {
            version: 1,
            ts: 1,
            value: quantity,
        }
    }

    /// A visible product with offers `(id, price, shown)`.
    fn state(offers: &[(&str, Option<u64>, bool)]) -> ProductState {
        let mut s = ProductState::new("p");
        s.product = Some(Versioned {
            version: 1,
            ts: 1,
            value: Some(crate::state::ProductBody {
                title: "t".into(),
                description: String::new(),
                brand: String::new(),
                category: vec![],
                attributes: vec![],
            }),
        });
        for (id, price, shown) in offers {
            let slot = OfferSlot {
                offer: Some(Versioned {
                    version: 1,
                    ts: 1,
                    value: shown.then(|| OfferBody {
                        seller_id: "s".into(),
                        seller_name: String::new(),
                        condition: Condition::New,
                    }),
                }),
                price: price.map(|p| Versioned {
                    version: 1,
                    ts: 1,
                    value: PriceBody {
                        price_cents: p,
                        currency: "USD".into(),
                        list_price_cents: None,
                    },
                }),
                inventory: None,
            };
            s.offers.insert((*id).to_owned(), slot);
        }
        s
    }

    fn set(stock: &StoreStock, slot: u32, store: &str, offer: &str, quantity: u64) {
        let key = (slot, stock.intern_store(store), stock.intern_offer(offer));
        stock.set(key, record(quantity));
    }

    #[test]
    fn the_best_offer_is_the_cheapest_shown_priced_one_in_stock_at_the_store() {
        let s = state(&[
            ("a", Some(500), true),
            ("b", Some(300), true),
            ("c", None, true),
            ("d", Some(100), false),
            ("e", Some(300), true),
        ]);
        let all = |_: &str| 5;
        assert_eq!(
            best_at(&s, all),
            Some(("b", 5, 300)),
            "ties: lowest offer_id"
        );
        let only = |o: &str| u64::from(o == "c" || o == "d");
        assert_eq!(
            best_at(&s, only),
            None,
            "unpriced and hidden offers never count"
        );
        let qty = |o: &str| if o == "b" { 0 } else { 2 };
        assert_eq!(best_at(&s, qty), Some(("e", 2, 300)));
    }

    #[test]
    fn availability_follows_the_records_and_the_state() {
        let stock = StoreStock::default();
        let mut s = state(&[("a", Some(500), true), ("b", None, true)]);
        set(&stock, 7, "s1", "b", 3);
        set(&stock, 7, "s2", "a", 1);
        set(&stock, 70_000, "s1", "a", 4);
        stock.refresh(7, &s);
        stock.refresh(70_000, &s);
        let s1 = stock.view(&["s1".to_owned()]);
        assert!(!s1.any(7), "b has no price");
        assert!(s1.any(70_000), "a slot past the first chunk");
        assert!(stock.view(&["s2".to_owned()]).any(7));
        assert!(
            stock.view(&["s1".into(), "s2".into()]).any(7),
            "any of them"
        );
        assert!(!stock.view(&["nowhere".to_owned()]).any(7));
        // b gets a price: available at s1 once refreshed.
        s.offers.get_mut("b").unwrap().price =
            state(&[("b", Some(200), true)]).offers["b"].price.clone();
        stock.refresh(7, &s);
        assert!(s1.any(7), "a view sees later updates of its chunks");
        assert_eq!(
            stock.pickup(7, &s, &["s2".into(), "s1".into()]),
            Some(Pickup {
                store_id: "s1".into(),
                quantity: 3,
                offer_id: "b".into()
            }),
            "the cheapest over the stores asked for"
        );
        set(&stock, 7, "s1", "b", 0);
        stock.refresh_store(7, stock.intern_store("s1"), &s);
        assert!(!s1.any(7), "quantity 0 is out of stock");
        assert_eq!(
            stock.get((7, stock.intern_store("s1"), stock.intern_offer("b"))),
            Some(record(0)),
            "a record at 0 is kept for its version"
        );
        assert_eq!(stock.stores_of(7), vec![0, 1]);
        assert_eq!(
            stock.store_counts(),
            vec![(Arc::from("s1"), 1), (Arc::from("s2"), 1)]
        );
        assert_eq!(stock.len(), 3, "one record per (slot, store, offer)");
    }
}
