//! `skipper sql`: read-only SQL from an argument, a file or stdin, checked in full before
//! anything runs, then planned and streamed to stdout statement by statement.

use super::{Exit, Failure, Session};
use crate::cli::SqlArgs;
use crate::engine::{Engine, EngineError, Explanation, query_error};
use crate::render::{Format, ResultWriter};
use futures::StreamExt;
use std::io::{IsTerminal, Read, Write};
use std::time::Instant;

pub async fn run(args: SqlArgs, session: &Session) -> Result<Exit, Failure> {
    let (text, from_file) = read_sql(&args)?;
    // Every statement is checked before the first one runs.
    let statements = crate::engine::readonly::check(&text, from_file).map_err(|r| {
        let mut f = Failure::from(EngineError::from(r));
        if let Some(path) = &args.file {
            f.message = format!("{}: {}", path.display(), f.message);
        }
        f
    })?;
    let engine = Engine::open(&session.config, &session.engine_options()).await?;
    let format = Format::resolve(session.global.format, std::io::stdout().is_terminal());
    if format == Format::Arrow && std::io::stdout().is_terminal() {
        return Err(Failure::usage(
            "refusing to write binary Arrow data to a terminal",
            Some("redirect it: skipper sql --format arrow \"…\" > result.arrows"),
        ));
    }

    for statement in &statements {
        let started = Instant::now();
        let outcome = engine
            .guarded(run_one(
                &engine,
                statement,
                format,
                explain_mode(&args),
                session,
            ))
            .await;
        match outcome {
            Ok(Outcome::Rows {
                rows,
                not_shown,
                spilled,
            }) => {
                if not_shown > 0 {
                    session.notices.say(&format!(
                        "note: the table shows the first {} of {rows} rows; use --format csv or json for all",
                        rows - not_shown
                    ));
                }
                let spill = if spilled > 0 {
                    format!(
                        " (spilled {:.1} MB to disk: over [engine] memory_limit)",
                        spilled as f64 / 1_048_576.0
                    )
                } else {
                    String::new()
                };
                if session.config.catalog.usage_log {
                    // The usage prior of context selection; losing it never fails a query.
                    let at = session
                        .clock
                        .now()
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                    if let Err(e) = crate::catalog::usage::record(
                        &crate::config::data_dir(),
                        session.origin.path(),
                        &at,
                        &statement.to_string(),
                    ) {
                        tracing::warn!("cannot record the query in the usage log: {e}");
                    }
                }
                session.notices.say(&format!(
                    "{rows} row{} in {:.3}s{spill}",
                    if rows == 1 { "" } else { "s" },
                    started.elapsed().as_secs_f64()
                ));
            }
            Ok(Outcome::Explained) => {}
            Ok(Outcome::PipeClosed) => return Ok(Exit::Success),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Exit::Success)
}

enum Outcome {
    Rows {
        rows: u64,
        not_shown: u64,
        /// Bytes the query's operators wrote to spill files.
        spilled: usize,
    },
    Explained,
    PipeClosed,
}

fn read_sql(args: &SqlArgs) -> Result<(String, bool), Failure> {
    if let Some(path) = &args.file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(
                format!("cannot read {}: {e}", path.display()),
                Some("pass an existing file of SQL statements"),
            )
        })?;
        return Ok((text, true));
    }
    if let Some(sql) = &args.sql {
        return Ok((sql.clone(), false));
    }
    if std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "no SQL given",
            Some("pass it as an argument, with -f FILE, or on stdin"),
        ));
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| Failure::usage(format!("cannot read stdin: {e}"), None))?;
    // Stdin is a script like -f: several statements run in turn.
    Ok((text, true))
}

fn broken_pipe(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}

fn io_failure(e: std::io::Error) -> EngineError {
    EngineError::Query {
        message: format!("cannot write the result: {e}"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Explain {
    No,
    Plan,
    Analyze,
}

fn explain_mode(args: &SqlArgs) -> Explain {
    match (args.explain, args.analyze) {
        (false, _) => Explain::No,
        (true, false) => Explain::Plan,
        (true, true) => Explain::Analyze,
    }
}

async fn run_one(
    engine: &Engine,
    statement: &datafusion::sql::sqlparser::ast::Statement,
    format: Format,
    explain: Explain,
    session: &Session,
) -> Result<Outcome, EngineError> {
    let planned = engine.plan(statement).await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if explain != Explain::No {
        let x = if explain == Explain::Analyze {
            engine.explain_analyze(&planned).await?.0
        } else {
            engine.explain(&planned)
        };
        let text = render_explanation(&x, format);
        return match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
            Ok(()) => Ok(Outcome::Explained),
            Err(e) if broken_pipe(&e) => Ok(Outcome::PipeClosed),
            Err(e) => Err(io_failure(e)),
        };
    }
    let started = std::time::Instant::now();
    let mut stream = engine.execute(&planned)?;
    let mut writer = ResultWriter::new(format, &mut out, session.tz)
        .fit_terminal(std::io::stdout().is_terminal());
    let written = writer.begin(&planned.schema);
    match written {
        Err(e) if broken_pipe(&e) => return Ok(Outcome::PipeClosed),
        Err(e) => return Err(io_failure(e)),
        Ok(()) => {}
    }
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| query_error(&e))?;
        match writer.write_batch(&batch) {
            Err(e) if broken_pipe(&e) => return Ok(Outcome::PipeClosed),
            Err(e) => return Err(io_failure(e)),
            Ok(()) => {}
        }
    }
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "executed and written"
    );
    match writer.finish() {
        Ok(s) => Ok(Outcome::Rows {
            rows: s.rows,
            not_shown: s.not_shown,
            spilled: engine.spilled_bytes(&planned),
        }),
        Err(e) if broken_pipe(&e) => Ok(Outcome::PipeClosed),
        Err(e) => Err(io_failure(e)),
    }
}

/// The JSON form of `--explain`, versioned like every JSON Skipper prints.
#[derive(serde::Serialize)]
struct ExplainJson<'a> {
    version: u32,
    #[serde(flatten)]
    explanation: &'a Explanation,
}

fn render_explanation(x: &Explanation, format: Format) -> String {
    match format {
        Format::Json | Format::Ndjson | Format::Arrow => {
            let mut s = serde_json::to_string(&ExplainJson {
                version: crate::render::JSON_VERSION,
                explanation: x,
            })
            .unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Table | Format::Csv => {
            let mut s = String::new();
            if x.remote.is_empty() {
                s.push_str("Runs entirely in Skipper's engine (DataFusion); nothing is sent to a remote source.\n");
            }
            for f in &x.remote {
                s.push_str(&format!("Runs in source '{}', which receives:\n", f.source));
                s.push_str(&format!("  {}\n", f.sql));
            }
            if !x.local_scans.is_empty() {
                s.push_str("Read by Skipper's engine (DataFusion) from files:\n");
                for l in &x.local_scans {
                    s.push_str(&format!("  {l}\n"));
                }
            }
            s.push_str("\nPhysical plan:\n");
            for line in x.plan.lines() {
                s.push_str(&format!("  {line}\n"));
            }
            s
        }
    }
}
