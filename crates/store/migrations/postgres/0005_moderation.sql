-- Blocking, bans, pins and the member-status changes bots are told about. Mirrors
-- migrations/sqlite/0005_moderation.sql.

-- In a private chat: this member has blocked the other (their messages are refused).
ALTER TABLE members ADD COLUMN blocked_peer BOOLEAN NOT NULL DEFAULT FALSE;

-- Users banned from a group: they can't be added back until `until` (NULL: until unbanned).
CREATE TABLE bans (
    chat_id    BIGINT  NOT NULL REFERENCES chats(id),
    user_id    BIGINT  NOT NULL REFERENCES users(id),
    until      BIGINT,
    banned_by  BIGINT  NOT NULL,
    banned_at  BIGINT  NOT NULL,
    PRIMARY KEY (chat_id, user_id)
);

-- Pinned messages of a chat; the newest is the one shown.
CREATE TABLE pins (
    chat_id     BIGINT  NOT NULL REFERENCES chats(id),
    message_id  BIGINT  NOT NULL,
    pinned_by   BIGINT  NOT NULL,
    pinned_at   BIGINT  NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);

-- Changes of a bot's standing in a chat (my_chat_member). Update-log entries of kind
-- 'member_status' carry the row's id in their message_id column.
CREATE TABLE member_events (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chat_id     BIGINT  NOT NULL REFERENCES chats(id),
    user_id     BIGINT  NOT NULL REFERENCES users(id),
    actor_id    BIGINT  NOT NULL REFERENCES users(id),
    old_status  TEXT    NOT NULL,
    new_status  TEXT    NOT NULL,
    date        BIGINT  NOT NULL
);

-- plaza_append_message (migration 0003) refusing a private message whose recipient has blocked
-- the sender: SQLSTATE PZ403 ('blocked'), which the backend maps to Denied::Blocked. The check
-- follows the chat lock, as on SQLite (chat, then block, then the replied-to message). Same single
-- round trip and lock order (chat row, then users by ascending id).
DROP FUNCTION plaza_append_message(BIGINT, BIGINT, BIGINT, TEXT, TEXT, BIGINT, BIGINT, TEXT);

CREATE FUNCTION plaza_append_message(
    p_sender    BIGINT,
    p_peer      BIGINT,
    p_group     BIGINT,
    p_text      TEXT,
    p_entities  TEXT,
    p_reply_to  BIGINT,
    p_now       BIGINT,
    p_extra     TEXT,
    OUT chat_key      BIGINT,
    OUT message_id    BIGINT,
    OUT notify_users  BIGINT[],
    OUT notify_seqs   BIGINT[]
) LANGUAGE plpgsql AS $$
DECLARE
    v_recipients BIGINT[];
BEGIN
    IF p_peer IS NOT NULL THEN
        SELECT c.id INTO chat_key FROM chats c
         WHERE c.kind = 'private' AND c.user_lo = LEAST(p_sender, p_peer) AND c.user_hi = GREATEST(p_sender, p_peer)
           FOR NO KEY UPDATE;
    ELSE
        SELECT c.id INTO chat_key FROM chats c
         WHERE c.id = p_group AND c.kind = 'group'
           AND EXISTS (SELECT 1 FROM members m WHERE m.chat_id = c.id AND m.user_id = p_sender)
           FOR NO KEY UPDATE;
    END IF;
    IF chat_key IS NULL THEN
        RAISE EXCEPTION 'chat_not_found' USING ERRCODE = 'PZ404';
    END IF;
    -- Read after the chat lock, so a block committed before it was won is seen.
    IF p_peer IS NOT NULL AND EXISTS (
        SELECT 1 FROM members WHERE chat_id = chat_key AND user_id = p_peer AND blocked_peer
    ) THEN
        RAISE EXCEPTION 'blocked' USING ERRCODE = 'PZ403';
    END IF;
    IF p_reply_to IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM messages WHERE chat_id = chat_key AND id = p_reply_to AND NOT deleted
    ) THEN
        RAISE EXCEPTION 'message_not_found' USING ERRCODE = 'PZ404';
    END IF;

    UPDATE chats SET last_message_id = last_message_id + 1, last_activity = p_now
     WHERE id = chat_key RETURNING last_message_id INTO message_id;
    INSERT INTO messages (chat_id, id, sender_id, date, text, entities, reply_to, extra)
    VALUES (chat_key, message_id, p_sender, p_now, p_text, p_entities, p_reply_to, p_extra);
    -- One's own messages count as read.
    UPDATE members SET read_inbox_max_id = message_id WHERE chat_id = chat_key AND user_id = p_sender;

    -- Every member, except a bot sender. Reading is_bot takes no lock (it never changes).
    SELECT array_agg(m.user_id ORDER BY m.user_id) INTO v_recipients
      FROM members m JOIN users u ON u.id = m.user_id
     WHERE m.chat_id = chat_key AND (m.user_id <> p_sender OR NOT u.is_bot);
    -- Lock the recipients' rows in ascending id order before taking their next seqs.
    PERFORM 1 FROM users WHERE id = ANY (v_recipients) ORDER BY id FOR NO KEY UPDATE;
    WITH bumped AS (
        UPDATE users SET update_seq = update_seq + 1 WHERE id = ANY (v_recipients) RETURNING id, update_seq
    ), logged AS (
        INSERT INTO updates (user_id, seq, kind, chat_id, message_id)
        SELECT id, update_seq, 'message_new', chat_key, message_id FROM bumped
        RETURNING user_id, seq
    )
    SELECT COALESCE(array_agg(user_id ORDER BY user_id), '{}'), COALESCE(array_agg(seq ORDER BY user_id), '{}')
      INTO notify_users, notify_seqs FROM logged;
END;
$$;
