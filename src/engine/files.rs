//! File sources (Parquet, CSV, newline-delimited JSON) in a local folder or an S3-compatible
//! bucket: one table per subfolder or file, hive partitions (`day=2026-11-01/`) understood.
//!
//! Tables are discovered when the source opens (a directory listing, no file is read); a table's
//! schema is read from its files on first use, so one corrupt table does not take the whole
//! source down, and its error names the table and the location. Hive partition columns are typed
//! from their values: dates become `Date32`, whole numbers `Int64`, the rest text.

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::session_state::SessionStateBuilder;
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// The file format of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Parquet,
    Csv,
    Json,
}

impl FileKind {
    fn extensions(self) -> &'static [&'static str] {
        match self {
            FileKind::Parquet => &[".parquet"],
            FileKind::Csv => &[".csv"],
            FileKind::Json => &[".json", ".ndjson", ".jsonl"],
        }
    }

    fn format(self) -> Arc<dyn FileFormat> {
        match self {
            FileKind::Parquet => Arc::new(ParquetFormat::default()),
            FileKind::Csv => Arc::new(CsvFormat::default().with_has_header(true)),
            FileKind::Json => Arc::new(JsonFormat::default()),
        }
    }

    fn name(self) -> &'static str {
        match self {
            FileKind::Parquet => "Parquet",
            FileKind::Csv => "CSV",
            FileKind::Json => "JSON",
        }
    }
}

/// One discovered table: where it lives and which extension its files carry.
#[derive(Debug, Clone)]
struct FileTable {
    url: ListingTableUrl,
    extension: String,
}

/// A catalog with a single schema holding the source's tables.
#[derive(Debug)]
pub struct FileCatalog {
    schema_name: String,
    schema: Arc<FileSchema>,
}

impl FileCatalog {
    /// Discover the tables under `root` (a local path or `s3://bucket/prefix/`), whose object
    /// store must already be registered in `runtime`.
    pub async fn open(
        source: &str,
        schema_name: &str,
        kind: FileKind,
        root: &str,
        runtime: Arc<RuntimeEnv>,
    ) -> Result<FileCatalog, String> {
        let tables = if root.contains("://") {
            discover_remote(kind, root, &runtime).await?
        } else {
            discover_local(kind, root)?
        };
        Ok(FileCatalog {
            schema_name: schema_name.to_string(),
            schema: Arc::new(FileSchema {
                source: source.to_string(),
                schema: schema_name.to_string(),
                kind,
                tables,
                runtime,
                built: Mutex::new(HashMap::new()),
                state: std::sync::OnceLock::new(),
            }),
        })
    }
}

impl CatalogProvider for FileCatalog {
    fn schema_names(&self) -> Vec<String> {
        vec![self.schema_name.clone()]
    }
    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        (name == self.schema_name).then(|| Arc::clone(&self.schema) as Arc<dyn SchemaProvider>)
    }
}

/// A table name from a file or folder name: lowercase, anything else than letters, digits and
/// `_` becomes `_`.
fn table_name(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

fn matching_extension(kind: FileKind, name: &str) -> Option<&'static str> {
    kind.extensions()
        .iter()
        .copied()
        .find(|e| name.to_ascii_lowercase().ends_with(e))
}

fn discover_local(kind: FileKind, root: &str) -> Result<BTreeMap<String, FileTable>, String> {
    let root_path = std::path::Path::new(root);
    let meta = std::fs::metadata(root_path)
        .map_err(|e| format!("path {} cannot be read: {e}", root_path.display()))?;
    let abs = std::fs::canonicalize(root_path).map_err(|e| e.to_string())?;
    let mut tables = BTreeMap::new();
    if meta.is_file() {
        let name = abs
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let ext = matching_extension(kind, &name)
            .ok_or_else(|| format!("{} is not a {} file", abs.display(), kind.name()))?;
        add_table(
            &mut tables,
            &name[..name.len() - ext.len()],
            &abs.to_string_lossy(),
            ext,
        )?;
        return Ok(tables);
    }
    let mut entries: Vec<_> = std::fs::read_dir(&abs)
        .map_err(|e| format!("folder {} cannot be listed: {e}", abs.display()))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if hidden(&name) {
            continue;
        }
        let path = entry.path();
        let (table, location, ext) = if path.is_dir() {
            let Some(ext) = first_extension_local(kind, &path) else {
                continue;
            };
            (name.as_str(), format!("{}/", path.to_string_lossy()), ext)
        } else if let Some(ext) = matching_extension(kind, &name) {
            (
                &name[..name.len() - ext.len()],
                path.to_string_lossy().into_owned(),
                ext,
            )
        } else {
            continue;
        };
        add_table(&mut tables, table, &location, ext)?;
    }
    Ok(tables)
}

fn add_table(
    tables: &mut BTreeMap<String, FileTable>,
    raw_name: &str,
    location: &str,
    extension: &str,
) -> Result<(), String> {
    let url = ListingTableUrl::parse(location).map_err(|e| e.to_string())?;
    tables.insert(
        table_name(raw_name),
        FileTable {
            url,
            extension: extension.to_string(),
        },
    );
    Ok(())
}

/// The extension of the first data file found under a folder (depth-first, sorted).
fn first_extension_local(kind: FileKind, dir: &std::path::Path) -> Option<&'static str> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if hidden(&name) {
            continue;
        }
        let p = e.path();
        if p.is_dir() {
            if let Some(x) = first_extension_local(kind, &p) {
                return Some(x);
            }
        } else if let Some(x) = matching_extension(kind, &name) {
            return Some(x);
        }
    }
    None
}

async fn discover_remote(
    kind: FileKind,
    root: &str,
    runtime: &RuntimeEnv,
) -> Result<BTreeMap<String, FileTable>, String> {
    let root = if root.ends_with('/') {
        root.to_string()
    } else {
        format!("{root}/")
    };
    let url = ListingTableUrl::parse(&root).map_err(|e| e.to_string())?;
    let store = runtime
        .object_store(url.object_store())
        .map_err(|e| e.to_string())?;
    let prefix = url.prefix().clone();
    let listing = store
        .list_with_delimiter(Some(&prefix))
        .await
        .map_err(|e| format!("cannot list {root}: {}", super::flatten_error(&e)))?;
    let mut tables = BTreeMap::new();
    for dir in listing.common_prefixes {
        let Some(name) = dir.filename().map(str::to_owned) else {
            continue;
        };
        if hidden(&name) {
            continue;
        }
        let Some(ext) = first_extension_remote(kind, store.as_ref(), &dir).await? else {
            continue;
        };
        add_table(&mut tables, &name, &format!("{root}{name}/"), ext)?;
    }
    for object in listing.objects {
        let Some(name) = object.location.filename().map(str::to_owned) else {
            continue;
        };
        if hidden(&name) {
            continue;
        }
        if let Some(ext) = matching_extension(kind, &name) {
            add_table(
                &mut tables,
                &name[..name.len() - ext.len()],
                &format!("{root}{name}"),
                ext,
            )?;
        }
    }
    Ok(tables)
}

async fn first_extension_remote(
    kind: FileKind,
    store: &dyn ObjectStore,
    dir: &ObjectPath,
) -> Result<Option<&'static str>, String> {
    let mut stream = store.list(Some(dir));
    while let Some(meta) = stream.try_next().await.map_err(|e| e.to_string())? {
        if let Some(name) = meta.location.filename()
            && !hidden(name)
            && let Some(ext) = matching_extension(kind, name)
        {
            return Ok(Some(ext));
        }
    }
    Ok(None)
}

pub(crate) struct FileSchema {
    source: String,
    schema: String,
    kind: FileKind,
    tables: BTreeMap<String, FileTable>,
    runtime: Arc<RuntimeEnv>,
    built: Mutex<HashMap<String, Arc<dyn TableProvider>>>,
    /// The session state schema inference reads options and object stores from; made once,
    /// at the first table opened (each state made anew cost ~0.1 ms per table).
    state: std::sync::OnceLock<datafusion::execution::SessionState>,
}

impl std::fmt::Debug for FileSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileSchema({}.{})", self.source, self.schema)
    }
}

impl FileSchema {
    /// What changes when a table's data does: every file under it with its size, modification
    /// time and ETag (local files have no ETag), hashed. `None` for an unknown table.
    pub(crate) async fn fingerprint(&self, name: &str) -> Result<Option<String>, String> {
        use std::hash::{Hash, Hasher};
        let Some(table) = self.tables.get(name) else {
            return Ok(None);
        };
        let store = self
            .runtime
            .object_store(table.url.object_store())
            .map_err(|e| e.to_string())?;
        let prefix = table.url.prefix().clone();
        let mut files: Vec<(String, u64, i64, Option<String>)> = store
            .list(Some(&prefix))
            .map_ok(|m| {
                (
                    m.location.to_string(),
                    m.size,
                    m.last_modified.timestamp_micros(),
                    m.e_tag,
                )
            })
            .try_collect()
            .await
            .map_err(|e| e.to_string())?;
        files.sort();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        files.hash(&mut h);
        let newest = files.iter().map(|f| f.2).max().unwrap_or(0);
        Ok(Some(format!(
            "files:{}:{:016x}:{newest}",
            files.len(),
            h.finish()
        )))
    }

    async fn build(&self, name: &str, table: &FileTable) -> DfResult<Arc<dyn TableProvider>> {
        let started = std::time::Instant::now();
        let state = self.state.get_or_init(|| {
            SessionStateBuilder::new()
                .with_runtime_env(Arc::clone(&self.runtime))
                .build()
        });
        let state_us = started.elapsed().as_micros() as u64;
        let partitions = infer_partitions(&self.runtime, table).await?;
        let partitions_us = started.elapsed().as_micros() as u64;
        let options = ListingOptions::new(self.kind.format())
            .with_file_extension(table.extension.clone())
            .with_table_partition_cols(partitions);
        let config = ListingTableConfig::new(table.url.clone())
            .with_listing_options(options)
            .infer_schema(state)
            .await
            .map_err(|e| {
                DataFusionError::External(
                    format!(
                        "{}.{}.{name}: cannot read the {} schema under {}: {e}",
                        self.source,
                        self.schema,
                        self.kind.name(),
                        table.url
                    )
                    .into(),
                )
            })?;
        tracing::debug!(
            table = %name,
            state_us,
            partitions_us,
            schema_us = started.elapsed().as_micros() as u64,
            "file table opened"
        );
        let table = Arc::new(
            ListingTable::try_new(config)?
                .with_cache(self.runtime.cache_manager.get_file_statistic_cache()),
        );
        if self.kind != FileKind::Parquet {
            return Ok(table);
        }
        // Parquet footers give row counts and min/max: read them now (into the statistics
        // cache the scans use) so the join-order rule can estimate before planning.
        let statistics = match table.scan(state, None, &[], None).await {
            Ok(plan) => datafusion::physical_plan::StatisticsContext::new()
                .compute(
                    plan.as_ref(),
                    &datafusion::physical_plan::StatisticsArgs::new(),
                )
                .ok(),
            Err(e) => {
                tracing::debug!(table = %name, "no statistics: {e}");
                None
            }
        };
        Ok(match statistics {
            Some(s) => Arc::new(WithStatistics {
                inner: table,
                statistics: s.as_ref().clone(),
            }),
            None => table,
        })
    }
}

/// A table that answers [`TableProvider::statistics`] (which `ListingTable` does not), so that
/// logical optimizer rules can see its row count and column ranges; everything else is the
/// inner table's.
#[derive(Debug)]
struct WithStatistics {
    inner: Arc<ListingTable>,
    statistics: datafusion::common::Statistics,
}

#[async_trait]
impl TableProvider for WithStatistics {
    fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        self.inner.schema()
    }

    fn constraints(&self) -> Option<&datafusion::common::Constraints> {
        self.inner.constraints()
    }

    fn table_type(&self) -> datafusion::datasource::TableType {
        self.inner.table_type()
    }

    fn get_column_default(&self, column: &str) -> Option<&datafusion::logical_expr::Expr> {
        self.inner.get_column_default(column)
    }

    async fn scan(
        &self,
        state: &dyn datafusion::catalog::Session,
        projection: Option<&Vec<usize>>,
        filters: &[datafusion::logical_expr::Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn datafusion::catalog::Session,
        args: datafusion::catalog::ScanArgs<'a>,
    ) -> DfResult<datafusion::catalog::ScanResult> {
        self.inner.scan_with_args(state, args).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&datafusion::logical_expr::Expr],
    ) -> DfResult<Vec<datafusion::logical_expr::TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<datafusion::common::Statistics> {
        Some(self.statistics.clone())
    }
}

/// Hive partition columns (`key=value` path segments) and their types, from all file paths.
async fn infer_partitions(
    runtime: &RuntimeEnv,
    table: &FileTable,
) -> DfResult<Vec<(String, DataType)>> {
    if !table.url.is_collection() {
        return Ok(vec![]);
    }
    let store = runtime.object_store(table.url.object_store())?;
    let prefix = table.url.prefix().clone();
    let prefix_parts = prefix.parts().count();
    let mut keys: Vec<String> = Vec::new();
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stream = store.list(Some(&prefix));
    while let Some(meta) = stream.try_next().await? {
        let parts: Vec<String> = meta
            .location
            .parts()
            .skip(prefix_parts)
            .map(|p| p.as_ref().to_string())
            .collect();
        let dirs = &parts[..parts.len().saturating_sub(1)];
        let mut file_keys = Vec::new();
        for d in dirs {
            if let Some((k, v)) = d.split_once('=') {
                file_keys.push(k.to_string());
                values
                    .entry(k.to_string())
                    .or_default()
                    .insert(v.to_string());
            }
        }
        if keys.is_empty() {
            keys = file_keys;
        }
    }
    Ok(keys
        .into_iter()
        .map(|k| {
            let vals = values.get(&k).cloned().unwrap_or_default();
            let ty = if !vals.is_empty()
                && vals
                    .iter()
                    .all(|v| chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok())
            {
                DataType::Date32
            } else if !vals.is_empty() && vals.iter().all(|v| v.parse::<i64>().is_ok()) {
                DataType::Int64
            } else {
                DataType::Utf8
            };
            (k, ty)
        })
        .collect())
}

#[async_trait]
impl SchemaProvider for FileSchema {
    fn table_names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }
    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let Some(table) = self.tables.get(name) else {
            return Ok(None);
        };
        if let Some(t) = self.built.lock().expect("not poisoned").get(name) {
            return Ok(Some(Arc::clone(t)));
        }
        let provider = self.build(name, table).await?;
        self.built
            .lock()
            .expect("not poisoned")
            .insert(name.to_string(), Arc::clone(&provider));
        Ok(Some(provider))
    }
    fn table_exist(&self, name: &str) -> bool {
        self.tables.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_identifiers() {
        assert_eq!(table_name("Usage-Events 2"), "usage_events_2");
        assert_eq!(table_name("rate_card"), "rate_card");
    }
}
