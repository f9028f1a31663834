//! Postgres tables inside DataFusion plans (the path of cross-source queries, and of every
//! query when passthrough is off): [`PgTable`] for plain scans and [`PgExecutor`] for the
//! fragments datafusion-federation sends whole. Both read through binary COPY
//! ([`super::pgread`]); neither uses the upstream row-by-row reader.
//!
//! Types come from Postgres's own description of the table (`PREPARE SELECT * …`), so `time`,
//! `interval`, `char(n)` (read without its padding, as Postgres compares and concatenates it,
//! and marked so that a bare column prints padded) and numeric(p,s) have their faithful Arrow
//! types. Columns of types with no Arrow form are read as text.
//!
//! Scans: the projection, the filters Postgres evaluates exactly as DataFusion would, and the
//! limit go into the SQL. A filter is pushed when it is built from columns, plain literals,
//! comparisons, arithmetic (+ − ×), AND/OR/NOT, IS [NOT] NULL, IN lists, BETWEEN and [I]LIKE —
//! except ordering comparisons of text, whose answer depends on the database's collation
//! (DataFusion compares bytes). A scan with no limit over a table larger than
//! [`RANGE_MIN_PAGES`] is split into one ctid range per partition, read over parallel
//! connections (Postgres 14+ reads a ctid range without touching the rest of the table).
//! The ranges are separate statements, so rows written between them may be seen by one range
//! and not another; the reads are of a live database either way.

use super::pgcopy::PgKind;
use super::pgread::{PgQueryExec, PgSource, describe, read};
use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Constraint, Constraints, DFSchema};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{Expr, ExprSchemable, Operator, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::sql::unparser::Unparser;
use datafusion::sql::unparser::dialect::PostgreSqlDialect;
use std::sync::Arc;

/// Tables of fewer pages (8 KiB each) than this are read in one statement.
pub(super) const RANGE_MIN_PAGES: i64 = 2048;

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// A Postgres table or view, scanned with pushed-down projection, filters and limit.
#[derive(Debug)]
pub(super) struct PgTable {
    source: PgSource,
    pg_schema: String,
    table: String,
    schema: SchemaRef,
    /// The same schema as DataFusion types filter expressions against, built once.
    df_schema: DFSchema,
    kinds: Vec<PgKind>,
    /// What each column is selected as: its quoted name, or `name::text`.
    select: Vec<String>,
    partitions: usize,
    /// Off: no filter or limit is sent (see `[engine] pushdown`).
    pushdown: bool,
    /// The primary key, so DataFusion knows what Postgres knows: grouping by the key
    /// determines the table's other columns.
    constraints: Option<Constraints>,
}

impl PgTable {
    pub(super) async fn open(
        source: PgSource,
        pg_schema: &str,
        table: &str,
        partitions: usize,
        pushdown: bool,
    ) -> Result<PgTable, String> {
        let sql = format!("SELECT * FROM {}.{}", quote(pg_schema), quote(table));
        let columns = describe(&source, &sql).await.map_err(|e| e.message)?;
        let mut described = Vec::new();
        let mut select = Vec::new();
        for (name, kind) in columns {
            match kind {
                Ok(k) => {
                    select.push(quote(&name));
                    described.push((name, k.for_computation()));
                }
                Err(_) => {
                    select.push(format!("{}::text", quote(&name)));
                    described.push((name, PgKind::Text));
                }
            }
        }
        let key = primary_key(&source, pg_schema, table).await;
        let constraints = key.and_then(|names| {
            let idx: Option<Vec<usize>> = names
                .iter()
                .map(|n| described.iter().position(|(c, _)| c == n))
                .collect();
            idx.filter(|i| !i.is_empty())
                .map(|i| Constraints::new_unverified(vec![Constraint::PrimaryKey(i)]))
        });
        let schema = super::pgcopy::schema(&described);
        Ok(PgTable {
            pushdown,
            constraints,
            source,
            pg_schema: pg_schema.to_string(),
            table: table.to_string(),
            df_schema: DFSchema::try_from(schema.as_ref().clone()).map_err(|e| e.to_string())?,
            schema,
            kinds: described.into_iter().map(|(_, k)| k).collect(),
            select,
            partitions: partitions.max(1),
        })
    }

    fn from(&self) -> String {
        format!("{}.{}", quote(&self.pg_schema), quote(&self.table))
    }

    /// The filter as Postgres SQL, if Postgres evaluates it exactly as DataFusion does.
    fn pushable(&self, e: &Expr) -> Option<String> {
        let bare = e
            .clone()
            .transform(|x| {
                Ok(match x {
                    Expr::Column(c) => {
                        Transformed::yes(Expr::Column(Column::new_unqualified(c.name)))
                    }
                    other => Transformed::no(other),
                })
            })
            .ok()?
            .data;
        if !safe(&bare, &self.df_schema) {
            return None;
        }
        let ast = Unparser::new(&PostgreSqlDialect {})
            .expr_to_sql(&bare)
            .ok()?;
        Some(ast.to_string())
    }

    async fn pages(&self) -> Option<i64> {
        relation_pages(&self.source, &self.pg_schema, &self.table).await
    }
}

/// An ordinary table's size in 8 KiB pages, as of its last VACUUM/ANALYZE.
pub(super) async fn relation_pages(source: &PgSource, pg_schema: &str, table: &str) -> Option<i64> {
    let conn = source.pool.connect_direct().await.ok()?;
    let row = conn
        .conn
        .query_opt(
            "SELECT c.relpages::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'r'",
            &[&pg_schema, &table],
        )
        .await
        .ok()??;
    row.try_get::<_, i64>(0).ok()
}

/// `n` ctid conditions covering a table of `pages` pages; the last is open-ended, so pages
/// added since the statistics were taken are read too.
pub(super) fn ctid_ranges(pages: i64, n: usize) -> Vec<String> {
    let n = n.max(1) as i64;
    (0..n)
        .map(|i| {
            let lo = pages * i / n;
            let hi = pages * (i + 1) / n;
            let mut c = Vec::new();
            if i > 0 {
                c.push(format!("ctid >= '({lo},0)'::tid"));
            }
            if i < n - 1 {
                c.push(format!("ctid < '({hi},0)'::tid"));
            }
            if c.is_empty() {
                "true".to_string()
            } else {
                c.join(" AND ")
            }
        })
        .collect()
}

/// The primary key's column names, if the relation has one.
async fn primary_key(source: &PgSource, pg_schema: &str, table: &str) -> Option<Vec<String>> {
    let conn = source.pool.connect_direct().await.ok()?;
    let rows = conn
        .conn
        .query(
            "SELECT a.attname::text FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
             WHERE n.nspname = $1 AND c.relname = $2 AND i.indisprimary ORDER BY k.ord",
            &[&pg_schema, &table],
        )
        .await
        .ok()?;
    let names: Vec<String> = rows.iter().filter_map(|r| r.try_get(0).ok()).collect();
    (!names.is_empty()).then_some(names)
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// See the module docs for what is pushed.
fn safe(e: &Expr, schema: &DFSchema) -> bool {
    match e {
        Expr::Column(_) => true,
        Expr::Literal(v, _) => {
            !v.is_null()
                && matches!(
                    v.data_type(),
                    DataType::Boolean
                        | DataType::Int8
                        | DataType::Int16
                        | DataType::Int32
                        | DataType::Int64
                        | DataType::Float64
                        | DataType::Utf8
                        | DataType::Date32
                        | DataType::Decimal128(_, _)
                )
        }
        Expr::BinaryExpr(b) => {
            let ordering = matches!(
                b.op,
                Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq
            );
            let allowed = ordering
                || matches!(
                    b.op,
                    Operator::Eq
                        | Operator::NotEq
                        | Operator::And
                        | Operator::Or
                        | Operator::Plus
                        | Operator::Minus
                        | Operator::Multiply
                );
            if !allowed || !safe(&b.left, schema) || !safe(&b.right, schema) {
                return false;
            }
            if ordering {
                let text = |x: &Expr| x.get_type(schema).is_ok_and(|t| is_text(&t));
                return !(text(&b.left) || text(&b.right));
            }
            true
        }
        Expr::Not(x) | Expr::IsNull(x) | Expr::IsNotNull(x) => safe(x, schema),
        Expr::InList(l) => safe(&l.expr, schema) && l.list.iter().all(|x| safe(x, schema)),
        Expr::Between(b) => {
            let text = b.expr.get_type(schema).is_ok_and(|t| is_text(&t));
            !text && safe(&b.expr, schema) && safe(&b.low, schema) && safe(&b.high, schema)
        }
        Expr::Like(l) => {
            l.escape_char.is_none() && safe(&l.expr, schema) && safe(&l.pattern, schema)
        }
        _ => false,
    }
}

#[async_trait]
impl TableProvider for PgTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.constraints.as_ref()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(super::scan::exact_where(filters, |f| {
            self.pushdown && self.pushable(f).is_some()
        }))
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let limit = if self.pushdown { limit } else { None };
        let indices: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.kinds.len()).collect(),
        };
        let columns: Vec<&str> = indices.iter().map(|i| self.select[*i].as_str()).collect();
        let mut conditions = Vec::new();
        for f in filters {
            conditions.push(self.pushable(f).ok_or_else(|| {
                DataFusionError::Internal(format!("filter {f} was not offered to Postgres"))
            })?);
        }
        let base = format!("SELECT {} FROM {}", columns.join(", "), self.from());
        let with = |extra: Option<String>| {
            let mut all = conditions.clone();
            all.extend(extra);
            let mut sql = base.clone();
            if !all.is_empty() {
                sql.push_str(" WHERE ");
                sql.push_str(
                    &all.iter()
                        .map(|c| format!("({c})"))
                        .collect::<Vec<_>>()
                        .join(" AND "),
                );
            }
            if let Some(n) = limit {
                sql.push_str(&format!(" LIMIT {n}"));
            }
            sql
        };
        let mut parts = vec![with(None)];
        if limit.is_none() && self.partitions > 1 {
            let pages = self.pages().await.unwrap_or(0);
            if pages >= RANGE_MIN_PAGES {
                parts = ctid_ranges(pages, self.partitions)
                    .into_iter()
                    .map(|c| with(Some(c)))
                    .collect();
            }
        }
        let schema = Arc::new(self.schema.project(&indices)?);
        let kinds = indices.iter().map(|i| self.kinds[*i]).collect();
        let estimate = super::pgread::estimate_rows(&self.source, &with(None)).await;
        Ok(Arc::new(
            PgQueryExec::new(self.source.clone(), parts, Some(kinds), schema)
                .with_estimate(estimate),
        ))
    }
}

/// The federation executor: runs the SQL datafusion-federation unparsed for a whole fragment,
/// cast to the schema DataFusion planned for it.
pub(super) struct PgExecutor {
    pub source: PgSource,
}

impl PgExecutor {
    pub(super) fn context(name: &str) -> String {
        format!("postgres:{name}")
    }
}

#[async_trait]
impl datafusion_federation::sql::SQLExecutor for PgExecutor {
    fn name(&self) -> &str {
        &self.source.name
    }
    fn compute_context(&self) -> Option<String> {
        Some(Self::context(&self.source.name))
    }
    fn dialect(&self) -> Arc<dyn datafusion::sql::unparser::dialect::Dialect> {
        Arc::new(PostgreSqlDialect {})
    }
    /// Repairs to the unparsed SQL, and DataFusion's names for functions Postgres spells
    /// differently (`pgunparse.rs`).
    fn ast_analyzer(&self) -> Option<datafusion_federation::sql::AstAnalyzer> {
        Some(Box::new(|mut statement| {
            super::pgunparse::repair(&mut statement);
            Ok(statement)
        }))
    }
    fn execute(
        &self,
        query: &str,
        schema: SchemaRef,
        _filters: &[Arc<dyn PhysicalExpr>],
    ) -> DfResult<SendableRecordBatchStream> {
        Ok(read(self.source.clone(), query.to_string(), None, schema))
    }
    async fn table_names(&self) -> DfResult<Vec<String>> {
        Err(DataFusionError::NotImplemented(
            "tables are listed by the Postgres catalog".into(),
        ))
    }
    async fn get_table_schema(&self, table_name: &str) -> DfResult<SchemaRef> {
        Err(DataFusionError::NotImplemented(format!(
            "schema of {table_name} comes from the Postgres catalog"
        )))
    }
}
