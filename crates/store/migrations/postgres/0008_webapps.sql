-- Mini apps registered to bots, and each launch that can still be answered (answerWebAppQuery)
-- or send data to the bot (a reply-keyboard launch's sendData).
CREATE TABLE webapps (
    bot_id      BIGINT  NOT NULL REFERENCES users(id),
    short_name  TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    url         TEXT    NOT NULL,
    main        BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (bot_id, short_name)
);

CREATE TABLE webapp_launches (
    query_id    TEXT    PRIMARY KEY,              -- unguessable, chosen by the service
    bot_id      BIGINT  NOT NULL,
    user_id     BIGINT  NOT NULL,
    chat_id     BIGINT,                           -- the chat as the user names it, if launched in one
    source      TEXT    NOT NULL,                 -- inline_button, keyboard_button, menu_button, link
    button_text TEXT,
    created_at  BIGINT  NOT NULL,
    used        BOOLEAN NOT NULL DEFAULT FALSE        -- answered, or its data sent: once only
);
