//! `skipper ask "QUESTION"`: one question through the agent, for people (the answer, its table
//! and a provenance footer) and for scripts (one versioned JSON object, documented exit codes).

use super::{Exit, Failure, Session, write_stdout};
use crate::agent::prompts::Prompts;
use crate::agent::{Agent, AgentError, Answer, Settings, Status, Turn};
use crate::cli::AskArgs;
use crate::context::{Selector, tokens::TokenCounter};
use crate::engine::Engine;
use crate::governance::{AllowAll, Principal};
use crate::llm::{Endpoint, LlmError, Model, http::HttpModel, tape::Tape};
use crate::render::{Format, ResultWriter};
use std::io::IsTerminal;

impl From<LlmError> for Failure {
    fn from(e: LlmError) -> Self {
        Failure {
            exit: Exit::ModelUnavailable,
            hint: e.hint(),
            message: e.to_string(),
        }
    }
}

impl From<AgentError> for Failure {
    fn from(e: AgentError) -> Self {
        match e {
            AgentError::Model(m) => m.into(),
            AgentError::Prompt(p) => Failure {
                exit: Exit::Usage,
                message: p.to_string(),
                hint: Some("fix the template, or remove it to use the built-in one".into()),
            },
            AgentError::Interrupted => Failure {
                exit: Exit::Interrupted,
                message: "interrupted".into(),
                hint: None,
            },
            e @ AgentError::NeedsModel(_) => Failure {
                exit: Exit::ModelUnavailable,
                message: e.to_string(),
                hint: Some("configure a model: [llm] model = \"…\" in skipper.toml (or --model / SKIPPER_MODEL), with OPENAI_BASE_URL for a local server such as Ollama; `skipper catalog list` shows the curated metrics offline questions can use".into()),
            },
        }
    }
}

/// The exit code of an answer.
pub fn exit_of(status: Status) -> Exit {
    match status {
        Status::Answered | Status::Planned => Exit::Success,
        Status::Abstained | Status::CouldNotAnswer => Exit::Negative,
        Status::Refused => Exit::AccessDenied,
        Status::QueryFailed => Exit::Failure,
    }
}

/// The model per the flags and configuration; `None` is offline mode.
pub fn model_for(
    session: &Session,
    model: Option<&str>,
    record: Option<&std::path::Path>,
    replay: Option<&std::path::Path>,
) -> Result<Option<Model>, Failure> {
    let endpoint = Endpoint::resolve(&session.config.llm, model, &|k| std::env::var(k).ok());
    Ok(match (endpoint, record, replay) {
        (None, _, Some(_)) => {
            return Err(Failure::usage(
                "--replay needs the model name the recordings were made with",
                Some("pass --model NAME, or set [llm] model / SKIPPER_MODEL"),
            ));
        }
        (None, Some(_), _) => {
            return Err(LlmError::NotConfigured.into());
        }
        (None, None, None) => None,
        (Some(e), _, Some(dir)) => {
            let tape = Tape::player(dir).map_err(|e| Failure {
                exit: Exit::Usage,
                message: e.to_string(),
                hint: Some("--replay names a folder that --record filled".into()),
            })?;
            Some(Model::Replay(e, tape))
        }
        (Some(e), Some(dir), None) => Some(Model::Record(HttpModel::new(e)?, Tape::recorder(dir)?)),
        (Some(e), None, None) => Some(Model::Live(HttpModel::new(e)?)),
    })
}

/// The prompt templates, with the user's overrides.
pub fn prompts_for(session: &Session) -> Result<Prompts, Failure> {
    let user_dir = session
        .config
        .llm
        .prompts
        .clone()
        .or_else(Prompts::default_user_dir);
    Ok(Prompts::load(user_dir.as_deref()).map_err(AgentError::from)?)
}

/// The agent's settings and context policy for this session and model.
pub fn settings_for(session: &Session, model: Option<&Model>, budget: Option<u32>) -> Settings {
    let local = model.is_some_and(|m| m.endpoint().local);
    Settings {
        max_attempts: session.config.llm.max_attempts,
        row_cap: 1000,
        budget: budget
            .map(|b| b as usize)
            .unwrap_or(session.config.catalog.context_budget),
        dry_run: false,
        now: session
            .clock
            .now()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        timezone: session.tz.name().to_string(),
        send_results: session.config.llm.send.result_rows.permits(local),
        max_history: 6,
    }
}

/// Sources whose tables a (non-local) model may not see.
pub fn hidden_sources(session: &Session, model: Option<&Model>) -> Vec<String> {
    if model.is_some_and(|m| m.endpoint().local) {
        return vec![];
    }
    session
        .config
        .sources
        .iter()
        .filter(|(_, s)| s.local_models_only())
        .map(|(n, _)| n.clone())
        .collect()
}

/// The agent as every front end builds it: the model's send policy applied to the context
/// (sources hidden from a non-local model, sample values only where permitted).
pub fn agent_for<'a>(
    session: &Session,
    engine: &'a Engine,
    cat: &'a crate::catalog::Catalog,
    model: Option<&'a Model>,
    prompts: &'a Prompts,
    settings: Settings,
) -> Agent<'a> {
    let local = model.is_some_and(|m| m.endpoint().local);
    Agent {
        engine,
        catalog: cat,
        selector: Selector::new(cat)
            .hide_sources(hidden_sources(session, model))
            .sample_values(session.config.llm.send.sample_values.permits(local)),
        counter: TokenCounter::for_model(model.map(|m| m.endpoint().model.as_str())),
        model,
        prompts,
        policy: &AllowAll,
        who: Principal::current(),
        settings,
    }
}

pub async fn run(args: AskArgs, session: &Session) -> Result<Exit, Failure> {
    let question = args.question.join(" ");
    if question.trim().is_empty() {
        return Err(Failure::usage(
            "the question is empty",
            Some("skipper ask \"how many active accounts are there?\""),
        ));
    }
    let format = Format::resolve(session.global.format, std::io::stdout().is_terminal());
    if format == Format::Arrow {
        return Err(Failure::usage(
            "--format arrow is not available for answers",
            Some("use --format json (everything) or csv (rows only)"),
        ));
    }
    let model = if args.offline {
        None
    } else {
        model_for(
            session,
            args.model.as_deref(),
            args.record.as_deref(),
            args.replay.as_deref(),
        )?
    };
    let Some(model) = model else {
        return offline(&args, &question, format, session).await;
    };
    let prompts = prompts_for(session)?;
    let engine = Engine::open(&session.config, &session.engine_options()).await?;
    let (cat, _) = super::catalog::load_catalog(session, Some(&engine)).await?;
    let mut settings = settings_for(session, Some(&model), args.budget);
    settings.dry_run = args.dry_run;
    settings.row_cap = args.max_rows as usize;
    if let Some(n) = args.max_attempts {
        settings.max_attempts = n;
    }
    let agent = agent_for(session, &engine, &cat, Some(&model), &prompts, settings);
    let key = crate::llm::question_key(&question);
    let history: Vec<Turn> = vec![];
    let answer = tokio::select! {
        a = agent.ask(&question, &key, &history) => a?,
        _ = tokio::signal::ctrl_c() => {
            engine.cancel_remote().await;
            return Err(AgentError::Interrupted.into());
        }
    };
    let request = if args.dry_run {
        let sel = agent.context(&question);
        let messages = agent
            .first_messages(&question, &sel, &history)
            .map_err(AgentError::from)?;
        Some(crate::llm::request_body(
            model.endpoint(),
            &messages,
            model.wants_structured(),
        ))
    } else {
        None
    };
    finish(&args, &answer, format, session, request.as_ref())
}

/// Offline mode: the curated-metrics compiler, no model.
async fn offline(
    args: &AskArgs,
    question: &str,
    format: Format,
    session: &Session,
) -> Result<Exit, Failure> {
    let engine = Engine::open(&session.config, &session.engine_options()).await?;
    let (cat, _) = super::catalog::load_catalog(session, Some(&engine)).await?;
    let prompts = Prompts::load(None).map_err(AgentError::from)?;
    let mut settings = settings_for(session, None, args.budget);
    settings.dry_run = args.dry_run;
    settings.row_cap = args.max_rows as usize;
    let agent = Agent {
        engine: &engine,
        catalog: &cat,
        selector: Selector::new(&cat),
        counter: TokenCounter::for_model(None),
        model: None,
        prompts: &prompts,
        policy: &AllowAll,
        who: Principal::current(),
        settings,
    };
    let (answer, _) = tokio::select! {
        a = agent.ask_offline(question, None) => a?,
        _ = tokio::signal::ctrl_c() => {
            engine.cancel_remote().await;
            return Err(AgentError::Interrupted.into());
        }
    };
    finish(args, &answer, format, session, None)
}

/// Print an answer and give its exit code.
fn finish(
    args: &AskArgs,
    answer: &Answer,
    format: Format,
    session: &Session,
    request: Option<&serde_json::Value>,
) -> Result<Exit, Failure> {
    if answer.status == Status::Answered && session.config.catalog.usage_log {
        record_usage(session, answer);
    }
    for a in &answer.provenance.attempts {
        if let Some(d) = &a.drift {
            session.notices.say(&format!(
                "warning: the request of attempt {} drifted from its recording:\n{d}",
                a.n
            ));
        }
    }
    if args.show_sql
        && let Some(sql) = &answer.sql
    {
        eprintln!("{sql}");
    }
    let text = match format {
        Format::Json | Format::Ndjson => answer_json(answer, session, request)?,
        Format::Csv => rows_text(answer, session, Format::Csv)?,
        _ => answer_text(answer, session, request)?,
    };
    write_stdout(text.as_bytes())?;
    Ok(exit_of(answer.status))
}

fn record_usage(session: &Session, answer: &Answer) {
    let Some(sql) = &answer.sql else { return };
    let at = session
        .clock
        .now()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if let Err(e) =
        crate::catalog::usage::record(&crate::config::data_dir(), session.origin.path(), &at, sql)
    {
        tracing::warn!("cannot record the query in the usage log: {e}");
    }
}

/// The rows alone, in a text format.
pub(super) fn rows_text(
    answer: &Answer,
    session: &Session,
    format: Format,
) -> Result<String, Failure> {
    let Some(r) = &answer.result else {
        return Ok(String::new());
    };
    let mut out = Vec::new();
    let mut w = ResultWriter::new(format, &mut out, session.tz)
        .fit_terminal(format == Format::Table && std::io::stdout().is_terminal());
    let io = |e: std::io::Error| Failure {
        exit: Exit::Failure,
        message: format!("cannot render the result: {e}"),
        hint: None,
    };
    w.begin(&r.schema).map_err(io)?;
    for b in &r.batches {
        w.write_batch(b).map_err(io)?;
    }
    w.finish().map_err(io)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The whole answer as one JSON object (see README: "The answer as JSON").
pub fn answer_json(
    answer: &Answer,
    session: &Session,
    request: Option<&serde_json::Value>,
) -> Result<String, Failure> {
    let mut v = serde_json::to_value(answer).expect("an answer serialises");
    if answer.result.is_some() {
        let rows = rows_text(answer, session, Format::Json)?;
        let parsed: serde_json::Value =
            serde_json::from_str(&rows).expect("the JSON writer writes JSON");
        v["result"] = parsed;
    } else {
        v["result"] = serde_json::Value::Null;
    }
    if let Some(r) = request {
        v["request"] = r.clone();
    }
    Ok(format!("{v}\n"))
}

/// The answer for a person: summary, table, warnings, provenance footer.
pub fn answer_text(
    answer: &Answer,
    session: &Session,
    request: Option<&serde_json::Value>,
) -> Result<String, Failure> {
    let mut out = String::new();
    out.push_str(&answer.summary);
    if answer.provenance.mode == "offline" {
        out.push_str(" (compiled offline from the curated metrics: exact, no model)");
    }
    out.push('\n');
    for line in &answer.interpretation {
        out.push_str(&format!("  {line}\n"));
    }
    if answer.result.is_some() {
        out.push('\n');
        out.push_str(&rows_text(answer, session, Format::Table)?);
        if answer.capped {
            out.push_str(&format!(
                "(capped at {} rows; raise --max-rows for more)\n",
                answer.row_count
            ));
        }
    }
    for w in &answer.warnings {
        out.push_str(&format!("warning: {}\n", w.message));
    }
    out.push_str(&footer(answer));
    if let Some(plan) = &answer.plan {
        out.push_str("\nplan:\n");
        for l in plan.lines() {
            out.push_str(&format!("  {l}\n"));
        }
    }
    if let Some(r) = request {
        out.push_str("\nrequest sent to the model (first attempt):\n");
        out.push_str(&serde_json::to_string_pretty(r).unwrap_or_default());
        out.push('\n');
    }
    Ok(out)
}

/// The provenance footer: what was run, on what, decided how, by whom, at what cost.
pub fn footer(answer: &Answer) -> String {
    let p = &answer.provenance;
    let mut out = String::from("\n");
    if let Some(sql) = &answer.sql {
        out.push_str("sql:\n");
        for l in sql.lines() {
            out.push_str(&format!("  {l}\n"));
        }
    }
    for t in &p.tables {
        let sampled = match t.sampled {
            Some(r) => format!("SAMPLED at {r}"),
            None => "unsampled".into(),
        };
        let fresh = match t.freshness.state {
            crate::catalog::fresh::State::Fresh => format!("fresh: {}", t.freshness.detail),
            crate::catalog::fresh::State::Stale => format!("STALE: {}", t.freshness.detail),
            crate::catalog::fresh::State::Unknown => {
                format!("freshness unknown: {}", t.freshness.detail)
            }
        };
        out.push_str(&format!("table: {} ({sampled}; {fresh})\n", t.name));
    }
    if !p.access.is_empty() {
        let mut reasons: Vec<&str> = p.access.iter().map(|d| d.reason.as_str()).collect();
        reasons.dedup();
        let effect = if p
            .access
            .iter()
            .all(|d| d.effect == crate::governance::Effect::Allow)
        {
            "allowed"
        } else {
            "DENIED"
        };
        out.push_str(&format!(
            "access: {effect} for {} ({})\n",
            p.user,
            reasons.join("; ")
        ));
    }
    let mut shaped = Vec::new();
    if !p.metrics.is_empty() {
        shaped.push(format!("metrics {}", p.metrics.join(", ")));
    }
    if !p.terms.is_empty() {
        shaped.push(format!("glossary {}", p.terms.join(", ")));
    }
    if !p.examples.is_empty() {
        shaped.push(format!("{} verified example(s)", p.examples.len()));
    }
    if !p.annotations.is_empty() {
        shaped.push(format!("{} note(s)", p.annotations.len()));
    }
    if !shaped.is_empty() {
        out.push_str(&format!("context: {}\n", shaped.join("; ")));
    }
    let attempts: Vec<String> = p
        .attempts
        .iter()
        .map(|a| match &a.error {
            Some(e) => format!(
                "{}: {} ({})",
                a.n,
                a.outcome,
                crate::llm::first_chars(e, 80)
            ),
            None => format!("{}: {}", a.n, a.outcome),
        })
        .collect();
    out.push_str(&format!("attempts: {}\n", attempts.join("; ")));
    let t = &p.timings;
    out.push_str(&format!(
        "model: {} ({}), {} prompt + {} completion tokens; time {:.0} ms (model {:.0}, query {:.0}, skipper {:.0})\n",
        p.model.as_deref().unwrap_or("none"),
        p.mode,
        p.prompt_tokens,
        p.completion_tokens,
        t.total_ms,
        t.model_ms,
        t.execute_ms,
        t.own_ms
    ));
    out
}
