-- What bots need beyond accounts and chats: keyboards on messages, button presses, settings and
-- the confirmed offset of their update stream. Mirrors migrations/sqlite/0003_bots.sql.

-- A message's extras as JSON (its keyboard for now; see codec.rs). NULL for plain messages.
ALTER TABLE messages ADD COLUMN extra TEXT;

-- Presses of callback buttons, waiting for (or holding) the bot's answer. Update-log entries of
-- kind 'callback_query' and 'callback_answer' carry the query's id in their message_id column.
CREATE TABLE callback_queries (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bot_id       BIGINT  NOT NULL REFERENCES users(id),
    user_id      BIGINT  NOT NULL REFERENCES users(id),
    chat_id      BIGINT  NOT NULL REFERENCES chats(id),
    message_id   BIGINT  NOT NULL,
    data         TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    answer       TEXT,                             -- JSON once answered
    answered_at  BIGINT
);

-- Commands, menu buttons, profile texts, allowed updates and the webhook; keys and encodings in codec.rs.
CREATE TABLE bot_settings (
    bot_id  BIGINT  NOT NULL REFERENCES users(id),
    key     TEXT    NOT NULL,
    value   TEXT    NOT NULL,
    PRIMARY KEY (bot_id, key)
);

-- Updates with ids below `confirmed` were confirmed by getUpdates and are never delivered again.
CREATE TABLE bot_offsets (
    bot_id     BIGINT  PRIMARY KEY REFERENCES users(id),
    confirmed  BIGINT  NOT NULL
);

-- plaza_append_message (migration 0002) with the message's extras, and without a message_new
-- entry for a bot sender: bots do not receive their own messages (a person still gets one, for
-- their other devices). Same single round trip and lock order (chat row, then users by ascending id).
DROP FUNCTION plaza_append_message(BIGINT, BIGINT, BIGINT, TEXT, TEXT, BIGINT, BIGINT);

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
