//! The introspection cache: one snapshot per source (its tables, columns, row counts, column
//! statistics and comments, with when they were taken), kept in an embedded SQLite database
//! under the data dir (`catalog.db`) and keyed by the configuration file, so two projects never
//! share a snapshot. Writes are one transaction: a refresh is stored whole or not at all.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Statistics of one column.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ColumnStats {
    pub null_fraction: f64,
    /// Distinct non-null values (approximate for file sources: HyperLogLog).
    pub distinct: Option<u64>,
    pub min: Option<String>,
    pub max: Option<String>,
    /// The most common values of a low-cardinality text column, with their counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub common_values: Vec<(String, u64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ColumnSnapshot {
    pub name: String,
    pub data_type: String,
    pub nullable: bool,
    #[serde(default)]
    pub comment: Option<String>,
    /// Absent until `catalog refresh` computed them, and always for PII columns.
    #[serde(default)]
    pub stats: Option<ColumnStats>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableSnapshot {
    pub schema: String,
    pub table: String,
    /// Changes when the data does (files: sizes, times, ETags; Postgres: write counters;
    /// SQLite: the database file's change counter).
    #[serde(default)]
    pub fingerprint: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub row_count: Option<u64>,
    #[serde(default)]
    pub stats_at: Option<String>,
    pub columns: Vec<ColumnSnapshot>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceSnapshot {
    pub source: String,
    pub kind: String,
    pub refreshed_at: String,
    /// Set when the latest refresh could not reach the source; the tables are the last ones
    /// seen.
    #[serde(default)]
    pub error: Option<String>,
    pub tables: Vec<TableSnapshot>,
}

/// The cache database.
pub struct Store {
    conn: Connection,
    key: String,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("catalog cache {path}: {message}")]
pub struct StoreError {
    pub path: PathBuf,
    pub message: String,
}

impl Store {
    /// Open (creating) `data_dir/catalog.db` for the configuration at `config`.
    pub fn open(data_dir: &Path, config: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join("catalog.db");
        let fail = |m: String| StoreError {
            path: path.clone(),
            message: m,
        };
        std::fs::create_dir_all(data_dir).map_err(|e| fail(e.to_string()))?;
        let conn = Connection::open(&path).map_err(|e| fail(e.to_string()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| fail(e.to_string()))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS snapshot (
                 config TEXT NOT NULL, source TEXT NOT NULL, refreshed_at TEXT NOT NULL,
                 body TEXT NOT NULL, PRIMARY KEY (config, source));",
        )
        .map_err(|e| fail(e.to_string()))?;
        let key = std::fs::canonicalize(config)
            .unwrap_or_else(|_| config.to_path_buf())
            .display()
            .to_string();
        Ok(Store { conn, key, path })
    }

    /// The configuration this store's snapshots belong to (its canonical path).
    pub fn config_key(&self) -> &str {
        &self.key
    }

    pub fn load(&self, source: &str) -> Result<Option<SourceSnapshot>, StoreError> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM snapshot WHERE config = ?1 AND source = ?2",
                params![self.key, source],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.fail(e.to_string()))?;
        match body {
            None => Ok(None),
            // A snapshot written by an older layout is simply taken again.
            Some(b) => Ok(serde_json::from_str(&b).ok()),
        }
    }

    /// A digest of the stored snapshot of `source` (its whole text), without parsing it: what
    /// the catalog cache is keyed by.
    pub fn digest(&self, source: &str) -> Result<Option<blake3::Hash>, StoreError> {
        self.conn
            .query_row(
                "SELECT body FROM snapshot WHERE config = ?1 AND source = ?2",
                params![self.key, source],
                |r| {
                    let body = r.get_ref(0)?;
                    Ok(blake3::hash(body.as_bytes().unwrap_or_default()))
                },
            )
            .optional()
            .map_err(|e| self.fail(e.to_string()))
    }

    /// Store these snapshots together (one transaction).
    pub fn save(&mut self, snaps: &[SourceSnapshot]) -> Result<(), StoreError> {
        let fail = |e: rusqlite::Error| StoreError {
            path: self.path.clone(),
            message: e.to_string(),
        };
        let tx = self.conn.transaction().map_err(fail)?;
        for s in snaps {
            let body = serde_json::to_string(s).expect("snapshots serialise");
            tx.execute(
                "INSERT INTO snapshot (config, source, refreshed_at, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (config, source) DO UPDATE SET refreshed_at = ?3, body = ?4",
                params![self.key, s.source, s.refreshed_at, body],
            )
            .map_err(fail)?;
        }
        tx.commit().map_err(fail)
    }

    fn fail(&self, m: String) -> StoreError {
        StoreError {
            path: self.path.clone(),
            message: m,
        }
    }
}
