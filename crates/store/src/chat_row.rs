//! A chat's stored row, shared by the backends: the same facts whatever the database.

use plaza_core::{ChatId, ChatKey, UserId};

#[derive(Debug, Clone)]
pub(crate) struct ChatRow {
    pub(crate) key: ChatKey,
    pub(crate) is_group: bool,
    pub(crate) title: Option<String>,
    /// Private chats: the smaller user id.
    pub(crate) user_lo: Option<i64>,
    /// Private chats: the larger user id.
    pub(crate) user_hi: Option<i64>,
    pub(crate) last_message_id: i64,
    pub(crate) created_at: i64,
}

impl ChatRow {
    /// The chat's id as `viewer` names it.
    pub(crate) fn id_for(&self, viewer: UserId) -> ChatId {
        if self.is_group { ChatId::group(self.key) } else { ChatId::private(self.peer_of(viewer)) }
    }

    /// The other user of a private chat.
    pub(crate) fn peer_of(&self, viewer: UserId) -> UserId {
        if self.user_lo == Some(viewer.0) {
            UserId(self.user_hi.unwrap_or_default())
        } else {
            UserId(self.user_lo.unwrap_or_default())
        }
    }
}
