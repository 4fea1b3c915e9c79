//! The whole benchmark behind `bench/run`: the physical-limit probe, Plaza's message throughput,
//! delivery latency to WebSocket receivers and idle WebSocket memory, on SQLite and PostgreSQL,
//! printed as one report.
//!
//! Servers run in their own processes pinned to one core (`taskset -c 0`); this process is meant
//! to run pinned to the other (`taskset -c 1`) and drives all load from one tokio thread. Progress
//! goes to stderr, the report to stdout. Figures are printed, never asserted.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use hyper::StatusCode;
use plaza_bench::http::{Call, Conn, closed_loop};
use plaza_bench::pg::{self, PgDatabase};
use plaza_bench::plaza::{self, Account, Pair, Ws, connect_ws, next_frame, send_call};
use plaza_bench::process::{self, CpuUse, Server, metered, spawn_pinned};
use plaza_bench::rounds::{self, Plan, Round};
use plaza_bench::stats::{Latencies, Window, ms, thousands};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

/// The share of the probe's throughput Plaza aims for on SQLite.
const AIM_SHARE: f64 = 0.60;
/// How long delivery waits for the last messages after the senders stop.
const DELIVERY_GRACE: Duration = Duration::from_secs(5);
/// Local addresses idle WebSockets connect from, so ephemeral ports never run short.
const SOURCES: [Ipv4Addr; 4] = [
    Ipv4Addr::new(127, 0, 0, 1),
    Ipv4Addr::new(127, 0, 0, 2),
    Ipv4Addr::new(127, 0, 0, 3),
    Ipv4Addr::new(127, 0, 0, 4),
];
/// Connections opened and closed before the memory baseline, so caches filled by the first
/// handshakes (SQLite pages, allocator arenas) are not charged to the idle connections.
const WS_WARMUP: usize = 256;
/// Concurrent handshakes while opening idle WebSockets.
const WS_CONNECTORS: usize = 32;
/// The most time opening idle WebSockets may take.
const WS_OPEN_DEADLINE: Duration = Duration::from_secs(180);

#[derive(Parser)]
#[command(about = "Plaza's benchmark suite; run through bench/run")]
struct Args {
    /// The release `plaza` binary.
    #[arg(long)]
    plaza: PathBuf,
    /// The release `probe` binary.
    #[arg(long)]
    probe: PathBuf,
    /// Where databases and server logs go [default: a new directory under the temp dir, removed
    /// after a clean run].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// The core servers are pinned to.
    #[arg(long, default_value_t = 0)]
    server_core: usize,
    /// Concurrent senders (and sender/receiver pairs).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of load before each measurement.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Seconds measured.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Throughput rounds per store: each measures the probe, then Plaza, so each ratio compares
    /// runs seconds apart, and the report gives every round's ratio and their median.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Messages per second offered in the delivery-latency test, over all senders.
    #[arg(long, default_value_t = 5_000)]
    delivery_rate: u32,
    /// Idle WebSockets opened in the memory test.
    #[arg(long, default_value_t = 10_000)]
    websockets: usize,
    /// Stores to measure Plaza on.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "sqlite,postgres")]
    backends: Vec<Backend>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// What the delivery test saw.
struct Delivery {
    /// Messages accepted (`200 OK`) whose send time fell in the measured window.
    sent: u64,
    delivered: u64,
    measured: Duration,
    latencies: Latencies,
    errors: u64,
    first_error: Option<String>,
}

/// What the idle-WebSocket test saw.
struct IdleMemory {
    connected: usize,
    failed: usize,
    first_error: Option<String>,
    before_kib: u64,
    after_kib: u64,
    /// The server's own count of open WebSockets, from `/metrics`.
    server_count: Option<u64>,
}

/// Everything measured on one store; a phase that failed keeps its error.
struct BackendRun {
    cpus: String,
    /// The server's resident memory at points of the load run, in KiB.
    rss: Vec<(&'static str, u64)>,
    throughput: Vec<Round>,
    delivery: anyhow::Result<(Delivery, CpuUse)>,
    memory: anyhow::Result<IdleMemory>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!((1..=1_000).contains(&args.connections), "--connections must be 1..=1000");
    anyhow::ensure!((1..=600).contains(&args.duration) && args.warmup <= 600, "durations must be at most 600 s");
    anyhow::ensure!((1..=20).contains(&args.rounds), "--rounds must be 1..=20");
    anyhow::ensure!((1..=100_000).contains(&args.delivery_rate), "--delivery-rate must be 1..=100000");
    let fd_limit = process::open_files_limit()?;
    // Each idle WebSocket takes a descriptor here and one in the server; keep room for the rest.
    let websockets = args.websockets.min(usize::try_from(fd_limit.saturating_sub(512)).unwrap_or(usize::MAX));
    if websockets < args.websockets {
        eprintln!("open-files limit is {fd_limit}: opening {websockets} WebSockets instead of {}", args.websockets);
    }
    let work = match &args.work_dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("plaza-bench-{:08x}", rand::random::<u32>())),
    };
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    std::fs::write(work.join("plaza.toml"), "auth_attempts_per_minute = 1000000\nauth_attempts_burst = 1000000\n")?;
    let load_at_start = process::load_average();
    let own_cpus = process::own_cpus()?;

    // The probe stays up, idle between its rounds, until every store has been measured.
    let probe = start_probe(&args, &work).await;
    let mut runs = Vec::new();
    for &backend in &args.backends {
        eprintln!("{}: starting plaza", backend.name());
        runs.push((backend, run_backend(backend, &args, &work, websockets, probe.as_ref().ok()).await));
    }
    let probe = match probe {
        Ok(server) => {
            let cpus = server.cpus();
            stop(server).await;
            cpus
        }
        Err(e) => Err(e),
    };

    let mut clean = probe.is_ok();
    for (_, run) in &runs {
        clean &= run.as_ref().is_ok_and(|r| {
            r.throughput.iter().all(|round| round.is_ok() && round.probe.is_some())
                && r.delivery.is_ok()
                && r.memory.is_ok()
        });
    }
    print_report(&args, websockets, &probe, &runs, &load_at_start, &own_cpus);
    if clean && args.work_dir.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    } else {
        println!("databases and server logs kept in {}", work.display());
    }
    Ok(())
}

fn warmup(args: &Args) -> Duration {
    Duration::from_secs(args.warmup)
}

fn duration(args: &Args) -> Duration {
    Duration::from_secs(args.duration)
}

async fn start_probe(args: &Args, work: &Path) -> anyhow::Result<Server> {
    let probe_args =
        vec!["--listen".into(), "127.0.0.1:0".into(), "--db".into(), work.join("probe.db").display().to_string()];
    spawn_pinned("probe", args.server_core, &args.probe, &probe_args, &work.join("probe.log")).await
}

/// Plaza on one store: a fresh SQLite directory or a fresh PostgreSQL database, dropped afterwards.
async fn run_backend(
    backend: Backend,
    args: &Args,
    work: &Path,
    websockets: usize,
    probe: Option<&Server>,
) -> anyhow::Result<BackendRun> {
    let (store_args, database) = match backend {
        Backend::Sqlite => (vec!["--data-dir".to_string(), work.join("plaza-sqlite").display().to_string()], None),
        Backend::Postgres => {
            anyhow::ensure!(pg::available().await, "PostgreSQL does not accept connections on 127.0.0.1:5432");
            let db = PgDatabase::create().await?;
            (vec!["--database-url".to_string(), db.url()], Some(db))
        }
    };
    let run = measure_backend(backend, args, work, &store_args, websockets, probe).await;
    if let Some(db) = database
        && let Err(e) = db.drop_now().await
    {
        eprintln!("warning: {e:#}");
    }
    run
}

async fn start_plaza(
    backend: Backend,
    args: &Args,
    work: &Path,
    store_args: &[String],
    tag: &str,
) -> anyhow::Result<Server> {
    let mut argv = vec!["--config".to_string(), work.join("plaza.toml").display().to_string()];
    argv.extend(store_args.iter().cloned());
    argv.extend(["serve".into(), "--listen".into(), "127.0.0.1:0".into()]);
    let log = work.join(format!("plaza-{}-{tag}.log", backend.name()));
    spawn_pinned(&format!("plaza ({})", backend.name()), args.server_core, &args.plaza, &argv, &log).await
}

async fn stop(server: Server) {
    if let Err(e) = server.stop().await {
        eprintln!("warning: {e:#}");
    }
}

async fn measure_backend(
    backend: Backend,
    args: &Args,
    work: &Path,
    store_args: &[String],
    websockets: usize,
    probe: Option<&Server>,
) -> anyhow::Result<BackendRun> {
    let name = backend.name();
    // A setup failure returns early; the dropped Server kills its process.
    let server = start_plaza(backend, args, work, store_args, "load").await?;
    let cpus = server.cpus()?;
    let mut rss = vec![("at start", server.rss_kib()?)];
    eprintln!("{name}: signing up {} pairs and opening their chats", args.connections);
    let pairs = plaza::prepare_pairs(server.addr, args.connections).await?;
    rss.push(("after sign-ups", server.rss_kib()?));

    let calls: Vec<Call> = pairs.iter().map(|p| send_call(p, "benchmark message")).collect();
    let plan = Plan {
        rounds: args.rounds,
        probe,
        connections: args.connections,
        warmup: warmup(args),
        duration: duration(args),
    };
    let what = format!("message throughput, {} senders", pairs.len());
    let throughput = plan
        .run(name, &what, || async {
            Ok(metered(server.pid, closed_loop(server.addr, calls.clone(), warmup(args), duration(args))).await)
        })
        .await?;
    rss.push(("after throughput", server.rss_kib()?));

    eprintln!("{name}: delivery latency at {} msg/s", args.delivery_rate);
    let delivery =
        metered(server.pid, deliver(server.addr, &pairs, args.delivery_rate, warmup(args), duration(args))).await;
    rss.push(("after delivery", server.rss_kib()?));
    stop(server).await;

    // Memory is measured on a freshly started server over the same store, so the baseline is not
    // inflated by what the load left in caches and allocator pools.
    eprintln!("{name}: {websockets} idle WebSockets on a restarted server");
    let server = start_plaza(backend, args, work, store_args, "idle").await?;
    let accounts: Vec<Account> = pairs.iter().flat_map(|p| [p.sender.clone(), p.receiver.clone()]).collect();
    let memory = idle_websockets(&server, &accounts, websockets).await;
    stop(server).await;
    Ok(BackendRun { cpus, rss, throughput, delivery, memory })
}

/// Each sender posts to its pair's chat on a fixed schedule (open loop), stamping the text with the
/// moment it sends; each receiver's update stream takes the difference on arrival.
async fn deliver(
    addr: SocketAddr,
    pairs: &[Pair],
    rate: u32,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Delivery> {
    let origin = Instant::now();
    let received = Arc::new(AtomicU64::new(0));
    let cancel = CancellationToken::new();
    let n = pairs.len();
    let period = Duration::from_secs_f64(n as f64 / f64::from(rate));
    let mut receivers = Vec::with_capacity(n);
    let mut senders = Vec::with_capacity(n);
    for p in pairs {
        receivers.push(connect_ws(addr, IpAddr::V4(SOURCES[0]), &p.receiver.token).await?);
        senders.push(Conn::connect(addr).await?);
    }
    let start = Instant::now() + Duration::from_millis(100);
    let from = start + warmup;
    let until = from + duration;
    let window = Window { origin, from, until };
    let hard_stop = until + DELIVERY_GRACE + Duration::from_secs(5);

    let mut receiving = JoinSet::new();
    for ws in receivers {
        receiving.spawn(receive(ws, window, hard_stop, cancel.clone(), received.clone()));
    }
    let mut sending = JoinSet::new();
    let ticks = ((warmup + duration).as_secs_f64() / period.as_secs_f64()).ceil() as u64 + 1;
    for (k, (conn, pair)) in senders.into_iter().zip(pairs).enumerate() {
        // Senders are staggered evenly across one period so the offered load is smooth.
        let first = start + period.mul_f64(k as f64 / n as f64);
        let path = format!("/api/v1/chats/{}/messages", pair.chat_id);
        sending.spawn(send_paced(conn, path, pair.sender.token.clone(), window, first, period, ticks));
    }
    let mut out = Delivery {
        sent: 0,
        delivered: 0,
        measured: duration,
        latencies: Latencies::default(),
        errors: 0,
        first_error: None,
    };
    while let Some(part) = sending.join_next().await {
        let part = part.context("sender panicked")?;
        out.sent += part.sent;
        out.errors += part.errors;
        if out.first_error.is_none() {
            out.first_error = part.first_error;
        }
    }
    let grace_end = Instant::now() + DELIVERY_GRACE;
    while received.load(Ordering::Relaxed) < out.sent && Instant::now() < grace_end {
        sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    while let Some(part) = receiving.join_next().await {
        match part.context("receiver panicked")? {
            Ok(latencies) => out.latencies.merge(&latencies),
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| format!("receiver: {e:#}"));
            }
        }
    }
    out.delivered = out.latencies.count();
    Ok(out)
}

#[derive(Default)]
struct Sent {
    sent: u64,
    errors: u64,
    first_error: Option<String>,
}

async fn send_paced(
    mut conn: Conn,
    path: String,
    token: String,
    window: Window,
    first: Instant,
    period: Duration,
    ticks: u64,
) -> Sent {
    let mut out = Sent::default();
    let mut schedule = tokio::time::interval_at(first, period);
    // A send held up by a slow answer is made up at once, so the offered rate stays the target.
    schedule.set_missed_tick_behavior(MissedTickBehavior::Burst);
    for _ in 0..ticks {
        schedule.tick().await;
        let sent_at = Instant::now();
        if sent_at >= window.until {
            break;
        }
        let text = (sent_at - window.origin).as_nanos().to_string();
        let call = Call::post_json(path.as_str(), &serde_json::json!({"text": text})).bearer(&token);
        match conn.send(&call).await {
            Ok((StatusCode::OK, _)) => out.sent += u64::from(window.measures(sent_at)),
            Ok((status, body)) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| format!("{status}: {}", String::from_utf8_lossy(&body)));
            }
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| format!("{e:#}"));
                break;
            }
        }
    }
    out
}

async fn receive(
    mut ws: Ws,
    window: Window,
    hard_stop: Instant,
    cancel: CancellationToken,
    received: Arc<AtomicU64>,
) -> anyhow::Result<Latencies> {
    let mut latencies = Latencies::default();
    loop {
        let frame = tokio::select! {
            () = cancel.cancelled() => break,
            () = sleep_until(hard_stop) => break,
            frame = next_frame(&mut ws) => frame?,
        };
        let arrived = Instant::now();
        let frame = frame.context("the server closed the update stream")?;
        let Some(message) = frame.message.filter(|_| frame.kind == "message_new") else { continue };
        let Ok(nanos) = message.text.parse::<u64>() else { continue };
        let sent = window.origin + Duration::from_nanos(nanos);
        if window.measures(sent) {
            latencies.record(arrived.saturating_duration_since(sent));
            received.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(latencies)
}

/// Opens `n` update streams over `accounts` from several local addresses, waits for every hello,
/// and charges the growth of the server's resident memory to them.
async fn idle_websockets(server: &Server, accounts: &[Account], n: usize) -> anyhow::Result<IdleMemory> {
    anyhow::ensure!(!accounts.is_empty(), "no accounts to connect with");
    let addr = server.addr;
    let source = |i: usize| IpAddr::V4(SOURCES[i % SOURCES.len()]);
    for i in 0..WS_WARMUP.min(n) {
        drop(connect_ws(addr, source(i), &accounts[i % accounts.len()].token).await?);
    }
    sleep(Duration::from_secs(1)).await;
    let before_kib = server.rss_kib()?;

    let tokens: Arc<Vec<String>> = Arc::new(accounts.iter().map(|a| a.token.clone()).collect());
    let deadline = Instant::now() + WS_OPEN_DEADLINE;
    let mut connecting = JoinSet::new();
    for t in 0..WS_CONNECTORS {
        let tokens = tokens.clone();
        connecting.spawn(async move {
            let mut held = Vec::new();
            let (mut failed, mut first_error) = (0, None);
            for i in (t..n).step_by(WS_CONNECTORS) {
                if Instant::now() >= deadline {
                    failed += 1;
                    first_error.get_or_insert_with(|| "out of time".to_string());
                    continue;
                }
                match connect_ws(addr, source(i), &tokens[i % tokens.len()]).await {
                    Ok(ws) => held.push(ws),
                    Err(e) => {
                        failed += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            (held, failed, first_error)
        });
    }
    let mut held: Vec<Ws> = Vec::with_capacity(n);
    let (mut failed, mut first_error) = (0, None);
    while let Some(part) = connecting.join_next().await {
        let (ws, f, e) = part.context("connecting task panicked")?;
        held.extend(ws);
        failed += f;
        if first_error.is_none() {
            first_error = e;
        }
    }
    // The server has sent every hello; a moment lets it finish whatever follows the handshake.
    sleep(Duration::from_secs(2)).await;
    let after_kib = server.rss_kib()?;
    let server_count = websocket_gauge(addr).await.ok();
    let connected = held.len();
    drop(held);
    Ok(IdleMemory { connected, failed, first_error, before_kib, after_kib, server_count })
}

/// `plaza_websocket_connections` from the server's `/metrics`.
async fn websocket_gauge(addr: SocketAddr) -> anyhow::Result<u64> {
    let mut conn = Conn::connect(addr).await?;
    let (_, body) = conn.send(&Call::get("/metrics")).await?;
    let text = String::from_utf8_lossy(&body);
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next().is_some_and(|name| name.ends_with("websocket_connections")))
        .context("no websocket_connections in /metrics")?;
    line.split_whitespace().last().context("a value")?.parse().context("the gauge is a whole number")
}

fn machine() -> String {
    let cores = std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    format!("{cores} cores, {mem_gib:.1} GiB RAM")
}

fn print_report(
    args: &Args,
    websockets: usize,
    probe: &anyhow::Result<String>,
    runs: &[(Backend, anyhow::Result<BackendRun>)],
    load_at_start: &str,
    own_cpus: &str,
) {
    println!();
    println!("=== Plaza benchmark report ===");
    println!("machine: {}; load average at start {load_at_start}, at end {}", machine(), process::load_average());
    let server_cpus = match probe {
        Ok(cpus) => cpus.clone(),
        Err(e) => {
            println!("probe: failed: {e:#}");
            "?".into()
        }
    };
    println!(
        "pinning: servers on CPU {server_cpus} (taskset -c {}), load generator on CPU {own_cpus} with one tokio thread",
        args.server_core
    );
    if runs.iter().any(|(b, _)| *b == Backend::Postgres) {
        println!("         PostgreSQL's own processes are not pinned");
    }

    println!();
    println!(
        "durable writes: {} keep-alive HTTP/1.1 connections, one request in flight each, {} s warm-up + {} s measured; \
         {} rounds per store, each the probe (bare axum + SQLite group commit, one row per request) then Plaza",
        args.connections, args.warmup, args.duration, args.rounds
    );
    for (backend, run) in runs {
        let name = backend.name();
        let rounds = match run {
            Ok(r) => &r.throughput,
            Err(e) => {
                println!("  {}failed: {e:#}", label(name));
                continue;
            }
        };
        for (i, round) in rounds.iter().enumerate() {
            let mut line = format!("  round {}  ", i + 1);
            match &round.probe {
                Some(Ok((r, cpu))) => {
                    line += &format!(
                        "{}{:>7} req/s  {}  {}{}",
                        label("probe"),
                        thousands(r.per_second()),
                        r.latencies.summary(),
                        cpu.note_per_op(r.per_second()),
                        errors_note(r.errors, &r.first_error)
                    )
                }
                Some(Err(e)) => line += &format!("{}failed: {e:#}", label("probe")),
                None => line += &format!("{}not running", label("probe")),
            }
            println!("{line}");
            match &round.system {
                Ok((r, cpu)) => {
                    let share = round.share().map_or_else(String::new, |s| format!(" = {s:.2} × probe"));
                    println!(
                        "           {}{:>7} msg/s{share}  {}  {}{}",
                        label(name),
                        thousands(r.per_second()),
                        r.latencies.summary(),
                        cpu.note_per_op(r.per_second()),
                        errors_note(r.errors, &r.first_error)
                    );
                }
                Err(e) => println!("           {}failed: {e:#}", label(name)),
            }
        }
        let (median, shares) = rounds::shares(rounds);
        if let Some(median) = median {
            let each: Vec<String> = shares.iter().map(|s| format!("{s:.2}")).collect();
            let aim = if *backend == Backend::Sqlite { format!("; aim ≥ {AIM_SHARE:.2}") } else { String::new() };
            println!(
                "  {}median {median:.2} × probe over {} rounds ({}){aim}",
                label(name),
                shares.len(),
                each.join(", ")
            );
        }
    }
    println!();
    println!(
        "delivery to WebSocket receivers: {} msg/s offered by {} paced senders to {} receivers, \
         send → receive, {} s measured (aim p99 < 10 ms)",
        thousands(f64::from(args.delivery_rate)),
        args.connections,
        args.connections,
        args.duration
    );
    for (backend, run) in runs {
        match run.as_ref().map(|r| &r.delivery) {
            Ok(Ok((d, cpu))) => {
                let lost = d.sent.saturating_sub(d.delivered);
                let rate = d.sent as f64 / d.measured.as_secs_f64();
                // Each sender has one request in flight; when answers take longer than its pacing
                // interval it falls behind, and the latency shown is that of a slower stream.
                let behind = if rate < 0.95 * f64::from(args.delivery_rate) {
                    "; below the offered rate, as answers took longer than the pacing interval"
                } else {
                    ""
                };
                println!(
                    "  {}p50 {}  p99 {}  max {}  {}   ({} sent = {} msg/s, {} delivered{}{behind}){}",
                    label(backend.name()),
                    ms(d.latencies.quantile(0.50)),
                    ms(d.latencies.quantile(0.99)),
                    ms(d.latencies.max()),
                    cpu.note(),
                    thousands(d.sent as f64),
                    thousands(rate),
                    thousands(d.delivered as f64),
                    if lost > 0 { format!(", {lost} not within {DELIVERY_GRACE:?}") } else { String::new() },
                    errors_note(d.errors, &d.first_error)
                );
            }
            Ok(Err(e)) | Err(e) => println!("  {}failed: {e:#}", label(backend.name())),
        }
    }

    println!();
    println!(
        "idle WebSockets: {} update streams over {} users from {} local addresses, every hello received \
         (aim < 10 KiB each)",
        thousands(websockets as f64),
        2 * args.connections,
        SOURCES.len()
    );
    for (backend, run) in runs {
        match run.as_ref().map(|r| &r.memory) {
            Ok(Ok(m)) => {
                let per = m.after_kib.saturating_sub(m.before_kib) as f64 / m.connected.max(1) as f64;
                let counted = m
                    .server_count
                    .map_or_else(String::new, |c| format!("; server counts {} open", thousands(c as f64)));
                let failed = if m.failed > 0 {
                    format!("; {} failed, first: {}", m.failed, m.first_error.as_deref().unwrap_or("?"))
                } else {
                    String::new()
                };
                println!(
                    "  {}{per:.1} KiB per connection   (RSS {} → {} KiB with {} open{counted}{failed})",
                    label(backend.name()),
                    thousands(m.before_kib as f64),
                    thousands(m.after_kib as f64),
                    thousands(m.connected as f64)
                );
            }
            Ok(Err(e)) | Err(e) => println!("  {}failed: {e:#}", label(backend.name())),
        }
    }
    println!();
    println!("plaza's resident memory during the load runs:");
    for (backend, run) in runs {
        if let Ok(r) = run {
            let points: Vec<String> =
                r.rss.iter().map(|(when, kib)| format!("{} MiB {when}", thousands(*kib as f64 / 1024.0))).collect();
            println!("  {}{}", label(backend.name()), points.join(", "));
        }
    }
    for (backend, run) in runs {
        if let Ok(r) = run
            && r.cpus != server_cpus
        {
            println!("note: plaza ({}) ran on CPU {}", backend.name(), r.cpus);
        }
    }
}

fn label(name: &str) -> String {
    format!("{:<10}", format!("{name}:"))
}

fn errors_note(errors: u64, first: &Option<String>) -> String {
    if errors == 0 {
        return String::new();
    }
    format!("  [{errors} errors; first: {}]", first.as_deref().unwrap_or("?"))
}
