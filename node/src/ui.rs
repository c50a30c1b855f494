//! The admin UI, served by every node from the binary itself: the page at
//! `/` and its scripts, styles and icon under `/ui/`. The files in
//! `node/ui/` are plain ES modules and CSS with no build step, embedded
//! here with `include_bytes!` (see ARCHITECTURE.md, "Admin UI"). Nothing is
//! fetched from anywhere else at run time, and the Content-Security-Policy
//! says so to the browser.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// One embedded file, by its path under `node/ui/`.
#[derive(Debug)]
struct Asset {
    path: &'static str,
    body: &'static [u8],
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(Asset { path: $path, body: include_bytes!(concat!("../ui/", $path)) }),*]
    };
}

/// Every file the UI is made of. A unit test checks that this list and the
/// directory agree, so a new module cannot be forgotten.
const ASSETS: &[Asset] = assets![
    "index.html",
    "app.css",
    "favicon.svg",
    "js/api.js",
    "js/charts.js",
    "js/clauses.js",
    "js/diff.js",
    "js/dom.js",
    "js/errors.js",
    "js/format.js",
    "js/main.js",
    "js/metrics.js",
    "js/scope.js",
    "js/serve.js",
    "js/pages/audit.js",
    "js/pages/cluster.js",
    "js/pages/flag-cards.js",
    "js/pages/flag.js",
    "js/pages/flags.js",
    "js/pages/history.js",
    "js/pages/monitoring.js",
    "js/pages/promote.js",
    "js/pages/segment.js",
    "js/pages/segments.js",
    "js/pages/tokens.js",
    "js/pages/toggle.js",
];

/// Only this origin, no inline script or style: everything the UI runs is
/// in [`ASSETS`].
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

/// A strong ETag per asset (hash of its bytes), computed once.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            a.body.hash(&mut h);
            format!("\"{:016x}\"", h.finish())
        })
        .collect()
});

/// `/`, `/ui` and `/ui/{path}`. Generic over the state so it merges into
/// the API router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/ui", get(|| async { Redirect::permanent("/") }))
        .route("/ui/", get(|| async { Redirect::permanent("/") }))
        .route("/ui/{*path}", get(asset))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no such UI file",
        )
            .into_response();
    };
    let etag = &ETAGS[i];
    let common = [
        // Revalidate every time; the ETag makes that a 304.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::ETAG,
            HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"0\"")),
        ),
    ];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let ct = HeaderValue::from_static(content_type(path));
    (common, [(header::CONTENT_TYPE, ct)], ASSETS[i].body).into_response()
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// Every file under `node/ui/` except the browser tests.
    fn files_on_disk() -> Vec<String> {
        fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                if rel == "tests" || rel.starts_with('.') {
                    continue;
                }
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    out.push(rel);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        let mut out = Vec::new();
        walk(&root, &root, &mut out);
        out.sort();
        out
    }

    #[test]
    fn every_ui_file_is_embedded() {
        let mut listed: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        listed.sort();
        assert_eq!(listed, files_on_disk(), "update ASSETS in node/src/ui.rs");
        for a in ASSETS {
            assert_ne!(
                content_type(a.path),
                "application/octet-stream",
                "{}",
                a.path
            );
        }
    }

    async fn get(uri: &str, etag: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = Request::get(uri);
        if let Some(e) = etag {
            req = req.header(header::IF_NONE_MATCH, e);
        }
        let resp = router::<()>()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes().to_vec();
        (parts.status, parts.headers, bytes)
    }

    #[tokio::test]
    async fn serves_the_page_and_its_modules() {
        let (status, headers, body) = get("/", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(String::from_utf8_lossy(&body).contains("/ui/js/main.js"));
        assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));

        let (status, headers, _) = get("/ui/js/pages/flag.js", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        let etag = headers[header::ETAG].to_str().unwrap().to_owned();
        let (status, _, body) = get("/ui/js/pages/flag.js", Some(&etag)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());

        let (status, _, _) = get("/ui/../Cargo.toml", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) = get("/ui/tests/package.json", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
