//! `skipper catalog …` and `skipper context`: reading, linting and refreshing the catalog, and
//! showing the context a question would get. Tables for people, `--format json` for scripts.

use super::{Exit, Failure, Session, write_stdout};
use crate::catalog::store::{SourceSnapshot, Store};
use crate::catalog::{Catalog, Severity, cache, load, refresh};
use crate::cli::{CatalogAction, ContextArgs};
use crate::context::{Selector, tokens::TokenCounter};
use crate::engine::Engine;
use crate::render::Format;
use comfy_table::{Table as Grid, presets};
use serde_json::json;
use std::io::IsTerminal;

fn json_wanted(session: &Session) -> Result<bool, Failure> {
    match Format::resolve(session.global.format, std::io::stdout().is_terminal()) {
        Format::Json | Format::Ndjson => Ok(true),
        Format::Table | Format::Csv => Ok(false),
        Format::Arrow => Err(Failure::usage(
            "--format arrow is for query results",
            Some("use --format json or table for catalog output"),
        )),
    }
}

fn grid(header: Vec<&str>) -> Grid {
    let mut t = Grid::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_header(header);
    if let Some((w, _)) = terminal_width() {
        t.set_width(w);
        t.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    }
    t
}

fn terminal_width() -> Option<(u16, u16)> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .map(|w| (w, 0))
        .or(Some((120, 0)))
}

fn now_text(session: &Session) -> String {
    session
        .clock
        .now()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The catalog as commands see it: `context/` (which must load clean), the cached snapshots
/// (taken now, names and types only, for sources that have none yet), a dbt import, usage.
/// Returns the engine when one had to be opened.
///
/// A build is cached under the data dir keyed by the digest of everything it reads
/// ([`crate::catalog::cache`]); an unchanged catalog is read back instead of built again.
pub(super) async fn load_catalog(
    session: &Session,
    engine: Option<&Engine>,
) -> Result<(Catalog, Option<Engine>), Failure> {
    let data_dir = crate::config::data_dir();
    let key_now = || -> Result<(Option<cache::Key>, std::path::PathBuf), Failure> {
        let store = Store::open(&data_dir, session.origin.path()).map_err(store_failure)?;
        let sources: Vec<&str> = session.config.sources.keys().map(String::as_str).collect();
        let key = cache::Key::compute(
            &session.context_dir,
            &store,
            &sources,
            session.config.catalog.dbt_manifest.as_deref(),
        );
        Ok((key, cache::path(&data_dir, store.config_key())))
    };
    let (before, path) = key_now()?;
    if let Some(key) = &before
        && let Some(mut cat) = cache::read(&path, key)
    {
        cat.usage = crate::catalog::usage::Usage::learn(&cat, &data_dir, session.origin.path());
        return Ok((cat, None));
    }
    let docs = load::load(&session.context_dir).map_err(|errors| context_failure(&errors))?;
    let (cat, opened) = catalog_from(session, engine, &docs).await?;
    // Kept only when nothing changed while it was built (else the next run builds again).
    if let Some(key) = before
        && key_now()?.0.as_ref() == Some(&key)
        && let Err(e) = cache::write(&path, &key, &cat)
    {
        tracing::warn!("cannot cache the catalog in {}: {e}", path.display());
    }
    Ok((cat, opened))
}

/// [`load_catalog`] with `context/` already loaded.
async fn catalog_from(
    session: &Session,
    engine: Option<&Engine>,
    docs: &load::ContextDocs,
) -> Result<(Catalog, Option<Engine>), Failure> {
    let data_dir = crate::config::data_dir();
    let mut store = Store::open(&data_dir, session.origin.path()).map_err(store_failure)?;
    let mut snaps: Vec<SourceSnapshot> = Vec::new();
    let mut missing = Vec::new();
    for name in session.config.sources.keys() {
        match store.load(name).map_err(store_failure)? {
            Some(s) => snaps.push(s),
            None => missing.push(name.clone()),
        }
    }
    let mut opened = None;
    if !missing.is_empty() {
        let e = match engine {
            Some(e) => e,
            None => {
                opened = Some(Engine::open(&session.config, &session.engine_options()).await?);
                opened.as_ref().expect("just opened")
            }
        };
        let now = now_text(session);
        let mut fresh = Vec::new();
        for s in e.sources().iter().filter(|s| missing.contains(&s.name)) {
            let (snap, report) =
                refresh::snapshot_source(e, &session.config, s, None, false, &|_, _| true, &now)
                    .await;
            if let Some(err) = &report.error {
                session
                    .notices
                    .say(&format!("warning: source {} is unavailable: {err}", s.name));
            }
            fresh.push(snap);
        }
        // Only reachable sources are cached, so a later run tries the others again.
        let keep: Vec<SourceSnapshot> = fresh
            .iter()
            .filter(|s| s.error.is_none())
            .cloned()
            .collect();
        if let Err(e) = store.save(&keep) {
            tracing::warn!("cannot cache the catalog snapshot: {e}");
        }
        snaps.extend(fresh);
    }
    snaps.sort_by(|a, b| a.source.cmp(&b.source));
    let dbt = match &session.config.catalog.dbt_manifest {
        Some(p) => Some(crate::catalog::dbt::load(p).map_err(|e| Failure {
            exit: Exit::Usage,
            message: e,
            hint: Some("fix [catalog] dbt_manifest in skipper.toml, or run dbt compile".into()),
        })?),
        None => None,
    };
    let mut cat = Catalog::build(docs, &snaps, dbt.as_ref());
    cat.usage = crate::catalog::usage::Usage::learn(&cat, &data_dir, session.origin.path());
    Ok((cat, opened))
}

fn store_failure(e: crate::catalog::store::StoreError) -> Failure {
    Failure {
        exit: Exit::Failure,
        message: e.to_string(),
        hint: Some("set SKIPPER_DATA_DIR to a writable folder".into()),
    }
}

fn context_failure(errors: &[crate::catalog::Diagnostic]) -> Failure {
    let first = errors.first().map(|d| d.to_string()).unwrap_or_default();
    let more = if errors.len() > 1 {
        format!(" (and {} more)", errors.len() - 1)
    } else {
        String::new()
    };
    Failure {
        exit: Exit::Usage,
        message: format!("context/ does not load: {first}{more}"),
        hint: Some(
            "run `skipper catalog check` for every problem; nothing of context/ was used".into(),
        ),
    }
}

/// One line on stderr when the context has semantic errors (commands still run).
fn warn_errors(session: &Session, cat: &Catalog) {
    let n = cat.errors().count();
    if n > 0 {
        session.notices.say(&format!(
            "warning: context/ has {n} error{}; run `skipper catalog check`",
            if n == 1 { "" } else { "s" }
        ));
    }
}

pub async fn run(action: CatalogAction, session: &Session) -> Result<Exit, Failure> {
    let as_json = json_wanted(session)?;
    match action {
        CatalogAction::Check => check(session, as_json).await,
        CatalogAction::Refresh {
            source,
            schema_only,
            force,
        } => refresh_cmd(session, as_json, source, schema_only, force).await,
        other => {
            let (cat, _engine) = load_catalog(session, None).await?;
            warn_errors(session, &cat);
            let text = match other {
                CatalogAction::List { pattern } => list(&cat, pattern.as_deref(), as_json),
                CatalogAction::Search { words } => search(&cat, &words.join(" "), as_json),
                CatalogAction::Describe { table } => describe(&cat, &table, as_json)?,
                CatalogAction::Lineage {
                    table,
                    upstream,
                    downstream,
                    depth,
                    columns,
                } => lineage(&cat, &table, upstream, downstream, depth, columns, as_json)?,
                CatalogAction::Glossary { term } => glossary(&cat, term.as_deref(), as_json)?,
                CatalogAction::Check | CatalogAction::Refresh { .. } => unreachable!(),
            };
            write_stdout(text.as_bytes())?;
            Ok(Exit::Success)
        }
    }
}

fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    if !pattern.contains(['*', '?']) {
        return text.to_lowercase().contains(&pattern.to_lowercase());
    }
    // Iterative wildcard match with backtracking on the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

fn first_line(s: &Option<String>) -> String {
    s.as_deref()
        .map(|d| {
            let line = d.trim().lines().next().unwrap_or("");
            if line.chars().count() > 90 {
                format!("{}…", line.chars().take(89).collect::<String>())
            } else {
                line.to_string()
            }
        })
        .unwrap_or_default()
}

pub(super) fn list(cat: &Catalog, pattern: Option<&str>, as_json: bool) -> String {
    let tables: Vec<&crate::catalog::Table> = cat
        .tables
        .iter()
        .filter(|t| pattern.is_none_or(|p| glob_match(p, &t.name)))
        .collect();
    if as_json {
        let v: Vec<_> = tables
            .iter()
            .map(|t| {
                json!({"name": t.name, "description": t.description, "columns": t.columns.len(),
                       "rows": t.row_count, "sampled": t.is_sampled(),
                       "owners": t.owners, "in_source": t.in_source})
            })
            .collect();
        return format!("{}\n", json!({"version": 1, "tables": v}));
    }
    let mut g = grid(vec!["table", "rows", "cols", "owner", "description"]);
    for t in &tables {
        g.add_row(vec![
            t.name.clone(),
            t.row_count.map(|n| n.to_string()).unwrap_or_default(),
            t.columns.len().to_string(),
            t.owners.first().map(|o| o.team.clone()).unwrap_or_default(),
            format!(
                "{}{}",
                if t.is_sampled() { "[sampled] " } else { "" },
                first_line(&t.description)
            ),
        ]);
    }
    format!(
        "{g}\n{} table{}\n",
        tables.len(),
        if tables.len() == 1 { "" } else { "s" }
    )
}

fn search(cat: &Catalog, words: &str, as_json: bool) -> String {
    let sel = Selector::new(cat);
    // Ranking only: an unlimited budget so nothing is cut.
    let counter = TokenCounter::for_model(None);
    let s = sel.select(words, usize::MAX / 2, &counter);
    if as_json {
        return format!(
            "{}\n",
            json!({"version": 1, "query": words, "tables": s.tables, "metrics": s.metrics,
                   "terms": s.terms, "examples": s.examples})
        );
    }
    let mut g = grid(vec!["score", "table", "why", "best columns"]);
    for t in &s.tables {
        let cols: Vec<String> = t
            .columns
            .iter()
            .filter(|c| c.score > 0.0)
            .take(5)
            .map(|c| c.name.clone())
            .collect();
        g.add_row(vec![
            format!("{:.2}", t.score),
            t.name.clone(),
            t.reason.clone(),
            cols.join(", "),
        ]);
    }
    let mut out = format!("{g}\n");
    if !s.metrics.is_empty() {
        out.push_str(&format!(
            "metrics: {}\n",
            s.metrics
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !s.terms.is_empty() {
        out.push_str(&format!(
            "glossary: {}\n",
            s.terms
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}

fn not_found(e: String) -> Failure {
    Failure {
        exit: Exit::Usage,
        message: e,
        hint: Some("see the tables with: skipper catalog list".into()),
    }
}

pub(super) fn describe(cat: &Catalog, name: &str, as_json: bool) -> Result<String, Failure> {
    let t = cat.resolve_table(name).map_err(not_found)?;
    let up: Vec<&crate::catalog::Edge> = cat.neighbours(&t.name, true);
    let down: Vec<&crate::catalog::Edge> = cat.neighbours(&t.name, false);
    let notes: Vec<&crate::catalog::Annotation> = cat.notes_for(&t.name).collect();
    let source = cat.sources.iter().find(|s| s.name == t.source);
    let metrics: Vec<&crate::catalog::Metric> =
        cat.metrics.iter().filter(|m| m.table == t.name).collect();
    // Freshness as the data shows it: the newest value of its time column.
    let latest = crate::catalog::fresh::judge(t, chrono::Utc::now()).latest;
    if as_json {
        let upstream: Vec<&String> = up.iter().flat_map(|e| e.from.iter()).collect();
        let downstream: Vec<&String> = down.iter().map(|e| &e.to).collect();
        return Ok(format!(
            "{}\n",
            json!({"version": 1, "table": t, "latest_data": latest, "upstream": upstream, "downstream": downstream,
                   "annotations": notes, "metrics": metrics.iter().map(|m| &m.name).collect::<Vec<_>>(),
                   "snapshot": source})
        ));
    }
    let mut out = format!("{}\n", t.name);
    if let Some(d) = &t.description {
        out.push_str(&format!("  {}\n", d.trim().replace('\n', "\n  ")));
    }
    let mut facts: Vec<String> = Vec::new();
    for o in &t.owners {
        facts.push(format!(
            "owner: {} ({}{})",
            o.team,
            o.role.as_str(),
            o.contact
                .as_ref()
                .map(|c| format!(", {c}"))
                .unwrap_or_default()
        ));
    }
    if let Some(g) = &t.grain {
        facts.push(format!("grain: one row per {g}"));
    }
    if let Some(c) = &t.time_column {
        facts.push(format!("time column: {c}"));
    }
    if let Some(p) = &t.partitioning {
        facts.push(format!("partitioned by: {p}"));
    }
    facts.push(match t.sampled.as_ref().and_then(|s| s.rate()) {
        Some(r) if r.is_nan() => "sampled: yes (rate unknown)".into(),
        Some(r) => format!("sampled: yes, rate {r} — not for exact answers"),
        None if t.sampled.is_some() => "sampled: no (exact)".into(),
        None => "sampled: not stated".into(),
    });
    if let Some(s) = &t.sensitivity {
        facts.push(format!("sensitivity: {s}"));
    }
    if t.freshness.is_some() || latest.is_some() {
        let mut f = String::from("freshness:");
        if let Some(l) = &latest {
            f.push_str(&format!(" latest data {l}"));
        }
        if let Some(x) = &t.freshness {
            f.push_str(&format!(
                "{}expected {}{}",
                if latest.is_some() { "; " } else { " " },
                x.expected,
                x.max_delay
                    .as_ref()
                    .map(|d| format!(", at most {d} late"))
                    .unwrap_or_default()
            ));
        }
        facts.push(f);
    }
    facts.push(match (t.row_count, &t.stats_at) {
        (Some(n), Some(at)) => format!("rows: {n} (statistics of {at})"),
        (Some(n), None) => format!("rows: {n}"),
        _ => "rows: unknown (run `skipper catalog refresh`)".into(),
    });
    if let Some(s) = source {
        facts.push(match &s.error {
            Some(e) => format!(
                "source {}: unavailable at the last refresh ({e}); showing the snapshot of {}",
                s.name, s.refreshed_at
            ),
            None => format!(
                "source {} ({}), snapshot of {}",
                s.name, s.kind, s.refreshed_at
            ),
        });
    }
    if !t.tags.is_empty() {
        facts.push(format!("tags: {}", t.tags.join(", ")));
    }
    for f in facts {
        out.push_str(&format!("  {f}\n"));
    }
    let mut g = grid(vec![
        "column",
        "type",
        "description",
        "classification",
        "statistics",
    ]);
    for c in &t.columns {
        let class = match &c.classification {
            Some(cl) => format!(
                "{}{}; set by {}, {}{}",
                cl.pii
                    .as_deref()
                    .map(|p| format!("PII: {p}"))
                    .unwrap_or_else(|| "not PII".into()),
                cl.mask
                    .as_deref()
                    .map(|m| format!(", mask {m}"))
                    .unwrap_or_default(),
                cl.set_by,
                format!("{:?}", cl.review).to_lowercase(),
                cl.reviewed_by
                    .as_deref()
                    .map(|r| format!(" by {r}"))
                    .unwrap_or_default()
            ),
            None => String::new(),
        };
        let stats = match &c.stats {
            Some(s) => {
                let mut parts = vec![format!("{:.0}% null", s.null_fraction * 100.0)];
                if let Some(d) = s.distinct {
                    parts.push(format!("~{d} distinct"));
                }
                if let (Some(a), Some(b)) = (&s.min, &s.max) {
                    parts.push(format!("{a} … {b}"));
                }
                if !s.common_values.is_empty() {
                    let v: Vec<&str> = s
                        .common_values
                        .iter()
                        .take(4)
                        .map(|(v, _)| v.as_str())
                        .collect();
                    parts.push(format!("top: {}", v.join(", ")));
                }
                parts.join("; ")
            }
            None if c.is_pii() => "not collected (PII)".into(),
            None => String::new(),
        };
        let mut desc = c
            .description
            .clone()
            .unwrap_or_default()
            .trim()
            .replace('\n', " ");
        if let Some(u) = &c.unit {
            desc.push_str(&format!(" [unit: {u}]"));
        }
        g.add_row(vec![
            c.name.clone(),
            c.data_type.clone().unwrap_or_default(),
            desc,
            class,
            stats,
        ]);
    }
    out.push_str(&format!("{g}\n"));
    let names = |v: Vec<&String>| -> String {
        let mut v: Vec<&str> = v.into_iter().map(String::as_str).collect();
        v.sort();
        v.dedup();
        if v.is_empty() {
            "(none known)".into()
        } else {
            v.join(", ")
        }
    };
    out.push_str(&format!(
        "upstream: {}\n",
        names(up.iter().flat_map(|e| e.from.iter()).collect())
    ));
    out.push_str(&format!(
        "downstream: {}\n",
        names(down.iter().map(|e| &e.to).collect())
    ));
    if let Some(b) = up.iter().find_map(|e| e.transformation.as_ref()) {
        out.push_str(&format!("built by: {b}\n"));
    }
    if !metrics.is_empty() {
        out.push_str(&format!(
            "metrics: {}\n",
            metrics
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for a in notes {
        out.push_str(&format!(
            "note on {}: {}{}\n",
            a.target,
            a.note,
            a.author
                .as_ref()
                .map(|x| format!(" ({x})"))
                .unwrap_or_default()
        ));
    }
    Ok(out)
}

fn lineage(
    cat: &Catalog,
    name: &str,
    upstream: bool,
    downstream: bool,
    depth: u32,
    columns: bool,
    as_json: bool,
) -> Result<String, Failure> {
    let t = cat.resolve_table(name).map_err(not_found)?;
    let both = !upstream && !downstream;
    let mut edges: Vec<serde_json::Value> = Vec::new();
    let mut text = format!("{}\n", t.name);
    for (dir_up, label) in [(true, "upstream"), (false, "downstream")] {
        if !(both || (dir_up && upstream) || (!dir_up && downstream)) {
            continue;
        }
        text.push_str(&format!("{label}:\n"));
        let mut frontier = vec![t.name.clone()];
        let mut seen = std::collections::HashSet::from([t.name.to_lowercase()]);
        for level in 1..=depth {
            let mut next = Vec::new();
            for n in &frontier {
                for e in cat.neighbours(n, dir_up) {
                    let others: Vec<&String> = if dir_up {
                        e.from.iter().collect()
                    } else {
                        vec![&e.to]
                    };
                    for o in others {
                        let indent = "  ".repeat(level as usize);
                        let how = e.transformation.as_deref().unwrap_or("");
                        text.push_str(&format!(
                            "{indent}{} {o}{}\n",
                            if dir_up { "<-" } else { "->" },
                            if how.is_empty() {
                                String::new()
                            } else {
                                format!("  [{how}]")
                            }
                        ));
                        if columns {
                            for (to_col, froms) in &e.columns {
                                let rel: Vec<&String> = froms
                                    .iter()
                                    .filter(|f| {
                                        f.to_lowercase()
                                            .starts_with(&format!("{}.", o.to_lowercase()))
                                    })
                                    .collect();
                                if rel.is_empty() {
                                    continue;
                                }
                                text.push_str(&format!(
                                    "{indent}    {}.{to_col} <- {}\n",
                                    e.to,
                                    rel.iter()
                                        .map(|s| s.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ));
                            }
                        }
                        edges.push(json!({"direction": label, "depth": level, "table": o,
                            "from": if dir_up { o } else { n }, "to": if dir_up { n } else { o },
                            "transformation": e.transformation, "origin": e.origin,
                            "columns": if columns { json!(e.columns) } else { json!(null) }}));
                        if seen.insert(o.to_lowercase()) {
                            next.push(o.clone());
                        }
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        if !edges.iter().any(|e| e["direction"] == label) {
            text.push_str("  (none known)\n");
        }
    }
    if as_json {
        return Ok(format!(
            "{}\n",
            json!({"version": 1, "table": t.name, "edges": edges})
        ));
    }
    Ok(text)
}

fn glossary(cat: &Catalog, term: Option<&str>, as_json: bool) -> Result<String, Failure> {
    let terms: Vec<&crate::catalog::Term> = match term {
        None => cat.terms.iter().collect(),
        Some(w) => {
            let hits: Vec<_> = cat
                .terms
                .iter()
                .filter(|t| {
                    t.name.eq_ignore_ascii_case(w)
                        || t.synonyms.iter().any(|s| s.eq_ignore_ascii_case(w))
                })
                .collect();
            if hits.is_empty() {
                return Err(Failure {
                    exit: Exit::Negative,
                    message: format!("no glossary term or synonym '{w}'"),
                    hint: Some("list the glossary with: skipper catalog glossary".into()),
                });
            }
            hits
        }
    };
    if as_json {
        return Ok(format!("{}\n", json!({"version": 1, "terms": terms})));
    }
    let mut out = String::new();
    for t in terms {
        out.push_str(&t.name);
        if !t.synonyms.is_empty() {
            out.push_str(&format!(" (also: {})", t.synonyms.join(", ")));
        }
        out.push_str(&format!("\n  {}\n", t.definition.replace('\n', "\n  ")));
        if !t.columns.is_empty() {
            out.push_str(&format!("  columns: {}\n", t.columns.join(", ")));
        }
        if !t.metrics.is_empty() {
            out.push_str(&format!("  metrics: {}\n", t.metrics.join(", ")));
        }
    }
    Ok(out)
}

async fn check(session: &Session, as_json: bool) -> Result<Exit, Failure> {
    let diagnostics = match load::load(&session.context_dir) {
        Err(errors) => errors,
        Ok(docs) => {
            let engine = Engine::open(&session.config, &session.engine_options()).await?;
            let (cat, _) = catalog_from(session, Some(&engine), &docs).await?;
            crate::catalog::check::check(&cat, &engine).await
        }
    };
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    if as_json {
        write_stdout(
            format!(
                "{}\n",
                json!({"version": 1, "context_dir": session.context_dir, "errors": errors,
                       "warnings": warnings, "diagnostics": diagnostics})
            )
            .as_bytes(),
        )?;
    } else {
        let mut text = String::new();
        for d in &diagnostics {
            text.push_str(&format!("{d}\n"));
        }
        write_stdout(text.as_bytes())?;
        session.notices.say(&format!(
            "catalog check: {} — {errors} error{}, {warnings} warning{}",
            session.context_dir.display(),
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" }
        ));
    }
    Ok(if errors > 0 {
        Exit::Negative
    } else {
        Exit::Success
    })
}

async fn refresh_cmd(
    session: &Session,
    as_json: bool,
    only: Option<String>,
    schema_only: bool,
    force: bool,
) -> Result<Exit, Failure> {
    if let Some(s) = &only
        && !session.config.sources.contains_key(s)
    {
        return Err(Failure::usage(
            format!("no source named '{s}'"),
            Some(&format!(
                "the sources are: {}",
                session
                    .config
                    .sources
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ));
    }
    // Which columns must never be read: from context/ itself (which must load).
    let docs = load::load(&session.context_dir).map_err(|errors| context_failure(&errors))?;
    let pii = pii_columns(&docs);
    let is_pii = |table: &str, col: &str| -> bool {
        let t = table.to_lowercase();
        let c = col.to_lowercase();
        pii.iter()
            .any(|(pt, pc)| *pc == c && (t == *pt || t.ends_with(&format!(".{pt}"))))
    };
    let engine = Engine::open(&session.config, &session.engine_options()).await?;
    let data_dir = crate::config::data_dir();
    let mut store = Store::open(&data_dir, session.origin.path()).map_err(store_failure)?;
    let now = now_text(session);
    let started = std::time::Instant::now();
    let mut snaps = Vec::new();
    let mut reports = Vec::new();
    for s in engine.sources() {
        if only.as_ref().is_some_and(|o| o != &s.name) {
            continue;
        }
        let previous = if force {
            None
        } else {
            store.load(&s.name).map_err(store_failure)?
        };
        let had_previous = previous.is_some() || force;
        let (snap, report) = refresh::snapshot_source(
            &engine,
            &session.config,
            s,
            previous,
            !schema_only,
            &is_pii,
            &now,
        )
        .await;
        if let Some(e) = &report.error {
            session.notices.say(&format!(
                "warning: source {} is unavailable ({e}); {}",
                s.name,
                if had_previous {
                    "its last snapshot is kept"
                } else {
                    "it has no snapshot yet"
                }
            ));
        }
        for f in &report.failed {
            session.notices.say(&format!("warning: {f}"));
        }
        snaps.push(snap);
        reports.push(report);
    }
    store.save(&snaps).map_err(store_failure)?;
    let secs = started.elapsed().as_secs_f64();
    if as_json {
        write_stdout(
            format!(
                "{}\n",
                json!({"version": 1, "refreshed_at": now, "seconds": secs, "sources": reports})
            )
            .as_bytes(),
        )?;
    } else {
        let mut g = grid(vec![
            "source",
            "tables",
            "statistics computed",
            "unchanged",
            "problems",
        ]);
        for r in &reports {
            g.add_row(vec![
                r.source.clone(),
                r.tables.to_string(),
                r.computed.to_string(),
                r.unchanged.to_string(),
                r.error
                    .clone()
                    .unwrap_or_else(|| r.failed.len().to_string()),
            ]);
        }
        write_stdout(format!("{g}\n").as_bytes())?;
        session
            .notices
            .say(&format!("catalog refreshed in {secs:.2}s"));
    }
    let failed = reports
        .iter()
        .any(|r| r.error.is_some() || !r.failed.is_empty());
    Ok(if failed { Exit::Failure } else { Exit::Success })
}

/// (table as written, column) of every column classified PII in context/, lowercased.
fn pii_columns(docs: &load::ContextDocs) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in &docs.files {
        for d in &f.datasets {
            for c in &d.columns {
                if c.classification.as_ref().is_some_and(|cl| cl.is_pii()) {
                    out.push((d.name.to_lowercase(), c.name.to_lowercase()));
                }
            }
        }
    }
    out
}

pub async fn context(args: ContextArgs, session: &Session) -> Result<Exit, Failure> {
    let as_json = json_wanted(session)?;
    let question = args.question.join(" ");
    if question.trim().is_empty() {
        return Err(Failure::usage(
            "the question is empty",
            Some("skipper context \"invoices by plan tier last month\""),
        ));
    }
    let (cat, _engine) = load_catalog(session, None).await?;
    warn_errors(session, &cat);
    let budget = args
        .budget
        .map(|b| b as usize)
        .unwrap_or(session.config.catalog.context_budget);
    let counter = TokenCounter::for_model(session.config.llm.model.as_deref());
    let started = std::time::Instant::now();
    let sel = Selector::new(&cat).select(&question, budget, &counter);
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if as_json {
        let mut v = serde_json::to_value(&sel).expect("selection serialises");
        v["version"] = json!(1);
        v["selection_ms"] = json!((ms * 10.0).round() / 10.0);
        write_stdout(format!("{v}\n").as_bytes())?;
    } else {
        write_stdout(sel.text.as_bytes())?;
        session.notices.say(&format!(
            "{} tokens of {} ({}); {} table{}; selected in {ms:.1} ms{}",
            sel.tokens,
            sel.budget,
            sel.tokenizer,
            sel.tables.len(),
            if sel.tables.len() == 1 { "" } else { "s" },
            if sel.left_out.is_empty() {
                String::new()
            } else {
                format!("; left out for the budget: {}", sel.left_out.join(", "))
            }
        ));
    }
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn patterns() {
        assert!(glob_match("lake.*", "lake.main.usage_events"));
        assert!(glob_match("*usage*", "lake.main.billing_usage_daily"));
        assert!(!glob_match("billing.*", "lake.main.billing_usage_daily"));
        assert!(glob_match("invoice", "billing.main.invoices"));
        assert!(glob_match("*.invoice?", "billing.main.invoices"));
    }
}
