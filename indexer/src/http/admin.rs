//! The admin API (`/admin/reindex`); its client is `indexer reindex`
//! (`commands::reindex`).
//!
//! Admin routes require `Authorization: Bearer <token>`, the token of `--admin-token` /
//! `INDEXER_ADMIN_TOKEN`, compared in constant time. Without a configured token they are
//! disabled (404 `disabled`). CORS never applies to them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use query_api::ApiError;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::reindex::{ReindexError, ReindexReport, Reindexer};

/// State of the admin routes.
#[derive(Clone)]
pub struct AdminState {
    /// `None`: admin routes disabled.
    pub token: Option<Arc<str>>,
    /// Starts and reports rebuilds.
    pub reindexer: Arc<Reindexer>,
}

/// Whether `headers` carry the admin token (`Authorization: Bearer <token>`), compared in
/// constant time; never true when no token is configured.
pub fn bearer_matches(token: Option<&str>, headers: &axum::http::HeaderMap) -> bool {
    let Some(expected) = token else {
        return false;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .is_some_and(|g| bool::from(g.as_bytes().ct_eq(expected.as_bytes())))
}

/// Checks the bearer token.
async fn authorize(
    State(token): State<Option<Arc<str>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = token else {
        return ApiError::Disabled(
            "admin routes are disabled: start the indexer with --admin-token (or INDEXER_ADMIN_TOKEN)",
        )
        .into_response();
    };
    if !bearer_matches(Some(&expected), request.headers()) {
        let mut response = ApiError::Unauthorized.into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    next.run(request).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRequest {
    #[serde(default)]
    force: bool,
}

fn start_request(query: Option<&str>, body: &Bytes) -> Result<StartRequest, ApiError> {
    let mut request = if body.iter().all(u8::is_ascii_whitespace) {
        StartRequest::default()
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::InvalidParameter(format!(
                "the body must be empty or a JSON object like {{\"force\": true}}: {e}"
            ))
        })?
    };
    for (k, v) in query_api::pairs(query) {
        match (k.as_str(), v.as_str()) {
            ("force", "true") => request.force = true,
            ("force", "false") => request.force = false,
            ("force", other) => {
                return Err(ApiError::InvalidParameter(format!(
                    "force must be true or false, got {other:?}"
                )))
            }
            (other, _) => {
                return Err(ApiError::UnknownParameter(format!(
                    "unknown parameter {other:?}; POST /admin/reindex accepts force"
                )))
            }
        }
    }
    Ok(request)
}

/// `POST /admin/reindex`: starts a rebuild (202), or 409 when one runs.
async fn start(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<(StatusCode, Json<ReindexReport>), ApiError> {
    let request = start_request(query.as_deref(), &body)?;
    let reindexer = state.reindexer.clone();
    match tokio::task::spawn_blocking(move || reindexer.start(request.force)).await? {
        Ok(report) => Ok((StatusCode::ACCEPTED, Json(report))),
        Err(ReindexError::AlreadyRunning(state)) => Err(ApiError::Conflict(format!(
            "a reindex is already running ({state}); GET /admin/reindex shows its progress"
        ))),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// `GET /admin/reindex`: state and progress of the current or last rebuild.
async fn report(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Json<ReindexReport>, ApiError> {
    if let Some((k, _)) = query_api::pairs(query.as_deref()).first() {
        return Err(ApiError::UnknownParameter(format!(
            "unknown parameter {k:?}; GET /admin/reindex takes none"
        )));
    }
    Ok(Json(state.reindexer.report()))
}

/// The admin routes.
pub fn routes(state: AdminState) -> Router {
    Router::new()
        .route("/admin/reindex", get(report).post(start))
        .route_layer(middleware::from_fn_with_state(
            state.token.clone(),
            authorize,
        ))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_requests_accept_empty_json_or_query() {
        assert!(!start_request(None, &Bytes::new()).unwrap().force);
        assert!(
            start_request(None, &Bytes::from_static(b"{\"force\": true}"))
                .unwrap()
                .force
        );
        assert!(
            start_request(Some("force=true"), &Bytes::new())
                .unwrap()
                .force
        );
        assert!(matches!(
            start_request(None, &Bytes::from_static(b"{\"forse\": true}")),
            Err(ApiError::InvalidParameter(_))
        ));
        assert!(matches!(
            start_request(Some("force=yes"), &Bytes::new()),
            Err(ApiError::InvalidParameter(_))
        ));
        assert!(matches!(
            start_request(Some("now=1"), &Bytes::new()),
            Err(ApiError::UnknownParameter(_))
        ));
    }
}
