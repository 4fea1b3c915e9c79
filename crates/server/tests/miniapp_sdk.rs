//! Mini apps written with the real SDKs, end to end: one with `@telegram-apps/sdk`, one with
//! `@twa-dev/sdk` (`tests/clients/webapps/`), bundled with esbuild from npm packages installed at
//! test time (`tests/clients/node/build_webapps.mjs`), deployed to the real `plaza` binary with
//! `plaza app deploy`, and opened in its web client in headless Chromium by
//! `tests/clients/node/miniapp_sdk_e2e.mjs`: launch, theme, main and back buttons, a popup,
//! CloudStorage, answerWebAppQuery through the app's backend (which checks the init data with
//! `@telegram-apps/init-data-node`) and sendData. The init data each app sent is then checked with
//! PyPI's `init-data-py`: the HMAC with the bot's token, and Ed25519 with the bot id and the key
//! Plaza publishes.
//!
//! `scripts/test` installs the Node packages, init-data-py and Chromium; without them this test
//! fails and says so.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::proc::{Proc, free_port, repo_root};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const INSTALL_HINT: &str = "run scripts/test, which installs Chromium, the Node clients (playwright-core, esbuild, \
     @telegram-apps/sdk, @twa-dev/sdk, @telegram-apps/init-data-node) and init-data-py first";
/// The browser scenario (about 10 s when the machine is idle).
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(90);
const BOT: &str = "sdk_test_bot";
const APPS: [&str; 2] = ["tma", "twa"];

fn plaza(db: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plaza"));
    cmd.arg("--database-url").arg(format!("sqlite://{}", db.display()));
    cmd.env_remove("PLAZA_CONFIG").env("PLAZA_LOG", "warn");
    cmd
}

async fn run_ok(mut cmd: Command) -> String {
    let out = cmd.output().await.unwrap_or_else(|e| panic!("{cmd:?} runs: {e} ({INSTALL_HINT})"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// `plaza serve` on `port`, answering once it listens.
async fn serve(db: &Path, port: u16) -> Child {
    let mut child = plaza(db)
        .args(["serve", "--no-flood-limits", "--sandbox", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("plaza serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).await.expect("start-up line");
    assert!(line.contains(&format!("127.0.0.1:{port}")), "unexpected start-up line {line:?}");
    child
}

/// What init-data-py makes of `init_data` (`tests/clients/python/check_init_data_py.py`).
async fn init_data_py(token: &str, bot_id: i64, public_key: &str, init_data: &str) -> Value {
    let python = repo_root().join("target/clients/venv/bin/python");
    let mut child = Command::new(&python)
        .arg("check_init_data_py.py")
        .current_dir(repo_root().join("tests/clients/python"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} ({INSTALL_HINT})", python.display()));
    let input = json!({"token": token, "bot_id": bot_id, "public_key": public_key, "init_data": init_data});
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.to_string().as_bytes()).await.expect("write the request");
    drop(stdin);
    let out = child.wait_with_output().await.expect("check_init_data_py.py finishes");
    assert!(
        out.status.success(),
        "check_init_data_py.py failed ({INSTALL_HINT}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("check_init_data_py.py printed {:?}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mini_apps_built_with_the_real_sdks_end_to_end() {
    let node_dir = repo_root().join("tests/clients/node");
    for needed in ["playwright-core", "esbuild", "@telegram-apps/sdk", "@twa-dev/sdk", "@telegram-apps/init-data-node"]
    {
        let manifest = node_dir.join("node_modules").join(needed).join("package.json");
        assert!(manifest.exists(), "{} is missing: {INSTALL_HINT}", manifest.display());
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).exists(), "no Chromium at {chromium}: {INSTALL_HINT}");

    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("plaza.db");
    let created = run_ok({
        let mut c = plaza(&db);
        c.args(["user", "create", "sdk_user", "--password", "sdk-user-pw"]);
        c
    })
    .await;
    let user_id: i64 = created
        .split("(id ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no user id in {created:?}"));
    let created = run_ok({
        let mut c = plaza(&db);
        c.args(["bot", "create", BOT, "--owner", "sdk_user"]);
        c
    })
    .await;
    let token = created
        .split_whitespace()
        .find(|w| w.contains(':') && w.len() > 36)
        .unwrap_or_else(|| panic!("no token in {created:?}"))
        .to_string();
    let bot_id: i64 = token.split(':').next().and_then(|s| s.parse().ok()).expect("the token starts with the bot id");

    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let _server = serve(&db, port).await;

    // The apps, bundled and deployed while Plaza runs.
    let bundles = dir.path().join("apps");
    run_ok({
        let mut c = Command::new("node");
        c.arg(node_dir.join("build_webapps.mjs")).arg(&bundles).current_dir(&node_dir);
        c
    })
    .await;
    for app in APPS {
        let deployed = run_ok({
            let mut c = plaza(&db);
            c.args(["app", "deploy", app]).arg(bundles.join(app)).args(["--bot", BOT]);
            c
        })
        .await;
        assert!(
            deployed.contains("as version 1 ") && deployed.contains(&format!("http://{app}.sdk-test-bot.localhost:")),
            "deploying {app}: {deployed:?}"
        );
    }

    let http = reqwest::Client::builder().no_proxy().build().expect("HTTP client");
    let key: Value = http
        .get(format!("{url}/api/v1/webapps/public_key"))
        .send()
        .await
        .expect("GET /api/v1/webapps/public_key")
        .json()
        .await
        .expect("JSON");
    let public_key = key["public_key"].as_str().unwrap_or_else(|| panic!("no public_key in {key}")).to_string();
    assert_eq!(public_key.len(), 64, "{key}");

    let mut e2e_cmd = Command::new("node");
    e2e_cmd.arg(node_dir.join("miniapp_sdk_e2e.mjs")).current_dir(&node_dir);
    e2e_cmd
        .env("PLAZA_URL", &url)
        .env("BOT_USERNAME", BOT)
        .env("BOT_TOKEN", &token)
        .env("PLAZA_USERNAME", "sdk_user")
        .env("PLAZA_PASSWORD", "sdk-user-pw")
        .env("CHROMIUM", &chromium);
    let mut browser = Proc::spawn("the mini-app SDK browser test (miniapp_sdk_e2e.mjs)", e2e_cmd, INSTALL_HINT);
    let scenario = async {
        let (mut passed, mut captured) = (false, Vec::new());
        while let Some(line) = browser.line().await {
            if let Some(rest) = line.trim().strip_prefix("INIT_DATA ") {
                captured.push(serde_json::from_str::<Value>(rest).expect("INIT_DATA is JSON"));
            } else if line.trim() == "PASS" {
                passed = true;
            }
        }
        (passed, captured)
    };
    let (passed, captured) =
        tokio::time::timeout(SCENARIO_TIMEOUT, scenario).await.expect("the browser test finished in time");
    let status = browser.child.wait().await.expect("exit status");
    assert!(passed && status.success(), "the browser test failed ({status}); its output:\n{}", browser.output());

    // Each app sent its init data once from the inline button (to its backend) and once from the
    // keyboard (in sendData, where it has none).
    let of = |app: &str, launch: &str| -> Vec<String> {
        captured
            .iter()
            .filter(|c| c["app"] == app && c["launch"] == launch)
            .map(|c| c["init_data"].as_str().expect("init_data is a string").to_string())
            .collect()
    };
    let mut query_ids = Vec::new();
    for app in APPS {
        assert_eq!(of(app, "keyboard_button"), vec![String::new()], "{app} from the keyboard: {captured:?}");
        let inline = of(app, "inline_button");
        assert_eq!(inline.len(), 1, "{app} from the inline button: {captured:?}");
        let checked = init_data_py(&token, bot_id, &public_key, &inline[0]).await;
        assert_eq!(
            (
                &checked["error"],
                &checked["hash_ok"],
                &checked["hash_ok_other_token"],
                &checked["signature_ok"],
                &checked["signature_ok_other_bot"],
                &checked["signature_ok_telegram_key"],
            ),
            (&Value::Null, &json!(true), &json!(false), &json!(true), &json!(false), &json!(false)),
            "init-data-py on the {app} app's init data: {checked}"
        );
        assert_eq!(checked["user_id"].as_i64(), Some(user_id), "{app}: {checked}");
        let query_id = checked["query_id"].as_str().unwrap_or_else(|| panic!("{app}: no query_id in {checked}"));
        query_ids.push(query_id.to_string());
    }
    assert_ne!(query_ids[0], query_ids[1], "each launch has its own query_id");
}
