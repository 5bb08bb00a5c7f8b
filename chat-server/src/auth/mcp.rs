//! `/mcp` on the chat server takes the same API keys: a key needs the `mcp`
//! scope (an admin key has it); without auth required, no key is needed.

use super::Auth;
use crate::domain::Scope;

#[async_trait::async_trait]
impl mcp_server::auth::TokenVerifier for Auth {
    async fn verify(&self, token: Option<&str>) -> Result<Vec<String>, String> {
        let Some(token) = token else {
            return if self.required {
                Err("send an API key with the mcp scope: Authorization: Bearer mas_...".into())
            } else {
                Ok(vec![mcp_server::auth::SCOPE.into()])
            };
        };
        match self.by_key(token).await {
            Ok(principal) => {
                if !principal.allows(Scope::Mcp) {
                    self.audit(
                        "permission_denied",
                        Some(&principal),
                        None,
                        None,
                        "/mcp without the mcp scope",
                    )
                    .await;
                }
                Ok(principal
                    .scopes
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .chain(
                        principal
                            .allows(Scope::Mcp)
                            .then(|| Scope::Mcp.as_str().into()),
                    )
                    .collect())
            }
            Err(e) => {
                self.audit("invalid_credentials", None, None, None, "/mcp")
                    .await;
                Err(e.to_string())
            }
        }
    }
}
