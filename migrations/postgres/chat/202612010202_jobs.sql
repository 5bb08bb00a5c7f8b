-- Background jobs (memory extraction after a turn), shared by the replicas:
-- a worker claims one with FOR UPDATE SKIP LOCKED and holds it until
-- `locked_until`; a job whose worker died is claimed again after that. Done
-- jobs are deleted; failed ones stay for the operator. Times in epoch ms.
CREATE TABLE IF NOT EXISTS jobs (
    id            text PRIMARY KEY,
    kind          text NOT NULL,
    payload       text NOT NULL,
    status        text NOT NULL CHECK (status IN ('queued', 'running', 'failed')),
    attempts      bigint NOT NULL DEFAULT 0,
    run_after     bigint NOT NULL,
    locked_by     text,
    locked_until  bigint,
    last_error    text,
    created_at    bigint NOT NULL,
    finished_at   bigint
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (kind, status, run_after);
