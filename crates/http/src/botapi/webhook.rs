//! Pushing updates to bots' webhooks, as Telegram's server does: one update per POST with the
//! `X-Telegram-Bot-Api-Secret-Token` header, updates of one chat in order, up to `max_connections`
//! chats at once, retries with doubling backoff (honouring the webhook's `Retry-After`), failures
//! recorded for `getWebhookInfo`, and a method in a 2xx answer's body executed as a Bot API call.
//!
//! One task per bot with a webhook. It reads from the bot's confirmed offset and confirms only what
//! was delivered, so a crash re-sends at most the batch in flight, never loses one.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use plaza_core::UserId;
use plaza_core::bot::Webhook;
use plaza_service::bots::{BotUpdate, BotUpdateBody};
use tokio::sync::Notify;

use super::params::Params;
use crate::AppState;

/// Where webhooks may point.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookPolicy {
    /// Production mode: HTTPS only, on Telegram's ports (443, 80, 88, 8443). Off by default so
    /// bots on a developer's machine can use `http://127.0.0.1:<any port>`.
    pub https_only: bool,
}

/// Longest wait between two attempts of one update.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long one delivery may take before it counts as failed.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Updates fetched per round.
const BATCH: u32 = 100;
/// Methods a webhook reply may not call, as on Telegram.
const REPLY_FORBIDDEN: &[&str] = &["setwebhook", "deletewebhook", "close", "logout"];

/// The running webhook senders, one per bot.
pub struct Webhooks {
    running: Mutex<HashMap<UserId, Arc<Notify>>>,
    client: reqwest::Client,
}

impl Default for Webhooks {
    fn default() -> Self {
        Self::new()
    }
}

impl Webhooks {
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .pool_max_idle_per_host(WEBHOOK_IDLE_PER_HOST)
            .build()
            .expect("HTTP client builds");
        Webhooks { running: Mutex::new(HashMap::new()), client }
    }

    /// Makes sure the bot's sender runs if it has a webhook, and wakes it to re-read its settings.
    pub fn wake(state: &AppState, bot: UserId) {
        let mut running = state.webhooks.running.lock().expect("webhooks");
        if let Some(n) = running.get(&bot) {
            n.notify_one();
            return;
        }
        let notify = Arc::new(Notify::new());
        running.insert(bot, notify.clone());
        let state2 = state.clone();
        state.tracker.spawn(async move {
            run(&state2, bot, &notify).await;
            state2.webhooks.running.lock().expect("webhooks").remove(&bot);
        });
    }

    /// Starts the senders of every bot that has a webhook; called once at start-up.
    pub async fn start_all(state: &AppState) {
        match state.service.bots_with_webhooks().await {
            Ok(bots) => bots.into_iter().for_each(|b| Self::wake(state, b)),
            Err(e) => tracing::error!(error = %e, "could not list webhooks to start"),
        }
    }
}

const WEBHOOK_IDLE_PER_HOST: usize = 100;

async fn run(state: &AppState, bot: UserId, settings_changed: &Notify) {
    let mut wake = state.service.subscribe(bot);
    loop {
        let batch = match state.service.webhook_batch(bot, BATCH).await {
            Ok(Some(b)) => b,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, bot = bot.0, "webhook: reading updates failed");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = state.shutdown.cancelled() => return,
                }
            }
        };
        let (webhook, updates) = batch;
        if updates.is_empty() {
            tokio::select! {
                hint = wake.changed() => if hint.is_none() { return },
                _ = settings_changed.notified() => {}
                _ = state.shutdown.cancelled() => return,
            }
            continue;
        }
        let last = updates.last().map_or(0, |u| u.update_id);
        if !deliver(state, bot, &webhook, updates, settings_changed).await {
            // Shut down, or the webhook changed: re-read everything from the confirmed offset.
            if state.shutdown.is_cancelled() {
                return;
            }
            continue;
        }
        if let Err(e) = state.service.confirm_delivered(bot, last + 1).await {
            tracing::error!(error = %e, bot = bot.0, "webhook: confirming delivered updates failed");
        }
    }
}

/// The chat an update belongs to, for ordering; updates without one are ordered among themselves.
fn chat_of(u: &BotUpdate) -> i64 {
    match &u.body {
        BotUpdateBody::Message(m) | BotUpdateBody::EditedMessage(m) => m.chat.key.0,
        BotUpdateBody::CallbackQuery { chat, .. }
        | BotUpdateBody::MyChatMember { chat, .. }
        | BotUpdateBody::MessageReaction { chat, .. } => chat.key.0,
        // A checkout is in the private chat its successful_payment message will be in.
        BotUpdateBody::PreCheckoutQuery(p) => p.chat.0,
        // Poll changes and answers, and shipping queries, are ordered among themselves.
        BotUpdateBody::Poll(_) | BotUpdateBody::PollAnswer(_) | BotUpdateBody::ShippingQuery(_) => 0,
    }
}

/// Delivers a batch: chats in parallel (up to `max_connections`), each chat's updates in order.
/// `false` if it stopped early because the server is shutting down or the webhook changed.
async fn deliver(state: &AppState, bot: UserId, webhook: &Webhook, updates: Vec<BotUpdate>, changed: &Notify) -> bool {
    let mut by_chat: BTreeMap<i64, Vec<BotUpdate>> = BTreeMap::new();
    for u in updates {
        by_chat.entry(chat_of(&u)).or_default().push(u);
    }
    let work = futures_util::stream::iter(by_chat.into_values())
        .map(|list| async move {
            for u in list {
                if !deliver_one(state, bot, webhook, &u).await {
                    return false;
                }
            }
            true
        })
        .buffer_unordered(webhook.max_connections.max(1) as usize)
        .all(|ok| async move { ok });
    tokio::select! {
        ok = work => ok,
        _ = changed.notified() => false,
        _ = state.shutdown.cancelled() => false,
    }
}

/// Delivers one update, retrying with backoff until the webhook takes it.
async fn deliver_one(state: &AppState, bot: UserId, webhook: &Webhook, update: &BotUpdate) -> bool {
    let body = match super::convert::update(&state.service, update).await {
        Ok(u) => serde_json::to_vec(&u).expect("updates serialize"),
        Err(e) => {
            tracing::error!(error = %e, bot = bot.0, "webhook: building an update failed; skipped");
            return true;
        }
    };
    let mut backoff = Duration::from_secs(1);
    loop {
        let mut req = state
            .webhooks
            .client
            .post(&webhook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        if let Some(secret) = &webhook.secret_token {
            req = req.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        let wait = match req.send().await {
            Ok(resp) if resp.status().is_success() => {
                let is_json = resp
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/json"));
                if is_json && let Ok(bytes) = resp.bytes().await {
                    run_reply(state, bot, &bytes).await;
                }
                return true;
            }
            Ok(resp) => {
                let status = resp.status();
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let reason = status.canonical_reason().unwrap_or("");
                note_error(state, bot, format!("Wrong response from the webhook: {} {reason}", status.as_u16())).await;
                retry_after.unwrap_or(backoff).min(MAX_BACKOFF * 2)
            }
            Err(e) => {
                let message = if e.is_timeout() {
                    "Timeout expired".to_string()
                } else if e.is_connect() {
                    "Connection refused".to_string()
                } else {
                    "Webhook connection closed".to_string()
                };
                note_error(state, bot, message).await;
                backoff
            }
        };
        backoff = (backoff * 2).min(MAX_BACKOFF);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = state.shutdown.cancelled() => return false,
        }
    }
}

async fn note_error(state: &AppState, bot: UserId, message: String) {
    tracing::debug!(bot = bot.0, %message, "webhook delivery failed");
    if let Err(e) = state.service.note_webhook_error(bot, message).await {
        tracing::error!(error = %e, bot = bot.0, "webhook: recording an error failed");
    }
}

/// A webhook may answer with a Bot API call in its body; it runs as if the bot had made it, and
/// its result goes nowhere, as on Telegram.
async fn run_reply(state: &AppState, bot: UserId, body: &[u8]) {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body) else { return };
    let params = match Params::from_json_object(map).refusing_nul() {
        Ok(params) => params,
        Err(e) => return tracing::debug!(bot = bot.0, error = e.description, "webhook reply refused"),
    };
    let Some(method) = params.str("method").map(|m| m.to_ascii_lowercase()) else { return };
    if REPLY_FORBIDDEN.contains(&method.as_str()) || method.starts_with("get") {
        return;
    }
    let Ok(user) = state.service.user(bot).await else { return };
    if let Err(e) = super::methods::call(state, &user, &method, params).await {
        tracing::debug!(bot = bot.0, method, error = e.description, "webhook reply failed");
    }
}
