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

/// Longest username.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Longest name of an API key.
pub const MAX_KEY_NAME_CHARS: usize = 100;

/// Creates a user with an Argon2id-hashed password.
pub async fn add_user(
    store: &dyn UserStore,
    username: &str,
    role: UserRole,
    password: &str,
) -> anyhow::Result<User> {
    let username = username.trim();
    if username.is_empty()
        || username.chars().count() > MAX_USERNAME_CHARS
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
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_KEY_NAME_CHARS {
        bail!("a key's name is 1 to {MAX_KEY_NAME_CHARS} characters");
    }
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
    let event = SecurityEvent::now(kind, Some(&user.id), Some(&user.username), None, detail);
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

/// Disables (`true`) or re-enables a user: their keys and sign-ins are
/// refused, or accepted again, from the next request on.
pub async fn set_disabled(
    store: &dyn UserStore,
    username: &str,
    disabled: bool,
) -> anyhow::Result<User> {
    let user = store
        .user_by_name(username)
        .await?
        .with_context(|| format!("no user is named {username:?}"))?;
    store
        .set_disabled(&user.id, disabled.then(now_ms))
        .await
        .context("saving the user")?;
    let kind = if disabled {
        "user_disabled"
    } else {
        "user_enabled"
    };
    audit(store, kind, &user, &user.username).await;
    Ok(User {
        disabled_at: disabled.then(now_ms),
        ..user
    })
}

/// Deletes a user and everything that is theirs (keys, sign-ins,
/// conversations, memories, profile); the last enabled admin stays.
pub async fn delete_user(store: &dyn UserStore, username: &str) -> anyhow::Result<User> {
    let user = store
        .user_by_name(username)
        .await?
        .with_context(|| format!("no user is named {username:?}"))?;
    if user.role == UserRole::Admin && user.disabled_at.is_none() {
        let admins = store
            .users()
            .await?
            .iter()
            .filter(|u| u.role == UserRole::Admin && u.disabled_at.is_none())
            .count();
        anyhow::ensure!(
            admins > 1,
            "{username:?} is the last admin: make another first"
        );
    }
    store
        .delete_user(&user.id)
        .await
        .context("deleting the user")?;
    audit(store, "user_deleted", &user, &user.username).await;
    Ok(user)
}

/// Gives a user a new password (Argon2id, at least 12 characters).
pub async fn set_password(
    store: &dyn UserStore,
    username: &str,
    password: &str,
) -> anyhow::Result<()> {
    let user = store
        .user_by_name(username)
        .await?
        .with_context(|| format!("no user is named {username:?}"))?;
    let hashed = password::hash(password).map_err(anyhow::Error::msg)?;
    store
        .set_password(&user.id, &hashed)
        .await
        .context("saving the password")?;
    audit(store, "password_set", &user, &user.username).await;
    Ok(())
}

/// Whether `password` is `username`'s current one (an unknown user costs
/// as much as a wrong password).
pub async fn password_matches(
    store: &dyn UserStore,
    username: &str,
    password: &str,
) -> anyhow::Result<bool> {
    let stored = store
        .user_by_name(username)
        .await?
        .and_then(|u| u.password_hash);
    Ok(password::check(password, stored).await)
}

/// Revokes key `id` of user `user_id` only (`false`: they have no such active key).
pub async fn revoke_own_key(
    store: &dyn UserStore,
    user_id: &str,
    id: &str,
) -> anyhow::Result<bool> {
    let mine = store
        .keys(Some(user_id))
        .await?
        .iter()
        .any(|k| k.id == id && k.revoked_at.is_none());
    if !mine {
        return Ok(false);
    }
    revoke_key(store, id).await?;
    Ok(true)
}
