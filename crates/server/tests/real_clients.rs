//! Plaza driven by the real bot libraries, installed pinned from their registries:
//! python-telegram-bot and aiogram (PyPI), grammY and telegraf (npm).
//!
//! Each test starts Plaza, signs up a person, creates a bot and runs one of the bots in
//! `tests/clients/` (an ordinary bot written as its library's docs show, configured only through
//! its environment) in polling or webhook mode. Then the person talks to it through the client
//! API and watches the answers on the WebSocket: `/start <payload>` (HTML, inline keyboard),
//! pressing the button (callback answer, edit), `/delete`, `/error` (the library's own exception),
//! plain text (echo) and `/photo` (multipart upload, `getFile`, download).
//!
//! `scripts/test` installs the libraries (`target/clients/venv`, `tests/clients/node/node_modules`);
//! without them these tests fail and say so.

mod common;

use std::time::Duration;

use common::proc::{Proc, free_port, repo_root};
use common::{Backend, TestServer, Ws};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::Command;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Size of the PNG every bot makes (`tests/clients/python/pixel.py`, `tests/clients/node/pixel.mjs`).
const PHOTO_BYTES: usize = 268;
/// From spawning the bot to its READY: interpreter start-up and imports on a busy machine.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// From an action of the person to the bot's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);
const INSTALL_HINT: &str = "run scripts/test, which installs the bot libraries before running the tests";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Library {
    Ptb,
    Aiogram,
    Grammy,
    Telegraf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Polling,
    Webhook,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Polling => "polling",
            Mode::Webhook => "webhook",
        }
    }
}

impl Library {
    fn name(self) -> &'static str {
        match self {
            Library::Ptb => "ptb",
            Library::Aiogram => "aiogram",
            Library::Grammy => "grammy",
            Library::Telegraf => "telegraf",
        }
    }

    /// The command that runs this library's bot; fails the test when the library is not installed.
    fn command(self) -> Command {
        let root = repo_root();
        match self {
            Library::Ptb | Library::Aiogram => {
                let python = root.join("target/clients/venv/bin/python");
                let dir = root.join("tests/clients/python");
                let package = if self == Library::Ptb { "telegram" } else { "aiogram" };
                let installed = std::fs::read_dir(root.join("target/clients/venv/lib")).ok().is_some_and(|mut libs| {
                    libs.any(|d| d.is_ok_and(|d| d.path().join("site-packages").join(package).is_dir()))
                });
                assert!(
                    python.exists() && installed,
                    "{package} is not installed in {}: {INSTALL_HINT}",
                    root.join("target/clients/venv").display()
                );
                let mut cmd = Command::new(python);
                cmd.arg(dir.join(format!("{}_bot.py", self.name()))).current_dir(dir);
                cmd.env("PYTHONUNBUFFERED", "1").env("PYTHONDONTWRITEBYTECODE", "1");
                cmd
            }
            Library::Grammy | Library::Telegraf => {
                let dir = root.join("tests/clients/node");
                let package = dir.join("node_modules").join(self.name()).join("package.json");
                assert!(package.exists(), "{} is not installed in {}: {INSTALL_HINT}", self.name(), dir.display());
                let mut cmd = Command::new("node");
                cmd.arg(dir.join(format!("{}_bot.mjs", self.name()))).current_dir(dir);
                cmd
            }
        }
    }

    /// What the bot answers to `/error`: the library's exception class and its text for Telegram's
    /// `Bad Request: chat not found`. python-telegram-bot strips the `Bad Request: ` prefix and
    /// capitalises the rest (`TelegramError.message`); the others keep the description as sent.
    fn caught(self) -> &'static str {
        match self {
            Library::Ptb => "caught BadRequest: Chat not found",
            Library::Aiogram => "caught TelegramBadRequest: Bad Request: chat not found",
            Library::Grammy => "caught GrammyError: Bad Request: chat not found",
            Library::Telegraf => "caught TelegramError: Bad Request: chat not found",
        }
    }
}

/// The person talking to the bot: the client API and the WebSocket.
struct Person<'a> {
    server: &'a TestServer,
    token: String,
    ws: Ws,
    bot_id: i64,
}

impl Person<'_> {
    /// The next frame `wanted` accepts, skipping others; fails after [`ANSWER_TIMEOUT`].
    async fn expect(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        let mut skipped = Vec::new();
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.stream.next())
                .await
                .unwrap_or_else(|_| panic!("no {what} within {ANSWER_TIMEOUT:?}; frames seen meanwhile: {skipped:#?}"));
            let frame: Value = match msg.expect("WebSocket open").expect("WebSocket frame") {
                WsMessage::Text(t) => serde_json::from_str(&t).expect("frame is JSON"),
                WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
                other => panic!("unexpected WebSocket message {other:?} while waiting for {what}"),
            };
            if wanted(&frame) {
                return frame;
            }
            skipped.push(frame);
        }
    }

    /// Frames matching each of `wanted`, in any order, skipping others; fails after
    /// [`ANSWER_TIMEOUT`].
    async fn expect_all(&mut self, what: &str, wanted: &[&dyn Fn(&Value) -> bool]) -> Vec<Value> {
        let mut found: Vec<Option<Value>> = vec![None; wanted.len()];
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        while found.iter().any(Option::is_none) {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let missing = |f: &Value| wanted.iter().zip(&found).any(|(w, got)| got.is_none() && w(f));
            let frame = tokio::time::timeout(remaining, self.expect(what, missing))
                .await
                .unwrap_or_else(|_| panic!("no {what} within {ANSWER_TIMEOUT:?}"));
            let i = (0..wanted.len()).find(|&i| found[i].is_none() && wanted[i](&frame)).expect("matched");
            found[i] = Some(frame);
        }
        found.into_iter().flatten().collect()
    }

    /// The next new message from the bot whose text `wanted` accepts.
    async fn bot_says(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> Value {
        let bot_id = self.bot_id;
        let frame = self
            .expect(what, |f| {
                f["type"] == "message_new"
                    && f["message"]["from"]["id"] == bot_id
                    && f["message"]["text"].as_str().is_some_and(&wanted)
            })
            .await;
        frame["message"].clone()
    }

    async fn send(&self, text: &str) {
        self.server.send(&self.token, self.bot_id, text).await;
    }
}

async fn bot_api(server: &TestServer, token: &str, method: &str) -> Value {
    let resp = server.http.get(format!("{}/bot{token}/{method}", server.base)).send().await.expect("Bot API call");
    let body: Value = resp.json().await.expect("Bot API answers JSON");
    assert_eq!(body["ok"], true, "{method}: {body}");
    body["result"].clone()
}

async fn scenario(backend: Backend, library: Library, mode: Mode) {
    let server = common::spawn(backend).await;
    let (token, _) = server.signup("alice").await;
    let bot_username = format!("{}_{}_bot", library.name(), mode.name());
    let (bot_token, bot_id) = server.create_bot(&bot_username, "alice").await;
    let webhook_port = free_port();

    let mut command = library.command();
    command.env("PLAZA_URL", &server.base).env("BOT_TOKEN", &bot_token).env("MODE", mode.name());
    command.env("WEBHOOK_PORT", webhook_port.to_string());
    let name = format!("{} ({}) bot", library.name(), mode.name());
    let mut bot = Proc::spawn(&name, command, INSTALL_HINT);
    bot.ready(READY_TIMEOUT).await;

    // Start-up: the commands are set, the webhook (if any) points at the bot's own server.
    let commands = bot_api(&server, &bot_token, "getMyCommands").await;
    let names: Vec<&str> =
        commands.as_array().expect("commands").iter().filter_map(|c| c["command"].as_str()).collect();
    assert_eq!(names, ["start", "help", "photo", "error", "delete"]);
    let info = bot_api(&server, &bot_token, "getWebhookInfo").await;
    let url = info["url"].as_str().expect("url");
    match mode {
        Mode::Polling => assert_eq!(url, "", "a polling bot has no webhook"),
        Mode::Webhook => assert!(url.starts_with(&format!("http://127.0.0.1:{webhook_port}/")), "webhook: {info}"),
    }

    let ws = server.ws(&token, None).await;
    let mut person = Person { server: &server, token, ws, bot_id };
    person.expect("hello", |f| f["type"] == "hello").await;

    // /start with a deep-link payload: HTML and an inline keyboard.
    let (status, body) =
        server.post(&format!("/api/v1/bots/{bot_username}/start"), &person.token, json!({"payload": "hello"})).await;
    assert_eq!(status, StatusCode::OK, "start: {body}");
    assert_eq!(body["chat"]["id"], bot_id, "start: {body}");
    let hello = person.bot_says("the /start answer", |t| t.starts_with("Hello")).await;
    assert_eq!(hello["text"], "Hello, alice! payload=hello");
    assert_eq!(hello["chat_id"], bot_id);
    let entities = hello["entities"].as_array().cloned().unwrap_or_default();
    assert!(entities.contains(&json!({"type": "bold", "offset": 0, "length": 5})), "entities: {entities:?}");
    assert_eq!(
        hello["reply_markup"],
        json!({"type": "inline_keyboard", "rows": [[{"text": "Press", "action": "callback_data", "value": "press:1"}]]})
    );
    let hello_id = hello["message_id"].as_i64().expect("message_id");

    // Pressing the button: the bot answers the query with an alert and edits its message.
    let (status, answer) = server
        .post(
            &format!("/api/v1/chats/{bot_id}/messages/{hello_id}/callback"),
            &person.token,
            json!({"data": "press:1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "callback: {answer}");
    assert_eq!(answer["answered"], true, "callback: {answer}");
    assert_eq!(answer["text"], "pressed 1", "callback: {answer}");
    assert_eq!(answer["show_alert"], true, "callback: {answer}");
    let edited = person
        .expect("the edit after the press", |f| f["type"] == "message_edited" && f["message"]["message_id"] == hello_id)
        .await;
    assert_eq!(edited["message"]["text"], "Pressed!");
    assert!(edited["message"].get("reply_markup").is_none_or(Value::is_null), "keyboard removed: {edited}");

    // /delete: a message that appears and goes. The deletion and the bot's next message may come
    // in either order: telegraf sends deleteMessage as a webhook reply, which Plaza runs while the
    // bot goes on.
    person.send("/delete").await;
    let doomed = person.bot_says("'to be deleted'", |t| t == "to be deleted").await;
    let doomed_id = doomed["message_id"].as_i64().expect("message_id");
    person
        .expect_all(
            "the deletion and 'deleted'",
            &[
                &|f: &Value| f["type"] == "message_deleted" && f["chat_id"] == bot_id && f["message_id"] == doomed_id,
                &|f: &Value| {
                    f["type"] == "message_new"
                        && f["message"]["from"]["id"] == bot_id
                        && f["message"]["text"] == "deleted"
                },
            ],
        )
        .await;

    // /error: a Bot API error surfaces as the library's own exception.
    person.send("/error").await;
    let caught = person.bot_says("the /error answer", |t| t.starts_with("caught ")).await;
    assert_eq!(caught["text"], library.caught());

    // Plain text is echoed.
    person.send("hi there, bot").await;
    let echo = person.bot_says("the echo", |t| t.starts_with("echo: ")).await;
    assert_eq!(echo["text"], "echo: hi there, bot");

    // /photo: a multipart upload, getFile, and the download through /file/bot<token>/<path>.
    person.send("/photo").await;
    let photo = person
        .expect("the photo", |f| {
            f["type"] == "message_new" && f["message"]["from"]["id"] == bot_id && !f["message"]["media"].is_null()
        })
        .await;
    let photo = &photo["message"];
    assert_eq!(photo["text"], "a photo", "the photo's caption: {photo}");
    assert_eq!(photo["media"]["kind"], "photo", "{photo}");
    assert_eq!(photo["media"]["size"], PHOTO_BYTES, "{photo}");
    let downloaded = person.bot_says("the /photo answer", |t| t.starts_with("downloaded ")).await;
    assert_eq!(downloaded["text"], format!("downloaded {PHOTO_BYTES} bytes"));

    // Every webhook delivery was taken at the first try: the libraries accept Plaza's requests.
    if mode == Mode::Webhook {
        let info = bot_api(&server, &bot_token, "getWebhookInfo").await;
        assert!(info.get("last_error_message").is_none(), "webhook deliveries failed: {info}");
    }
    drop(bot);
}

async fn ptb_polling(b: Backend) {
    scenario(b, Library::Ptb, Mode::Polling).await
}
async fn ptb_webhook(b: Backend) {
    scenario(b, Library::Ptb, Mode::Webhook).await
}
async fn aiogram_polling(b: Backend) {
    scenario(b, Library::Aiogram, Mode::Polling).await
}
async fn aiogram_webhook(b: Backend) {
    scenario(b, Library::Aiogram, Mode::Webhook).await
}
async fn grammy_polling(b: Backend) {
    scenario(b, Library::Grammy, Mode::Polling).await
}
async fn grammy_webhook(b: Backend) {
    scenario(b, Library::Grammy, Mode::Webhook).await
}
async fn telegraf_polling(b: Backend) {
    scenario(b, Library::Telegraf, Mode::Polling).await
}
async fn telegraf_webhook(b: Backend) {
    scenario(b, Library::Telegraf, Mode::Webhook).await
}

on_both_backends!(
    ptb_polling,
    ptb_webhook,
    aiogram_polling,
    aiogram_webhook,
    grammy_polling,
    grammy_webhook,
    telegraf_polling,
    telegraf_webhook,
);
