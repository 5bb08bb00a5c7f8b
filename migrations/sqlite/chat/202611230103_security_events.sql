-- The audit log: failed sign-ins, invalid keys, permission denials, rate-limit
-- hits, key creation and revocation. Times in epoch ms.
CREATE TABLE IF NOT EXISTS security_events (
    id        integer PRIMARY KEY AUTOINCREMENT,
    at        integer NOT NULL,
    kind      text NOT NULL,
    user_id   text,
    username  text,
    address   text,
    detail    text NOT NULL
);
CREATE INDEX IF NOT EXISTS security_events_at ON security_events (at);
