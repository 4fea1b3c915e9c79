//! Black-box tests of the Bot API: transport, envelope and errors, the update stream, messages,
//! keyboards and button presses, settings, webhooks and files, on SQLite and PostgreSQL. The real
//! bot libraries drive the same surface in `real_clients.rs`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use common::{Backend, TestServer, spawn, spawn_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc;

on_both_backends!(
    transport_and_envelope,
    updates_long_poll_and_offsets,
    messages_keyboards_and_errors,
    button_presses,
    commands_menu_and_profile,
    webhooks_deliver_in_order_and_run_replies,
    photos_and_documents,
    forwards_copies_and_chat_actions,
    blocking_bans_and_pins,
    flood_limits,
    polls_and_reactions,
    production_webhooks_need_https,
    random_input_never_breaks_the_envelope,
);

/// A person and a bot that the person has started.
struct Pair {
    user_token: String,
    user_id: i64,
    bot_token: String,
    bot_id: i64,
}

async fn pair(s: &TestServer, user: &str, bot: &str) -> Pair {
    let (user_token, user_id) = s.signup(user).await;
    let (bot_token, bot_id) = s.create_bot(bot, user).await;
    Pair { user_token, user_id, bot_token, bot_id }
}

/// Calls a Bot API method with a JSON body; returns the HTTP status and the envelope.
async fn bot(s: &TestServer, token: &str, method: &str, params: Value) -> (StatusCode, Value) {
    let resp = s.http.post(format!("{}/bot{token}/{method}", s.base)).json(&params).send().await.expect("request");
    envelope(resp).await
}

async fn envelope(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    assert_eq!(
        resp.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "Bot API answers are JSON"
    );
    let body: Value = resp.json().await.expect("JSON body");
    if body["ok"] == json!(false) {
        assert_eq!(body["error_code"].as_u64(), Some(u64::from(status.as_u16())), "status equals error_code: {body}");
    }
    (status, body)
}

/// The result of a call that must succeed.
async fn ok(s: &TestServer, token: &str, method: &str, params: Value) -> Value {
    let (status, body) = bot(s, token, method, params).await;
    assert_eq!(status, StatusCode::OK, "{method}: {body}");
    assert_eq!(body["ok"], json!(true));
    body["result"].clone()
}

/// The description of a call that must fail with `code`.
async fn err(s: &TestServer, token: &str, method: &str, params: Value, code: u16) -> String {
    let (status, body) = bot(s, token, method, params).await;
    assert_eq!(status.as_u16(), code, "{method}: {body}");
    assert_eq!(body["ok"], json!(false));
    body["description"].as_str().unwrap().to_string()
}

async fn start(s: &TestServer, p: &Pair, bot_username: &str) {
    let (status, body) =
        s.post(&format!("/api/v1/bots/{bot_username}/start"), &p.user_token, json!({"payload": "ref42"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"]["text"], "/start ref42");
}

async fn transport_and_envelope(b: Backend) {
    let s = spawn(b).await;
    let p = pair(&s, "tina", "transport_bot").await;
    let t = &p.bot_token;
    let url = |m: &str| format!("{}/bot{t}/{m}", s.base);

    // GET with no parameters, any case of the method name, and the test environment's path.
    let me = envelope(s.http.get(url("getMe")).send().await.unwrap()).await.1;
    assert_eq!(me["result"]["id"], json!(p.bot_id));
    assert_eq!(me["result"]["is_bot"], json!(true));
    assert_eq!(me["result"]["username"], "transport_bot");
    assert_eq!(envelope(s.http.get(url("GETME")).send().await.unwrap()).await.1["ok"], json!(true));
    let test_env = s.http.get(format!("{}/bot{t}/test/getMe", s.base)).send().await.unwrap();
    assert_eq!(envelope(test_env).await.1["result"]["id"], json!(p.bot_id));
    // A percent-encoded token and method name read as their decoded text.
    let encoded = format!("{}/bot{}/get%4De", s.base, t.replace(':', "%3A"));
    assert_eq!(envelope(s.http.get(encoded).send().await.unwrap()).await.1["result"]["id"], json!(p.bot_id));
    // Paths of other shapes are not calls.
    for path in [format!("/bot{t}/"), format!("/bot{t}/getMe/more"), format!("/bot{t}/prod/getMe")] {
        let r = s.http.get(format!("{}{path}", s.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }

    // Unknown and malformed tokens, unknown methods.
    let (status, body) = envelope(s.http.get(format!("{}/bot1:nope/getMe", s.base)).send().await.unwrap()).await;
    assert_eq!((status.as_u16(), body["description"].as_str()), (401, Some("Unauthorized")));
    let (status, body) = envelope(s.http.get(format!("{}/botnotatoken/getMe", s.base)).send().await.unwrap()).await;
    assert_eq!((status.as_u16(), body["description"].as_str()), (401, Some("Unauthorized: invalid token specified")));
    assert_eq!(err(&s, t, "fly", json!({}), 404).await, "Not Found: method not found");

    start(&s, &p, "transport_bot").await;
    let chat = p.user_id.to_string();
    // The same call in every encoding: query string, urlencoded, JSON, multipart; nested objects as
    // JSON text and as raw JSON.
    let markup = r#"{"inline_keyboard":[[{"text":"A","callback_data":"a"}]]}"#;
    let r = s.http.post(url("sendMessage")).query(&[("chat_id", chat.as_str()), ("text", "q")]).send().await.unwrap();
    assert_eq!(envelope(r).await.1["result"]["text"], "q");
    let r =
        s.http.post(url("sendMessage")).form(&[("chat_id", chat.as_str()), ("text", "f"), ("reply_markup", markup)]);
    let m = envelope(r.send().await.unwrap()).await.1;
    assert_eq!(m["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"], "a");
    let m = ok(&s, t, "sendMessage", json!({"chat_id": p.user_id, "text": "j", "reply_markup": {"inline_keyboard": [[{"text": "B", "callback_data": "b"}]]}})).await;
    assert_eq!(m["reply_markup"]["inline_keyboard"][0][0]["text"], "B");
    let m = ok(&s, t, "sendMessage", json!({"chat_id": chat, "text": "s", "reply_markup": markup})).await;
    assert_eq!(m["reply_markup"]["inline_keyboard"][0][0]["text"], "A");
    let form = reqwest::multipart::Form::new().text("chat_id", chat.clone()).text("text", "m");
    let r = s.http.post(url("sendMessage")).multipart(form).send().await.unwrap();
    assert_eq!(envelope(r).await.1["result"]["text"], "m");
    // Booleans as Telegram reads them.
    let r = s.http.post(url("sendMessage")).form(&[
        ("chat_id", chat.as_str()),
        ("text", "b"),
        ("disable_notification", "YES"),
    ]);
    assert_eq!(envelope(r.send().await.unwrap()).await.0, StatusCode::OK);

    // Bad input: each Telegram's error, never a 500.
    assert_eq!(err(&s, t, "sendMessage", json!({"text": "x"}), 400).await, "Bad Request: chat_id is empty");
    assert_eq!(
        err(&s, t, "sendMessage", json!({"chat_id": p.user_id}), 400).await,
        "Bad Request: message text is empty"
    );
    assert_eq!(
        err(&s, t, "sendMessage", json!({"chat_id": 42, "text": "x"}), 400).await,
        "Bad Request: chat not found"
    );
    assert_eq!(
        err(&s, t, "sendMessage", json!({"chat_id": "@nobody", "text": "x"}), 400).await,
        "Bad Request: chat not found"
    );
    assert_eq!(
        err(&s, t, "sendMessage", json!({"chat_id": p.user_id, "text": "x", "reply_markup": "{oops"}), 400).await,
        "Bad Request: can't parse reply keyboard markup JSON object"
    );
    let long = "x".repeat(4097);
    assert!(
        err(&s, t, "sendMessage", json!({"chat_id": p.user_id, "text": long}), 400)
            .await
            .starts_with("Bad Request: message is too long")
    );
    assert_eq!(
        err(&s, t, "sendMessage", json!({"chat_id": p.user_id, "text": "a\u{0}b"}), 400).await,
        "Bad Request: parameter \"text\" must not contain a NUL character"
    );
    // Nor anywhere else: PostgreSQL once answered these with 500.
    let nul_button = json!({"inline_keyboard": [[{"text": "a\u{0}", "callback_data": "x"}]]});
    assert_eq!(
        err(&s, t, "sendMessage", json!({"chat_id": p.user_id, "text": "x", "reply_markup": nul_button}), 400).await,
        "Bad Request: parameter \"reply_markup\" must not contain a NUL character"
    );
    assert_eq!(
        err(&s, t, "setMyDescription", json!({"description": "a\u{0}b"}), 400).await,
        "Bad Request: parameter \"description\" must not contain a NUL character"
    );
    let d65 = "d".repeat(65);
    assert_eq!(
        err(&s, t, "sendMessage", json!({"chat_id": p.user_id, "text": "x", "reply_markup": {"inline_keyboard": [[{"text": "x", "callback_data": d65}]]}}), 400).await,
        "Bad Request: BUTTON_DATA_INVALID"
    );
    assert_eq!(
        err(&s, t, "sendMessage", json!({"chat_id": p.user_id, "text": "<b>x", "parse_mode": "HTML"}), 400).await,
        "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\""
    );
    assert_eq!(
        err(&s, t, "sendMessage", json!({"chat_id": "12x", "text": "x"}), 400).await,
        "Bad Request: chat not found"
    );
    assert_eq!(
        err(&s, t, "getUpdates", json!({"limit": "lots"}), 400).await,
        "Bad Request: field \"limit\" must be a valid Number"
    );
    let garbage = s
        .http
        .post(url("sendMessage"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(garbage).await.0, StatusCode::BAD_REQUEST);
    // A body of gzip is accepted when it says so is left to the libraries; logOut and close answer true.
    // Compressed bodies are accepted, as Telegram's server accepts them.
    let compressed = |content_type: &'static str, encoding: &'static str, body: Vec<u8>| {
        let request = s.http.post(url("sendMessage")).header("content-type", content_type);
        request.header("content-encoding", encoding).body(body).send()
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, json!({"chat_id": p.user_id, "text": "zipped"}).to_string().as_bytes()).unwrap();
    let r = compressed("application/json", "gzip", gz.finish().unwrap()).await.unwrap();
    assert_eq!(envelope(r).await.1["result"]["text"], "zipped");
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, format!("chat_id={}&text=deflated", p.user_id).as_bytes()).unwrap();
    let r = compressed("application/x-www-form-urlencoded", "deflate", z.finish().unwrap()).await.unwrap();
    assert_eq!(envelope(r).await.1["result"]["text"], "deflated");
    for (encoding, body, description) in [
        ("br", &b"\x0b\x02\x80{}\x03"[..], "Bad Request: unsupported Content-Encoding \"br\""),
        ("gzip", &b"not gzip at all"[..], "Bad Request: can't decompress the gzip request body"),
    ] {
        let r = compressed("application/json", encoding, body.to_vec()).await.unwrap();
        let (status, body) = envelope(r).await;
        assert_eq!((status.as_u16(), body["description"].as_str()), (400, Some(description)), "{encoding}");
    }
    // Calls are counted under their route's pattern, never under a path that holds the token.
    let metrics = s.http.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"route="/{token}/{method}",status="200""#), "{metrics}");
    assert!(metrics.contains(r#"route="/{token}/test/{method}",status="200""#), "{metrics}");
    assert!(!metrics.contains(t.as_str()), "{metrics}");
    assert_eq!(ok(&s, t, "logOut", json!({})).await, json!(true));
}

async fn updates_long_poll_and_offsets(b: Backend) {
    let s = Arc::new(spawn(b).await);
    let p = pair(&s, "uma", "updates_bot").await;
    let t = p.bot_token.clone();
    // Nothing pending: a short poll answers at once with [].
    assert_eq!(ok(&s, &t, "getUpdates", json!({})).await, json!([]));

    // A long poll is woken by the message, not by its timeout.
    let poll = {
        let (s, t) = (s.clone(), t.clone());
        tokio::spawn(async move { ok(&s, &t, "getUpdates", json!({"timeout": 50})).await })
    };
    start(&s, &p, "updates_bot").await;
    let got =
        tokio::time::timeout(Duration::from_secs(20), poll).await.expect("woken well before the timeout").unwrap();
    let first = &got[0];
    let first_id = first["update_id"].as_i64().unwrap();
    assert_eq!(first["message"]["text"], "/start ref42");
    assert_eq!(first["message"]["from"]["id"], json!(p.user_id));
    assert_eq!(
        first["message"]["chat"],
        json!({"id": p.user_id, "type": "private", "username": "uma", "first_name": "uma"})
    );
    assert_eq!(first["message"]["entities"], json!([{"type": "bot_command", "offset": 0, "length": 6}]));

    for text in ["two", "three", "four"] {
        s.send(&p.user_token, p.bot_id, text).await;
    }
    // The bot's own messages never come back to it.
    ok(&s, &t, "sendMessage", json!({"chat_id": p.user_id, "text": "mine"})).await;
    let texts = |v: &Value| {
        v.as_array().unwrap().iter().map(|u| u["message"]["text"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let all = ok(&s, &t, "getUpdates", json!({})).await;
    assert_eq!(texts(&all), ["/start ref42", "two", "three", "four"]);
    // limit, then confirming by offset.
    assert_eq!(texts(&ok(&s, &t, "getUpdates", json!({"limit": 2})).await), ["/start ref42", "two"]);
    let ids: Vec<i64> = all.as_array().unwrap().iter().map(|u| u["update_id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "update ids increase: {ids:?}");
    assert_eq!(ids[0], first_id);
    assert_eq!(texts(&ok(&s, &t, "getUpdates", json!({"offset": ids[1] + 1})).await), ["three", "four"]);
    // Confirmed updates never come back, even with a lower offset.
    assert_eq!(texts(&ok(&s, &t, "getUpdates", json!({"offset": ids[0]})).await), ["three", "four"]);
    // A negative offset keeps only the last ones.
    s.send(&p.user_token, p.bot_id, "five").await;
    assert_eq!(texts(&ok(&s, &t, "getUpdates", json!({"offset": -1})).await), ["five"]);
    assert_eq!(texts(&ok(&s, &t, "getUpdates", json!({})).await), ["five"]);

    // allowed_updates is remembered until changed.
    let last = ok(&s, &t, "getUpdates", json!({})).await[0]["update_id"].as_i64().unwrap();
    ok(&s, &t, "getUpdates", json!({"offset": last + 1, "allowed_updates": ["callback_query"]})).await;
    s.send(&p.user_token, p.bot_id, "filtered").await;
    assert_eq!(ok(&s, &t, "getUpdates", json!({})).await, json!([]));
    // Plaza applies the choice when updates are read (Telegram: when they are made), so widening
    // it again shows what was held back.
    ok(&s, &t, "setWebhook", json!({"url": "", "allowed_updates": []})).await;
    let info = ok(&s, &t, "getWebhookInfo", json!({})).await;
    assert_eq!(info["url"], "");
    assert_eq!(info["pending_update_count"], json!(1));
    assert_eq!(texts(&ok(&s, &t, "getUpdates", json!({})).await), ["filtered"]);

    // Of two pollers, the later ends the earlier with 409; the later one gets the next update.
    let last = ok(&s, &t, "getUpdates", json!({})).await[0]["update_id"].as_i64().unwrap();
    ok(&s, &t, "getUpdates", json!({"offset": last + 1})).await;
    let poll = |s: Arc<TestServer>, t: String| {
        tokio::spawn(async move { bot(&s, &t, "getUpdates", json!({"timeout": 30})).await })
    };
    let mut a = poll(s.clone(), t.clone());
    let mut b2 = poll(s.clone(), t.clone());
    let (ended, other) = tokio::select! {
        r = &mut a => (r.unwrap(), b2),
        r = &mut b2 => (r.unwrap(), a),
    };
    assert_eq!(ended.0.as_u16(), 409, "{}", ended.1);
    assert_eq!(
        ended.1["description"],
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
    );
    s.send(&p.user_token, p.bot_id, "after").await;
    let (status, body) = other.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"][0]["message"]["text"], "after");
    let after = body["result"][0]["update_id"].as_i64().unwrap();

    // An offset from the future (say, saved from another server) confirms nothing.
    assert_eq!(texts(&ok(&s, &t, "getUpdates", json!({"offset": 700_000_000})).await), ["after"]);
    assert_eq!(texts(&ok(&s, &t, "getUpdates", json!({})).await), ["after"]);
    ok(&s, &t, "getUpdates", json!({"offset": after + 1})).await;

    // A quick check with timeout=0 leaves a waiting poll alone; setWebhook ends it.
    let mut waiting = poll(s.clone(), t.clone());
    for _ in 0..3 {
        assert_eq!(ok(&s, &t, "getUpdates", json!({"timeout": 0})).await, json!([]));
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "a timeout=0 call ended the waiting poll");
    }
    ok(&s, &t, "setWebhook", json!({"url": "http://127.0.0.1:9/hook"})).await;
    let (status, body) = (&mut waiting).await.unwrap();
    assert_eq!(status.as_u16(), 409);
    // Usually the poll was waiting and setWebhook ended it; if it had not got that far, it found
    // the webhook set when it started.
    let description = body["description"].as_str().unwrap();
    assert!(
        description == "Conflict: terminated by setWebhook request"
            || description.starts_with("Conflict: can't use getUpdates method while webhook is active"),
        "{description}"
    );
    ok(&s, &t, "deleteWebhook", json!({})).await;
}

async fn messages_keyboards_and_errors(b: Backend) {
    let s = spawn(b).await;
    let p = pair(&s, "vera", "keys_bot").await;
    let t = &p.bot_token;
    start(&s, &p, "keys_bot").await;
    let mut ws = s.ws(&p.user_token, None).await;
    assert_eq!(ws.next().await["type"], "hello");

    // Parse modes become entities with UTF-16 offsets; the person sees the keyboard.
    let m = ok(&s, t, "sendMessage", json!({
        "chat_id": p.user_id, "text": "👍 <b>bold</b> <a href=\"https://plaza.example\">link</a> /help", "parse_mode": "HTML",
        "reply_markup": {"keyboard": [["Yes", {"text": "Phone", "request_contact": true}]], "one_time_keyboard": true, "resize_keyboard": true},
    })).await;
    assert_eq!(m["text"], "👍 bold link /help");
    assert_eq!(
        m["entities"],
        json!([{"type": "bold", "offset": 3, "length": 4}, {"type": "text_link", "offset": 8, "length": 4, "url": "https://plaza.example/"}, {"type": "bot_command", "offset": 13, "length": 5}])
    );
    assert!(m.get("reply_markup").is_none(), "reply keyboards are not part of the bot's Message");
    let frame = ws.next().await;
    assert_eq!(frame["type"], "message_new");
    assert_eq!(
        frame["message"]["reply_markup"],
        json!({"type": "keyboard", "rows": [[{"text": "Yes"}, {"text": "Phone", "request": "contact"}]], "is_persistent": false, "resize": true, "one_time": true, "selective": false})
    );
    let m2 = ok(&s, t, "sendMessage", json!({"chat_id": p.user_id, "text": "*a* _b_ `c`", "parse_mode": "MarkdownV2", "reply_parameters": {"message_id": m["message_id"]}})).await;
    assert_eq!(m2["text"], "a b c");
    assert_eq!(m2["reply_to_message"]["message_id"], m["message_id"]);
    assert_eq!(
        err(
            &s,
            t,
            "sendMessage",
            json!({"chat_id": p.user_id, "text": "r", "reply_parameters": {"message_id": 999}}),
            400
        )
        .await,
        "Bad Request: message to be replied not found"
    );
    let m3 = ok(&s, t, "sendMessage", json!({"chat_id": p.user_id, "text": "r", "reply_parameters": {"message_id": 999, "allow_sending_without_reply": true}})).await;
    assert!(m3.get("reply_to_message").is_none());

    // Edits: text (the inline keyboard goes unless given again), keyboard alone, not modified.
    let kb = json!({"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]});
    let m = ok(&s, t, "sendMessage", json!({"chat_id": p.user_id, "text": "edit me", "reply_markup": kb})).await;
    let id = m["message_id"].clone();
    let e = ok(&s, t, "editMessageReplyMarkup", json!({"chat_id": p.user_id, "message_id": id, "reply_markup": {"inline_keyboard": [[{"text": "Stop", "callback_data": "stop"}]]}})).await;
    assert_eq!(e["reply_markup"]["inline_keyboard"][0][0]["text"], "Stop");
    assert!(e.get("edit_date").is_none());
    let e = ok(&s, t, "editMessageText", json!({"chat_id": p.user_id, "message_id": id, "text": "edited"})).await;
    assert_eq!(e["text"], "edited");
    assert!(e["edit_date"].is_i64());
    assert!(e.get("reply_markup").is_none());
    assert!(
        err(&s, t, "editMessageText", json!({"chat_id": p.user_id, "message_id": id, "text": "edited"}), 400)
            .await
            .starts_with("Bad Request: message is not modified")
    );
    assert_eq!(
        err(&s, t, "editMessageText", json!({"chat_id": p.user_id, "message_id": 777, "text": "x"}), 400).await,
        "Bad Request: message to edit not found"
    );
    // The person's own message can't be edited by the bot.
    let theirs = s.send(&p.user_token, p.bot_id, "mine").await;
    assert_eq!(
        err(&s, t, "editMessageText", json!({"chat_id": p.user_id, "message_id": theirs, "text": "x"}), 400).await,
        "Bad Request: message can't be edited"
    );

    // Deletes, single and batch.
    assert_eq!(ok(&s, t, "deleteMessage", json!({"chat_id": p.user_id, "message_id": id})).await, json!(true));
    assert_eq!(
        err(&s, t, "deleteMessage", json!({"chat_id": p.user_id, "message_id": id}), 400).await,
        "Bad Request: message to delete not found"
    );
    let a = ok(&s, t, "sendMessage", json!({"chat_id": p.user_id, "text": "a"})).await["message_id"].clone();
    let b2 = ok(&s, t, "sendMessage", json!({"chat_id": p.user_id, "text": "b"})).await["message_id"].clone();
    assert_eq!(ok(&s, t, "deleteMessages", json!({"chat_id": p.user_id, "message_ids": [a, b2]})).await, json!(true));
    let (_, history) = s.get(&format!("/api/v1/chats/{}/messages", p.bot_id), &p.user_token).await;
    let left: Vec<&str> = history.as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert!(!left.contains(&"a") && !left.contains(&"b") && !left.contains(&"edited"), "{left:?}");

    // Chat info, as typed clients need it.
    let chat = ok(&s, t, "getChat", json!({"chat_id": p.user_id})).await;
    assert_eq!(chat["type"], "private");
    assert_eq!(chat["accent_color_id"], json!(0));
    assert!(chat["max_reaction_count"].is_i64());
    assert_eq!(chat["accepted_gift_types"]["unique_gifts"], json!(false));
    let member = ok(&s, t, "getChatMember", json!({"chat_id": p.user_id, "user_id": p.user_id})).await;
    assert_eq!(member["status"], "member");
    // A group: the person creates it with the bot; the bot sees members and admins.
    let (_, group) =
        s.post("/api/v1/chats/group", &p.user_token, json!({"title": "Club", "members": [p.bot_id]})).await;
    let gid = group["id"].as_i64().unwrap();
    let admins = ok(&s, t, "getChatAdministrators", json!({"chat_id": gid})).await;
    assert_eq!(admins[0]["status"], "creator");
    assert_eq!(admins[0]["user"]["id"], json!(p.user_id));
    assert_eq!(ok(&s, t, "getChatMemberCount", json!({"chat_id": gid})).await, json!(2));
    let g = ok(&s, t, "sendMessage", json!({"chat_id": gid, "text": "hi club"})).await;
    assert_eq!(g["chat"], json!({"id": gid, "type": "group", "title": "Club"}));
}

async fn button_presses(b: Backend) {
    let s = Arc::new(spawn(b).await);
    let p = pair(&s, "wes", "press_bot").await;
    let (other_token, _) = s.create_bot("other_bot", "wes").await;
    let t = p.bot_token.clone();
    start(&s, &p, "press_bot").await;
    let kb = json!({"inline_keyboard": [[{"text": "Yes", "callback_data": "vote:yes"}, {"text": "Site", "url": "https://plaza.example"}]]});
    let m = ok(&s, &t, "sendMessage", json!({"chat_id": p.user_id, "text": "Vote?", "reply_markup": kb})).await;
    let mid = m["message_id"].as_i64().unwrap();
    let last =
        ok(&s, &t, "getUpdates", json!({})).await.as_array().unwrap().last().unwrap()["update_id"].as_i64().unwrap();
    ok(&s, &t, "getUpdates", json!({"offset": last + 1})).await;

    // The person presses; the bot sees the query and answers; the press returns the answer.
    let press = {
        let s = s.clone();
        let (token, bot_id) = (p.user_token.clone(), p.bot_id);
        tokio::spawn(async move {
            s.post(&format!("/api/v1/chats/{bot_id}/messages/{mid}/callback"), &token, json!({"data": "vote:yes"}))
                .await
        })
    };
    let updates = ok(&s, &t, "getUpdates", json!({"offset": last + 1, "timeout": 30})).await;
    let q = &updates[0]["callback_query"];
    assert_eq!(q["data"], "vote:yes");
    assert_eq!(q["from"]["id"], json!(p.user_id));
    assert_eq!(q["message"]["message_id"], json!(mid));
    assert!(q["chat_instance"].is_string());
    let qid = q["id"].as_str().unwrap().to_string();
    // Another bot can't answer it.
    assert_eq!(
        err(&s, &other_token, "answerCallbackQuery", json!({"callback_query_id": qid}), 400).await,
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    );
    assert_eq!(
        ok(&s, &t, "answerCallbackQuery", json!({"callback_query_id": qid, "text": "Counted", "show_alert": true}))
            .await,
        json!(true)
    );
    let (status, answer) = press.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["answered"], json!(true));
    assert_eq!(answer["text"], "Counted");
    assert_eq!(answer["show_alert"], json!(true));
    // Answering twice is refused.
    assert!(
        err(&s, &t, "answerCallbackQuery", json!({"callback_query_id": qid}), 400).await.contains("query is too old")
    );

    // Presses of buttons that don't exist are refused.
    let (status, body) = s
        .post(&format!("/api/v1/chats/{}/messages/{mid}/callback", p.bot_id), &p.user_token, json!({"data": "vote:no"}))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("button_not_found")));
    // A query that waited too long can't be answered.
    let press = {
        let s = s.clone();
        let (token, bot_id) = (p.user_token.clone(), p.bot_id);
        tokio::spawn(async move {
            s.post(&format!("/api/v1/chats/{bot_id}/messages/{mid}/callback"), &token, json!({"data": "vote:yes"}))
                .await
        })
    };
    let updates = ok(&s, &t, "getUpdates", json!({"timeout": 30})).await;
    let upd = updates.as_array().unwrap().iter().find(|u| u.get("callback_query").is_some()).expect("a second query");
    let qid = upd["callback_query"]["id"].as_str().unwrap().to_string();
    s.clock.advance(Duration::from_secs(16 * 60));
    assert!(
        err(&s, &t, "answerCallbackQuery", json!({"callback_query_id": qid}), 400).await.contains("query is too old")
    );
    drop(press);
    assert!(
        err(&s, &t, "answerCallbackQuery", json!({"callback_query_id": "not-a-number"}), 400)
            .await
            .contains("query is too old")
    );
    assert_eq!(
        err(&s, &t, "answerCallbackQuery", json!({}), 400).await,
        "Bad Request: parameter \"callback_query_id\" is required"
    );
}

async fn commands_menu_and_profile(b: Backend) {
    let s = spawn(b).await;
    let p = pair(&s, "xena", "menu_bot").await;
    let t = &p.bot_token;
    start(&s, &p, "menu_bot").await;
    assert_eq!(ok(&s, t, "getMyCommands", json!({})).await, json!([]));
    let cmds = json!([{"command": "start", "description": "Start"}, {"command": "help", "description": "Help"}]);
    assert_eq!(ok(&s, t, "setMyCommands", json!({"commands": cmds})).await, json!(true));
    ok(
        &s,
        t,
        "setMyCommands",
        json!({"commands": [{"command": "hilfe", "description": "Hilfe"}], "language_code": "de"}),
    )
    .await;
    ok(
        &s,
        t,
        "setMyCommands",
        json!({"commands": [{"command": "private", "description": "P"}], "scope": {"type": "all_private_chats"}}),
    )
    .await;
    assert_eq!(ok(&s, t, "getMyCommands", json!({})).await, cmds);
    assert_eq!(ok(&s, t, "getMyCommands", json!({"language_code": "de"})).await[0]["command"], "hilfe");
    assert_eq!(
        ok(&s, t, "getMyCommands", json!({"scope": {"type": "all_private_chats"}})).await[0]["command"],
        "private"
    );
    ok(&s, t, "deleteMyCommands", json!({"scope": {"type": "all_private_chats"}})).await;
    assert_eq!(ok(&s, t, "getMyCommands", json!({"scope": {"type": "all_private_chats"}})).await, json!([]));
    assert_eq!(
        err(&s, t, "setMyCommands", json!({"commands": [{"command": "Bad Command", "description": "x"}]}), 400).await,
        "Bad Request: command must contain only lowercase English letters, digits and underscores"
    );
    assert_eq!(
        err(&s, t, "setMyCommands", json!({"commands": "nope"}), 400).await,
        "Bad Request: can't parse bot commands JSON object"
    );

    assert_eq!(ok(&s, t, "getChatMenuButton", json!({})).await, json!({"type": "commands"}));
    let app = json!({"type": "web_app", "text": "Open", "web_app": {"url": "https://app.example"}});
    ok(&s, t, "setChatMenuButton", json!({"menu_button": app})).await;
    assert_eq!(ok(&s, t, "getChatMenuButton", json!({})).await, app);
    ok(&s, t, "setChatMenuButton", json!({"chat_id": p.user_id, "menu_button": {"type": "commands"}})).await;
    assert_eq!(ok(&s, t, "getChatMenuButton", json!({"chat_id": p.user_id})).await, json!({"type": "commands"}));
    assert_eq!(
        err(&s, t, "setChatMenuButton", json!({"chat_id": 5, "menu_button": app}), 400).await,
        "Bad Request: chat not found"
    );

    assert_eq!(ok(&s, t, "getMyName", json!({})).await, json!({"name": "menu_bot"}));
    ok(&s, t, "setMyName", json!({"name": "Menu Bot"})).await;
    ok(&s, t, "setMyDescription", json!({"description": "Does menus."})).await;
    ok(&s, t, "setMyShortDescription", json!({"short_description": "Menus", "language_code": "en"})).await;
    assert_eq!(ok(&s, t, "getMyName", json!({"language_code": "fr"})).await, json!({"name": "Menu Bot"}));
    assert_eq!(ok(&s, t, "getMyDescription", json!({})).await, json!({"description": "Does menus."}));
    assert_eq!(ok(&s, t, "getMyShortDescription", json!({})).await, json!({"short_description": ""}));
    assert_eq!(
        ok(&s, t, "getMyShortDescription", json!({"language_code": "en"})).await,
        json!({"short_description": "Menus"})
    );
    assert!(
        err(&s, t, "setMyName", json!({"name": "n".repeat(65)}), 400)
            .await
            .starts_with("Bad Request: must be at most 64")
    );
    // The person's client shows the same: name, description, commands and menu button.
    let (status, info) = s.get("/api/v1/bots/menu_bot", &p.user_token).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!((info["name"].as_str(), info["description"].as_str()), (Some("Menu Bot"), Some("Does menus.")));
    assert_eq!(info["commands"], cmds);
    assert_eq!(info["menu_button"], json!({"type": "commands"}));
    ok(&s, t, "setChatMenuButton", json!({"chat_id": p.user_id, "menu_button": app})).await;
    let (_, info) = s.get("/api/v1/bots/menu_bot", &p.user_token).await;
    assert_eq!(info["menu_button"], json!({"type": "web_app", "text": "Open", "url": "https://app.example"}));
    ok(&s, t, "setMyCommands", json!({"commands": [{"command": "mine", "description": "Only here"}], "scope": {"type": "chat", "chat_id": p.user_id}})).await;
    let (_, info) = s.get("/api/v1/bots/menu_bot", &p.user_token).await;
    assert_eq!(info["commands"], json!([{"command": "mine", "description": "Only here"}]));
}

/// A webhook receiver: records every update with its secret header; answers according to `reply`.
#[derive(Clone)]
struct Hook {
    tx: mpsc::UnboundedSender<(Option<String>, Value)>,
    /// Fail this many deliveries first (with 500) before accepting.
    fail_first: Arc<std::sync::atomic::AtomicUsize>,
}

async fn hook(State(h): State<Hook>, headers: HeaderMap, body: axum::Json<Value>) -> axum::response::Response {
    use axum::response::IntoResponse;
    if h.fail_first.load(std::sync::atomic::Ordering::SeqCst) > 0 {
        h.fail_first.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
    }
    let secret = headers.get("x-telegram-bot-api-secret-token").and_then(|v| v.to_str().ok()).map(str::to_string);
    let update = body.0;
    let _ = h.tx.send((secret, update.clone()));
    // Echo "reply:<text>" back through a webhook reply.
    match update["message"]["text"].as_str() {
        Some(text) if text.starts_with("reply:") => axum::Json(json!({
            "method": "sendMessage", "chat_id": update["message"]["chat"]["id"], "text": format!("replied {}", &text[6..]),
        }))
        .into_response(),
        _ => StatusCode::OK.into_response(),
    }
}

async fn webhooks_deliver_in_order_and_run_replies(b: Backend) {
    let s = spawn(b).await;
    let p = pair(&s, "yuri", "hook_bot").await;
    let t = &p.bot_token;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let h = Hook { tx, fail_first: Arc::new(std::sync::atomic::AtomicUsize::new(1)) };
    let app = axum::Router::new().route("/hook", axum::routing::post(hook)).with_state(h.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    assert_eq!(
        err(&s, t, "setWebhook", json!({"url": "ftp://x"}), 400).await,
        "Bad Request: bad webhook: an HTTPS URL must be provided for webhook"
    );
    assert!(
        err(&s, t, "setWebhook", json!({"url": hook_url, "secret_token": "no spaces"}), 400)
            .await
            .contains("secret token")
    );
    let (_, body) =
        bot(&s, t, "setWebhook", json!({"url": hook_url, "secret_token": "s3cret", "max_connections": 5})).await;
    assert_eq!(body, json!({"ok": true, "result": true, "description": "Webhook was set"}));
    let (_, body) =
        bot(&s, t, "setWebhook", json!({"url": hook_url, "secret_token": "s3cret", "max_connections": 5})).await;
    assert_eq!(body["description"], "Webhook is already set");
    assert_eq!(
        err(&s, t, "getUpdates", json!({}), 409).await,
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
    );

    start(&s, &p, "hook_bot").await;
    // The first delivery fails (500): it is retried, and the failure shows in getWebhookInfo.
    let (secret, first) =
        tokio::time::timeout(Duration::from_secs(20), rx.recv()).await.expect("delivered after a retry").unwrap();
    assert_eq!(secret.as_deref(), Some("s3cret"));
    assert_eq!(first["message"]["text"], "/start ref42");
    let info = ok(&s, t, "getWebhookInfo", json!({})).await;
    assert_eq!(info["url"], json!(hook_url));
    assert_eq!(info["max_connections"], json!(5));
    assert_eq!(info["last_error_message"], "Wrong response from the webhook: 500 Internal Server Error");
    assert!(info["last_error_date"].is_i64());

    // Per-chat order holds.
    for i in 0..5 {
        s.send(&p.user_token, p.bot_id, &format!("n{i}")).await;
    }
    for i in 0..5 {
        let (_, u) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        assert_eq!(u["message"]["text"], format!("n{i}"));
    }
    // A method in the webhook's answer runs as the bot.
    let mut ws = s.ws(&p.user_token, None).await;
    assert_eq!(ws.next().await["type"], "hello");
    s.send(&p.user_token, p.bot_id, "reply:42").await;
    let frame = loop {
        let f = ws.next().await;
        if f["type"] == "message_new" && f["message"]["from"]["id"] == json!(p.bot_id) {
            break f;
        }
    };
    assert_eq!(frame["message"]["text"], "replied 42");

    let (_, body) = bot(&s, t, "deleteWebhook", json!({})).await;
    assert_eq!(body["description"], "Webhook was deleted");
    let (_, body) = bot(&s, t, "deleteWebhook", json!({})).await;
    assert_eq!(body["description"], "Webhook is already deleted");
    // Everything delivered was confirmed: polling starts with nothing old.
    let left = ok(&s, t, "getUpdates", json!({})).await;
    assert!(left.as_array().unwrap().iter().all(|u| u["message"]["text"] != "n0"), "{left}");
}

/// A 2×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x7B, 0x40, 0xE8, 0xDD, 0x00, 0x00, 0x00, 0x0F, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D,
    0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

async fn photos_and_documents(b: Backend) {
    let s = spawn(b).await;
    let p = pair(&s, "zoe", "files_bot").await;
    let t = &p.bot_token;
    start(&s, &p, "files_bot").await;
    let url = |m: &str| format!("{}/bot{t}/{m}", s.base);

    // Upload a photo (multipart), with a caption in HTML.
    let form = reqwest::multipart::Form::new()
        .text("chat_id", p.user_id.to_string())
        .text("caption", "<i>tiny</i>")
        .text("parse_mode", "HTML")
        .part("photo", reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("dot.png"));
    let (status, m) = envelope(s.http.post(url("sendPhoto")).multipart(form).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{m}");
    let photo = &m["result"]["photo"][0];
    assert_eq!((photo["width"].as_u64(), photo["height"].as_u64()), (Some(2), Some(1)));
    assert_eq!(photo["file_size"].as_u64(), Some(PNG.len() as u64));
    assert_eq!(m["result"]["caption"], "tiny");
    assert_eq!(m["result"]["caption_entities"], json!([{"type": "italic", "offset": 0, "length": 4}]));
    assert!(m["result"].get("text").is_none());
    let file_id = photo["file_id"].as_str().unwrap().to_string();

    // getFile and the download URL give the same bytes.
    let f = ok(&s, t, "getFile", json!({"file_id": file_id})).await;
    let path = f["file_path"].as_str().unwrap();
    let bytes = s.http.get(format!("{}/file/bot{t}/{path}", s.base)).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(&bytes[..], PNG);
    let wrong = s.http.get(format!("{}/file/bot{t}/photos/nope.png", s.base)).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::NOT_FOUND);
    let wrong_token = s.http.get(format!("{}/file/bot1:x/{path}", s.base)).send().await.unwrap();
    assert_eq!(wrong_token.status(), StatusCode::UNAUTHORIZED);

    // A file_id is reused without uploading again; URLs are refused; non-images aren't photos.
    let again = ok(&s, t, "sendPhoto", json!({"chat_id": p.user_id, "photo": file_id})).await;
    assert_eq!(again["photo"][0]["file_unique_id"], photo["file_unique_id"]);
    assert!(
        err(&s, t, "sendPhoto", json!({"chat_id": p.user_id, "photo": "https://example.com/a.jpg"}), 400)
            .await
            .starts_with("Bad Request: failed to get HTTP URL content")
    );
    assert_eq!(
        err(&s, t, "sendPhoto", json!({"chat_id": p.user_id, "photo": "nope"}), 400).await,
        "Bad Request: wrong file identifier/HTTP URL specified"
    );
    assert_eq!(
        err(&s, t, "sendPhoto", json!({"chat_id": p.user_id}), 400).await,
        "Bad Request: there is no photo in the request"
    );
    let form = reqwest::multipart::Form::new()
        .text("chat_id", p.user_id.to_string())
        .part("photo", reqwest::multipart::Part::bytes(b"not an image".to_vec()).file_name("x.png"));
    let (status, body) = envelope(s.http.post(url("sendPhoto")).multipart(form).send().await.unwrap()).await;
    assert_eq!((status.as_u16(), body["description"].as_str()), (400, Some("Bad Request: IMAGE_PROCESS_FAILED")));

    // A document keeps its name and type; the person downloads it through the client API.
    let form = reqwest::multipart::Form::new().text("chat_id", p.user_id.to_string()).part(
        "document",
        reqwest::multipart::Part::bytes(b"hello, file".to_vec()).file_name("notes.txt").mime_str("text/plain").unwrap(),
    );
    let (_, m) = envelope(s.http.post(url("sendDocument")).multipart(form).send().await.unwrap()).await;
    let doc = &m["result"]["document"];
    assert_eq!(doc["file_name"], "notes.txt");
    assert_eq!(doc["mime_type"], "text/plain");
    let (_, history) = s.get(&format!("/api/v1/chats/{}/messages", p.bot_id), &p.user_token).await;
    let last = history.as_array().unwrap().last().unwrap();
    assert_eq!(last["media"]["kind"], "document");
    let got = s
        .http
        .get(format!("{}/api/v1/files/{}", s.base, doc["file_id"].as_str().unwrap()))
        .bearer_auth(&p.user_token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.headers()["content-type"], "text/plain");
    assert_eq!(&got.bytes().await.unwrap()[..], b"hello, file");

    // The person sends a photo; the bot gets it as an update and downloads it.
    let form = reqwest::multipart::Form::new()
        .text("kind", "photo")
        .text("caption", "from me")
        .part("file", reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("me.png"));
    let up = s
        .http
        .post(format!("{}/api/v1/chats/{}/files", s.base, p.bot_id))
        .bearer_auth(&p.user_token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), StatusCode::OK);
    let updates = ok(&s, t, "getUpdates", json!({})).await;
    let u = updates.as_array().unwrap().iter().find(|u| u["message"].get("photo").is_some()).expect("photo update");
    assert_eq!(u["message"]["caption"], "from me");
    let fid = u["message"]["photo"][0]["file_id"].as_str().unwrap();
    let f = ok(&s, t, "getFile", json!({"file_id": fid})).await;
    let bytes = s
        .http
        .get(format!("{}/file/bot{t}/{}", s.base, f["file_path"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[..], PNG);

    // Documents are not held to the client API's 1 MB limit for other bodies (nor axum's 2 MB
    // default): 3 MB go up through both APIs and come back whole.
    let big: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let form =
        reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(big.clone()).file_name("big.bin"));
    let up = s
        .http
        .post(format!("{}/api/v1/chats/{}/files", s.base, p.bot_id))
        .bearer_auth(&p.user_token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), StatusCode::OK);
    let form = reqwest::multipart::Form::new()
        .text("chat_id", p.user_id.to_string())
        .part("document", reqwest::multipart::Part::bytes(big.clone()).file_name("big.bin"));
    let sent =
        envelope(s.http.post(format!("{}/bot{t}/sendDocument", s.base)).multipart(form).send().await.unwrap()).await;
    assert_eq!(sent.0, StatusCode::OK, "{}", sent.1);
    let f = ok(&s, t, "getFile", json!({"file_id": sent.1["result"]["document"]["file_id"]})).await;
    let url = format!("{}/file/bot{t}/{}", s.base, f["file_path"].as_str().unwrap());
    let bytes = s.http.get(url).send().await.unwrap().bytes().await.unwrap();
    assert!(bytes[..] == big[..], "the 3 MB document came back changed");
}

async fn forwards_copies_and_chat_actions(b: Backend) {
    let s = spawn(b).await;
    let p = pair(&s, "amos", "relay_bot").await;
    let t = &p.bot_token;
    let (bea_token, bea_id) = s.signup("bea").await;
    start(&s, &p, "relay_bot").await;
    let (_, group) =
        s.post("/api/v1/chats/group", &p.user_token, json!({"title": "Relay", "members": [p.bot_id, bea_id]})).await;
    let gid = group["id"].as_i64().unwrap();
    let original = s.send(&p.user_token, p.bot_id, "from amos").await;

    let mut ws = s.ws(&bea_token, None).await;
    assert_eq!(ws.next().await["type"], "hello");
    let f =
        ok(&s, t, "forwardMessage", json!({"chat_id": gid, "from_chat_id": p.user_id, "message_id": original})).await;
    assert_eq!(f["text"], "from amos");
    assert_eq!(f["forward_origin"]["type"], "user");
    assert_eq!(f["forward_origin"]["sender_user"]["id"], json!(p.user_id));
    assert!(f["forward_origin"]["date"].is_i64());
    let frame = ws.next().await;
    assert_eq!(frame["message"]["forward_from"]["id"], json!(p.user_id));

    let c = ok(&s, t, "copyMessage", json!({"chat_id": gid, "from_chat_id": p.user_id, "message_id": original})).await;
    let copy_id = c["message_id"].as_i64().unwrap();
    let frame = ws.next().await;
    assert_eq!(frame["message"]["message_id"], json!(copy_id));
    assert_eq!(frame["message"]["text"], "from amos");
    assert!(frame["message"].get("forward_from").is_none());
    assert_eq!(
        err(&s, t, "forwardMessage", json!({"chat_id": gid, "from_chat_id": p.user_id, "message_id": 999}), 400).await,
        "Bad Request: message to forward not found"
    );
    assert_eq!(
        err(&s, t, "copyMessage", json!({"chat_id": gid, "message_id": original}), 400).await,
        "Bad Request: from_chat_id is empty"
    );

    // Protected content stays where it was sent.
    let guarded =
        ok(&s, t, "sendMessage", json!({"chat_id": p.user_id, "text": "secret", "protect_content": true})).await;
    assert_eq!(guarded["has_protected_content"], json!(true));
    let gid_msg = guarded["message_id"].clone();
    assert_eq!(
        err(&s, t, "forwardMessage", json!({"chat_id": gid, "from_chat_id": p.user_id, "message_id": gid_msg}), 400)
            .await,
        "Bad Request: message can't be forwarded"
    );
    assert_eq!(
        err(&s, t, "copyMessage", json!({"chat_id": gid, "from_chat_id": p.user_id, "message_id": gid_msg}), 400).await,
        "Bad Request: message can't be copied"
    );

    // Chat actions reach the chat's other members as passing frames.
    assert_eq!(ok(&s, t, "sendChatAction", json!({"chat_id": gid, "action": "typing"})).await, json!(true));
    let frame = ws.next().await;
    assert_eq!(frame["type"], "chat_action");
    assert_eq!(
        (frame["chat_id"].as_i64(), frame["user_id"].as_i64(), frame["action"].as_str()),
        (Some(gid), Some(p.bot_id), Some("typing"))
    );
    assert_eq!(
        err(&s, t, "sendChatAction", json!({"chat_id": gid, "action": "dancing"}), 400).await,
        "Bad Request: wrong parameter action in request"
    );
    // People send them too, through the client API.
    let (status, _) =
        s.post(&format!("/api/v1/chats/{gid}/action"), &p.user_token, json!({"action": "upload_photo"})).await;
    assert_eq!(status, StatusCode::OK);
    let frame = ws.next().await;
    assert_eq!((frame["user_id"].as_i64(), frame["action"].as_str()), (Some(p.user_id), Some("upload_photo")));
}

/// Every `my_chat_member` change in the pending updates, as (old, new, from) statuses.
async fn member_changes(s: &TestServer, t: &str) -> Vec<(String, String, i64, i64)> {
    let updates = ok(s, t, "getUpdates", json!({})).await;
    let all = updates.as_array().unwrap();
    if let Some(last) = all.last() {
        ok(s, t, "getUpdates", json!({"offset": last["update_id"].as_i64().unwrap() + 1})).await;
    }
    all.iter()
        .filter_map(|u| u.get("my_chat_member"))
        .map(|m| {
            (
                m["old_chat_member"]["status"].as_str().unwrap().to_string(),
                m["new_chat_member"]["status"].as_str().unwrap().to_string(),
                m["from"]["id"].as_i64().unwrap(),
                m["chat"]["id"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn blocking_bans_and_pins(b: Backend) {
    let s = spawn(b).await;
    let p = pair(&s, "cleo", "mod_bot").await;
    let t = &p.bot_token;
    let (dan_token, dan_id) = s.signup("dan").await;
    start(&s, &p, "mod_bot").await;
    member_changes(&s, t).await;

    // The person blocks the bot: the bot is told and can't write; unblocking restores it.
    let (status, body) = s
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/chats/{}/blocked", p.bot_id),
            Some(&p.user_token),
            Some(json!({"blocked": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(member_changes(&s, t).await, vec![("member".into(), "kicked".into(), p.user_id, p.user_id)]);
    assert_eq!(
        err(&s, t, "sendMessage", json!({"chat_id": p.user_id, "text": "hi"}), 403).await,
        "Forbidden: bot was blocked by the user"
    );
    assert_eq!(s.get(&format!("/api/v1/chats/{}/blocked", p.bot_id), &p.user_token).await.1, json!({"blocked": true}));
    s.call(
        reqwest::Method::PUT,
        &format!("/api/v1/chats/{}/blocked", p.bot_id),
        Some(&p.user_token),
        Some(json!({"blocked": false})),
    )
    .await;
    assert_eq!(member_changes(&s, t).await, vec![("kicked".into(), "member".into(), p.user_id, p.user_id)]);
    ok(&s, t, "sendMessage", json!({"chat_id": p.user_id, "text": "welcome back"})).await;
    // Blocked again, then started again ("Restart"): unblocked, and /start arrives.
    s.call(
        reqwest::Method::PUT,
        &format!("/api/v1/chats/{}/blocked", p.bot_id),
        Some(&p.user_token),
        Some(json!({"blocked": true})),
    )
    .await;
    start(&s, &p, "mod_bot").await;
    assert_eq!(
        member_changes(&s, t).await,
        vec![
            ("member".into(), "kicked".into(), p.user_id, p.user_id),
            ("kicked".into(), "member".into(), p.user_id, p.user_id)
        ]
    );

    // A group: the bot is told it was added and promoted.
    let (_, group) =
        s.post("/api/v1/chats/group", &p.user_token, json!({"title": "Mods", "members": [p.bot_id, dan_id]})).await;
    let gid = group["id"].as_i64().unwrap();
    assert_eq!(
        err(&s, t, "banChatMember", json!({"chat_id": gid, "user_id": dan_id}), 400).await,
        "Bad Request: not enough rights to restrict/unrestrict chat member"
    );
    let (status, _) = s
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/chats/{gid}/members/{}/role", p.bot_id),
            Some(&p.user_token),
            Some(json!({"role": "administrator"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        member_changes(&s, t).await,
        vec![
            ("left".into(), "member".into(), p.user_id, gid),
            ("member".into(), "administrator".into(), p.user_id, gid)
        ]
    );

    // The bot bans Dan: Dan is out and can't be added back until unbanned.
    assert_eq!(ok(&s, t, "banChatMember", json!({"chat_id": gid, "user_id": dan_id})).await, json!(true));
    assert_eq!(
        ok(&s, t, "getChatMember", json!({"chat_id": gid, "user_id": dan_id})).await,
        json!({"status": "kicked", "user": {"id": dan_id, "is_bot": false, "first_name": "dan", "username": "dan"}, "until_date": 0})
    );
    let (status, body) = s.get(&format!("/api/v1/chats/{gid}/messages"), &dan_token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) =
        s.post(&format!("/api/v1/chats/{gid}/members"), &p.user_token, json!({"members": [dan_id]})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("banned")), "{body}");
    assert_eq!(
        err(&s, t, "banChatMember", json!({"chat_id": gid, "user_id": p.user_id}), 400).await,
        "Bad Request: can't remove chat owner"
    );
    ok(&s, t, "unbanChatMember", json!({"chat_id": gid, "user_id": dan_id, "only_if_banned": true})).await;
    assert_eq!(ok(&s, t, "getChatMember", json!({"chat_id": gid, "user_id": dan_id})).await["status"], "left");
    let (status, body) =
        s.post(&format!("/api/v1/chats/{gid}/members"), &p.user_token, json!({"members": [dan_id]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Pins: the bot (an admin) pins; everyone sees the notice; getChat shows it; unpin clears it.
    let m = ok(&s, t, "sendMessage", json!({"chat_id": gid, "text": "rules: be kind"})).await;
    let mid = m["message_id"].as_i64().unwrap();
    let mut ws = s.ws(&dan_token, None).await;
    assert_eq!(ws.next().await["type"], "hello");
    assert_eq!(ok(&s, t, "pinChatMessage", json!({"chat_id": gid, "message_id": mid})).await, json!(true));
    let notice = ws.next().await;
    assert_eq!(notice["message"]["service"], json!({"type": "pinned_message", "message_id": mid}));
    let chat = ok(&s, t, "getChat", json!({"chat_id": gid})).await;
    assert_eq!(chat["pinned_message"]["text"], "rules: be kind");
    let (_, pinned) = s.get(&format!("/api/v1/chats/{gid}/pinned"), &dan_token).await;
    assert_eq!(pinned["message_id"], json!(mid));
    // Dan is no admin: he can't pin.
    let (status, _) = s.post(&format!("/api/v1/chats/{gid}/messages/{mid}/pin"), &dan_token, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        err(&s, t, "pinChatMessage", json!({"chat_id": gid, "message_id": 9999}), 400).await,
        "Bad Request: message to pin not found"
    );
    ok(&s, t, "unpinChatMessage", json!({"chat_id": gid})).await;
    assert!(ok(&s, t, "getChat", json!({"chat_id": gid})).await.get("pinned_message").is_none());
    // Users who read the bot's pins get the notice as a message with pinned_message.
    let (_, dm_pin) = s.post(&format!("/api/v1/chats/{}/messages/{}/pin", p.bot_id, 1), &p.user_token, json!({})).await;
    assert_eq!(dm_pin["service"]["type"], "pinned_message");
    let updates = ok(&s, t, "getUpdates", json!({})).await;
    let notice = updates
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["message"].get("pinned_message").is_some())
        .expect("pin notice update");
    assert_eq!(notice["message"]["pinned_message"]["message_id"], json!(1));

    // Removed from the group, the bot is told.
    let last = updates.as_array().unwrap().last().unwrap()["update_id"].as_i64().unwrap();
    ok(&s, t, "getUpdates", json!({"offset": last + 1})).await;
    let (status, _) = s
        .call(reqwest::Method::DELETE, &format!("/api/v1/chats/{gid}/members/{}", p.bot_id), Some(&p.user_token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(member_changes(&s, t).await, vec![("administrator".into(), "left".into(), p.user_id, gid)]);
}

async fn flood_limits(b: Backend) {
    let s = spawn_with(b, |c| c.flood_limits = true).await;
    let p = pair(&s, "fay", "flood_bot").await;
    let t = &p.bot_token;
    start(&s, &p, "flood_bot").await;
    // A short burst passes; then the chat's limit answers 429 with when to retry.
    let mut limited = None;
    for i in 0..20 {
        let resp = s
            .http
            .post(format!("{}/bot{t}/sendMessage", s.base))
            .json(&json!({"chat_id": p.user_id, "text": format!("m{i}")}))
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            let header = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
            limited = Some((i, header, envelope(resp).await.1));
            break;
        }
    }
    let (sent, header, body) = limited.expect("the burst ends in 429");
    assert!(sent >= 3, "a short burst is allowed ({sent} went through)");
    let retry_after = body["parameters"]["retry_after"].as_u64().expect("parameters.retry_after");
    assert!(retry_after >= 1);
    assert_eq!(header, Some(retry_after.to_string()));
    assert_eq!(body["description"], format!("Too Many Requests: retry after {retry_after}"));
    // Reading is not limited.
    ok(&s, t, "getMe", json!({})).await;
}

/// The next WebSocket frame of the given type, skipping others.
async fn frame_of(ws: &mut common::Ws, kind: &str) -> Value {
    loop {
        let f = ws.next().await;
        if f["type"] == kind {
            return f;
        }
    }
}

async fn polls_and_reactions(b: Backend) {
    let s = spawn(b).await;
    let p = pair(&s, "gus", "poll_bot").await;
    let t = &p.bot_token;
    let (hal_token, hal_id) = s.signup("hal").await;
    start(&s, &p, "poll_bot").await;
    let (_, group) =
        s.post("/api/v1/chats/group", &p.user_token, json!({"title": "Votes", "members": [p.bot_id, hal_id]})).await;
    let gid = group["id"].as_i64().unwrap();
    let mut hal_ws = s.ws(&hal_token, None).await;
    assert_eq!(hal_ws.next().await["type"], "hello");

    let m = ok(
        &s,
        t,
        "sendPoll",
        json!({"chat_id": gid, "question": "Lunch?", "options": ["Pizza", {"text": "Soup"}], "is_anonymous": false}),
    )
    .await;
    assert_eq!(m["poll"]["question"], "Lunch?");
    assert_eq!(m["poll"]["options"], json!([{"text": "Pizza", "voter_count": 0}, {"text": "Soup", "voter_count": 0}]));
    assert_eq!((m["poll"]["type"].as_str(), m["poll"]["is_anonymous"].as_bool()), (Some("regular"), Some(false)));
    let mid = m["message_id"].as_i64().unwrap();
    let poll_id = m["poll"]["id"].as_str().unwrap().to_string();
    let frame = frame_of(&mut hal_ws, "message_new").await;
    assert_eq!(frame["message"]["poll"]["options"][1]["text"], "Soup");
    let last = ok(&s, t, "getUpdates", json!({}))
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["update_id"].as_i64().unwrap())
        .max()
        .unwrap_or(0);
    ok(&s, t, "getUpdates", json!({"offset": last + 1})).await;

    // Gus votes: he sees his vote, Hal sees the counts, the bot gets the poll and the answer.
    let (status, poll) =
        s.post(&format!("/api/v1/chats/{gid}/messages/{mid}/vote"), &p.user_token, json!({"option_ids": [1]})).await;
    assert_eq!(status, StatusCode::OK, "{poll}");
    assert_eq!((poll["my_vote"].clone(), poll["total_voter_count"].as_u64()), (json!([1]), Some(1)));
    let frame = frame_of(&mut hal_ws, "poll_updated").await;
    assert_eq!(frame["poll"]["options"][1]["voter_count"], json!(1));
    assert_eq!(frame["poll"]["my_vote"], json!([]));
    let updates =
        ok(&s, t, "getUpdates", json!({"allowed_updates": ["poll", "poll_answer", "message", "message_reaction"]}))
            .await;
    let poll_update = updates.as_array().unwrap().iter().find_map(|u| u.get("poll")).expect("poll update");
    assert_eq!(
        (poll_update["id"].as_str(), poll_update["total_voter_count"].as_u64()),
        (Some(poll_id.as_str()), Some(1))
    );
    let answer = updates.as_array().unwrap().iter().find_map(|u| u.get("poll_answer")).expect("poll_answer update");
    assert_eq!((answer["user"]["id"].as_i64(), answer["option_ids"].clone()), (Some(p.user_id), json!([1])));
    let last = updates.as_array().unwrap().last().unwrap()["update_id"].as_i64().unwrap();
    // Taking the vote back is an answer too.
    s.post(&format!("/api/v1/chats/{gid}/messages/{mid}/vote"), &p.user_token, json!({"option_ids": []})).await;
    let updates = ok(&s, t, "getUpdates", json!({"offset": last + 1})).await;
    let answer = updates.as_array().unwrap().iter().find_map(|u| u.get("poll_answer")).expect("retraction");
    assert_eq!(answer["option_ids"], json!([]));
    let (status, body) =
        s.post(&format!("/api/v1/chats/{gid}/messages/{mid}/vote"), &p.user_token, json!({"option_ids": [0, 1]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A quiz: one answer, final; the right one shows once answered.
    let q = ok(
        &s,
        t,
        "sendPoll",
        json!({"chat_id": gid, "question": "2+2?", "options": ["3", "4"], "type": "quiz", "correct_option_id": 1}),
    )
    .await;
    let qid = q["message_id"].as_i64().unwrap();
    let (_, poll) =
        s.post(&format!("/api/v1/chats/{gid}/messages/{qid}/vote"), &hal_token, json!({"option_ids": [0]})).await;
    assert_eq!(poll["correct_option_id"], json!(1));
    let (status, body) =
        s.post(&format!("/api/v1/chats/{gid}/messages/{qid}/vote"), &hal_token, json!({"option_ids": [1]})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("vote_is_final")));
    // Stopping closes it for good.
    let stopped = ok(&s, t, "stopPoll", json!({"chat_id": gid, "message_id": mid})).await;
    assert_eq!(stopped["is_closed"], json!(true));
    let (status, body) =
        s.post(&format!("/api/v1/chats/{gid}/messages/{mid}/vote"), &p.user_token, json!({"option_ids": [0]})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("poll_closed")));
    assert_eq!(
        err(&s, t, "stopPoll", json!({"chat_id": gid, "message_id": mid}), 400).await,
        "Bad Request: poll has already been closed"
    );
    assert!(
        err(&s, t, "sendPoll", json!({"chat_id": gid, "question": "?", "options": ["one"]}), 400)
            .await
            .starts_with("Bad Request: poll must have")
    );

    // Reactions: the person reacts to the bot's message in their private chat; the bot hears it.
    let bm = ok(&s, t, "sendMessage", json!({"chat_id": p.user_id, "text": "react to me"})).await["message_id"]
        .as_i64()
        .unwrap();
    let last = ok(&s, t, "getUpdates", json!({}))
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["update_id"].as_i64().unwrap())
        .max()
        .unwrap_or(0);
    ok(&s, t, "getUpdates", json!({"offset": last + 1})).await;
    let (status, body) = s
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/chats/{}/messages/{bm}/reactions", p.bot_id),
            Some(&p.user_token),
            Some(json!({"emojis": ["👍", "🔥"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let updates = ok(&s, t, "getUpdates", json!({})).await;
    let r =
        updates.as_array().unwrap().iter().find_map(|u| u.get("message_reaction")).expect("message_reaction update");
    assert_eq!(r["message_id"], json!(bm));
    assert_eq!(r["old_reaction"], json!([]));
    assert_eq!(r["new_reaction"], json!([{"type": "emoji", "emoji": "👍"}, {"type": "emoji", "emoji": "🔥"}]));
    // The bot reacts to the person's message; the person sees it, in history too.
    let um = s.send(&p.user_token, p.bot_id, "nice").await;
    let mut ws = s.ws(&p.user_token, None).await;
    assert_eq!(ws.next().await["type"], "hello");
    ok(
        &s,
        t,
        "setMessageReaction",
        json!({"chat_id": p.user_id, "message_id": um, "reaction": [{"type": "emoji", "emoji": "❤"}]}),
    )
    .await;
    let frame = frame_of(&mut ws, "reactions_updated").await;
    assert_eq!(frame["reactions"], json!([{"emoji": "❤", "count": 1, "chosen": false}]));
    let (_, history) = s.get(&format!("/api/v1/chats/{}/messages", p.bot_id), &p.user_token).await;
    let reacted = history.as_array().unwrap().iter().find(|m| m["message_id"] == json!(bm)).unwrap();
    assert_eq!(
        reacted["reactions"],
        json!([{"emoji": "👍", "count": 1, "chosen": true}, {"emoji": "🔥", "count": 1, "chosen": true}])
    );
    assert_eq!(
        err(&s, t, "setMessageReaction", json!({"chat_id": p.user_id, "message_id": um, "reaction": [{"type": "emoji", "emoji": "👍"}, {"type": "emoji", "emoji": "👎"}]}), 400).await,
        "Bad Request: REACTIONS_TOO_MANY"
    );
    assert_eq!(
        err(
            &s,
            t,
            "setMessageReaction",
            json!({"chat_id": p.user_id, "message_id": um, "reaction": [{"type": "emoji", "emoji": "🦀"}]}),
            400
        )
        .await,
        "Bad Request: REACTION_INVALID"
    );
}

async fn production_webhooks_need_https(b: Backend) {
    let s = spawn_with(b, |c| c.webhooks_https_only = true).await;
    let p = pair(&s, "ines", "prod_bot").await;
    let t = &p.bot_token;
    assert_eq!(
        err(&s, t, "setWebhook", json!({"url": "http://bot.example/hook"}), 400).await,
        "Bad Request: bad webhook: an HTTPS URL must be provided for webhook"
    );
    assert_eq!(
        err(&s, t, "setWebhook", json!({"url": "https://bot.example:8080/hook"}), 400).await,
        "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
    );
    let (_, body) = bot(&s, t, "setWebhook", json!({"url": "https://bot.example:8443/hook"})).await;
    assert_eq!(body["description"], "Webhook was set");
    assert_eq!(ok(&s, t, "getWebhookInfo", json!({})).await["url"], "https://bot.example:8443/hook");
}

/// Random methods with random parameters of random types, in JSON and urlencoded bodies: every
/// answer is Telegram's envelope with the HTTP status equal to `error_code`, and never a 5xx.
async fn random_input_never_breaks_the_envelope(b: Backend) {
    use rand::{Rng, SeedableRng};
    let s = spawn(b).await;
    let p = pair(&s, "rex", "fuzz_bot").await;
    start(&s, &p, "fuzz_bot").await;
    let methods = [
        "getMe",
        "getUpdates",
        "setWebhook",
        "deleteWebhook",
        "getWebhookInfo",
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "getFile",
        "forwardMessage",
        "copyMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "deleteMessage",
        "deleteMessages",
        "sendChatAction",
        "answerCallbackQuery",
        "setMyCommands",
        "getMyCommands",
        "deleteMyCommands",
        "setChatMenuButton",
        "getChatMenuButton",
        "setMyName",
        "getMyName",
        "getChat",
        "getChatMember",
        "getChatAdministrators",
        "getChatMemberCount",
        "banChatMember",
        "unbanChatMember",
        "pinChatMessage",
        "unpinChatMessage",
        "unpinAllChatMessages",
        "setMessageReaction",
        "sendPoll",
        "stopPoll",
    ];
    let names = [
        "chat_id",
        "text",
        "parse_mode",
        "entities",
        "reply_markup",
        "reply_parameters",
        "message_id",
        "message_ids",
        "from_chat_id",
        "photo",
        "document",
        "file_id",
        "callback_query_id",
        "show_alert",
        "url",
        "commands",
        "scope",
        "language_code",
        "menu_button",
        "name",
        "user_id",
        "until_date",
        "reaction",
        "question",
        "options",
        "type",
        "correct_option_id",
        "offset",
        "limit",
        "timeout",
        "allowed_updates",
        "action",
        "caption",
        "secret_token",
    ];
    let values = [
        json!(p.user_id),
        json!(-1),
        json!(0),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(p.user_id.to_string()),
        json!("@x"),
        json!(""),
        json!("<b>x"),
        json!("*a"),
        json!("x".repeat(5000)),
        json!(true),
        json!(1.5),
        json!([]),
        json!({}),
        json!([1, 2]),
        json!({"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}),
        json!({"inline_keyboard": "x"}),
        json!({"keyboard": [["a"]]}),
        json!([{"type": "bold", "offset": 0, "length": 99}]),
        json!([{"type": "emoji", "emoji": "👍"}]),
        json!("[1,2,3]"),
        json!("{\"type\":\"chat\",\"chat_id\":5}"),
        json!("\u{0}\u{d7ff}"),
        json!("HTML"),
        json!("MarkdownV2"),
        json!("https://x.y"),
        json!("attach://f"),
        json!(["a", "b"]),
        json!([{"command": "a", "description": "b"}]),
        json!({"type": "web_app", "text": "t", "web_app": {"url": "u"}}),
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let t = &p.bot_token;
    for _ in 0..400 {
        let method = methods[rng.random_range(0..methods.len())];
        let mut params = serde_json::Map::new();
        for _ in 0..rng.random_range(0..5) {
            params.insert(
                names[rng.random_range(0..names.len())].to_string(),
                values[rng.random_range(0..values.len())].clone(),
            );
        }
        let req = s.http.post(format!("{}/bot{t}/{method}", s.base));
        let req = if rng.random_bool(0.5) {
            req.json(&params)
        } else {
            let form: Vec<(String, String)> = params
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                .collect();
            req.form(&form)
        };
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or_else(|e| panic!("{method} {params:?}: not JSON: {e}"));
        assert!(status.as_u16() < 500, "{method} {params:?} → {status} {body}");
        if body["ok"] == json!(false) {
            assert_eq!(body["error_code"].as_u64(), Some(u64::from(status.as_u16())), "{method} {params:?}: {body}");
            assert!(body["description"].is_string(), "{body}");
        } else {
            assert_eq!(body["ok"], json!(true), "{method} {params:?}: {body}");
        }
    }
}
