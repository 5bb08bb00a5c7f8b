//! `chat-server user add|list|disable|enable|reset-password|delete` and
//! `chat-server key create|list|revoke`:
//! accounts in the chat database, for the first admin and for operators.

use anyhow::Context;
use clap::Subcommand;
use secrecy::ExposeSecret;

use crate::{
    auth::accounts,
    domain::UserRole,
    settings::Settings,
    store::{sql::SqlStore, users::UserStore},
};

#[derive(Subcommand)]
pub enum UserAction {
    /// Add a user; the password (at least 12 characters) is read from stdin.
    Add {
        username: String,
        /// `user` or `admin`.
        #[arg(long, default_value = "user")]
        role: String,
    },
    /// List users.
    List,
    /// Disable a user: their keys and sign-ins are refused at once.
    Disable { username: String },
    /// Enable a disabled user again.
    Enable { username: String },
    /// Give a user a new password, read from stdin.
    ResetPassword { username: String },
    /// Delete a user with their keys, sign-ins, conversations, memories and profile.
    Delete { username: String },
}

/// The password on stdin (one line).
fn password_from_stdin() -> anyhow::Result<String> {
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("reading the password from stdin")?;
    Ok(password.trim_end_matches(['\r', '\n']).to_owned())
}

#[derive(Subcommand)]
pub enum KeyAction {
    /// Create an API key for a user and print it (it is shown only this once).
    Create {
        username: String,
        /// Comma-separated: chat, sessions:read, mcp, memory, admin.
        #[arg(long, default_value = "chat,sessions:read")]
        scopes: String,
        /// A label for the key.
        #[arg(long, default_value = "default")]
        name: String,
        /// Days until it expires (default: never).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// List keys (prefix, scopes, expiry, last use, use count, revocation).
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a key by id: refused at once from then on.
    Revoke { id: String },
}

/// Runs a `user` command.
pub async fn users(action: UserAction, settings: &Settings) -> anyhow::Result<()> {
    let store = SqlStore::connect(settings.database.url.expose_secret(), 2)
        .await
        .context("opening the chat database")?;
    match action {
        UserAction::Add { username, role } => {
            let role = UserRole::parse(&role).context("the role is user or admin")?;
            let user = accounts::add_user(&store, &username, role, &password_from_stdin()?).await?;
            println!(
                "created {} {} ({})",
                user.role.as_str(),
                user.username,
                user.id
            );
        }
        UserAction::List => {
            for user in store.users().await? {
                let state = if user.disabled_at.is_some() {
                    "disabled"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}\t{}\t{state}",
                    user.id,
                    user.username,
                    user.role.as_str()
                );
            }
        }
        UserAction::Disable { username } => {
            accounts::set_disabled(&store, &username, true).await?;
            println!("disabled {username}");
        }
        UserAction::Enable { username } => {
            accounts::set_disabled(&store, &username, false).await?;
            println!("enabled {username}");
        }
        UserAction::ResetPassword { username } => {
            accounts::set_password(&store, &username, &password_from_stdin()?).await?;
            println!("new password set for {username}");
        }
        UserAction::Delete { username } => {
            accounts::delete_user(&store, &username).await?;
            println!("deleted {username} with their conversations, memories and profile");
        }
    }
    Ok(())
}

/// Runs a `key` command.
pub async fn keys(action: KeyAction, settings: &Settings) -> anyhow::Result<()> {
    let store = SqlStore::connect(settings.database.url.expose_secret(), 2)
        .await
        .context("opening the chat database")?;
    match action {
        KeyAction::Create {
            username,
            scopes,
            name,
            expires_in_days,
        } => {
            let (key, record) =
                accounts::create_key(&store, &username, &scopes, &name, expires_in_days).await?;
            eprintln!(
                "key {} for {username} (id {}); store it now, it is not shown again:",
                record.prefix, record.id
            );
            println!("{key}");
        }
        KeyAction::List { user } => {
            let user_id = match user {
                Some(name) => Some(
                    store
                        .user_by_name(&name)
                        .await?
                        .with_context(|| format!("no user is named {name:?}"))?
                        .id,
                ),
                None => None,
            };
            for key in store.keys(user_id.as_deref()).await? {
                println!("{}", serde_json::to_string(&key)?);
            }
        }
        KeyAction::Revoke { id } => {
            accounts::revoke_key(&store, &id).await?;
            println!("revoked {id}");
        }
    }
    Ok(())
}
