//! The store conformance suite, run on SQLite and on the real PostgreSQL
//! the test command starts: conversations and accounts here, long-term
//! memory in `memories`, the job queue in `jobs`.

/// Runs each named suite function on both engines.
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $name() { super::$name(crate::store::sqlite().await).await } )*
        }
        mod postgres {
            $( #[tokio::test] async fn $name() { super::$name(crate::store::postgres().await).await } )*
        }
    };
}

mod jobs;
mod memories;

use crate::support::{postgres_url, sqlite_url};

use chat_server::{
    domain::{Scope, UserRole},
    store::{
        ChatStore, MessageStatus, NewTurn, Role, RunOutcome, RunStatus, Session, StoreError,
        ToolStatus,
        sql::{Engine, SqlStore},
        users::{NewKey, UserStore},
    },
};

pub(crate) async fn sqlite() -> SqlStore {
    let store = SqlStore::connect(&sqlite_url("store"), 4)
        .await
        .expect("sqlite");
    assert_eq!(store.engine(), Engine::Sqlite);
    store
}

pub(crate) async fn postgres() -> SqlStore {
    SqlStore::connect(&postgres_url(), 4)
        .await
        .expect("postgres")
}

async fn create(
    store: &SqlStore,
    owner: Option<&str>,
    title: &str,
    agent: Option<&str>,
) -> Session {
    let session = Session::new(owner, title, agent);
    store.create_session(&session).await.expect("create");
    session
}

/// A fresh owner per test keeps tests apart in a shared database.
pub(crate) fn owner() -> String {
    format!("user-{}", uuid::Uuid::new_v4())
}

async fn sessions_are_created_listed_renamed_and_deleted(store: SqlStore) {
    let me = owner();
    let first = create(&store, Some(&me), "First", Some("coordinator")).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let second = create(&store, Some(&me), "Second", None).await;
    let other = create(&store, Some(&owner()), "Someone else's", None).await;
    let mine = store.list_sessions(Some(&me), 10, 0).await.expect("list");
    assert_eq!(
        mine.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        vec![second.id.as_str(), first.id.as_str()]
    );
    assert!(
        !mine.iter().any(|s| s.id == other.id),
        "owners are kept apart"
    );
    assert_eq!(
        store.list_sessions(Some(&me), 1, 1).await.expect("page")[0].id,
        first.id
    );
    assert!(
        store
            .rename_session(&first.id, "Renamed")
            .await
            .expect("rename")
    );
    assert_eq!(
        store
            .session(&first.id)
            .await
            .expect("get")
            .expect("exists")
            .title,
        "Renamed"
    );
    assert!(
        !store
            .rename_session("no-such-id", "x")
            .await
            .expect("rename")
    );
    assert!(store.delete_session(&first.id).await.expect("delete"));
    assert!(store.session(&first.id).await.expect("get").is_none());
    assert!(
        !store
            .delete_session(&first.id)
            .await
            .expect("second delete")
    );
}

async fn a_run_keeps_its_messages_tool_calls_and_outcome(store: SqlStore) {
    let session = create(&store, Some(&owner()), "Run", None).await;
    let question = store
        .append_message(
            &session.id,
            None,
            Role::User,
            None,
            "How many schools in Lamu?",
            MessageStatus::Complete,
        )
        .await
        .expect("user message");
    let run = store
        .start_run(
            &uuid::Uuid::new_v4().to_string(),
            &session.id,
            "schools",
            "offline",
            "offline-planner",
        )
        .await
        .expect("run");
    assert_eq!(run.status, RunStatus::Running);
    let answer = store
        .append_message(
            &session.id,
            Some(&run.id),
            Role::Assistant,
            Some("schools"),
            "",
            MessageStatus::Streaming,
        )
        .await
        .expect("assistant message");
    assert_eq!((question.seq, answer.seq), (1, 2));
    let call = store
        .start_tool_call(
            &answer,
            "call_1",
            "school_statistics",
            r#"{"county":"Lamu","group_by":"level"}"#,
        )
        .await
        .expect("tool call");
    // Text is saved as it streams, then completed.
    store
        .update_message(&answer.id, "Lamu has", "", MessageStatus::Streaming)
        .await
        .expect("partial");
    store
        .finish_tool_call(&call.id, ToolStatus::Ok, r#"{"total":{"schools":102}}"#, 12)
        .await
        .expect("finish call");
    store
        .update_message(
            &answer.id,
            "Lamu has 102 schools.",
            "thinking",
            MessageStatus::Complete,
        )
        .await
        .expect("final");
    let outcome = RunOutcome {
        status: RunStatus::Completed,
        input_tokens: Some(120),
        output_tokens: Some(30),
        error: None,
        first_token_ms: Some(8),
    };
    store
        .finish_run(&run.id, &outcome)
        .await
        .expect("finish run");

    let messages = store.messages(&session.id).await.expect("messages");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1].content, "Lamu has 102 schools.");
    assert_eq!(messages[1].reasoning, "thinking");
    assert_eq!(messages[1].status, MessageStatus::Complete);
    assert_eq!(messages[1].agent.as_deref(), Some("schools"));
    let calls = store.tool_calls(&session.id).await.expect("calls");
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].status, calls[0].duration_ms),
        (ToolStatus::Ok, Some(12))
    );
    assert_eq!(
        calls[0].result.as_deref(),
        Some(r#"{"total":{"schools":102}}"#)
    );
    let saved = store.run(&run.id).await.expect("run").expect("exists");
    assert_eq!(
        (saved.status, saved.input_tokens, saved.output_tokens),
        (RunStatus::Completed, Some(120), Some(30))
    );
    assert!(saved.finished_at.is_some());
}

async fn deleting_a_session_removes_everything_it_holds(store: SqlStore) {
    let session = create(&store, Some(&owner()), "Doomed", None).await;
    let run = store
        .start_run(
            &uuid::Uuid::new_v4().to_string(),
            &session.id,
            "a",
            "offline",
            "m",
        )
        .await
        .expect("run");
    let message = store
        .append_message(
            &session.id,
            Some(&run.id),
            Role::Assistant,
            None,
            "x",
            MessageStatus::Complete,
        )
        .await
        .expect("message");
    store
        .start_tool_call(&message, "c", "t", "{}")
        .await
        .expect("call");
    assert!(store.delete_session(&session.id).await.expect("delete"));
    assert!(store.run(&run.id).await.expect("run").is_none());
    assert!(
        store
            .messages(&session.id)
            .await
            .expect("messages")
            .is_empty()
    );
    assert!(
        store
            .tool_calls(&session.id)
            .await
            .expect("calls")
            .is_empty()
    );
}

async fn unknown_ids_are_reported_not_invented(store: SqlStore) {
    assert!(store.session("nope").await.expect("get").is_none());
    assert!(store.run("nope").await.expect("get").is_none());
    let outcome = RunOutcome {
        status: RunStatus::Failed,
        input_tokens: None,
        output_tokens: None,
        error: None,
        first_token_ms: None,
    };
    assert!(store.finish_run("nope", &outcome).await.is_err());
    assert!(
        store
            .update_message("nope", "", "", MessageStatus::Failed)
            .await
            .is_err()
    );
    let bad = store
        .append_message(
            "no-such-session",
            None,
            Role::User,
            None,
            "hi",
            MessageStatus::Complete,
        )
        .await;
    assert!(bad.is_err(), "a message needs its session");
    store.ping().await.expect("ping");
}

fn turn<'a>(
    session: &'a Session,
    run_id: &'a str,
    message: &'a str,
    new_session: bool,
) -> NewTurn<'a> {
    NewTurn {
        session,
        new_session,
        message,
        run_id,
        agent: "coordinator",
        provider: "offline",
        model: "offline-planner",
    }
}

async fn a_turn_starts_in_one_transaction(store: SqlStore) {
    let session = Session::new(Some(&owner()), "Turns", None);
    let turn = |run_id, message, new_session| turn(&session, run_id, message, new_session);
    let first_run = &format!("run-{}", uuid::Uuid::new_v4());
    let answer = store
        .start_turn(&turn(first_run, "First question", true))
        .await
        .expect("turn");
    assert_eq!(
        (answer.seq, answer.role, answer.status),
        (2, Role::Assistant, MessageStatus::Streaming)
    );
    assert!(store.session(&session.id).await.expect("read").is_some());
    let run = store.run(first_run).await.expect("run").expect("saved");
    assert_eq!(run.status, RunStatus::Running);

    // Starting it again as a new session fails (the session exists) and
    // leaves nothing half-written.
    let again = store
        .start_turn(&turn("run-never", "Duplicate", true))
        .await;
    assert!(again.is_err());
    assert!(store.run("run-never").await.expect("run").is_none());
    let messages = store.messages(&session.id).await.expect("messages");
    assert_eq!(
        messages
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>(),
        vec!["First question", ""]
    );

    let second_run = &format!("run-{}", uuid::Uuid::new_v4());
    let next = store
        .start_turn(&turn(second_run, "Second question", false))
        .await
        .expect("turn");
    assert_eq!(next.seq, 4, "the next turn continues the session");
}

async fn users_and_api_keys_are_kept(store: SqlStore) {
    let name = format!("user-{}", uuid::Uuid::new_v4());
    let user = store
        .create_user(&name, Some("$argon2id$stub"), UserRole::Admin)
        .await
        .expect("user");
    assert!(matches!(
        store.create_user(&name, None, UserRole::User).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store.user_by_name(&name).await.expect("read"),
        Some(user.clone())
    );
    let hash = format!("{:064}", uuid::Uuid::new_v4().as_u128());
    let key = store
        .create_key(&NewKey {
            user_id: &user.id,
            name: "ci",
            prefix: "mas_abcdefgh",
            key_hash: &hash,
            scopes: &[Scope::Chat, Scope::Admin],
            expires_at: None,
        })
        .await
        .expect("key");
    let (found, owner) = store
        .key_by_hash(&hash)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(
        (found.id.as_str(), owner.id.as_str()),
        (key.id.as_str(), user.id.as_str())
    );
    assert_eq!(found.scopes, vec![Scope::Chat, Scope::Admin]);
    assert!(store.key_by_hash("0").await.expect("read").is_none());
    store.touch_key(&key.id, 42).await.expect("touch");
    store.touch_key(&key.id, 43).await.expect("touch");
    let listed = store.keys(Some(&user.id)).await.expect("keys");
    assert_eq!(
        (listed[0].usage_count, listed[0].last_used_at),
        (2, Some(43))
    );
    assert!(store.revoke_key(&key.id, 44).await.expect("revoke"));
    assert!(
        !store.revoke_key(&key.id, 45).await.expect("revoke"),
        "once"
    );
    assert_eq!(
        store.keys(Some(&user.id)).await.expect("keys")[0].revoked_at,
        Some(44)
    );
}

on_both_engines!(
    sessions_are_created_listed_renamed_and_deleted,
    a_run_keeps_its_messages_tool_calls_and_outcome,
    deleting_a_session_removes_everything_it_holds,
    unknown_ids_are_reported_not_invented,
    a_turn_starts_in_one_transaction,
    users_and_api_keys_are_kept,
);
