//! Launching mini apps through the client API: where an app may be opened from, and init data
//! that the bot's backend (HMAC with the token) and anyone with the bot id (Ed25519 with the
//! published key) can check, with the fields Telegram gives for each kind of launch. The checks
//! are made by the real libraries bot backends use: aiogram and @telegram-apps/init-data-node.

mod common;

use common::proc::repo_root;
use common::{Backend, TestServer, spawn};
use plaza_service::webapp::{verify_hash, verify_signature, webapp_key};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(launches_are_checked_and_signed);

const MENU_URL: &str = "https://shop.example/menu";
const INLINE_URL: &str = "https://shop.example/inline";
const KEYBOARD_URL: &str = "https://shop.example/keyboard";
const LINK_URL: &str = "https://shop.example/app#section";

async fn bot_call(s: &TestServer, token: &str, method: &str, body: Value) -> Value {
    let r = s.http.post(format!("{}/bot{token}/{method}", s.base)).json(&body).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["ok"], true, "{method}: {v}");
    v["result"].clone()
}

/// Runs a checker from `tests/clients/` with `input` on its standard input; returns its JSON answer.
fn run_checker(program: &std::path::Path, script: &str, dir: &str, input: &Value) -> Value {
    use std::io::Write;
    let hint = "run scripts/test, which installs aiogram and @telegram-apps/init-data-node first";
    let mut child = std::process::Command::new(program)
        .arg(script)
        .current_dir(repo_root().join(dir))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} {script}: {e} ({hint})", program.display()));
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{script} failed ({hint}): {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{script} printed {:?}", String::from_utf8_lossy(&out.stdout)))
}

/// What aiogram (Python) and @telegram-apps/init-data-node (JavaScript), as a bot's backend uses
/// them, make of init data: both must accept `hash` with the bot's token, and aiogram `signature`
/// with the published key.
fn check_with_real_libraries(token: &str, bot_id: i64, public_key: &str, init_data: &str) -> (Value, Value) {
    let python = repo_root().join("target/clients/venv/bin/python");
    let aiogram = run_checker(
        &python,
        "check_init_data.py",
        "tests/clients/python",
        &json!({"token": token, "bot_id": bot_id, "public_key": public_key, "init_data": init_data}),
    );
    assert_eq!(
        (
            &aiogram["hash_ok"],
            &aiogram["hash_ok_other_token"],
            &aiogram["signature_ok"],
            &aiogram["signature_ok_other_bot"]
        ),
        (&json!(true), &json!(false), &json!(true), &json!(false)),
        "aiogram: {aiogram}"
    );
    let node = run_checker(
        std::path::Path::new("node"),
        "check_init_data.mjs",
        "tests/clients/node",
        &json!({"token": token, "init_data": init_data}),
    );
    assert_eq!((&node["valid"], &node["valid_other_token"]), (&json!(true), &json!(false)), "init-data-node: {node}");
    (aiogram, node)
}

/// The decoded `key=value` fields of init data.
fn fields(init_data: &str) -> std::collections::BTreeMap<String, String> {
    url::form_urlencoded::parse(init_data.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

async fn launches_are_checked_and_signed(b: Backend) {
    let s = spawn(b).await;
    let (ann, ann_id) = s.signup("ann").await;
    let (ben, _) = s.signup("ben").await;
    let (token, bot_id) = s.create_bot("shop_bot", "ann").await;
    let (st, key) = s.call(reqwest::Method::GET, "/api/v1/webapps/public_key", None, None).await;
    assert_eq!(st, StatusCode::OK);
    let hex = key["public_key"].as_str().unwrap();
    let bytes: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
    let public = ed25519_dalek::VerifyingKey::from_bytes(&bytes.try_into().unwrap()).unwrap();
    let check = |init: &str| {
        assert!(verify_hash(init, &webapp_key(&token)), "hash of {init}");
        assert!(verify_signature(init, bot_id, &public), "signature of {init}");
        assert!(!verify_signature(init, bot_id + 1, &public));
        fields(init)
    };
    let launch = |who: &str, body: Value| {
        let who = who.to_string();
        let s = &s;
        async move { s.post("/api/v1/webapps/launch", &who, body).await }
    };
    let (st, _) = s.post("/api/v1/bots/shop_bot/start", &ann, json!({})).await;
    assert_eq!(st, StatusCode::OK);

    // The menu button: query_id, user, auth_date.
    bot_call(
        &s,
        &token,
        "setChatMenuButton",
        json!({"menu_button": {"type": "web_app", "text": "Shop", "web_app": {"url": MENU_URL}}}),
    )
    .await;
    let (st, menu) = launch(&ann, json!({"bot_username": "shop_bot", "source": "menu_button", "url": MENU_URL})).await;
    assert_eq!(st, StatusCode::OK, "{menu}");
    let f = check(menu["init_data"].as_str().unwrap());
    let user: Value = serde_json::from_str(&f["user"]).unwrap();
    assert_eq!((user["id"].as_i64(), user["username"].as_str()), (Some(ann_id), Some("ann")));
    assert_eq!(f["query_id"], menu["query_id"].as_str().unwrap());
    assert_eq!(f["auth_date"], "1800000000");
    assert!(!f.contains_key("chat_type"));
    let launch_url = menu["launch_url"].as_str().unwrap();
    let encoded: String =
        url::form_urlencoded::byte_serialize(menu["init_data"].as_str().unwrap().as_bytes()).collect();
    assert!(launch_url.starts_with(&format!("{MENU_URL}#tgWebAppData=")), "{launch_url}");
    assert!(launch_url.contains("&tgWebAppVersion=") && launch_url.contains("&tgWebAppPlatform=weba"), "{launch_url}");
    // The fragment holds the init data encoded once more (Telegram's double encoding).
    let data = launch_url.split("tgWebAppData=").nth(1).unwrap().split('&').next().unwrap();
    let once: String = url::form_urlencoded::parse(format!("d={data}").as_bytes()).next().unwrap().1.into_owned();
    assert_eq!(once, menu["init_data"].as_str().unwrap(), "{encoded}");
    let (aiogram, node) = check_with_real_libraries(&token, bot_id, hex, menu["init_data"].as_str().unwrap());
    assert_eq!((aiogram["user_id"].as_i64(), node["user_id"].as_i64()), (Some(ann_id), Some(ann_id)));
    assert_eq!((&aiogram["query_id"], &node["query_id"]), (&menu["query_id"], &menu["query_id"]));
    let (st, e) =
        launch(&ann, json!({"bot_username": "shop_bot", "source": "menu_button", "url": "https://evil.example/"}))
            .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");

    // An inline button on the bot's message in the private chat.
    let sent = bot_call(
        &s,
        &token,
        "sendMessage",
        json!({"chat_id": ann_id, "text": "Open the shop", "reply_markup": {"inline_keyboard": [[{"text": "Shop", "web_app": {"url": INLINE_URL}}]]}}),
    )
    .await;
    let message_id = sent["message_id"].as_i64().unwrap();
    let inline = json!({"bot_username": "shop_bot", "source": "inline_button", "chat_id": bot_id, "message_id": message_id, "url": INLINE_URL});
    let (st, r) = launch(&ann, inline.clone()).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let f = check(r["init_data"].as_str().unwrap());
    assert!(f.contains_key("query_id") && f.contains_key("user") && f.contains_key("signature"));
    assert_ne!(r["query_id"], menu["query_id"], "every launch has its own query id");
    let mut wrong_url = inline.clone();
    wrong_url["url"] = json!("https://shop.example/other");
    assert_eq!(launch(&ann, wrong_url).await.0, StatusCode::BAD_REQUEST);
    // Someone else cannot open it through ann's chat.
    assert_eq!(launch(&ben, inline.clone()).await.0, StatusCode::NOT_FOUND);
    let mut wrong_kind = inline.clone();
    wrong_kind["source"] = json!("keyboard_button");
    assert_eq!(launch(&ann, wrong_kind).await.0, StatusCode::BAD_REQUEST);

    // A reply-keyboard button: no init data (as Telegram), but a launch to send data from.
    let sent = bot_call(
        &s,
        &token,
        "sendMessage",
        json!({"chat_id": ann_id, "text": "Pick", "reply_markup": {"keyboard": [[{"text": "Order", "web_app": {"url": KEYBOARD_URL}}]]}}),
    )
    .await;
    let (st, r) = launch(
        &ann,
        json!({"bot_username": "shop_bot", "source": "keyboard_button", "chat_id": bot_id, "message_id": sent["message_id"], "url": KEYBOARD_URL}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["init_data"], "");
    assert!(r["query_id"].is_null() && !r["launch_id"].as_str().unwrap().is_empty());

    // Only that launch may sendData, once, and only its opener; the bot gets web_app_data.
    let keyboard_launch = r["launch_id"].as_str().unwrap().to_string();
    let data = |launch: &str, data: &str| json!({"launch_id": launch, "data": data});
    let (_, inline_launch) = launch(&ann, inline.clone()).await;
    let inline_launch = inline_launch["launch_id"].as_str().unwrap();
    for (who, body, status) in [
        (&ann, data(inline_launch, "x"), StatusCode::BAD_REQUEST),
        (&ben, data(&keyboard_launch, "x"), StatusCode::NOT_FOUND),
        (&ann, data(&keyboard_launch, &"x".repeat(4097)), StatusCode::BAD_REQUEST),
        (&ann, data(&keyboard_launch, ""), StatusCode::BAD_REQUEST),
        (&ann, data("no-such-launch", "x"), StatusCode::NOT_FOUND),
    ] {
        let (st, e) = s.post("/api/v1/webapps/data", who, body.clone()).await;
        assert_eq!(st, status, "{body}: {e}");
    }
    let (st, sent) = s.post("/api/v1/webapps/data", &ann, data(&keyboard_launch, r#"{"size":"L"}"#)).await;
    assert_eq!(st, StatusCode::OK, "{sent}");
    assert_eq!(sent["service"], json!({"type": "web_app_data", "button_text": "Order"}));
    assert_eq!(sent["chat_id"], bot_id);
    let (st, _) = s.post("/api/v1/webapps/data", &ann, data(&keyboard_launch, "again")).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "sendData works once");
    let updates = bot_call(&s, &token, "getUpdates", json!({})).await;
    let got: Vec<&Value> = updates
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["message"]["web_app_data"].as_object().map(|_| u))
        .collect();
    assert_eq!(got.len(), 1, "{updates}");
    assert_eq!(got[0]["message"]["web_app_data"], json!({"data": r#"{"size":"L"}"#, "button_text": "Order"}));
    assert_eq!(got[0]["message"]["from"]["id"], ann_id);

    // Links: a registered app, the main app, a start parameter, and a launch in a group.
    s.service.register_webapp("shop_bot", "shop", "Shop", LINK_URL, "", true).await.unwrap();
    let (st, r) = launch(
        &ann,
        json!({"bot_username": "shop_bot", "source": "link", "short_name": "shop", "start_param": "promo-7", "chat_id": bot_id}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let f = check(r["init_data"].as_str().unwrap());
    assert_eq!((f["chat_type"].as_str(), f["start_param"].as_str()), ("sender", "promo-7"));
    assert!(f["chat_instance"].parse::<i64>().is_ok() && !f.contains_key("query_id"));
    let launch_url = r["launch_url"].as_str().unwrap();
    assert!(
        launch_url.starts_with("https://shop.example/app?tgWebAppStartParam=promo-7#section&tgWebAppData="),
        "{launch_url}"
    );
    let (st, main) = launch(&ann, json!({"bot_username": "shop_bot", "source": "link"})).await;
    assert_eq!((st, main["url"].as_str()), (StatusCode::OK, Some(LINK_URL)));
    assert_eq!(fields(main["init_data"].as_str().unwrap())["chat_type"], "sender");
    let (st, group) = s.post("/api/v1/chats/group", &ann, json!({"title": "Shoppers", "members": ["ben"]})).await;
    assert_eq!(st, StatusCode::OK);
    let group_id = group["id"].as_i64().unwrap();
    let (st, r) =
        launch(&ben, json!({"bot_username": "shop_bot", "source": "link", "short_name": "shop", "chat_id": group_id}))
            .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let f = check(r["init_data"].as_str().unwrap());
    let chat: Value = serde_json::from_str(&f["chat"]).unwrap();
    assert_eq!(chat, json!({"id": group_id, "type": "group", "title": "Shoppers"}));
    assert_eq!(f["chat_type"], "group");
    let (_, ann_view) =
        launch(&ann, json!({"bot_username": "shop_bot", "source": "link", "short_name": "shop", "chat_id": group_id}))
            .await;
    assert_eq!(
        fields(ann_view["init_data"].as_str().unwrap())["chat_instance"],
        f["chat_instance"],
        "one chat, one instance"
    );
    let (aiogram, _) = check_with_real_libraries(&token, bot_id, hex, r["init_data"].as_str().unwrap());
    assert_eq!((aiogram["chat_type"].as_str(), aiogram["chat_title"].as_str()), (Some("group"), Some("Shoppers")));

    // Bad input.
    for (body, status) in [
        (json!({"bot_username": "shop_bot", "source": "link", "short_name": "nope"}), StatusCode::NOT_FOUND),
        (json!({"bot_username": "shop_bot", "source": "teleport"}), StatusCode::BAD_REQUEST),
        (json!({"bot_username": "shop_bot", "source": "link", "start_param": "a b"}), StatusCode::BAD_REQUEST),
        (json!({"bot_username": "ben", "source": "link"}), StatusCode::NOT_FOUND),
        (json!({"bot_username": "shop_bot", "source": "inline_button"}), StatusCode::BAD_REQUEST),
        (json!({"bot_username": "shop_bot", "source": "link", "chat_id": 424242}), StatusCode::NOT_FOUND),
    ] {
        let (st, e) = launch(&ann, body.clone()).await;
        assert_eq!(st, status, "{body}: {e}");
        assert!(e["error"]["message"].is_string(), "{e}");
    }
    let (st, _) = s.call(reqwest::Method::POST, "/api/v1/webapps/launch", None, Some(json!({}))).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}
