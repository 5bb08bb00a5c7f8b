//! A chat completion request, read: the model names the agent, system and
//! developer messages become extra instructions, the other messages the
//! conversation (with earlier tool calls and their results), the client's
//! own tools are offered beside MAS's, and `X-MAS-Session` or `user` say
//! which session keeps the turn.

use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{super::chat::MAX_MESSAGE_CHARS, agent_of};
use crate::{
    auth::Principal,
    domain::{Message, ToolCall, ToolResult, ToolSpec},
    http::{
        AppState,
        error::{AppError, openai::OpenAiError},
    },
    runs::TurnRequest,
};

#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    messages: Vec<InMessage>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    tools: Vec<InTool>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    n: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
enum InMessage {
    System {
        content: Content,
    },
    Developer {
        content: Content,
    },
    User {
        content: Content,
    },
    Assistant {
        #[serde(default)]
        content: Option<Content>,
        #[serde(default)]
        tool_calls: Vec<InToolCall>,
    },
    Tool {
        tool_call_id: String,
        content: Content,
    },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

impl Content {
    fn text(&self) -> Result<String, OpenAiError> {
        match self {
            Content::Text(text) => Ok(text.clone()),
            Content::Parts(parts) => parts
                .iter()
                .map(|p| match (p.kind.as_str(), &p.text) {
                    ("text", Some(text)) => Ok(text.as_str()),
                    (kind, _) => Err(OpenAiError::invalid(
                        format!("content parts of type {kind:?} are not supported; send text"),
                        Some("messages"),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|texts| texts.join("")),
        }
    }
}

#[derive(Debug, Deserialize)]
struct InToolCall {
    id: String,
    function: InFunctionCall,
}

#[derive(Debug, Deserialize)]
struct InFunctionCall {
    name: String,
    arguments: String,
}

#[derive(Debug, Deserialize)]
struct InTool {
    #[serde(rename = "type")]
    kind: String,
    function: InFunction,
}

#[derive(Debug, Deserialize)]
struct InFunction {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
}

/// What a completion request becomes: a turn, and how to answer.
pub struct Plan {
    pub turn: TurnRequest,
    pub stream: bool,
    pub include_usage: bool,
    /// `None`: the session exists only for this request.
    pub keep: bool,
}

pub async fn plan(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    request: CompletionRequest,
) -> Result<Plan, OpenAiError> {
    let agent = agent_of(state, &request.model)?;
    if request.n.is_some_and(|n| n != 1) {
        return Err(OpenAiError::invalid("only n = 1 is supported", Some("n")));
    }
    if request.messages.is_empty() {
        return Err(OpenAiError::invalid(
            "messages must not be empty",
            Some("messages"),
        ));
    }
    let server_tools = state.runs.runner().tool_names();
    let mut client_tools = Vec::new();
    for tool in request.tools {
        if tool.kind != "function" {
            return Err(OpenAiError::invalid(
                format!("tools of type {:?} are not supported", tool.kind),
                Some("tools"),
            ));
        }
        if server_tools.contains(&tool.function.name)
            || tool.function.name.starts_with("transfer_to_")
        {
            return Err(OpenAiError::invalid(
                format!(
                    "the tool name {:?} is taken by MAS's own tools",
                    tool.function.name
                ),
                Some("tools"),
            ));
        }
        client_tools.push(ToolSpec {
            name: tool.function.name,
            description: tool.function.description.unwrap_or_default(),
            parameters: tool
                .function
                .parameters
                .unwrap_or_else(|| json!({ "type": "object", "properties": {} })),
        });
    }
    let mut instructions = Vec::new();
    let mut history: Vec<Message> = Vec::new();
    let mut question = None;
    for message in request.messages {
        match message {
            InMessage::System { content } | InMessage::Developer { content } => {
                instructions.push(content.text()?);
            }
            InMessage::User { content } => {
                let text = content.text()?;
                question = Some(text.clone());
                history.push(Message::User { text });
            }
            InMessage::Assistant {
                content,
                tool_calls,
            } => {
                let text = match content {
                    Some(content) => content.text()?,
                    None => String::new(),
                };
                let calls = tool_calls
                    .into_iter()
                    .map(|call| {
                        let arguments: Value = serde_json::from_str(&call.function.arguments)
                            .ok()
                            .filter(Value::is_object)
                            .ok_or_else(|| {
                                OpenAiError::invalid(
                                    format!(
                                        "the arguments of tool call {:?} are not a JSON object",
                                        call.id
                                    ),
                                    Some("messages"),
                                )
                            })?;
                        Ok(ToolCall {
                            id: call.id,
                            name: call.function.name,
                            arguments,
                            signature: None,
                        })
                    })
                    .collect::<Result<Vec<_>, OpenAiError>>()?;
                history.push(Message::Assistant {
                    text,
                    tool_calls: calls,
                });
            }
            InMessage::Tool {
                tool_call_id,
                content,
            } => {
                let name = history
                    .iter()
                    .rev()
                    .find_map(|m| match m {
                        Message::Assistant { tool_calls, .. } => tool_calls
                            .iter()
                            .find(|c| c.id == tool_call_id)
                            .map(|c| c.name.clone()),
                        _ => None,
                    })
                    .ok_or_else(|| {
                        OpenAiError::invalid(
                            format!("tool message for unknown tool_call_id {tool_call_id:?}"),
                            Some("messages"),
                        )
                    })?;
                let result = ToolResult {
                    call_id: tool_call_id,
                    name,
                    content: content.text()?,
                    is_error: false,
                };
                match history.last_mut() {
                    Some(Message::Tool { results }) => results.push(result),
                    _ => history.push(Message::Tool {
                        results: vec![result],
                    }),
                }
            }
        }
    }
    if !matches!(
        history.last(),
        Some(Message::User { .. } | Message::Tool { .. })
    ) {
        return Err(OpenAiError::invalid(
            "the last message must be from the user or a tool",
            Some("messages"),
        ));
    }
    let Some(question) = question else {
        return Err(OpenAiError::invalid(
            "the conversation has no user message",
            Some("messages"),
        ));
    };
    let chars = question.chars().count();
    if chars > MAX_MESSAGE_CHARS {
        return Err(OpenAiError::invalid(
            format!(
                "the last user message is too long ({chars} characters; at most {MAX_MESSAGE_CHARS})"
            ),
            Some("messages"),
        ));
    }
    let session_header = headers
        .get("x-mas-session")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (session_id, title) = match (session_header, &request.user) {
        (Some(id), _) => {
            let visible = state
                .store
                .session(&id)
                .await?
                .is_some_and(|s| principal.may_see(s.owner.as_deref()));
            if !visible {
                return Err(AppError::NotFound(format!("no session has id {id:?}")).into());
            }
            (Some(id), None)
        }
        (None, Some(user)) => {
            let title = format!("API · {}", user.chars().take(60).collect::<String>());
            let sessions = state.store.list_sessions(principal.owner(), 200, 0).await?;
            let found = sessions
                .into_iter()
                .find(|s| s.title == title)
                .map(|s| s.id);
            (found, Some(title))
        }
        (None, None) => (None, None),
    };
    let keep = session_id.is_some() || title.is_some();
    Ok(Plan {
        turn: TurnRequest {
            session_id,
            owner: principal.owner().map(str::to_owned),
            message: question,
            agent: Some(agent),
            history: Some(history),
            instructions: (!instructions.is_empty()).then(|| instructions.join("\n\n")),
            client_tools,
            title,
            // The client sends the whole conversation each time, as with
            // OpenAI's API: no memory is read or written behind it.
            memory: false,
            temporary: false,
        },
        stream: request.stream,
        include_usage: request.stream_options.is_some_and(|o| o.include_usage),
        keep,
    })
}
