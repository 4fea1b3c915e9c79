//! The bot side of Plaza: tokens, the update stream a bot reads with `getUpdates` (long polls woken
//! by the bus), button presses and their answers, and a bot's settings.
//!
//! A bot's updates are its own update log, the same log people's WebSockets replay, seen through a
//! filter: `update_id` is the log's seq, and entries a bot does not receive (deletions, read marks,
//! other bots' messages) are skipped. The confirmed offset is stored, so a restart never delivers a
//! confirmed update again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use plaza_core::bot::{
    AllowedUpdates, BotCommand, BotState, BotText, CallbackAnswer, CallbackQuery, CommandScope, MenuButton,
    SettingLanguage, Webhook,
};
use plaza_core::poll::{Poll, PollAnswer, ReactionChange};
use plaza_core::{
    Chat, ChatId, ChatKind, Denied, Invalid, LanguageCode, MemberChange, Message, MessageId, User, UserId,
};
use plaza_store::{Event, EventBody};
use tokio::sync::Notify;

use crate::{Service, ServiceError, ServiceResult, sha256};

/// Longest long poll, in seconds, as Telegram's server clamps it.
pub const MAX_POLL_TIMEOUT: u32 = 50;
/// Most updates one `getUpdates` returns.
pub const MAX_UPDATES: u32 = 100;
/// How long a button press waits for the bot's answer before the client is told it timed out.
pub const PRESS_TIMEOUT: Duration = Duration::from_secs(15);

/// One update as a bot receives it.
#[derive(Debug, Clone)]
pub struct BotUpdate {
    pub update_id: u64,
    pub body: BotUpdateBody,
}

#[derive(Debug, Clone)]
pub enum BotUpdateBody {
    Message(BotMessage),
    EditedMessage(BotMessage),
    CallbackQuery {
        query: CallbackQuery,
        chat: Arc<Chat>,
        message: Option<Box<BotMessage>>,
    },
    /// The bot's own standing in a chat changed.
    MyChatMember {
        chat: Arc<Chat>,
        change: MemberChange,
    },
    /// A poll the bot sent changed (a vote, or it was closed).
    Poll(Poll),
    /// Someone answered the bot's non-anonymous poll.
    PollAnswer(PollAnswer),
    /// Someone's reactions on a message in the bot's chat changed.
    MessageReaction {
        chat: Arc<Chat>,
        change: ReactionChange,
    },
    /// A person confirmed a checkout of the bot's invoice.
    PreCheckoutQuery(plaza_core::payment::Payment),
    /// A person gave a shipping address for the bot's flexible invoice.
    ShippingQuery(plaza_core::payment::ShippingQuery),
}

impl BotUpdateBody {
    /// The Bot API's name of the update's field, as `allowed_updates` lists it.
    pub fn kind(&self) -> &'static str {
        match self {
            BotUpdateBody::Message(_) => "message",
            BotUpdateBody::EditedMessage(_) => "edited_message",
            BotUpdateBody::CallbackQuery { .. } => "callback_query",
            BotUpdateBody::MyChatMember { .. } => "my_chat_member",
            BotUpdateBody::Poll(_) => "poll",
            BotUpdateBody::PollAnswer(_) => "poll_answer",
            BotUpdateBody::MessageReaction { .. } => "message_reaction",
            BotUpdateBody::PreCheckoutQuery(_) => "pre_checkout_query",
            BotUpdateBody::ShippingQuery(_) => "shipping_query",
        }
    }
}

/// A message with the chat it is in (as the bot sees it), the message it replies to, and the
/// message a pin notice is about.
#[derive(Debug, Clone)]
pub struct BotMessage {
    pub chat: Arc<Chat>,
    pub message: Message,
    pub reply_to: Option<Box<Message>>,
    pub pinned: Option<Box<Message>>,
    /// The poll the message carries, with its counts.
    pub poll: Option<Poll>,
}

/// What `getUpdates` asks for.
#[derive(Debug, Clone, Default)]
pub struct UpdatesRequest {
    /// Telegram's `offset`: 0 for "from the first unconfirmed", positive to confirm everything
    /// below it, negative `-k` for only the last `k`.
    pub offset: i64,
    pub limit: u32,
    /// Seconds to wait when nothing is pending; 0 answers at once.
    pub timeout: u32,
    /// `Some` replaces the bot's remembered choice.
    pub allowed_updates: Option<AllowedUpdates>,
}

/// The long polls waiting per bot, so a newer waiting `getUpdates` (or a `setWebhook`) can end
/// the older one with 409.
#[derive(Default)]
pub(crate) struct Pollers {
    waiting: Mutex<HashMap<UserId, (u64, std::sync::Arc<Superseded>)>>,
    next: std::sync::atomic::AtomicU64,
}

/// How a waiting poll learns it was ended, and by what.
#[derive(Default)]
pub(crate) struct Superseded {
    notify: Notify,
    reason: Mutex<&'static str>,
}

impl Superseded {
    async fn wait(&self) -> &'static str {
        self.notify.notified().await;
        *self.reason.lock().expect("reason")
    }

    fn end(&self, reason: &'static str) {
        *self.reason.lock().expect("reason") = reason;
        self.notify.notify_one();
    }
}

impl Pollers {
    /// Registers a waiting poll, ending the one before it.
    fn start(&self, bot: UserId) -> (u64, std::sync::Arc<Superseded>) {
        let ticket = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let me = std::sync::Arc::new(Superseded::default());
        let old = self.waiting.lock().expect("pollers").insert(bot, (ticket, me.clone()));
        if let Some((_, old)) = old {
            old.end(CONFLICT_POLLER);
        }
        (ticket, me)
    }

    /// Ends the bot's waiting poll, if any, with `reason`.
    fn end(&self, bot: UserId, reason: &'static str) {
        if let Some((_, old)) = self.waiting.lock().expect("pollers").remove(&bot) {
            old.end(reason);
        }
    }

    fn finish(&self, bot: UserId, ticket: u64) {
        let mut map = self.waiting.lock().expect("pollers");
        if map.get(&bot).is_some_and(|(t, _)| *t == ticket) {
            map.remove(&bot);
        }
    }
}

/// Errors of the update stream that Telegram answers with 409.
pub const CONFLICT_POLLER: &str =
    "terminated by other getUpdates request; make sure that only one bot instance is running";
pub const CONFLICT_WEBHOOK: &str =
    "can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first";
pub const CONFLICT_SET_WEBHOOK: &str = "terminated by setWebhook request";

impl Service {
    /// The bot a token belongs to. The secret's hash is compared in constant time; a hit is cached
    /// for a few seconds so the Bot API does not read the store on every call.
    pub async fn bot_by_token(&self, token: &str) -> ServiceResult<Arc<User>> {
        let key = sha256(token.as_bytes());
        if let Some(bot) = self.bot_tokens.get(&key, 0) {
            return Ok(bot);
        }
        let bot = Arc::new(self.authenticate_bot(token).await?);
        self.bot_tokens.put(key, bot.clone(), i64::MAX);
        Ok(bot)
    }

    async fn state_of(&self, bot: UserId) -> ServiceResult<BotState> {
        if let Some(s) = self.bot_states.get(&bot, 0) {
            return Ok(s);
        }
        let state = self.store.bot_state(bot).await?;
        self.bot_states.put(bot, state.clone(), i64::MAX);
        Ok(state)
    }

    /// Reads a bot's pending updates, waiting up to `timeout` seconds for one when none is pending.
    /// A newer call for the same bot ends a waiting one with 409, as on Telegram.
    pub async fn get_updates(&self, bot: UserId, req: UpdatesRequest) -> ServiceResult<Vec<BotUpdate>> {
        let mut ticket = None;
        let result = self.wait_for_updates(bot, req, &mut ticket).await;
        if let Some(t) = ticket {
            self.pollers.finish(bot, t);
        }
        result
    }

    /// `ticket` is set once the poll has to wait: only then does it end an older waiting poll,
    /// as on Telegram (a quick `timeout=0` check leaves a waiting poll alone).
    async fn wait_for_updates(
        &self,
        bot: UserId,
        req: UpdatesRequest,
        ticket: &mut Option<u64>,
    ) -> ServiceResult<Vec<BotUpdate>> {
        // Subscribe before reading anything, so an update committed (or a webhook set) in between
        // still wakes this poll.
        let mut wake = self.bus.subscribe(bot);
        let mut state = self.state_of(bot).await?;
        if state.webhook.is_some() {
            return Err(ServiceError::Conflict(CONFLICT_WEBHOOK));
        }
        if let Some(allowed) = req.allowed_updates
            && allowed != state.allowed_updates
        {
            self.store.set_allowed_updates(bot, &allowed).await?;
            state.allowed_updates = allowed;
            self.bot_states.put(bot, state.clone(), i64::MAX);
        }
        let limit = req.limit.clamp(1, MAX_UPDATES);
        if req.offset < 0 {
            return self.last_updates(bot, state, req.offset.unsigned_abs()).await;
        }
        let offset = req.offset as u64;
        // An offset past the newest update (one saved from another server, say) is ignored, as
        // Telegram's server does, instead of confirming updates that don't exist yet.
        if offset > state.offset && offset <= self.store.current_cursor(bot).await? + 1 {
            state.offset = offset;
            self.bot_states.put(bot, state.clone(), i64::MAX);
            // A bot repeats its offset with every call, so the confirmation need not be on disk
            // before this call reads: it is stored in the background, off the delivery path. A
            // crash can then cost a duplicate only if the bot also forgot its offset.
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.confirm_updates(bot, offset).await {
                    tracing::warn!(error = %e, bot = bot.0, "storing a confirmed update offset failed");
                }
            });
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(req.timeout.min(MAX_POLL_TIMEOUT)));
        let mut cursor = state.offset.saturating_sub(1);
        let mut superseded = None;
        loop {
            let (updates, scanned_to) = self.read_updates(bot, cursor, limit, &state.allowed_updates).await?;
            if !updates.is_empty() || req.timeout == 0 {
                return Ok(updates);
            }
            // Everything up to here was skipped (not for bots); later reads start after it.
            cursor = scanned_to;
            let ended: &Superseded = superseded.get_or_insert_with(|| {
                let (t, s) = self.pollers.start(bot);
                *ticket = Some(t);
                s
            });
            tokio::select! {
                hint = wake.changed() => if hint.is_none() { return Ok(Vec::new()) },
                _ = tokio::time::sleep_until(deadline) => return Ok(Vec::new()),
                reason = ended.wait() => return Err(ServiceError::Conflict(reason)),
            }
            if self.state_of(bot).await?.webhook.is_some() {
                return Err(ServiceError::Conflict(CONFLICT_SET_WEBHOOK));
            }
        }
    }

    /// Telegram's negative offset: keep the last `k` pending updates and forget the ones before.
    async fn last_updates(&self, bot: UserId, mut state: BotState, k: u64) -> ServiceResult<Vec<BotUpdate>> {
        let mut cursor = state.offset.saturating_sub(1);
        let mut tail: std::collections::VecDeque<BotUpdate> = Default::default();
        loop {
            let (updates, scanned_to) = self.read_updates(bot, cursor, MAX_UPDATES, &state.allowed_updates).await?;
            if scanned_to == cursor {
                break;
            }
            cursor = scanned_to;
            for u in updates {
                tail.push_back(u);
                if tail.len() as u64 > k {
                    tail.pop_front();
                }
            }
        }
        let first_kept = tail.front().map_or(cursor + 1, |u| u.update_id);
        if first_kept > state.offset {
            self.store.confirm_updates(bot, first_kept).await?;
            state.offset = first_kept;
            self.bot_states.put(bot, state, i64::MAX);
        }
        Ok(tail.into_iter().collect())
    }

    /// Up to `limit` updates after `cursor` and the seq scanned up to (the last update's id when
    /// `limit` was reached, else where the log ended).
    async fn read_updates(
        &self,
        bot: UserId,
        mut cursor: u64,
        limit: u32,
        allowed: &AllowedUpdates,
    ) -> ServiceResult<(Vec<BotUpdate>, u64)> {
        let mut out = Vec::new();
        loop {
            let page = self.store.events_after(bot, cursor, MAX_UPDATES).await?;
            self.prefetch_for(bot, &page.events).await;
            for event in page.events {
                let seq = event.seq;
                if let Some(update) = self.bot_update(bot, event).await?
                    && allowed.allows(update.body.kind())
                {
                    out.push(update);
                    if out.len() as u32 >= limit {
                        return Ok((out, seq));
                    }
                }
            }
            cursor = page.next_cursor;
            if page.scanned < MAX_UPDATES {
                return Ok((out, cursor));
            }
        }
    }

    /// Looks up, side by side, the chats and senders a page of the log names that the caches lack,
    /// so that turning the page into updates does not wait for each in turn. On PostgreSQL, a poll
    /// whose 10–30 updates came from chats whose cache entries had just expired took 30–106 ms
    /// that way, and person → bot delivery's p99 was 144 ms at 5,000 messages/s (`bench/botapi`).
    /// Failures are left to the conversion, which asks again and reports them.
    async fn prefetch_for(&self, viewer: UserId, events: &[Event]) {
        let (mut chats, mut senders) = (Vec::new(), Vec::new());
        for event in events {
            let (chat, sender) = match &event.body {
                EventBody::MessageNew { chat_id, message } | EventBody::MessageEdited { chat_id, message } => {
                    (*chat_id, Some(message.sender))
                }
                EventBody::CallbackQuery { chat_id, .. }
                | EventBody::MemberChanged { chat_id, .. }
                | EventBody::MessageReaction { chat_id, .. } => (*chat_id, None),
                _ => continue,
            };
            if !chats.contains(&chat) && !self.chats_seen.contains(&(viewer, chat), 0) {
                chats.push(chat);
            }
            if let Some(s) = sender.filter(|s| !senders.contains(s) && !self.users.contains(s, 0)) {
                senders.push(s);
            }
        }
        if chats.is_empty() && senders.is_empty() {
            return;
        }
        let chats = join_all(chats.into_iter().map(|chat| async move { drop(self.chat_seen_by(viewer, chat).await) }));
        let senders = join_all(senders.into_iter().map(|sender| async move { drop(self.user(sender).await) }));
        futures_util::future::join(chats, senders).await;
    }

    /// The update a log entry is for a bot, if it is one a bot receives.
    async fn bot_update(&self, bot: UserId, event: Event) -> ServiceResult<Option<BotUpdate>> {
        let body = match event.body {
            EventBody::MessageNew { chat_id, message } | EventBody::MessageEdited { chat_id, message }
                if message.sender == bot =>
            {
                let _ = chat_id;
                return Ok(None);
            }
            EventBody::MessageNew { chat_id, message } => {
                if self.sent_by_another_bot(&message).await? {
                    return Ok(None);
                }
                BotUpdateBody::Message(self.bot_message(bot, chat_id, message).await?)
            }
            EventBody::MessageEdited { chat_id, message } => {
                if self.sent_by_another_bot(&message).await? {
                    return Ok(None);
                }
                BotUpdateBody::EditedMessage(self.bot_message(bot, chat_id, message).await?)
            }
            EventBody::CallbackQuery { chat_id, query, message } => {
                let chat = self.chat_seen_by(bot, chat_id).await?;
                let message = match message {
                    Some(m) => Some(Box::new(self.bot_message(bot, chat_id, m).await?)),
                    None => None,
                };
                BotUpdateBody::CallbackQuery { query, chat, message }
            }
            EventBody::MemberChanged { chat_id, change } => {
                let chat = match self.chat_seen_by(bot, chat_id).await {
                    Ok(c) => c,
                    // Removed from a group: the chat is no longer the bot's to read.
                    Err(ServiceError::Denied(Denied::ChatNotFound)) => {
                        Arc::new(self.departed_chat(chat_id, change.chat))
                    }
                    Err(e) => return Err(e),
                };
                BotUpdateBody::MyChatMember { chat, change }
            }
            EventBody::PollUpdated { poll, .. } => BotUpdateBody::Poll(poll),
            EventBody::PollAnswered { answer } => BotUpdateBody::PollAnswer(answer),
            EventBody::MessageReaction { chat_id, change } => {
                BotUpdateBody::MessageReaction { chat: self.chat_seen_by(bot, chat_id).await?, change }
            }
            EventBody::PreCheckoutQuery { payment } => BotUpdateBody::PreCheckoutQuery(payment),
            EventBody::ShippingQuery { query } => BotUpdateBody::ShippingQuery(query),
            _ => return Ok(None),
        };
        Ok(Some(BotUpdate { update_id: event.seq, body }))
    }

    /// A group the bot was removed from, as far as it can still know it (the title it last saw).
    fn departed_chat(&self, chat_id: ChatId, key: plaza_core::ChatKey) -> Chat {
        let seen = self.chats_seen.peek_where(|(_, c), _| *c == chat_id);
        seen.map(Arc::unwrap_or_clone).unwrap_or(Chat {
            id: chat_id,
            key,
            kind: ChatKind::Group {
                title: plaza_core::GroupTitle::parse("Group").expect("a valid title"),
                member_count: 0,
                my_role: plaza_core::Role::Member,
            },
            last_message_id: MessageId(0),
            read_inbox_max_id: MessageId(0),
            read_outbox_max_id: MessageId(0),
            created_at: 0,
        })
    }

    /// Bots do not see other bots' messages, as on Telegram.
    async fn sent_by_another_bot(&self, message: &Message) -> ServiceResult<bool> {
        Ok(self.user(message.sender).await?.is_bot)
    }

    /// A message with its chat and the message it replies to, as `viewer` sees them.
    pub async fn bot_message(&self, viewer: UserId, chat_id: ChatId, message: Message) -> ServiceResult<BotMessage> {
        let chat = self.chat_seen_by(viewer, chat_id).await?;
        let reply_to = match message.reply_to {
            Some(id) => self.message_by_id(viewer, chat_id, id).await?.map(Box::new),
            None => None,
        };
        let pinned = match message.service.as_deref() {
            Some(&plaza_core::ServiceAction::PinnedMessage(id)) => {
                self.message_by_id(viewer, chat_id, id).await?.map(Box::new)
            }
            _ => None,
        };
        let poll = match &message.poll {
            Some(id) => Some(self.store.poll(viewer, id).await?),
            None => None,
        };
        Ok(BotMessage { chat, message, reply_to, pinned, poll })
    }

    /// One live message of a chat, if it exists.
    pub async fn message_by_id(&self, viewer: UserId, chat: ChatId, id: MessageId) -> ServiceResult<Option<Message>> {
        let page = plaza_core::HistoryPage::After { after: MessageId(id.0 - 1), limit: 1 };
        let found = self.store.history(viewer, chat, page).await?;
        Ok(found.into_iter().next().filter(|m| m.id == id))
    }

    /// A chat as `viewer` sees it, cached briefly: updates name the chat on every message. Shared,
    /// not copied: every message a bot sends or gets carries its chat.
    pub async fn chat_seen_by(&self, viewer: UserId, chat: ChatId) -> ServiceResult<Arc<Chat>> {
        if let Some(c) = self.chats_seen.get(&(viewer, chat), 0) {
            return Ok(c);
        }
        let c = Arc::new(self.store.chat(viewer, chat).await?);
        self.chats_seen.put((viewer, chat), c.clone(), i64::MAX);
        Ok(c)
    }

    /// Updates waiting for the bot (for `getWebhookInfo`), counted up to a bound.
    pub async fn pending_update_count(&self, bot: UserId) -> ServiceResult<u64> {
        let state = self.state_of(bot).await?;
        let mut cursor = state.offset.saturating_sub(1);
        let mut count = 0;
        for _ in 0..10 {
            let (updates, scanned_to) = self.read_updates(bot, cursor, MAX_UPDATES, &state.allowed_updates).await?;
            count += updates.len() as u64;
            if scanned_to == cursor {
                break;
            }
            cursor = scanned_to;
        }
        Ok(count)
    }

    /// The next updates to push to the bot's webhook (none when it has no webhook), with the
    /// webhook they go to. Nothing is confirmed until [`Service::confirm_delivered`].
    pub async fn webhook_batch(&self, bot: UserId, limit: u32) -> ServiceResult<Option<(Webhook, Vec<BotUpdate>)>> {
        let state = self.store.bot_state(bot).await?;
        let Some(webhook) = state.webhook else { return Ok(None) };
        let cursor = state.offset.saturating_sub(1);
        let (updates, scanned_to) = self.read_updates(bot, cursor, limit, &state.allowed_updates).await?;
        if updates.is_empty() && scanned_to > cursor {
            // Only entries a bot does not receive: confirm them so they are not scanned again.
            self.confirm_delivered(bot, scanned_to + 1).await?;
        }
        Ok(Some((webhook, updates)))
    }

    /// Confirms every update below `offset` (delivered to the webhook).
    pub async fn confirm_delivered(&self, bot: UserId, offset: u64) -> ServiceResult<()> {
        self.store.confirm_updates(bot, offset).await?;
        self.bot_states.forget(&bot);
        Ok(())
    }

    /// Records a failed webhook delivery for `getWebhookInfo`.
    pub async fn note_webhook_error(&self, bot: UserId, message: String) -> ServiceResult<()> {
        let state = self.store.bot_state(bot).await?;
        if let Some(mut w) = state.webhook {
            w.last_error_date = Some(self.now());
            w.last_error_message = Some(message);
            self.store
                .put_setting(bot, plaza_store::codec::WEBHOOK, Some(plaza_store::codec::encode_webhook(&w)))
                .await?;
            self.bot_states.forget(&bot);
        }
        Ok(())
    }

    /// Bots with a webhook set, for starting their senders.
    pub async fn bots_with_webhooks(&self) -> ServiceResult<Vec<UserId>> {
        let mut out = Vec::new();
        for record in self.store.list_bots().await? {
            if self.store.bot_state(record.bot.id).await?.webhook.is_some() {
                out.push(record.bot.id);
            }
        }
        Ok(out)
    }

    pub async fn bot_state(&self, bot: UserId) -> ServiceResult<BotState> {
        self.state_of(bot).await
    }

    /// Sets (`Some`) or removes the webhook. A waiting long poll ends with 409, as on Telegram.
    pub async fn set_webhook(&self, bot: UserId, webhook: Option<Webhook>, drop_pending: bool) -> ServiceResult<()> {
        self.store.set_webhook(bot, webhook.as_ref(), drop_pending).await?;
        self.reload_state(bot).await?;
        if webhook.is_some() {
            self.pollers.end(bot, CONFLICT_SET_WEBHOOK);
            // A poll that had not started waiting yet learns of the webhook when woken.
            self.bus.publish(bot, plaza_bus::Hint::ephemeral(std::sync::Arc::new(())));
        }
        Ok(())
    }

    pub async fn set_allowed_updates(&self, bot: UserId, allowed: AllowedUpdates) -> ServiceResult<()> {
        self.store.set_allowed_updates(bot, &allowed).await?;
        self.reload_state(bot).await
    }

    /// After a change to the bot's stored state: the state read again, keeping the offset the bot
    /// last confirmed. `wait_for_updates` stores a confirmation in the background, so for a moment
    /// the stored offset can be behind the cached one; forgetting the cache then brought confirmed
    /// updates back (CI saw `pending_update_count` 2 instead of 1 after a `setWebhook`, on
    /// PostgreSQL). Offsets only grow, so the higher of the two is the bot's.
    async fn reload_state(&self, bot: UserId) -> ServiceResult<()> {
        let mut state = self.store.bot_state(bot).await?;
        if let Some(cached) = self.bot_states.get(&bot, 0) {
            state.offset = state.offset.max(cached.offset);
        }
        self.bot_states.put(bot, state, i64::MAX);
        Ok(())
    }

    /// A person starts a bot: opens the private chat and sends `/start` (with a deep link's
    /// payload: `/start <payload>`), as Telegram's clients do. Returns the chat and the message.
    pub async fn start_bot(&self, me: UserId, username: &str, payload: Option<&str>) -> ServiceResult<(Chat, Message)> {
        let bot = self.user_by_username(username).await?;
        if !bot.is_bot {
            return Err(Denied::UserNotFound.into());
        }
        let payload = payload.filter(|p| !p.is_empty());
        if let Some(p) = payload
            && (p.len() > 64 || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
        {
            return Err(Invalid::new("payload", "a start parameter is up to 64 of A-Z, a-z, 0-9, _ and -").into());
        }
        let chat = self.open_private_chat(me, username).await?;
        // Starting a bot one has blocked unblocks it first, as Telegram's "Restart" does.
        if self.is_blocked(me, bot.id).await? {
            self.set_blocked(me, bot.id, false).await?;
        }
        let text = match payload {
            Some(p) => format!("/start {p}"),
            None => "/start".to_string(),
        };
        let entities = plaza_core::formatting::merge_detected(&text, Vec::new());
        let message = plaza_core::NewMessage::new(&text, entities, None)?;
        let sent = self.send_message(me, chat.id, message).await?;
        Ok((chat, sent))
    }

    // ---- buttons ----

    /// Presses a callback button and waits for the bot's answer (or [`PRESS_TIMEOUT`]); `None`
    /// in the answer means the bot did not answer in time.
    pub async fn press_button(
        &self,
        me: UserId,
        chat: ChatId,
        message: MessageId,
        data: &str,
    ) -> ServiceResult<CallbackQuery> {
        if data.is_empty() || data.len() > plaza_core::markup::MAX_CALLBACK_DATA {
            return Err(Invalid::new("data", "callback data is 1-64 bytes").into());
        }
        let mut wake = self.bus.subscribe(me);
        let written = self.store.press_button(me, chat, message, data.to_string(), self.now()).await?;
        let id = written.value.id;
        self.wake(written);
        let deadline = tokio::time::Instant::now() + PRESS_TIMEOUT;
        loop {
            let query = self.store.callback_query(me, id).await?;
            if query.answer.is_some() {
                return Ok(query);
            }
            tokio::select! {
                hint = wake.changed() => if hint.is_none() { return Ok(query) },
                _ = tokio::time::sleep_until(deadline) => return Ok(query),
            }
        }
    }

    /// The bot's answer to a press; the query id is the string the bot received.
    pub async fn answer_callback_query(&self, bot: UserId, id: &str, answer: CallbackAnswer) -> ServiceResult<()> {
        let id: i64 = id.parse().map_err(|_| ServiceError::Denied(Denied::QueryNotFound))?;
        let written = self.store.answer_callback_query(bot, id, answer, self.now()).await?;
        self.wake(written);
        Ok(())
    }

    // ---- settings ----

    pub async fn set_commands(
        &self,
        bot: UserId,
        scope: CommandScope,
        language: Option<&str>,
        commands: Vec<BotCommand>,
    ) -> ServiceResult<()> {
        if commands.len() > plaza_core::bot::MAX_COMMANDS {
            return Err(Invalid::new("commands", "too many commands").into());
        }
        let language = language_of(language)?;
        Ok(self.store.set_commands(bot, scope, &language, &commands).await?)
    }

    pub async fn commands(
        &self,
        bot: UserId,
        scope: CommandScope,
        language: Option<&str>,
    ) -> ServiceResult<Vec<BotCommand>> {
        let language = language_of(language)?;
        Ok(self.store.commands(bot, scope, &language).await?.unwrap_or_default())
    }

    /// The commands `user` sees for `bot` in `chat`: the most specific scope with a list, in the
    /// user's language or else for all languages.
    pub async fn commands_for(&self, bot: UserId, user: &User, chat: &Chat) -> ServiceResult<Vec<BotCommand>> {
        let (is_group, is_admin) = match &chat.kind {
            ChatKind::Group { my_role, .. } => (true, my_role.can_manage()),
            ChatKind::Private { .. } => (false, false),
        };
        // The bot names a private chat by the user's id, a group by its own id.
        let chat_for_bot = if is_group { chat.id } else { ChatId(user.id.0) };
        for scope in CommandScope::resolution_order(chat_for_bot, user.id, is_group, is_admin) {
            for language in [user.language_code.clone(), None] {
                if let Some(list) = self.store.commands(bot, scope, &language).await? {
                    return Ok(list);
                }
                if user.language_code.is_none() {
                    break;
                }
            }
        }
        Ok(Vec::new())
    }

    pub async fn set_menu_button(&self, bot: UserId, chat: Option<UserId>, button: MenuButton) -> ServiceResult<()> {
        Ok(self.store.set_menu_button(bot, chat, &button).await?)
    }

    /// The menu button of `chat`'s private chat with the bot, or the bot's default; `Commands`
    /// when nothing was set.
    pub async fn menu_button(&self, bot: UserId, chat: Option<UserId>) -> ServiceResult<MenuButton> {
        if let Some(user) = chat
            && let Some(b) = self.store.menu_button(bot, Some(user)).await?
        {
            return Ok(b);
        }
        Ok(self.store.menu_button(bot, None).await?.unwrap_or(MenuButton::Commands))
    }

    pub async fn set_bot_text(
        &self,
        bot: UserId,
        text: BotText,
        language: Option<&str>,
        value: &str,
    ) -> ServiceResult<()> {
        let value = text.check(value)?;
        let language = language_of(language)?;
        Ok(self.store.set_bot_text(bot, text, &language, value).await?)
    }

    /// The text for `language`, falling back to the one for all languages; the bot's display
    /// name stands in for an unset name.
    pub async fn bot_text(&self, bot: &User, text: BotText, language: Option<&str>) -> ServiceResult<String> {
        let language = language_of(language)?;
        let mut found = self.store.bot_text(bot.id, text, &language).await?;
        if found.is_none() && language.is_some() {
            found = self.store.bot_text(bot.id, text, &None).await?;
        }
        Ok(found.unwrap_or_else(|| match text {
            BotText::Name => bot.display_name.as_str().to_string(),
            _ => String::new(),
        }))
    }
}

fn language_of(language: Option<&str>) -> Result<SettingLanguage, Invalid> {
    language.filter(|l| !l.is_empty()).map(LanguageCode::parse).transpose()
}
