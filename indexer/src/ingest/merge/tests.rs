//! Property tests of the merge rules over random event sets (like tantivy's proptest over
//! `IndexingOp`): order independence, idempotence, deletes, orphans and visibility.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use schemas::{
    AttributeValue, Condition, Deleted, Event, InventoryEvent, OfferDelete, OfferEvent,
    OfferUpsert, PriceEvent, ProductDelete, ProductDocument, ProductEvent, ProductUpsert,
};

use super::{MergedCatalog, Outcome, ProductState};

/// Which record an event sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Record {
    Product(u8),
    Offer(u8, u8),
    Price(u8, u8),
    Inventory(u8, u8),
}

/// One generated event: the record, its version, and a seed that decides its content (and
/// part of its `ts`). Two events of one record may share a version with different content
/// (two producers, a producer bug): the ties the merge must break by content, not arrival.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Op {
    pub(crate) record: Record,
    pub(crate) version: u64,
    pub(crate) seed: u8,
}

fn pid(p: u8) -> String {
    format!("p{p}")
}

fn oid(o: u8) -> String {
    format!("o{o}")
}

impl Op {
    fn ts(&self) -> u64 {
        1_000 + self.version * 10 + u64::from(self.seed % 7)
    }

    pub(crate) fn event(&self) -> Event {
        let (version, ts, seed) = (self.version, self.ts(), self.seed);
        match self.record {
            Record::Product(p) if seed % 4 == 0 => {
                Event::Product(ProductEvent::Delete(ProductDelete {
                    product_id: pid(p),
                    version,
                    ts,
                    deleted: Deleted,
                }))
            }
            Record::Product(p) => Event::Product(ProductEvent::Upsert(ProductUpsert {
                product_id: pid(p),
                version,
                ts,
                title: format!("title {p} v{version}"),
                description: if seed % 3 == 0 {
                    String::new()
                } else {
                    format!("desc {seed}")
                },
                brand: ["", "Acme", "Globex"][usize::from(seed % 3)].to_owned(),
                category: vec!["Root".to_owned(), format!("Leaf{}", seed % 2)],
                attributes: [(
                    "size".to_owned(),
                    AttributeValue::Number(u64::from(seed).into()),
                )]
                .into_iter()
                .collect(),
            })),
            Record::Offer(p, o) if seed % 4 == 0 => Event::Offer(OfferEvent::Delete(OfferDelete {
                offer_id: oid(o),
                product_id: pid(p),
                version,
                ts,
                deleted: Deleted,
            })),
            Record::Offer(p, o) => Event::Offer(OfferEvent::Upsert(OfferUpsert {
                offer_id: oid(o),
                product_id: pid(p),
                version,
                ts,
                seller_id: format!("s{}", seed % 3),
                seller_name: format!("Seller {seed}"),
                condition: Condition::ALL[usize::from(seed % 3)],
            })),
            Record::Price(p, o) => Event::Price(PriceEvent {
                offer_id: oid(o),
                product_id: pid(p),
                version,
                ts,
                price_cents: u64::from(seed % 5) * 100,
                currency: "USD".to_owned(),
                list_price_cents: (seed % 2 == 0).then_some(999),
            }),
            Record::Inventory(p, o) => Event::Inventory(InventoryEvent {
                offer_id: oid(o),
                product_id: pid(p),
                version,
                ts,
                quantity: u64::from(seed % 3),
                store_id: None,
            }),
        }
    }
}

fn arb_record() -> impl Strategy<Value = Record> {
    (0u8..4, 0u8..4, 0u8..4).prop_map(|(kind, p, o)| match kind {
        0 => Record::Product(p % 3),
        1 => Record::Offer(p % 3, o),
        2 => Record::Price(p % 3, o),
        _ => Record::Inventory(p % 3, o),
    })
}

/// A set of distinct events; versions are few, so many records get several events of one
/// version (ties), some with one `ts` too.
fn arb_event_set(max: usize) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec((arb_record(), 0u64..8, any::<u8>()), 0..max).prop_map(|raw| {
        let mut seen = HashMap::new();
        for (record, version, seed) in raw {
            seen.entry((record, version, seed)).or_insert(Op {
                record,
                version,
                seed,
            });
        }
        let mut ops: Vec<Op> = seen.into_values().collect();
        ops.sort_by_key(|op| (op.record, op.version, op.seed));
        ops
    })
}

/// The set, then the same set shuffled with some events delivered more than once.
pub(crate) fn arb_set_and_delivery(max: usize) -> impl Strategy<Value = (Vec<Op>, Vec<Op>)> {
    arb_event_set(max).prop_flat_map(|set| {
        let n = set.len();
        let dups = proptest::collection::vec(0..n.max(1), 0..=n);
        (Just(set), dups).prop_flat_map(|(set, dups)| {
            let mut delivery = set.clone();
            if !set.is_empty() {
                delivery.extend(dups.iter().map(|&i| set[i]));
            }
            (Just(set), Just(delivery).prop_shuffle())
        })
    })
}

pub(crate) fn catalog_of(ops: &[Op]) -> MergedCatalog {
    ops.iter()
        .map(Op::event)
        .collect::<Vec<_>>()
        .iter()
        .collect()
}

/// FNV-1a (64 bits) of the JSON of the record an event stores, written again from the
/// rule in the module docs.
fn model_content_hash(op: &Op) -> u64 {
    let json = match op.event() {
        Event::Product(ProductEvent::Upsert(p)) => serde_json::to_vec(&Some(super::ProductBody {
            title: p.title,
            description: p.description,
            brand: p.brand,
            category: p.category,
            attributes: super::ProductBody::store_attributes(&p.attributes),
        })),
        Event::Product(ProductEvent::Delete(_)) | Event::Offer(OfferEvent::Delete(_)) => {
            serde_json::to_vec(&None::<()>)
        }
        Event::Offer(OfferEvent::Upsert(o)) => serde_json::to_vec(&Some(super::OfferBody {
            seller_id: o.seller_id,
            seller_name: o.seller_name,
            condition: o.condition,
        })),
        Event::Price(p) => serde_json::to_vec(&super::PriceBody {
            price_cents: p.price_cents,
            currency: p.currency,
            list_price_cents: p.list_price_cents,
        }),
        Event::Inventory(i) => serde_json::to_vec(&i.quantity),
    }
    .unwrap();
    let mut h: u64 = 0xcbf29ce484222325;
    for b in json {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The winning event of each record: what the merge rules say the state must hold (the
/// highest version; among equal versions the latest `ts`, then the greatest content hash).
fn winners(ops: &[Op]) -> BTreeMap<Record, Op> {
    let rank = |op: &Op| (op.version, op.ts(), model_content_hash(op));
    let mut out: BTreeMap<Record, Op> = BTreeMap::new();
    for op in ops {
        let e = out.entry(op.record).or_insert(*op);
        if rank(op) > rank(e) {
            *e = *op;
        }
    }
    out
}

/// An independent model of the document, written from the rules in the module docs.
fn model_documents(ops: &[Op]) -> BTreeMap<String, ProductDocument> {
    let win = winners(ops);
    let mut docs = BTreeMap::new();
    for p in 0u8..3 {
        let Some(Event::Product(ProductEvent::Upsert(product))) =
            win.get(&Record::Product(p)).map(Op::event)
        else {
            continue;
        };
        let mut offers = Vec::new();
        for o in 0u8..4 {
            let Some(Event::Offer(OfferEvent::Upsert(offer))) =
                win.get(&Record::Offer(p, o)).map(Op::event)
            else {
                continue;
            };
            let price = match win.get(&Record::Price(p, o)).map(Op::event) {
                Some(Event::Price(price)) => Some(price),
                _ => None,
            };
            let quantity = match win.get(&Record::Inventory(p, o)).map(Op::event) {
                Some(Event::Inventory(i)) => i.quantity,
                _ => 0,
            };
            offers.push(schemas::OfferDocument {
                offer_id: offer.offer_id,
                seller_id: offer.seller_id,
                seller_name: offer.seller_name,
                condition: offer.condition,
                price_cents: price.as_ref().map(|p| p.price_cents),
                currency: price.as_ref().map(|p| p.currency.clone()),
                list_price_cents: price.as_ref().and_then(|p| p.list_price_cents),
                quantity,
                in_stock: price.is_some() && quantity > 0,
            });
        }
        let mut in_stock: Vec<_> = offers.iter().filter(|o| o.in_stock).collect();
        in_stock.sort_by(|a, b| (a.price_cents, &a.offer_id).cmp(&(b.price_cents, &b.offer_id)));
        let updated_at = win
            .iter()
            .filter(|(r, _)| match r {
                Record::Product(q) => *q == p,
                Record::Offer(q, _) | Record::Price(q, _) | Record::Inventory(q, _) => *q == p,
            })
            .map(|(_, op)| op.ts())
            .max()
            .unwrap_or(0);
        docs.insert(
            pid(p),
            ProductDocument {
                product_id: pid(p),
                title: product.title,
                description: product.description,
                brand: product.brand,
                category: product.category,
                attributes: product.attributes,
                price_cents: in_stock.first().and_then(|o| o.price_cents),
                currency: in_stock.first().and_then(|o| o.currency.clone()),
                in_stock: !in_stock.is_empty(),
                offer_count: offers.len() as u64,
                updated_at,
                version: product.version,
                offers,
                pickup: None,
            },
        );
    }
    docs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any delivery order, with duplicates, gives identical states and documents.
    #[test]
    fn any_permutation_with_duplicates_gives_identical_documents(
        (set, delivery) in arb_set_and_delivery(48)
    ) {
        let in_order = catalog_of(&set);
        let delivered = catalog_of(&delivery);
        prop_assert_eq!(&in_order, &delivered);
        prop_assert_eq!(in_order.documents(), delivered.documents());
    }

    /// The documents are what the written rules say, from the latest event of each record.
    #[test]
    fn documents_follow_the_merge_rules((_, delivery) in arb_set_and_delivery(48)) {
        prop_assert_eq!(catalog_of(&delivery).documents(), model_documents(&delivery));
    }

    /// A duplicate or an older version is stale and changes nothing.
    #[test]
    fn duplicates_and_older_versions_are_stale((set, delivery) in arb_set_and_delivery(32)) {
        let mut catalog = catalog_of(&delivery);
        let before = catalog.clone();
        for op in &set {
            prop_assert_eq!(catalog.apply(&op.event()), Outcome::Stale);
        }
        prop_assert_eq!(catalog, before);
    }

    /// Product updates with a delete at any version, in any order: the highest version wins.
    #[test]
    fn a_delete_anywhere_among_updates_gives_the_same_result(
        (ops, shuffled) in (proptest::collection::btree_set(1u64..50, 1..10), 0usize..10)
            .prop_flat_map(|(versions, delete_at)| {
                let delete_version = *versions.iter().nth(delete_at % versions.len()).unwrap_or(&0);
                let ops: Vec<Op> = versions
                    .iter()
                    .map(|&v| Op {
                        record: Record::Product(0),
                        version: v,
                        seed: if v == delete_version { 0 } else { 1 },
                    })
                    .collect();
                (Just(ops.clone()), Just(ops).prop_shuffle())
            })
    ) {
        let docs = catalog_of(&shuffled).documents();
        prop_assert_eq!(&docs, &catalog_of(&ops).documents());
        let latest = ops.iter().max_by_key(|op| op.version).map(|op| op.seed);
        prop_assert_eq!(docs.contains_key("p0"), latest == Some(1));
    }

    /// Children that arrive before their product are kept and shown once it arrives.
    #[test]
    fn orphans_show_up_once_their_parent_arrives(children in arb_event_set(40)) {
        let children: Vec<Op> = children
            .into_iter()
            .filter(|op| !matches!(op.record, Record::Product(_)))
            .collect();
        let mut catalog = catalog_of(&children);
        prop_assert!(catalog.documents().is_empty(), "no product record, nothing visible");
        let parents: Vec<Op> = (0u8..3)
            .map(|p| Op { record: Record::Product(p), version: 100, seed: 1 })
            .collect();
        for op in &parents {
            prop_assert_eq!(catalog.apply(&op.event()), Outcome::Applied);
        }
        let all: Vec<Op> = children.iter().chain(&parents).copied().collect();
        let docs = catalog.documents();
        prop_assert_eq!(docs.len(), 3);
        prop_assert_eq!(&docs, &model_documents(&all));
        let live_offers = winners(&children)
            .values()
            .filter(|op| matches!(op.record, Record::Offer(..)) && op.seed % 4 != 0)
            .count() as u64;
        prop_assert_eq!(docs.values().map(|d| d.offer_count).sum::<u64>(), live_offers);
    }

    /// A product whose latest product record is a delete, or that has none, never renders.
    #[test]
    fn invisible_products_stay_invisible((_, delivery) in arb_set_and_delivery(48)) {
        let win = winners(&delivery);
        let docs = catalog_of(&delivery).documents();
        for p in 0u8..3 {
            let visible = win.get(&Record::Product(p)).is_some_and(|op| op.seed % 4 != 0);
            prop_assert_eq!(docs.contains_key(&pid(p)), visible);
        }
    }

    /// The stored form of a state reads back to the same state.
    #[test]
    fn state_encoding_round_trips((_, delivery) in arb_set_and_delivery(32)) {
        for state in catalog_of(&delivery).states() {
            prop_assert_eq!(&ProductState::decode(&state.encode()).unwrap(), state);
        }
    }
}

/// Regression (issue #14): two different events of one record with one version used to
/// resolve to whichever arrived first, so a rebuild (one order) and the live index (another)
/// could disagree.
#[test]
fn equal_versions_resolve_the_same_in_either_order() {
    let tie = |seed: u8| Op {
        record: Record::Price(0, 0),
        version: 5,
        seed,
    };
    // Seeds 1 and 8: one `ts` (1_051), prices 100 and 300: only the content decides.
    let (a, b) = (tie(1), tie(8));
    assert_eq!(a.ts(), b.ts());
    let setup = [
        Op {
            record: Record::Product(0),
            version: 1,
            seed: 1,
        },
        Op {
            record: Record::Offer(0, 0),
            version: 1,
            seed: 1,
        },
        Op {
            record: Record::Inventory(0, 0),
            version: 1,
            seed: 1,
        },
    ];
    let ab: Vec<Op> = setup.iter().copied().chain([a, b]).collect();
    let ba: Vec<Op> = setup.iter().copied().chain([b, a]).collect();
    assert_eq!(catalog_of(&ab), catalog_of(&ba));
    assert_eq!(catalog_of(&ab).documents(), model_documents(&ab));
    // Seeds 1 and 2: one version, `ts` 1_051 and 1_052: the later wins in either order.
    let (early, late) = (tie(1), tie(2));
    for order in [[early, late], [late, early]] {
        let ops: Vec<Op> = setup.iter().copied().chain(order).collect();
        assert_eq!(
            catalog_of(&ops).documents()["p0"].price_cents,
            Some(200),
            "{order:?}"
        );
    }
}

#[test]
fn deleted_offer_keeps_its_price_and_shows_it_again_when_recreated() {
    let ops = |specs: &[(Record, u64, u8)]| -> Vec<Op> {
        specs
            .iter()
            .map(|&(record, version, seed)| Op {
                record,
                version,
                seed,
            })
            .collect()
    };
    let mut catalog = catalog_of(&ops(&[
        (Record::Product(0), 1, 1),
        (Record::Offer(0, 0), 1, 1),
        (Record::Price(0, 0), 1, 3),
        (Record::Inventory(0, 0), 1, 2),
    ]));
    let doc = &catalog.documents()["p0"];
    assert_eq!(
        (doc.price_cents, doc.in_stock, doc.offer_count),
        (Some(300), true, 1)
    );

    catalog.apply(
        &Op {
            record: Record::Offer(0, 0),
            version: 2,
            seed: 0,
        }
        .event(),
    );
    let doc = &catalog.documents()["p0"];
    assert_eq!(
        (doc.price_cents, doc.in_stock, doc.offer_count),
        (None, false, 0)
    );
    assert_eq!(
        doc.updated_at,
        Op {
            record: Record::Offer(0, 0),
            version: 2,
            seed: 0
        }
        .ts(),
        "the delete moves updated_at"
    );

    catalog.apply(
        &Op {
            record: Record::Offer(0, 0),
            version: 3,
            seed: 1,
        }
        .event(),
    );
    let doc = &catalog.documents()["p0"];
    assert_eq!(
        (doc.price_cents, doc.in_stock, doc.offer_count),
        (Some(300), true, 1)
    );
}

#[test]
fn lowest_in_stock_price_wins_and_out_of_stock_offers_do_not_count() {
    let mut c = MergedCatalog::new();
    let events = [
        Op {
            record: Record::Product(0),
            version: 1,
            seed: 1,
        },
        Op {
            record: Record::Offer(0, 0),
            version: 1,
            seed: 1,
        },
        Op {
            record: Record::Offer(0, 1),
            version: 1,
            seed: 1,
        },
        Op {
            record: Record::Offer(0, 2),
            version: 1,
            seed: 1,
        },
        Op {
            record: Record::Price(0, 0),
            version: 1,
            seed: 1,
        }, // 100, no stock
        Op {
            record: Record::Price(0, 1),
            version: 1,
            seed: 4,
        }, // 400
        Op {
            record: Record::Price(0, 2),
            version: 1,
            seed: 3,
        }, // 300
        Op {
            record: Record::Inventory(0, 1),
            version: 1,
            seed: 1,
        }, // qty 1
        Op {
            record: Record::Inventory(0, 2),
            version: 1,
            seed: 2,
        }, // qty 2
    ];
    for op in events {
        c.apply(&op.event());
    }
    let doc = &c.documents()["p0"];
    assert_eq!(doc.price_cents, Some(300));
    assert_eq!(
        doc.offers.iter().map(|o| o.in_stock).collect::<Vec<_>>(),
        [false, true, true]
    );
    assert_eq!(doc.offers[0].quantity, 0, "no inventory record reads as 0");
}
