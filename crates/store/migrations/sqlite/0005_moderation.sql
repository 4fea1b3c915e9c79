-- Blocking, bans, pins and the member-status changes bots are told about.

-- In a private chat: this member has blocked the other (their messages are refused).
ALTER TABLE members ADD COLUMN blocked_peer INTEGER NOT NULL DEFAULT 0;

-- Users banned from a group: they can't be added back until `until` (NULL: until unbanned).
CREATE TABLE bans (
    chat_id    INTEGER NOT NULL REFERENCES chats(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    until      INTEGER,
    banned_by  INTEGER NOT NULL,
    banned_at  INTEGER NOT NULL,
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;

-- Pinned messages of a chat; the newest is the one shown.
CREATE TABLE pins (
    chat_id     INTEGER NOT NULL REFERENCES chats(id),
    message_id  INTEGER NOT NULL,
    pinned_by   INTEGER NOT NULL,
    pinned_at   INTEGER NOT NULL,
    PRIMARY KEY (chat_id, message_id)
) WITHOUT ROWID;

-- Changes of a bot's standing in a chat (my_chat_member). Update-log entries of kind
-- 'member_status' carry the row's id in their message_id column.
CREATE TABLE member_events (
    id          INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL REFERENCES chats(id),
    user_id     INTEGER NOT NULL REFERENCES users(id),
    actor_id    INTEGER NOT NULL REFERENCES users(id),
    old_status  TEXT    NOT NULL,
    new_status  TEXT    NOT NULL,
    date        INTEGER NOT NULL
);
