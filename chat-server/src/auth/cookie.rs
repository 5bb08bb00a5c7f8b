//! The browser's sign-in cookie, `mas_session`: a random token signed with a
//! key derived from `SECRET_KEY` (axum-extra's signed cookie jar, HMAC-SHA256),
//! HttpOnly, SameSite=Lax, `Secure` behind TLS. A tampered cookie fails the
//! signature before any lookup; a valid one is looked up by the token's
//! SHA-256 (so a database leak does not leak live cookies) and can be revoked
//! server-side.

use axum::http::HeaderMap;
use axum_extra::extract::{
    CookieJar, SignedCookieJar,
    cookie::{Cookie, Key, SameSite},
};

pub const NAME: &str = "mas_session";

/// Signs and checks sign-in cookies.
#[derive(Clone)]
pub struct CookieKey {
    key: Key,
    /// Adds `Secure` (set when the server is reached over TLS).
    pub secure: bool,
}

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieKey")
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

/// Shortest `SECRET_KEY` accepted (the key derivation needs 32 bytes).
pub const MIN_SECRET_BYTES: usize = 32;

impl CookieKey {
    /// A key derived from `secret`; `None` when it is shorter than
    /// `MIN_SECRET_BYTES`.
    pub fn new(secret: &[u8], secure: bool) -> Option<Self> {
        (secret.len() >= MIN_SECRET_BYTES).then(|| CookieKey {
            key: Key::derive_from(secret),
            secure,
        })
    }

    /// A key for this process only (local use without `SECRET_KEY`): cookies
    /// do not survive a restart.
    pub fn ephemeral() -> Self {
        CookieKey {
            key: Key::generate(),
            secure: false,
        }
    }

    /// The token of a request's sign-in cookie whose signature holds.
    pub fn token(&self, headers: &HeaderMap) -> Option<String> {
        SignedCookieJar::from_headers(headers, self.key.clone())
            .get(NAME)
            .map(|c| c.value().to_owned())
    }

    /// The jar that sets a sign-in cookie carrying `token` for `max_age` seconds.
    pub fn set(&self, token: &str, max_age: i64) -> SignedCookieJar {
        let cookie = Cookie::build((NAME, token.to_owned()))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(cookie::time::Duration::seconds(max_age));
        SignedCookieJar::new(self.key.clone()).add(cookie)
    }

    /// The jar that removes the sign-in cookie.
    pub fn clear(&self) -> SignedCookieJar {
        self.set("", 0)
    }
}

/// Whether a request carries a sign-in cookie at all (signed or not).
pub fn presented(headers: &HeaderMap) -> bool {
    CookieJar::from_headers(headers).get(NAME).is_some()
}

/// The length of the sign-in cookie's value as sent, if one is.
pub fn sent_len(headers: &HeaderMap) -> Option<usize> {
    CookieJar::from_headers(headers)
        .get(NAME)
        .map(|c| c.value().len())
}

#[cfg(test)]
mod tests {
    use axum::{http::HeaderValue, response::IntoResponse};

    use super::*;

    /// The `name=value` a browser sends back for the jar's cookie.
    fn sent_back(jar: SignedCookieJar) -> (HeaderMap, String) {
        let response = jar.into_response();
        let set = response.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let pair = set.split(';').next().expect("pair").to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(
            "cookie",
            HeaderValue::from_str(&pair).expect("header value"),
        );
        (headers, set)
    }

    #[test]
    fn a_cookie_verifies_only_untampered_and_under_its_own_key() {
        let key = CookieKey::new(b"a secret key of some length, 32+ bytes", true).expect("key");
        let (headers, set) = sent_back(key.set("token-1", 3600));
        assert_eq!(key.token(&headers).as_deref(), Some("token-1"));
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Secure"),
            "{set}"
        );
        let pair = headers["cookie"].to_str().expect("ascii").to_owned();
        let mut tampered = HeaderMap::new();
        tampered.insert(
            "cookie",
            HeaderValue::from_str(&pair.replace("token-1", "token-2")).expect("value"),
        );
        assert_eq!(key.token(&tampered), None, "a changed token fails");
        assert!(presented(&tampered));
        let other = CookieKey::new(b"another secret key, also 32 bytes long", true).expect("key");
        assert_eq!(other.token(&headers), None, "another key's cookie fails");
        assert!(CookieKey::new(b"too short", true).is_none());
    }
}
