-- Repeated identical security events within a window are one row: how many
-- (count), first seen (at) and last seen (last_at). The fingerprint names the
-- event and its window; old rows have none.
ALTER TABLE security_events ADD COLUMN count integer NOT NULL DEFAULT 1;
ALTER TABLE security_events ADD COLUMN last_at bigint;
ALTER TABLE security_events ADD COLUMN fingerprint text;
CREATE UNIQUE INDEX IF NOT EXISTS security_events_fingerprint ON security_events (fingerprint);
CREATE INDEX IF NOT EXISTS logins_expires_at ON logins (expires_at);
