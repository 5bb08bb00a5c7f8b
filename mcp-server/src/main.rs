//! `mcp-server`: serve the EMIS tools over Streamable HTTP (default) or stdio,
//! or import the data sets into PostgreSQL.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use figment::providers::Serialized;
use mcp_server::{Application, backend::postgres, serve_stdio, settings::Settings};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "mcp-server",
    version,
    about = "MAS EMIS tools over the Model Context Protocol"
)]
struct Cli {
    /// TOML file with settings (environment variables override it).
    #[arg(long, global = true, env = "MAS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MCP over Streamable HTTP at /mcp (the default).
    Serve {
        #[arg(long)]
        host: Option<String>,
        #[arg(long)]
        port: Option<u16>,
        /// Also serve the official conformance suite's fixtures.
        #[arg(long)]
        conformance: bool,
    },
    /// Serve one MCP session over stdin/stdout (for Claude Desktop, IDEs).
    Stdio,
    /// Load the data sets into PostgreSQL (DATABASE_URL); safe to run again.
    Import {
        /// Directory with kenya_schools.csv, florida_public_schools.csv and
        /// african_storybook_ccby.jsonl; the bundled copies when omitted.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut figment = Settings::figment(cli.config.as_deref());
    if let Some(Command::Serve {
        host,
        port,
        conformance,
    }) = &cli.command
    {
        if let Some(host) = host {
            figment = figment.merge(Serialized::default("mcp_host", host));
        }
        if let Some(port) = port {
            figment = figment.merge(Serialized::default("mcp_port", port));
        }
        if *conformance {
            figment = figment.merge(Serialized::default("mcp_conformance", true));
        }
    }
    let settings = Settings::from_figment(figment)?;
    let traces = platform::telemetry::init(
        "mcp-server",
        settings.log_filter(),
        settings.log_format == "json",
    );
    let result = run(cli.command, &settings).await;
    traces.shutdown();
    result
}

/// Runs `command` (serve by default).
async fn run(command: Option<Command>, settings: &Settings) -> anyhow::Result<()> {
    match command.unwrap_or(Command::Serve {
        host: None,
        port: None,
        conformance: false,
    }) {
        Command::Serve { .. } => {
            let shutdown = CancellationToken::new();
            let app = Application::build(settings, shutdown.clone()).await?;
            let addr = app.local_addr()?;
            tracing::info!(%addr, "MCP over Streamable HTTP at http://{addr}/mcp");
            tokio::spawn(on_signal(shutdown.clone()));
            app.serve(shutdown).await.context("serving HTTP")?;
            tracing::info!("shut down");
        }
        Command::Stdio => serve_stdio(settings).await?,
        Command::Import { data_dir } => {
            let url = settings
                .database_url
                .as_ref()
                .context("import needs DATABASE_URL")?;
            postgres::import(url.expose_secret(), data_dir.as_deref()).await?;
        }
    }
    Ok(())
}

/// Cancels `token` on Ctrl-C or SIGTERM.
async fn on_signal(token: CancellationToken) {
    platform::signals::terminated().await;
    token.cancel();
}
