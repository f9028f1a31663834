//! `EXCEPT ALL` and `INTERSECT ALL` with multiset semantics, for the queries DataFusion plans
//! itself. DataFusion 55 plans them as an anti or semi join without DISTINCT, so
//! `{1, 1, 2, 3} EXCEPT ALL {1, 3}` gave `{2}` (Postgres: `{1, 2}`) and
//! `{1, 1, 1, 3} INTERSECT ALL {1, 1, 3, 3}` gave `{1, 1, 1, 3}` (Postgres: `{1, 1, 3}`).
//! Numbering the copies of each row on both sides (`row_number() OVER (PARTITION BY every
//! column)`) makes every copy distinct; the DISTINCT set operation on (row, number) then keeps
//! the copies numbered past the other side's count (EXCEPT: max(k − m, 0)) or up to it
//! (INTERSECT: min(k, m)), as SQL defines. NULLs are equal both in partitions and in set
//! operations, as in Postgres. The rewrite needs the left side's column names from the SQL
//! (`*` or an unnamed expression there leaves the statement to DataFusion as it was).

use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, Projection, Union};
use datafusion::sql::sqlparser::ast::{
    Expr as A, Ident, Query, SelectItem, SetExpr, SetOperator, SetQuantifier, Statement, VisitMut,
    VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use std::ops::ControlFlow;
use std::sync::Arc;

pub(super) fn multiset_operations(statement: &mut Statement) {
    struct V;
    impl VisitorMut for V {
        type Break = ();
        fn post_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            rewrite(&mut q.body);
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V);
}

fn rewrite(body: &mut SetExpr) {
    let SetExpr::SetOperation {
        op,
        set_quantifier,
        left,
        right,
    } = body
    else {
        return;
    };
    rewrite(left);
    rewrite(right);
    if !matches!(op, SetOperator::Except | SetOperator::Intersect)
        || *set_quantifier != SetQuantifier::All
    {
        return;
    }
    let Some(names) = output_names(left) else {
        return;
    };
    let cols = names
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let numbered = |side: &SetExpr, alias: &str| {
        format!(
            "SELECT {cols}, row_number() OVER (PARTITION BY {cols}) AS __set_rn \
             FROM ({side}) AS {alias}({cols})"
        )
    };
    let sql = format!(
        "SELECT {cols} FROM ({} {op} {}) AS __set",
        numbered(left, "__set_l"),
        numbered(right, "__set_r"),
    );
    let parsed = Parser::parse_sql(&PostgreSqlDialect {}, &sql);
    if let Ok(mut statements) = parsed
        && let Some(Statement::Query(q)) = statements.pop()
    {
        *body = *q.body;
    }
}

/// The column names a query body returns, when its SQL states every one (distinct).
pub(super) fn output_names(body: &SetExpr) -> Option<Vec<Ident>> {
    let names: Vec<Ident> = match body {
        SetExpr::Select(s) => s
            .projection
            .iter()
            .map(|item| match item {
                SelectItem::ExprWithAlias { alias, .. } => Some(alias.clone()),
                SelectItem::UnnamedExpr(A::Identifier(i)) => Some(i.clone()),
                SelectItem::UnnamedExpr(A::CompoundIdentifier(p)) => p.last().cloned(),
                _ => None,
            })
            .collect::<Option<_>>()?,
        SetExpr::Query(q) => output_names(&q.body)?,
        SetExpr::SetOperation { left, .. } => output_names(left)?,
        _ => return None,
    };
    let mut seen: Vec<String> = names.iter().map(|i| i.value.to_lowercase()).collect();
    seen.sort();
    seen.dedup();
    (seen.len() == names.len()).then_some(names)
}

/// `UNION` of a float column with a numeric one is a double precision in Postgres (float8 is
/// its numeric category's preferred type; with only `real` floats, the union is `real`), where
/// DataFusion 55 makes it a decimal (`Decimal128(30, 15)` for float8 with numeric(3,2)), which
/// rounds the floats to 15 places and prints `0.100000000000000`. This analyzer rule, run just
/// before type coercion, casts such union inputs to the float type, so coercion finds them
/// agreeing.
#[derive(Debug)]
pub(super) struct FloatUnions;

impl datafusion::optimizer::AnalyzerRule for FloatUnions {
    fn name(&self) -> &str {
        "skipper_float_unions"
    }

    fn analyze(
        &self,
        plan: LogicalPlan,
        _config: &datafusion::config::ConfigOptions,
    ) -> DfResult<LogicalPlan> {
        use datafusion::common::tree_node::Transformed;
        let mut changed = false;
        let plan = plan
            .transform_up_with_subqueries(|node| match node {
                LogicalPlan::Union(u) => {
                    // A union keeps the schema it was built with: rebuilt, it takes the types
                    // of an input this rule has changed.
                    let u = if changed {
                        Union::try_new_with_loose_types(u.inputs)?
                    } else {
                        u
                    };
                    match float_union(&u)? {
                        Some(rewritten) => {
                            changed = true;
                            Ok(Transformed::yes(rewritten))
                        }
                        None => Ok(Transformed::no(LogicalPlan::Union(u))),
                    }
                }
                other => Ok(Transformed::no(other)),
            })?
            .data;
        if !changed {
            return Ok(plan);
        }
        // The nodes above a rewritten union were typed by its old schema.
        plan.transform_up_with_subqueries(|node| node.recompute_schema().map(Transformed::yes))
            .map(|t| t.data)
    }
}

/// The union with its float-and-numeric columns cast to the float type; `None` when it has none.
/// The types are the ones coercion will unify: those of the leaves under nested unions (a nested
/// union's own schema is its first input's until coercion).
fn float_union(u: &Union) -> DfResult<Option<LogicalPlan>> {
    let width = u.schema.fields().len();
    let targets: Vec<Option<DataType>> = (0..width)
        .map(|i| {
            let mut types = Vec::new();
            for input in &u.inputs {
                leaf_types(input, i, &mut types);
            }
            let decimal = types
                .iter()
                .any(|t| matches!(t, DataType::Decimal128(_, _) | DataType::Decimal256(_, _)));
            let float = types.iter().any(DataType::is_floating);
            (decimal && float).then(|| {
                if types.contains(&DataType::Float64) {
                    DataType::Float64
                } else {
                    DataType::Float32
                }
            })
        })
        .collect();
    if targets.iter().all(Option::is_none) {
        return Ok(None);
    }
    let inputs = u
        .inputs
        .iter()
        .map(|input| cast_columns(input, &targets))
        .collect::<DfResult<Vec<_>>>()?;
    Ok(Some(LogicalPlan::Union(Union::try_new_with_loose_types(
        inputs,
    )?)))
}

fn leaf_types(plan: &LogicalPlan, i: usize, out: &mut Vec<DataType>) {
    match plan {
        LogicalPlan::Union(u) => u.inputs.iter().for_each(|p| leaf_types(p, i, out)),
        p => out.extend(p.schema().fields().get(i).map(|f| f.data_type().clone())),
    }
}

/// `input` with each column that has a target type cast to it (through nested unions, to their
/// leaves).
fn cast_columns(
    input: &Arc<LogicalPlan>,
    targets: &[Option<DataType>],
) -> DfResult<Arc<LogicalPlan>> {
    if let LogicalPlan::Union(u) = input.as_ref() {
        let inputs = u
            .inputs
            .iter()
            .map(|p| cast_columns(p, targets))
            .collect::<DfResult<Vec<_>>>()?;
        return Ok(Arc::new(LogicalPlan::Union(
            Union::try_new_with_loose_types(inputs)?,
        )));
    }
    let schema = input.schema();
    let differs = |i: usize| {
        targets[i]
            .as_ref()
            .is_some_and(|t| schema.field(i).data_type() != t)
    };
    if !(0..targets.len()).any(differs) {
        return Ok(Arc::clone(input));
    }
    let exprs = (0..targets.len())
        .map(|i| {
            let (qualifier, field) = schema.qualified_field(i);
            let column = Expr::Column(datafusion::common::Column::from((qualifier, field)));
            match &targets[i] {
                Some(t) if differs(i) => column
                    .cast_to(t, schema)
                    .map(|e| e.alias_qualified(qualifier.cloned(), field.name())),
                _ => Ok(column),
            }
        })
        .collect::<DfResult<Vec<_>>>()?;
    Ok(Arc::new(LogicalPlan::Projection(Projection::try_new(
        exprs,
        Arc::clone(input),
    )?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut s = crate::engine::pgudf::parse(sql);
        multiset_operations(&mut s);
        s.to_string()
    }

    #[test]
    fn all_variants_number_their_copies() {
        assert_eq!(
            rewritten("SELECT a.n, m AS k FROM a EXCEPT ALL SELECT n, m FROM b ORDER BY n"),
            "SELECT n, k FROM (SELECT n, k, row_number() OVER (PARTITION BY n, k) AS __set_rn \
             FROM (SELECT a.n, m AS k FROM a) AS __set_l (n, k) EXCEPT SELECT n, k, \
             row_number() OVER (PARTITION BY n, k) AS __set_rn FROM (SELECT n, m FROM b) AS \
             __set_r (n, k)) AS __set ORDER BY n"
        );
    }

    #[test]
    fn distinct_variants_unions_and_unnamed_columns_are_left_alone() {
        for sql in [
            "SELECT n FROM a EXCEPT SELECT n FROM b",
            "SELECT n FROM a UNION ALL SELECT n FROM b",
            "SELECT * FROM a INTERSECT ALL SELECT * FROM b",
            "SELECT n + 1 FROM a INTERSECT ALL SELECT n FROM b",
            "SELECT n, n FROM a INTERSECT ALL SELECT n, m FROM b",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
