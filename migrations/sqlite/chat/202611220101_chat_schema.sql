-- Conversations of the chat server. Times are Unix epoch milliseconds; ids are UUID text.
CREATE TABLE IF NOT EXISTS chat_sessions (
    id          text PRIMARY KEY,
    owner       text,
    title       text NOT NULL,
    agent       text,
    created_at  integer NOT NULL,
    updated_at  integer NOT NULL
);
CREATE INDEX IF NOT EXISTS chat_sessions_owner_updated ON chat_sessions (owner, updated_at DESC);

CREATE TABLE IF NOT EXISTS chat_runs (
    id              text PRIMARY KEY,
    session_id      text NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    status          text NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    agent           text NOT NULL,
    provider        text NOT NULL,
    model           text NOT NULL,
    input_tokens    integer,
    output_tokens   integer,
    error           text,
    first_token_ms  integer,
    started_at      integer NOT NULL,
    finished_at     integer
);
CREATE INDEX IF NOT EXISTS chat_runs_session ON chat_runs (session_id, started_at);

CREATE TABLE IF NOT EXISTS chat_messages (
    id          text PRIMARY KEY,
    session_id  text NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    run_id      text REFERENCES chat_runs (id) ON DELETE CASCADE,
    seq         integer NOT NULL,
    role        text NOT NULL CHECK (role IN ('user', 'assistant')),
    agent       text,
    content     text NOT NULL,
    reasoning   text NOT NULL DEFAULT '',
    status      text NOT NULL CHECK (status IN ('streaming', 'complete', 'cancelled', 'failed')),
    created_at  integer NOT NULL,
    UNIQUE (session_id, seq)
);

CREATE TABLE IF NOT EXISTS chat_tool_calls (
    id           text PRIMARY KEY,
    session_id   text NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    run_id       text NOT NULL REFERENCES chat_runs (id) ON DELETE CASCADE,
    message_id   text NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    call_id      text NOT NULL,
    name         text NOT NULL,
    arguments    text NOT NULL,
    result       text,
    status       text NOT NULL CHECK (status IN ('running', 'ok', 'error', 'cancelled')),
    started_at   integer NOT NULL,
    duration_ms  integer
);
CREATE INDEX IF NOT EXISTS chat_tool_calls_message ON chat_tool_calls (message_id, started_at);
