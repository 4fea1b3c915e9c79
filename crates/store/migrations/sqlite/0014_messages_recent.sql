-- Messages of busy chats are appended here, a plain rowid table, and the writer moves them into
-- `messages` (clustered by chat) in bulk, between batches (see sqlite.rs, `Writer::move_messages`).
-- SQLite writes whole pages to its WAL, and inserted straight into `messages`, a batch of messages
-- in many chats dirtied one page of it per chat: most of a commit's frames. Appended, a batch's
-- messages share a few pages here, and the index below stays small (the table never holds more
-- than about one compaction's worth of rows). The move writes each chat's page once for all its
-- rows here, which pays only for chats with several messages between two moves; the writer sends
-- a chat's messages here only while it is that busy, and straight to `messages` otherwise.
-- Readers look in both tables in one statement.
CREATE TABLE messages_recent (
    chat_id    INTEGER NOT NULL REFERENCES chats(id),
    id         INTEGER NOT NULL,
    sender_id  INTEGER NOT NULL REFERENCES users(id),
    date       INTEGER NOT NULL,
    text       TEXT    NOT NULL,
    entities   TEXT,
    reply_to   INTEGER,
    edit_date  INTEGER,
    deleted    INTEGER NOT NULL DEFAULT 0,
    extra      TEXT
);
CREATE UNIQUE INDEX messages_recent_key ON messages_recent (chat_id, id);
