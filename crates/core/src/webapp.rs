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
    /// Where an app hosted elsewhere is loaded from; `None` for an app only Plaza hosts.
    pub url: Option<AppUrl>,
    /// The deployed bundle Plaza serves on the app's own origin; it wins over `url`.
    pub live_version: Option<u32>,
    /// Opened by `/<bot>?startapp` and the bot profile's "Open app".
    pub main: bool,
}

/// Where Plaza serves hosted mini apps: every app gets its own origin,
/// `<scheme>://<short_name>.<bot_username>.<host>[:port]` (lower case, `_` written as `-`, which
/// neither name may contain, so the mapping is one to one). Separate origins keep apps from
/// reading the client's storage or each other's. The default host, `localhost`, needs no DNS:
/// browsers resolve every `*.localhost` name to the loopback address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppsUrl {
    scheme: String,
    /// Lower case, without the port.
    host: String,
    port: Option<u16>,
}

impl AppsUrl {
    /// `http(s)://host[:port]`, without a path.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let bad =
            || Invalid::new("apps_url", "must be http(s)://host[:port] with no path, such as http://localhost:8080");
        let (scheme, rest) = s.split_once("://").ok_or_else(bad)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(bad());
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse::<u16>().map_err(|_| bad())?)),
            None => (rest, None),
        };
        let host = host.to_ascii_lowercase();
        let label_ok =
            |l: &str| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if host.is_empty() || host.len() > 200 || !host.split('.').all(label_ok) {
            return Err(bad());
        }
        Ok(AppsUrl { scheme, host, port })
    }

    /// The base URL, `scheme://host[:port]`.
    pub fn base(&self) -> String {
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("{}://{}{port}", self.scheme, self.host)
    }

    /// The origin of `bot`'s app `short_name`, such as `http://shop.plaza-demo-bot.localhost:8080`.
    pub fn origin(&self, bot: &str, short_name: &ShortName) -> String {
        let label = |s: &str| s.to_ascii_lowercase().replace('_', "-");
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("{}://{}.{}.{}{port}", self.scheme, label(short_name.as_str()), label(bot), self.host)
    }

    /// The app a request's `Host` header names: `(short_name, bot_username)` in lower case with
    /// `_` restored, or `None` when the host is not an app's.
    pub fn app_of_host(&self, host: &str) -> Option<(String, String)> {
        let (short, bot) = self.app_labels(host)?;
        let name = |l: &str| l.to_ascii_lowercase().replace('-', "_");
        Some((name(short), name(bot)))
    }

    /// Whether a request's `Host` header names an app (asked of every request, so without
    /// allocating).
    pub fn is_app_host(&self, host: &str) -> bool {
        self.app_labels(host).is_some()
    }

    /// The two labels of an app's host name before the apps host, as written (any case).
    fn app_labels<'h>(&self, host: &'h str) -> Option<(&'h str, &'h str)> {
        // The port is not checked: behind a proxy the public port differs from the one we hear on.
        let name = match host.rsplit_once(':') {
            Some((n, p)) if p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => host,
        };
        let (labels, suffix) = name.split_at_checked(name.len().checked_sub(self.host.len() + 1)?)?;
        if !suffix.starts_with('.') || !suffix[1..].eq_ignore_ascii_case(&self.host) {
            return None;
        }
        let (short, bot) = labels.split_once('.')?;
        if short.is_empty() || bot.is_empty() || bot.contains('.') {
            return None;
        }
        Some((short, bot))
    }
}

/// A file's path inside a deployed bundle: relative, `/`-separated, no empty, `.` or `..`
/// segments, printable ASCII or UTF-8 without controls, at most 255 bytes.
pub fn parse_bundle_path(s: &str) -> Result<String, Invalid> {
    let bad = || Invalid::new("path", "must be a relative path without '.' or '..' segments");
    let s = s.strip_prefix("./").unwrap_or(s);
    if s.is_empty() || s.len() > 255 || s.starts_with('/') || s.chars().any(|c| c.is_control() || c == '\\') {
        return Err(bad());
    }
    if s.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return Err(bad());
    }
    Ok(s.to_string())
}

/// Limits of a deployed bundle.
pub const MAX_BUNDLE_FILES: usize = 2000;
pub const MAX_BUNDLE_BYTES: usize = 50 * 1024 * 1024;

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

    #[test]
    fn every_app_has_its_own_origin_and_the_host_names_it_back() {
        let apps = AppsUrl::parse("http://localhost:8080").unwrap();
        let shop = ShortName::parse("my_shop").unwrap();
        assert_eq!(apps.origin("Plaza_Demo_Bot", &shop), "http://my-shop.plaza-demo-bot.localhost:8080");
        assert_eq!(
            apps.app_of_host("my-shop.plaza-demo-bot.localhost:8080"),
            Some(("my_shop".into(), "plaza_demo_bot".into()))
        );
        assert_eq!(apps.app_of_host("localhost:8080"), None);
        assert_eq!(apps.app_of_host("plaza-demo-bot.localhost"), None);
        assert_eq!(apps.app_of_host("a.b.c.localhost"), None);
        assert_eq!(apps.app_of_host("shop.bot.example.com"), None);
        assert_eq!(apps.app_of_host("shop.botlocalhost"), None);
        assert_eq!(
            apps.app_of_host("My-Shop.Plaza-Demo-Bot.LocalHost"),
            Some(("my_shop".into(), "plaza_demo_bot".into()))
        );
        for host in [
            "my-shop.plaza-demo-bot.localhost:8080",
            "A.B.LOCALHOST",
            "localhost",
            "a.b.c.localhost",
            "ü.b.localhost",
            ".b.localhost",
            "x.localhost:80",
        ] {
            assert_eq!(apps.is_app_host(host), apps.app_of_host(host).is_some(), "{host}");
        }
        let prod = AppsUrl::parse("https://Apps.Example.com/").unwrap();
        assert_eq!(prod.origin("b", &ShortName::parse("app").unwrap()), "https://app.b.apps.example.com");
        assert_eq!(prod.app_of_host("app.b.apps.example.com"), Some(("app".into(), "b".into())));
        for bad in ["localhost", "ftp://x", "http://x/y", "http://a_b", "http://x:99999", "http://"] {
            assert!(AppsUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bundle_paths_stay_inside_the_bundle() {
        assert_eq!(parse_bundle_path("index.html").unwrap(), "index.html");
        assert_eq!(parse_bundle_path("./assets/app.js").unwrap(), "assets/app.js");
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a\\b", "a\nb"] {
            assert!(parse_bundle_path(bad).is_err(), "{bad:?}");
        }
    }
}
