//! Black-box tests of the client API: every route and every error, on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::{Backend, spawn, spawn_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    accounts_and_sessions,
    sessions_expire,
    bad_input_gets_clear_errors,
    private_chat_messaging,
    history_paging,
    others_chats_are_invisible,
    groups_and_members,
    websocket_live_and_resume,
    updates_endpoint_matches_websocket,
    openapi_health_metrics,
    auth_is_rate_limited,
    shutdown_closes_websockets,
    demo_data_is_seeded_once,
    page_links_serve_the_web_client,
);

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {body}"))
}

async fn accounts_and_sessions(b: Backend) {
    let s = spawn(b).await;
    let (token, id) = s.signup("alice").await;
    assert!(id >= 1_000_001);
    let (st, me) = s.get("/api/v1/me", &token).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(me["username"], "alice");
    assert_eq!(me["is_bot"], false);

    // Username uniqueness ignores case.
    let (st, body) = s
        .call(
            Method::POST,
            "/api/v1/auth/signup",
            None,
            Some(json!({"username":"ALICE","password":"pw-xxxx","display_name":"A"})),
        )
        .await;
    assert_eq!((st, code(&body)), (StatusCode::CONFLICT, "username_taken"));

    // Login: right and wrong passwords, unknown user.
    let (st, body) =
        s.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"username":"alice","password":"pw-alice"}))).await;
    assert_eq!(st, StatusCode::OK);
    let token2 = body["token"].as_str().unwrap().to_string();
    assert_ne!(token2, token);
    for (u, p) in [("alice", "wrong-pw"), ("nobody", "pw-nobody")] {
        let (st, body) =
            s.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"username":u,"password":p}))).await;
        assert_eq!((st, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    }

    // Profile changes; phone number only shown to oneself.
    let (st, me) = s
        .call(
            Method::PATCH,
            "/api/v1/me",
            Some(&token),
            Some(json!({"display_name":"Alice A.","language_code":"en","phone_number":"+1 555 123 4567"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{me}");
    assert_eq!(me["display_name"], "Alice A.");
    assert_eq!(me["phone_number"], "+15551234567");
    let (bob, _) = s.signup("bob").await;
    let (st, seen) = s.get("/api/v1/users/alice", &bob).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(seen["display_name"], "Alice A.");
    assert!(seen.get("phone_number").is_none());
    let (st, body) = s.call(Method::PATCH, "/api/v1/me", Some(&token), Some(json!({"phone_number":"12"}))).await;
    assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"));
    let (st, me) = s.call(Method::PATCH, "/api/v1/me", Some(&token), Some(json!({"language_code":null}))).await;
    assert_eq!(st, StatusCode::OK);
    assert!(me.get("language_code").is_none());

    // Logout revokes only that session.
    let (st, _) = s.call(Method::POST, "/api/v1/auth/logout", Some(&token), None).await;
    assert_eq!(st, StatusCode::OK);
    let (st, body) = s.get("/api/v1/me", &token).await;
    assert_eq!((st, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (st, _) = s.get("/api/v1/me", &token2).await;
    assert_eq!(st, StatusCode::OK);
    let (st, body) = s.get("/api/v1/users/nobody_here", &token2).await;
    assert_eq!((st, code(&body)), (StatusCode::NOT_FOUND, "user_not_found"));
}

async fn sessions_expire(b: Backend) {
    let s = spawn_with(b, |c| c.session_ttl = Duration::from_secs(3600)).await;
    let (token, _) = s.signup("alice").await;
    s.clock.advance(Duration::from_secs(3599));
    assert_eq!(s.get("/api/v1/me", &token).await.0, StatusCode::OK);
    s.clock.advance(Duration::from_secs(1));
    let (st, body) = s.get("/api/v1/me", &token).await;
    assert_eq!((st, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    assert!(body["error"]["message"].as_str().unwrap().contains("expired"));
}

async fn bad_input_gets_clear_errors(b: Backend) {
    let s = spawn(b).await;
    let (alice, _) = s.signup("alice").await;
    let (_, bob_id) = s.signup("bob").await;
    let (st, _) = s.post("/api/v1/chats/private", &alice, json!({"username":"bob"})).await;
    assert_eq!(st, StatusCode::OK);
    let url = |p: &str| format!("{}{p}", s.base);
    let msgs = format!("/api/v1/chats/{bob_id}/messages");

    // Malformed JSON, wrong content type, missing and mistyped fields, unknown fields.
    let r = s
        .http
        .post(url(&msgs))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body("{\"text\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "invalid_request");
    let r = s.http.post(url(&msgs)).bearer_auth(&alice).body("text=hi").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(code(&r.json::<Value>().await.unwrap()), "unsupported_media_type");
    for bad in
        [json!({}), json!({"text": 5}), json!({"text":"hi","reply_to_message_id":"x"}), json!({"text":"hi","bogus":1})]
    {
        let (st, body) = s.post(&msgs, &alice, bad.clone()).await;
        assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"), "{bad}");
    }
    // Text limits and entity bounds.
    let (st, body) = s.post(&msgs, &alice, json!({"text": "x".repeat(4097)})).await;
    assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"));
    assert!(body["error"]["message"].as_str().unwrap().contains("too long"));
    assert_eq!(s.post(&msgs, &alice, json!({"text": "x".repeat(4096)})).await.0, StatusCode::OK);
    let (st, _) = s.post(&msgs, &alice, json!({"text": "   "})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // PostgreSQL's text can't hold a NUL, so neither store takes one (it once answered 500 there).
    let (st, body) = s.post(&msgs, &alice, json!({"text": "a\u{0}b"})).await;
    assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"));
    assert!(body["error"]["message"].as_str().unwrap().contains("NUL"), "{body}");
    let (st, body) = s.post("/api/v1/chats/group", &alice, json!({"title": "a\u{0}b", "members": []})).await;
    assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"), "{body}");
    let (st, _) = s.post(&msgs, &alice, json!({"text":"hi","entities":[{"type":"bold","offset":1,"length":5}]})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = s.post(&msgs, &alice, json!({"text":"hi","entities":[{"type":"blink","offset":0,"length":1}]})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // Unknown ids.
    let (st, body) = s.post(&msgs, &alice, json!({"text":"hi","reply_to_message_id": 999})).await;
    assert_eq!((st, code(&body)), (StatusCode::NOT_FOUND, "message_not_found"));
    let (st, body) = s.post("/api/v1/chats/-424242/messages", &alice, json!({"text":"hi"})).await;
    assert_eq!((st, code(&body)), (StatusCode::NOT_FOUND, "chat_not_found"));
    for extreme in [i64::MIN, i64::MAX, -(1 << 53)] {
        let (st, body) = s.post(&format!("/api/v1/chats/{extreme}/messages"), &alice, json!({"text":"hi"})).await;
        assert_eq!((st, code(&body)), (StatusCode::NOT_FOUND, "chat_not_found"));
    }
    let (st, body) = s.post("/api/v1/chats/0/messages", &alice, json!({"text":"hi"})).await;
    assert_eq!((st, code(&body)), (StatusCode::NOT_FOUND, "chat_not_found"));
    let (st, body) = s.get("/api/v1/chats/abc/messages", &alice).await;
    assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"));
    let (st, body) = s.get(&format!("{msgs}?limit=1000"), &alice).await;
    assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"));
    let (st, body) = s.post("/api/v1/chats/private", &alice, json!({"username":"alice"})).await;
    assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "peer_is_self"));
    let (st, body) = s.post("/api/v1/chats/private", &alice, json!({"username":"ghost_user"})).await;
    assert_eq!((st, code(&body)), (StatusCode::NOT_FOUND, "user_not_found"));
    // Sign-up validation.
    for bad in [
        json!({"username":"a","password":"pw-long","display_name":"x"}),
        json!({"username":"carol","password":"pw","display_name":"x"}),
        json!({"username":"carol","password":"pw-long","display_name":""}),
        json!({"username":"carol","password":"pw-long"}),
    ] {
        let (st, body) = s.call(Method::POST, "/api/v1/auth/signup", None, Some(bad.clone())).await;
        assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"), "{bad}");
    }
    // No token, bad token, unknown route, wrong method: JSON errors too.
    let (st, body) = s.call(Method::GET, "/api/v1/chats", None, None).await;
    assert_eq!((st, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (st, body) = s.get("/api/v1/chats", "not-a-token").await;
    assert_eq!((st, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (st, body) = s.get("/api/v1/nope", &alice).await;
    assert_eq!((st, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (st, body) = s.call(Method::PUT, "/api/v1/chats", Some(&alice), None).await;
    assert_eq!((st, code(&body)), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
    // The server takes a send with a numeric chat id past the router (`plaza_http::App`); it is
    // refused as the routed handler refuses it, and a chat id that is no number still is.
    let (st, body) = s.call(Method::POST, &msgs, None, Some(json!({"text":"hi"}))).await;
    assert_eq!((st, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (st, body) = s.post(&msgs, &alice, json!({"txt":"hi"})).await;
    assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"));
    let (st, body) = s.post("/api/v1/chats/abc/messages", &alice, json!({"text":"hi"})).await;
    assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"));
    // An oversized body is refused before it is parsed.
    let (st, body) = s.post(&msgs, &alice, json!({"text": "x".repeat(plaza_http::MAX_BODY + 1000)})).await;
    assert_eq!((st, code(&body)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    // None of the refused writes left anything behind: only the one 4096-character message exists.
    let (_, history) = s.get(&msgs, &alice).await;
    assert_eq!(history.as_array().unwrap().len(), 1);
}

async fn private_chat_messaging(b: Backend) {
    let s = spawn(b).await;
    let (alice, alice_id) = s.signup("alice").await;
    let (bob, bob_id) = s.signup("bob").await;
    let (st, chat) = s.post("/api/v1/chats/private", &alice, json!({"username":"@bob"})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(chat["id"], bob_id);
    assert_eq!(chat["type"], "private");
    assert_eq!(chat["peer"]["username"], "bob");
    // Opening again returns the same chat; the other side names it by alice's id.
    let (_, again) = s.post("/api/v1/chats/private", &alice, json!({"username":"bob"})).await;
    assert_eq!(again["id"], bob_id);
    let (_, from_bob) = s.post("/api/v1/chats/private", &bob, json!({"username":"alice"})).await;
    assert_eq!(from_bob["id"], alice_id);

    let m1 = s.send(&alice, bob_id, "hello bob").await;
    let (st, m2) = s
        .post(
            &format!("/api/v1/chats/{alice_id}/messages"),
            &bob,
            json!({"text":"hi *alice*","entities":[{"type":"bold","offset":3,"length":7}],"reply_to_message_id":m1}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{m2}");
    assert_eq!((m1, m2["message_id"].as_i64().unwrap()), (1, 2));
    assert_eq!(m2["chat_id"], alice_id);
    assert_eq!(m2["from"]["username"], "bob");
    assert_eq!(m2["reply_to_message_id"], 1);
    assert_eq!(m2["entities"][0]["type"], "bold");

    // Chat list: last message and unread count.
    let (_, list) = s.get("/api/v1/chats", &alice).await;
    assert_eq!(list[0]["chat"]["id"], bob_id);
    assert_eq!(list[0]["last_message"]["text"], "hi *alice*");
    assert_eq!(list[0]["unread_count"], 1);
    let (st, chat) = s.post(&format!("/api/v1/chats/{bob_id}/read"), &alice, json!({"max_id": 2})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(chat["read_inbox_max_id"], 2);
    let (_, list) = s.get("/api/v1/chats", &alice).await;
    assert_eq!(list[0]["unread_count"], 0);
    let (_, chat) = s.get(&format!("/api/v1/chats/{alice_id}"), &bob).await;
    assert_eq!(chat["read_outbox_max_id"], 2);

    // Edit: only the author; unchanged text is refused.
    let path = format!("/api/v1/chats/{bob_id}/messages/1");
    let (st, body) = s
        .call(
            Method::PATCH,
            &format!("/api/v1/chats/{alice_id}/messages/1"),
            Some(&bob),
            Some(json!({"text":"hacked"})),
        )
        .await;
    assert_eq!((st, code(&body)), (StatusCode::FORBIDDEN, "not_author"));
    let (st, edited) = s.call(Method::PATCH, &path, Some(&alice), Some(json!({"text":"hello, bob"}))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(edited["text"], "hello, bob");
    assert!(edited["edit_date"].is_i64());
    let (st, body) = s.call(Method::PATCH, &path, Some(&alice), Some(json!({"text":"hello, bob"}))).await;
    assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "not_modified"));

    // Delete: either side of a private chat; gone from history for both.
    let (st, _) = s.call(Method::DELETE, &format!("/api/v1/chats/{alice_id}/messages/1"), Some(&bob), None).await;
    assert_eq!(st, StatusCode::OK);
    let (st, body) = s.call(Method::DELETE, &path, Some(&alice), None).await;
    assert_eq!((st, code(&body)), (StatusCode::NOT_FOUND, "message_not_found"));
    let (_, history) = s.get(&format!("/api/v1/chats/{bob_id}/messages"), &alice).await;
    let ids: Vec<i64> = history.as_array().unwrap().iter().map(|m| m["message_id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![2]);
    // Batch delete is all or nothing.
    s.send(&alice, bob_id, "three").await;
    let (st, _) =
        s.post(&format!("/api/v1/chats/{bob_id}/messages/delete"), &alice, json!({"message_ids":[3, 77]})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, history) = s.get(&format!("/api/v1/chats/{bob_id}/messages"), &alice).await;
    assert_eq!(history.as_array().unwrap().len(), 2);
    let (st, _) =
        s.post(&format!("/api/v1/chats/{bob_id}/messages/delete"), &alice, json!({"message_ids":[2, 3]})).await;
    assert_eq!(st, StatusCode::OK);
    let (_, history) = s.get(&format!("/api/v1/chats/{bob_id}/messages"), &alice).await;
    assert_eq!(history, json!([]));
    let (st, _) = s.post(&format!("/api/v1/chats/{bob_id}/messages/delete"), &alice, json!({"message_ids":[]})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

async fn history_paging(b: Backend) {
    let s = spawn(b).await;
    let (alice, _) = s.signup("alice").await;
    s.signup("bob").await;
    let (_, chat) = s.post("/api/v1/chats/private", &alice, json!({"username":"bob"})).await;
    let id = chat["id"].as_i64().unwrap();
    for i in 1..=25 {
        s.send(&alice, id, &format!("m{i}")).await;
    }
    let ids = |v: &Value| v.as_array().unwrap().iter().map(|m| m["message_id"].as_i64().unwrap()).collect::<Vec<_>>();
    let (_, newest) = s.get(&format!("/api/v1/chats/{id}/messages?limit=10"), &alice).await;
    assert_eq!(ids(&newest), (16..=25).collect::<Vec<_>>());
    let (_, older) = s.get(&format!("/api/v1/chats/{id}/messages?before=16&limit=10"), &alice).await;
    assert_eq!(ids(&older), (6..=15).collect::<Vec<_>>());
    let (_, oldest) = s.get(&format!("/api/v1/chats/{id}/messages?before=6&limit=10"), &alice).await;
    assert_eq!(ids(&oldest), (1..=5).collect::<Vec<_>>());
    let (_, after) = s.get(&format!("/api/v1/chats/{id}/messages?after=20"), &alice).await;
    assert_eq!(ids(&after), (21..=25).collect::<Vec<_>>());
    let (st, _) = s.get(&format!("/api/v1/chats/{id}/messages?after=1&before=3"), &alice).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

async fn others_chats_are_invisible(b: Backend) {
    let s = spawn(b).await;
    let (alice, alice_id) = s.signup("alice").await;
    let (_bob, bob_id) = s.signup("bob").await;
    let (carol, _) = s.signup("carol").await;
    s.post("/api/v1/chats/private", &alice, json!({"username":"bob"})).await;
    s.send(&alice, bob_id, "secret").await;
    let (_, group) = s.post("/api/v1/chats/group", &alice, json!({"title":"Inner circle","members":["bob"]})).await;
    let gid = group["id"].as_i64().unwrap();
    assert!(gid < 0);
    // Carol has no chat with alice or bob, and is not in the group: everything is "not found".
    for path in [
        format!("/api/v1/chats/{bob_id}/messages"),
        format!("/api/v1/chats/{alice_id}/messages"),
        format!("/api/v1/chats/{gid}/messages"),
        format!("/api/v1/chats/{gid}"),
        format!("/api/v1/chats/{gid}/members"),
    ] {
        let (st, body) = s.get(&path, &carol).await;
        assert_eq!((st, code(&body)), (StatusCode::NOT_FOUND, "chat_not_found"), "{path}");
    }
    let (st, _) = s.post(&format!("/api/v1/chats/{gid}/messages"), &carol, json!({"text":"let me in"})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s.post(&format!("/api/v1/chats/{gid}/members"), &carol, json!({"members":["carol"]})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s.call(Method::DELETE, &format!("/api/v1/chats/{gid}/messages/1"), Some(&carol), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, list) = s.get("/api/v1/chats", &carol).await;
    assert_eq!(list, json!([]));
    // Nothing carol tried changed alice's view.
    let (_, history) = s.get(&format!("/api/v1/chats/{gid}/messages"), &alice).await;
    assert_eq!(history, json!([]));
}

async fn groups_and_members(b: Backend) {
    let s = spawn(b).await;
    let (alice, alice_id) = s.signup("alice").await;
    let (bob, bob_id) = s.signup("bob").await;
    let (carol, carol_id) = s.signup("carol").await;
    let (dave, dave_id) = s.signup("dave").await;
    let (st, g) = s.post("/api/v1/chats/group", &alice, json!({"title":"Team","members":["bob", bob_id]})).await;
    assert_eq!(st, StatusCode::OK, "{g}");
    let gid = g["id"].as_i64().unwrap();
    assert_eq!(
        (g["type"].as_str(), g["member_count"].as_i64(), g["my_role"].as_str()),
        (Some("group"), Some(2), Some("creator"))
    );
    let (st, body) = s.post("/api/v1/chats/group", &alice, json!({"title":"","members":[]})).await;
    assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"));
    let (st, body) = s.post("/api/v1/chats/group", &alice, json!({"title":"X","members":[123]})).await;
    assert_eq!((st, code(&body)), (StatusCode::NOT_FOUND, "user_not_found"));

    // Members can't add; admins can; duplicates are refused.
    let members = format!("/api/v1/chats/{gid}/members");
    let (st, body) = s.post(&members, &bob, json!({"members":["carol"]})).await;
    assert_eq!((st, code(&body)), (StatusCode::FORBIDDEN, "not_admin"));
    let (st, body) = s
        .call(Method::PUT, &format!("{members}/{bob_id}/role"), Some(&bob), Some(json!({"role":"administrator"})))
        .await;
    assert_eq!((st, code(&body)), (StatusCode::FORBIDDEN, "not_creator"));
    let (st, _) = s
        .call(Method::PUT, &format!("{members}/{bob_id}/role"), Some(&alice), Some(json!({"role":"administrator"})))
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, body) =
        s.call(Method::PUT, &format!("{members}/{bob_id}/role"), Some(&alice), Some(json!({"role":"overlord"}))).await;
    assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "invalid_request"));
    let (st, g) = s.post(&members, &bob, json!({"members":["carol", dave_id]})).await;
    assert_eq!(st, StatusCode::OK, "{g}");
    assert_eq!(g["member_count"], 4);
    let (st, body) = s.post(&members, &bob, json!({"members":["carol"]})).await;
    assert_eq!((st, code(&body)), (StatusCode::CONFLICT, "already_member"));
    let (_, list) = s.get(&members, &dave).await;
    let roles: Vec<(i64, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user"]["id"].as_i64().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert!(
        roles.contains(&(alice_id, "creator"))
            && roles.contains(&(bob_id, "administrator"))
            && roles.contains(&(carol_id, "member"))
    );

    // Title: admins only.
    let (st, _) =
        s.call(Method::PATCH, &format!("/api/v1/chats/{gid}"), Some(&carol), Some(json!({"title":"Mine"}))).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, g) =
        s.call(Method::PATCH, &format!("/api/v1/chats/{gid}"), Some(&bob), Some(json!({"title":"Team 2"}))).await;
    assert_eq!((st, g["title"].as_str()), (StatusCode::OK, Some("Team 2")));

    // Group messages: ids per chat; non-admin can't delete others' messages, an admin can.
    let m = s.send(&carol, gid, "hi team").await;
    assert_eq!(m, 1);
    let (st, body) = s.call(Method::DELETE, &format!("/api/v1/chats/{gid}/messages/1"), Some(&dave), None).await;
    assert_eq!((st, code(&body)), (StatusCode::FORBIDDEN, "cannot_delete"));
    let (st, _) = s.call(Method::DELETE, &format!("/api/v1/chats/{gid}/messages/1"), Some(&bob), None).await;
    assert_eq!(st, StatusCode::OK);

    // Removal: admins remove members, not the creator; a removed member loses access.
    let (st, body) = s.call(Method::DELETE, &format!("{members}/{alice_id}"), Some(&bob), None).await;
    assert_eq!((st, code(&body)), (StatusCode::FORBIDDEN, "creator_is_fixed"));
    let (st, _) = s.call(Method::DELETE, &format!("{members}/{dave_id}"), Some(&bob), None).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = s.get(&format!("/api/v1/chats/{gid}/messages"), &dave).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, body) = s.call(Method::DELETE, &format!("{members}/{dave_id}"), Some(&bob), None).await;
    assert_eq!((st, code(&body)), (StatusCode::NOT_FOUND, "user_not_found"));
    // Leaving: the creator leaves and the admin takes over.
    let (st, _) = s.call(Method::DELETE, &format!("{members}/{alice_id}"), Some(&alice), None).await;
    assert_eq!(st, StatusCode::OK);
    let (_, g) = s.get(&format!("/api/v1/chats/{gid}"), &bob).await;
    assert_eq!((g["my_role"].as_str(), g["member_count"].as_i64()), (Some("creator"), Some(2)));
    let (st, _) = s.get(&format!("/api/v1/chats/{gid}"), &alice).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Group operations on a private chat are refused.
    s.post("/api/v1/chats/private", &carol, json!({"username":"bob"})).await;
    let (st, body) = s.post(&format!("/api/v1/chats/{bob_id}/members"), &carol, json!({"members":["dave"]})).await;
    assert_eq!((st, code(&body)), (StatusCode::BAD_REQUEST, "not_a_group"));
}

async fn websocket_live_and_resume(b: Backend) {
    let s = spawn(b).await;
    let (alice, alice_id) = s.signup("alice").await;
    let (bob, bob_id) = s.signup("bob").await;
    let mut ws = s.ws(&bob, None).await;
    let hello = ws.next().await;
    assert_eq!(hello["type"], "hello");
    let start = hello["cursor"].as_u64().unwrap();

    // Live: the chat appears, then each message in order.
    s.post("/api/v1/chats/private", &alice, json!({"username":"bob"})).await;
    let f = ws.next().await;
    assert_eq!((f["type"].as_str(), f["chat"]["id"].as_i64()), (Some("chat_updated"), Some(alice_id)));
    let mut cursor = f["cursor"].as_u64().unwrap();
    assert_eq!(cursor, start + 1);
    for i in 1..=3 {
        s.send(&alice, bob_id, &format!("live {i}")).await;
        let f = ws.next().await;
        assert_eq!(f["type"], "message_new");
        assert_eq!(f["message"]["text"], format!("live {i}"));
        assert_eq!(f["message"]["chat_id"], alice_id);
        assert_eq!(f["cursor"].as_u64().unwrap(), cursor + 1);
        cursor += 1;
    }
    drop(ws);

    // Offline: messages, an edit, a delete, a read mark.
    s.send(&alice, bob_id, "missed 4").await;
    s.send(&alice, bob_id, "missed 5").await;
    s.call(
        Method::PATCH,
        &format!("/api/v1/chats/{bob_id}/messages/4"),
        Some(&alice),
        Some(json!({"text":"missed 4 (edited)"})),
    )
    .await;
    s.call(Method::DELETE, &format!("/api/v1/chats/{bob_id}/messages/5"), Some(&alice), None).await;
    s.post(&format!("/api/v1/chats/{alice_id}/read"), &bob, json!({"max_id": 4})).await;

    // Resume: exactly what was missed, in order, nothing twice.
    let mut ws = s.ws(&bob, Some(cursor)).await;
    assert_eq!(ws.next().await["cursor"].as_u64(), Some(cursor));
    let mut got = Vec::new();
    for _ in 0..4 {
        let f = ws.next().await;
        assert!(f["cursor"].as_u64().unwrap() > cursor);
        cursor = f["cursor"].as_u64().unwrap();
        got.push((
            f["type"].as_str().unwrap().to_string(),
            f["message"]["text"].as_str().or(f["message_id"].as_i64().map(|_| "")).map(str::to_string),
        ));
    }
    // Message 5 was deleted before the replay, so its message_new is skipped; its deletion arrives.
    assert_eq!(
        got,
        vec![
            ("message_new".to_string(), Some("missed 4 (edited)".to_string())),
            ("message_edited".to_string(), Some("missed 4 (edited)".to_string())),
            ("message_deleted".to_string(), Some(String::new())),
            ("read_inbox".to_string(), None),
        ]
    );
    // And live again after the replay.
    s.send(&alice, bob_id, "after resume").await;
    let f = ws.next().await;
    assert_eq!((f["type"].as_str(), f["message"]["text"].as_str()), (Some("message_new"), Some("after resume")));
    assert_eq!(f["cursor"].as_u64(), Some(cursor + 1));
    // Alice learns that bob read up to 4.
    let (_, page) = s.get("/api/v1/updates?cursor=0&limit=1000", &alice).await;
    assert!(page["updates"].as_array().unwrap().iter().any(|u| u["type"] == "read_outbox" && u["max_id"] == 4));

    // The chat list says which cursor it is at: a stream opened there starts with what came after.
    let list = s.http.get(format!("{}/api/v1/chats", s.base)).bearer_auth(&bob).send().await.unwrap();
    let at: u64 = list.headers()["plaza-cursor"].to_str().unwrap().parse().unwrap();
    let items: Value = list.json().await.unwrap();
    assert_eq!(items[0]["last_message"]["text"], "after resume");
    s.send(&alice, bob_id, "after the list").await;
    let mut from_list = s.ws(&bob, Some(at)).await;
    assert_eq!(from_list.next().await["type"], "hello");
    let f = from_list.next().await;
    assert_eq!((f["type"].as_str(), f["message"]["text"].as_str()), (Some("message_new"), Some("after the list")));

    // A cursor from the future is refused before the upgrade; so is a missing token.
    let r = s.http.get(format!("{}/api/v1/ws?token={bob}&cursor=999999", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s.http.get(format!("{}/api/v1/ws", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn updates_endpoint_matches_websocket(b: Backend) {
    let s = spawn(b).await;
    let (alice, _) = s.signup("alice").await;
    let (bob, _) = s.signup("bob").await;
    // A stream open while things happen gets live messages straight from the wake-up; they must
    // be the very frames a replay from the store produces.
    let mut live = s.ws(&bob, None).await;
    live.next().await;
    let (_, g) = s.post("/api/v1/chats/group", &alice, json!({"title":"G","members":["bob"]})).await;
    let gid = g["id"].as_i64().unwrap();
    for i in 0..5 {
        s.send(&alice, gid, &format!("g{i}")).await;
    }
    let (st, page) = s.get("/api/v1/updates?cursor=0&limit=3", &bob).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(page["updates"].as_array().unwrap().len(), 3);
    let next = page["next_cursor"].as_u64().unwrap();
    let (_, rest) = s.get(&format!("/api/v1/updates?cursor={next}"), &bob).await;
    let all: Vec<Value> =
        page["updates"].as_array().unwrap().iter().chain(rest["updates"].as_array().unwrap()).cloned().collect();
    assert_eq!(all.len(), 6);
    let mut ws = s.ws(&bob, Some(0)).await;
    ws.next().await;
    for expected in &all {
        assert_eq!(&ws.next().await, expected);
        let seen_live = live.next().await;
        if expected["type"] == "chat_updated" {
            // A chat is always sent as it is now, so the replay shows the later last_message_id.
            assert_eq!((&seen_live["type"], &seen_live["cursor"]), (&expected["type"], &expected["cursor"]));
        } else {
            assert_eq!(&seen_live, expected);
        }
    }
    let (st, _) = s.get("/api/v1/updates?cursor=0&limit=0", &bob).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

async fn openapi_health_metrics(b: Backend) {
    let s = spawn(b).await;
    let (token, _) = s.signup("alice").await;
    let (st, doc) = s.call(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/auth/signup",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/chats",
        "/api/v1/chats/private",
        "/api/v1/chats/group",
        "/api/v1/chats/{chat_id}",
        "/api/v1/chats/{chat_id}/members",
        "/api/v1/chats/{chat_id}/members/{user_id}",
        "/api/v1/chats/{chat_id}/members/{user_id}/role",
        "/api/v1/chats/{chat_id}/messages",
        "/api/v1/chats/{chat_id}/messages/{message_id}",
        "/api/v1/chats/{chat_id}/messages/delete",
        "/api/v1/chats/{chat_id}/read",
        "/api/v1/updates",
        "/api/v1/ws",
    ] {
        assert!(paths.contains_key(p), "openapi lacks {p}");
    }
    assert!(doc["components"]["schemas"]["MessageOut"].is_object());
    let (st, health) = s.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((st, health["status"].as_str()), (StatusCode::OK, Some("ok")));
    // Three answers of one route and status count in one series (the first creates it, the
    // others find it), and so does their time.
    for _ in 0..3 {
        s.get("/api/v1/me", &token).await;
    }
    let r = s.http.get(format!("{}/metrics", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(text.contains("plaza_http_requests_total{method=\"GET\",route=\"/api/v1/me\",status=\"200\"} 3"), "{text}");
    assert!(
        text.contains("plaza_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/me\"} 3"),
        "{text}"
    );
    assert!(text.contains("# TYPE plaza_websocket_connections gauge"));
    // The store reports its group commits: every write on SQLite, the batches of messages on
    // PostgreSQL, where a message is the first.
    let commits = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("plaza_store_commits_total "))
            .and_then(|v| v.parse::<u64>().ok())
            .expect("plaza_store_commits_total")
    };
    assert_eq!(commits(&text) > 0, b == Backend::Sqlite, "{text}");
    let (_, bob) = s.signup("bob").await;
    let (st, _) = s.post("/api/v1/chats/private", &token, json!({"username": "bob"})).await;
    assert_eq!(st, StatusCode::OK);
    s.send(&token, bob, "counted").await;
    let text = s.http.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(commits(&text) > 0, "{text}");
    // Sent past the router, the message is still counted under its route's pattern.
    let sends = r#"plaza_http_requests_total{method="POST",route="/api/v1/chats/{chat_id}/messages",status="200"} 1"#;
    assert!(text.contains(sends), "{text}");
}

async fn auth_is_rate_limited(b: Backend) {
    let s = spawn_with(b, |c| {
        c.auth_attempts_per_minute = 1;
        c.auth_attempts_burst = 3;
    })
    .await;
    s.signup("alice").await;
    for _ in 0..2 {
        let (st, _) = s
            .call(Method::POST, "/api/v1/auth/login", None, Some(json!({"username":"alice","password":"guess"})))
            .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
    }
    let r = s
        .http
        .post(format!("{}/api/v1/auth/login", s.base))
        .json(&json!({"username":"alice","password":"pw-alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    let body: Value = r.json().await.unwrap();
    assert_eq!((code(&body), body["error"]["retry_after"].as_u64()), ("too_many_requests", Some(retry)));
}

async fn shutdown_closes_websockets(b: Backend) {
    let mut s = spawn(b).await;
    let (bob, _) = s.signup("bob").await;
    let mut ws = s.ws(&bob, None).await;
    ws.next().await;
    s.stop().await;
    match ws.next_raw().await {
        Some(tokio_tungstenite::tungstenite::Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

async fn demo_data_is_seeded_once(b: Backend) {
    let s = spawn_with(b, |c| c.demo = true).await;
    let (st, body) =
        s.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"username":"demo","password":"demo"}))).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap();
    let (st, bot) = s.get("/api/v1/users/plaza_demo_bot", token).await;
    assert_eq!((st, bot["is_bot"].as_bool()), (StatusCode::OK, Some(true)));
    // The group, and the chat with the bot that demo has started (its answers: tests/demo_bot.rs).
    let (_, chats) = s.get("/api/v1/chats", token).await;
    let chats = chats.as_array().unwrap();
    assert_eq!(chats.len(), 2);
    let group = chats.iter().find(|c| c["chat"]["title"] == "Plaza demo").expect("the demo group");
    assert_eq!(group["chat"]["member_count"], 3);
    assert!(group["last_message"]["text"].as_str().unwrap().starts_with("Welcome"));
    assert!(chats.iter().any(|c| c["chat"]["id"] == bot["id"]), "{chats:?}");
    // Seeding again (a restart with --demo) adds nothing.
    let store = plaza_server::open_store(&s.store_config()).await.unwrap();
    let config = plaza_server::Config::for_tests(s.store_config());
    let apps_url = plaza_server::config::apps_url(None, 8080).unwrap();
    let service = plaza_server::service(store, std::sync::Arc::new(plaza_service::SystemClock), &config, apps_url);
    plaza_server::demo::seed(&service).await.unwrap();
    let (_, chats) = s.get("/api/v1/chats", token).await;
    assert_eq!(chats.as_array().unwrap().len(), 2);
    assert_eq!(service.list_people().await.unwrap().len(), 3);
    assert_eq!(service.list_bots().await.unwrap().len(), 1);
}

/// Links a person opens in a browser tab get the web client's page, which opens what they name:
/// a chat, a mini app, an invoice (`createInvoiceLink`'s `$<slug>` on Plaza's own origin).
/// Anything else stays a 404, and two-segment paths stay the Bot API's unless a browser asks.
async fn page_links_serve_the_web_client(b: Backend) {
    let s = spawn(b).await;
    let page = |path: &'static str, html: bool| {
        let mut req = s.http.get(format!("{}{path}", s.base));
        if html {
            req = req.header("accept", "text/html,application/xhtml+xml,*/*;q=0.8");
        }
        async move {
            let r = req.send().await.unwrap();
            let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
            (r.status(), ct.starts_with("text/html"))
        }
    };
    for path in [
        "/",
        "/alice",
        "/shop_bot?start=promo",
        "/$AbC-12_x",
        "/%24AbC-12_x",
        "/$Xk4l3E8Z4Y2rB0vqT7o9gC5mW1nJ6hFd",
        "/shop_bot/store?startapp=x",
        "/invoice/AbC-12_x",
    ] {
        assert_eq!(page(path, true).await, (StatusCode::OK, true), "{path}");
    }
    for path in ["/$", "/$a.b", "/a", "/alice/x", "/invoice/a.b", "/nosuch/path/here"] {
        assert_eq!(page(path, true).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    // Without a browser's Accept, `/<x>/<y>` is the Bot API's, which answers in its own format.
    let r = s.http.get(format!("{}/invoice/AbC-12_x", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let long = format!("/${}", "a".repeat(65));
    let r = s.http.get(format!("{}{long}", s.base)).header("accept", "text/html").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "a slug over 64 characters");
}
