//! The Stars ledger benchmark behind `bench/ledger`: durable Stars transfers and whole Stars
//! payments through Plaza's APIs, at 1, 16 and 256 concurrent payers, on SQLite and PostgreSQL,
//! beside the physical-limit probe at the same concurrencies, in one run; then the ledger's
//! invariants are checked.
//!
//! Every payer is an account of its own with one keep-alive connection and one request in flight
//! (a person pays one checkout at a time). Two things are measured on each store:
//!
//! - **transfers/s**: sandbox top-ups (`POST /api/v1/stars/topup`, one Star, a fresh idempotency
//!   key each), each one ledger transfer from the issuance account to the payer, answered once
//!   durable.
//! - **payments/s**: payments of one Stars invoice link of one bot (`POST /api/v1/invoices/<slug>/pay`,
//!   a fresh key each): Plaza sends the bot a `pre_checkout_query`, the bench bot receives it on its
//!   one `getUpdates` long poll and answers `answerPreCheckoutQuery` on one of several connections,
//!   and Plaza moves the Stars with the `successful_payment` message and answers the payer with the
//!   payment `paid`. Latency runs from the pay request to that answer.
//!
//! After the payments the server is asked for every balance (the payers' wallets, the bot's
//! `getMyStarBalance`): payers and bot together must hold exactly the Stars topped up, and the bot
//! exactly the paid payments' price. The server is then stopped and `plaza stars check` run on
//! its store: the balances must sum to zero and each must equal its entries. A failed check is
//! printed in capitals and makes the process exit with status 1.
//!
//! Servers run pinned to `--server-core`; this process is meant to run pinned to another core
//! (`taskset -c 1`) with one tokio thread. Progress goes to stderr, the report to stdout.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use hyper::StatusCode;
use hyper::body::Bytes;
use plaza_bench::botapi::{self, Bot};
use plaza_bench::http::{Call, Conn, LoadResult, closed_loop, failure};
use plaza_bench::pg::{self, PgDatabase};
use plaza_bench::plaza::{self, Account};
use plaza_bench::process::{self, CpuUse, Server, metered, spawn_pinned};
use plaza_bench::stats::{ms, thousands};
use serde::Deserialize;
use serde_json::json;
use tokio::process::Command;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

/// Stars per measured top-up.
const TRANSFER_STARS: i64 = 1;
/// The largest sandbox top-up Plaza grants (`service::payments::MAX_TOPUP`).
const MAX_TOPUP: i64 = 100_000;
/// More payments a second than one payer can make: each waits for several commits and the bot.
const MAX_PAYMENTS_PER_PAYER_SECOND: i64 = 3_000;
/// `timeout` of the bot's `getUpdates` long polls, in seconds.
const LONG_POLL_SECONDS: u32 = 25;
/// The share of the probe the issue aims for with transfers on SQLite.
const AIM_PROBE_SHARE: f64 = 0.40;

#[derive(Parser)]
#[command(about = "Stars transfers and payments beside the physical-limit probe; run through bench/ledger")]
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
    /// Concurrent payers, each its own account and connection with one request in flight; the
    /// probe gets as many connections.
    #[arg(long, value_delimiter = ',', default_value = "1,16,256")]
    payers: Vec<usize>,
    /// Seconds of load before each measurement.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Seconds measured per figure.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Connections the bench bot answers pre-checkout queries on (its one long poll feeds them).
    #[arg(long, default_value_t = 8)]
    answerers: usize,
    /// The invoice's price in Stars.
    #[arg(long, default_value_t = 1)]
    price: i64,
    /// Stores to measure Plaza on.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "sqlite,postgres")]
    backends: Vec<Backend>,
}

impl Args {
    fn warmup(&self) -> Duration {
        Duration::from_secs(self.warmup)
    }

    fn duration(&self) -> Duration {
        Duration::from_secs(self.duration)
    }

    fn max_payers(&self) -> usize {
        self.payers.iter().copied().max().unwrap_or(0)
    }

    /// Stars each payer gets before the payments: more than it can spend in every measurement.
    fn funding(&self) -> i64 {
        let phases = self.payers.len() as i64;
        self.price * MAX_PAYMENTS_PER_PAYER_SECOND * (self.warmup + self.duration) as i64 * phases
    }
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

/// What a closed loop of payers saw.
struct Outcome {
    /// Requests done and measured (answered in the window), errors over the whole run.
    load: LoadResult,
    /// Requests done over the whole run, warm-up included: what the invariants count.
    done: u64,
    /// Requests whose outcome is unknown (no answer, a server error, a payment still open).
    unknown: u64,
}

impl Outcome {
    fn new(measured: Duration) -> Outcome {
        Outcome { load: LoadResult { measured, ..LoadResult::default() }, done: 0, unknown: 0 }
    }

    fn absorb(&mut self, other: Outcome) {
        self.load.completed += other.load.completed;
        self.load.errors += other.load.errors;
        if self.load.first_error.is_none() {
            self.load.first_error = other.load.first_error;
        }
        self.load.latencies.merge(&other.load.latencies);
        self.done += other.done;
        self.unknown += other.unknown;
    }

    fn error(&mut self, unknown: bool, what: impl FnOnce() -> String) {
        self.load.errors += 1;
        self.unknown += u64::from(unknown);
        self.load.first_error.get_or_insert_with(what);
    }
}

/// What the bench bot did during the payments.
#[derive(Default)]
struct BotRun {
    polls: u64,
    queries: u64,
    answered: u64,
    errors: u64,
    first_error: Option<String>,
}

/// Everything measured on one store; a phase that failed keeps its error.
struct BackendRun {
    cpus: String,
    phases: anyhow::Result<Phases>,
    invariants: Invariants,
}

struct Phases {
    transfers: Vec<(usize, anyhow::Result<(Outcome, CpuUse)>)>,
    payments: Vec<(usize, anyhow::Result<(Outcome, CpuUse)>)>,
    bot: anyhow::Result<BotRun>,
}

impl Phases {
    fn clean(&self) -> bool {
        self.bot.as_ref().is_ok_and(|b| b.errors == 0)
            && self
                .transfers
                .iter()
                .chain(&self.payments)
                .all(|(_, m)| m.as_ref().is_ok_and(|(o, _)| o.load.errors == 0))
    }
}

/// The ledger as the benchmark counted it and as Plaza reports it.
#[derive(Default)]
struct Invariants {
    /// Stars of the top-ups Plaza acknowledged, funding included.
    topped_up: i64,
    /// Stars of top-ups whose outcome is unknown.
    topped_up_unknown: i64,
    paid: u64,
    paid_unknown: u64,
    /// What Plaza reported after the run: the payers' balances summed and the bot's.
    balances: Option<anyhow::Result<(i64, i64)>>,
    /// `plaza stars check` after the server stopped: its output, or why it failed.
    check: Option<anyhow::Result<String>>,
}

impl Invariants {
    /// Each check as a line and whether it held; `None` when it could not be made.
    fn verdicts(&self, price: i64) -> Vec<(String, Option<bool>)> {
        let mut out = Vec::new();
        match &self.check {
            Some(Ok(line)) => out.push((format!("plaza stars check: {line}"), Some(true))),
            Some(Err(e)) => out.push((format!("plaza stars check: {e:#}"), Some(false))),
            None => out.push(("plaza stars check: not run".into(), None)),
        }
        match &self.balances {
            Some(Ok((payers, bot))) => {
                let held = payers + bot;
                let range = |known: i64, unknown: i64| {
                    if unknown == 0 {
                        thousands_i(known)
                    } else {
                        format!("{}..={}", thousands_i(known), thousands_i(known + unknown))
                    }
                };
                let ok = (self.topped_up..=self.topped_up + self.topped_up_unknown).contains(&held);
                out.push((
                    format!(
                        "payers {} + bot {} = {} Stars held; topped up {}",
                        thousands_i(*payers),
                        thousands_i(*bot),
                        thousands_i(held),
                        range(self.topped_up, self.topped_up_unknown)
                    ),
                    Some(ok),
                ));
                let paid = self.paid as i64 * price;
                let unknown = self.paid_unknown as i64 * price;
                let ok = (paid..=paid + unknown).contains(bot);
                out.push((
                    format!(
                        "bot {} Stars; paid payments {} × {price} = {}",
                        thousands_i(*bot),
                        range(self.paid as i64, self.paid_unknown as i64),
                        range(paid, unknown)
                    ),
                    Some(ok),
                ));
            }
            Some(Err(e)) => out.push((format!("balances: could not be read: {e:#}"), None)),
            None => out.push(("balances: not read".into(), None)),
        }
        out
    }
}

/// `1 payer`, `16 payers`.
fn payers_label(n: usize) -> String {
    if n == 1 { "1 payer".into() } else { format!("{n} payers") }
}

fn thousands_i(n: i64) -> String {
    if n < 0 { format!("-{}", thousands(-n as f64)) } else { thousands(n as f64) }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    args.payers.sort_unstable();
    args.payers.dedup();
    anyhow::ensure!(
        !args.payers.is_empty() && args.payers.iter().all(|p| (1..=1_000).contains(p)),
        "--payers must be 1..=1000 each"
    );
    anyhow::ensure!((1..=600).contains(&args.duration) && args.warmup <= 600, "durations must be at most 600 s");
    anyhow::ensure!((1..=256).contains(&args.answerers), "--answerers must be 1..=256");
    anyhow::ensure!((1..=10_000).contains(&args.price), "--price must be 1..=10000 Stars");
    let work = match &args.work_dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("plaza-ledger-{:08x}", rand::random::<u32>())),
    };
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    std::fs::write(work.join("plaza.toml"), "auth_attempts_per_minute = 1000000\nauth_attempts_burst = 1000000\n")?;
    let load_at_start = process::load_average();
    let own_cpus = process::own_cpus()?;

    let probe = run_probe(&args, &work).await;
    let mut runs = Vec::new();
    for &backend in &args.backends {
        runs.push((backend, run_backend(backend, &args, &work).await));
    }

    let measured_clean = probe.as_ref().is_ok_and(|p| p.1.iter().all(|(_, r)| r.is_ok()))
        && runs.iter().all(|(_, r)| r.as_ref().is_ok_and(|r| r.phases.as_ref().is_ok_and(Phases::clean)));
    let holds = print_report(&args, &probe, &runs, &load_at_start, &own_cpus);
    if measured_clean && holds && args.work_dir.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    } else {
        println!("databases and server logs kept in {}", work.display());
    }
    if !holds {
        eprintln!("the ledger invariants did NOT hold or could not be checked; see the report");
        std::process::exit(1);
    }
    Ok(())
}

/// The probe at every concurrency, one server for all: as many connections as payers, each with
/// one `/write` in flight.
async fn run_probe(args: &Args, work: &Path) -> ProbeRun {
    let probe_args =
        vec!["--listen".into(), "127.0.0.1:0".into(), "--db".into(), work.join("probe.db").display().to_string()];
    let server = spawn_pinned("probe", args.server_core, &args.probe, &probe_args, &work.join("probe.log")).await?;
    let cpus = server.cpus()?;
    let call = Call::post_json("/write", &json!({"text": "benchmark transfer"}));
    let mut figures = Vec::new();
    for &n in &args.payers {
        eprintln!("probe: {n} connections, {} s warm-up + {} s", args.warmup, args.duration);
        let load = closed_loop(server.addr, vec![call.clone(); n], args.warmup(), args.duration());
        figures.push((n, metered(server.pid, load).await));
    }
    stop(server).await;
    Ok((cpus, figures))
}

async fn stop(server: Server) {
    if let Err(e) = server.stop().await {
        eprintln!("warning: {e:#}");
    }
}

/// Plaza on one store: a fresh SQLite directory or a fresh PostgreSQL database, dropped afterwards.
async fn run_backend(backend: Backend, args: &Args, work: &Path) -> anyhow::Result<BackendRun> {
    let (store_args, database) = match backend {
        Backend::Sqlite => (vec!["--data-dir".to_string(), work.join("ledger-sqlite").display().to_string()], None),
        Backend::Postgres => {
            anyhow::ensure!(pg::available().await, "PostgreSQL does not accept connections on 127.0.0.1:5432");
            let db = PgDatabase::create().await?;
            (vec!["--database-url".to_string(), db.url()], Some(db))
        }
    };
    let run = measure_backend(backend, args, work, &store_args).await;
    if let Some(db) = database
        && let Err(e) = db.drop_now().await
    {
        eprintln!("warning: {e:#}");
    }
    run
}

async fn measure_backend(
    backend: Backend,
    args: &Args,
    work: &Path,
    store_args: &[String],
) -> anyhow::Result<BackendRun> {
    let name = format!("plaza ({})", backend.name());
    let mut global = vec!["--config".to_string(), work.join("plaza.toml").display().to_string()];
    global.extend(store_args.iter().cloned());
    eprintln!("{name}: creating the bench bot with the CLI");
    let bot = botapi::create_plaza_bots(&args.plaza, &global, 1).await?.remove(0);

    let mut argv = global.clone();
    argv.extend(["serve".into(), "--listen".into(), "127.0.0.1:0".into(), "--sandbox".into()]);
    if botapi::plaza_has_flag(&args.plaza, "serve", "--no-flood-limits").await? {
        argv.push("--no-flood-limits".into());
    }
    let log = work.join(format!("plaza-ledger-{}.log", backend.name()));
    let server = spawn_pinned(&name, args.server_core, &args.plaza, &argv, &log).await?;
    let cpus = server.cpus()?;
    // Whatever happens once the server runs, its ledger is checked after it stops.
    let mut invariants = Invariants::default();
    let phases = run_phases(&name, &server, &bot, args, &mut invariants).await;
    stop(server).await;
    eprintln!("{name}: plaza stars check");
    invariants.check = Some(stars_check(&args.plaza, &global).await);
    Ok(BackendRun { cpus, phases, invariants })
}

/// Sign-ups, then transfers and payments at every concurrency, then the balances.
async fn run_phases(
    name: &str,
    server: &Server,
    bot: &Bot,
    args: &Args,
    inv: &mut Invariants,
) -> anyhow::Result<Phases> {
    eprintln!("{name}: signing up {} payers, each opening its chat with the bot", args.max_payers());
    let payers = sign_up_payers(server.addr, bot, args.max_payers()).await?;
    let slug = create_invoice_link(server.addr, bot, args.price).await?;
    let offset = drain_updates(server.addr, bot).await?;

    let mut transfers = Vec::new();
    for &n in &args.payers {
        eprintln!("{name}: transfers (sandbox top-ups), {}", payers_label(n));
        let run = metered(server.pid, payers_loop(server.addr, &payers[..n], &Op::TopUp, &format!("t{n}"), args)).await;
        if let Ok((o, _)) = &run {
            inv.topped_up += o.done as i64 * TRANSFER_STARS;
            inv.topped_up_unknown += o.unknown as i64 * TRANSFER_STARS;
        }
        transfers.push((n, run));
    }

    eprintln!("{name}: funding {} payers with {} Stars each", payers.len(), thousands_i(args.funding()));
    fund(server.addr, &payers, args.funding(), inv).await?;

    let cancel = CancellationToken::new();
    let bot_task = tokio::spawn(run_bot(server.addr, bot.token.clone(), args.answerers, offset, cancel.clone()));
    let mut payments = Vec::new();
    for &n in &args.payers {
        eprintln!("{name}: payments of an invoice link, {}, {} answerers", payers_label(n), args.answerers);
        let op = Op::Pay { slug: slug.clone() };
        let run = metered(server.pid, payers_loop(server.addr, &payers[..n], &op, &format!("p{n}"), args)).await;
        if let Ok((o, _)) = &run {
            inv.paid += o.done;
            inv.paid_unknown += o.unknown;
        }
        payments.push((n, run));
    }
    cancel.cancel();
    let bot_run = bot_task.await.context("the bot panicked")?;
    inv.balances = Some(balances(server.addr, &payers, bot).await);
    Ok(Phases { transfers, payments, bot: bot_run })
}

/// Signs up `n` payers `payer_<i>`, each opening its private chat with the bot.
async fn sign_up_payers(addr: SocketAddr, bot: &Bot, n: usize) -> anyhow::Result<Vec<Account>> {
    // Sign-up hashes a password with argon2 on the server; a few connections keep it busy.
    const WORKERS: usize = 4;
    let mut tasks = JoinSet::new();
    for w in 0..WORKERS {
        let bot = bot.clone();
        tasks.spawn(async move {
            let mut conn = Conn::connect(addr).await?;
            let mut payers = Vec::new();
            for i in (w..n).step_by(WORKERS) {
                let account = plaza::signup(&mut conn, &format!("payer_{i}")).await?;
                let chat = plaza::open_private(&mut conn, &account, &bot.username).await?;
                anyhow::ensure!(chat == bot.id, "a private chat is named by the peer's id");
                payers.push((i, account));
            }
            anyhow::Ok(payers)
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(part) = tasks.join_next().await {
        all.extend(part.context("sign-up task panicked")??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, a)| a).collect())
}

#[derive(Deserialize)]
struct BotAnswer<T> {
    ok: bool,
    result: Option<T>,
    #[serde(default)]
    description: Option<String>,
}

/// Sends a Bot API call and returns its `result`.
async fn bot_call<T: serde::de::DeserializeOwned>(conn: &mut Conn, call: &Call) -> anyhow::Result<T> {
    let (status, body) = conn.send(call).await?;
    let answer: BotAnswer<T> =
        serde_json::from_slice(&body).with_context(|| failure(call, status, &body)).context("decoding the answer")?;
    anyhow::ensure!(
        status == StatusCode::OK && answer.ok,
        "{} ({:?})",
        failure(call, status, &body),
        answer.description
    );
    answer.result.with_context(|| failure(call, status, &body))
}

/// The bot's invoice link for `price` Stars; returns its slug.
async fn create_invoice_link(addr: SocketAddr, bot: &Bot, price: i64) -> anyhow::Result<String> {
    let mut conn = Conn::connect(addr).await?;
    let call = Call::post_json(
        format!("/bot{}/createInvoiceLink", bot.token),
        &json!({
            "title": "Benchmark",
            "description": "A Star's worth of benchmarking",
            "payload": "bench",
            "currency": "XTR",
            "prices": [{"label": "Benchmark", "amount": price}],
        }),
    );
    let link: String = bot_call(&mut conn, &call).await?;
    let slug = link.rsplit_once('$').map(|(_, s)| s.to_string()).with_context(|| format!("no slug in {link:?}"))?;
    anyhow::ensure!(!slug.is_empty(), "no slug in {link:?}");
    Ok(slug)
}

fn get_updates(token: &str, offset: i64, timeout: u32) -> Call {
    Call::post_json(
        format!("/bot{token}/getUpdates"),
        &json!({"offset": offset, "timeout": timeout, "allowed_updates": ["pre_checkout_query"]}),
    )
}

#[derive(Deserialize)]
struct Update {
    update_id: i64,
    #[serde(default)]
    pre_checkout_query: Option<PreCheckoutQuery>,
}

#[derive(Deserialize)]
struct PreCheckoutQuery {
    id: String,
}

/// Sets the bot's `allowed_updates` and reads whatever is pending; returns the next offset.
async fn drain_updates(addr: SocketAddr, bot: &Bot) -> anyhow::Result<i64> {
    let mut conn = Conn::connect(addr).await?;
    let mut offset = 0;
    loop {
        let updates: Vec<Update> = bot_call(&mut conn, &get_updates(&bot.token, offset, 0)).await?;
        let Some(last) = updates.iter().map(|u| u.update_id).max() else { return Ok(offset) };
        offset = last + 1;
    }
}

/// Tops every payer up with `stars`, in top-ups of at most [`MAX_TOPUP`].
async fn fund(addr: SocketAddr, payers: &[Account], stars: i64, inv: &mut Invariants) -> anyhow::Result<()> {
    let mut conn = Conn::connect(addr).await?;
    for (i, payer) in payers.iter().enumerate() {
        let mut left = stars;
        let mut part = 0;
        while left > 0 {
            let amount = left.min(MAX_TOPUP);
            let call =
                Call::post_json("/api/v1/stars/topup", &json!({"amount": amount, "key": format!("fund-{i}-{part}")}))
                    .bearer(&payer.token);
            match conn.send(&call).await {
                Ok((StatusCode::OK, _)) => inv.topped_up += amount,
                Ok((status, body)) => {
                    inv.topped_up_unknown += amount;
                    anyhow::bail!("funding: {}", failure(&call, status, &body));
                }
                Err(e) => {
                    inv.topped_up_unknown += amount;
                    return Err(e.context(format!("funding: {}", call.describe())));
                }
            }
            left -= amount;
            part += 1;
        }
    }
    Ok(())
}

/// What payers do in a closed loop.
enum Op {
    /// A one-Star sandbox top-up.
    TopUp,
    /// Paying the invoice link with this slug.
    Pay { slug: String },
}

impl Op {
    fn call(&self, key: &str, token: &str) -> Call {
        match self {
            Op::TopUp => Call::post_json("/api/v1/stars/topup", &json!({"amount": TRANSFER_STARS, "key": key})),
            Op::Pay { slug } => Call::post_json(format!("/api/v1/invoices/{slug}/pay"), &json!({"key": key})),
        }
        .bearer(token)
    }
}

#[derive(Deserialize)]
struct PaymentAnswer {
    state: String,
}

/// Every payer in `payers` keeps one request of `op` in flight, each with a fresh key
/// (`<tag>-<payer>-<n>`), for the warm-up and the measured window.
async fn payers_loop(addr: SocketAddr, payers: &[Account], op: &Op, tag: &str, args: &Args) -> anyhow::Result<Outcome> {
    // Connections are opened before the clock starts so that their setup is not measured.
    let mut conns = Vec::with_capacity(payers.len());
    for _ in payers {
        conns.push(Conn::connect(addr).await?);
    }
    let from = Instant::now() + args.warmup();
    let until = from + args.duration();
    let mut tasks = JoinSet::new();
    for (i, (conn, payer)) in conns.into_iter().zip(payers).enumerate() {
        let op = match op {
            Op::TopUp => Op::TopUp,
            Op::Pay { slug } => Op::Pay { slug: slug.clone() },
        };
        let (tag, token, measured) = (format!("{tag}-{i}"), payer.token.clone(), args.duration());
        tasks.spawn(async move { pay_in_turn(conn, &token, &op, &tag, from, until, measured).await });
    }
    let mut total = Outcome::new(args.duration());
    while let Some(part) = tasks.join_next().await {
        total.absorb(part.context("payer task panicked")?);
    }
    Ok(total)
}

async fn pay_in_turn(
    mut conn: Conn,
    token: &str,
    op: &Op,
    tag: &str,
    from: Instant,
    until: Instant,
    measured: Duration,
) -> Outcome {
    let mut out = Outcome::new(measured);
    for n in 0u64.. {
        let sent = Instant::now();
        if sent >= until {
            break;
        }
        let call = op.call(&format!("{tag}-{n}"), token);
        let answer = conn.send(&call).await;
        let done = Instant::now();
        match answer {
            Ok((StatusCode::OK, body)) => match judge(op, &body) {
                Ok(()) => {
                    out.done += 1;
                    // Answers are counted when they arrive: a payment can take longer than a short
                    // window, and requiring it to start there too would undercount slow stores.
                    if done >= from && done < until {
                        out.load.completed += 1;
                        out.load.latencies.record(done - sent);
                    }
                }
                Err(open) => out.error(open, || failure(&call, StatusCode::OK, &body)),
            },
            // A refusal changed nothing; a server error may have come after a commit.
            Ok((status, body)) => out.error(status.is_server_error(), || failure(&call, status, &body)),
            Err(e) => {
                // A lost connection ends this payer; the others go on and the report shows it.
                out.error(true, || format!("{}: {e:#}", call.describe()));
                break;
            }
        }
    }
    out
}

/// Whether a `200 OK` answer is the request done; else whether its outcome is unknown (a payment
/// still open) rather than known to have moved nothing.
fn judge(op: &Op, body: &Bytes) -> Result<(), bool> {
    match op {
        Op::TopUp => Ok(()),
        Op::Pay { .. } => match serde_json::from_slice::<PaymentAnswer>(body) {
            Ok(p) if p.state == "paid" => Ok(()),
            Ok(p) => Err(matches!(p.state.as_str(), "pre_checkout" | "approved")),
            Err(_) => Err(true),
        },
    }
}

/// The bench bot: one `getUpdates` long poll hands pre-checkout queries to `answerers`
/// connections that accept them, until `cancel`.
async fn run_bot(
    addr: SocketAddr,
    token: String,
    answerers: usize,
    mut offset: i64,
    cancel: CancellationToken,
) -> anyhow::Result<BotRun> {
    let mut run = BotRun::default();
    let (queries, inbox) = flume::bounded::<String>(4_096);
    let mut answering = JoinSet::new();
    for _ in 0..answerers {
        let (conn, inbox, token) = (Conn::connect(addr).await?, inbox.clone(), token.clone());
        answering.spawn(answer_queries(addr, conn, token, inbox));
    }
    drop(inbox);
    let mut conn = Conn::connect(addr).await?;
    loop {
        let call = get_updates(&token, offset, LONG_POLL_SECONDS);
        let answer = tokio::select! {
            () = cancel.cancelled() => break,
            answer = conn.send(&call) => answer,
        };
        run.polls += 1;
        let failed = match answer {
            Ok((StatusCode::OK, body)) => match serde_json::from_slice::<BotAnswer<Vec<Update>>>(&body) {
                Ok(BotAnswer { ok: true, result: Some(updates), .. }) => {
                    for u in updates {
                        offset = offset.max(u.update_id + 1);
                        if let Some(q) = u.pre_checkout_query {
                            run.queries += 1;
                            queries.send_async(q.id).await.context("every answerer stopped")?;
                        }
                    }
                    None
                }
                _ => Some(failure(&call, StatusCode::OK, &body)),
            },
            Ok((status, body)) => Some(failure(&call, status, &body)),
            Err(e) => {
                conn = Conn::connect(addr).await?;
                Some(format!("{}: {e:#}", call.describe()))
            }
        };
        if let Some(e) = failed {
            run.errors += 1;
            run.first_error.get_or_insert(format!("getUpdates: {e}"));
            sleep(Duration::from_millis(100)).await;
        }
    }
    drop(queries);
    while let Some(part) = answering.join_next().await {
        let (answered, errors, first) = part.context("answerer panicked")?;
        run.answered += answered;
        run.errors += errors;
        if run.first_error.is_none() {
            run.first_error = first;
        }
    }
    Ok(run)
}

async fn answer_queries(
    addr: SocketAddr,
    mut conn: Conn,
    token: String,
    inbox: flume::Receiver<String>,
) -> (u64, u64, Option<String>) {
    let (mut answered, mut errors, mut first) = (0, 0, None);
    let path = format!("/bot{token}/answerPreCheckoutQuery");
    while let Ok(id) = inbox.recv_async().await {
        let call = Call::post_json(path.as_str(), &json!({"pre_checkout_query_id": id, "ok": true}));
        match bot_call::<bool>(&mut conn, &call).await {
            Ok(true) => answered += 1,
            Ok(false) => {
                errors += 1;
                first.get_or_insert_with(|| format!("answerPreCheckoutQuery: {} → false", call.describe()));
            }
            Err(e) => {
                errors += 1;
                first.get_or_insert_with(|| format!("answerPreCheckoutQuery: {e:#}"));
                // The connection may be gone with the error; a fresh one costs little.
                if let Ok(fresh) = Conn::connect(addr).await {
                    conn = fresh;
                }
            }
        }
    }
    (answered, errors, first)
}

#[derive(Deserialize)]
struct WalletAnswer {
    balance: i64,
}

#[derive(Deserialize)]
struct StarAmount {
    amount: i64,
}

/// The payers' balances summed, and the bot's, as Plaza reports them.
async fn balances(addr: SocketAddr, payers: &[Account], bot: &Bot) -> anyhow::Result<(i64, i64)> {
    let mut conn = Conn::connect(addr).await?;
    let mut sum = 0;
    for payer in payers {
        let wallet: WalletAnswer = conn.send_json(&Call::get("/api/v1/stars").bearer(&payer.token)).await?;
        sum += wallet.balance;
    }
    let call = Call::post_json(format!("/bot{}/getMyStarBalance", bot.token), &json!({}));
    let bot_balance: StarAmount = bot_call(&mut conn, &call).await?;
    Ok((sum, bot_balance.amount))
}

/// `plaza stars check` on the stopped server's store: its line when the ledger balances.
async fn stars_check(plaza: &Path, global: &[String]) -> anyhow::Result<String> {
    let out = Command::new(plaza)
        .args(global)
        .args(["stars", "check"])
        .env("PLAZA_LOG", "warn")
        .output()
        .await
        .with_context(|| format!("running {} stars check", plaza.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    anyhow::ensure!(out.status.success(), "exited with {}: {stdout} {stderr}", out.status);
    let (total, mismatched) = parse_check(&stdout).with_context(|| format!("unexpected output {stdout:?}"))?;
    anyhow::ensure!(total == 0 && mismatched == 0, "the ledger does not balance: {stdout}");
    Ok(stdout)
}

/// The sum and the mismatched accounts in `12 accounts, balances sum to 0, 0 mismatched`.
fn parse_check(line: &str) -> Option<(i64, u64)> {
    let rest = line.split("balances sum to ").nth(1)?;
    let (total, rest) = rest.split_once(',')?;
    let mismatched = rest.trim().strip_suffix("mismatched")?.trim();
    Some((total.trim().parse().ok()?, mismatched.parse().ok()?))
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

type ProbeRun = anyhow::Result<(String, Vec<(usize, anyhow::Result<(LoadResult, CpuUse)>)>)>;

/// Prints the report; returns whether every ledger invariant that could be checked held, and
/// every store that ran had them checked.
fn print_report(
    args: &Args,
    probe: &ProbeRun,
    runs: &[(Backend, anyhow::Result<BackendRun>)],
    load_at_start: &str,
    own_cpus: &str,
) -> bool {
    let payers: Vec<String> = args.payers.iter().map(usize::to_string).collect();
    println!();
    println!("=== Stars ledger benchmark: transfers and payments beside the physical-limit probe ===");
    println!("machine: {}; load average at start {load_at_start}, at end {}", machine(), process::load_average());
    println!(
        "pinning: servers with taskset -c {}, load generator on CPU {own_cpus} with one tokio thread{}",
        args.server_core,
        if args.backends.contains(&Backend::Postgres) { "; PostgreSQL's own processes are not pinned" } else { "" }
    );
    println!(
        "workload: {} concurrent payers, each its own account with one keep-alive connection and one request in \
         flight; {} s warm-up + {} s measured per figure, counting the answers that arrive in it",
        payers.join(", "),
        args.warmup,
        args.duration
    );
    println!(
        "  transfers/s: POST /api/v1/stars/topup {{amount: {TRANSFER_STARS}, key: fresh}} on a sandbox server: one \
         ledger transfer (issuance → payer) per request, answered once durable (the answer is the new balance)"
    );
    println!(
        "  payments/s: POST /api/v1/invoices/<slug>/pay {{key: fresh}} of one {}-Star invoice link of one bot, which \
         long-polls getUpdates (pre_checkout_query only) and answers answerPreCheckoutQuery ok on {} connections; \
         latency from the pay request to its answer `paid` (Stars moved and successful_payment sent)",
        args.price, args.answerers
    );
    println!(
        "  probe: POST /write, one row per request into SQLite (WAL, synchronous=FULL) with group commit, as many \
         connections as payers"
    );

    let probe_rate = |n: usize| -> Option<f64> {
        let (_, figures) = probe.as_ref().ok()?;
        let (_, r) = figures.iter().find(|(m, _)| *m == n)?;
        r.as_ref().ok().map(|(r, _)| r.per_second())
    };
    let ratio =
        |x: f64, of: Option<f64>| of.filter(|&v| v > 0.0).map_or_else(|| "–".to_string(), |v| format!("{:.2}×", x / v));
    let p50_99 = |l: &LoadResult| {
        if l.latencies.count() == 0 {
            "–".to_string()
        } else {
            format!("{} / {}", ms(l.latencies.quantile(0.5)), ms(l.latencies.quantile(0.99)))
        }
    };

    let mut rows = vec![vec![
        "system".to_string(),
        "payers".to_string(),
        "transfers/s".to_string(),
        "transfer p50 / p99".to_string(),
        "÷ probe".to_string(),
        "payments/s".to_string(),
        "payment p50 / p99".to_string(),
        "÷ probe".to_string(),
    ]];
    match probe {
        Ok((_, figures)) => {
            for (n, r) in figures {
                rows.push(match r {
                    Ok((r, _)) => vec![
                        "probe (axum + SQLite group commit)".into(),
                        n.to_string(),
                        format!("{} appends", thousands(r.per_second())),
                        p50_99(r),
                        "1.00×".into(),
                        "–".into(),
                        "–".into(),
                        "–".into(),
                    ],
                    Err(_) => vec!["probe (axum + SQLite group commit)".into(), n.to_string(), "failed".into()],
                });
            }
        }
        Err(_) => rows.push(vec!["probe".into(), "–".into(), "failed".into()]),
    }
    let figure = |m: Option<&anyhow::Result<(Outcome, CpuUse)>>, n: usize| -> [String; 3] {
        match m {
            Some(Ok((o, _))) => {
                [thousands(o.load.per_second()), p50_99(&o.load), ratio(o.load.per_second(), probe_rate(n))]
            }
            Some(Err(_)) => ["failed".into(), "–".into(), "–".into()],
            None => ["–".into(), "–".into(), "–".into()],
        }
    };
    for (backend, run) in runs {
        let name = format!("plaza ({})", backend.name());
        match run.as_ref().map(|r| &r.phases) {
            Ok(Ok(p)) => {
                for &n in &args.payers {
                    let [t, tl, tr] = figure(at(&p.transfers, n), n);
                    let [q, ql, qr] = figure(at(&p.payments, n), n);
                    rows.push(vec![name.clone(), n.to_string(), t, tl, tr, q, ql, qr]);
                }
            }
            _ => rows.push(vec![name, "–".into(), "failed".into()]),
        }
    }
    println!();
    print_table(&rows);

    println!();
    let sqlite_shares: Vec<String> = runs
        .iter()
        .filter(|(b, _)| *b == Backend::Sqlite)
        .filter_map(|(_, r)| r.as_ref().ok()?.phases.as_ref().ok())
        .flat_map(|p| &p.transfers)
        .filter_map(|(n, r)| {
            let (o, _) = r.as_ref().ok()?;
            let share = o.load.per_second() / probe_rate(*n)?;
            let verdict = if share >= AIM_PROBE_SHARE { "met" } else { "NOT met" };
            Some(format!("{} {:.0} % ({verdict})", payers_label(*n), share * 100.0))
        })
        .collect();
    println!(
        "aim (issue): transfers/s ≥ {:.0} % of the probe on SQLite, through group commit{}",
        AIM_PROBE_SHARE * 100.0,
        if sqlite_shares.is_empty() { String::new() } else { format!(": {}", sqlite_shares.join(", ")) }
    );

    println!();
    println!("details:");
    match probe {
        Ok((cpus, figures)) => {
            println!("  probe (on CPU {cpus}):");
            for (n, r) in figures {
                match r {
                    Ok((r, cpu)) => println!(
                        "    {n} connections: {} answered in the window, {}{}",
                        thousands(r.completed as f64),
                        cpu.note(),
                        errors_note(r.errors, &r.first_error)
                    ),
                    Err(e) => println!("    {n} connections: failed: {e:#}"),
                }
            }
        }
        Err(e) => println!("  probe: failed: {e:#}"),
    }
    for (backend, run) in runs {
        let name = format!("plaza ({})", backend.name());
        let run = match run {
            Ok(run) => run,
            Err(e) => {
                println!("  {name}: failed: {e:#}");
                continue;
            }
        };
        println!("  {name} (on CPU {}):", run.cpus);
        let p = match &run.phases {
            Ok(p) => p,
            Err(e) => {
                println!("    failed: {e:#}");
                continue;
            }
        };
        for (what, list) in [("transfers", &p.transfers), ("payments", &p.payments)] {
            for (n, r) in list {
                match r {
                    Ok((o, cpu)) => println!(
                        "    {what}, {}: {} in the window, {} in all (warm-up included), max {} {}{}",
                        payers_label(*n),
                        thousands(o.load.completed as f64),
                        thousands(o.done as f64),
                        ms(o.load.latencies.max()),
                        cpu.note(),
                        errors_note(o.load.errors, &o.load.first_error)
                    ),
                    Err(e) => println!("    {what}, {}: failed: {e:#}", payers_label(*n)),
                }
            }
        }
        match &p.bot {
            Ok(b) => println!(
                "    bot: {} getUpdates answered, {} pre-checkout queries received, {} answered ok{}",
                thousands(b.polls as f64),
                thousands(b.queries as f64),
                thousands(b.answered as f64),
                errors_note(b.errors, &b.first_error)
            ),
            Err(e) => println!("    bot: failed: {e:#}"),
        }
    }

    println!();
    println!("ledger invariants (balances read after the payments; `plaza stars check` after the server stopped):");
    let mut holds = true;
    for (backend, run) in runs {
        let name = format!("plaza ({})", backend.name());
        let Ok(run) = run else {
            println!("  {name}: NOT CHECKED (the run failed before the server started)");
            continue;
        };
        let verdicts = run.invariants.verdicts(args.price);
        let all = verdicts.iter().all(|(_, v)| *v == Some(true));
        // A run that stopped early could not read balances; what it could check must still hold.
        let expected = run.phases.is_ok() || verdicts.iter().any(|(_, v)| *v == Some(false));
        holds &= all || !expected;
        println!(
            "  {name}: {}",
            if all {
                "holds"
            } else if verdicts.iter().any(|(_, v)| *v == Some(false)) {
                "LEDGER INVARIANT VIOLATED"
            } else {
                "NOT FULLY CHECKED"
            }
        );
        for (line, v) in verdicts {
            let mark = match v {
                Some(true) => "ok     ",
                Some(false) => "FAILED ",
                None => "unknown",
            };
            println!("    {mark} {line}");
        }
    }
    holds
}

/// The figure measured at `n` payers.
fn at(figures: &[(usize, anyhow::Result<(Outcome, CpuUse)>)], n: usize) -> Option<&anyhow::Result<(Outcome, CpuUse)>> {
    figures.iter().find(|(m, _)| *m == n).map(|(_, r)| r)
}

fn errors_note(errors: u64, first: &Option<String>) -> String {
    if errors == 0 {
        return String::new();
    }
    format!("  [{errors} errors; first: {}]", first.as_deref().unwrap_or("?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_ledger_check() {
        assert_eq!(parse_check("258 accounts, balances sum to 0, 0 mismatched"), Some((0, 0)));
        assert_eq!(parse_check("3 accounts, balances sum to -5, 2 mismatched"), Some((-5, 2)));
        assert_eq!(parse_check("nothing"), None);
    }

    #[test]
    fn invariants_allow_for_unknown_outcomes_only() {
        let mut inv = Invariants { topped_up: 100, paid: 10, ..Invariants::default() };
        inv.check = Some(Ok("3 accounts, balances sum to 0, 0 mismatched".into()));
        inv.balances = Some(Ok((80, 20)));
        assert!(inv.verdicts(2).iter().all(|(_, v)| *v == Some(true)));
        inv.balances = Some(Ok((81, 20)));
        assert_eq!(inv.verdicts(2)[1].1, Some(false));
        inv.topped_up_unknown = 1;
        assert_eq!(inv.verdicts(2)[1].1, Some(true));
        inv.balances = Some(Ok((80, 22)));
        assert_eq!(inv.verdicts(2)[2].1, Some(false));
        inv.paid_unknown = 1;
        assert_eq!(inv.verdicts(2)[2].1, Some(true));
    }
}
