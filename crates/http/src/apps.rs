//! Mini apps over HTTP: the bot owner's API for registering, deploying and rolling back apps, the
//! custom-method relay (CloudStorage) the client's host calls for an open app, and the apps'
//! own origins, where Plaza serves each hosted app's live bundle and its `telegram-web-app.js`.

use crate::extract::Json;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plaza_core::User;
use plaza_core::webapp::WebApp;
use plaza_protocol::{
    AppOut, AppRequest, AppVersionOut, AppVersionsOut, CustomMethodRequest, CustomMethodResponse, ErrorBody, LaunchRef,
    MessageOut, Ok, PreparedMessageOut, PreparedQuery, RollbackRequest, SendPreparedRequest, ShareContactRequest,
};
use plaza_service::hosting::{Hosted, bundle_from_tar};
use plaza_store::AppVersion;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Session};

fn app_out(state: &AppState, bot: &User, app: &WebApp) -> AppOut {
    AppOut {
        short_name: app.short_name.as_str().to_string(),
        title: app.title.clone(),
        description: app.description.clone(),
        url: app.url.as_ref().map(|u| u.as_str().to_string()),
        opens_at: state.service.app_url(bot, app),
        main: app.main,
        live_version: app.live_version,
        link: format!("/{}/{}", bot.username.as_str(), app.short_name.as_str()),
    }
}

fn version_out(v: &AppVersion) -> AppVersionOut {
    AppVersionOut { version: v.version, created_at: v.created_at, files: v.files, bytes: v.bytes }
}

/// A mini app's custom method, for the person who opened it: CloudStorage (`saveStorageValue`,
/// `getStorageValues`, `deleteStorageValues`, `getStorageKeys`), kept per user and bot with
/// Telegram's limits. The answer is what the host passes on in `custom_method_invoked`.
#[utoipa::path(post, path = "/api/v1/webapps/invoke", tag = "webapps", security(("bearer" = [])),
    request_body = CustomMethodRequest,
    responses((status = 200, body = CustomMethodResponse), (status = 404, description = "no such launch of yours", body = ErrorBody)))]
pub async fn invoke_custom_method(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<CustomMethodRequest>,
) -> ApiResult<Json<CustomMethodResponse>> {
    let out = state.service.invoke_custom_method(session.user.id, &req.launch_id, &req.method, &req.params).await?;
    Ok(Json(match out {
        Ok(result) => CustomMethodResponse { result: Some(result), error: None },
        Err(error) => CustomMethodResponse { result: None, error: Some(error) },
    }))
}

/// A mini app's `requestWriteAccess`, granted by the caller: the bot may message them. The bot
/// gets a `write_access_allowed` message.
#[utoipa::path(post, path = "/api/v1/webapps/write_access", tag = "webapps", security(("bearer" = [])),
    request_body = LaunchRef,
    responses((status = 200, body = Ok), (status = 404, description = "no such launch of yours", body = ErrorBody)))]
pub async fn allow_write_access(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<LaunchRef>,
) -> ApiResult<Json<Ok>> {
    state.service.allow_bot_messages(&session.user, &req.launch_id).await?;
    Ok(Json(Ok { ok: true }))
}

/// A mini app's `requestContact`, granted by the caller: their phone number goes to the bot as a
/// contact message in their private chat (and the app can read it, signed, with the custom
/// method `getRequestedContact`).
#[utoipa::path(post, path = "/api/v1/webapps/contact", tag = "webapps", security(("bearer" = [])),
    request_body = ShareContactRequest,
    responses((status = 200, body = MessageOut), (status = 400, description = "no phone number", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn share_contact(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<ShareContactRequest>,
) -> ApiResult<Json<MessageOut>> {
    let (chat, m) = state.service.share_contact(&session.user, &req.launch_id, req.phone_number.as_deref()).await?;
    let mut senders = crate::convert::Senders::knowing(&session.user);
    Ok(Json(senders.message_out(&state.service, chat, &m).await?))
}

/// A prepared message the caller may share from the app they opened (its preview and where it
/// may go).
#[utoipa::path(get, path = "/api/v1/webapps/prepared_message/{id}", tag = "webapps", security(("bearer" = [])),
    params(("id" = String, Path), PreparedQuery),
    responses((status = 200, body = PreparedMessageOut), (status = 404, description = "no such message, or it expired", body = ErrorBody)))]
pub async fn prepared_message(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PreparedQuery>,
) -> ApiResult<Json<PreparedMessageOut>> {
    use plaza_store::PreparedMessage as P;
    let p = state.service.prepared_message_for(session.user.id, &q.launch_id, &id).await?;
    let bot = state.service.user(p.bot).await?;
    let kinds = [(P::USERS, "users"), (P::BOTS, "bots"), (P::GROUPS, "groups")];
    Ok(Json(PreparedMessageOut {
        id: p.id,
        bot: crate::convert::user_out(&bot),
        text: p.message.text.as_str().to_string(),
        media: p.message.media.as_ref().map(|m| m.file().kind.as_str().to_string()),
        chat_types: kinds.iter().filter(|(bit, _)| p.chat_types & bit != 0).map(|(_, n)| n.to_string()).collect(),
        expires_at: p.expires_at,
    }))
}

/// `shareMessage`: the caller sends a message the app's bot prepared, via the bot, into one of
/// their chats of a kind the bot allowed.
#[utoipa::path(post, path = "/api/v1/webapps/prepared_message", tag = "webapps", security(("bearer" = [])),
    request_body = SendPreparedRequest,
    responses((status = 200, body = MessageOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn send_prepared_message(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<SendPreparedRequest>,
) -> ApiResult<Json<MessageOut>> {
    let chat = plaza_core::ChatId(req.chat_id);
    let m = state.service.send_prepared_message(session.user.id, &req.launch_id, &req.id, chat).await?;
    let mut senders = crate::convert::Senders::knowing(&session.user);
    Ok(Json(senders.message_out(&state.service, chat, &m).await?))
}

/// The bot's mini apps (its owner only).
#[utoipa::path(get, path = "/api/v1/bots/{username}/apps", tag = "apps", security(("bearer" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = [AppOut]), (status = 404, description = "no such bot of yours", body = ErrorBody)))]
pub async fn list_apps(
    State(state): State<AppState>,
    session: Session,
    ApiPath(username): ApiPath<String>,
) -> ApiResult<Json<Vec<AppOut>>> {
    let bot = state.service.owned_bot(session.user.id, &username).await?;
    let apps = state.service.webapps(bot.id).await?;
    Ok(Json(apps.iter().map(|a| app_out(&state, &bot, a)).collect()))
}

/// Registers a mini app of the bot, or changes one (its owner only).
#[utoipa::path(post, path = "/api/v1/bots/{username}/apps", tag = "apps", security(("bearer" = [])),
    params(("username" = String, Path)), request_body = AppRequest,
    responses((status = 200, body = AppOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn put_app(
    State(state): State<AppState>,
    session: Session,
    ApiPath(username): ApiPath<String>,
    ApiJson(req): ApiJson<AppRequest>,
) -> ApiResult<Json<AppOut>> {
    let bot = state.service.owned_bot(session.user.id, &username).await?;
    let app = state
        .service
        .register_webapp(
            bot.username.as_str(),
            &req.short_name,
            &req.title,
            req.url.as_deref(),
            &req.description,
            req.main,
        )
        .await?;
    Ok(Json(app_out(&state, &bot, &app)))
}

/// The app's deployed versions (its bot's owner only).
#[utoipa::path(get, path = "/api/v1/bots/{username}/apps/{short_name}/versions", tag = "apps",
    security(("bearer" = [])), params(("username" = String, Path), ("short_name" = String, Path)),
    responses((status = 200, body = AppVersionsOut), (status = 404, body = ErrorBody)))]
pub async fn app_versions(
    State(state): State<AppState>,
    session: Session,
    ApiPath((username, short_name)): ApiPath<(String, String)>,
) -> ApiResult<Json<AppVersionsOut>> {
    let bot = state.service.owned_bot(session.user.id, &username).await?;
    let (app, versions) = state.service.webapp_versions(bot.username.as_str(), &short_name).await?;
    Ok(Json(AppVersionsOut { app: app_out(&state, &bot, &app), versions: versions.iter().map(version_out).collect() }))
}

/// Deploys a static bundle (the request body, a `.tar.gz` or `.tar` with `index.html` at its root
/// or in its one top-level directory) as the app's next version, live at once. Registers the app
/// if the bot has none by that name.
#[utoipa::path(post, path = "/api/v1/bots/{username}/apps/{short_name}/versions", tag = "apps",
    security(("bearer" = [])), params(("username" = String, Path), ("short_name" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/gzip"),
    responses((status = 200, body = AppVersionOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn deploy_app(
    State(state): State<AppState>,
    session: Session,
    ApiPath((username, short_name)): ApiPath<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<AppVersionOut>> {
    let bot = state.service.owned_bot(session.user.id, &username).await?;
    let bundle = bundle_from_tar(&body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let version = state.service.deploy_webapp(bot.username.as_str(), &short_name, bundle).await?;
    Ok(Json(version_out(&version)))
}

/// Makes an earlier version live again: the one asked for, or the newest one older than the live.
#[utoipa::path(post, path = "/api/v1/bots/{username}/apps/{short_name}/rollback", tag = "apps",
    security(("bearer" = [])), params(("username" = String, Path), ("short_name" = String, Path)),
    request_body = RollbackRequest,
    responses((status = 200, body = AppVersionsOut), (status = 404, body = ErrorBody)))]
pub async fn rollback_app(
    State(state): State<AppState>,
    session: Session,
    ApiPath((username, short_name)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<RollbackRequest>,
) -> ApiResult<Json<AppVersionsOut>> {
    let bot = state.service.owned_bot(session.user.id, &username).await?;
    state.service.rollback_webapp(bot.username.as_str(), &short_name, req.version).await?;
    app_versions(State(state), session, ApiPath((username, short_name))).await
}

/// Plaza's `telegram-web-app.js`, for apps that load the script by URL.
pub async fn telegram_web_app_js(headers: HeaderMap) -> Response {
    crate::web::serve(&plaza_web::TELEGRAM_WEB_APP_JS, &headers, "public, max-age=3600")
}

/// Whether the request is to an app's origin (`<short_name>.<bot>.<apps host>`). Such requests
/// are the app's ([`app_origin`]): nothing else of Plaza is reachable there, so an app cannot call
/// the client API with the client's origin.
pub fn to_app_origin(state: &AppState, req: &Request) -> bool {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    state.service.apps_url().is_app_host(host)
}

/// Answers a request to an app's origin with the app's files.
pub async fn app_origin(state: &AppState, req: Request) -> Response {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    if req.method() != axum::http::Method::GET && req.method() != axum::http::Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, "a mini app's origin serves files only").into_response();
    }
    let host = host.to_string();
    let path = req.uri().path().to_string();
    let hosted = match state.service.hosted_file(&host, &path).await {
        Ok(h) => h,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match hosted {
        Hosted::File(file) => {
            let etag = format!("\"{}\"", hex::encode(&file.sha256[..16]));
            let fresh = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str());
            let mut res = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { file.bytes.into_response() };
            let h = res.headers_mut();
            if let Ok(ct) = HeaderValue::from_str(&file.content_type) {
                h.insert(header::CONTENT_TYPE, ct);
            }
            h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex"));
            // Revalidated on every load, so a deploy or a rollback shows at once.
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            h.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
            res
        }
        _ if path == "/js/telegram-web-app.js" => telegram_web_app_js(req.headers().clone()).await,
        Hosted::NotFound => (StatusCode::NOT_FOUND, "no such file in this mini app").into_response(),
        Hosted::NoApp => (StatusCode::NOT_FOUND, "no mini app is deployed here").into_response(),
    }
}
