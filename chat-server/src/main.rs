//! `chat-server`: for now, `ask "<question>"` answers one question with the
//! configured model (or the offline planner) and the EMIS tools.

use std::{io::Write, path::PathBuf};

use anyhow::Context;
use chat_server::{
    admin,
    agent::RunEvent,
    app::{Application, ServeOptions},
    ask::ask,
    auth::UserRole,
    ratelimit::Quota,
    settings::{provider_settings, tool_settings},
    store::{sql::SqlStore, users::UserStore},
};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "chat-server", version, about = "MAS chat server")]
struct Cli {
    /// TOML file with settings (environment variables override it).
    #[arg(long, global = true, env = "MAS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the chat API (SSE runs, sessions) with the embedded EMIS tools.
    Serve {
        #[arg(long, env = "CHAT_HOST", default_value = "127.0.0.1")]
        host: String,
        #[arg(long, env = "CHAT_PORT", default_value_t = 8000)]
        port: u16,
        /// Chat database: a SQLite file by default, or PostgreSQL.
        #[arg(long, env = "DATABASE_URL", default_value = "sqlite://mas-chat.db")]
        database_url: String,
        /// Runs allowed at once; more get 503.
        #[arg(long, env = "MAX_CONCURRENT_SESSIONS", default_value_t = 100)]
        max_concurrent_sessions: usize,
    },
    /// Manage users (in the chat database).
    User {
        #[command(subcommand)]
        action: UserAction,
        #[arg(long, env = "DATABASE_URL", default_value = "sqlite://mas-chat.db")]
        database_url: String,
    },
    /// Manage API keys (in the chat database).
    Key {
        #[command(subcommand)]
        action: KeyAction,
        #[arg(long, env = "DATABASE_URL", default_value = "sqlite://mas-chat.db")]
        database_url: String,
    },
    /// Answer one question, streaming the answer to stdout (tool calls on stderr).
    Ask {
        question: String,
        /// Provider to use (gemini, openai, anthropic, offline); default: the configured one.
        #[arg(long)]
        provider: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a user; the password (at least 12 characters) is read from stdin.
    Add {
        username: String,
        /// `user` or `admin`.
        #[arg(long, default_value = "user")]
        role: String,
    },
    /// List users.
    List,
}

#[derive(Subcommand)]
enum KeyAction {
    /// Create an API key for a user and print it (it is shown only this once).
    Create {
        username: String,
        /// Comma-separated: chat, sessions:read, admin.
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

async fn users(action: UserAction, database_url: &str) -> anyhow::Result<()> {
    let store = SqlStore::connect(database_url, 2)
        .await
        .context("opening the chat database")?;
    match action {
        UserAction::Add { username, role } => {
            let role = UserRole::parse(&role).context("the role is user or admin")?;
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the password from stdin")?;
            let user = admin::add_user(
                &store,
                &username,
                role,
                password.trim_end_matches(['\r', '\n']),
            )
            .await?;
            println!(
                "created {} {} ({})",
                user.role.as_str(),
                user.username,
                user.id
            );
        }
        UserAction::List => {
            for user in store.users().await? {
                println!("{}\t{}\t{}", user.id, user.username, user.role.as_str());
            }
        }
    }
    Ok(())
}

async fn keys(action: KeyAction, database_url: &str) -> anyhow::Result<()> {
    let store = SqlStore::connect(database_url, 2)
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
                admin::create_key(&store, &username, &scopes, &name, expires_in_days).await?;
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
            admin::revoke_key(&store, &id).await?;
            println!("revoked {id}");
        }
    }
    Ok(())
}

/// `RATE_LIMIT_{CHAT,API}_{PER_SECOND,BURST}` (defaults 5/10 and 10/20, the
/// original system's); a rate of 0 turns the limits off.
/// Model tokens one user may spend per UTC day unless `DAILY_TOKEN_BUDGET` says otherwise.
const DEFAULT_DAILY_TOKEN_BUDGET: u64 = 1_000_000;

/// The whole number in environment variable `name`, or `default` when unset.
fn env_number<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name} must be a whole number (got {v:?})")),
        Err(_) => Ok(default),
    }
}

fn rate_limits() -> anyhow::Result<Option<(Quota, Quota)>> {
    let read = env_number::<u32>;
    let chat = Quota {
        per_second: read("RATE_LIMIT_CHAT_PER_SECOND", 5)?,
        burst: read("RATE_LIMIT_CHAT_BURST", 10)?,
    };
    let api = Quota {
        per_second: read("RATE_LIMIT_API_PER_SECOND", 10)?,
        burst: read("RATE_LIMIT_API_BURST", 20)?,
    };
    let off = [chat, api]
        .iter()
        .any(|q| q.per_second == 0 || q.burst == 0);
    Ok((!off).then_some((chat, api)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Logs go to stderr (stdout carries `ask` answers); LOG_FORMAT=json for JSON lines.
    let level = std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".into());
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json");
    let asking = matches!(cli.command, Some(Command::Ask { .. }));
    mcp_server::telemetry::init_logging(if asking { "warn" } else { &level }, json);
    let settings =
        provider_settings(cli.config.as_deref()).context("reading the provider settings")?;
    let mcp_settings = mcp_server::settings::Settings::load(cli.config.as_deref())?;
    let tools = tool_settings(cli.config.as_deref()).context("reading the MCP server settings")?;
    let command = cli.command.unwrap_or(Command::Serve {
        host: std::env::var("CHAT_HOST").unwrap_or_else(|_| "127.0.0.1".into()),
        port: std::env::var("CHAT_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(8000),
        database_url: std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "sqlite://mas-chat.db".into()),
        max_concurrent_sessions: std::env::var("MAX_CONCURRENT_SESSIONS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(100),
    });
    match command {
        Command::User {
            action,
            database_url,
        } => return users(action, &database_url).await,
        Command::Key {
            action,
            database_url,
        } => return keys(action, &database_url).await,
        Command::Serve {
            host,
            port,
            database_url,
            max_concurrent_sessions,
        } => {
            // The chat database is not the EMIS database: the embedded tools use the bundled data.
            let mut mcp = mcp_settings;
            mcp.database_url = None;
            let production = std::env::var("ENVIRONMENT").is_ok_and(|e| e == "production");
            let options = ServeOptions {
                host,
                port,
                database_url,
                max_concurrent_runs: max_concurrent_sessions,
                providers: settings,
                tools,
                agents: chat_server::settings::agents(cli.config.as_deref())?,
                mcp,
                auth_required: production
                    || std::env::var("AUTH_REQUIRED").is_ok_and(|v| v == "true" || v == "1"),
                secret_key: std::env::var("SECRET_KEY").ok().map(Into::into),
                cookie_secure: std::env::var("COOKIE_SECURE")
                    .map(|v| v == "true" || v == "1")
                    .unwrap_or(production),
                rate_limits: rate_limits()?,
                redis_url: std::env::var("REDIS_URL").ok().map(Into::into),
                runs_per_user: env_number(
                    "MAX_RUNS_PER_USER",
                    chat_server::runs::manager::DEFAULT_RUNS_PER_USER,
                )?,
                daily_token_budget: env_number("DAILY_TOKEN_BUDGET", DEFAULT_DAILY_TOKEN_BUDGET)?,
            };
            let app = Application::build(options).await?;
            let addr = app.local_addr()?;
            eprintln!(
                "MAS chat server: open http://{addr}/ (POST /chat/stream, GET /api/sessions)"
            );
            if app.default_provider() == "offline" {
                eprintln!(
                    "No LLM is configured: the offline planner answers. Set GOOGLE_API_KEY, OPENAI_API_KEY \
                     (or OPENAI_BASE_URL) or ANTHROPIC_API_KEY to use a real model."
                );
            }
            let shutdown = tokio_util::sync::CancellationToken::new();
            let stop = shutdown.clone();
            tokio::spawn(async move {
                mcp_server::signals::terminated().await;
                stop.cancel();
            });
            let drain = env_number("SHUTDOWN_TIMEOUT", 30u64)?;
            app.serve(shutdown, std::time::Duration::from_secs(drain))
                .await?;
        }
        Command::Ask { question, provider } => {
            let mut settings = settings;
            if provider.is_some() {
                settings.llm_provider = provider;
            }
            let agent_set = chat_server::settings::agents(cli.config.as_deref())?;
            let runner =
                chat_server::app::agents(&settings, &tools, agent_set, &mcp_settings).await?;
            let default = runner.provider_for_name(&runner.agents().entry().name);
            eprintln!("[{} · {}]", default.name(), default.model());
            let mut stdout = std::io::stdout();
            let answer = ask(runner, &question, |event| match event {
                RunEvent::TextDelta { text } => {
                    let _ = stdout.write_all(text.as_bytes());
                    let _ = stdout.flush();
                }
                RunEvent::AgentChanged { title, .. } => eprintln!("[{title} is answering]"),
                RunEvent::ToolInputAvailable { tool, input, .. } => eprintln!("→ {tool}({input})"),
                RunEvent::ToolOutput {
                    tool,
                    is_error,
                    output,
                    duration_ms,
                    ..
                } => {
                    eprintln!(
                        "← {tool}: {} ({} bytes, {duration_ms} ms)",
                        if *is_error { "error" } else { "ok" },
                        output.len()
                    )
                }
                RunEvent::Failed { message } => eprintln!("error: {message}"),
                _ => {}
            })
            .await;
            println!();
            if answer
                .events
                .iter()
                .any(|e| matches!(e, RunEvent::Failed { .. }))
            {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}
