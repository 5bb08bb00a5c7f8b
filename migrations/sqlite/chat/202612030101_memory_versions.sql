-- A version of each user's memories, moved on by every change to what may
-- be recalled (a memory added, edited, re-kept, replaced or removed), by
-- the database itself, so no write path can forget it. A replica keeps
-- each user's recall index in process and checks this one row before it
-- trusts it. Counting a use (last_used_at, use_count, expires_at) is not
-- a change: the replica that counted it updates its own index.
CREATE TABLE IF NOT EXISTS memory_versions (
    owner    TEXT PRIMARY KEY,
    version  INTEGER NOT NULL
);

CREATE TRIGGER IF NOT EXISTS memories_version_insert AFTER INSERT ON memories BEGIN
    INSERT OR IGNORE INTO memory_versions (owner, version) VALUES (new.owner, 0);
    UPDATE memory_versions SET version = version + 1 WHERE owner = new.owner;
END;
CREATE TRIGGER IF NOT EXISTS memories_version_delete AFTER DELETE ON memories BEGIN
    INSERT OR IGNORE INTO memory_versions (owner, version) VALUES (old.owner, 0);
    UPDATE memory_versions SET version = version + 1 WHERE owner = old.owner;
END;
CREATE TRIGGER IF NOT EXISTS memories_version_update
    AFTER UPDATE OF owner, kind, text, slot, retention, source_session, tokens, replaced_by ON memories BEGIN
    INSERT OR IGNORE INTO memory_versions (owner, version) VALUES (new.owner, 0);
    UPDATE memory_versions SET version = version + 1 WHERE owner IN (old.owner, new.owner);
END;
