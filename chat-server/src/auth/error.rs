//! Why a caller is refused, in the auth layer's own words; the HTTP layer
//! decides which status each one is.

use std::time::Duration;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No valid credentials (none, unknown, revoked, expired).
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credentials that may not do this (a scope, a CSRF token).
    #[error("{0}")]
    Forbidden(String),
    /// Credentials that cannot be any (an over-long header): refused before
    /// anything is looked up or written.
    #[error("{0}")]
    Malformed(String),
    /// Too many failed sign-ins; try again after `retry_after`.
    #[error("too many failed sign-ins; try again later")]
    Locked { retry_after: Duration },
    /// The user store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    pub(crate) fn unauthenticated(message: &str) -> Self {
        AuthError::Unauthenticated(message.to_owned())
    }
}
