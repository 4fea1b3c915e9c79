-- Each user's last update-log seq moves out of `users` into a narrow table of its own. Every
-- message takes the next seq of each of its recipients, and as a column of `users` that rewrote
-- the whole user row (names, password hash, bot token hash) for each recipient of each message,
-- bloating `users` and its pages. Measured with pgbench, 32 clients calling plaza_append_message
-- over 64 private chats: 3,760-4,230 calls/s with the column, 4,440-4,920 with this table.
-- Fillfactor 50 leaves room on each page for the next version of its rows, so the update stays
-- a heap-only one.
--
-- Nodes older than this migration read and bump users.update_seq, which it drops: stop them before
-- starting a node that applies it. The lock keeps any write still running from bumping a seq
-- between the copy and the drop.
LOCK TABLE users IN ACCESS EXCLUSIVE MODE;
CREATE TABLE user_seqs (
    user_id  BIGINT  PRIMARY KEY REFERENCES users(id),
    seq      BIGINT  NOT NULL DEFAULT 0     -- last seq in this user's update log
) WITH (fillfactor = 50);
INSERT INTO user_seqs (user_id, seq) SELECT id, update_seq FROM users;
ALTER TABLE users DROP COLUMN update_seq;

-- Every user has a row, whichever statement creates the user.
CREATE FUNCTION plaza_user_seq_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_seqs (user_id) VALUES (NEW.id);
    RETURN NULL;
END;
$$;
CREATE TRIGGER users_seq_row AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION plaza_user_seq_row();

-- plaza_append_message (migration 0005) taking the seqs from user_seqs; otherwise the same
-- single round trip and lock order (chat row, then the recipients' seq rows by ascending id).
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
    v_user       BIGINT;
    v_seq        BIGINT;
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
    -- The recipients' next seqs, their rows locked in ascending id order (the array is sorted), so
    -- two writes notifying overlapping users queue up instead of deadlocking. A few recipients (a
    -- private chat, a small group) are bumped one by one, each a primary-key update: a single
    -- `= ANY` statement needs a separate one to lock in order first, and PostgreSQL runs both as
    -- scans of the whole table while it is small (pgbench as above: 4,770-4,890 calls/s with
    -- the two scans, 5,750-5,780 one by one).
    v_recipients := COALESCE(v_recipients, '{}');
    IF cardinality(v_recipients) <= 8 THEN
        notify_users := v_recipients;
        notify_seqs := '{}';
        FOREACH v_user IN ARRAY v_recipients LOOP
            UPDATE user_seqs SET seq = seq + 1 WHERE user_id = v_user RETURNING seq INTO v_seq;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'user % has no update log', v_user;
            END IF;
            notify_seqs := notify_seqs || v_seq;
        END LOOP;
        INSERT INTO updates (user_id, seq, kind, chat_id, message_id)
        SELECT u, s, 'message_new', chat_key, message_id FROM unnest(notify_users, notify_seqs) AS t(u, s);
    ELSE
        PERFORM 1 FROM user_seqs WHERE user_id = ANY (v_recipients) ORDER BY user_id FOR NO KEY UPDATE;
        WITH bumped AS (
            UPDATE user_seqs SET seq = seq + 1 WHERE user_id = ANY (v_recipients) RETURNING user_id, seq
        ), logged AS (
            INSERT INTO updates (user_id, seq, kind, chat_id, message_id)
            SELECT user_id, seq, 'message_new', chat_key, message_id FROM bumped
            RETURNING user_id, seq
        )
        SELECT COALESCE(array_agg(user_id ORDER BY user_id), '{}'), COALESCE(array_agg(seq ORDER BY user_id), '{}')
          INTO notify_users, notify_seqs FROM logged;
    END IF;
END;
$$;
