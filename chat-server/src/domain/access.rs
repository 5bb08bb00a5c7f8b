//! Who may do what: a user's role, and the scopes an API key carries.

use serde::{Deserialize, Serialize};

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserRole {
    User,
    Admin,
}

impl UserRole {
    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::User => "user",
            UserRole::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(UserRole::User),
            "admin" => Some(UserRole::Admin),
            _ => None,
        }
    }
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// Start runs, follow and cancel them, rename and delete sessions.
    #[serde(rename = "chat")]
    Chat,
    /// List and read sessions.
    #[serde(rename = "sessions:read")]
    SessionsRead,
    /// Use the EMIS tools over MCP at `/mcp`.
    #[serde(rename = "mcp")]
    Mcp,
    /// Read and change the user's own memories and profile; runs of a key
    /// without it neither read nor write memory.
    #[serde(rename = "memory")]
    Memory,
    /// Everything, for every user (an admin user's key only).
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Chat,
        Scope::SessionsRead,
        Scope::Mcp,
        Scope::Memory,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Chat => "chat",
            Scope::SessionsRead => "sessions:read",
            Scope::Mcp => "mcp",
            Scope::Memory => "memory",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// Parses a comma- or space-separated list, naming what is not a scope.
    pub fn parse_list(s: &str) -> Result<Vec<Scope>, String> {
        let mut scopes = Vec::new();
        for word in s.split([',', ' ']).filter(|w| !w.is_empty()) {
            let scope = Scope::parse(word).ok_or_else(|| {
                format!("{word:?} is not a scope (chat, sessions:read, mcp, memory or admin)")
            })?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        Ok(scopes)
    }
}
