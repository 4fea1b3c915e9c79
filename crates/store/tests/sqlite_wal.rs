//! The SQLite store's write-ahead log must start over under steady writes, not grow without end.
//!
//! SQLite rewinds the WAL only when a write begins with every frame already copied into the
//! database. A checkpoint on another thread alone never gets there while writes keep coming, so the
//! store's writer finishes each checkpoint between two batches. Each rewind bumps the checkpoint
//! sequence number in the WAL file's header (bytes 12..16, big-endian, in SQLite's file format),
//! which this test watches while messages keep being sent.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use plaza_core::{ChatId, DisplayName, NewMessage, Username};
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
}
