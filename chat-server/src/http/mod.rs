//! The chat server's HTTP API: `router` (the route table), `state` (what
//! every handler shares), `caller` (authentication, rate limits and audit at
//! each route group's door), `error` (one classification, the MAS envelope),
//! `sse` and `protocol` (runs streamed as the AI SDK UI message stream,
//! resumable with `Last-Event-ID`), `telemetry` (request metrics and logs)
//! and the handlers in `routes`.

pub mod caller;
pub mod error;
pub mod protocol;
pub mod router;
pub mod routes;
pub mod sse;
pub mod state;
pub mod telemetry;

pub use self::{error::AppError, router::router, state::AppState};
