//! Who is calling. API clients send `Authorization: Bearer mas_...` (an API
//! key: random, shown once, stored as a SHA-256 hash, with scopes, expiry and
//! revocation); browsers sign in with a password and carry a signed cookie
//! (`cookie`), sending its CSRF token with every change. Users have a role
//! (`user` or `admin`) and an Argon2id password (`password`); `accounts`
//! creates users and keys.
//!
//! Auth is *required* with `ENVIRONMENT=production` or `AUTH_REQUIRED=true`:
//! then every API call needs a valid key or sign-in. Otherwise (the local
//! default) a call without credentials acts as the local user, who sees
//! everything; credentials that are sent are still checked, and their user
//! owns what they create. Refusals are `AuthError`s; the HTTP layer turns
//! them into statuses.

pub mod accounts;
pub mod cookie;
pub mod error;
pub mod keys;
pub mod password;
pub mod principal;

mod mcp;
mod sign_in;

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use axum_extra::headers::{Authorization, HeaderMapExt, authorization::Bearer};

use self::cookie::CookieKey;
pub use self::{error::AuthError, principal::Principal};
use crate::{
    domain::{Scope, UserRole},
    limits::Logins,
    store::{
        now_ms,
        users::{SecurityEvent, UserStore},
    },
};

/// How long a browser sign-in lasts.
pub const LOGIN_TTL_SECONDS: i64 = 12 * 3600;

/// The longest `Authorization` value or sign-in cookie that could be ours
/// (a key is 45 characters, a cookie under 100); longer is refused unread.
pub const MAX_CREDENTIAL_BYTES: usize = 256;

/// The authentication in front of the API.
#[derive(Clone)]
pub struct Auth {
    users: Arc<dyn UserStore>,
    required: bool,
    cookies: CookieKey,
    /// Failed sign-ins (shared between replicas through Redis).
    logins: Arc<Logins>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// `cookies` signs browser sign-ins (`SECRET_KEY`; an ephemeral key locally).
    pub fn new(
        users: Arc<dyn UserStore>,
        required: bool,
        cookies: CookieKey,
        logins: Arc<Logins>,
    ) -> Self {
        Auth {
            users,
            required,
            cookies,
            logins,
        }
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
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let key_len = headers.get(header::AUTHORIZATION).map_or(0, |v| v.len());
        if key_len > MAX_CREDENTIAL_BYTES
            || cookie::sent_len(headers).unwrap_or(0) > MAX_CREDENTIAL_BYTES
        {
            return Err(AuthError::Malformed(format!(
                "the credentials are too long (at most {MAX_CREDENTIAL_BYTES} bytes)"
            )));
        }
        if headers.contains_key(header::AUTHORIZATION) {
            return match headers.typed_get::<Authorization<Bearer>>() {
                Some(bearer) => self.by_key(bearer.token().trim()).await,
                None => Err(AuthError::unauthenticated("the API key is not valid")),
            };
        }
        if cookie::presented(headers) {
            match self.by_cookie(headers).await {
                Ok(principal) => return Ok(principal),
                // A stale cookie on a local install is no reason to refuse.
                Err(e) if self.required => return Err(e),
                Err(_) => {}
            }
        }
        if self.required {
            Err(AuthError::unauthenticated(
                "sign in, or send an API key: Authorization: Bearer mas_...",
            ))
        } else {
            Ok(Principal::local())
        }
    }

    async fn by_key(&self, key: &str) -> Result<Principal, AuthError> {
        let invalid = || AuthError::unauthenticated("the API key is not valid");
        if !keys::looks_like_key(key) {
            return Err(invalid());
        }
        let Some((key, user)) = self.users.key_by_hash(&keys::hash(key)).await? else {
            return Err(invalid());
        };
        let now = now_ms();
        if key.revoked_at.is_some() || key.expires_at.is_some_and(|at| at <= now) {
            return Err(AuthError::unauthenticated(
                "the API key is revoked or expired",
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
            csrf: None,
        })
    }

    async fn by_cookie(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let expired = || AuthError::unauthenticated("the sign-in has expired; sign in again");
        let token = self.cookies.token(headers).ok_or_else(expired)?;
        let Some((login, user)) = self.users.login_by_hash(&keys::hash(&token)).await? else {
            return Err(expired());
        };
        if login.revoked_at.is_some() || login.expires_at <= now_ms() || user.disabled_at.is_some()
        {
            return Err(expired());
        }
        let mut scopes = vec![Scope::Chat, Scope::SessionsRead, Scope::Memory];
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

    /// A change made with a sign-in cookie must carry that sign-in's CSRF
    /// token (`sent`, from `X-CSRF-Token`); API keys need none.
    pub fn check_csrf(principal: &Principal, sent: Option<&str>) -> Result<(), AuthError> {
        match &principal.csrf {
            Some(expected)
                if !constant_time_eq(sent.unwrap_or_default().as_bytes(), expected.as_bytes()) =>
            {
                Err(AuthError::Forbidden(
                    "missing or wrong CSRF token (X-CSRF-Token)".into(),
                ))
            }
            _ => Ok(()),
        }
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
        let username = who.map(|p| p.username.as_str()).or(username);
        let user_id = who.and_then(|p| p.user_id.as_deref());
        let event = SecurityEvent::now(kind, user_id, username, address, detail);
        if let Err(e) = self.users.record_event(&event).await {
            tracing::error!(error = %e, kind, "writing a security event failed");
        }
    }

    /// The audit log since `at`, newest first.
    pub async fn events_since(&self, at: i64) -> Result<Vec<SecurityEvent>, AuthError> {
        Ok(self.users.events_since(at, 10_000).await?)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
