//! `skipper catalog check`: the lint of `context/`. Beyond what merging already found (unknown
//! tables and columns, duplicate terms, broken references), it looks for lineage cycles and
//! plans every metric and verified example on the engine, so a metric that does not plan is
//! caught here and not in front of a user. Gaps (undocumented tables, classifications still
//! awaiting review) are warnings: they do not fail the check.

use super::{Catalog, Diagnostic, Severity, lineage_cycles};
use crate::engine::Engine;

pub async fn check(cat: &Catalog, engine: &Engine) -> Vec<Diagnostic> {
    let mut out = cat.diagnostics.clone();
    for cycle in lineage_cycles(&cat.lineage) {
        // Point at the edge a person wrote, if one closes the cycle; else at any of its edges.
        let edges: Vec<&super::Edge> = cycle
            .windows(2)
            .filter_map(|w| {
                cat.lineage
                    .iter()
                    .find(|e| e.to == w[1] && e.from.contains(&w[0]))
            })
            .collect();
        let pos = edges
            .iter()
            .find(|e| e.origin == super::EdgeOrigin::Context)
            .or(edges.first())
            .and_then(|e| e.pos.clone());
        out.push(Diagnostic::error(
            pos,
            format!("lineage cycle: {}", cycle.join(" -> ")),
        ));
    }
    for m in &cat.metrics {
        let sql = m.sql();
        if let Err(e) = plan(engine, &sql).await {
            out.push(Diagnostic::error(
                m.pos.clone(),
                format!("metric '{}' does not plan: {e} (as `{sql}`)", m.name),
            ));
        }
    }
    for ex in &cat.examples {
        if let Err(e) = plan(engine, &ex.sql).await {
            out.push(Diagnostic::error(
                ex.pos.clone(),
                format!("verified example \"{}\" does not plan: {e}", ex.question),
            ));
        }
    }
    for t in &cat.tables {
        if !t.in_source {
            continue;
        }
        if t.description.is_none() {
            out.push(Diagnostic::warning(
                t.pos.clone(),
                format!("{} has no description", t.name),
            ));
        }
        if t.pos.is_some() && t.owners.is_empty() {
            out.push(Diagnostic::warning(
                t.pos.clone(),
                format!("{} has no owner", t.name),
            ));
        }
        let undocumented: Vec<&str> = t
            .columns
            .iter()
            .filter(|c| c.description.is_none())
            .map(|c| c.name.as_str())
            .collect();
        if !undocumented.is_empty() && t.description.is_some() {
            out.push(Diagnostic::warning(
                t.pos.clone(),
                format!(
                    "{}: {} column{} without a description ({})",
                    t.name,
                    undocumented.len(),
                    if undocumented.len() == 1 { "" } else { "s" },
                    undocumented.join(", ")
                ),
            ));
        }
        for c in &t.columns {
            if let Some(cl) = &c.classification
                && cl.review == super::model::Review::Proposed
            {
                out.push(Diagnostic::warning(
                    c.pos.clone(),
                    format!(
                        "{}.{}: classification {} proposed by {} awaits review",
                        t.name,
                        c.name,
                        cl.pii.as_deref().unwrap_or("(not PII)"),
                        cl.set_by
                    ),
                ));
            }
        }
    }
    // Errors first, then by place.
    out.sort_by(|a, b| {
        (
            a.severity != Severity::Error,
            &a.pos.as_ref().map(|p| (&p.file, p.line, p.column)),
        )
            .cmp(&(
                b.severity != Severity::Error,
                &b.pos.as_ref().map(|p| (&p.file, p.line, p.column)),
            ))
    });
    out
}

async fn plan(engine: &Engine, sql: &str) -> Result<(), String> {
    let statements = engine.check(sql, false).map_err(|e| e.to_string())?;
    engine
        .plan(&statements[0])
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
