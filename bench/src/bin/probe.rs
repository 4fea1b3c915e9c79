//! The physical-limit probe: the least a durable write can cost here, as a bare server.
//!
//! `POST /write {"text": "…"}` inserts one row into SQLite (WAL, `synchronous=FULL`) and answers
//! `{"id": N}` only after the row's transaction has committed. As in Plaza's SQLite store, one
//! writer thread takes every queued request into a single transaction, so one fsync serves the
//! whole batch; unlike Plaza it has no savepoints, no rules, no update log and no middleware. The
//! suite compares Plaza's message throughput with this server's on the same machine in the same run.
//!
//! `probe --listen 127.0.0.1:8090 --db /tmp/probe.db` prints `probe listening on http://<addr>` and
//! serves until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use clap::Parser;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// Most writes committed together, as in Plaza's store.
const MAX_BATCH: usize = 512;
/// Writes waiting for the writer before callers wait to enqueue, as in Plaza's store.
const QUEUE: usize = 4096;

#[derive(Parser)]
#[command(about = "A bare axum + SQLite group-commit server: the least a durable write can cost")]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// SQLite database file, created if missing.
    #[arg(long)]
    db: PathBuf,
}

type Answer = oneshot::Sender<Result<i64, String>>;

#[derive(Deserialize)]
struct WriteRequest {
    text: String,
}

#[derive(Serialize)]
struct WriteAnswer {
    id: i64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let conn = open(&args).with_context(|| format!("opening {}", args.db.display()))?;
    let (queue, jobs) = flume::bounded::<(String, Answer)>(QUEUE);
    std::thread::Builder::new().name("probe-writer".into()).spawn(move || writer_loop(&conn, &jobs))?;

    let app = Router::new().route("/write", post(write)).with_state(queue);
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    println!("probe listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).with_graceful_shutdown(stop_signal()).await.context("serving")
}

fn open(args: &Args) -> rusqlite::Result<Connection> {
    let conn = Connection::open(&args.db)?;
    // The page size Plaza gives a new database (crates/store/src/sqlite.rs), so neither side has a
    // storage setting the other lacks.
    conn.pragma_update(None, "page_size", 2048)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL fsyncs the WAL on every commit, exactly as Plaza does: an answered write is durable.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS writes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, at INTEGER NOT NULL)",
    )?;
    Ok(conn)
}

async fn write(
    State(queue): State<flume::Sender<(String, Answer)>>,
    Json(req): Json<WriteRequest>,
) -> Result<Json<WriteAnswer>, (StatusCode, String)> {
    let (tx, rx) = oneshot::channel();
    let gone = || (StatusCode::SERVICE_UNAVAILABLE, "the writer has stopped".to_string());
    queue.send_async((req.text, tx)).await.map_err(|_| gone())?;
    match rx.await.map_err(|_| gone())? {
        Ok(id) => Ok(Json(WriteAnswer { id })),
        Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, e)),
    }
}

/// Takes everything queued (up to [`MAX_BATCH`]), inserts it in one transaction, commits once and
/// then answers every caller; runs until every sender is gone.
fn writer_loop(conn: &Connection, jobs: &flume::Receiver<(String, Answer)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match commit(conn, &batch) {
            Ok(ids) => {
                for ((_, answer), id) in batch.drain(..).zip(ids) {
                    let _ = answer.send(Ok(id));
                }
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                for (_, answer) in batch.drain(..) {
                    let _ = answer.send(Err(e.to_string()));
                }
            }
        }
    }
}

fn commit(conn: &Connection, batch: &[(String, Answer)]) -> rusqlite::Result<Vec<i64>> {
    let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let mut ids = Vec::with_capacity(batch.len());
    let mut insert = conn.prepare_cached("INSERT INTO writes (body, at) VALUES (?1, ?2)")?;
    for (text, _) in batch {
        insert.execute((text, at))?;
        ids.push(conn.last_insert_rowid());
    }
    conn.execute_batch("COMMIT")?;
    Ok(ids)
}

/// Resolves on SIGTERM or Ctrl-C.
async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
