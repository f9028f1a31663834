//! Runtime introspection (`skipper catalog refresh`): each source's tables and columns, row
//! counts and, per column, the null fraction, a distinct estimate, min and max, and the most
//! common values of low-cardinality text columns. Columns classified as PII in `context/` are
//! never read: their statistics are not computed, so no value of theirs reaches the cache.
//!
//! Refresh is incremental: a table whose fingerprint (files: sizes, times, ETags; Postgres:
//! write counters; SQLite: the database file's change counter) has not moved keeps its
//! statistics. A source that cannot be reached keeps its last snapshot, marked with the error.

use super::store::{ColumnSnapshot, ColumnStats, SourceSnapshot, TableSnapshot};
use crate::config::{Config, SourceConfig};
use crate::engine::{Engine, SourceStatus};
use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::array_value_to_string;
use std::collections::BTreeMap;

/// Text columns with at most this many distinct values get their common values recorded.
pub const LOW_CARDINALITY: u64 = 50;
/// How many common values are kept.
pub const COMMON_VALUES: usize = 20;

/// What a refresh did to one source.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceReport {
    pub source: String,
    pub tables: usize,
    /// Tables whose statistics were computed now.
    pub computed: usize,
    /// Tables whose fingerprint had not moved, so their statistics were kept.
    pub unchanged: usize,
    /// Tables that could not be read (the message names each).
    pub failed: Vec<String>,
    /// The source could not be reached; its previous snapshot (if any) is kept.
    pub error: Option<String>,
}

/// Take one source's snapshot. `stats` = false takes names and types only (cheap: what the
/// catalog needs when no refresh was ever run). `is_pii(table, column)` says which columns'
/// values must not be read.
pub async fn snapshot_source(
    engine: &Engine,
    config: &Config,
    status: &SourceStatus,
    previous: Option<SourceSnapshot>,
    stats: bool,
    is_pii: &dyn Fn(&str, &str) -> bool,
    now: &str,
) -> (SourceSnapshot, SourceReport) {
    let mut report = SourceReport {
        source: status.name.clone(),
        tables: 0,
        computed: 0,
        unchanged: 0,
        failed: vec![],
        error: None,
    };
    if let Some(e) = &status.error {
        report.error = Some(e.clone());
        let snap = match previous {
            Some(mut p) => {
                p.error = Some(e.clone());
                p
            }
            None => SourceSnapshot {
                source: status.name.clone(),
                kind: status.kind.clone(),
                refreshed_at: now.to_string(),
                error: Some(e.clone()),
                tables: vec![],
            },
        };
        report.tables = snap.tables.len();
        return (snap, report);
    }
    let mut fingerprints = engine.fingerprints(&status.name).await;
    if let Some(SourceConfig::Sqlite(s)) = config.sources.get(&status.name)
        && let Some(f) = sqlite_fingerprint(&s.path)
    {
        for (schema, table) in engine.tables_of(&status.name) {
            fingerprints.insert((schema, table), f.clone());
        }
    }
    let mut comments: BTreeMap<(String, String, Option<String>), String> = BTreeMap::new();
    match engine.source_comments(&status.name).await {
        Ok(list) => {
            for c in list {
                comments.insert((c.schema, c.table, c.column), c.comment);
            }
        }
        Err(e) => tracing::warn!(source = %status.name, "cannot read comments: {e}"),
    }
    let previous_tables: BTreeMap<(String, String), TableSnapshot> = previous
        .map(|p| {
            p.tables
                .into_iter()
                .map(|t| ((t.schema.clone(), t.table.clone()), t))
                .collect()
        })
        .unwrap_or_default();
    let mut tables = Vec::new();
    for (schema, table) in engine.tables_of(&status.name) {
        let key = (schema.clone(), table.clone());
        let fingerprint = fingerprints.get(&key).cloned();
        let fq = format!("{}.{schema}.{table}", status.name);
        let comment = comments
            .get(&(schema.clone(), table.clone(), None))
            .cloned();
        if let Some(prev) = previous_tables.get(&key)
            && fingerprint.is_some()
            && prev.fingerprint == fingerprint
            && (!stats || prev.stats_at.is_some())
        {
            let mut t = prev.clone();
            t.comment = comment;
            for c in &mut t.columns {
                c.comment = comments
                    .get(&(schema.clone(), table.clone(), Some(c.name.clone())))
                    .cloned();
            }
            report.unchanged += 1;
            tables.push(t);
            continue;
        }
        let arrow = match engine.table_schema(&status.name, &schema, &table).await {
            Ok(s) => s,
            Err(e) => {
                report.failed.push(format!("{fq}: {e}"));
                if let Some(prev) = previous_tables.get(&key) {
                    tables.push(prev.clone());
                }
                continue;
            }
        };
        let mut t = TableSnapshot {
            schema: schema.clone(),
            table: table.clone(),
            fingerprint,
            comment,
            row_count: None,
            stats_at: None,
            columns: arrow
                .fields()
                .iter()
                .map(|f| ColumnSnapshot {
                    name: f.name().clone(),
                    data_type: type_name(f.data_type()),
                    nullable: f.is_nullable(),
                    comment: comments
                        .get(&(schema.clone(), table.clone(), Some(f.name().clone())))
                        .cloned(),
                    stats: None,
                })
                .collect(),
        };
        if stats {
            let types: Vec<DataType> = arrow
                .fields()
                .iter()
                .map(|f| f.data_type().clone())
                .collect();
            match table_stats(
                engine,
                &status.name,
                &schema,
                &table,
                &mut t,
                &types,
                is_pii,
            )
            .await
            {
                Ok(()) => {
                    t.stats_at = Some(now.to_string());
                    report.computed += 1;
                }
                Err(e) => report.failed.push(format!("{fq}: {e}")),
            }
        }
        tables.push(t);
    }
    report.tables = tables.len();
    (
        SourceSnapshot {
            source: status.name.clone(),
            kind: status.kind.clone(),
            refreshed_at: now.to_string(),
            error: None,
            tables,
        },
        report,
    )
}

/// Snapshots of every source of an open engine, with no previous snapshot (everything is
/// computed). For tests and tools that build a catalog without the cache.
pub async fn snapshot_all(
    engine: &Engine,
    config: &Config,
    stats: bool,
    is_pii: &dyn Fn(&str, &str) -> bool,
    now: &str,
) -> Vec<SourceSnapshot> {
    let mut out = Vec::new();
    for s in engine.sources() {
        out.push(
            snapshot_source(engine, config, s, None, stats, is_pii, now)
                .await
                .0,
        );
    }
    out
}

/// A short SQL-ish type name.
pub fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text".into(),
        DataType::Int8 | DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            "bigint unsigned".into()
        }
        DataType::Float32 => "real".into(),
        DataType::Float64 => "double".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Timestamp(_, Some(_)) => "timestamptz".into(),
        DataType::Time32(_) | DataType::Time64(_) => "time".into(),
        DataType::Interval(_) => "interval".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("numeric({p},{s})"),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "bytea".into(),
        DataType::Dictionary(_, v) => type_name(v),
        other => other.to_string().to_lowercase(),
    }
}

fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

/// Whether min/max/distinct make sense for a type (not for nested or binary values).
fn orderable(t: &DataType) -> bool {
    !matches!(
        t,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::Struct(_)
            | DataType::Map(..)
            | DataType::Union(..)
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::Null
    )
}

/// The types DataFusion's `approx_distinct` (HyperLogLog) accepts; others are counted exactly.
fn hll_supported(t: &DataType) -> bool {
    t.is_integer()
        || is_text(t)
        || matches!(
            t,
            DataType::Date32
                | DataType::Date64
                | DataType::Timestamp(..)
                | DataType::Time32(_)
                | DataType::Time64(_)
        )
}

fn quote(id: &str) -> String {
    format!("\"{}\"", id.replace('"', "\"\""))
}

async fn table_stats(
    engine: &Engine,
    source: &str,
    schema: &str,
    table: &str,
    t: &mut TableSnapshot,
    types: &[DataType],
    is_pii: &dyn Fn(&str, &str) -> bool,
) -> Result<(), String> {
    let fq = format!("{source}.{schema}.{table}");
    let from = format!("{}.{}.{}", quote(source), quote(schema), quote(table));
    // Postgres answers the whole statement itself (passthrough), so use what it has:
    // count(DISTINCT) is exact there; elsewhere the HyperLogLog estimate is far cheaper.
    let distinct = |c: &str, t: &DataType| {
        if engine.is_postgres(source) || !hll_supported(t) {
            format!("count(DISTINCT {c})")
        } else {
            format!("approx_distinct({c})")
        }
    };
    let mut items = vec!["count(*)".to_string()];
    let mut read: Vec<usize> = Vec::new();
    for (i, c) in t.columns.iter().enumerate() {
        if is_pii(&fq, &c.name) || !orderable(&types[i]) {
            continue;
        }
        let q = quote(&c.name);
        items.push(format!("count({q})"));
        items.push(distinct(&q, &types[i]));
        items.push(format!("CAST(min({q}) AS VARCHAR)"));
        items.push(format!("CAST(max({q}) AS VARCHAR)"));
        read.push(i);
    }
    let sql = format!("SELECT {} FROM {from}", items.join(", "));
    let batches = engine
        .query_batches(&sql)
        .await
        .map_err(|e| e.to_string())?;
    let batch = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or("no rows from the statistics query")?;
    let cell = |i: usize| -> Option<String> {
        let a = batch.column(i);
        if a.is_null(0) {
            None
        } else {
            array_value_to_string(a, 0).ok()
        }
    };
    let rows: u64 = cell(0).and_then(|s| s.parse().ok()).unwrap_or(0);
    t.row_count = Some(rows);
    for (k, &ci) in read.iter().enumerate() {
        let base = 1 + k * 4;
        let non_null: u64 = cell(base).and_then(|s| s.parse().ok()).unwrap_or(0);
        let stats = ColumnStats {
            null_fraction: if rows == 0 {
                0.0
            } else {
                (rows - non_null.min(rows)) as f64 / rows as f64
            },
            distinct: cell(base + 1).and_then(|s| s.parse().ok()),
            min: cell(base + 2),
            max: cell(base + 3),
            common_values: vec![],
        };
        t.columns[ci].stats = Some(stats);
    }
    // Common values of low-cardinality text columns.
    for &ci in &read {
        let low = t.columns[ci]
            .stats
            .as_ref()
            .and_then(|s| s.distinct)
            .is_some_and(|d| d > 0 && d <= LOW_CARDINALITY);
        if !low || !is_text(&types[ci]) {
            continue;
        }
        let q = quote(&t.columns[ci].name);
        let sql = format!(
            "SELECT CAST({q} AS VARCHAR), count(*) FROM {from} WHERE {q} IS NOT NULL \
             GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {COMMON_VALUES}"
        );
        let batches = engine
            .query_batches(&sql)
            .await
            .map_err(|e| e.to_string())?;
        let mut values = Vec::new();
        for b in &batches {
            for r in 0..b.num_rows() {
                let v = array_value_to_string(b.column(0), r).unwrap_or_default();
                let n = array_value_to_string(b.column(1), r)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                values.push((v, n));
            }
        }
        if let Some(s) = t.columns[ci].stats.as_mut() {
            s.common_values = values;
        }
    }
    Ok(())
}

/// SQLite's own change signal that survives across processes: the database header's file
/// change counter (bytes 24..28, bumped by every committed write in rollback-journal mode), with
/// the WAL file's size and time for databases in WAL mode. (`PRAGMA data_version` only tells a
/// connection about other connections' writes while it is open, which a new process never is.)
pub fn sqlite_fingerprint(path: &std::path::Path) -> Option<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut header = [0u8; 28];
    f.read_exact(&mut header).ok()?;
    let counter = u32::from_be_bytes([header[24], header[25], header[26], header[27]]);
    let meta = std::fs::metadata(path).ok()?;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = std::fs::metadata(std::path::PathBuf::from(wal))
        .ok()
        .map(|m| {
            let t = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_micros());
            format!("{}@{t}", m.len())
        })
        .unwrap_or_default();
    Some(format!("sqlite:{counter}:{}:{wal}", meta.len()))
}
