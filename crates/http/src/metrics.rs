//! Prometheus metrics: a registry owned by the app state (no globals) and the request middleware.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_seconds: Family<RouteLabels, Histogram>,
    pub ws_connections: Gauge,
    pub messages_sent: Counter,
    store_commits: Counter,
    store_batched_writes: Counter,
    store_failed_batches: Counter,
    /// Serialises copying the store's counters into the registry's.
    store_sync: std::sync::Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("plaza");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
        });
        let ws_connections = Gauge::default();
        let messages_sent = Counter::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register("http_request_duration_seconds", "Time to answer HTTP requests", request_seconds.clone());
        registry.register("websocket_connections", "Open update-stream WebSockets", ws_connections.clone());
        registry.register("messages_sent", "Messages sent through the client API", messages_sent.clone());
        let (store_commits, store_batched_writes, store_failed_batches) =
            (Counter::default(), Counter::default(), Counter::default());
        registry.register("store_commits", "Group commits of the embedded store", store_commits.clone());
        registry.register("store_batched_writes", "Writes answered by those commits", store_batched_writes.clone());
        registry.register("store_failed_batches", "Write batches rolled back", store_failed_batches.clone());
        Metrics {
            registry,
            requests,
            request_seconds,
            ws_connections,
            messages_sent,
            store_commits,
            store_batched_writes,
            store_failed_batches,
            store_sync: std::sync::Mutex::new(()),
        }
    }
}

impl Metrics {
    /// Brings the store counters up to the store's own figures.
    pub fn sync_store(&self, stats: plaza_store::StoreStats) {
        let _one_at_a_time = self.store_sync.lock().expect("metrics lock");
        for (counter, now) in [
            (&self.store_commits, stats.commits),
            (&self.store_batched_writes, stats.batched_writes),
            (&self.store_failed_batches, stats.failed_batches),
        ] {
            counter.inc_by(now.saturating_sub(counter.get()));
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("metrics encode to a String");
        out
    }
}

pub async fn track(state: &AppState, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    state.metrics.requests.get_or_create(&RequestLabels { method: method.clone(), route: route.clone(), status }).inc();
    state
        .metrics
        .request_seconds
        .get_or_create(&RouteLabels { method, route })
        .observe(started.elapsed().as_secs_f64());
    resp
}

pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.sync_store(state.service.store().stats());
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.encode())
}
