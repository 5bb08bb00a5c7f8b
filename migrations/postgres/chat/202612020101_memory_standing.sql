-- The memories every prompt considers whatever is asked (pinned ones and
-- the profile's), most recently used first, without reading the user's
-- other memories: a recall scanned all of them before.
CREATE INDEX IF NOT EXISTS memories_owner_standing ON memories (owner, last_used_at DESC)
    WHERE retention = 'pinned' OR kind = 'profile';
