//! The pages embedded in the binary: the shopper search page at `/`, talking to the read API
//! (`/search`, `/suggest`, `/products/{id}`) from the browser, and the operations dashboard at
//! `/dashboard`, charting `/status/history` and `/status`.
//!
//! The assets live in `indexer/assets/shop/` and `indexer/assets/dashboard/` and are compiled
//! in with `include_str!`, so the binary needs no files at run time and the pages work
//! offline.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const INDEX_HTML: &str = include_str!("../../assets/shop/index.html");
const SHOP_CSS: &str = include_str!("../../assets/shop/shop.css");
const SHOP_JS: &str = include_str!("../../assets/shop/shop.js");
const DASHBOARD_HTML: &str = include_str!("../../assets/dashboard/index.html");
const DASHBOARD_CSS: &str = include_str!("../../assets/dashboard/dashboard.css");
const DASHBOARD_JS: &str = include_str!("../../assets/dashboard/dashboard.js");

/// The page must revalidate so a new binary's page is seen at once; the assets are cached
/// briefly (they change only with the binary).
const HTML_CACHE: &str = "no-cache";
const ASSET_CACHE: &str = "public, max-age=300";

/// `GET /`, `GET /assets/shop.css`, `GET /assets/shop.js`; `GET /dashboard`,
/// `GET /assets/dashboard.css`, `GET /assets/dashboard.js`.
pub fn routes() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/shop.css", get(css))
        .route("/assets/shop.js", get(js))
        .route("/dashboard", get(dashboard))
        .route("/assets/dashboard.css", get(dashboard_css))
        .route("/assets/dashboard.js", get(dashboard_js))
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

async fn dashboard() -> impl IntoResponse {
    asset("text/html; charset=utf-8", HTML_CACHE, DASHBOARD_HTML)
}

async fn dashboard_css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", ASSET_CACHE, DASHBOARD_CSS)
}

async fn dashboard_js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", ASSET_CACHE, DASHBOARD_JS)
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
            ("/dashboard", "text/html; charset=utf-8", DASHBOARD_HTML),
            (
                "/assets/dashboard.css",
                "text/css; charset=utf-8",
                DASHBOARD_CSS,
            ),
            (
                "/assets/dashboard.js",
                "text/javascript; charset=utf-8",
                DASHBOARD_JS,
            ),
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

    #[tokio::test]
    async fn the_pages_revalidate_and_the_assets_are_cached() {
        for path in ["/", "/dashboard"] {
            assert_eq!(get_route(path).await.2, HTML_CACHE, "{path}");
        }
        for path in ["/assets/dashboard.css", "/assets/dashboard.js"] {
            assert_eq!(get_route(path).await.2, ASSET_CACHE, "{path}");
        }
    }

    #[test]
    fn the_dashboard_links_its_assets_and_nothing_external() {
        assert!(DASHBOARD_HTML.contains("/assets/dashboard.css"));
        assert!(DASHBOARD_HTML.contains("/assets/dashboard.js"));
        for asset in [DASHBOARD_HTML, DASHBOARD_CSS, DASHBOARD_JS] {
            // The SVG namespace is a name, not a resource.
            let asset = asset.replace("'http://www.w3.org/2000/svg'", "");
            assert!(!asset.contains("http://") && !asset.contains("https://"));
            assert!(!asset.contains("@import") && !asset.contains("//cdn"));
        }
        // What the dashboard reads.
        assert!(DASHBOARD_JS.contains("/status/history"));
        assert!(DASHBOARD_JS.contains("'/status'"));
    }
}
