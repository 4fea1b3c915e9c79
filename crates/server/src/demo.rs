//! Demo data for `serve --demo`: people to log in as, a bot (answered by [`crate::demo_bot`]) that
//! the demo user has started, and a group with a first message.

use plaza_core::{ChatKind, Denied, NewMessage, UserId};
use plaza_service::{Service, ServiceError};

/// Demo people: username, display name. Each one's password is their username.
pub const PEOPLE: &[(&str, &str)] = &[("demo", "Demo User"), ("alice", "Alice"), ("carol", "Carol")];
pub const BOT: &str = "plaza_demo_bot";
pub const GROUP_TITLE: &str = "Plaza demo";
/// The demo mini apps (directories of `apps/`): short name, title, description. The first is the
/// bot's main app and its menu button.
pub const APPS: &[(&str, &str, &str)] = &[
    ("shop", "Plaza Café", "Order coffee and cake: a shop with a cart, main and back buttons and popups."),
    ("todo", "To-do list", "A to-do list kept in CloudStorage, so it follows you to every device."),
];

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
    seed_apps(service, &bot).await?;
    let has_group =
        chats.iter().any(|c| matches!(&c.chat.kind, ChatKind::Group { title, .. } if title.as_str() == GROUP_TITLE));
    if !has_group {
        let group = service.create_group(demo, GROUP_TITLE, ids[1..].to_vec()).await?;
        let hello = NewMessage::new("Welcome to Plaza! Say hi to Alice and Carol.", vec![], None)?;
        service.send_message(demo, group.id, hello).await?;
    }
    Ok(bot.id)
}

/// Registers the demo mini apps with the bot and deploys their bundles (embedded in the binary);
/// a bundle that has not changed since the last start is not deployed again. The shop is the
/// bot's main app and opens from its menu button.
async fn seed_apps(service: &Service, bot: &plaza_core::User) -> Result<(), ServiceError> {
    for (i, (short_name, title, description)) in APPS.iter().enumerate() {
        let bundle: Vec<(String, Vec<u8>)> = plaza_web::DEMO_APPS
            .iter()
            .filter(|(app, _, _)| app == short_name)
            .map(|(_, path, bytes)| (path.to_string(), bytes.to_vec()))
            .collect();
        service.register_webapp(BOT, short_name, title, None, description, i == 0).await?;
        let version = service.deploy_webapp(BOT, short_name, bundle).await?;
        tracing::info!(app = short_name, version = version.version, "demo: mini app deployed");
    }
    let shop = service.webapp(bot, APPS[0].0).await?;
    if let Some(url) = service.app_url(bot, &shop) {
        service.set_menu_button(bot.id, None, plaza_core::bot::MenuButton::web_app("Café", &url)?).await?;
    }
    Ok(())
}
