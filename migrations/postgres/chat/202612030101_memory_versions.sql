-- A version of each user's memories, moved on by every change to what may
-- be recalled (a memory added, edited, re-kept, replaced or removed), by
-- the database itself, so no write path can forget it. A replica keeps
-- each user's recall index in process and checks this one row before it
-- trusts it. Counting a use (last_used_at, use_count, expires_at) is not
-- a change: the replica that counted it updates its own index.
CREATE TABLE IF NOT EXISTS memory_versions (
    owner    text PRIMARY KEY,
    version  bigint NOT NULL
);

CREATE OR REPLACE FUNCTION memories_changed() RETURNS trigger AS $$
BEGIN
    INSERT INTO memory_versions (owner, version)
    VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.owner ELSE NEW.owner END, 1)
    ON CONFLICT (owner) DO UPDATE SET version = memory_versions.version + 1;
    IF TG_OP = 'UPDATE' AND OLD.owner <> NEW.owner THEN
        INSERT INTO memory_versions (owner, version) VALUES (OLD.owner, 1)
        ON CONFLICT (owner) DO UPDATE SET version = memory_versions.version + 1;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS memories_changed_write ON memories;
CREATE TRIGGER memories_changed_write AFTER INSERT OR DELETE ON memories
    FOR EACH ROW EXECUTE FUNCTION memories_changed();
DROP TRIGGER IF EXISTS memories_changed_update ON memories;
CREATE TRIGGER memories_changed_update
    AFTER UPDATE OF owner, kind, text, slot, retention, source_session, tokens, replaced_by ON memories
    FOR EACH ROW EXECUTE FUNCTION memories_changed();
