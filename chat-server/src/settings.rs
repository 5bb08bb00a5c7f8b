//! Configuration of the chat server: defaults, then an optional TOML file,
//! then environment variables (which win).

use std::path::Path;

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};

use crate::providers::registry::{ENV_VARS, ProviderSettings};

/// Loads provider settings from `file` (if given) and the environment.
pub fn provider_settings(file: Option<&Path>) -> Result<ProviderSettings, Box<figment::Error>> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        figment = figment.merge(Toml::file_exact(path));
    }
    figment
        .merge(
            Env::raw()
                .only(ENV_VARS)
                .map(|k| k.as_str().to_ascii_lowercase().into()),
        )
        .extract()
        .map_err(Box::new)
}
