//! Configuration: where Skipper finds its sources, its catalog folder and its defaults.
//!
//! Settings resolve in one order everywhere: command-line flags, then `SKIPPER_*` environment
//! variables, then `skipper.toml`. The file is found by `--config PATH`, then `SKIPPER_CONFIG`,
//! then `./skipper.toml`; with none of them, Skipper uses the demo lake (the caller decides that,
//! this module only reports that no file was found).
//!
//! Limits: this module parses and validates; it never connects to a source. Secrets (passwords,
//! keys) are kept in [`Secret`], whose `Debug`/`Display` never show the value, and
//! [`Config::redacted`] is the only way the configuration is printed.

mod clock;
mod secret;

pub use clock::Clock;
pub use secret::Secret;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Errors of this layer. Each names the file and, where the parser knows it, the line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
}

impl ConfigError {
    /// A hint for the person at the terminal, where one helps.
    pub fn hint(&self) -> Option<String> {
        match self {
            ConfigError::Read { .. } => Some(
                "pass an existing file with --config, or run with no configuration to use the demo lake"
                    .into(),
            ),
            ConfigError::Parse { message, .. } if message.contains("unknown field") => Some(
                "see the configuration reference in README.md for the accepted keys".into(),
            ),
            ConfigError::Parse { .. } => Some("fix the file at the position shown".into()),
            ConfigError::Invalid(_) => None,
        }
    }
}

/// The whole of `skipper.toml`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Catalog (source) that unqualified table names resolve in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_catalog: Option<String>,
    /// Schema that unqualified table names resolve in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_schema: Option<String>,
    /// Time zone timestamps are printed in (IANA name); UTC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The catalog folder; `context/` beside the config file when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<PathBuf>,
    #[serde(default)]
    pub engine: EngineConfig,
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    #[serde(default)]
    pub catalog: CatalogConfig,
    #[serde(default)]
    pub llm: LlmConfig,
}

/// What the catalog reads besides `context/`, and how much of it a question gets.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// A dbt project's `target/manifest.json` to import (relative to this file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dbt_manifest: Option<PathBuf>,
    /// Tokens of catalog context a question may get (default fits an 8k-context model).
    #[serde(default = "default_budget")]
    pub context_budget: usize,
    /// Record what each successful query read (tables, columns, joins) in the data dir's
    /// `query_log.jsonl`, the usage prior of context selection.
    #[serde(default = "default_true")]
    pub usage_log: bool,
}

fn default_budget() -> usize {
    6000
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            dbt_manifest: None,
            context_budget: default_budget(),
            usage_log: true,
        }
    }
}

/// The language model: any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM,
/// llama.cpp). Without `model` (here, `--model` or `SKIPPER_MODEL`) Skipper is offline: only
/// questions the curated metrics answer are compiled, with no model at all.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// The model's name, e.g. "gpt-4o" or "llama3.1:8b"; it also picks the tokenizer the
    /// context budget is counted with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The endpoint, e.g. "http://127.0.0.1:11434/v1" for Ollama; `OPENAI_BASE_URL`, then
    /// OpenAI's own, when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The API key; prefer the environment variable named by `api_key_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// The environment variable holding the API key.
    #[serde(default = "default_key_env")]
    pub api_key_env: String,
    /// Upper bound on one model request, in seconds.
    #[serde(default = "default_llm_timeout")]
    pub timeout_secs: u64,
    /// Retries of one request after a 429 or 5xx answer (with backoff; `Retry-After` is honoured).
    #[serde(default = "default_llm_retries")]
    pub max_retries: u32,
    /// Attempts at a question: the first SQL and its repairs after a parse, plan, execution or
    /// result-check failure.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Ask for a JSON-schema structured answer: "auto" (yes, and plain text is still accepted),
    /// "on", or "off" (servers that reject `response_format`).
    #[serde(default)]
    pub structured_output: StructuredOutput,
    /// Sampling temperature; 0 for the most repeatable SQL.
    #[serde(default)]
    pub temperature: f32,
    /// Folder of prompt templates overriding the built-in ones by file name (`system.md`,
    /// `generate.md`, `repair.md`, `summarise.md`); `~/.config/skipper/prompts` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts: Option<PathBuf>,
    /// What may leave the machine for the model; see [`SendPolicy`].
    #[serde(default)]
    pub send: SendPolicy,
    /// Whether the endpoint counts as "on this machine" for [`SendPolicy`] and
    /// `local_models_only`; by default, when `base_url` is a loopback address. Set it for a
    /// model server you run on your own network, or `false` to treat even loopback as remote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<bool>,
    /// Price per million tokens, for cost estimates: `{ prompt = 0.15, completion = 0.6 }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
}

fn default_key_env() -> String {
    "OPENAI_API_KEY".into()
}
fn default_llm_timeout() -> u64 {
    60
}
fn default_llm_retries() -> u32 {
    3
}
fn default_attempts() -> u32 {
    3
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            model: None,
            base_url: None,
            api_key: None,
            api_key_env: default_key_env(),
            timeout_secs: default_llm_timeout(),
            max_retries: default_llm_retries(),
            max_attempts: default_attempts(),
            structured_output: StructuredOutput::default(),
            temperature: 0.0,
            prompts: None,
            send: SendPolicy::default(),
            local: None,
            price: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StructuredOutput {
    #[default]
    Auto,
    On,
    Off,
}

/// What leaves the machine. Schema and descriptions always go (the model cannot write SQL
/// without them); sample values (introspected common values) and result rows (for the
/// one-sentence summary) go only where allowed. "auto" allows them to a local endpoint
/// (loopback) and never to a remote one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SendPolicy {
    #[serde(default)]
    pub sample_values: Allow,
    #[serde(default)]
    pub result_rows: Allow,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Allow {
    /// Only to a model on this machine.
    #[default]
    Auto,
    Always,
    Never,
}

impl Allow {
    pub fn permits(self, local_endpoint: bool) -> bool {
        match self {
            Allow::Auto => local_endpoint,
            Allow::Always => true,
            Allow::Never => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Currency units per million prompt tokens.
    pub prompt: f64,
    /// Currency units per million completion tokens.
    pub completion: f64,
}

/// Engine settings shared by every source.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// DataFusion target partitions (threads); the number of cores when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// Upper bound on a whole query, in seconds; remote sources also get it as their
    /// server-side statement timeout.
    #[serde(default = "default_query_timeout")]
    pub query_timeout_secs: u64,
    /// Upper bound on opening a connection to a remote source, in seconds.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Send a query whose tables all live in one Postgres source to that Postgres whole, so
    /// the answer is Postgres's own (see `engine::passthrough`). Off: DataFusion plans it and
    /// federation pushes down what it can.
    #[serde(default = "default_true")]
    pub passthrough: bool,
    /// Push filters, limits, joins and aggregates into remote sources. Off only to measure
    /// what pushdown saves: sources then receive `SELECT columns FROM table` and nothing more.
    #[serde(default = "default_true")]
    pub pushdown: bool,
    /// Memory the engine may use for sorts, aggregations and joins, e.g. "2GiB" or "512MB";
    /// sorts and aggregations spill to disk beyond it, other operators fail with a clear error.
    /// Unbounded when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<String>,
    /// Where spill files go; the system temporary directory when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spill_dir: Option<PathBuf>,
    /// Read local files through memory maps (see `engine::mapped`): no copy, no blocking
    /// thread per read. Off: `object_store`'s `pread`s. A file truncated in place while a
    /// query reads it faults the process when on; files replaced by rename are safe.
    #[serde(default = "default_true")]
    pub mmap: bool,
    /// DataFusion options set after Skipper's own tuning, for experts and experiments:
    /// `"execution.parquet.pushdown_filters" = true` (the `datafusion.` prefix is optional).
    /// Unquoted dotted keys and `[engine.datafusion.execution]` tables, which TOML reads as
    /// nested tables, are kept by their dotted paths. An unknown key or a value of the wrong
    /// type stops the engine from opening.
    #[serde(
        default,
        deserialize_with = "dotted_options",
        skip_serializing_if = "std::collections::BTreeMap::is_empty"
    )]
    pub datafusion: std::collections::BTreeMap<String, toml::Value>,
}

/// A table of options by dotted path: `a.b = 1`, `[a] b = 1` and `"a.b" = 1` are one key.
fn dotted_options<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<std::collections::BTreeMap<String, toml::Value>, D::Error> {
    fn leaves(
        path: String,
        value: toml::Value,
        out: &mut std::collections::BTreeMap<String, toml::Value>,
    ) {
        match value {
            toml::Value::Table(table) => {
                for (key, value) in table {
                    leaves(format!("{path}.{key}"), value, out);
                }
            }
            leaf => {
                out.insert(path, leaf);
            }
        }
    }
    let table: std::collections::BTreeMap<String, toml::Value> =
        Deserialize::deserialize(deserializer)?;
    let mut out = std::collections::BTreeMap::new();
    for (key, value) in table {
        leaves(key, value, &mut out);
    }
    Ok(out)
}

fn default_true() -> bool {
    true
}

fn default_query_timeout() -> u64 {
    300
}
fn default_connect_timeout() -> u64 {
    5
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            threads: None,
            query_timeout_secs: default_query_timeout(),
            connect_timeout_secs: default_connect_timeout(),
            passthrough: true,
            pushdown: true,
            memory_limit: None,
            spill_dir: None,
            mmap: true,
            datafusion: Default::default(),
        }
    }
}

/// One named source; it becomes a catalog, so its tables are `name.schema.table`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    Postgres(PostgresSource),
    Sqlite(SqliteSource),
    Parquet(FileSource),
    Csv(FileSource),
    Json(FileSource),
}

impl SourceConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Postgres(_) => "postgres",
            SourceConfig::Sqlite(_) => "sqlite",
            SourceConfig::Parquet(_) => "parquet",
            SourceConfig::Csv(_) => "csv",
            SourceConfig::Json(_) => "json",
        }
    }
    /// See `local_models_only` on each kind.
    pub fn local_models_only(&self) -> bool {
        match self {
            SourceConfig::Postgres(p) => p.local_models_only,
            SourceConfig::Sqlite(s) => s.local_models_only,
            SourceConfig::Parquet(f) | SourceConfig::Csv(f) | SourceConfig::Json(f) => {
                f.local_models_only
            }
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSource {
    /// `postgresql://user[:password]@host[:port]/db?sslmode=…`; parts left out come from the
    /// usual `PG*` variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Secret>,
    /// Name of an environment variable holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// disable | prefer | require | verify-ca | verify-full
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sslmode: Option<String>,
    /// PEM or DER file of root certificates to trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sslrootcert: Option<PathBuf>,
    /// At most this many connections to the server (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<u32>,
    /// Never send this source's schema, descriptions or values to a model that is not on this
    /// machine (loopback); questions over it then need a local model or the offline compiler.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub local_models_only: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteSource {
    pub path: PathBuf,
    /// Never send this source's schema, descriptions or values to a model that is not on this
    /// machine (loopback); questions over it then need a local model or the offline compiler.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub local_models_only: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    /// A local folder or file, or `s3://bucket/prefix/`.
    pub path: String,
    /// The one schema the tables appear in (default `main`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// S3-compatible endpoint (MinIO, R2, …); AWS when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<Secret>,
    /// Allow plain http endpoints (local test servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_http: Option<bool>,
    /// Never send this source's schema, descriptions or values to a model that is not on this
    /// machine (loopback); questions over it then need a local model or the offline compiler.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub local_models_only: bool,
}

impl FileSource {
    pub fn schema_name(&self) -> &str {
        self.schema.as_deref().unwrap_or("main")
    }
}

/// Where the configuration came from, for `config show` and the stderr notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConfigOrigin {
    Flag {
        path: PathBuf,
    },
    Env {
        path: PathBuf,
    },
    WorkingDir {
        path: PathBuf,
    },
    /// No file anywhere: the caller falls back to the demo lake.
    Demo {
        path: PathBuf,
    },
}

impl ConfigOrigin {
    pub fn path(&self) -> &Path {
        match self {
            ConfigOrigin::Flag { path }
            | ConfigOrigin::Env { path }
            | ConfigOrigin::WorkingDir { path }
            | ConfigOrigin::Demo { path } => path,
        }
    }
}

/// Find the configuration file: `--config`, then `SKIPPER_CONFIG`, then `./skipper.toml`.
/// `None` means there is none and the demo lake applies.
pub fn locate(flag: Option<&Path>, env: Option<&str>, cwd: &Path) -> Option<ConfigOrigin> {
    if let Some(p) = flag {
        return Some(ConfigOrigin::Flag {
            path: p.to_path_buf(),
        });
    }
    if let Some(p) = env.filter(|s| !s.is_empty()) {
        return Some(ConfigOrigin::Env {
            path: PathBuf::from(p),
        });
    }
    let local = cwd.join("skipper.toml");
    local
        .is_file()
        .then_some(ConfigOrigin::WorkingDir { path: local })
}

impl Config {
    /// Read and validate a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parse configuration text; `path` is used in messages and to resolve relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let mut at = e.span().map(|s| s.start).unwrap_or(0);
            // Inside a tagged table (a source) the parser reports the table's position; point
            // at the offending key itself when the message names it.
            if let Some(key) = e
                .message()
                .trim()
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next())
                && let Some(pos) = find_key(text, at, key)
            {
                at = pos;
            }
            let (line, column) = line_col(text, at);
            ConfigError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        config.resolve_relative_paths(&base);
        config.validate(path)?;
        Ok(config)
    }

    fn resolve_relative_paths(&mut self, base: &Path) {
        for source in self.sources.values_mut() {
            match source {
                SourceConfig::Sqlite(s) if s.path.is_relative() => s.path = base.join(&s.path),
                SourceConfig::Parquet(f) | SourceConfig::Csv(f) | SourceConfig::Json(f)
                    if !f.path.contains("://") && Path::new(&f.path).is_relative() =>
                {
                    f.path = base.join(&f.path).to_string_lossy().into_owned();
                }
                _ => {}
            }
        }
        if let Some(c) = &self.context
            && c.is_relative()
        {
            self.context = Some(base.join(c));
        }
        if let Some(m) = &self.catalog.dbt_manifest
            && m.is_relative()
        {
            self.catalog.dbt_manifest = Some(base.join(m));
        }
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        for (name, source) in &self.sources {
            if !is_identifier(name) {
                return Err(ConfigError::Invalid(format!(
                    "{}: source name '{name}' must be lowercase letters, digits and '_', starting with a letter",
                    path.display()
                )));
            }
            if let SourceConfig::Postgres(pg) = source
                && let Some(mode) = &pg.sslmode
                && !SSL_MODES.contains(&mode.as_str())
            {
                return Err(ConfigError::Invalid(format!(
                    "{}: source '{name}': sslmode '{mode}' is not one of {}",
                    path.display(),
                    SSL_MODES.join(", ")
                )));
            }
        }
        if let Some(tz) = &self.timezone {
            tz.parse::<chrono_tz::Tz>().map_err(|_| {
                ConfigError::Invalid(format!(
                    "{}: timezone '{tz}' is not an IANA time zone name (e.g. UTC, Europe/London)",
                    path.display()
                ))
            })?;
        }
        Ok(())
    }

    /// The configuration as TOML with every secret replaced by `***`.
    pub fn redacted(&self) -> String {
        // `Secret` serializes as "***", so plain serialization is already redacted.
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

pub const SSL_MODES: &[&str] = &["disable", "prefer", "require", "verify-ca", "verify-full"];

pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Byte offset of the first line at or after `from` that assigns `key`.
fn find_key(text: &str, from: usize, key: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        if offset <= from {
            continue;
        }
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return Some(start + (line.len() - trimmed.len()));
        }
    }
    None
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The data directory: `SKIPPER_DATA_DIR`, else `$XDG_DATA_HOME/skipper`, else `./.skipper`.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SKIPPER_DATA_DIR").filter(|s| !s.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(d).join("skipper");
    }
    PathBuf::from(".skipper")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sources_and_resolves_relative_paths() {
        let text = r#"
default_catalog = "billing"
[sources.billing]
kind = "postgres"
url = "postgresql://me:hunter2@127.0.0.1:5432/billing"
[sources.crm]
kind = "sqlite"
path = "crm.db"
[sources.lake]
kind = "parquet"
path = "s3://bucket/prefix/"
"#;
        let c = Config::parse(text, Path::new("/etc/skipper/skipper.toml")).unwrap();
        assert_eq!(c.sources.len(), 3);
        match &c.sources["crm"] {
            SourceConfig::Sqlite(s) => assert_eq!(s.path, PathBuf::from("/etc/skipper/crm.db")),
            other => panic!("wrong kind {other:?}"),
        }
        match &c.sources["lake"] {
            SourceConfig::Parquet(f) => assert_eq!(f.path, "s3://bucket/prefix/"),
            other => panic!("wrong kind {other:?}"),
        }
        let shown = c.redacted();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn unknown_key_reports_file_line_and_column() {
        let text = "[sources.a]\nkind = \"sqlite\"\npath = \"x.db\"\ncolour = 1\n";
        let e = Config::parse(text, Path::new("s.toml")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("s.toml:4:1:"), "{msg}");
        assert!(msg.contains("unknown field `colour`"), "{msg}");
    }

    #[test]
    fn malformed_toml_reports_line() {
        let text = "default_schema = \"x\"\n[sources.a\nkind = 1\n";
        let e = Config::parse(text, Path::new("s.toml")).unwrap_err();
        assert!(e.to_string().starts_with("s.toml:2:"), "{e}");
    }

    #[test]
    fn unknown_kind_and_bad_names_are_refused() {
        let e = Config::parse("[sources.a]\nkind = \"oracle\"\n", Path::new("s.toml")).unwrap_err();
        assert!(e.to_string().contains("unknown variant `oracle`"), "{e}");
        let e = Config::parse(
            "[sources.Bad-Name]\nkind = \"sqlite\"\npath = \"x\"\n",
            Path::new("s.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("source name 'Bad-Name'"), "{e}");
    }

    #[test]
    fn locate_prefers_flag_then_env_then_cwd() {
        let dir = std::env::temp_dir();
        let flag = PathBuf::from("/x/flag.toml");
        assert_eq!(
            locate(Some(&flag), Some("/y/env.toml"), &dir),
            Some(ConfigOrigin::Flag { path: flag })
        );
        assert_eq!(
            locate(None, Some("/y/env.toml"), &dir),
            Some(ConfigOrigin::Env {
                path: PathBuf::from("/y/env.toml")
            })
        );
    }
}
