//! The catalog: what Skipper knows about the data. It merges, in order of authority,
//!
//! 1. the human-written `context/` YAML (descriptions, owners, classifications, glossary,
//!    lineage, metrics, joins, annotations, verified examples; see [`model`]),
//! 2. imports from where teams already keep knowledge: a dbt `manifest.json` ([`dbt`]) and the
//!    sources' own comments (Postgres `COMMENT ON`),
//! 3. code: `context/transforms/*.sql` and dbt's compiled SQL, parsed for table- and
//!    column-level lineage ([`sqlfacts`]),
//! 4. runtime introspection: every source's tables and columns, row counts and column
//!    statistics, cached in an embedded store under the data dir ([`store`], [`refresh`]),
//! 5. usage: which tables, columns and joins past queries used ([`usage`]).
//!
//! Human text wins wherever two speak. Problems (an unknown column in a metric) are kept as
//! diagnostics with the file, line and column they come from; `skipper catalog check` prints
//! them.

pub mod cache;
pub mod check;
pub mod dbt;
pub mod fresh;
pub mod load;
pub mod model;
pub mod refresh;
pub mod sqlfacts;
pub mod store;
pub mod usage;

use ahash::AHashMap as HashMap;
use model::{Cardinality, Classification, Freshness, Owner, Sampling};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use store::{ColumnStats, SourceSnapshot};

/// A place in a `context/` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pos {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl Pos {
    /// A whole file (line 1, column 1).
    pub fn file(name: &str) -> Pos {
        Pos {
            file: name.to_string(),
            line: 1,
            column: 1,
        }
    }
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about the catalog, with where it comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub pos: Option<Pos>,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match &self.pos {
            Some(p) => write!(f, "{p}: {sev}: {}", self.message),
            None => write!(f, "{sev}: {}", self.message),
        }
    }
}

/// Where a description came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Context,
    Dbt,
    SourceComment,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    /// `source.schema.table`.
    pub name: String,
    pub source: String,
    pub description: Option<String>,
    pub description_from: Option<Origin>,
    pub owners: Vec<Owner>,
    pub tags: Vec<String>,
    pub grain: Option<String>,
    pub time_column: Option<String>,
    pub partitioning: Option<String>,
    pub freshness: Option<Freshness>,
    pub sampled: Option<Sampling>,
    pub sensitivity: Option<String>,
    pub columns: Vec<Column>,
    pub row_count: Option<u64>,
    /// When the statistics were computed (RFC 3339).
    pub stats_at: Option<String>,
    /// The SQL (or dbt model) that builds it, when known.
    pub built_by: Option<String>,
    /// Present in the sources' latest snapshot (false: only the context speaks of it).
    pub in_source: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<Pos>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }
    /// The table's own name, without source and schema.
    pub fn short_name(&self) -> &str {
        self.name.rsplit('.').next().unwrap_or(&self.name)
    }
    pub fn is_sampled(&self) -> bool {
        self.sampled.as_ref().and_then(Sampling::rate).is_some()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub data_type: Option<String>,
    pub nullable: Option<bool>,
    pub description: Option<String>,
    pub description_from: Option<Origin>,
    pub semantic_type: Option<String>,
    pub unit: Option<String>,
    pub allowed_values: Vec<String>,
    pub classification: Option<Classification>,
    pub synonyms: Vec<String>,
    pub stats: Option<ColumnStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<Pos>,
}

impl Column {
    fn bare(name: &str) -> Column {
        Column {
            name: name.to_string(),
            data_type: None,
            nullable: None,
            description: None,
            description_from: None,
            semantic_type: None,
            unit: None,
            allowed_values: vec![],
            classification: None,
            synonyms: vec![],
            stats: None,
            pos: None,
        }
    }
    pub fn is_pii(&self) -> bool {
        self.classification.as_ref().is_some_and(|c| c.is_pii())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Term {
    pub name: String,
    pub definition: String,
    pub synonyms: Vec<String>,
    /// `source.schema.table.column`.
    pub columns: Vec<String>,
    pub metrics: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<Pos>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeOrigin {
    Context,
    Transform,
    Dbt,
}

/// `to` is built from `from`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Edge {
    pub to: String,
    pub from: Vec<String>,
    pub transformation: Option<String>,
    pub origin: EdgeOrigin,
    /// (column of `to`, the `source.schema.table.column`s it is computed from).
    pub columns: Vec<(String, Vec<String>)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<Pos>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    pub description: Option<String>,
    pub synonyms: Vec<String>,
    pub expression: String,
    pub table: String,
    pub time_column: Option<String>,
    pub filters: Vec<String>,
    pub dimensions: Vec<String>,
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<Pos>,
}

impl Metric {
    /// The metric as one SQL query (no dimensions): what `catalog check` plans.
    pub fn sql(&self) -> String {
        let mut sql = format!(
            "SELECT {} AS {} FROM {}",
            self.expression, self.name, self.table
        );
        if !self.filters.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(
                &self
                    .filters
                    .iter()
                    .map(|f| format!("({f})"))
                    .collect::<Vec<_>>()
                    .join(" AND "),
            );
        }
        sql
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entity {
    pub name: String,
    pub description: Option<String>,
    pub synonyms: Vec<String>,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<Pos>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Join {
    pub left: String,
    pub right: String,
    /// (left column, right column).
    pub on: Vec<(String, String)>,
    pub cardinality: Cardinality,
    pub id_translation: bool,
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<Pos>,
}

impl Join {
    /// `a JOIN b ON a.x = b.y` as text.
    pub fn condition(&self) -> String {
        self.on
            .iter()
            .map(|(l, r)| format!("{}.{l} = {}.{r}", self.left, self.right))
            .collect::<Vec<_>>()
            .join(" AND ")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Annotation {
    pub target: String,
    pub note: String,
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<Pos>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Example {
    pub question: String,
    pub sql: String,
    pub verified_by: String,
    /// The tables and columns its SQL reads, resolved.
    pub tables: Vec<String>,
    pub columns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<Pos>,
}

/// A source as the latest snapshot saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceInfo {
    pub name: String,
    pub kind: String,
    pub refreshed_at: String,
    /// Why the last refresh could not reach it (its previous snapshot is in use).
    pub error: Option<String>,
}

/// Everything known, merged.
///
/// Serialisable so that a build can be cached (see [`cache`], which stores the tables itself,
/// in chunks it reads back in parallel); the name index and the usage counts are not part of
/// it: the index is rebuilt on reading and usage changes with every answered question.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Catalog {
    #[serde(skip)]
    pub tables: Vec<Table>,
    #[serde(skip)]
    index: HashMap<String, usize>,
    pub terms: Vec<Term>,
    pub lineage: Vec<Edge>,
    pub metrics: Vec<Metric>,
    pub entities: Vec<Entity>,
    pub joins: Vec<Join>,
    pub annotations: Vec<Annotation>,
    pub examples: Vec<Example>,
    pub sources: Vec<SourceInfo>,
    #[serde(skip)]
    pub usage: usage::Usage,
    /// Problems found while merging (unknown tables and columns, bad lineage, …).
    pub diagnostics: Vec<Diagnostic>,
}

impl Catalog {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.index
            .get(&name.to_lowercase())
            .map(|&i| &self.tables[i])
    }

    /// Resolve a table name as a person writes it: `source.schema.table`, `schema.table` or
    /// `table`, case-insensitively; a shorter form must be unambiguous.
    pub fn resolve_table(&self, raw: &str) -> Result<&Table, String> {
        resolve_in(&self.tables, &self.index, raw)
    }

    /// Resolve `…table.column` to the table and its column.
    pub fn resolve_column(&self, raw: &str) -> Result<(&Table, &Column), String> {
        let Some((t, c)) = raw.rsplit_once('.') else {
            return Err(format!("'{raw}' is not table.column"));
        };
        let table = self.resolve_table(t)?;
        match table.column(c) {
            Some(col) => Ok((table, col)),
            None => Err(unknown_column(table, c)),
        }
    }

    /// Annotations on a table, its columns (`table.column`) or a metric (`metric:name`).
    pub fn notes_for<'a>(&'a self, target: &'a str) -> impl Iterator<Item = &'a Annotation> + 'a {
        self.annotations.iter().filter(move |a| {
            a.target.eq_ignore_ascii_case(target)
                || (a.target.len() > target.len()
                    && a.target[..target.len()].eq_ignore_ascii_case(target)
                    && a.target.as_bytes()[target.len()] == b'.')
        })
    }

    /// Tables this one is built from (`upstream`) or that are built from it.
    pub fn neighbours(&self, table: &str, upstream: bool) -> Vec<&Edge> {
        self.lineage
            .iter()
            .filter(|e| {
                if upstream {
                    e.to.eq_ignore_ascii_case(table)
                } else {
                    e.from.iter().any(|f| f.eq_ignore_ascii_case(table))
                }
            })
            .collect()
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }

    /// Merge the context documents, the sources' snapshots and a dbt import. Usage counts are
    /// learned afterwards ([`usage::Usage::learn`]), as they need the merged names.
    pub fn build(
        docs: &load::ContextDocs,
        snapshots: &[SourceSnapshot],
        dbt: Option<&dbt::DbtImport>,
    ) -> Catalog {
        let mut cat = Catalog::default();
        // 1. What the sources have.
        for s in snapshots {
            cat.sources.push(SourceInfo {
                name: s.source.clone(),
                kind: s.kind.clone(),
                refreshed_at: s.refreshed_at.clone(),
                error: s.error.clone(),
            });
            for t in &s.tables {
                let mut table = Table {
                    name: format!("{}.{}.{}", s.source, t.schema, t.table),
                    source: s.source.clone(),
                    description: t.comment.clone(),
                    description_from: t.comment.as_ref().map(|_| Origin::SourceComment),
                    owners: vec![],
                    tags: vec![],
                    grain: None,
                    time_column: None,
                    partitioning: None,
                    freshness: None,
                    sampled: None,
                    sensitivity: None,
                    columns: Vec::new(),
                    row_count: t.row_count,
                    stats_at: t.stats_at.clone(),
                    built_by: None,
                    in_source: true,
                    pos: None,
                };
                for c in &t.columns {
                    let mut col = Column::bare(&c.name);
                    col.data_type = Some(c.data_type.clone());
                    col.nullable = Some(c.nullable);
                    col.description = c.comment.clone();
                    col.description_from = c.comment.as_ref().map(|_| Origin::SourceComment);
                    col.stats = c.stats.clone();
                    table.columns.push(col);
                }
                cat.push_table(table);
            }
        }
        let down: BTreeSet<&str> = snapshots
            .iter()
            .filter(|s| s.error.is_some() && s.tables.is_empty())
            .map(|s| s.source.as_str())
            .collect();
        // 2. dbt: descriptions where the source has none, lineage from depends_on.
        if let Some(d) = dbt {
            cat.merge_dbt(d);
        }
        // 3. The human context wins.
        cat.merge_datasets(docs, &down);
        cat.merge_rest(docs);
        cat.merge_transforms(docs);
        cat
    }

    /// Rebuild the name index (after reading a cached build).
    fn reindex(&mut self) {
        self.index = self
            .tables
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.to_lowercase(), i))
            .collect();
    }

    fn push_table(&mut self, t: Table) {
        let key = t.name.to_lowercase();
        if let Some(&i) = self.index.get(&key) {
            self.tables[i] = t;
        } else {
            self.index.insert(key, self.tables.len());
            self.tables.push(t);
        }
    }

    fn err(&mut self, pos: Option<Pos>, msg: impl Into<String>) {
        self.diagnostics.push(Diagnostic::error(pos, msg));
    }

    fn merge_dbt(&mut self, d: &dbt::DbtImport) {
        for m in &d.models {
            let Ok(name) = self.resolve_table(&m.relation).map(|t| t.name.clone()) else {
                self.diagnostics.push(Diagnostic::warning(
                    Some(Pos::file(&d.path)),
                    format!(
                        "dbt {} '{}' ({}) matches no table of the sources",
                        m.kind, m.unique_id, m.relation
                    ),
                ));
                continue;
            };
            let i = self.index[&name.to_lowercase()];
            let t = &mut self.tables[i];
            if let Some(desc) = m.description.as_ref().filter(|s| !s.trim().is_empty()) {
                t.description = Some(desc.clone());
                t.description_from = Some(Origin::Dbt);
            }
            if t.built_by.is_none() {
                t.built_by = m.compiled_sql.clone();
            }
            for (cname, cdesc) in &m.columns {
                if let Some(c) = t
                    .columns
                    .iter_mut()
                    .find(|c| c.name.eq_ignore_ascii_case(cname))
                    && !cdesc.trim().is_empty()
                {
                    c.description = Some(cdesc.clone());
                    c.description_from = Some(Origin::Dbt);
                }
            }
            let from: Vec<String> = m
                .depends_on
                .iter()
                .filter_map(|dep| {
                    d.models
                        .iter()
                        .find(|o| &o.unique_id == dep)
                        .and_then(|o| self.resolve_table(&o.relation).ok())
                        .map(|t| t.name.clone())
                })
                .collect();
            if !from.is_empty() {
                let columns = match &m.compiled_sql {
                    Some(sql) => self.column_lineage(sql).unwrap_or_default(),
                    None => vec![],
                };
                self.lineage.push(Edge {
                    to: name.clone(),
                    from,
                    transformation: Some(format!("dbt model {}", m.unique_id)),
                    origin: EdgeOrigin::Dbt,
                    columns,
                    pos: None,
                });
            }
        }
    }

    /// The lowercased column names of a table named as SQL text names it (for [`sqlfacts`]).
    fn columns_of(&self, raw: &str) -> Option<Vec<String>> {
        self.resolve_table(raw)
            .ok()
            .map(|t| t.columns.iter().map(|c| c.name.to_lowercase()).collect())
    }

    /// Column-level lineage of the `SELECT` that builds a table.
    fn column_lineage(&self, sql: &str) -> Option<Vec<(String, Vec<String>)>> {
        let cols = |raw: &str| self.columns_of(raw);
        let d = sqlfacts::analyze(sql, &cols).ok()?.pop()?;
        Some(
            d.facts
                .outputs
                .iter()
                .map(|(out, refs)| {
                    let from = refs
                        .iter()
                        .filter_map(|(t, c)| {
                            self.resolve_table(t)
                                .ok()
                                .map(|t| format!("{}.{c}", t.name))
                        })
                        .collect();
                    (out.clone(), from)
                })
                .collect(),
        )
    }

    fn merge_datasets(&mut self, docs: &load::ContextDocs, down: &BTreeSet<&str>) {
        for file in &docs.files {
            for ds in &file.datasets {
                let pos = docs.pos(ds.name.span());
                let name = match self.resolve_table(&ds.name).map(|t| t.name.clone()) {
                    Ok(n) => n,
                    Err(e) => {
                        let source = ds.name.split('.').next().unwrap_or_default();
                        if down.contains(source) || self.tables.is_empty() {
                            // The source is down (or never introspected): keep the human text.
                            self.diagnostics.push(Diagnostic::warning(
                                pos.clone(),
                                format!("{}: its source has no snapshot; not checked", *ds.name),
                            ));
                            self.push_table(Table {
                                name: ds.name.to_string(),
                                source: source.to_string(),
                                description: None,
                                description_from: None,
                                owners: vec![],
                                tags: vec![],
                                grain: None,
                                time_column: None,
                                partitioning: None,
                                freshness: None,
                                sampled: None,
                                sensitivity: None,
                                columns: ds.columns.iter().map(|c| Column::bare(&c.name)).collect(),
                                row_count: None,
                                stats_at: None,
                                built_by: None,
                                in_source: false,
                                pos: pos.clone(),
                            });
                            ds.name.to_string()
                        } else {
                            self.err(pos, format!("{e} (if it is new: skipper catalog refresh)"));
                            continue;
                        }
                    }
                };
                let i = self.index[&name.to_lowercase()];
                if let Some(p) = &self.tables[i].pos {
                    let msg = format!("{name} is described twice (first at {p})");
                    self.err(pos.clone(), msg);
                }
                let mut errors = Vec::new();
                {
                    let t = &mut self.tables[i];
                    t.pos = pos.clone();
                    if let Some(d) = &ds.description {
                        t.description = Some(d.trim().to_string());
                        t.description_from = Some(Origin::Context);
                    }
                    t.owners = ds.owners.clone();
                    t.tags = ds.tags.clone();
                    t.grain = ds.grain.clone();
                    t.partitioning = ds.partitioning.clone();
                    t.freshness = ds.freshness.clone();
                    t.sampled = ds.sampled.clone();
                    t.sensitivity = ds.sensitivity.clone();
                    if let Some(tc) = &ds.time_column {
                        match t.column(tc) {
                            Some(c) => t.time_column = Some(c.name.clone()),
                            None => errors.push((docs.pos(tc.span()), unknown_column(t, tc))),
                        }
                    }
                    for cd in &ds.columns {
                        let cpos = docs.pos(cd.name.span());
                        let Some(c) = t
                            .columns
                            .iter_mut()
                            .find(|c| c.name.eq_ignore_ascii_case(&cd.name))
                        else {
                            errors.push((cpos, unknown_column(t, &cd.name)));
                            continue;
                        };
                        if let Some(d) = &cd.description {
                            c.description = Some(d.trim().to_string());
                            c.description_from = Some(Origin::Context);
                        }
                        c.semantic_type = cd.semantic_type.clone();
                        c.unit = cd.unit.clone();
                        c.allowed_values = cd.allowed_values.clone();
                        c.classification = cd.classification.clone();
                        c.synonyms = cd.synonyms.clone();
                        c.pos = cpos;
                    }
                }
                for (p, m) in errors {
                    self.err(p, m);
                }
            }
        }
    }

    /// Check a `table.column` reference; returns it resolved.
    fn check_column(
        &mut self,
        docs: &load::ContextDocs,
        raw: &marked_yaml::Spanned<String>,
    ) -> Option<String> {
        match self.resolve_column(raw) {
            Ok((t, c)) => Some(format!("{}.{}", t.name, c.name)),
            Err(e) => {
                self.err(docs.pos(raw.span()), e);
                None
            }
        }
    }

    fn check_table(
        &mut self,
        docs: &load::ContextDocs,
        raw: &marked_yaml::Spanned<String>,
    ) -> Option<String> {
        match self.resolve_table(raw) {
            Ok(t) => Some(t.name.clone()),
            Err(e) => {
                self.err(docs.pos(raw.span()), e);
                None
            }
        }
    }

    fn merge_rest(&mut self, docs: &load::ContextDocs) {
        // Metrics first: glossary terms link to them.
        for file in &docs.files {
            for m in &file.metrics {
                let pos = docs.pos(m.name.span());
                let Some(table) = self.check_table(docs, &m.table) else {
                    continue;
                };
                let t = self.table(&table).expect("resolved").clone();
                let col =
                    |raw: &marked_yaml::Spanned<String>, cat: &mut Catalog| -> Option<String> {
                        if raw.contains('.') {
                            cat.check_column(docs, raw)
                        } else if let Some(c) = t.column(raw) {
                            Some(c.name.clone())
                        } else {
                            cat.err(docs.pos(raw.span()), unknown_column(&t, raw));
                            None
                        }
                    };
                let time_column = m.time_column.as_ref().and_then(|c| col(c, self));
                let dimensions = m.dimensions.iter().filter_map(|d| col(d, self)).collect();
                if self
                    .metrics
                    .iter()
                    .any(|o| o.name.eq_ignore_ascii_case(&m.name))
                {
                    self.err(
                        pos.clone(),
                        format!("metric '{}' is defined twice", *m.name),
                    );
                }
                self.metrics.push(Metric {
                    name: m.name.to_string(),
                    description: m.description.clone(),
                    synonyms: m.synonyms.clone(),
                    expression: m.expression.to_string(),
                    table,
                    time_column,
                    filters: m.filters.iter().map(|f| f.to_string()).collect(),
                    dimensions,
                    unit: m.unit.clone(),
                    pos,
                });
            }
        }
        let mut seen_terms: HashMap<String, Option<Pos>> = HashMap::new();
        for file in &docs.files {
            for t in &file.glossary {
                let pos = docs.pos(t.name.span());
                for word in
                    std::iter::once(t.name.as_str()).chain(t.synonyms.iter().map(String::as_str))
                {
                    let key = word.trim().to_lowercase();
                    if let Some(first) = seen_terms.get(&key) {
                        let at = first
                            .as_ref()
                            .map(|p| format!(" (first at {p})"))
                            .unwrap_or_default();
                        self.err(
                            pos.clone(),
                            format!("glossary term or synonym '{word}' is defined twice{at}"),
                        );
                    } else {
                        seen_terms.insert(key, pos.clone());
                    }
                }
                let columns = t
                    .columns
                    .iter()
                    .filter_map(|c| self.check_column(docs, c))
                    .collect();
                let mut metrics = Vec::new();
                for m in &t.metrics {
                    match self.metrics.iter().find(|x| x.name.eq_ignore_ascii_case(m)) {
                        Some(x) => metrics.push(x.name.clone()),
                        None => self.err(docs.pos(m.span()), format!("unknown metric '{}'", **m)),
                    }
                }
                self.terms.push(Term {
                    name: t.name.to_string(),
                    definition: t.definition.trim().to_string(),
                    synonyms: t.synonyms.clone(),
                    columns,
                    metrics,
                    pos,
                });
            }
            for e in &file.entities {
                let pos = docs.pos(e.name.span());
                if let Some(key) = self.check_column(docs, &e.key) {
                    self.entities.push(Entity {
                        name: e.name.to_string(),
                        description: e.description.clone(),
                        synonyms: e.synonyms.clone(),
                        key,
                        pos,
                    });
                }
            }
            for j in &file.joins {
                let pos = docs.pos(j.left.span());
                let (Some(left), Some(right)) = (
                    self.check_table(docs, &j.left),
                    self.check_table(docs, &j.right),
                ) else {
                    continue;
                };
                let mut on = Vec::new();
                for cond in &j.on {
                    let Some((l, r)) = cond.split_once('=') else {
                        self.err(
                            docs.pos(cond.span()),
                            format!(
                                "join condition '{}' is not `left_column = right_column`",
                                **cond
                            ),
                        );
                        continue;
                    };
                    let (l, r) = (l.trim(), r.trim());
                    let lt = self.table(&left).expect("resolved");
                    let rt = self.table(&right).expect("resolved");
                    match (lt.column(l), rt.column(r)) {
                        (Some(a), Some(b)) => on.push((a.name.clone(), b.name.clone())),
                        (None, _) => {
                            let m = unknown_column(lt, l);
                            self.err(docs.pos(cond.span()), m)
                        }
                        (_, None) => {
                            let m = unknown_column(rt, r);
                            self.err(docs.pos(cond.span()), m)
                        }
                    }
                }
                self.joins.push(Join {
                    left,
                    right,
                    on,
                    cardinality: j.cardinality,
                    id_translation: j.id_translation,
                    description: j.description.clone(),
                    pos,
                });
            }
            for l in &file.lineage {
                let pos = docs.pos(l.to.span());
                let Some(to) = self.check_table(docs, &l.to) else {
                    continue;
                };
                let from: Vec<String> = l
                    .from
                    .iter()
                    .filter_map(|f| self.check_table(docs, f))
                    .collect();
                let mut columns = Vec::new();
                let target = self.table(&to).expect("resolved").clone();
                for c in &l.columns {
                    let Some(tc) = target.column(&c.to).map(|c| c.name.clone()) else {
                        self.err(docs.pos(c.to.span()), unknown_column(&target, &c.to));
                        continue;
                    };
                    let srcs = c
                        .from
                        .iter()
                        .filter_map(|f| self.check_column(docs, f))
                        .collect();
                    columns.push((tc, srcs));
                }
                self.lineage.push(Edge {
                    to,
                    from,
                    transformation: l.transformation.clone(),
                    origin: EdgeOrigin::Context,
                    columns,
                    pos,
                });
            }
            for a in &file.annotations {
                let pos = docs.pos(a.target.span());
                let target = if let Some(m) = a.target.strip_prefix("metric:") {
                    match self
                        .metrics
                        .iter()
                        .find(|x| x.name.eq_ignore_ascii_case(m.trim()))
                    {
                        Some(x) => format!("metric:{}", x.name),
                        None => {
                            self.err(pos, format!("unknown metric '{m}'"));
                            continue;
                        }
                    }
                } else if let Ok(t) = self.resolve_table(&a.target) {
                    t.name.clone()
                } else if let Some(c) = self.check_column(docs, &a.target) {
                    c
                } else {
                    continue;
                };
                self.annotations.push(Annotation {
                    target,
                    note: a.note.trim().to_string(),
                    author: a.author.clone(),
                    pos,
                });
            }
        }
        for file in &docs.files {
            for ex in &file.examples {
                let pos = docs.pos(ex.sql.span());
                let (tables, columns) = match self.facts_of(&ex.sql) {
                    Ok(f) => f,
                    Err(e) => {
                        self.err(pos, format!("verified example SQL does not parse: {e}"));
                        continue;
                    }
                };
                self.examples.push(Example {
                    question: ex.question.trim().to_string(),
                    sql: ex.sql.trim().to_string(),
                    verified_by: ex.verified_by.clone(),
                    tables,
                    columns,
                    pos,
                });
            }
        }
    }

    /// The tables and columns a query reads, resolved to catalog names (unknown ones dropped).
    pub fn facts_of(&self, sql: &str) -> Result<(Vec<String>, Vec<String>), String> {
        let cols = |raw: &str| self.columns_of(raw);
        let mut tables = BTreeSet::new();
        let mut columns = BTreeSet::new();
        for d in sqlfacts::analyze(sql, &cols)? {
            for t in &d.facts.tables {
                if let Ok(t) = self.resolve_table(t) {
                    tables.insert(t.name.clone());
                }
            }
            for (t, c) in &d.facts.columns {
                if let Ok(t) = self.resolve_table(t)
                    && let Some(c) = t.column(c)
                {
                    columns.insert(format!("{}.{}", t.name, c.name));
                }
            }
        }
        Ok((tables.into_iter().collect(), columns.into_iter().collect()))
    }

    fn merge_transforms(&mut self, docs: &load::ContextDocs) {
        for (file, sql) in &docs.transforms {
            let stem = std::path::Path::new(file)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let cols = |raw: &str| self.columns_of(raw);
            let derived = match sqlfacts::analyze(sql, &cols) {
                Ok(d) => d,
                Err(e) => {
                    self.err(Some(Pos::file(file)), format!("does not parse: {e}"));
                    continue;
                }
            };
            let mut edges = Vec::new();
            let mut problems = Vec::new();
            for d in derived {
                // A bare SELECT is a dbt-style model: the file names the table it builds.
                let raw_target = d.target.clone().unwrap_or_else(|| stem.clone());
                let Ok(to) = self.resolve_table(&raw_target).map(|t| t.name.clone()) else {
                    problems.push(format!(
                        "builds '{raw_target}', which is no table of the sources"
                    ));
                    continue;
                };
                let mut from = Vec::new();
                for t in &d.facts.tables {
                    match self.resolve_table(t) {
                        Ok(t) => from.push(t.name.clone()),
                        Err(e) => problems.push(e),
                    }
                }
                let target_table = self.table(&to).expect("resolved");
                for (out, _) in &d.facts.outputs {
                    if target_table.column(out).is_none() {
                        problems.push(format!("builds column '{out}', which {to} does not have"));
                    }
                }
                let columns = d
                    .facts
                    .outputs
                    .iter()
                    .map(|(out, refs)| {
                        let srcs = refs
                            .iter()
                            .filter_map(|(t, c)| {
                                self.resolve_table(t)
                                    .ok()
                                    .map(|t| format!("{}.{c}", t.name))
                            })
                            .collect();
                        (out.clone(), srcs)
                    })
                    .collect();
                edges.push((to, from, columns, d.sql));
            }
            for p in problems {
                self.err(Some(Pos::file(file)), p);
            }
            for (to, from, columns, sql) in edges {
                let i = self.index[&to.to_lowercase()];
                self.tables[i].built_by = Some(sql);
                let rel = std::path::Path::new(file)
                    .strip_prefix(&docs.dir)
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| file.clone());
                self.lineage.push(Edge {
                    to,
                    from,
                    transformation: Some(rel),
                    origin: EdgeOrigin::Transform,
                    columns,
                    pos: Some(Pos::file(file)),
                });
            }
        }
    }
}

pub(crate) fn unknown_column(t: &Table, c: &str) -> String {
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    let close = names
        .iter()
        .filter(|n| strsim::jaro_winkler(&n.to_lowercase(), &c.to_lowercase()) > 0.85)
        .copied()
        .collect::<Vec<_>>();
    if close.is_empty() {
        format!(
            "{} has no column '{c}' (it has: {})",
            t.name,
            names.join(", ")
        )
    } else {
        format!(
            "{} has no column '{c}'; did you mean {}?",
            t.name,
            close.join(" or ")
        )
    }
}

fn resolve_in<'a>(
    tables: &'a [Table],
    index: &HashMap<String, usize>,
    raw: &str,
) -> Result<&'a Table, String> {
    let key = raw.trim().to_lowercase();
    if let Some(&i) = index.get(&key) {
        return Ok(&tables[i]);
    }
    let suffix = format!(".{key}");
    let hits: Vec<&Table> = tables
        .iter()
        .filter(|t| t.name.to_lowercase().ends_with(&suffix))
        .collect();
    match hits.len() {
        1 => Ok(hits[0]),
        0 => {
            let close: Vec<&str> = tables
                .iter()
                .map(|t| t.name.as_str())
                .filter(|n| {
                    let short = n.rsplit('.').next().unwrap_or(n);
                    let want = key.rsplit('.').next().unwrap_or(&key);
                    strsim::jaro_winkler(short, want) > 0.85
                })
                .collect();
            if close.is_empty() {
                Err(format!("unknown table '{raw}'"))
            } else {
                Err(format!(
                    "unknown table '{raw}'; did you mean {}?",
                    close.join(" or ")
                ))
            }
        }
        _ => Err(format!(
            "'{raw}' is ambiguous: {}",
            hits.iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Lineage cycles, each as the tables around it.
pub fn lineage_cycles(edges: &[Edge]) -> Vec<Vec<String>> {
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in edges {
        for f in &e.from {
            graph.entry(f.as_str()).or_default().insert(e.to.as_str());
        }
    }
    // Depth-first search with colours; a back edge closes a cycle.
    let mut colour: HashMap<&str, u8> = HashMap::new();
    let mut cycles = Vec::new();
    fn visit<'a>(
        n: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        colour: &mut HashMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
        cycles: &mut Vec<Vec<String>>,
    ) {
        colour.insert(n, 1);
        stack.push(n);
        for &m in graph.get(n).into_iter().flatten() {
            match colour.get(m).copied().unwrap_or(0) {
                0 => visit(m, graph, colour, stack, cycles),
                1 => {
                    let start = stack.iter().position(|&s| s == m).unwrap_or(0);
                    let mut c: Vec<String> = stack[start..].iter().map(|s| s.to_string()).collect();
                    c.push(m.to_string());
                    cycles.push(c);
                }
                _ => {}
            }
        }
        stack.pop();
        colour.insert(n, 2);
    }
    let nodes: Vec<&str> = graph.keys().copied().collect();
    for n in nodes {
        if colour.get(n).copied().unwrap_or(0) == 0 {
            visit(n, &graph, &mut colour, &mut Vec::new(), &mut cycles);
        }
    }
    cycles
}
