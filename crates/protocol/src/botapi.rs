//! Wire types of the Bot API, as Telegram's Bot API documents them (10.x): the objects Plaza sends
//! and the structured parameters it accepts. Field names and optionality follow Telegram exactly,
//! because typed clients (aiogram's models, teloxide) refuse objects that lack a required field.
//! Optional fields are left out when absent, as Telegram does.

use serde::{Deserialize, Serialize};

/// The Bot API version Plaza implements the parts of that it implements.
pub const BOT_API_VERSION: &str = "10.0";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct User {
    pub id: i64,
    pub is_bot: bool,
    pub first_name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub language_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub can_join_groups: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub can_read_all_group_messages: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub supports_inline_queries: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub can_connect_to_business: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub has_main_web_app: Option<bool>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Chat {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
}

/// `getChat`'s answer: the chat plus everything Telegram marks required.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChatFullInfo {
    #[serde(flatten)]
    pub chat: Chat,
    pub accent_color_id: i32,
    pub max_reaction_count: i32,
    pub accepted_gift_types: AcceptedGiftTypes,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<ChatPermissions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_message: Option<Box<Message>>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Default)]
pub struct AcceptedGiftTypes {
    pub unlimited_gifts: bool,
    pub limited_gifts: bool,
    pub unique_gifts: bool,
    pub premium_subscription: bool,
    pub gifts_from_channels: bool,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct ChatPermissions {
    pub can_send_messages: bool,
    pub can_send_audios: bool,
    pub can_send_documents: bool,
    pub can_send_photos: bool,
    pub can_send_videos: bool,
    pub can_send_video_notes: bool,
    pub can_send_voice_notes: bool,
    pub can_send_polls: bool,
    pub can_send_other_messages: bool,
    pub can_add_web_page_previews: bool,
    pub can_change_info: bool,
    pub can_invite_users: bool,
    pub can_pin_messages: bool,
    pub can_manage_topics: bool,
}

/// The rarer parts (a payment, a poll, a contact …) are boxed, so a plain text message is a few
/// hundred bytes rather than 1.6 KB: it is built and moved through every `sendMessage` and update.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Message {
    pub message_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<User>,
    pub date: i64,
    pub chat: Chat,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_origin: Option<Box<MessageOrigin>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to_message: Option<Box<Message>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edit_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_protected_content: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<MessageEntity>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo: Option<Vec<PhotoSize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<Box<Document>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption_entities: Option<Vec<MessageEntity>>,
    /// A pin notice's message (Telegram's `MaybeInaccessibleMessage`; Plaza's are accessible).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_message: Option<Box<Message>>,
    /// What a mini app opened from a reply-keyboard button sent with `sendData`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_app_data: Option<Box<WebAppData>>,
    /// The person allowed the bot to message them (a mini app's `requestWriteAccess`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_access_allowed: Option<Box<WriteAccessAllowed>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<Box<Contact>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<Box<Invoice>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub successful_payment: Option<Box<SuccessfulPayment>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunded_payment: Option<Box<RefundedPayment>>,
    /// The bot a person sent the message through (a mini app's `answerWebAppQuery`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via_bot: Option<Box<User>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll: Option<Box<Poll>>,
    /// Only inline keyboards appear here; reply keyboards are for the recipient's client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_markup: Option<InlineKeyboardMarkup>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageEntity {
    #[serde(rename = "type")]
    pub kind: String,
    pub offset: i64,
    pub length: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user: Option<User>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub custom_emoji_id: Option<String>,
}

/// Where a forwarded message came from; Plaza's forwards come from users.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageOrigin {
    User { date: i64, sender_user: User },
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PhotoSize {
    pub file_id: String,
    pub file_unique_id: String,
    pub width: u32,
    pub height: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Document {
    pub file_id: String,
    pub file_unique_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
}

/// `getFile`'s answer: download it from `/file/bot<token>/<file_path>`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct File {
    pub file_id: String,
    pub file_unique_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MessageIdOut {
    pub message_id: i64,
}

/// One update carries one of these, each boxed: inline, the update took 7 KB, and so did every
/// future that held one while building it.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Update {
    pub update_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Box<Message>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_message: Option<Box<Message>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_query: Option<Box<CallbackQuery>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_chat_member: Option<Box<ChatMemberUpdated>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll: Option<Box<Poll>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_answer: Option<Box<PollAnswer>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_reaction: Option<Box<MessageReactionUpdated>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_query: Option<Box<ShippingQuery>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_checkout_query: Option<Box<PreCheckoutQuery>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Invoice {
    pub title: String,
    pub description: String,
    pub start_parameter: String,
    pub currency: String,
    pub total_amount: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShippingAddress {
    pub country_code: String,
    pub state: String,
    pub city: String,
    pub street_line1: String,
    pub street_line2: String,
    pub post_code: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct OrderInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<ShippingAddress>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SuccessfulPayment {
    pub currency: String,
    pub total_amount: i64,
    pub invoice_payload: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_expiration_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_recurring: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_first_recurring: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_option_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_info: Option<OrderInfo>,
    pub telegram_payment_charge_id: String,
    pub provider_payment_charge_id: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RefundedPayment {
    pub currency: String,
    pub total_amount: i64,
    pub invoice_payload: String,
    pub telegram_payment_charge_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_payment_charge_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ShippingQuery {
    pub id: String,
    pub from: User,
    pub invoice_payload: String,
    pub shipping_address: ShippingAddress,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PreCheckoutQuery {
    pub id: String,
    pub from: User,
    pub currency: String,
    pub total_amount: i64,
    pub invoice_payload: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_option_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_info: Option<OrderInfo>,
}

/// A price part as bots send it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct LabeledPriceIn {
    pub label: String,
    pub amount: i64,
}

/// A shipping option as bots send it in `answerShippingQuery`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ShippingOptionIn {
    pub id: String,
    pub title: String,
    pub prices: Vec<LabeledPriceIn>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Poll {
    pub id: String,
    pub question: String,
    pub options: Vec<PollOption>,
    pub total_voter_count: u32,
    pub is_closed: bool,
    pub is_anonymous: bool,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub allows_multiple_answers: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correct_option_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PollOption {
    pub text: String,
    pub voter_count: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PollAnswer {
    pub poll_id: String,
    pub user: User,
    pub option_ids: Vec<u8>,
}

/// A poll option as `sendPoll` takes it: a bare string or `{"text": …}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum InputPollOption {
    Text(String),
    Object { text: String },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReactionType {
    Emoji { emoji: String },
    CustomEmoji { custom_emoji_id: String },
    Paid,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MessageReactionUpdated {
    pub chat: Chat,
    pub message_id: i64,
    pub user: User,
    pub date: i64,
    pub old_reaction: Vec<ReactionType>,
    pub new_reaction: Vec<ReactionType>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChatMemberUpdated {
    pub chat: Chat,
    pub from: User,
    pub date: i64,
    pub old_chat_member: ChatMember,
    pub new_chat_member: ChatMember,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CallbackQuery {
    pub id: String,
    pub from: User,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    pub chat_instance: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InlineKeyboardMarkup {
    pub inline_keyboard: Vec<Vec<InlineKeyboardButton>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct InlineKeyboardButton {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub callback_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub web_app: Option<WebAppInfo>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub login_url: Option<LoginUrl>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub switch_inline_query: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub switch_inline_query_current_chat: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub copy_text: Option<CopyTextButton>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub callback_game: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pay: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebAppInfo {
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoginUrl {
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CopyTextButton {
    pub text: String,
}

/// Any of the four `reply_markup` objects; which one it is shows in the fields it has.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct ReplyMarkupIn {
    #[serde(default)]
    pub inline_keyboard: Option<Vec<Vec<InlineKeyboardButton>>>,
    #[serde(default)]
    pub keyboard: Option<Vec<Vec<KeyboardButtonIn>>>,
    #[serde(default)]
    pub remove_keyboard: Option<bool>,
    #[serde(default)]
    pub force_reply: Option<bool>,
    #[serde(default)]
    pub is_persistent: Option<bool>,
    #[serde(default)]
    pub resize_keyboard: Option<bool>,
    #[serde(default)]
    pub one_time_keyboard: Option<bool>,
    #[serde(default)]
    pub input_field_placeholder: Option<String>,
    #[serde(default)]
    pub selective: Option<bool>,
}

/// A reply keyboard button: a bare string is a text button, as Telegram accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum KeyboardButtonIn {
    Text(String),
    Button(KeyboardButton),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct KeyboardButton {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_contact: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_location: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_poll: Option<KeyboardButtonPollType>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub web_app: Option<WebAppInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct KeyboardButtonPollType {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<String>,
}

/// `reply_parameters` of the send methods.
#[derive(Debug, Clone, Deserialize)]
pub struct ReplyParameters {
    pub message_id: i64,
    #[serde(default)]
    pub chat_id: Option<serde_json::Value>,
    #[serde(default)]
    pub allow_sending_without_reply: Option<bool>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WebhookInfo {
    pub url: String,
    pub has_custom_certificate: bool,
    pub pending_update_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_updates: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BotCommand {
    pub command: String,
    pub description: String,
}

/// `scope` of the command methods.
#[derive(Debug, Clone, Deserialize)]
pub struct BotCommandScope {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub chat_id: Option<serde_json::Value>,
    #[serde(default)]
    pub user_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MenuButton {
    Commands,
    WebApp { text: String, web_app: WebAppInfo },
    Default,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BotName {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BotDescription {
    pub description: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BotShortDescription {
    pub short_description: String,
}

/// A chat member, by status, with every field Telegram marks required for that status.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ChatMember {
    Creator {
        user: User,
        is_anonymous: bool,
    },
    Administrator {
        user: User,
        can_be_edited: bool,
        is_anonymous: bool,
        can_manage_chat: bool,
        can_delete_messages: bool,
        can_manage_video_chats: bool,
        can_restrict_members: bool,
        can_promote_members: bool,
        can_change_info: bool,
        can_invite_users: bool,
        can_post_stories: bool,
        can_edit_stories: bool,
        can_delete_stories: bool,
        can_pin_messages: bool,
    },
    Member {
        user: User,
    },
    Left {
        user: User,
    },
    Kicked {
        user: User,
        until_date: i64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_markup_accepts_every_kind_and_bare_strings() {
        let m: ReplyMarkupIn = serde_json::from_str(
            r#"{"keyboard":[["a",{"text":"b","request_contact":true}]],"one_time_keyboard":true}"#,
        )
        .unwrap();
        let rows = m.keyboard.unwrap();
        assert!(matches!(&rows[0][0], KeyboardButtonIn::Text(t) if t == "a"));
        assert!(matches!(&rows[0][1], KeyboardButtonIn::Button(b) if b.request_contact == Some(true)));
        let m: ReplyMarkupIn =
            serde_json::from_str(r#"{"inline_keyboard":[[{"text":"x","callback_data":"d"}]]}"#).unwrap();
        assert_eq!(m.inline_keyboard.unwrap()[0][0].callback_data.as_deref(), Some("d"));
    }

    #[test]
    fn objects_leave_out_absent_fields_and_keep_required_ones() {
        let u = User {
            id: 1,
            is_bot: false,
            first_name: "A".into(),
            last_name: None,
            username: None,
            language_code: None,
            can_join_groups: None,
            can_read_all_group_messages: None,
            supports_inline_queries: None,
            can_connect_to_business: None,
            has_main_web_app: None,
        };
        assert_eq!(serde_json::to_string(&u).unwrap(), r#"{"id":1,"is_bot":false,"first_name":"A"}"#);
        let m = ChatMember::Left { user: u };
        assert!(serde_json::to_string(&m).unwrap().starts_with(r#"{"status":"left","user":"#));
        let b: MenuButton =
            serde_json::from_str(r#"{"type":"web_app","text":"Go","web_app":{"url":"https://a"}}"#).unwrap();
        assert_eq!(b, MenuButton::WebApp { text: "Go".into(), web_app: WebAppInfo { url: "https://a".into() } });
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WebAppData {
    pub data: String,
    pub button_text: String,
}

/// A number of Stars (`getMyStarBalance`); Plaza has no fractions of a Star.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StarAmount {
    pub amount: i64,
}

/// `getStarTransactions`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StarTransactions {
    pub transactions: Vec<StarTransaction>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StarTransaction {
    pub id: String,
    pub amount: i64,
    pub date: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<TransactionPartner>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiver: Option<TransactionPartner>,
}

/// Who a transaction was with.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TransactionPartner {
    User { transaction_type: String, user: User },
    Other {},
}

/// What `savePreparedInlineMessage` answers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PreparedInlineMessage {
    pub id: String,
    pub expiration_date: i64,
}

/// What `answerWebAppQuery` answers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SentWebAppMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline_message_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WriteAccessAllowed {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_request: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_app_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Contact {
    pub phone_number: String,
    pub first_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
}
