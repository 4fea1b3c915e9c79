-- Invoices, payments, shipping queries and Stars subscriptions (core::payment). A payment's money
-- moves only in the write that marks it paid, together with its successful_payment message.

-- An invoice a bot created: with sendInvoice (the message that carries it is named) or with
-- createInvoiceLink (no message). The slug names it in links and in the client API.
CREATE TABLE invoices (
    slug        TEXT    PRIMARY KEY,
    bot_id      INTEGER NOT NULL REFERENCES users(id),
    spec        TEXT    NOT NULL,                  -- JSON, codec.rs
    chat_id     INTEGER,                           -- ChatKey of the invoice message
    message_id  INTEGER,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- One checkout a person confirmed. Update-log entries of kind 'pre_checkout_query' (the bot's) and
-- 'payment_updated' (the payer's) carry the payment's id in their message_id column.
CREATE TABLE payments (
    id               INTEGER PRIMARY KEY,
    invoice          TEXT    NOT NULL REFERENCES invoices(slug),
    bot_id           INTEGER NOT NULL REFERENCES users(id),
    user_id          INTEGER NOT NULL REFERENCES users(id),
    chat_id          INTEGER NOT NULL,             -- ChatKey of their private chat
    key              TEXT    NOT NULL,             -- the client's name for the attempt
    currency         TEXT    NOT NULL,
    total_amount     INTEGER NOT NULL,
    payload          TEXT    NOT NULL,
    shipping_option  TEXT,
    order_info       TEXT,                         -- JSON, codec.rs
    state            TEXT    NOT NULL,             -- core::payment::PaymentState
    error            TEXT,
    charge_id        TEXT    NOT NULL UNIQUE,
    provider_charge  TEXT,
    card_last4       TEXT,
    subscription_id  INTEGER,
    renewal          INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    deadline         INTEGER NOT NULL,
    finished_at      INTEGER,
    UNIQUE (user_id, key)
);
-- A person has at most one checkout of an invoice open at a time.
CREATE UNIQUE INDEX payments_one_open ON payments(invoice, user_id) WHERE state IN ('pre_checkout', 'approved');
CREATE INDEX payments_open ON payments(deadline) WHERE state IN ('pre_checkout', 'approved');
CREATE INDEX payments_by_invoice ON payments(invoice, user_id, state);

-- A shipping address sent to the bot of a flexible invoice ('shipping_query' log entries carry
-- its id), and the bot's answer.
CREATE TABLE shipping_queries (
    id          INTEGER PRIMARY KEY,
    invoice     TEXT    NOT NULL REFERENCES invoices(slug),
    bot_id      INTEGER NOT NULL REFERENCES users(id),
    user_id     INTEGER NOT NULL REFERENCES users(id),
    chat_id     INTEGER NOT NULL,
    address     TEXT    NOT NULL,                  -- JSON, codec.rs
    created_at  INTEGER NOT NULL,
    answer      TEXT                               -- JSON: {"options": …} or {"error": …}
);

-- A Stars subscription: renewed at expires_at unless either side cancelled it or it lapsed.
CREATE TABLE subscriptions (
    id                INTEGER PRIMARY KEY,
    invoice           TEXT    NOT NULL REFERENCES invoices(slug),
    bot_id            INTEGER NOT NULL REFERENCES users(id),
    user_id           INTEGER NOT NULL REFERENCES users(id),
    title             TEXT    NOT NULL,
    amount            INTEGER NOT NULL,
    period            INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    canceled_by_user  INTEGER NOT NULL DEFAULT 0,
    canceled_by_bot   INTEGER NOT NULL DEFAULT 0,
    lapsed            INTEGER NOT NULL DEFAULT 0,
    renewals          INTEGER NOT NULL DEFAULT 0,
    UNIQUE (invoice, user_id)
);
CREATE INDEX subscriptions_due ON subscriptions(expires_at) WHERE lapsed = 0;
CREATE INDEX subscriptions_by_user ON subscriptions(user_id);
