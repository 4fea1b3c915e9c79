//! Identifiers, following Telegram's conventions where bots and clients can see them.
//!
//! Users (and bots) have positive ids. A group is addressed by a negative id. A private chat has no id
//! of its own on the wire: each side addresses it by the other side's user id, as in Telegram.
//! Every id fits in 52 bits so JavaScript clients read it exactly.

/// Largest id Plaza hands out: 2^52 - 1, exact in an IEEE double.
pub const MAX_ID: i64 = (1 << 52) - 1;

/// First user id handed out; small ids look like test data and collide with hand-written fixtures.
pub const FIRST_USER_ID: i64 = 1_000_001;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

/// A chat id as a viewer uses it: positive = private chat with that user, negative = group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChatId(pub i64);

/// The storage identity of a chat, the same for every member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChatKey(pub i64);

/// A message's number within its chat: 1, 2, 3 … in the order the chat received them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub i64);

/// What a viewer's chat id points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRef {
    Private { peer: UserId },
    Group { key: ChatKey },
}

impl ChatId {
    pub fn resolve(self) -> Option<ChatRef> {
        match self.0 {
            0 => None,
            id if (1..=MAX_ID).contains(&id) => Some(ChatRef::Private { peer: UserId(id) }),
            id if (-MAX_ID..0).contains(&id) => Some(ChatRef::Group { key: ChatKey(-id) }),
            _ => None,
        }
    }

    pub fn group(key: ChatKey) -> Self {
        ChatId(-key.0)
    }

    pub fn private(peer: UserId) -> Self {
        ChatId(peer.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_ids_resolve_like_telegram() {
        assert_eq!(ChatId(42).resolve(), Some(ChatRef::Private { peer: UserId(42) }));
        assert_eq!(ChatId(-7).resolve(), Some(ChatRef::Group { key: ChatKey(7) }));
        assert_eq!(ChatId(0).resolve(), None);
        assert_eq!(ChatId(MAX_ID + 1).resolve(), None);
        assert_eq!(ChatId(i64::MIN).resolve(), None);
        assert_eq!(ChatId::group(ChatKey(7)), ChatId(-7));
    }
}
