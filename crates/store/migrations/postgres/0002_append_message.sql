-- Sending a message in one round trip. The hot path of Plaza did ~9 statements per message, each a
-- round trip between the node and PostgreSQL; under load the waits between them, not the work,
-- bounded throughput. This function does the same steps, with the same lock order (chat row, then
-- users by ascending id), inside the caller's single-statement transaction.
--
-- Exactly one of p_peer (private chat with that user) and p_group (group chat key) is set.
-- Refusals are raised with SQLSTATE PZ404 ('chat_not_found' or 'message_not_found'), which the
-- backend maps to plaza_core::Denied.
CREATE FUNCTION plaza_append_message(
    p_sender    BIGINT,
    p_peer      BIGINT,
    p_group     BIGINT,
    p_text      TEXT,
    p_entities  TEXT,
    p_reply_to  BIGINT,
    p_now       BIGINT,
    OUT chat_key      BIGINT,
    OUT message_id    BIGINT,
    OUT notify_users  BIGINT[],
    OUT notify_seqs   BIGINT[]
) LANGUAGE plpgsql AS $$
DECLARE
    v_members BIGINT[];
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
    INSERT INTO messages (chat_id, id, sender_id, date, text, entities, reply_to)
    VALUES (chat_key, message_id, p_sender, p_now, p_text, p_entities, p_reply_to);
    -- One's own messages count as read.
    UPDATE members SET read_inbox_max_id = message_id WHERE chat_id = chat_key AND user_id = p_sender;

    SELECT array_agg(user_id ORDER BY user_id) INTO v_members FROM members WHERE chat_id = chat_key;
    -- Lock the members' rows in ascending id order before taking their next seqs.
    PERFORM 1 FROM users WHERE id = ANY (v_members) ORDER BY id FOR NO KEY UPDATE;
    WITH bumped AS (
        UPDATE users SET update_seq = update_seq + 1 WHERE id = ANY (v_members) RETURNING id, update_seq
    ), logged AS (
        INSERT INTO updates (user_id, seq, kind, chat_id, message_id)
        SELECT id, update_seq, 'message_new', chat_key, message_id FROM bumped
        RETURNING user_id, seq
    )
    SELECT array_agg(user_id ORDER BY user_id), array_agg(seq ORDER BY user_id)
      INTO notify_users, notify_seqs FROM logged;
END;
$$;
