//! The demo bot of `serve --demo`: @plaza_demo_bot answering from inside the server, showing what
//! a Telegram-style bot can send and what the web client renders (inline buttons with alerts and
//! toasts, a reply keyboard, a photo, a poll, formatted text, chat actions, replies).
//!
//! It is an ordinary bot driven through the service layer instead of HTTP: it long-polls its
//! updates with [`Service::get_updates`] and answers with the same use cases the Bot API methods
//! call. It stops with the server's shutdown token, and an error never stops it: it is logged and
//! the bot waits a little longer each time before trying again.

use std::sync::Arc;
use std::time::Duration;

use plaza_core::bot::{AllowedUpdates, BotCommand, BotText, CallbackAnswer, CallbackQuery, CommandScope};
use plaza_core::file::{FileInfo, FileKind, Media};
use plaza_core::formatting::{self, ParseMode};
use plaza_core::markup::{ButtonAction, InlineButton, KeyboardButton, ReplyKeyboard};
use plaza_core::poll::{PollAnswer, PollKind};
use plaza_core::{Chat, ChatId, ChatKind, Entity, Message, NewMessage, ReplyMarkup, User, UserId, utf16_len};
use plaza_service::bots::{BotMessage, BotUpdate, BotUpdateBody, MAX_POLL_TIMEOUT, MAX_UPDATES, UpdatesRequest};
use plaza_service::files::Upload;
use plaza_service::{Service, ServiceError, ServiceResult};
use tokio_util::sync::CancellationToken;

/// The commands the bot lists in its menu, with what they do.
const COMMANDS: &[(&str, &str)] = &[
    ("start", "Say hello and list what I can do"),
    ("help", "List what I can do"),
    ("buttons", "Buttons under a message: alerts, toasts, links"),
    ("keyboard", "A keyboard of ready-made replies"),
    ("photo", "A picture drawn by the bot"),
    ("poll", "A poll to vote in"),
    ("format", "Bold, italic, code, links and spoilers"),
    ("apps", "Mini apps: a café and a to-do list"),
    ("shop", "Pay for a coffee in Stars, and get a refund"),
];

const DESCRIPTION: &str = "I'm the demo bot of this Plaza server. Press Start and I'll show you what a \
    Telegram-style bot can send here: buttons, keyboards, photos, polls and formatted text. Write me \
    anything and I'll echo it back.";
const SHORT_DESCRIPTION: &str = "Plaza's demo bot: buttons, keyboards, photos, polls and formatting. Say hi!";

/// The reply keyboard of `/keyboard`, row by row.
const FRUITS: &[&[&str]] = &[&["🍎 Apple", "🍐 Pear"], &["🍌 Banana", "🍒 Cherries"]];

/// The `url` button's target: the reference of the API this bot speaks.
const DOCS_URL: &str = "https://core.telegram.org/bots/api";

/// The updates the bot acts on; others are never read.
const HANDLED: &[&str] = &["message", "callback_query", "poll_answer", "pre_checkout_query"];

/// What `/shop` sells, in Stars.
const COFFEE_PRICE: i64 = 5;

/// How long a chat action shows before the answer arrives, so a person sees it.
const ACTION_PAUSE: Duration = Duration::from_millis(600);
/// First and longest wait after an error.
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Size of the generated picture, in pixels.
const PICTURE_WIDTH: u32 = 320;
const PICTURE_HEIGHT: u32 = 200;

/// Runs the bot until `shutdown` is cancelled.
pub async fn run(service: Arc<Service>, bot: UserId, shutdown: CancellationToken) {
    let mut backoff = Backoff::default();
    let me = loop {
        match service.user(bot).await {
            Ok(me) => break me,
            Err(e) => {
                tracing::warn!(error = %e, "demo bot: reading its account failed");
                if !backoff.wait(&shutdown).await {
                    return;
                }
            }
        }
    };
    let mut demo = DemoBot { service, me, picture: None, coffees: Default::default(), shutdown };
    // The menu and profile texts are a nicety: without them the bot still answers.
    if let Err(e) = demo.set_up().await {
        tracing::warn!(error = %e, "demo bot: setting its commands and descriptions failed");
    }
    tracing::info!(bot = %demo.me.username.as_str(), "demo bot: answering messages");
    demo.poll_forever(backoff).await;
}

struct DemoBot {
    service: Arc<Service>,
    me: std::sync::Arc<User>,
    /// The picture of `/photo` once stored, sent again by its file id.
    picture: Option<FileInfo>,
    /// Each person's latest coffee, by its charge id, for `/refund`.
    coffees: std::collections::HashMap<UserId, String>,
    shutdown: CancellationToken,
}

impl DemoBot {
    fn id(&self) -> UserId {
        self.me.id
    }

    async fn set_up(&self) -> ServiceResult<()> {
        let commands = COMMANDS.iter().map(|(c, d)| BotCommand::new(c, d)).collect::<Result<Vec<_>, _>>()?;
        self.service.set_commands(self.id(), CommandScope::Default, None, commands).await?;
        self.service.set_bot_text(self.id(), BotText::Description, None, DESCRIPTION).await?;
        self.service.set_bot_text(self.id(), BotText::ShortDescription, None, SHORT_DESCRIPTION).await?;
        Ok(())
    }

    /// Long-polls and answers, one update after another, until shutdown.
    async fn poll_forever(&mut self, mut backoff: Backoff) {
        let allowed = AllowedUpdates::new(HANDLED.iter().map(|s| s.to_string()).collect());
        let mut offset = 0;
        loop {
            let request = UpdatesRequest {
                offset,
                limit: MAX_UPDATES,
                timeout: MAX_POLL_TIMEOUT,
                allowed_updates: Some(allowed.clone()),
            };
            let polled = tokio::select! {
                r = self.service.get_updates(self.id(), request) => r,
                () = self.shutdown.cancelled() => return,
            };
            let updates = match polled {
                Ok(u) => u,
                Err(ServiceError::Conflict(why)) => {
                    // Someone polls with the printed token, or set a webhook: they get the updates
                    // while this bot steps back for the longest wait, then tries again.
                    tracing::info!(reason = why, "demo bot: another client takes the updates; retrying later");
                    if !backoff.longest().wait(&self.shutdown).await {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "demo bot: reading updates failed");
                    if !backoff.wait(&self.shutdown).await {
                        return;
                    }
                    continue;
                }
            };
            backoff.reset();
            let Some(last) = updates.last().map(|u| u.update_id) else { continue };
            for update in updates {
                if self.shutdown.is_cancelled() {
                    return;
                }
                self.handle(update).await;
            }
            // Confirmed at once, not with the next poll, so a restart does not answer again.
            offset = last as i64 + 1;
            if let Err(e) = self.service.confirm_delivered(self.id(), last + 1).await {
                tracing::warn!(error = %e, "demo bot: confirming updates failed");
            }
        }
    }

    /// Answers one update; a failure is logged and the update dropped, so one bad update can't
    /// hold up the ones behind it.
    async fn handle(&mut self, update: BotUpdate) {
        let kind = update.body.kind();
        let result = match update.body {
            BotUpdateBody::Message(m) => self.on_message(m).await,
            BotUpdateBody::CallbackQuery { query, chat, message } => {
                self.on_callback(query, chat, message.map(|m| m.message)).await
            }
            BotUpdateBody::PollAnswer(answer) => self.on_poll_answer(answer).await,
            // The coffee is always in stock.
            BotUpdateBody::PreCheckoutQuery(p) => {
                self.service.answer_pre_checkout_query(self.id(), &p.id.to_string(), true, None).await
            }
            _ => Ok(()),
        };
        match result {
            Ok(()) => {}
            // The person blocked the bot, left the chat …: nothing to answer.
            Err(ServiceError::Denied(d)) => tracing::debug!(reason = %d, update = kind, "demo bot: can't answer"),
            Err(e) => tracing::warn!(error = %e, update = kind, "demo bot: answering an update failed"),
        }
    }

    // ---- messages ----

    async fn on_message(&mut self, bm: BotMessage) -> ServiceResult<()> {
        let chat = bm.chat.id;
        let in_group = matches!(bm.chat.kind, ChatKind::Group { .. });
        let m = bm.message;
        if let Some(plaza_core::ServiceAction::WebAppData { data, .. }) = m.service.as_deref() {
            return self.on_order(chat, data).await;
        }
        if let Some(plaza_core::ServiceAction::SuccessfulPayment(r)) = m.service.as_deref() {
            self.coffees.insert(m.sender, r.charge_id.clone());
            let (text, entities) = html(&format!(
                "☕ Thanks! Your coffee is on its way: {} ⭐️ received.\nChanged your mind? /refund gives the Stars back.",
                r.total_amount
            ))?;
            return self.send(chat, NewMessage::new(&text, entities, None)?).await;
        }
        if m.service.is_some() || m.poll.is_some() {
            return Ok(());
        }
        if let Some(media) = &m.media {
            // In a group, only commands are for the bot, as with Telegram's privacy mode.
            return if in_group { Ok(()) } else { self.on_file(chat, &m, media).await };
        }
        let text = m.text.as_str().trim();
        if let Some((command, args)) = parse_command(text, self.me.username.as_str()) {
            return self.on_command(chat, &m, command, args, in_group).await;
        }
        if in_group {
            return Ok(());
        }
        if FRUITS.iter().flat_map(|row| row.iter()).any(|f| *f == text) {
            let (answer, entities) = html(&format!(
                "{} — good choice! I've put the keyboard away; /keyboard brings it back.",
                escape(text)
            ))?;
            let reply = NewMessage::new(&answer, entities, Some(m.id.0))?
                .with_markup(Some(ReplyMarkup::Remove { selective: false }));
            return self.send(chat, reply).await;
        }
        self.echo(chat, &m).await
    }

    async fn on_command(
        &mut self,
        chat: ChatId,
        m: &Message,
        command: &str,
        args: &str,
        in_group: bool,
    ) -> ServiceResult<()> {
        match command.to_ascii_lowercase().as_str() {
            "start" => {
                let name = self.service.user(m.sender).await?.display_name.as_str().to_string();
                // A deep link's payload is at most 64 characters; a typed one is cut to that.
                let payload: String = args.chars().take(64).collect();
                self.greet(chat, Some(&name), Some(payload.as_str()).filter(|p| !p.is_empty())).await
            }
            "help" => self.greet(chat, None, None).await,
            "refund" => {
                let answer = match self.coffees.get(&m.sender).cloned() {
                    None => "There is no coffee of yours to refund. /shop sells one.".to_string(),
                    Some(charge) => match self.service.refund_star_payment(self.id(), m.sender, &charge).await {
                        Ok(p) => {
                            self.coffees.remove(&m.sender);
                            format!("Refunded: {} ⭐️ are back in your wallet.", p.total_amount)
                        }
                        Err(ServiceError::Denied(d)) => format!("I couldn't refund it: {d}."),
                        Err(e) => return Err(e),
                    },
                };
                self.send(chat, NewMessage::new(&answer, vec![], Some(m.id.0))?).await
            }
            other => match self.run_command(chat, other).await? {
                true => Ok(()),
                // In a group, an unknown command is probably another bot's.
                false if in_group => Ok(()),
                false => {
                    let (text, entities) =
                        html(&format!("I don't know /{} yet. /help lists what I can do.", escape(other)))?;
                    self.send(chat, NewMessage::new(&text, entities, Some(m.id.0))?).await
                }
            },
        }
    }

    /// The commands that show something, from a message or from a button of the greeting;
    /// `false` for a name that is none of them.
    async fn run_command(&mut self, chat: ChatId, command: &str) -> ServiceResult<bool> {
        match command {
            "buttons" => self.send(chat, buttons_message(0)?).await?,
            "keyboard" => self.keyboard(chat).await?,
            "photo" => self.photo(chat).await?,
            "poll" => self.poll(chat).await?,
            "format" => self.format(chat).await?,
            "apps" => self.apps(chat).await?,
            "shop" => self.shop(chat).await?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The greeting of `/start` (with the person's name and the deep link's payload) and `/help`.
    async fn greet(&self, chat: ChatId, name: Option<&str>, payload: Option<&str>) -> ServiceResult<()> {
        let mut html_text = match name {
            Some(name) => format!(
                "👋 Hi <b>{}</b>! I'm the Plaza demo bot. I run inside this server and show what a bot can do here.\n",
                escape(name)
            ),
            None => "Here is what I can do:\n".to_string(),
        };
        if let Some(p) = payload {
            html_text.push_str(&format!("You came from a link with start=<code>{}</code>.\n", escape(p)));
        }
        html_text.push('\n');
        for (command, description) in COMMANDS.iter().filter(|(c, _)| *c != "start") {
            html_text.push_str(&format!("/{command} — {}\n", escape(description)));
        }
        html_text.push_str("\nOr write me anything, and I'll echo it back.");
        let (text, entities) = html(&html_text)?;
        let button = |label: &str, command: &str| InlineButton {
            text: label.to_string(),
            action: ButtonAction::Callback(format!("cmd:{command}")),
        };
        let keyboard = ReplyMarkup::Inline(vec![
            vec![button("🔘 Buttons", "buttons"), button("⌨️ Keyboard", "keyboard")],
            vec![button("🖼 Photo", "photo"), button("📊 Poll", "poll")],
            vec![button("✨ Formatting", "format")],
        ])
        .check()?;
        self.send(chat, NewMessage::new(&text, entities, None)?.with_markup(Some(keyboard))).await
    }

    /// A Stars invoice: the Pay button opens the payment sheet; the wallet tops up for free here.
    async fn shop(&self, chat: ChatId) -> ServiceResult<()> {
        let spec = plaza_core::payment::InvoiceSpec {
            title: "Demo coffee".into(),
            description:
                "A virtual cup of coffee, paid in Stars. This server is a sandbox: top up your wallet for free.".into(),
            payload: "demo-coffee".into(),
            currency: plaza_core::payment::STARS.into(),
            prices: vec![plaza_core::payment::LabeledPrice { label: "Coffee".into(), amount: COFFEE_PRICE }],
            ..Default::default()
        };
        self.service.send_invoice(self.id(), chat, spec, None, None, false).await.map(drop)
    }

    /// The demo mini apps: inline buttons that open them, and a keyboard button that opens the
    /// café so that its order comes back here with `sendData`.
    async fn apps(&self, chat: ChatId) -> ServiceResult<()> {
        let mut inline = Vec::new();
        let mut shop_url = None;
        for (short_name, title, _) in crate::demo::APPS {
            let app = self.service.webapp(&self.me, short_name).await?;
            let Some(url) = self.service.app_url(&self.me, &app) else { continue };
            if *short_name == "shop" {
                shop_url = Some(url.clone());
            }
            inline.push(vec![InlineButton { text: format!("Open {title}"), action: ButtonAction::WebApp(url) }]);
        }
        let (text, entities) = html(
            "Mini apps open right here in the chat and know who you are without a login. The <b>café</b> \
             has a cart and an order screen; the <b>to-do list</b> keeps your tasks in cloud storage.",
        )?;
        let markup = ReplyMarkup::Inline(inline).check()?;
        self.send(chat, NewMessage::new(&text, entities, None)?.with_markup(Some(markup))).await?;
        if let Some(url) = shop_url {
            let keyboard = ReplyMarkup::Keyboard(ReplyKeyboard {
                rows: vec![vec![KeyboardButton {
                    text: "🛍 Order at the café".to_string(),
                    request: Some(plaza_core::markup::KeyboardRequest::WebApp(url)),
                }]],
                resize: true,
                ..Default::default()
            })
            .check()?;
            let text = "Opened from the keyboard button below, the café sends your order to me when you place it.";
            self.send(chat, NewMessage::new(text, Vec::new(), None)?.with_markup(Some(keyboard))).await?;
        }
        Ok(())
    }

    /// An order the café sent with `sendData`: `{items: [{name, qty, price}], total, currency,
    /// comment}`, prices in cents. Anything else is answered as unreadable (the data comes from the
    /// person's client, so it is not trusted).
    async fn on_order(&self, chat: ChatId, data: &str) -> ServiceResult<()> {
        let text = match serde_json::from_str::<Order>(data) {
            Ok(order) if !order.items.is_empty() => {
                let mut html_text = String::from("🧾 <b>Order received</b>\n");
                let mut total = 0u64;
                for item in &order.items {
                    let line = item.price.saturating_mul(item.qty);
                    total = total.saturating_add(line);
                    html_text.push_str(&format!(
                        "{} × {} — {}\n",
                        item.qty,
                        escape(&item.name),
                        money(line, &order.currency)
                    ));
                }
                html_text.push_str(&format!("<b>Total: {}</b>", money(total, &order.currency)));
                if !order.comment.trim().is_empty() {
                    html_text.push_str(&format!("\nNote: <i>{}</i>", escape(order.comment.trim())));
                }
                html_text.push_str("\n\nThanks! It will be ready in a few minutes.");
                html_text
            }
            _ => "I got data from a mini app, but it isn't an order I can read.".to_string(),
        };
        let (text, entities) = html(&text)?;
        let reply = NewMessage::new(&text, entities, None)?.with_markup(Some(ReplyMarkup::Remove { selective: false }));
        self.send(chat, reply).await
    }

    async fn keyboard(&self, chat: ChatId) -> ServiceResult<()> {
        let rows = FRUITS
            .iter()
            .map(|row| row.iter().map(|t| KeyboardButton { text: t.to_string(), request: None }).collect())
            .collect();
        let keyboard = ReplyMarkup::Keyboard(ReplyKeyboard {
            rows,
            resize: true,
            one_time: true,
            placeholder: Some("Pick a fruit".to_string()),
            ..Default::default()
        })
        .check()?;
        let text = "Pick a fruit from the keyboard that replaced yours. Pressing a button sends its text, \
                    as if you had typed it.";
        self.send(chat, NewMessage::new(text, Vec::new(), None)?.with_markup(Some(keyboard))).await
    }

    async fn photo(&mut self, chat: ChatId) -> ServiceResult<()> {
        self.service.send_chat_action(self.id(), chat, "upload_photo").await?;
        self.pause().await;
        let info = match &self.picture {
            Some(info) => info.clone(),
            None => {
                let bytes = picture_png().map_err(|e| ServiceError::Internal(format!("drawing the picture: {e}")))?;
                let upload = Upload {
                    bytes,
                    file_name: Some("plaza-demo.png".to_string()),
                    content_type: Some("image/png".to_string()),
                };
                let info = self.service.upload_file(self.id(), FileKind::Photo, upload).await?;
                self.picture = Some(info.clone());
                info
            }
        };
        let (caption, entities) = html(&format!(
            "🖼 <b>Drawn by the demo bot</b>, pixel by pixel: a {PICTURE_WIDTH}×{PICTURE_HEIGHT} PNG made in Rust."
        ))?;
        self.send(chat, NewMessage::with_file(Media::Photo(info), &caption, entities, None)?).await
    }

    async fn poll(&self, chat: ChatId) -> ServiceResult<()> {
        let options = ["Chatting with friends", "Writing a bot", "Building a mini app", "Running my own server"];
        self.service
            .send_poll(
                self.id(),
                chat,
                "What will you try first on Plaza?",
                options.iter().map(|o| o.to_string()).collect(),
                false,
                PollKind::Regular,
                false,
                None,
                None,
                false,
                None,
                None,
            )
            .await?;
        Ok(())
    }

    async fn format(&self, chat: ChatId) -> ServiceResult<()> {
        self.send(chat, format_message(self.me.username.as_str())?).await
    }

    /// Any other text: "typing…", then the text back as a reply, with its formatting.
    async fn echo(&self, chat: ChatId, m: &Message) -> ServiceResult<()> {
        self.service.send_chat_action(self.id(), chat, "typing").await?;
        self.pause().await;
        const PREFIX: &str = "You said: ";
        let shift = utf16_len(PREFIX) as u32;
        let text = format!("{PREFIX}{}", m.text.as_str());
        let entities: Vec<Entity> =
            m.entities.iter().map(|e| Entity { offset: e.offset + shift, ..e.clone() }).collect();
        let echo = match NewMessage::new(&text, formatting::merge_detected(&text, entities), Some(m.id.0)) {
            Ok(echo) => echo,
            // Too long with the prefix, or too many entities: say so instead.
            Err(_) => {
                let count = m.text.as_str().chars().count();
                NewMessage::new(&format!("That's a long one: {count} characters!"), Vec::new(), Some(m.id.0))?
            }
        };
        self.send(chat, echo).await
    }

    /// A photo or document from the person: say what arrived.
    async fn on_file(&self, chat: ChatId, m: &Message, media: &Media) -> ServiceResult<()> {
        let f = media.file();
        let text = match media {
            Media::Photo(_) => match (f.width, f.height) {
                (Some(w), Some(h)) => format!("📷 Nice picture: {w}×{h} pixels, {}.", human_size(f.size)),
                _ => format!("📷 Nice picture: {}.", human_size(f.size)),
            },
            Media::Document(_) => format!(
                "📎 Got your file {} ({}{}).",
                f.file_name.as_deref().unwrap_or("without a name"),
                human_size(f.size),
                f.mime_type.as_deref().map(|t| format!(", {t}")).unwrap_or_default()
            ),
        };
        let entities = formatting::merge_detected(&text, Vec::new());
        self.send(chat, NewMessage::new(&text, entities, Some(m.id.0))?).await
    }

    // ---- buttons and polls ----

    async fn on_callback(
        &mut self,
        query: CallbackQuery,
        chat: std::sync::Arc<Chat>,
        message: Option<Message>,
    ) -> ServiceResult<()> {
        let data = query.data.as_str();
        let (text, show_alert) = match data {
            "alert" => {
                (Some("This is an alert: the bot answered your press with show_alert, so you have to close it."), true)
            }
            "toast" => (Some("And this is a toast: a short notice that goes away by itself."), false),
            d if d.starts_with("count:") || d.starts_with("cmd:") => (None, false),
            _ => (Some("This button is no longer in use."), false),
        };
        let answer = CallbackAnswer::new(text.map(str::to_string), show_alert, None, 0)?;
        self.service.answer_callback_query(self.id(), &query.id.to_string(), answer).await?;
        if let Some(n) = data.strip_prefix("count:") {
            let Some(message) = message else { return Ok(()) };
            let presses = n.parse::<u32>().unwrap_or(0).saturating_add(1);
            let next = buttons_message(presses)?;
            let edited = Some((next.text.as_str(), next.entities.clone()));
            self.service.edit_message_content(self.id(), chat.id, message.id, edited, next.reply_markup).await?;
        } else if let Some(command) = data.strip_prefix("cmd:") {
            self.run_command(chat.id, command).await?;
        }
        Ok(())
    }

    /// A vote in the bot's poll: thank the voter in their private chat with the bot.
    async fn on_poll_answer(&self, answer: PollAnswer) -> ServiceResult<()> {
        let poll = self.service.poll(self.id(), &answer.poll_id).await?;
        let chosen: Vec<&str> = answer
            .option_ids
            .iter()
            .filter_map(|o| poll.spec.options.get(usize::from(*o)).map(String::as_str))
            .collect();
        let text = match chosen.as_slice() {
            [] => "You took your vote back. Changed your mind?".to_string(),
            options => format!("Thanks for voting! You picked “{}”.", options.join("”, “")),
        };
        self.send(ChatId(answer.user.0), NewMessage::new(&text, Vec::new(), None)?).await
    }

    // ---- helpers ----

    async fn send(&self, chat: ChatId, message: NewMessage) -> ServiceResult<()> {
        self.service.send_message(self.id(), chat, message).await.map(drop)
    }

    /// Lets a chat action show for a moment, unless the server is stopping.
    async fn pause(&self) {
        tokio::select! {
            () = tokio::time::sleep(ACTION_PAUSE) => {}
            () = self.shutdown.cancelled() => {}
        }
    }
}

/// `/name args` or `/name@bot args`, with a name as Telegram's commands have (1–32 of
/// `A-Z a-z 0-9 _`); `None` for other text and for commands addressed to another bot.
fn parse_command<'t>(text: &'t str, bot: &str) -> Option<(&'t str, &'t str)> {
    let rest = text.strip_prefix('/')?;
    let (word, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let (name, addressee) = word.split_once('@').map_or((word, None), |(n, a)| (n, Some(a)));
    let well_formed = (1..=32).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !well_formed || addressee.is_some_and(|a| !a.eq_ignore_ascii_case(bot)) {
        return None;
    }
    Some((name, args.trim()))
}

/// The message of `/buttons`, after `presses` presses of its counting button (whose callback data
/// carries the count, so the bot keeps no state for it).
fn buttons_message(presses: u32) -> ServiceResult<NewMessage> {
    let (text, entities) = html(&format!(
        "Buttons under a message send the bot a <i>callback query</i>. The bot answers with an alert, \
         a toast, or by changing the message; a link button just opens its link.\n\nPresses so far: <b>{presses}</b>"
    ))?;
    let callback =
        |label: &str, data: String| InlineButton { text: label.to_string(), action: ButtonAction::Callback(data) };
    let keyboard = ReplyMarkup::Inline(vec![
        vec![callback("⚠️ Alert", "alert".to_string()), callback("💬 Toast", "toast".to_string())],
        vec![callback("➕ Count", format!("count:{presses}"))],
        vec![InlineButton { text: "🔗 Bot API docs".to_string(), action: ButtonAction::Url(DOCS_URL.to_string()) }],
    ])
    .check()?;
    Ok(NewMessage::new(&text, entities, None)?.with_markup(Some(keyboard)))
}

/// The message of `/format`: every kind of entity a bot can send, and some the server finds.
fn format_message(bot_username: &str) -> ServiceResult<NewMessage> {
    let (text, entities) = html(&format!(
        concat!(
            "<b>Bold</b>, <i>italic</i>, <u>underlined</u>, <s>struck through</s> and <code>inline code</code>.\n",
            "A <a href=\"https://core.telegram.org/bots/api#formatting-options\">link with its own text</a>, ",
            "and a spoiler: <tg-spoiler>Plaza speaks the Bot API</tg-spoiler> (tap it).\n",
            "<pre><code class=\"language-rust\">fn main() {{\n    println!(\"Hello from Plaza!\");\n}}</code></pre>\n",
            "<blockquote>A quotation, as a bot can send it.</blockquote>\n",
            "Found by the server itself: @{}, #plaza, https://example.com and /help.",
        ),
        escape(bot_username)
    ))?;
    Ok(NewMessage::new(&text, entities, None)?)
}

/// Text and entities from the bot's own HTML, with the entities the server detects by itself.
fn html(source: &str) -> ServiceResult<(String, Vec<Entity>)> {
    let f = formatting::parse(ParseMode::Html, source)
        .map_err(|e| ServiceError::Internal(format!("demo bot HTML {source:?}: {e}")))?;
    let entities = formatting::merge_detected(&f.text, f.entities);
    Ok((f.text, entities))
}

/// Escapes text for the HTML parse mode.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn human_size(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} bytes"),
        1024..1_048_576 => format!("{:.1} KB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MB", bytes as f64 / 1_048_576.0),
    }
}

/// Waits after errors: 1 s, doubling to 60 s, back to 1 s after a success.
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: MIN_BACKOFF }
    }
}

impl Backoff {
    /// Waits the current delay; `false` when the server shuts down meanwhile.
    async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let delay = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            () = shutdown.cancelled() => false,
        }
    }

    fn reset(&mut self) {
        self.next = MIN_BACKOFF;
    }

    /// Makes the next wait the longest one.
    fn longest(&mut self) -> &mut Self {
        self.next = MAX_BACKOFF;
        self
    }
}

/// The picture of `/photo`, drawn here so the demo ships no image file: a speech bubble with a
/// "typing" ellipsis on a blue-to-violet gradient, encoded as an RGB PNG.
fn picture_png() -> std::io::Result<Vec<u8>> {
    let (w, h) = (PICTURE_WIDTH, PICTURE_HEIGHT);
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    // How much of the pixel at (x, y) a disc covers, with a one-pixel soft edge.
    let disc = |x: f32, y: f32, dx: f32, dy: f32, r: f32| {
        (r - ((x - dx).powi(2) + (y - dy).powi(2)).sqrt() + 0.5).clamp(0.0, 1.0)
    };
    let mix = |a: [f32; 3], b: [f32; 3], t: f32| [0, 1, 2].map(|i| a[i] + (b[i] - a[i]) * t);
    let (blue, violet, white) = ([42.0, 171.0, 238.0], [122.0, 84.0, 214.0], [255.0; 3]);
    let mut raw = Vec::with_capacity((w * 3 * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            let background = mix(blue, violet, (fx / w as f32 + fy / h as f32) / 2.0);
            // The bubble: a disc with a small tail down to the left.
            let bubble = disc(fx, fy, cx, cy, 62.0).max(disc(fx, fy, cx - 44.0, cy + 46.0, 18.0));
            let mut pixel = mix(background, white, bubble);
            for dot in [-26.0, 0.0, 26.0] {
                pixel = mix(pixel, background, disc(fx, fy, cx + dot, cy, 9.0));
            }
            raw.extend(pixel.map(|c| c.round().clamp(0.0, 255.0) as u8));
        }
    }
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
    writer.write_image_data(&raw).map_err(std::io::Error::other)?;
    writer.finish().map_err(std::io::Error::other)?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_is_a_png_of_the_stated_size() {
        let png = picture_png().unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), PICTURE_WIDTH);
        assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), PICTURE_HEIGHT);
        assert!(png.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]));
        // Gradient and shapes compress well; a picture this small is a few kilobytes.
        assert!(png.len() < 64 * 1024, "{} bytes", png.len());
    }

    #[test]
    fn the_bots_own_html_parses() {
        for presses in [0, 7] {
            buttons_message(presses).unwrap();
        }
        assert_eq!(escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
        let (text, entities) = html(&format!("Hi <b>{}</b>", escape("<Bob>"))).unwrap();
        assert_eq!(text, "Hi <Bob>");
        assert_eq!(entities.len(), 1);
    }

    #[test]
    fn format_shows_every_kind_of_entity() {
        let m = format_message("plaza_demo_bot").unwrap();
        let kinds: Vec<&str> = m.entities.iter().map(|e| e.kind.name()).collect();
        for kind in [
            "bold",
            "italic",
            "underline",
            "strikethrough",
            "code",
            "pre",
            "text_link",
            "spoiler",
            "blockquote",
            "mention",
            "hashtag",
            "url",
            "bot_command",
        ] {
            assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
        }
    }

    #[test]
    fn commands_are_recognised_as_telegram_does() {
        let bot = "plaza_demo_bot";
        assert_eq!(parse_command("/start", bot), Some(("start", "")));
        assert_eq!(parse_command("/start  from_link ", bot), Some(("start", "from_link")));
        assert_eq!(parse_command("/poll@Plaza_Demo_Bot", bot), Some(("poll", "")));
        assert_eq!(parse_command("/poll@other_bot", bot), None);
        assert_eq!(parse_command("/path/to/file", bot), None);
        assert_eq!(parse_command("/ hello", bot), None);
        assert_eq!(parse_command("hello /start", bot), None);
        assert_eq!(parse_command(&format!("/{}", "a".repeat(33)), bot), None);
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(812), "812 bytes");
        assert_eq!(human_size(12_595), "12.3 KB");
        assert_eq!(human_size(5 * 1_048_576), "5.0 MB");
    }
}

/// The café's order, as its `sendData` sends it.
#[derive(serde::Deserialize)]
struct Order {
    items: Vec<OrderItem>,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    comment: String,
}

#[derive(serde::Deserialize)]
struct OrderItem {
    name: String,
    qty: u64,
    /// In cents.
    price: u64,
}

/// `1234` cents of `EUR` as `12.34 EUR`.
fn money(cents: u64, currency: &str) -> String {
    let currency: String = currency.chars().filter(char::is_ascii_uppercase).take(3).collect();
    format!("{}.{:02} {currency}", cents / 100, cents % 100).trim_end().to_string()
}
