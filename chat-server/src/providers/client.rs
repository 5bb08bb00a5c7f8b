//! The HTTP side of every vendor: one POST that returns an SSE stream, with
//! retries that honour the vendor's hints, and connect / first-byte / idle /
//! total timeouts.
//!
//! Retries use `backon` for the backoff schedule; what is retried and how long
//! to wait is decided here from the vendor's status, headers and error body
//! (`Retry-After`, `retry-after-ms`, Gemini's `RetryInfo`). Only the opening of
//! a stream is retried: once events have been delivered an error is reported,
//! never papered over by starting again.

use std::time::{Duration, SystemTime};

use backon::{ExponentialBuilder, Retryable};
use futures::{StreamExt, stream};
use reqwest::{Response, StatusCode, header::HeaderMap};
use serde_json::Value;

use super::{EventStream, ProviderError, StreamParser, Timeout, sse::SseDecoder};

/// Timeouts and retry policy for one provider.
#[derive(Debug, Clone)]
pub struct HttpPolicy {
    pub connect_timeout: Duration,
    /// From sending the request to the response headers.
    pub first_byte_timeout: Duration,
    /// Longest silence allowed inside a stream.
    pub idle_timeout: Duration,
    /// The whole attempt, retries included, until the stream opens.
    pub deadline: Duration,
    pub max_retries: usize,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// A server hint longer than this fails at once instead of waiting.
    pub max_retry_after: Duration,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            deadline: Duration::from_secs(120),
            max_retries: 3,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Builds the shared HTTP client.
pub fn http_client(policy: &HttpPolicy) -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .connect_timeout(policy.connect_timeout)
        .user_agent(concat!("mas-chat-server/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ProviderError::Transport(e.to_string()))
}

/// One streaming request.
pub struct StreamRequest<'a> {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: &'a Value,
}

/// Sends the request (retrying what can succeed) and returns the parsed event stream.
pub async fn open<P: StreamParser + Default>(
    http: &reqwest::Client,
    policy: &HttpPolicy,
    request: StreamRequest<'_>,
) -> Result<EventStream, ProviderError> {
    let attempt = || async {
        let mut builder = http.post(&request.url).json(request.body);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        let response = match tokio::time::timeout(policy.first_byte_timeout, builder.send()).await {
            Err(_) => return Err(ProviderError::Timeout(Timeout::FirstByte)),
            Ok(Err(e)) if e.is_connect() => {
                return Err(ProviderError::Transport(format!("connect: {e}")));
            }
            Ok(Err(e)) if e.is_timeout() => return Err(ProviderError::Timeout(Timeout::Connect)),
            Ok(Err(e)) => return Err(ProviderError::Transport(e.to_string())),
            Ok(Ok(r)) => r,
        };
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(error_from_response(response).await)
        }
    };
    let backoff = ExponentialBuilder::default()
        .with_min_delay(policy.min_backoff)
        .with_max_delay(policy.max_backoff)
        .with_max_times(policy.max_retries)
        .with_jitter();
    let max_hint = policy.max_retry_after;
    let retried = attempt
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(ProviderError::is_retryable)
        // `planned` is `None` once the retries are spent; a server's hint
        // changes when to retry, never whether to.
        .adjust(move |e: &ProviderError, planned| match (planned, e.retry_after()) {
            (None, _) => None,
            (Some(_), Some(hint)) if hint > max_hint => None,
            (Some(_), Some(hint)) => Some(hint),
            (planned, None) => planned,
        })
        .notify(|e: &ProviderError, wait| tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "retrying provider call"));
    let response = tokio::time::timeout(policy.deadline, retried)
        .await
        .map_err(|_| ProviderError::Timeout(Timeout::Deadline))??;
    Ok(events::<P>(response, policy.idle_timeout))
}

struct State<P> {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    decoder: SseDecoder,
    parser: P,
    pending: std::collections::VecDeque<Result<super::ProviderEvent, ProviderError>>,
    /// The rest of the last chunk read, parsed a slice at a time.
    rest: bytes::Bytes,
    finished: bool,
    idle: Duration,
}

/// Bytes parsed before the events found so far are handed on: a server that
/// sends a whole answer in one burst still gets its first token out at once.
const PARSE_SLICE: usize = 4_096;

/// Turns the response body into provider events; stops after the first error.
fn events<P: StreamParser + Default>(response: Response, idle: Duration) -> EventStream {
    let state = State {
        body: response.bytes_stream().boxed(),
        decoder: SseDecoder::new(),
        parser: P::default(),
        pending: Default::default(),
        rest: bytes::Bytes::new(),
        finished: false,
        idle,
    };
    stream::unfold(state, |mut s| async move {
        loop {
            if let Some(item) = s.pending.pop_front() {
                if item.is_err() {
                    s.finished = true;
                    s.pending.clear();
                }
                return Some((item, s));
            }
            if s.finished {
                return None;
            }
            let mut out = Vec::new();
            let next = if s.rest.is_empty() {
                tokio::time::timeout(s.idle, s.body.next()).await
            } else {
                Ok(Some(Ok(std::mem::take(&mut s.rest))))
            };
            let result = match next {
                Err(_) => Err(ProviderError::Timeout(Timeout::Idle)),
                Ok(Some(Err(e))) => Err(ProviderError::Transport(format!("stream broke: {e}"))),
                Ok(Some(Ok(mut chunk))) => {
                    if chunk.len() > PARSE_SLICE {
                        s.rest = chunk.split_off(PARSE_SLICE);
                    }
                    s.decoder.feed(&chunk).and_then(|items| {
                        items
                            .into_iter()
                            .try_for_each(|item| s.parser.item(item, &mut out))
                    })
                }
                Ok(None) => {
                    s.finished = true;
                    let items = s.decoder.finish();
                    items
                        .into_iter()
                        .try_for_each(|item| s.parser.item(item, &mut out))
                        .and_then(|()| s.parser.end(&mut out))
                }
            };
            s.pending.extend(out.into_iter().map(Ok));
            if let Err(e) = result {
                s.pending.push_back(Err(e));
            }
        }
    })
    .boxed()
}

/// How much of an error body is read: it is read for its message only.
const ERROR_BODY_BYTES: usize = 8_192;
/// How long an error body may take to arrive.
const ERROR_BODY_TIME: Duration = Duration::from_secs(5);

/// Reads the first `ERROR_BODY_BYTES` of an error response (within
/// `ERROR_BODY_TIME`: a body that never ends is not waited for) and
/// classifies it.
async fn error_from_response(response: Response) -> ProviderError {
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = response.bytes_stream();
    let mut bytes = Vec::new();
    let read = async {
        while let Some(Ok(chunk)) = body.next().await {
            let room = ERROR_BODY_BYTES - bytes.len();
            bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if bytes.len() >= ERROR_BODY_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(ERROR_BODY_TIME, read).await;
    // Cut on a character boundary.
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text.to_owned(),
        Err(e) => String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
    };
    classify(status, &headers, &text)
}

/// The server's wait hint: `retry-after-ms`, then `retry-after` (seconds or
/// HTTP date), then Gemini's `RetryInfo.retryDelay` in the body.
pub fn retry_hint(headers: &HeaderMap, body: &Value) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = header("retry-after-ms")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| *v >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    if let Some(value) = header("retry-after") {
        if let Ok(secs) = value.parse::<f64>()
            && secs >= 0.0
        {
            return Some(Duration::from_secs_f64(secs));
        }
        if let Ok(when) = httpdate(value) {
            return Some(when.duration_since(SystemTime::now()).unwrap_or_default());
        }
    }
    body.pointer("/error/details")?
        .as_array()?
        .iter()
        .find_map(|d| {
            let delay = d.get("retryDelay")?.as_str()?;
            delay
                .strip_suffix('s')?
                .parse::<f64>()
                .ok()
                .filter(|v| *v >= 0.0)
                .map(Duration::from_secs_f64)
        })
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn httpdate(value: &str) -> Result<SystemTime, ()> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return Err(());
    };
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = months.iter().position(|m| m == month).ok_or(())? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().map_err(|_| ())?, year.parse().map_err(|_| ())?);
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().map_err(|_| ()))
        .collect::<Result<_, _>>()?;
    let [h, m, s] = hms.as_slice() else {
        return Err(());
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + m * 60 + s;
    u64::try_from(secs)
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
        .map_err(|_| ())
}

/// Maps an HTTP error response to the error the agent acts on.
pub fn classify(status: StatusCode, headers: &HeaderMap, text: &str) -> ProviderError {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let message = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .or_else(|| body.get("message").and_then(Value::as_str))
        .map(str::to_owned)
        .unwrap_or_else(|| text.chars().take(300).collect());
    let lower = text.to_lowercase();
    let retry_after = retry_hint(headers, &body);
    let quota = lower.contains("insufficient_quota")
        || lower.contains("enforced_spend_limit")
        || lower.contains("billing")
        || (lower.contains("resource_exhausted") && lower.contains("perday"));
    match status.as_u16() {
        401 | 403 => ProviderError::Auth {
            status: status.as_u16(),
            message,
        },
        429 if quota => ProviderError::QuotaExhausted { message },
        429 => ProviderError::RateLimited {
            retry_after,
            message,
        },
        503 | 529 => ProviderError::Overloaded {
            retry_after,
            message,
        },
        400 | 404 | 413 | 422
            if lower.contains("context_length")
                || lower.contains("prompt is too long")
                || lower.contains("too many tokens")
                || lower.contains("exceeds the maximum") =>
        {
            ProviderError::ContextTooLong { message }
        }
        408 | 409 | 500..=599 => ProviderError::Server {
            status: status.as_u16(),
            message,
            retry_after,
        },
        code => ProviderError::BadRequest {
            status: code,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn hints_come_from_headers_first_then_gemini_retry_info() {
        assert_eq!(
            retry_hint(&headers(&[("retry-after-ms", "1500")]), &Value::Null),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_hint(&headers(&[("retry-after", "7")]), &Value::Null),
            Some(Duration::from_secs(7))
        );
        let gemini: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/wire/gemini_error_429_retry_info.json"
        ))
        .expect("fixture");
        assert_eq!(
            retry_hint(&HeaderMap::new(), &gemini),
            Some(Duration::from_secs_f64(34.4))
        );
        assert!(
            retry_hint(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]),
                &Value::Null
            )
            .is_some()
        );
    }

    #[test]
    fn statuses_map_to_what_the_agent_does_next() {
        let none = HeaderMap::new();
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, &none, "{}"),
            ProviderError::Auth { .. }
        ));
        let quota = r#"{"error":{"message":"You exceeded your current quota","code":"insufficient_quota"}}"#;
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, &none, quota),
            ProviderError::QuotaExhausted { .. }
        ));
        let limited = classify(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "2")]),
            "{}",
        );
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(2)));
        assert!(limited.is_retryable());
        let overloaded = classify(
            StatusCode::from_u16(529).expect("529"),
            &none,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert!(
            matches!(overloaded, ProviderError::Overloaded { ref message, .. } if message == "Overloaded")
        );
        let context = classify(
            StatusCode::BAD_REQUEST,
            &none,
            r#"{"error":{"code":"context_length_exceeded","message":"too long"}}"#,
        );
        assert!(matches!(context, ProviderError::ContextTooLong { .. }));
        assert!(!classify(StatusCode::BAD_REQUEST, &none, "{}").is_retryable());
        let gemini =
            include_str!("../../tests/fixtures/wire/gemini_error_429_resource_exhausted.json");
        assert!(classify(StatusCode::TOO_MANY_REQUESTS, &none, gemini).is_retryable());
    }
}
