//! One user's memory bound to one run: the recollection before each model
//! step and the memory tools (`remember`, `recall`, `forget`). The owner is
//! fixed when the run starts; nothing here takes one from the model. The
//! prompt names memories by short handles (`m1`, `m2`, stable for the run)
//! rather than their ids, which the tools resolve back.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Memories, MemoryInput, recall, text};
use crate::{
    agent::{RecalledMemory, Recollection, UserMemory},
    domain::{ToolCall, ToolResult, ToolSpec},
    store::{
        memories::{Memory, MemoryKind, Origin, Retention, Source},
        now_ms,
    },
};

/// Candidates taken from the index for one recollection: matches of the
/// question's words, and standing (pinned, profile, recent) ones.
const CANDIDATES: (usize, usize) = (200, 32);

/// Memories one `recall` call answers with.
const RECALL_RESULTS: usize = 10;

pub struct RunMemory {
    memories: Arc<Memories>,
    owner: String,
    session_id: String,
    /// Ids by handle: `m{n}` is `handles[n - 1]`.
    handles: Mutex<Vec<String>>,
    /// Whether the user has memory on (from their profile, read at recall).
    enabled: std::sync::atomic::AtomicBool,
}

#[derive(Deserialize)]
struct RememberArgs {
    text: String,
    #[serde(default)]
    kind: Option<MemoryKind>,
    #[serde(default)]
    retention: Option<Retention>,
}

#[derive(Deserialize)]
struct RecallArgs {
    #[serde(default)]
    query: String,
}

#[derive(Deserialize)]
struct ForgetArgs {
    id: String,
}

fn result(call: &ToolCall, content: Value, is_error: bool) -> ToolResult {
    ToolResult {
        call_id: call.id.clone(),
        name: call.name.clone(),
        content: content.to_string(),
        is_error,
    }
}

fn failed(call: &ToolCall, message: impl std::fmt::Display) -> ToolResult {
    ToolResult {
        call_id: call.id.clone(),
        name: call.name.clone(),
        content: message.to_string(),
        is_error: true,
    }
}

impl RunMemory {
    pub fn new(memories: Arc<Memories>, owner: &str, session_id: &str) -> Self {
        RunMemory {
            memories,
            owner: owner.to_owned(),
            session_id: session_id.to_owned(),
            handles: Mutex::new(Vec::new()),
            enabled: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// The handle of memory `id`, given one if it has none yet.
    fn handle(&self, id: &str) -> String {
        let mut handles = self.handles.lock().unwrap_or_else(|e| e.into_inner());
        let n = match handles.iter().position(|h| h == id) {
            Some(i) => i + 1,
            None => {
                handles.push(id.to_owned());
                handles.len()
            }
        };
        format!("m{n}")
    }

    /// The id a handle (or an id) names.
    fn resolve(&self, handle: &str) -> String {
        let handles = self.handles.lock().unwrap_or_else(|e| e.into_inner());
        handle
            .trim()
            .strip_prefix('m')
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| handles.get(n.checked_sub(1)?).cloned())
            .unwrap_or_else(|| handle.trim().to_owned())
    }

    fn enabled(&self) -> bool {
        self.enabled.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts the use of `chosen` (`Memories::used`).
    fn mark_used(&self, chosen: &[Memory]) {
        let ids: Vec<String> = chosen.iter().map(|m| m.id.clone()).collect();
        self.memories.used(&self.owner, &ids);
    }

    /// The memories `question` calls for, best first, within `budget`
    /// tokens; with `matched_only`, only those that match its words.
    async fn choose(
        &self,
        question: &str,
        budget: i64,
        matched_only: bool,
    ) -> Result<Vec<Memory>, crate::store::StoreError> {
        let now = now_ms();
        let terms = text::terms(question);
        let index = self
            .memories
            .index()
            .of(self.memories.store().as_ref(), &self.owner, now)
            .await?;
        let candidates = index.candidates(&terms, Some(&self.session_id), now, CANDIDATES);
        Ok(recall::choose(
            candidates,
            &terms,
            now,
            budget,
            matched_only,
        ))
    }

    async fn remember(&self, call: &ToolCall) -> ToolResult {
        let args: RememberArgs = match serde_json::from_value(call.arguments.clone()) {
            Ok(args) => args,
            Err(e) => {
                return failed(
                    call,
                    format!("remember takes {{ text, kind?, retention? }}: {e}"),
                );
            }
        };
        let input = MemoryInput {
            text: args.text,
            kind: args.kind,
            retention: args.retention,
        };
        let source = Source {
            session_id: Some(self.session_id.clone()),
            ..Source::default()
        };
        match self
            .memories
            .add(&self.owner, &input, Origin::Tool, source, None)
            .await
        {
            Ok(memory) => result(
                call,
                json!({ "remembered": { "id": self.handle(&memory.id), "text": memory.text, "retention": memory.retention } }),
                false,
            ),
            Err(e) => failed(call, e),
        }
    }

    async fn recall_tool(&self, call: &ToolCall) -> ToolResult {
        let args: RecallArgs =
            serde_json::from_value(call.arguments.clone()).unwrap_or(RecallArgs {
                query: String::new(),
            });
        let found = match self.choose(&args.query, i64::MAX, true).await {
            Ok(found) => found,
            Err(e) => return failed(call, e),
        };
        let found: Vec<Memory> = found.into_iter().take(RECALL_RESULTS).collect();
        self.mark_used(&found);
        let listed: Vec<Value> = found
            .iter()
            .map(|m| json!({ "id": self.handle(&m.id), "text": m.text, "kind": m.kind, "retention": m.retention }))
            .collect();
        result(call, json!({ "memories": listed }), false)
    }

    async fn forget(&self, call: &ToolCall) -> ToolResult {
        let args: ForgetArgs = match serde_json::from_value(call.arguments.clone()) {
            Ok(args) => args,
            Err(e) => return failed(call, format!("forget takes {{ id }}: {e}")),
        };
        let id = self.resolve(&args.id);
        let store = self.memories.store();
        let text = match store.memory(&self.owner, &id).await {
            Ok(Some(memory)) => memory.text,
            Ok(None) => return failed(call, format!("no memory has id {:?}", args.id)),
            Err(e) => return failed(call, e),
        };
        match self.memories.delete(&self.owner, &id).await {
            Ok(()) => result(call, json!({ "forgotten": text }), false),
            Err(e) => failed(call, e),
        }
    }
}

#[async_trait]
impl UserMemory for RunMemory {
    async fn recall(&self, question: &str) -> Recollection {
        let profile = match self.memories.profiles().get(&self.owner).await {
            Ok(profile) => profile,
            Err(e) => {
                // Memory is a help, not a condition: the answer goes on without it.
                tracing::warn!(error = %e, "reading the profile failed");
                return Recollection::default();
            }
        };
        self.enabled
            .store(profile.memory_enabled, std::sync::atomic::Ordering::Relaxed);
        let mut prompt = recall::profile_section(&profile);
        let budget = self.memories.settings().token_budget - text::tokens(&prompt);
        let chosen = if profile.memory_enabled {
            self.choose(question, budget, false)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "recalling memories failed");
                    Vec::new()
                })
        } else {
            Vec::new()
        };
        self.mark_used(&chosen);
        let handled: Vec<(String, &Memory)> =
            chosen.iter().map(|m| (self.handle(&m.id), m)).collect();
        prompt.push_str(&recall::memories_section(&handled));
        Recollection {
            prompt,
            profile: (!profile.is_empty()).then_some(profile),
            memories: chosen
                .iter()
                .map(|m| RecalledMemory {
                    id: m.id.clone(),
                    text: m.text.clone(),
                    kind: m.kind.as_str().to_owned(),
                })
                .collect(),
        }
    }

    fn tools(&self) -> Vec<ToolSpec> {
        if !self.enabled() {
            return Vec::new();
        }
        vec![
            ToolSpec {
                name: "remember".into(),
                description: "Save something about the user for later conversations, when they ask you to remember \
                              it or state a lasting fact or preference. The user can see and delete it."
                    .into(),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "text": { "type": "string", "maxLength": text::MAX_MEMORY_CHARS, "description": "What to remember, in the user's words." },
                        "kind": { "type": "string", "enum": ["fact", "preference", "profile"] },
                        "retention": { "type": "string", "enum": ["session", "short", "long", "pinned"], "description": "session: this conversation; short: 30 days unused; long: a year unused; pinned: until removed." }
                    },
                    "required": ["text"],
                    "additionalProperties": false
                }),
            },
            ToolSpec {
                name: "recall".into(),
                description: "Search what you remember about the user.".into(),
                parameters: json!({
                    "type": "object",
                    "properties": { "query": { "type": "string", "description": "Words to look for; empty for the most relevant." } },
                    "additionalProperties": false
                }),
            },
            ToolSpec {
                name: "forget".into(),
                description: "Delete a memory when the user asks you to forget it, by its handle (m1, m2...).".into(),
                parameters: json!({
                    "type": "object",
                    "properties": { "id": { "type": "string" } },
                    "required": ["id"],
                    "additionalProperties": false
                }),
            },
        ]
    }

    async fn call(&self, call: &ToolCall) -> Option<ToolResult> {
        if !self.enabled() {
            return None;
        }
        Some(match call.name.as_str() {
            "remember" => self.remember(call).await,
            "recall" => self.recall_tool(call).await,
            "forget" => self.forget(call).await,
            _ => return None,
        })
    }
}
