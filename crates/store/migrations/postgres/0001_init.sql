-- Plaza's first schema (PostgreSQL). Mirrors migrations/sqlite/0001_init.sql; ids follow
-- Telegram's conventions, see plaza_core::ids. Times are Unix seconds, as on SQLite.

CREATE TABLE users (
    -- START WITH must equal plaza_core::ids::FIRST_USER_ID (a unit test in postgres.rs checks it).
    id              BIGINT  GENERATED ALWAYS AS IDENTITY (START WITH 1000001) PRIMARY KEY,
    username        TEXT    NOT NULL,
    username_key    TEXT    NOT NULL,              -- lower-cased username
    display_name    TEXT    NOT NULL,
    password_hash   TEXT,                          -- argon2id PHC string; NULL for bots
    is_bot          BOOLEAN NOT NULL DEFAULT FALSE,
    bot_owner       BIGINT  REFERENCES users(id),
    bot_token_hash  BYTEA,                         -- SHA-256 of the token's secret part
    language_code   TEXT,
    phone_number    TEXT,
    created_at      BIGINT  NOT NULL,
    update_seq      BIGINT  NOT NULL DEFAULT 0     -- last seq in this user's update log
);
-- Usernames are unique ignoring case; a race between two sign-ups ends here (SQLSTATE 23505).
CREATE UNIQUE INDEX users_username_key ON users (username_key);

CREATE TABLE sessions (
    token_hash  BYTEA   PRIMARY KEY,               -- SHA-256 of the bearer token
    user_id     BIGINT  NOT NULL REFERENCES users(id),
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE chats (
    id               BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- ChatKey; a group's public id is -id
    kind             TEXT    NOT NULL CHECK (kind IN ('private', 'group')),
    title            TEXT,                         -- groups only
    user_lo          BIGINT,                       -- private only: the smaller user id
    user_hi          BIGINT,                       -- private only: the larger user id
    last_message_id  BIGINT  NOT NULL DEFAULT 0,   -- the chat's message id sequence
    last_activity    BIGINT  NOT NULL,             -- date of the last message, or creation
    created_at       BIGINT  NOT NULL
);
CREATE UNIQUE INDEX chats_private_pair ON chats (user_lo, user_hi) WHERE kind = 'private';
-- No index on last_activity or last_message_id: every message updates both, and leaving them
-- unindexed keeps those updates HOT (no index writes). The chat list sorts a user's few chats.

CREATE TABLE members (
    chat_id            BIGINT  NOT NULL REFERENCES chats(id),
    user_id            BIGINT  NOT NULL REFERENCES users(id),
    role               TEXT    NOT NULL CHECK (role IN ('creator', 'administrator', 'member')),
    joined_at          BIGINT  NOT NULL,
    read_inbox_max_id  BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, user_id)
);
CREATE INDEX members_by_user ON members (user_id, chat_id);

CREATE TABLE messages (
    chat_id    BIGINT  NOT NULL REFERENCES chats(id),
    id         BIGINT  NOT NULL,                   -- per-chat sequence
    sender_id  BIGINT  NOT NULL REFERENCES users(id),
    date       BIGINT  NOT NULL,
    text       TEXT    NOT NULL,                   -- '' once deleted
    entities   TEXT,                               -- JSON, see entities.rs
    reply_to   BIGINT,
    edit_date  BIGINT,
    deleted    BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (chat_id, id)
);

-- Each user's update log: the WebSocket replays it from a client's cursor.
CREATE TABLE updates (
    user_id     BIGINT  NOT NULL,
    seq         BIGINT  NOT NULL,
    kind        TEXT    NOT NULL,                  -- plaza_core::UpdateKind::name()
    chat_id     BIGINT  NOT NULL,                  -- ChatKey
    message_id  BIGINT,                            -- message id, or max id for read marks
    PRIMARY KEY (user_id, seq)
);
