//! Plaza's use cases: sign-up, sessions, chats, messages, bots and the update stream.
//!
//! This is the only crate that sees both the [`Store`] (the truth) and the [`Bus`] (wake-ups).
//! Every write goes to the store first; once it is durable, the users whose update logs it touched
//! are woken through the bus.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plaza_bus::{Bus, Hint, Subscription};
use plaza_core::message::check_entities;
use plaza_core::user::BOT_SECRET_LEN;
use plaza_core::{
    BotToken, Chat, ChatId, ChatSummary, Denied, DisplayName, Entity, GroupTitle, HistoryPage, Invalid, LanguageCode,
    Member, Message, MessageId, MessageText, NewMessage, Password, PhoneNumber, ReplyMarkup, Role, User, UserId,
    Username,
};
use plaza_store::{
    BotRecord, EditedText, Event, EventBody, EventPage, GroupChange, MessageEdit, NewAccount, NewBot, ProfileChange,
    Store, StoreError, Written,
};

pub mod bots;
mod cache;
pub mod files;
pub mod hosting;
pub mod payments;
mod secrets;
pub mod stars;
pub mod webapp;
pub mod webapps;
pub use secrets::{hash_password, sha256, verify_password};

/// Wall-clock time in unix seconds; tests substitute a clock they move by hand.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    }
}

/// A clock that moves only when told; for tests of expiry without sleeping.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now: i64) -> Self {
        ManualClock(AtomicI64::new(now))
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_secs() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request's content is not acceptable.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// A domain rule refused it.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// No valid session or credentials.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The request conflicts with another one (a newer long poll, an active webhook).
    #[error("{0}")]
    Conflict(&'static str),
    /// Something broke inside; details are logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Denied(d) => ServiceError::Denied(d),
            StoreError::Backend(msg) => ServiceError::Internal(msg),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// Where hosted mini apps are served (each on its own origin under it).
    pub apps_url: plaza_core::webapp::AppsUrl,
    /// A sandbox for testing bots and mini apps: free Stars top-ups, subscription periods shorter
    /// than 30 days.
    pub sandbox: bool,
    /// Selling Stars by card: the card provider's token and the price of one Star.
    pub star_sales: Option<payments::StarSales>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            apps_url: plaza_core::webapp::AppsUrl::parse("http://localhost:8080").expect("a valid default"),
            sandbox: false,
            star_sales: None,
        }
    }
}

use plaza_store::codec::WEBAPP_KEY;
/// The instance setting holding the Ed25519 key that signs init data (hex).
const WEBAPP_SIGNING_KEY: &str = "webapp_signing_key";

/// Plaza's use cases. Cheap to share behind an `Arc`.
pub struct Service {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    clock: Arc<dyn Clock>,
    config: ServiceConfig,
    /// Bounds password hashes in flight: each takes 19 MiB and a core for tens of milliseconds, so
    /// a burst of logins queues here instead of exhausting memory and starving other requests.
    hashing: tokio::sync::Semaphore,
    /// Users behind session tokens (by token hash), valid until the session expires.
    sessions: cache::TtlCache<Vec<u8>, Arc<User>>,
    /// Users by id, for message senders.
    users: cache::TtlCache<UserId, Arc<User>>,
    /// Bots by the SHA-256 of their whole token.
    bot_tokens: cache::TtlCache<Vec<u8>, Arc<User>>,
    /// Bots' update-stream state; this node's own changes replace entries at once.
    bot_states: cache::TtlCache<UserId, plaza_core::bot::BotState>,
    /// Chats as a viewer sees them, for naming the chat of each update.
    chats_seen: cache::TtlCache<(UserId, ChatId), Arc<Chat>>,
    pollers: bots::Pollers,
    /// The instance's Ed25519 key for mini-app init data, read from the store on first use.
    webapp_signing: tokio::sync::OnceCell<ed25519_dalek::SigningKey>,
    /// Contacts shared through a mini app's `requestContact`, signed, by launch, for the app's
    /// `getRequestedContact` that follows within seconds.
    shared_contacts: cache::TtlCache<String, String>,
    payments: payments::Payments,
}

/// Someone in a chat is typing (or uploading …), as a watcher of the chat receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatActionSignal {
    /// The chat as the watcher names it.
    pub chat_id: ChatId,
    pub user: UserId,
    pub action: &'static str,
}

/// A new bot and its token, shown once.
#[derive(Debug, Clone)]
pub struct IssuedBot {
    pub bot: User,
    pub token: BotToken,
}

impl Service {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>, clock: Arc<dyn Clock>, config: ServiceConfig) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Service {
            store,
            bus,
            clock,
            config,
            hashing: tokio::sync::Semaphore::new(cores),
            sessions: cache::TtlCache::new(),
            users: cache::TtlCache::new(),
            bot_tokens: cache::TtlCache::new(),
            bot_states: cache::TtlCache::new(),
            chats_seen: cache::TtlCache::new(),
            pollers: Default::default(),
            webapp_signing: tokio::sync::OnceCell::new(),
            shared_contacts: cache::TtlCache::new(),
            payments: Default::default(),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    async fn hash(&self, password: Password) -> ServiceResult<String> {
        let _permit = self.hashing.acquire().await.map_err(|e| ServiceError::Internal(e.to_string()))?;
        hash_password(password).await
    }

    fn wake<T>(&self, written: Written<T>) -> T {
        for (user, seq) in &written.notify {
            self.bus.publish(*user, Hint::bare(*seq));
        }
        written.value
    }

    // ---- accounts and sessions ----

    pub async fn signup(
        &self,
        username: &str,
        password: &str,
        display_name: &str,
        language: Option<&str>,
    ) -> ServiceResult<(String, User)> {
        let username = Username::parse(username)?;
        let password = Password::parse(password)?;
        let display_name = DisplayName::parse(display_name)?;
        let language_code = language.map(LanguageCode::parse).transpose()?;
        let password_hash = self.hash(password).await?;
        let user = self
            .store
            .create_account(NewAccount {
                username,
                display_name,
                password_hash: Some(password_hash),
                language_code,
                phone_number: None,
                bot: None,
                now: self.now(),
            })
            .await?;
        let token = self.start_session(user.id).await?;
        Ok((token, user))
    }

    /// Creates a person without a session (for the CLI and demo data).
    pub async fn create_person(&self, username: &str, password: &str, display_name: &str) -> ServiceResult<User> {
        let username = Username::parse(username)?;
        let password = Password::parse(password)?;
        let display_name = DisplayName::parse(display_name)?;
        let password_hash = self.hash(password).await?;
        Ok(self
            .store
            .create_account(NewAccount {
                username,
                display_name,
                password_hash: Some(password_hash),
                language_code: None,
                phone_number: None,
                bot: None,
                now: self.now(),
            })
            .await?)
    }

    pub async fn login(&self, username: &str, password: &str) -> ServiceResult<(String, User)> {
        const BAD: ServiceError = ServiceError::Unauthorized("wrong username or password");
        let (Ok(username), Ok(password)) = (Username::parse(username), Password::parse(password)) else {
            return Err(BAD);
        };
        let record = self.store.login_record(&username).await?;
        // Verify against a real hash even for unknown users, so timing does not tell which exist.
        let (user, hash) = match record {
            Some((user, hash)) => (Some(user), hash),
            None => (None, secrets::DECOY_HASH.to_string()),
        };
        let ok = {
            let _permit = self.hashing.acquire().await.map_err(|e| ServiceError::Internal(e.to_string()))?;
            verify_password(password, hash).await?
        };
        match user {
            Some(user) if ok => {
                let token = self.start_session(user.id).await?;
                Ok((token, user))
            }
            _ => Err(BAD),
        }
    }

    async fn start_session(&self, user: UserId) -> ServiceResult<String> {
        let token = secrets::session_token();
        let now = self.now();
        let expires = now + self.config.session_ttl.as_secs() as i64;
        self.store.create_session(sha256(token.as_bytes()), user, now, expires).await?;
        Ok(token)
    }

    /// The user behind a bearer token, if the session exists and has not expired.
    pub async fn authenticate(&self, token: &str) -> ServiceResult<Arc<User>> {
        if token.is_empty() || token.len() > 256 {
            return Err(ServiceError::Unauthorized("invalid session token"));
        }
        let hash = sha256(token.as_bytes());
        let now = self.now();
        if let Some(user) = self.sessions.get(&hash, now) {
            return Ok(user);
        }
        let (user, expires_at) = self
            .store
            .session_user(&hash, now)
            .await?
            .ok_or(ServiceError::Unauthorized("the session is invalid or has expired; log in again"))?;
        let user = Arc::new(user);
        self.sessions.put(hash, user.clone(), expires_at);
        Ok(user)
    }

    pub async fn logout(&self, token: &str) -> ServiceResult<()> {
        let hash = sha256(token.as_bytes());
        self.store.delete_session(&hash).await?;
        self.sessions.forget(&hash);
        Ok(())
    }

    pub async fn update_profile(
        &self,
        user: UserId,
        display_name: Option<&str>,
        language_code: Option<Option<&str>>,
        phone_number: Option<Option<&str>>,
    ) -> ServiceResult<User> {
        let change = ProfileChange {
            display_name: display_name.map(DisplayName::parse).transpose()?,
            language_code: language_code.map(|l| l.map(LanguageCode::parse).transpose()).transpose()?,
            phone_number: phone_number.map(|p| p.map(PhoneNumber::parse).transpose()).transpose()?,
        };
        let updated = self.store.update_profile(user, change).await?;
        self.sessions.forget_where(|u| u.id == user);
        self.users.forget(&user);
        Ok(updated)
    }

    pub async fn user(&self, id: UserId) -> ServiceResult<Arc<User>> {
        if let Some(u) = self.users.get(&id, 0) {
            return Ok(u);
        }
        let user = Arc::new(self.store.user(id).await?);
        self.users.put(id, user.clone(), i64::MAX);
        Ok(user)
    }

    pub async fn user_by_username(&self, username: &str) -> ServiceResult<User> {
        Ok(self.store.user_by_username(&Username::parse(username)?).await?)
    }

    pub async fn list_people(&self) -> ServiceResult<Vec<User>> {
        Ok(self.store.list_people().await?)
    }

    // ---- bots ----

    pub async fn create_bot(
        &self,
        username: &str,
        owner: &str,
        display_name: Option<&str>,
    ) -> ServiceResult<IssuedBot> {
        let username = Username::parse_bot(username)?;
        let owner = self.store.user_by_username(&Username::parse(owner)?).await?;
        if owner.is_bot {
            return Err(Invalid::new("owner", "a bot can't own a bot").into());
        }
        let display_name = DisplayName::parse(display_name.unwrap_or(username.as_str()))?;
        let secret = secrets::bot_secret();
        let bot = self
            .store
            .create_account(NewAccount {
                username,
                display_name,
                password_hash: None,
                language_code: None,
                phone_number: None,
                bot: Some(NewBot { owner: owner.id, token_secret_hash: sha256(secret.as_bytes()) }),
                now: self.now(),
            })
            .await?;
        let token = BotToken::new(bot.id, secret)?;
        self.remember_webapp_key(bot.id, &token.to_token_string()).await?;
        Ok(IssuedBot { bot, token })
    }

    /// Issues a new token for the bot; the old one stops working at once.
    pub async fn rotate_bot_token(&self, username: &str) -> ServiceResult<IssuedBot> {
        let bot = self.store.user_by_username(&Username::parse(username)?).await?;
        if !bot.is_bot {
            return Err(Denied::UserNotFound.into());
        }
        let secret = secrets::bot_secret();
        self.store.set_bot_token_hash(bot.id, sha256(secret.as_bytes())).await?;
        self.bot_tokens.forget_where(|b| b.id == bot.id);
        let token = BotToken::new(bot.id, secret)?;
        self.remember_webapp_key(bot.id, &token.to_token_string()).await?;
        Ok(IssuedBot { bot, token })
    }

    /// The bot a token belongs to, comparing the secret's hash in constant time.
    pub async fn authenticate_bot(&self, token: &str) -> ServiceResult<User> {
        let token = BotToken::parse(token).map_err(|_| ServiceError::Unauthorized("invalid token specified"))?;
        let stored = match self.store.bot_token_hash(token.bot_id).await {
            Ok(h) => h,
            Err(StoreError::Denied(_)) => return Err(ServiceError::Unauthorized("unknown token")),
            Err(e) => return Err(e.into()),
        };
        if !secrets::hashes_equal(&stored, &sha256(token.secret().as_bytes())) {
            return Err(ServiceError::Unauthorized("unknown token"));
        }
        // A bot made before mini apps has no web-app key yet: its token, here in plain text, makes it.
        if self.store.setting(token.bot_id, WEBAPP_KEY).await?.is_none() {
            self.remember_webapp_key(token.bot_id, &token.to_token_string()).await?;
        }
        Ok(self.store.user(token.bot_id).await?)
    }

    /// Keeps the key init data of this bot is signed with (see [`webapp`]); never the token.
    async fn remember_webapp_key(&self, bot: UserId, token: &str) -> ServiceResult<()> {
        Ok(self.store.put_setting(bot, WEBAPP_KEY, Some(hex::encode(webapp::webapp_key(token)))).await?)
    }

    /// The key this bot's init data is signed with, if the bot has one (every bot created or
    /// rotated since mini apps, and every bot that has called the Bot API since).
    pub async fn bot_webapp_key(&self, bot: UserId) -> ServiceResult<Option<[u8; 32]>> {
        let stored = self.store.setting(bot, WEBAPP_KEY).await?;
        Ok(stored.and_then(|h| hex::FromHex::from_hex(h).ok()))
    }

    /// The instance's key for signing init data: made once, by the first node to need it, and
    /// kept in the store so every node of a cluster signs with the same key.
    pub async fn webapp_signing_key(&self) -> ServiceResult<&ed25519_dalek::SigningKey> {
        self.webapp_signing
            .get_or_try_init(|| async {
                let fresh: [u8; 32] = rand::random();
                let stored = self.store.instance_setting_or_init(WEBAPP_SIGNING_KEY, hex::encode(fresh)).await?;
                let bytes: [u8; 32] = hex::FromHex::from_hex(stored)
                    .map_err(|_| ServiceError::Internal("the stored init-data key is not 32 bytes of hex".into()))?;
                Ok(ed25519_dalek::SigningKey::from_bytes(&bytes))
            })
            .await
    }

    /// The public half of [`Service::webapp_signing_key`], as hex: what third parties check
    /// `signature` with.
    pub async fn webapp_public_key(&self) -> ServiceResult<String> {
        Ok(webapp::public_key_hex(self.webapp_signing_key().await?))
    }

    pub async fn list_bots(&self) -> ServiceResult<Vec<BotRecord>> {
        Ok(self.store.list_bots().await?)
    }

    // ---- chats ----

    pub async fn open_private_chat(&self, me: UserId, username: &str) -> ServiceResult<Chat> {
        let peer = self.store.user_by_username(&Username::parse(username)?).await?;
        let written = self.store.open_private_chat(me, peer.id, self.now()).await?;
        Ok(self.wake(written))
    }

    pub async fn create_group(&self, me: UserId, title: &str, members: Vec<UserId>) -> ServiceResult<Chat> {
        let title = GroupTitle::parse(title)?;
        let written = self.store.create_group(me, title, members, self.now()).await?;
        Ok(self.wake(written))
    }

    pub async fn chats(&self, me: UserId) -> ServiceResult<Vec<ChatSummary>> {
        Ok(self.store.chats(me).await?)
    }

    pub async fn chat(&self, me: UserId, chat: ChatId) -> ServiceResult<Chat> {
        Ok(self.store.chat(me, chat).await?)
    }

    pub async fn members(&self, me: UserId, chat: ChatId) -> ServiceResult<Vec<Member>> {
        Ok(self.store.members(me, chat).await?)
    }

    pub async fn add_members(&self, me: UserId, chat: ChatId, members: Vec<UserId>) -> ServiceResult<Chat> {
        if members.is_empty() {
            return Err(Invalid::new("members", "name at least one member").into());
        }
        self.change_group(me, chat, GroupChange::AddMembers(members)).await
    }

    pub async fn remove_member(&self, me: UserId, chat: ChatId, member: UserId) -> ServiceResult<Chat> {
        let change = if member == me { GroupChange::Leave } else { GroupChange::RemoveMember(member) };
        self.change_group(me, chat, change).await
    }

    pub async fn set_role(&self, me: UserId, chat: ChatId, member: UserId, role: &str) -> ServiceResult<Chat> {
        let role = Role::parse(role)?;
        if role == Role::Creator {
            return Err(Invalid::new("role", "must be 'administrator' or 'member'").into());
        }
        self.change_group(me, chat, GroupChange::SetRole(member, role)).await
    }

    pub async fn set_title(&self, me: UserId, chat: ChatId, title: &str) -> ServiceResult<Chat> {
        self.change_group(me, chat, GroupChange::SetTitle(GroupTitle::parse(title)?)).await
    }

    async fn change_group(&self, me: UserId, chat: ChatId, change: GroupChange) -> ServiceResult<Chat> {
        let written = self.store.change_group(me, chat, change, self.now()).await?;
        Ok(self.wake(written))
    }

    // ---- messages ----

    pub async fn send_message(&self, me: UserId, chat: ChatId, message: NewMessage) -> ServiceResult<Message> {
        let written = self.store.append_message(me, chat, message, self.now()).await?;
        // The new entry rides along with the wake-up, so live readers need not read it back.
        for (user, seq) in &written.notify {
            // A private chat is named by the other side's id: the sender calls it `chat`, the
            // recipient calls it by the sender's id. A group has one id for all.
            let chat_id = if chat.0 < 0 || *user == me { chat } else { ChatId(me.0) };
            let event = Event { seq: *seq, body: EventBody::MessageNew { chat_id, message: written.value.clone() } };
            self.bus.publish(*user, Hint::with_entry(*seq, Arc::new(event)));
        }
        Ok(written.value)
    }

    pub async fn edit_message(
        &self,
        me: UserId,
        chat: ChatId,
        id: MessageId,
        text: &str,
        entities: Vec<Entity>,
    ) -> ServiceResult<Message> {
        self.edit_message_content(me, chat, id, Some((text, entities)), None).await
    }

    /// Edits a message's text (`None` keeps it) and replaces its inline keyboard (`None` removes it).
    pub async fn edit_message_content(
        &self,
        me: UserId,
        chat: ChatId,
        id: MessageId,
        text: Option<(&str, Vec<Entity>)>,
        reply_markup: Option<ReplyMarkup>,
    ) -> ServiceResult<Message> {
        let text = match text {
            Some((text, entities)) => {
                let text = MessageText::parse(text)?;
                let entities = check_entities(&text, entities)?;
                Some(EditedText { text, entities })
            }
            None => None,
        };
        let edit = MessageEdit { text, reply_markup };
        let written = self.store.edit_message(me, chat, id, edit, self.now()).await?;
        Ok(self.wake(written))
    }

    pub async fn delete_messages(&self, me: UserId, chat: ChatId, ids: Vec<i64>) -> ServiceResult<()> {
        if ids.is_empty() || ids.len() > 100 {
            return Err(Invalid::new("message_ids", "give 1 to 100 message ids").into());
        }
        if ids.iter().any(|id| *id <= 0) {
            return Err(Invalid::new("message_ids", "message ids are positive").into());
        }
        let written = self.store.delete_messages(me, chat, ids.into_iter().map(MessageId).collect()).await?;
        self.wake(written);
        Ok(())
    }

    pub async fn history(&self, me: UserId, chat: ChatId, page: HistoryPage) -> ServiceResult<Vec<Message>> {
        Ok(self.store.history(me, chat, page).await?)
    }

    pub async fn mark_read(&self, me: UserId, chat: ChatId, max_id: i64) -> ServiceResult<Chat> {
        if max_id < 0 {
            return Err(Invalid::new("max_id", "must not be negative").into());
        }
        let written = self.store.mark_read(me, chat, MessageId(max_id)).await?;
        Ok(self.wake(written))
    }

    /// Blocks (or unblocks) the other side of a private chat; a blocked bot can't message `me`.
    pub async fn set_blocked(&self, me: UserId, peer: UserId, blocked: bool) -> ServiceResult<()> {
        let written = self.store.set_blocked(me, peer, blocked, self.now()).await?;
        self.wake(written);
        Ok(())
    }

    pub async fn is_blocked(&self, me: UserId, peer: UserId) -> ServiceResult<bool> {
        Ok(self.store.is_blocked(me, peer).await?)
    }

    /// `user`'s standing in a chat `me` is in, with the end of a ban.
    pub async fn member_status(
        &self,
        me: UserId,
        chat: ChatId,
        user: UserId,
    ) -> ServiceResult<(plaza_core::MemberStatus, Option<i64>)> {
        Ok(self.store.member_status(me, chat, user, self.now()).await?)
    }

    /// Bans `user` from a group until `until` (`None`: until unbanned).
    pub async fn ban(&self, me: UserId, chat: ChatId, user: UserId, until: Option<i64>) -> ServiceResult<()> {
        self.change_group(me, chat, GroupChange::Ban { user, until }).await.map(drop)
    }

    pub async fn unban(&self, me: UserId, chat: ChatId, user: UserId, only_if_banned: bool) -> ServiceResult<()> {
        self.change_group(me, chat, GroupChange::Unban { user, only_if_banned }).await.map(drop)
    }

    /// Pins a message; returns the service message that says so.
    pub async fn pin_message(&self, me: UserId, chat: ChatId, id: MessageId) -> ServiceResult<Message> {
        let written = self.store.pin_message(me, chat, id, self.now()).await?;
        Ok(self.wake(written))
    }

    /// Unpins one message, the newest pin (`None`), or every pin (`all`).
    pub async fn unpin_messages(
        &self,
        me: UserId,
        chat: ChatId,
        id: Option<MessageId>,
        all: bool,
    ) -> ServiceResult<()> {
        let written = self.store.unpin_messages(me, chat, id, all).await?;
        self.wake(written);
        Ok(())
    }

    pub async fn pinned_message(&self, me: UserId, chat: ChatId) -> ServiceResult<Option<Message>> {
        Ok(self.store.pinned_message(me, chat).await?)
    }

    /// Sends a poll (its id is chosen here, unguessable).
    #[allow(clippy::too_many_arguments)]
    pub async fn send_poll(
        &self,
        me: UserId,
        chat: ChatId,
        question: &str,
        options: Vec<String>,
        is_anonymous: bool,
        kind: plaza_core::poll::PollKind,
        allows_multiple_answers: bool,
        correct_option_id: Option<i64>,
        explanation: Option<String>,
        is_closed: bool,
        reply_to: Option<MessageId>,
        reply_markup: Option<ReplyMarkup>,
    ) -> ServiceResult<Message> {
        let poll = plaza_core::poll::NewPoll::new(
            secrets::opaque_id(),
            question,
            options,
            is_anonymous,
            kind,
            allows_multiple_answers,
            correct_option_id,
            explanation,
            is_closed,
        )?;
        self.send_message(me, chat, NewMessage::poll(poll, reply_to).with_markup(reply_markup)).await
    }

    pub async fn poll(&self, me: UserId, id: &str) -> ServiceResult<plaza_core::poll::Poll> {
        Ok(self.store.poll(me, id).await?)
    }

    /// Votes (an empty choice takes the vote back); returns the poll as `me` now sees it.
    pub async fn vote(
        &self,
        me: UserId,
        chat: ChatId,
        message: MessageId,
        option_ids: Vec<i64>,
    ) -> ServiceResult<plaza_core::poll::Poll> {
        let ids: Vec<u8> = option_ids
            .into_iter()
            .map(|o| u8::try_from(o).map_err(|_| Invalid::new("option_ids", "wrong option ids")))
            .collect::<Result<_, _>>()?;
        if let Some(m) = self.message_by_id(me, chat, message).await?
            && let Some(id) = &m.poll
        {
            self.store.poll(me, id).await?.spec.check_vote(&ids)?;
        }
        let written = self.store.vote(me, chat, message, ids, self.now()).await?;
        Ok(self.wake(written))
    }

    pub async fn stop_poll(
        &self,
        me: UserId,
        chat: ChatId,
        message: MessageId,
    ) -> ServiceResult<plaza_core::poll::Poll> {
        let written = self.store.stop_poll(me, chat, message, self.now()).await?;
        Ok(self.wake(written))
    }

    /// Replaces `me`'s reactions on a message with `emojis` (at most `max`, from the standard set).
    pub async fn set_reactions(
        &self,
        me: UserId,
        chat: ChatId,
        message: MessageId,
        emojis: Vec<String>,
        max: usize,
    ) -> ServiceResult<()> {
        let emojis = plaza_core::poll::check_reactions(emojis, max)?;
        let written = self.store.set_reactions(me, chat, message, emojis, self.now()).await?;
        self.wake(written);
        Ok(())
    }

    pub async fn reactions(
        &self,
        me: UserId,
        chat: ChatId,
        ids: Vec<MessageId>,
    ) -> ServiceResult<std::collections::HashMap<MessageId, Vec<plaza_core::poll::ReactionCount>>> {
        Ok(self.store.reactions(me, chat, ids).await?)
    }

    /// Shows the others in the chat what `me` is doing (typing …) for a few seconds. Nothing is
    /// stored: a watcher that misses it loses nothing.
    pub async fn send_chat_action(&self, me: UserId, chat: ChatId, action: &str) -> ServiceResult<()> {
        let action = plaza_core::bot::check_chat_action(action)?;
        let c = self.store.chat(me, chat).await?;
        let watchers: Vec<(UserId, ChatId)> = match &c.kind {
            plaza_core::ChatKind::Private { peer } => vec![(peer.id, ChatId(me.0))],
            plaza_core::ChatKind::Group { .. } => self
                .store
                .members(me, chat)
                .await?
                .into_iter()
                .filter(|m| m.user.id != me)
                .map(|m| (m.user.id, chat))
                .collect(),
        };
        for (user, chat_id) in watchers {
            let signal = ChatActionSignal { chat_id, user: me, action };
            self.bus.publish(user, Hint::ephemeral(Arc::new(signal)));
        }
        Ok(())
    }

    // ---- the update stream ----

    /// Watches the user's update log. Subscribe before reading, so no wake-up falls between.
    pub fn subscribe(&self, me: UserId) -> Subscription {
        self.bus.subscribe(me)
    }

    pub async fn events_after(&self, me: UserId, cursor: u64, limit: u32) -> ServiceResult<EventPage> {
        Ok(self.store.events_after(me, cursor, limit).await?)
    }

    pub async fn current_cursor(&self, me: UserId) -> ServiceResult<u64> {
        Ok(self.store.current_cursor(me).await?)
    }
}

/// The token secret alphabet's length is fixed by Telegram's token shape.
const _: () = assert!(BOT_SECRET_LEN == 35);
