//! What runs in front of every route (`plaza_http::front`): a handler that panics is answered `500`
//! with the API's error body, the connection goes on serving, and the answer is counted.

mod common;

use axum::Router;
use axum::routing::get;
use common::{Backend, fresh_store};
use plaza_server::{Config, Server};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn a_panicking_handler_is_answered_500_and_counted() {
    let store = fresh_store(Backend::Sqlite).await;
    let server = Server::bind(&Config::for_tests(store.config.clone())).await.expect("server starts");
    let state = server.state.clone();
    let app = Router::new()
        .route("/boom", get(boom))
        .route("/fine", get(|| async { "fine" }))
        .layer(plaza_http::front::FrontLayer::new(state.clone()));
    let addr = server.local_addr();
    tokio::spawn(async move { axum::serve(server.listener, app).await });

    // One client, so both requests go over the same keep-alive connection.
    let http = reqwest::Client::new();
    let r = http.get(format!("http://{addr}/boom")).send().await.expect("a panic still gets an answer");
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = r.json().await.expect("a JSON error body");
    assert_eq!(body["error"]["code"], "internal", "{body}");
    assert_eq!(body["error"]["status"], 500, "{body}");

    let r = http.get(format!("http://{addr}/fine")).send().await.expect("the server goes on serving");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "fine");

    let metrics = state.metrics.encode();
    for line in [
        r#"plaza_http_requests_total{method="GET",route="/boom",status="500"} 1"#,
        r#"plaza_http_requests_total{method="GET",route="/fine",status="200"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "no {line:?} in\n{metrics}");
    }
}

async fn boom() -> &'static str {
    panic!("a bug in a handler")
}
