//! Payments end to end: invoices, checkouts, refunds, card payments and subscriptions, driven as
//! a person's client and as bots — raw Bot API calls for the edge cases, and shops written with
//! python-telegram-bot and grammY (tests/clients/*/…_shop_bot.*) for the whole flow.
//!
//! The test server runs as a sandbox (free top-ups, short subscription periods) with a clock the
//! test moves by hand, so subscription renewals happen when the test says.

mod common;

use std::time::Duration;

use common::proc::{Proc, repo_root};
use common::{Backend, TestServer, Ws};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::Command;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);
const INSTALL_HINT: &str = "run scripts/test, which installs the bot libraries before running the tests";
/// A token the built-in test card provider accepts, shaped like BotFather's test tokens.
const TEST_PROVIDER: &str = "284685063:TEST:plaza";

/// The next frame `wanted` accepts, skipping others; fails after [`ANSWER_TIMEOUT`].
async fn expect(ws: &mut Ws, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    let mut skipped = Vec::new();
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.stream.next())
            .await
            .unwrap_or_else(|_| panic!("no {what} within {ANSWER_TIMEOUT:?}; frames seen meanwhile: {skipped:#?}"));
        let frame: Value = match msg.expect("WebSocket open").expect("WebSocket frame") {
            WsMessage::Text(t) => serde_json::from_str(&t).expect("frame is JSON"),
            WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
            other => panic!("unexpected WebSocket message {other:?} while waiting for {what}"),
        };
        if wanted(&frame) {
            return frame;
        }
        skipped.push(frame);
    }
}

/// The next message from `from` whose text starts with `prefix`.
async fn says(ws: &mut Ws, from: i64, prefix: &str) -> String {
    let f = expect(ws, prefix, |f| {
        f["type"] == "message_new"
            && f["message"]["from"]["id"] == from
            && f["message"]["text"].as_str().is_some_and(|t| t.starts_with(prefix))
    })
    .await;
    f["message"]["text"].as_str().unwrap().to_string()
}

async fn bot_api(server: &TestServer, token: &str, method: &str, params: Value) -> (StatusCode, Value) {
    let resp = server
        .http
        .post(format!("{}/bot{token}/{method}", server.base))
        .json(&params)
        .send()
        .await
        .expect("Bot API call");
    let status = resp.status();
    (status, resp.json().await.expect("Bot API answers JSON"))
}

async fn bot_ok(server: &TestServer, token: &str, method: &str, params: Value) -> Value {
    let (status, body) = bot_api(server, token, method, params).await;
    assert_eq!(status, StatusCode::OK, "{method}: {body}");
    body["result"].clone()
}

/// A person with Stars, a bot, and their private chat.
struct Shop {
    server: TestServer,
    person: String,
    person_id: i64,
    bot_token: String,
    bot_id: i64,
}

async fn shop(backend: Backend, stars: i64) -> Shop {
    let server = common::spawn(backend).await;
    let (person, person_id) = server.signup("alice").await;
    let (bot_token, bot_id) = server.create_bot("shop_bot", "alice").await;
    let (status, body) = server.post("/api/v1/chats/private", &person, json!({"username": "shop_bot"})).await;
    assert_eq!(status, StatusCode::OK, "open chat: {body}");
    if stars > 0 {
        let (status, body) =
            server.post("/api/v1/stars/topup", &person, json!({"amount": stars, "key": "first"})).await;
        assert_eq!(
            (status, body["balance"].as_i64(), body["amount"].as_i64()),
            (StatusCode::OK, Some(stars), Some(stars)),
            "topup: {body}"
        );
    }
    Shop { server, person, person_id, bot_token, bot_id }
}

impl Shop {
    async fn balance(&self) -> i64 {
        let (status, w) = self.server.get("/api/v1/stars", &self.person).await;
        assert_eq!(status, StatusCode::OK, "wallet: {w}");
        w["balance"].as_i64().unwrap()
    }

    async fn bot_balance(&self) -> i64 {
        bot_ok(&self.server, &self.bot_token, "getMyStarBalance", json!({})).await["amount"].as_i64().unwrap()
    }

    /// An invoice message for `amount` Stars; returns its slug.
    async fn stars_invoice(&self, payload: &str, amount: i64) -> String {
        let m = bot_ok(
            &self.server,
            &self.bot_token,
            "sendInvoice",
            json!({"chat_id": self.person_id, "title": "Coffee", "description": "A cup", "payload": payload,
                   "currency": "XTR", "prices": [{"label": "Coffee", "amount": amount}]}),
        )
        .await;
        assert_eq!(m["invoice"]["total_amount"], amount, "{m}");
        assert_eq!(m["reply_markup"]["inline_keyboard"][0][0]["pay"], true, "the first button pays: {m}");
        let (_, history) =
            self.server.get(&format!("/api/v1/chats/{}/messages?limit=1", self.bot_id), &self.person).await;
        history[0]["invoice"]["slug"].as_str().expect("the invoice's slug").to_string()
    }

    async fn pay(&self, slug: &str, body: Value) -> (StatusCode, Value) {
        self.server.post(&format!("/api/v1/invoices/{slug}/pay"), &self.person, body).await
    }

    /// The bot's next update of `kind`, long-polling.
    async fn next_update(&self, kind: &str, offset: &mut i64) -> Value {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            assert!(Instant::now() < deadline, "no {kind} update");
            let updates = bot_ok(
                &self.server,
                &self.bot_token,
                "getUpdates",
                json!({"offset": *offset, "timeout": 5, "allowed_updates": ["message", "pre_checkout_query", "shipping_query"]}),
            )
            .await;
            for u in updates.as_array().unwrap() {
                *offset = u["update_id"].as_i64().unwrap() + 1;
                if let Some(v) = u.get(kind) {
                    return v.clone();
                }
            }
        }
    }
}

/// A bot answers the pre-checkout query; the Stars move with the successful_payment message.
async fn stars_checkout(b: Backend) {
    let shop = shop(b, 20).await;
    let slug = shop.stars_invoice("coffee-1", 5).await;
    let (status, inv) = shop.server.get(&format!("/api/v1/invoices/{slug}"), &shop.person).await;
    assert_eq!(status, StatusCode::OK, "{inv}");
    assert_eq!(
        (inv["currency"].as_str(), inv["total_amount"].as_i64(), inv["balance"].as_i64()),
        (Some("XTR"), Some(5), Some(20))
    );

    let mut ws = shop.server.ws(&shop.person, None).await;
    assert_eq!(ws.next().await["type"], "hello");
    let paying = {
        let server_person = shop.person.clone();
        let url = format!("{}/api/v1/invoices/{slug}/pay", shop.server.base);
        let http = shop.server.http.clone();
        tokio::spawn(async move {
            let resp =
                http.post(url).bearer_auth(server_person).json(&json!({"key": "attempt-1"})).send().await.unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        })
    };
    let mut offset = 0;
    let q = shop.next_update("pre_checkout_query", &mut offset).await;
    assert_eq!(q["currency"], "XTR");
    assert_eq!(q["total_amount"], 5);
    assert_eq!(q["invoice_payload"], "coffee-1");
    assert_eq!(q["from"]["id"], shop.person_id);
    bot_ok(
        &shop.server,
        &shop.bot_token,
        "answerPreCheckoutQuery",
        json!({"pre_checkout_query_id": q["id"], "ok": true}),
    )
    .await;
    let (status, payment) = paying.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{payment}");
    assert_eq!((payment["state"].as_str(), payment["status"].as_str()), (Some("paid"), Some("paid")), "{payment}");
    assert_eq!(payment["title"], "Coffee", "the payment names what was bought: {payment}");
    let (_, again) = shop.server.get(&format!("/api/v1/payments/{}", payment["id"]), &shop.person).await;
    assert_eq!((&again["title"], &again["state"]), (&json!("Coffee"), &json!("paid")), "{again}");
    // The person's other tabs learn of it, named too.
    let paid = loop {
        let frame = ws.next().await;
        if frame["type"] == "payment_updated" && frame["payment"]["state"] == "paid" {
            break frame;
        }
    };
    assert_eq!(paid["payment"]["title"], "Coffee", "{paid}");
    assert_eq!(shop.balance().await, 15);
    assert_eq!(shop.bot_balance().await, 5);

    // The bot delivers on the successful_payment message.
    let m = shop.next_update("message", &mut offset).await;
    let sp = &m["successful_payment"];
    assert_eq!(m["from"]["id"], shop.person_id);
    assert_eq!((sp["currency"].as_str(), sp["total_amount"].as_i64()), (Some("XTR"), Some(5)), "{m}");
    assert_eq!(sp["invoice_payload"], "coffee-1");
    assert_eq!(sp["telegram_payment_charge_id"], payment["charge_id"]);
    assert!(sp.get("title").is_none(), "Telegram's SuccessfulPayment has no title: {sp}");
    // The person's side: the service message names what was paid for.
    let (_, history) = shop.server.get(&format!("/api/v1/chats/{}/messages?limit=1", shop.bot_id), &shop.person).await;
    let service = &history.as_array().expect("messages")[0]["service"];
    assert_eq!(service["type"], "successful_payment", "{history}");
    assert_eq!(
        (service["receipt"]["title"].as_str(), service["receipt"]["total_amount"].as_i64()),
        (Some("Coffee"), Some(5)),
        "{history}"
    );

    // Retrying with the same key is the same payment; the invoice message is paid once.
    let (status, again) = shop.pay(&slug, json!({"key": "attempt-1"})).await;
    assert_eq!((status, &again["id"]), (StatusCode::OK, &payment["id"]), "{again}");
    let (status, other) = shop.pay(&slug, json!({"key": "attempt-2"})).await;
    assert_eq!((status, other["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("already_paid")), "{other}");
    let (_, inv) = shop.server.get(&format!("/api/v1/invoices/{slug}"), &shop.person).await;
    assert_eq!(inv["paid"]["id"], payment["id"]);
    assert_eq!(shop.balance().await, 15, "nothing charged twice");

    // A refund: the Stars go back, the person sees refunded_payment, the bot gets it too.
    let charge = payment["charge_id"].as_str().unwrap();
    bot_ok(
        &shop.server,
        &shop.bot_token,
        "refundStarPayment",
        json!({"user_id": shop.person_id, "telegram_payment_charge_id": charge}),
    )
    .await;
    assert_eq!((shop.balance().await, shop.bot_balance().await), (20, 0));
    let m = shop.next_update("message", &mut offset).await;
    assert_eq!(m["refunded_payment"]["telegram_payment_charge_id"], charge, "{m}");
    let (status, body) = bot_api(
        &shop.server,
        &shop.bot_token,
        "refundStarPayment",
        json!({"user_id": shop.person_id, "telegram_payment_charge_id": charge}),
    )
    .await;
    assert_eq!(
        (status, body["description"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Bad Request: CHARGE_ALREADY_REFUNDED"))
    );
    let txs = bot_ok(&shop.server, &shop.bot_token, "getStarTransactions", json!({})).await;
    assert_eq!(txs["transactions"].as_array().unwrap().len(), 2, "payment and refund: {txs}");
    let (_, w) = shop.server.get("/api/v1/stars", &shop.person).await;
    assert_eq!(w["payments"][0]["state"], "refunded", "{w}");
    assert_eq!(w["payments"][0]["title"], "Coffee", "the wallet names what was bought: {w}");
}

/// The bot refuses, or never answers: the payment ends and nothing is charged.
async fn refused_and_unanswered_checkouts(b: Backend) {
    let shop = shop(b, 10).await;
    let slug = shop.stars_invoice("cake", 3).await;
    let token = shop.bot_token.clone();
    let base = shop.server.base.clone();
    let http = shop.server.http.clone();
    let bot = tokio::spawn(async move {
        // Answer the first query with a refusal.
        loop {
            let body: Value = http
                .post(format!("{base}/bot{token}/getUpdates"))
                .json(&json!({"timeout": 5, "allowed_updates": ["pre_checkout_query"]}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(u) = body["result"].as_array().unwrap().iter().find(|u| u.get("pre_checkout_query").is_some()) {
                let id = u["pre_checkout_query"]["id"].clone();
                let r: Value = http
                    .post(format!("{base}/bot{token}/answerPreCheckoutQuery"))
                    .json(&json!({"pre_checkout_query_id": id, "ok": false, "error_message": "Sold out"}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(r["ok"], true, "{r}");
                let offset = u["update_id"].as_i64().unwrap() + 1;
                http.post(format!("{base}/bot{token}/getUpdates"))
                    .json(&json!({"offset": offset}))
                    .send()
                    .await
                    .unwrap();
                return;
            }
        }
    });
    let (status, p) = shop.pay(&slug, json!({"key": "k1"})).await;
    bot.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(
        (p["state"].as_str(), p["status"].as_str(), p["error"].as_str()),
        (Some("declined"), Some("failed"), Some("Sold out"))
    );
    assert_eq!(shop.balance().await, 10);

    // Nobody answers now: after the 10 s window the checkout is cancelled.
    let started = Instant::now();
    let (status, p) = shop.pay(&slug, json!({"key": "k2"})).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!((p["state"].as_str(), p["status"].as_str()), (Some("cancelled"), Some("cancelled")), "{p}");
    assert!(started.elapsed() >= Duration::from_secs(9), "the bot had its 10 s");
    assert_eq!(shop.balance().await, 10, "nothing charged");
    // The bot's late answer is refused as Telegram refuses it.
    let updates =
        bot_ok(&shop.server, &shop.bot_token, "getUpdates", json!({"allowed_updates": ["pre_checkout_query"]})).await;
    let late =
        updates.as_array().unwrap().iter().rev().find_map(|u| u.get("pre_checkout_query")).cloned().expect("the query");
    let (status, body) = bot_api(
        &shop.server,
        &shop.bot_token,
        "answerPreCheckoutQuery",
        json!({"pre_checkout_query_id": late["id"], "ok": true}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["description"],
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    );
    assert_eq!(shop.balance().await, 10, "a late yes charges nothing");
    assert_eq!(shop.bot_balance().await, 0);
}

/// Many clicks at once, with one key and with several: one payment, one charge.
async fn concurrent_clicks_pay_once(b: Backend) {
    let shop = shop(b, 50).await;
    let slug = shop.stars_invoice("once", 7).await;
    let mut clicks = Vec::new();
    for i in 0..8 {
        let url = format!("{}/api/v1/invoices/{slug}/pay", shop.server.base);
        let (http, person) = (shop.server.http.clone(), shop.person.clone());
        clicks.push(tokio::spawn(async move {
            let key = if i % 2 == 0 { "same".to_string() } else { format!("key-{i}") };
            let resp = http.post(url).bearer_auth(person).json(&json!({"key": key})).send().await.unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        }));
    }
    let mut offset = 0;
    let q = shop.next_update("pre_checkout_query", &mut offset).await;
    bot_ok(
        &shop.server,
        &shop.bot_token,
        "answerPreCheckoutQuery",
        json!({"pre_checkout_query_id": q["id"], "ok": true}),
    )
    .await;
    let mut paid_ids = std::collections::HashSet::new();
    for c in clicks {
        let (status, body) = c.await.unwrap();
        match status {
            StatusCode::OK => {
                assert_eq!(body["state"], "paid", "{body}");
                paid_ids.insert(body["id"].as_i64().unwrap());
            }
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "already_paid", "{body}"),
            other => panic!("click answered {other}: {body}"),
        }
    }
    assert_eq!(paid_ids.len(), 1, "one payment");
    assert_eq!((shop.balance().await, shop.bot_balance().await), (43, 7));
    // Only one pre-checkout query was sent.
    let more = bot_ok(
        &shop.server,
        &shop.bot_token,
        "getUpdates",
        json!({"offset": offset, "allowed_updates": ["pre_checkout_query"]}),
    )
    .await;
    assert!(more.as_array().unwrap().iter().all(|u| u.get("pre_checkout_query").is_none()), "{more}");
}

/// What bots and people get wrong is refused with Telegram's errors, and nothing is charged.
async fn bad_input(b: Backend) {
    let shop = shop(b, 2).await;
    let base = json!({"chat_id": shop.person_id, "title": "T", "description": "D", "payload": "p", "currency": "XTR"});
    let with = |extra: Value| {
        let mut v = base.clone();
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    };
    let cases = [
        (
            with(json!({"prices": [{"label": "a", "amount": 1}, {"label": "b", "amount": 1}]})),
            "Bad Request: STARS_INVOICE_INVALID",
        ),
        (with(json!({"prices": [{"label": "a", "amount": 0}]})), "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID"),
        (base.clone(), "Bad Request: parameter \"prices\" is required"),
        (with(json!({"prices": "nope"})), ""),
        (
            with(json!({"currency": "USD", "provider_token": "live:123", "prices": [{"label": "a", "amount": 100}]})),
            "Bad Request: PAYMENT_PROVIDER_INVALID",
        ),
        (
            with(json!({"currency": "USD", "prices": [{"label": "a", "amount": 100}]})),
            "Bad Request: PAYMENT_PROVIDER_INVALID",
        ),
        (with(json!({"prices": [{"label": "a", "amount": 1}], "payload": ""})), "Bad Request: INVOICE_PAYLOAD_INVALID"),
    ];
    for (params, description) in cases {
        let (status, body) = bot_api(&shop.server, &shop.bot_token, "sendInvoice", params.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{params} → {body}");
        assert_eq!(body["ok"], false);
        if !description.is_empty() {
            assert_eq!(body["description"], description, "{params}");
        }
    }
    // A subscription outside an invoice link, one that is not a subscription period, answers to
    // queries that do not exist or say no without a reason, a refund of nothing.
    let sub = |period: i64| with(json!({"prices": [{"label": "a", "amount": 1}], "subscription_period": period}));
    let refusals = [
        ("sendInvoice", sub(2_592_000), "Bad Request: subscriptions are sold through invoice links"),
        ("createInvoiceLink", sub(1), "Bad Request: SUBSCRIPTION_PERIOD_INVALID"),
        (
            "answerPreCheckoutQuery",
            json!({"pre_checkout_query_id": "12345", "ok": false}),
            "Bad Request: ERROR_MESSAGE_EMPTY",
        ),
        (
            "answerPreCheckoutQuery",
            json!({"pre_checkout_query_id": "12345", "ok": true}),
            "Bad Request: query is too old and response timeout expired or query ID is invalid",
        ),
        (
            "refundStarPayment",
            json!({"user_id": shop.person_id, "telegram_payment_charge_id": "nope"}),
            "Bad Request: CHARGE_NOT_FOUND",
        ),
    ];
    for (method, params, description) in refusals {
        let (status, body) = bot_api(&shop.server, &shop.bot_token, method, params.clone()).await;
        assert_eq!(
            (status, body["description"].as_str()),
            (StatusCode::BAD_REQUEST, Some(description)),
            "{method} {params}"
        );
    }
    // The person: too few Stars, an unknown invoice, a missing key, a bad top-up.
    let slug = shop.stars_invoice("dear", 5).await;
    let (status, body) = shop.pay(&slug, json!({"key": "k"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("insufficient_funds")), "{body}");
    let (status, body) = shop.pay("no-such-invoice", json!({"key": "k"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("invoice_not_found")), "{body}");
    let (status, body) = shop.pay(&slug, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = shop.pay(&slug, json!({"key": ""})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    for amount in [0, -5, 100_001] {
        let (status, body) =
            shop.server.post("/api/v1/stars/topup", &shop.person, json!({"amount": amount, "key": "x"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{amount}: {body}");
    }
    // The same top-up key tops up once.
    for _ in 0..2 {
        shop.server.post("/api/v1/stars/topup", &shop.person, json!({"amount": 4, "key": "again"})).await;
    }
    assert_eq!(shop.balance().await, 6);
    // Someone else's payment is nobody's business.
    let (other, _) = shop.server.signup("mallory").await;
    let (status, _) = shop.server.get("/api/v1/payments/1", &other).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Outside a sandbox there are no free Stars.
async fn no_free_stars_outside_a_sandbox(b: Backend) {
    let server = common::spawn_with(b, |c| c.sandbox = false).await;
    let (person, _) = server.signup("alice").await;
    let (status, body) = server.post("/api/v1/stars/topup", &person, json!({"amount": 5, "key": "k"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_sandbox")), "{body}");
    let (_, w) = server.get("/api/v1/stars", &person).await;
    assert_eq!((w["balance"].as_i64(), w["sandbox"].as_bool()), (Some(0), Some(false)));
}

/// Where the instance sells Stars, people buy them by card; the same key charges and tops up once.
async fn stars_bought_by_card(b: Backend) {
    let server = common::spawn_with(b, |c| {
        c.sandbox = false;
        c.star_sales = Some(plaza_service::payments::StarSales::new(TEST_PROVIDER, "2 USD").unwrap());
    })
    .await;
    let (person, _) = server.signup("alice").await;
    let (_, w) = server.get("/api/v1/stars", &person).await;
    assert_eq!(
        (w["sandbox"].as_bool(), w["star_price"].as_i64(), w["star_currency"].as_str()),
        (Some(false), Some(2), Some("USD")),
        "{w}"
    );
    let buy = |key: &str, card: Option<&str>, amount: i64| {
        let mut body = json!({"amount": amount, "key": key});
        if let Some(c) = card {
            body["card_number"] = json!(c);
        }
        server.post("/api/v1/stars/topup", &person, body)
    };
    let (status, body) = buy("free", None, 10).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_sandbox")), "{body}");
    let (status, body) = buy("declined", Some("4000 0000 0000 0002"), 10).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("declined"), "{body}");
    let (status, body) = buy("nocard", Some("1234"), 10).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = buy("first", Some("4242 4242 4242 4242"), 50).await;
    assert_eq!((status, body["balance"].as_i64()), (StatusCode::OK, Some(50)), "{body}");
    let (status, again) = buy("first", Some("4242 4242 4242 4242"), 50).await;
    assert_eq!(
        (status, &again["transfer_id"], again["balance"].as_i64()),
        (StatusCode::OK, &body["transfer_id"], Some(50)),
        "a retry buys once: {again}"
    );
    let (status, body) = buy("busy", Some("4000 0000 0000 0119"), 25).await;
    assert_eq!(
        (status, body["balance"].as_i64()),
        (StatusCode::OK, Some(75)),
        "the retry card goes through on a retry: {body}"
    );
    let (_, w) = server.get("/api/v1/stars", &person).await;
    assert_eq!(w["history"][0]["memo"], "purchase", "{w}");
}

/// A flexible card invoice: the address goes to the bot, its options come back, the chosen one
/// is charged with a tip through the test provider, whose retry card needs a second try.
async fn card_checkout_with_shipping(b: Backend) {
    let shop = shop(b, 0).await;
    let m = bot_ok(
        &shop.server,
        &shop.bot_token,
        "sendInvoice",
        json!({"chat_id": shop.person_id, "title": "Lamp", "description": "A desk lamp", "payload": "lamp",
               "provider_token": TEST_PROVIDER, "currency": "EUR", "prices": [{"label": "Lamp", "amount": 2000}],
               "need_name": true, "need_shipping_address": true, "is_flexible": true,
               "max_tip_amount": 300, "suggested_tip_amounts": [100, 200]}),
    )
    .await;
    assert_eq!(m["invoice"]["currency"], "EUR");
    let (_, history) = shop.server.get(&format!("/api/v1/chats/{}/messages?limit=1", shop.bot_id), &shop.person).await;
    let slug = history[0]["invoice"]["slug"].as_str().unwrap().to_string();
    let address = json!({"country_code": "de", "state": "", "city": "Berlin", "street_line1": "Unter den Linden 1", "street_line2": "", "post_code": "10117"});

    let asking = {
        let (http, person) = (shop.server.http.clone(), shop.person.clone());
        let url = format!("{}/api/v1/invoices/{slug}/shipping", shop.server.base);
        let address = address.clone();
        tokio::spawn(async move {
            let resp =
                http.post(url).bearer_auth(person).json(&json!({"shipping_address": address})).send().await.unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        })
    };
    let mut offset = 0;
    let q = shop.next_update("shipping_query", &mut offset).await;
    assert_eq!(q["shipping_address"]["country_code"], "DE");
    assert_eq!(q["invoice_payload"], "lamp");
    bot_ok(
        &shop.server,
        &shop.bot_token,
        "answerShippingQuery",
        json!({"shipping_query_id": q["id"], "ok": true, "shipping_options": [
            {"id": "post", "title": "Post", "prices": [{"label": "Post", "amount": 500}]},
            {"id": "courier", "title": "Courier", "prices": [{"label": "Courier", "amount": 1500}]}]}),
    )
    .await;
    let (status, shipping) = asking.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{shipping}");
    assert_eq!(shipping["options"].as_array().unwrap().len(), 2);
    let qid = shipping["shipping_query_id"].clone();

    let order = json!({"name": "Alice", "shipping_address": address});
    // A declined card: the bot approved, the card failed, nothing was paid.
    let pay = |key: &str, card: &str| {
        let (http, person) = (shop.server.http.clone(), shop.person.clone());
        let url = format!("{}/api/v1/invoices/{slug}/pay", shop.server.base);
        let body = json!({"key": key, "order_info": order, "shipping_query_id": qid, "shipping_option_id": "post",
                          "tip_amount": 100, "card_number": card});
        tokio::spawn(async move {
            let resp = http.post(url).bearer_auth(person).json(&body).send().await.unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        })
    };
    for (key, card, state) in [("k1", "4000 0000 0000 0002", "failed"), ("k2", "4000 0000 0000 0119", "paid")] {
        let paying = pay(key, card);
        let q = shop.next_update("pre_checkout_query", &mut offset).await;
        assert_eq!((q["currency"].as_str(), q["total_amount"].as_i64()), (Some("EUR"), Some(2600)), "{q}");
        assert_eq!(q["shipping_option_id"], "post");
        assert_eq!(q["order_info"]["name"], "Alice");
        bot_ok(
            &shop.server,
            &shop.bot_token,
            "answerPreCheckoutQuery",
            json!({"pre_checkout_query_id": q["id"], "ok": true}),
        )
        .await;
        let (status, p) = paying.await.unwrap();
        assert_eq!((status, p["state"].as_str()), (StatusCode::OK, Some(state)), "{card}: {p}");
    }
    let m = shop.next_update("message", &mut offset).await;
    let sp = &m["successful_payment"];
    assert_eq!((sp["currency"].as_str(), sp["total_amount"].as_i64()), (Some("EUR"), Some(2600)), "{m}");
    assert_eq!(sp["shipping_option_id"], "post");
    assert_eq!(sp["order_info"]["shipping_address"]["city"], "Berlin");
    assert!(sp["provider_payment_charge_id"].as_str().is_some_and(|c| c.starts_with("test_ch_")), "{m}");
    // Card money is not Stars: the ledger did not move.
    assert_eq!((shop.balance().await, shop.bot_balance().await), (0, 0));
    // A wrong option, a card that is no card.
    let (status, body) = shop
        .pay(&slug, json!({"key": "k3", "order_info": order, "shipping_query_id": qid, "shipping_option_id": "teleport", "card_number": "4242424242424242"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// A subscription renews each period (the test moves the clock), lapses when the Stars run out,
/// and stops when the bot or the person cancels it.
async fn subscriptions_renew_and_stop(b: Backend) {
    let shop = shop(b, 5).await;
    let link = bot_ok(
        &shop.server,
        &shop.bot_token,
        "createInvoiceLink",
        json!({"title": "Club", "description": "Members", "payload": "club", "currency": "XTR",
               "prices": [{"label": "Month", "amount": 2}], "subscription_period": 60}),
    )
    .await;
    let link = link.as_str().unwrap();
    let slug = link.strip_prefix("https://t.me/$").expect("a t.me invoice link");
    let mut offset = 0;
    let bot = {
        let (http, base, token) = (shop.server.http.clone(), shop.server.base.clone(), shop.bot_token.clone());
        tokio::spawn(async move {
            let mut offset = 0i64;
            loop {
                let body: Value = http
                    .post(format!("{base}/bot{token}/getUpdates"))
                    .json(&json!({"offset": offset, "timeout": 5, "allowed_updates": ["pre_checkout_query"]}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if let Some(u) = body["result"].as_array().unwrap().first() {
                    offset = u["update_id"].as_i64().unwrap() + 1;
                    let id = u["pre_checkout_query"]["id"].clone();
                    http.post(format!("{base}/bot{token}/answerPreCheckoutQuery"))
                        .json(&json!({"pre_checkout_query_id": id, "ok": true}))
                        .send()
                        .await
                        .unwrap();
                    return offset;
                }
            }
        })
    };
    let (status, p) = shop.pay(slug, json!({"key": "sub"})).await;
    assert_eq!((status, p["state"].as_str()), (StatusCode::OK, Some("paid")), "{p}");
    offset = offset.max(bot.await.unwrap());
    let first = shop.next_update("message", &mut offset).await;
    let sp = &first["successful_payment"];
    assert_eq!((sp["is_recurring"].as_bool(), sp["is_first_recurring"].as_bool()), (Some(true), Some(true)), "{first}");
    assert_eq!(sp["subscription_expiration_date"], 1_800_000_000 + 60);
    let charge = sp["telegram_payment_charge_id"].as_str().unwrap().to_string();
    let (status, body) = shop.pay(slug, json!({"key": "sub-again"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("already_subscribed")), "{body}");

    // A period passes: the jobs renew it (2 more Stars), as a recurring successful_payment.
    shop.server.clock.advance(Duration::from_secs(60));
    let renewal = shop.next_update("message", &mut offset).await;
    let sp = &renewal["successful_payment"];
    assert_eq!((sp["is_recurring"].as_bool(), sp["is_first_recurring"].as_bool()), (Some(true), None), "{renewal}");
    assert_eq!(sp["subscription_expiration_date"], 1_800_000_000 + 120);
    assert_eq!(shop.balance().await, 1);
    // Another period: one Star left, too few; the subscription lapses without a charge.
    shop.server.clock.advance(Duration::from_secs(60));
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    loop {
        let (_, w) = shop.server.get("/api/v1/stars", &shop.person).await;
        if w["subscriptions"][0]["lapsed"] == true {
            assert_eq!(w["subscriptions"][0]["renews"], false);
            break;
        }
        assert!(Instant::now() < deadline, "the subscription never lapsed: {w}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(shop.balance().await, 1, "a lapse charges nothing");

    // Subscribing again works; the bot cancels it (editUserStarSubscription), the person turns
    // renewal back on, then off.
    shop.server.post("/api/v1/stars/topup", &shop.person, json!({"amount": 10, "key": "more"})).await;
    let answering = {
        let (http, base, token) = (shop.server.http.clone(), shop.server.base.clone(), shop.bot_token.clone());
        let start = offset;
        tokio::spawn(async move {
            let body: Value = http
                .post(format!("{base}/bot{token}/getUpdates"))
                .json(&json!({"offset": start, "timeout": 10, "allowed_updates": ["pre_checkout_query"]}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let u = body["result"]
                .as_array()
                .unwrap()
                .iter()
                .find(|u| u.get("pre_checkout_query").is_some())
                .cloned()
                .unwrap();
            http.post(format!("{base}/bot{token}/answerPreCheckoutQuery"))
                .json(&json!({"pre_checkout_query_id": u["pre_checkout_query"]["id"], "ok": true}))
                .send()
                .await
                .unwrap();
            u["update_id"].as_i64().unwrap() + 1
        })
    };
    let (status, p) = shop.pay(slug, json!({"key": "sub-2"})).await;
    assert_eq!((status, p["state"].as_str()), (StatusCode::OK, Some("paid")), "{p}");
    offset = offset.max(answering.await.unwrap());
    let _ = charge;
    let charge = p["charge_id"].as_str().unwrap();
    bot_ok(
        &shop.server,
        &shop.bot_token,
        "editUserStarSubscription",
        json!({"user_id": shop.person_id, "telegram_payment_charge_id": charge, "is_canceled": true}),
    )
    .await;
    let (_, w) = shop.server.get("/api/v1/stars", &shop.person).await;
    let sub = &w["subscriptions"][0];
    assert_eq!(
        (sub["canceled_by_bot"].as_bool(), sub["renews"].as_bool(), sub["lapsed"].as_bool()),
        (Some(true), Some(false), Some(false)),
        "{w}"
    );
    let id = sub["id"].as_i64().unwrap();
    let (status, s) =
        shop.server.post(&format!("/api/v1/subscriptions/{id}/cancel"), &shop.person, json!({"canceled": true})).await;
    assert_eq!((status, s["canceled_by_user"].as_bool()), (StatusCode::OK, Some(true)), "{s}");
    let balance = shop.balance().await;
    shop.server.clock.advance(Duration::from_secs(60));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(shop.balance().await, balance, "a cancelled subscription does not renew");
    let more = bot_ok(&shop.server, &shop.bot_token, "getUpdates", json!({"offset": offset})).await;
    assert!(more.as_array().unwrap().iter().all(|u| u["message"].get("successful_payment").is_none()), "{more}");
    let (other, _) = shop.server.signup("mallory").await;
    let (status, _) =
        shop.server.post(&format!("/api/v1/subscriptions/{id}/cancel"), &other, json!({"canceled": false})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Library {
    Ptb,
    Grammy,
}

impl Library {
    fn command(self) -> Command {
        let root = repo_root();
        match self {
            Library::Ptb => {
                let python = root.join("target/clients/venv/bin/python");
                assert!(python.exists(), "python-telegram-bot is not installed: {INSTALL_HINT}");
                let dir = root.join("tests/clients/python");
                let mut cmd = Command::new(python);
                cmd.arg(dir.join("ptb_shop_bot.py")).current_dir(dir);
                cmd.env("PYTHONUNBUFFERED", "1").env("PYTHONDONTWRITEBYTECODE", "1");
                cmd
            }
            Library::Grammy => {
                let dir = root.join("tests/clients/node");
                assert!(
                    dir.join("node_modules/grammy/package.json").exists(),
                    "grammY is not installed: {INSTALL_HINT}"
                );
                let mut cmd = Command::new("node");
                cmd.arg(dir.join("grammy_shop_bot.mjs")).current_dir(dir);
                cmd
            }
        }
    }

    /// How the library shows `Bad Request: CHARGE_ALREADY_REFUNDED` (python-telegram-bot drops
    /// the prefix and capitalises).
    fn already_refunded(self) -> &'static str {
        match self {
            Library::Ptb => "caught BadRequest: Charge_already_refunded",
            Library::Grammy => "caught GrammyError: Bad Request: CHARGE_ALREADY_REFUNDED",
        }
    }
}

fn field<'a>(text: &'a str, name: &str) -> &'a str {
    text.split(' ')
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}= in {text:?}"))
}

/// The whole flow with a shop written with a real library: Stars (paid, refused, refunded), a
/// test card, a subscription renewed and cancelled.
async fn library_shop(b: Backend, library: Library) {
    let shop = shop(b, 30).await;
    let mut bot = {
        let mut cmd = library.command();
        cmd.env("PLAZA_URL", &shop.server.base).env("BOT_TOKEN", &shop.bot_token);
        cmd.env("PROVIDER_TOKEN", TEST_PROVIDER).env("SUB_PERIOD", "60");
        Proc::spawn("shop bot", cmd, INSTALL_HINT)
    };
    bot.ready(READY_TIMEOUT).await;
    let mut ws = shop.server.ws(&shop.person, None).await;
    let bot_id = shop.bot_id;
    let invoice_of = |f: &Value| {
        f["type"] == "message_new" && f["message"]["from"]["id"] == bot_id && f["message"]["invoice"].is_object()
    };

    // Stars: paid.
    shop.server.send(&shop.person, bot_id, "/stars").await;
    let inv = expect(&mut ws, "the Stars invoice", invoice_of).await;
    assert_eq!(inv["message"]["invoice"]["total_amount"], 5);
    let slug = inv["message"]["invoice"]["slug"].as_str().unwrap().to_string();
    let (status, p) = shop.pay(&slug, json!({"key": "coffee"})).await;
    assert_eq!((status, p["state"].as_str()), (StatusCode::OK, Some("paid")), "{p}");
    let paid = says(&mut ws, bot_id, "paid coffee").await;
    assert!(paid.starts_with("paid coffee 5 XTR charge="), "{paid}");
    assert!(paid.contains("recurring=False first=False"), "{paid}");
    let charge = field(&paid, "charge").to_string();
    assert_eq!(charge, p["charge_id"].as_str().unwrap());
    assert_eq!(shop.balance().await, 25);

    // Refused at pre-checkout: nothing charged.
    shop.server.send(&shop.person, bot_id, "/refuse").await;
    let inv = expect(&mut ws, "the refused invoice", invoice_of).await;
    let refused = inv["message"]["invoice"]["slug"].as_str().unwrap().to_string();
    let (_, p) = shop.pay(&refused, json!({"key": "cake"})).await;
    assert_eq!((p["state"].as_str(), p["error"].as_str()), (Some("declined"), Some("Sold out")), "{p}");
    assert_eq!(shop.balance().await, 25);

    // Refund, seen by both sides; refunding again is the library's own error.
    shop.server.send(&shop.person, bot_id, &format!("/refund {charge}")).await;
    says(&mut ws, bot_id, "refunded").await;
    let noted = says(&mut ws, bot_id, "refund noted").await;
    assert_eq!(noted, format!("refund noted 5 XTR charge={charge}"));
    assert_eq!(shop.balance().await, 30);
    shop.server.send(&shop.person, bot_id, &format!("/refund {charge}")).await;
    assert_eq!(says(&mut ws, bot_id, "caught").await, library.already_refunded());

    // A test card: USD with a discount line, an email and a tip.
    shop.server.send(&shop.person, bot_id, "/card").await;
    let inv = expect(&mut ws, "the card invoice", invoice_of).await;
    assert_eq!(
        (inv["message"]["invoice"]["currency"].as_str(), inv["message"]["invoice"]["total_amount"].as_i64()),
        (Some("USD"), Some(1000))
    );
    let card = inv["message"]["invoice"]["slug"].as_str().unwrap().to_string();
    let (_, p) = shop.pay(&card, json!({"key": "book", "order_info": {"email": "alice@example.org"}, "tip_amount": 200, "card_number": "4242 4242 4242 4242"})).await;
    assert_eq!(p["state"], "paid", "{p}");
    let paid = says(&mut ws, bot_id, "paid book").await;
    assert!(paid.starts_with("paid book 1200 USD "), "{paid}");
    assert!(field(&paid, "provider").starts_with("test_ch_"), "{paid}");
    assert_eq!(field(&paid, "email"), "alice@example.org");
    assert_eq!(shop.balance().await, 30, "cards do not touch Stars");

    // A subscription through an invoice link, renewed once, then cancelled by the bot.
    shop.server.send(&shop.person, bot_id, "/sub").await;
    let link = says(&mut ws, bot_id, "link ").await;
    let slug = link.strip_prefix("link https://t.me/$").expect("a t.me invoice link").to_string();
    let (_, p) = shop.pay(&slug, json!({"key": "club"})).await;
    assert_eq!(p["state"], "paid", "{p}");
    let first = says(&mut ws, bot_id, "paid club").await;
    assert!(first.contains("recurring=True first=True"), "{first}");
    let sub_charge = field(&first, "charge").to_string();
    shop.server.clock.advance(Duration::from_secs(60));
    let renewed = says(&mut ws, bot_id, "paid club").await;
    assert!(renewed.contains("recurring=True first=False"), "{renewed}");
    assert_eq!(shop.balance().await, 26);
    shop.server.send(&shop.person, bot_id, &format!("/unsub {sub_charge}")).await;
    says(&mut ws, bot_id, "subscription cancelled").await;
    let (_, w) = shop.server.get("/api/v1/stars", &shop.person).await;
    assert_eq!(w["subscriptions"][0]["canceled_by_bot"], true, "{w}");

    shop.server.send(&shop.person, bot_id, "/balance").await;
    // The coffee (5) was refunded; the club was paid twice (2 + 2).
    assert_eq!(says(&mut ws, bot_id, "balance").await, "balance 4 transactions 4");
    drop(bot);
}

async fn ptb_shop(b: Backend) {
    library_shop(b, Library::Ptb).await
}
async fn grammy_shop(b: Backend) {
    library_shop(b, Library::Grammy).await
}

on_both_backends!(
    stars_checkout,
    refused_and_unanswered_checkouts,
    concurrent_clicks_pay_once,
    bad_input,
    no_free_stars_outside_a_sandbox,
    stars_bought_by_card,
    card_checkout_with_shipping,
    subscriptions_renew_and_stop,
    ptb_shop,
    grammy_shop,
);
