//! Fixtures of the official MCP conformance suite (`@modelcontextprotocol/conformance`):
//! the tools, resources and prompts its server scenarios call by fixed names.
//! Served only with `--conformance` / `MCP_CONFORMANCE=true`, through the very
//! same handler, transport and middleware as the EMIS tools.

#![allow(deprecated)] // logging (SEP-2577) is deprecated in 2026-07-28 but exercised by 2025-11-25 scenarios.

use std::time::Duration;

use rmcp::{
    ErrorData, RoleServer,
    model::{
        AudioContent, CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities,
        CompleteRequestParams, CompleteResult, CompletionInfo, ContentBlock,
        CreateMessageRequestParams, ElicitRequestParams, GetPromptRequestParams, GetPromptResponse,
        GetPromptResult, ImageContent, InputRequests, InputRequiredResult, InputResponses,
        LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam, Prompt,
        PromptArgument, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
        ReadResourceResult, Reference, RequestStateCodec, Resource, ResourceContents,
        ResourceTemplate, Role, Tool,
    },
    service::RequestContext,
};
use serde_json::{Map, Value, json};

/// A 1x1 red PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==";
/// A WAV header with no samples.
const WAV: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEARKwAAIhYAQACABAAZGF0YQAAAAA=";

/// The suite's fixtures, with a per-process key sealing MRTR request state.
pub struct Fixtures {
    codec: RequestStateCodec,
}

impl std::fmt::Debug for Fixtures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fixtures")
    }
}

impl Default for Fixtures {
    fn default() -> Self {
        let key: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
            .iter()
            .flat_map(|u| *u.as_bytes())
            .collect();
        Fixtures {
            codec: RequestStateCodec::new(key),
        }
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn tool(name: &str, description: &str, schema: Value) -> Tool {
    Tool::new(name.to_owned(), description.to_owned(), object(schema))
}

fn no_args() -> Value {
    json!({ "type": "object", "properties": {} })
}

const MRTR_TOOLS: &[&str] = &[
    "test_input_required_result_elicitation",
    "test_input_required_result_sampling",
    "test_input_required_result_list_roots",
    "test_input_required_result_request_state",
    "test_input_required_result_multiple_inputs",
    "test_input_required_result_multi_round",
    "test_input_required_result_tampered_state",
    "test_input_required_result_capabilities",
];

const PROMPTS: &[&str] = &[
    "test_simple_prompt",
    "test_prompt_with_arguments",
    "test_prompt_with_embedded_resource",
    "test_prompt_with_image",
    "test_input_required_result_prompt",
];

fn text(s: impl Into<String>) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(s)]).into()
}

fn failed(s: impl Into<String>) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(s)]).into()
}

fn elicit(message: &str, property: &str, kind: &str) -> Value {
    json!({
        "method": "elicitation/create",
        "params": {
            "message": message,
            "requestedSchema": {
                "type": "object",
                "properties": { property: { "type": kind } },
                "required": [property]
            }
        }
    })
}

fn sample(prompt: &str, max_tokens: u32) -> Value {
    json!({
        "method": "sampling/createMessage",
        "params": {
            "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }],
            "maxTokens": max_tokens
        }
    })
}

fn roots() -> Value {
    json!({ "method": "roots/list", "params": {} })
}

fn input_required(
    requests: Value,
    state: Option<String>,
) -> Result<InputRequiredResult, ErrorData> {
    let requests: InputRequests = serde_json::from_value(requests)
        .map_err(|e| ErrorData::internal_error(format!("fixture: {e}"), None))?;
    Ok(InputRequiredResult::new(Some(requests), state))
}

/// The responses, when every key in `keys` is present.
fn answered<'a>(
    responses: Option<&'a InputResponses>,
    keys: &[&str],
) -> Option<&'a InputResponses> {
    responses.filter(|r| keys.iter().all(|k| r.contains_key(*k)))
}

/// A response value must be a JSON object (an ElicitResult, CreateMessageResult or ListRootsResult).
fn validate(responses: Option<&InputResponses>) -> Result<(), ErrorData> {
    if let Some(responses) = responses {
        for (key, value) in responses {
            if !value.is_object() {
                return Err(ErrorData::invalid_params(
                    format!("inputResponses[{key}] must be an object"),
                    None,
                ));
            }
        }
    }
    Ok(())
}

fn response_text(value: &Value) -> String {
    value
        .pointer("/content/text")
        .or_else(|| value.pointer("/content/0/text"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| value.to_string())
}

impl Fixtures {
    pub fn tools(&self) -> Vec<Tool> {
        let mut tools = vec![
            tool("test_simple_text", "Returns simple text content", no_args()),
            tool("test_image_content", "Returns image content", no_args()),
            tool("test_audio_content", "Returns audio content", no_args()),
            tool(
                "test_embedded_resource",
                "Returns embedded resource content",
                no_args(),
            ),
            tool(
                "test_multiple_content_types",
                "Returns text, image and resource content",
                no_args(),
            ),
            tool(
                "test_tool_with_logging",
                "Sends log notifications while it runs",
                no_args(),
            ),
            tool(
                "test_tool_with_progress",
                "Reports progress notifications",
                no_args(),
            ),
            tool(
                "test_error_handling",
                "Always returns a tool error",
                no_args(),
            ),
            tool(
                "test_sampling",
                "Asks the client's LLM for a completion",
                json!({ "type": "object", "properties": { "prompt": { "type": "string", "description": "The prompt to send" } }, "required": ["prompt"] }),
            ),
            tool(
                "test_elicitation",
                "Asks the user for input",
                json!({ "type": "object", "properties": { "message": { "type": "string", "description": "The message to show" } }, "required": ["message"] }),
            ),
            tool(
                "test_elicitation_sep1034_defaults",
                "Elicitation with default values (SEP-1034)",
                no_args(),
            ),
            tool(
                "test_elicitation_sep1330_enums",
                "Elicitation with enum schemas (SEP-1330)",
                no_args(),
            ),
            tool(
                "test_reconnection",
                "Takes a moment, for SSE reconnection tests",
                no_args(),
            ),
            tool(
                "json_schema_2020_12_tool",
                "Tool with JSON Schema 2020-12 features",
                json_schema_2020_12(),
            ),
            tool(
                "test_missing_capability",
                "Needs the client's sampling capability",
                no_args(),
            ),
            tool(
                "test_streaming_elicitation",
                "Asks for input through an InputRequiredResult",
                no_args(),
            ),
            tool(
                "test_logging_tool",
                "Logs only when the request sets a log level",
                no_args(),
            ),
            tool(
                "test_custom_headers",
                "Mirrors x-mcp-header parameters into Mcp-Param headers (SEP-2243)",
                json!({
                    "type": "object",
                    "properties": {
                        "region": { "type": "string", "description": "Region", "x-mcp-header": "Region" },
                        "query": { "type": "string", "description": "Free text" }
                    },
                    "required": ["region"]
                }),
            ),
        ];
        tools.extend(
            MRTR_TOOLS
                .iter()
                .map(|name| tool(name, "SEP-2322 InputRequiredResult fixture", no_args())),
        );
        tools
    }

    pub fn has_tool(&self, name: &str) -> bool {
        self.tools().iter().any(|t| t.name == name)
    }

    pub async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.clone().unwrap_or_default();
        let arg = |name: &str| {
            args.get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let responses = request.input_responses.as_ref();
        let state = request.request_state.as_deref();
        match request.name.as_ref() {
            "test_simple_text" => Ok(text("This is a simple text response for testing.")),
            "test_image_content" => {
                Ok(CallToolResult::success(vec![ContentBlock::image(PNG, "image/png")]).into())
            }
            "test_audio_content" => Ok(CallToolResult::success(vec![ContentBlock::Audio(
                AudioContent::new(WAV, "audio/wav"),
            )])
            .into()),
            "test_embedded_resource" => Ok(CallToolResult::success(vec![ContentBlock::resource(
                ResourceContents::TextResourceContents {
                    uri: "test://embedded-resource".into(),
                    mime_type: Some("text/plain".into()),
                    text: "This is an embedded resource content.".into(),
                    meta: None,
                },
            )])
            .into()),
            "test_multiple_content_types" => Ok(CallToolResult::success(vec![
                ContentBlock::text("Multiple content types test:"),
                ContentBlock::image(PNG, "image/png"),
                ContentBlock::resource(ResourceContents::TextResourceContents {
                    uri: "test://mixed-content-resource".into(),
                    mime_type: Some("application/json".into()),
                    text: r#"{"test":"data","value":123}"#.into(),
                    meta: None,
                }),
            ])
            .into()),
            "test_tool_with_logging" | "test_logging_tool" => {
                let only_when_asked = request.name == "test_logging_tool";
                if !only_when_asked || context.meta.log_level().is_some() {
                    for (i, message) in [
                        "Tool execution started",
                        "Tool processing data",
                        "Tool execution completed",
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        if i > 0 {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        let note = LoggingMessageNotificationParam::new(
                            LoggingLevel::Info,
                            json!(message),
                        )
                        .with_logger("mas-conformance");
                        let _ = context.peer.notify_logging_message(note).await;
                    }
                }
                Ok(text("Logging test completed"))
            }
            "test_tool_with_progress" => {
                let token = context.meta.get_progress_token();
                for (i, progress) in [0.0, 50.0, 100.0].into_iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    if let Some(token) = &token {
                        let note = ProgressNotificationParam::new(token.clone(), progress)
                            .with_total(100.0);
                        let _ = context.peer.notify_progress(note).await;
                    }
                }
                Ok(text("Progress test completed"))
            }
            "test_error_handling" => Ok(failed(
                "This tool intentionally returns an error for testing",
            )),
            "test_sampling" => {
                let params: CreateMessageRequestParams = serde_json::from_value(
                    json!({ "messages": [{ "role": "user", "content": { "type": "text", "text": arg("prompt") } }], "maxTokens": 100 }),
                )
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
                match context.peer.create_message(params).await {
                    Ok(result) => {
                        let value = serde_json::to_value(&result).unwrap_or_default();
                        Ok(text(format!("LLM response: {}", response_text(&value))))
                    }
                    Err(e) => Ok(failed(format!("Sampling error: {e}"))),
                }
            }
            "test_elicitation" => {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "username": { "type": "string", "description": "User's response" },
                        "email": { "type": "string", "description": "User's email address" }
                    },
                    "required": ["username", "email"]
                });
                self.elicit(&context, &arg("message"), schema, "User response")
                    .await
            }
            "test_elicitation_sep1034_defaults" => {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "name": { "type": "string", "description": "User's name", "default": "John Doe" },
                        "age": { "type": "integer", "description": "User's age", "default": 30 },
                        "score": { "type": "number", "description": "User's score", "default": 95.5 },
                        "status": { "type": "string", "description": "User's status", "enum": ["active", "inactive", "pending"], "default": "active" },
                        "verified": { "type": "boolean", "description": "Whether user is verified", "default": true }
                    }
                });
                self.elicit(
                    &context,
                    "Please provide values (all have defaults)",
                    schema,
                    "Elicitation completed",
                )
                .await
            }
            "test_elicitation_sep1330_enums" => {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "untitledSingle": { "type": "string", "enum": ["option1", "option2", "option3"] },
                        "titledSingle": { "type": "string", "oneOf": [
                            { "const": "value1", "title": "First Option" },
                            { "const": "value2", "title": "Second Option" },
                            { "const": "value3", "title": "Third Option" }
                        ] },
                        "legacyEnum": { "type": "string", "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"] },
                        "untitledMulti": { "type": "array", "items": { "type": "string", "enum": ["option1", "option2", "option3"] } },
                        "titledMulti": { "type": "array", "items": { "anyOf": [
                            { "const": "value1", "title": "First Choice" },
                            { "const": "value2", "title": "Second Choice" },
                            { "const": "value3", "title": "Third Choice" }
                        ] } }
                    }
                });
                self.elicit(
                    &context,
                    "Test enum schema improvements",
                    schema,
                    "Elicitation completed",
                )
                .await
            }
            "test_reconnection" => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(text("Reconnection test completed"))
            }
            "json_schema_2020_12_tool" => Ok(text(format!(
                "Hello, {}!",
                args.get("name").and_then(Value::as_str).unwrap_or("world")
            ))),
            "test_missing_capability" => {
                let has_sampling = context
                    .client_capabilities()
                    .is_some_and(|c| c.sampling.is_some());
                if !has_sampling {
                    let required: ClientCapabilities =
                        serde_json::from_value(json!({ "sampling": {} })).unwrap_or_default();
                    return Err(ErrorData::missing_required_client_capability(required));
                }
                Ok(text("The client declared sampling"))
            }
            "test_streaming_elicitation" => match answered(responses, &["confirm"]) {
                Some(r) => Ok(text(format!("Confirmed: {}", r["confirm"]))),
                None => Ok(input_required(
                    json!({ "confirm": elicit("Please confirm", "ok", "boolean") }),
                    None,
                )?
                .into()),
            },
            "test_custom_headers" => Ok(text(format!("Region: {}", arg("region")))),
            name if MRTR_TOOLS.contains(&name) => self.mrtr_tool(name, responses, state, &context),
            other => Err(ErrorData::invalid_params(
                format!("tool not found: {other}"),
                None,
            )),
        }
    }

    async fn elicit(
        &self,
        context: &RequestContext<RoleServer>,
        message: &str,
        schema: Value,
        label: &str,
    ) -> Result<CallToolResponse, ErrorData> {
        let params: ElicitRequestParams =
            serde_json::from_value(json!({ "message": message, "requestedSchema": schema }))
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        match context.peer.create_elicitation(params).await {
            Ok(result) => {
                let value = serde_json::to_value(&result).unwrap_or_default();
                let action = value
                    .get("action")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown");
                let content = value.get("content").cloned().unwrap_or(Value::Null);
                Ok(text(format!("{label}: action={action}, content={content}")))
            }
            Err(e) => Ok(failed(format!("Elicitation error: {e}"))),
        }
    }

    fn seal(&self, step: &str) -> Result<String, ErrorData> {
        self.codec
            .seal_json(&json!({ "step": step }))
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))
    }

    /// Opens sealed request state; anything altered is an invalid-params error.
    fn open(&self, state: Option<&str>) -> Result<Option<String>, ErrorData> {
        let Some(state) = state else { return Ok(None) };
        let value: Value = self.codec.open_json(state).map_err(|_| {
            ErrorData::invalid_params("requestState failed its integrity check", None)
        })?;
        Ok(value.get("step").and_then(Value::as_str).map(str::to_owned))
    }

    fn mrtr_tool(
        &self,
        name: &str,
        responses: Option<&InputResponses>,
        state: Option<&str>,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        validate(responses)?;
        let step = self.open(state)?;
        let ask = |requests: Value, state: Option<String>| {
            input_required(requests, state).map(CallToolResponse::from)
        };
        match name {
            "test_input_required_result_elicitation" => match answered(responses, &["user_name"]) {
                Some(r) => {
                    let name = r["user_name"]
                        .pointer("/content/name")
                        .and_then(Value::as_str)
                        .unwrap_or("there");
                    Ok(text(format!("Hello, {name}!")))
                }
                None => ask(
                    json!({ "user_name": elicit("What is your name?", "name", "string") }),
                    None,
                ),
            },
            "test_input_required_result_sampling" => {
                match answered(responses, &["capital_question"]) {
                    Some(r) => Ok(text(format!(
                        "The model answered: {}",
                        response_text(&r["capital_question"])
                    ))),
                    None => ask(
                        json!({ "capital_question": sample("What is the capital of France?", 100) }),
                        None,
                    ),
                }
            }
            "test_input_required_result_list_roots" => match answered(responses, &["client_roots"])
            {
                Some(r) => {
                    let uris: Vec<&str> = r["client_roots"]
                        .get("roots")
                        .and_then(Value::as_array)
                        .map(|roots| {
                            roots
                                .iter()
                                .filter_map(|root| root.get("uri").and_then(Value::as_str))
                                .collect()
                        })
                        .unwrap_or_default();
                    Ok(text(format!("Client roots: {}", uris.join(", "))))
                }
                None => ask(json!({ "client_roots": roots() }), None),
            },
            "test_input_required_result_request_state" => {
                match (answered(responses, &["confirm"]), step.as_deref()) {
                    (Some(_), Some("confirm")) => {
                        Ok(text("state-ok: the request state was verified"))
                    }
                    _ => ask(
                        json!({ "confirm": elicit("Please confirm", "ok", "boolean") }),
                        Some(self.seal("confirm")?),
                    ),
                }
            }
            "test_input_required_result_multiple_inputs" => {
                match (
                    answered(responses, &["user_name", "greeting", "client_roots"]),
                    step.as_deref(),
                ) {
                    (Some(_), Some("multiple")) => Ok(text("Received all three inputs")),
                    _ => ask(
                        json!({
                            "user_name": elicit("What is your name?", "name", "string"),
                            "greeting": sample("Generate a greeting", 50),
                            "client_roots": roots()
                        }),
                        Some(self.seal("multiple")?),
                    ),
                }
            }
            "test_input_required_result_multi_round" => match step.as_deref() {
                Some("round1") if answered(responses, &["step1"]).is_some() => ask(
                    json!({ "step2": elicit("Step 2: What is your favorite color?", "color", "string") }),
                    Some(self.seal("round2")?),
                ),
                Some("round2") if answered(responses, &["step2"]).is_some() => {
                    Ok(text("Both rounds completed"))
                }
                _ => ask(
                    json!({ "step1": elicit("Step 1: What is your name?", "name", "string") }),
                    Some(self.seal("round1")?),
                ),
            },
            "test_input_required_result_tampered_state" => {
                match (answered(responses, &["confirm"]), step.as_deref()) {
                    (Some(_), Some("tamper")) => Ok(text("The request state was intact")),
                    _ => ask(
                        json!({ "confirm": elicit("Please confirm", "ok", "boolean") }),
                        Some(self.seal("tamper")?),
                    ),
                }
            }
            "test_input_required_result_capabilities" => {
                let caps = context.client_capabilities().unwrap_or_default();
                if answered(responses, &[]).is_some_and(|r| !r.is_empty()) {
                    return Ok(text("Received the inputs the client could give"));
                }
                let mut requests = Map::new();
                if caps.elicitation.is_some() {
                    requests.insert(
                        "user_name".into(),
                        elicit("What is your name?", "name", "string"),
                    );
                }
                if caps.sampling.is_some() {
                    requests.insert(
                        "capital_question".into(),
                        sample("What is the capital of France?", 100),
                    );
                }
                if caps.roots.is_some() {
                    requests.insert("client_roots".into(), roots());
                }
                if requests.is_empty() {
                    return Ok(text("The client declared no input capability"));
                }
                ask(Value::Object(requests), None)
            }
            other => Err(ErrorData::invalid_params(
                format!("tool not found: {other}"),
                None,
            )),
        }
    }

    pub fn resources(&self) -> Vec<Resource> {
        vec![
            Resource::new("test://static-text", "Static Text Resource")
                .with_description("A static text resource for testing")
                .with_mime_type("text/plain"),
            Resource::new("test://static-binary", "Static Binary Resource")
                .with_description("A static binary resource for testing")
                .with_mime_type("image/png"),
        ]
    }

    pub fn resource_templates(&self) -> Vec<ResourceTemplate> {
        vec![
            ResourceTemplate::new("test://template/{id}/data", "Dynamic Resource")
                .with_description("A resource whose {id} is substituted")
                .with_mime_type("application/json"),
        ]
    }

    pub fn has_resource(&self, uri: &str) -> bool {
        uri.starts_with("test://")
    }

    pub async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri.as_str();
        let contents = match uri {
            "test://static-text" => ResourceContents::TextResourceContents {
                uri: uri.into(),
                mime_type: Some("text/plain".into()),
                text: "This is the content of the static text resource.".into(),
                meta: None,
            },
            "test://static-binary" => ResourceContents::BlobResourceContents {
                uri: uri.into(),
                mime_type: Some("image/png".into()),
                blob: PNG.into(),
                meta: None,
            },
            _ => match uri.strip_prefix("test://template/").and_then(|rest| rest.strip_suffix("/data")) {
                Some(id) if !id.is_empty() && !id.contains('/') => ResourceContents::TextResourceContents {
                    uri: uri.into(),
                    mime_type: Some("application/json".into()),
                    text: json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") }).to_string(),
                    meta: None,
                },
                _ => return Err(ErrorData::resource_not_found(format!("Resource not found: {uri}"), Some(json!({ "uri": uri })))),
            },
        };
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    pub fn prompts(&self) -> Vec<Prompt> {
        vec![
            Prompt::new(
                "test_simple_prompt",
                Some("A simple prompt without arguments"),
                None,
            ),
            Prompt::new(
                "test_prompt_with_arguments",
                Some("A prompt with two arguments"),
                Some(vec![
                    PromptArgument::new("arg1")
                        .with_description("First test argument")
                        .with_required(true),
                    PromptArgument::new("arg2")
                        .with_description("Second test argument")
                        .with_required(true),
                ]),
            ),
            Prompt::new(
                "test_prompt_with_embedded_resource",
                Some("A prompt that embeds a resource"),
                Some(vec![
                    PromptArgument::new("resourceUri")
                        .with_description("URI of the resource to embed")
                        .with_required(true),
                ]),
            ),
            Prompt::new(
                "test_prompt_with_image",
                Some("A prompt with an image"),
                None,
            ),
            Prompt::new(
                "test_input_required_result_prompt",
                Some("A prompt that asks for context first (SEP-2322)"),
                None,
            ),
        ]
    }

    pub fn has_prompt(&self, name: &str) -> bool {
        PROMPTS.contains(&name)
    }

    pub async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let args = request.arguments.clone().unwrap_or_default();
        let arg = |name: &str| {
            args.get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let result = match request.name.as_str() {
            "test_simple_prompt" => GetPromptResult::new(vec![PromptMessage::new_text(
                Role::User,
                "This is a simple prompt for testing.",
            )]),
            "test_prompt_with_arguments" => GetPromptResult::new(vec![PromptMessage::new_text(
                Role::User,
                format!(
                    "Prompt with arguments: arg1='{}', arg2='{}'",
                    arg("arg1"),
                    arg("arg2")
                ),
            )]),
            "test_prompt_with_embedded_resource" => GetPromptResult::new(vec![
                PromptMessage::new_resource(
                    Role::User,
                    arg("resourceUri"),
                    Some("text/plain".into()),
                    Some("Embedded resource content for testing.".into()),
                    None,
                    None,
                    None,
                ),
                PromptMessage::new_text(Role::User, "Please process the embedded resource above."),
            ]),
            "test_prompt_with_image" => GetPromptResult::new(vec![
                PromptMessage::new(
                    Role::User,
                    ContentBlock::Image(ImageContent::new(PNG, "image/png")),
                ),
                PromptMessage::new_text(Role::User, "Please analyze the image above."),
            ]),
            "test_input_required_result_prompt" => {
                validate(request.input_responses.as_ref())?;
                match answered(request.input_responses.as_ref(), &["user_context"]) {
                    Some(r) => {
                        let context = r["user_context"]
                            .pointer("/content/context")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        GetPromptResult::new(vec![PromptMessage::new_text(
                            Role::User,
                            format!("Context: {context}"),
                        )])
                    }
                    None => {
                        let requests = json!({
                            "user_context": elicit("What context should the prompt use?", "context", "string")
                        });
                        return Ok(input_required(requests, None)?.into());
                    }
                }
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!("prompt not found: {other}"),
                    None,
                ));
            }
        };
        Ok(result.into())
    }

    /// Completions for the fixture prompt and template; `None` for anything else.
    pub fn complete(&self, request: &CompleteRequestParams) -> Option<CompleteResult> {
        let candidates: &[&str] = match &request.r#ref {
            Reference::Prompt(p) if p.name == "test_prompt_with_arguments" => {
                &["paris", "park", "party", "pasta"]
            }
            Reference::Resource(r) if r.uri == "test://template/{id}/data" => {
                &["1", "2", "3", "123"]
            }
            _ => return None,
        };
        let values = candidates
            .iter()
            .filter(|c| c.starts_with(&request.argument.value))
            .map(|c| (*c).to_owned())
            .collect();
        CompletionInfo::new(values).ok().map(CompleteResult::new)
    }
}

fn json_schema_2020_12() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "$anchor": "addressDef",
                "type": "object",
                "properties": { "street": { "type": "string" }, "city": { "type": "string" } }
            }
        },
        "properties": {
            "name": { "type": "string" },
            "address": { "$ref": "#/$defs/address" },
            "contactMethod": { "type": "string", "enum": ["phone", "email"] },
            "phone": { "type": "string" },
            "email": { "type": "string" }
        },
        "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
        "if": { "properties": { "contactMethod": { "const": "phone" } }, "required": ["contactMethod"] },
        "then": { "required": ["phone"] },
        "else": { "required": ["email"] },
        "additionalProperties": false
    })
}
