//! The `plaza` command: run the server and administer users, bots and the database.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use plaza_server::config::{Config, DEFAULT_LISTEN, FileConfig, StoreConfig, store_config};
use plaza_server::{Server, open_admin_store};
use plaza_service::SystemClock;
use plaza_store::postgres::PgStore;
use plaza_store::sqlite::SqliteStore;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's malloc: faster for many small allocations across threads, and it
/// returns memory instead of keeping a large arena per thread (argon2 allocates 19 MiB a hash).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Plaza: an open super-app platform (messenger, Telegram-compatible bots, mini apps).
#[derive(Parser)]
#[command(name = "plaza", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// TOML configuration file; flags and environment variables override its keys.
    #[arg(long, global = true, env = "PLAZA_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the embedded SQLite store [default: ./plaza-data].
    #[arg(long, global = true, env = "PLAZA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Use this database instead of the embedded store: postgres://user@host/db (or sqlite://<file>).
    #[arg(long, global = true, env = "PLAZA_DATABASE_URL")]
    database_url: Option<String>,
    /// Log filter, e.g. `info` or `plaza_http=debug,info` [default: info].
    #[arg(long, global = true, env = "PLAZA_LOG")]
    log_level: Option<String>,
    /// Log format: `text` or `json` [default: text].
    #[arg(long, global = true, env = "PLAZA_LOG_FORMAT")]
    log_format: Option<String>,
    /// Where hosted mini apps are served: each app on its own origin, <app>.<bot>.<host>, so set
    /// up a wildcard DNS name for the host (e.g. https://apps.example.com for
    /// *.apps.example.com) [default: http://localhost:<port>, which browsers resolve themselves].
    #[arg(long, global = true, env = "PLAZA_APPS_URL")]
    apps_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Manage people's accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage bots and their tokens.
    #[command(subcommand)]
    Bot(BotCommand),
    /// Mini apps: register a bot's apps, deploy and roll back hosted ones; the key init data is
    /// signed with.
    #[command(subcommand, visible_alias = "webapp")]
    App(AppCommand),
    /// Stars, the in-app currency: grant them, see balances and histories, check the ledger.
    #[command(subcommand)]
    Stars(StarsCommand),
    /// Apply database migrations and exit (serve also applies them on start).
    Migrate,
}

#[derive(Subcommand)]
enum AppCommand {
    /// Register (or change) a bot's mini app, as BotFather's /newapp does: it opens at
    /// /<bot>/<short_name>, or at /<bot>?startapp when it is the bot's main app. Give --url for an
    /// app hosted elsewhere, or deploy a bundle to Plaza with `plaza app deploy`.
    Create {
        /// The bot's username.
        #[arg(long)]
        bot: String,
        /// 3–30 letters, digits or underscores.
        #[arg(long)]
        short_name: String,
        /// The http(s) URL of an app hosted elsewhere.
        #[arg(long)]
        url: Option<String>,
        /// Shown in the app's header [default: the short name].
        #[arg(long)]
        title: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        /// Make it the bot's main mini app (any other stops being main).
        #[arg(long)]
        main: bool,
    },
    /// Deploy a directory (with index.html at its root) as the app's next version, live at once;
    /// Plaza serves it on the app's own origin. Registers the app if it is new.
    Deploy {
        short_name: String,
        dir: PathBuf,
        /// The bot, when more than one has an app by that name (or the app is new).
        #[arg(long)]
        bot: Option<String>,
    },
    /// Serve an earlier version again: --to N, or by default the one before the live one.
    Rollback {
        short_name: String,
        #[arg(long)]
        bot: Option<String>,
        #[arg(long)]
        to: Option<u32>,
    },
    /// List an app's deployed versions.
    Versions {
        short_name: String,
        #[arg(long)]
        bot: Option<String>,
    },
    /// List mini apps (of one bot, or of every bot).
    List {
        #[arg(long)]
        bot: Option<String>,
    },
    /// Print the Ed25519 public key (hex) that checks the `signature` of this instance's init data,
    /// as `GET /api/v1/webapps/public_key` publishes it. Made on first use and kept in the store.
    PublicKey,
}

#[derive(Subcommand)]
enum StarsCommand {
    /// Issue Stars to a person or a bot (they come from the platform's issuance account).
    Grant {
        username: String,
        amount: i64,
        /// Makes the grant safe to repeat: the same key grants once.
        #[arg(long)]
        key: Option<String>,
    },
    /// A person's or a bot's balance.
    Balance { username: String },
    /// A person's or a bot's transfers, newest first.
    History {
        username: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Check the ledger: the balances sum to zero and each equals the sum of its entries.
    Check,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "PLAZA_LISTEN")]
    listen: Option<SocketAddr>,
    /// Create demo accounts (demo/demo, alice/alice, carol/carol), a demo bot that answers and a
    /// demo group.
    #[arg(long, env = "PLAZA_DEMO")]
    demo: bool,
    /// Production webhooks: only HTTPS URLs on Telegram's ports (443, 80, 88, 8443). Without it
    /// any http:// or https:// URL and port is accepted, for development.
    #[arg(long, env = "PLAZA_WEBHOOKS_HTTPS_ONLY")]
    webhooks_https_only: bool,
    /// Switch off Telegram's flood limits for bots (1 message/s per chat with short bursts, 20 a
    /// minute per group, 30/s per bot), e.g. for a sandbox or a benchmark.
    #[arg(long, env = "PLAZA_NO_FLOOD_LIMITS")]
    no_flood_limits: bool,
    /// Run as a sandbox for testing bots and mini apps: free Stars top-ups in the wallet, and
    /// subscription periods shorter than 30 days accepted so renewals can be watched. `--demo`
    /// implies it.
    #[arg(long, env = "PLAZA_SANDBOX")]
    sandbox: bool,
    /// Sell Stars by card in the wallet, through the card provider this token selects (the
    /// built-in test provider takes tokens containing `:TEST:`).
    #[arg(long, env = "PLAZA_STARS_PROVIDER_TOKEN")]
    stars_provider_token: Option<String>,
    /// The price of one Star when sold by card, in the currency's smallest units and its code
    /// [default: "2 USD"].
    #[arg(long, env = "PLAZA_STAR_PRICE")]
    star_price: Option<String>,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account.
    Create {
        username: String,
        /// The password (4–256 characters). Without it (or PLAZA_PASSWORD), it is asked for on the
        /// terminal, or read as one line from standard input, which keeps it out of the process list.
        #[arg(long, env = "PLAZA_PASSWORD")]
        password: Option<String>,
        /// Shown name [default: the username].
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List people (bots are listed by `plaza bot list`).
    List,
}

#[derive(Subcommand)]
enum BotCommand {
    /// Create a bot owned by a person and print its token (shown only this once).
    Create {
        /// The bot's username: ends in `bot`, like on Telegram.
        username: String,
        /// Username of the person who owns the bot.
        #[arg(long)]
        owner: String,
        /// Shown name [default: the username].
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List bots and their owners.
    List,
    /// Issue a new token (with --rotate); tokens are stored hashed, so an old one can't be shown.
    Token {
        username: String,
        /// Replace the token; the old one stops working at once.
        #[arg(long)]
        rotate: bool,
    },
}

fn init_logging(level: &str, format: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(level).with_context(|| format!("bad log filter {level:?}"))?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        "json" => builder.json().init(),
        "text" => builder.init(),
        other => anyhow::bail!("unknown log format {other:?}: use text or json"),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let file = FileConfig::load(cli.global.config.as_deref())?;
    let level = cli.global.log_level.or(file.log_level).unwrap_or_else(|| "info".into());
    let format = cli.global.log_format.or(file.log_format).unwrap_or_else(|| "text".into());
    init_logging(&level, &format)?;
    let store = store_config(cli.global.database_url.or(file.database_url), cli.global.data_dir.or(file.data_dir))?;
    let apps_url = cli.global.apps_url.or(file.apps_url);

    match cli.command {
        Command::Serve(args) => {
            let config = Config {
                listen: args.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("default address")),
                store,
                session_ttl: Duration::from_secs(file.session_ttl_days.unwrap_or(30) * 24 * 3600),
                auth_attempts_per_minute: file.auth_attempts_per_minute.unwrap_or(20),
                auth_attempts_burst: file.auth_attempts_burst.unwrap_or(10),
                demo: args.demo,
                shutdown_grace: Duration::from_secs(10),
                webhooks_https_only: args.webhooks_https_only || file.webhooks_https_only.unwrap_or(false),
                flood_limits: !args.no_flood_limits && file.flood_limits.unwrap_or(true),
                apps_url,
                sandbox: args.sandbox || args.demo || file.sandbox.unwrap_or(false),
                star_sales: match args.stars_provider_token.or(file.stars_provider_token) {
                    None => None,
                    Some(token) => {
                        let price = args.star_price.or(file.star_price).unwrap_or_else(|| "2 USD".into());
                        Some(
                            plaza_service::payments::StarSales::new(&token, &price)
                                .map_err(|e| anyhow::anyhow!("--star-price {price:?}: {}", e.reason))?,
                        )
                    }
                },
            };
            serve(config).await
        }
        Command::Migrate => {
            match &store {
                StoreConfig::Sqlite { path } => {
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir)?;
                    }
                    SqliteStore::migrate_only(path)?
                }
                StoreConfig::Postgres { url } => PgStore::migrate_only(url).await?,
            }
            println!("migrations applied");
            Ok(())
        }
        Command::User(cmd) => {
            let service = admin_service(&store, &apps_url).await?;
            match cmd {
                UserCommand::Create { username, password, display_name } => {
                    let password = match password {
                        Some(p) => p,
                        None => read_password(&username)?,
                    };
                    let user = service
                        .create_person(&username, &password, display_name.as_deref().unwrap_or(&username))
                        .await?;
                    println!("created user @{} (id {})", user.username.as_str(), user.id.0);
                }
                UserCommand::List => {
                    for u in service.list_people().await? {
                        println!("{}\t@{}\t{}", u.id.0, u.username.as_str(), u.display_name.as_str());
                    }
                }
            }
            Ok(())
        }
        Command::Stars(cmd) => {
            let service = admin_service(&store, &apps_url).await?;
            stars_command(&service, cmd).await
        }
        Command::App(cmd) => {
            let service = admin_service(&store, &apps_url).await?;
            app_command(&service, cmd).await
        }
        Command::Bot(cmd) => {
            let service = admin_service(&store, &apps_url).await?;
            match cmd {
                BotCommand::Create { username, owner, display_name } => {
                    let issued = service.create_bot(&username, &owner, display_name.as_deref()).await?;
                    println!(
                        "created bot @{} (id {}) owned by @{owner}",
                        issued.bot.username.as_str(),
                        issued.bot.id.0
                    );
                    println!("token: {}", issued.token.to_token_string());
                    println!(
                        "Keep it secret: Plaza stores only its hash. `plaza bot token {username} --rotate` issues a new one."
                    );
                }
                BotCommand::List => {
                    for b in service.list_bots().await? {
                        println!(
                            "{}\t@{}\t{}\towner @{}",
                            b.bot.id.0,
                            b.bot.username.as_str(),
                            b.bot.display_name.as_str(),
                            b.owner.username.as_str()
                        );
                    }
                }
                BotCommand::Token { username, rotate } => {
                    if !rotate {
                        anyhow::bail!(
                            "tokens are stored hashed and can't be shown again; run `plaza bot token {username} --rotate` to issue a new one"
                        );
                    }
                    let issued = service.rotate_bot_token(&username).await?;
                    println!("new token for @{}: {}", issued.bot.username.as_str(), issued.token.to_token_string());
                }
            }
            Ok(())
        }
    }
}

/// Asks for a password without echo on a terminal; otherwise reads one line from standard input.
fn read_password(username: &str) -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(format!("Password for @{username}: ")).context("reading the password");
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// The service for an administrative command. Mini apps' URLs are reported as the server on the
/// default port shows them unless `--apps-url` says otherwise.
async fn admin_service(store: &StoreConfig, apps_url: &Option<String>) -> anyhow::Result<Arc<plaza_service::Service>> {
    let store = open_admin_store(store).await?;
    let config = Config::for_tests(StoreConfig::Sqlite { path: PathBuf::new() });
    let default_port = DEFAULT_LISTEN.parse::<SocketAddr>().expect("default address").port();
    let apps_url = plaza_server::config::apps_url(apps_url.as_deref(), default_port)?;
    Ok(plaza_server::service(store, Arc::new(SystemClock), &config, apps_url))
}

/// The bot whose app `short_name` is: `bot` if given, else the one bot that has an app by that name.
async fn bot_of_app(service: &plaza_service::Service, short_name: &str, bot: Option<String>) -> anyhow::Result<String> {
    if let Some(bot) = bot {
        return Ok(bot);
    }
    let mut owners = Vec::new();
    for b in service.list_bots().await? {
        if service.webapp(&b.bot, short_name).await.is_ok() {
            owners.push(b.bot.username.as_str().to_string());
        }
    }
    match owners.len() {
        1 => Ok(owners.remove(0)),
        0 => anyhow::bail!("no bot has a mini app named {short_name}; pass --bot <bot> to create it"),
        _ => anyhow::bail!("bots {} each have a mini app named {short_name}; pass --bot", owners.join(", ")),
    }
}

/// Every file under `dir` (but dotfiles), as a bundle.
fn read_bundle(dir: &std::path::Path) -> anyhow::Result<plaza_service::hosting::RawBundle> {
    fn walk(
        root: &std::path::Path,
        dir: &std::path::Path,
        out: &mut plaza_service::hosting::RawBundle,
    ) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out)?;
            } else {
                let rel = path.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
                out.push((rel, std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    Ok(files)
}

async fn stars_command(service: &plaza_service::Service, cmd: StarsCommand) -> anyhow::Result<()> {
    match cmd {
        StarsCommand::Grant { username, amount, key } => {
            let (user, t) = service.grant_stars(&username, amount, key.as_deref()).await?;
            let balance = service.star_balance(&user).await?;
            println!("granted {} Stars to @{username} (transfer {}); balance {balance}", t.amount, t.id);
        }
        StarsCommand::Balance { username } => {
            let user = service.user_by_username(&username).await?;
            println!("{}", service.star_balance(&user).await?);
        }
        StarsCommand::History { username, limit } => {
            let user = service.user_by_username(&username).await?;
            for e in service.star_history(&user, None, limit).await? {
                println!(
                    "{}\t{}\t{:+}\t{}\t{}\t{}",
                    e.transfer,
                    e.at,
                    e.delta,
                    e.balance,
                    e.counterparty.key(),
                    e.memo
                );
            }
        }
        StarsCommand::Check => {
            let check = service.ledger_check().await?;
            println!(
                "{} accounts, balances sum to {}, {} mismatched",
                check.accounts,
                check.total,
                check.mismatched.len()
            );
            if check.total != 0 || !check.mismatched.is_empty() {
                anyhow::bail!("the ledger does not balance: {check:?}");
            }
        }
    }
    Ok(())
}

async fn app_command(service: &plaza_service::Service, cmd: AppCommand) -> anyhow::Result<()> {
    match cmd {
        AppCommand::PublicKey => println!("{}", service.webapp_public_key().await?),
        AppCommand::Create { bot, short_name, url, title, description, main } => {
            let title = title.unwrap_or_else(|| short_name.clone());
            let app = service.register_webapp(&bot, &short_name, &title, url.as_deref(), &description, main).await?;
            let bot_user = service.user_by_username(&bot).await?;
            let link = if app.main { format!("/{bot}?startapp") } else { format!("/{bot}/{short_name}") };
            match service.app_url(&bot_user, &app) {
                Some(at) => println!("mini app {short_name} of @{bot}: {at} (opens in the client at {link})"),
                None => println!(
                    "mini app {short_name} of @{bot} registered; deploy it with `plaza app deploy {short_name} <dir>` (it will open at {link})"
                ),
            }
        }
        AppCommand::Deploy { short_name, dir, bot } => {
            let bot = match bot {
                Some(b) => b,
                None => bot_of_app(service, &short_name, None).await?,
            };
            let bundle = read_bundle(&dir)?;
            let v = service.deploy_webapp(&bot, &short_name, bundle).await?;
            let bot_user = service.user_by_username(&bot).await?;
            let app = service.webapp(&bot_user, &short_name).await?;
            println!(
                "deployed {short_name} of @{bot} as version {} ({} file{}, {} bytes): live at {}",
                v.version,
                v.files,
                if v.files == 1 { "" } else { "s" },
                v.bytes,
                service.app_url(&bot_user, &app).unwrap_or_default()
            );
        }
        AppCommand::Rollback { short_name, bot, to } => {
            let bot = bot_of_app(service, &short_name, bot).await?;
            let v = service.rollback_webapp(&bot, &short_name, to).await?;
            println!("{short_name} of @{bot} now serves version {v}");
        }
        AppCommand::Versions { short_name, bot } => {
            let bot = bot_of_app(service, &short_name, bot).await?;
            let (app, versions) = service.webapp_versions(&bot, &short_name).await?;
            for v in versions {
                let live = if app.live_version == Some(v.version) { "\t(live)" } else { "" };
                println!("{}\t{}\t{} file(s)\t{} bytes{live}", v.version, v.created_at, v.files, v.bytes);
            }
        }
        AppCommand::List { bot } => {
            let bots = match bot {
                Some(b) => vec![service.user_by_username(&b).await?],
                None => service.list_bots().await?.into_iter().map(|r| r.bot).collect(),
            };
            for b in bots {
                for a in service.webapps(b.id).await? {
                    println!(
                        "@{}\t{}\t{}\t{}{}",
                        b.username.as_str(),
                        a.short_name.as_str(),
                        service.app_url(&b, &a).unwrap_or_else(|| "(not deployed)".into()),
                        a.title,
                        if a.main { "\t(main)" } else { "" }
                    );
                }
            }
        }
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let server = Server::bind(&config).await?;
    let addr = server.local_addr();
    let where_ = match &config.store {
        StoreConfig::Sqlite { path } => format!("SQLite at {}", path.display()),
        StoreConfig::Postgres { .. } => "PostgreSQL".to_string(),
    };
    tracing::info!(%addr, store = %where_, "plaza is listening");
    println!("Plaza is running at http://{addr}/ (store: {where_}; Ctrl-C to stop)");
    server.run(shutdown_signal()).await
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
