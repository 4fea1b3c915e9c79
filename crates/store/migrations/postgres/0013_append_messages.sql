-- Sending many messages in one statement. plaza_append_message (migration 0012) runs about ten
-- statements per message, each with its own executor start-up, plus a commit and a WAL flush per
-- message; under load PostgreSQL spent its CPU on that overhead, not on the rows. This function
-- takes a batch of messages as parallel arrays and does each step once for the whole batch, as a
-- set. Measured with pgbench on the benchmark's 64 private chats (two cores, PostgreSQL 15):
-- 2,100-3,400 messages/s one call per message at 8 clients, 9,100-12,700 messages/s in batches
-- of 16 or 32 at 2 clients.
--
-- Element i of every array describes message i; exactly one of p_peers[i] (private chat with that
-- user) and p_groups[i] (group chat key) is set. The function returns one row per message, in
-- order: its chat and id, or the reason it was refused in `failure` ('chat_not_found', 'blocked',
-- 'message_not_found'), with nothing written for it. A refused message does not affect the others.
--
-- Lock order, as everywhere: chat rows first, here all of the batch's chats by ascending id, then
-- the recipients' user_seqs rows by ascending id. Two batches, or a batch and any single write,
-- therefore never wait on each other in a cycle. Messages to one chat are numbered in array order.
-- The caller runs the statement on its own, so it is one transaction: all of it commits or none.
CREATE FUNCTION plaza_append_messages(
    p_senders   BIGINT[],
    p_peers     BIGINT[],
    p_groups    BIGINT[],
    p_texts     TEXT[],
    p_entities  TEXT[],
    p_reply_tos BIGINT[],
    p_nows      BIGINT[],
    p_extras    TEXT[]
) RETURNS TABLE (
    chat_key     BIGINT,
    message_id   BIGINT,
    failure      TEXT,
    notify_users BIGINT[],
    notify_seqs  BIGINT[]
) LANGUAGE plpgsql
-- Its statements take arrays, whose contents change every call. Left to choose, PostgreSQL kept
-- planning them afresh for each call: a message alone took 1.5-1.75 ms in the function, 0.92-1.07 ms
-- with the plans made once per connection (pgbench, one client).
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_keys   BIGINT[];  -- chat of message i, NULL if there is none
    v_fail   TEXT[];    -- why message i is refused, NULL if it is not
    v_ids    BIGINT[];  -- id given to message i, NULL if refused
    v_ri     BIGINT[];  -- recipient entries, sorted by user then message: message index,
    v_ru     BIGINT[];  -- user,
    v_rs     BIGINT[];  -- and the seq that user's log gives the message
    v_bu     BIGINT[];  -- each recipient once, with the seq before this batch
    v_bb     BIGINT[];
BEGIN
    SELECT array_agg(CASE
               WHEN t.peer IS NOT NULL THEN (
                   SELECT c.id FROM chats c WHERE c.kind = 'private'
                      AND c.user_lo = LEAST(t.sender, t.peer) AND c.user_hi = GREATEST(t.sender, t.peer))
               ELSE (SELECT c.id FROM chats c WHERE c.id = t.grp AND c.kind = 'group')
           END ORDER BY t.i)
      INTO v_keys
      FROM unnest(p_senders, p_peers, p_groups) WITH ORDINALITY AS t(sender, peer, grp, i);
    -- The locking clause runs above the sort, so the rows are locked in ascending id order.
    PERFORM 1 FROM chats WHERE id = ANY (v_keys) ORDER BY id FOR NO KEY UPDATE;

    -- Checked after the locks (a new snapshot per statement), so a membership change or a block
    -- committed before a lock was won is seen.
    SELECT array_agg(CASE
               WHEN t.k IS NULL THEN 'chat_not_found'
               WHEN t.grp IS NOT NULL AND NOT EXISTS (
                   SELECT 1 FROM members m WHERE m.chat_id = t.k AND m.user_id = t.sender) THEN 'chat_not_found'
               WHEN t.peer IS NOT NULL AND EXISTS (
                   SELECT 1 FROM members m WHERE m.chat_id = t.k AND m.user_id = t.peer AND m.blocked_peer) THEN 'blocked'
               WHEN t.reply IS NOT NULL AND NOT EXISTS (
                   SELECT 1 FROM messages x WHERE x.chat_id = t.k AND x.id = t.reply AND NOT x.deleted)
                   THEN 'message_not_found'
           END ORDER BY t.i)
      INTO v_fail
      FROM unnest(v_keys, p_senders, p_peers, p_groups, p_reply_tos) WITH ORDINALITY AS t(k, sender, peer, grp, reply, i);

    -- Each chat's next ids, in array order.
    WITH ok AS (
        SELECT t.i, t.k, t.now, row_number() OVER (PARTITION BY t.k ORDER BY t.i) AS rank
          FROM unnest(v_keys, v_fail, p_nows) WITH ORDINALITY AS t(k, fail, now, i)
         WHERE t.fail IS NULL
    ), bumped AS (
        UPDATE chats c SET last_message_id = c.last_message_id + g.n, last_activity = g.now
          FROM (SELECT ok.k, count(*) AS n, max(ok.now) AS now FROM ok GROUP BY ok.k) g
         WHERE c.id = g.k
        RETURNING c.id, c.last_message_id - g.n AS base
    )
    SELECT array_agg(b.base + ok.rank ORDER BY t.i)
      INTO v_ids
      FROM generate_series(1, cardinality(p_senders)) AS t(i)
      LEFT JOIN ok ON ok.i = t.i
      LEFT JOIN bumped b ON b.id = ok.k;

    INSERT INTO messages (chat_id, id, sender_id, date, text, entities, reply_to, extra)
    SELECT t.k, t.id, t.sender, t.now, t.txt, t.ent, t.reply, t.extra
      FROM unnest(v_keys, v_ids, p_senders, p_nows, p_texts, p_entities, p_reply_tos, p_extras)
           AS t(k, id, sender, now, txt, ent, reply, extra)
     WHERE t.id IS NOT NULL;
    -- One's own messages count as read.
    UPDATE members m SET read_inbox_max_id = s.id
      FROM (SELECT t.k, t.sender, max(t.id) AS id
              FROM unnest(v_keys, v_ids, p_senders) AS t(k, id, sender)
             WHERE t.id IS NOT NULL GROUP BY t.k, t.sender) s
     WHERE m.chat_id = s.k AND m.user_id = s.sender;

    -- Every member of each message's chat, except a bot sender; one index scan per message (a
    -- join would let the planner scan all of members while its statistics are young).
    SELECT array_agg(r.i ORDER BY r.u, r.i), array_agg(r.u ORDER BY r.u, r.i)
      INTO v_ri, v_ru
      FROM (SELECT t.i, unnest(ARRAY(
                       SELECT m.user_id FROM members m
                        WHERE m.chat_id = t.k
                          AND (m.user_id <> t.sender OR NOT (SELECT u.is_bot FROM users u WHERE u.id = t.sender))
                   )) AS u
              FROM unnest(v_keys, v_ids, p_senders) WITH ORDINALITY AS t(k, id, sender, i)
             WHERE t.id IS NOT NULL) r;
    v_ri := COALESCE(v_ri, '{}');
    v_ru := COALESCE(v_ru, '{}');

    -- The recipients' logs: each grows by its number of messages, the seqs taken in message order.
    PERFORM 1 FROM user_seqs WHERE user_id = ANY (v_ru) ORDER BY user_id FOR NO KEY UPDATE;
    WITH c AS (
        SELECT r.u, count(*) AS n FROM unnest(v_ru) AS r(u) GROUP BY r.u
    ), b AS (
        UPDATE user_seqs s SET seq = s.seq + c.n FROM c WHERE s.user_id = c.u
        RETURNING s.user_id, s.seq - c.n AS base
    )
    SELECT array_agg(b.user_id), array_agg(b.base) INTO v_bu, v_bb FROM b;
    IF COALESCE(cardinality(v_bu), 0) <> (SELECT count(DISTINCT r.u) FROM unnest(v_ru) AS r(u)) THEN
        RAISE EXCEPTION 'a recipient has no update log';
    END IF;
    SELECT array_agg(b.base + r.rank ORDER BY r.j)
      INTO v_rs
      FROM (SELECT x.j, x.u, row_number() OVER (PARTITION BY x.u ORDER BY x.i) AS rank
              FROM unnest(v_ri, v_ru) WITH ORDINALITY AS x(i, u, j)) r
      JOIN unnest(v_bu, v_bb) AS b(u, base) ON b.u = r.u;
    v_rs := COALESCE(v_rs, '{}');
    INSERT INTO updates (user_id, seq, kind, chat_id, message_id)
    SELECT r.u, r.s, 'message_new', v_keys[r.i], v_ids[r.i] FROM unnest(v_ri, v_ru, v_rs) AS r(i, u, s);

    RETURN QUERY
    SELECT t.k, t.id, t.fail,
           COALESCE(array_agg(r.u ORDER BY r.u) FILTER (WHERE r.u IS NOT NULL), '{}'),
           COALESCE(array_agg(r.s ORDER BY r.u) FILTER (WHERE r.u IS NOT NULL), '{}')
      FROM unnest(v_keys, v_ids, v_fail) WITH ORDINALITY AS t(k, id, fail, i)
      LEFT JOIN unnest(v_ri, v_ru, v_rs) AS r(i, u, s) ON r.i = t.i
     GROUP BY t.i, t.k, t.id, t.fail
     ORDER BY t.i;
END;
$$;

-- The one-message function it replaces; a message with a poll also goes through the new one, as a
-- batch of one inside the transaction that inserts the poll. Nodes older than this migration call
-- the old function: stop them before starting a node that applies it.
DROP FUNCTION plaza_append_message(BIGINT, BIGINT, BIGINT, TEXT, TEXT, BIGINT, BIGINT, TEXT);
