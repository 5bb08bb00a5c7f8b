//! What both servers' settings loaders share: environment variables read by
//! their own names (each becoming the lower-case key of the same name), lists
//! given as a TOML array or a comma-separated string, and errors that name
//! the variable at fault.

use figment::providers::Env;
use serde::{Deserialize, Deserializer};

/// The environment variables in `names`, as lower-case keys.
pub fn env(names: &[&str]) -> Env {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    Env::raw()
        .filter(move |key| names.iter().any(|n| key.as_str().eq_ignore_ascii_case(n)))
        .map(|key| key.as_str().to_ascii_lowercase().into())
}

/// Every error of an extraction, each naming its variable (`CHAT_PORT: ...`).
pub fn describe(error: figment::Error) -> String {
    let errors: Vec<String> = error
        .into_iter()
        .map(|err| {
            let key = err.path.join(".").to_ascii_uppercase();
            if key.is_empty() {
                err.to_string()
            } else {
                format!("{key}: {}", err.kind)
            }
        })
        .collect();
    errors.join("; ")
}

/// Accepts a list as a TOML array or as a comma-separated string (the env form).
pub fn list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Raw::deserialize(deserializer)? {
        Raw::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Raw::Many(v) => v,
    })
}
