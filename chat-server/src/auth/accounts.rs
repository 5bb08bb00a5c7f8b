//! Managing users and API keys: the `user` and `key` commands and the admin
//! endpoints both go through here.

use anyhow::{Context, bail};

use super::{keys, password};
use crate::{
    domain::{Scope, UserRole},
    store::{
        StoreError, now_ms,
        users::{ApiKey, NewKey, SecurityEvent, User, UserStore},
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
    audit(
        store,
        "key_created",
        &user,
        &format!(
            "{} ({}) scopes {}",
            record.prefix,
            record.name,
            scope_list(&record.scopes)
        ),
    )
    .await;
    Ok((key, record))
}

fn scope_list(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

async fn audit(store: &dyn UserStore, kind: &str, user: &User, detail: &str) {
    metrics::counter!("mas_security_events_total", "kind" => kind.to_owned()).increment(1);
    let event = SecurityEvent {
        at: now_ms(),
        kind: kind.to_owned(),
        user_id: Some(user.id.clone()),
        username: Some(user.username.clone()),
        address: None,
        detail: detail.to_owned(),
    };
    if let Err(e) = store.record_event(&event).await {
        tracing::error!(error = %e, kind, "writing a security event failed");
    }
}

/// Revokes a key by id; an unknown or already revoked id is an error.
pub async fn revoke_key(store: &dyn UserStore, id: &str) -> anyhow::Result<()> {
    if !store.revoke_key(id, now_ms()).await? {
        bail!("no active key has id {id:?}");
    }
    let key = store.keys(None).await?.into_iter().find(|k| k.id == id);
    let owner = match &key {
        Some(key) => store
            .users()
            .await?
            .into_iter()
            .find(|u| u.id == key.user_id),
        None => None,
    };
    if let (Some(key), Some(owner)) = (key, owner) {
        audit(store, "key_revoked", &owner, &key.prefix).await;
    }
    Ok(())
}
