//! A sort that finishes under a memory limit: [`SpillingSorts`] puts a [`SpillingSortExec`] in
//! place of every full sort when `[engine] memory_limit` is set.
//!
//! DataFusion 55's `SortExec` often fails a sort it should finish by spilling: the merges of
//! its spilled runs take unspillable memory sized by batches whose string views still point at
//! whole input buffers (apache/datafusion#16979, #25271), and the merge of the partitions above
//! it then finds the pool taken (`ORDER BY l_comment` over TPC-H lineitem failed at 32–128 MiB).
//! This operator does the same job with one spillable reservation per partition, in three steps:
//!
//! 1. It buffers input batches with their sort keys encoded as rows (arrow's row format),
//!    accounting each batch, its keys and the entries that sort them. The reservation is capped at three
//!    quarters of the limit shared by the partitions, so the unspillable operators above it
//!    (the merge of the partitions, a join's build side) keep room.
//! 2. When the reservation cannot grow, it sorts the buffer and writes it to a spill file as a
//!    sorted run (Arrow IPC), in chunks that fit a fixed workspace, and frees the buffer.
//! 3. At the end it sorts in memory if nothing spilled. Otherwise it spills the rest and merges
//!    the runs, as many at once as the memory holds a batch of each (at least two); when they
//!    do not all fit, groups are merged into longer runs first.
//!
//! Batches it writes or returns have their string views compacted, so they are accounted by the
//! bytes they hold. A top-K sort (`ORDER BY … LIMIT n`) is left to DataFusion: its memory is
//! bounded by n.

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, GenericByteViewArray, RecordBatch, RecordBatchOptions,
};
use datafusion::arrow::compute::interleave_record_batch;
use datafusion::arrow::datatypes::{ByteViewType, DataType, SchemaRef};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::disk_manager::DiskManager;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, SpillFile, SpillWriter, TaskContext};
use datafusion::physical_expr::{LexOrdering, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, RecordOutput,
};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, InputDistributionRequirements,
    PlanProperties,
};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::sync::Arc;

/// The most runs merged at once (each holds an open file and a read buffer).
const MAX_FAN_IN: usize = 64;
/// The read buffer of one run during a merge.
const READ_BUFFER: usize = 64 << 10;

/// Replaces every `SortExec` without a fetch by a [`SpillingSortExec`]. Added to the physical
/// optimizer only when a memory limit is configured.
#[derive(Debug, Default)]
pub(crate) struct SpillingSorts;

impl PhysicalOptimizerRule for SpillingSorts {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(sort) = node.downcast_ref::<SortExec>() else {
                return Ok(Transformed::no(node));
            };
            if sort.fetch().is_some() {
                return Ok(Transformed::no(node));
            }
            Ok(Transformed::yes(
                Arc::new(SpillingSortExec::from_sort(sort)) as _,
            ))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "spilling_sorts"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A full sort that spills sorted runs to disk under memory pressure and merges them (module
/// docs). Same output partitioning, ordering and schema as the `SortExec` it replaces.
#[derive(Debug)]
pub(crate) struct SpillingSortExec {
    input: Arc<dyn ExecutionPlan>,
    expr: LexOrdering,
    preserve_partitioning: bool,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl SpillingSortExec {
    fn from_sort(sort: &SortExec) -> Self {
        Self {
            input: Arc::clone(sort.input()),
            expr: sort.expr().clone(),
            preserve_partitioning: sort.preserve_partitioning(),
            properties: Arc::clone(sort.properties()),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for SpillingSortExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match t {
            DisplayFormatType::TreeRender => writeln!(f, "{}", self.expr),
            _ => write!(
                f,
                "SpillingSortExec: expr=[{}], preserve_partitioning=[{}]",
                self.expr, self.preserve_partitioning
            ),
        }
    }
}

impl ExecutionPlan for SpillingSortExec {
    fn name(&self) -> &'static str {
        "SpillingSortExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        InputDistributionRequirements::new(vec![if self.preserve_partitioning {
            Distribution::UnspecifiedDistribution
        } else {
            Distribution::SinglePartition
        }])
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        for sort_expr in self.expr.iter() {
            if f(&sort_expr.expr)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let [input] = <[_; 1]>::try_from(children).map_err(|c| {
            DataFusionError::Internal(format!("SpillingSortExec takes one child, got {}", c.len()))
        })?;
        // A SortExec over the new child works out the properties (they may change with it).
        let sort = SortExec::new(self.expr.clone(), input)
            .with_preserve_partitioning(self.preserve_partitioning);
        Ok(Arc::new(Self::from_sort(&sort)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let input = self.input.execute(partition, Arc::clone(&context))?;
        if self
            .input
            .properties()
            .equivalence_properties()
            .ordering_satisfy(self.expr.clone())?
        {
            return Ok(input);
        }
        let partitions = if self.preserve_partitioning {
            self.properties.partitioning.partition_count().max(1)
        } else {
            1
        };
        let schema = self.schema();
        let sorter = Sorter::new(
            partition,
            partitions,
            &self.expr,
            Arc::clone(&schema),
            &context,
            &self.metrics,
        )?;
        let sorted = futures::stream::once(sorter.sort(input)).try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, sorted)))
    }
}

/// How a partition's sorter reports what it did (EXPLAIN ANALYZE, and the "spilled" line).
#[derive(Clone)]
struct SortMetrics {
    baseline: BaselineMetrics,
    spill_count: Count,
    spilled_bytes: Count,
    spilled_rows: Count,
}

/// The sort keys of batches, as comparable rows.
struct Keys {
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    converter: RowConverter,
}

impl Keys {
    fn of(&self, batch: &RecordBatch) -> DfResult<Rows> {
        let columns = self
            .exprs
            .iter()
            .map(|e| e.evaluate(batch)?.into_array(batch.num_rows()))
            .collect::<DfResult<Vec<ArrayRef>>>()?;
        Ok(self.converter.convert_columns(&columns)?)
    }
}

/// A sorted run on disk.
struct Run {
    file: Arc<dyn SpillFile>,
    rows: usize,
    /// Bytes in memory of its batches and of their keys, all together, and of the largest
    /// batch with its keys.
    bytes: usize,
    key_bytes: usize,
    largest: usize,
}

impl Run {
    /// What merging this run holds in memory: the batch being read, its keys, the read buffer.
    fn merge_cost(&self) -> usize {
        self.largest + READ_BUFFER
    }
}

/// One partition's sort (module docs).
struct Sorter {
    schema: SchemaRef,
    keys: Arc<Keys>,
    reservation: MemoryReservation,
    /// This partition's share of the limit: the reservation never grows beyond it.
    budget: usize,
    /// Bytes kept reserved for building one output chunk.
    workspace: usize,
    batch_size: usize,
    disk: Arc<DiskManager>,
    buffered: Vec<(RecordBatch, Rows)>,
    buffered_rows: usize,
    buffered_bytes: usize,
    runs: Vec<Run>,
    metrics: SortMetrics,
}

fn resources(message: String) -> DataFusionError {
    DataFusionError::ResourcesExhausted(message)
}

impl Sorter {
    fn new(
        partition: usize,
        partitions: usize,
        expr: &LexOrdering,
        schema: SchemaRef,
        context: &TaskContext,
        metrics: &ExecutionPlanMetricsSet,
    ) -> DfResult<Self> {
        let fields = expr
            .iter()
            .map(|e| {
                Ok(SortField::new_with_options(
                    e.expr.data_type(&schema)?,
                    e.options,
                ))
            })
            .collect::<DfResult<Vec<_>>>()?;
        let keys = Arc::new(Keys {
            exprs: expr.iter().map(|e| Arc::clone(&e.expr)).collect(),
            converter: RowConverter::new(fields)?,
        });
        let pool = context.memory_pool();
        let budget = match pool.memory_limit() {
            MemoryLimit::Finite(limit) => limit / 4 * 3 / partitions,
            _ => usize::MAX,
        };
        let options = &context.session_config().options().execution;
        let workspace = options
            .sort_spill_reservation_bytes
            .min(budget / 4)
            .max(64 << 10);
        let reservation = MemoryConsumer::new(format!("SpillingSort[{partition}]"))
            .with_can_spill(true)
            .register(pool);
        Ok(Self {
            schema,
            keys,
            reservation,
            budget,
            workspace,
            batch_size: context.session_config().batch_size().max(1),
            disk: Arc::clone(&context.runtime_env().disk_manager),
            buffered: Vec::new(),
            buffered_rows: 0,
            buffered_bytes: 0,
            runs: Vec::new(),
            metrics: SortMetrics {
                baseline: BaselineMetrics::new(metrics, partition),
                spill_count: MetricBuilder::new(metrics).spill_count(partition),
                spilled_bytes: MetricBuilder::new(metrics).spilled_bytes(partition),
                spilled_rows: MetricBuilder::new(metrics).spilled_rows(partition),
            },
        })
    }

    /// Grows the reservation by `bytes` if that stays within the budget and the pool allows it.
    fn try_reserve(&mut self, bytes: usize) -> bool {
        self.reservation.size() + bytes <= self.budget && self.reservation.try_grow(bytes).is_ok()
    }

    async fn sort(
        mut self,
        mut input: SendableRecordBatchStream,
    ) -> DfResult<BoxStream<'static, DfResult<RecordBatch>>> {
        if !self.try_reserve(self.workspace) {
            return Err(resources(format!(
                "a sort needs {} bytes to start and the memory limit leaves it less",
                self.workspace
            )));
        }
        while let Some(batch) = input.next().await {
            let batch = batch?;
            let elapsed = self.metrics.baseline.elapsed_compute().clone();
            let _timer = elapsed.timer();
            let batch = compact(batch, 2);
            if batch.num_rows() == 0 {
                continue;
            }
            let rows = self.keys.of(&batch)?;
            let bytes = batch.get_array_memory_size();
            let cost = bytes + rows.size() + 32 * batch.num_rows();
            if !self.try_reserve(cost) {
                if !self.buffered.is_empty() {
                    self.spill_buffer()?;
                }
                if !self.try_reserve(cost) {
                    return Err(resources(format!(
                        "a sort cannot hold one batch of {} rows ({cost} bytes with its keys) \
                         within the memory limit",
                        batch.num_rows()
                    )));
                }
            }
            self.buffered_rows += batch.num_rows();
            self.buffered_bytes += bytes;
            self.buffered.push((batch, rows));
        }
        drop(input);
        let elapsed = self.metrics.baseline.elapsed_compute().clone();
        let _timer = elapsed.timer();
        if self.runs.is_empty() {
            return Ok(self.sorted_in_memory());
        }
        if !self.buffered.is_empty() {
            self.spill_buffer()?;
        }
        self.merge_runs()
    }

    /// The buffered rows in sorted order, as (batch, row) positions. Ties keep input order.
    /// Sorts (key bytes, batch, row) entries: comparisons read the key directly, with no
    /// lookup through the batch's rows (24 bytes a row while sorting; accounted in `sort`).
    fn sorted_order(&self) -> Vec<(u32, u32)> {
        let mut keyed: Vec<(&[u8], u32, u32)> = Vec::with_capacity(self.buffered_rows);
        for (b, (_, rows)) in self.buffered.iter().enumerate() {
            keyed.extend(
                rows.iter()
                    .enumerate()
                    .map(|(r, row)| (row.data(), b as u32, r as u32)),
            );
        }
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, b, r)| (b, r)).collect()
    }

    /// Rows per chunk written or returned, given the bytes (with keys) of `rows` rows: a batch,
    /// or fewer when that would not fit the workspace, or would keep a merge from holding two
    /// runs (a chunk and a read buffer each) in half of what the budget leaves.
    fn chunk_rows(&self, bytes: usize, rows: usize) -> usize {
        let per_row = (bytes / rows.max(1)).max(1);
        let merge_room =
            (self.budget.saturating_sub(self.workspace) / 4).saturating_sub(READ_BUFFER);
        (self.workspace.min(merge_room) / per_row).clamp(1, self.batch_size)
    }

    /// Sorts the buffer, writes it to disk as one run and frees it.
    fn spill_buffer(&mut self) -> DfResult<()> {
        let order = self.sorted_order();
        let keys: usize = self.buffered.iter().map(|(_, rows)| rows.size()).sum();
        let chunk = self.chunk_rows(self.buffered_bytes + keys, self.buffered_rows);
        let batches: Vec<&RecordBatch> = self.buffered.iter().map(|(b, _)| b).collect();
        let mut writer = RunWriter::create(&self.disk, &self.schema)?;
        let mut indices = Vec::with_capacity(chunk);
        for positions in order.chunks(chunk) {
            indices.clear();
            let mut key_bytes = 0;
            for &(b, r) in positions {
                indices.push((b as usize, r as usize));
                key_bytes += self.buffered[b as usize].1.row(r as usize).as_ref().len() + 8;
            }
            let out = compact(interleave_record_batch(&batches, &indices)?, 1);
            writer.write(&out, key_bytes)?;
        }
        drop(batches);
        let run = writer.finish()?;
        self.record_spill(&run);
        self.runs.push(run);
        self.buffered.clear();
        self.buffered_rows = 0;
        self.buffered_bytes = 0;
        self.reservation.resize(self.workspace);
        Ok(())
    }

    fn record_spill(&self, run: &Run) {
        self.metrics.spill_count.add(1);
        self.metrics
            .spilled_bytes
            .add(run.file.size().unwrap_or(0) as usize);
        self.metrics.spilled_rows.add(run.rows);
    }

    /// Nothing spilled: the buffer, sorted, in chunks.
    fn sorted_in_memory(mut self) -> BoxStream<'static, DfResult<RecordBatch>> {
        let order = self.sorted_order();
        let keys: usize = self.buffered.iter().map(|(_, rows)| rows.size()).sum();
        let chunk = self.chunk_rows(self.buffered_bytes + keys, self.buffered_rows);
        let mut keys_bytes = 0;
        let batches: Vec<RecordBatch> = std::mem::take(&mut self.buffered)
            .into_iter()
            .map(|(batch, rows)| {
                keys_bytes += rows.size();
                batch
            })
            .collect();
        self.reservation
            .shrink(keys_bytes.min(self.reservation.size()));
        let reservation = self.reservation;
        let baseline = self.metrics.baseline;
        let chunks = order.len().div_ceil(chunk);
        futures::stream::iter((0..chunks).map(move |i| {
            let _held = &reservation;
            let _timer = baseline.elapsed_compute().timer();
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            let indices: Vec<(usize, usize)> = order[i * chunk..((i + 1) * chunk).min(order.len())]
                .iter()
                .map(|&(b, r)| (b as usize, r as usize))
                .collect();
            let out = compact(interleave_record_batch(&refs, &indices)?, 1);
            Ok(out.record_output(&baseline))
        }))
        .boxed()
    }

    /// Merges the runs: as many at a time as fit, into longer runs until the rest fit at once,
    /// then streams that last merge.
    fn merge_runs(mut self) -> DfResult<BoxStream<'static, DfResult<RecordBatch>>> {
        loop {
            let mut take = 0;
            let mut need = 0;
            for run in self.runs.iter().take(MAX_FAN_IN) {
                if self.reservation.size() + need + run.merge_cost() > self.budget {
                    break;
                }
                need += run.merge_cost();
                take += 1;
            }
            while take >= 2 && self.reservation.try_grow(need).is_err() {
                take -= 1;
                need -= self.runs[take].merge_cost();
            }
            if take < 2 {
                let cost: Vec<usize> = self.runs.iter().take(2).map(Run::merge_cost).collect();
                return Err(resources(format!(
                    "a sort spilled {} runs and cannot merge two of them within the memory limit \
                     (they need {} and {} bytes; it holds {} of a share of {})",
                    self.runs.len(),
                    cost[0],
                    cost.get(1).copied().unwrap_or(0),
                    self.reservation.size(),
                    self.budget
                )));
            }
            let group: Vec<Run> = self.runs.drain(..take).collect();
            let (bytes, key_bytes, rows) = group.iter().fold((0, 0, 0), |(b, k, r), run| {
                (b + run.bytes, k + run.key_bytes, r + run.rows)
            });
            let chunk = self.chunk_rows(bytes + key_bytes, rows);
            let keys_per_row = key_bytes / rows.max(1);
            let merger = Merger::open(group, Arc::clone(&self.keys), chunk)?;
            if self.runs.is_empty() {
                let reservation = self.reservation;
                let baseline = self.metrics.baseline;
                let mut merger = merger;
                return Ok(futures::stream::iter(std::iter::from_fn(move || {
                    let _held = &reservation;
                    let _timer = baseline.elapsed_compute().timer();
                    Some(merger.next()?.map(|batch| batch.record_output(&baseline)))
                }))
                .boxed());
            }
            let mut writer = RunWriter::create(&self.disk, &self.schema)?;
            for batch in merger {
                let batch = batch?;
                writer.write(&batch, keys_per_row * batch.num_rows())?;
            }
            let run = writer.finish()?;
            self.record_spill(&run);
            self.runs.push(run);
            self.reservation.shrink(need);
        }
    }
}

/// Writes one sorted run.
struct RunWriter {
    file: Arc<dyn SpillFile>,
    writer: StreamWriter<BufWriter<Box<dyn SpillWriter>>>,
    rows: usize,
    bytes: usize,
    key_bytes: usize,
    largest: usize,
}

impl RunWriter {
    fn create(disk: &Arc<DiskManager>, schema: &SchemaRef) -> DfResult<Self> {
        let file = disk.create_tmp_file("sorting")?;
        let out = BufWriter::with_capacity(256 << 10, file.open_writer()?);
        Ok(Self {
            file,
            writer: StreamWriter::try_new(out, schema)?,
            rows: 0,
            bytes: 0,
            key_bytes: 0,
            largest: 0,
        })
    }

    fn write(&mut self, batch: &RecordBatch, key_bytes: usize) -> DfResult<()> {
        self.writer.write(batch)?;
        let bytes = batch.get_array_memory_size();
        self.rows += batch.num_rows();
        self.bytes += bytes;
        self.key_bytes += key_bytes;
        self.largest = self.largest.max(bytes + key_bytes);
        Ok(())
    }

    fn finish(mut self) -> DfResult<Run> {
        self.writer.finish()?;
        let mut out = self
            .writer
            .into_inner()?
            .into_inner()
            .map_err(|e| DataFusionError::IoError(e.into_error()))?;
        out.finish()?;
        Ok(Run {
            file: self.file,
            rows: self.rows,
            bytes: self.bytes,
            key_bytes: self.key_bytes,
            largest: self.largest,
        })
    }
}

/// A run being read during a merge: its current batch, that batch's keys and the position.
struct Cursor {
    reader: StreamReader<BufReader<File>>,
    batch: RecordBatch,
    rows: Rows,
    pos: usize,
}

impl Cursor {
    /// Reads the next non-empty batch; false at the end of the run.
    fn load(&mut self, keys: &Keys) -> DfResult<bool> {
        for batch in self.reader.by_ref() {
            let batch = batch?;
            if batch.num_rows() > 0 {
                self.rows = keys.of(&batch)?;
                self.batch = batch;
                self.pos = 0;
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// A k-way merge of sorted runs, in chunks of at most `chunk` rows. Ties go to the earlier run.
/// A chunk ends where a run's batch does, so each run holds one batch at a time.
struct Merger {
    cursors: Vec<Cursor>,
    /// A binary min-heap of cursor indices, by their current row.
    heap: Vec<usize>,
    /// The heap's top has used up its batch and reads the next one before the next chunk.
    reload: bool,
    keys: Arc<Keys>,
    chunk: usize,
    _runs: Vec<Run>,
}

impl Merger {
    fn open(runs: Vec<Run>, keys: Arc<Keys>, chunk: usize) -> DfResult<Self> {
        let mut cursors = Vec::with_capacity(runs.len());
        for run in &runs {
            let path = run.file.path().ok_or_else(|| {
                DataFusionError::NotImplemented(
                    "sorting with a spill store that is not a local directory".into(),
                )
            })?;
            let file = File::open(path)?;
            let reader = StreamReader::try_new(BufReader::with_capacity(READ_BUFFER, file), None)?;
            let schema = reader.schema();
            let mut cursor = Cursor {
                reader,
                batch: RecordBatch::new_empty(schema),
                rows: keys.converter.empty_rows(0, 0),
                pos: 0,
            };
            if cursor.load(&keys)? {
                cursors.push(cursor);
            }
        }
        let mut merger = Self {
            heap: (0..cursors.len()).collect(),
            reload: false,
            cursors,
            keys,
            chunk,
            _runs: runs,
        };
        for i in (0..merger.heap.len() / 2).rev() {
            merger.sift_down(i);
        }
        Ok(merger)
    }

    fn less(&self, a: usize, b: usize) -> bool {
        let (x, y) = (&self.cursors[a], &self.cursors[b]);
        x.rows.row(x.pos).cmp(&y.rows.row(y.pos)).then(a.cmp(&b)) == std::cmp::Ordering::Less
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut least = i;
            if l < self.heap.len() && self.less(self.heap[l], self.heap[least]) {
                least = l;
            }
            if r < self.heap.len() && self.less(self.heap[r], self.heap[least]) {
                least = r;
            }
            if least == i {
                return;
            }
            self.heap.swap(i, least);
            i = least;
        }
    }

    fn next_chunk(&mut self) -> DfResult<Option<RecordBatch>> {
        if std::mem::take(&mut self.reload) {
            if self.cursors[self.heap[0]].load(&self.keys)? {
                self.sift_down(0);
            } else {
                let last = self.heap.len() - 1;
                self.heap.swap(0, last);
                self.heap.pop();
                self.sift_down(0);
            }
        }
        if self.heap.is_empty() {
            return Ok(None);
        }
        let mut indices = Vec::with_capacity(self.chunk);
        while indices.len() < self.chunk {
            let top = self.heap[0];
            let cursor = &mut self.cursors[top];
            indices.push((top, cursor.pos));
            cursor.pos += 1;
            if cursor.pos == cursor.batch.num_rows() {
                self.reload = true;
                break;
            }
            self.sift_down(0);
        }
        let batches: Vec<&RecordBatch> = self.cursors.iter().map(|c| &c.batch).collect();
        Ok(Some(compact(
            interleave_record_batch(&batches, &indices)?,
            1,
        )))
    }
}

impl Iterator for Merger {
    type Item = DfResult<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_chunk().transpose()
    }
}

/// Rewrites string and binary view columns whose buffers hold more than `slack` times the
/// bytes their values use, so the batch is accounted (and spilled) by what it holds: a view
/// array made by sorting or merging still points at every buffer it was taken from, and one
/// read from Parquet may point into a whole decoded page.
fn compact(batch: RecordBatch, slack: usize) -> RecordBatch {
    let mut changed = false;
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|column| {
            let compacted = match column.data_type() {
                DataType::Utf8View => compact_views(column.as_string_view(), slack),
                DataType::BinaryView => compact_views(column.as_binary_view(), slack),
                _ => None,
            };
            changed |= compacted.is_some();
            compacted.unwrap_or_else(|| Arc::clone(column))
        })
        .collect();
    if !changed {
        return batch;
    }
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(batch.schema(), columns, &options).unwrap_or(batch)
}

/// The view array rewritten with only the bytes its values use, when its buffers hold more than
/// `slack` times that. What a buffer holds is its allocation: it may be a small slice of a large
/// one (the Parquet reader's views into a decoded dictionary page), which memory accounting
/// counts whole.
fn compact_views<T: ByteViewType>(
    array: &GenericByteViewArray<T>,
    slack: usize,
) -> Option<ArrayRef> {
    let held: usize = array
        .data_buffers()
        .iter()
        .map(|b| b.capacity().max(b.len()))
        .sum();
    (held > slack * array.total_buffer_bytes_used() + (4 << 10)).then(|| Arc::new(array.gc()) as _)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array, StringViewArray};
    use datafusion::arrow::compute::SortOptions;
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::execution::memory_pool::FairSpillPool;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::physical_expr::PhysicalSortExpr;
    use datafusion::physical_expr::expressions::col;
    use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// Two partitions of `batches` batches of 4096 rows: a nullable integer with many ties, a
    /// string of varying length (some past the 12 bytes a view holds inline), a float, and a
    /// unique id, in a scrambled order.
    fn input(batches: usize) -> (SchemaRef, Vec<Vec<RecordBatch>>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("s", DataType::Utf8View, true),
            Field::new("f", DataType::Float64, false),
            Field::new("id", DataType::Int64, false),
        ]));
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut id = 0i64;
        let mut parts = vec![Vec::new(), Vec::new()];
        for b in 0..batches {
            let n = 4096;
            let mut a = Vec::with_capacity(n);
            let mut s = Vec::with_capacity(n);
            let mut f = Vec::with_capacity(n);
            let mut ids = Vec::with_capacity(n);
            for _ in 0..n {
                let r = next();
                a.push((r % 10 != 0).then_some((r >> 8) as i64 % 50));
                s.push((r % 7 != 0).then(|| {
                    format!(
                        "{}{}",
                        "x".repeat((r >> 20) as usize % 30),
                        (r >> 32) % 1000
                    )
                }));
                f.push(((r >> 40) % 1000) as f64 / 7.0);
                ids.push(id);
                id += 1;
            }
            let batch = RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(Int64Array::from(a)),
                    Arc::new(StringViewArray::from(s)),
                    Arc::new(Float64Array::from(f)),
                    Arc::new(Int64Array::from(ids)),
                ],
            )
            .unwrap();
            parts[b % 2].push(batch);
        }
        (schema, parts)
    }

    /// `ORDER BY a DESC NULLS FIRST, s, f DESC, id` (a total order) over `input(batches)`,
    /// sorted per partition and merged, by DataFusion's SortExec or by ours under `limit`.
    async fn sorted(
        batches: usize,
        limit: Option<usize>,
    ) -> (Vec<RecordBatch>, Option<MetricsSet>) {
        let (schema, parts) = input(batches);
        let opt = |descending, nulls_first| SortOptions {
            descending,
            nulls_first,
        };
        let ordering = LexOrdering::new([
            PhysicalSortExpr::new(col("a", &schema).unwrap(), opt(true, true)),
            PhysicalSortExpr::new(col("s", &schema).unwrap(), opt(false, false)),
            PhysicalSortExpr::new(col("f", &schema).unwrap(), opt(true, false)),
            PhysicalSortExpr::new(col("id", &schema).unwrap(), opt(false, false)),
        ])
        .unwrap();
        let scan = MemorySourceConfig::try_new_exec(&parts, Arc::clone(&schema), None).unwrap();
        let mut sort: Arc<dyn ExecutionPlan> =
            Arc::new(SortExec::new(ordering.clone(), scan).with_preserve_partitioning(true));
        let mut runtime = RuntimeEnvBuilder::new();
        if let Some(limit) = limit {
            sort = SpillingSorts
                .optimize(sort, &ConfigOptions::default())
                .unwrap();
            assert_eq!(sort.name(), "SpillingSortExec");
            runtime = runtime.with_memory_pool(Arc::new(
                datafusion::execution::memory_pool::TrackConsumersPool::new(
                    FairSpillPool::new(limit),
                    std::num::NonZeroUsize::new(5).unwrap(),
                ),
            ));
        }
        let plan = Arc::new(SortPreservingMergeExec::new(ordering, Arc::clone(&sort)));
        let config = SessionConfig::new()
            // Small batches: the merge of the partitions above the sorts (DataFusion's) holds
            // a few output batches' worth, and the smallest limit here leaves it 1 MiB.
            .with_batch_size(2048)
            .with_target_partitions(2)
            .with_sort_spill_reservation_bytes(256 << 10);
        let ctx = SessionContext::new_with_config_rt(config, runtime.build_arc().unwrap());
        let out = datafusion::physical_plan::collect(plan, ctx.task_ctx())
            .await
            .unwrap();
        (out, sort.metrics())
    }

    fn concat(batches: &[RecordBatch]) -> RecordBatch {
        datafusion::arrow::compute::concat_batches(&batches[0].schema(), batches).unwrap()
    }

    fn count(metrics: &Option<MetricsSet>, f: fn(&MetricsSet) -> Option<usize>) -> usize {
        metrics.as_ref().and_then(f).unwrap_or(0)
    }

    #[tokio::test]
    async fn sorts_like_datafusion_in_memory_and_spilling_with_merge_passes() {
        let batches = 200; // 819,200 rows, about 40 MB in memory
        let (expected, _) = sorted(batches, None).await;
        let expected = concat(&expected);
        assert_eq!(expected.num_rows(), 200 * 4096);
        // Unbounded memory (nothing spills), a limit that spills runs merged in one pass, and
        // one so small that runs are merged into longer runs first.
        for (limit, spills, passes) in [
            (1 << 30, false, false),
            (64 << 20, true, false),
            (4 << 20, true, true),
        ] {
            let (out, metrics) = sorted(batches, Some(limit)).await;
            let out = concat(&out);
            assert_eq!(out, expected, "limit {limit}");
            let spilled_rows = count(&metrics, MetricsSet::spilled_rows);
            let spill_count = count(&metrics, MetricsSet::spill_count);
            eprintln!("limit {limit}: {spill_count} runs written, {spilled_rows} rows spilled");
            assert_eq!(spill_count > 0, spills, "limit {limit}: {spill_count} runs");
            // Each input row is spilled once in its first run; merge passes spill it again.
            assert_eq!(
                spilled_rows > out.num_rows(),
                passes,
                "limit {limit}: {spilled_rows} rows spilled"
            );
            if spills {
                assert_eq!(
                    count(&metrics, MetricsSet::output_rows),
                    out.num_rows(),
                    "limit {limit}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_limit_too_small_to_hold_a_batch_is_a_resources_error() {
        let (schema, parts) = input(4);
        let ordering =
            LexOrdering::new([PhysicalSortExpr::new_default(col("s", &schema).unwrap())]).unwrap();
        let scan = MemorySourceConfig::try_new_exec(&parts, schema, None).unwrap();
        let sort = SpillingSorts
            .optimize(
                Arc::new(SortExec::new(ordering, scan).with_preserve_partitioning(true)),
                &ConfigOptions::default(),
            )
            .unwrap();
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(200 << 10)))
            .build_arc()
            .unwrap();
        let ctx = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
        let err = datafusion::physical_plan::collect(sort, ctx.task_ctx())
            .await
            .unwrap_err();
        assert!(
            matches!(err.find_root(), DataFusionError::ResourcesExhausted(_)),
            "{err}"
        );
    }

    #[test]
    fn compacting_drops_the_buffers_view_arrays_still_point_at() {
        let strings: Vec<String> = (0..10_000)
            .map(|i| format!("a long string number {i:06}"))
            .collect();
        let array: ArrayRef = Arc::new(StringViewArray::from_iter_values(strings.iter()));
        let schema = Arc::new(Schema::new(vec![Field::new(
            "s",
            DataType::Utf8View,
            false,
        )]));
        let batch = RecordBatch::try_new(schema, vec![array]).unwrap();
        let few = interleave_record_batch(&[&batch], &[(0, 5), (0, 9_000), (0, 17)]).unwrap();
        let compacted = compact(few.clone(), 1);
        assert_eq!(compacted, few);
        assert!(few.get_array_memory_size() > 100_000);
        assert!(compacted.get_array_memory_size() < 4_096);
        // Views into a slice of a large allocation (as the Parquet reader makes for a
        // dictionary page) hold the whole allocation.
        let small = StringViewArray::from_iter_values(["a value longer than twelve bytes"; 3]);
        let mut big = small.data_buffers()[0].as_slice().to_vec();
        let used = big.len();
        big.resize(1 << 20, 0);
        let slice = datafusion::arrow::buffer::Buffer::from_vec(big).slice_with_length(0, used);
        let sliced = StringViewArray::try_new(small.views().clone(), vec![slice], None).unwrap();
        let sliced = RecordBatch::try_from_iter([("s", Arc::new(sliced) as ArrayRef)]).unwrap();
        assert!(sliced.get_array_memory_size() > 1 << 20);
        let compacted_slice = compact(sliced.clone(), 2);
        assert_eq!(compacted_slice, sliced);
        assert!(compacted_slice.get_array_memory_size() < 4_096);
        // Already compact: returned as it is.
        let again = compact(compacted.clone(), 1);
        assert!(
            again
                .column(0)
                .to_data()
                .ptr_eq(&compacted.column(0).to_data())
        );
    }
}
