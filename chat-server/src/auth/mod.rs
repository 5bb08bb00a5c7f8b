//! Who is calling. API clients send `Authorization: Bearer mas_...` (an API
//! key: random, shown once, stored as a SHA-256 hash, with scopes, expiry and
//! revocation); browsers sign in with a password and carry a signed cookie
//! (`cookie`), sending its CSRF token with every change. Users have a role
//! (`user` or `admin`) and an Argon2id password.
//!
//! Auth is *required* with `ENVIRONMENT=production` or `AUTH_REQUIRED=true`:
//! then every API call needs a valid key or sign-in. Otherwise (the local
//! default) a call without credentials acts as the local user, who sees
//! everything; credentials that are sent are still checked, and their user
//! owns what they create.

pub mod cookie;
pub mod keys;
pub mod password;
pub mod throttle;

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

use self::cookie::CookieKey;
use crate::{
    http::error::AppError,
    store::users::{Login, SecurityEvent, UserStore},
};

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
    /// Everything, for every user (an admin user's key only).
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Chat, Scope::SessionsRead, Scope::Mcp, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Chat => "chat",
            Scope::SessionsRead => "sessions:read",
            Scope::Mcp => "mcp",
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
                format!("{word:?} is not a scope (chat, sessions:read, mcp or admin)")
            })?;
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
    /// The sign-in's CSRF token when a browser cookie authenticated the call.
    pub csrf: Option<String>,
}

impl Principal {
    /// The single user of a local install without auth: may do everything.
    pub fn local() -> Self {
        Principal {
            user_id: None,
            username: "local".into(),
            role: UserRole::Admin,
            scopes: Scope::ALL.to_vec(),
            csrf: None,
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

/// `/mcp` on the chat server takes the same API keys: a key needs the `mcp`
/// scope (an admin key has it); without auth required, no key is needed.
#[async_trait::async_trait]
impl mcp_server::auth::TokenVerifier for Auth {
    async fn verify(&self, token: Option<&str>) -> Result<Vec<String>, String> {
        let Some(token) = token else {
            return if self.required {
                Err("send an API key with the mcp scope: Authorization: Bearer mas_...".into())
            } else {
                Ok(vec![mcp_server::auth::SCOPE.into()])
            };
        };
        match self.by_key(&format!("Bearer {token}")).await {
            Ok(principal) => {
                if !principal.allows(Scope::Mcp) {
                    self.audit(
                        "permission_denied",
                        Some(&principal),
                        None,
                        None,
                        "/mcp without the mcp scope",
                    )
                    .await;
                }
                Ok(principal
                    .scopes
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .chain(
                        principal
                            .allows(Scope::Mcp)
                            .then(|| Scope::Mcp.as_str().into()),
                    )
                    .collect())
            }
            Err(e) => {
                self.audit("invalid_credentials", None, None, None, "/mcp")
                    .await;
                Err(e.to_string())
            }
        }
    }
}

/// How long a browser sign-in lasts.
pub const LOGIN_TTL_SECONDS: i64 = 12 * 3600;

/// The authentication in front of the API.
#[derive(Clone)]
pub struct Auth {
    users: Arc<dyn UserStore>,
    required: bool,
    cookies: CookieKey,
    /// Failed sign-ins, counted with the other per-user limits.
    quotas: Arc<crate::quota::Quotas>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

fn unauthorized(message: &str) -> AppError {
    AppError::Unauthorized(message.into())
}

impl Auth {
    /// `cookies` signs browser sign-ins (`SECRET_KEY`; an ephemeral key locally).
    pub fn new(users: Arc<dyn UserStore>, required: bool) -> Self {
        Auth::with_cookies(users, required, CookieKey::ephemeral())
    }

    pub fn with_cookies(users: Arc<dyn UserStore>, required: bool, cookies: CookieKey) -> Self {
        Auth {
            users,
            required,
            cookies,
            quotas: Arc::default(),
        }
    }

    /// Counts failed sign-ins in `quotas` (shared between replicas through Redis).
    pub fn with_quotas(mut self, quotas: Arc<crate::quota::Quotas>) -> Self {
        self.quotas = quotas;
        self
    }

    pub fn required(&self) -> bool {
        self.required
    }

    /// The user store behind it.
    pub fn users(&self) -> &dyn UserStore {
        self.users.as_ref()
    }

    /// Clients reach the server over TLS (cookies get `Secure`, responses HSTS).
    pub fn behind_tls(&self) -> bool {
        self.cookies.secure
    }

    /// The principal of a request: its API key, else its sign-in cookie, else
    /// (when auth is not required) the local user.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AppError> {
        if let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            return self.by_key(value).await;
        }
        if let Some(cookie) = cookie::from_headers(headers) {
            match self.by_cookie(cookie).await {
                Ok(principal) => return Ok(principal),
                // A stale cookie on a local install is no reason to refuse.
                Err(e) if self.required => return Err(e),
                Err(_) => {}
            }
        }
        if self.required {
            Err(unauthorized(
                "sign in, or send an API key: Authorization: Bearer mas_...",
            ))
        } else {
            Ok(Principal::local())
        }
    }

    async fn by_key(&self, value: &str) -> Result<Principal, AppError> {
        let invalid = || unauthorized("the API key is not valid");
        let key = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(invalid)?;
        if !keys::looks_like_key(key) {
            return Err(invalid());
        }
        let Some((key, user)) = self.users.key_by_hash(&keys::hash(key)).await? else {
            return Err(invalid());
        };
        let now = crate::store::now_ms();
        if key.revoked_at.is_some() || key.expires_at.is_some_and(|at| at <= now) {
            return Err(unauthorized("the API key is revoked or expired"));
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
            csrf: None,
        })
    }

    async fn by_cookie(&self, value: &str) -> Result<Principal, AppError> {
        let expired = || unauthorized("the sign-in has expired; sign in again");
        let token = self.cookies.verify(value).ok_or_else(expired)?;
        let Some((login, user)) = self.users.login_by_hash(&keys::hash(token)).await? else {
            return Err(expired());
        };
        if login.revoked_at.is_some()
            || login.expires_at <= crate::store::now_ms()
            || user.disabled_at.is_some()
        {
            return Err(expired());
        }
        let mut scopes = vec![Scope::Chat, Scope::SessionsRead];
        if user.role == UserRole::Admin {
            scopes.push(Scope::Admin);
        }
        Ok(Principal {
            user_id: Some(user.id),
            username: user.username,
            role: user.role,
            scopes,
            csrf: Some(login.csrf_token),
        })
    }

    /// Writes an audit event and counts it (`mas_security_events_total{kind}`).
    /// Never fails the request: a lost audit write is logged.
    pub async fn audit(
        &self,
        kind: &str,
        who: Option<&Principal>,
        username: Option<&str>,
        address: Option<&str>,
        detail: &str,
    ) {
        metrics::counter!("mas_security_events_total", "kind" => kind.to_owned()).increment(1);
        let event = SecurityEvent {
            at: crate::store::now_ms(),
            kind: kind.to_owned(),
            user_id: who.and_then(|p| p.user_id.clone()),
            username: who
                .map(|p| p.username.clone())
                .or_else(|| username.map(str::to_owned)),
            address: address.map(str::to_owned),
            detail: detail.chars().take(500).collect(),
        };
        if let Err(e) = self.users.record_event(&event).await {
            tracing::error!(error = %e, kind, "writing a security event failed");
        }
    }

    /// The audit log since `at`, newest first.
    pub async fn events_since(&self, at: i64) -> Result<Vec<SecurityEvent>, AppError> {
        Ok(self.users.events_since(at, 10_000).await?)
    }

    /// Checks a password sign-in; on success, the `Set-Cookie` value.
    /// Failures are slowed, and after too many (per username and per
    /// address) refused for a while with 429.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        address: &str,
    ) -> Result<String, AppError> {
        let keys = [
            format!("user:{}", username.to_lowercase()),
            format!("ip:{address}"),
        ];
        let mut blocked = None;
        for key in &keys {
            blocked = blocked.max(self.quotas.login_blocked(key).await);
        }
        if let Some(wait) = blocked {
            self.audit(
                "login_refused",
                None,
                Some(username),
                Some(address),
                "too many failed sign-ins",
            )
            .await;
            return Err(AppError::TooManyRequests {
                message: "too many failed sign-ins; try again later".into(),
                retry_after: wait.as_secs().max(1),
            });
        }
        let user = self.users.user_by_name(username).await?;
        let stored = user
            .as_ref()
            .filter(|u| u.disabled_at.is_none())
            .and_then(|u| u.password_hash.clone());
        let password = password.to_owned();
        // Argon2 is slow on purpose: off the async workers. An unknown user
        // costs the same as a wrong password, so names cannot be probed.
        let valid = tokio::task::spawn_blocking(move || match stored {
            Some(stored) => password::verify(&password, &stored),
            None => {
                let _ = password::verify(&password, password::dummy_hash());
                false
            }
        })
        .await
        .unwrap_or(false);
        let Some(user) = user.filter(|_| valid) else {
            for key in &keys {
                self.quotas.login_failed(key).await;
            }
            self.audit(
                "login_failed",
                None,
                Some(username),
                Some(address),
                "wrong username or password",
            )
            .await;
            tokio::time::sleep(throttle::FAILURE_DELAY).await;
            return Err(unauthorized("wrong username or password"));
        };
        for key in &keys {
            self.quotas.login_succeeded(key).await;
        }
        let (value, token) = self.cookies.issue();
        let now = crate::store::now_ms();
        self.users
            .create_login(&Login {
                token_hash: keys::hash(&token),
                user_id: user.id,
                csrf_token: keys::random(32),
                created_at: now,
                expires_at: now + LOGIN_TTL_SECONDS * 1000,
                revoked_at: None,
            })
            .await?;
        Ok(self.cookies.set(&value, LOGIN_TTL_SECONDS))
    }

    /// Ends the sign-in of a request's cookie; returns the `Set-Cookie` that clears it.
    pub async fn sign_out(&self, headers: &HeaderMap) -> Result<String, AppError> {
        if let Some(token) = cookie::from_headers(headers).and_then(|v| self.cookies.verify(v)) {
            self.users
                .end_login(&keys::hash(token), crate::store::now_ms())
                .await?;
        }
        Ok(self.cookies.clear())
    }
}

/// Middleware: authenticates the request and hands its `Principal` to the
/// handlers (as a request extension), or answers 401. A request that a
/// cookie authenticates and that changes state must carry the sign-in's
/// CSRF token in `X-CSRF-Token` (403 otherwise).
pub async fn authenticate(State(auth): State<Auth>, mut request: Request, next: Next) -> Response {
    let address = client_address(&request);
    let path = request.uri().path().to_owned();
    match auth.authenticate(request.headers()).await {
        Ok(principal) => {
            if let Some(expected) = &principal.csrf
                && !request.method().is_safe()
            {
                let sent = request
                    .headers()
                    .get("x-csrf-token")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if !constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
                    let denied = "missing or wrong CSRF token (X-CSRF-Token)";
                    auth.audit(
                        "permission_denied",
                        Some(&principal),
                        None,
                        address.as_deref(),
                        &format!("{denied} on {path}"),
                    )
                    .await;
                    return AppError::Forbidden(denied.into()).into_response();
                }
            }
            request.extensions_mut().insert(principal.clone());
            let response = next.run(request).await;
            let kind = match response.status().as_u16() {
                403 => Some("permission_denied"),
                429 => Some("rate_limited"),
                _ => None,
            };
            if let Some(kind) = kind {
                auth.audit(kind, Some(&principal), None, address.as_deref(), &path)
                    .await;
            }
            response
        }
        Err(error) => {
            // Credentials that were sent and refused are audited; a call
            // that sent none is only answered.
            let presented = request.headers().contains_key(header::AUTHORIZATION)
                || cookie::from_headers(request.headers()).is_some();
            if presented && matches!(error, AppError::Unauthorized(_)) {
                let detail = format!("{error} on {path}");
                auth.audit(
                    "invalid_credentials",
                    None,
                    None,
                    address.as_deref(),
                    &detail,
                )
                .await;
            }
            let mut response = error.into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mas\""),
            );
            response
        }
    }
}

/// The peer address (the socket's; a trusted proxy's header comes with the
/// replica set-up).
pub fn client_address(request: &Request) -> Option<String> {
    let extensions = request.extensions();
    match extensions.get::<mcp_server::hardening::ClientAddress>() {
        Some(client) => Some(client.0.to_string()),
        None => extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
