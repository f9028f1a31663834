//! Computing a repeated subquery once: [`ShareRepeatedSubplans`].
//!
//! DataFusion inlines a CTE at each place it is referenced, so `WITH r AS (…) SELECT … FROM r
//! WHERE x = (SELECT max(x) FROM r)` (TPC-H q15, and a common shape in analysts' SQL) scans and
//! aggregates `r`'s inputs twice. PostgreSQL (12+) materializes a CTE referenced more than once,
//! and so does DuckDB. This rule finds the largest subplans that occur more than once in a
//! physical plan and replaces every occurrence with a [`SharedExec`] holding one shared result:
//! the first occurrence to run computes it (all partitions together, so no partition waits on
//! one nobody reads) and keeps it in memory, accounted to the memory pool; the others read it.
//!
//! Occurrences are compared by their full plan text, ignoring the dynamic filters that joins
//! push into scans after planning (they are optimisations, different at each place; a shared
//! plan runs without them). Only deterministic subplans that read data and do real work
//! (aggregate, join or sort) are shared; a plain scan is cheaper to repeat than to keep.

use datafusion::arrow::array::RecordBatch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DfResult;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::expressions::DynamicFilterPhysicalExpr;
use datafusion::physical_expr::{PhysicalExpr, conjunction, split_conjunction};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::joins::HashJoinExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, displayable,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub(crate) struct ShareRepeatedSubplans;

impl PhysicalOptimizerRule for ShareRepeatedSubplans {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // A recursive query re-runs its subplans each iteration over a new work table; a kept
        // result would be stale.
        let mut recursive = false;
        let _ = plan.apply(|n| {
            recursive |= n
                .downcast_ref::<datafusion::physical_plan::recursive_query::RecursiveQueryExec>()
                .is_some();
            Ok(TreeNodeRecursion::Continue)
        });
        if recursive {
            return Ok(plan);
        }
        let twin = without_dynamic_filters(&plan)?;
        let mut keys = HashMap::new();
        let mut counts: HashMap<String, usize> = HashMap::new();
        analyse(&twin, &mut keys, &mut counts);
        if !counts.values().any(|n| *n > 1) {
            return Ok(plan);
        }
        let mut shared = HashMap::new();
        replace(plan, &twin, &keys, &counts, &mut shared)
    }

    fn name(&self) -> &str {
        "skipper_share_repeated_subplans"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The plan without the dynamic filters pushed into its Parquet scans.
fn without_dynamic_filters(plan: &Arc<dyn ExecutionPlan>) -> DfResult<Arc<dyn ExecutionPlan>> {
    Arc::clone(plan)
        .transform_up(|node| {
            let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some((scan, parquet)) = exec.downcast_to_file_source::<ParquetSource>() else {
                return Ok(Transformed::no(node));
            };
            let Some(predicate) =
                datafusion::datasource::physical_plan::FileSource::filter(parquet)
            else {
                return Ok(Transformed::no(node));
            };
            let all = split_conjunction(&predicate);
            let kept: Vec<Arc<dyn PhysicalExpr>> = all
                .iter()
                .filter(|c| c.downcast_ref::<DynamicFilterPhysicalExpr>().is_none())
                .map(|c| Arc::clone(c))
                .collect();
            if kept.len() == all.len() {
                return Ok(Transformed::no(node));
            }
            let mut source = parquet.clone();
            source = if kept.is_empty() {
                // `ParquetSource` has no way to drop a predicate; `true` prunes nothing.
                source.with_predicate(datafusion::physical_expr::expressions::lit(true))
            } else {
                source.with_predicate(conjunction(kept))
            };
            let scan: FileScanConfig = FileScanConfigBuilder::from(scan.clone())
                .with_source(Arc::new(source))
                .build();
            let exec = exec.clone().with_data_source(Arc::new(scan));
            Ok(Transformed::yes(Arc::new(exec) as Arc<dyn ExecutionPlan>))
        })
        .map(|t| t.data)
}

/// Whether a leaf's plan text says everything about the rows it produces: file scans (files,
/// byte ranges, projection, predicate) and remote scans (the SQL sent). In-memory leaves
/// (`VALUES`) print only their sizes, so two different ones would look the same.
fn described_by_its_text(leaf: &Arc<dyn ExecutionPlan>) -> bool {
    leaf.downcast_ref::<DataSourceExec>()
        .is_some_and(|d| d.data_source().downcast_ref::<FileScanConfig>().is_some())
        || leaf.downcast_ref::<super::pgread::PgQueryExec>().is_some()
        || leaf.downcast_ref::<super::scan::SourceScanExec>().is_some()
        || leaf
            .downcast_ref::<datafusion_federation::sql::VirtualExecutionPlan>()
            .is_some()
}

/// What the subplan below a node reads and does, gathered bottom-up in one pass.
#[derive(Clone, Copy, Default)]
struct Info {
    reads: bool,
    unknown_leaf: bool,
    works: bool,
    volatile: bool,
}

impl Info {
    /// Worth sharing: it reads data whose text identifies it (see [`described_by_its_text`]),
    /// does real work and is deterministic.
    fn shareable(self) -> bool {
        self.reads && !self.unknown_leaf && self.works && !self.volatile
    }
}

/// Walks the plan without dynamic filters once, bottom-up: each shareable subplan's text is
/// recorded by node (`keys`, for [`replace`]) and counted (`counts`).
fn analyse(
    node: &Arc<dyn ExecutionPlan>,
    keys: &mut HashMap<usize, String>,
    counts: &mut HashMap<String, usize>,
) -> Info {
    let children = node.children();
    let mut info = Info::default();
    for c in &children {
        let ci = analyse(c, keys, counts);
        info.reads |= ci.reads;
        info.unknown_leaf |= ci.unknown_leaf;
        info.works |= ci.works;
        info.volatile |= ci.volatile;
    }
    if children.is_empty() {
        info.reads = true;
        info.unknown_leaf = !described_by_its_text(node);
    }
    info.works |= node.downcast_ref::<AggregateExec>().is_some()
        || node.downcast_ref::<HashJoinExec>().is_some()
        || node.downcast_ref::<SortExec>().is_some()
        || node
            .downcast_ref::<super::extsort::SpillingSortExec>()
            .is_some();
    let _ = node.apply_expressions(&mut |e| {
        info.volatile |= datafusion::physical_expr_common::physical_expr::is_volatile(e);
        Ok(TreeNodeRecursion::Continue)
    });
    if !children.is_empty() && info.shareable() {
        let text = displayable(node.as_ref()).indent(true).to_string();
        *counts.entry(text.clone()).or_default() += 1;
        keys.insert(node_id(node), text);
    }
    info
}

fn node_id(node: &Arc<dyn ExecutionPlan>) -> usize {
    Arc::as_ptr(node) as *const () as usize
}

/// Top-down over the plan and its filter-free twin in lockstep (stripping dynamic filters
/// replaces leaves only, so the shapes match), so the largest repeated subplan wins over the
/// repeated parts inside it. Occurrences are replaced by [`SharedExec`]s over the twin.
fn replace(
    plan: Arc<dyn ExecutionPlan>,
    twin: &Arc<dyn ExecutionPlan>,
    keys: &HashMap<usize, String>,
    counts: &HashMap<String, usize>,
    shared: &mut HashMap<String, Arc<SharedState>>,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    if let Some(k) = keys.get(&node_id(twin))
        && counts.get(k).copied().unwrap_or(0) > 1
    {
        let next_id = shared.len() + 1;
        let state = Arc::clone(shared.entry(k.clone()).or_insert_with(|| {
            Arc::new(SharedState {
                id: next_id,
                input: Arc::clone(twin),
                result: tokio::sync::OnceCell::new(),
                reservation: Mutex::new(None),
            })
        }));
        return Ok(Arc::new(SharedExec { state }));
    }
    let children: Vec<Arc<dyn ExecutionPlan>> =
        plan.children().into_iter().map(Arc::clone).collect();
    let twins = twin.children();
    if children.is_empty() || twins.len() != children.len() {
        return Ok(plan);
    }
    let mut changed = false;
    let mut new_children = Vec::with_capacity(children.len());
    for (c, t) in children.into_iter().zip(twins) {
        let n = replace(Arc::clone(&c), t, keys, counts, shared)?;
        changed |= !Arc::ptr_eq(&n, &c);
        new_children.push(n);
    }
    super::tuning::with_children_if_changed(plan, new_children, changed)
}

#[derive(Debug)]
struct SharedState {
    id: usize,
    input: Arc<dyn ExecutionPlan>,
    /// Every partition's batches, once the first reader has computed them.
    result: tokio::sync::OnceCell<Arc<Vec<Vec<RecordBatch>>>>,
    /// The memory the kept result holds, released with the plan.
    reservation: Mutex<Option<MemoryReservation>>,
}

impl SharedState {
    async fn compute(&self, context: Arc<TaskContext>) -> DfResult<Arc<Vec<Vec<RecordBatch>>>> {
        let parts = datafusion::physical_plan::collect_partitioned(
            Arc::clone(&self.input),
            Arc::clone(&context),
        )
        .await?;
        let bytes: usize = parts
            .iter()
            .flatten()
            .map(|b| b.get_array_memory_size())
            .sum();
        let reservation =
            MemoryConsumer::new(format!("SharedExec[{}]", self.id)).register(context.memory_pool());
        reservation.try_grow(bytes)?;
        *self.reservation.lock().expect("not poisoned") = Some(reservation);
        Ok(Arc::new(parts))
    }
}

/// One occurrence of a shared subplan (see the module docs). A leaf to the optimizer, so that
/// no later rule rewrites one occurrence apart from the others.
#[derive(Debug)]
pub(crate) struct SharedExec {
    state: Arc<SharedState>,
}

impl SharedExec {
    /// The subplan every occurrence shares.
    pub(crate) fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.state.input
    }
}

impl DisplayAs for SharedExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "SharedExec: id={} (computed once, read by each occurrence) input={}",
            self.state.id,
            displayable(self.state.input.as_ref()).one_line()
        )
    }
}

impl ExecutionPlan for SharedExec {
    fn name(&self) -> &'static str {
        "SharedExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.state.input.properties()
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
        super::tuning::leaf_takes_no_children("SharedExec", &children)?;
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let state = Arc::clone(&self.state);
        let schema = self.schema();
        let batches = futures::stream::once(async move {
            let parts = state
                .result
                .get_or_try_init(|| state.compute(context))
                .await?;
            Ok::<_, datafusion::error::DataFusionError>(
                parts.get(partition).cloned().unwrap_or_default(),
            )
        });
        let stream = futures::StreamExt::flat_map(batches, |r| match r {
            Ok(v) => futures::stream::iter(v.into_iter().map(Ok).collect::<Vec<_>>()),
            Err(e) => futures::stream::iter(vec![Err(e)]),
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}
