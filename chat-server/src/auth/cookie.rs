//! The browser's sign-in cookie: `mas_session=<token>.<signature>`, where the
//! token is 32 random characters and the signature is HMAC-SHA256 of it
//! under `SECRET_KEY`. A tampered cookie fails the signature before any
//! lookup; a valid one is looked up by the token's SHA-256 (so a database
//! leak does not leak live cookies) and can be revoked server-side.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::keys;

pub const NAME: &str = "mas_session";

/// Signs and checks sign-in cookies.
#[derive(Clone)]
pub struct CookieKey {
    secret: Vec<u8>,
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl CookieKey {
    pub fn new(secret: &[u8], secure: bool) -> Self {
        CookieKey {
            secret: secret.to_vec(),
            secure,
        }
    }

    /// A key for this process only (local use without `SECRET_KEY`): cookies
    /// do not survive a restart.
    pub fn ephemeral() -> Self {
        CookieKey::new(keys::random(48).as_bytes(), false)
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length; this cannot fail.
        #[allow(clippy::expect_used)]
        <Hmac<Sha256> as Mac>::new_from_slice(&self.secret).expect("HMAC accepts any key length")
    }

    /// A new cookie value and the token it carries.
    pub fn issue(&self) -> (String, String) {
        let token = keys::random(32);
        let mut mac = self.mac();
        mac.update(token.as_bytes());
        let signature = hex(&mac.finalize().into_bytes());
        (format!("{token}.{signature}"), token)
    }

    /// The token of a cookie value whose signature holds.
    pub fn verify<'a>(&self, value: &'a str) -> Option<&'a str> {
        let (token, signature) = value.split_once('.')?;
        let signature: Vec<u8> = (0..signature.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(signature.get(i..i + 2)?, 16).ok())
            .collect::<Option<_>>()?;
        let mut mac = self.mac();
        mac.update(token.as_bytes());
        // Constant-time comparison.
        mac.verify_slice(&signature).ok()?;
        Some(token)
    }

    /// `Set-Cookie` for a sign-in lasting `max_age` seconds.
    pub fn set(&self, value: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{NAME}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
    }

    /// `Set-Cookie` that removes the cookie.
    pub fn clear(&self) -> String {
        self.set("", 0)
    }
}

/// The `mas_session` value among a request's `Cookie` headers.
pub fn from_headers(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NAME)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_verifies_only_untampered_and_under_its_own_key() {
        let key = CookieKey::new(b"a secret key of some length", true);
        let (value, token) = key.issue();
        assert_eq!(key.verify(&value), Some(token.as_str()));
        let mut tampered = value.clone();
        tampered.replace_range(0..1, if value.starts_with('a') { "b" } else { "a" });
        assert_eq!(key.verify(&tampered), None);
        assert_eq!(key.verify(&format!("{value}0")), None);
        assert_eq!(key.verify(&token), None);
        assert_eq!(CookieKey::new(b"another key", true).verify(&value), None);
        let header = key.set(&value, 3600);
        assert!(
            header.contains("HttpOnly")
                && header.contains("SameSite=Lax")
                && header.ends_with("Secure")
        );
    }
}
