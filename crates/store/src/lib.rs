//! Storage for Plaza: one domain-shaped [`Store`] trait and its backends.
//!
//! SQLite ([`sqlite::SqliteStore`], the embedded default) and PostgreSQL ([`postgres::PgStore`]).
//! Every write that returns `Ok` is durable: it was committed with a synced WAL before the call
//! returned. Rule checks that guard a write (membership, roles, authorship) run inside the same
//! transaction as the write and come back as [`StoreError::Denied`].
//!
//! Both backends must behave the same; `tests/conformance.rs` runs one suite against each.

use async_trait::async_trait;
use plaza_core::bot::{
    AllowedUpdates, BotCommand, BotState, BotText, CallbackAnswer, CallbackQuery, CommandScope, MenuButton,
    SettingLanguage, Webhook,
};
use plaza_core::file::FileInfo;
pub use plaza_core::payment::{
    CHECKOUT_WINDOW, Invoice, InvoiceSpec, NewPayment, Payment, PaymentState, ShippingAddress, ShippingAnswer,
    ShippingQuery, Subscription,
};
use plaza_core::poll::{Poll, PollAnswer, ReactionChange, ReactionCount};
use plaza_core::webapp::{AppUrl, ShortName};
pub use plaza_core::webapp::{LaunchSource, WebApp};
use plaza_core::{
    Chat, ChatId, ChatSummary, Denied, DisplayName, Entity, GroupTitle, HistoryPage, LanguageCode, Member,
    MemberChange, MemberStatus, Message, MessageId, MessageText, NewMessage, PhoneNumber, ReplyMarkup, Role, User,
    UserId, Username,
};

mod chat_row;
pub mod codec;
pub mod entities;
pub mod postgres;
pub mod sqlite;

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A domain rule refused the operation; nothing was changed.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The database failed; nothing was changed. The text is for logs, never for clients.
    #[error("storage backend: {0}")]
    Backend(String),
}

impl StoreError {
    pub fn backend(e: impl std::fmt::Display) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// Counters of a group-committing backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Transactions committed, each holding one batch of writes.
    pub commits: u64,
    /// Writes answered after those commits (including writes refused by a rule).
    pub batched_writes: u64,
    /// Batches rolled back because a write in them failed midway or the commit failed.
    pub failed_batches: u64,
}

/// A mini app's launch: who opened which bot's app, where and how. Its `query_id` is what the
/// app's backend answers with `answerWebAppQuery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub query_id: String,
    pub bot: UserId,
    pub user: UserId,
    /// The chat it was opened in, as the user names it.
    pub chat: Option<ChatId>,
    pub source: LaunchSource,
    /// A keyboard button's text (it goes with `web_app_data`).
    pub button_text: Option<String>,
    pub created_at: i64,
}

/// One file of a mini app's bundle, to deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    /// Checked by [`plaza_core::webapp::parse_bundle_path`].
    pub path: String,
    pub content_type: String,
    pub sha256: Vec<u8>,
    pub bytes: Vec<u8>,
}

/// A deployed version of a mini app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppVersion {
    pub version: u32,
    pub created_at: i64,
    pub files: u32,
    pub bytes: u64,
    /// SHA-256 over the sorted paths and contents: the same bundle deployed again has the same.
    pub digest: Vec<u8>,
}

/// A file a hosted mini app serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedFile {
    pub content_type: String,
    pub sha256: Vec<u8>,
    pub bytes: Vec<u8>,
}

/// A message a bot prepared for a person to share from its mini app.
#[derive(Debug, Clone)]
pub struct PreparedMessage {
    pub id: String,
    pub bot: UserId,
    pub user: UserId,
    /// Its content (no poll).
    pub message: NewMessage,
    /// The kinds of chat it may be sent to: [`PreparedMessage::USERS`] … bits.
    pub chat_types: u8,
    pub expires_at: i64,
}

impl PreparedMessage {
    pub const USERS: u8 = 1;
    pub const BOTS: u8 = 2;
    pub const GROUPS: u8 = 4;
    pub const CHANNELS: u8 = 8;
}

/// What the ledger's invariants look like now: the sum of every balance (always zero), and the
/// accounts whose balance differs from the sum of their entries (always none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerCheck {
    pub total: i64,
    pub accounts: u64,
    pub mismatched: Vec<plaza_core::ledger::Account>,
}

/// Telegram's CloudStorage limit: keys per user per bot.
pub const MAX_CLOUD_KEYS: usize = 1024;

/// A new account, person or bot.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: Username,
    pub display_name: DisplayName,
    /// argon2id PHC string; `None` for bots, which log in with their token only.
    pub password_hash: Option<String>,
    pub language_code: Option<LanguageCode>,
    pub phone_number: Option<PhoneNumber>,
    pub bot: Option<NewBot>,
    pub now: i64,
}

#[derive(Debug, Clone)]
pub struct NewBot {
    pub owner: UserId,
    /// SHA-256 of the token's secret part. The bot's id is only known once it is stored, so the
    /// secret is chosen before and combined with the id afterwards.
    pub token_secret_hash: Vec<u8>,
}

/// A change to one's own profile; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub display_name: Option<DisplayName>,
    pub language_code: Option<Option<LanguageCode>>,
    pub phone_number: Option<Option<PhoneNumber>>,
}

/// A bot and the person who owns it.
#[derive(Debug, Clone)]
pub struct BotRecord {
    pub bot: User,
    pub owner: User,
}

/// A change to a group, made by `actor`.
#[derive(Debug, Clone)]
pub enum GroupChange {
    /// Admins add members; each gets `chat_updated`, the rest of the group sees the new count.
    AddMembers(Vec<UserId>),
    /// Admins remove a member (not the creator); admins can't remove other admins, the creator can.
    RemoveMember(UserId),
    /// The creator makes a member an admin or an admin a member.
    SetRole(UserId, Role),
    /// Admins rename the group.
    SetTitle(GroupTitle),
    /// The actor leaves. A creator who leaves hands the group to the longest-serving admin, else
    /// member; the last member leaving leaves an empty group behind.
    Leave,
    /// Admins ban a user (removing them if a member) until `until` (`None`: until unbanned); a
    /// banned user can't be added back. Admins can't ban other admins; nobody bans the creator.
    Ban { user: UserId, until: Option<i64> },
    /// Admins lift a ban. A member who isn't banned is removed unless `only_if_banned`, as
    /// Telegram's `unbanChatMember` does.
    Unban { user: UserId, only_if_banned: bool },
}

/// The new text of an edited message.
#[derive(Debug, Clone)]
pub struct EditedText {
    pub text: MessageText,
    pub entities: Vec<Entity>,
}

/// An edit: new text (or the old one kept) and the inline keyboard that replaces the old one
/// (`None` removes it). A reply keyboard sent with the message stays; it cannot be edited.
#[derive(Debug, Clone)]
pub struct MessageEdit {
    pub text: Option<EditedText>,
    pub reply_markup: Option<ReplyMarkup>,
}

/// A write's result and the users whose update logs it appended to, each with their new cursor,
/// so the caller can wake them.
#[derive(Debug, Clone)]
pub struct Written<T> {
    pub value: T,
    pub notify: Vec<(UserId, u64)>,
}

/// An update log entry, read back with the current state of what it points at. Entries whose
/// subject is gone (a message since deleted, a chat since left) are skipped when read, because the
/// entry that made them go is later in the same log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    pub body: EventBody,
}

/// One page of a user's update log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// The seq of the last entry scanned (the given cursor if none): resume after it. Fewer than
    /// `limit` entries scanned means the log ended there at the time of reading.
    pub next_cursor: u64,
    /// How many entries were scanned, skipped ones included.
    pub scanned: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventBody {
    MessageNew {
        chat_id: ChatId,
        message: Message,
    },
    MessageEdited {
        chat_id: ChatId,
        message: Message,
    },
    MessageDeleted {
        chat_id: ChatId,
        message_id: MessageId,
    },
    ChatUpdated {
        chat: Chat,
    },
    ChatRemoved {
        chat_id: ChatId,
    },
    ReadInbox {
        chat_id: ChatId,
        max_id: MessageId,
    },
    ReadOutbox {
        chat_id: ChatId,
        max_id: MessageId,
    },
    /// For a bot: a user pressed a callback button under one of its messages.
    CallbackQuery {
        chat_id: ChatId,
        query: CallbackQuery,
        message: Option<Message>,
    },
    /// For the user who pressed: the bot answered.
    CallbackAnswer {
        chat_id: ChatId,
        query: CallbackQuery,
    },
    /// For a bot: its standing in a chat changed (added, removed, promoted, blocked …).
    MemberChanged {
        chat_id: ChatId,
        change: MemberChange,
    },
    /// A poll's counts or state changed (people in the chat, and the bot that sent it).
    PollUpdated {
        chat_id: ChatId,
        message_id: MessageId,
        poll: Poll,
    },
    /// For a bot: someone answered (or took back an answer to) its non-anonymous poll.
    PollAnswered {
        answer: PollAnswer,
    },
    /// The reactions on a message changed, counted as the reader sees them.
    ReactionsUpdated {
        chat_id: ChatId,
        message_id: MessageId,
        reactions: Vec<ReactionCount>,
    },
    /// For a bot in the chat: one user's reactions on a message changed.
    MessageReaction {
        chat_id: ChatId,
        change: ReactionChange,
    },
    /// For a bot: a person confirmed a checkout; answer with `answerPreCheckoutQuery`.
    PreCheckoutQuery {
        payment: Payment,
    },
    /// For a bot: a person gave a shipping address for a flexible invoice.
    ShippingQuery {
        query: ShippingQuery,
    },
    /// For the payer: their payment changed state (paid, declined, cancelled, failed, refunded).
    PaymentUpdated {
        payment: Payment,
    },
    /// For the person who gave a shipping address: the bot answered.
    ShippingAnswered {
        query: ShippingQuery,
    },
}

/// Plaza's storage, shaped around domain operations.
///
/// Chats are always named from a viewer's side (`ChatId`: the peer's user id for a private chat, a
/// negative id for a group); a chat the viewer is not in is [`Denied::ChatNotFound`], so ids of other
/// people's chats reveal nothing.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Short name of the backend for logs and metrics: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Group-commit counters since start, for metrics: every write of the SQLite backend, the
    /// message batches of the PostgreSQL backend.
    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }

    // ---- accounts ----

    /// Creates a person or bot. [`Denied::UsernameTaken`] when the username (ignoring case) exists.
    async fn create_account(&self, account: NewAccount) -> StoreResult<User>;
    async fn user(&self, id: UserId) -> StoreResult<User>;
    async fn user_by_username(&self, username: &Username) -> StoreResult<User>;
    /// The user and their password hash, for logging in. Bots have none.
    async fn login_record(&self, username: &Username) -> StoreResult<Option<(User, String)>>;
    async fn update_profile(&self, user: UserId, change: ProfileChange) -> StoreResult<User>;
    /// People (not bots), ordered by id.
    async fn list_people(&self) -> StoreResult<Vec<User>>;
    /// Bots with their owners, ordered by id.
    async fn list_bots(&self) -> StoreResult<Vec<BotRecord>>;
    /// SHA-256 of the bot's current token secret, or `UserNotFound` if `bot` is not a bot.
    async fn bot_token_hash(&self, bot: UserId) -> StoreResult<Vec<u8>>;
    /// Replaces the bot's token secret hash; the old token stops working at once.
    async fn set_bot_token_hash(&self, bot: UserId, token_secret_hash: Vec<u8>) -> StoreResult<()>;

    // ---- sessions ----

    async fn create_session(&self, token_hash: Vec<u8>, user: UserId, now: i64, expires_at: i64) -> StoreResult<()>;
    /// The session's user and expiry if the session exists and `now < expires_at`.
    async fn session_user(&self, token_hash: &[u8], now: i64) -> StoreResult<Option<(User, i64)>>;
    async fn delete_session(&self, token_hash: &[u8]) -> StoreResult<()>;

    // ---- chats ----

    /// The private chat between `me` and `peer`, created on first use (both get `chat_updated`).
    async fn open_private_chat(&self, me: UserId, peer: UserId, now: i64) -> StoreResult<Written<Chat>>;
    /// A new group with `creator` as creator and `members` (unknown ids: `UserNotFound`).
    async fn create_group(
        &self,
        creator: UserId,
        title: GroupTitle,
        members: Vec<UserId>,
        now: i64,
    ) -> StoreResult<Written<Chat>>;
    async fn chat(&self, viewer: UserId, chat: ChatId) -> StoreResult<Chat>;
    /// The viewer's chats with last message and unread count, most recent activity first.
    async fn chats(&self, viewer: UserId) -> StoreResult<Vec<ChatSummary>>;
    async fn members(&self, viewer: UserId, chat: ChatId) -> StoreResult<Vec<Member>>;
    /// Applies `change`; returns the chat as the actor now sees it (after `Leave`, as it was).
    async fn change_group(
        &self,
        actor: UserId,
        chat: ChatId,
        change: GroupChange,
        now: i64,
    ) -> StoreResult<Written<Chat>>;

    // ---- messages ----

    /// Appends a message with the chat's next message id. `reply_to` must name a message of the chat.
    async fn append_message(
        &self,
        sender: UserId,
        chat: ChatId,
        message: NewMessage,
        now: i64,
    ) -> StoreResult<Written<Message>>;
    /// Only the author edits; unchanged content and keyboard is [`Denied::NotModified`].
    async fn edit_message(
        &self,
        editor: UserId,
        chat: ChatId,
        id: MessageId,
        edit: MessageEdit,
        now: i64,
    ) -> StoreResult<Written<Message>>;
    /// Deletes for everyone: the author, either side of a private chat, or a group admin. All or none.
    async fn delete_messages(&self, actor: UserId, chat: ChatId, ids: Vec<MessageId>) -> StoreResult<Written<()>>;
    /// A page of history, in ascending message id order whichever way it was paged.
    async fn history(&self, viewer: UserId, chat: ChatId, page: HistoryPage) -> StoreResult<Vec<Message>>;
    /// Marks messages up to `max_id` (capped at the last message) read; never moves backwards.
    async fn mark_read(&self, reader: UserId, chat: ChatId, max_id: MessageId) -> StoreResult<Written<Chat>>;

    // ---- updates ----

    /// Scans up to `limit` entries of the user's log after `cursor`, oldest first, and returns the
    /// events among them with the seq scanned up to (skipped entries count as scanned).
    async fn events_after(&self, user: UserId, cursor: u64, limit: u32) -> StoreResult<EventPage>;
    /// The user's newest cursor (0 before their first event).
    async fn current_cursor(&self, user: UserId) -> StoreResult<u64>;

    // ---- blocking, standing and pins ----

    /// `user` blocks (or unblocks) the other side of their private chat with `peer`: the peer's
    /// messages to them are refused with [`Denied::Blocked`]. A bot peer is told (`member_status`).
    async fn set_blocked(&self, user: UserId, peer: UserId, blocked: bool, now: i64) -> StoreResult<Written<()>>;
    /// Has `user` blocked `peer`?
    async fn is_blocked(&self, user: UserId, peer: UserId) -> StoreResult<bool>;
    /// `user`'s standing in a chat `viewer` is in, and until when a ban lasts (`None`: no end).
    async fn member_status(
        &self,
        viewer: UserId,
        chat: ChatId,
        user: UserId,
        now: i64,
    ) -> StoreResult<(MemberStatus, Option<i64>)>;
    /// Pins a message: in groups admins only. Posts (and returns) the service message saying so.
    async fn pin_message(&self, actor: UserId, chat: ChatId, id: MessageId, now: i64) -> StoreResult<Written<Message>>;
    /// Unpins one message, or (with `None`) the newest pin, or (with `all`) every pin.
    async fn unpin_messages(
        &self,
        actor: UserId,
        chat: ChatId,
        id: Option<MessageId>,
        all: bool,
    ) -> StoreResult<Written<()>>;
    /// The newest pinned message of the chat, if it still exists.
    async fn pinned_message(&self, viewer: UserId, chat: ChatId) -> StoreResult<Option<Message>>;

    // ---- polls and reactions ----

    /// A poll as `viewer` (who must be in its chat) sees it, with their own vote.
    async fn poll(&self, viewer: UserId, id: &str) -> StoreResult<Poll>;
    /// Votes in the poll of a message (an empty choice takes a vote back, except in quizzes).
    async fn vote(
        &self,
        user: UserId,
        chat: ChatId,
        message: MessageId,
        option_ids: Vec<u8>,
        now: i64,
    ) -> StoreResult<Written<Poll>>;
    /// Closes a poll; only who sent it may.
    async fn stop_poll(&self, actor: UserId, chat: ChatId, message: MessageId, now: i64) -> StoreResult<Written<Poll>>;
    /// Replaces `user`'s reactions on a message (checked by the caller; empty removes them).
    async fn set_reactions(
        &self,
        user: UserId,
        chat: ChatId,
        message: MessageId,
        emojis: Vec<String>,
        now: i64,
    ) -> StoreResult<Written<()>>;
    /// Reaction counts of these messages as `viewer` sees them; messages without any are absent.
    async fn reactions(
        &self,
        viewer: UserId,
        chat: ChatId,
        ids: Vec<MessageId>,
    ) -> StoreResult<std::collections::HashMap<MessageId, Vec<ReactionCount>>>;

    // ---- buttons ----

    /// `user` presses the callback button with `data` under a bot's message; the bot gets a
    /// `callback_query` entry. [`Denied::ButtonNotFound`] if the message has no such button.
    async fn press_button(
        &self,
        user: UserId,
        chat: ChatId,
        message: MessageId,
        data: String,
        now: i64,
    ) -> StoreResult<Written<CallbackQuery>>;
    /// The bot answers a query of its own, once, within [`plaza_core::bot::CALLBACK_ANSWER_WINDOW`];
    /// otherwise [`Denied::QueryNotFound`]. The presser gets a `callback_answer` entry.
    async fn answer_callback_query(
        &self,
        bot: UserId,
        id: i64,
        answer: CallbackAnswer,
        now: i64,
    ) -> StoreResult<Written<CallbackQuery>>;
    /// A query as its presser sees it; anyone else gets [`Denied::QueryNotFound`].
    async fn callback_query(&self, user: UserId, id: i64) -> StoreResult<CallbackQuery>;

    // ---- files ----

    /// Stores an upload described by `info` (whose `file_id` the caller chose). The bytes are kept
    /// once per content, keyed by their SHA-256.
    async fn put_file(
        &self,
        owner: UserId,
        info: FileInfo,
        sha256: Vec<u8>,
        bytes: Vec<u8>,
        now: i64,
    ) -> StoreResult<FileInfo>;
    async fn file(&self, file_id: &str) -> StoreResult<Option<FileInfo>>;
    async fn file_bytes(&self, file_id: &str) -> StoreResult<Option<Vec<u8>>>;

    // ---- bot settings ----

    /// Raises the bot's confirmed update offset to `offset`; never lowers it.
    async fn confirm_updates(&self, bot: UserId, offset: u64) -> StoreResult<()>;
    /// The offset confirmed so far (0 when none).
    async fn confirmed_offset(&self, bot: UserId) -> StoreResult<u64>;
    /// Registers or replaces a bot's mini app (by short name). A main app makes every other app
    /// of the bot not main, in the same transaction.
    async fn put_webapp(&self, app: WebApp) -> StoreResult<()>;
    /// A bot's mini apps, by short name.
    async fn webapps(&self, bot: UserId) -> StoreResult<Vec<WebApp>>;
    /// Remembers a launch, for answering it or receiving its data later.
    async fn put_launch(&self, launch: Launch) -> StoreResult<()>;
    async fn launch(&self, query_id: &str) -> StoreResult<Option<Launch>>;
    /// Marks a launch used (answered, or its data sent); false if it already was, or is unknown.
    async fn use_launch(&self, query_id: &str) -> StoreResult<bool>;
    /// Stores a new version of a registered app's bundle and makes it live, in one transaction;
    /// returns its number (one more than the newest so far). [`Denied::WebAppNotFound`] if the
    /// bot has no app by that name.
    async fn deploy_webapp(
        &self,
        bot: UserId,
        short_name: &ShortName,
        files: Vec<BundleFile>,
        digest: Vec<u8>,
        now: i64,
    ) -> StoreResult<u32>;
    /// The app's deployed versions, oldest first.
    async fn webapp_versions(&self, bot: UserId, short_name: &ShortName) -> StoreResult<Vec<AppVersion>>;
    /// Makes a deployed version live ([`Denied::AppVersionNotFound`] if there is none by that number).
    async fn set_live_version(&self, bot: UserId, short_name: &ShortName, version: u32) -> StoreResult<()>;
    /// A file of a deployed version.
    async fn webapp_file(
        &self,
        bot: UserId,
        short_name: &ShortName,
        version: u32,
        path: &str,
    ) -> StoreResult<Option<HostedFile>>;

    // ---- the Stars ledger (core::ledger) ----

    /// Makes the transfer: both entries and both balances in one transaction. The same key again
    /// returns the transfer first made with it (and changes nothing) if it is the same transfer,
    /// else [`Denied::TransferKeyReused`]. [`Denied::InsufficientFunds`] if the payer would go
    /// below zero (only the issuance account may).
    async fn transfer(&self, t: plaza_core::ledger::NewTransfer, now: i64)
    -> StoreResult<plaza_core::ledger::Transfer>;
    /// An account's balance (0 for one never used).
    async fn balance(&self, account: plaza_core::ledger::Account) -> StoreResult<i64>;
    /// An account's entries, newest first, before transfer `before` if given.
    async fn ledger_entries(
        &self,
        account: plaza_core::ledger::Account,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<plaza_core::ledger::Entry>>;
    /// An account's entries, oldest first, skipping the first `offset` (getStarTransactions).
    async fn ledger_entries_from(
        &self,
        account: plaza_core::ledger::Account,
        offset: u32,
        limit: u32,
    ) -> StoreResult<Vec<plaza_core::ledger::Entry>>;
    /// The ledger's invariants, computed from its tables.
    async fn ledger_check(&self) -> StoreResult<LedgerCheck>;

    // ---- payments ----

    /// Sends an invoice message (`message` carries its summary and Pay button) and records the
    /// invoice under `slug`, in one write.
    async fn send_invoice(
        &self,
        bot: UserId,
        chat: ChatId,
        slug: String,
        spec: InvoiceSpec,
        message: NewMessage,
        now: i64,
    ) -> StoreResult<Written<Message>>;
    /// Records an invoice link's invoice.
    async fn put_invoice(&self, bot: UserId, slug: String, spec: InvoiceSpec, now: i64) -> StoreResult<Invoice>;
    async fn invoice(&self, slug: &str) -> StoreResult<Option<Invoice>>;
    /// `user` gives a shipping address for a flexible invoice; the bot gets a `shipping_query`
    /// entry. Their private chat with the bot must exist.
    async fn start_shipping_query(
        &self,
        user: UserId,
        invoice: &str,
        address: ShippingAddress,
        now: i64,
    ) -> StoreResult<Written<ShippingQuery>>;
    /// The bot answers a shipping query of its own, once, within [`CHECKOUT_WINDOW`]; otherwise
    /// [`Denied::QueryNotFound`]. The person gets a `shipping_answered` entry.
    async fn answer_shipping_query(
        &self,
        bot: UserId,
        id: i64,
        answer: ShippingAnswer,
        now: i64,
    ) -> StoreResult<Written<ShippingQuery>>;
    async fn shipping_query(&self, id: i64) -> StoreResult<Option<ShippingQuery>>;
    /// Opens a checkout: the bot gets a `pre_checkout_query` entry. The same `(user, key)` again
    /// returns the same payment ([`Denied::PaymentKeyReused`] for another invoice); an open
    /// checkout of the same invoice by the same person is returned instead of a second one. Stars
    /// checkouts need the Stars at hand ([`Denied::InsufficientFunds`]); an invoice message is paid
    /// once per person ([`Denied::AlreadyPaid`]), a subscription bought once while it runs
    /// ([`Denied::AlreadySubscribed`]). Their private chat with the bot must exist.
    async fn start_payment(&self, p: NewPayment, now: i64) -> StoreResult<Written<Payment>>;
    /// The bot answers a pre-checkout query of its own while it is open and before its deadline
    /// ([`Denied::PaymentClosed`] otherwise). Refused: `declined`. Accepted, Stars: the Stars move
    /// to the bot and the `successful_payment` message is written in the same transaction (or the
    /// payment `failed` when the Stars are gone). Accepted, card: `approved`, for
    /// [`Store::finish_card_payment`]. The payer gets a `payment_updated` entry.
    async fn answer_pre_checkout(
        &self,
        bot: UserId,
        id: i64,
        accept: Result<(), String>,
        now: i64,
    ) -> StoreResult<Written<Payment>>;
    /// Ends an approved card payment: charged (with the provider's charge id; writes
    /// `successful_payment`) or failed (with the reason). Only from `approved`.
    async fn finish_card_payment(
        &self,
        id: i64,
        outcome: Result<String, String>,
        now: i64,
    ) -> StoreResult<Written<Payment>>;
    /// Cancels a checkout still waiting for the bot: its window passed, or the person closed the
    /// sheet. Nothing was charged. A payment already past that step is returned as it is.
    async fn cancel_payment(&self, id: i64, now: i64) -> StoreResult<Written<Payment>>;
    async fn payment(&self, id: i64) -> StoreResult<Option<Payment>>;
    /// A bot's payment by the charge id `successful_payment` gave it.
    async fn payment_by_charge(&self, bot: UserId, charge_id: &str) -> StoreResult<Option<Payment>>;
    /// Payments still waiting for the bot or for a card charge, oldest deadline first.
    async fn open_payments(&self, limit: u32) -> StoreResult<Vec<Payment>>;
    /// A person's payments, newest first.
    async fn user_payments(&self, user: UserId, limit: u32) -> StoreResult<Vec<Payment>>;
    /// A person's paid (or since refunded) payment of an invoice, the newest if several.
    async fn paid_payment(&self, user: UserId, invoice: &str) -> StoreResult<Option<Payment>>;
    /// The bot refunds a paid Stars payment in full: the Stars go back (the bot needs them:
    /// [`Denied::InsufficientFunds`]) and the person's `refunded_payment` message is written in
    /// one transaction. Refunding again is [`Denied::AlreadyRefunded`].
    async fn refund_payment(
        &self,
        bot: UserId,
        user: UserId,
        charge_id: &str,
        now: i64,
    ) -> StoreResult<Written<Payment>>;
    /// A person's subscriptions, soonest to expire first.
    async fn subscriptions(&self, user: UserId) -> StoreResult<Vec<Subscription>>;
    async fn subscription(&self, id: i64) -> StoreResult<Option<Subscription>>;
    /// Turns renewal off or on again, for the person (`by_bot` false) or the bot.
    async fn set_subscription_canceled(&self, id: i64, by_bot: bool, canceled: bool) -> StoreResult<Subscription>;
    /// Subscriptions due for renewal at `now` (expired, not lapsed), at most `limit`.
    async fn due_subscriptions(&self, now: i64, limit: u32) -> StoreResult<Vec<Subscription>>;
    /// Renews a due subscription: charges the period and writes a recurring `successful_payment`
    /// in one transaction; with too few Stars, or cancelled, it lapses instead (`None`). A
    /// subscription not due any more (renewed already) is left alone (`None`).
    async fn renew_subscription(&self, id: i64, now: i64) -> StoreResult<Written<Option<Payment>>>;

    async fn put_prepared_message(&self, m: PreparedMessage) -> StoreResult<()>;
    async fn prepared_message(&self, id: &str) -> StoreResult<Option<PreparedMessage>>;

    // ---- mini apps' CloudStorage (per user and bot) ----

    /// Sets `key`; [`Denied::StorageFull`] if it is new and the user already has
    /// [`MAX_CLOUD_KEYS`] keys for the bot. Key and value are checked by the caller.
    async fn cloud_set(&self, bot: UserId, user: UserId, key: String, value: String) -> StoreResult<()>;
    /// The values of those of `keys` that are set.
    async fn cloud_get(&self, bot: UserId, user: UserId, keys: Vec<String>) -> StoreResult<Vec<(String, String)>>;
    async fn cloud_delete(&self, bot: UserId, user: UserId, keys: Vec<String>) -> StoreResult<()>;
    /// Every key, sorted.
    async fn cloud_keys(&self, bot: UserId, user: UserId) -> StoreResult<Vec<String>>;

    /// The instance-wide setting `key`: `init` is stored if there is none yet (atomically, so nodes
    /// starting together agree), and the stored value is returned.
    async fn instance_setting_or_init(&self, key: &str, init: String) -> StoreResult<String>;
    /// A bot setting stored as text under `key` (see [`codec`] for keys and encodings).
    /// A backend primitive: use the typed methods below.
    async fn setting(&self, bot: UserId, key: &str) -> StoreResult<Option<String>>;
    /// Stores or (with `None`) removes a setting. A backend primitive: use the typed methods.
    async fn put_setting(&self, bot: UserId, key: &str, value: Option<String>) -> StoreResult<()>;

    async fn bot_state(&self, bot: UserId) -> StoreResult<BotState> {
        Ok(BotState {
            offset: self.confirmed_offset(bot).await?,
            allowed_updates: codec::decode_allowed(self.setting(bot, codec::ALLOWED_UPDATES).await?.as_deref())?,
            webhook: codec::decode_webhook(self.setting(bot, codec::WEBHOOK).await?.as_deref())?,
        })
    }

    async fn set_allowed_updates(&self, bot: UserId, allowed: &AllowedUpdates) -> StoreResult<()> {
        self.put_setting(bot, codec::ALLOWED_UPDATES, codec::encode_allowed(allowed)).await
    }

    /// Sets or removes the webhook; with `drop_pending`, every update logged so far is confirmed.
    async fn set_webhook(&self, bot: UserId, webhook: Option<&Webhook>, drop_pending: bool) -> StoreResult<()> {
        if drop_pending {
            let cursor = self.current_cursor(bot).await?;
            self.confirm_updates(bot, cursor + 1).await?;
        }
        self.put_setting(bot, codec::WEBHOOK, webhook.map(codec::encode_webhook)).await
    }

    /// An empty list deletes the scope's list.
    async fn set_commands(
        &self,
        bot: UserId,
        scope: CommandScope,
        language: &SettingLanguage,
        commands: &[BotCommand],
    ) -> StoreResult<()> {
        let value = (!commands.is_empty()).then(|| codec::encode_commands(commands));
        self.put_setting(bot, &codec::commands_key(scope, language), value).await
    }

    /// The list set for exactly this scope and language, if any.
    async fn commands(
        &self,
        bot: UserId,
        scope: CommandScope,
        language: &SettingLanguage,
    ) -> StoreResult<Option<Vec<BotCommand>>> {
        self.setting(bot, &codec::commands_key(scope, language))
            .await?
            .as_deref()
            .map(codec::decode_commands)
            .transpose()
    }

    /// The menu button for one user's private chat, or (`None`) the bot's default.
    async fn set_menu_button(&self, bot: UserId, chat: Option<UserId>, button: &MenuButton) -> StoreResult<()> {
        let value = (*button != MenuButton::Default).then(|| codec::encode_menu_button(button));
        self.put_setting(bot, &codec::menu_button_key(chat), value).await
    }

    async fn menu_button(&self, bot: UserId, chat: Option<UserId>) -> StoreResult<Option<MenuButton>> {
        self.setting(bot, &codec::menu_button_key(chat)).await?.as_deref().map(codec::decode_menu_button).transpose()
    }

    async fn set_bot_text(
        &self,
        bot: UserId,
        text: BotText,
        language: &SettingLanguage,
        value: Option<String>,
    ) -> StoreResult<()> {
        self.put_setting(bot, &codec::text_key(text, language), value).await
    }

    async fn bot_text(&self, bot: UserId, text: BotText, language: &SettingLanguage) -> StoreResult<Option<String>> {
        self.setting(bot, &codec::text_key(text, language)).await
    }
}

/// Most events `events_after` returns in one call.
pub const MAX_EVENTS_PAGE: u32 = 1000;

/// Reads a file row's columns (kind, size, mime, name, width, height) into its description.
#[allow(clippy::too_many_arguments)]
pub(crate) fn file_info(
    file_id: String,
    unique_id: String,
    kind: &str,
    size: i64,
    mime_type: Option<String>,
    file_name: Option<String>,
    width: Option<i64>,
    height: Option<i64>,
) -> StoreResult<FileInfo> {
    Ok(FileInfo {
        file_id,
        unique_id,
        kind: plaza_core::file::FileKind::parse(kind).map_err(StoreError::backend)?,
        size: size.max(0) as u64,
        mime_type,
        file_name,
        width: width.map(|w| w.clamp(0, i64::from(u32::MAX)) as u32),
        height: height.map(|h| h.clamp(0, i64::from(u32::MAX)) as u32),
    })
}

/// Reads a mini app row's columns into the app.
/// A stored account name.
pub(crate) fn stored_account(s: &str) -> StoreResult<plaza_core::ledger::Account> {
    plaza_core::ledger::Account::parse(s).map_err(|e| StoreError::Backend(format!("stored ledger account: {e}")))
}

/// A `ledger_transfers` row's columns.
/// A transfer from its row and the balances its two entries recorded.
#[allow(clippy::too_many_arguments)]
pub(crate) fn transfer_row(
    id: i64,
    key: String,
    from: &str,
    to: &str,
    amount: i64,
    memo: String,
    at: i64,
    (from_balance, to_balance): (i64, i64),
) -> StoreResult<plaza_core::ledger::Transfer> {
    Ok(plaza_core::ledger::Transfer {
        id,
        key,
        from: stored_account(from)?,
        to: stored_account(to)?,
        amount,
        memo,
        at,
        from_balance,
        to_balance,
    })
}

/// A `ledger_entries` row joined with its transfer, as `account` sees it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn entry_row(
    account: plaza_core::ledger::Account,
    transfer: i64,
    delta: i64,
    balance: i64,
    from: &str,
    to: &str,
    memo: String,
    at: i64,
) -> StoreResult<plaza_core::ledger::Entry> {
    let (from, to) = (stored_account(from)?, stored_account(to)?);
    let counterparty = if from == account { to } else { from };
    Ok(plaza_core::ledger::Entry { transfer, account, delta, balance, counterparty, memo, at })
}

/// A `webapps` row's columns (an empty url: hosted by Plaza only).
pub(crate) fn webapp_row(
    bot: UserId,
    short: String,
    title: String,
    description: String,
    url: String,
    main: bool,
    live_version: Option<i64>,
) -> StoreResult<WebApp> {
    let corrupt = |e: plaza_core::Invalid| StoreError::Backend(format!("stored mini app: {e}"));
    Ok(WebApp {
        bot,
        short_name: ShortName::parse(&short).map_err(corrupt)?,
        title,
        description,
        url: if url.is_empty() { None } else { Some(AppUrl::parse(&url).map_err(corrupt)?) },
        live_version: live_version.map(|v| v as u32),
        main,
    })
}

/// Reads a launch row's columns into the launch.
pub(crate) fn launch_row(
    query_id: String,
    bot: i64,
    user: i64,
    chat: Option<i64>,
    source: &str,
    button_text: Option<String>,
    created_at: i64,
) -> StoreResult<Launch> {
    let source = LaunchSource::parse(source).map_err(|e| StoreError::Backend(format!("stored launch: {e}")))?;
    Ok(Launch {
        query_id,
        bot: UserId(bot),
        user: UserId(user),
        chat: chat.map(ChatId),
        source,
        button_text,
        created_at,
    })
}

/// Rules shared by both backends, so the two cannot drift apart.
pub mod rules {
    use super::*;

    /// May `actor` (with `actor_role`) remove `target` (with `target_role`) from a group?
    pub fn may_remove(actor: UserId, actor_role: Role, target: UserId, target_role: Role) -> Result<(), Denied> {
        if target_role == Role::Creator {
            return Err(Denied::CreatorIsFixed);
        }
        if actor == target {
            return Ok(());
        }
        match (actor_role, target_role) {
            (Role::Creator, _) => Ok(()),
            (Role::Admin, Role::Member) => Ok(()),
            _ => Err(Denied::NotAdmin),
        }
    }

    /// May `actor` delete a message sent by `author`?
    pub fn may_delete(actor: UserId, author: UserId, is_group: bool, actor_role: Role) -> Result<(), Denied> {
        if !is_group || actor == author || actor_role.can_manage() { Ok(()) } else { Err(Denied::CannotDelete) }
    }

    /// May `actor` pin or unpin in this chat? Anyone in a private chat, admins in a group.
    pub fn may_pin(is_group: bool, actor_role: Role) -> Result<(), Denied> {
        if !is_group || actor_role.can_manage() { Ok(()) } else { Err(Denied::NotAdmin) }
    }

    /// Counts reactions from each user's list, most popular first (ties by first use), marking
    /// the viewer's own.
    pub fn count_reactions(rows: &[(UserId, Vec<String>)], viewer: UserId) -> Vec<ReactionCount> {
        let mut out: Vec<ReactionCount> = Vec::new();
        for (user, emojis) in rows {
            for e in emojis {
                match out.iter_mut().find(|r| &r.emoji == e) {
                    Some(r) => {
                        r.count += 1;
                        r.chosen |= *user == viewer;
                    }
                    None => out.push(ReactionCount { emoji: e.clone(), count: 1, chosen: *user == viewer }),
                }
            }
        }
        out.sort_by_key(|r| std::cmp::Reverse(r.count));
        out
    }

    /// Counts votes per option from each voter's choice.
    pub fn count_votes(options: usize, votes: &[Vec<u8>]) -> (Vec<u32>, u32) {
        let mut counts = vec![0u32; options];
        for v in votes {
            for &o in v {
                if let Some(c) = counts.get_mut(o as usize) {
                    *c += 1;
                }
            }
        }
        (counts, votes.iter().filter(|v| !v.is_empty()).count() as u32)
    }

    /// Is a ban lasting until `until` still in force at `now`?
    pub fn ban_in_force(until: Option<i64>, now: i64) -> bool {
        until.is_none_or(|u| u > now)
    }

    /// Removing oneself is leaving, with leaving's rules (a creator hands the group over).
    pub fn normalize(actor: UserId, change: GroupChange) -> GroupChange {
        match change {
            GroupChange::RemoveMember(target) if target == actor => GroupChange::Leave,
            other => other,
        }
    }

    /// The message after `edit`, or [`Denied::NotModified`] when nothing would change. Only a
    /// new text marks the message edited; a new keyboard alone does not, as on Telegram.
    pub fn edited(old: &Message, edit: MessageEdit, now: i64) -> Result<Message, Denied> {
        if old.service.is_some() {
            // A service message reports an action; it has no text of its own to change.
            return Err(Denied::NotAuthor);
        }
        let mut m = old.clone();
        let mut text_changed = false;
        if let Some(t) = edit.text {
            text_changed = t.text != old.text || t.entities != old.entities;
            m.text = t.text;
            m.entities = t.entities;
        }
        m.reply_markup = edited_markup(old.reply_markup.clone(), edit.reply_markup);
        if !text_changed && m.reply_markup == old.reply_markup {
            return Err(Denied::NotModified);
        }
        if text_changed {
            m.edit_date = Some(now);
        }
        Ok(m)
    }

    /// The keyboard a message has after an edit: the edit's inline keyboard, or the reply keyboard
    /// it was sent with (which edits cannot change).
    pub fn edited_markup(old: Option<ReplyMarkup>, new: Option<ReplyMarkup>) -> Option<ReplyMarkup> {
        match (old, new) {
            (_, Some(new)) if new.inline().is_some_and(|rows| rows.is_empty()) => None,
            (_, Some(new)) => Some(new),
            (Some(old), None) if old.inline().is_none() => Some(old),
            _ => None,
        }
    }

    /// Orders a private chat's two users the way both backends key them.
    pub fn private_pair(a: UserId, b: UserId) -> (UserId, UserId) {
        if a <= b { (a, b) } else { (b, a) }
    }
}
