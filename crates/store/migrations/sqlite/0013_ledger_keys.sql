-- Transfers' idempotency keys move out of `ledger_transfers` (whose UNIQUE key index was the last
-- structure a batch of transfers dirtied one page per payer of: keys name their payer, so each
-- payer's keys sort together) into two tables, as the entries did in 0012: new keys go to the
-- small `ledger_keys_recent`, and the writer moves them into `ledger_keys` together with the
-- recent entries. A key is unique across both: the writer, the only one to add keys, looks in
-- both before it adds one.
--
-- SQLite cannot drop a UNIQUE constraint, so the table is rebuilt (the migration runs with
-- foreign keys off; `ledger_entries` names `ledger_transfers`, which the renamed table is again).
CREATE TABLE ledger_transfers_new (
    id            INTEGER PRIMARY KEY,
    key           TEXT    NOT NULL,
    from_account  TEXT    NOT NULL,
    to_account    TEXT    NOT NULL,
    amount        INTEGER NOT NULL CHECK (amount > 0),
    memo          TEXT    NOT NULL,
    at            INTEGER NOT NULL
);
INSERT INTO ledger_transfers_new (id, key, from_account, to_account, amount, memo, at)
    SELECT id, key, from_account, to_account, amount, memo, at FROM ledger_transfers;

CREATE TABLE ledger_keys (
    key          TEXT    PRIMARY KEY,
    transfer_id  INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO ledger_keys (key, transfer_id) SELECT key, id FROM ledger_transfers ORDER BY key;

DROP TABLE ledger_transfers;
ALTER TABLE ledger_transfers_new RENAME TO ledger_transfers;

CREATE TABLE ledger_keys_recent (
    key          TEXT    PRIMARY KEY,
    transfer_id  INTEGER NOT NULL
) WITHOUT ROWID;
