//! The agent: a plain-English question to a checked, explained answer.
//!
//! question → context (catalog selection within the token budget) → model → parse (exactly one
//! read-only statement) → plan on the engine without executing → access check → execute with the
//! timeout and a row cap → result checks → answer. A parse, plan or execution error, or a result
//! check's finding, goes back to the model with the error and the schema of the tables involved,
//! up to `max_attempts`; every attempt is kept in the answer. Nothing here prints.

pub mod checks;
pub mod offline;
pub mod prompts;
pub mod when;

use crate::catalog::Catalog;
use crate::context::{Selection, Selector, tokens::TokenCounter};
use crate::engine::{Engine, EngineError};
use crate::governance::{AccessRequest, Decision, Policy, Principal, denials};
use crate::llm::extract::{self, ModelAnswer};
use crate::llm::{LlmError, Message, Model, Role};
use checks::Finding;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use minijinja::context;
use prompts::{PromptError, Prompts};
use std::time::Instant;

/// The version of the JSON shape of an answer (`skipper ask --format json`).
pub const ANSWER_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Model(#[from] LlmError),
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error("interrupted")]
    Interrupted,
    /// Offline, and the question does not map onto the curated metrics.
    #[error("this question needs a model: {0}")]
    NeedsModel(#[from] offline::NeedsModel),
}

/// How the agent behaves for one session.
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_attempts: u32,
    /// Rows kept of a result; a result with more says it was capped.
    pub row_cap: usize,
    /// Tokens of catalog context.
    pub budget: usize,
    /// Plan but do not execute.
    pub dry_run: bool,
    /// "now" as RFC 3339, and the zone questions are read in.
    pub now: String,
    pub timezone: String,
    /// Result rows may go to the model for the one-sentence summary.
    pub send_results: bool,
    /// Earlier turns the model sees for a follow-up.
    pub max_history: usize,
}

/// One earlier question and the SQL that answered it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Turn {
    pub question: String,
    pub sql: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A result (possibly with warnings).
    Answered,
    /// `--dry-run`: SQL planned, not run.
    Planned,
    /// The model (or the data) cannot answer; no SQL was run.
    Abstained,
    /// Every attempt failed to produce SQL that plans.
    CouldNotAnswer,
    /// The SQL was not read-only, or access was denied.
    Refused,
    /// The query failed while running (a source error, a timeout).
    QueryFailed,
}

/// One try at the question.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attempt {
    pub n: u32,
    pub sql: Option<String>,
    /// ok, parse, plan, access, execution, result_check, abstained, refused
    pub outcome: String,
    pub error: Option<String>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub model_ms: f64,
    /// The model's request was replayed and differs from the recording.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<String>,
}

/// A table the answer read, with what makes it trustworthy or not.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableUse {
    pub name: String,
    pub sampled: Option<f64>,
    pub freshness: crate::catalog::fresh::Judgement,
    pub row_count: Option<u64>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timings {
    pub context_ms: f64,
    pub model_ms: f64,
    pub parse_ms: f64,
    pub plan_ms: f64,
    pub access_ms: f64,
    pub execute_ms: f64,
    pub checks_ms: f64,
    pub summary_ms: f64,
    pub total_ms: f64,
    /// Skipper's own time: everything but the model and the query's execution.
    pub own_ms: f64,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Provenance {
    pub user: String,
    /// "model", "replay" or "offline".
    pub mode: String,
    pub model: Option<String>,
    pub tables: Vec<TableUse>,
    pub columns: Vec<String>,
    pub metrics: Vec<String>,
    pub terms: Vec<String>,
    pub annotations: Vec<String>,
    pub examples: Vec<String>,
    pub access: Vec<Decision>,
    pub attempts: Vec<Attempt>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub context_tokens: usize,
    pub tokenizer: String,
    pub timings: Timings,
}

/// A result kept in memory (at most the row cap).
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Answer {
    pub version: u32,
    pub question: String,
    pub status: Status,
    pub summary: String,
    pub sql: Option<String>,
    pub explanation: Option<String>,
    /// How an offline-compiled question was read, one line per part.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interpretation: Vec<String>,
    /// Why there is no result (abstention, refusal, the last error).
    pub reason: Option<String>,
    #[serde(skip)]
    pub result: Option<QueryResult>,
    pub row_count: usize,
    pub capped: bool,
    /// `--dry-run`: where each part would run.
    pub plan: Option<String>,
    pub warnings: Vec<Finding>,
    pub provenance: Provenance,
}

impl Answer {
    /// No answer yet: could not answer, until an attempt says otherwise.
    pub fn empty(question: &str, provenance: Provenance) -> Answer {
        Answer {
            version: ANSWER_VERSION,
            question: question.to_string(),
            status: Status::CouldNotAnswer,
            summary: String::new(),
            sql: None,
            explanation: None,
            interpretation: vec![],
            reason: None,
            result: None,
            row_count: 0,
            capped: false,
            plan: None,
            warnings: vec![],
            provenance,
        }
    }
}

pub struct Agent<'a> {
    pub engine: &'a Engine,
    pub catalog: &'a Catalog,
    pub selector: Selector<'a>,
    pub counter: TokenCounter,
    pub model: Option<&'a Model>,
    pub prompts: &'a Prompts,
    pub policy: &'a dyn Policy,
    pub who: Principal,
    pub settings: Settings,
}

/// What one attempt ended in, inside the loop.
enum Step {
    /// Try again with this stage and error.
    Retry {
        stage: &'static str,
        error: String,
        schema: String,
    },
    Done,
}

impl Agent<'_> {
    /// The context a question gets (also what `\context` shows).
    pub fn context(&self, question: &str) -> Selection {
        self.selector
            .select(question, self.settings.budget, &self.counter)
    }

    /// The context a follow-up gets: selected for the conversation's recent questions and this
    /// one together, so "only enterprise plans" still sees the tables the question was about.
    pub fn context_for(&self, question: &str, history: &[Turn]) -> Selection {
        if history.is_empty() {
            return self.context(question);
        }
        let h = &history[history.len().saturating_sub(self.settings.max_history)..];
        let focus = h
            .iter()
            .map(|t| t.question.as_str())
            .chain(std::iter::once(question))
            .collect::<Vec<_>>()
            .join(" / ");
        let mut sel = self.context(&focus);
        sel.question = question.to_string();
        sel
    }

    /// The system and first user message for a question.
    pub fn first_messages(
        &self,
        question: &str,
        selection: &Selection,
        history: &[Turn],
    ) -> Result<Vec<Message>, PromptError> {
        let h = &history[history.len().saturating_sub(self.settings.max_history)..];
        let system = self.prompts.render(
            "system.md",
            context! { now => &self.settings.now, timezone => &self.settings.timezone },
        )?;
        let user = self.prompts.render(
            "generate.md",
            context! { question => question, context => &selection.text, history => h },
        )?;
        Ok(vec![
            Message::new(Role::System, system),
            Message::new(Role::User, user),
        ])
    }

    /// Answer one question. `key` names the model exchanges for record and replay.
    pub async fn ask(
        &self,
        question: &str,
        key: &str,
        history: &[Turn],
    ) -> Result<Answer, AgentError> {
        let started = Instant::now();
        let mut t = Timings::default();
        let sel = self.context_for(question, history);
        t.context_ms = ms(started);
        let model = self.model.ok_or(LlmError::NotConfigured)?;
        let endpoint = model.endpoint();
        let mut answer = Answer::empty(
            question,
            Provenance {
                user: self.who.user.clone(),
                mode: if matches!(model, Model::Replay(..)) {
                    "replay".into()
                } else {
                    "model".into()
                },
                model: Some(endpoint.model.clone()),
                metrics: sel.metrics.iter().map(|m| m.name.clone()).collect(),
                terms: sel.terms.iter().map(|m| m.name.clone()).collect(),
                annotations: sel.annotations.clone(),
                examples: sel.examples.iter().map(|m| m.name.clone()).collect(),
                context_tokens: sel.tokens,
                tokenizer: sel.tokenizer.clone(),
                ..Default::default()
            },
        );
        let mut messages = self.first_messages(question, &sel, history)?;
        let mut last_findings: Vec<Finding> = Vec::new();
        let mut last_stage = "";
        for n in 1..=self.settings.max_attempts.max(1) {
            let reply = model
                .chat(
                    &format!("{key}.attempt-{n}"),
                    &messages,
                    model.wants_structured(),
                )
                .await?;
            t.model_ms += reply.ms;
            answer.provenance.prompt_tokens += reply.prompt_tokens;
            answer.provenance.completion_tokens += reply.completion_tokens;
            if !reply.model.is_empty() {
                answer.provenance.model = Some(reply.model.clone());
            }
            let mut attempt = Attempt {
                n,
                sql: None,
                outcome: "ok".into(),
                error: None,
                prompt_tokens: reply.prompt_tokens,
                completion_tokens: reply.completion_tokens,
                model_ms: round1(reply.ms),
                drift: reply.drift.clone(),
            };
            let step = self
                .attempt(
                    question,
                    &reply.content,
                    &mut attempt,
                    &mut answer,
                    &mut t,
                    &mut last_findings,
                )
                .await?;
            last_stage = match &step {
                Step::Retry { stage, .. } => stage,
                Step::Done => "",
            };
            answer.provenance.attempts.push(attempt);
            match step {
                Step::Done => break,
                Step::Retry {
                    stage,
                    error,
                    schema,
                } => {
                    answer.reason = Some(format!("{stage}: {error}"));
                    if n == self.settings.max_attempts.max(1) {
                        break;
                    }
                    let repair = self.prompts.render(
                        "repair.md",
                        context! {
                            sql => answer.sql.clone().unwrap_or_default(),
                            stage => stage_words(stage),
                            error => error,
                            schema => schema,
                        },
                    )?;
                    messages.push(Message::new(Role::Assistant, reply.content.clone()));
                    messages.push(Message::new(Role::User, repair));
                }
            }
        }
        // A result-check retry that ran out of attempts keeps its result and warnings.
        if answer.result.is_some() && answer.status == Status::Answered {
            answer.reason = None;
        } else if answer.status == Status::CouldNotAnswer && last_stage == "execution" {
            answer.status = Status::QueryFailed;
        }
        if answer.status == Status::Answered {
            let s = Instant::now();
            answer.summary = self.summary(&answer, key).await;
            t.summary_ms = ms(s);
        } else if answer.summary.is_empty() {
            answer.summary = match answer.status {
                Status::Planned => "planned, not run (--dry-run)".into(),
                _ => answer.reason.clone().unwrap_or_default(),
            };
        }
        t.total_ms = ms(started);
        t.own_ms = (t.total_ms - t.model_ms - t.execute_ms).max(0.0);
        answer.provenance.timings = round_timings(t);
        Ok(answer)
    }

    /// One attempt from the model's reply to a result (or the reason to try again).
    async fn attempt(
        &self,
        question: &str,
        content: &str,
        attempt: &mut Attempt,
        answer: &mut Answer,
        t: &mut Timings,
        last_findings: &mut Vec<Finding>,
    ) -> Result<Step, AgentError> {
        let s = Instant::now();
        let parsed = extract::parse(content);
        let (sql, explanation) = match parsed {
            Err(e) => {
                t.parse_ms += ms(s);
                attempt.outcome = "parse".into();
                attempt.error = Some(e.0.clone());
                return Ok(Step::Retry {
                    stage: "parse",
                    error: e.0,
                    schema: String::new(),
                });
            }
            Ok(ModelAnswer::Abstain { reason }) => {
                t.parse_ms += ms(s);
                attempt.outcome = "abstained".into();
                answer.status = Status::Abstained;
                answer.reason = Some(reason.clone());
                answer.summary = format!("Skipper cannot answer this from the data: {reason}");
                return Ok(Step::Done);
            }
            Ok(ModelAnswer::Sql {
                sql, explanation, ..
            }) => (sql, explanation),
        };
        attempt.sql = Some(sql.clone());
        answer.sql = Some(sql.clone());
        answer.explanation = (!explanation.is_empty()).then_some(explanation);
        self.run_sql(question, sql, s, attempt, answer, t, last_findings)
            .await
    }

    /// Check, plan, access-check, run and check the result of one statement.
    #[allow(clippy::too_many_arguments)]
    async fn run_sql(
        &self,
        question: &str,
        sql: String,
        s: Instant,
        attempt: &mut Attempt,
        answer: &mut Answer,
        t: &mut Timings,
        last_findings: &mut Vec<Finding>,
    ) -> Result<Step, AgentError> {
        let statement = match self.engine.check(&sql, false) {
            Ok(mut v) => v.pop().expect("one statement"),
            Err(EngineError::Refused(r)) if r.is_write() => {
                t.parse_ms += ms(s);
                attempt.outcome = "refused".into();
                attempt.error = Some(r.to_string());
                answer.status = Status::Refused;
                answer.reason = Some(format!("the model's SQL was refused and not run: {r}"));
                return Ok(Step::Done);
            }
            Err(e) => {
                t.parse_ms += ms(s);
                attempt.outcome = "parse".into();
                attempt.error = Some(e.to_string());
                return Ok(Step::Retry {
                    stage: "parse",
                    error: e.to_string(),
                    schema: String::new(),
                });
            }
        };
        t.parse_ms += ms(s);

        let s = Instant::now();
        let planned = self.engine.plan(&statement).await;
        t.plan_ms += ms(s);
        let planned = match planned {
            Ok(p) => p,
            Err(e) => {
                attempt.outcome = "plan".into();
                attempt.error = Some(e.to_string());
                let schema = self.schema_for(&sql);
                return Ok(Step::Retry {
                    stage: "plan",
                    error: e.to_string(),
                    schema,
                });
            }
        };

        let s = Instant::now();
        let (tables, columns) = self.catalog.facts_of(&sql).unwrap_or_default();
        let request = AccessRequest {
            tables: tables.clone(),
            columns: columns.clone(),
        };
        let decisions = self.policy.decide(&self.who, &request);
        let denied: Vec<String> = denials(&decisions)
            .iter()
            .map(|d| format!("{} ({})", d.object, d.reason))
            .collect();
        answer.provenance.access = decisions;
        answer.provenance.tables = self.table_uses(&tables);
        answer.provenance.columns = columns;
        t.access_ms += ms(s);
        if !denied.is_empty() {
            attempt.outcome = "access".into();
            attempt.error = Some(format!("denied: {}", denied.join(", ")));
            answer.status = Status::Refused;
            answer.reason = Some(format!("access denied: {}", denied.join(", ")));
            return Ok(Step::Done);
        }

        if self.settings.dry_run {
            answer.plan = Some(self.engine.explain(&planned).plan);
            answer.status = Status::Planned;
            return Ok(Step::Done);
        }

        let s = Instant::now();
        let run = self
            .engine
            .guarded(collect(self.engine, &planned, self.settings.row_cap))
            .await;
        t.execute_ms += ms(s);
        let (batches, rows, capped) = match run {
            Ok(r) => r,
            Err(EngineError::Interrupted) => return Err(AgentError::Interrupted),
            Err(e @ (EngineError::Timeout { .. } | EngineError::SourceUnavailable { .. })) => {
                attempt.outcome = "execution".into();
                attempt.error = Some(e.to_string());
                answer.status = Status::QueryFailed;
                answer.reason = Some(e.to_string());
                return Ok(Step::Done);
            }
            Err(e) => {
                attempt.outcome = "execution".into();
                attempt.error = Some(e.to_string());
                let schema = self.schema_for(&sql);
                return Ok(Step::Retry {
                    stage: "execution",
                    error: e.to_string(),
                    schema,
                });
            }
        };
        answer.result = Some(QueryResult {
            schema: planned.schema.clone(),
            batches,
        });
        answer.row_count = rows;
        answer.capped = capped;
        answer.status = Status::Answered;

        let s = Instant::now();
        let read: Vec<String> = answer
            .provenance
            .tables
            .iter()
            .map(|t| t.name.clone())
            .collect();
        let mut findings = checks::static_checks(self.catalog, question, &statement, &read, rows);
        findings.extend(checks::value_probes(self.engine, self.catalog, &statement, &read).await);
        findings.extend(checks::join_checks(self.engine, self.catalog, &sql).await);
        t.checks_ms += ms(s);
        answer.warnings = findings.clone();
        if findings.is_empty() {
            return Ok(Step::Done);
        }
        // The same finding twice: the answer stands with its warning.
        let repeated = findings
            .iter()
            .all(|f| last_findings.iter().any(|l| l.kind == f.kind));
        *last_findings = findings.clone();
        if repeated {
            return Ok(Step::Done);
        }
        attempt.outcome = "result_check".into();
        let error = findings
            .iter()
            .map(|f| f.message.clone())
            .collect::<Vec<_>>()
            .join("; ");
        attempt.error = Some(error.clone());
        Ok(Step::Retry {
            stage: "result_check",
            error,
            schema: self.schema_for(&sql),
        })
    }

    /// Answer with no model: compile the question onto a curated metric, then check, plan,
    /// access-check, run and check it as any other SQL. `previous` refines an earlier
    /// question's slots (a follow-up).
    pub async fn ask_offline(
        &self,
        question: &str,
        previous: Option<&offline::Slots>,
    ) -> Result<(Answer, offline::Slots), AgentError> {
        let started = Instant::now();
        let mut t = Timings::default();
        let tz: chrono_tz::Tz = self.settings.timezone.parse().unwrap_or(chrono_tz::UTC);
        let now = chrono::DateTime::parse_from_rfc3339(&self.settings.now)
            .map(|d| d.with_timezone(&tz))
            .unwrap_or_else(|_| chrono::Utc::now().with_timezone(&tz));
        let compiled = offline::compile(self.catalog, question, now, previous)?;
        t.context_ms = ms(started);
        let explanation = match &compiled.slots.range {
            Some(r) => format!("{}, {}", compiled.metric, r.phrase),
            None => compiled.metric.clone(),
        };
        let mut answer = Answer::empty(
            question,
            Provenance {
                user: self.who.user.clone(),
                mode: "offline".into(),
                metrics: vec![compiled.metric.clone()],
                ..Default::default()
            },
        );
        answer.sql = Some(compiled.sql.clone());
        answer.explanation = Some(explanation);
        answer.interpretation = compiled.interpretation.clone();
        let mut attempt = Attempt {
            n: 1,
            sql: Some(compiled.sql.clone()),
            outcome: "ok".into(),
            error: None,
            prompt_tokens: 0,
            completion_tokens: 0,
            model_ms: 0.0,
            drift: None,
        };
        let mut findings = Vec::new();
        let step = self
            .run_sql(
                question,
                compiled.sql.clone(),
                Instant::now(),
                &mut attempt,
                &mut answer,
                &mut t,
                &mut findings,
            )
            .await?;
        if let Step::Retry { stage, error, .. } = step {
            // A compiled query that fails is a catalog problem, reported as such.
            answer.status = if stage == "execution" {
                Status::QueryFailed
            } else {
                Status::CouldNotAnswer
            };
            answer.reason = Some(format!("{stage}: {error}"));
            if stage == "result_check" {
                answer.status = Status::Answered;
                answer.reason = None;
                attempt.outcome = "ok".into();
                attempt.error = None;
            }
        }
        answer.provenance.attempts.push(attempt);
        answer.summary = match answer.status {
            Status::Answered => describe_result(
                answer.explanation.as_deref(),
                answer.row_count,
                answer.capped,
                &preview_rows(answer.result.as_ref(), 1),
            ),
            Status::Planned => "planned, not run (--dry-run)".into(),
            _ => answer.reason.clone().unwrap_or_default(),
        };
        t.total_ms = ms(started);
        t.own_ms = (t.total_ms - t.execute_ms).max(0.0);
        answer.provenance.timings = round_timings(t);
        Ok((answer, compiled.slots))
    }

    /// The catalog's rendering of the tables a query names, for a repair prompt.
    fn schema_for(&self, sql: &str) -> String {
        let (tables, _) = self.catalog.facts_of(sql).unwrap_or_default();
        let mut out = String::new();
        for name in tables.iter().take(6) {
            if let Some(t) = self.catalog.table(name) {
                out.push_str(&format!("{}(", t.name));
                out.push_str(
                    &t.columns
                        .iter()
                        .map(|c| format!("{} {}", c.name, c.data_type.as_deref().unwrap_or("?")))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                out.push_str(")\n");
            }
        }
        out
    }

    fn table_uses(&self, tables: &[String]) -> Vec<TableUse> {
        let now = chrono::DateTime::parse_from_rfc3339(&self.settings.now)
            .map(|d| d.with_timezone(&chrono::Utc))
            .unwrap_or_else(|_| chrono::Utc::now());
        tables
            .iter()
            .filter_map(|n| self.catalog.table(n))
            .map(|t| TableUse {
                name: t.name.clone(),
                sampled: t
                    .sampled
                    .as_ref()
                    .and_then(|s| s.rate())
                    .filter(|r| !r.is_nan()),
                freshness: crate::catalog::fresh::judge(t, now),
                row_count: t.row_count,
            })
            .collect()
    }

    /// One sentence: the model's, from the result rows, when they may be sent; otherwise
    /// built here from the model's explanation and the result's shape.
    async fn summary(&self, answer: &Answer, key: &str) -> String {
        let rows = preview_rows(answer.result.as_ref(), 20);
        if self.settings.send_results
            && let Some(model) = self.model
            && let Ok(prompt) = self.prompts.render(
                "summarise.md",
                context! {
                    question => &answer.question,
                    sql => answer.sql.clone().unwrap_or_default(),
                    columns => &rows.0,
                    rows => &rows.1,
                    row_count => answer.row_count,
                    capped => answer.capped,
                },
            )
        {
            match model
                .chat(
                    &format!("{key}.summary"),
                    &[Message::new(Role::User, prompt)],
                    false,
                )
                .await
            {
                Ok(r) if !r.content.trim().is_empty() => {
                    return r
                        .content
                        .trim()
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("no model summary: {e}"),
            }
        }
        describe_result(
            answer.explanation.as_deref(),
            answer.row_count,
            answer.capped,
            &rows,
        )
    }
}

/// Read a planned query's batches up to `cap` rows; the rest is not read.
async fn collect(
    engine: &Engine,
    planned: &crate::engine::Planned,
    cap: usize,
) -> Result<(Vec<RecordBatch>, usize, bool), EngineError> {
    use futures::StreamExt;
    let mut stream = engine.execute(planned)?;
    let mut out = Vec::new();
    let mut rows = 0usize;
    while let Some(b) = stream.next().await {
        let b = b.map_err(|e| crate::engine::query_error(&e))?;
        if rows + b.num_rows() > cap {
            out.push(b.slice(0, cap - rows));
            return Ok((out, cap, true));
        }
        rows += b.num_rows();
        out.push(b);
    }
    Ok((out, rows, false))
}

/// Column names and the first `n` rows as text.
pub fn preview_rows(result: Option<&QueryResult>, n: usize) -> (Vec<String>, Vec<Vec<String>>) {
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let Some(r) = result else {
        return (vec![], vec![]);
    };
    let cols = r.schema.fields().iter().map(|f| f.name().clone()).collect();
    let opts = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for b in &r.batches {
        let fmts: Vec<_> = b
            .columns()
            .iter()
            .filter_map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).ok())
            .collect();
        for i in 0..b.num_rows() {
            if rows.len() == n {
                return (cols, rows);
            }
            rows.push(fmts.iter().map(|f| f.value(i).to_string()).collect());
        }
    }
    (cols, rows)
}

/// A one-sentence summary without a model.
pub fn describe_result(
    explanation: Option<&str>,
    rows: usize,
    capped: bool,
    preview: &(Vec<String>, Vec<Vec<String>>),
) -> String {
    let what = explanation
        .map(|e| e.trim().trim_end_matches('.').to_string())
        .filter(|e| !e.is_empty());
    if rows == 1 && preview.0.len() == 1 && !preview.1.is_empty() {
        let v = &preview.1[0][0];
        return match what {
            Some(w) => format!("{w}: {v}."),
            None => format!("{} = {v}.", preview.0[0]),
        };
    }
    let n = if capped {
        format!("the first {rows} rows (capped)")
    } else if rows == 1 {
        "1 row".into()
    } else {
        format!("{rows} rows")
    };
    match what {
        Some(w) => format!("{w}: {n}."),
        None => format!("{n}."),
    }
}

fn stage_words(stage: &str) -> &'static str {
    match stage {
        "parse" => "It could not be read as one read-only SQL statement",
        "plan" => "It does not plan (a name, type or function is wrong)",
        "execution" => "It failed while running",
        "result_check" => "It ran, but a check of the result found a problem",
        _ => "It failed",
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round_timings(t: Timings) -> Timings {
    Timings {
        context_ms: round1(t.context_ms),
        model_ms: round1(t.model_ms),
        parse_ms: round1(t.parse_ms),
        plan_ms: round1(t.plan_ms),
        access_ms: round1(t.access_ms),
        execute_ms: round1(t.execute_ms),
        checks_ms: round1(t.checks_ms),
        summary_ms: round1(t.summary_ms),
        total_ms: round1(t.total_ms),
        own_ms: round1(t.own_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_without_a_model() {
        let one = (vec!["n".to_string()], vec![vec!["42".to_string()]]);
        assert_eq!(
            describe_result(Some("Active accounts."), 1, false, &one),
            "Active accounts: 42."
        );
        assert_eq!(describe_result(None, 1, false, &one), "n = 42.");
        let many = (vec!["a".into(), "b".into()], vec![]);
        assert_eq!(
            describe_result(Some("Requests by plan"), 4, false, &many),
            "Requests by plan: 4 rows."
        );
        assert_eq!(
            describe_result(None, 100, true, &many),
            "the first 100 rows (capped)."
        );
    }
}
