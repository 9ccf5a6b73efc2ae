//! Handlers of the read API.

use std::time::Instant;

use axum::extract::{Path, RawQuery, State};
use axum::Json;

use super::error::{ApiError, Missing};
use super::params::pairs;
use super::ApiState;
use crate::search::{
    ProductParams, SearchOptions, SearchParams, SearchResponse, SuggestParams, SuggestResponse,
};

/// `GET /products/{product_id}[?store=S]`: the merged document of a visible product (with
/// its `pickup` block at store `S`).
pub async fn get_product(
    State(state): State<ApiState>,
    Path(product_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<schemas::ProductDocument>, ApiError> {
    if product_id.is_empty() || product_id.len() > 256 {
        return Err(ApiError::InvalidParameter(
            "product_id must have 1 to 256 bytes".to_owned(),
        ));
    }
    let params = ProductParams::parse(&pairs(raw.as_deref()))?;
    let stores: Vec<String> = params.store.into_iter().collect();
    let index = state.index.current();
    let id = product_id.clone();
    match state
        .run_blocking(move || Ok(index.product_at_stores(&id, &stores)?))
        .await?
    {
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

/// One store of `GET /stores`.
#[derive(Debug, serde::Serialize)]
pub struct StoreCount {
    /// The store's id, as inventory events carry it.
    pub store_id: String,
    /// Products in stock there now (for pickup).
    pub products: u64,
}

/// The body of `GET /stores`.
#[derive(Debug, serde::Serialize)]
pub struct StoresResponse {
    /// Every store some inventory event named, by id.
    pub stores: Vec<StoreCount>,
}

/// `GET /stores`: the stores known, with the number of products in stock at each (what a
/// store picker lists; issue #15 part B).
pub async fn stores(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<StoresResponse>, ApiError> {
    if let Some((key, _)) = pairs(raw.as_deref()).first() {
        return Err(ApiError::UnknownParameter(format!(
            "unknown parameter {key:?}; /stores takes no parameters"
        )));
    }
    let index = state.index.current();
    let stores = state
        .run_blocking(move || {
            Ok(index
                .values
                .stores
                .store_counts()
                .into_iter()
                .map(|(id, products)| StoreCount {
                    store_id: id.to_string(),
                    products,
                })
                .collect())
        })
        .await?;
    Ok(Json(StoresResponse { stores }))
}

/// Any other path.
pub async fn not_found() -> ApiError {
    ApiError::NotFound(Missing::Endpoint)
}
