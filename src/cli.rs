//! Command-line definitions (clap derive) and nothing else: parsing lives here, behaviour in
//! `app`. Global flags (`--config`, `--format`, `-v`, …) are accepted before or after the
//! subcommand.

use crate::render::Format;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "skipper",
    version,
    about = "Ask your data questions; get SQL-backed, audited answers.",
    long_about = "Skipper answers questions over a governed catalog with SQL it proves valid on an \
                  embedded federated engine (Postgres, SQLite, Parquet/CSV/JSON, S3). With no \
                  configuration it uses the demo lake.",
    after_help = "Exit codes: 0 success (answered), 1 negative answer (could not answer, \
                  abstained), 2 usage/configuration error, 3 refused (access denied, SQL not \
                  read-only), 4 model unavailable, 5 source or query failure, 130 interrupted."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Configuration file (default: $SKIPPER_CONFIG, then ./skipper.toml, else the demo lake).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Catalog folder (default: context/ beside the configuration file).
    #[arg(long, global = true, value_name = "DIR")]
    pub context: Option<PathBuf>,
    /// Output format (default: table on a terminal, JSON otherwise).
    #[arg(long, global = true, value_enum, env = "SKIPPER_FORMAT")]
    pub format: Option<Format>,
    /// Catalog (source) that unqualified table names resolve in.
    #[arg(long, global = true, value_name = "NAME", env = "SKIPPER_CATALOG")]
    pub catalog: Option<String>,
    /// Schema that unqualified table names resolve in.
    #[arg(long, global = true, value_name = "NAME", env = "SKIPPER_SCHEMA")]
    pub schema: Option<String>,
    /// Pin "now" (RFC 3339 or YYYY-MM-DD) for everything Skipper computes.
    #[arg(long, global = true, value_name = "TIME", env = "SKIPPER_NOW")]
    pub now: Option<String>,
    /// Time zone timestamps are printed in (IANA name; default UTC or the configured one).
    #[arg(long, global = true, value_name = "TZ", env = "SKIPPER_TIMEZONE")]
    pub timezone: Option<String>,
    /// More logging on stderr: -v debug, -vv trace (RUST_LOG wins).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No notices on stderr, only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask a question in plain English; get a checked, explained answer.
    Ask(AskArgs),
    /// Run read-only SQL across every source.
    Sql(SqlArgs),
    /// Create (or rebuild) the demo lake.
    Demo(DemoArgs),
    /// Show the resolved configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Read the catalog: tables, lineage, glossary; lint and refresh it.
    Catalog {
        #[command(subcommand)]
        action: CatalogAction,
    },
    /// Print exactly the catalog context a question would send to the model.
    Context(ContextArgs),
    /// Check that every source is reachable and say what is wrong.
    Doctor,
    /// Run golden question sets through the agent and score the answers by executing them.
    Eval(EvalArgs),
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the resolved configuration, secrets redacted.
    Show,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The SQL to run (read from stdin when absent and stdin is not a terminal).
    pub sql: Option<String>,
    /// Run the statements of a file, each checked and run in turn.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        conflicts_with = "sql"
    )]
    pub file: Option<PathBuf>,
    /// Show which part runs where and the SQL sent to each remote source; run nothing.
    #[arg(long)]
    pub explain: bool,
    /// With --explain: run the query (rows are discarded) and show each operator's measured
    /// rows, time and pruning.
    #[arg(long, requires = "explain")]
    pub analyze: bool,
}

#[derive(Debug, Subcommand)]
pub enum CatalogAction {
    /// List tables (optionally those whose name matches a pattern: `*` and `?` wildcards, or a
    /// plain substring).
    List { pattern: Option<String> },
    /// Rank tables and columns for some words (what the agent's context selection sees).
    Search {
        #[arg(required = true, num_args = 1..)]
        words: Vec<String>,
    },
    /// Everything known about one table: description, columns, owners, lineage, freshness.
    Describe {
        /// `source.schema.table`, `schema.table` or an unambiguous `table`.
        table: String,
    },
    /// The tables (or columns) a table is built from, or that are built from it.
    Lineage {
        table: String,
        /// Only what it is built from.
        #[arg(long, conflicts_with = "downstream")]
        upstream: bool,
        /// Only what is built from it.
        #[arg(long)]
        downstream: bool,
        /// How many steps to follow.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
        depth: u32,
        /// Column-level edges.
        #[arg(long)]
        columns: bool,
    },
    /// The glossary, or one term.
    Glossary { term: Option<String> },
    /// Lint context/ against the sources: unknown tables or columns, lineage cycles, duplicate
    /// terms, metrics and examples that do not plan. Exit 1 when there are errors.
    Check,
    /// Re-read the sources' tables, comments and statistics into the catalog cache.
    Refresh {
        /// Only this source.
        source: Option<String>,
        /// Names and types only, no statistics.
        #[arg(long)]
        schema_only: bool,
        /// Recompute statistics even for tables that have not changed.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct ContextArgs {
    /// The question.
    #[arg(required = true, num_args = 1..)]
    pub question: Vec<String>,
    /// Token budget (default: [catalog] context_budget, 6000).
    #[arg(long, value_name = "TOKENS", value_parser = clap::value_parser!(u32).range(200..))]
    pub budget: Option<u32>,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question.
    #[arg(required = true, num_args = 1..)]
    pub question: Vec<String>,
    /// Also print the final SQL on stderr (for scripts reading rows from stdout).
    #[arg(long)]
    pub show_sql: bool,
    /// Ask the model and plan its SQL, but run nothing: prints the SQL, the plan and the exact
    /// request sent to the model.
    #[arg(long)]
    pub dry_run: bool,
    /// Attempts at the question, repairs included (default: [llm] max_attempts, 3).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10))]
    pub max_attempts: Option<u32>,
    /// The model to ask (overrides [llm] model and SKIPPER_MODEL).
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Rows of the result kept and shown; a larger result says it was capped.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_rows: u64,
    /// Token budget of the catalog context (default: [catalog] context_budget).
    #[arg(long, value_name = "TOKENS", value_parser = clap::value_parser!(u32).range(200..))]
    pub budget: Option<u32>,
    /// Answer with no model even when one is configured: only questions the curated metrics
    /// answer (the default when no model is configured).
    #[arg(long, conflicts_with_all = ["record", "replay", "model"])]
    pub offline: bool,
    /// Record every model exchange into this folder (one JSON file per exchange).
    #[arg(long, value_name = "DIR", conflicts_with = "replay")]
    pub record: Option<PathBuf>,
    /// Answer from recorded model exchanges instead of a live model; a missing recording
    /// is an error.
    #[arg(long, value_name = "DIR")]
    pub replay: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Exit codes: 0 ran (and met --min-accuracy), 1 accuracy below --min-accuracy or a \
                  regression with --fail-on-regression, 2 a malformed eval file or a broken gold \
                  query, 4 a question could not be asked (no model, a missing recording)."
)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub action: Option<EvalAction>,
    /// Eval files (YAML; see evals/README.md).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The model to ask (overrides [llm] model and SKIPPER_MODEL).
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// The OpenAI-compatible endpoint (overrides [llm] base_url and OPENAI_BASE_URL).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Record every model exchange into this folder.
    #[arg(long, value_name = "DIR", conflicts_with = "replay")]
    pub record: Option<PathBuf>,
    /// Answer from recordings; a missing recording is an error for that question.
    #[arg(long, value_name = "DIR")]
    pub replay: Option<PathBuf>,
    /// Score the offline compiler (no model).
    #[arg(long, conflicts_with_all = ["record", "replay", "model", "base_url"])]
    pub offline: bool,
    /// Conversations run at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Only these questions: ids, id prefixes ending in *, or categories (comma-separated).
    #[arg(long, value_name = "ID|CATEGORY", value_delimiter = ',')]
    pub filter: Vec<String>,
    /// An earlier run's report.json: list the questions that regressed and those fixed.
    #[arg(long, value_name = "OLD.json")]
    pub baseline: Option<PathBuf>,
    /// Exit 1 when the accuracy (0 to 1) is below this.
    #[arg(long, value_name = "FRACTION", value_parser = fraction)]
    pub min_accuracy: Option<f64>,
    /// Exit 1 when a question correct in the baseline is not correct now.
    #[arg(long, requires = "baseline")]
    pub fail_on_regression: bool,
    /// Where report.json and report.md go (default: the data directory's evals/ folder).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Attempts per question, repairs included (default: [llm] max_attempts).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10))]
    pub max_attempts: Option<u32>,
}

fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("'{s}' is not a fraction from 0 to 1 (e.g. 0.8)")),
    }
}

#[derive(Debug, Subcommand)]
pub enum EvalAction {
    /// Convert a CSV question set (question, query, db_name, query_category, instructions) to
    /// Skipper's YAML format.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The CSV file.
    pub file: PathBuf,
    /// Qualify each row's tables: db_name=source[.schema], comma-separated.
    #[arg(long, value_name = "DB=SOURCE,…")]
    pub source_map: Option<String>,
    /// Write the YAML here (default: stdout).
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The last day of data (YYYY-MM-DD; default today, or the pinned now).
    #[arg(long, value_name = "DATE")]
    pub anchor_date: Option<String>,
    /// Seed for the generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Multiply row counts (for benchmarks).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub scale: u32,
    /// Rebuild even if the demo exists.
    #[arg(long)]
    pub force: bool,
    /// Put the dimensions, invoices and tickets in this Postgres database instead of SQLite.
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// Where to create it (default: the data directory's demo/ folder).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}
