//! Skipper's own time per question: everything the agent does except waiting for the model and
//! running the query (context selection, prompt rendering, parsing, planning, the access check,
//! result checks, the summary), on the demo lake, with the model's answers replayed.
//!
//! The questions are the demo's verified examples; the model "answers" each with the example's
//! SQL, from a recording this bench writes first (the request Skipper would send, beside a
//! chat-completions response), so the replay sees no drift and costs no model time. Side by
//! side, in the same process: the execution time of the same SQL, which is what a person
//! running it by hand with `skipper sql` would wait for; the ratio says how much the agent adds.
//!
//! `cargo bench --bench agent` (release). `AGENT_BENCH_ROUNDS` (default 20) sets the rounds.

use skipper::agent::prompts::Prompts;
use skipper::agent::{Agent, Settings};
use skipper::catalog::{Catalog, load, refresh};
use skipper::config::{Config, LlmConfig};
use skipper::context::{Selector, tokens::TokenCounter};
use skipper::engine::{Engine, EngineOptions};
use skipper::governance::{AllowAll, Principal};
use skipper::llm::{Endpoint, Model, question_key, request_body, tape::Tape};
use std::time::Instant;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::var("AGENT_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let anchor = chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
    skipper::demo::ensure(&skipper::demo::DemoRequest {
        dir: dir.clone(),
        seed: 42,
        anchor,
        scale: 1,
        force: false,
        postgres: None,
    })
    .await
    .expect("demo lake");
    let config = Config::load(&skipper::demo::config_path(&dir)).unwrap();
    let engine = Engine::open(&config, &EngineOptions::default())
        .await
        .unwrap();
    let docs = load::load(&dir.join("context")).expect("demo context loads");
    let mut snaps = Vec::new();
    let now = "2026-11-22T12:00:00Z";
    for s in engine.sources() {
        let (snap, _) =
            refresh::snapshot_source(&engine, &config, s, None, true, &|_, _| false, now).await;
        snaps.push(snap);
    }
    let cat = Catalog::build(&docs, &snaps, None);
    let prompts = Prompts::load(None).unwrap();
    let endpoint = Endpoint::resolve(
        &LlmConfig {
            model: Some("gpt-4o-mini".into()),
            ..Default::default()
        },
        None,
        &|_| None,
    )
    .unwrap();
    let tape_dir = tmp.path().join("tape");
    let recorder = Tape::recorder(&tape_dir).unwrap();
    let settings = Settings {
        max_attempts: 3,
        row_cap: 1000,
        budget: 6000,
        dry_run: false,
        now: now.into(),
        timezone: "UTC".into(),
        send_results: false,
        max_history: 6,
    };
    let model = Model::Replay(endpoint.clone(), Tape::player(&tape_dir).unwrap());
    let agent = Agent {
        engine: &engine,
        catalog: &cat,
        selector: Selector::new(&cat),
        counter: TokenCounter::for_model(Some("gpt-4o-mini")),
        model: Some(&model),
        prompts: &prompts,
        policy: &AllowAll,
        who: Principal::current(),
        settings,
    };
    // The recordings: the request Skipper sends, answered with the verified SQL.
    for e in &cat.examples {
        let sel = agent.context(&e.question);
        let messages = agent.first_messages(&e.question, &sel, &[]).unwrap();
        let request = request_body(&endpoint, &messages, true);
        let content = serde_json::json!({"sql": e.sql, "tables": e.tables, "explanation": e.question, "abstain": null});
        let response = serde_json::json!({
            "id": "bench", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content.to_string()}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        });
        // A result check (an empty result, say) asks again; the model stands by its SQL, and
        // the answer stands with its warning. Only the first request is compared for drift.
        for n in 1..=3 {
            recorder
                .save(
                    &format!("{}.attempt-{n}", question_key(&e.question)),
                    &request,
                    &response,
                )
                .unwrap();
        }
    }
    let mut own = Vec::new();
    let mut exec = Vec::new();
    let mut stages: Vec<[f64; 5]> = Vec::new();
    let mut attempts = 0usize;
    for _ in 0..rounds {
        for e in &cat.examples {
            let a = agent
                .ask(&e.question, &question_key(&e.question), &[])
                .await
                .expect("replayed answer");
            assert!(
                a.provenance.attempts[0].drift.is_none(),
                "drift for {}",
                e.question
            );
            let t = &a.provenance.timings;
            own.push(t.own_ms);
            stages.push([
                t.context_ms,
                t.parse_ms,
                t.plan_ms,
                t.checks_ms,
                t.access_ms,
            ]);
            attempts += a.provenance.attempts.len();
            // The same SQL run directly: plan + execute, what `skipper sql` does.
            let s = Instant::now();
            let st = engine.check(&e.sql, false).unwrap().pop().unwrap();
            let planned = engine.plan(&st).await.unwrap();
            let mut stream = engine.execute(&planned).unwrap();
            use futures::StreamExt;
            while let Some(b) = stream.next().await {
                b.unwrap();
            }
            exec.push(s.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let n = own.len();
    let mean = |i: usize| stages.iter().map(|s| s[i]).sum::<f64>() / n as f64;
    let (o50, o95) = (pct(&mut own.clone(), 0.5), pct(&mut own, 0.95));
    let (e50, e95) = (pct(&mut exec.clone(), 0.5), pct(&mut exec, 0.95));
    println!(
        "agent own time per question: {} questions x {rounds} rounds, demo lake, replayed model ({attempts} attempts)",
        cat.examples.len()
    );
    println!("| measure | p50 ms | p95 ms |");
    println!("|---|---:|---:|");
    println!(
        "| skipper's own time (context, prompt, parse, plan, access, checks, summary) | {o50:.1} | {o95:.1} |"
    );
    println!("| the same SQL planned and run directly | {e50:.1} | {e95:.1} |");
    println!(
        "| ratio own / direct | {:.2} | {:.2} |",
        o50 / e50,
        o95 / e95
    );
    println!(
        "mean per stage (ms): context {:.1}, parse {:.2}, plan {:.1}, result checks {:.1}, access {:.2}",
        mean(0),
        mean(1),
        mean(2),
        mean(3),
        mean(4)
    );
    println!("target: own time p95 <= 100 ms");

    // Offline-compiled answers end to end (compile, plan, access, run, checks), no model.
    let offline_qs = [
        "workers requests last month",
        "billable workers requests by plan tier last 7 days",
        "top 5 accounts by egress last week",
        "revenue by plan tier in October",
        "open tickets by priority",
        "daily workers requests this week for enterprise accounts",
        "active accounts by product yesterday",
        "r2 operations by plan tier last 7 days",
    ];
    let mut total = Vec::new();
    let mut own = Vec::new();
    let mut direct = Vec::new();
    for _ in 0..rounds {
        for q in offline_qs {
            let s = Instant::now();
            let (a, _) = agent.ask_offline(q, None).await.expect("offline answer");
            total.push(s.elapsed().as_secs_f64() * 1000.0);
            own.push(a.provenance.timings.own_ms);
            let sql = a.sql.clone().unwrap();
            let s = Instant::now();
            let st = engine.check(&sql, false).unwrap().pop().unwrap();
            let planned = engine.plan(&st).await.unwrap();
            let mut stream = engine.execute(&planned).unwrap();
            use futures::StreamExt;
            while let Some(b) = stream.next().await {
                b.unwrap();
            }
            direct.push(s.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let (t50, t95) = (pct(&mut total.clone(), 0.5), pct(&mut total, 0.95));
    let (w50, w95) = (pct(&mut own.clone(), 0.5), pct(&mut own, 0.95));
    let (d50, d95) = (pct(&mut direct.clone(), 0.5), pct(&mut direct, 0.95));
    println!();
    println!(
        "offline-compiled answers: {} questions x {rounds} rounds",
        offline_qs.len()
    );
    println!("| measure | p50 ms | p95 ms |");
    println!("|---|---:|---:|");
    println!("| end to end (compile, plan, access, run, checks) | {t50:.1} | {t95:.1} |");
    println!("| of which skipper's own time | {w50:.1} | {w95:.1} |");
    println!("| the compiled SQL planned and run directly | {d50:.1} | {d95:.1} |");
    println!(
        "| ratio end to end / direct | {:.2} | {:.2} |",
        t50 / d50,
        t95 / d95
    );
    println!("target: end to end p95 <= 200 ms");

    // REPL start to prompt: the release binary started on the demo lake with `\quit` waiting on
    // stdin, so the time is start-up, catalog load, one prompt and exit. Side by side: the
    // sqlite3 shell opening the demo's billing database and quitting the same way.
    let config_path = skipper::demo::config_path(&dir);
    let billing = dir.join("billing.db");
    let spawn = |cmd: &mut std::process::Command, input: &[u8]| {
        use std::io::Write;
        let s = Instant::now();
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        child.stdin.take().unwrap().write_all(input).unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "{cmd:?}: {status}");
        s.elapsed().as_secs_f64() * 1000.0
    };
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut ours = Vec::new();
    let mut peer = Vec::new();
    let have_sqlite = billing.exists()
        && std::process::Command::new("sqlite3")
            .arg("-version")
            .output()
            .is_ok();
    // One start first: it takes the catalog snapshot that later starts read.
    for round in 0..=rounds {
        let t = spawn(
            std::process::Command::new(env!("CARGO_BIN_EXE_skipper"))
                .arg("--config")
                .arg(&config_path)
                .env("SKIPPER_DATA_DIR", tmp.path().join("data"))
                .env("HOME", &home),
            b"\\quit\n",
        );
        if round == 0 {
            continue;
        }
        ours.push(t);
        if have_sqlite {
            peer.push(spawn(
                std::process::Command::new("sqlite3").arg(&billing),
                b".quit\n",
            ));
        }
    }
    println!();
    println!("REPL start to prompt (and \\quit): {rounds} starts of the release binary");
    println!("| measure | p50 ms | p95 ms |");
    println!("|---|---:|---:|");
    let (r50, r95) = (pct(&mut ours.clone(), 0.5), pct(&mut ours, 0.95));
    println!("| skipper (demo lake) | {r50:.1} | {r95:.1} |");
    if have_sqlite {
        let (p50, p95) = (pct(&mut peer.clone(), 0.5), pct(&mut peer, 0.95));
        println!("| sqlite3 shell (demo billing database) | {p50:.1} | {p95:.1} |");
        println!(
            "| ratio skipper / sqlite3 | {:.2} | {:.2} |",
            r50 / p50,
            r95 / p95
        );
    } else {
        println!("(sqlite3 not found: no peer row)");
    }
    println!("target: REPL start to prompt <= 300 ms");
}
