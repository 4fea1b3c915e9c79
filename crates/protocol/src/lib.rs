//! Wire types of Plaza's client API (`/api/v1`): JSON requests, responses and WebSocket frames.
//!
//! These types are the contract with clients and scripts; they are converted to and from domain
//! types explicitly in `plaza-http`, so the domain can change while the wire stays stable.

pub mod botapi;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error the client API returns has this shape, with the HTTP status repeated inside.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// The HTTP status code.
    pub status: u16,
    /// A stable machine-readable code, e.g. `chat_not_found`, `invalid_request`, `unauthorized`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// Seconds to wait before retrying, on `429`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// 3–32 characters of letters, digits and underscores, starting with a letter.
    pub username: String,
    /// 4–256 characters.
    pub password: String,
    /// 1–64 characters.
    pub display_name: String,
    /// An IETF language tag such as `en`.
    #[serde(default)]
    pub language_code: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// A new session: send `Authorization: Bearer <token>` on every other call.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuthResponse {
    pub token: String,
    pub user: UserOut,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct UserOut {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub is_bot: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
    /// Only in `GET /me`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// A change to one's profile; absent fields stay, `null` clears an optional one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub language_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone_number: Option<Option<String>>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ChatType {
    Private,
    Group,
}

/// A chat as the caller sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ChatOut {
    /// The peer's user id for a private chat; negative for a group.
    pub id: i64,
    #[serde(rename = "type")]
    pub chat_type: ChatType,
    /// Groups: the title. Private chats: the peer's display name.
    pub title: String,
    /// Private chats: the other person or bot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<UserOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_count: Option<u32>,
    /// Groups: `creator`, `administrator` or `member`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_role: Option<String>,
    pub last_message_id: i64,
    pub read_inbox_max_id: i64,
    pub read_outbox_max_id: i64,
    pub created_at: i64,
}

/// A chat in the chat list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChatListItem {
    pub chat: ChatOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message: Option<MessageOut>,
    pub unread_count: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenPrivateRequest {
    /// The user's or bot's username, with or without `@`.
    pub username: String,
}

/// Someone to add to a group: a username or a user id.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum MemberRef {
    Id(i64),
    Username(String),
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    pub title: String,
    #[serde(default)]
    pub members: Vec<MemberRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMembersRequest {
    pub members: Vec<MemberRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoleRequest {
    /// `administrator` or `member`.
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTitleRequest {
    pub title: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberOut {
    pub user: UserOut,
    /// `creator`, `administrator` or `member`.
    pub role: String,
    pub joined_at: i64,
}

/// A formatting span, as in the Bot API's MessageEntity (offsets in UTF-16 code units).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EntityOut {
    #[serde(rename = "type")]
    pub entity_type: String,
    pub offset: u32,
    pub length: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_emoji_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct MessageOut {
    /// The message's number within its chat.
    pub message_id: i64,
    /// The chat as the receiver names it.
    pub chat_id: i64,
    pub from: UserOut,
    /// Unix time, seconds.
    pub date: i64,
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<EntityOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to_message_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edit_date: Option<i64>,
    /// The keyboard a bot attached: buttons under the message, or a keyboard for the reply field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_markup: Option<ReplyMarkupOut>,
    /// A photo or document; `text` is then its caption (possibly empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaOut>,
    /// For a forwarded message: who sent the original, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_from: Option<UserOut>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_date: Option<i64>,
    /// The sender asked that it not be forwarded or saved.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protected: bool,
    /// A service message (no text of its own): what it reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceOut>,
    /// A poll (the message has no text of its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollOut>,
    /// Reactions, most popular first (in history; live changes arrive as `reactions_updated`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionOut>,
    /// The bot the sender sent it through (a mini app's answer), shown as "via @bot".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_bot: Option<UserOut>,
    /// An invoice the bot sent: its Pay button opens the payment sheet for `slug`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice: Option<InvoiceSummaryOut>,
}

/// What an invoice message shows.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct InvoiceSummaryOut {
    /// Names the invoice in `/api/v1/invoices/{slug}`.
    pub slug: String,
    pub title: String,
    pub description: String,
    /// `XTR` for Stars.
    pub currency: String,
    /// In the currency's smallest units (whole Stars for `XTR`).
    pub total_amount: i64,
}

/// A payment as its service message reports it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ReceiptOut {
    pub currency: String,
    pub total_amount: i64,
    pub charge_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_expiration_date: Option<i64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_recurring: bool,
    /// The first payment of a subscription (later ones are renewals).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_first_recurring: bool,
    /// The paid invoice's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct LabeledPriceOut {
    pub label: String,
    pub amount: i64,
}

/// An invoice as the payment sheet shows it, with where the viewer stands.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InvoiceOut {
    pub slug: String,
    pub bot: UserOut,
    pub title: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_url: Option<String>,
    pub currency: String,
    pub prices: Vec<LabeledPriceOut>,
    /// The price without shipping or tip.
    pub total_amount: i64,
    /// `true` when paid by card (the sheet asks for a card number).
    pub card: bool,
    pub max_tip_amount: i64,
    pub suggested_tip_amounts: Vec<i64>,
    pub need_name: bool,
    pub need_phone_number: bool,
    pub need_email: bool,
    pub need_shipping_address: bool,
    /// The price depends on the address: ask for shipping options first.
    pub is_flexible: bool,
    /// Seconds between renewals, for a subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_period: Option<i64>,
    /// The viewer paid this invoice message already.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid: Option<PaymentOut>,
    /// The viewer's subscription bought through this link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<SubscriptionOut>,
    /// The viewer's Stars.
    pub balance: i64,
}

/// A payment and where it stands.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PaymentOut {
    pub id: i64,
    pub invoice_slug: String,
    pub bot_id: i64,
    pub currency: String,
    pub total_amount: i64,
    /// `pre_checkout`, `approved`, `paid`, `declined`, `cancelled`, `failed` or `refunded`.
    pub state: String,
    /// What a mini app's `invoice_closed` reports: `paid`, `pending`, `failed` or `cancelled`.
    pub status: String,
    /// Why it was declined or failed, in the bot's or the provider's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub charge_id: String,
    pub date: i64,
    /// The title of the invoice paid, absent only if the invoice is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// A Stars subscription.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SubscriptionOut {
    pub id: i64,
    pub bot_id: i64,
    pub title: String,
    pub amount: i64,
    pub period: i64,
    pub expires_at: i64,
    /// It renews at `expires_at`.
    pub renews: bool,
    pub canceled_by_user: bool,
    pub canceled_by_bot: bool,
    /// A renewal found too few Stars.
    pub lapsed: bool,
}

/// A shipping address for a flexible invoice.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShippingAddressIn {
    pub country_code: String,
    #[serde(default)]
    pub state: String,
    pub city: String,
    pub street_line1: String,
    #[serde(default)]
    pub street_line2: String,
    pub post_code: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingRequest {
    pub shipping_address: ShippingAddressIn,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ShippingOptionOut {
    pub id: String,
    pub title: String,
    pub prices: Vec<LabeledPriceOut>,
}

/// The bot's shipping options for an address; pay with `shipping_query_id` and an option's id.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ShippingOut {
    pub shipping_query_id: i64,
    pub options: Vec<ShippingOptionOut>,
}

/// What the payment sheet filled in.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct OrderInfoIn {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub shipping_address: Option<ShippingAddressIn>,
}

/// Confirming the payment sheet. `key` names the attempt: sending it again (a retry, a double
/// click) returns the same payment instead of paying twice.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    pub key: String,
    #[serde(default)]
    pub order_info: Option<OrderInfoIn>,
    #[serde(default)]
    pub shipping_query_id: Option<i64>,
    #[serde(default)]
    pub shipping_option_id: Option<String>,
    #[serde(default)]
    pub tip_amount: Option<i64>,
    /// For card invoices.
    #[serde(default)]
    pub card_number: Option<String>,
}

/// A line of a Stars history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct StarEntryOut {
    pub id: i64,
    /// Positive when Stars came in.
    pub amount: i64,
    pub balance: i64,
    /// `grant`, `topup`, `payment`, `refund` …
    pub memo: String,
    /// The other side: a user or bot id, or none for the platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_id: Option<i64>,
    pub date: i64,
}

/// Your Stars: balance, recent history, subscriptions and payments.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WalletOut {
    pub balance: i64,
    pub history: Vec<StarEntryOut>,
    pub subscriptions: Vec<SubscriptionOut>,
    pub payments: Vec<PaymentOut>,
    /// Free top-ups are available (a sandbox).
    pub sandbox: bool,
    /// Stars can be bought by card: the price of one Star in the smallest units of
    /// `star_currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub star_price: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub star_currency: Option<String>,
}

/// A top-up made: the ledger transfer and the balance right after it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TopUpOut {
    pub transfer_id: i64,
    pub amount: i64,
    pub balance: i64,
}

/// A top-up: free in a sandbox, or bought by card where the instance sells Stars; `key` makes a
/// retried request top up (and charge) once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpRequest {
    pub amount: i64,
    pub key: String,
    /// Buy the Stars with this card (free without one, in a sandbox only).
    #[serde(default)]
    pub card_number: Option<String>,
}

/// Turning a subscription's renewal off (`true`) or on again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionCancelRequest {
    pub canceled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PollOut {
    pub id: String,
    pub question: String,
    pub options: Vec<PollOptionOut>,
    pub total_voter_count: u32,
    pub is_closed: bool,
    pub is_anonymous: bool,
    /// `regular` or `quiz`.
    pub kind: String,
    pub allows_multiple_answers: bool,
    /// The caller's own vote (option indexes); empty if they haven't voted.
    pub my_vote: Vec<u8>,
    /// A quiz's right answer, shown once the caller has answered or the quiz is closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correct_option_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PollOptionOut {
    pub text: String,
    pub voter_count: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ReactionOut {
    pub emoji: String,
    pub count: u32,
    /// The caller is among those who reacted with it.
    pub chosen: bool,
}

/// Voting: the chosen options; an empty list takes the vote back (not in quizzes).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteRequest {
    pub option_ids: Vec<i64>,
}

/// Your reactions on a message (up to 3 of the standard set); an empty list removes them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReactionsRequest {
    pub emojis: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServiceOut {
    /// The sender pinned message `message_id`.
    PinnedMessage { message_id: i64 },
    /// A mini app opened from the keyboard button `button_text` sent data to the bot (the data
    /// itself goes to the bot only).
    WebAppData { button_text: String },
    /// The sender allowed the bot to message them, when a mini app asked.
    WriteAccessAllowed {
        #[serde(skip_serializing_if = "Option::is_none")]
        web_app_name: Option<String>,
    },
    /// A shared contact.
    Contact {
        phone_number: String,
        first_name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        last_name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<i64>,
    },
    /// The sender paid an invoice (or a subscription renewed).
    SuccessfulPayment { receipt: ReceiptOut },
    /// The bot refunded a payment of the sender's.
    RefundedPayment { receipt: ReceiptOut },
}

/// Blocking or unblocking the other side of a private chat.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    pub blocked: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlockedOut {
    pub blocked: bool,
}

/// Banning a user from a group.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BanRequest {
    pub user_id: i64,
    /// Unix time the ban ends; without it the ban lasts until lifted.
    #[serde(default)]
    pub until: Option<i64>,
}

/// A file attached to a message. Download it from `GET /api/v1/files/{file_id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct MediaOut {
    /// `photo` or `document`.
    pub kind: String,
    pub file_id: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// A bot's keyboard, as the client shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReplyMarkupOut {
    /// Buttons under the message.
    InlineKeyboard { rows: Vec<Vec<InlineButtonOut>> },
    /// Buttons that replace the keyboard; pressing one sends its text (or what `request` asks for).
    Keyboard {
        rows: Vec<Vec<KeyboardButtonOut>>,
        is_persistent: bool,
        resize: bool,
        one_time: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        placeholder: Option<String>,
        selective: bool,
    },
    /// Hide the bot's keyboard.
    RemoveKeyboard { selective: bool },
    /// Open a reply to this message.
    ForceReply {
        #[serde(skip_serializing_if = "Option::is_none")]
        placeholder: Option<String>,
        selective: bool,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct InlineButtonOut {
    pub text: String,
    /// What pressing does, by the Bot API's field name: `callback_data` (press it through
    /// `POST …/messages/{id}/callback`), `url`, `web_app`, `login_url`, `switch_inline_query`,
    /// `switch_inline_query_current_chat`, `copy_text`, `callback_game` or `pay`.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct KeyboardButtonOut {
    pub text: String,
    /// `contact`, `location`, `poll` or `web_app` when pressing asks for more than the text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Pressing an inline button with callback data.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbackRequest {
    /// The button's `callback_data`.
    pub data: String,
}

/// The bot's answer to a button press.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CallbackAnswerOut {
    pub query_id: String,
    pub chat_id: i64,
    pub message_id: i64,
    /// `false` when the bot did not answer in time; the client just stops its spinner.
    pub answered: bool,
    /// Shown as a notification, or as an alert when `show_alert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub show_alert: bool,
    /// A URL the client opens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What a client shows about a bot: its profile texts, its command menu and its menu button, as
/// the caller sees them in the chat asked about.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct BotInfoOut {
    pub user: UserOut,
    pub name: String,
    pub description: String,
    pub short_description: String,
    pub commands: Vec<BotCommandOut>,
    pub menu_button: MenuButtonOut,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct BotCommandOut {
    pub command: String,
    pub description: String,
}

/// The button beside the message field in a chat with the bot.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MenuButtonOut {
    /// Opens the command list.
    Commands,
    /// Opens a mini app.
    WebApp { text: String, url: String },
}

/// Starting a bot, optionally with a deep-link payload.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct StartBotRequest {
    /// The `start` parameter of a `/<bot>?start=<payload>` link: up to 64 of `A-Za-z0-9_-`.
    #[serde(default)]
    pub payload: Option<String>,
}

/// The chat with the bot and the `/start` message sent to it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StartBotResponse {
    pub chat: ChatOut,
    pub message: MessageOut,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessageRequest {
    /// 1–4096 characters (UTF-16 code units).
    pub text: String,
    #[serde(default)]
    pub entities: Vec<EntityOut>,
    #[serde(default)]
    pub reply_to_message_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditMessageRequest {
    pub text: String,
    #[serde(default)]
    pub entities: Vec<EntityOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMessagesRequest {
    /// 1–100 message ids of the chat.
    pub message_ids: Vec<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkReadRequest {
    /// Everything up to and including this message id counts as read.
    pub max_id: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Ok {
    pub ok: bool,
}

/// What the WebSocket sends. Every frame but `hello` carries `cursor`, the position in the caller's
/// update log; reconnect with `?cursor=<last seen>` to receive exactly what was missed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame: the cursor the stream starts after, and where this server hosts mini apps
    /// (each on its own origin, `<app>.<bot>.<host of apps_url>`).
    Hello {
        cursor: u64,
        apps_url: String,
    },
    MessageNew {
        cursor: u64,
        message: MessageOut,
    },
    MessageEdited {
        cursor: u64,
        message: MessageOut,
    },
    MessageDeleted {
        cursor: u64,
        chat_id: i64,
        message_id: i64,
    },
    /// The chat appeared in the caller's list or changed.
    ChatUpdated {
        cursor: u64,
        chat: ChatOut,
    },
    /// The caller left or was removed.
    ChatRemoved {
        cursor: u64,
        chat_id: i64,
    },
    /// The caller read up to `max_id` (on this or another device).
    ReadInbox {
        cursor: u64,
        chat_id: i64,
        max_id: i64,
    },
    /// The other side of a private chat read the caller's messages up to `max_id`.
    ReadOutbox {
        cursor: u64,
        chat_id: i64,
        max_id: i64,
    },
    /// A bot answered the caller's button press.
    CallbackAnswer {
        cursor: u64,
        answer: CallbackAnswerOut,
    },
    /// A poll's counts or state changed.
    PollUpdated {
        cursor: u64,
        chat_id: i64,
        message_id: i64,
        poll: PollOut,
    },
    /// The reactions on a message changed.
    ReactionsUpdated {
        cursor: u64,
        chat_id: i64,
        message_id: i64,
        reactions: Vec<ReactionOut>,
    },
    /// One of your payments changed state (paid, declined, cancelled, failed, refunded).
    PaymentUpdated {
        cursor: u64,
        payment: PaymentOut,
    },
    /// Someone in the chat is typing (or uploading a photo …); show it for about 5 s or until
    /// their message arrives. Not part of the log: `cursor` is the stream's current one.
    ChatAction {
        cursor: u64,
        chat_id: i64,
        user_id: i64,
        /// `typing`, `upload_photo`, `upload_document`, `record_voice`, `choose_sticker` …
        action: String,
    },
}

/// Telling a chat what you are doing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatActionRequest {
    /// `typing`, `upload_photo`, `upload_document`, `record_voice`, `choose_sticker`, `find_location` …
    pub action: String,
}

impl ServerFrame {
    pub fn cursor(&self) -> u64 {
        match self {
            ServerFrame::Hello { cursor, .. }
            | ServerFrame::MessageNew { cursor, .. }
            | ServerFrame::MessageEdited { cursor, .. }
            | ServerFrame::MessageDeleted { cursor, .. }
            | ServerFrame::ChatUpdated { cursor, .. }
            | ServerFrame::ChatRemoved { cursor, .. }
            | ServerFrame::ReadInbox { cursor, .. }
            | ServerFrame::ReadOutbox { cursor, .. }
            | ServerFrame::CallbackAnswer { cursor, .. }
            | ServerFrame::ChatAction { cursor, .. }
            | ServerFrame::PollUpdated { cursor, .. }
            | ServerFrame::ReactionsUpdated { cursor, .. }
            | ServerFrame::PaymentUpdated { cursor, .. } => *cursor,
        }
    }
}

/// Opening a mini app.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LaunchWebAppRequest {
    /// The bot whose app it is.
    pub bot_username: String,
    /// `inline_button`, `keyboard_button`, `menu_button` or `link`.
    pub source: String,
    /// The chat it is opened in: the chat of the button's message, or (for a link) the open chat.
    #[serde(default)]
    pub chat_id: Option<i64>,
    /// The message whose `web_app` button was pressed.
    #[serde(default)]
    pub message_id: Option<i64>,
    /// The button's (or menu button's) URL.
    #[serde(default)]
    pub url: Option<String>,
    /// A link's app (`/<bot>/<short_name>`); without it, the bot's main app (`/<bot>?startapp`).
    #[serde(default)]
    pub short_name: Option<String>,
    /// A link's `startapp` parameter.
    #[serde(default)]
    pub start_param: Option<String>,
}

/// A mini app's `sendData` (apps opened from a reply-keyboard button only, once).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebAppDataRequest {
    /// The `launch_id` of the launch.
    pub launch_id: String,
    /// 1–4096 bytes.
    pub data: String,
}

/// A signed launch. Load `launch_url` (adding `&tgWebAppThemeParams=…`) in a sandboxed frame.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LaunchWebAppResponse {
    pub launch_url: String,
    /// The app's own URL.
    pub url: String,
    /// `Telegram.WebApp.initData`: signed with the bot's token (`hash`) and this instance's key
    /// (`signature`). Empty for a reply-keyboard launch, as on Telegram.
    pub init_data: String,
    /// For `answerWebAppQuery` (inline and menu button launches).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_id: Option<String>,
    /// Names the launch when the app sends data to the bot.
    pub launch_id: String,
    pub version: String,
    pub platform: String,
    pub bot: UserOut,
}

/// `GET /api/v1/webapps/public_key`: the key that checks the `signature` field of init data.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebappPublicKey {
    /// The Ed25519 public key, 64 hex digits, as Telegram publishes its own. Check `signature`
    /// over `"<bot_id>:WebAppData\n"` and the other fields but `hash`, sorted, one `key=value` a line.
    pub public_key: String,
    /// `ed25519`.
    pub algorithm: String,
}

/// A mini app's custom method (`web_app_invoke_custom_method`): CloudStorage.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomMethodRequest {
    /// The `launch_id` of the launch.
    pub launch_id: String,
    /// `saveStorageValue`, `getStorageValues`, `deleteStorageValues` or `getStorageKeys`.
    pub method: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
}

/// What the host hands the app in `custom_method_invoked`: `result`, or `error` (Telegram's text,
/// such as `KEY_INVALID` or `STORAGE_KEYS_TOO_MUCH`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CustomMethodResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A launch the caller made (`requestWriteAccess` granted).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LaunchRef {
    pub launch_id: String,
}

/// `requestContact` granted: the caller's phone number goes to the app's bot.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareContactRequest {
    pub launch_id: String,
    /// For a caller with no phone number in their profile: shared, and saved to the profile.
    #[serde(default)]
    pub phone_number: Option<String>,
}

/// A message a bot prepared for the caller to share from its mini app, as the share dialog shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PreparedMessageOut {
    pub id: String,
    pub bot: UserOut,
    /// Its text or caption.
    pub text: String,
    /// `photo` or `document` when it carries a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<String>,
    /// Where it may go: any of `users`, `bots`, `groups`.
    pub chat_types: Vec<String>,
    pub expires_at: i64,
}

/// `shareMessage`: send a prepared message into a chat.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendPreparedRequest {
    pub launch_id: String,
    pub id: String,
    pub chat_id: i64,
}

/// Query of `GET /api/v1/webapps/prepared_message/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
pub struct PreparedQuery {
    pub launch_id: String,
}

/// Registering a mini app, or changing one, by the bot's owner.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppRequest {
    /// 3–30 letters, digits or underscores.
    pub short_name: String,
    /// 1–64 characters.
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Where an app hosted elsewhere is loaded from. Leave it out for an app you deploy to Plaza;
    /// a deployed version wins over the URL.
    #[serde(default)]
    pub url: Option<String>,
    /// The bot's main app (`/<bot>?startapp`).
    #[serde(default)]
    pub main: bool,
}

/// A bot's mini app, as its owner sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AppOut {
    pub short_name: String,
    pub title: String,
    pub description: String,
    /// The URL it is hosted at elsewhere, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Where it opens: the hosted origin once deployed, else `url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<String>,
    pub main: bool,
    /// The deployed version being served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_version: Option<u32>,
    /// The link that opens it in the client: `/<bot>/<short_name>`.
    pub link: String,
}

/// A deployed version of a hosted mini app.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AppVersionOut {
    pub version: u32,
    /// Unix seconds.
    pub created_at: i64,
    pub files: u32,
    pub bytes: u64,
}

/// An app's versions and the live one.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AppVersionsOut {
    pub app: AppOut,
    pub versions: Vec<AppVersionOut>,
}

/// Rolling back: to `version`, or by default to the newest one older than the live one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    #[serde(default)]
    pub version: Option<u32>,
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub store: String,
}
