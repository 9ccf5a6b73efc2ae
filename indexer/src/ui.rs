//! The shopper search page: a static HTML/CSS/JS app embedded in the binary and served at
//! `/`, talking to the read API (`/search`, `/suggest`, `/products/{id}`) from the browser.
//!
//! The assets live in `indexer/assets/shop/` and are compiled in with `include_str!`, so the
//! binary needs no files at run time and the page works offline.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const INDEX_HTML: &str = include_str!("../assets/shop/index.html");
const SHOP_CSS: &str = include_str!("../assets/shop/shop.css");
const SHOP_JS: &str = include_str!("../assets/shop/shop.js");

/// The page must revalidate so a new binary's page is seen at once; the assets are cached
/// briefly (they change only with the binary).
const HTML_CACHE: &str = "no-cache";
const ASSET_CACHE: &str = "public, max-age=300";

/// `GET /`, `GET /assets/shop.css`, `GET /assets/shop.js`.
pub fn routes() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/shop.css", get(css))
        .route("/assets/shop.js", get(js))
}

fn asset(content_type: &'static str, cache: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}

async fn index() -> impl IntoResponse {
    asset("text/html; charset=utf-8", HTML_CACHE, INDEX_HTML)
}

async fn css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", ASSET_CACHE, SHOP_CSS)
}

async fn js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", ASSET_CACHE, SHOP_JS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn get_route(path: &str) -> (StatusCode, String, String, String) {
        let response = routes()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let content_type = header(header::CONTENT_TYPE);
        let cache = header(header::CACHE_CONTROL);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            content_type,
            cache,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn every_route_answers_with_its_content_type() {
        for (path, content_type, body) in [
            ("/", "text/html; charset=utf-8", INDEX_HTML),
            ("/assets/shop.css", "text/css; charset=utf-8", SHOP_CSS),
            ("/assets/shop.js", "text/javascript; charset=utf-8", SHOP_JS),
        ] {
            let (status, got_type, cache, got_body) = get_route(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(got_type, content_type, "{path}");
            assert!(!cache.is_empty(), "{path}: no Cache-Control");
            assert_eq!(got_body, body, "{path}");
        }
    }

    #[test]
    fn the_page_links_its_assets() {
        assert!(INDEX_HTML.contains("/assets/shop.css"));
        assert!(INDEX_HTML.contains("/assets/shop.js"));
        assert!(!INDEX_HTML.contains("http://") && !INDEX_HTML.contains("https://"));
    }
}
