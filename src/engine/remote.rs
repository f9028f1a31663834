//! Catalogs over SQL databases (Postgres, SQLite): one DataFusion catalog per source, its schemas
//! and table names listed when the source opens, each table's provider built on first use.
//!
//! Postgres tables are wrapped by datafusion-federation, so the part of a query that joins or
//! aggregates within one Postgres source is unparsed to its dialect and runs inside it (filters,
//! projections, joins, aggregates, ordering, limits); the federation provider's name is the
//! source's name, so two sources on the same server are never merged into one remote query.
//! Plain scans, and every SQLite table, go through `engine::scan`.

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::common::TableReference;
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion_federation::FederatedTableProviderAdaptor;
use datafusion_federation::sql::{RemoteTableRef, SQLFederationProvider, SQLTableSource};
use datafusion_table_providers::sql::db_connection_pool::DbConnectionPool;
use datafusion_table_providers::sql::db_connection_pool::dbconnection::{get_schemas, get_tables};
use datafusion_table_providers::sqlite::sql_table::SQLiteTable;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

type Pool<T, P> = Arc<dyn DbConnectionPool<T, P> + Send + Sync>;

/// Which SQL database a catalog talks to; decides the dialect and the table wrapper.
#[derive(Debug, Clone)]
pub enum RemoteKind {
    /// Federated: the largest single-source part of a query runs in Postgres; scans read
    /// through binary COPY, split into `partitions` ctid ranges when large.
    Postgres {
        source: super::pgread::PgSource,
        partitions: usize,
        pushdown: bool,
    },
    /// Conservative pushdown (see `engine::sqlite`). `uri` is the read-only `file:` URI.
    Sqlite { uri: String },
}

/// A catalog whose schema and table names were listed when the source opened.
#[derive(Debug)]
pub struct RemoteCatalog {
    schemas: BTreeMap<String, Arc<dyn SchemaProvider>>,
}

impl RemoteCatalog {
    /// List the source's schemas (system schemas left out) and their tables.
    ///
    /// `listed`, when given, is the source's own listing of schema → relations (used for
    /// Postgres, where views, materialized views, foreign and partitioned tables count too).
    pub async fn open<T: 'static, P: 'static>(
        source: &str,
        kind: RemoteKind,
        pool: Pool<T, P>,
        listed: Option<BTreeMap<String, Vec<String>>>,
    ) -> Result<RemoteCatalog, String> {
        let conn = pool.connect().await.map_err(|e| e.to_string())?;
        let schema_names = get_schemas(conn).await.map_err(|e| e.to_string())?;
        let mut schemas = BTreeMap::new();
        for schema in schema_names {
            if matches!(
                schema.as_str(),
                "information_schema" | "pg_catalog" | "pg_toast"
            ) || schema.starts_with("pg_temp")
                || schema.starts_with("pg_toast_temp")
            {
                continue;
            }
            let mut tables = match &listed {
                Some(l) => l.get(&schema).cloned().unwrap_or_default(),
                None => {
                    let conn = pool.connect().await.map_err(|e| e.to_string())?;
                    get_tables(conn, &schema)
                        .await
                        .map_err(|e| format!("listing tables of schema {schema}: {e}"))?
                }
            };
            tables.sort();
            let provider = RemoteSchema {
                source: source.to_string(),
                kind: kind.clone(),
                schema: schema.clone(),
                tables,
                pool: Arc::clone(&pool),
                built: Mutex::new(HashMap::new()),
            };
            schemas.insert(schema, Arc::new(provider) as Arc<dyn SchemaProvider>);
        }
        Ok(RemoteCatalog { schemas })
    }
}

impl CatalogProvider for RemoteCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.schemas.keys().cloned().collect()
    }
    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.schemas.get(name).cloned()
    }
}

struct RemoteSchema<T: 'static, P: 'static> {
    source: String,
    kind: RemoteKind,
    schema: String,
    tables: Vec<String>,
    pool: Pool<T, P>,
    built: Mutex<HashMap<String, Arc<dyn TableProvider>>>,
}

impl<T, P> std::fmt::Debug for RemoteSchema<T, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteSchema({}.{})", self.source, self.schema)
    }
}

#[async_trait]
impl<T: 'static, P: 'static> SchemaProvider for RemoteSchema<T, P> {
    fn table_names(&self) -> Vec<String> {
        self.tables.clone()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if !self.table_exist(name) {
            return Ok(None);
        }
        if let Some(t) = self.built.lock().expect("not poisoned").get(name) {
            return Ok(Some(Arc::clone(t)));
        }
        let reference = TableReference::partial(self.schema.clone(), name.to_string());
        let external = |e: String| {
            DataFusionError::External(format!("{}.{}.{name}: {e}", self.source, self.schema).into())
        };
        let provider: Arc<dyn TableProvider> = match &self.kind {
            RemoteKind::Postgres {
                source,
                partitions,
                pushdown,
            } => {
                let table = Arc::new(
                    super::pgtable::PgTable::open(
                        source.clone(),
                        &self.schema,
                        name,
                        *partitions,
                        *pushdown,
                    )
                    .await
                    .map_err(external)?,
                );
                // Federated whole where a query joins or aggregates within this source; plain
                // scans (the other side of a cross-source join) go through `PgTable`.
                let schema = table.schema();
                let executor: Arc<dyn datafusion_federation::sql::SQLExecutor> =
                    Arc::new(super::pgtable::PgExecutor {
                        source: source.clone(),
                    });
                let federation = Arc::new(SQLFederationProvider::new(executor));
                let federated = Arc::new(SQLTableSource::new_with_schema(
                    federation,
                    RemoteTableRef::from(reference),
                    schema,
                ));
                Arc::new(FederatedTableProviderAdaptor::new_with_provider(
                    federated, table,
                ))
            }
            RemoteKind::Sqlite { uri } => {
                let schema = sqlite_declared_schema(uri, &self.schema, name).map_err(external)?;
                let table = SQLiteTable::new_with_schema(&self.pool, schema, reference);
                Arc::new(super::scan::SourceTable {
                    source: self.source.clone(),
                    inner: Arc::new(table),
                    policy: super::scan::FilterPolicy::SqliteSafe,
                })
            }
        };
        self.built
            .lock()
            .expect("not poisoned")
            .insert(name.to_string(), Arc::clone(&provider));
        Ok(Some(provider))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.iter().any(|t| t == name)
    }
}

/// A SQLite table's Arrow schema from its declared column types, by SQLite's own affinity rules
/// (<https://www.sqlite.org/datatype3.html#determination_of_column_affinity>). The upstream
/// provider infers types from the first row instead, which types a column `Null` when that row
/// holds NULL. Dates and times are text in SQLite and stay text.
fn sqlite_declared_schema(uri: &str, schema: &str, table: &str) -> Result<SchemaRef, String> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut stmt = conn
        .prepare(&format!(
            "PRAGMA {}.table_info({})",
            quote(schema),
            quote(table)
        ))
        .map_err(|e| e.to_string())?;
    let fields = stmt
        .query_map([], |row| {
            let name: String = row.get(1)?;
            let declared: String = row.get(2)?;
            let not_null: bool = row.get(3)?;
            let pk: i64 = row.get(5)?;
            Ok(Field::new(
                name,
                sqlite_affinity(&declared),
                !not_null && pk == 0,
            ))
        })
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if fields.is_empty() {
        return Err(format!("table {schema}.{table} has no columns"));
    }
    Ok(std::sync::Arc::new(Schema::new(fields)))
}

fn sqlite_affinity(declared: &str) -> DataType {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        DataType::Int64
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        DataType::Utf8
    } else if t.contains("BLOB") {
        DataType::Binary
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        DataType::Float64
    } else if t.is_empty() || t.contains("DATE") || t.contains("TIME") {
        DataType::Utf8
    } else if t.contains("BOOL") {
        DataType::Int64
    } else {
        // NUMERIC/DECIMAL affinity: SQLite stores these as integers or doubles.
        DataType::Float64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affinity_follows_sqlite_rules() {
        assert_eq!(sqlite_affinity("BIGINT"), DataType::Int64);
        assert_eq!(sqlite_affinity("varchar(20)"), DataType::Utf8);
        assert_eq!(sqlite_affinity("DOUBLE PRECISION"), DataType::Float64);
        assert_eq!(sqlite_affinity("DATE"), DataType::Utf8);
        assert_eq!(sqlite_affinity("DECIMAL(10,2)"), DataType::Float64);
        assert_eq!(sqlite_affinity("BLOB"), DataType::Binary);
    }
}
