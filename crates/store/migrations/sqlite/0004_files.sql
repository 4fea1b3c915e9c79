-- Uploaded files. Bytes are kept once per content (`file_blobs`, by SHA-256); each upload gets its
-- own row in `files` with an unguessable file_id, the capability to send or download it.
CREATE TABLE file_blobs (
    sha256  BLOB PRIMARY KEY,
    bytes   BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE files (
    file_id     TEXT    PRIMARY KEY,
    sha256      BLOB    NOT NULL REFERENCES file_blobs(sha256),
    unique_id   TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('photo', 'document')),
    size        INTEGER NOT NULL,
    mime_type   TEXT,
    file_name   TEXT,
    width       INTEGER,
    height      INTEGER,
    owner_id    INTEGER NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
