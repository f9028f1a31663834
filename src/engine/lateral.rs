//! `LATERAL` top-n as a window, for the queries DataFusion plans itself. DataFusion 55
//! decorrelates a LATERAL subquery only without LIMIT; Postgres's common "latest n per row"
//! idiom
//!
//! ```sql
//! FROM customers c CROSS JOIN LATERAL
//!     (SELECT o.id FROM orders o WHERE o.customer_id = c.id ORDER BY o.at DESC LIMIT 2) t
//! ```
//!
//! failed to plan ("Physical plan does not support logical expression OuterReferenceColumn").
//! When the subquery is correlated only through equalities `inner = outer` in its WHERE, it is
//! the same as numbering each correlation group's rows in the subquery's order and keeping
//! numbers `offset + 1 ..= offset + limit`:
//!
//! ```sql
//! FROM customers c JOIN
//!     (SELECT o.id, o.customer_id AS __lateral_k1,
//!             row_number() OVER (PARTITION BY o.customer_id ORDER BY o.at DESC) AS __lateral_rn
//!      FROM orders o) t
//!   ON t.__lateral_k1 = c.id AND t.__lateral_rn <= 2
//! ```
//!
//! `LEFT JOIN LATERAL … ON true` keeps its outer rows the same way. An outer row whose key is
//! NULL matches nothing, as `o.customer_id = NULL` selects nothing in the subquery. Anything
//! else (aggregates, DISTINCT, window functions or outer references outside the WHERE's
//! equalities, a `*` over the subquery in the outer list, which would show the two helper
//! columns) is left for DataFusion, which refuses what it cannot plan.

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr as A, GroupByExpr, Ident, Join, JoinConstraint, JoinOperator, LimitClause,
    OrderByExpr, OrderByKind, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr,
    Statement, TableFactor, Value, Visit, VisitMut, Visitor, VisitorMut,
};
use std::collections::HashSet;
use std::ops::ControlFlow;

const KEY: &str = "__lateral_k";
const ROW: &str = "__lateral_rn";

/// Rewrite each LATERAL top-n subquery of the statement; `is_aggregate` names the aggregate
/// functions (a subquery using one is left alone).
pub(super) fn lateral_top_n(statement: &mut Statement, is_aggregate: &dyn Fn(&str) -> bool) {
    struct V<'a> {
        is_aggregate: &'a dyn Fn(&str) -> bool,
    }
    impl VisitorMut for V<'_> {
        type Break = ();
        fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
            rewrite_select(select, self.is_aggregate);
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V { is_aggregate });
}

fn rewrite_select(select: &mut Select, is_aggregate: &dyn Fn(&str) -> bool) {
    let mut from = select.from.clone();
    // `FROM a, b LEFT JOIN LATERAL (…) t ON true`: a lateral item sees every earlier item of the
    // list, but an ON clause only its own join tree. The list is folded into one tree with
    // CROSS JOINs (the same rows while the later items join only inwards or leftwards).
    let later_lateral = from
        .iter()
        .skip(1)
        .any(|t| is_lateral(&t.relation) || t.joins.iter().any(|j| is_lateral(&j.relation)));
    let foldable = from.iter().skip(1).all(|t| {
        t.joins.iter().all(|j| {
            matches!(
                j.join_operator,
                JoinOperator::Join(_)
                    | JoinOperator::Inner(_)
                    | JoinOperator::CrossJoin(_)
                    | JoinOperator::Left(_)
                    | JoinOperator::LeftOuter(_)
            )
        })
    });
    if later_lateral {
        if !foldable {
            return;
        }
        let mut items = std::mem::take(&mut from).into_iter();
        let mut first = items.next().expect("more than one item");
        for t in items {
            first.joins.push(Join {
                relation: t.relation,
                global: false,
                join_operator: JoinOperator::CrossJoin(JoinConstraint::None),
            });
            first.joins.extend(t.joins);
        }
        from = vec![first];
    }
    let wildcards = wildcard_qualifiers(&select.projection);
    let mut outer: HashSet<String> = HashSet::new();
    let mut changed = false;
    for twj in &mut from {
        add_names(&twj.relation, &mut outer);
        for join in &mut twj.joins {
            if let Some(rewritten) = rewrite_join(join, &outer, &wildcards, is_aggregate) {
                *join = rewritten;
                changed = true;
            }
            add_names(&join.relation, &mut outer);
        }
    }
    if changed {
        select.from = from;
    }
}

fn is_lateral(f: &TableFactor) -> bool {
    matches!(f, TableFactor::Derived { lateral: true, .. })
}

/// `None` when the outer list has a bare `*`; otherwise the qualifiers of its `t.*` items.
fn wildcard_qualifiers(projection: &[SelectItem]) -> Option<HashSet<String>> {
    let mut names = HashSet::new();
    for item in projection {
        match item {
            SelectItem::Wildcard(_) => return None,
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(n), _) => {
                if let Some(i) = n.0.last().and_then(|p| p.as_ident()) {
                    names.insert(i.value.clone());
                }
            }
            SelectItem::QualifiedWildcard(..) => return None,
            _ => {}
        }
    }
    Some(names)
}

/// The names a FROM item makes visible: its alias, or a table's own name.
fn add_names(f: &TableFactor, names: &mut HashSet<String>) {
    match f {
        TableFactor::Table { name, alias, .. } => match alias {
            Some(a) => {
                names.insert(a.name.value.clone());
            }
            None => {
                if let Some(i) = name.0.last().and_then(|p| p.as_ident()) {
                    names.insert(i.value.clone());
                }
            }
        },
        TableFactor::Derived { alias: Some(a), .. }
        | TableFactor::Function { alias: Some(a), .. }
        | TableFactor::UNNEST { alias: Some(a), .. } => {
            names.insert(a.name.value.clone());
        }
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => {
            add_names(&table_with_joins.relation, names);
            for j in &table_with_joins.joins {
                add_names(&j.relation, names);
            }
        }
        _ => {}
    }
}

fn rewrite_join(
    join: &Join,
    outer: &HashSet<String>,
    wildcards: &Option<HashSet<String>>,
    is_aggregate: &dyn Fn(&str) -> bool,
) -> Option<Join> {
    let TableFactor::Derived {
        lateral: true,
        subquery,
        alias: Some(alias),
        sample: None,
    } = &join.relation
    else {
        return None;
    };
    let left = match &join.join_operator {
        JoinOperator::CrossJoin(JoinConstraint::None) => false,
        JoinOperator::Join(c) | JoinOperator::Inner(c) if is_true(c) => false,
        JoinOperator::Left(c) | JoinOperator::LeftOuter(c) if is_true(c) => true,
        _ => return None,
    };
    if !alias.columns.is_empty()
        || wildcards
            .as_ref()
            .is_none_or(|w| w.contains(&alias.name.value))
    {
        return None;
    }
    let (query, on) = top_n_as_window(subquery, &alias.name, outer, is_aggregate)?;
    let constraint = JoinConstraint::On(on);
    Some(Join {
        relation: TableFactor::Derived {
            lateral: false,
            subquery: Box::new(query),
            alias: Some(alias.clone()),
            sample: None,
        },
        global: false,
        join_operator: if left {
            JoinOperator::LeftOuter(constraint)
        } else {
            JoinOperator::Join(constraint)
        },
    })
}

fn is_true(c: &JoinConstraint) -> bool {
    matches!(c, JoinConstraint::On(A::Value(v)) if v.value == Value::Boolean(true))
}

fn integer(e: &A) -> Option<u64> {
    match e {
        A::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// The subquery as a window over all correlation groups, and the join condition that picks
/// each outer row's group and rows.
fn top_n_as_window(
    q: &Query,
    alias: &Ident,
    outer: &HashSet<String>,
    is_aggregate: &dyn Fn(&str) -> bool,
) -> Option<(Query, A)> {
    let (limit, offset) = match &q.limit_clause {
        Some(LimitClause::LimitOffset {
            limit: Some(limit),
            offset,
            limit_by,
        }) if limit_by.is_empty() => (
            integer(limit)?,
            match offset {
                Some(o) => integer(&o.value)?,
                None => 0,
            },
        ),
        _ => return None,
    };
    if q.with.is_some() || q.fetch.is_some() || !q.locks.is_empty() {
        return None;
    }
    let SetExpr::Select(s) = q.body.as_ref() else {
        return None;
    };
    let plain = s.distinct.is_none()
        && s.top.is_none()
        && s.having.is_none()
        && s.qualify.is_none()
        && s.named_window.is_empty()
        && matches!(&s.group_by, GroupByExpr::Expressions(k, m) if k.is_empty() && m.is_empty());
    if !plain {
        return None;
    }
    let mut inner = HashSet::new();
    for twj in &s.from {
        add_names(&twj.relation, &mut inner);
        for j in &twj.joins {
            add_names(&j.relation, &mut inner);
        }
    }
    let refs_outer = |e: &A| references_outer(e, outer, &inner);
    let order: Vec<OrderByExpr> = match &q.order_by {
        None => vec![],
        Some(o) => match &o.kind {
            OrderByKind::Expressions(keys) => keys.clone(),
            OrderByKind::All(_) => return None,
        },
    };
    // Outer references only in the WHERE; no aggregates or windows anywhere.
    for item in &s.projection {
        match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                if refs_outer(e) || computes_over_rows(e, is_aggregate) {
                    return None;
                }
            }
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {}
            _ => return None,
        }
    }
    if order
        .iter()
        .any(|o| refs_outer(&o.expr) || computes_over_rows(&o.expr, is_aggregate))
    {
        return None;
    }
    let from_refs_outer = s.from.iter().any(|twj| {
        let mut f = OuterRefs {
            outer,
            inner: &inner,
            found: false,
        };
        let _ = twj.visit(&mut f);
        f.found
    });
    if from_refs_outer {
        return None;
    }
    let mut kept = Vec::new();
    let mut keys: Vec<(A, A)> = Vec::new();
    for c in conjuncts(s.selection.as_ref()) {
        if !refs_outer(c) {
            kept.push(c.clone());
            continue;
        }
        let A::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } = c
        else {
            return None;
        };
        let outer_only = |e: &A| refs_outer(e) && !references_inner(e, outer, &inner);
        if outer_only(right) && !refs_outer(left) {
            keys.push((*left.clone(), *right.clone()));
        } else if outer_only(left) && !refs_outer(right) {
            keys.push((*right.clone(), *left.clone()));
        } else {
            return None;
        }
    }
    if keys.is_empty() {
        return None;
    }
    // The window's ORDER BY cannot see the select list's aliases or positions: inline them.
    let order: Vec<OrderByExpr> = order
        .into_iter()
        .map(|mut o| {
            if let Some(e) = projected(&s.projection, &o.expr) {
                o.expr = e;
            }
            o
        })
        .collect();
    let mut select = s.as_ref().clone();
    for (i, (inner_key, _)) in keys.iter().enumerate() {
        select.projection.push(SelectItem::ExprWithAlias {
            expr: inner_key.clone(),
            alias: Ident::new(format!("{KEY}{}", i + 1)),
        });
    }
    select.projection.push(SelectItem::ExprWithAlias {
        expr: super::pgudf::window_call(
            "row_number",
            keys.iter().map(|(k, _)| k.clone()).collect(),
            order,
        ),
        alias: Ident::new(ROW),
    });
    select.selection = kept.into_iter().reduce(|a, b| A::BinaryOp {
        left: Box::new(a),
        op: BinaryOperator::And,
        right: Box::new(b),
    });
    let mut query = q.clone();
    query.body = Box::new(SetExpr::Select(Box::new(select)));
    query.order_by = None;
    query.limit_clause = None;

    let column = |name: String| A::CompoundIdentifier(vec![alias.clone(), Ident::new(name)]);
    let number = |n: u64| A::Value(Value::Number(n.to_string(), false).into());
    let mut on: Vec<A> = keys
        .into_iter()
        .enumerate()
        .map(|(i, (_, outer_key))| A::BinaryOp {
            left: Box::new(column(format!("{KEY}{}", i + 1))),
            op: BinaryOperator::Eq,
            right: Box::new(outer_key),
        })
        .collect();
    if offset > 0 {
        on.push(A::BinaryOp {
            left: Box::new(column(ROW.into())),
            op: BinaryOperator::Gt,
            right: Box::new(number(offset)),
        });
    }
    on.push(A::BinaryOp {
        left: Box::new(column(ROW.into())),
        op: BinaryOperator::LtEq,
        right: Box::new(number(offset.saturating_add(limit))),
    });
    let on = on
        .into_iter()
        .reduce(|a, b| A::BinaryOp {
            left: Box::new(a),
            op: BinaryOperator::And,
            right: Box::new(b),
        })
        .expect("at least the row bound");
    Some((query, on))
}

/// An ORDER BY key that names a select-list alias or position: the expression it stands for.
fn projected(projection: &[SelectItem], key: &A) -> Option<A> {
    match key {
        A::Identifier(name) => projection.iter().find_map(|item| match item {
            SelectItem::ExprWithAlias { expr, alias } if alias.value == name.value => {
                Some(expr.clone())
            }
            _ => None,
        }),
        _ => {
            let position = integer(key)?;
            match projection.get(usize::try_from(position).ok()?.checked_sub(1)?)? {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    Some(e.clone())
                }
                _ => None,
            }
        }
    }
}

fn conjuncts(e: Option<&A>) -> Vec<&A> {
    fn walk<'a>(e: &'a A, out: &mut Vec<&'a A>) {
        match e {
            A::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => {
                walk(left, out);
                walk(right, out);
            }
            A::Nested(inner) => walk(inner, out),
            other => out.push(other),
        }
    }
    let mut out = Vec::new();
    if let Some(e) = e {
        walk(e, &mut out);
    }
    out
}

/// The qualifier of a column reference (`q` of `q.c` and of `s.q.c`); `None` for a bare name.
/// Callers check whether it names an outer item the inner FROM does not shadow.
fn qualifier(parts: &[Ident]) -> Option<&str> {
    (parts.len() >= 2).then(|| parts[parts.len() - 2].value.as_str())
}

struct OuterRefs<'a> {
    outer: &'a HashSet<String>,
    inner: &'a HashSet<String>,
    found: bool,
}

impl Visitor for OuterRefs<'_> {
    type Break = ();
    fn pre_visit_expr(&mut self, e: &A) -> ControlFlow<()> {
        if let A::CompoundIdentifier(parts) = e
            && let Some(q) = qualifier(parts)
            && self.outer.contains(q)
            && !self.inner.contains(q)
        {
            self.found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

fn references_outer(e: &A, outer: &HashSet<String>, inner: &HashSet<String>) -> bool {
    let mut f = OuterRefs {
        outer,
        inner,
        found: false,
    };
    let _ = e.visit(&mut f);
    f.found
}

/// Whether an expression reads anything but outer columns and constants (an unqualified name
/// resolves in the subquery first, so it counts as inner; so does a nested query).
fn references_inner(e: &A, outer: &HashSet<String>, inner: &HashSet<String>) -> bool {
    struct F<'a> {
        outer: &'a HashSet<String>,
        inner: &'a HashSet<String>,
    }
    impl Visitor for F<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            ControlFlow::Break(())
        }
        fn pre_visit_expr(&mut self, e: &A) -> ControlFlow<()> {
            match e {
                A::Identifier(_) => ControlFlow::Break(()),
                A::CompoundIdentifier(parts) => match qualifier(parts) {
                    Some(q) if self.outer.contains(q) && !self.inner.contains(q) => {
                        ControlFlow::Continue(())
                    }
                    _ => ControlFlow::Break(()),
                },
                _ => ControlFlow::Continue(()),
            }
        }
    }
    e.visit(&mut F { outer, inner }).is_break()
}

/// Whether an expression aggregates or windows (either would change meaning under the
/// rewrite), or holds a nested query.
fn computes_over_rows(e: &A, is_aggregate: &dyn Fn(&str) -> bool) -> bool {
    struct F<'a> {
        is_aggregate: &'a dyn Fn(&str) -> bool,
    }
    impl Visitor for F<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            ControlFlow::Break(())
        }
        fn pre_visit_expr(&mut self, e: &A) -> ControlFlow<()> {
            if let A::Function(f) = e {
                let name = f.name.to_string().to_ascii_lowercase();
                if f.over.is_some() || (self.is_aggregate)(&name) {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
    }
    e.visit(&mut F { is_aggregate }).is_break()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut s = crate::engine::pgudf::parse(sql);
        lateral_top_n(&mut s, &|n| ["count", "max", "sum"].contains(&n));
        s.to_string()
    }

    #[test]
    fn a_correlated_top_n_becomes_a_numbered_join() {
        assert_eq!(
            rewritten(
                "SELECT c.id, t.id AS order_id FROM shop.customers c CROSS JOIN LATERAL \
                 (SELECT o.id, o.shipping AS s FROM shop.orders o WHERE o.customer_id = c.id \
                 AND o.status <> 'x' ORDER BY s DESC, 1 LIMIT 2 OFFSET 1) t WHERE c.id <= 10"
            ),
            "SELECT c.id, t.id AS order_id FROM shop.customers c JOIN \
             (SELECT o.id, o.shipping AS s, o.customer_id AS __lateral_k1, row_number() OVER \
             (PARTITION BY o.customer_id ORDER BY o.shipping DESC, o.id) AS __lateral_rn \
             FROM shop.orders o WHERE o.status <> 'x') t ON t.__lateral_k1 = c.id \
             AND t.__lateral_rn > 1 AND t.__lateral_rn <= 3 WHERE c.id <= 10"
        );
    }

    #[test]
    fn left_and_comma_laterals_keep_their_outer_rows_and_scope() {
        assert_eq!(
            rewritten(
                "SELECT a.k, t.v FROM a, b LEFT JOIN LATERAL (SELECT x.v FROM x \
                 WHERE a.k = x.k AND x.j = b.j LIMIT 1) t ON true"
            ),
            "SELECT a.k, t.v FROM a CROSS JOIN b LEFT OUTER JOIN (SELECT x.v, x.k AS \
             __lateral_k1, x.j AS __lateral_k2, row_number() OVER (PARTITION BY x.k, x.j) AS \
             __lateral_rn FROM x) t ON t.__lateral_k1 = a.k AND t.__lateral_k2 = b.j AND \
             t.__lateral_rn <= 1"
        );
    }

    #[test]
    fn what_the_window_cannot_express_is_left_alone() {
        for sql in [
            // no LIMIT: DataFusion decorrelates it itself
            "SELECT c.id, t.m FROM c CROSS JOIN LATERAL (SELECT max(o.v) AS m FROM o \
             WHERE o.c = c.id) t",
            // an aggregate under LIMIT
            "SELECT c.id, t.m FROM c CROSS JOIN LATERAL (SELECT count(*) AS m FROM o \
             WHERE o.c = c.id LIMIT 1) t",
            // a non-equality correlation
            "SELECT c.id, t.v FROM c CROSS JOIN LATERAL (SELECT o.v FROM o \
             WHERE o.c > c.id LIMIT 1) t",
            // an outer reference in the select list
            "SELECT c.id, t.v FROM c CROSS JOIN LATERAL (SELECT o.v + c.id AS v FROM o \
             WHERE o.c = c.id LIMIT 1) t",
            // a star would show the helper columns
            "SELECT * FROM c CROSS JOIN LATERAL (SELECT o.v FROM o WHERE o.c = c.id LIMIT 1) t",
            "SELECT c.id, t.* FROM c CROSS JOIN LATERAL (SELECT o.v FROM o \
             WHERE o.c = c.id LIMIT 1) t",
            // a right join after the lateral's list item cannot be folded into one tree
            "SELECT a.k, t.v FROM a, b CROSS JOIN LATERAL (SELECT x.v FROM x WHERE x.k = a.k \
             LIMIT 1) t RIGHT JOIN z ON z.i = b.i",
            // a join condition of its own
            "SELECT c.id, t.v FROM c JOIN LATERAL (SELECT o.v FROM o WHERE o.c = c.id LIMIT 1) t \
             ON t.v > 0",
        ] {
            let once = rewritten(sql);
            assert!(!once.contains("__lateral"), "{once}");
        }
    }
}
