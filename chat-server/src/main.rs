//! `chat-server`: parse the command line, load the settings, set up
//! logging and traces, run the command (`commands`).

use anyhow::Context;
use chat_server::{commands::Cli, settings::Settings};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings =
        Settings::load(cli.config.as_deref(), &cli.overrides()).context("reading the settings")?;
    // Logs go to stderr (stdout carries `ask` answers).
    let filter = if cli.asking() {
        "warn"
    } else {
        &settings.server.log_filter
    };
    let traces = platform::telemetry::init("chat-server", filter, settings.server.log_json);
    let result = chat_server::commands::run(cli.command, settings).await;
    traces.shutdown();
    result
}
