//! Long-term memory end to end, with a fake model that records every prompt:
//! a fact told in one conversation is in a later one's prompt, by the rules
//! or by the model's extraction; `forget` and delete take it out of every
//! later prompt; a temporary chat reads and writes nothing; a short-term
//! memory lapses; the profile's county drives an offline answer; and two
//! users (two keys) never see each other's memories, on both engines.

use std::time::Duration;

use chat_server::{
    domain::UserRole,
    store::{
        memories::{MemoryKind, MemoryStore, NewMemory, Origin, Retention, Source, Windows},
        now_ms,
    },
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{FakeModel, TestApp, Turn, data, postgres_url, sse};

/// The system prompts the fake model was sent, in order.
async fn prompts(fake: &FakeModel) -> Vec<String> {
    fake.bodies()
        .await
        .iter()
        .map(|b| {
            b["messages"][0]["content"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

/// The tool names offered in the fake's last request.
async fn last_tools(fake: &FakeModel) -> Vec<String> {
    let bodies = fake.bodies().await;
    bodies.last().expect("a request")["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The memories `key`'s user keeps (`q`: a search).
async fn memories(app: &TestApp, key: Option<&str>, q: &str) -> Vec<Value> {
    let path = if q.is_empty() {
        "/api/memory".to_owned()
    } else {
        format!("/api/memory?q={q}")
    };
    let (status, body) = app.get(&path, key).await;
    assert_eq!(status, 200, "{body}");
    body["memories"].as_array().expect("memories").clone()
}

/// Waits until `key`'s user has `n` memories (the extraction job runs after the turn).
async fn wait_for(app: &TestApp, key: Option<&str>, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let found = memories(app, key, "").await;
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{n} memories never came: {:?}",
        memories(app, key, "").await
    )
}

async fn ask(app: &TestApp, message: &str, key: Option<&str>) -> Value {
    let (status, reply) = app.chat(json!({ "message": message }), key).await;
    assert_eq!(status, 200, "{reply}");
    reply
}

#[tokio::test]
async fn a_fact_told_in_one_conversation_is_in_a_later_conversations_prompt() {
    let fake = FakeModel::always(Turn::Text("Noted.")).await;
    let app = TestApp::builder()
        .model(&fake)
        .set("memory_extraction", "rules")
        .spawn()
        .await;
    ask(&app, "I work in Kisumu. Please answer in Swahili.", None).await;
    let kept = wait_for(&app, None, 2).await;
    let texts: Vec<&str> = kept.iter().filter_map(|m| m["text"].as_str()).collect();
    assert!(texts.contains(&"I work in Kisumu"), "{texts:?}");
    let first = kept
        .iter()
        .find(|m| m["text"] == "I work in Kisumu")
        .expect("kept");
    assert_eq!(first["origin"], "extracted");
    assert!(first["source"]["session_id"].is_string() && first["source"]["message_id"].is_string());
    let (_, profile) = app.get("/api/profile", None).await;
    assert_eq!(
        (profile["county"].as_str(), profile["language"].as_str()),
        (Some("Kisumu"), Some("Kiswahili"))
    );

    // A new conversation: the model is told.
    let reply = ask(&app, "How many schools are there?", None).await;
    let prompt = prompts(&fake).await.pop().expect("a prompt");
    assert!(prompt.contains("] I work in Kisumu"), "{prompt}");
    assert!(
        prompt.contains("Works in: Kisumu county (KE)") && prompt.contains("Answer in: Kiswahili"),
        "{prompt}"
    );
    assert!(
        reply["memories"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["text"] == "I work in Kisumu")),
        "the answer says which memories it used: {reply}"
    );
    assert!(last_tools(&fake).await.contains(&"remember".to_owned()));

    // The stream names them in a data-memory part.
    let parts = sse::parts(&sse::events(&app.stream("And in Kisumu?").await));
    let memory = parts
        .iter()
        .find(|p| p["type"] == "data-memory")
        .expect("a data-memory part");
    assert!(
        memory["data"]["memories"]
            .as_array()
            .is_some_and(|m| !m.is_empty()),
        "{memory}"
    );
}

#[tokio::test]
async fn the_models_extraction_is_kept_with_the_tool_result_it_came_from() {
    let fake = FakeModel::start(vec![
        Turn::Calls(vec![(
            "call-1",
            "search_schools",
            json!({ "query": "moi girls" }),
        )]),
        Turn::Text("Moi Girls is in Nairobi."),
        Turn::Text("Hello again."),
    ])
    .await;
    fake.extract_with(Turn::Text(
        "{\"memories\": [{\"text\": \"The user's school is Moi Girls\", \"kind\": \"fact\", \"retention\": \"long\", \"slot\": null, \"tool_call\": null}], \"profile\": {\"role\": \"teacher\"}}",
    ))
    .await;
    let app = TestApp::builder().model(&fake).spawn().await;
    ask(&app, "I teach at Moi Girls; where is it?", None).await;
    let kept = wait_for(&app, None, 1).await;
    assert_eq!(kept[0]["text"], "The user's school is Moi Girls");
    let extraction = fake.extractions.lock().await[0].body["messages"][1]["content"]
        .as_str()
        .expect("the turn")
        .to_owned();
    assert!(
        extraction.contains("User: I teach at Moi Girls") && extraction.contains("Tool result ["),
        "the extractor reads the turn with its tool results: {extraction}"
    );
    let (_, profile) = app.get("/api/profile", None).await;
    assert_eq!(profile["role"], "teacher");
    ask(&app, "Hello", None).await;
    assert!(
        prompts(&fake)
            .await
            .pop()
            .expect("prompt")
            .contains("The user's school is Moi Girls")
    );
}

#[tokio::test]
async fn forget_and_delete_take_a_memory_out_of_every_later_prompt() {
    let fake = FakeModel::start(vec![
        Turn::Text("One."),
        Turn::Calls(vec![("call-f", "forget", json!({ "id": "m1" }))]),
        Turn::Text("Forgotten."),
        Turn::Text("Two."),
        Turn::Text("Three."),
    ])
    .await;
    let app = TestApp::builder()
        .model(&fake)
        .set("memory_extraction", "off")
        .spawn()
        .await;
    for text in ["My school is Moi Girls", "I like maps"] {
        let (status, _, _) = app
            .call(
                Method::POST,
                "/api/memory",
                None,
                Some(json!({ "text": text })),
            )
            .await;
        assert_eq!(status, 201);
    }
    ask(&app, "Tell me about Moi Girls", None).await;
    let prompt = prompts(&fake).await.pop().expect("prompt");
    let handle = prompt
        .lines()
        .find(|l| l.contains("My school is Moi Girls"))
        .and_then(|l| l.split(']').next())
        .map(|h| h.trim_start_matches("- [").to_owned())
        .expect("a handle");
    assert_eq!(handle, "m1", "{prompt}");

    // The model forgets m1 when asked to.
    let reply = ask(&app, "Forget my school, please", None).await;
    let call = &reply["tool_calls"][0];
    assert_eq!(
        (call["tool"].as_str(), call["is_error"].as_bool()),
        (Some("forget"), Some(false)),
        "{reply}"
    );
    ask(&app, "Tell me about Moi Girls", None).await;
    let prompt = prompts(&fake).await.pop().expect("prompt");
    assert!(!prompt.contains("Moi Girls"), "forgotten: {prompt}");
    assert!(prompt.contains("I like maps"));

    // Deleted through the API: gone from the next prompt too.
    let id = memories(&app, None, "maps").await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, _, _) = app
        .call(Method::DELETE, &format!("/api/memory/{id}"), None, None)
        .await;
    assert_eq!(status, 204);
    ask(&app, "Maps?", None).await;
    assert!(
        !prompts(&fake)
            .await
            .pop()
            .expect("prompt")
            .contains("I like maps")
    );
}

/// An app learning by the rules, whose local user has pinned "I like maps";
/// its fake model answers "Fine." to everything.
async fn with_a_pinned_memory() -> (FakeModel, TestApp) {
    let fake = FakeModel::always(Turn::Text("Fine.")).await;
    let app = TestApp::builder()
        .model(&fake)
        .set("memory_extraction", "rules")
        .spawn()
        .await;
    app.call(
        Method::POST,
        "/api/memory",
        None,
        Some(json!({ "text": "I like maps", "retention": "pinned" })),
    )
    .await;
    (fake, app)
}

#[tokio::test]
async fn a_temporary_chat_reads_and_writes_no_memory() {
    let (fake, app) = with_a_pinned_memory().await;
    let (status, reply) = app
        .chat(
            json!({ "message": "Remember that I work in Nakuru", "temporary": true }),
            None,
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let prompt = prompts(&fake).await.pop().expect("prompt");
    assert!(!prompt.contains("I like maps"), "nothing read: {prompt}");
    assert!(
        !last_tools(&fake).await.contains(&"remember".to_owned()),
        "no memory tools"
    );
    let session = app
        .session(reply["session_id"].as_str().expect("session"))
        .await;
    assert_eq!(session["session"]["temporary"], true);
    // A later turn of the same conversation stays temporary.
    let (status, _) = app
        .chat(
            json!({ "message": "I am a teacher", "session_id": reply["session_id"] }),
            None,
        )
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let kept = memories(&app, None, "").await;
    assert_eq!(kept.len(), 1, "nothing written: {kept:?}");
    assert!(fake.extractions.lock().await.is_empty());
    let (status, body) = app
        .chat(
            json!({ "message": "x", "session_id": reply["session_id"], "temporary": true }),
            None,
        )
        .await;
    assert_eq!(status, 400, "temporary is for a new conversation: {body}");
}

#[tokio::test]
async fn a_short_term_memory_lapses_and_is_swept() {
    let fake = FakeModel::always(Turn::Text("Fine.")).await;
    let app = TestApp::builder().model(&fake).spawn().await;
    let day = 86_400_000;
    let windows = Windows {
        short_ms: 30 * day,
        long_ms: 365 * day,
    };
    let old = now_ms() - 31 * day;
    for (text, retention) in [
        ("an old short note about maps", Retention::Short),
        ("a long note about maps", Retention::Long),
    ] {
        app.store
            .add_memory(
                &NewMemory {
                    owner: "",
                    kind: MemoryKind::Fact,
                    text,
                    norm: text,
                    slot: None,
                    retention,
                    origin: Origin::Told,
                    source: Source::default(),
                    tokens: 6,
                    at: old,
                    expires_at: windows.expiry(retention, old),
                },
                1000,
                &windows,
            )
            .await
            .expect("add");
    }
    ask(&app, "maps", None).await;
    let prompt = prompts(&fake).await.pop().expect("prompt");
    assert!(!prompt.contains("an old short note"), "lapsed: {prompt}");
    assert!(prompt.contains("a long note about maps"), "{prompt}");
    assert_eq!(memories(&app, None, "").await.len(), 1, "not listed either");
    assert!(app.store.prune_memories(now_ms()).await.expect("sweep") >= 1);
}

#[tokio::test]
async fn the_profiles_county_drives_an_offline_answer() {
    let app = TestApp::spawn().await;
    let (status, body, _) = app
        .call(
            Method::PUT,
            "/api/profile",
            None,
            Some(json!({ "county": "kisumu", "role": "county_officer" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["county"].as_str(), body["country"].as_str()),
        (Some("Kisumu"), Some("KE"))
    );
    let reply = ask(&app, "How many schools are in my county?", None).await;
    let kisumu = data::kenya_schools_in("Kisumu");
    let text = reply["message"].as_str().expect("text");
    assert!(
        text.contains(&format!("**{kisumu}** schools in all")),
        "Kisumu has {kisumu}: {text}"
    );

    // Offline, "remember that ..." is saved with the remember tool.
    let reply = ask(&app, "Remember that my school is Kisumu Day", None).await;
    assert!(
        reply["message"]
            .as_str()
            .is_some_and(|t| t.contains("I will remember that")),
        "{reply}"
    );
    let kept = memories(&app, None, "kisumu day").await;
    assert_eq!(kept.len(), 1, "{kept:?}");
}

#[tokio::test]
async fn bad_memory_input_is_refused_and_nothing_is_written() {
    let app = TestApp::builder()
        .set("memory_max_per_user", 2)
        .spawn()
        .await;
    let post = |body: Value| app.call(Method::POST, "/api/memory", None, Some(body));
    for (body, says) in [
        (json!({ "text": "x".repeat(2_001) }), "too long"),
        (json!({ "text": "   " }), "empty"),
        (json!({ "text": "ok", "retention": "forever" }), "retention"),
        (json!({ "text": "ok", "owner": "someone-else" }), "owner"),
        (
            json!({ "text": "ok", "retention": "session" }),
            "conversation",
        ),
    ] {
        let (status, error, _) = post(body).await;
        assert_eq!(status, 400, "{error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(says)),
            "{error}"
        );
    }
    assert!(memories(&app, None, "").await.is_empty(), "nothing written");
    for text in ["one", "two"] {
        assert_eq!(
            post(json!({ "text": text, "retention": "long" })).await.0,
            201
        );
    }
    let (status, error, _) = post(json!({ "text": "three", "retention": "long" })).await;
    assert_eq!(status, 409, "{error}");
    assert_eq!(memories(&app, None, "").await.len(), 2);
    for (path, status) in [
        ("/api/memory?limit=0", 400),
        ("/api/memory?limit=abc", 400),
        (&format!("/api/memory?q={}", "w".repeat(201)) as &str, 400),
        ("/api/memory?q=the", 200),
    ] {
        assert_eq!(app.get(path, None).await.0, status, "{path}");
    }
    for (profile, field) in [
        (json!({ "county": "Atlantis" }), "county"),
        (json!({ "language": "Klingon" }), "language"),
        (json!({ "role": "king" }), "role"),
        (json!({ "display_name": "x".repeat(81) }), "display_name"),
    ] {
        let (status, error, _) = app
            .call(Method::PUT, "/api/profile", None, Some(profile))
            .await;
        assert_eq!(status, 400, "{error}");
        assert!(error.to_string().contains(field), "{error}");
    }
    let (_, profile) = app.get("/api/profile", None).await;
    assert_eq!(profile["county"], Value::Null, "nothing saved");
    let (status, _, _) = app
        .call(
            Method::PATCH,
            "/api/memory/no-such-id",
            None,
            Some(json!({ "text": "x" })),
        )
        .await;
    assert_eq!(status, 404);
}

/// Two users, two keys: memories never cross, in prompts, lists, search or export.
async fn two_users_never_see_each_others_memories(database: Option<String>) {
    let fake = FakeModel::always(Turn::Text("Sure.")).await;
    let mut builder = TestApp::builder()
        .auth_required()
        .model(&fake)
        .set("memory_extraction", "rules");
    if let Some(url) = &database {
        builder = builder.database(url);
    }
    let app = builder.spawn().await;
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let (alice, bob) = (format!("alice{suffix}"), format!("bob{suffix}"));
    app.user(&alice, UserRole::User).await;
    app.user(&bob, UserRole::User).await;
    let a = app.key(&alice, "chat,sessions:read,memory").await;
    let b = app.key(&bob, "chat,sessions:read,memory").await;
    let secret_a = format!("alice secret {suffix} Kisumu");
    let secret_b = format!("bob secret {suffix} Kisumu");
    for (key, text) in [(&a, &secret_a), (&b, &secret_b)] {
        let (status, body, _) = app
            .call(
                Method::POST,
                "/api/memory",
                Some(key),
                Some(json!({ "text": text })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    ask(&app, "I work in Nakuru", Some(&a)).await;
    wait_for(&app, Some(&a), 2).await;
    for (key, mine, theirs) in [(&a, &secret_a, &secret_b), (&b, &secret_b, &secret_a)] {
        ask(&app, &format!("Kisumu secret {suffix}"), Some(key)).await;
        let prompt = prompts(&fake).await.pop().expect("prompt");
        assert!(prompt.contains(mine.as_str()), "{prompt}");
        assert!(
            !prompt.contains(theirs.as_str()),
            "another user's memory in a prompt: {prompt}"
        );
        let listed = memories(&app, Some(key), "").await;
        let searched = memories(&app, Some(key), "secret").await;
        let (_, export) = app.get("/api/memory/export", Some(key)).await;
        for seen in [json!(listed), json!(searched), export] {
            let seen = seen.to_string();
            assert!(
                seen.contains(mine.as_str()) && !seen.contains(theirs.as_str()),
                "{seen}"
            );
        }
    }
    let bob_prompts: Vec<String> = prompts(&fake).await;
    assert!(
        bob_prompts
            .iter()
            .filter(|p| p.contains(&secret_b))
            .all(|p| !p.contains("Nakuru")),
        "alice's extracted memory never reaches bob"
    );
    // Alice's ids mean nothing to bob.
    let id = memories(&app, Some(&a), "secret").await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for method in [Method::PATCH, Method::DELETE] {
        let (status, _, _) = app
            .call(
                method,
                &format!("/api/memory/{id}"),
                Some(&b),
                Some(json!({ "text": "mine now" })),
            )
            .await;
        assert_eq!(status, 404);
    }
    assert_eq!(
        memories(&app, Some(&a), "secret").await[0]["text"],
        json!(secret_a)
    );
    // A key without the memory scope: no memory API, and its runs have none.
    let chat_only = app.key(&alice, "chat").await;
    assert_eq!(app.get("/api/memory", Some(&chat_only)).await.0, 403);
    ask(&app, &format!("Kisumu secret {suffix}"), Some(&chat_only)).await;
    assert!(
        !prompts(&fake)
            .await
            .pop()
            .expect("prompt")
            .contains(&secret_a)
    );
    // An admin reads no one's memories: only counts.
    let root = app.key("admin", "chat,sessions:read,memory,admin").await;
    assert!(
        !memories(&app, Some(&root), "")
            .await
            .iter()
            .any(|m| m.to_string().contains("secret"))
    );
    let (_, report) = app.get("/api/admin/security-report", Some(&root)).await;
    assert!(
        report["memory"]["total"].as_i64().is_some_and(|n| n >= 3),
        "{report}"
    );
    assert!(!report.to_string().contains(&secret_a));
    // Deleting alice deletes her memories and profile.
    let alice_id = app
        .store
        .user_by_name(&alice)
        .await
        .expect("read")
        .expect("alice")
        .id;
    let (status, _, _) = app
        .call(
            Method::DELETE,
            &format!("/api/admin/users/{alice_id}"),
            Some(&root),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(
        app.store
            .export_memories(&alice_id)
            .await
            .expect("export")
            .is_empty()
    );
    assert_eq!(app.store.profile(&alice_id).await.expect("profile"), None);
}

use chat_server::store::users::UserStore;

#[tokio::test]
async fn two_users_never_see_each_others_memories_on_sqlite() {
    two_users_never_see_each_others_memories(None).await;
}

#[tokio::test]
async fn two_users_never_see_each_others_memories_on_postgres() {
    two_users_never_see_each_others_memories(Some(postgres_url())).await;
}

#[tokio::test]
async fn with_memory_off_on_the_server_runs_neither_read_nor_write_it() {
    let fake = FakeModel::always(Turn::Text("Fine.")).await;
    let app = TestApp::builder()
        .model(&fake)
        .set("memory_enabled", false)
        .spawn()
        .await;
    let (status, body, _) = app
        .call(
            Method::POST,
            "/api/memory",
            None,
            Some(json!({ "text": "x" })),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("turned off"));
    ask(&app, "Remember that I work in Kisumu", None).await;
    assert!(!last_tools(&fake).await.contains(&"remember".to_owned()));
    let (status, body) = app.get("/api/memory", None).await;
    assert_eq!(
        (status, body["enabled"].as_bool()),
        (200, Some(false)),
        "still listed, to see and delete"
    );
}

#[tokio::test]
async fn memory_off_for_a_user_keeps_their_profile_but_no_memories() {
    let (fake, app) = with_a_pinned_memory().await;
    let (status, body, _) = app
        .call(
            Method::PUT,
            "/api/profile",
            None,
            Some(json!({ "display_name": "Achieng", "memory_enabled": false })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    ask(&app, "I am a teacher. Maps?", None).await;
    let prompt = prompts(&fake).await.pop().expect("prompt");
    assert!(
        prompt.contains("Name: Achieng") && !prompt.contains("I like maps"),
        "{prompt}"
    );
    assert!(!last_tools(&fake).await.contains(&"remember".to_owned()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(memories(&app, None, "").await.len(), 1, "nothing learnt");
}
