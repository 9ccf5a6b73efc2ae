//! Handlers of the read API.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::ApiState;

/// `GET /products/{product_id}`: the merged document of a visible product.
pub async fn get_product(
    State(state): State<ApiState>,
    Path(product_id): Path<String>,
) -> Result<Response, ApiError> {
    if product_id.is_empty() || product_id.len() > 256 {
        return Err(ApiError::InvalidParameter(
            "product_id must have 1 to 256 bytes".to_owned(),
        ));
    }
    let index = state.index.current();
    let id = product_id.clone();
    let found = tokio::task::spawn_blocking(move || index.product(&id)).await??;
    match found {
        Some(doc) => Ok(axum::Json(doc).into_response()),
        None => Err(ApiError::NotFound(format!("no product {product_id:?}"))),
    }
}
