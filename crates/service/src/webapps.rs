//! Mini-app use cases: registering a bot's apps and launching one, which checks that the person
//! may open that app from where they say they opened it and signs init data for them.

use plaza_core::bot::MenuButton;
use plaza_core::markup::{ButtonAction, KeyboardRequest, ReplyMarkup};
use plaza_core::webapp::{AppUrl, LaunchSource, ShortName, WebApp, parse_start_param};
use plaza_core::{ChatId, ChatKind, Denied, Invalid, MessageId, User, UserId, Username};
use plaza_store::Launch;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Service, ServiceError, ServiceResult, secrets, webapp};

/// What a person asks to open.
#[derive(Debug, Clone)]
pub struct LaunchRequest {
    pub bot: String,
    pub source: LaunchSource,
    /// The chat it is opened in (the chat of the button's message; for a link, the open chat).
    pub chat: Option<ChatId>,
    /// The message whose button was pressed.
    pub message: Option<MessageId>,
    /// The button's or the menu button's URL.
    pub url: Option<String>,
    /// A link's app; none for the bot's main app.
    pub short_name: Option<String>,
    pub start_param: Option<String>,
}

/// A signed launch: load `url` with `init_data` in the fragment.
#[derive(Debug, Clone)]
pub struct Launched {
    pub bot: User,
    pub url: String,
    /// Empty for a reply-keyboard launch, as on Telegram.
    pub init_data: String,
    /// For `answerWebAppQuery` (inline and menu buttons).
    pub query_id: Option<String>,
    /// Names this launch when the app sends data (every launch has one).
    pub launch_id: String,
    pub start_param: Option<String>,
}

/// The Bot API version of mini apps the host advertises in `tgWebAppVersion`. Raised as the web
/// client's host implements the bridge of newer versions.
pub const WEBAPP_VERSION: &str = "6.0";
/// `tgWebAppPlatform` of Plaza's web client (Telegram's Web A says `weba`).
pub const WEBAPP_PLATFORM: &str = "weba";

impl Launched {
    /// The URL to load: the app's URL, `tgWebAppStartParam` in its query when there is one, and the
    /// launch parameters in its fragment (the client appends `tgWebAppThemeParams`, which it knows).
    pub fn launch_url(&self) -> String {
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
        let (base, fragment) = match self.url.split_once('#') {
            Some((b, f)) => (b.to_string(), Some(f.to_string())),
            None => (self.url.clone(), None),
        };
        let mut url = base;
        if let Some(p) = &self.start_param {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("tgWebAppStartParam={p}"));
        }
        url.push('#');
        if let Some(f) = fragment.filter(|f| !f.is_empty()) {
            url.push_str(&f);
            url.push('&');
        }
        url.push_str(&format!(
            "tgWebAppData={}&tgWebAppVersion={WEBAPP_VERSION}&tgWebAppPlatform={WEBAPP_PLATFORM}",
            enc(&self.init_data)
        ));
        url
    }
}

/// `chat_instance`: the same for everyone who opens an app from one chat, and meaningless elsewhere.
fn chat_instance(chat: plaza_core::ChatKey) -> String {
    let digest = Sha256::digest(format!("plaza chat_instance {}", chat.0).as_bytes());
    let n = i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    n.to_string()
}

/// JSON text as Telegram writes it in init data: `/` escaped as `\/` (it only occurs inside
/// strings, so escaping every one is exact).
fn telegram_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("plain data serializes").replace('/', "\\/")
}

/// WebAppUser, in Telegram's field order.
#[derive(Serialize)]
struct WebAppUser<'a> {
    id: i64,
    first_name: &'a str,
    username: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    language_code: Option<&'a str>,
    allows_write_to_pm: bool,
}

/// WebAppChat of a group launch.
#[derive(Serialize)]
struct WebAppChat<'a> {
    id: i64,
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
}

impl Service {
    /// A mini app's `sendData`: only from an app opened by `me` from a reply-keyboard button, and
    /// once; it reaches the bot as a `web_app_data` service message from `me` in that chat.
    pub async fn send_webapp_data(
        &self,
        me: UserId,
        launch_id: &str,
        data: &str,
    ) -> ServiceResult<(ChatId, plaza_core::Message)> {
        if data.is_empty() || data.len() > plaza_core::message::MAX_WEB_APP_DATA {
            return Err(Invalid::new("data", "must be 1 to 4096 bytes").into());
        }
        let launch = self.store.launch(launch_id).await?.filter(|l| l.user == me).ok_or(Denied::QueryNotFound)?;
        let (LaunchSource::KeyboardButton, Some(chat)) = (launch.source, launch.chat) else {
            return Err(Invalid::new("launch_id", "only an app opened from a keyboard button can send data").into());
        };
        if !self.store.use_launch(launch_id).await? {
            return Err(Denied::QueryNotFound.into());
        }
        let action = plaza_core::ServiceAction::WebAppData {
            data: data.to_string(),
            button_text: launch.button_text.unwrap_or_default(),
        };
        Ok((chat, self.send_message(me, chat, plaza_core::NewMessage::service(action)).await?))
    }

    /// Registers (or replaces) one of `bot`'s mini apps.
    pub async fn register_webapp(
        &self,
        bot: &str,
        short_name: &str,
        title: &str,
        url: &str,
        description: &str,
        main: bool,
    ) -> ServiceResult<WebApp> {
        let bot = self.store.user_by_username(&Username::parse(bot)?).await?;
        if !bot.is_bot {
            return Err(Denied::UserNotFound.into());
        }
        let title = title.trim();
        if title.is_empty() || title.chars().count() > 64 {
            return Err(Invalid::new("title", "must be 1 to 64 characters").into());
        }
        let app = WebApp {
            bot: bot.id,
            short_name: ShortName::parse(short_name)?,
            title: title.to_string(),
            description: description.to_string(),
            url: AppUrl::parse(url)?,
            main,
        };
        self.store.put_webapp(app.clone()).await?;
        Ok(app)
    }

    pub async fn webapps(&self, bot: UserId) -> ServiceResult<Vec<WebApp>> {
        Ok(self.store.webapps(bot).await?)
    }

    /// Opens a mini app for `me`: checks the app may be opened from there, records the launch and
    /// signs init data with the bot's web-app key and the instance's Ed25519 key.
    pub async fn launch_webapp(&self, me: &User, req: LaunchRequest) -> ServiceResult<Launched> {
        let bot = self.store.user_by_username(&Username::parse(&req.bot)?).await?;
        if !bot.is_bot {
            return Err(Denied::UserNotFound.into());
        }
        let start_param = req.start_param.as_deref().map(parse_start_param).transpose()?;
        let chat = match req.chat {
            Some(id) => Some(self.chat(me.id, id).await?),
            None => None,
        };
        let wrong = |what: &'static str| ServiceError::from(Invalid::new("url", what));
        let mut button_text = None;
        let url = match req.source {
            LaunchSource::InlineButton | LaunchSource::KeyboardButton => {
                let (Some(chat), Some(message_id), Some(url)) = (&chat, req.message, req.url.as_deref()) else {
                    return Err(Invalid::new("message_id", "a button launch needs chat_id, message_id and url").into());
                };
                let message = self.message_by_id(me.id, chat.id, message_id).await?.ok_or(Denied::MessageNotFound)?;
                if message.sender != bot.id {
                    return Err(wrong("that message is not the bot's"));
                }
                let found = match (&message.reply_markup, req.source) {
                    (Some(ReplyMarkup::Inline(rows)), LaunchSource::InlineButton) => {
                        rows.iter().flatten().any(|b| matches!(&b.action, ButtonAction::WebApp(u) if u == url))
                    }
                    (Some(ReplyMarkup::Keyboard(k)), LaunchSource::KeyboardButton) => {
                        let b = k
                            .rows
                            .iter()
                            .flatten()
                            .find(|b| matches!(&b.request, Some(KeyboardRequest::WebApp(u)) if u == url));
                        button_text = b.map(|b| b.text.clone());
                        b.is_some()
                    }
                    _ => false,
                };
                if !found {
                    return Err(wrong("the message has no web_app button with that URL"));
                }
                url.to_string()
            }
            LaunchSource::MenuButton => match self.menu_button(bot.id, Some(me.id)).await? {
                MenuButton::WebApp { url, .. } if req.url.as_deref().is_none_or(|u| u == url) => url,
                _ => return Err(wrong("the bot's menu button does not open that app")),
            },
            LaunchSource::Link => {
                let apps = self.store.webapps(bot.id).await?;
                let app = match &req.short_name {
                    Some(name) => apps.into_iter().find(|a| a.short_name.as_str() == name),
                    None => apps.into_iter().find(|a| a.main),
                };
                let app = app.ok_or(Denied::WebAppNotFound)?;
                app.url.as_str().to_string()
            }
        };

        let now = self.now();
        let launch_id = secrets::opaque_id();
        let with_query = matches!(req.source, LaunchSource::InlineButton | LaunchSource::MenuButton);
        let mut fields: Vec<(String, String)> = Vec::new();
        if req.source != LaunchSource::KeyboardButton {
            if with_query {
                fields.push(("query_id".into(), launch_id.clone()));
            }
            let user = WebAppUser {
                id: me.id.0,
                first_name: me.display_name.as_str(),
                username: me.username.as_str(),
                language_code: me.language_code.as_ref().map(|l| l.as_str()),
                allows_write_to_pm: true,
            };
            fields.push(("user".into(), telegram_json(&user)));
            if req.source == LaunchSource::Link {
                match &chat {
                    Some(c) => {
                        if let ChatKind::Group { title, .. } = &c.kind {
                            let group = WebAppChat { id: c.id.0, kind: "group", title: title.as_str() };
                            fields.push(("chat".into(), telegram_json(&group)));
                        }
                        let kind = match &c.kind {
                            ChatKind::Group { .. } => "group",
                            ChatKind::Private { peer } if peer.id == bot.id => "sender",
                            ChatKind::Private { .. } => "private",
                        };
                        fields.push(("chat_type".into(), kind.into()));
                        fields.push(("chat_instance".into(), chat_instance(c.key)));
                    }
                    None => fields.push(("chat_type".into(), "sender".into())),
                }
                if let Some(p) = &start_param {
                    fields.push(("start_param".into(), p.clone()));
                }
            }
            fields.push(("auth_date".into(), now.to_string()));
        }
        let init_data = if fields.is_empty() {
            String::new()
        } else {
            let key = self.bot_webapp_key(bot.id).await?.ok_or(ServiceError::Conflict(
                "the bot has no init-data key yet: it gets one when it next calls the Bot API or its token is rotated",
            ))?;
            webapp::sign(fields, bot.id.0, &key, self.webapp_signing_key().await?)
        };
        self.store
            .put_launch(Launch {
                query_id: launch_id.clone(),
                bot: bot.id,
                user: me.id,
                chat: chat.as_ref().map(|c| c.id),
                source: req.source,
                button_text,
                created_at: now,
            })
            .await?;
        Ok(Launched { bot, url, init_data, query_id: with_query.then_some(launch_id.clone()), launch_id, start_param })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_data_json_is_written_as_telegram_writes_it() {
        let user = WebAppUser {
            id: 1000001,
            first_name: "Ann / \"Co\"",
            username: "ann",
            language_code: None,
            allows_write_to_pm: true,
        };
        assert_eq!(
            telegram_json(&user),
            r#"{"id":1000001,"first_name":"Ann \/ \"Co\"","username":"ann","allows_write_to_pm":true}"#
        );
        let chat = WebAppChat { id: -5, kind: "group", title: "A/B" };
        assert_eq!(telegram_json(&chat), r#"{"id":-5,"type":"group","title":"A\/B"}"#);
    }
}
