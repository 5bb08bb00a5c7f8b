-- Users (passwords as Argon2id PHC strings) and their API keys (only a
-- SHA-256 of each key is kept; the key itself is shown once). Times are Unix
-- epoch milliseconds.
CREATE TABLE IF NOT EXISTS users (
    id             text PRIMARY KEY,
    username       text NOT NULL UNIQUE,
    password_hash  text,
    role           text NOT NULL CHECK (role IN ('user', 'admin')),
    created_at     bigint NOT NULL,
    disabled_at    bigint
);

CREATE TABLE IF NOT EXISTS api_keys (
    id            text PRIMARY KEY,
    user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL,
    prefix        text NOT NULL,
    key_hash      text NOT NULL UNIQUE,
    scopes        text NOT NULL,
    created_at    bigint NOT NULL,
    expires_at    bigint,
    last_used_at  bigint,
    usage_count   bigint NOT NULL DEFAULT 0,
    revoked_at    bigint
);
CREATE INDEX IF NOT EXISTS api_keys_user ON api_keys (user_id, created_at);
