//! `x BETWEEN SYMMETRIC a AND b`, which the SQL parser (sqlparser, read before anything else)
//! does not know: every query using it was refused as a syntax error, even one Postgres would
//! run whole. Postgres itself reads it as `(x BETWEEN a AND b OR x BETWEEN b AND a)`
//! (`transformAExprBetween` in its `parse_expr.c`), and `NOT BETWEEN SYMMETRIC` as the negation
//! of that; Skipper does the same.
//!
//! Before parsing, the keyword (and the no-op `ASYMMETRIC`) after `BETWEEN` is blanked out with
//! spaces, so every other token keeps its line and column; after parsing, the BETWEEN whose
//! operand ends before the blanked keyword and whose lower bound starts first after it is the
//! symmetric one. A keyword that matches no BETWEEN is a syntax error, never a silently
//! asymmetric comparison.

use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Spanned, Statement, UnaryOperator};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};
use std::borrow::Cow;

/// `sql` with `SYMMETRIC`/`ASYMMETRIC` after `BETWEEN` blanked out, and where each `SYMMETRIC`
/// was. SQL the tokenizer cannot read is returned as it is, for the parser to report.
pub fn blank(sql: &str) -> (Cow<'_, str>, Vec<Location>) {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location() else {
        return (Cow::Borrowed(sql), Vec::new());
    };
    let mut previous: Option<&Token> = None;
    let mut blanked: Vec<(Location, usize)> = Vec::new();
    let mut symmetric = Vec::new();
    for t in &tokens {
        if matches!(t.token, Token::Whitespace(_)) {
            continue;
        }
        let after_between =
            matches!(previous, Some(Token::Word(w)) if w.keyword == Keyword::BETWEEN);
        if let Token::Word(w) = &t.token
            && after_between
            && w.quote_style.is_none()
            && matches!(w.keyword, Keyword::SYMMETRIC | Keyword::ASYMMETRIC)
        {
            blanked.push((t.span.start, w.value.chars().count()));
            if w.keyword == Keyword::SYMMETRIC {
                symmetric.push(t.span.start);
            }
        }
        previous = Some(&t.token);
    }
    if blanked.is_empty() {
        return (Cow::Borrowed(sql), symmetric);
    }
    let mut out = String::with_capacity(sql.len());
    let (mut line, mut column) = (1u64, 1u64);
    let mut remaining = 0usize;
    for c in sql.chars() {
        if let Some((_, len)) = blanked
            .iter()
            .find(|(at, _)| at.line == line && at.column == column)
        {
            remaining = *len;
        }
        if remaining > 0 {
            out.push(' ');
            remaining -= 1;
        } else {
            out.push(c);
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (Cow::Owned(out), symmetric)
}

fn before(a: Location, b: Location) -> bool {
    (a.line, a.column) <= (b.line, b.column)
}

/// Rewrite the BETWEENs that `at` (from [`blank`]) marks as symmetric; an error names a
/// `SYMMETRIC` that matches none.
pub fn rewrite(statements: &mut [Statement], at: &[Location]) -> Result<(), String> {
    use datafusion::sql::sqlparser::ast::{Visit, VisitMut, Visitor, VisitorMut};
    use std::ops::ControlFlow;
    if at.is_empty() {
        return Ok(());
    }
    // Each BETWEEN's operand end and lower bound start, innermost first (the order the rewrite
    // visits them in).
    struct Find(Vec<(Location, Location)>);
    impl Visitor for Find {
        type Break = ();
        fn post_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Between { expr, low, .. } = e {
                self.0.push((expr.span().end, low.span().start));
            }
            ControlFlow::Continue(())
        }
    }
    let mut found = Find(Vec::new());
    for s in statements.iter() {
        let _ = s.visit(&mut found);
    }
    let mut chosen = vec![false; found.0.len()];
    for keyword in at {
        let best = found
            .0
            .iter()
            .enumerate()
            .filter(|(_, (end, start))| {
                start.line > 0 && before(*end, *keyword) && before(*keyword, *start)
            })
            .min_by_key(|(_, (_, start))| (start.line, start.column))
            .map(|(i, _)| i);
        match best {
            Some(i) => chosen[i] = true,
            None => {
                return Err(format!(
                    "BETWEEN SYMMETRIC at line {} column {} could not be read; write it as \
                     (x BETWEEN a AND b OR x BETWEEN b AND a)",
                    keyword.line, keyword.column
                ));
            }
        }
    }
    struct Rewrite {
        chosen: Vec<bool>,
        n: usize,
    }
    impl VisitorMut for Rewrite {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            let Expr::Between {
                expr,
                negated,
                low,
                high,
            } = e
            else {
                return ControlFlow::Continue(());
            };
            let symmetric = self.chosen.get(self.n).copied().unwrap_or(false);
            self.n += 1;
            if !symmetric {
                return ControlFlow::Continue(());
            }
            let between = |low: &Expr, high: &Expr| {
                Box::new(Expr::Nested(Box::new(Expr::Between {
                    expr: expr.clone(),
                    negated: false,
                    low: Box::new(low.clone()),
                    high: Box::new(high.clone()),
                })))
            };
            let either = Expr::Nested(Box::new(Expr::BinaryOp {
                left: between(low, high),
                op: BinaryOperator::Or,
                right: between(high, low),
            }));
            *e = if *negated {
                Expr::UnaryOp {
                    op: UnaryOperator::Not,
                    expr: Box::new(either),
                }
            } else {
                either
            };
            ControlFlow::Continue(())
        }
    }
    let mut rewrite = Rewrite { chosen, n: 0 };
    for s in statements.iter_mut() {
        let _ = s.visit(&mut rewrite);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::parser::Parser;

    fn read(sql: &str) -> Result<String, String> {
        let (text, at) = blank(sql);
        let mut statements =
            Parser::parse_sql(&PostgreSqlDialect {}, &text).map_err(|e| e.to_string())?;
        rewrite(&mut statements, &at)?;
        Ok(statements[0].to_string())
    }

    #[test]
    fn symmetric_betweens_read_as_postgres_reads_them() {
        assert_eq!(
            read("SELECT 1 FROM t WHERE x BETWEEN SYMMETRIC 10 AND 1").unwrap(),
            "SELECT 1 FROM t WHERE ((x BETWEEN 10 AND 1) OR (x BETWEEN 1 AND 10))"
        );
        assert_eq!(
            read("SELECT x not between symmetric (a + 1) and b, y BETWEEN 1 AND 2 FROM t").unwrap(),
            "SELECT NOT ((x BETWEEN (a + 1) AND b) OR (x BETWEEN b AND (a + 1))), y BETWEEN 1 AND 2 FROM t"
        );
        // Nested: the inner BETWEEN is the symmetric one.
        assert_eq!(
            read(
                "SELECT (x BETWEEN 1 AND 2) BETWEEN false AND (y BETWEEN\nSYMMETRIC 5 AND 3) FROM t"
            )
            .unwrap(),
            "SELECT (x BETWEEN 1 AND 2) BETWEEN false AND (((y BETWEEN 5 AND 3) OR (y BETWEEN 3 AND 5))) FROM t"
        );
        assert_eq!(
            read("SELECT x BETWEEN ASYMMETRIC 1 AND 2 FROM t").unwrap(),
            "SELECT x BETWEEN 1 AND 2 FROM t"
        );
        // Not after BETWEEN, it stays a name.
        assert_eq!(
            read("SELECT symmetric FROM t").unwrap(),
            "SELECT symmetric FROM t"
        );
        assert_eq!(
            read("SELECT 'x BETWEEN SYMMETRIC' AS s").unwrap(),
            "SELECT 'x BETWEEN SYMMETRIC' AS s"
        );
    }

    #[test]
    fn a_symmetric_keyword_matching_no_between_is_an_error() {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT 1").unwrap();
        let err = rewrite(&mut statements, &[Location::new(1, 3)]).unwrap_err();
        assert!(err.contains("line 1 column 3"), "{err}");
    }
}
