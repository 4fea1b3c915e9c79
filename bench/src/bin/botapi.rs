//! The Bot API benchmark behind `bench/botapi`: Plaza's Bot API beside telegram-test-api (the
//! best-known fake Bot API server, which keeps everything in memory) and the physical-limit probe,
//! in one run, under one workload, printed as one table.
//!
//! The workload is many bots in many chats: every one of `--people` people has started every one
//! of `--bots` bots. Three things are measured on each server:
//!
//! - **sendMessage/s**: bots call `sendMessage` in a closed loop, `--connections-per-bot` keep-alive
//!   connections per bot, each writing to its share of the bot's chats in turn. Plaza answers once
//!   the message is durable; the peer once it is in an array.
//! - **person → bot**: people send messages at a fixed total rate (`--delivery-rate`, open loop)
//!   through the server's client API, and every bot long-polls `getUpdates`. Bots never see their
//!   own or other bots' messages, as on Telegram, so this is how a bot receives. Latency runs from
//!   the start of the person's send request to the arrival of the `getUpdates` answer holding it.
//! - **bot → person**: bots call `sendMessage` at the same rate, and each person's client receives:
//!   on Plaza its update-stream WebSocket, on the peer its client API's `getUpdates`, which has no
//!   long poll and no per-person stream, so each person polls its chat with every bot in turn.
//!
//! telegram-test-api answers `getUpdates` at once, whatever `timeout` says, so its pollers ask
//! again after `--peer-poll-ms` when an answer is empty. It is restarted before each measurement,
//! because it scans every message it holds on each `getUpdates` and forgets nothing for 60 s.
//!
//! Servers run pinned to `--server-core`, this process is meant to run pinned to another core
//! (`taskset -c 1`) with one tokio thread. Progress goes to stderr, the report to stdout. Figures
//! are printed, never asserted.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use hyper::StatusCode;
use plaza_bench::botapi::{self, Bot, Cast, Flavor, Person, Template, UpdatesAnswer};
use plaza_bench::http::{Call, Conn, LoadResult, closed_loop_cycling, failure};
use plaza_bench::pg::{self, PgDatabase};
use plaza_bench::plaza::{Ws, connect_ws, next_frame};
use plaza_bench::process::{self, CpuUse, Server, metered, spawn_pinned};
use plaza_bench::rounds::{self, Measured, Plan, Round};
use plaza_bench::stats::{Latencies, Window, ms, thousands};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

/// How long delivery waits for the last messages after the senders stop.
const DELIVERY_GRACE: Duration = Duration::from_secs(5);
/// `timeout` of Plaza's `getUpdates` long polls, in seconds.
const LONG_POLL_SECONDS: u32 = 25;
/// The aims, shown beside the figures.
const AIM_PEER_RATIO: f64 = 4.0;
const AIM_PROBE_SHARE: f64 = 0.60;
const AIM_P99: Duration = Duration::from_millis(10);

#[derive(Parser)]
#[command(about = "Plaza's Bot API beside telegram-test-api and the probe; run through bench/botapi")]
struct Args {
    /// The release `plaza` binary.
    #[arg(long)]
    plaza: PathBuf,
    /// The release `probe` binary.
    #[arg(long)]
    probe: PathBuf,
    /// The directory with telegram-test-api installed (`npm ci`) and `serve.js`.
    #[arg(long)]
    peer_dir: PathBuf,
    /// The Node.js binary that runs telegram-test-api.
    #[arg(long, default_value = "node")]
    node: PathBuf,
    /// Where databases and server logs go [default: a new directory under the temp dir, removed
    /// after a clean run].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// The core servers are pinned to.
    #[arg(long, default_value_t = 0)]
    server_core: usize,
    /// Bots.
    #[arg(long, default_value_t = 20)]
    bots: usize,
    /// People, each in a private chat with every bot (so also chats per bot).
    #[arg(long, default_value_t = 50)]
    people: usize,
    /// Keep-alive connections per bot sending messages; the probe gets as many in all.
    #[arg(long, default_value_t = 3)]
    connections_per_bot: usize,
    /// Seconds of load before each measurement.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Seconds measured.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// sendMessage throughput rounds per system: each measures the probe, then the system, so each
    /// ratio compares runs seconds apart; the table gives the medians, the details every round.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Messages per second offered in the delivery tests, over all senders.
    #[arg(long, default_value_t = 5_000)]
    delivery_rate: u32,
    /// Milliseconds a telegram-test-api poller waits after an empty answer before it asks again.
    #[arg(long, default_value_t = 1)]
    peer_poll_ms: u64,
    /// What to measure: the probe, telegram-test-api (`peer`) and Plaza on SQLite and PostgreSQL.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "probe,peer,sqlite,postgres")]
    systems: Vec<System>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum System {
    Probe,
    Peer,
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl Args {
    fn warmup(&self) -> Duration {
        Duration::from_secs(self.warmup)
    }

    fn duration(&self) -> Duration {
        Duration::from_secs(self.duration)
    }

    fn connections(&self) -> usize {
        self.bots * self.connections_per_bot
    }

    fn peer_pause(&self) -> Duration {
        Duration::from_millis(self.peer_poll_ms)
    }
}

/// What a delivery test saw.
struct Delivery {
    /// Messages accepted (`200 OK`) whose send time fell in the measured window.
    sent: u64,
    /// How long those sends took to be answered.
    send_latencies: Latencies,
    delivered: u64,
    measured: Duration,
    latencies: Latencies,
    /// Requests the receivers had answered in the measured window (none for WebSockets).
    polls: u64,
    errors: u64,
    first_error: Option<String>,
}

/// Everything measured on one server; a phase that failed keeps its error.
struct SystemRun {
    name: String,
    /// How the server ran, for the details.
    note: String,
    durable: bool,
    cpus: String,
    throughput: Vec<Round>,
    to_bots: anyhow::Result<(Delivery, CpuUse)>,
    to_people: anyhow::Result<(Delivery, CpuUse)>,
}

impl SystemRun {
    fn clean(&self) -> bool {
        self.throughput.iter().all(Round::is_ok) && self.to_bots.is_ok() && self.to_people.is_ok()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!((1..=200).contains(&args.bots), "--bots must be 1..=200");
    anyhow::ensure!((1..=500).contains(&args.people), "--people must be 1..=500");
    anyhow::ensure!((1..=20).contains(&args.connections_per_bot), "--connections-per-bot must be 1..=20");
    anyhow::ensure!(args.connections() <= 1_000, "at most 1000 sending connections");
    anyhow::ensure!((1..=600).contains(&args.duration) && args.warmup <= 600, "durations must be at most 600 s");
    anyhow::ensure!((1..=100_000).contains(&args.delivery_rate), "--delivery-rate must be 1..=100000");
    anyhow::ensure!(args.peer_poll_ms <= 1_000, "--peer-poll-ms must be at most 1000");
    anyhow::ensure!((1..=20).contains(&args.rounds), "--rounds must be 1..=20");
    let work = match &args.work_dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("plaza-botapi-{:08x}", rand::random::<u32>())),
    };
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    std::fs::write(work.join("plaza.toml"), "auth_attempts_per_minute = 1000000\nauth_attempts_burst = 1000000\n")?;
    let load_at_start = process::load_average();
    let own_cpus = process::own_cpus()?;

    // The probe stays up, idle between its rounds, until every system has been measured.
    let probe = if args.systems.contains(&System::Probe) { Some(start_probe(&args, &work).await) } else { None };
    let running = probe.as_ref().and_then(|p| p.as_ref().ok());
    let mut runs = Vec::new();
    for &system in &args.systems {
        match system {
            System::Probe => {}
            System::Peer => runs.push(run_peer(&args, &work, running).await),
            System::Sqlite => runs.push(run_plaza(Backend::Sqlite, &args, &work, running).await),
            System::Postgres => runs.push(run_plaza(Backend::Postgres, &args, &work, running).await),
        }
    }
    let probe = match probe {
        Some(Ok(server)) => {
            let cpus = server.cpus();
            stop(server).await;
            Some(cpus)
        }
        Some(Err(e)) => Some(Err(e)),
        None => None,
    };

    let clean = probe.as_ref().is_none_or(Result::is_ok) && runs.iter().all(|r| r.as_ref().is_ok_and(SystemRun::clean));
    print_report(&args, &probe, &runs, &load_at_start, &own_cpus);
    if clean && args.work_dir.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    } else {
        println!("databases and server logs kept in {}", work.display());
    }
    Ok(())
}

async fn start_probe(args: &Args, work: &Path) -> anyhow::Result<Server> {
    let probe_args =
        vec!["--listen".into(), "127.0.0.1:0".into(), "--db".into(), work.join("probe.db").display().to_string()];
    spawn_pinned("probe", args.server_core, &args.probe, &probe_args, &work.join("probe.log")).await
}

async fn stop(server: Server) {
    if let Err(e) = server.stop().await {
        eprintln!("warning: {e:#}");
    }
}

/// telegram-test-api, started afresh for each measurement so none inherits the last one's messages.
async fn run_peer(args: &Args, work: &Path, probe: Option<&Server>) -> anyhow::Result<SystemRun> {
    let name = "telegram-test-api";
    let serve = args.peer_dir.join("serve.js");
    anyhow::ensure!(serve.exists(), "{} is missing", serve.display());
    anyhow::ensure!(
        args.peer_dir.join("node_modules/telegram-test-api").exists(),
        "telegram-test-api is not installed: run `npm ci` in {}",
        args.peer_dir.display()
    );
    let start = |tag: &'static str| {
        let serve = serve.display().to_string();
        async move {
            let log = work.join(format!("peer-{tag}.log"));
            spawn_pinned(name, args.server_core, &args.node, &[serve], &log).await
        }
    };

    let throughput = throughput_rounds(args, probe, name, || async {
        let server = start("throughput").await?;
        let cast = botapi::peer_cast(server.addr, args.bots, args.people);
        let measured = metered(server.pid, send_throughput(&cast, args)).await;
        stop(server).await;
        Ok(measured)
    })
    .await?;

    eprintln!("{name}: person → bot delivery at {} msg/s", args.delivery_rate);
    let server = start("to-bots").await?;
    let cpus = server.cpus()?;
    let cast = botapi::peer_cast(server.addr, args.bots, args.people);
    let to_bots = metered(server.pid, deliver_to_bots(&cast, args)).await;
    stop(server).await;

    eprintln!("{name}: bot → person delivery at {} msg/s", args.delivery_rate);
    let server = start("to-people").await?;
    let cast = botapi::peer_cast(server.addr, args.bots, args.people);
    let to_people = metered(server.pid, deliver_to_people(&cast, args)).await;
    stop(server).await;
    let note = format!("restarted before each figure; pollers wait {} ms after an empty answer", args.peer_poll_ms);
    Ok(SystemRun { name: name.into(), note, durable: false, cpus, throughput, to_bots, to_people })
}

/// `args.rounds` rounds, each measuring the probe (when it runs, with as many connections as the
/// bots' senders), then the system's sendMessage throughput with `system`.
async fn throughput_rounds<F: Future<Output = anyhow::Result<Measured>>>(
    args: &Args,
    probe: Option<&Server>,
    name: &str,
    system: impl FnMut() -> F,
) -> anyhow::Result<Vec<Round>> {
    let plan = Plan {
        rounds: args.rounds,
        probe,
        connections: args.connections(),
        warmup: args.warmup(),
        duration: args.duration(),
    };
    plan.run(name, &format!("sendMessage throughput, {} connections", args.connections()), system).await
}

/// Plaza on one store: a fresh SQLite directory or a fresh PostgreSQL database, dropped afterwards.
async fn run_plaza(backend: Backend, args: &Args, work: &Path, probe: Option<&Server>) -> anyhow::Result<SystemRun> {
    let (store_args, database) = match backend {
        Backend::Sqlite => (vec!["--data-dir".to_string(), work.join("botapi-sqlite").display().to_string()], None),
        Backend::Postgres => {
            anyhow::ensure!(pg::available().await, "PostgreSQL does not accept connections on 127.0.0.1:5432");
            let db = PgDatabase::create().await?;
            (vec!["--database-url".to_string(), db.url()], Some(db))
        }
    };
    let run = measure_plaza(backend, args, work, &store_args, probe).await;
    if let Some(db) = database
        && let Err(e) = db.drop_now().await
    {
        eprintln!("warning: {e:#}");
    }
    run
}

async fn measure_plaza(
    backend: Backend,
    args: &Args,
    work: &Path,
    store_args: &[String],
    probe: Option<&Server>,
) -> anyhow::Result<SystemRun> {
    let name = format!("plaza ({})", backend.name());
    eprintln!("{name}: creating {} bots with the CLI", args.bots);
    let mut global = vec!["--config".to_string(), work.join("plaza.toml").display().to_string()];
    global.extend(store_args.iter().cloned());
    let bots = botapi::create_plaza_bots(&args.plaza, &global, args.bots).await?;

    let mut argv = global;
    argv.extend(["serve".into(), "--listen".into(), "127.0.0.1:0".into()]);
    // Telegram's flood limits (1 message/s per chat…) would refuse this workload; builds that have
    // them can switch them off, older builds have none.
    let flood = botapi::plaza_has_flag(&args.plaza, "serve", "--no-flood-limits").await?;
    if flood {
        argv.push("--no-flood-limits".into());
    }
    let log = work.join(format!("plaza-botapi-{}.log", backend.name()));
    // A setup failure returns early; the dropped Server kills its process.
    let server = spawn_pinned(&name, args.server_core, &args.plaza, &argv, &log).await?;
    let cpus = server.cpus()?;
    eprintln!("{name}: signing up {} people, each starting every bot", args.people);
    let people = botapi::plaza_people(server.addr, &bots, args.people).await?;
    let cast = Cast { flavor: Flavor::Plaza, addr: server.addr, bots, people };
    let drained = botapi::drain_updates(&cast).await?;
    anyhow::ensure!(drained == (args.bots * args.people) as u64, "the bots had {drained} /start updates");

    let throughput =
        throughput_rounds(args, probe, &name, || async { Ok(metered(server.pid, send_throughput(&cast, args)).await) })
            .await?;
    eprintln!("{name}: person → bot delivery at {} msg/s", args.delivery_rate);
    let to_bots = metered(server.pid, deliver_to_bots(&cast, args)).await;
    eprintln!("{name}: bot → person delivery at {} msg/s", args.delivery_rate);
    let to_people = metered(server.pid, deliver_to_people(&cast, args)).await;
    stop(server).await;
    let note = if flood { "flood limits off (serve --no-flood-limits)" } else { "this build has no flood limits" };
    Ok(SystemRun { name, note: note.into(), durable: true, cpus, throughput, to_bots, to_people })
}

/// The bots' sending connections: `connections_per_bot` for each bot, connection `j` writing to
/// the people `p` with `p % connections_per_bot == j`, in turn.
fn bot_senders(cast: &Cast, args: &Args) -> Vec<Vec<Template>> {
    let k = args.connections_per_bot;
    let mut senders = Vec::with_capacity(cast.bots.len() * k);
    for j in 0..k {
        for bot in &cast.bots {
            let chats: Vec<Template> =
                cast.people.iter().skip(j).step_by(k).map(|person| cast.bot_sends(bot, person)).collect();
            if !chats.is_empty() {
                senders.push(chats);
            }
        }
    }
    senders
}

/// Bots' `sendMessage` in a closed loop.
async fn send_throughput(cast: &Cast, args: &Args) -> anyhow::Result<LoadResult> {
    let calls = bot_senders(cast, args)
        .into_iter()
        .map(|chats| chats.iter().map(|t| t.with_text("benchmark message")).collect())
        .collect();
    closed_loop_cycling(cast.addr, calls, args.warmup(), args.duration()).await
}

/// People write to bots at the offered rate, one connection each, to every bot in turn; every bot
/// polls `getUpdates`.
async fn deliver_to_bots(cast: &Cast, args: &Args) -> anyhow::Result<Delivery> {
    let senders: Vec<Vec<Template>> =
        cast.people.iter().map(|person| cast.bots.iter().map(|bot| cast.person_sends(person, bot)).collect()).collect();
    let mut receivers = Vec::with_capacity(cast.bots.len());
    for bot in &cast.bots {
        let conn = Conn::connect(cast.addr).await?;
        receivers.push(Receiver::Bot { conn, cast: cast.clone(), bot: bot.clone() });
    }
    deliver(cast, senders, receivers, args).await
}

/// Bots write to people at the offered rate over their sending connections; every person's client
/// receives.
async fn deliver_to_people(cast: &Cast, args: &Args) -> anyhow::Result<Delivery> {
    let mut receivers = Vec::with_capacity(cast.people.len());
    for person in &cast.people {
        receivers.push(match cast.flavor {
            Flavor::Plaza => {
                let token = person.session.as_deref().context("a Plaza person has a session")?;
                Receiver::PlazaClient(connect_ws(cast.addr, IpAddr::V4(Ipv4Addr::LOCALHOST), token).await?)
            }
            Flavor::Peer => Receiver::PeerClient {
                conn: Conn::connect(cast.addr).await?,
                cast: cast.clone(),
                person: person.clone(),
            },
        });
    }
    deliver(cast, bot_senders(cast, args), receivers, args).await
}

/// Who receives in a delivery test, and how.
enum Receiver {
    /// A bot polling `getUpdates`: a long poll on Plaza; on the peer, again after a pause when empty.
    Bot { conn: Conn, cast: Cast, bot: Bot },
    /// A person's update-stream WebSocket on Plaza.
    PlazaClient(Ws),
    /// A person on the peer, polling its chat with each bot in turn, pausing after a round
    /// that found nothing.
    PeerClient { conn: Conn, cast: Cast, person: Person },
}

/// Each sender posts on a fixed schedule (open loop), to its targets in turn, stamping the text
/// with the moment it sends; receivers take the difference on arrival.
async fn deliver(
    cast: &Cast,
    senders: Vec<Vec<Template>>,
    receivers: Vec<Receiver>,
    args: &Args,
) -> anyhow::Result<Delivery> {
    let origin = Instant::now();
    let received = Arc::new(AtomicU64::new(0));
    let cancel = CancellationToken::new();
    let n = senders.len();
    let period = Duration::from_secs_f64(n as f64 / f64::from(args.delivery_rate));
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(Conn::connect(cast.addr).await?);
    }
    let start = Instant::now() + Duration::from_millis(100);
    let from = start + args.warmup();
    let until = from + args.duration();
    let window = Window { origin, from, until };
    let hard_stop = until + DELIVERY_GRACE + Duration::from_secs(5);

    let mut receiving = JoinSet::new();
    for r in receivers {
        let ctx = ReceiveCtx { window, hard_stop, cancel: cancel.clone(), received: received.clone() };
        receiving.spawn(receive(r, ctx, args.peer_pause()));
    }
    let mut sending = JoinSet::new();
    let ticks = ((args.warmup() + args.duration()).as_secs_f64() / period.as_secs_f64()).ceil() as u64 + 1;
    for (k, (conn, targets)) in conns.into_iter().zip(senders).enumerate() {
        // Senders are staggered evenly across one period so the offered load is smooth.
        let first = start + period.mul_f64(k as f64 / n as f64);
        sending.spawn(send_paced(conn, targets, window, first, period, ticks));
    }
    let mut out = Delivery {
        sent: 0,
        send_latencies: Latencies::default(),
        delivered: 0,
        measured: args.duration(),
        latencies: Latencies::default(),
        polls: 0,
        errors: 0,
        first_error: None,
    };
    while let Some(part) = sending.join_next().await {
        let part = part.context("sender panicked")?;
        out.sent += part.sent;
        out.send_latencies.merge(&part.latencies);
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
            Ok((latencies, polls)) => {
                out.latencies.merge(&latencies);
                out.polls += polls;
            }
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
    /// How long the measured sends took to be answered.
    latencies: Latencies,
    errors: u64,
    first_error: Option<String>,
}

async fn send_paced(
    mut conn: Conn,
    targets: Vec<Template>,
    window: Window,
    first: Instant,
    period: Duration,
    ticks: u64,
) -> Sent {
    let mut out = Sent::default();
    let mut schedule = tokio::time::interval_at(first, period);
    // A send held up by a slow answer is made up at once, so the offered rate stays the target.
    schedule.set_missed_tick_behavior(MissedTickBehavior::Burst);
    for target in targets.iter().cycle().take(usize::try_from(ticks).unwrap_or(usize::MAX)) {
        schedule.tick().await;
        let sent_at = Instant::now();
        if sent_at >= window.until {
            break;
        }
        let call = target.with_text(&(sent_at - window.origin).as_nanos().to_string());
        match conn.send(&call).await {
            Ok((StatusCode::OK, _)) => {
                if window.measures(sent_at) {
                    out.sent += 1;
                    out.latencies.record(sent_at.elapsed());
                }
            }
            Ok((status, body)) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| failure(&call, status, &body));
            }
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| format!("{}: {e:#}", call.describe()));
                break;
            }
        }
    }
    out
}

/// What every receiver shares.
struct ReceiveCtx {
    window: Window,
    hard_stop: Instant,
    cancel: CancellationToken,
    received: Arc<AtomicU64>,
}

impl ReceiveCtx {
    /// Records a message that arrived at `arrived` if its text is a send time in the window.
    fn arrived(&self, text: Option<&str>, arrived: Instant, latencies: &mut Latencies) {
        let Some(nanos) = text.and_then(|t| t.parse::<u64>().ok()) else { return };
        let sent = self.window.origin + Duration::from_nanos(nanos);
        if self.window.measures(sent) {
            latencies.record(arrived.saturating_duration_since(sent));
            self.received.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits for `work` unless the test ends first.
    async fn unless_done<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            () = self.cancel.cancelled() => None,
            () = sleep_until(self.hard_stop) => None,
            out = work => Some(out),
        }
    }
}

/// The latencies of the messages a receiver got, and how many requests it made for them.
async fn receive(receiver: Receiver, ctx: ReceiveCtx, pause: Duration) -> anyhow::Result<(Latencies, u64)> {
    let mut latencies = Latencies::default();
    let mut polls = 0;
    match receiver {
        Receiver::Bot { mut conn, cast, bot } => {
            let mut offset = 0;
            loop {
                let call = cast.get_updates(&bot, offset, LONG_POLL_SECONDS);
                let Some(answer) = ctx.unless_done(conn.send(&call)).await else { break };
                let arrived = Instant::now();
                polls += u64::from(ctx.window.measures(arrived));
                let updates = updates_in(&call, answer)?;
                for u in &updates {
                    ctx.arrived(u.message.as_ref().and_then(|m| m.text.as_deref()), arrived, &mut latencies);
                    if let Some(id) = u.update_id {
                        offset = offset.max(id + 1);
                    }
                }
                if updates.is_empty() && cast.flavor == Flavor::Peer && ctx.unless_done(sleep(pause)).await.is_none() {
                    break;
                }
            }
        }
        Receiver::PlazaClient(mut ws) => {
            while let Some(frame) = ctx.unless_done(next_frame(&mut ws)).await {
                let arrived = Instant::now();
                let frame = frame?.context("the server closed the update stream")?;
                if frame.kind == "message_new" {
                    ctx.arrived(frame.message.as_ref().map(|m| m.text.as_str()), arrived, &mut latencies);
                }
            }
        }
        Receiver::PeerClient { mut conn, cast, person } => 'polling: loop {
            let mut found = false;
            for bot in &cast.bots {
                let call = cast.peer_client_poll(&person, bot);
                let Some(answer) = ctx.unless_done(conn.send(&call)).await else { break 'polling };
                let arrived = Instant::now();
                polls += u64::from(ctx.window.measures(arrived));
                for u in updates_in(&call, answer)? {
                    found = true;
                    ctx.arrived(u.message.as_ref().and_then(|m| m.text.as_deref()), arrived, &mut latencies);
                }
            }
            if !found && ctx.unless_done(sleep(pause)).await.is_none() {
                break;
            }
        },
    }
    Ok((latencies, polls))
}

/// The updates in a `getUpdates` answer; anything but `200 OK` with `ok: true` is an error that
/// names the request.
fn updates_in(
    call: &Call,
    answer: anyhow::Result<(StatusCode, hyper::body::Bytes)>,
) -> anyhow::Result<Vec<botapi::Update>> {
    let (status, body) = answer.with_context(|| call.describe())?;
    anyhow::ensure!(status == StatusCode::OK, "{}", failure(call, status, &body));
    let answer: UpdatesAnswer =
        serde_json::from_slice(&body).with_context(|| format!("decoding the answer to {}", call.describe()))?;
    anyhow::ensure!(answer.ok, "{}", failure(call, status, &body));
    Ok(answer.result)
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

/// `0.77 / 2.10 / 7.88 ms`, or why there is no figure.
fn quantiles(d: &anyhow::Result<(Delivery, CpuUse)>) -> String {
    match d {
        Ok((d, _)) if d.latencies.count() > 0 => format!(
            "{:.2} / {:.2} / {:.2} ms",
            d.latencies.quantile(0.50).as_secs_f64() * 1e3,
            d.latencies.quantile(0.95).as_secs_f64() * 1e3,
            d.latencies.quantile(0.99).as_secs_f64() * 1e3
        ),
        Ok(_) => "nothing delivered".into(),
        Err(_) => "failed".into(),
    }
}

/// Prints rows as a table whose columns are as wide as their widest cell.
fn print_table(rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| if c == 0 { format!("{cell:<w$}") } else { format!("{cell:>w$}") })
            .collect();
        println!("| {} |", cells.join(" | "));
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
            println!("|-{}-|", rule.join("-|-"));
        }
    }
}

fn print_report(
    args: &Args,
    probe: &Option<anyhow::Result<String>>,
    runs: &[anyhow::Result<SystemRun>],
    load_at_start: &str,
    own_cpus: &str,
) {
    let rate = thousands(f64::from(args.delivery_rate));
    println!();
    println!("=== Bot API benchmark: Plaza beside telegram-test-api and the physical-limit probe ===");
    println!("machine: {}; load average at start {load_at_start}, at end {}", machine(), process::load_average());
    println!(
        "pinning: servers with taskset -c {}, load generator on CPU {own_cpus} with one tokio thread{}",
        args.server_core,
        if args.systems.contains(&System::Postgres) { "; PostgreSQL's own processes are not pinned" } else { "" }
    );
    println!(
        "workload: {} bots × {} people, every person in a private chat with every bot ({} chats); \
         {} s warm-up + {} s measured per figure",
        args.bots,
        args.people,
        thousands((args.bots * args.people) as f64),
        args.warmup,
        args.duration
    );
    println!(
        "  sendMessage/s: bots' sendMessage in a closed loop over {} keep-alive connections ({} per bot, each \
         writing to its chats in turn), one request in flight each; the probe gets {} connections",
        args.connections(),
        args.connections_per_bot,
        args.connections()
    );
    println!(
        "  person → bot: {rate} msg/s offered by {} paced people (client API), received by {} bots polling getUpdates; \
         from the start of the send request to the getUpdates answer that holds the message",
        args.people, args.bots
    );
    println!(
        "  bot → person: {rate} msg/s offered by the {} sendMessage connections, paced; received by each person's \
         client (Plaza: update-stream WebSocket; telegram-test-api: its client getUpdates, polled per chat)",
        args.connections()
    );

    // Medians over the rounds: the probe's over every round of every system.
    let probe_median = rounds::median_measured(
        runs.iter().flatten().flat_map(|r| &r.throughput).filter_map(|round| round.probe.as_ref()),
    );
    let peer_rate = runs
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .find(|r| !r.durable)
        .and_then(|r| rounds::median_measured(r.throughput.iter().map(|round| &round.system)))
        .map(|(t, _)| t.per_second());
    let ratio =
        |x: f64, of: Option<f64>| of.filter(|&v| v > 0.0).map_or_else(|| "–".to_string(), |v| format!("{:.2}×", x / v));

    let mut rows = vec![vec![
        "system".to_string(),
        "durable".to_string(),
        "sendMessage/s".to_string(),
        "send p50 / p99".to_string(),
        format!("person → bot p50 / p95 / p99 at {rate}/s"),
        format!("bot → person p50 / p95 / p99 at {rate}/s"),
        "÷ peer".to_string(),
        "÷ probe".to_string(),
    ]];
    match (probe, probe_median) {
        (None, _) => {}
        (Some(Ok(_)), Some((r, _))) => rows.push(vec![
            "probe (axum + SQLite group commit)".into(),
            "yes".into(),
            format!("{} appends", thousands(r.per_second())),
            format!("{} / {}", ms(r.latencies.quantile(0.5)), ms(r.latencies.quantile(0.99))),
            "–".into(),
            "–".into(),
            "–".into(),
            "1.00×".into(),
        ]),
        (Some(_), _) => rows.push(vec!["probe".into(), "yes".into(), "failed".into()]),
    }
    for run in runs.iter().flatten() {
        let vs_probe = rounds::shares(&run.throughput).0.map_or_else(|| "–".to_string(), |s| format!("{s:.2}×"));
        let (sends, send_lat, vs_peer) = match rounds::median_measured(run.throughput.iter().map(|r| &r.system)) {
            Some((t, _)) => (
                thousands(t.per_second()),
                format!("{} / {}", ms(t.latencies.quantile(0.5)), ms(t.latencies.quantile(0.99))),
                if run.durable { ratio(t.per_second(), peer_rate) } else { "1.00×".into() },
            ),
            None => ("failed".into(), "–".into(), "–".into()),
        };
        rows.push(vec![
            run.name.clone(),
            if run.durable { "yes".into() } else { "no (RAM)".into() },
            sends,
            send_lat,
            quantiles(&run.to_bots),
            quantiles(&run.to_people),
            vs_peer,
            vs_probe,
        ]);
    }
    println!();
    print_table(&rows);
    println!();
    println!(
        "aims (issue): Plaza ≥ {AIM_PEER_RATIO:.0}× the peer's sendMessage/s and ≥ {:.0} % of the probe, every \
         acknowledged message durable; person → bot p99 < {} at {rate} msg/s",
        AIM_PROBE_SHARE * 100.0,
        ms(AIM_P99)
    );

    println!(
        "sendMessage/s and its latencies are the median of {} rounds per system, each after a round of the probe; \
         ÷ probe is the median of the rounds' ratios, ÷ peer the ratio of the medians",
        args.rounds
    );

    println!();
    println!("details:");
    match probe {
        Some(Ok(cpus)) => println!("  probe on CPU {cpus}"),
        Some(Err(e)) => println!("  probe: failed: {e:#}"),
        None => {}
    }
    for run in runs {
        let run = match run {
            Ok(run) => run,
            Err(e) => {
                println!("  failed: {e:#}");
                continue;
            }
        };
        println!("  {} (on CPU {}; {}):", run.name, run.cpus, run.note);
        for (i, round) in run.throughput.iter().enumerate() {
            let probe = match &round.probe {
                Some(Ok((r, cpu))) => format!(
                    "probe {} appends/s {}{}; ",
                    thousands(r.per_second()),
                    cpu.note_per_op(r.per_second()),
                    errors_note(r.errors, &r.first_error)
                ),
                Some(Err(e)) => format!("probe failed: {e:#}; "),
                None => String::new(),
            };
            let system = match &round.system {
                Ok((t, cpu)) => format!(
                    "sendMessage {}/s{} {}{}",
                    thousands(t.per_second()),
                    round.share().map_or_else(String::new, |s| format!(" = {s:.2} × probe")),
                    cpu.note_per_op(t.per_second()),
                    errors_note(t.errors, &t.first_error)
                ),
                Err(e) => format!("sendMessage failed: {e:#}"),
            };
            println!("    round {}: {probe}{system}", i + 1);
        }
        for (what, d) in [("person → bot", &run.to_bots), ("bot → person", &run.to_people)] {
            match d {
                Ok((d, cpu)) => {
                    let lost = d.sent.saturating_sub(d.delivered);
                    let achieved = d.sent as f64 / d.measured.as_secs_f64();
                    let behind = if achieved < 0.95 * f64::from(args.delivery_rate) {
                        " (below the offered rate: answers took longer than the pacing interval)"
                    } else {
                        ""
                    };
                    let polls = if d.polls > 0 {
                        format!(
                            ", {} polls ({:.1} messages each)",
                            thousands(d.polls as f64),
                            d.delivered as f64 / d.polls as f64
                        )
                    } else {
                        String::new()
                    };
                    println!(
                        "    {what}: {} sent = {} msg/s{behind}, send answered p50 {} p99 {}; {} delivered{}{polls}, \
                         max {} {}{}",
                        thousands(d.sent as f64),
                        thousands(achieved),
                        ms(d.send_latencies.quantile(0.5)),
                        ms(d.send_latencies.quantile(0.99)),
                        thousands(d.delivered as f64),
                        if lost > 0 { format!(" ({lost} not within {DELIVERY_GRACE:?})") } else { String::new() },
                        ms(d.latencies.max()),
                        cpu.note(),
                        errors_note(d.errors, &d.first_error)
                    );
                }
                Err(e) => println!("    {what}: failed: {e:#}"),
            }
        }
    }
    if args.systems.contains(&System::Peer) {
        println!();
        println!("how the peer differs:");
        println!(
            "  - telegram-test-api keeps messages in a JavaScript array and answers before anything reaches a disk; \
             Plaza answers after the commit's fsync"
        );
        println!(
            "  - its getUpdates ignores offset, limit and timeout: it answers at once with every unread update and \
             marks them read; its pollers ask again {} ms after an empty answer (Plaza's bots long-poll with offset)",
            args.peer_poll_ms
        );
        println!(
            "  - it has no user accounts, chats or access rules: any token and chat_id are accepted; people write \
             through its own client API (POST /sendMessage with botToken) instead of Plaza's"
        );
        println!(
            "  - its client has no long poll and no per-person stream: a person polls POST /getUpdates for each bot \
             in turn; each getUpdates scans every message held (kept 60 s), so it was restarted before each figure"
        );
    }
}

fn errors_note(errors: u64, first: &Option<String>) -> String {
    if errors == 0 {
        return String::new();
    }
    format!("  [{errors} errors; first: {}]", first.as_deref().unwrap_or("?"))
}
