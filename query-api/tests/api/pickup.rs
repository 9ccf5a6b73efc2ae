//! Pickup in store (issue #15 part B): `pickup_store=` filters, the `pickup` block of hits
//! and of `GET /products/{id}?store=`, `GET /stores`, and their bad input.

use axum::http::StatusCode;
use schemas::state::Versioned;
use schemas::{ProductState, SharedIndex};
use serde_json::{json, Value};

use crate::common::{self, get, id_set, ok};

/// `(product, offer, store, quantity)` records put in the live store quantities.
const STOCK: &[(&str, &str, &str, u64)] = &[
    // p01: online, o0 is in stock (5) and o1 is not (0); at the stores it differs.
    ("p01", "p01-o0", "north", 0),
    ("p01", "p01-o1", "north", 3),
    ("p01", "p01-o0", "south", 1),
    ("p01", "p01-o1", "south", 2),
    // p07: o0 (the cheaper) is out of stock online but in stock at north.
    ("p07", "p07-o0", "north", 5),
    // p13's offer has no price: never in stock, anywhere.
    ("p13", "p13-o0", "north", 9),
    // p11 is deleted: never shown.
    ("p11", "p11-o0", "north", 4),
    // An offer p08 does not have.
    ("p08", "ghost", "north", 1),
];

fn app() -> axum::Router {
    let states: Vec<ProductState> = common::states();
    let live = common::live_index_with_slots(&states);
    let stock = &live.values.stores;
    for (product, offer, store, quantity) in STOCK {
        let slot = live.values.slots.lock().unwrap().get(product).unwrap();
        let key = (slot, stock.intern_store(store), stock.intern_offer(offer));
        stock.set(
            key,
            Versioned {
                version: 1,
                ts: 1,
                value: *quantity,
            },
        );
    }
    for (slot, state) in states.iter().enumerate() {
        stock.refresh(slot as u32, state);
    }
    let state = query_api::ApiState::new(SharedIndex::new(live), Default::default());
    query_api::router(state).fallback(query_api::not_found)
}

fn pickup_of(body: &Value, id: &str) -> Value {
    body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["product"]["product_id"] == id)
        .map(|h| h["product"]["pickup"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn pickup_store_keeps_the_products_in_stock_there_with_the_best_offer() {
    let app = app();
    let north = ok(&app, "/search?pickup_store=north&facets=brand").await;
    assert_eq!(id_set(&north), ["p01", "p07"]);
    assert_eq!(north["total"], 2, "totals respect the filter");
    let brands: u64 = common::facet(&north, "brand").iter().map(|(_, n)| n).sum();
    assert_eq!(brands, 2, "facets respect the filter");
    assert_eq!(
        pickup_of(&north, "p01"),
        json!({"store_id": "north", "quantity": 3, "offer_id": "p01-o1"}),
        "the offer in stock at the store, not the one in stock online"
    );
    assert_eq!(
        pickup_of(&north, "p07"),
        json!({"store_id": "north", "quantity": 5, "offer_id": "p07-o0"})
    );
    let south = ok(&app, "/search?pickup_store=south").await;
    assert_eq!(id_set(&south), ["p01"]);
    assert_eq!(
        pickup_of(&south, "p01"),
        json!({"store_id": "south", "quantity": 1, "offer_id": "p01-o0"}),
        "the cheapest of the offers in stock there"
    );
    let both = ok(&app, "/search?pickup_store=north&pickup_store=south").await;
    assert_eq!(id_set(&both), ["p01", "p07"], "any of the stores");
    assert_eq!(
        pickup_of(&both, "p01"),
        json!({"store_id": "south", "quantity": 1, "offer_id": "p01-o0"}),
        "the cheapest over the stores asked for"
    );
    let nowhere = ok(&app, "/search?pickup_store=nowhere").await;
    assert_eq!(
        (nowhere["total"].clone(), id_set(&nowhere)),
        (json!(0), vec![])
    );
    // With text, sorting and the other live filters.
    let samsung = ok(&app, "/search?q=samsung&pickup_store=north").await;
    assert_eq!(id_set(&samsung), ["p01"]);
    let cheap = ok(
        &app,
        "/search?pickup_store=north&sort=price_asc&max_price=3000",
    )
    .await;
    assert_eq!(common::ids(&cheap), ["p07"]);
    // Without the parameter nothing changes: no pickup block.
    let plain = ok(&app, "/search?q=samsung").await;
    assert!(plain["hits"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["product"].get("pickup").is_none()));
}

#[tokio::test]
async fn a_product_shows_its_pickup_block_at_the_store_asked_for() {
    let app = app();
    let at_north = ok(&app, "/products/p01?store=north").await;
    assert_eq!(
        at_north["pickup"],
        json!({"store_id": "north", "quantity": 3, "offer_id": "p01-o1"})
    );
    assert_eq!(at_north["in_stock"], true);
    assert!(ok(&app, "/products/p01").await.get("pickup").is_none());
    assert!(
        ok(&app, "/products/p07?store=south")
            .await
            .get("pickup")
            .is_none(),
        "not in stock there: no block"
    );
    assert!(
        ok(&app, "/products/p13?store=north")
            .await
            .get("pickup")
            .is_none(),
        "an offer without a price is not in stock"
    );
    let (status, _) = get(&app, "/products/p11?store=north").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn stores_lists_every_store_with_its_products_in_stock() {
    let body = ok(&app(), "/stores").await;
    assert_eq!(
        body,
        json!({"stores": [
            {"store_id": "north", "products": 2},
            {"store_id": "south", "products": 1},
        ]})
    );
}

#[tokio::test]
async fn bad_store_parameters_are_rejected_with_the_reason() {
    let app = app();
    let long = "x".repeat(65);
    let many: String = (0..21).map(|i| format!("pickup_store=s{i}&")).collect();
    let cases = [
        (
            "/search?pickup_store=".to_owned(),
            "invalid_parameter",
            "pickup_store must be a store id of 1 to 64 bytes",
        ),
        (
            format!("/search?pickup_store={long}"),
            "invalid_parameter",
            "pickup_store must be a store id of 1 to 64 bytes",
        ),
        (
            "/search?pickup_store=a%0Ab".to_owned(),
            "invalid_parameter",
            "pickup_store must not contain control characters",
        ),
        (
            format!("/search?{many}"),
            "invalid_parameter",
            "pickup_store may be given at most 20 times",
        ),
        (
            "/products/p01?store=".to_owned(),
            "invalid_parameter",
            "store must be a store id of 1 to 64 bytes",
        ),
        (
            "/products/p01?store=a&store=b".to_owned(),
            "invalid_parameter",
            "store may be given only once",
        ),
        (
            "/products/p01?shop=a".to_owned(),
            "unknown_parameter",
            "unknown parameter \"shop\"; /products/{id} accepts store",
        ),
        (
            "/stores?x=1".to_owned(),
            "unknown_parameter",
            "unknown parameter \"x\"; /stores takes no parameters",
        ),
    ];
    for (uri, code, message) in cases {
        let (status, body) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["error"]["code"], code, "{uri}: {body}");
        assert_eq!(body["error"]["message"], message, "{uri}");
    }
    // The same store twice is one store.
    let twice = ok(&app, "/search?pickup_store=south&pickup_store=south").await;
    assert_eq!(id_set(&twice), ["p01"]);
}
