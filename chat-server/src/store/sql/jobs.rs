//! `JobStore` on `SqlStore`. PostgreSQL claims with `FOR UPDATE SKIP LOCKED`,
//! so replicas polling together each take a different job; SQLite has one
//! writer at a time, so the same UPDATE without it is already exclusive.

use async_trait::async_trait;
use sqlx::Row;

use super::{Engine, SqlStore, classify};
use crate::store::{
    StoreResult,
    jobs::{Job, JobStore, QueueDepth},
};

#[async_trait]
impl JobStore for SqlStore {
    async fn enqueue(&self, kind: &str, payload: &str, at: i64) -> StoreResult<String> {
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO jobs (id, kind, payload, status, attempts, run_after, created_at) \
             VALUES ($1, $2, $3, 'queued', 0, $4, $4)",
        )
        .bind(&id)
        .bind(kind)
        .bind(payload)
        .bind(at)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(id)
    }

    async fn claim(
        &self,
        kind: &str,
        worker: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<Option<Job>> {
        let lock = match self.engine() {
            Engine::Postgres => " FOR UPDATE SKIP LOCKED",
            Engine::Sqlite => "",
        };
        let row = sqlx::query(&format!(
            "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $2, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM jobs WHERE kind = $4 AND ((status = 'queued' AND run_after <= $3) \
             OR (status = 'running' AND locked_until < $3)) ORDER BY run_after LIMIT 1{lock}) \
             RETURNING id, kind, payload, attempts, created_at"
        ))
        .bind(worker)
        .bind(until)
        .bind(now)
        .bind(kind)
        .fetch_optional(self.pool())
        .await
        .map_err(classify)?;
        row.map(|row| {
            Ok(Job {
                id: row.try_get("id")?,
                kind: row.try_get("kind")?,
                payload: row.try_get("payload")?,
                attempts: row.try_get("attempts")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .transpose()
        .map_err(classify)
    }

    async fn complete(&self, id: &str, worker: &str) -> StoreResult<bool> {
        let done =
            sqlx::query("DELETE FROM jobs WHERE id = $1 AND locked_by = $2 AND status = 'running'")
                .bind(id)
                .bind(worker)
                .execute(self.pool())
                .await
                .map_err(classify)?;
        Ok(done.rows_affected() > 0)
    }

    async fn retry(&self, id: &str, worker: &str, at: i64, error: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'queued', run_after = $1, last_error = $2, locked_by = NULL, \
             locked_until = NULL WHERE id = $3 AND locked_by = $4 AND status = 'running'",
        )
        .bind(at)
        .bind(error)
        .bind(id)
        .bind(worker)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() > 0)
    }

    async fn fail(&self, id: &str, worker: &str, at: i64, error: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET status = 'failed', finished_at = $1, last_error = $2, locked_until = NULL \
             WHERE id = $3 AND locked_by = $4 AND status = 'running'",
        )
        .bind(at)
        .bind(error)
        .bind(id)
        .bind(worker)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() > 0)
    }

    async fn depth(&self) -> StoreResult<QueueDepth> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0) AS queued, \
             COALESCE(SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), 0) AS running, \
             COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS failed FROM jobs",
        )
        .fetch_one(self.pool())
        .await
        .map_err(classify)?;
        Ok(QueueDepth {
            queued: row.try_get("queued").map_err(classify)?,
            running: row.try_get("running").map_err(classify)?,
            failed: row.try_get("failed").map_err(classify)?,
        })
    }

    async fn prune_jobs(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM jobs WHERE status = 'failed' AND finished_at < $1")
            .bind(before)
            .execute(self.pool())
            .await
            .map_err(classify)?;
        Ok(done.rows_affected())
    }
}
