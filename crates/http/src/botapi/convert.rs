//! Explicit conversions between domain values and the Bot API's wire types.

use plaza_core::file::{FileInfo, Media};
use plaza_core::markup::{ButtonAction, InlineButton, KeyboardButton, KeyboardRequest, ReplyKeyboard};
use plaza_core::{Chat, ChatKind, Entity, EntityKind, MemberStatus, ReplyMarkup, User, UserId};
use plaza_protocol::botapi as wire;
use plaza_service::bots::{BotMessage, BotUpdate, BotUpdateBody};
use plaza_service::{Service, ServiceResult};

use super::error::BotError;

pub fn user(u: &User) -> wire::User {
    wire::User {
        id: u.id.0,
        is_bot: u.is_bot,
        first_name: u.display_name.as_str().to_string(),
        last_name: None,
        username: Some(u.username.as_str().to_string()),
        language_code: if u.is_bot { None } else { u.language_code.as_ref().map(|l| l.as_str().to_string()) },
        can_join_groups: None,
        can_read_all_group_messages: None,
        supports_inline_queries: None,
        can_connect_to_business: None,
        has_main_web_app: None,
    }
}

/// `getMe`: the bot with the flags only `getMe` carries. Plaza's bots see every group message
/// (privacy mode off) and do not answer inline queries yet.
pub fn me(bot: &User) -> wire::User {
    wire::User {
        can_join_groups: Some(true),
        can_read_all_group_messages: Some(true),
        supports_inline_queries: Some(false),
        can_connect_to_business: Some(false),
        has_main_web_app: Some(false),
        ..user(bot)
    }
}

pub fn chat(c: &Chat) -> wire::Chat {
    match &c.kind {
        ChatKind::Private { peer } => wire::Chat {
            id: peer.id.0,
            kind: "private",
            title: None,
            username: Some(peer.username.as_str().to_string()),
            first_name: Some(peer.display_name.as_str().to_string()),
            last_name: None,
        },
        ChatKind::Group { title, .. } => wire::Chat {
            id: c.id.0,
            kind: "group",
            title: Some(title.as_str().to_string()),
            username: None,
            first_name: None,
            last_name: None,
        },
    }
}

/// A member by standing, with the rights Plaza's roles carry.
pub fn chat_member(u: &wire::User, status: MemberStatus, until: Option<i64>, can_be_edited: bool) -> wire::ChatMember {
    let user = u.clone();
    match status {
        MemberStatus::Left => wire::ChatMember::Left { user },
        MemberStatus::Member => wire::ChatMember::Member { user },
        MemberStatus::Kicked => wire::ChatMember::Kicked { user, until_date: until.unwrap_or(0) },
        MemberStatus::Creator => wire::ChatMember::Creator { user, is_anonymous: false },
        MemberStatus::Administrator => wire::ChatMember::Administrator {
            user,
            can_be_edited,
            is_anonymous: false,
            can_manage_chat: true,
            can_delete_messages: true,
            can_manage_video_chats: false,
            can_restrict_members: true,
            can_promote_members: false,
            can_change_info: true,
            can_invite_users: true,
            can_post_stories: false,
            can_edit_stories: false,
            can_delete_stories: false,
            can_pin_messages: true,
        },
    }
}

pub fn chat_full(c: &Chat) -> wire::ChatFullInfo {
    let permissions = matches!(c.kind, ChatKind::Group { .. }).then_some(wire::ChatPermissions {
        can_send_messages: true,
        can_send_audios: true,
        can_send_documents: true,
        can_send_photos: true,
        can_send_videos: true,
        can_send_video_notes: true,
        can_send_voice_notes: true,
        can_send_polls: true,
        can_send_other_messages: true,
        can_add_web_page_previews: true,
        can_change_info: false,
        can_invite_users: false,
        can_pin_messages: false,
        can_manage_topics: false,
    });
    wire::ChatFullInfo {
        chat: chat(c),
        accent_color_id: 0,
        max_reaction_count: 11,
        accepted_gift_types: wire::AcceptedGiftTypes::default(),
        bio: None,
        description: None,
        permissions,
        pinned_message: None,
    }
}

pub async fn entities(service: &Service, entities: &[Entity]) -> ServiceResult<Vec<wire::MessageEntity>> {
    let mut out = Vec::with_capacity(entities.len());
    for e in entities {
        let x = e.kind.extras();
        let mentioned = match x.user_id {
            Some(id) => Some(user(&*service.user(UserId(id)).await?)),
            None => None,
        };
        out.push(wire::MessageEntity {
            kind: e.kind.name().to_string(),
            offset: i64::from(e.offset),
            length: i64::from(e.length),
            url: x.url.map(str::to_string),
            user: mentioned,
            language: x.language.map(str::to_string),
            custom_emoji_id: x.custom_emoji_id.map(str::to_string),
        });
    }
    Ok(out)
}

pub fn entities_in(list: Vec<wire::MessageEntity>) -> Result<Vec<Entity>, BotError> {
    list.into_iter()
        .map(|e| {
            if e.offset < 0 || e.length < 0 || e.offset > i64::from(u32::MAX) || e.length > i64::from(u32::MAX) {
                return Err(BotError::bad("can't parse entities: entity offset and length must be non-negative"));
            }
            let kind = EntityKind::from_parts(&e.kind, e.url, e.language, e.user.map(|u| u.id), e.custom_emoji_id)
                .map_err(|i| BotError::bad(format!("can't parse entities: {}", i.reason)))?;
            Ok(Entity { kind, offset: e.offset as u32, length: e.length as u32 })
        })
        .collect()
}

pub fn inline_keyboard(markup: Option<&ReplyMarkup>) -> Option<wire::InlineKeyboardMarkup> {
    let rows = markup?.inline()?;
    Some(wire::InlineKeyboardMarkup {
        inline_keyboard: rows.iter().map(|row| row.iter().map(inline_button).collect()).collect(),
    })
}

fn inline_button(b: &InlineButton) -> wire::InlineKeyboardButton {
    let mut out = wire::InlineKeyboardButton { text: b.text.clone(), ..Default::default() };
    match &b.action {
        ButtonAction::Url(u) => out.url = Some(u.clone()),
        ButtonAction::Callback(d) => out.callback_data = Some(d.clone()),
        ButtonAction::WebApp(u) => out.web_app = Some(wire::WebAppInfo { url: u.clone() }),
        ButtonAction::LoginUrl(u) => out.login_url = Some(wire::LoginUrl { url: u.clone() }),
        ButtonAction::SwitchInlineQuery(q) => out.switch_inline_query = Some(q.clone()),
        ButtonAction::SwitchInlineQueryCurrentChat(q) => out.switch_inline_query_current_chat = Some(q.clone()),
        ButtonAction::CopyText(t) => out.copy_text = Some(wire::CopyTextButton { text: t.clone() }),
        ButtonAction::CallbackGame => out.callback_game = Some(serde_json::json!({})),
        ButtonAction::Pay => out.pay = Some(true),
    }
    out
}

fn inline_button_in(b: wire::InlineKeyboardButton) -> Result<InlineButton, BotError> {
    let mut actions = Vec::new();
    if let Some(u) = b.url {
        actions.push(ButtonAction::Url(u));
    }
    if let Some(d) = b.callback_data {
        actions.push(ButtonAction::Callback(d));
    }
    if let Some(w) = b.web_app {
        actions.push(ButtonAction::WebApp(w.url));
    }
    if let Some(l) = b.login_url {
        actions.push(ButtonAction::LoginUrl(l.url));
    }
    if let Some(q) = b.switch_inline_query {
        actions.push(ButtonAction::SwitchInlineQuery(q));
    }
    if let Some(q) = b.switch_inline_query_current_chat {
        actions.push(ButtonAction::SwitchInlineQueryCurrentChat(q));
    }
    if let Some(c) = b.copy_text {
        actions.push(ButtonAction::CopyText(c.text));
    }
    if b.callback_game.is_some() {
        actions.push(ButtonAction::CallbackGame);
    }
    if b.pay == Some(true) {
        actions.push(ButtonAction::Pay);
    }
    match (actions.pop(), actions.is_empty()) {
        (Some(action), true) => Ok(InlineButton { text: b.text, action }),
        (None, _) => Err(BotError::bad("text buttons are unallowed in the inline keyboard")),
        (Some(_), false) => {
            Err(BotError::bad("can't parse inline keyboard button: exactly one of the optional fields must be used"))
        }
    }
}

/// A `reply_markup` parameter as the domain's keyboard, checked against Telegram's limits.
pub fn reply_markup_in(m: wire::ReplyMarkupIn) -> Result<ReplyMarkup, BotError> {
    let markup = if let Some(rows) = m.inline_keyboard {
        ReplyMarkup::Inline(
            rows.into_iter()
                .map(|row| row.into_iter().map(inline_button_in).collect::<Result<Vec<_>, _>>())
                .collect::<Result<Vec<_>, _>>()?,
        )
    } else if let Some(rows) = m.keyboard {
        ReplyMarkup::Keyboard(ReplyKeyboard {
            rows: rows
                .into_iter()
                .map(|row| {
                    row.into_iter()
                        .map(|b| match b {
                            wire::KeyboardButtonIn::Text(text) => KeyboardButton { text, request: None },
                            wire::KeyboardButtonIn::Button(b) => {
                                let request = if b.request_contact == Some(true) {
                                    Some(KeyboardRequest::Contact)
                                } else if b.request_location == Some(true) {
                                    Some(KeyboardRequest::Location)
                                } else if let Some(p) = b.request_poll {
                                    Some(KeyboardRequest::Poll { kind: p.kind })
                                } else {
                                    b.web_app.map(|w| KeyboardRequest::WebApp(w.url))
                                };
                                KeyboardButton { text: b.text, request }
                            }
                        })
                        .collect()
                })
                .collect(),
            is_persistent: m.is_persistent.unwrap_or(false),
            resize: m.resize_keyboard.unwrap_or(false),
            one_time: m.one_time_keyboard.unwrap_or(false),
            placeholder: m.input_field_placeholder,
            selective: m.selective.unwrap_or(false),
        })
    } else if m.remove_keyboard == Some(true) {
        ReplyMarkup::Remove { selective: m.selective.unwrap_or(false) }
    } else if m.force_reply == Some(true) {
        ReplyMarkup::ForceReply { placeholder: m.input_field_placeholder, selective: m.selective.unwrap_or(false) }
    } else {
        return Err(BotError::bad("can't parse reply keyboard markup JSON object"));
    };
    markup.check().map_err(|i| BotError::bad(i.reason))
}

/// A message as a bot sees it, with its sender, chat and the message it replies to.
pub async fn message(service: &Service, m: &BotMessage) -> ServiceResult<wire::Message> {
    let mut out = plain_message(service, &m.chat, &m.message).await?;
    if let Some(r) = &m.reply_to {
        out.reply_to_message = Some(Box::new(plain_message(service, &m.chat, r).await?));
    }
    if let Some(p) = &m.pinned {
        out.pinned_message = Some(Box::new(plain_message(service, &m.chat, p).await?));
    }
    out.poll = m.poll.as_ref().map(|p| Box::new(poll(p)));
    Ok(out)
}

async fn plain_message(service: &Service, c: &Chat, m: &plaza_core::Message) -> ServiceResult<wire::Message> {
    let from = user(&*service.user(m.sender).await?);
    let entities = if m.entities.is_empty() { None } else { Some(entities(service, &m.entities).await?) };
    let text = (!m.text.is_empty()).then(|| m.text.as_str().to_string());
    let mut out = wire::Message {
        message_id: m.id.0,
        from: Some(from),
        date: m.date,
        chat: chat(c),
        forward_origin: match m.forward_origin {
            Some(f) => Some(Box::new(wire::MessageOrigin::User {
                date: f.date,
                sender_user: user(&*service.user(f.sender).await?),
            })),
            None => None,
        },
        reply_to_message: None,
        edit_date: m.edit_date,
        has_protected_content: m.protected.then_some(true),
        text: None,
        entities: None,
        photo: None,
        document: None,
        caption: None,
        caption_entities: None,
        pinned_message: None,
        web_app_data: match m.service.as_deref() {
            Some(plaza_core::ServiceAction::WebAppData { data, button_text }) => {
                Some(Box::new(wire::WebAppData { data: data.clone(), button_text: button_text.clone() }))
            }
            _ => None,
        },
        write_access_allowed: match m.service.as_deref() {
            Some(plaza_core::ServiceAction::WriteAccessAllowed { web_app_name, from_request }) => {
                Some(Box::new(wire::WriteAccessAllowed {
                    from_request: from_request.then_some(true),
                    web_app_name: web_app_name.clone(),
                }))
            }
            _ => None,
        },
        contact: match m.service.as_deref() {
            Some(plaza_core::ServiceAction::Contact(c)) => Some(Box::new(wire::Contact {
                phone_number: c.phone_number.clone(),
                first_name: c.first_name.clone(),
                last_name: c.last_name.clone(),
                user_id: c.user_id.map(|u| u.0),
            })),
            _ => None,
        },
        invoice: m.invoice.as_ref().map(|i| {
            Box::new(wire::Invoice {
                title: i.title.clone(),
                description: i.description.clone(),
                start_parameter: i.start_parameter.clone(),
                currency: i.currency.clone(),
                total_amount: i.total_amount,
            })
        }),
        successful_payment: match m.service.as_deref() {
            Some(plaza_core::ServiceAction::SuccessfulPayment(r)) => Some(Box::new(wire::SuccessfulPayment {
                currency: r.currency.clone(),
                total_amount: r.total_amount,
                invoice_payload: r.invoice_payload.clone(),
                subscription_expiration_date: r.subscription_expiration_date,
                is_recurring: r.is_recurring.then_some(true),
                is_first_recurring: r.is_first_recurring.then_some(true),
                shipping_option_id: r.shipping_option_id.clone(),
                order_info: r.order_info.as_ref().map(order_info),
                telegram_payment_charge_id: r.charge_id.clone(),
                provider_payment_charge_id: r.provider_charge_id.clone().unwrap_or_default(),
            })),
            _ => None,
        },
        refunded_payment: match m.service.as_deref() {
            Some(plaza_core::ServiceAction::RefundedPayment(r)) => Some(Box::new(wire::RefundedPayment {
                currency: r.currency.clone(),
                total_amount: r.total_amount,
                invoice_payload: r.invoice_payload.clone(),
                telegram_payment_charge_id: r.charge_id.clone(),
                provider_payment_charge_id: r.provider_charge_id.clone(),
            })),
            _ => None,
        },
        via_bot: match m.via_bot {
            Some(b) => Some(Box::new(user(&*service.user(b).await?))),
            None => None,
        },
        poll: None,
        reply_markup: inline_keyboard(m.reply_markup.as_ref()),
    };
    match m.media.as_deref() {
        None => (out.text, out.entities) = (text, entities),
        Some(media) => {
            (out.caption, out.caption_entities) = (text, entities);
            match media {
                Media::Photo(f) => out.photo = Some(vec![photo_size(f)]),
                Media::Document(f) => out.document = Some(Box::new(document(f))),
            }
        }
    }
    Ok(out)
}

pub fn shipping_address(a: &plaza_core::payment::ShippingAddress) -> wire::ShippingAddress {
    wire::ShippingAddress {
        country_code: a.country_code.clone(),
        state: a.state.clone(),
        city: a.city.clone(),
        street_line1: a.street_line1.clone(),
        street_line2: a.street_line2.clone(),
        post_code: a.post_code.clone(),
    }
}

pub fn order_info(o: &plaza_core::payment::OrderInfo) -> wire::OrderInfo {
    wire::OrderInfo {
        name: o.name.clone(),
        phone_number: o.phone_number.clone(),
        email: o.email.clone(),
        shipping_address: o.shipping_address.as_ref().map(shipping_address),
    }
}

/// Plaza keeps a photo as uploaded, so it has one size: the original.
pub fn photo_size(f: &FileInfo) -> wire::PhotoSize {
    wire::PhotoSize {
        file_id: f.file_id.clone(),
        file_unique_id: f.unique_id.clone(),
        width: f.width.unwrap_or(0),
        height: f.height.unwrap_or(0),
        file_size: Some(f.size),
    }
}

pub fn document(f: &FileInfo) -> wire::Document {
    wire::Document {
        file_id: f.file_id.clone(),
        file_unique_id: f.unique_id.clone(),
        file_name: f.file_name.clone(),
        mime_type: f.mime_type.clone(),
        file_size: Some(f.size),
    }
}

pub fn file(f: &FileInfo) -> wire::File {
    wire::File {
        file_id: f.file_id.clone(),
        file_unique_id: f.unique_id.clone(),
        file_size: Some(f.size),
        file_path: Some(f.file_path()),
    }
}

pub async fn update(service: &Service, u: &BotUpdate) -> ServiceResult<wire::Update> {
    let mut out = wire::Update { update_id: u.update_id as i64, ..Default::default() };
    match &u.body {
        BotUpdateBody::Message(m) => out.message = Some(Box::new(message(service, m).await?)),
        BotUpdateBody::EditedMessage(m) => out.edited_message = Some(Box::new(message(service, m).await?)),
        BotUpdateBody::CallbackQuery { query, chat, message: m } => {
            let message = match m {
                Some(m) => Some(message(service, m).await?),
                None => None,
            };
            out.callback_query = Some(Box::new(wire::CallbackQuery {
                id: query.id.to_string(),
                from: user(&*service.user(query.from).await?),
                message,
                chat_instance: chat.key.0.to_string(),
                data: Some(query.data.clone()),
            }));
        }
        BotUpdateBody::MyChatMember { chat: c, change } => {
            let me = user(&*service.user(change.user).await?);
            out.my_chat_member = Some(Box::new(wire::ChatMemberUpdated {
                chat: chat(c),
                from: user(&*service.user(change.actor).await?),
                date: change.date,
                old_chat_member: chat_member(&me, change.old, None, false),
                new_chat_member: chat_member(&me, change.new, None, false),
            }));
        }
        BotUpdateBody::Poll(p) => out.poll = Some(Box::new(poll(p))),
        BotUpdateBody::PollAnswer(a) => {
            out.poll_answer = Some(Box::new(wire::PollAnswer {
                poll_id: a.poll_id.clone(),
                user: user(&*service.user(a.user).await?),
                option_ids: a.option_ids.clone(),
            }));
        }
        BotUpdateBody::PreCheckoutQuery(p) => {
            out.pre_checkout_query = Some(Box::new(wire::PreCheckoutQuery {
                id: p.id.to_string(),
                from: user(&*service.user(p.user).await?),
                currency: p.currency.clone(),
                total_amount: p.total_amount,
                invoice_payload: p.payload.clone(),
                shipping_option_id: p.shipping_option_id.clone(),
                order_info: (!p.order_info.is_empty()).then(|| order_info(&p.order_info)),
            }));
        }
        BotUpdateBody::ShippingQuery(q) => {
            out.shipping_query = Some(Box::new(wire::ShippingQuery {
                id: q.id.to_string(),
                from: user(&*service.user(q.user).await?),
                invoice_payload: q.payload.clone(),
                shipping_address: shipping_address(&q.address),
            }));
        }
        BotUpdateBody::MessageReaction { chat: c, change } => {
            let emoji = |list: &[String]| -> Vec<wire::ReactionType> {
                list.iter().map(|e| wire::ReactionType::Emoji { emoji: e.clone() }).collect()
            };
            out.message_reaction = Some(Box::new(wire::MessageReactionUpdated {
                chat: chat(c),
                message_id: change.message_id.0,
                user: user(&*service.user(change.user).await?),
                date: change.date,
                old_reaction: emoji(&change.old),
                new_reaction: emoji(&change.new),
            }));
        }
    }
    Ok(out)
}

pub fn poll(p: &plaza_core::poll::Poll) -> wire::Poll {
    wire::Poll {
        id: p.spec.id.clone(),
        question: p.spec.question.clone(),
        options: p
            .spec
            .options
            .iter()
            .zip(&p.voter_counts)
            .map(|(text, count)| wire::PollOption { text: text.clone(), voter_count: *count })
            .collect(),
        total_voter_count: p.total_voter_count,
        is_closed: p.spec.is_closed,
        is_anonymous: p.spec.is_anonymous,
        kind: p.spec.kind.as_str(),
        allows_multiple_answers: p.spec.allows_multiple_answers,
        correct_option_id: p.spec.correct_option_id,
        explanation: p.spec.explanation.clone(),
    }
}
