//! A PostgreSQL database made by an earlier Plaza keeps every user's update log when a later one
//! moves the seqs out of `users` (migration 0012). The test builds a database as Plaza did at
//! version 11, with logs of different lengths, opens it with this store, and checks that the
//! cursors carried over, that new entries follow the old ones with no gap and no clash, and that a
//! user created afterwards starts an empty log.

use plaza_core::{ChatId, DisplayName, MessageId, NewMessage, UserId, Username};
use plaza_store::postgres::{MIGRATIONS, PgStore};
use plaza_store::{EventBody, NewAccount, Store};

mod common;
use common::{TestDatabase, pg_client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_logs_survive_the_seq_migration() {
    let db = TestDatabase::create().await;
    {
        let old = pg_client(&db.url).await;
        old.batch_execute("CREATE TABLE schema_migrations (version INT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)")
            .await
            .unwrap();
        for (i, sql) in MIGRATIONS[..11].iter().enumerate() {
            old.batch_execute(sql).await.unwrap();
            old.execute("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())", &[&(i as i32 + 1)])
                .await
                .unwrap();
        }
        // Ann's log holds 3 entries, Ben's 2, as version 11 wrote them.
        old.batch_execute(
            "INSERT INTO users (username, username_key, display_name, password_hash, created_at, update_seq) VALUES
                 ('ann', 'ann', 'Ann', 'x', 1, 3), ('ben', 'ben', 'Ben', 'x', 1, 2);
             INSERT INTO chats (kind, user_lo, user_hi, last_message_id, last_activity, created_at)
                 VALUES ('private', 1000001, 1000002, 1, 1, 1);
             INSERT INTO members (chat_id, user_id, role, joined_at)
                 VALUES (1, 1000001, 'member', 1), (1, 1000002, 'member', 1);
             INSERT INTO messages (chat_id, id, sender_id, date, text) VALUES (1, 1, 1000001, 1, 'before');
             INSERT INTO updates (user_id, seq, kind, chat_id, message_id) VALUES
                 (1000001, 1, 'chat_updated', 1, NULL), (1000001, 2, 'message_new', 1, 1),
                 (1000001, 3, 'message_new', 1, 1), (1000002, 1, 'chat_updated', 1, NULL),
                 (1000002, 2, 'message_new', 1, 1);",
        )
        .await
        .unwrap();
    }

    let store = PgStore::connect(&db.url).await.expect("the store migrates the database");
    let (ann, ben) = (UserId(1000001), UserId(1000002));
    assert_eq!(store.current_cursor(ann).await.unwrap(), 3);
    assert_eq!(store.current_cursor(ben).await.unwrap(), 2);

    let sent = store.append_message(ann, ChatId::private(ben), NewMessage::new("after", vec![], None).unwrap(), 2);
    let sent = sent.await.unwrap();
    assert_eq!(sent.value.id, MessageId(2));
    assert_eq!(sent.notify, vec![(ann, 4), (ben, 3)]);
    let page = store.events_after(ben, 2, 10).await.unwrap();
    assert_eq!((page.events.len(), page.next_cursor), (1, 3));
    match &page.events[0].body {
        EventBody::MessageNew { message, .. } => {
            assert_eq!((message.id, message.text.as_str()), (MessageId(2), "after"))
        }
        other => panic!("expected the new message, got {other:?}"),
    }

    // A user created now has an empty log, and messages to them are logged from seq 1.
    let cleo = store
        .create_account(NewAccount {
            username: Username::parse("cleo").unwrap(),
            display_name: DisplayName::parse("Cleo").unwrap(),
            password_hash: Some("x".into()),
            language_code: None,
            phone_number: None,
            bot: None,
            now: 3,
        })
        .await
        .unwrap();
    assert_eq!(store.current_cursor(cleo.id).await.unwrap(), 0);
    store.open_private_chat(ann, cleo.id, 3).await.unwrap();
    let sent = store.append_message(ann, ChatId::private(cleo.id), NewMessage::new("hi", vec![], None).unwrap(), 4);
    let seqs: Vec<u64> =
        sent.await.unwrap().notify.into_iter().filter(|(u, _)| *u == cleo.id).map(|(_, s)| s).collect();
    assert_eq!(seqs, vec![store.current_cursor(cleo.id).await.unwrap()]);
    assert!(seqs[0] >= 1);

    drop(store);
    db.remove().await;
}
