//! The MCP client's HTTP client: reqwest's (as rmcp uses it), sending the
//! W3C trace context a request carries in its `_meta` (SEP-414) as the
//! `traceparent` and `tracestate` headers too, so an MCP server's HTTP
//! span, not only its `tools/call` span, is in the chat turn's trace.
//! Written here because rmcp has no hook for per-request headers; it only
//! adds headers and delegates every call.

use std::{collections::HashMap, sync::Arc};

use axum::http::{HeaderName, HeaderValue};
use futures::stream::BoxStream;
use rmcp::{
    model::ClientJsonRpcMessage,
    transport::streamable_http_client::{
        SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
        StreamableHttpResponseLimits,
    },
};
use sse_stream::Sse;

#[derive(Clone, Default)]
pub(super) struct Traced(reqwest::Client);

/// `headers` and the trace context of `message`'s `_meta`.
fn traced(
    message: &ClientJsonRpcMessage,
    mut headers: HashMap<HeaderName, HeaderValue>,
) -> HashMap<HeaderName, HeaderValue> {
    let ClientJsonRpcMessage::Request(_) = message else {
        return headers;
    };
    let Ok(value) = serde_json::to_value(message) else {
        return headers;
    };
    for key in ["traceparent", "tracestate"] {
        if let Some(v) = value["params"]["_meta"][key].as_str()
            && let Ok(v) = HeaderValue::from_str(v)
        {
            headers.insert(HeaderName::from_static(key), v);
        }
    }
    headers
}

impl StreamableHttpClient for Traced {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let headers = traced(&message, custom_headers);
        self.0
            .post_message(uri, message, session_id, auth_header, headers)
            .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let headers = traced(&message, custom_headers);
        self.0
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                auth_header,
                headers,
                max_sse_event_size,
            )
            .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let headers = traced(&message, custom_headers);
        self.0
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                headers,
                limits,
            )
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.0
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.0
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.0
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_requests_trace_context_goes_into_its_headers() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let call: ClientJsonRpcMessage = serde_json::from_value(json!({
            "jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": { "name": "search_schools", "_meta": { "traceparent": parent, "tracestate": "mas=1" } },
        }))
        .expect("a tools/call request");
        let headers = traced(&call, HashMap::new());
        assert_eq!(
            headers
                .get(&HeaderName::from_static("traceparent"))
                .and_then(|v| v.to_str().ok()),
            Some(parent)
        );
        assert_eq!(
            headers
                .get(&HeaderName::from_static("tracestate"))
                .and_then(|v| v.to_str().ok()),
            Some("mas=1")
        );
        let untraced: ClientJsonRpcMessage = serde_json::from_value(json!({
            "jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": { "name": "search_schools" },
        }))
        .expect("a tools/call request");
        assert!(traced(&untraced, HashMap::new()).is_empty());
    }
}
