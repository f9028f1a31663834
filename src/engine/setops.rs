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

use datafusion::sql::sqlparser::ast::{
    Expr as A, Ident, Query, SelectItem, SetExpr, SetOperator, SetQuantifier, Statement, VisitMut,
    VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use std::ops::ControlFlow;

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
fn output_names(body: &SetExpr) -> Option<Vec<Ident>> {
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
