//! Driving Plaza through its client API like a client would: accounts, private chats and
//! update-stream WebSockets.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::http::{Call, Conn};

/// How long a WebSocket may take to connect and to say hello.
const WS_TIMEOUT: Duration = Duration::from_secs(20);

/// A signed-up person with a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub username: String,
    pub token: String,
    pub id: i64,
}

/// A sender and a receiver with a private chat; `chat_id` is the chat as the sender names it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pair {
    pub sender: Account,
    pub receiver: Account,
    pub chat_id: i64,
}

#[derive(Deserialize)]
struct AuthAnswer {
    token: String,
    user: UserAnswer,
}

#[derive(Deserialize)]
struct UserAnswer {
    id: i64,
}

#[derive(Deserialize)]
struct ChatAnswer {
    id: i64,
}

pub async fn signup(conn: &mut Conn, username: &str) -> anyhow::Result<Account> {
    let body = json!({"username": username, "password": format!("pw-{username}"), "display_name": username});
    let answer: AuthAnswer = conn.send_json(&Call::post_json("/api/v1/auth/signup", &body)).await?;
    Ok(Account { username: username.to_string(), token: answer.token, id: answer.user.id })
}

/// The private chat of `account` with `peer`, as `account` names it.
pub async fn open_private(conn: &mut Conn, account: &Account, peer: &str) -> anyhow::Result<i64> {
    let call = Call::post_json("/api/v1/chats/private", &json!({"username": peer})).bearer(&account.token);
    Ok(conn.send_json::<ChatAnswer>(&call).await?.id)
}

/// `account` starts the bot `bot_username` (`/start`, which opens their private chat); the answer.
pub async fn start_bot(conn: &mut Conn, account: &Account, bot_username: &str) -> anyhow::Result<serde_json::Value> {
    let call = Call::post_json(format!("/api/v1/bots/{bot_username}/start"), &json!({})).bearer(&account.token);
    conn.send_json(&call).await
}

/// Signs up `n` pairs (`sender_<i>`, `receiver_<i>`) and opens a private chat for each.
pub async fn prepare_pairs(addr: SocketAddr, n: usize) -> anyhow::Result<Vec<Pair>> {
    // Sign-up hashes a password with argon2 on the server, which dominates; a few connections keep
    // the server busy without queueing hundreds of hashes at once.
    const WORKERS: usize = 4;
    let mut tasks = JoinSet::new();
    for w in 0..WORKERS {
        tasks.spawn(async move {
            let mut conn = Conn::connect(addr).await?;
            let mut pairs = Vec::new();
            for i in (w..n).step_by(WORKERS) {
                let sender = signup(&mut conn, &format!("sender_{i}")).await?;
                let receiver = signup(&mut conn, &format!("receiver_{i}")).await?;
                let chat_id = open_private(&mut conn, &sender, &receiver.username).await?;
                anyhow::ensure!(chat_id == receiver.id, "a private chat is named by the peer's id");
                pairs.push((i, Pair { sender, receiver, chat_id }));
            }
            anyhow::Ok(pairs)
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(part) = tasks.join_next().await {
        all.extend(part.context("preparing task panicked")??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, p)| p).collect())
}

/// The calls a sender makes to post `text` into its pair's chat.
pub fn send_call(pair: &Pair, text: &str) -> Call {
    Call::post_json(format!("/api/v1/chats/{}/messages", pair.chat_id), &json!({"text": text}))
        .bearer(&pair.sender.token)
}

pub type Ws = WebSocketStream<TcpStream>;

/// Opens the update stream of `token` from the local address `source` and waits for `hello`.
pub async fn connect_ws(addr: SocketAddr, source: IpAddr, token: &str) -> anyhow::Result<Ws> {
    tokio::time::timeout(WS_TIMEOUT, async {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0)).with_context(|| format!("binding {source}"))?;
        let stream = socket.connect(addr).await.with_context(|| format!("connecting from {source} to {addr}"))?;
        stream.set_nodelay(true)?;
        // Small buffers keep ten thousand client connections cheap; they grow if a frame needs it.
        let config = WebSocketConfig::default().read_buffer_size(4 * 1024).write_buffer_size(0);
        let url = format!("ws://{addr}/api/v1/ws?token={token}");
        let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
            .await
            .context("WebSocket handshake")?;
        let hello = next_frame(&mut ws).await?.context("closed before hello")?;
        anyhow::ensure!(hello.kind == "hello", "the first frame is {:?}, not hello", hello.kind);
        anyhow::Ok(ws)
    })
    .await
    .context("WebSocket timed out")?
}

/// The fields of an update frame the benchmarks look at.
#[derive(Debug, Deserialize)]
pub struct Frame {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub message: Option<FrameMessage>,
}

#[derive(Debug, Deserialize)]
pub struct FrameMessage {
    pub text: String,
}

/// The next JSON frame, skipping pings and pongs; `None` once the stream has ended.
pub async fn next_frame(ws: &mut Ws) -> anyhow::Result<Option<Frame>> {
    // Control frames are few, but the loop still stops after a generous number of them.
    for _ in 0..1_000 {
        match ws.next().await {
            None | Some(Ok(Message::Close(_))) => return Ok(None),
            Some(Ok(Message::Text(text))) => return Ok(Some(serde_json::from_str(&text).context("frame is JSON")?)),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Binary(_))) => anyhow::bail!("unexpected binary frame"),
            Some(Err(e)) => return Err(e).context("reading the WebSocket"),
        }
    }
    anyhow::bail!("only control frames on the WebSocket")
}
