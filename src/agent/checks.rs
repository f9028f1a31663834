//! Checks on a result, because a query that runs can still be wrong. Each finding becomes a
//! warning on the answer and, once, a further attempt with the finding as the error.
//!
//! | check | how | cost |
//! |---|---|---|
//! | empty result | the row count | none |
//! | sampled table for an exact question | the question's billing words × the catalog's `sampled` rate, and an unsampled table related by lineage or name | none |
//! | filter value that does not occur | `col = 'v'` / `col IN (…)` literals against the column's declared values or complete introspected common values | none (catalog statistics) |
//! | join that multiplies or drops rows | for each join the SQL makes that the catalog declares: `COUNT(*)` of the many side against `COUNT(*)` of the join alone | two `COUNT(*)` queries per declared join (at most three joins) |
//! | join on undeclared keys | the SQL's join keys against the catalog's join paths between the same tables | none |

use crate::catalog::model::Cardinality;
use crate::catalog::sqlfacts::{self, ColRef};
use crate::catalog::{Catalog, Table};
use crate::engine::Engine;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Statement, Value, ValueWithSpan, visit_expressions,
};
use std::collections::BTreeSet;
use std::ops::ControlFlow;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// empty_result, sampled_table, unknown_value, join_multiplies, join_drops, undeclared_join
    pub kind: &'static str,
    pub message: String,
}

/// Words of exact (billing) questions, as stems' prefixes.
const EXACT_WORDS: &[&str] = &[
    "bill",
    "invoic",
    "revenu",
    "charg",
    "payment",
    "paid",
    "amount due",
    "cost",
    "spend",
];

pub fn is_exact_question(question: &str) -> bool {
    let q = question.to_lowercase();
    q.split(|c: char| !c.is_alphanumeric())
        .any(|w| EXACT_WORDS.iter().any(|e| w.starts_with(e)))
}

/// Everything that needs no query.
pub fn static_checks(
    cat: &Catalog,
    question: &str,
    statement: &Statement,
    tables: &[String],
    rows: usize,
) -> Vec<Finding> {
    let mut out = Vec::new();
    if rows == 0 {
        out.push(Finding {
            kind: "empty_result",
            message: "the query returned no rows".into(),
        });
    }
    if is_exact_question(question) {
        for name in tables {
            let Some(t) = cat.table(name) else { continue };
            if !t.is_sampled() {
                continue;
            }
            if let Some(exact) = unsampled_twin(cat, t) {
                out.push(Finding {
                    kind: "sampled_table",
                    message: format!(
                        "{} is a sampled table ({}) but the question needs exact numbers; use the unsampled {}",
                        t.name,
                        t.sampled
                            .as_ref()
                            .and_then(|s| s.rate())
                            .filter(|r| !r.is_nan())
                            .map(|r| format!("rate {r}"))
                            .unwrap_or_else(|| "rate unknown".into()),
                        exact.name
                    ),
                });
            }
        }
    }
    out.extend(unknown_values(cat, statement, tables));
    out
}

/// An unsampled table the sampled `t` is a copy of: linked by lineage, or named as its prefix.
fn unsampled_twin<'c>(cat: &'c Catalog, t: &Table) -> Option<&'c Table> {
    let related: BTreeSet<String> = cat
        .neighbours(&t.name, true)
        .iter()
        .flat_map(|e| e.from.iter().cloned())
        .chain(cat.neighbours(&t.name, false).iter().map(|e| e.to.clone()))
        .collect();
    cat.tables
        .iter()
        .filter(|o| o.name != t.name && !o.is_sampled())
        .find(|o| {
            related.contains(&o.name)
                || (o.source == t.source
                    && t.short_name().starts_with(o.short_name())
                    && t.short_name().len() > o.short_name().len())
        })
}

/// `col = 'v'` and `col IN ('v', …)` whose values the column never holds.
fn unknown_values(cat: &Catalog, statement: &Statement, tables: &[String]) -> Vec<Finding> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let _ = visit_expressions(statement, |e: &Expr| {
        match e {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } => {
                for (a, b) in [(left, right), (right, left)] {
                    if let (Some(c), Some(v)) = (column_name(a), literal(b)) {
                        pairs.push((c, v));
                    }
                }
            }
            Expr::InList {
                expr,
                list,
                negated: false,
            } => {
                if let Some(c) = column_name(expr) {
                    pairs.extend(list.iter().filter_map(literal).map(|v| (c.clone(), v)));
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (col, value) in pairs {
        if !seen.insert((col.clone(), value.clone())) {
            continue;
        }
        // The column among the tables the query reads (first table that has it).
        let Some((t, c)) = tables.iter().find_map(|n| {
            let t = cat.table(n)?;
            t.column(&col).map(|c| (t, c))
        }) else {
            continue;
        };
        if c.is_pii() {
            continue;
        }
        let known: Vec<String> = if !c.allowed_values.is_empty() {
            c.allowed_values.clone()
        } else {
            match &c.stats {
                // Only a complete list of values proves a value absent.
                Some(s)
                    if !s.common_values.is_empty()
                        && s.distinct
                            .is_some_and(|d| d as usize <= s.common_values.len()) =>
                {
                    s.common_values.iter().map(|(v, _)| v.clone()).collect()
                }
                _ => continue,
            }
        };
        if known.iter().any(|k| k == &value) {
            continue;
        }
        let close = known
            .iter()
            .find(|k| k.eq_ignore_ascii_case(&value))
            .or_else(|| {
                known
                    .iter()
                    .filter(|k| {
                        strsim::jaro_winkler(&k.to_lowercase(), &value.to_lowercase()) > 0.85
                    })
                    .max_by(|a, b| {
                        strsim::jaro_winkler(a, &value).total_cmp(&strsim::jaro_winkler(b, &value))
                    })
            });
        let mut shown: Vec<String> = known.iter().take(10).map(|v| format!("'{v}'")).collect();
        if known.len() > 10 {
            shown.push("…".into());
        }
        out.push(Finding {
            kind: "unknown_value",
            message: format!(
                "{}.{} never holds '{value}'{}; its values are {}",
                t.name,
                c.name,
                close
                    .map(|k| format!(" (did you mean '{k}'?)"))
                    .unwrap_or_default(),
                shown.join(", ")
            ),
        });
    }
    out
}

fn column_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(i.value.clone()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.clone()),
        Expr::Nested(inner) => column_name(inner),
        _ => None,
    }
}

fn literal(e: &Expr) -> Option<String> {
    match e {
        Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(s),
            ..
        }) => Some(s.clone()),
        _ => None,
    }
}

/// A join condition between two catalog columns, and whether an outer join makes it.
type JoinPair = ((String, String), (String, String), bool);

/// Joins the SQL makes between base tables, resolved to catalog names and columns.
pub fn joins_of(cat: &Catalog, sql: &str) -> Vec<JoinPair> {
    let cols = |raw: &str| {
        cat.resolve_table(raw)
            .ok()
            .map(|t| t.columns.iter().map(|c| c.name.clone()).collect())
    };
    let Ok(ds) = sqlfacts::analyze(sql, &cols) else {
        return vec![];
    };
    let resolve = |(t, c): &ColRef| -> Option<(String, String)> {
        let t = cat.resolve_table(t).ok()?;
        let c = t.column(c)?;
        Some((t.name.clone(), c.name.clone()))
    };
    ds.iter()
        .flat_map(|d| {
            d.facts
                .joins
                .iter()
                .map(|p| (p, d.facts.outer_joins.contains(p)))
        })
        .filter_map(|((a, b), outer)| Some((resolve(a)?, resolve(b)?, outer)))
        .collect()
}

/// Joins against the catalog's declared paths: undeclared keys (free), and for declared joins
/// whether the join multiplies or drops rows of its many side (two `COUNT(*)` queries each).
pub async fn join_checks(engine: &Engine, cat: &Catalog, sql: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for ((lt, lc), (rt, rc), outer) in joins_of(cat, sql).into_iter().take(3) {
        let declared: Vec<_> = cat
            .joins
            .iter()
            .filter(|j| {
                (j.left.eq_ignore_ascii_case(&lt) && j.right.eq_ignore_ascii_case(&rt))
                    || (j.left.eq_ignore_ascii_case(&rt) && j.right.eq_ignore_ascii_case(&lt))
            })
            .collect();
        if declared.is_empty() {
            continue;
        }
        let matching = declared.iter().find(|j| {
            j.on.iter().any(|(a, b)| {
                (j.left.eq_ignore_ascii_case(&lt)
                    && a.eq_ignore_ascii_case(&lc)
                    && b.eq_ignore_ascii_case(&rc))
                    || (j.left.eq_ignore_ascii_case(&rt)
                        && a.eq_ignore_ascii_case(&rc)
                        && b.eq_ignore_ascii_case(&lc))
            })
        });
        let Some(j) = matching else {
            out.push(Finding {
                kind: "undeclared_join",
                message: format!(
                    "joins {lt}.{lc} = {rt}.{rc}, but the catalog joins these tables on {}",
                    declared
                        .iter()
                        .map(|j| j.condition())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            });
            continue;
        };
        // The many side (the left of many-to-one, the right of one-to-many).
        let many = match j.cardinality {
            Cardinality::ManyToOne | Cardinality::OneToOne => j.left.clone(),
            Cardinality::OneToMany => j.right.clone(),
            Cardinality::ManyToMany => continue,
        };
        let base = count(engine, &format!("SELECT COUNT(*) FROM {many}")).await;
        let joined = count(
            engine,
            &format!(
                "SELECT COUNT(*) FROM {} JOIN {} ON {}",
                j.left,
                j.right,
                j.condition()
            ),
        )
        .await;
        if let (Some(b), Some(n)) = (base, joined) {
            if n > b {
                out.push(Finding {
                    kind: "join_multiplies",
                    message: format!(
                        "the join {} is declared {} but multiplies rows: {b} rows of {many} become {n}",
                        j.condition(),
                        j.cardinality.as_str()
                    ),
                });
            } else if n < b && !outer {
                out.push(Finding {
                    kind: "join_drops",
                    message: format!(
                        "the inner join {} drops {} of {b} rows of {many} that have no match{}",
                        j.condition(),
                        b - n,
                        if j.id_translation {
                            " (keys that need the id translation?)"
                        } else {
                            "; a LEFT JOIN keeps them"
                        }
                    ),
                });
            }
        }
    }
    out
}

async fn count(engine: &Engine, sql: &str) -> Option<u64> {
    use datafusion::arrow::array::{Array, Int64Array};
    use futures::StreamExt;
    let st = engine.check(sql, false).ok()?.pop()?;
    let planned = engine.plan(&st).await.ok()?;
    let mut stream = engine.execute(&planned).ok()?;
    let batch = stream.next().await?.ok()?;
    let col = batch.column(0).as_any().downcast_ref::<Int64Array>()?;
    (!col.is_empty() && !col.is_null(0)).then(|| col.value(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_questions() {
        assert!(is_exact_question("billable requests by account"));
        assert!(is_exact_question("Invoice totals last month"));
        assert!(is_exact_question("revenue by plan"));
        assert!(!is_exact_question("how many active accounts"));
        assert!(!is_exact_question("roughly how many events per day"));
    }
}
