//! API errors: one table maps each error kind to an HTTP status and a stable JSON code.
//!
//! Bodies are `{"error": {"code": "invalid_parameter", "message": "..."}}`. Client errors say
//! exactly what to fix and are logged at debug level; internal errors are logged with their
//! cause and answered with a generic message that leaks nothing.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Every error the HTTP API can answer with. Client errors carry what to tell the client:
/// a message saying exactly what to fix where it depends on the request, typed values where
/// the message is made from them.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A parameter's value is wrong (the message names the parameter and the fix).
    #[error("{0}")]
    InvalidParameter(String),
    /// A parameter the endpoint does not know (the message lists the accepted ones).
    #[error("{0}")]
    UnknownParameter(String),
    /// No such product or endpoint.
    #[error("{0}")]
    NotFound(Missing),
    /// The admin token is missing or wrong.
    #[error("missing or wrong admin token: send Authorization: Bearer <token>")]
    Unauthorized,
    /// The request conflicts with work in progress (e.g. a running reindex).
    #[error("{0}")]
    Conflict(String),
    /// The request body is over the limit.
    #[error("the request body is over the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The query string is over the limit.
    #[error("the query string is {length} bytes, over the limit of {limit}")]
    UriTooLong {
        /// Its length in bytes.
        length: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A feature that is switched off; the message says how to switch it on.
    #[error("{0}")]
    Disabled(&'static str),
    /// Every search slot is taken (load shedding).
    #[error("the server is busy, retry shortly")]
    Overloaded,
    /// The request took longer than the request timeout.
    #[error("the request took too long")]
    Timeout,
    /// No index to serve yet.
    #[error("the index is not available yet")]
    IndexUnavailable,
    /// An unexpected failure; the cause is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

/// What a 404 did not find.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    /// No visible product has this id.
    #[error("no product {0:?}")]
    Product(String),
    /// No route has this path.
    #[error("no such endpoint")]
    Endpoint,
}

impl ApiError {
    /// The HTTP status and stable error code of each kind.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::InvalidParameter(_) => (StatusCode::BAD_REQUEST, "invalid_parameter"),
            ApiError::UnknownParameter(_) => (StatusCode::BAD_REQUEST, "unknown_parameter"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            ApiError::UriTooLong { .. } => (StatusCode::URI_TOO_LONG, "uri_too_long"),
            ApiError::Disabled(_) => (StatusCode::NOT_FOUND, "disabled"),
            ApiError::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            ApiError::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            ApiError::IndexUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "index_unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// An internal error; `cause` is logged, never answered.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(cause.to_string())
    }
}

impl From<tantivy::TantivyError> for ApiError {
    fn from(e: tantivy::TantivyError) -> ApiError {
        ApiError::internal(format!("tantivy: {e}"))
    }
}

impl From<crate::search::SearchError> for ApiError {
    fn from(e: crate::search::SearchError) -> ApiError {
        match e {
            crate::search::SearchError::Timeout => ApiError::Timeout,
            other => ApiError::internal(other),
        }
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> ApiError {
        ApiError::internal(format!("io: {e}"))
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        ApiError::internal(format!("search task: {e}"))
    }
}

/// The JSON body of an error response.
pub fn error_body(code: &str, message: &str) -> serde_json::Value {
    json!({ "error": { "code": code, "message": message } })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = self.to_string();
        match &self {
            ApiError::Internal(cause) => tracing::error!(code, cause = %cause, "internal error"),
            ApiError::Overloaded | ApiError::Timeout | ApiError::IndexUnavailable => {
                tracing::warn!(code, "request not served")
            }
            _ => tracing::debug!(code, message = %message, "client error"),
        }
        let mut response = (status, axum::Json(error_body(code, &message))).into_response();
        if matches!(self, ApiError::Overloaded | ApiError::Timeout) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// The response to a handler panic (for `CatchPanicLayer`): a plain internal error.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::internal(format!("handler panicked: {detail}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_distinct_code() {
        let all = [
            ApiError::InvalidParameter(String::new()),
            ApiError::UnknownParameter(String::new()),
            ApiError::NotFound(Missing::Endpoint),
            ApiError::Unauthorized,
            ApiError::Conflict(String::new()),
            ApiError::PayloadTooLarge { limit: 0 },
            ApiError::UriTooLong {
                length: 0,
                limit: 0,
            },
            ApiError::Disabled(""),
            ApiError::Overloaded,
            ApiError::Timeout,
            ApiError::IndexUnavailable,
            ApiError::Internal(String::new()),
        ];
        let mut codes: Vec<_> = all.iter().map(|e| e.status_and_code().1).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[tokio::test]
    async fn internal_errors_do_not_leak_their_cause() {
        let response = ApiError::internal("disk /secret/path failed").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("\"code\":\"internal\""), "{text}");
    }

    #[test]
    fn overload_answers_carry_retry_after() {
        let response = ApiError::Overloaded.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
