-- Mini apps Plaza hosts: every deploy of a static bundle is a numbered version whose files point at
-- content-addressed blobs (shared with uploads), and the app serves its live version, so a deploy
-- or a rollback is one row update. An app only Plaza hosts has an empty url.
ALTER TABLE webapps ADD COLUMN live_version INTEGER;

CREATE TABLE webapp_versions (
    bot_id      INTEGER NOT NULL,
    short_name  TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    files       INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    digest      BLOB    NOT NULL,                 -- of the sorted paths and contents: an unchanged redeploy is a no-op
    PRIMARY KEY (bot_id, short_name, version),
    FOREIGN KEY (bot_id, short_name) REFERENCES webapps(bot_id, short_name)
) WITHOUT ROWID;

CREATE TABLE webapp_files (
    bot_id       INTEGER NOT NULL,
    short_name   TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    path         TEXT    NOT NULL,
    sha256       BLOB    NOT NULL REFERENCES file_blobs(sha256),
    content_type TEXT    NOT NULL,
    PRIMARY KEY (bot_id, short_name, version, path)
) WITHOUT ROWID;

-- Mini apps' CloudStorage: per user and bot, Telegram's limits enforced by the service and store.
CREATE TABLE cloud_storage (
    bot_id   INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    key      TEXT    NOT NULL,
    value    TEXT    NOT NULL,
    PRIMARY KEY (bot_id, user_id, key)
) WITHOUT ROWID;

-- Messages a bot prepared for a person to share from its mini app (savePreparedInlineMessage,
-- then the app's shareMessage): the message as stored messages keep theirs, and the kinds of chat
-- it may go to.
CREATE TABLE prepared_messages (
    id          TEXT    PRIMARY KEY,              -- unguessable, chosen by the service
    bot_id      INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    text        TEXT    NOT NULL,
    entities    TEXT,
    extra       TEXT,
    chat_types  INTEGER NOT NULL,                 -- bits: 1 users, 2 bots, 4 groups, 8 channels
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
