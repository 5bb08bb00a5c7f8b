//! The time limit of non-streaming routes: a handler that takes longer is
//! answered 503 with `Retry-After`. Written here rather than with
//! tower-http's `TimeoutLayer`, whose answer has an empty body: clients of
//! both servers expect the JSON error envelope with a message.

use std::time::Duration;

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::Response,
};

/// `router` with every route cut off after `limit`.
pub fn limited<S: Clone + Send + Sync + 'static>(router: Router<S>, limit: Duration) -> Router<S> {
    router.route_layer(axum::middleware::from_fn_with_state(limit, time_limit))
}

/// Middleware: answers 503 when the handler takes longer than `limit`.
pub async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let mut response = crate::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                &format!("the request took longer than {:.1} s", limit.as_secs_f64()),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_slow_handler_is_answered_with_a_timeout_error() {
        let router = limited(
            Router::new().route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            ),
            Duration::from_millis(50),
        );
        let response = router
            .oneshot(
                Request::get("/slow")
                    .body(axum::body::Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }
}
