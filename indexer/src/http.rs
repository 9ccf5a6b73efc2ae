//! The indexer's HTTP API: the query API's routes plus the operator endpoints
//! (`/health`, `/ready`, `/status`, `/metrics`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::registry::Registry;
use query_api::ApiState;
use query_api::HttpMetrics;
use serde_json::json;

use crate::metrics::Metrics;
use crate::status::Status;

/// State of the operator endpoints.
#[derive(Clone)]
pub struct AppState {
    pub status: Arc<Status>,
    pub registry: Arc<Registry>,
    pub metrics: Metrics,
    pub api: ApiState,
    pub http_metrics: HttpMetrics,
    pub limits: query_api::HttpLimits,
    pub admin: crate::admin::AdminState,
    pub history: Arc<crate::history::History>,
    pub canary: Arc<crate::canary::CanaryStatus>,
    pub canary_interval: Option<std::time::Duration>,
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let ops = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/status", get(status))
        .route("/status/history", get(history))
        .route("/metrics", get(metrics))
        .with_state(state.clone());
    let routes = ops
        .merge(query_api::router(state.api.clone()))
        .merge(crate::ui::routes())
        .merge(crate::admin::routes(state.admin.clone()))
        .fallback(query_api::not_found);
    query_api::harden(routes, &state.limits)
        .layer(axum::middleware::from_fn_with_state(
            state.http_metrics.clone(),
            query_api::track,
        ))
        // A 5xx here is mostly expected (`/ready` while not ready, load shedding, timeouts):
        // not logged as an error per request (a balancer probing `/ready` would flood the
        // log); internal errors are logged once where they happen (`ApiError`).
        .layer(
            tower_http::trace::TraceLayer::new_for_http().on_failure(
                tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG),
            ),
        )
}

/// `GET /health`: the process is alive.
async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /ready`: 200 when the index is open, Kafka answers and the index is not behind the
/// log for longer than the freshness target; 503 with the reason otherwise.
async fn ready(State(state): State<AppState>) -> Response {
    match state.status.readiness() {
        Ok(()) => {
            state.metrics.ready.set(1);
            Json(json!({ "ready": true })).into_response()
        }
        Err(not_ready) => {
            state.metrics.ready.set(0);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "ready": false, "reason": not_ready.reason, "message": not_ready.message })),
            )
                .into_response()
        }
    }
}

/// `GET /status`: Kafka positions and lag, index size and last commit, event counters.
async fn status(State(state): State<AppState>) -> Json<serde_json::Value> {
    let s = &state.status;
    let ready = s.readiness();
    let r = state.admin.reindexer.report();
    let reindex = json!({
        "state": r.state,
        "generation": r.generation,
        "events_per_second": r.progress.events_per_second,
        "remaining_events": r.progress.remaining_events,
    });
    Json(json!({
        "kafka": {
            "brokers": s.brokers,
            "embedded": s.embedded,
            "group_id": s.group_id,
            "connected": s.is_connected(),
            "error": s.kafka_error(),
            "total_lag": s.total_lag(),
            "partitions": s.partitions(),
        },
        "index": s.index(),
        "events": s.counters.snapshot(),
        "slo": s.slo_state(),
        "canary": state.canary.report(state.canary_interval),
        "reindex": reindex,
        "freshness": {
            "source": crate::freshness::Freshness::report(&s.freshness.source, std::time::Instant::now()),
            "pipeline": crate::freshness::Freshness::report(&s.freshness.pipeline, std::time::Instant::now()),
        },
        "ready": ready.is_ok(),
        "not_ready": ready.err(),
    }))
}

/// `GET /status/history`: the last 15 minutes, a point every 5 seconds (the dashboard's data).
async fn history(State(state): State<AppState>) -> Json<crate::history::HistoryResponse> {
    Json(state.history.response())
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(state): State<AppState>) -> Response {
    // Lag moves with the log even when nothing is committed: refresh it at each scrape.
    for p in state.status.partitions() {
        if let Some(lag) = p.lag {
            state
                .metrics
                .consumer_lag
                .get_or_create(&crate::metrics::PartitionLabels {
                    topic: p.topic,
                    partition: p.partition.to_string(),
                })
                .set(lag);
        }
    }
    state
        .metrics
        .kafka_connected
        .set(i64::from(state.status.is_connected()));
    let body = crate::metrics::render(&state.registry);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
