//! A database made by an earlier Plaza keeps its ledger when a later one migrates it: migration
//! 0013 rebuilds `ledger_transfers` (SQLite cannot drop its UNIQUE key) and moves the keys into
//! `ledger_keys`. The test builds a database as Plaza did at migration 0012, with transfers in
//! both the old in-place entries and the recent ones, opens it with this store, and checks that
//! every old key is still idempotent, the history and balances are intact, and new transfers work.

use plaza_core::UserId;
use plaza_core::ledger::{Account, NewTransfer};
use plaza_store::sqlite::{MIGRATIONS, SqliteOptions, SqliteStore};
use plaza_store::{Store, StoreError};

fn xfer(key: &str, from: Account, to: Account, amount: i64) -> NewTransfer {
    NewTransfer::new(key, from, to, amount, "test").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_12_ledger_survives_the_key_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plaza.db");
    let (ann, ben) = (Account::User(UserId(1000001)), Account::User(UserId(1000002)));
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        // The migrations a database at version 12 had seen.
        for (i, sql) in MIGRATIONS[..12].iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", (i + 1) as i64).unwrap();
        }
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
