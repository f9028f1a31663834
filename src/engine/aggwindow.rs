//! A correlated aggregate over the outer query's own table, computed as a window over the rows
//! the outer query keeps: [`AggregateJoinToWindow`].
//!
//! TPC-H q17 asks for the lineitems of a few parts whose quantity is below a fifth of *that
//! part's* average quantity:
//!
//! ```sql
//! SELECT … FROM lineitem, part WHERE p_partkey = l_partkey AND p_brand = … AND p_container = …
//!   AND l_quantity < (SELECT 0.2 * avg(l_quantity) FROM lineitem WHERE l_partkey = p_partkey)
//! ```
//!
//! DataFusion decorrelates the subquery into an aggregation of all of lineitem by part, joined
//! back on the part key: lineitem is read and decoded twice, the second time all 6 million rows
//! to keep the few thousand of 204 parts. The rows that aggregation needs are the rows the outer
//! join already has: every lineitem of every part the outer query keeps. So the average can be
//! computed over those rows instead, as `avg(l_quantity) OVER (PARTITION BY p_partkey)`, and the
//! second read disappears. This is the rewrite Oracle calls *subquery removal using window
//! functions* (Bellamkonda et al., "Enhanced Subquery Optimizations in Oracle", VLDB 2009).
//!
//! It changes no answer where it applies, and it applies only where that can be shown from the
//! plan's shape:
//! * the join is inner or left-semi, on one equality `a = r.k`, where `r` groups one table `T`
//!   by the single column `k` (through projections and an alias only);
//! * the other side `L` is `T ⋈ D` on `T.k = D.k'` alone (through column-only projections),
//!   with `T` scanned with the same filters as in the subquery, and `a` is `T.k` or `D.k'`.
//!   Then `L`'s rows with `a = v` are exactly `T`'s rows with `k = v`, each repeated once per row
//!   of `D` with `k' = v`: the same number of times for every row of the partition;
//! * every aggregate is `min`, `max` or an `avg` of an exact number (decimal), which a uniform
//!   repetition leaves unchanged (`sum`/`count` would not be, a float `avg` could differ in its
//!   last bits), with no `DISTINCT`, `FILTER` or `ORDER BY`;
//! * for each `L` row the group `r.k = a` exists (its own `T` row is in it), so the semi join's
//!   condition becomes the residual filter evaluated on the window's values.
//!
//! The window sorts `L` by `a`; that pays only where `L` is small next to `T`, so the rule also
//! requires `L` to be estimated (from Parquet statistics, as the join ordering does) at most
//! [`SMALL`] of `T`'s rows, and leaves the plan as it is where estimates are missing.

use super::joinorder::{estimated_join_rows, estimated_rows};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, JoinType, NullEquality, TableReference};
use datafusion::error::Result;
use datafusion::logical_expr::expr::{WindowFunction, WindowFunctionParams};
use datafusion::logical_expr::{
    Aggregate, Expr, ExprSchemable, Filter, Join, JoinConstraint, LogicalPlan, Projection,
    TableScan, Window, WindowFrame, WindowFunctionDefinition,
};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use std::sync::Arc;

/// The outer rows must be estimated at most this fraction of the table's rows: sorting a row
/// for the window costs a few times what reading and aggregating it again would.
const SMALL: f64 = 0.25;

#[derive(Debug, Default)]
pub(super) struct AggregateJoinToWindow;

impl OptimizerRule for AggregateJoinToWindow {
    fn name(&self) -> &str {
        "skipper_aggregate_join_to_window"
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        plan.transform_up(|plan| {
            let LogicalPlan::Join(join) = &plan else {
                return Ok(Transformed::no(plan));
            };
            match as_window(join) {
                Some(rewritten) => {
                    tracing::debug!(
                        target: "skipper::engine",
                        "correlated aggregate computed as a window:\n{rewritten}"
                    );
                    Ok(Transformed::yes(rewritten))
                }
                None => Ok(Transformed::no(plan)),
            }
        })
    }
}

/// `plan` below any projections that only pass columns through (names unchanged).
fn below_column_projections(mut plan: &LogicalPlan) -> &LogicalPlan {
    while let LogicalPlan::Projection(p) = plan
        && p.expr.iter().all(|e| matches!(e, Expr::Column(_)))
    {
        plan = p.input.as_ref();
    }
    plan
}

/// The aggregate side: `[alias] [projection] aggregate(group by k) over a scan`.
struct Grouped<'a> {
    /// Each output column: its qualifier, name and expression over the aggregate's output.
    outputs: Vec<(Option<TableReference>, String, Expr)>,
    aggregate: &'a Aggregate,
    scan: &'a TableScan,
    key: &'a Column,
}

fn grouped(plan: &LogicalPlan) -> Option<Grouped<'_>> {
    let inner = match plan {
        LogicalPlan::SubqueryAlias(a) => a.input.as_ref(),
        p => p,
    };
    let (exprs, aggregate) = match inner {
        LogicalPlan::Projection(Projection { expr, input, .. }) => match input.as_ref() {
            LogicalPlan::Aggregate(a) => (expr.clone(), a),
            _ => return None,
        },
        LogicalPlan::Aggregate(a) => (
            a.schema.columns().into_iter().map(Expr::Column).collect(),
            a,
        ),
        _ => return None,
    };
    let [Expr::Column(key)] = aggregate.group_expr.as_slice() else {
        return None;
    };
    let LogicalPlan::TableScan(scan) = below_column_projections(&aggregate.input) else {
        return None;
    };
    let outputs = plan
        .schema()
        .iter()
        .zip(exprs)
        .map(|((q, f), e)| (q.cloned(), f.name().clone(), e))
        .collect();
    Some(Grouped {
        outputs,
        aggregate,
        scan,
        key,
    })
}

/// The same table read the same way: name, filters, no limit.
fn same_read(a: &TableScan, b: &TableScan) -> bool {
    a.table_name == b.table_name
        && a.fetch.is_none()
        && b.fetch.is_none()
        && a.filters.len() == b.filters.len()
        && a.filters.iter().all(|f| b.filters.contains(f))
}

/// The outer side `L = T ⋈ D on T.k = D.k'`: the inputs holding `T` and `D`, and their keys.
fn outer_join<'a>(
    plan: &'a LogicalPlan,
    table: &TableScan,
    key: &Column,
) -> Option<(&'a LogicalPlan, &'a Column, &'a LogicalPlan, &'a Column)> {
    let LogicalPlan::Join(j) = below_column_projections(plan) else {
        return None;
    };
    if j.join_type != JoinType::Inner
        || j.join_constraint != JoinConstraint::On
        || j.null_equality != NullEquality::NullEqualsNothing
        || j.null_aware
        || j.filter.is_some()
    {
        return None;
    }
    let [(Expr::Column(lk), Expr::Column(rk))] = j.on.as_slice() else {
        return None;
    };
    let reads = |p: &LogicalPlan| matches!(below_column_projections(p), LogicalPlan::TableScan(s) if same_read(s, table));
    if reads(&j.left) && lk == key {
        Some((j.left.as_ref(), lk, j.right.as_ref(), rk))
    } else if reads(&j.right) && rk == key {
        Some((j.right.as_ref(), rk, j.left.as_ref(), lk))
    } else {
        None
    }
}

/// The join computed as a window over its outer side, or `None` where the rule does not apply.
fn as_window(join: &Join) -> Option<LogicalPlan> {
    if !matches!(join.join_type, JoinType::Inner | JoinType::LeftSemi)
        || join.join_constraint != JoinConstraint::On
        || join.null_equality != NullEquality::NullEqualsNothing
        || join.null_aware
    {
        return None;
    }
    let [(Expr::Column(a), Expr::Column(b))] = join.on.as_slice() else {
        return None;
    };
    let r = grouped(&join.right)?;
    let group_output = r.aggregate.schema.columns().into_iter().next()?;
    // `b` must be the group key itself.
    let (_, _, b_expr) = r
        .outputs
        .iter()
        .find(|(q, name, _)| q.as_ref() == b.relation.as_ref() && *name == b.name)?;
    if !matches!(b_expr.clone().unalias(), Expr::Column(c) if c == group_output) {
        return None;
    }
    let (t_side, t_key, d_side, d_key) = outer_join(&join.left, r.scan, r.key)?;
    if a != t_key && a != d_key {
        return None;
    }
    let outer_rows = estimated_join_rows(t_side, t_key, d_side, d_key)?;
    let table_rows = estimated_rows(&r.aggregate.input)?;
    if outer_rows > SMALL * table_rows {
        return None;
    }

    let l = &join.left;
    let partition = Expr::Column(a.clone());
    // What each aggregate output column becomes: the partition key for the group column, a
    // window column for each aggregate.
    let mut replacement = vec![(group_output, partition.clone())];
    let mut windows = Vec::new();
    for (e, out) in r
        .aggregate
        .aggr_expr
        .iter()
        .zip(r.aggregate.schema.columns().into_iter().skip(1))
    {
        let Expr::AggregateFunction(f) = e.clone().unalias() else {
            return None;
        };
        let p = &f.params;
        if p.distinct || p.filter.is_some() || !p.order_by.is_empty() {
            return None;
        }
        let exact = match f.func.name() {
            "min" | "max" => true,
            "avg" => p.args.iter().all(|arg| {
                matches!(
                    arg.get_type(r.aggregate.input.schema()),
                    Ok(DataType::Decimal128(..) | DataType::Decimal256(..))
                )
            }),
            _ => false,
        };
        // The arguments must be columns of `T` that `L` still carries.
        if !exact
            || !p
                .args
                .iter()
                .all(|arg| matches!(arg, Expr::Column(c) if l.schema().has_column(c)))
        {
            return None;
        }
        let window = Expr::WindowFunction(Box::new(WindowFunction {
            fun: WindowFunctionDefinition::AggregateUDF(Arc::clone(&f.func)),
            params: WindowFunctionParams {
                args: p.args.clone(),
                partition_by: vec![partition.clone()],
                order_by: vec![],
                window_frame: WindowFrame::new(None),
                filter: None,
                null_treatment: p.null_treatment,
                distinct: false,
            },
        }));
        let name = window.schema_name().to_string();
        if l.schema().fields().iter().any(|f| *f.name() == name) {
            return None;
        }
        replacement.push((out, Expr::Column(Column::new_unqualified(name))));
        windows.push(window);
    }

    let window = LogicalPlan::Window(Window::try_new(windows, Arc::clone(l)).ok()?);
    let mut exprs: Vec<Expr> = l.schema().columns().into_iter().map(Expr::Column).collect();
    for (qualifier, name, e) in &r.outputs {
        let e = e
            .clone()
            .transform(|e| match &e {
                Expr::Column(c) => match replacement.iter().find(|(from, _)| from == c) {
                    Some((_, to)) => Ok(Transformed::yes(to.clone())),
                    None => Ok(Transformed::no(e)),
                },
                _ => Ok(Transformed::no(e)),
            })
            .ok()?
            .data;
        exprs.push(e.unalias().alias_qualified(qualifier.clone(), name));
    }
    let mut plan = LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(window)).ok()?);
    if let Some(condition) = &join.filter {
        plan = LogicalPlan::Filter(Filter::try_new(condition.clone(), Arc::new(plan)).ok()?);
    }
    let columns = join
        .schema
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    Some(LogicalPlan::Projection(
        Projection::try_new(columns, Arc::new(plan)).ok()?,
    ))
}
