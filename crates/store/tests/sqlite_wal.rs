//! The SQLite store's write-ahead log must start over under steady writes, not grow without end.
//!
//! SQLite rewinds the WAL only when a write begins with every frame already copied into the
//! database. A checkpoint on another thread alone never gets there while writes keep coming, so the
//! store's writer finishes each checkpoint between two batches. Each rewind bumps the checkpoint
//! sequence number in the WAL file's header (bytes 12..16, big-endian, in SQLite's file format),
//! which this test watches while messages keep being sent.
//!
//! The writer commits without an fsync and a syncer thread fsyncs the WAL through a descriptor of
//! its own before any caller is answered; the file it holds must stay the WAL, and a read that
//! saw a commit must wait for that fsync too.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use plaza_core::{ChatId, DisplayName, HistoryPage, NewMessage, User, Username};
use plaza_store::sqlite::{SqliteOptions, SqliteStore};
use plaza_store::{NewAccount, Store};

fn account(name: &str) -> NewAccount {
    NewAccount {
        username: Username::parse(name).unwrap(),
        display_name: DisplayName::parse(name).unwrap(),
        password_hash: Some(format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash-of-{name}")),
        language_code: None,
        phone_number: None,
        bot: None,
        now: 1_700_000_000,
    }
}

/// The WAL's checkpoint sequence number, or `None` before the WAL has a header.
fn wal_generation(db: &Path) -> Option<u32> {
    use std::io::Read;
    // Only the 32-byte header: the WAL itself may be tens of megabytes.
    let mut header = [0u8; 32];
    std::fs::File::open(db.with_extension("db-wal")).ok()?.read_exact(&mut header).ok()?;
    Some(u32::from_be_bytes(header[12..16].try_into().unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_starts_over_while_writes_keep_coming() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("plaza.db");
    // A WAL of 1,024 frames is restarted (the default waits for 65,536, which a debug build may
    // take a while to write).
    let options = SqliteOptions { wal_restart_frames: 1024, ..SqliteOptions::default() };
    let store = Arc::new(SqliteStore::open(&db, options).unwrap());

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for i in 0..16 {
        let a = store.create_account(account(&format!("sender{i}"))).await.unwrap();
        let b = store.create_account(account(&format!("receiver{i}"))).await.unwrap();
        store.open_private_chat(a.id, b.id, 1_700_000_000).await.unwrap();
        let (store, stop, sent) = (store.clone(), stop.clone(), sent.clone());
        senders.push(tokio::spawn(async move {
            let text = "a message long enough to fill the log a little faster than a short one would";
            while !stop.load(Ordering::Relaxed) {
                let m = NewMessage::new(text, vec![], None).unwrap();
                store.append_message(a.id, ChatId(b.id.0), m, 1_700_000_001).await.unwrap();
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    // The checkpointer runs once a second; two rewinds within 30 s of unbroken writing.
    let started = Instant::now();
    let mut first = None;
    let mut rewinds = 0;
    while started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let Some(generation) = wal_generation(&db) else { continue };
        let first = *first.get_or_insert(generation);
        rewinds = generation.wrapping_sub(first);
        if rewinds >= 2 {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.await.unwrap();
    }
    let sent = sent.load(Ordering::Relaxed);
    assert!(
        rewinds >= 2,
        "the WAL started over {rewinds} times in {:?} while {sent} messages were sent",
        started.elapsed()
    );
    assert!(
        store.synced_wal_is_current(&db).unwrap(),
        "after {rewinds} rewinds the syncer fsyncs a file that is no longer the WAL"
    );
}

/// A store whose every fsync of the WAL is held `held` first, and two users in a private chat.
async fn on_a_slow_disk(held: Duration) -> (tempfile::TempDir, Arc<SqliteStore>, User, User) {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions { sync_delay: held, ..SqliteOptions::default() };
    let store = Arc::new(SqliteStore::open(&dir.path().join("plaza.db"), options).unwrap());
    let a = store.create_account(account("writer")).await.unwrap();
    let b = store.create_account(account("reader")).await.unwrap();
    store.open_private_chat(a.id, b.id, 1_700_000_000).await.unwrap();
    (dir, store, a, b)
}

/// With the disk made slow (every fsync held 400 ms), a message is committed and visible to the
/// readers' connections long before it is on disk. A history read in that window must not
/// answer with it until the fsync is done, as the sender is not answered before then either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_does_not_answer_with_a_write_before_it_is_on_disk() {
    const HELD: Duration = Duration::from_millis(400);
    let (_dir, store, a, b) = on_a_slow_disk(HELD).await;
    let page = || HistoryPage::Before { before: None, limit: 10 };
    assert!(store.history(b.id, ChatId(a.id.0), page()).await.unwrap().is_empty());

    let sent_at = Instant::now();
    let send = tokio::spawn({
        let store = store.clone();
        async move {
            let m = NewMessage::new("held by a slow disk", vec![], None).unwrap();
            store.append_message(a.id, ChatId(b.id.0), m, 1_700_000_001).await.unwrap();
            sent_at.elapsed()
        }
    });
    // Read until the message shows up; each read that has it must come after the fsync.
    loop {
        let history = store.history(b.id, ChatId(a.id.0), page()).await.unwrap();
        let read_after = sent_at.elapsed();
        if let Some(m) = history.first() {
            assert_eq!(m.text.as_str(), "held by a slow disk");
            assert!(
                read_after >= HELD,
                "the read answered with the message {read_after:?} after it was sent, before its fsync ({HELD:?})"
            );
            break;
        }
        assert!(read_after < Duration::from_secs(30), "the message never showed up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let answered_after = send.await.unwrap();
    assert!(answered_after >= HELD, "the sender was answered {answered_after:?} after sending, before the fsync");
}

/// A batch committed while the syncer flushes another waits for the next fsync; the writes that
/// arrive while it waits are gathered into the writer's open transaction and committed together
/// when the syncer takes the waiting batch: a commit per fsync, not one per write that happened to
/// find the writer idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_arriving_during_an_fsync_share_the_next_commit() {
    const HELD: Duration = Duration::from_millis(300);
    let (_dir, store, a, b) = on_a_slow_disk(HELD).await;
    let commits_before = store.stats().commits;

    let send = |text: &'static str| {
        let store = store.clone();
        tokio::spawn(async move {
            let m = NewMessage::new(text, vec![], None).unwrap();
            store.append_message(a.id, ChatId(b.id.0), m, 1_700_000_001).await.unwrap();
        })
    };
    let first = send("the first, alone in its commit");
    tokio::time::sleep(HELD / 3).await;
    // The first is committed and its fsync held; the second is committed to wait for the next, and
    // the other three arrive while it waits.
    let mut rest = Vec::new();
    for text in ["second", "third", "fourth", "fifth"] {
        rest.push(send(text));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.await.unwrap();
    for r in rest {
        r.await.unwrap();
    }
    assert_eq!(store.stats().commits - commits_before, 3, "five writes: the first, the second, then three together");
    let history = store.history(b.id, ChatId(a.id.0), HistoryPage::Before { before: None, limit: 10 }).await.unwrap();
    assert_eq!(history.len(), 5);
}

/// SQLite names the WAL after the database file it resolved, so a database opened through a
/// symbolic link has its WAL beside the link's target; the syncer must fsync that file.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_opened_through_a_symbolic_link_syncs_its_real_wal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    let real = dir.path().join("real").join("plaza.db");
    let link = dir.path().join("plaza.db");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let store = SqliteStore::open(&link, SqliteOptions::default()).unwrap();
    let a = store.create_account(account("linked")).await.unwrap();
    assert_eq!(store.user(a.id).await.unwrap().id, a.id);
    assert!(store.synced_wal_is_current(&real).unwrap(), "the syncer does not hold the WAL beside the real file");
}

/// An administrative command's store (`sync_in_commit`) opened beside a server's on the same
/// database: each reads what the other wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_store_beside_a_server_store_sees_its_writes_and_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("plaza.db");
    let server = SqliteStore::open(&db, SqliteOptions::default()).unwrap();
    let admin = SqliteStore::open(&db, SqliteOptions { sync_in_commit: true, ..SqliteOptions::default() }).unwrap();
    let a = server.create_account(account("from_server")).await.unwrap();
    let b = admin.create_account(account("from_admin")).await.unwrap();
    assert_eq!(admin.user(a.id).await.unwrap().id, a.id);
    assert_eq!(server.user(b.id).await.unwrap().id, b.id);
    server.open_private_chat(a.id, b.id, 1_700_000_000).await.unwrap();
    let m = NewMessage::new("written by the admin store", vec![], None).unwrap();
    admin.append_message(b.id, ChatId(a.id.0), m, 1_700_000_001).await.unwrap();
    let page = HistoryPage::Before { before: None, limit: 10 };
    let history = server.history(a.id, ChatId(b.id.0), page).await.unwrap();
    assert_eq!(history.first().map(|m| m.text.as_str()), Some("written by the admin store"));
}
