//! Prometheus metrics: a registry owned by the app state (no globals) and the request middleware.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
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
    /// The two metrics each answered request updates, by its labels: found with one foldhash
    /// lookup instead of one SipHash lookup in each family (about 900 instructions a request,
    /// measured with callgrind). Methods, route patterns and statuses are few, so it stays small.
    handles: std::sync::RwLock<foldhash::HashMap<RequestLabels, (Histogram, Counter)>>,
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
        registry.register(
            "store_commits",
            "Batches of writes committed: every SQLite write, PostgreSQL's messages",
            store_commits.clone(),
        );
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
            handles: std::sync::RwLock::default(),
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

/// Counts an answered request and its time (see `front`).
pub fn record(metrics: &Metrics, method: &'static str, route: String, status: u16, elapsed: Duration) {
    let labels = RequestLabels { method, route, status };
    let count = |(seconds, requests): &(Histogram, Counter)| {
        seconds.observe(elapsed.as_secs_f64());
        requests.inc();
    };
    if let Some(handles) = metrics.handles.read().ok().as_ref().and_then(|known| known.get(&labels)) {
        return count(handles);
    }
    let route = RouteLabels { method, route: labels.route.clone() };
    let handles =
        (metrics.request_seconds.get_or_create(&route).clone(), metrics.requests.get_or_create(&labels).clone());
    count(&handles);
    if let Ok(mut known) = metrics.handles.write() {
        known.insert(labels, handles);
    }
}

pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.sync_store(state.service.store().stats());
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.encode())
}
