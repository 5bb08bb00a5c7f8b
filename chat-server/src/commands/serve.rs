//! `chat-server serve` (the default): builds the application, says where
//! it listens and who answers, and serves until SIGTERM or Ctrl-C.

use tokio_util::sync::CancellationToken;

use crate::{app::Application, settings::Settings};

pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let addr = app.local_addr()?;
    eprintln!("MAS chat server: open http://{addr}/ (POST /chat/stream, GET /api/sessions)");
    if app.default_provider() == "offline" {
        eprintln!(
            "No LLM is configured: the offline planner answers. Set GOOGLE_API_KEY, OPENAI_API_KEY \
             (or OPENAI_BASE_URL) or ANTHROPIC_API_KEY to use a real model."
        );
    }
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        platform::signals::terminated().await;
        stop.cancel();
    });
    app.serve(shutdown).await?;
    Ok(())
}
