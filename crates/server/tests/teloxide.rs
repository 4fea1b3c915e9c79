//! Plaza driven by a real Rust bot: one written with `teloxide` (crates.io, pinned in
//! `Cargo.toml`) the way its documentation shows, a `Dispatcher` with handlers that long polls
//! `getUpdates`, configured only by `Bot::new(token).set_api_url(url)`. It runs in a task of the
//! test process; the person talks to it through the client API and watches the answers on the
//! WebSocket, as in `real_clients.rs`: `/start <payload>` (HTML, inline keyboard), pressing the
//! button (callback answer with an alert, edit), `/delete`, `/error` (teloxide's own error type),
//! plain text (echo) and `/photo` (multipart upload from memory, `getFile`, download).
//!
//! Everything teloxide fails on lands in the bot's error log: a handler's error, the polling
//! listener's (e.g. a response its strict models cannot parse, with the raw body), or an update no
//! handler took (teloxide turns an update it cannot parse into `UpdateKind::Error`). The test
//! shows the log when it fails and requires it empty at the end.

mod common;

use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Backend, TestServer, Ws};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use teloxide::dispatching::{ShutdownToken, UpdateHandler};
use teloxide::net::Download;
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup, InputFile, ParseMode};
use teloxide::update_listeners::Polling;
use teloxide::utils::command::BotCommands;
use teloxide::utils::html;
use teloxide::{ApiError, RequestError};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// From an action of the person to the bot's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);
/// For the dispatcher to stop once asked.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Size of [`png`]'s image, the same as the other libraries' bots send.
const PHOTO_BYTES: usize = 268;
/// A chat that does not exist.
const NOBODY: ChatId = ChatId(999_999_999);

// ---- the bot --------------------------------------------------------------------------------

type HandlerResult = Result<(), Box<dyn Error + Send + Sync>>;

/// These commands are supported:
#[derive(BotCommands, Clone, Debug)]
#[command(rename_rule = "lowercase")]
enum Command {
    /// Say hello
    Start(String),
    /// What this bot does
    Help,
    /// Send a photo and download it back
    Photo,
    /// Provoke an API error
    Error,
    /// Send a message and delete it
    Delete,
}

fn schema() -> UpdateHandler<Box<dyn Error + Send + Sync>> {
    dptree::entry()
        .branch(Update::filter_message().filter_command::<Command>().endpoint(command))
        .branch(Update::filter_message().endpoint(echo))
        .branch(Update::filter_callback_query().endpoint(press))
}

async fn command(bot: Bot, msg: Message, cmd: Command) -> HandlerResult {
    let chat = msg.chat.id;
    match cmd {
        Command::Start(payload) => {
            let name = msg.from.as_ref().map_or("stranger", |u| u.first_name.as_str());
            let keyboard = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Press", "press:1")]]);
            bot.send_message(chat, format!("<b>Hello</b>, {}! payload={}", html::escape(name), html::escape(&payload)))
                .parse_mode(ParseMode::Html)
                .reply_markup(keyboard)
                .await?;
        }
        Command::Help => {
            bot.send_message(chat, Command::descriptions().to_string()).await?;
        }
        Command::Delete => {
            let sent = bot.send_message(chat, "to be deleted").await?;
            bot.delete_message(chat, sent.id).await?;
            bot.send_message(chat, "deleted").await?;
        }
        Command::Error => {
            let caught = match bot.send_message(NOBODY, "nobody is there").await {
                Err(RequestError::Api(e @ ApiError::ChatNotFound)) => format!("caught ApiError::ChatNotFound: {e}"),
                Err(other) => format!("caught another error: {other:?}"),
                Ok(_) => "no error".to_string(),
            };
            bot.send_message(chat, caught).await?;
        }
        Command::Photo => {
            let sent = bot.send_photo(chat, InputFile::memory(png()).file_name("pixel.png")).caption("a photo").await?;
            let largest = sent.photo().and_then(<[_]>::last).ok_or("the sent message has no photo")?;
            let file = bot.get_file(largest.file.id.clone()).await?;
            let mut downloaded = Vec::new();
            bot.download_file(&file.path, &mut downloaded).await?;
            bot.send_message(chat, format!("downloaded {} bytes", downloaded.len())).await?;
        }
    }
    Ok(())
}

async fn echo(bot: Bot, msg: Message) -> HandlerResult {
    if let Some(text) = msg.text() {
        bot.send_message(msg.chat.id, format!("echo: {text}")).await?;
    }
    Ok(())
}

async fn press(bot: Bot, q: CallbackQuery) -> HandlerResult {
    if q.data.as_deref() == Some("press:1") {
        bot.answer_callback_query(q.id.clone()).text("pressed 1").show_alert(true).await?;
        if let Some(message) = q.regular_message() {
            bot.edit_message_text(message.chat.id, message.id, "Pressed!").await?;
        }
    }
    Ok(())
}

/// A small PNG made in memory, byte for byte the other bots' (`tests/clients/python/pixel.py`):
/// an 8×8 RGB gradient whose image data is one stored (uncompressed) deflate block.
fn png() -> Vec<u8> {
    const SIDE: u8 = 8;
    let mut raw = Vec::new();
    for y in 0..SIDE {
        raw.push(0); // no filter
        for x in 0..SIDE {
            raw.extend([x * 32, y * 32, 128]);
        }
    }
    let len = u16::try_from(raw.len()).expect("one stored block");
    let mut zlib = vec![0x78, 0x01, 0x01];
    zlib.extend(len.to_le_bytes());
    zlib.extend((!len).to_le_bytes());
    zlib.extend(&raw);
    zlib.extend(adler32(&raw).to_be_bytes());
    let mut ihdr = Vec::new();
    ihdr.extend(u32::from(SIDE).to_be_bytes());
    ihdr.extend(u32::from(SIDE).to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8 bits, RGB, deflate, no filter, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", ihdr), (b"IDAT", zlib), (b"IEND", Vec::new())] {
        png.extend(u32::try_from(data.len()).expect("small chunk").to_be_bytes());
        let start = png.len();
        png.extend(kind);
        png.extend(&data);
        let crc = crc32(&png[start..]);
        png.extend(crc.to_be_bytes());
    }
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// The bot running in a task of the test process. Dropping it (also when the test panics) aborts
/// the task; after a panic it prints the errors teloxide reported.
struct RunningBot {
    bot: Bot,
    shutdown: ShutdownToken,
    task: Option<JoinHandle<()>>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl RunningBot {
    /// Sets the commands, then starts dispatching updates from a long poll, as teloxide's
    /// `Dispatcher::dispatch` does, but with every error recorded rather than logged.
    async fn start(api_url: &str, token: &str) -> RunningBot {
        let bot = Bot::new(token).set_api_url(api_url.parse().expect("API URL"));
        bot.set_my_commands(Command::bot_commands()).await.expect("setMyCommands");

        let errors = Arc::new(Mutex::new(Vec::new()));
        let record = |what: &'static str| {
            let errors = errors.clone();
            move |e: String| {
                let errors = errors.clone();
                async move { errors.lock().expect("errors").push(format!("{what}: {e}")) }
            }
        };
        let from_handler = record("handler");
        let from_listener = record("update listener");
        let unhandled = record("unhandled update");

        let mut dispatcher = Dispatcher::builder(bot.clone(), schema())
            // Also an update teloxide could not parse: it becomes `UpdateKind::Error`.
            .default_handler(move |update: Arc<Update>| unhandled(format!("{update:?}")))
            .error_handler(Arc::new(move |e: Box<dyn Error + Send + Sync>| from_handler(format!("{e:?}"))))
            .build();
        let shutdown = dispatcher.shutdown_token();
        let polling = Polling::builder(bot.clone()).timeout(Duration::from_secs(10)).delete_webhook().await.build();
        let task = tokio::spawn(async move {
            dispatcher
                .dispatch_with_listener(polling, Arc::new(move |e: RequestError| from_listener(format!("{e:?}"))))
                .await;
        });
        RunningBot { bot, shutdown, task: Some(task), errors }
    }

    fn errors(&self) -> Vec<String> {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Asks the dispatcher to stop (it drops its long poll and confirms what it handled) and
    /// waits for it.
    async fn stop(mut self) {
        let task = self.task.take().expect("running");
        let stopped = async {
            // Idle only before dispatching has started, which it has once updates were handled.
            self.shutdown.shutdown().expect("the dispatcher is running").await;
            task.await.expect("the dispatcher's task ended cleanly");
        };
        tokio::time::timeout(SHUTDOWN_TIMEOUT, stopped).await.expect("the dispatcher stops");
    }
}

impl Drop for RunningBot {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if std::thread::panicking() {
            eprintln!("---- errors teloxide reported ----\n{:#?}\n----", self.errors());
        }
    }
}

// ---- the person -----------------------------------------------------------------------------

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

// ---- the test -------------------------------------------------------------------------------

async fn teloxide_bot(backend: Backend) {
    assert_eq!(png().len(), PHOTO_BYTES);
    let server = common::spawn(backend).await;
    let (token, _) = server.signup("alice").await;
    let (bot_token, bot_id) = server.create_bot("teloxide_bot", "alice").await;

    let bot = RunningBot::start(&server.base, &bot_token).await;

    // The commands as set at start, read back through teloxide.
    let commands = bot.bot.get_my_commands().await.expect("getMyCommands");
    let names: Vec<&str> = commands.iter().map(|c| c.command.as_str()).collect();
    assert_eq!(names, ["start", "help", "photo", "error", "delete"]);
    assert_eq!(commands[0].description, "Say hello");
    // teloxide sends them as "/start"; Telegram (and Plaza) store them without the slash.
    assert_eq!(Command::bot_commands()[0].command, "/start");
    let info = bot.bot.get_webhook_info().await.expect("getWebhookInfo");
    assert!(info.url.is_none(), "a polling bot has no webhook: {info:?}");

    let ws = server.ws(&token, None).await;
    let mut person = Person { server: &server, token, ws, bot_id };
    person.expect("hello", |f| f["type"] == "hello").await;

    // /start with a deep-link payload: HTML and an inline keyboard.
    let (status, body) =
        server.post("/api/v1/bots/teloxide_bot/start", &person.token, json!({"payload": "hello"})).await;
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

    // /delete: a message that appears and goes, then "deleted".
    person.send("/delete").await;
    let doomed = person.bot_says("'to be deleted'", |t| t == "to be deleted").await;
    let doomed_id = doomed["message_id"].as_i64().expect("message_id");
    person
        .expect("the deletion", |f| {
            f["type"] == "message_deleted" && f["chat_id"] == bot_id && f["message_id"] == doomed_id
        })
        .await;
    person.bot_says("'deleted'", |t| t == "deleted").await;

    // /error: Telegram's "Bad Request: chat not found" as teloxide's own error variant.
    person.send("/error").await;
    let caught = person.bot_says("the /error answer", |t| t.starts_with("caught ")).await;
    assert_eq!(caught["text"], "caught ApiError::ChatNotFound: Bad Request: chat not found");

    // Plain text is echoed.
    person.send("hi there, bot").await;
    let echo = person.bot_says("the echo", |t| t.starts_with("echo: ")).await;
    assert_eq!(echo["text"], "echo: hi there, bot");

    // /photo: a multipart upload from memory, getFile, and the download through
    // /file/bot<token>/<path>.
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

    // Nothing failed on teloxide's side, and it stops when asked.
    assert_eq!(bot.errors(), Vec::<String>::new(), "errors teloxide reported");
    let errors = bot.errors.clone();
    bot.stop().await;
    assert_eq!(*errors.lock().expect("errors"), Vec::<String>::new(), "errors teloxide reported while stopping");
    // Its last getUpdates confirmed every update it handled.
    let url = format!("{}/bot{bot_token}/getUpdates?timeout=0", server.base);
    let left: Value = server.http.get(url).send().await.expect("getUpdates").json().await.expect("JSON");
    assert_eq!(left, json!({"ok": true, "result": []}), "updates left unconfirmed");
}

on_both_backends!(teloxide_bot);
