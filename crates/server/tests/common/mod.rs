//! Test harness: starts Plaza on an ephemeral port with a fresh store (SQLite or PostgreSQL) and
//! drives it over HTTP and WebSocket like a client.

#![allow(dead_code)]

pub mod proc;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use plaza_server::{Config, Server, StoreConfig};
use plaza_service::ManualClock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each `async fn name(b: Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::common::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::common::Backend::Postgres).await } )*
        }
    };
}

/// The server's maintenance database, as in the store's conformance suite: `PLAZA_TEST_PG_URL`,
/// by default `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn pg_admin_url() -> String {
    std::env::var("PLAZA_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The admin URL with its database name replaced.
fn pg_url_for(database: &str) -> String {
    let admin = pg_admin_url();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    format!("{base}/{database}")
}

/// A fresh store of the given kind; the guard drops the temporary directory.
pub struct FreshStore {
    pub config: StoreConfig,
    _dir: tempfile::TempDir,
}

pub async fn fresh_store(backend: Backend) -> FreshStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = match backend {
        Backend::Sqlite => StoreConfig::Sqlite { path: dir.path().join("plaza.db") },
        Backend::Postgres => {
            let name = format!("plaza_test_{:016x}", rand::random::<u64>());
            let (client, conn) = tokio_postgres::connect(&pg_admin_url(), tokio_postgres::NoTls)
                .await
                .expect("PostgreSQL must run on 127.0.0.1:5432 (see .ci/run)");
            tokio::spawn(conn);
            client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create test database");
            StoreConfig::Postgres { url: pg_url_for(&name) }
        }
    };
    FreshStore { config, _dir: dir }
}

pub struct TestServer {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
    /// The server's use cases, for setting up what has no API (bots are created with the CLI).
    pub service: Arc<plaza_service::Service>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _store: FreshStore,
}

pub async fn spawn(backend: Backend) -> TestServer {
    spawn_with(backend, |_| {}).await
}

pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
    let store = fresh_store(backend).await;
    let mut config = Config::for_tests(store.config.clone());
    tweak(&mut config);
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let server = Server::bind_with_clock(&config, clock.clone()).await.expect("server starts");
    let addr = server.local_addr();
    let service = server.state.service.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    TestServer {
        base: format!("http://{addr}"),
        addr,
        clock,
        http: reqwest::Client::new(),
        service,
        stop: Some(stop),
        handle: Some(handle),
        _store: store,
    }
}

impl TestServer {
    pub fn store_config(&self) -> StoreConfig {
        self._store.config.clone()
    }

    /// Any request; returns the status and the JSON body (`Null` when the body is not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request reaches the server");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Creates a bot owned by `owner` (an existing username); returns its token and id.
    pub async fn create_bot(&self, username: &str, owner: &str) -> (String, i64) {
        let issued = self.service.create_bot(username, owner, None).await.expect("bot created");
        (issued.token.to_token_string(), issued.bot.id.0)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Signs up `username` (password `pw-<username>`); returns (token, user id).
    pub async fn signup(&self, username: &str) -> (String, i64) {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/signup",
                None,
                Some(json!({"username": username, "password": format!("pw-{username}"), "display_name": username})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "signup {username}: {body}");
        (body["token"].as_str().unwrap().to_string(), body["user"]["id"].as_i64().unwrap())
    }

    /// Sends a text message and returns its message_id.
    pub async fn send(&self, token: &str, chat_id: i64, text: &str) -> i64 {
        let (status, body) =
            self.post(&format!("/api/v1/chats/{chat_id}/messages"), token, json!({"text": text})).await;
        assert_eq!(status, StatusCode::OK, "send: {body}");
        body["message_id"].as_i64().unwrap()
    }

    pub async fn ws(&self, token: &str, cursor: Option<u64>) -> Ws {
        let mut url = format!("ws://{}/api/v1/ws?token={token}", self.addr);
        if let Some(c) = cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (stream, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
        Ws { stream }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("server task").expect("server ran cleanly");
        }
    }
}

pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Ws {
    /// The next JSON frame (pings skipped); fails the test after 10 s without one.
    pub async fn next(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("a frame within 10 s")
                .expect("stream open")
                .expect("frame ok");
            match msg {
                WsMessage::Text(t) => return serde_json::from_str(&t).expect("frame is JSON"),
                WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The next raw message, for close frames.
    pub async fn next_raw(&mut self) -> Option<WsMessage> {
        tokio::time::timeout(Duration::from_secs(10), self.stream.next())
            .await
            .expect("a frame within 10 s")
            .map(|r| r.expect("ok"))
    }
}
