//! Plaza's HTTP surface: the client API under `/api/v1` with its WebSocket, its OpenAPI document,
//! `/healthz` and `/metrics`. Only this crate and the binary know HTTP and JSON.

use std::convert::Infallible;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use crate::extract::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use axum::routing::get;
use futures_util::future::{BoxFuture, Either};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use plaza_protocol::Health;
use plaza_service::Service;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub mod api;
pub mod apps;
pub mod botapi;
pub mod convert;
pub mod error;
pub mod extract;
pub mod front;
pub mod metrics;
pub mod payments;
pub mod web;
pub mod ws;

use error::ApiError;
pub use metrics::Metrics;

/// Largest request body the client API accepts.
pub const MAX_BODY: usize = 1024 * 1024;

/// Limits sign-up and login attempts per client address, against password guessing.
pub struct AuthLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl AuthLimiter {
    /// `per_minute` attempts a minute with bursts of up to `burst`.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute.max(1)).expect("positive");
        let burst = NonZeroU32::new(burst.max(1)).expect("positive");
        AuthLimiter { limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)) }
    }

    /// `Err(seconds to wait)` when over the limit.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        self.limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// Everything a handler needs. Cloned for every request, so it is one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub service: Arc<Service>,
    pub metrics: Metrics,
    pub auth_limiter: AuthLimiter,
    /// Cancelled when the server shuts down; long-lived connections close on it.
    pub shutdown: CancellationToken,
    /// Tracks WebSocket connections and webhook senders so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// Where bots' webhooks may point.
    pub webhook_policy: botapi::webhook::WebhookPolicy,
    /// The webhook senders running on this node.
    pub webhooks: botapi::webhook::Webhooks,
    /// Bots' flood limits; `None` when switched off.
    pub flood: Option<botapi::flood::FloodLimits>,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Plaza client API", description = "The API Plaza's web client uses; scripts may use it too. \
        Authenticate with `Authorization: Bearer <token>` from signup or login. Errors are \
        `{\"error\":{\"status\",\"code\",\"message\"}}`."),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "users"), (name = "chats"), (name = "messages"), (name = "updates"), (name = "bots"),
        (name = "webapps"), (name = "apps", description = "A bot owner's mini apps: register, deploy, roll back"),
        (name = "payments", description = "Invoices, payments, subscriptions and the Stars wallet"))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(api::signup))
        .routes(routes!(api::login))
        .routes(routes!(api::logout))
        .routes(routes!(api::me, api::update_me))
        .routes(routes!(api::user_by_username))
        .routes(routes!(api::list_chats))
        .routes(routes!(api::open_private))
        .routes(routes!(api::create_group))
        .routes(routes!(api::get_chat, api::set_title))
        .routes(routes!(api::list_members, api::add_members))
        .routes(routes!(api::remove_member))
        .routes(routes!(api::set_role))
        .routes(routes!(api::history, api::send_message))
        .routes(routes!(api::edit_message, api::delete_message))
        .routes(routes!(api::delete_messages))
        .routes(routes!(api::mark_read))
        .routes(routes!(api::updates))
        .routes(routes!(api::press_button))
        .routes(routes!(api::start_bot))
        .routes(routes!(api::download_file))
        .routes(routes!(api::chat_action))
        .routes(routes!(api::set_blocked, api::get_blocked))
        .routes(routes!(api::pin_message, api::unpin_message))
        .routes(routes!(api::pinned_message))
        .routes(routes!(api::ban))
        .routes(routes!(api::unban))
        .routes(routes!(api::vote))
        .routes(routes!(api::set_reactions))
        .routes(routes!(api::bot_info))
        .routes(routes!(api::webapp_public_key))
        .routes(routes!(api::launch_webapp))
        .routes(routes!(api::send_webapp_data))
        .routes(routes!(apps::invoke_custom_method))
        .routes(routes!(apps::allow_write_access))
        .routes(routes!(apps::share_contact))
        .routes(routes!(apps::prepared_message))
        .routes(routes!(apps::send_prepared_message))
        .routes(routes!(apps::list_apps, apps::put_app))
        .routes(routes!(apps::rollback_app))
        .routes(routes!(payments::get_invoice))
        .routes(routes!(payments::shipping))
        .routes(routes!(payments::pay))
        .routes(routes!(payments::get_payment))
        .routes(routes!(payments::cancel_payment))
        .routes(routes!(payments::wallet))
        .routes(routes!(payments::topup))
        .routes(routes!(payments::cancel_subscription))
        .merge(
            // Uploads may be larger than other requests: a document is up to 50 MB.
            OpenApiRouter::new()
                .routes(routes!(api::send_file))
                .layer(DefaultBodyLimit::max(plaza_core::file::MAX_DOCUMENT_BYTES + 64 * 1024)),
        )
        .merge(
            // A mini app's bundle: up to 50 MB, compressed less than that.
            OpenApiRouter::new()
                .routes(routes!(apps::app_versions, apps::deploy_app))
                .layer(DefaultBodyLimit::max(plaza_core::webapp::MAX_BUNDLE_BYTES + 64 * 1024)),
        )
        .routes(routes!(ws::ws))
}

/// The OpenAPI document, generated from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

/// The whole HTTP application as one service: the router, with the Bot API's calls taken past it.
///
/// A busy server's requests are mostly Bot API calls (`/bot<token>/<method>`), which no route
/// matches: the router tried its routes, then wrapped the fallback's answer in its route's boxed
/// service and future, for nothing. Taken straight to the Bot API, with the same [`front`] work
/// around them, a `sendMessage` costs about 5,000 instructions less (`bench/instructions bot`).
///
/// Serve it with `axum::serve(listener, app)`: each connection gets its own `App` knowing the
/// peer's address, which the router's requests carry as `ConnectInfo<SocketAddr>` (sign-up and
/// login limit attempts by it). The Bot API's calls, which never ask for it, are spared the
/// extension map that `into_make_service_with_connect_info` built for every request (two
/// allocations).
#[derive(Clone)]
pub struct App {
    router: Router,
    state: AppState,
    peer: Option<std::net::SocketAddr>,
}

/// The application (see [`App`]).
pub fn app(state: AppState) -> App {
    App { router: router(state.clone()), state, peer: None }
}

impl<'a> tower_service::Service<axum::serve::IncomingStream<'a, tokio::net::TcpListener>> for App {
    type Response = App;
    type Error = Infallible;
    type Future = std::future::Ready<Result<App, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: axum::serve::IncomingStream<'a, tokio::net::TcpListener>) -> Self::Future {
        std::future::ready(Ok(App { peer: Some(*stream.remote_addr()), ..self.clone() }))
    }
}

impl tower_service::Service<Request> for App {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<RouteFuture<Infallible>, BoxFuture<'static, Result<Response, Infallible>>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let path = req.uri().path();
        if let Some(call) = botapi::parse_call(path) {
            let state = self.state.clone();
            let route = Some(call.route);
            return Either::Right(front::serve(&self.state, req, route, move |req| {
                botapi::call_parsed(state, call, req)
            }));
        }
        if req.method() == axum::http::Method::POST
            && let Some(chat) = api::send_message_chat(path)
        {
            let state = self.state.clone();
            let route = Some(api::SEND_MESSAGE_ROUTE);
            return Either::Right(front::serve(&self.state, req, route, move |req| {
                api::send_message_unrouted(state, req, chat)
            }));
        }
        if let Some(peer) = self.peer {
            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        }
        Either::Left(self.router.call(req))
    }
}

/// The router of every route. Its fallback answers what no route matches: mini apps' and
/// invoices' links, the API's 404, and Bot API calls (which [`App`] takes past it).
fn router(state: AppState) -> Router {
    let (api, doc) = api_router().split_for_parts();
    let doc = Arc::new(doc);
    Router::new()
        .merge(api)
        .route("/api/v1/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::render))
        .route("/", get(web::index))
        .route("/assets/{build}/{*path}", get(web::asset))
        .route("/js/telegram-web-app.js", get(apps::telegram_web_app_js))
        .route("/{name}", get(web::link))
        .merge(botapi::router())
        .fallback(botapi::fallback)
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
        })
        // Front also sets the default body limit (`MAX_BODY`), which routes with larger bodies
        // raise with their own `DefaultBodyLimit` layer.
        .layer(front::FrontLayer::new(state.clone()))
        .with_state(state)
}

/// Liveness and store reachability.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.service.store().backend().to_string();
    match state.service.store().current_cursor(plaza_core::UserId(0)).await {
        // Any answer, even "no such user", proves the store is reachable.
        Ok(_) | Err(plaza_store::StoreError::Denied(_)) => {
            (StatusCode::OK, Json(Health { status: "ok".into(), store }))
        }
        Err(e) => {
            tracing::error!(error = %e, "health check: store unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "store unavailable".into(), store }))
        }
    }
}
