//! Plan fixes applied just before federation, so the SQL unparsed for a remote source is valid
//! in that source's dialect.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::logical_expr::{LogicalPlan, Projection, lit};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// `count(*)` over a join leaves a projection of no columns, which the unparser writes as
/// `SELECT FROM …`: valid in Postgres, a syntax error in SQLite and most other databases.
/// Project a constant instead; nothing above such a projection reads its columns.
#[derive(Debug)]
pub(super) struct NoEmptyProjections;

impl OptimizerRule for NoEmptyProjections {
    fn name(&self) -> &str {
        "skipper_no_empty_projections"
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        plan.transform_up(|node| match node {
            LogicalPlan::Projection(p) if p.expr.is_empty() => {
                let one = lit(1i64).alias("__skipper_one");
                Ok(Transformed::yes(LogicalPlan::Projection(
                    Projection::try_new(vec![one], p.input)?,
                )))
            }
            other => Ok(Transformed::no(other)),
        })
    }
}
