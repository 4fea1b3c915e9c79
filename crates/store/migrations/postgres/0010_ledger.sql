-- The Stars ledger (core::ledger): every transfer once (its idempotency key is unique), two entries
-- per transfer, and each account's balance kept beside its entries, all written in one
-- transaction. A balance below zero is refused by the store for every account but the issuance
-- account, so the sum of all balances is always zero.
CREATE TABLE ledger_transfers (
    id            BIGSERIAL PRIMARY KEY,
    key           TEXT    NOT NULL UNIQUE,
    from_account  TEXT    NOT NULL,
    to_account    TEXT    NOT NULL,
    amount        BIGINT  NOT NULL CHECK (amount > 0),
    memo          TEXT    NOT NULL,
    at            BIGINT  NOT NULL
);

CREATE TABLE ledger_balances (
    account  TEXT    PRIMARY KEY,
    balance  BIGINT  NOT NULL CHECK (balance >= 0 OR account = 'issuance')
);

CREATE TABLE ledger_entries (
    account      TEXT    NOT NULL,
    transfer_id  BIGINT  NOT NULL REFERENCES ledger_transfers(id),
    delta        BIGINT  NOT NULL,
    balance      BIGINT  NOT NULL,
    PRIMARY KEY (account, transfer_id)
);
