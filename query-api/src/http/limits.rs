//! Protection of the API against bad and hostile traffic, as one function applied to the
//! whole router: request timeout, global concurrency limit with load shedding, request
//! size limits, panic catching. Every rejection is a JSON error from the error table.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::error::{panic_response, ApiError};

/// Limits of the HTTP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// A request taking longer is answered 503 `timeout`.
    pub request_timeout: Duration,
    /// Requests in flight at once; more are shed with 503 `overloaded` and `Retry-After`.
    pub max_in_flight: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Longest query string.
    pub max_query_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            request_timeout: Duration::from_secs(2),
            max_in_flight: 512,
            max_body_bytes: 64 * 1024,
            max_query_bytes: 8 * 1024,
        }
    }
}

async fn timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

async fn size_limits(State(limits): State<HttpLimits>, request: Request, next: Next) -> Response {
    let query = request.uri().query().map_or(0, str::len);
    if query > limits.max_query_bytes {
        return ApiError::UriTooLong {
            length: query,
            limit: limits.max_query_bytes,
        }
        .into_response();
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes) {
        return ApiError::PayloadTooLarge {
            limit: limits.max_body_bytes,
        }
        .into_response();
    }
    next.run(request).await
}

/// The global concurrency limit: a request that finds every slot taken is shed at once
/// (503 `overloaded` with `Retry-After`) rather than queued.
async fn shed(State(slots): State<Arc<Semaphore>>, request: Request, next: Next) -> Response {
    match slots.try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => ApiError::Overloaded.into_response(),
    }
}

/// Wraps every route of `router` with the protections.
pub fn harden(router: Router, limits: &HttpLimits) -> Router {
    router
        .layer(middleware::from_fn_with_state(
            limits.request_timeout,
            timeout,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            limits.max_body_bytes,
        ))
        .layer(middleware::from_fn_with_state(limits.clone(), size_limits))
        .layer(middleware::from_fn_with_state(
            Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            shed,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
}

/// CORS for the shopper routes: off unless origins are configured (`*` allows any).
pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
    };
    Some(CorsLayer::new().allow_origin(allow).allow_methods([
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
    ]))
}
