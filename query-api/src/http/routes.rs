//! Handlers of the read API.

use std::time::Instant;

use axum::extract::{Path, RawQuery, State};
use axum::Json;

use super::error::{ApiError, Missing};
use super::params::pairs;
use super::ApiState;
use crate::search::{SearchOptions, SearchParams, SearchResponse, SuggestParams, SuggestResponse};

/// `GET /products/{product_id}`: the merged document of a visible product.
pub async fn get_product(
    State(state): State<ApiState>,
    Path(product_id): Path<String>,
) -> Result<Json<schemas::ProductDocument>, ApiError> {
    if product_id.is_empty() || product_id.len() > 256 {
        return Err(ApiError::InvalidParameter(
            "product_id must have 1 to 256 bytes".to_owned(),
        ));
    }
    let index = state.index.current();
    let id = product_id.clone();
    match state.run_blocking(move || Ok(index.product(&id)?)).await? {
        Some(doc) => Ok(Json(doc)),
        None => Err(ApiError::NotFound(Missing::Product(product_id))),
    }
}

/// `GET /search`: see the crate docs for the parameters.
pub async fn search(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<SearchResponse>, ApiError> {
    let options = SearchOptions {
        include_canaries: false,
        deadline: Some(Instant::now() + state.settings.search_timeout),
    };
    let params = SearchParams::parse(&pairs(raw.as_deref()))?;
    let index = state.index.current();
    let relevance = state.settings.relevance;
    let response = state
        .run_blocking(move || {
            Ok(crate::search::search_with(
                &index, relevance, &params, &options,
            )?)
        })
        .await?;
    Ok(Json(response))
}

/// `GET /suggest?q=sam`: up to 10 completions (brands, then titles).
pub async fn suggest(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<SuggestResponse>, ApiError> {
    let params = SuggestParams::parse(&pairs(raw.as_deref()))?;
    let index = state.index.current();
    let relevance = state.settings.relevance;
    let response = state
        .run_blocking(move || Ok(crate::search::suggest(&index, relevance, &params)?))
        .await?;
    Ok(Json(response))
}

/// Any other path.
pub async fn not_found() -> ApiError {
    ApiError::NotFound(Missing::Endpoint)
}
