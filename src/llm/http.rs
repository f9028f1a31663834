//! The chat-completions transport: one POST per request with a timeout, retries with
//! exponential backoff on 429 and 5xx that honour the server's `Retry-After`, and one fallback
//! to plain text when a server rejects `response_format`.

use super::{Endpoint, LlmError, Message, Reply, parse_response, request_body};
use crate::config::StructuredOutput;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Longest wait between retries we accept from a `Retry-After` header.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

pub struct HttpModel {
    endpoint: Endpoint,
    client: reqwest::Client,
    /// The server rejected `response_format` once: stop sending it ("auto" only).
    plain_only: AtomicBool,
}

impl HttpModel {
    pub fn new(endpoint: Endpoint) -> Result<HttpModel, LlmError> {
        let client = reqwest::Client::builder()
            .timeout(endpoint.timeout)
            .connect_timeout(endpoint.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("skipper/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Unreachable {
                url: endpoint.base_url.clone(),
                message: e.to_string(),
            })?;
        Ok(HttpModel {
            endpoint,
            client,
            plain_only: AtomicBool::new(false),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn structured_now(&self) -> bool {
        match self.endpoint.structured {
            StructuredOutput::Off => false,
            StructuredOutput::On => true,
            StructuredOutput::Auto => !self.plain_only.load(Ordering::Relaxed),
        }
    }

    /// Send one conversation. Returns the reply and, for recording, the request body and the
    /// response body as JSON.
    pub async fn chat(
        &self,
        messages: &[Message],
        structured: bool,
    ) -> Result<(Reply, (serde_json::Value, serde_json::Value)), LlmError> {
        let structured = structured && self.structured_now();
        let body = request_body(&self.endpoint, messages, structured);
        match self.send(&body).await {
            Err(LlmError::Http {
                status: 400,
                message,
            }) if structured
                && self.endpoint.structured == StructuredOutput::Auto
                && mentions_response_format(&message) =>
            {
                tracing::info!("the server rejects response_format; asking for plain text");
                self.plain_only.store(true, Ordering::Relaxed);
                let body = request_body(&self.endpoint, messages, false);
                self.send(&body).await
            }
            other => other,
        }
    }

    /// A failure below HTTP: a timeout, or the server could not be reached.
    fn transport_error(&self, e: &reqwest::Error) -> LlmError {
        if e.is_timeout() {
            LlmError::Timeout {
                secs: self.endpoint.timeout.as_secs(),
            }
        } else {
            LlmError::Unreachable {
                url: self.endpoint.base_url.clone(),
                message: root_cause(e),
            }
        }
    }

    async fn send(
        &self,
        body: &serde_json::Value,
    ) -> Result<(Reply, (serde_json::Value, serde_json::Value)), LlmError> {
        let url = format!("{}/chat/completions", self.endpoint.base_url);
        let bytes = serde_json::to_vec(body).expect("a request serialises");
        let started = Instant::now();
        let mut requests = 0u32;
        loop {
            requests += 1;
            let mut req = self
                .client
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes.clone());
            if let Some(key) = &self.endpoint.api_key {
                req = req.bearer_auth(key.expose());
            }
            let outcome = req.send().await;
            let response = outcome.map_err(|e| self.transport_error(&e))?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let body_bytes = response
                .bytes()
                .await
                .map_err(|e| self.transport_error(&e))?;
            if (200..300).contains(&status) {
                let (content, p, c, model) = parse_response(&body_bytes)?;
                let raw: serde_json::Value =
                    serde_json::from_slice(&body_bytes).unwrap_or(serde_json::Value::Null);
                let reply = Reply {
                    content,
                    prompt_tokens: p,
                    completion_tokens: c,
                    model: if model.is_empty() {
                        self.endpoint.model.clone()
                    } else {
                        model
                    },
                    ms: started.elapsed().as_secs_f64() * 1000.0,
                    requests,
                    replayed: false,
                    drift: None,
                };
                return Ok((reply, (body.clone(), raw)));
            }
            let message = error_message(&body_bytes);
            let retryable = status == 429 || status >= 500;
            let quota = message.contains("insufficient_quota");
            if retryable && !quota && requests <= self.endpoint.max_retries {
                let wait = retry_after
                    .unwrap_or_else(|| backoff(requests))
                    .min(MAX_RETRY_AFTER);
                tracing::warn!(
                    status,
                    wait_ms = wait.as_millis() as u64,
                    "model endpoint busy; retrying"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(LlmError::Http { status, message });
        }
    }
}

/// 0.5 s, 1 s, 2 s, … with up to 25% jitter from the clock's low bits.
fn backoff(attempt: u32) -> Duration {
    let base = 500u64 << (attempt.saturating_sub(1)).min(6);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    Duration::from_millis(base + (nanos % (base / 4 + 1)))
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// The server's own error message: OpenAI's `{"error":{"message":…}}`, or the body's start.
fn error_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let msg = v
            .pointer("/error/message")
            .or_else(|| v.get("error"))
            .or_else(|| v.get("message"))
            .and_then(|m| m.as_str());
        if let Some(m) = msg {
            let code = v
                .pointer("/error/type")
                .or_else(|| v.pointer("/error/code"))
                .and_then(|c| c.as_str());
            return match code {
                Some(c) => format!("{m} ({c})"),
                None => m.to_string(),
            };
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "no message".into()
    } else {
        super::first_chars(text, 200)
    }
}

fn mentions_response_format(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("response_format") || m.contains("json_schema") || m.contains("response format")
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            error_message(br#"{"error":{"message":"slow down","type":"rate_limit"}}"#),
            "slow down (rate_limit)"
        );
        assert_eq!(
            error_message(br#"{"error":"model not found"}"#),
            "model not found"
        );
        assert_eq!(error_message(b"  Bad Gateway "), "Bad Gateway");
        assert_eq!(error_message(b""), "no message");
    }

    #[test]
    fn backoff_grows() {
        assert!(
            backoff(1) >= Duration::from_millis(500) && backoff(1) <= Duration::from_millis(626)
        );
        assert!(backoff(3) >= Duration::from_secs(2));
    }
}
