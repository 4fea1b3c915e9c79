//! Demo data for `serve --demo`: people to log in as, a bot (answered by [`crate::demo_bot`]) that
//! the demo user has started, and a group with a first message.

use plaza_core::{ChatKind, Denied, NewMessage, UserId};
use plaza_service::{Service, ServiceError};

/// Demo people: username, display name. Each one's password is their username.
pub const PEOPLE: &[(&str, &str)] = &[("demo", "Demo User"), ("alice", "Alice"), ("carol", "Carol")];
pub const BOT: &str = "plaza_demo_bot";
pub const GROUP_TITLE: &str = "Plaza demo";

/// Creates what is missing; running it again changes nothing. Returns the demo bot's id.
pub async fn seed(service: &Service) -> Result<UserId, ServiceError> {
    let mut ids = Vec::new();
    for (username, name) in PEOPLE {
        let user = match service.create_person(username, username, name).await {
            Ok(u) => {
                tracing::info!(username, "demo: created user (password = username)");
                u
            }
            Err(ServiceError::Denied(Denied::UsernameTaken)) => service.user_by_username(username).await?,
            Err(e) => return Err(e),
        };
        ids.push(user.id);
    }
    let bot = match service.create_bot(BOT, "demo", Some("Plaza Demo Bot")).await {
        Ok(issued) => {
            // The token goes to the operator's terminal only, never into the logs.
            tracing::info!(bot = BOT, "demo: created bot");
            println!(
                "demo bot @{BOT} token: {} (Plaza answers as this bot; a poller or webhook of yours using the \
                 token takes over, and Plaza tries again once a minute)",
                issued.token.to_token_string()
            );
            issued.bot
        }
        Err(ServiceError::Denied(Denied::UsernameTaken)) => service.user_by_username(BOT).await?,
        Err(e) => return Err(e),
    };
    if !bot.is_bot {
        return Err(Denied::UsernameTaken.into());
    }
    let demo = ids[0];
    let chats = service.chats(demo).await?;
    // Demo has started the bot, so its chat (and the bot's greeting) is in the list from the start.
    if !chats.iter().any(|c| matches!(&c.chat.kind, ChatKind::Private { peer } if peer.id == bot.id)) {
        service.start_bot(demo, BOT, None).await?;
    }
    let has_group =
        chats.iter().any(|c| matches!(&c.chat.kind, ChatKind::Group { title, .. } if title.as_str() == GROUP_TITLE));
    if !has_group {
        let group = service.create_group(demo, GROUP_TITLE, ids[1..].to_vec()).await?;
        let hello = NewMessage::new("Welcome to Plaza! Say hi to Alice and Carol.", vec![], None)?;
        service.send_message(demo, group.id, hello).await?;
    }
    Ok(bot.id)
}
