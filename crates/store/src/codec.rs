//! Values both backends keep as JSON text: a message's extras (its keyboard) and bot settings
//! (commands, menu button, profile texts, allowed updates, webhook), with the keys settings live
//! under. One codec for both backends, so they cannot drift apart.

use plaza_core::bot::{
    AllowedUpdates, BotCommand, BotText, CallbackAnswer, CommandScope, MenuButton, SettingLanguage, Webhook,
};
use plaza_core::file::{FileInfo, FileKind, Media};
use plaza_core::markup::{ButtonAction, InlineButton, KeyboardButton, KeyboardRequest, ReplyKeyboard};
use plaza_core::payment::{
    InvoiceSpec, InvoiceSummary, LabeledPrice, OrderInfo, ShippingAddress, ShippingAnswer, ShippingOption,
};
use plaza_core::{ForwardOrigin, Message, MessageId, NewMessage, PaymentReceipt, ReplyMarkup, ServiceAction, UserId};
use serde::{Deserialize, Serialize};

use crate::StoreError;

pub const ALLOWED_UPDATES: &str = "allowed_updates";
pub const WEBHOOK: &str = "webhook";
/// The key the bot's mini-app init data is signed with, as hex (`HMAC_SHA256("WebAppData", token)`).
pub const WEBAPP_KEY: &str = "webapp_key";

pub fn commands_key(scope: CommandScope, language: &SettingLanguage) -> String {
    format!("commands/{}/{}", scope.key(), language.as_ref().map_or("", |l| l.as_str()))
}

pub fn menu_button_key(chat: Option<UserId>) -> String {
    match chat {
        Some(u) => format!("menu_button/{}", u.0),
        None => "menu_button".to_string(),
    }
}

pub fn text_key(text: BotText, language: &SettingLanguage) -> String {
    format!("{}/{}", text.key(), language.as_ref().map_or("", |l| l.as_str()))
}

fn bad(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored value does not decode: {e}"))
}

// ---- message extras ----

/// Everything about a message beyond its text, entities and reply; `None` when there is nothing.
#[derive(Serialize, Deserialize, Default)]
struct Extra {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    markup: Option<Markup>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    media: Option<StoredMedia>,
    /// A forward's original sender and date.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    forward: Option<(i64, i64)>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    protected: bool,
    /// A service message's action: the id of the message pinned.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pinned: Option<i64>,
    /// A service message's action: a mini app's `sendData`, as (data, button text).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    web_app_data: Option<(String, String)>,
    /// The id of the poll the message carries.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    poll: Option<String>,
    /// A service message's action, for the actions added after `pinned` and `web_app_data`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    action: Option<StoredAction>,
    /// The bot a person sent the message through.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    via_bot: Option<i64>,
    /// An invoice message's invoice.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    invoice: Option<StoredInvoice>,
}

#[derive(Serialize, Deserialize)]
struct StoredInvoice {
    slug: String,
    title: String,
    description: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    start: String,
    currency: String,
    total: i64,
}

/// A payment's service message as stored; also a payment's order information.
#[derive(Serialize, Deserialize)]
struct StoredReceipt {
    currency: String,
    total: i64,
    payload: String,
    charge: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    provider_charge: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    shipping_option: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    order: Option<StoredOrder>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    expires: Option<i64>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    recurring: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    first_recurring: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    title: Option<String>,
}

#[derive(Serialize, Deserialize, Default)]
pub struct StoredOrder {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    email: Option<String>,
    /// country, state, city, street 1, street 2, post code
    #[serde(skip_serializing_if = "Option::is_none", default)]
    address: Option<[String; 6]>,
}

pub fn encode_order(o: &OrderInfo) -> Option<String> {
    (!o.is_empty()).then(|| serde_json::to_string(&order_out(o)).expect("order serializes"))
}

pub fn decode_order(column: Option<&str>) -> Result<OrderInfo, StoreError> {
    match column {
        None => Ok(OrderInfo::default()),
        Some(text) => Ok(order_in(serde_json::from_str(text).map_err(bad)?)),
    }
}

fn order_out(o: &OrderInfo) -> StoredOrder {
    StoredOrder {
        name: o.name.clone(),
        phone: o.phone_number.clone(),
        email: o.email.clone(),
        address: o.shipping_address.as_ref().map(|a| {
            [
                a.country_code.clone(),
                a.state.clone(),
                a.city.clone(),
                a.street_line1.clone(),
                a.street_line2.clone(),
                a.post_code.clone(),
            ]
        }),
    }
}

fn order_in(o: StoredOrder) -> OrderInfo {
    OrderInfo {
        name: o.name,
        phone_number: o.phone,
        email: o.email,
        shipping_address: o.address.map(|[country_code, state, city, street_line1, street_line2, post_code]| {
            ShippingAddress { country_code, state, city, street_line1, street_line2, post_code }
        }),
    }
}

fn receipt_out(r: &PaymentReceipt) -> StoredReceipt {
    StoredReceipt {
        currency: r.currency.clone(),
        total: r.total_amount,
        payload: r.invoice_payload.clone(),
        charge: r.charge_id.clone(),
        provider_charge: r.provider_charge_id.clone(),
        shipping_option: r.shipping_option_id.clone(),
        order: r.order_info.as_ref().map(order_out),
        expires: r.subscription_expiration_date,
        recurring: r.is_recurring,
        first_recurring: r.is_first_recurring,
        title: r.title.clone(),
    }
}

fn receipt_in(r: StoredReceipt) -> Box<PaymentReceipt> {
    Box::new(PaymentReceipt {
        currency: r.currency,
        total_amount: r.total,
        invoice_payload: r.payload,
        charge_id: r.charge,
        provider_charge_id: r.provider_charge,
        shipping_option_id: r.shipping_option,
        order_info: r.order.map(order_in),
        subscription_expiration_date: r.expires,
        is_recurring: r.recurring,
        is_first_recurring: r.first_recurring,
        title: r.title,
    })
}

/// An invoice's spec as its column holds it.
pub fn encode_invoice_spec(spec: &InvoiceSpec) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        title: &'a str,
        description: &'a str,
        payload: &'a str,
        currency: &'a str,
        prices: Vec<(&'a str, i64)>,
        #[serde(skip_serializing_if = "Option::is_none")]
        provider_token: &'a Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        provider_data: &'a Option<String>,
        max_tip_amount: i64,
        suggested_tip_amounts: &'a [i64],
        #[serde(skip_serializing_if = "Option::is_none")]
        start_parameter: &'a Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        photo_url: &'a Option<String>,
        need: [bool; 5],
        #[serde(skip_serializing_if = "Option::is_none")]
        subscription_period: Option<i64>,
    }
    serde_json::to_string(&Out {
        title: &spec.title,
        description: &spec.description,
        payload: &spec.payload,
        currency: &spec.currency,
        prices: spec.prices.iter().map(|p| (p.label.as_str(), p.amount)).collect(),
        provider_token: &spec.provider_token,
        provider_data: &spec.provider_data,
        max_tip_amount: spec.max_tip_amount,
        suggested_tip_amounts: &spec.suggested_tip_amounts,
        start_parameter: &spec.start_parameter,
        photo_url: &spec.photo_url,
        need: [spec.need_name, spec.need_phone_number, spec.need_email, spec.need_shipping_address, spec.is_flexible],
        subscription_period: spec.subscription_period,
    })
    .expect("invoice serializes")
}

pub fn decode_invoice_spec(text: &str) -> Result<InvoiceSpec, StoreError> {
    #[derive(Deserialize)]
    struct In {
        title: String,
        description: String,
        payload: String,
        currency: String,
        prices: Vec<(String, i64)>,
        #[serde(default)]
        provider_token: Option<String>,
        #[serde(default)]
        provider_data: Option<String>,
        #[serde(default)]
        max_tip_amount: i64,
        #[serde(default)]
        suggested_tip_amounts: Vec<i64>,
        #[serde(default)]
        start_parameter: Option<String>,
        #[serde(default)]
        photo_url: Option<String>,
        #[serde(default)]
        need: [bool; 5],
        #[serde(default)]
        subscription_period: Option<i64>,
    }
    let i: In = serde_json::from_str(text).map_err(bad)?;
    let [need_name, need_phone_number, need_email, need_shipping_address, is_flexible] = i.need;
    Ok(InvoiceSpec {
        title: i.title,
        description: i.description,
        payload: i.payload,
        currency: i.currency,
        prices: i.prices.into_iter().map(|(label, amount)| LabeledPrice { label, amount }).collect(),
        provider_token: i.provider_token,
        provider_data: i.provider_data,
        max_tip_amount: i.max_tip_amount,
        suggested_tip_amounts: i.suggested_tip_amounts,
        start_parameter: i.start_parameter,
        photo_url: i.photo_url,
        need_name,
        need_phone_number,
        need_email,
        need_shipping_address,
        is_flexible,
        subscription_period: i.subscription_period,
    })
}

/// A shipping option as stored: id, title, and (label, amount) price lines.
type StoredOption<S> = (S, S, Vec<(S, i64)>);

pub fn encode_shipping_options(options: &[ShippingOption]) -> String {
    let list: Vec<StoredOption<&str>> = options
        .iter()
        .map(|o| (o.id.as_str(), o.title.as_str(), o.prices.iter().map(|p| (p.label.as_str(), p.amount)).collect()))
        .collect();
    serde_json::to_string(&list).expect("options serialize")
}

pub fn decode_shipping_options(text: &str) -> Result<Vec<ShippingOption>, StoreError> {
    let list: Vec<StoredOption<String>> = serde_json::from_str(text).map_err(bad)?;
    Ok(list
        .into_iter()
        .map(|(id, title, prices)| ShippingOption {
            id,
            title,
            prices: prices.into_iter().map(|(label, amount)| LabeledPrice { label, amount }).collect(),
        })
        .collect())
}

pub fn encode_shipping_answer(a: &ShippingAnswer) -> String {
    match a {
        ShippingAnswer::Options(o) => format!("{{\"options\":{}}}", encode_shipping_options(o)),
        ShippingAnswer::Error(e) => serde_json::json!({ "error": e }).to_string(),
    }
}

pub fn decode_shipping_answer(text: &str) -> Result<ShippingAnswer, StoreError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(bad)?;
    match (v.get("options"), v.get("error").and_then(|e| e.as_str())) {
        (Some(o), _) => Ok(ShippingAnswer::Options(decode_shipping_options(&o.to_string())?)),
        (None, Some(e)) => Ok(ShippingAnswer::Error(e.to_string())),
        _ => Err(bad("a shipping answer has options or an error")),
    }
}

pub fn encode_address(a: &ShippingAddress) -> String {
    serde_json::to_string(&order_out(&OrderInfo { shipping_address: Some(a.clone()), ..Default::default() }).address)
        .expect("address serializes")
}

pub fn decode_address(text: &str) -> Result<ShippingAddress, StoreError> {
    let a: Option<[String; 6]> = serde_json::from_str(text).map_err(bad)?;
    order_in(StoredOrder { address: a, ..Default::default() }).shipping_address.ok_or_else(|| bad("no address"))
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum StoredAction {
    WriteAccess {
        #[serde(skip_serializing_if = "Option::is_none", default)]
        app: Option<String>,
        #[serde(default)]
        request: bool,
    },
    Contact {
        phone: String,
        first: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        last: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        user: Option<i64>,
    },
    Paid {
        receipt: StoredReceipt,
    },
    Refunded {
        receipt: StoredReceipt,
    },
}

/// A photo or document as a message's extras hold it: its file's description, copied so reading
/// a message needs no second lookup (files never change).
#[derive(Serialize, Deserialize)]
struct StoredMedia {
    kind: String,
    file_id: String,
    unique_id: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    mime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    height: Option<u32>,
}

fn media_out(m: &Media) -> StoredMedia {
    let f = m.file();
    StoredMedia {
        kind: f.kind.as_str().to_string(),
        file_id: f.file_id.clone(),
        unique_id: f.unique_id.clone(),
        size: f.size,
        mime: f.mime_type.clone(),
        name: f.file_name.clone(),
        width: f.width,
        height: f.height,
    }
}

fn media_in(m: StoredMedia) -> Result<Media, StoreError> {
    let kind = FileKind::parse(&m.kind).map_err(bad)?;
    let info = FileInfo {
        file_id: m.file_id,
        unique_id: m.unique_id,
        kind,
        size: m.size,
        mime_type: m.mime,
        file_name: m.name,
        width: m.width,
        height: m.height,
    };
    Ok(match kind {
        FileKind::Photo => Media::Photo(info),
        FileKind::Document => Media::Document(info),
    })
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Markup {
    Inline {
        rows: Vec<Vec<Button>>,
    },
    Keyboard {
        rows: Vec<Vec<KeyButton>>,
        #[serde(default)]
        persistent: bool,
        #[serde(default)]
        resize: bool,
        #[serde(default)]
        one_time: bool,
        #[serde(default)]
        placeholder: Option<String>,
        #[serde(default)]
        selective: bool,
    },
    Remove {
        #[serde(default)]
        selective: bool,
    },
    ForceReply {
        #[serde(default)]
        placeholder: Option<String>,
        #[serde(default)]
        selective: bool,
    },
}

#[derive(Serialize, Deserialize)]
struct Button {
    text: String,
    /// The action's Bot API field name, and its value where it has one.
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    value: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct KeyButton {
    text: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    request: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    value: Option<String>,
}

fn markup_out(m: &ReplyMarkup) -> Markup {
    match m {
        ReplyMarkup::Inline(rows) => Markup::Inline {
            rows: rows
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|b| {
                            let value = b.action.value().map(str::to_string);
                            Button { text: b.text.clone(), kind: b.action.name().to_string(), value }
                        })
                        .collect()
                })
                .collect(),
        },
        ReplyMarkup::Keyboard(k) => Markup::Keyboard {
            rows: k
                .rows
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|b| {
                            let (request, value) = match &b.request {
                                Some(r) => {
                                    let (name, value) = r.parts();
                                    (Some(name), value.map(str::to_string))
                                }
                                None => (None, None),
                            };
                            KeyButton { text: b.text.clone(), request: request.map(str::to_string), value }
                        })
                        .collect()
                })
                .collect(),
            persistent: k.is_persistent,
            resize: k.resize,
            one_time: k.one_time,
            placeholder: k.placeholder.clone(),
            selective: k.selective,
        },
        ReplyMarkup::Remove { selective } => Markup::Remove { selective: *selective },
        ReplyMarkup::ForceReply { placeholder, selective } => {
            Markup::ForceReply { placeholder: placeholder.clone(), selective: *selective }
        }
    }
}

fn markup_in(m: Markup) -> Result<ReplyMarkup, StoreError> {
    Ok(match m {
        Markup::Inline { rows } => ReplyMarkup::Inline(
            rows.into_iter()
                .map(|row| {
                    row.into_iter()
                        .map(|b| {
                            let v = || b.value.clone().ok_or_else(|| bad("button without value"));
                            let action = match b.kind.as_str() {
                                "url" => ButtonAction::Url(v()?),
                                "callback_data" => ButtonAction::Callback(v()?),
                                "web_app" => ButtonAction::WebApp(v()?),
                                "login_url" => ButtonAction::LoginUrl(v()?),
                                "switch_inline_query" => ButtonAction::SwitchInlineQuery(v()?),
                                "switch_inline_query_current_chat" => ButtonAction::SwitchInlineQueryCurrentChat(v()?),
                                "copy_text" => ButtonAction::CopyText(v()?),
                                "callback_game" => ButtonAction::CallbackGame,
                                "pay" => ButtonAction::Pay,
                                other => return Err(bad(format!("button kind {other:?}"))),
                            };
                            Ok(InlineButton { text: b.text, action })
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Markup::Keyboard { rows, persistent, resize, one_time, placeholder, selective } => {
            ReplyMarkup::Keyboard(ReplyKeyboard {
                rows: rows
                    .into_iter()
                    .map(|row| {
                        row.into_iter()
                            .map(|b| {
                                let request = match b.request.as_deref() {
                                    None => None,
                                    Some("contact") => Some(KeyboardRequest::Contact),
                                    Some("location") => Some(KeyboardRequest::Location),
                                    Some("poll") => Some(KeyboardRequest::Poll { kind: b.value }),
                                    Some("web_app") => Some(KeyboardRequest::WebApp(
                                        b.value.ok_or_else(|| bad("web_app button without url"))?,
                                    )),
                                    Some(other) => return Err(bad(format!("keyboard request {other:?}"))),
                                };
                                Ok(KeyboardButton { text: b.text, request })
                            })
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                is_persistent: persistent,
                resize,
                one_time,
                placeholder,
                selective,
            })
        }
        Markup::Remove { selective } => ReplyMarkup::Remove { selective },
        Markup::ForceReply { placeholder, selective } => ReplyMarkup::ForceReply { placeholder, selective },
    })
}

/// Everything a message's extras column holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras {
    pub reply_markup: Option<ReplyMarkup>,
    pub media: Option<Box<Media>>,
    pub forward_origin: Option<ForwardOrigin>,
    pub protected: bool,
    pub service: Option<Box<ServiceAction>>,
    pub poll: Option<String>,
    pub via_bot: Option<UserId>,
    pub invoice: Option<Box<InvoiceSummary>>,
}

impl Extras {
    pub fn of_new(m: &NewMessage) -> Self {
        Extras {
            reply_markup: m.reply_markup.clone(),
            media: m.media.clone(),
            forward_origin: m.forward_origin,
            protected: m.protected,
            service: m.service.clone(),
            poll: m.poll.as_ref().map(|p| p.id.clone()),
            via_bot: m.via_bot,
            invoice: m.invoice.clone(),
        }
    }

    pub fn of(m: &Message) -> Self {
        Extras {
            reply_markup: m.reply_markup.clone(),
            media: m.media.clone(),
            forward_origin: m.forward_origin,
            protected: m.protected,
            service: m.service.clone(),
            poll: m.poll.clone(),
            via_bot: m.via_bot,
            invoice: m.invoice.clone(),
        }
    }

    /// Puts the extras into a message read from a row.
    pub fn apply(self, m: &mut Message) {
        m.reply_markup = self.reply_markup;
        m.media = self.media;
        m.forward_origin = self.forward_origin;
        m.protected = self.protected;
        m.service = self.service;
        m.poll = self.poll;
        m.via_bot = self.via_bot;
        m.invoice = self.invoice;
    }
}

/// A prepared message's content from its text, entities and extras columns.
pub fn new_message_from_columns(
    text: String,
    entities: Option<&str>,
    extra: Option<&str>,
) -> Result<NewMessage, StoreError> {
    let x = decode_extra(extra)?;
    Ok(NewMessage {
        text: plaza_core::MessageText::from_stored(text),
        entities: crate::entities::decode(entities)?,
        reply_to: None,
        reply_markup: x.reply_markup,
        media: x.media,
        forward_origin: x.forward_origin,
        protected: x.protected,
        service: x.service,
        poll: None,
        via_bot: x.via_bot,
        invoice: x.invoice,
    })
}

/// A message's extras column; `None` when the message has none, so plain messages store nothing.
pub fn encode_extra(x: &Extras) -> Option<String> {
    if *x == Extras::default() {
        return None;
    }
    let extra = Extra {
        markup: x.reply_markup.as_ref().map(markup_out),
        media: x.media.as_deref().map(media_out),
        forward: x.forward_origin.map(|f| (f.sender.0, f.date)),
        protected: x.protected,
        pinned: match x.service.as_deref() {
            Some(ServiceAction::PinnedMessage(id)) => Some(id.0),
            _ => None,
        },
        web_app_data: match x.service.as_deref() {
            Some(ServiceAction::WebAppData { data, button_text }) => Some((data.clone(), button_text.clone())),
            _ => None,
        },
        poll: x.poll.clone(),
        action: match x.service.as_deref() {
            Some(ServiceAction::WriteAccessAllowed { web_app_name, from_request }) => {
                Some(StoredAction::WriteAccess { app: web_app_name.clone(), request: *from_request })
            }
            Some(ServiceAction::Contact(c)) => Some(StoredAction::Contact {
                phone: c.phone_number.clone(),
                first: c.first_name.clone(),
                last: c.last_name.clone(),
                user: c.user_id.map(|u| u.0),
            }),
            Some(ServiceAction::SuccessfulPayment(r)) => Some(StoredAction::Paid { receipt: receipt_out(r) }),
            Some(ServiceAction::RefundedPayment(r)) => Some(StoredAction::Refunded { receipt: receipt_out(r) }),
            _ => None,
        },
        via_bot: x.via_bot.map(|b| b.0),
        invoice: x.invoice.as_ref().map(|i| StoredInvoice {
            slug: i.slug.clone(),
            title: i.title.clone(),
            description: i.description.clone(),
            start: i.start_parameter.clone(),
            currency: i.currency.clone(),
            total: i.total_amount,
        }),
    };
    Some(serde_json::to_string(&extra).expect("extras serialize"))
}

pub fn decode_extra(column: Option<&str>) -> Result<Extras, StoreError> {
    let Some(text) = column else { return Ok(Extras::default()) };
    let extra: Extra = serde_json::from_str(text).map_err(bad)?;
    Ok(Extras {
        reply_markup: extra.markup.map(markup_in).transpose()?,
        media: extra.media.map(media_in).transpose()?.map(Box::new),
        forward_origin: extra.forward.map(|(s, d)| ForwardOrigin { sender: UserId(s), date: d }),
        protected: extra.protected,
        service: match (extra.pinned, extra.web_app_data, extra.action) {
            (Some(id), _, _) => Some(ServiceAction::PinnedMessage(MessageId(id))),
            (None, Some((data, button_text)), _) => Some(ServiceAction::WebAppData { data, button_text }),
            (None, None, Some(StoredAction::WriteAccess { app, request })) => {
                Some(ServiceAction::WriteAccessAllowed { web_app_name: app, from_request: request })
            }
            (None, None, Some(StoredAction::Contact { phone, first, last, user })) => {
                Some(ServiceAction::Contact(plaza_core::Contact {
                    phone_number: phone,
                    first_name: first,
                    last_name: last,
                    user_id: user.map(UserId),
                }))
            }
            (None, None, Some(StoredAction::Paid { receipt })) => {
                Some(ServiceAction::SuccessfulPayment(receipt_in(receipt)))
            }
            (None, None, Some(StoredAction::Refunded { receipt })) => {
                Some(ServiceAction::RefundedPayment(receipt_in(receipt)))
            }
            (None, None, None) => None,
        }
        .map(Box::new),
        poll: extra.poll,
        via_bot: extra.via_bot.map(UserId),
        invoice: extra
            .invoice
            .map(|i| InvoiceSummary {
                slug: i.slug,
                title: i.title,
                description: i.description,
                start_parameter: i.start,
                currency: i.currency,
                total_amount: i.total,
            })
            .map(Box::new),
    })
}

// ---- bot settings ----

#[derive(Serialize, Deserialize)]
struct Command {
    c: String,
    d: String,
}

pub fn encode_commands(commands: &[BotCommand]) -> String {
    let list: Vec<Command> =
        commands.iter().map(|c| Command { c: c.command.clone(), d: c.description.clone() }).collect();
    serde_json::to_string(&list).expect("commands serialize")
}

pub fn decode_commands(text: &str) -> Result<Vec<BotCommand>, StoreError> {
    let list: Vec<Command> = serde_json::from_str(text).map_err(bad)?;
    list.into_iter().map(|c| BotCommand::new(&c.c, &c.d).map_err(bad)).collect()
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StoredMenuButton {
    Commands,
    WebApp { text: String, url: String },
}

pub fn encode_menu_button(button: &MenuButton) -> String {
    let stored = match button {
        MenuButton::WebApp { text, url } => StoredMenuButton::WebApp { text: text.clone(), url: url.clone() },
        MenuButton::Commands | MenuButton::Default => StoredMenuButton::Commands,
    };
    serde_json::to_string(&stored).expect("menu button serializes")
}

pub fn decode_menu_button(text: &str) -> Result<MenuButton, StoreError> {
    Ok(match serde_json::from_str(text).map_err(bad)? {
        StoredMenuButton::Commands => MenuButton::Commands,
        StoredMenuButton::WebApp { text, url } => MenuButton::WebApp { text, url },
    })
}

pub fn encode_allowed(allowed: &AllowedUpdates) -> Option<String> {
    allowed.0.as_ref().map(|list| serde_json::to_string(list).expect("list serializes"))
}

pub fn decode_allowed(text: Option<&str>) -> Result<AllowedUpdates, StoreError> {
    match text {
        None => Ok(AllowedUpdates::default()),
        Some(t) => Ok(AllowedUpdates::new(serde_json::from_str(t).map_err(bad)?)),
    }
}

#[derive(Serialize, Deserialize)]
struct StoredWebhook {
    url: String,
    #[serde(default)]
    secret_token: Option<String>,
    max_connections: u32,
    #[serde(default)]
    ip_address: Option<String>,
    #[serde(default)]
    has_custom_certificate: bool,
    #[serde(default)]
    last_error_date: Option<i64>,
    #[serde(default)]
    last_error_message: Option<String>,
}

pub fn encode_webhook(w: &Webhook) -> String {
    serde_json::to_string(&StoredWebhook {
        url: w.url.clone(),
        secret_token: w.secret_token.clone(),
        max_connections: w.max_connections,
        ip_address: w.ip_address.clone(),
        has_custom_certificate: w.has_custom_certificate,
        last_error_date: w.last_error_date,
        last_error_message: w.last_error_message.clone(),
    })
    .expect("webhook serializes")
}

pub fn decode_webhook(text: Option<&str>) -> Result<Option<Webhook>, StoreError> {
    let Some(text) = text else { return Ok(None) };
    let w: StoredWebhook = serde_json::from_str(text).map_err(bad)?;
    Ok(Some(Webhook {
        url: w.url,
        secret_token: w.secret_token,
        max_connections: w.max_connections,
        ip_address: w.ip_address,
        has_custom_certificate: w.has_custom_certificate,
        last_error_date: w.last_error_date,
        last_error_message: w.last_error_message,
    }))
}

#[derive(Serialize, Deserialize)]
struct StoredAnswer {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    show_alert: bool,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    cache_time: u32,
}

pub fn encode_answer(a: &CallbackAnswer) -> String {
    serde_json::to_string(&StoredAnswer {
        text: a.text.clone(),
        show_alert: a.show_alert,
        url: a.url.clone(),
        cache_time: a.cache_time,
    })
    .expect("answer serializes")
}

pub fn decode_answer(text: Option<&str>) -> Result<Option<CallbackAnswer>, StoreError> {
    let Some(text) = text else { return Ok(None) };
    let a: StoredAnswer = serde_json::from_str(text).map_err(bad)?;
    Ok(Some(CallbackAnswer { text: a.text, show_alert: a.show_alert, url: a.url, cache_time: a.cache_time }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use plaza_core::LanguageCode;

    #[test]
    fn keyboards_round_trip() {
        let inline = ReplyMarkup::Inline(vec![
            vec![
                InlineButton { text: "a".into(), action: ButtonAction::Callback("x".into()) },
                InlineButton { text: "b".into(), action: ButtonAction::Url("https://e.x".into()) },
            ],
            vec![InlineButton { text: "pay".into(), action: ButtonAction::Pay }],
        ]);
        let keyboard = ReplyMarkup::Keyboard(ReplyKeyboard {
            rows: vec![vec![
                KeyboardButton { text: "phone".into(), request: Some(KeyboardRequest::Contact) },
                KeyboardButton { text: "app".into(), request: Some(KeyboardRequest::WebApp("https://a".into())) },
                KeyboardButton { text: "plain".into(), request: None },
            ]],
            one_time: true,
            placeholder: Some("say".into()),
            ..Default::default()
        });
        for m in [inline, keyboard, ReplyMarkup::Remove { selective: true }] {
            let x = Extras { reply_markup: Some(m), ..Default::default() };
            assert_eq!(decode_extra(encode_extra(&x).as_deref()).unwrap(), x);
        }
        assert_eq!(encode_extra(&Extras::default()), None);
        assert_eq!(decode_extra(None).unwrap(), Extras::default());
        let photo = Media::Photo(FileInfo {
            file_id: "f".into(),
            unique_id: "u".into(),
            kind: FileKind::Photo,
            size: 3,
            mime_type: Some("image/png".into()),
            file_name: None,
            width: Some(2),
            height: Some(1),
        });
        let x = Extras {
            media: Some(Box::new(photo)),
            forward_origin: Some(ForwardOrigin { sender: UserId(7), date: 9 }),
            protected: true,
            ..Default::default()
        };
        assert_eq!(decode_extra(encode_extra(&x).as_deref()).unwrap(), x);
    }

    #[test]
    fn settings_round_trip() {
        let cmds = vec![BotCommand::new("start", "Start").unwrap(), BotCommand::new("help", "Help").unwrap()];
        assert_eq!(decode_commands(&encode_commands(&cmds)).unwrap(), cmds);
        let b = MenuButton::WebApp { text: "Open".into(), url: "https://a".into() };
        assert_eq!(decode_menu_button(&encode_menu_button(&b)).unwrap(), b);
        let a = AllowedUpdates::new(vec!["message".into()]);
        assert_eq!(decode_allowed(encode_allowed(&a).as_deref()).unwrap(), a);
        let lang = Some(LanguageCode::parse("de").unwrap());
        assert_eq!(commands_key(CommandScope::AllPrivateChats, &lang), "commands/all_private_chats/de");
        assert_eq!(text_key(BotText::Name, &None), "name/");
    }
}
