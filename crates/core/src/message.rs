//! Messages: their text, formatting entities and the rules a new or edited message must follow.

use crate::file::{MAX_CAPTION_LEN, Media};
use crate::payment::{InvoiceSummary, OrderInfo};
use crate::poll::NewPoll;
use crate::{ChatKey, Invalid, MessageId, ReplyMarkup, UserId, text::utf16_len};

/// Longest message text, in UTF-16 code units, as on Telegram.
pub const MAX_TEXT_LEN: usize = 4096;
/// Most entities one message may carry, as on Telegram.
pub const MAX_ENTITIES: usize = 100;

/// A message's text: 1–4096 UTF-16 code units, not only whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.trim().is_empty() {
            return Err(Invalid::new("text", "message text is empty"));
        }
        no_nul("text", "message text", s)?;
        let len = utf16_len(s);
        if len > MAX_TEXT_LEN {
            return Err(Invalid::new("text", format!("message is too long: {len} characters, at most {MAX_TEXT_LEN}")));
        }
        Ok(MessageText(s.to_string()))
    }

    /// A photo's or document's caption: 0–1024 UTF-16 code units.
    pub fn caption(s: &str) -> Result<Self, Invalid> {
        no_nul("caption", "message caption", s)?;
        let len = utf16_len(s);
        if len > MAX_CAPTION_LEN {
            return Err(Invalid::new(
                "caption",
                format!("message caption is too long: {len} characters, at most {MAX_CAPTION_LEN}"),
            ));
        }
        Ok(MessageText(s.to_string()))
    }

    /// Text read back from storage, checked when it was stored.
    pub fn from_stored(s: String) -> Self {
        MessageText(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Refuses a NUL character, which PostgreSQL's text type cannot hold: one store must not keep
/// what the other refuses. (Telegram removes it, with the other control characters TDLib's
/// `clean_input_string` drops, and moves the entities to match.)
fn no_nul(field: &'static str, what: &str, s: &str) -> Result<(), Invalid> {
    match s.contains('\0') {
        true => Err(Invalid::new(field, format!("{what} must not contain a NUL character"))),
        false => Ok(()),
    }
}

/// A formatting or meaning span over a message's text, in UTF-16 code units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub kind: EntityKind,
    pub offset: u32,
    pub length: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityKind {
    Mention,
    Hashtag,
    Cashtag,
    BotCommand,
    Url,
    Email,
    PhoneNumber,
    Bold,
    Italic,
    Underline,
    Strikethrough,
    Spoiler,
    Blockquote,
    ExpandableBlockquote,
    Code,
    Pre { language: Option<String> },
    TextLink { url: String },
    TextMention { user_id: UserId },
    CustomEmoji { custom_emoji_id: String },
}

impl EntityKind {
    /// The Bot API's name for the kind.
    pub fn name(&self) -> &'static str {
        match self {
            EntityKind::Mention => "mention",
            EntityKind::Hashtag => "hashtag",
            EntityKind::Cashtag => "cashtag",
            EntityKind::BotCommand => "bot_command",
            EntityKind::Url => "url",
            EntityKind::Email => "email",
            EntityKind::PhoneNumber => "phone_number",
            EntityKind::Bold => "bold",
            EntityKind::Italic => "italic",
            EntityKind::Underline => "underline",
            EntityKind::Strikethrough => "strikethrough",
            EntityKind::Spoiler => "spoiler",
            EntityKind::Blockquote => "blockquote",
            EntityKind::ExpandableBlockquote => "expandable_blockquote",
            EntityKind::Code => "code",
            EntityKind::Pre { .. } => "pre",
            EntityKind::TextLink { .. } => "text_link",
            EntityKind::TextMention { .. } => "text_mention",
            EntityKind::CustomEmoji { .. } => "custom_emoji",
        }
    }

    /// The extra fields some kinds carry, as `from_parts` takes them.
    pub fn extras(&self) -> EntityExtras<'_> {
        let mut x = EntityExtras::default();
        match self {
            EntityKind::Pre { language } => x.language = language.as_deref(),
            EntityKind::TextLink { url } => x.url = Some(url),
            EntityKind::TextMention { user_id } => x.user_id = Some(user_id.0),
            EntityKind::CustomEmoji { custom_emoji_id } => x.custom_emoji_id = Some(custom_emoji_id),
            _ => {}
        }
        x
    }

    /// Builds a kind from its Bot API name and the extra field that kind needs.
    pub fn from_parts(
        name: &str,
        url: Option<String>,
        language: Option<String>,
        user_id: Option<i64>,
        custom_emoji_id: Option<String>,
    ) -> Result<Self, Invalid> {
        Ok(match name {
            "mention" => EntityKind::Mention,
            "hashtag" => EntityKind::Hashtag,
            "cashtag" => EntityKind::Cashtag,
            "bot_command" => EntityKind::BotCommand,
            "url" => EntityKind::Url,
            "email" => EntityKind::Email,
            "phone_number" => EntityKind::PhoneNumber,
            "bold" => EntityKind::Bold,
            "italic" => EntityKind::Italic,
            "underline" => EntityKind::Underline,
            "strikethrough" => EntityKind::Strikethrough,
            "spoiler" => EntityKind::Spoiler,
            "blockquote" => EntityKind::Blockquote,
            "expandable_blockquote" => EntityKind::ExpandableBlockquote,
            "code" => EntityKind::Code,
            "pre" => EntityKind::Pre { language: language.filter(|l| !l.is_empty()) },
            "text_link" => {
                let url = url
                    .filter(|u| !u.trim().is_empty())
                    .ok_or_else(|| Invalid::new("entities", "a text_link entity needs a url"))?;
                if url.len() > 2048 {
                    return Err(Invalid::new("entities", "a text_link url is at most 2048 bytes"));
                }
                EntityKind::TextLink { url }
            }
            "text_mention" => EntityKind::TextMention {
                user_id: UserId(user_id.ok_or_else(|| Invalid::new("entities", "a text_mention entity needs a user"))?),
            },
            "custom_emoji" => EntityKind::CustomEmoji {
                custom_emoji_id: custom_emoji_id
                    .ok_or_else(|| Invalid::new("entities", "a custom_emoji entity needs a custom_emoji_id"))?,
            },
            other => return Err(Invalid::new("entities", format!("unknown entity type {other:?}"))),
        })
    }
}

/// The optional fields of an entity, by the Bot API's names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntityExtras<'a> {
    pub url: Option<&'a str>,
    pub language: Option<&'a str>,
    pub user_id: Option<i64>,
    pub custom_emoji_id: Option<&'a str>,
}

/// Checks entities against the text they annotate; returns them sorted by offset.
pub fn check_entities(text: &MessageText, mut entities: Vec<Entity>) -> Result<Vec<Entity>, Invalid> {
    if entities.len() > MAX_ENTITIES {
        return Err(Invalid::new("entities", format!("at most {MAX_ENTITIES} entities")));
    }
    let len = utf16_len(text.as_str()) as u64;
    for e in &entities {
        if e.length == 0 {
            return Err(Invalid::new("entities", "an entity's length must be positive"));
        }
        if u64::from(e.offset) + u64::from(e.length) > len {
            return Err(Invalid::new(
                "entities",
                format!("entity at offset {} with length {} lies outside the text", e.offset, e.length),
            ));
        }
    }
    entities.sort_by_key(|e| (e.offset, std::cmp::Reverse(e.length)));
    Ok(entities)
}

/// A message about to be sent; valid by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub text: MessageText,
    pub entities: Vec<Entity>,
    pub reply_to: Option<MessageId>,
    pub reply_markup: Option<ReplyMarkup>,
    /// A photo or document; `text` is then its caption, which may be empty.
    pub media: Option<Box<Media>>,
    /// Where a forwarded message came from.
    pub forward_origin: Option<ForwardOrigin>,
    /// Recipients may not forward or copy it (`protect_content`).
    pub protected: bool,
    /// Set for service messages (a pin …), which have no text of their own.
    pub service: Option<Box<ServiceAction>>,
    /// A poll to create with the message; the message has no text of its own.
    pub poll: Option<Box<NewPoll>>,
    /// The bot through which a person sent it (a mini app's `answerWebAppQuery`).
    pub via_bot: Option<UserId>,
    /// An invoice the bot sent with `sendInvoice`; the message has no text of its own.
    pub invoice: Option<Box<InvoiceSummary>>,
}

/// What a service message reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceAction {
    /// The sender pinned this message of the chat.
    PinnedMessage(MessageId),
    /// A mini app opened from a reply-keyboard button sent this data to the bot (`sendData`).
    WebAppData { data: String, button_text: String },
    /// The person allowed the bot to message them: asked by a mini app (`requestWriteAccess`).
    WriteAccessAllowed { web_app_name: Option<String>, from_request: bool },
    /// The person shared a contact (a mini app's `requestContact` shares their own).
    Contact(Contact),
    /// The person paid an invoice (or a subscription renewed): the bot delivers on this.
    SuccessfulPayment(Box<PaymentReceipt>),
    /// The bot refunded a payment of the person's.
    RefundedPayment(Box<PaymentReceipt>),
}

/// A payment as its service messages report it (`SuccessfulPayment`, `RefundedPayment`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PaymentReceipt {
    pub currency: String,
    pub total_amount: i64,
    pub invoice_payload: String,
    pub charge_id: String,
    pub provider_charge_id: Option<String>,
    pub shipping_option_id: Option<String>,
    pub order_info: Option<OrderInfo>,
    pub subscription_expiration_date: Option<i64>,
    pub is_recurring: bool,
    pub is_first_recurring: bool,
    /// The paid invoice's title, for the person's client (Telegram's `SuccessfulPayment` has no
    /// such field, so bots never see it). `None` in receipts stored before it was kept.
    pub title: Option<String>,
}

/// A shared contact (Telegram's `Contact`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub phone_number: String,
    pub first_name: String,
    pub last_name: Option<String>,
    /// The contact's account here, if it has one.
    pub user_id: Option<UserId>,
}

/// The most a mini app may send with `sendData`, in bytes.
pub const MAX_WEB_APP_DATA: usize = 4096;

/// The original sender and date of a forwarded message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardOrigin {
    pub sender: UserId,
    pub date: i64,
}

impl NewMessage {
    pub fn new(text: &str, entities: Vec<Entity>, reply_to: Option<i64>) -> Result<Self, Invalid> {
        let text = MessageText::parse(text)?;
        let entities = check_entities(&text, entities)?;
        let reply_to = match reply_to {
            Some(id) if id <= 0 => return Err(Invalid::new("reply_to_message_id", "must be positive")),
            other => other.map(MessageId),
        };
        Ok(NewMessage {
            text,
            entities,
            reply_to,
            reply_markup: None,
            media: None,
            forward_origin: None,
            protected: false,
            service: None,
            poll: None,
            via_bot: None,
            invoice: None,
        })
    }

    /// A photo or document with a caption (which may be empty).
    pub fn with_file(
        media: Media,
        caption: &str,
        entities: Vec<Entity>,
        reply_to: Option<i64>,
    ) -> Result<Self, Invalid> {
        let text = MessageText::caption(caption)?;
        let entities = check_entities(&text, entities)?;
        let reply_to = match reply_to {
            Some(id) if id <= 0 => return Err(Invalid::new("reply_to_message_id", "must be positive")),
            other => other.map(MessageId),
        };
        Ok(NewMessage {
            text,
            entities,
            reply_to,
            reply_markup: None,
            media: Some(Box::new(media)),
            forward_origin: None,
            protected: false,
            service: None,
            poll: None,
            via_bot: None,
            invoice: None,
        })
    }

    /// A service message reporting `action`.
    pub fn service(action: ServiceAction) -> Self {
        NewMessage { service: Some(Box::new(action)), ..NewMessage::without_text(None) }
    }

    /// An invoice message; `markup` must start with the Pay button.
    pub fn invoice(invoice: InvoiceSummary, markup: ReplyMarkup, reply_to: Option<MessageId>) -> Self {
        NewMessage {
            invoice: Some(Box::new(invoice)),
            reply_markup: Some(markup),
            ..NewMessage::without_text(reply_to)
        }
    }

    /// A message carrying a new poll.
    pub fn poll(poll: NewPoll, reply_to: Option<MessageId>) -> Self {
        NewMessage { poll: Some(Box::new(poll)), ..NewMessage::without_text(reply_to) }
    }

    /// A message with no text of its own and nothing else yet: what service, invoice and poll
    /// messages start from.
    fn without_text(reply_to: Option<MessageId>) -> Self {
        NewMessage {
            text: MessageText(String::new()),
            entities: Vec::new(),
            reply_to,
            reply_markup: None,
            media: None,
            forward_origin: None,
            protected: false,
            service: None,
            poll: None,
            via_bot: None,
            invoice: None,
        }
    }

    /// Attaches a keyboard; an empty inline keyboard is the same as none.
    pub fn with_markup(mut self, markup: Option<ReplyMarkup>) -> Self {
        self.reply_markup = markup.filter(|m| m.inline().is_none_or(|rows| !rows.is_empty()));
        self
    }
}

impl NewMessage {
    /// The message as stored once the chat gave it its id.
    pub fn into_message(self, chat: ChatKey, id: MessageId, sender: UserId, date: i64) -> Message {
        Message {
            chat,
            id,
            sender,
            date,
            text: self.text,
            entities: self.entities,
            reply_to: self.reply_to,
            edit_date: None,
            reply_markup: self.reply_markup,
            media: self.media,
            forward_origin: self.forward_origin,
            protected: self.protected,
            service: self.service,
            poll: self.poll.map(|p| p.id),
            via_bot: self.via_bot,
            invoice: self.invoice,
        }
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub chat: ChatKey,
    pub id: MessageId,
    pub sender: UserId,
    pub date: i64,
    pub text: MessageText,
    pub entities: Vec<Entity>,
    pub reply_to: Option<MessageId>,
    pub edit_date: Option<i64>,
    /// The keyboard the sender attached (bots only).
    pub reply_markup: Option<ReplyMarkup>,
    /// A photo or document; `text` is then its caption.
    pub media: Option<Box<Media>>,
    pub forward_origin: Option<ForwardOrigin>,
    pub protected: bool,
    pub service: Option<Box<ServiceAction>>,
    /// The id of the poll the message carries.
    pub poll: Option<String>,
    /// The bot through which a person sent it (a mini app's `answerWebAppQuery`).
    pub via_bot: Option<UserId>,
    /// An invoice the bot sent with `sendInvoice`.
    pub invoice: Option<Box<InvoiceSummary>>,
}

impl Message {
    /// The same content as a new message: text, entities and file (for copies and forwards; a
    /// forward also names its origin).
    pub fn resend(&self, forward: bool, reply_to: Option<MessageId>) -> NewMessage {
        NewMessage {
            text: self.text.clone(),
            entities: self.entities.clone(),
            reply_to,
            // A keyboard's buttons answer to the bot that sent it, so copies go without it.
            reply_markup: None,
            media: self.media.clone(),
            forward_origin: forward
                .then(|| self.forward_origin.unwrap_or(ForwardOrigin { sender: self.sender, date: self.date })),
            protected: false,
            service: None,
            // Forwarding or copying a poll is not supported yet; the copy carries no poll.
            poll: None,
            via_bot: if forward { self.via_bot } else { None },
            // An invoice is paid through the message the bot sent; copies carry none.
            invoice: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ent(offset: u32, length: u32) -> Entity {
        Entity { kind: EntityKind::Bold, offset, length }
    }

    #[test]
    fn text_limits_count_utf16() {
        assert!(MessageText::parse("").is_err());
        assert!(MessageText::parse(" \n ").is_err());
        assert!(MessageText::parse(&"a".repeat(4096)).is_ok());
        assert!(MessageText::parse(&"a".repeat(4097)).is_err());
        // 2048 emoji are 4096 UTF-16 units; one more is too long.
        assert!(MessageText::parse(&"👍".repeat(2048)).is_ok());
        assert!(MessageText::parse(&"👍".repeat(2049)).is_err());
    }

    #[test]
    fn text_and_captions_refuse_nul() {
        let e = MessageText::parse("a\0b").unwrap_err();
        assert_eq!((e.field, e.reason.as_str()), ("text", "message text must not contain a NUL character"));
        assert_eq!(MessageText::caption("\0").unwrap_err().field, "caption");
        assert!(MessageText::parse("tab\tand\nnewline").is_ok());
    }

    #[test]
    fn entities_must_lie_inside_the_text() {
        assert!(NewMessage::new("👍 hi", vec![ent(3, 2)], None).is_ok());
        assert!(NewMessage::new("👍 hi", vec![ent(3, 3)], None).is_err());
        assert!(NewMessage::new("hi", vec![ent(0, 0)], None).is_err());
        let m = NewMessage::new("hello", vec![ent(3, 1), ent(0, 2)], Some(1)).unwrap();
        assert_eq!(m.entities[0].offset, 0);
        assert!(NewMessage::new("hello", vec![], Some(0)).is_err());
    }

    #[test]
    fn entity_kinds_need_their_fields() {
        assert!(EntityKind::from_parts("text_link", None, None, None, None).is_err());
        assert!(EntityKind::from_parts("text_mention", None, None, None, None).is_err());
        assert!(EntityKind::from_parts("blink", None, None, None, None).is_err());
        let k = EntityKind::from_parts("pre", None, Some("rust".into()), None, None).unwrap();
        assert_eq!(k, EntityKind::Pre { language: Some("rust".into()) });
        assert_eq!(k.extras(), EntityExtras { language: Some("rust"), ..Default::default() });
        let link = EntityKind::TextLink { url: "https://x".into() };
        assert_eq!(link.extras().url, Some("https://x"));
        assert_eq!(k.name(), "pre");
    }
}
