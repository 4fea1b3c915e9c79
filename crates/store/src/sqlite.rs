//! The embedded SQLite backend: one writer thread that group-commits, a few reader threads.
//!
//! Writes are closures queued to the writer thread. It takes every queued write (up to
//! [`MAX_BATCH`]), runs them in one transaction and commits once; a syncer thread then fsyncs the
//! WAL, and only then is each caller answered. Writes check their rules before they change a row,
//! so a refused write has nothing to undo; a write that fails after changing rows rolls back the
//! whole batch, whose callers are all told. Throughput therefore comes from sharing one fsync
//! between many writes, never from weaker sync settings: the fsync moved to its own thread so
//! that the writer runs the next batch while the disk flushes the last one (see [`Durability`]).
//!
//! Reads run on a small pool of read-only connections; WAL lets them proceed while the writer writes.
//! A read that saw a batch not yet on disk waits for its fsync before it answers.
//! A checkpointer thread copies the WAL into the database, so no commit waits for a checkpoint;
//! after each of its runs the writer copies the few frames committed meanwhile, so the next commit
//! starts the WAL over instead of growing it (see [`Checkpointer`]).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use async_trait::async_trait;
use plaza_core::ids::{ChatRef, FIRST_USER_ID};
use plaza_core::{
    Chat, ChatId, ChatKey, ChatKind, ChatSummary, Denied, DisplayName, GroupTitle, HistoryPage, LanguageCode,
    MAX_GROUP_MEMBERS, Member, MemberChange, MemberStatus, Message, MessageId, MessageText, NewMessage, PaymentReceipt,
    PhoneNumber, Role, ServiceAction, User, UserId, Username,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

use crate::chat_row::ChatRow;
use crate::rules::{ban_in_force, count_reactions, count_votes, edited, may_delete, may_pin, may_remove, private_pair};
use crate::{
    AppVersion, BotRecord, BundleFile, Event, EventBody, EventPage, GroupChange, HostedFile, Launch, LedgerCheck,
    MAX_CLOUD_KEYS, MessageEdit, NewAccount, PreparedMessage, ProfileChange, Store, StoreError, StoreResult,
    StoreStats, Written, codec, entities, entry_row, launch_row, stored_account, transfer_row, webapp_row,
};
use backlog::Backlog;
use plaza_core::bot::{CALLBACK_ANSWER_WINDOW, CallbackAnswer, CallbackQuery};
use plaza_core::file::FileInfo;
use plaza_core::ledger::{Account, Entry, NewTransfer, Transfer};
use plaza_core::payment::{
    CHECKOUT_WINDOW, Invoice, InvoiceSpec, NewPayment, Payment, PaymentState, ShippingAddress, ShippingAnswer,
    ShippingQuery, Subscription,
};
use plaza_core::poll::{NewPoll, Poll, PollAnswer, PollKind, ReactionChange, ReactionCount};
use plaza_core::webapp::{ShortName, WebApp};

mod backlog;

/// Most writes committed together.
pub const MAX_BATCH: usize = 512;
/// Writes waiting for the writer thread before callers wait to enqueue.
const WRITE_QUEUE: usize = 4096;
const READ_QUEUE: usize = 4096;

/// The schema's migrations in order; a database's `user_version` counts those it has seen.
/// Public so that a test can build a database as an earlier Plaza left it.
pub const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_init.sql"),
    include_str!("../migrations/sqlite/0002_recent_updates.sql"),
    include_str!("../migrations/sqlite/0003_bots.sql"),
    include_str!("../migrations/sqlite/0004_files.sql"),
    include_str!("../migrations/sqlite/0005_moderation.sql"),
    include_str!("../migrations/sqlite/0006_polls_reactions.sql"),
    include_str!("../migrations/sqlite/0007_instance.sql"),
    include_str!("../migrations/sqlite/0008_webapps.sql"),
    include_str!("../migrations/sqlite/0009_app_hosting.sql"),
    include_str!("../migrations/sqlite/0010_ledger.sql"),
    include_str!("../migrations/sqlite/0011_payments.sql"),
    include_str!("../migrations/sqlite/0012_ledger_recent.sql"),
    include_str!("../migrations/sqlite/0013_ledger_keys.sql"),
    include_str!("../migrations/sqlite/0014_messages_recent.sql"),
    include_str!("../migrations/sqlite/0015_update_blocks.sql"),
    include_str!("../migrations/sqlite/0016_messages_recent_unchecked.sql"),
];

/// Close a block of the update log once its oldest row is this old (or once it holds
/// `SqliteOptions::log_block_rows` rows); see `0015_update_blocks.sql`.
const COMPACT_AFTER: std::time::Duration = std::time::Duration::from_millis(100);

/// `messages_recent` is moved into `messages` after every this many blocks of the update log.
const MESSAGES_MOVE_EVERY: u32 = 4;

/// The fewest rows a slice of a move of `messages_recent` takes: about a millisecond of work too
/// (2,048 rows took 1.7 ms with foreign keys off). Each slice is a transaction of its own with
/// foreign keys turned off and on again, and that expires every statement the writer has
/// prepared: with 256-row slices, preparing them again cost 2 % of the server's CPU while
/// sending messages.
const MESSAGE_SLICE_ROWS: usize = 1024;

/// A move grown past this many slices' worth of rows takes bigger slices, so that a pass ends
/// within this many batches however far the writer fell behind.
const SLICES_PER_PASS: usize = 8;

/// Messages a chat must have had between two moves of `messages_recent` for its next ones to be
/// appended there. A chat's page of `messages` is written once per move for all its rows there,
/// so appending pays where a chat gets several messages between moves (a few busy chats), and
/// costs a little more where it gets about one (many quiet chats), whose messages therefore go
/// straight to `messages`. The Bot API benchmark's 1,000 chats, each getting about 9 messages
/// between moves at 24,000 sendMessage/s, measured 3 rounds each: 16 → 23,377 (median),
/// 8 → 24,204, 4 → 24,940 and 24,569, 2 → 24,490 with delivery's p99 above 11 ms.
const BUSY_CHAT_MESSAGES: u32 = 4;

/// Move `ledger_entries_recent` into `ledger_entries` once it holds this many rows. Only history
/// reads scan it (a wallet page, getStarTransactions), so it may grow larger than the update
/// log's: at 256 concurrent payers, moving every 8,192 entries writes about 25 WAL frames of
/// entries per batch where writing them in place wrote about 180.
const LEDGER_COMPACT_ROWS: usize = 8192;

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
type WriteJob = Box<dyn FnOnce(&Writer<'_>) -> (bool, Completion) + Send>;
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

pub struct SqliteStore {
    writer: flume::Sender<WriteJob>,
    readers: flume::Sender<ReadJob>,
    stats: Arc<WriterStats>,
    durability: Arc<Durability>,
    /// Stops its thread when the store goes.
    _checkpointer: Checkpointer,
}

/// How often the checkpointer copies the WAL into the database when there were commits. Pages
/// rewritten by many commits (chat heads, update-log tails) are copied once per checkpoint, not
/// once each, so a checkpoint a second copies each hot page at most once a second.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Once the checkpointer has seen this many WAL frames (128 MiB of 2 KiB pages), the writer
/// finishes its checkpoint so the WAL starts over; see [`SqliteOptions::wal_restart_frames`].
///
/// Each start-over stops the writer for about 10 ms (the copy of what was committed during the
/// checkpointer's run, and the database's fsync behind the checkpointer's), and the Bot API
/// benchmark's person → bot delivery (5,000 msg/s, about 12,000 frames a second) showed its
/// slowest messages in exactly those windows (traced: every slow cluster fell on a checkpoint).
/// At 16,384 frames that was every two seconds, and p99 5.29 and 5.64 ms; at 65,536, every five
/// to six seconds, and p99 4.76, 4.30, 3.79 and 3.78 ms, with sendMessage/s unchanged.
const RESTART_WAL_FRAMES: i64 = 64 * 1024;

/// A WAL that grew past this (under a burst, or while a long read held old frames) is cut back
/// to it when it starts over. It is above what steady load grows it to (the restart threshold
/// plus a second of frames: about 200 MiB at the Bot API benchmark's 30,000 sendMessage/s), because
/// cutting the file back and growing it again cost on every start-over: the `ftruncate` held the
/// writer for 5.5 ms, and the regrown file's blocks are allocated afresh (64 MiB limit against this
/// one, three runs each of 64 connections' `sendMessage`: 34,072/34,120/34,047 against
/// 34,826/34,577/34,832 per second).
const WAL_SIZE_LIMIT: i64 = 256 * 1024 * 1024;

/// How far the writer's batches have got: committed, and on disk.
///
/// The writer commits with `synchronous=NORMAL`, which writes the batch's WAL frames without an
/// fsync, and hands the batch to the syncer thread, which fsyncs the WAL file and only then
/// answers the batch's callers; meanwhile the writer runs and commits the next batch. With
/// `synchronous=FULL` the writer itself waited in every commit's fsync, and on the benchmarks' one
/// server core nothing else was left to run in that time (the core was 14 % idle under full
/// load). Every answered write is still on disk: fsync flushes the file, whichever descriptor
/// wrote it, so one call covers every frame the writer had written before it, in WAL order; a
/// crash or power loss before it loses only unanswered batches, and SQLite's recovery stops at the
/// last frame that made it.
///
/// The difference a reader could see: another connection sees a batch as soon as it commits,
/// before its fsync. So every read notes the last batch committed when it ends (the writer counts
/// a batch before its COMMIT, so any batch the read saw is counted) and does not answer until that
/// batch is durable: nothing leaves the process before it is on disk, as with `FULL`.
struct Durability {
    /// The last batch the writer has begun to commit (numbered from 1).
    committed: AtomicU64,
    /// The last batch whose frames are on disk (or that had nothing to write).
    durable: AtomicU64,
    /// The same, for reads to wait on. The syncer thread holds the sender, so if it or the writer
    /// stops, a read waiting here is told instead of waiting for ever.
    durable_rx: tokio::sync::watch::Receiver<u64>,
    /// Set for a store that commits with `synchronous=FULL` (see [`SqliteOptions::sync_in_commit`]).
    sync_in_commit: bool,
    /// Batches handed to the syncer that it has not yet taken into an fsync; the syncer tells the
    /// writer (its `picked` channel) each time it takes some.
    queued: AtomicU64,
    /// The WAL file, opened by the store to fsync it. SQLite keeps the same file (it rewinds and
    /// truncates it, never replaces it) for as long as the writer's connection is open.
    wal: std::fs::File,
}

impl Durability {
    /// Waits until `batch` is on disk.
    async fn wait_for(&self, batch: u64) -> StoreResult<()> {
        if self.durable.load(Ordering::Acquire) >= batch {
            return Ok(());
        }
        let mut rx = self.durable_rx.clone();
        match rx.wait_for(|d| *d >= batch).await {
            Ok(_) => Ok(()),
            Err(_) => Err(StoreError::Backend("the writer stopped before what this read saw was on disk".into())),
        }
    }

    fn advance(&self, durable_tx: &tokio::sync::watch::Sender<u64>, batch: u64) {
        self.durable.store(batch, Ordering::Release);
        durable_tx.send_replace(batch);
    }
}

/// A committed (or rolled back) batch on its way to the syncer.
struct Committed {
    batch: u64,
    outcome: Result<(), String>,
    completions: Vec<Completion>,
}

/// Answers the callers of fsynced (or failed) batches, in batch order.
fn answer(group: Vec<Committed>) {
    for c in group {
        for done in c.completions {
            done(c.outcome.clone());
        }
    }
}

/// Fsyncs the WAL for every committed batch it receives, taking all that are waiting at once,
/// then answers their callers in batch order: on `runtime` when the store has one.
fn syncer_loop(
    rx: flume::Receiver<Committed>,
    picked: flume::Sender<()>,
    durability: &Durability,
    durable_tx: tokio::sync::watch::Sender<u64>,
    delay: std::time::Duration,
    runtime: Option<tokio::runtime::Handle>,
) {
    let mut group: Vec<Committed> = Vec::new();
    while let Ok(first) = rx.recv() {
        group.push(first);
        group.extend(rx.try_iter());
        durability.queued.fetch_sub(group.len() as u64, Ordering::AcqRel);
        // A full channel already holds a wake-up the writer has not seen.
        let _ = picked.try_send(());
        // With `sync_in_commit` the commit itself was fsynced.
        if !durability.sync_in_commit && group.iter().any(|c| c.outcome.is_ok()) {
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            // `fdatasync`, as PostgreSQL flushes its WAL on Linux: it writes the data and whatever
            // metadata reading it back needs (the file's size and blocks when the WAL grows), not
            // the modification time, so a flush of frames written over the WAL's old blocks does
            // not also commit the file system's journal. Measured (64 connections' `sendMessage`,
            // one server core, four alternating pairs of builds): 28,370–34,461 messages/s with
            // `fsync`, 30,682–40,746 with this; the flush took 287–432 µs against 418–480 µs.
            if let Err(e) = durability.wal.sync_data() {
                // Whether the frames reached the disk is unknown, and a second fsync may report
                // success for pages the first one lost (as PostgreSQL found), so no caller
                // waiting here may be told their write is stored: stop, and let the restart
                // recover what is on disk.
                tracing::error!(error = %e, "sqlite: fsync of the WAL failed; stopping before answering its writes");
                std::process::abort();
            }
        }
        if let Some(last) = group.last() {
            durability.advance(&durable_tx, last.batch);
        }
        // The callers wait on the runtime's threads. Answered from here, each answer woke a task
        // across threads, and on a shared core the woken runtime thread preempted this one after
        // the first of them, ran until it had nothing left, and let this thread answer the next:
        // two or three preemptions of this thread, and as many sleeps of the runtime's, per fsync. One
        // task on the runtime answers the whole group instead, waking each caller from inside it.
        // See `SqliteStore::open` for the measurement.
        let answered = std::mem::take(&mut group);
        match &runtime {
            Some(rt) => drop(rt.spawn(async move { answer(answered) })),
            None => answer(answered),
        }
    }
}

/// The WAL file of the database `conn` has open: SQLite names it after the database file as it
/// resolved it (following symbolic links), so the name comes from SQLite, not from `path`.
fn wal_path(conn: &Connection, path: &Path) -> std::path::PathBuf {
    match conn.path() {
        Some(db) if !db.is_empty() => wal_beside(Path::new(db)),
        _ => wal_beside(path),
    }
}

/// The WAL's name for the database file `db`: its name with `-wal` appended.
fn wal_beside(db: &Path) -> std::path::PathBuf {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    wal.into()
}

/// Checkpoints the WAL on its own thread and connection. SQLite's automatic checkpoint runs inside
/// the commit that crosses the threshold, so that commit (and every write waiting behind it on
/// the writer thread) stalled for the whole copy and the database fsync; measured, that was most
/// of the p99 of sending a message. A PASSIVE checkpoint here never blocks the writer.
///
/// But a PASSIVE checkpoint alone never lets the WAL start over under steady writes: SQLite only
/// rewinds the WAL at the start of a write when every frame in it has been copied, and the writer
/// always committed more while the checkpoint ran. The WAL then grew without bound (300 MB in 30 s
/// of sending messages) and every commit extended the file. So after each checkpointer run that
/// saw at least [`SqliteOptions::wal_restart_frames`] frames, the writer thread, between two
/// batches, checkpoints the frames committed since, which is short work because the checkpointer
/// already copied the rest; the next commit then writes the WAL from its start again. Writes wait
/// for that short checkpoint and its database fsync, so it is done only once the WAL is a hundred
/// megabytes long, every few seconds under heavy load, not after every checkpointer run.
struct Checkpointer {
    stop: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
}

impl Checkpointer {
    fn start(path: &Path, stats: Arc<WriterStats>) -> StoreResult<Self> {
        let conn = open_connection(path, false).map_err(StoreError::backend)?;
        let stop = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpointer".into())
            .spawn(move || {
                let (lock, wake) = &*flag;
                let mut stopped = lock.lock().expect("checkpointer flag");
                let mut seen = 0;
                loop {
                    stopped = wake.wait_timeout(stopped, CHECKPOINT_EVERY).expect("checkpointer flag").0;
                    if *stopped {
                        return;
                    }
                    let commits = stats.commits.load(Ordering::Relaxed);
                    if commits == seen {
                        continue;
                    }
                    seen = commits;
                    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
                        Ok(frames) => {
                            stats.wal_frames.store(frames, Ordering::Relaxed);
                            stats.checkpoints.fetch_add(1, Ordering::Release);
                        }
                        Err(e) => tracing::warn!(error = %e, "sqlite checkpoint failed"),
                    }
                }
            })
            .map_err(StoreError::backend)?;
        Ok(Checkpointer { stop })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().expect("checkpointer flag") = true;
        wake.notify_all();
    }
}

/// Counters the writer thread keeps for [`Store::stats`].
#[derive(Default)]
struct WriterStats {
    commits: AtomicU64,
    writes: AtomicU64,
    failed: AtomicU64,
    /// Checkpointer runs, and the WAL frames the last of them saw.
    checkpoints: AtomicU64,
    wal_frames: AtomicI64,
}

/// Options for opening the SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Read-only connections, each on its own thread.
    pub readers: usize,
    /// Update-log rows that make the writer close a block of the log (index its rows by user).
    pub log_block_rows: usize,
    /// Recent ledger entries that make the writer move them into `ledger_entries`.
    pub ledger_compact_rows: usize,
    /// Messages a chat must have had between two moves of `messages_recent` for its next ones to
    /// be appended there (0: every chat's are).
    pub busy_chat_messages: u32,
    /// WAL frames that make the writer finish a checkpoint so the WAL starts over.
    pub wal_restart_frames: i64,
    /// The fewest rows a slice of a move of `messages_recent` takes.
    pub message_slice_rows: usize,
    /// Holds each fsync of the WAL this long before it starts: a slow disk, for tests of what
    /// waits for durability. Zero in use.
    pub sync_delay: std::time::Duration,
    /// Commit with `synchronous=FULL` (the fsync inside the commit, no overlap) and fsync the WAL
    /// before each read answers: for a short-lived process, such as an administrative command,
    /// that opens the database while a server may be running. The read gate of [`Durability`]
    /// counts only its own process's batches, so without this the server's readers could see this
    /// process's commits before their fsync, and this process's readers the server's.
    pub sync_in_commit: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            readers: 4,
            log_block_rows: 1024,
            ledger_compact_rows: LEDGER_COMPACT_ROWS,
            busy_chat_messages: BUSY_CHAT_MESSAGES,
            wal_restart_frames: RESTART_WAL_FRAMES,
            message_slice_rows: MESSAGE_SLICE_ROWS,
            sync_delay: std::time::Duration::ZERO,
            sync_in_commit: false,
        }
    }
}

/// The writer's page cache, in KiB: about SQLite's default (2,000 KiB). A larger one costs the
/// writer more than it saves. When a B-tree split leaves its new pages out of order, SQLite swaps
/// their numbers through the page number of its lock byte (page 524,289 with 2 KiB pages), and
/// while the database is smaller than that (1 GiB) the cache is left believing it holds a page past
/// the end of the database; the commit then walks every cached page to drop it
/// (`pcache1TruncateUnsafe`). With 32 MiB here, after 40 s of the suite's 64-pair load, that walk
/// was 4.0–4.3 % of the server's core (`perf`) and grew as the cache filled; with 2 MiB it is
/// 0.7 %, while reading pages back from the OS stays under 0.5 %. Throughput (same load, last
/// 10 s): 25,738 and 25,536 msg/s with 32 MiB, 27,940 and 25,916 with 2 MiB; resident memory
/// 80 MiB against 45 MiB.
const WRITER_CACHE_KIB: i64 = 2 * 1024;
/// Each reader's page cache, in KiB.
const READER_CACHE_KIB: i64 = 8 * 1024;

fn open_connection(path: &Path, read_only: bool) -> rusqlite::Result<Connection> {
    open_with(Connection::open_with_flags(path, open_flags(read_only))?, read_only)
}

fn open_flags(read_only: bool) -> OpenFlags {
    if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    }
}

/// The writer's connection: its WAL writes are gathered into one per commit (see `plaza_walbuf`).
fn open_writer_connection(path: &Path) -> StoreResult<Connection> {
    plaza_walbuf::register().map_err(StoreError::Backend)?;
    Connection::open_with_flags_and_vfs(path, open_flags(false), plaza_walbuf::NAME)
        .and_then(|conn| open_with(conn, false))
        .map_err(StoreError::backend)
}

fn open_with(conn: Connection, read_only: bool) -> rusqlite::Result<Connection> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    if !read_only {
        // 2 KiB pages (SQLite's default is 4 KiB) for a new database; an existing one keeps its
        // own. A commit writes every page it dirtied to the WAL, and Plaza's writes touch small
        // rows in several B-trees at once (a message: the chat, the message, update logs; a Stars
        // transfer: the transfer, its key, two balances, two entries), so smaller pages mean less
        // WAL per commit: measured on the 2-core machine, +15–50 % Stars transfers/s and +15 %
        // messages/s against 4 KiB, with less CPU per delivered message. Smaller still (1 KiB)
        // gained no more and lengthens the overflow chains of stored files.
        conn.pragma_update(None, "page_size", 2048)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // No checkpoints inside commits: the checkpointer thread does them (see `Checkpointer`).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    }
    // FULL: every commit fsyncs the WAL. The writer's connection turns it down to NORMAL, since its
    // commits are fsynced by the syncer thread before anyone is answered (see `Durability`).
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Rollback journals of statements stay in memory instead of temporary files.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // The writer's cache is SQLite's default size (see `WRITER_CACHE_KIB`); readers get more, filled
    // only as pages are read (a reader drops its cache whenever another connection has committed,
    // so it pays only where reads outnumber writes).
    conn.pragma_update(None, "cache_size", if read_only { -READER_CACHE_KIB } else { -WRITER_CACHE_KIB })?;
    Ok(conn)
}

/// Applies the migrations this binary knows that the database has not seen, each in a transaction.
///
/// Foreign keys are off while they run, as SQLite's procedure for rebuilding a table asks (0013
/// rebuilds `ledger_transfers`, which `ledger_entries` refers to), and each migration checks them
/// before it commits.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let have = conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))?.max(0) as usize;
    if have >= MIGRATIONS.len() {
        return Ok(());
    }
    without_foreign_keys(conn, || {
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(have) {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(sql)?;
            let broken: Option<String> = tx.query_row("PRAGMA foreign_key_check", [], |r| r.get(0)).optional()?;
            if let Some(table) = broken {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                    Some(format!("migration {} leaves a broken foreign key in {table}", i + 1)),
                ));
            }
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
            tracing::info!(version = i + 1, "applied sqlite migration");
        }
        Ok(())
    })
}

/// Runs `work` with foreign keys off (they can only change outside a transaction) and turns them
/// on again however it ends. Changing them expires the connection's prepared statements.
fn without_foreign_keys<T>(conn: &Connection, work: impl FnOnce() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let done = work();
    let on = conn.pragma_update(None, "foreign_keys", "ON");
    let value = done?;
    on?;
    Ok(value)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub fn open(path: &Path, options: SqliteOptions) -> StoreResult<Self> {
        let conn = open_writer_connection(path)?;
        migrate(&conn).map_err(StoreError::backend)?;
        if !options.sync_in_commit {
            // The syncer fsyncs what this connection commits (see `Durability`).
            conn.pragma_update(None, "synchronous", "NORMAL").map_err(StoreError::backend)?;
        }
        // The WAL exists once the connection has read the database in WAL mode, which `migrate` did.
        let wal_path = wal_path(&conn, path);
        let wal = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&wal_path)
            .map_err(|e| StoreError::Backend(format!("opening {} to fsync it: {e}", wal_path.display())))?;
        let (durable_tx, durable_rx) = tokio::sync::watch::channel(0);
        let durability = Arc::new(Durability {
            committed: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            durable_rx,
            sync_in_commit: options.sync_in_commit,
            wal,
        });

        let (writer, write_rx) = flume::bounded::<WriteJob>(WRITE_QUEUE);
        let (synced, sync_rx) = flume::unbounded::<Committed>();
        let (picked_tx, picked) = flume::bounded::<()>(1);
        let stats = Arc::new(WriterStats::default());
        std::thread::Builder::new()
            .name("sqlite-syncer".into())
            .spawn({
                let durability = durability.clone();
                let delay = options.sync_delay;
                // Opened in an async context (the server, the CLI, the tests), the store answers
                // its writers on that runtime (see `syncer_loop`). The Bot API benchmark's
                // sendMessage (1,000 chats, 60 connections, one server core), two alternating
                // pairs of runs of one build: context switches 0.72 → 0.14 per message, server
                // CPU 28.4 and 27.8 → 23.1 and 24.9 µs per message, 32,074 and 32,943 → 38,525 and
                // 36,064 messages/s.
                let runtime = tokio::runtime::Handle::try_current().ok();
                move || syncer_loop(sync_rx, picked_tx, &durability, durable_tx, delay, runtime)
            })
            .map_err(StoreError::backend)?;
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn({
                let stats = stats.clone();
                let options = options.clone();
                let durability = durability.clone();
                move || writer_loop(conn, &options, write_rx, synced, picked, &durability, &stats)
            })
            .map_err(StoreError::backend)?;

        let (readers, read_rx) = flume::bounded::<ReadJob>(READ_QUEUE);
        for i in 0..options.readers.max(1) {
            let conn = open_connection(path, true).map_err(StoreError::backend)?;
            let rx = read_rx.clone();
            std::thread::Builder::new()
                .name(format!("sqlite-reader-{i}"))
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        // As the writer does: let the reads queued behind this one arrive first, so
                        // this thread takes them in turn instead of waking another reader for each.
                        // Measured with the server on one core, a one-message history read went
                        // from 67 to 46 µs of CPU.
                        if rx.is_empty() {
                            std::thread::yield_now();
                        }
                        // A panicking read only loses its own answer (the caller sees an error).
                        let _ = catch_unwind(AssertUnwindSafe(|| job(&conn)));
                    }
                })
                .map_err(StoreError::backend)?;
        }
        let checkpointer = Checkpointer::start(path, stats.clone())?;
        Ok(SqliteStore { writer, readers, stats, durability, _checkpointer: checkpointer })
    }

    /// Whether the file the syncer fsyncs is still the WAL SQLite writes (same device and inode):
    /// SQLite rewinds and trims the WAL but never replaces it while the store is open.
    #[doc(hidden)]
    #[cfg(unix)]
    pub fn synced_wal_is_current(&self, path: &Path) -> std::io::Result<bool> {
        use std::os::unix::fs::MetadataExt;
        let (held, current) = (self.durability.wal.metadata()?, std::fs::metadata(wal_beside(path))?);
        Ok((held.dev(), held.ino()) == (current.dev(), current.ino()))
    }

    /// Applies migrations and returns; used by `plaza migrate`.
    pub fn migrate_only(path: &Path) -> StoreResult<()> {
        let conn = open_connection(path, false).map_err(StoreError::backend)?;
        migrate(&conn).map_err(StoreError::backend)
    }

    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Writer<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: WriteJob = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let completion: Completion = Box::new(move |commit| {
                let out = match (result, commit) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(StoreError::Backend(e)),
                };
                let _ = tx.send(out);
            });
            (ok, completion)
        });
        self.writer.send_async(job).await.map_err(|_| StoreError::Backend("writer thread has stopped".into()))?;
        rx.await.map_err(|_| StoreError::Backend("write was abandoned".into()))?
    }

    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let durability = self.durability.clone();
        let job: ReadJob = Box::new(move |conn| {
            let mut value = f(conn);
            // Every batch this read could have seen was counted before its COMMIT (see `Durability`).
            let seen = durability.committed.load(Ordering::SeqCst);
            // Another process's commits are not counted here: flush whatever the read saw.
            if durability.sync_in_commit
                && let Err(e) = durability.wal.sync_data()
            {
                value = Err(StoreError::Backend(format!("fsync of the WAL before answering a read: {e}")));
            }
            let _ = tx.send((value, seen));
        });
        self.readers.send_async(job).await.map_err(|_| StoreError::Backend("reader threads have stopped".into()))?;
        let (value, seen) = rx.await.map_err(|_| StoreError::Backend("read was abandoned".into()))?;
        self.durability.wait_for(seen).await?;
        value
    }
}

/// The writer thread's connection and what it remembers between writes.
/// A private chat's row and whether each of its users (lower id first) has blocked the other.
type PrivateChat = (ChatRow, [bool; 2]);

/// The statements every batch and every message runs, prepared once for the writer's life:
/// looked up in rusqlite's statement cache, each cost a hash of its SQL and a trip through the
/// cache's list both ways. Held here (the message's ones): `bench/instructions pairs` 119,371 → 115,137 instructions per message, `bot`
/// 131,291 → 128,332.
struct HotStatements<'c> {
    begin: RefCell<rusqlite::Statement<'c>>,
    commit: RefCell<rusqlite::Statement<'c>>,
    insert_message: RefCell<rusqlite::Statement<'c>>,
    insert_recent_message: RefCell<rusqlite::Statement<'c>>,
    raise_read: RefCell<rusqlite::Statement<'c>>,
    /// `INSERT INTO updates_recent` of 2^k rows, for k in `0..LOG_CHUNKS.len()`.
    append_log: [RefCell<rusqlite::Statement<'c>>; LOG_CHUNKS.len()],
}

/// The sizes of the statements that write a batch's update-log entries: a batch's entries go in
/// chunks of these (largest first), so most are written 32 to a statement.
const LOG_CHUNKS: [usize; 6] = [1, 2, 4, 8, 16, 32];

/// `INSERT INTO updates_recent` of `rows` rows, bound five parameters a row.
fn append_log_sql(rows: usize) -> String {
    // OR FAIL: nothing here can fail (no column takes a NULL), and a statement that may stop
    // midway without undoing its own rows needs no statement journal.
    let mut sql = String::from("INSERT OR FAIL INTO updates_recent (user_id, seq, kind, chat_id, message_id) VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        let p = i * 5;
        sql.push_str(&format!("(?{}, ?{}, ?{}, ?{}, ?{})", p + 1, p + 2, p + 3, p + 4, p + 5));
    }
    sql
}

/// The update log's open block: the entries appended after the last block.
#[derive(Debug, Default)]
struct LogTail {
    /// The last rowid the blocks cover (`update_log_mark`).
    mark: i64,
    /// Whether the rows before this thread's were counted (only then can the block be closed).
    counted: bool,
    /// Each user's newest seq in the open block.
    last: foldhash::HashMap<i64, i64>,
    rows: usize,
    /// When its oldest entry was noted.
    since: Option<std::time::Instant>,
}

impl LogTail {
    /// The open block as counted from the table: `(user, newest seq, rows)` after `mark`.
    fn of(mark: i64, users: Vec<(i64, i64, usize)>) -> Self {
        let mut tail = LogTail { mark, counted: true, ..LogTail::default() };
        for (user, seq, rows) in users {
            tail.last.insert(user, seq);
            tail.rows += rows;
        }
        if tail.rows > 0 {
            tail.since = Some(std::time::Instant::now());
        }
        tail
    }

    fn note(&mut self, user: i64, seq: i64) {
        self.last.insert(user, seq);
        self.rows += 1;
        self.since.get_or_insert_with(std::time::Instant::now);
    }
}

/// An update-log entry appended in the open batch, written to `updates_recent` before the batch
/// commits (see `Writer::log_pending`).
struct LogEntry {
    user: i64,
    seq: i64,
    kind: &'static str,
    chat: i64,
    message_id: Option<i64>,
}

impl<'c> HotStatements<'c> {
    fn prepare(conn: &'c Connection) -> rusqlite::Result<Self> {
        let prepare = |sql: &str| conn.prepare(sql).map(RefCell::new);
        Ok(HotStatements {
            begin: prepare("BEGIN IMMEDIATE")?,
            commit: prepare("COMMIT")?,
            insert_message: prepare(
                "INSERT INTO messages (chat_id, id, sender_id, date, text, entities, reply_to, extra) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?,
            insert_recent_message: prepare(
                "INSERT INTO messages_recent (chat_id, id, sender_id, date, text, entities, reply_to, extra) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?,
            raise_read: prepare(RAISE_READ)?,
            append_log: {
                let mut statements = Vec::with_capacity(LOG_CHUNKS.len());
                for rows in LOG_CHUNKS {
                    statements.push(prepare(&append_log_sql(rows))?);
                }
                statements.try_into().unwrap_or_else(|_| unreachable!("one statement per chunk size"))
            },
        })
    }
}

pub(crate) struct Writer<'c> {
    conn: &'c Connection,
    hot: HotStatements<'c>,
    /// Each user's last update-log seq, learnt on first use. Only the writer appends to the log,
    /// so it can count on its own; forgotten whenever a batch is rolled back. (The writer's maps
    /// hash with foldhash: their keys are the store's own ids, and SipHash cost more than the
    /// lookups' other work.)
    seqs: RefCell<foldhash::HashMap<i64, i64>>,
    /// Whether each user seen is a bot (it never changes; forgotten with `seqs`, since a rolled-back
    /// account's id can be given again).
    bots: RefCell<foldhash::HashMap<i64, bool>>,
    /// Private chats by their two users, with whether each (lower id first) has blocked the other:
    /// sending a message in one needs both, and only the writer changes them (`set_blocked`
    /// forgets the chat's entry). Forgotten with `seqs`.
    private_chats: RefCell<foldhash::HashMap<(i64, i64), PrivateChat>>,
    /// Each chat's last message id, learnt on first use: only the writer gives ids, so it need not
    /// read the chat row back (an `UPDATE … RETURNING` builds a temporary table per message).
    /// Forgotten with `seqs`.
    chat_heads: RefCell<foldhash::HashMap<i64, i64>>,
    /// Ledger balances by account key, learnt on first use and kept once a transfer has written
    /// them, so a transfer need not read them back. Forgotten with `seqs`.
    balances: RefCell<foldhash::HashMap<String, i64>>,
    /// `PRAGMA data_version` when this thread last began a write: it changes only when another
    /// connection commits (the CLI's `plaza stars grant` while the server runs is another
    /// process), and then nothing remembered above can be trusted.
    data_version: Cell<i64>,
    /// The open block of the update log: the rows after `update_log_mark`.
    log: RefCell<LogTail>,
    /// The mark of the block closed in the open transaction.
    log_closing: Cell<Option<i64>>,
    /// Update-log entries of the open batch not yet written to `updates_recent`. A statement per
    /// entry (or per private chat's pair) cost about as much as the message's own row; written 32
    /// to a statement before the batch commits, they cost a fraction. Nothing in the writer reads
    /// `updates_recent` within a batch but the close of a block and `next_seq`'s first count of a
    /// user, which write them first.
    log_pending: RefCell<Vec<LogEntry>>,
    log_block_rows: usize,
    message_slice_rows: usize,
    /// Rows in `ledger_entries_recent`.
    ledger_recent: Cell<usize>,
    /// The last transfer's id, learnt on first use: a new transfer's key is written before its
    /// row, so the writer gives the id itself. Forgotten with `seqs`.
    last_transfer: Cell<Option<i64>>,
    ledger_compact_rows: usize,
    /// Messages per chat since the last move of the recent tables.
    chat_messages: RefCell<foldhash::HashMap<i64, u32>>,
    /// Chats with `busy_chat_messages` or more between the last two moves.
    busy_chats: RefCell<foldhash::HashSet<i64>>,
    /// Rows in `messages_recent` by chat, and the move under way.
    recent_messages: RefCell<Backlog>,
    /// Each sender's newest message in `messages_recent`, by chat and sender: the read marks its
    /// move writes (see `insert_message`). `None` when they could not be counted; the move then
    /// reads them from the rows it moves.
    recent_reads: RefCell<Option<BTreeMap<(i64, i64), i64>>>,
    busy_chat_messages: u32,
    /// Blocks of the log closed since `messages_recent` was last moved.
    log_blocks: Cell<u32>,
    /// A move of `messages_recent` is due or under way: the writer moves a slice of it after
    /// each batch until its pass ends.
    messages_due: Cell<bool>,
}

impl std::ops::Deref for Writer<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl<'c> Writer<'c> {
    /// Is `user` a bot? Asked for every message, so remembered.
    fn is_bot(&self, user: UserId) -> StoreResult<bool> {
        if let Some(b) = self.bots.borrow().get(&user.0) {
            return Ok(*b);
        }
        let b = is_bot(self.conn, user)?;
        self.bots.borrow_mut().insert(user.0, b);
        Ok(b)
    }

    /// The private chat of `me` and `peer` and whether `peer` has blocked `me`.
    fn private_chat(&self, me: UserId, peer: UserId) -> StoreResult<(ChatRow, bool)> {
        let (lo, hi) = private_pair(me, peer);
        let peer_index = usize::from(peer == hi);
        if let Some((row, blocked)) = self.private_chats.borrow().get(&(lo.0, hi.0)) {
            return Ok((row.clone(), blocked[peer_index]));
        }
        let (row, _) = resolve(self.conn, me, ChatId::private(peer))?;
        let blocked = [blocked_peer(self.conn, row.key, lo)?, blocked_peer(self.conn, row.key, hi)?];
        self.private_chats.borrow_mut().insert((lo.0, hi.0), (row.clone(), blocked));
        Ok((row, blocked[peer_index]))
    }

    fn forget_private_chat(&self, a: UserId, b: UserId) {
        let (lo, hi) = private_pair(a, b);
        self.private_chats.borrow_mut().remove(&(lo.0, hi.0));
    }

    fn new(conn: &'c Connection, options: &SqliteOptions) -> rusqlite::Result<Self> {
        let w = Writer {
            conn,
            hot: HotStatements::prepare(conn)?,
            seqs: RefCell::default(),
            bots: RefCell::default(),
            private_chats: RefCell::default(),
            chat_heads: RefCell::default(),
            balances: RefCell::default(),
            data_version: Cell::new(0),
            log: RefCell::new(LogTail::default()),
            log_closing: Cell::new(None),
            log_pending: RefCell::new(Vec::with_capacity(2 * MAX_BATCH)),
            log_block_rows: options.log_block_rows.max(1),
            message_slice_rows: options.message_slice_rows.max(1),
            ledger_recent: Cell::new(0),
            last_transfer: Cell::new(None),
            ledger_compact_rows: options.ledger_compact_rows.max(1),
            chat_messages: RefCell::default(),
            busy_chats: RefCell::default(),
            recent_messages: RefCell::new(Backlog::default()),
            recent_reads: RefCell::new(None),
            busy_chat_messages: options.busy_chat_messages,
            log_blocks: Cell::new(0),
            messages_due: Cell::new(true),
        };
        // `data_version` first: a commit by another connection after it, even one made while the
        // rows are counted, makes the first batch count them again.
        w.data_version.set(w.read_data_version().unwrap_or(0));
        w.count_ledger_recent();
        w.count_recent();
        Ok(w)
    }

    fn read_data_version(&self) -> rusqlite::Result<i64> {
        self.conn.prepare_cached("PRAGMA data_version")?.query_row([], |r| r.get(0))
    }

    /// Called inside `BEGIN IMMEDIATE` (a batch's, or a move's of `messages_recent`), so no other
    /// connection can commit until the transaction ends: if one committed since, forget everything
    /// remembered.
    fn check_data_version(&self) {
        match self.read_data_version() {
            Ok(v) if v == self.data_version.get() => {}
            Ok(v) => {
                tracing::debug!("sqlite: another connection wrote; the writer forgets what it remembered");
                self.data_version.set(v);
                self.forget();
            }
            Err(e) => {
                tracing::warn!(error = %e, "sqlite: cannot read data_version; the writer forgets what it remembered");
                self.forget();
            }
        }
    }

    /// The balances of two accounts (0 for an account without entries).
    fn balances(&self, a: &str, b: &str) -> StoreResult<(i64, i64)> {
        {
            let known = self.balances.borrow();
            if let (Some(x), Some(y)) = (known.get(a), known.get(b)) {
                return Ok((*x, *y));
            }
        }
        let (mut x, mut y) = (0i64, 0i64);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT account, balance FROM ledger_balances WHERE account IN (?1, ?2)")
            .map_err(db)?;
        let mut rows = stmt.query(params![a, b]).map_err(db)?;
        while let Some(r) = rows.next().map_err(db)? {
            let (account, balance): (String, i64) = (r.get(0).map_err(db)?, r.get(1).map_err(db)?);
            if account == a {
                x = balance;
            } else {
                y = balance;
            }
        }
        Ok((x, y))
    }

    /// Remembers balances once the store holds them.
    fn balances_written(&self, a: String, x: i64, b: String, y: i64) {
        let mut known = self.balances.borrow_mut();
        if known.len() >= 1_000_000 {
            known.clear();
        }
        known.insert(a, x);
        known.insert(b, y);
    }

    /// Learns what the recent tables hold, as a pass of their moves starts over.
    fn count_recent(&self) {
        let count = |sql: &str| -> Backlog {
            let counted = self.conn.prepare(sql).and_then(|mut stmt| {
                stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as usize)))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            });
            match counted {
                Ok(rows) => Backlog::of(rows),
                Err(e) => {
                    tracing::warn!(error = %e, "sqlite: cannot count the recent rows; they are moved when more come");
                    Backlog::default()
                }
            }
        };
        let tail =
            self.conn.query_row("SELECT last_row FROM update_log_mark", [], |r| r.get::<_, i64>(0)).and_then(|mark| {
                let users = self
                    .conn
                    .prepare(
                        "SELECT user_id, MAX(seq), COUNT(*) FROM updates_recent WHERE rowid > ?1 GROUP BY user_id",
                    )?
                    .query_map([mark], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)? as usize))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(LogTail::of(mark, users))
            });
        *self.log.borrow_mut() = tail.unwrap_or_else(|e| {
            // Its users unknown, the open block is not closed (it only grows) until a count
            // works: after the next rollback, or another connection's commit.
            tracing::error!(error = %e, "sqlite: cannot read the update log's open block");
            LogTail::default()
        });
        self.log_closing.set(None);
        *self.recent_messages.borrow_mut() = count("SELECT chat_id, COUNT(*) FROM messages_recent GROUP BY chat_id");
        let reads = self
            .conn
            .prepare("SELECT chat_id, sender_id, MAX(id) FROM messages_recent GROUP BY chat_id, sender_id")
            .and_then(|mut stmt| {
                stmt.query_map([], |r| Ok(((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?), r.get::<_, i64>(2)?)))?
                    .collect::<rusqlite::Result<BTreeMap<_, _>>>()
            });
        *self.recent_reads.borrow_mut() = reads
            .inspect_err(|e| tracing::warn!(error = %e, "sqlite: cannot read the recent messages' senders; their move reads them"))
            .ok();
    }

    /// The next seq of `user`'s update log.
    fn next_seq(&self, user: UserId) -> StoreResult<i64> {
        let mut seqs = self.seqs.borrow_mut();
        let last = match seqs.get(&user.0) {
            Some(s) => *s,
            None => {
                if seqs.len() >= 1_000_000 {
                    seqs.clear();
                }
                // Read below: the entries noted in this batch must be there to count.
                self.write_log().map_err(db)?;
                self.conn.prepare_cached(LAST_SEQ).map_err(db)?.query_row([user.0], |r| r.get(0)).map_err(db)?
            }
        };
        seqs.insert(user.0, last + 1);
        Ok(last + 1)
    }

    /// The id the chat's next message gets.
    fn next_message_id(&self, key: ChatKey) -> StoreResult<i64> {
        let last = match self.chat_heads.borrow().get(&key.0) {
            Some(id) => *id,
            None => {
                load_chat_row(self.conn, key)?
                    .ok_or_else(|| StoreError::backend(format!("chat {} vanished while being written to", key.0)))?
                    .last_message_id
            }
        };
        Ok(last + 1)
    }

    /// Remembers `id`, just stored, as the chat's newest message. The message's row is all that
    /// says so: the chat's head and last activity are its newest message's (see `CHAT_COLUMNS`),
    /// so a message does not also rewrite its chat's row, which cost a statement and, with many
    /// chats, a page of `chats` per chat in each commit.
    fn remember_head(&self, key: ChatKey, id: i64) {
        // Remembered only once stored: a failed write leaves no gap.
        let mut heads = self.chat_heads.borrow_mut();
        if heads.len() >= 1_000_000 {
            heads.clear();
        }
        heads.insert(key.0, id);
    }

    /// Notes `user`'s next update-log entry, written to `updates_recent` before the batch commits
    /// ([`Writer::write_log`]); returns its seq.
    fn log_entry(&self, user: UserId, kind: &'static str, chat: ChatKey, message_id: Option<i64>) -> StoreResult<i64> {
        let seq = self.next_seq(user)?;
        self.log_pending.borrow_mut().push(LogEntry { user: user.0, seq, kind, chat: chat.0, message_id });
        self.log.borrow_mut().note(user.0, seq);
        Ok(seq)
    }

    /// Entries noted in the open batch, for telling whether a failed write noted any.
    fn log_noted(&self) -> usize {
        self.log_pending.borrow().len()
    }

    /// Writes the entries noted in the open batch to `updates_recent`, in as few statements as
    /// the chunk sizes allow.
    fn write_log(&self) -> rusqlite::Result<()> {
        let mut pending = self.log_pending.borrow_mut();
        let mut rest: &[LogEntry] = &pending;
        while !rest.is_empty() {
            let k = LOG_CHUNKS.iter().rposition(|&n| n <= rest.len()).expect("chunks start at one row");
            let (chunk, tail) = rest.split_at(LOG_CHUNKS[k]);
            let mut stmt = self.hot.append_log[k].borrow_mut();
            for (i, e) in chunk.iter().enumerate() {
                let p = i * 5;
                stmt.raw_bind_parameter(p + 1, e.user)?;
                stmt.raw_bind_parameter(p + 2, e.seq)?;
                stmt.raw_bind_parameter(p + 3, e.kind)?;
                stmt.raw_bind_parameter(p + 4, e.chat)?;
                stmt.raw_bind_parameter(p + 5, e.message_id)?;
            }
            stmt.raw_execute()?;
            rest = tail;
        }
        pending.clear();
        Ok(())
    }

    fn log_block_due(&self) -> bool {
        let log = self.log.borrow();
        log.counted
            && (log.rows >= self.log_block_rows
                || (log.rows > 0 && log.since.is_some_and(|t| t.elapsed() >= COMPACT_AFTER)))
    }

    /// Closes the update log's open block inside the open transaction (its entries must be
    /// written): a row of `update_blocks` per user with entries in it, and the mark moved past
    /// it. The users are the ones this thread counted: it appends all entries, and counts them
    /// again from the table whenever another connection has written (`check_data_version`).
    /// Grouping the block's rows in SQL instead cost 3,400 instructions per message.
    /// [`Writer::log_block_closed`] learns it once committed.
    fn close_log_block(&self) -> rusqlite::Result<()> {
        let end: i64 = self
            .conn
            .prepare_cached("SELECT IFNULL(MAX(rowid), 0) FROM updates_recent")?
            .query_row([], |r| r.get(0))?;
        let start = self.log.borrow().mark + 1;
        let mut users: Vec<(i64, i64)> = self.log.borrow().last.iter().map(|(&u, &s)| (u, s)).collect();
        // In key order, so the inserts walk `update_blocks` from one end to the other.
        users.sort_unstable();
        let mut put = self.conn.prepare_cached(
            "INSERT OR FAIL INTO update_blocks (user_id, last_seq, first_row, last_row) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (user, seq) in users {
            put.execute([user, seq, start, end])?;
        }
        self.conn.prepare_cached("UPDATE update_log_mark SET last_row = ?1")?.execute([end])?;
        self.log_closing.set(Some(end));
        Ok(())
    }

    /// Moves the next slice of the recent messages, by chat, into `messages` in a transaction of
    /// its own, run between batches once their callers are answered, so no caller waits for it
    /// unless it writes meanwhile. Once a pass has moved them all, the chats busy since the last
    /// pass are the busy ones until the next (see `MESSAGES_MOVE_EVERY`). Foreign keys are off for
    /// it: they held when each row was appended (see `0016_messages_recent_unchecked.sql`), and checking
    /// them again doubled the move's time (2,048 rows: 3.7 → 1.7 ms). Moved inside a batch, with
    /// the log, the whole move made delivery's p99 at 5,000 msg/s about 3 ms worse.
    fn move_messages(&self) -> rusqlite::Result<()> {
        let slice = {
            let mut recent = self.recent_messages.borrow_mut();
            let rows = slice_rows(self.message_slice_rows, recent.total());
            recent.next_slice(rows)
        };
        let chats = (slice.after + 1, i64::MIN)..=(slice.through, i64::MAX);
        without_foreign_keys(self.conn, || {
            // Rolled back when dropped uncommitted.
            let tx = rusqlite::Transaction::new_unchecked(self.conn, rusqlite::TransactionBehavior::Immediate)?;
            // Another process (the CLI) may have committed since this thread's last batch: then
            // the senders noted below are stale, and are counted again from the table.
            self.check_data_version();
            // The senders' own messages leave `messages_recent`, so their read marks stop
            // counting them (`MEMBER_READ`) and take them in: one update per sender and chat,
            // from what the writer noted as it appended them (reading the senders back from the
            // moved rows, grouped, cost about 4,500 instructions per message).
            match &*self.recent_reads.borrow() {
                Some(reads) => {
                    let mut raise = self.hot.raise_read.borrow_mut();
                    for (&(chat, sender), &top) in reads.range(chats.clone()) {
                        raise.execute([top, chat, sender])?;
                    }
                }
                None => self.run_all(
                    &["UPDATE members SET read_inbox_max_id = moved.top \
                       FROM (SELECT chat_id, sender_id, MAX(id) AS top FROM messages_recent \
                             WHERE chat_id > ?1 AND chat_id <= ?2 GROUP BY chat_id, sender_id) AS moved \
                       WHERE members.chat_id = moved.chat_id AND members.user_id = moved.sender_id \
                         AND members.read_inbox_max_id < moved.top"],
                    [slice.after, slice.through],
                )?,
            }
            self.run_all(
                &[
                    "INSERT OR FAIL INTO messages (chat_id, id, sender_id, date, text, entities, reply_to, \
                     edit_date, deleted, extra) \
                     SELECT chat_id, id, sender_id, date, text, entities, reply_to, edit_date, deleted, extra \
                     FROM messages_recent WHERE chat_id > ?1 AND chat_id <= ?2 ORDER BY chat_id, id",
                    "DELETE FROM messages_recent WHERE chat_id > ?1 AND chat_id <= ?2",
                ],
                [slice.after, slice.through],
            )?;
            tx.commit()
        })?;
        if let Some(reads) = &mut *self.recent_reads.borrow_mut() {
            let moved: Vec<_> = reads.range(chats).map(|(k, _)| *k).collect();
            for k in moved {
                reads.remove(&k);
            }
        }
        self.recent_messages.borrow_mut().moved(slice);
        if !slice.is_last() {
            return Ok(());
        }
        self.messages_due.set(false);
        let mut counts = self.chat_messages.borrow_mut();
        let mut busy = self.busy_chats.borrow_mut();
        busy.clear();
        busy.extend(counts.drain().filter(|&(_, n)| n >= self.busy_chat_messages).map(|(chat, _)| chat));
        Ok(())
    }

    /// Counts a new message of the chat, and tells whether the chat is busy: it had
    /// `busy_chat_messages` messages or more between the last two moves, so its messages go to
    /// `messages_recent`, where they cost less than a page of `messages` each.
    fn busy_chat(&self, key: ChatKey) -> bool {
        *self.chat_messages.borrow_mut().entry(key.0).or_insert(0) += 1;
        self.busy_chat_messages == 0 || self.busy_chats.borrow().contains(&key.0)
    }

    fn count_ledger_recent(&self) {
        let rows =
            self.conn.query_row("SELECT COUNT(*) FROM ledger_entries_recent", [], |r| r.get::<_, i64>(0)).unwrap_or(0);
        self.ledger_recent.set(rows as usize);
    }

    fn ledger_compaction_due(&self) -> bool {
        self.ledger_recent.get() >= self.ledger_compact_rows
    }

    /// Moves the recent ledger entries and keys into `ledger_entries` and `ledger_keys`, inside
    /// the open transaction.
    fn compact_ledger(&self) -> rusqlite::Result<()> {
        self.run_all(
            &[
                "INSERT INTO ledger_entries (account, transfer_id, delta, balance) \
             SELECT account, transfer_id, delta, balance FROM ledger_entries_recent ORDER BY account, transfer_id",
                "DELETE FROM ledger_entries_recent",
                "INSERT OR FAIL INTO ledger_keys (key, transfer_id) SELECT key, transfer_id FROM ledger_keys_recent",
                "DELETE FROM ledger_keys_recent",
            ],
            [],
        )
    }

    /// Runs the moves' statements, prepared once, each with `params` (a slice's statements bound
    /// its keys with `?1` and `?2`). A move into a table without foreign keys is `INSERT OR FAIL`:
    /// a failure there fails the whole batch anyway, so SQLite need not keep a statement journal to
    /// undo the statement alone (measured: a 1,024-row move of the log took 1.36 ms with it,
    /// 0.84 ms without). Foreign keys need the journal either way.
    fn run_all(&self, statements: &[&str], params: impl rusqlite::Params + Copy) -> rusqlite::Result<()> {
        for sql in statements {
            self.conn.prepare_cached(sql)?.execute(params)?;
        }
        Ok(())
    }

    /// The id the next transfer gets.
    fn next_transfer_id(&self) -> StoreResult<i64> {
        let last = match self.last_transfer.get() {
            Some(id) => id,
            None => self
                .conn
                .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM ledger_transfers")
                .map_err(db)?
                .query_row([], |r| r.get(0))
                .map_err(db)?,
        };
        Ok(last + 1)
    }

    /// After a commit that closed a block of the log: a new one opens, and a move of the recent
    /// messages may be due.
    fn log_block_closed(&self) {
        let Some(mark) = self.log_closing.take() else { return };
        *self.log.borrow_mut() = LogTail { mark, counted: true, ..LogTail::default() };
        self.log_blocks.set(self.log_blocks.get() + 1);
        if self.log_blocks.get() >= MESSAGES_MOVE_EVERY {
            self.log_blocks.set(0);
            self.messages_due.set(true);
        }
    }

    /// After a rollback nothing this thread counted can be trusted.
    fn forget(&self) {
        self.log_pending.borrow_mut().clear();
        self.seqs.borrow_mut().clear();
        self.bots.borrow_mut().clear();
        self.private_chats.borrow_mut().clear();
        self.chat_heads.borrow_mut().clear();
        self.balances.borrow_mut().clear();
        self.last_transfer.set(None);
        self.count_recent();
        self.count_ledger_recent();
    }
}

/// Rows a slice of a move of `total` recent rows takes, at least `min`.
fn slice_rows(min: usize, total: usize) -> usize {
    min.max(total.div_ceil(SLICES_PER_PASS))
}

fn writer_loop(
    conn: Connection,
    options: &SqliteOptions,
    rx: flume::Receiver<WriteJob>,
    synced: flume::Sender<Committed>,
    picked: flume::Receiver<()>,
    durability: &Durability,
    stats: &WriterStats,
) {
    let restart_frames = options.wal_restart_frames.max(1);
    let conn = match Writer::new(&conn, options) {
        Ok(w) => w,
        Err(e) => {
            // Dropping the queue's receiver fails every write with "the writer is gone".
            tracing::error!(error = %e, "sqlite: the writer cannot prepare its statements; no write can be stored");
            return;
        }
    };
    let mut batch: Vec<WriteJob> = Vec::with_capacity(MAX_BATCH);
    let mut completions: Vec<Completion> = Vec::with_capacity(MAX_BATCH);
    let mut checkpoints_seen = 0;
    let mut batch_no = 0;
    while let Ok(first) = rx.recv() {
        batch.push(first);
        // A write woke this thread, often while the requests behind it are still being parsed on
        // the same core. Letting them run first puts them in this batch instead of the next: where
        // the writer has a core to itself this returns at once; where it shares one (the benchmark
        // pins the server to one core), measured on a tmpfs database, the writer spent 30 % less
        // CPU per message (21 → 14 µs).
        if rx.is_empty() {
            std::thread::yield_now();
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.hot.begin.borrow_mut().execute([]) {
            tracing::error!(error = %e, "sqlite: cannot begin a write transaction");
            // Dropping the jobs drops their answer channels: every caller gets an error.
            batch.clear();
            continue;
        }
        conn.check_data_version();
        // Writes check their rules before they change anything, so a write refused by a rule has
        // nothing to undo and needs no savepoint (savepoints cost a page copy per touched page).
        // A write that fails after changing rows (a database error, a panic) spoils the whole
        // batch: it is rolled back and every caller in it is told, none of them having been
        // answered yet.
        let mut spoiled = false;
        let run = |job: WriteJob, completions: &mut Vec<Completion>| {
            let before = (conn.total_changes(), conn.log_noted());
            match catch_unwind(AssertUnwindSafe(|| job(&conn))) {
                Ok((ok, completion)) => {
                    completions.push(completion);
                    !ok && (conn.total_changes(), conn.log_noted()) != before
                }
                Err(_) => {
                    tracing::error!("sqlite: a write panicked; its batch is rolled back");
                    true
                }
            }
        };
        let mut taken = batch.len();
        for job in batch.drain(..) {
            spoiled |= run(job, &mut completions);
        }
        // While a committed batch still waits for the syncer to start its fsync, committing this one
        // now would only join that same fsync, and every commit writes each page it touched to the
        // WAL again. So the transaction stays open and takes the writes that arrive meanwhile, and
        // commits once the syncer has taken the waiting batch, to be ready for its next fsync.
        // Measured at 8 connections (alternating builds, 3 rounds): committing at once made 3.2–3.9
        // messages per commit, this 3.9–4.5; waiting instead until the syncer had answered
        // everything made 5.5–6.1, but lost a tenth of the throughput at 64 connections, as the
        // commit no longer overlapped an fsync.
        while !spoiled && taken < MAX_BATCH {
            // Wake-ups from before this check are stale; one sent after it ends the wait below.
            while picked.try_recv().is_ok() {}
            if durability.queued.load(Ordering::Acquire) == 0 {
                break;
            }
            let next =
                flume::Selector::new().recv(&rx, |r| r.ok().map(Some)).recv(&picked, |r| r.ok().map(|()| None)).wait();
            match next {
                Some(Some(job)) => {
                    taken += 1;
                    spoiled |= run(job, &mut completions);
                }
                Some(None) => {}
                None => break,
            }
        }
        let closing_block = !spoiled && conn.log_block_due();
        let compacting_ledger = !spoiled && conn.ledger_compaction_due();
        // Counted before the COMMIT makes it visible, so a reader that saw it waits for its fsync.
        batch_no += 1;
        durability.committed.store(batch_no, Ordering::SeqCst);
        let outcome = if spoiled {
            let _ = conn.execute_batch("ROLLBACK");
            Err("a write in the same batch failed midway; nothing in the batch was stored".to_string())
        } else {
            let commit = || -> rusqlite::Result<()> {
                conn.write_log()?;
                if closing_block {
                    conn.close_log_block()?;
                }
                if compacting_ledger {
                    conn.compact_ledger()?;
                }
                conn.hot.commit.borrow_mut().execute([]).map(drop)
            };
            commit().map_err(|e| e.to_string())
        };
        match &outcome {
            Ok(()) => {
                if closing_block {
                    conn.log_block_closed();
                }
                if compacting_ledger {
                    conn.ledger_recent.set(0);
                }
                stats.commits.fetch_add(1, Ordering::Relaxed);
                stats.writes.fetch_add(completions.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "sqlite: batch not committed; its callers are told");
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                conn.forget();
            }
        }
        // Answered by the syncer once the WAL is fsynced; this thread goes on with the next batch.
        let committed = Committed {
            batch: batch_no,
            outcome,
            completions: std::mem::replace(&mut completions, Vec::with_capacity(64)),
        };
        durability.queued.fetch_add(1, Ordering::AcqRel);
        if let Err(flume::SendError(c)) = synced.send(committed) {
            for done in c.completions {
                done(Err("the syncer thread has stopped; the write may not be on disk".into()));
            }
        }
        // Outside any transaction: move the recent messages when due, in a transaction of their own.
        if conn.messages_due.get()
            && let Err(e) = conn.move_messages()
        {
            tracing::error!(error = %e, "sqlite: moving the recent messages failed; it is retried later");
        }
        // Outside any transaction: finish the checkpointer's work so the next commit starts the WAL
        // over (see `Checkpointer`).
        let checkpoints = stats.checkpoints.load(Ordering::Acquire);
        if checkpoints != checkpoints_seen {
            checkpoints_seen = checkpoints;
            if stats.wal_frames.load(Ordering::Relaxed) >= restart_frames
                && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            {
                tracing::warn!(error = %e, "sqlite: the writer's checkpoint failed");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Row helpers. All of them run on a connection inside a reader or the writer thread.

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::backend(e)
}

const USER_COLUMNS: &str = "id, username, display_name, is_bot, language_code, phone_number, created_at";

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    let corrupt = |i: usize, e: plaza_core::Invalid| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    Ok(User {
        id: UserId(r.get(0)?),
        username: Username::parse(&r.get::<_, String>(1)?).map_err(|e| corrupt(1, e))?,
        display_name: DisplayName::parse(&r.get::<_, String>(2)?).map_err(|e| corrupt(2, e))?,
        is_bot: r.get(3)?,
        language_code: r
            .get::<_, Option<String>>(4)?
            .map(|s| LanguageCode::parse(&s))
            .transpose()
            .map_err(|e| corrupt(4, e))?,
        phone_number: r
            .get::<_, Option<String>>(5)?
            .map(|s| PhoneNumber::parse(&s))
            .transpose()
            .map_err(|e| corrupt(5, e))?,
        created_at: r.get(6)?,
    })
}

fn load_user(conn: &Connection, id: UserId) -> StoreResult<User> {
    conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
        .map_err(db)?
        .query_row([id.0], user_from_row)
        .optional()
        .map_err(db)?
        .ok_or(StoreError::Denied(Denied::UserNotFound))
}

const MESSAGE_COLUMNS: &str = "chat_id, id, sender_id, date, text, entities, reply_to, edit_date, extra";

/// A message row with its entities and extras still encoded; `finish_message` decodes them.
type MessageRow = (Message, Option<String>, Option<String>);

fn message_from_row(r: &Row<'_>) -> rusqlite::Result<MessageRow> {
    let text: String = r.get(4)?;
    let text = MessageText::from_stored(text);
    Ok((
        Message {
            chat: ChatKey(r.get(0)?),
            id: MessageId(r.get(1)?),
            sender: UserId(r.get(2)?),
            date: r.get(3)?,
            text,
            entities: Vec::new(),
            reply_to: r.get::<_, Option<i64>>(6)?.map(MessageId),
            edit_date: r.get(7)?,
            reply_markup: None,
            media: None,
            forward_origin: None,
            protected: false,
            service: None,
            poll: None,
            via_bot: None,
            invoice: None,
        },
        r.get(5)?,
        r.get(8)?,
    ))
}

fn finish_message((mut m, entities_json, extra): MessageRow) -> StoreResult<Message> {
    m.entities = entities::decode(entities_json.as_deref())?;
    codec::decode_extra(extra.as_deref())?.apply(&mut m);
    Ok(m)
}

/// A live (not deleted) message of the chat.
fn load_message(conn: &Connection, chat: ChatKey, id: MessageId) -> StoreResult<Option<Message>> {
    conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages_recent WHERE chat_id = ?1 AND id = ?2 AND deleted = 0 \
         UNION ALL SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = ?1 AND id = ?2 AND deleted = 0"
    ))
    .map_err(db)?
    .query_row([chat.0, id.0], message_from_row)
    .optional()
    .map_err(db)?
    .map(finish_message)
    .transpose()
}

/// Sets `assignments` on a message, in whichever of `messages_recent` and `messages` holds it;
/// their parameters are `values`, from `?3` on (`?1` and `?2` are the chat and the id).
fn update_message(
    conn: &Connection,
    assignments: &str,
    chat: ChatKey,
    id: MessageId,
    values: &[&dyn rusqlite::ToSql],
) -> StoreResult<()> {
    let params: Vec<&dyn rusqlite::ToSql> =
        [&chat.0 as &dyn rusqlite::ToSql, &id.0].into_iter().chain(values.iter().copied()).collect();
    for table in ["messages_recent", "messages"] {
        let changed = conn
            .prepare_cached(&format!("UPDATE {table} SET {assignments} WHERE chat_id = ?1 AND id = ?2"))
            .map_err(db)?
            .execute(params.as_slice())
            .map_err(db)?;
        if changed > 0 {
            return Ok(());
        }
    }
    Err(StoreError::backend(format!("message {} of chat {} vanished while being changed", id.0, chat.0)))
}

/// A chat row's columns. The chat's newest message id is its newest message's, in whichever table
/// holds it (see `Writer::remember_head`); the row's own `last_message_id` is a floor, kept by
/// databases written before that.
const CHAT_COLUMNS: &str = "chats.id, chats.kind, chats.title, chats.user_lo, chats.user_hi, \
    MAX(chats.last_message_id, \
        IFNULL((SELECT MAX(r.id) FROM messages_recent r WHERE r.chat_id = chats.id), 0), \
        IFNULL((SELECT MAX(m.id) FROM messages m WHERE m.chat_id = chats.id), 0)), \
    chats.created_at";

fn chat_from_row(r: &Row<'_>) -> rusqlite::Result<ChatRow> {
    Ok(ChatRow {
        key: ChatKey(r.get(0)?),
        is_group: r.get::<_, String>(1)? == "group",
        title: r.get(2)?,
        user_lo: r.get(3)?,
        user_hi: r.get(4)?,
        last_message_id: r.get(5)?,
        created_at: r.get(6)?,
    })
}

fn load_chat_row(conn: &Connection, key: ChatKey) -> StoreResult<Option<ChatRow>> {
    conn.prepare_cached(&format!("SELECT {CHAT_COLUMNS} FROM chats WHERE id = ?1"))
        .map_err(db)?
        .query_row([key.0], chat_from_row)
        .optional()
        .map_err(db)
}

/// A member's role, if `user` is a member of the chat.
fn member_role(conn: &Connection, key: ChatKey, user: UserId) -> StoreResult<Option<Role>> {
    conn.prepare_cached("SELECT role FROM members WHERE chat_id = ?1 AND user_id = ?2")
        .map_err(db)?
        .query_row([key.0, user.0], |r| r.get::<_, String>(0))
        .optional()
        .map_err(db)?
        .map(|role| Role::parse(&role).map_err(StoreError::backend))
        .transpose()
}

/// Raises a member's read mark to `?1` (a message id), never lowering it: one's own new message,
/// a `mark_read` past the current mark, a move of `messages_recent` (`HotStatements::raise_read`).
const RAISE_READ: &str =
    "UPDATE members SET read_inbox_max_id = ?1 WHERE chat_id = ?2 AND user_id = ?3 AND read_inbox_max_id < ?1";

/// A member's role and read mark. The stored mark is a floor: the member's own messages still in
/// `messages_recent` count as read too, and their move raises the stored mark to them (see
/// `insert_message`).
const MEMBER_READ: &str = "SELECT role, MAX(read_inbox_max_id, \
        IFNULL((SELECT MAX(r.id) FROM messages_recent r WHERE r.chat_id = ?1 AND r.sender_id = ?2), 0)) \
    FROM members WHERE chat_id = ?1 AND user_id = ?2";

fn member_read(conn: &Connection, key: ChatKey, user: UserId) -> StoreResult<Option<(Role, i64)>> {
    conn.prepare_cached(MEMBER_READ)
        .map_err(db)?
        .query_row([key.0, user.0], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .optional()
        .map_err(db)?
        .map(|(role, read)| Ok((Role::parse(&role).map_err(StoreError::backend)?, read)))
        .transpose()
}

/// The chat `viewer` calls `chat`, if the viewer is a member of it; otherwise `ChatNotFound`.
fn resolve(conn: &Connection, viewer: UserId, chat: ChatId) -> StoreResult<(ChatRow, Role)> {
    let row = match chat.resolve() {
        None => None,
        Some(ChatRef::Private { peer }) => {
            let (lo, hi) = private_pair(viewer, peer);
            conn.prepare_cached(&format!(
                "SELECT {CHAT_COLUMNS} FROM chats WHERE kind = 'private' AND user_lo = ?1 AND user_hi = ?2"
            ))
            .map_err(db)?
            .query_row([lo.0, hi.0], chat_from_row)
            .optional()
            .map_err(db)?
        }
        Some(ChatRef::Group { key }) => load_chat_row(conn, key)?.filter(|c| c.is_group),
    };
    let row = row.ok_or(Denied::ChatNotFound)?;
    if !row.is_group {
        // Both users of a private chat are its members for as long as it exists.
        return Ok((row, Role::Member));
    }
    let role = member_role(conn, row.key, viewer)?.ok_or(Denied::ChatNotFound)?;
    Ok((row, role))
}

/// Members of the chat who are people, not bots: bots are not told of deletions and read marks.
fn people_ids(conn: &Connection, key: ChatKey) -> StoreResult<Vec<UserId>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT m.user_id FROM members m JOIN users u ON u.id = m.user_id \
             WHERE m.chat_id = ?1 AND u.is_bot = 0 ORDER BY m.user_id",
        )
        .map_err(db)?;
    let ids =
        stmt.query_map([key.0], |r| r.get(0).map(UserId)).map_err(db)?.collect::<Result<Vec<_>, _>>().map_err(db)?;
    Ok(ids)
}

/// Whom a message's `message_new`/`message_edited` entry goes to: every member, except a bot
/// sender (bots do not receive their own messages).
fn message_recipients(conn: &Writer, row: &ChatRow, sender: UserId) -> StoreResult<Vec<UserId>> {
    // A private chat's two members are in its row; a group's are looked up.
    let mut ids = match (row.is_group, row.user_lo, row.user_hi) {
        (false, Some(lo), Some(hi)) => vec![UserId(lo), UserId(hi)],
        _ => member_ids(conn, row.key)?,
    };
    if conn.is_bot(sender)? {
        ids.retain(|u| *u != sender);
    }
    Ok(ids)
}

fn is_bot(conn: &Connection, user: UserId) -> StoreResult<bool> {
    conn.prepare_cached("SELECT is_bot FROM users WHERE id = ?1")
        .map_err(db)?
        .query_row([user.0], |r| r.get::<_, bool>(0))
        .optional()
        .map_err(db)
        .map(|b| b.unwrap_or(false))
}

/// Has `user` blocked the other side of the private chat `key`?
fn blocked_peer(conn: &Connection, key: ChatKey, user: UserId) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("SELECT blocked_peer FROM members WHERE chat_id = ?1 AND user_id = ?2")
        .map_err(db)?
        .query_row([key.0, user.0], |r| r.get(0))
        .optional()
        .map_err(db)?
        .unwrap_or(false))
}

fn member_ids(conn: &Connection, key: ChatKey) -> StoreResult<Vec<UserId>> {
    let mut stmt =
        conn.prepare_cached("SELECT user_id FROM members WHERE chat_id = ?1 ORDER BY user_id").map_err(db)?;
    let ids =
        stmt.query_map([key.0], |r| r.get(0).map(UserId)).map_err(db)?.collect::<Result<Vec<_>, _>>().map_err(db)?;
    Ok(ids)
}

/// Appends one entry to `user`'s update log and returns its seq.
fn push_update(
    conn: &Writer,
    user: UserId,
    kind: &'static str,
    chat: ChatKey,
    message_id: Option<i64>,
) -> StoreResult<(UserId, u64)> {
    let seq = conn.log_entry(user, kind, chat, message_id)?;
    Ok((user, seq as u64))
}

fn push_all(
    conn: &Writer,
    users: &[UserId],
    kind: &'static str,
    chat: ChatKey,
    message_id: Option<i64>,
) -> StoreResult<Vec<(UserId, u64)>> {
    users.iter().map(|u| push_update(conn, *u, kind, chat, message_id)).collect()
}

fn load_callback_query(conn: &Connection, id: i64) -> StoreResult<Option<CallbackQuery>> {
    let row = conn
        .prepare_cached(
            "SELECT id, bot_id, user_id, chat_id, message_id, data, created_at, answer FROM callback_queries WHERE id = ?1",
        )
        .map_err(db)?
        .query_row([id], |r| {
            Ok((
                CallbackQuery {
                    id: r.get(0)?,
                    bot: UserId(r.get(1)?),
                    from: UserId(r.get(2)?),
                    chat: ChatKey(r.get(3)?),
                    message_id: MessageId(r.get(4)?),
                    data: r.get(5)?,
                    created_at: r.get(6)?,
                    answer: None,
                },
                r.get::<_, Option<String>>(7)?,
            ))
        })
        .optional()
        .map_err(db)?;
    row.map(|(mut q, answer)| {
        q.answer = codec::decode_answer(answer.as_deref())?;
        Ok(q)
    })
    .transpose()
}

/// Tells a bot its standing in a chat changed (`my_chat_member`); people are told through
/// `chat_updated`/`chat_removed` entries instead.
fn note_member_change(conn: &Writer, change: MemberChange) -> StoreResult<Option<(UserId, u64)>> {
    if change.old == change.new || !is_bot(conn, change.user)? {
        return Ok(None);
    }
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO member_events (chat_id, user_id, actor_id, old_status, new_status, date) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        )
        .map_err(db)?
        .query_row(
            params![
                change.chat.0,
                change.user.0,
                change.actor.0,
                change.old.as_str(),
                change.new.as_str(),
                change.date
            ],
            |r| r.get(0),
        )
        .map_err(db)?;
    Ok(Some(push_update(conn, change.user, "member_status", change.chat, Some(id))?))
}

fn load_member_event(conn: &Connection, id: i64) -> StoreResult<Option<MemberChange>> {
    let row = conn
        .prepare_cached(
            "SELECT chat_id, user_id, actor_id, old_status, new_status, date FROM member_events WHERE id = ?1",
        )
        .map_err(db)?
        .query_row([id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?, r.get::<_, String>(4)?, r.get(5)?))
        })
        .optional()
        .map_err(db)?;
    row.map(|(chat, user, actor, old, new, date)| {
        Ok(MemberChange {
            chat: ChatKey(chat),
            user: UserId(user),
            actor: UserId(actor),
            old: MemberStatus::parse(&old).map_err(StoreError::backend)?,
            new: MemberStatus::parse(&new).map_err(StoreError::backend)?,
            date,
        })
    })
    .transpose()
}

/// The end of `user`'s ban from the group if one is recorded (`Some(None)`: no end).
fn ban_of(conn: &Connection, key: ChatKey, user: UserId) -> StoreResult<Option<Option<i64>>> {
    conn.prepare_cached("SELECT until FROM bans WHERE chat_id = ?1 AND user_id = ?2")
        .map_err(db)?
        .query_row([key.0, user.0], |r| r.get::<_, Option<i64>>(0))
        .optional()
        .map_err(db)
}

/// Removes a member and tells everyone concerned; returns the entries written.
fn remove_member(
    conn: &Writer,
    key: ChatKey,
    actor: UserId,
    target: UserId,
    old: MemberStatus,
    new: MemberStatus,
    now: i64,
) -> StoreResult<Vec<(UserId, u64)>> {
    conn.execute("DELETE FROM members WHERE chat_id = ?1 AND user_id = ?2", params![key.0, target.0]).map_err(db)?;
    let mut notify = vec![push_update(conn, target, "chat_removed", key, None)?];
    notify.extend(push_all(conn, &member_ids(conn, key)?, "chat_updated", key, None)?);
    notify.extend(note_member_change(conn, MemberChange { chat: key, user: target, actor, old, new, date: now })?);
    Ok(notify)
}

/// Inserts a message into a chat the sender was checked to be in, with the chat's next id.
fn insert_message(
    conn: &Writer,
    row: &ChatRow,
    sender: UserId,
    m: NewMessage,
    now: i64,
) -> StoreResult<Written<Message>> {
    let busy = conn.busy_chat(row.key);
    let id = conn.next_message_id(row.key)?;
    let insert = if busy { &conn.hot.insert_recent_message } else { &conn.hot.insert_message };
    insert
        .borrow_mut()
        .execute(params![
            row.key.0,
            id,
            sender.0,
            now,
            m.text.as_str(),
            entities::encode(&m.entities),
            m.reply_to.map(|r| r.0),
            codec::encode_extra(&codec::Extras::of_new(&m))
        ])
        .map_err(db)?;
    conn.remember_head(row.key, id);
    // One's own messages count as read. A message in `messages_recent` counts by itself (see
    // `MEMBER_READ`) until its move writes the mark, once per sender and chat; rewriting the
    // sender's row of `members` for each message was a quarter of the Bot API benchmark's WAL
    // frames. Quiet chats' messages, in `messages`, write it at once.
    if busy {
        conn.recent_messages.borrow_mut().add(row.key.0, 1);
        if let Some(reads) = &mut *conn.recent_reads.borrow_mut() {
            reads.insert((row.key.0, sender.0), id);
        }
    } else {
        conn.hot.raise_read.borrow_mut().execute(params![id, row.key.0, sender.0]).map_err(db)?;
    }
    if let Some(p) = &m.poll {
        conn.prepare_cached(
            "INSERT INTO polls (id, chat_id, message_id, creator_id, question, options, is_anonymous, kind, multiple, \
             correct_option, explanation, closed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .map_err(db)?
        .execute(params![
            p.id,
            row.key.0,
            id,
            sender.0,
            p.question,
            serde_json::to_string(&p.options).expect("options serialize"),
            p.is_anonymous,
            p.kind.as_str(),
            p.allows_multiple_answers,
            p.correct_option_id,
            p.explanation,
            p.is_closed
        ])
        .map_err(db)?;
    }
    let notify = push_all(conn, &message_recipients(conn, row, sender)?, "message_new", row.key, Some(id))?;
    Ok(Written { value: m.into_message(row.key, MessageId(id), sender, now), notify })
}

/// `?1`'s newest update-log seq (0 for none), in one statement so that one snapshot answers:
/// the most of what versions before 0015 moved to `updates`, its blocks, and its rows of the open
/// block (see `0015_update_blocks.sql`). A macro so that [`CURRENT_CURSOR`] extends the same text.
macro_rules! last_seq {
    () => {
        "SELECT MAX((SELECT COALESCE(MAX(seq), 0) FROM updates WHERE user_id = ?1), \
                (SELECT COALESCE(MAX(last_seq), 0) FROM update_blocks WHERE user_id = ?1), \
                (SELECT COALESCE(MAX(seq), 0) FROM updates_recent \
                 WHERE rowid > (SELECT last_row FROM update_log_mark) AND user_id = ?1))"
    };
}
const LAST_SEQ: &str = last_seq!();
/// [`LAST_SEQ`], with no row for an unknown user.
const CURRENT_CURSOR: &str = concat!(last_seq!(), " FROM users WHERE id = ?1");

/// `?1`'s update-log entries after seq `?2`, oldest first, at most `?3`, in one statement (one
/// snapshot): from `updates`, then each block holding a newer entry, read by its rowid range,
/// then the open block. Each part stops at `?3` rows; a block has at least one of the user's
/// entries after `?2`, so `?3` blocks are enough.
const LOG_AFTER: &str = "SELECT seq, kind, chat_id, message_id FROM ( \
       SELECT * FROM (SELECT seq, kind, chat_id, message_id FROM updates \
                      WHERE user_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3) \
       UNION ALL \
       SELECT * FROM (SELECT l.seq, l.kind, l.chat_id, l.message_id \
                      FROM (SELECT first_row, last_row FROM update_blocks \
                            WHERE user_id = ?1 AND last_seq > ?2 ORDER BY last_seq LIMIT ?3) AS b \
                      JOIN updates_recent AS l ON l.rowid BETWEEN b.first_row AND b.last_row \
                      WHERE l.user_id = ?1 AND l.seq > ?2) \
       UNION ALL \
       SELECT * FROM (SELECT seq, kind, chat_id, message_id FROM updates_recent \
                      WHERE rowid > (SELECT last_row FROM update_log_mark) AND user_id = ?1 AND seq > ?2 \
                      ORDER BY rowid LIMIT ?3)) \
     ORDER BY seq LIMIT ?3";

/// The newest pin of the chat whose message still exists.
fn newest_pin(conn: &Connection, key: ChatKey) -> StoreResult<Option<Message>> {
    let id: Option<i64> = conn
        .prepare_cached(
            "SELECT p.message_id FROM pins p WHERE p.chat_id = ?1 AND EXISTS ( \
                 SELECT 1 FROM messages_recent m WHERE m.chat_id = p.chat_id AND m.id = p.message_id AND m.deleted = 0 \
                 UNION ALL SELECT 1 FROM messages m WHERE m.chat_id = p.chat_id AND m.id = p.message_id AND m.deleted = 0) \
             ORDER BY p.pinned_at DESC, p.message_id DESC LIMIT 1",
        )
        .map_err(db)?
        .query_row([key.0], |r| r.get(0))
        .optional()
        .map_err(db)?;
    match id {
        Some(id) => load_message(conn, key, MessageId(id)),
        None => Ok(None),
    }
}

/// A poll with its counts and `viewer`'s vote, and the chat and message it is in.
fn load_poll(conn: &Connection, id: &str, viewer: UserId) -> StoreResult<Option<(Poll, ChatKey, MessageId, UserId)>> {
    let row = conn
        .prepare_cached(
            "SELECT chat_id, message_id, creator_id, question, options, is_anonymous, kind, multiple, correct_option, \
             explanation, closed FROM polls WHERE id = ?1",
        )
        .map_err(db)?
        .query_row([id], |r| {
            Ok((
                ChatKey(r.get(0)?),
                MessageId(r.get(1)?),
                UserId(r.get(2)?),
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, bool>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, bool>(7)?,
                r.get::<_, Option<u8>>(8)?,
                r.get::<_, Option<String>>(9)?,
                r.get::<_, bool>(10)?,
            ))
        })
        .optional()
        .map_err(db)?;
    let Some((chat, message, creator, question, options, anonymous, kind, multiple, correct, explanation, closed)) =
        row
    else {
        return Ok(None);
    };
    let options: Vec<String> = serde_json::from_str(&options).map_err(StoreError::backend)?;
    let votes: Vec<(i64, String)> = conn
        .prepare_cached("SELECT user_id, option_ids FROM poll_votes WHERE poll_id = ?1")
        .map_err(db)?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db)?
        .collect::<Result<_, _>>()
        .map_err(db)?;
    let mut choices = Vec::with_capacity(votes.len());
    let mut my_vote = Vec::new();
    for (user, ids) in votes {
        let ids: Vec<u8> = serde_json::from_str(&ids).map_err(StoreError::backend)?;
        if user == viewer.0 {
            my_vote = ids.clone();
        }
        choices.push(ids);
    }
    let (voter_counts, total_voter_count) = count_votes(options.len(), &choices);
    let spec = NewPoll {
        id: id.to_string(),
        question,
        options,
        is_anonymous: anonymous,
        kind: PollKind::parse(&kind).map_err(StoreError::backend)?,
        allows_multiple_answers: multiple,
        correct_option_id: correct,
        explanation,
        is_closed: closed,
    };
    Ok(Some((Poll { spec, voter_counts, total_voter_count, my_vote }, chat, message, creator)))
}

/// Entries telling a poll's chat (people) and its bot that the poll changed.
fn push_poll_updated(
    conn: &Writer,
    key: ChatKey,
    message: MessageId,
    creator: UserId,
) -> StoreResult<Vec<(UserId, u64)>> {
    let mut users = people_ids(conn, key)?;
    if is_bot(conn, creator)? {
        users.push(creator);
    }
    push_all(conn, &users, "poll_updated", key, Some(message.0))
}

fn reaction_rows(conn: &Connection, key: ChatKey, message: MessageId) -> StoreResult<Vec<(UserId, Vec<String>)>> {
    let rows: Vec<(i64, String)> = conn
        .prepare_cached(
            "SELECT user_id, emojis FROM reactions WHERE chat_id = ?1 AND message_id = ?2 ORDER BY date, user_id",
        )
        .map_err(db)?
        .query_map([key.0, message.0], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db)?
        .collect::<Result<_, _>>()
        .map_err(db)?;
    rows.into_iter().map(|(u, e)| Ok((UserId(u), serde_json::from_str(&e).map_err(StoreError::backend)?))).collect()
}

fn load_reaction_event(conn: &Connection, id: i64) -> StoreResult<Option<ReactionChange>> {
    let row = conn
        .prepare_cached("SELECT chat_id, message_id, user_id, old, new, date FROM reaction_events WHERE id = ?1")
        .map_err(db)?
        .query_row([id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?, r.get::<_, String>(4)?, r.get(5)?))
        })
        .optional()
        .map_err(db)?;
    row.map(|(chat, message, user, old, new, date)| {
        Ok(ReactionChange {
            chat: ChatKey(chat),
            message_id: MessageId(message),
            user: UserId(user),
            old: serde_json::from_str(&old).map_err(StoreError::backend)?,
            new: serde_json::from_str(&new).map_err(StoreError::backend)?,
            date,
        })
    })
    .transpose()
}

fn chat_view(conn: &Connection, viewer: UserId, row: &ChatRow) -> StoreResult<Chat> {
    let (role, read_inbox) = member_read(conn, row.key, viewer)?.ok_or(Denied::ChatNotFound)?;
    let (kind, read_outbox) = if row.is_group {
        let count: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM members WHERE chat_id = ?1")
            .map_err(db)?
            .query_row([row.key.0], |r| r.get(0))
            .map_err(db)?;
        let title = GroupTitle::parse(row.title.as_deref().unwrap_or("")).map_err(StoreError::backend)?;
        (ChatKind::Group { title, member_count: count as u32, my_role: role }, 0)
    } else {
        let peer = row.peer_of(viewer);
        let peer_read = member_read(conn, row.key, peer)?.map(|(_, r)| r).unwrap_or(0);
        (ChatKind::Private { peer: load_user(conn, peer)? }, peer_read)
    };
    Ok(Chat {
        id: row.id_for(viewer),
        key: row.key,
        kind,
        last_message_id: MessageId(row.last_message_id),
        read_inbox_max_id: MessageId(read_inbox),
        read_outbox_max_id: MessageId(read_outbox),
        created_at: row.created_at,
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

// ---------------------------------------------------------------------------------------------

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            commits: self.stats.commits.load(Ordering::Relaxed),
            batched_writes: self.stats.writes.load(Ordering::Relaxed),
            failed_batches: self.stats.failed.load(Ordering::Relaxed),
        }
    }

    async fn create_account(&self, a: NewAccount) -> StoreResult<User> {
        self.write(move |conn| {
            let key = a.username.canonical();
            let taken: bool = conn
                .prepare_cached("SELECT EXISTS(SELECT 1 FROM users WHERE username_key = ?1)")
                .map_err(db)?
                .query_row([&key], |r| r.get(0))
                .map_err(db)?;
            if taken {
                return Err(Denied::UsernameTaken.into());
            }
            if let Some(bot) = &a.bot {
                let owner = load_user(conn, bot.owner)?;
                if owner.is_bot {
                    return Err(Denied::UserNotFound.into());
                }
            }
            let id: i64 = conn
                .query_row("SELECT COALESCE(MAX(id), ?1) + 1 FROM users", [FIRST_USER_ID - 1], |r| r.get(0))
                .map_err(db)?;
            conn.prepare_cached(
                "INSERT INTO users (id, username, username_key, display_name, password_hash, is_bot, bot_owner, \
                 bot_token_hash, language_code, phone_number, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .map_err(db)?
            .execute(params![
                id,
                a.username.as_str(),
                key,
                a.display_name.as_str(),
                a.password_hash,
                a.bot.is_some(),
                a.bot.as_ref().map(|b| b.owner.0),
                a.bot.as_ref().map(|b| b.token_secret_hash.clone()),
                a.language_code.as_ref().map(|l| l.as_str().to_string()),
                a.phone_number.as_ref().map(|p| p.as_str().to_string()),
                a.now,
            ])
            .map_err(|e| if is_unique_violation(&e) { Denied::UsernameTaken.into() } else { db(e) })?;
            load_user(conn, UserId(id))
        })
        .await
    }

    async fn user(&self, id: UserId) -> StoreResult<User> {
        self.read(move |conn| load_user(conn, id)).await
    }

    async fn user_by_username(&self, username: &Username) -> StoreResult<User> {
        let key = username.canonical();
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE username_key = ?1"))
                .map_err(db)?
                .query_row([key], user_from_row)
                .optional()
                .map_err(db)?
                .ok_or(Denied::UserNotFound.into())
        })
        .await
    }

    async fn login_record(&self, username: &Username) -> StoreResult<Option<(User, String)>> {
        let key = username.canonical();
        self.read(move |conn| {
            let row = conn
                .prepare_cached(&format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE username_key = ?1"))
                .map_err(db)?
                .query_row([key], |r| Ok((user_from_row(r)?, r.get::<_, Option<String>>(7)?)))
                .optional()
                .map_err(db)?;
            Ok(row.and_then(|(u, h)| h.map(|h| (u, h))))
        })
        .await
    }

    async fn update_profile(&self, user: UserId, change: ProfileChange) -> StoreResult<User> {
        self.write(move |conn| {
            load_user(conn, user)?;
            if let Some(name) = &change.display_name {
                conn.execute("UPDATE users SET display_name = ?1 WHERE id = ?2", params![name.as_str(), user.0])
                    .map_err(db)?;
            }
            if let Some(lang) = &change.language_code {
                let v = lang.as_ref().map(|l| l.as_str().to_string());
                conn.execute("UPDATE users SET language_code = ?1 WHERE id = ?2", params![v, user.0]).map_err(db)?;
            }
            if let Some(phone) = &change.phone_number {
                let v = phone.as_ref().map(|p| p.as_str().to_string());
                conn.execute("UPDATE users SET phone_number = ?1 WHERE id = ?2", params![v, user.0]).map_err(db)?;
            }
            load_user(conn, user)
        })
        .await
    }

    async fn list_people(&self) -> StoreResult<Vec<User>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE is_bot = 0 ORDER BY id"))
                .map_err(db)?;
            let users = stmt.query_map([], user_from_row).map_err(db)?.collect::<Result<Vec<_>, _>>().map_err(db)?;
            Ok(users)
        })
        .await
    }

    async fn list_bots(&self) -> StoreResult<Vec<BotRecord>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!("SELECT {USER_COLUMNS}, bot_owner FROM users WHERE is_bot = 1 ORDER BY id"))
                .map_err(db)?;
            let rows = stmt
                .query_map([], |r| Ok((user_from_row(r)?, r.get::<_, i64>(7)?)))
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            rows.into_iter().map(|(bot, owner)| Ok(BotRecord { bot, owner: load_user(conn, UserId(owner))? })).collect()
        })
        .await
    }

    async fn bot_token_hash(&self, bot: UserId) -> StoreResult<Vec<u8>> {
        self.read(move |conn| {
            conn.prepare_cached("SELECT bot_token_hash FROM users WHERE id = ?1 AND is_bot = 1")
                .map_err(db)?
                .query_row([bot.0], |r| r.get::<_, Option<Vec<u8>>>(0))
                .optional()
                .map_err(db)?
                .flatten()
                .ok_or(Denied::UserNotFound.into())
        })
        .await
    }

    async fn set_bot_token_hash(&self, bot: UserId, hash: Vec<u8>) -> StoreResult<()> {
        self.write(move |conn| {
            let n = conn
                .execute("UPDATE users SET bot_token_hash = ?1 WHERE id = ?2 AND is_bot = 1", params![hash, bot.0])
                .map_err(db)?;
            if n == 0 { Err(Denied::UserNotFound.into()) } else { Ok(()) }
        })
        .await
    }

    async fn create_session(&self, token_hash: Vec<u8>, user: UserId, now: i64, expires_at: i64) -> StoreResult<()> {
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(db)?
            .execute(params![token_hash, user.0, now, expires_at])
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn session_user(&self, token_hash: &[u8], now: i64) -> StoreResult<Option<(User, i64)>> {
        let token_hash = token_hash.to_vec();
        self.read(move |conn| {
            let cols = USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ");
            conn.prepare_cached(&format!(
                "SELECT {cols}, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2"
            ))
            .map_err(db)?
            .query_row(params![token_hash, now], |r| Ok((user_from_row(r)?, r.get(7)?)))
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn delete_session(&self, token_hash: &[u8]) -> StoreResult<()> {
        let token_hash = token_hash.to_vec();
        self.write(move |conn| {
            conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash]).map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn open_private_chat(&self, me: UserId, peer: UserId, now: i64) -> StoreResult<Written<Chat>> {
        self.write(move |conn| {
            if me == peer {
                return Err(Denied::PeerIsSelf.into());
            }
            load_user(conn, peer)?;
            match resolve(conn, me, ChatId::private(peer)) {
                Ok((row, _)) => return Ok(Written { value: chat_view(conn, me, &row)?, notify: vec![] }),
                Err(StoreError::Denied(Denied::ChatNotFound)) => {}
                Err(e) => return Err(e),
            }
            let (lo, hi) = private_pair(me, peer);
            conn.execute(
                "INSERT INTO chats (kind, user_lo, user_hi, last_activity, created_at) VALUES ('private', ?1, ?2, ?3, ?3)",
                params![lo.0, hi.0, now],
            )
            .map_err(db)?;
            let key = ChatKey(conn.last_insert_rowid());
            for u in [lo, hi] {
                conn.execute(
                    "INSERT INTO members (chat_id, user_id, role, joined_at) VALUES (?1, ?2, 'member', ?3)",
                    params![key.0, u.0, now],
                )
                .map_err(db)?;
            }
            let notify = push_all(conn, &[lo, hi], "chat_updated", key, None)?;
            let row = load_chat_row(conn, key)?.ok_or(Denied::ChatNotFound)?;
            Ok(Written { value: chat_view(conn, me, &row)?, notify })
        })
        .await
    }

    async fn create_group(
        &self,
        creator: UserId,
        title: GroupTitle,
        members: Vec<UserId>,
        now: i64,
    ) -> StoreResult<Written<Chat>> {
        self.write(move |conn| {
            let mut others: Vec<UserId> = members.into_iter().filter(|m| *m != creator).collect();
            others.sort();
            others.dedup();
            if others.len() + 1 > MAX_GROUP_MEMBERS {
                return Err(Denied::TooManyMembers.into());
            }
            load_user(conn, creator)?;
            for m in &others {
                load_user(conn, *m)?;
            }
            conn.execute(
                "INSERT INTO chats (kind, title, last_activity, created_at) VALUES ('group', ?1, ?2, ?2)",
                params![title.as_str(), now],
            )
            .map_err(db)?;
            let key = ChatKey(conn.last_insert_rowid());
            let mut stmt = conn
                .prepare_cached("INSERT INTO members (chat_id, user_id, role, joined_at) VALUES (?1, ?2, ?3, ?4)")
                .map_err(db)?;
            stmt.execute(params![key.0, creator.0, Role::Creator.as_str(), now]).map_err(db)?;
            for m in &others {
                stmt.execute(params![key.0, m.0, Role::Member.as_str(), now]).map_err(db)?;
            }
            let all = member_ids(conn, key)?;
            let mut notify = push_all(conn, &all, "chat_updated", key, None)?;
            for m in &others {
                let change = MemberChange {
                    chat: key,
                    user: *m,
                    actor: creator,
                    old: MemberStatus::Left,
                    new: MemberStatus::Member,
                    date: now,
                };
                notify.extend(note_member_change(conn, change)?);
            }
            let row = load_chat_row(conn, key)?.ok_or(Denied::ChatNotFound)?;
            Ok(Written { value: chat_view(conn, creator, &row)?, notify })
        })
        .await
    }

    async fn chat(&self, viewer: UserId, chat: ChatId) -> StoreResult<Chat> {
        self.read(move |conn| {
            let (row, _) = resolve(conn, viewer, chat)?;
            chat_view(conn, viewer, &row)
        })
        .await
    }

    async fn chats(&self, viewer: UserId) -> StoreResult<Vec<ChatSummary>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {CHAT_COLUMNS} FROM members m JOIN chats ON chats.id = m.chat_id WHERE m.user_id = ?1 \
                     ORDER BY MAX(chats.last_activity, \
                         IFNULL((SELECT r.date FROM messages_recent r WHERE r.chat_id = chats.id ORDER BY r.id DESC LIMIT 1), 0), \
                         IFNULL((SELECT m.date FROM messages m WHERE m.chat_id = chats.id ORDER BY m.id DESC LIMIT 1), 0)) DESC, \
                     chats.id DESC"
                ))
                .map_err(db)?;
            let rows = stmt.query_map([viewer.0], chat_from_row).map_err(db)?.collect::<Result<Vec<_>, _>>().map_err(db)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let chat = chat_view(conn, viewer, &row)?;
                let last_message = conn
                    .prepare_cached(&format!(
                        "SELECT {MESSAGE_COLUMNS} FROM messages_recent WHERE chat_id = ?1 AND deleted = 0 \
                         UNION ALL SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = ?1 AND deleted = 0 \
                         ORDER BY id DESC LIMIT 1"
                    ))
                    .map_err(db)?
                    .query_row([row.key.0], message_from_row)
                    .optional()
                    .map_err(db)?
                    .map(finish_message)
                    .transpose()?;
                let unread: i64 = conn
                    .prepare_cached(
                        "SELECT (SELECT COUNT(*) FROM messages_recent WHERE chat_id = ?1 AND id > ?2 AND deleted = 0 AND sender_id != ?3) \
                              + (SELECT COUNT(*) FROM messages WHERE chat_id = ?1 AND id > ?2 AND deleted = 0 AND sender_id != ?3)",
                    )
                    .map_err(db)?
                    .query_row(params![row.key.0, chat.read_inbox_max_id.0, viewer.0], |r| r.get(0))
                    .map_err(db)?;
                out.push(ChatSummary { chat, last_message, unread_count: unread as u32 });
            }
            Ok(out)
        })
        .await
    }

    async fn members(&self, viewer: UserId, chat: ChatId) -> StoreResult<Vec<Member>> {
        self.read(move |conn| {
            let (row, _) = resolve(conn, viewer, chat)?;
            let mut stmt = conn
                .prepare_cached(
                    "SELECT user_id, role, joined_at FROM members WHERE chat_id = ?1 ORDER BY joined_at, user_id",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map([row.key.0], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            rows.into_iter()
                .map(|(id, role, joined_at)| {
                    Ok(Member {
                        user: load_user(conn, UserId(id))?,
                        role: Role::parse(&role).map_err(StoreError::backend)?,
                        joined_at,
                    })
                })
                .collect()
        })
        .await
    }

    async fn change_group(
        &self,
        actor: UserId,
        chat: ChatId,
        change: GroupChange,
        now: i64,
    ) -> StoreResult<Written<Chat>> {
        let change = crate::rules::normalize(actor, change);
        self.write(move |conn| {
            let (row, actor_role) = resolve(conn, actor, chat)?;
            if !row.is_group {
                return Err(Denied::NotAGroup.into());
            }
            let key = row.key;
            let mut notify = Vec::new();
            match change {
                GroupChange::AddMembers(ids) => {
                    if !actor_role.can_manage() {
                        return Err(Denied::NotAdmin.into());
                    }
                    let mut ids = ids;
                    ids.sort();
                    ids.dedup();
                    let count = member_ids(conn, key)?.len();
                    if count + ids.len() > MAX_GROUP_MEMBERS {
                        return Err(Denied::TooManyMembers.into());
                    }
                    for id in &ids {
                        load_user(conn, *id)?;
                        if member_role(conn, key, *id)?.is_some() {
                            return Err(Denied::AlreadyMember.into());
                        }
                        if ban_of(conn, key, *id)?.is_some_and(|until| ban_in_force(until, now)) {
                            return Err(Denied::Banned.into());
                        }
                    }
                    for id in &ids {
                        conn.execute(
                            "INSERT INTO members (chat_id, user_id, role, joined_at) VALUES (?1, ?2, 'member', ?3)",
                            params![key.0, id.0, now],
                        )
                        .map_err(db)?;
                    }
                    // Newcomers start with everything before their arrival read.
                    conn.execute(
                        &format!(
                            "UPDATE members SET read_inbox_max_id = ?1 WHERE chat_id = ?2 AND user_id IN ({})",
                            ids.iter().map(|i| i.0.to_string()).collect::<Vec<_>>().join(",")
                        ),
                        params![row.last_message_id, key.0],
                    )
                    .map_err(db)?;
                    notify = push_all(conn, &member_ids(conn, key)?, "chat_updated", key, None)?;
                    for id in &ids {
                        // An expired ban is forgotten once the user is back.
                        conn.execute("DELETE FROM bans WHERE chat_id = ?1 AND user_id = ?2", params![key.0, id.0])
                            .map_err(db)?;
                        let change = MemberChange {
                            chat: key,
                            user: *id,
                            actor,
                            old: MemberStatus::Left,
                            new: MemberStatus::Member,
                            date: now,
                        };
                        notify.extend(note_member_change(conn, change)?);
                    }
                }
                GroupChange::RemoveMember(target) => {
                    let target_role = member_role(conn, key, target)?.ok_or(Denied::UserNotFound)?;
                    may_remove(actor, actor_role, target, target_role)?;
                    let old = MemberStatus::of_role(target_role);
                    notify = remove_member(conn, key, actor, target, old, MemberStatus::Left, now)?;
                }
                GroupChange::Ban { user, until } => {
                    if !actor_role.can_manage() {
                        return Err(Denied::NotAdmin.into());
                    }
                    load_user(conn, user)?;
                    if let Some(target_role) = member_role(conn, key, user)? {
                        may_remove(actor, actor_role, user, target_role)?;
                        if user == actor {
                            return Err(Denied::NotAdmin.into());
                        }
                        let old = MemberStatus::of_role(target_role);
                        notify = remove_member(conn, key, actor, user, old, MemberStatus::Kicked, now)?;
                    }
                    conn.execute(
                        "INSERT INTO bans (chat_id, user_id, until, banned_by, banned_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                         ON CONFLICT (chat_id, user_id) DO UPDATE SET until = excluded.until, banned_by = excluded.banned_by, banned_at = excluded.banned_at",
                        params![key.0, user.0, until, actor.0, now],
                    )
                    .map_err(db)?;
                }
                GroupChange::Unban { user, only_if_banned } => {
                    if !actor_role.can_manage() {
                        return Err(Denied::NotAdmin.into());
                    }
                    if ban_of(conn, key, user)?.is_some() {
                        conn.execute("DELETE FROM bans WHERE chat_id = ?1 AND user_id = ?2", params![key.0, user.0])
                            .map_err(db)?;
                        let change = MemberChange {
                            chat: key,
                            user,
                            actor,
                            old: MemberStatus::Kicked,
                            new: MemberStatus::Left,
                            date: now,
                        };
                        notify.extend(note_member_change(conn, change)?);
                    } else if !only_if_banned && let Some(target_role) = member_role(conn, key, user)? {
                        may_remove(actor, actor_role, user, target_role)?;
                        // As with Ban: removing oneself this way would leave no chat to answer
                        // with (a refusal after rows changed, spoiling the batch).
                        if user == actor {
                            return Err(Denied::NotAdmin.into());
                        }
                        let old = MemberStatus::of_role(target_role);
                        notify = remove_member(conn, key, actor, user, old, MemberStatus::Left, now)?;
                    }
                }
                GroupChange::SetRole(target, role) => {
                    if actor_role != Role::Creator {
                        return Err(Denied::NotCreator.into());
                    }
                    let target_role = member_role(conn, key, target)?.ok_or(Denied::UserNotFound)?;
                    if target_role == Role::Creator || role == Role::Creator {
                        return Err(Denied::CreatorIsFixed.into());
                    }
                    conn.execute(
                        "UPDATE members SET role = ?1 WHERE chat_id = ?2 AND user_id = ?3",
                        params![role.as_str(), key.0, target.0],
                    )
                    .map_err(db)?;
                    notify = push_all(conn, &member_ids(conn, key)?, "chat_updated", key, None)?;
                    let change = MemberChange {
                        chat: key,
                        user: target,
                        actor,
                        old: MemberStatus::of_role(target_role),
                        new: MemberStatus::of_role(role),
                        date: now,
                    };
                    notify.extend(note_member_change(conn, change)?);
                }
                GroupChange::SetTitle(title) => {
                    if !actor_role.can_manage() {
                        return Err(Denied::NotAdmin.into());
                    }
                    conn.execute("UPDATE chats SET title = ?1 WHERE id = ?2", params![title.as_str(), key.0]).map_err(db)?;
                    notify = push_all(conn, &member_ids(conn, key)?, "chat_updated", key, None)?;
                }
                GroupChange::Leave => {
                    let before = chat_view(conn, actor, &row)?;
                    conn.execute("DELETE FROM members WHERE chat_id = ?1 AND user_id = ?2", params![key.0, actor.0]).map_err(db)?;
                    if actor_role == Role::Creator {
                        // Hand the group to the longest-serving admin, else the longest-serving member.
                        conn.execute(
                            "UPDATE members SET role = 'creator' WHERE chat_id = ?1 AND user_id = (SELECT user_id FROM members \
                             WHERE chat_id = ?1 ORDER BY role = 'administrator' DESC, joined_at, user_id LIMIT 1)",
                            [key.0],
                        )
                        .map_err(db)?;
                    }
                    notify.push(push_update(conn, actor, "chat_removed", key, None)?);
                    notify.extend(push_all(conn, &member_ids(conn, key)?, "chat_updated", key, None)?);
                    let change = MemberChange {
                        chat: key,
                        user: actor,
                        actor,
                        old: MemberStatus::of_role(actor_role),
                        new: MemberStatus::Left,
                        date: now,
                    };
                    notify.extend(note_member_change(conn, change)?);
                    return Ok(Written { value: before, notify });
                }
            }
            let row = load_chat_row(conn, key)?.ok_or(Denied::ChatNotFound)?;
            Ok(Written { value: chat_view(conn, actor, &row)?, notify })
        })
        .await
    }

    async fn append_message(
        &self,
        sender: UserId,
        chat: ChatId,
        m: NewMessage,
        now: i64,
    ) -> StoreResult<Written<Message>> {
        self.write(move |conn| {
            let row = match chat.resolve() {
                Some(ChatRef::Private { peer }) if peer != sender => {
                    let (row, blocked) = conn.private_chat(sender, peer)?;
                    if blocked {
                        return Err(Denied::Blocked.into());
                    }
                    row
                }
                _ => resolve(conn, sender, chat)?.0,
            };
            if let Some(reply_to) = m.reply_to {
                load_message(conn, row.key, reply_to)?.ok_or(Denied::MessageNotFound)?;
            }
            insert_message(conn, &row, sender, m, now)
        })
        .await
    }

    async fn edit_message(
        &self,
        editor: UserId,
        chat: ChatId,
        id: MessageId,
        edit: MessageEdit,
        now: i64,
    ) -> StoreResult<Written<Message>> {
        self.write(move |conn| {
            let (row, _) = resolve(conn, editor, chat)?;
            let old = load_message(conn, row.key, id)?.ok_or(Denied::MessageNotFound)?;
            if old.sender != editor {
                return Err(Denied::NotAuthor.into());
            }
            let message = edited(&old, edit, now)?;
            update_message(
                conn,
                "text = ?3, entities = ?4, edit_date = ?5, extra = ?6",
                row.key,
                id,
                params![
                    message.text.as_str(),
                    entities::encode(&message.entities),
                    message.edit_date,
                    codec::encode_extra(&codec::Extras::of(&message))
                ],
            )?;
            let notify =
                push_all(conn, &message_recipients(conn, &row, editor)?, "message_edited", row.key, Some(id.0))?;
            Ok(Written { value: message, notify })
        })
        .await
    }

    async fn delete_messages(&self, actor: UserId, chat: ChatId, ids: Vec<MessageId>) -> StoreResult<Written<()>> {
        self.write(move |conn| {
            let (row, role) = resolve(conn, actor, chat)?;
            let mut ids = ids;
            ids.sort();
            ids.dedup();
            for id in &ids {
                let m = load_message(conn, row.key, *id)?.ok_or(Denied::MessageNotFound)?;
                may_delete(actor, m.sender, row.is_group, role)?;
            }
            let members = people_ids(conn, row.key)?;
            let mut notify = Vec::new();
            for id in &ids {
                update_message(conn, "deleted = 1, text = '', entities = NULL, extra = NULL", row.key, *id, &[])?;
                notify.extend(push_all(conn, &members, "message_deleted", row.key, Some(id.0))?);
            }
            Ok(Written { value: (), notify })
        })
        .await
    }

    async fn history(&self, viewer: UserId, chat: ChatId, page: HistoryPage) -> StoreResult<Vec<Message>> {
        self.read(move |conn| {
            let (row, _) = resolve(conn, viewer, chat)?;
            let (sql, bound, limit, reverse) = match page {
                HistoryPage::Before { before, limit } => (
                    format!(
                        "SELECT {MESSAGE_COLUMNS} FROM messages_recent WHERE chat_id = ?1 AND deleted = 0 AND id < ?2 \
                         UNION ALL SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = ?1 AND deleted = 0 AND id < ?2 \
                         ORDER BY id DESC LIMIT ?3"
                    ),
                    before.map_or(i64::MAX, |b| b.0),
                    limit,
                    true,
                ),
                HistoryPage::After { after, limit } => (
                    format!(
                        "SELECT {MESSAGE_COLUMNS} FROM messages_recent WHERE chat_id = ?1 AND deleted = 0 AND id > ?2 \
                         UNION ALL SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = ?1 AND deleted = 0 AND id > ?2 \
                         ORDER BY id ASC LIMIT ?3"
                    ),
                    after.0,
                    limit,
                    false,
                ),
            };
            let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
            let rows = stmt
                .query_map(params![row.key.0, bound, limit], message_from_row)
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            let mut out = rows.into_iter().map(finish_message).collect::<StoreResult<Vec<_>>>()?;
            if reverse {
                out.reverse();
            }
            Ok(out)
        })
        .await
    }

    async fn mark_read(&self, reader: UserId, chat: ChatId, max_id: MessageId) -> StoreResult<Written<Chat>> {
        self.write(move |conn| {
            let (row, _) = resolve(conn, reader, chat)?;
            let (_, current) = member_read(conn, row.key, reader)?.ok_or(Denied::ChatNotFound)?;
            let target = max_id.0.min(row.last_message_id);
            let mut notify = Vec::new();
            if target > current {
                conn.hot.raise_read.borrow_mut().execute(params![target, row.key.0, reader.0]).map_err(db)?;
                notify.push(push_update(conn, reader, "read_inbox", row.key, Some(target))?);
                let peer = row.peer_of(reader);
                if !row.is_group && !is_bot(conn, peer)? {
                    notify.push(push_update(conn, peer, "read_outbox", row.key, Some(target))?);
                }
            }
            Ok(Written { value: chat_view(conn, reader, &row)?, notify })
        })
        .await
    }

    async fn events_after(&self, user: UserId, cursor: u64, limit: u32) -> StoreResult<EventPage> {
        let limit = limit.min(crate::MAX_EVENTS_PAGE);
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(LOG_AFTER).map_err(db)?;
            let rows = stmt
                .query_map(params![user.0, cursor as i64, limit], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, ChatKey(r.get(2)?), r.get::<_, Option<i64>>(3)?))
                })
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            let mut chats: HashMap<ChatKey, ChatRow> = HashMap::new();
            let mut out = Vec::with_capacity(rows.len());
            let scanned = rows.len() as u32;
            let next_cursor = rows.last().map_or(cursor, |r| r.0 as u64);
            for (seq, kind, key, message_id) in rows {
                let row = match chats.get(&key) {
                    Some(r) => r.clone(),
                    None => {
                        let Some(r) = load_chat_row(conn, key)? else { continue };
                        chats.insert(key, r.clone());
                        r
                    }
                };
                let chat_id = row.id_for(user);
                let mid = MessageId(message_id.unwrap_or(0));
                let body = match kind.as_str() {
                    "message_new" | "message_edited" => {
                        let Some(message) = load_message(conn, key, mid)? else { continue };
                        if kind == "message_new" {
                            EventBody::MessageNew { chat_id, message }
                        } else {
                            EventBody::MessageEdited { chat_id, message }
                        }
                    }
                    "message_deleted" => EventBody::MessageDeleted { chat_id, message_id: mid },
                    "chat_updated" => match chat_view(conn, user, &row) {
                        Ok(chat) => EventBody::ChatUpdated { chat },
                        Err(StoreError::Denied(Denied::ChatNotFound)) => continue,
                        Err(e) => return Err(e),
                    },
                    "chat_removed" => EventBody::ChatRemoved { chat_id },
                    "read_inbox" => EventBody::ReadInbox { chat_id, max_id: mid },
                    "read_outbox" => EventBody::ReadOutbox { chat_id, max_id: mid },
                    "callback_query" => {
                        let query = load_callback_query(conn, mid.0)?
                            .ok_or(StoreError::Backend("lost callback query".into()))?;
                        let message = load_message(conn, key, query.message_id)?;
                        EventBody::CallbackQuery { chat_id, query, message }
                    }
                    "poll_updated" => {
                        let Some(m) = load_message(conn, key, mid)? else { continue };
                        let Some(poll_id) = m.poll else { continue };
                        let Some((poll, ..)) = load_poll(conn, &poll_id, user)? else { continue };
                        EventBody::PollUpdated { chat_id, message_id: mid, poll }
                    }
                    "poll_answer" => {
                        let row = conn
                            .prepare_cached("SELECT poll_id, user_id, option_ids FROM poll_answers WHERE id = ?1")
                            .map_err(db)?
                            .query_row([mid.0], |r| {
                                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
                            })
                            .map_err(db)?;
                        let option_ids = serde_json::from_str(&row.2).map_err(StoreError::backend)?;
                        EventBody::PollAnswered {
                            answer: PollAnswer { poll_id: row.0, user: UserId(row.1), option_ids },
                        }
                    }
                    "reactions_updated" => {
                        // The message is gone: its deletion follows in this log.
                        if load_message(conn, key, mid)?.is_none() {
                            continue;
                        }
                        let rows = reaction_rows(conn, key, mid)?;
                        EventBody::ReactionsUpdated {
                            chat_id,
                            message_id: mid,
                            reactions: count_reactions(&rows, user),
                        }
                    }
                    "message_reaction" => {
                        let change = load_reaction_event(conn, mid.0)?
                            .ok_or(StoreError::Backend("lost reaction event".into()))?;
                        EventBody::MessageReaction { chat_id, change }
                    }
                    "member_status" => {
                        let change =
                            load_member_event(conn, mid.0)?.ok_or(StoreError::Backend("lost member event".into()))?;
                        EventBody::MemberChanged { chat_id, change }
                    }
                    "callback_answer" => {
                        let query = load_callback_query(conn, mid.0)?
                            .ok_or(StoreError::Backend("lost callback query".into()))?;
                        EventBody::CallbackAnswer { chat_id, query }
                    }
                    "pre_checkout_query" | "payment_updated" => {
                        let payment = load_payment(conn, mid.0)?.ok_or(StoreError::Backend("lost payment".into()))?;
                        if kind == "payment_updated" {
                            EventBody::PaymentUpdated { payment }
                        } else {
                            EventBody::PreCheckoutQuery { payment }
                        }
                    }
                    "shipping_query" | "shipping_answered" => {
                        let (query, _) = load_shipping_query(conn, mid.0)?
                            .ok_or(StoreError::Backend("lost shipping query".into()))?;
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
            Ok(EventPage { events: out, next_cursor, scanned })
        })
        .await
    }

    async fn current_cursor(&self, user: UserId) -> StoreResult<u64> {
        self.read(move |conn| {
            conn.prepare_cached(CURRENT_CURSOR)
                .map_err(db)?
                .query_row([user.0], |r| r.get::<_, i64>(0))
                .optional()
                .map_err(db)?
                .map(|s| s as u64)
                .ok_or(Denied::UserNotFound.into())
        })
        .await
    }

    async fn set_blocked(&self, user: UserId, peer: UserId, blocked: bool, now: i64) -> StoreResult<Written<()>> {
        self.write(move |conn| {
            let (row, _) = resolve(conn, user, ChatId::private(peer))?;
            if row.is_group {
                return Err(Denied::NotPrivate.into());
            }
            let was = blocked_peer(conn, row.key, user)?;
            conn.forget_private_chat(user, peer);
            let mut notify = Vec::new();
            if was != blocked {
                conn.execute(
                    "UPDATE members SET blocked_peer = ?1 WHERE chat_id = ?2 AND user_id = ?3",
                    params![blocked, row.key.0, user.0],
                )
                .map_err(db)?;
                notify.push(push_update(conn, user, "chat_updated", row.key, None)?);
                let (old, new) = if blocked {
                    (MemberStatus::Member, MemberStatus::Kicked)
                } else {
                    (MemberStatus::Kicked, MemberStatus::Member)
                };
                let change = MemberChange { chat: row.key, user: peer, actor: user, old, new, date: now };
                notify.extend(note_member_change(conn, change)?);
            }
            Ok(Written { value: (), notify })
        })
        .await
    }

    async fn is_blocked(&self, user: UserId, peer: UserId) -> StoreResult<bool> {
        self.read(move |conn| {
            let (row, _) = resolve(conn, user, ChatId::private(peer))?;
            blocked_peer(conn, row.key, user)
        })
        .await
    }

    async fn member_status(
        &self,
        viewer: UserId,
        chat: ChatId,
        user: UserId,
        now: i64,
    ) -> StoreResult<(MemberStatus, Option<i64>)> {
        self.read(move |conn| {
            let (row, _) = resolve(conn, viewer, chat)?;
            if !row.is_group {
                return if user == viewer || user == row.peer_of(viewer) {
                    Ok((MemberStatus::Member, None))
                } else {
                    Err(Denied::UserNotFound.into())
                };
            }
            if let Some(role) = member_role(conn, row.key, user)? {
                return Ok((MemberStatus::of_role(role), None));
            }
            load_user(conn, user)?;
            match ban_of(conn, row.key, user)? {
                Some(until) if ban_in_force(until, now) => Ok((MemberStatus::Kicked, until)),
                _ => Ok((MemberStatus::Left, None)),
            }
        })
        .await
    }

    async fn pin_message(&self, actor: UserId, chat: ChatId, id: MessageId, now: i64) -> StoreResult<Written<Message>> {
        self.write(move |conn| {
            let (row, role) = resolve(conn, actor, chat)?;
            may_pin(row.is_group, role)?;
            let m = load_message(conn, row.key, id)?.ok_or(Denied::MessageNotFound)?;
            if m.service.is_some() {
                return Err(Denied::MessageNotFound.into());
            }
            conn.execute(
                "INSERT INTO pins (chat_id, message_id, pinned_by, pinned_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (chat_id, message_id) DO UPDATE SET pinned_by = excluded.pinned_by, pinned_at = excluded.pinned_at",
                params![row.key.0, id.0, actor.0, now],
            )
            .map_err(db)?;
            insert_message(conn, &row, actor, NewMessage::service(ServiceAction::PinnedMessage(id)), now)
        })
        .await
    }

    async fn unpin_messages(
        &self,
        actor: UserId,
        chat: ChatId,
        id: Option<MessageId>,
        all: bool,
    ) -> StoreResult<Written<()>> {
        self.write(move |conn| {
            let (row, role) = resolve(conn, actor, chat)?;
            may_pin(row.is_group, role)?;
            let removed = if all {
                conn.execute("DELETE FROM pins WHERE chat_id = ?1", [row.key.0]).map_err(db)?
            } else {
                let target = match id {
                    Some(id) => Some(id),
                    None => newest_pin(conn, row.key)?.map(|m| m.id),
                };
                match target {
                    Some(id) => conn
                        .execute("DELETE FROM pins WHERE chat_id = ?1 AND message_id = ?2", params![row.key.0, id.0])
                        .map_err(db)?,
                    None => 0,
                }
            };
            let notify = if removed > 0 {
                push_all(conn, &people_ids(conn, row.key)?, "chat_updated", row.key, None)?
            } else {
                vec![]
            };
            Ok(Written { value: (), notify })
        })
        .await
    }

    async fn pinned_message(&self, viewer: UserId, chat: ChatId) -> StoreResult<Option<Message>> {
        self.read(move |conn| {
            let (row, _) = resolve(conn, viewer, chat)?;
            newest_pin(conn, row.key)
        })
        .await
    }

    async fn poll(&self, viewer: UserId, id: &str) -> StoreResult<Poll> {
        let id = id.to_string();
        self.read(move |conn| {
            let (poll, key, ..) = load_poll(conn, &id, viewer)?.ok_or(Denied::NoPoll)?;
            member_role(conn, key, viewer)?.ok_or(Denied::NoPoll)?;
            Ok(poll)
        })
        .await
    }

    async fn vote(
        &self,
        user: UserId,
        chat: ChatId,
        message: MessageId,
        option_ids: Vec<u8>,
        now: i64,
    ) -> StoreResult<Written<Poll>> {
        self.write(move |conn| {
            let (row, _) = resolve(conn, user, chat)?;
            let m = load_message(conn, row.key, message)?.ok_or(Denied::MessageNotFound)?;
            let poll_id = m.poll.ok_or(Denied::NoPoll)?;
            let (poll, ..) = load_poll(conn, &poll_id, user)?.ok_or(Denied::NoPoll)?;
            if !poll.check_new_vote(&option_ids)? {
                return Ok(Written { value: poll, notify: vec![] });
            }
            if option_ids.is_empty() {
                conn.execute("DELETE FROM poll_votes WHERE poll_id = ?1 AND user_id = ?2", params![poll_id, user.0])
                    .map_err(db)?;
            } else {
                conn.execute(
                    "INSERT INTO poll_votes (poll_id, user_id, option_ids, date) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (poll_id, user_id) DO UPDATE SET option_ids = excluded.option_ids, date = excluded.date",
                    params![poll_id, user.0, serde_json::to_string(&option_ids).expect("ids serialize"), now],
                )
                .map_err(db)?;
            }
            let mut notify = push_poll_updated(conn, row.key, message, m.sender)?;
            if !poll.spec.is_anonymous && is_bot(conn, m.sender)? {
                let id: i64 = conn
                    .prepare_cached(
                        "INSERT INTO poll_answers (poll_id, user_id, option_ids, date) VALUES (?1, ?2, ?3, ?4) RETURNING id",
                    )
                    .map_err(db)?
                    .query_row(params![poll_id, user.0, serde_json::to_string(&option_ids).expect("ids"), now], |r| r.get(0))
                    .map_err(db)?;
                notify.push(push_update(conn, m.sender, "poll_answer", row.key, Some(id))?);
            }
            let (poll, ..) = load_poll(conn, &poll_id, user)?.ok_or(Denied::NoPoll)?;
            Ok(Written { value: poll, notify })
        })
        .await
    }

    async fn stop_poll(
        &self,
        actor: UserId,
        chat: ChatId,
        message: MessageId,
        _now: i64,
    ) -> StoreResult<Written<Poll>> {
        self.write(move |conn| {
            let (row, _) = resolve(conn, actor, chat)?;
            let m = load_message(conn, row.key, message)?.ok_or(Denied::MessageNotFound)?;
            let poll_id = m.poll.ok_or(Denied::NoPoll)?;
            if m.sender != actor {
                return Err(Denied::NotAuthor.into());
            }
            let (poll, ..) = load_poll(conn, &poll_id, actor)?.ok_or(Denied::NoPoll)?;
            if poll.spec.is_closed {
                return Err(Denied::PollClosed.into());
            }
            conn.execute("UPDATE polls SET closed = 1 WHERE id = ?1", [&poll_id]).map_err(db)?;
            let notify = push_poll_updated(conn, row.key, message, m.sender)?;
            let (poll, ..) = load_poll(conn, &poll_id, actor)?.ok_or(Denied::NoPoll)?;
            Ok(Written { value: poll, notify })
        })
        .await
    }

    async fn set_reactions(
        &self,
        user: UserId,
        chat: ChatId,
        message: MessageId,
        emojis: Vec<String>,
        now: i64,
    ) -> StoreResult<Written<()>> {
        self.write(move |conn| {
            let (row, _) = resolve(conn, user, chat)?;
            let m = load_message(conn, row.key, message)?.ok_or(Denied::MessageNotFound)?;
            if m.service.is_some() {
                return Err(Denied::MessageNotFound.into());
            }
            let old: Vec<String> = conn
                .prepare_cached("SELECT emojis FROM reactions WHERE chat_id = ?1 AND message_id = ?2 AND user_id = ?3")
                .map_err(db)?
                .query_row(params![row.key.0, message.0, user.0], |r| r.get::<_, String>(0))
                .optional()
                .map_err(db)?
                .map(|e| serde_json::from_str(&e).map_err(StoreError::backend))
                .transpose()?
                .unwrap_or_default();
            if old == emojis {
                return Ok(Written { value: (), notify: vec![] });
            }
            if emojis.is_empty() {
                conn.execute(
                    "DELETE FROM reactions WHERE chat_id = ?1 AND message_id = ?2 AND user_id = ?3",
                    params![row.key.0, message.0, user.0],
                )
                .map_err(db)?;
            } else {
                conn.execute(
                    "INSERT INTO reactions (chat_id, message_id, user_id, emojis, date) VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (chat_id, message_id, user_id) DO UPDATE SET emojis = excluded.emojis, date = excluded.date",
                    params![row.key.0, message.0, user.0, serde_json::to_string(&emojis).expect("emoji serialize"), now],
                )
                .map_err(db)?;
            }
            let mut notify = push_all(conn, &people_ids(conn, row.key)?, "reactions_updated", row.key, Some(message.0))?;
            // Bots hear of reactions in private chats, and in groups where they are admins.
            let bots: Vec<i64> = conn
                .prepare_cached(
                    "SELECT m.user_id FROM members m JOIN users u ON u.id = m.user_id \
                     WHERE m.chat_id = ?1 AND u.is_bot = 1 AND m.user_id <> ?2 AND (?3 = 0 OR m.role <> 'member')",
                )
                .map_err(db)?
                .query_map(params![row.key.0, user.0, row.is_group], |r| r.get(0))
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?;
            if !bots.is_empty() {
                let id: i64 = conn
                    .prepare_cached(
                        "INSERT INTO reaction_events (chat_id, message_id, user_id, old, new, date) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                    )
                    .map_err(db)?
                    .query_row(
                        params![
                            row.key.0,
                            message.0,
                            user.0,
                            serde_json::to_string(&old).expect("emoji"),
                            serde_json::to_string(&emojis).expect("emoji"),
                            now
                        ],
                        |r| r.get(0),
                    )
                    .map_err(db)?;
                for b in bots {
                    notify.push(push_update(conn, UserId(b), "message_reaction", row.key, Some(id))?);
                }
            }
            Ok(Written { value: (), notify })
        })
        .await
    }

    async fn reactions(
        &self,
        viewer: UserId,
        chat: ChatId,
        ids: Vec<MessageId>,
    ) -> StoreResult<HashMap<MessageId, Vec<ReactionCount>>> {
        self.read(move |conn| {
            let (row, _) = resolve(conn, viewer, chat)?;
            let (Some(lo), Some(hi)) = (ids.iter().min(), ids.iter().max()) else { return Ok(HashMap::new()) };
            let rows: Vec<(i64, i64, String)> = conn
                .prepare_cached(
                    "SELECT message_id, user_id, emojis FROM reactions WHERE chat_id = ?1 AND message_id BETWEEN ?2 AND ?3 \
                     ORDER BY message_id, date, user_id",
                )
                .map_err(db)?
                .query_map(params![row.key.0, lo.0, hi.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?;
            let mut by_message: HashMap<MessageId, Vec<(UserId, Vec<String>)>> = HashMap::new();
            for (m, u, e) in rows {
                let m = MessageId(m);
                if ids.contains(&m) {
                    let emojis: Vec<String> = serde_json::from_str(&e).map_err(StoreError::backend)?;
                    by_message.entry(m).or_default().push((UserId(u), emojis));
                }
            }
            Ok(by_message.into_iter().map(|(m, rows)| (m, count_reactions(&rows, viewer))).collect())
        })
        .await
    }

    async fn press_button(
        &self,
        user: UserId,
        chat: ChatId,
        message: MessageId,
        data: String,
        now: i64,
    ) -> StoreResult<Written<CallbackQuery>> {
        self.write(move |conn| {
            let (row, _) = resolve(conn, user, chat)?;
            let m = load_message(conn, row.key, message)?.ok_or(Denied::MessageNotFound)?;
            if !m.reply_markup.as_ref().is_some_and(|k| k.has_callback(&data)) || !is_bot(conn, m.sender)? {
                return Err(Denied::ButtonNotFound.into());
            }
            // The bot may have left the group since it sent the message; then nobody can answer.
            member_role(conn, row.key, m.sender)?.ok_or(Denied::ButtonNotFound)?;
            let id: i64 = conn
                .prepare_cached(
                    "INSERT INTO callback_queries (bot_id, user_id, chat_id, message_id, data, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                )
                .map_err(db)?
                .query_row(params![m.sender.0, user.0, row.key.0, message.0, data, now], |r| r.get(0))
                .map_err(db)?;
            let notify = vec![push_update(conn, m.sender, "callback_query", row.key, Some(id))?];
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
        })
        .await
    }

    async fn answer_callback_query(
        &self,
        bot: UserId,
        id: i64,
        answer: CallbackAnswer,
        now: i64,
    ) -> StoreResult<Written<CallbackQuery>> {
        self.write(move |conn| {
            let mut q = load_callback_query(conn, id)?
                .filter(|q| q.bot == bot && q.answer.is_none() && now - q.created_at <= CALLBACK_ANSWER_WINDOW)
                .ok_or(Denied::QueryNotFound)?;
            conn.prepare_cached("UPDATE callback_queries SET answer = ?1, answered_at = ?2 WHERE id = ?3")
                .map_err(db)?
                .execute(params![codec::encode_answer(&answer), now, id])
                .map_err(db)?;
            let notify = vec![push_update(conn, q.from, "callback_answer", q.chat, Some(id))?];
            q.answer = Some(answer);
            Ok(Written { value: q, notify })
        })
        .await
    }

    async fn callback_query(&self, user: UserId, id: i64) -> StoreResult<CallbackQuery> {
        self.read(move |conn| {
            Ok(load_callback_query(conn, id)?.filter(|q| q.from == user).ok_or(Denied::QueryNotFound)?)
        })
        .await
    }

    async fn put_file(
        &self,
        owner: UserId,
        info: FileInfo,
        sha256: Vec<u8>,
        bytes: Vec<u8>,
        now: i64,
    ) -> StoreResult<FileInfo> {
        self.write(move |conn| {
            conn.prepare_cached("INSERT INTO file_blobs (sha256, bytes) VALUES (?1, ?2) ON CONFLICT (sha256) DO NOTHING")
                .map_err(db)?
                .execute(params![sha256, bytes])
                .map_err(db)?;
            conn.prepare_cached(
                "INSERT INTO files (file_id, sha256, unique_id, kind, size, mime_type, file_name, width, height, owner_id, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .map_err(db)?
            .execute(params![
                info.file_id,
                sha256,
                info.unique_id,
                info.kind.as_str(),
                info.size as i64,
                info.mime_type,
                info.file_name,
                info.width,
                info.height,
                owner.0,
                now
            ])
            .map_err(db)?;
            Ok(info)
        })
        .await
    }

    async fn file(&self, file_id: &str) -> StoreResult<Option<FileInfo>> {
        let file_id = file_id.to_string();
        self.read(move |conn| {
            let row = conn
                .prepare_cached(
                    "SELECT file_id, unique_id, kind, size, mime_type, file_name, width, height FROM files WHERE file_id = ?1",
                )
                .map_err(db)?
                .query_row([file_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
                })
                .optional()
                .map_err(db)?;
            row.map(|(id, u, k, size, mime, name, w, h)| crate::file_info(id, u, &k, size, mime, name, w, h)).transpose()
        })
        .await
    }

    async fn file_bytes(&self, file_id: &str) -> StoreResult<Option<Vec<u8>>> {
        let file_id = file_id.to_string();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT b.bytes FROM files f JOIN file_blobs b ON b.sha256 = f.sha256 WHERE f.file_id = ?1",
            )
            .map_err(db)?
            .query_row([file_id], |r| r.get(0))
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn confirm_updates(&self, bot: UserId, offset: u64) -> StoreResult<()> {
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO bot_offsets (bot_id, confirmed) VALUES (?1, ?2) \
                 ON CONFLICT (bot_id) DO UPDATE SET confirmed = MAX(confirmed, excluded.confirmed)",
            )
            .map_err(db)?
            .execute(params![bot.0, offset as i64])
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn confirmed_offset(&self, bot: UserId) -> StoreResult<u64> {
        self.read(move |conn| {
            let v: Option<i64> = conn
                .prepare_cached("SELECT confirmed FROM bot_offsets WHERE bot_id = ?1")
                .map_err(db)?
                .query_row([bot.0], |r| r.get(0))
                .optional()
                .map_err(db)?;
            Ok(v.unwrap_or(0) as u64)
        })
        .await
    }

    async fn setting(&self, bot: UserId, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_string();
        self.read(move |conn| {
            conn.prepare_cached("SELECT value FROM bot_settings WHERE bot_id = ?1 AND key = ?2")
                .map_err(db)?
                .query_row(params![bot.0, key], |r| r.get(0))
                .optional()
                .map_err(db)
        })
        .await
    }

    async fn put_webapp(&self, app: WebApp) -> StoreResult<()> {
        self.write(move |conn| {
            if app.main {
                conn.prepare_cached("UPDATE webapps SET main = 0 WHERE bot_id = ?1 AND main")
                    .map_err(db)?
                    .execute(params![app.bot.0])
                    .map_err(db)?;
            }
            conn.prepare_cached(
                "INSERT INTO webapps (bot_id, short_name, title, description, url, main) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (bot_id, short_name) DO UPDATE SET title = excluded.title, \
                 description = excluded.description, url = excluded.url, main = excluded.main",
            )
            .map_err(db)?
            .execute(params![
                app.bot.0,
                app.short_name.as_str(),
                app.title,
                app.description,
                app.url.as_ref().map_or("", |u| u.as_str()),
                app.main
            ])
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn webapps(&self, bot: UserId) -> StoreResult<Vec<WebApp>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT short_name, title, description, url, main, live_version FROM webapps \
                     WHERE bot_id = ?1 ORDER BY short_name",
                )
                .map_err(db)?;
            type Row = (String, String, String, String, bool, Option<i64>);
            let rows: Vec<Row> = stmt
                .query_map([bot.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?;
            rows.into_iter()
                .map(|(short, title, description, url, main, live)| {
                    webapp_row(bot, short, title, description, url, main, live)
                })
                .collect()
        })
        .await
    }

    async fn put_launch(&self, l: Launch) -> StoreResult<()> {
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO webapp_launches (query_id, bot_id, user_id, chat_id, source, button_text, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(db)?
            .execute(params![
                l.query_id,
                l.bot.0,
                l.user.0,
                l.chat.map(|c| c.0),
                l.source.as_str(),
                l.button_text,
                l.created_at
            ])
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn launch(&self, query_id: &str) -> StoreResult<Option<Launch>> {
        let query_id = query_id.to_string();
        self.read(move |conn| {
            let row: Option<(i64, i64, Option<i64>, String, Option<String>, i64)> = conn
                .prepare_cached(
                    "SELECT bot_id, user_id, chat_id, source, button_text, created_at FROM webapp_launches \
                     WHERE query_id = ?1",
                )
                .map_err(db)?
                .query_row([&query_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
                .optional()
                .map_err(db)?;
            row.map(|(bot, user, chat, source, button_text, created_at)| {
                launch_row(query_id.clone(), bot, user, chat, &source, button_text, created_at)
            })
            .transpose()
        })
        .await
    }

    async fn use_launch(&self, query_id: &str) -> StoreResult<bool> {
        let query_id = query_id.to_string();
        self.write(move |conn| {
            let changed = conn
                .prepare_cached("UPDATE webapp_launches SET used = 1 WHERE query_id = ?1 AND NOT used")
                .map_err(db)?
                .execute([&query_id])
                .map_err(db)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn deploy_webapp(
        &self,
        bot: UserId,
        short_name: &ShortName,
        files: Vec<BundleFile>,
        digest: Vec<u8>,
        now: i64,
    ) -> StoreResult<u32> {
        let short = short_name.as_str().to_string();
        self.write(move |conn| {
            let exists = conn
                .prepare_cached("SELECT 1 FROM webapps WHERE bot_id = ?1 AND short_name = ?2")
                .map_err(db)?
                .exists(params![bot.0, short])
                .map_err(db)?;
            if !exists {
                return Err(Denied::WebAppNotFound.into());
            }
            let version: i64 = conn
                .prepare_cached(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM webapp_versions WHERE bot_id = ?1 AND short_name = ?2",
                )
                .map_err(db)?
                .query_row(params![bot.0, short], |r| r.get(0))
                .map_err(db)?;
            let total: usize = files.iter().map(|f| f.bytes.len()).sum();
            conn.prepare_cached(
                "INSERT INTO webapp_versions (bot_id, short_name, version, created_at, files, bytes, digest) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(db)?
            .execute(params![bot.0, short, version, now, files.len() as i64, total as i64, digest])
            .map_err(db)?;
            for f in &files {
                conn.prepare_cached(
                    "INSERT INTO file_blobs (sha256, bytes) VALUES (?1, ?2) ON CONFLICT (sha256) DO NOTHING",
                )
                .map_err(db)?
                .execute(params![f.sha256, f.bytes])
                .map_err(db)?;
                conn.prepare_cached(
                    "INSERT INTO webapp_files (bot_id, short_name, version, path, sha256, content_type) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(db)?
                .execute(params![bot.0, short, version, f.path, f.sha256, f.content_type])
                .map_err(db)?;
            }
            conn.prepare_cached("UPDATE webapps SET live_version = ?3 WHERE bot_id = ?1 AND short_name = ?2")
                .map_err(db)?
                .execute(params![bot.0, short, version])
                .map_err(db)?;
            Ok(version as u32)
        })
        .await
    }

    async fn webapp_versions(&self, bot: UserId, short_name: &ShortName) -> StoreResult<Vec<AppVersion>> {
        let short = short_name.as_str().to_string();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT version, created_at, files, bytes, digest FROM webapp_versions \
                     WHERE bot_id = ?1 AND short_name = ?2 ORDER BY version",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map(params![bot.0, short], |r| {
                    Ok(AppVersion {
                        version: r.get::<_, i64>(0)? as u32,
                        created_at: r.get(1)?,
                        files: r.get::<_, i64>(2)? as u32,
                        bytes: r.get::<_, i64>(3)? as u64,
                        digest: r.get(4)?,
                    })
                })
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?;
            Ok(rows)
        })
        .await
    }

    async fn set_live_version(&self, bot: UserId, short_name: &ShortName, version: u32) -> StoreResult<()> {
        let short = short_name.as_str().to_string();
        self.write(move |conn| {
            let exists = conn
                .prepare_cached("SELECT 1 FROM webapp_versions WHERE bot_id = ?1 AND short_name = ?2 AND version = ?3")
                .map_err(db)?
                .exists(params![bot.0, short, version])
                .map_err(db)?;
            if !exists {
                return Err(Denied::AppVersionNotFound.into());
            }
            conn.prepare_cached("UPDATE webapps SET live_version = ?3 WHERE bot_id = ?1 AND short_name = ?2")
                .map_err(db)?
                .execute(params![bot.0, short, version])
                .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn webapp_file(
        &self,
        bot: UserId,
        short_name: &ShortName,
        version: u32,
        path: &str,
    ) -> StoreResult<Option<HostedFile>> {
        let short = short_name.as_str().to_string();
        let path = path.to_string();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT f.content_type, f.sha256, b.bytes FROM webapp_files f JOIN file_blobs b ON b.sha256 = f.sha256 \
                 WHERE f.bot_id = ?1 AND f.short_name = ?2 AND f.version = ?3 AND f.path = ?4",
            )
            .map_err(db)?
            .query_row(params![bot.0, short, version, path], |r| {
                Ok(HostedFile { content_type: r.get(0)?, sha256: r.get(1)?, bytes: r.get(2)? })
            })
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn transfer(&self, t: NewTransfer, now: i64) -> StoreResult<Transfer> {
        self.write(move |conn| apply_transfer(conn, &t, now)).await
    }

    async fn balance(&self, account: Account) -> StoreResult<i64> {
        self.read(move |conn| {
            conn.prepare_cached("SELECT balance FROM ledger_balances WHERE account = ?1")
                .map_err(db)?
                .query_row([account.key()], |r| r.get(0))
                .optional()
                .map_err(db)
                .map(|b| b.unwrap_or(0))
        })
        .await
    }

    async fn ledger_entries(&self, account: Account, before: Option<i64>, limit: u32) -> StoreResult<Vec<Entry>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    // One statement, so one snapshot: the writer may move recent rows meanwhile.
                    "SELECT e.transfer_id, e.delta, e.balance, t.from_account, t.to_account, t.memo, t.at FROM ( \
                       SELECT * FROM (SELECT transfer_id, delta, balance FROM ledger_entries_recent \
                                      WHERE account = ?1 AND transfer_id < ?2 ORDER BY transfer_id DESC LIMIT ?3) \
                       UNION ALL \
                       SELECT * FROM (SELECT transfer_id, delta, balance FROM ledger_entries \
                                      WHERE account = ?1 AND transfer_id < ?2 ORDER BY transfer_id DESC LIMIT ?3) \
                     ) e JOIN ledger_transfers t ON t.id = e.transfer_id ORDER BY e.transfer_id DESC LIMIT ?3",
                )
                .map_err(db)?;
            type Row = (i64, i64, i64, String, String, String, i64);
            let rows: Vec<Row> = stmt
                .query_map(params![account.key(), before.unwrap_or(i64::MAX), limit], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
                })
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?;
            rows.into_iter()
                .map(|(transfer, delta, balance, from, to, memo, at)| {
                    entry_row(account, transfer, delta, balance, &from, &to, memo, at)
                })
                .collect()
        })
        .await
    }

    async fn ledger_entries_from(&self, account: Account, offset: u32, limit: u32) -> StoreResult<Vec<Entry>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    // Every recent row is newer than every moved one, so the first `offset + limit`
                    // of each table hold the page.
                    "SELECT e.transfer_id, e.delta, e.balance, t.from_account, t.to_account, t.memo, t.at FROM ( \
                       SELECT * FROM (SELECT transfer_id, delta, balance FROM ledger_entries \
                                      WHERE account = ?1 ORDER BY transfer_id LIMIT ?2 + ?3) \
                       UNION ALL \
                       SELECT * FROM (SELECT transfer_id, delta, balance FROM ledger_entries_recent \
                                      WHERE account = ?1 ORDER BY transfer_id LIMIT ?2 + ?3) \
                     ) e JOIN ledger_transfers t ON t.id = e.transfer_id ORDER BY e.transfer_id LIMIT ?2 OFFSET ?3",
                )
                .map_err(db)?;
            type Row = (i64, i64, i64, String, String, String, i64);
            let rows: Vec<Row> = stmt
                .query_map(params![account.key(), limit, offset], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
                })
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?;
            rows.into_iter()
                .map(|(transfer, delta, balance, from, to, memo, at)| {
                    entry_row(account, transfer, delta, balance, &from, &to, memo, at)
                })
                .collect()
        })
        .await
    }

    async fn ledger_check(&self) -> StoreResult<LedgerCheck> {
        self.read(move |conn| {
            let (total, accounts): (i64, i64) = conn
                .prepare_cached("SELECT COALESCE(SUM(balance), 0), COUNT(*) FROM ledger_balances")
                .map_err(db)?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db)?;
            let mut stmt = conn
                .prepare_cached(
                    "SELECT b.account FROM ledger_balances b LEFT JOIN \
                     (SELECT account, SUM(delta) AS s FROM (SELECT account, delta FROM ledger_entries \
                      UNION ALL SELECT account, delta FROM ledger_entries_recent) GROUP BY account) e ON e.account = b.account \
                     WHERE b.balance <> COALESCE(e.s, 0) ORDER BY b.account",
                )
                .map_err(db)?;
            let names: Vec<String> =
                stmt.query_map([], |r| r.get(0)).map_err(db)?.collect::<Result<_, _>>().map_err(db)?;
            let mismatched = names.iter().map(|n| stored_account(n)).collect::<StoreResult<_>>()?;
            Ok(LedgerCheck { total, accounts: accounts as u64, mismatched })
        })
        .await
    }

    async fn send_invoice(
        &self,
        bot: UserId,
        chat: ChatId,
        slug: String,
        spec: InvoiceSpec,
        m: NewMessage,
        now: i64,
    ) -> StoreResult<Written<Message>> {
        self.write(move |conn| {
            let row = match chat.resolve() {
                Some(ChatRef::Private { peer }) if peer != bot => {
                    let (row, blocked) = conn.private_chat(bot, peer)?;
                    if blocked {
                        return Err(Denied::Blocked.into());
                    }
                    row
                }
                _ => resolve(conn, bot, chat)?.0,
            };
            if let Some(reply_to) = m.reply_to {
                load_message(conn, row.key, reply_to)?.ok_or(Denied::MessageNotFound)?;
            }
            let written = insert_message(conn, &row, bot, m, now)?;
            conn.prepare_cached(
                "INSERT INTO invoices (slug, bot_id, spec, chat_id, message_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(db)?
            .execute(params![slug, bot.0, codec::encode_invoice_spec(&spec), row.key.0, written.value.id.0, now])
            .map_err(db)?;
            Ok(written)
        })
        .await
    }

    async fn put_invoice(&self, bot: UserId, slug: String, spec: InvoiceSpec, now: i64) -> StoreResult<Invoice> {
        self.write(move |conn| {
            conn.prepare_cached("INSERT INTO invoices (slug, bot_id, spec, created_at) VALUES (?1, ?2, ?3, ?4)")
                .map_err(db)?
                .execute(params![slug, bot.0, codec::encode_invoice_spec(&spec), now])
                .map_err(db)?;
            Ok(Invoice { slug, bot, spec, message: None, created_at: now })
        })
        .await
    }

    async fn invoice(&self, slug: &str) -> StoreResult<Option<Invoice>> {
        let slug = slug.to_string();
        self.read(move |conn| load_invoice(conn, &slug)).await
    }

    async fn start_shipping_query(
        &self,
        user: UserId,
        invoice: &str,
        address: ShippingAddress,
        now: i64,
    ) -> StoreResult<Written<ShippingQuery>> {
        let invoice = invoice.to_string();
        self.write(move |conn| {
            let inv = load_invoice(conn, &invoice)?.ok_or(Denied::InvoiceNotFound)?;
            let (row, _) = resolve(conn, user, ChatId::private(inv.bot))?;
            let id: i64 = conn
                .prepare_cached(
                    "INSERT INTO shipping_queries (invoice, bot_id, user_id, chat_id, address, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                )
                .map_err(db)?
                .query_row(params![invoice, inv.bot.0, user.0, row.key.0, codec::encode_address(&address), now], |r| {
                    r.get(0)
                })
                .map_err(db)?;
            let notify = vec![push_update(conn, inv.bot, "shipping_query", row.key, Some(id))?];
            let query = ShippingQuery {
                id,
                invoice,
                bot: inv.bot,
                user,
                payload: inv.spec.payload,
                address,
                created_at: now,
                answer: None,
            };
            Ok(Written { value: query, notify })
        })
        .await
    }

    async fn answer_shipping_query(
        &self,
        bot: UserId,
        id: i64,
        answer: ShippingAnswer,
        now: i64,
    ) -> StoreResult<Written<ShippingQuery>> {
        self.write(move |conn| {
            let (mut q, chat) = load_shipping_query(conn, id)?
                .filter(|(q, _)| q.bot == bot && q.answer.is_none() && now - q.created_at <= CHECKOUT_WINDOW)
                .ok_or(Denied::QueryNotFound)?;
            conn.prepare_cached("UPDATE shipping_queries SET answer = ?1 WHERE id = ?2")
                .map_err(db)?
                .execute(params![codec::encode_shipping_answer(&answer), id])
                .map_err(db)?;
            let notify = vec![push_update(conn, q.user, "shipping_answered", chat, Some(id))?];
            q.answer = Some(answer);
            Ok(Written { value: q, notify })
        })
        .await
    }

    async fn shipping_query(&self, id: i64) -> StoreResult<Option<ShippingQuery>> {
        self.read(move |conn| Ok(load_shipping_query(conn, id)?.map(|(q, _)| q))).await
    }

    async fn start_payment(&self, p: NewPayment, now: i64) -> StoreResult<Written<Payment>> {
        self.write(move |conn| {
            let by_key = conn
                .prepare_cached("SELECT id FROM payments WHERE user_id = ?1 AND key = ?2")
                .map_err(db)?
                .query_row(params![p.user.0, p.key], |r| r.get::<_, i64>(0))
                .optional()
                .map_err(db)?;
            if let Some(id) = by_key {
                let found = load_payment(conn, id)?.ok_or(Denied::PaymentNotFound)?;
                if found.invoice != p.invoice {
                    return Err(Denied::PaymentKeyReused.into());
                }
                return Ok(Written { value: found, notify: vec![] });
            }
            let inv = load_invoice(conn, &p.invoice)?.ok_or(Denied::InvoiceNotFound)?;
            let open = conn
                .prepare_cached(
                    "SELECT id FROM payments WHERE invoice = ?1 AND user_id = ?2 AND state IN ('pre_checkout', 'approved')",
                )
                .map_err(db)?
                .query_row(params![p.invoice, p.user.0], |r| r.get::<_, i64>(0))
                .optional()
                .map_err(db)?;
            if let Some(id) = open {
                return Ok(Written { value: load_payment(conn, id)?.ok_or(Denied::PaymentNotFound)?, notify: vec![] });
            }
            if inv.message.is_some() {
                let paid: i64 = conn
                    .prepare_cached(
                        "SELECT COUNT(*) FROM payments WHERE invoice = ?1 AND user_id = ?2 AND state IN ('paid', 'refunded')",
                    )
                    .map_err(db)?
                    .query_row(params![p.invoice, p.user.0], |r| r.get(0))
                    .map_err(db)?;
                if paid > 0 {
                    return Err(Denied::AlreadyPaid.into());
                }
            }
            if inv.spec.subscription_period.is_some()
                && let Some(sub) = subscription_by_invoice(conn, &p.invoice, p.user)?
                && sub.is_active(now)
                && !sub.lapsed
            {
                return Err(Denied::AlreadySubscribed.into());
            }
            if inv.spec.is_stars() && ledger_balance(conn, Account::User(p.user))? < p.total_amount {
                return Err(Denied::InsufficientFunds.into());
            }
            let (row, _) = resolve(conn, p.user, ChatId::private(inv.bot))?;
            let id: i64 = conn
                .prepare_cached(
                    "INSERT INTO payments (invoice, bot_id, user_id, chat_id, key, currency, total_amount, payload, \
                     shipping_option, order_info, state, charge_id, card_last4, created_at, deadline) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pre_checkout', '', ?11, ?12, ?13) RETURNING id",
                )
                .map_err(db)?
                .query_row(
                    params![
                        p.invoice,
                        inv.bot.0,
                        p.user.0,
                        row.key.0,
                        p.key,
                        inv.spec.currency,
                        p.total_amount,
                        inv.spec.payload,
                        p.shipping_option_id,
                        codec::encode_order(&p.order_info),
                        p.card_last4,
                        now,
                        p.deadline
                    ],
                    |r| r.get(0),
                )
                .map_err(db)?;
            conn.prepare_cached("UPDATE payments SET charge_id = ?1 WHERE id = ?2")
                .map_err(db)?
                .execute(params![Payment::charge_id_for(id, inv.bot), id])
                .map_err(db)?;
            let notify = vec![push_update(conn, inv.bot, "pre_checkout_query", row.key, Some(id))?];
            Ok(Written { value: load_payment(conn, id)?.ok_or(Denied::PaymentNotFound)?, notify })
        })
        .await
    }

    async fn answer_pre_checkout(
        &self,
        bot: UserId,
        id: i64,
        accept: Result<(), String>,
        now: i64,
    ) -> StoreResult<Written<Payment>> {
        self.write(move |conn| {
            let p = load_payment(conn, id)?
                .filter(|p| p.bot == bot && p.state == PaymentState::PreCheckout && now <= p.deadline)
                .ok_or(Denied::PaymentClosed)?;
            match accept {
                Err(reason) => finish_payment(conn, p, PaymentState::Declined, Some(reason), None, now),
                Ok(()) if p.currency == plaza_core::payment::STARS => {
                    if ledger_balance(conn, Account::User(p.user))? < p.total_amount {
                        finish_payment(conn, p, PaymentState::Failed, Some("BALANCE_TOO_LOW".into()), None, now)
                    } else {
                        pay(conn, p, None, now)
                    }
                }
                Ok(()) => {
                    set_payment_state(conn, id, PaymentState::Approved, None, None, None)?;
                    let p = load_payment(conn, id)?.ok_or(Denied::PaymentNotFound)?;
                    let notify = vec![push_update(conn, p.user, "payment_updated", p.chat, Some(id))?];
                    Ok(Written { value: p, notify })
                }
            }
        })
        .await
    }

    async fn finish_card_payment(
        &self,
        id: i64,
        outcome: Result<String, String>,
        now: i64,
    ) -> StoreResult<Written<Payment>> {
        self.write(move |conn| {
            let p = load_payment(conn, id)?.ok_or(Denied::PaymentNotFound)?;
            if p.state != PaymentState::Approved {
                return Ok(Written { value: p, notify: vec![] });
            }
            match outcome {
                Ok(charge) => pay(conn, p, Some(charge), now),
                Err(reason) => finish_payment(conn, p, PaymentState::Failed, Some(reason), None, now),
            }
        })
        .await
    }

    async fn cancel_payment(&self, id: i64, now: i64) -> StoreResult<Written<Payment>> {
        self.write(move |conn| {
            let p = load_payment(conn, id)?.ok_or(Denied::PaymentNotFound)?;
            if p.state != PaymentState::PreCheckout {
                return Ok(Written { value: p, notify: vec![] });
            }
            finish_payment(conn, p, PaymentState::Cancelled, None, None, now)
        })
        .await
    }

    async fn payment(&self, id: i64) -> StoreResult<Option<Payment>> {
        self.read(move |conn| load_payment(conn, id)).await
    }

    async fn payment_by_charge(&self, bot: UserId, charge_id: &str) -> StoreResult<Option<Payment>> {
        let charge_id = charge_id.to_string();
        self.read(move |conn| {
            let id = conn
                .prepare_cached("SELECT id FROM payments WHERE charge_id = ?1 AND bot_id = ?2")
                .map_err(db)?
                .query_row(params![charge_id, bot.0], |r| r.get::<_, i64>(0))
                .optional()
                .map_err(db)?;
            id.map_or(Ok(None), |id| load_payment(conn, id))
        })
        .await
    }

    async fn open_payments(&self, limit: u32) -> StoreResult<Vec<Payment>> {
        self.read(move |conn| {
            let ids = conn
                .prepare_cached(
                    "SELECT id FROM payments WHERE state IN ('pre_checkout', 'approved') ORDER BY deadline, id LIMIT ?1",
                )
                .map_err(db)?
                .query_map([limit], |r| r.get::<_, i64>(0))
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            ids.into_iter().filter_map(|id| load_payment(conn, id).transpose()).collect()
        })
        .await
    }

    async fn user_payments(&self, user: UserId, limit: u32) -> StoreResult<Vec<Payment>> {
        self.read(move |conn| {
            let ids = conn
                .prepare_cached("SELECT id FROM payments WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2")
                .map_err(db)?
                .query_map(params![user.0, limit], |r| r.get::<_, i64>(0))
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            ids.into_iter().filter_map(|id| load_payment(conn, id).transpose()).collect()
        })
        .await
    }

    async fn paid_payment(&self, user: UserId, invoice: &str) -> StoreResult<Option<Payment>> {
        let invoice = invoice.to_string();
        self.read(move |conn| {
            let id = conn
                .prepare_cached(
                    "SELECT id FROM payments WHERE invoice = ?1 AND user_id = ?2 AND state IN ('paid', 'refunded') \
                     ORDER BY id DESC LIMIT 1",
                )
                .map_err(db)?
                .query_row(params![invoice, user.0], |r| r.get::<_, i64>(0))
                .optional()
                .map_err(db)?;
            id.map_or(Ok(None), |id| load_payment(conn, id))
        })
        .await
    }

    async fn refund_payment(
        &self,
        bot: UserId,
        user: UserId,
        charge_id: &str,
        now: i64,
    ) -> StoreResult<Written<Payment>> {
        let charge_id = charge_id.to_string();
        self.write(move |conn| {
            let id = conn
                .prepare_cached("SELECT id FROM payments WHERE charge_id = ?1 AND bot_id = ?2 AND user_id = ?3")
                .map_err(db)?
                .query_row(params![charge_id, bot.0, user.0], |r| r.get::<_, i64>(0))
                .optional()
                .map_err(db)?
                .ok_or(Denied::PaymentNotFound)?;
            let p = load_payment(conn, id)?.ok_or(Denied::PaymentNotFound)?;
            match p.state {
                PaymentState::Refunded => return Err(Denied::AlreadyRefunded.into()),
                PaymentState::Paid if p.currency == plaza_core::payment::STARS => {}
                _ => return Err(Denied::PaymentNotFound.into()),
            }
            if ledger_balance(conn, Account::User(bot))? < p.total_amount {
                return Err(Denied::InsufficientFunds.into());
            }
            let t = NewTransfer::new(
                &format!("refund:{id}"),
                Account::User(bot),
                Account::User(user),
                p.total_amount,
                "refund",
            )
            .map_err(|e| StoreError::Backend(e.reason))?;
            apply_transfer(conn, &t, now)?;
            set_payment_state(conn, id, PaymentState::Refunded, None, None, Some(now))?;
            let p = load_payment(conn, id)?.ok_or(Denied::PaymentNotFound)?;
            let row = load_chat_row(conn, p.chat)?.ok_or(Denied::ChatNotFound)?;
            let receipt = receipt_of(conn, &p, false)?;
            let msg = insert_message(
                conn,
                &row,
                user,
                NewMessage::service(ServiceAction::RefundedPayment(Box::new(receipt))),
                now,
            )?;
            let mut notify = msg.notify;
            notify.push(push_update(conn, user, "payment_updated", p.chat, Some(id))?);
            Ok(Written { value: p, notify })
        })
        .await
    }

    async fn subscriptions(&self, user: UserId) -> StoreResult<Vec<Subscription>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {SUBSCRIPTION_COLS} FROM subscriptions WHERE user_id = ?1 ORDER BY expires_at, id"
                ))
                .map_err(db)?;
            stmt.query_map([user.0], subscription_from_row).map_err(db)?.collect::<Result<Vec<_>, _>>().map_err(db)
        })
        .await
    }

    async fn subscription(&self, id: i64) -> StoreResult<Option<Subscription>> {
        self.read(move |conn| load_subscription(conn, id)).await
    }

    async fn set_subscription_canceled(&self, id: i64, by_bot: bool, canceled: bool) -> StoreResult<Subscription> {
        self.write(move |conn| {
            load_subscription(conn, id)?.ok_or(Denied::SubscriptionNotFound)?;
            let sql = if by_bot {
                "UPDATE subscriptions SET canceled_by_bot = ?1 WHERE id = ?2"
            } else {
                "UPDATE subscriptions SET canceled_by_user = ?1 WHERE id = ?2"
            };
            conn.prepare_cached(sql).map_err(db)?.execute(params![canceled, id]).map_err(db)?;
            Ok(load_subscription(conn, id)?.ok_or(Denied::SubscriptionNotFound)?)
        })
        .await
    }

    async fn due_subscriptions(&self, now: i64, limit: u32) -> StoreResult<Vec<Subscription>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {SUBSCRIPTION_COLS} FROM subscriptions WHERE lapsed = 0 AND expires_at <= ?1 ORDER BY expires_at, id LIMIT ?2"
                ))
                .map_err(db)?;
            stmt.query_map(params![now, limit], subscription_from_row)
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)
        })
        .await
    }

    async fn renew_subscription(&self, id: i64, now: i64) -> StoreResult<Written<Option<Payment>>> {
        self.write(move |conn| {
            let Some(sub) = load_subscription(conn, id)? else { return Ok(Written { value: None, notify: vec![] }) };
            if sub.lapsed || sub.expires_at > now {
                return Ok(Written { value: None, notify: vec![] });
            }
            let inv = load_invoice(conn, &sub.invoice)?.ok_or(Denied::InvoiceNotFound)?;
            let chat = resolve(conn, sub.user, ChatId::private(sub.bot)).map(|(row, _)| row.key);
            let affordable = ledger_balance(conn, Account::User(sub.user))? >= sub.amount;
            let (Ok(chat), true, true) = (chat, sub.renews(), affordable) else {
                conn.prepare_cached("UPDATE subscriptions SET lapsed = 1 WHERE id = ?1")
                    .map_err(db)?
                    .execute([id])
                    .map_err(db)?;
                return Ok(Written { value: None, notify: vec![] });
            };
            // The person is buying it again right now: that checkout decides (paid, it restarts
            // the subscription; otherwise a later renewal charges).
            let buying: bool = conn
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM payments WHERE invoice = ?1 AND user_id = ?2 \
                     AND state IN ('pre_checkout', 'approved'))",
                )
                .map_err(db)?
                .query_row(params![sub.invoice, sub.user.0], |r| r.get(0))
                .map_err(db)?;
            if buying {
                return Ok(Written { value: None, notify: vec![] });
            }
            let renewal = sub.renewals + 1;
            let pid: i64 = conn
                .prepare_cached(
                    "INSERT INTO payments (invoice, bot_id, user_id, chat_id, key, currency, total_amount, payload, \
                     state, charge_id, subscription_id, renewal, created_at, deadline) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pre_checkout', '', ?9, ?10, ?11, ?11) RETURNING id",
                )
                .map_err(db)?
                .query_row(
                    params![
                        sub.invoice,
                        sub.bot.0,
                        sub.user.0,
                        chat.0,
                        // Names the period renewed: renewal numbers start over when it is bought again.
                        format!("renew:{id}:{}", sub.expires_at),
                        plaza_core::payment::STARS,
                        sub.amount,
                        inv.spec.payload,
                        id,
                        renewal,
                        now
                    ],
                    |r| r.get(0),
                )
                .map_err(db)?;
            conn.prepare_cached("UPDATE payments SET charge_id = ?1 WHERE id = ?2")
                .map_err(db)?
                .execute(params![Payment::charge_id_for(pid, sub.bot), pid])
                .map_err(db)?;
            let p = load_payment(conn, pid)?.ok_or(Denied::PaymentNotFound)?;
            let written = pay(conn, p, None, now)?;
            Ok(Written { value: Some(written.value), notify: written.notify })
        })
        .await
    }

    async fn put_prepared_message(&self, m: PreparedMessage) -> StoreResult<()> {
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO prepared_messages (id, bot_id, user_id, text, entities, extra, chat_types, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(db)?
            .execute(params![
                m.id,
                m.bot.0,
                m.user.0,
                m.message.text.as_str(),
                entities::encode(&m.message.entities),
                codec::encode_extra(&codec::Extras::of_new(&m.message)),
                m.chat_types,
                m.expires_at
            ])
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn prepared_message(&self, id: &str) -> StoreResult<Option<PreparedMessage>> {
        let id = id.to_string();
        self.read(move |conn| {
            type Row = (i64, i64, String, Option<String>, Option<String>, u8, i64);
            let row: Option<Row> = conn
                .prepare_cached(
                    "SELECT bot_id, user_id, text, entities, extra, chat_types, expires_at FROM prepared_messages \
                     WHERE id = ?1",
                )
                .map_err(db)?
                .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))
                .optional()
                .map_err(db)?;
            row.map(|(bot, user, text, entities, extra, chat_types, expires_at)| {
                Ok(PreparedMessage {
                    id: id.clone(),
                    bot: UserId(bot),
                    user: UserId(user),
                    message: codec::new_message_from_columns(text, entities.as_deref(), extra.as_deref())?,
                    chat_types,
                    expires_at,
                })
            })
            .transpose()
        })
        .await
    }

    async fn cloud_set(&self, bot: UserId, user: UserId, key: String, value: String) -> StoreResult<()> {
        self.write(move |conn| {
            let updated = conn
                .prepare_cached("UPDATE cloud_storage SET value = ?4 WHERE bot_id = ?1 AND user_id = ?2 AND key = ?3")
                .map_err(db)?
                .execute(params![bot.0, user.0, key, value])
                .map_err(db)?;
            if updated == 1 {
                return Ok(());
            }
            let count: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM cloud_storage WHERE bot_id = ?1 AND user_id = ?2")
                .map_err(db)?
                .query_row(params![bot.0, user.0], |r| r.get(0))
                .map_err(db)?;
            if count as usize >= MAX_CLOUD_KEYS {
                return Err(Denied::StorageFull.into());
            }
            conn.prepare_cached("INSERT INTO cloud_storage (bot_id, user_id, key, value) VALUES (?1, ?2, ?3, ?4)")
                .map_err(db)?
                .execute(params![bot.0, user.0, key, value])
                .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn cloud_get(&self, bot: UserId, user: UserId, keys: Vec<String>) -> StoreResult<Vec<(String, String)>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT value FROM cloud_storage WHERE bot_id = ?1 AND user_id = ?2 AND key = ?3")
                .map_err(db)?;
            let mut out = Vec::new();
            for key in keys {
                if let Some(v) = stmt.query_row(params![bot.0, user.0, key], |r| r.get(0)).optional().map_err(db)? {
                    out.push((key, v));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn cloud_delete(&self, bot: UserId, user: UserId, keys: Vec<String>) -> StoreResult<()> {
        self.write(move |conn| {
            for key in keys {
                conn.prepare_cached("DELETE FROM cloud_storage WHERE bot_id = ?1 AND user_id = ?2 AND key = ?3")
                    .map_err(db)?
                    .execute(params![bot.0, user.0, key])
                    .map_err(db)?;
            }
            Ok(())
        })
        .await
    }

    async fn cloud_keys(&self, bot: UserId, user: UserId) -> StoreResult<Vec<String>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT key FROM cloud_storage WHERE bot_id = ?1 AND user_id = ?2 ORDER BY key")
                .map_err(db)?;
            let keys = stmt
                .query_map(params![bot.0, user.0], |r| r.get(0))
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?;
            Ok(keys)
        })
        .await
    }

    async fn instance_setting_or_init(&self, key: &str, init: String) -> StoreResult<String> {
        let key = key.to_string();
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO instance_settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
            )
            .map_err(db)?
            .execute(params![key, init])
            .map_err(db)?;
            conn.prepare_cached("SELECT value FROM instance_settings WHERE key = ?1")
                .map_err(db)?
                .query_row(params![key], |r| r.get(0))
                .map_err(db)
        })
        .await
    }

    async fn put_setting(&self, bot: UserId, key: &str, value: Option<String>) -> StoreResult<()> {
        let key = key.to_string();
        self.write(move |conn| {
            match value {
                Some(v) => conn
                    .prepare_cached(
                        "INSERT INTO bot_settings (bot_id, key, value) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (bot_id, key) DO UPDATE SET value = excluded.value",
                    )
                    .map_err(db)?
                    .execute(params![bot.0, key, v]),
                None => conn
                    .prepare_cached("DELETE FROM bot_settings WHERE bot_id = ?1 AND key = ?2")
                    .map_err(db)?
                    .execute(params![bot.0, key]),
            }
            .map_err(db)?;
            Ok(())
        })
        .await
    }
}

/// A transfer by key (`?1`) with the balances its entries recorded, which may still be in
/// `ledger_entries_recent` (the main table is looked up first; the recent one is scanned only
/// for a transfer not yet moved).
const SELECT_TRANSFER_BY_KEY: &str = "SELECT t.id, t.from_account, t.to_account, t.amount, t.memo, t.at, \
     COALESCE((SELECT e.balance FROM ledger_entries e WHERE e.account = t.from_account AND e.transfer_id = t.id), \
              (SELECT e.balance FROM ledger_entries_recent e WHERE e.account = t.from_account AND e.transfer_id = t.id)), \
     COALESCE((SELECT e.balance FROM ledger_entries e WHERE e.account = t.to_account AND e.transfer_id = t.id), \
              (SELECT e.balance FROM ledger_entries_recent e WHERE e.account = t.to_account AND e.transfer_id = t.id)) \
     FROM ledger_transfers t WHERE t.id = COALESCE((SELECT transfer_id FROM ledger_keys WHERE key = ?1), \
                                                 (SELECT transfer_id FROM ledger_keys_recent WHERE key = ?1))";

/// Makes a transfer inside the caller's write, or finds it made already under its key.
fn apply_transfer(conn: &Writer, t: &NewTransfer, now: i64) -> StoreResult<Transfer> {
    // Four statements for a new transfer (more when the writer does not know both balances or
    // the last id yet): its key (unless either key table has it: then nothing changed and the
    // transfer was made before), the transfer, both balances and both entries.
    let (from_key, to_key) = (t.from.key(), t.to.key());
    let (from_balance, to_balance) = conn.balances(&from_key, &to_key)?;
    let (from_balance, to_balance) = (from_balance - t.amount, to_balance + t.amount);
    let inserted = if from_balance < 0 && !t.from.may_go_negative() {
        None
    } else {
        let id = conn.next_transfer_id()?;
        let inserted = conn
            .prepare_cached(
                "INSERT INTO ledger_keys_recent (key, transfer_id) SELECT ?1, ?2 \
                 WHERE NOT EXISTS (SELECT 1 FROM ledger_keys WHERE key = ?1) ON CONFLICT (key) DO NOTHING",
            )
            .map_err(db)?
            .execute(params![t.key, id])
            .map_err(db)?;
        (inserted == 1).then_some(id)
    };
    let Some(id) = inserted else {
        // Refused or made before: either way nothing has changed yet. The same key again is the
        // first transfer (even if the payer could not afford it now); another transfer's key is
        // refused.
        let existing = conn
            .prepare_cached(SELECT_TRANSFER_BY_KEY)
            .map_err(db)?
            .query_row([&t.key], |r| {
                Ok((
                    (
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ),
                    (r.get::<_, i64>(6)?, r.get::<_, i64>(7)?),
                ))
            })
            .optional()
            .map_err(db)?;
        let Some(((id, from, to, amount, memo, at), balances)) = existing else {
            return Err(Denied::InsufficientFunds.into());
        };
        let done = transfer_row(id, t.key.clone(), &from, &to, amount, memo, at, balances)?;
        return if (done.from, done.to, done.amount) == (t.from, t.to, t.amount) {
            Ok(done)
        } else {
            Err(Denied::TransferKeyReused.into())
        };
    };
    conn.prepare_cached(
        "INSERT INTO ledger_transfers (id, key, from_account, to_account, amount, memo, at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .map_err(db)?
    .execute(params![id, t.key, from_key, to_key, t.amount, t.memo, now])
    .map_err(db)?;
    conn.last_transfer.set(Some(id));
    conn.prepare_cached(
        "INSERT INTO ledger_balances (account, balance) VALUES (?1, ?2), (?3, ?4) \
         ON CONFLICT (account) DO UPDATE SET balance = excluded.balance",
    )
    .map_err(db)?
    .execute(params![from_key, from_balance, to_key, to_balance])
    .map_err(db)?;
    conn.prepare_cached(
        "INSERT INTO ledger_entries_recent (account, transfer_id, delta, balance) VALUES (?1, ?2, ?3, ?4), (?5, ?2, ?6, ?7)",
    )
    .map_err(db)?
    .execute(params![from_key, id, -t.amount, from_balance, to_key, t.amount, to_balance])
    .map_err(db)?;
    conn.ledger_recent.set(conn.ledger_recent.get() + 2);
    // Remembered only once written: a failure after this spoils the batch, and its rollback
    // forgets them.
    conn.balances_written(from_key, from_balance, to_key, to_balance);
    Ok(Transfer {
        id,
        key: t.key.clone(),
        from: t.from,
        to: t.to,
        amount: t.amount,
        memo: t.memo.clone(),
        at: now,
        from_balance,
        to_balance,
    })
}

fn ledger_balance(conn: &Connection, a: Account) -> StoreResult<i64> {
    conn.prepare_cached("SELECT balance FROM ledger_balances WHERE account = ?1")
        .map_err(db)?
        .query_row([a.key()], |r| r.get(0))
        .optional()
        .map_err(db)
        .map(|b| b.unwrap_or(0))
}

// ---- payments ----

fn load_invoice(conn: &Connection, slug: &str) -> StoreResult<Option<Invoice>> {
    let row = conn
        .prepare_cached("SELECT bot_id, spec, chat_id, message_id, created_at FROM invoices WHERE slug = ?1")
        .map_err(db)?
        .query_row([slug], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get(4)?,
            ))
        })
        .optional()
        .map_err(db)?;
    let Some((bot, spec, chat, message, created_at)) = row else { return Ok(None) };
    Ok(Some(Invoice {
        slug: slug.to_string(),
        bot: UserId(bot),
        spec: codec::decode_invoice_spec(&spec)?,
        message: chat.zip(message).map(|(c, m)| (ChatKey(c), MessageId(m))),
        created_at,
    }))
}

const PAYMENT_COLS: &str = "id, invoice, bot_id, user_id, chat_id, currency, total_amount, payload, shipping_option, \
     order_info, state, error, charge_id, provider_charge, subscription_id, renewal, created_at, deadline, finished_at";

fn load_payment(conn: &Connection, id: i64) -> StoreResult<Option<Payment>> {
    let row = conn
        .prepare_cached(&format!("SELECT {PAYMENT_COLS} FROM payments WHERE id = ?1"))
        .map_err(db)?
        .query_row([id], |r| {
            Ok((
                Payment {
                    id: r.get(0)?,
                    invoice: r.get(1)?,
                    bot: UserId(r.get(2)?),
                    user: UserId(r.get(3)?),
                    chat: ChatKey(r.get(4)?),
                    currency: r.get(5)?,
                    total_amount: r.get(6)?,
                    payload: r.get(7)?,
                    shipping_option_id: r.get(8)?,
                    order_info: Default::default(),
                    state: PaymentState::PreCheckout,
                    error: r.get(11)?,
                    charge_id: r.get(12)?,
                    provider_charge_id: r.get(13)?,
                    subscription: r.get(14)?,
                    renewal: r.get(15)?,
                    created_at: r.get(16)?,
                    deadline: r.get(17)?,
                    finished_at: r.get(18)?,
                },
                r.get::<_, Option<String>>(9)?,
                r.get::<_, String>(10)?,
            ))
        })
        .optional()
        .map_err(db)?;
    let Some((mut p, order, state)) = row else { return Ok(None) };
    p.order_info = codec::decode_order(order.as_deref())?;
    p.state =
        PaymentState::parse(&state).ok_or_else(|| StoreError::Backend(format!("unknown payment state {state:?}")))?;
    Ok(Some(p))
}

fn set_payment_state(
    conn: &Connection,
    id: i64,
    state: PaymentState,
    error: Option<String>,
    provider_charge: Option<String>,
    finished_at: Option<i64>,
) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE payments SET state = ?1, error = COALESCE(?2, error), provider_charge = COALESCE(?3, provider_charge), \
         finished_at = COALESCE(?4, finished_at) WHERE id = ?5",
    )
    .map_err(db)?
    .execute(params![state.as_str(), error, provider_charge, finished_at, id])
    .map_err(db)?;
    Ok(())
}

/// Ends a payment without moving money; the payer is told.
fn finish_payment(
    conn: &Writer,
    p: Payment,
    state: PaymentState,
    error: Option<String>,
    provider_charge: Option<String>,
    now: i64,
) -> StoreResult<Written<Payment>> {
    set_payment_state(conn, p.id, state, error, provider_charge, Some(now))?;
    let value = load_payment(conn, p.id)?.ok_or(Denied::PaymentNotFound)?;
    let notify = vec![push_update(conn, p.user, "payment_updated", p.chat, Some(p.id))?];
    Ok(Written { value, notify })
}

/// Marks a payment paid: moves the Stars (for Stars), starts or extends the subscription, and
/// writes the `successful_payment` message the bot delivers on — one transaction. The caller
/// checked the payer's balance.
fn pay(conn: &Writer, p: Payment, provider_charge: Option<String>, now: i64) -> StoreResult<Written<Payment>> {
    let row = load_chat_row(conn, p.chat)?.ok_or(Denied::ChatNotFound)?;
    let inv = load_invoice(conn, &p.invoice)?.ok_or(Denied::InvoiceNotFound)?;
    if p.currency == plaza_core::payment::STARS {
        let t = NewTransfer::new(
            &format!("pay:{}", p.id),
            Account::User(p.user),
            Account::User(p.bot),
            p.total_amount,
            "payment",
        )
        .map_err(|e| StoreError::Backend(e.reason))?;
        apply_transfer(conn, &t, now)?;
    }
    let subscription = match (inv.spec.subscription_period, p.subscription) {
        (Some(period), None) => {
            let id: i64 = conn
                .prepare_cached(
                    "INSERT INTO subscriptions (invoice, bot_id, user_id, title, amount, period, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                     ON CONFLICT (invoice, user_id) DO UPDATE SET amount = excluded.amount, period = excluded.period, \
                     expires_at = excluded.expires_at, canceled_by_user = 0, canceled_by_bot = 0, lapsed = 0, renewals = 0 \
                     RETURNING id",
                )
                .map_err(db)?
                .query_row(
                    params![p.invoice, p.bot.0, p.user.0, inv.spec.title, p.total_amount, period, now + period],
                    |r| r.get(0),
                )
                .map_err(db)?;
            conn.prepare_cached("UPDATE payments SET subscription_id = ?1 WHERE id = ?2")
                .map_err(db)?
                .execute(params![id, p.id])
                .map_err(db)?;
            Some(id)
        }
        (_, Some(id)) => {
            conn.prepare_cached(
                "UPDATE subscriptions SET expires_at = MAX(expires_at, ?1) + period, renewals = ?2 WHERE id = ?3",
            )
            .map_err(db)?
            .execute(params![now, p.renewal, id])
            .map_err(db)?;
            Some(id)
        }
        (None, None) => None,
    };
    set_payment_state(conn, p.id, PaymentState::Paid, None, provider_charge, Some(now))?;
    let p = load_payment(conn, p.id)?.ok_or(Denied::PaymentNotFound)?;
    debug_assert_eq!(p.subscription, subscription);
    let receipt = receipt_of(conn, &p, true)?;
    let msg = insert_message(
        conn,
        &row,
        p.user,
        NewMessage::service(ServiceAction::SuccessfulPayment(Box::new(receipt))),
        now,
    )?;
    let mut notify = msg.notify;
    notify.push(push_update(conn, p.user, "payment_updated", p.chat, Some(p.id))?);
    Ok(Written { value: p, notify })
}

/// What a payment's service message says about it.
fn receipt_of(conn: &Connection, p: &Payment, paid: bool) -> StoreResult<PaymentReceipt> {
    let sub = match p.subscription {
        Some(id) => load_subscription(conn, id)?,
        None => None,
    };
    Ok(PaymentReceipt {
        currency: p.currency.clone(),
        total_amount: p.total_amount,
        invoice_payload: p.payload.clone(),
        charge_id: p.charge_id.clone(),
        provider_charge_id: p.provider_charge_id.clone(),
        shipping_option_id: if paid { p.shipping_option_id.clone() } else { None },
        order_info: if paid && !p.order_info.is_empty() { Some(p.order_info.clone()) } else { None },
        subscription_expiration_date: if paid { sub.as_ref().map(|s| s.expires_at) } else { None },
        is_recurring: paid && sub.is_some(),
        is_first_recurring: paid && sub.is_some() && p.renewal == 0,
        title: load_invoice(conn, &p.invoice)?.map(|i| i.spec.title),
    })
}

fn load_shipping_query(conn: &Connection, id: i64) -> StoreResult<Option<(ShippingQuery, ChatKey)>> {
    let row = conn
        .prepare_cached(
            "SELECT q.invoice, q.bot_id, q.user_id, q.chat_id, q.address, q.created_at, q.answer, i.spec \
             FROM shipping_queries q JOIN invoices i ON i.slug = q.invoice WHERE q.id = ?1",
        )
        .map_err(db)?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, String>(7)?,
            ))
        })
        .optional()
        .map_err(db)?;
    let Some((invoice, bot, user, chat, address, created_at, answer, spec)) = row else { return Ok(None) };
    Ok(Some((
        ShippingQuery {
            id,
            invoice,
            bot: UserId(bot),
            user: UserId(user),
            payload: codec::decode_invoice_spec(&spec)?.payload,
            address: codec::decode_address(&address)?,
            created_at,
            answer: answer.as_deref().map(codec::decode_shipping_answer).transpose()?,
        },
        ChatKey(chat),
    )))
}

const SUBSCRIPTION_COLS: &str = "id, invoice, bot_id, user_id, title, amount, period, expires_at, canceled_by_user, \
     canceled_by_bot, lapsed, renewals";

fn subscription_from_row(r: &Row<'_>) -> rusqlite::Result<Subscription> {
    Ok(Subscription {
        id: r.get(0)?,
        invoice: r.get(1)?,
        bot: UserId(r.get(2)?),
        user: UserId(r.get(3)?),
        title: r.get(4)?,
        amount: r.get(5)?,
        period: r.get(6)?,
        expires_at: r.get(7)?,
        canceled_by_user: r.get(8)?,
        canceled_by_bot: r.get(9)?,
        lapsed: r.get(10)?,
        renewals: r.get(11)?,
    })
}

fn load_subscription(conn: &Connection, id: i64) -> StoreResult<Option<Subscription>> {
    conn.prepare_cached(&format!("SELECT {SUBSCRIPTION_COLS} FROM subscriptions WHERE id = ?1"))
        .map_err(db)?
        .query_row([id], subscription_from_row)
        .optional()
        .map_err(db)
}

fn subscription_by_invoice(conn: &Connection, invoice: &str, user: UserId) -> StoreResult<Option<Subscription>> {
    conn.prepare_cached(&format!("SELECT {SUBSCRIPTION_COLS} FROM subscriptions WHERE invoice = ?1 AND user_id = ?2"))
        .map_err(db)?
        .query_row(params![invoice, user.0], subscription_from_row)
        .optional()
        .map_err(db)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_migration_file_is_listed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
        let files = std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "sql"))
            .count();
        assert_eq!(files, super::MIGRATIONS.len(), "a migration in {dir} is missing from MIGRATIONS");
    }

    use super::*;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db"), SqliteOptions::default()).unwrap();
        (dir, store)
    }

    async fn user_count(store: &SqliteStore) -> i64 {
        store.read(|c| c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0)).map_err(db)).await.unwrap()
    }

    const INSERT: &str = "INSERT INTO users (id, username, username_key, display_name, created_at) \
                          VALUES (5000000, 'ghost', 'ghost', 'Ghost', 0)";

    /// The syncer answers writers on the runtime the store was opened on; a store opened outside
    /// any runtime answers them from the syncer thread instead.
    #[test]
    fn a_store_opened_outside_a_runtime_answers_its_writes() {
        let (_dir, store) = store();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            store.write(|c| c.execute(INSERT, []).map(drop).map_err(db)).await.unwrap();
            assert_eq!(user_count(&store).await, 1);
        });
    }

    #[tokio::test]
    async fn a_write_failing_midway_leaves_nothing_behind() {
        let (_dir, store) = store();
        let r: StoreResult<()> = store
            .write(|c| {
                c.execute(INSERT, []).map_err(db)?;
                Err(StoreError::Backend("disk on fire".into()))
            })
            .await;
        assert!(matches!(r, Err(StoreError::Backend(_))));
        assert_eq!(user_count(&store).await, 0);
    }

    #[tokio::test]
    async fn log_entries_of_a_failed_write_are_not_written() {
        let (_dir, store) = store();
        // Entries are written when the batch commits, not as they are noted: a write that noted
        // some and then failed must leave none, as a write that changed rows does.
        let push = |fail: bool| {
            store.write(move |c| {
                push_update(c, UserId(7_000), "chat_updated", ChatKey(1), None)?;
                push_update(c, UserId(7_001), "chat_updated", ChatKey(1), None)?;
                if fail {
                    return Err(StoreError::Backend("disk on fire".into()));
                }
                Ok(())
            })
        };
        push(false).await.unwrap();
        assert!(push(true).await.is_err());
        push(false).await.unwrap();
        let rows: Vec<(i64, i64)> = store
            .read(|c| {
                c.prepare("SELECT user_id, seq FROM updates_recent ORDER BY user_id, seq")
                    .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
                    .map_err(db)
            })
            .await
            .unwrap();
        // Seqs go on from what was written, without gaps or repeats.
        assert_eq!(rows, [(7_000, 1), (7_000, 2), (7_001, 1), (7_001, 2)]);
    }

    #[tokio::test]
    async fn blocks_of_the_log_cover_what_another_process_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        // Blocks of three entries, so every few writes close one.
        let options = SqliteOptions { log_block_rows: 3, ..SqliteOptions::default() };
        let server = SqliteStore::open(&path, options.clone()).unwrap();
        async fn push(store: &SqliteStore, user: i64) -> StoreResult<()> {
            store.write(move |c| push_update(c, UserId(user), "chat_updated", ChatKey(1), None).map(drop)).await
        }
        push(&server, 7_000).await.unwrap();
        // Another process (the CLI) opens the database, appends, and goes; the server then
        // closes blocks holding the other process's entries too.
        let cli = SqliteStore::open(&path, SqliteOptions { sync_in_commit: true, ..options }).unwrap();
        for user in [7_001, 7_002, 7_001] {
            push(&cli, user).await.unwrap();
        }
        drop(cli);
        for user in [7_000, 7_003, 7_000, 7_002, 7_003] {
            push(&server, user).await.unwrap();
        }
        let blocks: i64 = server
            .read(|c| c.query_row("SELECT COUNT(*) FROM update_blocks", [], |r| r.get(0)).map_err(db))
            .await
            .unwrap();
        assert!(blocks > 0, "blocks were closed");
        for (user, entries) in [(7_000, 3), (7_001, 2), (7_002, 2), (7_003, 2)] {
            let seqs: Vec<i64> = server
                .read(move |c| {
                    c.prepare(LOG_AFTER)
                        .and_then(|mut s| s.query_map(params![user, 0, 100], |r| r.get(0))?.collect())
                        .map_err(db)
                })
                .await
                .unwrap();
            assert_eq!(seqs, (1..=entries).collect::<Vec<_>>(), "user {user}");
        }
    }

    #[tokio::test]
    async fn a_panicking_write_leaves_nothing_behind_and_the_writer_goes_on() {
        let (_dir, store) = store();
        let r: StoreResult<()> = store
            .write(|c| {
                c.execute(INSERT, []).map_err(db)?;
                panic!("bug in a write");
            })
            .await;
        assert!(matches!(r, Err(StoreError::Backend(_))));
        assert_eq!(user_count(&store).await, 0);
        store.write(|c| c.execute(INSERT, []).map(|_| ()).map_err(db)).await.unwrap();
        assert_eq!(user_count(&store).await, 1);
    }

    #[tokio::test]
    async fn a_refused_write_does_not_disturb_its_batch() {
        let (_dir, store) = store();
        let store = std::sync::Arc::new(store);
        // Many writes at once land in shared batches; the refused ones change nothing.
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .write(move |c| {
                            if i % 2 == 0 {
                                return Err(StoreError::Denied(Denied::NotAdmin));
                            }
                            c.execute(
                                "INSERT INTO users (id, username, username_key, display_name, created_at) \
                                 VALUES (?1, 'u' || ?1, 'u' || ?1, 'U', 0)",
                                [5_000_000 + i],
                            )
                            .map(|_| ())
                            .map_err(db)
                        })
                        .await
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            let r = t.await.unwrap();
            assert_eq!(r.is_ok(), i % 2 == 1, "{r:?}");
        }
        assert_eq!(user_count(&store).await, 32);
    }
}
