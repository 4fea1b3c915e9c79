//! The load generator on its own: N keep-alive connections, each with one request in flight, for a
//! fixed time after a warm-up; prints requests/s and latency percentiles.
//!
//! `taskset -c 1 load --addr 127.0.0.1:8090 --path /write --body '{"text":"hi"}' -c 64`
//! measures a probe started with `taskset -c 0 probe --listen 127.0.0.1:8090 --db /tmp/p.db`.
//! It runs on one thread, so pinned to one core it never competes with the server for another.
//!
//! With `--pairs-file` it drives the suite's throughput workload instead: one sender/receiver pair
//! per connection, each sending into its own private chat. The pairs are signed up (and saved to
//! the file) when it does not exist yet, and read from it when it does, so a store prepared once
//! can be measured again; `--prepare` only signs them up. With `--bot-token` too, a bot sends
//! instead: each connection's `sendMessage` goes to its pair's sender (who starts the bot in
//! `--prepare`).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use hyper::Method;
use hyper::body::Bytes;
use plaza_bench::http::{Call, Conn, closed_loop};
use plaza_bench::plaza::{Pair, prepare_pairs, send_call, start_bot};
use plaza_bench::stats::thousands;
use serde_json::json;

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
    /// Sends Plaza messages from one signed-up pair per connection, kept in this JSON file
    /// (`--path`, `--body` and `--token` are then ignored).
    #[arg(long)]
    pairs_file: Option<std::path::PathBuf>,
    /// With `--pairs-file`: sign the pairs up and save them, without load.
    #[arg(long, requires = "pairs_file")]
    prepare: bool,
    /// With `--pairs-file`: the bot `<username>:<token>` that sends, through the Bot API, one
    /// chat per connection (with `--prepare`: each pair's sender starts the bot).
    #[arg(long, requires = "pairs_file")]
    bot: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!((1..=10_000).contains(&args.connections), "--connections must be 1..=10000");
    anyhow::ensure!((1..=3_600).contains(&args.duration), "--duration must be 1..=3600 seconds");
    let calls = match &args.pairs_file {
        Some(file) => {
            let pairs: Vec<Pair> = if file.exists() {
                let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
                serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))?
            } else {
                let pairs = prepare_pairs(args.addr, args.connections).await?;
                std::fs::write(file, serde_json::to_string(&pairs)?)
                    .with_context(|| format!("writing {}", file.display()))?;
                pairs
            };
            anyhow::ensure!(
                pairs.len() >= args.connections,
                "{} holds {} pairs, fewer than the {} connections",
                file.display(),
                pairs.len(),
                args.connections
            );
            let pairs = &pairs[..args.connections];
            let bot =
                args.bot.as_deref().map(|b| b.split_once(':').context("--bot is <username>:<token>")).transpose()?;
            if args.prepare {
                if let Some((username, _)) = bot {
                    let mut conn = Conn::connect(args.addr).await?;
                    for p in pairs {
                        start_bot(&mut conn, &p.sender, username).await?;
                    }
                }
                return Ok(());
            }
            match bot {
                None => pairs.iter().map(|p| send_call(p, "benchmark message")).collect(),
                Some((_, token)) => {
                    let path = format!("/bot{token}/sendMessage");
                    pairs
                        .iter()
                        .map(|p| Call::post_json(&path, &json!({"chat_id": p.sender.id, "text": "benchmark message"})))
                        .collect()
                }
            }
        }
        None => {
            let call = Call {
                method: if args.body.is_some() { Method::POST } else { Method::GET },
                path: args.path,
                token: args.token,
                body: args.body.map(Bytes::from),
            };
            vec![call; args.connections]
        }
    };
    let result =
        closed_loop(args.addr, calls, Duration::from_secs(args.warmup.min(600)), Duration::from_secs(args.duration))
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
