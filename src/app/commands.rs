//! The small commands: `demo`, `config show`, `doctor`.

use super::{Exit, Failure, Notices, Session, parse_clock, write_stdout};
use crate::cli::{ConfigAction, DemoArgs, GlobalArgs};
use crate::demo::{DemoOutcome, DemoRequest};
use crate::engine::Engine;
use crate::render::Format;
use comfy_table::{Table, presets};
use std::io::IsTerminal;

pub async fn demo(args: DemoArgs, global: &GlobalArgs, notices: Notices) -> Result<Exit, Failure> {
    let clock = parse_clock(global)?;
    let anchor = match &args.anchor_date {
        Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
            Failure::usage(
                format!("--anchor-date '{d}' is not a date"),
                Some("use YYYY-MM-DD, e.g. --anchor-date 2026-11-21"),
            )
        })?,
        None => clock.today(),
    };
    let dir = args.dir.clone().unwrap_or_else(crate::demo::default_dir);
    let req = DemoRequest {
        dir: dir.clone(),
        seed: args.seed,
        anchor,
        scale: args.scale,
        force: args.force,
        postgres: args.postgres.clone(),
    };
    let started = std::time::Instant::now();
    let outcome = crate::demo::ensure(&req).await.map_err(|e| Failure {
        exit: Exit::Failure,
        message: e.to_string(),
        hint: Some("nothing was changed; the previous demo (if any) is intact".into()),
    })?;
    let (verb, m) = match outcome {
        DemoOutcome::Created(m) => ("created", m),
        DemoOutcome::Existing(m) => ("exists (use --force to rebuild)", m),
    };
    notices.say(&format!(
        "demo lake {verb} at {} — anchor {}, seed {}, scale {}, {} accounts, {} usage events, billing in {} ({:.2}s)",
        dir.display(),
        m.anchor_date,
        m.seed,
        m.scale,
        m.accounts,
        m.events,
        m.relational,
        started.elapsed().as_secs_f64()
    ));
    notices.say(&format!(
        "try: skipper --config {} sql \"SELECT plan_tier, count(*) FROM billing.main.accounts GROUP BY 1\"",
        crate::demo::config_path(&dir).display()
    ));
    let json = serde_json::json!({"version": 1, "dir": dir, "manifest": m});
    if !std::io::stdout().is_terminal() {
        write_stdout(format!("{json}\n").as_bytes())?;
    }
    Ok(Exit::Success)
}

pub fn config(action: ConfigAction, session: &Session) -> Result<Exit, Failure> {
    match action {
        ConfigAction::Show => {
            let format = Format::resolve(session.global.format, std::io::stdout().is_terminal());
            let (cat, schema) = default_namespace_preview(session);
            let text = match format {
                Format::Json | Format::Ndjson => {
                    let v = serde_json::json!({
                        "version": 1,
                        "origin": session.origin,
                        "context_dir": session.context_dir,
                        "data_dir": crate::config::data_dir(),
                        "timezone": session.tz.name(),
                        "now": session.clock.pinned(),
                        "default_catalog": cat,
                        "default_schema": schema,
                        "config": session.config,
                    });
                    format!("{v}\n")
                }
                _ => format!(
                    "# configuration: {} ({})\n# context: {}\n# data dir: {}\n# timezone: {}\n# now: {}\n# unqualified names resolve in: {cat}.{schema}\n\n{}",
                    session.origin.path().display(),
                    origin_word(&session.origin),
                    session.context_dir.display(),
                    crate::config::data_dir().display(),
                    session.tz.name(),
                    session
                        .clock
                        .pinned()
                        .map(|t| format!("{t} (pinned)"))
                        .unwrap_or_else(|| "real clock".into()),
                    session.config.redacted()
                ),
            };
            write_stdout(text.as_bytes())?;
            Ok(Exit::Success)
        }
    }
}

fn origin_word(o: &crate::config::ConfigOrigin) -> &'static str {
    match o {
        crate::config::ConfigOrigin::Flag { .. } => "from --config",
        crate::config::ConfigOrigin::Env { .. } => "from SKIPPER_CONFIG",
        crate::config::ConfigOrigin::WorkingDir { .. } => "found in the working directory",
        crate::config::ConfigOrigin::Demo { .. } => "the demo lake",
    }
}

fn default_namespace_preview(session: &Session) -> (String, String) {
    let c = &session.config;
    let o = session.engine_options();
    crate::engine::preview_namespace(c, &o)
}

pub async fn doctor(session: &Session) -> Result<Exit, Failure> {
    let engine = Engine::open(&session.config, &session.engine_options()).await?;
    let format = Format::resolve(session.global.format, std::io::stdout().is_terminal());
    let mut problems = 0;
    // A missing catalog folder is worth a warning, not a failure: queries still run.
    let context_ok = session.context_dir.is_dir();
    for s in engine.sources() {
        if s.error.is_some() {
            problems += 1;
        }
    }
    let text = match format {
        Format::Json | Format::Ndjson => {
            let v = serde_json::json!({
                "version": 1,
                "config": session.origin.path(),
                "context_dir": {"path": session.context_dir, "ok": context_ok},
                "sources": engine.sources(),
                "problems": problems,
            });
            format!("{v}\n")
        }
        _ => {
            let mut t = Table::new();
            t.load_preset(presets::UTF8_FULL_CONDENSED)
                .set_header(vec!["source", "kind", "location", "status"]);
            for s in engine.sources() {
                let status = match &s.error {
                    None => format!("ok: {} tables in {}", s.tables, s.schemas.join(", ")),
                    Some(e) => format!("FAILED: {e}"),
                };
                t.add_row(vec![
                    s.name.clone(),
                    s.kind.clone(),
                    s.location.clone(),
                    status,
                ]);
            }
            let ctx = if context_ok {
                format!("context: {} ok", session.context_dir.display())
            } else {
                format!(
                    "context: {} is missing (the catalog folder; queries run, but the agent will know less)",
                    session.context_dir.display()
                )
            };
            format!("{t}\n{ctx}\n")
        }
    };
    write_stdout(text.as_bytes())?;
    if engine.sources().is_empty() {
        session
            .notices
            .say("warning: the configuration names no sources");
    }
    if problems > 0 {
        session.notices.say(&format!(
            "doctor: {problems} problem{} found",
            if problems == 1 { "" } else { "s" }
        ));
        Ok(Exit::Failure)
    } else {
        session.notices.say("doctor: all sources reachable");
        Ok(Exit::Success)
    }
}
