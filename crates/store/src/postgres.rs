//! The PostgreSQL backend: a pooled client where every write is one READ COMMITTED transaction.
//!
//! The SQLite backend gets its ordering for free from a single writer thread. Here many writes run at
//! once, so each write takes row locks in one fixed order: first the chat row it changes (`FOR NO KEY
//! UPDATE`, which every writer of that chat takes), then the `user_seqs` rows of the users it
//! notifies, in ascending user id order. A write therefore sees its chat exactly as the previous
//! writer of that chat left it, each user's update log grows without gaps (a seq only becomes
//! visible after every smaller one has committed), and no two writes can wait on each other in a
//! cycle. Reads that take more than one statement run in a read-only REPEATABLE READ transaction
//! so they see a single snapshot.
//!
//! Durability is PostgreSQL's: with the default `synchronous_commit = on`, `COMMIT` returns only
//! after the WAL is flushed, which is what the `Store` contract promises.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Transaction};
use plaza_core::ids::ChatRef;
use plaza_core::{
    Chat, ChatId, ChatKey, ChatKind, ChatSummary, Denied, DisplayName, GroupTitle, HistoryPage, LanguageCode,
    MAX_GROUP_MEMBERS, Member, MemberChange, MemberStatus, Message, MessageId, MessageText, NewMessage, PhoneNumber,
    Role, ServiceAction, User, UserId, Username,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::{IsolationLevel, NoTls, Row};

use crate::chat_row::ChatRow;
use crate::rules::{ban_in_force, count_reactions, count_votes, edited, may_delete, may_pin, may_remove, private_pair};
use crate::{
    AppVersion, BotRecord, BundleFile, Event, EventBody, EventPage, GroupChange, HostedFile, Launch, LedgerCheck,
    MAX_CLOUD_KEYS, MessageEdit, NewAccount, PreparedMessage, ProfileChange, Store, StoreError, StoreResult,
    StoreStats, Written, codec, entities, entry_row, launch_row, stored_account, transfer_row, webapp_row,
};
use plaza_core::bot::{CALLBACK_ANSWER_WINDOW, CallbackAnswer, CallbackQuery};
use plaza_core::file::FileInfo;
use plaza_core::ledger::{Account, Entry, NewTransfer, Transfer};
use plaza_core::payment::{
    Invoice, InvoiceSpec, NewPayment, Payment, ShippingAddress, ShippingAnswer, ShippingQuery, Subscription,
};
use plaza_core::poll::{NewPoll, Poll, PollAnswer, PollKind, ReactionChange, ReactionCount};
use plaza_core::webapp::{ShortName, WebApp};

mod append;
mod payments;

use append::{Append, Appender};

/// Connections per node. Each write holds one for a few round trips and its commit's WAL flush, so
/// throughput grows with it; 40 leaves room in PostgreSQL's default `max_connections` (100) for a
/// second node and for tools.
const POOL_SIZE: usize = 40;

/// Migrations in order; the version of `MIGRATIONS[i]` is `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_init.sql"),
    include_str!("../migrations/postgres/0002_append_message.sql"),
    include_str!("../migrations/postgres/0003_bots.sql"),
    include_str!("../migrations/postgres/0004_files.sql"),
    include_str!("../migrations/postgres/0005_moderation.sql"),
    include_str!("../migrations/postgres/0006_polls_reactions.sql"),
    include_str!("../migrations/postgres/0007_instance.sql"),
    include_str!("../migrations/postgres/0008_webapps.sql"),
    include_str!("../migrations/postgres/0009_app_hosting.sql"),
    include_str!("../migrations/postgres/0010_ledger.sql"),
    include_str!("../migrations/postgres/0011_payments.sql"),
    include_str!("../migrations/postgres/0012_user_seqs.sql"),
    include_str!("../migrations/postgres/0013_append_messages.sql"),
];

/// Advisory lock key that serialises migrations between nodes starting at the same time ("plazamig").
const MIGRATION_LOCK: i64 = 0x706c_617a_616d_6967;

pub struct PgStore {
    pool: Pool,
    /// Batches messages into `plaza_append_messages` calls (see the `append` module).
    appender: Appender,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host/db`) and applies pending migrations.
    pub async fn connect(url: &str) -> StoreResult<PgStore> {
        let pool = build_pool(url)?;
        let mut client = pool.get().await.map_err(StoreError::backend)?;
        migrate(&mut client).await?;
        let appender = Appender::start(pool.clone());
        Ok(PgStore { pool, appender })
    }

    /// Applies migrations and returns; used by `plaza migrate`.
    pub async fn migrate_only(url: &str) -> StoreResult<()> {
        let pool = build_pool(url)?;
        let mut client = pool.get().await.map_err(StoreError::backend)?;
        migrate(&mut client).await
    }

    async fn client(&self) -> StoreResult<Object> {
        self.pool.get().await.map_err(StoreError::backend)
    }
}

fn build_pool(url: &str) -> StoreResult<Pool> {
    let mut config: tokio_postgres::Config = url.parse().map_err(StoreError::backend)?;
    if config.get_application_name().is_none() {
        // Lets operators tell Plaza's connections apart in pg_stat_activity.
        config.application_name("plaza");
    }
    let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    // Creating a connection is bounded so a dead server fails calls instead of hanging them; waiting
    // for a free connection is not, as callers of the SQLite backend wait for its queue.
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(Duration::from_secs(10)))
        .recycle_timeout(Some(Duration::from_secs(10)))
        .build()
        .map_err(StoreError::backend)
}

/// Applies the migrations this binary knows that the database has not seen, each in a transaction.
async fn migrate(client: &mut Object) -> StoreResult<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = (i + 1) as i32;
        let tx = client.transaction().await.map_err(db)?;
        // Held until this transaction ends, so a second node starting now waits and then finds the
        // migration recorded instead of applying it twice.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(db)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)",
        )
        .await
        .map_err(db)?;
        let applied = tx
            .query_opt("SELECT 1 FROM schema_migrations WHERE version = $1", &[&version])
            .await
            .map_err(db)?
            .is_some();
        if !applied {
            tx.batch_execute(sql).await.map_err(db)?;
            tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())", &[&version])
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        if !applied {
            tracing::info!(version, "applied postgres migration");
        }
    }
    Ok(())
}

/// Starts a write. READ COMMITTED is set explicitly because the locking scheme relies on each
/// statement seeing what was committed before the lock it waited for was released; a server whose
/// default is stricter would instead fail those writes with serialization errors.
async fn write_tx(client: &mut Object) -> StoreResult<Transaction<'_>> {
    client.build_transaction().isolation_level(IsolationLevel::ReadCommitted).start().await.map_err(db)
}

/// Starts a read that spans several statements and must see one snapshot.
async fn read_tx(client: &mut Object) -> StoreResult<Transaction<'_>> {
    client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await.map_err(db)
}

// ---------------------------------------------------------------------------------------------
// Statement and row helpers. They take any client or transaction; all statements are prepared
// once per connection and cached.

fn db(e: tokio_postgres::Error) -> StoreError {
    // `text` can't hold a NUL, nor `jsonb` a `\u0000`: input the request edges should have
    // refused, so the caller's fault, not the database's.
    if matches!(e.code(), Some(c) if *c == SqlState::CHARACTER_NOT_IN_REPERTOIRE || *c == SqlState::UNTRANSLATABLE_CHARACTER)
    {
        return StoreError::Denied(Denied::NulCharacter);
    }
    StoreError::Backend(describe(&e))
}

/// The error with its causes: a database error's own display is only "db error", and its
/// message, the one an operator needs, is its source.
fn describe(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

async fn query<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> StoreResult<Vec<Row>> {
    let stmt = c.prepare_cached(sql).await.map_err(db)?;
    c.query(&stmt, params).await.map_err(db)
}

async fn query_opt<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> StoreResult<Option<Row>> {
    let stmt = c.prepare_cached(sql).await.map_err(db)?;
    c.query_opt(&stmt, params).await.map_err(db)
}

async fn query_one<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> StoreResult<Row> {
    let stmt = c.prepare_cached(sql).await.map_err(db)?;
    c.query_one(&stmt, params).await.map_err(db)
}

async fn execute<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> StoreResult<u64> {
    let stmt = c.prepare_cached(sql).await.map_err(db)?;
    c.execute(&stmt, params).await.map_err(db)
}

/// Reads a column without the panic `Row::get` has on a type mismatch.
fn get<'a, T: FromSql<'a>>(r: &'a Row, i: usize) -> StoreResult<T> {
    r.try_get(i).map_err(db)
}

/// The user columns, each prefixed with `$p` (a table alias and a dot, or nothing). The column
/// macros skip rustfmt, which would otherwise give every piece a line of its own.
#[rustfmt::skip]
macro_rules! user_cols {
    ($p:literal) => {
        concat!(
            $p, "id, ", $p, "username, ", $p, "display_name, ", $p, "is_bot, ", $p, "language_code, ",
            $p, "phone_number, ", $p, "created_at"
        )
    };
}
const USER_WIDTH: usize = 7;

/// A user from the [`user_cols!`] columns starting at `at`.
fn user_at(r: &Row, at: usize) -> StoreResult<User> {
    Ok(User {
        id: UserId(get(r, at)?),
        username: Username::parse(get(r, at + 1)?).map_err(StoreError::backend)?,
        display_name: DisplayName::parse(get(r, at + 2)?).map_err(StoreError::backend)?,
        is_bot: get(r, at + 3)?,
        language_code: get::<Option<&str>>(r, at + 4)?
            .map(LanguageCode::parse)
            .transpose()
            .map_err(StoreError::backend)?,
        phone_number: get::<Option<&str>>(r, at + 5)?
            .map(PhoneNumber::parse)
            .transpose()
            .map_err(StoreError::backend)?,
        created_at: get(r, at + 6)?,
    })
}

async fn load_user<C: GenericClient>(c: &C, id: UserId) -> StoreResult<User> {
    let row = query_opt(c, concat!("SELECT ", user_cols!(""), " FROM users WHERE id = $1"), &[&id.0]).await?;
    user_at(&row.ok_or(Denied::UserNotFound)?, 0)
}

/// The message columns, prefixed like [`user_cols!`].
#[rustfmt::skip]
macro_rules! message_cols {
    ($p:literal) => {
        concat!(
            $p, "chat_id, ", $p, "id, ", $p, "sender_id, ", $p, "date, ", $p, "text, ", $p, "entities, ",
            $p, "reply_to, ", $p, "edit_date, ", $p, "extra"
        )
    };
}

/// A message from the [`message_cols!`] columns starting at `at`.
fn message_at(r: &Row, at: usize) -> StoreResult<Message> {
    let extras = codec::decode_extra(get(r, at + 8)?)?;
    Ok(Message {
        chat: ChatKey(get(r, at)?),
        id: MessageId(get(r, at + 1)?),
        sender: UserId(get(r, at + 2)?),
        date: get(r, at + 3)?,
        text: MessageText::from_stored(get(r, at + 4)?),
        entities: entities::decode(get(r, at + 5)?)?,
        reply_to: get::<Option<i64>>(r, at + 6)?.map(MessageId),
        edit_date: get(r, at + 7)?,
        reply_markup: extras.reply_markup,
        media: extras.media,
        forward_origin: extras.forward_origin,
        protected: extras.protected,
        service: extras.service,
        poll: extras.poll,
        via_bot: extras.via_bot,
        invoice: extras.invoice,
    })
}

/// A live (not deleted) message of the chat.
async fn load_message<C: GenericClient>(c: &C, chat: ChatKey, id: MessageId) -> StoreResult<Option<Message>> {
    let sql = concat!("SELECT ", message_cols!(""), " FROM messages WHERE chat_id = $1 AND id = $2 AND NOT deleted");
    query_opt(c, sql, &[&chat.0, &id.0]).await?.map(|r| message_at(&r, 0)).transpose()
}

/// The chat columns, prefixed like [`user_cols!`].
#[rustfmt::skip]
macro_rules! chat_cols {
    ($p:literal) => {
        concat!(
            $p, "id, ", $p, "kind, ", $p, "title, ", $p, "user_lo, ", $p, "user_hi, ", $p, "last_message_id, ",
            $p, "created_at"
        )
    };
}

/// A chat row from the [`chat_cols!`] columns starting at `at`.
fn chat_at(r: &Row, at: usize) -> StoreResult<ChatRow> {
    Ok(ChatRow {
        key: ChatKey(get(r, at)?),
        is_group: get::<&str>(r, at + 1)? == "group",
        title: get(r, at + 2)?,
        user_lo: get(r, at + 3)?,
        user_hi: get(r, at + 4)?,
        last_message_id: get(r, at + 5)?,
        created_at: get(r, at + 6)?,
    })
}

async fn load_chat_row<C: GenericClient>(c: &C, key: ChatKey) -> StoreResult<Option<ChatRow>> {
    let row = query_opt(c, concat!("SELECT ", chat_cols!(""), " FROM chats WHERE id = $1"), &[&key.0]).await?;
    row.map(|r| chat_at(&r, 0)).transpose()
}

fn parse_role(s: &str) -> StoreResult<Role> {
    Role::parse(s).map_err(StoreError::backend)
}

async fn member_row<C: GenericClient>(c: &C, key: ChatKey, user: UserId) -> StoreResult<Option<(Role, i64)>> {
    let sql = "SELECT role, read_inbox_max_id FROM members WHERE chat_id = $1 AND user_id = $2";
    match query_opt(c, sql, &[&key.0, &user.0]).await? {
        Some(r) => Ok(Some((parse_role(get(&r, 0)?)?, get(&r, 1)?))),
        None => Ok(None),
    }
}

/// Whether [`resolve`] locks the chat row: writes do, reads never block anyone.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lock {
    None,
    Chat,
}

/// The chat `viewer` calls `chat`, if the viewer is a member of it; otherwise `ChatNotFound`.
///
/// With [`Lock::Chat`] the chat row is locked first and membership is read by a later statement,
/// so under READ COMMITTED it reflects every write to the chat committed before the lock was won.
async fn resolve<C: GenericClient>(
    c: &C,
    viewer: UserId,
    chat: ChatId,
    lock: Lock,
) -> StoreResult<(ChatRow, Role, i64)> {
    let row = match chat.resolve() {
        None => None,
        Some(ChatRef::Private { peer }) => {
            let (lo, hi) = private_pair(viewer, peer);
            let sql = match lock {
                Lock::None => concat!(
                    "SELECT ",
                    chat_cols!(""),
                    " FROM chats WHERE kind = 'private' AND user_lo = $1 AND user_hi = $2"
                ),
                Lock::Chat => concat!(
                    "SELECT ",
                    chat_cols!(""),
                    " FROM chats WHERE kind = 'private' AND user_lo = $1 AND user_hi = $2 FOR NO KEY UPDATE"
                ),
            };
            query_opt(c, sql, &[&lo.0, &hi.0]).await?
        }
        Some(ChatRef::Group { key }) => {
            let sql = match lock {
                Lock::None => concat!("SELECT ", chat_cols!(""), " FROM chats WHERE id = $1 AND kind = 'group'"),
                Lock::Chat => {
                    concat!("SELECT ", chat_cols!(""), " FROM chats WHERE id = $1 AND kind = 'group' FOR NO KEY UPDATE")
                }
            };
            query_opt(c, sql, &[&key.0]).await?
        }
    };
    let row = chat_at(&row.ok_or(Denied::ChatNotFound)?, 0)?;
    let (role, read) = member_row(c, row.key, viewer).await?.ok_or(Denied::ChatNotFound)?;
    Ok((row, role, read))
}

async fn member_ids<C: GenericClient>(c: &C, key: ChatKey) -> StoreResult<Vec<UserId>> {
    let rows = query(c, "SELECT user_id FROM members WHERE chat_id = $1 ORDER BY user_id", &[&key.0]).await?;
    rows.iter().map(|r| get(r, 0).map(UserId)).collect()
}

/// Members of the chat who are people, not bots: bots are not told of deletions and read marks.
async fn people_ids<C: GenericClient>(c: &C, key: ChatKey) -> StoreResult<Vec<UserId>> {
    let sql = "SELECT m.user_id FROM members m JOIN users u ON u.id = m.user_id \
               WHERE m.chat_id = $1 AND NOT u.is_bot ORDER BY m.user_id";
    let rows = query(c, sql, &[&key.0]).await?;
    rows.iter().map(|r| get(r, 0).map(UserId)).collect()
}

/// Whom a message's `message_edited` entry goes to: every member, except a bot sender (bots do
/// not receive their own messages). `plaza_append_messages` picks `message_new`'s the same way.
async fn message_recipients<C: GenericClient>(c: &C, key: ChatKey, sender: UserId) -> StoreResult<Vec<UserId>> {
    let sql = "SELECT m.user_id FROM members m JOIN users u ON u.id = m.user_id \
               WHERE m.chat_id = $1 AND (m.user_id <> $2 OR NOT u.is_bot) ORDER BY m.user_id";
    let rows = query(c, sql, &[&key.0, &sender.0]).await?;
    rows.iter().map(|r| get(r, 0).map(UserId)).collect()
}

/// Whether the user is a bot; `false` for an unknown user, as on SQLite.
async fn is_bot<C: GenericClient>(c: &C, user: UserId) -> StoreResult<bool> {
    let row = query_opt(c, "SELECT is_bot FROM users WHERE id = $1", &[&user.0]).await?;
    row.map_or(Ok(false), |r| get(&r, 0))
}

/// The callback query columns.
const CALLBACK_COLS: &str = "id, bot_id, user_id, chat_id, message_id, data, created_at, answer";

/// A callback query from the [`CALLBACK_COLS`] columns.
fn callback_at(r: &Row) -> StoreResult<CallbackQuery> {
    Ok(CallbackQuery {
        id: get(r, 0)?,
        bot: UserId(get(r, 1)?),
        from: UserId(get(r, 2)?),
        chat: ChatKey(get(r, 3)?),
        message_id: MessageId(get(r, 4)?),
        data: get(r, 5)?,
        created_at: get(r, 6)?,
        answer: codec::decode_answer(get(r, 7)?)?,
    })
}

/// What a viewer's chat view needs beyond the chat row.
struct ViewParts {
    role: Role,
    read_inbox: i64,
    member_count: i64,
    peer_read: i64,
}

fn build_chat(row: &ChatRow, viewer: UserId, parts: ViewParts, peer: Option<User>) -> StoreResult<Chat> {
    let (kind, read_outbox) = match (row.is_group, peer) {
        (true, _) => {
            let title = GroupTitle::parse(row.title.as_deref().unwrap_or("")).map_err(StoreError::backend)?;
            (ChatKind::Group { title, member_count: parts.member_count as u32, my_role: parts.role }, 0)
        }
        (false, Some(peer)) => (ChatKind::Private { peer }, parts.peer_read),
        (false, None) => return Err(Denied::UserNotFound.into()),
    };
    Ok(Chat {
        id: row.id_for(viewer),
        key: row.key,
        kind,
        last_message_id: MessageId(row.last_message_id),
        read_inbox_max_id: MessageId(parts.read_inbox),
        read_outbox_max_id: MessageId(read_outbox),
        created_at: row.created_at,
    })
}

/// The chat as `viewer` sees it; `ChatNotFound` if the viewer is not a member.
async fn chat_view<C: GenericClient>(c: &C, viewer: UserId, row: &ChatRow) -> StoreResult<Chat> {
    let peer = if row.is_group { None } else { Some(row.peer_of(viewer)) };
    let sql = "SELECT m.role, m.read_inbox_max_id, \
               (SELECT count(*) FROM members x WHERE x.chat_id = m.chat_id), \
               COALESCE((SELECT x.read_inbox_max_id FROM members x WHERE x.chat_id = m.chat_id AND x.user_id = $3), 0) \
               FROM members m WHERE m.chat_id = $1 AND m.user_id = $2";
    let r = query_opt(c, sql, &[&row.key.0, &viewer.0, &peer.map_or(0, |p| p.0)]).await?.ok_or(Denied::ChatNotFound)?;
    let parts = ViewParts {
        role: parse_role(get(&r, 0)?)?,
        read_inbox: get(&r, 1)?,
        member_count: get(&r, 2)?,
        peer_read: get(&r, 3)?,
    };
    let peer = match peer {
        Some(p) => Some(load_user(c, p).await?),
        None => None,
    };
    build_chat(row, viewer, parts, peer)
}

/// The update-log entries one write appends, all about one chat, in the order the SQLite backend
/// appends them (which fixes each entry's seq and the order of `Written::notify`).
struct UpdateLog {
    chat: ChatKey,
    entries: Vec<(UserId, &'static str, Option<i64>)>,
}

impl UpdateLog {
    fn new(chat: ChatKey) -> Self {
        UpdateLog { chat, entries: Vec::new() }
    }

    fn push(&mut self, user: UserId, kind: &'static str, message_id: Option<i64>) {
        self.entries.push((user, kind, message_id));
    }

    fn push_all(&mut self, users: &[UserId], kind: &'static str, message_id: Option<i64>) {
        for u in users {
            self.push(*u, kind, message_id);
        }
    }

    /// Appends the entries. The users' seq rows are locked in ascending id order before any seq is
    /// taken, so two writes notifying overlapping users queue up instead of deadlocking.
    async fn write(self, tx: &Transaction<'_>) -> StoreResult<Vec<(UserId, u64)>> {
        if self.entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut users: Vec<i64> = self.entries.iter().map(|(u, _, _)| u.0).collect();
        users.sort_unstable();
        users.dedup();
        let rows = query(
            tx,
            "SELECT user_id, seq FROM user_seqs WHERE user_id = ANY($1) ORDER BY user_id FOR NO KEY UPDATE",
            &[&users],
        )
        .await?;
        let mut seqs: HashMap<i64, i64> = HashMap::with_capacity(rows.len());
        for r in &rows {
            seqs.insert(get(r, 0)?, get(r, 1)?);
        }
        let n = self.entries.len();
        let (mut user_col, mut seq_col, mut kind_col, mut message_col) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let mut notify = Vec::with_capacity(n);
        for (user, kind, message_id) in self.entries {
            let seq = seqs
                .get_mut(&user.0)
                .ok_or_else(|| StoreError::Backend(format!("update log for unknown user {}", user.0)))?;
            *seq += 1;
            user_col.push(user.0);
            seq_col.push(*seq);
            kind_col.push(kind);
            message_col.push(message_id);
            notify.push((user, *seq as u64));
        }
        let (last_users, last_seqs): (Vec<i64>, Vec<i64>) = seqs.into_iter().unzip();
        let bump_params: [&(dyn ToSql + Sync); 2] = [&last_users, &last_seqs];
        let append_params: [&(dyn ToSql + Sync); 5] = [&user_col, &seq_col, &kind_col, &self.chat.0, &message_col];
        // Both statements are independent, so they are pipelined on the connection.
        tokio::try_join!(
            execute(
                tx,
                "UPDATE user_seqs SET seq = d.seq FROM unnest($1::bigint[], $2::bigint[]) AS d(id, seq) \
                 WHERE user_seqs.user_id = d.id",
                &bump_params,
            ),
            execute(
                tx,
                "INSERT INTO updates (user_id, seq, kind, chat_id, message_id) \
                 SELECT u, s, k, $4, m \
                 FROM unnest($1::bigint[], $2::bigint[], $3::text[], $5::bigint[]) AS t(u, s, k, m)",
                &append_params,
            ),
        )?;
        Ok(notify)
    }
}

/// Tells a bot its standing in a chat changed (`my_chat_member`); people are told through
/// `chat_updated`/`chat_removed` entries instead. The event row is written now, its update-log
/// entry with the rest of `log`, in the order SQLite appends it.
async fn note_member_change(tx: &Transaction<'_>, log: &mut UpdateLog, change: MemberChange) -> StoreResult<()> {
    if change.old == change.new || !is_bot(tx, change.user).await? {
        return Ok(());
    }
    let row = query_one(
        tx,
        "INSERT INTO member_events (chat_id, user_id, actor_id, old_status, new_status, date) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        &[&change.chat.0, &change.user.0, &change.actor.0, &change.old.as_str(), &change.new.as_str(), &change.date],
    )
    .await?;
    log.push(change.user, "member_status", Some(get(&row, 0)?));
    Ok(())
}

/// The member event columns.
const MEMBER_EVENT_COLS: &str = "id, chat_id, user_id, actor_id, old_status, new_status, date";

/// A member event (its id and the change) from the [`MEMBER_EVENT_COLS`] columns.
fn member_event_at(r: &Row) -> StoreResult<(i64, MemberChange)> {
    let change = MemberChange {
        chat: ChatKey(get(r, 1)?),
        user: UserId(get(r, 2)?),
        actor: UserId(get(r, 3)?),
        old: MemberStatus::parse(get(r, 4)?).map_err(StoreError::backend)?,
        new: MemberStatus::parse(get(r, 5)?).map_err(StoreError::backend)?,
        date: get(r, 6)?,
    };
    Ok((get(r, 0)?, change))
}

/// The end of `user`'s ban from the group if one is recorded (`Some(None)`: no end).
async fn ban_of<C: GenericClient>(c: &C, key: ChatKey, user: UserId) -> StoreResult<Option<Option<i64>>> {
    let row = query_opt(c, "SELECT until FROM bans WHERE chat_id = $1 AND user_id = $2", &[&key.0, &user.0]).await?;
    row.map(|r| get(&r, 0)).transpose()
}

/// Whether `user` (a member of the private chat) has blocked the other side.
async fn blocked_peer<C: GenericClient>(c: &C, key: ChatKey, user: UserId) -> StoreResult<Option<bool>> {
    let row = query_opt(c, "SELECT blocked_peer FROM members WHERE chat_id = $1 AND user_id = $2", &[&key.0, &user.0])
        .await?;
    row.map(|r| get(&r, 0)).transpose()
}

/// Removes a member and tells everyone concerned, as SQLite's `remove_member` does.
#[allow(clippy::too_many_arguments)]
async fn remove_member(
    tx: &Transaction<'_>,
    log: &mut UpdateLog,
    key: ChatKey,
    actor: UserId,
    target: UserId,
    old: MemberStatus,
    new: MemberStatus,
    now: i64,
) -> StoreResult<()> {
    execute(tx, "DELETE FROM members WHERE chat_id = $1 AND user_id = $2", &[&key.0, &target.0]).await?;
    log.push(target, "chat_removed", None);
    log.push_all(&member_ids(tx, key).await?, "chat_updated", None);
    note_member_change(tx, log, MemberChange { chat: key, user: target, actor, old, new, date: now }).await
}

/// Inserts a message into a chat the sender was checked to be in (its row locked), with the chat's
/// next id: what `plaza_append_messages` does, for writes that have more to do in the transaction.
async fn insert_message(
    tx: &Transaction<'_>,
    log: &mut UpdateLog,
    row: &ChatRow,
    sender: UserId,
    m: NewMessage,
    now: i64,
) -> StoreResult<Message> {
    let id: i64 = get(
        &query_one(
            tx,
            "UPDATE chats SET last_message_id = last_message_id + 1, last_activity = $2 WHERE id = $1 \
             RETURNING last_message_id",
            &[&row.key.0, &now],
        )
        .await?,
        0,
    )?;
    execute(
        tx,
        "INSERT INTO messages (chat_id, id, sender_id, date, text, entities, reply_to, extra) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &row.key.0,
            &id,
            &sender.0,
            &now,
            &m.text.as_str(),
            &entities::encode(&m.entities),
            &m.reply_to.map(|r| r.0),
            &codec::encode_extra(&codec::Extras::of_new(&m)),
        ],
    )
    .await?;
    // One's own messages count as read.
    execute(
        tx,
        "UPDATE members SET read_inbox_max_id = $1 WHERE chat_id = $2 AND user_id = $3",
        &[&id, &row.key.0, &sender.0],
    )
    .await?;
    log.push_all(&message_recipients(tx, row.key, sender).await?, "message_new", Some(id));
    Ok(m.into_message(row.key, MessageId(id), sender, now))
}

/// The newest pin of the chat whose message still exists.
async fn newest_pin<C: GenericClient>(c: &C, key: ChatKey) -> StoreResult<Option<Message>> {
    let sql = concat!(
        "SELECT ",
        message_cols!("m."),
        " FROM pins p JOIN messages m ON m.chat_id = p.chat_id AND m.id = p.message_id \
         WHERE p.chat_id = $1 AND NOT m.deleted ORDER BY p.pinned_at DESC, p.message_id DESC LIMIT 1"
    );
    query_opt(c, sql, &[&key.0]).await?.map(|r| message_at(&r, 0)).transpose()
}

/// A poll with its counts as one viewer sees them, and the chat it is in.
struct PollAt {
    poll: Poll,
    chat: ChatKey,
}

/// Option ids as stored (`SMALLINT[]`).
fn option_ids_out(ids: &[u8]) -> Vec<i16> {
    ids.iter().map(|&o| i16::from(o)).collect()
}

/// Option ids as read back.
fn option_ids_in(ids: Vec<i16>) -> StoreResult<Vec<u8>> {
    ids.into_iter().map(|o| u8::try_from(o).map_err(StoreError::backend)).collect()
}

/// Polls by id with their counts and `viewer`'s vote; ids with no poll are absent.
async fn load_polls<C: GenericClient>(c: &C, ids: &[String], viewer: UserId) -> StoreResult<HashMap<String, PollAt>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let params: [&(dyn ToSql + Sync); 1] = [&ids];
    // Both statements are independent, so they are pipelined on the connection.
    let (rows, votes) = tokio::try_join!(
        query(
            c,
            "SELECT id, chat_id, question, options, is_anonymous, kind, multiple, correct_option, explanation, \
             closed FROM polls WHERE id = ANY($1)",
            &params,
        ),
        query(c, "SELECT poll_id, user_id, option_ids FROM poll_votes WHERE poll_id = ANY($1)", &params),
    )?;
    let mut choices: HashMap<String, (Vec<Vec<u8>>, Vec<u8>)> = HashMap::new();
    for r in &votes {
        let ids = option_ids_in(get(r, 2)?)?;
        let entry = choices.entry(get(r, 0)?).or_default();
        if get::<i64>(r, 1)? == viewer.0 {
            entry.1 = ids.clone();
        }
        entry.0.push(ids);
    }
    let mut out = HashMap::with_capacity(rows.len());
    for r in &rows {
        let id: String = get(r, 0)?;
        let options: Vec<String> = get(r, 3)?;
        let (votes, my_vote) = choices.remove(&id).unwrap_or_default();
        let (voter_counts, total_voter_count) = count_votes(options.len(), &votes);
        let spec = NewPoll {
            id: id.clone(),
            question: get(r, 2)?,
            options,
            is_anonymous: get(r, 4)?,
            kind: PollKind::parse(get(r, 5)?).map_err(StoreError::backend)?,
            allows_multiple_answers: get(r, 6)?,
            correct_option_id: get::<Option<i16>>(r, 7)?.map(u8::try_from).transpose().map_err(StoreError::backend)?,
            explanation: get(r, 8)?,
            is_closed: get(r, 9)?,
        };
        let at = PollAt { poll: Poll { spec, voter_counts, total_voter_count, my_vote }, chat: ChatKey(get(r, 1)?) };
        out.insert(id, at);
    }
    Ok(out)
}

/// A poll with its counts and `viewer`'s vote.
async fn load_poll<C: GenericClient>(c: &C, id: &str, viewer: UserId) -> StoreResult<Option<PollAt>> {
    Ok(load_polls(c, &[id.to_string()], viewer).await?.remove(id))
}

/// Inserts the poll a new message carries.
async fn insert_poll<C: GenericClient>(
    c: &C,
    key: ChatKey,
    message: i64,
    creator: UserId,
    p: &NewPoll,
) -> StoreResult<()> {
    execute(
        c,
        "INSERT INTO polls (id, chat_id, message_id, creator_id, question, options, is_anonymous, kind, multiple, \
         correct_option, explanation, closed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &p.id,
            &key.0,
            &message,
            &creator.0,
            &p.question,
            &p.options,
            &p.is_anonymous,
            &p.kind.as_str(),
            &p.allows_multiple_answers,
            &p.correct_option_id.map(i16::from),
            &p.explanation,
            &p.is_closed,
        ],
    )
    .await?;
    Ok(())
}

/// Entries telling a poll's chat (people) and its bot that the poll changed, as SQLite appends them.
async fn push_poll_updated(
    tx: &Transaction<'_>,
    log: &mut UpdateLog,
    key: ChatKey,
    message: MessageId,
    creator: UserId,
) -> StoreResult<()> {
    let (people, creator_is_bot) = tokio::try_join!(people_ids(tx, key), is_bot(tx, creator))?;
    log.push_all(&people, "poll_updated", Some(message.0));
    if creator_is_bot {
        log.push(creator, "poll_updated", Some(message.0));
    }
    Ok(())
}

/// Each user's reactions per message, in the order they were last set.
type ReactionRows = HashMap<(ChatKey, MessageId), Vec<(UserId, Vec<String>)>>;

/// The reactions on these messages (`chats[i]`, `messages[i]`); messages without any are absent.
async fn reaction_rows<C: GenericClient>(c: &C, chats: &[i64], messages: &[i64]) -> StoreResult<ReactionRows> {
    let mut out = ReactionRows::new();
    if messages.is_empty() {
        return Ok(out);
    }
    let rows = query(
        c,
        "SELECT r.chat_id, r.message_id, r.user_id, r.emojis FROM reactions r \
         JOIN (SELECT DISTINCT * FROM unnest($1::bigint[], $2::bigint[])) AS k(chat_id, id) \
         ON r.chat_id = k.chat_id AND r.message_id = k.id ORDER BY r.chat_id, r.message_id, r.date, r.user_id",
        &[&chats, &messages],
    )
    .await?;
    for r in &rows {
        out.entry((ChatKey(get(r, 0)?), MessageId(get(r, 1)?))).or_default().push((UserId(get(r, 2)?), get(r, 3)?));
    }
    Ok(out)
}

/// The reaction event columns.
const REACTION_EVENT_COLS: &str = "id, chat_id, message_id, user_id, old, new, date";

/// A reaction event (its id and the change) from the [`REACTION_EVENT_COLS`] columns.
fn reaction_event_at(r: &Row) -> StoreResult<(i64, ReactionChange)> {
    let change = ReactionChange {
        chat: ChatKey(get(r, 1)?),
        message_id: MessageId(get(r, 2)?),
        user: UserId(get(r, 3)?),
        old: get(r, 4)?,
        new: get(r, 5)?,
        date: get(r, 6)?,
    };
    Ok((get(r, 0)?, change))
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// A transfer by its key, with the balances its entries recorded.
const SELECT_TRANSFER: &str = "SELECT t.id, t.from_account, t.to_account, t.amount, t.memo, t.at, \
     (SELECT e.balance FROM ledger_entries e WHERE e.account = t.from_account AND e.transfer_id = t.id), \
     (SELECT e.balance FROM ledger_entries e WHERE e.account = t.to_account AND e.transfer_id = t.id) \
     FROM ledger_transfers t WHERE t.key = $1";

/// A transfer from the [`SELECT_TRANSFER`] columns.
fn transfer_at(r: &Row, key: &str) -> StoreResult<Transfer> {
    transfer_row(
        get(r, 0)?,
        key.to_string(),
        &get::<String>(r, 1)?,
        &get::<String>(r, 2)?,
        get(r, 3)?,
        get(r, 4)?,
        get(r, 5)?,
        (get(r, 6)?, get(r, 7)?),
    )
}

/// What [`apply_transfer`] did.
enum TransferOutcome {
    /// The transfer was made in the caller's transaction.
    Made(Transfer),
    /// The same transfer was made before under this key; nothing moved.
    Found(Transfer),
    /// The key was taken meanwhile by a transfer between other accounts, which this transaction
    /// did not wait for: read it again in a new one.
    KeyTaken,
}

/// Makes a transfer inside the caller's write (`transfer`, and the payment writes that move Stars
/// together with a state change and a message), or finds it made already under its key.
async fn apply_transfer(tx: &Transaction<'_>, t: &NewTransfer, now: i64) -> StoreResult<TransferOutcome> {
    // Both balance rows exist and are locked in name order before anything is read: transfers
    // touching the same accounts run one after the other, and two never wait on each other.
    let accounts = vec![t.from.key(), t.to.key()];
    execute(
        tx,
        "INSERT INTO ledger_balances (account, balance) SELECT a, 0 FROM unnest($1::text[]) a \
         ORDER BY a ON CONFLICT (account) DO NOTHING",
        &[&accounts],
    )
    .await?;
    let rows = query(
        tx,
        "SELECT account, balance FROM ledger_balances WHERE account = ANY($1) ORDER BY account FOR UPDATE",
        &[&accounts],
    )
    .await?;
    let mut balances = HashMap::new();
    for r in &rows {
        balances.insert(get::<String>(r, 0)?, get::<i64>(r, 1)?);
    }
    // The same key again is the first transfer, if it is this one. (A concurrent one with this
    // key and these accounts committed before the locks were granted, so it is seen here.)
    let found = |r: Row| -> StoreResult<TransferOutcome> {
        let done = transfer_at(&r, &t.key)?;
        if (done.from, done.to, done.amount) == (t.from, t.to, t.amount) {
            Ok(TransferOutcome::Found(done))
        } else {
            Err(Denied::TransferKeyReused.into())
        }
    };
    let from_balance = balances.get(&t.from.key()).copied().unwrap_or(0) - t.amount;
    let to_balance = balances.get(&t.to.key()).copied().unwrap_or(0) + t.amount;
    if from_balance < 0 && !t.from.may_go_negative() {
        // A replay is answered even when the payer could not afford it now.
        return match query_opt(tx, SELECT_TRANSFER, &[&t.key]).await? {
            Some(r) => found(r),
            None => Err(Denied::InsufficientFunds.into()),
        };
    }
    // The locks are held from here to the commit: as few round trips as possible.
    let inserted = query_opt(
        tx,
        "INSERT INTO ledger_transfers (key, from_account, to_account, amount, memo, at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING RETURNING id",
        &[&t.key, &t.from.key(), &t.to.key(), &t.amount, &t.memo, &now],
    )
    .await?;
    let Some(inserted) = inserted else {
        return match query_opt(tx, SELECT_TRANSFER, &[&t.key]).await? {
            Some(r) => found(r),
            None => Ok(TransferOutcome::KeyTaken),
        };
    };
    let id: i64 = get(&inserted, 0)?;
    execute(
        tx,
        "WITH moved AS (UPDATE ledger_balances b SET balance = v.balance \
             FROM (VALUES ($1::text, $3::bigint), ($4::text, $6::bigint)) AS v(account, balance) \
             WHERE b.account = v.account) \
         INSERT INTO ledger_entries (account, transfer_id, delta, balance) \
         VALUES ($1, $7, $2, $3), ($4, $7, $5, $6)",
        &[&t.from.key(), &-t.amount, &from_balance, &t.to.key(), &t.amount, &to_balance, &id],
    )
    .await?;
    let done = Transfer {
        id,
        key: t.key.clone(),
        from: t.from,
        to: t.to,
        amount: t.amount,
        memo: t.memo.clone(),
        at: now,
        from_balance,
        to_balance,
    };
    Ok(TransferOutcome::Made(done))
}

// ---------------------------------------------------------------------------------------------

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    /// The message batches (the `append` module); other writes are a transaction each.
    fn stats(&self) -> StoreStats {
        self.appender.counters.stats()
    }

    async fn create_account(&self, a: NewAccount) -> StoreResult<User> {
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        let key = a.username.canonical();
        let taken: bool =
            get(&query_one(&tx, "SELECT EXISTS(SELECT 1 FROM users WHERE username_key = $1)", &[&key]).await?, 0)?;
        if taken {
            return Err(Denied::UsernameTaken.into());
        }
        if let Some(bot) = &a.bot {
            let owner = load_user(&tx, bot.owner).await?;
            if owner.is_bot {
                return Err(Denied::UserNotFound.into());
            }
        }
        let stmt = tx
            .prepare_cached(concat!(
                "INSERT INTO users (username, username_key, display_name, password_hash, is_bot, bot_owner, \
                 bot_token_hash, language_code, phone_number, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ",
                user_cols!("")
            ))
            .await
            .map_err(db)?;
        // A sign-up racing this one for the same name passes the check above; the unique index
        // then refuses one of the two.
        let row = tx
            .query_one(
                &stmt,
                &[
                    &a.username.as_str(),
                    &key,
                    &a.display_name.as_str(),
                    &a.password_hash,
                    &a.bot.is_some(),
                    &a.bot.as_ref().map(|b| b.owner.0),
                    &a.bot.as_ref().map(|b| b.token_secret_hash.as_slice()),
                    &a.language_code.as_ref().map(|l| l.as_str()),
                    &a.phone_number.as_ref().map(|p| p.as_str()),
                    &a.now,
                ],
            )
            .await
            .map_err(|e| if is_unique_violation(&e) { Denied::UsernameTaken.into() } else { db(e) })?;
        // A trigger gives the user an empty update log (`user_seqs`, migration 0012).
        let user = user_at(&row, 0)?;
        tx.commit().await.map_err(db)?;
        Ok(user)
    }

    async fn user(&self, id: UserId) -> StoreResult<User> {
        let client = self.client().await?;
        load_user(&client, id).await
    }

    async fn user_by_username(&self, username: &Username) -> StoreResult<User> {
        let client = self.client().await?;
        let sql = concat!("SELECT ", user_cols!(""), " FROM users WHERE username_key = $1");
        let row = query_opt(&client, sql, &[&username.canonical()]).await?;
        user_at(&row.ok_or(Denied::UserNotFound)?, 0)
    }

    async fn login_record(&self, username: &Username) -> StoreResult<Option<(User, String)>> {
        let client = self.client().await?;
        let sql = concat!("SELECT ", user_cols!(""), ", password_hash FROM users WHERE username_key = $1");
        let Some(row) = query_opt(&client, sql, &[&username.canonical()]).await? else { return Ok(None) };
        let hash: Option<String> = get(&row, USER_WIDTH)?;
        match hash {
            Some(h) => Ok(Some((user_at(&row, 0)?, h))),
            None => Ok(None),
        }
    }

    async fn update_profile(&self, user: UserId, change: ProfileChange) -> StoreResult<User> {
        let client = self.client().await?;
        if change.display_name.is_none() && change.language_code.is_none() && change.phone_number.is_none() {
            return load_user(&client, user).await;
        }
        // One statement is one transaction: the existence check is the UPDATE finding the row.
        let sql = concat!(
            "UPDATE users SET display_name = CASE WHEN $2 THEN $3 ELSE display_name END, \
             language_code = CASE WHEN $4 THEN $5 ELSE language_code END, \
             phone_number = CASE WHEN $6 THEN $7 ELSE phone_number END \
             WHERE id = $1 RETURNING ",
            user_cols!("")
        );
        let row = query_opt(
            &client,
            sql,
            &[
                &user.0,
                &change.display_name.is_some(),
                &change.display_name.as_ref().map(|d| d.as_str()),
                &change.language_code.is_some(),
                &change.language_code.as_ref().and_then(|l| l.as_ref().map(|l| l.as_str())),
                &change.phone_number.is_some(),
                &change.phone_number.as_ref().and_then(|p| p.as_ref().map(|p| p.as_str())),
            ],
        )
        .await?;
        user_at(&row.ok_or(Denied::UserNotFound)?, 0)
    }

    async fn list_people(&self) -> StoreResult<Vec<User>> {
        let client = self.client().await?;
        let rows =
            query(&client, concat!("SELECT ", user_cols!(""), " FROM users WHERE NOT is_bot ORDER BY id"), &[]).await?;
        rows.iter().map(|r| user_at(r, 0)).collect()
    }

    async fn list_bots(&self) -> StoreResult<Vec<BotRecord>> {
        let client = self.client().await?;
        let sql = concat!(
            "SELECT ",
            user_cols!("b."),
            ", ",
            user_cols!("o."),
            " FROM users b LEFT JOIN users o ON o.id = b.bot_owner WHERE b.is_bot ORDER BY b.id"
        );
        let rows = query(&client, sql, &[]).await?;
        rows.iter()
            .map(|r| {
                // SQLite fails reading a NULL owner as an integer; this is that same backend error.
                if get::<Option<i64>>(r, USER_WIDTH)?.is_none() {
                    return Err(StoreError::Backend("bot without an owner".into()));
                }
                Ok(BotRecord { bot: user_at(r, 0)?, owner: user_at(r, USER_WIDTH)? })
            })
            .collect()
    }

    async fn bot_token_hash(&self, bot: UserId) -> StoreResult<Vec<u8>> {
        let client = self.client().await?;
        let row = query_opt(&client, "SELECT bot_token_hash FROM users WHERE id = $1 AND is_bot", &[&bot.0]).await?;
        let hash: Option<Vec<u8>> = match row {
            Some(r) => get(&r, 0)?,
            None => None,
        };
        hash.ok_or(Denied::UserNotFound.into())
    }

    async fn set_bot_token_hash(&self, bot: UserId, hash: Vec<u8>) -> StoreResult<()> {
        let client = self.client().await?;
        let n =
            execute(&client, "UPDATE users SET bot_token_hash = $1 WHERE id = $2 AND is_bot", &[&hash, &bot.0]).await?;
        if n == 0 { Err(Denied::UserNotFound.into()) } else { Ok(()) }
    }

    async fn create_session(&self, token_hash: Vec<u8>, user: UserId, now: i64, expires_at: i64) -> StoreResult<()> {
        let client = self.client().await?;
        execute(
            &client,
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            &[&token_hash, &user.0, &now, &expires_at],
        )
        .await?;
        Ok(())
    }

    async fn session_user(&self, token_hash: &[u8], now: i64) -> StoreResult<Option<(User, i64)>> {
        let client = self.client().await?;
        let sql = concat!(
            "SELECT ",
            user_cols!("u."),
            ", s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2"
        );
        query_opt(&client, sql, &[&token_hash, &now])
            .await?
            .map(|r| Ok((user_at(&r, 0)?, get(&r, USER_WIDTH)?)))
            .transpose()
    }

    async fn delete_session(&self, token_hash: &[u8]) -> StoreResult<()> {
        let client = self.client().await?;
        execute(&client, "DELETE FROM sessions WHERE token_hash = $1", &[&token_hash]).await?;
        Ok(())
    }

    async fn open_private_chat(&self, me: UserId, peer: UserId, now: i64) -> StoreResult<Written<Chat>> {
        if me == peer {
            return Err(Denied::PeerIsSelf.into());
        }
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        load_user(&tx, peer).await?;
        match resolve(&tx, me, ChatId::private(peer), Lock::Chat).await {
            Ok((row, _, _)) => {
                let value = chat_view(&tx, me, &row).await?;
                tx.commit().await.map_err(db)?;
                return Ok(Written { value, notify: vec![] });
            }
            Err(StoreError::Denied(Denied::ChatNotFound)) => {}
            Err(e) => return Err(e),
        }
        let (lo, hi) = private_pair(me, peer);
        // Two first opens of the same pair queue on the pair's seq rows (ascending, the locks the
        // update log takes next anyway), so the second finds the chat instead of racing the insert.
        // Waiting here is safe: this transaction holds no chat lock and takes none afterwards.
        let locked = query(
            &tx,
            "SELECT user_id FROM user_seqs WHERE user_id = ANY($1) ORDER BY user_id FOR NO KEY UPDATE",
            &[&vec![lo.0, hi.0]],
        )
        .await?;
        if locked.len() < 2 {
            // The peer exists, so `me` does not: SQLite fails on the members foreign key here. Failing
            // before the insert also keeps the chat key sequence free of gaps, as on SQLite.
            return Err(StoreError::Backend(format!("user {} does not exist", me.0)));
        }
        match resolve(&tx, me, ChatId::private(peer), Lock::None).await {
            Ok((row, _, _)) => {
                let value = chat_view(&tx, me, &row).await?;
                tx.commit().await.map_err(db)?;
                return Ok(Written { value, notify: vec![] });
            }
            Err(StoreError::Denied(Denied::ChatNotFound)) => {}
            Err(e) => return Err(e),
        }
        let inserted = query_one(
            &tx,
            concat!(
                "INSERT INTO chats (kind, user_lo, user_hi, last_activity, created_at) \
                 VALUES ('private', $1, $2, $3, $3) RETURNING ",
                chat_cols!("")
            ),
            &[&lo.0, &hi.0, &now],
        )
        .await?;
        let row = chat_at(&inserted, 0)?;
        execute(
            &tx,
            "INSERT INTO members (chat_id, user_id, role, joined_at) \
             VALUES ($1, $2, 'member', $4), ($1, $3, 'member', $4)",
            &[&row.key.0, &lo.0, &hi.0, &now],
        )
        .await?;
        let mut log = UpdateLog::new(row.key);
        log.push_all(&[lo, hi], "chat_updated", None);
        let notify = log.write(&tx).await?;
        let value = chat_view(&tx, me, &row).await?;
        tx.commit().await.map_err(db)?;
        Ok(Written { value, notify })
    }

    async fn create_group(
        &self,
        creator: UserId,
        title: GroupTitle,
        members: Vec<UserId>,
        now: i64,
    ) -> StoreResult<Written<Chat>> {
        let mut others: Vec<UserId> = members.into_iter().filter(|m| *m != creator).collect();
        others.sort();
        others.dedup();
        if others.len() + 1 > MAX_GROUP_MEMBERS {
            return Err(Denied::TooManyMembers.into());
        }
        let mut all: Vec<i64> = others.iter().map(|u| u.0).chain([creator.0]).collect();
        all.sort_unstable();
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        let found: i64 = get(&query_one(&tx, "SELECT count(*) FROM users WHERE id = ANY($1)", &[&all]).await?, 0)?;
        if found != all.len() as i64 {
            return Err(Denied::UserNotFound.into());
        }
        let inserted = query_one(
            &tx,
            concat!(
                "INSERT INTO chats (kind, title, last_activity, created_at) VALUES ('group', $1, $2, $2) RETURNING ",
                chat_cols!("")
            ),
            &[&title.as_str(), &now],
        )
        .await?;
        let row = chat_at(&inserted, 0)?;
        execute(
            &tx,
            "INSERT INTO members (chat_id, user_id, role, joined_at) \
             SELECT $1, u, CASE WHEN u = $2 THEN 'creator' ELSE 'member' END, $3 FROM unnest($4::bigint[]) AS u",
            &[&row.key.0, &creator.0, &now, &all],
        )
        .await?;
        let all: Vec<UserId> = all.into_iter().map(UserId).collect();
        let mut log = UpdateLog::new(row.key);
        log.push_all(&all, "chat_updated", None);
        for m in &others {
            let change = MemberChange {
                chat: row.key,
                user: *m,
                actor: creator,
                old: MemberStatus::Left,
                new: MemberStatus::Member,
                date: now,
            };
            note_member_change(&tx, &mut log, change).await?;
        }
        let notify = log.write(&tx).await?;
        let value = chat_view(&tx, creator, &row).await?;
        tx.commit().await.map_err(db)?;
        Ok(Written { value, notify })
    }

    async fn chat(&self, viewer: UserId, chat: ChatId) -> StoreResult<Chat> {
        let mut client = self.client().await?;
        let tx = read_tx(&mut client).await?;
        let (row, _, _) = resolve(&tx, viewer, chat, Lock::None).await?;
        let value = chat_view(&tx, viewer, &row).await?;
        tx.commit().await.map_err(db)?;
        Ok(value)
    }

    async fn chats(&self, viewer: UserId) -> StoreResult<Vec<ChatSummary>> {
        let mut client = self.client().await?;
        let tx = read_tx(&mut client).await?;
        // One statement gathers what the SQLite backend reads per chat: the chat, the viewer's view
        // parts, the newest live message and the unread count.
        let sql = concat!(
            "SELECT ",
            chat_cols!("c."),
            ", m.role, m.read_inbox_max_id, \
             CASE WHEN c.kind = 'group' THEN (SELECT count(*) FROM members x WHERE x.chat_id = c.id) ELSE 0 END, \
             COALESCE((SELECT x.read_inbox_max_id FROM members x WHERE c.kind = 'private' AND x.chat_id = c.id \
                       AND x.user_id = CASE WHEN c.user_lo = $1 THEN c.user_hi ELSE c.user_lo END), 0), \
             (SELECT count(*) FROM messages g WHERE g.chat_id = c.id AND g.id > m.read_inbox_max_id \
              AND NOT g.deleted AND g.sender_id <> $1), ",
            message_cols!("l."),
            " FROM members m JOIN chats c ON c.id = m.chat_id \
             LEFT JOIN LATERAL (SELECT ",
            message_cols!(""),
            " FROM messages WHERE chat_id = c.id AND NOT deleted ORDER BY id DESC LIMIT 1) l ON TRUE \
             WHERE m.user_id = $1 ORDER BY c.last_activity DESC, c.id DESC"
        );
        let rows = query(&tx, sql, &[&viewer.0]).await?;
        const VIEW: usize = 7;
        const LAST: usize = VIEW + 5;
        let mut chats = Vec::with_capacity(rows.len());
        let mut peer_ids: Vec<i64> = Vec::new();
        for r in &rows {
            let row = chat_at(r, 0)?;
            if !row.is_group {
                peer_ids.push(row.peer_of(viewer).0);
            }
            chats.push(row);
        }
        let mut peers: HashMap<i64, User> = HashMap::with_capacity(peer_ids.len());
        if !peer_ids.is_empty() {
            let sql = concat!("SELECT ", user_cols!(""), " FROM users WHERE id = ANY($1)");
            for r in query(&tx, sql, &[&peer_ids]).await? {
                let user = user_at(&r, 0)?;
                peers.insert(user.id.0, user);
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        for (r, row) in rows.iter().zip(chats) {
            let parts = ViewParts {
                role: parse_role(get(r, VIEW)?)?,
                read_inbox: get(r, VIEW + 1)?,
                member_count: get(r, VIEW + 2)?,
                peer_read: get(r, VIEW + 3)?,
            };
            let unread: i64 = get(r, VIEW + 4)?;
            let peer = if row.is_group { None } else { peers.get(&row.peer_of(viewer).0).cloned() };
            let chat = build_chat(&row, viewer, parts, peer)?;
            let last_message = match get::<Option<i64>>(r, LAST + 1)? {
                Some(_) => Some(message_at(r, LAST)?),
                None => None,
            };
            out.push(ChatSummary { chat, last_message, unread_count: unread as u32 });
        }
        tx.commit().await.map_err(db)?;
        Ok(out)
    }

    async fn members(&self, viewer: UserId, chat: ChatId) -> StoreResult<Vec<Member>> {
        let mut client = self.client().await?;
        let tx = read_tx(&mut client).await?;
        let (row, _, _) = resolve(&tx, viewer, chat, Lock::None).await?;
        let sql = concat!(
            "SELECT ",
            user_cols!("u."),
            ", m.role, m.joined_at FROM members m JOIN users u ON u.id = m.user_id \
             WHERE m.chat_id = $1 ORDER BY m.joined_at, m.user_id"
        );
        let rows = query(&tx, sql, &[&row.key.0]).await?;
        let members = rows
            .iter()
            .map(|r| {
                Ok(Member {
                    user: user_at(r, 0)?,
                    role: parse_role(get(r, USER_WIDTH)?)?,
                    joined_at: get(r, USER_WIDTH + 1)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        tx.commit().await.map_err(db)?;
        Ok(members)
    }

    async fn change_group(
        &self,
        actor: UserId,
        chat: ChatId,
        change: GroupChange,
        now: i64,
    ) -> StoreResult<Written<Chat>> {
        let change = crate::rules::normalize(actor, change);
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        let (row, actor_role, _) = resolve(&tx, actor, chat, Lock::Chat).await?;
        if !row.is_group {
            return Err(Denied::NotAGroup.into());
        }
        let key = row.key;
        let mut log = UpdateLog::new(key);
        match change {
            GroupChange::AddMembers(ids) => {
                if !actor_role.can_manage() {
                    return Err(Denied::NotAdmin.into());
                }
                let mut ids: Vec<i64> = ids.into_iter().map(|u| u.0).collect();
                ids.sort_unstable();
                ids.dedup();
                let count: i64 =
                    get(&query_one(&tx, "SELECT count(*) FROM members WHERE chat_id = $1", &[&key.0]).await?, 0)?;
                if count as usize + ids.len() > MAX_GROUP_MEMBERS {
                    return Err(Denied::TooManyMembers.into());
                }
                let rows = query(
                    &tx,
                    "SELECT u.id, EXISTS(SELECT 1 FROM members m WHERE m.chat_id = $1 AND m.user_id = u.id), \
                     b.user_id IS NOT NULL, b.until \
                     FROM users u LEFT JOIN bans b ON b.chat_id = $1 AND b.user_id = u.id WHERE u.id = ANY($2)",
                    &[&key.0, &ids],
                )
                .await?;
                // Per user: already a member, and the ban's end if one is recorded.
                let mut status: HashMap<i64, (bool, Option<Option<i64>>)> = HashMap::with_capacity(rows.len());
                for r in &rows {
                    let ban = if get::<bool>(r, 2)? { Some(get::<Option<i64>>(r, 3)?) } else { None };
                    status.insert(get(r, 0)?, (get(r, 1)?, ban));
                }
                // The first id in ascending order that fails decides the error, as on SQLite.
                for id in &ids {
                    match status.get(id) {
                        None => return Err(Denied::UserNotFound.into()),
                        Some((true, _)) => return Err(Denied::AlreadyMember.into()),
                        Some((false, Some(until))) if ban_in_force(*until, now) => {
                            return Err(Denied::Banned.into());
                        }
                        Some(_) => {}
                    }
                }
                // Newcomers start with everything before their arrival read.
                execute(
                    &tx,
                    "INSERT INTO members (chat_id, user_id, role, joined_at, read_inbox_max_id) \
                     SELECT $1, u, 'member', $2, $3 FROM unnest($4::bigint[]) AS u",
                    &[&key.0, &now, &row.last_message_id, &ids],
                )
                .await?;
                log.push_all(&member_ids(&tx, key).await?, "chat_updated", None);
                // An expired ban is forgotten once the user is back.
                execute(&tx, "DELETE FROM bans WHERE chat_id = $1 AND user_id = ANY($2)", &[&key.0, &ids]).await?;
                for id in &ids {
                    let change = MemberChange {
                        chat: key,
                        user: UserId(*id),
                        actor,
                        old: MemberStatus::Left,
                        new: MemberStatus::Member,
                        date: now,
                    };
                    note_member_change(&tx, &mut log, change).await?;
                }
            }
            GroupChange::RemoveMember(target) => {
                let (target_role, _) = member_row(&tx, key, target).await?.ok_or(Denied::UserNotFound)?;
                may_remove(actor, actor_role, target, target_role)?;
                let old = MemberStatus::of_role(target_role);
                remove_member(&tx, &mut log, key, actor, target, old, MemberStatus::Left, now).await?;
            }
            GroupChange::Ban { user, until } => {
                if !actor_role.can_manage() {
                    return Err(Denied::NotAdmin.into());
                }
                load_user(&tx, user).await?;
                if let Some((target_role, _)) = member_row(&tx, key, user).await? {
                    may_remove(actor, actor_role, user, target_role)?;
                    if user == actor {
                        return Err(Denied::NotAdmin.into());
                    }
                    let old = MemberStatus::of_role(target_role);
                    remove_member(&tx, &mut log, key, actor, user, old, MemberStatus::Kicked, now).await?;
                }
                execute(
                    &tx,
                    "INSERT INTO bans (chat_id, user_id, until, banned_by, banned_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (chat_id, user_id) DO UPDATE \
                     SET until = excluded.until, banned_by = excluded.banned_by, banned_at = excluded.banned_at",
                    &[&key.0, &user.0, &until, &actor.0, &now],
                )
                .await?;
            }
            GroupChange::Unban { user, only_if_banned } => {
                if !actor_role.can_manage() {
                    return Err(Denied::NotAdmin.into());
                }
                if ban_of(&tx, key, user).await?.is_some() {
                    execute(&tx, "DELETE FROM bans WHERE chat_id = $1 AND user_id = $2", &[&key.0, &user.0]).await?;
                    let change = MemberChange {
                        chat: key,
                        user,
                        actor,
                        old: MemberStatus::Kicked,
                        new: MemberStatus::Left,
                        date: now,
                    };
                    note_member_change(&tx, &mut log, change).await?;
                } else if !only_if_banned && let Some((target_role, _)) = member_row(&tx, key, user).await? {
                    may_remove(actor, actor_role, user, target_role)?;
                    if user == actor {
                        return Err(Denied::NotAdmin.into());
                    }
                    let old = MemberStatus::of_role(target_role);
                    remove_member(&tx, &mut log, key, actor, user, old, MemberStatus::Left, now).await?;
                }
            }
            GroupChange::SetRole(target, role) => {
                if actor_role != Role::Creator {
                    return Err(Denied::NotCreator.into());
                }
                let (target_role, _) = member_row(&tx, key, target).await?.ok_or(Denied::UserNotFound)?;
                if target_role == Role::Creator || role == Role::Creator {
                    return Err(Denied::CreatorIsFixed.into());
                }
                execute(
                    &tx,
                    "UPDATE members SET role = $1 WHERE chat_id = $2 AND user_id = $3",
                    &[&role.as_str(), &key.0, &target.0],
                )
                .await?;
                log.push_all(&member_ids(&tx, key).await?, "chat_updated", None);
                let change = MemberChange {
                    chat: key,
                    user: target,
                    actor,
                    old: MemberStatus::of_role(target_role),
                    new: MemberStatus::of_role(role),
                    date: now,
                };
                note_member_change(&tx, &mut log, change).await?;
            }
            GroupChange::SetTitle(title) => {
                if !actor_role.can_manage() {
                    return Err(Denied::NotAdmin.into());
                }
                execute(&tx, "UPDATE chats SET title = $1 WHERE id = $2", &[&title.as_str(), &key.0]).await?;
                log.push_all(&member_ids(&tx, key).await?, "chat_updated", None);
            }
            GroupChange::Leave => {
                let before = chat_view(&tx, actor, &row).await?;
                execute(&tx, "DELETE FROM members WHERE chat_id = $1 AND user_id = $2", &[&key.0, &actor.0]).await?;
                if actor_role == Role::Creator {
                    // Hand the group to the longest-serving admin, else the longest-serving member.
                    execute(
                        &tx,
                        "UPDATE members SET role = 'creator' WHERE chat_id = $1 AND user_id = (SELECT user_id \
                         FROM members WHERE chat_id = $1 \
                         ORDER BY role = 'administrator' DESC, joined_at, user_id LIMIT 1)",
                        &[&key.0],
                    )
                    .await?;
                }
                log.push(actor, "chat_removed", None);
                log.push_all(&member_ids(&tx, key).await?, "chat_updated", None);
                let change = MemberChange {
                    chat: key,
                    user: actor,
                    actor,
                    old: MemberStatus::of_role(actor_role),
                    new: MemberStatus::Left,
                    date: now,
                };
                note_member_change(&tx, &mut log, change).await?;
                let notify = log.write(&tx).await?;
                tx.commit().await.map_err(db)?;
                return Ok(Written { value: before, notify });
            }
        }
        let notify = log.write(&tx).await?;
        let row = load_chat_row(&tx, key).await?.ok_or(Denied::ChatNotFound)?;
        let value = chat_view(&tx, actor, &row).await?;
        tx.commit().await.map_err(db)?;
        Ok(Written { value, notify })
    }

    async fn append_message(
        &self,
        sender: UserId,
        chat: ChatId,
        m: NewMessage,
        now: i64,
    ) -> StoreResult<Written<Message>> {
        let (peer, group) = match chat.resolve() {
            Some(ChatRef::Private { peer }) => (Some(peer.0), None),
            Some(ChatRef::Group { key }) => (None, Some(key.0)),
            None => return Err(Denied::ChatNotFound.into()),
        };
        let append = Append {
            sender: sender.0,
            peer,
            group,
            text: m.text.as_str().to_owned(),
            entities: entities::encode(&m.entities),
            reply_to: m.reply_to.map(|r| r.0),
            now,
            extra: codec::encode_extra(&codec::Extras::of_new(&m)),
        };
        let appended = match &m.poll {
            // Batched with other messages, each batch one statement and one transaction.
            None => self.appender.append(append).await?,
            // A poll is inserted after its message, in the same transaction.
            Some(poll) => {
                let mut client = self.client().await?;
                let tx = write_tx(&mut client).await?;
                let outcome = append::append_all(&tx, std::slice::from_ref(&append)).await.map_err(db)?;
                let appended = outcome.into_iter().next().ok_or_else(|| StoreError::backend("no outcome"))??;
                insert_poll(&tx, appended.chat, appended.id.0, sender, poll).await?;
                tx.commit().await.map_err(db)?;
                appended
            }
        };
        let message = m.into_message(appended.chat, appended.id, sender, now);
        Ok(Written { value: message, notify: appended.notify })
    }

    async fn edit_message(
        &self,
        editor: UserId,
        chat: ChatId,
        id: MessageId,
        edit: MessageEdit,
        now: i64,
    ) -> StoreResult<Written<Message>> {
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        let (row, _, _) = resolve(&tx, editor, chat, Lock::Chat).await?;
        let old = load_message(&tx, row.key, id).await?.ok_or(Denied::MessageNotFound)?;
        if old.sender != editor {
            return Err(Denied::NotAuthor.into());
        }
        let message = edited(&old, edit, now)?;
        let entities_json = entities::encode(&message.entities);
        let text = message.text.as_str();
        let extra = codec::encode_extra(&codec::Extras::of(&message));
        let params: [&(dyn ToSql + Sync); 6] = [&text, &entities_json, &message.edit_date, &extra, &row.key.0, &id.0];
        let (_, recipients) = tokio::try_join!(
            execute(
                &tx,
                "UPDATE messages SET text = $1, entities = $2, edit_date = $3, extra = $4 WHERE chat_id = $5 AND id = $6",
                &params,
            ),
            message_recipients(&tx, row.key, editor),
        )?;
        let mut log = UpdateLog::new(row.key);
        log.push_all(&recipients, "message_edited", Some(id.0));
        let notify = log.write(&tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(Written { value: message, notify })
    }

    async fn delete_messages(&self, actor: UserId, chat: ChatId, ids: Vec<MessageId>) -> StoreResult<Written<()>> {
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        let (row, role, _) = resolve(&tx, actor, chat, Lock::Chat).await?;
        let mut ids: Vec<i64> = ids.into_iter().map(|i| i.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let rows = query(
            &tx,
            "SELECT id, sender_id FROM messages WHERE chat_id = $1 AND id = ANY($2) AND NOT deleted",
            &[&row.key.0, &ids],
        )
        .await?;
        let mut senders: HashMap<i64, i64> = HashMap::with_capacity(rows.len());
        for r in &rows {
            senders.insert(get(r, 0)?, get(r, 1)?);
        }
        // Checked in ascending id order so the first refusal is the one SQLite would give.
        for id in &ids {
            let sender = senders.get(id).ok_or(Denied::MessageNotFound)?;
            may_delete(actor, UserId(*sender), row.is_group, role)?;
        }
        let mut log = UpdateLog::new(row.key);
        if !ids.is_empty() {
            let params: [&(dyn ToSql + Sync); 2] = [&row.key.0, &ids];
            let (_, members) = tokio::try_join!(
                execute(
                    &tx,
                    "UPDATE messages SET deleted = TRUE, text = '', entities = NULL, extra = NULL \
                     WHERE chat_id = $1 AND id = ANY($2)",
                    &params,
                ),
                people_ids(&tx, row.key),
            )?;
            for id in &ids {
                log.push_all(&members, "message_deleted", Some(*id));
            }
        }
        let notify = log.write(&tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(Written { value: (), notify })
    }

    async fn history(&self, viewer: UserId, chat: ChatId, page: HistoryPage) -> StoreResult<Vec<Message>> {
        let mut client = self.client().await?;
        let tx = read_tx(&mut client).await?;
        let (row, _, _) = resolve(&tx, viewer, chat, Lock::None).await?;
        let (sql, bound, limit, reverse) = match page {
            HistoryPage::Before { before, limit } => (
                concat!(
                    "SELECT ",
                    message_cols!(""),
                    " FROM messages WHERE chat_id = $1 AND NOT deleted AND id < $2 ORDER BY id DESC LIMIT $3"
                ),
                before.map_or(i64::MAX, |b| b.0),
                limit,
                true,
            ),
            HistoryPage::After { after, limit } => (
                concat!(
                    "SELECT ",
                    message_cols!(""),
                    " FROM messages WHERE chat_id = $1 AND NOT deleted AND id > $2 ORDER BY id ASC LIMIT $3"
                ),
                after.0,
                limit,
                false,
            ),
        };
        let rows = query(&tx, sql, &[&row.key.0, &bound, &i64::from(limit)]).await?;
        let mut out = rows.iter().map(|r| message_at(r, 0)).collect::<StoreResult<Vec<_>>>()?;
        if reverse {
            out.reverse();
        }
        tx.commit().await.map_err(db)?;
        Ok(out)
    }

    async fn mark_read(&self, reader: UserId, chat: ChatId, max_id: MessageId) -> StoreResult<Written<Chat>> {
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        let (row, _, current) = resolve(&tx, reader, chat, Lock::Chat).await?;
        let target = max_id.0.min(row.last_message_id);
        let mut log = UpdateLog::new(row.key);
        if target > current {
            execute(
                &tx,
                "UPDATE members SET read_inbox_max_id = $1 WHERE chat_id = $2 AND user_id = $3",
                &[&target, &row.key.0, &reader.0],
            )
            .await?;
            log.push(reader, "read_inbox", Some(target));
            let peer = row.peer_of(reader);
            if !row.is_group && !is_bot(&tx, peer).await? {
                log.push(peer, "read_outbox", Some(target));
            }
        }
        let notify = log.write(&tx).await?;
        let value = chat_view(&tx, reader, &row).await?;
        tx.commit().await.map_err(db)?;
        Ok(Written { value, notify })
    }

    async fn events_after(&self, user: UserId, cursor: u64, limit: u32) -> StoreResult<EventPage> {
        let limit = limit.min(crate::MAX_EVENTS_PAGE);
        let mut client = self.client().await?;
        let tx = read_tx(&mut client).await?;
        let rows = query(
            &tx,
            "SELECT seq, kind, chat_id, message_id FROM updates WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            &[&user.0, &(cursor as i64), &i64::from(limit)],
        )
        .await?;
        let entries = rows
            .iter()
            .map(|r| Ok((get::<i64>(r, 0)?, get::<String>(r, 1)?, ChatKey(get(r, 2)?), get::<Option<i64>>(r, 3)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        let scanned = entries.len() as u32;
        let next_cursor = entries.last().map_or(cursor, |e| e.0 as u64);

        // The chats and messages the page points at, each fetched in one statement.
        let mut keys: Vec<i64> = entries.iter().map(|e| e.2.0).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut chats: HashMap<ChatKey, ChatRow> = HashMap::with_capacity(keys.len());
        if !keys.is_empty() {
            for r in query(&tx, concat!("SELECT ", chat_cols!(""), " FROM chats WHERE id = ANY($1)"), &[&keys]).await? {
                let row = chat_at(&r, 0)?;
                chats.insert(row.key, row);
            }
        }
        // Callback queries the page points at, and the messages their buttons are under.
        let query_ids: Vec<i64> = entries
            .iter()
            .filter(|e| matches!(e.1.as_str(), "callback_query" | "callback_answer"))
            .map(|e| e.3.unwrap_or(0))
            .collect();
        let mut queries: HashMap<i64, CallbackQuery> = HashMap::with_capacity(query_ids.len());
        if !query_ids.is_empty() {
            let sql = format!("SELECT {CALLBACK_COLS} FROM callback_queries WHERE id = ANY($1)");
            for r in query(&tx, &sql, &[&query_ids]).await? {
                let q = callback_at(&r)?;
                queries.insert(q.id, q);
            }
        }
        // Member events the page points at.
        let event_ids: Vec<i64> = entries.iter().filter(|e| e.1 == "member_status").map(|e| e.3.unwrap_or(0)).collect();
        let mut member_events: HashMap<i64, MemberChange> = HashMap::with_capacity(event_ids.len());
        if !event_ids.is_empty() {
            let sql = format!("SELECT {MEMBER_EVENT_COLS} FROM member_events WHERE id = ANY($1)");
            for r in query(&tx, &sql, &[&event_ids]).await? {
                let (id, change) = member_event_at(&r)?;
                member_events.insert(id, change);
            }
        }
        // Poll answers and reaction changes the page points at.
        let answer_ids: Vec<i64> = entries.iter().filter(|e| e.1 == "poll_answer").map(|e| e.3.unwrap_or(0)).collect();
        let mut answers: HashMap<i64, PollAnswer> = HashMap::with_capacity(answer_ids.len());
        if !answer_ids.is_empty() {
            let sql = "SELECT id, poll_id, user_id, option_ids FROM poll_answers WHERE id = ANY($1)";
            for r in query(&tx, sql, &[&answer_ids]).await? {
                let answer = PollAnswer {
                    poll_id: get(&r, 1)?,
                    user: UserId(get(&r, 2)?),
                    option_ids: option_ids_in(get(&r, 3)?)?,
                };
                answers.insert(get(&r, 0)?, answer);
            }
        }
        let change_ids: Vec<i64> =
            entries.iter().filter(|e| e.1 == "message_reaction").map(|e| e.3.unwrap_or(0)).collect();
        let mut reaction_changes: HashMap<i64, ReactionChange> = HashMap::with_capacity(change_ids.len());
        if !change_ids.is_empty() {
            let sql = format!("SELECT {REACTION_EVENT_COLS} FROM reaction_events WHERE id = ANY($1)");
            for r in query(&tx, &sql, &[&change_ids]).await? {
                let (id, change) = reaction_event_at(&r)?;
                reaction_changes.insert(id, change);
            }
        }
        // Reactions on the messages the page's reactions_updated entries point at.
        let (reacted_chats, reacted_ids): (Vec<i64>, Vec<i64>) =
            entries.iter().filter(|e| e.1 == "reactions_updated").map(|e| (e.2.0, e.3.unwrap_or(0))).unzip();
        let reactions = reaction_rows(&tx, &reacted_chats, &reacted_ids).await?;
        let (mut wanted_chats, mut wanted_ids): (Vec<i64>, Vec<i64>) = entries
            .iter()
            .filter(|e| matches!(e.1.as_str(), "message_new" | "message_edited" | "poll_updated" | "reactions_updated"))
            .map(|e| (e.2.0, e.3.unwrap_or(0)))
            .unzip();
        for e in entries.iter().filter(|e| e.1 == "callback_query") {
            if let Some(q) = queries.get(&e.3.unwrap_or(0)) {
                wanted_chats.push(q.chat.0);
                wanted_ids.push(q.message_id.0);
            }
        }
        let mut messages: HashMap<(ChatKey, MessageId), Message> = HashMap::with_capacity(wanted_ids.len());
        if !wanted_ids.is_empty() {
            let sql = concat!(
                "SELECT ",
                message_cols!("m."),
                " FROM messages m JOIN (SELECT DISTINCT * FROM unnest($1::bigint[], $2::bigint[])) AS k(chat_id, id) \
                 ON m.chat_id = k.chat_id AND m.id = k.id WHERE NOT m.deleted"
            );
            for r in query(&tx, sql, &[&wanted_chats, &wanted_ids]).await? {
                let message = message_at(&r, 0)?;
                messages.insert((message.chat, message.id), message);
            }
        }

        // The polls of the messages the page's poll_updated entries point at, as the reader sees them.
        let mut poll_ids: Vec<String> = entries
            .iter()
            .filter(|e| e.1 == "poll_updated")
            .filter_map(|e| messages.get(&(e.2, MessageId(e.3.unwrap_or(0))))?.poll.clone())
            .collect();
        poll_ids.sort_unstable();
        poll_ids.dedup();
        let polls = load_polls(&tx, &poll_ids, user).await?;

        // Payments and shipping queries the page points at.
        let payment_ids: Vec<i64> = entries
            .iter()
            .filter(|e| matches!(e.1.as_str(), "pre_checkout_query" | "payment_updated"))
            .map(|e| e.3.unwrap_or(0))
            .collect();
        let payment_rows = payments::load_payments(&tx, &payment_ids).await?;
        let shipping_ids: Vec<i64> = entries
            .iter()
            .filter(|e| matches!(e.1.as_str(), "shipping_query" | "shipping_answered"))
            .map(|e| e.3.unwrap_or(0))
            .collect();
        let shipping_rows = payments::load_shipping_queries(&tx, &shipping_ids).await?;

        // Views are taken from one snapshot, so one per chat serves every entry about it.
        let mut views: HashMap<ChatKey, Option<Chat>> = HashMap::new();
        let mut out = Vec::with_capacity(entries.len());
        for (seq, kind, key, message_id) in entries {
            let Some(row) = chats.get(&key) else { continue };
            let chat_id = row.id_for(user);
            let mid = MessageId(message_id.unwrap_or(0));
            let body = match kind.as_str() {
                "message_new" | "message_edited" => {
                    let Some(message) = messages.get(&(key, mid)).cloned() else { continue };
                    if kind == "message_new" {
                        EventBody::MessageNew { chat_id, message }
                    } else {
                        EventBody::MessageEdited { chat_id, message }
                    }
                }
                "message_deleted" => EventBody::MessageDeleted { chat_id, message_id: mid },
                "chat_updated" => {
                    let view = match views.get(&key) {
                        Some(v) => v.clone(),
                        None => {
                            let v = match chat_view(&tx, user, row).await {
                                Ok(chat) => Some(chat),
                                Err(StoreError::Denied(Denied::ChatNotFound)) => None,
                                Err(e) => return Err(e),
                            };
                            views.insert(key, v.clone());
                            v
                        }
                    };
                    let Some(chat) = view else { continue };
                    EventBody::ChatUpdated { chat }
                }
                "chat_removed" => EventBody::ChatRemoved { chat_id },
                "read_inbox" => EventBody::ReadInbox { chat_id, max_id: mid },
                "read_outbox" => EventBody::ReadOutbox { chat_id, max_id: mid },
                "callback_query" => {
                    let query =
                        queries.get(&mid.0).cloned().ok_or(StoreError::Backend("lost callback query".into()))?;
                    let message = messages.get(&(query.chat, query.message_id)).cloned();
                    EventBody::CallbackQuery { chat_id, query, message }
                }
                "member_status" => {
                    let change =
                        member_events.get(&mid.0).copied().ok_or(StoreError::Backend("lost member event".into()))?;
                    EventBody::MemberChanged { chat_id, change }
                }
                "callback_answer" => {
                    let query =
                        queries.get(&mid.0).cloned().ok_or(StoreError::Backend("lost callback query".into()))?;
                    EventBody::CallbackAnswer { chat_id, query }
                }
                "poll_updated" => {
                    let Some(poll_id) = messages.get(&(key, mid)).and_then(|m| m.poll.as_ref()) else { continue };
                    let Some(at) = polls.get(poll_id) else { continue };
                    EventBody::PollUpdated { chat_id, message_id: mid, poll: at.poll.clone() }
                }
                "poll_answer" => {
                    let answer = answers.get(&mid.0).cloned().ok_or(StoreError::Backend("lost poll answer".into()))?;
                    EventBody::PollAnswered { answer }
                }
                "reactions_updated" => {
                    // The message is gone: its deletion follows in this log.
                    if !messages.contains_key(&(key, mid)) {
                        continue;
                    }
                    let rows = reactions.get(&(key, mid)).map_or(&[][..], |r| r.as_slice());
                    EventBody::ReactionsUpdated { chat_id, message_id: mid, reactions: count_reactions(rows, user) }
                }
                "message_reaction" => {
                    let change = reaction_changes
                        .get(&mid.0)
                        .cloned()
                        .ok_or(StoreError::Backend("lost reaction event".into()))?;
                    EventBody::MessageReaction { chat_id, change }
                }
                "pre_checkout_query" | "payment_updated" => {
                    let payment =
                        payment_rows.get(&mid.0).cloned().ok_or(StoreError::Backend("lost payment".into()))?;
                    if kind == "payment_updated" {
                        EventBody::PaymentUpdated { payment }
                    } else {
                        EventBody::PreCheckoutQuery { payment }
                    }
                }
                "shipping_query" | "shipping_answered" => {
                    let query =
                        shipping_rows.get(&mid.0).cloned().ok_or(StoreError::Backend("lost shipping query".into()))?;
                    if kind == "shipping_answered" {
                        EventBody::ShippingAnswered { query }
                    } else {
                        EventBody::ShippingQuery { query }
                    }
                }
                other => return Err(StoreError::Backend(format!("unknown update kind {other:?}"))),
            };
            out.push(Event { seq: seq as u64, body });
        }
        tx.commit().await.map_err(db)?;
        Ok(EventPage { events: out, next_cursor, scanned })
    }

    async fn current_cursor(&self, user: UserId) -> StoreResult<u64> {
        let client = self.client().await?;
        let row = query_opt(&client, "SELECT seq FROM user_seqs WHERE user_id = $1", &[&user.0]).await?;
        let seq: i64 = get(&row.ok_or(Denied::UserNotFound)?, 0)?;
        Ok(seq as u64)
    }

    async fn set_blocked(&self, user: UserId, peer: UserId, blocked: bool, now: i64) -> StoreResult<Written<()>> {
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        let (row, _, _) = resolve(&tx, user, ChatId::private(peer), Lock::Chat).await?;
        if row.is_group {
            return Err(Denied::NotPrivate.into());
        }
        let was = blocked_peer(&tx, row.key, user).await?.ok_or(Denied::ChatNotFound)?;
        let mut log = UpdateLog::new(row.key);
        if was != blocked {
            execute(
                &tx,
                "UPDATE members SET blocked_peer = $1 WHERE chat_id = $2 AND user_id = $3",
                &[&blocked, &row.key.0, &user.0],
            )
            .await?;
            log.push(user, "chat_updated", None);
            let (old, new) = if blocked {
                (MemberStatus::Member, MemberStatus::Kicked)
            } else {
                (MemberStatus::Kicked, MemberStatus::Member)
            };
            let change = MemberChange { chat: row.key, user: peer, actor: user, old, new, date: now };
            note_member_change(&tx, &mut log, change).await?;
        }
        let notify = log.write(&tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(Written { value: (), notify })
    }

    async fn is_blocked(&self, user: UserId, peer: UserId) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = read_tx(&mut client).await?;
        let (row, _, _) = resolve(&tx, user, ChatId::private(peer), Lock::None).await?;
        let blocked = blocked_peer(&tx, row.key, user).await?.ok_or(Denied::ChatNotFound)?;
        tx.commit().await.map_err(db)?;
        Ok(blocked)
    }

    async fn member_status(
        &self,
        viewer: UserId,
        chat: ChatId,
        user: UserId,
        now: i64,
    ) -> StoreResult<(MemberStatus, Option<i64>)> {
        let mut client = self.client().await?;
        let tx = read_tx(&mut client).await?;
        let (row, _, _) = resolve(&tx, viewer, chat, Lock::None).await?;
        let status = if !row.is_group {
            if user == viewer || user == row.peer_of(viewer) {
                (MemberStatus::Member, None)
            } else {
                return Err(Denied::UserNotFound.into());
            }
        } else if let Some((role, _)) = member_row(&tx, row.key, user).await? {
            (MemberStatus::of_role(role), None)
        } else {
            load_user(&tx, user).await?;
            match ban_of(&tx, row.key, user).await? {
                Some(until) if ban_in_force(until, now) => (MemberStatus::Kicked, until),
                _ => (MemberStatus::Left, None),
            }
        };
        tx.commit().await.map_err(db)?;
        Ok(status)
    }

    async fn pin_message(&self, actor: UserId, chat: ChatId, id: MessageId, now: i64) -> StoreResult<Written<Message>> {
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        let (row, role, _) = resolve(&tx, actor, chat, Lock::Chat).await?;
        may_pin(row.is_group, role)?;
        let m = load_message(&tx, row.key, id).await?.ok_or(Denied::MessageNotFound)?;
        if m.service.is_some() {
            return Err(Denied::MessageNotFound.into());
        }
        execute(
            &tx,
            "INSERT INTO pins (chat_id, message_id, pinned_by, pinned_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (chat_id, message_id) DO UPDATE SET pinned_by = excluded.pinned_by, pinned_at = excluded.pinned_at",
            &[&row.key.0, &id.0, &actor.0, &now],
        )
        .await?;
        let mut log = UpdateLog::new(row.key);
        let service = NewMessage::service(ServiceAction::PinnedMessage(id));
        let value = insert_message(&tx, &mut log, &row, actor, service, now).await?;
        let notify = log.write(&tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(Written { value, notify })
    }

    async fn unpin_messages(
        &self,
        actor: UserId,
        chat: ChatId,
        id: Option<MessageId>,
        all: bool,
    ) -> StoreResult<Written<()>> {
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        let (row, role, _) = resolve(&tx, actor, chat, Lock::Chat).await?;
        may_pin(row.is_group, role)?;
        let removed = if all {
            execute(&tx, "DELETE FROM pins WHERE chat_id = $1", &[&row.key.0]).await?
        } else {
            let target = match id {
                Some(id) => Some(id),
                None => newest_pin(&tx, row.key).await?.map(|m| m.id),
            };
            match target {
                Some(id) => {
                    execute(&tx, "DELETE FROM pins WHERE chat_id = $1 AND message_id = $2", &[&row.key.0, &id.0])
                        .await?
                }
                None => 0,
            }
        };
        let mut log = UpdateLog::new(row.key);
        if removed > 0 {
            log.push_all(&people_ids(&tx, row.key).await?, "chat_updated", None);
        }
        let notify = log.write(&tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(Written { value: (), notify })
    }

    async fn pinned_message(&self, viewer: UserId, chat: ChatId) -> StoreResult<Option<Message>> {
        let mut client = self.client().await?;
        let tx = read_tx(&mut client).await?;
        let (row, _, _) = resolve(&tx, viewer, chat, Lock::None).await?;
        let pinned = newest_pin(&tx, row.key).await?;
        tx.commit().await.map_err(db)?;
        Ok(pinned)
    }

    // ---- polls and reactions ----

    async fn poll(&self, viewer: UserId, id: &str) -> StoreResult<Poll> {
        let mut client = self.client().await?;
        let tx = read_tx(&mut client).await?;
        let at = load_poll(&tx, id, viewer).await?.ok_or(Denied::NoPoll)?;
        member_row(&tx, at.chat, viewer).await?.ok_or(Denied::NoPoll)?;
        tx.commit().await.map_err(db)?;
        Ok(at.poll)
    }

    async fn vote(
        &self,
        user: UserId,
        chat: ChatId,
        message: MessageId,
        option_ids: Vec<u8>,
        now: i64,
    ) -> StoreResult<Written<Poll>> {
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        let (row, _, _) = resolve(&tx, user, chat, Lock::Chat).await?;
        let m = load_message(&tx, row.key, message).await?.ok_or(Denied::MessageNotFound)?;
        let poll_id = m.poll.ok_or(Denied::NoPoll)?;
        let poll = load_poll(&tx, &poll_id, user).await?.ok_or(Denied::NoPoll)?.poll;
        if !poll.check_new_vote(&option_ids)? {
            return Ok(Written { value: poll, notify: vec![] });
        }
        let stored = option_ids_out(&option_ids);
        if option_ids.is_empty() {
            execute(&tx, "DELETE FROM poll_votes WHERE poll_id = $1 AND user_id = $2", &[&poll_id, &user.0]).await?;
        } else {
            execute(
                &tx,
                "INSERT INTO poll_votes (poll_id, user_id, option_ids, date) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (poll_id, user_id) DO UPDATE SET option_ids = excluded.option_ids, date = excluded.date",
                &[&poll_id, &user.0, &stored, &now],
            )
            .await?;
        }
        let mut log = UpdateLog::new(row.key);
        push_poll_updated(&tx, &mut log, row.key, message, m.sender).await?;
        if !poll.spec.is_anonymous && is_bot(&tx, m.sender).await? {
            let inserted = query_one(
                &tx,
                "INSERT INTO poll_answers (poll_id, user_id, option_ids, date) VALUES ($1, $2, $3, $4) RETURNING id",
                &[&poll_id, &user.0, &stored, &now],
            )
            .await?;
            log.push(m.sender, "poll_answer", Some(get(&inserted, 0)?));
        }
        let notify = log.write(&tx).await?;
        let poll = load_poll(&tx, &poll_id, user).await?.ok_or(Denied::NoPoll)?.poll;
        tx.commit().await.map_err(db)?;
        Ok(Written { value: poll, notify })
    }

    async fn stop_poll(
        &self,
        actor: UserId,
        chat: ChatId,
        message: MessageId,
        _now: i64,
    ) -> StoreResult<Written<Poll>> {
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        let (row, _, _) = resolve(&tx, actor, chat, Lock::Chat).await?;
        let m = load_message(&tx, row.key, message).await?.ok_or(Denied::MessageNotFound)?;
        let poll_id = m.poll.ok_or(Denied::NoPoll)?;
        if m.sender != actor {
            return Err(Denied::NotAuthor.into());
        }
        let mut poll = load_poll(&tx, &poll_id, actor).await?.ok_or(Denied::NoPoll)?.poll;
        if poll.spec.is_closed {
            return Err(Denied::PollClosed.into());
        }
        execute(&tx, "UPDATE polls SET closed = TRUE WHERE id = $1", &[&poll_id]).await?;
        let mut log = UpdateLog::new(row.key);
        push_poll_updated(&tx, &mut log, row.key, message, m.sender).await?;
        let notify = log.write(&tx).await?;
        tx.commit().await.map_err(db)?;
        // Closing changes nothing else the actor sees.
        poll.spec.is_closed = true;
        Ok(Written { value: poll, notify })
    }

    async fn set_reactions(
        &self,
        user: UserId,
        chat: ChatId,
        message: MessageId,
        emojis: Vec<String>,
        now: i64,
    ) -> StoreResult<Written<()>> {
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        let (row, _, _) = resolve(&tx, user, chat, Lock::Chat).await?;
        let m = load_message(&tx, row.key, message).await?.ok_or(Denied::MessageNotFound)?;
        if m.service.is_some() {
            return Err(Denied::MessageNotFound.into());
        }
        let old: Vec<String> = match query_opt(
            &tx,
            "SELECT emojis FROM reactions WHERE chat_id = $1 AND message_id = $2 AND user_id = $3",
            &[&row.key.0, &message.0, &user.0],
        )
        .await?
        {
            Some(r) => get(&r, 0)?,
            None => Vec::new(),
        };
        if old == emojis {
            return Ok(Written { value: (), notify: vec![] });
        }
        if emojis.is_empty() {
            execute(
                &tx,
                "DELETE FROM reactions WHERE chat_id = $1 AND message_id = $2 AND user_id = $3",
                &[&row.key.0, &message.0, &user.0],
            )
            .await?;
        } else {
            execute(
                &tx,
                "INSERT INTO reactions (chat_id, message_id, user_id, emojis, date) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (chat_id, message_id, user_id) DO UPDATE SET emojis = excluded.emojis, date = excluded.date",
                &[&row.key.0, &message.0, &user.0, &emojis, &now],
            )
            .await?;
        }
        // Bots hear of reactions in private chats, and in groups where they are admins.
        let params: [&(dyn ToSql + Sync); 3] = [&row.key.0, &user.0, &row.is_group];
        let (people, bots) = tokio::try_join!(
            people_ids(&tx, row.key),
            query(
                &tx,
                "SELECT m.user_id FROM members m JOIN users u ON u.id = m.user_id \
                 WHERE m.chat_id = $1 AND u.is_bot AND m.user_id <> $2 AND (NOT $3 OR m.role <> 'member') \
                 ORDER BY m.user_id",
                &params,
            ),
        )?;
        let mut log = UpdateLog::new(row.key);
        log.push_all(&people, "reactions_updated", Some(message.0));
        if !bots.is_empty() {
            let inserted = query_one(
                &tx,
                "INSERT INTO reaction_events (chat_id, message_id, user_id, old, new, date) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[&row.key.0, &message.0, &user.0, &old, &emojis, &now],
            )
            .await?;
            let id: i64 = get(&inserted, 0)?;
            for b in &bots {
                log.push(UserId(get(b, 0)?), "message_reaction", Some(id));
            }
        }
        let notify = log.write(&tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(Written { value: (), notify })
    }

    async fn reactions(
        &self,
        viewer: UserId,
        chat: ChatId,
        ids: Vec<MessageId>,
    ) -> StoreResult<HashMap<MessageId, Vec<ReactionCount>>> {
        let mut client = self.client().await?;
        let tx = read_tx(&mut client).await?;
        let (row, _, _) = resolve(&tx, viewer, chat, Lock::None).await?;
        let messages: Vec<i64> = ids.iter().map(|m| m.0).collect();
        let chats = vec![row.key.0; messages.len()];
        let rows = reaction_rows(&tx, &chats, &messages).await?;
        tx.commit().await.map_err(db)?;
        Ok(rows.into_iter().map(|((_, m), rows)| (m, count_reactions(&rows, viewer))).collect())
    }

    async fn press_button(
        &self,
        user: UserId,
        chat: ChatId,
        message: MessageId,
        data: String,
        now: i64,
    ) -> StoreResult<Written<CallbackQuery>> {
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        let (row, _, _) = resolve(&tx, user, chat, Lock::Chat).await?;
        let m = load_message(&tx, row.key, message).await?.ok_or(Denied::MessageNotFound)?;
        if !m.reply_markup.as_ref().is_some_and(|k| k.has_callback(&data)) || !is_bot(&tx, m.sender).await? {
            return Err(Denied::ButtonNotFound.into());
        }
        // The bot may have left the group since it sent the message; then nobody can answer.
        member_row(&tx, row.key, m.sender).await?.ok_or(Denied::ButtonNotFound)?;
        let inserted = query_one(
            &tx,
            "INSERT INTO callback_queries (bot_id, user_id, chat_id, message_id, data, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[&m.sender.0, &user.0, &row.key.0, &message.0, &data, &now],
        )
        .await?;
        let id: i64 = get(&inserted, 0)?;
        let mut log = UpdateLog::new(row.key);
        log.push(m.sender, "callback_query", Some(id));
        let notify = log.write(&tx).await?;
        tx.commit().await.map_err(db)?;
        let query = CallbackQuery {
            id,
            bot: m.sender,
            from: user,
            chat: row.key,
            message_id: message,
            data,
            created_at: now,
            answer: None,
        };
        Ok(Written { value: query, notify })
    }

    async fn answer_callback_query(
        &self,
        bot: UserId,
        id: i64,
        answer: CallbackAnswer,
        now: i64,
    ) -> StoreResult<Written<CallbackQuery>> {
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        // One statement checks and answers, so of two concurrent answers the second finds the query
        // answered (READ COMMITTED re-checks the row after waiting for the first).
        let sql = format!(
            "UPDATE callback_queries SET answer = $1, answered_at = $2 \
             WHERE id = $3 AND bot_id = $4 AND answer IS NULL AND $2 - created_at <= $5 RETURNING {CALLBACK_COLS}"
        );
        let row = query_opt(&tx, &sql, &[&codec::encode_answer(&answer), &now, &id, &bot.0, &CALLBACK_ANSWER_WINDOW])
            .await?
            .ok_or(Denied::QueryNotFound)?;
        let query = callback_at(&row)?;
        let mut log = UpdateLog::new(query.chat);
        log.push(query.from, "callback_answer", Some(id));
        let notify = log.write(&tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(Written { value: query, notify })
    }

    async fn callback_query(&self, user: UserId, id: i64) -> StoreResult<CallbackQuery> {
        let client = self.client().await?;
        let sql = format!("SELECT {CALLBACK_COLS} FROM callback_queries WHERE id = $1 AND user_id = $2");
        let row = query_opt(&client, &sql, &[&id, &user.0]).await?.ok_or(Denied::QueryNotFound)?;
        callback_at(&row)
    }

    async fn put_file(
        &self,
        owner: UserId,
        info: FileInfo,
        sha256: Vec<u8>,
        bytes: Vec<u8>,
        now: i64,
    ) -> StoreResult<FileInfo> {
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        execute(
            &tx,
            "INSERT INTO file_blobs (sha256, bytes) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
            &[&sha256, &bytes],
        )
        .await?;
        let width = info.width.map(i64::from);
        let height = info.height.map(i64::from);
        execute(
            &tx,
            "INSERT INTO files (file_id, sha256, unique_id, kind, size, mime_type, file_name, width, height, owner_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &info.file_id,
                &sha256,
                &info.unique_id,
                &info.kind.as_str(),
                &(info.size as i64),
                &info.mime_type,
                &info.file_name,
                &width,
                &height,
                &owner.0,
                &now,
            ],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(info)
    }

    async fn file(&self, file_id: &str) -> StoreResult<Option<FileInfo>> {
        let client = self.client().await?;
        let row = query_opt(
            &client,
            "SELECT file_id, unique_id, kind, size, mime_type, file_name, width, height FROM files WHERE file_id = $1",
            &[&file_id],
        )
        .await?;
        row.map(|r| {
            crate::file_info(
                get(&r, 0)?,
                get(&r, 1)?,
                get::<&str>(&r, 2)?,
                get(&r, 3)?,
                get(&r, 4)?,
                get(&r, 5)?,
                get(&r, 6)?,
                get(&r, 7)?,
            )
        })
        .transpose()
    }

    async fn file_bytes(&self, file_id: &str) -> StoreResult<Option<Vec<u8>>> {
        let client = self.client().await?;
        let row = query_opt(
            &client,
            "SELECT b.bytes FROM files f JOIN file_blobs b ON b.sha256 = f.sha256 WHERE f.file_id = $1",
            &[&file_id],
        )
        .await?;
        row.map(|r| get(&r, 0)).transpose()
    }

    async fn confirm_updates(&self, bot: UserId, offset: u64) -> StoreResult<()> {
        let client = self.client().await?;
        execute(
            &client,
            "INSERT INTO bot_offsets (bot_id, confirmed) VALUES ($1, $2) \
             ON CONFLICT (bot_id) DO UPDATE SET confirmed = GREATEST(bot_offsets.confirmed, excluded.confirmed)",
            &[&bot.0, &(offset as i64)],
        )
        .await?;
        Ok(())
    }

    async fn confirmed_offset(&self, bot: UserId) -> StoreResult<u64> {
        let client = self.client().await?;
        let row = query_opt(&client, "SELECT confirmed FROM bot_offsets WHERE bot_id = $1", &[&bot.0]).await?;
        let confirmed: i64 = row.map_or(Ok(0), |r| get(&r, 0))?;
        Ok(confirmed as u64)
    }

    async fn setting(&self, bot: UserId, key: &str) -> StoreResult<Option<String>> {
        let client = self.client().await?;
        let row = query_opt(&client, "SELECT value FROM bot_settings WHERE bot_id = $1 AND key = $2", &[&bot.0, &key])
            .await?;
        row.map(|r| get(&r, 0)).transpose()
    }

    async fn put_webapp(&self, app: WebApp) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        if app.main {
            // Two apps made main at once would each miss the other's uncommitted row, so main
            // changes of one bot are serialised on its user row, which no other write locks (the
            // update log's seqs are in `user_seqs`), so this wait cannot close a cycle.
            query_opt(&tx, "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE", &[&app.bot.0]).await?;
            execute(
                &tx,
                "UPDATE webapps SET main = FALSE WHERE bot_id = $1 AND main AND short_name <> $2",
                &[&app.bot.0, &app.short_name.as_str()],
            )
            .await?;
        }
        execute(
            &tx,
            "INSERT INTO webapps (bot_id, short_name, title, description, url, main) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (bot_id, short_name) DO UPDATE SET title = excluded.title, \
             description = excluded.description, url = excluded.url, main = excluded.main",
            &[
                &app.bot.0,
                &app.short_name.as_str(),
                &app.title,
                &app.description,
                &app.url.as_ref().map_or("", |u| u.as_str()),
                &app.main,
            ],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn webapps(&self, bot: UserId) -> StoreResult<Vec<WebApp>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            // Byte order, as SQLite sorts, whatever the database's collation.
            "SELECT short_name, title, description, url, main, live_version::BIGINT FROM webapps WHERE bot_id = $1 \
             ORDER BY short_name COLLATE \"C\"",
            &[&bot.0],
        )
        .await?;
        rows.iter()
            .map(|r| webapp_row(bot, get(r, 0)?, get(r, 1)?, get(r, 2)?, get(r, 3)?, get(r, 4)?, get(r, 5)?))
            .collect()
    }

    async fn put_launch(&self, l: Launch) -> StoreResult<()> {
        let client = self.client().await?;
        execute(
            &client,
            "INSERT INTO webapp_launches (query_id, bot_id, user_id, chat_id, source, button_text, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &l.query_id,
                &l.bot.0,
                &l.user.0,
                &l.chat.map(|c| c.0),
                &l.source.as_str(),
                &l.button_text,
                &l.created_at,
            ],
        )
        .await?;
        Ok(())
    }

    async fn launch(&self, query_id: &str) -> StoreResult<Option<Launch>> {
        let client = self.client().await?;
        let row = query_opt(
            &client,
            "SELECT bot_id, user_id, chat_id, source, button_text, created_at FROM webapp_launches WHERE query_id = $1",
            &[&query_id],
        )
        .await?;
        row.map(|r| {
            launch_row(
                query_id.to_string(),
                get(&r, 0)?,
                get(&r, 1)?,
                get(&r, 2)?,
                get(&r, 3)?,
                get(&r, 4)?,
                get(&r, 5)?,
            )
        })
        .transpose()
    }

    async fn use_launch(&self, query_id: &str) -> StoreResult<bool> {
        let client = self.client().await?;
        // One statement: of two concurrent uses the second waits for the first and then finds the
        // launch used (READ COMMITTED re-checks the row).
        let n =
            execute(&client, "UPDATE webapp_launches SET used = TRUE WHERE query_id = $1 AND NOT used", &[&query_id])
                .await?;
        Ok(n == 1)
    }

    async fn deploy_webapp(
        &self,
        bot: UserId,
        short_name: &ShortName,
        files: Vec<BundleFile>,
        digest: Vec<u8>,
        now: i64,
    ) -> StoreResult<u32> {
        let short = short_name.as_str();
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        // The app's row lock serialises deploys of one app, so version numbers never collide.
        if query_opt(&tx, "SELECT 1 FROM webapps WHERE bot_id = $1 AND short_name = $2 FOR UPDATE", &[&bot.0, &short])
            .await?
            .is_none()
        {
            return Err(Denied::WebAppNotFound.into());
        }
        let version: i32 = query_one(
            &tx,
            "SELECT COALESCE(MAX(version), 0) + 1 FROM webapp_versions WHERE bot_id = $1 AND short_name = $2",
            &[&bot.0, &short],
        )
        .await?
        .get(0);
        let total: usize = files.iter().map(|f| f.bytes.len()).sum();
        execute(
            &tx,
            "INSERT INTO webapp_versions (bot_id, short_name, version, created_at, files, bytes, digest) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&bot.0, &short, &version, &now, &(files.len() as i32), &(total as i64), &digest],
        )
        .await?;
        for f in &files {
            execute(
                &tx,
                "INSERT INTO file_blobs (sha256, bytes) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
                &[&f.sha256, &f.bytes],
            )
            .await?;
            execute(
                &tx,
                "INSERT INTO webapp_files (bot_id, short_name, version, path, sha256, content_type) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&bot.0, &short, &version, &f.path, &f.sha256, &f.content_type],
            )
            .await?;
        }
        execute(
            &tx,
            "UPDATE webapps SET live_version = $3 WHERE bot_id = $1 AND short_name = $2",
            &[&bot.0, &short, &version],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(version as u32)
    }

    async fn webapp_versions(&self, bot: UserId, short_name: &ShortName) -> StoreResult<Vec<AppVersion>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT version, created_at, files, bytes, digest FROM webapp_versions WHERE bot_id = $1 AND short_name = $2 \
             ORDER BY version",
            &[&bot.0, &short_name.as_str()],
        )
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AppVersion {
                    version: get::<i32>(r, 0)? as u32,
                    created_at: get(r, 1)?,
                    files: get::<i32>(r, 2)? as u32,
                    bytes: get::<i64>(r, 3)? as u64,
                    digest: get(r, 4)?,
                })
            })
            .collect()
    }

    async fn set_live_version(&self, bot: UserId, short_name: &ShortName, version: u32) -> StoreResult<()> {
        let client = self.client().await?;
        // One statement: the version must exist when the app starts serving it.
        let n = execute(
            &client,
            "UPDATE webapps SET live_version = $3 WHERE bot_id = $1 AND short_name = $2 AND EXISTS \
             (SELECT 1 FROM webapp_versions v WHERE v.bot_id = $1 AND v.short_name = $2 AND v.version = $3)",
            &[&bot.0, &short_name.as_str(), &(version as i32)],
        )
        .await?;
        if n == 0 {
            return Err(Denied::AppVersionNotFound.into());
        }
        Ok(())
    }

    async fn webapp_file(
        &self,
        bot: UserId,
        short_name: &ShortName,
        version: u32,
        path: &str,
    ) -> StoreResult<Option<HostedFile>> {
        let client = self.client().await?;
        let row = query_opt(
            &client,
            "SELECT f.content_type, f.sha256, b.bytes FROM webapp_files f JOIN file_blobs b ON b.sha256 = f.sha256 \
             WHERE f.bot_id = $1 AND f.short_name = $2 AND f.version = $3 AND f.path = $4",
            &[&bot.0, &short_name.as_str(), &(version as i32), &path],
        )
        .await?;
        row.map(|r| Ok(HostedFile { content_type: get(&r, 0)?, sha256: get(&r, 1)?, bytes: get(&r, 2)? })).transpose()
    }

    async fn transfer(&self, t: NewTransfer, now: i64) -> StoreResult<Transfer> {
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        match apply_transfer(&tx, &t, now).await? {
            TransferOutcome::Made(done) => {
                tx.commit().await.map_err(db)?;
                Ok(done)
            }
            TransferOutcome::Found(done) => Ok(done),
            TransferOutcome::KeyTaken => {
                // The key was taken meanwhile by a transfer between other accounts.
                drop(tx);
                let client = self.client().await?;
                let done = transfer_at(&query_one(&client, SELECT_TRANSFER, &[&t.key]).await?, &t.key)?;
                if (done.from, done.to, done.amount) == (t.from, t.to, t.amount) {
                    Ok(done)
                } else {
                    Err(Denied::TransferKeyReused.into())
                }
            }
        }
    }

    async fn balance(&self, account: Account) -> StoreResult<i64> {
        let client = self.client().await?;
        let row =
            query_opt(&client, "SELECT balance FROM ledger_balances WHERE account = $1", &[&account.key()]).await?;
        row.map(|r| get(&r, 0)).transpose().map(|b| b.unwrap_or(0))
    }

    async fn ledger_entries(&self, account: Account, before: Option<i64>, limit: u32) -> StoreResult<Vec<Entry>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT e.transfer_id, e.delta, e.balance, t.from_account, t.to_account, t.memo, t.at \
             FROM ledger_entries e JOIN ledger_transfers t ON t.id = e.transfer_id \
             WHERE e.account = $1 AND e.transfer_id < $2 ORDER BY e.transfer_id DESC LIMIT $3",
            &[&account.key(), &before.unwrap_or(i64::MAX), &i64::from(limit)],
        )
        .await?;
        rows.iter()
            .map(|r| {
                entry_row(
                    account,
                    get(r, 0)?,
                    get(r, 1)?,
                    get(r, 2)?,
                    &get::<String>(r, 3)?,
                    &get::<String>(r, 4)?,
                    get(r, 5)?,
                    get(r, 6)?,
                )
            })
            .collect()
    }

    async fn ledger_entries_from(&self, account: Account, offset: u32, limit: u32) -> StoreResult<Vec<Entry>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT e.transfer_id, e.delta, e.balance, t.from_account, t.to_account, t.memo, t.at \
             FROM ledger_entries e JOIN ledger_transfers t ON t.id = e.transfer_id \
             WHERE e.account = $1 ORDER BY e.transfer_id LIMIT $2 OFFSET $3",
            &[&account.key(), &i64::from(limit), &i64::from(offset)],
        )
        .await?;
        rows.iter()
            .map(|r| {
                entry_row(
                    account,
                    get(r, 0)?,
                    get(r, 1)?,
                    get(r, 2)?,
                    &get::<String>(r, 3)?,
                    &get::<String>(r, 4)?,
                    get(r, 5)?,
                    get(r, 6)?,
                )
            })
            .collect()
    }

    async fn ledger_check(&self) -> StoreResult<LedgerCheck> {
        let client = self.client().await?;
        let r =
            query_one(&client, "SELECT COALESCE(SUM(balance), 0)::BIGINT, COUNT(*) FROM ledger_balances", &[]).await?;
        let (total, accounts): (i64, i64) = (get(&r, 0)?, get(&r, 1)?);
        let rows = query(
            &client,
            "SELECT b.account FROM ledger_balances b LEFT JOIN \
             (SELECT account, SUM(delta)::BIGINT AS s FROM ledger_entries GROUP BY account) e ON e.account = b.account \
             WHERE b.balance <> COALESCE(e.s, 0) ORDER BY b.account COLLATE \"C\"",
            &[],
        )
        .await?;
        let mismatched = rows.iter().map(|r| stored_account(&get::<String>(r, 0)?)).collect::<StoreResult<_>>()?;
        Ok(LedgerCheck { total, accounts: accounts as u64, mismatched })
    }

    async fn send_invoice(
        &self,
        bot: UserId,
        chat: ChatId,
        slug: String,
        spec: InvoiceSpec,
        message: NewMessage,
        now: i64,
    ) -> StoreResult<Written<Message>> {
        payments::send_invoice(self, bot, chat, slug, spec, message, now).await
    }

    async fn put_invoice(&self, bot: UserId, slug: String, spec: InvoiceSpec, now: i64) -> StoreResult<Invoice> {
        payments::put_invoice(self, bot, slug, spec, now).await
    }

    async fn invoice(&self, slug: &str) -> StoreResult<Option<Invoice>> {
        payments::invoice(self, slug).await
    }

    async fn start_shipping_query(
        &self,
        user: UserId,
        invoice: &str,
        address: ShippingAddress,
        now: i64,
    ) -> StoreResult<Written<ShippingQuery>> {
        payments::start_shipping_query(self, user, invoice, address, now).await
    }

    async fn answer_shipping_query(
        &self,
        bot: UserId,
        id: i64,
        answer: ShippingAnswer,
        now: i64,
    ) -> StoreResult<Written<ShippingQuery>> {
        payments::answer_shipping_query(self, bot, id, answer, now).await
    }

    async fn shipping_query(&self, id: i64) -> StoreResult<Option<ShippingQuery>> {
        payments::shipping_query(self, id).await
    }

    async fn start_payment(&self, p: NewPayment, now: i64) -> StoreResult<Written<Payment>> {
        payments::start_payment(self, p, now).await
    }

    async fn answer_pre_checkout(
        &self,
        bot: UserId,
        id: i64,
        accept: Result<(), String>,
        now: i64,
    ) -> StoreResult<Written<Payment>> {
        payments::answer_pre_checkout(self, bot, id, accept, now).await
    }

    async fn finish_card_payment(
        &self,
        id: i64,
        outcome: Result<String, String>,
        now: i64,
    ) -> StoreResult<Written<Payment>> {
        payments::finish_card_payment(self, id, outcome, now).await
    }

    async fn cancel_payment(&self, id: i64, now: i64) -> StoreResult<Written<Payment>> {
        payments::cancel_payment(self, id, now).await
    }

    async fn payment(&self, id: i64) -> StoreResult<Option<Payment>> {
        payments::payment(self, id).await
    }

    async fn payment_by_charge(&self, bot: UserId, charge_id: &str) -> StoreResult<Option<Payment>> {
        payments::payment_by_charge(self, bot, charge_id).await
    }

    async fn open_payments(&self, limit: u32) -> StoreResult<Vec<Payment>> {
        payments::open_payments(self, limit).await
    }

    async fn user_payments(&self, user: UserId, limit: u32) -> StoreResult<Vec<Payment>> {
        payments::user_payments(self, user, limit).await
    }

    async fn paid_payment(&self, user: UserId, invoice: &str) -> StoreResult<Option<Payment>> {
        payments::paid_payment(self, user, invoice).await
    }

    async fn refund_payment(
        &self,
        bot: UserId,
        user: UserId,
        charge_id: &str,
        now: i64,
    ) -> StoreResult<Written<Payment>> {
        payments::refund_payment(self, bot, user, charge_id, now).await
    }

    async fn subscriptions(&self, user: UserId) -> StoreResult<Vec<Subscription>> {
        payments::subscriptions(self, user).await
    }

    async fn subscription(&self, id: i64) -> StoreResult<Option<Subscription>> {
        payments::subscription(self, id).await
    }

    async fn set_subscription_canceled(&self, id: i64, by_bot: bool, canceled: bool) -> StoreResult<Subscription> {
        payments::set_subscription_canceled(self, id, by_bot, canceled).await
    }

    async fn due_subscriptions(&self, now: i64, limit: u32) -> StoreResult<Vec<Subscription>> {
        payments::due_subscriptions(self, now, limit).await
    }

    async fn renew_subscription(&self, id: i64, now: i64) -> StoreResult<Written<Option<Payment>>> {
        payments::renew_subscription(self, id, now).await
    }

    async fn put_prepared_message(&self, m: PreparedMessage) -> StoreResult<()> {
        let client = self.client().await?;
        execute(
            &client,
            "INSERT INTO prepared_messages (id, bot_id, user_id, text, entities, extra, chat_types, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &m.id,
                &m.bot.0,
                &m.user.0,
                &m.message.text.as_str(),
                &entities::encode(&m.message.entities),
                &codec::encode_extra(&codec::Extras::of_new(&m.message)),
                &i32::from(m.chat_types),
                &m.expires_at,
            ],
        )
        .await?;
        Ok(())
    }

    async fn prepared_message(&self, id: &str) -> StoreResult<Option<PreparedMessage>> {
        let client = self.client().await?;
        let row = query_opt(
            &client,
            "SELECT bot_id, user_id, text, entities, extra, chat_types, expires_at FROM prepared_messages WHERE id = $1",
            &[&id],
        )
        .await?;
        row.map(|r| {
            Ok(PreparedMessage {
                id: id.to_string(),
                bot: UserId(get(&r, 0)?),
                user: UserId(get(&r, 1)?),
                message: codec::new_message_from_columns(
                    get(&r, 2)?,
                    get::<Option<String>>(&r, 3)?.as_deref(),
                    get::<Option<String>>(&r, 4)?.as_deref(),
                )?,
                chat_types: get::<i32>(&r, 5)? as u8,
                expires_at: get(&r, 6)?,
            })
        })
        .transpose()
    }

    async fn cloud_set(&self, bot: UserId, user: UserId, key: String, value: String) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = write_tx(&mut client).await?;
        let n = execute(
            &tx,
            "UPDATE cloud_storage SET value = $4 WHERE bot_id = $1 AND user_id = $2 AND key = $3",
            &[&bot.0, &user.0, &key, &value],
        )
        .await?;
        if n == 0 {
            // New keys of one user and bot are counted one transaction at a time, so two
            // concurrent inserts cannot both pass the limit.
            execute(&tx, "SELECT pg_advisory_xact_lock($1, $2)", &[&(bot.0 as i32), &(user.0 as i32)]).await?;
            let count: i64 = query_one(
                &tx,
                "SELECT COUNT(*) FROM cloud_storage WHERE bot_id = $1 AND user_id = $2",
                &[&bot.0, &user.0],
            )
            .await?
            .get(0);
            if count as usize >= MAX_CLOUD_KEYS {
                return Err(Denied::StorageFull.into());
            }
            execute(
                &tx,
                "INSERT INTO cloud_storage (bot_id, user_id, key, value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (bot_id, user_id, key) DO UPDATE SET value = excluded.value",
                &[&bot.0, &user.0, &key, &value],
            )
            .await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn cloud_get(&self, bot: UserId, user: UserId, keys: Vec<String>) -> StoreResult<Vec<(String, String)>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT key, value FROM cloud_storage WHERE bot_id = $1 AND user_id = $2 AND key = ANY($3)",
            &[&bot.0, &user.0, &keys],
        )
        .await?;
        let found: std::collections::HashMap<String, String> =
            rows.iter().map(|r| Ok((get(r, 0)?, get(r, 1)?))).collect::<StoreResult<_>>()?;
        // In the order asked, as SQLite answers.
        Ok(keys.into_iter().filter_map(|k| found.get(&k).map(|v| (k.clone(), v.clone()))).collect())
    }

    async fn cloud_delete(&self, bot: UserId, user: UserId, keys: Vec<String>) -> StoreResult<()> {
        let client = self.client().await?;
        execute(
            &client,
            "DELETE FROM cloud_storage WHERE bot_id = $1 AND user_id = $2 AND key = ANY($3)",
            &[&bot.0, &user.0, &keys],
        )
        .await?;
        Ok(())
    }

    async fn cloud_keys(&self, bot: UserId, user: UserId) -> StoreResult<Vec<String>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT key FROM cloud_storage WHERE bot_id = $1 AND user_id = $2 ORDER BY key COLLATE \"C\"",
            &[&bot.0, &user.0],
        )
        .await?;
        rows.iter().map(|r| get(r, 0)).collect()
    }

    async fn instance_setting_or_init(&self, key: &str, init: String) -> StoreResult<String> {
        let client = self.client().await?;
        // Nodes starting together race to insert; whichever wins, all read the same row.
        execute(
            &client,
            "INSERT INTO instance_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            &[&key, &init],
        )
        .await?;
        Ok(query_one(&client, "SELECT value FROM instance_settings WHERE key = $1", &[&key]).await?.get(0))
    }

    async fn put_setting(&self, bot: UserId, key: &str, value: Option<String>) -> StoreResult<()> {
        let client = self.client().await?;
        match value {
            Some(v) => {
                execute(
                    &client,
                    "INSERT INTO bot_settings (bot_id, key, value) VALUES ($1, $2, $3) \
                     ON CONFLICT (bot_id, key) DO UPDATE SET value = excluded.value",
                    &[&bot.0, &key, &v],
                )
                .await?
            }
            None => {
                execute(&client, "DELETE FROM bot_settings WHERE bot_id = $1 AND key = $2", &[&bot.0, &key]).await?
            }
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_migration_file_is_listed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
        let files = std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "sql"))
            .count();
        assert_eq!(files, super::MIGRATIONS.len(), "a migration in {dir} is missing from MIGRATIONS");
    }

    #[test]
    fn user_ids_start_where_core_says() {
        let start = format!("START WITH {}", plaza_core::ids::FIRST_USER_ID);
        assert!(super::MIGRATIONS[0].contains(&start), "users.id must start at FIRST_USER_ID");
    }
}
