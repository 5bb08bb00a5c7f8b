-- Long-term memory: what each user asked to be remembered or said about
-- themselves, with where it came from (origin and source). Times in epoch ms.
-- Partitioned by month of creation; the server makes the coming months'
-- partitions ahead (the default partition only catches what falls outside).
-- `norm` is the text as compared for duplicates; `slot` names what only one
-- memory can hold at a time (a workplace, an answer language): a newer one
-- replaces the older, which stays as history (`replaced_by`), not recalled.
CREATE TABLE IF NOT EXISTS memories (
    id                text NOT NULL,
    owner             text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('fact', 'preference', 'profile')),
    text              text NOT NULL,
    norm              text NOT NULL,
    slot              text,
    retention         text NOT NULL CHECK (retention IN ('session', 'short', 'long', 'pinned')),
    origin            text NOT NULL CHECK (origin IN ('told', 'tool', 'extracted')),
    source_session    text,
    source_message    text,
    source_tool_call  text,
    tokens            bigint NOT NULL,
    created_at        bigint NOT NULL,
    updated_at        bigint NOT NULL,
    last_used_at      bigint NOT NULL,
    use_count         bigint NOT NULL DEFAULT 0,
    expires_at        bigint,
    replaced_by       text,
    search            tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE IF NOT EXISTS memories_default PARTITION OF memories DEFAULT;
CREATE INDEX IF NOT EXISTS memories_owner_retention ON memories (owner, retention);
CREATE INDEX IF NOT EXISTS memories_owner_used ON memories (owner, last_used_at DESC);
CREATE INDEX IF NOT EXISTS memories_owner_norm ON memories (owner, norm);
CREATE INDEX IF NOT EXISTS memories_expires ON memories (expires_at);
CREATE INDEX IF NOT EXISTS memories_search ON memories USING gin (search);

-- A user's profile: the typed fields answers depend on. The local user is ''.
CREATE TABLE IF NOT EXISTS user_profiles (
    owner           text PRIMARY KEY,
    display_name    text,
    role            text,
    country         text,
    county          text,
    language        text,
    detail          text,
    memory_enabled  bigint NOT NULL DEFAULT 1,
    updated_at      bigint NOT NULL
);

-- A conversation that reads and writes no memory.
ALTER TABLE chat_sessions ADD COLUMN temporary bigint NOT NULL DEFAULT 0;
