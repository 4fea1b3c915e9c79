-- Polls and reactions. Mirrors migrations/sqlite/0006_polls_reactions.sql, with arrays where SQLite
-- keeps JSON lists.

CREATE TABLE polls (
    id              TEXT      PRIMARY KEY,        -- unguessable, chosen by the service
    chat_id         BIGINT    NOT NULL REFERENCES chats(id),
    message_id      BIGINT    NOT NULL,
    creator_id      BIGINT    NOT NULL REFERENCES users(id),
    question        TEXT      NOT NULL,
    options         TEXT[]    NOT NULL,           -- option texts, in order
    is_anonymous    BOOLEAN   NOT NULL,
    kind            TEXT      NOT NULL CHECK (kind IN ('regular', 'quiz')),
    multiple        BOOLEAN   NOT NULL,
    correct_option  SMALLINT,
    explanation     TEXT,
    closed          BOOLEAN   NOT NULL DEFAULT FALSE
);

CREATE TABLE poll_votes (
    poll_id     TEXT        NOT NULL REFERENCES polls(id),
    user_id     BIGINT      NOT NULL REFERENCES users(id),
    option_ids  SMALLINT[]  NOT NULL,             -- option indexes
    date        BIGINT      NOT NULL,
    PRIMARY KEY (poll_id, user_id)
);

-- Answers to non-anonymous polls, as their bots receive them. Update-log entries of kind
-- 'poll_answer' carry the row's id in their message_id column.
CREATE TABLE poll_answers (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    poll_id     TEXT        NOT NULL,
    user_id     BIGINT      NOT NULL,
    option_ids  SMALLINT[]  NOT NULL,
    date        BIGINT      NOT NULL
);

-- Each person's reactions on a message, in the order they chose them.
CREATE TABLE reactions (
    chat_id     BIGINT  NOT NULL REFERENCES chats(id),
    message_id  BIGINT  NOT NULL,
    user_id     BIGINT  NOT NULL REFERENCES users(id),
    emojis      TEXT[]  NOT NULL,
    date        BIGINT  NOT NULL,
    PRIMARY KEY (chat_id, message_id, user_id)
);

-- Changes of reactions, as bots in the chat receive them. Update-log entries of kind
-- 'message_reaction' carry the row's id in their message_id column.
CREATE TABLE reaction_events (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chat_id     BIGINT  NOT NULL,
    message_id  BIGINT  NOT NULL,
    user_id     BIGINT  NOT NULL,
    old         TEXT[]  NOT NULL,
    new         TEXT[]  NOT NULL,
    date        BIGINT  NOT NULL
);
