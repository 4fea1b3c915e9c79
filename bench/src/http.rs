//! A minimal HTTP/1.1 keep-alive client over hyper, and the closed-loop load generator built on it.
//!
//! Each [`Conn`] is one TCP connection with one request in flight at a time, so a load of N
//! connections is exactly N concurrent requests, as N busy clients would make.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::stats::Latencies;

/// Longest a request may take before the client gives up on it and its connection.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One request, kept ready to be sent again and again.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub token: Option<String>,
    pub body: Option<Bytes>,
}

impl Call {
    pub fn get(path: impl Into<String>) -> Call {
        Call { method: Method::GET, path: path.into(), token: None, body: None }
    }

    pub fn post_json(path: impl Into<String>, body: &serde_json::Value) -> Call {
        Call { method: Method::POST, path: path.into(), token: None, body: Some(Bytes::from(body.to_string())) }
    }

    pub fn bearer(mut self, token: &str) -> Call {
        self.token = Some(token.to_string());
        self
    }

    /// `POST /path {"body"}`: the request as a report shows it (the bearer token left out).
    pub fn describe(&self) -> String {
        match &self.body {
            Some(body) => format!("{} {} {}", self.method, self.path, String::from_utf8_lossy(body)),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        // Requests are small and answered one at a time; Nagle would only add delay.
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.context("HTTP/1.1 handshake")?;
        // The connection future moves the bytes; it ends when the sender is dropped or the peer closes.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn { sender, host: addr.to_string() })
    }

    /// Sends `call` and returns the status and the whole body.
    pub async fn send(&mut self, call: &Call) -> anyhow::Result<(StatusCode, Bytes)> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.send_unbounded(call))
            .await
            .with_context(|| format!("{} {} took over {REQUEST_TIMEOUT:?}", call.method, call.path))?
    }

    async fn send_unbounded(&mut self, call: &Call) -> anyhow::Result<(StatusCode, Bytes)> {
        self.sender.ready().await.context("connection closed")?;
        let mut request = Request::builder().method(call.method.clone()).uri(&call.path).header(HOST, &self.host);
        if let Some(token) = &call.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match &call.body {
            Some(bytes) => {
                request = request.header(CONTENT_TYPE, "application/json");
                Full::new(bytes.clone())
            }
            None => Full::new(Bytes::new()),
        };
        let response = self.sender.send_request(request.body(body)?).await.context("sending request")?;
        let status = response.status();
        let body = response.into_body().collect().await.context("reading response body")?.to_bytes();
        Ok((status, body))
    }

    /// Sends `call`, insists on `200 OK` and decodes the JSON answer.
    pub async fn send_json<T: DeserializeOwned>(&mut self, call: &Call) -> anyhow::Result<T> {
        let (status, body) = self.send(call).await?;
        anyhow::ensure!(
            status == StatusCode::OK,
            "{} {} answered {status}: {}",
            call.method,
            call.path,
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice(&body).with_context(|| format!("decoding the answer to {} {}", call.method, call.path))
    }
}

/// What a closed-loop run measured.
#[derive(Default)]
pub struct LoadResult {
    /// Requests answered `200 OK` that started and finished inside the measured window.
    pub completed: u64,
    /// Answers other than `200 OK`, and connections lost, over the whole run.
    pub errors: u64,
    pub first_error: Option<String>,
    pub latencies: Latencies,
    pub measured: Duration,
}

impl LoadResult {
    pub fn per_second(&self) -> f64 {
        self.completed as f64 / self.measured.as_secs_f64()
    }

    fn absorb(&mut self, other: LoadResult) {
        self.completed += other.completed;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies.merge(&other.latencies);
    }
}

/// Keeps one request in flight on each connection (one connection per `calls` entry) for
/// `warmup + duration`, and measures the requests of the last `duration`.
pub async fn closed_loop(
    addr: SocketAddr,
    calls: Vec<Call>,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<LoadResult> {
    closed_loop_cycling(addr, calls.into_iter().map(|c| vec![c]).collect(), warmup, duration).await
}

/// Like [`closed_loop`], with one connection per `calls` entry that sends its calls in turn, over
/// and over (a bot writing to each of its chats in turn, say).
pub async fn closed_loop_cycling(
    addr: SocketAddr,
    calls: Vec<Vec<Call>>,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<LoadResult> {
    anyhow::ensure!(calls.iter().all(|c| !c.is_empty()), "every connection needs a call");
    // Connections are opened before the clock starts so that their setup is not measured.
    let mut conns = Vec::with_capacity(calls.len());
    for _ in &calls {
        conns.push(Conn::connect(addr).await?);
    }
    let from = Instant::now() + warmup;
    let until = from + duration;
    let mut tasks = JoinSet::new();
    for (conn, calls) in conns.into_iter().zip(calls) {
        tasks.spawn(drive(conn, calls, from, until));
    }
    let mut total = LoadResult { measured: duration, ..LoadResult::default() };
    while let Some(part) = tasks.join_next().await {
        total.absorb(part.context("load task panicked")?);
    }
    Ok(total)
}

async fn drive(mut conn: Conn, calls: Vec<Call>, from: Instant, until: Instant) -> LoadResult {
    let mut part = LoadResult::default();
    for call in calls.iter().cycle() {
        let sent = Instant::now();
        if sent >= until {
            break;
        }
        let outcome = conn.send(call).await;
        let done = Instant::now();
        match outcome {
            Ok((StatusCode::OK, _)) => {
                if sent >= from && done <= until {
                    part.completed += 1;
                    part.latencies.record(done - sent);
                }
            }
            Ok((status, body)) => {
                part.errors += 1;
                part.first_error.get_or_insert_with(|| failure(call, status, &body));
            }
            Err(e) => {
                // A lost connection ends this client; the others go on and the report shows the error.
                part.errors += 1;
                part.first_error.get_or_insert_with(|| format!("{}: {e:#}", call.describe()));
                break;
            }
        }
    }
    part
}

/// `POST /path {"body"} → 500 Internal Server Error: {"answer"}`, for reports of failed requests.
pub fn failure(call: &Call, status: StatusCode, body: &[u8]) -> String {
    format!("{} → {status}: {}", call.describe(), String::from_utf8_lossy(body))
}
