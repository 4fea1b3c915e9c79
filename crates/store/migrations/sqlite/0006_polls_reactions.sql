-- Polls and reactions.

CREATE TABLE polls (
    id              TEXT    PRIMARY KEY,          -- unguessable, chosen by the service
    chat_id         INTEGER NOT NULL REFERENCES chats(id),
    message_id      INTEGER NOT NULL,
    creator_id      INTEGER NOT NULL REFERENCES users(id),
    question        TEXT    NOT NULL,
    options         TEXT    NOT NULL,             -- JSON array of option texts
    is_anonymous    INTEGER NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('regular', 'quiz')),
    multiple        INTEGER NOT NULL,
    correct_option  INTEGER,
    explanation     TEXT,
    closed          INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE poll_votes (
    poll_id     TEXT    NOT NULL REFERENCES polls(id),
    user_id     INTEGER NOT NULL REFERENCES users(id),
    option_ids  TEXT    NOT NULL,                 -- JSON array of option indexes
    date        INTEGER NOT NULL,
    PRIMARY KEY (poll_id, user_id)
) WITHOUT ROWID;

-- Answers to non-anonymous polls, as their bots receive them ('poll_answer' entries carry the id).
CREATE TABLE poll_answers (
    id          INTEGER PRIMARY KEY,
    poll_id     TEXT    NOT NULL,
    user_id     INTEGER NOT NULL,
    option_ids  TEXT    NOT NULL,
    date        INTEGER NOT NULL
);

-- Each person's reactions on a message (JSON array of emoji).
CREATE TABLE reactions (
    chat_id     INTEGER NOT NULL REFERENCES chats(id),
    message_id  INTEGER NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    emojis      TEXT    NOT NULL,
    date        INTEGER NOT NULL,
    PRIMARY KEY (chat_id, message_id, user_id)
) WITHOUT ROWID;

-- Changes of reactions, as bots in the chat receive them ('message_reaction' entries carry the id).
CREATE TABLE reaction_events (
    id          INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    old         TEXT    NOT NULL,
    new         TEXT    NOT NULL,
    date        INTEGER NOT NULL
);
