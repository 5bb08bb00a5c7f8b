//! `chat-server`: for now, `ask "<question>"` answers one question with the
//! configured model (or the offline planner) and the EMIS tools.

use std::{io::Write, path::PathBuf};

use anyhow::Context;
use chat_server::{
    ask::{Progress, ask},
    providers::registry::Registry,
    settings::provider_settings,
    toolbox::Toolbox,
};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "chat-server", version, about = "MAS chat server")]
struct Cli {
    /// TOML file with settings (environment variables override it).
    #[arg(long, global = true, env = "MAS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Answer one question, streaming the answer to stdout (tool calls on stderr).
    Ask {
        question: String,
        /// Provider to use (gemini, openai, anthropic, offline); default: the configured one.
        #[arg(long)]
        provider: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = std::env::var("LOG_LEVEL").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let settings =
        provider_settings(cli.config.as_deref()).context("reading the provider settings")?;
    let mcp_settings = mcp_server::settings::Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Ask { question, provider } => {
            let toolbox = Toolbox::embedded(&mcp_settings).await?;
            let registry = Registry::from_settings(&settings, toolbox.known_values())?;
            let provider = match provider {
                Some(name) => registry.get(&name).with_context(|| {
                    format!(
                        "provider {name:?} is not configured (configured: {})",
                        registry.names().join(", ")
                    )
                })?,
                None => registry.default_provider(),
            };
            eprintln!("[{} · {}]", provider.name(), provider.model());
            let mut stdout = std::io::stdout();
            ask(provider.as_ref(), &toolbox, &question, |p| match p {
                Progress::Text(t) => {
                    let _ = stdout.write_all(t.as_bytes());
                    let _ = stdout.flush();
                }
                Progress::ToolCall(call) => eprintln!("→ {}({})", call.name, call.arguments),
                Progress::ToolResult {
                    name,
                    is_error,
                    chars,
                } => {
                    eprintln!(
                        "← {name}: {} ({chars} bytes)",
                        if is_error { "error" } else { "ok" }
                    )
                }
            })
            .await?;
            println!();
        }
    }
    Ok(())
}
