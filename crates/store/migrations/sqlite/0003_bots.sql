-- What bots need beyond accounts and chats: keyboards on messages, button presses, settings and
-- the confirmed offset of their update stream.

-- A message's extras as JSON (its keyboard for now; see codec.rs). NULL for plain messages.
ALTER TABLE messages ADD COLUMN extra TEXT;

-- Presses of callback buttons, waiting for (or holding) the bot's answer. Update-log entries of
-- kind 'callback_query' and 'callback_answer' carry the query's id in their message_id column.
CREATE TABLE callback_queries (
    id          INTEGER PRIMARY KEY,
    bot_id      INTEGER NOT NULL REFERENCES users(id),
    user_id     INTEGER NOT NULL REFERENCES users(id),
    chat_id     INTEGER NOT NULL REFERENCES chats(id),
    message_id  INTEGER NOT NULL,
    data        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    answer      TEXT,                               -- JSON once answered
    answered_at INTEGER
);

-- Commands, menu buttons, profile texts, allowed updates and the webhook; keys and encodings in codec.rs.
CREATE TABLE bot_settings (
    bot_id  INTEGER NOT NULL REFERENCES users(id),
    key     TEXT    NOT NULL,
    value   TEXT    NOT NULL,
    PRIMARY KEY (bot_id, key)
) WITHOUT ROWID;

-- Updates with ids below `confirmed` were confirmed by getUpdates and are never delivered again.
CREATE TABLE bot_offsets (
    bot_id     INTEGER PRIMARY KEY REFERENCES users(id),
    confirmed  INTEGER NOT NULL
);
