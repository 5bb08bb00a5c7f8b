//! `chat-server`: parse the command line, load the settings, set up
//! logging, run the command (`commands`).

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
    platform::telemetry::init_logging(filter, settings.server.log_json);
    chat_server::commands::run(cli.command, settings).await
}
