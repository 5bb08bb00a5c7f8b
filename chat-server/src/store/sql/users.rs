//! `UserStore` on `SqlStore`: users, API keys, sign-ins and the audit log.

use async_trait::async_trait;
use sqlx::{Row, any::AnyRow};

use super::{SqlStore, classify};
use crate::{
    domain::{Scope, UserRole},
    store::{
        StoreError, StoreResult, now_ms,
        users::{
            AUDIT_DETAIL_CHARS, AUDIT_FIELD_CHARS, AUDIT_WINDOW_MS, ApiKey, Login, NewKey,
            SecurityEvent, User, UserStore,
        },
    },
};

fn user(row: &AnyRow) -> Result<User, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        role: UserRole::parse(&role).unwrap_or(UserRole::User),
        created_at: row.try_get("created_at")?,
        disabled_at: row.try_get("disabled_at")?,
    })
}

fn key(row: &AnyRow) -> Result<ApiKey, sqlx::Error> {
    let scopes: String = row.try_get("scopes")?;
    Ok(ApiKey {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        scopes: scopes.split(' ').filter_map(Scope::parse).collect(),
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
        usage_count: row.try_get("usage_count")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// The hex SHA-256 of `text`: an event's fingerprint.
fn sha256(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn failed(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => classify(e),
    }
}

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(
        &self,
        username: &str,
        password_hash: Option<&str>,
        role: UserRole,
    ) -> StoreResult<User> {
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            username: username.to_owned(),
            password_hash: password_hash.map(str::to_owned),
            role,
            created_at: now_ms(),
            disabled_at: None,
        };
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(role.as_str())
        .bind(user.created_at)
        .execute(self.pool())
        .await
        .map_err(failed)?;
        Ok(user)
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(self.pool())
            .await
            .map_err(failed)?;
        row.as_ref().map(user).transpose().map_err(failed)
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(failed)?;
        row.as_ref().map(user).transpose().map_err(failed)
    }

    async fn set_disabled(&self, id: &str, at: Option<i64>) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(failed)?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_password(&self, id: &str, password_hash: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(failed)?;
        Ok(done.rows_affected() > 0)
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY created_at, username")
            .fetch_all(self.pool())
            .await
            .map_err(failed)?;
        rows.iter()
            .map(user)
            .collect::<Result<_, _>>()
            .map_err(failed)
    }

    async fn create_key(&self, new: &NewKey<'_>) -> StoreResult<ApiKey> {
        let key = ApiKey {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: new.user_id.to_owned(),
            name: new.name.to_owned(),
            prefix: new.prefix.to_owned(),
            scopes: new.scopes.to_vec(),
            created_at: now_ms(),
            expires_at: new.expires_at,
            last_used_at: None,
            usage_count: 0,
            revoked_at: None,
        };
        let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, scopes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&key.id)
        .bind(&key.user_id)
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(new.key_hash)
        .bind(scopes.join(" "))
        .bind(key.created_at)
        .bind(key.expires_at)
        .execute(self.pool())
        .await
        .map_err(failed)?;
        Ok(key)
    }

    async fn key_by_hash(&self, key_hash: &str) -> StoreResult<Option<(ApiKey, User)>> {
        let Some(row) = sqlx::query("SELECT * FROM api_keys WHERE key_hash = $1")
            .bind(key_hash)
            .fetch_optional(self.pool())
            .await
            .map_err(failed)?
        else {
            return Ok(None);
        };
        let key = key(&row).map_err(failed)?;
        let owner = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(&key.user_id)
            .fetch_optional(self.pool())
            .await
            .map_err(failed)?;
        match owner {
            Some(row) => Ok(Some((key, user(&row).map_err(failed)?))),
            None => Ok(None),
        }
    }

    async fn touch_key(&self, id: &str, at: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $1, usage_count = usage_count + 1 WHERE id = $2",
        )
        .bind(at)
        .bind(id)
        .execute(self.pool())
        .await
        .map_err(failed)?;
        Ok(())
    }

    async fn keys(&self, user_id: Option<&str>) -> StoreResult<Vec<ApiKey>> {
        let rows = match user_id {
            Some(user_id) => {
                sqlx::query("SELECT * FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC")
                    .bind(user_id)
                    .fetch_all(self.pool())
                    .await
            }
            None => {
                sqlx::query("SELECT * FROM api_keys ORDER BY created_at DESC")
                    .fetch_all(self.pool())
                    .await
            }
        }
        .map_err(failed)?;
        rows.iter()
            .map(key)
            .collect::<Result<_, _>>()
            .map_err(failed)
    }

    async fn create_login(&self, login: &Login) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO logins (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&login.token_hash)
        .bind(&login.user_id)
        .bind(&login.csrf_token)
        .bind(login.created_at)
        .bind(login.expires_at)
        .execute(self.pool())
        .await
        .map_err(failed)?;
        Ok(())
    }

    async fn login_by_hash(&self, token_hash: &str) -> StoreResult<Option<(Login, User)>> {
        let row = sqlx::query(
            "SELECT l.token_hash, l.csrf_token, l.created_at AS login_created_at, l.expires_at, \
             l.revoked_at, u.* FROM logins l JOIN users u ON u.id = l.user_id WHERE l.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await
        .map_err(failed)?;
        let Some(row) = row else { return Ok(None) };
        let read = || -> Result<(Login, User), sqlx::Error> {
            let user = user(&row)?;
            let login = Login {
                token_hash: row.try_get("token_hash")?,
                user_id: user.id.clone(),
                csrf_token: row.try_get("csrf_token")?,
                created_at: row.try_get("login_created_at")?,
                expires_at: row.try_get("expires_at")?,
                revoked_at: row.try_get("revoked_at")?,
            };
            Ok((login, user))
        };
        read().map(Some).map_err(failed)
    }

    async fn end_login(&self, token_hash: &str, at: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE logins SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(token_hash)
        .execute(self.pool())
        .await
        .map_err(failed)?;
        Ok(())
    }

    async fn record_event(&self, event: &SecurityEvent) -> StoreResult<()> {
        let cut = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        let field = |s: &Option<String>| s.as_deref().map(|s| cut(s, AUDIT_FIELD_CHARS));
        let (kind, user_id, username, address, detail) = (
            cut(&event.kind, AUDIT_FIELD_CHARS),
            field(&event.user_id),
            field(&event.username),
            field(&event.address),
            cut(&event.detail, AUDIT_DETAIL_CHARS),
        );
        let window = event.at / AUDIT_WINDOW_MS;
        let fingerprint = sha256(&format!(
            "{kind}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{detail}\u{1f}{window}",
            user_id.as_deref().unwrap_or(""),
            username.as_deref().unwrap_or(""),
            address.as_deref().unwrap_or("")
        ));
        sqlx::query(
            "INSERT INTO security_events (at, last_at, count, kind, user_id, username, address, detail, fingerprint) \
             VALUES ($1, $1, 1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (fingerprint) DO UPDATE SET count = security_events.count + 1, last_at = excluded.last_at",
        )
        .bind(event.at)
        .bind(&kind)
        .bind(&user_id)
        .bind(&username)
        .bind(&address)
        .bind(&detail)
        .bind(&fingerprint)
        .execute(self.pool())
        .await
        .map_err(failed)?;
        Ok(())
    }

    async fn events_since(&self, at: i64, limit: i64) -> StoreResult<Vec<SecurityEvent>> {
        let rows = sqlx::query(
            "SELECT at, coalesce(last_at, at) AS last_at, count, kind, user_id, username, address, detail \
             FROM security_events WHERE coalesce(last_at, at) >= $1 \
             ORDER BY coalesce(last_at, at) DESC, id DESC LIMIT $2",
        )
        .bind(at)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(failed)?;
        rows.iter()
            .map(|row| {
                Ok(SecurityEvent {
                    at: row.try_get("at")?,
                    last_at: row.try_get("last_at")?,
                    count: row.try_get("count")?,
                    kind: row.try_get("kind")?,
                    user_id: row.try_get("user_id")?,
                    username: row.try_get("username")?,
                    address: row.try_get("address")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(failed)
    }

    async fn prune_events(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM security_events WHERE coalesce(last_at, at) < $1")
            .bind(before)
            .execute(self.pool())
            .await
            .map_err(failed)?;
        Ok(done.rows_affected())
    }

    async fn prune_logins(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM logins WHERE expires_at < $1")
            .bind(before)
            .execute(self.pool())
            .await
            .map_err(failed)?;
        Ok(done.rows_affected())
    }

    async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.write_tx().await.map_err(failed)?;
        // Their conversations (with messages, runs and tool calls), memories,
        // profile and usage; keys and sign-ins go with the user row.
        for sql in [
            "DELETE FROM chat_sessions WHERE owner = $1",
            "DELETE FROM memories WHERE owner = $1",
            "DELETE FROM user_profiles WHERE owner = $1",
            "DELETE FROM usage_hourly WHERE owner = $1",
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
        }
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_key(&self, id: &str, at: i64) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(at)
                .bind(id)
                .execute(self.pool())
                .await
                .map_err(failed)?;
        Ok(done.rows_affected() > 0)
    }
}
