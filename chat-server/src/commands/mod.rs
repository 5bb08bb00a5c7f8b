//! The command line: `serve` (the default), `user` and `key` (accounts in
//! the chat database), and `ask` (one question at the terminal). Flags
//! override the settings of the same name.

pub mod accounts;
pub mod ask;
pub mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use figment::value::Value;

use crate::settings::Settings;

#[derive(Parser)]
#[command(name = "chat-server", version, about = "MAS chat server")]
pub struct Cli {
    /// TOML file with settings (environment variables override it; default `MAS_CONFIG`).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the chat API (SSE runs, sessions) and the web chat.
    Serve {
        /// `CHAT_HOST`
        #[arg(long)]
        host: Option<String>,
        /// `CHAT_PORT`
        #[arg(long)]
        port: Option<u16>,
        /// `DATABASE_URL`: the chat database, a SQLite file or PostgreSQL.
        #[arg(long)]
        database_url: Option<String>,
        /// `MAX_CONCURRENT_SESSIONS`: runs allowed at once; more get 503.
        #[arg(long)]
        max_concurrent_sessions: Option<usize>,
    },
    /// Manage users (in the chat database).
    User {
        #[command(subcommand)]
        action: accounts::UserAction,
        /// `DATABASE_URL`
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Manage API keys (in the chat database).
    Key {
        #[command(subcommand)]
        action: accounts::KeyAction,
        /// `DATABASE_URL`
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Answer one question, streaming the answer to stdout (tool calls on stderr).
    Ask {
        question: String,
        /// Provider to use (gemini, openai, anthropic, offline); default: the configured one.
        #[arg(long)]
        provider: Option<String>,
    },
}

impl Cli {
    /// The settings the flags set, by their settings' names.
    pub fn overrides(&self) -> Vec<(&'static str, Value)> {
        let mut set: Vec<(&'static str, Value)> = Vec::new();
        match &self.command {
            Some(Command::Serve {
                host,
                port,
                database_url,
                max_concurrent_sessions,
            }) => {
                if let Some(host) = host {
                    set.push(("chat_host", host.clone().into()));
                }
                if let Some(port) = port {
                    set.push(("chat_port", (*port).into()));
                }
                if let Some(url) = database_url {
                    set.push(("database_url", url.clone().into()));
                }
                if let Some(n) = max_concurrent_sessions {
                    set.push(("max_concurrent_sessions", (*n as u64).into()));
                }
            }
            Some(Command::User { database_url, .. } | Command::Key { database_url, .. }) => {
                if let Some(url) = database_url {
                    set.push(("database_url", url.clone().into()));
                }
            }
            Some(Command::Ask {
                provider: Some(provider),
                ..
            }) => set.push(("llm_provider", provider.clone().into())),
            _ => {}
        }
        set
    }

    /// Whether the command prints an answer (logs stay quiet then).
    pub fn asking(&self) -> bool {
        matches!(self.command, Some(Command::Ask { .. }))
    }
}

/// Runs `command` (serve when none) with `settings`.
pub async fn run(command: Option<Command>, settings: Settings) -> anyhow::Result<()> {
    match command {
        None | Some(Command::Serve { .. }) => serve::serve(settings).await,
        Some(Command::User { action, .. }) => accounts::users(action, &settings).await,
        Some(Command::Key { action, .. }) => accounts::keys(action, &settings).await,
        Some(Command::Ask { question, .. }) => ask::ask(&question, &settings).await,
    }
}
