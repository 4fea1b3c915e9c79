//! A database made by an earlier Plaza keeps its ledger when a later one migrates it: migration
//! 0013 rebuilds `ledger_transfers` (SQLite cannot drop its UNIQUE key) and moves the keys into
//! `ledger_keys`. The test builds a database as Plaza did at migration 0012, with transfers in
//! both the old in-place entries and the recent ones, opens it with this store, and checks that
//! every old key is still idempotent, the history and balances are intact, and new transfers work.
//! The second does the same for the update log and the recent messages across 0015 and 0016.

use plaza_core::UserId;
use plaza_core::ledger::{Account, NewTransfer};
use plaza_store::sqlite::{MIGRATIONS, SqliteOptions, SqliteStore};
use plaza_store::{Store, StoreError};

fn xfer(key: &str, from: Account, to: Account, amount: i64) -> NewTransfer {
    NewTransfer::new(key, from, to, amount, "test").unwrap()
}

/// A database as Plaza left it after its first `version` migrations.
fn database_at(path: &std::path::Path, version: usize) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    for (i, sql) in MIGRATIONS[..version].iter().enumerate() {
        conn.execute_batch(sql).unwrap();
        conn.pragma_update(None, "user_version", (i + 1) as i64).unwrap();
    }
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_12_ledger_survives_the_key_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plaza.db");
    let (ann, ben) = (Account::User(UserId(1000001)), Account::User(UserId(1000002)));
    {
        let conn = database_at(&path, 12);
        // Two transfers as Plaza wrote them at version 12: the grant's entries already moved into
        // `ledger_entries`, the payment's still in `ledger_entries_recent`.
        conn.execute_batch(
            "INSERT INTO ledger_transfers (id, key, from_account, to_account, amount, memo, at) VALUES
                 (1, 'grant-1', 'issuance', 'u:1000001', 100, 'grant', 10),
                 (2, 'pay-1', 'u:1000001', 'u:1000002', 30, 'payment', 11);
             INSERT INTO ledger_entries (account, transfer_id, delta, balance) VALUES
                 ('issuance', 1, -100, -100), ('u:1000001', 1, 100, 100);
             INSERT INTO ledger_entries_recent (account, transfer_id, delta, balance) VALUES
                 ('u:1000001', 2, -30, 70), ('u:1000002', 2, 30, 30);
             INSERT INTO ledger_balances (account, balance) VALUES
                 ('issuance', -100), ('u:1000001', 70), ('u:1000002', 30);",
        )
        .unwrap();
    }

    let s = SqliteStore::open(&path, SqliteOptions::default()).expect("the store migrates the database");
    let check = s.ledger_check().await.unwrap();
    assert_eq!((check.total, check.accounts, check.mismatched.clone()), (0, 3, vec![]), "{check:?}");

    // Old keys: the same transfer again is the first one, with the balances it recorded; the key
    // for another transfer is refused.
    let again = s.transfer(xfer("grant-1", Account::Issuance, ann, 100), 20).await.unwrap();
    assert_eq!((again.id, again.at, again.from_balance, again.to_balance), (1, 10, -100, 100));
    let again = s.transfer(xfer("pay-1", ann, ben, 30), 20).await.unwrap();
    assert_eq!((again.id, again.at, again.from_balance, again.to_balance), (2, 11, 70, 30));
    let err = s.transfer(xfer("pay-1", ann, ben, 31), 20).await.unwrap_err();
    assert!(matches!(err, StoreError::Denied(plaza_core::Denied::TransferKeyReused)), "{err:?}");

    // New transfers follow the old ones, and their keys are as idempotent.
    let next = s.transfer(xfer("pay-2", ben, ann, 5), 21).await.unwrap();
    assert_eq!((next.id, next.from_balance, next.to_balance), (3, 25, 75));
    assert_eq!(s.transfer(xfer("pay-2", ben, ann, 5), 22).await.unwrap(), next);
    assert_eq!((s.balance(ann).await.unwrap(), s.balance(ben).await.unwrap()), (75, 25));
    let history: Vec<i64> = s.ledger_entries(ann, None, 10).await.unwrap().iter().map(|e| e.delta).collect();
    assert_eq!(history, vec![5, -30, 100]);
    let check = s.ledger_check().await.unwrap();
    assert_eq!((check.total, check.mismatched), (0, vec![]));
}

/// Migrations 0015 and 0016 stop moving the update log and rebuild `messages_recent`: a database
/// made at version 14, with log entries both moved to `updates` and still in `updates_recent` and
/// messages in both `messages` and `messages_recent`, replays every entry once and in order, keeps
/// its history, and goes on from there (with blocks closed every three entries).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_14_update_log_survives_the_block_migration() {
    use plaza_core::{ChatId, HistoryPage, MessageId, NewMessage};
    use plaza_store::EventBody;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plaza.db");
    let (ann, ben) = (UserId(1000001), UserId(1000002));
    {
        let conn = database_at(&path, 14);
        // Four messages of ann and ben's private chat: two moved into `messages`, two still in
        // `messages_recent`; each with an entry in both logs, moved or not alike.
        conn.execute_batch(
            "INSERT INTO users (id, username, username_key, display_name, created_at) VALUES
                 (1000001, 'ann', 'ann', 'Ann', 1), (1000002, 'ben', 'ben', 'Ben', 1);
             INSERT INTO chats (id, kind, user_lo, user_hi, last_message_id, last_activity, created_at)
                 VALUES (1, 'private', 1000001, 1000002, 0, 1, 1);
             INSERT INTO members (chat_id, user_id, role, joined_at) VALUES
                 (1, 1000001, 'member', 1), (1, 1000002, 'member', 1);
             INSERT INTO messages (chat_id, id, sender_id, date, text) VALUES
                 (1, 1, 1000001, 10, 'one'), (1, 2, 1000002, 11, 'two');
             INSERT INTO messages_recent (chat_id, id, sender_id, date, text) VALUES
                 (1, 3, 1000001, 12, 'three'), (1, 4, 1000002, 13, 'four');
             INSERT INTO updates (user_id, seq, kind, chat_id, message_id) VALUES
                 (1000001, 1, 'message_new', 1, 1), (1000001, 2, 'message_new', 1, 2),
                 (1000002, 1, 'message_new', 1, 1), (1000002, 2, 'message_new', 1, 2);
             INSERT INTO updates_recent (user_id, seq, kind, chat_id, message_id) VALUES
                 (1000001, 3, 'message_new', 1, 3), (1000002, 3, 'message_new', 1, 3),
                 (1000001, 4, 'message_new', 1, 4), (1000002, 4, 'message_new', 1, 4);",
        )
        .unwrap();
    }

    let options = SqliteOptions { log_block_rows: 3, busy_chat_messages: 0, ..SqliteOptions::default() };
    let s = SqliteStore::open(&path, options).expect("the store migrates the database");
    let texts = |events: &[plaza_store::Event]| -> Vec<(u64, String)> {
        events
            .iter()
            .map(|e| match &e.body {
                EventBody::MessageNew { message, .. } => (e.seq, message.text.as_str().to_string()),
                other => panic!("unexpected event {other:?}"),
            })
            .collect()
    };
    let old: Vec<(u64, String)> =
        [(1, "one"), (2, "two"), (3, "three"), (4, "four")].iter().map(|(s, t)| (*s, t.to_string())).collect();
    assert_eq!(texts(&s.events_after(ann, 0, 100).await.unwrap().events), old);
    assert_eq!(texts(&s.events_after(ben, 2, 100).await.unwrap().events), old[2..]);
    let history = s.history(ann, ChatId::private(ben), HistoryPage::new(None, None, Some(10)).unwrap()).await.unwrap();
    assert_eq!(history.len(), 4);

    // New messages follow, their entries in blocks closed every three rows.
    for text in ["five", "six", "seven"] {
        let m = NewMessage::new(text, vec![], None).unwrap();
        s.append_message(ann, ChatId::private(ben), m, 20).await.unwrap();
    }
    let page = s.events_after(ben, 0, 100).await.unwrap();
    let seqs: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(texts(&page.events)[6], (7, "seven".to_string()));
    // A page stops at its limit wherever the entries are, and the next goes on from its cursor.
    let first = s.events_after(ben, 0, 3).await.unwrap();
    assert_eq!((first.events.len(), first.next_cursor), (3, 3));
    let rest = s.events_after(ben, first.next_cursor, 100).await.unwrap();
    assert_eq!(rest.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5, 6, 7]);
    assert_eq!(s.current_cursor(ann).await.unwrap(), 7);
    let history = s.history(ben, ChatId::private(ann), HistoryPage::new(None, None, Some(10)).unwrap()).await.unwrap();
    assert_eq!(history.len(), 7);
    assert_eq!(history.iter().map(|m| m.id).max(), Some(MessageId(7)));
}
