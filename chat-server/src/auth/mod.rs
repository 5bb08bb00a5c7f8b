//! Who is calling. API clients send `Authorization: Bearer mas_...` (an API
//! key: random, shown once, stored as a SHA-256 hash, with scopes, expiry and
//! revocation). Users have a role (`user` or `admin`) and an Argon2id password.
//!
//! Auth is *required* with `ENVIRONMENT=production` or `AUTH_REQUIRED=true`:
//! then every API call needs a valid key. Otherwise (the local default) a call
//! without a key acts as the local user, who sees everything; a key that is
//! sent is still checked, and its user owns what it creates.

pub mod keys;
pub mod password;

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderValue, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

use crate::{http::error::AppError, store::users::UserStore};

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
    /// Everything, for every user (an admin user's key only).
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Chat, Scope::SessionsRead, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Chat => "chat",
            Scope::SessionsRead => "sessions:read",
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
            let scope = Scope::parse(word)
                .ok_or_else(|| format!("{word:?} is not a scope (chat, sessions:read or admin)"))?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        Ok(scopes)
    }
}

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `None` for the local user (no auth configured).
    pub user_id: Option<String>,
    pub username: String,
    pub role: UserRole,
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// The single user of a local install without auth: may do everything.
    pub fn local() -> Self {
        Principal {
            user_id: None,
            username: "local".into(),
            role: UserRole::Admin,
            scopes: Scope::ALL.to_vec(),
        }
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }

    /// Refuses a call this principal's scopes do not cover (403: the key is
    /// the caller's own, so saying so leaks nothing).
    pub fn require(&self, scope: Scope) -> Result<(), AppError> {
        if self.allows(scope) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "this API key lacks the {:?} scope",
                scope.as_str()
            )))
        }
    }

    /// The owner recorded on what this principal creates.
    pub fn owner(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// Admins (and the local user) see every user's sessions.
    pub fn sees_all(&self) -> bool {
        self.user_id.is_none() || (self.role == UserRole::Admin && self.allows(Scope::Admin))
    }

    /// Whether a session owned by `owner` is visible to this principal.
    pub fn may_see(&self, owner: Option<&str>) -> bool {
        self.sees_all() || (owner.is_some() && owner == self.owner())
    }
}

/// The authentication in front of the API.
#[derive(Clone)]
pub struct Auth {
    users: Arc<dyn UserStore>,
    required: bool,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("required", &self.required)
            .finish()
    }
}

impl Auth {
    pub fn new(users: Arc<dyn UserStore>, required: bool) -> Self {
        Auth { users, required }
    }

    pub fn required(&self) -> bool {
        self.required
    }

    /// The principal for a request's `Authorization` header.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AppError> {
        let Some(value) = authorization else {
            return if self.required {
                Err(AppError::Unauthorized(
                    "an API key is required: send Authorization: Bearer mas_...".into(),
                ))
            } else {
                Ok(Principal::local())
            };
        };
        let invalid = || AppError::Unauthorized("the API key is not valid".into());
        let key = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(invalid)?;
        if !keys::looks_like_key(key) {
            return Err(invalid());
        }
        let found = self
            .users
            .key_by_hash(&keys::hash(key))
            .await
            .map_err(AppError::from)?;
        let Some((key, user)) = found else {
            return Err(invalid());
        };
        let now = crate::store::now_ms();
        if key.revoked_at.is_some() || key.expires_at.is_some_and(|at| at <= now) {
            return Err(AppError::Unauthorized(
                "the API key is revoked or expired".into(),
            ));
        }
        if user.disabled_at.is_some() {
            return Err(invalid());
        }
        if let Err(e) = self.users.touch_key(&key.id, now).await {
            tracing::warn!(error = %e, "recording an API key's use failed");
        }
        let mut scopes = key.scopes;
        if user.role != UserRole::Admin {
            // Only an admin's key can carry the admin scope.
            scopes.retain(|s| *s != Scope::Admin);
        }
        Ok(Principal {
            user_id: Some(user.id),
            username: user.username,
            role: user.role,
            scopes,
        })
    }
}

/// Middleware: authenticates the request and hands its `Principal` to the
/// handlers (as a request extension), or answers 401.
pub async fn authenticate(State(auth): State<Auth>, mut request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match auth.authenticate(header).await {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(error) => {
            let mut response = error.into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mas\""),
            );
            response
        }
    }
}
