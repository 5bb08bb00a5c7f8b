//! What a turn is asked to do (`TurnRequest`) and what it becomes
//! (`TurnPlan`): the session (an existing one, or a new one made up before
//! anything is written), the conversation to answer, the agent to start
//! with, its provider and model. The plan is also the run's ticket: a
//! replica taking the run over reads it from Redis.

use serde::{Deserialize, Serialize};

use crate::{
    agent::HANDOFF_PREFIX,
    domain::{Message, ToolCall, ToolResult, ToolSpec},
    store::{MessageRecord, NewTurn, Role, Session, ToolCallRecord, ToolStatus},
};

/// A turn to start.
#[derive(Debug, Clone, Default)]
pub struct TurnRequest {
    /// The session to continue; a new one when `None`.
    pub session_id: Option<String>,
    pub owner: Option<String>,
    /// The user's message, saved as the turn's question.
    pub message: String,
    /// The agent to answer (the session's, else the entry agent).
    pub agent: Option<String>,
    /// The conversation to answer, ending with the user's message (an API
    /// client's own); the session's saved messages when `None`.
    pub history: Option<Vec<Message>>,
    /// More instructions for the model.
    pub instructions: Option<String>,
    /// Tools the client runs itself.
    pub client_tools: Vec<ToolSpec>,
    /// A new session's title (from the message when `None`).
    pub title: Option<String>,
    /// The caller may have the run read and write their memory (a temporary
    /// session never does).
    pub memory: bool,
    /// A new session reads and writes no memory, now or later.
    pub temporary: bool,
}

impl TurnRequest {
    /// `message`, in a new session of no one in particular.
    pub fn new(message: &str) -> Self {
        TurnRequest {
            message: message.to_owned(),
            ..TurnRequest::default()
        }
    }

    /// In session `id` rather than a new one.
    pub fn in_session(mut self, id: &str) -> Self {
        self.session_id = Some(id.to_owned());
        self
    }

    /// On behalf of user `owner`.
    pub fn by(mut self, owner: &str) -> Self {
        self.owner = Some(owner.to_owned());
        self
    }

    /// Answered by `agent` first.
    pub fn agent(mut self, agent: &str) -> Self {
        self.agent = Some(agent.to_owned());
        self
    }
}

/// What a turn will do; the ticket another replica carries it on from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnPlan {
    pub session: Session,
    pub new_session: bool,
    pub owner: Option<String>,
    pub message: String,
    /// The conversation before the run, ending with the user's message
    /// (within the model's budget once `Runs::start` has fitted it).
    pub history: Vec<Message>,
    /// The earlier turns left out of `history`, summarised.
    #[serde(default)]
    pub summary: Option<String>,
    /// The agent the run starts with.
    pub agent: String,
    pub provider: String,
    pub model: String,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub client_tools: Vec<ToolSpec>,
    /// The run reads and writes its owner's memory.
    #[serde(default)]
    pub memory: bool,
    /// The W3C `traceparent` of the request that started the run, so a
    /// replica taking it over links its spans to that trace.
    #[serde(default)]
    pub trace: Option<String>,
}

impl TurnPlan {
    /// The turn's first writes, for run `run_id`.
    pub fn first_writes<'a>(&'a self, run_id: &'a str) -> NewTurn<'a> {
        NewTurn {
            session: &self.session,
            new_session: self.new_session,
            message: &self.message,
            run_id,
            agent: &self.agent,
            provider: &self.provider,
            model: &self.model,
        }
    }
}

/// A new session's title: the message's first 60 characters, on one line.
fn title_of(message: &str) -> String {
    message
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(60)
        .collect()
}

/// A session's saved turns: its messages and the tool calls behind them.
#[derive(Debug, Clone, Default)]
pub struct Saved {
    pub messages: Vec<MessageRecord>,
    pub tool_calls: Vec<ToolCallRecord>,
}

/// The saved turns as the conversation a model reads: each answer after
/// the tool calls it made and their results (calls without a result, and
/// handoffs, left out), so a follow-up sees what the tools returned.
/// Answers that are empty (one that failed before its first word) are
/// left out with their calls.
pub fn conversation(saved: Saved) -> Vec<Message> {
    let Saved {
        messages,
        tool_calls,
    } = saved;
    let mut out = Vec::with_capacity(messages.len() * 2);
    for m in messages.into_iter().filter(|m| !m.content.is_empty()) {
        match m.role {
            Role::User => out.push(Message::User { text: m.content }),
            Role::Assistant => {
                let (calls, results): (Vec<ToolCall>, Vec<ToolResult>) = tool_calls
                    .iter()
                    .filter(|c| c.message_id == m.id && !c.name.starts_with(HANDOFF_PREFIX))
                    .filter_map(|c| {
                        let content = c.result.clone()?;
                        let is_error = match c.status {
                            ToolStatus::Ok => false,
                            ToolStatus::Error => true,
                            ToolStatus::Running | ToolStatus::Cancelled => return None,
                        };
                        let arguments = serde_json::from_str(&c.arguments)
                            .unwrap_or_else(|_| serde_json::json!({}));
                        let call = ToolCall {
                            id: c.call_id.clone(),
                            name: c.name.clone(),
                            arguments,
                            signature: None,
                        };
                        let result = ToolResult {
                            call_id: c.call_id.clone(),
                            name: c.name.clone(),
                            content,
                            is_error,
                        };
                        Some((call, result))
                    })
                    .unzip();
                if !calls.is_empty() {
                    out.push(Message::Assistant {
                        text: String::new(),
                        tool_calls: calls,
                    });
                    out.push(Message::Tool { results });
                }
                out.push(Message::Assistant {
                    text: m.content,
                    tool_calls: Vec::new(),
                });
            }
        }
    }
    out
}

/// The plan of `request`, given the session it continues with its saved
/// messages (`None` for a new session), the entry agent's name, and the
/// provider and model an agent uses.
pub fn plan(
    request: TurnRequest,
    existing: Option<(Session, Saved)>,
    entry: &str,
    provider_of: impl Fn(&str) -> (String, String),
) -> TurnPlan {
    let TurnRequest {
        owner,
        message,
        agent,
        history,
        instructions,
        client_tools,
        title,
        memory,
        temporary,
        ..
    } = request;
    let (session, saved, new_session) = match existing {
        Some((session, saved)) => (session, saved, false),
        None => {
            let title = title.unwrap_or_else(|| title_of(&message));
            let mut session = Session::new(owner.as_deref(), &title, agent.as_deref());
            session.temporary = temporary;
            (session, Saved::default(), true)
        }
    };
    let memory = memory && !session.temporary;
    let history = match history {
        Some(given) => given,
        None => {
            let mut history = conversation(saved);
            history.push(Message::User {
                text: message.clone(),
            });
            history
        }
    };
    let agent = agent
        .or_else(|| session.agent.clone())
        .unwrap_or_else(|| entry.to_owned());
    let (provider, model) = provider_of(&agent);
    TurnPlan {
        session,
        new_session,
        owner,
        message,
        history,
        summary: None,
        agent,
        provider,
        model,
        instructions,
        client_tools,
        memory,
        trace: platform::telemetry::trace_context(&tracing::Span::current()).remove("traceparent"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MessageStatus;

    fn saved(role: Role, content: &str) -> MessageRecord {
        MessageRecord {
            id: "m".into(),
            session_id: "s".into(),
            run_id: None,
            seq: 1,
            role,
            agent: None,
            content: content.into(),
            reasoning: String::new(),
            status: MessageStatus::Complete,
            created_at: 0,
        }
    }

    fn provider_of(agent: &str) -> (String, String) {
        ("offline".into(), format!("model-of-{agent}"))
    }

    #[test]
    fn a_new_session_is_titled_from_the_message_and_starts_with_the_entry_agent() {
        let plan = plan(
            TurnRequest::new("  How many\nschools are in   Lamu county? ").by("ann"),
            None,
            "coordinator",
            provider_of,
        );
        assert!(plan.new_session);
        assert_eq!(plan.session.title, "How many schools are in Lamu county?");
        assert_eq!(plan.session.owner.as_deref(), Some("ann"));
        assert_eq!(
            (plan.agent.as_str(), plan.model.as_str()),
            ("coordinator", "model-of-coordinator")
        );
        assert_eq!(
            plan.history,
            vec![Message::User {
                text: "  How many\nschools are in   Lamu county? ".into()
            }]
        );
        let long = plan_title(&"word ".repeat(40));
        assert_eq!(long.chars().count(), 60);
    }

    fn plan_title(message: &str) -> String {
        plan(TurnRequest::new(message), None, "coordinator", provider_of)
            .session
            .title
    }

    #[test]
    fn a_next_turn_reads_the_saved_conversation_and_keeps_the_sessions_agent() {
        let mut session = Session::new(Some("ann"), "Lamu", Some("schools"));
        session.id = "s".into();
        let history = vec![
            saved(Role::User, "How many schools are in Lamu?"),
            saved(Role::Assistant, "238."),
            saved(Role::User, "And Kisumu?"),
            saved(Role::Assistant, ""),
        ];
        let plan = plan(
            TurnRequest::new("And Mombasa?").in_session("s"),
            Some((
                session,
                Saved {
                    messages: history,
                    tool_calls: Vec::new(),
                },
            )),
            "coordinator",
            provider_of,
        );
        assert!(!plan.new_session);
        assert_eq!(plan.agent, "schools", "the session's agent answers");
        assert_eq!(plan.history.len(), 4, "the empty answer is left out");
        assert_eq!(
            plan.history.last(),
            Some(&Message::User {
                text: "And Mombasa?".into()
            })
        );
    }

    #[test]
    fn an_api_clients_own_history_is_answered_as_given() {
        let given = vec![Message::User {
            text: "Hello".into(),
        }];
        let request = TurnRequest {
            history: Some(given.clone()),
            title: Some("API · me".into()),
            ..TurnRequest::new("Hello").agent("schools")
        };
        let plan = plan(request, None, "coordinator", provider_of);
        assert_eq!(plan.history, given);
        assert_eq!(plan.session.title, "API · me");
        assert_eq!(plan.agent, "schools");
    }
}
