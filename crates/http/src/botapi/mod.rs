//! The Bot API: `/bot<token>/<method>` (and `/bot<token>/test/<method>`), wire-compatible with
//! Telegram's, so existing bot libraries work against Plaza with only their base URL changed.
//!
//! A call is decoded into [`params::Params`] whatever its encoding, the token is resolved to a bot,
//! and the method (matched case-insensitively) runs in [`methods`]. Every answer is Telegram's
//! envelope; every failure is a Telegram error ([`error::BotError`]), never a bare 500.

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

pub mod convert;
pub mod error;
pub mod flood;
mod methods;
pub mod params;
pub mod webhook;

use error::BotError;
use params::Params;

/// Largest Bot API request: multipart uploads of documents reach 50 MB on Telegram.
pub const MAX_BOT_BODY: usize = 50 * 1024 * 1024;

/// The Bot API's routes but its calls: `/file/bot<token>/<file_path>`.
///
/// The calls themselves, `/bot<token>/<method>` and `/bot<token>/test/<method>`, are the HTTP
/// application's fallback ([`fallback`]): they would match routes `/{token}/{method}`, and a route
/// costs every call the router's work for its two parameters (percent-decoding, naming and storing
/// them) and one boxed layer per `Router::layer`. Measured with callgrind (`bench/instructions
/// bot`), that was about 5 % of a `sendMessage`.
pub fn router() -> Router<AppState> {
    Router::new().route("/file/{token}/{*path}", get(download))
}

/// What the router did not match: a Bot API call, a mini app's or an invoice's link
/// (`/<bot_username>/<short_name>`, `/invoice/<slug>`), or the API's 404.
pub async fn fallback(State(state): State<AppState>, req: Request) -> Response {
    call(state, req).await
}

/// A Bot API call's path (`/bot<token>/<method>`, `/bot<token>/test/<method>`), which no route of
/// the router matches, read once: [`crate::App`] takes it straight to [`call_parsed`].
pub struct Call {
    /// The route it is counted under ([`metrics_route`]).
    pub route: &'static str,
    /// Its two segments, percent-decoded; `None` when they are not UTF-8 (a 404).
    segments: Option<(String, String)>,
}

/// The Bot API call a path names, if it names one.
pub fn parse_call(path: &str) -> Option<Call> {
    let (first, method, test) = call_segments(path).filter(|(first, _, _)| first.starts_with("bot"))?;
    Some(Call { route: route_label(test), segments: decode_segments(first, method) })
}

/// Answers a call [`parse_call`] read.
pub async fn call_parsed(state: AppState, call: Call, req: Request) -> Response {
    let Some((token, method)) = call.segments else {
        return crate::error::ApiError::not_found().into_response();
    };
    dispatch(state, token, method, req).await
}

/// What [`fallback`] does: a Bot API call, an app's or invoice's link, or the API's 404.
pub async fn call(state: AppState, req: Request) -> Response {
    let Some((token, method)) =
        call_segments(req.uri().path()).and_then(|(first, method, _)| decode_segments(first, method))
    else {
        return crate::error::ApiError::not_found().into_response();
    };
    dispatch(state, token, method, req).await
}

/// A call's two segments, percent-decoded.
fn decode_segments(first: &str, method: &str) -> Option<(String, String)> {
    let decode = |s: &str| match s.contains('%') {
        false => Some(s.to_owned()),
        true => percent_encoding::percent_decode_str(s).decode_utf8().ok().map(|c| c.into_owned()),
    };
    Some((decode(first)?, decode(method)?))
}

/// The route a Bot API call is counted under in the metrics (see [`fallback`]).
pub fn metrics_route(path: &str) -> Option<&'static str> {
    let (_, _, test) = call_segments(path)?;
    Some(route_label(test))
}

fn route_label(test: bool) -> &'static str {
    if test { "/{token}/test/{method}" } else { "/{token}/{method}" }
}

/// `/<first>/<method>` or `/<first>/test/<method>`, neither segment empty: the first segment, the
/// method and whether it was the test environment's path.
fn call_segments(path: &str) -> Option<(&str, &str, bool)> {
    let mut parts = path.strip_prefix('/')?.split('/');
    let (first, second, third, rest) = (parts.next()?, parts.next()?, parts.next(), parts.next());
    let (method, test) = match (third, rest) {
        (None, None) => (second, false),
        (Some(method), None) if second == "test" => (method, true),
        _ => return None,
    };
    (!first.is_empty() && !method.is_empty()).then_some((first, method, test))
}

async fn dispatch(state: AppState, token: String, method: String, req: Request) -> Response {
    // `/<bot_username>/<short_name>` opened in a browser is a mini app's link for the web client,
    // and `/invoice/<slug>` an invoice's. A token always holds a ':', and no bot library asks for
    // HTML, so the two never meet.
    if is_app_link(&token, &method, &req) {
        return crate::web::index(req.headers().clone()).await;
    }
    let Some(token) = token.strip_prefix("bot") else {
        return crate::error::ApiError::not_found().into_response();
    };
    match run(&state, token, &method, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

fn is_app_link(first: &str, second: &str, req: &Request) -> bool {
    let html = req
        .headers()
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    html && req.method() == axum::http::Method::GET
        && !first.contains(':')
        && ((first == "invoice" && crate::web::is_invoice_slug(second))
            || (plaza_core::Username::parse(first).is_ok() && plaza_core::webapp::ShortName::parse(second).is_ok()))
}

/// `/file/bot<token>/<file_path>`: a file's bytes, for a bot that knows its path (from `getFile`).
async fn download(State(state): State<AppState>, Path((token, path)): Path<(String, String)>) -> Response {
    let Some(token) = token.strip_prefix("bot") else {
        return BotError::not_found(None).into_response();
    };
    let bot = match state.service.bot_by_token(token).await {
        Ok(bot) => bot,
        Err(_) => return BotError::unauthorized().into_response(),
    };
    let Some(file_id) = plaza_core::file::FileInfo::id_from_path(&path) else {
        return BotError::not_found(None).into_response();
    };
    match state.service.file_bytes(&bot, file_id).await {
        Ok(Some((info, bytes))) if info.file_path() == path => {
            let mime = info.mime_type.unwrap_or_else(|| "application/octet-stream".to_string());
            ([(axum::http::header::CONTENT_TYPE, mime)], bytes).into_response()
        }
        Ok(_) => BotError::not_found(None).into_response(),
        Err(e) => BotError::from(e).into_response(),
    }
}

async fn run(state: &AppState, token: &str, method: &str, req: Request) -> Result<Response, BotError> {
    if token.is_empty() || token.len() > 80 || !token.contains(':') {
        return Err(BotError::new(401, "Unauthorized: invalid token specified"));
    }
    let bot = state.service.bot_by_token(token).await.map_err(|e| match e {
        plaza_service::ServiceError::Internal(_) => BotError::from(e),
        _ => BotError::unauthorized(),
    })?;
    let params = Params::from_request(req, MAX_BOT_BODY).await?;
    methods::call(state, &bot, &method.to_ascii_lowercase(), params).await
}
