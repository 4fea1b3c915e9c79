//! The Bot API's error envelope, exactly as Telegram's: `{"ok":false,"error_code":N,"description":
//! "<Prefix>: <detail>"}` with the HTTP status equal to `error_code` (python-telegram-bot and aiogram
//! read the status, grammY the body), and `Retry-After` plus `parameters.retry_after` on 429.

use crate::extract::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plaza_core::Denied;
use plaza_service::ServiceError;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotError {
    pub code: u16,
    pub description: String,
    pub retry_after: Option<u64>,
}

impl BotError {
    pub fn new(code: u16, description: impl Into<String>) -> Self {
        BotError { code, description: description.into(), retry_after: None }
    }

    /// 400 `Bad Request: <detail>`.
    pub fn bad(detail: impl std::fmt::Display) -> Self {
        Self::new(400, format!("Bad Request: {detail}"))
    }

    pub fn missing(name: &str) -> Self {
        Self::bad(format!("parameter \"{name}\" is required"))
    }

    pub fn not_number(name: &str) -> Self {
        Self::bad(format!("field \"{name}\" must be a valid Number"))
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized")
    }

    pub fn forbidden(detail: impl std::fmt::Display) -> Self {
        Self::new(403, format!("Forbidden: {detail}"))
    }

    pub fn not_found(detail: Option<&str>) -> Self {
        match detail {
            Some(d) => Self::new(404, format!("Not Found: {d}")),
            None => Self::new(404, "Not Found"),
        }
    }

    pub fn conflict(detail: impl std::fmt::Display) -> Self {
        Self::new(409, format!("Conflict: {detail}"))
    }

    pub fn too_many_requests(retry_after: u64) -> Self {
        BotError {
            code: 429,
            description: format!("Too Many Requests: retry after {retry_after}"),
            retry_after: Some(retry_after),
        }
    }

    /// Replaces the description of a "not found" refusal with the one Telegram gives for the
    /// method at hand (e.g. "message to edit not found").
    pub fn message_not_found(self, detail: &str) -> Self {
        if self.description == "Bad Request: message not found" { Self::bad(detail) } else { self }
    }
}

/// Telegram's wording for each domain refusal.
pub fn denied(d: Denied) -> BotError {
    match d {
        Denied::ChatNotFound => BotError::bad("chat not found"),
        Denied::UserNotFound => BotError::bad("user not found"),
        Denied::MessageNotFound => BotError::bad("message not found"),
        Denied::NotModified => BotError::bad(
            "message is not modified: specified new message content and reply markup are exactly the same as a \
             current content and reply markup of the message",
        ),
        Denied::NotAuthor => BotError::bad("message can't be edited"),
        Denied::CannotDelete => BotError::bad("message can't be deleted"),
        Denied::QueryNotFound => BotError::bad("query is too old and response timeout expired or query ID is invalid"),
        Denied::ButtonNotFound => BotError::bad("BUTTON_DATA_INVALID"),
        Denied::NotMember => BotError::forbidden("bot is not a member of the group chat"),
        Denied::NotAdmin | Denied::NotCreator => BotError::bad("not enough rights"),
        Denied::CreatorIsFixed => BotError::bad("can't remove chat owner"),
        Denied::AlreadyMember => BotError::bad("USER_ALREADY_PARTICIPANT"),
        Denied::PeerIsSelf => BotError::bad("chat not found"),
        Denied::TooManyMembers => BotError::bad("USERS_TOO_MUCH"),
        Denied::NotAGroup => BotError::bad("method is available for supergroup and channel chats only"),
        Denied::UsernameTaken => BotError::bad("USERNAME_OCCUPIED"),
        Denied::Blocked => BotError::forbidden("bot was blocked by the user"),
        Denied::Banned => BotError::bad("USER_BANNED_IN_CHANNEL"),
        Denied::NotPrivate => BotError::bad("chat not found"),
        Denied::WebAppNotFound => BotError::bad("BOT_APP_INVALID"),
        Denied::AppVersionNotFound => BotError::bad("BOT_APP_INVALID"),
        Denied::StorageFull => BotError::bad("STORAGE_KEYS_TOO_MUCH"),
        Denied::InsufficientFunds => BotError::bad("BALANCE_TOO_LOW"),
        Denied::TransferKeyReused => BotError::bad("CHARGE_ID_INVALID"),
        Denied::InvoiceNotFound => BotError::bad("INVOICE_NOT_FOUND"),
        Denied::AlreadyPaid => BotError::bad("INVOICE_ALREADY_PAID"),
        Denied::AlreadySubscribed => BotError::bad("SUBSCRIPTION_ALREADY_ACTIVE"),
        Denied::PaymentNotFound => BotError::bad("CHARGE_NOT_FOUND"),
        Denied::AlreadyRefunded => BotError::bad("CHARGE_ALREADY_REFUNDED"),
        Denied::PaymentClosed => BotError::bad("query is too old and response timeout expired or query ID is invalid"),
        Denied::SubscriptionNotFound => BotError::bad("SUBSCRIPTION_NOT_FOUND"),
        Denied::PaymentKeyReused => BotError::bad("CHARGE_ID_INVALID"),
        Denied::NotSandbox => BotError::forbidden("not available outside a sandbox"),
        Denied::NoPoll => BotError::bad("message with poll to stop not found"),
        Denied::PollClosed => BotError::bad("poll has already been closed"),
        Denied::VoteIsFinal => BotError::bad("POLL_ANSWER_INVALID"),
        Denied::NulCharacter => BotError::bad("text must not contain a NUL character"),
    }
}

impl From<ServiceError> for BotError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(i) => BotError::bad(i.reason),
            ServiceError::Denied(d) => denied(d),
            ServiceError::Unauthorized(_) => BotError::unauthorized(),
            ServiceError::Conflict(m) => BotError::conflict(m),
            ServiceError::Internal(detail) => {
                tracing::error!(%detail, "internal error in a Bot API call");
                BotError::new(500, "Internal Server Error")
            }
        }
    }
}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    ok: bool,
    error_code: u16,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<ResponseParameters>,
}

#[derive(Serialize)]
struct ResponseParameters {
    retry_after: u64,
}

impl IntoResponse for BotError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::BAD_REQUEST);
        let body = ErrorEnvelope {
            ok: false,
            error_code: self.code,
            description: &self.description,
            parameters: self.retry_after.map(|retry_after| ResponseParameters { retry_after }),
        };
        let mut resp = (status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// `{"ok":true,"result":…}`, with a description where Telegram gives one.
pub fn ok<T: Serialize>(result: T) -> Response {
    ok_with(result, None)
}

pub fn ok_with<T: Serialize>(result: T, description: Option<&str>) -> Response {
    #[derive(Serialize)]
    struct Envelope<'a, T> {
        ok: bool,
        result: T,
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<&'a str>,
    }
    Json(Envelope { ok: true, result, description }).into_response()
}

pub type BotResult = Result<Response, BotError>;
