//! A deterministic generator of realistic catalog events: the demo's catalog and update
//! stream, the benchmarks' load, and `indexer generate`.
//!
//! For a seed and a product count, [`GeneratedCatalog::events`] yields every product with 1 to 5
//! sellers' offers, their prices and inventory; [`ChangeStream`] then yields an endless mix of
//! changes (by default 10% product, 10% offer, 40% price, 40% inventory events, with a few
//! deletes and re-creations). Versions come from one increasing sequence, so every event is
//! newer than the previous one of the same record. Optionally products come from a CSV of
//! real listings (`id,title,category,brand,modelno,price,proddescrlong`, as in
//! `../shared/data/walmart_products.csv`).

//!
//! Files: `tables` (the vocabulary), `catalog` ([`GeneratedCatalog`], [`Versions`]),
//! `changes` ([`ChangeStream`], [`Mix`]), `invalid` (invalid messages), `csv` (real
//! listings). A tool: nothing in the service imports it.

mod catalog;
mod changes;
mod csv;
mod invalid;
mod tables;

use rand::rngs::StdRng;
use rand::SeedableRng;
use schemas::Event;

pub use catalog::{GeneratedCatalog, Versions};
pub use changes::{ChangeStream, Mix};
pub use csv::parse_csv;
pub use invalid::maybe_invalid;

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("cannot read catalog CSV {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("catalog CSV {path}: {message}")]
    Csv { path: String, message: String },
}

/// One message to publish: the topic (by kind), the key and the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: schemas::EventKind,
    pub key: String,
    /// `None` is a null payload (only among invalid messages).
    pub payload: Option<Vec<u8>>,
    /// For a deliberately invalid message, the error code the indexer will report.
    pub invalid: Option<&'static str>,
}

impl Message {
    fn valid(event: &Event) -> Message {
        Message {
            kind: event.kind(),
            key: event.product_id().to_owned(),
            payload: Some(event.to_json().into_bytes()),
            invalid: None,
        }
    }
}

/// The messages of a whole publication: the catalog (unless skipped), then `stream` changes
/// (unbounded when `None`), invalid ones mixed in at `invalid_ratio`. Deterministic for a
/// seed and a start version, except `ts`, which `now` gives.
pub fn messages<'a>(
    catalog: &'a GeneratedCatalog,
    seed: u64,
    start_version: u64,
    include_catalog: bool,
    stream: Option<Option<u64>>,
    invalid_ratio: f64,
    now: impl Fn() -> u64 + Clone + 'a,
) -> impl Iterator<Item = Message> + 'a {
    let mut versions = Versions::starting_after(start_version);
    let catalog_events: Vec<Event> = if include_catalog {
        catalog.events(&mut versions, now.clone()).collect()
    } else {
        Vec::new()
    };
    let mut rng = StdRng::seed_from_u64(seed ^ 0x1D_BAD);
    let mut changes = ChangeStream::new(catalog, seed, Mix::default());
    let (streaming, limit) = match stream {
        Some(limit) => (true, limit),
        None => (false, None),
    };
    let mut streamed = 0u64;
    let mut rng2 = StdRng::seed_from_u64(seed ^ 0x5_7EA);
    catalog_events
        .into_iter()
        .map(move |e| maybe_invalid(Message::valid(&e), invalid_ratio, &mut rng))
        .chain(std::iter::from_fn(move || {
            if !streaming || limit.is_some_and(|l| streamed >= l) || catalog.is_empty() {
                return None;
            }
            streamed += 1;
            let event = changes.next_event(versions.next(), now());
            Some(maybe_invalid(
                Message::valid(&event),
                invalid_ratio,
                &mut rng2,
            ))
        }))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use schemas::ProductEvent;

    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_catalog() {
        let a = GeneratedCatalog::synthetic(42, 50);
        let b = GeneratedCatalog::synthetic(42, 50);
        let ea: Vec<Event> = a.events(&mut Versions::starting_after(0), || 1).collect();
        let eb: Vec<Event> = b.events(&mut Versions::starting_after(0), || 1).collect();
        assert_eq!(ea, eb);
        let c = GeneratedCatalog::synthetic(43, 50);
        let ec: Vec<Event> = c.events(&mut Versions::starting_after(0), || 1).collect();
        assert_ne!(ea, ec);
    }

    #[test]
    fn catalog_events_are_valid_and_complete() {
        let cat = GeneratedCatalog::synthetic(1, 200);
        let events: Vec<Event> = cat.events(&mut Versions::starting_after(0), || 5).collect();
        for e in &events {
            let again = schemas::decode(e.kind(), Some(e.to_json().as_bytes())).unwrap();
            assert_eq!(&again, e);
        }
        let merged: crate::ingest::merge::MergedCatalog = events.iter().collect();
        let docs = merged.documents();
        assert_eq!(docs.len(), 200, "every product visible");
        assert!(docs.values().all(|d| (1..=5).contains(&d.offer_count)));
        assert!(docs.values().filter(|d| d.in_stock).count() > 150);
    }

    #[test]
    fn the_change_stream_follows_the_mix_and_increases_versions() {
        let cat = GeneratedCatalog::synthetic(1, 100);
        let mut stream = ChangeStream::new(&cat, 9, Mix::default());
        let mut counts = [0usize; 4];
        let mut versions = Versions::starting_after(1000);
        for _ in 0..10_000 {
            let e = stream.next_event(versions.next(), 1);
            counts[e.kind().index()] += 1;
            assert!(schemas::decode(e.kind(), Some(e.to_json().as_bytes())).is_ok());
        }
        // 10/10/40/40 within a few percent.
        assert!((800..1200).contains(&counts[0]), "{counts:?}");
        assert!((800..1200).contains(&counts[1]), "{counts:?}");
        assert!((3700..4300).contains(&counts[2]), "{counts:?}");
        assert!((3700..4300).contains(&counts[3]), "{counts:?}");
    }

    #[test]
    fn with_stores_the_catalog_and_the_stream_carry_store_quantities() {
        let cat = GeneratedCatalog::synthetic(3, 200).with_stores(10);
        let events: Vec<Event> = cat.events(&mut Versions::starting_after(0), || 5).collect();
        assert_eq!(events.len() as u64, cat.event_count());
        let stores: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                Event::Inventory(i) => i.store_id.as_deref(),
                _ => None,
            })
            .collect();
        // About 30% of 10 stores for each of 200 products.
        assert!((450..750).contains(&stores.len()), "{}", stores.len());
        assert!(stores.iter().all(|s| s.starts_with("store-0")));
        for e in &events {
            let again = schemas::decode(e.kind(), Some(e.to_json().as_bytes())).unwrap();
            assert_eq!(&again, e);
        }
        let mut stream = ChangeStream::new(&cat, 9, Mix::default());
        let mut versions = Versions::starting_after(1000);
        let (mut online, mut at_store) = (0, 0);
        for _ in 0..4_000 {
            if let Event::Inventory(i) = stream.next_event(versions.next(), 1) {
                match i.store_id {
                    Some(_) => at_store += 1,
                    None => online += 1,
                }
            }
        }
        assert!(online > 600 && at_store > 600, "{online} {at_store}");
        // Without stores nothing changes.
        let plain = GeneratedCatalog::synthetic(3, 200);
        assert!(plain
            .events(&mut Versions::starting_after(0), || 5)
            .all(|e| !matches!(e, Event::Inventory(i) if i.store_id.is_some())));
    }

    fn payloads(seed: u64, ratio: f64) -> Vec<Message> {
        let cat = GeneratedCatalog::synthetic(seed, 300);
        messages(&cat, seed, 1, true, Some(Some(2_000)), ratio, || 7).collect()
    }

    #[test]
    fn publications_are_deterministic_for_a_seed() {
        assert_eq!(payloads(5, 0.1), payloads(5, 0.1));
        assert_ne!(payloads(5, 0.1), payloads(6, 0.1));
        let cat = GeneratedCatalog::synthetic(5, 300);
        let n = messages(&cat, 5, 1, true, None, 0.0, || 7).count();
        assert_eq!(
            n,
            cat.events(&mut Versions::starting_after(1), || 7).count()
        );
        assert_eq!(n as u64, cat.event_count());
        assert_eq!(
            messages(&cat, 5, 1, false, Some(Some(10)), 0.0, || 7).count(),
            10
        );
    }

    #[test]
    fn invalid_ratio_is_respected_and_each_invalid_message_fails_as_labelled() {
        let all = payloads(9, 0.2);
        let invalid: Vec<&Message> = all.iter().filter(|m| m.invalid.is_some()).collect();
        let share = invalid.len() as f64 / all.len() as f64;
        assert!((0.17..0.23).contains(&share), "{share}");
        let mut codes = std::collections::BTreeSet::new();
        for m in &all {
            let decoded = schemas::decode(m.kind, m.payload.as_deref());
            match m.invalid {
                None => assert!(decoded.is_ok(), "{decoded:?}"),
                Some(code) => {
                    let err = decoded.expect_err("labelled invalid");
                    assert_eq!(err.code(), code, "{err}");
                    codes.insert(code);
                }
            }
        }
        assert_eq!(codes.len(), 8, "every kind of mistake appears: {codes:?}");
        assert!(payloads(9, 0.0).iter().all(|m| m.invalid.is_none()));
    }

    #[test]
    fn csv_rows_become_products() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        std::fs::write(
            &path,
            "id,title,category,brand,modelno,price,proddescrlong\n1,\"acme widget, large\",tools,acme,W-1,12.50,\"a \"\"great\"\" widget\nwith two lines\"\n2,,x,y,z,1,\n3,gizmo,home,,G2,,\n",
        )
        .unwrap();
        let cat = GeneratedCatalog::from_csv(1, 10, &path).unwrap();
        assert_eq!(cat.len(), 2, "the row without a title is skipped");
        let p = cat.product(0, 1, 1);
        assert_eq!(p.product_id, "wm-1");
        assert_eq!(p.title, "acme widget, large");
        assert_eq!(p.description, "a \"great\" widget\nwith two lines");
        assert_eq!(p.category, vec!["tools"]);
        assert_eq!(cat.base_price_cents(0), 1250);
        assert!(GeneratedCatalog::from_csv(1, 10, Path::new("/no/such.csv")).is_err());
        std::fs::write(&path, "a,b\n1,2\n").unwrap();
        let err = GeneratedCatalog::from_csv(1, 10, &path).unwrap_err();
        assert!(err.to_string().contains("no `id` column"), "{err}");
    }

    #[test]
    fn the_shared_walmart_catalog_loads_when_present() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/walmart_products.csv");
        if !path.exists() {
            eprintln!("skipped: {} not found", path.display());
            return;
        }
        let cat = GeneratedCatalog::from_csv(1, 100_000, &path).unwrap();
        assert!(cat.len() > 2000, "{}", cat.len());
        let p = cat.product(0, 1, 1);
        assert!(!p.title.is_empty());
        assert!(schemas::decode(
            schemas::EventKind::Product,
            Some(Event::Product(ProductEvent::Upsert(p)).to_json().as_bytes())
        )
        .is_ok());
    }
}
