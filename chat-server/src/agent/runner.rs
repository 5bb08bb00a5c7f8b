//! The agent loop: model -> tool calls (run in parallel when the model asks
//! for several) -> results back to the model, until a final answer or the step
//! limit. Handoff is a tool the model calls (`transfer_to_<agent>`). Tool
//! errors and timeouts go back to the model as results; output is cut to a
//! budget; an explicit cancel stops the model call at once and closes open
//! tool calls as cancelled. The loop is a plain `Stream` of `RunEvent`s.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{Stream, StreamExt, stream::FuturesUnordered};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{
    AgentDef, AgentSet, RunEvent,
    memory::{Recollection, UserMemory},
    tools::ToolExecutor,
};
use crate::{
    context::{self, Context, ContextSettings, truncate, window::Counter},
    domain::{Message, ToolCall, ToolResult, ToolSpec},
    providers::{ChatRequest, LlmProvider, ProviderError, ProviderEvent, registry::Registry},
    toolbox::{
        ListedTool,
        policy::{Approval, Reason, ToolPolicy},
    },
};

/// Heads the summary of the turns left out, in the system prompt.
const SUMMARY_HEADING: &str =
    "\n\nEarlier in this conversation (a summary; the turns since follow in full):\n";

/// Prefix of the handoff tools offered to an agent.
pub const HANDOFF_PREFIX: &str = "transfer_to_";

#[derive(Debug, Clone)]
pub struct RunLimits {
    /// Model calls per run.
    pub max_steps: usize,
    /// `TOOL_EXECUTION_TIMEOUT`.
    pub tool_timeout: Duration,
    /// Characters of tool output given back to the model.
    pub max_tool_output: usize,
    /// How much of the conversation the model reads (`CONTEXT_*`).
    pub context: ContextSettings,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            max_steps: 8,
            tool_timeout: Duration::from_secs(30),
            max_tool_output: 16_000,
            context: ContextSettings::default(),
        }
    }
}

/// One turn to run.
#[derive(Default)]
pub struct RunInput {
    /// The conversation so far, ending with the user's message (as
    /// `AgentRunner::context` fitted it).
    pub history: Vec<Message>,
    /// The turns left out of `history`, summarised.
    pub summary: Option<String>,
    /// The agent to start with (the entry agent when `None`).
    pub agent: Option<String>,
    pub cancel: CancellationToken,
    /// Where a run taken over from another replica carries on.
    pub resume: Option<Resume>,
    /// More instructions for the model, after the agent's own (an API
    /// client's system messages).
    pub instructions: Option<String>,
    /// Tools the API client runs itself: offered with the agent's tools;
    /// when the model calls one, the run ends with `ClientToolCalls`.
    pub client_tools: Vec<ToolSpec>,
    /// The user's memory, bound to them (`None`: a temporary chat, memory
    /// off, or no one to remember for).
    pub memory: Option<Arc<dyn UserMemory>>,
}

/// What an API client adds to a run, and the user's memory.
struct Extra {
    instructions: Option<String>,
    summary: Option<String>,
    client_tools: Vec<ToolSpec>,
    memory: Option<Arc<dyn UserMemory>>,
}

/// Runs one tool call within the time limit: a memory tool by the user's
/// memory, any other by the MCP tools; the output cut to the budget.
async fn execute(
    tools: Arc<dyn ToolExecutor>,
    memory: Option<Arc<dyn UserMemory>>,
    limits: RunLimits,
    call: ToolCall,
) -> ToolResult {
    let run = async {
        if let Some(memory) = &memory
            && let Some(result) = memory.call(&call).await
        {
            return result;
        }
        tools.call(&call).await
    };
    let mut result = match tokio::time::timeout(limits.tool_timeout, run).await {
        Ok(result) => result,
        Err(_) => ToolResult {
            call_id: call.id.clone(),
            name: call.name.clone(),
            content: format!(
                "{} did not finish within {} s",
                call.name,
                limits.tool_timeout.as_secs()
            ),
            is_error: true,
        },
    };
    result.content = truncate(&result.content, limits.max_tool_output);
    result
}

/// The text of the last thing the user said.
fn question(history: &[Message]) -> String {
    history
        .iter()
        .rev()
        .find_map(|m| match m {
            Message::User { text } => Some(text.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// A run carried on from its checkpoint: the steps before `step` are in the
/// history already; `answer` is their text; the interrupted step's tool
/// calls that finished are answered from `done` if the model asks for them
/// again (same tool, same arguments), so they are not executed twice.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    pub step: usize,
    pub answer: String,
    pub done: Vec<(ToolCall, ToolResult)>,
}

pub struct AgentRunner {
    agents: AgentSet,
    registry: Arc<Registry>,
    tools: Arc<dyn ToolExecutor>,
    limits: RunLimits,
    policy: ToolPolicy,
}

/// What happens to each agent's calls of one tool.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ToolApprovals {
    #[serde(flatten)]
    pub tool: ListedTool,
    /// Each agent that may call it.
    pub agents: Vec<AgentApproval>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AgentApproval {
    pub agent: String,
    pub approval: Approval,
    pub reason: Reason,
}

impl AgentRunner {
    pub fn new(
        agents: AgentSet,
        registry: Arc<Registry>,
        tools: Arc<dyn ToolExecutor>,
        limits: RunLimits,
    ) -> Self {
        let agents = agents.available(&tools.tools());
        AgentRunner {
            agents,
            registry,
            tools,
            limits,
            policy: ToolPolicy::default(),
        }
    }

    /// With `policy` deciding which calls run, ask or are refused.
    pub fn with_policy(mut self, policy: ToolPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Whether the policy refuses `agent`'s calls of the MCP tool `name`.
    fn refused(&self, agent: &AgentDef, name: &str) -> bool {
        self.tools.listing().into_iter().any(|t| {
            t.name == name
                && self
                    .policy
                    .decide(&agent.name, &t.server, &t.tool, t.hints)
                    .0
                    == Approval::Deny
        })
    }

    /// Every tool, and what the policy makes of each agent's calls of it.
    pub fn tool_approvals(&self) -> Vec<ToolApprovals> {
        let specs = self.tools.tools();
        self.tools
            .listing()
            .into_iter()
            .map(|tool| {
                let agents = self
                    .agents
                    .all()
                    .iter()
                    .filter(|a| a.allowed(&specs).iter().any(|s| s.name == tool.name))
                    .map(|a| {
                        let (approval, reason) =
                            self.policy
                                .decide(&a.name, &tool.server, &tool.tool, tool.hints);
                        AgentApproval {
                            agent: a.name.clone(),
                            approval,
                            reason,
                        }
                    })
                    .collect();
                ToolApprovals { tool, agents }
            })
            .collect()
    }

    pub fn limits(&self) -> &RunLimits {
        &self.limits
    }

    pub fn agents(&self) -> &AgentSet {
        &self.agents
    }

    /// Each MCP server by name and whether it answers, the EMIS server first.
    pub async fn tool_health(&self) -> Vec<(String, bool)> {
        self.tools.health().await
    }

    /// Names of the tools the MCP servers offer.
    pub fn tool_names(&self) -> Vec<String> {
        self.tools.tools().into_iter().map(|t| t.name).collect()
    }

    /// Name of the default provider (`offline` when no key is configured).
    pub fn default_provider_name(&self) -> String {
        self.registry.default_provider().name().to_owned()
    }

    /// The provider agents use by default.
    pub fn default_provider(&self) -> Arc<dyn LlmProvider> {
        self.registry.default_provider()
    }

    /// The provider an agent (by name) would use.
    pub fn provider_for_name(&self, agent: &str) -> Arc<dyn LlmProvider> {
        match self.agents.get(agent) {
            Some(def) => self.provider_for(def),
            None => self.registry.default_provider(),
        }
    }

    fn provider_for(&self, agent: &AgentDef) -> Arc<dyn LlmProvider> {
        agent
            .provider
            .as_deref()
            .and_then(|p| self.registry.get(p))
            .unwrap_or_else(|| self.registry.default_provider())
    }

    /// The request for one step of `agent`: its prompt (with what is
    /// recalled of the user), its tools, its handoffs.
    fn request(
        &self,
        agent: &AgentDef,
        messages: &[Message],
        extra: &Extra,
        recalled: Option<&Recollection>,
    ) -> ChatRequest {
        let all = self.tools.tools();
        let mut tools: Vec<ToolSpec> = agent.allowed(&all).into_iter().cloned().collect();
        tools.extend(extra.client_tools.iter().cloned());
        if let Some(memory) = &extra.memory {
            tools.extend(memory.tools());
        }
        let mut system = agent.system_prompt.clone();
        for target in agent.handoffs.iter().filter_map(|h| self.agents.get(h)) {
            tools.push(ToolSpec {
                name: format!("{HANDOFF_PREFIX}{}", target.name),
                description: format!("Hand the conversation to the {}: {}", target.title, target.description),
                parameters: json!({ "type": "object", "properties": {}, "additionalProperties": false }),
            });
            system.push_str(&format!(
                "\n- {}: {} (call {HANDOFF_PREFIX}{})",
                target.title, target.description, target.name
            ));
        }
        if let Some(instructions) = &extra.instructions {
            system.push_str("\n\n");
            system.push_str(instructions);
        }
        if let Some(recalled) = recalled {
            system.push_str(&recalled.prompt);
        }
        if let Some(summary) = &extra.summary {
            system.push_str(SUMMARY_HEADING);
            system.push_str(summary);
        }
        ChatRequest {
            model: agent.model.clone(),
            system: Some(system),
            messages: messages.to_vec(),
            tools,
            max_tokens: None,
            temperature: None,
            profile: recalled.and_then(|r| r.profile.clone()),
        }
    }

    /// The model `agent` answers with, and how its prompts are counted.
    fn model_of(&self, agent: &AgentDef) -> (String, Counter) {
        let provider = self.provider_for(agent);
        let model = agent
            .model
            .clone()
            .unwrap_or_else(|| provider.model().to_owned());
        let counter = Counter::for_model(provider.name(), &model);
        (model, counter)
    }

    /// The tokens `agent`'s prompt takes before the conversation: its
    /// system prompt and the tools' schemas, plus `reserve` (for memory).
    fn overhead(&self, agent: &AgentDef, counter: Counter, reserve: i64) -> i64 {
        let request = self.request(
            agent,
            &[],
            &Extra {
                instructions: None,
                summary: None,
                client_tools: Vec::new(),
                memory: None,
            },
            None,
        );
        let tools = serde_json::to_string(&request.tools).unwrap_or_default();
        counter.tokens(request.system.as_deref().unwrap_or("")) + counter.tokens(&tools) + reserve
    }

    /// `history` as `agent` reads it within its model's budget
    /// (`CONTEXT_TOKEN_BUDGET`, else the model's window less room for the
    /// answer and its prompt; `reserve` more for what else the prompt takes).
    pub fn context(
        &self,
        agent: Option<&str>,
        history: &[Message],
        earlier: Option<&str>,
        instructions: Option<&str>,
        reserve: i64,
    ) -> Context {
        let agent = agent
            .and_then(|a| self.agents.get(a))
            .unwrap_or(self.agents.entry());
        let (model, counter) = self.model_of(agent);
        let extra = instructions.map_or(0, |i| counter.tokens(i));
        let budget = match self.limits.context.budget {
            Some(budget) => budget,
            None => {
                context::window::budget(&model) - self.overhead(agent, counter, reserve + extra)
            }
        };
        context::build(
            history,
            earlier,
            counter,
            budget.max(1),
            &self.limits.context,
        )
    }

    /// Runs one turn as a stream of events; the last one is terminal.
    pub fn run(self: Arc<Self>, input: RunInput) -> impl Stream<Item = RunEvent> + Send + 'static {
        async_stream::stream! {
            let RunInput { history, summary, agent, cancel, resume, instructions, client_tools, memory } = input;
            let question = question(&history);
            let mut extra = Extra { instructions, summary, client_tools, memory };
            // Recalled before the first step, and again after a step that used a memory tool.
            let mut recalled: Option<Recollection> = None;
            let mut shown: Vec<String> = Vec::new();
            let Resume { step: first_step, answer, mut done } = resume.unwrap_or(Resume { step: 1, ..Resume::default() });
            let mut agent = agent.as_deref().and_then(|a| self.agents.get(a)).unwrap_or(self.agents.entry()).clone();
            // The run's span (`invoke_agent`, made where the run was launched) is named after its agent.
            let run_span = tracing::Span::current();
            run_span.record("otel.name", format!("invoke_agent {}", agent.name));
            run_span.record("gen_ai.agent.name", agent.name.as_str());
            yield RunEvent::AgentChanged { agent: agent.name.clone(), title: agent.title.clone() };
            let mut messages = history;
            let mut answer = answer;
            for step in first_step.max(1)..=self.limits.max_steps {
                yield RunEvent::StepStarted { step };
                if let Some(memory) = extra.memory.as_ref().filter(|_| recalled.is_none()) {
                    let recollection = tokio::select! {
                        r = memory.recall(&question) => r,
                        () = cancel.cancelled() => { yield RunEvent::Cancelled; return; }
                    };
                    let ids: Vec<String> = recollection.memories.iter().map(|m| m.id.clone()).collect();
                    if ids != shown {
                        shown = ids;
                        yield RunEvent::MemoryRecalled { memories: recollection.memories.clone() };
                    }
                    recalled = Some(recollection);
                }
                let provider = self.provider_for(&agent);
                // OpenTelemetry's GenAI inference span: from the request to the last event.
                let chat = tracing::info_span!(
                    "chat",
                    otel.name = %format!("chat {}", provider.model()),
                    otel.kind = "client",
                    gen_ai.operation.name = "chat",
                    gen_ai.provider.name = %provider.name(),
                    gen_ai.request.model = %provider.model(),
                    gen_ai.agent.name = %agent.name,
                    gen_ai.usage.input_tokens = tracing::field::Empty,
                    gen_ai.usage.output_tokens = tracing::field::Empty,
                );
                let mut compacted = false;
                let opened = loop {
                    let request = self.request(&agent, &messages, &extra, recalled.as_ref());
                    let opened = tokio::select! {
                        opened = provider.stream(&request) => opened,
                        () = cancel.cancelled() => { yield RunEvent::Cancelled; return; }
                    };
                    // Too long for the model after all: once, the prompt
                    // halved (older turns into the summary) and asked again.
                    if let Err(ProviderError::ContextTooLong { message }) = &opened && !compacted {
                        let (_, counter) = self.model_of(&agent);
                        let tokens = messages.iter().map(|m| context::message_tokens(counter, m)).sum::<i64>()
                            + extra.summary.as_deref().map_or(0, |s| counter.tokens(s));
                        let smaller = context::compact(&messages, extra.summary.as_deref(), counter, tokens, &self.limits.context);
                        tracing::warn!(%message, tokens, compacted = smaller.tokens, "the model found the prompt too long; compacted");
                        compacted = true;
                        messages = smaller.messages;
                        extra.summary = smaller.summary;
                        continue;
                    }
                    break opened;
                };
                let mut events = match opened {
                    Ok(events) => events,
                    Err(e) => { yield RunEvent::Failed { message: e.to_string() }; return; }
                };
                let mut text = String::new();
                let mut calls: Vec<ToolCall> = Vec::new();
                let mut ids: Vec<(usize, String)> = Vec::new();
                loop {
                    let next = tokio::select! {
                        next = events.next() => next,
                        () = cancel.cancelled() => { yield RunEvent::Cancelled; return; }
                    };
                    match next {
                        None => break,
                        Some(Err(e)) => { yield RunEvent::Failed { message: e.to_string() }; return; }
                        Some(Ok(ProviderEvent::TextDelta { text: piece })) => {
                            text.push_str(&piece);
                            yield RunEvent::TextDelta { text: piece };
                        }
                        Some(Ok(ProviderEvent::ReasoningDelta { text })) => yield RunEvent::ReasoningDelta { text },
                        Some(Ok(ProviderEvent::RefusalDelta { text: piece })) => {
                            text.push_str(&piece);
                            yield RunEvent::TextDelta { text: piece };
                        }
                        Some(Ok(ProviderEvent::ToolCallStart { index, id, name })) => {
                            ids.push((index, id.clone()));
                            yield RunEvent::ToolInputStart { call_id: id, tool: name };
                        }
                        Some(Ok(ProviderEvent::ToolCallDelta { index, arguments })) => {
                            if let Some((_, id)) = ids.iter().find(|(i, _)| *i == index) {
                                yield RunEvent::ToolInputDelta { call_id: id.clone(), delta: arguments };
                            }
                        }
                        Some(Ok(ProviderEvent::ToolCall { call, .. })) => {
                            yield RunEvent::ToolInputAvailable { call_id: call.id.clone(), tool: call.name.clone(), input: call.arguments.clone() };
                            calls.push(call);
                        }
                        Some(Ok(ProviderEvent::Usage { usage })) => {
                            if let Some(n) = usage.input_tokens { chat.record("gen_ai.usage.input_tokens", n); }
                            if let Some(n) = usage.output_tokens { chat.record("gen_ai.usage.output_tokens", n); }
                            yield RunEvent::Usage { provider: provider.name().to_owned(), model: provider.model().to_owned(), usage };
                        }
                        Some(Ok(ProviderEvent::Finish { .. })) => {}
                    }
                }
                drop(chat);
                answer.push_str(&text);
                // The client runs its own tools: the run ends here with its
                // calls (calls of server tools in the same step are dropped;
                // the model may make them again next turn).
                let client: Vec<ToolCall> = calls.iter().filter(|c| extra.client_tools.iter().any(|t| t.name == c.name)).cloned().collect();
                if !client.is_empty() {
                    yield RunEvent::StepFinished { step };
                    yield RunEvent::ClientToolCalls { calls: client };
                    yield RunEvent::Finished { text: answer };
                    return;
                }
                if calls.is_empty() {
                    yield RunEvent::StepFinished { step };
                    yield RunEvent::Finished { text: answer };
                    return;
                }
                // Handoffs answer at once; the other calls run in parallel.
                let mut results: Vec<Option<ToolResult>> = vec![None; calls.len()];
                let mut next_agent = None;
                for (i, call) in calls.iter().enumerate() {
                    if let Some(target) = call.name.strip_prefix(HANDOFF_PREFIX).and_then(|t| self.agents.get(t)) {
                        next_agent = Some(target.clone());
                        results[i] = Some(ToolResult { call_id: call.id.clone(), name: call.name.clone(), content: format!("Transferred to the {}.", target.title), is_error: false });
                    } else if self.refused(&agent, &call.name) {
                        results[i] = Some(ToolResult { call_id: call.id.clone(), name: call.name.clone(), content: format!("The operator's tool policy does not allow {}; it was not run.", call.name), is_error: true });
                    } else if let Some(k) = done.iter().position(|(c, _)| c.name == call.name && c.arguments == call.arguments) {
                        // Finished before the run changed hands: not run again.
                        let (_, result) = done.swap_remove(k);
                        results[i] = Some(ToolResult { call_id: call.id.clone(), ..result });
                    }
                }
                let mut running: FuturesUnordered<_> = calls
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| results[*i].is_none())
                    .map(|(i, call)| {
                        let started = Instant::now();
                        // OpenTelemetry's GenAI tool span; the MCP call in it carries the trace on.
                        let span = tracing::info_span!(
                            "execute_tool",
                            otel.name = %format!("execute_tool {}", call.name),
                            gen_ai.operation.name = "execute_tool",
                            gen_ai.tool.name = %call.name,
                            gen_ai.tool.call.id = %call.id,
                        );
                        let run = execute(self.tools.clone(), extra.memory.clone(), self.limits.clone(), call.clone()).instrument(span);
                        async move { (i, run.await, started.elapsed()) }
                    })
                    .collect();
                for (i, result) in results.iter().enumerate() {
                    if let Some(r) = result {
                        yield RunEvent::ToolOutput { call_id: r.call_id.clone(), tool: calls[i].name.clone(), output: r.content.clone(), is_error: r.is_error, duration_ms: 0 };
                    }
                }
                while !running.is_empty() {
                    let done = tokio::select! {
                        done = running.next() => done,
                        () = cancel.cancelled() => {
                            for (i, call) in calls.iter().enumerate().filter(|(i, _)| results[*i].is_none()) {
                                let _ = i;
                                yield RunEvent::ToolOutput { call_id: call.id.clone(), tool: call.name.clone(), output: "cancelled".into(), is_error: true, duration_ms: 0 };
                            }
                            yield RunEvent::Cancelled;
                            return;
                        }
                    };
                    if let Some((i, result, elapsed)) = done {
                        yield RunEvent::ToolOutput { call_id: result.call_id.clone(), tool: calls[i].name.clone(), output: result.content.clone(), is_error: result.is_error, duration_ms: elapsed.as_millis() as u64 };
                        results[i] = Some(result);
                    }
                }
                drop(running);
                if let Some(memory) = &extra.memory {
                    let memory_tools = memory.tools();
                    if calls.iter().any(|c| memory_tools.iter().any(|t| t.name == c.name)) {
                        recalled = None;
                    }
                }
                yield RunEvent::StepFinished { step };
                messages.push(Message::Assistant { text, tool_calls: calls.clone() });
                messages.push(Message::Tool { results: results.into_iter().flatten().collect() });
                if let Some(target) = next_agent {
                    agent = target;
                    yield RunEvent::AgentChanged { agent: agent.name.clone(), title: agent.title.clone() };
                }
            }
            yield RunEvent::Failed { message: format!("no final answer after {} model steps", self.limits.max_steps) };
        }
    }
}
