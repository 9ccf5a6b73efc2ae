//! Hardening: timeouts, load shedding, size limits, panics, CORS, and arbitrary input.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use proptest::prelude::*;
use query_api::harden;
use query_api::{pairs, SearchParams};
use query_api::{ApiError, ApiState, HttpLimits, Relevance, SearchSettings, SharedIndex};
use tokio::sync::Notify;
use tower::ServiceExt;

use crate::common::{app_with, get as get_json, live_index};

async fn send(
    app: &Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or_default(),
    )
}

fn limits() -> HttpLimits {
    HttpLimits {
        request_timeout: Duration::from_millis(100),
        max_in_flight: 1,
        max_body_bytes: 1024,
        max_query_bytes: 256,
    }
}

#[tokio::test]
async fn slow_requests_time_out_with_503() {
    let app = harden(
        Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        ),
        &limits(),
    );
    let (status, headers, body) =
        send(&app, Request::get("/slow").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "timeout");
    assert_eq!(headers[header::RETRY_AFTER], "1");
}

#[tokio::test]
async fn requests_over_the_concurrency_limit_are_shed() {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (e, r) = (entered.clone(), release.clone());
    let app = harden(
        Router::new().route(
            "/hold",
            get(move || {
                let (e, r) = (e.clone(), r.clone());
                async move {
                    e.notify_one();
                    r.notified().await;
                    "done"
                }
            }),
        ),
        &HttpLimits {
            request_timeout: Duration::from_secs(10),
            ..limits()
        },
    );
    let first = tokio::spawn({
        let app = app.clone();
        async move {
            send(&app, Request::get("/hold").body(Body::empty()).unwrap())
                .await
                .0
        }
    });
    entered.notified().await;
    let (status, headers, body) =
        send(&app, Request::get("/hold").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "overloaded");
    assert_eq!(headers[header::RETRY_AFTER], "1");
    release.notify_one();
    assert_eq!(first.await.unwrap(), StatusCode::OK);
}

#[tokio::test]
async fn oversized_bodies_and_query_strings_are_rejected() {
    let app = harden(
        Router::new().route(
            "/echo",
            post(|body: String| async move { body.len().to_string() }),
        ),
        &limits(),
    );
    let big = Request::post("/echo")
        .header(header::CONTENT_LENGTH, "5000")
        .body(Body::from(vec![b'x'; 5000]))
        .unwrap();
    let (status, _, body) = send(&app, big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "payload_too_large");
    let uri = format!("/echo?q={}", "a".repeat(300));
    let (status, _, body) = send(&app, Request::post(uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG);
    assert_eq!(body["error"]["code"], "uri_too_long");
    let (status, _, _) = send(
        &app,
        Request::post("/echo").body(Body::from("small")).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn panics_become_opaque_500s() {
    let app = harden(
        Router::new().route(
            "/boom",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("secret detail");
                }
                "unreachable"
            }),
        ),
        &limits(),
    );
    let (status, _, body) = send(&app, Request::get("/boom").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["code"], "internal");
    assert!(!body.to_string().contains("secret"));
}

#[tokio::test]
async fn cors_is_off_unless_origins_are_configured() {
    let request = || {
        Request::get("/search")
            .header(header::ORIGIN, "https://shop.example")
            .body(Body::empty())
            .unwrap()
    };
    let (_, headers, _) = send(&app_with(SearchSettings::default()), request()).await;
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    let app = app_with(SearchSettings {
        cors_origins: vec!["https://shop.example".into()],
        ..SearchSettings::default()
    });
    let (_, headers, _) = send(&app, request()).await;
    assert_eq!(
        headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://shop.example"
    );
    let other = Request::get("/search")
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::empty())
        .unwrap();
    let (_, headers, _) = send(&app, other).await;
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

#[tokio::test]
async fn searches_beyond_the_slots_wait_then_are_shed() {
    let state = ApiState::new(
        SharedIndex::new(live_index()),
        SearchSettings {
            max_concurrent_searches: 1,
            queue_timeout: Duration::from_millis(20),
            ..SearchSettings::default()
        },
    );
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let holder = tokio::spawn({
        let state = state.clone();
        async move {
            state
                .run_blocking(move || {
                    let _ = rx.recv();
                    Ok(())
                })
                .await
        }
    });
    // Wait until the slot is taken.
    let mut shed = false;
    for _ in 0..200 {
        match state.run_blocking(|| Ok(())).await {
            Err(ApiError::Overloaded) => {
                shed = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    assert!(shed, "a second search is shed while the only slot is busy");
    tx.send(()).unwrap();
    assert!(holder.await.unwrap().is_ok());
    assert!(
        state.run_blocking(|| Ok(())).await.is_ok(),
        "the slot is free again"
    );
}

#[tokio::test]
async fn hostile_query_texts_are_answered() {
    let app = app_with(SearchSettings::default());
    for q in [
        "-+*",
        "a:(^",
        "\"unbalanced",
        "title:tv AND",
        "(((((",
        "\u{0}\u{1}",
        "🙂🙃",
        "tv   ",
        "*:*",
        "\\",
        "a~2^3",
        "<script>",
    ] {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("q", q)
            .finish();
        let (status, body) = get_json(&app, &format!("/search?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{q}: {body}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No shopper text panics, and every search completes.
    #[test]
    fn arbitrary_query_texts_never_panic(q in "\\PC{0,80}", sort in 0usize..4) {
        let index = live_index_cached();
        let sorts = ["relevance", "price_asc", "price_desc", "newest"];
        let raw = form_urlencoded::Serializer::new(String::new())
            .append_pair("q", &q)
            .append_pair("sort", sorts[sort])
            .append_pair("facets", "brand,category,price")
            .finish();
        let params = SearchParams::parse(&pairs(Some(&raw))).unwrap();
        let response = query_api::search(index, Relevance::default(), &params);
        prop_assert!(response.is_ok(), "{:?}", response.err());
        let suggest = query_api::SuggestParams::parse(&pairs(Some(&form_urlencoded::Serializer::new(String::new()).append_pair("q", &q.chars().take(100).collect::<String>()).finish())));
        if let Ok(p) = suggest {
            prop_assert!(query_api::suggest(index, Relevance::default(), &p).is_ok());
        }
    }
}

fn live_index_cached() -> &'static query_api::LiveIndex {
    static INDEX: std::sync::OnceLock<query_api::LiveIndex> = std::sync::OnceLock::new();
    INDEX.get_or_init(live_index)
}
