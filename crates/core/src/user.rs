//! Validated values about accounts: usernames, names, passwords, language codes, phone numbers, bot tokens.

use crate::{Invalid, UserId, ids::MAX_ID};

/// A public handle: 3–32 characters of `[A-Za-z0-9_]`, starting with a letter. Unique ignoring case.
/// Bot usernames are at least 5 characters and end in `bot`, as on Telegram.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim().trim_start_matches('@');
        let len = s.chars().count();
        if !(3..=32).contains(&len) {
            return Err(Invalid::new("username", "must be 3 to 32 characters long"));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(Invalid::new("username", "must start with a letter"));
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Invalid::new("username", "may contain only letters, digits and underscores"));
        }
        if s.ends_with('_') || s.contains("__") {
            return Err(Invalid::new("username", "must not end with or repeat an underscore"));
        }
        Ok(Username(s.to_string()))
    }

    pub fn parse_bot(s: &str) -> Result<Self, Invalid> {
        let u = Self::parse(s)?;
        if u.0.len() < 5 || !u.0.to_ascii_lowercase().ends_with("bot") {
            return Err(Invalid::new("username", "a bot's username must be at least 5 characters and end in 'bot'"));
        }
        Ok(u)
    }

    /// The key usernames are unique by.
    pub fn canonical(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's or bot's shown name: 1–64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Invalid::new("display_name", "must not be empty"));
        }
        if s.chars().count() > 64 {
            return Err(Invalid::new("display_name", "must be at most 64 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(Invalid::new("display_name", "must not contain control characters"));
        }
        Ok(DisplayName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A group's title: 1–128 characters, as on Telegram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupTitle(String);

impl GroupTitle {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Invalid::new("title", "must not be empty"));
        }
        if s.chars().count() > 128 {
            return Err(Invalid::new("title", "must be at most 128 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(Invalid::new("title", "must not contain control characters"));
        }
        Ok(GroupTitle(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed: 4–256 characters. Only its argon2id hash is ever stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let n = s.chars().count();
        if n < 4 {
            return Err(Invalid::new("password", "must be at least 4 characters"));
        }
        if n > 256 {
            return Err(Invalid::new("password", "must be at most 256 characters"));
        }
        Ok(Password(s.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// An IETF language tag as Telegram passes it (`en`, `pt-br`): 2–35 characters of letters, digits, `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageCode(String);

impl LanguageCode {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        let ok = (2..=35).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(Invalid::new("language_code", "must be a language tag such as 'en' or 'pt-br'"));
        }
        Ok(LanguageCode(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number in international form: `+` and 7–15 digits (E.164), separators removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let digits: String = s.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
        let rest = digits.strip_prefix('+').unwrap_or(&digits);
        if !(7..=15).contains(&rest.len()) || !rest.chars().all(|c| c.is_ascii_digit()) {
            return Err(Invalid::new("phone_number", "must be an international number such as +15551234567"));
        }
        Ok(PhoneNumber(format!("+{rest}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Length of a bot token's secret part, as in Telegram's tokens.
pub const BOT_SECRET_LEN: usize = 35;

/// A bot token `<bot_id>:<secret>`; the secret is 35 characters of `[A-Za-z0-9_-]`.
#[derive(Clone, PartialEq, Eq)]
pub struct BotToken {
    pub bot_id: UserId,
    secret: String,
}

impl BotToken {
    pub fn new(bot_id: UserId, secret: String) -> Result<Self, Invalid> {
        if secret.len() != BOT_SECRET_LEN || !secret.bytes().all(is_secret_byte) {
            return Err(Invalid::new("token", "malformed secret"));
        }
        if bot_id.0 <= 0 || bot_id.0 > MAX_ID {
            return Err(Invalid::new("token", "malformed bot id"));
        }
        Ok(BotToken { bot_id, secret })
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let (id, secret) = s.split_once(':').ok_or_else(|| Invalid::new("token", "missing ':'"))?;
        if id.starts_with('0') || id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) || id.len() > 16 {
            return Err(Invalid::new("token", "malformed bot id"));
        }
        let id: i64 = id.parse().map_err(|_| Invalid::new("token", "malformed bot id"))?;
        Self::new(UserId(id), secret.to_string())
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    pub fn to_token_string(&self) -> String {
        format!("{}:{}", self.bot_id.0, self.secret)
    }
}

impl std::fmt::Debug for BotToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BotToken({}:***)", self.bot_id.0)
    }
}

pub fn is_secret_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("@Alice_1").unwrap().as_str(), "Alice_1");
        assert_eq!(Username::parse("Alice").unwrap().canonical(), "alice");
        for bad in ["ab", "1abc", "a b c", "abc_", "a__b", "ab-cd", &"a".repeat(33)] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
        assert!(Username::parse_bot("helper_bot").is_ok());
        assert!(Username::parse_bot("HelperBot").is_ok());
        assert!(Username::parse_bot("helper").is_err());
        assert!(Username::parse_bot("abot").is_err());
    }

    #[test]
    fn names_and_titles() {
        assert!(DisplayName::parse("  ").is_err());
        assert!(DisplayName::parse(&"x".repeat(65)).is_err());
        assert!(DisplayName::parse("a\u{7}").is_err());
        assert_eq!(DisplayName::parse(" Ann ").unwrap().as_str(), "Ann");
        assert!(GroupTitle::parse(&"t".repeat(129)).is_err());
    }

    #[test]
    fn phone_numbers_and_languages() {
        assert_eq!(PhoneNumber::parse("+1 (555) 123-4567").unwrap().as_str(), "+15551234567");
        assert!(PhoneNumber::parse("12").is_err());
        assert!(PhoneNumber::parse("+12ab4567").is_err());
        assert_eq!(LanguageCode::parse("PT-br").unwrap().as_str(), "pt-br");
        assert!(LanguageCode::parse("e").is_err());
    }

    #[test]
    fn bot_tokens() {
        let secret = "A".repeat(35);
        let t = BotToken::parse(&format!("1000005:{secret}")).unwrap();
        assert_eq!(t.bot_id, UserId(1000005));
        assert_eq!(t.to_token_string(), format!("1000005:{secret}"));
        assert!(BotToken::parse(&format!("01:{secret}")).is_err());
        assert!(BotToken::parse(&format!("1:{}", "A".repeat(34))).is_err());
        assert!(BotToken::parse(&format!("1:{}/", "A".repeat(34))).is_err());
        assert!(BotToken::parse("nocolon").is_err());
        assert!(!format!("{t:?}").contains(&secret));
    }
}
