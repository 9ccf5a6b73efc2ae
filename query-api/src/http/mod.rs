//! The HTTP side of the read API: routes, query-string parsing, the error table, the
//! protections (timeouts, shedding, size limits, CORS) and HTTP metrics. The only module of
//! the crate that uses axum, tower or HTTP types; it calls `search` on the blocking pool.
//!
//! - `routes`: the handlers of `/search`, `/suggest`, `/products/{product_id}`.
//! - `params`: query strings to [`SearchParams`](crate::SearchParams) and
//!   [`SuggestParams`](crate::SuggestParams), every mistake a precise 400.
//! - `error`: [`ApiError`], one table of HTTP status and stable JSON code per kind.
//! - `limits`: [`HttpLimits`] and [`harden`], applied to the whole router.
//! - `metrics`: [`HttpMetrics`] and the [`track`] middleware.
//!
//! Searches run on Tokio's blocking pool, at most `max_concurrent_searches` at once (a
//! request waits up to `queue_timeout` for a slot, then gets 503 `overloaded`): the async
//! executor never runs Tantivy code, and an overload sheds requests instead of queueing
//! them without bound.

mod error;
mod limits;
mod metrics;
mod params;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use schemas::SharedIndex;
use tokio::sync::Semaphore;

use crate::search::Relevance;

pub use error::{error_body, panic_response, ApiError, Missing};
pub use limits::{cors, harden, HttpLimits};
pub use metrics::{track, HttpMetrics, RequestLabels, RouteLabels};
pub use params::{
    pairs, MAX_ATTR_FILTERS, MAX_FACETS, MAX_FILTER_VALUES, MAX_Q_CHARS, MAX_RESULT_WINDOW,
    MAX_VALUE_BYTES,
};
pub use routes::not_found;

/// Settings of the search API.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSettings {
    /// How text matches and ranks.
    pub relevance: Relevance,
    /// Searches running at once on the blocking pool.
    pub max_concurrent_searches: usize,
    /// How long a request waits for a search slot before 503 `overloaded`.
    pub queue_timeout: Duration,
    /// A search still running this long after its request arrived is stopped (a deadline
    /// checked inside the search, freeing its slot) and answered 503 `timeout`.
    pub search_timeout: Duration,
    /// Origins allowed by CORS on the shopper routes; empty disables CORS.
    pub cors_origins: Vec<String>,
}

impl Default for SearchSettings {
    fn default() -> SearchSettings {
        SearchSettings {
            relevance: Relevance::default(),
            max_concurrent_searches: 16,
            queue_timeout: Duration::from_millis(200),
            search_timeout: Duration::from_secs(1),
            cors_origins: Vec::new(),
        }
    }
}

/// State shared by the API's handlers.
#[derive(Clone)]
pub struct ApiState {
    /// The index searches run on (swapped by a reindex).
    pub index: SharedIndex,
    /// The API's settings.
    pub settings: Arc<SearchSettings>,
    permits: Arc<Semaphore>,
}

impl ApiState {
    /// The state of an API serving `index`.
    pub fn new(index: SharedIndex, settings: SearchSettings) -> ApiState {
        ApiState {
            permits: Arc::new(Semaphore::new(settings.max_concurrent_searches.max(1))),
            settings: Arc::new(settings),
            index,
        }
    }

    /// Runs index work on the blocking pool, holding a search slot until it finishes (even
    /// when the request has timed out meanwhile), so overload cannot pile up work.
    pub async fn run_blocking<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let permit = tokio::time::timeout(
            self.settings.queue_timeout,
            self.permits.clone().acquire_owned(),
        )
        .await
        .map_err(|_| ApiError::Overloaded)?
        .map_err(|_| ApiError::Overloaded)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await?
    }
}

/// The read API's routes: `/search`, `/suggest`, `/products/{product_id}`, `/stores`.
pub fn router(state: ApiState) -> Router {
    let router = Router::new()
        .route("/search", get(routes::search))
        .route("/stores", get(routes::stores))
        .route("/suggest", get(routes::suggest))
        .route("/products/{product_id}", get(routes::get_product));
    let router = match cors(&state.settings.cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.with_state(state)
}
