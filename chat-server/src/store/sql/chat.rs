//! `ChatStore` on `SqlStore`: sessions, turns, messages, tool calls and runs.

use async_trait::async_trait;
use sqlx::{AnyConnection, Row};

use super::{
    Engine, SqlStore, classify,
    rows::{message, message_status_str, run, run_status_str, session, tool_call, tool_status_str},
};
use crate::store::{
    ChatStore, MessageRecord, MessageStatus, NewTurn, Role, RunOutcome, RunRecord, RunStatus,
    Session, SessionSummary, StoreError, StoreResult, ToolCallRecord, ToolStatus, USAGE_HOUR_MS,
    UsageRecord, now_ms,
};

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn insert_session(conn: &mut AnyConnection, session: &Session) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO chat_sessions (id, owner, title, agent, created_at, updated_at, temporary) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&session.id)
    .bind(&session.owner)
    .bind(&session.title)
    .bind(&session.agent)
    .bind(session.created_at)
    .bind(session.updated_at)
    .bind(i64::from(session.temporary))
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_run(
    conn: &mut AnyConnection,
    run_id: &str,
    session_id: &str,
    agent: &str,
    provider: &str,
    model: &str,
) -> sqlx::Result<RunRecord> {
    let record = RunRecord {
        id: run_id.to_owned(),
        session_id: session_id.to_owned(),
        status: RunStatus::Running,
        agent: agent.to_owned(),
        provider: provider.to_owned(),
        model: model.to_owned(),
        input_tokens: None,
        output_tokens: None,
        error: None,
        first_token_ms: None,
        started_at: now_ms(),
        finished_at: None,
    };
    sqlx::query(
        "INSERT INTO chat_runs (id, session_id, status, agent, provider, model, started_at) \
         VALUES ($1, $2, 'running', $3, $4, $5, $6)",
    )
    .bind(&record.id)
    .bind(session_id)
    .bind(agent)
    .bind(provider)
    .bind(model)
    .bind(record.started_at)
    .execute(conn)
    .await?;
    Ok(record)
}

/// Appends a message at the end of its session (the next `seq`).
async fn insert_message(
    conn: &mut AnyConnection,
    session_id: &str,
    run_id: Option<&str>,
    role: Role,
    agent: Option<&str>,
    content: &str,
    status: MessageStatus,
) -> sqlx::Result<MessageRecord> {
    let now = now_ms();
    let row = sqlx::query(
        "INSERT INTO chat_messages (id, session_id, run_id, seq, role, agent, content, reasoning, status, created_at) \
         SELECT $1, $2, $3, coalesce(max(seq), 0) + 1, $4, $5, $6, '', $7, $8 FROM chat_messages WHERE session_id = $9 \
         RETURNING *",
    )
    .bind(new_id())
    .bind(session_id)
    .bind(run_id)
    .bind(if role == Role::User { "user" } else { "assistant" })
    .bind(agent)
    .bind(content)
    .bind(message_status_str(status))
    .bind(now)
    .bind(session_id)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("UPDATE chat_sessions SET updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(session_id)
        .execute(&mut *conn)
        .await?;
    message(&row)
}

#[async_trait]
impl ChatStore for SqlStore {
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(classify)?;
        insert_session(&mut conn, session).await.map_err(classify)
    }

    async fn session(&self, id: &str) -> StoreResult<Option<Session>> {
        let row = sqlx::query("SELECT * FROM chat_sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.as_ref().map(session).transpose().map_err(classify)
    }

    async fn list_sessions(
        &self,
        owner: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<Session>> {
        let rows = match owner {
            Some(owner) => {
                sqlx::query("SELECT * FROM chat_sessions WHERE owner = $1 ORDER BY pinned DESC, updated_at DESC, id LIMIT $2 OFFSET $3")
                    .bind(owner)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                sqlx::query("SELECT * FROM chat_sessions ORDER BY pinned DESC, updated_at DESC, id LIMIT $1 OFFSET $2")
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(classify)?;
        rows.iter()
            .map(session)
            .collect::<Result<_, _>>()
            .map_err(classify)
    }

    async fn rename_session(&self, id: &str, title: &str) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE chat_sessions SET title = $1, updated_at = $2 WHERE id = $3")
                .bind(title)
                .bind(now_ms())
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn pin_session(&self, id: &str, pinned: bool) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE chat_sessions SET pinned = $1 WHERE id = $2")
            .bind(i64::from(pinned))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn session_summary(&self, session_id: &str) -> StoreResult<Option<SessionSummary>> {
        let row = sqlx::query("SELECT * FROM session_summaries WHERE session_id = $1")
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.map(|row| {
            Ok(SessionSummary {
                session_id: row.try_get("session_id")?,
                through_seq: row.try_get("through_seq")?,
                turns: row.try_get("turns")?,
                text: row.try_get("text")?,
                made_by: row.try_get("made_by")?,
                updated_at: row.try_get("updated_at")?,
            })
        })
        .transpose()
        .map_err(classify)
    }

    async fn save_session_summary(&self, s: &SessionSummary) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO session_summaries (session_id, through_seq, turns, text, made_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id) DO UPDATE SET \
             through_seq = excluded.through_seq, turns = excluded.turns, text = excluded.text, \
             made_by = excluded.made_by, updated_at = excluded.updated_at \
             WHERE session_summaries.through_seq < excluded.through_seq",
        )
        .bind(&s.session_id)
        .bind(s.through_seq)
        .bind(s.turns)
        .bind(&s.text)
        .bind(&s.made_by)
        .bind(s.updated_at)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() > 0)
    }

    async fn search_messages(
        &self,
        owner: Option<&str>,
        terms: &[String],
        limit: i64,
    ) -> StoreResult<Vec<MessageRecord>> {
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let (matched, from) = match self.engine() {
            Engine::Postgres => (
                "to_tsvector('simple', m.content) @@ to_tsquery('simple', $1)",
                "chat_messages m",
            ),
            Engine::Sqlite => (
                "chat_messages_fts MATCH $1",
                "chat_messages_fts f JOIN chat_message_search x ON x.n = f.rowid \
                 JOIN chat_messages m ON m.id = x.message_id",
            ),
        };
        let whose = if owner.is_some() {
            "s.owner = $3"
        } else {
            "s.owner IS NULL"
        };
        let sql = format!(
            "SELECT m.* FROM {from} JOIN chat_sessions s ON s.id = m.session_id \
             WHERE {matched} AND {whose} AND m.status <> 'streaming' \
             ORDER BY m.created_at DESC, m.seq DESC LIMIT $2"
        );
        let mut query = sqlx::query(&sql).bind(self.text_query(terms)).bind(limit);
        if let Some(owner) = owner {
            query = query.bind(owner);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(classify)?;
        rows.iter()
            .map(message)
            .collect::<Result<_, _>>()
            .map_err(classify)
    }

    async fn delete_session(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.write_tx().await.map_err(classify)?;
        // Memories kept for this conversation only go with it.
        sqlx::query("DELETE FROM memories WHERE retention = 'session' AND source_session = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let done = sqlx::query("DELETE FROM chat_sessions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn start_run(
        &self,
        run_id: &str,
        session_id: &str,
        agent: &str,
        provider: &str,
        model: &str,
    ) -> StoreResult<RunRecord> {
        let mut conn = self.pool.acquire().await.map_err(classify)?;
        insert_run(&mut conn, run_id, session_id, agent, provider, model)
            .await
            .map_err(classify)
    }

    async fn start_turn(&self, turn: &NewTurn<'_>) -> StoreResult<MessageRecord> {
        let mut tx = self.write_tx().await.map_err(classify)?;
        let session = turn.session;
        if turn.new_session {
            insert_session(&mut tx, session).await.map_err(classify)?;
        }
        insert_message(
            &mut tx,
            &session.id,
            None,
            Role::User,
            None,
            turn.message,
            MessageStatus::Complete,
        )
        .await
        .map_err(classify)?;
        insert_run(
            &mut tx,
            turn.run_id,
            &session.id,
            turn.agent,
            turn.provider,
            turn.model,
        )
        .await
        .map_err(classify)?;
        let answer = insert_message(
            &mut tx,
            &session.id,
            Some(turn.run_id),
            Role::Assistant,
            Some(turn.agent),
            "",
            MessageStatus::Streaming,
        )
        .await
        .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        Ok(answer)
    }

    async fn finish_run(&self, run_id: &str, outcome: &RunOutcome) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE chat_runs SET status = $1, input_tokens = $2, output_tokens = $3, error = $4, \
             first_token_ms = $5, finished_at = $6 WHERE id = $7",
        )
        .bind(run_status_str(outcome.status))
        .bind(outcome.input_tokens)
        .bind(outcome.output_tokens)
        .bind(&outcome.error)
        .bind(outcome.first_token_ms)
        .bind(now_ms())
        .bind(run_id)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        if done.rows_affected() == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    async fn run(&self, run_id: &str) -> StoreResult<Option<RunRecord>> {
        let row = sqlx::query("SELECT * FROM chat_runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.as_ref().map(run).transpose().map_err(classify)
    }

    async fn session_runs(&self, session_id: &str) -> StoreResult<Vec<RunRecord>> {
        let rows =
            sqlx::query("SELECT * FROM chat_runs WHERE session_id = $1 ORDER BY started_at, id")
                .bind(session_id)
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
        rows.iter()
            .map(run)
            .collect::<Result<_, _>>()
            .map_err(classify)
    }

    async fn append_message(
        &self,
        session_id: &str,
        run_id: Option<&str>,
        role: Role,
        agent: Option<&str>,
        content: &str,
        status: MessageStatus,
    ) -> StoreResult<MessageRecord> {
        let mut conn = self.pool.acquire().await.map_err(classify)?;
        insert_message(&mut conn, session_id, run_id, role, agent, content, status)
            .await
            .map_err(classify)
    }

    async fn update_message(
        &self,
        id: &str,
        content: &str,
        reasoning: &str,
        status: MessageStatus,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE chat_messages SET content = $1, reasoning = $2, status = $3 WHERE id = $4",
        )
        .bind(content)
        .bind(reasoning)
        .bind(message_status_str(status))
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        if done.rows_affected() == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    async fn messages(&self, session_id: &str) -> StoreResult<Vec<MessageRecord>> {
        let rows = sqlx::query("SELECT * FROM chat_messages WHERE session_id = $1 ORDER BY seq")
            .bind(session_id)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        rows.iter()
            .map(message)
            .collect::<Result<_, _>>()
            .map_err(classify)
    }

    async fn start_tool_call(
        &self,
        message: &MessageRecord,
        call_id: &str,
        name: &str,
        arguments: &str,
    ) -> StoreResult<ToolCallRecord> {
        let run_id = message.run_id.clone().ok_or(StoreError::NotFound)?;
        let record = ToolCallRecord {
            id: new_id(),
            session_id: message.session_id.clone(),
            run_id,
            message_id: message.id.clone(),
            call_id: call_id.to_owned(),
            name: name.to_owned(),
            arguments: arguments.to_owned(),
            result: None,
            status: ToolStatus::Running,
            started_at: now_ms(),
            duration_ms: None,
        };
        sqlx::query(
            "INSERT INTO chat_tool_calls (id, session_id, run_id, message_id, call_id, name, arguments, status, started_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8)",
        )
        .bind(&record.id)
        .bind(&record.session_id)
        .bind(&record.run_id)
        .bind(&record.message_id)
        .bind(call_id)
        .bind(name)
        .bind(arguments)
        .bind(record.started_at)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(record)
    }

    async fn finish_tool_call(
        &self,
        id: &str,
        status: ToolStatus,
        result: &str,
        duration_ms: i64,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE chat_tool_calls SET status = $1, result = $2, duration_ms = $3 WHERE id = $4",
        )
        .bind(tool_status_str(status))
        .bind(result)
        .bind(duration_ms)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        if done.rows_affected() == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    async fn tool_calls(&self, session_id: &str) -> StoreResult<Vec<ToolCallRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM chat_tool_calls WHERE session_id = $1 ORDER BY started_at, id",
        )
        .bind(session_id)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter()
            .map(tool_call)
            .collect::<Result<_, _>>()
            .map_err(classify)
    }

    async fn record_usage(
        &self,
        owner: Option<&str>,
        at: i64,
        run: bool,
        tokens: u64,
    ) -> StoreResult<()> {
        let tokens = i64::try_from(tokens).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO usage_hourly (owner, hour, runs, tokens) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (owner, hour) DO UPDATE SET runs = usage_hourly.runs + excluded.runs, \
             tokens = usage_hourly.tokens + excluded.tokens",
        )
        .bind(owner.unwrap_or(""))
        .bind(at / USAGE_HOUR_MS)
        .bind(i64::from(run))
        .bind(tokens)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn usage_since(&self, at: i64, limit: i64) -> StoreResult<Vec<UsageRecord>> {
        let rows = sqlx::query(
            "SELECT owner, CAST(SUM(runs) AS BIGINT) AS runs, CAST(SUM(tokens) AS BIGINT) AS tokens \
             FROM usage_hourly WHERE hour >= $1 GROUP BY owner ORDER BY runs DESC, tokens DESC, owner \
             LIMIT $2",
        )
        .bind(at / USAGE_HOUR_MS)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter()
            .map(|row| {
                let owner: String = row.try_get("owner")?;
                Ok(UsageRecord {
                    owner: (!owner.is_empty()).then_some(owner),
                    runs: row.try_get("runs")?,
                    tokens: row.try_get("tokens")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(classify)
    }

    async fn prune_usage(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM usage_hourly WHERE hour < $1")
            .bind(before / USAGE_HOUR_MS)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(classify)
            .map(|_| ())
    }
}
