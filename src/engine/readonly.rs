//! The read-only gate: SQL is parsed with DataFusion's own `sqlparser` before anything runs,
//! and only statements that cannot change anything pass.
//!
//! Allowed: queries (SELECT, WITH, VALUES, set operations), SHOW, DESCRIBE, and plain EXPLAIN
//! (not EXPLAIN ANALYZE, which executes). Everything else is refused with the statement kind
//! named. A query may still read through a function with side effects in a remote source;
//! that is why remote sessions are also read-only at the server (see `engine::postgres`).

use datafusion::sql::sqlparser::ast::{Statement, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::{GenericDialect, PostgreSqlDialect};
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use std::ops::ControlFlow;

/// Why a piece of SQL was refused before it ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("syntax error: {message}")]
    Syntax { message: String },
    #[error("no SQL statement given")]
    Empty,
    #[error("{count} statements in one argument; Skipper runs exactly one")]
    Several { count: usize },
    #[error("{kind} is not allowed: Skipper is read-only")]
    NotReadOnly { kind: String },
}

impl Refusal {
    /// The SQL tried to change something (as opposed to being malformed).
    pub fn is_write(&self) -> bool {
        matches!(self, Refusal::NotReadOnly { .. })
    }
    pub fn hint(&self) -> &'static str {
        match self {
            Refusal::Syntax { .. } => "check the SQL near the position shown",
            Refusal::Empty => "pass a query, e.g. skipper sql \"SELECT 1\"",
            Refusal::Several { .. } => "run them one at a time, or put them in a file and use -f",
            Refusal::NotReadOnly { .. } => {
                "only SELECT/WITH/VALUES, SHOW, DESCRIBE and EXPLAIN run; change data in the source itself"
            }
        }
    }
}

/// Parse `sql` and return its statements, refusing any that is not read-only.
/// `allow_several` is for `-f FILE`, where each statement is then checked and run in turn.
pub fn check(sql: &str, allow_several: bool) -> Result<Vec<Statement>, Refusal> {
    // Postgres's grammar first: Skipper's SQL is Postgres's, and the two differ in more than
    // syntax (the generic dialect binds `->>` looser than `=`, so `j ->> 'k' = 'v'` meant
    // `j ->> ('k' = 'v')`). DataFusion's own (generic) dialect where that fails, for its own
    // statements and syntax.
    // `BETWEEN SYMMETRIC`, which the parser does not know, is read as Postgres reads it.
    let (text, symmetric) = super::symmetric::blank(sql);
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, &text)
        .or_else(|e| Parser::parse_sql(&GenericDialect {}, &text).map_err(|_| e))
        .map_err(|e| Refusal::Syntax {
            message: match e {
                ParserError::ParserError(m) | ParserError::TokenizerError(m) => m,
                ParserError::RecursionLimitExceeded => "query nests too deeply".into(),
            },
        })?;
    super::symmetric::rewrite(&mut statements, &symmetric)
        .map_err(|message| Refusal::Syntax { message })?;
    if statements.is_empty() {
        return Err(Refusal::Empty);
    }
    // A write anywhere is named as such, even among several statements.
    for s in &statements {
        check_statement(s)?;
    }
    if statements.len() > 1 && !allow_several {
        return Err(Refusal::Several {
            count: statements.len(),
        });
    }
    Ok(statements)
}

/// Check one already-parsed statement (for callers that hold an AST, such as the agent).
pub fn check_statement(statement: &Statement) -> Result<(), Refusal> {
    match statement {
        Statement::Query(_) => check_query_body(statement),
        Statement::Explain {
            analyze, statement, ..
        } => {
            if *analyze {
                return Err(Refusal::NotReadOnly {
                    kind: "EXPLAIN ANALYZE".into(),
                });
            }
            check_statement(statement)
        }
        Statement::ExplainTable { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowFunctions { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowCreate { .. } => Ok(()),
        other => Err(Refusal::NotReadOnly {
            kind: statement_kind(other),
        }),
    }
}

/// A query can hide a write: `SELECT … INTO t` creates a table, and data-modifying CTEs
/// (`WITH x AS (DELETE …)`) change data. Walk the whole tree for them.
fn check_query_body(statement: &Statement) -> Result<(), Refusal> {
    struct Finder(Option<String>);
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_query(
            &mut self,
            q: &datafusion::sql::sqlparser::ast::Query,
        ) -> ControlFlow<()> {
            use datafusion::sql::sqlparser::ast::SetExpr;
            fn walk(body: &SetExpr) -> Option<String> {
                match body {
                    SetExpr::Select(s) if s.into.is_some() => Some("SELECT … INTO".into()),
                    SetExpr::Insert(_) => Some("INSERT".into()),
                    SetExpr::Update(_) => Some("UPDATE".into()),
                    SetExpr::Delete(_) => Some("DELETE".into()),
                    SetExpr::Merge(_) => Some("MERGE".into()),
                    SetExpr::SetOperation { left, right, .. } => walk(left).or_else(|| walk(right)),
                    _ => None,
                }
            }
            if let Some(k) = walk(&q.body) {
                self.0 = Some(k);
                return ControlFlow::Break(());
            }
            if q.locks.iter().any(|_| true) {
                self.0 = Some("SELECT … FOR UPDATE/SHARE".into());
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut f = Finder(None);
    let _ = statement.visit(&mut f);
    match f.0 {
        Some(kind) => Err(Refusal::NotReadOnly { kind }),
        None => Ok(()),
    }
}

/// The statement's leading keywords, for the refusal message (`INSERT`, `CREATE TABLE`, …).
fn statement_kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(3).collect();
    let two_word_leads = [
        "CREATE", "DROP", "ALTER", "TRUNCATE", "GRANT", "REVOKE", "COPY", "INSERT", "DELETE",
    ];
    let mut kind = words.first().copied().unwrap_or("statement").to_uppercase();
    if two_word_leads.contains(&kind.as_str())
        && let Some(second) = words.get(1)
    {
        let second = second.to_uppercase();
        if matches!(
            second.as_str(),
            "TABLE"
                | "VIEW"
                | "SCHEMA"
                | "DATABASE"
                | "INDEX"
                | "FUNCTION"
                | "EXTERNAL"
                | "TEMPORARY"
                | "OR"
                | "INTO"
                | "FROM"
                | "CATALOG"
        ) {
            kind = format!("{kind} {second}");
        }
    }
    kind
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_show_describe_and_explain_pass() {
        for sql in [
            "SELECT 1",
            "select * from a.b.c where x > 1 order by 1 limit 3",
            "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
            "VALUES (1, 'a'), (2, 'b')",
            "SELECT 1 UNION ALL SELECT 2",
            "SHOW TABLES",
            "SHOW COLUMNS FROM t",
            "DESCRIBE t",
            "EXPLAIN SELECT 1",
        ] {
            assert!(check(sql, false).is_ok(), "{sql}: {:?}", check(sql, false));
        }
    }

    #[test]
    fn every_writing_kind_is_refused_with_its_name() {
        for (sql, kind) in [
            ("INSERT INTO t VALUES (1)", "INSERT INTO"),
            ("UPDATE t SET x = 1", "UPDATE"),
            ("DELETE FROM t", "DELETE FROM"),
            ("COPY t TO '/tmp/x.csv'", "COPY"),
            ("CREATE TABLE t (x INT)", "CREATE TABLE"),
            ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
            ("DROP TABLE t", "DROP TABLE"),
            ("SET datafusion.execution.batch_size = 1", "SET"),
            ("TRUNCATE TABLE t", "TRUNCATE TABLE"),
            ("ALTER TABLE t ADD COLUMN y INT", "ALTER TABLE"),
            ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE"),
            ("EXPLAIN DELETE FROM t", "DELETE FROM"),
            ("SELECT * INTO t2 FROM t", "SELECT … INTO"),
            ("SELECT * FROM t FOR UPDATE", "SELECT … FOR UPDATE/SHARE"),
        ] {
            match check(sql, false) {
                Err(Refusal::NotReadOnly { kind: k }) => assert_eq!(k, kind, "{sql}"),
                other => panic!("{sql}: expected refusal, got {other:?}"),
            }
        }
    }

    #[test]
    fn several_statements_only_with_files() {
        assert_eq!(
            check("SELECT 1; SELECT 2", false),
            Err(Refusal::Several { count: 2 })
        );
        assert_eq!(check("SELECT 1; SELECT 2;", true).unwrap().len(), 2);
        // A writing statement anywhere in a file refuses the file before anything runs.
        assert!(matches!(
            check("SELECT 1; DROP TABLE t", true),
            Err(Refusal::NotReadOnly { .. })
        ));
    }

    #[test]
    fn syntax_errors_carry_the_position_and_empty_is_refused() {
        match check("SELEC 1", false) {
            Err(Refusal::Syntax { message }) => assert!(message.contains("Line: 1"), "{message}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(check("  ;  ", false), Err(Refusal::Empty));
        assert_eq!(check("", false), Err(Refusal::Empty));
    }
}
