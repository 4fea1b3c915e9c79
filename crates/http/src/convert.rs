//! Explicit conversions between domain values and the client API's wire types.

use foldhash::HashMap;

use plaza_core::bot::CallbackQuery;
use plaza_core::poll::{Poll, ReactionCount};
use plaza_core::{Chat, ChatId, ChatKind, Entity, EntityKind, Invalid, Member, Message, ReplyMarkup, User, UserId};
use plaza_protocol::{
    CallbackAnswerOut, ChatOut, ChatType, EntityOut, InlineButtonOut, KeyboardButtonOut, MediaOut, MemberOut,
    MessageOut, PollOptionOut, PollOut, ReactionOut, ReplyMarkupOut, ServiceOut, UserOut,
};
use plaza_service::{Service, ServiceResult};

pub fn user_out(u: &User) -> UserOut {
    UserOut {
        id: u.id.0,
        username: u.username.as_str().to_string(),
        display_name: u.display_name.as_str().to_string(),
        is_bot: u.is_bot,
        language_code: u.language_code.as_ref().map(|l| l.as_str().to_string()),
        phone_number: None,
    }
}

/// The caller's own profile, with the fields only they may see.
pub fn me_out(u: &User) -> UserOut {
    UserOut { phone_number: u.phone_number.as_ref().map(|p| p.as_str().to_string()), ..user_out(u) }
}

pub fn chat_out(c: &Chat) -> ChatOut {
    let (chat_type, title, peer, member_count, my_role) = match &c.kind {
        ChatKind::Private { peer } => {
            (ChatType::Private, peer.display_name.as_str().to_string(), Some(user_out(peer)), None, None)
        }
        ChatKind::Group { title, member_count, my_role } => {
            (ChatType::Group, title.as_str().to_string(), None, Some(*member_count), Some(my_role.as_str().to_string()))
        }
    };
    ChatOut {
        id: c.id.0,
        chat_type,
        title,
        peer,
        member_count,
        my_role,
        last_message_id: c.last_message_id.0,
        read_inbox_max_id: c.read_inbox_max_id.0,
        read_outbox_max_id: c.read_outbox_max_id.0,
        created_at: c.created_at,
    }
}

pub fn member_out(m: &Member) -> MemberOut {
    MemberOut { user: user_out(&m.user), role: m.role.as_str().to_string(), joined_at: m.joined_at }
}

pub fn entity_out(e: &Entity) -> EntityOut {
    let x = e.kind.extras();
    EntityOut {
        entity_type: e.kind.name().to_string(),
        offset: e.offset,
        length: e.length,
        url: x.url.map(str::to_string),
        language: x.language.map(str::to_string),
        user_id: x.user_id,
        custom_emoji_id: x.custom_emoji_id.map(str::to_string),
    }
}

pub fn entity_in(e: EntityOut) -> Result<Entity, Invalid> {
    let kind = EntityKind::from_parts(&e.entity_type, e.url, e.language, e.user_id, e.custom_emoji_id)?;
    Ok(Entity { kind, offset: e.offset, length: e.length })
}

pub fn entities_in(es: Vec<EntityOut>) -> Result<Vec<Entity>, Invalid> {
    es.into_iter().map(entity_in).collect()
}

/// Looks up message senders once per batch of messages, and the viewer's view of polls.
#[derive(Default)]
pub struct Senders(HashMap<UserId, UserOut>, Option<UserId>);

impl Senders {
    /// Starts with a user already known, typically the caller, to save a lookup.
    pub fn knowing(user: &User) -> Self {
        let mut known = HashMap::default();
        known.insert(user.id, user_out(user));
        Senders(known, Some(user.id))
    }

    /// For messages read by `viewer` (polls show their own vote).
    pub fn for_viewer(viewer: UserId) -> Self {
        Senders(HashMap::default(), Some(viewer))
    }

    async fn user_out(&mut self, service: &Service, id: UserId) -> ServiceResult<UserOut> {
        if let Some(u) = self.0.get(&id) {
            return Ok(u.clone());
        }
        let u = user_out(&*service.user(id).await?);
        self.0.insert(id, u.clone());
        Ok(u)
    }

    pub async fn message_out(&mut self, service: &Service, chat_id: ChatId, m: &Message) -> ServiceResult<MessageOut> {
        let from = self.user_out(service, m.sender).await?;
        let forward_from = match m.forward_origin {
            Some(f) => Some(self.user_out(service, f.sender).await?),
            None => None,
        };
        Ok(MessageOut {
            message_id: m.id.0,
            chat_id: chat_id.0,
            from,
            date: m.date,
            text: m.text.as_str().to_string(),
            entities: m.entities.iter().map(entity_out).collect(),
            reply_to_message_id: m.reply_to.map(|r| r.0),
            edit_date: m.edit_date,
            reply_markup: m.reply_markup.as_ref().map(markup_out),
            media: m.media.as_ref().map(|media| {
                let f = media.file();
                MediaOut {
                    kind: f.kind.as_str().to_string(),
                    file_id: f.file_id.clone(),
                    size: f.size,
                    mime_type: f.mime_type.clone(),
                    file_name: f.file_name.clone(),
                    width: f.width,
                    height: f.height,
                }
            }),
            forward_from,
            forward_date: m.forward_origin.map(|f| f.date),
            protected: m.protected,
            service: m.service.as_deref().map(|s| match s {
                plaza_core::ServiceAction::PinnedMessage(id) => ServiceOut::PinnedMessage { message_id: id.0 },
                plaza_core::ServiceAction::WebAppData { button_text, .. } => {
                    ServiceOut::WebAppData { button_text: button_text.clone() }
                }
                plaza_core::ServiceAction::WriteAccessAllowed { web_app_name, .. } => {
                    ServiceOut::WriteAccessAllowed { web_app_name: web_app_name.clone() }
                }
                plaza_core::ServiceAction::Contact(c) => ServiceOut::Contact {
                    phone_number: c.phone_number.clone(),
                    first_name: c.first_name.clone(),
                    last_name: c.last_name.clone(),
                    user_id: c.user_id.map(|u| u.0),
                },
                plaza_core::ServiceAction::SuccessfulPayment(r) => {
                    ServiceOut::SuccessfulPayment { receipt: crate::payments::receipt_out(r) }
                }
                plaza_core::ServiceAction::RefundedPayment(r) => {
                    ServiceOut::RefundedPayment { receipt: crate::payments::receipt_out(r) }
                }
            }),
            poll: match (&m.poll, self.1) {
                (Some(id), Some(viewer)) => Some(poll_out(&service.poll(viewer, id).await?)),
                _ => None,
            },
            reactions: Vec::new(),
            via_bot: match m.via_bot {
                Some(b) => Some(self.user_out(service, b).await?),
                None => None,
            },
            invoice: m.invoice.as_ref().map(|i| plaza_protocol::InvoiceSummaryOut {
                slug: i.slug.clone(),
                title: i.title.clone(),
                description: i.description.clone(),
                currency: i.currency.clone(),
                total_amount: i.total_amount,
            }),
        })
    }
}

pub fn poll_out(p: &Poll) -> PollOut {
    let answered = !p.my_vote.is_empty() || p.spec.is_closed;
    PollOut {
        id: p.spec.id.clone(),
        question: p.spec.question.clone(),
        options: p
            .spec
            .options
            .iter()
            .zip(&p.voter_counts)
            .map(|(text, count)| PollOptionOut { text: text.clone(), voter_count: *count })
            .collect(),
        total_voter_count: p.total_voter_count,
        is_closed: p.spec.is_closed,
        is_anonymous: p.spec.is_anonymous,
        kind: p.spec.kind.as_str().to_string(),
        allows_multiple_answers: p.spec.allows_multiple_answers,
        my_vote: p.my_vote.clone(),
        correct_option_id: if answered { p.spec.correct_option_id } else { None },
        explanation: if answered { p.spec.explanation.clone() } else { None },
    }
}

pub fn reactions_out(list: &[ReactionCount]) -> Vec<ReactionOut> {
    list.iter().map(|r| ReactionOut { emoji: r.emoji.clone(), count: r.count, chosen: r.chosen }).collect()
}

pub fn markup_out(m: &ReplyMarkup) -> ReplyMarkupOut {
    match m {
        ReplyMarkup::Inline(rows) => ReplyMarkupOut::InlineKeyboard {
            rows: rows
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|b| {
                            let value = b.action.value().map(str::to_string);
                            InlineButtonOut { text: b.text.clone(), action: b.action.name().to_string(), value }
                        })
                        .collect()
                })
                .collect(),
        },
        ReplyMarkup::Keyboard(k) => ReplyMarkupOut::Keyboard {
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
                            KeyboardButtonOut { text: b.text.clone(), request: request.map(str::to_string), value }
                        })
                        .collect()
                })
                .collect(),
            is_persistent: k.is_persistent,
            resize: k.resize,
            one_time: k.one_time,
            placeholder: k.placeholder.clone(),
            selective: k.selective,
        },
        ReplyMarkup::Remove { selective } => ReplyMarkupOut::RemoveKeyboard { selective: *selective },
        ReplyMarkup::ForceReply { placeholder, selective } => {
            ReplyMarkupOut::ForceReply { placeholder: placeholder.clone(), selective: *selective }
        }
    }
}

/// A button press and the bot's answer (if it came), for the user who pressed.
pub fn callback_answer_out(chat_id: ChatId, q: &CallbackQuery) -> CallbackAnswerOut {
    let a = q.answer.clone().unwrap_or_default();
    CallbackAnswerOut {
        query_id: q.id.to_string(),
        chat_id: chat_id.0,
        message_id: q.message_id.0,
        answered: q.answer.is_some(),
        text: a.text,
        show_alert: a.show_alert,
        url: a.url,
    }
}
