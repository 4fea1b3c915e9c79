//! The web client end to end in real headless Chromium: `tests/clients/node/web_e2e.mjs` (with
//! playwright-core and Debian's `chromium`) drives two browser contexts against the real `plaza`
//! binary, with a bot written with grammY running beside it. When the script asks, the server is
//! killed and started again on the same port and store, and the browsers must resume.
//!
//! `scripts/test` installs playwright-core, grammY and Chromium; without them this test fails and
//! says so. `PLAZA_SCREENSHOTS=<dir>` also writes the README's screenshots into `<dir>`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::proc::{Proc, free_port, repo_root};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const INSTALL_HINT: &str = "run scripts/test, which installs Chromium, playwright-core and grammY first";
/// The whole browser scenario, on a busy two-core machine.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(300);

fn plaza(db: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plaza"));
    cmd.arg("--database-url").arg(format!("sqlite://{}", db.display()));
    cmd.env_remove("PLAZA_CONFIG").env("PLAZA_LOG", "warn");
    cmd
}

async fn run_ok(mut cmd: Command) -> String {
    let out = cmd.output().await.expect("plaza runs");
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_client_end_to_end_in_chromium() {
    let node_dir = repo_root().join("tests/clients/node");
    for needed in ["node_modules/playwright-core/package.json", "node_modules/grammy/package.json"] {
        assert!(node_dir.join(needed).exists(), "{needed} is missing in {}: {INSTALL_HINT}", node_dir.display());
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).exists(), "no Chromium at {chromium}: {INSTALL_HINT}");

    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("plaza.db");
    run_ok({
        let mut c = plaza(&db);
        c.args(["user", "create", "botmaker", "--password", "botmaker-pw"]);
        c
    })
    .await;
    let created = run_ok({
        let mut c = plaza(&db);
        c.args(["bot", "create", "web_test_bot", "--owner", "botmaker"]);
        c
    })
    .await;
    let token = created
        .split_whitespace()
        .find(|w| w.contains(':') && w.len() > 36)
        .unwrap_or_else(|| panic!("no token in {created:?}"))
        .to_string();

    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = serve(&db, port).await;

    let mut bot_cmd = Command::new("node");
    bot_cmd.arg(node_dir.join("grammy_bot.mjs")).current_dir(&node_dir);
    bot_cmd.env("PLAZA_URL", &url).env("BOT_TOKEN", &token).env("MODE", "polling");
    let mut bot = Proc::spawn("the grammY bot", bot_cmd, INSTALL_HINT);
    bot.ready(Duration::from_secs(60)).await;

    let mut e2e_cmd = Command::new("node");
    e2e_cmd.arg(node_dir.join("web_e2e.mjs")).current_dir(&node_dir);
    e2e_cmd.env("PLAZA_URL", &url).env("BOT_USERNAME", "web_test_bot").env("CHROMIUM", &chromium);
    // The hostile mini app's forged init data is checked with the bot's token, as its backend would.
    e2e_cmd.env("BOT_TOKEN", &token);
    if let Some(shots) = std::env::var_os("PLAZA_SCREENSHOTS").map(PathBuf::from) {
        // Relative to the repository, not to this crate (cargo's working directory for tests).
        e2e_cmd.env("SCREENSHOT_DIR", if shots.is_absolute() { shots } else { repo_root().join(shots) });
    }
    let mut browser = Proc::spawn("the browser test (web_e2e.mjs)", e2e_cmd, INSTALL_HINT);
    let scenario = async {
        let mut passed = false;
        while let Some(line) = browser.line().await {
            match line.trim() {
                "RESTART" => {
                    server.kill().await.expect("kill plaza");
                    server = serve(&db, port).await;
                    browser.say("UP").await;
                }
                "PASS" => passed = true,
                _ => {}
            }
        }
        passed
    };
    let passed = tokio::time::timeout(SCENARIO_TIMEOUT, scenario).await.expect("the browser test finished in time");
    let status = browser.child.wait().await.expect("exit status");
    assert!(passed && status.success(), "the browser test failed ({status}); its output:\n{}", browser.output());
    drop(bot);
}
