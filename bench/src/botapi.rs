//! The Bot API benchmark's cast on both servers it drives, Plaza and telegram-test-api (the peer):
//! bots, people and their private chats, and the requests each side makes.
//!
//! The requests are the same on both servers where the peer implements them (a bot's `sendMessage`
//! and `getUpdates`); a person's side differs, since each server has its own client API.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::process::Command;
use tokio::task::JoinSet;

use crate::http::{Call, Conn};
use crate::plaza;

/// A bot as both of its servers know it.
#[derive(Debug, Clone)]
pub struct Bot {
    pub id: i64,
    pub username: String,
    pub token: String,
}

/// A person in private chats with every bot; `id` is the chat as the bots name it.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: i64,
    pub username: String,
    /// Plaza's session token; the peer has no sessions.
    pub session: Option<String>,
}

/// The server being driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Plaza,
    /// telegram-test-api: `getUpdates` answers at once, whatever `timeout` says, and people speak
    /// through its own client API (`POST /sendMessage`, `POST /getUpdates`).
    Peer,
}

/// Bots, people and the server they are on; every person has a private chat with every bot.
#[derive(Debug, Clone)]
pub struct Cast {
    pub flavor: Flavor,
    pub addr: SocketAddr,
    pub bots: Vec<Bot>,
    pub people: Vec<Person>,
}

/// A request whose `text` field is filled in when it is sent.
#[derive(Debug, Clone)]
pub struct Template {
    path: String,
    bearer: Option<String>,
    body: Value,
}

impl Template {
    pub fn with_text(&self, text: &str) -> Call {
        let mut body = self.body.clone();
        body["text"] = Value::String(text.to_string());
        let call = Call::post_json(self.path.as_str(), &body);
        match &self.bearer {
            Some(token) => call.bearer(token),
            None => call,
        }
    }
}

impl Cast {
    /// `bot` writes into its chat with `person`: the Bot API's `sendMessage`, on both servers.
    pub fn bot_sends(&self, bot: &Bot, person: &Person) -> Template {
        Template {
            path: format!("/bot{}/sendMessage", bot.token),
            bearer: None,
            body: json!({"chat_id": person.id, "text": ""}),
        }
    }

    /// `person` writes into its chat with `bot` through the server's client API.
    pub fn person_sends(&self, person: &Person, bot: &Bot) -> Template {
        match self.flavor {
            Flavor::Plaza => Template {
                path: format!("/api/v1/chats/{}/messages", bot.id),
                bearer: person.session.clone(),
                body: json!({"text": ""}),
            },
            // What the peer's own TelegramClient.makeMessage builds, addressed to the bot's token.
            Flavor::Peer => Template {
                path: "/sendMessage".into(),
                bearer: None,
                body: json!({
                    "botToken": bot.token,
                    "from": {"id": person.id, "first_name": person.username, "username": person.username, "is_bot": false},
                    "chat": {"id": person.id, "first_name": person.username, "username": person.username, "type": "private"},
                    "date": 1_700_000_000,
                    "text": "",
                }),
            },
        }
    }

    /// The bot's `getUpdates` long poll from `offset`, on both servers.
    pub fn get_updates(&self, bot: &Bot, offset: i64, timeout: u32) -> Call {
        Call::post_json(format!("/bot{}/getUpdates", bot.token), &json!({"offset": offset, "timeout": timeout}))
    }

    /// The peer's client API: the bot's unread messages in its chat with `person` (no long poll).
    pub fn peer_client_poll(&self, person: &Person, bot: &Bot) -> Call {
        Call::post_json("/getUpdates", &json!({"token": bot.token, "chatId": person.id}))
    }
}

/// The Bot API's answer to `getUpdates`; the peer's client `getUpdates` has the same shape.
#[derive(Debug, Deserialize)]
pub struct UpdatesAnswer {
    pub ok: bool,
    #[serde(default)]
    pub result: Vec<Update>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Update {
    /// The Bot API's update id; the peer's client API has none.
    #[serde(default)]
    pub update_id: Option<i64>,
    #[serde(default)]
    pub message: Option<UpdateMessage>,
}

#[derive(Debug, Deserialize)]
pub struct UpdateMessage {
    #[serde(default)]
    pub text: Option<String>,
}

/// Creates an owner and `n` bots `bench_<i>_bot` with Plaza's CLI over the store given by
/// `store_args` (before the server runs on it), and returns them with their tokens.
pub async fn create_plaza_bots(plaza: &Path, store_args: &[String], n: usize) -> anyhow::Result<Vec<Bot>> {
    let run = |args: Vec<String>| async move {
        let out = Command::new(plaza)
            .args(store_args)
            .args(&args)
            .env("PLAZA_LOG", "warn")
            .output()
            .await
            .with_context(|| format!("running {}", plaza.display()))?;
        anyhow::ensure!(
            out.status.success(),
            "plaza {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        anyhow::Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let owner = "bench_owner";
    run(vec!["user".into(), "create".into(), owner.into(), "--password".into(), "pw-bench-owner".into()]).await?;
    let mut bots = Vec::with_capacity(n);
    for i in 0..n {
        let username = format!("bench_{i}_bot");
        let out = run(vec!["bot".into(), "create".into(), username.clone(), "--owner".into(), owner.into()]).await?;
        bots.push(parse_created_bot(&username, &out)?);
    }
    Ok(bots)
}

/// Whether `plaza <command> --help` lists `flag`.
pub async fn plaza_has_flag(plaza: &Path, command: &str, flag: &str) -> anyhow::Result<bool> {
    let out = Command::new(plaza)
        .args([command, "--help"])
        .output()
        .await
        .with_context(|| format!("running {} {command} --help", plaza.display()))?;
    anyhow::ensure!(out.status.success(), "plaza {command} --help failed");
    Ok(String::from_utf8_lossy(&out.stdout).split_whitespace().any(|w| w.trim_end_matches(',') == flag))
}

/// The id and token in `plaza bot create`'s answer:
/// `created bot @x_bot (id 1000002) owned by @o` and `token: 1000002:secret`.
fn parse_created_bot(username: &str, out: &str) -> anyhow::Result<Bot> {
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .map(str::trim)
        .with_context(|| format!("no token in {out:?}"))?;
    let id =
        token.split(':').next().and_then(|id| id.parse().ok()).with_context(|| format!("no bot id in {token:?}"))?;
    Ok(Bot { id, username: username.to_string(), token: token.to_string() })
}

/// Signs up `n` people `person_<i>` on Plaza and has each start every bot, which opens their
/// private chat and sends the bot `/start`.
pub async fn plaza_people(addr: SocketAddr, bots: &[Bot], n: usize) -> anyhow::Result<Vec<Person>> {
    // Sign-up hashes a password with argon2 on the server; a few connections keep it busy.
    const WORKERS: usize = 4;
    let mut tasks = JoinSet::new();
    for w in 0..WORKERS {
        let bots = bots.to_vec();
        tasks.spawn(async move {
            let mut conn = Conn::connect(addr).await?;
            let mut people = Vec::new();
            for i in (w..n).step_by(WORKERS) {
                let account = plaza::signup(&mut conn, &format!("person_{i}")).await?;
                for bot in &bots {
                    let started = plaza::start_bot(&mut conn, &account, &bot.username).await?;
                    anyhow::ensure!(
                        started["chat"]["id"].as_i64() == Some(bot.id),
                        "a person's chat with a bot is named by the bot's id: {started}"
                    );
                }
                people.push((i, Person { id: account.id, username: account.username, session: Some(account.token) }));
            }
            anyhow::Ok(people)
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(part) = tasks.join_next().await {
        all.extend(part.context("sign-up task panicked")??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, p)| p).collect())
}

/// Reads and confirms every pending update of each bot (the people's `/start`s), so that the
/// measured runs begin with empty queues.
pub async fn drain_updates(cast: &Cast) -> anyhow::Result<u64> {
    let mut conn = Conn::connect(cast.addr).await?;
    let mut drained = 0;
    for bot in &cast.bots {
        let mut offset = 0;
        loop {
            let answer: UpdatesAnswer = conn.send_json(&cast.get_updates(bot, offset, 0)).await?;
            anyhow::ensure!(answer.ok, "getUpdates failed: {:?}", answer.description);
            if answer.result.is_empty() {
                break;
            }
            drained += answer.result.len() as u64;
            if let Some(last) = answer.result.iter().filter_map(|u| u.update_id).max() {
                offset = last + 1;
            }
        }
    }
    Ok(drained)
}

/// Made-up bots and people for the peer, which takes any token and any chat id: the same numbers
/// Plaza would give them.
pub fn peer_cast(addr: SocketAddr, bots: usize, people: usize) -> Cast {
    let bots = (0..bots)
        .map(|i| {
            let id = 1_000_002 + i as i64;
            Bot { id, username: format!("bench_{i}_bot"), token: format!("{id}:peer-token-{i:04}") }
        })
        .collect();
    let people = (0..people)
        .map(|i| Person { id: 2_000_001 + i as i64, username: format!("person_{i}"), session: None })
        .collect();
    Cast { flavor: Flavor::Peer, addr, bots, people }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_created_bot() {
        let out = "created bot @bench_0_bot (id 1000002) owned by @bench_owner\n\
                   token: 1000002:pOWCvONH_gevQItEp7wIYrEMO3Vypg9Hg7z\nKeep it secret.\n";
        let bot = parse_created_bot("bench_0_bot", out).unwrap();
        assert_eq!(bot.id, 1_000_002);
        assert_eq!(bot.token, "1000002:pOWCvONH_gevQItEp7wIYrEMO3Vypg9Hg7z");
        assert!(parse_created_bot("x_bot", "created bot").is_err());
    }

    #[test]
    fn templates_fill_in_the_text() {
        let cast = peer_cast("127.0.0.1:1".parse().unwrap(), 1, 1);
        let call = cast.person_sends(&cast.people[0], &cast.bots[0]).with_text("42");
        let body: Value = serde_json::from_slice(call.body.as_ref().unwrap()).unwrap();
        assert_eq!(body["text"], "42");
        assert_eq!(body["botToken"], cast.bots[0].token);
        let call = cast.bot_sends(&cast.bots[0], &cast.people[0]).with_text("7");
        assert_eq!(call.path, format!("/bot{}/sendMessage", cast.bots[0].token));
        let body: Value = serde_json::from_slice(call.body.as_ref().unwrap()).unwrap();
        assert_eq!(body, json!({"chat_id": 2_000_001, "text": "7"}));
    }
}
