//! Plan tuning that DataFusion's configuration cannot express: [`EarlyDynamicFilters`],
//! [`CheapPredicatesFirst`] and [`UtcDateTrunc`] (see each).
//!
//! [`EarlyDynamicFilters`]: a hash join publishes a *dynamic filter* (the min/max and the hash
//! table of its build side) to the scans on its probe side. With DataFusion's defaults a Parquet
//! scan uses such a filter only to skip row groups by their statistics, which does nothing when
//! the join key is not clustered: every row is still repartitioned, aggregated or joined on its
//! way up to the join that discards it. TPC-H q17 aggregates all 6 million lineitem rows by part
//! although the join keeps 204 parts; q18 repartitions and joins all of lineitem although its
//! `IN` subquery keeps 57 orders.
//!
//! DataFusion's remedy, row-level filtering in the Parquet reader (`parquet.pushdown_filters`),
//! applies every filter that way, and on 2 cores decoding through a row selection costs more
//! than it saves for broad filters: q06 35–50% slower; q09's lineitem scan, keeping 5% of rows,
//! took 2.7× longer to decode. So this rule instead evaluates a scan's dynamic filters on whole
//! decoded batches, in an [`EarlyFilterExec`] placed right above the scan, and only the filters
//! whose join lies behind real work (a repartition, an aggregation, a join's build side); a
//! filter whose join the rows reach through probe sides only is left to that join, whose own
//! lookup is the same work (see [`rewrite`]). The filter also stops itself where it keeps most
//! rows.
//!
//! The rule runs after DataFusion's own rules, when dynamic filters have been pushed. The
//! filter shares the filter expression the join updates, so it sees the build side's keys
//! once they are known (`true` until then); the answer is unchanged.

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::compute::kernels::boolean::and_kleene;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::physical_plan::{FileScanConfig, FileSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DfResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::expr::{Cast, ScalarFunction};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::physical_expr::expressions::{
    BinaryExpr, CaseExpr, Column, DynamicFilterPhysicalExpr, Literal,
};
use datafusion::physical_expr::{PhysicalExpr, conjunction, split_conjunction};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};
use datafusion::physical_plan::joins::HashJoinExec;
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, PlanProperties};
use futures::StreamExt;
use std::sync::Arc;

#[derive(Debug, Default)]
pub(crate) struct EarlyDynamicFilters;

impl PhysicalOptimizerRule for EarlyDynamicFilters {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if config.execution.parquet.pushdown_filters
            || !config.optimizer.enable_join_dynamic_filter_pushdown
        {
            return Ok(plan);
        }
        rewrite(plan, &[])
    }

    fn name(&self) -> &str {
        "skipper_early_dynamic_filters"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Walks the plan from the root carrying the ids of the dynamic filters whose joins a row of
/// the current node reaches *cheaply*: through pass-through operators and the probe sides of
/// hash joins only, each of which looks the row up in its own hash table anyway. A filter
/// outside that set is separated from its scan by real work on every row it would reject: a
/// join's build side (hashed and kept in memory), a repartition, an aggregation, a sort, a
/// window. Those filters are applied early; the cheap ones are left to their joins.
fn rewrite(plan: Arc<dyn ExecutionPlan>, cheap: &[u64]) -> DfResult<Arc<dyn ExecutionPlan>> {
    if plan.downcast_ref::<DataSourceExec>().is_some() {
        return filter_early(plan, cheap, None);
    }
    // A filter right above the scan: its cheap comparisons go first (see [`EarlyFilterExec`]).
    if let Some(filter) = plan.downcast_ref::<FilterExec>()
        && filter.input().downcast_ref::<DataSourceExec>().is_some()
    {
        let schema = filter.input().schema();
        let first: Vec<Arc<dyn PhysicalExpr>> = split_conjunction(filter.predicate())
            .into_iter()
            .filter(|c| c.downcast_ref::<AllOf>().is_some() || cost_class(c, &schema) < 2)
            .cloned()
            .collect();
        let first = (!first.is_empty()).then(|| conjunction(first));
        let early = filter_early(Arc::clone(filter.input()), cheap, first)?;
        let changed = !Arc::ptr_eq(&early, filter.input());
        return with_children_if_changed(plan, vec![early], changed);
    }
    let children = plan.children();
    if children.is_empty() {
        return Ok(plan);
    }
    let join = plan.downcast_ref::<HashJoinExec>();
    let passes = plan.downcast_ref::<ProjectionExec>().is_some()
        || plan.downcast_ref::<CooperativeExec>().is_some()
        || plan.downcast_ref::<CoalescePartitionsExec>().is_some()
        || plan.downcast_ref::<FilterExec>().is_some();
    let mut changed = false;
    let mut new_children = Vec::with_capacity(children.len());
    for (i, child) in children.into_iter().enumerate() {
        let child_cheap: Vec<u64> = match join {
            // A hash join builds from its left input and probes with its right.
            Some(j) if i == 1 => cheap.iter().copied().chain(join_filter_id(j)).collect(),
            Some(_) => Vec::new(),
            None if passes => cheap.to_vec(),
            None => Vec::new(),
        };
        let new = rewrite(Arc::clone(child), &child_cheap)?;
        changed |= !Arc::ptr_eq(&new, child);
        new_children.push(new);
    }
    with_children_if_changed(plan, new_children, changed)
}

/// `plan` with `children` in place of its own when `changed`, its properties recomputed.
pub(super) fn with_children_if_changed(
    plan: Arc<dyn ExecutionPlan>,
    children: Vec<Arc<dyn ExecutionPlan>>,
    changed: bool,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    if !changed {
        return Ok(plan);
    }
    plan.replace_children(
        children,
        datafusion::physical_plan::ReplaceChildrenOptions::new(
            datafusion::physical_plan::ChildrenPropertiesMode::Recompute,
        ),
    )
}

/// For a leaf operator's `with_new_children`: a leaf takes no children.
pub(super) fn leaf_takes_no_children(
    name: &str,
    children: &[Arc<dyn ExecutionPlan>],
) -> DfResult<()> {
    if children.is_empty() {
        Ok(())
    } else {
        Err(datafusion::error::DataFusionError::Internal(format!(
            "{name} is a leaf and takes no children"
        )))
    }
}

/// The id of the dynamic filter a hash join publishes to its probe side, if it has one.
fn join_filter_id(join: &HashJoinExec) -> Option<u64> {
    #[allow(deprecated)] // its replacement lists every produced expression, untyped
    join.dynamic_filter_expr().and_then(|f| f.expression_id())
}

/// `EarlyFilterExec(dynamic filters of the scan) → scan`, the filters' columns mapped from the
/// table's schema to the scan's output; the scan itself is unchanged.
fn filter_early(
    plan: Arc<dyn ExecutionPlan>,
    cheap: &[u64],
    first: Option<Arc<dyn PhysicalExpr>>,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    let Some(exec) = plan.downcast_ref::<DataSourceExec>() else {
        return Ok(plan);
    };
    let Some(scan) = exec.data_source().downcast_ref::<FileScanConfig>() else {
        return Ok(plan);
    };
    let Some(predicate) = FileSource::filter(scan.file_source().as_ref()) else {
        return Ok(plan);
    };
    let output = plan.schema();
    let mut dynamic = Vec::new();
    for conjunct in split_conjunction(&predicate) {
        if conjunct
            .downcast_ref::<DynamicFilterPhysicalExpr>()
            .is_none()
            || conjunct
                .expression_id()
                .is_some_and(|id| cheap.contains(&id))
        {
            continue;
        }
        let mut missing = false;
        let mapped = Arc::clone(conjunct)
            .transform(|e| {
                let Some(col) = e.downcast_ref::<Column>() else {
                    return Ok(Transformed::no(e));
                };
                match output.index_of(col.name()) {
                    Ok(i) if i == col.index() => Ok(Transformed::no(e)),
                    Ok(i) => Ok(Transformed::yes(
                        Arc::new(Column::new(col.name(), i)) as Arc<dyn PhysicalExpr>
                    )),
                    Err(_) => {
                        missing = true;
                        Ok(Transformed::no(e))
                    }
                }
            })?
            .data;
        if !missing {
            dynamic.push(mapped);
        }
    }
    if dynamic.is_empty() {
        return Ok(plan);
    }
    Ok(Arc::new(EarlyFilterExec::new(dynamic, first, plan)))
}

/// Rows a partition filters before deciding whether filtering pays.
const PROBE_ROWS: usize = 100_000;
/// Above this fraction of rows kept, a partition stops filtering and passes batches through:
/// the join above does the same lookup anyway, and most rows would survive.
const KEEP_ABOVE: f64 = 0.5;

/// Applies dynamic filters to whole batches. Adaptive: once every filter has been set by its
/// join and [`PROBE_ROWS`] rows have been seen, a partition that kept more than [`KEEP_ABOVE`]
/// of them stops evaluating (the filters are an optimisation; the joins still decide).
///
/// Where a filter sits right above the scan, its cheap comparisons (`first`) are evaluated
/// before the dynamic filters' hash lookups, so that those run only on the rows the
/// comparisons keep: TPC-H q20's date range keeps 16% of lineitem, its join 0.04%. The filter
/// above still applies its whole predicate (to far fewer rows). Where the comparisons keep
/// most rows, both results are combined into one selection instead.
#[derive(Debug)]
struct EarlyFilterExec {
    filters: Vec<Arc<dyn PhysicalExpr>>,
    first: Option<Arc<dyn PhysicalExpr>>,
    /// Each filter's generation when planned; a higher one means its join has set it.
    planned_generations: Vec<u64>,
    input: Arc<dyn ExecutionPlan>,
    metrics: ExecutionPlanMetricsSet,
}

impl EarlyFilterExec {
    fn new(
        filters: Vec<Arc<dyn PhysicalExpr>>,
        first: Option<Arc<dyn PhysicalExpr>>,
        input: Arc<dyn ExecutionPlan>,
    ) -> Self {
        let planned_generations = filters.iter().map(|f| f.snapshot_generation()).collect();
        EarlyFilterExec {
            filters,
            first,
            planned_generations,
            input,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for EarlyFilterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "EarlyFilterExec: ")?;
        for (i, e) in self.filters.iter().enumerate() {
            if i > 0 {
                write!(f, " AND ")?;
            }
            write!(f, "{e}")?;
        }
        if let Some(first) = &self.first {
            write!(f, ", after {first}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for EarlyFilterExec {
    fn name(&self) -> &'static str {
        "EarlyFilterExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        // Dropping rows keeps the input's partitioning and ordering.
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        for e in self.filters.iter().chain(&self.first) {
            if f(e)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let input = children.pop().ok_or_else(|| {
            datafusion::error::DataFusionError::Internal("EarlyFilterExec takes one child".into())
        })?;
        Ok(Arc::new(EarlyFilterExec {
            filters: self.filters.clone(),
            first: self.first.clone(),
            planned_generations: self.planned_generations.clone(),
            input,
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = input.schema();
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let passed_through: Count =
            MetricBuilder::new(&self.metrics).counter("rows_passed_unfiltered", partition);
        let filters = self.filters.clone();
        let first = self.first.clone();
        let planned = self.planned_generations.clone();
        let mut seen = 0usize;
        let mut kept = 0usize;
        let mut filtering = true;
        let stream = input.map(move |batch| {
            let batch = batch?;
            if !filtering {
                passed_through.add(batch.num_rows());
                baseline.record_output(batch.num_rows());
                return Ok(batch);
            }
            let timer = baseline.elapsed_compute().timer();
            let set = filters
                .iter()
                .zip(&planned)
                .all(|(f, g)| f.snapshot_generation() > *g);
            let mut rows_in = batch.num_rows();
            let mut out = batch;
            // The cheap comparisons' rows, when they keep too many to select them out first.
            let mut pending: Option<BooleanArray> = None;
            if let Some(first) = &first {
                let mask = first.evaluate(&out)?.into_array(rows_in)?;
                let mask = mask.as_boolean();
                let kept = mask.true_count();
                if (kept as f64) <= KEEP_ABOVE * rows_in as f64 {
                    out = filter_record_batch(&out, mask)?;
                } else {
                    pending = Some(mask.clone());
                }
                rows_in = kept;
            }
            for f in &filters {
                if out.num_rows() == 0 {
                    break;
                }
                let mut mask = evaluate_filter(f, &out)?;
                if let Some(first) = pending.take() {
                    mask = and_kleene(&mask, &first)?;
                }
                out = filter_record_batch(&out, &mask)?;
            }
            timer.done();
            if set {
                seen += rows_in;
                kept += out.num_rows();
            }
            if set && seen >= PROBE_ROWS && kept as f64 > KEEP_ABOVE * seen as f64 {
                filtering = false;
            }
            baseline.record_output(out.num_rows());
            Ok(out)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// A dynamic filter's rows to keep (`false` for null). A partitioned join's filter is
/// `CASE hash(key) % n WHEN 0 THEN <partition 0's test> WHEN 1 THEN … ELSE false END`, which
/// DataFusion evaluates branch by branch and then merges the branch results value by value:
/// in TPC-H q17 that merge was more than half of the filter's time. Here the rows are grouped
/// by partition once, each partition's test runs on its rows, and the kept rows' bits are set
/// directly. Any other form is evaluated as it is.
fn evaluate_filter(f: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> DfResult<BooleanArray> {
    let rows = batch.num_rows();
    let current = f.snapshot()?.unwrap_or_else(|| Arc::clone(f));
    if let Some(case) = current.downcast_ref::<CaseExpr>()
        && let Some(mask) = evaluate_partitioned(case, batch)?
    {
        return Ok(mask);
    }
    let value = current.evaluate(batch)?.into_array(rows)?;
    Ok(value.as_boolean().clone())
}

/// [`evaluate_filter`]'s fast path; `None` when `case` is not of the partitioned form.
fn evaluate_partitioned(case: &CaseExpr, batch: &RecordBatch) -> DfResult<Option<BooleanArray>> {
    let Some(base) = case.expr() else {
        return Ok(None);
    };
    let else_false = match case.else_expr() {
        None => true,
        Some(e) => e.downcast_ref::<Literal>().is_some_and(|l| {
            matches!(
                l.value(),
                ScalarValue::Boolean(Some(false)) | ScalarValue::Boolean(None)
            )
        }),
    };
    // Branch of each partition number, for partition numbers below this bound.
    const MAX_PARTITIONS: u64 = 4096;
    let mut branch_of = Vec::new();
    for (i, (when, _)) in case.when_then_expr().iter().enumerate() {
        let Some(ScalarValue::UInt64(Some(p))) = when.downcast_ref::<Literal>().map(|l| l.value())
        else {
            return Ok(None);
        };
        if *p >= MAX_PARTITIONS {
            return Ok(None);
        }
        let p = *p as usize;
        if branch_of.len() <= p {
            branch_of.resize(p + 1, None);
        }
        // The first matching WHEN wins, as in CASE.
        branch_of[p].get_or_insert(i);
    }
    if !else_false {
        return Ok(None);
    }
    let rows = batch.num_rows();
    let partition = base.evaluate(batch)?.into_array(rows)?;
    let Some(partition) = partition.as_primitive_opt::<datafusion::arrow::datatypes::UInt64Type>()
    else {
        return Ok(None);
    };
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); case.when_then_expr().len()];
    for (row, p) in partition.values().iter().enumerate() {
        if partition.is_valid(row)
            && let Some(Some(b)) = branch_of.get(*p as usize)
        {
            members[*b].push(row as u32);
        }
    }
    let mut keep = datafusion::arrow::array::BooleanBufferBuilder::new(rows);
    keep.append_n(rows, false);
    for (b, rows_of) in members.into_iter().enumerate() {
        if rows_of.is_empty() {
            continue;
        }
        let indices = datafusion::arrow::array::UInt32Array::from(rows_of);
        let part = datafusion::arrow::compute::take_record_batch(batch, &indices)?;
        let then = &case.when_then_expr()[b].1;
        let verdict = then.evaluate(&part)?.into_array(part.num_rows())?;
        let verdict = verdict.as_boolean();
        for (j, row) in indices.values().iter().enumerate() {
            if verdict.is_valid(j) && verdict.value(j) {
                keep.set_bit(*row as usize, true);
            }
        }
    }
    Ok(Some(BooleanArray::new(keep.finish(), None)))
}

/// Reorders each `FilterExec`'s conjuncts so that the cheap, error-free comparisons run first:
/// a column against a literal, then a column against a column, both of fixed-width types;
/// everything else (text, functions, `LIKE`, arithmetic) keeps its order after them.
/// DataFusion evaluates `a AND b` by evaluating `b` only on the rows `a` kept when `a` keeps a
/// fifth or less, so a selective cheap test in front spares the costly ones most rows (TPC-H
/// q12: the date range on `l_receiptdate` before the `l_shipmode` text comparisons).
///
/// The cheap comparisons themselves are evaluated together by [`AllOf`]: each on the whole
/// batch, their results combined bit by bit. DataFusion's short-circuit `AND` would instead
/// copy the rows the first one kept into a new batch for the second and scatter the answer back
/// value by value, which for q06's four range tests cost more than the tests (a fifth of its
/// scan time, `pre_selection_scatter` in the profile).
///
/// It changes no answer and raises no new error: the moved comparisons cannot fail, and every
/// other conjunct is evaluated on the same rows as before or fewer.
#[derive(Debug, Default)]
pub(crate) struct CheapPredicatesFirst;

impl PhysicalOptimizerRule for CheapPredicatesFirst {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(filter) = node.downcast_ref::<FilterExec>() else {
                return Ok(Transformed::no(node));
            };
            let schema = filter.input().schema();
            let conjuncts = split_conjunction(filter.predicate());
            let mut ranked: Vec<(u8, &Arc<dyn PhysicalExpr>)> = conjuncts
                .iter()
                .map(|c| (cost_class(c, &schema), *c))
                .collect();
            let cheap = ranked.iter().filter(|(class, _)| *class < 2).count();
            if cheap < 2 && ranked.windows(2).all(|w| w[0].0 <= w[1].0) {
                return Ok(Transformed::no(node));
            }
            ranked.sort_by_key(|(class, _)| *class); // stable: ties keep their order
            let mut ordered: Vec<Arc<dyn PhysicalExpr>> =
                ranked.into_iter().map(|(_, c)| Arc::clone(c)).collect();
            if cheap >= 2 {
                let rest = ordered.split_off(cheap);
                let all: Arc<dyn PhysicalExpr> = Arc::new(AllOf(ordered));
                ordered = std::iter::once(all).chain(rest).collect();
            }
            let predicate = conjunction(ordered);
            let rebuilt = FilterExecBuilder::from(filter)
                .with_predicate(predicate)
                .build()?;
            Ok(Transformed::yes(Arc::new(rebuilt) as Arc<dyn ExecutionPlan>))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "skipper_cheap_predicates_first"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The SQL `AND` of its members (three-valued: false if any is false, else null if any is
/// null, else true), each evaluated on the whole batch. Only for members that cannot fail and
/// cost about the same on every row, so that evaluating them on rows an earlier one rejected
/// is cheaper than selecting those rows out (see [`CheapPredicatesFirst`]). Stops early once
/// every row is false.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct AllOf(Vec<Arc<dyn PhysicalExpr>>);

impl std::fmt::Display for AllOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "all_of(")?;
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{e}")?;
        }
        write!(f, ")")
    }
}

impl PhysicalExpr for AllOf {
    fn data_type(&self, _input_schema: &Schema) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn nullable(&self, input_schema: &Schema) -> DfResult<bool> {
        for e in &self.0 {
            if e.nullable(input_schema)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn evaluate(&self, batch: &RecordBatch) -> DfResult<ColumnarValue> {
        let rows = batch.num_rows();
        let mut acc: Option<BooleanArray> = None;
        for e in &self.0 {
            let value = e.evaluate(batch)?.into_array(rows)?;
            let value = value.as_boolean();
            let next = match &acc {
                None => value.clone(),
                Some(a) => and_kleene(a, value)?,
            };
            // All false (no true, no null): the remaining members cannot change the answer.
            let all_false = next.null_count() == 0 && next.values().count_set_bits() == 0;
            acc = Some(next);
            if all_false {
                break;
            }
        }
        match acc {
            Some(a) => Ok(ColumnarValue::Array(Arc::new(a))),
            None => Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true)))),
        }
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        self.0.iter().collect()
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> DfResult<Arc<dyn PhysicalExpr>> {
        Ok(Arc::new(AllOf(children)))
    }

    fn fmt_sql(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, " AND ")?;
            }
            e.fmt_sql(f)?;
        }
        Ok(())
    }
}

/// 0: fixed-width column ⋈ literal; 1: fixed-width column ⋈ column; 2: anything else.
fn cost_class(e: &Arc<dyn PhysicalExpr>, schema: &Schema) -> u8 {
    let Some(b) = e.downcast_ref::<BinaryExpr>() else {
        return 2;
    };
    if !matches!(
        b.op(),
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
    ) {
        return 2;
    }
    let fixed_column = |e: &Arc<dyn PhysicalExpr>| {
        e.downcast_ref::<Column>().is_some_and(|c| {
            schema.fields().get(c.index()).is_some_and(|f| {
                f.data_type().is_primitive() || *f.data_type() == DataType::Boolean
            })
        })
    };
    let literal = |e: &Arc<dyn PhysicalExpr>| {
        e.downcast_ref::<Literal>()
            .is_some_and(|l| l.value().data_type().is_primitive())
    };
    match (b.left(), b.right()) {
        (l, r) if fixed_column(l) && literal(r) || literal(l) && fixed_column(r) => 0,
        (l, r) if fixed_column(l) && fixed_column(r) => 1,
        _ => 2,
    }
}

/// `date_trunc(unit, t)` on a UTC timestamp computed on the zone-less value: the same instants,
/// without DataFusion's per-value time-zone arithmetic (17× slower on 6.8M rows of the demo
/// lake's `billing_usage_hourly`: 0.66 s against 0.04 s). Other zones keep the general path,
/// whose day boundaries depend on the zone.
#[derive(Debug, Default)]
pub(crate) struct UtcDateTrunc;

impl datafusion::optimizer::AnalyzerRule for UtcDateTrunc {
    fn name(&self) -> &str {
        "skipper_utc_date_trunc"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        rewrite_plan_expressions(plan, &|_| false, &utc_date_trunc)
    }
}

fn is_utc(tz: &str) -> bool {
    matches!(tz, "UTC" | "utc" | "+00:00" | "Z" | "Etc/UTC")
}

/// Every node's expressions (subqueries' too) rewritten bottom-up by `f`, which is given the
/// merged schema of the node's inputs; the node's output names are kept.
fn rewrite_plan_expressions(
    plan: LogicalPlan,
    skip: &dyn Fn(&LogicalPlan) -> bool,
    f: &dyn Fn(Expr, &datafusion::common::DFSchema) -> DfResult<Transformed<Expr>>,
) -> DfResult<LogicalPlan> {
    plan.transform_up_with_subqueries(|node: LogicalPlan| {
        let inputs = node.inputs();
        if inputs.is_empty() || skip(&node) {
            return Ok(Transformed::no(node));
        }
        let mut schema = datafusion::common::DFSchema::empty();
        for i in &inputs {
            schema.merge(i.schema());
        }
        let names = NamePreserver::new(&node);
        node.map_expressions(|e| {
            let name = names.save(&e);
            let rewritten = e.transform_up(|x| f(x, &schema))?;
            Ok(if rewritten.transformed {
                rewritten.update_data(|e| name.restore(e))
            } else {
                rewritten
            })
        })
    })
    .map(|t| t.data)
}

/// The rewrites valid only where Skipper's engine computes, applied to the final optimized
/// plan by the engine's query planner: by then every part a remote source runs is an opaque
/// federated node, so nothing rewritten here reaches a remote dialect (Postgres would refuse
/// `CAST(timestamp AS bigint)`). See [`relabel_utc_cast`] and [`align_decimal_literal`].
///
/// Filters are left as they are: their predicates also prune Parquet row groups by statistics,
/// and a column under two casts would no longer be recognised there.
pub(crate) fn local_rewrites(plan: LogicalPlan) -> DfResult<LogicalPlan> {
    let filter = |node: &LogicalPlan| matches!(node, LogicalPlan::Filter(_));
    rewrite_plan_expressions(plan, &filter, &|x, schema| {
        let t = align_decimal_literal(x, schema)?;
        if t.transformed {
            return Ok(t);
        }
        relabel_utc_cast(t.data, schema)
    })
}

/// `CAST(t AS timestamp with zone UTC)` of a zone-less `t` written as
/// `CAST(CAST(t AS bigint) AS timestamp UTC)`: the same instants (a zone-less time read as UTC
/// local time is that UTC instant), but Arrow casts zone-less to zoned by looking the zone up
/// for every value, even for UTC, while from Int64 it relabels the values. Such casts come from
/// [`UtcDateTrunc`] and `AT TIME ZONE 'UTC'`; in the demo lake's d08 they were 45% of the query.
fn relabel_utc_cast(x: Expr, schema: &datafusion::common::DFSchema) -> DfResult<Transformed<Expr>> {
    let Expr::Cast(c) = &x else {
        return Ok(Transformed::no(x));
    };
    let target = c.field.data_type().clone();
    let DataType::Timestamp(unit, Some(tz)) = &target else {
        return Ok(Transformed::no(x));
    };
    if !is_utc(tz) {
        return Ok(Transformed::no(x));
    }
    match c.expr.get_type(schema) {
        Ok(DataType::Timestamp(inner, None)) if inner == *unit => {}
        _ => return Ok(Transformed::no(x)),
    }
    let as_int = Expr::Cast(Cast::new(c.expr.clone(), DataType::Int64));
    Ok(Transformed::yes(Expr::Cast(Cast::new(
        Box::new(as_int),
        target,
    ))))
}

fn utc_date_trunc(x: Expr, schema: &datafusion::common::DFSchema) -> DfResult<Transformed<Expr>> {
    let Expr::ScalarFunction(f) = &x else {
        return Ok(Transformed::no(x));
    };
    if f.func.name() != "date_trunc" || f.args.len() != 2 {
        return Ok(Transformed::no(x));
    }
    let Ok(DataType::Timestamp(unit, Some(tz))) = f.args[1].get_type(schema) else {
        return Ok(Transformed::no(x));
    };
    if !is_utc(&tz) {
        return Ok(Transformed::no(x));
    }
    let naive = Expr::Cast(Cast::new(
        Box::new(f.args[1].clone()),
        DataType::Timestamp(unit, None),
    ));
    let truncated = Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::clone(&f.func),
        vec![f.args[0].clone(), naive],
    ));
    // (Computed locally, the cast back to UTC is then a relabel: see `relabel_utc_cast`.)
    Ok(Transformed::yes(Expr::Cast(Cast::new(
        Box::new(truncated),
        DataType::Timestamp(unit, Some(tz)),
    ))))
}

/// `1 - d` with `d` a decimal of a larger scale than the literal, as in TPC-H's
/// `l_extendedprice * (1 - l_discount)`, is computed by Arrow with both sides rescaled per
/// row: two checked 128-bit multiplications and a checked subtraction each, a quarter of q01's
/// time. Written with the literal at the other side's scale instead (`1` becomes `1.00`),
/// Arrow does the subtraction alone. The result's type is unchanged: the literal keeps its
/// digits before the point, and the result's scale was the larger one already. Applied to the
/// final plan (see [`local_rewrites`]), once casts of literals have been folded into literals.
fn align_decimal_literal(
    x: Expr,
    schema: &datafusion::common::DFSchema,
) -> DfResult<Transformed<Expr>> {
    let Expr::BinaryExpr(b) = &x else {
        return Ok(Transformed::no(x));
    };
    if !matches!(b.op, Operator::Plus | Operator::Minus) {
        return Ok(Transformed::no(x));
    }
    let literal_scale = |e: &Expr| match e {
        Expr::Literal(ScalarValue::Decimal128(v, p, s), meta) => Some((*v, *p, *s, meta.clone())),
        _ => None,
    };
    let (literal_left, (value, precision, scale, meta), other) =
        match (literal_scale(&b.left), literal_scale(&b.right)) {
            (Some(l), None) => (true, l, &b.right),
            (None, Some(r)) => (false, r, &b.left),
            _ => return Ok(Transformed::no(x)),
        };
    let Ok(DataType::Decimal128(_, other_scale)) = other.get_type(schema) else {
        return Ok(Transformed::no(x));
    };
    if other_scale <= scale || scale < 0 {
        return Ok(Transformed::no(x));
    }
    let shift = (other_scale - scale) as u32;
    let new_precision = precision as u32 + shift;
    let factor = 10i128.checked_pow(shift);
    let new_value = match (value, factor) {
        (Some(v), Some(f)) => match v.checked_mul(f) {
            Some(v) => Some(v),
            None => return Ok(Transformed::no(x)),
        },
        (None, Some(_)) => None,
        (_, None) => return Ok(Transformed::no(x)),
    };
    if new_precision > 38 {
        return Ok(Transformed::no(x));
    }
    let literal = Expr::Literal(
        ScalarValue::Decimal128(new_value, new_precision as u8, other_scale),
        meta,
    );
    let (left, right) = if literal_left {
        (literal, (*b.right).clone())
    } else {
        ((*b.left).clone(), literal)
    };
    Ok(Transformed::yes(Expr::BinaryExpr(
        datafusion::logical_expr::BinaryExpr::new(Box::new(left), b.op, Box::new(right)),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::logical_expr::Operator;
    use datafusion::physical_expr::expressions::{binary, col, lit};
    use datafusion::prelude::SessionContext;

    const ROWS: usize = 200_000;

    /// One partition of `k = i % 1000` for i in 0..ROWS, in batches of 8192.
    fn input() -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let batches = (0..ROWS)
            .step_by(8192)
            .map(|start| {
                let end = (start + 8192).min(ROWS);
                let k = Int64Array::from_iter_values((start..end).map(|i| (i % 1000) as i64));
                RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(k)]).unwrap()
            })
            .collect::<Vec<_>>();
        MemorySourceConfig::try_new_exec(&[batches], schema, None).unwrap()
    }

    /// Runs `EarlyFilterExec(filter)` over [`input`]; `set` is what the join would publish.
    /// Returns (rows out, rows passed through unfiltered).
    async fn run(set: Option<(Operator, i64)>) -> (usize, usize) {
        run_after(set, None).await
    }

    /// [`run`] with a cheap comparison `k <op> v` evaluated first.
    async fn run_after(
        set: Option<(Operator, i64)>,
        first: Option<(Operator, i64)>,
    ) -> (usize, usize) {
        let input = input();
        let k = col("k", &input.schema()).unwrap();
        let first =
            first.map(|(op, v)| binary(Arc::clone(&k), op, lit(v), &input.schema()).unwrap());
        let filter = Arc::new(DynamicFilterPhysicalExpr::new(
            vec![Arc::clone(&k)],
            lit(true),
        ));
        let exec = Arc::new(EarlyFilterExec::new(
            vec![Arc::clone(&filter) as Arc<dyn PhysicalExpr>],
            first,
            input,
        ));
        if let Some((op, v)) = set {
            let schema = exec.schema();
            filter
                .update(binary(k, op, lit(v), &schema).unwrap())
                .unwrap();
        }
        let ctx = SessionContext::new();
        let plan: Arc<dyn ExecutionPlan> = exec.clone();
        let batches = datafusion::physical_plan::collect(plan, ctx.task_ctx())
            .await
            .unwrap();
        let out = batches.iter().map(|b| b.num_rows()).sum();
        let passed = exec
            .metrics()
            .unwrap()
            .sum_by_name("rows_passed_unfiltered")
            .map_or(0, |m| m.as_usize());
        (out, passed)
    }

    #[tokio::test]
    async fn a_selective_filter_drops_rows_all_the_way() {
        // k < 10 keeps 1% of rows: filtering pays, so it never stops.
        assert_eq!(run(Some((Operator::Lt, 10))).await, (ROWS / 100, 0));
    }

    #[tokio::test]
    async fn a_broad_filter_stops_after_the_probe() {
        // k < 900 keeps 90%: after PROBE_ROWS the partition passes batches through.
        let (out, passed) = run(Some((Operator::Lt, 900))).await;
        assert!(passed > 0 && passed < ROWS - PROBE_ROWS + 8192, "{passed}");
        let kept = (0..ROWS - passed).filter(|i| i % 1000 < 900).count();
        assert_eq!(out, passed + kept, "{out} {passed}");
    }

    #[tokio::test]
    async fn cheap_comparisons_first_keep_exactly_the_rows_both_keep() {
        // k < 100 keeps 10%: those rows are selected first, then k >= 50 halves them.
        let both = run_after(Some((Operator::GtEq, 50)), Some((Operator::Lt, 100))).await;
        assert_eq!(both, (ROWS / 20, 0));
        // k < 900 keeps 90%: one selection of the rows both keep (k in 850..900).
        let both = run_after(Some((Operator::GtEq, 850)), Some((Operator::Lt, 900))).await;
        assert_eq!(both, (ROWS / 20, 0));
        // The join never set its filter: the comparisons alone decide what passes early.
        assert_eq!(
            run_after(None, Some((Operator::Lt, 100))).await,
            (ROWS / 10, 0)
        );
    }

    #[tokio::test]
    async fn a_filter_its_join_never_set_filters_nothing_and_decides_nothing() {
        assert_eq!(run(None).await, (ROWS, 0));
    }

    #[test]
    fn cheap_comparisons_move_to_the_front_and_ties_keep_their_order() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8, false),
            Field::new("x", DataType::Int64, false),
            Field::new("y", DataType::Int64, false),
        ]));
        let input = MemorySourceConfig::try_new_exec(&[vec![]], Arc::clone(&schema), None).unwrap();
        let c = |n: &str| col(n, &schema).unwrap();
        let cmp = |l, op, r| binary(l, op, r, &schema).unwrap();
        let predicate = conjunction([
            cmp(c("s"), Operator::Eq, lit("a")),
            cmp(c("x"), Operator::Eq, c("y")),
            cmp(c("x"), Operator::Gt, lit(5i64)),
            cmp(c("s"), Operator::NotEq, c("s")),
            cmp(c("y"), Operator::Lt, lit(9i64)),
        ]);
        let plan: Arc<dyn ExecutionPlan> = Arc::new(FilterExec::try_new(predicate, input).unwrap());
        let out = CheapPredicatesFirst
            .optimize(plan, &ConfigOptions::default())
            .unwrap();
        let filter = out.downcast_ref::<FilterExec>().unwrap();
        let order: Vec<String> = split_conjunction(filter.predicate())
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            order,
            [
                "all_of(x@1 > 5, y@2 < 9, x@1 = y@2)",
                "s@0 = a",
                "s@0 != s@0"
            ],
            "{order:?}"
        );
    }

    /// `AllOf` is SQL's three-valued `AND`: on every combination of true, false and null it
    /// answers what DataFusion's own `AND` answers, including when it stops early.
    #[test]
    fn all_of_answers_as_and_does() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Int64, true),
            Field::new("c", DataType::Int64, true),
        ]));
        // Every (a, b, c) in {1, 0, null}³: `x > 0` is true, false or null.
        let values = [Some(1i64), Some(0), None];
        let mut cols = [vec![], vec![], vec![]];
        for a in values {
            for b in values {
                for c in values {
                    cols[0].push(a);
                    cols[1].push(b);
                    cols[2].push(c);
                }
            }
        }
        let columns = cols
            .into_iter()
            .map(|v| Arc::new(Int64Array::from(v)) as Arc<dyn Array>)
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
        let positive =
            |n: &str| binary(col(n, &schema).unwrap(), Operator::Gt, lit(0i64), &schema).unwrap();
        let members = vec![positive("a"), positive("b"), positive("c")];
        let expected = conjunction(members.clone()).evaluate(&batch).unwrap();
        let got = AllOf(members.clone()).evaluate(&batch).unwrap();
        let (expected, got) = (
            expected.into_array(27).unwrap(),
            got.into_array(27).unwrap(),
        );
        assert_eq!(expected.as_boolean(), got.as_boolean());
        // All rows false after the first member: the answer is still all false.
        let all_false = batch.slice(9, 9); // a = 0
        let got = AllOf(members)
            .evaluate(&all_false)
            .unwrap()
            .into_array(9)
            .unwrap();
        assert_eq!(got.as_boolean().true_count(), 0);
        assert_eq!(got.null_count(), 0);
    }

    /// The rewrite answers exactly as DataFusion's general path does and keeps column names;
    /// other zones are left alone.
    #[tokio::test]
    async fn date_trunc_on_utc_is_rewritten_without_changing_answers() {
        for unit in ["day", "week", "month", "hour", "year"] {
            let sql = format!(
                "SELECT date_trunc('{unit}', t) AS plain, date_trunc('{unit}', t AT TIME ZONE 'UTC') \
                 AS utc, date_trunc('{unit}', t AT TIME ZONE 'Asia/Kolkata') AS kolkata FROM (VALUES \
                 (TIMESTAMP '2026-11-21 23:30:00'), (TIMESTAMP '2026-11-22 01:00:00'), \
                 (TIMESTAMP '2024-02-29 12:00:00'), (TIMESTAMP '1969-12-31 23:59:59'), \
                 (TIMESTAMP '2026-01-01 00:00:00'), (NULL)) v(t)"
            );
            check_utc_date_trunc(&sql).await;
        }
    }

    /// The partitioned-join filter's fast path keeps exactly the rows DataFusion's CASE keeps
    /// (null counting as not kept), including rows of a partition no branch names.
    #[test]
    fn partitioned_filter_fast_path_keeps_what_case_keeps() {
        use datafusion::arrow::array::Array;
        use datafusion::physical_expr::expressions::cast;
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)]));
        let keys: Vec<Option<i64>> = (0..1000)
            .map(|i| {
                if i % 17 == 0 {
                    None
                } else {
                    Some((i * 7919) % 1000)
                }
            })
            .collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from(keys)) as Arc<dyn Array>],
        )
        .unwrap();
        let k = col("k", &schema).unwrap();
        let partition = binary(
            cast(Arc::clone(&k), &schema, DataType::UInt64).unwrap(),
            Operator::Modulo,
            lit(ScalarValue::UInt64(Some(4))),
            &schema,
        )
        .unwrap();
        let test = |op, v: i64| binary(Arc::clone(&k), op, lit(v), &schema).unwrap();
        // Partition 3 has no branch: its rows fall to ELSE false.
        let case = CaseExpr::try_new(
            Some(partition),
            vec![
                (lit(ScalarValue::UInt64(Some(0))), test(Operator::Lt, 500)),
                (lit(ScalarValue::UInt64(Some(1))), test(Operator::Gt, 200)),
                (lit(ScalarValue::UInt64(Some(2))), test(Operator::NotEq, 2)),
            ],
            Some(lit(false)),
        )
        .unwrap();
        let fast = evaluate_partitioned(&case, &batch)
            .unwrap()
            .expect("fast path taken");
        let general = case.evaluate(&batch).unwrap().into_array(1000).unwrap();
        let general = general.as_boolean();
        let want: Vec<bool> = (0..1000)
            .map(|i| general.is_valid(i) && general.value(i))
            .collect();
        let got: Vec<bool> = (0..1000).map(|i| fast.value(i)).collect();
        assert_eq!(got, want);
        assert!(want.iter().any(|k| *k) && want.iter().any(|k| !*k));
        // A CASE of another form is left to DataFusion.
        let other =
            CaseExpr::try_new(None, vec![(test(Operator::Lt, 5), lit(true))], None).unwrap();
        assert!(evaluate_partitioned(&other, &batch).unwrap().is_none());
    }

    /// Literals added to or subtracted from decimals of a larger scale are written at that
    /// scale: the same answers, types and column names as DataFusion's own plan, with no
    /// per-row rescaling left; a literal that would not fit keeps its scale.
    #[tokio::test]
    async fn decimal_literals_take_the_other_sides_scale() {
        let sql = "SELECT 1 - d, d + 2, CAST(1.5 AS decimal(3,1)) - d, d - 1, sum(d * (1 - d)), \
                   CAST('99999999999999999999999999999999999' AS decimal(38,0)) + d \
                   FROM (VALUES (CAST(0.05 AS decimal(15,2))), (CAST(-3.07 AS decimal(15,2))), \
                   (NULL)) AS t(d) WHERE d + 5 > 0 GROUP BY d ORDER BY d";
        let (want, want_schema, _) = run_tuned(sql, None, false).await;
        let (got, got_schema, plan) = run_tuned(sql, None, true).await;
        assert_eq!(got, want);
        assert_eq!(got_schema, want_schema);
        for rescaled in [
            "Decimal128(1.00,22,2) - t.d",
            "Decimal128(1.50,4,2) - t.d",
            "t.d - Decimal128(1.00,22,2)",
            "sum(t.d * (Decimal128(1.00,22,2) - t.d))",
        ] {
            assert!(plan.contains(rescaled), "{rescaled} not in {plan}");
        }
        assert!(!plan.contains("Decimal128(1,20,0)"), "{plan}");
        // Filters are left alone (their predicates prune by statistics).
        assert!(
            plan.contains("Filter: column1 + Decimal128(5,20,0)"),
            "{plan}"
        );
        // 35 nines at scale 2 would need 40 digits: left as it is.
        assert!(
            plan.contains("Decimal128(99999999999999999999999999999999999,38,0) + t.d"),
            "{plan}"
        );
    }

    /// `sql`'s result (as text), schema and final plan (as text), run by a session with
    /// `analyzer` added and, when `local`, [`local_rewrites`] applied as the engine applies
    /// them.
    async fn run_tuned(
        sql: &str,
        analyzer: Option<Arc<dyn datafusion::optimizer::AnalyzerRule + Send + Sync>>,
        local: bool,
    ) -> (String, datafusion::arrow::datatypes::SchemaRef, String) {
        let ctx = SessionContext::new();
        if let Some(rule) = analyzer {
            ctx.add_analyzer_rule(rule);
        }
        let df = ctx.sql(sql).await.unwrap();
        let mut logical = df.into_optimized_plan().unwrap();
        if local {
            logical = local_rewrites(logical).unwrap();
        }
        let plan = format!("{}", logical.display_indent());
        let state = ctx.state();
        let physical = state
            .query_planner()
            .create_physical_plan(&logical, &state)
            .await
            .unwrap();
        let out = datafusion::physical_plan::collect(physical, ctx.task_ctx())
            .await
            .unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&out)
            .unwrap()
            .to_string();
        (text, out[0].schema(), plan)
    }

    /// Answers, column names and types as DataFusion's general path gives them, through
    /// [`UtcDateTrunc`] and then [`local_rewrites`] as the engine applies them.
    async fn check_utc_date_trunc(sql: &str) {
        let (want, want_schema, _) = run_tuned(sql, None, false).await;
        let (got, got_schema, plan) = run_tuned(sql, Some(Arc::new(UtcDateTrunc)), true).await;
        assert_eq!(got, want);
        assert_eq!(got_schema, want_schema);
        // Only the UTC column goes through the zone-less path…
        assert_eq!(plan.matches("CAST(date_trunc(").count(), 1, "{plan}");
        // …and back to UTC by relabelling Int64 values, not by a zone lookup per value; so is
        // `t AT TIME ZONE 'UTC'` itself. The Kolkata cast keeps its lookup.
        assert_eq!(plan.matches("CAST(CAST(date_trunc(").count(), 1, "{plan}");
        assert_eq!(
            plan.matches(" AS Int64) AS Timestamp(").count(),
            2,
            "{plan}"
        );
        assert!(
            plan.contains("CAST(v.t AS Timestamp(ns, \"Asia/Kolkata\"))"),
            "{plan}"
        );
    }
}
