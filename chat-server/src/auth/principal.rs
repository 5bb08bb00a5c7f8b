//! The caller of a request: a user (through an API key or a browser
//! sign-in), or the local user of an install without auth.

use super::AuthError;
use crate::domain::{Scope, UserRole};

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `None` for the local user (no auth configured).
    pub user_id: Option<String>,
    pub username: String,
    pub role: UserRole,
    pub scopes: Vec<Scope>,
    /// The sign-in's CSRF token when a browser cookie authenticated the call.
    pub csrf: Option<String>,
}

impl Principal {
    /// The single user of a local install without auth: may do everything.
    pub fn local() -> Self {
        Principal {
            user_id: None,
            username: "local".into(),
            role: UserRole::Admin,
            scopes: Scope::ALL.to_vec(),
            csrf: None,
        }
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }

    /// Refuses a call this principal's scopes do not cover (the key is the
    /// caller's own, so saying so leaks nothing).
    pub fn require(&self, scope: Scope) -> Result<(), AuthError> {
        if self.allows(scope) {
            Ok(())
        } else {
            Err(AuthError::Forbidden(format!(
                "this API key lacks the {:?} scope",
                scope.as_str()
            )))
        }
    }

    /// Refuses a call that is not an admin's (with the admin scope).
    pub fn require_admin(&self) -> Result<(), AuthError> {
        self.require(Scope::Admin)?;
        if self.sees_all() {
            Ok(())
        } else {
            Err(AuthError::Forbidden("this is for admins".into()))
        }
    }

    /// The owner recorded on what this principal creates.
    pub fn owner(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// Admins (and the local user) see every user's sessions.
    pub fn sees_all(&self) -> bool {
        self.user_id.is_none() || (self.role == UserRole::Admin && self.allows(Scope::Admin))
    }

    /// Whether a session owned by `owner` is visible to this principal.
    pub fn may_see(&self, owner: Option<&str>) -> bool {
        self.sees_all() || (owner.is_some() && owner == self.owner())
    }
}
