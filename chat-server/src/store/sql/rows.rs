//! Rows read into records, and the statuses' names in the database.

use sqlx::{Row, any::AnyRow};

use crate::store::{
    MessageRecord, MessageStatus, Role, RunRecord, RunStatus, Session, ToolCallRecord, ToolStatus,
};

pub(super) fn session(row: &AnyRow) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        title: row.try_get("title")?,
        agent: row.try_get("agent")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        temporary: row.try_get::<i64, _>("temporary")? != 0,
        pinned: row.try_get::<i64, _>("pinned")? != 0,
    })
}

pub(super) fn role(s: &str) -> Role {
    if s == "user" {
        Role::User
    } else {
        Role::Assistant
    }
}

pub(super) fn message_status(s: &str) -> MessageStatus {
    match s {
        "streaming" => MessageStatus::Streaming,
        "cancelled" => MessageStatus::Cancelled,
        "failed" => MessageStatus::Failed,
        _ => MessageStatus::Complete,
    }
}

pub(super) fn message_status_str(s: MessageStatus) -> &'static str {
    match s {
        MessageStatus::Streaming => "streaming",
        MessageStatus::Complete => "complete",
        MessageStatus::Cancelled => "cancelled",
        MessageStatus::Failed => "failed",
    }
}

pub(super) fn tool_status(s: &str) -> ToolStatus {
    match s {
        "running" => ToolStatus::Running,
        "ok" => ToolStatus::Ok,
        "cancelled" => ToolStatus::Cancelled,
        _ => ToolStatus::Error,
    }
}

pub(super) fn tool_status_str(s: ToolStatus) -> &'static str {
    match s {
        ToolStatus::Running => "running",
        ToolStatus::Ok => "ok",
        ToolStatus::Error => "error",
        ToolStatus::Cancelled => "cancelled",
    }
}

pub(super) fn run_status(s: &str) -> RunStatus {
    match s {
        "running" => RunStatus::Running,
        "completed" => RunStatus::Completed,
        "cancelled" => RunStatus::Cancelled,
        _ => RunStatus::Failed,
    }
}

pub(super) fn run_status_str(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Running => "running",
        RunStatus::Completed => "completed",
        RunStatus::Failed => "failed",
        RunStatus::Cancelled => "cancelled",
    }
}

pub(super) fn message(row: &AnyRow) -> Result<MessageRecord, sqlx::Error> {
    Ok(MessageRecord {
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
        run_id: row.try_get("run_id")?,
        seq: row.try_get("seq")?,
        role: role(&row.try_get::<String, _>("role")?),
        agent: row.try_get("agent")?,
        content: row.try_get("content")?,
        reasoning: row.try_get("reasoning")?,
        status: message_status(&row.try_get::<String, _>("status")?),
        created_at: row.try_get("created_at")?,
    })
}

pub(super) fn tool_call(row: &AnyRow) -> Result<ToolCallRecord, sqlx::Error> {
    Ok(ToolCallRecord {
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
        run_id: row.try_get("run_id")?,
        message_id: row.try_get("message_id")?,
        call_id: row.try_get("call_id")?,
        name: row.try_get("name")?,
        arguments: row.try_get("arguments")?,
        result: row.try_get("result")?,
        status: tool_status(&row.try_get::<String, _>("status")?),
        started_at: row.try_get("started_at")?,
        duration_ms: row.try_get("duration_ms")?,
    })
}

pub(super) fn run(row: &AnyRow) -> Result<RunRecord, sqlx::Error> {
    Ok(RunRecord {
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
        status: run_status(&row.try_get::<String, _>("status")?),
        agent: row.try_get("agent")?,
        provider: row.try_get("provider")?,
        model: row.try_get("model")?,
        input_tokens: row.try_get("input_tokens")?,
        output_tokens: row.try_get("output_tokens")?,
        error: row.try_get("error")?,
        first_token_ms: row.try_get("first_token_ms")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}
