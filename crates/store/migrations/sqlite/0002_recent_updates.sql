-- The newest update-log entries, appended in commit order to a plain rowid table. Appends fill its
-- last page, where inserting into `updates` (clustered by user) dirties one page per recipient and
-- commit; that was half the cost of sending a message. The writer moves these rows into `updates`
-- in bulk every few hundred milliseconds (see sqlite.rs, "compaction"), so each user's page there
-- is written once per move instead of once per commit. Readers look in both tables.
CREATE TABLE updates_recent (
    user_id     INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    chat_id     INTEGER NOT NULL,
    message_id  INTEGER
);
