-- New ledger entries are appended here, a plain rowid table, and the writer moves them into
-- `ledger_entries` (clustered by account) in bulk every `SqliteOptions::ledger_compact_rows` rows.
-- SQLite writes whole pages to its WAL, and a batch of transfers between many accounts touched one
-- page of `ledger_entries` per account; appended, a batch's entries share a few pages. Every row
-- here is newer than every row of `ledger_entries` (the writer moves them all at once), so an
-- account's history is its `ledger_entries` rows followed by its rows here.
CREATE TABLE ledger_entries_recent (
    account      TEXT    NOT NULL,
    transfer_id  INTEGER NOT NULL,
    delta        INTEGER NOT NULL,
    balance      INTEGER NOT NULL
);
