//! Handlers of the client API under `/api/v1`: accounts, chats, members, messages, updates.

use std::net::SocketAddr;

use crate::extract::Json;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use plaza_core::file::{FileKind, Media};
use plaza_core::{ChatId, HistoryPage, MessageId, NewMessage, UserId, formatting};
use plaza_protocol::{
    AddMembersRequest, AuthResponse, BanRequest, BlockRequest, BlockedOut, BotCommandOut, BotInfoOut,
    CallbackAnswerOut, CallbackRequest, ChatActionRequest, ChatListItem, ChatOut, CreateGroupRequest,
    DeleteMessagesRequest, EditMessageRequest, ErrorBody, LaunchWebAppRequest, LaunchWebAppResponse, LoginRequest,
    MarkReadRequest, MemberOut, MemberRef, MenuButtonOut, MessageOut, Ok, OpenPrivateRequest, PollOut, ProfilePatch,
    ReactionsRequest, SendMessageRequest, ServerFrame, SetRoleRequest, SetTitleRequest, SignupRequest, StartBotRequest,
    StartBotResponse, UserOut, VoteRequest, WebAppDataRequest, WebappPublicKey,
};
use plaza_service::files::Upload;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::convert::{
    Senders, callback_answer_out, chat_out, entities_in, me_out, member_out, poll_out, reactions_out, user_out,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Session};
use crate::ws::frames;

fn check_rate(state: &AppState, peer: SocketAddr) -> ApiResult<()> {
    state.auth_limiter.check(peer.ip()).map_err(ApiError::too_many_requests)
}

/// Create an account and a session.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 200, body = AuthResponse), (status = 400, body = ErrorBody), (status = 409, description = "username taken", body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn signup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<SignupRequest>,
) -> ApiResult<Json<AuthResponse>> {
    check_rate(&state, peer)?;
    let (token, user) =
        state.service.signup(&req.username, &req.password, &req.display_name, req.language_code.as_deref()).await?;
    Ok(Json(AuthResponse { token, user: me_out(&user) }))
}

/// Log in with username and password; returns a new session.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<AuthResponse>> {
    check_rate(&state, peer)?;
    let (token, user) = state.service.login(&req.username, &req.password).await?;
    Ok(Json(AuthResponse { token, user: me_out(&user) }))
}

/// End this session; its token stops working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Ok), (status = 401, body = ErrorBody)))]
pub async fn logout(State(state): State<AppState>, session: Session) -> ApiResult<Json<Ok>> {
    state.service.logout(&session.token).await?;
    Ok(Json(Ok { ok: true }))
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserOut), (status = 401, body = ErrorBody)))]
pub async fn me(session: Session) -> Json<UserOut> {
    Json(me_out(&session.user))
}

/// Change display name, language or phone number.
#[utoipa::path(patch, path = "/api/v1/me", tag = "auth", security(("bearer" = [])), request_body = ProfilePatch,
    responses((status = 200, body = UserOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn update_me(
    State(state): State<AppState>,
    session: Session,
    ApiJson(p): ApiJson<ProfilePatch>,
) -> ApiResult<Json<UserOut>> {
    let user = state
        .service
        .update_profile(
            session.user.id,
            p.display_name.as_deref(),
            p.language_code.as_ref().map(|o| o.as_deref()),
            p.phone_number.as_ref().map(|o| o.as_deref()),
        )
        .await?;
    Ok(Json(me_out(&user)))
}

/// Look up a user or bot by username.
#[utoipa::path(get, path = "/api/v1/users/{username}", tag = "users", security(("bearer" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = UserOut), (status = 404, body = ErrorBody)))]
pub async fn user_by_username(
    State(state): State<AppState>,
    _session: Session,
    ApiPath(username): ApiPath<String>,
) -> ApiResult<Json<UserOut>> {
    Ok(Json(user_out(&state.service.user_by_username(&username).await?)))
}

/// The caller's chats, most recent first, each with its last message and unread count.
///
/// The `Plaza-Cursor` header is the caller's update-log cursor read before the list: the list
/// reflects at least everything up to it, so a WebSocket opened with `?cursor=<it>` misses nothing
/// (and may repeat a little the list already shows). A client can thus load the list and open the
/// stream in either order.
#[utoipa::path(get, path = "/api/v1/chats", tag = "chats", security(("bearer" = [])),
    responses((status = 200, body = Vec<ChatListItem>,
               headers(("Plaza-Cursor" = u64, description = "the update-log cursor the list is at least as new as"))),
              (status = 401, body = ErrorBody)))]
pub async fn list_chats(
    State(state): State<AppState>,
    session: Session,
) -> ApiResult<([(&'static str, String); 1], Json<Vec<ChatListItem>>)> {
    let cursor = state.service.current_cursor(session.user.id).await?;
    let summaries = state.service.chats(session.user.id).await?;
    let mut senders = Senders::default();
    let mut out = Vec::with_capacity(summaries.len());
    for s in summaries {
        let last_message = match &s.last_message {
            Some(m) => Some(senders.message_out(&state.service, s.chat.id, m).await?),
            None => None,
        };
        out.push(ChatListItem { chat: chat_out(&s.chat), last_message, unread_count: s.unread_count });
    }
    Ok(([(CURSOR_HEADER, cursor.to_string())], Json(out)))
}

/// The response header of `GET /api/v1/chats` with the cursor the list is at.
pub const CURSOR_HEADER: &str = "plaza-cursor";

/// The private chat with a user or bot, created on first use.
#[utoipa::path(post, path = "/api/v1/chats/private", tag = "chats", security(("bearer" = [])), request_body = OpenPrivateRequest,
    responses((status = 200, body = ChatOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn open_private(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<OpenPrivateRequest>,
) -> ApiResult<Json<ChatOut>> {
    Ok(Json(chat_out(&state.service.open_private_chat(session.user.id, &req.username).await?)))
}

async fn resolve_members(state: &AppState, refs: Vec<MemberRef>) -> ApiResult<Vec<UserId>> {
    let mut ids = Vec::with_capacity(refs.len());
    for r in refs {
        ids.push(match r {
            MemberRef::Id(id) => state.service.user(UserId(id)).await?.id,
            MemberRef::Username(name) => state.service.user_by_username(&name).await?.id,
        });
    }
    Ok(ids)
}

/// Create a group with the caller as creator.
#[utoipa::path(post, path = "/api/v1/chats/group", tag = "chats", security(("bearer" = [])), request_body = CreateGroupRequest,
    responses((status = 200, body = ChatOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_group(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<CreateGroupRequest>,
) -> ApiResult<Json<ChatOut>> {
    if req.members.len() > plaza_core::MAX_GROUP_MEMBERS {
        return Err(ApiError::bad_request("too many members"));
    }
    let members = resolve_members(&state, req.members).await?;
    Ok(Json(chat_out(&state.service.create_group(session.user.id, &req.title, members).await?)))
}

/// One chat as the caller sees it.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}", tag = "chats", security(("bearer" = [])),
    params(("chat_id" = i64, Path)), responses((status = 200, body = ChatOut), (status = 404, body = ErrorBody)))]
pub async fn get_chat(
    State(state): State<AppState>,
    session: Session,
    ApiPath(chat_id): ApiPath<i64>,
) -> ApiResult<Json<ChatOut>> {
    Ok(Json(chat_out(&state.service.chat(session.user.id, ChatId(chat_id)).await?)))
}

/// Rename a group (creator and administrators).
#[utoipa::path(patch, path = "/api/v1/chats/{chat_id}", tag = "chats", security(("bearer" = [])),
    params(("chat_id" = i64, Path)), request_body = SetTitleRequest,
    responses((status = 200, body = ChatOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_title(
    State(state): State<AppState>,
    session: Session,
    ApiPath(chat_id): ApiPath<i64>,
    ApiJson(req): ApiJson<SetTitleRequest>,
) -> ApiResult<Json<ChatOut>> {
    Ok(Json(chat_out(&state.service.set_title(session.user.id, ChatId(chat_id), &req.title).await?)))
}

/// Members of a chat.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/members", tag = "chats", security(("bearer" = [])),
    params(("chat_id" = i64, Path)), responses((status = 200, body = Vec<MemberOut>), (status = 404, body = ErrorBody)))]
pub async fn list_members(
    State(state): State<AppState>,
    session: Session,
    ApiPath(chat_id): ApiPath<i64>,
) -> ApiResult<Json<Vec<MemberOut>>> {
    let members = state.service.members(session.user.id, ChatId(chat_id)).await?;
    Ok(Json(members.iter().map(member_out).collect()))
}

/// Add members to a group (creator and administrators).
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/members", tag = "chats", security(("bearer" = [])),
    params(("chat_id" = i64, Path)), request_body = AddMembersRequest,
    responses((status = 200, body = ChatOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_members(
    State(state): State<AppState>,
    session: Session,
    ApiPath(chat_id): ApiPath<i64>,
    ApiJson(req): ApiJson<AddMembersRequest>,
) -> ApiResult<Json<ChatOut>> {
    if req.members.len() > plaza_core::MAX_GROUP_MEMBERS {
        return Err(ApiError::bad_request("too many members"));
    }
    let members = resolve_members(&state, req.members).await?;
    Ok(Json(chat_out(&state.service.add_members(session.user.id, ChatId(chat_id), members).await?)))
}

/// Remove a member from a group, or leave it (your own user id).
#[utoipa::path(delete, path = "/api/v1/chats/{chat_id}/members/{user_id}", tag = "chats", security(("bearer" = [])),
    params(("chat_id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 200, body = ChatOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    session: Session,
    ApiPath((chat_id, user_id)): ApiPath<(i64, i64)>,
) -> ApiResult<Json<ChatOut>> {
    let chat = state.service.remove_member(session.user.id, ChatId(chat_id), UserId(user_id)).await?;
    Ok(Json(chat_out(&chat)))
}

/// Make a member an administrator or back (the creator only).
#[utoipa::path(put, path = "/api/v1/chats/{chat_id}/members/{user_id}/role", tag = "chats", security(("bearer" = [])),
    params(("chat_id" = i64, Path), ("user_id" = i64, Path)), request_body = SetRoleRequest,
    responses((status = 200, body = ChatOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_role(
    State(state): State<AppState>,
    session: Session,
    ApiPath((chat_id, user_id)): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<SetRoleRequest>,
) -> ApiResult<Json<ChatOut>> {
    let chat = state.service.set_role(session.user.id, ChatId(chat_id), UserId(user_id), &req.role).await?;
    Ok(Json(chat_out(&chat)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Messages with ids below this one (newest page when neither is given).
    pub before: Option<i64>,
    /// Messages with ids above this one.
    pub after: Option<i64>,
    /// 1–100, default 50.
    pub limit: Option<u32>,
}

/// A page of history, in ascending message id order.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/messages", tag = "messages", security(("bearer" = [])),
    params(("chat_id" = i64, Path), HistoryQuery),
    responses((status = 200, body = Vec<MessageOut>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    session: Session,
    ApiPath(chat_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<Vec<MessageOut>>> {
    let page = HistoryPage::new(q.before, q.after, q.limit).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let chat_id = ChatId(chat_id);
    let messages = state.service.history(session.user.id, chat_id, page).await?;
    let mut senders = Senders::knowing(&session.user);
    let mut out = Vec::with_capacity(messages.len());
    for m in &messages {
        out.push(senders.message_out(&state.service, chat_id, m).await?);
    }
    let ids = messages.iter().map(|m| m.id).collect();
    let mut reactions = state.service.reactions(session.user.id, chat_id, ids).await?;
    for m in &mut out {
        if let Some(r) = reactions.remove(&MessageId(m.message_id)) {
            m.reactions = reactions_out(&r);
        }
    }
    Ok(Json(out))
}

/// Send a text message; answered once it is durably stored.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/messages", tag = "messages", security(("bearer" = [])),
    params(("chat_id" = i64, Path)), request_body = SendMessageRequest,
    responses((status = 200, body = MessageOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn send_message(
    State(state): State<AppState>,
    session: Session,
    ApiPath(chat_id): ApiPath<i64>,
    ApiJson(req): ApiJson<SendMessageRequest>,
) -> ApiResult<Json<MessageOut>> {
    send(&state, &session, chat_id, req).await
}

/// The route [`send_message`] is counted under, which [`crate::App`] takes past the router.
pub(crate) const SEND_MESSAGE_ROUTE: &str = "/api/v1/chats/{chat_id}/messages";

/// The chat of a path that [`send_message`]'s route matches with a chat id that needs no decoding
/// (`/api/v1/chats/<i64>/messages`); other paths are left to the router.
pub(crate) fn send_message_chat(path: &str) -> Option<i64> {
    let chat = path.strip_prefix("/api/v1/chats/")?.strip_suffix("/messages")?;
    chat.parse().ok()
}

/// [`send_message`] for a request [`crate::App`] takes past the router: the same extractors in the
/// same order (the session, then the body), the chat id read by [`send_message_chat`].
pub(crate) async fn send_message_unrouted(state: AppState, req: axum::extract::Request, chat_id: i64) -> Response {
    use axum::extract::{FromRequest, FromRequestParts};
    let (mut parts, body) = req.into_parts();
    let session = match Session::from_request_parts(&mut parts, &state).await {
        Ok(session) => session,
        Err(e) => return e.into_response(),
    };
    let req = axum::extract::Request::from_parts(parts, body);
    match ApiJson::<SendMessageRequest>::from_request(req, &state).await {
        Ok(ApiJson(req)) => send(&state, &session, chat_id, req).await.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn send(
    state: &AppState,
    session: &Session,
    chat_id: i64,
    req: SendMessageRequest,
) -> ApiResult<Json<MessageOut>> {
    let entities = entities_in(req.entities).map_err(|e| ApiError::bad_request(e.to_string()))?;
    // Commands, mentions and links are marked as Telegram's server marks them, so bots see them.
    let entities = formatting::merge_detected(&req.text, entities);
    let message = NewMessage::new(&req.text, entities, req.reply_to_message_id)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let chat_id = ChatId(chat_id);
    let m = state.service.send_message(session.user.id, chat_id, message).await?;
    state.metrics.messages_sent.inc();
    let mut senders = Senders::knowing(&session.user);
    Ok(Json(senders.message_out(&state.service, chat_id, &m).await?))
}

/// Edit one of your messages.
#[utoipa::path(patch, path = "/api/v1/chats/{chat_id}/messages/{message_id}", tag = "messages", security(("bearer" = [])),
    params(("chat_id" = i64, Path), ("message_id" = i64, Path)), request_body = EditMessageRequest,
    responses((status = 200, body = MessageOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn edit_message(
    State(state): State<AppState>,
    session: Session,
    ApiPath((chat_id, message_id)): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<EditMessageRequest>,
) -> ApiResult<Json<MessageOut>> {
    let entities = entities_in(req.entities).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let chat_id = ChatId(chat_id);
    let m = state.service.edit_message(session.user.id, chat_id, MessageId(message_id), &req.text, entities).await?;
    let mut senders = Senders::knowing(&session.user);
    Ok(Json(senders.message_out(&state.service, chat_id, &m).await?))
}

/// Delete one message for everyone.
#[utoipa::path(delete, path = "/api/v1/chats/{chat_id}/messages/{message_id}", tag = "messages", security(("bearer" = [])),
    params(("chat_id" = i64, Path), ("message_id" = i64, Path)),
    responses((status = 200, body = Ok), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_message(
    State(state): State<AppState>,
    session: Session,
    ApiPath((chat_id, message_id)): ApiPath<(i64, i64)>,
) -> ApiResult<Json<Ok>> {
    state.service.delete_messages(session.user.id, ChatId(chat_id), vec![message_id]).await?;
    Ok(Json(Ok { ok: true }))
}

/// Delete up to 100 messages for everyone: all of them or, on any error, none.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/messages/delete", tag = "messages", security(("bearer" = [])),
    params(("chat_id" = i64, Path)), request_body = DeleteMessagesRequest,
    responses((status = 200, body = Ok), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_messages(
    State(state): State<AppState>,
    session: Session,
    ApiPath(chat_id): ApiPath<i64>,
    ApiJson(req): ApiJson<DeleteMessagesRequest>,
) -> ApiResult<Json<Ok>> {
    state.service.delete_messages(session.user.id, ChatId(chat_id), req.message_ids).await?;
    Ok(Json(Ok { ok: true }))
}

/// Mark messages up to `max_id` read.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/read", tag = "messages", security(("bearer" = [])),
    params(("chat_id" = i64, Path)), request_body = MarkReadRequest,
    responses((status = 200, body = ChatOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn mark_read(
    State(state): State<AppState>,
    session: Session,
    ApiPath(chat_id): ApiPath<i64>,
    ApiJson(req): ApiJson<MarkReadRequest>,
) -> ApiResult<Json<ChatOut>> {
    Ok(Json(chat_out(&state.service.mark_read(session.user.id, ChatId(chat_id), req.max_id).await?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UpdatesQuery {
    /// The cursor of the last update seen; 0 for the whole log.
    pub cursor: u64,
    /// 1–1000, default 100.
    pub limit: Option<u32>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct UpdatesPage {
    pub updates: Vec<ServerFrame>,
    /// Pass this as `cursor` next time.
    pub next_cursor: u64,
}

/// The caller's update log after a cursor: the same frames the WebSocket pushes, for clients that poll.
#[utoipa::path(get, path = "/api/v1/updates", tag = "updates", security(("bearer" = [])), params(UpdatesQuery),
    responses((status = 200, body = UpdatesPage), (status = 400, body = ErrorBody)))]
pub async fn updates(
    State(state): State<AppState>,
    session: Session,
    ApiQuery(q): ApiQuery<UpdatesQuery>,
) -> ApiResult<Json<UpdatesPage>> {
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > plaza_store::MAX_EVENTS_PAGE {
        return Err(ApiError::bad_request(format!("limit must be between 1 and {}", plaza_store::MAX_EVENTS_PAGE)));
    }
    let page = state.service.events_after(session.user.id, q.cursor, limit).await?;
    let updates = frames(&state, session.user.id, page.events).await?;
    Ok(Json(UpdatesPage { updates, next_cursor: page.next_cursor }))
}

/// Press an inline button with callback data under a bot's message. Waits (up to 15 s) for the
/// bot's `answerCallbackQuery`; `answered: false` means it did not answer in time.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/messages/{message_id}/callback", tag = "bots", security(("bearer" = [])),
    params(("chat_id" = i64, Path), ("message_id" = i64, Path)), request_body = CallbackRequest,
    responses((status = 200, body = CallbackAnswerOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn press_button(
    State(state): State<AppState>,
    session: Session,
    ApiPath((chat_id, message_id)): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<CallbackRequest>,
) -> ApiResult<Json<CallbackAnswerOut>> {
    let chat_id = ChatId(chat_id);
    let q = state.service.press_button(session.user.id, chat_id, MessageId(message_id), &req.data).await?;
    Ok(Json(callback_answer_out(chat_id, &q)))
}

/// Start a bot: opens the private chat with it and sends `/start`, or `/start <payload>` for a
/// deep link `/<bot_username>?start=<payload>`.
#[utoipa::path(post, path = "/api/v1/bots/{username}/start", tag = "bots", security(("bearer" = [])),
    params(("username" = String, Path)), request_body = StartBotRequest,
    responses((status = 200, body = StartBotResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn start_bot(
    State(state): State<AppState>,
    session: Session,
    ApiPath(username): ApiPath<String>,
    ApiJson(req): ApiJson<StartBotRequest>,
) -> ApiResult<Json<StartBotResponse>> {
    let (chat, message) = state.service.start_bot(session.user.id, &username, req.payload.as_deref()).await?;
    let mut senders = Senders::knowing(&session.user);
    let message = senders.message_out(&state.service, chat.id, &message).await?;
    Ok(Json(StartBotResponse { chat: chat_out(&chat), message }))
}

/// The parts of `POST /api/v1/chats/{chat_id}/files` (multipart/form-data).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file, with its file name.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
    /// `photo` (an image shown inline, up to 10 MB) or `document` (any file, up to 50 MB); default `document`.
    kind: Option<String>,
    /// Up to 1024 characters.
    caption: Option<String>,
    reply_to_message_id: Option<i64>,
}

/// Send a photo or document with an optional caption; answered once it is durably stored.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/files", tag = "messages", security(("bearer" = [])),
    params(("chat_id" = i64, Path)), request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 200, body = MessageOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn send_file(
    State(state): State<AppState>,
    session: Session,
    ApiPath(chat_id): ApiPath<i64>,
    mut form: axum::extract::Multipart,
) -> ApiResult<Json<MessageOut>> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(e.status(), "payload_too_large", "the file is too large")
        } else {
            ApiError::bad_request(format!("can't read the form: {}", e.body_text()))
        }
    };
    let (mut upload, mut kind, mut caption, mut reply_to) = (None, FileKind::Document, String::new(), None);
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name().unwrap_or_default() {
            "file" => {
                let file_name = field.file_name().map(str::to_string);
                let content_type = field.content_type().map(str::to_string);
                if [&file_name, &content_type].into_iter().flatten().any(|s| s.contains('\0')) {
                    return Err(ApiError::bad_request("file: its name and type must not contain a NUL character"));
                }
                let bytes = field.bytes().await.map_err(bad)?.to_vec();
                upload = Some(Upload { bytes, file_name, content_type });
            }
            "kind" => {
                kind = FileKind::parse(&field.text().await.map_err(bad)?)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?
            }
            "caption" => caption = field.text().await.map_err(bad)?,
            "reply_to_message_id" => {
                let t = field.text().await.map_err(bad)?;
                reply_to = Some(
                    t.trim()
                        .parse::<i64>()
                        .map_err(|_| ApiError::bad_request("reply_to_message_id: must be a number"))?,
                );
            }
            other => return Err(ApiError::bad_request(format!("unknown form field {other:?}"))),
        }
    }
    let upload = upload.ok_or_else(|| ApiError::bad_request("file: the form has no file"))?;
    let info = state.service.upload_file(session.user.id, kind, upload).await?;
    let media = match kind {
        FileKind::Photo => Media::Photo(info),
        FileKind::Document => Media::Document(info),
    };
    let entities = formatting::merge_detected(&caption, Vec::new());
    let message =
        NewMessage::with_file(media, &caption, entities, reply_to).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let chat_id = ChatId(chat_id);
    let m = state.service.send_message(session.user.id, chat_id, message).await?;
    state.metrics.messages_sent.inc();
    let mut senders = Senders::knowing(&session.user);
    Ok(Json(senders.message_out(&state.service, chat_id, &m).await?))
}

/// Download a file attached to a message.
#[utoipa::path(get, path = "/api/v1/files/{file_id}", tag = "messages", security(("bearer" = [])),
    params(("file_id" = String, Path)),
    responses((status = 200, description = "the file's bytes, with its content type"), (status = 404, body = ErrorBody)))]
pub async fn download_file(
    State(state): State<AppState>,
    session: Session,
    ApiPath(file_id): ApiPath<String>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let (info, bytes) = state
        .service
        .file_bytes(&session.user, &file_id)
        .await?
        .ok_or_else(|| ApiError::new(axum::http::StatusCode::NOT_FOUND, "file_not_found", "no such file"))?;
    let mime = info.mime_type.clone().unwrap_or_else(|| "application/octet-stream".to_string());
    let disposition = match (&info.file_name, info.kind) {
        (Some(name), FileKind::Document) => format!("attachment; filename*=UTF-8''{}", percent_encode(name)),
        _ => "inline".to_string(),
    };
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, mime),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
            (axum::http::header::CACHE_CONTROL, "private, max-age=31536000, immutable".to_string()),
        ],
        bytes,
    )
        .into_response())
}

/// RFC 5987 encoding for a file name in `Content-Disposition`.
fn percent_encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Tell the chat what you are doing (`typing` …); the others see it for a few seconds.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/action", tag = "messages", security(("bearer" = [])),
    params(("chat_id" = i64, Path)), request_body = ChatActionRequest,
    responses((status = 200, body = Ok), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn chat_action(
    State(state): State<AppState>,
    session: Session,
    ApiPath(chat_id): ApiPath<i64>,
    ApiJson(req): ApiJson<ChatActionRequest>,
) -> ApiResult<Json<Ok>> {
    state.service.send_chat_action(session.user.id, ChatId(chat_id), &req.action).await?;
    Ok(Json(Ok { ok: true }))
}

/// Block or unblock the other side of a private chat (`chat_id` is their user id). A blocked bot
/// can't message you and is told so; unblocking lets it again.
#[utoipa::path(put, path = "/api/v1/chats/{chat_id}/blocked", tag = "chats", security(("bearer" = [])),
    params(("chat_id" = i64, Path)), request_body = BlockRequest,
    responses((status = 200, body = BlockedOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_blocked(
    State(state): State<AppState>,
    session: Session,
    ApiPath(chat_id): ApiPath<i64>,
    ApiJson(req): ApiJson<BlockRequest>,
) -> ApiResult<Json<BlockedOut>> {
    if chat_id <= 0 {
        return Err(ApiError::from(plaza_service::ServiceError::Denied(plaza_core::Denied::NotPrivate)));
    }
    state.service.set_blocked(session.user.id, UserId(chat_id), req.blocked).await?;
    Ok(Json(BlockedOut { blocked: req.blocked }))
}

/// Whether you have blocked the other side of a private chat.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/blocked", tag = "chats", security(("bearer" = [])),
    params(("chat_id" = i64, Path)),
    responses((status = 200, body = BlockedOut), (status = 404, body = ErrorBody)))]
pub async fn get_blocked(
    State(state): State<AppState>,
    session: Session,
    ApiPath(chat_id): ApiPath<i64>,
) -> ApiResult<Json<BlockedOut>> {
    if chat_id <= 0 {
        return Err(ApiError::from(plaza_service::ServiceError::Denied(plaza_core::Denied::NotPrivate)));
    }
    Ok(Json(BlockedOut { blocked: state.service.is_blocked(session.user.id, UserId(chat_id)).await? }))
}

/// Pin a message (in groups, admins only); everyone sees a pin notice.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/messages/{message_id}/pin", tag = "messages", security(("bearer" = [])),
    params(("chat_id" = i64, Path), ("message_id" = i64, Path)),
    responses((status = 200, body = MessageOut, description = "the pin notice"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn pin_message(
    State(state): State<AppState>,
    session: Session,
    ApiPath((chat_id, message_id)): ApiPath<(i64, i64)>,
) -> ApiResult<Json<MessageOut>> {
    let chat_id = ChatId(chat_id);
    let m = state.service.pin_message(session.user.id, chat_id, MessageId(message_id)).await?;
    let mut senders = Senders::knowing(&session.user);
    Ok(Json(senders.message_out(&state.service, chat_id, &m).await?))
}

/// Unpin a message.
#[utoipa::path(delete, path = "/api/v1/chats/{chat_id}/messages/{message_id}/pin", tag = "messages", security(("bearer" = [])),
    params(("chat_id" = i64, Path), ("message_id" = i64, Path)),
    responses((status = 200, body = Ok), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unpin_message(
    State(state): State<AppState>,
    session: Session,
    ApiPath((chat_id, message_id)): ApiPath<(i64, i64)>,
) -> ApiResult<Json<Ok>> {
    state.service.unpin_messages(session.user.id, ChatId(chat_id), Some(MessageId(message_id)), false).await?;
    Ok(Json(Ok { ok: true }))
}

/// The chat's newest pinned message, or `null`.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/pinned", tag = "messages", security(("bearer" = [])),
    params(("chat_id" = i64, Path)),
    responses((status = 200, body = Option<MessageOut>), (status = 404, body = ErrorBody)))]
pub async fn pinned_message(
    State(state): State<AppState>,
    session: Session,
    ApiPath(chat_id): ApiPath<i64>,
) -> ApiResult<Json<Option<MessageOut>>> {
    let chat_id = ChatId(chat_id);
    let Some(m) = state.service.pinned_message(session.user.id, chat_id).await? else { return Ok(Json(None)) };
    let mut senders = Senders::knowing(&session.user);
    Ok(Json(Some(senders.message_out(&state.service, chat_id, &m).await?)))
}

/// Ban a user from a group (admins only): they are removed and can't be added back until the ban
/// ends or is lifted.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/bans", tag = "chats", security(("bearer" = [])),
    params(("chat_id" = i64, Path)), request_body = BanRequest,
    responses((status = 200, body = Ok), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn ban(
    State(state): State<AppState>,
    session: Session,
    ApiPath(chat_id): ApiPath<i64>,
    ApiJson(req): ApiJson<BanRequest>,
) -> ApiResult<Json<Ok>> {
    state.service.ban(session.user.id, ChatId(chat_id), UserId(req.user_id), req.until).await?;
    Ok(Json(Ok { ok: true }))
}

/// Lift a ban.
#[utoipa::path(delete, path = "/api/v1/chats/{chat_id}/bans/{user_id}", tag = "chats", security(("bearer" = [])),
    params(("chat_id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 200, body = Ok), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unban(
    State(state): State<AppState>,
    session: Session,
    ApiPath((chat_id, user_id)): ApiPath<(i64, i64)>,
) -> ApiResult<Json<Ok>> {
    state.service.unban(session.user.id, ChatId(chat_id), UserId(user_id), true).await?;
    Ok(Json(Ok { ok: true }))
}

/// Vote in a message's poll; an empty choice takes the vote back (not in quizzes).
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/messages/{message_id}/vote", tag = "messages", security(("bearer" = [])),
    params(("chat_id" = i64, Path), ("message_id" = i64, Path)), request_body = VoteRequest,
    responses((status = 200, body = PollOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn vote(
    State(state): State<AppState>,
    session: Session,
    ApiPath((chat_id, message_id)): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<VoteRequest>,
) -> ApiResult<Json<PollOut>> {
    let poll = state.service.vote(session.user.id, ChatId(chat_id), MessageId(message_id), req.option_ids).await?;
    Ok(Json(poll_out(&poll)))
}

/// Set your reactions on a message (up to 3 of Telegram's standard set); an empty list removes them.
#[utoipa::path(put, path = "/api/v1/chats/{chat_id}/messages/{message_id}/reactions", tag = "messages", security(("bearer" = [])),
    params(("chat_id" = i64, Path), ("message_id" = i64, Path)), request_body = ReactionsRequest,
    responses((status = 200, body = Ok), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_reactions(
    State(state): State<AppState>,
    session: Session,
    ApiPath((chat_id, message_id)): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<ReactionsRequest>,
) -> ApiResult<Json<Ok>> {
    let max = plaza_core::poll::MAX_REACTIONS;
    state.service.set_reactions(session.user.id, ChatId(chat_id), MessageId(message_id), req.emojis, max).await?;
    Ok(Json(Ok { ok: true }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct BotInfoQuery {
    /// The chat to resolve commands for (a group the bot is in); the private chat by default.
    pub chat_id: Option<i64>,
}

/// A bot's profile, command menu and menu button as the caller sees them (in their language,
/// for the chat asked about).
#[utoipa::path(get, path = "/api/v1/bots/{username}", tag = "bots", security(("bearer" = [])),
    params(("username" = String, Path), BotInfoQuery),
    responses((status = 200, body = BotInfoOut), (status = 404, body = ErrorBody)))]
pub async fn bot_info(
    State(state): State<AppState>,
    session: Session,
    ApiPath(username): ApiPath<String>,
    ApiQuery(q): ApiQuery<BotInfoQuery>,
) -> ApiResult<Json<BotInfoOut>> {
    use plaza_core::bot::{BotText, MenuButton};
    let svc = &state.service;
    let bot = svc.user_by_username(&username).await?;
    if !bot.is_bot {
        return Err(ApiError::from(plaza_service::ServiceError::Denied(plaza_core::Denied::UserNotFound)));
    }
    let me = &session.user;
    let lang = me.language_code.as_ref().map(|l| l.as_str());
    let chat_id = ChatId(q.chat_id.unwrap_or(bot.id.0));
    let commands = match svc.chat(me.id, chat_id).await {
        Ok(chat) => svc.commands_for(bot.id, me, &chat).await?,
        // No chat with the bot yet: what a private chat would show.
        Err(_) => svc.commands(bot.id, plaza_core::bot::CommandScope::Default, lang).await?,
    };
    let menu_button = match svc.menu_button(bot.id, Some(me.id)).await? {
        MenuButton::WebApp { text, url } => MenuButtonOut::WebApp { text, url },
        MenuButton::Commands | MenuButton::Default => MenuButtonOut::Commands,
    };
    Ok(Json(BotInfoOut {
        user: user_out(&bot),
        name: svc.bot_text(&bot, BotText::Name, lang).await?,
        description: svc.bot_text(&bot, BotText::Description, lang).await?,
        short_description: svc.bot_text(&bot, BotText::ShortDescription, lang).await?,
        commands: commands
            .into_iter()
            .map(|c| BotCommandOut { command: c.command, description: c.description })
            .collect(),
        menu_button,
    }))
}

/// The Ed25519 public key that checks the `signature` of this instance's mini-app init data, so a
/// mini app's backend can check init data knowing only the bot's id (Telegram's third-party
/// validation, with this key in place of Telegram's). No session needed.
#[utoipa::path(get, path = "/api/v1/webapps/public_key", tag = "webapps",
    responses((status = 200, body = WebappPublicKey)))]
pub async fn webapp_public_key(State(state): State<AppState>) -> ApiResult<Json<WebappPublicKey>> {
    Ok(Json(WebappPublicKey { public_key: state.service.webapp_public_key().await?, algorithm: "ed25519".into() }))
}

/// Open a mini app: checks it may be opened from there (the message's `web_app` button, the bot's
/// menu button, or a registered app for a link), records the launch and signs its init data.
#[utoipa::path(post, path = "/api/v1/webapps/launch", tag = "webapps", security(("bearer" = [])),
    request_body = LaunchWebAppRequest,
    responses((status = 200, body = LaunchWebAppResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn launch_webapp(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<LaunchWebAppRequest>,
) -> ApiResult<Json<LaunchWebAppResponse>> {
    use plaza_service::webapps::{LaunchRequest, WEBAPP_PLATFORM, WEBAPP_VERSION};
    let source =
        plaza_core::webapp::LaunchSource::parse(&req.source).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let launched = state
        .service
        .launch_webapp(
            &session.user,
            LaunchRequest {
                bot: req.bot_username,
                source,
                chat: req.chat_id.map(ChatId),
                message: req.message_id.map(MessageId),
                url: req.url,
                short_name: req.short_name,
                start_param: req.start_param,
            },
        )
        .await?;
    Ok(Json(LaunchWebAppResponse {
        launch_url: launched.launch_url(),
        url: launched.url.clone(),
        init_data: launched.init_data.clone(),
        query_id: launched.query_id.clone(),
        launch_id: launched.launch_id.clone(),
        version: WEBAPP_VERSION.into(),
        platform: WEBAPP_PLATFORM.into(),
        bot: user_out(&launched.bot),
    }))
}

/// A mini app's `sendData`: only for an app the caller opened from a reply-keyboard button, once.
/// The bot receives a message with `web_app_data`; the chat shows that data was sent.
#[utoipa::path(post, path = "/api/v1/webapps/data", tag = "webapps", security(("bearer" = [])),
    request_body = WebAppDataRequest,
    responses((status = 200, body = MessageOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn send_webapp_data(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<WebAppDataRequest>,
) -> ApiResult<Json<MessageOut>> {
    let (chat_id, m) = state.service.send_webapp_data(session.user.id, &req.launch_id, &req.data).await?;
    let mut senders = Senders::knowing(&session.user);
    Ok(Json(senders.message_out(&state.service, chat_id, &m).await?))
}
