//! What the model meant: its JSON answer (SQL, tables, explanation, or an abstention), or, from
//! servers without structured output, one SQL statement dug out of plain text: code fences,
//! prose around it, a trailing semicolon.

/// The model's answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelAnswer {
    Sql {
        sql: String,
        tables: Vec<String>,
        explanation: String,
    },
    Abstain {
        reason: String,
    },
}

/// Why a reply could not be read as an answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// Read one reply.
pub fn parse(content: &str) -> Result<ModelAnswer, Unreadable> {
    let text = content.trim();
    if text.is_empty() {
        return Err(Unreadable("the model's reply is empty".into()));
    }
    if let Some(answer) = json_answer(text)? {
        return Ok(answer);
    }
    if let Some(sql) = sql_in_text(text) {
        return Ok(ModelAnswer::Sql {
            sql,
            tables: vec![],
            explanation: String::new(),
        });
    }
    if let Some(reason) = plain_abstention(text) {
        return Ok(ModelAnswer::Abstain { reason });
    }
    Err(Unreadable(format!(
        "the model's reply has no SQL statement and no JSON answer: {}",
        super::first_chars(text, 160)
    )))
}

/// The JSON object, bare or fenced. `Ok(None)` when the text holds no JSON object at all;
/// an error when it holds one that is not an answer (so the model is told what was wrong).
fn json_answer(text: &str) -> Result<Option<ModelAnswer>, Unreadable> {
    let candidate = fenced(text, &["json", ""])
        .into_iter()
        .chain(std::iter::once(text.to_string()))
        .find(|c| c.trim_start().starts_with('{'));
    let Some(candidate) = candidate else {
        return Ok(None);
    };
    let candidate = candidate.trim();
    // The object may be followed by prose; take the first complete value.
    let mut stream = serde_json::Deserializer::from_str(candidate).into_iter::<serde_json::Value>();
    let value = match stream.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            // Not JSON after all (e.g. a `{` in prose) unless it looked like our object.
            if candidate.contains("\"sql\"") {
                return Err(Unreadable(format!(
                    "the model's JSON answer is malformed: {e}"
                )));
            }
            return Ok(None);
        }
        None => return Ok(None),
    };
    let Some(obj) = value.as_object() else {
        return Ok(None);
    };
    let text_of = |k: &str| {
        obj.get(k)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if let Some(reason) = text_of("abstain").or_else(|| text_of("abstention")) {
        return Ok(Some(ModelAnswer::Abstain { reason }));
    }
    let explanation = text_of("explanation").unwrap_or_default();
    let tables = obj
        .get("tables")
        .and_then(|t| t.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    match text_of("sql").or_else(|| text_of("query")) {
        Some(sql) => Ok(Some(ModelAnswer::Sql {
            sql: strip_semicolons(&sql),
            tables,
            explanation,
        })),
        None if obj.contains_key("sql") => Ok(Some(ModelAnswer::Abstain {
            reason: if explanation.is_empty() {
                "the model gave no SQL".into()
            } else {
                explanation
            },
        })),
        None => Ok(None),
    }
}

/// The bodies of fenced blocks whose language is one of `langs` ("" = no language).
fn fenced(text: &str, langs: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let (lang, body_start) = match after.find('\n') {
            Some(nl) => (after[..nl].trim().to_ascii_lowercase(), nl + 1),
            None => break,
        };
        let body = &after[body_start..];
        let Some(end) = body.find("```") else {
            // An unclosed fence: the rest is the body.
            if langs.contains(&lang.as_str()) {
                out.push(body.to_string());
            }
            break;
        };
        if langs.contains(&lang.as_str()) {
            out.push(body[..end].to_string());
        }
        rest = &body[end + 3..];
    }
    out
}

/// One SQL statement in prose: a ```sql fence first, then any fence that starts like SQL, then
/// the first line that starts with SELECT or WITH, up to a blank line or the end.
pub fn sql_in_text(text: &str) -> Option<String> {
    let looks_like_sql = |s: &str| {
        let head = s.trim_start().to_ascii_lowercase();
        head.starts_with("select") || head.starts_with("with") || head.starts_with('(')
    };
    if let Some(s) = fenced(text, &["sql", "postgresql", "postgres"])
        .into_iter()
        .find(|s| !s.trim().is_empty())
    {
        return Some(strip_semicolons(&s));
    }
    if let Some(s) = fenced(text, &[""]).into_iter().find(|s| looks_like_sql(s)) {
        return Some(strip_semicolons(&s));
    }
    // Also catch statements other than SELECT so they are refused, never silently ignored.
    let starts = [
        "select", "with", "insert", "update", "delete", "drop", "create", "alter", "truncate",
    ];
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.iter().position(|l| {
        let head = l.trim_start().to_ascii_lowercase();
        starts
            .iter()
            .any(|k| head.starts_with(k) && head[k.len()..].starts_with([' ', '\t', '(']))
            || head == "select"
            || head == "with"
    })?;
    let mut stmt = Vec::new();
    for l in &lines[first..] {
        if l.trim().is_empty() {
            break;
        }
        stmt.push(*l);
        if l.trim_end().ends_with(';') {
            break;
        }
    }
    Some(strip_semicolons(&stmt.join("\n")))
}

fn strip_semicolons(sql: &str) -> String {
    sql.trim().trim_end_matches(';').trim_end().to_string()
}

/// A plain-text refusal to answer ("ABSTAIN: …", "I cannot answer …").
fn plain_abstention(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("abstain") {
        let reason = text[text.len() - rest.len()..]
            .trim_start_matches([':', ' ', '-'])
            .trim();
        return Some(if reason.is_empty() {
            "the model abstained".into()
        } else {
            reason.to_string()
        });
    }
    let markers = [
        "cannot answer",
        "can't answer",
        "unable to answer",
        "not possible to answer",
        "does not contain",
        "no table",
    ];
    markers
        .iter()
        .any(|m| lower.contains(m))
        .then(|| super::first_chars(text, 300))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql_of(text: &str) -> String {
        match parse(text).unwrap() {
            ModelAnswer::Sql { sql, .. } => sql,
            other => panic!("expected SQL, got {other:?}"),
        }
    }

    #[test]
    fn json_answers() {
        let a =
            parse(r#"{"sql":"SELECT 1;","tables":["a.b.c"],"explanation":"one","abstain":null}"#)
                .unwrap();
        assert_eq!(
            a,
            ModelAnswer::Sql {
                sql: "SELECT 1".into(),
                tables: vec!["a.b.c".into()],
                explanation: "one".into()
            }
        );
        let fenced = "Here you go:\n```json\n{\"sql\": \"SELECT 2\", \"tables\": [], \"explanation\": \"\", \"abstain\": null}\n```\n";
        assert_eq!(sql_of(fenced), "SELECT 2");
        assert_eq!(
            parse(r#"{"sql":null,"tables":[],"explanation":"","abstain":"no churn data"}"#)
                .unwrap(),
            ModelAnswer::Abstain {
                reason: "no churn data".into()
            }
        );
        assert!(
            parse(r#"{"sql": "SELECT 1", "tables": [}"#)
                .unwrap_err()
                .0
                .contains("malformed")
        );
    }

    #[test]
    fn sql_in_prose() {
        assert_eq!(
            sql_of(
                "Sure! Here is the query:\n```sql\nSELECT count(*)\nFROM t;\n```\nIt counts rows."
            ),
            "SELECT count(*)\nFROM t"
        );
        assert_eq!(
            sql_of("```\nWITH x AS (SELECT 1) SELECT * FROM x\n```"),
            "WITH x AS (SELECT 1) SELECT * FROM x"
        );
        assert_eq!(
            sql_of("The answer is\n\nSELECT a\n  FROM t\n WHERE b = 1;\n\nThis filters b."),
            "SELECT a\n  FROM t\n WHERE b = 1"
        );
        assert_eq!(sql_of("DROP TABLE accounts;"), "DROP TABLE accounts");
    }

    #[test]
    fn abstentions_and_garbage() {
        assert_eq!(
            parse("ABSTAIN: there is no churn table").unwrap(),
            ModelAnswer::Abstain {
                reason: "there is no churn table".into()
            }
        );
        assert!(matches!(
            parse("I cannot answer this from the given tables.").unwrap(),
            ModelAnswer::Abstain { .. }
        ));
        assert!(parse("Hello there").is_err());
        assert!(parse("   ").is_err());
    }
}
