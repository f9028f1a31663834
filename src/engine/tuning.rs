//! Physical-plan tuning that DataFusion's configuration cannot express.
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
//! than it saves for broad filters: q06 ~50% slower; q09's lineitem scan, keeping 5% of rows,
//! took 2.7× longer to decode. So this rule instead evaluates a scan's dynamic filters on whole
//! decoded batches, in a `FilterExec` placed right above the scan, and only where rows would
//! otherwise travel through a repartition or an aggregation before reaching a join; a scan that
//! feeds its join directly is left alone (the join's own lookup is the same work).
//!
//! The rule runs after DataFusion's own rules, when dynamic filters have been pushed. The
//! `FilterExec` shares the filter expression the join updates, so it sees the build side's keys
//! once they are known (`true` until then); the answer is unchanged.

use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::physical_plan::{FileScanConfig, FileSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DfResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::expressions::{Column, DynamicFilterPhysicalExpr};
use datafusion::physical_expr::{PhysicalExpr, split_conjunction};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::HashJoinExec;
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
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
        rewrite(plan, Above::Nothing)
    }

    fn name(&self) -> &str {
        "skipper_early_dynamic_filters"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// What lies between a node and the nearest hash join above it that probes with its rows.
#[derive(Clone, Copy)]
enum Above {
    /// No probing join (the plan's root, or a join's build side), or one behind an operator
    /// that is neither pass-through nor worth saving work for.
    Nothing,
    /// Only pass-through operators up to a probing join whose dynamic filter has this id:
    /// that join looks every row up itself, so its own filter is not evaluated early.
    Join(Option<u64>),
    /// A repartition or an aggregation on the way: every dynamic filter is worth applying early.
    Costly,
}

fn rewrite(plan: Arc<dyn ExecutionPlan>, above: Above) -> DfResult<Arc<dyn ExecutionPlan>> {
    if plan.downcast_ref::<DataSourceExec>().is_some() {
        return filter_early(plan, above);
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
    let costly = plan.downcast_ref::<RepartitionExec>().is_some()
        || plan.downcast_ref::<AggregateExec>().is_some();
    let mut changed = false;
    let mut new_children = Vec::with_capacity(children.len());
    for (i, child) in children.into_iter().enumerate() {
        let child_above = match (join, above) {
            // A hash join builds from its left input and probes with its right.
            (Some(j), _) if i == 1 => Above::Join(join_filter_id(j)),
            (Some(_), _) => Above::Nothing,
            (None, Above::Nothing) => Above::Nothing,
            (None, _) if costly => Above::Costly,
            (None, a) if passes => a,
            (None, _) => Above::Nothing,
        };
        let new = rewrite(Arc::clone(child), child_above)?;
        changed |= !Arc::ptr_eq(&new, child);
        new_children.push(new);
    }
    if changed {
        plan.replace_children(
            new_children,
            datafusion::physical_plan::ReplaceChildrenOptions::new(
                datafusion::physical_plan::ChildrenPropertiesMode::Recompute,
            ),
        )
    } else {
        Ok(plan)
    }
}

/// The id of the dynamic filter a hash join publishes to its probe side, if it has one.
fn join_filter_id(join: &HashJoinExec) -> Option<u64> {
    #[allow(deprecated)] // its replacement lists every produced expression, untyped
    join.dynamic_filter_expr().and_then(|f| f.expression_id())
}

/// `EarlyFilterExec(dynamic filters of the scan) → scan`, the filters' columns mapped from the
/// table's schema to the scan's output; the scan itself is unchanged.
fn filter_early(plan: Arc<dyn ExecutionPlan>, above: Above) -> DfResult<Arc<dyn ExecutionPlan>> {
    let direct = match above {
        Above::Nothing => return Ok(plan),
        Above::Join(id) => id,
        Above::Costly => None,
    };
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
            || (direct.is_some() && conjunct.expression_id() == direct)
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
    Ok(Arc::new(EarlyFilterExec::new(dynamic, plan)))
}

/// Rows a partition filters before deciding whether filtering pays.
const PROBE_ROWS: usize = 100_000;
/// Above this fraction of rows kept, a partition stops filtering and passes batches through:
/// the join above does the same lookup anyway, and most rows would survive.
const KEEP_ABOVE: f64 = 0.5;

/// Applies dynamic filters to whole batches. Adaptive: once every filter has been set by its
/// join and [`PROBE_ROWS`] rows have been seen, a partition that kept more than [`KEEP_ABOVE`]
/// of them stops evaluating (the filters are an optimisation; the joins still decide).
#[derive(Debug)]
struct EarlyFilterExec {
    filters: Vec<Arc<dyn PhysicalExpr>>,
    /// Each filter's generation when planned; a higher one means its join has set it.
    planned_generations: Vec<u64>,
    input: Arc<dyn ExecutionPlan>,
    metrics: ExecutionPlanMetricsSet,
}

impl EarlyFilterExec {
    fn new(filters: Vec<Arc<dyn PhysicalExpr>>, input: Arc<dyn ExecutionPlan>) -> Self {
        let planned_generations = filters.iter().map(|f| f.snapshot_generation()).collect();
        EarlyFilterExec {
            filters,
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
        for e in &self.filters {
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
            let rows_in = batch.num_rows();
            let mut out = batch;
            for f in &filters {
                if out.num_rows() == 0 {
                    break;
                }
                let mask = f.evaluate(&out)?.into_array(out.num_rows())?;
                out = filter_record_batch(&out, mask.as_boolean())?;
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
        let input = input();
        let k = col("k", &input.schema()).unwrap();
        let filter = Arc::new(DynamicFilterPhysicalExpr::new(
            vec![Arc::clone(&k)],
            lit(true),
        ));
        let exec = Arc::new(EarlyFilterExec::new(
            vec![Arc::clone(&filter) as Arc<dyn PhysicalExpr>],
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
    async fn a_filter_its_join_never_set_filters_nothing_and_decides_nothing() {
        assert_eq!(run(None).await, (ROWS, 0));
    }
}
