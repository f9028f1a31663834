//! The Postgres compatibility corpus (`data/pg_corpus/`): every query run through `skipper sql`
//! and directly in Postgres, the results compared.
//!
//! Three modes; the first two have their own checked-in expected failures that may only shrink:
//! - `passthrough` (the default engine): single-source queries run whole in Postgres;
//! - `datafusion` (`[engine] passthrough = false`): DataFusion plans every query and federation
//!   pushes down what it can — the path cross-source queries take — measured, not hidden;
//! - `datafusion+memory_limit`: the same under a memory limit, where Skipper's own sort replaces
//!   DataFusion's; held to the `datafusion` list.
//!
//! The comparator, by the Postgres result column's type (from `PREPARE`):
//! - row order is compared only when the outer query has ORDER BY; otherwise both sides are
//!   sorted by their normalised rows;
//! - integers and numerics compare by exact decimal value (`1.50` = `1.5`); when Skipper returns
//!   a float for a Postgres numeric, or the column is real/double, floats compare to a relative
//!   tolerance of 1e-9 (1e-6 for real), NaN equal to NaN;
//! - timestamps compare as instants in UTC (timestamptz) or as wall-clock values (timestamp);
//!   dates, times by value; intervals, text and everything else as Postgres prints them
//!   (sessions in UTC, IntervalStyle `postgres`, text compared byte for byte);
//! - NULL equals NULL only.

use crate::harness::{Pg, home_with_config, run, skipper};
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use tokio_postgres::types::Type;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/data/pg_corpus");

struct Query {
    id: String,
    sql: String,
}

fn corpus() -> Vec<Query> {
    let text = std::fs::read_to_string(Path::new(DIR).join("queries.sql")).unwrap();
    let mut out: Vec<Query> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("-- ")
            && let Some((id, _category)) = rest.split_once(':')
            && !id.contains(' ')
            && id.contains('_')
        {
            out.push(Query {
                id: id.to_string(),
                sql: String::new(),
            });
            continue;
        }
        if line.starts_with("--") || line.trim().is_empty() {
            continue;
        }
        let q = out.last_mut().expect("a query line before the first id");
        q.sql.push_str(line);
        q.sql.push('\n');
    }
    for q in &mut out {
        q.sql = q.sql.trim().trim_end_matches(';').to_string();
    }
    out
}

/// `mode id` → reason.
fn expected_failures() -> BTreeMap<(String, String), String> {
    let text = std::fs::read_to_string(Path::new(DIR).join("expected_failures.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (key, reason) = l.split_once(':').expect("`mode id: reason`");
            let (mode, id) = key.split_once(' ').expect("`mode id: reason`");
            assert!(
                !reason.trim().is_empty(),
                "expected failure {key} needs a reason"
            );
            (
                (mode.trim().to_string(), id.trim().to_string()),
                reason.trim().to_string(),
            )
        })
        .collect()
}

/// A value normalised for comparison.
#[derive(Debug, Clone, PartialEq)]
enum Norm {
    Null,
    Exact(String),
    Float(f64),
    Text(String),
}

impl Norm {
    fn sort_key(&self) -> String {
        match self {
            Norm::Null => "\u{0}".into(),
            Norm::Exact(s) | Norm::Text(s) => s.clone(),
            Norm::Float(f) => format!("{f:.6e}"),
        }
    }

    fn matches(&self, other: &Norm, tol: f64) -> bool {
        match (self, other) {
            (Norm::Float(a), Norm::Float(b)) => {
                (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= tol * a.abs().max(b.abs())
            }
            (Norm::Float(_), Norm::Exact(e)) | (Norm::Exact(e), Norm::Float(_)) => {
                let f = Norm::Float(e.parse().unwrap_or(f64::NAN));
                let g = if matches!(self, Norm::Float(_)) {
                    self
                } else {
                    other
                };
                f.matches(g, tol.max(1e-9))
            }
            (a, b) => a == b,
        }
    }
}

/// An exact decimal's canonical text: no sign on zero, no leading zeros, no trailing
/// fractional zeros.
fn canonical_decimal(s: &str) -> Option<String> {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let body = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    Some(if neg && body != "0" {
        format!("-{body}")
    } else {
        body
    })
}

fn parse_float(s: &str) -> f64 {
    match s {
        "NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        "-Infinity" => f64::NEG_INFINITY,
        _ => s.parse().unwrap_or(f64::NAN),
    }
}

fn micros_tz(s: &str) -> Option<i64> {
    // Postgres: 2024-01-01 10:13:00+00 ; Skipper: 2024-01-01T10:13:00Z
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    let fixed = if s.len() > 3 && (s.ends_with(|c: char| c.is_ascii_digit())) {
        // +00 → +00:00
        let (head, tail) = s.split_at(s.len() - 3);
        if tail.starts_with('+') || tail.starts_with('-') {
            format!("{head}{tail}:00")
        } else {
            s.to_string()
        }
    } else {
        s.to_string()
    };
    chrono::DateTime::parse_from_str(&fixed, "%Y-%m-%d %H:%M:%S%.f%:z")
        .ok()
        .map(|t| t.timestamp_micros())
}

fn micros_naive(s: &str) -> Option<i64> {
    let s = s.trim_end_matches('Z').replace('T', " ");
    chrono::NaiveDateTime::parse_from_str(&s, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp_micros())
}

/// Postgres's text for a value of type `ty`, normalised.
fn norm_pg(ty: &Type, v: Option<&str>) -> Norm {
    let Some(v) = v else { return Norm::Null };
    match *ty {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::NUMERIC | Type::OID => {
            match canonical_decimal(v) {
                Some(d) => Norm::Exact(d),
                None => Norm::Float(parse_float(v)),
            }
        }
        Type::FLOAT4 | Type::FLOAT8 => Norm::Float(parse_float(v)),
        Type::BOOL => Norm::Text(if v == "t" { "true" } else { "false" }.into()),
        Type::TIMESTAMPTZ => {
            micros_tz(v).map_or(Norm::Text(v.into()), |m| Norm::Exact(m.to_string()))
        }
        Type::TIMESTAMP => {
            micros_naive(v).map_or(Norm::Text(v.into()), |m| Norm::Exact(m.to_string()))
        }
        Type::TIME => chrono::NaiveTime::parse_from_str(v, "%H:%M:%S%.f")
            .map_or(Norm::Text(v.into()), |t| {
                Norm::Text(t.format("%H:%M:%S%.6f").to_string())
            }),
        _ => Norm::Text(v.into()),
    }
}

/// Skipper's JSON value for a column Postgres types as `ty`, normalised.
fn norm_skipper(ty: &Type, v: &Value) -> Norm {
    let text = match v {
        Value::Null => return Norm::Null,
        Value::Bool(b) => return Norm::Text(b.to_string()),
        Value::Number(n) if n.is_f64() => return Norm::Float(n.as_f64().unwrap()),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match *ty {
        Type::FLOAT4 | Type::FLOAT8 => Norm::Float(parse_float(&text)),
        Type::INT2 | Type::INT4 | Type::INT8 | Type::NUMERIC | Type::OID => {
            match canonical_decimal(&text) {
                Some(d) => Norm::Exact(d),
                None => Norm::Float(parse_float(&text)),
            }
        }
        Type::TIMESTAMPTZ => {
            micros_tz(&text).map_or(Norm::Text(text), |m| Norm::Exact(m.to_string()))
        }
        Type::TIMESTAMP => {
            micros_naive(&text).map_or(Norm::Text(text), |m| Norm::Exact(m.to_string()))
        }
        Type::TIME => chrono::NaiveTime::parse_from_str(&text, "%H:%M:%S%.f")
            .map_or(Norm::Text(text), |t| {
                Norm::Text(t.format("%H:%M:%S%.6f").to_string())
            }),
        _ => Norm::Text(text),
    }
}

fn ordered(sql: &str) -> bool {
    match Parser::parse_sql(&PostgreSqlDialect {}, sql) {
        Ok(s) => matches!(s.first(), Some(Statement::Query(q)) if q.order_by.is_some()),
        Err(_) => false,
    }
}

struct Reference {
    types: Vec<Type>,
    names: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

async fn reference(client: &tokio_postgres::Client, sql: &str) -> Reference {
    let stmt = client
        .prepare(sql)
        .await
        .unwrap_or_else(|e| panic!("corpus query fails in Postgres itself: {sql}: {e:?}"));
    let types = stmt.columns().iter().map(|c| c.type_().clone()).collect();
    let names = stmt
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let mut rows = Vec::new();
    for m in client.simple_query(sql).await.unwrap() {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            rows.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect());
        }
    }
    Reference { types, names, rows }
}

/// Compare one query; `Err(why)` on the first difference.
fn compare(q: &Query, r: &Reference, out: &crate::harness::Run) -> Result<(), String> {
    if out.code != 0 {
        return Err(format!(
            "skipper failed (exit {}): {}",
            out.code,
            out.stderr.lines().next().unwrap_or_default()
        ));
    }
    let doc: Value = serde_json::from_str(&out.stdout)
        .map_err(|e| format!("skipper printed no JSON document: {e}"))?;
    let cols = doc["columns"].as_array().cloned().unwrap_or_default();
    if cols.len() != r.types.len() {
        return Err(format!(
            "{} columns, Postgres has {} ({:?})",
            cols.len(),
            r.types.len(),
            r.names
        ));
    }
    let names: Vec<String> = cols
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_string())
        .collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        names.len(),
        "corpus query {} must name its columns uniquely",
        q.id
    );
    let rows = doc["rows"].as_array().cloned().unwrap_or_default();
    if rows.len() != r.rows.len() {
        return Err(format!(
            "{} rows, Postgres has {}",
            rows.len(),
            r.rows.len()
        ));
    }
    let mut ours: Vec<Vec<Norm>> = rows
        .iter()
        .map(|row| {
            names
                .iter()
                .zip(&r.types)
                .map(|(n, ty)| norm_skipper(ty, &row[n]))
                .collect()
        })
        .collect();
    let mut theirs: Vec<Vec<Norm>> = r
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .zip(&r.types)
                .map(|(v, ty)| norm_pg(ty, v.as_deref()))
                .collect()
        })
        .collect();
    if !ordered(&q.sql) {
        let key = |row: &Vec<Norm>| row.iter().map(Norm::sort_key).collect::<Vec<_>>();
        ours.sort_by_key(key);
        theirs.sort_by_key(key);
    }
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        for (j, ty) in r.types.iter().enumerate() {
            let tol = if *ty == Type::FLOAT4 { 1e-6 } else { 1e-9 };
            if !a[j].matches(&b[j], tol) {
                return Err(format!(
                    "row {i} column {}: skipper {:?}, Postgres {:?}",
                    r.names[j], a[j], b[j]
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn skipper_answers_as_postgres_does() {
    let Some(pg) = Pg::start() else { return };
    pg.psql("postgres", "CREATE DATABASE corpus");
    let schema = std::fs::read_to_string(Path::new(DIR).join("schema.sql")).unwrap();
    pg.psql("corpus", &schema);
    let queries = corpus();
    assert!(queries.len() >= 150, "the corpus holds {}", queries.len());
    let mut ids: Vec<&str> = queries.iter().map(|q| q.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), queries.len(), "corpus ids must be unique");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let references: Vec<Reference> = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&pg.url("corpus"), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute("SET TimeZone = 'UTC'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; SET DateStyle = 'ISO, MDY'")
            .await
            .unwrap();
        let mut out = Vec::new();
        for q in &queries {
            out.push(reference(&client, &q.sql).await);
        }
        out
    });

    let expected = expected_failures();
    let mut now_passing: Vec<String> = Vec::new();
    let mut report = String::new();
    let mut problems = Vec::new();
    // The third mode runs the DataFusion path under a memory limit, where Skipper's own sort
    // replaces DataFusion's (engine/extsort.rs): it must answer what the second does, so the
    // second's expected failures apply to it.
    for (mode, expects, extra) in [
        ("passthrough", "passthrough", ""),
        (
            "datafusion",
            "datafusion",
            "[engine]\npassthrough = false\n",
        ),
        (
            "datafusion+memory_limit",
            "datafusion",
            "[engine]\npassthrough = false\nmemory_limit = \"256MB\"\n",
        ),
    ] {
        let home = home_with_config(&format!(
            "{extra}[sources.pg]\nkind = \"postgres\"\nurl = \"{}\"\n",
            pg.url("corpus")
        ));
        let results: Vec<Result<(), String>> = std::thread::scope(|s| {
            let chunks: Vec<Vec<(usize, &Query)>> = (0..4)
                .map(|w| {
                    queries
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % 4 == w)
                        .collect()
                })
                .collect();
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| {
                    let home = home.path().to_path_buf();
                    let references = &references;
                    s.spawn(move || {
                        chunk
                            .into_iter()
                            .map(|(i, q)| {
                                let out =
                                    run(skipper(&home).args(["sql", "--format", "json", &q.sql]));
                                (i, compare(q, &references[i], &out))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut all: Vec<(usize, Result<(), String>)> = handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect();
            all.sort_by_key(|(i, _)| *i);
            all.into_iter().map(|(_, r)| r).collect()
        });
        let mut passed = 0;
        for (q, result) in queries.iter().zip(&results) {
            let key = (expects.to_string(), q.id.clone());
            match (result, expected.contains_key(&key)) {
                (Ok(()), false) => passed += 1,
                (Ok(()), true) => {
                    now_passing.push(format!("{expects} {}", q.id));
                    problems.push(format!(
                        "{mode} {} now matches Postgres: remove it from expected_failures.txt \
                         (SKIPPER_CORPUS_SHRINK=1 does)",
                        q.id
                    ))
                }
                (Err(why), false) => {
                    problems.push(format!("{mode} {}: {why}\n    {}", q.id, q.sql))
                }
                (Err(why), true) => {
                    eprintln!("expected failure {mode} {}: {why}", q.id);
                }
            }
        }
        report.push_str(&format!(
            "{mode}: {passed}/{} queries return what Postgres returns\n",
            queries.len()
        ));
    }
    eprintln!("{report}");
    // The list may only shrink: this removes entries that now pass, and never adds one.
    if std::env::var_os("SKIPPER_CORPUS_SHRINK").is_some() && !now_passing.is_empty() {
        let path = Path::new(DIR).join("expected_failures.txt");
        let text = std::fs::read_to_string(&path).unwrap();
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !now_passing.iter().any(|k| l.starts_with(&format!("{k}:"))))
            .collect();
        std::fs::write(&path, kept.join("\n") + "\n").unwrap();
        problems.retain(|p| !p.contains("now matches Postgres"));
    }
    assert!(
        problems.is_empty(),
        "{} corpus problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
