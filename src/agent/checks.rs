//! Checks on a result, because a query that runs can still be wrong. Each finding becomes a
//! warning on the answer and, once, a further attempt with the finding as the error.
//!
//! | check | how | cost |
//! |---|---|---|
//! | empty result | the row count | none |
//! | sampled table for an exact question | the question's billing words × the catalog's `sampled` rate, and an unsampled table related by lineage or name | none |
//! | filter value that does not occur | `col = 'v'` / `col IN (…)` literals against the column's declared values or complete introspected common values; where the statistics list only some values, a probe `SELECT 1 … WHERE col = 'v' LIMIT 1` | none from statistics; one probe query per unverified literal (at most three) |
//! | join that multiplies or drops rows | for each join the SQL makes that the catalog declares: `COUNT(*)` of the many side against `COUNT(*)` of the join alone | two `COUNT(*)` queries per declared join (at most three joins) |
//! | join on undeclared keys | the SQL's join keys against the catalog's join paths between the same tables | none |

use crate::catalog::model::Cardinality;
use crate::catalog::sqlfacts::{self, ColRef};
use crate::catalog::{Catalog, Column, Table};
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

/// The `col = 'v'` and `col IN ('v', …)` literals of a statement, each resolved to the first
/// table the query reads that has the column (PII columns left out), without repeats.
fn filter_literals<'c>(
    cat: &'c Catalog,
    statement: &Statement,
    tables: &[String],
) -> Vec<(&'c Table, &'c Column, String)> {
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
    let mut seen = BTreeSet::new();
    pairs
        .into_iter()
        .filter(|p| seen.insert(p.clone()))
        .filter_map(|(col, value)| {
            let (t, c) = tables.iter().find_map(|n| {
                let t = cat.table(n)?;
                t.column(&col).map(|c| (t, c))
            })?;
            (!c.is_pii()).then_some((t, c, value))
        })
        .collect()
}

/// Every value the column holds, when that is known: declared, or a complete list of
/// introspected common values. `None`: only some values are known.
pub(crate) fn all_values(c: &Column) -> Option<Vec<String>> {
    if !c.allowed_values.is_empty() {
        return Some(c.allowed_values.clone());
    }
    match &c.stats {
        Some(s)
            if !s.common_values.is_empty()
                && s.distinct
                    .is_some_and(|d| d as usize <= s.common_values.len()) =>
        {
            Some(s.common_values.iter().map(|(v, _)| v.clone()).collect())
        }
        _ => None,
    }
}

/// A value close to `value` among `known` (same letters in another case, or a near spelling).
fn close_to<'k>(known: &'k [String], value: &str) -> Option<&'k String> {
    known
        .iter()
        .find(|k| k.eq_ignore_ascii_case(value))
        .or_else(|| {
            known
                .iter()
                .filter(|k| strsim::jaro_winkler(&k.to_lowercase(), &value.to_lowercase()) > 0.85)
                .max_by(|a, b| {
                    strsim::jaro_winkler(a, value).total_cmp(&strsim::jaro_winkler(b, value))
                })
        })
}

fn listed(known: &[String]) -> String {
    let mut shown: Vec<String> = known.iter().take(10).map(|v| format!("'{v}'")).collect();
    if known.len() > 10 {
        shown.push("…".into());
    }
    shown.join(", ")
}

/// Literals whose column is known never to hold them (catalog statistics, no query).
fn unknown_values(cat: &Catalog, statement: &Statement, tables: &[String]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (t, c, value) in filter_literals(cat, statement, tables) {
        let Some(known) = all_values(c) else { continue };
        if known.iter().any(|k| k == &value) {
            continue;
        }
        out.push(Finding {
            kind: "unknown_value",
            message: format!(
                "{}.{} never holds '{value}'{}; its values are {}",
                t.name,
                c.name,
                close_to(&known, &value)
                    .map(|k| format!(" (did you mean '{k}'?)"))
                    .unwrap_or_default(),
                listed(&known)
            ),
        });
    }
    out
}

/// Literals on columns whose statistics list only some values, probed with
/// `SELECT 1 FROM t WHERE c = 'v' LIMIT 1` (at most three per answer).
pub async fn value_probes(
    engine: &Engine,
    cat: &Catalog,
    statement: &Statement,
    tables: &[String],
) -> Vec<Finding> {
    use futures::StreamExt;
    let mut out = Vec::new();
    let unverified = filter_literals(cat, statement, tables)
        .into_iter()
        .filter(|(_, c, _)| all_values(c).is_none())
        .take(3);
    for (t, c, value) in unverified {
        let sql = format!(
            "SELECT 1 FROM {} WHERE {} = '{}' LIMIT 1",
            t.name,
            quote_ident(&c.name),
            value.replace('\'', "''")
        );
        let Ok(mut st) = engine.check(&sql, false) else {
            continue;
        };
        let Some(st) = st.pop() else { continue };
        let Ok(planned) = engine.plan(&st).await else {
            continue;
        };
        let Ok(mut stream) = engine.execute(&planned) else {
            continue;
        };
        let mut found = false;
        let mut failed = false;
        while let Some(b) = stream.next().await {
            match b {
                Ok(b) if b.num_rows() > 0 => {
                    found = true;
                    break;
                }
                Ok(_) => {}
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if found || failed {
            continue;
        }
        let some: Vec<String> = c
            .stats
            .as_ref()
            .map(|s| s.common_values.iter().map(|(v, _)| v.clone()).collect())
            .unwrap_or_default();
        out.push(Finding {
            kind: "unknown_value",
            message: format!(
                "{}.{} holds no row with '{value}' (checked with a query){}{}",
                t.name,
                c.name,
                close_to(&some, &value)
                    .map(|k| format!("; did you mean '{k}'?"))
                    .unwrap_or_default(),
                if some.is_empty() {
                    String::new()
                } else {
                    format!("; common values are {}", listed(&some))
                }
            ),
        });
    }
    out
}

/// An identifier as SQL: bare when it is a plain lowercase name, else double-quoted.
fn quote_ident(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
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
