-- Uploaded files. Bytes are kept once per content (`file_blobs`, by SHA-256); each upload gets its
-- own row in `files` with an unguessable file_id, the capability to send or download it.
CREATE TABLE file_blobs (
    sha256  BYTEA PRIMARY KEY,
    bytes   BYTEA NOT NULL
);

CREATE TABLE files (
    file_id     TEXT    PRIMARY KEY,
    sha256      BYTEA   NOT NULL REFERENCES file_blobs(sha256),
    unique_id   TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('photo', 'document')),
    size        BIGINT  NOT NULL,
    mime_type   TEXT,
    file_name   TEXT,
    width       BIGINT,
    height      BIGINT,
    owner_id    BIGINT  NOT NULL REFERENCES users(id),
    created_at  BIGINT  NOT NULL
);
