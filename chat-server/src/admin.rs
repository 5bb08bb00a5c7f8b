//! Managing users and API keys: the `user` and `key` commands (and, later,
//! the admin endpoints) go through here.

use anyhow::{Context, bail};

use crate::{
    auth::{Scope, UserRole, keys, password},
    store::{
        StoreError, now_ms,
        users::{ApiKey, NewKey, User, UserStore},
    },
};

/// Creates a user with an Argon2id-hashed password.
pub async fn add_user(
    store: &dyn UserStore,
    username: &str,
    role: UserRole,
    password: &str,
) -> anyhow::Result<User> {
    let username = username.trim();
    if username.is_empty()
        || username.chars().count() > 64
        || !username
            .chars()
            .all(|c| c.is_alphanumeric() || "._-@".contains(c))
    {
        bail!("a username is 1 to 64 letters, digits or . _ - @");
    }
    let hashed = password::hash(password).map_err(anyhow::Error::msg)?;
    match store.create_user(username, Some(&hashed), role).await {
        Err(StoreError::Conflict) => bail!("a user named {username:?} exists already"),
        other => other.context("saving the user"),
    }
}

/// Creates an API key for `username`; returns the key (to show once) and its record.
pub async fn create_key(
    store: &dyn UserStore,
    username: &str,
    scopes: &str,
    name: &str,
    expires_in_days: Option<u32>,
) -> anyhow::Result<(String, ApiKey)> {
    let user = store
        .user_by_name(username)
        .await?
        .with_context(|| format!("no user is named {username:?}"))?;
    let scopes = Scope::parse_list(scopes).map_err(anyhow::Error::msg)?;
    if scopes.is_empty() {
        bail!("a key needs at least one scope (chat, sessions:read, admin)");
    }
    if scopes.contains(&Scope::Admin) && user.role != UserRole::Admin {
        bail!("only an admin's key can have the admin scope");
    }
    let (key, prefix) = keys::generate();
    let expires_at = expires_in_days.map(|d| now_ms() + i64::from(d) * 86_400_000);
    let record = store
        .create_key(&NewKey {
            user_id: &user.id,
            name,
            prefix: &prefix,
            key_hash: &keys::hash(&key),
            scopes: &scopes,
            expires_at,
        })
        .await
        .context("saving the key")?;
    Ok((key, record))
}

/// Revokes a key by id; an unknown or already revoked id is an error.
pub async fn revoke_key(store: &dyn UserStore, id: &str) -> anyhow::Result<()> {
    if !store.revoke_key(id, now_ms()).await? {
        bail!("no active key has id {id:?}");
    }
    Ok(())
}
