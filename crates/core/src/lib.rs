//! Plaza's domain model: identifiers, validated values and the rules of users, chats and messages.
//!
//! Nothing here does IO or knows a wire format. Values are built with `parse`/`new` returning `Result`,
//! so a value of one of these types is valid by construction.

pub mod bot;
pub mod file;
pub mod formatting;
pub mod ids;
pub mod ledger;
pub mod markup;
pub mod message;
pub mod payment;
pub mod poll;
pub mod text;
pub mod user;
pub mod webapp;

pub use ids::{ChatId, ChatKey, MessageId, UserId};
pub use markup::ReplyMarkup;
pub use message::{
    Contact, Entity, EntityExtras, EntityKind, ForwardOrigin, Message, MessageText, NewMessage, PaymentReceipt,
    ServiceAction,
};
pub use text::utf16_len;
pub use user::{BotToken, DisplayName, GroupTitle, LanguageCode, Password, PhoneNumber, Username};

/// Why a value from outside was refused. The message is meant for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    pub field: &'static str,
    pub reason: String,
}

impl Invalid {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}

/// A user as every other user may see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub display_name: DisplayName,
    pub is_bot: bool,
    pub language_code: Option<LanguageCode>,
    /// Only ever shown to the user themself.
    pub phone_number: Option<PhoneNumber>,
    pub created_at: i64,
}

/// What a member may do in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Creator,
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Creator => "creator",
            Role::Admin => "administrator",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "creator" => Ok(Role::Creator),
            "administrator" | "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            other => Err(Invalid::new("role", format!("unknown role {other:?}"))),
        }
    }

    /// Creators and admins manage members and the title.
    pub fn can_manage(self) -> bool {
        matches!(self, Role::Creator | Role::Admin)
    }
}

/// Largest group Plaza creates; Telegram's basic groups stop at 200 and supergroups go far beyond.
pub const MAX_GROUP_MEMBERS: usize = 10_000;

/// A chat as one of its members sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    /// The id this viewer uses for the chat: the peer's user id for private chats, negative for groups.
    pub id: ChatId,
    pub key: ChatKey,
    pub kind: ChatKind,
    /// Highest message id ever assigned in the chat (0 when empty).
    pub last_message_id: MessageId,
    /// Highest message id this viewer has read.
    pub read_inbox_max_id: MessageId,
    /// Highest message id the other side has read (private chats only; 0 in groups).
    pub read_outbox_max_id: MessageId,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatKind {
    Private { peer: User },
    Group { title: GroupTitle, member_count: u32, my_role: Role },
}

/// A chat in a member's chat list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSummary {
    pub chat: Chat,
    pub last_message: Option<Message>,
    pub unread_count: u32,
}

/// A user's standing in a chat, by the Bot API's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberStatus {
    Creator,
    Administrator,
    Member,
    /// Not in the chat (never joined, left, or removed without a ban).
    Left,
    /// Banned from a group, or (in a private chat with a bot) the bot is blocked by the user.
    Kicked,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Creator => "creator",
            MemberStatus::Administrator => "administrator",
            MemberStatus::Member => "member",
            MemberStatus::Left => "left",
            MemberStatus::Kicked => "kicked",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Ok(match s {
            "creator" => MemberStatus::Creator,
            "administrator" => MemberStatus::Administrator,
            "member" => MemberStatus::Member,
            "left" => MemberStatus::Left,
            "kicked" => MemberStatus::Kicked,
            other => return Err(Invalid::new("status", format!("unknown member status {other:?}"))),
        })
    }

    pub fn of_role(role: Role) -> Self {
        match role {
            Role::Creator => MemberStatus::Creator,
            Role::Admin => MemberStatus::Administrator,
            Role::Member => MemberStatus::Member,
        }
    }
}

/// A change of a user's standing in a chat, made by `actor` at `date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberChange {
    pub chat: ChatKey,
    pub user: UserId,
    pub actor: UserId,
    pub old: MemberStatus,
    pub new: MemberStatus,
    pub date: i64,
}

/// One member of a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: User,
    pub role: Role,
    pub joined_at: i64,
}

/// One entry of a user's update log. `seq` is the user's own, gap-free cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserUpdate {
    pub seq: u64,
    pub chat: ChatKey,
    pub kind: UpdateKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateKind {
    /// A message appeared in the chat.
    MessageNew { message_id: MessageId },
    /// A message's text or entities changed.
    MessageEdited { message_id: MessageId },
    /// A message was deleted for everyone.
    MessageDeleted { message_id: MessageId },
    /// The chat appeared in the user's list or changed (title, members, roles).
    ChatUpdated,
    /// The user left or was removed; the chat is gone from their list.
    ChatRemoved,
    /// Read marks moved: `inbox` when the user read, `outbox` when the peer read the user's messages.
    Read { outbox: bool, max_id: MessageId },
}

impl UpdateKind {
    pub fn name(self) -> &'static str {
        match self {
            UpdateKind::MessageNew { .. } => "message_new",
            UpdateKind::MessageEdited { .. } => "message_edited",
            UpdateKind::MessageDeleted { .. } => "message_deleted",
            UpdateKind::ChatUpdated => "chat_updated",
            UpdateKind::ChatRemoved => "chat_removed",
            UpdateKind::Read { outbox: false, .. } => "read_inbox",
            UpdateKind::Read { outbox: true, .. } => "read_outbox",
        }
    }
}

/// How many messages one history page may return.
pub const MAX_HISTORY_PAGE: u32 = 100;

/// A page request for chat history: newest first before a message, or oldest first after one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryPage {
    /// Messages with ids below `before` (or the newest when `None`), newest first in storage order.
    Before { before: Option<MessageId>, limit: u32 },
    /// Messages with ids above `after`, oldest first.
    After { after: MessageId, limit: u32 },
}

impl HistoryPage {
    pub fn new(before: Option<i64>, after: Option<i64>, limit: Option<u32>) -> Result<Self, Invalid> {
        let limit = limit.unwrap_or(50);
        if limit == 0 || limit > MAX_HISTORY_PAGE {
            return Err(Invalid::new("limit", format!("must be between 1 and {MAX_HISTORY_PAGE}")));
        }
        match (before, after) {
            (Some(_), Some(_)) => Err(Invalid::new("before", "give either before or after, not both")),
            (None, Some(a)) if a < 0 => Err(Invalid::new("after", "must not be negative")),
            (None, Some(a)) => Ok(HistoryPage::After { after: MessageId(a), limit }),
            (Some(b), None) if b <= 0 => Err(Invalid::new("before", "must be positive")),
            (b, None) => Ok(HistoryPage::Before { before: b.map(MessageId), limit }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_page_bounds() {
        assert!(HistoryPage::new(None, None, Some(0)).is_err());
        assert!(HistoryPage::new(None, None, Some(101)).is_err());
        assert!(HistoryPage::new(Some(3), Some(1), None).is_err());
        assert!(HistoryPage::new(Some(0), None, None).is_err());
        assert_eq!(
            HistoryPage::new(None, Some(5), Some(10)).unwrap(),
            HistoryPage::After { after: MessageId(5), limit: 10 }
        );
        assert_eq!(HistoryPage::new(None, None, None).unwrap(), HistoryPage::Before { before: None, limit: 50 });
    }

    #[test]
    fn role_round_trip() {
        for r in [Role::Creator, Role::Admin, Role::Member] {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        assert!(Role::parse("owner").is_err());
    }
}

/// A domain rule that refused an operation. Stores return these from inside the transaction that
/// checked them, so a check and the change it guards cannot race.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("user not found")]
    UserNotFound,
    #[error("chat not found")]
    ChatNotFound,
    #[error("message not found")]
    MessageNotFound,
    #[error("username is already taken")]
    UsernameTaken,
    #[error("you are not a member of this chat")]
    NotMember,
    #[error("only the group's creator or administrators may do this")]
    NotAdmin,
    #[error("only the group's creator may do this")]
    NotCreator,
    #[error("only the author may edit a message")]
    NotAuthor,
    #[error("the message can't be deleted")]
    CannotDelete,
    #[error("the group's creator can't be removed or demoted")]
    CreatorIsFixed,
    #[error("the user is already a member")]
    AlreadyMember,
    #[error("a private chat needs another user")]
    PeerIsSelf,
    #[error("the group has too many members")]
    TooManyMembers,
    #[error("the message is not modified: new text and entities are the same as the current ones")]
    NotModified,
    #[error("this operation is only for groups")]
    NotAGroup,
    #[error("query is too old and response timeout expired or query ID is invalid")]
    QueryNotFound,
    #[error("the message has no button with this data")]
    ButtonNotFound,
    /// The recipient of a private message has blocked the sender.
    #[error("the recipient has blocked you")]
    Blocked,
    /// The user is banned from the group.
    #[error("the user is banned from this group")]
    Banned,
    /// Blocking is for private chats.
    #[error("only a private chat's other side can be blocked")]
    NotPrivate,
    /// The message carries no poll.
    #[error("the message has no poll")]
    NoPoll,
    #[error("the poll is closed")]
    PollClosed,
    /// The bot has no mini app by that short name (or no main app).
    #[error("no such mini app")]
    WebAppNotFound,
    /// A quiz answer can't be changed or taken back.
    #[error("a quiz answer can't be changed")]
    VoteIsFinal,
    /// The mini app has no deployed version by that number.
    #[error("the mini app has no such version")]
    AppVersionNotFound,
    /// A user's cloud storage for a bot already holds the most keys it may.
    #[error("STORAGE_KEYS_TOO_MUCH")]
    StorageFull,
    /// The payer has fewer Stars than the transfer needs.
    #[error("not enough Stars")]
    InsufficientFunds,
    /// A transfer's idempotency key was already used for a different transfer.
    #[error("the idempotency key was used for another transfer")]
    TransferKeyReused,
    /// No invoice by that slug, or not one this user may pay.
    #[error("INVOICE_NOT_FOUND")]
    InvoiceNotFound,
    /// The invoice's message was paid already (a receipt shows instead).
    #[error("the invoice is paid already")]
    AlreadyPaid,
    /// The person subscribed already and the subscription is active.
    #[error("you are subscribed already")]
    AlreadySubscribed,
    /// No payment by that id or charge id that this caller may see.
    #[error("CHARGE_NOT_FOUND")]
    PaymentNotFound,
    #[error("CHARGE_ALREADY_REFUNDED")]
    AlreadyRefunded,
    /// The payment is no longer waiting for this step.
    #[error("query is too old and response timeout expired or query ID is invalid")]
    PaymentClosed,
    #[error("SUBSCRIPTION_NOT_FOUND")]
    SubscriptionNotFound,
    /// The same payment key was used for a different checkout.
    #[error("the payment key was used for another checkout")]
    PaymentKeyReused,
    /// Free Stars exist only in a sandbox.
    #[error("free top-ups are only for a sandbox")]
    NotSandbox,
    /// Text with a NUL character, which PostgreSQL's `text` cannot hold. The request edges refuse
    /// it before it reaches a store; this is PostgreSQL's own refusal of one they missed.
    #[error("text must not contain a NUL character")]
    NulCharacter,
}
