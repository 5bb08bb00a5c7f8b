//! The three vendor providers: a model, a base URL, a key, and the shared
//! HTTP policy; each builds its vendor's request and parses its stream.

use async_trait::async_trait;
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};

use super::{
    ChatRequest, EventStream, LlmProvider, ProviderError,
    anthropic::{self, AnthropicParser},
    client::{self, HttpPolicy, StreamRequest},
    gemini::{self, GeminiParser},
    openai::{self, OpenAiParser},
};

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Gemini,
    OpenAi,
    Anthropic,
}

impl Vendor {
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Gemini => "gemini",
            Vendor::OpenAi => "openai",
            Vendor::Anthropic => "anthropic",
        }
    }

    pub fn default_base_url(self) -> &'static str {
        match self {
            Vendor::Gemini => "https://generativelanguage.googleapis.com",
            Vendor::OpenAi => "https://api.openai.com/v1",
            Vendor::Anthropic => "https://api.anthropic.com",
        }
    }

    pub fn default_model(self) -> &'static str {
        match self {
            Vendor::Gemini => "gemini-2.5-flash",
            Vendor::OpenAi => "gpt-4o-mini",
            Vendor::Anthropic => "claude-sonnet-4-5",
        }
    }
}

/// A vendor API provider.
pub struct VendorProvider {
    vendor: Vendor,
    model: String,
    base_url: String,
    api_key: Option<SecretString>,
    http: reqwest::Client,
    policy: HttpPolicy,
}

impl VendorProvider {
    pub fn new(
        vendor: Vendor,
        model: &str,
        base_url: &str,
        api_key: Option<SecretString>,
        policy: HttpPolicy,
    ) -> Result<Self, ProviderError> {
        Ok(VendorProvider {
            vendor,
            model: model.to_owned(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            http: client::http_client(&policy)?,
            policy,
        })
    }

    pub fn policy(&self) -> &HttpPolicy {
        &self.policy
    }

    /// Replaces the timeouts and retry policy.
    pub fn set_policy(&mut self, policy: HttpPolicy) {
        self.policy = policy;
    }

    fn key(&self) -> Option<String> {
        self.api_key.as_ref().map(|k| k.expose_secret().to_owned())
    }
}

#[async_trait]
impl LlmProvider for VendorProvider {
    fn name(&self) -> &str {
        self.vendor.name()
    }

    fn model(&self) -> &str {
        &self.model
    }

    /// Every error the call surfaces (after its retries), before the stream
    /// or inside it, is counted in `mas_provider_errors_total{provider,kind}`.
    async fn stream(&self, request: &ChatRequest) -> Result<EventStream, ProviderError> {
        let provider = self.vendor.name();
        let count = move |e: &ProviderError| {
            metrics::counter!("mas_provider_errors_total", "provider" => provider, "kind" => e.kind())
                .increment(1);
        };
        let events = self.open(request).await.inspect_err(count)?;
        Ok(events
            .inspect(move |item| {
                if let Err(e) = item {
                    count(e);
                }
            })
            .boxed())
    }
}

impl VendorProvider {
    async fn open(&self, request: &ChatRequest) -> Result<EventStream, ProviderError> {
        let model = request.model.as_deref().unwrap_or(&self.model);
        match self.vendor {
            Vendor::OpenAi => {
                let body = openai::request_body(model, request);
                let mut headers = Vec::new();
                if let Some(key) = self.key() {
                    headers.push(("authorization", format!("Bearer {key}")));
                }
                let url = format!("{}/chat/completions", self.base_url);
                client::open::<OpenAiParser>(
                    &self.http,
                    &self.policy,
                    StreamRequest {
                        url,
                        headers,
                        body: &body,
                    },
                )
                .await
            }
            Vendor::Anthropic => {
                let body = anthropic::request_body(model, request);
                let mut headers = vec![("anthropic-version", "2023-06-01".to_owned())];
                if let Some(key) = self.key() {
                    headers.push(("x-api-key", key));
                }
                let url = format!("{}/v1/messages", self.base_url);
                client::open::<AnthropicParser>(
                    &self.http,
                    &self.policy,
                    StreamRequest {
                        url,
                        headers,
                        body: &body,
                    },
                )
                .await
            }
            Vendor::Gemini => {
                let body = gemini::request_body(request);
                let mut headers = Vec::new();
                if let Some(key) = self.key() {
                    headers.push(("x-goog-api-key", key));
                }
                let url = format!(
                    "{}/v1beta/models/{model}:streamGenerateContent?alt=sse",
                    self.base_url
                );
                client::open::<GeminiParser>(
                    &self.http,
                    &self.policy,
                    StreamRequest {
                        url,
                        headers,
                        body: &body,
                    },
                )
                .await
            }
        }
    }
}
