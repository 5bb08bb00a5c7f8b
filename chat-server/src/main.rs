//! `chat-server`: for now, `ask "<question>"` answers one question with the
//! configured model (or the offline planner) and the EMIS tools.

use std::{io::Write, path::PathBuf};

use anyhow::Context;
use std::sync::Arc;

use chat_server::{
    agent::{AgentRunner, AgentSet, RunEvent, RunLimits},
    ask::ask,
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
            let toolbox = Arc::new(Toolbox::embedded(&mcp_settings).await?);
            let mut settings = settings;
            if provider.is_some() {
                settings.llm_provider = provider;
            }
            let registry = Arc::new(Registry::from_settings(&settings, toolbox.known_values())?);
            let default = registry.default_provider();
            eprintln!("[{} · {}]", default.name(), default.model());
            let limits = RunLimits {
                tool_timeout: mcp_settings.tool_timeout(),
                ..RunLimits::default()
            };
            let runner = Arc::new(AgentRunner::new(
                AgentSet::builtin(),
                registry,
                toolbox,
                limits,
            ));
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
