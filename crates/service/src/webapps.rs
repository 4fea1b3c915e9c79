//! Mini-app use cases: registering a bot's apps and launching one, which checks that the person
//! may open that app from where they say they opened it and signs init data for them.

use plaza_core::bot::MenuButton;
use plaza_core::markup::{ButtonAction, KeyboardRequest, ReplyMarkup};
use plaza_core::webapp::{AppUrl, LaunchSource, ShortName, WebApp, parse_start_param};
use plaza_core::{ChatId, ChatKind, Denied, Invalid, MessageId, User, UserId, Username};
use plaza_store::{Launch, PreparedMessage};
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
pub const WEBAPP_VERSION: &str = "9.1";
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
        // A launch without init data (a reply-keyboard button) carries no tgWebAppData at all:
        // @telegram-apps/sdk refuses an empty one.
        if !self.init_data.is_empty() {
            url.push_str(&format!("tgWebAppData={}&", enc(&self.init_data)));
        }
        url.push_str(&format!("tgWebAppVersion={WEBAPP_VERSION}&tgWebAppPlatform={WEBAPP_PLATFORM}"));
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

    /// A mini app's custom method (`web_app_invoke_custom_method`), called by the host for the
    /// person who opened it: CloudStorage, kept per user and bot. `Ok(Err(text))` is the method's
    /// own error, which the host hands to the app in `custom_method_invoked`.
    pub async fn invoke_custom_method(
        &self,
        me: UserId,
        launch_id: &str,
        method: &str,
        params: &serde_json::Value,
    ) -> ServiceResult<Result<serde_json::Value, String>> {
        let launch = self.store.launch(launch_id).await?.filter(|l| l.user == me).ok_or(Denied::QueryNotFound)?;
        let (bot, user) = (launch.bot, launch.user);
        if method == "getRequestedContact" {
            // Empty until the person has shared their contact in this launch; the app asks again.
            let signed = self.shared_contacts.get(&launch_id.to_string(), self.now()).unwrap_or_default();
            return Ok(Ok(signed.into()));
        }
        Ok(match cloud_call(method, params) {
            Err(e) => Err(e.to_string()),
            Ok(CloudCall::Save { key, value }) => match self.store.cloud_set(bot, user, key, value).await {
                Ok(()) => Ok(serde_json::Value::Bool(true)),
                Err(plaza_store::StoreError::Denied(Denied::StorageFull)) => Err("STORAGE_KEYS_TOO_MUCH".into()),
                Err(e) => return Err(e.into()),
            },
            Ok(CloudCall::Get { keys }) => {
                let found = self.store.cloud_get(bot, user, keys).await?;
                Ok(serde_json::Value::Object(found.into_iter().map(|(k, v)| (k, v.into())).collect()))
            }
            Ok(CloudCall::Delete { keys }) => {
                self.store.cloud_delete(bot, user, keys).await?;
                Ok(serde_json::Value::Bool(true))
            }
            Ok(CloudCall::Keys) => Ok(self.store.cloud_keys(bot, user).await?.into()),
        })
    }

    /// `answerWebAppQuery`: `message` goes from the person who opened the app, via `bot`, into
    /// the chat the app was opened from. Once per launch, within [`WEB_APP_QUERY_TTL`].
    pub async fn answer_webapp_query(
        &self,
        bot: &User,
        query_id: &str,
        mut message: plaza_core::NewMessage,
    ) -> ServiceResult<(ChatId, plaza_core::Message)> {
        let launch = self
            .store
            .launch(query_id)
            .await?
            .filter(|l| l.bot == bot.id)
            .filter(|l| matches!(l.source, LaunchSource::InlineButton | LaunchSource::MenuButton))
            .filter(|l| self.now() - l.created_at <= WEB_APP_QUERY_TTL)
            .ok_or(Denied::QueryNotFound)?;
        let chat = launch.chat.ok_or(Denied::QueryNotFound)?;
        if !self.store.use_launch(query_id).await? {
            return Err(Denied::QueryNotFound.into());
        }
        message.via_bot = Some(bot.id);
        Ok((chat, self.send_message(launch.user, chat, message).await?))
    }

    /// `savePreparedInlineMessage`: a message `bot` prepares for `user` to share from its mini app
    /// (`shareMessage`) into a chat of one of `chat_types`, for [`PREPARED_MESSAGE_TTL`].
    pub async fn save_prepared_message(
        &self,
        bot: &User,
        user: UserId,
        message: plaza_core::NewMessage,
        chat_types: u8,
    ) -> ServiceResult<PreparedMessage> {
        let person = self.user(user).await.map_err(|_| ServiceError::Denied(Denied::UserNotFound))?;
        if person.is_bot {
            return Err(Denied::UserNotFound.into());
        }
        if chat_types & (PreparedMessage::USERS | PreparedMessage::BOTS | PreparedMessage::GROUPS) == 0 {
            return Err(Invalid::new("chat_types", "at least one kind of chat it can be sent to is needed").into());
        }
        let prepared = PreparedMessage {
            id: secrets::opaque_id(),
            bot: bot.id,
            user,
            message,
            chat_types,
            expires_at: self.now() + PREPARED_MESSAGE_TTL,
        };
        self.store.put_prepared_message(prepared.clone()).await?;
        Ok(prepared)
    }

    /// A prepared message `me` may share from the app they opened in launch `launch_id`.
    pub async fn prepared_message_for(&self, me: UserId, launch_id: &str, id: &str) -> ServiceResult<PreparedMessage> {
        let launch = self.store.launch(launch_id).await?.filter(|l| l.user == me).ok_or(Denied::QueryNotFound)?;
        let prepared = self
            .store
            .prepared_message(id)
            .await?
            .filter(|p| p.user == me && p.bot == launch.bot && p.expires_at > self.now())
            .ok_or(Denied::MessageNotFound)?;
        Ok(prepared)
    }

    /// `shareMessage`: `me` sends the prepared message, via its bot, into `chat`, which must be a
    /// chat of a kind the bot allowed.
    pub async fn send_prepared_message(
        &self,
        me: UserId,
        launch_id: &str,
        id: &str,
        chat: ChatId,
    ) -> ServiceResult<plaza_core::Message> {
        let prepared = self.prepared_message_for(me, launch_id, id).await?;
        let target = self.chat(me, chat).await?;
        let kind = match &target.kind {
            ChatKind::Group { .. } => PreparedMessage::GROUPS,
            ChatKind::Private { peer } if peer.is_bot => PreparedMessage::BOTS,
            ChatKind::Private { .. } => PreparedMessage::USERS,
        };
        if prepared.chat_types & kind == 0 {
            return Err(Invalid::new("chat_id", "the bot does not allow this message in that kind of chat").into());
        }
        let mut message = prepared.message;
        message.via_bot = Some(prepared.bot);
        self.send_message(me, chat, message).await
    }

    /// `requestWriteAccess` granted by `me` in an app they opened: the private chat with the bot is
    /// opened (and the bot unblocked), and the bot is told with a `write_access_allowed` message.
    pub async fn allow_bot_messages(&self, me: &User, launch_id: &str) -> ServiceResult<()> {
        let launch = self.store.launch(launch_id).await?.filter(|l| l.user == me.id).ok_or(Denied::QueryNotFound)?;
        let bot = self.user(launch.bot).await?;
        let chat = self.open_private_chat(me.id, bot.username.as_str()).await?;
        if self.is_blocked(me.id, bot.id).await? {
            self.set_blocked(me.id, bot.id, false).await?;
        }
        let action = plaza_core::ServiceAction::WriteAccessAllowed { web_app_name: None, from_request: true };
        self.send_message(me.id, chat.id, plaza_core::NewMessage::service(action)).await?;
        Ok(())
    }

    /// `requestContact` granted by `me`: their phone number goes to the bot as a contact message
    /// in their private chat, and the app can read it signed with `getRequestedContact`. A person
    /// without a phone number in their profile gives one here, and it is saved there.
    pub async fn share_contact(
        &self,
        me: &User,
        launch_id: &str,
        phone_number: Option<&str>,
    ) -> ServiceResult<(ChatId, plaza_core::Message)> {
        let launch = self.store.launch(launch_id).await?.filter(|l| l.user == me.id).ok_or(Denied::QueryNotFound)?;
        let me = match (&me.phone_number, phone_number) {
            (Some(_), None) => me.clone(),
            (_, Some(p)) => self.update_profile(me.id, None, None, Some(Some(p))).await?,
            (None, None) => {
                return Err(Invalid::new("phone_number", "add a phone number to share, such as +15551234567").into());
            }
        };
        let phone = me.phone_number.as_ref().map(|p| p.as_str().to_string()).unwrap_or_default();
        let bot = self.user(launch.bot).await?;
        let chat = self.open_private_chat(me.id, bot.username.as_str()).await?;
        let contact = plaza_core::Contact {
            phone_number: phone.clone(),
            first_name: me.display_name.as_str().to_string(),
            last_name: None,
            user_id: Some(me.id),
        };
        let message = self
            .send_message(me.id, chat.id, plaza_core::NewMessage::service(plaza_core::ServiceAction::Contact(contact)))
            .await?;
        #[derive(Serialize)]
        struct SignedContact<'a> {
            user_id: i64,
            phone_number: &'a str,
            first_name: &'a str,
        }
        let json = telegram_json(&SignedContact {
            user_id: me.id.0,
            phone_number: &phone,
            first_name: me.display_name.as_str(),
        });
        if let Some(key) = self.bot_webapp_key(bot.id).await? {
            let now = self.now();
            let signed = webapp::sign(
                vec![("contact".into(), json), ("auth_date".into(), now.to_string())],
                bot.id.0,
                &key,
                self.webapp_signing_key().await?,
            );
            self.shared_contacts.put(launch_id.to_string(), signed, now + 600);
        }
        Ok((chat.id, message))
    }

    /// Registers one of `bot`'s mini apps, or changes one: a new title, description or main flag,
    /// and the URL of an app hosted elsewhere (`None` keeps the URL it has; an app without one
    /// waits for a deploy).
    pub async fn register_webapp(
        &self,
        bot: &str,
        short_name: &str,
        title: &str,
        url: Option<&str>,
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
        if description.chars().count() > 512 {
            return Err(Invalid::new("description", "must be at most 512 characters").into());
        }
        let existing = self.webapp(&bot, short_name).await.ok();
        let app = WebApp {
            bot: bot.id,
            short_name: match &existing {
                Some(a) => a.short_name.clone(),
                None => ShortName::parse(short_name)?,
            },
            title: title.to_string(),
            description: description.to_string(),
            url: match url {
                Some(u) => Some(AppUrl::parse(u)?),
                None => existing.as_ref().and_then(|a| a.url.clone()),
            },
            live_version: existing.as_ref().and_then(|a| a.live_version),
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
                let app = match &req.short_name {
                    Some(name) => self.webapp(&bot, name).await?,
                    None => {
                        self.store.webapps(bot.id).await?.into_iter().find(|a| a.main).ok_or(Denied::WebAppNotFound)?
                    }
                };
                self.app_url(&bot, &app).ok_or(Denied::WebAppNotFound)?
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

/// How long a prepared message can be shared.
pub const PREPARED_MESSAGE_TTL: i64 = 24 * 3600;

/// How long after a launch its `query_id` can be answered.
pub const WEB_APP_QUERY_TTL: i64 = 3600;

/// CloudStorage limits, as Telegram's.
pub const MAX_CLOUD_KEY_LEN: usize = 128;
pub const MAX_CLOUD_VALUE_LEN: usize = 4096;

/// A CloudStorage call, checked.
#[derive(Debug, PartialEq, Eq)]
enum CloudCall {
    Save { key: String, value: String },
    Get { keys: Vec<String> },
    Delete { keys: Vec<String> },
    Keys,
}

/// Reads a custom method's name and params; the error is the text Telegram answers with.
fn cloud_call(method: &str, params: &serde_json::Value) -> Result<CloudCall, &'static str> {
    let key_ok = |k: &str| {
        (1..=MAX_CLOUD_KEY_LEN).contains(&k.len())
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let keys = || -> Result<Vec<String>, &'static str> {
        let list = params.get("keys").and_then(|k| k.as_array()).ok_or("KEYS_INVALID")?;
        if list.is_empty() || list.len() > plaza_store::MAX_CLOUD_KEYS {
            return Err("KEYS_INVALID");
        }
        list.iter().map(|k| k.as_str().filter(|k| key_ok(k)).map(str::to_string).ok_or("KEY_INVALID")).collect()
    };
    match method {
        "saveStorageValue" => {
            let key = params.get("key").and_then(|k| k.as_str()).filter(|k| key_ok(k)).ok_or("KEY_INVALID")?;
            let value = params.get("value").and_then(|v| v.as_str()).ok_or("VALUE_INVALID")?;
            if value.chars().count() > MAX_CLOUD_VALUE_LEN {
                return Err("VALUE_TOO_LONG");
            }
            Ok(CloudCall::Save { key: key.to_string(), value: value.to_string() })
        }
        "getStorageValues" => Ok(CloudCall::Get { keys: keys()? }),
        "deleteStorageValues" => Ok(CloudCall::Delete { keys: keys()? }),
        "getStorageKeys" => Ok(CloudCall::Keys),
        _ => Err("METHOD_NOT_FOUND"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_storage_calls_are_checked_as_telegram_checks_them() {
        use serde_json::json;
        assert_eq!(
            cloud_call("saveStorageValue", &json!({"key": "a-B_1", "value": ""})),
            Ok(CloudCall::Save { key: "a-B_1".into(), value: String::new() })
        );
        assert_eq!(cloud_call("saveStorageValue", &json!({"key": "a b", "value": "x"})), Err("KEY_INVALID"));
        assert_eq!(cloud_call("saveStorageValue", &json!({"key": "x".repeat(129), "value": "x"})), Err("KEY_INVALID"));
        assert!(cloud_call("saveStorageValue", &json!({"key": "k", "value": "é".repeat(4096)})).is_ok());
        assert_eq!(
            cloud_call("saveStorageValue", &json!({"key": "k", "value": "x".repeat(4097)})),
            Err("VALUE_TOO_LONG")
        );
        assert_eq!(cloud_call("getStorageValues", &json!({"keys": []})), Err("KEYS_INVALID"));
        assert_eq!(cloud_call("getStorageValues", &json!({"keys": ["a", 1]})), Err("KEY_INVALID"));
        assert_eq!(
            cloud_call("deleteStorageValues", &json!({"keys": ["a"]})),
            Ok(CloudCall::Delete { keys: vec!["a".into()] })
        );
        assert_eq!(cloud_call("getStorageKeys", &json!({})), Ok(CloudCall::Keys));
        assert_eq!(cloud_call("dropDatabase", &json!({})), Err("METHOD_NOT_FOUND"));
    }

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
