//! Usage metadata: which tables, columns and joins past queries used, as a ranking prior.
//!
//! Every query `skipper sql` runs successfully is appended to `query_log.jsonl` under the data
//! dir with what it read (tables, columns, equality joins, as written), parsed once when it is
//! written. The catalog resolves those names when it learns the counts, reading the newest
//! [`MAX_ENTRIES`] entries of the current configuration. (The audit log of the governance work
//! is meant to take this file's place; the entry format is the seam.)

use super::Catalog;
use super::sqlfacts;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// How many of the newest log entries are read.
pub const MAX_ENTRIES: usize = 20_000;

#[derive(Debug, Serialize, Deserialize)]
pub struct LogEntry {
    pub at: String,
    pub config: String,
    pub tables: Vec<String>,
    pub columns: Vec<(String, String)>,
    pub joins: Vec<((String, String), (String, String))>,
}

pub fn log_path(data_dir: &Path) -> PathBuf {
    data_dir.join("query_log.jsonl")
}

/// Append one query's facts to the log. A query that does not parse here (it ran, so the engine
/// parsed it) is logged with no facts. One `write` of one line, so concurrent writers never
/// interleave within a line.
pub fn record(data_dir: &Path, config: &Path, at: &str, sql: &str) -> std::io::Result<()> {
    let facts = sqlfacts::analyze(sql, &|_| None).unwrap_or_default();
    let mut e = LogEntry {
        at: at.to_string(),
        config: config_key(config),
        tables: vec![],
        columns: vec![],
        joins: vec![],
    };
    for d in facts {
        e.tables.extend(d.facts.tables);
        e.columns.extend(d.facts.columns);
        e.joins.extend(d.facts.joins);
    }
    let mut line = serde_json::to_string(&e).expect("log entries serialise");
    line.push('\n');
    std::fs::create_dir_all(data_dir)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(data_dir))?;
    f.write_all(line.as_bytes())
}

fn config_key(config: &Path) -> String {
    std::fs::canonicalize(config)
        .unwrap_or_else(|_| config.to_path_buf())
        .display()
        .to_string()
}

/// Counts by catalog name (`source.schema.table`, `….column`, and joined column pairs).
#[derive(Debug, Default, Clone)]
pub struct Usage {
    pub queries: u64,
    pub tables: HashMap<String, u64>,
    pub columns: HashMap<String, u64>,
    pub joins: HashMap<(String, String), u64>,
}

impl Usage {
    /// Read the log for `config` and count what the catalog can resolve.
    pub fn learn(cat: &Catalog, data_dir: &Path, config: &Path) -> Usage {
        let mut u = Usage::default();
        let Ok(f) = std::fs::File::open(log_path(data_dir)) else {
            return u;
        };
        let key = config_key(config);
        let lines: Vec<String> = std::io::BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .collect();
        let start = lines.len().saturating_sub(MAX_ENTRIES);
        let resolve = |t: &str| cat.resolve_table(t).ok().map(|t| t.name.clone());
        let mut names: HashMap<String, Option<String>> = HashMap::new();
        let mut table_of = |t: &str| -> Option<String> {
            names
                .entry(t.to_string())
                .or_insert_with(|| resolve(t))
                .clone()
        };
        for line in &lines[start..] {
            let Ok(e) = serde_json::from_str::<LogEntry>(line) else {
                continue;
            };
            if e.config != key {
                continue;
            }
            u.queries += 1;
            for t in &e.tables {
                if let Some(n) = table_of(t) {
                    *u.tables.entry(n).or_default() += 1;
                }
            }
            for (t, c) in &e.columns {
                if let Some(n) = table_of(t) {
                    *u.columns.entry(format!("{n}.{c}")).or_default() += 1;
                }
            }
            for ((lt, lc), (rt, rc)) in &e.joins {
                if let (Some(l), Some(r)) = (table_of(lt), table_of(rt)) {
                    let (a, b) = (format!("{l}.{lc}"), format!("{r}.{rc}"));
                    let key = if a <= b { (a, b) } else { (b, a) };
                    *u.joins.entry(key).or_default() += 1;
                }
            }
        }
        u
    }
}
