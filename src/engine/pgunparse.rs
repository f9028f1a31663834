//! Repairs to SQL that DataFusion's unparser writes for Postgres (datafusion-federation sends
//! a plan fragment to its source as SQL): shapes Postgres rejects or reads differently, found
//! by the Postgres compatibility corpus. Each repair keeps the plan's meaning; fragments the
//! unparser would get wrong in ways SQL cannot repair are not federated at all (see
//! `federation.rs`).

use datafusion::sql::sqlparser::ast::{
    CastKind, DataType as T, ExactNumberInfo, Expr as A, GroupByExpr, Ident, OrderByKind, Query,
    Select, SelectItem, SetExpr, Statement, TableFactor, Value, Visit, VisitMut, Visitor,
    VisitorMut,
};
use std::collections::HashSet;
use std::ops::ControlFlow;

/// Every repair, in order, then Postgres's names for DataFusion's functions.
pub(super) fn repair(statement: &mut Statement) {
    constant_keys(statement);
    derived_table_scope(statement);
    super::pgcollate::postgres_collate(statement);
    super::pgjson::postgres_json(statement);
    super::pgnumeric::postgres_numeric(statement);
    super::pgfuncs::postgres_names(statement);
}

/// Constants the unparser writes as GROUP BY or ORDER BY keys become `CAST(constant AS type)`.
/// DataFusion's decorrelation groups by `true` (a scalar subquery's `__always_true`), which
/// Postgres rejects ("non-integer constant in GROUP BY"), and Postgres would read an integer
/// there as a column position. Wrapped in a cast it is an expression with the constant's value,
/// which groups and orders as DataFusion meant. Plans never carry positions: DataFusion's
/// planner has already resolved `GROUP BY 1` to the column.
fn constant_keys(statement: &mut Statement) {
    fn wrap(e: &mut A) {
        let A::Value(v) = e else { return };
        let data_type = match &v.value {
            Value::Boolean(_) => T::Boolean,
            Value::Number(n, _) if n.contains(['.', 'e', 'E']) => T::Numeric(ExactNumberInfo::None),
            Value::Number(..) => T::BigInt(None),
            Value::SingleQuotedString(_) => T::Text,
            Value::Null => T::Text,
            _ => return,
        };
        *e = A::Cast {
            kind: CastKind::Cast,
            expr: Box::new(e.clone()),
            data_type,
            array: false,
            format: None,
        };
    }
    struct V;
    impl VisitorMut for V {
        type Break = ();
        fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
            if let GroupByExpr::Expressions(keys, _) = &mut select.group_by {
                keys.iter_mut().for_each(wrap);
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            if let Some(order) = &mut query.order_by
                && let OrderByKind::Expressions(keys) = &mut order.kind
            {
                keys.iter_mut().for_each(|k| wrap(&mut k.expr));
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V);
}

/// A sort on an expression the query does not return (`SELECT name … ORDER BY upper(name)`)
/// is unparsed as `SELECT "customers"."name" FROM (SELECT … ORDER BY upper(…)) AS
/// "derived_sort"`: the outer list still names the inner table, which is out of scope there
/// (Postgres: "missing FROM-clause entry for table"; also reported as spiceai/spiceai#6931).
/// Such references are re-pointed at the derived table's alias, when the inner query returns
/// that column name exactly once. The outer query is a plain projection over the sorted
/// derived table, which Postgres returns in the derived table's order.
fn derived_table_scope(statement: &mut Statement) {
    struct V;
    impl VisitorMut for V {
        type Break = ();
        fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
            let [from] = select.from.as_slice() else {
                return ControlFlow::Continue(());
            };
            let TableFactor::Derived {
                subquery,
                alias: Some(alias),
                ..
            } = &from.relation
            else {
                return ControlFlow::Continue(());
            };
            if !from.joins.is_empty() || !alias.name.value.starts_with("derived_") {
                return ControlFlow::Continue(());
            }
            let SetExpr::Select(inner) = subquery.body.as_ref() else {
                return ControlFlow::Continue(());
            };
            let scope = inner_qualifiers(inner);
            let outputs = output_names(inner);
            let target = alias.name.clone();
            for item in &mut select.projection {
                let e = match item {
                    SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                    _ => continue,
                };
                if has_subquery(e) {
                    continue;
                }
                let _ = e.visit(&mut Requalify {
                    scope: &scope,
                    outputs: &outputs,
                    target: &target,
                });
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V);
}

struct Requalify<'a> {
    scope: &'a HashSet<String>,
    outputs: &'a [String],
    target: &'a Ident,
}

impl VisitorMut for Requalify<'_> {
    type Break = ();
    fn pre_visit_expr(&mut self, e: &mut A) -> ControlFlow<()> {
        if let A::CompoundIdentifier(parts) = e
            && let [qualifier, column] = parts.as_slice()
            && qualifier.value != self.target.value
            && self.scope.contains(&qualifier.value)
            && self.outputs.iter().filter(|o| **o == column.value).count() == 1
        {
            parts[0] = self.target.clone();
        }
        ControlFlow::Continue(())
    }
}

/// The names a SELECT's FROM makes visible: table names (last part) and aliases.
fn inner_qualifiers(select: &Select) -> HashSet<String> {
    let mut names = HashSet::new();
    for t in &select.from {
        let factors = std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation));
        for f in factors {
            match f {
                TableFactor::Table { name, alias, .. } => {
                    if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                        names.insert(last.value.clone());
                    }
                    if let Some(a) = alias {
                        names.insert(a.name.value.clone());
                    }
                }
                TableFactor::Derived { alias: Some(a), .. } => {
                    names.insert(a.name.value.clone());
                }
                _ => {}
            }
        }
    }
    names
}

/// The column names a SELECT returns, where the SQL fixes them.
fn output_names(select: &Select) -> Vec<String> {
    select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            SelectItem::UnnamedExpr(A::Identifier(i)) => Some(i.value.clone()),
            SelectItem::UnnamedExpr(A::CompoundIdentifier(p)) => p.last().map(|i| i.value.clone()),
            _ => None,
        })
        .collect()
}

fn has_subquery(e: &A) -> bool {
    struct F;
    impl Visitor for F {
        type Break = ();
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            ControlFlow::Break(())
        }
    }
    e.visit(&mut F).is_break()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repaired(sql: &str) -> String {
        let mut s = crate::engine::pgudf::parse(sql);
        constant_keys(&mut s);
        derived_table_scope(&mut s);
        s.to_string()
    }

    #[test]
    fn constant_keys_become_expressions() {
        assert_eq!(
            repaired("SELECT avg(s), d FROM e GROUP BY d, true ORDER BY 1, 'x', d"),
            "SELECT avg(s), d FROM e GROUP BY d, CAST(true AS BOOLEAN) \
             ORDER BY CAST(1 AS BIGINT), CAST('x' AS TEXT), d"
        );
    }

    #[test]
    fn outer_references_to_a_sorted_derived_table_use_its_alias() {
        assert_eq!(
            repaired(
                "SELECT \"c\".\"name\", upper(c.name) AS u FROM (SELECT c.name, c.id FROM s.c \
                 ORDER BY upper(c.name)) AS derived_sort"
            ),
            "SELECT derived_sort.\"name\", upper(derived_sort.name) AS u FROM \
             (SELECT c.name, c.id FROM s.c ORDER BY upper(c.name)) AS derived_sort"
        );
        // Ambiguous (two inner columns named id) or a user's own alias: left alone.
        let ambiguous = "SELECT a.id FROM (SELECT a.id, b.id FROM a JOIN b ON a.k = b.k \
                         ORDER BY a.x) AS derived_sort";
        assert_eq!(repaired(ambiguous), ambiguous);
        let own = "SELECT t.id FROM (SELECT t.id FROM t) AS sub";
        assert_eq!(repaired(own), own);
    }
}
