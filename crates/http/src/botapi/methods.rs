//! The Bot API's methods: each reads its parameters the way Telegram's server does, calls a use
//! case, and answers with Telegram's result object or error.

use plaza_core::bot::{
    AllowedUpdates, BotCommand, BotText, CallbackAnswer, CommandScope, MenuButton, WEBHOOK_DEFAULT_CONNECTIONS,
    WEBHOOK_MAX_CONNECTIONS, Webhook, check_secret_token,
};
use plaza_core::file::{FileKind, Media};
use plaza_core::formatting::{self, ParseMode};
use plaza_core::poll::PollKind;
use plaza_core::{
    ChatId, ChatKind, Denied, Entity, MemberStatus, Message, MessageId, NewMessage, ReplyMarkup, Role, User, UserId,
};
use plaza_protocol::botapi as wire;
use plaza_service::bots::{BotMessage, UpdatesRequest};
use plaza_service::files::Upload;

use futures_util::future::BoxFuture;

use super::convert;
use super::error::{BotError, BotResult, ok, ok_with};
use super::params::Params;
use super::webhook::Webhooks;
use crate::AppState;

/// Methods that post a message to a chat, and so count against the flood limits.
const SENDING: &[&str] =
    &["sendmessage", "sendphoto", "senddocument", "forwardmessage", "copymessage", "sendpoll", "sendinvoice"];

pub async fn call(state: &AppState, bot: &User, method: &str, p: Params) -> BotResult {
    if let Some(flood) = &state.flood
        && SENDING.contains(&method)
        && let Ok(chat) = chat_id(&p, "chat_id")
        && let Err(retry_after) = flood.check(bot.id.0, chat.0)
    {
        return Err(BotError::too_many_requests(retry_after));
    }
    method_future(state, bot, method, p).await
}

/// A method's work, boxed at its own size. Awaited inline, the largest method's future (a long
/// poll's, 10 KB) set the size of every request's future, and each layer above copied it whole as
/// the request went down and up the stack: `sendMessage` spent 6 % of its CPU in `memmove`.
fn method_future<'a>(s: &'a AppState, bot: &'a User, method: &'a str, p: Params) -> BoxFuture<'a, BotResult> {
    match method {
        "getme" => Box::pin(std::future::ready(Ok(ok(convert::me(bot))))),
        // A Plaza instance is the bot's only server: there is nothing to log out of or close.
        "logout" | "close" => Box::pin(std::future::ready(Ok(ok(true)))),
        "getupdates" => Box::pin(get_updates(s, bot, p)),
        "setwebhook" => Box::pin(set_webhook(s, bot, p)),
        "deletewebhook" => Box::pin(delete_webhook(s, bot, p)),
        "getwebhookinfo" => Box::pin(get_webhook_info(s, bot)),
        "sendmessage" => Box::pin(send_message(s, bot, p)),
        "sendphoto" => Box::pin(send_file(s, bot, p, FileKind::Photo)),
        "senddocument" => Box::pin(send_file(s, bot, p, FileKind::Document)),
        "getfile" => Box::pin(get_file(s, bot, p)),
        "sendpoll" => Box::pin(send_poll(s, bot, p)),
        "stoppoll" => Box::pin(stop_poll(s, bot, p)),
        "setmessagereaction" => Box::pin(set_message_reaction(s, bot, p)),
        "editmessagetext" => Box::pin(edit_message_text(s, bot, p)),
        "editmessagereplymarkup" => Box::pin(edit_reply_markup(s, bot, p)),
        "deletemessage" => Box::pin(delete_message(s, bot, p)),
        "deletemessages" => Box::pin(delete_messages(s, bot, p)),
        "answercallbackquery" => Box::pin(answer_callback_query(s, bot, p)),
        "sendchataction" => Box::pin(send_chat_action(s, bot, p)),
        "forwardmessage" => Box::pin(forward_or_copy(s, bot, p, true)),
        "copymessage" => Box::pin(forward_or_copy(s, bot, p, false)),
        "setmycommands" => Box::pin(set_my_commands(s, bot, p)),
        "getmycommands" => Box::pin(get_my_commands(s, bot, p)),
        "deletemycommands" => Box::pin(delete_my_commands(s, bot, p)),
        "setchatmenubutton" => Box::pin(set_chat_menu_button(s, bot, p)),
        "getchatmenubutton" => Box::pin(get_chat_menu_button(s, bot, p)),
        "setmyname" => Box::pin(set_text(s, bot, p, BotText::Name)),
        "getmyname" => Box::pin(get_text(s, bot, p, BotText::Name)),
        "setmydescription" => Box::pin(set_text(s, bot, p, BotText::Description)),
        "getmydescription" => Box::pin(get_text(s, bot, p, BotText::Description)),
        "setmyshortdescription" => Box::pin(set_text(s, bot, p, BotText::ShortDescription)),
        "getmyshortdescription" => Box::pin(get_text(s, bot, p, BotText::ShortDescription)),
        "getchat" => Box::pin(get_chat(s, bot, p)),
        "banchatmember" | "kickchatmember" => Box::pin(ban_chat_member(s, bot, p)),
        "unbanchatmember" => Box::pin(unban_chat_member(s, bot, p)),
        "pinchatmessage" => Box::pin(pin_chat_message(s, bot, p)),
        "unpinchatmessage" => Box::pin(unpin_chat_message(s, bot, p, false)),
        "unpinallchatmessages" => Box::pin(unpin_chat_message(s, bot, p, true)),
        "getchatmember" => Box::pin(get_chat_member(s, bot, p)),
        "getchatadministrators" => Box::pin(get_chat_administrators(s, bot, p)),
        "getchatmembercount" | "getchatmemberscount" => Box::pin(get_chat_member_count(s, bot, p)),
        "answerwebappquery" => Box::pin(answer_web_app_query(s, bot, p)),
        "getstartransactions" => Box::pin(get_star_transactions(s, bot, p)),
        "getmystarbalance" => {
            Box::pin(async move { Ok(ok(wire::StarAmount { amount: s.service.star_balance(bot).await? })) })
        }
        "savepreparedinlinemessage" => Box::pin(save_prepared_inline_message(s, bot, p)),
        "sendinvoice" => Box::pin(send_invoice(s, bot, p)),
        "createinvoicelink" => Box::pin(create_invoice_link(s, bot, p)),
        "answerprecheckoutquery" => Box::pin(answer_pre_checkout_query(s, bot, p)),
        "answershippingquery" => Box::pin(answer_shipping_query(s, bot, p)),
        "refundstarpayment" => Box::pin(refund_star_payment(s, bot, p)),
        "edituserstarsubscription" => Box::pin(edit_user_star_subscription(s, bot, p)),
        _ => Box::pin(std::future::ready(Err(BotError::not_found(Some("method not found"))))),
    }
}

// ---- parameters shared by many methods ----

/// `chat_id`: an integer, or `@username` (only channels have those on Telegram; Plaza has none).
fn chat_id(p: &Params, name: &str) -> Result<ChatId, BotError> {
    if let Some(id) = p.json_int(name) {
        return Ok(ChatId(id));
    }
    match p.str(name) {
        None => Err(BotError::bad(format!("{name} is empty"))),
        Some(s) if s.trim().is_empty() => Err(BotError::bad(format!("{name} is empty"))),
        Some(s) if s.trim().starts_with('@') => Err(BotError::bad("chat not found")),
        Some(s) => s.trim().parse::<i64>().map(ChatId).map_err(|_| BotError::bad("chat not found")),
    }
}

fn message_id(p: &Params, name: &str) -> Result<MessageId, BotError> {
    match p.int(name)? {
        Some(id) if id > 0 => Ok(MessageId(id)),
        Some(_) => Err(BotError::bad("message not found")),
        None => Err(BotError::bad(format!("{name} is empty"))),
    }
}

fn reply_markup(p: &Params) -> Result<Option<ReplyMarkup>, BotError> {
    p.json::<wire::ReplyMarkupIn>("reply_markup", "reply keyboard markup")?.map(convert::reply_markup_in).transpose()
}

fn inline_markup(p: &Params) -> Result<Option<ReplyMarkup>, BotError> {
    match reply_markup(p)? {
        Some(m) if m.inline().is_none() => Err(BotError::bad("inline keyboard expected")),
        other => Ok(other),
    }
}

/// A text with its entities: from `parse_mode`, from explicit entities, or plain; then with the
/// entities Telegram's server detects by itself (commands, mentions, links …).
fn formatted_text(p: &Params, text_name: &str, entities_name: &str) -> Result<(String, Vec<Entity>), BotError> {
    let (text, entities) = formatted(p, text_name, entities_name)?;
    if text.trim().is_empty() {
        return Err(BotError::bad("message text is empty"));
    }
    Ok((text, entities))
}

/// Text or caption with its entities, which may be empty.
fn formatted(p: &Params, text_name: &str, entities_name: &str) -> Result<(String, Vec<Entity>), BotError> {
    let text = p.str(text_name).unwrap_or_default();
    let explicit: Option<Vec<wire::MessageEntity>> = p.json(entities_name, "entities")?;
    let mode = p.str("parse_mode").filter(|m| !m.trim().is_empty());
    let (text, entities) = match (explicit, mode) {
        (Some(list), _) => (text, convert::entities_in(list)?),
        (None, Some(mode)) => {
            let mode = ParseMode::parse(mode.trim())
                .ok_or_else(|| BotError::bad(format!("unsupported parse_mode \"{}\"", mode.trim())))?;
            let f = formatting::parse(mode, &text).map_err(BotError::bad)?;
            (f.text, f.entities)
        }
        (None, None) => (text, Vec::new()),
    };
    let entities = formatting::merge_detected(&text, entities);
    Ok((text, entities))
}

async fn bot_message(state: &AppState, bot: &User, chat: ChatId, m: Message) -> Result<wire::Message, BotError> {
    let svc = &state.service;
    let bm: BotMessage = svc.bot_message(bot.id, chat, m).await?;
    Ok(convert::message(svc, &bm).await?)
}

// ---- updates and webhooks ----

/// `sendPhoto` / `sendDocument`: the file is an upload (multipart), or the `file_id` of a file
/// Plaza already has. URLs are refused: Plaza does not fetch from the internet.
async fn send_file(state: &AppState, bot: &User, p: Params, kind: FileKind) -> BotResult {
    let name = kind.as_str();
    let chat = chat_id(&p, "chat_id")?;
    let info = match (p.file(name), p.str(name)) {
        (Some(upload), _) => {
            let upload = Upload {
                bytes: upload.bytes.to_vec(),
                file_name: upload.file_name.clone(),
                content_type: upload.content_type.clone(),
            };
            state.service.upload_file(bot.id, kind, upload).await?
        }
        (None, Some(s)) if s.trim().is_empty() => {
            return Err(BotError::bad(format!("there is no {name} in the request")));
        }
        (None, Some(s)) if s.starts_with("http://") || s.starts_with("https://") => {
            return Err(BotError::bad(
                "failed to get HTTP URL content: this Plaza server does not download files from URLs; upload the file instead",
            ));
        }
        (None, Some(file_id)) => match state.service.file(file_id.trim()).await? {
            Some(f) if kind == FileKind::Document || f.kind == kind => f,
            Some(f) => {
                return Err(BotError::bad(format!("can't use file of type {} as {}", title(f.kind), title(kind))));
            }
            None => return Err(BotError::bad("wrong file identifier/HTTP URL specified")),
        },
        (None, None) => return Err(BotError::bad(format!("there is no {name} in the request"))),
    };
    let (caption, entities) = formatted(&p, "caption", "caption_entities")?;
    let markup = reply_markup(&p)?;
    let reply_to = reply_to(state, bot, chat, &p).await?;
    let media = match kind {
        FileKind::Photo => Media::Photo(info),
        FileKind::Document => Media::Document(info),
    };
    let mut message = NewMessage::with_file(media, &caption, entities, reply_to)
        .map_err(|i| BotError::bad(i.reason))?
        .with_markup(markup);
    message.protected = p.bool("protect_content");
    deliver(state, bot, chat, message).await
}

async fn send_poll(state: &AppState, bot: &User, p: Params) -> BotResult {
    let chat = chat_id(&p, "chat_id")?;
    let question = p.str("question").unwrap_or_default();
    let options: Vec<wire::InputPollOption> =
        p.json("options", "poll options")?.ok_or_else(|| BotError::bad("poll must have at least 2 option"))?;
    let options = options
        .into_iter()
        .map(|o| match o {
            wire::InputPollOption::Text(t) | wire::InputPollOption::Object { text: t } => t,
        })
        .collect();
    let kind = PollKind::parse(p.str("type").as_deref().unwrap_or("regular")).map_err(|i| BotError::bad(i.reason))?;
    // Polls are anonymous unless the bot says otherwise, as on Telegram.
    let is_anonymous = !p.has("is_anonymous") || p.bool("is_anonymous");
    let reply_to = reply_to(state, bot, chat, &p).await?.map(MessageId);
    let sent = state
        .service
        .send_poll(
            bot.id,
            chat,
            &question,
            options,
            is_anonymous,
            kind,
            p.bool("allows_multiple_answers"),
            p.int("correct_option_id")?,
            p.str("explanation"),
            p.bool("is_closed"),
            reply_to,
            reply_markup(&p)?,
        )
        .await
        .map_err(|e| BotError::from(e).message_not_found("message to be replied not found"))?;
    Ok(ok(bot_message(state, bot, chat, sent).await?))
}

async fn stop_poll(state: &AppState, bot: &User, p: Params) -> BotResult {
    let chat = chat_id(&p, "chat_id")?;
    let id = message_id(&p, "message_id").map_err(|e| e.message_not_found("message with poll to stop not found"))?;
    let poll = state.service.stop_poll(bot.id, chat, id).await.map_err(|e| match e {
        plaza_service::ServiceError::Denied(Denied::NotAuthor) => BotError::bad("message can't be edited"),
        other => BotError::from(other).message_not_found("message with poll to stop not found"),
    })?;
    Ok(ok(convert::poll(&poll)))
}

/// Bots put at most one reaction on a message, as on Telegram.
async fn set_message_reaction(state: &AppState, bot: &User, p: Params) -> BotResult {
    let chat = chat_id(&p, "chat_id")?;
    let id = message_id(&p, "message_id")?;
    let reaction: Vec<wire::ReactionType> = p.json("reaction", "reaction types")?.unwrap_or_default();
    let emojis = reaction
        .into_iter()
        .map(|r| match r {
            wire::ReactionType::Emoji { emoji } => Ok(emoji),
            _ => Err(BotError::bad("REACTION_INVALID")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    state
        .service
        .set_reactions(bot.id, chat, id, emojis, 1)
        .await
        .map_err(|e| BotError::from(e).message_not_found("message to react not found"))?;
    Ok(ok(true))
}

fn title(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Photo => "Photo",
        FileKind::Document => "Document",
    }
}

async fn get_file(state: &AppState, _bot: &User, p: Params) -> BotResult {
    let id = p.str("file_id").filter(|s| !s.trim().is_empty()).ok_or_else(|| BotError::missing("file_id"))?;
    let info = state
        .service
        .file(id.trim())
        .await?
        .ok_or_else(|| BotError::bad("wrong file_id or the file is temporarily unavailable"))?;
    Ok(ok(convert::file(&info)))
}

async fn get_updates(state: &AppState, bot: &User, p: Params) -> BotResult {
    let allowed_updates = p.json::<Vec<String>>("allowed_updates", "allowed updates")?.map(AllowedUpdates::new);
    let req = UpdatesRequest {
        offset: p.int("offset")?.unwrap_or(0),
        limit: p.int("limit")?.unwrap_or(100).clamp(1, 100) as u32,
        timeout: p.int("timeout")?.unwrap_or(0).clamp(0, i64::from(plaza_service::bots::MAX_POLL_TIMEOUT)) as u32,
        allowed_updates,
    };
    let updates = tokio::select! {
        r = state.service.get_updates(bot.id, req) => r?,
        // A long poll ends early, empty, when the server shuts down; the bot polls again later.
        _ = state.shutdown.cancelled() => Vec::new(),
    };
    let mut out = Vec::with_capacity(updates.len());
    for u in &updates {
        out.push(convert::update(&state.service, u).await?);
    }
    Ok(ok(out))
}

async fn set_webhook(state: &AppState, bot: &User, p: Params) -> BotResult {
    let url = p.str("url").unwrap_or_default();
    let drop_pending = p.bool("drop_pending_updates");
    if let Some(allowed) = p.json::<Vec<String>>("allowed_updates", "allowed updates")? {
        state.service.set_allowed_updates(bot.id, AllowedUpdates::new(allowed)).await?;
    }
    if url.trim().is_empty() {
        state.service.set_webhook(bot.id, None, drop_pending).await?;
        return Ok(ok_with(true, Some("Webhook was deleted")));
    }
    let parsed = url::Url::parse(url.trim()).map_err(|_| BotError::bad("bad webhook: invalid URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(BotError::bad("bad webhook: an HTTPS URL must be provided for webhook"));
    }
    if state.webhook_policy.https_only {
        if parsed.scheme() != "https" {
            return Err(BotError::bad("bad webhook: an HTTPS URL must be provided for webhook"));
        }
        if !matches!(parsed.port_or_known_default(), Some(443 | 80 | 88 | 8443)) {
            return Err(BotError::bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"));
        }
    }
    let secret_token = p.str("secret_token").filter(|s| !s.is_empty());
    if let Some(t) = &secret_token {
        check_secret_token(t).map_err(|_| BotError::bad("bad webhook: secret token contains unallowed characters"))?;
    }
    let max_connections = p
        .int("max_connections")?
        .map_or(WEBHOOK_DEFAULT_CONNECTIONS, |n| n.clamp(1, i64::from(WEBHOOK_MAX_CONNECTIONS)) as u32);
    let webhook = Webhook {
        url: url.trim().to_string(),
        secret_token,
        max_connections,
        ip_address: p.str("ip_address").filter(|s| !s.is_empty()),
        has_custom_certificate: p.file("certificate").is_some(),
        last_error_date: None,
        last_error_message: None,
    };
    let current = state.service.bot_state(bot.id).await?.webhook;
    if current
        .as_ref()
        .is_some_and(|c| Webhook { last_error_date: None, last_error_message: None, ..c.clone() } == webhook)
        && !drop_pending
    {
        return Ok(ok_with(true, Some("Webhook is already set")));
    }
    state.service.set_webhook(bot.id, Some(webhook), drop_pending).await?;
    Webhooks::wake(state, bot.id);
    Ok(ok_with(true, Some("Webhook was set")))
}

async fn delete_webhook(state: &AppState, bot: &User, p: Params) -> BotResult {
    let had = state.service.bot_state(bot.id).await?.webhook.is_some();
    state.service.set_webhook(bot.id, None, p.bool("drop_pending_updates")).await?;
    Webhooks::wake(state, bot.id);
    Ok(ok_with(true, Some(if had { "Webhook was deleted" } else { "Webhook is already deleted" })))
}

async fn get_webhook_info(state: &AppState, bot: &User) -> BotResult {
    let st = state.service.bot_state(bot.id).await?;
    let pending = state.service.pending_update_count(bot.id).await? as i64;
    let info = match st.webhook {
        None => wire::WebhookInfo {
            url: String::new(),
            has_custom_certificate: false,
            pending_update_count: pending,
            ip_address: None,
            last_error_date: None,
            last_error_message: None,
            max_connections: None,
            allowed_updates: st.allowed_updates.0,
        },
        Some(w) => wire::WebhookInfo {
            url: w.url,
            has_custom_certificate: w.has_custom_certificate,
            pending_update_count: pending,
            ip_address: w.ip_address,
            last_error_date: w.last_error_date,
            last_error_message: w.last_error_message,
            max_connections: Some(w.max_connections),
            allowed_updates: st.allowed_updates.0,
        },
    };
    Ok(ok(info))
}

// ---- messages ----

/// The message a send replies to: `reply_parameters`, or the older `reply_to_message_id`.
async fn reply_to(state: &AppState, bot: &User, chat: ChatId, p: &Params) -> Result<Option<i64>, BotError> {
    let (reply_to, allow_without) = match p.json::<wire::ReplyParameters>("reply_parameters", "reply parameters")? {
        Some(r) => (Some(r.message_id), r.allow_sending_without_reply.unwrap_or(false)),
        None => (p.int("reply_to_message_id")?, p.bool("allow_sending_without_reply")),
    };
    let reply_to = reply_to.filter(|id| *id != 0);
    if let Some(id) = reply_to
        && allow_without
        && state.service.message_by_id(bot.id, chat, MessageId(id)).await?.is_none()
    {
        return Ok(None);
    }
    Ok(reply_to)
}

async fn send_message(state: &AppState, bot: &User, p: Params) -> BotResult {
    let chat = chat_id(&p, "chat_id")?;
    let (text, entities) = formatted_text(&p, "text", "entities")?;
    let markup = reply_markup(&p)?;
    let reply_to = reply_to(state, bot, chat, &p).await?;
    let mut message =
        NewMessage::new(&text, entities, reply_to).map_err(|i| BotError::bad(i.reason))?.with_markup(markup);
    message.protected = p.bool("protect_content");
    deliver(state, bot, chat, message).await
}

/// `forwardMessage` (the copy names its origin) and `copyMessage` (a new message with the same
/// content, optionally a new caption, answered with its id only).
async fn forward_or_copy(state: &AppState, bot: &User, p: Params, forward: bool) -> BotResult {
    let (verb, what) = if forward { ("forwarded", "forward") } else { ("copied", "copy") };
    let chat = chat_id(&p, "chat_id")?;
    let from = chat_id(&p, "from_chat_id")?;
    let id = message_id(&p, "message_id").map_err(|e| e.message_not_found(&format!("message to {what} not found")))?;
    let source = state
        .service
        .message_by_id(bot.id, from, id)
        .await?
        .ok_or_else(|| BotError::bad(format!("message to {what} not found")))?;
    if source.protected {
        return Err(BotError::bad(format!("message can't be {verb}")));
    }
    let mut message = if forward {
        source.resend(true, None)
    } else {
        let mut m = source.resend(false, reply_to(state, bot, chat, &p).await?.map(MessageId));
        if p.has("caption") || p.has("caption_entities") {
            let (caption, entities) = formatted(&p, "caption", "caption_entities")?;
            m.text = if m.media.is_some() {
                plaza_core::MessageText::caption(&caption).map_err(|i| BotError::bad(i.reason))?
            } else {
                plaza_core::MessageText::parse(&caption).map_err(|i| BotError::bad(i.reason))?
            };
            m.entities = plaza_core::message::check_entities(&m.text, entities).map_err(|i| BotError::bad(i.reason))?;
        }
        m.with_markup(reply_markup(&p)?)
    };
    message.protected = p.bool("protect_content");
    let sent = state.service.send_message(bot.id, chat, message).await?;
    if forward {
        Ok(ok(bot_message(state, bot, chat, sent).await?))
    } else {
        Ok(ok(wire::MessageIdOut { message_id: sent.id.0 }))
    }
}

/// Sends a built message as the bot and answers with it as Telegram does.
async fn deliver(state: &AppState, bot: &User, chat: ChatId, message: NewMessage) -> BotResult {
    let sent = state
        .service
        .send_message(bot.id, chat, message)
        .await
        .map_err(|e| BotError::from(e).message_not_found("message to be replied not found"))?;
    Ok(ok(bot_message(state, bot, chat, sent).await?))
}

/// The message an `InlineQueryResult` sends: an article's `input_message_content`, or a photo or
/// document Plaza already has (`photo_file_id`, `document_file_id`) with its caption. Results that
/// would make Plaza fetch a URL are refused, as `sendPhoto` refuses URLs.
async fn inline_result_message(state: &AppState, p: &Params) -> Result<NewMessage, BotError> {
    let object: serde_json::Map<String, serde_json::Value> =
        p.json("result", "inline query result")?.ok_or_else(|| BotError::missing("result"))?;
    let r = Params::from_object(&object);
    let kind = r.str("type").unwrap_or_default().to_ascii_lowercase();
    if r.str("id").is_none_or(|id| id.is_empty() || id.len() > 64) {
        return Err(BotError::bad("RESULT_ID_INVALID"));
    }
    let markup = inline_markup(&r)?;
    let content: Option<serde_json::Map<String, serde_json::Value>> =
        r.json("input_message_content", "input message content")?;
    let message = match (kind.as_str(), content) {
        (_, Some(content)) => {
            let c = Params::from_object(&content);
            if !c.has("message_text") {
                return Err(BotError::bad("only text input message content is supported"));
            }
            let (text, entities) = formatted_text(&c, "message_text", "entities")?;
            NewMessage::new(&text, entities, None).map_err(|i| BotError::bad(i.reason))?
        }
        ("article", None) => return Err(BotError::bad("input_message_content is required for an article")),
        (k @ ("photo" | "document"), None) => {
            let file_kind = if k == "photo" { FileKind::Photo } else { FileKind::Document };
            let Some(file_id) = r.str(&format!("{k}_file_id")).filter(|f| !f.trim().is_empty()) else {
                return Err(BotError::bad(format!(
                    "{k}_file_id is required: this Plaza server does not download files from URLs"
                )));
            };
            let info = match state.service.file(file_id.trim()).await? {
                Some(f) if file_kind == FileKind::Document || f.kind == file_kind => f,
                _ => return Err(BotError::bad("wrong file identifier/HTTP URL specified")),
            };
            let (caption, entities) = formatted(&r, "caption", "caption_entities")?;
            let media = if k == "photo" { Media::Photo(info) } else { Media::Document(info) };
            NewMessage::with_file(media, &caption, entities, None).map_err(|i| BotError::bad(i.reason))?
        }
        _ => return Err(BotError::bad("inline query result type is not supported")),
    };
    Ok(message.with_markup(markup))
}

/// `getStarTransactions`: the bot's transactions, oldest first. A transfer from a person is
/// `source` (a user partner), one to a person `receiver`; Stars the operator granted come from an
/// `other` partner.
async fn get_star_transactions(state: &AppState, bot: &User, p: Params) -> BotResult {
    use plaza_core::ledger::Account;
    let offset = p.int("offset")?.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32;
    let limit = p.int("limit")?.unwrap_or(100).clamp(1, 100) as u32;
    let entries = state.service.star_transactions(bot, offset, limit).await?;
    let mut transactions = Vec::with_capacity(entries.len());
    for e in entries {
        let partner = match e.counterparty {
            Account::User(u) => wire::TransactionPartner::User {
                transaction_type: "invoice_payment".into(),
                user: convert::user(&*state.service.user(u).await?),
            },
            Account::Issuance | Account::Escrow => wire::TransactionPartner::Other {},
        };
        let (source, receiver) = if e.delta > 0 { (Some(partner), None) } else { (None, Some(partner)) };
        transactions.push(wire::StarTransaction {
            id: e.transfer.to_string(),
            amount: e.delta.abs(),
            date: e.at,
            source,
            receiver,
        });
    }
    Ok(ok(wire::StarTransactions { transactions }))
}

// ---- payments ----

/// The invoice parameters `sendInvoice` and `createInvoiceLink` share.
fn invoice_spec(p: &Params) -> Result<plaza_core::payment::InvoiceSpec, BotError> {
    use plaza_core::payment::{InvoiceSpec, LabeledPrice};
    let required = |name: &str| -> Result<String, BotError> { p.str(name).ok_or_else(|| BotError::missing(name)) };
    let prices: Vec<wire::LabeledPriceIn> = p.json("prices", "prices")?.ok_or_else(|| BotError::missing("prices"))?;
    let tips: Option<Vec<i64>> = p.json("suggested_tip_amounts", "suggested tip amounts")?;
    Ok(InvoiceSpec {
        title: required("title")?,
        description: required("description")?,
        payload: required("payload")?,
        currency: required("currency")?,
        prices: prices.into_iter().map(|l| LabeledPrice { label: l.label, amount: l.amount }).collect(),
        provider_token: p.str("provider_token"),
        provider_data: p.str("provider_data"),
        max_tip_amount: p.int("max_tip_amount")?.unwrap_or(0),
        suggested_tip_amounts: tips.unwrap_or_default(),
        start_parameter: p.str("start_parameter").filter(|s| !s.is_empty()),
        photo_url: p.str("photo_url").filter(|s| !s.is_empty()),
        need_name: p.bool("need_name"),
        need_phone_number: p.bool("need_phone_number"),
        need_email: p.bool("need_email"),
        need_shipping_address: p.bool("need_shipping_address"),
        is_flexible: p.bool("is_flexible"),
        subscription_period: p.int("subscription_period")?,
    })
}

/// `sendInvoice`: a message whose first button (a default "Pay" one unless the bot gives its own
/// inline keyboard starting with a `pay` button) opens the payment sheet.
async fn send_invoice(state: &AppState, bot: &User, p: Params) -> BotResult {
    let chat = chat_id(&p, "chat_id")?;
    let spec = invoice_spec(&p)?;
    let markup = reply_markup(&p)?;
    let reply_to = reply_to(state, bot, chat, &p).await?.map(MessageId);
    let sent = state
        .service
        .send_invoice(bot.id, chat, spec, markup, reply_to, p.bool("protect_content"))
        .await
        .map_err(|e| BotError::from(e).message_not_found("message to be replied not found"))?;
    Ok(ok(bot_message(state, bot, chat, sent).await?))
}

/// `createInvoiceLink`: `https://t.me/$<slug>`, which Plaza's client opens as a payment sheet and
/// mini apps pass to `openInvoice`. Subscriptions (`subscription_period`) are sold this way.
async fn create_invoice_link(state: &AppState, bot: &User, p: Params) -> BotResult {
    let spec = invoice_spec(&p)?;
    Ok(ok(state.service.create_invoice_link(bot.id, spec).await?))
}

async fn answer_pre_checkout_query(state: &AppState, bot: &User, p: Params) -> BotResult {
    let id = p
        .str("pre_checkout_query_id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| BotError::missing("pre_checkout_query_id"))?;
    if !p.has("ok") {
        return Err(BotError::missing("ok"));
    }
    state.service.answer_pre_checkout_query(bot.id, &id, p.bool("ok"), p.str("error_message").as_deref()).await?;
    Ok(ok(true))
}

async fn answer_shipping_query(state: &AppState, bot: &User, p: Params) -> BotResult {
    use plaza_core::payment::{LabeledPrice, ShippingOption};
    let id =
        p.str("shipping_query_id").filter(|s| !s.is_empty()).ok_or_else(|| BotError::missing("shipping_query_id"))?;
    if !p.has("ok") {
        return Err(BotError::missing("ok"));
    }
    let options: Option<Vec<wire::ShippingOptionIn>> = p.json("shipping_options", "shipping options")?;
    let options = options.map(|list| {
        list.into_iter()
            .map(|o| ShippingOption {
                id: o.id,
                title: o.title,
                prices: o.prices.into_iter().map(|l| LabeledPrice { label: l.label, amount: l.amount }).collect(),
            })
            .collect()
    });
    state.service.answer_shipping_query(bot.id, &id, p.bool("ok"), options, p.str("error_message").as_deref()).await?;
    Ok(ok(true))
}

/// `refundStarPayment`: the Stars go back to the person, who gets a `refunded_payment` message.
async fn refund_star_payment(state: &AppState, bot: &User, p: Params) -> BotResult {
    let user = UserId(p.required_int("user_id")?);
    let charge = p.required_str("telegram_payment_charge_id")?;
    state.service.refund_star_payment(bot.id, user, &charge).await?;
    Ok(ok(true))
}

/// `editUserStarSubscription`: `is_canceled` stops (or allows again) the renewal of the person's
/// subscription paid with that charge.
async fn edit_user_star_subscription(state: &AppState, bot: &User, p: Params) -> BotResult {
    let user = UserId(p.required_int("user_id")?);
    let charge = p.required_str("telegram_payment_charge_id")?;
    if !p.has("is_canceled") {
        return Err(BotError::missing("is_canceled"));
    }
    state.service.edit_user_star_subscription(bot.id, user, &charge, p.bool("is_canceled")).await?;
    Ok(ok(true))
}

/// `answerWebAppQuery`: the message the result describes is sent as the person who opened the
/// app, via the bot, into the chat it was opened from; their client closes the app.
async fn answer_web_app_query(state: &AppState, bot: &User, p: Params) -> BotResult {
    let query_id = p.required_str("web_app_query_id")?;
    let message = inline_result_message(state, &p).await?;
    state.service.answer_webapp_query(bot, &query_id, message).await?;
    Ok(ok(wire::SentWebAppMessage { inline_message_id: None }))
}

/// `savePreparedInlineMessage`: a message for the person to share from the bot's mini app with
/// `shareMessage`, into the kinds of chat allowed.
async fn save_prepared_inline_message(state: &AppState, bot: &User, p: Params) -> BotResult {
    use plaza_store::PreparedMessage as P;
    let user = UserId(p.int("user_id")?.ok_or_else(|| BotError::missing("user_id"))?);
    let message = inline_result_message(state, &p).await?;
    let mut chat_types = 0;
    for (name, bit) in [
        ("allow_user_chats", P::USERS),
        ("allow_bot_chats", P::BOTS),
        ("allow_group_chats", P::GROUPS),
        ("allow_channel_chats", P::CHANNELS),
    ] {
        if p.bool(name) {
            chat_types |= bit;
        }
    }
    let prepared = state.service.save_prepared_message(bot, user, message, chat_types).await.map_err(|e| match e {
        plaza_service::ServiceError::Invalid(_) => BotError::bad("at least one of allow_*_chats must be true"),
        plaza_service::ServiceError::Denied(plaza_core::Denied::UserNotFound) => BotError::bad("user not found"),
        other => BotError::from(other),
    })?;
    Ok(ok(wire::PreparedInlineMessage { id: prepared.id, expiration_date: prepared.expires_at }))
}

fn no_inline_messages(p: &Params) -> Result<(), BotError> {
    if p.str("inline_message_id").is_some_and(|s| !s.is_empty()) {
        // Plaza has no inline mode yet, so no inline message exists to edit.
        return Err(BotError::bad("MESSAGE_ID_INVALID"));
    }
    Ok(())
}

async fn edit_message_text(state: &AppState, bot: &User, p: Params) -> BotResult {
    no_inline_messages(&p)?;
    let chat = chat_id(&p, "chat_id")?;
    let id = message_id(&p, "message_id").map_err(|e| e.message_not_found("message to edit not found"))?;
    let (text, entities) = formatted_text(&p, "text", "entities")?;
    let markup = inline_markup(&p)?;
    let edited = state
        .service
        .edit_message_content(bot.id, chat, id, Some((&text, entities)), markup)
        .await
        .map_err(|e| BotError::from(e).message_not_found("message to edit not found"))?;
    Ok(ok(bot_message(state, bot, chat, edited).await?))
}

async fn edit_reply_markup(state: &AppState, bot: &User, p: Params) -> BotResult {
    no_inline_messages(&p)?;
    let chat = chat_id(&p, "chat_id")?;
    let id = message_id(&p, "message_id").map_err(|e| e.message_not_found("message to edit not found"))?;
    let markup = inline_markup(&p)?;
    let edited = state
        .service
        .edit_message_content(bot.id, chat, id, None, markup)
        .await
        .map_err(|e| BotError::from(e).message_not_found("message to edit not found"))?;
    Ok(ok(bot_message(state, bot, chat, edited).await?))
}

async fn delete_message(state: &AppState, bot: &User, p: Params) -> BotResult {
    let chat = chat_id(&p, "chat_id")?;
    let id = message_id(&p, "message_id").map_err(|e| e.message_not_found("message to delete not found"))?;
    state
        .service
        .delete_messages(bot.id, chat, vec![id.0])
        .await
        .map_err(|e| BotError::from(e).message_not_found("message to delete not found"))?;
    Ok(ok(true))
}

async fn delete_messages(state: &AppState, bot: &User, p: Params) -> BotResult {
    let chat = chat_id(&p, "chat_id")?;
    let ids: Vec<i64> =
        p.json("message_ids", "message identifiers")?.ok_or_else(|| BotError::missing("message_ids"))?;
    if ids.is_empty() || ids.len() > 100 {
        return Err(BotError::bad("too many messages to delete"));
    }
    state
        .service
        .delete_messages(bot.id, chat, ids)
        .await
        .map_err(|e| BotError::from(e).message_not_found("message to delete not found"))?;
    Ok(ok(true))
}

async fn answer_callback_query(state: &AppState, bot: &User, p: Params) -> BotResult {
    let id =
        p.str("callback_query_id").filter(|s| !s.is_empty()).ok_or_else(|| BotError::missing("callback_query_id"))?;
    let cache_time = p.int("cache_time")?.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32;
    let answer = CallbackAnswer::new(p.str("text"), p.bool("show_alert"), p.str("url"), cache_time)
        .map_err(|i| BotError::bad(i.reason))?;
    state.service.answer_callback_query(bot.id, &id, answer).await?;
    Ok(ok(true))
}

async fn send_chat_action(state: &AppState, bot: &User, p: Params) -> BotResult {
    let chat = chat_id(&p, "chat_id")?;
    let action = p.str("action").filter(|a| !a.is_empty()).ok_or_else(|| BotError::missing("action"))?;
    state.service.send_chat_action(bot.id, chat, &action).await?;
    Ok(ok(true))
}

// ---- commands, menu button and profile texts ----

fn scope(p: &Params) -> Result<CommandScope, BotError> {
    let Some(s) = p.json::<wire::BotCommandScope>("scope", "bot command scope")? else {
        return Ok(CommandScope::Default);
    };
    let chat = || -> Result<ChatId, BotError> {
        match &s.chat_id {
            Some(serde_json::Value::Number(n)) => n.as_i64().map(ChatId).ok_or_else(|| BotError::bad("chat not found")),
            Some(serde_json::Value::String(t)) => t.parse().map(ChatId).map_err(|_| BotError::bad("chat not found")),
            _ => Err(BotError::bad("chat_id is empty")),
        }
    };
    Ok(match s.kind.as_str() {
        "default" => CommandScope::Default,
        "all_private_chats" => CommandScope::AllPrivateChats,
        "all_group_chats" => CommandScope::AllGroupChats,
        "all_chat_administrators" => CommandScope::AllChatAdministrators,
        "chat" => CommandScope::Chat(chat()?),
        "chat_administrators" => CommandScope::ChatAdministrators(chat()?),
        "chat_member" => {
            CommandScope::ChatMember(chat()?, UserId(s.user_id.ok_or_else(|| BotError::bad("user not found"))?))
        }
        _ => return Err(BotError::bad("wrong bot command scope type specified")),
    })
}

async fn set_my_commands(state: &AppState, bot: &User, p: Params) -> BotResult {
    let list: Vec<wire::BotCommand> =
        p.json("commands", "bot commands")?.ok_or_else(|| BotError::missing("commands"))?;
    let commands = list
        .iter()
        .map(|c| BotCommand::new(&c.command, &c.description))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|i| BotError::bad(i.reason))?;
    state.service.set_commands(bot.id, scope(&p)?, p.str("language_code").as_deref(), commands).await?;
    Ok(ok(true))
}

async fn get_my_commands(state: &AppState, bot: &User, p: Params) -> BotResult {
    let list = state.service.commands(bot.id, scope(&p)?, p.str("language_code").as_deref()).await?;
    let out: Vec<wire::BotCommand> =
        list.into_iter().map(|c| wire::BotCommand { command: c.command, description: c.description }).collect();
    Ok(ok(out))
}

async fn delete_my_commands(state: &AppState, bot: &User, p: Params) -> BotResult {
    state.service.set_commands(bot.id, scope(&p)?, p.str("language_code").as_deref(), Vec::new()).await?;
    Ok(ok(true))
}

/// The private chat a menu-button call names (a user's id), or `None` for the bot's default.
async fn menu_chat(state: &AppState, bot: &User, p: &Params) -> Result<Option<UserId>, BotError> {
    if !p.has("chat_id") {
        return Ok(None);
    }
    let chat = chat_id(p, "chat_id")?;
    if chat.0 <= 0 {
        return Err(BotError::bad("chat not found"));
    }
    // The user must have a private chat with the bot.
    state.service.chat(bot.id, chat).await?;
    Ok(Some(UserId(chat.0)))
}

async fn set_chat_menu_button(state: &AppState, bot: &User, p: Params) -> BotResult {
    let chat = menu_chat(state, bot, &p).await?;
    let button = match p.json::<wire::MenuButton>("menu_button", "menu button")? {
        None | Some(wire::MenuButton::Default) => MenuButton::Default,
        Some(wire::MenuButton::Commands) => MenuButton::Commands,
        Some(wire::MenuButton::WebApp { text, web_app }) => {
            MenuButton::web_app(&text, &web_app.url).map_err(|i| BotError::bad(i.reason))?
        }
    };
    state.service.set_menu_button(bot.id, chat, button).await?;
    Ok(ok(true))
}

async fn get_chat_menu_button(state: &AppState, bot: &User, p: Params) -> BotResult {
    let chat = menu_chat(state, bot, &p).await?;
    let out = match state.service.menu_button(bot.id, chat).await? {
        MenuButton::Default => wire::MenuButton::Default,
        MenuButton::Commands => wire::MenuButton::Commands,
        MenuButton::WebApp { text, url } => wire::MenuButton::WebApp { text, web_app: wire::WebAppInfo { url } },
    };
    Ok(ok(out))
}

async fn set_text(state: &AppState, bot: &User, p: Params, text: BotText) -> BotResult {
    let value = p.str(text.key()).unwrap_or_default();
    state.service.set_bot_text(bot.id, text, p.str("language_code").as_deref(), &value).await?;
    Ok(ok(true))
}

async fn get_text(state: &AppState, bot: &User, p: Params, text: BotText) -> BotResult {
    let value = state.service.bot_text(bot, text, p.str("language_code").as_deref()).await?;
    Ok(match text {
        BotText::Name => ok(wire::BotName { name: value }),
        BotText::Description => ok(wire::BotDescription { description: value }),
        BotText::ShortDescription => ok(wire::BotShortDescription { short_description: value }),
    })
}

// ---- chats and members ----

async fn get_chat(state: &AppState, bot: &User, p: Params) -> BotResult {
    let id = chat_id(&p, "chat_id")?;
    let chat = state.service.chat(bot.id, id).await?;
    let mut full = convert::chat_full(&chat);
    if let Some(pinned) = state.service.pinned_message(bot.id, id).await? {
        full.pinned_message = Some(Box::new(bot_message(state, bot, id, pinned).await?));
    }
    Ok(ok(full))
}

/// `banChatMember`: a ban shorter than 30 s or longer than 366 days lasts until lifted, as on
/// Telegram.
async fn ban_chat_member(state: &AppState, bot: &User, p: Params) -> BotResult {
    let chat = chat_id(&p, "chat_id")?;
    let user = UserId(p.int("user_id")?.ok_or_else(|| BotError::bad("user not found"))?);
    let now = state.service.now();
    let until = p.int("until_date")?.filter(|u| *u >= now + 30 && *u <= now + 366 * 86_400);
    // `revoke_messages` is accepted and has no effect: Plaza keeps a removed member's messages, as
    // Telegram does in basic groups.
    state
        .service
        .ban(bot.id, chat, user, until)
        .await
        .map_err(rights("not enough rights to restrict/unrestrict chat member"))?;
    Ok(ok(true))
}

async fn unban_chat_member(state: &AppState, bot: &User, p: Params) -> BotResult {
    let chat = chat_id(&p, "chat_id")?;
    let user = UserId(p.int("user_id")?.ok_or_else(|| BotError::bad("user not found"))?);
    state
        .service
        .unban(bot.id, chat, user, p.bool("only_if_banned"))
        .await
        .map_err(rights("not enough rights to restrict/unrestrict chat member"))?;
    Ok(ok(true))
}

async fn pin_chat_message(state: &AppState, bot: &User, p: Params) -> BotResult {
    let chat = chat_id(&p, "chat_id")?;
    let id = message_id(&p, "message_id").map_err(|e| e.message_not_found("message to pin not found"))?;
    state
        .service
        .pin_message(bot.id, chat, id)
        .await
        .map_err(rights("not enough rights to manage pinned messages in the chat"))
        .map_err(|e| e.message_not_found("message to pin not found"))?;
    Ok(ok(true))
}

async fn unpin_chat_message(state: &AppState, bot: &User, p: Params, all: bool) -> BotResult {
    let chat = chat_id(&p, "chat_id")?;
    let id = match p.int("message_id")? {
        Some(id) if id > 0 => Some(MessageId(id)),
        Some(_) => return Err(BotError::bad("message to unpin not found")),
        None => None,
    };
    state
        .service
        .unpin_messages(bot.id, chat, id, all)
        .await
        .map_err(rights("not enough rights to manage pinned messages in the chat"))?;
    Ok(ok(true))
}

/// Telegram's wording for a bot that lacks an admin right.
fn rights(detail: &'static str) -> impl Fn(plaza_service::ServiceError) -> BotError {
    move |e| match e {
        plaza_service::ServiceError::Denied(Denied::NotAdmin | Denied::NotCreator) => BotError::bad(detail),
        plaza_service::ServiceError::Denied(Denied::CreatorIsFixed) => BotError::bad("can't remove chat owner"),
        plaza_service::ServiceError::Denied(Denied::UserNotFound) => BotError::bad("user not found"),
        other => BotError::from(other),
    }
}

async fn get_chat_member(state: &AppState, bot: &User, p: Params) -> BotResult {
    let chat_id = chat_id(&p, "chat_id")?;
    let user_id = UserId(p.int("user_id")?.ok_or_else(|| BotError::bad("user not found"))?);
    let (status, until) = state.service.member_status(bot.id, chat_id, user_id).await.map_err(|e| match e {
        plaza_service::ServiceError::Denied(Denied::UserNotFound) => BotError::bad("user not found"),
        other => BotError::from(other),
    })?;
    let user = state.service.user(user_id).await.map_err(|_| BotError::bad("user not found"))?;
    let bot_is_creator = state.service.member_status(bot.id, chat_id, bot.id).await?.0 == MemberStatus::Creator;
    Ok(ok(convert::chat_member(&convert::user(&user), status, until, bot_is_creator)))
}

async fn get_chat_administrators(state: &AppState, bot: &User, p: Params) -> BotResult {
    let chat_id = chat_id(&p, "chat_id")?;
    let chat = state.service.chat(bot.id, chat_id).await?;
    let ChatKind::Group { my_role, .. } = chat.kind else {
        return Err(BotError::from(plaza_service::ServiceError::Denied(Denied::NotAGroup)));
    };
    let members = state.service.members(bot.id, chat_id).await?;
    let out: Vec<wire::ChatMember> = members
        .iter()
        .filter(|m| m.role.can_manage())
        .map(|m| {
            convert::chat_member(&convert::user(&m.user), MemberStatus::of_role(m.role), None, my_role == Role::Creator)
        })
        .collect();
    Ok(ok(out))
}

async fn get_chat_member_count(state: &AppState, bot: &User, p: Params) -> BotResult {
    let chat = state.service.chat(bot.id, chat_id(&p, "chat_id")?).await?;
    Ok(ok(match chat.kind {
        ChatKind::Group { member_count, .. } => member_count,
        ChatKind::Private { .. } => 2,
    }))
}
