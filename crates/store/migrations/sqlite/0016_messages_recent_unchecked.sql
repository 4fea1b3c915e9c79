-- `messages_recent` without foreign keys. Only the writer appends to it, and only for a chat it
-- has just resolved and a sender it has just authenticated; neither chats nor users are ever
-- deleted. Checking both references cost every busy chat's message two more B-tree seeks and a
-- statement journal: `bench/instructions pairs`, alternating builds, 90,500 and 89,833 → 85,809
-- and 85,917 instructions per message.
-- `messages` keeps its foreign keys; the move into it skips them (they held when each row was
-- appended), as it did before.
CREATE TABLE messages_recent_unchecked (
    chat_id    INTEGER NOT NULL,
    id         INTEGER NOT NULL,
    sender_id  INTEGER NOT NULL,
    date       INTEGER NOT NULL,
    text       TEXT    NOT NULL,
    entities   TEXT,
    reply_to   INTEGER,
    edit_date  INTEGER,
    deleted    INTEGER NOT NULL DEFAULT 0,
    extra      TEXT
);
INSERT INTO messages_recent_unchecked (chat_id, id, sender_id, date, text, entities, reply_to, edit_date, deleted, extra)
    SELECT chat_id, id, sender_id, date, text, entities, reply_to, edit_date, deleted, extra FROM messages_recent ORDER BY rowid;
DROP TABLE messages_recent;
ALTER TABLE messages_recent_unchecked RENAME TO messages_recent;
CREATE UNIQUE INDEX messages_recent_key ON messages_recent (chat_id, id);
