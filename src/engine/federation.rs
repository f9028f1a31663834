//! Adjustments to datafusion-federation's choice of what runs remotely.

use datafusion::common::JoinType;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion_federation::FederatedPlanNode;

/// Undo federation of subtrees that only scan one table (scans, aliases, projections and
/// filters, no subqueries): the other side of a cross-source join. Left as plain table scans,
/// DataFusion's filter and projection pushdown then reaches them, so the source receives
/// `SELECT needed columns FROM t WHERE its filters` instead of every row and column.
///
/// Also undone: subtrees the federation unparser writes with a different meaning (found by the
/// Postgres compatibility corpus): null-aware anti joins (`NOT IN (subquery)`) and outer joins
/// whose preserved side carries pushed-down scan filters; mark joins (`x = ANY (subquery)`
/// under OR or in a projection), unparsed as EXISTS over an alias out of scope; and the
/// `first_value`/`last_value` aggregates `DISTINCT ON` plans into, which Postgres has only as
/// window functions (and whose ORDER BY the unparser drops); and decorrelated scalar
/// subqueries, whose aggregate the unparser leaves unnamed while the join refers to it by
/// DataFusion's name (`"__scalar_sq_1"."avg(x.salary)"`); and ROLLUP, CUBE and GROUPING SETS,
/// whose internal grouping id the unparser cannot write (an internal error); and VALUES lists,
/// which it cannot write at all. DataFusion runs those itself, its
/// scans still pushing their filters to the source.
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
            {
                // A bare scan, or a plan the unparser would write wrongly: run it here.
                if is_bare_scan(fed.plan())
                    || has_null_aware_anti_join(fed.plan())
                    || has_filtered_preserved_side(fed.plan())
                    || has_mark_join(fed.plan())
                    || has_decorrelated_scalar_subquery(fed.plan())
                    || has_grouping_sets(fed.plan())
                    || has_ordered_pick_aggregate(fed.plan())
                    || has_values(fed.plan())
                {
                    return Ok(Transformed::yes(fed.plan().clone()));
                }
                if let Some(plan) = source_named_aliases(fed.plan())? {
                    let node = FederatedPlanNode::new(plan, std::sync::Arc::clone(&fed.planner));
                    return Ok(Transformed::yes(LogicalPlan::Extension(
                        datafusion::logical_expr::Extension {
                            node: std::sync::Arc::new(node),
                        },
                    )));
                }
            }
            Ok(Transformed::no(node))
        })
    }
}

/// datafusion-federation renames a federated plan's tables to their names in the source
/// (`pg.shop.customers` to `shop.customers`), and with them the columns and recomputed
/// expression names that mention them, but not alias names. Type coercion aliases an expression
/// it changes to its old name, so `count(*) FILTER (WHERE id > 20) FROM pg.shop.customers` had an
/// aggregate still named after `pg.shop.customers.id` under a projection that, renamed, asked
/// for `shop.customers.id`: "No field named …", for any aggregate over a coerced expression
/// (CASE, FILTER, comparisons with a literal of another type) of a table named with its catalog.
/// Such aliases, and the columns that refer to them, are renamed here the same way first (all
/// but those naming the plan's output).
fn source_named_aliases(plan: &LogicalPlan) -> Result<Option<LogicalPlan>> {
    use std::collections::HashMap;
    let mut renames: Vec<(String, String)> = Vec::new();
    plan.apply(|p| {
        if let LogicalPlan::TableScan(scan) = p
            && let Some(source) = datafusion_federation::get_table_source(&scan.source)?
            && let Some(sql) = (source.as_ref() as &dyn std::any::Any)
                .downcast_ref::<datafusion_federation::sql::SQLTableSource>()
        {
            let remote = sql.table_reference().to_string();
            let local = scan.table_name.to_string();
            if remote != local {
                renames.push((local, remote));
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    if renames.is_empty() {
        return Ok(None);
    }
    let rename = |name: &str| {
        renames
            .iter()
            .fold(name.to_string(), |n, (from, to)| replace_name(&n, from, to))
    };
    // Old alias name to new, as the aliases are met bottom up.
    let mut renamed: HashMap<String, String> = HashMap::new();
    let rewritten = keep_output_names(plan.clone(), &rename, &mut renamed)?;
    Ok(rewritten.transformed.then_some(rewritten.data))
}

/// Renames below the node that names the plan's output columns (under any sorts, limits,
/// filters, DISTINCT and subquery aliases on top), whose own aliases keep their names so the
/// plan's output does.
fn keep_output_names(
    plan: LogicalPlan,
    rename: &dyn Fn(&str) -> String,
    renamed: &mut std::collections::HashMap<String, String>,
) -> Result<Transformed<LogicalPlan>> {
    use datafusion::logical_expr::Distinct;
    let passes_names = matches!(
        plan,
        LogicalPlan::Limit(_)
            | LogicalPlan::Sort(_)
            | LogicalPlan::Filter(_)
            | LogicalPlan::SubqueryAlias(_)
            | LogicalPlan::Distinct(Distinct::All(_))
    );
    let below = if passes_names {
        plan.map_children(|c| keep_output_names(c, rename, renamed))?
    } else {
        plan.map_children(|c| c.transform_up(|node| rename_in_node(node, rename, renamed, true)))?
    };
    let node = below.transformed;
    let this = rename_in_node(below.data, rename, renamed, false)?;
    if node && !this.transformed {
        return this.data.recompute_schema().map(Transformed::yes);
    }
    Ok(this)
}

/// `node` with its aliases renamed by `rename` (when `aliases`), and its columns that name a
/// renamed alias following it.
fn rename_in_node(
    node: LogicalPlan,
    rename: &dyn Fn(&str) -> String,
    renamed: &mut std::collections::HashMap<String, String>,
    aliases: bool,
) -> Result<Transformed<LogicalPlan>> {
    use datafusion::common::Column;
    // The output node's expressions keep their names (a column renamed is aliased back).
    let names = datafusion::logical_expr::expr_rewriter::NamePreserver::new(&node);
    let changed = node.map_expressions(|e| {
        let name = (!aliases).then(|| names.save(&e));
        let e = e.transform_up(|x| match x {
            Expr::Alias(mut a) if aliases => {
                let new = rename(&a.name);
                if new == a.name {
                    return Ok(Transformed::no(Expr::Alias(a)));
                }
                renamed.insert(a.name.clone(), new.clone());
                a.name = new;
                Ok(Transformed::yes(Expr::Alias(a)))
            }
            Expr::Column(c) if c.relation.is_none() && renamed.contains_key(&c.name) => {
                let name = renamed[&c.name].clone();
                Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
                    name,
                ))))
            }
            other => Ok(Transformed::no(other)),
        })?;
        Ok(match name {
            Some(name) => e.update_data(|e| name.restore(e)),
            None => e,
        })
    })?;
    if changed.transformed {
        changed.data.recompute_schema().map(Transformed::yes)
    } else {
        Ok(changed)
    }
}

/// `name` with each whole occurrence of the table name `from` (not part of a longer name)
/// replaced by `to`.
fn replace_name(name: &str, from: &str, to: &str) -> String {
    let part = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find(from) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + from.len()..].chars().next();
        out.push_str(&rest[..i]);
        if part(before) || before == Some('.') || part(after) {
            out.push_str(from);
        } else {
            out.push_str(to);
        }
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
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

/// `x NOT IN (subquery)` becomes a null-aware anti join, which the unparser writes as
/// `NOT EXISTS`: a NULL in the subquery then no longer empties the result (495 rows instead
/// of 0 in our corpus). DataFusion evaluates it correctly itself.
fn has_null_aware_anti_join(plan: &LogicalPlan) -> bool {
    plan.exists(|p| Ok(matches!(p, LogicalPlan::Join(j) if j.null_aware)))
        .unwrap_or(true)
}

/// Filters pushed into a table scan are unparsed into the ON clause when the scan is a side
/// of a join; for the preserved side of an outer join that keeps the rows the filter removes
/// (a LATERAL subquery's outer WHERE: 500 rows instead of 15 in our corpus).
fn has_filtered_preserved_side(plan: &LogicalPlan) -> bool {
    let filtered = |p: &LogicalPlan| {
        p.exists(|n| Ok(matches!(n, LogicalPlan::TableScan(t) if !t.filters.is_empty())))
            .unwrap_or(true)
    };
    plan.exists(|p| {
        Ok(match p {
            LogicalPlan::Join(j) => match j.join_type {
                JoinType::Left | JoinType::LeftAnti | JoinType::LeftSemi | JoinType::LeftMark => {
                    filtered(&j.left)
                }
                JoinType::Right
                | JoinType::RightAnti
                | JoinType::RightSemi
                | JoinType::RightMark => filtered(&j.right),
                JoinType::Full => filtered(&j.left) || filtered(&j.right),
                JoinType::Inner => false,
            },
            _ => false,
        })
    })
    .unwrap_or(true)
}

fn has_mark_join(plan: &LogicalPlan) -> bool {
    plan.exists(|p| {
        Ok(matches!(p, LogicalPlan::Join(j)
            if matches!(j.join_type, JoinType::LeftMark | JoinType::RightMark)))
    })
    .unwrap_or(true)
}

fn has_decorrelated_scalar_subquery(plan: &LogicalPlan) -> bool {
    plan.exists(|p| {
        Ok(matches!(p, LogicalPlan::SubqueryAlias(a)
            if a.alias.table().starts_with("__scalar_sq_")))
    })
    .unwrap_or(true)
}

fn has_grouping_sets(plan: &LogicalPlan) -> bool {
    plan.exists(|p| {
        Ok(matches!(p, LogicalPlan::Aggregate(a)
            if a.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_)))))
    })
    .unwrap_or(true)
}

fn has_ordered_pick_aggregate(plan: &LogicalPlan) -> bool {
    plan.exists(|p| {
        Ok(match p {
            LogicalPlan::Aggregate(a) => a.aggr_expr.iter().any(|e| {
                e.exists(|e| {
                    Ok(matches!(e, Expr::AggregateFunction(f)
                        if matches!(f.func.name(), "first_value" | "last_value")))
                })
                .unwrap_or(true)
            }),
            _ => false,
        })
    })
    .unwrap_or(true)
}

/// A VALUES list (joined, or in a union, with a source's tables): the unparser cannot write one
/// inside a query ("Unsupported operator: Values").
fn has_values(plan: &LogicalPlan) -> bool {
    plan.exists(|p| Ok(matches!(p, LogicalPlan::Values(_))))
        .unwrap_or(false)
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
