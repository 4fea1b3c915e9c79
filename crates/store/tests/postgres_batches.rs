//! PostgreSQL sends messages in batches, one statement each (`plaza_append_messages`, migration
//! 0013). When the database rejects a message (here a trigger, standing in for any error a
//! statement can raise), the whole statement rolls back; the store must then answer that message
//! with the error and still deliver every other message of the batch, numbered and logged as if
//! nothing had happened.

use std::collections::BTreeMap;
use std::sync::Arc;

use plaza_core::bot::BotText;
use plaza_core::{ChatId, Denied, DisplayName, NewMessage, UserId, Username};
use plaza_store::postgres::PgStore;
use plaza_store::{EventBody, NewAccount, Store, StoreError};

mod common;
use common::{TestDatabase, pg_client};

async fn person(store: &PgStore, name: &str) -> UserId {
    let account = NewAccount {
        username: Username::parse(name).unwrap(),
        display_name: DisplayName::parse(name).unwrap(),
        password_hash: Some("x".into()),
        language_code: None,
        phone_number: None,
        bot: None,
        now: 1,
    };
    store.create_account(account).await.unwrap().id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_database_rejects_fails_alone() {
    let db = TestDatabase::create().await;
    let store = Arc::new(PgStore::connect(&db.url).await.unwrap());

    let ann = person(&store, "ann").await;
    let peers = [person(&store, "ben").await, person(&store, "cleo").await, person(&store, "dora").await];
    for peer in peers {
        store.open_private_chat(ann, peer, 1).await.unwrap();
    }
    pg_client(&db.url)
        .await
        .batch_execute(
            "CREATE FUNCTION poisoned() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'poisoned message'; END; $$;
             CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW
                 WHEN (NEW.text LIKE 'poison%') EXECUTE FUNCTION poisoned();",
        )
        .await
        .unwrap();

    // All in flight at once, so most of them share statements with a poisoned one.
    let tasks: Vec<_> = (0..90)
        .map(|i| {
            let store = store.clone();
            let peer = peers[i % peers.len()];
            let text = if i % 10 == 7 { format!("poison {i}") } else { format!("message {i}") };
            tokio::spawn(async move {
                let sent =
                    store.append_message(ann, ChatId::private(peer), NewMessage::new(&text, vec![], None).unwrap(), 2);
                (peer, text, sent.await)
            })
        })
        .collect();
    let mut delivered: BTreeMap<UserId, Vec<(i64, String, u64)>> = BTreeMap::new();
    for task in tasks {
        let (peer, text, sent) = task.await.unwrap();
        match sent {
            Ok(w) if !text.starts_with("poison") => {
                let seq = w.notify.iter().find(|(u, _)| *u == peer).expect("the peer is notified").1;
                delivered.entry(peer).or_default().push((w.value.id.0, text, seq));
            }
            Err(StoreError::Backend(e)) if text.starts_with("poison") => assert!(e.contains("poisoned"), "{e}"),
            other => panic!("{text}: unexpected {other:?}"),
        }
    }
    let stats = store.stats();
    assert!(stats.failed_batches >= 9, "each poisoned message failed at least once: {stats:?}");
    assert_eq!(delivered.values().map(Vec::len).sum::<usize>(), 81);

    for (peer, mut sent) in delivered {
        sent.sort();
        // Ids and the peer's seqs without gaps: nothing of a rolled-back statement is left behind.
        let n = sent.len() as i64;
        assert_eq!(sent.iter().map(|s| s.0).collect::<Vec<_>>(), (1..=n).collect::<Vec<_>>());
        let first = store.current_cursor(peer).await.unwrap() - n as u64 + 1;
        assert_eq!(sent.iter().map(|s| s.2).collect::<Vec<_>>(), (first..first + n as u64).collect::<Vec<_>>());
        let log = store.events_after(peer, first - 1, 100).await.unwrap().events;
        let logged: Vec<(i64, String, u64)> = log
            .iter()
            .map(|e| match &e.body {
                EventBody::MessageNew { message, .. } => (message.id.0, message.text.as_str().to_owned(), e.seq),
                other => panic!("expected a new message, got {other:?}"),
            })
            .collect();
        assert_eq!(logged, sent);
    }

    drop(store);
    db.remove().await;
}

/// PostgreSQL's `text` can't hold a NUL. The request edges refuse one; should one get past them,
/// the store answers with a refusal the edges turn into 400, not a database failure (500).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_character_is_refused_not_a_failure() {
    let db = TestDatabase::create().await;
    let store = PgStore::connect(&db.url).await.unwrap();
    let ann = person(&store, "ann").await;
    let refused = store.set_bot_text(ann, BotText::Description, &None, Some("a\0b".into())).await;
    assert!(matches!(refused, Err(StoreError::Denied(Denied::NulCharacter))), "{refused:?}");
    // The same text without the NUL is stored.
    store.set_bot_text(ann, BotText::Description, &None, Some("ab".into())).await.unwrap();
    drop(store);
    db.remove().await;
}
