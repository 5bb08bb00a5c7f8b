-- Background jobs (memory extraction after a turn). On SQLite one process
-- writes at a time, so a claim is a plain UPDATE ... RETURNING; a job whose
-- worker died is claimed again once `locked_until` has passed. Done jobs
-- are deleted; failed ones stay for the operator. Times in epoch ms.
CREATE TABLE IF NOT EXISTS jobs (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('queued', 'running', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    run_after     INTEGER NOT NULL,
    locked_by     TEXT,
    locked_until  INTEGER,
    last_error    TEXT,
    created_at    INTEGER NOT NULL,
    finished_at   INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (kind, status, run_after);
