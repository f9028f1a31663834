//! Reading from Postgres: one plan node for every SQL Skipper sends to a Postgres source —
//! a whole query (passthrough), a federated fragment, or a table scan split into ranges — each
//! partition one `COPY (sql) TO STDOUT (FORMAT binary)` decoded by [`super::pgcopy`].
//!
//! When DataFusion planned the result's types (a federated fragment), the decoded columns are
//! cast to that schema: a Postgres AVG of numeric(12,2) carries more decimal places than the
//! Decimal DataFusion planned, so it is rounded to the planned scale (half away from zero, as
//! Postgres rounds), where the upstream reader refused the value outright.

use super::pgcopy::{CopyDecoder, PgKind};
use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, IntervalUnit, SchemaRef, TimeUnit};
use datafusion::common::DataFusionError;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result as DfResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use datafusion_table_providers::postgres::pool::PostgresConnectionPool;
use futures::StreamExt;
use std::sync::Arc;

/// Rows per record batch read from Postgres.
const BATCH_ROWS: usize = 8192;

/// A Postgres source as the readers see it.
#[derive(Clone)]
pub(crate) struct PgSource {
    pub name: String,
    pub pool: Arc<PostgresConnectionPool>,
}

impl std::fmt::Debug for PgSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgSource({})", self.name)
    }
}

/// Postgres's own words for an error: message, detail, hint, SQLSTATE.
pub(super) struct PgError {
    pub message: String,
    pub hint: Option<String>,
    pub code: Option<String>,
}

pub(super) fn pg_error(e: &tokio_postgres::Error) -> PgError {
    match e.as_db_error() {
        Some(db) => {
            let mut message = db.message().to_string();
            if let Some(d) = db.detail() {
                message.push_str(&format!(" ({d})"));
            }
            PgError {
                message,
                hint: db.hint().map(str::to_string),
                code: Some(db.code().code().to_string()),
            }
        }
        None => PgError {
            message: super::flatten_error(e),
            hint: None,
            code: None,
        },
    }
}

/// The columns of `sql`'s result as Postgres describes them, without running it.
pub(super) async fn describe(
    source: &PgSource,
    sql: &str,
) -> Result<Vec<(String, Result<PgKind, String>)>, PgError> {
    let conn = source.pool.connect_direct().await.map_err(|e| PgError {
        message: format!("source '{}': {e}", source.name),
        hint: None,
        code: None,
    })?;
    let prepared = conn.conn.prepare(sql).await.map_err(|e| pg_error(&e))?;
    Ok(prepared
        .columns()
        .iter()
        .map(|c| {
            (
                c.name().to_string(),
                PgKind::of(c.type_(), c.type_modifier()),
            )
        })
        .collect())
}

/// Postgres's planner's estimate of the rows `sql` returns (`EXPLAIN (FORMAT JSON)`).
pub(super) async fn estimate_rows(source: &PgSource, sql: &str) -> Option<usize> {
    let conn = source.pool.connect_direct().await.ok()?;
    let messages = conn
        .conn
        .simple_query(&format!("EXPLAIN (FORMAT JSON) {sql}"))
        .await
        .ok()?;
    let text = messages.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    })?;
    let plan: serde_json::Value = serde_json::from_str(&text).ok()?;
    plan.get(0)?
        .get("Plan")?
        .get("Plan Rows")?
        .as_f64()
        .map(|r| r as usize)
}

/// A leaf plan node: SQL run in one Postgres source, one statement per partition.
pub struct PgQueryExec {
    source: PgSource,
    /// One query per output partition (several for a table scan split into ranges).
    parts: Vec<String>,
    /// How to decode each column; `None`: ask Postgres when the query starts.
    kinds: Option<Vec<PgKind>>,
    /// The schema produced (decoded columns are cast to it where types differ).
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    /// Postgres's own estimate of the rows (its planner's, from `EXPLAIN`), for DataFusion's
    /// join ordering: with it, a filtered dimension becomes the build side of a join.
    estimated_rows: Option<usize>,
}

impl PgQueryExec {
    pub(super) fn new(
        source: PgSource,
        parts: Vec<String>,
        kinds: Option<Vec<PgKind>>,
        schema: SchemaRef,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(parts.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        PgQueryExec {
            source,
            parts,
            kinds,
            schema,
            properties,
            estimated_rows: None,
        }
    }

    pub(super) fn with_estimate(mut self, rows: Option<usize>) -> Self {
        self.estimated_rows = rows;
        self
    }

    pub fn source(&self) -> &str {
        &self.source.name
    }

    /// The same read, split into several statements run in parallel.
    pub(super) fn with_parts(self, parts: Vec<String>) -> Self {
        let estimate = self.estimated_rows;
        PgQueryExec::new(self.source, parts, self.kinds, self.schema).with_estimate(estimate)
    }

    /// The SQL sent (the first partition's, when split into ranges).
    pub fn sql(&self) -> &str {
        self.parts.first().map(String::as_str).unwrap_or_default()
    }

    pub fn partitions(&self) -> usize {
        self.parts.len()
    }
}

impl std::fmt::Debug for PgQueryExec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgQueryExec({}: {})", self.source.name, self.sql())
    }
}

impl DisplayAs for PgQueryExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "PostgresQueryExec: source={}", self.source.name)?;
        if self.parts.len() > 1 {
            write!(f, " ranges={}", self.parts.len())?;
        }
        write!(f, " sql={}", self.sql())
    }
}

impl ExecutionPlan for PgQueryExec {
    fn name(&self) -> &str {
        "PostgresQueryExec"
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }
    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }
    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<datafusion::common::Statistics>],
        args: &datafusion::physical_plan::statistics::StatisticsArgs,
    ) -> DfResult<Arc<datafusion::common::Statistics>> {
        let mut stats = datafusion::common::Statistics::new_unknown(&self.schema);
        if let Some(rows) = self.estimated_rows {
            let rows = match args.partition() {
                Some(_) => rows.div_ceil(self.parts.len().max(1)),
                None => rows,
            };
            stats.num_rows = datafusion::common::stats::Precision::Inexact(rows);
        }
        Ok(Arc::new(stats))
    }
    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let sql = self.parts.get(partition).cloned().ok_or_else(|| {
            DataFusionError::Internal(format!("no partition {partition} in a Postgres read"))
        })?;
        Ok(read(
            self.source.clone(),
            sql,
            self.kinds.clone(),
            Arc::clone(&self.schema),
        ))
    }
}

/// Stream the result of `sql` from `source` as batches of `schema`.
pub(super) fn read(
    source: PgSource,
    sql: String,
    kinds: Option<Vec<PgKind>>,
    schema: SchemaRef,
) -> SendableRecordBatchStream {
    let mut builder = RecordBatchReceiverStreamBuilder::new(Arc::clone(&schema), 2);
    let tx = builder.tx();
    builder.spawn(async move {
        let name = source.name.clone();
        let fail = |m: String| DataFusionError::External(format!("{name}: {m}").into());
        let kinds = match kinds {
            Some(k) => k,
            // A federated fragment's result: DataFusion computes on it, as on table scans.
            None => describe(&source, &sql)
                .await
                .map_err(|e| fail(e.message))?
                .into_iter()
                .map(|(n, k)| {
                    k.map(PgKind::for_computation)
                        .map_err(|why| fail(format!("column '{n}': {why}")))
                })
                .collect::<DfResult<Vec<_>>>()?,
        };
        if kinds.len() != schema.fields().len() {
            return Err(fail(format!(
                "Postgres returned {} columns where {} were planned",
                kinds.len(),
                schema.fields().len()
            )));
        }
        let decoded = super::pgcopy::schema(
            &schema
                .fields()
                .iter()
                .zip(&kinds)
                .map(|(f, k)| (f.name().clone(), *k))
                .collect::<Vec<_>>(),
        );
        let needs_cast = decoded
            .fields()
            .iter()
            .zip(schema.fields())
            .any(|(a, b)| a.data_type() != b.data_type());
        let mut decoder = CopyDecoder::new(kinds, decoded, BATCH_ROWS);
        let conn = source
            .pool
            .connect_direct()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let copy = format!("COPY ({sql}) TO STDOUT (FORMAT binary)");
        let stream = conn
            .conn
            .copy_out(copy.as_str())
            .await
            .map_err(|e| fail(pg_error(&e).message))?;
        futures::pin_mut!(stream);
        let mut out = Vec::new();
        let convert = |b: RecordBatch| -> DfResult<RecordBatch> {
            if needs_cast {
                conform(b, &schema)
            } else {
                Ok(b)
            }
        };
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| fail(pg_error(&e).message))?;
            decoder.feed(&chunk, &mut out).map_err(&fail)?;
            for b in out.drain(..) {
                if tx.send(convert(b)).await.is_err() {
                    return Ok(());
                }
            }
        }
        if let Some(b) = decoder.finish().map_err(&fail)? {
            let _ = tx.send(convert(b)).await;
        }
        Ok(())
    });
    builder.build()
}

/// Postgres intervals where DataFusion planned a duration (a difference of timestamps, or an
/// aggregate of them, which Postgres types as an interval of days and time): a day is 24 hours
/// there, as in `timestamp - timestamp`. Intervals with months have no fixed length: an error.
fn interval_as_duration(c: &ArrayRef, unit: TimeUnit) -> Result<ArrayRef, String> {
    use datafusion::arrow::array::{AsArray, DurationNanosecondArray};
    use datafusion::arrow::datatypes::IntervalMonthDayNanoType;
    const DAY: i64 = 86_400_000_000_000;
    let intervals = c.as_primitive::<IntervalMonthDayNanoType>();
    let mut nanos = Vec::with_capacity(intervals.len());
    for v in intervals.iter() {
        nanos.push(match v {
            None => None,
            Some(v) if v.months != 0 => {
                return Err(format!("{} months have no fixed length", v.months));
            }
            Some(v) => Some(
                (v.days as i64)
                    .checked_mul(DAY)
                    .and_then(|d| d.checked_add(v.nanoseconds))
                    .ok_or("interval out of range")?,
            ),
        });
    }
    let nanos: ArrayRef = Arc::new(DurationNanosecondArray::from(nanos));
    cast_with_options(&nanos, &DataType::Duration(unit), &CastOptions::default())
        .map_err(|e| e.to_string())
}

/// Cast a decoded batch to the planned schema (names and types).
fn conform(batch: RecordBatch, schema: &SchemaRef) -> DfResult<RecordBatch> {
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(Arc::clone(c))
            } else if let (
                DataType::Interval(IntervalUnit::MonthDayNano),
                DataType::Duration(unit),
            ) = (c.data_type(), f.data_type())
            {
                interval_as_duration(c, *unit).map_err(|e| {
                    DataFusionError::Execution(format!(
                        "column '{}' from Postgres (interval) does not fit the planned type {}: \
                         {e}",
                        f.name(),
                        f.data_type()
                    ))
                })
            } else {
                cast_with_options(c, f.data_type(), &options).map_err(|e| {
                    DataFusionError::Execution(format!(
                        "column '{}' from Postgres ({}) does not fit the planned type {}: {e}",
                        f.name(),
                        c.data_type(),
                        f.data_type()
                    ))
                })
            }
        })
        .collect::<DfResult<Vec<_>>>()?;
    RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &datafusion::arrow::record_batch::RecordBatchOptions::new()
            .with_row_count(Some(batch.num_rows())),
    )
    .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))
}
