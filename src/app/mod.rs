//! The command-line front end: resolves settings, runs a command, and maps every outcome to a
//! documented exit code. It is the only layer that prints: data to stdout, everything else
//! (notices, timings, warnings, errors with hints) to stderr.

mod ask;
mod catalog;
mod commands;
mod eval;
mod repl;
mod sql;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::config::{Clock, Config, ConfigError, ConfigOrigin};
use crate::engine::{EngineError, EngineOptions};
use chrono_tz::Tz;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Exit codes, reserved for the whole product (documented in README.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Success = 0,
    /// Ran, but the answer is negative (no answer; eval below threshold; doctor found problems).
    Negative = 1,
    Usage = 2,
    AccessDenied = 3,
    ModelUnavailable = 4,
    /// A source or query failed.
    Failure = 5,
    Interrupted = 130,
}

/// An error on its way to the terminal: one line, an optional hint, an exit code.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn usage(message: impl Into<String>, hint: Option<&str>) -> Failure {
        Failure {
            exit: Exit::Usage,
            message: message.into(),
            hint: hint.map(str::to_owned),
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure {
            exit: Exit::Usage,
            hint: e.hint(),
            message: e.to_string(),
        }
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        let exit = match &e {
            EngineError::Refused(_) | EngineError::Plan { .. } | EngineError::Config { .. } => {
                Exit::Usage
            }
            EngineError::Interrupted => Exit::Interrupted,
            _ => Exit::Failure,
        };
        Failure {
            exit,
            hint: e.hint(),
            message: e.to_string(),
        }
    }
}

/// Notices on stderr, silenced by `--quiet`.
#[derive(Debug, Clone, Copy)]
pub struct Notices {
    quiet: bool,
}

impl Notices {
    pub fn say(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }
}

/// Everything resolved before a command runs.
pub struct Session {
    pub config: Config,
    pub origin: ConfigOrigin,
    pub context_dir: PathBuf,
    pub tz: Tz,
    pub clock: Clock,
    pub global: GlobalArgs,
    pub notices: Notices,
}

impl Session {
    pub fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            catalog: self.global.catalog.clone(),
            schema: self.global.schema.clone(),
            clock: Some(self.clock),
        }
    }
}

/// Start tracing on stderr: warnings by default, `-v` debug, `-vv` trace; `RUST_LOG` wins.
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "skipper=debug,warn",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .try_init();
}

/// Run a parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    let result = dispatch(cli).await;
    let exit = match result {
        Ok(exit) => exit,
        Err(f) => {
            report(&f);
            f.exit
        }
    };
    exit as u8
}

fn report(f: &Failure) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {}", f.message);
    if let Some(h) = &f.hint {
        let _ = writeln!(err, "hint: {h}");
    }
}

async fn dispatch(cli: Cli) -> Result<Exit, Failure> {
    let notices = Notices {
        quiet: cli.global.quiet,
    };
    let Some(command) = cli.command else {
        let session = session(cli.global, notices).await?;
        return repl::run(&session).await;
    };
    match command {
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, "skipper", &mut out);
            write_stdout(&out)?;
            Ok(Exit::Success)
        }
        Command::Demo(args) => commands::demo(args, &cli.global, notices).await,
        Command::Config { action } => {
            let session = session(cli.global, notices).await?;
            commands::config(action, &session)
        }
        Command::Catalog { action } => {
            let session = session(cli.global, notices).await?;
            catalog::run(action, &session).await
        }
        Command::Context(args) => {
            let session = session(cli.global, notices).await?;
            catalog::context(args, &session).await
        }
        Command::Doctor => {
            let session = session(cli.global, notices).await?;
            commands::doctor(&session).await
        }
        Command::Ask(args) => {
            let session = session(cli.global, notices).await?;
            ask::run(args, &session).await
        }
        Command::Eval(args) => eval::run(args, &cli.global, notices).await,
        Command::Sql(args) => {
            let session = session(cli.global, notices).await?;
            sql::run(args, &session).await
        }
    }
}

/// Write to stdout; a closed pipe is not an error.
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure {
            exit: Exit::Failure,
            message: format!("cannot write to stdout: {e}"),
            hint: None,
        }),
    }
}

pub(crate) fn parse_clock(global: &GlobalArgs) -> Result<Clock, Failure> {
    match &global.now {
        Some(t) => Clock::parse(t).map_err(|e| {
            Failure::usage(
                format!("--now/SKIPPER_NOW: {e}"),
                Some("unset SKIPPER_NOW to use the real clock"),
            )
        }),
        None => Ok(Clock::Real),
    }
}

/// Resolve the configuration (or the demo lake), the catalog folder, time zone and clock.
async fn session(global: GlobalArgs, notices: Notices) -> Result<Session, Failure> {
    let clock = parse_clock(&global)?;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let env_config = std::env::var("SKIPPER_CONFIG").ok();
    let origin = match crate::config::locate(global.config.as_deref(), env_config.as_deref(), &cwd)
    {
        Some(o) => o,
        None => {
            let dir = crate::demo::default_dir();
            let req = crate::demo::DemoRequest {
                dir: dir.clone(),
                seed: 42,
                anchor: clock.today(),
                scale: 1,
                force: false,
                postgres: None,
            };
            match crate::demo::ensure(&req).await {
                Ok(crate::demo::DemoOutcome::Created(m)) => notices.say(&format!(
                    "skipper: no skipper.toml found; created the demo lake at {} (anchor {}, seed {})",
                    dir.display(),
                    m.anchor_date,
                    m.seed
                )),
                Ok(crate::demo::DemoOutcome::Existing(m)) => notices.say(&format!(
                    "skipper: no skipper.toml found; using the demo lake at {} (anchor {})",
                    dir.display(),
                    m.anchor_date
                )),
                Err(e) => {
                    return Err(Failure {
                        exit: Exit::Failure,
                        message: format!("cannot create the demo lake: {e}"),
                        hint: Some(
                            "set SKIPPER_DATA_DIR to a writable folder, or pass --config".into(),
                        ),
                    });
                }
            }
            ConfigOrigin::Demo {
                path: crate::demo::config_path(&dir),
            }
        }
    };
    let config = Config::load(origin.path())?;
    let tz_name = global
        .timezone
        .clone()
        .or_else(|| config.timezone.clone())
        .unwrap_or_else(|| "UTC".into());
    let tz: Tz = tz_name.parse().map_err(|_| {
        Failure::usage(
            format!("'{tz_name}' is not an IANA time zone name"),
            Some("use a name such as UTC or Europe/London"),
        )
    })?;
    let context_dir = global
        .context
        .clone()
        .or_else(|| config.context.clone())
        .unwrap_or_else(|| {
            origin
                .path()
                .parent()
                .map(|p| p.join("context"))
                .unwrap_or_else(|| PathBuf::from("context"))
        });
    Ok(Session {
        config,
        origin,
        context_dir,
        tz,
        clock,
        global,
        notices,
    })
}
