//! The web client: `index.html` at `/` and at a chat link (`/<username>`, `/<bot>?start=…`), and
//! its compiled assets under `/assets/<build id>/`, cached for good since a new build gets a new
//! path. Gzip is chosen when the browser accepts it; both forms were made at build time.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plaza_web::Asset;

use crate::error::ApiError;

/// The client talks only to its own origin and nothing may frame it; it frames mini apps, which
/// live on their own origins (the client refuses one on its own origin).
const CSP: &str = "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; style-src 'self'; \
                   script-src 'self'; frame-src http: https:; object-src 'none'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

pub(crate) fn serve(asset: &'static Asset, headers: &HeaderMap, cache: &'static str) -> Response {
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.split(';').next().is_some_and(|e| e.trim() == "gzip")));
    let mut res = if gzip { asset.gzip.into_response() } else { asset.body.into_response() };
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    res
}

/// `index.html`, never cached, so a new build is picked up on the next load.
pub async fn index(headers: HeaderMap) -> Response {
    let mut res = serve(&plaza_web::INDEX, &headers, "no-cache");
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// A chat link (`/<username>`) or an invoice link (`/$<slug>`, what `createInvoiceLink` makes, on
/// this origin): the client opens the chat or the payment sheet once someone is signed in.
pub async fn link(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let invoice = name.strip_prefix('$').is_some_and(is_invoice_slug);
    if !invoice && plaza_core::Username::parse(&name).is_err() {
        return ApiError::not_found().into_response();
    }
    index(headers).await
}

/// Could this be an invoice's slug? The client asks the server whether it is one.
pub fn is_invoice_slug(slug: &str) -> bool {
    (1..=64).contains(&slug.len()) && slug.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'='))
}

pub async fn asset(Path((build, path)): Path<(String, String)>, headers: HeaderMap) -> Response {
    match plaza_web::asset(&path) {
        Some(a) if build == plaza_web::BUILD_ID => serve(a, &headers, "public, max-age=31536000, immutable"),
        // An asset of another build (a page loaded before an upgrade): the current one, briefly cached.
        Some(a) => serve(a, &headers, "no-cache"),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
