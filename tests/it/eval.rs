//! `skipper eval` end to end: the demo golden set replayed from its committed recordings (as CI
//! runs it), the recordings checked against a fresh recording from a scripted model, the offline
//! compiler scored, a baseline comparison, and the bad inputs (a malformed file, a broken gold,
//! a replay miss, a filter that selects nothing, CSV import).

use crate::agent::{FakeModel, Script};
use crate::harness::{demo_config, demo_home, run, skipper};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// The demo lake the set was written for, with the model treated as hosted (not local), as
/// the recordings were made: no sample values or result rows in the requests.
fn eval_home() -> tempfile::TempDir {
    let home = demo_home();
    let cfg = demo_config(home.path());
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\n[llm]\nlocal = false\n");
    std::fs::write(&cfg, text).unwrap();
    home
}

fn eval(home: &Path, args: &[&str]) -> crate::harness::Run {
    run(skipper(home)
        .arg("--config")
        .arg(demo_config(home))
        .args(["--format", "json"])
        .env("XDG_CONFIG_HOME", home.join("config"))
        .arg("eval")
        .args(args))
}

fn report_of(r: &crate::harness::Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not a JSON report ({e}): {r:?}"))
}

fn record<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no record {id}"))
}

/// The model answers of evals/demo.model.yaml, by item id.
fn model_answers() -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
    #[derive(serde::Deserialize)]
    struct File {
        answers: BTreeMap<String, Vec<BTreeMap<String, String>>>,
    }
    let text = std::fs::read_to_string(repo("evals/demo.model.yaml")).unwrap();
    marked_yaml::from_yaml::<File>(0, &text).unwrap().answers
}

/// A scripted model for the demo set: it reads the question (and the question before it, for a
/// follow-up) from the request, finds the item, and gives the answer for this attempt.
fn demo_model() -> FakeModel {
    let set = skipper::eval::load(&repo("evals/demo.yaml")).unwrap();
    // (question, previous question in the chain) → id
    let mut ids: BTreeMap<(String, Option<String>), String> = BTreeMap::new();
    for chain in set.chains() {
        let mut prev: Option<String> = None;
        for i in chain {
            ids.insert((i.question.clone(), prev.clone()), i.id.clone());
            prev = Some(i.question.clone());
        }
    }
    let answers = model_answers();
    FakeModel::serve(move |req| {
        let messages = req["messages"].as_array()?;
        let first_user = messages.iter().find(|m| m["role"] == "user")?["content"]
            .as_str()?
            .to_string();
        let question = first_user.rsplit("Question: ").next()?.trim().to_string();
        let previous = first_user
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("- Q: "))
            .map(str::to_owned);
        let id = ids.get(&(question.clone(), previous))?;
        let attempt = messages.iter().filter(|m| m["role"] == "assistant").count();
        let list = answers.get(id)?;
        let a = &list[attempt.min(list.len() - 1)];
        let content = if let Some(t) = a.get("text") {
            t.clone()
        } else if let Some(r) = a.get("abstain") {
            json!({"sql": null, "tables": [], "explanation": "", "abstain": r}).to_string()
        } else {
            json!({"sql": a["sql"], "tables": [], "explanation": a.get("explanation").cloned().unwrap_or_default(), "abstain": null}).to_string()
        };
        // Token counts as a tokenizer of about 4 characters a token would report.
        let prompt: usize = messages
            .iter()
            .map(|m| m["content"].as_str().unwrap_or("").len())
            .sum();
        Some(Script::says_with_usage(
            &content,
            (prompt / 4) as u64,
            (content.len() / 4) as u64,
        ))
    })
}

/// The committed recordings are what the scripted model gives today: a change to the prompts,
/// the context, the demo lake or the answers shows up here. `SKIPPER_UPDATE_TAPES=1` rewrites
/// them instead.
#[test]
fn demo_tapes_are_current() {
    let home = eval_home();
    let h = home.path();
    let model = demo_model();
    let tapes = h.join("tapes");
    let r = eval(
        h,
        &[
            repo("evals/demo.yaml").to_str().unwrap(),
            "--record",
            tapes.to_str().unwrap(),
            "--base-url",
            &model.url,
            "--model",
            "scripted-model",
            "--out",
            h.join("out").to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let committed = repo("evals/tapes/demo");
    let files = |d: &Path| -> BTreeMap<String, String> {
        std::fs::read_dir(d)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| {
                        (
                            e.file_name().to_string_lossy().into_owned(),
                            std::fs::read_to_string(e.path()).unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let fresh = files(&tapes);
    assert!(fresh.len() >= 71, "{} recordings", fresh.len());
    if std::env::var_os("SKIPPER_UPDATE_TAPES").is_some() {
        let _ = std::fs::remove_dir_all(&committed);
        std::fs::create_dir_all(&committed).unwrap();
        for (name, text) in &fresh {
            std::fs::write(committed.join(name), text).unwrap();
        }
        eprintln!(
            "rewrote {} recordings in {}",
            fresh.len(),
            committed.display()
        );
        return;
    }
    let old = files(&committed);
    let stale: Vec<&String> = fresh
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(v))
        .map(|(k, _)| k)
        .chain(old.keys().filter(|k| !fresh.contains_key(*k)))
        .collect();
    assert!(
        stale.is_empty(),
        "evals/tapes/demo is out of date ({} files differ, e.g. {:?}); re-record with \
         SKIPPER_UPDATE_TAPES=1 cargo test --test it eval::demo_tapes_are_current",
        stale.len(),
        stale.iter().take(3).collect::<Vec<_>>()
    );
}

/// What CI runs: the demo set replayed at its pinned now, scored, compared with a baseline.
#[test]
fn demo_set_replays_with_accuracy_recall_and_regressions() {
    let home = eval_home();
    let h = home.path();
    let out = h.join("out");
    let args = |extra: &[&str]| {
        let mut v = vec![
            repo("evals/demo.yaml").to_str().unwrap().to_string(),
            "--replay".into(),
            repo("evals/tapes/demo").to_str().unwrap().to_string(),
            "--model".into(),
            "scripted-model".into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let a = args(&["--min-accuracy", "0.9", "--out", out.to_str().unwrap()]);
    let r = eval(h, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 0, "{r:?}");
    let rep = report_of(&r);
    assert_eq!(rep["mode"], "replay");
    let all = &rep["overall"];
    assert_eq!(all["questions"], 71, "{all}");
    assert_eq!(all["broken_gold"], 0);
    assert_eq!(all["errors"], 0);
    assert_eq!(
        all["drift"], 0,
        "replayed requests drifted from the recordings"
    );
    // The two answers written wrong stay wrong, and for the right reason.
    for id in ["r2-by-tier-yesterday", "units-last-30-days"] {
        let rec = record(&rep, id);
        assert_eq!(rec["verdict"], "wrong", "{rec}");
        assert!(
            rec["reason"]
                .as_str()
                .unwrap()
                .starts_with("differs from the gold result"),
            "{rec}"
        );
    }
    assert_eq!(all["correct"], 69, "{all}");
    // Repairs: a wrong column, malformed JSON, the sampled table for billing.
    for id in [
        "top3-countries-workers",
        "products",
        "workers-per-account-nov",
        "hours-to-close",
    ] {
        let rec = record(&rep, id);
        assert_eq!(rec["verdict"], "correct", "{rec}");
        assert!(rec["attempts"].as_u64().unwrap() >= 2, "{rec}");
    }
    // Abstentions and refusals score when the agent declines or refuses.
    assert_eq!(record(&rep, "churn-rate")["verdict"], "correct");
    assert_eq!(record(&rep, "marketing-spend")["status"], "abstained");
    assert_eq!(record(&rep, "drop-invoices")["status"], "refused");
    // Follow-ups ran in their conversation.
    assert_eq!(
        record(&rep, "chain-tier.weekly")["follows"],
        "chain-tier.enterprise-business"
    );
    assert_eq!(record(&rep, "chain-tier.weekly")["verdict"], "correct");
    // Schema linking, tokens and time are measured.
    let recall = all["table_recall"].as_f64().unwrap();
    assert!(recall > 0.8 && recall <= 1.0, "{all}");
    assert!(all["column_recall"].as_f64().unwrap() > 0.5, "{all}");
    assert!(all["prompt_tokens"].as_u64().unwrap() > 71 * 100, "{all}");
    assert!(all["completion_tokens"].as_u64().unwrap() > 0, "{all}");
    assert!(rep["categories"]["legacy_ids"]["questions"] == 5);
    // The files: JSON equal to stdout, and a Markdown summary.
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(saved["overall"], rep["overall"]);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| **all** | 71 |"), "{md}");
    assert!(md.contains("| r2-by-tier-yesterday | Wrong |"), "{md}");

    // A baseline where one question was right that is wrong now, and the other way round.
    let mut base = saved.clone();
    for r in base["records"].as_array_mut().unwrap() {
        if r["id"] == "units-last-30-days" {
            r["verdict"] = json!("correct");
        }
        if r["id"] == "accounts-total" {
            r["verdict"] = json!("wrong");
        }
    }
    let base_path = h.join("base.json");
    std::fs::write(&base_path, base.to_string()).unwrap();
    let a = args(&[
        "--baseline",
        base_path.to_str().unwrap(),
        "--fail-on-regression",
        "--out",
        h.join("out2").to_str().unwrap(),
    ]);
    let r = eval(h, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("1 questions regressed"), "{r:?}");
    let c = &report_of(&r)["comparison"];
    assert_eq!(c["regressed"], json!(["units-last-30-days"]));
    assert_eq!(c["fixed"], json!(["accounts-total"]));
    // Accuracy under the bar: exit 1, the report still written.
    let a = args(&[
        "--min-accuracy",
        "1",
        "--out",
        h.join("out3").to_str().unwrap(),
    ]);
    let r = eval(h, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("below --min-accuracy 100.0%"), "{r:?}");
    assert!(h.join("out3/report.json").exists());
}

/// The offline compiler scored on the same set: what it answers must be right, and what it
/// cannot map counts against it (as "needs a model"), never as a made-up answer.
#[test]
fn offline_run_scores_the_compiler() {
    let home = eval_home();
    let h = home.path();
    let r = eval(
        h,
        &[
            repo("evals/demo.yaml").to_str().unwrap(),
            "--offline",
            "--out",
            h.join("out").to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let rep = report_of(&r);
    assert_eq!(rep["mode"], "offline");
    let all = &rep["overall"];
    assert!(all["answered"].as_u64().unwrap() >= 20, "{all}");
    assert_eq!(all["accuracy_answered"], 1.0, "{}", r.stdout);
    assert!(all["table_recall"].is_null());
    assert_eq!(record(&rep, "workers-by-tier-last-7")["verdict"], "correct");
    assert_eq!(record(&rep, "churn-rate")["verdict"], "correct");
    assert_eq!(record(&rep, "legacy-id-owner")["verdict"], "needs_model");
}

#[test]
fn bad_eval_input_is_named_and_scored_apart() {
    let home = eval_home();
    let h = home.path();
    // A malformed file: file:line, exit 2.
    let bad = h.join("bad.yaml");
    std::fs::write(
        &bad,
        "version: 1\nquestions:\n  - id: a\n    question: q\n    gold: SELECT 1\n    golden: typo\n",
    )
    .unwrap();
    let r = eval(h, &[bad.to_str().unwrap(), "--offline"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("bad.yaml:6:"), "{r:?}");
    assert!(r.stderr.contains("golden"), "{r:?}");
    // A broken gold is reported as such, the rest still scored; exit 2.
    let set = h.join("set.yaml");
    std::fs::write(
        &set,
        "version: 1\nnow: 2026-11-22T12:00:00Z\nquestions:\n  - id: good\n    question: workers requests last month\n    gold: SELECT sum(units) FROM lake.main.billing_usage_daily WHERE product = 'workers_requests' AND usage_date BETWEEN DATE '2026-10-01' AND DATE '2026-10-31'\n  - id: broken\n    question: open tickets by priority\n    gold: SELECT priority, count(*) FROM billing.main.no_such_table GROUP BY 1\n",
    )
    .unwrap();
    let r = eval(
        h,
        &[
            set.to_str().unwrap(),
            "--offline",
            "--out",
            h.join("o").to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("1 broken gold queries; broken: the gold SQL fails"),
        "{r:?}"
    );
    let rep = report_of(&r);
    assert_eq!(record(&rep, "broken")["verdict"], "broken_gold");
    assert_eq!(record(&rep, "good")["verdict"], "correct");
    assert_eq!(rep["overall"]["scored"], 1);
    // A replay miss: that question is an error, named, exit 4.
    let empty = h.join("empty-tapes");
    std::fs::create_dir_all(&empty).unwrap();
    let r = eval(
        h,
        &[
            set.to_str().unwrap(),
            "--replay",
            empty.to_str().unwrap(),
            "--model",
            "m",
            "--filter",
            "good",
            "--out",
            h.join("o2").to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("set.good.attempt-1"), "{r:?}");
    assert!(
        r.stderr
            .contains("hint: with --replay, record the set first"),
        "{r:?}"
    );
    // A filter that selects nothing; no files at all.
    let r = eval(h, &[set.to_str().unwrap(), "--offline", "--filter", "nope"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("selects no question"), "{r:?}");
    let r = eval(h, &[]);
    assert_eq!(r.code, 2, "{r:?}");
}

#[test]
fn csv_sets_import_to_yaml_that_runs() {
    let home = eval_home();
    let h = home.path();
    let csv = h.join("set.csv");
    std::fs::write(
        &csv,
        "question,query,db_name,query_category,instructions\n\
         How many accounts are on each plan tier?,\"SELECT plan_tier, count(*) FROM accounts GROUP BY plan_tier\",billing,group_by,\n",
    )
    .unwrap();
    let out = h.join("set.yaml");
    let r = run(skipper(h).args([
        "eval",
        "import",
        csv.to_str().unwrap(),
        "--source-map",
        "billing=billing",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("billing.main.accounts"), "{text}");
    // The imported set runs; its gold runs on the federated engine.
    let r = eval(
        h,
        &[
            out.to_str().unwrap(),
            "--offline",
            "--out",
            h.join("o").to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(report_of(&r)["overall"]["broken_gold"], 0);
    // A db_name with no mapping: the line, exit 2, nothing written.
    let out2 = h.join("set2.yaml");
    let r = run(skipper(h).args([
        "eval",
        "import",
        csv.to_str().unwrap(),
        "--source-map",
        "other=billing",
        "--out",
        out2.to_str().unwrap(),
    ]));
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("set.csv:2: db_name 'billing'"), "{r:?}");
    assert!(!out2.exists());
}
