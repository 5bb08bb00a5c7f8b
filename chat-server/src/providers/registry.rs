//! Which providers exist, from configuration: every vendor whose key is set
//! (an OpenAI-compatible server needs only `OPENAI_BASE_URL`), and always the
//! `offline` one the caller hands in (the offline planner, which lives with
//! the agents); the default is `LLM_PROVIDER` or the first configured vendor.

use std::{collections::BTreeMap, sync::Arc};

use secrecy::SecretString;
use serde::Deserialize;

use super::{
    LlmProvider, ProviderError,
    client::HttpPolicy,
    vendors::{Vendor, VendorProvider},
};

/// Provider configuration (environment names in upper case).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProviderSettings {
    /// `gemini`, `openai`, `anthropic` or `offline`: the default provider.
    pub llm_provider: Option<String>,
    /// Model for the default provider (overrides its `*_MODEL`).
    pub llm_model: Option<String>,
    pub google_api_key: Option<SecretString>,
    pub gemini_base_url: Option<String>,
    pub gemini_model: Option<String>,
    pub openai_api_key: Option<SecretString>,
    pub openai_base_url: Option<String>,
    pub openai_model: Option<String>,
    pub anthropic_api_key: Option<SecretString>,
    pub anthropic_base_url: Option<String>,
    pub anthropic_model: Option<String>,
    /// Seconds without a byte before a stream is abandoned.
    pub llm_idle_timeout: Option<u64>,
    /// Retries of a failed request (before any output).
    pub llm_max_retries: Option<usize>,
}

/// The environment variables `ProviderSettings` reads.
pub const ENV_VARS: &[&str] = &[
    "LLM_PROVIDER",
    "LLM_MODEL",
    "GOOGLE_API_KEY",
    "GEMINI_BASE_URL",
    "GEMINI_MODEL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_MODEL",
    "LLM_IDLE_TIMEOUT",
    "LLM_MAX_RETRIES",
];

/// The configured providers by name.
pub struct Registry {
    providers: BTreeMap<String, Arc<dyn LlmProvider>>,
    default: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("LLM_PROVIDER={0:?} is not configured; configured: {1}")]
    NotConfigured(String, String),
    #[error("cannot build the {0} provider")]
    Build(&'static str, #[source] ProviderError),
}

impl Registry {
    /// The configured vendors, plus `offline` (named `offline`), which
    /// answers when no vendor is configured.
    pub fn from_settings(
        settings: &ProviderSettings,
        offline: Arc<dyn LlmProvider>,
    ) -> Result<Self, RegistryError> {
        let mut policy = HttpPolicy::default();
        if let Some(secs) = settings.llm_idle_timeout {
            policy.idle_timeout = std::time::Duration::from_secs(secs.max(1));
        }
        if let Some(n) = settings.llm_max_retries {
            policy.max_retries = n;
        }
        let mut providers: BTreeMap<String, Arc<dyn LlmProvider>> = BTreeMap::new();
        let mut order = Vec::new();
        let vendors = [
            (
                Vendor::Gemini,
                &settings.google_api_key,
                &settings.gemini_base_url,
                &settings.gemini_model,
            ),
            (
                Vendor::OpenAi,
                &settings.openai_api_key,
                &settings.openai_base_url,
                &settings.openai_model,
            ),
            (
                Vendor::Anthropic,
                &settings.anthropic_api_key,
                &settings.anthropic_base_url,
                &settings.anthropic_model,
            ),
        ];
        let wanted = settings
            .llm_provider
            .as_deref()
            .map(str::to_ascii_lowercase);
        for (vendor, key, base, model) in vendors {
            // A local OpenAI-compatible server (Ollama, vLLM...) needs no key, only its URL.
            let configured = key.is_some() || (vendor == Vendor::OpenAi && base.is_some());
            if !configured {
                continue;
            }
            let model = match (&settings.llm_model, wanted.as_deref()) {
                (Some(m), Some(w)) if w == vendor.name() => m.clone(),
                _ => model
                    .clone()
                    .unwrap_or_else(|| vendor.default_model().to_owned()),
            };
            let base = base
                .clone()
                .unwrap_or_else(|| vendor.default_base_url().to_owned());
            let provider = VendorProvider::new(vendor, &model, &base, key.clone(), policy.clone())
                .map_err(|e| RegistryError::Build(vendor.name(), e))?;
            providers.insert(vendor.name().to_owned(), Arc::new(provider));
            order.push(vendor.name().to_owned());
        }
        providers.insert("offline".to_owned(), offline);
        let default = match wanted {
            Some(w) if providers.contains_key(&w) => w,
            Some(w) => {
                let names: Vec<&str> = providers.keys().map(String::as_str).collect();
                return Err(RegistryError::NotConfigured(w, names.join(", ")));
            }
            None => order
                .first()
                .cloned()
                .unwrap_or_else(|| "offline".to_owned()),
        };
        Ok(Registry { providers, default })
    }

    /// A registry holding just `provider` (for embedding and tests).
    pub fn single(provider: Arc<dyn LlmProvider>) -> Self {
        let name = provider.name().to_owned();
        Registry {
            providers: BTreeMap::from([(name.clone(), provider)]),
            default: name,
        }
    }

    /// The default provider.
    pub fn default_provider(&self) -> Arc<dyn LlmProvider> {
        self.providers[&self.default].clone()
    }

    /// A provider by name (`gemini`, `openai`, `anthropic`, `offline`).
    pub fn get(&self, name: &str) -> Option<Arc<dyn LlmProvider>> {
        self.providers.get(name).cloned()
    }

    pub fn names(&self) -> Vec<&str> {
        self.providers.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{ChatRequest, EventStream};

    /// Stands in for the offline planner.
    struct Offline;

    #[async_trait::async_trait]
    impl LlmProvider for Offline {
        fn name(&self) -> &str {
            "offline"
        }
        fn model(&self) -> &str {
            "offline-planner"
        }
        async fn stream(&self, _: &ChatRequest) -> Result<EventStream, ProviderError> {
            Err(ProviderError::Protocol("not in these tests".into()))
        }
    }

    fn offline() -> Arc<dyn LlmProvider> {
        Arc::new(Offline)
    }

    #[test]
    fn no_key_means_the_offline_planner() {
        let registry =
            Registry::from_settings(&ProviderSettings::default(), offline()).expect("registry");
        assert_eq!(registry.default_provider().name(), "offline");
        assert_eq!(registry.names(), vec!["offline"]);
    }

    #[test]
    fn the_first_key_present_wins_unless_llm_provider_says_otherwise() {
        let settings = ProviderSettings {
            openai_api_key: Some("sk-test".to_owned().into()),
            anthropic_api_key: Some("sk-ant".to_owned().into()),
            ..Default::default()
        };
        let registry = Registry::from_settings(&settings, offline()).expect("registry");
        assert_eq!(registry.default_provider().name(), "openai");
        assert_eq!(registry.names(), vec!["anthropic", "offline", "openai"]);
        let chosen = ProviderSettings {
            llm_provider: Some("anthropic".into()),
            llm_model: Some("claude-haiku-4-5".into()),
            ..settings
        };
        let registry = Registry::from_settings(&chosen, offline()).expect("registry");
        assert_eq!(registry.default_provider().model(), "claude-haiku-4-5");
    }

    #[test]
    fn a_local_openai_compatible_server_needs_only_its_url() {
        let settings = ProviderSettings {
            openai_base_url: Some("http://127.0.0.1:11434/v1".into()),
            ..Default::default()
        };
        let registry = Registry::from_settings(&settings, offline()).expect("registry");
        assert_eq!(registry.default_provider().name(), "openai");
    }

    #[test]
    fn asking_for_an_unconfigured_provider_is_an_error() {
        let settings = ProviderSettings {
            llm_provider: Some("gemini".into()),
            ..Default::default()
        };
        let error = Registry::from_settings(&settings, offline())
            .err()
            .expect("error");
        assert!(error.to_string().contains("not configured"), "{error}");
    }
}
