//! What a bot keeps besides its account: commands, menu button, profile texts, callback queries,
//! the state of its update stream and its webhook, with Telegram's limits.

use crate::{ChatId, ChatKey, Invalid, LanguageCode, MessageId, UserId};

/// Most commands one scope and language may list, as on Telegram.
pub const MAX_COMMANDS: usize = 100;

/// One entry of a bot's command menu: `/command` and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotCommand {
    pub command: String,
    pub description: String,
}

impl BotCommand {
    /// `command`: 1–32 of `a-z`, `0-9`, `_` (a leading `/` is dropped, as Telegram's servers do);
    /// `description`: 1–256 characters.
    pub fn new(command: &str, description: &str) -> Result<Self, Invalid> {
        let command = command.strip_prefix('/').unwrap_or(command);
        if command.is_empty() || command.len() > 32 {
            return Err(Invalid::new("commands", "command must be 1-32 characters long"));
        }
        if !command.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(Invalid::new(
                "commands",
                "command must contain only lowercase English letters, digits and underscores",
            ));
        }
        let n = description.trim().chars().count();
        if n == 0 || n > 256 {
            return Err(Invalid::new("commands", "command description must be 1-256 characters long"));
        }
        Ok(BotCommand { command: command.to_string(), description: description.trim().to_string() })
    }
}

/// Which users see a list of commands, from the most to the least specific.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandScope {
    Default,
    AllPrivateChats,
    AllGroupChats,
    AllChatAdministrators,
    Chat(ChatId),
    ChatAdministrators(ChatId),
    ChatMember(ChatId, UserId),
}

impl CommandScope {
    /// A stable key for storing the list under.
    pub fn key(&self) -> String {
        match self {
            CommandScope::Default => "default".into(),
            CommandScope::AllPrivateChats => "all_private_chats".into(),
            CommandScope::AllGroupChats => "all_group_chats".into(),
            CommandScope::AllChatAdministrators => "all_chat_administrators".into(),
            CommandScope::Chat(c) => format!("chat:{}", c.0),
            CommandScope::ChatAdministrators(c) => format!("chat_administrators:{}", c.0),
            CommandScope::ChatMember(c, u) => format!("chat_member:{}:{}", c.0, u.0),
        }
    }

    /// The scopes a user sees commands from in a chat, most specific first, as Telegram's clients
    /// resolve them: the first scope that has a list wins.
    pub fn resolution_order(chat: ChatId, user: UserId, is_group: bool, is_admin: bool) -> Vec<CommandScope> {
        let mut order = Vec::with_capacity(6);
        if is_group {
            order.push(CommandScope::ChatMember(chat, user));
            if is_admin {
                order.push(CommandScope::ChatAdministrators(chat));
            }
            order.push(CommandScope::Chat(chat));
            if is_admin {
                order.push(CommandScope::AllChatAdministrators);
            }
            order.push(CommandScope::AllGroupChats);
        } else {
            order.push(CommandScope::Chat(chat));
            order.push(CommandScope::AllPrivateChats);
        }
        order.push(CommandScope::Default);
        order
    }
}

/// The button beside a private chat's message field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuButton {
    /// Whatever the bot's default is (the commands list unless set otherwise).
    Default,
    /// Opens the bot's command list.
    Commands,
    /// Opens a mini app.
    WebApp { text: String, url: String },
}

impl MenuButton {
    pub fn web_app(text: &str, url: &str) -> Result<Self, Invalid> {
        if text.trim().is_empty() || text.chars().count() > 64 {
            return Err(Invalid::new("menu_button", "text must be 1-64 characters long"));
        }
        if url.trim().is_empty() || url.len() > 2048 || url.chars().any(char::is_whitespace) {
            return Err(Invalid::new("menu_button", "wrong HTTP URL specified"));
        }
        Ok(MenuButton::WebApp { text: text.to_string(), url: url.to_string() })
    }
}

/// A bot's localisable profile texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BotText {
    /// Up to 64 characters; the account's display name is the fallback.
    Name,
    /// Up to 512 characters, shown in an empty chat with the bot.
    Description,
    /// Up to 120 characters, shown on the profile page.
    ShortDescription,
}

impl BotText {
    pub fn key(self) -> &'static str {
        match self {
            BotText::Name => "name",
            BotText::Description => "description",
            BotText::ShortDescription => "short_description",
        }
    }

    /// Empty text removes the value for that language.
    pub fn check(self, text: &str) -> Result<Option<String>, Invalid> {
        let (field, max) = match self {
            BotText::Name => ("name", 64),
            BotText::Description => ("description", 512),
            BotText::ShortDescription => ("short_description", 120),
        };
        if text.chars().count() > max {
            return Err(Invalid::new(field, format!("must be at most {max} characters long")));
        }
        Ok(if text.is_empty() { None } else { Some(text.to_string()) })
    }
}

/// A language a setting applies to; `None` is every language without its own value.
pub type SettingLanguage = Option<LanguageCode>;

/// A press of an inline button with callback data, waiting for the bot's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackQuery {
    pub id: i64,
    pub bot: UserId,
    /// Who pressed.
    pub from: UserId,
    pub chat: ChatKey,
    pub message_id: MessageId,
    pub data: String,
    pub created_at: i64,
    pub answer: Option<CallbackAnswer>,
}

/// What the bot answered to a button press; shown to the user as a toast or an alert, or a URL
/// their client opens.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallbackAnswer {
    pub text: Option<String>,
    pub show_alert: bool,
    pub url: Option<String>,
    pub cache_time: u32,
}

impl CallbackAnswer {
    pub fn new(text: Option<String>, show_alert: bool, url: Option<String>, cache_time: u32) -> Result<Self, Invalid> {
        if text.as_deref().is_some_and(|t| t.chars().count() > 200) {
            return Err(Invalid::new("text", "MESSAGE_TOO_LONG"));
        }
        let url = url.filter(|u| !u.is_empty());
        if url.as_deref().is_some_and(|u| u.len() > 2048 || u.chars().any(char::is_whitespace)) {
            return Err(Invalid::new("url", "URL_INVALID"));
        }
        Ok(CallbackAnswer { text: text.filter(|t| !t.is_empty()), show_alert, url, cache_time })
    }
}

/// How long a bot has to answer a callback query, as on Telegram.
pub const CALLBACK_ANSWER_WINDOW: i64 = 15 * 60;

/// The kinds of update a bot may receive, by the Bot API's names.
pub const UPDATE_TYPES: &[&str] = &[
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
];

/// Kinds a bot receives only when it asks for them by name.
const OPT_IN_TYPES: &[&str] = &["chat_member", "message_reaction", "message_reaction_count"];

/// A bot's choice of update kinds. `None` (never set, or set to `[]`) is Telegram's default: every
/// kind but the opt-in ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowedUpdates(pub Option<Vec<String>>);

impl AllowedUpdates {
    /// Unknown names are ignored, as Telegram does; an empty list means the default.
    pub fn new(names: Vec<String>) -> Self {
        let mut known: Vec<String> = names.into_iter().filter(|n| UPDATE_TYPES.contains(&n.as_str())).collect();
        known.sort();
        known.dedup();
        AllowedUpdates(if known.is_empty() { None } else { Some(known) })
    }

    pub fn allows(&self, kind: &str) -> bool {
        match &self.0 {
            None => !OPT_IN_TYPES.contains(&kind),
            Some(list) => list.iter().any(|k| k == kind),
        }
    }
}

/// Where a bot's updates are pushed, when it uses a webhook instead of `getUpdates`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
    pub secret_token: Option<String>,
    pub max_connections: u32,
    pub ip_address: Option<String>,
    pub has_custom_certificate: bool,
    pub last_error_date: Option<i64>,
    pub last_error_message: Option<String>,
}

/// Default and largest `max_connections` of a webhook.
pub const WEBHOOK_DEFAULT_CONNECTIONS: u32 = 40;
pub const WEBHOOK_MAX_CONNECTIONS: u32 = 100;

/// The state of a bot's update stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BotState {
    /// Updates with ids below this are confirmed and never delivered again.
    pub offset: u64,
    pub allowed_updates: AllowedUpdates,
    pub webhook: Option<Webhook>,
}

/// What a chat member is doing right now, shown to the others for a few seconds.
pub const CHAT_ACTIONS: &[&str] = &[
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
];

/// A valid chat action's name.
pub fn check_chat_action(action: &str) -> Result<&'static str, Invalid> {
    CHAT_ACTIONS
        .iter()
        .find(|a| **a == action)
        .copied()
        .ok_or_else(|| Invalid::new("action", "wrong parameter action in request"))
}

/// `secret_token`: 1–256 of `A-Z a-z 0-9 _ -`.
pub fn check_secret_token(s: &str) -> Result<(), Invalid> {
    if s.is_empty() || s.len() > 256 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(Invalid::new("secret_token", "secret token contains unallowed characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_follow_telegrams_rules() {
        assert_eq!(BotCommand::new("/start", "Start").unwrap().command, "start");
        assert!(BotCommand::new("Start", "x").is_err());
        assert!(BotCommand::new("", "x").is_err());
        assert!(BotCommand::new(&"a".repeat(33), "x").is_err());
        assert!(BotCommand::new("help", " ").is_err());
    }

    #[test]
    fn scopes_resolve_most_specific_first() {
        let (c, u) = (ChatId(-5), UserId(7));
        assert_eq!(
            CommandScope::resolution_order(c, u, true, true),
            vec![
                CommandScope::ChatMember(c, u),
                CommandScope::ChatAdministrators(c),
                CommandScope::Chat(c),
                CommandScope::AllChatAdministrators,
                CommandScope::AllGroupChats,
                CommandScope::Default
            ]
        );
        assert_eq!(
            CommandScope::resolution_order(ChatId(7), u, false, false),
            vec![CommandScope::Chat(ChatId(7)), CommandScope::AllPrivateChats, CommandScope::Default]
        );
        assert_eq!(CommandScope::ChatMember(c, u).key(), "chat_member:-5:7");
    }

    #[test]
    fn allowed_updates_default_leaves_out_opt_in_kinds() {
        let d = AllowedUpdates::new(vec![]);
        assert!(d.allows("message") && d.allows("callback_query"));
        assert!(!d.allows("message_reaction") && !d.allows("chat_member"));
        let only = AllowedUpdates::new(vec!["message_reaction".into(), "bogus".into()]);
        assert_eq!(only.0, Some(vec!["message_reaction".to_string()]));
        assert!(only.allows("message_reaction") && !only.allows("message"));
    }

    #[test]
    fn answers_and_texts_have_limits() {
        assert!(CallbackAnswer::new(Some("x".repeat(201)), false, None, 0).is_err());
        assert_eq!(CallbackAnswer::new(Some(String::new()), true, None, 0).unwrap().text, None);
        assert_eq!(BotText::Name.check("").unwrap(), None);
        assert!(BotText::ShortDescription.check(&"x".repeat(121)).is_err());
        assert!(check_secret_token("abc_-9").is_ok());
        assert!(check_secret_token("a b").is_err());
    }
}
