//! Record and replay of model exchanges, so evals and CI runs are reproducible without a model.
//!
//! One JSON file per exchange, `DIR/<key>.json`, holding the request beside the response. The
//! key is stable: the question's (or eval item's) key and the attempt, e.g.
//! `monthly-revenue-by-plan-1a2b3c4d.attempt-1`. On replay a missing file is an error (never a
//! silent live call) and a request that differs from the recorded one is reported as drift,
//! with a unified diff of the two requests; the recorded answer is still used.

use super::{LlmError, Reply, parse_response};
use std::path::{Path, PathBuf};

pub struct Tape {
    dir: PathBuf,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Recording {
    key: String,
    request: serde_json::Value,
    response: serde_json::Value,
}

impl Tape {
    /// A tape to record into; the folder is created.
    pub fn recorder(dir: &Path) -> Result<Tape, LlmError> {
        std::fs::create_dir_all(dir).map_err(|e| LlmError::Tape {
            dir: dir.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(Tape {
            dir: dir.to_path_buf(),
        })
    }

    /// A tape to replay from; the folder must exist.
    pub fn player(dir: &Path) -> Result<Tape, LlmError> {
        if !dir.is_dir() {
            return Err(LlmError::Tape {
                dir: dir.display().to_string(),
                message: "no such folder".into(),
            });
        }
        Ok(Tape {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        let safe: String = key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{safe}.json"))
    }

    /// Store one exchange, atomically (a temporary file renamed into place).
    pub fn save(
        &self,
        key: &str,
        request: &serde_json::Value,
        response: &serde_json::Value,
    ) -> Result<(), LlmError> {
        let rec = Recording {
            key: key.to_string(),
            request: request.clone(),
            response: response.clone(),
        };
        let path = self.path(key);
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(&rec).expect("a recording serialises") + "\n";
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                LlmError::Tape {
                    dir: self.dir.display().to_string(),
                    message: format!("{}: {e}", path.display()),
                }
            })
    }

    /// The recorded answer to `request`, with drift reported when the request changed.
    pub fn replay(&self, key: &str, request: &serde_json::Value) -> Result<Reply, LlmError> {
        let path = self.path(key);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(LlmError::ReplayMissing {
                    key: key.to_string(),
                    dir: self.dir.display().to_string(),
                });
            }
            Err(e) => {
                return Err(LlmError::Tape {
                    dir: self.dir.display().to_string(),
                    message: format!("{}: {e}", path.display()),
                });
            }
        };
        let rec: Recording = serde_json::from_str(&text).map_err(|e| LlmError::Tape {
            dir: self.dir.display().to_string(),
            message: format!("{}: {e}", path.display()),
        })?;
        let drift = (rec.request != *request).then(|| diff(&rec.request, request));
        let body = serde_json::to_vec(&rec.response).expect("JSON re-serialises");
        let (content, p, c, model) = parse_response(&body)?;
        Ok(Reply {
            content,
            prompt_tokens: p,
            completion_tokens: c,
            model,
            ms: 0.0,
            requests: 0,
            replayed: true,
            drift,
        })
    }
}

/// A unified diff of two requests, recorded (`-`) against now (`+`), one JSON value per line
/// so a changed prompt shows as changed lines of text.
pub fn diff(recorded: &serde_json::Value, now: &serde_json::Value) -> String {
    let a = request_lines(recorded);
    let b = request_lines(now);
    similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(2)
        .header("recorded", "now")
        .to_string()
}

/// A request as lines: each message's content split into its own lines, everything else as
/// pretty JSON.
fn request_lines(v: &serde_json::Value) -> String {
    let mut out = String::new();
    let mut rest = v.clone();
    if let Some(messages) = rest.get_mut("messages").and_then(|m| m.as_array_mut()) {
        for (i, m) in messages.iter().enumerate() {
            let role = m.get("role").and_then(|r| r.as_str()).unwrap_or("?");
            out.push_str(&format!("message {i} ({role}):\n"));
            let content = m.get("content").and_then(|c| c.as_str()).unwrap_or("");
            for line in content.lines() {
                out.push_str("  ");
                out.push_str(line);
                out.push('\n');
            }
        }
        messages.clear();
    }
    out.push_str(&serde_json::to_string_pretty(&rest).unwrap_or_default());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn record_then_replay_and_drift() {
        let dir = tempfile::tempdir().unwrap();
        let tape = Tape::recorder(dir.path()).unwrap();
        let req = json!({"model":"m","messages":[{"role":"user","content":"how many?\nper day"}]});
        let resp = json!({"choices":[{"message":{"content":"SELECT 1"}}],"usage":{"prompt_tokens":5,"completion_tokens":2}});
        tape.save("q-1.attempt-1", &req, &resp).unwrap();

        let player = Tape::player(dir.path()).unwrap();
        let r = player.replay("q-1.attempt-1", &req).unwrap();
        assert_eq!(
            (r.content.as_str(), r.prompt_tokens, r.drift.is_none()),
            ("SELECT 1", 5, true)
        );

        let changed =
            json!({"model":"m","messages":[{"role":"user","content":"how many?\nper week"}]});
        let r = player.replay("q-1.attempt-1", &changed).unwrap();
        let d = r.drift.unwrap();
        assert!(d.contains("-  per day") && d.contains("+  per week"), "{d}");

        assert!(matches!(
            player.replay("q-1.attempt-2", &req),
            Err(LlmError::ReplayMissing { .. })
        ));
        assert!(Tape::player(&dir.path().join("nope")).is_err());
        // Nothing half-written is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["q-1.attempt-1.json".to_string()]);
    }
}
