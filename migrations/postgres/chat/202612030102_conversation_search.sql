-- Conversation search: each message's words (PostgreSQL's `simple`
-- configuration: lower case, every word, no stemming), by an expression
-- index the search query repeats; and pins in the sidebar.
CREATE INDEX IF NOT EXISTS chat_messages_search ON chat_messages
    USING gin (to_tsvector('simple', content));
ALTER TABLE chat_sessions ADD COLUMN IF NOT EXISTS pinned bigint NOT NULL DEFAULT 0;
