//! Browser sign-in and sign-out: a password checked with Argon2id (off the
//! async workers), failures slowed and, past the limit (per username and per
//! address), refused for a while; a success records the sign-in and sets the
//! signed cookie.

use axum::http::HeaderMap;
use axum_extra::extract::SignedCookieJar;

use super::{Auth, AuthError, LOGIN_TTL_SECONDS, keys, password};
use crate::{
    limits::logins::FAILURE_DELAY,
    store::{now_ms, users::Login},
};

impl Auth {
    /// Checks a password sign-in; on success, the cookie to set.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        address: &str,
    ) -> Result<SignedCookieJar, AuthError> {
        let keys = [
            format!("user:{}", username.to_lowercase()),
            format!("ip:{address}"),
        ];
        let mut blocked = None;
        for key in &keys {
            blocked = blocked.max(self.logins.blocked(key).await);
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
            return Err(AuthError::Locked { retry_after: wait });
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
                self.logins.failed(key).await;
            }
            self.audit(
                "login_failed",
                None,
                Some(username),
                Some(address),
                "wrong username or password",
            )
            .await;
            tokio::time::sleep(FAILURE_DELAY).await;
            return Err(AuthError::unauthenticated("wrong username or password"));
        };
        for key in &keys {
            self.logins.succeeded(key).await;
        }
        let token = keys::random(32);
        let now = now_ms();
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
        Ok(self.cookies.set(&token, LOGIN_TTL_SECONDS))
    }

    /// Ends the sign-in of a request's cookie; returns the cookie that clears it.
    pub async fn sign_out(&self, headers: &HeaderMap) -> Result<SignedCookieJar, AuthError> {
        if let Some(token) = self.cookies.token(headers) {
            self.users.end_login(&keys::hash(&token), now_ms()).await?;
        }
        Ok(self.cookies.clear())
    }
}
