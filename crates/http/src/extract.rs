//! Extractors whose rejections speak the API's error format, and the bearer-token session.

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use plaza_core::User;

use crate::AppState;
use crate::error::ApiError;

/// `axum::Json` with rejections as API errors, refusing a NUL character in any string: PostgreSQL's
/// text cannot hold one, and one store must not keep what the other refuses.
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    /// `axum::Json`'s steps (content type, body within the route's limit, parse), with the NUL
    /// check between reading and parsing.
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        use axum::extract::rejection::{JsonRejection, MissingJsonContentType};
        if !json_content_type(req.headers()) {
            return Err(JsonRejection::from(MissingJsonContentType::default()).into());
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(JsonRejection::from)?;
        if escapes_nul(&bytes) {
            return Err(ApiError::bad_request("strings must not contain a NUL character"));
        }
        Ok(ApiJson(axum::Json::<T>::from_bytes(&bytes)?.0))
    }
}

/// `application/json` or any `application/…+json`, as `axum::Json` accepts.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    // What clients send, without parsing it (which cost a sent message about 950 instructions).
    let (ty, rest) = value.split_at_checked(16).unwrap_or((value, ""));
    if ty.eq_ignore_ascii_case("application/json") && (rest.is_empty() || rest.eq_ignore_ascii_case("; charset=utf-8"))
    {
        return true;
    }
    let Ok(mime) = value.parse::<mime::Mime>() else {
        return false;
    };
    mime.type_() == "application" && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
}

/// Whether JSON text has a NUL in a string, which JSON can only write as the escape `\u0000` (a
/// raw control character is a syntax error). Outside strings valid JSON has no backslash, and
/// inside one each backslash starts an escape, so reading escapes in turn finds every one.
fn escapes_nul(json: &[u8]) -> bool {
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json[i + 1..].starts_with(b"u0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// `axum::extract::Path` with rejections as API errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `axum::extract::Query` with rejections as API errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// The signed-in user, from `Authorization: Bearer <token>`.
pub struct Session {
    pub user: std::sync::Arc<User>,
    pub token: String,
}

pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer <token>"))?;
        let user = state.service.authenticate(token).await?;
        Ok(Session { user, token: token.to_string() })
    }
}

/// A JSON response: `axum::Json`'s answer, serialised straight into a `Vec`. `axum::Json` writes
/// through a `BytesMut` writer, a bounds-checked copy per token: measured with callgrind, a sent
/// message's 161-byte answer cost 6,300 instructions that way.
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        // Most answers (a sent message, a chat) are a few hundred bytes: one allocation, not three.
        let mut body = Vec::with_capacity(512);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => {
                ([(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"))], body).into_response()
            }
            Err(e) => {
                tracing::error!(error = %e, "an answer did not serialise");
                ApiError::internal().into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{escapes_nul, json_content_type};

    #[test]
    fn json_content_types_as_axum_takes_them() {
        let with = |ct: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(axum::http::header::CONTENT_TYPE, ct.parse().unwrap());
            json_content_type(&h)
        };
        assert!(with("application/json"));
        assert!(with("application/json; charset=utf-8"));
        assert!(with("Application/JSON; Charset=UTF-8"));
        assert!(with("application/json;charset=utf-8"));
        assert!(with("application/vnd.api+json"));
        assert!(!with("application/jsonp"));
        assert!(!with("application/json-seq"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!json_content_type(&axum::http::HeaderMap::new()));
    }

    #[test]
    fn finds_escaped_nuls_only() {
        assert!(escapes_nul(br#"{"title":"a\u0000b"}"#));
        assert!(escapes_nul(br#"{"a":["x","\\\u0000"]}"#));
        // An escaped backslash followed by the text u0000 is no NUL.
        assert!(!escapes_nul(br#"{"title":"a\\u0000b"}"#));
        assert!(!escapes_nul(br#"{"title":"\u0001 \n \"u0000\""}"#));
        assert!(!escapes_nul(br#"{"u0000":"\\"}"#));
        assert!(!escapes_nul(b"\\"));
    }
}
