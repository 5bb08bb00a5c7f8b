//! The route table. Routes come in groups, each behind its door (`caller`):
//! starting runs (the chat budget), the rest of the API (the API budget),
//! and `/v1` (the same, answered in OpenAI's envelope). Pages, assets and
//! probes have no door. Then, for every route: the body limit, the host and
//! header checks with CORS, the security headers, and request metrics.

use axum::{
    Router,
    routing::{delete, get, patch, post},
};

use super::{
    AppState,
    caller::{Door, Envelope, enter},
    error::MAX_BODY_BYTES,
    routes::{account, admin, chat, health, memory, openai, own, report, runs, sessions, web},
    telemetry,
};
use crate::limits::Class;

/// `routes` behind a door charging `class` and answering in `envelope`.
fn door(
    state: &AppState,
    routes: Router<AppState>,
    class: Class,
    envelope: Envelope,
) -> Router<AppState> {
    let door = Door {
        state: state.clone(),
        class,
        envelope,
    };
    routes.route_layer(axum::middleware::from_fn_with_state(door, enter))
}

/// The whole API; `mcp`, when given, serves the EMIS tools at `/mcp`.
pub fn router(state: AppState, mcp: Option<Router<AppState>>) -> Router {
    platform::telemetry::metrics_handle();
    let limits = &state.hardening;
    let start = Router::new()
        .route("/chat/stream", post(chat::stream))
        .merge(platform::timeout::limited(
            Router::new().route("/api/chat", post(chat::whole)),
            state.chat_timeout,
        ));
    let api = limits
        .time_limited(
            Router::new()
                .route("/api", get(health::index))
                .route("/api/status", get(health::status))
                .route("/api/runs/{run_id}/cancel", post(runs::cancel))
                .route("/api/sessions", get(sessions::list))
                .route(
                    "/api/sessions/{id}",
                    get(sessions::get)
                        .patch(sessions::change)
                        .delete(sessions::delete),
                )
                .route("/api/sessions/{id}/export", get(sessions::export))
                .route("/api/auth/me", get(account::me))
                .route("/logout", post(account::sign_out))
                .route("/api/admin/security-report", get(report::security_report))
                .route("/api/admin/tools", get(admin::list_tools))
                .route(
                    "/api/admin/users",
                    get(admin::list_users).post(admin::create_user),
                )
                .route(
                    "/api/admin/keys",
                    get(admin::list_keys).post(admin::create_key),
                )
                .route("/api/admin/keys/{id}", delete(admin::revoke_key))
                .route(
                    "/api/admin/users/{id}",
                    patch(admin::change_user).delete(admin::delete_user),
                )
                .route(
                    "/api/admin/users/{id}/password",
                    post(admin::reset_password),
                )
                .route("/api/account/password", post(own::change_password))
                .route(
                    "/api/account/keys",
                    get(own::list_keys).post(own::create_key),
                )
                .route("/api/account/keys/{id}", delete(own::revoke_key))
                .route(
                    "/api/memory",
                    get(memory::list)
                        .post(memory::add)
                        .delete(memory::delete_all),
                )
                .route("/api/memory/export", get(memory::export))
                .route(
                    "/api/memory/{id}",
                    patch(memory::change).delete(memory::delete),
                )
                .route(
                    "/api/profile",
                    get(memory::profile).put(memory::set_profile),
                ),
        )
        .route("/api/runs/{run_id}/stream", get(runs::stream));
    let v1_start = Router::new().route("/v1/chat/completions", post(openai::completions));
    let v1 = Router::new()
        .route("/v1/models", get(openai::models))
        .route("/v1/models/{id}", get(openai::model));
    let pages = limits.time_limited(
        Router::new()
            .route("/", get(web::index))
            .route("/c/{session_id}", get(web::conversation))
            .route("/memory", get(web::memory))
            .route("/static/{*path}", get(web::asset))
            .route("/login", get(account::page).post(account::sign_in))
            .route("/health", get(health::health))
            .route("/ready", get(health::ready))
            .route("/metrics", get(health::metrics)),
    );
    let routes = Router::new()
        .merge(door(&state, start, Class::Chat, Envelope::Mas))
        .merge(door(&state, api, Class::Api, Envelope::Mas))
        .merge(door(&state, v1_start, Class::Chat, Envelope::OpenAi))
        .merge(door(&state, v1, Class::Api, Envelope::OpenAi))
        .merge(pages)
        .merge(mcp.unwrap_or_default())
        .fallback(|uri: axum::http::Uri| async move { web::not_found(&uri) })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES));
    let routes = limits.apply(routes);
    platform::headers::secured(routes, state.auth.behind_tls())
        .layer(axum::middleware::from_fn(telemetry::track))
        .with_state(state)
}
