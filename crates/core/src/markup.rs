//! Keyboards a message carries: inline keyboards under it, reply keyboards replacing the user's
//! keyboard, keyboard removal and forced replies — with Telegram's limits.

use crate::Invalid;

/// Most bytes of a button's `callback_data`, as on Telegram.
pub const MAX_CALLBACK_DATA: usize = 64;
/// Most buttons one keyboard may hold (Telegram's clients show at most 100).
pub const MAX_BUTTONS: usize = 100;
/// Longest button label, in characters.
pub const MAX_BUTTON_TEXT: usize = 256;
/// Longest input field placeholder, in characters.
pub const MAX_PLACEHOLDER: usize = 64;
/// Longest URL a button may open.
pub const MAX_URL: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyMarkup {
    /// Buttons under the message; an empty keyboard removes one when editing.
    Inline(Vec<Vec<InlineButton>>),
    /// Buttons replacing the recipient's keyboard.
    Keyboard(ReplyKeyboard),
    /// Hides a reply keyboard shown before.
    Remove { selective: bool },
    /// Opens a reply to this message in the recipient's client.
    ForceReply { placeholder: Option<String>, selective: bool },
}

impl ReplyMarkup {
    /// The inline keyboard, if that is what this is.
    pub fn inline(&self) -> Option<&[Vec<InlineButton>]> {
        match self {
            ReplyMarkup::Inline(rows) => Some(rows),
            _ => None,
        }
    }

    /// Does the inline keyboard hold a callback button with exactly this data?
    pub fn has_callback(&self, data: &str) -> bool {
        self.inline().is_some_and(|rows| {
            rows.iter().flatten().any(|b| matches!(&b.action, ButtonAction::Callback(d) if d == data))
        })
    }

    /// Checks the limits that hold for every kind of markup.
    pub fn check(self) -> Result<Self, Invalid> {
        match &self {
            ReplyMarkup::Inline(rows) => {
                if rows.iter().map(Vec::len).sum::<usize>() > MAX_BUTTONS {
                    return Err(Invalid::new("reply_markup", "too many buttons"));
                }
                for b in rows.iter().flatten() {
                    check_button_text(&b.text)?;
                    b.action.check()?;
                }
            }
            ReplyMarkup::Keyboard(k) => {
                let count: usize = k.rows.iter().map(Vec::len).sum();
                if count == 0 {
                    return Err(Invalid::new("reply_markup", "keyboard must be non-empty"));
                }
                if count > MAX_BUTTONS {
                    return Err(Invalid::new("reply_markup", "too many buttons"));
                }
                for b in k.rows.iter().flatten() {
                    check_button_text(&b.text)?;
                    if let Some(KeyboardRequest::WebApp(url)) = &b.request {
                        check_url(url)?;
                    }
                }
                check_placeholder(k.placeholder.as_deref())?;
            }
            ReplyMarkup::ForceReply { placeholder, .. } => check_placeholder(placeholder.as_deref())?,
            ReplyMarkup::Remove { .. } => {}
        }
        Ok(self)
    }
}

fn check_button_text(text: &str) -> Result<(), Invalid> {
    if text.trim().is_empty() {
        return Err(Invalid::new("reply_markup", "text buttons are unallowed in the inline keyboard"));
    }
    if text.chars().count() > MAX_BUTTON_TEXT {
        return Err(Invalid::new("reply_markup", "button text is too long"));
    }
    Ok(())
}

fn check_placeholder(p: Option<&str>) -> Result<(), Invalid> {
    match p {
        Some(p) if p.chars().count() > MAX_PLACEHOLDER => {
            Err(Invalid::new("reply_markup", "input field placeholder is too long"))
        }
        _ => Ok(()),
    }
}

fn check_url(url: &str) -> Result<(), Invalid> {
    if url.trim().is_empty() || url.len() > MAX_URL || url.chars().any(char::is_whitespace) {
        return Err(Invalid::new("reply_markup", "wrong HTTP URL specified"));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineButton {
    pub text: String,
    pub action: ButtonAction,
}

/// What pressing an inline button does. Exactly one per button, as on Telegram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ButtonAction {
    Url(String),
    /// 1–64 bytes sent back to the bot in a callback query.
    Callback(String),
    /// Opens a mini app at this URL.
    WebApp(String),
    LoginUrl(String),
    SwitchInlineQuery(String),
    SwitchInlineQueryCurrentChat(String),
    CopyText(String),
    CallbackGame,
    /// The Pay button of an invoice.
    Pay,
}

impl ButtonAction {
    /// The Bot API's name of the field that holds this action.
    pub fn name(&self) -> &'static str {
        match self {
            ButtonAction::Url(_) => "url",
            ButtonAction::Callback(_) => "callback_data",
            ButtonAction::WebApp(_) => "web_app",
            ButtonAction::LoginUrl(_) => "login_url",
            ButtonAction::SwitchInlineQuery(_) => "switch_inline_query",
            ButtonAction::SwitchInlineQueryCurrentChat(_) => "switch_inline_query_current_chat",
            ButtonAction::CopyText(_) => "copy_text",
            ButtonAction::CallbackGame => "callback_game",
            ButtonAction::Pay => "pay",
        }
    }

    /// The action's value (URL, data, query, text), for the actions that have one.
    pub fn value(&self) -> Option<&str> {
        match self {
            ButtonAction::Url(v)
            | ButtonAction::Callback(v)
            | ButtonAction::WebApp(v)
            | ButtonAction::LoginUrl(v)
            | ButtonAction::SwitchInlineQuery(v)
            | ButtonAction::SwitchInlineQueryCurrentChat(v)
            | ButtonAction::CopyText(v) => Some(v),
            ButtonAction::CallbackGame | ButtonAction::Pay => None,
        }
    }

    fn check(&self) -> Result<(), Invalid> {
        match self {
            ButtonAction::Callback(d) if d.is_empty() || d.len() > MAX_CALLBACK_DATA => {
                Err(Invalid::new("reply_markup", "BUTTON_DATA_INVALID"))
            }
            ButtonAction::Url(u) | ButtonAction::WebApp(u) | ButtonAction::LoginUrl(u) => check_url(u),
            ButtonAction::CopyText(t) if t.is_empty() || t.chars().count() > 256 => {
                Err(Invalid::new("reply_markup", "copy_text must be 1-256 characters"))
            }
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplyKeyboard {
    pub rows: Vec<Vec<KeyboardButton>>,
    pub is_persistent: bool,
    pub resize: bool,
    pub one_time: bool,
    pub placeholder: Option<String>,
    pub selective: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyboardButton {
    pub text: String,
    /// What pressing it sends besides its text; `None` sends the text.
    pub request: Option<KeyboardRequest>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyboardRequest {
    Contact,
    Location,
    /// Asks the user to create a poll; `quiz` or `regular` restricts its type.
    Poll {
        kind: Option<String>,
    },
    /// Opens a mini app whose `sendData` reaches the bot.
    WebApp(String),
}

impl KeyboardRequest {
    /// A short name for what the button asks for, and its value where it has one.
    pub fn parts(&self) -> (&'static str, Option<&str>) {
        match self {
            KeyboardRequest::Contact => ("contact", None),
            KeyboardRequest::Location => ("location", None),
            KeyboardRequest::Poll { kind } => ("poll", kind.as_deref()),
            KeyboardRequest::WebApp(url) => ("web_app", Some(url)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cb(text: &str, data: &str) -> InlineButton {
        InlineButton { text: text.into(), action: ButtonAction::Callback(data.into()) }
    }

    #[test]
    fn callback_data_is_one_to_64_bytes() {
        assert!(ReplyMarkup::Inline(vec![vec![cb("a", &"x".repeat(64))]]).check().is_ok());
        assert!(ReplyMarkup::Inline(vec![vec![cb("a", &"x".repeat(65))]]).check().is_err());
        assert!(ReplyMarkup::Inline(vec![vec![cb("a", "")]]).check().is_err());
        // Bytes, not characters: 22 three-byte characters are 66 bytes.
        assert!(ReplyMarkup::Inline(vec![vec![cb("a", &"€".repeat(22))]]).check().is_err());
    }

    #[test]
    fn finds_callback_buttons() {
        let m = ReplyMarkup::Inline(vec![vec![cb("a", "one")], vec![cb("b", "two")]]).check().unwrap();
        assert!(m.has_callback("two"));
        assert!(!m.has_callback("three"));
        assert!(ReplyMarkup::Inline(vec![]).check().is_ok());
    }

    #[test]
    fn keyboards_need_buttons_and_labels() {
        assert!(ReplyMarkup::Keyboard(ReplyKeyboard::default()).check().is_err());
        let k = |t: &str| ReplyKeyboard {
            rows: vec![vec![KeyboardButton { text: t.into(), request: None }]],
            ..Default::default()
        };
        assert!(ReplyMarkup::Keyboard(k("yes")).check().is_ok());
        assert!(ReplyMarkup::Keyboard(k(" ")).check().is_err());
        let long = ReplyMarkup::ForceReply { placeholder: Some("p".repeat(65)), selective: false };
        assert!(long.check().is_err());
    }
}
