//! Demo data for `serve --demo`: people to log in as, a bot, and a group with a first message.

use plaza_core::{Denied, NewMessage};
use plaza_service::{Service, ServiceError};

/// Demo people: username, display name. Each one's password is their username.
pub const PEOPLE: &[(&str, &str)] = &[("demo", "Demo User"), ("alice", "Alice"), ("carol", "Carol")];
pub const BOT: &str = "plaza_demo_bot";
pub const GROUP_TITLE: &str = "Plaza demo";

/// Creates what is missing; running it again changes nothing.
pub async fn seed(service: &Service) -> Result<(), ServiceError> {
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
    match service.create_bot(BOT, "demo", Some("Plaza Demo Bot")).await {
        Ok(issued) => {
            // The token goes to the operator's terminal only, never into the logs.
            tracing::info!(bot = BOT, "demo: created bot");
            println!("demo bot @{BOT} token: {}", issued.token.to_token_string());
        }
        Err(ServiceError::Denied(Denied::UsernameTaken)) => {}
        Err(e) => return Err(e),
    }
    let demo = ids[0];
    let has_group =
        service.chats(demo).await?.iter().any(
            |c| matches!(&c.chat.kind, plaza_core::ChatKind::Group { title, .. } if title.as_str() == GROUP_TITLE),
        );
    if !has_group {
        let group = service.create_group(demo, GROUP_TITLE, ids[1..].to_vec()).await?;
        let hello = NewMessage::new("Welcome to Plaza! Say hi to Alice and Carol.", vec![], None)?;
        service.send_message(demo, group.id, hello).await?;
    }
    Ok(())
}
