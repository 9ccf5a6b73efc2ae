//! A small known catalog indexed in memory, and helpers to call the router in-process.

#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use query_api::{ApiState, LiveIndex, SearchSettings, SharedIndex};
use schemas::state::{OfferBody, OfferSlot, PriceBody, ProductBody, Versioned};
use schemas::{AttributeValue, Attributes, Condition};
use schemas::{IndexFields, ProductState};
use serde_json::Value;
use tantivy::{Index, ReloadPolicy};
use tower::ServiceExt;

/// An offer: seller, price (cents), quantity.
pub type Offer = (&'static str, Option<u64>, u64);

pub struct P {
    pub id: &'static str,
    pub title: &'static str,
    pub brand: &'static str,
    pub category: &'static [&'static str],
    pub attrs: &'static [(&'static str, &'static str)],
    pub offers: &'static [Offer],
    pub updated_at: u64,
}

fn versioned<T>(ts: u64, value: T) -> Option<Versioned<T>> {
    Some(Versioned {
        version: 1,
        ts,
        value,
    })
}

pub fn state(p: &P) -> ProductState {
    let attributes: Attributes = p
        .attrs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), AttributeValue::String((*v).to_owned())))
        .collect();
    let mut s = ProductState::new(p.id);
    s.product = versioned(
        p.updated_at,
        Some(ProductBody {
            title: p.title.to_owned(),
            description: format!("The {} by {}.", p.title, p.brand),
            brand: p.brand.to_owned(),
            category: p.category.iter().map(|c| (*c).to_owned()).collect(),
            attributes: ProductBody::store_attributes(&attributes),
        }),
    );
    for (i, (seller, price, qty)) in p.offers.iter().enumerate() {
        s.offers.insert(
            format!("{}-o{i}", p.id),
            OfferSlot {
                offer: versioned(
                    1,
                    Some(OfferBody {
                        seller_id: (*seller).to_owned(),
                        seller_name: format!("Seller {seller}"),
                        condition: Condition::New,
                    }),
                ),
                price: price.and_then(|c| {
                    versioned(
                        1,
                        PriceBody {
                            price_cents: c,
                            currency: "USD".to_owned(),
                            list_price_cents: None,
                        },
                    )
                }),
                inventory: versioned(1, *qty),
            },
        );
    }
    s
}

/// The known catalog. Visible: p01..p10 and p13; p11 is deleted, p12 an orphan, and
/// `__canary__1` a canary.
pub const CATALOG: &[P] = &[
    P {
        id: "p01",
        title: "Samsung 55\" QLED 4K Smart TV",
        brand: "Samsung",
        category: &["Electronics", "TVs"],
        attrs: &[("color", "Black"), ("size", "55")],
        offers: &[("s1", Some(49_999), 5), ("s2", Some(52_999), 0)],
        updated_at: 1001,
    },
    P {
        id: "p02",
        title: "Samsung 65\" Neo QLED TV",
        brand: "Samsung",
        category: &["Electronics", "TVs"],
        attrs: &[("color", "Silver"), ("size", "65")],
        offers: &[("s1", Some(129_999), 2)],
        updated_at: 1002,
    },
    P {
        id: "p03",
        title: "LG 55\" OLED evo TV",
        brand: "LG",
        category: &["Electronics", "TVs"],
        attrs: &[("color", "Black"), ("size", "55")],
        offers: &[("s3", Some(139_999), 0)],
        updated_at: 1003,
    },
    P {
        id: "p04",
        title: "Sony WH-1000XM5 Wireless Headphones",
        brand: "Sony",
        category: &["Electronics", "Headphones"],
        attrs: &[("color", "Black")],
        offers: &[("s2", Some(34_999), 10)],
        updated_at: 1004,
    },
    P {
        id: "p05",
        title: "Bose QuietComfort Headphones",
        brand: "Bose",
        category: &["Electronics", "Headphones"],
        attrs: &[("color", "White")],
        offers: &[("s3", Some(29_999), 3)],
        updated_at: 1005,
    },
    P {
        id: "p06",
        title: "Lodge Cast Iron Skillet 12 inch",
        brand: "Lodge",
        category: &["Home", "Kitchen", "Cookware"],
        attrs: &[("material", "Cast Iron")],
        offers: &[("s1", Some(2_999), 100)],
        updated_at: 1006,
    },
    P {
        id: "p07",
        title: "T-fal Nonstick Frying Pan",
        brand: "T-fal",
        category: &["Home", "Kitchen", "Cookware"],
        attrs: &[("material", "Aluminum")],
        offers: &[("s4", Some(1_999), 0), ("s1", Some(2_199), 4)],
        updated_at: 1007,
    },
    P {
        id: "p08",
        title: "KitchenAid Stand Mixer",
        brand: "KitchenAid",
        category: &["Home", "Kitchen", "Appliances"],
        attrs: &[("color", "Red")],
        offers: &[],
        updated_at: 1008,
    },
    P {
        id: "p09",
        title: "DeWalt 20V Cordless Drill",
        brand: "DeWalt",
        category: &["Tools", "Power Tools"],
        attrs: &[("voltage", "20")],
        offers: &[("s4", Some(9_900), 7)],
        updated_at: 1009,
    },
    P {
        id: "p10",
        title: "Crème Brûlée Torch",
        brand: "Iwatani",
        category: &["Home", "Kitchen", "Tools"],
        attrs: &[],
        offers: &[("s2", Some(2_500), 1)],
        updated_at: 1010,
    },
    P {
        id: "p13",
        title: "Mixing Skillit Set",
        brand: "Acme",
        category: &["Home", "Kitchen", "Cookware"],
        attrs: &[],
        offers: &[("s5", None, 4)],
        updated_at: 1013,
    },
];

/// Every state of the index: the catalog plus the invisible and canary products.
pub fn states() -> Vec<ProductState> {
    let mut states: Vec<ProductState> = CATALOG.iter().map(state).collect();
    let mut deleted = state(&P {
        id: "p11",
        title: "Samsung Deleted TV",
        brand: "Samsung",
        category: &["Electronics", "TVs"],
        attrs: &[],
        offers: &[("s1", Some(100), 1)],
        updated_at: 1011,
    });
    if let Some(p) = deleted.product.as_mut() {
        p.value = None;
    }
    states.push(deleted);
    let mut orphan = state(&P {
        id: "p12",
        title: "",
        brand: "",
        category: &[],
        attrs: &[],
        offers: &[("s1", Some(100), 1)],
        updated_at: 1012,
    });
    orphan.product = None;
    states.push(orphan);
    states.push(state(&P {
        id: "__canary__1",
        title: "Samsung Canary TV",
        brand: "Samsung",
        category: &["Electronics", "TVs"],
        attrs: &[],
        offers: &[("s1", Some(100), 1)],
        updated_at: 9999,
    }));
    states
}

/// The catalog, indexed in memory, in two segments.
pub fn live_index() -> LiveIndex {
    live_index_of(&states())
}

/// `all`, indexed in memory, in two segments.
pub fn live_index_of(all: &[ProductState]) -> LiveIndex {
    let fields = IndexFields::new();
    let index = Index::create_in_ram(fields.schema.clone());
    schemas::index::register_analyzers(&index);
    let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 20_000_000).unwrap();
    let (a, b) = all.split_at(all.len() / 2);
    for s in a {
        writer.add_document(fields.document(s)).unwrap();
    }
    writer.commit().unwrap();
    for s in b {
        writer.add_document(fields.document(s)).unwrap();
    }
    writer.commit().unwrap();
    served(index, fields)
}

/// `all`, indexed in memory with slot `i` for `all[i]` (the live values' slots), in one
/// segment.
pub fn live_index_with_slots(all: &[ProductState]) -> LiveIndex {
    let fields = IndexFields::new();
    let index = Index::create_in_ram(fields.schema.clone());
    schemas::index::register_analyzers(&index);
    let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 20_000_000).unwrap();
    for (i, s) in all.iter().enumerate() {
        writer
            .add_document(fields.document_in(s, Some(i as u32)))
            .unwrap();
    }
    writer.commit().unwrap();
    let live = served(index, fields);
    {
        let mut slots = live.values.slots.lock().unwrap();
        for (i, s) in all.iter().enumerate() {
            slots.insert(s.product_id.clone(), i as u32);
        }
    }
    live
}

pub fn app_with(settings: SearchSettings) -> Router {
    let state = ApiState::new(SharedIndex::new(live_index()), settings);
    query_api::router(state).fallback(query_api::not_found)
}

/// The router over a catalog of `products`.
pub fn app_of(products: &[P], settings: SearchSettings) -> Router {
    let states: Vec<ProductState> = products.iter().map(state).collect();
    let state = ApiState::new(SharedIndex::new(live_index_of(&states)), settings);
    query_api::router(state)
}

/// The router over the fixture catalog, relaxing only when no product has every word: with
/// 11 products the default (`relax_below` 100: fill the page with products that have fewer
/// of the words) would relax every multi-word query (see
/// `search::fewer_full_matches_than_relax_below_are_followed_by_partial_ones`).
pub fn app() -> Router {
    app_with(strict())
}

/// The default search settings, relaxing only when nothing matches every word.
pub fn strict() -> SearchSettings {
    let mut settings = SearchSettings::default();
    settings.relevance.relax_below = 1;
    settings
}

pub async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// `GET uri`, expecting 200; returns the body.
pub async fn ok(app: &Router, uri: &str) -> Value {
    let (status, body) = get(app, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    body
}

/// The product ids of the hits, in order.
pub fn ids(body: &Value) -> Vec<String> {
    body["hits"]
        .as_array()
        .map(|hits| {
            hits.iter()
                .map(|h| {
                    h["product"]["product_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `ids` sorted, for order-independent comparisons.
pub fn id_set(body: &Value) -> Vec<String> {
    let mut v = ids(body);
    v.sort();
    v
}

/// The facet values of `key` as `(value, count)`.
pub fn facet(body: &Value, key: &str) -> Vec<(String, u64)> {
    body["facets"][key]
        .as_array()
        .map(|values| {
            values
                .iter()
                .map(|v| {
                    (
                        v["value"].as_str().unwrap_or_default().to_owned(),
                        v["count"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A generated catalog of `n` products over a vocabulary of about 30k made-up words (a term
/// dictionary of a real catalog's size), each title 6 of them plus `item{i}`, in `segments`
/// segments: for the cost of hostile queries, not for relevance.
pub fn generated_index(n: usize, segments: usize) -> LiveIndex {
    generated_index_with(n, segments, |_| Attributes::new())
}

/// [`generated_index`], product `i` with the attributes `attributes(i)`.
pub fn generated_index_with(
    n: usize,
    segments: usize,
    attributes: impl Fn(usize) -> Attributes,
) -> LiveIndex {
    const SYLLABLES: &[&str] = &[
        "ka", "lo", "mi", "ne", "su", "ta", "vo", "ri", "pe", "da", "ge", "bu", "zo", "fa", "hi",
        "ju", "wo", "xe", "ye", "co", "tra", "ble", "str", "pin", "mar", "ven", "dor", "sil",
        "gar", "tek",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut word = || {
        let r = next();
        (0..3 + (r % 3) as usize)
            .map(|i| SYLLABLES[((r >> (8 * i + 4)) % SYLLABLES.len() as u64) as usize])
            .collect::<String>()
    };
    let fields = IndexFields::new();
    let index = Index::create_in_ram(fields.schema.clone());
    schemas::index::register_analyzers(&index);
    let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 400_000_000).unwrap();
    for i in 0..n {
        let mut s = ProductState::new(format!("g{i}"));
        let title = (0..6).map(|_| word()).collect::<Vec<_>>().join(" ");
        s.product = versioned(
            1,
            Some(ProductBody {
                title: format!("{title} item{i}"),
                description: (0..10).map(|_| word()).collect::<Vec<_>>().join(" "),
                brand: word(),
                category: vec![word(), word()],
                attributes: ProductBody::store_attributes(&attributes(i)),
            }),
        );
        writer.add_document(fields.document(&s)).unwrap();
        if (i + 1) % n.div_ceil(segments.max(1)) == 0 {
            writer.commit().unwrap();
        }
    }
    writer.commit().unwrap();
    served(index, fields)
}

/// `index`, committed, served as the live index of generation 1 (no directory).
fn served(index: Index, fields: IndexFields) -> LiveIndex {
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .unwrap();
    LiveIndex::new(index, reader, fields, None, 1)
}
