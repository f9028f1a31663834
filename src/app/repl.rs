//! The REPL (`skipper` with no subcommand): questions and follow-ups, backslash commands, a
//! history file, completion of commands and table names. Ctrl-C cancels the running step (a
//! model call or a query) and keeps the REPL; at the prompt it clears the line; Ctrl-D exits.

use super::ask::{answer_json, answer_text, footer, model_for, settings_for};
use super::{Exit, Failure, Session};
use crate::agent::offline::Slots;
use crate::agent::{Agent, Answer, Turn};
use crate::catalog::Catalog;
use crate::engine::Engine;
use crate::governance::Principal;
use crate::render::{Format, ResultWriter};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper, Highlighter, Hinter};
use std::io::Write;

const COMMANDS: &[(&str, &str)] = &[
    ("\\sql", "SQL;          run SQL directly (end it with ;)"),
    (
        "\\context",
        "[QUESTION]  what the model saw for the last question (or would see)",
    ),
    (
        "\\why",
        "              the SQL and provenance of the last answer",
    ),
    ("\\tables", "[PATTERN]    the catalog's tables"),
    ("\\describe", "TABLE      everything known about a table"),
    ("\\format", "table|csv|json  how answers print"),
    (
        "\\save",
        "              keep the last question and its SQL as a verified example in context/",
    ),
    ("\\help", "              this list"),
    ("\\quit", "              leave (or Ctrl-D)"),
];

#[derive(Helper, Hinter, Highlighter)]
struct ReplHelper {
    tables: Vec<String>,
}

impl Completer for ReplHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| c.is_whitespace() || c == '(' || c == ',')
            .map_or(0, |i| i + 1);
        let word = &before[start..];
        let pool: Vec<&str> = if start == 0 && word.starts_with('\\') {
            COMMANDS.iter().map(|c| c.0).collect()
        } else {
            self.tables.iter().map(String::as_str).collect()
        };
        let lower = word.to_lowercase();
        let found = pool
            .into_iter()
            .filter(|c| !word.is_empty() && c.to_lowercase().starts_with(&lower))
            .map(|c| Pair {
                display: c.to_string(),
                replacement: c.to_string(),
            })
            .collect();
        Ok((start, found))
    }
}

impl Validator for ReplHelper {
    /// `\sql` runs until a `;`; any input with an open bracket or quote continues on the next
    /// line; a line ending in ` \` continues too.
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        let trimmed = input.trim_end();
        if trimmed.ends_with(" \\") {
            return Ok(ValidationResult::Incomplete);
        }
        if trimmed.starts_with("\\sql") && trimmed.len() > 4 && !trimmed.ends_with(';') {
            return Ok(ValidationResult::Incomplete);
        }
        let mut depth = 0i32;
        let mut quote = false;
        for c in input.chars() {
            match c {
                '\'' => quote = !quote,
                '(' if !quote => depth += 1,
                ')' if !quote => depth -= 1,
                _ => {}
            }
        }
        Ok(if depth > 0 || quote {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}

/// The REPL's state across turns.
struct State {
    format: Format,
    history: Vec<Turn>,
    slots: Option<Slots>,
    last: Option<Answer>,
}

pub async fn run(session: &Session) -> Result<Exit, Failure> {
    let model = model_for(session, None, None, None)?;
    let prompts = super::ask::prompts_for(session)?;
    let engine = Engine::open(&session.config, &session.engine_options()).await?;
    let (cat, _) = super::catalog::load_catalog(session, Some(&engine)).await?;
    let agent = super::ask::agent_for(
        session,
        &engine,
        &cat,
        model.as_ref(),
        &prompts,
        settings_for(session, model.as_ref(), None),
    );
    let config = rustyline::Config::builder()
        .auto_add_history(true)
        .max_history_size(1000)
        .map_err(|e| Failure::usage(e.to_string(), None))?
        .build();
    let mut rl: Editor<ReplHelper, rustyline::history::FileHistory> = Editor::with_config(config)
        .map_err(|e| Failure {
        exit: Exit::Failure,
        message: format!("cannot start the line editor: {e}"),
        hint: Some("use `skipper ask` from scripts".into()),
    })?;
    let mut names: Vec<String> = cat.tables.iter().map(|t| t.name.clone()).collect();
    names.extend(cat.tables.iter().map(|t| t.short_name().to_string()));
    names.sort();
    names.dedup();
    rl.set_helper(Some(ReplHelper { tables: names }));
    let history_file = crate::config::data_dir().join("repl_history");
    let _ = rl.load_history(&history_file);
    println!(
        "Skipper: ask about your data. {} \\help lists commands; Ctrl-D leaves.",
        match &model {
            Some(m) => format!("Model: {}.", m.endpoint().model),
            None =>
                "No model configured: questions the curated metrics answer are compiled offline."
                    .into(),
        }
    );
    let mut state = State {
        format: Format::Table,
        history: Vec::new(),
        slots: None,
        last: None,
    };
    loop {
        match rl.readline("skipper> ") {
            Ok(line) => {
                let line = line.trim().trim_end_matches(" \\").to_string();
                if line.is_empty() {
                    continue;
                }
                if matches!(line.as_str(), "\\q" | "\\quit" | "exit" | "quit") {
                    break;
                }
                let out = step(&agent, &cat, session, &mut state, &line).await;
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(out.as_bytes());
                let _ = stdout.flush();
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                let _ = rl.save_history(&history_file);
                return Err(Failure {
                    exit: Exit::Failure,
                    message: format!("cannot read input: {e}"),
                    hint: None,
                });
            }
        }
    }
    if let Some(dir) = history_file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = rl.save_history(&history_file) {
        eprintln!(
            "warning: cannot save the history to {}: {e}",
            history_file.display()
        );
    }
    Ok(Exit::Success)
}

/// One line of input to the text it prints. Ctrl-C cancels the step, not the REPL.
async fn step(
    agent: &Agent<'_>,
    cat: &Catalog,
    session: &Session,
    state: &mut State,
    line: &str,
) -> String {
    let work = run_line(agent, cat, session, state, line);
    tokio::select! {
        out = work => out,
        _ = tokio::signal::ctrl_c() => {
            agent.engine.cancel_remote().await;
            "interrupted: the step was cancelled\n".into()
        }
    }
}

async fn run_line(
    agent: &Agent<'_>,
    cat: &Catalog,
    session: &Session,
    state: &mut State,
    line: &str,
) -> String {
    let (cmd, rest) = match line.split_once(char::is_whitespace) {
        Some((c, r)) => (c, r.trim()),
        None => (line, ""),
    };
    match cmd {
        "\\help" | "\\?" => {
            let mut s = String::from(
                "Ask a question in plain English; a follow-up refines the last one (\"only enterprise\", \"now by week\", \"top 5 instead\").\n",
            );
            for (c, d) in COMMANDS {
                s.push_str(&format!("  {c} {d}\n"));
            }
            s
        }
        "\\sql" => run_sql(agent, session, state, rest.trim_end_matches(';')).await,
        "\\context" => {
            let q = if rest.is_empty() {
                match &state.last {
                    Some(a) => a.question.clone(),
                    None => return "no question yet: \\context QUESTION\n".into(),
                }
            } else {
                rest.to_string()
            };
            agent.context(&q).text
        }
        "\\why" => match &state.last {
            Some(a) => {
                let mut s = footer(a);
                for l in &a.interpretation {
                    s.push_str(&format!("read as: {l}\n"));
                }
                s
            }
            None => "no answer yet\n".into(),
        },
        "\\tables" => super::catalog::list(cat, (!rest.is_empty()).then_some(rest), false),
        "\\describe" => match super::catalog::describe(cat, rest, false) {
            Ok(s) => s,
            Err(f) => error_text(&f),
        },
        "\\format" => match rest {
            "table" => set_format(state, Format::Table),
            "csv" => set_format(state, Format::Csv),
            "json" => set_format(state, Format::Json),
            _ => "error: \\format table|csv|json\n".into(),
        },
        "\\save" => save(session, state),
        c if c.starts_with('\\') => {
            format!("error: unknown command {c}\nhint: \\help lists them\n")
        }
        _ => ask(agent, session, state, line).await,
    }
}

fn set_format(state: &mut State, f: Format) -> String {
    state.format = f;
    String::new()
}

fn error_text(f: &Failure) -> String {
    let mut s = format!("error: {}\n", f.message);
    if let Some(h) = &f.hint {
        s.push_str(&format!("hint: {h}\n"));
    }
    s
}

async fn ask(agent: &Agent<'_>, session: &Session, state: &mut State, question: &str) -> String {
    let result = match agent.model {
        Some(_) => {
            let key = crate::llm::question_key(
                &state
                    .history
                    .iter()
                    .map(|t| t.question.as_str())
                    .chain(std::iter::once(question))
                    .collect::<Vec<_>>()
                    .join(" / "),
            );
            agent
                .ask(question, &key, &state.history)
                .await
                .map(|a| (a, None))
        }
        None => agent
            .ask_offline(question, state.slots.as_ref())
            .await
            .map(|(a, s)| (a, Some(s))),
    };
    let (answer, slots) = match result {
        Ok(r) => r,
        Err(e) => return error_text(&Failure::from(e)),
    };
    let text = match state.format {
        Format::Json => answer_json(&answer, session, None),
        Format::Csv => super::ask::rows_text(&answer, session, Format::Csv),
        _ => answer_text(&answer, session, None),
    };
    if let Some(sql) = &answer.sql
        && answer.result.is_some()
    {
        state.history.push(Turn {
            question: question.to_string(),
            sql: sql.clone(),
        });
        let keep = agent.settings.max_history;
        if state.history.len() > keep {
            state.history.drain(..state.history.len() - keep);
        }
        if slots.is_some() {
            state.slots = slots;
        }
    }
    state.last = Some(answer);
    text.unwrap_or_else(|f| error_text(&f))
}

async fn run_sql(agent: &Agent<'_>, session: &Session, state: &State, sql: &str) -> String {
    use futures::StreamExt;
    let engine = agent.engine;
    let statement = match engine.check(sql, false) {
        Ok(mut v) => v.pop().expect("one statement"),
        Err(e) => return error_text(&Failure::from(e)),
    };
    let work = async {
        // Timed as `skipper sql` times a statement: plan, run and render.
        let started = std::time::Instant::now();
        let planned = engine.plan(&statement).await?;
        let mut stream = engine.execute(&planned)?;
        let mut out = Vec::new();
        let mut w = ResultWriter::new(state.format, &mut out, session.tz);
        w.begin(&planned.schema).map_err(io_err)?;
        while let Some(b) = stream.next().await {
            let b = b.map_err(|e| crate::engine::query_error(&e))?;
            w.write_batch(&b).map_err(io_err)?;
        }
        let summary = w.finish().map_err(io_err)?;
        let mut text = String::from_utf8_lossy(&out).into_owned();
        text.push_str(&format!(
            "{} row{} in {:.3}s\n",
            summary.rows,
            if summary.rows == 1 { "" } else { "s" },
            started.elapsed().as_secs_f64()
        ));
        Ok::<_, crate::engine::EngineError>(text)
    };
    match engine.guarded(work).await {
        Ok(t) => t,
        Err(e) => error_text(&Failure::from(e)),
    }
}

fn io_err(e: std::io::Error) -> crate::engine::EngineError {
    crate::engine::EngineError::Query {
        message: format!("cannot render the result: {e}"),
    }
}

/// Append the last answered question and its SQL to `context/saved_examples.yaml`, atomically.
fn save(session: &Session, state: &State) -> String {
    let Some(a) = state.last.as_ref().filter(|a| a.result.is_some()) else {
        return "error: no answered question to save\n".into();
    };
    let Some(sql) = &a.sql else {
        return "error: the last answer has no SQL\n".into();
    };
    let path = session.context_dir.join("saved_examples.yaml");
    let mut text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(_) => "# Questions and SQL saved from the REPL with \\save: verified by the person who saved them.\nversion: 1\nexamples:\n".into(),
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    // JSON strings are valid YAML double-quoted scalars.
    let q = serde_json::to_string(&a.question).expect("a string");
    let s = serde_json::to_string(sql).expect("a string");
    let who = serde_json::to_string(&Principal::current().user).expect("a string");
    let day = session.clock.today().to_string();
    text.push_str(&format!(
        "  - question: {q}\n    sql: {s}\n    verified_by: {who}\n    verified_on: \"{day}\"\n"
    ));
    let tmp = path.with_extension("yaml.tmp");
    match std::fs::write(&tmp, &text).and_then(|_| std::fs::rename(&tmp, &path)) {
        Ok(()) => format!("saved to {}\n", path.display()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            format!("error: cannot write {}: {e}\n", path.display())
        }
    }
}
