//! The language model: any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM,
//! llama.cpp), live, recorded or replayed.
//!
//! Requests are built from `async-openai`'s protocol types and serialised deterministically, so
//! the same question and context always produce the same bytes (snapshot-tested, and what
//! record/replay compares). The transport ([`http`]) is a thin reqwest client of our own because
//! retries must honour `Retry-After`, which the crate's built-in backoff ignores.

pub mod extract;
pub mod http;
pub mod tape;

use crate::config::{LlmConfig, Secret, StructuredOutput};
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    CreateChatCompletionRequest, ResponseFormat, ResponseFormatJsonSchema,
};
use std::time::Duration;

/// Errors of the model layer; all of them map to "model unavailable" (exit 4) except where the
/// front end says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("no model is configured")]
    NotConfigured,
    #[error("cannot reach the model at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("the model did not answer within {secs}s")]
    Timeout { secs: u64 },
    #[error("the model endpoint answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("the model's answer is not a chat completion: {0}")]
    BadResponse(String),
    #[error("no recording for '{key}' in {dir}")]
    ReplayMissing { key: String, dir: String },
    #[error("cannot use the recordings in {dir}: {message}")]
    Tape { dir: String, message: String },
}

impl LlmError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            LlmError::NotConfigured => "configure one: [llm] model = \"…\" in skipper.toml (or --model / SKIPPER_MODEL), with OPENAI_BASE_URL for a local server such as Ollama".into(),
            LlmError::Unreachable { .. } => "is the server running? check [llm] base_url or OPENAI_BASE_URL".into(),
            LlmError::Timeout { .. } => "raise [llm] timeout_secs, or use a faster model".into(),
            LlmError::Http { status: 401 | 403, .. } => "check the API key ([llm] api_key_env names the variable, OPENAI_API_KEY by default)".into(),
            LlmError::Http { status: 404, .. } => "check the model name and that base_url ends in /v1".into(),
            LlmError::Http { status: 400, .. } => "if the server rejects response_format, set [llm] structured_output = \"off\"".into(),
            LlmError::Http { .. } => "the server kept failing after retries; try again later".into(),
            LlmError::BadResponse(_) => "is base_url an OpenAI-compatible endpoint (…/v1)?".into(),
            LlmError::ReplayMissing { .. } => "record it first with --record DIR against a live model, or drop --replay".into(),
            LlmError::Tape { .. } => "check that the folder exists and is writable".into(),
        })
    }
}

/// Where the model is and how to talk to it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Up to and including `/v1`, no trailing slash.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<Secret>,
    pub timeout: Duration,
    pub max_retries: u32,
    pub structured: StructuredOutput,
    pub temperature: f32,
    /// The endpoint is on this machine (loopback): what may be sent to it is wider.
    pub local: bool,
}

pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

impl Endpoint {
    /// The configured endpoint, or `None` when no model is named anywhere (offline mode).
    /// `model` (from `--model`) and the environment (`SKIPPER_MODEL`, `OPENAI_BASE_URL`, the
    /// key variable) win over the file.
    pub fn resolve(
        cfg: &LlmConfig,
        model: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Endpoint> {
        let model = model
            .map(str::to_owned)
            .or_else(|| env("SKIPPER_MODEL").filter(|m| !m.is_empty()))
            .or_else(|| cfg.model.clone())?;
        let base_url = env("OPENAI_BASE_URL")
            .filter(|u| !u.is_empty())
            .or_else(|| cfg.base_url.clone())
            .unwrap_or_else(|| OPENAI_BASE_URL.into());
        let base_url = base_url.trim_end_matches('/').to_string();
        let api_key = env(&cfg.api_key_env)
            .filter(|k| !k.is_empty())
            .map(Secret::new)
            .or_else(|| cfg.api_key.clone());
        let local = cfg.local.unwrap_or_else(|| is_loopback(&base_url));
        Some(Endpoint {
            base_url,
            model,
            api_key,
            timeout: Duration::from_secs(cfg.timeout_secs.max(1)),
            max_retries: cfg.max_retries,
            structured: cfg.structured_output,
            temperature: cfg.temperature,
            local,
        })
    }
}

/// The host of `url` is this machine.
pub fn is_loopback(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One message of a conversation with the model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Message {
        Message {
            role,
            content: content.into(),
        }
    }
}

/// The JSON schema of an answer: the SQL, the tables it uses, a one-line explanation, or an
/// abstention. Strict, so servers that enforce schemas return exactly these four keys.
pub fn answer_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "sql": {"type": ["string", "null"], "description": "one read-only SELECT, or null when abstaining"},
            "tables": {"type": "array", "items": {"type": "string"}, "description": "the tables the SQL reads, as source.schema.table"},
            "explanation": {"type": "string", "description": "one line on what the query computes"},
            "abstain": {"type": ["string", "null"], "description": "why the data cannot answer the question, or null"}
        },
        "required": ["sql", "tables", "explanation", "abstain"],
        "additionalProperties": false
    })
}

/// A chat-completions request body, deterministic for the same inputs.
pub fn request_body(
    endpoint: &Endpoint,
    messages: &[Message],
    structured: bool,
) -> serde_json::Value {
    let messages = messages
        .iter()
        .map(|m| match m.role {
            Role::System => ChatCompletionRequestMessage::System(
                ChatCompletionRequestSystemMessage::from(m.content.as_str()),
            ),
            Role::User => ChatCompletionRequestMessage::User(
                ChatCompletionRequestUserMessage::from(m.content.as_str()),
            ),
            Role::Assistant => ChatCompletionRequestMessage::Assistant(
                ChatCompletionRequestAssistantMessage::from(m.content.as_str()),
            ),
        })
        .collect();
    let request = CreateChatCompletionRequest {
        model: endpoint.model.clone(),
        messages,
        temperature: Some(endpoint.temperature),
        response_format: structured.then(|| ResponseFormat::JsonSchema {
            json_schema: ResponseFormatJsonSchema {
                description: Some("Skipper's answer: SQL or an abstention".into()),
                name: "skipper_answer".into(),
                schema: Some(answer_schema()),
                strict: Some(true),
            },
        }),
        ..Default::default()
    };
    serde_json::to_value(&request).expect("a chat request serialises")
}

/// What the model said, and what it cost.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reply {
    pub content: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// The model that answered, as the server names it.
    pub model: String,
    pub ms: f64,
    /// HTTP requests made (1 unless retried).
    pub requests: u32,
    /// Replayed from a recording rather than asked.
    pub replayed: bool,
    /// A replayed request differs from the recorded one: the unified diff.
    pub drift: Option<String>,
}

/// Parse a chat-completions response body: `async-openai`'s type first, then a lenient read
/// of `choices[0].message.content` for servers that leave out fields the spec requires.
pub fn parse_response(body: &[u8]) -> Result<(String, u64, u64, String), LlmError> {
    use async_openai::types::chat::CreateChatCompletionResponse;
    if let Ok(r) = serde_json::from_slice::<CreateChatCompletionResponse>(body) {
        let choice = r
            .choices
            .first()
            .ok_or_else(|| LlmError::BadResponse("no choices".into()))?;
        let content = choice
            .message
            .content
            .clone()
            .or_else(|| choice.message.refusal.clone())
            .unwrap_or_default();
        let (p, c) = r
            .usage
            .map(|u| (u.prompt_tokens as u64, u.completion_tokens as u64))
            .unwrap_or((0, 0));
        return Ok((content, p, c, r.model));
    }
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        let text = String::from_utf8_lossy(body);
        LlmError::BadResponse(format!("{e}: {}", first_chars(&text, 120)))
    })?;
    let content = v
        .pointer("/choices/0/message/content")
        .and_then(|c| c.as_str())
        .ok_or_else(|| {
            LlmError::BadResponse(format!(
                "no choices[0].message.content in {}",
                first_chars(&v.to_string(), 120)
            ))
        })?;
    let n = |p: &str| v.pointer(p).and_then(|x| x.as_u64()).unwrap_or(0);
    Ok((
        content.to_string(),
        n("/usage/prompt_tokens"),
        n("/usage/completion_tokens"),
        v.get("model")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_string(),
    ))
}

pub(crate) fn first_chars(text: &str, n: usize) -> String {
    let mut out: String = text.chars().take(n).collect();
    if text.chars().count() > n {
        out.push('…');
    }
    out
}

/// A model: asked over HTTP, asked and recorded, or replayed from recordings.
pub enum Model {
    Live(http::HttpModel),
    Record(http::HttpModel, tape::Tape),
    Replay(Endpoint, tape::Tape),
}

impl Model {
    pub fn endpoint(&self) -> &Endpoint {
        match self {
            Model::Live(m) | Model::Record(m, _) => m.endpoint(),
            Model::Replay(e, _) => e,
        }
    }

    /// Whether a request for SQL asks for the JSON schema (and plain text is still accepted).
    pub fn wants_structured(&self) -> bool {
        match self {
            Model::Live(m) | Model::Record(m, _) => m.structured_now(),
            Model::Replay(e, _) => e.structured != StructuredOutput::Off,
        }
    }

    /// Send one conversation; `key` names the exchange for record and replay.
    pub async fn chat(
        &self,
        key: &str,
        messages: &[Message],
        structured: bool,
    ) -> Result<Reply, LlmError> {
        match self {
            Model::Live(m) => m.chat(messages, structured).await.map(|(r, _)| r),
            Model::Record(m, tape) => {
                let (reply, (request, response)) = m.chat(messages, structured).await?;
                tape.save(key, &request, &response)?;
                Ok(reply)
            }
            Model::Replay(endpoint, tape) => {
                let request = request_body(endpoint, messages, structured);
                tape.replay(key, &request)
            }
        }
    }
}

/// A stable, readable key for a question: its first words and a hash of the whole.
pub fn question_key(text: &str) -> String {
    let slug: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let slug: Vec<&str> = slug.split('-').filter(|s| !s.is_empty()).take(6).collect();
    format!("{}-{:08x}", slug.join("-"), fnv1a(text.as_bytes()) as u32)
}

/// FNV-1a, 64-bit: stable across runs and platforms (unlike `DefaultHasher`).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint::resolve(
            &LlmConfig {
                model: Some("gpt-4o-mini".into()),
                ..Default::default()
            },
            None,
            &|_| None,
        )
        .unwrap()
    }

    #[test]
    fn no_model_means_offline() {
        assert!(Endpoint::resolve(&LlmConfig::default(), None, &|_| None).is_none());
        let e = Endpoint::resolve(&LlmConfig::default(), None, &|k| {
            (k == "SKIPPER_MODEL").then(|| "llama3.1:8b".to_string())
        })
        .unwrap();
        assert_eq!(e.model, "llama3.1:8b");
        assert_eq!(e.base_url, OPENAI_BASE_URL);
        assert!(!e.local);
    }

    #[test]
    fn environment_wins_and_loopback_is_local() {
        let e = Endpoint::resolve(
            &LlmConfig {
                model: Some("m".into()),
                base_url: Some("https://example.com/v1".into()),
                ..Default::default()
            },
            Some("cli-model"),
            &|k| match k {
                "OPENAI_BASE_URL" => Some("http://127.0.0.1:11434/v1/".into()),
                "OPENAI_API_KEY" => Some("sk-test".into()),
                _ => None,
            },
        )
        .unwrap();
        assert_eq!(e.model, "cli-model");
        assert_eq!(e.base_url, "http://127.0.0.1:11434/v1");
        assert_eq!(e.api_key.as_ref().map(|k| k.expose()), Some("sk-test"));
        assert!(e.local);
        assert!(is_loopback("http://localhost:8080/v1"));
        assert!(is_loopback("http://[::1]:8080/v1"));
        assert!(!is_loopback("http://10.0.0.2/v1"));
    }

    /// The request for a given conversation is byte-for-byte stable: a snapshot.
    #[test]
    fn request_snapshot() {
        let body = request_body(
            &endpoint(),
            &[
                Message::new(Role::System, "sys"),
                Message::new(Role::User, "how many accounts?"),
            ],
            true,
        );
        let text = serde_json::to_string(&body).unwrap();
        assert_eq!(
            text,
            r#"{"messages":[{"role":"system","content":"sys"},{"role":"user","content":"how many accounts?"}],"model":"gpt-4o-mini","response_format":{"type":"json_schema","json_schema":{"description":"Skipper's answer: SQL or an abstention","name":"skipper_answer","schema":{"type":"object","properties":{"sql":{"type":["string","null"],"description":"one read-only SELECT, or null when abstaining"},"tables":{"type":"array","items":{"type":"string"},"description":"the tables the SQL reads, as source.schema.table"},"explanation":{"type":"string","description":"one line on what the query computes"},"abstain":{"type":["string","null"],"description":"why the data cannot answer the question, or null"}},"required":["sql","tables","explanation","abstain"],"additionalProperties":false},"strict":true}},"temperature":0.0}"#
        );
        let plain = request_body(&endpoint(), &[Message::new(Role::User, "q")], false);
        assert!(plain.get("response_format").is_none());
    }

    #[test]
    fn lenient_response_parsing() {
        let strict = br#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"SELECT 1"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13}}"#;
        assert_eq!(
            parse_response(strict).unwrap(),
            ("SELECT 1".into(), 10, 3, "m".into())
        );
        let loose = br#"{"choices":[{"message":{"content":"SELECT 2"}}]}"#;
        assert_eq!(parse_response(loose).unwrap().0, "SELECT 2");
        assert!(matches!(
            parse_response(b"<html>bad gateway</html>"),
            Err(LlmError::BadResponse(_))
        ));
    }

    #[test]
    fn question_keys_are_stable_and_readable() {
        let k = question_key("Billable Workers requests by account, last month?");
        assert!(k.starts_with("billable-workers-requests-by-account-last-"));
        assert_eq!(
            k,
            question_key("Billable Workers requests by account, last month?")
        );
        assert_ne!(
            k,
            question_key("Billable Workers requests by account, last week?")
        );
    }
}
