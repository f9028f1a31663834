//! The engine: one DataFusion session in which every configured source is a catalog, so tables
//! are `source.schema.table` as in Trino, and one query may join them all.
//!
//! Its job: open the sources (in parallel, each with a bounded connect timeout; a source that
//! fails is recorded with its error instead of failing the others), refuse anything that is not
//! read-only before it runs, plan with a pinned "now" when one is set, execute as a stream, explain
//! which part runs where, and cancel remote work on Ctrl-C or timeout.
//!
//! Limits: the engine never prints; it returns results and errors to its caller. Fidelity fixes
//! for Postgres-specific SQL are the next issue's work; what DataFusion and the federation
//! unparser do today is what runs.

mod aggwindow;
mod explain;
mod extsort;
mod federation;
mod files;
pub mod introspect;
mod joinorder;
mod lateral;
#[cfg(unix)]
mod mapped;
mod morsels;
mod passthrough;
mod pgcollate;
mod pgcopy;
mod pgfuncs;
mod pgintervals;
mod pgjson;
mod pgliterals;
mod pgnumeric;
mod pgordered;
mod pgsums;
mod pgtext;
mod pgtochar;
mod pgudf;
mod pgunparse;
mod pgzones;
pub use pgtext::{postgres_duration, postgres_float, postgres_interval};
mod pgread;
mod pgtable;
pub mod postgres;
pub mod readonly;
mod remote;
mod scan;
mod setops;
mod share;
mod symmetric;
mod timing;
mod tuning;

pub use explain::{Explanation, RemoteFragment};
pub use readonly::Refusal;

use crate::config::{Clock, Config, FileSource, SourceConfig};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_table_providers::sql::db_connection_pool::JoinPushDown;
use datafusion_table_providers::sql::db_connection_pool::Mode;
use datafusion_table_providers::sqlite::pool::SqliteConnectionPool;
use files::{FileCatalog, FileKind};
use postgres::{PgCanceller, PgSettings, ProcessEnv};
use remote::{RemoteCatalog, RemoteKind};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;
use url::Url;

/// Errors of the engine layer; the front end maps each kind to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The SQL was refused before anything ran.
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// The SQL names something that does not exist or does not type-check.
    #[error("{message}")]
    Plan {
        message: String,
        hint: Option<String>,
    },
    /// A source could not be opened.
    #[error("source '{source_name}' is unavailable: {message}")]
    SourceUnavailable {
        source_name: String,
        message: String,
    },
    /// The query failed while it ran.
    #[error("query failed: {message}")]
    Query { message: String },
    /// The query needed more memory than the configured limit and could not spill.
    #[error("out of memory: {message}")]
    Resources { message: String },
    #[error("query timed out after {secs}s and was cancelled")]
    Timeout { secs: u64 },
    #[error("interrupted")]
    Interrupted,
    #[error("{0}")]
    Setup(String),
    /// A setting the engine reads is invalid.
    #[error("{message}")]
    Config { message: String },
}

impl EngineError {
    pub fn hint(&self) -> Option<String> {
        match self {
            EngineError::Refused(r) => Some(r.hint().to_string()),
            EngineError::Plan { hint, .. } => hint.clone(),
            EngineError::SourceUnavailable { .. } => {
                Some("run `skipper doctor` to check every source".into())
            }
            EngineError::Config { .. } => {
                Some("fix it in skipper.toml; `skipper config show` prints the settings".into())
            }
            EngineError::Resources { .. } => Some(
                "raise [engine] memory_limit in skipper.toml, or narrow the query (joins cannot spill to disk; sorts and aggregations do)".into(),
            ),
            EngineError::Timeout { .. } => Some(
                "raise [engine] query_timeout_secs in skipper.toml, or narrow the query".into(),
            ),
            EngineError::Query { message } if message.contains("Failed to execute query") => Some(
                "a source rejected the SQL it was sent; see it with skipper sql --explain".into(),
            ),
            _ => None,
        }
    }
}

/// How one source fared when the engine opened it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceStatus {
    pub name: String,
    pub kind: String,
    /// Where it is, safe to print (no password).
    pub location: String,
    pub schemas: Vec<String>,
    pub tables: usize,
    /// Why it could not be opened.
    pub error: Option<String>,
}

/// What the engine needs beyond the configuration file.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// `--catalog`: overrides the configured default catalog.
    pub catalog: Option<String>,
    /// `--schema`: overrides the configured default schema.
    pub schema: Option<String>,
    pub clock: Option<Clock>,
}

/// A planned statement: its logical form, its physical plan and the session state that made it.
pub struct Planned {
    pub physical: Arc<dyn ExecutionPlan>,
    pub schema: SchemaRef,
    state: datafusion::execution::SessionState,
}

pub struct Engine {
    ctx: SessionContext,
    sources: Vec<SourceStatus>,
    clock: Clock,
    query_timeout: Duration,
    cancellers: Vec<PgCanceller>,
    /// compute context of a federated executor → source name, for `explain`.
    contexts: HashMap<String, String>,
    default_catalog: String,
    default_schema: String,
    /// Postgres sources that opened, by name, for whole-query passthrough.
    postgres: HashMap<String, passthrough::PgSource>,
    passthrough: bool,
    /// DataFusion target partitions; also how many ranges a large Postgres read is split into.
    partitions: usize,
    /// Statements planned; the memory-mapped file store keeps a file mapped once two have
    /// read it (see [`mapped`]).
    statements: Arc<std::sync::atomic::AtomicU64>,
}

impl Engine {
    /// Open every configured source. Sources that fail are kept in [`Engine::sources`] with
    /// their error; queries that touch them fail with that error.
    pub async fn open(config: &Config, options: &EngineOptions) -> Result<Engine, EngineError> {
        let (default_catalog, default_schema) = default_namespace(config, options);
        let pushdown = config.engine.pushdown;
        let threads = config
            .engine
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let session_config = SessionConfig::new()
            .with_information_schema(true)
            .with_target_partitions(threads.max(1))
            .with_default_catalog_and_schema(&default_catalog, &default_schema)
            .with_create_default_catalog_and_schema(true)
            // `2.5` is an exact numeric in Postgres (and in SQL): a decimal, not a double.
            .set_bool("datafusion.sql_parser.parse_float_as_decimal", true)
            // The session's zone is UTC, as in the Postgres sessions Skipper opens: `::timestamptz`
            // is then a zoned timestamp (DataFusion's default, no zone, made it a naive one) and
            // `now()` an instant.
            .set_str("datafusion.execution.time_zone", "UTC")
            // Tuned for small machines (2 cores; see benches/peers/tpch.py and the README):
            // larger batches amortise per-batch work, and joins whose build side is small enough
            // (32 MiB / 1M rows) build it once instead of repartitioning both sides.
            .with_batch_size(16_384)
            .set_usize(
                "datafusion.optimizer.hash_join_single_partition_threshold",
                32 << 20,
            )
            .set_usize(
                "datafusion.optimizer.hash_join_single_partition_threshold_rows",
                1 << 20,
            );
        let mut builder = RuntimeEnvBuilder::new();
        let mut session_config = session_config;
        if let Some(limit) = &config.engine.memory_limit {
            let bytes = parse_bytes(limit).map_err(|e| EngineError::Config {
                message: format!("[engine] memory_limit = \"{limit}\": {e}"),
            })?;
            // Each sort partition (extsort.rs: its output workspace) and each spilling
            // aggregation reserves this up front (10MB by default); under a small limit those
            // reservations alone would exhaust it.
            let per_sort = (bytes / (2 * threads.max(1))).clamp(256 << 10, 10 << 20);
            session_config = session_config.with_sort_spill_reservation_bytes(per_sort);
            // Merging spilled runs holds a batch per run; DataFusion's default batch size keeps
            // that within the reservation where our larger default did not, under load.
            session_config = session_config.with_batch_size(8192);
            // A fair pool: spilling operators (sorts, aggregations) share what the others
            // (hash join build sides) leave; the tracking wrapper names the largest consumers
            // in the error when memory runs out.
            builder = builder.with_memory_pool(Arc::new(
                datafusion::execution::memory_pool::TrackConsumersPool::new(
                    datafusion::execution::memory_pool::FairSpillPool::new(bytes),
                    std::num::NonZeroUsize::new(3).expect("non-zero"),
                ),
            ));
        }
        if let Some(dir) = &config.engine.spill_dir {
            // Checked now, so a bad folder is a configuration error at start and not an I/O
            // error, without the setting's name, in the middle of the first large sort.
            usable_spill_dir(dir).map_err(|e| EngineError::Config {
                message: format!(
                    "[engine] spill_dir = \"{}\": cannot write spill files there ({e})",
                    dir.display()
                ),
            })?;
            builder = builder.with_disk_manager_builder(
                datafusion::execution::disk_manager::DiskManagerBuilder::default().with_mode(
                    datafusion::execution::disk_manager::DiskManagerMode::Directories(vec![
                        dir.clone(),
                    ]),
                ),
            );
        }
        for (key, value) in &config.engine.datafusion {
            let key = if key.starts_with("datafusion.") {
                key.clone()
            } else {
                format!("datafusion.{key}")
            };
            let text = match value {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            session_config
                .options_mut()
                .set(&key, &text)
                .map_err(|e| EngineError::Config {
                    message: format!(
                        "[engine.datafusion] {key} = {value}: {}",
                        e.strip_backtrace()
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                })?;
        }
        let runtime = Arc::new(
            builder
                .build()
                .map_err(|e| EngineError::Setup(e.to_string()))?,
        );
        let statements = Arc::new(std::sync::atomic::AtomicU64::new(0));
        #[cfg(unix)]
        if config.engine.mmap {
            let local = url::Url::parse("file://").expect("a valid URL");
            runtime.register_object_store(
                &local,
                Arc::new(mapped::MappedLocalFiles::new(Arc::clone(&statements))),
            );
        }
        let state = datafusion::execution::session_state::SessionStateBuilder::new()
            .with_config(session_config)
            .with_runtime_env(Arc::clone(&runtime))
            .with_default_features()
            .with_analyzer_rules({
                // Skipper's rules that must see the types before coercion settles them.
                let mut rules = datafusion::optimizer::Analyzer::new().rules;
                let at = rules
                    .iter()
                    .position(|r| r.name() == "type_coercion")
                    .unwrap_or(rules.len());
                rules.insert(at, Arc::new(setops::FloatUnions));
                rules
            })
            .with_optimizer_rules(with_join_order(if pushdown {
                optimizer_rules()
            } else {
                datafusion::optimizer::Optimizer::new().rules
            }))
            .with_physical_optimizer_rules({
                let mut rules =
                    datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules;
                if config.engine.memory_limit.is_some() {
                    // Before sharing: a shared subplan is out of the later rules' reach.
                    rules.push(Arc::new(extsort::SpillingSorts));
                }
                rules.push(Arc::new(tuning::CheapPredicatesFirst));
                rules.push(Arc::new(share::ShareRepeatedSubplans));
                rules.push(Arc::new(tuning::EarlyDynamicFilters));
                rules.push(Arc::new(morsels::SplitScanRanges));
                rules
                    .into_iter()
                    .map(|r| Arc::new(timing::Timed(r)) as _)
                    .collect()
            })
            .with_query_planner(Arc::new(LocalRewritesPlanner(
                datafusion_federation::FederatedQueryPlanner::new(),
            )))
            .build();
        let mut state = state;
        pgnumeric::register(&mut state);
        pgsums::register(&mut state);
        pgtext::register(&mut state);
        pgcollate::register(&mut state);
        pgjson::register(&mut state);
        if let Err(e) = datafusion::execution::FunctionRegistry::register_expr_planner(
            &mut state,
            Arc::new(pgintervals::IntervalArithmetic),
        ) {
            tracing::warn!("interval arithmetic not registered: {e}");
        }
        state.add_analyzer_rule(Arc::new(pgfuncs::RoundingIntCasts));
        state.add_analyzer_rule(Arc::new(tuning::UtcDateTrunc));
        let ctx = SessionContext::new_with_state(state);
        pgfuncs::register(&ctx);
        pgintervals::register(&ctx);
        pgordered::register(&ctx);
        pgzones::register(&ctx);
        // After pgfuncs: it wraps the `to_char` that pgfuncs registered.
        pgtochar::register(&ctx);

        let connect_timeout = Duration::from_secs(config.engine.connect_timeout_secs.max(1));
        let query_timeout = Duration::from_secs(config.engine.query_timeout_secs.max(1));
        let selected: Vec<(&String, &SourceConfig)> = config.sources.iter().collect();
        let opened = futures::future::join_all(selected.iter().map(|(name, source)| {
            let started = std::time::Instant::now();
            let span = tracing::debug_span!("open_source", source = %name, kind = source.kind());
            let runtime = &runtime;
            async move {
                let r = open_source(
                    name,
                    source,
                    runtime,
                    connect_timeout,
                    query_timeout,
                    threads.max(1),
                    pushdown,
                )
                .await;
                match &r {
                    Ok(_) => {
                        tracing::debug!(ms = started.elapsed().as_millis() as u64, "source opened")
                    }
                    Err(e) => tracing::warn!(
                        ms = started.elapsed().as_millis() as u64,
                        "source unavailable: {e}"
                    ),
                }
                r
            }
            .instrument(span)
        }))
        .await;

        let mut engine = Engine {
            ctx,
            sources: Vec::new(),
            clock: options.clock.unwrap_or(Clock::Real),
            query_timeout,
            cancellers: Vec::new(),
            contexts: HashMap::new(),
            default_catalog,
            default_schema,
            postgres: HashMap::new(),
            passthrough: config.engine.passthrough && pushdown,
            partitions: threads.max(1),
            statements,
        };
        let mut ctypes = Vec::new();
        for ((name, source), result) in selected.into_iter().zip(opened) {
            let mut status = SourceStatus {
                name: name.clone(),
                kind: source.kind().to_string(),
                location: location(source),
                schemas: vec![],
                tables: 0,
                error: None,
            };
            match result {
                Ok(opened) => {
                    status.schemas = opened.catalog.schema_names();
                    status.tables = status
                        .schemas
                        .iter()
                        .filter_map(|s| opened.catalog.schema(s))
                        .map(|s| s.table_names().len())
                        .sum();
                    if let Some(c) = opened.canceller {
                        engine.cancellers.push(c);
                    }
                    if let Some(c) = opened.compute_context {
                        engine.contexts.insert(c, name.clone());
                    }
                    ctypes.extend(opened.c_ctype);
                    if let Some(pool) = opened.postgres {
                        engine.postgres.insert(
                            name.clone(),
                            passthrough::PgSource {
                                name: name.clone(),
                                pool,
                            },
                        );
                    }
                    engine.ctx.register_catalog(name.as_str(), opened.catalog);
                }
                Err(e) => status.error = Some(e),
            }
            engine.sources.push(status);
        }
        // Text functions take the case rules of the Postgres databases federated here, when
        // they agree on the C locale's (DataFusion's own are Unicode's, as other locales').
        if !ctypes.is_empty() && ctypes.iter().all(|c| *c) {
            pgcollate::register_c_case(&engine.ctx);
        }
        Ok(engine)
    }

    pub fn sources(&self) -> &[SourceStatus] {
        &self.sources
    }

    pub fn default_namespace(&self) -> (&str, &str) {
        (&self.default_catalog, &self.default_schema)
    }

    pub fn query_timeout(&self) -> Duration {
        self.query_timeout
    }

    /// Every table as `source.schema.table`, sorted.
    pub fn table_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.sources {
            let Some(cat) = self.ctx.catalog(&s.name) else {
                continue;
            };
            for schema in cat.schema_names() {
                if let Some(sp) = cat.schema(&schema) {
                    for t in sp.table_names() {
                        out.push(format!("{}.{schema}.{t}", s.name));
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// Parse and check SQL; see [`readonly::check`].
    pub fn check(&self, sql: &str, allow_several: bool) -> Result<Vec<Statement>, EngineError> {
        Ok(readonly::check(sql, allow_several)?)
    }

    /// Plan one checked statement without running it: names, types and functions resolved,
    /// the federation rule applied, a physical plan built.
    pub async fn plan(&self, statement: &Statement) -> Result<Planned, EngineError> {
        // Callers may hold an AST that never went through `check`: refuse writes here too.
        readonly::check_statement(statement)?;
        // A new statement: what it reads counts as a later read than the last one's.
        self.statements
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut state = self.ctx.state();
        state.mark_start_execution();
        if let Some(now) = self.clock.pinned() {
            state.execution_props_mut().query_execution_start_time = Some(now);
        }
        if let Some(source) = self.passthrough_target(statement) {
            let rewritten = passthrough::rewrite_statement(
                statement,
                &self.default_schema,
                self.clock.pinned(),
            );
            let started = std::time::Instant::now();
            let planned = passthrough::plan(&source, rewritten.to_string())
                .instrument(tracing::debug_span!("postgres_prepare", source = %source.name))
                .await;
            tracing::debug!(
                ms = started.elapsed().as_millis() as u64,
                "prepared in postgres"
            );
            match planned {
                Ok(exec) => {
                    // A large table read row by row: ctid ranges over parallel connections.
                    let mut exec = exec;
                    if self.partitions > 1
                        && let Some((schema, table)) = passthrough::row_local_table(&rewritten)
                        && let Some(pages) = pgtable::relation_pages(&source, &schema, &table).await
                        && pages >= pgtable::RANGE_MIN_PAGES
                        && let Some(parts) = passthrough::split(
                            &rewritten,
                            &pgtable::ctid_ranges(pages, self.partitions),
                        )
                    {
                        exec = exec.with_parts(parts);
                    }
                    let physical: Arc<dyn ExecutionPlan> = Arc::new(exec);
                    let schema = physical.schema();
                    return Ok(Planned {
                        physical,
                        schema,
                        state,
                    });
                }
                // A function Postgres lacks (one of DataFusion's own): let DataFusion try,
                // and report Postgres's error if it cannot plan it either.
                Err(e) if e.undefined_function => {
                    if let Ok(p) = self.plan_datafusion(statement, state).await {
                        return Ok(p);
                    }
                    return Err(EngineError::Plan {
                        message: format!("{}: {}", source.name, e.message),
                        hint: e.hint,
                    });
                }
                Err(e) => {
                    return Err(EngineError::Plan {
                        message: format!("{}: {}", source.name, e.message),
                        hint: e.hint,
                    });
                }
            }
        }
        self.plan_datafusion(statement, state).await
    }

    /// The Postgres source that can run `statement` whole: every table it reads is a known
    /// table of that one source (or it reads none and that source is the default).
    fn passthrough_target(&self, statement: &Statement) -> Option<passthrough::PgSource> {
        if !self.passthrough || self.postgres.is_empty() {
            return None;
        }
        let tables =
            passthrough::tables_read(statement, &self.default_catalog, &self.default_schema)?;
        let catalog = match tables.first() {
            Some(t) => t.catalog.clone(),
            None => self.default_catalog.clone(),
        };
        let source = self.postgres.get(&catalog)?;
        let cat = self.ctx.catalog(&catalog)?;
        for t in &tables {
            if t.catalog != catalog || t.schema == "information_schema" {
                return None;
            }
            if !cat
                .schema(&t.schema)
                .is_some_and(|s| s.table_exist(&t.table))
            {
                return None;
            }
        }
        Some(source.clone())
    }

    async fn plan_datafusion(
        &self,
        statement: &Statement,
        state: datafusion::execution::SessionState,
    ) -> Result<Planned, EngineError> {
        let started = std::time::Instant::now();
        let mut statement = statement.clone();
        pgfuncs::alias_function_columns(&mut statement);
        pgintervals::positional_make_interval(&mut statement);
        pgliterals::postgres_literals(&mut statement);
        pgnumeric::numeric_casts(&mut statement);
        pgtext::substring_pattern_calls(&mut statement);
        pgtext::uuid_casts(&mut statement);
        pgzones::at_time_zone_calls(&mut statement);
        pgintervals::overlaps_as_comparisons(&mut statement);
        pgfuncs::rewrite_similar_to(&mut statement);
        pgfuncs::fetch_as_limit(&mut statement).map_err(|message| EngineError::Plan {
            message,
            hint: Some(
                "rank the rows instead: SELECT … FROM (SELECT …, rank() OVER (ORDER BY …) AS r \
                 FROM …) t WHERE r <= n"
                    .into(),
            ),
        })?;
        pgfuncs::div_mod_calls(&mut statement);
        pgfuncs::in_values_lists(&mut statement);
        pgfuncs::float_values(&mut statement);
        pgjson::json_casts(&mut statement);
        setops::multiset_operations(&mut statement);
        lateral::lateral_top_n(&mut statement, &|name| {
            state.aggregate_functions().contains_key(name)
        });
        pgcollate::collations(&mut statement).map_err(|message| EngineError::Plan {
            message,
            hint: Some(
                "use COLLATE \"C\", or query one Postgres source alone (passthrough on) so \
                 Postgres orders it"
                    .into(),
            ),
        })?;
        let mut state = state;
        let logical = match state
            .statement_to_plan(DfStatement::Statement(Box::new(statement.clone())))
            .instrument(tracing::debug_span!("logical_plan"))
            .await
        {
            Ok(l) => l,
            // Literals are exact decimals (as in Postgres); one beyond Decimal's range
            // (`1e300`) is read as a double instead, as DataFusion would by default.
            Err(e)
                if e.to_string()
                    .contains("exceeds the minimum supported scale") =>
            {
                state
                    .config_mut()
                    .options_mut()
                    .sql_parser
                    .parse_float_as_decimal = false;
                state
                    .statement_to_plan(DfStatement::Statement(Box::new(statement)))
                    .await
                    .map_err(|e| self.plan_error(e))?
            }
            Err(e) => return Err(self.plan_error(e)),
        };
        let logical_ms = started.elapsed().as_millis() as u64;
        let physical = state
            .create_physical_plan(&logical)
            .instrument(tracing::debug_span!("physical_plan"))
            .await
            .map_err(|e| self.plan_error(e))?;
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            logical_ms,
            "planned"
        );
        let schema = physical.schema();
        Ok(Planned {
            physical,
            schema,
            state,
        })
    }

    /// Start executing a planned statement; batches arrive as the sources produce them.
    pub fn execute(&self, planned: &Planned) -> Result<SendableRecordBatchStream, EngineError> {
        datafusion::physical_plan::execute_stream(
            Arc::clone(&planned.physical),
            planned.state.task_ctx(),
        )
        .map_err(|e| query_error(&e))
    }

    /// Bytes the operators of an executed plan spilled to disk (sorts, aggregations over the
    /// memory limit).
    pub fn spilled_bytes(&self, planned: &Planned) -> usize {
        fn walk(plan: &dyn ExecutionPlan) -> usize {
            let own = plan.metrics().and_then(|m| m.spilled_bytes()).unwrap_or(0);
            own + plan
                .children()
                .iter()
                .map(|c| walk(c.as_ref()))
                .sum::<usize>()
        }
        walk(planned.physical.as_ref())
    }

    /// Which part of a planned statement runs where, with the SQL sent to each remote source.
    pub fn explain(&self, planned: &Planned) -> Explanation {
        explain::explain(planned.physical.as_ref(), &self.contexts, false)
    }

    /// Run a planned statement, discarding its rows, and explain it with each operator's
    /// measured counters. Returns the explanation and the number of rows the query produced.
    pub async fn explain_analyze(
        &self,
        planned: &Planned,
    ) -> Result<(Explanation, usize), EngineError> {
        use futures::StreamExt;
        let mut stream = self.execute(planned)?;
        let mut rows = 0;
        while let Some(batch) = stream.next().await {
            rows += batch.map_err(|e| query_error(&e))?.num_rows();
        }
        Ok((
            explain::explain(planned.physical.as_ref(), &self.contexts, true),
            rows,
        ))
    }

    /// Run `work` under the query timeout, cancelling it (and the remote queries it started) on
    /// Ctrl-C or timeout.
    pub async fn guarded<T>(
        &self,
        work: impl Future<Output = Result<T, EngineError>>,
    ) -> Result<T, EngineError> {
        tokio::select! {
            r = work => r,
            _ = tokio::signal::ctrl_c() => {
                self.cancel_remote().await;
                Err(EngineError::Interrupted)
            }
            _ = tokio::time::sleep(self.query_timeout) => {
                self.cancel_remote().await;
                Err(EngineError::Timeout { secs: self.query_timeout.as_secs() })
            }
        }
    }

    /// Cancel every query this process is running on a remote server.
    pub async fn cancel_remote(&self) {
        for c in &self.cancellers {
            match c.cancel_running().await {
                Ok(n) => tracing::debug!(cancelled = n, "remote queries cancelled"),
                Err(e) => tracing::warn!("could not cancel remote queries: {e}"),
            }
        }
    }

    fn plan_error(&self, e: datafusion::error::DataFusionError) -> EngineError {
        let message = clean_message(&e);
        // A provider that failed to read its source (a corrupt file, a lost connection) is a
        // source failure, not a mistake in the SQL.
        if matches!(
            e.find_root(),
            datafusion::error::DataFusionError::External(_)
                | datafusion::error::DataFusionError::IoError(_)
                | datafusion::error::DataFusionError::ParquetError(_)
                | datafusion::error::DataFusionError::ObjectStore(_)
        ) && missing_table(&message).is_none()
        {
            return EngineError::Query { message };
        }
        if let Some(name) = missing_table(&message) {
            let parts: Vec<&str> = name.split('.').collect();
            // A table in a source that failed to open: report the source's error instead.
            if parts.len() == 3
                && let Some(s) = self
                    .sources
                    .iter()
                    .find(|s| s.name == parts[0] && s.error.is_some())
            {
                return EngineError::SourceUnavailable {
                    source_name: s.name.clone(),
                    message: s.error.clone().unwrap_or_default(),
                };
            }
            let known: Vec<String> = self.table_names();
            // With no default source, unqualified names land in DataFusion's empty built-in
            // catalog; say so, and suggest by the table part alone.
            if parts.len() == 3 && parts[0] == "datafusion" && self.default_catalog == "datafusion"
            {
                let suggestion = closest_table(parts[2], &known, "", "")
                    .map(|c| format!("did you mean {c}? "))
                    .unwrap_or_default();
                return EngineError::Plan {
                    message: format!("table '{}' not found", parts[2]),
                    hint: Some(format!(
                        "{suggestion}unqualified names resolve in no source here: write source.schema.table, or pass --catalog/--schema (or set default_catalog in skipper.toml)"
                    )),
                };
            }
            let hint = if parts.len() == 3 && !self.sources.iter().any(|s| s.name == parts[0]) {
                let names: Vec<&str> = self.sources.iter().map(|s| s.name.as_str()).collect();
                match closest(parts[0], names.iter().copied()) {
                    Some(c) => Some(format!(
                        "unknown source '{}': did you mean '{c}'?",
                        parts[0]
                    )),
                    None => Some(format!(
                        "unknown source '{}'; the sources are: {}",
                        parts[0],
                        names.join(", ")
                    )),
                }
            } else {
                closest_table(&name, &known, &self.default_catalog, &self.default_schema)
                    .map(|c| format!("did you mean {c}?"))
                    .or_else(|| {
                        Some("list the tables with: skipper sql \"SHOW TABLES\"".to_string())
                    })
            };
            return EngineError::Plan {
                message: format!("table '{name}' not found"),
                hint,
            };
        }
        EngineError::Plan {
            message,
            hint: None,
        }
    }
}

/// datafusion-federation's query planner, given the final optimized plan after the rewrites
/// that are only valid where Skipper's engine computes: by then every part a remote source
/// runs is an opaque federated node, so nothing rewritten here reaches a remote dialect.
#[derive(Debug)]
struct LocalRewritesPlanner(datafusion_federation::FederatedQueryPlanner);

#[async_trait::async_trait]
impl datafusion::execution::context::QueryPlanner for LocalRewritesPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &datafusion::logical_expr::LogicalPlan,
        session: &dyn datafusion::catalog::Session,
    ) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        let started = std::time::Instant::now();
        let local = tuning::local_rewrites(logical_plan.clone())?;
        let rewritten_us = started.elapsed().as_micros() as u64;
        let out = self.0.create_physical_plan(&local, session).await;
        tracing::trace!(
            target: "skipper::engine::timing",
            rewritten_us,
            us = started.elapsed().as_micros() as u64,
            "physical planning"
        );
        out
    }
}

/// A session's logical optimizer rules, in order.
type Rules = Vec<Arc<dyn datafusion::optimizer::OptimizerRule + Send + Sync>>;

/// DataFusion's optimizer rules with datafusion-federation's rule where it puts it (right after
/// `scalar_subquery_to_join`), followed by [`federation::UnfederateBareScans`].
///
/// Why not later: we tried the federation rule last, after filter and projection pushdown, and
/// the unparser then lost filters inside `EXISTS`/`IN` subqueries it rebuilt from semi joins — a
/// silently wrong count in our same-answers test. At its own position whole single-source
/// queries unparse correctly; the cost is that in a cross-source query each Postgres side would
/// be cut off as a bare `SELECT every column FROM t`. Un-federating those bare scans lets
/// DataFusion's own pushdown give them their projection and filters instead.
fn optimizer_rules() -> Rules {
    let mut rules = datafusion_federation::default_optimizer_rules();
    insert_after(
        &mut rules,
        "federation_optimizer_rule",
        Arc::new(federation::UnfederateBareScans),
    );
    rules
}

/// `rule` right after the rule named `after` (at the end when there is none).
fn insert_after(
    rules: &mut Rules,
    after: &str,
    rule: Arc<dyn datafusion::optimizer::OptimizerRule + Send + Sync>,
) {
    let at = rules
        .iter()
        .position(|r| r.name() == after)
        .map_or(rules.len(), |p| p + 1);
    rules.insert(at, rule);
}

/// `rules` with [`joinorder::ReorderInnerJoins`] and [`aggwindow::AggregateJoinToWindow`] after
/// filter pushdown, so that the filters they estimate sit at the scans, and before projection
/// pushdown separates the joins.
fn with_join_order(mut rules: Rules) -> Rules {
    insert_after(
        &mut rules,
        "push_down_filter",
        Arc::new(joinorder::ReorderInnerJoins),
    );
    // Before the join ordering, which could separate the table from its own aggregate.
    insert_after(
        &mut rules,
        "push_down_filter",
        Arc::new(aggwindow::AggregateJoinToWindow),
    );
    rules
}

/// One line from an error and its causes, without repeats.
pub(crate) fn flatten_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string().replace('\n', " ");
        if !parts.iter().any(|p| p.contains(s.trim())) {
            parts.push(s.trim().to_string());
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// Map an execution error to the engine's kind.
pub fn query_error(e: &datafusion::error::DataFusionError) -> EngineError {
    let message = clean_message(e);
    if matches!(
        e.find_root(),
        datafusion::error::DataFusionError::ResourcesExhausted(_)
    ) || message.contains("Resources exhausted")
    {
        return EngineError::Resources { message };
    }
    EngineError::Query { message }
}

/// Creates the spill folder if it is missing and proves a file can be written in it.
fn usable_spill_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".skipper-probe-{}", std::process::id()));
    std::fs::File::create(&probe)?;
    std::fs::remove_file(&probe)
}

/// `"2GiB"`, `"512MB"`, `"1.5g"`, `"1048576"` → bytes (K/M/G/T in powers of 1024, as DataFusion
/// and most tools read memory sizes).
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| "expected a size such as 2GiB or 512MB".to_string())?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown unit '{other}' (use KB, MB, GB or TB)")),
    };
    let bytes = n * scale;
    if bytes < 1024.0 * 1024.0 {
        return Err("at least 1MB is needed".into());
    }
    Ok(bytes as usize)
}

/// DataFusion's message without the wrappers that say nothing to a user.
pub(crate) fn clean_message(e: &datafusion::error::DataFusionError) -> String {
    let mut m = e.to_string();
    for prefix in ["External error: ", "Execution error: ", "Context(\""] {
        while let Some(rest) = m.strip_prefix(prefix) {
            m = rest.to_string();
        }
    }
    m.replace('\n', " ").trim().to_string()
}

fn missing_table(message: &str) -> Option<String> {
    let start = message.find("table '")? + "table '".len();
    let rest = &message[start..];
    let end = rest.find("' not found")?;
    Some(rest[..end].to_string())
}

fn closest<'a>(wanted: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| {
            (
                strsim::jaro_winkler(&wanted.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// The known table closest to a missing one: scored on the table name, with the catalog and
/// schema the user wrote (if any) counting against candidates elsewhere.
fn closest_table(missing: &str, known: &[String], _catalog: &str, _schema: &str) -> Option<String> {
    let parts: Vec<&str> = missing.split('.').collect();
    let table = parts.last().copied().unwrap_or_default().to_lowercase();
    known
        .iter()
        .filter_map(|k| {
            let kp: Vec<&str> = k.split('.').collect();
            if kp.len() != 3 {
                return None;
            }
            let mut score = strsim::jaro_winkler(&table, &kp[2].to_lowercase());
            if parts.len() == 3 && kp[0] != parts[0] {
                score -= 0.1;
            }
            if parts.len() >= 2 && kp[1] != parts[parts.len() - 2] {
                score -= 0.05;
            }
            (score >= 0.8).then_some((score, k))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.clone())
}

/// The catalog and schema unqualified names will resolve in, without opening anything.
pub fn preview_namespace(config: &Config, options: &EngineOptions) -> (String, String) {
    default_namespace(config, options)
}

fn default_namespace(config: &Config, options: &EngineOptions) -> (String, String) {
    let catalog = options
        .catalog
        .clone()
        .or_else(|| config.default_catalog.clone());
    let schema = options
        .schema
        .clone()
        .or_else(|| config.default_schema.clone());
    let only_pg: Vec<&String> = config
        .sources
        .iter()
        .filter(|(_, s)| matches!(s, SourceConfig::Postgres(_)))
        .map(|(n, _)| n)
        .collect();
    let catalog = catalog.or_else(|| {
        if only_pg.len() == 1 {
            Some(only_pg[0].clone())
        } else if config.sources.len() == 1 {
            config.sources.keys().next().cloned()
        } else {
            None
        }
    });
    let schema = schema.or_else(|| {
        let cat = catalog.as_ref()?;
        Some(
            match config.sources.get(cat)? {
                SourceConfig::Postgres(_) => "public",
                SourceConfig::Sqlite(_) => "main",
                SourceConfig::Parquet(f) | SourceConfig::Csv(f) | SourceConfig::Json(f) => {
                    f.schema_name()
                }
            }
            .to_string(),
        )
    });
    (
        catalog.unwrap_or_else(|| "datafusion".into()),
        schema.unwrap_or_else(|| "public".into()),
    )
}

fn location(source: &SourceConfig) -> String {
    match source {
        SourceConfig::Postgres(pg) => match PgSettings::resolve(pg, &ProcessEnv) {
            Ok(s) => s.display(),
            Err(_) => "(unresolved)".into(),
        },
        SourceConfig::Sqlite(s) => s.path.display().to_string(),
        SourceConfig::Parquet(f) | SourceConfig::Csv(f) | SourceConfig::Json(f) => f.path.clone(),
    }
}

struct Opened {
    catalog: Arc<dyn datafusion::catalog::CatalogProvider>,
    canceller: Option<PgCanceller>,
    compute_context: Option<String>,
    postgres: Option<Arc<datafusion_table_providers::postgres::pool::PostgresConnectionPool>>,
    /// A Postgres database's case rules are the C locale's (`postgres::Listing`).
    c_ctype: Option<bool>,
}

async fn open_source(
    name: &str,
    source: &SourceConfig,
    runtime: &Arc<RuntimeEnv>,
    connect_timeout: Duration,
    query_timeout: Duration,
    partitions: usize,
    pushdown: bool,
) -> Result<Opened, String> {
    match source {
        SourceConfig::Postgres(pg) => {
            let settings = PgSettings::resolve(pg, &ProcessEnv)?;
            let t = std::time::Instant::now();
            let pool = settings.open_pool(connect_timeout, query_timeout).await?;
            tracing::debug!(ms = t.elapsed().as_millis() as u64, "postgres pool ready");
            let listing = tokio::time::timeout(query_timeout, postgres::list_relations(&pool))
                .await
                .map_err(|_| "listing tables timed out".to_string())?
                .map_err(|e| settings.scrub(&e))?;
            let pool = Arc::new(pool);
            let dyn_pool: Arc<datafusion_table_providers::postgres::DynPostgresConnectionPool> =
                pool.clone();
            let catalog = tokio::time::timeout(
                query_timeout,
                RemoteCatalog::open(
                    name,
                    RemoteKind::Postgres {
                        source: passthrough::PgSource {
                            name: name.to_string(),
                            pool: Arc::clone(&pool),
                        },
                        partitions,
                        pushdown,
                    },
                    dyn_pool,
                    Some(listing.relations),
                ),
            )
            .await
            .map_err(|_| "listing tables timed out".to_string())?
            .map_err(|e| settings.scrub(&e))?;
            Ok(Opened {
                catalog: Arc::new(catalog),
                canceller: Some(settings.canceller()),
                compute_context: Some(pgtable::PgExecutor::context(name)),
                postgres: Some(pool),
                c_ctype: Some(listing.c_ctype),
            })
        }
        SourceConfig::Sqlite(s) => {
            let path = &s.path;
            let meta = std::fs::metadata(path)
                .map_err(|e| format!("SQLite file {} cannot be read: {e}", path.display()))?;
            if !meta.is_file() {
                return Err(format!("{} is not a file", path.display()));
            }
            let abs = std::fs::canonicalize(path).map_err(|e| e.to_string())?;
            // Opened through a read-only URI: SQLite itself refuses any write.
            let uri = format!("file:{}?mode=ro", uri_escape(&abs.to_string_lossy()));
            let pool = SqliteConnectionPool::new(
                &uri,
                Mode::File,
                JoinPushDown::AllowedFor(uri.clone()),
                vec![],
                Duration::from_secs(5),
            )
            .await
            .map_err(|e| e.to_string())?;
            let pool: Arc<datafusion_table_providers::sqlite::DynSqliteConnectionPool> =
                Arc::new(pool);
            let catalog =
                RemoteCatalog::open(name, RemoteKind::Sqlite { uri: uri.clone() }, pool, None)
                    .await
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(Opened {
                catalog: Arc::new(catalog),
                canceller: None,
                compute_context: Some(uri),
                postgres: None,
                c_ctype: None,
            })
        }
        SourceConfig::Parquet(f) | SourceConfig::Csv(f) | SourceConfig::Json(f) => {
            let kind = match source {
                SourceConfig::Parquet(_) => FileKind::Parquet,
                SourceConfig::Csv(_) => FileKind::Csv,
                _ => FileKind::Json,
            };
            if f.path.starts_with("s3://") {
                register_s3(f, runtime)?;
            } else if f.path.contains("://") {
                return Err(format!(
                    "path '{}': only local paths and s3:// URLs are supported",
                    f.path
                ));
            }
            let catalog =
                FileCatalog::open(name, f.schema_name(), kind, &f.path, Arc::clone(runtime))
                    .await?;
            Ok(Opened {
                catalog: Arc::new(catalog),
                canceller: None,
                compute_context: None,
                postgres: None,
                c_ctype: None,
            })
        }
    }
}

fn uri_escape(path: &str) -> String {
    path.replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23")
}

/// Register an S3-compatible store for the bucket of `f.path`: the usual `AWS_*` variables,
/// overridden by what the source's configuration says.
fn register_s3(f: &FileSource, runtime: &RuntimeEnv) -> Result<(), String> {
    let url = Url::parse(&f.path).map_err(|e| format!("path '{}': {e}", f.path))?;
    let bucket = url
        .host_str()
        .ok_or_else(|| format!("path '{}' names no bucket", f.path))?;
    let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(e) = &f.endpoint {
        builder = builder.with_endpoint(e);
        if e.starts_with("http://") {
            builder = builder.with_allow_http(true);
        }
    }
    if let Some(r) = &f.region {
        builder = builder.with_region(r);
    }
    if let Some(k) = &f.access_key_id {
        builder = builder.with_access_key_id(k.expose());
    }
    if let Some(k) = &f.secret_access_key {
        builder = builder.with_secret_access_key(k.expose());
    }
    if let Some(a) = f.allow_http {
        builder = builder.with_allow_http(a);
    }
    let store = builder
        .build()
        .map_err(|e| format!("S3 store for '{}': {e}", f.path))?;
    let base = Url::parse(&format!("s3://{bucket}")).map_err(|e| e.to_string())?;
    runtime.register_object_store(&base, Arc::new(store));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(parse_bytes("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("512MB").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("1048576").unwrap(), 1 << 20);
        assert!(
            parse_bytes("12 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("10KB").is_err());
    }

    #[test]
    fn suggestions_find_the_nearest_table() {
        let known = vec![
            "billing.main.accounts".to_string(),
            "billing.main.invoices".to_string(),
            "lake.main.usage_events".to_string(),
        ];
        assert_eq!(
            closest_table("billing.main.acounts", &known, "datafusion", "public").as_deref(),
            Some("billing.main.accounts")
        );
        assert_eq!(
            closest_table("usage_event", &known, "billing", "main").as_deref(),
            Some("lake.main.usage_events")
        );
        assert_eq!(closest_table("zzz", &known, "billing", "main"), None);
    }

    #[test]
    fn one_postgres_source_defaults_to_public() {
        let c = Config::parse(
            "[sources.pg]\nkind = \"postgres\"\nurl = \"postgresql://u@h/d\"\n[sources.f]\nkind = \"sqlite\"\npath = \"x.db\"\n",
            std::path::Path::new("s.toml"),
        )
        .unwrap();
        assert_eq!(
            default_namespace(&c, &EngineOptions::default()),
            ("pg".to_string(), "public".to_string())
        );
        let o = EngineOptions {
            catalog: Some("f".into()),
            ..Default::default()
        };
        assert_eq!(
            default_namespace(&c, &o),
            ("f".to_string(), "main".to_string())
        );
    }
}
