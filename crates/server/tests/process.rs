//! Tests that run the real `plaza` binary: the CLI, and durability across `kill -9`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::{Backend, FreshStore, fresh_store};
use plaza_server::StoreConfig;
use serde_json::{Value, json};
use tokio::sync::Notify;

fn plaza(store: &StoreConfig) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plaza"));
    match store {
        StoreConfig::Sqlite { path } => cmd.arg("--database-url").arg(format!("sqlite://{}", path.display())),
        StoreConfig::Postgres { url } => cmd.arg("--database-url").arg(url),
    };
    cmd.env_remove("PLAZA_CONFIG").env("PLAZA_LOG", "warn");
    cmd
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("plaza runs");
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A `plaza serve` child process on an ephemeral port.
struct Served {
    child: Child,
    base: String,
}

fn serve(store: &FreshStore, config_file: &std::path::Path) -> Served {
    let mut child = plaza(&store.config)
        .arg("--config")
        .arg(config_file)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("plaza serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("startup line");
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .trim_end_matches('/')
        .to_string();
    Served { child, base }
}

/// POSTs JSON (with a bearer token if given) and returns the JSON answer.
async fn post(http: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request").json().await.expect("JSON answer")
}

on_both_backends!(
    cli_manages_users_and_bots,
    acknowledged_writes_survive_kill_9,
    sigterm_shuts_down_gracefully,
    the_init_data_key_is_published_and_kept,
    the_operator_grants_stars,
    a_crash_mid_checkout_charges_once_or_not_at_all
);

async fn cli_manages_users_and_bots(b: Backend) {
    let store = fresh_store(b).await;
    let c = &store.config;
    assert!(run_ok(plaza(c).arg("migrate")).contains("migrations applied"));
    assert!(
        run_ok(plaza(c).args(["user", "create", "alice", "--password", "pw-alice", "--display-name", "Alice"]))
            .contains("@alice")
    );
    let out = plaza(c).args(["user", "create", "alice", "--password", "pw-alice"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("taken"));
    assert!(run_ok(plaza(c).args(["user", "list"])).contains("@alice\tAlice"));
    // Without --password, the password is read from standard input (kept out of the process list).
    let mut child =
        plaza(c).args(["user", "create", "bob"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"pw-bob-secret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("@bob"));
    // The same store named by the environment instead of a flag.
    let url = match c {
        StoreConfig::Sqlite { path } => format!("sqlite://{}", path.display()),
        StoreConfig::Postgres { url } => url.clone(),
    };
    let mut by_env = Command::new(env!("CARGO_BIN_EXE_plaza"));
    by_env.env("PLAZA_DATABASE_URL", url).args(["user", "list"]);
    assert!(run_ok(&mut by_env).contains("@alice\tAlice"));

    let token_of = |out: &str| -> String {
        let token = out
            .lines()
            .find_map(|l| l.rsplit(' ').next().filter(|t| t.contains(':') && t.len() > 36))
            .expect("a token")
            .to_string();
        let (id, secret) = token.split_once(':').unwrap();
        assert!(id.parse::<u64>().unwrap() >= 1_000_001);
        assert_eq!(secret.len(), 35);
        assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'), "{token}");
        token
    };
    let first = token_of(&run_ok(plaza(c).args(["bot", "create", "helper_bot", "--owner", "alice"])));
    for bad in
        [vec!["bot", "create", "helper", "--owner", "alice"], vec!["bot", "create", "other_bot", "--owner", "nobody"]]
    {
        assert!(!plaza(c).args(&bad).output().unwrap().status.success(), "{bad:?}");
    }
    let list = run_ok(plaza(c).args(["bot", "list"]));
    assert!(list.contains("@helper_bot") && list.contains("owner @alice"), "{list}");
    assert!(!run_ok(plaza(c).args(["user", "list"])).contains("helper_bot"));
    // Tokens are stored hashed: showing one is impossible, rotating issues a new one.
    let out = plaza(c).args(["bot", "token", "helper_bot"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rotate"));
    let second = token_of(&run_ok(plaza(c).args(["bot", "token", "helper_bot", "--rotate"])));
    assert_ne!(first, second);
    assert_eq!(first.split(':').next(), second.split(':').next());

    for sub in [
        vec![],
        vec!["serve"],
        vec!["user"],
        vec!["user", "create"],
        vec!["bot"],
        vec!["bot", "create"],
        vec!["bot", "token"],
        vec!["migrate"],
    ] {
        let help = run_ok(Command::new(env!("CARGO_BIN_EXE_plaza")).args(&sub).arg("--help"));
        assert!(help.contains("Usage:"), "{sub:?}: {help}");
    }
}

/// Several clients stream messages into one group; the server is killed with SIGKILL mid-stream.
/// After a restart every message that was answered `200` must be there, with the same id and text,
/// and message ids must have no gaps.
async fn acknowledged_writes_survive_kill_9(b: Backend) {
    const SENDERS: usize = 8;
    const KILL_AFTER: usize = 400;
    let store = fresh_store(b).await;
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("plaza.toml");
    std::fs::write(&config_file, "auth_attempts_per_minute = 100000\nauth_attempts_burst = 100000\n").unwrap();
    let mut server = serve(&store, &config_file);
    let http = reqwest::Client::new();

    let mut tokens = Vec::new();
    for i in 0..SENDERS {
        let body = post(
            &http,
            format!("{}/api/v1/auth/signup", server.base),
            None,
            json!({"username": format!("writer{i}"), "password": "pw-writer", "display_name": "W"}),
        )
        .await;
        tokens.push(body["token"].as_str().expect("token").to_string());
    }
    let members: Vec<String> = (1..SENDERS).map(|i| format!("writer{i}")).collect();
    let group = post(
        &http,
        format!("{}/api/v1/chats/group", server.base),
        Some(&tokens[0]),
        json!({"title": "durability", "members": members}),
    )
    .await;
    let gid = group["id"].as_i64().expect("group id");

    let acked = Arc::new(std::sync::Mutex::new(Vec::<(i64, String)>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(Notify::new());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (i, token) in tokens.iter().cloned().enumerate() {
        let (http, base, acked, count, enough, stop) =
            (http.clone(), server.base.clone(), acked.clone(), count.clone(), enough.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            // Bounded: each sender stops after 10,000 messages even if the kill never came.
            for n in 0..10_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let text = format!("writer {i} message {n}");
                let Ok(resp) = http
                    .post(format!("{base}/api/v1/chats/{gid}/messages"))
                    .bearer_auth(&token)
                    .json(&json!({"text": text}))
                    .send()
                    .await
                else {
                    break;
                };
                if !resp.status().is_success() {
                    break;
                }
                let Ok(body) = resp.json::<Value>().await else { break };
                acked.lock().unwrap().push((body["message_id"].as_i64().unwrap(), text));
                if count.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                    enough.notify_one();
                }
            }
        }));
    }
    enough.notified().await;
    server.child.kill().expect("SIGKILL"); // `Child::kill` sends SIGKILL on Unix.
    server.child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= KILL_AFTER);

    // Restart on the same store; sessions survive too.
    let mut server = serve(&store, &config_file);
    let mut stored = std::collections::BTreeMap::new();
    let mut after = 0;
    loop {
        let page: Value = http
            .get(format!("{}/api/v1/chats/{gid}/messages?after={after}&limit=100", server.base))
            .bearer_auth(&tokens[0])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let page = page.as_array().expect("history page").clone();
        if page.is_empty() {
            break;
        }
        for m in page {
            after = m["message_id"].as_i64().unwrap();
            stored.insert(after, m["text"].as_str().unwrap().to_string());
        }
    }
    for (id, text) in &acked {
        assert_eq!(stored.get(id), Some(text), "acknowledged message {id} lost or changed");
    }
    let ids: Vec<i64> = stored.keys().copied().collect();
    assert_eq!(ids, (1..=ids.len() as i64).collect::<Vec<_>>(), "message ids have gaps");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

/// The Ed25519 key for init data is made once and kept in the store: the CLI and every server on
/// that store show the same public key, before and after a restart.
async fn the_init_data_key_is_published_and_kept(b: Backend) {
    let store = fresh_store(b).await;
    let key = run_ok(plaza(&store.config).args(["app", "public-key"])).trim().to_string();
    assert_eq!(key.len(), 64, "{key:?}");
    assert!(key.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{key:?}");
    assert_eq!(run_ok(plaza(&store.config).args(["webapp", "public-key"])).trim(), key, "webapp is app's alias");
    // Mini apps are registered to a bot as with BotFather's /newapp.
    run_ok(plaza(&store.config).args(["user", "create", "ann", "--password", "pw-ann"]));
    run_ok(plaza(&store.config).args(["bot", "create", "shop_bot", "--owner", "ann"]));
    let made = run_ok(plaza(&store.config).args([
        "app",
        "create",
        "--bot",
        "shop_bot",
        "--short-name",
        "shop",
        "--url",
        "https://shop.example/",
        "--title",
        "Shop",
        "--main",
    ]));
    assert!(made.contains("/shop_bot?startapp"), "{made}");
    let refused = plaza(&store.config)
        .args(["app", "create", "--bot", "shop_bot", "--short-name", "x", "--url", "javascript:1"])
        .output();
    assert!(!refused.unwrap().status.success());
    // A bundle deployed from a directory, again (no new version), changed, and rolled back.
    let bundle = tempfile::tempdir().unwrap();
    let bundle_dir = bundle.path().to_str().unwrap();
    std::fs::write(bundle.path().join("index.html"), "<h1>one</h1>").unwrap();
    std::fs::write(bundle.path().join(".hidden"), "not deployed").unwrap();
    let deployed = run_ok(plaza(&store.config).args(["app", "deploy", "todo", bundle_dir, "--bot", "shop_bot"]));
    assert!(deployed.contains("as version 1 (1 file,"), "{deployed}");
    assert!(deployed.contains("http://todo.shop-bot.localhost:8080/"), "{deployed}");
    let again = run_ok(plaza(&store.config).args(["app", "deploy", "todo", bundle_dir]));
    assert!(again.contains("as version 1 "), "the same bundle is no new version: {again}");
    std::fs::write(bundle.path().join("index.html"), "<h1>two</h1>").unwrap();
    let two = run_ok(plaza(&store.config).args(["app", "deploy", "todo", bundle_dir]));
    assert!(two.contains("as version 2 "), "{two}");
    let back = run_ok(plaza(&store.config).args(["app", "rollback", "todo"]));
    assert!(back.contains("now serves version 1"), "{back}");
    let versions = run_ok(plaza(&store.config).args(["app", "versions", "todo"]));
    assert!(versions.lines().next().unwrap().ends_with("(live)") && versions.lines().count() == 2, "{versions}");
    let missing = plaza(&store.config).args(["app", "rollback", "todo", "--to", "9"]).output().unwrap();
    assert!(!missing.status.success());
    let list = run_ok(plaza(&store.config).args(["app", "list", "--bot", "shop_bot"]));
    assert_eq!(
        list,
        "@shop_bot\tshop\thttps://shop.example/\tShop\t(main)\n@shop_bot\ttodo\thttp://todo.shop-bot.localhost:8080/\ttodo\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("plaza.toml");
    std::fs::write(&config_file, "").unwrap();
    for _ in 0..2 {
        let mut server = serve(&store, &config_file);
        let body: Value = reqwest::get(format!("{}/api/v1/webapps/public_key", server.base))
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON");
        assert_eq!(body, json!({"public_key": key, "algorithm": "ed25519"}));
        server.child.kill().unwrap();
        server.child.wait().unwrap();
    }
}

/// SIGTERM: WebSockets get a close frame ("going away"), and the process exits cleanly.
async fn sigterm_shuts_down_gracefully(b: Backend) {
    use futures_util::StreamExt;
    let store = fresh_store(b).await;
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("plaza.toml");
    std::fs::write(&config_file, "").unwrap();
    let mut server = serve(&store, &config_file);
    let body = post(
        &reqwest::Client::new(),
        format!("{}/api/v1/auth/signup", server.base),
        None,
        json!({"username": "alice", "password": "pw-alice", "display_name": "A"}),
    )
    .await;
    let token = body["token"].as_str().unwrap();
    let ws_url = format!("{}/api/v1/ws?token={token}", server.base.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let hello = ws.next().await.unwrap().unwrap();
    assert!(hello.to_text().unwrap().contains("hello"));

    let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let close = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await.expect("a frame in 10 s");
    match close {
        Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(frame)))) => {
            assert_eq!(u16::from(frame.code), 1001)
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    let exit = tokio::task::spawn_blocking(move || server.child.wait().unwrap()).await.unwrap();
    assert!(exit.success(), "plaza exited with {exit:?}");
}

/// `plaza stars`: a grant lands once per key, balances and histories show it, the ledger balances,
/// and a bot reads its own balance with getMyStarBalance.
async fn the_operator_grants_stars(b: Backend) {
    let store = fresh_store(b).await;
    run_ok(plaza(&store.config).args(["user", "create", "ann", "--password", "pw-ann"]));
    let made = run_ok(plaza(&store.config).args(["bot", "create", "shop_bot", "--owner", "ann"]));
    let token = made.split_whitespace().find(|w| w.contains(':') && w.len() > 36).unwrap().to_string();
    let granted = run_ok(plaza(&store.config).args(["stars", "grant", "ann", "250"]));
    assert!(granted.contains("granted 250 Stars to @ann") && granted.trim_end().ends_with("balance 250"), "{granted}");
    for _ in 0..2 {
        let again = run_ok(plaza(&store.config).args(["stars", "grant", "ann", "50", "--key", "promo-1"]));
        assert!(again.trim_end().ends_with("balance 300"), "a key grants once: {again}");
    }
    let other = plaza(&store.config).args(["stars", "grant", "ann", "60", "--key", "promo-1"]).output().unwrap();
    assert!(!other.status.success(), "the key was used for another grant");
    for bad in [["stars", "grant", "ann", "0"], ["stars", "grant", "ann", "-5"], ["stars", "grant", "nobody", "5"]] {
        assert!(!plaza(&store.config).args(bad).output().unwrap().status.success(), "{bad:?}");
    }
    run_ok(plaza(&store.config).args(["stars", "grant", "shop_bot", "7"]));
    assert_eq!(run_ok(plaza(&store.config).args(["stars", "balance", "ann"])).trim(), "300");
    let history = run_ok(plaza(&store.config).args(["stars", "history", "ann"]));
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 2, "{history}");
    assert!(lines[0].contains("\t+50\t300\tissuance\tgrant"), "{history}");
    let check = run_ok(plaza(&store.config).args(["stars", "check"]));
    assert!(check.contains("balances sum to 0, 0 mismatched"), "{check}");
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("plaza.toml");
    std::fs::write(&config_file, "sandbox = true\n").unwrap();
    let mut server = serve(&store, &config_file);
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let login =
        post(&http, format!("{base}/api/v1/auth/login"), None, json!({"username": "ann", "password": "pw-ann"})).await;
    let person = login["token"].as_str().expect("token").to_string();
    let topup = |key: &'static str| {
        post(&http, format!("{base}/api/v1/stars/topup"), Some(&person), json!({"amount": 10, "key": key}))
    };
    assert_eq!(topup("served-1").await["balance"], 310);
    // The operator grants while the server runs: the server's next transfer must build on the
    // grant, not on what it remembered before it (the CLI is another process).
    let granted = run_ok(plaza(&store.config).args(["stars", "grant", "ann", "5"]));
    assert!(granted.trim_end().ends_with("balance 315"), "{granted}");
    assert_eq!(topup("served-2").await["balance"], 325, "the grant made while serving counts");
    let body: Value = reqwest::get(format!("{}/bot{token}/getMyStarBalance", server.base))
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(body, json!({"ok": true, "result": {"amount": 7}}));
    let body: Value = reqwest::get(format!("{}/bot{token}/getStarTransactions?limit=5", server.base))
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    let txs = body["result"]["transactions"].as_array().expect("transactions");
    assert_eq!(txs.len(), 1, "{body}");
    assert_eq!((txs[0]["amount"].as_i64(), &txs[0]["source"]), (Some(7), &json!({"type": "other"})), "{body}");
    assert!(txs[0]["id"].is_string() && txs[0]["date"].is_i64() && txs[0].get("receiver").is_none(), "{body}");
    let body: Value = reqwest::get(format!("{}/bot{token}/getStarTransactions?offset=1", server.base))
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(body["result"]["transactions"], json!([]));
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert_eq!(run_ok(plaza(&store.config).args(["stars", "balance", "ann"])).trim(), "325");
    let check = run_ok(plaza(&store.config).args(["stars", "check"]));
    assert!(check.contains("balances sum to 0, 0 mismatched"), "{check}");
}

/// The next pre-checkout query the bot gets, long-polling from `offset`.
async fn next_pre_checkout(http: &reqwest::Client, base: &str, token: &str, offset: &mut i64) -> Value {
    for _ in 0..20 {
        let body = post(
            http,
            format!("{base}/bot{token}/getUpdates"),
            None,
            json!({"offset": *offset, "timeout": 5, "allowed_updates": ["pre_checkout_query", "message"]}),
        )
        .await;
        for u in body["result"].as_array().expect("updates") {
            *offset = u["update_id"].as_i64().unwrap() + 1;
            if let Some(q) = u.get("pre_checkout_query") {
                return q.clone();
            }
        }
    }
    panic!("no pre_checkout_query");
}

/// The server is killed (SIGKILL) while checkouts wait for the bot. After the restart, a bot that
/// answers within the window gets the payment made once (and its successful_payment); a checkout
/// nobody answers is cancelled by the jobs with nothing charged; a paid payment stays paid; and
/// the ledger balances.
async fn a_crash_mid_checkout_charges_once_or_not_at_all(b: Backend) {
    let store = fresh_store(b).await;
    run_ok(plaza(&store.config).args(["user", "create", "ann", "--password", "pw-ann"]));
    let made = run_ok(plaza(&store.config).args(["bot", "create", "shop_bot", "--owner", "ann"]));
    let token = made.split_whitespace().find(|w| w.contains(':') && w.len() > 36).unwrap().to_string();
    run_ok(plaza(&store.config).args(["stars", "grant", "ann", "20"]));
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("plaza.toml");
    std::fs::write(&config_file, "").unwrap();
    let http = reqwest::Client::new();
    let mut server = serve(&store, &config_file);
    let base = server.base.clone();
    let login =
        post(&http, format!("{base}/api/v1/auth/login"), None, json!({"username": "ann", "password": "pw-ann"})).await;
    let person = login["token"].as_str().expect("token").to_string();
    let link = post(
        &http,
        format!("{base}/bot{token}/createInvoiceLink"),
        None,
        json!({"title": "Tea", "description": "A pot", "payload": "tea", "currency": "XTR", "prices": [{"label": "Tea", "amount": 5}]}),
    )
    .await;
    let slug = link["result"].as_str().expect("link").trim_start_matches("https://t.me/$").to_string();

    // Two checkouts wait for the bot (two people would be the same; one person, two attempts in
    // a row, since a person has one open checkout per invoice).
    let mut offset = 0;
    let mut queries = Vec::new();
    for key in ["first", "second"] {
        let (http2, url, p2) = (http.clone(), format!("{base}/api/v1/invoices/{slug}/pay"), person.clone());
        let paying =
            tokio::spawn(async move { http2.post(url).bearer_auth(p2).json(&json!({"key": key})).send().await });
        queries.push(next_pre_checkout(&http, &base, &token, &mut offset).await);
        if key == "first" {
            // The person closes the sheet of the first; the second is then allowed.
            let id = queries[0]["id"].as_str().unwrap();
            let cancelled = post(&http, format!("{base}/api/v1/payments/{id}/cancel"), Some(&person), json!({})).await;
            assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
            let _ = paying.await;
        } else {
            server.child.kill().expect("SIGKILL");
            server.child.wait().unwrap();
            assert!(paying.await.unwrap().is_err(), "the request died with the server");
        }
    }
    // Restarted: the bot answers the second checkout within its window; it is paid once.
    let mut server = serve(&store, &config_file);
    let base = server.base.clone();
    let second = queries[1]["id"].as_str().unwrap().to_string();
    let answer = post(
        &http,
        format!("{base}/bot{token}/answerPreCheckoutQuery"),
        None,
        json!({"pre_checkout_query_id": second, "ok": true}),
    )
    .await;
    assert_eq!(answer["ok"], true, "{answer}");
    let paid: Value = http
        .get(format!("{base}/api/v1/payments/{second}"))
        .bearer_auth(&person)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(paid["state"], "paid", "{paid}");
    let updates = post(&http, format!("{base}/bot{token}/getUpdates"), None, json!({"offset": offset})).await;
    let delivered: Vec<&Value> =
        updates["result"].as_array().unwrap().iter().filter_map(|u| u["message"].get("successful_payment")).collect();
    assert_eq!(delivered.len(), 1, "one successful_payment: {updates}");
    assert_eq!(delivered[0]["telegram_payment_charge_id"], paid["charge_id"]);
    // The cancelled first one stays cancelled; answering it now is refused.
    let first = queries[0]["id"].as_str().unwrap();
    let late = post(
        &http,
        format!("{base}/bot{token}/answerPreCheckoutQuery"),
        None,
        json!({"pre_checkout_query_id": first, "ok": true}),
    )
    .await;
    assert_eq!(late["ok"], false, "{late}");

    // A third checkout is left unanswered across a crash: the jobs cancel it after its window.
    let link = post(
        &http,
        format!("{base}/bot{token}/createInvoiceLink"),
        None,
        json!({"title": "Cake", "description": "A slice", "payload": "cake", "currency": "XTR", "prices": [{"label": "Cake", "amount": 4}]}),
    )
    .await;
    let cake = link["result"].as_str().unwrap().trim_start_matches("https://t.me/$").to_string();
    let (http2, url, p2) = (http.clone(), format!("{base}/api/v1/invoices/{cake}/pay"), person.clone());
    let paying =
        tokio::spawn(async move { http2.post(url).bearer_auth(p2).json(&json!({"key": "third"})).send().await });
    let offset_before = offset;
    let third = next_pre_checkout(&http, &base, &token, &mut offset).await;
    assert!(offset > offset_before);
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();
    let _ = paying.await;
    let mut server = serve(&store, &config_file);
    let base = server.base.clone();
    let third_id = third["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let p: Value = http
            .get(format!("{base}/api/v1/payments/{third_id}"))
            .bearer_auth(&person)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if p["state"] == "cancelled" {
            break;
        }
        assert_eq!(p["state"], "pre_checkout", "{p}");
        assert!(std::time::Instant::now() < deadline, "never cancelled: {p}");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let late = post(
        &http,
        format!("{base}/bot{token}/answerPreCheckoutQuery"),
        None,
        json!({"pre_checkout_query_id": third_id, "ok": true}),
    )
    .await;
    assert_eq!(late["ok"], false, "{late}");
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    assert_eq!(
        run_ok(plaza(&store.config).args(["stars", "balance", "ann"])).trim(),
        "15",
        "charged once, for the tea"
    );
    assert_eq!(run_ok(plaza(&store.config).args(["stars", "balance", "shop_bot"])).trim(), "5");
    let check = run_ok(plaza(&store.config).args(["stars", "check"]));
    assert!(check.contains("balances sum to 0, 0 mismatched"), "{check}");
}
