//! The shopper-facing read API, mounted by `indexer run` on the live index.
//!
//! A tour:
//! - [`params`]: the query string of `/search` and `/suggest`, validated by hand so every
//!   mistake gets a precise 400.
//! - [`query`]: shopper text and filters to a Tantivy query (relevance rules in its docs).
//! - [`search`], [`facets`], [`highlight`], [`suggest`]: running searches and shaping answers.
//! - [`index`]: the live index handle (index, reader, fields), atomically swappable.
//! - [`harden`]: timeouts, load shedding, size limits, panic catching, CORS.
//! - [`error`]: the error table (kind to HTTP status and stable JSON code).
//! - [`metrics`]: HTTP metrics.
//!
//! Searches run on Tokio's blocking pool, at most `max_concurrent_searches` at once (a
//! request waits up to `queue_timeout` for a slot, then gets 503 `overloaded`): the async
//! executor never runs Tantivy code, and an overload sheds requests instead of queueing
//! them without bound.

pub mod error;
pub mod facets;
pub mod harden;
pub mod highlight;
pub mod index;
pub mod metrics;
pub mod min_match;
pub mod params;
pub mod query;
pub mod routes;
pub mod search;
pub mod suggest;
pub mod word_group;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::sync::Semaphore;

pub use error::ApiError;
pub use harden::HttpLimits;
pub use index::{LiveIndex, SharedIndex};
pub use query::Relevance;

/// Settings of the search API.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSettings {
    pub relevance: Relevance,
    /// Searches running at once on the blocking pool.
    pub max_concurrent_searches: usize,
    /// How long a request waits for a search slot before 503 `overloaded`.
    pub queue_timeout: Duration,
    /// Origins allowed by CORS on the shopper routes; empty disables CORS.
    pub cors_origins: Vec<String>,
}

impl Default for SearchSettings {
    fn default() -> SearchSettings {
        SearchSettings {
            relevance: Relevance::default(),
            max_concurrent_searches: 16,
            queue_timeout: Duration::from_millis(200),
            cors_origins: Vec::new(),
        }
    }
}

/// State shared by the API's handlers.
#[derive(Clone)]
pub struct ApiState {
    pub index: SharedIndex,
    pub settings: Arc<SearchSettings>,
    permits: Arc<Semaphore>,
}

impl ApiState {
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

/// The read API's routes: `/search`, `/suggest`, `/products/{product_id}`.
pub fn router(state: ApiState) -> Router {
    let router = Router::new()
        .route("/search", get(routes::search))
        .route("/suggest", get(routes::suggest))
        .route("/products/{product_id}", get(routes::get_product));
    let router = match harden::cors(&state.settings.cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.with_state(state)
}
