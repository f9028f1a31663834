//! Whole-query passthrough: a query whose every table lives in one Postgres source is sent to
//! that Postgres as written (names rewritten to its own `schema.table`), so its answer is the
//! answer Postgres itself gives — its types, its functions, its rounding, its collation.
//!
//! Why: DataFusion plans Postgres SQL with its own semantics and the federation unparser
//! rewrites it again; measured on the raw stack, numeric AVGs failed on scale, `time` columns,
//! `GROUP BY` a primary key with other columns selected, `AGE`, `DATE(x)`, `generate_series` over
//! timestamps, `PERCENTILE_CONT … WITHIN GROUP`, `TO_CHAR` formats and CASE inside aggregates
//! failed or differed. Postgres already plans these correctly; sending it the whole query is the
//! query passthrough Trino and DuckDB (`postgres_query`) offer, made automatic.
//!
//! What is checked before it runs is unchanged: the read-only gate walks the statement first,
//! and Postgres's own `PREPARE` resolves names and types without executing (the plan step). The
//! result streams through binary COPY ([`super::pgcopy`]). A query that also touches another
//! source, or names tables Skipper does not know, goes through DataFusion as before.
//!
//! With a pinned clock (`--now`), `now()`, `CURRENT_DATE` and friends are replaced by literals of
//! the pinned instant, so Postgres answers for the same "now" DataFusion would.

use super::pgcopy::schema;
pub(super) use super::pgread::PgSource;
use super::pgread::{PgQueryExec, describe};
use datafusion::sql::sqlparser::ast::{
    Expr, Ident, ObjectName, ObjectNamePart, Query, SelectItem, SetExpr, Statement, TableFactor,
    Visit, VisitMut, Visitor, VisitorMut,
};
use std::collections::HashSet;
use std::ops::ControlFlow;

/// A table name as written, resolved against the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Resolved {
    pub catalog: String,
    pub schema: String,
    pub table: String,
}

/// An identifier as SQL compares it: unquoted folds to lower case.
fn norm(id: &Ident) -> String {
    if id.quote_style.is_some() {
        id.value.clone()
    } else {
        id.value.to_lowercase()
    }
}

fn idents(name: &ObjectName) -> Option<Vec<&Ident>> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => Some(i),
            _ => None,
        })
        .collect()
}

/// Every CTE name defined anywhere in the statement (unqualified references to them are not
/// tables).
struct Ctes(HashSet<String>);

impl Visitor for Ctes {
    type Break = ();
    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                self.0.insert(norm(&cte.alias.name));
            }
        }
        ControlFlow::Continue(())
    }
}

/// The tables a statement reads (table functions such as `generate_series(…)` excluded), or
/// `None` when a name cannot be resolved to three parts.
struct Tables<'a> {
    ctes: &'a HashSet<String>,
    default_catalog: &'a str,
    default_schema: &'a str,
    found: Vec<Resolved>,
    unresolvable: bool,
}

impl Visitor for Tables<'_> {
    type Break = ();
    fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name, args: None, ..
        } = t
        {
            match idents(name).as_deref() {
                Some([t]) if self.ctes.contains(&norm(t)) => {}
                Some([t]) => self.found.push(Resolved {
                    catalog: self.default_catalog.into(),
                    schema: self.default_schema.into(),
                    table: norm(t),
                }),
                Some([s, t]) => self.found.push(Resolved {
                    catalog: self.default_catalog.into(),
                    schema: norm(s),
                    table: norm(t),
                }),
                Some([c, s, t]) => self.found.push(Resolved {
                    catalog: norm(c),
                    schema: norm(s),
                    table: norm(t),
                }),
                _ => self.unresolvable = true,
            }
        }
        ControlFlow::Continue(())
    }
}

/// The tables `statement` reads, resolved; `None` if it is not a query or a name has an
/// unusual shape.
pub(super) fn tables_read(
    statement: &Statement,
    default_catalog: &str,
    default_schema: &str,
) -> Option<Vec<Resolved>> {
    let Statement::Query(_) = statement else {
        return None;
    };
    let mut ctes = Ctes(HashSet::new());
    let _ = statement.visit(&mut ctes);
    let mut tables = Tables {
        ctes: &ctes.0,
        default_catalog,
        default_schema,
        found: Vec::new(),
        unresolvable: false,
    };
    let _ = statement.visit(&mut tables);
    (!tables.unresolvable).then_some(tables.found)
}

/// Rewrite table names to the `schema.table` Postgres knows them by.
struct Rename<'a> {
    ctes: &'a HashSet<String>,
    default_schema: &'a str,
}

impl VisitorMut for Rename<'_> {
    type Break = ();
    fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name, args: None, ..
        } = t
        {
            let parts = &mut name.0;
            match parts.len() {
                1 => {
                    let is_cte = matches!(&parts[0], ObjectNamePart::Identifier(i) if self.ctes.contains(&norm(i)));
                    if !is_cte {
                        parts.insert(
                            0,
                            ObjectNamePart::Identifier(Ident::with_quote('"', self.default_schema)),
                        );
                    }
                }
                3 => {
                    parts.remove(0);
                }
                _ => {}
            }
        }
        ControlFlow::Continue(())
    }
}

/// Replace the functions that read the clock with literals of a pinned instant.
struct PinClock {
    now: chrono::DateTime<chrono::Utc>,
}

const CLOCK_FUNCTIONS: &[&str] = &[
    "now",
    "current_timestamp",
    "transaction_timestamp",
    "statement_timestamp",
    "clock_timestamp",
    "localtimestamp",
    "current_date",
    "current_time",
    "localtime",
];

impl VisitorMut for PinClock {
    type Break = ();
    /// `SELECT now()` names its column `now`; keep that name once the call becomes a literal.
    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = q.body.as_mut() {
            for item in select.projection.iter_mut() {
                if let SelectItem::UnnamedExpr(Expr::Function(f)) = item {
                    let name = f.name.to_string().to_lowercase();
                    if CLOCK_FUNCTIONS.contains(&name.as_str()) {
                        *item = SelectItem::ExprWithAlias {
                            expr: Expr::Function(f.clone()),
                            alias: Ident::with_quote('"', name),
                        };
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = e {
            let name = f.name.to_string().to_lowercase();
            let ts = self.now.format("%Y-%m-%d %H:%M:%S%.6f+00");
            let literal = match name.as_str() {
                "now"
                | "current_timestamp"
                | "transaction_timestamp"
                | "statement_timestamp"
                | "clock_timestamp" => format!("'{ts}'::timestamptz"),
                "localtimestamp" => format!("'{ts}'::timestamptz::timestamp"),
                "current_date" => format!("'{ts}'::timestamptz::date"),
                "current_time" => format!("'{ts}'::timestamptz::timetz"),
                "localtime" => format!("'{ts}'::timestamptz::time"),
                _ => return ControlFlow::Continue(()),
            };
            if let Ok(parsed) = datafusion::sql::sqlparser::parser::Parser::new(
                &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
            )
            .try_with_sql(&literal)
            .and_then(|mut p| p.parse_expr())
            {
                *e = Expr::Nested(Box::new(parsed));
            }
        }
        ControlFlow::Continue(())
    }
}

/// The SQL Postgres receives for `statement`.
#[cfg(test)]
pub(super) fn rewrite(
    statement: &Statement,
    default_schema: &str,
    pinned: Option<chrono::DateTime<chrono::Utc>>,
) -> String {
    rewrite_statement(statement, default_schema, pinned).to_string()
}

/// The statement Postgres receives: table names as Postgres knows them, the clock pinned.
pub(super) fn rewrite_statement(
    statement: &Statement,
    default_schema: &str,
    pinned: Option<chrono::DateTime<chrono::Utc>>,
) -> Statement {
    let mut ctes = Ctes(HashSet::new());
    let _ = statement.visit(&mut ctes);
    let mut s = statement.clone();
    let _ = VisitMut::visit(
        &mut s,
        &mut Rename {
            ctes: &ctes.0,
            default_schema,
        },
    );
    if let Some(now) = pinned {
        let _ = VisitMut::visit(&mut s, &mut PinClock { now });
    }
    s
}

/// For a row-local query — `SELECT columns or simple expressions FROM one table WHERE simple
/// conditions`, nothing that looks across rows (no aggregate, window, DISTINCT, ORDER BY, LIMIT,
/// subquery or function call) — the table's `(schema, name)`: such a query may be split into
/// ctid ranges read in parallel and still return exactly its rows.
pub(super) fn row_local_table(statement: &Statement) -> Option<(String, String)> {
    use datafusion::sql::sqlparser::ast::{GroupByExpr, SelectItem as S};
    let Statement::Query(q) = statement else {
        return None;
    };
    if q.with.is_some() || q.order_by.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
        return None;
    }
    let SetExpr::Select(s) = q.body.as_ref() else {
        return None;
    };
    let plain_group =
        matches!(&s.group_by, GroupByExpr::Expressions(v, m) if v.is_empty() && m.is_empty());
    if s.distinct.is_some()
        || !plain_group
        || s.having.is_some()
        || s.qualify.is_some()
        || !s.named_window.is_empty()
        || s.into.is_some()
        || s.top.is_some()
        || s.from.len() != 1
        || !s.from[0].joins.is_empty()
    {
        return None;
    }
    let TableFactor::Table {
        name, args: None, ..
    } = &s.from[0].relation
    else {
        return None;
    };
    let simple = s.projection.iter().all(|p| match p {
        S::Wildcard(_) | S::QualifiedWildcard(_, _) => true,
        S::UnnamedExpr(e) | S::ExprWithAlias { expr: e, .. } => row_local(e),
        _ => false,
    }) && s.selection.as_ref().is_none_or(row_local);
    let parts = idents(name)?;
    match (simple, parts.as_slice()) {
        (true, [schema, table]) => Some((norm(schema), norm(table))),
        _ => None,
    }
}

fn row_local(e: &Expr) -> bool {
    match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_) => true,
        Expr::Nested(x)
        | Expr::UnaryOp { expr: x, .. }
        | Expr::IsNull(x)
        | Expr::IsNotNull(x)
        | Expr::IsTrue(x)
        | Expr::IsFalse(x)
        | Expr::Cast { expr: x, .. } => row_local(x),
        Expr::BinaryOp { left, right, .. } => row_local(left) && row_local(right),
        Expr::InList { expr, list, .. } => row_local(expr) && list.iter().all(row_local),
        Expr::Between {
            expr, low, high, ..
        } => row_local(expr) && row_local(low) && row_local(high),
        Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => {
            row_local(expr) && row_local(pattern)
        }
        _ => false,
    }
}

/// The statement restricted to each of `ranges` (conditions on ctid), as SQL.
pub(super) fn split(statement: &Statement, ranges: &[String]) -> Option<Vec<String>> {
    let Statement::Query(q) = statement else {
        return None;
    };
    let SetExpr::Select(_) = q.body.as_ref() else {
        return None;
    };
    ranges
        .iter()
        .map(|r| {
            let cond = datafusion::sql::sqlparser::parser::Parser::new(
                &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
            )
            .try_with_sql(r)
            .and_then(|mut p| p.parse_expr())
            .ok()?;
            let mut s = statement.clone();
            let Statement::Query(q) = &mut s else {
                return None;
            };
            let SetExpr::Select(sel) = q.body.as_mut() else {
                return None;
            };
            sel.selection = Some(match sel.selection.take() {
                Some(w) => Expr::BinaryOp {
                    left: Box::new(Expr::Nested(Box::new(w))),
                    op: datafusion::sql::sqlparser::ast::BinaryOperator::And,
                    right: Box::new(cond),
                },
                None => cond,
            });
            Some(s.to_string())
        })
        .collect()
}

/// Why Postgres refused to prepare a query.
pub(super) struct PrepareError {
    pub message: String,
    pub hint: Option<String>,
    /// Postgres does not know a function or operator the query uses (SQLSTATE 42883).
    pub undefined_function: bool,
}

/// Prepare `sql` in its source (names, types and functions resolved, nothing executed) and
/// build the plan node that will run it.
pub(super) async fn plan(source: &PgSource, sql: String) -> Result<PgQueryExec, PrepareError> {
    let columns = describe(source, &sql).await.map_err(|e| PrepareError {
        undefined_function: e.code.as_deref() == Some("42883"),
        message: e.message,
        hint: e.hint,
    })?;
    let mut described = Vec::new();
    for (name, kind) in columns {
        let kind = kind.map_err(|why| PrepareError {
            message: format!("column '{name}': {why}"),
            hint: Some(format!(
                "cast it to a readable type in the query, e.g. {name}::text"
            )),
            undefined_function: false,
        })?;
        described.push((name, kind));
    }
    let schema = schema(&described);
    Ok(PgQueryExec::new(
        source.clone(),
        vec![sql],
        Some(described.into_iter().map(|(_, k)| k).collect()),
        schema,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn stmt(sql: &str) -> Statement {
        Parser::parse_sql(&GenericDialect {}, sql)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn resolves_tables_but_not_ctes_or_table_functions() {
        let s = stmt(
            "WITH recent AS (SELECT * FROM pg.sales.orders) \
             SELECT * FROM recent JOIN customers c ON true \
             CROSS JOIN generate_series(1, 3) g JOIN Sales.\"Items\" i ON true",
        );
        let t = tables_read(&s, "pg", "public").unwrap();
        let names: Vec<String> = t
            .iter()
            .map(|r| format!("{}.{}.{}", r.catalog, r.schema, r.table))
            .collect();
        assert_eq!(
            names,
            ["pg.sales.orders", "pg.public.customers", "pg.sales.Items"]
        );
    }

    #[test]
    fn rewrite_strips_the_source_and_qualifies_bare_names() {
        let s = stmt("WITH r AS (SELECT 1 AS x) SELECT * FROM pg.sales.orders, r, customers");
        assert_eq!(
            rewrite(&s, "public", None),
            "WITH r AS (SELECT 1 AS x) SELECT * FROM sales.orders, r, \"public\".customers"
        );
    }

    #[test]
    fn only_row_local_single_table_queries_split() {
        let t = |sql: &str| row_local_table(&stmt(sql));
        assert_eq!(
            t("SELECT * FROM s.t WHERE a > 1 AND b IN ('x', 'y')"),
            Some(("s".into(), "t".into()))
        );
        assert_eq!(
            t("SELECT a, b::text AS c FROM s.t"),
            Some(("s".into(), "t".into()))
        );
        assert_eq!(t("SELECT count(*) FROM s.t"), None);
        assert_eq!(t("SELECT * FROM s.t ORDER BY a"), None);
        assert_eq!(t("SELECT * FROM s.t LIMIT 5"), None);
        assert_eq!(t("SELECT DISTINCT a FROM s.t"), None);
        assert_eq!(t("SELECT random() FROM s.t"), None);
        assert_eq!(t("SELECT * FROM s.t JOIN s.u ON true"), None);
        let parts = split(
            &stmt("SELECT * FROM s.t WHERE a > 1"),
            &["ctid < '(5,0)'::tid".into()],
        )
        .unwrap();
        assert_eq!(
            parts,
            ["SELECT * FROM s.t WHERE (a > 1) AND ctid < '(5,0)'::tid"]
        );
    }

    #[test]
    fn pinned_clock_becomes_literals() {
        let s = stmt("SELECT now(), CURRENT_DATE, upper('x')");
        let now = chrono::DateTime::parse_from_rfc3339("2025-03-04T05:06:07Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let sql = rewrite(&s, "public", Some(now));
        assert!(
            sql.contains("'2025-03-04 05:06:07.000000+00'::TIMESTAMPTZ"),
            "{sql}"
        );
        assert!(sql.contains("::DATE"), "{sql}");
        assert!(sql.contains("upper('x')"), "{sql}");
    }
}
