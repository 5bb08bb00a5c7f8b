//! `chat-server ask "<question>"`: the answer streams to stdout, the agent
//! changes and tool calls to stderr; a failed answer exits with status 1.

use std::io::Write;

use crate::{
    agent::{RunEvent, ask::ask as answer},
    app,
    settings::Settings,
};

/// Answers `question` with the configured agents, printing as it goes.
pub async fn ask(question: &str, settings: &Settings) -> anyhow::Result<()> {
    let runner = app::agents(settings).await?;
    let default = runner.provider_for_name(&runner.agents().entry().name);
    eprintln!("[{} · {}]", default.name(), default.model());
    let mut stdout = std::io::stdout();
    let answered = answer(runner, question, |event| match event {
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
        } => eprintln!(
            "← {tool}: {} ({} bytes, {duration_ms} ms)",
            if *is_error { "error" } else { "ok" },
            output.len()
        ),
        RunEvent::Failed { message } => eprintln!("error: {message}"),
        _ => {}
    })
    .await;
    println!();
    if answered.transcript.failure().is_some() {
        std::process::exit(1);
    }
    Ok(())
}
