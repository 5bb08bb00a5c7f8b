//! Accounts and their security, in the chat database: users, API keys,
//! browser sign-ins and the audit log (`users`, `api_keys`, `logins`,
//! `security_events`). `sql::users` implements it.

use async_trait::async_trait;
use serde::Serialize;

use super::StoreResult;
use crate::domain::{Scope, UserRole};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub role: UserRole,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

/// An API key as stored: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// `mas_xxxxxxxx`: recognises the key without revealing it.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub usage_count: i64,
    pub revoked_at: Option<i64>,
}

/// A key to store (its hash, not the key).
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    pub user_id: &'a str,
    pub name: &'a str,
    pub prefix: &'a str,
    pub key_hash: &'a str,
    pub scopes: &'a [Scope],
    pub expires_at: Option<i64>,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Fails with `Conflict` when the username is taken.
    async fn create_user(
        &self,
        username: &str,
        password_hash: Option<&str>,
        role: UserRole,
    ) -> StoreResult<User>;
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>>;
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    async fn users(&self) -> StoreResult<Vec<User>>;
    /// Disables a user from `at` (their keys and sign-ins stop at once), or
    /// enables them again (`None`); `false` when no user has this id.
    async fn set_disabled(&self, id: &str, at: Option<i64>) -> StoreResult<bool>;
    /// Deletes a user with everything that is theirs: keys, sign-ins,
    /// conversations, memories, profile and usage (the audit log keeps what
    /// happened); `false` when no user has this id.
    async fn delete_user(&self, id: &str) -> StoreResult<bool>;
    /// Replaces a user's password hash; `false` when no user has this id.
    async fn set_password(&self, id: &str, password_hash: &str) -> StoreResult<bool>;
    async fn create_key(&self, key: &NewKey<'_>) -> StoreResult<ApiKey>;
    /// The key with this hash and its user.
    async fn key_by_hash(&self, key_hash: &str) -> StoreResult<Option<(ApiKey, User)>>;
    /// Records a use: last-used time and count.
    async fn touch_key(&self, id: &str, at: i64) -> StoreResult<()>;
    /// Keys of one user, or of everyone; newest first.
    async fn keys(&self, user_id: Option<&str>) -> StoreResult<Vec<ApiKey>>;
    /// `false` when no key has this id (or it was already revoked).
    async fn revoke_key(&self, id: &str, at: i64) -> StoreResult<bool>;
    /// Records a browser sign-in (by its token's hash) with its CSRF token.
    async fn create_login(&self, login: &Login) -> StoreResult<()>;
    /// The sign-in with this token hash and its user.
    async fn login_by_hash(&self, token_hash: &str) -> StoreResult<Option<(Login, User)>>;
    /// Ends a sign-in (logout): refused from then on.
    async fn end_login(&self, token_hash: &str, at: i64) -> StoreResult<()>;
    /// Appends to the audit log, its fields cut to `AUDIT_FIELD_CHARS` (the
    /// detail to `AUDIT_DETAIL_CHARS`); an event identical to one already
    /// recorded in the same `AUDIT_WINDOW_MS` only counts one more there.
    async fn record_event(&self, event: &SecurityEvent) -> StoreResult<()>;
    /// Audit events last seen since `at`, newest first, at most `limit`.
    async fn events_since(&self, at: i64, limit: i64) -> StoreResult<Vec<SecurityEvent>>;
    /// Removes audit events last seen before `before`; how many went.
    async fn prune_events(&self, before: i64) -> StoreResult<u64>;
    /// Removes sign-ins that expired before `before`; how many went.
    async fn prune_logins(&self, before: i64) -> StoreResult<u64>;
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityEvent {
    /// First seen.
    pub at: i64,
    /// Last seen (as `at` for an event seen once).
    pub last_at: i64,
    /// How many times, between `at` and `last_at`.
    pub count: i64,
    /// `login_failed`, `login_refused`, `invalid_credentials`, `permission_denied`,
    /// `rate_limited`, `key_created`, `key_revoked`, `user_disabled`, ...
    pub kind: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub address: Option<String>,
    pub detail: String,
}

/// The longest a username, an address or a kind is kept in the audit log.
pub const AUDIT_FIELD_CHARS: usize = 64;
/// The longest a detail is kept in the audit log.
pub const AUDIT_DETAIL_CHARS: usize = 300;
/// Identical events within this window are one row.
pub const AUDIT_WINDOW_MS: i64 = 5 * 60 * 1000;

impl SecurityEvent {
    /// An event seen once, now.
    pub fn now(
        kind: &str,
        user_id: Option<&str>,
        username: Option<&str>,
        address: Option<&str>,
        detail: &str,
    ) -> Self {
        let at = super::now_ms();
        SecurityEvent {
            at,
            last_at: at,
            count: 1,
            kind: kind.to_owned(),
            user_id: user_id.map(str::to_owned),
            username: username.map(str::to_owned),
            address: address.map(str::to_owned),
            detail: detail.to_owned(),
        }
    }
}

/// A browser sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub token_hash: String,
    pub user_id: String,
    pub csrf_token: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}
