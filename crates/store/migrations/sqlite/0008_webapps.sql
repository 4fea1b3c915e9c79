-- Mini apps registered to bots, and each launch that can still be answered (answerWebAppQuery)
-- or send data to the bot (a reply-keyboard launch's sendData).
CREATE TABLE webapps (
    bot_id      INTEGER NOT NULL REFERENCES users(id),
    short_name  TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    url         TEXT    NOT NULL,
    main        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bot_id, short_name)
) WITHOUT ROWID;

CREATE TABLE webapp_launches (
    query_id    TEXT    PRIMARY KEY,              -- unguessable, chosen by the service
    bot_id      INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    chat_id     INTEGER,                          -- the chat as the user names it, if launched in one
    source      TEXT    NOT NULL,                 -- inline_button, keyboard_button, menu_button, link
    button_text TEXT,
    created_at  INTEGER NOT NULL,
    used        INTEGER NOT NULL DEFAULT 0         -- answered, or its data sent: once only
) WITHOUT ROWID;
