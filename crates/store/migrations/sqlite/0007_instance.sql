-- Settings of the whole instance, such as the Ed25519 key that signs mini-app init data. Every
-- node of a cluster reads the same row; the first to start writes it.
CREATE TABLE instance_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
