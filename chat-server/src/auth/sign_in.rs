//! Browser sign-in and sign-out: a password checked with Argon2id (off the
//! async workers); failures slowed, and past the limits of `limits::logins`
//! (per username and address, per address) refused for a while, while a
//! username under attack from many addresses is only slowed; a success
//! records the sign-in and sets the signed cookie.

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
        let verdict = self.logins.check(username, address).await;
        if let Some(wait) = verdict.locked_for {
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
        tokio::time::sleep(verdict.delay).await;
        let user = self.users.user_by_name(username).await?;
        let stored = user
            .as_ref()
            .filter(|u| u.disabled_at.is_none())
            .and_then(|u| u.password_hash.clone());
        let valid = password::check(password, stored).await;
        let Some(user) = user.filter(|_| valid) else {
            self.logins.failed(username, address).await;
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
        self.logins.succeeded(username, address).await;
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
