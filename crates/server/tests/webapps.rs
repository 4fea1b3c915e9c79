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

on_both_backends!(
    launches_are_checked_and_signed,
    hosted_apps_deploy_serve_and_roll_back,
    bridge_calls_reach_the_server
);

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
    let kb_url = r["launch_url"].as_str().unwrap();
    assert!(kb_url.starts_with(&format!("{KEYBOARD_URL}#tgWebAppVersion=")), "no empty tgWebAppData: {kb_url}");

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
    s.service.register_webapp("shop_bot", "shop", "Shop", Some(LINK_URL), "", true).await.unwrap();
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

/// A `.tar.gz` of `files`, as `tar czf` makes one.
fn tar_gz(files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (path, body) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append_data(&mut header, path, body.as_bytes()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// A raw tar holding one entry whose name is `name` as given (no checks by the tar builder).
fn tar_with_raw_name(name: &str, body: &str) -> Vec<u8> {
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(body.as_bytes());
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

async fn deploy(s: &TestServer, who: &str, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let r = s
        .http
        .post(format!("{}{path}", s.base))
        .bearer_auth(who)
        .header("content-type", "application/gzip")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A GET to an app's origin: the server is asked with the app's host name, as a browser asks.
async fn app_get(s: &TestServer, host: &str, path: &str) -> (StatusCode, String, String) {
    let r = s
        .http
        .get(format!("{}{path}", s.base))
        .header("host", format!("{host}:{}", s.addr.port()))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

async fn hosted_apps_deploy_serve_and_roll_back(b: Backend) {
    let s = spawn(b).await;
    let (ann, _) = s.signup("ann").await;
    let (ben, _) = s.signup("ben").await;
    let (_, _) = s.create_bot("shop_bot", "ann").await;
    let versions = "/api/v1/bots/shop_bot/apps/my_shop/versions";
    let v1 = tar_gz(&[
        ("dist/index.html", "<h1>v1</h1>"),
        ("dist/app.js", "console.log(1)"),
        ("dist/img/logo.svg", "<svg/>"),
    ]);

    // Only the bot's owner may deploy; the first deploy registers the app.
    let (st, _) = deploy(&s, &ben, versions, v1.clone()).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "ben does not own shop_bot");
    let (st, v) = deploy(&s, &ann, versions, v1.clone()).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!((v["version"].as_u64(), v["files"].as_u64()), (Some(1), Some(3)));
    let (st, again) = deploy(&s, &ann, versions, v1.clone()).await;
    assert_eq!((st, again["version"].as_u64()), (StatusCode::OK, Some(1)), "the same bundle again is no new version");

    // Served on its own origin, and nothing but the app is reachable there.
    let host = "my-shop.shop-bot.localhost";
    let (st, ct, body) = app_get(&s, host, "/").await;
    assert_eq!((st, ct.as_str(), body.as_str()), (StatusCode::OK, "text/html; charset=utf-8", "<h1>v1</h1>"));
    let (st, ct, _) = app_get(&s, host, "/app.js").await;
    assert_eq!((st, ct.as_str()), (StatusCode::OK, "text/javascript; charset=utf-8"));
    assert_eq!(app_get(&s, host, "/img/logo.svg").await.1, "image/svg+xml");
    assert_eq!(app_get(&s, host, "/orders/42").await.2, "<h1>v1</h1>", "an app route gets index.html");
    assert_eq!(app_get(&s, host, "/missing.png").await.0, StatusCode::NOT_FOUND);
    assert_eq!(app_get(&s, host, "/api/v1/me").await.2, "<h1>v1</h1>", "the client API is not on an app's origin");
    let (st, ct, script) = app_get(&s, host, "/js/telegram-web-app.js").await;
    assert_eq!((st, ct.as_str()), (StatusCode::OK, "text/javascript; charset=utf-8"));
    assert!(script.contains("Telegram"), "Plaza's telegram-web-app.js");
    assert_eq!(app_get(&s, "other.shop-bot.localhost", "/").await.0, StatusCode::NOT_FOUND);
    let r = s
        .http
        .post(format!("{}/api/v1/auth/login", s.base))
        .header("host", format!("{host}:{}", s.addr.port()))
        .json(&json!({"username": "ann", "password": "secret-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "an app's origin serves files only");
    let r = s.http.get(format!("{}/js/telegram-web-app.js", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the script is on the client's origin too");

    // The app opens at its origin from a link, and its owner sees it listed.
    let (st, apps) = s.get("/api/v1/bots/shop_bot/apps", &ann).await;
    assert_eq!(st, StatusCode::OK);
    let origin = format!("http://{host}:{}/", s.addr.port());
    assert_eq!(apps[0]["opens_at"].as_str(), Some(origin.as_str()), "{apps}");
    assert_eq!(s.get("/api/v1/bots/shop_bot/apps", &ben).await.0, StatusCode::NOT_FOUND);
    let (st, r) = s
        .post(
            "/api/v1/webapps/launch",
            &ben,
            json!({"bot_username": "shop_bot", "source": "link", "short_name": "my_shop"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert!(r["launch_url"].as_str().unwrap().starts_with(&format!("{origin}#tgWebAppData=")), "{r}");

    // A new version goes live at once; rollback brings the old one back, or any one asked for.
    let (_, v) = deploy(&s, &ann, versions, tar_gz(&[("index.html", "<h1>v2</h1>")])).await;
    assert_eq!(v["version"], 2);
    assert_eq!(app_get(&s, host, "/").await.2, "<h1>v2</h1>");
    assert_eq!(app_get(&s, host, "/app.js").await.0, StatusCode::NOT_FOUND, "v2 has no app.js");
    let rollback = "/api/v1/bots/shop_bot/apps/my_shop/rollback";
    let (st, r) = s.post(rollback, &ann, json!({})).await;
    assert_eq!((st, r["app"]["live_version"].as_u64()), (StatusCode::OK, Some(1)), "{r}");
    assert_eq!(app_get(&s, host, "/").await.2, "<h1>v1</h1>");
    assert_eq!(r["versions"].as_array().unwrap().len(), 2);
    let (st, _) = s.post(rollback, &ann, json!({"version": 2})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(app_get(&s, host, "/").await.2, "<h1>v2</h1>");
    assert_eq!(s.post(rollback, &ann, json!({"version": 9})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(s.post(rollback, &ben, json!({})).await.0, StatusCode::NOT_FOUND);

    // Bundles that are not accepted, and nothing changes for them.
    for (body, why) in [
        (tar_gz(&[("app.js", "x")]), "no index.html"),
        (tar_with_raw_name("../index.html", "x"), "a path outside the bundle"),
        (tar_with_raw_name("/etc/index.html", "x"), "an absolute path"),
        (b"this is not an archive, only some text that goes on".to_vec(), "not an archive"),
        (Vec::new(), "empty"),
    ] {
        let (st, e) = deploy(&s, &ann, versions, body).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{why}: {e}");
        assert!(e["error"]["message"].is_string(), "{why}: {e}");
    }
    assert_eq!(app_get(&s, host, "/").await.2, "<h1>v2</h1>");
    let (st, _) = deploy(&s, &ann, "/api/v1/bots/shop_bot/apps/x/versions", tar_gz(&[("index.html", "x")])).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "short names have 3 to 30 characters");

    // Registering an app hosted elsewhere, through the same API.
    let (st, r) = s
        .post(
            "/api/v1/bots/shop_bot/apps",
            &ann,
            json!({"short_name": "ext", "title": "External", "url": "https://ext.example/"}),
        )
        .await;
    assert_eq!((st, r["opens_at"].as_str()), (StatusCode::OK, Some("https://ext.example/")), "{r}");
    let (st, _) = s
        .post("/api/v1/bots/shop_bot/apps", &ann, json!({"short_name": "bad", "title": "B", "url": "javascript:x"}))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

async fn bridge_calls_reach_the_server(b: Backend) {
    let s = spawn(b).await;
    let (ann, ann_id) = s.signup("ann").await;
    let (ben, ben_id) = s.signup("ben").await;
    let (token, bot_id) = s.create_bot("shop_bot", "ann").await;
    let (other_token, _) = s.create_bot("other_bot", "ann").await;
    let _ = other_token;
    assert_eq!(s.post("/api/v1/bots/shop_bot/start", &ann, json!({})).await.0, StatusCode::OK);
    assert_eq!(s.post("/api/v1/bots/shop_bot/start", &ben, json!({})).await.0, StatusCode::OK);
    bot_call(&s, &token, "getUpdates", json!({})).await;
    bot_call(
        &s,
        &token,
        "setChatMenuButton",
        json!({"menu_button": {"type": "web_app", "text": "Shop", "web_app": {"url": MENU_URL}}}),
    )
    .await;
    let launch = |who: &str, bot: &str| {
        let (who, bot) = (who.to_string(), bot.to_string());
        let s = &s;
        async move {
            let (st, r) = s
                .post(
                    "/api/v1/webapps/launch",
                    &who,
                    json!({"bot_username": bot, "source": "menu_button", "chat_id": bot_id}),
                )
                .await;
            assert_eq!(st, StatusCode::OK, "{r}");
            r
        }
    };
    let menu = launch(&ann, "shop_bot").await;
    let launch_id = menu["launch_id"].as_str().unwrap().to_string();
    let invoke = |who: &str, launch: &str, method: &str, params: Value| {
        let body = json!({"launch_id": launch, "method": method, "params": params});
        let who = who.to_string();
        let s = &s;
        async move { s.post("/api/v1/webapps/invoke", &who, body).await }
    };

    // CloudStorage: per user and bot, with Telegram's limits.
    let (st, r) = invoke(&ann, &launch_id, "saveStorageValue", json!({"key": "todo_1", "value": "milk"})).await;
    assert_eq!((st, &r), (StatusCode::OK, &json!({"result": true})));
    invoke(&ann, &launch_id, "saveStorageValue", json!({"key": "todo_2", "value": ""})).await;
    let (_, r) = invoke(&ann, &launch_id, "getStorageValues", json!({"keys": ["todo_1", "todo_2", "nope"]})).await;
    assert_eq!(r, json!({"result": {"todo_1": "milk", "todo_2": ""}}));
    let (_, r) = invoke(&ann, &launch_id, "getStorageKeys", json!({})).await;
    assert_eq!(r, json!({"result": ["todo_1", "todo_2"]}));
    for (method, params, error) in [
        ("saveStorageValue", json!({"key": "bad key", "value": "x"}), "KEY_INVALID"),
        ("saveStorageValue", json!({"key": "k", "value": "x".repeat(4097)}), "VALUE_TOO_LONG"),
        ("getStorageValues", json!({"keys": []}), "KEYS_INVALID"),
        ("launchMissiles", json!({}), "METHOD_NOT_FOUND"),
    ] {
        let (st, r) = invoke(&ann, &launch_id, method, params).await;
        assert_eq!((st, r["error"].as_str()), (StatusCode::OK, Some(error)), "{method}: {r}");
    }
    let (st, _) = invoke(&ben, &launch_id, "getStorageKeys", json!({})).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "ben can't use ann's launch");
    let ben_launch = launch(&ben, "shop_bot").await;
    let (_, r) = invoke(&ben, ben_launch["launch_id"].as_str().unwrap(), "getStorageKeys", json!({})).await;
    assert_eq!(r, json!({"result": []}), "ben's storage is his own");
    invoke(&ann, &launch_id, "deleteStorageValues", json!({"keys": ["todo_2"]})).await;
    let (_, r) = invoke(&ann, &launch_id, "getStorageKeys", json!({})).await;
    assert_eq!(r, json!({"result": ["todo_1"]}));
    // At most 1024 keys per user and bot: the 1025th is refused, changing a kept one is not.
    for i in 0..1023 {
        let (_, r) = invoke(&ann, &launch_id, "saveStorageValue", json!({"key": format!("k{i}"), "value": "v"})).await;
        assert_eq!(r["result"], true, "{i}: {r}");
    }
    let (_, r) = invoke(&ann, &launch_id, "saveStorageValue", json!({"key": "one_too_many", "value": "v"})).await;
    assert_eq!(r["error"], "STORAGE_KEYS_TOO_MUCH");
    let (_, r) = invoke(&ann, &launch_id, "saveStorageValue", json!({"key": "k7", "value": "changed"})).await;
    assert_eq!(r["result"], true);

    // requestWriteAccess: the bot learns it may write.
    let (st, _) = s.post("/api/v1/webapps/write_access", &ann, json!({"launch_id": launch_id})).await;
    assert_eq!(st, StatusCode::OK);
    let updates = bot_call(&s, &token, "getUpdates", json!({"offset": -1})).await;
    assert_eq!(updates[0]["message"]["write_access_allowed"], json!({"from_request": true}), "{updates}");

    // requestContact: without a number one must be given; the bot gets a contact message and the
    // app reads it back signed with the bot's token.
    let (_, r) = invoke(&ann, &launch_id, "getRequestedContact", json!({})).await;
    assert_eq!(r["result"], "", "nothing shared yet");
    let (st, e) = s.post("/api/v1/webapps/contact", &ann, json!({"launch_id": launch_id})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let (st, e) = s.post("/api/v1/webapps/contact", &ann, json!({"launch_id": launch_id, "phone_number": "12"})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let (st, m) =
        s.post("/api/v1/webapps/contact", &ann, json!({"launch_id": launch_id, "phone_number": "+15551234567"})).await;
    assert_eq!(st, StatusCode::OK, "{m}");
    assert_eq!(m["service"]["type"], "contact");
    let updates = bot_call(&s, &token, "getUpdates", json!({"offset": -1})).await;
    assert_eq!(
        updates[0]["message"]["contact"],
        json!({"phone_number": "+15551234567", "first_name": "ann", "user_id": ann_id}),
        "{updates}"
    );
    let (_, r) = invoke(&ann, &launch_id, "getRequestedContact", json!({})).await;
    let signed = r["result"].as_str().unwrap();
    assert!(verify_hash(signed, &webapp_key(&token)), "{signed}");
    let contact: Value = serde_json::from_str(&fields(signed)["contact"]).unwrap();
    assert_eq!((contact["user_id"].as_i64(), contact["phone_number"].as_str()), (Some(ann_id), Some("+15551234567")));
    let (_, me) = s.get("/api/v1/me", &ann).await;
    assert_eq!(me["phone_number"], "+15551234567", "the number given is kept in the profile");

    // answerWebAppQuery: the message goes from ann, via the bot, into the chat; once.
    let query_id = menu["query_id"].as_str().unwrap();
    let result = json!({"type": "article", "id": "1", "title": "Order", "input_message_content": {"message_text": "I ordered <b>2 coffees</b>", "parse_mode": "HTML"}});
    let sent = bot_call(&s, &token, "answerWebAppQuery", json!({"web_app_query_id": query_id, "result": result})).await;
    assert_eq!(sent, json!({}));
    let (_, history) = s.get(&format!("/api/v1/chats/{bot_id}/messages?limit=1"), &ann).await;
    let m = &history[0];
    assert_eq!((m["from"]["id"].as_i64(), m["via_bot"]["id"].as_i64()), (Some(ann_id), Some(bot_id)), "{history}");
    assert_eq!((m["text"].as_str(), m["entities"][0]["type"].as_str()), (Some("I ordered 2 coffees"), Some("bold")));
    let updates = bot_call(&s, &token, "getUpdates", json!({"offset": -1})).await;
    assert_eq!(updates[0]["message"]["via_bot"]["id"], bot_id, "{updates}");
    let r = s
        .http
        .post(format!("{}/bot{token}/answerWebAppQuery", s.base))
        .json(&json!({"web_app_query_id": query_id, "result": result}))
        .send()
        .await
        .unwrap();
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["description"], "Bad Request: query is too old and response timeout expired or query ID is invalid");
    for (body, description) in [
        (
            json!({"web_app_query_id": ben_launch["query_id"], "result": {"type": "article", "id": "1", "title": "x"}}),
            "Bad Request: input_message_content is required for an article",
        ),
        (
            json!({"web_app_query_id": ben_launch["query_id"], "result": {"type": "photo", "id": "1", "photo_url": "https://x/y.jpg", "thumbnail_url": "https://x/t.jpg"}}),
            "Bad Request: photo_file_id is required: this Plaza server does not download files from URLs",
        ),
        (
            json!({"web_app_query_id": ben_launch["query_id"], "result": "nope"}),
            "Bad Request: can't parse inline query result JSON object",
        ),
        (json!({"web_app_query_id": ben_launch["query_id"]}), "Bad Request: parameter \"result\" is required"),
    ] {
        let r = s.http.post(format!("{}/bot{token}/answerWebAppQuery", s.base)).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["description"], description, "{body}");
    }

    // savePreparedInlineMessage + shareMessage: ann sends it, via the bot, to a chat of a kind
    // the bot allowed.
    let prepared = bot_call(
        &s,
        &token,
        "savePreparedInlineMessage",
        json!({"user_id": ann_id, "result": {"type": "article", "id": "p1", "title": "Invite", "input_message_content": {"message_text": "Join me at the café!"}}, "allow_user_chats": true}),
    )
    .await;
    let id = prepared["id"].as_str().unwrap();
    assert!(prepared["expiration_date"].as_i64().unwrap() > 1_800_000_000);
    let (st, p) = s.get(&format!("/api/v1/webapps/prepared_message/{id}?launch_id={launch_id}"), &ann).await;
    assert_eq!((st, p["chat_types"].clone()), (StatusCode::OK, json!(["users"])), "{p}");
    assert_eq!(
        s.get(&format!("/api/v1/webapps/prepared_message/{id}?launch_id={launch_id}"), &ben).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, chat) = s.post("/api/v1/chats/private", &ann, json!({"username": "ben"})).await;
    let ann_ben = chat["id"].as_i64().unwrap();
    let share = |chat_id: i64| json!({"launch_id": launch_id, "id": id, "chat_id": chat_id});
    let (st, _) = s.post("/api/v1/webapps/prepared_message", &ann, share(bot_id)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "bots' chats were not allowed");
    let (st, m) = s.post("/api/v1/webapps/prepared_message", &ann, share(ann_ben)).await;
    assert_eq!(st, StatusCode::OK, "{m}");
    assert_eq!(
        (m["text"].as_str(), m["via_bot"]["username"].as_str()),
        (Some("Join me at the café!"), Some("shop_bot"))
    );
    let (_, ben_view) = s.get(&format!("/api/v1/chats/{ann_id}/messages?limit=1"), &ben).await;
    assert_eq!(ben_view[0]["text"], "Join me at the café!");
    let _ = ben_id;
    let r = s
        .http
        .post(format!("{}/bot{token}/savePreparedInlineMessage", s.base))
        .json(&json!({"user_id": ann_id, "result": {"type": "article", "id": "p2", "title": "x", "input_message_content": {"message_text": "x"}}}))
        .send()
        .await
        .unwrap();
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["description"], "Bad Request: at least one of allow_*_chats must be true", "{e}");
}

/// Plaza's own `telegram-web-app.js`, as the server serves it, driven in Chromium by the checks of
/// `tests/clients/node/telegram_web_app_js.mjs` (launch parameters, theme, buttons, popups,
/// CloudStorage, sendData, version gating, reloads …) against a host that answers as Telegram's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaza_telegram_web_app_js_passes_the_browser_checks() {
    let s = spawn(Backend::Sqlite).await;
    let r = s.http.get(format!("{}/js/telegram-web-app.js", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let script = r.text().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("telegram-web-app.js");
    std::fs::write(&path, script).unwrap();
    let out = tokio::process::Command::new("node")
        .arg("telegram_web_app_js.mjs")
        .arg(&path)
        .current_dir(repo_root().join("tests/clients/node"))
        .output()
        .await
        .expect("node runs (scripts/test installs the Node clients and Chromium)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let failures: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        out.status.success() && failures.is_empty(),
        "telegram-web-app.js checks failed:\n{}\n{}\n{}",
        failures.join("\n"),
        stdout.lines().last().unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
