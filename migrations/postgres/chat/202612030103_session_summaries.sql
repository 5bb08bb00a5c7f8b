-- A long conversation's summary, made in the background: the turns up to
-- message `through_seq` (`turns` of them) as the model reads them from
-- then on, by the configured model or, with none, extractively.
CREATE TABLE IF NOT EXISTS session_summaries (
    session_id   text PRIMARY KEY REFERENCES chat_sessions (id) ON DELETE CASCADE,
    through_seq  bigint NOT NULL,
    turns        bigint NOT NULL,
    text         text NOT NULL,
    made_by      text NOT NULL CHECK (made_by IN ('model', 'extractive')),
    updated_at   bigint NOT NULL
);
