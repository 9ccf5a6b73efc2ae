//! The indexer's HTTP application: the query API's shopper routes, the operator endpoints,
//! the admin routes and the embedded pages, behind the query API's protections.
//!
//! - `operator`: `/health`, `/ready`, `/status` (`StatusReport`), `/status/history`,
//!   `/metrics`.
//! - `admin`: `/admin/reindex`, behind a bearer token.
//! - `pages`: the shopper page (`/`) and the dashboard (`/dashboard`), from `assets/`.
//! - `server`: the server loop (connection limit, header and idle timeouts, graceful
//!   drain).
//!
//! May use `telemetry`, `ops`, `reindex` (the admin routes start rebuilds), `models` and
//! `util`; never `ingest`, `cli`, `commands` or `tools`.

mod admin;
mod operator;
mod pages;
mod server;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;
use query_api::{ApiState, HttpMetrics};

pub use admin::AdminState;
pub use server::{serve, ConnectionMetrics, ServerLimits};

use crate::ops::{CanaryStatus, History};
use crate::telemetry::{Metrics, Status};

/// State of the operator endpoints.
#[derive(Clone)]
pub struct AppState {
    /// The pipeline's status.
    pub status: Arc<Status>,
    /// Every metric of the process.
    pub registry: Arc<Registry>,
    /// The indexer's metrics.
    pub metrics: Metrics,
    /// The shopper API.
    pub api: ApiState,
    /// The HTTP metrics.
    pub http_metrics: HttpMetrics,
    /// Timeouts, shedding and size limits.
    pub limits: query_api::HttpLimits,
    /// The admin routes.
    pub admin: AdminState,
    /// The dashboard's history.
    pub history: Arc<History>,
    /// The canary's figures.
    pub canary: Arc<CanaryStatus>,
    /// The canary interval (`None`: off).
    pub canary_interval: Option<Duration>,
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let ops = Router::new()
        .route("/health", get(operator::health))
        .route("/ready", get(operator::ready))
        .route("/health/ingestion", get(operator::ingestion_health))
        .route("/status", get(operator::status))
        .route("/status/history", get(operator::history))
        .route("/metrics", get(operator::metrics))
        .with_state(state.clone());
    let routes = ops
        .merge(query_api::router(state.api.clone()))
        .merge(pages::routes())
        .merge(admin::routes(state.admin.clone()))
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
