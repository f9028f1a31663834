//! Choosing the order of inner joins: [`ReorderInnerJoins`].
//!
//! DataFusion 55 joins the tables of a `FROM a, b, c WHERE …` in the order they are written
//! (skipping only cross products) and then picks each join's build side by size; it has no
//! cost-based join ordering. That order can be much worse than another: in TPC-H q05 it joins
//! customer and orders (228K rows) and then lineitem (911K rows) before the region filter
//! (`r_name = 'ASIA'`) reaches anything, where starting from region → nation → customer keeps a
//! fifth of the customers, and lineitem then probes 46K orders instead of 228K.
//!
//! This rule finds each tree of plain inner equi-joins (a *region*), estimates the rows of its
//! inputs from table statistics (row counts, min/max, filters), and searches every left-deep
//! order that joins connected inputs (dynamic programming over subsets, the textbook approach
//! of System R; DuckDB's optimizer is a refinement of it) for the one whose intermediate
//! results are smallest in sum. Join keys are closed under equality first: `c.n = s.n AND
//! s.n = n.n` also lets customer join nation directly, which is what makes that order possible.
//!
//! It changes no answer: inner equi-joins commute and associate, the implied equalities hold
//! on every row the original joins keep (a NULL key matches nothing either way), each residual
//! join condition is applied at the first join that has its columns, and a projection restores
//! the original column order. It is conservative: a region is left as written when any input
//! lacks statistics (a remote table, a CSV file), when it has a key that is not a plain column,
//! when it has more than [`MAX_INPUTS`] inputs, or when the best order is not clearly cheaper
//! than the written one by the same estimate ([`GAIN`]).

use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, JoinType, NullEquality, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    Between, BinaryExpr, Expr, Filter, Join, JoinConstraint, LogicalPlan, Operator, Projection,
};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use std::collections::HashMap;
use std::sync::Arc;

/// Regions with more inputs are left as written (the search is over 2^n subsets).
const MAX_INPUTS: usize = 12;
/// The chosen order must be estimated at most this fraction of the written order's cost.
const GAIN: f64 = 0.7;
/// Selectivity of a condition the estimate cannot read (`LIKE`, `OR`, functions).
const OPAQUE: f64 = 0.25;

#[derive(Debug, Default)]
pub(super) struct ReorderInnerJoins;

impl OptimizerRule for ReorderInnerJoins {
    fn name(&self) -> &str {
        "skipper_reorder_inner_joins"
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        optimize(plan)
    }
}

/// A join this rule may move: inner, on plain equalities (`filter` allowed), no `USING`.
fn movable(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Join(j)
        if j.join_type == JoinType::Inner
            && j.join_constraint == JoinConstraint::On
            && j.null_equality == NullEquality::NullEqualsNothing
            && !j.null_aware
            && !j.on.is_empty())
}

fn optimize(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    if !movable(&plan) {
        return plan.map_children(optimize);
    }
    match reorder(&plan)? {
        Some(better) => Ok(Transformed::yes(better)),
        None => plan.map_children(inside_region),
    }
}

/// Below a region's root: its joins stay, its inputs are optimized.
fn inside_region(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    if movable(&plan) {
        plan.map_children(inside_region)
    } else {
        optimize(plan)
    }
}

/// A region flattened: its inputs left to right, its key pairs, its residual conditions.
#[derive(Default)]
struct Region {
    inputs: Vec<Arc<LogicalPlan>>,
    keys: Vec<(Column, Column)>,
    residual: Vec<Expr>,
}

/// False when a key is not a plain column on each side.
fn flatten(plan: &Arc<LogicalPlan>, region: &mut Region) -> bool {
    match plan.as_ref() {
        LogicalPlan::Join(j) if movable(plan) => {
            for (l, r) in &j.on {
                match (l, r) {
                    (Expr::Column(l), Expr::Column(r)) => region.keys.push((l.clone(), r.clone())),
                    _ => return false,
                }
            }
            if let Some(f) = &j.filter {
                region
                    .residual
                    .extend(split_conjunction(f).into_iter().cloned());
            }
            flatten(&j.left, region) && flatten(&j.right, region)
        }
        _ => {
            region.inputs.push(Arc::clone(plan));
            true
        }
    }
}

/// Estimated output of one input: rows, and per output column its distinct values.
#[derive(Debug, Clone)]
struct Estimate {
    rows: f64,
    columns: HashMap<Column, ColumnEstimate>,
}

#[derive(Debug, Clone, Copy)]
struct ColumnEstimate {
    distinct: f64,
    /// `distinct` is from statistics or an integer range, not a guess.
    known: bool,
    /// Distinct values in the whole table, before any filter.
    base: f64,
    min: Option<f64>,
    max: Option<f64>,
}

fn reorder(root: &LogicalPlan) -> Result<Option<LogicalPlan>> {
    let mut region = Region::default();
    if !flatten(&Arc::new(root.clone()), &mut region) {
        return Ok(None);
    }
    let n = region.inputs.len();
    if !(3..=MAX_INPUTS).contains(&n) {
        return Ok(None);
    }
    let Some(estimates) = region
        .inputs
        .iter()
        .map(|p| estimate(p))
        .collect::<Option<Vec<_>>>()
    else {
        return Ok(None);
    };

    // Which input each column comes from.
    let mut owner: HashMap<Column, usize> = HashMap::new();
    for (i, input) in region.inputs.iter().enumerate() {
        for c in input.schema().columns() {
            owner.insert(c, i);
        }
    }
    // Equivalence classes of key columns (union-find over their indexes).
    let mut cols: Vec<Column> = Vec::new();
    let mut index: HashMap<Column, usize> = HashMap::new();
    let mut parent: Vec<usize> = Vec::new();
    let mut id = |c: &Column, cols: &mut Vec<Column>, parent: &mut Vec<usize>| {
        *index.entry(c.clone()).or_insert_with(|| {
            cols.push(c.clone());
            parent.push(parent.len());
            parent.len() - 1
        })
    };
    for (l, r) in &region.keys {
        if !owner.contains_key(l) || !owner.contains_key(r) {
            return Ok(None);
        }
        let (a, b) = (id(l, &mut cols, &mut parent), id(r, &mut cols, &mut parent));
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        parent[ra] = rb;
    }
    // class → its columns, as (input, column)
    let mut classes: HashMap<usize, Vec<(usize, Column)>> = HashMap::new();
    for (i, c) in cols.iter().enumerate() {
        let root = find(&mut parent, i);
        classes.entry(root).or_default().push((owner[c], c.clone()));
    }
    let mut classes: Vec<Vec<(usize, Column)>> = classes.into_values().collect();
    classes.sort_by_key(|members| index_of_first(members, &region.keys));
    // Residual conditions and the inputs they need.
    let mut residual: Vec<(u32, Expr)> = Vec::new();
    for e in &region.residual {
        let mut need = 0u32;
        for c in e.column_refs() {
            match owner.get(c) {
                Some(i) => need |= 1 << i,
                None => return Ok(None),
            }
        }
        residual.push((need, e.clone()));
    }

    let model = Model {
        estimates: &estimates,
        classes: &classes,
    };
    let written: Vec<usize> = (0..n).collect();
    let Some(written_cost) = model.cost(&written) else {
        return Ok(None);
    };
    let Some((best_cost, best)) = model.best() else {
        return Ok(None);
    };
    tracing::debug!(
        inputs = ?region.inputs.iter().zip(&estimates).map(|(p, e)| {
            let name = match p.as_ref() {
                LogicalPlan::TableScan(t) => t.table_name.to_string(),
                LogicalPlan::SubqueryAlias(a) => a.alias.to_string(),
                other => other.display().to_string(),
            };
            format!("{name}~{:.0}", e.rows)
        }).collect::<Vec<_>>(),
        written_cost,
        best_cost,
        order = ?best,
        "join order"
    );
    if best == written || best_cost > written_cost * GAIN {
        return Ok(None);
    }

    // Build the chosen order from the optimized inputs.
    let inputs = region
        .inputs
        .iter()
        .map(|p| optimize(p.as_ref().clone()).map(|t| Arc::new(t.data)))
        .collect::<Result<Vec<_>>>()?;
    let mut plan = Arc::clone(&inputs[best[0]]);
    let mut have = 1u32 << best[0];
    let mut placed = vec![false; residual.len()];
    for &x in &best[1..] {
        let mut on = Vec::new();
        for class in &classes {
            let Some((_, left)) = class.iter().find(|(i, _)| have & (1 << i) != 0) else {
                continue;
            };
            for (i, right) in class {
                if *i == x {
                    on.push((Expr::Column(left.clone()), Expr::Column(right.clone())));
                }
            }
        }
        have |= 1 << x;
        let mut filters = Vec::new();
        for (k, (need, e)) in residual.iter().enumerate() {
            if !placed[k] && need & !have == 0 {
                placed[k] = true;
                filters.push(e.clone());
            }
        }
        plan = Arc::new(LogicalPlan::Join(Join::try_new(
            plan,
            Arc::clone(&inputs[x]),
            on,
            conjunction(filters),
            JoinType::Inner,
            JoinConstraint::On,
            NullEquality::NullEqualsNothing,
            false,
        )?));
    }
    let rest: Vec<Expr> = residual
        .into_iter()
        .zip(placed)
        .filter(|(_, p)| !p)
        .map(|((_, e), _)| e)
        .collect();
    if let Some(rest) = conjunction(rest) {
        plan = Arc::new(LogicalPlan::Filter(Filter::try_new(rest, plan)?));
    }
    let columns = root
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    Ok(Some(LogicalPlan::Projection(Projection::try_new(
        columns, plan,
    )?)))
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Classes in the order their first key appears in the query, so that ties are broken the
/// same way every time.
fn index_of_first(members: &[(usize, Column)], keys: &[(Column, Column)]) -> usize {
    keys.iter()
        .position(|(l, r)| members.iter().any(|(_, c)| c == l || c == r))
        .unwrap_or(usize::MAX)
}

struct Model<'a> {
    estimates: &'a [Estimate],
    classes: &'a [Vec<(usize, Column)>],
}

impl Model<'_> {
    fn column(&self, i: usize, c: &Column) -> Option<&ColumnEstimate> {
        self.estimates[i].columns.get(c)
    }

    /// Distinct values of a class among the rows of the inputs in `set`. Every member's count
    /// is capped by the smallest whole-table count in the class: a foreign key's values are
    /// its parent's (lineitem's order keys span 6M integers but take the 1.5M of orders').
    fn distinct(&self, class: &[(usize, Column)], set: u32, rows: f64) -> Option<f64> {
        let domain = class
            .iter()
            .filter_map(|(i, c)| self.column(*i, c).map(|s| s.base))
            .reduce(f64::min)
            .unwrap_or(f64::INFINITY);
        class
            .iter()
            .filter(|(i, _)| set & (1 << i) != 0)
            .map(|(i, c)| {
                self.column(*i, c)
                    .map_or(self.estimates[*i].rows, |c| c.distinct)
            })
            .reduce(f64::min)
            .map(|d| d.min(domain).min(rows).max(1.0))
    }

    /// Rows of `set` (with `rows`) joined with input `x`; `None` when nothing connects them.
    fn join(&self, set: u32, rows: f64, x: usize) -> Option<f64> {
        let x_rows = self.estimates[x].rows;
        let mut divisors: Vec<f64> = Vec::new();
        for class in self.classes {
            let (Some(a), Some(b)) = (
                self.distinct(class, set, rows),
                self.distinct(class, 1 << x, x_rows),
            ) else {
                continue;
            };
            divisors.push(a.max(b));
        }
        if divisors.is_empty() {
            return None;
        }
        // The most selective key counts fully, each further one by a square root less (keys
        // are rarely independent: partsupp's (part, supplier) would otherwise be estimated to
        // match almost nothing).
        divisors.sort_by(|a, b| b.total_cmp(a));
        let divisor: f64 = divisors
            .iter()
            .enumerate()
            .map(|(k, d)| d.powf(0.5f64.powi(k as i32)))
            .product();
        Some((rows * x_rows / divisor).max(1.0))
    }

    /// Sum of intermediate rows of a left-deep order.
    fn cost(&self, order: &[usize]) -> Option<f64> {
        let mut set = 1u32 << order[0];
        let mut rows = self.estimates[order[0]].rows;
        let mut cost = 0.0;
        for &x in &order[1..] {
            rows = self.join(set, rows, x)?;
            set |= 1 << x;
            cost += rows;
        }
        Some(cost)
    }

    /// The cheapest left-deep order of connected joins.
    fn best(&self) -> Option<(f64, Vec<usize>)> {
        let n = self.estimates.len();
        let full = (1u32 << n) - 1;
        // per subset: (cost, rows, order)
        let mut best: Vec<Option<(f64, f64, Vec<usize>)>> = vec![None; 1 << n];
        for (i, e) in self.estimates.iter().enumerate() {
            best[1 << i] = Some((0.0, e.rows, vec![i]));
        }
        for set in 1..=full {
            let Some((cost, rows, order)) = best[set as usize].clone() else {
                continue;
            };
            for x in 0..n {
                if set & (1 << x) != 0 {
                    continue;
                }
                let Some(out) = self.join(set, rows, x) else {
                    continue;
                };
                let next = (set | (1 << x)) as usize;
                let total = cost + out;
                if best[next].as_ref().is_none_or(|(c, _, _)| total < *c) {
                    let mut o = order.clone();
                    o.push(x);
                    best[next] = Some((total, out, o));
                }
            }
        }
        best[full as usize].take().map(|(c, _, o)| (c, o))
    }
}

/// Estimated rows of `plan`'s output, where statistics reach it.
pub(super) fn estimated_rows(plan: &LogicalPlan) -> Option<f64> {
    estimate(plan).map(|e| e.rows)
}

/// Estimated rows of the inner equi-join of `a` and `b` on `a_key = b_key`, where statistics
/// reach both sides: `|a|·|b| / max(distinct a_key, distinct b_key)`.
pub(super) fn estimated_join_rows(
    a: &LogicalPlan,
    a_key: &Column,
    b: &LogicalPlan,
    b_key: &Column,
) -> Option<f64> {
    let (ea, eb) = (estimate(a)?, estimate(b)?);
    let distinct = |e: &Estimate, c: &Column| e.columns.get(c).map_or(e.rows, |s| s.distinct);
    let d = distinct(&ea, a_key)
        .min(ea.rows)
        .max(distinct(&eb, b_key).min(eb.rows))
        .max(1.0);
    Some(ea.rows * eb.rows / d)
}

/// Rows and column statistics of a plan's output, from table statistics through filters,
/// projections, aliases and aggregations; `None` for anything else.
fn estimate(plan: &LogicalPlan) -> Option<Estimate> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let provider = source_as_provider(&scan.source).ok()?;
            let stats = provider.statistics()?;
            let rows = *stats.num_rows.get_value()? as f64;
            let schema = provider.schema();
            let indexes: Vec<usize> = match &scan.projection {
                Some(p) => p.clone(),
                None => (0..schema.fields().len()).collect(),
            };
            let mut columns = HashMap::new();
            for (out, i) in scan.projected_schema.columns().into_iter().zip(indexes) {
                let Some(cs) = stats.column_statistics.get(i) else {
                    continue;
                };
                let min = cs.min_value.get_value().and_then(number);
                let max = cs.max_value.get_value().and_then(number);
                let integral = schema.field(i).data_type().is_integer()
                    || matches!(
                        schema.field(i).data_type(),
                        datafusion::arrow::datatypes::DataType::Date32
                    );
                let (distinct, known) = match (cs.distinct_count.get_value(), min, max) {
                    (Some(d), _, _) => (*d as f64, true),
                    (None, Some(lo), Some(hi)) if integral => ((hi - lo + 1.0).min(rows), true),
                    _ => (rows, false),
                };
                columns.insert(
                    out,
                    ColumnEstimate {
                        distinct: distinct.max(1.0),
                        known,
                        base: distinct.max(1.0),
                        min,
                        max,
                    },
                );
            }
            let mut e = Estimate { rows, columns };
            for f in &scan.filters {
                apply_filter(&mut e, f);
            }
            Some(e)
        }
        LogicalPlan::Filter(f) => {
            let mut e = estimate(&f.input)?;
            // An inexact filter pushed into a scan is also kept above it: count it once.
            let pushed: &[Expr] = match f.input.as_ref() {
                LogicalPlan::TableScan(scan) => &scan.filters,
                _ => &[],
            };
            let rest: Vec<Expr> = split_conjunction(&f.predicate)
                .into_iter()
                .filter(|c| !pushed.iter().any(|p| split_conjunction(p).contains(c)))
                .cloned()
                .collect();
            if let Some(rest) = conjunction(rest) {
                apply_filter(&mut e, &rest);
            }
            Some(e)
        }
        LogicalPlan::Projection(p) => {
            let input = estimate(&p.input)?;
            let mut columns = HashMap::new();
            for (expr, out) in p.expr.iter().zip(p.schema.columns()) {
                let inner = match expr {
                    Expr::Alias(a) => a.expr.as_ref(),
                    e => e,
                };
                if let Expr::Column(c) = inner
                    && let Some(s) = input.columns.get(c)
                {
                    columns.insert(out, *s);
                }
            }
            Some(Estimate {
                rows: input.rows,
                columns,
            })
        }
        LogicalPlan::SubqueryAlias(a) => {
            let input = estimate(&a.input)?;
            let columns = a
                .input
                .schema()
                .columns()
                .into_iter()
                .zip(a.schema.columns())
                .filter_map(|(from, to)| input.columns.get(&from).map(|s| (to, *s)))
                .collect();
            Some(Estimate {
                rows: input.rows,
                columns,
            })
        }
        LogicalPlan::Aggregate(a) => {
            let input = estimate(&a.input)?;
            let mut groups = 1.0f64;
            let mut columns = HashMap::new();
            for (expr, out) in a.group_expr.iter().zip(a.schema.columns()) {
                match expr {
                    Expr::Column(c) if input.columns.contains_key(c) => {
                        let s = input.columns[c];
                        groups *= s.distinct;
                        columns.insert(out, s);
                    }
                    _ => groups = f64::INFINITY,
                }
            }
            let rows = groups.min(input.rows).max(1.0);
            for s in columns.values_mut() {
                s.distinct = s.distinct.min(rows);
            }
            Some(Estimate { rows, columns })
        }
        // Semi and anti joins keep at most their preserved side's rows.
        LogicalPlan::Join(j) if matches!(j.join_type, JoinType::LeftSemi | JoinType::LeftAnti) => {
            estimate(&j.left)
        }
        LogicalPlan::Join(j)
            if matches!(j.join_type, JoinType::RightSemi | JoinType::RightAnti) =>
        {
            estimate(&j.right)
        }
        _ => None,
    }
}

/// A statistic or literal as a number on the column's own scale, where it has one.
fn number(v: &ScalarValue) -> Option<f64> {
    Some(match v {
        ScalarValue::Int8(Some(x)) => *x as f64,
        ScalarValue::Int16(Some(x)) => *x as f64,
        ScalarValue::Int32(Some(x)) => *x as f64,
        ScalarValue::Int64(Some(x)) => *x as f64,
        ScalarValue::UInt8(Some(x)) => *x as f64,
        ScalarValue::UInt16(Some(x)) => *x as f64,
        ScalarValue::UInt32(Some(x)) => *x as f64,
        ScalarValue::UInt64(Some(x)) => *x as f64,
        ScalarValue::Float32(Some(x)) => *x as f64,
        ScalarValue::Float64(Some(x)) => *x,
        ScalarValue::Date32(Some(x)) => *x as f64,
        ScalarValue::Date64(Some(x)) => *x as f64,
        ScalarValue::Decimal128(Some(x), _, s) => *x as f64 / 10f64.powi(*s as i32),
        _ => return None,
    })
}

/// Narrow an estimate by a predicate: equality by the column's distinct values, ranges by the
/// column's min/max, anything else by [`OPAQUE`].
fn apply_filter(e: &mut Estimate, predicate: &Expr) {
    // column → (low, high) bounds from range conditions
    let mut bounds: HashMap<Column, (Option<f64>, Option<f64>)> = HashMap::new();
    let mut factor = 1.0;
    for c in split_conjunction(predicate) {
        match c {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (col, lit, op) = match (left.as_ref(), right.as_ref()) {
                    (Expr::Column(c), Expr::Literal(v, _)) => (c, v, *op),
                    (Expr::Literal(v, _), Expr::Column(c)) => match op.swap() {
                        Some(op) => (c, v, op),
                        None => {
                            factor *= OPAQUE;
                            continue;
                        }
                    },
                    _ => {
                        factor *= OPAQUE;
                        continue;
                    }
                };
                match op {
                    Operator::Eq => {
                        factor /= distinct_for_equality(e, col);
                        if let Some(s) = e.columns.get_mut(col) {
                            s.distinct = 1.0;
                        }
                    }
                    Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {
                        let b = bounds.entry(col.clone()).or_default();
                        let v = number(lit);
                        if matches!(op, Operator::Lt | Operator::LtEq) {
                            b.1 = min_opt(b.1, v);
                        } else {
                            b.0 = max_opt(b.0, v);
                        }
                    }
                    Operator::NotEq => {}
                    _ => factor *= OPAQUE,
                }
            }
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) => match (expr.as_ref(), low.as_ref(), high.as_ref()) {
                (Expr::Column(col), Expr::Literal(lo, _), Expr::Literal(hi, _)) => {
                    let b = bounds.entry(col.clone()).or_default();
                    b.0 = max_opt(b.0, number(lo));
                    b.1 = min_opt(b.1, number(hi));
                }
                _ => factor *= OPAQUE,
            },
            Expr::InList(l) if !l.negated => match l.expr.as_ref() {
                Expr::Column(col) => {
                    let d = distinct_for_equality(e, col);
                    factor *= (l.list.len() as f64 / d).min(1.0);
                }
                _ => factor *= OPAQUE,
            },
            Expr::IsNotNull(_) => {}
            _ => factor *= OPAQUE,
        }
    }
    for (col, (lo, hi)) in bounds {
        let range = e.columns.get(&col).and_then(|s| Some((s.min?, s.max?)));
        factor *= match range {
            Some((min, max)) if max > min => {
                let lo = lo.map_or(min, |l| l.max(min));
                let hi = hi.map_or(max, |h| h.min(max));
                ((hi - lo) / (max - min)).clamp(0.0, 1.0)
            }
            _ => 1.0 / 3.0,
        };
    }
    e.rows = (e.rows * factor).max(1.0);
    for s in e.columns.values_mut() {
        s.distinct = s.distinct.min(e.rows);
    }
}

/// Distinct values to divide by for `col = literal`: the column's when known, else 10 (a
/// text column's statistics hold no distinct count; 1/10 is the usual guess).
fn distinct_for_equality(e: &Estimate, col: &Column) -> f64 {
    match e.columns.get(col) {
        Some(s) if s.known => s.distinct.max(1.0),
        _ => 10.0,
    }
}

fn min_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    fn column(distinct: f64, known: bool, range: Option<(f64, f64)>) -> ColumnEstimate {
        ColumnEstimate {
            distinct,
            known,
            base: distinct,
            min: range.map(|r| r.0),
            max: range.map(|r| r.1),
        }
    }

    fn input(rows: f64, columns: &[(&str, ColumnEstimate)]) -> Estimate {
        Estimate {
            rows,
            columns: columns
                .iter()
                .map(|(name, c)| (Column::from_qualified_name(*name), *c))
                .collect(),
        }
    }

    #[test]
    fn ranges_read_min_max_and_equality_reads_known_distinct_counts() {
        let base = input(
            1000.0,
            &[
                ("t.d", column(101.0, true, Some((0.0, 100.0)))),
                ("t.s", column(1000.0, false, None)),
            ],
        );
        let mut e = base.clone();
        apply_filter(
            &mut e,
            &col("t.d").gt_eq(lit(25i64)).and(col("t.d").lt(lit(75i64))),
        );
        assert_eq!(e.rows, 500.0);
        let mut e = base.clone();
        apply_filter(&mut e, &col("t.d").eq(lit(3i64)));
        assert!((e.rows - 1000.0 / 101.0).abs() < 1e-9, "{}", e.rows);
        // A text column's distinct count is a guess: 1/10, not 1/1000.
        let mut e = base.clone();
        apply_filter(&mut e, &col("t.s").eq(lit("x")));
        assert_eq!(e.rows, 100.0);
        let mut e = base;
        apply_filter(&mut e, &col("t.s").like(lit("%x%")));
        assert_eq!(e.rows, 1000.0 * OPAQUE);
    }

    #[test]
    fn a_foreign_key_takes_its_parents_domain_and_the_small_side_goes_first() {
        // fact.o spans 0..6000 but takes the 1500 values of dim.k; dim is filtered to 15 rows
        // and joins tiny on dim.t = tiny.k.
        let filtered_key = ColumnEstimate {
            distinct: 15.0,
            known: true,
            base: 1500.0,
            min: None,
            max: None,
        };
        let estimates = vec![
            input(
                6000.0,
                &[("fact.o", column(6000.0, true, Some((0.0, 5999.0))))],
            ),
            input(
                15.0,
                &[("dim.k", filtered_key), ("dim.t", column(5.0, true, None))],
            ),
            input(5.0, &[("tiny.k", column(5.0, true, None))]),
        ];
        let classes = vec![
            vec![
                (0, Column::from_qualified_name("fact.o")),
                (1, Column::from_qualified_name("dim.k")),
            ],
            vec![
                (1, Column::from_qualified_name("dim.t")),
                (2, Column::from_qualified_name("tiny.k")),
            ],
        ];
        let model = Model {
            estimates: &estimates,
            classes: &classes,
        };
        // Each fact row matches one of the 1500 parents: 6000 · 15 / 1500 = 60.
        assert_eq!(model.join(1 << 0, 6000.0, 1), Some(60.0));
        // fact and tiny share no key: they are not joined directly (no cross products).
        assert_eq!(model.join(1 << 0, 6000.0, 2), None);
        let (cost, order) = model.best().unwrap();
        assert_eq!(order[2], 0, "the fact table joins last: {order:?}");
        assert!(cost < model.cost(&[0, 1, 2]).unwrap());
    }
}
