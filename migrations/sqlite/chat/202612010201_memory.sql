-- Long-term memory: what each user asked to be remembered or said about
-- themselves, with where it came from (origin and source). Times in epoch ms.
-- `norm` is the text as compared for duplicates; `slot` names what only one
-- memory can hold at a time (a workplace, an answer language): a newer one
-- replaces the older, which stays as history (`replaced_by`), not recalled.
-- `n` is a stable rowid for the full-text index (FTS5, kept by triggers).
CREATE TABLE IF NOT EXISTS memories (
    n                 INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    owner             TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('fact', 'preference', 'profile')),
    text              TEXT NOT NULL,
    norm              TEXT NOT NULL,
    slot              TEXT,
    retention         TEXT NOT NULL CHECK (retention IN ('session', 'short', 'long', 'pinned')),
    origin            TEXT NOT NULL CHECK (origin IN ('told', 'tool', 'extracted')),
    source_session    TEXT,
    source_message    TEXT,
    source_tool_call  TEXT,
    tokens            INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    last_used_at      INTEGER NOT NULL,
    use_count         INTEGER NOT NULL DEFAULT 0,
    expires_at        INTEGER,
    replaced_by       TEXT
);
CREATE INDEX IF NOT EXISTS memories_owner_retention ON memories (owner, retention);
CREATE INDEX IF NOT EXISTS memories_owner_used ON memories (owner, last_used_at DESC);
CREATE INDEX IF NOT EXISTS memories_owner_norm ON memories (owner, norm);
CREATE INDEX IF NOT EXISTS memories_expires ON memories (expires_at);

CREATE VIRTUAL TABLE IF NOT EXISTS memories_fts USING fts5(
    text, content = 'memories', content_rowid = 'n', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS memories_fts_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, text) VALUES (new.n, new.text);
END;
CREATE TRIGGER IF NOT EXISTS memories_fts_delete AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', old.n, old.text);
END;
CREATE TRIGGER IF NOT EXISTS memories_fts_update AFTER UPDATE OF text ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', old.n, old.text);
    INSERT INTO memories_fts (rowid, text) VALUES (new.n, new.text);
END;

-- A user's profile: the typed fields answers depend on. The local user is ''.
CREATE TABLE IF NOT EXISTS user_profiles (
    owner           TEXT PRIMARY KEY,
    display_name    TEXT,
    role            TEXT,
    country         TEXT,
    county          TEXT,
    language        TEXT,
    detail          TEXT,
    memory_enabled  INTEGER NOT NULL DEFAULT 1,
    updated_at      INTEGER NOT NULL
);

-- A conversation that reads and writes no memory.
ALTER TABLE chat_sessions ADD COLUMN temporary INTEGER NOT NULL DEFAULT 0;
