//! Plain scans of a SQL source's table: `SELECT columns FROM table WHERE filters LIMIT n`.
//!
//! Postgres tables use this path when a query only scans them (the part of a query that joins or
//! aggregates within Postgres is federated whole instead, see `engine::remote`); SQLite tables
//! always use it. [`SourceTable`] decides which filters go into the SQL, and wraps the upstream
//! scan in [`SourceScanExec`]: a leaf that names its source for `explain`, produces zero-column
//! rows for `count(*)` (which the upstream scan cannot), and takes no filters from DataFusion's
//! *physical* filter pushdown, which would otherwise hand the upstream scan every filter above
//! it without asking whether the source understands it.
//!
//! Filter policy. Postgres: whatever the unparser can write (the upstream default), since
//! Postgres's meaning of SQL is DataFusion's reference. SQLite: conservative, because SQLite's
//! semantics differ from DataFusion's
//! in ways that give wrong answers silently, not errors. `CAST(x AS DATE)` yields a number
//! (`'2025-03-04'` → 2025), so `created_date >= DATE '2025-01-01'` matched every row in our tests;
//! `LIKE` ignores ASCII case; there is no `ILIKE`, `date_trunc` or `greatest`. A SQLite file is
//! local, so reading its rows is cheap; a wrong number is not. A filter is pushed only when it
//! is built from columns, plain literals (numbers, text, booleans), comparisons, `AND`/`OR`/
//! `NOT`, `IS [NOT] NULL`, `IN` lists and `BETWEEN`, with both sides of a comparison of the same
//! kind (number with number, text with text). SQLite compares text byte-wise by default
//! (BINARY collation), exactly as DataFusion does.

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, displayable,
};
use std::sync::Arc;

/// Which filters a source is trusted with (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FilterPolicy {
    /// Everything the upstream provider can unparse.
    Upstream,
    /// Only filters whose meaning SQLite shares with DataFusion.
    SqliteSafe,
}

/// A SQL source's table read by plain scans (see the module docs).
#[derive(Debug)]
pub(super) struct SourceTable {
    pub(super) source: String,
    pub(super) inner: Arc<dyn TableProvider>,
    pub(super) policy: FilterPolicy,
}

#[async_trait]
impl TableProvider for SourceTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        if self.policy == FilterPolicy::Upstream {
            return self.inner.supports_filters_pushdown(filters);
        }
        let schema = self.schema();
        Ok(exact_where(filters, |f| {
            safe(f, &schema) == Some(Kind::Bool)
        }))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // No columns wanted (`count(*)`): read the first column, then project it away, since
        // the upstream scan cannot produce zero-column rows.
        let none_wanted = projection.is_some_and(|p| p.is_empty());
        let first = vec![0];
        let asked = if none_wanted {
            Some(&first)
        } else {
            projection
        };
        let inner = self.inner.scan(state, asked, filters, limit).await?;
        let scan: Arc<dyn ExecutionPlan> = Arc::new(SourceScanExec {
            source: self.source.clone(),
            inner,
        });
        if none_wanted {
            let empty: Vec<(Arc<dyn PhysicalExpr>, String)> = vec![];
            return Ok(Arc::new(ProjectionExec::try_new(empty, scan)?));
        }
        Ok(scan)
    }
}

/// Each filter `Exact` (the source evaluates it, DataFusion need not) where `pushed` says so,
/// else `Unsupported`.
pub(super) fn exact_where(
    filters: &[&Expr],
    pushed: impl Fn(&Expr) -> bool,
) -> Vec<TableProviderFilterPushDown> {
    filters
        .iter()
        .map(|f| {
            if pushed(f) {
                TableProviderFilterPushDown::Exact
            } else {
                TableProviderFilterPushDown::Unsupported
            }
        })
        .collect()
}

/// The upstream scan, as a leaf that names its source and accepts no physical filter pushdown.
#[derive(Debug)]
pub(super) struct SourceScanExec {
    source: String,
    inner: Arc<dyn ExecutionPlan>,
}

impl SourceScanExec {
    /// The SQL SQLite receives.
    pub(super) fn sql(&self) -> String {
        let line = displayable(self.inner.as_ref()).one_line().to_string();
        line.split_once("sql=")
            .map(|(_, s)| s.trim().to_string())
            .unwrap_or_else(|| line.trim().to_string())
    }

    pub(super) fn source(&self) -> &str {
        &self.source
    }
}

impl DisplayAs for SourceScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "SourceScanExec source={} sql={}",
            self.source,
            self.sql()
        )
    }
}

impl ExecutionPlan for SourceScanExec {
    fn name(&self) -> &'static str {
        "SourceScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        super::tuning::leaf_takes_no_children("SourceScanExec", &children)?;
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        self.inner.execute(partition, context)
    }
}

/// What an expression evaluates to, as far as pushdown safety cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Text,
    Bool,
    Null,
}

fn kind_of(t: &DataType) -> Option<Kind> {
    match t {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float32
        | DataType::Float64 => Some(Kind::Number),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(Kind::Text),
        DataType::Boolean => Some(Kind::Bool),
        _ => None,
    }
}

fn literal_kind(v: &ScalarValue) -> Option<Kind> {
    if v.is_null() {
        return Some(Kind::Null);
    }
    match v {
        ScalarValue::Float32(Some(f)) if !f.is_finite() => None,
        ScalarValue::Float64(Some(f)) if !f.is_finite() => None,
        other => kind_of(&other.data_type()),
    }
}

fn comparable(a: Kind, b: Kind) -> bool {
    a == b && a != Kind::Null
}

/// `Some(kind)` when `e` can be evaluated by SQLite with DataFusion's meaning.
fn safe(e: &Expr, schema: &SchemaRef) -> Option<Kind> {
    match e {
        Expr::Column(c) => {
            let field = schema.field_with_name(&c.name).ok()?;
            kind_of(field.data_type())
        }
        Expr::Literal(v, _) => literal_kind(v),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (l, r) = (safe(left, schema)?, safe(right, schema)?);
            match op {
                Operator::And | Operator::Or => {
                    (l == Kind::Bool && r == Kind::Bool).then_some(Kind::Bool)
                }
                Operator::Eq
                | Operator::NotEq
                | Operator::Lt
                | Operator::LtEq
                | Operator::Gt
                | Operator::GtEq => comparable(l, r).then_some(Kind::Bool),
                _ => None,
            }
        }
        Expr::Not(inner) => (safe(inner, schema)? == Kind::Bool).then_some(Kind::Bool),
        Expr::IsNull(inner) | Expr::IsNotNull(inner) => safe(inner, schema).map(|_| Kind::Bool),
        Expr::InList(list) => {
            let k = safe(&list.expr, schema)?;
            list.list
                .iter()
                .all(|v| safe(v, schema).is_some_and(|vk| comparable(k, vk)))
                .then_some(Kind::Bool)
        }
        Expr::Between(b) => {
            let k = safe(&b.expr, schema)?;
            (comparable(k, safe(&b.low, schema)?) && comparable(k, safe(&b.high, schema)?))
                .then_some(Kind::Bool)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::logical_expr::{col, lit};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("created_date", DataType::Utf8, true),
        ]))
    }

    #[test]
    fn plain_comparisons_are_pushed() {
        let s = schema();
        for e in [
            col("id").gt(lit(5i64)),
            col("name").eq(lit("Ann")).and(col("id").lt_eq(lit(9i64))),
            col("name").is_null().or(col("id").not_eq(lit(1i64))),
            col("id").in_list(vec![lit(1i64), lit(2i64)], false),
            col("id").between(lit(1i64), lit(3i64)),
            col("created_date").gt_eq(lit("2025-01-01")),
        ] {
            assert_eq!(safe(&e, &s), Some(Kind::Bool), "{e}");
        }
    }

    #[test]
    fn meanings_sqlite_does_not_share_are_kept_local() {
        let s = schema();
        let as_date = Expr::Cast(datafusion::logical_expr::Cast::new(
            Box::new(col("created_date")),
            DataType::Date32,
        ));
        for e in [
            as_date.gt_eq(lit(ScalarValue::Date32(Some(20089)))),
            col("name").like(lit("%labs%")),
            col("name").ilike(lit("%labs%")),
            col("id").eq(lit("1")),
            (col("id") + lit(1i64)).gt(lit(2i64)),
            col("id").eq(lit(f64::NAN)),
        ] {
            assert_ne!(safe(&e, &s), Some(Kind::Bool), "{e}");
        }
    }
}
