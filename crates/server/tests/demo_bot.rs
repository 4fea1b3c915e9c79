//! Black-box tests of the demo bot of `serve --demo`: the demo user logs in through the client API,
//! talks to @plaza_demo_bot and watches its answers arrive on the WebSocket.

mod common;

use std::time::Duration;

use common::{Backend, TestServer, Ws, spawn_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    demo_bot_greets_echoes_and_answers_buttons,
    demo_bot_sends_keyboards_photos_polls_and_formatting,
    demo_bot_offers_its_mini_apps,
    demo_bot_sells_a_coffee_for_stars
);

const BOT: &str = "plaza_demo_bot";

/// A demo server, demo's session token, the bot's id (demo's chat id with it) and a WebSocket
/// that replays demo's updates from the start.
async fn demo(b: Backend) -> (TestServer, String, i64, Ws) {
    let s = spawn_with(b, |c| c.demo = true).await;
    let (st, body) = s
        .call(reqwest::Method::POST, "/api/v1/auth/login", None, Some(json!({"username":"demo","password":"demo"})))
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    let (st, bot) = s.get(&format!("/api/v1/users/{BOT}"), &token).await;
    assert_eq!(st, StatusCode::OK, "{bot}");
    let bot_id = bot["id"].as_i64().unwrap();
    let mut ws = s.ws(&token, Some(0)).await;
    assert_eq!(ws.next().await["type"], "hello");
    (s, token, bot_id, ws)
}

/// Reads frames until one of `kind` (`message_new`, `message_edited`) carries a message from the
/// bot that `wanted` accepts, and returns that message. Fails after 30 s.
async fn from_bot(ws: &mut Ws, bot: i64, kind: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let f = ws.next().await;
            if f["type"] == kind && f["message"]["from"]["id"] == bot && wanted(&f["message"]) {
                return f["message"].clone();
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no {kind} from the bot matched within 30 s"))
}

fn text(m: &Value) -> &str {
    m["text"].as_str().unwrap_or_default()
}

/// The inline buttons of a message as (label, action, value).
fn inline_buttons(m: &Value) -> Vec<(String, String, String)> {
    assert_eq!(m["reply_markup"]["type"], "inline_keyboard", "{m}");
    m["reply_markup"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .map(|b| {
            let s = |k: &str| b[k].as_str().unwrap_or_default().to_string();
            (s("text"), s("action"), s("value"))
        })
        .collect()
}

fn entity_types(m: &Value) -> Vec<String> {
    m["entities"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_string()).collect()
}

async fn press(s: &TestServer, token: &str, chat: i64, message: &Value, data: &str) -> Value {
    let id = message["message_id"].as_i64().unwrap();
    let (st, answer) =
        s.post(&format!("/api/v1/chats/{chat}/messages/{id}/callback"), token, json!({ "data": data })).await;
    assert_eq!(st, StatusCode::OK, "{answer}");
    assert_eq!(answer["answered"], true, "{answer}");
    answer
}

async fn demo_bot_greets_echoes_and_answers_buttons(b: Backend) {
    let (s, token, bot, mut ws) = demo(b).await;

    // Seeding started the bot for demo, and the bot answered that /start with its greeting.
    let greeting = from_bot(&mut ws, bot, "message_new", |m| text(m).starts_with("👋 Hi")).await;
    assert!(text(&greeting).contains("Demo User"), "{greeting}");
    for command in ["/buttons", "/keyboard", "/photo", "/poll", "/format", "/help"] {
        assert!(text(&greeting).contains(command), "{command} missing: {greeting}");
    }
    assert!(entity_types(&greeting).contains(&"bot_command".to_string()));
    let buttons = inline_buttons(&greeting);
    assert!(
        buttons.iter().any(|(_, action, value)| action == "callback_data" && value == "cmd:buttons"),
        "{buttons:?}"
    );

    // Its commands and profile texts are set for clients to show.
    let (st, info) = s.get(&format!("/api/v1/bots/{BOT}"), &token).await;
    assert_eq!(st, StatusCode::OK, "{info}");
    let commands: Vec<&str> =
        info["commands"].as_array().unwrap().iter().map(|c| c["command"].as_str().unwrap()).collect();
    assert_eq!(commands, ["start", "help", "buttons", "keyboard", "photo", "poll", "format", "apps", "shop"]);
    assert!(!info["description"].as_str().unwrap().is_empty());
    assert!(!info["short_description"].as_str().unwrap().is_empty());

    // /start typed, then any text: the greeting again, and the text echoed as a reply.
    s.send(&token, bot, "/start").await;
    from_bot(&mut ws, bot, "message_new", |m| text(m).starts_with("👋 Hi") && m["reply_markup"].is_object()).await;
    let said = s.send(&token, bot, "hello plaza").await;
    let echo = from_bot(&mut ws, bot, "message_new", |m| text(m).starts_with("You said:")).await;
    assert_eq!(text(&echo), "You said: hello plaza");
    assert_eq!(echo["reply_to_message_id"].as_i64(), Some(said));

    // A deep link's payload is named in the greeting.
    let (st, started) = s.post(&format!("/api/v1/bots/{BOT}/start"), &token, json!({"payload":"from_test"})).await;
    assert_eq!(st, StatusCode::OK, "{started}");
    assert_eq!(started["message"]["text"], "/start from_test");
    from_bot(&mut ws, bot, "message_new", |m| text(m).contains("You came from a link with start=from_test")).await;

    // /buttons: an alert, a toast, a counter that edits the message, a link.
    s.send(&token, bot, "/buttons").await;
    let menu = from_bot(&mut ws, bot, "message_new", |m| text(m).starts_with("Buttons under a message")).await;
    let buttons = inline_buttons(&menu);
    for (action, value) in [("callback_data", "alert"), ("callback_data", "toast"), ("callback_data", "count:0")] {
        assert!(buttons.iter().any(|(_, a, v)| a == action && v == value), "{value} missing: {buttons:?}");
    }
    assert!(buttons.iter().any(|(_, a, v)| a == "url" && v.starts_with("https://")), "{buttons:?}");
    let alert = press(&s, &token, bot, &menu, "alert").await;
    assert_eq!(alert["show_alert"], true, "{alert}");
    assert!(!alert["text"].as_str().unwrap_or_default().is_empty(), "{alert}");
    let toast = press(&s, &token, bot, &menu, "toast").await;
    assert_eq!(toast["show_alert"], false, "{toast}");
    assert!(!toast["text"].as_str().unwrap_or_default().is_empty(), "{toast}");
    press(&s, &token, bot, &menu, "count:0").await;
    let counted = from_bot(&mut ws, bot, "message_edited", |m| m["message_id"] == menu["message_id"]).await;
    assert!(text(&counted).ends_with("Presses so far: 1"), "{counted}");
    assert!(inline_buttons(&counted).iter().any(|(_, _, v)| v == "count:1"));

    // A button of the greeting runs its command.
    press(&s, &token, bot, &greeting, "cmd:format").await;
    from_bot(&mut ws, bot, "message_new", |m| text(m).starts_with("Bold, italic")).await;

    // The bot's long poll ends with the server.
    let mut s = s;
    s.stop().await;
}

async fn demo_bot_sends_keyboards_photos_polls_and_formatting(b: Backend) {
    let (s, token, bot, mut ws) = demo(b).await;
    from_bot(&mut ws, bot, "message_new", |m| text(m).starts_with("👋 Hi")).await;

    // /keyboard: a reply keyboard; pressing a button sends its text, the answer removes it.
    s.send(&token, bot, "/keyboard").await;
    let offer = from_bot(&mut ws, bot, "message_new", |m| m["reply_markup"]["type"] == "keyboard").await;
    let markup = &offer["reply_markup"];
    assert_eq!((markup["resize"].as_bool(), markup["one_time"].as_bool()), (Some(true), Some(true)), "{offer}");
    let first = markup["rows"][0][0]["text"].as_str().unwrap().to_string();
    let pressed = s.send(&token, bot, &first).await;
    let thanks = from_bot(&mut ws, bot, "message_new", |m| m["reply_markup"]["type"] == "remove_keyboard").await;
    assert!(text(&thanks).starts_with(&first), "{thanks}");
    assert_eq!(thanks["reply_to_message_id"].as_i64(), Some(pressed));

    // /photo: a PNG the bot drew, with a caption.
    s.send(&token, bot, "/photo").await;
    let photo = from_bot(&mut ws, bot, "message_new", |m| m["media"]["kind"] == "photo").await;
    let media = &photo["media"];
    assert_eq!((media["width"].as_u64(), media["height"].as_u64()), (Some(320), Some(200)), "{photo}");
    assert_eq!(media["mime_type"], "image/png");
    assert!(!text(&photo).is_empty());
    let file = s
        .http
        .get(format!("{}/api/v1/files/{}", s.base, media["file_id"].as_str().unwrap()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    let bytes = file.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert_eq!(bytes.len() as u64, media["size"].as_u64().unwrap());

    // /poll: a regular poll that names its voters; a vote is acknowledged.
    s.send(&token, bot, "/poll").await;
    let poll = from_bot(&mut ws, bot, "message_new", |m| m["poll"].is_object()).await;
    assert_eq!((poll["poll"]["is_anonymous"].as_bool(), poll["poll"]["kind"].as_str()), (Some(false), Some("regular")));
    let option = poll["poll"]["options"][1]["text"].as_str().unwrap().to_string();
    let id = poll["message_id"].as_i64().unwrap();
    let (st, voted) =
        s.post(&format!("/api/v1/chats/{bot}/messages/{id}/vote"), &token, json!({"option_ids":[1]})).await;
    assert_eq!(st, StatusCode::OK, "{voted}");
    let ack = from_bot(&mut ws, bot, "message_new", |m| text(m).starts_with("Thanks for voting")).await;
    assert!(text(&ack).contains(&option), "{ack}");

    // /format: entities of every kind.
    s.send(&token, bot, "/format").await;
    let formatted = from_bot(&mut ws, bot, "message_new", |m| text(m).starts_with("Bold, italic")).await;
    let kinds = entity_types(&formatted);
    for kind in ["bold", "italic", "code", "pre", "text_link", "spoiler"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing: {kinds:?}");
    }

    // A document: acknowledged with its name and size.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"some notes\n".to_vec())
            .file_name("notes.txt")
            .mime_str("text/plain")
            .unwrap(),
    );
    let r =
        s.http.post(format!("{}/api/v1/chats/{bot}/files", s.base)).bearer_auth(&token).multipart(form).send().await;
    let sent: Value = r.unwrap().json().await.unwrap();
    let ack = from_bot(&mut ws, bot, "message_new", |m| text(m).starts_with("📎")).await;
    assert!(text(&ack).contains("notes.txt") && text(&ack).contains("11 bytes"), "{ack}");
    assert_eq!(ack["reply_to_message_id"], sent["message_id"]);

    // A command it does not know.
    s.send(&token, bot, "/nope").await;
    from_bot(&mut ws, bot, "message_new", |m| text(m).starts_with("I don't know /nope")).await;
}

async fn demo_bot_offers_its_mini_apps(b: Backend) {
    let (s, token, bot, mut ws) = demo(b).await;
    from_bot(&mut ws, bot, "message_new", |m| text(m).starts_with("👋 Hi")).await;
    let origin = |app: &str| format!("http://{app}.plaza-demo-bot.localhost:{}/", s.addr.port());

    // The café is the bot's main app and its menu button; both apps are deployed and served.
    let (_, info) = s.get(&format!("/api/v1/bots/{BOT}"), &token).await;
    assert_eq!(info["menu_button"]["type"], "web_app", "{info}");
    assert_eq!(info["menu_button"]["url"].as_str(), Some(origin("shop").as_str()));
    for app in ["shop", "todo"] {
        let r = s
            .http
            .get(format!("{}/", s.base))
            .header("host", format!("{app}.plaza-demo-bot.localhost:{}", s.addr.port()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let page = r.text().await.unwrap();
        assert!(page.contains("/js/telegram-web-app.js"), "{app}: {page}");
    }
    let (st, main) = s.post("/api/v1/webapps/launch", &token, json!({"bot_username": BOT, "source": "link"})).await;
    assert_eq!((st, main["url"].as_str()), (StatusCode::OK, Some(origin("shop").as_str())), "{main}");

    // /apps: inline buttons for both, then a keyboard button that opens the café for sendData.
    s.send(&token, bot, "/apps").await;
    let offer = from_bot(&mut ws, bot, "message_new", |m| m["reply_markup"]["type"] == "inline_keyboard").await;
    let buttons = inline_buttons(&offer);
    for app in ["shop", "todo"] {
        assert!(buttons.iter().any(|(_, a, v)| a == "web_app" && *v == origin(app)), "{app}: {buttons:?}");
    }
    let keyboard = from_bot(&mut ws, bot, "message_new", |m| m["reply_markup"]["type"] == "keyboard").await;
    let button = &keyboard["reply_markup"]["rows"][0][0];
    assert_eq!(
        (button["request"].as_str(), button["value"].as_str()),
        (Some("web_app"), Some(origin("shop").as_str())),
        "{keyboard}"
    );
    let (st, launch) = s
        .post(
            "/api/v1/webapps/launch",
            &token,
            json!({"bot_username": BOT, "source": "keyboard_button", "chat_id": bot, "message_id": keyboard["message_id"], "url": origin("shop")}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{launch}");

    // The café's order, sent with sendData, is read back by the bot.
    let order = json!({"items": [{"id": "flat_white", "name": "Flat white", "qty": 2, "price": 340}], "total": 680, "currency": "EUR", "comment": "no sugar"});
    let (st, _) = s
        .post("/api/v1/webapps/data", &token, json!({"launch_id": launch["launch_id"], "data": order.to_string()}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let receipt = from_bot(&mut ws, bot, "message_new", |m| text(m).starts_with("🧾 Order received")).await;
    for part in ["2 × Flat white — 6.80 EUR", "Total: 6.80 EUR", "Note: no sugar"] {
        assert!(text(&receipt).contains(part), "{part} missing: {receipt}");
    }
    let (st, _) = s.post("/api/v1/webapps/launch", &token, json!({"bot_username": BOT, "source": "keyboard_button", "chat_id": bot, "message_id": keyboard["message_id"], "url": "https://elsewhere.example/"})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

async fn demo_bot_sells_a_coffee_for_stars(b: Backend) {
    let (s, token, bot, mut ws) = demo(b).await;
    from_bot(&mut ws, bot, "message_new", |m| text(m).starts_with("👋 Hi")).await;
    s.send(&token, bot, "/shop").await;
    let invoice = from_bot(&mut ws, bot, "message_new", |m| m["invoice"].is_object()).await;
    assert_eq!(
        (invoice["invoice"]["currency"].as_str(), invoice["invoice"]["total_amount"].as_i64()),
        (Some("XTR"), Some(5))
    );
    assert_eq!(invoice["reply_markup"]["rows"][0][0]["action"], "pay", "{invoice}");
    let slug = invoice["invoice"]["slug"].as_str().unwrap();
    // The demo is a sandbox: the wallet tops up for free.
    let (st, _) = s.post("/api/v1/stars/topup", &token, json!({"amount": 10, "key": "demo"})).await;
    assert_eq!(st, StatusCode::OK);
    let (st, paid) = s.post(&format!("/api/v1/invoices/{slug}/pay"), &token, json!({"key": "k"})).await;
    assert_eq!((st, paid["state"].as_str()), (StatusCode::OK, Some("paid")), "{paid}");
    from_bot(&mut ws, bot, "message_new", |m| text(m).starts_with("☕ Thanks!")).await;
    s.send(&token, bot, "/refund").await;
    from_bot(&mut ws, bot, "message_new", |m| text(m).starts_with("Refunded: 5")).await;
    let (_, wallet) = s.get("/api/v1/stars", &token).await;
    assert_eq!(wallet["balance"], 10, "{wallet}");
}
