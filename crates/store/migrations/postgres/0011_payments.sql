-- Invoices, payments, shipping queries and Stars subscriptions (core::payment). A payment's money
-- moves only in the write that marks it paid, together with its successful_payment message.

-- An invoice a bot created: with sendInvoice (the message that carries it is named) or with
-- createInvoiceLink (no message). The slug names it in links and in the client API.
CREATE TABLE invoices (
    slug        TEXT    PRIMARY KEY,
    bot_id      BIGINT  NOT NULL REFERENCES users(id),
    spec        TEXT    NOT NULL,                  -- JSON, codec.rs
    chat_id     BIGINT ,                           -- ChatKey of the invoice message
    message_id  BIGINT ,
    created_at  BIGINT  NOT NULL
);

-- One checkout a person confirmed. Update-log entries of kind 'pre_checkout_query' (the bot's) and
-- 'payment_updated' (the payer's) carry the payment's id in their message_id column.
CREATE TABLE payments (
    id               BIGSERIAL PRIMARY KEY,
    invoice          TEXT    NOT NULL REFERENCES invoices(slug),
    bot_id           BIGINT  NOT NULL REFERENCES users(id),
    user_id          BIGINT  NOT NULL REFERENCES users(id),
    chat_id          BIGINT  NOT NULL,             -- ChatKey of their private chat
    key              TEXT    NOT NULL,             -- the client's name for the attempt
    currency         TEXT    NOT NULL,
    total_amount     BIGINT  NOT NULL,
    payload          TEXT    NOT NULL,
    shipping_option  TEXT,
    order_info       TEXT,                         -- JSON, codec.rs
    state            TEXT    NOT NULL,             -- core::payment::PaymentState
    error            TEXT,
    charge_id        TEXT    NOT NULL UNIQUE,
    provider_charge  TEXT,
    card_last4       TEXT,
    subscription_id  BIGINT ,
    renewal          INTEGER NOT NULL DEFAULT 0,
    created_at       BIGINT  NOT NULL,
    deadline         BIGINT  NOT NULL,
    finished_at      BIGINT ,
    UNIQUE (user_id, key)
);
-- A person has at most one checkout of an invoice open at a time.
CREATE UNIQUE INDEX payments_one_open ON payments(invoice, user_id) WHERE state IN ('pre_checkout', 'approved');
CREATE INDEX payments_open ON payments(deadline) WHERE state IN ('pre_checkout', 'approved');
CREATE INDEX payments_by_invoice ON payments(invoice, user_id, state);

-- A shipping address sent to the bot of a flexible invoice ('shipping_query' log entries carry
-- its id), and the bot's answer.
CREATE TABLE shipping_queries (
    id          BIGSERIAL PRIMARY KEY,
    invoice     TEXT    NOT NULL REFERENCES invoices(slug),
    bot_id      BIGINT  NOT NULL REFERENCES users(id),
    user_id     BIGINT  NOT NULL REFERENCES users(id),
    chat_id     BIGINT  NOT NULL,
    address     TEXT    NOT NULL,                  -- JSON, codec.rs
    created_at  BIGINT  NOT NULL,
    answer      TEXT                               -- JSON: {"options": …} or {"error": …}
);

-- A Stars subscription: renewed at expires_at unless either side cancelled it or it lapsed.
CREATE TABLE subscriptions (
    id                BIGSERIAL PRIMARY KEY,
    invoice           TEXT    NOT NULL REFERENCES invoices(slug),
    bot_id            BIGINT  NOT NULL REFERENCES users(id),
    user_id           BIGINT  NOT NULL REFERENCES users(id),
    title             TEXT    NOT NULL,
    amount            BIGINT  NOT NULL,
    period            BIGINT  NOT NULL,
    expires_at        BIGINT  NOT NULL,
    canceled_by_user  BOOLEAN NOT NULL DEFAULT FALSE,
    canceled_by_bot   BOOLEAN NOT NULL DEFAULT FALSE,
    lapsed            BOOLEAN NOT NULL DEFAULT FALSE,
    renewals          INTEGER NOT NULL DEFAULT 0,
    UNIQUE (invoice, user_id)
);
CREATE INDEX subscriptions_due ON subscriptions(expires_at) WHERE NOT lapsed;
CREATE INDEX subscriptions_by_user ON subscriptions(user_id);
