//! Adjustments to datafusion-federation's choice of what runs remotely.

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion_federation::FederatedPlanNode;

/// Undo federation of subtrees that only scan one table (scans, aliases, projections and
/// filters, no subqueries): the other side of a cross-source join. Left as plain table scans,
/// DataFusion's filter and projection pushdown then reaches them, so the source receives
/// `SELECT needed columns FROM t WHERE its filters` instead of every row and column.
#[derive(Debug)]
pub(super) struct UnfederateBareScans;

impl OptimizerRule for UnfederateBareScans {
    fn name(&self) -> &str {
        "skipper_unfederate_bare_scans"
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        plan.transform_up(|node| {
            if let LogicalPlan::Extension(ext) = &node
                && let Some(fed) = ext.node.as_any().downcast_ref::<FederatedPlanNode>()
                && is_bare_scan(fed.plan())
            {
                return Ok(Transformed::yes(fed.plan().clone()));
            }
            Ok(Transformed::no(node))
        })
    }
}

fn is_bare_scan(plan: &LogicalPlan) -> bool {
    let mut bare = true;
    let mut scans = 0;
    let _ = plan.apply(|p| {
        let ok = match p {
            LogicalPlan::TableScan(_) => {
                scans += 1;
                true
            }
            LogicalPlan::SubqueryAlias(_) | LogicalPlan::Projection(_) | LogicalPlan::Filter(_) => {
                p.expressions().iter().all(|e| !has_subquery(e))
            }
            _ => false,
        };
        if ok {
            Ok(TreeNodeRecursion::Continue)
        } else {
            bare = false;
            Ok(TreeNodeRecursion::Stop)
        }
    });
    bare && scans == 1
}

fn has_subquery(e: &Expr) -> bool {
    e.exists(|e| {
        Ok(matches!(
            e,
            Expr::ScalarSubquery(_) | Expr::InSubquery(_) | Expr::Exists(_)
        ))
    })
    .unwrap_or(true)
}
