-- Browser sign-ins: one row per login cookie, found by the SHA-256 of the
-- cookie's token; revoked at logout (or by an admin). Times in epoch ms.
CREATE TABLE IF NOT EXISTS logins (
    token_hash  text PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token  text NOT NULL,
    created_at  integer NOT NULL,
    expires_at  integer NOT NULL,
    revoked_at  integer
);
CREATE INDEX IF NOT EXISTS logins_user ON logins (user_id);
