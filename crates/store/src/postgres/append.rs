//! Messages go to PostgreSQL in batches. Sending a message is Plaza's hottest write, and one
//! transaction per message spent PostgreSQL's CPU on per-statement and per-commit overhead rather
//! than on the rows. So every `append_message` without a poll hands its message to one task per
//! store, which sends the messages waiting to `plaza_append_messages` (migration 0013) in one
//! statement, one transaction and one WAL flush, then answers each caller with its own outcome.
//!
//! The task runs one batch at a time: when the previous one has been answered, it takes every
//! message waiting by then (up to [`MAX_BATCH`]). A message arriving while PostgreSQL is idle
//! therefore goes alone at once, and batches grow only while earlier ones are running: the same
//! group commit as the SQLite writer.
//!
//! A refusal (unknown chat, a block, a missing reply target) is per message and leaves the others
//! alone. If the whole statement fails with a database error, it was rolled back, and its two
//! halves are sent again, down to single messages, so one message the database rejects cannot
//! cost the others theirs. Any other error (the connection broke, maybe after the commit) is
//! reported to every caller of the batch without a retry, which could write a message twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool_postgres::{GenericClient, Pool};
use plaza_core::{ChatKey, Denied, MessageId, UserId};
use tokio::sync::{mpsc, oneshot};

use super::get;
use crate::{StoreError, StoreResult, StoreStats};

/// The most messages in one statement. Every message of a batch waits for all of it, and its
/// chats stay locked until it commits.
pub(super) const MAX_BATCH: usize = 64;

const SQL: &str = "SELECT chat_key, message_id, failure, notify_users, notify_seqs \
                   FROM plaza_append_messages($1, $2, $3, $4, $5, $6, $7, $8)";

/// One message to send, its columns as stored.
pub(super) struct Append {
    pub sender: i64,
    /// The other user of a private chat; exactly one of `peer` and `group` is set.
    pub peer: Option<i64>,
    pub group: Option<i64>,
    pub text: String,
    pub entities: Option<String>,
    pub reply_to: Option<i64>,
    pub now: i64,
    pub extra: Option<String>,
}

/// Where a message went and whom it notified, at which seq of their logs.
pub(super) struct Appended {
    pub chat: ChatKey,
    pub id: MessageId,
    pub notify: Vec<(UserId, u64)>,
}

/// Sends `batch` in one statement on `c`: one outcome per message, in order. `Err` means the
/// statement failed as a whole (and, outside a transaction of the caller's, wrote nothing).
pub(super) async fn append_all<C: GenericClient>(
    c: &C,
    batch: &[Append],
) -> Result<Vec<StoreResult<Appended>>, tokio_postgres::Error> {
    let senders: Vec<i64> = batch.iter().map(|a| a.sender).collect();
    let peers: Vec<Option<i64>> = batch.iter().map(|a| a.peer).collect();
    let groups: Vec<Option<i64>> = batch.iter().map(|a| a.group).collect();
    let texts: Vec<&str> = batch.iter().map(|a| a.text.as_str()).collect();
    let entities: Vec<Option<&str>> = batch.iter().map(|a| a.entities.as_deref()).collect();
    let reply_tos: Vec<Option<i64>> = batch.iter().map(|a| a.reply_to).collect();
    let nows: Vec<i64> = batch.iter().map(|a| a.now).collect();
    let extras: Vec<Option<&str>> = batch.iter().map(|a| a.extra.as_deref()).collect();
    let stmt = c.prepare_cached(SQL).await?;
    let rows = c.query(&stmt, &[&senders, &peers, &groups, &texts, &entities, &reply_tos, &nows, &extras]).await?;
    if rows.len() != batch.len() {
        let e =
            StoreError::backend(format!("plaza_append_messages answered {} of {} messages", rows.len(), batch.len()));
        return Ok(batch.iter().map(|_| Err(e.clone())).collect());
    }
    Ok(rows.iter().map(outcome).collect())
}

fn outcome(row: &tokio_postgres::Row) -> StoreResult<Appended> {
    match get::<Option<&str>>(row, 2)? {
        None => {}
        Some("chat_not_found") => return Err(Denied::ChatNotFound.into()),
        Some("blocked") => return Err(Denied::Blocked.into()),
        Some("message_not_found") => return Err(Denied::MessageNotFound.into()),
        Some(other) => return Err(StoreError::backend(format!("plaza_append_messages: unknown failure {other:?}"))),
    }
    let users: Vec<i64> = get(row, 3)?;
    let seqs: Vec<i64> = get(row, 4)?;
    let notify = users.into_iter().zip(seqs).map(|(u, s)| (UserId(u), s as u64)).collect();
    Ok(Appended { chat: ChatKey(get(row, 0)?), id: MessageId(get(row, 1)?), notify })
}

struct Job {
    append: Append,
    reply: oneshot::Sender<StoreResult<Appended>>,
}

/// For the store's metrics: statements committed and the messages they answered (refusals
/// included), and statements rolled back.
#[derive(Default)]
pub(super) struct Counters {
    batches: AtomicU64,
    messages: AtomicU64,
    failed: AtomicU64,
}

impl Counters {
    fn committed(&self, messages: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.messages.fetch_add(messages as u64, Ordering::Relaxed);
    }

    pub(super) fn stats(&self) -> StoreStats {
        StoreStats {
            commits: self.batches.load(Ordering::Relaxed),
            batched_writes: self.messages.load(Ordering::Relaxed),
            failed_batches: self.failed.load(Ordering::Relaxed),
        }
    }
}

/// The handle callers send their messages through; the task stops when it is dropped.
pub(super) struct Appender {
    jobs: mpsc::UnboundedSender<Job>,
    pub(super) counters: Arc<Counters>,
}

impl Appender {
    /// Starts the batching task on the current tokio runtime.
    pub(super) fn start(pool: Pool) -> Appender {
        let (jobs, rx) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        tokio::spawn(gather(pool, rx, counters.clone()));
        Appender { jobs, counters }
    }

    pub(super) async fn append(&self, append: Append) -> StoreResult<Appended> {
        let stopped = || StoreError::backend("the PostgreSQL message batcher stopped before answering");
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { append, reply }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// One batch at a time. Batches run side by side queue behind each other's WAL flush, and two that
/// notify the same user (a bot's log, say) also wait for each other's lock on that user's seq row
/// until the first commits. Measured on two cores: with 64 senders in separate chats
/// (`load --pairs-file`), one at a time (batches of 32) did as well as two (batches of 15), and two
/// beat four in five of five alternating pairs (5,445–7,558 messages/s against 4,479–4,917); with
/// 50 people writing to 20 bots (`bench/botapi`), one at a time got 3,742 and 4,043 of the 5,000
/// messages/s offered through, p99 302 and 199 ms, where two got 2,418 and 2,553, p99 415 and
/// 332 ms (two alternating pairs).
async fn gather(pool: Pool, mut jobs: mpsc::UnboundedReceiver<Job>, counters: Arc<Counters>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // In a task of its own, so that a panic costs that batch's answers and not the batcher.
        let (pool, counters) = (pool.clone(), counters.clone());
        if let Err(e) = tokio::spawn(async move { run(&pool, batch, &counters).await }).await {
            tracing::error!(error = %e, "a batch of messages panicked; its callers get an error");
        }
    }
}

async fn run(pool: &Pool, batch: Vec<Job>, counters: &Counters) {
    let (appends, replies): (Vec<Append>, Vec<_>) = batch.into_iter().map(|j| (j.append, j.reply)).unzip();
    let answer = |reply: oneshot::Sender<StoreResult<Appended>>, outcome| drop(reply.send(outcome));
    let client = match pool.get().await {
        Ok(client) => client,
        Err(e) => {
            let e = StoreError::backend(e);
            return replies.into_iter().for_each(|reply| answer(reply, Err(e.clone())));
        }
    };
    // Ranges of the batch still to send, the next one last, so they are sent (and answered) from
    // the first message on. A range whose statement fails with a database error was rolled back;
    // it is split in two and each half sent again, so a message the database rejects ends up
    // alone, at the cost of a few statements for the others.
    let mut replies = replies.into_iter();
    let mut pending = Vec::with_capacity(8);
    pending.push(0..appends.len());
    while let Some(range) = pending.pop() {
        match append_all(&client, &appends[range.clone()]).await {
            Ok(outcomes) => {
                counters.committed(range.len());
                replies.by_ref().take(range.len()).zip(outcomes).for_each(|(reply, outcome)| answer(reply, outcome));
            }
            Err(e) if e.as_db_error().is_some() && range.len() > 1 => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %super::describe(&e), messages = range.len(), "a batch of messages failed; sending it again in halves");
                let middle = range.start + range.len() / 2;
                pending.push(middle..range.end);
                pending.push(range.start..middle);
            }
            Err(e) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                let e = super::db(e);
                replies.by_ref().take(range.len()).for_each(|reply| answer(reply, Err(e.clone())));
            }
        }
    }
}
