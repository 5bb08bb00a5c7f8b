-- Conversation search: a full-text index (FTS5) of each finished message's
-- words, accents folded. Its rows are numbered by `chat_message_search`
-- (a message's rowid is not kept by VACUUM, this number is), and kept by
-- triggers: a streaming answer is indexed when it ends. And pins in the
-- sidebar.
CREATE TABLE IF NOT EXISTS chat_message_search (
    n           INTEGER PRIMARY KEY,
    message_id  TEXT NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE IF NOT EXISTS chat_messages_fts USING fts5(
    content, tokenize = 'unicode61 remove_diacritics 2'
);
INSERT OR IGNORE INTO chat_message_search (message_id)
    SELECT id FROM chat_messages WHERE status <> 'streaming';
INSERT INTO chat_messages_fts (rowid, content)
    SELECT s.n, m.content FROM chat_message_search s JOIN chat_messages m ON m.id = s.message_id;
CREATE TRIGGER IF NOT EXISTS chat_messages_fts_insert AFTER INSERT ON chat_messages
    WHEN new.status <> 'streaming' BEGIN
    INSERT OR IGNORE INTO chat_message_search (message_id) VALUES (new.id);
    INSERT INTO chat_messages_fts (rowid, content)
        VALUES ((SELECT n FROM chat_message_search WHERE message_id = new.id), new.content);
END;
CREATE TRIGGER IF NOT EXISTS chat_messages_fts_update AFTER UPDATE OF content, status ON chat_messages
    WHEN new.status <> 'streaming' BEGIN
    INSERT OR IGNORE INTO chat_message_search (message_id) VALUES (new.id);
    DELETE FROM chat_messages_fts WHERE rowid = (SELECT n FROM chat_message_search WHERE message_id = new.id);
    INSERT INTO chat_messages_fts (rowid, content)
        VALUES ((SELECT n FROM chat_message_search WHERE message_id = new.id), new.content);
END;
CREATE TRIGGER IF NOT EXISTS chat_messages_fts_delete AFTER DELETE ON chat_messages BEGIN
    DELETE FROM chat_messages_fts WHERE rowid = (SELECT n FROM chat_message_search WHERE message_id = old.id);
    DELETE FROM chat_message_search WHERE message_id = old.id;
END;
ALTER TABLE chat_sessions ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
