//! Configuration: command-line flags over environment variables over a TOML file over defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

/// Settings read from `--config <file>` (or `PLAZA_CONFIG`). Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
    pub session_ttl_days: Option<u64>,
    pub auth_attempts_per_minute: Option<u32>,
    pub auth_attempts_burst: Option<u32>,
    pub webhooks_https_only: Option<bool>,
    pub flood_limits: Option<bool>,
    pub apps_url: Option<String>,
    pub sandbox: Option<bool>,
    pub stars_provider_token: Option<String>,
    pub star_price: Option<String>,
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else { return Ok(FileConfig::default()) };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    Sqlite { path: PathBuf },
    Postgres { url: String },
}

/// The settings `serve` runs with, all resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub store: StoreConfig,
    pub session_ttl: Duration,
    pub auth_attempts_per_minute: u32,
    pub auth_attempts_burst: u32,
    /// Seed demo accounts, a bot and a group.
    pub demo: bool,
    /// How long shutdown waits for in-flight work.
    pub shutdown_grace: Duration,
    /// Restrict webhooks to HTTPS on Telegram's ports.
    pub webhooks_https_only: bool,
    /// Apply Telegram's flood limits to bots (on unless switched off for a sandbox or benchmark).
    pub flood_limits: bool,
    /// Where hosted mini apps are served, each on its own origin `<app>.<bot>.<host>`; by
    /// default `http://localhost:<the port listened on>`.
    pub apps_url: Option<String>,
    /// A sandbox for testing bots and mini apps: free Stars top-ups and subscription periods
    /// shorter than 30 days.
    pub sandbox: bool,
    /// Selling Stars by card, through the provider this token selects.
    pub star_sales: Option<plaza_service::payments::StarSales>,
}

impl Config {
    /// Settings for tests: an ephemeral port and generous auth limits.
    pub fn for_tests(store: StoreConfig) -> Self {
        Config {
            listen: "127.0.0.1:0".parse().expect("address"),
            store,
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            auth_attempts_per_minute: 100_000,
            auth_attempts_burst: 100_000,
            demo: false,
            shutdown_grace: Duration::from_secs(10),
            webhooks_https_only: false,
            // Tests are a sandbox: they send faster than Telegram's limits allow. The limits have
            // their own test.
            flood_limits: false,
            apps_url: None,
            sandbox: true,
            star_sales: None,
        }
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "plaza-data";

/// Picks the store: a database URL wins; otherwise SQLite in the data directory.
pub fn store_config(database_url: Option<String>, data_dir: Option<PathBuf>) -> anyhow::Result<StoreConfig> {
    match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(StoreConfig::Postgres { url })
        }
        Some(url) if url.starts_with("sqlite://") => {
            Ok(StoreConfig::Sqlite { path: PathBuf::from(url.trim_start_matches("sqlite://")) })
        }
        Some(url) => anyhow::bail!("unsupported database URL {url:?}: use postgres://… or sqlite://<file>"),
        None => {
            let dir = data_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
            Ok(StoreConfig::Sqlite { path: dir.join("plaza.db") })
        }
    }
}

/// The apps URL in force: the configured one, or `http://localhost:<port>` for a server listening
/// on `port` (browsers resolve every `*.localhost` name to the loopback address).
pub fn apps_url(configured: Option<&str>, port: u16) -> anyhow::Result<plaza_core::webapp::AppsUrl> {
    let url = configured.map_or_else(|| format!("http://localhost:{port}"), str::to_string);
    plaza_core::webapp::AppsUrl::parse(&url).map_err(|e| anyhow::anyhow!("--apps-url {url:?}: {}", e.reason))
}
