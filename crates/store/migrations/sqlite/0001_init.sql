-- Plaza's first schema (SQLite). Ids follow Telegram's conventions; see plaza_core::ids.

CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    username        TEXT    NOT NULL,
    username_key    TEXT    NOT NULL UNIQUE,      -- lower-cased username
    display_name    TEXT    NOT NULL,
    password_hash   TEXT,                          -- argon2id PHC string; NULL for bots
    is_bot          INTEGER NOT NULL DEFAULT 0,
    bot_owner       INTEGER REFERENCES users(id),
    bot_token_hash  BLOB,                          -- SHA-256 of the token's secret part
    language_code   TEXT,
    phone_number    TEXT,
    created_at      INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash  BLOB    PRIMARY KEY,               -- SHA-256 of the bearer token
    user_id     INTEGER NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE chats (
    id               INTEGER PRIMARY KEY,          -- ChatKey; a group's public id is -id
    kind             TEXT    NOT NULL CHECK (kind IN ('private', 'group')),
    title            TEXT,                         -- groups only
    user_lo          INTEGER,                      -- private only: the smaller user id
    user_hi          INTEGER,                      -- private only: the larger user id
    last_message_id  INTEGER NOT NULL DEFAULT 0,   -- the chat's message id sequence
    last_activity    INTEGER NOT NULL,             -- date of the last message, or creation
    created_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX chats_private_pair ON chats(user_lo, user_hi) WHERE kind = 'private';

CREATE TABLE members (
    chat_id            INTEGER NOT NULL REFERENCES chats(id),
    user_id            INTEGER NOT NULL REFERENCES users(id),
    role               TEXT    NOT NULL CHECK (role IN ('creator', 'administrator', 'member')),
    joined_at          INTEGER NOT NULL,
    read_inbox_max_id  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON members(user_id, chat_id);

CREATE TABLE messages (
    chat_id    INTEGER NOT NULL REFERENCES chats(id),
    id         INTEGER NOT NULL,                   -- per-chat sequence
    sender_id  INTEGER NOT NULL REFERENCES users(id),
    date       INTEGER NOT NULL,
    text       TEXT    NOT NULL,                   -- '' once deleted
    entities   TEXT,                               -- JSON, see entities.rs
    reply_to   INTEGER,
    edit_date  INTEGER,
    deleted    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, id)
) WITHOUT ROWID;

-- Each user's update log: the WebSocket replays it from a client's cursor.
CREATE TABLE updates (
    user_id     INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    kind        TEXT    NOT NULL,                  -- plaza_core::UpdateKind::name()
    chat_id     INTEGER NOT NULL,                  -- ChatKey
    message_id  INTEGER,                           -- message id, or max id for read marks
    PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;
