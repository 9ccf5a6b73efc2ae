//! The shopper-facing read API, mounted by `indexer run` on the live index.
//!
//! A tour:
//! - [`index`]: the live index handle (index, reader, fields), atomically swappable.
//! - [`routes`]: the handlers (`GET /products/{id}`, ...).
//! - [`error`]: the error table (kind to HTTP status and stable JSON code).
//!
//! Searches run on Tantivy's blocking side (`spawn_blocking`), never on the async executor.

pub mod error;
pub mod index;
pub mod metrics;
pub mod routes;

use axum::routing::get;
use axum::Router;

pub use error::ApiError;
pub use index::{LiveIndex, SharedIndex};

/// State shared by the API's handlers.
#[derive(Clone)]
pub struct ApiState {
    pub index: SharedIndex,
}

/// The read API's routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/products/{product_id}", get(routes::get_product))
        .with_state(state)
}
