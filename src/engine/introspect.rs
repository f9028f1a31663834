//! What the catalog asks of the engine: each source's tables and their Arrow schemas, a cheap
//! fingerprint that changes when a table's data does, Postgres's own comments and statistics
//! counters, and small read-only queries whose batches it keeps.

use super::{Engine, EngineError, query_error};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use std::collections::BTreeMap;

/// A comment Postgres holds on a table (`column` = None) or a column.
#[derive(Debug, Clone)]
pub struct SourceComment {
    pub schema: String,
    pub table: String,
    pub column: Option<String>,
    pub comment: String,
}

impl Engine {
    /// `(schema, table)` of every table of one source, sorted.
    pub fn tables_of(&self, source: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(cat) = self.ctx.catalog(source) {
            for schema in cat.schema_names() {
                if let Some(sp) = cat.schema(&schema) {
                    for t in sp.table_names() {
                        out.push((schema.clone(), t));
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// The Arrow schema of `source.schema.table` (opening it if it is not yet open).
    pub async fn table_schema(
        &self,
        source: &str,
        schema: &str,
        table: &str,
    ) -> Result<SchemaRef, EngineError> {
        let sp = self
            .ctx
            .catalog(source)
            .and_then(|c| c.schema(schema))
            .ok_or_else(|| EngineError::Setup(format!("no schema {source}.{schema}")))?;
        match sp.table(table).await {
            Ok(Some(t)) => Ok(t.schema()),
            Ok(None) => Err(EngineError::Setup(format!(
                "no table {source}.{schema}.{table}"
            ))),
            Err(e) => Err(query_error(&e)),
        }
    }

    /// A value that changes when the data of a file table changes (its files' sizes, times and
    /// ETags), or Postgres's write counters for a Postgres table. `None` when the source has no
    /// such signal (SQLite's is read by the caller from the database file).
    pub async fn fingerprints(&self, source: &str) -> BTreeMap<(String, String), String> {
        let mut out = BTreeMap::new();
        if let Some(pg) = self.postgres.get(source) {
            if let Ok(rows) = super::postgres::table_counters(&pg.pool).await {
                out.extend(rows);
            }
            return out;
        }
        let Some(cat) = self.ctx.catalog(source) else {
            return out;
        };
        for schema in cat.schema_names() {
            let Some(sp) = cat.schema(&schema) else {
                continue;
            };
            let Some(fs) = sp.downcast_ref::<super::files::FileSchema>() else {
                continue;
            };
            for t in sp.table_names() {
                if let Ok(Some(f)) = fs.fingerprint(&t).await {
                    out.insert((schema.clone(), t), f);
                }
            }
        }
        out
    }

    /// `COMMENT ON TABLE/COLUMN` texts of a Postgres source; empty for other kinds.
    pub async fn source_comments(&self, source: &str) -> Result<Vec<SourceComment>, String> {
        match self.postgres.get(source) {
            Some(pg) => super::postgres::comments(&pg.pool).await,
            None => Ok(Vec::new()),
        }
    }

    /// Whether a source is Postgres (the catalog's statistics queries differ).
    pub fn is_postgres(&self, source: &str) -> bool {
        self.postgres.contains_key(source)
    }

    /// Check, plan and run one read-only statement, keeping its batches (for small results).
    pub async fn query_batches(&self, sql: &str) -> Result<Vec<RecordBatch>, EngineError> {
        let statements = self.check(sql, false)?;
        let planned = self.plan(&statements[0]).await?;
        let stream = self.execute(&planned)?;
        self.guarded(async {
            datafusion::physical_plan::common::collect(stream)
                .await
                .map_err(|e| query_error(&e))
        })
        .await
    }
}
