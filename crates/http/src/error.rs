//! The one place where failures become HTTP responses: `{"error":{status,code,message}}`.

use crate::extract::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plaza_core::Denied;
use plaza_protocol::{ErrorBody, ErrorDetail};
use plaza_service::ServiceError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// A failure of ours, whose detail has been logged and is not sent.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; it has been logged")
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }

    pub fn too_many_requests(retry_after: u64) -> Self {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "too_many_requests",
            message: format!("too many attempts; retry after {retry_after} s"),
            retry_after: Some(retry_after),
        }
    }
}

fn denied(d: Denied) -> (StatusCode, &'static str) {
    use StatusCode as S;
    match d {
        Denied::UserNotFound => (S::NOT_FOUND, "user_not_found"),
        Denied::ChatNotFound => (S::NOT_FOUND, "chat_not_found"),
        Denied::MessageNotFound => (S::NOT_FOUND, "message_not_found"),
        Denied::UsernameTaken => (S::CONFLICT, "username_taken"),
        Denied::AlreadyMember => (S::CONFLICT, "already_member"),
        Denied::NotMember => (S::FORBIDDEN, "not_member"),
        Denied::NotAdmin => (S::FORBIDDEN, "not_admin"),
        Denied::NotCreator => (S::FORBIDDEN, "not_creator"),
        Denied::NotAuthor => (S::FORBIDDEN, "not_author"),
        Denied::CannotDelete => (S::FORBIDDEN, "cannot_delete"),
        Denied::CreatorIsFixed => (S::FORBIDDEN, "creator_is_fixed"),
        Denied::PeerIsSelf => (S::BAD_REQUEST, "peer_is_self"),
        Denied::TooManyMembers => (S::BAD_REQUEST, "too_many_members"),
        Denied::NotModified => (S::BAD_REQUEST, "not_modified"),
        Denied::NotAGroup => (S::BAD_REQUEST, "not_a_group"),
        Denied::QueryNotFound => (S::NOT_FOUND, "query_not_found"),
        Denied::ButtonNotFound => (S::NOT_FOUND, "button_not_found"),
        Denied::Blocked => (S::FORBIDDEN, "blocked"),
        Denied::Banned => (S::FORBIDDEN, "banned"),
        Denied::NotPrivate => (S::BAD_REQUEST, "not_private"),
        Denied::NoPoll => (S::NOT_FOUND, "poll_not_found"),
        Denied::PollClosed => (S::BAD_REQUEST, "poll_closed"),
        Denied::VoteIsFinal => (S::BAD_REQUEST, "vote_is_final"),
        Denied::WebAppNotFound => (S::NOT_FOUND, "webapp_not_found"),
        Denied::AppVersionNotFound => (S::NOT_FOUND, "app_version_not_found"),
        Denied::StorageFull => (S::CONFLICT, "storage_full"),
        Denied::InsufficientFunds => (S::CONFLICT, "insufficient_funds"),
        Denied::TransferKeyReused => (S::CONFLICT, "transfer_key_reused"),
        Denied::InvoiceNotFound => (S::NOT_FOUND, "invoice_not_found"),
        Denied::AlreadyPaid => (S::CONFLICT, "already_paid"),
        Denied::AlreadySubscribed => (S::CONFLICT, "already_subscribed"),
        Denied::PaymentNotFound => (S::NOT_FOUND, "payment_not_found"),
        Denied::AlreadyRefunded => (S::CONFLICT, "already_refunded"),
        Denied::PaymentClosed => (S::CONFLICT, "payment_closed"),
        Denied::SubscriptionNotFound => (S::NOT_FOUND, "subscription_not_found"),
        Denied::PaymentKeyReused => (S::CONFLICT, "payment_key_reused"),
        Denied::NotSandbox => (S::FORBIDDEN, "not_sandbox"),
        Denied::NulCharacter => (S::BAD_REQUEST, "invalid_request"),
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(i) => ApiError::bad_request(i.to_string()),
            ServiceError::Denied(d) => {
                let (status, code) = denied(d);
                ApiError::new(status, code, d.to_string())
            }
            ServiceError::Unauthorized(m) => ApiError::unauthorized(m),
            ServiceError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            ServiceError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                ApiError::internal()
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        let code = match status {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            _ => "invalid_request",
        };
        // Unparseable and ill-typed bodies alike are 400, as everywhere else in the API.
        let status = match status {
            StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::PAYLOAD_TOO_LARGE => status,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, code, r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                status: self.status.as_u16(),
                code: self.code.to_string(),
                message: self.message,
                retry_after: self.retry_after,
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
