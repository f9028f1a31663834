//! Smaller units of scan work, so that a core that finishes early helps the other:
//! [`SplitScanRanges`].
//!
//! DataFusion splits a file scan into one byte range per partition, and each partition's stream
//! reads its ranges in turn. Its streams share their queue of not-yet-opened ranges
//! (`execution.enable_file_stream_work_stealing`, on by default): a stream that has run out takes
//! the next range from the others. With one range per partition there is never anything left to
//! take, so a single large file (TPC-H's `lineitem.parquet`, 53 row groups) is scanned as two
//! fixed halves, and when one half goes slower (the other core ran the planner, an I/O thread or
//! another process meanwhile) the finished core waits. On 2 cores that wait was 50–70 ms of
//! q01's 300 ms: one core busy, the other idle (`perf sched timehist`).
//!
//! This rule cuts each partition's ranges into several smaller ones, in order, so the shared
//! queue always has work until the end: the scheduling DuckDB calls morsel-driven, one row
//! group or so at a time. A Parquet range reads the row groups whose middle lies inside it, so
//! every row group is still read exactly once, and ranges that hold none read nothing but the
//! (cached) footer. Scans that must keep their order or their partitioning are left as they are.

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::listing::{FileRange, PartitionedFile};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DfResult;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;

/// Ranges each partition's share of a scan is cut into.
const RANGES_PER_PARTITION: u64 = 16;
/// No range smaller than this (a Parquet row group is typically 1–128 MiB; a range holding no
/// row group's middle costs an open and a cached footer lookup).
const MIN_RANGE_BYTES: u64 = 2 << 20;

#[derive(Debug, Default)]
pub(crate) struct SplitScanRanges;

impl PhysicalOptimizerRule for SplitScanRanges {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if !config.execution.enable_file_stream_work_stealing {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
                return Ok(Transformed::no(node));
            };
            let Some(scan) = exec.data_source().downcast_ref::<FileScanConfig>() else {
                return Ok(Transformed::no(node));
            };
            let Some(groups) = split(scan) else {
                return Ok(Transformed::no(node));
            };
            let scan = FileScanConfigBuilder::from(scan.clone())
                .with_file_groups(groups)
                .build();
            let exec = exec.clone().with_data_source(Arc::new(scan));
            Ok(Transformed::yes(Arc::new(exec) as Arc<dyn ExecutionPlan>))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "skipper_split_scan_ranges"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `scan`'s file groups with every file range cut into pieces, or `None` to leave it alone:
/// when its streams do not share work (order kept, partitioning declared, a limit), when it has
/// a single partition (nobody to share with), or when nothing is large enough to cut.
fn split(scan: &FileScanConfig) -> Option<Vec<FileGroup>> {
    let partitions = scan.file_groups.len() as u64;
    if partitions < 2
        || scan.preserve_order
        || scan.output_partitioning.is_some()
        || scan.limit.is_some()
        || !scan.output_ordering.is_empty()
    {
        return None;
    }
    let total: u64 = scan
        .file_groups
        .iter()
        .flat_map(FileGroup::iter)
        .map(PartitionedFile::effective_size)
        .sum();
    let piece = (total / (partitions * RANGES_PER_PARTITION)).max(MIN_RANGE_BYTES);
    let mut changed = false;
    let groups = scan
        .file_groups
        .iter()
        .map(|group| {
            let files: Vec<PartitionedFile> = group
                .iter()
                .flat_map(|file| {
                    let pieces = cut(file, piece);
                    changed |= pieces.len() > 1;
                    pieces
                })
                .collect();
            FileGroup::new(files)
        })
        .collect();
    changed.then_some(groups)
}

/// `file`'s byte range in nearly equal consecutive pieces of about `piece` bytes. Only a file
/// DataFusion already gave a range is cut: its format reads ranges (Parquet by row group, CSV
/// and JSON by line); a whole file is left whole.
fn cut(file: &PartitionedFile, piece: u64) -> Vec<PartitionedFile> {
    if file.range.is_none() {
        return vec![file.clone()];
    }
    let (start, end) = file.range();
    let len = end.saturating_sub(start);
    let count = (len / piece).max(1);
    if count == 1 {
        return vec![file.clone()];
    }
    (0..count)
        .map(|i| {
            let mut part = file.clone();
            part.range = Some(FileRange {
                start: (start + len * i / count) as i64,
                end: (start + len * (i + 1) / count) as i64,
            });
            part
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64, range: Option<(i64, i64)>) -> PartitionedFile {
        let mut f = PartitionedFile::new("t/lineitem.parquet", size);
        f.range = range.map(|(start, end)| FileRange { start, end });
        f
    }

    #[test]
    fn pieces_cover_the_range_exactly_once_in_order() {
        let f = file(231_672_087, Some((115_836_043, 231_672_087)));
        let pieces = cut(&f, 7 << 20);
        assert_eq!(pieces.len(), 15);
        let mut at = 115_836_043;
        for p in &pieces {
            let r = p.range.as_ref().unwrap();
            assert_eq!(r.start, at);
            assert!(r.end > r.start);
            at = r.end;
        }
        assert_eq!(at, 231_672_087);
    }

    #[test]
    fn a_whole_file_and_a_small_range_stay_as_they_are() {
        let whole = cut(&file(10 << 20, None), 2 << 20);
        assert_eq!(whole.len(), 1);
        assert!(whole[0].range.is_none());
        let small = cut(&file(10 << 20, Some((0, 3 << 20))), 2 << 20);
        assert_eq!(small.len(), 1);
        assert_eq!(small[0].range.as_ref().unwrap().end, 3 << 20);
    }
}
