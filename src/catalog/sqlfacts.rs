//! What a SQL text says about the data, read from its syntax tree (sqlparser, as DataFusion
//! re-exports it): the tables it reads, the columns it touches, the columns it joins on, and,
//! for a transformation (`CREATE TABLE … AS`, `INSERT … SELECT`, `CREATE VIEW`, or a dbt-style
//! model file holding one `SELECT`), which input columns each output column is computed from.
//!
//! Names are returned as written (lowercased, dotted); the catalog resolves them to
//! `source.schema.table`. Column references are resolved through aliases, CTEs and derived
//! tables; an unqualified column is given to the table in scope that has it, using the column
//! lists the caller knows (`columns_of`).

use datafusion::sql::sqlparser::ast::{
    Expr, Insert, ObjectName, ObjectNamePart, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, Statement, TableFactor, TableObject, TableWithJoins,
    Visit, Visitor,
};
use datafusion::sql::sqlparser::dialect::{GenericDialect, PostgreSqlDialect};
use datafusion::sql::sqlparser::parser::Parser;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

/// A column of a base table: (table as written, column), lowercased.
pub type ColRef = (String, String);

/// Everything one statement reads.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SqlFacts {
    /// Base tables read (CTE names excluded).
    pub tables: BTreeSet<String>,
    /// Columns of base tables referenced anywhere.
    pub columns: BTreeSet<ColRef>,
    /// Equality join conditions between two base tables' columns.
    pub joins: BTreeSet<(ColRef, ColRef)>,
    /// Those of `joins` made by an outer join (LEFT, RIGHT, FULL): rows without a match are kept.
    pub outer_joins: BTreeSet<(ColRef, ColRef)>,
    /// The top query's output columns and the base columns each is computed from.
    pub outputs: Vec<(String, BTreeSet<ColRef>)>,
}

/// A statement that builds a table (or, with no target, a bare query).
#[derive(Debug, Clone, PartialEq)]
pub struct Derivation {
    /// The table written, as written; `None` for a bare `SELECT`.
    pub target: Option<String>,
    pub facts: SqlFacts,
    /// The statement's SQL text, normalised by the parser.
    pub sql: String,
}

/// Parse `sql` (one or more statements) and derive what each reads and builds.
pub fn analyze(
    sql: &str,
    columns_of: &dyn Fn(&str) -> Option<Vec<String>>,
) -> Result<Vec<Derivation>, String> {
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .or_else(|_| Parser::parse_sql(&GenericDialect {}, sql))
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for st in &statements {
        let (target, query, insert_columns): (Option<String>, Option<&Query>, Vec<String>) =
            match st {
                Statement::Query(q) => (None, Some(q), vec![]),
                Statement::CreateTable(ct) => {
                    (Some(name_of(&ct.name)), ct.query.as_deref(), vec![])
                }
                Statement::CreateView(cv) => (
                    Some(name_of(&cv.name)),
                    Some(&*cv.query),
                    cv.columns
                        .iter()
                        .map(|c| c.name.value.to_lowercase())
                        .collect(),
                ),
                Statement::Insert(Insert {
                    table: TableObject::TableName(name),
                    columns,
                    source,
                    ..
                }) => (
                    Some(name_of(name)),
                    source.as_deref(),
                    columns.iter().map(name_of).collect(),
                ),
                _ => continue,
            };
        let Some(query) = query else { continue };
        let mut walker = Walker {
            columns_of,
            facts: SqlFacts::default(),
        };
        let mut outputs = walker.query(query, &BTreeMap::new());
        // An explicit column list names the outputs by position.
        for (i, name) in insert_columns.into_iter().enumerate() {
            if let Some(o) = outputs.get_mut(i) {
                o.0 = name;
            }
        }
        walker.facts.outputs = outputs;
        out.push(Derivation {
            target,
            facts: walker.facts,
            sql: st.to_string(),
        });
    }
    Ok(out)
}

/// `a.b.c` lowercased (quoted identifiers keep their case, as Postgres does).
pub fn name_of(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => ident(i),
            ObjectNamePart::Function(f) => f.name.value.to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn ident(i: &datafusion::sql::sqlparser::ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// A relation in a query's scope and the base columns behind each of its columns.
#[derive(Debug, Clone)]
enum Relation {
    Base(String),
    /// A CTE or derived table: its output columns.
    Derived(Vec<(String, BTreeSet<ColRef>)>),
}

type Ctes = BTreeMap<String, Vec<(String, BTreeSet<ColRef>)>>;

struct Walker<'a> {
    columns_of: &'a dyn Fn(&str) -> Option<Vec<String>>,
    facts: SqlFacts,
}

impl Walker<'_> {
    fn query(&mut self, q: &Query, outer: &Ctes) -> Vec<(String, BTreeSet<ColRef>)> {
        let mut ctes = outer.clone();
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                let mut cols = self.query(&cte.query, &ctes);
                for (i, c) in cte.alias.columns.iter().enumerate() {
                    if let Some(o) = cols.get_mut(i) {
                        o.0 = ident(&c.name);
                    }
                }
                ctes.insert(ident(&cte.alias.name), cols);
            }
        }
        let outputs = self.set_expr(&q.body, &ctes);
        // ORDER BY may name base columns too.
        if let Some(ob) = &q.order_by {
            let exprs: Vec<&Expr> = match &ob.kind {
                datafusion::sql::sqlparser::ast::OrderByKind::Expressions(v) => {
                    v.iter().map(|e| &e.expr).collect()
                }
                _ => vec![],
            };
            let scope = Scope(vec![("".into(), Relation::Derived(outputs.clone()))]);
            for e in exprs {
                for r in self.refs(e, &scope, &ctes) {
                    self.facts.columns.insert(r);
                }
            }
        }
        outputs
    }

    fn set_expr(&mut self, body: &SetExpr, ctes: &Ctes) -> Vec<(String, BTreeSet<ColRef>)> {
        match body {
            SetExpr::Select(s) => self.select(s, ctes),
            SetExpr::Query(q) => self.query(q, ctes),
            SetExpr::SetOperation { left, right, .. } => {
                let mut l = self.set_expr(left, ctes);
                let r = self.set_expr(right, ctes);
                for (i, (_, refs)) in r.into_iter().enumerate() {
                    if let Some(o) = l.get_mut(i) {
                        o.1.extend(refs);
                    }
                }
                l
            }
            _ => vec![],
        }
    }

    fn relation(&mut self, f: &TableFactor, ctes: &Ctes, scope: &mut Scope) {
        match f {
            TableFactor::Table { name, alias, .. } => {
                let n = name_of(name);
                let alias_name = alias
                    .as_ref()
                    .map(|a| ident(&a.name))
                    .unwrap_or_else(|| n.rsplit('.').next().unwrap_or(&n).to_string());
                if let Some(cols) = ctes.get(&n).filter(|_| name.0.len() == 1) {
                    scope.0.push((alias_name, Relation::Derived(cols.clone())));
                } else {
                    self.facts.tables.insert(n.clone());
                    scope.0.push((alias_name, Relation::Base(n)));
                }
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let mut cols = self.query(subquery, ctes);
                let name = match alias {
                    Some(a) => {
                        for (i, c) in a.columns.iter().enumerate() {
                            if let Some(o) = cols.get_mut(i) {
                                o.0 = ident(&c.name);
                            }
                        }
                        ident(&a.name)
                    }
                    None => String::new(),
                };
                scope.0.push((name, Relation::Derived(cols)));
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.walk_from(table_with_joins, ctes, scope),
            _ => {}
        }
    }

    fn walk_from(&mut self, twj: &TableWithJoins, ctes: &Ctes, scope: &mut Scope) {
        self.relation(&twj.relation, ctes, scope);
        for j in &twj.joins {
            self.relation(&j.relation, ctes, scope);
        }
    }

    fn select(&mut self, s: &Select, ctes: &Ctes) -> Vec<(String, BTreeSet<ColRef>)> {
        let mut scope = Scope(Vec::new());
        for twj in &s.from {
            self.walk_from(twj, ctes, &mut scope);
        }
        let mut outputs = Vec::new();
        for item in &s.projection {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    let name = match e {
                        Expr::Identifier(i) => ident(i),
                        Expr::CompoundIdentifier(parts) => {
                            parts.last().map(ident).unwrap_or_default()
                        }
                        other => other.to_string(),
                    };
                    outputs.push((name, self.refs(e, &scope, ctes)));
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    outputs.push((ident(alias), self.refs(expr, &scope, ctes)));
                }
                SelectItem::ExprWithAliases { expr, aliases } => {
                    let refs = self.refs(expr, &scope, ctes);
                    for a in aliases {
                        outputs.push((ident(a), refs.clone()));
                    }
                }
                SelectItem::Wildcard(_) => {
                    for (_, rel) in scope.0.clone() {
                        outputs.extend(self.expand(&rel));
                    }
                }
                SelectItem::QualifiedWildcard(kind, _) => {
                    let q = match kind {
                        SelectItemQualifiedWildcardKind::ObjectName(n) => name_of(n),
                        SelectItemQualifiedWildcardKind::Expr(e) => e.to_string().to_lowercase(),
                    };
                    if let Some(rel) = scope.find(&q).cloned() {
                        outputs.extend(self.expand(&rel));
                    }
                }
            }
        }
        for (_, refs) in &outputs {
            self.facts.columns.extend(refs.iter().cloned());
        }
        // Every other expression of the SELECT: join conditions, WHERE, GROUP BY, HAVING.
        let mut others: Vec<&Expr> = Vec::new();
        for twj in &s.from {
            for j in &twj.joins {
                if let Some(e) = join_condition(&j.join_operator) {
                    use datafusion::sql::sqlparser::ast::JoinOperator as J;
                    let outer = matches!(
                        j.join_operator,
                        J::Left(_)
                            | J::LeftOuter(_)
                            | J::Right(_)
                            | J::RightOuter(_)
                            | J::FullOuter(_)
                    );
                    others.push(e);
                    self.join_pairs(e, &scope, outer);
                }
            }
        }
        if let Some(w) = &s.selection {
            others.push(w);
            // Old-style joins: `FROM a, b WHERE a.x = b.y`.
            self.join_pairs(w, &scope, false);
        }
        if let datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(v, _) = &s.group_by {
            others.extend(v.iter());
        }
        if let Some(h) = &s.having {
            others.push(h);
        }
        for e in others {
            let refs = self.refs(e, &scope, ctes);
            self.facts.columns.extend(refs);
        }
        outputs
    }

    /// The columns behind `*` of one relation.
    fn expand(&self, rel: &Relation) -> Vec<(String, BTreeSet<ColRef>)> {
        match rel {
            Relation::Base(t) => (self.columns_of)(t)
                .unwrap_or_default()
                .into_iter()
                .map(|c| (c.clone(), BTreeSet::from([(t.clone(), c)])))
                .collect(),
            Relation::Derived(cols) => cols.clone(),
        }
    }

    /// Equality conditions `a.x = b.y` between two base tables, inside ANDs.
    fn join_pairs(&mut self, e: &Expr, scope: &Scope, outer: bool) {
        use datafusion::sql::sqlparser::ast::BinaryOperator;
        match e {
            Expr::BinaryOp { left, op, right } if *op == BinaryOperator::And => {
                self.join_pairs(left, scope, outer);
                self.join_pairs(right, scope, outer);
            }
            Expr::Nested(inner) => self.join_pairs(inner, scope, outer),
            Expr::BinaryOp { left, op, right } if *op == BinaryOperator::Eq => {
                let (l, r) = (self.column_of(left, scope), self.column_of(right, scope));
                for a in &l {
                    for b in &r {
                        if a.0 != b.0 {
                            let pair = if a <= b {
                                (a.clone(), b.clone())
                            } else {
                                (b.clone(), a.clone())
                            };
                            if outer {
                                self.facts.outer_joins.insert(pair.clone());
                            }
                            self.facts.joins.insert(pair);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The base columns a bare column reference stands for (empty for anything else).
    fn column_of(&self, e: &Expr, scope: &Scope) -> BTreeSet<ColRef> {
        match e {
            Expr::Identifier(i) => self.resolve(None, &ident(i), scope),
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let col = ident(&parts[parts.len() - 1]);
                let qual = parts[..parts.len() - 1]
                    .iter()
                    .map(ident)
                    .collect::<Vec<_>>()
                    .join(".");
                self.resolve(Some(&qual), &col, scope)
            }
            Expr::Nested(inner) => self.column_of(inner, scope),
            Expr::Cast { expr, .. } => self.column_of(expr, scope),
            _ => BTreeSet::new(),
        }
    }

    /// Base columns referenced by an expression. Subqueries inside it are walked as queries
    /// of their own (their tables and columns count), with the outer scope visible.
    fn refs(&mut self, e: &Expr, scope: &Scope, ctes: &Ctes) -> BTreeSet<ColRef> {
        struct Collect<'s, 'w, 'a> {
            walker: &'w mut Walker<'a>,
            scope: &'s Scope,
            ctes: &'s Ctes,
            out: BTreeSet<ColRef>,
            depth: usize,
        }
        impl Visitor for Collect<'_, '_, '_> {
            type Break = ();
            fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
                if self.depth == 0 {
                    // A subquery: its own scope; walk it separately, once.
                    let ctes = self.ctes.clone();
                    let _ = self.walker.query(q, &ctes);
                }
                self.depth += 1;
                ControlFlow::Continue(())
            }
            fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
                self.depth -= 1;
                ControlFlow::Continue(())
            }
            fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
                if self.depth > 0 {
                    return ControlFlow::Continue(());
                }
                match e {
                    Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                        let found = self.walker.column_of(e, self.scope);
                        self.out.extend(found);
                    }
                    _ => {}
                }
                ControlFlow::Continue(())
            }
        }
        let mut c = Collect {
            walker: self,
            scope,
            ctes,
            out: BTreeSet::new(),
            depth: 0,
        };
        let _ = e.visit(&mut c);
        c.out
    }

    fn resolve(&self, qualifier: Option<&str>, col: &str, scope: &Scope) -> BTreeSet<ColRef> {
        let from_rel = |rel: &Relation| -> Option<BTreeSet<ColRef>> {
            match rel {
                Relation::Base(t) => match (self.columns_of)(t) {
                    Some(cols) if !cols.iter().any(|c| c.eq_ignore_ascii_case(col)) => None,
                    _ => Some(BTreeSet::from([(t.clone(), col.to_string())])),
                },
                Relation::Derived(cols) => cols
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(col))
                    .map(|(_, refs)| refs.clone()),
            }
        };
        if let Some(q) = qualifier {
            return scope.find(q).and_then(from_rel).unwrap_or_default();
        }
        // Unqualified: the relations that are known to have it; if none is known to, the
        // only relation in scope, or each relation whose columns are unknown.
        let known: Vec<BTreeSet<ColRef>> = scope
            .0
            .iter()
            .filter(|(_, r)| match r {
                Relation::Base(t) => (self.columns_of)(t).is_some(),
                Relation::Derived(_) => true,
            })
            .filter_map(|(_, r)| from_rel(r))
            .collect();
        if let Some(first) = known.into_iter().next() {
            return first;
        }
        let unknown: Vec<&Relation> = scope
            .0
            .iter()
            .map(|(_, r)| r)
            .filter(|r| matches!(r, Relation::Base(t) if (self.columns_of)(t).is_none()))
            .collect();
        if unknown.len() == 1 {
            return from_rel(unknown[0]).unwrap_or_default();
        }
        BTreeSet::new()
    }
}

fn join_condition(op: &datafusion::sql::sqlparser::ast::JoinOperator) -> Option<&Expr> {
    use datafusion::sql::sqlparser::ast::{JoinConstraint, JoinOperator as J};
    let c = match op {
        J::Join(c)
        | J::Inner(c)
        | J::Left(c)
        | J::LeftOuter(c)
        | J::Right(c)
        | J::RightOuter(c)
        | J::FullOuter(c)
        | J::Semi(c)
        | J::LeftSemi(c)
        | J::RightSemi(c)
        | J::Anti(c)
        | J::LeftAnti(c)
        | J::RightAnti(c) => c,
        _ => return None,
    };
    match c {
        JoinConstraint::On(e) => Some(e),
        _ => None,
    }
}

/// The relations of one SELECT, by alias (or table name when there is none).
#[derive(Debug)]
struct Scope(Vec<(String, Relation)>);

impl Scope {
    fn find(&self, qualifier: &str) -> Option<&Relation> {
        // `alias`, or a table's written name (`main.t` or `lake.main.t`), or its last part.
        self.0
            .iter()
            .find(|(a, _)| a.eq_ignore_ascii_case(qualifier))
            .or_else(|| {
                self.0.iter().find(|(_, r)| match r {
                    Relation::Base(t) => {
                        t.eq_ignore_ascii_case(qualifier)
                            || t.to_lowercase()
                                .ends_with(&format!(".{}", qualifier.to_lowercase()))
                    }
                    _ => false,
                })
            })
            .map(|(_, r)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(t: &str) -> Option<Vec<String>> {
        let v: &[&str] = match t {
            "events" => &["account_id", "product", "units", "day"],
            "accounts" => &["account_id", "name", "plan_tier"],
            "legacy" => &["legacy_id", "account_id"],
            _ => return None,
        };
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    fn set(v: &[(&str, &str)]) -> BTreeSet<ColRef> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn ctas_with_cte_and_join_gives_column_lineage() {
        let sql = "CREATE TABLE daily AS \
            WITH e AS (SELECT account_id AS acct, units FROM events WHERE product = 'w') \
            SELECT a.name, sum(e.units) AS total FROM e JOIN accounts a ON a.account_id = e.acct \
            GROUP BY a.name";
        let d = &analyze(sql, &cols).unwrap()[0];
        assert_eq!(d.target.as_deref(), Some("daily"));
        assert_eq!(
            d.facts.tables,
            BTreeSet::from(["events".to_string(), "accounts".to_string()])
        );
        assert_eq!(
            d.facts.outputs[0],
            ("name".into(), set(&[("accounts", "name")]))
        );
        assert_eq!(
            d.facts.outputs[1],
            ("total".into(), set(&[("events", "units")]))
        );
        assert!(
            d.facts
                .columns
                .contains(&("events".into(), "product".into()))
        );
        assert!(d.facts.joins.contains(&(
            ("accounts".into(), "account_id".into()),
            ("events".into(), "account_id".into())
        )));
    }

    #[test]
    fn insert_select_names_outputs_by_the_column_list() {
        let sql = "INSERT INTO out (acct, n) SELECT coalesce(e.account_id, l.account_id), count(*) \
                   FROM events e LEFT JOIN legacy l ON l.legacy_id = e.product GROUP BY 1";
        let d = &analyze(sql, &cols).unwrap()[0];
        assert_eq!(d.target.as_deref(), Some("out"));
        assert_eq!(
            d.facts.outputs[0],
            (
                "acct".into(),
                set(&[("events", "account_id"), ("legacy", "account_id")])
            )
        );
        assert_eq!(d.facts.outputs[1].0, "n");
    }

    #[test]
    fn outer_joins_are_told_apart() {
        let sql = "SELECT a.name, sum(e.units) FROM events e \
                   LEFT JOIN legacy l ON l.legacy_id = e.product \
                   JOIN accounts a ON a.account_id = e.account_id GROUP BY 1";
        let d = &analyze(sql, &cols).unwrap()[0];
        let legacy = (
            ("events".to_string(), "product".to_string()),
            ("legacy".to_string(), "legacy_id".to_string()),
        );
        let inner = (
            ("accounts".to_string(), "account_id".to_string()),
            ("events".to_string(), "account_id".to_string()),
        );
        assert!(d.facts.joins.contains(&legacy) && d.facts.joins.contains(&inner));
        assert_eq!(d.facts.outer_joins, BTreeSet::from([legacy]));
    }

    #[test]
    fn subqueries_and_unions_count() {
        let sql = "SELECT name FROM accounts WHERE account_id IN (SELECT account_id FROM events) \
                   UNION ALL SELECT legacy_id FROM legacy";
        let d = &analyze(sql, &cols).unwrap()[0];
        assert_eq!(d.target, None);
        assert_eq!(d.facts.tables.len(), 3);
        assert_eq!(
            d.facts.outputs[0].1,
            set(&[("accounts", "name"), ("legacy", "legacy_id")])
        );
        assert!(
            d.facts
                .columns
                .contains(&("events".into(), "account_id".into()))
        );
    }

    #[test]
    fn bad_sql_is_an_error() {
        assert!(analyze("SELEC 1", &cols).is_err());
    }
}
