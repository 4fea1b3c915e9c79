//! The load generator on its own: N keep-alive connections, each with one request in flight, for a
//! fixed time after a warm-up; prints requests/s and latency percentiles.
//!
//! `taskset -c 1 load --addr 127.0.0.1:8090 --path /write --body '{"text":"hi"}' -c 64`
//! measures a probe started with `taskset -c 0 probe --listen 127.0.0.1:8090 --db /tmp/p.db`.
//! It runs on one thread, so pinned to one core it never competes with the server for another.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use hyper::Method;
use hyper::body::Bytes;
use plaza_bench::http::{Call, closed_loop};
use plaza_bench::stats::thousands;

#[derive(Parser)]
#[command(about = "Closed-loop HTTP/1.1 load: N keep-alive connections for a fixed time")]
struct Args {
    /// The server's address.
    #[arg(long)]
    addr: SocketAddr,
    /// Request path.
    #[arg(long, default_value = "/write")]
    path: String,
    /// JSON body; with it the request is a POST, without it a GET.
    #[arg(long)]
    body: Option<String>,
    /// Sent as `Authorization: Bearer <token>`.
    #[arg(long)]
    token: Option<String>,
    /// Concurrent connections.
    #[arg(short = 'c', long, default_value_t = 64)]
    connections: usize,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Seconds measured.
    #[arg(long, default_value_t = 10)]
    duration: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!((1..=10_000).contains(&args.connections), "--connections must be 1..=10000");
    anyhow::ensure!((1..=3_600).contains(&args.duration), "--duration must be 1..=3600 seconds");
    let call = Call {
        method: if args.body.is_some() { Method::POST } else { Method::GET },
        path: args.path,
        token: args.token,
        body: args.body.map(Bytes::from),
    };
    let result = closed_loop(
        args.addr,
        vec![call; args.connections],
        Duration::from_secs(args.warmup.min(600)),
        Duration::from_secs(args.duration),
    )
    .await?;
    println!(
        "{} req/s  {}  ({} connections, {} s measured, {} errors)",
        thousands(result.per_second()),
        result.latencies.summary(),
        args.connections,
        args.duration,
        result.errors
    );
    if let Some(e) = result.first_error {
        println!("first error: {e}");
    }
    Ok(())
}
