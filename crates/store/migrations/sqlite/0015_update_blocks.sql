-- The update log stays where it is appended. Until now the writer moved `updates_recent` into
-- `updates` (clustered by user) every 1,024 rows: each entry was written three times (appended,
-- inserted into `updates`, deleted from `updates_recent`), and the move was a quarter of the
-- instructions of sending a message and a third of the WAL frames a commit wrote.
--
-- Now `updates_recent` is the log itself, append-only, its rowids in commit order. Every
-- `SqliteOptions::log_block_rows` rows (or 100 ms) the writer closes a block: one row here per user
-- with entries among the rows appended since the last block, giving the block's rowid range. A
-- user's entries after a cursor are then `updates` (what earlier versions moved there, never
-- written again), the blocks with a newer `last_seq`, each read by its rowid range, and the rows
-- after the last block. A block row stands for all of a user's entries in the block, about eight
-- with a hundred active users: an eighth of an insert per entry instead of an insert and a delete.
CREATE TABLE update_blocks (
    user_id    INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL,                 -- the user's newest entry in the block
    first_row  INTEGER NOT NULL,                 -- the block's rowids in updates_recent
    last_row   INTEGER NOT NULL,
    PRIMARY KEY (user_id, last_seq)
) WITHOUT ROWID;

-- The last rowid of `updates_recent` that a block covers; the rows after it are the open block.
CREATE TABLE update_log_mark (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    last_row  INTEGER NOT NULL
);
INSERT INTO update_log_mark (id, last_row) VALUES (1, 0);
