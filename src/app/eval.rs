//! `skipper eval FILE…`: golden question sets through exactly the agent `ask` uses, scored by
//! executing gold and generated SQL on the same lake; `skipper eval import` converts CSV sets.

use super::ask::{agent_for, model_for, prompts_for, settings_for};
use super::{Exit, Failure, Notices, write_stdout};
use crate::agent::{Agent, AgentError, Answer, Status, Turn, offline::Slots};
use crate::catalog::{Catalog, sqlfacts};
use crate::cli::{EvalAction, EvalArgs, GlobalArgs, ImportArgs};
use crate::engine::Engine;
use crate::eval::report::{REPORT_VERSION, Record, Report, Summary, Verdict};
use crate::eval::score::{Rows, compare, is_ordered};
use crate::eval::{Expect, Item, Loaded};
use crate::llm::LlmError;
use crate::render::Format;
use futures::StreamExt;
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

pub async fn run(args: EvalArgs, global: &GlobalArgs, notices: Notices) -> Result<Exit, Failure> {
    if let Some(EvalAction::Import(a)) = args.action {
        return import(a);
    }
    if args.files.is_empty() {
        return Err(Failure::usage(
            "no eval files given",
            Some("skipper eval evals/demo.yaml (or: skipper eval import FILE.csv)"),
        ));
    }
    let mut sets = Vec::new();
    for f in &args.files {
        sets.push(crate::eval::load(f).map_err(|e| {
            Failure::usage(
                e.to_string(),
                Some("the eval format is described in evals/README.md"),
            )
        })?);
    }
    // One pinned now and one demo lake for the run.
    let pinned: BTreeSet<Option<&String>> = sets.iter().map(|s| s.set.now.as_ref()).collect();
    let demos: BTreeSet<Option<(&String, u64)>> = sets
        .iter()
        .map(|s| s.set.demo.as_ref().map(|d| (&d.anchor, d.seed)))
        .collect();
    if pinned.len() > 1 || demos.len() > 1 {
        return Err(Failure::usage(
            "these eval files pin different times or demo lakes",
            Some("run them one at a time"),
        ));
    }
    let mut global = global.clone();
    if global.now.is_none() {
        global.now = sets[0].set.now.clone();
    }
    if global.timezone.is_none() {
        global.timezone = sets[0].set.timezone.clone();
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let env_config = std::env::var("SKIPPER_CONFIG").ok();
    let configured =
        crate::config::locate(global.config.as_deref(), env_config.as_deref(), &cwd).is_some();
    if !configured && let Some(d) = &sets[0].set.demo {
        // The set's own demo lake, beside the default one, so the default is left alone.
        let anchor = chrono::NaiveDate::parse_from_str(&d.anchor, "%Y-%m-%d")
            .expect("checked when the set loaded");
        let dir = crate::config::data_dir()
            .join("eval-demo")
            .join(format!("seed{}-{}", d.seed, d.anchor));
        crate::demo::ensure(&crate::demo::DemoRequest {
            dir: dir.clone(),
            seed: d.seed,
            anchor,
            scale: 1,
            force: false,
            postgres: None,
        })
        .await
        .map_err(|e| Failure {
            exit: Exit::Failure,
            message: format!("cannot create the eval's demo lake: {e}"),
            hint: Some("set SKIPPER_DATA_DIR to a writable folder, or pass --config".into()),
        })?;
        global.config = Some(crate::demo::config_path(&dir));
    }
    let mut session = super::session(global, notices).await?;
    if let Some(url) = &args.base_url {
        session.config.llm.base_url = Some(url.clone());
    }
    let model = if args.offline {
        None
    } else {
        model_for(
            &session,
            args.model.as_deref(),
            args.record.as_deref(),
            args.replay.as_deref(),
        )?
    };
    if model.is_none() && !args.offline {
        session
            .notices
            .say("skipper: no model configured; scoring the offline compiler (--offline)");
    }
    let prompts = prompts_for(&session)?;
    let engine = Engine::open(&session.config, &session.engine_options()).await?;
    let (cat, _) = super::catalog::load_catalog(&session, Some(&engine)).await?;
    let mut settings = settings_for(&session, model.as_ref(), None);
    settings.row_cap = 1_000_000;
    // Summaries are not scored; asking for them would cost tokens and recordings.
    settings.send_results = false;
    if let Some(n) = args.max_attempts {
        settings.max_attempts = n;
    }
    let agent = agent_for(&session, &engine, &cat, model.as_ref(), &prompts, settings);
    let mode = match &model {
        None => "offline",
        Some(crate::llm::Model::Replay(..)) => "replay",
        Some(_) => "model",
    };
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

    // The chains to run: any chain with a selected item runs whole (a follow-up needs the
    // questions before it); only selected items are scored.
    let mut work: Vec<(String, f64, Vec<&Item>)> = Vec::new();
    for s in &sets {
        let name = s.name();
        let tolerance = s.set.defaults.tolerance.unwrap_or(1e-6);
        for chain in s.chains() {
            if chain.iter().any(|i| crate::eval::selected(i, &args.filter)) {
                work.push((name.clone(), tolerance, chain));
            }
        }
    }
    if work.is_empty() {
        return Err(Failure::usage(
            format!("--filter {} selects no question", args.filter.join(",")),
            Some("filter by an id, an id prefix ending in *, or a category"),
        ));
    }
    let total: usize = work
        .iter()
        .map(|(_, _, c)| {
            c.iter()
                .filter(|i| crate::eval::selected(i, &args.filter))
                .count()
        })
        .sum();
    let bar = if std::io::stderr().is_terminal() && !session.global.quiet {
        indicatif::ProgressBar::new(total as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .expect("a valid template"),
    );
    let price = session.config.llm.price;
    let filter = &args.filter;
    let runs = futures::stream::iter(work.iter().map(|(set, tolerance, chain)| {
        let agent = &agent;
        let cat = &cat;
        let bar = &bar;
        async move {
            let mut out = Vec::new();
            let mut history: Vec<Turn> = Vec::new();
            let mut slots: Option<Slots> = None;
            let mut parent: Option<String> = None;
            for item in chain {
                let rec = run_item(
                    agent,
                    cat,
                    (set, *tolerance),
                    item,
                    (&mut history, &mut slots),
                    price,
                )
                .await;
                let rec = match rec {
                    Ok(mut r) => {
                        r.follows = parent.clone();
                        r
                    }
                    Err(f) => return Err(f),
                };
                parent = Some(item.id.clone());
                if crate::eval::selected(item, filter) {
                    bar.inc(1);
                    bar.set_message(format!("{} {:?}", rec.id, rec.verdict));
                    out.push(rec);
                }
            }
            Ok::<_, Failure>(out)
        }
    }))
    .buffered(usize::from(args.jobs));
    let chunks: Vec<Result<Vec<Record>, Failure>> = runs.collect().await;
    bar.finish_and_clear();
    let mut records = Vec::new();
    for c in chunks {
        records.extend(c?);
    }
    let mut report = Report {
        version: REPORT_VERSION,
        sets: sets.iter().map(Loaded::name).collect(),
        mode: mode.into(),
        model: model.as_ref().map(|m| m.endpoint().model.clone()),
        now: session.global.now.clone(),
        started_at,
        overall: Summary::default(),
        categories: Default::default(),
        records,
        comparison: None,
    };
    report.summarise();
    if let Some(b) = &args.baseline {
        let text = std::fs::read_to_string(b).map_err(|e| {
            Failure::usage(
                format!("cannot read the baseline {}: {e}", b.display()),
                Some("--baseline takes the report.json of an earlier eval run"),
            )
        })?;
        let old: Report = serde_json::from_str(&text).map_err(|e| {
            Failure::usage(
                format!("{} is not an eval report: {e}", b.display()),
                Some("--baseline takes the report.json of an earlier eval run"),
            )
        })?;
        report.comparison = Some(report.compare(&old, &b.display().to_string()));
    }
    let dir = args.out.clone().unwrap_or_else(|| {
        crate::config::data_dir().join("evals").join(format!(
            "{}-{}",
            report.sets.join("+"),
            chrono::Utc::now().format("%Y%m%dT%H%M%S")
        ))
    });
    write_reports(&dir, &report)?;
    let format = Format::resolve(session.global.format, std::io::stdout().is_terminal());
    let text = match format {
        Format::Json | Format::Ndjson => {
            serde_json::to_string_pretty(&report).expect("a report serialises") + "\n"
        }
        _ => report_text(&report),
    };
    write_stdout(text.as_bytes())?;
    session.notices.say(&format!(
        "report: {}, {}",
        dir.join("report.json").display(),
        dir.join("report.md").display()
    ));
    if report.overall.drift > 0 {
        session.notices.say(&format!(
            "warning: {} questions' requests drifted from their recordings (re-record with --record DIR)",
            report.overall.drift
        ));
    }
    exit_of(&report, &args)
}

/// The run's exit code: a run error (no model, a missing recording) 4; a broken gold 2; accuracy
/// under `--min-accuracy`, or a regression with `--fail-on-regression`, 1.
fn exit_of(report: &Report, args: &EvalArgs) -> Result<Exit, Failure> {
    let first = |v: Verdict| report.records.iter().find(|r| r.verdict == v);
    if let Some(r) = first(Verdict::Error) {
        return Err(Failure {
            exit: Exit::ModelUnavailable,
            message: format!(
                "{} questions could not be asked; {}: {}",
                report.overall.errors,
                r.id,
                r.reason.as_deref().unwrap_or("")
            ),
            hint: Some(
                "with --replay, record the set first (--record DIR against a model); otherwise configure a model or use --offline"
                    .into(),
            ),
        });
    }
    if let Some(r) = first(Verdict::BrokenGold) {
        return Err(Failure::usage(
            format!(
                "{} broken gold queries; {}: {}",
                report.overall.broken_gold,
                r.id,
                r.reason.as_deref().unwrap_or("")
            ),
            Some("fix the gold SQL in the eval file: these questions were not scored"),
        ));
    }
    if let Some(min) = args.min_accuracy
        && report.overall.accuracy < min
    {
        return Err(Failure {
            exit: Exit::Negative,
            message: format!(
                "accuracy {:.1}% is below --min-accuracy {:.1}%",
                report.overall.accuracy * 100.0,
                min * 100.0
            ),
            hint: None,
        });
    }
    if args.fail_on_regression
        && let Some(c) = &report.comparison
        && !c.regressed.is_empty()
    {
        return Err(Failure {
            exit: Exit::Negative,
            message: format!(
                "{} questions regressed against {}: {}",
                c.regressed.len(),
                c.baseline,
                c.regressed.join(", ")
            ),
            hint: None,
        });
    }
    Ok(Exit::Success)
}

/// Write report.json and report.md, each atomically.
fn write_reports(dir: &Path, report: &Report) -> Result<(), Failure> {
    let fail = |e: std::io::Error| Failure {
        exit: Exit::Failure,
        message: format!("cannot write the report to {}: {e}", dir.display()),
        hint: Some("pass --out DIR with a writable folder".into()),
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let json = serde_json::to_string_pretty(report).expect("a report serialises") + "\n";
    for (name, text) in [("report.json", json), ("report.md", report.markdown())] {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                fail(e)
            })?;
    }
    Ok(())
}

/// The report for a terminal: a table per category, then what was not correct.
fn report_text(report: &Report) -> String {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "category",
        "questions",
        "accuracy",
        "answered",
        "valid SQL",
        "attempts",
        "table recall",
        "column recall",
        "tokens in/out",
        "p50 ms",
        "p95 ms",
    ]);
    let pc = |x: f64| format!("{:.1}%", x * 100.0);
    let opt = |x: Option<f64>| x.map(pc).unwrap_or_else(|| "–".into());
    let row = |name: &str, m: &Summary| {
        vec![
            name.to_string(),
            m.questions.to_string(),
            format!("{} ({}/{})", pc(m.accuracy), m.correct, m.scored),
            m.answered.to_string(),
            opt(m.valid_sql_rate),
            format!("{:.2}", m.mean_attempts),
            opt(m.table_recall),
            opt(m.column_recall),
            format!("{}/{}", m.prompt_tokens, m.completion_tokens),
            format!("{:.1}", m.total_ms_p50),
            format!("{:.1}", m.total_ms_p95),
        ]
    };
    for (k, m) in &report.categories {
        t.add_row(row(k, m));
    }
    t.add_row(row("all", &report.overall));
    let mut s = format!(
        "{} ({}{}): {} of {} correct, {:.1}%\n{t}\n",
        report.sets.join(", "),
        report.mode,
        report
            .model
            .as_ref()
            .map(|m| format!(", {m}"))
            .unwrap_or_default(),
        report.overall.correct,
        report.overall.scored,
        report.overall.accuracy * 100.0
    );
    if !report.overall.stage_ms_mean.is_empty() {
        s.push_str(&format!(
            "mean ms per stage: {}\n",
            report
                .overall
                .stage_ms_mean
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(c) = report.overall.cost {
        s.push_str(&format!("estimated cost: {c:.4}\n"));
    }
    if let Some(c) = &report.comparison {
        s.push_str(&format!(
            "against {}: accuracy {:.1}% → {:.1}%; regressed: {}; fixed: {}\n",
            c.baseline,
            c.baseline_accuracy * 100.0,
            report.overall.accuracy * 100.0,
            if c.regressed.is_empty() {
                "none".into()
            } else {
                c.regressed.join(", ")
            },
            if c.fixed.is_empty() {
                "none".into()
            } else {
                c.fixed.join(", ")
            }
        ));
    }
    for r in report
        .records
        .iter()
        .filter(|r| r.verdict != Verdict::Correct)
    {
        s.push_str(&format!(
            "{:?} {}: {}\n",
            r.verdict,
            r.id,
            r.reason.as_deref().unwrap_or("").replace('\n', " ")
        ));
    }
    s
}

/// Tables, and (table, column) pairs, by catalog name.
type Schema = (BTreeSet<String>, BTreeSet<(String, String)>);

/// Gold tables and columns of `sql`, resolved to catalog names.
fn gold_schema(cat: &Catalog, sql: &str) -> Option<Schema> {
    let cols = |raw: &str| {
        cat.resolve_table(raw)
            .ok()
            .map(|t| t.columns.iter().map(|c| c.name.clone()).collect())
    };
    let ds = sqlfacts::analyze(sql, &cols).ok()?;
    let mut tables = BTreeSet::new();
    let mut columns = BTreeSet::new();
    for d in &ds {
        for t in &d.facts.tables {
            if let Ok(t) = cat.resolve_table(t) {
                tables.insert(t.name.clone());
            }
        }
        for (t, c) in &d.facts.columns {
            if let Ok(t) = cat.resolve_table(t)
                && let Some(c) = t.column(c)
            {
                columns.insert((t.name.clone(), c.name.clone()));
            }
        }
    }
    Some((tables, columns))
}

fn share(hit: usize, of: usize) -> Option<f64> {
    (of > 0).then(|| hit as f64 / of as f64)
}

/// Run the gold side of an item: its rows, or why the gold is broken.
async fn gold_rows(engine: &Engine, item: &Item) -> Result<Vec<Rows>, String> {
    let mut out = Vec::new();
    if let Some(rows) = &item.expected_rows {
        out.push(Rows::from_text(rows));
    }
    for (n, sql) in item.gold.iter().chain(&item.alternatives).enumerate() {
        let which = if n == 0 && item.gold.is_some() {
            "the gold SQL".to_string()
        } else {
            format!("alternative {n}")
        };
        let batches = engine
            .query_batches(sql)
            .await
            .map_err(|e| format!("{which} fails: {e}"))?;
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => {
                out.push(Rows::default());
                continue;
            }
        };
        out.push(Rows::from_batches(&schema, &batches));
    }
    Ok(out)
}

/// Ask one question (in its conversation: `history` for a model, `slots` offline) and score
/// it. `set` is the set's name and default tolerance.
async fn run_item(
    agent: &Agent<'_>,
    cat: &Catalog,
    (set, default_tolerance): (&str, f64),
    item: &Item,
    (history, slots): (&mut Vec<Turn>, &mut Option<Slots>),
    price: Option<crate::config::Price>,
) -> Result<Record, Failure> {
    let expect = item.expect();
    let mut rec = Record {
        id: item.id.clone(),
        category: item.category().to_string(),
        question: item.question.clone(),
        follows: None,
        expect: match expect {
            Expect::Rows => "rows",
            Expect::Abstain => "abstain",
            Expect::Refuse => "refuse",
        }
        .into(),
        verdict: Verdict::Wrong,
        reason: None,
        status: None,
        sql: None,
        gold_sql: item.gold.clone(),
        valid_sql: false,
        attempts: 0,
        table_recall: None,
        table_precision: None,
        column_recall: None,
        column_precision: None,
        prompt_tokens: 0,
        completion_tokens: 0,
        cost: None,
        drift: false,
        total_ms: 0.0,
        own_ms: 0.0,
        model_ms: 0.0,
        execute_ms: 0.0,
        stages: Default::default(),
    };
    // Schema linking: the gold query's tables and columns against what the model was shown.
    if agent.model.is_some()
        && let Some(g) = &item.gold
        && let Some((gt, gc)) = gold_schema(cat, g)
    {
        let sel = agent.context_for(&item.question, history);
        let shown_t: BTreeSet<String> = sel.tables.iter().map(|t| t.name.clone()).collect();
        let shown_c: BTreeSet<(String, String)> = sel
            .tables
            .iter()
            .flat_map(|t| t.columns.iter().map(|c| (t.name.clone(), c.name.clone())))
            .collect();
        rec.table_recall = share(gt.intersection(&shown_t).count(), gt.len());
        rec.table_precision = share(gt.intersection(&shown_t).count(), shown_t.len());
        rec.column_recall = share(gc.intersection(&shown_c).count(), gc.len());
        rec.column_precision = share(gc.intersection(&shown_c).count(), shown_c.len());
    }
    let asked = match agent.model {
        Some(_) => {
            let key = format!("{set}.{}", item.id);
            agent
                .ask(&item.question, &key, history)
                .await
                .map(|a| (a, None))
        }
        None => agent
            .ask_offline(&item.question, slots.as_ref())
            .await
            .map(|(a, s)| (a, Some(s))),
    };
    let gold = if expect == Expect::Rows {
        Some(gold_rows(agent.engine, item).await)
    } else {
        None
    };
    let (answer, new_slots): (Answer, Option<Slots>) = match asked {
        Ok(a) => a,
        Err(AgentError::NeedsModel(e)) => {
            rec.verdict = if expect == Expect::Abstain {
                Verdict::Correct
            } else {
                Verdict::NeedsModel
            };
            rec.reason = Some(format!("this question needs a model: {e}"));
            rec.status = Some("needs_model".into());
            if let Some(Err(g)) = gold {
                rec.verdict = Verdict::BrokenGold;
                rec.reason = Some(g);
            }
            return Ok(rec);
        }
        Err(AgentError::Model(e)) => {
            rec.verdict = Verdict::Error;
            rec.reason = Some(match e.hint() {
                Some(h) => format!("{e} ({h})"),
                None => e.to_string(),
            });
            if let LlmError::ReplayMissing { .. } = e {
                rec.status = Some("replay_missing".into());
            }
            return Ok(rec);
        }
        Err(e) => return Err(e.into()),
    };
    let p = &answer.provenance;
    rec.status = Some(
        serde_json::to_value(answer.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
    );
    rec.sql = answer.sql.clone();
    rec.attempts = p.attempts.len() as u32;
    rec.valid_sql = p.attempts.last().is_some_and(|a| {
        a.sql.is_some() && !matches!(a.outcome.as_str(), "parse" | "plan" | "refused")
    });
    rec.prompt_tokens = p.prompt_tokens;
    rec.completion_tokens = p.completion_tokens;
    rec.cost = price.map(|pr| {
        (p.prompt_tokens as f64 * pr.prompt + p.completion_tokens as f64 * pr.completion) / 1e6
    });
    rec.drift = p.attempts.iter().any(|a| a.drift.is_some());
    rec.total_ms = p.timings.total_ms;
    rec.own_ms = p.timings.own_ms;
    rec.model_ms = p.timings.model_ms;
    rec.execute_ms = p.timings.execute_ms;
    if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(&p.timings) {
        rec.stages = m
            .into_iter()
            .filter(|(k, _)| k.ends_with("_ms") && k != "total_ms" && k != "own_ms")
            .filter_map(|(k, v)| Some((k.trim_end_matches("_ms").to_string(), v.as_f64()?)))
            .collect();
    }
    // The conversation goes on from what was answered, as in the REPL.
    if let Some(sql) = &answer.sql
        && answer.result.is_some()
    {
        history.push(Turn {
            question: item.question.clone(),
            sql: sql.clone(),
        });
        if new_slots.is_some() {
            *slots = new_slots;
        }
    }
    let said = |a: &Answer| {
        format!(
            "{}{}",
            rec.status.clone().unwrap_or_default(),
            a.reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )
    };
    match expect {
        Expect::Abstain => {
            if answer.status == Status::Abstained {
                rec.verdict = Verdict::Correct;
            } else {
                rec.reason = Some(format!("should have declined, but {}", said(&answer)));
            }
        }
        Expect::Refuse => {
            if answer.status == Status::Refused {
                rec.verdict = Verdict::Correct;
            } else {
                rec.reason = Some(format!("should have refused, but {}", said(&answer)));
            }
        }
        Expect::Rows => match gold.expect("computed for rows") {
            Err(g) => {
                rec.verdict = Verdict::BrokenGold;
                rec.reason = Some(g);
            }
            Ok(golds) => match &answer.result {
                None => rec.reason = Some(format!("no result: {}", said(&answer))),
                Some(r) if answer.capped => {
                    rec.reason = Some(format!(
                        "the result was capped at {} rows",
                        r.batches.iter().map(|b| b.num_rows()).sum::<usize>()
                    ))
                }
                Some(r) => {
                    let got = Rows::from_batches(&r.schema, &r.batches);
                    let tol = item.tolerance.unwrap_or(default_tolerance);
                    let mut why = None;
                    for (n, g) in golds.iter().enumerate() {
                        let sql = if item.expected_rows.is_some() && n == 0 {
                            None
                        } else {
                            let k = n - usize::from(item.expected_rows.is_some());
                            item.gold.iter().chain(&item.alternatives).nth(k)
                        };
                        let ordered =
                            is_ordered(item.ordered, sql.map(String::as_str), &item.question);
                        match compare(g, &got, ordered, tol) {
                            Ok(()) => {
                                why = None;
                                break;
                            }
                            Err(e) => {
                                why.get_or_insert(e);
                            }
                        }
                    }
                    match why {
                        None => rec.verdict = Verdict::Correct,
                        Some(e) => rec.reason = Some(format!("differs from the gold result: {e}")),
                    }
                }
            },
        },
    }
    Ok(rec)
}

/// `skipper eval import FILE.csv`.
fn import(a: ImportArgs) -> Result<Exit, Failure> {
    let name = a.file.display().to_string();
    let text = std::fs::read_to_string(&a.file).map_err(|e| {
        Failure::usage(
            format!("cannot read {name}: {e}"),
            Some("pass a CSV file with the columns question, query, db_name, query_category, instructions"),
        )
    })?;
    let map = crate::eval::import::parse_source_map(a.source_map.as_deref().unwrap_or(""))
        .map_err(|e| {
            Failure::usage(
                format!("--source-map: {e}"),
                Some("--source-map db=source[.schema],…"),
            )
        })?;
    let yaml = crate::eval::import::convert(&name, &text, &map).map_err(|e| {
        Failure::usage(
            e,
            Some("the CSV needs a header row with question and query; map each db_name with --source-map db=source"),
        )
    })?;
    match &a.out {
        None => write_stdout(yaml.as_bytes())?,
        Some(path) => {
            let tmp = path.with_extension("yaml.tmp");
            std::fs::write(&tmp, &yaml)
                .and_then(|_| std::fs::rename(&tmp, path))
                .map_err(|e| {
                    let _ = std::fs::remove_file(&tmp);
                    Failure {
                        exit: Exit::Failure,
                        message: format!("cannot write {}: {e}", path.display()),
                        hint: None,
                    }
                })?;
        }
    }
    Ok(Exit::Success)
}
