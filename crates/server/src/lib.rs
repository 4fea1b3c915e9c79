//! The `plaza` server: wiring of store, bus, service and HTTP, startup, demo data and shutdown.
//!
//! `main.rs` is the CLI; this library holds what both it and the black-box tests start.

use std::sync::Arc;

use anyhow::Context;
use plaza_bus::LocalBus;
use plaza_http::botapi::flood::{FloodConfig, FloodLimits};
use plaza_http::botapi::webhook::{WebhookPolicy, Webhooks};
use plaza_http::{AppState, AuthLimiter, Metrics, Shared};
use plaza_service::{Clock, Service, ServiceConfig, SystemClock};
use plaza_store::Store;
use plaza_store::postgres::PgStore;
use plaza_store::sqlite::{SqliteOptions, SqliteStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub mod config;
pub mod demo;
pub mod demo_bot;

pub use config::{Config, StoreConfig};

/// Opens the configured store, applying migrations.
pub async fn open_store(config: &StoreConfig) -> anyhow::Result<Arc<dyn Store>> {
    open_store_with(config, SqliteOptions::default()).await
}

/// Opens the configured store for an administrative command, which may run beside a server on
/// the same embedded database: its commits and reads fsync as they go (see
/// [`SqliteOptions::sync_in_commit`]).
pub async fn open_admin_store(config: &StoreConfig) -> anyhow::Result<Arc<dyn Store>> {
    open_store_with(config, SqliteOptions { sync_in_commit: true, ..SqliteOptions::default() }).await
}

async fn open_store_with(config: &StoreConfig, options: SqliteOptions) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match config {
        StoreConfig::Sqlite { path } => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("creating data directory {}", dir.display()))?;
            }
            Arc::new(SqliteStore::open(path, options).with_context(|| format!("opening {}", path.display()))?)
        }
        StoreConfig::Postgres { url } => Arc::new(PgStore::connect(url).await.context("connecting to PostgreSQL")?),
    })
}

/// The service over a store, with the single-node bus.
pub fn service(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: &Config,
    apps_url: plaza_core::webapp::AppsUrl,
) -> Arc<Service> {
    let service_config = ServiceConfig {
        session_ttl: config.session_ttl,
        apps_url,
        sandbox: config.sandbox,
        star_sales: config.star_sales.clone(),
    };
    Arc::new(Service::new(store, Arc::new(LocalBus::new()), clock, service_config))
}

/// A server bound to its address, ready to run.
pub struct Server {
    pub listener: TcpListener,
    pub state: AppState,
    pub shutdown_grace: std::time::Duration,
    /// The demo bot to answer as, in demo mode.
    pub demo_bot: Option<plaza_core::UserId>,
}

impl Server {
    /// Opens the store, seeds demo data if asked, and binds the listener.
    pub async fn bind(config: &Config) -> anyhow::Result<Server> {
        Self::bind_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn bind_with_clock(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Server> {
        let listener = TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
        let port = listener.local_addr().context("the bound address")?.port();
        let apps_url = config::apps_url(config.apps_url.as_deref(), port)?;
        let store = open_store(&config.store).await?;
        let service = service(store, clock, config, apps_url);
        let demo_bot = if config.demo { Some(demo::seed(&service).await.context("seeding demo data")?) } else { None };
        let state = AppState::new(Shared {
            service,
            metrics: Metrics::default(),
            auth_limiter: AuthLimiter::new(config.auth_attempts_per_minute, config.auth_attempts_burst),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            webhook_policy: WebhookPolicy { https_only: config.webhooks_https_only },
            webhooks: Webhooks::new(),
            flood: config.flood_limits.then(|| FloodLimits::new(FloodConfig::default())),
        });
        Ok(Server { listener, state, shutdown_grace: config.shutdown_grace, demo_bot })
    }

    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    /// Serves until `stop` resolves, then shuts down gracefully: the listener closes, in-flight
    /// requests finish, every WebSocket gets a close frame and the demo bot stops before this
    /// returns.
    pub async fn run(self, stop: impl std::future::Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Server { listener, state, shutdown_grace, demo_bot } = self;
        Webhooks::start_all(&state).await;
        if let Some(bot) = demo_bot {
            // Tracked like the webhook senders: shutdown cancels its long poll and waits for it.
            state.tracker.spawn(demo_bot::run(state.service.clone(), bot, state.shutdown.clone()));
        }
        // Cancels checkouts the bot did not answer, settles interrupted card payments and renews
        // subscriptions; every step is conditional in the store, so a restart simply resumes.
        {
            let service = state.service.clone();
            let shutdown = state.shutdown.clone();
            state.tracker.spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = shutdown.cancelled() => return,
                    }
                    if let Err(e) = service.run_payment_jobs().await {
                        tracing::warn!(error = %e, "payment jobs");
                    }
                }
            });
        }
        let app = plaza_http::app(state.clone());
        let shutdown = state.shutdown.clone();
        let signal = async move {
            stop.await;
            tracing::info!("shutting down: finishing in-flight requests and closing WebSockets");
            shutdown.cancel();
        };
        let serve = axum::serve(listener, app).with_graceful_shutdown(signal);
        let tracker = state.tracker.clone();
        let result = serve.await;
        tracker.close();
        if tokio::time::timeout(shutdown_grace, tracker.wait()).await.is_err() {
            tracing::warn!("some WebSockets did not close within the grace period");
        }
        result.context("serving HTTP")
    }
}
