//! Mini apps registered to a bot (BotFather's `/newapp` on Telegram): a short name, a title and
//! the URL the app is loaded from. One app of a bot may be its main mini app
//! (`/<bot>?startapp`); the others open by `/<bot>/<short_name>`.

use crate::{Invalid, UserId};

/// `[A-Za-z0-9_]`, 3–30 characters, as Telegram's short names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShortName(String);

impl ShortName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let ok = (3..=30).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return Err(Invalid::new("short_name", "must be 3 to 30 letters, digits or underscores"));
        }
        Ok(ShortName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An `http(s)://` URL a mini app is loaded from (any other scheme could run in the client's place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUrl(String);

impl AppUrl {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let lower = s.to_ascii_lowercase();
        let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
        let host_ok = rest.is_some_and(|r| r.split(['/', '?', '#']).next().is_some_and(|h| !h.is_empty()));
        if !host_ok || s.len() > 2048 || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(Invalid::new("url", "must be an http:// or https:// URL of at most 2048 characters"));
        }
        Ok(AppUrl(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebApp {
    pub bot: UserId,
    pub short_name: ShortName,
    pub title: String,
    pub description: String,
    pub url: AppUrl,
    /// Opened by `/<bot>?startapp` and the bot profile's "Open app".
    pub main: bool,
}

/// Where a mini app was opened from; it decides the init data (see the Bot API's WebAppInitData).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchSource {
    /// An inline keyboard `web_app` button (private chats): `query_id` for `answerWebAppQuery`.
    InlineButton,
    /// A reply keyboard `web_app` button: only this launch may `sendData`.
    KeyboardButton,
    /// The bot's menu button: like an inline button.
    MenuButton,
    /// A link to a registered app (`/<bot>/<short_name>`) or the main app (`/<bot>?startapp`).
    Link,
}

impl LaunchSource {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Ok(match s {
            "inline_button" => LaunchSource::InlineButton,
            "keyboard_button" => LaunchSource::KeyboardButton,
            "menu_button" => LaunchSource::MenuButton,
            "link" => LaunchSource::Link,
            _ => return Err(Invalid::new("source", "must be inline_button, keyboard_button, menu_button or link")),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LaunchSource::InlineButton => "inline_button",
            LaunchSource::KeyboardButton => "keyboard_button",
            LaunchSource::MenuButton => "menu_button",
            LaunchSource::Link => "link",
        }
    }
}

/// `start_param`/`startapp`: up to 512 of `[A-Za-z0-9_-]`.
pub fn parse_start_param(s: &str) -> Result<String, Invalid> {
    if s.len() > 512 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(Invalid::new("start_param", "must be at most 512 letters, digits, '_' or '-'"));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked() {
        assert!(ShortName::parse("shop").is_ok());
        assert!(ShortName::parse("my_app_2").is_ok());
        for bad in ["ab", "has-dash", "späti", &"x".repeat(31)] {
            assert!(ShortName::parse(bad).is_err(), "{bad}");
        }
        assert!(AppUrl::parse("https://example.com/app?x=1#y").is_ok());
        assert!(AppUrl::parse("http://127.0.0.1:8081/demo/").is_ok());
        for bad in ["javascript:alert(1)", "https://", "ftp://x", "https://a b", "data:text/html,hi"] {
            assert!(AppUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(parse_start_param("abc-DEF_1").is_ok());
        assert!(parse_start_param("a b").is_err());
    }
}
