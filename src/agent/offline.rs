//! The offline compiler: questions that map onto the curated metrics, answered with no model.
//!
//! metric (by name, synonym or glossary term) × dimensions ("by plan tier", "per account",
//! "top 5 accounts") × filters (words that are a column's declared or introspected values:
//! "enterprise" → `plan_tier = 'enterprise'`) × time range ([`when`]) × grain ("per day", "by
//! hour", "monthly") × top/bottom N. Dimensions and filters may sit on the metric's table or on
//! a table it joins to by a declared join path (one hop, a LEFT JOIN so totals are kept).
//!
//! It is conservative on purpose: a word it cannot place (a filter it does not know, a
//! dimension the metric does not have) means "this question needs a model", never an answer
//! that silently ignores part of the question.

use super::when::{self, Range};
use crate::catalog::{Catalog, Column, Metric, Table};
use chrono::DateTime;
use chrono_tz::Tz;
use std::collections::BTreeSet;

/// A question compiled to SQL, with how each part of it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub sql: String,
    pub metric: String,
    /// One line per reading: metric, time range, grain, dimensions, filters, top N.
    pub interpretation: Vec<String>,
    pub slots: Slots,
}

/// What the question asked for, kept so a follow-up can refine it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Slots {
    pub metric: String,
    /// (table, column) grouped by.
    pub dimensions: Vec<(String, String)>,
    /// (table, column, values).
    pub filters: Vec<(String, String, Vec<String>)>,
    pub range: Option<Range>,
    pub grain: Option<&'static str>,
    /// (descending, n)
    pub top: Option<(bool, usize)>,
}

/// Why the compiler cannot answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct NeedsModel(pub String);

/// Words that carry no meaning for the compiler.
const FILLER: &[&str] = &[
    "what", "whats", "how", "many", "much", "is", "are", "was", "were", "the", "a", "an", "of",
    "for", "in", "on", "by", "per", "total", "number", "count", "show", "me", "give", "list",
    "our", "we", "did", "do", "does", "there", "have", "has", "with", "all", "each", "sum", "and",
    "to", "please", "tell", "get", "overall", "during", "over", "at", "that", "which", "who", "it",
    "its", "my", "us", "had", "be", "been", "i", "see", "value", "values", "amount", "so", "far",
    "broken", "down", "split", "grouped", "group", "every", "across", "from", "top", "bottom",
    "highest", "lowest", "most", "least", "data", "exact", "exactly", "only", "just", "now",
    "instead", "rather", "also", "then", "used", "sent", "carried", "served",
];

/// Lowercase words, punctuation dropped (dates and `q3` kept).
pub fn words_of(text: &str) -> Vec<String> {
    // "the account's country" is "the country": the possessor only qualifies the noun.
    let text: String = text
        .to_lowercase()
        .replace('’', "'")
        .split_whitespace()
        .filter(|w| !w.ends_with("'s"))
        .collect::<Vec<_>>()
        .join(" ");
    text.split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .map(|w| w.trim_matches('-'))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A word without its plural ending, for matching ("accounts" ~ "account").
fn stem(w: &str) -> &str {
    if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
        &w[..w.len() - 1]
    } else {
        w
    }
}

/// Where the phrase's words occur contiguously among the unused words.
fn find_phrase(words: &[String], used: &[bool], phrase: &str) -> Option<Vec<usize>> {
    let p: Vec<String> = words_of(&phrase.replace('_', " "));
    if p.is_empty() || p.len() > words.len() {
        return None;
    }
    (0..=words.len() - p.len()).find_map(|i| {
        let hit = p
            .iter()
            .enumerate()
            .all(|(k, pw)| !used[i + k] && stem(&words[i + k]) == stem(pw));
        hit.then(|| (i..i + p.len()).collect())
    })
}

/// A column the question may group or filter by: on the metric's table or one join away.
struct Candidate<'c> {
    table: &'c Table,
    column: &'c Column,
    /// The join from the metric's table (`None`: the metric's own table).
    join: Option<String>,
    /// The metric table's columns that join uses.
    keys: Vec<String>,
    /// Phrases that name it.
    names: Vec<String>,
}

fn candidates<'c>(cat: &'c Catalog, m: &Metric, base: &'c Table) -> Vec<Candidate<'c>> {
    let mut out = Vec::new();
    let names_of = |t: &Table, c: &Column| {
        let mut n = vec![c.name.replace('_', " ")];
        n.extend(c.synonyms.iter().cloned());
        // An entity named for this key column: "account" for accounts.account_id.
        for e in &cat.entities {
            if e.key
                .eq_ignore_ascii_case(&format!("{}.{}", t.name, c.name))
                || (e.key.rsplit('.').next() == Some(c.name.as_str()))
            {
                n.push(e.name.clone());
                n.extend(e.synonyms.iter().cloned());
            }
        }
        n
    };
    for d in &m.dimensions {
        if let Some(c) = base.column(d) {
            out.push(Candidate {
                table: base,
                column: c,
                join: None,
                keys: vec![c.name.clone()],
                names: names_of(base, c),
            });
        }
    }
    // One declared hop from a dimension key: the other table's descriptive columns.
    for j in &cat.joins {
        let (other, on) = if j.left.eq_ignore_ascii_case(&base.name) {
            (j.right.as_str(), j.on.clone())
        } else if j.right.eq_ignore_ascii_case(&base.name) {
            (
                j.left.as_str(),
                j.on.iter().map(|(a, b)| (b.clone(), a.clone())).collect(),
            )
        } else {
            continue;
        };
        if j.id_translation || !on.iter().all(|(b, _)| m.dimensions.iter().any(|d| d == b)) {
            continue;
        }
        let Some(t) = cat.table(other) else { continue };
        let cond = on
            .iter()
            .map(|(b, o)| format!("b.{b} = j.{o}"))
            .collect::<Vec<_>>()
            .join(" AND ");
        for c in &t.columns {
            let categorical = !c.allowed_values.is_empty()
                || c.stats
                    .as_ref()
                    .is_some_and(|s| !s.common_values.is_empty())
                || c.semantic_type.as_deref() == Some("category");
            if c.is_pii() || !categorical || base.column(&c.name).is_some() {
                continue;
            }
            out.push(Candidate {
                table: t,
                column: c,
                join: Some(format!("LEFT JOIN {} j ON {cond}", t.name)),
                keys: on.iter().map(|(b, _)| b.clone()).collect(),
                names: names_of(t, c),
            });
        }
    }
    out
}

/// An id translation declared on the metric's table (`id_translation: true`): rows that carry
/// only an old id get the new one from the translation table, `coalesce(b.new, x.new)`.
struct Translation {
    table: String,
    /// "b.legacy_customer_id = x.legacy_customer_id"
    cond: String,
    /// The metric table's columns the translation fills in (account_id).
    columns: Vec<String>,
}

fn translation(cat: &Catalog, base: &Table) -> Option<Translation> {
    cat.joins.iter().filter(|j| j.id_translation).find_map(|j| {
        let (other, on): (&str, Vec<(String, String)>) = if j.left.eq_ignore_ascii_case(&base.name)
        {
            (&j.right, j.on.clone())
        } else if j.right.eq_ignore_ascii_case(&base.name) {
            (
                &j.left,
                j.on.iter().map(|(a, b)| (b.clone(), a.clone())).collect(),
            )
        } else {
            return None;
        };
        let t = cat.table(other)?;
        let columns: Vec<String> = t
            .columns
            .iter()
            .filter(|c| base.column(&c.name).is_some() && !on.iter().any(|(b, _)| *b == c.name))
            .map(|c| c.name.clone())
            .collect();
        (!columns.is_empty()).then(|| Translation {
            table: t.name.clone(),
            cond: on
                .iter()
                .map(|(b, o)| format!("b.{b} = x.{o}"))
                .collect::<Vec<_>>()
                .join(" AND "),
            columns,
        })
    })
}

/// The metric a question names: the longest matching name, synonym or glossary term.
fn pick_metric<'c>(
    cat: &'c Catalog,
    words: &[String],
    used: &[bool],
) -> Option<(&'c Metric, Vec<usize>, String)> {
    let mut best: Option<(&Metric, Vec<usize>, String)> = None;
    for m in &cat.metrics {
        let mut phrases = vec![m.name.clone()];
        phrases.extend(m.synonyms.iter().cloned());
        // A glossary term names a thing ("support ticket"); a metric with filters counts only
        // part of it (open tickets). Only a metric that counts the whole thing is picked by it.
        for t in cat.terms.iter().filter(|_| m.filters.is_empty()) {
            if t.metrics.iter().any(|x| x.eq_ignore_ascii_case(&m.name)) {
                phrases.push(t.name.clone());
                phrases.extend(t.synonyms.iter().cloned());
            }
        }
        for p in phrases {
            if let Some(pos) = find_phrase(words, used, &p)
                && best.as_ref().is_none_or(|b| pos.len() > b.1.len())
            {
                best = Some((m, pos, p));
            }
        }
    }
    best
}

const GRAINS: &[(&str, &[&str])] = &[
    ("hour", &["hourly", "hour"]),
    ("day", &["daily", "day"]),
    ("week", &["weekly", "week"]),
    ("month", &["monthly", "month"]),
];

/// Compile `question`, refining `previous` slots when it is a follow-up.
pub fn compile(
    cat: &Catalog,
    question: &str,
    now: DateTime<Tz>,
    previous: Option<&Slots>,
) -> Result<Compiled, NeedsModel> {
    let words = words_of(question);
    let mut used = vec![false; words.len()];
    let mark = |used: &mut Vec<bool>, pos: &[usize]| pos.iter().for_each(|&i| used[i] = true);

    // Time first: "last month" must not be read as a grain.
    let range = when::find(&words, now);
    if let Some(r) = &range {
        mark(&mut used, &r.words);
    }

    let picked = pick_metric(cat, &words, &used);
    let (metric, metric_phrase) = match (picked, previous) {
        (Some((m, pos, p)), _) => {
            mark(&mut used, &pos);
            (m, Some(p))
        }
        (None, Some(prev)) => (
            cat.metrics
                .iter()
                .find(|m| m.name == prev.metric)
                .ok_or_else(|| NeedsModel("the previous metric is gone".into()))?,
            None,
        ),
        (None, None) => {
            return Err(NeedsModel("no curated metric matches the question".into()));
        }
    };
    let base = cat.table(&metric.table).ok_or_else(|| {
        NeedsModel(format!(
            "metric {} reads an unknown table {}",
            metric.name, metric.table
        ))
    })?;
    let follow = previous.filter(|p| p.metric == metric.name);
    let mut slots = follow.cloned().unwrap_or_else(|| Slots {
        metric: metric.name.clone(),
        ..Default::default()
    });
    if range.is_some() {
        slots.range = range;
    }

    // Top/bottom N.
    for i in 0..words.len() {
        let desc = match words[i].as_str() {
            "top" | "highest" | "most" | "largest" | "biggest" => true,
            "bottom" | "lowest" | "least" | "smallest" => false,
            _ => continue,
        };
        if let Some(n) = words.get(i + 1).and_then(|w| w.parse::<usize>().ok())
            && n > 0
        {
            slots.top = Some((desc, n));
            mark(&mut used, &[i, i + 1]);
        }
    }

    // Grain.
    for (grain, forms) in GRAINS {
        for (i, w) in words.iter().enumerate() {
            if used[i] || !forms.contains(&stem(w)) {
                continue;
            }
            let prep = i > 0 && matches!(words[i - 1].as_str(), "by" | "per" | "each" | "every");
            if w.ends_with("ly") || prep {
                slots.grain = Some(grain);
                used[i] = true;
                if prep {
                    used[i - 1] = true;
                }
            }
        }
    }

    // Dimensions, then filters, among the metric's columns and those one join away.
    let cands = candidates(cat, metric, base);
    let mut dims: Vec<usize> = Vec::new();
    let mut filters: Vec<(usize, Vec<String>)> = Vec::new();
    for (ci, c) in cands.iter().enumerate() {
        for v in super::checks::all_values(c.column).unwrap_or_default() {
            // A value the metric itself fixes ("workers requests") is not a filter.
            if metric_phrase
                .as_deref()
                .is_some_and(|p| words_of(&p.replace('_', " ")) == words_of(&v.replace('_', " ")))
            {
                continue;
            }
            // A code in capitals ("IN", "US") matches only as written: "in" is not India.
            let code = v.chars().all(|c| c.is_ascii_uppercase()) && v.len() <= 3;
            if code
                && !question
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|t| t == v)
            {
                continue;
            }
            if let Some(pos) = find_phrase(&words, &used, &v) {
                mark(&mut used, &pos);
                match filters.iter_mut().find(|f| f.0 == ci) {
                    Some(f) => f.1.push(v.clone()),
                    None => filters.push((ci, vec![v.clone()])),
                }
            }
        }
    }
    // A column is grouped by only when the question says so: "by X", "per X", "each X",
    // "which X", "top 5 X", "by X and Y". Elsewhere its name is just a noun ("for enterprise
    // accounts") or names the column a filter value belongs to ("on the enterprise plan").
    let top_at: Vec<usize> = (0..words.len())
        .filter(|&i| used[i] && words[i].parse::<usize>().is_ok())
        .collect();
    let mut found: Vec<(usize, usize, Vec<usize>)> = Vec::new();
    for (ci, c) in cands.iter().enumerate() {
        let mut names = c.names.clone();
        names.sort_by_key(|n| std::cmp::Reverse(n.split_whitespace().count()));
        for n in names {
            if let Some(pos) = find_phrase(&words, &used, &n) {
                mark(&mut used, &pos);
                found.push((pos[0], ci, pos));
                break;
            }
        }
    }
    found.sort();
    for (k, (start, ci, _)) in found.iter().enumerate() {
        // "by the country" groups as "by country" does.
        let mut at = start.checked_sub(1);
        if at.is_some_and(|i| matches!(words[i].as_str(), "the" | "their")) {
            at = at.and_then(|i| i.checked_sub(1));
        }
        let before = at.map(|i| words[i].as_str()).unwrap_or("");
        let chained = matches!(before, "and" | "then")
            && k > 0
            && dims.contains(&found[k - 1].1)
            && found[k - 1].2.last() == Some(&(start - 2));
        let grouped = matches!(before, "by" | "per" | "each" | "every" | "which")
            || start.checked_sub(1).is_some_and(|i| top_at.contains(&i))
            || chained;
        if grouped && !filters.iter().any(|f| f.0 == *ci) && !dims.contains(ci) {
            dims.push(*ci);
        }
    }
    // What is left must be filler.
    let left: Vec<&str> = words
        .iter()
        .enumerate()
        .filter(|(i, w)| !used[*i] && !FILLER.contains(&w.as_str()) && w.parse::<f64>().is_err())
        .map(|(_, w)| w.as_str())
        .collect();
    if !left.is_empty() {
        let dims: Vec<String> = cands.iter().map(|c| c.column.name.clone()).collect();
        return Err(NeedsModel(format!(
            "could not place \"{}\" (metric {} can be split by {} and filtered by their values)",
            left.join(" "),
            metric.name,
            dims.join(", ")
        )));
    }
    if follow.is_some() {
        // A follow-up adds to what it refines.
        for &ci in &dims {
            let key = (cands[ci].table.name.clone(), cands[ci].column.name.clone());
            if !slots.dimensions.contains(&key) {
                slots.dimensions.push(key);
            }
        }
        for (ci, vals) in &filters {
            let (t, c) = (
                cands[*ci].table.name.clone(),
                cands[*ci].column.name.clone(),
            );
            slots.filters.retain(|f| !(f.0 == t && f.1 == c));
            slots.filters.push((t, c, vals.clone()));
        }
    } else {
        slots.dimensions = dims
            .iter()
            .map(|&ci| (cands[ci].table.name.clone(), cands[ci].column.name.clone()))
            .collect();
        slots.filters = filters
            .iter()
            .map(|(ci, v)| {
                (
                    cands[*ci].table.name.clone(),
                    cands[*ci].column.name.clone(),
                    v.clone(),
                )
            })
            .collect();
    }
    if slots.top.is_some() && slots.dimensions.is_empty() && slots.grain.is_none() {
        return Err(NeedsModel(format!(
            "top N of what? name what to rank, e.g. \"top 5 accounts by {}\"",
            metric.name.replace('_', " ")
        )));
    }
    build(cat, metric, base, &cands, slots, now.timezone())
}

fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

/// The SQL for `slots`.
fn build(
    cat: &Catalog,
    metric: &Metric,
    base: &Table,
    cands: &[Candidate],
    slots: Slots,
    tz: Tz,
) -> Result<Compiled, NeedsModel> {
    let mut interp = vec![format!(
        "metric: {}{} = {}{}",
        metric.name,
        metric
            .unit
            .as_ref()
            .map(|u| format!(" ({u})"))
            .unwrap_or_default(),
        metric.expression,
        if metric.filters.is_empty() {
            String::new()
        } else {
            format!(" where {}", metric.filters.join(" and "))
        }
    )];
    let find = |t: &str, c: &str| {
        cands
            .iter()
            .find(|x| x.table.name == t && x.column.name == c)
    };
    // The candidates the question uses, as dimensions or filters.
    let used: Vec<&Candidate> = slots
        .dimensions
        .iter()
        .map(|(t, c)| (t.as_str(), c.as_str()))
        .chain(
            slots
                .filters
                .iter()
                .map(|(t, c, _)| (t.as_str(), c.as_str())),
        )
        .filter_map(|(t, c)| find(t, c))
        .collect();
    let joined: BTreeSet<&str> = used.iter().filter_map(|c| c.join.as_deref()).collect();
    if joined.len() > 1 {
        return Err(NeedsModel("the question needs more than one join".into()));
    }
    // The metric table's columns the question touches, directly or as a join key.
    let touched: BTreeSet<&str> = used
        .iter()
        .flat_map(|c| c.keys.iter().map(String::as_str))
        .collect();
    // Old ids translated first, so grouping by (or joining on) the new id keeps every row.
    let translated =
        translation(cat, base).filter(|t| t.columns.iter().any(|c| touched.contains(c.as_str())));
    let base_rel = match &translated {
        Some(t) => {
            let cols: Vec<String> = base
                .columns
                .iter()
                .map(|c| {
                    if t.columns.contains(&c.name) {
                        format!("coalesce(b.{c}, x.{c}) AS {c}", c = c.name)
                    } else {
                        format!("b.{}", c.name)
                    }
                })
                .collect();
            for c in &t.columns {
                interp.push(format!(
                    "ids: {c} = coalesce({b}.{c}, {x}.{c}): rows that carry only the old id are translated through {x}",
                    b = base.name,
                    x = t.table
                ));
            }
            format!(
                "(SELECT {} FROM {} b LEFT JOIN {} x ON {})",
                cols.join(", "),
                base.name,
                t.table,
                t.cond
            )
        }
        None => base.name.clone(),
    };
    let from = match joined.iter().next() {
        Some(j) => {
            let extra: Vec<String> = slots
                .dimensions
                .iter()
                .map(|(t, c)| (t, c))
                .chain(slots.filters.iter().map(|(t, c, _)| (t, c)))
                .filter(|(t, _)| **t != base.name)
                .map(|(_, c)| format!("j.{c}"))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            format!("(SELECT b.*, {} FROM {base_rel} b {j}) m", extra.join(", "))
        }
        None if translated.is_some() => format!("{base_rel} m"),
        None => base_rel,
    };
    let mut select = Vec::new();
    let mut group = Vec::new();
    let mut order = Vec::new();
    let mut wheres: Vec<String> = metric.filters.iter().map(|f| format!("({f})")).collect();

    let time_col = metric.time_column.as_deref().and_then(|c| base.column(c));
    let time_type = time_col
        .and_then(|c| c.data_type.clone())
        .unwrap_or_default()
        .to_lowercase();
    if let Some(g) = slots.grain {
        let col = time_col.ok_or_else(|| {
            NeedsModel(format!(
                "metric {} has no time column to group by {g}",
                metric.name
            ))
        })?;
        if g == "hour" && time_type.starts_with("date") {
            return Err(NeedsModel(format!(
                "{}.{} is a date: it has no hours",
                base.name, col.name
            )));
        }
        let expr = if time_type.starts_with("timestamp") {
            format!("date_trunc('{g}', {})", col.name)
        } else if time_type.starts_with("date") {
            // A date stays a date.
            format!("CAST(date_trunc('{g}', {}) AS DATE)", col.name)
        } else {
            format!("date_trunc('{g}', CAST({} AS TIMESTAMP))", col.name)
        };
        select.push(format!("{expr} AS {g}"));
        group.push(g.to_string());
        order.push(g.to_string());
        interp.push(format!(
            "grain: {g} of {}{}",
            col.name,
            if g == "week" {
                " (ISO weeks, from Monday)"
            } else {
                ""
            }
        ));
    }
    if let Some(r) = &slots.range {
        let col = time_col.ok_or_else(|| {
            NeedsModel(format!(
                "metric {} has no time column for {}",
                metric.name, r.phrase
            ))
        })?;
        let (lo, hi) = if r.whole_days && tz == chrono_tz::UTC {
            (r.start, r.end)
        } else {
            r.utc(tz)
        };
        let lit = |t: chrono::NaiveDateTime| {
            if time_type.starts_with("date") {
                format!("DATE '{}'", t.date())
            } else if time_type.starts_with("timestamp") {
                format!("TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S"))
            } else if r.whole_days && t.time() == chrono::NaiveTime::MIN {
                // ISO text compares as it sorts.
                format!("'{}'", t.date())
            } else {
                format!("'{}'", t.format("%Y-%m-%d %H:%M:%S"))
            }
        };
        wheres.push(format!(
            "{c} >= {} AND {c} < {}",
            lit(lo),
            lit(hi),
            c = col.name
        ));
        interp.push(format!("time: {} (on {})", r.describe(tz), col.name));
    }
    for (t, c) in &slots.dimensions {
        select.push(c.clone());
        group.push(c.clone());
        if slots.top.is_none() {
            order.push(c.clone());
        }
        interp.push(format!("by: {t}.{c}"));
    }
    for (t, c, vals) in &slots.filters {
        let cond = if vals.len() == 1 {
            format!("{c} = {}", quote(&vals[0]))
        } else {
            format!(
                "{c} IN ({})",
                vals.iter().map(|v| quote(v)).collect::<Vec<_>>().join(", ")
            )
        };
        interp.push(format!("filter: {t}.{cond}"));
        wheres.push(cond);
    }
    select.push(format!("{} AS {}", metric.expression, metric.name));
    let mut sql = format!("SELECT {} FROM {from}", select.join(", "));
    if !wheres.is_empty() {
        sql.push_str(&format!(" WHERE {}", wheres.join(" AND ")));
    }
    if !group.is_empty() {
        sql.push_str(&format!(" GROUP BY {}", group.join(", ")));
    }
    if let Some((desc, n)) = slots.top {
        sql.push_str(&format!(
            " ORDER BY {} {} NULLS LAST LIMIT {n}",
            metric.name,
            if desc { "DESC" } else { "ASC" }
        ));
        interp.push(format!(
            "{} {n} by {}",
            if desc { "top" } else { "bottom" },
            metric.name
        ));
    } else if !order.is_empty() {
        sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
    }
    if base.is_sampled() {
        interp.push(format!("note: {} is sampled", base.name));
    } else {
        interp.push(format!("source: {} (unsampled, exact)", base.name));
    }
    Ok(Compiled {
        sql,
        metric: metric.name.clone(),
        interpretation: interp,
        slots,
    })
}
